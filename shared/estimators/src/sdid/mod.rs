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
//!   and p-value are normal, as `confint` on a synthdid estimate, except with few controls
//!   (fewer than 20 distinct placebo assignments, whatever the standard error), where they are
//!   Fisher's randomization test's over the assignments of the treated units among all units
//!   ([`Randomization`]).

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

/// With fewer distinct placebo assignments than this, the normal test on a standard error is far
/// from its level (simulated with no effect: 4 controls and 2 treated, the placebo's 5% test
/// rejected about half the panels; 5 and 2, a third (`few_controls_keep_the_randomization_tests_level`
/// in the simulation tests); 5 and 3, the jackknife's 21% and the bootstrap's 15% of 100), so
/// the p-value and interval come from the randomization test instead, whatever the standard
/// error.
const FEW_PLACEBOS: u64 = 20;

/// The most assignments the randomization test enumerates; beyond, `replications` of them (at
/// most `MAX_DRAWN`) are drawn at random, with the actual one. Each costs a fit at each of the
/// 20-30 effects the interval's inversion tries.
const MAX_ASSIGNMENTS: usize = 500;
const MAX_DRAWN: usize = 200;

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
    /// With few controls (fewer than 20 distinct placebo assignments), whatever the standard
    /// error, the randomization test that gives the result's `p_value`, `ci_low` and `ci_high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomization: Option<Randomization>,
    /// What the result's reader should know: few controls for the placebo standard error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Fisher's randomization test of a constant effect over the assignments of the treated units
/// among all units (each assignment's estimate with freshly fitted weights, the other units its
/// controls), valid when the units are exchangeable however few they are: the p-value is the
/// share of assignments whose estimate is at least as far from the effect tested as the actual
/// one's; the interval holds the constant effects not rejected (test inversion, bisection from
/// the estimate outwards). An end is absent where no effect on that side is rejected: with
/// fewer than `1 / alpha` assignments none can be.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Randomization {
    /// Assignments compared, the actual one included.
    pub assignments: usize,
    /// Every assignment (true), or the actual one and `replications` (at most 200) drawn at random.
    pub enumerated: bool,
    /// The interval's level.
    pub level: f64,
    /// The smallest p-value the assignments allow (1 / assignments).
    pub smallest_p_value: f64,
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
    let mut inference = Inference::with_interval(est, se, z, p_value, n * t, String::new());
    let mut randomization = None;
    let mut warnings = Vec::new();
    let standard_error = match s.se {
        SdidSe::Placebo => format!(
            "placebo standard error ({} draws, each with {n1} control unit{} as placebo-treated, weights re-fitted)",
            s.replications,
            if n1 == 1 { "" } else { "s" }
        ),
        SdidSe::Bootstrap => format!("unit bootstrap standard error ({} draws, weights re-fitted)", s.replications),
        SdidSe::Jackknife => "jackknife standard error (each unit left out, weights kept)".to_string(),
    };
    // With few controls (a handful of ways to choose the treated units' number of them) the
    // normal test on any of the three standard errors is far from its level: the randomization
    // test's p-value and interval instead.
    let distinct = choose(n0, n1);
    inference.inference = match distinct {
        Some(k) if k < FEW_PLACEBOS => {
            let test = RandomizationTest::new(&y, n0, t0, s);
            let r = test.run(est, se, sigma, s.alpha)?;
            let (a, smallest) = (r.randomization.assignments, r.randomization.smallest_p_value);
            let over = if r.randomization.enumerated {
                format!(
                    "all {a} assignments of the {n1} treated unit{} among the {n} units",
                    if n1 == 1 { "" } else { "s" }
                )
            } else {
                format!(
                    "the actual assignment and {} drawn at random of the {n1} treated units among the {n} units",
                    a - 1
                )
            };
            let unbounded = match (r.ci_low, r.ci_high) {
                (None, None) => format!(
                    "; with {a} assignments no p-value falls below {smallest:.3}, so at {}% no effect is rejected and the interval is unbounded",
                    100.0 * (1.0 - s.alpha)
                ),
                (None, Some(_)) | (Some(_), None) => "; the interval is unbounded on the side with no end".to_string(),
                _ => String::new(),
            };
            warnings.push(format!(
                "few controls: {n0} controls and {n1} treated allow only {k} distinct placebo assignments, too few for the {} standard error's normal interval and p-value; both are the randomization test's over {a} assignments, whose smallest possible p-value is {smallest:.3}",
                s.se.name()
            ));
            inference.ci_low = r.ci_low;
            inference.ci_high = r.ci_high;
            inference.p_value = Some(r.p_value);
            randomization = Some(r.randomization);
            format!(
                "{standard_error}, as R synthdid's; {n0} controls and {n1} treated allow only {k} distinct placebo assignments, too few for a normal interval and p-value from it: the p-value and interval are the randomization test's over {over} (weights re-fitted for each; the interval by test inversion under a constant effect){unbounded}"
            )
        }
        _ => format!("{standard_error}; normal interval and p-value"),
    };
    Ok(SdidResult {
        method: "sdid".into(),
        estimator: "synthetic_did".into(),
        inference,
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
        randomization,
        warnings,
    })
}

/// C(n, k), the ways to choose k of n (0 when k > n; None past u64).
fn choose(n: usize, k: usize) -> Option<u64> {
    (0..k).try_fold(1u64, |c, i| c.checked_mul(n.saturating_sub(i) as u64).map(|c| c / (i as u64 + 1)))
}

/// The randomization test's answer: its p-value of no effect, the interval's ends (None where
/// unbounded) and what it compared.
struct RandomizationAnswer {
    p_value: f64,
    ci_low: Option<f64>,
    ci_high: Option<f64>,
    randomization: Randomization,
}

/// The assignments of the treated units among all units a randomization test compares: each the
/// sorted rows of its treated units, the actual one (the panel's last `n1` rows) first.
struct RandomizationTest<'a> {
    y: &'a [&'a [f64]],
    n0: usize,
    t0: usize,
    sets: Vec<Vec<usize>>,
    enumerated: bool,
}

impl<'a> RandomizationTest<'a> {
    fn new(y: &'a [&'a [f64]], n0: usize, t0: usize, s: &SdidSettings) -> Self {
        let n = y.len();
        let n1 = n - n0;
        let actual: Vec<usize> = (n0..n).collect();
        let (sets, enumerated) = match choose(n, n1) {
            Some(a) if a <= MAX_ASSIGNMENTS as u64 => {
                let mut sets = vec![actual.clone()];
                let mut c: Vec<usize> = (0..n1).collect();
                loop {
                    if c != actual {
                        sets.push(c.clone());
                    }
                    // the next combination in lexicographic order
                    let Some(i) = (0..n1).rev().find(|&i| c[i] < n - n1 + i) else { break };
                    c[i] += 1;
                    for j in i + 1..n1 {
                        c[j] = c[j - 1] + 1;
                    }
                }
                (sets, true)
            }
            _ => {
                let mut rng = Rng::new(s.seed ^ 0x5d1d_7a11);
                let mut sets = vec![actual];
                for _ in 0..s.replications.min(MAX_DRAWN) {
                    let mut ind: Vec<usize> = (0..n).collect();
                    shuffle(&mut ind, &mut rng);
                    let mut set = ind[..n1].to_vec();
                    set.sort_unstable();
                    sets.push(set);
                }
                (sets, false)
            }
        };
        Self { y, n0, t0, sets, enumerated }
    }

    /// Each assignment's estimate on the panel with `delta` taken from the actual treated
    /// units' post-period outcomes (no effect left under a constant effect `delta`).
    fn estimates(&self, delta: f64) -> Result<Vec<f64>, SdidError> {
        let (n0, t0) = (self.n0, self.t0);
        let shifted: Vec<Vec<f64>> = self
            .y
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.iter().enumerate().map(|(s, &v)| if i >= n0 && s >= t0 { v - delta } else { v }).collect()
            })
            .collect();
        parallel::map(&self.sets, |set| {
            let controls = (0..shifted.len()).filter(|i| !set.contains(i));
            let rows: Vec<&[f64]> = controls.chain(set.iter().copied()).map(|i| shifted[i].as_slice()).collect();
            estimate(&rows, rows.len() - set.len(), t0).0
        })
        .map_err(|e| invalid("se", format!("se: a randomization re-fit failed: {e}")))
    }

    /// The share of assignments whose estimate is at least as far from zero as the actual one's
    /// (the first), on the panel shifted by `delta`.
    fn p_value(&self, delta: f64) -> Result<f64, SdidError> {
        let taus = self.estimates(delta)?;
        let actual = taus[0].abs();
        Ok(taus.iter().filter(|t| t.abs() >= actual).count() as f64 / taus.len() as f64)
    }

    fn run(&self, est: f64, se: f64, sigma: f64, alpha: f64) -> Result<RandomizationAnswer, SdidError> {
        let a = self.sets.len();
        let p_value = self.p_value(0.0)?;
        let smallest = 1.0 / a as f64;
        let randomization = Randomization {
            assignments: a,
            enumerated: self.enumerated,
            level: 1.0 - alpha,
            smallest_p_value: smallest,
        };
        if smallest > alpha {
            return Ok(RandomizationAnswer { p_value, ci_low: None, ci_high: None, randomization });
        }
        // From the estimate (never rejected: no effect left) outwards in doubling steps, then
        // bisection between the last effect kept and the first rejected.
        let scale = [se, sigma, est.abs(), 1.0].into_iter().find(|v| v.is_finite() && *v > 0.0).unwrap_or(1.0);
        let end = |side: f64| -> Result<Option<f64>, SdidError> {
            let (mut kept, mut step) = (est, scale);
            let mut rejected = None;
            for _ in 0..24 {
                let d = est + side * step;
                if self.p_value(d)? <= alpha {
                    rejected = Some(d);
                    break;
                }
                kept = d;
                step *= 2.0;
            }
            let Some(mut out) = rejected else { return Ok(None) };
            while (out - kept).abs() > 1e-3 * scale {
                let mid = 0.5 * (kept + out);
                if self.p_value(mid)? <= alpha {
                    out = mid;
                } else {
                    kept = mid;
                }
            }
            Ok(Some(kept))
        };
        Ok(RandomizationAnswer { p_value, ci_low: end(-1.0)?, ci_high: end(1.0)?, randomization })
    }
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

    /// Four controls and two treated allow C(4, 2) = 6 placebo assignments: the p-value is the
    /// randomization test's over the C(6, 2) = 15 assignments (the estimate, 3 with almost no
    /// noise, the farthest from zero: 1/15), and no interval at 95% (15 assignments cannot
    /// reject at 5%); at 90% an interval that holds the effect. Five controls and one treated:
    /// 6 assignments. With 12 controls (66 placebo assignments), or 38 and one treated
    /// (Proposition 99's), the normal interval and p-value of the placebo standard error.
    #[test]
    fn few_controls_give_the_randomization_tests_p_value_and_interval() {
        let r = fit(&block(4, 2, 8, 4, 3.0), &SdidSettings::default()).unwrap();
        let rand = r.randomization.as_ref().unwrap();
        assert_eq!((rand.assignments, rand.enumerated, rand.smallest_p_value), (15, true, 1.0 / 15.0));
        assert_eq!(r.inference.p_value, Some(1.0 / 15.0));
        assert_eq!((r.inference.ci_low, r.inference.ci_high), (None, None));
        assert!(r.inference.std_error.is_some_and(|se| se > 0.0), "the placebo standard error stays");
        assert!(r.inference.inference.contains("4 controls and 2 treated allow only 6 distinct placebo assignments"));
        assert!(r.inference.inference.ends_with("so at 95% no effect is rejected and the interval is unbounded"));
        assert!(r.warnings[0].starts_with("few controls: 4 controls and 2 treated"), "{:?}", r.warnings);
        let s10 = SdidSettings { alpha: 0.1, ..Default::default() };
        let r = fit(&block(4, 2, 8, 4, 3.0), &s10).unwrap();
        let (lo, hi) = r.inference.interval().unwrap();
        assert!(lo < 3.0 && 3.0 < hi && lo > 0.0, "[{lo}, {hi}]");
        // effects well beyond the ends are rejected, the estimate is not (the test's p-value
        // steps as re-fitted weights jump, so the ends are where bisection found a step)
        let p = panel(&block(4, 2, 8, 4, 3.0)).unwrap();
        let y: Vec<&[f64]> = p.y.iter().map(Vec::as_slice).collect();
        let test = RandomizationTest::new(&y, p.n0, p.t0, &s10);
        assert_eq!(test.p_value(r.inference.estimate).unwrap(), 1.0);
        for outside in [lo - 1.0, hi + 1.0] {
            assert!(test.p_value(outside).unwrap() <= 0.1, "{outside} outside [{lo}, {hi}]");
        }
        let r = fit(&block(5, 1, 8, 4, 3.0), &SdidSettings::default()).unwrap();
        assert_eq!(r.randomization.as_ref().map(|r| r.assignments), Some(6));
        // the jackknife and the bootstrap with few controls too: their standard error, the
        // randomization test's p-value (2 controls and 3 treated: no placebo assignment at all)
        for (n0, se) in [(4, SdidSe::Jackknife), (4, SdidSe::Bootstrap), (2, SdidSe::Jackknife)] {
            let r =
                fit(&block(n0, 3, 8, 4, 3.0), &SdidSettings { se, replications: 50, ..Default::default() }).unwrap();
            let rand = r.randomization.as_ref().unwrap_or_else(|| panic!("{n0} controls, {se:?}"));
            assert_eq!(rand.assignments, if n0 == 4 { 35 } else { 10 }, "C({}, 3)", n0 + 3);
            assert!(r.inference.inference.contains(&format!("{} standard error (", se.name())));
            assert!(r.warnings[0].contains(&format!("the {} standard error's", se.name())), "{:?}", r.warnings);
        }
        // 7 controls and 6 treated: C(13, 6) = 1,716 assignments, so 200 drawn (however many
        // replications the placebo standard error asks for) and the actual one
        let r = fit(&block(7, 6, 8, 4, 3.0), &SdidSettings { replications: 10_000, ..Default::default() }).unwrap();
        let rand = r.randomization.as_ref().unwrap();
        assert_eq!((rand.assignments, rand.enumerated), (201, false));
        assert!(r.inference.inference.contains("the actual assignment and 200 drawn at random"));
        for (n0, n1) in [(12, 2), (38, 1)] {
            let r = fit(&block(n0, n1, 8, 4, 3.0), &SdidSettings { replications: 50, ..Default::default() }).unwrap();
            assert!(r.inference.inference.ends_with("normal interval and p-value"), "{}", r.inference.inference);
            assert!(r.randomization.is_none() && r.warnings.is_empty());
        }
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
