//! Manipulation test of the running variable's density at the cutoff.
//! Not yet implemented (see the closing note); `test` reports that plainly instead of a number.

#[derive(Debug, Clone)]
pub struct DensityTest {
    pub p_value: f64,
}

pub fn test(_x: &[f64], _c: f64) -> Result<DensityTest, String> {
    Err("the density test is not implemented yet".into())
}
