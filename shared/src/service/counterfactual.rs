//! `POST /api/v1/llm/causal/counterfactual` and `liftos counterfactual`: counterfactual paths of
//! an analysis and spend what-ifs of the budget model, computed by [`crate::llm::counterfactual`].

use std::collections::BTreeMap;

use liftos_estimators::budget::{self, FittedModel};
use liftos_estimators::data::Table;

use super::causal::{self, AnalysisOutput, Kind};
use super::insights::{self, check_outcome_name};
use super::surfacing;
use super::{parse_object, require, ServiceError};
use crate::api::causal::MethodSpec;
use crate::api::llm::{CounterfactualRequest, CounterfactualResponse, InsightsRequest, ScenarioSpec};
use crate::api::surfacing::History;
use crate::domain::{permissions, UserContext, ValidationError};
use crate::llm::counterfactual::{self as cf, Ranges, SpendChange};
use crate::llm::{facts, Audience};

/// At most this many scenarios in one request.
pub const MAX_SCENARIOS: usize = 20;
/// A spend what-if is followed over at most this many periods (ten years of days).
pub const MAX_PERIODS: usize = 3650;
const DEFAULT_PERIODS: usize = 28;

/// The analysis to explain, with the table and methods when it was run here.
pub struct Analysed {
    pub output: AnalysisOutput,
    pub data: Option<(Table, Vec<MethodSpec>)>,
    pub outcome: Option<String>,
}

/// The answer for `user`.
pub async fn counterfactual(
    ctx: &causal::Ctx<'_>,
    user: &UserContext,
    body: &[u8],
) -> Result<CounterfactualResponse, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let req: CounterfactualRequest = parse_object(body)?;
    check(&req)?;
    let analysed = match &req.analysis {
        None => None,
        Some(a) => {
            if a.budget.is_some() || a.budget_result.is_some() {
                return Err(ValidationError::new(
                    "analysis",
                    "the budget model's what-ifs take its body as the top-level budget, not under analysis",
                )
                .into());
            }
            let given = [a.job_id.is_some(), a.result.is_some(), a.request.is_some()].iter().filter(|x| **x).count();
            if given != 1 {
                return Err(ValidationError::new("analysis", "name exactly one of job_id, result or request").into());
            }
            Some(if let Some(request) = a.request.clone() {
                if a.kind.is_some_and(|k| k != Kind::AnalyzeAdvanced) {
                    return Err(ValidationError::new(
                        "analysis.kind",
                        "counterfactual paths come from analyze_advanced results (did, synth)",
                    )
                    .into());
                }
                let body = insights::at_level(request, Kind::AnalyzeAdvanced, req.confidence_level, true)?;
                let outcome = insights::outcome_of(&body);
                let bytes = serde_json::to_vec(&body).map_err(|e| ServiceError::Internal(e.to_string()))?;
                let (output, table, methods) =
                    causal::run_with_table(ctx, user, &bytes).await.map_err(|e| match e {
                        ServiceError::Validation(v) => ServiceError::Validation(v.within("analysis.request")),
                        e => e,
                    })?;
                Analysed { output, data: Some((table, methods)), outcome }
            } else if let Some(r) = &a.result {
                Analysed { output: insights::priced(ctx, user, (**r).clone()).await, data: None, outcome: None }
            } else {
                let id = a.job_id.as_deref().unwrap_or_default();
                let (output, outcome) = insights::from_job(ctx, user, id).await?;
                Analysed { output, data: None, outcome }
            })
        }
    };
    let history = match &req.budget {
        Some(b) => Some(surfacing::history_of(ctx.stores.records.as_ref(), user, b, "budget.").await?),
        None => None,
    };
    compute(&req, analysed.as_ref(), history.as_ref())
}

/// The request's own checks, before any data is read.
pub fn check(req: &CounterfactualRequest) -> Result<(), ValidationError> {
    facts::check_level(req.confidence_level)?;
    if let Some(o) = &req.outcome {
        check_outcome_name(o)?;
    }
    if req.analysis.is_none() && req.budget.is_none() {
        return Err(ValidationError::new("analysis", "give an analysis, a budget, or both"));
    }
    if req.scenarios.len() > MAX_SCENARIOS {
        return Err(ValidationError::new("scenarios", format!("at most {MAX_SCENARIOS} scenarios in one request")));
    }
    for (i, s) in req.scenarios.iter().enumerate() {
        let at = |f: &str| format!("scenarios[{i}].{f}");
        let periods = match s {
            ScenarioSpec::NoIntervention { .. } => {
                if req.analysis.is_none() {
                    return Err(ValidationError::new(at("type"), "no_intervention needs an analysis"));
                }
                None
            }
            ScenarioSpec::Spend { spend_per_period, periods, .. } => {
                if !(spend_per_period.is_finite() && *spend_per_period >= 0.0) {
                    return Err(ValidationError::new(at("spend_per_period"), "must be a finite number, 0 or more"));
                }
                *periods
            }
            ScenarioSpec::Scale { factor, periods, .. } => {
                if !(factor.is_finite() && *factor >= 0.0 && *factor <= 100.0) {
                    return Err(ValidationError::new(at("factor"), "must be between 0 and 100"));
                }
                *periods
            }
            ScenarioSpec::ZeroSpend { periods, .. } | ScenarioSpec::Optimized { periods, .. } => *periods,
        };
        if !matches!(s, ScenarioSpec::NoIntervention { .. }) && req.budget.is_none() {
            return Err(ValidationError::new(at("type"), "a spend scenario needs a budget (history and plan)"));
        }
        if let Some(p) = periods {
            if p == 0 || p > MAX_PERIODS {
                return Err(ValidationError::new(at("periods"), format!("must be 1 to {MAX_PERIODS}")));
            }
        }
    }
    Ok(())
}

/// The scenarios of an analysis and a history (the service and `liftos counterfactual`).
pub fn compute(
    req: &CounterfactualRequest,
    analysed: Option<&Analysed>,
    history: Option<&History>,
) -> Result<CounterfactualResponse, ServiceError> {
    check(req)?;
    let level = req.confidence_level;
    let mut specs = req.scenarios.clone();
    if specs.is_empty() {
        if analysed.is_some() {
            specs.push(ScenarioSpec::NoIntervention { id: None });
        }
        if history.is_some() {
            specs.push(ScenarioSpec::Optimized { id: None, periods: None });
        }
    }
    let mut scenarios = Vec::new();
    let mut refused = Vec::new();
    let mut explanation = None;
    let mut grounding = None;
    if let Some(a) = analysed {
        let ins = InsightsRequest {
            analysis: Default::default(),
            confidence_level: level,
            audience: Audience::Executive,
            narrator: Default::default(),
            outcome: req.outcome.clone(),
            mode: Default::default(),
            level_given: true,
        };
        let explained = insights::explain(&a.output, &ins, a.outcome.clone())?;
        let wanted: Vec<Option<String>> = specs
            .iter()
            .filter_map(|s| match s {
                ScenarioSpec::NoIntervention { id } => Some(id.clone()),
                _ => None,
            })
            .collect();
        if !wanted.is_empty() {
            let data = a.data.as_ref().map(|(t, m)| (t, m.as_slice()));
            let (paths, why) = cf::analysis_paths(&a.output, data, &explained.evidence, level);
            refused.extend(why);
            for (k, id) in wanted.iter().enumerate() {
                for s in &paths {
                    let mut s = s.clone();
                    if let Some(id) = id {
                        s.id = if paths.len() == 1 { id.clone() } else { format!("{id}:{}", s.source) };
                    } else if k > 0 {
                        s.id = format!("{}_{k}", s.source);
                    }
                    scenarios.push(s);
                }
            }
            if paths.is_empty() {
                return Err(ValidationError::new(
                    "analysis",
                    format!(
                        "no result of this analysis has a counterfactual path: {}",
                        refused.iter().map(|r| format!("{}: {}", r.source, r.reason)).collect::<Vec<_>>().join("; ")
                    ),
                )
                .into());
            }
        }
        explanation = Some(explained.explanation);
        grounding = Some(explained.grounding);
    }
    if let (Some(h), Some(b)) = (history, &req.budget) {
        let spend_specs: Vec<(usize, &ScenarioSpec)> =
            specs.iter().enumerate().filter(|(_, s)| !matches!(s, ScenarioSpec::NoIntervention { .. })).collect();
        if !spend_specs.is_empty() {
            let model = budget::fit(&h.outcome, &h.channels, &b.lifts)
                .map_err(|e| ValidationError::new(format!("budget.history.{}", e.field), e.message))?;
            let plan = surfacing::plan_for(h, &b.plan);
            let ranges: Ranges = h
                .channels
                .iter()
                .map(|c| {
                    let lo = c.spend.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = c.spend.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    (c.channel.clone(), (lo, hi))
                })
                .collect();
            let current: BTreeMap<&str, f64> = plan.channels.iter().map(|c| (c.channel.as_str(), c.current)).collect();
            for (i, s) in spend_specs {
                let change = spend_change(i, s, &current, &model, &plan)?;
                let sc = cf::spend_what_if(&model, &change, &ranges, level)
                    .map_err(|m| ValidationError::new(format!("scenarios[{i}].channel"), m))?;
                scenarios.push(sc);
            }
        }
    }
    Ok(CounterfactualResponse { scenarios, refused, confidence_level: level, explanation, grounding })
}

fn spend_change(
    i: usize,
    s: &ScenarioSpec,
    current: &BTreeMap<&str, f64>,
    model: &FittedModel,
    plan: &budget::Plan,
) -> Result<SpendChange, ServiceError> {
    let cur = |field: &str, ch: &str| -> Result<f64, ValidationError> {
        current.get(ch).copied().ok_or_else(|| {
            ValidationError::new(
                format!("scenarios[{i}].{field}"),
                format!("{ch:?} is not a channel of the budget's history or plan"),
            )
        })
    };
    let periods = |p: &Option<usize>| p.unwrap_or(DEFAULT_PERIODS);
    Ok(match s {
        ScenarioSpec::Spend { id, channel, spend_per_period, periods: p } => SpendChange {
            id: id.clone().unwrap_or_else(|| format!("spend:{channel}")),
            spend: vec![(channel.clone(), cur("channel", channel)?, *spend_per_period)],
            periods: periods(p),
            plan: None,
        },
        ScenarioSpec::Scale { id, channel, factor, periods: p } => {
            let spend = match channel {
                Some(ch) => {
                    let c = cur("channel", ch)?;
                    vec![(ch.clone(), c, c * factor)]
                }
                None => current.iter().map(|(ch, c)| (ch.to_string(), *c, c * factor)).collect(),
            };
            SpendChange {
                id: id.clone().unwrap_or_else(|| format!("scale:{}:{factor}", channel.as_deref().unwrap_or("all"))),
                spend,
                periods: periods(p),
                plan: None,
            }
        }
        ScenarioSpec::ZeroSpend { id, channel, periods: p } => SpendChange {
            id: id.clone().unwrap_or_else(|| format!("zero:{channel}")),
            spend: vec![(channel.clone(), cur("channel", channel)?, 0.0)],
            periods: periods(p),
            plan: None,
        },
        ScenarioSpec::Optimized { id, periods: p } => {
            let result = budget::optimize(model, plan)
                .map_err(|e| ValidationError::new(format!("budget.plan.{}", e.field), e.message))?;
            SpendChange {
                id: id.clone().unwrap_or_else(|| "optimized".into()),
                spend: result.allocations.iter().map(|a| (a.channel.clone(), a.current, a.spend)).collect(),
                periods: periods(p),
                plan: Some(result),
            }
        }
        ScenarioSpec::NoIntervention { .. } => {
            return Err(ServiceError::Internal("no_intervention is not a spend scenario".into()));
        }
    })
}
