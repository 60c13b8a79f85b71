//! `GET /api/v1/marketing/experiments/{experiment_id}`: one experiment. Needs
//! `causal:data:read`. Another org's experiment is a 404, the same as one that does not exist.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::get_experiment_http(deps, req).await) }
    }))
    .await
}
