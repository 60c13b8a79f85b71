//! `POST /api/v1/surfacing/experiments/design`: power analysis (sample size, MDE or power; means
//! or proportions; clusters, CUPED), randomised assignment with balance checks, and geo market
//! selection by synthetic-control replays. Needs `causal:analysis:run`.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::design_experiment_http(deps, req).await) }
    }))
    .await
}
