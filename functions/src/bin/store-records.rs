//! SQS stage: each message carries a batch of causal records for one org; store them
//! idempotently. Poison messages go to the DLQ with the reason; transient failures are reported
//! as batch item failures and redelivered.

liftos::sqs_function!(liftos::runtime::handlers::store_records_sqs);
