//! The functions' handlers, here so tests can call them with the sample events in `events/`.
//! Each only parses, calls a use case in [`crate::service`], and maps the outcome; [`serve`]
//! authenticates, checks the endpoint's permission and writes the audit entry.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use std::future::Future;

use super::http::{self, ApiError};
use super::{auth, sqs::process_batch, Deps};
use crate::domain::{permissions, AuditEntry, AuditOutcome, DateRange, ExperimentStatus, UserContext};
use crate::service::stage::{store_records_message, StageError};
use crate::service::{causal, experiments, ingest::ingest_causal, ingestion, memory};

/// An HTTP endpoint: the action recorded in the audit log and the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub function: &'static str,
    /// The HTTP method of its route.
    pub method: &'static str,
    pub action: &'static str,
    pub permission: &'static str,
}

pub const INGEST_CAUSAL: Endpoint = Endpoint {
    function: "ingest-causal",
    method: "POST",
    action: "records.ingest",
    permission: permissions::DATA_WRITE,
};
pub const GET_EXPERIMENT_CAUSAL: Endpoint = Endpoint {
    function: "get-experiment-causal",
    method: "GET",
    action: "experiments.causal_data",
    permission: permissions::DATA_READ,
};
pub const CREATE_EXPERIMENT: Endpoint = Endpoint {
    function: "create-experiment",
    method: "POST",
    action: "experiments.create",
    permission: permissions::EXPERIMENTS_MANAGE,
};
pub const GET_EXPERIMENT: Endpoint = Endpoint {
    function: "get-experiment",
    method: "GET",
    action: "experiments.get",
    permission: permissions::DATA_READ,
};
pub const LIST_EXPERIMENTS: Endpoint = Endpoint {
    function: "list-experiments",
    method: "GET",
    action: "experiments.list",
    permission: permissions::DATA_READ,
};
pub const UPDATE_EXPERIMENT_STATUS: Endpoint = Endpoint {
    function: "update-experiment-status",
    method: "PATCH",
    action: "experiments.update_status",
    permission: permissions::EXPERIMENTS_MANAGE,
};
pub const QUERY_RECORDS: Endpoint =
    Endpoint { function: "query-records", method: "GET", action: "records.query", permission: permissions::DATA_READ };
pub const LIST_CONFOUNDERS: Endpoint = Endpoint {
    function: "list-confounders",
    method: "GET",
    action: "confounders.analysis",
    permission: permissions::DATA_READ,
};
pub const QUERY_AUDIT_LOG: Endpoint =
    Endpoint { function: "query-audit-log", method: "GET", action: "audit.query", permission: permissions::AUDIT_READ };

pub const DESIGN_EXPERIMENT: Endpoint = Endpoint {
    function: "design-experiment",
    method: "POST",
    action: "surfacing.design_experiment",
    permission: permissions::ANALYSIS_RUN,
};

pub const OPTIMIZE_BUDGET: Endpoint = Endpoint {
    function: "optimize-budget",
    method: "POST",
    action: "surfacing.optimize_budget",
    permission: permissions::ANALYSIS_RUN,
};
pub const RECOMMEND_TREATMENTS: Endpoint = Endpoint {
    function: "recommend-treatments",
    method: "GET",
    action: "surfacing.recommend_treatments",
    permission: permissions::ANALYSIS_RUN,
};

pub const CAUSAL_DISCOVER: Endpoint = Endpoint {
    function: "causal-discover",
    method: "POST",
    action: "causal.discover",
    permission: permissions::ANALYSIS_RUN,
};
pub const TREATMENT_EFFECT: Endpoint = Endpoint {
    function: "treatment-effect",
    method: "POST",
    action: "causal.treatment_effect",
    permission: permissions::ANALYSIS_RUN,
};

pub const ANALYZE_ADVANCED: Endpoint = Endpoint {
    function: "analyze-advanced",
    method: "POST",
    action: "causal.analyze_advanced",
    permission: permissions::ANALYSIS_RUN,
};

pub const GET_CAUSAL_JOB: Endpoint =
    Endpoint { function: "get-causal-job", method: "GET", action: "causal.job", permission: permissions::ANALYSIS_RUN };

pub const SYNC_NOW: Endpoint =
    Endpoint { function: "sync-now", method: "POST", action: "ingestion.sync", permission: permissions::DATA_WRITE };

/// Every HTTP endpoint, for the contract tests (OpenAPI, template, functions/).
pub const ENDPOINTS: [Endpoint; 17] = [
    INGEST_CAUSAL,
    GET_EXPERIMENT_CAUSAL,
    CREATE_EXPERIMENT,
    GET_EXPERIMENT,
    LIST_EXPERIMENTS,
    UPDATE_EXPERIMENT_STATUS,
    QUERY_RECORDS,
    LIST_CONFOUNDERS,
    QUERY_AUDIT_LOG,
    DESIGN_EXPERIMENT,
    OPTIMIZE_BUDGET,
    RECOMMEND_TREATMENTS,
    CAUSAL_DISCOVER,
    TREATMENT_EFFECT,
    ANALYZE_ADVANCED,
    GET_CAUSAL_JOB,
    SYNC_NOW,
];

/// The API path of a request (function URLs and `cargo lambda watch` put a prefix before it).
fn api_path(req: &Request) -> String {
    let path = req.uri().path();
    match path.find("/api/") {
        Some(i) => path[i..].to_string(),
        None => path.to_string(),
    }
}

/// Authenticate (401 without an audit entry: there is no verified org to file it under), check
/// the endpoint's permission (403), run the use case, and record the access in the org's audit
/// log whatever the outcome. An access that cannot be recorded is not served (503).
pub async fn serve<T, F, Fut>(deps: &Deps, req: &Request, ep: Endpoint, f: F) -> Response<Body>
where
    T: Serialize,
    F: FnOnce(UserContext) -> Fut,
    Fut: Future<Output = Result<(u16, T), ApiError>>,
{
    // API Gateway routes by method; a function URL or `cargo lambda watch` does not.
    if req.method().as_str() != ep.method {
        let mut resp = http::error_response(
            req,
            ApiError::new(
                405,
                "method_not_allowed",
                format!("{} is not allowed here; use {}", req.method(), ep.method),
            ),
        );
        if let Ok(v) = lambda_http::http::HeaderValue::from_str(ep.method) {
            resp.headers_mut().insert("allow", v);
        }
        return resp;
    }
    let user = match auth::authenticate(req, &deps.config.auth) {
        Ok(u) => u,
        Err(e) => return http::error_response(req, e),
    };
    let (org, user_id) = (user.org_id.clone(), user.user_id.clone());
    let result = if user.has(ep.permission) { f(user).await } else { Err(ApiError::forbidden(ep.permission)) };
    let resp = match result {
        Ok((status, value)) => http::json_response(status, &value),
        Err(e) => http::error_response(req, e),
    };
    let status = resp.status().as_u16();
    let entry = AuditEntry {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org,
        user_id,
        action: ep.action.to_string(),
        method: req.method().to_string(),
        resource: api_path(req),
        status,
        outcome: AuditOutcome::from_status(status),
        at: chrono::Utc::now(),
        request_id: http::request_id(req),
    };
    if let Err(e) = deps.stores.audit.append_audit(&entry).await {
        tracing::error!(error = %e, action = ep.action, "the audit entry could not be written");
        return http::error_response(
            req,
            ApiError::new(503, "unavailable", "the access could not be recorded in the audit log; retry"),
        );
    }
    resp
}

/// A POST endpoint that computes an answer from its JSON body alone (no store).
async fn compute<T: Serialize>(
    deps: &Deps,
    req: Request,
    ep: Endpoint,
    f: impl FnOnce(&UserContext, &[u8]) -> Result<T, crate::service::ServiceError>,
) -> Response<Body> {
    let req = &req;
    serve(deps, req, ep, |user| async move {
        http::query_params(req, &[])?;
        let body = http::body_bytes(req)?;
        Ok((200, f(&user, body)?))
    })
    .await
}

fn range_param(q: &std::collections::HashMap<String, String>) -> Result<DateRange, ApiError> {
    Ok(DateRange::from_optional(q.get("start").map(String::as_str), q.get("end").map(String::as_str))?)
}

fn experiment_id(req: &Request, after: &str) -> Result<String, ApiError> {
    http::path_param(req, "experiment_id", after)
        .ok_or_else(|| ApiError::invalid("experiment_id", "is required in the path"))
}

/// `POST /api/v1/marketing/ingest/causal`. 200 with the per-record outcome; 409 (same body) when
/// any record conflicted with newer stored data.
pub async fn ingest_causal_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, INGEST_CAUSAL, |user| async move {
        http::query_params(req, &[])?;
        let body = http::body_bytes(req)?;
        let out = ingest_causal(deps.stores.records.as_ref(), &user, body, chrono::Utc::now()).await?;
        Ok((if out.conflicts.is_empty() { 200 } else { 409 }, out))
    })
    .await
}

/// `GET /api/v1/marketing/causal/{experiment_id}?limit=&cursor=`.
pub async fn get_experiment_causal_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, GET_EXPERIMENT_CAUSAL, |user| async move {
        http::query_params(req, &["limit", "cursor"])?;
        let id = experiment_id(req, "/marketing/causal/")?;
        let page = http::page_request(req)?;
        let out = experiments::experiment_causal_data(
            deps.stores.experiments.as_ref(),
            deps.stores.records.as_ref(),
            &user,
            &id,
            &page,
        )
        .await?;
        Ok((200, out))
    })
    .await
}

/// `POST /api/v1/marketing/experiments`: 201 when created, 200 when the identical experiment
/// already existed (a retry), 409 when a different one has the id.
pub async fn create_experiment_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, CREATE_EXPERIMENT, |user| async move {
        http::query_params(req, &[])?;
        let body = http::body_bytes(req)?;
        let out =
            experiments::create_experiment(deps.stores.experiments.as_ref(), &user, body, chrono::Utc::now()).await?;
        Ok((if out.created { 201 } else { 200 }, out))
    })
    .await
}

/// `GET /api/v1/marketing/experiments/{experiment_id}`.
pub async fn get_experiment_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, GET_EXPERIMENT, |user| async move {
        http::query_params(req, &[])?;
        let id = experiment_id(req, "/marketing/experiments/")?;
        Ok((200, experiments::get_experiment(deps.stores.experiments.as_ref(), &user, &id).await?))
    })
    .await
}

/// `GET /api/v1/marketing/experiments?status=&limit=&cursor=`.
pub async fn list_experiments_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, LIST_EXPERIMENTS, |user| async move {
        let q = http::query_params(req, &["status", "limit", "cursor"])?;
        let status: Option<ExperimentStatus> = q
            .get("status")
            .map(|s| {
                serde_json::from_value(serde_json::Value::String(s.clone())).map_err(|_| {
                    ApiError::invalid("status", format!("{s:?} is not one of draft, running, completed, cancelled"))
                })
            })
            .transpose()?;
        let page = http::page_request(req)?;
        Ok((200, experiments::list_experiments(deps.stores.experiments.as_ref(), &user, status, &page).await?))
    })
    .await
}

/// `PATCH /api/v1/marketing/experiments/{experiment_id}/status` with `{"status": ...}`.
pub async fn update_experiment_status_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, UPDATE_EXPERIMENT_STATUS, |user| async move {
        http::query_params(req, &[])?;
        let id = experiment_id(req, "/marketing/experiments/")?;
        let body = http::body_bytes(req)?;
        let out =
            experiments::update_status(deps.stores.experiments.as_ref(), &user, &id, body, chrono::Utc::now()).await?;
        Ok((200, out))
    })
    .await
}

/// `GET /api/v1/marketing/records?platform=&campaign_id=&start=&end=&limit=&cursor=`.
pub async fn query_records_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, QUERY_RECORDS, |user| async move {
        let q = http::query_params(req, &["platform", "campaign_id", "start", "end", "limit", "cursor"])?;
        let range = range_param(&q)?;
        let page = http::page_request(req)?;
        let out = memory::query_records(
            deps.stores.records.as_ref(),
            &user,
            q.get("platform").map(String::as_str),
            q.get("campaign_id").map(String::as_str),
            &range,
            &page,
        )
        .await?;
        Ok((200, out))
    })
    .await
}

/// `GET /api/v1/marketing/confounders?platform=&start=&end=`.
pub async fn list_confounders_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, LIST_CONFOUNDERS, |user| async move {
        let q = http::query_params(req, &["platform", "start", "end"])?;
        let range = range_param(&q)?;
        let out = memory::confounder_analysis(
            deps.stores.confounders.as_ref(),
            &user,
            q.get("platform").map(String::as_str),
            &range,
        )
        .await?;
        Ok((200, out))
    })
    .await
}

/// `GET /api/v1/marketing/audit?start=&end=&limit=&cursor=`: administrators only.
pub async fn query_audit_log_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, QUERY_AUDIT_LOG, |user| async move {
        let q = http::query_params(req, &["start", "end", "limit", "cursor"])?;
        let range = range_param(&q)?;
        let page = http::page_request(req)?;
        Ok((200, memory::audit_log(deps.stores.audit.as_ref(), &user, &range, &page).await?))
    })
    .await
}

/// `POST /api/v1/surfacing/experiments/design`: power analysis, randomisation, geo market
/// selection.
pub async fn design_experiment_http(deps: &Deps, req: Request) -> Response<Body> {
    compute(deps, req, DESIGN_EXPERIMENT, crate::service::surfacing::design_experiment).await
}

/// `POST /api/v1/surfacing/optimize/causal`: response curves (calibrated by lifts), the optimal
/// allocation and recommendations.
pub async fn optimize_budget_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, OPTIMIZE_BUDGET, |user| async move {
        http::query_params(req, &[])?;
        let body = http::body_bytes(req)?;
        Ok((200, crate::service::surfacing::optimize_budget(deps.stores.records.as_ref(), &user, body).await?))
    })
    .await
}

/// `GET /api/v1/surfacing/recommendations/treatments?platform=&objective=`.
pub async fn recommend_treatments_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, RECOMMEND_TREATMENTS, |user| async move {
        let q = http::query_params(req, &["platform", "objective"])?;
        let out = crate::service::surfacing::treatment_recommendations(
            deps.stores.records.as_ref(),
            &user,
            q.get("platform").map(String::as_str),
            q.get("objective").map(String::as_str),
        )
        .await?;
        Ok((200, out))
    })
    .await
}

/// An analysis endpoint: 200 with the answer, or 202 with the job that will compute it.
async fn analysis(deps: &Deps, req: Request, ep: Endpoint, kind: causal::Kind) -> Response<Body> {
    let req = &req;
    serve(deps, req, ep, |user| async move {
        http::query_params(req, &[])?;
        let body = http::body_bytes(req)?;
        let ctx = causal::Ctx { stores: &deps.stores, jobs_queue: deps.next_queue.as_deref(), now: chrono::Utc::now() };
        Ok(match causal::run(&ctx, &user, kind, body).await? {
            causal::Answer::Done(v) => (200, causal::Answer::Done(v)),
            queued => (202, queued),
        })
    })
    .await
}

/// `POST /api/v1/causal/discover`.
pub async fn causal_discover_http(deps: &Deps, req: Request) -> Response<Body> {
    analysis(deps, req, CAUSAL_DISCOVER, causal::Kind::Discover).await
}

/// `POST /api/v1/causal/treatment-effect`.
pub async fn treatment_effect_http(deps: &Deps, req: Request) -> Response<Body> {
    analysis(deps, req, TREATMENT_EFFECT, causal::Kind::TreatmentEffect).await
}

/// `POST /api/v1/causal/analyze/advanced`.
pub async fn analyze_advanced_http(deps: &Deps, req: Request) -> Response<Body> {
    analysis(deps, req, ANALYZE_ADVANCED, causal::Kind::AnalyzeAdvanced).await
}

/// `GET /api/v1/causal/jobs/{job_id}`: status, and the result once there is one.
pub async fn get_causal_job_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, GET_CAUSAL_JOB, |user| async move {
        http::query_params(req, &[])?;
        let id = http::path_param(req, "job_id", "/causal/jobs/")
            .ok_or_else(|| ApiError::invalid("job_id", "is required in the path"))?;
        Ok((200, causal::get_job(&deps.stores, &user, &id).await?))
    })
    .await
}

/// The batch-analysis stage (SQS): runs queued analysis jobs.
pub async fn batch_analysis_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        causal::job_message(&deps.stores, body).await
    })
    .await
}

/// The store stage (SQS): store, then announce the new data on the next queue (when one is
/// configured: the analysis stage consumes it).
pub async fn store_records_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        let out = store_records_message(deps.stores.records.as_ref(), body).await?;
        if let Some(q) = deps.next_queue.as_deref() {
            let m: crate::service::stage::StoreRecordsMessage =
                serde_json::from_str(body).map_err(|e| StageError::Poison(e.to_string()))?;
            let ready = ingestion::DataReady {
                org_id: m.org_id.clone(),
                batch_id: m.batch_id.clone(),
                stored: out.stored,
                unchanged: out.unchanged,
                campaigns: m
                    .records
                    .iter()
                    .map(|r| r.campaign_id.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                first: m.records.iter().map(|r| r.timestamp).min(),
                last: m.records.iter().map(|r| r.timestamp).max(),
            };
            let text = serde_json::to_string(&ready).map_err(|e| StageError::Poison(e.to_string()))?;
            q.send(&crate::storage::Message::new(text).with_attribute("liftos_kind", "data_ready"))
                .await
                .map_err(|e| StageError::Transient(e.to_string()))?;
        }
        Ok(())
    })
    .await
}

/// Credentials for the connectors: Secrets Manager with the AWS backend, the local file or
/// environment otherwise. The Secrets Manager client is built once per container.
pub async fn credentials(deps: &Deps) -> &'static dyn crate::ingestion::connectors::Credentials {
    use crate::ingestion::connectors::{LocalCredentials, SecretsManagerCredentials};
    static SECRETS: tokio::sync::OnceCell<SecretsManagerCredentials> = tokio::sync::OnceCell::const_new();
    match deps.config.backend {
        crate::config::Backend::Aws { .. } => {
            SECRETS
                .get_or_init(|| async { SecretsManagerCredentials::new(&crate::storage::aws::sdk_config().await) })
                .await
        }
        crate::config::Backend::Embedded { .. } => &LocalCredentials,
    }
}

/// The connectors' HTTP client, built once per container (it loads the system's TLS roots).
fn http_client() -> Result<&'static crate::ingestion::connectors::http::Http, String> {
    static HTTP: std::sync::OnceLock<Result<crate::ingestion::connectors::http::Http, String>> =
        std::sync::OnceLock::new();
    HTTP.get_or_init(|| crate::ingestion::connectors::http::Http::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    start: Option<chrono::NaiveDate>,
    #[serde(default)]
    end: Option<chrono::NaiveDate>,
}

fn period_of(
    start: Option<chrono::NaiveDate>,
    end: Option<chrono::NaiveDate>,
) -> Result<crate::ingestion::connectors::Period, ApiError> {
    let d = ingestion::default_period(chrono::Utc::now());
    let p = crate::ingestion::connectors::Period { start: start.unwrap_or(d.start), end: end.unwrap_or(d.end) };
    if p.start > p.end {
        return Err(ApiError::invalid("end", "must not be before start"));
    }
    if (p.end - p.start).num_days() > 92 {
        return Err(ApiError::invalid("end", "a sync covers at most 93 days; split longer backfills"));
    }
    Ok(p)
}

/// `POST /api/v1/ingestion/sync`: sync the caller's org now (one connection or all), for a
/// period (default: the last two full days). 200 with what each connection landed.
pub async fn sync_now_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, SYNC_NOW, |user| async move {
        http::query_params(req, &[])?;
        let body = http::body_bytes(req)?;
        let b: SyncBody = if body.is_empty() {
            SyncBody { connection_id: None, start: None, end: None }
        } else {
            crate::domain::error::from_json_value(crate::service::json_object(body)?)?
        };
        let period = period_of(b.start, b.end)?;
        let creds = credentials(deps).await;
        let client = http_client().map_err(|e| {
            tracing::error!(error = %e, "HTTP client");
            ApiError::internal()
        })?;
        // Without a queue (the embedded default) the rest of the pipeline runs in this call.
        let local = crate::storage::embedded::InProcessQueue::new();
        let next: &dyn crate::storage::Queue = match deps.next_queue.as_deref() {
            Some(q) => q,
            None => &local,
        };
        let stage_error = |e: StageError| match e {
            StageError::Poison(m) if m.starts_with("connection_id") => ApiError::invalid("connection_id", m),
            StageError::Poison(m) => ApiError::new(409, "conflict", m),
            StageError::Transient(m) => {
                tracing::error!(error = %m, "sync");
                ApiError::new(503, "unavailable", "the sync could not be completed; retry")
            }
        };
        let out = ingestion::sync_org(
            &deps.stores,
            Some(next),
            creds,
            client,
            &user.org_id,
            b.connection_id.as_deref(),
            period,
        )
        .await
        .map_err(stage_error)?;
        let mut resp = serde_json::json!({ "period": period, "connections": out });
        if deps.next_queue.is_none() {
            let bodies = local.receive(usize::MAX).into_iter().map(|m| m.body).collect();
            let chain =
                ingestion::run_downstream(&deps.stores, ingestion::Entry::Transform, bodies, chrono::Utc::now())
                    .await
                    .map_err(stage_error)?;
            resp["pipeline"] = serde_json::to_value(chain).unwrap_or_default();
        }
        Ok((200, resp))
    })
    .await
}

/// The scheduled sync (EventBridge: `{"orgs": ["acme"]}`, optionally `start`/`end`) and
/// exports dropped in the bucket (S3 `ObjectCreated` under `orgs/{org}/drop/{connection}/`).
pub async fn sync_event(deps: &Deps, event: serde_json::Value) -> Result<serde_json::Value, lambda_runtime::Error> {
    // An S3 notification (records with URL-encoded keys) or EventBridge's "Object Created".
    let keys: Option<Vec<String>> = if event["source"] == "aws.s3" {
        Some(vec![event["detail"]["object"]["key"].as_str().unwrap_or_default().to_string()])
    } else {
        event.get("Records").and_then(|r| r.as_array()).map(|records| {
            records
                .iter()
                .map(|r| {
                    crate::ingestion::connectors::url_decode(r["s3"]["object"]["key"].as_str().unwrap_or_default())
                })
                .collect()
        })
    };
    if let Some(keys) = keys {
        let mut queued = Vec::new();
        for key in keys {
            let Some(msg) = ingestion::dropped_file(&key) else {
                tracing::info!(%key, "not an export drop; ignored");
                continue;
            };
            let body = serde_json::to_string(&msg)?;
            match deps.next_queue.as_deref() {
                Some(q) => {
                    q.send(&crate::storage::Message::new(body).with_attribute("liftos_kind", "raw_ready")).await?
                }
                // The embedded default: the rest of the pipeline runs here.
                None => {
                    let chain = ingestion::run_downstream(
                        &deps.stores,
                        ingestion::Entry::Transform,
                        vec![body],
                        chrono::Utc::now(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    tracing::info!(?chain, "export ingested");
                }
            }
            queued.push(key);
        }
        return Ok(serde_json::json!({ "queued": queued }));
    }
    let orgs: Vec<String> = serde_json::from_value(event.get("orgs").cloned().unwrap_or_default())
        .map_err(|e| format!("orgs: expected a list of org ids: {e}"))?;
    let start = event.get("start").and_then(|v| v.as_str()).map(|s| s.parse()).transpose()?;
    let end = event.get("end").and_then(|v| v.as_str()).map(|s| s.parse()).transpose()?;
    let period = period_of(start, end).map_err(|e| e.message)?;
    let creds = credentials(deps).await;
    let client = http_client()?;
    let mut out = serde_json::Map::new();
    for o in orgs {
        let org = crate::domain::OrgId::new(&o)?;
        let synced = ingestion::sync_org(&deps.stores, deps.next_queue.as_deref(), creds, client, &org, None, period)
            .await
            .map_err(|e| e.to_string())?;
        out.insert(o, serde_json::to_value(synced)?);
    }
    Ok(serde_json::Value::Object(out))
}

/// The transform stage (SQS). Without a next queue (the embedded default under `cargo lambda
/// watch`) the quality and store stages run in the same call.
pub async fn transform_records_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        let now = chrono::Utc::now();
        match deps.next_queue.as_deref() {
            Some(q) => ingestion::transform_message(&deps.stores, Some(q), body, now).await.map(|_| ()),
            None => ingestion::run_downstream(&deps.stores, ingestion::Entry::Transform, vec![body.to_string()], now)
                .await
                .map(|_| ()),
        }
    })
    .await
}

/// The quality stage (SQS); without a next queue the store stage runs in the same call.
pub async fn score_quality_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        let now = chrono::Utc::now();
        match deps.next_queue.as_deref() {
            Some(q) => ingestion::quality_message(&deps.stores, Some(q), body, now).await.map(|_| ()),
            None => ingestion::run_downstream(&deps.stores, ingestion::Entry::Quality, vec![body.to_string()], now)
                .await
                .map(|_| ()),
        }
    })
    .await
}
