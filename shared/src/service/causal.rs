//! The causal service: causal discovery, treatment effects under measured confounding, and
//! several methods on one question (`analyze/advanced`), on inline rows, a panel object under
//! the caller's org, or stored causal records (see [`super::source`]). Column roles and result
//! keys are those of `liftos estimate` / `liftos discover`.
//!
//! Small requests are answered at once; large ones (see [`needs_job`]) become an analysis job run
//! by the batch-analysis stage, whose status and result `GET /api/v1/causal/jobs/{job_id}` returns.

use liftos_estimators::data::Table;
use liftos_estimators::Estimate;
use serde::Deserialize;

use super::estimate::{self, DiscoverRequest, EffectRequest, EstimateError};
use super::source::{self, Loaded};
use super::stage::StageError;
use super::{require, ServiceError};
pub use crate::api::causal::{
    AdvancedResponse, Analysis, AnalysisOutput, Answer, Check, Common, Comparison, DataInfo, DataSpec, JobKind,
    JobMessage, JobResult, JobView, Kind, MethodResult, MethodSpec, Mode, ReportLink,
};
use crate::api::estimate::MethodOutput;
use crate::domain::{permissions, AnalysisJob, JobError, JobStatus, UserContext, ValidationError};
use crate::llm::provider::Provider;
use crate::storage::{Message, PanelStore, Queue, StoreError, Stores};

pub use super::source::{table_from_rows, MAX_INLINE_ROWS};

/// An estimator's error as a 400 naming its field (under `prefix`, e.g. `methods[1].`).
pub(crate) fn field_error(prefix: &str, e: EstimateError) -> ServiceError {
    let field = e.field().to_string();
    let message = e.to_string();
    // The estimators' messages name their column first; the error format adds the field itself.
    let message = message.strip_prefix(&format!("{field}: ")).map(String::from).unwrap_or(message);
    ValidationError::new(format!("{prefix}{field}"), message).into()
}

/// Above these a request is queued as a job (with `mode: auto`). Measured on the release build
/// (`cargo bench -p liftos --features lambda --bench latency`, README "Latency"): a 100,000-row
/// DiD from a panel answers in 83 ms warm, so 200,000 rows stay far inside API Gateway's 30 s;
/// a nested synthetic control with 100 donors takes 350 ms and placebo-in-space re-fits it once
/// per donor, so more than 25 donors (about 9 s) go to a job.
pub const SYNC_MAX_ROWS: usize = 200_000;
pub const SYNC_MAX_PANEL_BYTES: usize = 16 * 1024 * 1024;
pub const SYNC_MAX_PLACEBO_DONORS: usize = 25;
/// A result larger than this is written to the panel store rather than the job item
/// (DynamoDB items are at most 400 KB).
pub const INLINE_RESULT_BYTES: usize = 300 * 1024;
/// How long a report or result link stays valid.
pub const LINK_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

fn from_field<T: serde::de::DeserializeOwned>(k: &str, v: serde_json::Value) -> Result<T, ValidationError> {
    crate::domain::error::from_json_value(v).map_err(|e| nested_error(k, &e))
}

/// A decoding error inside `prefix` (`panel`, `methods[1]`) named in full; a missing field is
/// named itself (`methods[0].outcome: is required`).
fn nested_error(prefix: &str, e: &ValidationError) -> ValidationError {
    let f = e.field();
    let mut message = e.errors.first().map(|x| x.message.clone()).unwrap_or_else(|| e.summary());
    let mut field = if f.is_empty() {
        prefix.to_string()
    } else if f.starts_with('[') {
        format!("{prefix}{f}")
    } else {
        format!("{prefix}.{f}")
    };
    if let Some(rest) = message.split("missing field `").nth(1) {
        if let Some(name) = rest.split('`').next() {
            field = format!("{field}.{name}");
            message = "is required".into();
        }
    } else if let Some(rest) = message.split("unknown field `").nth(1) {
        // a setting the method does not have (`treatment` for a regression discontinuity,
        // whose take-up column is `fuzzy`): named, never ignored
        if let Some((name, expected)) = rest.split_once('`') {
            field = format!("{field}.{name}");
            message = format!("is not a setting of this method{}", expected.replacen(",", ":", 1));
        }
    }
    ValidationError::new(field, message)
}

pub(crate) fn take_common(obj: &mut serde_json::Map<String, serde_json::Value>) -> Result<Common, ValidationError> {
    let mut c = Common::default();
    if let Some(v) = obj.remove("rows") {
        c.data.rows = Some(from_field("rows", v)?);
    }
    if let Some(v) = obj.remove("panel") {
        c.data.panel = Some(from_field("panel", v)?);
    }
    if let Some(v) = obj.remove("records") {
        c.data.records = Some(from_field("records", v)?);
    }
    if let Some(v) = obj.remove("mode") {
        c.mode = from_field("mode", v)?;
    }
    if let Some(v) = obj.remove("report") {
        c.report = v.as_bool().ok_or_else(|| ValidationError::new("report", "must be true or false"))?;
    }
    c.data.kind()?;
    Ok(c)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvancedBody {
    methods: Vec<serde_json::Value>,
    #[serde(default)]
    question: Option<String>,
}

/// A statistic as a check's value: absent when it could not be computed.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn check(name: &str, value: Option<f64>, rule: &str, ok: impl Fn(f64) -> bool) -> Check {
    check_with_rule(name, value, rule.to_string(), ok)
}

fn check_with_rule(name: &str, value: Option<f64>, rule: String, ok: impl Fn(f64) -> bool) -> Check {
    Check { name: name.into(), value, rule, passed: value.map(ok) }
}

/// Fewer pre-treatment periods than this is refused: DiD needs two to say anything about
/// trends; a synthetic control fitted to fewer than five periods fits noise.
pub const MIN_PRE_PERIODS_DID: usize = 2;
pub const MIN_PRE_PERIODS_SYNTH: usize = 5;

fn distinct_before(times: &ndarray::Array1<f64>, t0: f64) -> usize {
    let mut v: Vec<f64> = times.iter().copied().filter(|t| t.is_finite() && *t < t0).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v.len()
}

/// Refuse a panel method whose treatment starts too early to learn the untreated path.
fn check_pre_period(table: &Table, spec: &MethodSpec, prefix: &str) -> Result<(), ServiceError> {
    let (time_col, t0, need, field) = match spec {
        MethodSpec::Synth(r) => (r.time.as_str(), r.treatment_time as f64, MIN_PRE_PERIODS_SYNTH, "treatment_time"),
        MethodSpec::Did(r) => {
            let Some(tc) = r.treatment.as_deref() else { return Ok(()) };
            let (Ok(times), Ok(d)) = (table.numeric(&r.time), table.numeric(tc)) else { return Ok(()) };
            let first =
                times.iter().zip(d.iter()).filter(|(_, d)| **d != 0.0).map(|(t, _)| *t).fold(f64::INFINITY, f64::min);
            if !first.is_finite() {
                return Ok(());
            }
            (r.time.as_str(), first, MIN_PRE_PERIODS_DID, "treatment")
        }
        _ => return Ok(()),
    };
    let Ok(times) = table.numeric(time_col) else { return Ok(()) };
    let pre = distinct_before(&times, t0);
    if pre < need {
        return Err(ValidationError::new(
            format!("{prefix}{field}"),
            format!("the treatment starts at {t0} with only {pre} pre-treatment periods before it; at least {need} are needed"),
        )
        .into());
    }
    Ok(())
}

/// One to eight methods, each a known one.
fn check_method_names(methods: &[serde_json::Value]) -> Result<(), ServiceError> {
    if methods.is_empty() {
        return Err(ValidationError::new("methods", "name at least one method").into());
    }
    if methods.len() > 8 {
        return Err(ValidationError::new("methods", "at most 8 methods per request").into());
    }
    for (i, m) in methods.iter().enumerate() {
        let name = m.get("method").and_then(|x| x.as_str()).unwrap_or("");
        if !["did", "iv", "rdd", "synth", "sdid", "impact"].contains(&name) {
            return Err(ValidationError::new(
                format!("methods[{i}].method"),
                format!("{name:?}: expected did, iv, rdd, synth, sdid or impact"),
            )
            .into());
        }
    }
    Ok(())
}

/// With stored records, a treatment-effect request's `treatment` defaults to the records'.
fn effect_request(mut rest: serde_json::Value, from_records: bool) -> Result<EffectRequest, ValidationError> {
    if from_records {
        if let Some(o) = rest.as_object_mut() {
            o.entry("treatment").or_insert("treatment".into());
        }
    }
    crate::domain::error::from_json_value(rest)
}

/// Parse and check the methods against the table (no estimation yet).
fn parse_methods(
    table: &Table,
    info: &DataInfo,
    methods: Vec<serde_json::Value>,
) -> Result<Vec<MethodSpec>, ServiceError> {
    check_method_names(&methods)?;
    let mut out = Vec::new();
    for (i, mut m) in methods.into_iter().enumerate() {
        source::fill_record_defaults(&mut m, info);
        let spec: MethodSpec =
            crate::domain::error::from_json_value(m).map_err(|e| nested_error(&format!("methods[{i}]"), &e))?;
        check_pre_period(table, &spec, &format!("methods[{i}]."))?;
        out.push(spec);
    }
    Ok(out)
}

/// Rows times re-fits of a synthetic DiD's placebo or bootstrap counted as one placebo donor: 200
/// replications of a 25,000-row panel count as the 25 donors a synchronous answer allows.
const SDID_WORK_PER_DONOR: usize = 200_000;

/// Donors a placebo-in-space run will re-fit (0 when no synth method asks for placebos), and the
/// re-fits of synthetic DiD's standard error in the same unit.
fn placebo_donors(table: &Table, methods: &[MethodSpec]) -> usize {
    methods
        .iter()
        .filter_map(|m| match m {
            MethodSpec::Sdid(r) if r.se != Some(crate::api::estimate::SdidSeName::Jackknife) => {
                let rows = table.column(&r.unit).map(|c| c.len()).unwrap_or(0);
                let work = rows.saturating_mul(r.replications.unwrap_or(200));
                Some(work.div_ceil(SDID_WORK_PER_DONOR))
            }
            MethodSpec::Synth(r) if r.placebo => {
                let units: std::collections::BTreeSet<String> = table.labels(&r.unit).ok()?.into_iter().collect();
                Some(units.len().saturating_sub(r.treated_unit.split(',').count()))
            }
            _ => None,
        })
        .sum()
}

/// Whether a request of this size goes to a job under `mode: auto`.
pub fn needs_job(info: &DataInfo, placebo_donors: usize) -> bool {
    info.rows > SYNC_MAX_ROWS
        || info.bytes.is_some_and(|b| b > SYNC_MAX_PANEL_BYTES)
        || placebo_donors > SYNC_MAX_PLACEBO_DONORS
}

/// Every method on the same table, each with its assumptions and checks (pre-trends,
/// first-stage strength, density test, pre-period fit, placebo p-value), and whether they agree.
pub fn analyze_table(
    table: &Table,
    methods: &[MethodSpec],
    question: Option<String>,
) -> Result<AdvancedResponse, ServiceError> {
    analyze_table_reporting(table, methods, question, &mut |_| {})
}

/// [`analyze_table`], calling `done(k)` as the k-th method finishes.
pub fn analyze_table_reporting(
    table: &Table,
    methods: &[MethodSpec],
    question: Option<String>,
    done: &mut dyn FnMut(usize),
) -> Result<AdvancedResponse, ServiceError> {
    let mut results = Vec::new();
    for (i, spec) in methods.iter().enumerate() {
        if i > 0 {
            done(i);
        }
        let prefix = format!("methods[{i}].");
        let at = |e: EstimateError| field_error(&prefix, e);
        let (result, assumptions, checks) = match spec {
            MethodSpec::Did(r) => {
                let v = estimate::did(table, r).map_err(at)?;
                let (pre_trend, power, breakdown, slope) = match &v {
                    estimate::DidOutput::Twfe(d) => {
                        (d.pre_trend_p_value, d.pre_trend_power.as_ref(), d.honest.as_ref(), d.pre_trend_slope.as_ref())
                    }
                    estimate::DidOutput::Staggered(c) => (c.pre_trend_p_value, None, None, None),
                };
                // A lead test that does not reject is no evidence for parallel trends unless it
                // could have detected a violation that matters (Roth 2022): say its power.
                let rule = match power {
                    Some(pw) => format!(
                        "joint test of the leads, p >= 0.05: no evidence against parallel trends, which is not evidence for them; \
                         its power against a linear pre-trend that would bias the estimate by its own size is {:.0}% \
                         (80% power only for slopes of {:.4} per period, a bias of {:.4})",
                        100.0 * pw.power_against_effect_sized_trend,
                        pw.slope_80,
                        pw.bias_at_slope_80
                    ),
                    None => "joint test of the leads, p >= 0.05: no evidence against parallel trends, which is not evidence for them (run with event_study; its power is not computed here)".into(),
                };
                let rule = match breakdown.map(|h| (h.breakdown_mbar, h.breakdown_search_max)) {
                    Some((Some(m), _)) if m > 0.0 => format!(
                        "{rule}; robust to violations up to M-bar = {m:.2} (HonestDiD: post-period changes in the trend up to M-bar times the largest pre-period change keep zero outside the interval)"
                    ),
                    Some((Some(_), _)) => format!("{rule}; HonestDiD: the interval includes zero even with parallel trends"),
                    Some((None, max)) => format!("{rule}; robust to violations beyond M-bar = {max} (HonestDiD)"),
                    None => rule,
                };
                // The smoothness restriction: how far the trend may bend per period.
                let rule = match breakdown.map(|h| (h.breakdown_m, h.breakdown_m_search_max)) {
                    Some((Some(m), _)) if m > 0.0 => format!(
                        "{rule}; under smoothness, robust while the trend's slope changes by at most M = {} per period (zero stays outside the fixed-length interval)",
                        crate::llm::format::sig3(m)
                    ),
                    Some((Some(_), _)) => format!(
                        "{rule}; under smoothness the interval includes zero already when the violation may be a linear trend (M = 0)"
                    ),
                    Some((None, max)) if max > 0.0 => format!("{rule}; under smoothness, robust beyond M = {}", crate::llm::format::sig3(max)),
                    _ => rule,
                };
                // Not run: say why, where the estimator said (too few clusters for the leads).
                let why_not = match &v {
                    estimate::DidOutput::Twfe(d) => &d.warnings,
                    estimate::DidOutput::Staggered(c) => &c.warnings,
                }
                .iter()
                .find(|w| w.contains("pre-trend"))
                .cloned();
                // Where the joint test cannot run (as many leads as clusters), the 1-df test of a
                // linear pre-trend still can: it is the check then, and says which test it is.
                // With one treated cluster the leads' dummies fit its rows exactly, so no
                // cluster-robust variance sees its variation: the linear test is then no check
                // either.
                let one_treated = match &v {
                    estimate::DidOutput::Twfe(d) => d.treated_clusters == Some(1),
                    estimate::DidOutput::Staggered(_) => false,
                };
                let why_not = match (&why_not, one_treated && slope.is_some()) {
                    (Some(w), true) => Some(format!(
                        "{w}; nor the 1-df linear pre-trend test, with one treated cluster (no cluster-robust variance sees its variation)"
                    )),
                    _ => why_not,
                };
                let slope = slope.filter(|s| s.p_value.is_finite() && !one_treated);
                let (pre_trend, rule) = match (pre_trend.and_then(finite), slope, why_not) {
                    (None, Some(s), w) => (
                        Some(s.p_value),
                        format!(
                            "the joint test of the leads cannot run{}; instead the 1-df test of a linear pre-trend \
                             (the slope of the {} leads, {:.4} per period, SE {:.4}, t with {} df), p >= 0.05: \
                             no evidence of a linear pre-trend, which is not evidence for parallel trends and says \
                             nothing of other shapes; {}",
                            w.map_or(String::new(), |w| format!(" ({w})")),
                            s.leads,
                            s.slope,
                            s.std_error,
                            s.df,
                            if s.power_against_effect_sized_trend.is_finite() {
                                format!(
                                    "its power against a trend that would bias the estimate by its own size is {:.0}%",
                                    100.0 * s.power_against_effect_sized_trend
                                )
                            } else {
                                "look at the event-study plot's leads too".into()
                            }
                        ),
                    ),
                    (None, None, Some(w)) => (
                        None,
                        format!(
                            "not run: {w} (the joint test needs fewer leads than clusters: a shorter pre-period, or more \
                             units); look at the event-study plot's leads instead"
                        ),
                    ),
                    (p, ..) => (p, rule),
                };
                let checks = vec![check_with_rule("pre-trends", pre_trend, rule, |p| p >= 0.05)];
                (
                    MethodOutput::Did(v),
                    vec![
                        "parallel trends: without treatment, treated and control units would have moved alike".into(),
                        "no anticipation".into(),
                        "no spill-over between units".into(),
                    ],
                    checks,
                )
            }
            MethodSpec::Iv(r) => {
                let v = estimate::iv(table, r).map_err(at)?;
                let checks =
                    vec![check("first-stage strength", finite(v.first_stage_f), "first-stage F >= 10", |f| f >= 10.0)];
                (
                    MethodOutput::Iv(v),
                    vec![
                        "relevance: the instruments move the treatment".into(),
                        "exclusion: they affect the outcome only through it".into(),
                        "independence from the unobserved confounders".into(),
                    ],
                    checks,
                )
            }
            MethodSpec::Rdd(r) => {
                let v = estimate::rdd(table, r).map_err(at)?;
                let mut checks = vec![check(
                    "density test (no manipulation)",
                    v.density_test_p_value.and_then(finite),
                    "p >= 0.05 for a jump in the running variable's density at the cutoff",
                    |p| p >= 0.05,
                )];
                if v.first_stage.is_some() {
                    checks.push(check(
                        "first-stage strength (fuzzy)",
                        v.first_stage_f.and_then(finite),
                        "F = (jump in take-up / its standard error)² >= 10",
                        |f| f >= 10.0,
                    ));
                }
                (
                    MethodOutput::Rdd(v),
                    vec![
                        "continuity: without treatment the outcome would be smooth at the cutoff".into(),
                        "no precise sorting around the cutoff".into(),
                    ],
                    checks,
                )
            }
            MethodSpec::Synth(r) => {
                let v = estimate::synth_control(table, r).map_err(at)?;
                let t0 = r.treatment_time;
                let pre: Vec<f64> = v.gaps.iter().filter(|g| g.time < t0).filter_map(|g| finite(g.treated)).collect();
                let level = pre.iter().map(|x| x.abs()).sum::<f64>() / pre.len().max(1) as f64;
                let rel = finite(v.pre_rmspe).map(|r| if level > 0.0 { r / level } else { f64::INFINITY });
                // Validity, not significance: a fake treatment date inside the pre-period should show
                // no more than the series' own period-to-period noise, whatever the real effect. (The
                // placebo fit's RMSPE is no scale: with more donors than periods it can be zero.)
                let diffs: Vec<f64> = pre.windows(2).map(|w| w[1] - w[0]).collect();
                let noise = {
                    let m = diffs.iter().sum::<f64>() / diffs.len().max(1) as f64;
                    (diffs.iter().map(|d| (d - m) * (d - m)).sum::<f64>() / (diffs.len().max(2) - 1) as f64).sqrt()
                };
                let in_time = v.placebo_in_time.as_ref().and_then(|p| finite(p.estimate.abs() / noise));
                let checks = vec![
                    check("pre-period fit", rel, "pre-period RMSPE <= 5% of the treated unit's level", |x| x <= 0.05),
                    check(
                        "placebo-in-time",
                        in_time,
                        "the average gap after a fake treatment date inside the pre-period is within twice the standard deviation of the treated series' pre-period changes (run with placebo)",
                        |x| x <= 2.0,
                    ),
                ];
                (
                    MethodOutput::Synth(v),
                    vec![
                        "the treated unit's untreated path is a weighted mix of the donors'".into(),
                        "no donor was affected by the treatment".into(),
                    ],
                    checks,
                )
            }
            MethodSpec::Impact(r) => {
                let v = estimate::impact(table, r).map_err(at)?;
                // Validity: the pre-period one-step-ahead errors (after the diffuse start) should
                // fall inside their 1 - alpha bands about as often as stated.
                let pre: Vec<&liftos_estimators::impact::ImpactPoint> =
                    v.series.iter().filter(|p| p.time < v.treatment_time).skip(v.loglikelihood_burn).collect();
                let inside =
                    pre.iter().filter(|p| p.predicted_low <= p.observed && p.observed <= p.predicted_high).count();
                let share = (!pre.is_empty()).then(|| inside as f64 / pre.len() as f64);
                let level = 1.0 - r.alpha.unwrap_or(0.05);
                let checks = vec![check_with_rule(
                    "pre-period calibration",
                    share.and_then(finite),
                    format!(
                        "the pre-period observations fall inside their one-step-ahead {:.0}% bands at least {:.0}% of the time (the model describes the series before the treatment)",
                        100.0 * level,
                        100.0 * (level - 0.1)
                    ),
                    move |x| x >= level - 0.1,
                )];
                (
                    MethodOutput::Impact(v),
                    vec![
                        "the control series were not affected by the treatment".into(),
                        "their relation to the treated series held from the pre-period into the post-period".into(),
                        "the model (level, trend, seasonality) describes the series' untreated path".into(),
                    ],
                    checks,
                )
            }
            MethodSpec::Sdid(r) => {
                let v = estimate::sdid(table, r).map_err(at)?;
                let pre: Vec<f64> =
                    v.path.iter().filter(|p| p.time < v.treatment_time).map(|p| p.treated - p.synthetic).collect();
                let rmse = (pre.iter().map(|g| g * g).sum::<f64>() / pre.len().max(1) as f64).sqrt();
                let checks = vec![check(
                    "pre-period fit",
                    finite(rmse / v.noise_level),
                    "the treated average's pre-period path stays within the controls' period-to-period noise of its synthetic path (RMSE <= 1 x the standard deviation of their first differences)",
                    |x| x <= 1.0,
                )];
                (
                    MethodOutput::Sdid(v),
                    vec![
                        "the treated units' untreated path is parallel to a weighted mix of the controls'".into(),
                        "the time-weighted pre-period predicts the post-period for the controls".into(),
                        "no control was affected by the treatment".into(),
                    ],
                    checks,
                )
            }
        };
        results.push(MethodResult { method: spec.name().to_string(), assumptions, checks, result });
    }
    let estimates: Vec<(String, f64, Option<f64>, Option<f64>)> = results
        .iter()
        .filter_map(|r| {
            let inf = r.result.inference();
            finite(inf.estimate)
                .map(|e| (r.method.clone(), e, inf.ci_low.and_then(finite), inf.ci_high.and_then(finite)))
        })
        .collect();
    let signs_agree = estimates.iter().all(|e| e.1 > 0.0) || estimates.iter().all(|e| e.1 < 0.0);
    let with_ci: Vec<(f64, f64)> = estimates.iter().filter_map(|e| Some((e.2?, e.3?))).collect();
    let intervals_overlap = with_ci.iter().all(|a| with_ci.iter().all(|b| a.0 <= b.1 && b.0 <= a.1));
    let lo = estimates.iter().map(|e| e.1).fold(f64::INFINITY, f64::min);
    let hi = estimates.iter().map(|e| e.1).fold(f64::NEG_INFINITY, f64::max);
    let all_checks: Vec<&Check> = results.iter().flat_map(|r| &r.checks).collect();
    let passed = all_checks.iter().filter(|c| c.passed == Some(true)).count();
    let failed = all_checks.iter().filter(|c| c.passed == Some(false)).count();
    let summary = match (estimates.len(), signs_agree, intervals_overlap, failed) {
        _ if passed + failed == 0 && estimates.len() == 1 => "one method; none of its checks could be run".to_string(),
        (1, _, _, 0) => "one method; its checks passed".to_string(),
        (1, _, _, _) => "one method; some of its checks failed".to_string(),
        (_, true, true, 0) if with_ci.len() < 2 => {
            "the methods agree in sign (fewer than two give an interval, so their sizes are not compared); every check passed"
                .to_string()
        }
        (_, true, true, 0) => "the methods agree in sign and their intervals overlap; every check passed".to_string(),
        (_, true, true, _) => "the methods agree, but some checks failed: weigh those methods less".to_string(),
        (_, true, false, _) => "the methods agree in sign but not in size".to_string(),
        _ => "the methods disagree in sign: the assumptions of at least one do not hold here".to_string(),
    };
    Ok(AdvancedResponse {
        question,
        comparison: Comparison {
            methods: results.len(),
            estimates,
            signs_agree,
            intervals_overlap,
            spread: if hi >= lo { hi - lo } else { 0.0 },
            checks_passed: passed,
            checks_failed: failed,
            summary,
        },
        results,
    })
}

/// What the analyses need besides the request: the stores, and the jobs queue (on the embedded
/// default, the in-process chain, which runs the job as it is queued).
pub struct Ctx<'a> {
    pub stores: &'a Stores,
    pub jobs_queue: Option<&'a dyn Queue>,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// A parsed request, ready to run.
struct Prepared {
    kind: Kind,
    common: Common,
    rest: serde_json::Map<String, serde_json::Value>,
}

fn prepare(kind: Kind, body: &[u8]) -> Result<Prepared, ServiceError> {
    let serde_json::Value::Object(mut obj) = super::json_object(body)? else {
        return Err(ValidationError::new("body", "must be a JSON object").into());
    };
    let common = take_common(&mut obj)?;
    Ok(Prepared { kind, common, rest: obj })
}

/// Run an analysis request for `user`: at once, or as a job when it is large (or asked to be).
pub async fn run(ctx: &Ctx<'_>, user: &UserContext, kind: Kind, body: &[u8]) -> Result<Answer, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let p = prepare(kind, body)?;
    // `async` queues before reading the data; what can be checked without it is checked now.
    if p.common.mode == Mode::Async {
        precheck(&p)?;
        return queue_job(ctx, user, kind.into(), body).await.map(Answer::Queued);
    }
    match in_call(ctx.stores, user, &p).await? {
        Ok(out) => Ok(Answer::Done(out)),
        Err(too_large) => match p.common.mode {
            Mode::Auto => queue_job(ctx, user, kind.into(), body).await.map(Answer::Queued),
            // A request cannot opt out of the limits that keep an HTTP function within its time.
            Mode::Sync | Mode::Async => Err(ValidationError::new(
                "mode",
                format!("sync: {too_large}: use auto or async, which run it as a job"),
            )
            .into()),
        },
    }
}

/// The analysis in the call, or why it is too large for one.
async fn in_call(
    stores: &Stores,
    user: &UserContext,
    p: &Prepared,
) -> Result<Result<AnalysisOutput, String>, ServiceError> {
    let mut loaded =
        source::load(stores.records.as_ref(), stores.panels.as_ref(), &user.org_id, &p.common.data).await?;
    let planned = plan(p, &mut loaded)?;
    if needs_job(&loaded.info, planned.placebo_donors) {
        return Ok(Err(format!(
            "this request is too large to answer in the call ({} rows{}, {} placebo donors; \
             the limits are {SYNC_MAX_ROWS} rows, {} MiB and {SYNC_MAX_PLACEBO_DONORS} donors)",
            loaded.info.rows,
            loaded.info.bytes.map(|b| format!(", {b} bytes")).unwrap_or_default(),
            planned.placebo_donors,
            SYNC_MAX_PANEL_BYTES / (1024 * 1024)
        )));
    }
    execute(stores, user, p, loaded, planned, None).await.map(Ok)
}

/// An analysis for a caller that makes its own job of a large one (the explanations): the
/// answer in the call, or why the request is too large for one.
pub async fn run_in_call(
    ctx: &Ctx<'_>,
    user: &UserContext,
    kind: Kind,
    body: &[u8],
) -> Result<Result<AnalysisOutput, String>, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let p = prepare(kind, body)?;
    in_call(ctx.stores, user, &p).await
}

/// What a request's shape says before its data is read (checked before it is queued).
pub fn check_request(kind: Kind, body: &[u8]) -> Result<(), ServiceError> {
    precheck(&prepare(kind, body)?)
}

/// An analysis run whatever its size: in a job.
pub async fn run_unbounded(
    stores: &Stores,
    user: &UserContext,
    kind: Kind,
    body: &[u8],
    progress: Option<ProgressSender>,
) -> Result<AnalysisOutput, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let p = prepare(kind, body)?;
    let mut loaded =
        source::load(stores.records.as_ref(), stores.panels.as_ref(), &user.org_id, &p.common.data).await?;
    let planned = plan(&p, &mut loaded)?;
    execute(stores, user, &p, loaded, planned, progress).await
}

/// An analyze/advanced request answered in the call, with the table it read and its parsed
/// methods (the counterfactual paths need the observed outcome). Too large for a call is a 400
/// naming `mode`, as for `sync`.
pub async fn run_with_table(
    ctx: &Ctx<'_>,
    user: &UserContext,
    body: &[u8],
) -> Result<(AnalysisOutput, Table, Vec<MethodSpec>), ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let p = prepare(Kind::AnalyzeAdvanced, body)?;
    let mut loaded =
        source::load(ctx.stores.records.as_ref(), ctx.stores.panels.as_ref(), &user.org_id, &p.common.data).await?;
    let planned = plan(&p, &mut loaded)?;
    if needs_job(&loaded.info, planned.placebo_donors) {
        return Err(ValidationError::new(
            "mode",
            "this analysis is too large to answer in the call: run it as a job, then pass its job_id",
        )
        .into());
    }
    advanced_planned(loaded, planned)
}

/// The request's own shape, before the data is read: the method names and each kind's fields.
fn precheck(p: &Prepared) -> Result<(), ServiceError> {
    let rest = serde_json::Value::Object(p.rest.clone());
    match p.kind {
        Kind::AnalyzeAdvanced => {
            let b: AdvancedBody = crate::domain::error::from_json_value(rest)?;
            check_method_names(&b.methods)?;
        }
        Kind::Discover => {
            crate::domain::error::from_json_value::<DiscoverRequest>(rest)?;
        }
        Kind::TreatmentEffect => {
            effect_request(rest, p.common.data.records.is_some())?;
        }
    }
    Ok(())
}

/// The kind-specific request, checked against the data.
enum Plan {
    Advanced { methods: Vec<MethodSpec>, question: Option<String> },
    Discover(DiscoverRequest),
    Effect(EffectRequest),
}

struct Planned {
    plan: Plan,
    placebo_donors: usize,
}

fn plan(p: &Prepared, loaded: &mut Loaded) -> Result<Planned, ServiceError> {
    let rest = serde_json::Value::Object(p.rest.clone());
    let field = |e: ValidationError| -> ServiceError { e.into() };
    Ok(match p.kind {
        Kind::AnalyzeAdvanced => {
            let mut b: AdvancedBody = crate::domain::error::from_json_value(rest).map_err(field)?;
            // a time column of dates: numbered as periods, the methods' dates read on its axis
            if let Some(axis) = super::time_axis::date_methods(&mut loaded.table, &mut b.methods)? {
                loaded.info.time_axis = Some(axis.summary());
            }
            let methods = parse_methods(&loaded.table, &loaded.info, b.methods)?;
            let placebo_donors = placebo_donors(&loaded.table, &methods);
            Planned { plan: Plan::Advanced { methods, question: b.question }, placebo_donors }
        }
        Kind::Discover => Planned {
            plan: Plan::Discover(crate::domain::error::from_json_value(rest).map_err(field)?),
            placebo_donors: 0,
        },
        Kind::TreatmentEffect => Planned {
            plan: Plan::Effect(effect_request(rest, loaded.info.source == "records").map_err(field)?),
            placebo_donors: 0,
        },
    })
}

/// Estimate, then attach what was read (`data`) and, when asked, the report (`report`).
async fn execute(
    stores: &Stores,
    user: &UserContext,
    p: &Prepared,
    loaded: Loaded,
    planned: Planned,
    progress: Option<ProgressSender>,
) -> Result<AnalysisOutput, ServiceError> {
    let (mut out, html) = compute_off_thread(p.common.report, loaded, planned.plan, progress).await?;
    if let Some(html) = html {
        *out.report_mut() = Some(store_report(stores.panels.as_ref(), user, p.kind.as_str(), html).await?);
    }
    Ok(out)
}

/// Where a job's progress goes: (steps done, total), as they happen.
pub type ProgressSender = tokio::sync::mpsc::UnboundedSender<crate::domain::job::JobProgress>;

/// [`compute`] on the blocking pool (the estimators are CPU work), reporting each step to
/// `progress`; a panic in it is an internal error, logged.
async fn compute_off_thread(
    report: bool,
    loaded: Loaded,
    plan: Plan,
    progress: Option<ProgressSender>,
) -> Result<(AnalysisOutput, Option<String>), ServiceError> {
    let steps = match &plan {
        Plan::Advanced { methods, .. } => methods.len(),
        Plan::Discover(_) | Plan::Effect(_) => 1,
    } + usize::from(report);
    let total = u32::try_from(steps).unwrap_or(u32::MAX);
    let send = move |done: usize| {
        if let Some(tx) = &progress {
            let _ = tx.send(crate::domain::job::JobProgress { done: u32::try_from(done).unwrap_or(total), total });
        }
    };
    send(0);
    let task = tokio::task::spawn_blocking(move || {
        let mut step = send;
        let out = compute(report, loaded, plan, &mut step);
        if out.is_ok() {
            step(steps);
        }
        out
    });
    match task.await {
        Ok(out) => out,
        Err(e) => {
            let why = if e.is_panic() { crate::service::panic_message(e.into_panic().as_ref()) } else { e.to_string() };
            tracing::error!(panic = %why, "the analysis panicked");
            Err(ServiceError::Internal("the analysis failed unexpectedly; it has been logged".into()))
        }
    }
}

/// The estimates with `data` attached, and the report's HTML when wanted; `step(k)` as the
/// k-th step (a method, then the report) finishes.
fn compute(
    report: bool,
    loaded: Loaded,
    plan: Plan,
    step: &mut dyn FnMut(usize),
) -> Result<(AnalysisOutput, Option<String>), ServiceError> {
    let Loaded { table, info } = loaded;
    Ok(match plan {
        Plan::Advanced { methods, question } => {
            let out = analyze_table_reporting(&table, &methods, question, step)
                .map_err(|e| super::time_axis::dated_error(e, info.time_axis.as_ref()))?;
            let output = AnalysisOutput::Advanced(Analysis { result: out, data: info, report: None });
            if report {
                step(methods.len());
            }
            let html = report.then(|| report_html(&output, &table, &methods, None));
            (output, html)
        }
        Plan::Discover(req) => {
            let out = estimate::discover(&table, &req).map_err(|e| field_error("", e))?;
            let output = AnalysisOutput::Discover(Analysis { result: out, data: info, report: None });
            let html = report.then(|| report_html(&output, &table, &[], None));
            (output, html)
        }
        Plan::Effect(req) => {
            let out = estimate::effect(&table, &req).map_err(|e| field_error("", e))?;
            let outcome = Some(req.outcome.clone());
            let output = AnalysisOutput::Effect(Analysis { result: out, data: info, report: None });
            let html = report.then(|| report_html(&output, &table, &[], outcome));
            (output, html)
        }
    })
}

/// The executive explanation of an answer at 95% (the templates, checked by the validator), as
/// the report opens with it; None if the answer cannot be explained.
fn report_explanation(output: &AnalysisOutput, outcome: Option<String>) -> Option<crate::llm::Insights> {
    let ctx = crate::llm::facts::Context { outcome, ..Default::default() };
    crate::llm::facts::sheet(output, 0.95, &ctx)
        .ok()
        .and_then(|sheet| crate::llm::explain_sheet(sheet, crate::llm::Audience::Executive, None).ok())
}

/// The report of an answer, opening with its explanation (`methods`: the analyze/advanced
/// request's, for the counterfactuals it draws).
fn report_html(output: &AnalysisOutput, table: &Table, methods: &[MethodSpec], outcome: Option<String>) -> String {
    fn words(x: &crate::llm::Insights) -> (&crate::llm::Explanation, &crate::llm::Grounding) {
        (&x.explanation, &x.grounding)
    }
    match output {
        AnalysisOutput::Discover(a) => {
            crate::report::discovery(&a.result, &a.data, report_explanation(output, outcome).as_ref().map(words))
        }
        AnalysisOutput::Effect(a) => {
            let currency = outcome.as_deref().and_then(|o| a.data.money_of(o)).map(str::to_string);
            let explained = report_explanation(output, outcome);
            crate::report::effect(&a.result, &a.data, explained.as_ref().map(words), currency.as_deref())
        }
        AnalysisOutput::Advanced(_) => advanced_report(output, table, methods),
    }
}

/// The report of an analyze/advanced answer: the estimates, the executive explanation (the
/// templates at 95%, checked by the validator) and the counterfactual of each result that has one.
fn advanced_report(output: &AnalysisOutput, table: &Table, methods: &[MethodSpec]) -> String {
    let AnalysisOutput::Advanced(a) = output else { return String::new() };
    let level = 0.95;
    let outcome = methods.first().map(|m| match m {
        MethodSpec::Did(d) => d.outcome.clone(),
        MethodSpec::Iv(r) => r.outcome.clone(),
        MethodSpec::Rdd(r) => r.outcome.clone(),
        MethodSpec::Synth(r) => r.outcome.clone(),
        MethodSpec::Sdid(r) => r.outcome.clone(),
        MethodSpec::Impact(r) => r.outcome.clone(),
    });
    let currency = outcome.as_deref().and_then(|o| a.data.money_of(o));
    let explained = report_explanation(output, outcome.clone());
    let evidence = explained.as_ref().map(|x| x.evidence.as_slice()).unwrap_or_default();
    let (scenarios, _) = crate::llm::counterfactual::analysis_paths(output, Some((table, methods)), evidence, level);
    let words = explained.as_ref().map(|x| (&x.explanation, &x.grounding));
    crate::report::advanced(&a.result, &a.data, words, &scenarios, currency)
}

/// `liftos report`: an analysis request (the API's body) on a local table, with its HTML report.
/// The table replaces the body's `rows` / `panel` / `records`.
pub fn run_local(
    kind: Kind,
    body: &[u8],
    table: Table,
    source: &str,
) -> Result<(AnalysisOutput, String), ServiceError> {
    let mut p = prepare_without_data(kind, body)?;
    p.common.report = true;
    let mut loaded = Loaded::new(source, table);
    let planned = plan(&p, &mut loaded)?;
    let (value, html) = compute(true, loaded, planned.plan, &mut |_| {})?;
    Ok((value, html.unwrap_or_default()))
}

/// `liftos counterfactual`: an analyze/advanced body on a local table, with the table back and
/// the parsed methods (no report).
pub fn run_local_advanced(
    body: &[u8],
    table: Table,
    source: &str,
) -> Result<(AnalysisOutput, Table, Vec<MethodSpec>), ServiceError> {
    let p = prepare_without_data(Kind::AnalyzeAdvanced, body)?;
    let mut loaded = Loaded::new(source, table);
    let planned = plan(&p, &mut loaded)?;
    advanced_planned(loaded, planned)
}

/// An analyze/advanced request, planned on its table: the answer, the table and the methods.
fn advanced_planned(
    loaded: Loaded,
    planned: Planned,
) -> Result<(AnalysisOutput, Table, Vec<MethodSpec>), ServiceError> {
    let Plan::Advanced { methods, question } = planned.plan else {
        return Err(ServiceError::Internal("an analyze/advanced request planned as another kind".into()));
    };
    let out = analyze_table(&loaded.table, &methods, question)?;
    let output = AnalysisOutput::Advanced(Analysis { result: out, data: loaded.info, report: None });
    Ok((output, loaded.table, methods))
}

fn prepare_without_data(kind: Kind, body: &[u8]) -> Result<Prepared, ServiceError> {
    let serde_json::Value::Object(mut obj) = super::json_object(body)? else {
        return Err(ValidationError::new("body", "must be a JSON object").into());
    };
    for k in ["rows", "panel", "records"] {
        obj.remove(k);
    }
    obj.insert("rows".into(), serde_json::json!([{}]));
    let common = take_common(&mut obj)?;
    Ok(Prepared { kind, common, rest: obj })
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Store(StoreError::backend("serialize", e, false))
}

/// Store an HTML report under the org (`reports/{kind}/{id}.html`) and link to it.
pub(crate) async fn store_report(
    panels: &dyn PanelStore,
    user: &UserContext,
    kind: &str,
    html: String,
) -> Result<ReportLink, ServiceError> {
    let key = format!("reports/{kind}/{}.html", uuid::Uuid::new_v4());
    let bytes = html.len();
    panels.put_panel(&user.org_id, &key, bytes::Bytes::from(html)).await?;
    let url = panels.link(&user.org_id, &key, LINK_TTL).await?;
    Ok(ReportLink::Stored { key, url, expires_in_seconds: LINK_TTL.as_secs(), bytes })
}

fn job_href(id: &str) -> String {
    format!("/api/v1/causal/jobs/{id}")
}

/// Record the job and its request, then hand it to the batch-analysis stage.
pub(crate) async fn queue_job(
    ctx: &Ctx<'_>,
    user: &UserContext,
    kind: JobKind,
    body: &[u8],
) -> Result<JobView, ServiceError> {
    if ctx.jobs_queue.is_none() {
        // A deployment without the jobs queue (LIFTOS_NEXT_QUEUE_URL): ours to fix, not a busy store.
        tracing::error!("an analysis must run as a job but no jobs queue is configured (LIFTOS_NEXT_QUEUE_URL)");
        return Err(ServiceError::Internal("analyses that run as jobs are not configured in this deployment".into()));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let request_key = format!("jobs/{id}/request.json");
    ctx.stores.panels.put_panel(&user.org_id, &request_key, bytes::Bytes::copy_from_slice(body)).await?;
    let job = AnalysisJob::queued(
        id.clone(),
        user.org_id.clone(),
        user.user_id.clone(),
        user.permissions.iter().cloned().collect(),
        kind.as_str().to_string(),
        request_key,
        ctx.now,
    );
    ctx.stores.jobs.create_job(&job).await?;
    let sent = match ctx.jobs_queue {
        Some(q) => {
            let msg = JobMessage { job_id: id.clone(), org_id: user.org_id.to_string() };
            let body = serde_json::to_string(&msg).map_err(internal)?;
            q.send(&Message::new(body).with_attribute("liftos_kind", "analysis_job")).await
        }
        None => Err(StoreError::backend("jobs queue", "no jobs queue is configured", true)),
    };
    if let Err(e) = sent {
        // Not queued: say so on the job rather than leave it waiting for ever.
        let mut failed = job.clone();
        failed.status = JobStatus::Failed;
        failed.error = Some(JobError {
            status: 503,
            code: "unavailable".into(),
            field: None,
            message: format!("the job could not be queued: {e}"),
        });
        failed.updated_at = chrono::Utc::now().max(job.updated_at + chrono::Duration::microseconds(1));
        let _ = ctx.stores.jobs.update_job(&failed, job.updated_at).await;
        return Err(e.into());
    }
    // Where the queue runs the job in process (the embedded default) it has finished already.
    let job = ctx.stores.jobs.get_job(&user.org_id, &id).await?.unwrap_or(job);
    Ok(view(ctx.stores.panels.as_ref(), &job).await?)
}

async fn view(panels: &dyn PanelStore, job: &AnalysisJob) -> Result<JobView, StoreError> {
    let result_url = match &job.result_key {
        Some(k) => Some(panels.link(&job.org_id, k, LINK_TTL).await?),
        None => None,
    };
    let kind: JobKind = job.kind.parse().map_err(|e: String| StoreError::backend("job kind", e, false))?;
    let result = job
        .result
        .clone()
        .map(|v| JobResult::from_json(kind, v))
        .transpose()
        .map_err(|e| StoreError::backend("job result", e, false))?;
    Ok(JobView {
        job_id: job.id.clone(),
        kind,
        status: job.status,
        created_at: job.created_at,
        updated_at: job.updated_at,
        attempts: job.attempts,
        progress: job.progress,
        result,
        result_url,
        error: job.error.clone(),
        href: job_href(&job.id),
    })
}

/// `GET /api/v1/causal/jobs/{job_id}`: another org's job looks exactly like a missing one. A
/// job still `running` longer than `timeout` after its last start (its function was killed: a
/// time-out, out of memory) is marked failed with that reason, never left running for ever.
pub async fn get_job(
    stores: &Stores,
    user: &UserContext,
    id: &str,
    timeout: std::time::Duration,
) -> Result<JobView, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    crate::domain::check_id("job_id", id)?;
    let mut job = stores
        .jobs
        .get_job(&user.org_id, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: format!("job {id}") })?;
    if let Some(failed) = expire_if_stuck(&job, timeout, chrono::Utc::now()) {
        match stores.jobs.update_job(&failed, job.updated_at).await {
            Ok(()) => job = failed,
            // It moved on meanwhile (finished, or restarted by a redelivery): show that.
            Err(StoreError::Conflict { .. }) => {
                job = stores.jobs.get_job(&user.org_id, id).await?.unwrap_or(job);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(view(stores.panels.as_ref(), &job).await?)
}

/// Slack past the function's timeout before a running job counts as dead.
pub const STUCK_GRACE_SECONDS: i64 = 60;

/// The failed job a `running` one becomes when it has run past its function's timeout.
pub fn expire_if_stuck(
    job: &AnalysisJob,
    timeout: std::time::Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<AnalysisJob> {
    let limit = chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX)
        + chrono::Duration::seconds(STUCK_GRACE_SECONDS);
    if job.status != JobStatus::Running || now - job.started_at.unwrap_or(job.updated_at) <= limit {
        return None;
    }
    let mut failed = job.clone();
    failed.status = JobStatus::Failed;
    failed.updated_at = next_stamp(job.updated_at);
    failed.error = Some(
        crate::api::error::ApiError::new(
            500,
            crate::api::error::ErrorCode::InternalError,
            format!(
                "the analysis did not finish within its function's timeout ({} s): it was stopped; \
                 run it again on less data, or with fewer draws or placebo windows",
                timeout.as_secs()
            ),
        )
        .to_job_error(),
    );
    Some(failed)
}

fn next_stamp(prev: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now().max(prev + chrono::Duration::microseconds(1))
}

/// The batch-analysis stage's message handler; `model`, the configured language model (for
/// explanations run as jobs).
///
/// A succeeded analysis of stored records is then announced on `data_ready` (the knowledge
/// graph's build reads the org's finished analyses); also on a redelivery of a finished job, so
/// an announcement that failed is sent again (the build is idempotent).
pub async fn job_message(
    stores: &Stores,
    data_ready: Option<&dyn Queue>,
    body: &str,
    model: Option<&dyn Provider>,
) -> Result<(), StageError> {
    let msg: JobMessage =
        serde_json::from_str(body).map_err(|e| StageError::Poison(format!("not an analysis job message: {e}")))?;
    let org = crate::domain::OrgId::new(&msg.org_id).map_err(|e| StageError::Poison(format!("org_id: {e}")))?;
    run_job(stores, &org, &msg.job_id, model).await?;
    let Some(q) = data_ready else { return Ok(()) };
    let job = stores.jobs.get_job(&org, &msg.job_id).await.map_err(|e| StageError::Transient(e.to_string()))?;
    let Some(job) = job else { return Ok(()) };
    let on_records = match &job.result {
        Some(v) => v["data"]["source"] == "records",
        // A large result: not read here; the build decides.
        None => job.result_key.is_some(),
    };
    if job.status == JobStatus::Succeeded
        && matches!(job.kind.as_str(), "analyze_advanced" | "treatment_effect")
        && on_records
    {
        let ready = serde_json::json!({ "org_id": org, "analysis_job": job.id });
        q.send(&crate::storage::Message::new(ready.to_string()).with_attribute("liftos_kind", "data_ready"))
            .await
            .map_err(|e| StageError::Transient(e.to_string()))?;
    }
    Ok(())
}

/// Run a queued job once: a finished job is left alone (a redelivery changes nothing); a
/// user's mistake fails the job with the error it would have had over HTTP; a store outage is
/// retried by SQS.
pub async fn run_job(
    stores: &Stores,
    org: &crate::domain::OrgId,
    id: &str,
    model: Option<&dyn Provider>,
) -> Result<(), StageError> {
    let transient = |e: StoreError| {
        if e.is_retryable() {
            StageError::Transient(e.to_string())
        } else {
            StageError::Poison(e.to_string())
        }
    };
    let Some(job) = stores.jobs.get_job(org, id).await.map_err(transient)? else {
        return Err(StageError::Poison(format!("no job {id} in org {org}")));
    };
    if job.status.is_finished() {
        tracing::info!(job_id = id, status = ?job.status, "already finished; nothing to do");
        return Ok(());
    }
    let mut running = job.clone();
    running.status = JobStatus::Running;
    running.attempts += 1;
    running.updated_at = next_stamp(job.updated_at);
    running.started_at = Some(running.updated_at);
    running.progress = None;
    match stores.jobs.update_job(&running, job.updated_at).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(StageError::Transient("the job changed while starting; will look again".into()))
        }
        Err(e) => return Err(transient(e)),
    }
    // A panic in an estimator fails the job (with the panic logged), never leaves it running.
    // Progress is written to the job as each step ends (best effort: a lost write only delays it).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let work =
        futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(execute_job(stores, &running, tx, model)));
    tokio::pin!(work);
    let mut current = running.clone();
    let caught = loop {
        tokio::select! {
            out = &mut work => break out,
            Some(p) = rx.recv() => {
                let mut next = current.clone();
                next.progress = Some(p);
                next.updated_at = next_stamp(current.updated_at);
                match stores.jobs.update_job(&next, current.updated_at).await {
                    Ok(()) => current = next,
                    Err(e) => tracing::warn!(job_id = id, error = %e, "progress not recorded"),
                }
            }
        }
    };
    let outcome = match caught {
        Ok(outcome) => outcome,
        Err(panic) => {
            tracing::error!(job_id = id, panic = %crate::service::panic_message(panic.as_ref()), "the analysis panicked");
            Err(ServiceError::Internal("the analysis failed unexpectedly; it has been logged".into()))
        }
    };
    // The steps that ended with the work.
    while let Ok(p) = rx.try_recv() {
        current.progress = Some(p);
    }
    let running = current;
    let mut done = running.clone();
    done.updated_at = next_stamp(running.updated_at);
    match outcome {
        Ok(out) => {
            // The job item stores the answer as the API's JSON (its storage form).
            let value = serde_json::to_value(&out).map_err(|e| StageError::Poison(e.to_string()))?;
            let text = value.to_string();
            if text.len() > INLINE_RESULT_BYTES {
                let key = format!("jobs/{id}/result.json");
                stores.panels.put_panel(org, &key, bytes::Bytes::from(text)).await.map_err(transient)?;
                done.result_key = Some(key);
            } else {
                done.result = Some(value);
            }
            done.status = JobStatus::Succeeded;
        }
        Err(ServiceError::Store(e)) if e.is_retryable() => return Err(StageError::Transient(e.to_string())),
        Err(e) => {
            done.status = JobStatus::Failed;
            done.error = Some(crate::api::error::ApiError::from(e).to_job_error());
        }
    }
    match stores.jobs.update_job(&done, running.updated_at).await {
        Ok(()) => {
            tracing::info!(job_id = id, status = ?done.status, "job finished");
            Ok(())
        }
        // Another delivery finished it first: the same request gives the same answer.
        Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(transient(e)),
    }
}

async fn execute_job(
    stores: &Stores,
    job: &AnalysisJob,
    progress: ProgressSender,
    model: Option<&dyn Provider>,
) -> Result<JobResult, ServiceError> {
    let body = stores
        .panels
        .get_panel(&job.org_id, &job.request_key)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: format!("the request of job {}", job.id) })?;
    let kind: JobKind = job.kind.parse().map_err(|e: String| ValidationError::new("kind", e))?;
    let user = UserContext {
        org_id: job.org_id.clone(),
        user_id: job.user_id.clone(),
        roles: vec![],
        permissions: job.permissions.iter().cloned().collect(),
    };
    match kind.analysis() {
        Some(kind) => run_unbounded(stores, &user, kind, &body, Some(progress)).await.map(JobResult::Analysis),
        None => {
            let x = super::insights::in_job(stores, &user, &body, model, progress).await?;
            Ok(JobResult::Insights(Box::new(x)))
        }
    }
}
