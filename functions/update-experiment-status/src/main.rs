//! `PATCH /api/v1/marketing/experiments/{experiment_id}/status`: draft -> running | cancelled,
//! running -> completed | cancelled; anything else is a 400. Needs `causal:experiments:manage`.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::update_experiment_status_http(deps, req).await) }
    }))
    .await
}
