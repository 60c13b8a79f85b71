//! Logistic regression by Newton-Raphson (IRLS), for propensity scores.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

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

/// The fitted logit: coefficients, fitted probabilities, and the inverse of the average
/// Hessian (the sandwich's bread for influence functions).
pub struct LogitFit {
    pub coef: Array1<f64>,
    pub p: Array1<f64>,
    pub hessian_inv_n: Array2<f64>,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Logistic regression of `d` (0/1) on the columns of `x` (n x k, the intercept included) by
/// Newton-Raphson (IRLS), to a step below 1e-10.
pub fn fit(x: ArrayView2<f64>, d: ArrayView1<f64>) -> Result<LogitFit, LogitError> {
    let (n, k) = x.dim();
    let mut b = Array1::<f64>::zeros(k);
    let mut p = Array1::from_elem(n, 0.5);
    let mut w = Array1::from_elem(n, 0.25);
    for _ in 0..100 {
        let r = &d - &p;
        let grad = x.t().dot(&r);
        let h = linalg::weighted_crossprod(x, w.view());
        let step = linalg::cholesky(h.view())?.solve(grad.view());
        b += &step;
        let max_step = step.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        if !b.iter().all(|v| v.is_finite()) || b.iter().any(|v| v.abs() > 30.0 * (1.0 + k as f64)) {
            return Err(LogitError::NotConverged);
        }
        let z = x.dot(&b);
        p = z.mapv(sigmoid);
        w = p.mapv(|pi| pi * (1.0 - pi));
        if max_step < 1e-10 {
            let h = linalg::weighted_crossprod(x, w.view()) / n as f64;
            let hessian_inv_n = linalg::inv_spd(h.view())?;
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
        let f = fit(linalg::columns(&[&one]).view(), ndarray::ArrayView1::from(&d)).unwrap();
        assert!((f.p[0] - 3.0 / 8.0).abs() < 1e-12);
        assert!((f.coef[0] - (3.0f64 / 5.0).ln()).abs() < 1e-10);
    }

    #[test]
    fn separation_is_an_error() {
        let one = [1.0; 6];
        let x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let d = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        assert!(fit(linalg::columns(&[&one[..], &x]).view(), ndarray::ArrayView1::from(&d)).is_err());
    }
}
