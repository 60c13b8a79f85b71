//! Small dense linear algebra for regression: cross-products over columns, Cholesky with
//! collinearity detection, inverses of symmetric positive definite matrices. Matrices are
//! row-major `Vec<f64>` of size k*k (k is the number of regressors: small), while data stay as
//! columns of length n (large), so every pass over the data is a tight dot product.

/// A column is collinear with the previous ones when its Cholesky pivot falls below this
/// fraction of its own squared norm.
pub const COLLINEARITY_TOL: f64 = 1e-10;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {column} is collinear with the columns before it")]
pub struct Singular {
    pub column: usize,
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Eight independent accumulators over exact chunks: vectorises, and halves rounding error.
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Σ aᵢ bᵢ wᵢ.
pub fn dot3(a: &[f64], b: &[f64], w: &[f64]) -> f64 {
    let n = a.len().min(b.len()).min(w.len());
    let (a, b, w) = (&a[..n], &b[..n], &w[..n]);
    let mut acc = [0.0f64; 8];
    let (ca, cb, cw) = (a.chunks_exact(8), b.chunks_exact(8), w.chunks_exact(8));
    let (ra, rb, rw) = (ca.remainder(), cb.remainder(), cw.remainder());
    for ((x, y), z) in ca.zip(cb).zip(cw) {
        for j in 0..8 {
            acc[j] += x[j] * y[j] * z[j];
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for ((x, y), z) in ra.iter().zip(rb).zip(rw) {
        s += x * y * z;
    }
    s
}

/// Rows per block of the blocked cross-products: the block of every column stays in cache.
const BLOCK: usize = 2048;

/// X'WX (W diagonal, `w` = None for identity) for columns `x`, k x k row-major. Computed block
/// by block so the data are read from memory once, whatever k.
pub fn weighted_crossprod(x: &[&[f64]], w: Option<&[f64]>) -> Vec<f64> {
    let k = x.len();
    let n = x.first().map(|c| c.len()).unwrap_or(0);
    let mut m = vec![0.0; k * k];
    let mut start = 0;
    while start < n {
        let end = (start + BLOCK).min(n);
        for i in 0..k {
            let ci = &x[i][start..end];
            for j in 0..=i {
                let cj = &x[j][start..end];
                m[i * k + j] += match w {
                    Some(w) => dot3(ci, cj, &w[start..end]),
                    None => dot(ci, cj),
                };
            }
        }
        start = end;
    }
    for i in 0..k {
        for j in 0..i {
            m[j * k + i] = m[i * k + j];
        }
    }
    m
}

/// X'X for columns `x` (k x k, row-major).
pub fn xtx(x: &[&[f64]]) -> Vec<f64> {
    weighted_crossprod(x, None)
}

/// X'y.
pub fn xty(x: &[&[f64]], y: &[f64]) -> Vec<f64> {
    x.iter().map(|c| dot(c, y)).collect()
}

/// Lower-triangular Cholesky factor of a symmetric positive definite k x k matrix.
pub fn cholesky(a: &[f64], k: usize) -> Result<Vec<f64>, Singular> {
    let mut l = vec![0.0; k * k];
    for j in 0..k {
        let mut d = a[j * k + j];
        for p in 0..j {
            d -= l[j * k + p] * l[j * k + p];
        }
        let scale = a[j * k + j].abs().max(f64::MIN_POSITIVE);
        if d.is_nan() || d <= COLLINEARITY_TOL * scale || !d.is_finite() {
            return Err(Singular { column: j });
        }
        let djj = d.sqrt();
        l[j * k + j] = djj;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for p in 0..j {
                s -= l[i * k + p] * l[j * k + p];
            }
            l[i * k + j] = s / djj;
        }
    }
    Ok(l)
}

/// Solve (L L') x = b.
pub fn chol_solve(l: &[f64], k: usize, b: &[f64]) -> Vec<f64> {
    let mut y = b.to_vec();
    for i in 0..k {
        let mut s = y[i];
        for p in 0..i {
            s -= l[i * k + p] * y[p];
        }
        y[i] = s / l[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = y[i];
        for p in i + 1..k {
            s -= l[p * k + i] * y[p];
        }
        y[i] = s / l[i * k + i];
    }
    y
}

/// Inverse of a symmetric positive definite matrix.
pub fn inv_spd(a: &[f64], k: usize) -> Result<Vec<f64>, Singular> {
    let l = cholesky(a, k)?;
    let mut inv = vec![0.0; k * k];
    let mut e = vec![0.0; k];
    for j in 0..k {
        e.iter_mut().for_each(|v| *v = 0.0);
        e[j] = 1.0;
        let col = chol_solve(&l, k, &e);
        for i in 0..k {
            inv[i * k + j] = col[i];
        }
    }
    // Symmetrise away rounding.
    for i in 0..k {
        for j in 0..i {
            let v = 0.5 * (inv[i * k + j] + inv[j * k + i]);
            inv[i * k + j] = v;
            inv[j * k + i] = v;
        }
    }
    Ok(inv)
}

/// A * B for k x k row-major matrices.
pub fn matmul(a: &[f64], b: &[f64], k: usize) -> Vec<f64> {
    let mut c = vec![0.0; k * k];
    for i in 0..k {
        for p in 0..k {
            let aip = a[i * k + p];
            if aip == 0.0 {
                continue;
            }
            for j in 0..k {
                c[i * k + j] += aip * b[p * k + j];
            }
        }
    }
    c
}

/// B M B (a sandwich) for symmetric k x k B and M.
pub fn sandwich(bread: &[f64], meat: &[f64], k: usize) -> Vec<f64> {
    matmul(&matmul(bread, meat, k), bread, k)
}

/// The sub-matrix of rows/cols `idx`.
pub fn submatrix(a: &[f64], k: usize, idx: &[usize]) -> Vec<f64> {
    let m = idx.len();
    let mut out = vec![0.0; m * m];
    for (r, &i) in idx.iter().enumerate() {
        for (c, &j) in idx.iter().enumerate() {
            out[r * m + c] = a[i * k + j];
        }
    }
    out
}

/// Quadratic form b' A^{-1} b (a Wald statistic), via Cholesky.
pub fn quad_form_inv(a: &[f64], k: usize, b: &[f64]) -> Result<f64, Singular> {
    let l = cholesky(a, k)?;
    let x = chol_solve(&l, k, b);
    Ok(dot(b, &x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_and_solve() {
        // [[4,2],[2,3]]^-1 = 1/8 [[3,-2],[-2,4]]
        let a = vec![4.0, 2.0, 2.0, 3.0];
        let inv = inv_spd(&a, 2).unwrap();
        for (x, y) in inv.iter().zip([0.375, -0.25, -0.25, 0.5]) {
            assert!((x - y).abs() < 1e-14);
        }
        let l = cholesky(&a, 2).unwrap();
        let x = chol_solve(&l, 2, &[2.0, 1.0]);
        assert!((x[0] - 0.5).abs() < 1e-14 && x[1].abs() < 1e-14);
        assert!((quad_form_inv(&a, 2, &[2.0, 1.0]).unwrap() - 1.0).abs() < 1e-14);
    }

    #[test]
    fn collinear_columns_are_detected() {
        let c0 = [1.0, 1.0, 1.0, 1.0];
        let c1 = [1.0, 2.0, 3.0, 4.0];
        let c2 = [3.0, 5.0, 7.0, 9.0]; // 1 + 2*c1
        let m = xtx(&[&c0, &c1, &c2]);
        assert_eq!(cholesky(&m, 3).unwrap_err(), Singular { column: 2 });
        let m = xtx(&[&c0, &c1]);
        assert!(cholesky(&m, 2).is_ok());
    }
}
