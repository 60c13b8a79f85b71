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

/// Up to ten messages waiting on `url`, hidden from other receivers for `visibility` seconds.
pub async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, visibility: i32) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
}

/// Every message waiting on `url` (receiving until the queue answers empty).
pub async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let got = receive(sqs, url, 30).await;
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

/// The ingestion chain's queues on moto, in this order: raw, raw-dlq, staged, staged-dlq, store,
/// store-dlq, ready (created with `admin`); and the transform, quality and store stages wired to
/// them, with their stores and queues reached through `sdk` (moto itself, or a proxy in front).
pub async fn stage_chain(
    sdk: &aws_config::SdkConfig,
    admin: &aws_sdk_sqs::Client,
    table: &str,
    bucket: &str,
) -> (Vec<String>, [liftos::runtime::Deps; 3]) {
    use liftos::config::{AuthSettings, Backend, Config};
    use std::sync::Arc;
    let mut urls = Vec::new();
    for name in ["raw", "raw-dlq", "staged", "staged-dlq", "store", "store-dlq", "ready"] {
        urls.push(admin.create_queue().queue_name(unique(name)).send().await.expect("queue").queue_url.expect("url"));
    }
    let sqs = liftos::storage::aws::sqs_client(sdk);
    let stores = liftos::storage::Stores::aws(sdk, table, bucket);
    let q = |i: usize| -> Arc<dyn liftos::storage::Queue> {
        Arc::new(liftos::storage::aws::SqsQueue::new(sqs.clone(), urls[i].clone()))
    };
    let deps = |next: usize, dlq: usize| liftos::runtime::Deps {
        config: Arc::new(Config {
            next_queue_url: Some(urls[next].clone()),
            dlq_url: Some(urls[dlq].clone()),
            ..Config::new(Backend::Aws { table: table.into(), bucket: bucket.into() }, AuthSettings::ApiGateway)
        }),
        stores: stores.clone(),
        next_queue: Some(q(next)),
        dlq: Some(q(dlq)),
    };
    let stages = [deps(2, 1), deps(4, 3), deps(6, 5)];
    (urls, stages)
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
