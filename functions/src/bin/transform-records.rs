//! SQS stage: parse a landed raw payload or export, load 30 days of history for its campaigns,
//! detect interventions and confounders, build causal records, and pass the staged batch (an S3
//! key) to the quality stage. Poison messages go to the DLQ with the reason.

liftos::sqs_function!(liftos::runtime::handlers::transform_records_sqs);
