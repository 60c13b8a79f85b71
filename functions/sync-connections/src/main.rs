//! The sync stage: on the EventBridge schedule (`{"orgs": [...]}`) fetch every configured
//! connection's new period and land it in S3; on an S3 `ObjectCreated` event for an export
//! dropped under `orgs/{org}/drop/{connection}/`, queue it. Either way the transform stage gets
//! a message with the S3 key (payloads never travel in the queue).

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let deps = &deps;
        async move { handlers::sync_event(deps, event.payload).await }
    }))
    .await
}
