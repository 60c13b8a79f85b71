//! The surfacing endpoints: experiment design, budget optimisation, treatment recommendations.

use lambda_http::{Body, Request, Response};

use super::super::http::{self, serve, serve_body};
use super::super::Deps;
use crate::api::surfacing::{DESIGN_EXPERIMENT, OPTIMIZE_BUDGET, READOUT_EXPERIMENT, RECOMMEND_TREATMENTS};
use crate::service::surfacing;

/// `POST /api/v1/surfacing/experiments/design`: power analysis, randomisation, geo market
/// selection.
pub async fn design_experiment_http(deps: &Deps, req: Request) -> Response<Body> {
    serve_body(deps, &req, &DESIGN_EXPERIMENT, |user, body| async move {
        Ok((200, surfacing::design_experiment(&deps.stores, &user, body).await?))
    })
    .await
}

/// `POST /api/v1/surfacing/experiments/readout`: a geo test read out.
pub async fn readout_experiment_http(deps: &Deps, req: Request) -> Response<Body> {
    serve_body(deps, &req, &READOUT_EXPERIMENT, |user, body| async move {
        Ok((200, surfacing::readout_experiment(&deps.stores, &user, body).await?))
    })
    .await
}

/// `POST /api/v1/surfacing/optimize/causal`: response curves (calibrated by lifts), the optimal
/// allocation and recommendations.
pub async fn optimize_budget_http(deps: &Deps, req: Request) -> Response<Body> {
    serve_body(deps, &req, &OPTIMIZE_BUDGET, |user, body| async move {
        Ok((200, surfacing::optimize_budget(&deps.stores, &user, body).await?))
    })
    .await
}

/// `GET /api/v1/surfacing/recommendations/treatments?platform=&objective=`.
pub async fn recommend_treatments_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &RECOMMEND_TREATMENTS, |user| async move {
        let q = http::query_params(req, &["platform", "objective"])?;
        let out = surfacing::treatment_recommendations(
            &deps.stores,
            &user,
            q.get("platform").map(String::as_str),
            q.get("objective").map(String::as_str),
        )
        .await?;
        Ok((200, out))
    })
    .await
}

/// This area's HTTP handler of the Lambda `function`, or the request back.
pub(super) async fn dispatch(deps: &Deps, function: &str, req: Request) -> Result<Response<Body>, Request> {
    Ok(match function {
        "design-experiment" => design_experiment_http(deps, req).await,
        "readout-experiment" => readout_experiment_http(deps, req).await,
        "optimize-budget" => optimize_budget_http(deps, req).await,
        "recommend-treatments" => recommend_treatments_http(deps, req).await,
        _ => return Err(req),
    })
}
