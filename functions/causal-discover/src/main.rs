//! `POST /api/v1/causal/discover`: causal discovery (PC-stable with Fisher-z, or DirectLiNGAM) on
//! inline rows, with background knowledge (tiers, forbidden and required edges). Needs
//! `causal:analysis:run`.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::causal_discover_http(deps, req).await) }
    }))
    .await
}
