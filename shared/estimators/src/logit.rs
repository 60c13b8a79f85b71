//! Logistic regression by Newton-Raphson (IRLS), for propensity scores.

use super::linalg::{self, Singular};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LogitError {
    #[error("column {0} is collinear")]
    Collinear(usize),
    #[error("the propensity model did not converge (perfect separation or too few observations)")]
    NotConverged,
}

impl From<Singular> for LogitError {
    fn from(s: Singular) -> Self {
        LogitError::Collinear(s.column)
    }
}

pub struct LogitFit {
    pub coef: Vec<f64>,
    /// Fitted probabilities.
    pub p: Vec<f64>,
    /// (X'WX / n)⁻¹: n times the usual covariance.
    pub hessian_inv_n: Vec<f64>,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Fit P(d = 1 | x) = sigmoid(x'b) by Newton-Raphson. `x` are columns (include an intercept
/// column). Every pass over the data is a vectorised column operation or a blocked cross-product.
pub fn fit(x: &[&[f64]], d: &[f64]) -> Result<LogitFit, LogitError> {
    let k = x.len();
    let n = d.len();
    let mut b = vec![0.0; k];
    let mut p = vec![0.5; n];
    let mut w = vec![0.25; n];
    let mut r = vec![0.0; n];
    let mut z = vec![0.0; n];
    for _ in 0..100 {
        for i in 0..n {
            r[i] = d[i] - p[i];
        }
        let grad: Vec<f64> = x.iter().map(|c| linalg::dot(c, &r)).collect();
        let h = linalg::weighted_crossprod(x, Some(&w));
        let l = linalg::cholesky(&h, k)?;
        let step = linalg::chol_solve(&l, k, &grad);
        let mut max_step = 0.0f64;
        for (bi, si) in b.iter_mut().zip(&step) {
            *bi += si;
            max_step = max_step.max(si.abs());
        }
        if !b.iter().all(|v| v.is_finite()) || b.iter().any(|v| v.abs() > 30.0 * (1.0 + k as f64)) {
            return Err(LogitError::NotConverged);
        }
        z.iter_mut().for_each(|v| *v = 0.0);
        for (c, bi) in x.iter().zip(&b) {
            for (zi, xi) in z.iter_mut().zip(c.iter()) {
                *zi += bi * xi;
            }
        }
        for i in 0..n {
            p[i] = sigmoid(z[i]);
            w[i] = p[i] * (1.0 - p[i]);
        }
        if max_step < 1e-10 {
            let mut h = linalg::weighted_crossprod(x, Some(&w));
            h.iter_mut().for_each(|v| *v /= n as f64);
            let hessian_inv_n = linalg::inv_spd(&h, k)?;
            return Ok(LogitFit { coef: b, p, hessian_inv_n });
        }
    }
    Err(LogitError::NotConverged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intercept_only_gives_the_mean() {
        let one = vec![1.0; 8];
        let d = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let f = fit(&[&one], &d).unwrap();
        assert!((f.p[0] - 3.0 / 8.0).abs() < 1e-12);
        assert!((f.coef[0] - (3.0f64 / 5.0).ln()).abs() < 1e-10);
    }

    #[test]
    fn separation_is_an_error() {
        let one = vec![1.0; 6];
        let x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let d = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        assert!(fit(&[&one, &x], &d).is_err());
    }
}
