//! SQS stage on the data-ready queue: rebuild the org's knowledge graph when new data lands
//! (idempotent: the same inputs write nothing new; poison messages to its dead-letter queue).

liftos::sqs_function!(liftos::runtime::handlers::kse_build_sqs);
