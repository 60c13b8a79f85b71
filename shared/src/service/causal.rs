//! The causal service's synchronous endpoints on inline rows: causal discovery and treatment
//! effects under measured confounding. Column roles and result keys are those of
//! `liftos estimate` / `liftos discover`.

use serde::Deserialize;

use super::estimate::{self, DiscoverRequest, EffectRequest, EstimateError};
use super::{require, ServiceError};
use crate::domain::{permissions, UserContext, ValidationError};
use crate::estimators::data::{Column, Table};

/// Inline rows are for small data (the body is capped at 5 MiB as well).
pub const MAX_INLINE_ROWS: usize = 100_000;

type Row = serde_json::Map<String, serde_json::Value>;

/// Rows of JSON objects to a table: a column whose values are all numbers (or null, a missing
/// value) is numeric; otherwise it is text.
pub fn table_from_rows(rows: &[Row]) -> Result<Table, ValidationError> {
    if rows.is_empty() {
        return Err(ValidationError::new("rows", "must contain at least one row"));
    }
    if rows.len() > MAX_INLINE_ROWS {
        return Err(ValidationError::new("rows", format!("has {} rows; at most {MAX_INLINE_ROWS} inline", rows.len())));
    }
    let names: Vec<String> = rows[0].keys().cloned().collect();
    for (i, r) in rows.iter().enumerate() {
        if r.len() != names.len() || !names.iter().all(|n| r.contains_key(n)) {
            return Err(ValidationError::new(format!("rows[{i}]"), "must have the same keys as rows[0]"));
        }
    }
    let mut cols = Vec::with_capacity(names.len());
    for n in &names {
        let vals: Vec<&serde_json::Value> = rows.iter().map(|r| &r[n]).collect();
        let numeric = vals.iter().all(|v| v.is_number() || v.is_null());
        let col = if numeric {
            Column::Num(vals.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
        } else {
            for (i, v) in vals.iter().enumerate() {
                if v.is_object() || v.is_array() {
                    return Err(ValidationError::new(format!("rows[{i}].{n}"), "must be a number, a string or null"));
                }
            }
            Column::Text(vals.iter().map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).collect())
        };
        cols.push((n.as_str(), col));
    }
    Ok(Table::from_columns(cols))
}

/// An estimator's error as a 400 naming its field (under `prefix`, e.g. `methods[1].`).
fn field_error(prefix: &str, e: EstimateError) -> ServiceError {
    let field = e.field().to_string();
    let message = e.to_string();
    // The estimators' messages name their column first; the error format adds the field itself.
    let message = message.strip_prefix(&format!("{field}: ")).map(String::from).unwrap_or(message);
    ValidationError::new(format!("{prefix}{field}"), message).into()
}

#[derive(Debug, Deserialize)]
struct DiscoverBody {
    rows: Vec<Row>,
    #[serde(flatten)]
    request: DiscoverRequest,
}

#[derive(Debug, Deserialize)]
struct EffectBody {
    rows: Vec<Row>,
    #[serde(flatten)]
    request: EffectRequest,
}

/// `POST /api/v1/causal/discover`: PC (CPDAG) or DirectLiNGAM on the rows' numeric columns (or
/// `columns`), with background knowledge (tiers, forbidden and required edges).
pub fn discover(user: &UserContext, body: &[u8]) -> Result<serde_json::Value, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let b: DiscoverBody = super::parse_object(body)?;
    let table = table_from_rows(&b.rows)?;
    estimate::discover(&table, &b.request).map_err(|e| field_error("", e))
}

/// `POST /api/v1/causal/treatment-effect`: regression adjustment, IPW or AIPW (ATE or ATT) with
/// overlap diagnostics, the E-value and, with `refute`, the refutations.
pub fn treatment_effect(user: &UserContext, body: &[u8]) -> Result<serde_json::Value, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let b: EffectBody = super::parse_object(body)?;
    let table = table_from_rows(&b.rows)?;
    estimate::effect(&table, &b.request).map_err(|e| field_error("", e))
}

use super::estimate::{DidRequest, IvRequest, RddRequest, SynthRequest};

/// One method's settings: `method` and that method's column roles (as `liftos estimate`).
#[derive(Debug, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum MethodSpec {
    Did(DidRequest),
    Iv(IvRequest),
    Rdd(RddRequest),
    Synth(SynthRequest),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvancedBody {
    rows: Vec<Row>,
    methods: Vec<serde_json::Value>,
    #[serde(default)]
    question: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub rule: String,
    /// None when the result does not carry the statistic (e.g. no event study was run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MethodResult {
    pub method: String,
    pub assumptions: Vec<String>,
    pub checks: Vec<Check>,
    pub result: serde_json::Value,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    pub methods: usize,
    /// (method, estimate, ci_low, ci_high)
    pub estimates: Vec<(String, f64, Option<f64>, Option<f64>)>,
    pub signs_agree: bool,
    /// Every pair of intervals overlaps (methods without an interval are left out).
    pub intervals_overlap: bool,
    pub spread: f64,
    pub checks_passed: usize,
    pub checks_failed: usize,
    pub summary: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AdvancedResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    pub results: Vec<MethodResult>,
    pub comparison: Comparison,
}

fn num(v: &serde_json::Value, key: &str) -> Option<f64> {
    v.get(key).and_then(|x| x.as_f64())
}

fn check(name: &str, value: Option<f64>, rule: &str, ok: impl Fn(f64) -> bool) -> Check {
    Check { name: name.into(), value, rule: rule.into(), passed: value.map(ok) }
}

/// `POST /api/v1/causal/analyze/advanced`: several methods on the same question and rows, each
/// with its assumptions and checks (pre-trends, first-stage strength, density test, pre-period
/// fit, placebo p-value), and whether they agree.
pub fn analyze_advanced(user: &UserContext, body: &[u8]) -> Result<AdvancedResponse, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let b: AdvancedBody = super::parse_object(body)?;
    if b.methods.is_empty() {
        return Err(ValidationError::new("methods", "name at least one method").into());
    }
    if b.methods.len() > 8 {
        return Err(ValidationError::new("methods", "at most 8 methods per request").into());
    }
    let table = table_from_rows(&b.rows)?;
    let mut results = Vec::new();
    for (i, m) in b.methods.into_iter().enumerate() {
        let name = m.get("method").and_then(|x| x.as_str()).unwrap_or("").to_string();
        if !["did", "iv", "rdd", "synth"].contains(&name.as_str()) {
            return Err(ValidationError::new(
                format!("methods[{i}].method"),
                format!("{name:?}: expected did, iv, rdd or synth"),
            )
            .into());
        }
        let spec: MethodSpec = crate::domain::error::from_json_value(m)
            .map_err(|e| ValidationError::new(format!("methods[{i}].{}", e.field()), e.summary()))?;
        let prefix = format!("methods[{i}].");
        let at = |e: EstimateError| field_error(&prefix, e);
        let (result, assumptions, checks) = match &spec {
            MethodSpec::Did(r) => {
                let v = estimate::did(&table, r).map_err(at)?;
                let checks = vec![check(
                    "pre-trends",
                    num(&v, "pre_trend_p_value"),
                    "joint test of the leads: p >= 0.05 (run with event_study)",
                    |p| p >= 0.05,
                )];
                (
                    v,
                    vec![
                        "parallel trends: without treatment, treated and control units would have moved alike".into(),
                        "no anticipation".into(),
                        "no spill-over between units".into(),
                    ],
                    checks,
                )
            }
            MethodSpec::Iv(r) => {
                let v = estimate::iv(&table, r).map_err(at)?;
                let checks =
                    vec![check("first-stage strength", num(&v, "first_stage_f"), "first-stage F >= 10", |f| f >= 10.0)];
                (
                    v,
                    vec![
                        "relevance: the instruments move the treatment".into(),
                        "exclusion: they affect the outcome only through it".into(),
                        "independence from the unobserved confounders".into(),
                    ],
                    checks,
                )
            }
            MethodSpec::Rdd(r) => {
                let v = estimate::rdd(&table, r).map_err(at)?;
                let checks = vec![check(
                    "density test (no manipulation)",
                    num(&v, "density_test_p_value"),
                    "p >= 0.05 for a jump in the running variable's density at the cutoff",
                    |p| p >= 0.05,
                )];
                (
                    v,
                    vec![
                        "continuity: without treatment the outcome would be smooth at the cutoff".into(),
                        "no precise sorting around the cutoff".into(),
                    ],
                    checks,
                )
            }
            MethodSpec::Synth(r) => {
                let v = estimate::synth_control(&table, r).map_err(at)?;
                let t0 = r.treatment_time;
                let pre: Vec<f64> = v["gaps"]
                    .as_array()
                    .map(|g| {
                        g.iter()
                            .filter(|x| x["time"].as_i64().is_some_and(|t| t < t0))
                            .filter_map(|x| x["treated"].as_f64())
                            .collect()
                    })
                    .unwrap_or_default();
                let level = pre.iter().map(|x| x.abs()).sum::<f64>() / pre.len().max(1) as f64;
                let rel = num(&v, "pre_rmspe").map(|r| if level > 0.0 { r / level } else { f64::INFINITY });
                let checks = vec![
                    check("pre-period fit", rel, "pre-period RMSPE <= 5% of the treated unit's level", |x| x <= 0.05),
                    check(
                        "placebo-in-space p-value",
                        num(&v, "placebo_p_value"),
                        "p <= 0.10 (run with placebo)",
                        |p| p <= 0.1,
                    ),
                ];
                (
                    v,
                    vec![
                        "the treated unit's untreated path is a weighted mix of the donors'".into(),
                        "no donor was affected by the treatment".into(),
                    ],
                    checks,
                )
            }
        };
        results.push(MethodResult { method: name, assumptions, checks, result });
    }
    let estimates: Vec<(String, f64, Option<f64>, Option<f64>)> = results
        .iter()
        .filter_map(|r| {
            num(&r.result, "estimate")
                .map(|e| (r.method.clone(), e, num(&r.result, "ci_low"), num(&r.result, "ci_high")))
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
        (1, _, _, 0) => "one method; its checks passed".to_string(),
        (1, _, _, _) => "one method; some of its checks failed".to_string(),
        (_, true, true, 0) => "the methods agree in sign and their intervals overlap; every check passed".to_string(),
        (_, true, true, _) => "the methods agree, but some checks failed: weigh those methods less".to_string(),
        (_, true, false, _) => "the methods agree in sign but not in size".to_string(),
        _ => "the methods disagree in sign: the assumptions of at least one do not hold here".to_string(),
    };
    Ok(AdvancedResponse {
        question: b.question,
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
