//! SQS stage: each message carries a batch of causal records for one org; store them
//! idempotently. Poison messages go to the DLQ with the reason; transient failures are reported
//! as batch item failures and redelivered.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::store_records_sqs(deps, event.payload).await) }
    }))
    .await
}
