//! `POST /api/v1/marketing/experiments`: create an experiment (treatment and control groups,
//! randomisation unit, dates, status). Needs `causal:experiments:manage`. 201 when created, 200
//! when the identical experiment exists (a retry), 409 when a different one has the id.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::create_experiment_http(deps, req).await) }
    }))
    .await
}
