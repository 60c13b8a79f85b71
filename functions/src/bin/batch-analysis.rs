//! SQS stage: runs queued analysis jobs (large DiD, synthetic control with placebos, panels
//! from S3). A finished job is never run again, so a redelivered message changes nothing; a
//! user's mistake fails the job with the error it would have had over HTTP; a message that is
//! not a job goes to the DLQ with the reason; a store outage is retried.

liftos::sqs_function!(liftos::runtime::handlers::batch_analysis_sqs);
