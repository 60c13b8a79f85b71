//! `GET /api/v1/surfacing/recommendations/treatments?platform=&objective=`: ranked interventions
//! (scale, cut, shift, or test first) from the org's stored records. Needs `causal:analysis:run`.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::recommend_treatments_http(deps, req).await) }
    }))
    .await
}
