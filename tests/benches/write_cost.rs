//! What the conditional write rule costs on moto: the store's `put_records` (one conditional
//! write per record, 16 in flight, versions of an id in order) against the unconditional
//! `BatchWriteItem` it replaced (25 items a request, the same records as JSON documents), on the
//! same moto server. Needs `LIFTOS_MOTO_ENDPOINT` (tests/run.sh starts moto; or
//! `moto_server -p 5123` and `LIFTOS_MOTO_ENDPOINT=http://127.0.0.1:5123`).
//!
//!   cargo bench -p liftos-tests --bench write_cost
//!
//! Prints one JSON object. moto answers a few hundred requests a second; DynamoDB itself is far
//! faster, so the ratio, not the absolute rate, is the figure to read.

use std::time::Instant;

#[tokio::main]
async fn main() {
    if std::env::var_os(liftos_tests::moto::ENDPOINT_VAR).is_none() {
        eprintln!("write_cost: {} is not set; skipped", liftos_tests::moto::ENDPOINT_VAR);
        return;
    }
    let n: usize = std::env::var("WRITE_COST_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let sdk = liftos_tests::moto::sdk_config().await;
    let ddb = liftos::storage::aws::dynamodb_client(&sdk);
    let table = liftos_tests::moto::unique("write-cost");
    liftos::storage::aws::create_table(&ddb, &table).await.expect("table");
    let bucket = liftos_tests::moto::unique("write-cost");
    liftos::storage::aws::s3_client(&sdk).create_bucket().bucket(&bucket).send().await.expect("bucket");
    let store = liftos::storage::Stores::aws(&sdk, &table, &bucket);
    let org = liftos_tests::fixtures::org("cost");
    let recs: Vec<_> = (0..n).map(|k| liftos_tests::write_rule::version(&org, k, 0)).collect();

    let t = Instant::now();
    let report = store.records.put_records(&recs).await.expect("put");
    let conditional = t.elapsed().as_secs_f64();
    assert_eq!(report.inserted.len() + report.updated.len() + report.unchanged.len(), n);
    let t = Instant::now();
    store.records.put_records(&recs).await.expect("again");
    let conditional_unchanged = t.elapsed().as_secs_f64();

    // The replaced pattern: unconditional batches of 25, one request at a time.
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    let t = Instant::now();
    for chunk in recs.chunks(25) {
        let items: Vec<WriteRequest> = chunk
            .iter()
            .map(|r| {
                let put = PutRequest::builder()
                    .item("pk", AttributeValue::S(format!("BATCH#{}", r.org_id)))
                    .item("sk", AttributeValue::S(r.id.clone()))
                    .item("doc", AttributeValue::S(serde_json::to_string(r).expect("json")))
                    .build()
                    .expect("put");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let mut pending = Some(items);
        while let Some(items) = pending.take() {
            let out = ddb.batch_write_item().request_items(&table, items).send().await.expect("batch");
            pending = out.unprocessed_items.and_then(|mut m| m.remove(&table)).filter(|v| !v.is_empty());
        }
    }
    let batched = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "records": n,
            "conditional_put_records_s": conditional,
            "conditional_records_per_s": n as f64 / conditional,
            "conditional_all_unchanged_s": conditional_unchanged,
            "unconditional_batch_write_s": batched,
            "unconditional_records_per_s": n as f64 / batched,
            "cost_ratio": conditional / batched,
        })
    );
}
