//! `POST /api/v1/surfacing/optimize/causal`: per-channel response curves (Hill saturation, geometric
//! adstock) fitted to the spend and outcome history and calibrated by lift estimates; the optimal
//! allocation under the plan's objective and constraints; recommendations. Needs
//! `causal:analysis:run`.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::optimize_budget_http(deps, req).await) }
    }))
    .await
}
