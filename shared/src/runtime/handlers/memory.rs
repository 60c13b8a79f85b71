//! The memory service's endpoints: causal records, experiments, confounders, the audit log.

use lambda_http::{Body, Request, Response};

use super::super::http::{self, serve, serve_body};
use super::super::Deps;
use crate::api::memory::{AuditFilter, ConfoundersFilter, ExperimentsFilter, PageFilter, RecordsFilter};
use crate::api::memory::{
    CREATE_EXPERIMENT, GET_EXPERIMENT, GET_EXPERIMENT_CAUSAL, INGEST_CAUSAL, LIST_CONFOUNDERS, LIST_EXPERIMENTS,
    QUERY_AUDIT_LOG, QUERY_RECORDS, UPDATE_EXPERIMENT_STATUS,
};
use crate::service::{experiments, ingest::ingest_causal, memory};

/// `POST /api/v1/marketing/ingest/causal`. 200 with the per-record outcome; 409 (same body) when
/// any record conflicted with newer stored data.
pub async fn ingest_causal_http(deps: &Deps, req: Request) -> Response<Body> {
    serve_body(deps, &req, &INGEST_CAUSAL, |user, body| async move {
        let out = ingest_causal(deps.stores.records.as_ref(), &user, body, chrono::Utc::now()).await?;
        Ok((if out.conflicts.is_empty() { 200 } else { 409 }, out))
    })
    .await
}

/// `GET /api/v1/marketing/causal/{experiment_id}?limit=&cursor=`.
pub async fn get_experiment_causal_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &GET_EXPERIMENT_CAUSAL, |user| async move {
        let q = PageFilter::parse(&http::query_params(req, PageFilter::PARAMS)?)?;
        let id = http::path_param(req, &GET_EXPERIMENT_CAUSAL, "experiment_id")?;
        let out = experiments::experiment_causal_data(
            deps.stores.experiments.as_ref(),
            deps.stores.records.as_ref(),
            &user,
            &id,
            &q.page,
        )
        .await?;
        Ok((200, out))
    })
    .await
}

/// `POST /api/v1/marketing/experiments`: 201 when created, 200 when the identical experiment
/// already existed (a retry), 409 when a different one has the id.
pub async fn create_experiment_http(deps: &Deps, req: Request) -> Response<Body> {
    serve_body(deps, &req, &CREATE_EXPERIMENT, |user, body| async move {
        let out =
            experiments::create_experiment(deps.stores.experiments.as_ref(), &user, body, chrono::Utc::now()).await?;
        Ok((if out.created { 201 } else { 200 }, out))
    })
    .await
}

/// `GET /api/v1/marketing/experiments/{experiment_id}`.
pub async fn get_experiment_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &GET_EXPERIMENT, |user| async move {
        http::query_params(req, &[])?;
        let id = http::path_param(req, &GET_EXPERIMENT, "experiment_id")?;
        Ok((200, experiments::get_experiment(deps.stores.experiments.as_ref(), &user, &id).await?))
    })
    .await
}

/// `GET /api/v1/marketing/experiments?status=&limit=&cursor=`.
pub async fn list_experiments_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &LIST_EXPERIMENTS, |user| async move {
        let q = ExperimentsFilter::parse(&http::query_params(req, ExperimentsFilter::PARAMS)?)?;
        Ok((200, experiments::list_experiments(deps.stores.experiments.as_ref(), &user, q.status, &q.page).await?))
    })
    .await
}

/// `PATCH /api/v1/marketing/experiments/{experiment_id}/status` with `{"status": ...}`.
pub async fn update_experiment_status_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &UPDATE_EXPERIMENT_STATUS, |user| async move {
        http::query_params(req, &[])?;
        let id = http::path_param(req, &UPDATE_EXPERIMENT_STATUS, "experiment_id")?;
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
    serve(deps, req, &QUERY_RECORDS, |user| async move {
        let q = RecordsFilter::parse(&http::query_params(req, RecordsFilter::PARAMS)?)?;
        let out = memory::query_records(deps.stores.records.as_ref(), &user, &q.query, &q.page).await?;
        Ok((200, out))
    })
    .await
}

/// `GET /api/v1/marketing/confounders?platform=&start=&end=`.
pub async fn list_confounders_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &LIST_CONFOUNDERS, |user| async move {
        let q = ConfoundersFilter::parse(&http::query_params(req, ConfoundersFilter::PARAMS)?)?;
        let out = memory::confounder_analysis(deps.stores.confounders.as_ref(), &user, q.platform, &q.range).await?;
        Ok((200, out))
    })
    .await
}

/// `GET /api/v1/marketing/audit?start=&end=&limit=&cursor=`: administrators only.
pub async fn query_audit_log_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &QUERY_AUDIT_LOG, |user| async move {
        let q = AuditFilter::parse(&http::query_params(req, AuditFilter::PARAMS)?)?;
        Ok((200, memory::audit_log(deps.stores.audit.as_ref(), &user, &q.range, &q.page).await?))
    })
    .await
}

/// This area's HTTP handler of the Lambda `function`, or the request back.
pub(super) async fn dispatch(deps: &Deps, function: &str, req: Request) -> Result<Response<Body>, Request> {
    Ok(match function {
        "ingest-causal" => ingest_causal_http(deps, req).await,
        "get-experiment-causal" => get_experiment_causal_http(deps, req).await,
        "create-experiment" => create_experiment_http(deps, req).await,
        "get-experiment" => get_experiment_http(deps, req).await,
        "list-experiments" => list_experiments_http(deps, req).await,
        "update-experiment-status" => update_experiment_status_http(deps, req).await,
        "query-records" => query_records_http(deps, req).await,
        "list-confounders" => list_confounders_http(deps, req).await,
        "query-audit-log" => query_audit_log_http(deps, req).await,
        _ => return Err(req),
    })
}
