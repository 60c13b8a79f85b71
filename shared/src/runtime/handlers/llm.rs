//! The LLM module's endpoints: explanations of analyses and counterfactuals.

use lambda_http::{Body, Request, Response};

use super::super::http::{self, serve};
use super::super::Deps;
use crate::api::routes::{LLM_COUNTERFACTUAL, LLM_INSIGHTS};
use crate::service::{causal, counterfactual, insights};

/// `POST /api/v1/llm/causal/insights`.
pub async fn llm_insights_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &LLM_INSIGHTS, |user| async move {
        http::query_params(req, &[])?;
        let body = http::body_bytes(req)?;
        let next = deps.next_stage();
        let ctx = causal::Ctx { stores: &deps.stores, jobs_queue: next.queue(), now: chrono::Utc::now() };
        Ok((200, insights::insights(&ctx, &user, body).await?))
    })
    .await
}

/// `POST /api/v1/llm/causal/counterfactual`.
pub async fn llm_counterfactual_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &LLM_COUNTERFACTUAL, |user| async move {
        http::query_params(req, &[])?;
        let body = http::body_bytes(req)?;
        let next = deps.next_stage();
        let ctx = causal::Ctx { stores: &deps.stores, jobs_queue: next.queue(), now: chrono::Utc::now() };
        Ok((200, counterfactual::counterfactual(&ctx, &user, body).await?))
    })
    .await
}

pub(super) async fn dispatch(deps: &Deps, function: &str, req: Request) -> Result<Response<Body>, Request> {
    match function {
        "llm-insights" => Ok(llm_insights_http(deps, req).await),
        "llm-counterfactual" => Ok(llm_counterfactual_http(deps, req).await),
        _ => Err(req),
    }
}
