//! Budget optimisation from causal effects (`CausalImpactOptimizer.optimize_budget_allocation`).
//!
//! **Response curves.** Each channel's contribution is β · hill(adstock(spend)), with geometric
//! adstock (carry-over θ, normalised so a steady spend x has adstock x) and Hill saturation
//! a^s / (a^s + κ^s), s ≤ 1 (concave). Fitted to the org's spend and outcome history: for fixed
//! (θ, κ, s) the model is linear in the base and the β's (least squares); the shape parameters
//! are chosen channel by channel on a grid, by coordinate descent. **Calibration:** each causal
//! lift estimate (spend moved from x0 to x1 for some periods, incremental outcome L with its
//! standard error) enters as one more observation of β_c (hill(x1) - hill(x0)) = L / periods,
//! weighted by its precision relative to the residual noise, as marketing-mix tools calibrate
//! with experiments. The β's covariance carries both.
//!
//! **Optimum.** For concave curves the optimum equalises marginal returns: for a multiplier λ each
//! channel spends where v β h'(x) = λ (clipped to its bounds: minimum, maximum, maximum change
//! from current), and λ is found by bisection to meet the budget, the outcome target (minimum
//! spend) or the ROAS/CPA target. The answer reports the expected incremental outcome with an
//! interval (β drawn from its estimated distribution), the marginal ROI per channel, and which
//! constraints bind.

#![allow(clippy::needless_range_loop)] // index loops over periods and channels read clearest here

pub mod recommend;

use serde::{Deserialize, Serialize};

use ndarray::{Array1, Array2};

use crate::linalg;
#[cfg(test)]
use crate::rng::Rng;

use crate::error::{invalid, FieldError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChannelSpend {
    pub channel: String,
    /// Spend per period, aligned with the outcome.
    pub spend: Vec<f64>,
}

/// A causal lift estimate for a channel (an experiment's result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Lift {
    pub channel: String,
    /// Spend per period without and with the intervention.
    pub spend_from: f64,
    pub spend_to: f64,
    pub periods: f64,
    /// Incremental outcome over the whole test, and its standard error.
    pub incremental: f64,
    pub std_error: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Curve {
    pub channel: String,
    pub beta: f64,
    pub beta_se: f64,
    pub half_saturation: f64,
    pub shape: f64,
    pub adstock: f64,
}

impl Curve {
    /// Hill saturation at a steady spend x.
    pub fn hill(&self, x: f64) -> f64 {
        hill(x, self.half_saturation, self.shape)
    }

    /// Expected outcome per period at a steady spend x.
    pub fn response(&self, x: f64) -> f64 {
        self.beta * self.hill(x)
    }

    /// d response / d spend.
    pub fn marginal(&self, x: f64) -> f64 {
        let (k, s) = (self.half_saturation, self.shape);
        if x <= 0.0 {
            return if s < 1.0 { f64::INFINITY } else { self.beta / k };
        }
        let xs = x.powf(s);
        let ks = k.powf(s);
        self.beta * s * ks * x.powf(s - 1.0) / (xs + ks).powi(2)
    }
}

fn hill(x: f64, k: f64, s: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let xs = x.powf(s);
    xs / (xs + k.powf(s))
}

fn adstock(x: &[f64], theta: f64) -> Vec<f64> {
    let mut a = 0.0;
    x.iter()
        .map(|v| {
            a = theta * a + (1.0 - theta) * v;
            a
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FittedModel {
    pub base: f64,
    pub curves: Vec<Curve>,
    /// Covariance of (base, β_1..β_C); in JSON its entries row by row.
    #[serde(with = "linalg::flat_square")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<f64>"))]
    pub covariance: Array2<f64>,
    pub residual_sd: f64,
    pub r_squared: f64,
    /// Each lift next to the curve's prediction of it.
    pub calibration: Vec<(String, f64, f64)>,
    pub n_obs: usize,
}

const THETAS: [f64; 5] = [0.0, 0.2, 0.4, 0.6, 0.8];
const SHAPES: [f64; 4] = [0.5, 0.7, 0.85, 1.0];
const KAPPA_MULT: [f64; 6] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0];

struct Design<'a> {
    y: &'a [f64],
    channels: &'a [ChannelSpend],
    lifts: &'a [Lift],
}

/// Weighted least squares of y on [1, features], plus calibration rows; None if singular or any
/// β is negative (a channel cannot lower the outcome by spending).
fn solve(d: &Design, params: &[(f64, f64, f64)], lift_weight: f64) -> Option<(Vec<f64>, f64, Array2<f64>)> {
    let n = d.y.len();
    let c = d.channels.len();
    let k = c + 1;
    let feats: Vec<Vec<f64>> = d
        .channels
        .iter()
        .zip(params)
        .map(|(ch, &(theta, kappa, s))| adstock(&ch.spend, theta).iter().map(|a| hill(*a, kappa, s)).collect())
        .collect();
    let mut xtx = Array2::<f64>::zeros((k, k));
    let mut xty = Array1::<f64>::zeros(k);
    let row_add = |xtx: &mut Array2<f64>, xty: &mut Array1<f64>, row: &[f64], yv: f64, w: f64| {
        for a in 0..k {
            xty[a] += w * row[a] * yv;
            for b in 0..k {
                xtx[[a, b]] += w * row[a] * row[b];
            }
        }
    };
    let mut row = vec![0.0; k];
    for t in 0..n {
        row[0] = 1.0;
        for j in 0..c {
            row[j + 1] = feats[j][t];
        }
        row_add(&mut xtx, &mut xty, &row, d.y[t], 1.0);
    }
    for l in d.lifts {
        let j = d.channels.iter().position(|ch| ch.channel == l.channel)?;
        let (_, kappa, s) = params[j];
        row.iter_mut().for_each(|v| *v = 0.0);
        row[j + 1] = hill(l.spend_to, kappa, s) - hill(l.spend_from, kappa, s);
        let se = l.std_error / l.periods;
        row_add(&mut xtx, &mut xty, &row, l.incremental / l.periods, lift_weight / (se * se));
    }
    // Non-negative effects: a channel whose effect comes out negative is held at zero (no
    // detectable effect) and the rest re-fitted.
    let mut active: Vec<usize> = (0..k).collect();
    let mut beta = vec![0.0; k];
    loop {
        let m = active.len();
        let sub = linalg::submatrix(xtx.view(), &active);
        let rhs: Array1<f64> = active.iter().map(|&a| xty[a]).collect();
        let b = linalg::cholesky(sub.view()).ok()?.solve(rhs.view());
        let worst = (1..m).filter(|&i| b[i] < 0.0).min_by(|&i, &j| b[i].total_cmp(&b[j]));
        match worst {
            Some(i) => {
                active.remove(i);
            }
            None => {
                beta.iter_mut().for_each(|v| *v = 0.0);
                for (i, &a) in active.iter().enumerate() {
                    beta[a] = b[i];
                }
                break;
            }
        }
    }
    let mut sse = 0.0;
    for t in 0..n {
        let fit = beta[0] + (0..c).map(|j| beta[j + 1] * feats[j][t]).sum::<f64>();
        sse += (d.y[t] - fit).powi(2);
    }
    for l in d.lifts {
        let j = d.channels.iter().position(|ch| ch.channel == l.channel)?;
        let (_, kappa, s) = params[j];
        let pred = beta[j + 1] * (hill(l.spend_to, kappa, s) - hill(l.spend_from, kappa, s));
        let se = l.std_error / l.periods;
        sse += lift_weight * ((l.incremental / l.periods - pred) / se).powi(2);
    }
    // Covariance on the channels left free; held ones have none.
    let sub_inv = linalg::inv_spd(linalg::submatrix(xtx.view(), &active).view()).ok()?;
    let mut inv = Array2::zeros((k, k));
    for (i, &a) in active.iter().enumerate() {
        for (j, &b) in active.iter().enumerate() {
            inv[[a, b]] = sub_inv[[i, j]];
        }
    }
    Some((beta, sse, inv))
}

pub fn fit(outcome: &[f64], channels: &[ChannelSpend], lifts: &[Lift]) -> Result<FittedModel, FieldError> {
    let n = outcome.len();
    if channels.is_empty() {
        return Err(invalid("channels", "give at least one channel's spend"));
    }
    if n < channels.len() * 3 + 6 {
        return Err(invalid("outcome", format!("{n} periods is too few for {} channels", channels.len())));
    }
    if outcome.iter().any(|v| !v.is_finite()) {
        return Err(invalid("outcome", "must be finite numbers"));
    }
    for (i, ch) in channels.iter().enumerate() {
        if ch.spend.len() != n {
            return Err(invalid(
                &format!("channels[{i}].spend"),
                format!("has {} periods, the outcome {n}", ch.spend.len()),
            ));
        }
        if ch.spend.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(invalid(&format!("channels[{i}].spend"), "must be non-negative numbers"));
        }
        if ch.spend.iter().all(|v| *v == 0.0) {
            return Err(invalid(&format!("channels[{i}].spend"), "is zero throughout: nothing to learn from"));
        }
        if channels[..i].iter().any(|c| c.channel == ch.channel) {
            return Err(invalid(&format!("channels[{i}].channel"), "is named twice"));
        }
    }
    for (i, l) in lifts.iter().enumerate() {
        if !channels.iter().any(|c| c.channel == l.channel) {
            return Err(invalid(
                &format!("lifts[{i}].channel"),
                format!("{:?} is not a channel of the history", l.channel),
            ));
        }
        if !(l.std_error > 0.0
            && l.periods > 0.0
            && l.spend_from >= 0.0
            && l.spend_to >= 0.0
            && l.spend_to != l.spend_from)
        {
            return Err(invalid(
                &format!("lifts[{i}]"),
                "needs positive std_error and periods, and two different spends",
            ));
        }
    }
    let d = Design { y: outcome, channels, lifts };
    let median = |v: &[f64]| {
        let mut s: Vec<f64> = v.iter().copied().filter(|x| *x > 0.0).collect();
        s.sort_by(|a, b| a.total_cmp(b));
        s.get(s.len() / 2).copied().unwrap_or(1.0)
    };
    let medians: Vec<f64> = channels.iter().map(|c| median(&c.spend)).collect();
    let mut params: Vec<(f64, f64, f64)> = medians.iter().map(|&m| (0.4, m, 1.0)).collect();
    // Lifts weigh by their precision against the residual noise: estimate the noise first.
    let mut lift_weight = 0.0;
    for pass in 0..2 {
        let mut best = solve(&d, &params, lift_weight).map(|r| r.1).unwrap_or(f64::INFINITY);
        for _sweep in 0..4 {
            let mut changed = false;
            for j in 0..channels.len() {
                for &theta in &THETAS {
                    for &s in &SHAPES {
                        for &m in &KAPPA_MULT {
                            let mut p = params.clone();
                            p[j] = (theta, medians[j] * m, s);
                            if let Some((_, sse, _)) = solve(&d, &p, lift_weight) {
                                if sse < best - 1e-12 * best.abs() {
                                    best = sse;
                                    params = p;
                                    changed = true;
                                }
                            }
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        if pass == 0 {
            let (_, sse, _) = solve(&d, &params, 0.0)
                .ok_or_else(|| invalid("channels", "the spends move together: their effects cannot be told apart"))?;
            let sigma2 = sse / (n - channels.len() - 1).max(1) as f64;
            lift_weight = sigma2;
            if lifts.is_empty() {
                break;
            }
        }
    }
    let (beta, _, inv) = solve(&d, &params, lift_weight)
        .ok_or_else(|| invalid("channels", "no response curve with non-negative effects fits this history"))?;
    let c = channels.len();
    let feats: Vec<Vec<f64>> = channels
        .iter()
        .zip(&params)
        .map(|(ch, &(theta, kappa, s))| adstock(&ch.spend, theta).iter().map(|a| hill(*a, kappa, s)).collect())
        .collect();
    let fitted: Vec<f64> = (0..n).map(|t| beta[0] + (0..c).map(|j| beta[j + 1] * feats[j][t]).sum::<f64>()).collect();
    let sse: f64 = outcome.iter().zip(&fitted).map(|(y, f)| (y - f).powi(2)).sum();
    let mean = outcome.iter().sum::<f64>() / n as f64;
    let sst: f64 = outcome.iter().map(|y| (y - mean).powi(2)).sum();
    let sigma2 = sse / (n - c - 1).max(1) as f64;
    let covariance = inv * sigma2;
    let curves: Vec<Curve> = channels
        .iter()
        .enumerate()
        .map(|(j, ch)| Curve {
            channel: ch.channel.clone(),
            beta: beta[j + 1],
            beta_se: covariance[[j + 1, j + 1]].max(0.0).sqrt(),
            half_saturation: params[j].1,
            shape: params[j].2,
            adstock: params[j].0,
        })
        .collect();
    let calibration = lifts
        .iter()
        .map(|l| {
            let cv = curves.iter().find(|c| c.channel == l.channel);
            let pred = cv.map_or(f64::NAN, |cv| (cv.response(l.spend_to) - cv.response(l.spend_from)) * l.periods);
            (l.channel.clone(), l.incremental, pred)
        })
        .collect();
    Ok(FittedModel {
        base: beta[0],
        curves,
        covariance,
        residual_sd: sigma2.sqrt(),
        r_squared: if sst > 0.0 { 1.0 - sse / sst } else { 0.0 },
        calibration,
        n_obs: n,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Objective {
    /// Most incremental outcome (conversions, or revenue with a value per conversion) for the
    /// budget.
    MaxOutcome,
    /// Most profit: value x outcome - spend (spends less than the budget if that pays more).
    MaxProfit,
    /// Least spend reaching this incremental outcome per period.
    MinSpend { target: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChannelBounds {
    pub channel: String,
    /// Current spend per period.
    pub current: f64,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Plan {
    pub objective: Objective,
    /// Total spend per period (an upper bound for max_profit; ignored for min_spend).
    #[serde(default)]
    pub budget: Option<f64>,
    pub channels: Vec<ChannelBounds>,
    /// Value of one unit of outcome (1 for conversions; the average order value for revenue).
    #[serde(default = "one")]
    pub value_per_outcome: f64,
    /// At most this relative change from current spend per channel (0.3 = ±30%).
    #[serde(default)]
    pub max_change: Option<f64>,
    /// Keep value x outcome / spend at least this.
    #[serde(default)]
    pub target_roas: Option<f64>,
    /// Keep spend / outcome at most this.
    #[serde(default)]
    pub target_cpa: Option<f64>,
    /// Periods planned (the totals are per-period figures times this).
    #[serde(default = "one")]
    pub periods: f64,
    /// Kept for compatibility: the intervals are exact (normal, hᵀ Σ h) and draw nothing.
    #[serde(default)]
    pub seed: u64,
}

fn one() -> f64 {
    1.0
}

impl Plan {
    /// A plan for `objective` over `channels`: a unit of outcome worth 1, one period, no change
    /// cap and no ROAS or CPA target (set those with `..Plan::new(..)`).
    pub fn new(objective: Objective, budget: Option<f64>, channels: Vec<ChannelBounds>) -> Self {
        Plan {
            objective,
            budget,
            channels,
            value_per_outcome: 1.0,
            max_change: None,
            target_roas: None,
            target_cpa: None,
            periods: 1.0,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Allocation {
    pub channel: String,
    pub current: f64,
    pub spend: f64,
    pub change: f64,
    pub incremental_outcome: f64,
    /// Value of one more unit of spend here (value x marginal response).
    pub marginal_roi: f64,
    /// "min", "max" or "max_change" when a bound holds the channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlanResult {
    pub allocations: Vec<Allocation>,
    pub total_spend: f64,
    /// Incremental outcome per period at the optimum (over the base), and its 95% interval.
    pub incremental_outcome: f64,
    pub incremental_outcome_ci: (f64, f64),
    /// Same at current spend, and the gain.
    pub current_outcome: f64,
    pub gain: f64,
    pub gain_ci: (f64, f64),
    pub roas: f64,
    pub cpa: f64,
    /// The common marginal return of the channels not held by a bound.
    pub marginal_return: f64,
    pub binding: Vec<String>,
    pub periods: f64,
    pub total_over_periods: TotalOverPeriods,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TotalOverPeriods {
    pub spend: f64,
    pub incremental_outcome: f64,
}

/// Spend where value x marginal = lambda, inside [lo, hi].
fn spend_at(c: &Curve, v: f64, lambda: f64, lo: f64, hi: f64) -> f64 {
    if v * c.marginal(hi) >= lambda {
        return hi;
    }
    if v * c.marginal(lo) <= lambda {
        return lo;
    }
    let (mut a, mut b) = (lo, hi);
    for _ in 0..200 {
        let m = 0.5 * (a + b);
        if v * c.marginal(m) > lambda {
            a = m;
        } else {
            b = m;
        }
        if b - a <= 1e-12 * b.max(1.0) {
            break;
        }
    }
    0.5 * (a + b)
}

pub fn optimize(model: &FittedModel, plan: &Plan) -> Result<PlanResult, FieldError> {
    if plan.value_per_outcome.is_nan() || plan.value_per_outcome <= 0.0 {
        return Err(invalid("value_per_outcome", "must be positive"));
    }
    let mut curves = Vec::new();
    let mut bounds = Vec::new();
    for (i, cb) in plan.channels.iter().enumerate() {
        let c = model.curves.iter().find(|c| c.channel == cb.channel).ok_or_else(|| {
            invalid(&format!("channels[{i}].channel"), format!("{:?} has no response curve", cb.channel))
        })?;
        let mut lo = cb.min.unwrap_or(0.0).max(0.0);
        let mut hi = cb.max.unwrap_or(f64::INFINITY);
        let mut why_lo = "min";
        let mut why_hi = "max";
        if let Some(m) = plan.max_change {
            if m.is_nan() || m < 0.0 {
                return Err(invalid("max_change", "must be non-negative"));
            }
            if cb.current * (1.0 - m) > lo {
                lo = cb.current * (1.0 - m);
                why_lo = "max_change";
            }
            if cb.current * (1.0 + m) < hi {
                hi = cb.current * (1.0 + m);
                why_hi = "max_change";
            }
        }
        if !hi.is_finite() {
            // Far past saturation: 1000 half-saturations.
            hi = c.half_saturation * 1000.0;
        }
        if lo > hi {
            return Err(invalid(&format!("channels[{i}]"), format!("the bounds leave no spend (min {lo} > max {hi})")));
        }
        curves.push(c.clone());
        bounds.push((lo, hi, why_lo, why_hi));
    }
    let v = plan.value_per_outcome;
    let alloc = |lambda: f64| -> Vec<f64> {
        curves.iter().zip(&bounds).map(|(c, &(lo, hi, _, _))| spend_at(c, v, lambda, lo, hi)).collect()
    };
    let outcome = |x: &[f64]| -> f64 { curves.iter().zip(x).map(|(c, xi)| c.response(*xi)).sum() };
    let spend = |x: &[f64]| -> f64 { x.iter().sum() };
    let lo_total: f64 = bounds.iter().map(|b| b.0).sum();
    let hi_total: f64 = bounds.iter().map(|b| b.1).sum();
    // Bisection on lambda (log scale) for a decreasing quantity g(lambda) = target.
    let find = |g: &dyn Fn(f64) -> f64, target: f64| -> f64 {
        let (mut a, mut b) = (1e-12f64.ln(), 1e12f64.ln());
        for _ in 0..300 {
            let m = 0.5 * (a + b);
            if g(m.exp()) > target {
                a = m;
            } else {
                b = m;
            }
        }
        (0.5 * (a + b)).exp()
    };
    let mut binding = Vec::new();
    let mut lambda = match plan.objective {
        Objective::MaxOutcome => {
            let budget = plan.budget.ok_or_else(|| invalid("budget", "is required for max_outcome"))?;
            if budget < lo_total - 1e-9 {
                return Err(invalid("budget", format!("{budget} is below the channels' minimums ({lo_total})")));
            }
            if budget >= hi_total {
                0.0
            } else {
                binding.push("budget".to_string());
                find(&|l| spend(&alloc(l)), budget)
            }
        }
        Objective::MaxProfit => {
            let l = 1.0;
            match plan.budget {
                Some(b) if spend(&alloc(l)) > b => {
                    if b < lo_total - 1e-9 {
                        return Err(invalid("budget", format!("{b} is below the channels' minimums ({lo_total})")));
                    }
                    binding.push("budget".to_string());
                    find(&|l| spend(&alloc(l)), b)
                }
                _ => l,
            }
        }
        Objective::MinSpend { target } => {
            let most = outcome(&alloc(0.0));
            if target > most {
                return Err(invalid(
                    "objective.target",
                    format!("{target} is more than the channels can deliver ({most:.4})"),
                ));
            }
            binding.push("target_outcome".to_string());
            find(&|l| outcome(&alloc(l)), target)
        }
    };
    // Efficiency targets: spend less (raise lambda) until they hold.
    let roas_of = |x: &[f64]| v * outcome(x) / spend(x).max(1e-300);
    if let Some(r) = plan.target_roas {
        if roas_of(&alloc(lambda)) < r {
            let l = find(&|l| -roas_of(&alloc(l)), -r);
            if roas_of(&alloc(l)) * (1.0 + 1e-9) < r {
                return Err(invalid("target_roas", format!("no allocation within the bounds reaches ROAS {r}")));
            }
            lambda = l.max(lambda);
            binding.push("target_roas".to_string());
        }
    }
    if let Some(cpa) = plan.target_cpa {
        // spend / outcome <= cpa, i.e. outcome / spend >= 1 / cpa: rises as lambda rises.
        let eff = |x: &[f64]| outcome(x) / spend(x).max(1e-300);
        if eff(&alloc(lambda)) < 1.0 / cpa {
            let l = find(&|l| -eff(&alloc(l)), -1.0 / cpa);
            if eff(&alloc(l)) * (1.0 + 1e-9) < 1.0 / cpa {
                return Err(invalid("target_cpa", format!("no allocation within the bounds reaches CPA {cpa}")));
            }
            lambda = l.max(lambda);
            binding.push("target_cpa".to_string());
        }
    }
    let x = alloc(lambda);
    let current: Vec<f64> = plan.channels.iter().map(|c| c.current).collect();
    let allocations: Vec<Allocation> = curves
        .iter()
        .zip(&x)
        .zip(&bounds)
        .zip(&current)
        .map(|(((c, &xi), &(lo, hi, wl, wh)), &cur)| {
            let bound = if (xi - lo).abs() <= 1e-9 * hi.max(1.0) && lo > 0.0
                || (xi - lo).abs() <= 1e-12 && v * c.marginal(lo) < lambda
            {
                Some(wl.to_string())
            } else if (xi - hi).abs() <= 1e-9 * hi.max(1.0) {
                Some(wh.to_string())
            } else {
                None
            };
            Allocation {
                channel: c.channel.clone(),
                current: cur,
                spend: xi,
                change: xi - cur,
                incremental_outcome: c.response(xi),
                marginal_roi: v * c.marginal(xi),
                bound,
            }
        })
        .collect();
    for a in &allocations {
        if let Some(b) = &a.bound {
            binding.push(format!("{}:{b}", a.channel));
        }
    }
    // Uncertainty: with the curves' shapes fixed the incremental outcome is linear in the
    // channels' effects, Σ_c β_c h_c, so its variance is exactly hᵀ Σ_β h (the same interval the
    // counterfactual spend what-ifs report). It is conditional on the shapes.
    let idx: Vec<usize> =
        curves.iter().map(|c| model.curves.iter().position(|m| m.channel == c.channel).unwrap_or(0) + 1).collect();
    let cov = linalg::submatrix(model.covariance.view(), &idx);
    let sd = |h: &[f64]| -> f64 {
        let h = ndarray::ArrayView1::from(h);
        h.dot(&cov.dot(&h)).max(0.0).sqrt()
    };
    let h_opt: Vec<f64> = curves.iter().zip(&x).map(|(c, xi)| c.hill(*xi)).collect();
    let h_gain: Vec<f64> =
        curves.iter().zip(x.iter().zip(&current)).map(|(c, (a, b))| c.hill(*a) - c.hill(*b)).collect();
    let z95 = crate::dist::normal_critical(0.05);
    let ci = |v: f64, s: f64| (v - z95 * s, v + z95 * s);
    let inc = outcome(&x);
    let cur_out = outcome(&current);
    let total = spend(&x);
    let free: Vec<&Allocation> = allocations.iter().filter(|a| a.bound.is_none()).collect();
    Ok(PlanResult {
        total_spend: total,
        incremental_outcome: inc,
        incremental_outcome_ci: ci(inc, sd(&h_opt)),
        current_outcome: cur_out,
        gain: inc - cur_out,
        gain_ci: ci(inc - cur_out, sd(&h_gain)),
        roas: v * inc / total.max(1e-300),
        cpa: total / inc.max(1e-300),
        marginal_return: if free.is_empty() {
            lambda
        } else {
            free.iter().map(|a| a.marginal_roi).sum::<f64>() / free.len() as f64
        },
        binding,
        periods: plan.periods,
        total_over_periods: TotalOverPeriods { spend: total * plan.periods, incremental_outcome: inc * plan.periods },
        allocations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> Vec<Curve> {
        let c = |name: &str, beta: f64, k: f64, s: f64, theta: f64| Curve {
            channel: name.into(),
            beta,
            beta_se: 0.0,
            half_saturation: k,
            shape: s,
            adstock: theta,
        };
        vec![
            c("meta", 400.0, 5000.0, 0.85, 0.4),
            c("google", 300.0, 2000.0, 1.0, 0.2),
            c("tiktok", 150.0, 3000.0, 0.7, 0.6),
        ]
    }

    /// 156 weeks of spend varying around a level, outcome from the true curves plus noise.
    fn history(rng: &mut Rng, weeks: usize, noise: f64) -> (Vec<f64>, Vec<ChannelSpend>) {
        let curves = truth();
        let levels = [5000.0, 2000.0, 3000.0];
        let spends: Vec<Vec<f64>> =
            levels.iter().map(|l| (0..weeks).map(|_| l * (0.3 + 1.4 * rng.uniform())).collect()).collect();
        let mut y = vec![1000.0; weeks];
        for (c, x) in curves.iter().zip(&spends) {
            for (t, a) in adstock(x, c.adstock).iter().enumerate() {
                y[t] += c.beta * hill(*a, c.half_saturation, c.shape);
            }
        }
        y.iter_mut().for_each(|v| *v += noise * rng.normal());
        (y, curves.iter().zip(spends).map(|(c, s)| ChannelSpend { channel: c.channel.clone(), spend: s }).collect())
    }

    /// The fitted curves reproduce the true incremental response over the range of spend seen
    /// (the base and the curves' level at zero are not separately identified when spend never
    /// stops; the increments the optimiser uses are).
    #[test]
    fn fit_recovers_the_response() {
        let mut rng = Rng::new(8);
        let (y, ch) = history(&mut rng, 156, 10.0);
        let m = fit(&y, &ch, &[]).unwrap();
        assert!(m.r_squared > 0.9, "{}", m.r_squared);
        for ((est, tru), level) in m.curves.iter().zip(truth()).zip([5000.0, 2000.0, 3000.0]) {
            let (lo, hi) = (0.7 * level, 1.3 * level);
            let (a, b) = (est.response(hi) - est.response(lo), tru.response(hi) - tru.response(lo));
            eprintln!("{}: increment {a:.2} vs true {b:.2}", tru.channel);
            assert!((a - b).abs() < 0.2 * b + 5.0, "{}: {a} vs {b}", tru.channel);
        }
    }

    /// A lift estimate calibrates a channel the history barely identifies (spend almost
    /// constant): its curve moves to agree with the experiment.
    #[test]
    fn a_lift_calibrates_a_weakly_identified_channel() {
        let mut rng = Rng::new(9);
        let (y, mut ch) = history(&mut rng, 104, 40.0);
        // tiktok's spend barely moved.
        let tt = truth()[2].clone();
        let flat: Vec<f64> = (0..104).map(|_| 3000.0 * (0.97 + 0.06 * rng.uniform())).collect();
        let mut y2 = y.clone();
        let old = adstock(&ch[2].spend, tt.adstock);
        let new = adstock(&flat, tt.adstock);
        for t in 0..104 {
            y2[t] +=
                tt.beta * (hill(new[t], tt.half_saturation, tt.shape) - hill(old[t], tt.half_saturation, tt.shape));
        }
        ch[2].spend = flat;
        let true_lift = (tt.response(4500.0) - tt.response(3000.0)) * 4.0;
        let lift = Lift {
            channel: "tiktok".into(),
            spend_from: 3000.0,
            spend_to: 4500.0,
            periods: 4.0,
            incremental: true_lift,
            std_error: 0.1 * true_lift,
        };
        let plain = fit(&y2, &ch, &[]).unwrap();
        let cal = fit(&y2, &ch, &[lift]).unwrap();
        let pred = |m: &FittedModel| {
            let c = &m.curves[2];
            (c.response(4500.0) - c.response(3000.0)) * 4.0
        };
        let (p0, p1) = (pred(&plain), pred(&cal));
        assert!((p1 - true_lift).abs() < 0.2 * true_lift, "calibrated {p1} vs {true_lift}");
        assert!((p1 - true_lift).abs() <= (p0 - true_lift).abs() + 1e-9, "{p1} vs uncalibrated {p0}");
        assert!(cal.curves[2].beta_se < plain.curves[2].beta_se);
        assert_eq!(cal.calibration.len(), 1);
    }

    fn model() -> FittedModel {
        let curves = truth();
        let k = curves.len() + 1;
        let mut cov = Array2::zeros((k, k));
        for (j, c) in curves.iter().enumerate() {
            cov[[j + 1, j + 1]] = (0.1 * c.beta).powi(2);
        }
        FittedModel {
            base: 1000.0,
            curves,
            covariance: cov,
            residual_sd: 10.0,
            r_squared: 0.95,
            calibration: vec![],
            n_obs: 100,
        }
    }

    fn plan(objective: Objective, budget: Option<f64>) -> Plan {
        let channels = vec![
            ChannelBounds { channel: "meta".into(), current: 5000.0, min: Some(1000.0), max: None },
            ChannelBounds { channel: "google".into(), current: 2000.0, min: None, max: Some(3000.0) },
            ChannelBounds { channel: "tiktok".into(), current: 3000.0, min: None, max: None },
        ];
        Plan { periods: 4.0, seed: 1, ..Plan::new(objective, budget, channels) }
    }

    /// The optimum for a budget equals a brute-force search over allocations (grid of 50
    /// spend units), marginal returns are equal where no bound holds, and bounds bind.
    #[test]
    fn max_outcome_matches_brute_force() {
        let m = model();
        let p = plan(Objective::MaxOutcome, Some(10_000.0));
        let r = optimize(&m, &p).unwrap();
        assert!((r.total_spend - 10_000.0).abs() < 1e-6);
        let f = |a: f64, b: f64, c: f64| m.curves[0].response(a) + m.curves[1].response(b) + m.curves[2].response(c);
        let mut best = f64::NEG_INFINITY;
        let step = 50.0;
        let mut a = 1000.0;
        while a <= 10_000.0 {
            let mut b = 0.0;
            while b <= 3000.0 && a + b <= 10_000.0 {
                best = best.max(f(a, b, 10_000.0 - a - b));
                b += step;
            }
            a += step;
        }
        assert!(r.incremental_outcome >= best - 1e-9, "{} < brute force {best}", r.incremental_outcome);
        assert!(r.incremental_outcome - best < 0.01 * best);
        let free: Vec<&Allocation> = r.allocations.iter().filter(|a| a.bound.is_none()).collect();
        for a in &free {
            assert!((a.marginal_roi - free[0].marginal_roi).abs() < 1e-6 * free[0].marginal_roi);
        }
        assert!(r.binding.contains(&"budget".to_string()));
        assert!(
            r.incremental_outcome_ci.0 < r.incremental_outcome && r.incremental_outcome < r.incremental_outcome_ci.1
        );
        assert!((r.total_over_periods.spend - 40_000.0).abs() < 1e-6);
        // A tight max_change binds on the channels it holds.
        let r2 = optimize(&m, &Plan { max_change: Some(0.1), ..p.clone() }).unwrap();
        for a in &r2.allocations {
            assert!((a.spend - a.current).abs() <= 0.1 * a.current + 1e-6);
        }
        assert!(r2.binding.iter().any(|b| b.ends_with(":max_change")));
    }

    #[test]
    fn profit_min_spend_and_efficiency_targets() {
        let m = model();
        // Profit with revenue per conversion 60: marginal ROI = 1 where unconstrained.
        let r = optimize(&m, &Plan { value_per_outcome: 60.0, ..plan(Objective::MaxProfit, None) }).unwrap();
        for a in r.allocations.iter().filter(|a| a.bound.is_none()) {
            assert!((a.marginal_roi - 1.0).abs() < 1e-6, "{a:?}");
        }
        // Least spend for 500 incremental conversions per period.
        let r = optimize(&m, &plan(Objective::MinSpend { target: 500.0 }, None)).unwrap();
        assert!((r.incremental_outcome - 500.0).abs() < 1e-6);
        let r_more = optimize(&m, &plan(Objective::MaxOutcome, Some(r.total_spend))).unwrap();
        assert!(
            (r_more.incremental_outcome - 500.0).abs() < 1e-3,
            "the min-spend plan is the max-outcome plan at its spend"
        );
        // A ROAS target cuts spend until it holds.
        let base =
            optimize(&m, &Plan { value_per_outcome: 60.0, ..plan(Objective::MaxOutcome, Some(20_000.0)) }).unwrap();
        let target = base.roas * 1.3;
        let r = optimize(
            &m,
            &Plan { value_per_outcome: 60.0, target_roas: Some(target), ..plan(Objective::MaxOutcome, Some(20_000.0)) },
        )
        .unwrap();
        assert!(r.roas >= target * (1.0 - 1e-6) && r.total_spend < 20_000.0);
        assert!(r.binding.contains(&"target_roas".to_string()));
        let cpa =
            optimize(&m, &Plan { target_cpa: Some(base.cpa * 0.8), ..plan(Objective::MaxOutcome, Some(20_000.0)) })
                .unwrap();
        assert!(cpa.cpa <= base.cpa * 0.8 * (1.0 + 1e-6));
        // Errors name the field.
        assert_eq!(optimize(&m, &plan(Objective::MaxOutcome, None)).unwrap_err().field, "budget");
        assert_eq!(optimize(&m, &plan(Objective::MaxOutcome, Some(500.0))).unwrap_err().field, "budget");
        assert_eq!(
            optimize(&m, &plan(Objective::MinSpend { target: 1e9 }, None)).unwrap_err().field,
            "objective.target"
        );
    }
}
