//! `GET /api/v1/causal/jobs/{job_id}`: an analysis job's status, and its result (inline, or a
//! time-limited link when large) once it has one. Needs `causal:analysis:run`; another org's
//! job is not found.

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::get_causal_job_http(deps, req).await) }
    }))
    .await
}
