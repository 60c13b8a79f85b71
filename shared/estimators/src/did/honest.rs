//! HonestDiD: sensitivity of an event study's conclusion to violations of parallel trends
//! (Rambachan and Roth 2023, "A More Credible Approach to Parallel Trends"), the
//! relative-magnitudes restriction Δ^RM(M̄): every post-period change in the trend violation is
//! at most M̄ times the largest pre-period change. A port of the honestdid PyPI package (0.1.1,
//! itself a port of the R package) with its defaults: the conditional least-favourable hybrid
//! test of Andrews, Roth and Pakes (ARP, κ = α/10), post-period moments only, a 1,000-point grid
//! over ±20 standard errors of the target, and the union over the period s whose pre-period
//! change is the largest and its sign.
//!
//! For each (s, sign) the restriction is A δ ≤ 0 (`create_a_rm`). With Y = A β̂ and
//! X = A_post Γ⁻¹ without its first column (Γ has l' as its first row), θ is accepted when the
//! moment inequalities E[Y − X_θ·θ − X τ] ≤ 0 are not rejected for some nuisance τ: the test
//! statistic is η̂ = min_τ max_j (y_j − x_j'τ)/σ_j, from the linear program's dual
//! max λ'y s.t. λ ≥ 0, σ'λ = 1, X'λ = 0 (solved here by a dense simplex), compared with the
//! least-favourable critical value (simulated, 1,000 draws) and then with the conditional
//! truncated-normal critical value. The least-favourable critical value is simulated with this
//! crate's generator, so ends can differ from honestdid's by Monte Carlo error as well as by a
//! grid step.

use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::linalg;
use crate::rng::Rng;

/// One M̄ and its robust confidence interval for the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RmBound {
    pub mbar: f64,
    /// The smallest and largest accepted grid points (absent when nothing is accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    /// The accepted set reaches an end of the grid: the interval is at least this wide.
    pub open: bool,
}

/// The sensitivity analysis of one target (an average of post-period effects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HonestResult {
    /// What the bounds are for: the post-period weights (the reported estimate's).
    pub target: String,
    pub relative_magnitudes: Vec<RmBound>,
    /// The smallest M̄ at which the robust interval includes zero (0 when the ordinary interval
    /// already does); absent when it excludes zero up to `breakdown_search_max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown_mbar: Option<f64>,
    pub breakdown_search_max: f64,
    /// Smoothness (Δ^SD(M)): the trend violation's slope may change by at most M (the outcome's
    /// units) from one period to the next; M = 0 allows only linear trends. One fixed-length
    /// interval per M.
    #[serde(default)]
    pub smoothness: Vec<super::honest_sd::SdBound>,
    /// The smallest M whose interval includes zero (0 when the linear-trend interval already
    /// does); absent when it excludes zero up to `breakdown_m_search_max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown_m: Option<f64>,
    #[serde(default)]
    pub breakdown_m_search_max: f64,
    pub method: String,
}

#[derive(Debug, Clone)]
pub struct HonestSettings {
    pub mbars: Vec<f64>,
    pub alpha: f64,
    pub grid_points: usize,
    pub lf_sims: usize,
    pub seed: u64,
}

impl Default for HonestSettings {
    fn default() -> Self {
        Self { mbars: vec![0.5, 1.0, 2.0], alpha: 0.05, grid_points: 1000, lf_sims: 1000, seed: 20261201 }
    }
}

/// At most this many post and pre periods: the moments, and the periods s over which the
/// union runs, grow with them (each (s, sign) pair simulates its own critical value).
pub const MAX_HONEST_POST: usize = 8;
pub const MAX_HONEST_PRE: usize = 8;

/// The event study's coefficients ordered by event time without the reference period: `pre`
/// leads then `post` lags, their covariance, and the target's weights over the lags.
pub fn relative_magnitudes(
    beta: &Array1<f64>,
    sigma: &Array2<f64>,
    pre: usize,
    post: usize,
    l: &Array1<f64>,
    s: &HonestSettings,
) -> Result<Vec<RmBound>, String> {
    check(beta, sigma, pre, post, l)?;
    Ok(s.mbars.iter().map(|&m| rm_ci(beta, sigma, pre, post, l, m, s)).collect())
}

pub(crate) fn check(
    beta: &Array1<f64>,
    sigma: &Array2<f64>,
    pre: usize,
    post: usize,
    l: &Array1<f64>,
) -> Result<(), String> {
    if pre < 1 || post < 1 {
        return Err("needs at least one pre-period and one post-period coefficient".into());
    }
    if post > MAX_HONEST_POST || pre > MAX_HONEST_PRE {
        return Err(format!(
            "at most {MAX_HONEST_PRE} leads and {MAX_HONEST_POST} lags (this event study has {pre} and {post}): bin or trim the event times"
        ));
    }
    if beta.len() != pre + post || sigma.dim() != (pre + post, pre + post) || l.len() != post {
        return Err("coefficients, covariance and weights do not conform".into());
    }
    Ok(())
}

/// The smallest M̄ (to 0.01, searched up to `max`) whose interval includes zero.
pub fn breakdown(
    beta: &Array1<f64>,
    sigma: &Array2<f64>,
    pre: usize,
    post: usize,
    l: &Array1<f64>,
    s: &HonestSettings,
    max: f64,
) -> Option<f64> {
    // Zero is in the robust confidence set exactly when θ = 0 is accepted: one test per M̄.
    let covers = |m: f64| accepted(beta, sigma, pre, post, l, m, s, &[0.0])[0];
    breakdown_by_bisection(max, covers, |_, lo, hi| hi - lo <= 0.01)
}

/// The smallest bound in [0, `max`] at which `covers` turns true (the interval including zero):
/// 0 when it already does at 0, `None` when it does not even at `max`; bisection until `done(max,
/// lo, hi)` (at most 60 steps). Both HonestDiD restrictions widen their interval with the bound.
pub(crate) fn breakdown_by_bisection(
    max: f64,
    covers: impl Fn(f64) -> bool,
    done: impl Fn(f64, f64, f64) -> bool,
) -> Option<f64> {
    if covers(0.0) {
        return Some(0.0);
    }
    if max.is_nan() || max <= 0.0 || !covers(max) {
        return None;
    }
    let (mut lo, mut hi) = (0.0, max);
    for _ in 0..60 {
        if done(max, lo, hi) {
            break;
        }
        let mid = 0.5 * (lo + hi);
        if covers(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The relative-magnitudes restriction for the period s (−(pre−1)..=0) and the sign of the
/// largest pre-period change: rows of A (over the pre + post coefficients) with A δ ≤ 0.
fn create_a_rm(pre: usize, post: usize, mbar: f64, s: i64, max_positive: bool) -> Array2<f64> {
    let t = pre + post;
    // First differences over t + 1 points (the reference period in column `pre`).
    let mut atilde = Array2::<f64>::zeros((t, t + 1));
    for r in 0..t {
        atilde[[r, r]] = -1.0;
        atilde[[r, r + 1]] = 1.0;
    }
    let mut v = Array1::<f64>::zeros(t + 1);
    let idx = (pre as i64 + s - 1) as usize;
    v[idx] = -1.0;
    v[idx + 1] = 1.0;
    if !max_positive {
        v.mapv_inplace(|x| -x);
    }
    let mut rows: Vec<Array1<f64>> = Vec::new();
    for sign in [1.0, -1.0] {
        for r in 0..t {
            let scale = if r < pre { 1.0 } else { mbar };
            let row: Array1<f64> = atilde.row(r).mapv(|x| sign * x) - &v.mapv(|x| scale * x);
            if row.iter().map(|x| x * x).sum::<f64>() > 1e-10 {
                rows.push(row);
            }
        }
    }
    // Drop the reference period's column.
    Array2::from_shape_fn((rows.len(), t), |(i, j)| rows[i][if j < pre { j } else { j + 1 }])
}

/// Γ: l' first, then the unit vectors but the one for l's last non-zero entry (RREF pivots of
/// [l | I]).
fn construct_gamma(l: &Array1<f64>) -> Array2<f64> {
    let n = l.len();
    let last = (0..n).rev().find(|&j| l[j].abs() > 1e-12).unwrap_or(0);
    let mut g = Array2::<f64>::zeros((n, n));
    g.row_mut(0).assign(l);
    let mut r = 1;
    for j in 0..n {
        if j != last {
            g[[r, j]] = 1.0;
            r += 1;
        }
    }
    g
}

fn rm_ci(
    beta: &Array1<f64>,
    sigma: &Array2<f64>,
    pre: usize,
    post: usize,
    l: &Array1<f64>,
    mbar: f64,
    s: &HonestSettings,
) -> RmBound {
    let post_sigma = linalg::block(sigma.view(), pre..pre + post, pre..pre + post);
    let sd_theta = l.dot(&post_sigma.dot(l)).max(0.0).sqrt();
    let (lb, ub) = (-20.0 * sd_theta, 20.0 * sd_theta);
    let n = s.grid_points.max(2);
    let grid: Vec<f64> = (0..n).map(|i| lb + (ub - lb) * i as f64 / (n - 1) as f64).collect();
    let accept = accepted(beta, sigma, pre, post, l, mbar, s, &grid);
    let first = accept.iter().position(|a| *a);
    let last = accept.iter().rposition(|a| *a);
    RmBound { mbar, ci_low: first.map(|i| grid[i]), ci_high: last.map(|i| grid[i]), open: accept[0] || accept[n - 1] }
}

/// Whether each θ is in the robust confidence set (the union over s and the sign).
#[allow(clippy::too_many_arguments)]
fn accepted(
    beta: &Array1<f64>,
    sigma: &Array2<f64>,
    pre: usize,
    post: usize,
    l: &Array1<f64>,
    mbar: f64,
    s: &HonestSettings,
    grid: &[f64],
) -> Vec<bool> {
    let mut accept = vec![false; grid.len()];
    let kappa = s.alpha / 10.0;
    let min_s = -(pre as i64 - 1);
    for sp in min_s..=0 {
        for max_positive in [true, false] {
            let a = create_a_rm(pre, post, mbar, sp, max_positive);
            let acc = if post == 1 {
                no_nuisance(beta, sigma, &a, pre, grid, s, kappa)
            } else {
                with_nuisance(beta, sigma, &a, pre, post, l, grid, s, kappa)
            };
            for (x, y) in accept.iter_mut().zip(acc) {
                *x |= y;
            }
        }
    }
    accept
}

/// Post-period moments only: the rows of A touching a post-period coefficient.
fn post_rows(a: &Array2<f64>, pre: usize) -> Vec<usize> {
    (0..a.nrows()).filter(|&r| (pre..a.ncols()).any(|c| a[[r, c]] != 0.0)).collect()
}

#[allow(clippy::too_many_arguments)]
fn with_nuisance(
    beta: &Array1<f64>,
    sigma: &Array2<f64>,
    a: &Array2<f64>,
    pre: usize,
    post: usize,
    l: &Array1<f64>,
    grid: &[f64],
    s: &HonestSettings,
    kappa: f64,
) -> Vec<bool> {
    let rows = post_rows(a, pre);
    let gamma = construct_gamma(l);
    let Ok(gamma_inv) = linalg::inv_spd((gamma.t().dot(&gamma)).view()).map(|m| m.dot(&gamma.t())) else {
        return vec![false; grid.len()];
    };
    let a_post = linalg::block(a.view(), 0..a.nrows(), pre..pre + post).to_owned();
    let agi = a_post.dot(&gamma_inv);
    let y_all = a.dot(beta);
    let sigma_y = a.dot(sigma).dot(&a.t());
    // Restricted to the post-period rows.
    let y = y_all.select(Axis(0), &rows);
    let one = agi.column(0).select(Axis(0), &rows);
    let x = agi.select(Axis(0), &rows).select(Axis(1), &(1..post).collect::<Vec<_>>());
    let sig = sigma_y.select(Axis(0), &rows).select(Axis(1), &rows);
    let lf_cv = least_favorable_cv(Some(&x), &sig, kappa, s.lf_sims, s.seed);
    grid.iter()
        .map(|&th| !lp_conditional_test(&(&y - &one.mapv(|v| v * th)), &x, &sig, s.alpha, kappa, lf_cv))
        .collect()
}

fn no_nuisance(
    beta: &Array1<f64>,
    sigma: &Array2<f64>,
    a: &Array2<f64>,
    pre: usize,
    grid: &[f64],
    s: &HonestSettings,
    kappa: f64,
) -> Vec<bool> {
    // The single post coefficient's rows only.
    let last = a.ncols() - 1;
    let rows: Vec<usize> = (0..a.nrows()).filter(|&r| a[[r, last]] != 0.0).collect();
    let a = a.select(Axis(0), &rows);
    let sig_a = a.dot(sigma).dot(&a.t());
    let lf_cv = least_favorable_cv(None, &sig_a, kappa, s.lf_sims, s.seed);
    grid.iter()
        .map(|&th| {
            let mut y = beta.clone();
            y[pre] -= th;
            !lf_hybrid_no_nuisance(&y, sigma, &a, s.alpha, kappa, lf_cv)
        })
        .collect()
}

/// ARP's test without nuisance parameters, least-favourable hybrid (`_test_in_identified_set_LF_hybrid`).
fn lf_hybrid_no_nuisance(
    y: &Array1<f64>,
    sigma: &Array2<f64>,
    a: &Array2<f64>,
    alpha: f64,
    kappa: f64,
    lf_cv: f64,
) -> bool {
    let sa = a.dot(sigma).dot(&a.t());
    let sd: Array1<f64> = (0..a.nrows()).map(|i| sa[[i, i]].sqrt()).collect();
    let at = Array2::from_shape_fn(a.dim(), |(i, j)| a[[i, j]] / sd[i]);
    let moments = at.dot(y);
    let (loc, max) =
        moments.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
    if max > lf_cv {
        return true;
    }
    let g = at.row(loc).to_owned();
    let abar = Array2::from_shape_fn(at.dim(), |(i, j)| at[[i, j]] - g[j]);
    let sg = sigma.dot(&g);
    let gsg = g.dot(&sg);
    let sigmabar = gsg.sqrt();
    let c = sg.mapv(|v| v / gsg);
    let z = y - &c.mapv(|v| v * g.dot(y));
    let (vlo, vup) = vlo_vup(&abar, &Array1::zeros(abar.nrows()), &c, &z);
    let alpha_t = (alpha - kappa) / (1.0 - kappa);
    let crit = truncated_normal_quantile(1.0 - alpha_t, vlo, vup, 0.0, sigmabar).max(0.0);
    max > crit
}

/// Truncation points of the conditional test: the constraints Ā(z + c t) ≤ d̄ in t.
fn vlo_vup(abar: &Array2<f64>, dbar: &Array1<f64>, c: &Array1<f64>, z: &Array1<f64>) -> (f64, f64) {
    let ac = abar.dot(c);
    let az = abar.dot(z);
    let (mut lo, mut up) = (f64::NEG_INFINITY, f64::INFINITY);
    for i in 0..ac.len() {
        let obj = (dbar[i] - az[i]) / ac[i];
        if ac[i] < 0.0 {
            lo = lo.max(obj);
        } else if ac[i] > 0.0 {
            up = up.min(obj);
        }
    }
    (lo, up)
}

/// The quantile p of N(mu, sd²) truncated to [l, u] (honestdid's `_norminvp_generalized`).
fn truncated_normal_quantile(p: f64, l: f64, u: f64, mu: f64, sd: f64) -> f64 {
    if sd <= 0.0 {
        return mu;
    }
    let (ln, un) = ((l - mu) / sd, (u - mu) / sd);
    if ln >= un {
        return mu + ln * sd;
    }
    let n = Normal::standard();
    let q = if ln > 0.0 {
        // Upper tail: work with survival functions for accuracy.
        let (sl, su) = (n.sf(ln), n.sf(un));
        -n.inverse_cdf((sl - p * (sl - su)).clamp(1e-300, 1.0))
    } else {
        let (cl, cu) = (n.cdf(ln), n.cdf(un));
        n.inverse_cdf((cl + p * (cu - cl)).clamp(1e-300, 1.0 - 1e-16))
    };
    mu + q * sd
}

/// The least-favourable critical value: the 1 − κ quantile of η̂ under zero-mean moments.
fn least_favorable_cv(x: Option<&Array2<f64>>, sigma: &Array2<f64>, kappa: f64, sims: usize, seed: u64) -> f64 {
    let m = sigma.nrows();
    let root = psd_sqrt(sigma);
    let sd: Array1<f64> = (0..m).map(|i| sigma[[i, i]].sqrt()).collect();
    let mut rng = Rng::new(seed);
    let mut etas: Vec<f64> = Vec::with_capacity(sims);
    for _ in 0..sims {
        let e: Array1<f64> = (0..m).map(|_| rng.normal()).collect();
        let xi = root.dot(&e);
        let eta = match x {
            None => (0..m).map(|i| xi[i] / sd[i]).fold(f64::NEG_INFINITY, f64::max),
            Some(x) => match eta_lp(&xi, x, &sd) {
                Some((eta, _)) => eta,
                None => continue,
            },
        };
        etas.push(eta);
    }
    if etas.is_empty() {
        return f64::INFINITY;
    }
    etas.sort_by(f64::total_cmp);
    // numpy's default (linear) quantile.
    let h = (etas.len() - 1) as f64 * (1.0 - kappa);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(etas.len() - 1);
    etas[lo] + (h - lo as f64) * (etas[hi] - etas[lo])
}

/// A symmetric square root of a covariance (eigenvalues below zero set to zero).
pub(crate) fn psd_sqrt(s: &Array2<f64>) -> Array2<f64> {
    let (vals, vecs) = linalg::symmetric_eigen(s.view());
    let n = s.nrows();
    let scaled = Array2::from_shape_fn((n, n), |(r, c)| vecs[[r, c]] * vals[c].max(0.0).sqrt());
    scaled.dot(&vecs.t())
}

/// η̂ = min_τ max_j (y_j − x_j'τ)/σ_j through its dual, max λ'y s.t. λ ≥ 0, σ'λ = 1, X'λ = 0.
/// Returns η̂ and λ.
fn eta_lp(y: &Array1<f64>, x: &Array2<f64>, sd: &Array1<f64>) -> Option<(f64, Array1<f64>)> {
    let (w, b) = dual_constraints(x, sd);
    let lam = simplex_max(y, &w, &b)?;
    Some((lam.dot(y), lam))
}

/// The dual's equality constraints [σ'; X'] λ = e1 (σ'λ = 1, X'λ = 0).
fn dual_constraints(x: &Array2<f64>, sd: &Array1<f64>) -> (Array2<f64>, Array1<f64>) {
    let k = x.ncols();
    let mut w = Array2::<f64>::zeros((k + 1, sd.len()));
    w.row_mut(0).assign(sd);
    for j in 0..k {
        w.row_mut(j + 1).assign(&x.column(j));
    }
    let mut e1 = Array1::<f64>::zeros(k + 1);
    e1[0] = 1.0;
    (w, e1)
}

/// max f'x s.t. A x = b (b ≥ 0), x ≥ 0, by the two-phase simplex method with Bland's rule
/// (small dense problems). `None` when infeasible or unbounded.
fn simplex_max(f: &Array1<f64>, a: &Array2<f64>, b: &Array1<f64>) -> Option<Array1<f64>> {
    let (r, n) = a.dim();
    // Tableau with artificials: columns 0..n the variables, n..n+r the artificials, last the rhs.
    let cols = n + r + 1;
    let mut t = Array2::<f64>::zeros((r, cols));
    for i in 0..r {
        let sgn = if b[i] < 0.0 { -1.0 } else { 1.0 };
        for j in 0..n {
            t[[i, j]] = sgn * a[[i, j]];
        }
        t[[i, n + i]] = 1.0;
        t[[i, cols - 1]] = sgn * b[i];
    }
    let mut basis: Vec<usize> = (n..n + r).collect();
    let tol = 1e-10;
    let pivot = |t: &mut Array2<f64>, basis: &mut Vec<usize>, row: usize, col: usize| {
        let p = t[[row, col]];
        for j in 0..cols {
            t[[row, j]] /= p;
        }
        for i in 0..r {
            if i != row {
                let factor = t[[i, col]];
                if factor != 0.0 {
                    for j in 0..cols {
                        t[[i, j]] -= factor * t[[row, j]];
                    }
                }
            }
        }
        basis[row] = col;
    };
    // Runs the simplex on objective c (maximise) over the allowed columns.
    let run = |t: &mut Array2<f64>, basis: &mut Vec<usize>, c: &dyn Fn(usize) -> f64, allowed: usize| -> bool {
        for _ in 0..10_000 {
            // Reduced costs: c_j − c_B B⁻¹ A_j.
            let mut enter = None;
            for j in 0..allowed {
                if basis.contains(&j) {
                    continue;
                }
                let rc = c(j) - (0..r).map(|i| c(basis[i]) * t[[i, j]]).sum::<f64>();
                if rc > tol {
                    enter = Some(j);
                    break;
                }
            }
            let Some(col) = enter else { return true };
            let mut leave: Option<(usize, f64)> = None;
            for i in 0..r {
                if t[[i, col]] > tol {
                    let ratio = t[[i, cols - 1]] / t[[i, col]];
                    match leave {
                        Some((li, lr)) if ratio > lr + 1e-12 || (ratio >= lr - 1e-12 && basis[i] > basis[li]) => {}
                        _ => leave = Some((i, ratio)),
                    }
                }
            }
            let Some((row, _)) = leave else { return false };
            pivot(t, basis, row, col);
        }
        false
    };
    // Phase I: minimise the artificials (maximise their negative sum).
    let phase1 = |j: usize| if j >= n && j < n + r { -1.0 } else { 0.0 };
    if !run(&mut t, &mut basis, &phase1, n + r) {
        return None;
    }
    let infeas: f64 = (0..r).filter(|&i| basis[i] >= n).map(|i| t[[i, cols - 1]]).sum();
    if infeas > 1e-8 {
        return None;
    }
    // Drive remaining (zero) artificials out of the basis where possible.
    for i in 0..r {
        if basis[i] >= n {
            if let Some(j) = (0..n).find(|&j| !basis.contains(&j) && t[[i, j]].abs() > 1e-9) {
                pivot(&mut t, &mut basis, i, j);
            }
        }
    }
    let phase2 = |j: usize| if j < n { f[j] } else { 0.0 };
    if !run(&mut t, &mut basis, &phase2, n) {
        return None;
    }
    let mut x = Array1::<f64>::zeros(n);
    for i in 0..r {
        if basis[i] < n {
            x[basis[i]] = t[[i, cols - 1]];
        }
    }
    Some(x)
}

/// ARP's conditional test with nuisance parameters, least-favourable hybrid
/// (`_lp_conditional_test_fn`): true when the moments are rejected.
fn lp_conditional_test(
    y: &Array1<f64>,
    x: &Array2<f64>,
    sigma: &Array2<f64>,
    alpha: f64,
    kappa: f64,
    lf_cv: f64,
) -> bool {
    let m = y.len();
    let k = x.ncols();
    let sd: Array1<f64> = (0..m).map(|i| sigma[[i, i]].sqrt()).collect();
    let Some((eta, lam)) = eta_lp(y, x, &sd) else {
        return false;
    };
    if eta > lf_cv {
        return true;
    }
    let mod_size = (alpha - kappa) / (1.0 - kappa);
    let b_idx: Vec<usize> = (0..m).filter(|&i| lam[i] > 1e-6).collect();
    let degenerate = b_idx.len() != k + 1;
    let full_rank = !b_idx.is_empty() && rank(&x.select(Axis(0), &b_idx)) == b_idx.len().min(k);
    if !full_rank || degenerate {
        // The dual approach: truncation points by bisection on the dual program.
        let sg = sigma.dot(&lam);
        let gsg = lam.dot(&sg);
        if gsg.abs() < f64::EPSILON {
            return eta > 0.0;
        }
        let sigma_b = gsg.sqrt();
        let s_t = y - &sg.mapv(|v| v * lam.dot(y) / gsg);
        let (vlo, vup) = vlo_vup_dual(eta, &s_t, &lam, sigma, x, &sd);
        let (zlo, zup) = (vlo / sigma_b, vup.min(lf_cv) / sigma_b);
        let maxstat = eta / sigma_b;
        if !(zlo <= maxstat && maxstat <= zup) {
            return false;
        }
        let cval = truncated_normal_quantile(1.0 - mod_size, zlo, zup, 0.0, 1.0).max(0.0);
        return maxstat > cval;
    }
    // The primal approach: the active constraints B (k + 1 of them) pin η and τ.
    let bc_idx: Vec<usize> = (0..m).filter(|&i| lam[i] <= 1e-6).collect();
    let cb = Array2::from_shape_fn((k + 1, k + 1), |(i, j)| if j == 0 { sd[b_idx[i]] } else { x[[b_idx[i], j - 1]] });
    let Some(cb_inv) = invert(&cb) else { return false };
    // solve(cbind_B, S_B): (k+1) x m with columns of the identity's B rows.
    let mut sol = Array2::<f64>::zeros((k + 1, m));
    for (c, &i) in b_idx.iter().enumerate() {
        for r in 0..k + 1 {
            sol[[r, i]] = cb_inv[[r, c]];
        }
    }
    let cbc = Array2::from_shape_fn(
        (bc_idx.len(), k + 1),
        |(i, j)| if j == 0 { sd[bc_idx[i]] } else { x[[bc_idx[i], j - 1]] },
    );
    let mut gamma_b = cbc.dot(&sol);
    for (r, &i) in bc_idx.iter().enumerate() {
        gamma_b[[r, i]] -= 1.0;
    }
    let v_b = sol.row(0).to_owned();
    let sv = sigma.dot(&v_b);
    let sigma2_b = v_b.dot(&sv);
    let sigma_b = sigma2_b.sqrt();
    let rho = gamma_b.dot(&sv).mapv(|v| v / sigma2_b);
    let gy = gamma_b.dot(y);
    let vy = v_b.dot(y);
    let (mut vlo, mut vup) = (f64::NEG_INFINITY, f64::INFINITY);
    for i in 0..rho.len() {
        let mx = -gy[i] / rho[i] + vy;
        if rho[i] > 0.0 {
            vlo = vlo.max(mx);
        } else if rho[i] < 0.0 {
            vup = vup.min(mx);
        }
    }
    let (zlo, zup) = (vlo / sigma_b, vup.min(lf_cv) / sigma_b);
    let maxstat = eta / sigma_b;
    if !(zlo <= maxstat && maxstat <= zup) {
        return false;
    }
    let cval = truncated_normal_quantile(1.0 - mod_size, zlo, zup, 0.0, 1.0).max(0.0);
    maxstat > cval
}

fn invert(a: &Array2<f64>) -> Option<Array2<f64>> {
    let m = linalg::to_nalgebra(a.view()).try_inverse()?;
    Some(linalg::from_nalgebra(&m))
}

fn rank(a: &Array2<f64>) -> usize {
    if a.is_empty() {
        return 0;
    }
    let svd = nalgebra::linalg::SVD::new(linalg::to_nalgebra(a.view()), false, false);
    let max = svd.singular_values.iter().fold(0.0f64, |m, v| m.max(*v));
    let tol = max * (a.nrows().max(a.ncols()) as f64) * f64::EPSILON;
    svd.singular_values.iter().filter(|v| **v > tol).count()
}

/// honestdid's `_vlo_vup_dual_fn`: the largest and smallest c for which η stays the optimum of
/// max (s + Σγ/(γ'Σγ) c)'λ over the dual's feasible set.
fn vlo_vup_dual(
    eta: f64,
    s_t: &Array1<f64>,
    gamma: &Array1<f64>,
    sigma: &Array2<f64>,
    x: &Array2<f64>,
    sd: &Array1<f64>,
) -> (f64, f64) {
    let tol_c = 1e-6;
    let tol_eq = 1e-6;
    let sg = sigma.dot(gamma);
    let gsg = gamma.dot(&sg);
    if gsg.abs() < 1e-30 {
        return (f64::NEG_INFINITY, f64::INFINITY);
    }
    let sigma_b = gsg.sqrt();
    let low_initial = (-100.0f64).min(eta - 20.0 * sigma_b);
    let high_initial = 100.0f64.max(eta + 20.0 * sigma_b);
    let b_vec = sg.mapv(|v| v / gsg);
    let m = s_t.len();
    let (w, e1) = dual_constraints(x, sd);
    let program = |c: f64| -> Option<(f64, Array1<f64>)> {
        let f = s_t + &b_vec.mapv(|v| v * c);
        let sol = simplex_max(&f, &w, &e1)?;
        Some((sol.dot(&f), sol))
    };
    let honest = |c: f64| -> (bool, Array1<f64>) {
        match program(c) {
            Some((opt, sol)) => ((c - opt).abs() <= tol_eq, sol),
            None => (false, Array1::zeros(m)),
        }
    };
    let roundeps = |v: f64| if v.abs() < f64::EPSILON.powf(0.75) { 0.0 } else { v };
    if !honest(eta).0 {
        return (eta, f64::INFINITY);
    }
    let side = |start: f64, toward_up: bool| -> f64 {
        let (ok, mut sol) = honest(start);
        if ok {
            return if toward_up { f64::INFINITY } else { f64::NEG_INFINITY };
        }
        let mut iters = 1;
        let mut dif = 0.0;
        let next = |sol: &Array1<f64>, prev: f64| {
            let denom = 1.0 - sol.dot(&b_vec);
            if denom.abs() > 1e-15 {
                roundeps(sol.dot(s_t)) / denom
            } else {
                prev
            }
        };
        let mut mid = next(&sol, start);
        let (mut ok_mid, s2) = honest(mid);
        sol = s2;
        while !ok_mid && iters < 10_000 {
            iters += 1;
            if iters >= 10 {
                dif = tol_c + 1.0;
                break;
            }
            mid = next(&sol, mid);
            let (o, s3) = honest(mid);
            ok_mid = o;
            sol = s3;
        }
        // Bisection between η (accepted) and mid.
        let (mut inside, mut outside) = (eta, mid);
        while dif > tol_c && iters < 10_000 {
            iters += 1;
            let m2 = 0.5 * (inside + outside);
            if honest(m2).0 {
                inside = m2;
            } else {
                outside = m2;
            }
            dif = (outside - inside).abs();
            mid = m2;
        }
        mid
    };
    let vup = side(high_initial, true);
    let vlo = side(low_initial, false);
    (vlo, vup)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The simplex against a hand-solvable program: max x1 + 2 x2 s.t. x1 + x2 + x3 = 1, x ≥ 0.
    #[test]
    fn simplex_small() {
        let f = ndarray::arr1(&[1.0, 2.0, 0.0]);
        let a = ndarray::arr2(&[[1.0, 1.0, 1.0]]);
        let b = ndarray::arr1(&[1.0]);
        let x = simplex_max(&f, &a, &b).unwrap();
        assert!((x[1] - 1.0).abs() < 1e-12 && x[0].abs() < 1e-12);
        // η̂ of two moments with no nuisance: the larger standardised one.
        let y = ndarray::arr1(&[0.5, 2.0]);
        let sd = ndarray::arr1(&[1.0, 4.0]);
        let x0 = Array2::<f64>::zeros((2, 0));
        let (eta, _) = eta_lp(&y, &x0, &sd).unwrap();
        assert!((eta - 0.5).abs() < 1e-12);
    }

    /// Γ for the average and for the first period.
    #[test]
    fn gamma_rows() {
        let g = construct_gamma(&ndarray::arr1(&[0.25, 0.25, 0.25, 0.25]));
        assert_eq!(g.row(0).to_vec(), vec![0.25; 4]);
        assert_eq!(g.row(1).to_vec(), vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(g.row(3).to_vec(), vec![0.0, 0.0, 1.0, 0.0]);
        let g = construct_gamma(&ndarray::arr1(&[1.0, 0.0, 0.0]));
        assert_eq!(g.row(1).to_vec(), vec![0.0, 1.0, 0.0]);
    }
}
