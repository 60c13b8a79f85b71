//! The knowledge engine's endpoints and its build stage.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};

use super::super::http::{self, serve, serve_body};
use super::super::sqs::process_batch;
use super::super::Deps;
use crate::api::kse::{GraphQuery, SimilarQuery};
use crate::api::kse::{KSE_BUILD, KSE_CONCEPTS_MAP, KSE_GRAPH, KSE_SEARCH, KSE_SIMILAR};
use crate::domain::ValidationError;
use crate::service::kse;
use crate::service::stage::StageError;

/// `POST /api/v1/kse/search`.
pub async fn kse_search_http(deps: &Deps, req: Request) -> Response<Body> {
    serve_body(
        deps,
        &req,
        &KSE_SEARCH,
        |user, body| async move { Ok((200, kse::search(&deps.stores, &user, body).await?)) },
    )
    .await
}

/// `GET /api/v1/kse/graph?node=&depth=`.
pub async fn kse_graph_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &KSE_GRAPH, |user| async move {
        let q = http::query_params(req, &["node", "depth"])?;
        let node = q.get("node").cloned().ok_or_else(|| ValidationError::new("node", "is required"))?;
        let depth = match q.get("depth") {
            None => None,
            Some(d) => Some(
                d.parse::<usize>()
                    .map_err(|_| ValidationError::new("depth", format!("{d:?} is not a number 0 to 3")))?,
            ),
        };
        Ok((200, kse::neighbourhood(&deps.stores, &user, &GraphQuery { node, depth }).await?))
    })
    .await
}

/// `GET /api/v1/kse/similar?node=&profile=&limit=&date=`.
pub async fn kse_similar_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &KSE_SIMILAR, |user| async move {
        let q = http::query_params(req, &["node", "profile", "limit", "date"])?;
        let node = q.get("node").cloned().ok_or_else(|| ValidationError::new("node", "is required"))?;
        let profile = q
            .get("profile")
            .ok_or_else(|| ValidationError::new("profile", "is required: effect, temporal, context or record"))?
            .parse()
            .map_err(|e: String| ValidationError::new("profile", e))?;
        let limit = match q.get("limit") {
            None => None,
            Some(l) => Some(
                l.parse::<usize>()
                    .map_err(|_| ValidationError::new("limit", format!("{l:?} is not a number 1 to 50")))?,
            ),
        };
        let date = q.get("date").map(|d| crate::domain::date_range::parse_date("date", d)).transpose()?;
        Ok((200, kse::similar(&deps.stores, &user, &SimilarQuery { node, profile, limit, date }).await?))
    })
    .await
}

/// `POST /api/v1/kse/graph/build`.
pub async fn kse_graph_build_http(deps: &Deps, req: Request) -> Response<Body> {
    let req = &req;
    serve(deps, req, &KSE_BUILD, |user| async move {
        http::query_params(req, &[])?;
        Ok((200, kse::build(&deps.stores, &user, chrono::Utc::now()).await?))
    })
    .await
}

/// `POST /api/v1/kse/concepts/map`.
pub async fn kse_concepts_map_http(deps: &Deps, req: Request) -> Response<Body> {
    serve_body(deps, &req, &KSE_CONCEPTS_MAP, |user, body| async move { Ok((200, kse::map_concepts(&user, body)?)) })
        .await
}

/// The build stage (SQS, on the data-ready queue): the org of each announcement rebuilt; a
/// redelivery (or a batch naming the org twice) finds the same version and writes nothing.
pub async fn kse_build_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        kse::build_message(&deps.stores, body, chrono::Utc::now()).await.map(|_| ())
    })
    .await
}

pub(super) async fn dispatch(deps: &Deps, function: &str, req: Request) -> Result<Response<Body>, Request> {
    Ok(match function {
        "kse-search" => kse_search_http(deps, req).await,
        "kse-graph" => kse_graph_http(deps, req).await,
        "kse-similar" => kse_similar_http(deps, req).await,
        "kse-graph-build" => kse_graph_build_http(deps, req).await,
        "kse-concepts-map" => kse_concepts_map_http(deps, req).await,
        _ => return Err(req),
    })
}
