//! The wild cluster restricted bootstrap (WCR) of one coefficient after fixed effects are
//! absorbed: Cameron, Gelbach and Miller (2008); the fast algorithm of Roodman, MacKinnon,
//! Nielsen and Webb (2019, "Fast and wild", the `boottest` paper), as `wildboottest` (PyPI) and
//! fwildclusterboot implement it.
//!
//! Model (after the within transformation, FWL): ỹ = x̃β + ũ, clusters g = 1..G. Under H0: β = β0
//! the restricted residuals are û0 = ỹ − x̃β0. A draw multiplies each cluster's û0 by one weight
//! w_g (Rademacher ±1, or Webb's six points) and re-fits; with the fixed effects re-absorbed,
//! y* = x̃β0 + M_D(w ⊙ û0), so
//!   β* − β0 = Σ_h w_h s_h / x̃'x̃,  s_h = Σ_{i∈h} x̃_i û0_i,
//!   score*_g = Σ_h A_gh w_h − c_g (β* − β0),  A_gh = Σ_{i∈h} [M_D(x̃ ⊙ 1_g)]_i û0_i,  c_g = Σ_{i∈g} x̃_i²,
//! and the bootstrap t is (β* − β0) / CR1(score*). A is linear in β0 (A = A^y − β0 A^x), so it is
//! computed once with G within transformations, and each draw costs O(G²) once and O(G) per β0:
//! the confidence interval is found by test inversion (bisection on each side of β̂).
//! With Rademacher weights and 2^G at most the draws asked for, every sign vector is enumerated
//! (the p-value is then exact, as wildboottest and boottest do).
//! The p-value is symmetric: the share of draws with |t*| >= |t|. Enumerated, that is a
//! randomisation test over the sign vectors, the data's own (w = ±1) among them, so it is never
//! below 2/2^G and a test at level α rejects at most α of the time; wildboottest and boottest
//! count |t*| > |t| strictly, which leaves out w = ±1: their enumerated p-value is ours less
//! exactly 2/2^G, and 0 whenever the data's |t| is the largest (with 6 clusters a 1% test then
//! rejected 5.4% of the time under the null: `tests/simulation.rs`). Drawn, ties have probability
//! zero but for the draws ±1. CR1's small-sample factor is the same in t and t*, so it cancels.

use serde::{Deserialize, Serialize};

use crate::panel::{demean, FixedEffect, NotConverged};
use crate::rng::Rng;

/// The weights' distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WildWeights {
    /// ±1 with probability 1/2 (enumerated when 2^G is at most the draws).
    #[default]
    Rademacher,
    /// ±√(1/2), ±1, ±√(3/2), each 1/6 (better with fewer than about 12 clusters).
    Webb,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WildSettings {
    pub draws: usize,
    pub seed: u64,
    pub weights: WildWeights,
}

impl Default for WildSettings {
    fn default() -> Self {
        Self { draws: 9999, seed: 20261130, weights: WildWeights::Rademacher }
    }
}

/// The bootstrap's answer for one coefficient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WildResult {
    /// H0: the coefficient is 0.
    #[serde(rename = "wild_bootstrap_p_value")]
    pub p_value: f64,
    /// By test inversion at the fit's level; absent on a side where no β0 is rejected (then the
    /// confidence set is unbounded on that side).
    #[serde(rename = "wild_bootstrap_ci_low", skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(rename = "wild_bootstrap_ci_high", skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    /// Draws used (2^G when every Rademacher sign vector was enumerated).
    #[serde(rename = "wild_bootstrap_draws")]
    pub draws: usize,
    #[serde(rename = "wild_bootstrap_enumerated")]
    pub enumerated: bool,
    #[serde(rename = "wild_bootstrap_weights")]
    pub weights: WildWeights,
    /// The interval's level (1 − alpha): test inversion gives it at this level only.
    #[serde(rename = "wild_bootstrap_level", default = "default_level")]
    pub level: f64,
}

fn default_level() -> f64 {
    0.95
}

/// The data of one coefficient after absorbing the fixed effects.
pub struct Problem<'a> {
    /// x̃ and ỹ (demeaned by `fes`).
    pub x: &'a [f64],
    pub y: &'a [f64],
    pub fes: &'a [FixedEffect],
    pub cluster: &'a [u32],
    pub n_clusters: usize,
    /// β̂ and its standard error (the scale of the interval search).
    pub beta: f64,
    pub se: f64,
}

/// The weights of each draw, G each.
fn draws(g: usize, s: &WildSettings) -> (Vec<Vec<f64>>, bool) {
    if s.weights == WildWeights::Rademacher && g < 63 && (1u64 << g) <= s.draws as u64 {
        let all =
            (0..(1u64 << g)).map(|m| (0..g).map(|j| if m >> j & 1 == 1 { 1.0 } else { -1.0 }).collect()).collect();
        return (all, true);
    }
    let mut rng = Rng::new(s.seed);
    let webb = [-(1.5f64).sqrt(), -1.0, -(0.5f64).sqrt(), (0.5f64).sqrt(), 1.0, (1.5f64).sqrt()];
    let w = (0..s.draws)
        .map(|_| {
            (0..g)
                .map(|_| match s.weights {
                    WildWeights::Rademacher => {
                        if rng.uniform() < 0.5 {
                            -1.0
                        } else {
                            1.0
                        }
                    }
                    WildWeights::Webb => webb[((rng.uniform() * 6.0) as usize).min(5)],
                })
                .collect()
        })
        .collect();
    (w, false)
}

/// The bootstrap p-value of H0: β = 0 and the interval at `alpha` by test inversion.
pub fn bootstrap(p: &Problem, s: &WildSettings, alpha: f64) -> Result<WildResult, super::DidError> {
    let n = p.x.len();
    let g = p.n_clusters;
    let xx: f64 = p.x.iter().map(|v| v * v).sum();
    // c_g and A^y, A^x (G x G, row g = the within-transformed x̃ ⊙ 1_g against ỹ and x̃ by cluster h).
    let mut c = vec![0.0; g];
    for i in 0..n {
        c[p.cluster[i] as usize] += p.x[i] * p.x[i];
    }
    // One within transformation per cluster, on all cores (a worker that fails fails the fit).
    let rows =
        crate::parallel::map(&(0..g).collect::<Vec<usize>>(), |&gg| -> Result<(Vec<f64>, Vec<f64>), NotConverged> {
            let mut v: Vec<f64> = (0..n).map(|i| if p.cluster[i] as usize == gg { p.x[i] } else { 0.0 }).collect();
            demean(ndarray::ArrayViewMut1::from(&mut v[..]), p.fes)?;
            let (mut ry, mut rx) = (vec![0.0; g], vec![0.0; g]);
            for (((&vi, &c), &yi), &xi) in v.iter().zip(p.cluster).zip(p.y).zip(p.x) {
                ry[c as usize] += vi * yi;
                rx[c as usize] += vi * xi;
            }
            Ok((ry, rx))
        })?;
    let mut ay = Vec::with_capacity(g * g);
    let mut ax = Vec::with_capacity(g * g);
    for r in rows {
        let (ry, rx) = r?;
        ay.extend(ry);
        ax.extend(rx);
    }
    // s^y_h, s^x_h: column sums (x̃'(ỹ ⊙ 1_h), x̃'(x̃ ⊙ 1_h)).
    let col = |a: &[f64], h: usize| (0..g).map(|r| a[r * g + h]).sum::<f64>();
    let sy: Vec<f64> = (0..g).map(|h| col(&ay, h)).collect();
    let sx: Vec<f64> = (0..g).map(|h| col(&ax, h)).collect();
    let (ws, enumerated) = draws(g, s);
    // Per draw: a = s^y·w, b = s^x·w, and A^y w, A^x w (G each).
    let b_count = ws.len();
    let mut a_b = vec![0.0; b_count];
    let mut b_b = vec![0.0; b_count];
    let mut ayw = vec![0.0; b_count * g];
    let mut axw = vec![0.0; b_count * g];
    for (k, w) in ws.iter().enumerate() {
        a_b[k] = sy.iter().zip(w).map(|(a, b)| a * b).sum();
        b_b[k] = sx.iter().zip(w).map(|(a, b)| a * b).sum();
        for r in 0..g {
            let row = r * g;
            ayw[k * g + r] = (0..g).map(|h| ay[row + h] * w[h]).sum();
            axw[k * g + r] = (0..g).map(|h| ax[row + h] * w[h]).sum();
        }
    }
    // The data's |t| on the bootstrap's scale (CR1 without its factor), with the unrestricted
    // residuals ũ = ỹ − x̃β̂: cluster g's score x̃_g'ũ_g is row g of A(β̂) summed.
    let se_data = {
        let ss: f64 = (0..g).map(|r| (0..g).map(|h| ay[r * g + h] - p.beta * ax[r * g + h]).sum::<f64>().powi(2)).sum();
        ss.sqrt() / xx
    };
    let data_t = |b0: f64| if se_data > 0.0 { (p.beta - b0).abs() / se_data } else { f64::INFINITY };
    // The share of draws at least as extreme as the data, for H0: β = β0.
    let p_fast = |b0: f64| -> f64 {
        let t0 = data_t(b0);
        let mut extreme = 0usize;
        for k in 0..b_count {
            // Enumerated, the first and the last sign vectors are all −1 and all +1: the data's
            // own assignment up to sign (y* = ỹ, so t* is the data's t exactly). They count as
            // such, not through a comparison that rounding tips where the residuals are all
            // but zero (a panel the fixed effects and the treatment fit exactly).
            if enumerated && (k == 0 || k + 1 == b_count) {
                extreme += 1;
                continue;
            }
            let delta = (a_b[k] - b0 * b_b[k]) / xx;
            let mut ss = 0.0;
            for r in 0..g {
                let score = ayw[k * g + r] - b0 * axw[k * g + r] - c[r] * delta;
                ss += score * score;
            }
            let se_b = ss.sqrt() / xx;
            let t = if se_b > 0.0 { (delta / se_b).abs() } else { 0.0 };
            // At least as extreme (a drawn w = ±1 reproduces the data's |t| to rounding).
            if t >= t0 * (1.0 - 1e-9) {
                extreme += 1;
            }
        }
        extreme as f64 / b_count as f64
    };
    let p_value = p_fast(0.0);
    // Test inversion: expand from β̂ until rejected, then bisect.
    let side = |dir: f64| -> Option<f64> {
        // The first step in the estimate's own units (a floor of 1e-12 in absolute terms was
        // wider than the whole interval of an outcome in units of 1e-40, and 60 halvings could
        // not come back from it).
        let mut step = p.se.max(1e-12 * p.beta.abs());
        if step.is_nan() || step <= 0.0 {
            step = 1e-12;
        }
        let mut inside = p.beta;
        let mut outside = None;
        for _ in 0..60 {
            let b0 = p.beta + dir * step;
            if p_fast(b0) < alpha {
                outside = Some(b0);
                break;
            }
            inside = b0;
            step *= 2.0;
        }
        let mut out = outside?;
        for _ in 0..60 {
            let mid = 0.5 * (inside + out);
            if p_fast(mid) < alpha {
                out = mid;
            } else {
                inside = mid;
            }
            if (out - inside).abs() <= 1e-9 * p.se.max(1e-300) {
                break;
            }
        }
        Some(0.5 * (inside + out))
    };
    Ok(WildResult {
        p_value,
        ci_low: side(-1.0),
        ci_high: side(1.0),
        draws: b_count,
        enumerated,
        weights: s.weights,
        level: 1.0 - alpha,
    })
}
