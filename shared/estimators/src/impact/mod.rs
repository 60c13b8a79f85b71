//! A time-series counterfactual the CausalImpact way (Brodersen et al. 2015), by maximum
//! likelihood: one treated series, control series as regressors, a structural time-series model
//! fitted on the pre-period, and its forecast over the post-period as the counterfactual.
//!
//! - The model is statsmodels' `UnobservedComponents`: irregular + stochastic level (`local
//!   level`), optionally a stochastic slope (`local linear trend`) and a stochastic dummy
//!   seasonal of `season` periods, plus a static regression on the controls whose coefficients
//!   are constant states with a diffuse start (`mle_regression=False`), so that the forecast
//!   carries their uncertainty.
//! - The Kalman filter as statsmodels runs it: approximate diffuse initialisation (state mean 0,
//!   variance 1e6), the first `k_states` periods (the coefficients included) left out of the
//!   log-likelihood (`loglikelihood_burn`). Maximum likelihood by BFGS on the log-variances
//!   (central-difference gradients), from several starts, on the outcome and the controls
//!   standardised by their pre-period mean and standard deviation (CausalImpact's
//!   `standardize.data`; the approximate diffuse start is diffuse only next to data of about unit
//!   scale), every output mapped back to the data's units.
//! - The counterfactual: the filter's forecast over the post-period given the controls, with the
//!   forecast error variance (state, coefficients and observation noise) for each period, and the
//!   covariance between periods for the cumulative effect. Plugging in the maximum-likelihood
//!   variances understates the uncertainty (a level variance estimated at zero forecasts a
//!   straight line with no drift: 88.7% coverage for nominal 95% in the simulation), so the
//!   intervals average over the variances' posterior as CausalImpact does, approximately:
//!   weak normal priors on the log-variances, a multivariate-t proposal from the Laplace
//!   approximation at the posterior mode, 400 importance-weighted draws, each a full filter and
//!   forecast; the predictive is the weighted mixture of normals (its mean, equal-tailed
//!   quantiles, and the tail probability of no cumulative effect as the p-value).

#![allow(clippy::needless_range_loop)] // index loops over small dense state matrices read clearest here

use serde::{Deserialize, Serialize};

use crate::dist;
use crate::inference::Inference;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImpactError {
    #[error("{message}")]
    InvalidInput { column: String, message: String },
}

fn invalid(column: &str, message: impl Into<String>) -> ImpactError {
    ImpactError::InvalidInput { column: column.into(), message: message.into() }
}

/// The longest seasonal period.
pub const MAX_SEASON: usize = 60;
/// The most control series.
pub const MAX_CONTROLS: usize = 20;
/// Pre-periods x states² a fit may take (each likelihood evaluation is about that many
/// multiply-adds, and maximising it takes a few thousand): 2,800 periods of daily data with a
/// weekly season, 700 weeks with a yearly one.
pub const MAX_WORK: usize = 2_000_000;
/// The most periods in all.
pub const MAX_PERIODS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct ImpactSettings {
    /// A stochastic slope (local linear trend) in addition to the level.
    pub trend: bool,
    /// A stochastic dummy seasonal of this many periods (2 or more).
    pub season: Option<usize>,
    pub alpha: f64,
    /// The posterior draws' generator.
    pub seed: u64,
}

impl Default for ImpactSettings {
    fn default() -> Self {
        Self { trend: false, season: None, alpha: 0.05, seed: 20261201 }
    }
}

/// One row per period, in any order: the treated series (NaN where it is missing) and the controls.
#[derive(Debug, Clone)]
pub struct ImpactInput {
    pub time: Vec<i64>,
    pub outcome: Vec<f64>,
    /// (name, values) per control series.
    pub controls: Vec<(String, Vec<f64>)>,
    /// The first treated period.
    pub treatment_time: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImpactPoint {
    pub time: i64,
    pub observed: f64,
    /// Pre-period: the one-step-ahead prediction; post-period: the counterfactual forecast.
    pub predicted: f64,
    pub predicted_low: f64,
    pub predicted_high: f64,
    /// Post-period: the effect summed from the first post period to this one, and its interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cumulative_effect: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cumulative_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cumulative_high: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImpactParam {
    pub name: String,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImpactCoefficient {
    pub name: String,
    pub value: f64,
    pub std_error: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImpactResult {
    pub method: String,
    pub estimator: String,
    /// The average effect per post period (observed minus counterfactual), its interval and the
    /// p-value of no cumulative effect.
    #[serde(flatten)]
    pub inference: Inference,
    /// The level of every interval here (1 - alpha).
    pub level: f64,
    /// The effect summed over the post-period, and its interval.
    pub cumulative: f64,
    pub cumulative_ci_low: f64,
    pub cumulative_ci_high: f64,
    /// The average effect relative to the average counterfactual.
    pub relative_effect: f64,
    pub treatment_time: i64,
    pub pre_periods: usize,
    pub post_periods: usize,
    /// The model: `local level` or `local linear trend`, with `seasonal` when asked.
    pub model: String,
    /// The maximum-likelihood variances (the log-likelihood's maximum; statsmodels' names: sigma2.irregular, sigma2.level,
    /// sigma2.trend, sigma2.seasonal).
    pub params: Vec<ImpactParam>,
    /// Each control's coefficient filtered through the pre-period (at the posterior mode of the
    /// variances), with its standard error.
    pub coefficients: Vec<ImpactCoefficient>,
    pub log_likelihood: f64,
    /// The effective number of the posterior draws behind the intervals (of 400).
    pub effective_draws: f64,
    /// Periods left out of the log-likelihood (the diffuse states).
    pub loglikelihood_burn: usize,
    pub series: Vec<ImpactPoint>,
}

crate::impl_estimate!(ImpactResult);

/// The state-space form for given variances: the structural states, then one state per control
/// coefficient (constant, diffuse at the start: the regression `mle_regression=False` puts in
/// the state, so the forecast carries the coefficients' uncertainty).
#[derive(Debug, Clone)]
struct Ssm {
    /// All states.
    m: usize,
    /// Structural states (the rest are coefficients).
    ms: usize,
    /// Transition (row-major m x m).
    t: Vec<f64>,
    /// Design row of the structural states.
    z: Vec<f64>,
    /// State noise covariance R Q R' (row-major).
    rqr: Vec<f64>,
    h: f64,
}

#[derive(Debug, Clone, Copy)]
struct Spec {
    trend: bool,
    season: Option<usize>,
    k: usize,
}

impl Spec {
    /// Structural states.
    fn ms(&self) -> usize {
        1 + usize::from(self.trend) + self.season.map_or(0, |s| s - 1)
    }
    /// All states.
    fn m(&self) -> usize {
        self.ms() + self.k
    }
    fn n_var(&self) -> usize {
        2 + usize::from(self.trend) + usize::from(self.season.is_some())
    }
    fn names(&self) -> Vec<String> {
        let mut v = vec!["sigma2.irregular".to_string(), "sigma2.level".into()];
        if self.trend {
            v.push("sigma2.trend".into());
        }
        if self.season.is_some() {
            v.push("sigma2.seasonal".into());
        }
        v
    }
    fn ssm(&self, var: &[f64]) -> Ssm {
        let (ms, m) = (self.ms(), self.m());
        let mut t = vec![0.0; m * m];
        let mut z = vec![0.0; ms];
        let mut rqr = vec![0.0; m * m];
        z[0] = 1.0;
        t[0] = 1.0;
        rqr[0] = var[1];
        let mut i = 1;
        let mut v = 2;
        if self.trend {
            t[1] = 1.0; // level += slope
            t[m + 1] = 1.0;
            rqr[m + 1] = var[v];
            v += 1;
            i = 2;
        }
        if let Some(s) = self.season {
            let n = s - 1;
            z[i] = 1.0;
            for j in 0..n {
                t[i * m + i + j] = -1.0;
            }
            for j in 1..n {
                t[(i + j) * m + i + j - 1] = 1.0;
            }
            rqr[i * m + i] = var[v];
        }
        for r in ms..m {
            t[r * m + r] = 1.0;
        }
        Ssm { m, ms, t, z, rqr, h: var[0] }
    }
}

const DIFFUSE: f64 = 1e6;

fn matmul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..m {
                c[i * m + j] += aik * b[k * m + j];
            }
        }
    }
    c
}

/// T P T' + RQR', with T's rows sparse (a seasonal block has two non-zeros a row at most but
/// its first): O(m x non-zeros) instead of O(m^3).
fn predict_cov(s: &Ssm, p: &[f64]) -> Vec<f64> {
    let m = s.m;
    let tp = matmul(&s.t, p, m);
    let mut out = s.rqr.clone();
    for j in 0..m {
        for (k, &tjk) in s.t[j * m..(j + 1) * m].iter().enumerate() {
            if tjk == 0.0 {
                continue;
            }
            for i in 0..m {
                out[i * m + j] += tp[i * m + k] * tjk;
            }
        }
    }
    out
}

fn matvec(a: &[f64], x: &[f64], m: usize) -> Vec<f64> {
    (0..m).map(|i| (0..m).map(|j| a[i * m + j] * x[j]).sum()).collect()
}

/// The design row at period `t`: the structural part, then the controls' values.
fn design(s: &Ssm, x: &[Vec<f64>], t: usize) -> Vec<f64> {
    let mut z = s.z.clone();
    z.extend(x.iter().map(|c| c[t]));
    z
}

/// One run of the filter over the first `n` periods: per period the one-step prediction and its
/// variance F (NaN where the outcome is missing: the state steps through unobserved), the
/// log-likelihood after the burn, and the predicted state after the last one.
struct Filtered {
    pred: Vec<f64>,
    f: Vec<f64>,
    loglik: f64,
    a: Vec<f64>,
    p: Vec<f64>,
    /// The filtered state and covariance at the last observed period (the coefficients' estimate).
    a_last: Vec<f64>,
    p_last: Vec<f64>,
}

fn filter(s: &Ssm, y: &[f64], x: &[Vec<f64>], n: usize) -> Filtered {
    let m = s.m;
    let mut a = vec![0.0; m];
    let mut p = vec![0.0; m * m];
    for i in 0..m {
        p[i * m + i] = DIFFUSE;
    }
    let mut pred = Vec::with_capacity(n);
    let mut fs = Vec::with_capacity(n);
    let mut loglik = 0.0;
    let (mut a_last, mut p_last) = (a.clone(), p.clone());
    for t in 0..n {
        if !y[t].is_finite() {
            // A period without an outcome: the state steps through it unobserved.
            pred.push(f64::NAN);
            fs.push(f64::NAN);
            a = matvec(&s.t, &a, m);
            p = predict_cov(s, &p);
            continue;
        }
        let z = design(s, x, t);
        let za: f64 = (0..m).map(|i| z[i] * a[i]).sum();
        let pz: Vec<f64> = (0..m).map(|i| (0..m).map(|j| p[i * m + j] * z[j]).sum()).collect();
        let f = (0..m).map(|i| z[i] * pz[i]).sum::<f64>() + s.h;
        let v = y[t] - za;
        pred.push(za);
        fs.push(f);
        if t >= m {
            loglik -= 0.5 * ((2.0 * std::f64::consts::PI).ln() + f.ln() + v * v / f);
        }
        let mut au = a.clone();
        let mut pu = p.clone();
        for i in 0..m {
            au[i] += pz[i] * v / f;
            for j in 0..m {
                pu[i * m + j] -= pz[i] * pz[j] / f;
            }
        }
        a = matvec(&s.t, &au, m);
        p = predict_cov(s, &pu);
        (a_last, p_last) = (au, pu);
    }
    Filtered { pred, f: fs, loglik, a, p, a_last, p_last }
}

struct Problem<'a> {
    spec: Spec,
    y: &'a [f64],
    x: &'a [Vec<f64>],
    n_pre: usize,
}

impl Problem<'_> {
    /// theta = log-variances.
    fn loglik(&self, theta: &[f64]) -> f64 {
        let var: Vec<f64> = theta.iter().map(|v| v.exp()).collect();
        let ll = filter(&self.spec.ssm(&var), self.y, self.x, self.n_pre).loglik;
        if ll.is_finite() {
            ll
        } else {
            f64::NEG_INFINITY
        }
    }
}

/// BFGS maximising `f` (central-difference gradients, backtracking line search); converged when
/// two steps in a row gain under 1e-9 (a variance drifting to zero on the log scale gains less
/// and less and would otherwise run to the iteration cap).
fn bfgs(f: &dyn Fn(&[f64]) -> f64, x0: Vec<f64>, iters: usize) -> (Vec<f64>, f64) {
    let n = x0.len();
    let grad = |x: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let h = 1e-5 * x[i].abs().max(1.0);
                let mut xp = x.to_vec();
                let mut xm = x.to_vec();
                xp[i] += h;
                xm[i] -= h;
                (f(&xp) - f(&xm)) / (2.0 * h)
            })
            .collect()
    };
    let mut x = x0;
    let mut fx = f(&x);
    let mut g = grad(&x);
    let mut hinv: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect();
    let mut stalled = 0;
    for _ in 0..iters {
        let d: Vec<f64> = (0..n).map(|i| (0..n).map(|j| hinv[i * n + j] * g[j]).sum()).collect();
        let slope: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        let d = if slope > 0.0 { d } else { g.clone() };
        let slope: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        let mut step = 1.0;
        let mut improved = None;
        for _ in 0..40 {
            let xn: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + step * b).collect();
            let fnew = f(&xn);
            if fnew.is_finite() && fnew >= fx + 1e-4 * step * slope {
                improved = Some((xn, fnew));
                break;
            }
            step *= 0.5;
        }
        let Some((xn, fnew)) = improved else { break };
        let gn = grad(&xn);
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        // Minimising -f: y = -(gn - g).
        let yv: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| b - a).collect();
        let sy: f64 = s.iter().zip(&yv).map(|(a, b)| a * b).sum();
        stalled = if fnew - fx < 1e-9 { stalled + 1 } else { 0 };
        x = xn;
        fx = fnew;
        g = gn;
        if sy > 1e-12 {
            let hy: Vec<f64> = (0..n).map(|i| (0..n).map(|j| hinv[i * n + j] * yv[j]).sum()).collect();
            let yhy: f64 = yv.iter().zip(&hy).map(|(a, b)| a * b).sum();
            for i in 0..n {
                for j in 0..n {
                    hinv[i * n + j] += (sy + yhy) * s[i] * s[j] / (sy * sy) - (hy[i] * s[j] + s[i] * hy[j]) / sy;
                }
            }
        }
        if stalled >= 2 {
            break;
        }
    }
    (x, fx)
}

/// The log-likelihood of the pre-period at given variances, as statsmodels' `loglike` computes
/// it (`mle_regression=False`): to check the filter against the reference.
pub fn log_likelihood(input: &ImpactInput, s: &ImpactSettings, variances: &[f64]) -> Result<f64, ImpactError> {
    let (spec, g) = prepare(input, s)?;
    check_variances(&spec, variances)?;
    Ok(filter(&spec.ssm(variances), &g.y, &g.x, g.n_pre).loglik)
}

fn check_variances(spec: &Spec, variances: &[f64]) -> Result<(), ImpactError> {
    if variances.len() != spec.n_var() || variances.iter().any(|v| v.is_nan() || *v < 0.0) {
        return Err(invalid("params", "params: one variance (>= 0) per component"));
    }
    Ok(())
}

/// The series on the grid of periods from the first row's to the last's: a period without a row
/// (an absent date) or with an empty outcome is a missing observation, which the filter steps
/// through (so a seasonal component keeps its phase across a gap) and the effect leaves out.
struct Grid {
    first: i64,
    y: Vec<f64>,
    /// Per control, its values (NaN where the period has no row).
    x: Vec<Vec<f64>>,
    /// Periods before the treatment time.
    n_pre: usize,
    /// Periods without an outcome.
    missing: usize,
}

fn prepare(input: &ImpactInput, s: &ImpactSettings) -> Result<(Spec, Grid), ImpactError> {
    let n = input.time.len();
    if input.outcome.len() != n || input.controls.iter().any(|(_, c)| c.len() != n) {
        return Err(invalid("time", "time, outcome and the controls must have the same length"));
    }
    if input.controls.len() > MAX_CONTROLS {
        return Err(invalid("controls", format!("controls: at most {MAX_CONTROLS} control series")));
    }
    if let Some(i) = input.outcome.iter().position(|v| v.is_infinite()) {
        return Err(invalid("outcome", format!("outcome: row {} is not finite", i + 1)));
    }
    for (name, c) in &input.controls {
        if let Some(i) = (0..n).find(|&i| !c[i].is_finite() && !input.outcome[i].is_nan()) {
            return Err(invalid(
                "controls",
                format!(
                    "controls: {name} row {} is missing or not finite (a period with an outcome needs every control)",
                    i + 1
                ),
            ));
        }
    }
    if let Some(season) = s.season {
        if !(2..=MAX_SEASON).contains(&season) {
            return Err(invalid("season", format!("season: 2 to {MAX_SEASON} periods")));
        }
    }
    if !(s.alpha > 0.0 && s.alpha < 1.0) {
        return Err(invalid("alpha", "alpha: must be between 0 and 1"));
    }
    let (Some(&first), Some(&last)) = (input.time.iter().min(), input.time.iter().max()) else {
        return Err(invalid("time", "time: no rows"));
    };
    let len = last.checked_sub(first).and_then(|d| usize::try_from(d).ok()).map_or(usize::MAX, |d| d.saturating_add(1));
    if len > MAX_PERIODS {
        return Err(invalid("time", format!("time: {first} to {last} is more than {MAX_PERIODS} periods")));
    }
    // more rows than periods: some period repeats (said below, with its rows)
    if len.saturating_sub(n) > n {
        return Err(invalid(
            "time",
            format!(
                "time: {} of the {len} periods from {first} to {last} have no row; the time column must number consecutive periods (or hold dates)",
                len - n
            ),
        ));
    }
    let mut y = vec![f64::NAN; len];
    let mut x = vec![vec![f64::NAN; len]; input.controls.len()];
    let mut row_of = vec![usize::MAX; len];
    for (i, &t) in input.time.iter().enumerate() {
        let slot = (t - first) as usize;
        if row_of[slot] != usize::MAX {
            return Err(invalid(
                "time",
                format!(
                    "time: rows {} and {} are the same period ({t}): one row per period{}",
                    row_of[slot] + 1,
                    i + 1,
                    if n > len {
                        format!(
                            " ({n} rows for {len} periods: the model reads one series; a panel of several units is \
                             for sdid, synth or geo-readout, or sum its units per period first)"
                        )
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        row_of[slot] = i;
        y[slot] = input.outcome[i];
        for (j, (_, c)) in input.controls.iter().enumerate() {
            x[j][slot] = c[i];
        }
    }
    let n_pre = usize::try_from(input.treatment_time.saturating_sub(first)).unwrap_or(0).min(len);
    let observed = |r: std::ops::Range<usize>| y[r].iter().filter(|v| v.is_finite()).count();
    let (pre_obs, post_obs) = (observed(0..n_pre), observed(n_pre..len));
    let spec = Spec { trend: s.trend, season: s.season, k: input.controls.len() };
    let need = spec.m() + spec.n_var() + spec.k + 3;
    if pre_obs < need {
        return Err(invalid(
            "treatment_time",
            format!(
                "treatment_time: {pre_obs} pre-treatment periods with an outcome; this model needs at least {need}"
            ),
        ));
    }
    if n_pre == len {
        return Err(invalid("treatment_time", "treatment_time: no period on or after it"));
    }
    if post_obs == 0 {
        return Err(invalid("outcome", "outcome: no period on or after treatment_time has an outcome"));
    }
    if n_pre.saturating_mul(spec.m() * spec.m()) > MAX_WORK {
        let field = if s.season.is_some() { "season" } else { "time" };
        return Err(invalid(
            field,
            format!(
                "{field}: {n_pre} pre-periods with {} states is more than this model fits in one request (pre-periods x states² at most {MAX_WORK}, {MAX_PERIODS} periods in all); aggregate the series (e.g. weekly) or shorten the season",
                spec.m()
            ),
        ));
    }
    let missing = len - pre_obs - post_obs;
    Ok((spec, Grid { first, y, x, n_pre, missing }))
}

/// The filter through the pre-period and the forecast over the post-period at given variances:
/// per post period the forecast's mean and variance, and the running sum's mean and variance
/// (the covariances Z_t T^(t-s) P_s Z_s' between periods carried in c_t = sum over s < t of
/// T^(t-s) P_s Z_s').
struct Forecast {
    fil: Filtered,
    mean: Vec<f64>,
    var: Vec<f64>,
    cum_mean: Vec<f64>,
    cum_var: Vec<f64>,
}

fn forecast(ssm: &Ssm, y: &[f64], x: &[Vec<f64>], n_pre: usize, n: usize) -> Forecast {
    let m = ssm.m;
    let fil = filter(ssm, y, x, n_pre);
    let (mut a, mut p) = (fil.a.clone(), fil.p.clone());
    let mut c = vec![0.0; m];
    let (mut mean, mut var, mut cum_mean, mut cum_var) = (vec![], vec![], vec![], vec![]);
    let (mut sm, mut sv) = (0.0_f64, 0.0_f64);
    for t in n_pre..n {
        if !y[t].is_finite() {
            // Not in the effect: the state steps through, nothing is added to the sums.
            c = matvec(&ssm.t, &c, m);
            a = matvec(&ssm.t, &a, m);
            p = predict_cov(ssm, &p);
            mean.push(f64::NAN);
            var.push(f64::NAN);
            cum_mean.push(sm);
            cum_var.push(sv.max(0.0));
            continue;
        }
        let zt = design(ssm, x, t);
        let pz: Vec<f64> = (0..m).map(|i| (0..m).map(|j| p[i * m + j] * zt[j]).sum()).collect();
        let f = (0..m).map(|i| zt[i] * pz[i]).sum::<f64>() + ssm.h;
        let pred = (0..m).map(|i| zt[i] * a[i]).sum::<f64>();
        sv += f + 2.0 * (0..m).map(|i| zt[i] * c[i]).sum::<f64>();
        sm += pred;
        let cp: Vec<f64> = (0..m).map(|i| c[i] + pz[i]).collect();
        c = matvec(&ssm.t, &cp, m);
        a = matvec(&ssm.t, &a, m);
        p = predict_cov(ssm, &p);
        mean.push(pred);
        var.push(f);
        cum_mean.push(sm);
        cum_var.push(sv.max(0.0));
    }
    Forecast { fil, mean, var, cum_mean, cum_var }
}

/// The forecast at given variances (plug-in, as statsmodels' `get_forecast`): per post period
/// (mean, variance), and the controls' coefficients (value, standard error) filtered through the
/// pre-period. To check the filter and forecast against the reference.
#[allow(clippy::type_complexity)]
pub fn plug_in(
    input: &ImpactInput,
    s: &ImpactSettings,
    variances: &[f64],
) -> Result<(Vec<(f64, f64)>, Vec<(f64, f64)>), ImpactError> {
    let (spec, g) = prepare(input, s)?;
    check_variances(&spec, variances)?;
    let ssm = spec.ssm(variances);
    let fc = forecast(&ssm, &g.y, &g.x, g.n_pre, g.y.len());
    let m = ssm.m;
    let coef = (ssm.ms..m).map(|i| (fc.fil.a_last[i], fc.fil.p_last[i * m + i].max(0.0).sqrt())).collect();
    Ok((fc.mean.iter().copied().zip(fc.var.iter().copied()).collect(), coef))
}

/// Draws from the approximate posterior of the log-variances.
pub const POSTERIOR_DRAWS: usize = 400;
/// The prior on each log-variance: normal around the log of the pre-period changes' variance,
/// this standard deviation (a factor of e^6, about 400, either way within two sd).
const PRIOR_SD: f64 = 3.0;
const T_DF: f64 = 5.0;

/// A mixture of normals (weights, means, sds): its mean, variance and quantiles.
struct Mixture<'a> {
    w: &'a [f64],
    mu: Vec<f64>,
    sd: Vec<f64>,
}

impl Mixture<'_> {
    fn mean(&self) -> f64 {
        self.w.iter().zip(&self.mu).map(|(w, m)| w * m).sum()
    }
    fn var(&self) -> f64 {
        let m = self.mean();
        self.w.iter().zip(self.mu.iter().zip(&self.sd)).map(|(w, (mu, sd))| w * (sd * sd + (mu - m) * (mu - m))).sum()
    }
    fn cdf(&self, q: f64) -> f64 {
        use statrs::distribution::{ContinuousCDF, Normal};
        let n = Normal::standard();
        self.w
            .iter()
            .zip(self.mu.iter().zip(&self.sd))
            .map(|(w, (mu, sd))| if *sd > 0.0 { w * n.cdf((q - mu) / sd) } else { w * f64::from(u8::from(q >= *mu)) })
            .sum()
    }
    fn quantile(&self, p: f64) -> f64 {
        let lo0 = self.mu.iter().zip(&self.sd).map(|(m, s)| m - 10.0 * s).fold(f64::INFINITY, f64::min);
        let hi0 = self.mu.iter().zip(&self.sd).map(|(m, s)| m + 10.0 * s).fold(f64::NEG_INFINITY, f64::max);
        let (mut lo, mut hi) = (lo0, hi0);
        for _ in 0..80 {
            let mid = 0.5 * (lo + hi);
            if self.cdf(mid) < p {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }
}

/// A series centred and scaled by its pre-period mean and standard deviation, in place (NaN
/// stays NaN); returns (mean, sd). A series without spread keeps its mean's magnitude as the unit
/// (1 when that is 0).
fn standardise(v: &mut [f64], n_pre: usize) -> (f64, f64) {
    let (mean, sd) = crate::linalg::mean_sd(|| v[..n_pre].iter().copied().filter(|x| x.is_finite()));
    let sd = if sd.is_finite() && sd > 0.0 {
        sd
    } else if mean.is_finite() && mean != 0.0 {
        mean.abs()
    } else {
        1.0
    };
    for x in v.iter_mut() {
        *x = (*x - mean) / sd;
    }
    (mean, sd)
}

pub fn fit(input: &ImpactInput, s: &ImpactSettings) -> Result<ImpactResult, ImpactError> {
    let (spec, mut grid) = prepare(input, s)?;
    // CausalImpact's `standardize.data`: the outcome and every control centred and scaled by their
    // pre-period mean and standard deviation for the fit, and every output mapped back. The
    // approximate diffuse start (state variance 1e6, statsmodels') is diffuse only next to data
    // of about unit scale: on the same series in other units the level and the coefficients were
    // pulled toward zero and the estimate moved with the unit (sales x1000: 2.07 instead of
    // 1.87 per period in the unit's scale; x1e6: 5.3 with a standard error of 11; x1e-6: no fit).
    let raw_y = grid.y.clone();
    let (my, sy) = standardise(&mut grid.y, grid.n_pre);
    let sx: Vec<f64> = grid.x.iter_mut().map(|c| standardise(c, grid.n_pre).1).collect();
    let (y, x, n_pre) = (&grid.y, &grid.x, grid.n_pre);
    let n = y.len();
    let pb = Problem { spec, y, x, n_pre };
    let observed: Vec<f64> = y[..n_pre].iter().copied().filter(|v| v.is_finite()).collect();
    let diffs: Vec<f64> = observed.windows(2).map(|w| w[1] - w[0]).collect();
    let dvar = {
        let m = diffs.iter().sum::<f64>() / diffs.len() as f64;
        (diffs.iter().map(|d| (d - m) * (d - m)).sum::<f64>() / diffs.len() as f64).max(1e-12)
    };
    let nv = spec.n_var();
    // Maximum likelihood (statsmodels' fit), from several starts.
    let mut best: Option<(Vec<f64>, f64)> = None;
    for frac in [[0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.99, 0.01]] {
        let mut theta: Vec<f64> = vec![(frac[0] * dvar).ln(), (frac[1] * dvar).ln()];
        for _ in 2..nv {
            theta.push((0.05 * dvar).ln());
        }
        let (t, ll) = bfgs(&|th| pb.loglik(th), theta, 500);
        if best.as_ref().is_none_or(|b| ll > b.1) {
            best = Some((t, ll));
        }
    }
    let (theta_ml, loglik) = best.expect("four starts");
    if !loglik.is_finite() {
        return Err(invalid("outcome", "outcome: the model's likelihood is not finite (a constant series?)"));
    }
    // The posterior of the log-variances under weak normal priors: its mode, a Laplace
    // approximation as the proposal (multivariate t), importance weights.
    let mu0 = dvar.ln();
    let log_post = |th: &[f64]| -> f64 {
        pb.loglik(th) - th.iter().map(|v| (v - mu0) * (v - mu0)).sum::<f64>() / (2.0 * PRIOR_SD * PRIOR_SD)
    };
    let (map, _) = bfgs(&log_post, theta_ml.iter().map(|v| v.max(mu0 - 3.0 * PRIOR_SD)).collect(), 500);
    let hess = {
        let h = 1e-3;
        let f0 = log_post(&map);
        let mut hm = ndarray::Array2::<f64>::zeros((nv, nv));
        for i in 0..nv {
            for j in i..nv {
                let at = |di: f64, dj: f64| {
                    let mut t = map.clone();
                    t[i] += di;
                    t[j] += dj;
                    log_post(&t)
                };
                let v = if i == j {
                    (at(h, 0.0) - 2.0 * f0 + at(-h, 0.0)) / (h * h)
                } else {
                    (at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4.0 * h * h)
                };
                hm[[i, j]] = -v;
                hm[[j, i]] = -v;
            }
        }
        for i in 0..nv {
            hm[[i, i]] = hm[[i, i]].max(1.0 / (PRIOR_SD * PRIOR_SD));
        }
        hm
    };
    let cov = crate::linalg::inv_spd(hess.view())
        .unwrap_or_else(|_| ndarray::Array2::from_diag(&ndarray::Array1::from_elem(nv, PRIOR_SD * PRIOR_SD)));
    let chol = crate::linalg::cholesky(cov.view())
        .map(|c| c.l())
        .unwrap_or_else(|_| ndarray::Array2::from_diag(&ndarray::Array1::from_elem(nv, PRIOR_SD)));
    let cov_inv = crate::linalg::inv_spd(cov.view()).unwrap_or(hess.clone());
    let mut rng = crate::rng::Rng::new(s.seed);
    let draws: Vec<Vec<f64>> = (0..POSTERIOR_DRAWS)
        .map(|_| {
            let z: Vec<f64> = (0..nv).map(|_| rng.normal()).collect();
            let chi2: f64 = (0..T_DF as usize).map(|_| rng.normal().powi(2)).sum();
            let scale = (T_DF / chi2).sqrt();
            (0..nv).map(|i| map[i] + scale * (0..=i).map(|j| chol[[i, j]] * z[j]).sum::<f64>()).collect()
        })
        .collect();
    let fits = crate::parallel::map(&draws, |th| {
        let var: Vec<f64> = th.iter().map(|v| v.exp()).collect();
        let d: Vec<f64> = th.iter().zip(&map).map(|(a, b)| a - b).collect();
        let maha: f64 = (0..nv).map(|i| (0..nv).map(|j| d[i] * cov_inv[[i, j]] * d[j]).sum::<f64>()).sum();
        let log_q = -0.5 * (T_DF + nv as f64) * (1.0 + maha / T_DF).ln();
        (log_post(th) - log_q, forecast(&spec.ssm(&var), y, x, n_pre, n))
    })
    .map_err(|e| invalid("outcome", format!("outcome: a posterior draw failed ({e})")))?;
    let top = fits.iter().map(|f| f.0).filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    let raw: Vec<f64> = fits.iter().map(|f| if f.0.is_finite() { (f.0 - top).exp() } else { 0.0 }).collect();
    let total: f64 = raw.iter().sum();
    let w: Vec<f64> = raw.iter().map(|v| v / total).collect();
    let ess = 1.0 / w.iter().map(|v| v * v).sum::<f64>();

    // The one-step-ahead bands of the pre-period at the posterior mode.
    let var_map: Vec<f64> = map.iter().map(|v| v.exp()).collect();
    let ssm = spec.ssm(&var_map);
    let m = ssm.m;
    let at_map = forecast(&ssm, y, x, n_pre, n);
    let z = dist::normal_critical(s.alpha);
    let (qlo, qhi) = (s.alpha / 2.0, 1.0 - s.alpha / 2.0);
    let time = |t: usize| grid.first + t as i64;
    let mut series = Vec::with_capacity(input.time.len());
    for t in (0..n_pre).filter(|&t| y[t].is_finite()) {
        let p = at_map.fil.pred[t];
        let sd = at_map.fil.f[t].sqrt();
        series.push(ImpactPoint {
            time: time(t),
            observed: raw_y[t],
            predicted: my + sy * p,
            predicted_low: my + sy * (p - z * sd),
            predicted_high: my + sy * (p + z * sd),
            cumulative_effect: None,
            cumulative_low: None,
            cumulative_high: None,
        });
    }
    let mix = |f: &dyn Fn(&Forecast) -> (f64, f64)| Mixture {
        w: &w,
        mu: fits.iter().map(|d| f(&d.1).0).collect(),
        sd: fits.iter().map(|d| f(&d.1).1.max(0.0).sqrt()).collect(),
    };
    let pre_periods = series.len();
    let last_observed = (n_pre..n).rev().find(|&t| y[t].is_finite());
    let mut sum_y = 0.0;
    let mut last = None;
    for (k, t) in (n_pre..n).enumerate().filter(|&(_, t)| y[t].is_finite()) {
        sum_y += y[t];
        let obs = mix(&|f| (f.mean[k], f.var[k]));
        let cum = mix(&|f| (f.cum_mean[k], f.cum_var[k]));
        // On the fit's scale; an effect (a difference of sums over the same periods) is mapped
        // back by the outcome's unit alone.
        series.push(ImpactPoint {
            time: time(t),
            observed: raw_y[t],
            predicted: my + sy * obs.mean(),
            predicted_low: my + sy * obs.quantile(qlo),
            predicted_high: my + sy * obs.quantile(qhi),
            cumulative_effect: Some(sy * (sum_y - cum.mean())),
            cumulative_low: Some(sy * (sum_y - cum.quantile(qhi))),
            cumulative_high: Some(sy * (sum_y - cum.quantile(qlo))),
        });
        if Some(t) == last_observed {
            let tail = cum.cdf(sum_y);
            let counted = (k + 1 - (n_pre..=t).filter(|&u| !y[u].is_finite()).count()) as f64;
            last = Some((
                sy * (sum_y - cum.mean()),
                sy * cum.var().sqrt(),
                2.0 * tail.min(1.0 - tail),
                counted * my + sy * cum.mean(),
            ));
        }
    }
    let (cumulative, sd_cum, p_value, pred_sum) = last.expect("a post period");
    let n_post = series.len() - pre_periods;
    let k = n_post as f64;
    let post = &series[pre_periods..];
    let (cum_lo, cum_hi) =
        (post[n_post - 1].cumulative_low.unwrap_or(f64::NAN), post[n_post - 1].cumulative_high.unwrap_or(f64::NAN));
    let model = format!(
        "{}{}{}",
        if spec.trend { "local linear trend" } else { "local level" },
        spec.season.map(|s| format!(" + seasonal({s})")).unwrap_or_default(),
        if spec.k > 0 { format!(" + regression on {} control(s)", spec.k) } else { String::new() }
    );
    let var_ml: Vec<f64> = theta_ml.iter().map(|v| v.exp() * sy * sy).collect();
    let params = spec.names().into_iter().zip(&var_ml).map(|(name, &value)| ImpactParam { name, value }).collect();
    let coefficients = input
        .controls
        .iter()
        .enumerate()
        .map(|(j, (name, _))| {
            let i = ssm.ms + j;
            ImpactCoefficient {
                name: name.clone(),
                value: at_map.fil.a_last[i] * sy / sx[j],
                std_error: at_map.fil.p_last[i * m + i].max(0.0).sqrt() * sy / sx[j],
            }
        })
        .collect();
    Ok(ImpactResult {
        method: "impact".into(),
        estimator: "structural_time_series".into(),
        inference: Inference {
            estimate: cumulative / k,
            std_error: Some(sd_cum / k),
            ci_low: Some(cum_lo / k),
            ci_high: Some(cum_hi / k),
            p_value: Some(p_value),
            n_obs: series.len(),
            inference: format!(
                "structural time-series forecast ({model}) fitted on the pre-period; the posterior predictive over \
                 the variances (weak log-normal priors, {POSTERIOR_DRAWS} importance-sampled draws from a Laplace \
                 proposal, {ess:.0} effective), the coefficients' uncertainty included; equal-tailed intervals and \
                 the two-sided tail probability of no cumulative effect{}",
                match grid.missing {
                    0 => String::new(),
                    1 => "; 1 period without an outcome (no row, or an empty cell) is stepped through as a missing observation and left out of the effect".into(),
                    k => format!("; {k} periods without an outcome (no row, or an empty cell) are stepped through as missing observations and left out of the effect"),
                }
            ),
        },
        level: 1.0 - s.alpha,
        cumulative,
        cumulative_ci_low: cum_lo,
        cumulative_ci_high: cum_hi,
        relative_effect: if pred_sum != 0.0 { cumulative / pred_sum } else { f64::NAN },
        treatment_time: input.treatment_time,
        pre_periods,
        post_periods: n_post,
        model,
        params,
        coefficients,
        // The data's own log-likelihood: the standardised series' less the Jacobian of the
        // scaling, ln(sd) for each period it counts (those after the diffuse states).
        log_likelihood: loglik - (m..n_pre).filter(|&t| y[t].is_finite()).count() as f64 * sy.ln(),
        loglikelihood_burn: m,
        effective_draws: ess,
        series,
    })
}
