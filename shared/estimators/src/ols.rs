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

use super::linalg::{self, Singular};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    pub coef: Vec<f64>,
    pub vcov: Vec<f64>,
    pub k: usize,
    pub n: usize,
    /// Degrees of freedom of the reference t distribution.
    pub df: f64,
    pub rss: f64,
    pub n_clusters: Option<usize>,
}

impl Fit {
    pub fn se(&self, j: usize) -> f64 {
        self.vcov[j * self.k + j].max(0.0).sqrt()
    }
}

/// Coefficients, (X'X)⁻¹ and residuals.
pub struct Solved {
    pub coef: Vec<f64>,
    pub xtx_inv: Vec<f64>,
    pub resid: Vec<f64>,
}

pub fn solve(x: &[&[f64]], y: &[f64]) -> Result<Solved, Singular> {
    let k = x.len();
    let a = linalg::xtx(x);
    let l = linalg::cholesky(&a, k)?;
    let coef = linalg::chol_solve(&l, k, &linalg::xty(x, y));
    let xtx_inv = linalg::inv_spd(&a, k)?;
    let mut resid = y.to_vec();
    for (c, col) in coef.iter().zip(x) {
        for (r, v) in resid.iter_mut().zip(col.iter()) {
            *r -= c * v;
        }
    }
    Ok(Solved { coef, xtx_inv, resid })
}

/// Σᵢ wᵢ xᵢ xᵢ' with wᵢ = eᵢ² (the HC0 meat).
fn hc_meat(x: &[&[f64]], resid: &[f64]) -> Vec<f64> {
    let k = x.len();
    let mut meat = vec![0.0; k * k];
    let mut row = vec![0.0; k];
    for i in 0..resid.len() {
        let e = resid[i];
        for a in 0..k {
            row[a] = x[a][i] * e;
        }
        for a in 0..k {
            let ra = row[a];
            for b in 0..=a {
                meat[a * k + b] += ra * row[b];
            }
        }
    }
    for a in 0..k {
        for b in 0..a {
            meat[b * k + a] = meat[a * k + b];
        }
    }
    meat
}

/// Per-cluster score sums S (G x k, row-major): S_g = Σ_{i in g} xᵢ eᵢ.
pub fn cluster_scores(x: &[&[f64]], resid: &[f64], cluster: &[u32], n_clusters: usize) -> Vec<f64> {
    let k = x.len();
    let mut s = vec![0.0; n_clusters * k];
    for i in 0..resid.len() {
        let g = cluster[i] as usize;
        let e = resid[i];
        for a in 0..k {
            s[g * k + a] += x[a][i] * e;
        }
    }
    s
}

fn outer_sum(s: &[f64], k: usize) -> Vec<f64> {
    let mut meat = vec![0.0; k * k];
    for row in s.chunks_exact(k) {
        for a in 0..k {
            for b in 0..=a {
                meat[a * k + b] += row[a] * row[b];
            }
        }
    }
    for a in 0..k {
        for b in 0..a {
            meat[b * k + a] = meat[a * k + b];
        }
    }
    meat
}

/// The covariance of `solved` under `kind`. `cluster` (codes 0..n_clusters) is needed for
/// `Cluster`; `meat_x` are the columns whose scores form the meat (the regressors for OLS; the
/// fitted regressors for 2SLS).
pub fn covariance(
    meat_x: &[&[f64]],
    solved: &Solved,
    kind: SeKind,
    dof_k: usize,
    cluster: Option<(&[u32], usize)>,
) -> Fit {
    let k = meat_x.len();
    let n = solved.resid.len();
    let rss = linalg::dot(&solved.resid, &solved.resid);
    let dfr = (n as f64 - dof_k as f64).max(1.0);
    let (vcov, df, n_clusters) = match (kind, cluster) {
        (SeKind::Classical, _) => (solved.xtx_inv.iter().map(|v| v * rss / dfr).collect(), dfr, None),
        (SeKind::Hc0, _) | (SeKind::Hc1, _) => {
            let mut v = linalg::sandwich(&solved.xtx_inv, &hc_meat(meat_x, &solved.resid), k);
            if kind == SeKind::Hc1 {
                let c = n as f64 / dfr;
                v.iter_mut().for_each(|x| *x *= c);
            }
            (v, dfr, None)
        }
        (SeKind::Cluster, Some((ids, g))) => {
            let s = cluster_scores(meat_x, &solved.resid, ids, g);
            let mut v = linalg::sandwich(&solved.xtx_inv, &outer_sum(&s, k), k);
            let gf = g as f64;
            let c = gf / (gf - 1.0) * (n as f64 - 1.0) / dfr;
            v.iter_mut().for_each(|x| *x *= c);
            (v, gf - 1.0, Some(g))
        }
        (SeKind::Cluster, None) => (vec![f64::NAN; k * k], f64::NAN, None),
    };
    Fit { coef: solved.coef.clone(), vcov, k, n, df, rss, n_clusters }
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
        let s = solve(&[&one, &x], &y).unwrap();
        // e is orthogonal to 1 and x? sum e = 0, sum x e = -0.2 + 0 + 0.6 - 0.4 = 0 -> exact
        assert!((s.coef[0] - 1.0).abs() < 1e-12 && (s.coef[1] - 2.0).abs() < 1e-12);
        let fit = covariance(&[&one, &x], &s, SeKind::Classical, 2, None);
        // s2 = 0.1/3; var(b1) = s2 / Sxx = (0.1/3)/10
        assert!((fit.se(1) - ((0.1 / 3.0) / 10.0f64).sqrt()).abs() < 1e-12);
        assert_eq!(fit.df, 3.0);
    }
}
