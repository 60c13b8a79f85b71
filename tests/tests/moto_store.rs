//! The same store contract against the AWS adapters talking to a real moto server over the AWS
//! wire protocol (DynamoDB, S3, SQS). Started by `tests/run.sh`; ignored in a plain `cargo test`.

use aws_sdk_sqs::types::QueueAttributeName;
use liftos::storage::aws::{create_table, dynamodb_client, s3_client, sqs_client, SqsQueue};
use liftos::storage::{Message, Queue, Stores};
use liftos_tests::{contract, moto};

async fn stores() -> Stores {
    let sdk = moto::sdk_config().await;
    let table = moto::unique("liftos");
    let bucket = moto::unique("liftos-panels");
    create_table(&dynamodb_client(&sdk), &table).await.expect("create table");
    s3_client(&sdk).create_bucket().bucket(&bucket).send().await.expect("create bucket");
    Stores::aws(&sdk, &table, &bucket)
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn record_writes() {
    contract::record_writes(stores().await.records.as_ref()).await;
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn record_queries() {
    contract::record_queries(stores().await.records.as_ref()).await;
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn record_isolation() {
    contract::record_isolation(stores().await.records.as_ref()).await;
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn experiments() {
    contract::experiments(stores().await.experiments.as_ref()).await;
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn confounders() {
    contract::confounders(stores().await.confounders.as_ref()).await;
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn audit() {
    contract::audit(stores().await.audit.as_ref()).await;
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn jobs() {
    contract::jobs(stores().await.jobs.as_ref()).await;
}

/// 9 MiB goes up as a two-part multipart upload (8 MiB parts).
#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn panels_with_multipart() {
    contract::panels(stores().await.panels.as_ref(), 9 * 1024 * 1024 + 3).await;
}

async fn receive_all(client: &aws_sdk_sqs::Client, url: &str, expected: usize) -> Vec<aws_sdk_sqs::types::Message> {
    let mut got = Vec::new();
    for _ in 0..20 {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        for m in out.messages.unwrap_or_default() {
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                .send()
                .await
                .expect("delete");
            got.push(m);
        }
        if got.len() >= expected {
            break;
        }
    }
    got
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn sqs_batches_with_attributes_and_partial_failure() {
    let sdk = moto::sdk_config().await;
    let client = sqs_client(&sdk);
    let url =
        client.create_queue().queue_name(moto::unique("stage")).send().await.expect("queue").queue_url.expect("url");
    let q = SqsQueue::new(client.clone(), url.clone());
    let mut msgs: Vec<Message> =
        (0..23).map(|i| Message::new(format!("{{\"n\":{i}}}")).with_attribute("batch_id", format!("b{i}"))).collect();
    // One message over SQS's 256 KiB limit is reported as failed, the rest go.
    msgs.insert(5, Message::new("x".repeat(300 * 1024)));
    let report = q.send_batch(&msgs).await.expect("send");
    assert_eq!(report.sent.len(), 23);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, 5);
    q.send(&Message::new("single").with_attribute("kind", "one")).await.expect("send one");
    let got = receive_all(&client, &url, 24).await;
    assert_eq!(got.len(), 24);
    let mut bodies: Vec<String> = got.iter().filter_map(|m| m.body.clone()).collect();
    bodies.sort();
    assert!(bodies.contains(&"single".to_string()) && bodies.contains(&"{\"n\":22}".to_string()));
    let with_attr = got.iter().find(|m| m.body.as_deref() == Some("{\"n\":7}")).expect("message 7");
    let attr =
        with_attr.message_attributes.as_ref().and_then(|a| a.get("batch_id")).and_then(|v| v.string_value.clone());
    assert_eq!(attr.as_deref(), Some("b7"));
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn sqs_fifo_deduplicates() {
    let sdk = moto::sdk_config().await;
    let client = sqs_client(&sdk);
    let url = client
        .create_queue()
        .queue_name(format!("{}.fifo", moto::unique("stage")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("fifo queue")
        .queue_url
        .expect("url");
    let q = SqsQueue::new(client.clone(), url.clone());
    let m = Message {
        body: "batch-1".into(),
        group_id: Some("org-a".into()),
        deduplication_id: Some("batch-1".into()),
        ..Default::default()
    };
    q.send(&m).await.expect("send");
    q.send_batch(&[m.clone(), m.clone()]).await.expect("send dupes");
    let got = receive_all(&client, &url, 1).await;
    assert_eq!(got.len(), 1, "FIFO de-duplication: one message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run tests/run.sh"]
async fn knowledge_graph() {
    contract::knowledge_graph(&stores().await).await;
}
