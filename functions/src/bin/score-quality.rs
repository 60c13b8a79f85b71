//! SQS stage: score a staged batch and each record, quarantine what cannot be used with the
//! reason, record the confounders, and send the records to the store stage.

liftos::sqs_function!(liftos::runtime::handlers::score_quality_sqs);
