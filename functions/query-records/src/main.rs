//! `GET /api/v1/marketing/records?platform=&campaign_id=&start=&end=&limit=&cursor=`: causal
//! records by platform, campaign and dates, a page at a time. Needs `causal:data:read`.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::query_records_http(deps, req).await) }
    }))
    .await
}
