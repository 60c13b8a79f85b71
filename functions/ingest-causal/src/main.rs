//! `POST /api/v1/marketing/ingest/causal`: validate a batch of causal records and store it.
//! Needs `causal:data:write`. Idempotent: a retried request changes nothing.

use lambda_http::{run, service_fn, Body, Error, Request, Response};
use liftos::runtime::{auth, http, Deps};
use liftos::service::ingest::ingest_causal;

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let result = async {
        let user = auth::authenticate(&req, &deps.config.auth)?;
        let body = http::body_bytes(&req)?;
        let out = ingest_causal(deps.stores.records.as_ref(), &user, body, chrono::Utc::now()).await?;
        Ok::<_, http::ApiError>(out)
    }
    .await;
    match result {
        Ok(out) if !out.conflicts.is_empty() => http::json_response(409, &out),
        other => http::respond(&req, 200, other),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handle(deps, req).await) }
    }))
    .await
}
