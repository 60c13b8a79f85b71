//! Counterfactuals, computed from the estimators' results, never generated: what the outcome
//! would have been without the intervention (synthetic control, DiD and event studies,
//! Callaway-Sant'Anna cohorts), and what it would be under another spend (the fitted response
//! curves). Every scenario names its interval method and carries reconciliation identities, each
//! with its two sides and their difference, that a test pins to 1e-9.
//!
//! Formulas (`../shared/design/llm-kse.md`, section 4.1):
//! - synthetic control: counterfactual(t) = Σⱼ wⱼ Yⱼ(t) (the result's `synthetic`); effect = gap;
//!   Σ_post gap = estimate × n_post. No sampling interval: with placebos, the range of the donors'
//!   placebo gaps at each period, labelled as such.
//! - DiD (TWFE): counterfactual = observed − β̂ (per event time, or the ATT for every treated
//!   cell), interval β̂ ± t(df)·SE at the asked level; Σ_t n_t·effect_t = ATT × Σ_t n_t.
//! - Callaway-Sant'Anna: counterfactual(g,t) = Ȳ(g,t) − ATT(g,t); Σ_post n_g·ATT(g,t) =
//!   ATT_simple × Σ_post n_g (the simple aggregation weights post cells by group size).
//! - spend what-ifs: Δ per period = Σ_c β_c [hill_c(a_c,t) − hill_c(x_c)] with the adstock path
//!   a_t = θ a_{t−1} + (1 − θ) x′ from the current steady state; Δ is linear in β with the curves'
//!   shapes fixed, so Var(Δ) = hᵀ Σ_β h exactly (the delta method is exact here); current spend gives
//!   Δ = 0, the optimiser's plan gives its `gain`.
//!
//! IV and RDD estimate local effects (compliers; units at the cutoff): a path away from them is
//! refused with the reason.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use liftos_estimators::budget::{Curve, FittedModel, PlanResult};
use liftos_estimators::data::Table;
use liftos_estimators::did::staggered::CsResult;
use liftos_estimators::did::twfe::{DidResult, Headline};
use liftos_estimators::dist;
use liftos_estimators::impact::ImpactResult;
use liftos_estimators::sdid::SdidResult;
use liftos_estimators::synth::SynthResult;

use super::facts::{Evidence, Grade};
use crate::api::causal::{AnalysisOutput, MethodSpec};
use crate::api::estimate::{DidOutput, MethodOutput};

/// What a scenario compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    /// What happened against what would have happened without the intervention.
    ObservedVsCounterfactual,
    /// The outcome under another spend against the current spend.
    SpendWhatIf,
}

/// One period (or event time, or cohort-period) of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Point {
    /// The period: a time of the panel, an event time (`e=-2`), a cohort and period (`g=2005,t=2006`)
    /// or the number of periods since the change of spend.
    pub t: String,
    /// The observed outcome (a mean over the treated units where there are several); absent when
    /// the data were not at hand (a result passed in without its request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterfactual: Option<f64>,
    pub effect: f64,
    /// The interval of the effect (see the scenario's `interval_method`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// Rows (or units) behind the observed value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// After the intervention (or the change of spend).
    pub post: bool,
}

/// A row of the summary table (CausalImpact's Average and Cumulative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SummaryRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterfactual: Option<f64>,
    pub effect: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect_interval: Option<[f64; 2]>,
    /// effect / counterfactual, when the counterfactual is known and not zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relative: Option<f64>,
}

impl SummaryRow {
    fn new(actual: Option<f64>, effect: f64, interval: Option<[f64; 2]>) -> Self {
        let counterfactual = actual.map(|a| a - effect);
        let relative = counterfactual.filter(|c| *c != 0.0 && c.is_finite()).map(|c| effect / c);
        Self { actual, counterfactual, effect, effect_interval: interval, relative }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Per post period.
    pub average: SummaryRow,
    /// Summed over what `cumulative_over` says; absent when that count is not known (a static
    /// DiD result passed in without its data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cumulative: Option<SummaryRow>,
    /// What the cumulative row sums over: treated unit-periods, post periods of the (pooled)
    /// treated unit, treated cohort-periods, or the periods of a spend change.
    pub cumulative_over: String,
    /// Spend what-ifs: the change per period once the adstock has settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steady_state: Option<SummaryRow>,
}

/// An identity the numbers must satisfy, with both sides and their difference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Identity {
    pub identity: String,
    pub lhs: f64,
    pub rhs: f64,
    pub abs_diff: f64,
}

impl Identity {
    fn new(identity: impl Into<String>, lhs: f64, rhs: f64) -> Self {
        Self { identity: identity.into(), lhs, rhs, abs_diff: (lhs - rhs).abs() }
    }
}

/// One answered scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Scenario {
    pub id: String,
    pub kind: ScenarioKind,
    /// The result behind it: `did`, `synth`, `did_2`, ... or `budget`.
    pub source: String,
    pub series: Vec<Point>,
    pub summary: Summary,
    /// How `low`/`high` and `effect_interval` were computed, or why there are none.
    pub interval_method: String,
    /// The spend leaves the range the model was fitted on, for at least one channel.
    pub extrapolated: bool,
    pub assumptions: Vec<String>,
    pub evidence_grade: Grade,
    pub reconciliation: Vec<Identity>,
}

/// A result no counterfactual path is computed for, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Refusal {
    pub source: String,
    pub reason: String,
}

/// The local-estimand refusals.
pub fn refusal(source: &str, method: &str) -> Refusal {
    let reason = match method {
        "iv" => "instrumental variables estimate the effect for compliers only (a local average \
                 treatment effect); a path for everyone, or for a change the instrument did not \
                 induce, is not identified"
            .to_string(),
        "rdd" => "a regression discontinuity estimates the effect at the cutoff only; a path away \
                  from the cutoff is not identified"
            .to_string(),
        other => format!("no counterfactual path is defined for {other} results"),
    };
    Refusal { source: source.to_string(), reason }
}

fn interval(effect: f64, se: f64, q: f64) -> (Option<f64>, Option<f64>) {
    if se.is_finite() && q.is_finite() {
        (Some(effect - q * se), Some(effect + q * se))
    } else {
        (None, None)
    }
}

fn pair(lo: Option<f64>, hi: Option<f64>) -> Option<[f64; 2]> {
    Some([lo?, hi?])
}

fn mean_of(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// What a path scenario's summary needs besides its series.
struct PathSummary {
    estimate: f64,
    average_ci: Option<[f64; 2]>,
    cumulative_ci: Option<[f64; 2]>,
    cumulative_over: String,
    interval_method: String,
}

/// Observed against counterfactual per period (synthetic control, synthetic DiD, the time-series
/// forecast): the post periods' average and sum, and `Σ post gaps = estimate × post periods`
/// checked first.
fn path_scenario(
    id: &str,
    series: Vec<Point>,
    p: PathSummary,
    grade: Grade,
    assumptions: Vec<String>,
    more: Vec<Identity>,
) -> Scenario {
    let post: Vec<&Point> = series.iter().filter(|p| p.post).collect();
    let n_post = post.len() as f64;
    let sum_gap: f64 = post.iter().map(|p| p.effect).sum();
    let actual_mean = mean_of(&post.iter().filter_map(|p| p.observed).collect::<Vec<_>>());
    let mut reconciliation =
        vec![Identity::new("sum of post-period gaps = estimate × post periods", sum_gap, p.estimate * n_post)];
    reconciliation.extend(more);
    Scenario {
        id: id.to_string(),
        kind: ScenarioKind::ObservedVsCounterfactual,
        source: id.to_string(),
        summary: Summary {
            average: SummaryRow::new(actual_mean, p.estimate, p.average_ci),
            cumulative: Some(SummaryRow::new(actual_mean.map(|m| m * n_post), sum_gap, p.cumulative_ci)),
            cumulative_over: p.cumulative_over,
            steady_state: None,
        },
        series,
        interval_method: p.interval_method,
        extrapolated: false,
        assumptions,
        evidence_grade: grade,
        reconciliation,
    }
}

fn post_periods_of(n: usize, treated_units: usize) -> String {
    format!("{n} post periods of the treated unit{}", if treated_units > 1 { "s' average" } else { "" })
}

/// Synthetic control: the synthetic path from the result's gaps.
pub fn synth(id: &str, r: &SynthResult, grade: Grade, assumptions: Vec<String>) -> Scenario {
    let placebos = r.placebos.as_deref().unwrap_or(&[]);
    let range = |i: usize| -> (Option<f64>, Option<f64>) {
        let v: Vec<f64> = placebos.iter().filter_map(|p| p.gaps.get(i).copied()).filter(|g| g.is_finite()).collect();
        if v.is_empty() {
            return (None, None);
        }
        (v.iter().copied().reduce(f64::min), v.iter().copied().reduce(f64::max))
    };
    let series: Vec<Point> = r
        .gaps
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let (low, high) = range(i);
            Point {
                t: g.time.to_string(),
                observed: Some(g.treated),
                counterfactual: Some(g.synthetic),
                effect: g.gap,
                low,
                high,
                n: None,
                post: g.time >= r.treatment_time,
            }
        })
        .collect();
    let n_post = series.iter().filter(|p| p.post).count();
    let interval_method = if placebos.is_empty() {
        "none: a synthetic control has no sampling interval; run it with placebos for the in-space placebo range"
            .to_string()
    } else {
        format!(
            "placebo range (in-space, {} donors): the smallest and largest placebo gap in each period; \
             not a confidence interval",
            placebos.len()
        )
    };
    let mut more = vec![];
    for p in &series {
        if let (Some(o), Some(c)) = (p.observed, p.counterfactual) {
            if (o - c - p.effect).abs() > 1e-9 * o.abs().max(1.0) {
                more.push(Identity::new(format!("observed - synthetic = gap at {}", p.t), o - c, p.effect));
            }
        }
    }
    let summary = PathSummary {
        estimate: r.inference.estimate,
        average_ci: None,
        cumulative_ci: None,
        cumulative_over: post_periods_of(n_post, r.treated_units.len()),
        interval_method,
    };
    path_scenario(id, series, summary, grade, assumptions, more)
}

/// Synthetic DiD: the treated units' average against the omega-weighted controls shifted by the
/// lambda-weighted pre-period difference; its post-period gaps average to the estimate, whose
/// interval (normal, from the standard error) is the average's. No per-period interval.
pub fn sdid(id: &str, r: &SdidResult, level: f64, grade: Grade, assumptions: Vec<String>) -> Scenario {
    let series: Vec<Point> = r
        .path
        .iter()
        .map(|p| Point {
            t: p.time.to_string(),
            observed: Some(p.treated),
            counterfactual: Some(p.synthetic),
            effect: p.treated - p.synthetic,
            low: None,
            high: None,
            n: None,
            post: p.time >= r.treatment_time,
        })
        .collect();
    let n_post = series.iter().filter(|p| p.post).count();
    let (average_ci, interval_method) = match &r.randomization {
        // Few controls: the randomization test's interval, at its own level only, and none
        // where it is unbounded.
        Some(test) => (
            r.inference.interval().filter(|_| (test.level - level).abs() < 1e-9).map(|(a, b)| [a, b]),
            format!(
                "the randomization test's interval over {} assignments of the treated units (few controls), at {:.0}% only, for the average and the cumulative effect (the cumulative one is the average's times the post periods; none where the test cannot bound the effect); none per period",
                test.assignments,
                100.0 * test.level
            ),
        ),
        None => {
            let q = dist::normal_critical(1.0 - level);
            let se = r.inference.std_error.unwrap_or(f64::NAN);
            let (lo, hi) = interval(r.inference.estimate, se, q);
            (
                lo.zip(hi).map(|(a, b)| [a, b]),
                format!(
                    "synthetic DiD {} standard error, normal interval at {:.0}% for the average and the cumulative \
                     effect (the cumulative one is the average's times the post periods); none per period",
                    r.se_method.name(),
                    100.0 * level
                ),
            )
        }
    };
    let summary = PathSummary {
        estimate: r.inference.estimate,
        average_ci,
        cumulative_ci: average_ci.map(|[a, b]| [a * n_post as f64, b * n_post as f64]),
        cumulative_over: post_periods_of(n_post, r.treated_units.len()),
        interval_method,
    };
    path_scenario(id, series, summary, grade, assumptions, vec![])
}

/// The time-series counterfactual: the forecast given the controls; per period the effect's
/// interval is observed minus the forecast's band; the average and cumulative intervals are the
/// result's (they include the covariance between periods).
pub fn impact(id: &str, r: &ImpactResult, grade: Grade, assumptions: Vec<String>) -> Scenario {
    let series: Vec<Point> = r
        .series
        .iter()
        .map(|p| Point {
            t: p.time.to_string(),
            observed: Some(p.observed),
            counterfactual: Some(p.predicted),
            effect: p.observed - p.predicted,
            low: Some(p.observed - p.predicted_high),
            high: Some(p.observed - p.predicted_low),
            n: None,
            post: p.time >= r.treatment_time,
        })
        .collect();
    let sum_gap: f64 = series.iter().filter(|p| p.post).map(|p| p.effect).sum();
    let summary = PathSummary {
        estimate: r.inference.estimate,
        average_ci: r.inference.interval().map(|(a, b)| [a, b]),
        cumulative_ci: Some([r.cumulative_ci_low, r.cumulative_ci_high]),
        cumulative_over: format!("{} post periods", r.post_periods),
        interval_method: "structural time-series forecast: per period observed minus the forecast's band; average \
                          and cumulative from the posterior predictive over the variances (equal-tailed)"
            .into(),
    };
    let more = vec![Identity::new("sum of post-period effects = cumulative", sum_gap, r.cumulative)];
    path_scenario(id, series, summary, grade, assumptions, more)
}

/// The columns of a DiD request, to read observed means from the table it ran on.
#[derive(Debug, Clone)]
pub struct DidColumns {
    pub unit: String,
    pub time: String,
    pub outcome: String,
    pub treatment: Option<String>,
    pub cohort: Option<String>,
}

/// Per unit, the first period treated (TWFE: from the 0/1 treatment; CS: the cohort column, 0 for
/// never treated), with each row's unit, time and outcome.
struct Panel {
    unit: Vec<u32>,
    time: Vec<i64>,
    y: Vec<f64>,
    first: Vec<Option<i64>>,
    treated_now: Vec<bool>,
}

fn panel(table: &Table, c: &DidColumns) -> Option<Panel> {
    let (unit, labels) = table.codes(&c.unit).ok()?;
    let time = table.integers(&c.time).ok()?;
    let y = table.numeric(&c.outcome).ok()?.to_vec();
    let mut first: Vec<Option<i64>> = vec![None; labels.len()];
    let mut treated_now = vec![false; y.len()];
    if let Some(col) = &c.treatment {
        let d = table.numeric(col).ok()?;
        for i in 0..y.len() {
            if d[i] == 1.0 {
                treated_now[i] = true;
                let f = &mut first[unit[i] as usize];
                *f = Some(f.map_or(time[i], |v| v.min(time[i])));
            }
        }
    } else if let Some(col) = &c.cohort {
        let g = table.integers(col).ok()?;
        for i in 0..y.len() {
            if g[i] > 0 {
                first[unit[i] as usize] = Some(g[i]);
                treated_now[i] = time[i] >= g[i];
            }
        }
    }
    Some(Panel { unit, time, y, first, treated_now })
}

/// Mean outcome and count per key over the rows `key` maps.
fn means<K: Ord>(p: &Panel, key: impl Fn(usize) -> Option<K>) -> BTreeMap<K, (f64, usize)> {
    let mut acc: BTreeMap<K, (f64, usize)> = BTreeMap::new();
    for i in 0..p.y.len() {
        if let Some(k) = key(i) {
            let e = acc.entry(k).or_insert((0.0, 0));
            e.0 += p.y[i];
            e.1 += 1;
        }
    }
    acc.into_iter().map(|(k, (s, n))| (k, (s / n as f64, n))).collect()
}

/// TWFE DiD: with an event study, per event time; otherwise the ATT in every treated period.
pub fn did(
    id: &str,
    r: &DidResult,
    data: Option<(&Table, &DidColumns)>,
    level: f64,
    grade: Grade,
    assumptions: Vec<String>,
) -> Scenario {
    let q = dist::t_critical(1.0 - level, r.df);
    let panel = data.and_then(|(t, c)| panel(t, c));
    let mut reconciliation = Vec::new();
    let att = r.inference.estimate;
    let se = r.inference.std_error.unwrap_or(f64::NAN);
    let (series, summary) = match &r.event_study {
        Some(points) => {
            let observed = panel.as_ref().map(|p| means(p, |i| p.first[p.unit[i] as usize].map(|g| p.time[i] - g)));
            let mut series = Vec::new();
            for e in points {
                let (low, high) = interval(e.att, e.std_error, q);
                let obs = observed.as_ref().and_then(|m| m.get(&e.relative_time)).copied();
                let point = Point {
                    t: format!("e={}", e.relative_time),
                    observed: obs.map(|o| o.0),
                    counterfactual: obs.map(|o| o.0 - e.att),
                    effect: e.att,
                    low,
                    high,
                    n: obs.map(|o| o.1),
                    post: e.relative_time >= 0,
                };
                if let (Some(o), Some(c)) = (point.observed, point.counterfactual) {
                    if e.relative_time < 0 {
                        reconciliation.push(Identity::new(
                            format!(
                                "pre-period e={}: observed - counterfactual = its event-time coefficient",
                                e.relative_time
                            ),
                            o - c,
                            e.att,
                        ));
                    }
                }
                series.push(point);
            }
            let post: Vec<&Point> = series.iter().filter(|p| p.post).collect();
            // The event-time coefficients averaged over the post event times, weighted by their
            // treated rows when the data are at hand.
            let weights: Vec<f64> = post.iter().map(|p| p.n.map_or(1.0, |n| n as f64)).collect();
            let wsum: f64 = weights.iter().sum();
            let avg = post.iter().zip(&weights).map(|(p, w)| p.effect * w).sum::<f64>() / wsum.max(1e-300);
            let cum: f64 = post.iter().zip(&weights).map(|(p, w)| p.effect * w).sum();
            let actual = panel.as_ref().map(|_| {
                post.iter().zip(&weights).map(|(p, w)| p.observed.unwrap_or(0.0) * w).sum::<f64>() / wsum.max(1e-300)
            });
            let summary = Summary {
                average: SummaryRow::new(actual, avg, None),
                cumulative: Some(SummaryRow::new(actual.map(|a| a * wsum), cum, None)),
                cumulative_over: if panel.is_some() {
                    format!("{wsum} treated unit-periods after adoption")
                } else {
                    format!("{} post event times (one treated unit each: the data were not at hand)", post.len())
                },
                steady_state: None,
            };
            (series, summary)
        }
        None => {
            let (low, high) = match (&r.wild, r.headline) {
                // Few clusters: the wild bootstrap's interval, which exists at its own level only.
                (Some(w), Headline::WildBootstrap) if (w.level - level).abs() <= 1e-9 => (w.ci_low, w.ci_high),
                (Some(_), Headline::WildBootstrap) => (None, None),
                _ => interval(att, se, q),
            };
            let series: Vec<Point> = match &panel {
                Some(p) => means(p, |i| p.treated_now[i].then_some(p.time[i]))
                    .into_iter()
                    .map(|(t, (o, n))| Point {
                        t: t.to_string(),
                        observed: Some(o),
                        counterfactual: Some(o - att),
                        effect: att,
                        low,
                        high,
                        n: Some(n),
                        post: true,
                    })
                    .collect(),
                None => vec![],
            };
            let k: usize = series.iter().filter_map(|p| p.n).sum();
            let kf = k as f64;
            let actual = (k > 0)
                .then(|| series.iter().map(|p| p.observed.unwrap_or(0.0) * p.n.unwrap_or(0) as f64).sum::<f64>() / kf);
            let cum: f64 = series.iter().map(|p| p.effect * p.n.unwrap_or(0) as f64).sum();
            if k > 0 {
                reconciliation.push(Identity::new(
                    "sum over treated periods of rows × effect = ATT × treated unit-periods",
                    cum,
                    att * kf,
                ));
            }
            let summary = Summary {
                average: SummaryRow::new(actual, att, pair(low, high)),
                cumulative: (k > 0).then(|| {
                    SummaryRow::new(actual.map(|a| a * kf), cum, pair(low.map(|l| l * kf), high.map(|h| h * kf)))
                }),
                cumulative_over: if k > 0 {
                    format!("{k} treated unit-periods")
                } else {
                    "unknown: the data were not at hand to count the treated unit-periods".into()
                },
                steady_state: None,
            };
            (series, summary)
        }
    };
    Scenario {
        id: id.to_string(),
        kind: ScenarioKind::ObservedVsCounterfactual,
        source: id.to_string(),
        series,
        summary,
        interval_method: match (&r.wild, r.headline, &r.event_study) {
            (Some(w), Headline::WildBootstrap, None) if (w.level - level).abs() <= 1e-9 => format!(
                "wild cluster restricted bootstrap (few clusters): the interval by test inversion at level {level}; an unbounded side is left out"
            ),
            (Some(w), Headline::WildBootstrap, None) => format!(
                "none at level {level}: with few clusters the interval is the wild cluster bootstrap's, computed at level {} only",
                w.level
            ),
            (_, _, Some(_)) => format!(
                "per event time, t with {} df: effect ± t × standard error at level {level}; none for the averages \
                 over the event times, whose covariance the event study does not give",
                r.df
            ),
            _ => format!("t with {} df: effect ± t × standard error at level {level}", r.df),
        },
        extrapolated: false,
        assumptions,
        evidence_grade: grade,
        reconciliation,
    }
}

/// Callaway-Sant'Anna: each cohort's path; the cumulative effect over post cells weighted by
/// cohort size reproduces the simple aggregation.
pub fn cs(
    id: &str,
    r: &CsResult,
    data: Option<(&Table, &DidColumns)>,
    level: f64,
    grade: Grade,
    assumptions: Vec<String>,
) -> Scenario {
    let z = dist::normal_critical(1.0 - level);
    let panel = data.and_then(|(t, c)| panel(t, c));
    let observed = panel.as_ref().map(|p| means(p, |i| p.first[p.unit[i] as usize].map(|g| (g, p.time[i]))));
    let series: Vec<Point> = r
        .group_time
        .iter()
        .map(|c| {
            let (low, high) = interval(c.att, c.std_error, z);
            let obs = observed.as_ref().and_then(|m| m.get(&(c.group, c.time))).copied();
            Point {
                t: format!("g={},t={}", c.group, c.time),
                observed: obs.map(|o| o.0),
                counterfactual: obs.map(|o| o.0 - c.att),
                effect: c.att,
                low,
                high,
                n: Some(c.n_treated),
                post: c.time >= c.group,
            }
        })
        .collect();
    let post: Vec<&Point> = series.iter().filter(|p| p.post).collect();
    let k: f64 = post.iter().map(|p| p.n.unwrap_or(0) as f64).sum();
    let cum: f64 = post.iter().map(|p| p.effect * p.n.unwrap_or(0) as f64).sum();
    let att = r.inference.estimate;
    let (lo, hi) = (r.inference.ci_low, r.inference.ci_high);
    // The simple ATT's interval at the asked level, from its standard error.
    let (lo, hi) = match r.inference.std_error {
        Some(se) => interval(att, se, z),
        None => (lo, hi),
    };
    let actual = observed
        .as_ref()
        .map(|_| post.iter().map(|p| p.observed.unwrap_or(0.0) * p.n.unwrap_or(0) as f64).sum::<f64>() / k.max(1e-300));
    Scenario {
        id: id.to_string(),
        kind: ScenarioKind::ObservedVsCounterfactual,
        source: id.to_string(),
        summary: Summary {
            average: SummaryRow::new(actual, att, pair(lo, hi)),
            cumulative: Some(SummaryRow::new(actual.map(|a| a * k), cum, pair(lo.map(|l| l * k), hi.map(|h| h * k)))),
            cumulative_over: format!("{k} treated cohort-periods (cohort size × post periods)"),
            steady_state: None,
        },
        series,
        interval_method: format!(
            "normal at level {level} from each ATT(g,t)'s standard error; the cumulative interval is the \
             simple ATT's times the treated cohort-periods, which are taken as fixed"
        ),
        extrapolated: false,
        assumptions,
        evidence_grade: grade,
        reconciliation: vec![Identity::new(
            "sum over post cells of cohort size × ATT(g,t) = simple ATT × sum of cohort sizes",
            cum,
            att * k,
        )],
    }
}

/// A change of spend: the channels' new spend per period (the others stay at current).
#[derive(Debug, Clone)]
pub struct SpendChange {
    pub id: String,
    /// (channel, current, new) per channel.
    pub spend: Vec<(String, f64, f64)>,
    pub periods: usize,
    /// The optimiser's plan this change is (its gain and interval are reconciled).
    pub plan: Option<PlanResult>,
}

/// Observed spend range per channel (what the curves were fitted on).
pub type Ranges = BTreeMap<String, (f64, f64)>;

/// A spend what-if from the fitted response curves, with its exact normal interval.
pub fn spend_what_if(
    model: &FittedModel,
    change: &SpendChange,
    ranges: &Ranges,
    level: f64,
) -> Result<Scenario, String> {
    let z = dist::normal_critical(1.0 - level);
    let mut rows: Vec<(&Curve, usize, f64, f64)> = Vec::new();
    for (channel, current, new) in &change.spend {
        let j = model
            .curves
            .iter()
            .position(|c| &c.channel == channel)
            .ok_or_else(|| format!("{channel:?} has no response curve"))?;
        rows.push((&model.curves[j], j + 1, *current, *new));
    }
    let k = model.covariance.nrows();
    // h(t): the derivative of Δ_t with respect to (base, β_1..β_C); Δ_t = h(t)·β.
    let h_at = |t: usize| -> Vec<f64> {
        let mut h = vec![0.0; k];
        for &(c, j, current, new) in &rows {
            // The adstock of the new spend after t periods, from the steady state at current.
            let a = new + (current - new) * c.adstock.powi(t as i32);
            h[j] += c.hill(a) - c.hill(current);
        }
        h
    };
    let beta = |j: usize| model.curves.get(j.wrapping_sub(1)).map_or(0.0, |c| c.beta);
    let value = |h: &[f64]| h.iter().enumerate().map(|(j, hj)| hj * beta(j)).sum::<f64>();
    let var = |h: &[f64]| {
        let mut v = 0.0;
        for a in 0..k {
            for b in 0..k {
                v += h[a] * model.covariance[[a, b]] * h[b];
            }
        }
        v.max(0.0)
    };
    let mut series = Vec::with_capacity(change.periods);
    let mut h_cum = vec![0.0; k];
    for t in 1..=change.periods {
        let h = h_at(t);
        h_cum.iter_mut().zip(&h).for_each(|(c, v)| *c += v);
        let (d, se) = (value(&h), var(&h).sqrt());
        series.push(Point {
            t: t.to_string(),
            observed: None,
            counterfactual: None,
            effect: d,
            low: Some(d - z * se),
            high: Some(d + z * se),
            n: None,
            post: true,
        });
    }
    // Steady state: the adstock has settled at the new spend.
    let mut h_ss = vec![0.0; k];
    for &(c, j, current, new) in &rows {
        h_ss[j] += c.hill(new) - c.hill(current);
    }
    let ss = value(&h_ss);
    let ss_se = var(&h_ss).sqrt();
    let cum = value(&h_cum);
    let cum_se = var(&h_cum).sqrt();
    let n = change.periods as f64;
    let mut reconciliation = vec![];
    let direct: f64 = rows.iter().map(|&(c, _, current, new)| c.response(new) - c.response(current)).sum();
    reconciliation.push(Identity::new(
        "steady-state change = sum over channels of response(new) - response(current)",
        ss,
        direct,
    ));
    if let Some(p) = &change.plan {
        reconciliation.push(Identity::new("the optimiser's plan: steady-state change = the plan's gain", ss, p.gain));
        // The plan states a 95% interval: at that level the what-if's is the same.
        if (level - 0.95).abs() < 1e-12 {
            reconciliation.push(Identity::new(
                "the optimiser's plan: interval's low end = the plan's",
                ss - z * ss_se,
                p.gain_ci.0,
            ));
            reconciliation.push(Identity::new(
                "the optimiser's plan: interval's high end = the plan's",
                ss + z * ss_se,
                p.gain_ci.1,
            ));
        }
    }
    let extrapolated = rows.iter().any(|&(c, _, _, new)| {
        ranges
            .get(&c.channel)
            .is_some_and(|&(lo, hi)| new < lo - 1e-9 * hi.abs().max(1.0) || new > hi + 1e-9 * hi.abs().max(1.0))
    });
    let mut assumptions = vec![
        "the fitted response curves (Hill saturation with geometric adstock) hold at the new spend".to_string(),
        "channel effects add up; the shapes are taken as known, so the interval reflects the uncertainty of the effects (β) only".to_string(),
        "the model regresses the outcome on spend; spend paced to demand or attribution that scales with spend bias it".to_string(),
    ];
    if extrapolated {
        assumptions.push(
            "the new spend lies outside the spend the curves were fitted on: the shape there is extrapolated".into(),
        );
    }
    Ok(Scenario {
        id: change.id.clone(),
        kind: ScenarioKind::SpendWhatIf,
        source: "budget".into(),
        series,
        summary: Summary {
            average: SummaryRow::new(None, cum / n, Some([(cum - z * cum_se) / n, (cum + z * cum_se) / n])),
            cumulative: Some(SummaryRow::new(None, cum, Some([cum - z * cum_se, cum + z * cum_se]))),
            cumulative_over: format!("{} periods after the change of spend", change.periods),
            steady_state: Some(SummaryRow::new(None, ss, Some([ss - z * ss_se, ss + z * ss_se]))),
        },
        interval_method: format!(
            "normal at level {level}: the change is linear in the channels' effects, so its variance is hᵀ Σ h \
             with Σ their estimated covariance (exact given the curves' shapes)"
        ),
        extrapolated,
        assumptions,
        // A model-based answer: the regression of outcome on spend, calibrated by any lift tests.
        evidence_grade: Grade::C,
        reconciliation,
    })
}

/// One scenario per result of an analysis that has a counterfactual path; the others refused
/// with the reason. `data` is the table the analysis ran on and its methods, for observed paths.
pub fn analysis_paths(
    output: &AnalysisOutput,
    data: Option<(&Table, &[MethodSpec])>,
    evidence: &[Evidence],
    level: f64,
) -> (Vec<Scenario>, Vec<Refusal>) {
    let AnalysisOutput::Advanced(adv) = output else {
        let what = match output {
            AnalysisOutput::Discover(_) => "discover",
            _ => "treatment_effect",
        };
        return (
            vec![],
            vec![Refusal {
                source: what.into(),
                reason: format!(
                    "{what} results carry no outcome path over time; a counterfactual path needs a \
                     difference-in-differences or synthetic control analysis"
                ),
            }],
        );
    };
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for (i, r) in adv.result.results.iter().enumerate() {
        let ev = evidence.get(i);
        let id = ev.map(|e| e.id.clone()).unwrap_or_else(|| r.method.clone());
        let grade = ev.map(|e| e.grade).unwrap_or(Grade::C);
        let mut assumptions = r.assumptions.clone();
        for c in &r.checks {
            if c.passed == Some(false) {
                assumptions.push(format!("a check failed: {}", c.name));
            }
        }
        let cols = data.and_then(|(t, methods)| match methods.get(i) {
            Some(MethodSpec::Did(d)) => Some((
                t,
                DidColumns {
                    unit: d.unit.clone(),
                    time: d.time.clone(),
                    outcome: d.outcome.clone(),
                    treatment: d.treatment.clone(),
                    cohort: d.cohort.clone(),
                },
            )),
            _ => None,
        });
        let data = cols.as_ref().map(|(t, c)| (*t, c));
        // the paths over calendar time (not event time) are labelled with their dates when the
        // time column held dates
        let dated = |mut s: Scenario| {
            if let Some(axis) = &adv.data.time_axis {
                for p in &mut s.series {
                    if let Some(d) = p.t.parse::<f64>().ok().and_then(|k| axis.date_of(k)) {
                        p.t = d.to_string();
                    }
                }
            }
            s
        };
        match &r.result {
            MethodOutput::Synth(s) => out.push(dated(synth(&id, s, grade, assumptions))),
            MethodOutput::Sdid(s) => out.push(dated(sdid(&id, s, level, grade, assumptions))),
            MethodOutput::Impact(s) => out.push(dated(impact(&id, s, grade, assumptions))),
            MethodOutput::Did(DidOutput::Twfe(d)) => out.push(did(&id, d, data, level, grade, assumptions)),
            MethodOutput::Did(DidOutput::Staggered(c)) => out.push(cs(&id, c, data, level, grade, assumptions)),
            MethodOutput::Iv(_) => refused.push(refusal(&id, "iv")),
            MethodOutput::Rdd(_) => refused.push(refusal(&id, "rdd")),
        }
    }
    (out, refused)
}
