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
/// Newton-Raphson (IRLS), to a step below 1e-10, on the columns standardised (centred when there
/// is an intercept, scaled by their standard deviation) and mapped back: the coefficients are
/// the data's own, the probabilities and the bread do not depend on the columns' units. On the
/// columns as given, the bound that tells separation from a fit and the step's tolerance were
/// in the columns' units: a covariate in thousands (a coefficient 1,000 times as large) was
/// reported as perfect separation.
pub fn fit(x: ArrayView2<f64>, d: ArrayView1<f64>) -> Result<LogitFit, LogitError> {
    let k = x.ncols();
    // x~ = x T: T scales column j by 1/sd_j and, with an intercept column c (constant v), moves
    // its mean into the intercept; then b = T b~ and (X'WX)^-1 = T (X~'WX~)^-1 T'.
    let (mean, sd): (Vec<f64>, Vec<f64>) = (0..k).map(|j| linalg::mean_sd(|| x.column(j).into_iter().copied())).unzip();
    let intercept = (0..k).find(|&j| sd[j] == 0.0 && mean[j] != 0.0);
    let mut t = Array2::<f64>::eye(k);
    for j in (0..k).filter(|&j| sd[j] > 0.0 && sd[j].is_finite()) {
        t[[j, j]] = 1.0 / sd[j];
        if let Some(c) = intercept {
            t[[c, j]] = -mean[j] / (sd[j] * mean[c]);
        }
    }
    let fitted = irls(x.dot(&t).view(), d)?;
    Ok(LogitFit { coef: t.dot(&fitted.coef), p: fitted.p, hessian_inv_n: t.dot(&fitted.hessian_inv_n).dot(&t.t()) })
}

fn irls(x: ArrayView2<f64>, d: ArrayView1<f64>) -> Result<LogitFit, LogitError> {
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

    /// The same model in any units: a covariate x1e-4, x1e4 and shifted by 1e6 gives the same
    /// probabilities, the coefficients in its units and the same bread mapped by them. On the
    /// columns as given, the covariate in ten-thousandths (a coefficient 10,000 times as large)
    /// was reported as perfect separation.
    #[test]
    fn the_fit_does_not_depend_on_the_units() {
        let n = 200;
        let mut rng = crate::rng::Rng::new(7);
        let one = vec![1.0; n];
        let x: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let x2: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let d: Vec<f64> =
            (0..n).map(|i| f64::from(u8::from(rng.uniform() < sigmoid(0.3 + 0.8 * x[i] - 0.5 * x2[i])))).collect();
        let base = fit(linalg::columns(&[&one, &x, &x2]).view(), ndarray::ArrayView1::from(&d)).unwrap();
        for (a, shift) in [(1e-4, 0.0), (1e4, 0.0), (1.0, 1e6)] {
            let xs: Vec<f64> = x.iter().map(|v| v * a + shift).collect();
            let f = fit(linalg::columns(&[&one, &xs, &x2]).view(), ndarray::ArrayView1::from(&d)).unwrap();
            for (p, q) in f.p.iter().zip(&base.p) {
                assert!((p - q).abs() < 1e-9, "x{a} +{shift}: p {p} vs {q}");
            }
            assert!((f.coef[1] * a - base.coef[1]).abs() < 1e-8, "x{a}: {} vs {}", f.coef[1] * a, base.coef[1]);
            assert!((f.coef[2] - base.coef[2]).abs() < 1e-8);
            let h = f.hessian_inv_n[[1, 1]] * a * a;
            assert!((h - base.hessian_inv_n[[1, 1]]).abs() < 1e-6 * base.hessian_inv_n[[1, 1]], "x{a}: {h}");
        }
    }
}
