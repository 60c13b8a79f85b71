//! `POST /api/v1/ingestion/sync`: sync the caller's org now, one connection or all, for a
//! period (default: the last two full days): fetch each platform's report and change history,
//! land the raw pages in S3 and queue them for the transform stage. Needs `causal:data:write`.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::sync_now_http(deps, req).await) }
    }))
    .await
}
