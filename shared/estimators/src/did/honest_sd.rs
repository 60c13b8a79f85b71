//! HonestDiD's smoothness restriction Δ^SD(M) (Rambachan and Roth 2023, section 2.4.1): the
//! trend violation δ may bend by at most M per period, |(δ_{t+1} − δ_t) − (δ_t − δ_{t−1})| ≤ M
//! for every t, with δ = 0 in the reference period. M = 0 allows exactly the linear trends
//! through the pre-periods; larger M allows the trend to curve.
//!
//! The interval is the optimal fixed-length confidence interval (FLCI) of Armstrong and Kolesár
//! (2018), HonestDiD's default for Δ^SD: among affine estimators v'β̂ that are unbiased under a
//! linear trend, the one whose worst-case bias over Δ^SD(M) and standard deviation give the
//! shortest interval v'β̂ ± h·cv_α(bias/h), where cv_α(b) is the 1 − α quantile of |N(b, 1)|.
//!
//! Formulation of honestdid 0.1.1 (`_find_worst_case_bias_given_h`, a port of the R package's
//! `flci.R`): the pre-period weights are the first differences of w ∈ R^K (K leads), the trend
//! constraint is Σw = Σ_s s·l_s, and the worst-case bias for M = 1 is
//! Σ_{t=1}^{T̄−1} |Σ_{s>t} l_s (s − t)| + Σ_k |Σ_{j≤k} w_j| (the absolute coefficients of the
//! second differences after and up to the reference period). honestdid writes the first sum as
//! Σ_{t=0}^{T̄−1} |…| − Σ_s s·l_s, the same when Σ_s s·l_s ≥ 0 (every target here: the average
//! of the post periods or one of them) and 2|Σ_s s·l_s| too large otherwise; the test
//! `bias_formula_is_the_lp_maximum` checks this form against the linear program over δ for
//! targets of either sign. For each h the smallest
//! bias with sd(v'β̂) ≤ h is a second-order cone program (solved by Clarabel); the half-length is
//! then minimised over h between the smallest attainable standard deviation and that of the
//! minimum-bias estimator, by a grid and golden-section refinement. honestdid instead bisects a
//! finite-difference derivative over 100 steps and takes |N(b, 1)|'s quantile from 10⁶
//! simulated draws; here the quantile is solved exactly, so ends can differ from honestdid's by
//! that simulation error and by its step in h.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SecondOrderConeT, SolverStatus, ZeroConeT,
};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::linalg;

/// One M and the FLCI for the target under Δ^SD(M).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SdBound {
    /// The largest change in the slope of the trend violation from one period to the next, in
    /// the outcome's units.
    pub m: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// The affine estimator behind one FLCI.
#[derive(Debug, Clone)]
pub struct Flci {
    pub ci_low: f64,
    pub ci_high: f64,
    /// Weights over the pre + post coefficients.
    pub weights: Array1<f64>,
    /// Its standard deviation and worst-case bias over Δ^SD(M).
    pub sd: f64,
    pub max_bias: f64,
}

/// At most this many M values in one request.
pub const MAX_SD_MS: usize = 10;

/// The problem's fixed parts: K leads, the target weights l over the post periods, and the
/// covariance's square root split into its pre and post columns.
struct Problem {
    k: usize,
    /// Σ_s s·l_s: what the w must sum to for the estimator to ignore a linear trend.
    sum_target: f64,
    /// The post-period part of the worst-case bias (M = 1), independent of w.
    constant: f64,
    /// z(w) = b_mat·w + m_vec, with ‖z‖ = sd(v'β̂).
    b_mat: Array2<f64>,
    m_vec: Array1<f64>,
}

impl Problem {
    fn new(sigma: &Array2<f64>, pre: usize, post: usize, l: &Array1<f64>) -> Self {
        let root = super::honest::psd_sqrt(sigma);
        // Pre-period weights are W w with W the first-difference matrix (1 on the diagonal, −1
        // below it).
        let t = pre + post;
        let b_mat =
            Array2::from_shape_fn((t, pre), |(r, j)| root[[r, j]] - if j + 1 < pre { root[[r, j + 1]] } else { 0.0 });
        let m_vec = Array1::from_shape_fn(t, |r| (0..post).map(|s| root[[r, pre + s]] * l[s]).sum());
        let sum_target: f64 = (0..post).map(|s| (s + 1) as f64 * l[s]).sum();
        // The coefficients of the post-period second differences: Σ_{s>t} l_s (s − t), t ≥ 1.
        let mut constant = 0.0;
        for s in 1..post {
            constant += (1..=s).map(|r| r as f64 * l[post - s + r - 1]).sum::<f64>().abs();
        }
        Self { k: pre, sum_target, constant, b_mat, m_vec }
    }

    /// sd(v'β̂) for the leads' weights w.
    fn sd(&self, w: &Array1<f64>) -> f64 {
        let z = self.b_mat.dot(w) + &self.m_vec;
        z.dot(&z).sqrt()
    }

    fn bias(&self, w: &Array1<f64>) -> f64 {
        let mut c = 0.0;
        let mut total = 0.0;
        for x in w {
            c += x;
            total += c.abs();
        }
        self.constant + total
    }

    /// The minimum-bias estimator: all weight on the last lead (w = (0, …, 0, Σ s·l_s)).
    fn w_min_bias(&self) -> Array1<f64> {
        let mut w = Array1::zeros(self.k);
        w[self.k - 1] = self.sum_target;
        w
    }

    /// The smallest standard deviation of a trend-unbiased estimator: min ‖B w + m‖ s.t.
    /// Σw = Σ s·l_s. Variables (w, t).
    fn lowest_sd(&self) -> Option<Array1<f64>> {
        let (k, t) = (self.k, self.m_vec.len());
        let n = k + 1;
        let mut rows: Vec<Vec<f64>> = Vec::new();
        let mut b = Vec::new();
        let mut sum = vec![1.0; k];
        sum.push(0.0);
        rows.push(sum);
        b.push(self.sum_target);
        let mut head = vec![0.0; n];
        head[k] = -1.0;
        rows.push(head);
        b.push(0.0);
        for r in 0..t {
            let mut row: Vec<f64> = (0..k).map(|j| -self.b_mat[[r, j]]).collect();
            row.push(0.0);
            rows.push(row);
            b.push(self.m_vec[r]);
        }
        let mut q = vec![0.0; n];
        q[k] = 1.0;
        let x = solve(n, &q, &rows, &b, &[ZeroConeT(1), SecondOrderConeT(t + 1)])?;
        Some(Array1::from_iter(x[..k].iter().copied()))
    }

    /// The smallest worst-case bias (M = 1) with sd ≤ h. Variables (U, w): U ≥ |cumsum w|.
    fn min_bias(&self, h: f64) -> Option<Array1<f64>> {
        let (k, t) = (self.k, self.m_vec.len());
        let n = 2 * k;
        let mut rows: Vec<Vec<f64>> = Vec::new();
        let mut b = Vec::new();
        let mut sum = vec![0.0; n];
        sum[k..].iter_mut().for_each(|v| *v = 1.0);
        rows.push(sum);
        b.push(self.sum_target);
        for sign in [1.0, -1.0] {
            for i in 0..k {
                let mut row = vec![0.0; n];
                row[i] = -1.0;
                for j in 0..=i {
                    row[k + j] = sign;
                }
                rows.push(row);
                b.push(0.0);
            }
        }
        rows.push(vec![0.0; n]);
        b.push(h);
        for r in 0..t {
            let mut row = vec![0.0; n];
            for j in 0..k {
                row[k + j] = -self.b_mat[[r, j]];
            }
            rows.push(row);
            b.push(self.m_vec[r]);
        }
        let mut q = vec![0.0; n];
        q[..k].iter_mut().for_each(|v| *v = 1.0);
        let x = solve(n, &q, &rows, &b, &[ZeroConeT(1), NonnegativeConeT(2 * k), SecondOrderConeT(t + 1)])?;
        Some(Array1::from_iter(x[k..].iter().copied()))
    }
}

/// Clarabel on min q'x s.t. A x + s = b, s in the cones (rows in the cones' order).
fn solve(
    n: usize,
    q: &[f64],
    rows: &[Vec<f64>],
    b: &[f64],
    cones: &[clarabel::solver::SupportedConeT<f64>],
) -> Option<Vec<f64>> {
    let a = CscMatrix::from(rows);
    let p = CscMatrix::zeros((n, n));
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .tol_gap_abs(1e-10)
        .tol_gap_rel(1e-10)
        .tol_feas(1e-10)
        .max_iter(200)
        .build()
        .ok()?;
    let mut solver = DefaultSolver::new(&p, q, &a, b, cones, settings).ok()?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => Some(solver.solution.x.clone()),
        _ => None,
    }
}

/// The 1 − alpha quantile of |N(mu, 1)|.
pub fn folded_normal_quantile(alpha: f64, mu: f64) -> f64 {
    let z = Normal::standard();
    let mu = mu.abs();
    let coverage = |c: f64| z.cdf(c - mu) - z.cdf(-c - mu);
    let (mut lo, mut hi) = (0.0, mu + 10.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if coverage(mid) < 1.0 - alpha {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-14 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The optimal FLCI for θ = l'τ_post under Δ^SD(M). `beta` and `sigma` are over the `pre` leads
/// (without the reference period) then the `post` lags.
pub fn flci(
    beta: &Array1<f64>,
    sigma: &Array2<f64>,
    pre: usize,
    post: usize,
    l: &Array1<f64>,
    m: f64,
    alpha: f64,
) -> Result<Flci, String> {
    check(beta, sigma, pre, post, l)?;
    let u = unit(sigma);
    let pb = Problem::new(&(sigma / (u * u)), pre, post, l);
    let f = flci_with(&pb, &(beta / u), pre, l, m / u, alpha);
    Ok(Flci {
        ci_low: f.ci_low * u,
        ci_high: f.ci_high * u,
        sd: f.sd * u,
        max_bias: f.max_bias * u,
        weights: f.weights,
    })
}

/// The event study's unit: its largest standard error. The cone programs run on the coefficients
/// and M divided by it and the covariance by its square, and the intervals are scaled back: the
/// solver's tolerances are absolute, so on an outcome in small units (x1e-6) the interval at
/// M = 0 moved by 2.5e-4 of itself.
fn unit(sigma: &Array2<f64>) -> f64 {
    let u = sigma.diag().iter().fold(0.0f64, |m, v| m.max(*v)).sqrt();
    if u.is_finite() && u > 0.0 {
        u
    } else {
        1.0
    }
}

/// The relative-magnitudes checks (conforming shapes, at most 8 leads and 8 lags), and finite
/// numbers: the cone programs need them.
fn check(beta: &Array1<f64>, sigma: &Array2<f64>, pre: usize, post: usize, l: &Array1<f64>) -> Result<(), String> {
    super::honest::check(beta, sigma, pre, post, l)?;
    if beta.iter().chain(sigma.iter()).any(|v| !v.is_finite()) {
        return Err("the event study's coefficients or covariance are not finite".into());
    }
    Ok(())
}

fn flci_with(pb: &Problem, beta: &Array1<f64>, pre: usize, l: &Array1<f64>, m: f64, alpha: f64) -> Flci {
    let w0 = pb.w_min_bias();
    let h0 = pb.sd(&w0);
    let w_low = pb.lowest_sd().unwrap_or_else(|| w0.clone());
    let h_min = pb.sd(&w_low).min(h0);
    // The estimator with the smallest bias at each sd bound, and its half-length.
    let eval = |h: f64| -> (f64, Array1<f64>) {
        let w = if h >= h0 {
            w0.clone()
        } else if h <= h_min {
            w_low.clone()
        } else {
            pb.min_bias(h).unwrap_or_else(|| w0.clone())
        };
        let (sd, bias) = (pb.sd(&w), m * pb.bias(&w).max(0.0));
        let half = if sd > 0.0 { sd * folded_normal_quantile(alpha, bias / sd) } else { bias };
        (half, w)
    };
    let mut best = eval(h0);
    if h0 - h_min > 1e-12 * h0.max(1e-300) {
        // A grid over [h_min, h0], then golden-section search between the best point's
        // neighbours (the half-length is smooth and, in practice, unimodal in h).
        const GRID: usize = 24;
        let hs: Vec<f64> = (0..=GRID).map(|i| h_min + (h0 - h_min) * i as f64 / GRID as f64).collect();
        let vals: Vec<(f64, Array1<f64>)> = hs.iter().map(|&h| eval(h)).collect();
        let i = (0..vals.len()).min_by(|&a, &b| vals[a].0.total_cmp(&vals[b].0)).unwrap_or(GRID);
        if vals[i].0 < best.0 {
            best = vals[i].clone();
        }
        let (mut a, mut b) = (hs[i.saturating_sub(1)], hs[(i + 1).min(GRID)]);
        let g = (5f64.sqrt() - 1.0) / 2.0;
        let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
        let (mut fc, mut fd) = (eval(c), eval(d));
        for _ in 0..60 {
            if b - a < 1e-10 * h0 {
                break;
            }
            if fc.0 < fd.0 {
                b = d;
                d = c;
                fd = fc;
                c = b - g * (b - a);
                fc = eval(c);
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + g * (b - a);
                fd = eval(d);
            }
        }
        for cand in [fc, fd] {
            if cand.0 < best.0 {
                best = cand;
            }
        }
    }
    let (half, w) = best;
    let post = l.len();
    let mut weights = Array1::zeros(pre + post);
    for j in 0..pre {
        weights[j] = w[j] - if j > 0 { w[j - 1] } else { 0.0 };
    }
    for s in 0..post {
        weights[pre + s] = l[s];
    }
    let center = weights.dot(beta);
    Flci { ci_low: center - half, ci_high: center + half, sd: pb.sd(&w), max_bias: m * pb.bias(&w).max(0.0), weights }
}

/// FLCIs for several M.
pub fn smoothness(
    beta: &Array1<f64>,
    sigma: &Array2<f64>,
    pre: usize,
    post: usize,
    l: &Array1<f64>,
    ms: &[f64],
    alpha: f64,
) -> Result<Vec<SdBound>, String> {
    check(beta, sigma, pre, post, l)?;
    let u = unit(sigma);
    let pb = Problem::new(&(sigma / (u * u)), pre, post, l);
    let beta = beta / u;
    Ok(ms
        .iter()
        .map(|&m| {
            let f = flci_with(&pb, &beta, pre, l, m / u, alpha);
            SdBound { m, ci_low: f.ci_low * u, ci_high: f.ci_high * u }
        })
        .collect())
}

/// honestdid's default M values: ten from 0 to the upper one-sided (1 − alpha) confidence bound
/// on the largest second difference among the pre-periods (`DeltaSD_upperBound_Mpre`, its
/// alpha fixed at 0.05); with one lead, up to that lead's standard error.
pub fn default_ms(beta: &Array1<f64>, sigma: &Array2<f64>, pre: usize) -> Vec<f64> {
    let top = if pre < 2 {
        sigma[[0, 0]].max(0.0).sqrt()
    } else {
        let z = crate::dist::normal_critical(0.1); // one-sided 95%
        let mut top = f64::NEG_INFINITY;
        // Second differences over the leads and the reference period (δ = 0 there).
        for r in 0..pre - 1 {
            let mut a = Array1::zeros(pre);
            a[r] = 1.0;
            a[r + 1] = -2.0;
            if r + 2 < pre {
                a[r + 2] = 1.0;
            }
            let b = linalg::block(sigma.view(), 0..pre, 0..pre);
            let se = a.dot(&b.dot(&a)).max(0.0).sqrt();
            let d: f64 = (0..pre).map(|j| a[j] * beta[j]).sum();
            top = top.max(d + z * se).max(-d + z * se);
        }
        top
    };
    (0..10).map(|i| top * i as f64 / 9.0).collect()
}

/// The smallest M (to 0.1%) whose FLCI includes zero: 0 when the M = 0 interval does;
/// `None` when even M = `max` excludes it. The FLCI widens with M, so the search bisects.
pub fn breakdown(
    beta: &Array1<f64>,
    sigma: &Array2<f64>,
    pre: usize,
    post: usize,
    l: &Array1<f64>,
    alpha: f64,
    max: f64,
) -> Option<f64> {
    check(beta, sigma, pre, post, l).ok()?;
    let u = unit(sigma);
    let pb = Problem::new(&(sigma / (u * u)), pre, post, l);
    let beta = beta / u;
    let covers = |m: f64| {
        let f = flci_with(&pb, &beta, pre, l, m / u, alpha);
        f.ci_low <= 0.0 && f.ci_high >= 0.0
    };
    super::honest::breakdown_by_bisection(max, covers, |_, lo, hi| hi - lo <= 1e-3 * hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_normal() {
        // |N(0,1)|: the two-sided normal quantile; far from zero, mu + z(one-sided).
        assert!((folded_normal_quantile(0.05, 0.0) - 1.959963984540054).abs() < 1e-10);
        assert!((folded_normal_quantile(0.05, 8.0) - (8.0 + 1.6448536269514722)).abs() < 1e-8);
    }

    /// The closed-form worst-case bias equals the linear program's: max over Δ^SD(1) of the
    /// estimator's bias, for random targets and lead weights (brute force over the vertices is
    /// out of reach, so the check solves the LP with Clarabel over δ directly).
    #[test]
    fn bias_formula_is_the_lp_maximum() {
        let mut rng = crate::rng::Rng::new(7);
        for (pre, post) in [(1, 1), (2, 3), (3, 4), (4, 2)] {
            let sigma = Array2::eye(pre + post);
            let l = Array1::from_shape_fn(post, |_| rng.normal());
            let pb = Problem::new(&sigma, pre, post, &l);
            let mut w = Array1::from_shape_fn(pre, |_| rng.normal());
            let fix = pb.sum_target - w.sum();
            w[pre - 1] += fix;
            let mut v = Array1::zeros(pre + post);
            for j in 0..pre {
                v[j] = w[j] - if j > 0 { w[j - 1] } else { 0.0 };
            }
            for s in 0..post {
                v[pre + s] = l[s];
            }
            // max v'δ s.t. |second differences of (δ_pre, 0, δ_post)| <= 1.
            let t = pre + post;
            let mut rows = Vec::new();
            let mut b = Vec::new();
            for sign in [1.0, -1.0] {
                for r in 0..t - 1 {
                    let mut full = vec![0.0; t + 1];
                    full[r] = sign;
                    full[r + 1] = -2.0 * sign;
                    full[r + 2] = sign;
                    full.remove(pre);
                    rows.push(full);
                    b.push(1.0);
                }
            }
            let q: Vec<f64> = v.iter().map(|x| -x).collect();
            let cones = [NonnegativeConeT(rows.len())];
            let lp = if rows.is_empty() {
                Some(0.0)
            } else {
                solve(t, &q, &rows, &b, &cones).map(|x| -q.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>())
            };
            let lp = lp.unwrap();
            assert!(
                (lp - pb.bias(&w)).abs() < 1e-6 * (1.0 + lp.abs()),
                "pre {pre} post {post}: LP {lp} vs formula {}",
                pb.bias(&w)
            );
        }
    }
}
