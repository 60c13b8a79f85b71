//! A media mix model on the business's own KPI, with controls, adstock-aware lift calibration and
//! uncertainty over every parameter (`liftos mmm`).
//!
//! **Model.** On a regular grid of periods (daily or weekly; a missing date is a missing period,
//! never zero spend),
//!
//! ```text
//! kpi_t = γ₀ + γ₁ trend_t + Fourier_yearly(t) + Fourier_weekly(t) + Σ_k δ_k control_kt
//!         + Σ_c β_c · a_ct / (a_ct + κ_c) + ε_t,      a_ct = θ_c a_c,t-1 + (1 - θ_c) spend_ct
//! ```
//!
//! geometric adstock normalised so a steady spend x has adstock x (carry-over θ_c), Hill
//! saturation with slope 1 (half-saturation κ_c; concave, so the optimum equalises marginal
//! returns), β_c ≥ 0 (spending cannot lower the KPI). The controls soak up what paces spend:
//! trend, seasonality, holidays and promotions given as columns. The adstock before the first
//! period is the first period's spend (the channels already running) or zero (launched with the
//! history), as [`HistoryStart`] says; by default the launch where it fits clearly better.
//!
//! **Fit.** The shape parameters (θ_c, κ_c) are found by Nelder-Mead on an unconstrained scale
//! (θ = 0.95 · logistic(u), κ = median spend · eᵛ) with weakly informative priors u ~ N(0, 1.5²),
//! v ~ N(0, 1) (as PyMC-Marketing and Meridian put priors on adstock and half-saturation); for
//! each shape the linear part (controls and β ≥ 0) is least squares with an active set.
//!
//! **Lift calibration, adstock-aware.** A test that moved a channel's spend per period from
//! `spend_from` to `spend_to` over m periods measured `incremental` KPI over its window; the model
//! predicts β_c Σ_{k=1..m} [h(to + (from - to) θ_c^k) - h(from)]: with carry-over 0.8 a four-period
//! test realises 41% of the steady-state lift, and the calibration sees exactly that. Each test
//! enters the likelihood with its own standard error.
//!
//! **Uncertainty.** A moving-block bootstrap of the residuals (block length from the residuals'
//! lag-1 autocorrelation, Lahiri's AR(1) plug-in (3n/2)^{1/3} (2ρ/(1-ρ²))^{2/3}), each lift redrawn
//! from N(incremental, std_error²), and the **whole** fit repeated on every draw, shapes and
//! carry-over included: ROI, marginal ROI and the plan's gain have percentile intervals over
//! that. Out-of-sample error comes from rolling-origin cross-validation.
//!
//! **Decisions.** The plan maximises the KPI for the budget (steady-state curves, the budget
//! optimiser of [`crate::budget`]) within the spend the history supports (a channel's highest
//! adstocked spend; the part of a budget beyond that is reported as unallocated, never
//! extrapolated), and a channel whose effect is not positive in 99% of the re-fits, or whose test of
//! no effect does not reject at 5%, gets no more budget: it is held at today's spend, or cut when
//! even its optimistic marginal return is below the plan's.
//!
//! **The test of no effect.** A channel's carry-over and saturation are searched for the best
//! fit, so a channel with no effect can still find a curve that bends to the noise, and the
//! re-fits, centred on that fit, find it again. Per channel the re-fits put clear of zero, the
//! likelihood ratio of the model with the channel against the model without it is calibrated on
//! histories simulated from the model without it, the channel's shape searched again on each
//! (`no_effect_p_value`; Davies 1987). Where it keeps no effect at the intervals' level, the
//! intervals reach zero.

#![allow(clippy::needless_range_loop)] // index loops over periods and channels read clearest here

use serde::{Deserialize, Serialize};

use crate::budget::{self, ChannelBounds, Curve, FittedModel, Objective, Plan};
use crate::linalg;
use crate::rng::Rng;

use crate::error::{invalid, FieldError};

/// A named series aligned with the input's days (NaN: missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// A lift test: spend per period moved from `spend_from` to `spend_to` on days `start..=end`;
/// `incremental` is the KPI it measured over that window, with its standard error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LiftTest {
    pub channel: String,
    /// Day numbers (days since 1970-01-01) of the window's first and last day.
    pub start: i64,
    pub end: i64,
    pub spend_from: f64,
    pub spend_to: f64,
    pub incremental: f64,
    pub std_error: f64,
}

/// The history: one row per period in any order (`days`: day numbers, one row per date; gaps
/// become missing periods).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MmmInput {
    pub days: Vec<i64>,
    pub kpi: Vec<f64>,
    pub channels: Vec<Series>,
    pub controls: Vec<Series>,
    pub lifts: Vec<LiftTest>,
}

/// At least this many re-fits give an interval.
pub const MIN_DRAWS: usize = 20;
/// At most this many bootstrap re-fits, channels, controls and periods.
pub const MAX_DRAWS: usize = 5000;
pub const MAX_CHANNELS: usize = 20;
pub const MAX_CONTROLS: usize = 50;
pub const MAX_PERIODS: usize = 20_000;
pub const MAX_LIFTS: usize = 100;
pub const MAX_FOLDS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct MmmSettings {
    /// A linear trend.
    pub trend: bool,
    /// Yearly Fourier harmonics (default 2 when the history spans a year, else 0).
    pub yearly: Option<usize>,
    /// Weekly Fourier harmonics (default 3 for daily data, else 0).
    pub weekly: Option<usize>,
    /// Bootstrap re-fits of the whole model.
    pub draws: usize,
    /// Level of every interval.
    pub level: f64,
    pub seed: u64,
    /// Rolling-origin cross-validation folds (0: none).
    pub folds: usize,
    /// Spend per period to plan (default: the history's mean total spend per period).
    pub budget: Option<f64>,
    /// At most this relative change of a channel's spend from its mean (0.3 = ±30%).
    pub max_change: Option<f64>,
    /// The moving blocks' length (default from the residuals' autocorrelation).
    pub block_length: Option<usize>,
    /// Periods the plan runs for: `horizon` adds up its gain period by period from the history's
    /// mean allocation, carry-over included (the steady state is reached only gradually).
    pub periods: usize,
    /// The carry-over at the history's first period: the channels already running, or launched
    /// with the history (default: the launch where it fits the history clearly better).
    pub history_start: HistoryStart,
}

/// The carry-over at the history's first period. A history that starts when the channels
/// launch has no adstock before its first period, and the KPI ramps up over the first periods
/// as carry-over builds; taking such a history as already running leaves that ramp to be
/// explained, and a slow channel with no effect can take it (simulated in mmm_simulation.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum HistoryStart {
    /// `launch` where it fits the history clearly better than `running` (the same parameters,
    /// a likelihood at least e⁴ ≈ 55 times as high), `running` otherwise.
    #[default]
    Auto,
    /// The channels were running before the history at its first period's spend: carry-over in
    /// steady state.
    Running,
    /// The channels launched with the history: no spend before it, carry-over builds from zero.
    Launch,
}

impl HistoryStart {
    fn running() -> Self {
        Self::Running
    }

    /// The point fits this start takes: `auto` fits both starts, then keeps one.
    pub fn point_fits(self) -> usize {
        if self == Self::Auto {
            2
        } else {
            1
        }
    }
}

impl Default for MmmSettings {
    fn default() -> Self {
        Self {
            trend: true,
            yearly: None,
            weekly: None,
            draws: 200,
            level: 0.9,
            seed: 20261201,
            folds: 4,
            budget: None,
            max_change: None,
            block_length: None,
            periods: 1,
            history_start: HistoryStart::Auto,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MmmChannel {
    pub channel: String,
    /// Incremental KPI per unit of spend over the history (the channel's contribution against no
    /// spend at all, divided by its spend), with its interval.
    pub roi: f64,
    pub roi_ci_low: f64,
    pub roi_ci_high: f64,
    /// KPI per extra unit of spend per period at `spend_from`, in steady state.
    pub marginal_roi: f64,
    pub marginal_roi_ci_low: f64,
    pub marginal_roi_ci_high: f64,
    /// Carry-over θ: the share of an adstock that remains the next period.
    pub adstock: f64,
    /// Steady spend per period at which the channel gives half its maximum effect.
    pub half_saturation: f64,
    /// The channel's maximum effect per period (β, KPI units).
    pub effect: f64,
    /// The channel's contribution to the KPI summed over the history.
    pub contribution: f64,
    /// Mean spend per period over the history, and the plan's.
    pub spend_from: f64,
    pub spend_to: f64,
    /// The highest steady spend the history saw (the plan stays at or below it).
    pub spend_supported: f64,
    /// The KPI per period the move from `spend_from` to `spend_to` adds (negative for a cut), in
    /// steady state, with its interval from the re-fits.
    pub gain: f64,
    pub gain_ci_low: f64,
    pub gain_ci_high: f64,
    /// The share of the re-fits in which the ROI is positive (evidence needs 99%).
    pub positive_share: f64,
    /// Whether the ROI is positive in at least 99% of the re-fits and the test of no effect
    /// rejects it at 5% (`no_effect_p_value`). A channel without evidence never gets more
    /// budget: it is held at today's spend, or cut to its floor when even its optimistic marginal
    /// ROI is below what the plan pays at the margin.
    pub evidence: bool,
    /// The p-value of the test that the channel has no effect: the likelihood ratio of the model
    /// with it against the model without it, calibrated on histories simulated without it (both
    /// models fitted again on each, the channel's carry-over and saturation searched as on the
    /// history), so that a curve that merely bends to the noise is not taken for an effect.
    /// Where it is above 1 - level, the intervals reach zero. 1 for a channel fitted at zero;
    /// absent where it was not needed: the re-fits' interval already reaches zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_effect_p_value: Option<f64>,
    /// What holds the channel in the plan: "supported" (the highest spend the history saw),
    /// "max_change", "held" (no evidence: today's spend) or "no_evidence" (cut).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<String>,
    /// The response curve: the KPI per period the channel adds in steady state at each spend per
    /// period, from none to 1.5 times the highest the history supports (or the plan's, if
    /// higher), with its interval from the re-fits at `level`.
    #[serde(default)]
    pub response_curve: Vec<ResponsePoint>,
}

/// One point of a response curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ResponsePoint {
    pub spend: f64,
    pub response: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// The KPI over the history's periods split by the point fit into the controls' part (intercept,
/// trend, seasonality and the user's controls) and each channel's contribution. For the report:
/// not part of the JSON answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Decomposition {
    /// Each period's first day, in days since 1970-01-01.
    pub days: Vec<i64>,
    /// The KPI observed (None where it is missing).
    pub kpi: Vec<Option<f64>>,
    pub baseline: Vec<f64>,
    /// Per channel, in the order of `channels`.
    pub channels: Vec<Vec<f64>>,
}

/// Points on each response curve.
pub const CURVE_POINTS: usize = 21;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MmmFitSummary {
    /// In-sample: R², root mean squared error and mean absolute percentage error (percent).
    pub r_squared: f64,
    pub rmse: f64,
    pub mape: f64,
    /// Out of sample, rolling origin: each fold fits the periods before it and predicts it.
    pub cv_rmse: Option<f64>,
    pub cv_mape: Option<f64>,
    pub cv_folds: usize,
    pub cv_horizon: usize,
    /// Lag-1 autocorrelation of the residuals and the bootstrap's block length.
    pub residual_autocorrelation: f64,
    pub block_length: usize,
    pub periods: usize,
    /// Periods in the fit (the rest miss the KPI, a spend or a control).
    pub observed: usize,
    /// The carry-over at the history's first period the model took: `running` or `launch` (a
    /// model saved before the choice existed ran as `running`).
    #[serde(default = "HistoryStart::running")]
    pub history_start: HistoryStart,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LiftCheck {
    pub channel: String,
    pub periods: usize,
    pub incremental: f64,
    pub std_error: f64,
    /// The fitted model's prediction of what the test measured (carry-over included), and of the
    /// steady-state increment over as many periods (what a naive calibration would use).
    pub predicted: f64,
    pub predicted_steady_state: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MmmResult {
    pub channels: Vec<MmmChannel>,
    /// KPI per period under the plan against the history's mean allocation (steady state).
    pub expected_gain: f64,
    pub gain_ci_low: f64,
    pub gain_ci_high: f64,
    /// The share of the re-fits in which the plan's gain is positive.
    pub gain_positive_share: f64,
    /// The KPI an extra unit of spend per period buys at the plan's margin (its channels that
    /// are free to move, at their planned spend).
    pub margin: f64,
    /// The spend per period planned for, the plan's spend, and what the history cannot support.
    pub budget: f64,
    pub planned_spend: f64,
    pub unallocated: f64,
    pub level: f64,
    /// Bootstrap re-fits that gave the intervals.
    pub draws: usize,
    pub fit: MmmFitSummary,
    /// The control columns in the model (built-in and the user's).
    pub controls: Vec<String>,
    pub lifts: Vec<LiftCheck>,
    pub horizon: Horizon,
    /// The test to run next, sized by simulation under the fitted carry-over and the residuals'
    /// autocorrelation.
    pub next_test: Option<NextTest>,
    /// False when the KPI is platform-attributed (the user said so): the ROI is then not an
    /// incremental effect.
    pub incremental: bool,
    pub warnings: Vec<String>,
    /// The KPI over time by source, for the report (not serialised).
    #[serde(skip)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub decomposition: Decomposition,
}

impl MmmResult {
    /// The KPI was the platforms' attribution, which the user chose explicitly: the answer says,
    /// first, that its ROI and gains are not incremental effects.
    pub fn mark_attributed(&mut self) {
        self.incremental = false;
        self.warnings.insert(
            0,
            "the KPI is platform-attributed, not the business's own: ROI and gains are not incremental effects".into(),
        );
    }
}

/// A switchback on one channel: blocks of `block_periods` (per test length) alternating between `spend_on` and
/// `spend_off` per period, read out as the difference of the on and off blocks' means (a t test
/// with the blocks as units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NextTest {
    pub channel: String,
    pub design: String,
    pub why: String,
    pub spend_on: f64,
    pub spend_off: f64,
    /// The steady-state KPI lift per period of the on spend over the off spend the fitted curve
    /// predicts.
    pub predicted_lift: f64,
    /// Per test length: the steady-state lift detectable with 80% power at 5% (two-sided), the
    /// power against the predicted lift, and the rejection rate with no effect (all simulated).
    pub durations: Vec<TestDuration>,
    /// The shortest length with 80% power against the predicted lift (none within those tried).
    pub periods_needed: Option<usize>,
    /// What an i.i.d. t test on the periods (no carry-over, no autocorrelation) would have said.
    pub naive_periods: f64,
    pub simulations: usize,
    /// The same channel tested by a geo holdout instead.
    pub geo_holdout: GeoHoldout,
}

/// A geo holdout on the channel: its spend cut to zero in the test markets. The loss builds up
/// as the adstock drains, θ^(k+1) of the spend's adstock left in the test's k-th period; the model
/// gives that signal, and only a panel of the KPI by market can give the noise, so the test is
/// sized on it (`sizing`: the design request with the model's carry-over and loss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GeoHoldout {
    pub design: String,
    /// The channel's fitted carry-over θ.
    pub carryover: f64,
    /// The KPI the channel adds per period at today's spend, over the KPI's mean: the relative
    /// loss of a held-out market (with the national mix) once the carry-over has drained.
    pub steady_state_loss: f64,
    /// Per test length (in the model's periods): the relative loss the window shows on average,
    /// and its share of the steady state (the response's curvature included).
    pub durations: Vec<HoldoutLength>,
    pub sizing: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HoldoutLength {
    pub periods: usize,
    pub expected_loss: f64,
    pub realized_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TestDuration {
    pub periods: usize,
    /// The block length (periods) that detects the least at this length.
    pub block_periods: usize,
    /// None when no lift is detectable with 80% power at this length.
    pub mde: Option<f64>,
    pub power: f64,
    pub size: f64,
}

/// The plan over `periods` periods from the history's mean allocation, carry-over included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Horizon {
    pub periods: usize,
    pub spend: f64,
    pub gain: f64,
    pub gain_ci_low: f64,
    pub gain_ci_high: f64,
}

/// The share of re-fits at or below zero a channel with evidence of an effect may have.
const EVIDENCE_QUANTILE: f64 = 0.01;
/// Nelder-Mead stops when its simplex's objective values (in log-likelihood units) agree to this.
const NM_TOLERANCE: f64 = 1e-4;
const REFIT_STEP: f64 = 1.0;
const REFIT_ROUNDS: usize = 2;
const THETA_MAX: f64 = 0.95;
const PRIOR_SD_U: f64 = 1.5;
const PRIOR_SD_V: f64 = 1.0;

fn logistic(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

fn hill(a: f64, k: f64) -> f64 {
    if a <= 0.0 {
        0.0
    } else {
        a / (a + k)
    }
}

/// The adstock of `x` into `out`: from the first period's spend in steady state, or from zero
/// after a `launch`.
fn adstock_into(x: &[f64], theta: f64, launch: bool, out: &mut [f64]) {
    let mut a = if launch { 0.0 } else { x.first().copied().unwrap_or(0.0) };
    for (o, v) in out.iter_mut().zip(x) {
        a = theta * a + (1.0 - theta) * v;
        *o = a;
    }
}

/// Σ_{k=1..m} [h(to + (from - to) θ^k) - h(from)]: a lift test's increment per unit of β.
fn lift_feature(l: &LiftTest, m: usize, theta: f64, kappa: f64) -> f64 {
    let mut p = 1.0;
    let base = hill(l.spend_from, kappa);
    (0..m)
        .map(|_| {
            p *= theta;
            hill(l.spend_to + (l.spend_from - l.spend_to) * p, kappa) - base
        })
        .sum()
}

/// The validated history on a regular grid.
struct Prepared {
    n: usize,
    /// Days per period (1 daily, 7 weekly; 30 for months, whose days are in `dates`).
    step: i64,
    /// Each period's day (days since 1970-01-01): its first day, or the day of the month the
    /// history's dates fall on.
    dates: Vec<i64>,
    /// Periods in the fit.
    rows: Vec<usize>,
    kpi: Vec<f64>,
    /// Spend per channel on the whole grid (a missing day interpolated for the carry-over only).
    spend: Vec<Vec<f64>>,
    /// Whether each channel's spend was observed on each period.
    names: Vec<String>,
    /// Controls on the whole grid, intercept first.
    z: Vec<Vec<f64>>,
    control_names: Vec<String>,
    medians: Vec<f64>,
    /// Lifts with their channel index and number of periods.
    lifts: Vec<(usize, usize, LiftTest)>,
    /// No adstock before the first period (`HistoryStart::Launch`).
    launch: bool,
}

/// The history's grid: days in steps of `step` (daily, weekly, every n days), or calendar months
/// (every date the same day of its month, or every date a month's last day: a monthly history).
struct Calendar {
    first: i64,
    step: i64,
    /// For months: the first date's month number (year x 12 + month) and the day of the month
    /// the dates fall on (0 for the month's last day).
    months: Option<(i64, u32)>,
}

impl Calendar {
    /// The grid of sorted, distinct dates.
    fn of(days: &[i64]) -> Result<Calendar, FieldError> {
        let first = days.first().copied().unwrap_or(0);
        let step = days.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(1);
        let dates: Vec<(i64, u32, u32)> = days.iter().map(|&d| civil(d)).collect();
        let last_days = days.iter().all(|&d| civil(d + 1).2 == 1);
        let same_day = dates.iter().all(|c| c.2 == dates[0].2);
        let month = |c: &(i64, u32, u32)| c.0 * 12 + i64::from(c.1) - 1;
        if (28..=31).contains(&step) && (same_day || last_days) && dates.windows(2).all(|w| month(&w[1]) > month(&w[0]))
        {
            let dom = if last_days && !same_day { 0 } else { dates[0].2 };
            return Ok(Calendar { first, step: 30, months: Some((month(&dates[0]), dom)) });
        }
        // quarters, dated by their first (or any same) day or their last
        let quarterly = (89..=92).contains(&step)
            && (same_day || last_days)
            && dates.windows(2).all(|w| (month(&w[1]) - month(&w[0])) % 3 == 0);
        if quarterly {
            return Err(invalid(
                "date",
                format!(
                    "the dates are quarters ({} of them): the model needs daily, weekly or monthly data (one row per period): spend's carry-over lasts days to weeks, within a single quarter, so quarterly sums cannot tell it apart",
                    days.len()
                ),
            ));
        }
        if let Some(w) = days.windows(2).find(|w| (w[1] - w[0]) % step != 0) {
            let show = |d: i64| {
                let (y, m, dd) = civil(d);
                format!("{y:04}-{m:02}-{dd:02}")
            };
            let close = days.windows(2).find(|c| c[1] - c[0] == step).unwrap_or(w);
            return Err(invalid(
                "date",
                format!(
                    "the dates are not on a regular grid: the closest are {step} days apart ({} to {}), but {} follows {} after {} days (daily, weekly or monthly data, one row per period)",
                    show(close[0]),
                    show(close[1]),
                    show(w[1]),
                    show(w[0]),
                    w[1] - w[0]
                ),
            ));
        }
        Ok(Calendar { first, step, months: None })
    }

    /// The period of a date (a date before the first counts as the first).
    fn slot(&self, d: i64) -> usize {
        match self.months {
            Some((m0, _)) => {
                let (y, m, _) = civil(d);
                usize::try_from(y * 12 + i64::from(m) - 1 - m0).unwrap_or(0)
            }
            None => usize::try_from((d - self.first) / self.step).unwrap_or(0),
        }
    }

    /// The day of period `t`.
    fn day(&self, t: usize) -> i64 {
        match self.months {
            Some((m0, dom)) => {
                let m = m0 + t as i64;
                let (y, month) = (m.div_euclid(12), (m.rem_euclid(12) + 1) as u32);
                if dom == 0 {
                    // the month's last day: the day before the next month's first
                    let next = m + 1;
                    days_from_civil(next.div_euclid(12), (next.rem_euclid(12) + 1) as u32, 1) - 1
                } else {
                    days_from_civil(y, month, dom.min(days_in_month(y, month)))
                }
            }
            None => self.first + t as i64 * self.step,
        }
    }
}

/// (year, month, day) of a day number (days since 1970-01-01), proleptic Gregorian (Howard
/// Hinnant's `civil_from_days`).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day number of a date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let next = if m == 12 { days_from_civil(y + 1, 1, 1) } else { days_from_civil(y, m + 1, 1) };
    (next - days_from_civil(y, m, 1)) as u32
}

fn prepare(input: &MmmInput, st: &MmmSettings) -> Result<(Prepared, Vec<String>), FieldError> {
    let mut warnings = Vec::new();
    let n0 = input.days.len();
    if input.kpi.len() != n0 {
        return Err(invalid("kpi", format!("has {} values for {n0} dates", input.kpi.len())));
    }
    if input.channels.is_empty() {
        return Err(invalid("spend", "name at least one spend column"));
    }
    if input.channels.len() > MAX_CHANNELS {
        return Err(invalid("spend", format!("{} channels is more than {MAX_CHANNELS}", input.channels.len())));
    }
    if input.controls.len() > MAX_CONTROLS {
        return Err(invalid("controls", format!("{} controls is more than {MAX_CONTROLS}", input.controls.len())));
    }
    if input.lifts.len() > MAX_LIFTS {
        return Err(invalid("lifts", format!("{} lift tests is more than {MAX_LIFTS}", input.lifts.len())));
    }
    if st.folds > MAX_FOLDS {
        return Err(invalid("folds", format!("{} is more than {MAX_FOLDS}", st.folds)));
    }
    if st.draws < MIN_DRAWS {
        return Err(invalid("draws", format!("at least {MIN_DRAWS} re-fits for an interval")));
    }
    if st.periods == 0 || st.periods > MAX_PERIODS {
        return Err(invalid("periods", format!("must be 1 to {MAX_PERIODS}")));
    }
    if st.draws > MAX_DRAWS {
        return Err(invalid("draws", format!("{} is more than {MAX_DRAWS}", st.draws)));
    }
    if !(st.level > 0.5 && st.level < 1.0) {
        return Err(invalid("level", "must be between 0.5 and 1"));
    }
    if let Some(m) = st.max_change {
        if !(m >= 0.0 && m.is_finite()) {
            return Err(invalid("max_change", "must be a non-negative number"));
        }
    }
    if let Some(b) = st.budget {
        if !(b >= 0.0 && b.is_finite()) {
            return Err(invalid("budget", "must be a non-negative number"));
        }
    }
    // The rows in any order; one per date.
    let mut order: Vec<usize> = (0..n0).collect();
    order.sort_by_key(|&i| input.days[i]);
    if let Some(w) = order.windows(2).find(|w| input.days[w[0]] == input.days[w[1]]) {
        let (a, b) = (w[0].min(w[1]) + 1, w[0].max(w[1]) + 1);
        return Err(invalid("date", format!("rows {a} and {b} have the same date: give one row per date")));
    }
    let days: Vec<i64> = order.iter().map(|&i| input.days[i]).collect();
    let calendar = Calendar::of(&days)?;
    let n = days.last().map_or(0, |&l| calendar.slot(l) + 1);
    if n > MAX_PERIODS {
        return Err(invalid("date", format!("{n} periods is more than {MAX_PERIODS}")));
    }
    let step = calendar.step;
    let slot: Vec<usize> = input.days.iter().map(|&d| calendar.slot(d)).collect();
    let grid = |v: &[f64]| -> Vec<f64> {
        let mut g = vec![f64::NAN; n];
        for (i, &s) in slot.iter().enumerate() {
            g[s] = v[i];
        }
        g
    };
    if n > n0 {
        warnings.push(format!("{} dates are missing from the history: they are left out, not counted as zero", n - n0));
    }
    let kpi = grid(&input.kpi);
    let mut spend = Vec::new();
    let mut seen = vec![true; n];
    let mut names = Vec::new();
    for (i, ch) in input.channels.iter().enumerate() {
        let field = format!("spend[{i}]");
        if ch.values.len() != n0 {
            return Err(invalid(&field, format!("has {} values for {n0} dates", ch.values.len())));
        }
        if ch.values.iter().any(|v| v.is_finite() && *v < 0.0) || ch.values.iter().any(|v| v.is_infinite()) {
            return Err(invalid(&field, format!("{}: spend must be non-negative numbers", ch.name)));
        }
        if names.contains(&ch.name) {
            return Err(invalid(&field, format!("{} is named twice", ch.name)));
        }
        let g = grid(&ch.values);
        let observed: Vec<f64> = g.iter().copied().filter(|v| v.is_finite()).collect();
        if observed.iter().all(|v| *v == 0.0) {
            return Err(invalid(
                &field,
                format!("{}: spend is zero or missing throughout, nothing to learn from", ch.name),
            ));
        }
        for t in 0..n {
            seen[t] &= g[t].is_finite();
        }
        spend.push(interpolate(&g));
        names.push(ch.name.clone());
    }
    // Built-in controls on the whole grid, then the user's.
    let dates: Vec<i64> = (0..n).map(|t| calendar.day(t)).collect();
    let span_days = dates.last().map_or(0, |l| l - dates[0]);
    let yearly = st.yearly.unwrap_or(if span_days >= 364 { 2 } else { 0 });
    let weekly = st.weekly.unwrap_or(if step == 1 { 3 } else { 0 });
    if weekly > 0 && (step % 7 == 0 || calendar.months.is_some()) {
        return Err(invalid("weekly", "weekly seasonality needs data finer than a week"));
    }
    if yearly > 6 || weekly > 3 {
        return Err(invalid(if yearly > 6 { "yearly" } else { "weekly" }, "at most 6 yearly and 3 weekly harmonics"));
    }
    if st.yearly.is_none() && yearly == 0 {
        warnings.push("the history spans less than a year: no yearly seasonality in the model".into());
    }
    let mut z = vec![vec![1.0; n]];
    let mut control_names = vec!["intercept".to_string()];
    if st.trend {
        z.push((0..n).map(|t| t as f64 / n.max(2) as f64 - 0.5).collect());
        control_names.push("trend".into());
    }
    let day = |t: usize| dates[t] as f64;
    for (period, k_max, label) in [(365.25, yearly, "yearly"), (7.0, weekly, "weekly")] {
        for k in 1..=k_max {
            let w = 2.0 * std::f64::consts::PI * k as f64 / period;
            z.push((0..n).map(|t| (w * day(t)).sin()).collect());
            z.push((0..n).map(|t| (w * day(t)).cos()).collect());
            control_names.push(format!("{label}_sin{k}"));
            control_names.push(format!("{label}_cos{k}"));
        }
    }
    for (i, c) in input.controls.iter().enumerate() {
        if c.values.len() != n0 {
            return Err(invalid(&format!("controls[{i}]"), format!("has {} values for {n0} dates", c.values.len())));
        }
        let g = grid(&c.values);
        for t in 0..n {
            seen[t] &= g[t].is_finite();
        }
        z.push(g);
        control_names.push(c.name.clone());
    }
    let rows: Vec<usize> = (0..n).filter(|&t| seen[t] && kpi[t].is_finite()).collect();
    let p = z.len() + names.len();
    if rows.len() < p + 10 {
        return Err(invalid(
            "kpi",
            format!("{} complete periods is too few for {} channels and {} controls", rows.len(), names.len(), z.len()),
        ));
    }
    // The controls must not be collinear on the fitted rows.
    let zc: Vec<Vec<f64>> = z.iter().map(|c| rows.iter().map(|&t| c[t]).collect()).collect();
    let refs: Vec<&[f64]> = zc.iter().map(|c| c.as_slice()).collect();
    if linalg::cholesky(linalg::crossprod_columns(&refs, None).view()).is_err() {
        return Err(invalid(
            "controls",
            "the controls are collinear (a constant column, or one that repeats the trend or a season)",
        ));
    }
    let medians: Vec<f64> = spend
        .iter()
        .map(|s| {
            let mut v: Vec<f64> = rows.iter().map(|&t| s[t]).filter(|x| *x > 0.0).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v.get(v.len() / 2).copied().unwrap_or(1.0)
        })
        .collect();
    let mut lifts = Vec::new();
    for (i, l) in input.lifts.iter().enumerate() {
        let field = format!("lifts[{i}]");
        let c = names
            .iter()
            .position(|c| *c == l.channel)
            .ok_or_else(|| invalid(&format!("{field}.channel"), format!("{:?} is not a spend column", l.channel)))?;
        if l.end < l.start {
            return Err(invalid(&format!("{field}.end"), "is before start"));
        }
        if !(l.std_error > 0.0 && l.std_error.is_finite()) {
            return Err(invalid(&format!("{field}.std_error"), "must be positive"));
        }
        if !(l.spend_from >= 0.0 && l.spend_to >= 0.0 && l.incremental.is_finite()) || l.spend_from == l.spend_to {
            return Err(invalid(
                &field,
                "needs non-negative spend_from and spend_to that differ, and a finite incremental",
            ));
        }
        let m = calendar.slot(l.end).saturating_sub(calendar.slot(l.start)) + 1;
        lifts.push((c, m, l.clone()));
    }
    let launch = st.history_start == HistoryStart::Launch;
    Ok((Prepared { n, step, dates, rows, kpi, spend, names, z, control_names, medians, lifts, launch }, warnings))
}

/// Linear interpolation over missing values (the ends carry the nearest value).
fn interpolate(g: &[f64]) -> Vec<f64> {
    let known: Vec<usize> = (0..g.len()).filter(|&t| g[t].is_finite()).collect();
    let mut out = g.to_vec();
    for t in 0..g.len() {
        if g[t].is_finite() {
            continue;
        }
        let after = known.partition_point(|&k| k < t);
        out[t] = match (after.checked_sub(1).map(|i| known[i]), known.get(after).copied()) {
            (Some(a), Some(b)) => g[a] + (g[b] - g[a]) * (t - a) as f64 / (b - a) as f64,
            (Some(a), None) => g[a],
            (None, Some(b)) => g[b],
            (None, None) => 0.0,
        };
    }
    out
}

/// Shapes on their natural scale from the unconstrained vector (u_c, v_c per channel).
fn shapes(pr: &Prepared, x: &[f64]) -> Vec<(f64, f64)> {
    (0..pr.names.len()).map(|c| (THETA_MAX * logistic(x[2 * c]), pr.medians[c] * x[2 * c + 1].exp())).collect()
}

fn penalty(x: &[f64]) -> f64 {
    x.chunks(2).map(|p| 0.5 * (p[0] / PRIOR_SD_U).powi(2) + 0.5 * (p[1] / PRIOR_SD_V).powi(2)).sum()
}

/// The linear part for given shapes.
#[derive(Debug, Clone)]
struct Linear {
    /// Controls' coefficients, then β per channel.
    coef: Vec<f64>,
    sse: f64,
    lift_sse: f64,
}

/// Channel features h(adstock) on the whole grid.
fn features(pr: &Prepared, sh: &[(f64, f64)]) -> Vec<Vec<f64>> {
    let mut a = vec![0.0; pr.n];
    sh.iter()
        .enumerate()
        .map(|(c, &(theta, kappa))| {
            adstock_into(&pr.spend[c], theta, pr.launch, &mut a);
            a.iter().map(|v| hill(*v, kappa)).collect()
        })
        .collect()
}

/// What the linear part reuses for every shape: the controls' cross-products on the rows.
struct Gram<'a> {
    y: &'a [f64],
    rows: &'a [usize],
    ztz: ndarray::Array2<f64>,
    zty: Vec<f64>,
    yty: f64,
}

impl<'a> Gram<'a> {
    fn new(pr: &Prepared, y: &'a [f64], rows: &'a [usize]) -> Self {
        let p = pr.z.len();
        let mut ztz = ndarray::Array2::<f64>::zeros((p, p));
        for a in 0..p {
            for b in 0..=a {
                let v: f64 = rows.iter().map(|&t| pr.z[a][t] * pr.z[b][t]).sum();
                ztz[[a, b]] = v;
                ztz[[b, a]] = v;
            }
        }
        let zty = (0..p).map(|a| rows.iter().map(|&t| pr.z[a][t] * y[t]).sum()).collect();
        let yty = rows.iter().map(|&t| y[t] * y[t]).sum();
        Self { y, rows, ztz, zty, yty }
    }
}

/// Least squares of the KPI on the controls and the features over the rows, plus each lift as an
/// observation weighted by sigma2 / se², with β ≥ 0 (active set). The sums of squares come from
/// the cross-products (the KPI is never re-read). A `dropped` channel's β is held at zero (the
/// model without it, for the test of no effect).
fn linear(
    pr: &Prepared,
    g: &Gram,
    feats: &[Vec<f64>],
    lifts: &[(f64, f64)],
    sigma2: f64,
    sh: &[(f64, f64)],
    dropped: Option<usize>,
) -> Option<Linear> {
    let p = pr.z.len();
    let c = feats.len();
    let k = p + c;
    let mut xtx = ndarray::Array2::<f64>::zeros((k, k));
    let mut xty = ndarray::Array1::<f64>::zeros(k);
    for a in 0..p {
        xty[a] = g.zty[a];
        for b in 0..p {
            xtx[[a, b]] = g.ztz[[a, b]];
        }
    }
    // The features on the rows (the whole grid when no period is missing: no copy).
    let all = g.rows.len() == pr.n;
    let fr: Vec<std::borrow::Cow<[f64]>> = feats
        .iter()
        .map(|f| if all { f.as_slice().into() } else { g.rows.iter().map(|&t| f[t]).collect::<Vec<f64>>().into() })
        .collect();
    for (j, f) in fr.iter().enumerate() {
        xty[p + j] = g.rows.iter().zip(f.iter()).map(|(&t, v)| v * g.y[t]).sum();
        for a in 0..p {
            let v: f64 = g.rows.iter().zip(f.iter()).map(|(&t, v)| v * pr.z[a][t]).sum();
            xtx[[a, p + j]] = v;
            xtx[[p + j, a]] = v;
        }
        for (i, h) in fr[..=j].iter().enumerate() {
            let v = linalg::dot(f, h);
            xtx[[p + i, p + j]] = v;
            xtx[[p + j, p + i]] = v;
        }
    }
    let lift_rows: Vec<(usize, f64, f64, f64)> = pr
        .lifts
        .iter()
        .zip(lifts)
        .map(|((ch, m, l), &(inc, se))| (*ch, lift_feature(l, *m, sh[*ch].0, sh[*ch].1), inc, sigma2 / (se * se)))
        .collect();
    let mut total = g.yty;
    for &(ch, g, inc, w) in &lift_rows {
        xtx[[p + ch, p + ch]] += w * g * g;
        xty[p + ch] += w * g * inc;
        total += w * inc * inc;
    }
    let mut active: Vec<usize> = (0..k).filter(|&a| dropped.is_none_or(|c| a != p + c)).collect();
    let mut coef = vec![0.0; k];
    loop {
        let sub = linalg::submatrix(xtx.view(), &active);
        let rhs: ndarray::Array1<f64> = active.iter().map(|&a| xty[a]).collect();
        let b = linalg::cholesky(sub.view()).ok()?.solve(rhs.view());
        let worst = (0..active.len()).filter(|&i| active[i] >= p && b[i] < 0.0).min_by(|&i, &j| b[i].total_cmp(&b[j]));
        match worst {
            Some(i) => {
                active.remove(i);
            }
            None => {
                coef.iter_mut().for_each(|v| *v = 0.0);
                for (i, &a) in active.iter().enumerate() {
                    coef[a] = b[i];
                }
                break;
            }
        }
    }
    let b = ndarray::ArrayView1::from(&coef);
    let weighted = (total - 2.0 * b.dot(&xty) + b.dot(&xtx.dot(&b))).max(0.0);
    let lift_sse: f64 = lift_rows.iter().map(|&(ch, g, inc, w)| w * (inc - coef[p + ch] * g).powi(2)).sum();
    Some(Linear { coef, sse: (weighted - lift_sse).max(0.0), lift_sse })
}

/// A fit of the whole model: shapes and the linear part.
#[derive(Debug, Clone)]
struct Fitted {
    x: Vec<f64>,
    sh: Vec<(f64, f64)>,
    lin: Linear,
    feats: Vec<Vec<f64>>,
}

/// Which model a fit is of, and which shapes it searches.
#[derive(Clone, Copy, PartialEq)]
enum Search {
    /// Every channel, every shape searched.
    All,
    /// Without the channel (its β held at zero), the other shapes searched.
    Without(usize),
    /// Every channel, only this channel's shape searched (the others' held where `start` has
    /// them), for the test of no effect.
    ShapeOf(usize),
}

/// Minimise the penalised objective over the shapes from `start`. With `sigma2` the objective is
/// the Gaussian negative log-likelihood at that noise, lifts included; without, the profile
/// likelihood of the history alone (lifts left out).
fn fit_shapes(
    pr: &Prepared,
    y: &[f64],
    rows: &[usize],
    lifts: &[(f64, f64)],
    sigma2: Option<f64>,
    (start, step, rounds): (&[f64], f64, usize),
    search: Search,
) -> Option<Fitted> {
    let dropped = match search {
        Search::Without(c) => Some(c),
        _ => None,
    };
    // the shapes searched, and the whole vector they stand in
    let embed = |v: &[f64]| -> Vec<f64> {
        match search {
            Search::ShapeOf(c) => {
                let mut x = start.to_vec();
                x[2 * c..2 * c + 2].copy_from_slice(v);
                x
            }
            _ => v.to_vec(),
        }
    };
    let mut v = match search {
        Search::ShapeOf(c) => start[2 * c..2 * c + 2].to_vec(),
        _ => start.to_vec(),
    };
    let dim = v.len();
    let m = rows.len() as f64;
    let gram = Gram::new(pr, y, rows);
    let mut objective = |v: &[f64]| -> f64 {
        let x = embed(v);
        let sh = shapes(pr, &x);
        let feats = features(pr, &sh);
        let used: &[(f64, f64)] = if sigma2.is_some() { lifts } else { &[] };
        match linear(pr, &gram, &feats, used, sigma2.unwrap_or(1.0), &sh, dropped) {
            None => f64::INFINITY,
            Some(l) => {
                let nll = match sigma2 {
                    Some(s2) => (l.sse + l.lift_sse) / (2.0 * s2),
                    None => 0.5 * m * l.sse.max(1e-300).ln(),
                };
                nll + penalty(&x)
            }
        }
    };
    let mut s = step;
    for _ in 0..rounds {
        let (nv, _) = crate::optim::nelder_mead_step(&mut objective, &v, s, 120 * dim, NM_TOLERANCE);
        v = nv;
        s *= 0.5;
    }
    let x = embed(&v);
    let sh = shapes(pr, &x);
    let feats = features(pr, &sh);
    let used: &[(f64, f64)] = if sigma2.is_some() { lifts } else { &[] };
    let lin = linear(pr, &gram, &feats, used, sigma2.unwrap_or(1.0), &sh, dropped)?;
    Some(Fitted { x, sh, lin, feats })
}

/// The point fit: the history alone for the noise level, then lifts in.
fn fit_point(pr: &Prepared, y: &[f64], rows: &[usize], lifts: &[(f64, f64)]) -> Option<(Fitted, f64)> {
    let dim = 2 * pr.names.len();
    let k = pr.z.len() + pr.names.len();
    let first = fit_shapes(pr, y, rows, lifts, None, (&vec![0.0; dim], 1.0, 3), Search::All)?;
    let sigma2 = first.lin.sse / (rows.len().saturating_sub(k).max(1)) as f64;
    let f = fit_shapes(pr, y, rows, lifts, Some(sigma2), (&first.x, 0.5, 2), Search::All)?;
    Some((f, sigma2))
}

/// How much more likely (in log-likelihood) a launch must fit than a history already running
/// for the model to take it: e⁴, about 55 times. Simulated (mmm_simulation.rs), histories running
/// before their first week were taken as launched in 18 of 200 with no margin (the likelihoods
/// up to 3.0 apart), in none with it; histories launched with their first week fit the launch
/// 11.6 to 27 better in 37 of 40 (the other 3 within 1.3 either way, where the two starts differ
/// little).
const LAUNCH_MARGIN: f64 = 4.0;

/// A point fit's penalised negative log-likelihood, the noise profiled out: what two fits with
/// as many parameters (the history's two starts) are compared on.
fn profile_objective(f: &Fitted, sigma2: f64, m: usize) -> f64 {
    0.5 * m as f64 * (f.lin.sse / m.max(1) as f64).max(1e-300).ln() + 0.5 * f.lin.lift_sse / sigma2 + penalty(&f.x)
}

fn fitted_values(pr: &Prepared, f: &Fitted) -> Vec<f64> {
    let p = pr.z.len();
    (0..pr.n)
        .map(|t| {
            (0..p).map(|j| f.lin.coef[j] * pr.z[j][t]).sum::<f64>()
                + (0..f.feats.len()).map(|c| f.lin.coef[p + c] * f.feats[c][t]).sum::<f64>()
        })
        .collect()
}

/// Quantile (linear interpolation between order statistics, as numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn interval(mut v: Vec<f64>, level: f64) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let a = (1.0 - level) / 2.0;
    (quantile(&v, a), quantile(&v, 1.0 - a))
}

/// Per channel: ROI over the history's complete periods and the marginal ROI at mean spend.
fn returns(pr: &Prepared, f: &Fitted, mean_spend: &[f64]) -> Vec<(f64, f64)> {
    let p = pr.z.len();
    (0..pr.names.len())
        .map(|c| {
            let beta = f.lin.coef[p + c];
            let contribution: f64 = pr.rows.iter().map(|&t| beta * f.feats[c][t]).sum();
            let spent: f64 = pr.rows.iter().map(|&t| pr.spend[c][t]).sum();
            let kappa = f.sh[c].1;
            (contribution / spent.max(1e-300), beta * kappa / (mean_spend[c] + kappa).powi(2))
        })
        .collect()
}

fn gain(pr: &Prepared, f: &Fitted, from: &[f64], to: &[f64]) -> f64 {
    let p = pr.z.len();
    (0..pr.names.len()).map(|c| f.lin.coef[p + c] * (hill(to[c], f.sh[c].1) - hill(from[c], f.sh[c].1))).sum()
}

/// The gain summed over `periods` periods after moving from `from` to `to` (adstock catching up).
fn gain_over(pr: &Prepared, f: &Fitted, from: &[f64], to: &[f64], periods: usize) -> f64 {
    let p = pr.z.len();
    (0..pr.names.len())
        .map(|c| {
            let (theta, kappa) = f.sh[c];
            let (a, b) = (from[c], to[c]);
            let mut q = 1.0;
            let base = hill(a, kappa);
            f.lin.coef[p + c]
                * (0..periods)
                    .map(|_| {
                        q *= theta;
                        hill(b + (a - b) * q, kappa) - base
                    })
                    .sum::<f64>()
        })
        .sum()
}

/// How the plan treats a channel: optimised, held at today's spend, or cut to its floor.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Free,
    Held,
    Cut,
}

const TEST_SIMULATIONS: usize = 400;

/// Rejection rate of the block-means t test for each lift multiplier, common noise across calls.
struct Switchback {
    /// The spend path's steady-state-normalised response (1 = the full on-minus-off lift).
    response: Vec<f64>,
    on: Vec<bool>,
    noise: Vec<Vec<f64>>,
    block: usize,
    /// The t test's critical value on (blocks - 2) degrees of freedom.
    critical: f64,
}

impl Switchback {
    fn new(
        periods: usize,
        block: usize,
        ch: &MmmChannel,
        (on, off): (f64, f64),
        (sigma, rho): (f64, f64),
        seed: u64,
    ) -> Self {
        let (theta, kappa) = (ch.adstock, ch.half_saturation);
        let full = hill(on, kappa) - hill(off, kappa);
        let mut a = off;
        let mut response = Vec::with_capacity(periods);
        let mut flags = Vec::with_capacity(periods);
        for t in 0..periods {
            let is_on = (t / block).is_multiple_of(2);
            a = theta * a + (1.0 - theta) * if is_on { on } else { off };
            response.push((hill(a, kappa) - hill(off, kappa)) / full);
            flags.push(is_on);
        }
        let mut rng = Rng::new(seed);
        let innovation = sigma * (1.0 - rho * rho).max(0.0).sqrt();
        let noise = (0..TEST_SIMULATIONS)
            .map(|_| {
                let mut e = sigma * rng.normal();
                (0..periods)
                    .map(|_| {
                        let v = e;
                        e = rho * e + innovation * rng.normal();
                        v
                    })
                    .collect()
            })
            .collect();
        let blocks = periods.div_ceil(block);
        let critical = crate::dist::t_critical(0.05, blocks.saturating_sub(2).max(1) as f64);
        Self { response, on: flags, noise, block, critical }
    }

    fn power(&self, lift: f64) -> f64 {
        let blocks = self.response.len().div_ceil(self.block);
        let mut rejected = 0;
        for e in &self.noise {
            let (mut on, mut off) = (Vec::new(), Vec::new());
            for b in 0..blocks {
                let r = b * self.block..((b + 1) * self.block).min(self.response.len());
                let len = r.len() as f64;
                let m = r.clone().map(|t| lift * self.response[t] + e[t]).sum::<f64>() / len;
                if self.on[r.start] {
                    on.push(m);
                } else {
                    off.push(m);
                }
            }
            if on.len() < 2 || off.len() < 2 {
                continue;
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let var = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            let (m1, m0) = (mean(&on), mean(&off));
            let df = (on.len() + off.len() - 2) as f64;
            let pooled = ((on.len() - 1) as f64 * var(&on, m1) + (off.len() - 1) as f64 * var(&off, m0)) / df;
            let se = (pooled * (1.0 / on.len() as f64 + 1.0 / off.len() as f64)).sqrt();
            if se > 0.0 && ((m1 - m0) / se).abs() > self.critical {
                rejected += 1;
            }
        }
        rejected as f64 / TEST_SIMULATIONS as f64
    }

    /// The lift detected with 80% power (bisection; None if even a huge lift is not).
    fn mde(&self, scale: f64) -> Option<f64> {
        let (mut lo, mut hi) = (0.0, scale);
        let mut grown = 0;
        while self.power(hi) < 0.8 {
            lo = hi;
            hi *= 2.0;
            grown += 1;
            if grown > 30 {
                return None;
            }
        }
        for _ in 0..30 {
            let mid = 0.5 * (lo + hi);
            if self.power(mid) < 0.8 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }
}

/// The next test: a +30% switchback on the channel the evidence is weakest for, sized by simulating
/// the fitted carry-over and AR(1) residuals.
/// The geo holdout of `c` (spend cut to zero in the test markets) against a KPI of `level` per
/// period: per length, the mean over the window of β [h(s) − h(θ^(k+1) s)] / level.
fn geo_holdout(c: &MmmChannel, level: f64, daily: bool) -> GeoHoldout {
    let (theta, kappa, s) = (c.adstock, c.half_saturation, c.spend_from);
    let lengths: &[usize] = if daily { &[14, 28, 42, 56] } else { &[2, 4, 6, 8] };
    let level = level.abs().max(1e-12);
    let steady = c.effect * hill(s, kappa) / level;
    let durations: Vec<HoldoutLength> = lengths
        .iter()
        .map(|&d| {
            let lost: f64 = (1..=d).map(|k| hill(s, kappa) - hill(theta.powi(k as i32) * s, kappa)).sum::<f64>();
            let expected = c.effect * lost / d as f64 / level;
            let linear = 1.0 - (1..=d).map(|k| theta.powi(k as i32)).sum::<f64>() / d as f64;
            HoldoutLength {
                periods: d,
                expected_loss: expected,
                realized_share: if steady > 0.0 { expected / steady } else { linear },
            }
        })
        .collect();
    let unit = if daily { "days" } else { "periods" };
    let sizing = format!(
        "the noise is the markets': POST /api/v1/surfacing/design with {{\"geo\": {{\"panel\": the KPI by market and \
         period, \"kind\": \"holdout\", \"carryover\": {theta:.3}, \"effect\": {:.4}, \"durations\": the lengths in the \
         panel's periods}}}} gives each set of markets its power against this loss{}",
        steady.max(0.0),
        if steady > 0.0 {
            String::new()
        } else {
            " (the model predicts no loss: give the smallest loss worth knowing as the effect)".into()
        }
    );
    GeoHoldout {
        design: format!(
            "geo holdout: {} off in the test markets for {}-{} {unit}",
            c.channel,
            lengths[0],
            lengths[lengths.len() - 1]
        ),
        carryover: theta,
        steady_state_loss: steady,
        durations,
        sizing,
    }
}

fn next_test(channels: &[MmmChannel], daily: bool, sigma: f64, rho: f64, seed: u64, level: f64) -> Option<NextTest> {
    let weakest =
        channels.iter().filter(|c| !c.evidence).max_by(|a, b| a.spend_from.total_cmp(&b.spend_from)).or_else(|| {
            channels.iter().max_by(|a, b| {
                let w = |c: &MmmChannel| (c.roi_ci_high - c.roi_ci_low) / c.roi.abs().max(1e-12);
                w(a).total_cmp(&w(b))
            })
        })?;
    let (off, on) = (weakest.spend_from, 1.3 * weakest.spend_from);
    let predicted = weakest.effect * (hill(on, weakest.half_saturation) - hill(off, weakest.half_saturation));
    let (blocks, lengths): (&[usize], &[usize]) =
        if daily { (&[1, 7, 14], &[28, 56, 91, 182, 364]) } else { (&[1, 2, 4], &[8, 16, 26, 52]) };
    let rho = rho.clamp(0.0, 0.99);
    // Every length with every block length that leaves at least 4 blocks per arm; per length the
    // block length that detects the least.
    let combos: Vec<(usize, usize)> =
        lengths.iter().flat_map(|&l| blocks.iter().filter(move |&&b| l / b >= 8).map(move |&b| (l, b))).collect();
    let sims = crate::parallel::map(&combos, |&(periods, block)| {
        let sb = Switchback::new(periods, block, weakest, (on, off), (sigma, rho), seed);
        TestDuration {
            periods,
            block_periods: block,
            mde: sb.mde(sigma),
            power: sb.power(predicted),
            size: sb.power(0.0),
        }
    })
    .ok()?;
    let durations: Vec<TestDuration> = lengths
        .iter()
        .filter_map(|&l| {
            sims.iter()
                .filter(|d| d.periods == l)
                .min_by(|a, b| a.mde.unwrap_or(f64::INFINITY).total_cmp(&b.mde.unwrap_or(f64::INFINITY)))
                .cloned()
        })
        .collect();
    let periods_needed = durations.iter().find(|d| d.power >= 0.8).map(|d| d.periods);
    // The i.i.d. two-sample t test's periods (both arms) for the predicted lift.
    let z = crate::dist::normal_critical(0.05) + crate::dist::normal_critical(0.4);
    let naive_periods = if predicted > 0.0 { 2.0 * 2.0 * (z * sigma / predicted).powi(2) } else { f64::INFINITY };
    let unit = if daily { "days" } else { "periods" };
    let chosen = durations.iter().find(|d| Some(d.periods) == periods_needed).or(durations.last())?;
    let block = chosen.block_periods;
    let blocks_of = |b: usize| match (b, daily) {
        (1, true) => "1 day".to_string(),
        (1, false) => "1 period".to_string(),
        (b, _) => format!("{b} {unit}"),
    };
    let why = match periods_needed {
        Some(p) => format!(
            "the evidence on {} is the weakest; +30% spend in alternating blocks of {} detects the lift the model predicts ({predicted:.1} per period) with 80% power in {p} {unit}, carry-over and autocorrelated noise included (an i.i.d. t test would say {naive_periods:.0})",
            weakest.channel,
            blocks_of(block)
        ),
        None => format!(
            "the evidence on {} is the weakest; the lift the model predicts for +30% spend ({predicted:.1} per period) is too small to detect within {} {unit}: the table gives the lift each length can detect",
            weakest.channel,
            lengths[lengths.len() - 1]
        ),
    };
    Some(NextTest {
        channel: weakest.channel.clone(),
        design: format!("switchback: +30% spend on {} in alternating blocks of {}", weakest.channel, blocks_of(block)),
        why,
        spend_on: on,
        spend_off: off,
        predicted_lift: predicted,
        durations,
        periods_needed,
        naive_periods,
        simulations: TEST_SIMULATIONS,
        geo_holdout: geo_holdout(weakest, level, daily),
    })
}

/// Lahiri's plug-in block length for an AR(1) with lag-1 autocorrelation rho.
/// The history's residuals centred and rescaled to the noise's size (Davison and Hinkley 1997,
/// eq. 6.9: `k_eff` parameters fitted), and their lag-1 autocorrelation.
fn centred_residuals(pr: &Prepared, fitted: &[f64], k_eff: f64) -> (Vec<f64>, f64) {
    let resid: Vec<f64> = pr.rows.iter().map(|&t| pr.kpi[t] - fitted[t]).collect();
    let m = resid.len();
    let rmean = resid.iter().sum::<f64>() / m.max(1) as f64;
    let inflate = (m as f64 / (m as f64 - k_eff).max(1.0)).sqrt();
    let centred: Vec<f64> = resid.iter().map(|r| (r - rmean) * inflate).collect();
    let var: f64 = centred.iter().map(|r| r * r).sum();
    let rho = if var > 0.0 { centred.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / var } else { 0.0 };
    (centred, rho)
}

/// `fitted` plus moving blocks of `centred` drawn with `rng`, on the history's rows.
fn resampled(pr: &Prepared, fitted: &[f64], centred: &[f64], block: usize, rng: &mut Rng) -> Vec<f64> {
    let m = centred.len();
    let mut y = pr.kpi.clone();
    let mut filled = 0;
    while filled < m {
        let s = rng.below(m - block + 1);
        for j in 0..block.min(m - filled) {
            let t = pr.rows[filled + j];
            y[t] = fitted[t] + centred[s + j];
        }
        filled += block;
    }
    y
}

/// Re-fits drawn for each channel's test of no effect, at most (fewer with fewer `draws`).
pub const NULL_DRAWS: usize = 199;
/// The test of no effect's level for evidence.
const NULL_LEVEL: f64 = 0.05;

/// The p-value of the test that channel `c` has no effect: the likelihood ratio of the model
/// with the channel against the model without it (the other channels' shapes held where the
/// model without it puts them), calibrated by a parametric bootstrap under the model without it
/// (its fit plus moving blocks of its residuals, lifts drawn around what it predicts), the
/// channel's carry-over and saturation searched again on every draw as on the history. Holding
/// the other shapes at the history's fit on the draws, where they would fit each draw a little
/// better, leaves the draws' ratios no smaller: the test errs on the side of no effect. The search over the two shape parameters lets a channel's curve
/// bend to the noise (a curve saturated below every spend the history saw, with long carry-over,
/// is a slow wave that can stand in for the intercept, the trend or a season): the bootstrap's
/// percentile intervals, centred on that fit, do not see it, this test does (Davies 1987: the
/// null distribution of a likelihood ratio whose nuisance parameters exist only under the
/// alternative). None where the model without the channel cannot be fitted.
#[allow(clippy::too_many_arguments)]
fn no_effect_p_value(
    pr: &Prepared,
    point: &Fitted,
    sigma2: f64,
    lifts: &[(f64, f64)],
    c: usize,
    draws: usize,
    block: usize,
    seed: u64,
) -> Result<Option<f64>, FieldError> {
    let p = pr.z.len();
    let mut start = point.x.clone();
    start[2 * c] = 0.0;
    start[2 * c + 1] = 0.0;
    let Some(null) = fit_shapes(pr, &pr.kpi, &pr.rows, lifts, Some(sigma2), (&start, 1.0, 3), Search::Without(c))
    else {
        return Ok(None);
    };
    let mut full_start = null.x.clone();
    full_start[2 * c] = 0.0;
    full_start[2 * c + 1] = 0.0;
    // The statistic: what adding the channel, its shape searched and the others' held at the
    // model without it, takes off the objective.
    let stat = |y: &[f64], l: &[(f64, f64)]| -> Option<f64> {
        let without = fit_shapes(pr, y, &pr.rows, l, Some(sigma2), (&null.x, 0.0, 0), Search::Without(c))?;
        let with = fit_shapes(pr, y, &pr.rows, l, Some(sigma2), (&full_start, 1.0, 3), Search::ShapeOf(c))?;
        Some(((without.lin.sse + without.lin.lift_sse) - (with.lin.sse + with.lin.lift_sse)) / sigma2)
    };
    let Some(observed) = stat(&pr.kpi, lifts) else { return Ok(None) };
    if observed <= 0.0 {
        return Ok(Some(1.0));
    }
    let fitted = fitted_values(pr, &null);
    let k_eff = (p + 3 * (pr.names.len() - 1)) as f64;
    let (centred, _) = centred_residuals(pr, &fitted, k_eff);
    let predicted: Vec<f64> = pr
        .lifts
        .iter()
        .map(|(ch, m, l)| null.lin.coef[p + ch] * lift_feature(l, *m, null.sh[*ch].0, null.sh[*ch].1))
        .collect();
    let indices: Vec<usize> = (0..draws).collect();
    let stats = crate::parallel::map(&indices, |&i| {
        let key = ((c as u64) << 32 | i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = Rng::new(seed ^ key ^ 0x5DEE_CE66_D1CE_4E5B);
        let y = resampled(pr, &fitted, &centred, block, &mut rng);
        let l: Vec<(f64, f64)> =
            lifts.iter().zip(&predicted).map(|(&(_, se), &mu)| (mu + se * rng.normal(), se)).collect();
        stat(&y, &l)
    })
    .map_err(|e| invalid("draws", format!("a re-fit of the test of no effect failed: {e}")))?;
    let stats: Vec<f64> = stats.into_iter().flatten().collect();
    if stats.is_empty() {
        return Ok(None);
    }
    let beyond = stats.iter().filter(|d| **d >= observed).count();
    Ok(Some((1 + beyond) as f64 / (1 + stats.len()) as f64))
}

fn block_length(n: usize, rho: f64) -> usize {
    let rho = rho.clamp(0.0, 0.95);
    let b = (1.5 * n as f64).cbrt() * (2.0 * rho / (1.0 - rho * rho)).powf(2.0 / 3.0);
    (b.ceil() as usize).clamp(1, (n / 5).max(1))
}

/// Fit, bootstrap, cross-validate and plan.
pub fn fit(input: &MmmInput, st: &MmmSettings) -> Result<MmmResult, FieldError> {
    let (mut pr, mut warnings) = prepare(input, st)?;
    let p = pr.z.len();
    let nc = pr.names.len();
    let lifts: Vec<(f64, f64)> = pr.lifts.iter().map(|(_, _, l)| (l.incremental, l.std_error)).collect();
    let collinear = || invalid("spend", "the spends and controls move together: their effects cannot be told apart");
    let (point, sigma2) = fit_point(&pr, &pr.kpi, &pr.rows, &lifts).ok_or_else(collinear)?;
    // The history's start, where not given: the two fits have as many parameters; the launch is
    // kept where it is clearly the more likely (LAUNCH_MARGIN), running otherwise.
    let (point, sigma2) = if st.history_start == HistoryStart::Auto {
        pr.launch = true;
        match fit_point(&pr, &pr.kpi, &pr.rows, &lifts) {
            Some((f, s2))
                if profile_objective(&f, s2, pr.rows.len()) + LAUNCH_MARGIN
                    < profile_objective(&point, sigma2, pr.rows.len()) =>
            {
                (f, s2)
            }
            _ => {
                pr.launch = false;
                (point, sigma2)
            }
        }
    } else {
        (point, sigma2)
    };
    let pr = pr;
    let fitted = fitted_values(&pr, &point);
    let resid: Vec<f64> = pr.rows.iter().map(|&t| pr.kpi[t] - fitted[t]).collect();
    let m = resid.len();
    // Residuals understate the noise by the parameters fitted: rescaled to the noise's size,
    // linear coefficients and shapes counted.
    let (centred, rho) = centred_residuals(&pr, &fitted, (p + 3 * nc) as f64);
    let block = st.block_length.unwrap_or_else(|| block_length(m, rho)).clamp(1, m);
    let ymean = pr.rows.iter().map(|&t| pr.kpi[t]).sum::<f64>() / m as f64;
    let sst: f64 = pr.rows.iter().map(|&t| (pr.kpi[t] - ymean).powi(2)).sum();
    let sse: f64 = resid.iter().map(|r| r * r).sum();
    let ape: Vec<f64> =
        pr.rows.iter().zip(&resid).filter(|(&t, _)| pr.kpi[t] != 0.0).map(|(&t, r)| (r / pr.kpi[t]).abs()).collect();
    let mape = 100.0 * ape.iter().sum::<f64>() / ape.len().max(1) as f64;

    // The whole fit again on every draw: residual blocks, lifts redrawn.
    let indices: Vec<usize> = (0..st.draws).collect();
    let refits = crate::parallel::map(&indices, |&i| {
        let mut rng = Rng::new(st.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1));
        let y = resampled(&pr, &fitted, &centred, block, &mut rng);
        let l: Vec<(f64, f64)> = lifts.iter().map(|&(inc, se)| (inc + se * rng.normal(), se)).collect();
        fit_shapes(&pr, &y, &pr.rows, &l, Some(sigma2), (&point.x, REFIT_STEP, REFIT_ROUNDS), Search::All)
    })
    .map_err(|e| invalid("draws", format!("a bootstrap re-fit failed: {e}")))?;
    let draws: Vec<Fitted> = refits.into_iter().flatten().collect();
    if draws.len() < st.draws {
        warnings.push(format!("{} of {} bootstrap re-fits failed and were left out", st.draws - draws.len(), st.draws));
    }

    // Rolling-origin cross-validation.
    let folds = st.folds;
    let horizon = (m / 10).min(m / (2 * folds.max(1))).max(1);
    let cuts: Vec<usize> =
        (1..=folds).map(|f| m.saturating_sub(f * horizon)).take_while(|&cut| cut >= p + nc + 10).collect();
    let predictions = crate::parallel::map(&cuts, |&cut| {
        fit_point(&pr, &pr.kpi, &pr.rows[..cut], &lifts).map(|(ff, _)| fitted_values(&pr, &ff))
    })
    .map_err(|e| invalid("folds", format!("a cross-validation fit failed: {e}")))?;
    let mut cv_err = Vec::new();
    let mut cv_ape = Vec::new();
    for (&cut, pred) in cuts.iter().zip(&predictions) {
        let Some(pred) = pred else { continue };
        for &t in &pr.rows[cut..cut + horizon] {
            cv_err.push((pr.kpi[t] - pred[t]).powi(2));
            if pr.kpi[t] != 0.0 {
                cv_ape.push(((pr.kpi[t] - pred[t]) / pr.kpi[t]).abs());
            }
        }
    }
    let cv_folds = cv_err.len() / horizon;
    let fit = MmmFitSummary {
        r_squared: if sst > 0.0 { 1.0 - sse / sst } else { 0.0 },
        rmse: (sse / m as f64).sqrt(),
        mape,
        cv_rmse: (!cv_err.is_empty()).then(|| (cv_err.iter().sum::<f64>() / cv_err.len() as f64).sqrt()),
        cv_mape: (!cv_ape.is_empty()).then(|| 100.0 * cv_ape.iter().sum::<f64>() / cv_ape.len() as f64),
        cv_folds,
        cv_horizon: horizon,
        residual_autocorrelation: rho,
        block_length: block,
        periods: pr.n,
        observed: m,
        history_start: if pr.launch { HistoryStart::Launch } else { HistoryStart::Running },
    };

    // Returns with their intervals.
    let mean_spend: Vec<f64> =
        (0..nc).map(|c| pr.rows.iter().map(|&t| pr.spend[c][t]).sum::<f64>() / m as f64).collect();
    let at_point = returns(&pr, &point, &mean_spend);
    let drawn: Vec<Vec<(f64, f64)>> = draws.iter().map(|d| returns(&pr, d, &mean_spend)).collect();
    let mut roi_ci: Vec<(f64, f64)> =
        (0..nc).map(|c| interval(drawn.iter().map(|d| d[c].0).collect(), st.level)).collect();
    let mut mroi_ci: Vec<(f64, f64)> =
        (0..nc).map(|c| interval(drawn.iter().map(|d| d[c].1).collect(), st.level)).collect();

    // The plan, within the spend the history supports; no evidence, no more budget.
    let supported: Vec<f64> = (0..nc)
        .map(|c| {
            let mut a = vec![0.0; pr.n];
            adstock_into(&pr.spend[c], point.sh[c].0, pr.launch, &mut a);
            pr.rows.iter().map(|&t| a[t]).fold(0.0, f64::max).max(mean_spend[c])
        })
        .collect();
    // Evidence of an effect: positive in at least 99% of the re-fits, and no effect rejected at
    // 5% by the test calibrated under no effect. A zero effect sits on the boundary β = 0, where
    // the percentile bootstrap's lower tail is too short (Andrews 2000), and the search over a
    // channel's shape finds a curve that follows the noise: simulated (mmm_simulation.rs), a
    // channel with no effect had a 90% interval above zero in 14.0% of 200 histories, 10.5% with
    // the test (which rejects at 5% in 10 of the 200, and for both channels with an effect in
    // all 200).
    let positive: Vec<bool> = (0..nc)
        .map(|c| {
            let mut v: Vec<f64> = drawn.iter().map(|d| d[c].0).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            point.lin.coef[p + c] > 0.0 && quantile(&v, EVIDENCE_QUANTILE) > 0.0
        })
        .collect();
    // The test is run where it can change an answer: a channel the re-fits put clear of zero.
    let no_effect: Vec<Option<f64>> = (0..nc)
        .map(|c| {
            if point.lin.coef[p + c] <= 0.0 {
                Ok(Some(1.0))
            } else if positive[c] || roi_ci[c].0 > 0.0 {
                no_effect_p_value(&pr, &point, sigma2, &lifts, c, st.draws.min(NULL_DRAWS), block, st.seed)
            } else {
                Ok(None)
            }
        })
        .collect::<Result<_, _>>()?;
    let evidence: Vec<bool> = (0..nc).map(|c| positive[c] && no_effect[c].is_some_and(|q| q <= NULL_LEVEL)).collect();
    // Where no effect is not rejected at the intervals' level, no effect is in the confidence
    // set: the intervals reach zero (the ROI's, the marginal ROI's, the curve's and the move's).
    let zero_kept: Vec<bool> = no_effect.iter().map(|q| q.is_some_and(|q| q > 1.0 - st.level)).collect();
    for c in (0..nc).filter(|&c| zero_kept[c]) {
        roi_ci[c].0 = roi_ci[c].0.min(0.0);
        mroi_ci[c].0 = mroi_ci[c].0.min(0.0);
    }
    let floor = |c: usize| st.max_change.map_or(0.0, |mc| mean_spend[c] * (1.0 - mc));
    let cap = |c: usize| {
        let hi = supported[c].max(floor(c));
        st.max_change.map_or(hi, |mc| hi.min(mean_spend[c] * (1.0 + mc)))
    };
    let model = FittedModel {
        base: point.lin.coef[0],
        curves: (0..nc)
            .map(|c| Curve {
                channel: pr.names[c].clone(),
                beta: point.lin.coef[p + c],
                beta_se: 0.0,
                half_saturation: point.sh[c].1,
                shape: 1.0,
                adstock: point.sh[c].0,
            })
            .collect(),
        covariance: ndarray::Array2::zeros((nc + 1, nc + 1)),
        residual_sd: sigma2.sqrt(),
        r_squared: fit.r_squared,
        calibration: vec![],
        n_obs: m,
    };
    let budget = st.budget.unwrap_or_else(|| mean_spend.iter().sum());
    // A channel without evidence is held at today's spend (neither more budget nor a cut the data
    // cannot justify: it is what the next test is for), unless even its optimistic marginal
    // return is below what the plan pays at the margin: then it is cut to its floor.
    let mut roles: Vec<Role> = evidence.iter().map(|&e| if e { Role::Free } else { Role::Held }).collect();
    let solve = |roles: &[Role]| -> Result<(budget::PlanResult, f64), FieldError> {
        let held_total: f64 = (0..nc).filter(|&c| roles[c] == Role::Held).map(|c| mean_spend[c]).sum();
        let free_floor: f64 = (0..nc).filter(|&c| roles[c] != Role::Held).map(floor).sum();
        // A budget below what holding needs lets held channels come down too (never up).
        let tight = budget < held_total + free_floor - 1e-9 * budget.max(1.0);
        let range = |c: usize| match roles[c] {
            Role::Free => (floor(c), cap(c)),
            Role::Held if tight => (floor(c), mean_spend[c]),
            Role::Held => (mean_spend[c], mean_spend[c]),
            Role::Cut => (floor(c), floor(c)),
        };
        let lo_total: f64 = (0..nc).map(|c| range(c).0).sum();
        let hi_total: f64 = (0..nc).map(|c| range(c).1).sum();
        if budget < lo_total - 1e-9 * lo_total.max(1.0) {
            return Err(invalid("budget", format!("{budget} is below what --max-change keeps ({lo_total:.4})")));
        }
        let channels = (0..nc)
            .map(|c| ChannelBounds {
                channel: pr.names[c].clone(),
                current: mean_spend[c],
                min: Some(range(c).0),
                max: Some(range(c).1),
            })
            .collect();
        let plan = Plan { seed: st.seed, ..Plan::new(Objective::MaxOutcome, Some(budget.min(hi_total)), channels) };
        Ok((budget::optimize(&model, &plan).map_err(|e| invalid(&e.field, e.message))?, budget.min(hi_total)))
    };
    let (mut planned_result, mut planned) = solve(&roles)?;
    let margin = planned_result.marginal_return;
    let mut cut = false;
    for c in 0..nc {
        if roles[c] == Role::Held && mroi_ci[c].1 < margin {
            roles[c] = Role::Cut;
            cut = true;
        }
    }
    if cut {
        (planned_result, planned) = solve(&roles)?;
    }
    let unallocated = budget - planned;
    if unallocated > 1e-9 * budget.max(1.0) {
        // Why no channel takes it: the ones with evidence are at their caps, the others take no
        // more than their spend over the history.
        let free = roles.iter().filter(|r| **r == Role::Free).count();
        let why = if free == 0 {
            "no channel's return on spend is clear of zero in the model's re-fits, so none is given more than its average spend over the history".to_string()
        } else if free == nc {
            "it is beyond the spend the history supports (or --max-change allows)".to_string()
        } else {
            format!(
                "the {} with a return clear of zero {} at the most the history supports (or --max-change allows), and the others are given no more than their average spend over the history",
                if free == 1 { "channel" } else { "channels" },
                if free == 1 { "is" } else { "are" }
            )
        };
        warnings.push(format!(
            "{unallocated:.2} of the budget per period is left unallocated rather than extrapolated: {why}"
        ));
    }
    // The optimiser's sums leave a channel it did not move a rounding error off today's spend
    // (10100.205961543412 for 10100.20596153846): that is no move, and a gain of 1e-9 in every
    // re-fit would read as a sure gain.
    let to: Vec<f64> = planned_result
        .allocations
        .iter()
        .zip(&mean_spend)
        .map(|(a, &m)| if (a.spend - m).abs() <= 1e-9 * m.abs().max(1.0) { m } else { a.spend })
        .collect();
    let expected_gain = gain(&pr, &point, &mean_spend, &to);
    let gains: Vec<f64> = draws.iter().map(|d| gain(&pr, d, &mean_spend, &to)).collect();
    let gain_positive_share = gains.iter().filter(|g| **g > 0.0).count() as f64 / gains.len().max(1) as f64;
    let (gain_ci_low, gain_ci_high) = interval(gains, st.level);

    let channels: Vec<MmmChannel> = (0..nc)
        .map(|c| {
            let spend = to[c];
            let near = |v: f64| (spend - v).abs() <= 1e-9 * v.abs().max(1.0);
            let bound = match roles[c] {
                Role::Cut => Some("no_evidence".to_string()),
                Role::Held => Some("held".to_string()),
                Role::Free if near(cap(c)) => {
                    Some(if cap(c) < supported[c] { "max_change" } else { "supported" }.to_string())
                }
                Role::Free if floor(c) > 0.0 && near(floor(c)) => Some("max_change".to_string()),
                Role::Free => None,
            };
            let (beta, kappa) = (point.lin.coef[p + c], point.sh[c].1);
            let top = 1.5 * supported[c].max(spend).max(mean_spend[c]);
            let response_curve = (0..CURVE_POINTS)
                .map(|i| {
                    let x = top * i as f64 / (CURVE_POINTS - 1) as f64;
                    let (ci_low, ci_high) =
                        interval(draws.iter().map(|d| d.lin.coef[p + c] * hill(x, d.sh[c].1)).collect(), st.level);
                    let ci_low = if zero_kept[c] { ci_low.min(0.0) } else { ci_low };
                    ResponsePoint { spend: x, response: beta * hill(x, kappa), ci_low, ci_high }
                })
                .collect();
            let move_gain = |f: &Fitted| f.lin.coef[p + c] * (hill(spend, f.sh[c].1) - hill(mean_spend[c], f.sh[c].1));
            let (mut gain_ci_low, mut gain_ci_high) = interval(draws.iter().map(move_gain).collect(), st.level);
            if zero_kept[c] {
                (gain_ci_low, gain_ci_high) = (gain_ci_low.min(0.0), gain_ci_high.max(0.0));
            }
            let share = |keep: &dyn Fn(&(f64, f64)) -> bool| {
                drawn.iter().filter(|d| keep(&d[c])).count() as f64 / drawn.len().max(1) as f64
            };
            MmmChannel {
                gain: move_gain(&point),
                gain_ci_low,
                gain_ci_high,
                positive_share: share(&|r| r.0 > 0.0),
                channel: pr.names[c].clone(),
                roi: at_point[c].0,
                roi_ci_low: roi_ci[c].0,
                roi_ci_high: roi_ci[c].1,
                marginal_roi: at_point[c].1,
                marginal_roi_ci_low: mroi_ci[c].0,
                marginal_roi_ci_high: mroi_ci[c].1,
                adstock: point.sh[c].0,
                half_saturation: point.sh[c].1,
                effect: point.lin.coef[p + c],
                contribution: pr.rows.iter().map(|&t| point.lin.coef[p + c] * point.feats[c][t]).sum(),
                spend_from: mean_spend[c],
                spend_to: spend,
                spend_supported: supported[c],
                evidence: evidence[c],
                no_effect_p_value: no_effect[c],
                bound,
                response_curve,
            }
        })
        .collect();
    let decomposition = Decomposition {
        days: pr.dates.clone(),
        kpi: (0..pr.n).map(|t| Some(pr.kpi[t]).filter(|v| v.is_finite())).collect(),
        baseline: (0..pr.n).map(|t| (0..p).map(|j| point.lin.coef[j] * pr.z[j][t]).sum()).collect(),
        channels: (0..nc).map(|c| point.feats[c].iter().map(|f| point.lin.coef[p + c] * f).collect()).collect(),
    };
    let lift_checks = pr
        .lifts
        .iter()
        .map(|(c, m, l)| {
            let (theta, kappa) = point.sh[*c];
            let beta = point.lin.coef[p + c];
            LiftCheck {
                channel: l.channel.clone(),
                periods: *m,
                incremental: l.incremental,
                std_error: l.std_error,
                predicted: beta * lift_feature(l, *m, theta, kappa),
                predicted_steady_state: beta * (hill(l.spend_to, kappa) - hill(l.spend_from, kappa)) * *m as f64,
            }
        })
        .collect();
    let periods = st.periods;
    let (h_lo, h_hi) = interval(draws.iter().map(|d| gain_over(&pr, d, &mean_spend, &to, periods)).collect(), st.level);
    let horizon = Horizon {
        periods,
        spend: planned_result.total_spend * periods as f64,
        gain: gain_over(&pr, &point, &mean_spend, &to, periods),
        gain_ci_low: h_lo,
        gain_ci_high: h_hi,
    };
    if rho > 0.3 {
        warnings.push(format!(
            "the residuals are autocorrelated (lag-1 {rho:.2}): the intervals resample blocks of {block} periods to respect it"
        ));
    }
    let level = pr.rows.iter().map(|&t| pr.kpi[t]).sum::<f64>() / pr.rows.len().max(1) as f64;
    let next_test = next_test(&channels, pr.step == 1, sigma2.sqrt(), rho, st.seed, level);
    Ok(MmmResult {
        next_test,
        channels,
        expected_gain,
        margin: planned_result.marginal_return,
        gain_positive_share,
        gain_ci_low,
        gain_ci_high,
        budget,
        planned_spend: planned,
        unallocated,
        level: st.level,
        draws: draws.len(),
        fit,
        controls: pr.control_names.clone(),
        lifts: lift_checks,
        horizon,
        incremental: true,
        warnings,
        decomposition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(theta: f64) -> MmmChannel {
        MmmChannel {
            channel: "c".into(),
            roi: 0.1,
            roi_ci_low: 0.0,
            roi_ci_high: 0.2,
            marginal_roi: 0.05,
            marginal_roi_ci_low: 0.0,
            marginal_roi_ci_high: 0.1,
            adstock: theta,
            half_saturation: 1e9,
            effect: 1e9,
            contribution: 0.0,
            spend_from: 100.0,
            spend_to: 100.0,
            spend_supported: 130.0,
            gain: 0.0,
            gain_ci_low: 0.0,
            gain_ci_high: 0.0,
            positive_share: 0.5,
            evidence: false,
            no_effect_p_value: None,
            bound: None,
            response_curve: vec![],
        }
    }

    /// Alternating single periods under carry-over θ: the on/off contrast shrinks by
    /// (1 - θ)/(1 + θ) (linear response, κ huge), so the detectable steady-state lift grows by the
    /// inverse; the simulated t test keeps its size with i.i.d. noise.
    #[test]
    fn switchback_contrast_shrinks_with_carry_over() {
        let mde = |theta: f64| {
            let sb = Switchback::new(200, 1, &channel(theta), (130.0, 100.0), (1.0, 0.0), 3);
            (sb.mde(1.0).unwrap(), sb.power(0.0))
        };
        let (m0, size0) = mde(0.0);
        let (m8, size8) = mde(0.8);
        let ratio = m8 / m0;
        assert!((ratio - 9.0).abs() < 1.0, "MDE ratio {ratio} against (1 + θ)/(1 - θ) = 9");
        for s in [size0, size8] {
            assert!((0.02..=0.085).contains(&s), "size {s}");
        }
    }

    #[test]
    fn the_next_test_is_sized_for_the_weakest_channel() {
        let mut weak = channel(0.5);
        weak.effect = 50.0;
        weak.half_saturation = 100.0;
        let mut strong = channel(0.2);
        strong.channel = "s".into();
        strong.evidence = true;
        let t = next_test(&[strong, weak.clone()], true, 5.0, 0.3, 1, 1000.0).unwrap();
        assert_eq!(t.channel, "c");
        // The geo holdout of the same channel: steady-state loss β h(s) / level; after k periods
        // θ^k of the adstock is left, so a window realises less than the steady state, and more
        // the longer it runs.
        let g = &t.geo_holdout;
        let steady = weak.effect * weak.spend_from / (weak.spend_from + weak.half_saturation) / 1000.0;
        assert!((g.steady_state_loss - steady).abs() < 1e-12 && g.carryover == weak.adstock, "{g:?}");
        let one = |d: usize| {
            let h = |a: f64| a / (a + weak.half_saturation);
            let lost: f64 =
                (1..=d).map(|k| h(weak.spend_from) - h(weak.adstock.powi(k as i32) * weak.spend_from)).sum();
            weak.effect * lost / d as f64 / 1000.0
        };
        for l in &g.durations {
            assert!((l.expected_loss - one(l.periods)).abs() < 1e-12, "{l:?}");
            assert!((l.realized_share * steady - l.expected_loss).abs() < 1e-12);
            // A concave response loses less than the adstock's linear share.
            let linear = crate::design::geo::realized_share(weak.adstock, l.periods);
            assert!(l.realized_share <= linear + 1e-12 && l.realized_share > 0.5 * linear, "{l:?} vs {linear}");
        }
        assert!(g.durations.windows(2).all(|w| w[1].realized_share > w[0].realized_share));
        assert!(g.sizing.contains("\"carryover\": 0.500"), "{}", g.sizing);
        assert_eq!(t.durations.len(), 5);
        let mdes: Vec<f64> = t.durations.iter().map(|d| d.mde.unwrap()).collect();
        assert!(mdes.windows(2).all(|w| w[1] < w[0]), "{mdes:?}");
        assert!(t.durations.iter().all(|d| d.size <= 0.1), "{:?}", t.durations);
        // Power against the predicted lift rises with the length, and the needed length has 80%.
        if let Some(p) = t.periods_needed {
            assert!(t.durations.iter().find(|d| d.periods == p).unwrap().power >= 0.8);
        }
    }
}
