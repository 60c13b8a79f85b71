//! `POST /api/v1/causal/analyze/advanced`: several methods (DiD, staggered DiD, IV, RDD,
//! synthetic control) on the same data (inline rows, a panel in S3, or stored records), each with its assumptions and checks, and whether
//! they agree. Needs `causal:analysis:run`.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::analyze_advanced_http(deps, req).await) }
    }))
    .await
}
