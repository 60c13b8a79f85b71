//! Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens and Wager 2021),
//! ported from R `synthdid` (`synthdid_estimate`, `sc.weight.fw`, `vcov.synthdid_estimate`).
//!
//! - A balanced panel, one block of treated units adopting at a common time (absorbing).
//! - Unit weights `omega` (controls, on the simplex, with an intercept) make the controls'
//!   pre-period path parallel to the treated units' average; the paper's ridge penalty
//!   `zeta_omega = (N1 T1)^(1/4) * sigma`, sigma the standard deviation of the controls'
//!   first differences in the pre-period. Time weights `lambda` (pre-periods, on the simplex,
//!   with an intercept, `zeta_lambda = 1e-6 * sigma`) make the weighted pre-period predict the
//!   post-period average for the controls.
//! - Both by Frank-Wolfe as `sc.weight.fw`: 100 iterations, the weights at or below a quarter of
//!   their maximum set to zero (`sparsify`), then up to 10,000 more; stop when the objective
//!   falls by less than `(1e-5 sigma)^2`.
//! - The estimate: `(Ybar_tr,post - sum_t lambda_t Ybar_tr,t) - sum_i omega_i (Ybar_i,post -
//!   sum_t lambda_t Y_i,t)`.
//! - Standard errors as `vcov.synthdid_estimate`: placebo (Algorithm 4: N1 controls drawn as
//!   placebo-treated, weights re-fitted from the estimate's, warm-started, with its penalties),
//!   bootstrap (units drawn with replacement, draws with no treated or no control unit redrawn)
//!   and jackknife (each unit left out, weights kept; needs two treated units). The interval
//!   and p-value are normal, as `confint` on a synthdid estimate.

#![allow(clippy::needless_range_loop)] // index loops over small dense blocks read clearest here

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::dist;
use crate::inference::Inference;
use crate::parallel;
use crate::rng::Rng;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SdidError {
    #[error("{message}")]
    InvalidInput { column: String, message: String },
}

fn invalid(column: &str, message: impl Into<String>) -> SdidError {
    SdidError::InvalidInput { column: column.into(), message: message.into() }
}

/// How the standard error is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SdidSe {
    #[default]
    Placebo,
    Bootstrap,
    Jackknife,
}

impl SdidSe {
    pub fn name(self) -> &'static str {
        match self {
            SdidSe::Placebo => "placebo",
            SdidSe::Bootstrap => "bootstrap",
            SdidSe::Jackknife => "jackknife",
        }
    }
}

/// Fewer distinct placebo assignments than this are named in the inference.
const FEW_PLACEBOS: u64 = 20;

/// The most replications a placebo or bootstrap standard error may ask for.
pub const MAX_REPLICATIONS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct SdidSettings {
    pub se: SdidSe,
    /// Placebo and bootstrap draws (ignored by the jackknife).
    pub replications: usize,
    pub seed: u64,
    pub alpha: f64,
}

impl Default for SdidSettings {
    fn default() -> Self {
        Self { se: SdidSe::Placebo, replications: 200, seed: 20261201, alpha: 0.05 }
    }
}

/// Long data: one row per unit and period; `treatment` is 1 for a treated unit from its
/// adoption on, 0 otherwise.
#[derive(Debug, Clone)]
pub struct SdidInput {
    pub unit: Vec<String>,
    pub time: Vec<i64>,
    pub outcome: Vec<f64>,
    pub treatment: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UnitWeight {
    pub unit: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TimeWeight {
    pub time: i64,
    pub weight: f64,
}

/// One period of the treated units' average against its synthetic-control counterpart (the
/// controls weighted by `omega`, shifted by the weighted pre-period difference).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SdidPath {
    pub time: i64,
    pub treated: f64,
    pub synthetic: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SdidResult {
    pub method: String,
    pub estimator: String,
    /// The average effect on the treated units over the post-period; the standard error by
    /// `se_method`, the interval and p-value normal.
    #[serde(flatten)]
    pub inference: Inference,
    pub se_method: SdidSe,
    /// Placebo or bootstrap draws (absent for the jackknife).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replications: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub treated_units: Vec<String>,
    pub treatment_time: i64,
    pub n_treated: usize,
    pub n_control: usize,
    pub pre_periods: usize,
    pub post_periods: usize,
    /// Control units' weights (they sum to 1).
    pub unit_weights: Vec<UnitWeight>,
    /// Pre-periods' weights (they sum to 1).
    pub time_weights: Vec<TimeWeight>,
    /// The standard deviation of the controls' pre-period first differences, and the penalties
    /// it scales.
    pub noise_level: f64,
    pub zeta_omega: f64,
    pub zeta_lambda: f64,
    /// Plain difference-in-differences on the same panel (equal weights), for comparison.
    pub did_estimate: f64,
    /// The treated average and its synthetic counterpart per period (the paper's figure).
    pub path: Vec<SdidPath>,
}

crate::impl_estimate!(SdidResult);

/// The panel as a matrix: controls first (sorted), then treated units (sorted); periods sorted.
struct Panel {
    y: Vec<Vec<f64>>,
    units: Vec<String>,
    times: Vec<i64>,
    n0: usize,
    t0: usize,
}

fn panel(input: &SdidInput) -> Result<Panel, SdidError> {
    let n = input.unit.len();
    if input.time.len() != n || input.outcome.len() != n || input.treatment.len() != n {
        return Err(invalid("unit", "unit, time, outcome and treatment must have the same length"));
    }
    if n == 0 {
        return Err(invalid("unit", "the data has no rows"));
    }
    let times: Vec<i64> = input.time.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let labels: BTreeSet<&str> = input.unit.iter().map(String::as_str).collect();
    let t_index: HashMap<i64, usize> = times.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let mut cells: HashMap<&str, Vec<Option<(f64, f64)>>> =
        labels.iter().map(|&u| (u, vec![None; times.len()])).collect();
    for i in 0..n {
        let (y, d) = (input.outcome[i], input.treatment[i]);
        if !y.is_finite() {
            return Err(invalid("outcome", format!("outcome: row {} is missing or not finite", i + 1)));
        }
        if d != 0.0 && d != 1.0 {
            return Err(invalid("treatment", format!("treatment: row {} is {d}, not 0 or 1", i + 1)));
        }
        let slot = &mut cells.get_mut(input.unit[i].as_str()).expect("every label has a row")[t_index[&input.time[i]]];
        if slot.is_some() {
            return Err(invalid("unit", format!("unit: {} has two rows for period {}", input.unit[i], input.time[i])));
        }
        *slot = Some((y, d));
    }
    let mut controls = vec![];
    let mut treated = vec![];
    let mut adoption: Option<usize> = None;
    for &u in &labels {
        let row = &cells[u];
        if let Some(t) = row.iter().position(Option::is_none) {
            return Err(invalid(
                "time",
                format!("time: the panel must be balanced; {u} has no row for period {}", times[t]),
            ));
        }
        let d: Vec<f64> = row.iter().map(|c| c.map_or(0.0, |c| c.1)).collect();
        match d.iter().position(|&v| v == 1.0) {
            None => controls.push(u),
            Some(first) => {
                if d[first..].iter().any(|&v| v != 1.0) {
                    return Err(invalid(
                        "treatment",
                        format!("treatment: {u} switches treatment off; synthetic DiD needs treatment to stay on"),
                    ));
                }
                match adoption {
                    Some(a) if a != first => {
                        return Err(invalid(
                            "treatment",
                            format!(
                                "treatment: treated units adopt at {} and {}; synthetic DiD here needs one common \
                                 adoption time (fit each cohort separately, or use did with --cohort)",
                                times[a], times[first]
                            ),
                        ))
                    }
                    _ => adoption = Some(first),
                }
                treated.push(u);
            }
        }
    }
    let Some(t0) = adoption else {
        return Err(invalid("treatment", "treatment: no unit is ever treated"));
    };
    if t0 < 2 {
        return Err(invalid("treatment", "treatment: synthetic DiD needs at least two pre-treatment periods"));
    }
    if controls.len() < 2 {
        return Err(invalid("treatment", "treatment: synthetic DiD needs at least two never-treated units"));
    }
    let n0 = controls.len();
    let order: Vec<&str> = controls.into_iter().chain(treated).collect();
    let y = order.iter().map(|u| cells[u].iter().map(|c| c.map_or(f64::NAN, |c| c.0)).collect()).collect();
    Ok(Panel { y, units: order.iter().map(|s| s.to_string()).collect(), times, n0, t0 })
}

/// Penalties and the stopping rule, fixed by the estimate and reused by its placebo and
/// bootstrap re-fits (as `attr(estimate, 'opts')`).
#[derive(Debug, Clone, Copy)]
struct Opts {
    zeta_omega: f64,
    zeta_lambda: f64,
    min_decrease: f64,
}

const MAX_ITER_PRE_SPARSIFY: usize = 100;
const MAX_ITER: usize = 10_000;

/// One Frank-Wolfe step of `sc.weight.fw` (exact line search) on min |A x - b|^2 + eta |x|^2
/// over the simplex; `a` is row-major, `rows` x `k`.
fn fw_step(a: &[f64], rows: usize, k: usize, b: &[f64], x: &mut [f64], ax: &mut [f64], eta: f64) {
    let mut half_grad = vec![0.0; k];
    for r in 0..rows {
        let e = ax[r] - b[r];
        let row = &a[r * k..(r + 1) * k];
        for j in 0..k {
            half_grad[j] += e * row[j];
        }
    }
    for j in 0..k {
        half_grad[j] += eta * x[j];
    }
    let mut i = 0;
    for j in 1..k {
        if half_grad[j] < half_grad[i] {
            i = j;
        }
    }
    // d_x = e_i - x
    let mut num = 0.0;
    let mut dx2 = 0.0;
    let mut moves = false;
    for j in 0..k {
        let d = if j == i { 1.0 - x[j] } else { -x[j] };
        moves |= d != 0.0;
        num -= half_grad[j] * d;
        dx2 += d * d;
    }
    if !moves {
        return;
    }
    let mut derr2 = 0.0;
    for r in 0..rows {
        let d = a[r * k + i] - ax[r];
        derr2 += d * d;
    }
    let step = (num / (derr2 + eta * dx2)).clamp(0.0, 1.0);
    if step.is_nan() {
        return;
    }
    for j in 0..k {
        let d = if j == i { 1.0 - x[j] } else { -x[j] };
        x[j] += step * d;
    }
    for r in 0..rows {
        ax[r] += step * (a[r * k + i] - ax[r]);
    }
}

/// `sc.weight.fw` with an intercept: the columns of `[A | b]` centred, then Frank-Wolfe from
/// `x` until the objective falls by less than `min_decrease^2` (after at least two steps).
fn sc_weight_fw(a: &[Vec<f64>], b: &[f64], x: Vec<f64>, zeta: f64, min_decrease: f64, max_iter: usize) -> Vec<f64> {
    let rows = a.len();
    let k = x.len();
    let mut am = vec![0.0; rows * k];
    for j in 0..k {
        let mean = a.iter().map(|r| r[j]).sum::<f64>() / rows as f64;
        for r in 0..rows {
            am[r * k + j] = a[r][j] - mean;
        }
    }
    let bmean = b.iter().sum::<f64>() / rows as f64;
    let bc: Vec<f64> = b.iter().map(|v| v - bmean).collect();
    let eta = rows as f64 * zeta * zeta;
    let mut x = x;
    let mut ax: Vec<f64> = (0..rows).map(|r| (0..k).map(|j| am[r * k + j] * x[j]).sum()).collect();
    let mut prev = f64::INFINITY;
    for t in 0..max_iter {
        fw_step(&am, rows, k, &bc, &mut x, &mut ax, eta);
        let err2: f64 = ax.iter().zip(&bc).map(|(p, q)| (p - q) * (p - q)).sum();
        let val = zeta * zeta * x.iter().map(|v| v * v).sum::<f64>() + err2 / rows as f64;
        if t >= 1 && prev - val <= min_decrease * min_decrease {
            break;
        }
        prev = val;
    }
    x
}

fn sparsify(v: &[f64]) -> Vec<f64> {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = v.iter().map(|&x| if x <= max / 4.0 { 0.0 } else { x }).collect();
    sum_normalize(&w)
}

fn sum_normalize(v: &[f64]) -> Vec<f64> {
    let s: f64 = v.iter().sum();
    if s != 0.0 {
        v.iter().map(|x| x / s).collect()
    } else {
        vec![1.0 / v.len() as f64; v.len()]
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n as f64
}

/// Fitted weights on a panel (rows: n0 controls then treated).
#[derive(Debug, Clone)]
struct Weights {
    omega: Vec<f64>,
    lambda: Vec<f64>,
}

/// `synthdid_estimate`'s weights for `y` (controls first), from `start` when given.
fn fit_weights(y: &[&[f64]], n0: usize, t0: usize, opts: Opts, start: Option<&Weights>) -> Weights {
    let n = y.len();
    // Collapsed form: controls' post-period means and treated units' pre-period means.
    let ctrl_post: Vec<f64> = (0..n0).map(|i| mean(y[i][t0..].iter().copied())).collect();
    let tr_pre: Vec<f64> = (0..t0).map(|s| mean((n0..n).map(|i| y[i][s]))).collect();
    // lambda: rows are controls, columns pre-periods, b the post mean.
    let a_l: Vec<Vec<f64>> = (0..n0).map(|i| y[i][..t0].to_vec()).collect();
    let lambda0 = start.map_or_else(|| vec![1.0 / t0 as f64; t0], |w| w.lambda.clone());
    let l = sc_weight_fw(&a_l, &ctrl_post, lambda0, opts.zeta_lambda, opts.min_decrease, MAX_ITER_PRE_SPARSIFY);
    let lambda = sc_weight_fw(&a_l, &ctrl_post, sparsify(&l), opts.zeta_lambda, opts.min_decrease, MAX_ITER);
    // omega: rows are pre-periods, columns controls, b the treated average.
    let a_o: Vec<Vec<f64>> = (0..t0).map(|s| (0..n0).map(|i| y[i][s]).collect()).collect();
    let omega0 = start.map_or_else(|| vec![1.0 / n0 as f64; n0], |w| w.omega.clone());
    let o = sc_weight_fw(&a_o, &tr_pre, omega0, opts.zeta_omega, opts.min_decrease, MAX_ITER_PRE_SPARSIFY);
    let omega = sc_weight_fw(&a_o, &tr_pre, sparsify(&o), opts.zeta_omega, opts.min_decrease, MAX_ITER);
    Weights { omega, lambda }
}

/// `[-omega, 1/N1] Y [-lambda, 1/T1]`.
fn tau(y: &[&[f64]], n0: usize, t0: usize, w: &Weights) -> f64 {
    let n = y.len();
    let t = y[0].len();
    let n1 = (n - n0) as f64;
    let t1 = (t - t0) as f64;
    let mut total = 0.0;
    for (i, row) in y.iter().enumerate() {
        let wi = if i < n0 { -w.omega[i] } else { 1.0 / n1 };
        if wi == 0.0 {
            continue;
        }
        let pre: f64 = row[..t0].iter().zip(&w.lambda).map(|(v, l)| v * l).sum();
        let post: f64 = row[t0..].iter().sum::<f64>() / t1;
        total += wi * (post - pre);
    }
    total
}

fn noise_level(y: &[&[f64]], n0: usize, t0: usize) -> f64 {
    let diffs: Vec<f64> = (0..n0).flat_map(|i| (1..t0).map(move |s| y[i][s] - y[i][s - 1])).collect();
    let m = mean(diffs.iter().copied());
    let var = diffs.iter().map(|d| (d - m) * (d - m)).sum::<f64>() / (diffs.len() as f64 - 1.0);
    var.sqrt()
}

/// The estimate with freshly fitted weights (the penalties from this panel).
fn estimate(y: &[&[f64]], n0: usize, t0: usize) -> (f64, Weights, Opts, f64) {
    let n1 = y.len() - n0;
    let t1 = y[0].len() - t0;
    let sigma = noise_level(y, n0, t0);
    let eta_omega = ((n1 * t1) as f64).powf(0.25);
    let opts = Opts { zeta_omega: eta_omega * sigma, zeta_lambda: 1e-6 * sigma, min_decrease: 1e-5 * sigma };
    let w = fit_weights(y, n0, t0, opts, None);
    (tau(y, n0, t0, &w), w, opts, sigma)
}

fn population_sd(v: &[f64]) -> f64 {
    let m = mean(v.iter().copied());
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

fn standard_error(
    y: &[&[f64]],
    n0: usize,
    t0: usize,
    w: &Weights,
    opts: Opts,
    s: &SdidSettings,
) -> Result<f64, SdidError> {
    let n = y.len();
    let n1 = n - n0;
    let seeds: Vec<u64> = {
        let mut rng = Rng::new(s.seed);
        (0..s.replications).map(|_| rng.next_u64()).collect()
    };
    // The estimate on the rows `ind` (the first `n0b` of them controls), weights re-fitted from
    // the estimate's (R's warm start: omega renormalised over the controls drawn, lambda as is).
    let refit = |ind: &[usize], n0b: usize| -> f64 {
        let rows: Vec<&[f64]> = ind.iter().map(|&i| y[i]).collect();
        let start = Weights {
            omega: sum_normalize(&ind[..n0b].iter().map(|&i| w.omega[i]).collect::<Vec<_>>()),
            lambda: w.lambda.clone(),
        };
        let wb = fit_weights(&rows, n0b, t0, opts, Some(&start));
        tau(&rows, n0b, t0, &wb)
    };
    let draws = match s.se {
        SdidSe::Jackknife => {
            if n1 < 2 {
                return Err(invalid(
                    "se",
                    "se: the jackknife needs at least two treated units (use placebo or bootstrap)",
                ));
            }
            let u: Vec<f64> = (0..n)
                .map(|drop| {
                    let rows: Vec<&[f64]> = (0..n).filter(|&i| i != drop).map(|i| y[i]).collect();
                    let (n0b, omega) = if drop < n0 {
                        let o: Vec<f64> = (0..n0).filter(|&i| i != drop).map(|i| w.omega[i]).collect();
                        (n0 - 1, sum_normalize(&o))
                    } else {
                        (n0, w.omega.clone())
                    };
                    tau(&rows, n0b, t0, &Weights { omega, lambda: w.lambda.clone() })
                })
                .collect();
            // sqrt(((n - 1) / n) * (n - 1) * var(u))
            let m = mean(u.iter().copied());
            let ss: f64 = u.iter().map(|x| (x - m) * (x - m)).sum();
            return Ok(((n as f64 - 1.0) / n as f64 * ss).sqrt());
        }
        SdidSe::Placebo => {
            if n0 <= n1 {
                return Err(invalid(
                    "se",
                    format!("se: placebo needs more control units ({n0}) than treated units ({n1})"),
                ));
            }
            parallel::map(&seeds, |&seed| {
                let mut rng = Rng::new(seed);
                let mut ind: Vec<usize> = (0..n0).collect();
                shuffle(&mut ind, &mut rng);
                refit(&ind, n0 - n1)
            })
        }
        SdidSe::Bootstrap if n1 < 2 => {
            return Err(invalid(
                "se",
                "se: the bootstrap needs at least two treated units, as in R synthdid (use placebo)",
            ))
        }
        SdidSe::Bootstrap => parallel::map(&seeds, |&seed| {
            let mut rng = Rng::new(seed);
            let ind = loop {
                let mut ind: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
                let controls = ind.iter().filter(|&&i| i < n0).count();
                if controls > 0 && controls < n {
                    ind.sort_unstable();
                    break ind;
                }
            };
            refit(&ind, ind.iter().filter(|&&i| i < n0).count())
        }),
    }
    .map_err(|e| invalid("se", format!("se: a replication failed: {e}")))?;
    Ok(population_sd(&draws))
}

fn shuffle(v: &mut [usize], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}

pub fn fit(input: &SdidInput, s: &SdidSettings) -> Result<SdidResult, SdidError> {
    if !(s.alpha > 0.0 && s.alpha < 1.0) {
        return Err(invalid("alpha", "alpha must be in (0, 1)"));
    }
    if s.se != SdidSe::Jackknife && !(2..=MAX_REPLICATIONS).contains(&s.replications) {
        return Err(invalid("replications", format!("replications: 2 to {MAX_REPLICATIONS}")));
    }
    let p = panel(input)?;
    let y: Vec<&[f64]> = p.y.iter().map(Vec::as_slice).collect();
    let (n0, t0) = (p.n0, p.t0);
    let (n, t) = (y.len(), p.times.len());
    let (est, w, opts, sigma) = estimate(&y, n0, t0);
    if !est.is_finite() {
        return Err(invalid("outcome", "outcome: the estimate is not finite (a constant or degenerate panel?)"));
    }
    let se = standard_error(&y, n0, t0, &w, opts, s)?;
    let z = dist::normal_critical(s.alpha);
    let p_value = if se > 0.0 { dist::normal_p_value(est / se) } else { f64::NAN };
    let n1 = n - n0;
    let did = tau(&y, n0, t0, &Weights { omega: vec![1.0 / n0 as f64; n0], lambda: vec![1.0 / t0 as f64; t0] });
    // The synthetic path: omega-weighted controls shifted by the lambda-weighted pre-period gap.
    let tr: Vec<f64> = (0..t).map(|s| mean((n0..n).map(|i| y[i][s]))).collect();
    let sc: Vec<f64> = (0..t).map(|s| (0..n0).map(|i| w.omega[i] * y[i][s]).sum()).collect();
    let shift: f64 = (0..t0).map(|s| w.lambda[s] * (tr[s] - sc[s])).sum();
    let path = (0..t).map(|s| SdidPath { time: p.times[s], treated: tr[s], synthetic: sc[s] + shift }).collect();
    let (reps, seed) = match s.se {
        SdidSe::Jackknife => (None, None),
        _ => (Some(s.replications), Some(s.seed)),
    };
    let words = match s.se {
        SdidSe::Placebo => {
            // With few controls the draws repeat a handful of placebo assignments (fewer than
            // 20, and fewer than the draws): say how many the standard error can rest on.
            let distinct = (0..n1).try_fold(1u64, |c, i| c.checked_mul((n0 - i) as u64).map(|c| c / (i as u64 + 1)));
            let few = match distinct {
                Some(k) if k < FEW_PLACEBOS.min(s.replications as u64) => format!(
                    "; {n0} controls and {n1} treated allow only {k} distinct placebo assignments, so the standard error is estimated from at most {k} values, which the normal interval and p-value take as known"
                ),
                _ => String::new(),
            };
            format!(
                "placebo standard error ({} draws, each with {n1} control unit{} as placebo-treated, weights re-fitted); \
                 normal interval and p-value{few}",
                s.replications,
                if n1 == 1 { "" } else { "s" }
            )
        }
        SdidSe::Bootstrap => format!(
            "unit bootstrap standard error ({} draws, weights re-fitted); normal interval and p-value",
            s.replications
        ),
        SdidSe::Jackknife => {
            "jackknife standard error (each unit left out, weights kept); normal interval and p-value".to_string()
        }
    };
    Ok(SdidResult {
        method: "sdid".into(),
        estimator: "synthetic_did".into(),
        inference: Inference::with_interval(est, se, z, p_value, n * t, words),
        se_method: s.se,
        replications: reps,
        seed,
        treated_units: p.units[n0..].to_vec(),
        treatment_time: p.times[t0],
        n_treated: n1,
        n_control: n0,
        pre_periods: t0,
        post_periods: t - t0,
        unit_weights: (0..n0).map(|i| UnitWeight { unit: p.units[i].clone(), weight: w.omega[i] }).collect(),
        time_weights: (0..t0).map(|s| TimeWeight { time: p.times[s], weight: w.lambda[s] }).collect(),
        noise_level: sigma,
        zeta_omega: opts.zeta_omega,
        zeta_lambda: opts.zeta_lambda,
        did_estimate: did,
        path,
    })
}

/// The weights as maps (for callers that look units up).
pub fn unit_weight_map(r: &SdidResult) -> BTreeMap<String, f64> {
    r.unit_weights.iter().map(|w| (w.unit.clone(), w.weight)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n0: usize, n1: usize, t0: usize, t1: usize, effect: f64) -> SdidInput {
        let mut input = SdidInput { unit: vec![], time: vec![], outcome: vec![], treatment: vec![] };
        for i in 0..n0 + n1 {
            for s in 0..t0 + t1 {
                let treated = i >= n0 && s >= t0;
                input.unit.push(format!("u{i:02}"));
                input.time.push(s as i64);
                let noise = ((i * 7 + s * 13) % 11) as f64 / 11.0;
                input.outcome.push(i as f64 + 0.5 * s as f64 + noise + if treated { effect } else { 0.0 });
                input.treatment.push(if treated { 1.0 } else { 0.0 });
            }
        }
        input
    }

    #[test]
    fn weights_are_on_the_simplex_and_the_jackknife_needs_two_treated() {
        let r = fit(&block(12, 2, 8, 4, 3.0), &SdidSettings { se: SdidSe::Jackknife, ..Default::default() }).unwrap();
        let so: f64 = r.unit_weights.iter().map(|w| w.weight).sum();
        let sl: f64 = r.time_weights.iter().map(|w| w.weight).sum();
        assert!((so - 1.0).abs() < 1e-12 && (sl - 1.0).abs() < 1e-12);
        assert!(r.unit_weights.iter().all(|w| w.weight >= 0.0));
        assert!((r.inference.estimate - 3.0).abs() < 0.5, "{}", r.inference.estimate);
        let e = fit(&block(12, 1, 8, 4, 3.0), &SdidSettings { se: SdidSe::Jackknife, ..Default::default() });
        assert!(matches!(e, Err(SdidError::InvalidInput { column, .. }) if column == "se"));
    }

    /// Four controls and two treated allow C(4, 2) = 6 placebo assignments: 200 draws repeat
    /// them, and the inference says the standard error is estimated from at most 6 values (as
    /// for five controls and one treated, but not with 5 draws). With 12 controls (66
    /// assignments), or 38 and one treated (Proposition 99's), nothing to add.
    #[test]
    fn a_placebo_standard_error_from_few_assignments_says_so() {
        let r = fit(&block(4, 2, 8, 4, 3.0), &SdidSettings::default()).unwrap();
        assert!(
            r.inference.inference.ends_with("4 controls and 2 treated allow only 6 distinct placebo assignments, so the standard error is estimated from at most 6 values, which the normal interval and p-value take as known"),
            "{}",
            r.inference.inference
        );
        let r = fit(&block(12, 2, 8, 4, 3.0), &SdidSettings { replications: 50, ..Default::default() }).unwrap();
        assert!(r.inference.inference.ends_with("normal interval and p-value"), "{}", r.inference.inference);
        let r = fit(&block(5, 1, 8, 4, 3.0), &SdidSettings::default()).unwrap();
        assert!(
            r.inference.inference.contains("5 controls and 1 treated allow only 5 distinct"),
            "{}",
            r.inference.inference
        );
        let r = fit(&block(5, 1, 8, 4, 3.0), &SdidSettings { replications: 5, ..Default::default() }).unwrap();
        assert!(r.inference.inference.ends_with("normal interval and p-value"), "{}", r.inference.inference);
        let r = fit(&block(38, 1, 8, 4, 3.0), &SdidSettings { replications: 50, ..Default::default() }).unwrap();
        assert!(r.inference.inference.ends_with("normal interval and p-value"), "{}", r.inference.inference);
    }

    #[test]
    fn staggered_unbalanced_and_switching_panels_are_refused_naming_the_column() {
        let mut x = block(6, 2, 5, 3, 1.0);
        // The last treated unit adopts one period later.
        let last = x.unit.len() - 3;
        x.treatment[last] = 0.0;
        let e = fit(&x, &SdidSettings::default()).unwrap_err();
        assert!(matches!(&e, SdidError::InvalidInput { column, .. } if column == "treatment"), "{e}");
        let mut x = block(6, 2, 5, 3, 1.0);
        x.unit.pop();
        x.time.pop();
        x.outcome.pop();
        x.treatment.pop();
        let e = fit(&x, &SdidSettings::default()).unwrap_err();
        assert!(matches!(&e, SdidError::InvalidInput { column, .. } if column == "time"), "{e}");
        let e = fit(&block(6, 2, 5, 3, 1.0), &SdidSettings { replications: 0, ..Default::default() }).unwrap_err();
        assert!(matches!(&e, SdidError::InvalidInput { column, .. } if column == "replications"), "{e}");
    }
}
