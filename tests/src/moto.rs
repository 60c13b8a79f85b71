//! Reaching the moto server that `tests/run.sh` starts (`LIFTOS_MOTO_ENDPOINT`).

use aws_sdk_dynamodb::config::{Credentials, Region};

pub const ENDPOINT_VAR: &str = "LIFTOS_MOTO_ENDPOINT";

/// The endpoint, or a panic that says how to get one: these tests are `#[ignore]`d in a plain
/// `cargo test` and run by `tests/run.sh`, which starts moto.
pub fn endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!("{ENDPOINT_VAR} is not set: run the suite with tests/run.sh, which installs and starts moto_server")
    })
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    liftos::storage::aws::config_loader()
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// A unique resource name, so tests share one server without interfering.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Every message waiting on `url` (receiving until the queue answers empty).
pub async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

/// The SQS event Lambda would deliver for `messages`.
pub fn sqs_event_of(messages: &[aws_sdk_sqs::types::Message]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("event")
}
