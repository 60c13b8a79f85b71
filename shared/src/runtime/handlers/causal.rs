//! The causal service's endpoints and its batch stage: discovery, treatment effects,
//! `analyze/advanced`, jobs.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};

use super::super::http::{self, serve, serve_body};
use super::super::{sqs::process_batch, Deps};
use crate::api::causal::{ANALYZE_ADVANCED, CAUSAL_DISCOVER, GET_CAUSAL_JOB, TREATMENT_EFFECT};
use crate::api::routes::Route;
use crate::service::causal;
use crate::service::stage::StageError;

/// An analysis endpoint: 200 with the answer, or 202 with the job that will compute it.
async fn analysis(deps: &Deps, req: Request, route: &Route, kind: causal::Kind) -> Response<Body> {
    serve_body(deps, &req, route, |user, body| async move {
        let next = deps.next_stage();
        let ctx = causal::Ctx { stores: &deps.stores, jobs_queue: next.queue(), now: chrono::Utc::now() };
        Ok(match causal::run(&ctx, &user, kind, body).await? {
            causal::Answer::Done(v) => (200, causal::Answer::Done(v)),
            queued => (202, queued),
        })
    })
    .await
}

/// `POST /api/v1/causal/discover`.
pub async fn causal_discover_http(deps: &Deps, req: Request) -> Response<Body> {
    analysis(deps, req, &CAUSAL_DISCOVER, causal::Kind::Discover).await
}

/// `POST /api/v1/causal/treatment-effect`.
pub async fn treatment_effect_http(deps: &Deps, req: Request) -> Response<Body> {
    analysis(deps, req, &TREATMENT_EFFECT, causal::Kind::TreatmentEffect).await
}

/// `POST /api/v1/causal/analyze/advanced`.
pub async fn analyze_advanced_http(deps: &Deps, req: Request) -> Response<Body> {
    analysis(deps, req, &ANALYZE_ADVANCED, causal::Kind::AnalyzeAdvanced).await
}

/// `GET /api/v1/causal/jobs/{job_id}`: status, and the result once there is one.
pub async fn get_causal_job_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &GET_CAUSAL_JOB, |user| async move {
        http::query_params(req, &[])?;
        let id = http::path_param(req, &GET_CAUSAL_JOB, "job_id")?;
        Ok((200, causal::get_job(&deps.stores, &user, &id, deps.config.job_timeout).await?))
    })
    .await
}

/// The batch-analysis stage (SQS): runs queued analysis jobs.
pub async fn batch_analysis_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        causal::job_message(&deps.stores, deps.next_queue.as_deref(), body, super::llm::model().await).await
    })
    .await
}

/// This area's HTTP handler of the Lambda `function`, or the request back.
pub(super) async fn dispatch(deps: &Deps, function: &str, req: Request) -> Result<Response<Body>, Request> {
    Ok(match function {
        "causal-discover" => causal_discover_http(deps, req).await,
        "treatment-effect" => treatment_effect_http(deps, req).await,
        "analyze-advanced" => analyze_advanced_http(deps, req).await,
        "get-causal-job" => get_causal_job_http(deps, req).await,
        _ => return Err(req),
    })
}
