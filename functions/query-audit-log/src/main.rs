//! `GET /api/v1/marketing/audit?start=&end=&limit=&cursor=`: the org's audit log, newest first.
//! Needs `causal:audit:read` (the `causal_admin` role).

use lambda_http::{run, service_fn, Error, Request};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::query_audit_log_http(deps, req).await) }
    }))
    .await
}
