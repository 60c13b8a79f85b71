//! The LLM module's endpoints: explanations of analyses and counterfactuals.

use lambda_http::{Body, Request, Response};

use super::super::http::serve_body;
use super::super::Deps;
use crate::api::llm::{LLM_COUNTERFACTUAL, LLM_INSIGHTS};
use crate::llm::provider::{self, Provider};
use crate::service::{causal, counterfactual, insights};

/// `POST /api/v1/llm/causal/insights`.
pub async fn llm_insights_http(deps: &Deps, req: Request) -> Response<Body> {
    serve_body(deps, &req, &LLM_INSIGHTS, |user, body| async move {
        let model = model().await;
        let next = deps.next_stage().with_model(model);
        let ctx = causal::Ctx { stores: &deps.stores, jobs_queue: next.queue(), now: chrono::Utc::now() };
        Ok(match insights::answer(&ctx, &user, body, model).await? {
            insights::Answer::Done(x) => (200, insights::Answer::Done(x)),
            queued => (202, queued),
        })
    })
    .await
}

/// The configured language model (`LIFTOS_LLM`), built once per container; none by default, and
/// then nothing is ever sent. A configuration that cannot be used is logged and treated as none.
/// The batch function's jobs use the same (the explanations run as jobs).
pub(crate) async fn model() -> Option<&'static dyn Provider> {
    static MODEL: tokio::sync::OnceCell<Option<Box<dyn Provider>>> = tokio::sync::OnceCell::const_new();
    MODEL
        .get_or_init(|| async {
            match provider::Config::from_env() {
                Ok(c) => match provider::build(c).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!(error = %e, "the language model could not be set up; templates only");
                        None
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "LIFTOS_LLM is not usable; templates only");
                    None
                }
            }
        })
        .await
        .as_deref()
}

/// `POST /api/v1/llm/causal/counterfactual`.
pub async fn llm_counterfactual_http(deps: &Deps, req: Request) -> Response<Body> {
    serve_body(deps, &req, &LLM_COUNTERFACTUAL, |user, body| async move {
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
