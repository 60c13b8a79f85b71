//! Regression discontinuity (`RegressionDiscontinuityAnalyzer`): sharp and fuzzy designs with
//! local polynomial fits (order p, default 1; bias-correction order q = p + 1), triangular,
//! uniform or Epanechnikov kernels, the MSE-optimal bandwidth selectors of Calonico, Cattaneo
//! and Titiunik (`mserd`, rdrobust's default, and `msetwo`), conventional and bias-corrected
//! estimates with robust standard errors (nearest-neighbour variance, 3 matches), effective
//! sample sizes; or a user-supplied bandwidth.
//!
//! A port of rdrobust 2.1.1's default path (`vce="nn"`, `masspoints="adjust"`, `stdvars=True`,
//! `bwrestrict=True`, `scaleregul=1`), checked against it on the Lee (2008) Senate data.
//!
//! [`fit_adjusted`] adds rdrobust's covariate adjustment (`covs`: covariates enter every local
//! fit linearly with one coefficient vector γ for both sides, estimated from the two sides'
//! partialled-out cross products at the main bandwidth, Calonico, Cattaneo, Farrell and Titiunik
//! 2019; the bandwidths are selected with the adjustment too) and its cluster-robust variance
//! (`cluster`: rdrobust's default `vce="cr1"`, plug-in residuals of each local fit summed within
//! clusters and scaled by (n-1)/(n-k)·G/(G-1), per side, in the bandwidth selection as in the
//! estimates). Checked against rdrobust 2.1.1 on `tests/reference/data/rdd_covs.csv`.

use serde::{Deserialize, Serialize};

use std::borrow::Cow;

use ndarray::{Array1, Array2, ArrayView1, CowArray, Ix1};

use crate::inference::Inference;
use crate::{dist, linalg};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RddError {
    #[error("{column}: {message}")]
    InvalidInput { column: String, message: String },
    #[error("cutoff: {cutoff} is not inside the range of the running variable ({min} to {max})")]
    CutoffOutside { cutoff: f64, min: f64, max: f64 },
    #[error("{side} side of the cutoff: {message}")]
    TooFew { side: String, message: String },
    #[error("bandwidth selection failed: {0}")]
    Bandwidth(String),
}

fn invalid(column: &str, message: impl Into<String>) -> RddError {
    RddError::InvalidInput { column: column.to_string(), message: message.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Kernel {
    Triangular,
    Uniform,
    Epanechnikov,
}

impl Kernel {
    fn weight(self, u: f64, h: f64) -> f64 {
        let a = u.abs();
        if a > 1.0 {
            return 0.0;
        }
        match self {
            Kernel::Triangular => (1.0 - a) / h,
            Kernel::Uniform => 0.5 / h,
            Kernel::Epanechnikov => 0.75 * (1.0 - u * u) / h,
        }
    }

    fn c_c(self) -> f64 {
        match self {
            Kernel::Triangular => 2.576,
            Kernel::Uniform => 1.843,
            Kernel::Epanechnikov => 2.34,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BwSelect {
    Mserd,
    Msetwo,
    Msesum,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RddSettings {
    pub cutoff: f64,
    pub p: usize,
    pub kernel: Kernel,
    pub bwselect: BwSelect,
    /// A user-supplied main bandwidth (both sides); the bias bandwidth is then the same.
    pub bandwidth: Option<f64>,
    pub alpha: f64,
    /// Minimum neighbours for the nearest-neighbour variance.
    pub nnmatch: usize,
}

impl Default for RddSettings {
    fn default() -> Self {
        Self {
            cutoff: 0.0,
            p: 1,
            kernel: Kernel::Triangular,
            bwselect: BwSelect::Mserd,
            bandwidth: None,
            alpha: 0.05,
            nnmatch: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RddResult {
    pub method: String,
    pub estimator: String,
    /// The conventional local-polynomial estimate with the robust bias-corrected standard error,
    /// interval and p-value (rdrobust's recommended headline, Calonico-Cattaneo-Titiunik 2014);
    /// the interval is centred on the bias-corrected estimate.
    #[serde(flatten)]
    pub inference: Inference,
    /// The conventional standard error, interval and p-value (they under-cover when the
    /// bandwidth is MSE-optimal; kept for comparison).
    pub conventional_std_error: f64,
    pub conventional_ci_low: f64,
    pub conventional_ci_high: f64,
    pub conventional_p_value: f64,
    pub estimate_bias_corrected: f64,
    pub robust_std_error: f64,
    pub robust_ci_low: f64,
    pub robust_ci_high: f64,
    pub robust_p_value: f64,
    pub bandwidth: f64,
    pub bias_bandwidth: f64,
    pub bandwidth_left: f64,
    pub bandwidth_right: f64,
    pub bias_bandwidth_left: f64,
    pub bias_bandwidth_right: f64,
    pub bandwidth_selector: String,
    pub kernel: Kernel,
    pub p: usize,
    pub q: usize,
    pub cutoff: f64,
    /// Observations on each side (all, and with positive weight in the main bandwidth).
    pub n_left: usize,
    pub n_right: usize,
    pub n_effective_left: usize,
    pub n_effective_right: usize,
    /// Intercepts of the two local fits at the cutoff.
    pub fit_left: f64,
    pub fit_right: f64,
    /// Covariate adjustment (`--covariates`): each covariate's coefficient; absent without.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covariates: Vec<CovariateCoefficient>,
    /// Cluster-robust variances (`--cluster`): the clusters among the observations of the local
    /// fits (rdrobust's `n_clust`); absent without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<usize>,
    /// Fuzzy designs: the first stage (jump in treatment take-up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_stage: Option<f64>,
    /// Fuzzy designs: the first stage's conventional standard error and F = (jump / se)².
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_stage_std_error: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_stage_f: Option<f64>,
    /// Fuzzy designs: the test of no effect and the confidence set that stay valid however weak
    /// the first stage (`ar_p_value`, `ar_statistic`, `ar_ci_low`, `ar_ci_high`,
    /// `ar_confidence_set`), at the analysis's level: Feir, Lemieux and Marmer (2016)'s
    /// Anderson-Rubin-type inversion of the robust bias-corrected test that y − τ0·t does not
    /// jump at the cutoff (`ar_statistic`: its χ²(1) at τ0 = 0).
    #[serde(
        flatten,
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::inference::strict_ar"
    )]
    pub anderson_rubin: Option<crate::iv::weak::ArResult>,
    /// 20% or more of the running variable's values repeat on a side (absent when not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mass_points: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub density_test_p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub density_test: Option<density::DensityTest>,
    pub warnings: Vec<String>,
    /// rdplot's IMSE-optimal evenly spaced bins of the data (for the report's plot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bins: Option<RddBins>,
    /// The binned data and fitted curves for a plot (in-process only; not serialised).
    #[serde(skip)]
    pub plot: Option<RddPlot>,
}

/// One side of the cutoff: slices of the sorted data, and each observation's tie group.
#[derive(Clone)]
struct Side<'a> {
    x: &'a [f64],
    y: &'a [f64],
    t: Option<&'a [f64]>,
    /// Covariates (rdrobust's `covs`), after the outcome and the treatment in every column list.
    z: Vec<&'a [f64]>,
    /// Cluster codes (cluster-robust variances with plug-in residuals instead of nearest neighbours).
    cl: Option<&'a [u32]>,
    /// Number of cluster codes (the size of the per-cluster score buffers).
    levels: usize,
    /// Left of the cutoff: windows are suffixes; right: prefixes.
    left: bool,
    /// rdrobust's standardisation (`stdvars`) for the bandwidth selection: x and y divided by
    /// these standard deviations as they are read. Only the windows a computation uses are ever
    /// copied, never the whole sample.
    scale: Option<(f64, f64)>,
}

/// Slices of a list of columns (owned scaled windows or borrowed data alike).
fn refs<'b>(cols: &'b [Cow<'_, [f64]>]) -> Vec<&'b [f64]> {
    cols.iter().map(|c| c.as_ref()).collect()
}

impl<'a> Side<'a> {
    /// The index of the first covariate in a column list (after y, and t when fuzzy).
    fn first_z(&self) -> usize {
        1 + usize::from(self.t.is_some())
    }

    /// The cluster codes of the rows of `r`.
    fn clusters(&self, r: &std::ops::Range<usize>) -> Option<&'a [u32]> {
        self.cl.map(|c| &c[r.clone()])
    }

    /// The running variable as the computations see it (scaled in the bandwidth selection).
    fn scaled_x(&self, v: f64) -> f64 {
        match self.scale {
            Some((sx, _)) => v / sx,
            None => v,
        }
    }

    /// The observations with positive kernel weight at bandwidth h: a contiguous range.
    fn window(&self, c: f64, h: f64, k: Kernel) -> std::ops::Range<usize> {
        let inside = |x: f64| k.weight((self.scaled_x(x) - c) / h, h) > 0.0;
        if self.left {
            self.x.partition_point(|&x| !inside(x))..self.x.len()
        } else {
            0..self.x.partition_point(|&x| inside(x))
        }
    }

    /// The running variable on the rows of `r` (a copy only when scaled).
    fn xs(&self, r: &std::ops::Range<usize>) -> Cow<'a, [f64]> {
        match self.scale {
            None => Cow::Borrowed(&self.x[r.clone()]),
            Some((sx, _)) => Cow::Owned(self.x[r.clone()].iter().map(|v| v / sx).collect()),
        }
    }

    /// Tie-group sizes and 1-based positions, as counted over the whole side (rdrobust's
    /// bandwidth stage: a group may reach past the window), for the rows of `r`.
    fn dups(&self, r: &std::ops::Range<usize>) -> (Vec<u32>, Vec<u32>) {
        let x = self.x;
        let (mut dups, mut ids) = (Vec::with_capacity(r.len()), Vec::with_capacity(r.len()));
        let mut i = r.start;
        while i < r.end {
            let mut first = i;
            if i == r.start {
                while first > 0 && x[first - 1] == x[i] {
                    first -= 1;
                }
            }
            let mut last = i;
            while last + 1 < x.len() && x[last + 1] == x[i] {
                last += 1;
            }
            for k in i..=last.min(r.end - 1) {
                dups.push((last - first + 1) as u32);
                ids.push((k - first + 1) as u32);
            }
            i = last + 1;
        }
        (dups, ids)
    }

    /// The columns on the rows of `r`: y (scaled in the bandwidth selection), then t and the
    /// covariates.
    fn cols(&self, r: &std::ops::Range<usize>) -> Vec<Cow<'a, [f64]>> {
        let y = &self.y[r.clone()];
        let mut v = vec![match self.scale {
            None => Cow::Borrowed(y),
            Some((_, sy)) => Cow::Owned(y.iter().map(|v| v / sy).collect()),
        }];
        if let Some(t) = self.t {
            v.push(Cow::Borrowed(&t[r.clone()]));
        }
        v.extend(self.z.iter().map(|z| Cow::Borrowed(&z[r.clone()])));
        v
    }
}

/// Tie-group sizes and 1-based positions within `x` (sorted).
fn dup_counts(x: &[f64]) -> (Vec<u32>, Vec<u32>) {
    let side = Side { x, y: x, t: None, z: vec![], cl: None, levels: 0, left: false, scale: None };
    side.dups(&(0..x.len()))
}

/// rdrobust's nearest-neighbour residuals: each observation against the mean of at least
/// `matches` nearest neighbours (ties included), scaled by sqrt(J/(J+1)). Columns: y, then t.
/// `scale`: x and the first column are read divided by these (1 leaves a value as it is).
fn nn_residuals(
    x: &[f64],
    cols: &[&[f64]],
    scale: (f64, f64),
    dups: &[u32],
    dupsid: &[u32],
    matches: usize,
) -> Vec<Vec<f64>> {
    let dup = |i: usize| dups[i] as usize;
    let xv = |i: usize| x[i] / scale.0;
    let n = x.len();
    let eps = f64::EPSILON.sqrt();
    let mut out = vec![vec![0.0; n]; cols.len()];
    let cap = matches.min(n.saturating_sub(1));
    for pos in 0..n {
        let mut rpos = dup(pos) - dupsid[pos] as usize;
        let mut lpos = dupsid[pos] as usize - 1;
        while lpos + rpos < cap {
            if pos < lpos + 1 {
                rpos += dup(pos + rpos + 1);
            } else if pos + rpos + 1 >= n {
                lpos += dup(pos - lpos - 1);
            } else {
                let dleft = xv(pos) - xv(pos - lpos - 1);
                let dright = xv(pos + rpos + 1) - xv(pos);
                let tol = dleft.max(dright) * eps;
                if dleft - dright > tol {
                    rpos += dup(pos + rpos + 1);
                } else if dright - dleft > tol {
                    lpos += dup(pos - lpos - 1);
                } else {
                    rpos += dup(pos + rpos + 1);
                    lpos += dup(pos - lpos - 1);
                }
            }
        }
        let (lo, hi) = (pos - lpos, pos + rpos + 1);
        let ji = (hi - lo - 1) as f64;
        let sf = (ji / (ji + 1.0)).sqrt();
        for (c, col) in cols.iter().enumerate() {
            let d = if c == 0 { scale.1 } else { 1.0 };
            let s: f64 = col[lo..hi].iter().map(|v| v / d).sum::<f64>() - col[pos] / d;
            out[c][pos] = sf * (col[pos] / d - s / ji);
        }
    }
    out
}

/// Powers u^0..=m into `buf`.
fn powers(u: f64, buf: &mut [f64]) {
    let mut v = 1.0;
    for b in buf.iter_mut() {
        *b = v;
        v *= u;
    }
}

/// Weighted moments of a window: G = Σ w R R' and R'W d for each column d, R = [(x-c)^j], j ≤ o.
///
/// A hand-written kernel, kept on purpose: G is a Hankel matrix of the 2o+1 weighted power sums
/// Σ w u^m, so one streaming pass over the window computes it without materialising the
/// n x (o+1) design (the ndarray product X'WX does (o+1)² multiply-adds per row over a copy).
/// See the `rdd_moments` case of the anchors benchmark for the measured difference.
pub(crate) fn moments(x: &[f64], w: &[f64], ds: &[&[f64]], c: f64, o: usize) -> (Array2<f64>, Vec<Array1<f64>>) {
    let mut m = Moments::new(o, ds.len());
    m.add(x, w, ds, c);
    m.finish()
}

/// Rows per block where [`Moments`] are summed a block at a time (weights computed per block).
const MOMENT_BLOCK: usize = 1 << 14;

/// [`moments`]' sums, accumulated over consecutive blocks of a window in order (the same sums,
/// bit for bit, as one pass over the whole window).
struct Moments {
    o: usize,
    sums: Vec<f64>,
    rwd: Vec<Array1<f64>>,
    pw: Vec<f64>,
}

impl Moments {
    fn new(o: usize, columns: usize) -> Self {
        Self { o, sums: vec![0.0; 2 * o + 1], rwd: vec![Array1::zeros(o + 1); columns], pw: vec![0.0; 2 * o + 1] }
    }

    fn add(&mut self, x: &[f64], w: &[f64], ds: &[&[f64]], c: f64) {
        let k = self.o + 1;
        let Self { sums, rwd, pw, .. } = self;
        for i in 0..x.len() {
            powers(x[i] - c, pw);
            let wi = w[i];
            for (s, p) in sums.iter_mut().zip(pw.iter()) {
                *s += wi * p;
            }
            for (d, acc) in ds.iter().zip(rwd.iter_mut()) {
                for a in 0..k {
                    acc[a] += wi * pw[a] * d[i];
                }
            }
        }
    }

    fn finish(self) -> (Array2<f64>, Vec<Array1<f64>>) {
        let k = self.o + 1;
        let sums = self.sums;
        (Array2::from_shape_fn((k, k), |(a, b)| sums[a + b]), self.rwd)
    }
}

/// Row j of B M B, at column j: the variance of coefficient j under the sandwich B M B.
fn quad(inv: &Array2<f64>, m: &Array2<f64>, j: usize) -> f64 {
    linalg::sandwich(inv.view(), m.view())[[j, j]]
}

/// Σ_i c_i r_i r_i' accumulated row by row (the meat of a local fit), symmetric.
fn outer_acc(m: &mut Array2<f64>, c: f64, r: &[f64]) {
    let k = m.nrows();
    for a in 0..k {
        let ra = c * r[a];
        for b in 0..=a {
            m[[a, b]] += ra * r[b];
        }
    }
}

fn fill_upper(m: &mut Array2<f64>) {
    let k = m.nrows();
    for a in 0..k {
        for b in 0..a {
            m[[b, a]] = m[[a, b]];
        }
    }
}

/// Plug-in residuals d - R b of each column of a local fit (rdrobust's `vce="hc1"` residuals
/// with weight 1, which its `cr1` sums within clusters).
/// `scale` as in [`nn_residuals`].
fn plugin_residuals(x: &[f64], cols: &[&[f64]], scale: (f64, f64), c: f64, betas: &[Array1<f64>]) -> Vec<Vec<f64>> {
    let k = betas.first().map_or(1, |b| b.len());
    let mut pw = vec![0.0; k];
    let mut out = vec![vec![0.0; x.len()]; cols.len()];
    for i in 0..x.len() {
        powers(x[i] / scale.0 - c, &mut pw);
        let r = ArrayView1::from(&pw[..]);
        for (j, ((o, col), b)) in out.iter_mut().zip(cols).zip(betas).enumerate() {
            let d = if j == 0 { scale.1 } else { 1.0 };
            o[i] = col[i] / d - r.dot(b);
        }
    }
    out
}

/// The meat of a local fit's sandwich: Σᵢ (rᵢ vᵢ)(rᵢ vᵢ)' over observations, or with clusters
/// Σ_g (Σ_{i∈g} rᵢ vᵢ)(…)' scaled by CR1's (n-1)/(n-k)·G/(G-1), n and G counted over the rows
/// added (rdrobust's `cr1`, per side).
struct Meat<'a> {
    m: Array2<f64>,
    cl: Option<&'a [u32]>,
    scores: Vec<f64>,
    seen: Vec<bool>,
    n: usize,
}

impl<'a> Meat<'a> {
    /// `cl`: the cluster codes of the window's rows (`add` takes an index into them).
    fn new(k: usize, cl: Option<&'a [u32]>, levels: usize) -> Self {
        let (scores, seen) = match cl {
            Some(_) => (vec![0.0; levels * k], vec![false; levels]),
            None => (Vec::new(), Vec::new()),
        };
        Self { m: Array2::zeros((k, k)), cl, scores, seen, n: 0 }
    }

    /// Row `i` of the window, with residual `r` and design vector `v`.
    fn add(&mut self, i: usize, r: f64, v: &[f64]) {
        self.n += 1;
        match self.cl {
            None => outer_acc(&mut self.m, r * r, v),
            Some(cl) => {
                let (g, k) = (cl[i] as usize, v.len());
                self.seen[g] = true;
                for (s, vi) in self.scores[g * k..(g + 1) * k].iter_mut().zip(v) {
                    *s += r * vi;
                }
            }
        }
    }

    /// The meat; `k_df` coefficients enter CR1's small-sample factor.
    fn finish(mut self, k_df: usize) -> Array2<f64> {
        let k = self.m.nrows();
        if self.cl.is_some() {
            let mut g = 0usize;
            for (j, _) in self.seen.iter().enumerate().filter(|(_, s)| **s) {
                g += 1;
                outer_acc(&mut self.m, 1.0, &self.scores[j * k..(j + 1) * k]);
            }
            let (n, gf) = (self.n as f64, g as f64);
            let f = if g > 1 { (n - 1.0) / (n - k_df as f64) * (gf / (gf - 1.0)) } else { f64::NAN };
            self.m.mapv_inplace(|v| v * f);
        }
        fill_upper(&mut self.m);
        self.m
    }
}

/// Residuals for a local fit's variance: nearest neighbours (ties counted by `dups`), or with
/// clusters the fit's plug-in residuals (`betas` per column); `scale` as in [`nn_residuals`].
#[allow(clippy::too_many_arguments)]
fn fit_residuals(
    side: &Side,
    ex: &[f64],
    ds: &[&[f64]],
    scale: (f64, f64),
    c: f64,
    betas: &[Array1<f64>],
    dups: impl FnOnce() -> (Vec<u32>, Vec<u32>),
    nnmatch: usize,
) -> Vec<Vec<f64>> {
    match side.cl {
        Some(_) => plugin_residuals(ex, ds, scale, c, betas),
        None => {
            let (dups, dupsid) = dups();
            nn_residuals(ex, ds, scale, &dups, &dupsid, nnmatch)
        }
    }
}

/// The largest Σ w z² among the covariates (the scale against which collinearity is judged).
fn covariate_scale(ds: &[&[f64]], w: &[f64], first_z: usize) -> f64 {
    ds[first_z..].iter().map(|z| (0..w.len()).map(|i| w[i] * z[i] * z[i]).sum::<f64>()).fold(0.0, f64::max)
}

/// Z'WD - U_Z' G⁻¹ U: the covariates' (columns from `first_z` on) kernel-weighted cross products
/// with every column, partialled out of the local polynomial (U = R'WD per column, G⁻¹ its
/// inverse Gram). Rows: covariates; columns: y, [t], covariates.
fn partialled(ds: &[&[f64]], w: &[f64], u: &[Array1<f64>], inv: &Array2<f64>, first_z: usize) -> Array2<f64> {
    let nz = ds.len() - first_z;
    let giu: Vec<Array1<f64>> = u.iter().map(|v| inv.dot(v)).collect();
    Array2::from_shape_fn((nz, ds.len()), |(a, b)| {
        let (za, db) = (ds[first_z + a], ds[b]);
        let zwd: f64 = (0..w.len()).map(|i| w[i] * za[i] * db[i]).sum();
        zwd - u[first_z + a].dot(&giu[b])
    })
}

/// γ (covariates x [y, t]): the covariates' coefficients from partialled cross products
/// (rdrobust's `gamma`). When the covariates are collinear, with each other or with the local
/// polynomial (a direction of ZWZ under 1e-9 of the largest weighted Σ w z²), a pseudo-inverse
/// without those directions, as rdrobust's default `covs_drop`; the flag says so.
fn covariate_gamma(p: &Array2<f64>, scale: f64, first_z: usize) -> (Array2<f64>, bool) {
    let (nz, ncols) = p.dim();
    let zwz = linalg::block(p.view(), 0..nz, first_z..ncols).to_owned();
    let zwy = linalg::block(p.view(), 0..nz, 0..first_z).to_owned();
    let (vals, vecs) = linalg::symmetric_eigen(zwz.view());
    let tol = 1e-9 * scale;
    if vals.iter().all(|&v| v > tol) {
        if let Ok(inv) = linalg::inv_spd(zwz.view()) {
            return (inv.dot(&zwy), false);
        }
    }
    let inv_vals = vals.mapv(|v| if v > tol { 1.0 / v } else { 0.0 });
    let pinv = vecs.dot(&Array2::from_diag(&inv_vals)).dot(&vecs.t());
    (pinv.dot(&zwy), true)
}

/// Column `j` (0 the outcome, 1 the treatment) of per-column values, net of the covariates:
/// v_j - Σ γ_{·j} v_z.
fn net_of_covariates(v: &[f64], gamma: Option<&Array2<f64>>, j: usize, first_z: usize) -> f64 {
    match gamma {
        None => v[j],
        Some(g) => v[j] - (0..g.nrows()).map(|a| g[[a, j]] * v[first_z + a]).sum::<f64>(),
    }
}

/// The weights over the columns (y, [t], covariates) whose combination of the columns' residuals
/// is the estimate's influence: sharp [1, -γ_y]; fuzzy (`ty`, `tt` the jumps net of the
/// covariates) the ratio's delta method [1/tt, -ty/tt², -(γ_y/tt) + (ty/tt²)γ_t] (rdrobust's s_Y).
fn column_weights(gamma: Option<&Array2<f64>>, fuzzy: Option<(f64, f64)>) -> Vec<f64> {
    let mut s = match fuzzy {
        None => vec![1.0],
        Some((ty, tt)) => vec![1.0 / tt, -(ty / (tt * tt))],
    };
    if let Some(g) = gamma {
        for a in 0..g.nrows() {
            s.push(match fuzzy {
                None => -g[[a, 0]],
                Some((ty, tt)) => -g[[a, 0]] / tt + ty / (tt * tt) * g[[a, 1]],
            });
        }
    }
    s
}

struct BwPieces {
    v: f64,
    b: f64,
    r: f64,
    rate: f64,
}

/// rdrobust_bw: variance, bias and regularisation constants of one side for a polynomial of
/// order `o`, derivative `nu`, bias order `o_b`, pilot `h_v` and bias pilot `h_b`.
#[allow(clippy::too_many_arguments)]
fn bw_constants(
    side: &Side,
    c: f64,
    o: usize,
    nu: usize,
    o_b: usize,
    h_v: f64,
    h_b: f64,
    scale: f64,
    kernel: Kernel,
    nnmatch: usize,
) -> Result<BwPieces, String> {
    let fact = |n: usize| (1..=n).map(|v| v as f64).product::<f64>();
    let singular = || "singular local design (too few distinct points)".to_string();
    // V fit on the pilot window.
    let r = side.window(c, h_v, kernel);
    let ex = side.xs(&r);
    let ex = &ex[..];
    let ew: Vec<f64> = ex.iter().map(|&x| kernel.weight((x - c) / h_v, h_v)).collect();
    let ds = side.cols(&r);
    let ds = refs(&ds);
    let k = o + 1;
    let (g, rwd) = moments(ex, &ew, &ds, c, o);
    let inv_v = linalg::inv_spd(g.view()).map_err(|_| singular())?;
    let beta_v: Vec<Array1<f64>> = rwd.iter().map(|v| inv_v.dot(v)).collect();
    // With covariates, this side's own γ at the pilot bandwidth (rdrobust_bw's V fit).
    let first_z = side.first_z();
    let gamma = (!side.z.is_empty()).then(|| {
        covariate_gamma(&partialled(&ds, &ew, &rwd, &inv_v, first_z), covariate_scale(&ds, &ew, first_z), first_z).0
    });
    let s = match side.t {
        None => column_weights(gamma.as_ref(), None),
        Some(_) => {
            let at_nu: Vec<f64> = beta_v.iter().map(|b| fact(nu) * b[nu]).collect();
            let ty = net_of_covariates(&at_nu, gamma.as_ref(), 0, first_z);
            let tt = net_of_covariates(&at_nu, gamma.as_ref(), 1, first_z);
            column_weights(gamma.as_ref(), Some((ty, tt)))
        }
    };
    let res = fit_residuals(side, ex, &ds, (1.0, 1.0), c, &beta_v, || side.dups(&r), nnmatch);
    let mut meat = Meat::new(k, side.clusters(&r), side.levels);
    let mut vv = Array1::zeros(k);
    let mut pw = vec![0.0; k];
    for i in 0..ex.len() {
        let comb: f64 = s.iter().zip(&res).map(|(s, r)| s * r[i]).sum();
        let u = ex[i] - c;
        powers(u, &mut pw);
        let tail = (u / h_v).powi(o as i32 + 1);
        meat.add(i, comb * ew[i], &pw);
        for a in 0..k {
            vv[a] += ew[i] * pw[a] * tail;
        }
    }
    let v_v = quad(&inv_v, &meat.finish(k), nu);
    let bconst = h_v.powi(nu as i32) * inv_v.row(nu).dot(&vv);

    // B fit on the bias window.
    if !(h_b.is_finite() && h_b > 0.0) {
        return Err("non-finite bias pilot bandwidth".into());
    }
    let r = side.window(c, h_b, kernel);
    let weights = |ex: &[f64]| -> Vec<f64> { ex.iter().map(|&x| kernel.weight((x - c) / h_b, h_b)).collect() };
    let kb = o_b + 1;
    // The moments a block at a time (the first pilot's window is the whole side); the residuals
    // and the meat read the side's values scaled as they go: nothing of the window's size is
    // copied, only the residuals (and the tie groups) are the window's length.
    let mut m = Moments::new(o_b, side.cols(&(0..0)).len());
    for start in r.clone().step_by(MOMENT_BLOCK) {
        let b = start..(start + MOMENT_BLOCK).min(r.end);
        let ex = side.xs(&b);
        let ds = side.cols(&b);
        m.add(&ex, &weights(&ex), &refs(&ds), c);
    }
    let (g, rwd) = m.finish();
    let inv_b = linalg::inv_spd(g.view()).map_err(|_| singular())?;
    let beta_b: Vec<Array1<f64>> = rwd.iter().map(|v| inv_b.dot(v)).collect();
    let mut bwreg = 0.0;
    if scale > 0.0 {
        let raw = Side { scale: None, ..side.clone() };
        let (ex, ds) = (&side.x[r.clone()], raw.cols(&r));
        let ds = refs(&ds);
        let unit = side.scale.unwrap_or((1.0, 1.0));
        let res = fit_residuals(side, ex, &ds, unit, c, &beta_b, || side.dups(&r), nnmatch);
        let mut meat = Meat::new(kb, side.clusters(&r), side.levels);
        let mut pw = vec![0.0; kb];
        for (i, &xi) in ex.iter().enumerate() {
            let comb: f64 = s.iter().zip(&res).map(|(s, r)| s * r[i]).sum();
            let xi = side.scaled_x(xi);
            powers(xi - c, &mut pw);
            meat.add(i, comb * kernel.weight((xi - c) / h_b, h_b), &pw);
        }
        let v_b = quad(&inv_b, &meat.finish(kb), kb - 1);
        bwreg = 3.0 * bconst * bconst * v_b;
    }
    let last: f64 = s.iter().zip(&beta_b).map(|(s, b)| s * b[kb - 1]).sum();
    let bias = (2.0 * (o + 1 - nu) as f64).sqrt() * bconst * last;
    let v = (2 * nu + 1) as f64 * h_v.powi(2 * nu as i32 + 1) * v_v;
    let r = scale * (2 * (o + 1 - nu)) as f64 * bwreg;
    Ok(BwPieces { v, b: bias, r, rate: 1.0 / (2 * o + 3) as f64 })
}

fn sd(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// Run the left and right computations on both cores.
fn both<A: Send, B: Send>(left: impl FnOnce() -> A + Send, right: impl FnOnce() -> B + Send) -> (A, B) {
    // rayon's join: a panic on either side reaches the caller (nothing is silently dropped).
    rayon::join(left, right)
}

/// Bandwidths (h_l, h_r, b_l, b_r) by rdrobust's selector, in the running variable's units.
fn select_bandwidths(left: &Side, right: &Side, s: &RddSettings) -> Result<[f64; 4], String> {
    let c = s.cutoff;
    let (p, q) = (s.p, s.p + 1);
    let (nl, nr) = (left.x.len(), right.x.len());
    let n = nl + nr;
    // rdrobust standardises x and y (stdvars); bandwidths, weights and nearest neighbours are
    // computed on the standardised data, here by sides that scale the values as they read them.
    let all = || left.x.iter().chain(right.x.iter());
    let mean = all().sum::<f64>() / n as f64;
    let x_sd = (all().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
    let ys = || left.y.iter().chain(right.y.iter());
    let ym = ys().sum::<f64>() / n as f64;
    let y_sd = (ys().map(|v| (v - ym).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
    let q25 = quantile_type2_split(left.x, right.x, 0.25);
    let q75 = quantile_type2_split(left.x, right.x, 0.75);
    let bwp = (1.0f64).min(((q75 - q25) / x_sd) / 1.349);
    let l = Side { scale: Some((x_sd, y_sd)), ..left.clone() };
    let r = Side { scale: Some((x_sd, y_sd)), ..right.clone() };
    let cs = c / x_sd;
    let x_min = left.x[0] / x_sd;
    let x_max = right.x[nr - 1] / x_sd;
    let range_l = (cs - x_min).abs();
    let range_r = (x_max - cs).abs();
    let uniq = |v: &[f64]| 1 + v.windows(2).filter(|w| w[1] != w[0]).count();
    let (m_l, m_r) = (uniq(left.x), uniq(right.x));
    let m = (m_l + m_r) as f64;
    let mut c_bw = s.kernel.c_c() * bwp * m.powf(-0.2);
    let bw_max_l = (cs - x_min).abs();
    let bw_max_r = (cs - x_max).abs();
    let bw_max = bw_max_l.max(bw_max_r);
    c_bw = c_bw.min(bw_max);
    // Mass points (>= 20% repeated values): keep at least 10 distinct values in the pilot.
    let mass = 1.0 - m_l as f64 / nl as f64 >= 0.2 || 1.0 - m_r as f64 / nr as f64 >= 0.2;
    let bw_min = if mass {
        // The 10th distinct scaled value from the cutoff on each side (or the farthest).
        let tenth = |values: &mut dyn Iterator<Item = &f64>| {
            let (mut last, mut count) = (f64::NAN, 0);
            for v in values.map(|v| v / x_sd) {
                if count == 0 || v != last {
                    (last, count) = (v, count + 1);
                    if count == 10 {
                        break;
                    }
                }
            }
            last
        };
        let bl = (tenth(&mut left.x.iter().rev()) - cs).abs() * (1.0 + f64::EPSILON.sqrt());
        let br = (tenth(&mut right.x.iter()) - cs).abs() * (1.0 + f64::EPSILON.sqrt());
        c_bw = c_bw.max(bl).max(br);
        Some((bl, br))
    } else {
        None
    };
    let k = s.kernel;
    let nn = s.nnmatch;
    let eps1 = 1.0 + f64::EPSILON.sqrt();
    let (cd_l, cd_r) = both(
        || bw_constants(&l, cs, q + 1, q + 1, q + 2, c_bw, range_l * eps1, 0.0, k, nn),
        || bw_constants(&r, cs, q + 1, q + 1, q + 2, c_bw, range_r * eps1, 0.0, k, nn),
    );
    let (cd_l, cd_r) = (cd_l?, cd_r?);
    let floor = |v: f64| match bw_min {
        Some((a, b)) => v.max(a).max(b),
        None => v,
    };
    let out = match s.bwselect {
        BwSelect::Mserd | BwSelect::Msesum => {
            let sign = if s.bwselect == BwSelect::Mserd { -1.0 } else { 1.0 };
            let d = floor(((cd_l.v + cd_r.v) / (cd_r.b + sign * cd_l.b).powi(2)).powf(cd_l.rate).min(bw_max));
            let cb_l = bw_constants(&l, cs, q, p + 1, q + 1, c_bw, d, 1.0, k, nn)?;
            let cb_r = bw_constants(&r, cs, q, p + 1, q + 1, c_bw, d, 1.0, k, nn)?;
            let b = ((cb_l.v + cb_r.v) / ((cb_r.b + sign * cb_l.b).powi(2) + (cb_r.r + cb_l.r)))
                .powf(cb_l.rate)
                .min(bw_max);
            let ch_l = bw_constants(&l, cs, p, 0, q, c_bw, b, 1.0, k, nn)?;
            let ch_r = bw_constants(&r, cs, p, 0, q, c_bw, b, 1.0, k, nn)?;
            let h = ((ch_l.v + ch_r.v) / ((ch_r.b + sign * ch_l.b).powi(2) + (ch_r.r + ch_l.r)))
                .powf(ch_l.rate)
                .min(bw_max);
            [h, h, b, b]
        }
        BwSelect::Msetwo => {
            let side_bw = |cd: &BwPieces, maxb: f64, side: &Side, lo: Option<f64>| -> Result<(f64, f64), String> {
                let mut d = (cd.v / cd.b.powi(2)).powf(cd.rate).min(maxb);
                if let Some(lo) = lo {
                    d = d.max(lo);
                }
                let cb = bw_constants(side, cs, q, p + 1, q + 1, c_bw, d, 1.0, k, nn)?;
                let b = (cb.v / (cb.b.powi(2) + cb.r)).powf(cb.rate).min(maxb);
                let ch = bw_constants(side, cs, p, 0, q, c_bw, b, 1.0, k, nn)?;
                let h = (ch.v / (ch.b.powi(2) + ch.r)).powf(ch.rate).min(maxb);
                Ok((h, b))
            };
            let (lres, rres) = both(
                || side_bw(&cd_l, bw_max_l, &l, bw_min.map(|m| m.0)),
                || side_bw(&cd_r, bw_max_r, &r, bw_min.map(|m| m.1)),
            );
            let ((hl, bl), (hr, br)) = (lres?, rres?);
            [hl, hr, bl, br]
        }
    };
    if out.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Err(format!("degenerate bandwidths {out:?}"));
    }
    Ok(out.map(|v| v * x_sd))
}

/// Type-2 quantile of the concatenation of two sorted slices (left all below right).
fn quantile_type2_split(a: &[f64], b: &[f64], p: f64) -> f64 {
    let n = a.len() + b.len();
    let at = |i: usize| if i < a.len() { a[i] } else { b[i - a.len()] };
    let np = n as f64 * p;
    let j = np.floor() as usize;
    let g = np - j as f64;
    if g > 0.0 {
        at(j.min(n - 1))
    } else if j == 0 {
        at(0)
    } else {
        0.5 * (at(j - 1) + at(j.min(n - 1)))
    }
}

/// One side's local fits at the final bandwidths.
struct SideFit {
    range: std::ops::Range<usize>,
    h: f64,
    b: f64,
    tau_cl: Vec<f64>,
    tau_bc: Vec<f64>,
    n_h: usize,
    inv_p: Array2<f64>,
    /// Row p+1 of (R_q'W_bR_q)⁻¹ and L = Σ W_h R_p (u/h)^(p+1): define Q_q row by row.
    inv_q_row: Array1<f64>,
    l: Array1<f64>,
    /// Residuals of each column for the conventional variance and, when they differ (plug-in
    /// residuals with clusters: the order-q fit's), for the robust one.
    res: Vec<Vec<f64>>,
    res_b: Option<Vec<Vec<f64>>>,
    /// With covariates: the partialled cross products at the main bandwidth (see `partialled`)
    /// and their scale (`covariate_scale`).
    z_parts: Option<(Array2<f64>, f64)>,
    /// The outcome's local polynomial coefficients at the main bandwidth (u = x - c).
    coef: Array1<f64>,
}

fn fit_side(side: &Side, c: f64, h: f64, b: f64, s: &RddSettings, name: &str) -> Result<SideFit, RddError> {
    let k = s.kernel;
    let (p, q) = (s.p, s.p + 1);
    let (kp, kq) = (p + 1, q + 1);
    let too_few = |m: &str| RddError::TooFew { side: name.into(), message: format!("{m}: too few distinct points") };
    let rh = side.window(c, h, k);
    let rb = side.window(c, b, k);
    let range = if h > b { rh.clone() } else { rb.clone() };
    let ex = &side.x[range.clone()];
    let ds = side.cols(&range);
    let ds = refs(&ds);
    // The kernel weights are computed where they are used (a block of them for the moments):
    // nothing of the window's size but the residuals and, with covariates, the weights at h.
    let weights = |ex: &[f64], h: f64| -> Vec<f64> { ex.iter().map(|&x| k.weight((x - c) / h, h)).collect() };
    let clustered = side.cl.is_some();
    let (mut mp, mut mq) = (Moments::new(p, ds.len()), Moments::new(q, if clustered { ds.len() } else { 0 }));
    for start in (0..ex.len()).step_by(MOMENT_BLOCK) {
        let r = start..(start + MOMENT_BLOCK).min(ex.len());
        let xb = &ex[r.clone()];
        let db: Vec<&[f64]> = ds.iter().map(|d| &d[r.clone()]).collect();
        mp.add(xb, &weights(xb, h), &db, c);
        mq.add(xb, &weights(xb, b), if clustered { &db[..] } else { &[] }, c);
    }
    let ((gp, rwd), (gq, rwd_q)) = (mp.finish(), mq.finish());
    let inv_p = linalg::inv_spd(gp.view()).map_err(|_| too_few("main bandwidth"))?;
    let inv_q = linalg::inv_spd(gq.view()).map_err(|_| too_few("bias bandwidth"))?;
    let inv_q_row = inv_q.row(kp).to_owned();
    let mut l = Array1::zeros(kp);
    let mut pw = vec![0.0; kq];
    for &xi in ex {
        let u = xi - c;
        powers(u, &mut pw);
        let tail = (u / h).powi(kp as i32);
        let wh = k.weight((xi - c) / h, h);
        for a in 0..kp {
            l[a] += wh * pw[a] * tail;
        }
    }
    let hp = h.powi(kp as i32);
    let mut qd = vec![Array1::<f64>::zeros(kp); ds.len()];
    for i in 0..ex.len() {
        powers(ex[i] - c, &mut pw);
        let (wh, wb) = (k.weight((ex[i] - c) / h, h), k.weight((ex[i] - c) / b, b));
        let m = ArrayView1::from(&pw[..]).dot(&inv_q_row) * wb;
        for a in 0..kp {
            let qa = wh * pw[a] - hp * m * l[a];
            for (d, acc) in ds.iter().zip(qd.iter_mut()) {
                acc[a] += qa * d[i];
            }
        }
    }
    let tau_cl: Vec<f64> = rwd.iter().map(|v| inv_p.row(0).dot(v)).collect();
    let tau_bc: Vec<f64> = qd.iter().map(|v| inv_p.row(0).dot(v)).collect();
    // Nearest neighbours among the effective sample (ties counted within it, as rdrobust does),
    // or the plug-in residuals of the order-p fit (conventional) and the order-q fit (robust).
    let beta_p: Vec<Array1<f64>> = rwd.iter().map(|v| inv_p.dot(v)).collect();
    let res = fit_residuals(side, ex, &ds, (1.0, 1.0), c, &beta_p, || dup_counts(ex), s.nnmatch);
    let res_b = clustered.then(|| {
        let beta_q: Vec<Array1<f64>> = rwd_q.iter().map(|v| inv_q.dot(v)).collect();
        plugin_residuals(ex, &ds, (1.0, 1.0), c, &beta_q)
    });
    let first_z = side.first_z();
    let z_parts = (!side.z.is_empty()).then(|| {
        let wh = weights(ex, h);
        (partialled(&ds, &wh, &rwd, &inv_p, first_z), covariate_scale(&ds, &wh, first_z))
    });
    let coef = beta_p[0].clone();
    Ok(SideFit { n_h: rh.len(), range, h, b, tau_cl, tau_bc, inv_p, inv_q_row, l, res, res_b, z_parts, coef })
}

/// Conventional and robust variances of the intercept for combination weights `sw`.
fn side_variances(side: &Side, f: &SideFit, c: f64, s: &RddSettings, sw: &[f64]) -> (f64, f64) {
    let k = s.kernel;
    let kp = s.p + 1;
    let kq = kp + 1;
    let ex = &side.x[f.range.clone()];
    let hp = f.h.powi(kp as i32);
    let cl = side.clusters(&f.range);
    let (mut m_cl, mut m_rb) = (Meat::new(kp, cl, side.levels), Meat::new(kp, cl, side.levels));
    let res_b = f.res_b.as_ref().unwrap_or(&f.res);
    let mut pw = vec![0.0; kq];
    let mut qrow = vec![0.0; kp];
    for i in 0..ex.len() {
        let comb: f64 = sw.iter().zip(&f.res).map(|(s, r)| s * r[i]).sum();
        let comb_b: f64 = sw.iter().zip(res_b).map(|(s, r)| s * r[i]).sum();
        let wh = k.weight((ex[i] - c) / f.h, f.h);
        let wb = k.weight((ex[i] - c) / f.b, f.b);
        powers(ex[i] - c, &mut pw);
        let m = ArrayView1::from(&pw[..]).dot(&f.inv_q_row) * wb;
        for a in 0..kp {
            qrow[a] = wh * pw[a] - hp * m * f.l[a];
        }
        m_cl.add(i, comb * wh, &pw[..kp]);
        m_rb.add(i, comb_b, &qrow);
    }
    // CR1's k: the order-p fit's coefficients, and the order-q fit's for the robust variance
    // (rdrobust's k_override = q + 1).
    (quad(&f.inv_p, &m_cl.finish(kp), 0), quad(&f.inv_p, &m_rb.finish(kq), 0))
}

/// Covariates and clusters for [`fit_adjusted`].
#[derive(Debug, Clone, Default)]
pub struct RddAdjust<'a> {
    /// Covariates entered in every local fit with one coefficient vector for both sides
    /// (rdrobust's `covs`), with their names.
    pub covariates: Vec<(String, ArrayView1<'a, f64>)>,
    /// Cluster codes (0..levels) and the number of levels: cluster-robust (CR1) variances
    /// (rdrobust's `cluster`).
    pub cluster: Option<(&'a [u32], usize)>,
}

/// A covariate's coefficient in the adjusted local fits (rdrobust's `coef_covs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CovariateCoefficient {
    pub name: String,
    /// In the outcome's fit.
    pub coefficient: f64,
    /// Fuzzy designs: in the treatment take-up's fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treatment_coefficient: Option<f64>,
}

/// A column's values as one slice (a copy only for a view with gaps between its values).
fn slice_of(a: ArrayView1<'_, f64>) -> Cow<'_, [f64]> {
    match a.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.to_vec()),
    }
}

/// `a`'s values at the rows of `order`, in that order (a new column).
fn gather(a: ArrayView1<f64>, order: &[u32]) -> Vec<f64> {
    let a = slice_of(a);
    order.iter().map(|&i| a[i as usize]).collect()
}

/// A column's values as a vector: an owned one's own (no copy), a view's copied.
fn into_vec(a: CowArray<'_, f64, Ix1>) -> Vec<f64> {
    if a.is_view() || !a.is_standard_layout() {
        return a.to_vec();
    }
    let n = a.len();
    let (mut v, offset) = a.into_owned().into_raw_vec_and_offset();
    v.drain(..offset.unwrap_or(0).min(v.len()));
    v.truncate(n);
    v
}

/// Distinct cluster codes among `codes`.
fn distinct_codes(codes: &[u32], levels: usize) -> usize {
    let mut seen = vec![false; levels];
    codes.iter().filter(|&&c| !std::mem::replace(&mut seen[c as usize], true)).count()
}

/// Sharp (no `treatment`) or fuzzy RDD. The outcome and the running variable may be views or
/// owned arrays; owned ones are freed as soon as their sorted copies exist (the fit then holds
/// about one copy of the data, not two).
pub fn fit<'a>(
    outcome: impl Into<CowArray<'a, f64, Ix1>>,
    running: impl Into<CowArray<'a, f64, Ix1>>,
    treatment: Option<ArrayView1<f64>>,
    s: &RddSettings,
) -> Result<RddResult, RddError> {
    fit_adjusted(outcome, running, treatment, &RddAdjust::default(), s)
}

/// Sharp or fuzzy RDD with covariate adjustment and cluster-robust variances (either may be
/// empty: then this is [`fit`]).
pub fn fit_adjusted<'a>(
    outcome: impl Into<CowArray<'a, f64, Ix1>>,
    running: impl Into<CowArray<'a, f64, Ix1>>,
    treatment: Option<ArrayView1<f64>>,
    adjust: &RddAdjust,
    s: &RddSettings,
) -> Result<RddResult, RddError> {
    let (outcome, running) = (outcome.into(), running.into());
    if s.p > 8 {
        return Err(invalid("p", "polynomial order must be at most 8"));
    }
    if !(s.alpha > 0.0 && s.alpha < 1.0) {
        return Err(invalid("alpha", "must be between 0 and 1"));
    }
    if outcome.len() != running.len() || treatment.is_some_and(|t| t.len() != running.len()) {
        return Err(invalid("running", "the outcome, running and treatment columns differ in length"));
    }
    for (name, z) in &adjust.covariates {
        if z.len() != running.len() {
            return Err(invalid(name, "the covariate and the running variable differ in length"));
        }
    }
    if let Some((cl, levels)) = adjust.cluster {
        if cl.len() != running.len() || cl.iter().any(|&c| c as usize >= levels) {
            return Err(invalid("cluster", "the cluster codes do not match the rows"));
        }
    }
    if u32::try_from(running.len()).is_err() {
        return Err(invalid(
            "running",
            format!("{} rows; at most {} (rows are numbered in 32 bits)", running.len(), u32::MAX),
        ));
    }
    // Drop incomplete rows (as rdrobust does), then sort the rest by the running variable, ties
    // in row order. Owned columns with every row complete are sorted where they are (the fit
    // then holds one copy of the data, not two); the density test keeps the running variable
    // when rows were dropped for a missing outcome.
    let mut rows: Vec<u32> = (0..running.len())
        .filter(|&i| {
            running[i].is_finite()
                && outcome[i].is_finite()
                && treatment.is_none_or(|t| t[i].is_finite())
                && adjust.covariates.iter().all(|(_, z)| z[i].is_finite())
        })
        .map(|i| i as u32)
        .collect();
    let n = rows.len();
    if n == 0 {
        return Err(invalid("running", "no complete rows"));
    }
    let dropped = running.len() - n;
    let (mut x, mut y, running) = if dropped == 0 {
        (into_vec(running), into_vec(outcome), None)
    } else {
        let (x, y) = (gather(running.view(), &rows), gather(outcome.view(), &rows));
        drop(outcome);
        (x, y, Some(running))
    };
    sort::co_sort(&mut x, &mut y, &mut rows);
    let t: Option<Vec<f64>> = treatment.map(|t| gather(t, &rows));
    let zs: Vec<Vec<f64>> = adjust.covariates.iter().map(|(_, z)| gather(z.view(), &rows)).collect();
    let levels = adjust.cluster.map_or(0, |c| c.1);
    let cls: Option<Vec<u32>> = adjust.cluster.map(|(cl, _)| rows.iter().map(|&i| cl[i as usize]).collect());
    drop(rows);
    let c = s.cutoff;
    let (min, max) = (x[0], x[n - 1]);
    if c <= min || c >= max {
        return Err(RddError::CutoffOutside { cutoff: c, min, max });
    }
    let q = s.p + 1;
    let nl = x.partition_point(|&v| v < c);
    let side = |rows: std::ops::Range<usize>, left: bool| Side {
        x: &x[rows.clone()],
        y: &y[rows.clone()],
        t: t.as_ref().map(|t| &t[rows.clone()]),
        z: zs.iter().map(|z| &z[rows.clone()]).collect(),
        cl: cls.as_ref().map(|c| &c[rows.clone()]),
        levels,
        left,
        scale: None,
    };
    let left = side(0..nl, true);
    let right = side(nl..n, false);
    for (name, side) in [("left", &left), ("right", &right)] {
        if let Some(cl) = side.cl {
            let g = distinct_codes(cl, levels);
            if g < 2 {
                return Err(invalid(
                    "cluster",
                    format!(
                        "{g} cluster(s) {name} of the cutoff: cluster-robust variances need at least 2 on each side"
                    ),
                ));
            }
        }
    }
    for (name, side) in [("left", &left), ("right", &right)] {
        let distinct = 1 + side.x.windows(2).filter(|w| w[1] != w[0]).count();
        if side.x.is_empty() || distinct < q + 1 {
            return Err(RddError::TooFew {
                side: name.into(),
                message: format!(
                    "{distinct} distinct running-variable values; at least {} needed for order {q}",
                    q + 1
                ),
            });
        }
    }
    if let (Some(tl), Some(tr)) = (left.t, right.t) {
        if sd(tl).abs() < 1e-300 && sd(tr).abs() < 1e-300 && (tl[0] - tr[0]).abs() < 1e-12 {
            return Err(invalid(
                "fuzzy",
                "the treatment does not change at the cutoff: the fuzzy design is not identified",
            ));
        }
    }
    let (h_l, h_r, b_l, b_r, selector) = match s.bandwidth {
        Some(h) if h.is_finite() && h > 0.0 => (h, h, h, h, "manual".to_string()),
        Some(_) => return Err(invalid("bandwidth", "must be a positive number")),
        None => {
            let [hl, hr, bl, br] = select_bandwidths(&left, &right, s).map_err(RddError::Bandwidth)?;
            let name = match s.bwselect {
                BwSelect::Mserd => "mserd",
                BwSelect::Msetwo => "msetwo",
                BwSelect::Msesum => "msesum",
            };
            (hl, hr, bl, br, name.to_string())
        }
    };
    // The two sides' fits and the density test are independent: use both cores.
    let ((fl, fr), density) = both(
        || both(|| fit_side(&left, c, h_l, b_l, s, "left"), || fit_side(&right, c, h_r, b_r, s, "right")),
        // Reuse the sorted running variable when no row was dropped for a missing outcome.
        || match &running {
            None => density::test_sorted(&x, c),
            Some(running) => density::test(running.view(), c),
        },
    );
    let (fl, fr) = (fl?, fr?);
    // Covariates: one γ for both sides, from their partialled cross products at the main
    // bandwidth; every jump below is net of the covariates.
    let first_z = left.first_z();
    let (gamma, collinear) = match (&fl.z_parts, &fr.z_parts) {
        (Some((pl, sl)), Some((pr, sr))) => {
            let (g, pinv) = covariate_gamma(&(pl + pr), sl.max(*sr), first_z);
            (Some(g), pinv)
        }
        _ => (None, false),
    };
    let g = gamma.as_ref();
    let net = |v: &[f64], j: usize| net_of_covariates(v, g, j, first_z);
    let jump = |r: &[f64], l: &[f64]| -> Vec<f64> { r.iter().zip(l).map(|(a, b)| a - b).collect() };
    let (d_cl, d_bc) = (jump(&fr.tau_cl, &fl.tau_cl), jump(&fr.tau_bc, &fl.tau_bc));
    let (tau_cl, tau_bc, sw, first_stage) = match treatment {
        None => (net(&d_cl, 0), net(&d_bc, 0), column_weights(g, None), None),
        Some(_) => {
            let (ty, tt) = (net(&d_cl, 0), net(&d_cl, 1));
            let (tyb, ttb) = (net(&d_bc, 0), net(&d_bc, 1));
            let tau = ty / tt;
            let sy = [1.0 / tt, -(ty / (tt * tt))];
            let bc = tau - (sy[0] * (ty - tyb) + sy[1] * (tt - ttb));
            (tau, bc, column_weights(g, Some((ty, tt))), Some(tt))
        }
    };
    let (vl_cl, vl_rb) = side_variances(&left, &fl, c, s, &sw);
    let (vr_cl, vr_rb) = side_variances(&right, &fr, c, s, &sw);
    let se_cl = (vl_cl + vr_cl).sqrt();
    let se_rb = (vl_rb + vr_rb).sqrt();
    let z = dist::normal_critical(s.alpha);
    // The manipulation test uses every observed value of the running variable.
    let mut warnings = Vec::new();
    let density = match density {
        Ok(d) => Some(d),
        Err(e) => {
            warnings.push(format!("density test not computed: {e}"));
            None
        }
    };
    if dropped > 0 {
        warnings.push(format!("{dropped} row(s) with a missing value dropped"));
    }
    // Mass points (rdrobust's check): a side where 20% or more of the values repeat.
    let repeated =
        |side: &Side| 1.0 - (1 + side.x.windows(2).filter(|w| w[1] != w[0]).count()) as f64 / side.x.len() as f64;
    let (ml, mr) = (repeated(&left), repeated(&right));
    let mass_points = ml >= 0.2 || mr >= 0.2;
    if mass_points {
        warnings.push(format!(
            "mass points in the running variable ({:.0}% of values repeat left of the cutoff, {:.0}% right): local polynomials extrapolate between the few distinct values; with a discrete running variable consider a local-randomisation analysis",
            100.0 * ml,
            100.0 * mr
        ));
    }
    // Fuzzy designs: the test of τ = τ0 that stays valid however weak the first stage (Feir,
    // Lemieux and Marmer 2016, the Anderson-Rubin idea): no jump in y − τ0·t, with the robust
    // bias-corrected jump and variance. Its weights over the columns (y, t, covariates) are
    // s_a + τ0·s_b, s_a = [1, 0, −γ_y], s_b = [0, −1, γ_t], so its variance is a quadratic in τ0
    // and the set {τ0 : jump(τ0)² ≤ z²·V(τ0)} solves a quadratic inequality.
    let anderson_rubin = first_stage.and_then(|_| {
        let (tyb, ttb) = (net(&d_bc, 0), net(&d_bc, 1));
        let mut s_a = vec![1.0, 0.0];
        let mut s_b = vec![0.0, -1.0];
        if let Some(g) = g {
            s_a.extend((0..g.nrows()).map(|a| -g[[a, 0]]));
            s_b.extend((0..g.nrows()).map(|a| g[[a, 1]]));
        }
        let s_ab: Vec<f64> = s_a.iter().zip(&s_b).map(|(a, b)| a + b).collect();
        let robust = |sw: &[f64]| side_variances(&left, &fl, c, s, sw).1 + side_variances(&right, &fr, c, s, sw).1;
        let (va, vb, vab) = (robust(&s_a), robust(&s_b), robust(&s_ab));
        // no variation in the outcome's jump: no test (rather than a p-value of NaN)
        if !(va > 0.0 && va.is_finite() && vb.is_finite() && vab.is_finite()) {
            return None;
        }
        let cross = 0.5 * (vab - va - vb);
        let z2 = dist::normal_critical(s.alpha).powi(2);
        let (lo, hi, set) = crate::iv::weak::solve_quadric(
            ttb * ttb - z2 * vb,
            -2.0 * tyb * ttb - 2.0 * z2 * cross,
            tyb * tyb - z2 * va,
        );
        let stat = tyb * tyb / va;
        Some(crate::iv::weak::ArResult {
            ar_p_value: dist::normal_p_value(tyb / va.sqrt()),
            ar_statistic: stat,
            ar_ci_low: lo,
            ar_ci_high: hi,
            ar_confidence_set: set,
        })
    });
    // Fuzzy designs: the first stage's strength (the jump in take-up over its conventional
    // standard error, squared: an F with one restriction).
    let (first_stage_std_error, first_stage_f) = match first_stage {
        Some(tt) => {
            // The take-up's jump net of the covariates: [0, 1, -γ_t] (rdrobust's sV_T).
            let mut sv_t = vec![0.0, 1.0];
            if let Some(g) = g {
                sv_t.extend((0..g.nrows()).map(|a| -g[[a, 1]]));
            }
            let (vl, _) = side_variances(&left, &fl, c, s, &sv_t);
            let (vr, _) = side_variances(&right, &fr, c, s, &sv_t);
            let se = (vl + vr).sqrt();
            let f = (tt / se).powi(2);
            if f < 10.0 {
                warnings.push(format!(
                    "weak first stage: the jump in take-up is {tt:.3} (F = {f:.1} < 10), so the fuzzy estimate and its interval are unreliable; the Anderson-Rubin test and set (ar_*) stay valid"
                ));
            }
            (Some(se), Some(f))
        }
        None => (None, None),
    };
    if let Some(ar) = anderson_rubin.as_ref().filter(|a| a.ar_confidence_set != crate::iv::weak::ArSet::Bounded) {
        warnings.push(format!(
            "the Anderson-Rubin confidence set is {}: the first stage is too weak to bound the effect; the robust interval understates the uncertainty",
            ar.ar_confidence_set
        ));
    }
    let clusters = cls.as_ref().map(|_| {
        let (lc, rc) = (left.clusters(&fl.range).unwrap_or(&[]), right.clusters(&fr.range).unwrap_or(&[]));
        let (gl, gr) = (
            distinct_codes(&lc[lc.len() - fl.n_h.min(lc.len())..], levels),
            distinct_codes(&rc[..fr.n_h.min(rc.len())], levels),
        );
        if gl.min(gr) <= s.p + 1 {
            warnings.push(format!(
                "only {gl} (left) and {gr} (right) clusters within the bandwidth: with p + 1 = {} or fewer on a side, cluster-robust inference may be unreliable and its variance degenerate",
                s.p + 1
            ));
        } else if gl.min(gr) < 30 {
            warnings.push(format!(
                "only {gl} (left) and {gr} (right) clusters within the bandwidth: cluster-robust intervals under-cover with few clusters (rdrobust warns under 10; in this project's simulation about 30 a side covered 90% for a nominal 95%)"
            ));
        }
        let mut both_sides = lc.to_vec();
        both_sides.extend_from_slice(rc);
        distinct_codes(&both_sides, levels)
    });
    if collinear {
        warnings.push("the covariates are collinear within the bandwidth: their coefficients are a minimum-norm solution (the effect and its standard errors do not depend on the choice)".into());
    }
    let covariates = adjust
        .covariates
        .iter()
        .enumerate()
        .map(|(a, (name, _))| CovariateCoefficient {
            name: name.clone(),
            coefficient: g.map_or(f64::NAN, |g| g[[a, 0]]),
            treatment_coefficient: g.filter(|g| g.ncols() > 1).map(|g| g[[a, 1]]),
        })
        .collect();
    let inference = format!(
        "local polynomial{}; {}; robust bias-corrected standard error, interval and p-value (CCT 2014, rdrobust's headline; the conventional ones under conventional_*)",
        if zs.is_empty() { String::new() } else { format!(", adjusted for {} covariate(s)", zs.len()) },
        match clusters {
            Some(g) => format!("cluster-robust (CR1) variance over {g} clusters"),
            None => "nearest-neighbour (3) heteroskedasticity-robust variance".to_string(),
        }
    );
    let bins = rdplot_bins(&x, &y, c);
    Ok(RddResult {
        method: "rdd".into(),
        estimator: if treatment.is_some() { "fuzzy".into() } else { "sharp".into() },
        inference: Inference {
            estimate: tau_cl,
            std_error: Some(se_rb),
            ci_low: Some(tau_bc - z * se_rb),
            ci_high: Some(tau_bc + z * se_rb),
            p_value: Some(dist::normal_p_value(tau_bc / se_rb)),
            n_obs: n,
            inference,
        },
        conventional_std_error: se_cl,
        conventional_ci_low: tau_cl - z * se_cl,
        conventional_ci_high: tau_cl + z * se_cl,
        conventional_p_value: dist::normal_p_value(tau_cl / se_cl),
        estimate_bias_corrected: tau_bc,
        robust_std_error: se_rb,
        robust_ci_low: tau_bc - z * se_rb,
        robust_ci_high: tau_bc + z * se_rb,
        robust_p_value: dist::normal_p_value(tau_bc / se_rb),
        bandwidth: h_l.max(h_r),
        bias_bandwidth: b_l.max(b_r),
        bandwidth_left: h_l,
        bandwidth_right: h_r,
        bias_bandwidth_left: b_l,
        bias_bandwidth_right: b_r,
        bandwidth_selector: selector,
        kernel: s.kernel,
        p: s.p,
        q,
        cutoff: c,
        n_left: left.x.len(),
        n_right: right.x.len(),
        n_effective_left: fl.n_h,
        n_effective_right: fr.n_h,
        fit_left: net(&fl.tau_cl, 0),
        fit_right: net(&fr.tau_cl, 0),
        covariates,
        clusters,
        first_stage,
        first_stage_std_error,
        first_stage_f,
        anderson_rubin,
        mass_points,
        density_test_p_value: density.as_ref().map(|d| d.p_value),
        density_test: density,
        warnings,
        plot: Some(RddPlot::new(&x, &y, c, &fl, &fr, bins.as_ref())),
        bins,
    })
}

impl RddResult {
    /// A fuzzy design whose first stage is weak: F under 10, or an Anderson-Rubin set that is not
    /// an interval. The robust interval and p-value are then too optimistic; the Anderson-Rubin
    /// test and set (`anderson_rubin`) stay valid however weak the first stage.
    pub fn weak_first_stage(&self) -> bool {
        self.first_stage_f.is_some_and(|f| f < 10.0)
            || self.anderson_rubin.as_ref().is_some_and(|a| a.ar_confidence_set != crate::iv::weak::ArSet::Bounded)
    }
}

pub mod density;
mod sort;

/// What a plot of the design shows, computed with the fit (not part of the JSON result): binned
/// means of the outcome on each side (20 equal-width bins a side over the data's range) and the
/// fitted local polynomials on a grid over each side's bandwidth.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RddPlot {
    pub cutoff: f64,
    /// (bin centre, mean outcome)
    pub bins: Vec<(f64, f64)>,
    /// (x, fitted outcome) left and right of the cutoff
    pub fit_left: Vec<(f64, f64)>,
    pub fit_right: Vec<(f64, f64)>,
}

/// rdplot's IMSE-optimal evenly spaced bins (Calonico, Cattaneo and Titiunik 2015; rdrobust's
/// `rdplot(binselect = "es")`): per side J = ⌈(2B/V · n)^{1/3}⌉ with B from the derivative of a
/// global quartic fit and V from the spacings of the sorted data; each bin's mean running value,
/// mean outcome and count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RddBins {
    pub method: String,
    pub bins_left: usize,
    pub bins_right: usize,
    pub points: Vec<RddBin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RddBin {
    pub x: f64,
    pub y: f64,
    pub n: usize,
}

/// At most this many bins a side (rdplot has no cap; a plot does).
const MAX_BINS_SIDE: usize = 500;

/// J for one side (sorted x, matching y): `None` when the side is too small or flat.
fn imse_bins_side(x: &[f64], y: &[f64], c: f64, n_total: usize, left: bool) -> Option<usize> {
    let m = x.len();
    if m < 6 {
        return None;
    }
    let range = if left { c - x[0] } else { x[m - 1] - c };
    if range.is_nan() || range <= 0.0 {
        return None;
    }
    // Global polynomial of order 4 (3, 2 if singular) in u = (x − c) / range.
    let mut coef: Option<(usize, Array1<f64>)> = None;
    for k in (2..=4usize).rev() {
        if let Ok(fit) = polynomial_fit(x, y, c, range, k) {
            coef = Some((k, fit));
            break;
        }
    }
    let (k, coef) = coef?;
    // The fit's derivative at each x, squared and summed as it is computed.
    let mu1 = |xi: f64| {
        let u = (xi - c) / range;
        (1..=k).map(|j| j as f64 * coef[j] * u.powi(j as i32 - 1)).sum::<f64>() / range
    };
    let n = n_total as f64;
    let b = range * range / (12.0 * n) * x.iter().map(|&xi| mu1(xi).powi(2)).sum::<f64>();
    let v = 0.5 / range
        * x.windows(2).zip(y.windows(2)).map(|(dx, dy)| (dx[1] - dx[0]) * (dy[1] - dy[0]).powi(2)).sum::<f64>();
    if !(v > 0.0 && b.is_finite()) {
        return None;
    }
    let j = ((2.0 * b / v) * n).cbrt().ceil();
    Some((j.max(1.0) as usize).min(MAX_BINS_SIDE))
}

/// Least squares of y on the powers 0..=k of u = (x − c) / range (normal equations, as
/// `ols::solve`), the cross products summed over blocks of rows: the design is never built for the
/// whole side (one block when the side is smaller than a block, as one product).
fn polynomial_fit(x: &[f64], y: &[f64], c: f64, range: f64, k: usize) -> Result<Array1<f64>, linalg::Singular> {
    const BLOCK: usize = 1 << 16;
    let mut xtx = Array2::zeros((k + 1, k + 1));
    let mut xty = Array1::zeros(k + 1);
    for start in (0..x.len()).step_by(BLOCK) {
        let end = (start + BLOCK).min(x.len());
        let design = Array2::from_shape_fn((end - start, k + 1), |(i, j)| ((x[start + i] - c) / range).powi(j as i32));
        xtx += &linalg::crossprod(design.view());
        xty += &linalg::xty(design.view(), ArrayView1::from(&y[start..end]));
    }
    Ok(linalg::cholesky(xtx.view())?.solve(xty.view()))
}

/// numpy's `linspace(start, stop, num)`: `start + i·step`, the last point exactly `stop`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    v[num - 1] = stop;
    v
}

/// The bins of sorted data (x ascending), as rdplot assigns them (findInterval, the last bin
/// closed on the right).
fn rdplot_bins(x: &[f64], y: &[f64], c: f64) -> Option<RddBins> {
    let nl = x.partition_point(|&v| v < c);
    let (xl, yl, xr, yr) = (&x[..nl], &y[..nl], &x[nl..], &y[nl..]);
    let jl = imse_bins_side(xl, yl, c, x.len(), true)?;
    let jr = imse_bins_side(xr, yr, c, x.len(), false)?;
    let mut points = Vec::new();
    for (xs, ys, jumps) in [(xl, yl, linspace(xl[0], c, jl + 1)), (xr, yr, linspace(c, xr[xr.len() - 1], jr + 1))] {
        let j = jumps.len() - 1;
        let (mut sx, mut sy, mut cnt) = (vec![0.0; j], vec![0.0; j], vec![0usize; j]);
        for (&xi, &yi) in xs.iter().zip(ys) {
            let b = jumps.partition_point(|&e| e <= xi).clamp(1, j) - 1;
            sx[b] += xi;
            sy[b] += yi;
            cnt[b] += 1;
        }
        for b in 0..j {
            if cnt[b] > 0 {
                points.push(RddBin { x: sx[b] / cnt[b] as f64, y: sy[b] / cnt[b] as f64, n: cnt[b] });
            }
        }
    }
    Some(RddBins {
        method: "IMSE-optimal evenly spaced (rdplot binselect es: spacings variance, quartic bias)".into(),
        bins_left: jl,
        bins_right: jr,
        points,
    })
}

impl RddPlot {
    fn new(x: &[f64], y: &[f64], c: f64, left: &SideFit, right: &SideFit, bins: Option<&RddBins>) -> Self {
        let (lo, hi) = (x.first().copied().unwrap_or(c), x.last().copied().unwrap_or(c));
        let mut bins: Vec<(f64, f64)> = bins.map(|b| b.points.iter().map(|p| (p.x, p.y)).collect()).unwrap_or_default();
        if bins.is_empty() {
            for (from, to, left_side) in [(lo, c, true), (c, hi, false)] {
                let nb = 20;
                let width = (to - from) / nb as f64;
                if width <= 0.0 {
                    continue;
                }
                let (mut sum, mut count) = (vec![0.0; nb], vec![0usize; nb]);
                for (&xi, &yi) in x.iter().zip(y) {
                    if (xi < c) != left_side || !yi.is_finite() {
                        continue;
                    }
                    let b = (((xi - from) / width).floor().max(0.0) as usize).min(nb - 1);
                    sum[b] += yi;
                    count[b] += 1;
                }
                for b in 0..nb {
                    if count[b] > 0 {
                        bins.push((from + width * (b as f64 + 0.5), sum[b] / count[b] as f64));
                    }
                }
            }
        }
        let curve = |f: &SideFit, from: f64, to: f64| -> Vec<(f64, f64)> {
            (0..=40)
                .map(|i| {
                    let u = from + (to - from) * i as f64 / 40.0;
                    (c + u, f.coef.iter().enumerate().map(|(j, b)| b * u.powi(j as i32)).sum())
                })
                .collect()
        };
        Self {
            cutoff: c,
            bins,
            fit_left: curve(left, -left.h.min(c - lo), 0.0),
            fit_right: curve(right, 0.0, right.h.min(hi - c)),
        }
    }
}

crate::impl_estimate!(RddResult);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Sorted values with long runs of ties (a running variable rounded to 0.1).
    fn tied(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        let mut x: Vec<f64> = (0..n).map(|_| (rng.uniform() * 20.0).floor() / 10.0 - 1.0).collect();
        x.sort_by(f64::total_cmp);
        x
    }

    #[test]
    fn tie_groups_are_counted_over_the_whole_side_for_any_window() {
        let x = tied(500, 3);
        let side = Side { x: &x, y: &x, t: None, z: vec![], cl: None, levels: 0, left: false, scale: None };
        // By the definition: the group of i is every j with x[j] == x[i], wherever it lies.
        let naive = |i: usize| {
            let first = (0..x.len()).find(|&j| x[j] == x[i]).unwrap_or(i);
            let last = (0..x.len()).rev().find(|&j| x[j] == x[i]).unwrap_or(i);
            ((last - first + 1) as u32, (i - first + 1) as u32)
        };
        let mut rng = Rng::new(11);
        let mut windows = vec![0..x.len(), 0..0, 7..8, 499..500];
        for _ in 0..200 {
            let a = (rng.uniform() * 500.0) as usize;
            let b = (rng.uniform() * 500.0) as usize;
            windows.push(a.min(b)..a.max(b));
        }
        for r in windows {
            let (dups, ids) = side.dups(&r);
            let want: (Vec<u32>, Vec<u32>) = r.clone().map(naive).unzip();
            assert_eq!((dups, ids), want, "window {r:?}");
        }
        // Within a window alone (the local fits' convention): the window is the whole slice.
        let (dups, _) = dup_counts(&x[10..40]);
        assert_eq!(dups.len(), 30);
        assert!(dups.iter().all(|&d| d as usize <= 30));
    }

    #[test]
    fn scaled_sides_read_what_scaled_copies_held() {
        let x = tied(300, 5);
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 0.3).collect();
        let (sx, sy) = (0.37, 1.9);
        let side = Side { x: &x, y: &y, t: None, z: vec![], cl: None, levels: 0, left: true, scale: Some((sx, sy)) };
        let r = 40..260;
        let xs: Vec<f64> = x[r.clone()].iter().map(|v| v / sx).collect();
        let ys: Vec<f64> = y[r.clone()].iter().map(|v| v / sy).collect();
        assert_eq!(side.xs(&r).as_ref(), &xs[..]);
        assert_eq!(side.cols(&r)[0].as_ref(), &ys[..]);
        // The window is found on the scaled values, as on a scaled copy.
        let copy: Vec<f64> = x.iter().map(|v| v / sx).collect();
        let k = Kernel::Triangular;
        let w = side.window(0.0, 1.2, k);
        assert_eq!(w.start, copy.partition_point(|&v| k.weight(v / 1.2, 1.2) <= 0.0));
        assert_eq!(w.end, x.len());
        // Moments over blocks are the moments over the window, bit for bit.
        let wts: Vec<f64> = xs.iter().map(|&v| k.weight(v / 3.0, 3.0)).collect();
        let whole = moments(&xs, &wts, &[&ys], 0.0, 2);
        let mut m = Moments::new(2, 1);
        for s in (0..xs.len()).step_by(17) {
            let e = (s + 17).min(xs.len());
            m.add(&xs[s..e], &wts[s..e], &[&ys[s..e]], 0.0);
        }
        assert_eq!(m.finish(), whole);
    }

    #[test]
    fn owned_and_viewed_columns_give_the_same_fit() {
        use ndarray::Axis;
        let mut rng = Rng::new(17);
        let n = 3000;
        let x: Vec<f64> = (0..n).map(|_| ((rng.uniform() * 2.0 - 1.0) * 40.0).round() / 40.0).collect();
        let mut y: Vec<f64> = x.iter().map(|&v| 0.5 * v + if v >= 0.0 { 0.3 } else { 0.0 } + rng.normal()).collect();
        let json = |r: &RddResult| serde_json::to_value(r).expect("a result serialises");
        for missing in [false, true] {
            if missing {
                // rows dropped for a missing outcome: the density test then reads every running value
                for v in y.iter_mut().step_by(41) {
                    *v = f64::NAN;
                }
            }
            let (xa, ya) = (Array1::from(x.clone()), Array1::from(y.clone()));
            let s = RddSettings::default();
            let viewed = fit(ya.view(), xa.view(), None, &s).expect("fit on views");
            let owned = fit(ya.clone(), xa.clone(), None, &s).expect("fit on owned columns");
            assert_eq!(json(&viewed), json(&owned));
            assert!(viewed.density_test.is_some());
            assert_eq!(viewed.warnings.iter().any(|w| w.contains("dropped")), missing);
            // Columns with gaps between their values (every other row of a longer array, as a
            // view and as an owned array) and an owned array that starts inside its buffer: the
            // same rows, the same fit.
            let spread = |v: &[f64]| Array1::from_iter(v.iter().flat_map(|&a| [a, -7.0]));
            let every_other = ndarray::Slice::new(0, None, 2);
            let (xs, ys) = (spread(&x), spread(&y));
            let (xv, yv) = (xs.slice_axis(Axis(0), every_other), ys.slice_axis(Axis(0), every_other));
            let strided = fit(yv, xv, None, &s).expect("fit on strided views");
            assert_eq!(json(&strided), json(&owned));
            let owned_every_other = |mut a: Array1<f64>| {
                a.slice_axis_inplace(Axis(0), every_other);
                a
            };
            let strided_owned = fit(owned_every_other(ys.clone()), owned_every_other(xs.clone()), None, &s)
                .expect("fit on strided owned columns");
            assert_eq!(json(&strided_owned), json(&owned));
            let shifted = |v: &[f64]| {
                let mut a = Array1::from_iter([99.0, 98.0].into_iter().chain(v.iter().copied()));
                a.slice_axis_inplace(Axis(0), ndarray::Slice::new(2, None, 1));
                a
            };
            let offset = fit(shifted(&y), shifted(&x), None, &s).expect("fit on owned columns with an offset");
            assert_eq!(json(&offset), json(&owned));
        }
    }

    #[test]
    fn residuals_read_scaled_are_the_residuals_of_scaled_copies() {
        let x = tied(400, 9);
        let mut rng = Rng::new(23);
        let y: Vec<f64> = x.iter().map(|v| 1.5 * v + rng.normal()).collect();
        let t: Vec<f64> = x.iter().map(|v| if *v > 0.1 { 1.0 } else { 0.0 }).collect();
        let (sx, sy) = (0.41, 2.3);
        let xs: Vec<f64> = x.iter().map(|v| v / sx).collect();
        let ys: Vec<f64> = y.iter().map(|v| v / sy).collect();
        let (dups, ids) = dup_counts(&x);
        let bits = |r: Vec<Vec<f64>>| {
            r.into_iter().map(|c| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>()
        };
        // y is scaled, the treatment column is read as it is
        let read = nn_residuals(&x, &[&y, &t], (sx, sy), &dups, &ids, 3);
        let copied = nn_residuals(&xs, &[&ys, &t], (1.0, 1.0), &dups, &ids, 3);
        assert_eq!(bits(read), bits(copied));
        let betas = [Array1::from(vec![0.2, 1.1, -0.3]), Array1::from(vec![0.5, 0.0, 0.1])];
        let read = plugin_residuals(&x, &[&y, &t], (sx, sy), 0.05, &betas);
        let copied = plugin_residuals(&xs, &[&ys, &t], (1.0, 1.0), 0.05, &betas);
        assert_eq!(bits(read), bits(copied));
    }
}
