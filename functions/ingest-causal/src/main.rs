//! `POST /api/v1/marketing/ingest/causal`: validate a batch of causal records and store it.
//! Needs `causal:data:write`. Idempotent: a retried request changes nothing.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::ingest_causal_http(deps, req).await) }
    }))
    .await
}
