//! `POST /api/v1/causal/treatment-effect`: ATE or ATT under measured confounding (regression, IPW,
//! AIPW) with overlap diagnostics, E-value and refutations, on inline rows. Needs
//! `causal:analysis:run`.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::treatment_effect_http(deps, req).await) }
    }))
    .await
}
