//! SQS stage: parse a landed raw payload or export, load 30 days of history for its campaigns,
//! detect interventions and confounders, build causal records, and pass the staged batch (an S3
//! key) to the quality stage. Poison messages go to the DLQ with the reason.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::transform_records_sqs(deps, event.payload).await) }
    }))
    .await
}
