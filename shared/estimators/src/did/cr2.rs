//! CR2 cluster-robust errors with Bell-McCaffrey (Satterthwaite) degrees of freedom, for the
//! two-way fixed effects regression.
//!
//! Bell and McCaffrey (2002); Imbens and Kolesár (2016, "Robust standard errors in small samples",
//! the degrees of freedom); Pustejovsky and Tipton (2018, "Small-sample methods for
//! cluster-robust variance estimation", the fixed effects), as R's clubSandwich implements them
//! (`vcovCR(type = "CR2")`, `coef_test(test = "Satterthwaite")`, working model Φ = I).
//!
//! With design X (n x p), M = (X'X)⁻¹, residuals e and clusters g:
//!   V = M (Σ_g X_g' A_g e_g e_g' A_g X_g) M,   A_g = (I − X_g M X_g')^{-1/2}
//! (the symmetric inverse square root; a generalised one on the null space). For a contrast c,
//! let ℓ_g = X_g M c, u_g = A_g ℓ_g, q_g = X_g' u_g, d_g = u_g'u_g; then c'Vc = Σ_g (u_g'e_g)² and,
//! with e = (I − H)ε under ε ~ N(0, I), c'Vc = ε'GG'ε where (G'G)_gh = δ_gh d_g − q_g'M q_h, so
//!   df = tr(G'G)² / tr((G'G)²) = (Σ d_g − Σ q_g'Mq_g)² / (Σ d_g² − 2 Σ d_g q_g'Mq_g + tr(SMSM)),
//! S = Σ_g q_g q_g' (p x p): no G x G matrix is formed.
//!
//! Fixed effects nested in the clusters (the unit effects when clustering by unit or above) are
//! absorbed: Pustejovsky and Tipton's Theorem 2 shows the CR2 estimator and its degrees of
//! freedom are then the same as with the dummies in the model (the generalised inverse square
//! root acting as the identity on their span). Fixed effects not nested in the clusters (the
//! periods when clustering by unit) enter as explicit dummies, so they are counted in the hat
//! matrix as the full model counts them. The reference test checks this against the full dummy
//! model computed the clubSandwich way (`tests/reference/scripts/cr2.py`).

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::linalg;
use crate::panel::{demean, FixedEffect, NotConverged};

/// Explicit dummies for fixed effects not nested in the clusters: beyond this, use CR1 or the
/// wild bootstrap.
pub const MAX_CR2_DUMMIES: usize = 1000;
/// The work of the per-cluster inverse square roots, Σ_g n_g²(n_g + p).
pub const MAX_CR2_WORK: f64 = 4e10;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Cr2Error {
    #[error("se: cr2: {0}")]
    TooLarge(String),
    #[error("{0}: collinear with the fixed effects or the other regressors")]
    Collinear(String),
    #[error(transparent)]
    NotConverged(#[from] NotConverged),
}

/// The regression: the regressors of interest (not demeaned), the outcome, the fixed effects and
/// the clusters.
pub struct Problem<'a> {
    pub names: &'a [String],
    pub x: &'a [Array1<f64>],
    pub y: &'a Array1<f64>,
    pub fes: &'a [FixedEffect],
    pub cluster: &'a [u32],
    pub n_clusters: usize,
}

/// CR2 for the regressors of interest, and Bell-McCaffrey degrees of freedom for each contrast
/// asked for.
#[derive(Debug, Clone)]
pub struct Cr2 {
    pub coef: Array1<f64>,
    /// k x k: the regressors of interest.
    pub vcov: Array2<f64>,
    /// One per contrast.
    pub df: Vec<f64>,
    /// Fixed-effect dummies entered explicitly (not nested in the clusters).
    pub explicit_dummies: usize,
}

/// Fit by least squares and compute CR2 with the degrees of freedom of each contrast (length k:
/// weights on the regressors of interest).
pub fn fit(p: &Problem<'_>, contrasts: &[Array1<f64>]) -> Result<Cr2, Cr2Error> {
    let n = p.y.len();
    let k = p.x.len();
    let (nested, other): (Vec<&FixedEffect>, Vec<&FixedEffect>) = p.fes.iter().partition(|f| f.nested_in(p.cluster));
    let dummies: usize = other.iter().map(|f| f.levels().saturating_sub(1)).sum();
    if dummies > MAX_CR2_DUMMIES {
        return Err(Cr2Error::TooLarge(format!(
            "{dummies} fixed-effect levels are not nested in the clusters (at most {MAX_CR2_DUMMIES}); use cluster or wild"
        )));
    }
    let pk = k + dummies;
    let mut sizes = vec![0usize; p.n_clusters];
    for &g in p.cluster {
        sizes[g as usize] += 1;
    }
    let work: f64 = sizes.iter().map(|&m| (m as f64).powi(2) * (m + pk) as f64).sum();
    if work > MAX_CR2_WORK {
        return Err(Cr2Error::TooLarge(format!(
            "clusters of up to {} rows with {pk} regressors are too large for CR2 (work {work:.1e}, at most {MAX_CR2_WORK:.0e}); use cluster or wild",
            sizes.iter().max().copied().unwrap_or(0)
        )));
    }
    // Absorb what is nested (at least the constant, nested in any clustering).
    let absorbed: Vec<FixedEffect> =
        if nested.is_empty() { vec![FixedEffect::new(vec![0; n], 1)] } else { nested.into_iter().cloned().collect() };
    let mut cols: Vec<Array1<f64>> = p.x.to_vec();
    for f in &other {
        for level in 1..f.levels() as u32 {
            cols.push(f.codes.iter().map(|&c| if c == level { 1.0 } else { 0.0 }).collect());
        }
    }
    let mut y = p.y.clone();
    demean(y.view_mut(), &absorbed)?;
    for c in cols.iter_mut() {
        demean(c.view_mut(), &absorbed)?;
    }
    let x = linalg::stack_columns(&cols);
    let solved = crate::ols::solve(x.view(), y.view()).map_err(|s| {
        Cr2Error::Collinear(p.names.get(s.column).cloned().unwrap_or_else(|| "a fixed-effect dummy".into()))
    })?;
    let m = &solved.xtx_inv;

    // Rows by cluster.
    let mut start = vec![0usize; p.n_clusters + 1];
    for g in 0..p.n_clusters {
        start[g + 1] = start[g] + sizes[g];
    }
    let mut fill = start.clone();
    let mut rows = vec![0usize; n];
    for (i, &g) in p.cluster.iter().enumerate() {
        rows[fill[g as usize]] = i;
        fill[g as usize] += 1;
    }
    // Contrasts over all pk columns, and ℓ's direction M c.
    let mc: Vec<Array1<f64>> = contrasts
        .iter()
        .map(|c| {
            let full: Array1<f64> = (0..pk).map(|j| if j < k { c[j] } else { 0.0 }).collect();
            m.dot(&full)
        })
        .collect();
    let mut meat = Array2::<f64>::zeros((pk, pk));
    let mut acc: Vec<DfAcc> = contrasts.iter().map(|_| DfAcc::new(pk)).collect();
    for g in 0..p.n_clusters {
        let idx = &rows[start[g]..start[g + 1]];
        if idx.is_empty() {
            continue;
        }
        let xg: Array2<f64> = x.select(Axis(0), idx);
        let eg: Array1<f64> = idx.iter().map(|&i| solved.resid[i]).collect();
        let a = inv_sqrt_residual_maker(xg.view(), m.view());
        let s = xg.t().dot(&a.dot(&eg));
        meat += &outer(&s, &s);
        for (acc, mc) in acc.iter_mut().zip(&mc) {
            let u = a.dot(&xg.dot(mc));
            let q = xg.t().dot(&u);
            acc.add(u.dot(&u), &q, m.view());
        }
    }
    let v = linalg::sandwich(m.view(), meat.view());
    let vcov = linalg::block(v.view(), 0..k, 0..k).to_owned();
    let df = acc.iter().map(|a| a.df(m.view())).collect();
    Ok(Cr2 { coef: solved.coef.iter().take(k).copied().collect(), vcov, df, explicit_dummies: dummies })
}

fn outer(a: &Array1<f64>, b: &Array1<f64>) -> Array2<f64> {
    Array2::from_shape_fn((a.len(), b.len()), |(i, j)| a[i] * b[j])
}

/// (I − X_g M X_g')^{-1/2}, generalised: eigenvalues below 1e-10 (directions the fit reproduces
/// exactly) get zero.
fn inv_sqrt_residual_maker(xg: ArrayView2<f64>, m: ArrayView2<f64>) -> Array2<f64> {
    let ng = xg.nrows();
    let mut b = -xg.dot(&m).dot(&xg.t());
    for i in 0..ng {
        b[[i, i]] += 1.0;
    }
    let (vals, vecs) = linalg::symmetric_eigen(b.view());
    let scaled = Array2::from_shape_fn((ng, ng), |(r, c)| {
        let l = vals[c];
        vecs[[r, c]] * if l > 1e-10 { 1.0 / l.sqrt() } else { 0.0 }
    });
    scaled.dot(&vecs.t())
}

/// Running sums for one contrast's degrees of freedom.
struct DfAcc {
    d: f64,
    d2: f64,
    qmq: f64,
    dqmq: f64,
    s: Array2<f64>,
}

impl DfAcc {
    fn new(p: usize) -> Self {
        Self { d: 0.0, d2: 0.0, qmq: 0.0, dqmq: 0.0, s: Array2::zeros((p, p)) }
    }

    fn add(&mut self, d: f64, q: &Array1<f64>, m: ArrayView2<f64>) {
        let qmq = q.dot(&m.dot(q));
        self.d += d;
        self.d2 += d * d;
        self.qmq += qmq;
        self.dqmq += d * qmq;
        self.s += &outer(q, q);
    }

    fn df(&self, m: ArrayView2<f64>) -> f64 {
        let sm = self.s.dot(&m);
        let tr_smsm: f64 = (&sm * &sm.t()).sum();
        let num = (self.d - self.qmq).powi(2);
        let den = self.d2 - 2.0 * self.dqmq + tr_smsm;
        if den > 0.0 {
            num / den
        } else {
            f64::NAN
        }
    }
}
