//! `GET /api/v1/marketing/experiments?status=&limit=&cursor=`: the org's experiments, newest
//! first. Needs `causal:data:read`.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::list_experiments_http(deps, req).await) }
    }))
    .await
}
