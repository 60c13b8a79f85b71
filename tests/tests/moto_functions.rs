//! The functions' handlers on the AWS adapters against moto: records land in DynamoDB, a poison
//! message lands in a real SQS dead-letter queue with its reason, a redelivery stores once.

use liftos::config::{AuthSettings, Backend, Config};
use liftos::domain::{DateRange, OrgId, Platform};
use liftos::runtime::{handlers, Deps};
use liftos::storage::aws::{create_table, dynamodb_client, s3_client, sqs_client, SqsQueue};
use liftos::storage::{PageRequest, RecordQuery, Stores};
use liftos_tests::events::{http_request, json_body, sqs_event};
use liftos_tests::moto;
use std::sync::Arc;

async fn aws_deps() -> (Deps, aws_sdk_sqs::Client, String) {
    let sdk = moto::sdk_config().await;
    let (table, bucket) = (moto::unique("liftos"), moto::unique("liftos-panels"));
    create_table(&dynamodb_client(&sdk), &table).await.expect("table");
    s3_client(&sdk).create_bucket().bucket(&bucket).send().await.expect("bucket");
    let sqs = sqs_client(&sdk);
    let dlq_url =
        sqs.create_queue().queue_name(moto::unique("store-dlq")).send().await.expect("dlq").queue_url.expect("url");
    let config = Config {
        dlq_url: Some(dlq_url.clone()),
        ..Config::new(Backend::Aws { table: table.clone(), bucket: bucket.clone() }, AuthSettings::ApiGateway)
    };
    let deps = Deps {
        config: Arc::new(config),
        stores: Stores::aws(&sdk, &table, &bucket),
        next_queue: None,
        dlq: Some(Arc::new(SqsQueue::new(sqs.clone(), dlq_url.clone()))),
    };
    (deps, sqs, dlq_url)
}

async fn meta_records(d: &Deps, org: &str) -> usize {
    let q = RecordQuery::Platform { platform: Platform::Meta, range: DateRange::all() };
    d.stores
        .records
        .query_records(&OrgId::new(org).expect("org"), &q, &PageRequest::first(100))
        .await
        .expect("query")
        .items
        .len()
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn sqs_stage_on_dynamodb_with_a_real_dlq() {
    let (d, sqs, dlq_url) = aws_deps().await;
    let resp = handlers::store_records_sqs(&d, sqs_event("store-records.batch.json")).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(meta_records(&d, "acme").await, 2);
    let again = handlers::store_records_sqs(&d, sqs_event("store-records.batch.json")).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(meta_records(&d, "acme").await, 2, "a message delivered twice stores once");
    let out = sqs
        .receive_message()
        .queue_url(&dlq_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive");
    let dead = out.messages.unwrap_or_default();
    assert_eq!(dead.len(), 2, "the poison message, once per delivery");
    let reason =
        dead[0].message_attributes.as_ref().and_then(|a| a.get("liftos_error")).and_then(|v| v.string_value.clone());
    assert!(reason.unwrap_or_default().contains("records[0].platform"));
}

#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn http_ingest_and_read_back_on_dynamodb() {
    let (d, _, _) = aws_deps().await;
    let e: liftos::domain::NewExperiment =
        liftos::domain::error::from_json_str(liftos::service::pipeline::SAMPLE_EXPERIMENT).expect("experiment");
    let e = e.into_experiment(&OrgId::new("acme").expect("org"), chrono::Utc::now()).expect("valid");
    d.stores.experiments.create_experiment(&e).await.expect("create");
    let resp = handlers::ingest_causal_http(&d, http_request("ingest-causal.ok.json")).await;
    assert_eq!(resp.status(), 200, "{}", json_body(&resp));
    let bad = handlers::ingest_causal_http(&d, http_request("ingest-causal.bad-spend.json")).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(meta_records(&d, "acme").await, 2, "the rejected batch wrote nothing");
    let got = handlers::get_experiment_causal_http(&d, http_request("get-experiment-causal.ok.json")).await;
    assert_eq!(got.status(), 200);
    assert_eq!(json_body(&got)["records"].as_array().map(|a| a.len()), Some(2));
    let bad_cursor =
        handlers::get_experiment_causal_http(&d, http_request("get-experiment-causal.bad-cursor.json")).await;
    assert_eq!(bad_cursor.status(), 400);
}
