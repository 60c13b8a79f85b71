//! SQS stage: each message carries a batch of causal records for one org; store them
//! idempotently. Poison messages go to the DLQ with the reason; transient failures are reported
//! as batch item failures and redelivered.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use liftos::runtime::{sqs::process_batch, Deps};
use liftos::service::stage::{store_records_message, StageError};

async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        store_records_message(deps.stores.records.as_ref(), body).await.map(|_| ())
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deps = &deps;
        async move { Ok::<_, Error>(handle(deps, event.payload).await) }
    }))
    .await
}
