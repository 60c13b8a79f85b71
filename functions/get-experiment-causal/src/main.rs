//! `GET /api/v1/marketing/causal/{experiment_id}?limit=&cursor=`: the experiment and its causal
//! records, a page at a time. Needs `causal:data:read`. Another org's experiment is a 404, the
//! same as one that does not exist.

use lambda_http::{run, service_fn, Body, Error, Request, Response};
use liftos::runtime::{auth, http, Deps};
use liftos::service::experiments::experiment_causal_data;

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let result = async {
        let user = auth::authenticate(&req, &deps.config.auth)?;
        let experiment_id = http::path_param(&req, "experiment_id", "/marketing/causal/")
            .ok_or_else(|| http::ApiError::invalid("experiment_id", "is required in the path"))?;
        let page = http::page_request(&req)?;
        let out = experiment_causal_data(
            deps.stores.experiments.as_ref(),
            deps.stores.records.as_ref(),
            &user,
            &experiment_id,
            &page,
        )
        .await?;
        Ok::<_, http::ApiError>(out)
    }
    .await;
    http::respond(&req, 200, result)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(handle(deps, req).await) }
    }))
    .await
}
