//! The functions' handlers, here so tests can call them with the sample events in `events/`.
//! Each only parses, calls a use case in [`crate::service`], and maps the outcome.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};

use super::{auth, http, sqs::process_batch, Deps};
use crate::service::stage::{store_records_message, StageError};
use crate::service::{experiments::experiment_causal_data, ingest::ingest_causal};

/// `POST /api/v1/marketing/ingest/causal`. 200 with the per-record outcome; 409 (same body) when
/// any record conflicted with newer stored data.
pub async fn ingest_causal_http(deps: &Deps, req: Request) -> Response<Body> {
    let result = async {
        let user = auth::authenticate(&req, &deps.config.auth)?;
        let body = http::body_bytes(&req)?;
        Ok::<_, http::ApiError>(ingest_causal(deps.stores.records.as_ref(), &user, body, chrono::Utc::now()).await?)
    }
    .await;
    match result {
        Ok(out) if !out.conflicts.is_empty() => http::json_response(409, &out),
        other => http::respond(&req, 200, other),
    }
}

/// `GET /api/v1/marketing/causal/{experiment_id}?limit=&cursor=`.
pub async fn get_experiment_causal_http(deps: &Deps, req: Request) -> Response<Body> {
    let result = async {
        let user = auth::authenticate(&req, &deps.config.auth)?;
        let experiment_id = http::path_param(&req, "experiment_id", "/marketing/causal/")
            .ok_or_else(|| http::ApiError::invalid("experiment_id", "is required in the path"))?;
        let page = http::page_request(&req)?;
        let out = experiment_causal_data(
            deps.stores.experiments.as_ref(),
            deps.stores.records.as_ref(),
            &user,
            &experiment_id,
            &page,
        )
        .await?;
        Ok::<_, http::ApiError>(out)
    }
    .await;
    http::respond(&req, 200, result)
}

/// The store stage (SQS).
pub async fn store_records_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        store_records_message(deps.stores.records.as_ref(), body).await.map(|_| ())
    })
    .await
}
