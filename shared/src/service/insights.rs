//! `POST /api/v1/llm/causal/insights` and `liftos explain`: an analysis (a finished job, a
//! result, or a request run now) explained at the confidence level asked for, every number
//! from its fact sheet, the narrative checked by the grounding validator.

use std::time::Duration;

use super::causal::{self, AnalysisOutput, JobKind, Kind, Mode, ProgressSender};
use super::{require, ServiceError};
pub use crate::api::llm::InsightsAnswer as Answer;
use crate::api::llm::{InsightsRequest, Narrator};
use crate::domain::{permissions, JobStatus, UserContext, ValidationError};
use crate::llm::provider::{self, Provider};
use crate::llm::{self, facts, Insights, Narrative};
use crate::storage::Stores;

/// The explanation of `req`'s analysis for `user`, with the templates only, in the call.
pub async fn insights(ctx: &causal::Ctx<'_>, user: &UserContext, body: &[u8]) -> Result<Insights, ServiceError> {
    insights_with(ctx, user, body, None).await
}

/// The same, with a configured language model for `narrator: llm | auto`; an explanation that
/// became a job is a 409 naming it.
pub async fn insights_with(
    ctx: &causal::Ctx<'_>,
    user: &UserContext,
    body: &[u8],
    model: Option<&dyn Provider>,
) -> Result<Insights, ServiceError> {
    match answer(ctx, user, body, model).await? {
        Answer::Done(x) => Ok(*x),
        Answer::Queued(job) => Err(ServiceError::Conflict(format!("the explanation runs as job {}", job.job_id))),
    }
}

/// `POST /api/v1/llm/causal/insights`: the explanation now, or (`mode`) a job that computes it.
pub async fn answer(
    ctx: &causal::Ctx<'_>,
    user: &UserContext,
    body: &[u8],
    model: Option<&dyn Provider>,
) -> Result<Answer, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let req = parse(body)?;
    if req.mode == Mode::Async {
        // What can be checked before the job runs is checked now.
        let a = &req.analysis;
        if let Some(id) = &a.job_id {
            from_job(ctx, user, id).await?;
        } else if a.request.is_some() {
            let (kind, bytes, _) = request_at_level(&req)?;
            causal::check_request(kind, &bytes).map_err(within_request)?;
        } else if a.budget.is_some() {
            budget_at_level(&req)?;
        } else if a.design.is_some() {
            design_at_level(&req)?;
        } else if a.readout.is_some() {
            readout_at_level(&req)?;
        }
        return causal::queue_job(ctx, user, JobKind::Insights, body).await.map(Answer::Queued);
    }
    match sheet_in_call(ctx, user, &req).await? {
        Ok(sheet) => Ok(Answer::Done(Box::new(narrate(ctx, user, sheet, &req, model, None).await?))),
        Err(too_large) => match req.mode {
            Mode::Auto => causal::queue_job(ctx, user, JobKind::Insights, body).await.map(Answer::Queued),
            Mode::Sync | Mode::Async => Err(ValidationError::new(
                "mode",
                format!("sync: analysis.request: {too_large}: use auto or async, which explain it in a job"),
            )
            .into()),
        },
    }
}

/// An explanation queued as a job (the batch-analysis stage): its analysis run whatever its
/// size, and a language model given the job's time (`LIFTOS_LLM_JOB_TIMEOUT_MS`).
pub async fn in_job(
    stores: &Stores,
    user: &UserContext,
    body: &[u8],
    model: Option<&dyn Provider>,
    progress: ProgressSender,
) -> Result<Insights, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let req = parse(body)?;
    let ctx = causal::Ctx { stores, jobs_queue: None, now: chrono::Utc::now() };
    let a = &req.analysis;
    let sheet = if a.request.is_some() {
        let (kind, bytes, outcome) = request_at_level(&req)?;
        let out = causal::run_unbounded(stores, user, kind, &bytes, Some(progress)).await.map_err(within_request)?;
        sheet_of(&out, &req, outcome)?
    } else {
        match sheet_in_call(&ctx, user, &req).await? {
            Ok(sheet) => sheet,
            Err(why) => return Err(ServiceError::Internal(why)),
        }
    };
    narrate(&ctx, user, sheet, &req, model, Some(provider::job_budget())).await
}

/// The request with every check that needs no data.
fn parse(body: &[u8]) -> Result<InsightsRequest, ServiceError> {
    let value = super::json_object(body)?;
    let given = value.get("confidence_level").is_some();
    let mut req: InsightsRequest = crate::domain::error::from_json_value(value)?;
    req.level_given = given;
    facts::check_level(req.confidence_level)?;
    if let Some(o) = &req.outcome {
        check_outcome_name(o)?;
    }
    let a = &req.analysis;
    let given = [
        a.job_id.is_some(),
        a.result.is_some(),
        a.request.is_some(),
        a.budget.is_some(),
        a.budget_result.is_some(),
        a.design.is_some(),
        a.design_result.is_some(),
        a.readout.is_some(),
        a.readout_result.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if given != 1 {
        return Err(ValidationError::new("analysis", ONE_OF).into());
    }
    if a.kind.is_some() && a.request.is_none() {
        return Err(
            ValidationError::new("analysis.kind", "the kind of analysis.request: give it with a request").into()
        );
    }
    Ok(req)
}

const ONE_OF: &str =
    "name exactly one of job_id, result, request, budget, budget_result, design, design_result, readout or readout_result";

/// `o[key]` set to `want`, the value the level asked for implies; one already set to another is
/// a 400 naming `confidence_level` (`at` is where the body holds it).
fn agree(
    o: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    want: f64,
    at: &str,
    req: &InsightsRequest,
) -> Result<(), ServiceError> {
    match o.get(key).and_then(|v| v.as_f64()) {
        Some(v) if (v - want).abs() > 1e-9 => Err(ValidationError::new(
            "confidence_level",
            format!(
                "{} asks for {key} = {}, but {at}.{key} is {v}: leave it out or make them agree",
                req.confidence_level,
                (want * 1e9).round() / 1e9
            ),
        )
        .into()),
        _ => {
            o.insert(key.into(), serde_json::json!(want));
            Ok(())
        }
    }
}

/// A body of `analysis` (`field`) as a JSON object, or a 400 naming it.
fn body_of(
    v: &Option<serde_json::Value>,
    field: &str,
    what: &str,
) -> Result<(serde_json::Value, String), ServiceError> {
    let body = v.clone().unwrap_or_default();
    if !body.is_object() {
        return Err(ValidationError::new(format!("analysis.{field}"), format!("must be a JSON object ({what})")).into());
    }
    Ok((body, format!("analysis.{field}")))
}

fn bytes(body: &serde_json::Value) -> Result<Vec<u8>, ServiceError> {
    serde_json::to_vec(body).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// `analysis.budget` at the level asked for: an optimize-budget body with `kpi` (the media mix
/// model), its `kpi.level` set to the level (one already set to another is a 400 naming
/// `confidence_level`).
fn budget_at_level(req: &InsightsRequest) -> Result<Vec<u8>, ServiceError> {
    let (mut body, at) = body_of(&req.analysis.budget, "budget", "an optimize-budget body")?;
    let kpi = body.get_mut("kpi").and_then(|k| k.as_object_mut()).ok_or_else(|| {
        ValidationError::new(
            "analysis.budget.kpi",
            "required: the explanation is of the media mix model on your KPI (the optimize-budget body with kpi)",
        )
    })?;
    agree(kpi, "level", req.confidence_level, &format!("{at}.kpi"), req)?;
    bytes(&body)
}

/// `analysis.design` as a body of the design endpoint: with `confidence_level` given, each
/// section's `alpha` (geo, power) set to 1 - level (one already set to another is a 400 naming
/// `confidence_level`); without, as it is (explained at its own level).
fn design_at_level(req: &InsightsRequest) -> Result<Vec<u8>, ServiceError> {
    let (mut body, at) = body_of(&req.analysis.design, "design", "a body of the design endpoint")?;
    if req.level_given {
        for section in ["geo", "power"] {
            if let Some(o) = body.get_mut(section).and_then(|x| x.as_object_mut()) {
                agree(o, "alpha", 1.0 - req.confidence_level, &format!("{at}.{section}"), req)?;
            }
        }
    }
    bytes(&body)
}

/// `analysis.readout` as a body of the readout route: with `confidence_level` given, its
/// `alpha` set to 1 - level (one already set to another is a 400 naming `confidence_level`).
fn readout_at_level(req: &InsightsRequest) -> Result<Vec<u8>, ServiceError> {
    let (mut body, at) = body_of(&req.analysis.readout, "readout", "a body of the readout route")?;
    if let (true, Some(o)) = (req.level_given, body.as_object_mut()) {
        agree(o, "alpha", 1.0 - req.confidence_level, &at, req)?;
    }
    bytes(&body)
}

/// A readout's fact sheet: at the level asked for when the request gave one, else at its own.
pub fn readout_sheet(
    r: &crate::api::surfacing::ReadoutAnswer,
    req: &InsightsRequest,
    outcome: Option<String>,
) -> Result<facts::FactSheet, ServiceError> {
    let level = match (req.level_given, llm::readout::own_level(r)) {
        (false, Some(own)) => own,
        _ => req.confidence_level,
    };
    let ctx = facts::Context { outcome: req.outcome.clone().or(outcome), ..Default::default() };
    Ok(llm::readout::sheet(r, level, &ctx)?)
}

/// A design's fact sheet: at the level asked for when the request gave one, else at its own.
pub fn design_sheet(
    d: &crate::api::surfacing::DesignResponse,
    req: &InsightsRequest,
    outcome: Option<String>,
) -> Result<facts::FactSheet, ServiceError> {
    let level = match (req.level_given, llm::design::own_level(d)) {
        (false, Some(own)) => own,
        _ => req.confidence_level,
    };
    let ctx = facts::Context { outcome: req.outcome.clone().or(outcome), ..Default::default() };
    Ok(llm::design::sheet(d, level, &ctx)?)
}

/// The fact sheet of an analysis at the request's level.
fn sheet_of(
    output: &AnalysisOutput,
    req: &InsightsRequest,
    outcome: Option<String>,
) -> Result<facts::FactSheet, ServiceError> {
    let fctx = facts::Context { outcome: req.outcome.clone().or(outcome), ..Default::default() };
    Ok(facts::sheet(output, req.confidence_level, &fctx)?)
}

/// The fact sheet of what `req` names, in the call; why not, when its analysis request is too
/// large for one.
async fn sheet_in_call(
    ctx: &causal::Ctx<'_>,
    user: &UserContext,
    req: &InsightsRequest,
) -> Result<Result<facts::FactSheet, String>, ServiceError> {
    let a = &req.analysis;
    let budget_ctx = facts::Context { outcome: req.outcome.clone(), ..Default::default() };
    if let Some(m) = &a.budget_result {
        return Ok(Ok(facts::budget_sheet(m, budget_level(m, req), &budget_ctx)?));
    }
    if let Some(r) = &a.readout_result {
        return Ok(Ok(readout_sheet(r, req, None)?));
    }
    if let Some(readout) = &a.readout {
        let body = readout_at_level(req)?;
        let answer =
            super::surfacing::readout_experiment(ctx.stores, user, &body).await.map_err(within("analysis.readout"))?;
        return Ok(Ok(readout_sheet(&answer, req, named_outcome(readout, "/outcome"))?));
    }
    if let Some(d) = &a.design_result {
        return Ok(Ok(design_sheet(d, req, None)?));
    }
    if let Some(design) = &a.design {
        let body = design_at_level(req)?;
        let answer =
            super::surfacing::design_experiment(ctx.stores, user, &body).await.map_err(within("analysis.design"))?;
        // the geo history's outcome column, when the body names one
        return Ok(Ok(design_sheet(&answer, req, named_outcome(design, "/geo/outcome"))?));
    }
    if a.budget.is_some() {
        let body = budget_at_level(req)?;
        let answer =
            super::surfacing::optimize_budget(ctx.stores, user, &body).await.map_err(within("analysis.budget"))?;
        let crate::api::surfacing::OptimizeAnswer::Mmm(m) = answer else {
            return Err(ServiceError::Internal("an optimize body with kpi answered without the model".into()));
        };
        return Ok(Ok(facts::budget_sheet(&m.model, req.confidence_level, &budget_ctx)?));
    }
    match analysis_in_call(ctx, user, req).await? {
        Ok((out, outcome)) => Ok(Ok(sheet_of(&out, req, outcome)?)),
        Err(too_large) => Ok(Err(too_large)),
    }
}

/// A field error of the analysis's request, named within it.
fn within_request(e: ServiceError) -> ServiceError {
    within("analysis.request")(e)
}

/// A field error of a body run for the explanation, named within `field` (`analysis.design`).
fn within(field: &'static str) -> impl Fn(ServiceError) -> ServiceError {
    move |e| match e {
        ServiceError::Validation(e) => ServiceError::Validation(e.within(field)),
        e => e,
    }
}

/// The outcome column a body names at `pointer`, when it is a name a narrative may use.
fn named_outcome(body: &serde_json::Value, pointer: &str) -> Option<String> {
    body.pointer(pointer).and_then(|o| o.as_str()).filter(|o| check_outcome_name(o).is_ok()).map(str::to_string)
}

/// `analysis.request` at the level asked for: its kind, body and outcome column.
fn request_at_level(req: &InsightsRequest) -> Result<(Kind, Vec<u8>, Option<String>), ServiceError> {
    let request = req.analysis.request.clone().ok_or_else(|| ValidationError::new("analysis", ONE_OF))?;
    let kind = req.analysis.kind.unwrap_or(Kind::AnalyzeAdvanced);
    let body = at_level(request, kind, req.confidence_level, false)?;
    let outcome = outcome_of(&body);
    let bytes = serde_json::to_vec(&body).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok((kind, bytes, outcome))
}

/// The analysis `req` names, in the call; why not, when its request is too large for one.
async fn analysis_in_call(
    ctx: &causal::Ctx<'_>,
    user: &UserContext,
    req: &InsightsRequest,
) -> Result<Result<(AnalysisOutput, Option<String>), String>, ServiceError> {
    let a = &req.analysis;
    if let Some(id) = &a.job_id {
        return from_job(ctx, user, id).await.map(Ok);
    }
    if let Some(r) = &a.result {
        return Ok(Ok((priced(ctx, user, (**r).clone()).await, None)));
    }
    let (kind, bytes, outcome) = request_at_level(req)?;
    Ok(causal::run_in_call(ctx, user, kind, &bytes).await.map_err(within_request)?.map(|out| (out, outcome)))
}

/// The template narrative, or with a model (`narrator: llm | auto` and one configured) its
/// rephrasing when it passes the validator: from the org's cache when the same prompt version,
/// model and facts were rephrased before; each model call audited (model, prompt hash, tokens).
/// Any failure of the model falls back to the template with the reason in `llm_error`.
pub async fn narrate(
    ctx: &causal::Ctx<'_>,
    user: &UserContext,
    sheet: facts::FactSheet,
    req: &InsightsRequest,
    model: Option<&dyn Provider>,
    budget: Option<Duration>,
) -> Result<Insights, ServiceError> {
    let template =
        llm::explain_sheet(sheet.clone(), req.audience, no_model_error(req)).map_err(ServiceError::Internal)?;
    let Some(p) = model.filter(|_| req.narrator != Narrator::Template) else {
        return Ok(template);
    };
    let budget = budget.unwrap_or_else(|| p.timeout());
    let drafts = llm::narrate::drafts(&sheet, req.audience);
    let key = format!("llm-cache/{}.json", provider::cache_key(p.model(), &sheet, req.audience));
    let llm_narrative = |cached: bool| Narrative {
        source: "llm".into(),
        model: Some(p.model().to_string()),
        prompt_version: llm::PROMPT_VERSION.into(),
        llm_error: None,
        cached: Some(cached),
    };
    // A cached rephrasing is rendered and validated again, as if new.
    if let Ok(Some(bytes)) = ctx.stores.panels.get_panel(&user.org_id, &key).await {
        if let Ok(sentences) = serde_json::from_slice::<Vec<String>>(&bytes) {
            if let Ok(explanation) = llm::narrate::from_drafts(&sentences, &sheet) {
                let g = llm::validate::grounding(&explanation.sentences, &sheet);
                if g.passed {
                    audit_call(
                        ctx,
                        user,
                        &provider::Usage {
                            model: p.model().to_string(),
                            prompt_hash: provider::prompt(&sheet, &drafts, req.audience, &[]).hash(),
                            input_tokens: 0,
                            output_tokens: 0,
                            cached: true,
                        },
                    )
                    .await;
                    return Ok(llm::insights_of(sheet, req.audience, explanation, g, llm_narrative(true)));
                }
            }
        }
    }
    let r = provider::rephrase(p, &sheet, &drafts, req.audience, budget).await;
    for u in &r.usage {
        audit_call(ctx, user, u).await;
    }
    match r.outcome {
        Ok((sentences, _)) => {
            let explanation = llm::narrate::from_drafts(&sentences, &sheet).map_err(ServiceError::Internal)?;
            let g = llm::validate::grounding(&explanation.sentences, &sheet);
            if let Ok(bytes) = serde_json::to_vec(&sentences) {
                if let Err(e) = ctx.stores.panels.put_panel(&user.org_id, &key, bytes.into()).await {
                    tracing::warn!(error = %e, "the rephrasing could not be cached");
                }
            }
            Ok(llm::insights_of(sheet, req.audience, explanation, g, llm_narrative(false)))
        }
        Err(why) => {
            let mut t = template;
            t.narrative.model = Some(p.model().to_string());
            t.narrative.llm_error = Some(why);
            Ok(t)
        }
    }
}

/// One model call in the org's audit log: model, prompt hash and tokens, never the text. A
/// failure to write it is logged; the answer (already computed) stands.
async fn audit_call(ctx: &causal::Ctx<'_>, user: &UserContext, u: &provider::Usage) {
    let entry = crate::domain::AuditEntry {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: user.org_id.clone(),
        user_id: user.user_id.clone(),
        action: "llm.model_call".into(),
        method: "POST".into(),
        resource: format!("model/{}", u.model),
        status: 200,
        outcome: crate::domain::AuditOutcome::Allowed,
        query: None,
        at: chrono::Utc::now(),
        request_id: None,
        detail: serde_json::to_value(u).ok(),
    };
    if let Err(e) = ctx.stores.audit.append_audit(&entry).await {
        tracing::error!(error = %e, "the model call could not be audited");
    }
}

/// What the narrative calls the outcome is written into its sentences: a short name of
/// letters, spaces, `-` and `_` (no digits, which the validator would read as numbers).
pub const MAX_OUTCOME_NAME: usize = 64;

pub fn check_outcome_name(name: &str) -> Result<(), ValidationError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= MAX_OUTCOME_NAME
        && name.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "outcome",
            format!("must be 1 to {MAX_OUTCOME_NAME} letters, spaces, '-' or '_' (it is written into the narrative)"),
        ))
    }
}

/// The explanation of a computed analysis (the service and `liftos explain`).
pub fn explain(
    output: &AnalysisOutput,
    req: &InsightsRequest,
    outcome: Option<String>,
) -> Result<Insights, ServiceError> {
    let sheet = sheet_of(output, req, outcome)?;
    llm::explain_sheet(sheet, req.audience, no_model_error(req)).map_err(ServiceError::Internal)
}

/// The explanation of a media mix model's answer (`liftos explain --budget`).
pub fn explain_budget(m: &liftos_estimators::mmm::MmmResult, req: &InsightsRequest) -> Result<Insights, ServiceError> {
    let sheet = facts::budget_sheet(
        m,
        budget_level(m, req),
        &facts::Context { outcome: req.outcome.clone(), ..Default::default() },
    )?;
    llm::explain_sheet(sheet, req.audience, no_model_error(req)).map_err(ServiceError::Internal)
}

/// The explanation of a design's answer (`liftos explain --kind design`).
pub fn explain_design(
    d: &crate::api::surfacing::DesignResponse,
    req: &InsightsRequest,
) -> Result<Insights, ServiceError> {
    let sheet = design_sheet(d, req, None)?;
    llm::explain_sheet(sheet, req.audience, no_model_error(req)).map_err(ServiceError::Internal)
}

/// The explanation of a geo readout's answer (`liftos explain --kind readout`).
pub fn explain_readout(
    r: &crate::api::surfacing::ReadoutAnswer,
    req: &InsightsRequest,
) -> Result<Insights, ServiceError> {
    let sheet = readout_sheet(r, req, None)?;
    llm::explain_sheet(sheet, req.audience, no_model_error(req)).map_err(ServiceError::Internal)
}

/// The level a model's answer is explained at: the one asked for, or without one the model's.
fn budget_level(m: &liftos_estimators::mmm::MmmResult, req: &InsightsRequest) -> f64 {
    if req.level_given {
        req.confidence_level
    } else {
        m.level
    }
}

/// Why the template answers `narrator: llm` when no model is configured.
fn no_model_error(req: &InsightsRequest) -> Option<String> {
    match req.narrator {
        Narrator::Template | Narrator::Auto => None,
        Narrator::Llm => Some("no language model is configured (LIFTOS_LLM); the template narrative is shown".into()),
    }
}

/// An analysis request at `level`: each method's (or the request's) `alpha` set to 1 - level;
/// one already set to another value is a 400 naming `confidence_level`. `sync` also asks for an
/// answer in the call.
pub fn at_level(
    mut request: serde_json::Value,
    kind: Kind,
    level: f64,
    sync: bool,
) -> Result<serde_json::Value, ValidationError> {
    let alpha = 1.0 - level;
    let set = |o: &mut serde_json::Map<String, serde_json::Value>, at: &str| -> Result<(), ValidationError> {
        match o.get("alpha").and_then(|a| a.as_f64()) {
            Some(a) if (a - alpha).abs() > 1e-9 => Err(ValidationError::new(
                "confidence_level",
                format!("{level} asks for alpha = {alpha}, but {at}alpha is {a}: leave alpha out or make them agree"),
            )),
            _ => {
                o.insert("alpha".into(), serde_json::json!(alpha));
                Ok(())
            }
        }
    };
    let obj =
        request.as_object_mut().ok_or_else(|| ValidationError::new("analysis.request", "must be a JSON object"))?;
    if sync {
        obj.insert("mode".into(), "sync".into());
    }
    match kind {
        Kind::AnalyzeAdvanced => {
            if let Some(ms) = obj.get_mut("methods").and_then(|m| m.as_array_mut()) {
                for (i, m) in ms.iter_mut().enumerate() {
                    // Synthetic control has no alpha: its placebo p-value is compared with 1 - level.
                    let synth = m.get("method").and_then(|x| x.as_str()) == Some("synth");
                    if let (Some(o), false) = (m.as_object_mut(), synth) {
                        set(o, &format!("methods[{i}]."))?;
                    }
                }
            }
        }
        Kind::Discover => {
            // LiNGAM has no tests to set a level for.
            if obj.get("method").and_then(|x| x.as_str()) != Some("lingam") {
                set(obj, "")?;
            }
        }
        Kind::TreatmentEffect => set(obj, "")?,
    }
    Ok(request)
}

/// The outcome column a request names (the first method's).
pub fn outcome_of(request: &serde_json::Value) -> Option<String> {
    request
        .get("methods")
        .and_then(|m| m.get(0))
        .and_then(|m| m.get("outcome"))
        .or_else(|| request.get("outcome"))
        .and_then(|o| o.as_str())
        .map(String::from)
}

/// A stored or returned answer with its records' currency: the records are the org's, their
/// money in its reporting currency, which the answer's JSON does not carry (an analysis run in
/// the call knows it from the load).
pub async fn priced(ctx: &causal::Ctx<'_>, user: &UserContext, mut out: AnalysisOutput) -> AnalysisOutput {
    if out.data().source == "records" {
        out.data_mut().currency = super::source::records_currency(ctx.stores.panels.as_ref(), &user.org_id).await;
    }
    out
}

pub async fn from_job(
    ctx: &causal::Ctx<'_>,
    user: &UserContext,
    id: &str,
) -> Result<(AnalysisOutput, Option<String>), ServiceError> {
    crate::domain::check_id("analysis.job_id", id)?;
    let job = ctx
        .stores
        .jobs
        .get_job(&user.org_id, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: format!("job {id}") })?;
    let kind = job.kind.parse::<JobKind>().map_err(ServiceError::Internal)?.analysis().ok_or_else(|| {
        ValidationError::new(
            "analysis.job_id",
            format!("job {id} is an explanation, not an analysis: name the analysis's job"),
        )
    })?;
    if job.status != JobStatus::Succeeded {
        return Err(ServiceError::Conflict(format!(
            "job {id} is {}: explain it once it has succeeded",
            job.status.as_str()
        )));
    }
    let value = match (&job.result, &job.result_key) {
        (Some(v), _) => v.clone(),
        (None, Some(key)) => {
            let bytes = ctx
                .stores
                .panels
                .get_panel(&user.org_id, key)
                .await?
                .ok_or_else(|| ServiceError::Internal(format!("job {id}: its stored result is missing")))?;
            serde_json::from_slice(&bytes).map_err(|e| ServiceError::Internal(format!("job {id}: {e}")))?
        }
        (None, None) => return Err(ServiceError::Internal(format!("job {id} succeeded without a result"))),
    };
    let output =
        AnalysisOutput::from_json(kind, value).map_err(|e| ServiceError::Internal(format!("job {id}: {e}")))?;
    let output = priced(ctx, user, output).await;
    let request = ctx.stores.panels.get_panel(&user.org_id, &job.request_key).await?;
    let outcome =
        request.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).and_then(|v| outcome_of(&v));
    Ok((output, outcome))
}
