//! Least squares on columns, with classical, heteroskedasticity-robust (HC0/HC1) and
//! cluster-robust (CR1) covariance matrices.
//!
//! # Small-sample conventions
//! `dof_k` is the number of parameters the degrees-of-freedom correction counts (the caller
//! decides whether absorbed fixed effects count; see [`crate::did`]).
//! - classical: s² (X'X)⁻¹ with s² = RSS / (n - dof_k); t with n - dof_k df.
//! - HC0: (X'X)⁻¹ Σ eᵢ² xᵢxᵢ' (X'X)⁻¹; HC1 multiplies by n / (n - dof_k); t with n - dof_k df.
//! - CR1: G/(G-1) · (n-1)/(n-dof_k) · (X'X)⁻¹ Σ_g (X_g'e_g)(X_g'e_g)' (X'X)⁻¹; t with G - 1 df
//!   (Stata, fixest and pyfixest's default).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::linalg::{self, Singular};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SeKind {
    Classical,
    Hc0,
    Hc1,
    /// CR1, clustered by the given grouping.
    Cluster,
}

impl SeKind {
    pub fn describe(self) -> &'static str {
        match self {
            SeKind::Classical => "classical (homoskedastic)",
            SeKind::Hc0 => "heteroskedasticity-robust (HC0)",
            SeKind::Hc1 => "heteroskedasticity-robust (HC1)",
            SeKind::Cluster => "cluster-robust (CR1)",
        }
    }
}

/// A coefficient vector with its covariance.
#[derive(Debug, Clone)]
pub struct Fit {
    pub coef: Array1<f64>,
    pub vcov: Array2<f64>,
    pub n: usize,
    /// Degrees of freedom of the reference t distribution.
    pub df: f64,
    pub rss: f64,
    pub n_clusters: Option<usize>,
}

impl Fit {
    pub fn se(&self, j: usize) -> f64 {
        self.vcov[[j, j]].max(0.0).sqrt()
    }
}

/// Coefficients, (X'X)⁻¹ and residuals.
pub struct Solved {
    pub coef: Array1<f64>,
    pub xtx_inv: Array2<f64>,
    pub resid: Array1<f64>,
}

/// Least squares of `y` on the columns of `x` (n x k).
pub fn solve(x: ArrayView2<f64>, y: ArrayView1<f64>) -> Result<Solved, Singular> {
    let a = linalg::crossprod(x);
    let chol = linalg::cholesky(a.view())?;
    let coef = chol.solve(linalg::xty(x, y).view());
    let xtx_inv = chol.inverse();
    let resid = match coef.as_slice() {
        // One regressor (the plain DiD): y - (0 + x b) row by row, the same numbers as the
        // matrix-vector product below (ndarray sums each row's dot from zero), without its
        // per-row dot call over a strided view and the fitted column (a tenth of a
        // 1,000,000-row TWFE fit).
        Some(&[b]) => ndarray::Zip::from(&y).and(x.column(0)).map_collect(|&yi, &xi| yi - (0.0 + xi * b)),
        _ => &y - &x.dot(&coef),
    };
    Ok(Solved { coef, xtx_inv, resid })
}

/// Σᵢ eᵢ² xᵢxᵢ' (the HC0 meat).
fn hc_meat(x: ArrayView2<f64>, resid: ArrayView1<f64>) -> Array2<f64> {
    let w = resid.mapv(|e| e * e);
    linalg::weighted_crossprod(x, w.view())
}

/// Per-cluster score sums S (G x k): S_g = Σ_{i in g} xᵢ eᵢ.
pub fn cluster_scores(x: ArrayView2<f64>, resid: ArrayView1<f64>, cluster: &[u32], n_clusters: usize) -> Array2<f64> {
    // each regressor's scores per cluster (added a run at a time where a cluster's rows come
    // together, as in a panel sorted by unit), then one row per cluster
    let runs = crate::panel::mostly_runs(cluster);
    let per_regressor: Vec<Vec<f64>> = x
        .columns()
        .into_iter()
        .map(|col| {
            let mut out = vec![0.0; n_clusters];
            let scores = col.iter().zip(resid.iter()).map(|(&v, &e)| v * e);
            crate::panel::add_by_level(&mut out, cluster, runs, scores);
            out
        })
        .collect();
    Array2::from_shape_fn((n_clusters, x.ncols()), |(g, a)| per_regressor[a][g])
}

/// The covariance of `solved` under `kind`. `cluster` (codes 0..n_clusters) is needed for
/// `Cluster`; `meat_x` are the columns whose scores form the meat (the regressors for OLS; the
/// fitted regressors for 2SLS).
pub fn covariance(
    meat_x: ArrayView2<f64>,
    solved: &Solved,
    kind: SeKind,
    dof_k: usize,
    cluster: Option<(&[u32], usize)>,
) -> Fit {
    let k = meat_x.ncols();
    let n = solved.resid.len();
    let rss = solved.resid.dot(&solved.resid);
    let dfr = (n as f64 - dof_k as f64).max(1.0);
    let (vcov, df, n_clusters) = match (kind, cluster) {
        (SeKind::Classical, _) => (solved.xtx_inv.mapv(|v| v * rss / dfr), dfr, None),
        (SeKind::Hc0, _) | (SeKind::Hc1, _) => {
            let mut v = linalg::sandwich(solved.xtx_inv.view(), hc_meat(meat_x, solved.resid.view()).view());
            if kind == SeKind::Hc1 {
                v *= n as f64 / dfr;
            }
            (v, dfr, None)
        }
        (SeKind::Cluster, Some((ids, g))) => {
            let s = cluster_scores(meat_x, solved.resid.view(), ids, g);
            let mut v = linalg::sandwich(solved.xtx_inv.view(), linalg::crossprod(s.view()).view());
            let gf = g as f64;
            v *= gf / (gf - 1.0) * (n as f64 - 1.0) / dfr;
            (v, gf - 1.0, Some(g))
        }
        (SeKind::Cluster, None) => (Array2::from_elem((k, k), f64::NAN), f64::NAN, None),
    };
    Fit { coef: solved.coef.clone(), vcov, n, df, rss, n_clusters }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// y = 1 + 2x exactly plus known residuals: hand-solvable.
    #[test]
    fn exact_line_and_classical_se() {
        let one = [1.0; 5];
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let e = [0.1, -0.2, 0.0, 0.2, -0.1];
        let y: Vec<f64> = x.iter().zip(e).map(|(x, e)| 1.0 + 2.0 * x + e).collect();
        let design = linalg::columns(&[&one[..], &x]);
        let s = solve(design.view(), ndarray::ArrayView1::from(&y)).unwrap();
        // e is orthogonal to 1 and x? sum e = 0, sum x e = -0.2 + 0 + 0.6 - 0.4 = 0 -> exact
        assert!((s.coef[0] - 1.0).abs() < 1e-12 && (s.coef[1] - 2.0).abs() < 1e-12);
        let fit = covariance(design.view(), &s, SeKind::Classical, 2, None);
        // s2 = 0.1/3; var(b1) = s2 / Sxx = (0.1/3)/10
        assert!((fit.se(1) - ((0.1 / 3.0) / 10.0f64).sqrt()).abs() < 1e-12);
        assert_eq!(fit.df, 3.0);
        // HC0 by hand for one regressor: Σ (xᵢ - x̄)² eᵢ² / Sxx² = (4·0.01 + 0.04 + 0.04 + 4·0.01) / 10²,
        // HC1 that times n / (n - k).
        let hc0 = covariance(design.view(), &s, SeKind::Hc0, 2, None);
        assert!((hc0.vcov[[1, 1]] - 0.0016).abs() < 1e-15, "{}", hc0.vcov);
        let hc1 = covariance(design.view(), &s, SeKind::Hc1, 2, None);
        assert!((hc1.vcov[[1, 1]] - 0.0016 * 5.0 / 3.0).abs() < 1e-15);
        assert_eq!(SeKind::Hc0.describe(), "heteroskedasticity-robust (HC0)");
        // Clustered errors without the clusters: no number rather than a wrong one.
        let none = covariance(design.view(), &s, SeKind::Cluster, 2, None);
        assert!(none.vcov.iter().all(|v| v.is_nan()) && none.df.is_nan() && none.n_clusters.is_none());
    }
}
