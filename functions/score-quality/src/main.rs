//! SQS stage: score a staged batch and each record, quarantine what cannot be used with the
//! reason, record the confounders, and send the records to the store stage.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::score_quality_sqs(deps, event.payload).await) }
    }))
    .await
}
