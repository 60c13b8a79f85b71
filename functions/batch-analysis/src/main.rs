//! SQS stage: runs queued analysis jobs (large DiD, synthetic control with placebos, panels
//! from S3). A finished job is never run again, so a redelivered message changes nothing; a
//! user's mistake fails the job with the error it would have had over HTTP; a message that is
//! not a job goes to the DLQ with the reason; a store outage is retried.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use liftos::runtime::{handlers, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    liftos::runtime::init_tracing();
    let deps = Deps::from_env().await?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deps = &deps;
        async move { Ok::<_, Error>(handlers::batch_analysis_sqs(deps, event.payload).await) }
    }))
    .await
}
