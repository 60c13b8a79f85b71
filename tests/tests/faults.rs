//! Fault injection on moto: the store stage and the store run through `tests/fault_proxy.py`,
//! which answers a seeded share of DynamoDB, S3 and SQS calls with throttling and server
//! errors (some after moto carried the call out: the write done, the answer lost). Messages
//! carry versions of the same records in a shuffled order, some delivered twice, some batches
//! cut off part-way (the future dropped: a Lambda killed mid-batch) and redelivered, as SQS
//! would. At the end every record is stored once, at its newest version: none lost, none
//! duplicated, none older than what was stored. Started by `tests/run.sh` (moto and the proxy).

use liftos::config::{AuthSettings, Backend, Config};
use liftos::domain::{CausalMarketingData, DateRange, Platform};
use liftos::runtime::{handlers, Deps};
use liftos::storage::{PageRequest, RecordQuery, Stores};
use liftos_tests::{fixtures::org, moto, write_rule::version};
use std::sync::Arc;

const RECORDS: usize = 120;
const GENERATIONS: usize = 3;
const PER_MESSAGE: usize = 20;

fn proxy() -> String {
    std::env::var("LIFTOS_FAULT_PROXY").unwrap_or_else(|_| panic!("LIFTOS_FAULT_PROXY is not set: run tests/run.sh"))
}

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    liftos::storage::aws::config_loader()
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

fn message(org: &liftos::domain::OrgId, batch: &str, recs: &[CausalMarketingData]) -> String {
    // The store stage's message: records as the quality stage sends them, with their time.
    let produced_at = recs[0].updated_at;
    let news: Vec<serde_json::Value> = recs
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).expect("json");
            let o = v.as_object_mut().expect("obj");
            for k in ["id", "org_id", "created_at", "updated_at"] {
                o.remove(k);
            }
            v
        })
        .collect();
    serde_json::json!({"org_id": org, "batch_id": batch, "produced_at": produced_at, "records": news}).to_string()
}

fn event(id: &str, body: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_value(serde_json::json!({
        "Records": [{"messageId": id, "body": body, "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}}]
    }))
    .expect("event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto and the fault proxy: run tests/run.sh"]
async fn store_stage_under_faults_loses_and_duplicates_nothing() {
    let started = std::time::Instant::now();
    let direct = moto::sdk_config().await;
    let (table, bucket) = (moto::unique("faults"), moto::unique("faults-panels"));
    liftos::storage::aws::create_table(&liftos::storage::aws::dynamodb_client(&direct), &table).await.expect("table");
    liftos::storage::aws::s3_client(&direct).create_bucket().bucket(&bucket).send().await.expect("bucket");
    let faulty = sdk(&proxy()).await;
    let deps = Deps {
        config: Arc::new(Config::new(
            Backend::Aws { table: table.clone(), bucket: bucket.clone() },
            AuthSettings::ApiGateway,
        )),
        stores: Stores::aws(&faulty, &table, &bucket),
        next_queue: None,
        dlq: None,
    };
    let o = org("faults");
    // Generations of versions of every record, cut into messages, shuffled, some twice.
    let mut pending: Vec<(String, String)> = Vec::new();
    for g in 0..GENERATIONS {
        let recs: Vec<CausalMarketingData> = (0..RECORDS).map(|k| version(&o, k, g)).collect();
        for (n, chunk) in recs.chunks(PER_MESSAGE).enumerate() {
            let id = format!("g{g}-m{n}");
            pending.push((id.clone(), message(&o, &id, chunk)));
            if n % 3 == 0 {
                pending.push((format!("{id}-dup"), message(&o, &id, chunk)));
            }
        }
    }
    let mut seed = 0x9e37_79b9_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in (1..pending.len()).rev() {
        pending.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    let (mut deliveries, mut redelivered, mut killed) = (0usize, 0usize, 0usize);
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds < 60, "still {} messages failing after 60 rounds", pending.len());
        let mut again = Vec::new();
        for (id, body) in pending.drain(..) {
            deliveries += 1;
            if next() % 5 == 0 {
                // Killed mid-batch: the invocation stops wherever it is; SQS redelivers it.
                let cut = std::time::Duration::from_millis(5 + next() % 60);
                if tokio::time::timeout(cut, handlers::store_records_sqs(&deps, event(&id, &body))).await.is_err() {
                    killed += 1;
                    again.push((id, body));
                    continue;
                }
            }
            let resp = handlers::store_records_sqs(&deps, event(&id, &body)).await;
            if !resp.batch_item_failures.is_empty() {
                redelivered += 1;
                again.push((id, body));
            }
        }
        pending = again;
    }
    // Read back directly from moto, without faults.
    let store = Stores::aws(&direct, &table, &bucket);
    let q = RecordQuery::Platform { platform: Platform::Meta, range: DateRange::all() };
    let mut all = Vec::new();
    let mut page = PageRequest::first(1000);
    loop {
        let got = store.records.query_records(&o, &q, &page).await.expect("query");
        all.extend(got.items);
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all.len(), RECORDS, "every record once: none lost, none duplicated");
    for k in 0..RECORDS {
        let want = version(&o, k, GENERATIONS - 1);
        let got = all.iter().find(|r| r.id == want.id).unwrap_or_else(|| panic!("record {k} lost"));
        assert_eq!(
            (got.metrics.spend, got.updated_at),
            (want.metrics.spend, want.updated_at),
            "record {k}: the newest"
        );
    }
    let stats: serde_json::Value = reqwest_stats(&proxy()).await;
    let report = format!(
        "faults: {RECORDS} records x {GENERATIONS} versions in {} messages; {deliveries} deliveries ({redelivered} redelivered after a failure, {killed} cut off mid-batch) in {rounds} rounds, {:.1} s; proxy: {stats}",
        RECORDS * GENERATIONS / PER_MESSAGE,
        started.elapsed().as_secs_f64()
    );
    println!("{report}");
    // tests/run.sh prints it.
    let _ = std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("faults-report.txt"), &report);
    assert!(redelivered + killed > 0, "the faults were felt");
}

/// The proxy's counts (`GET /__faults`), over a plain TCP request.
async fn reqwest_stats(base: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = tokio::net::TcpStream::connect(hostport).await.expect("connect");
    s.write_all(format!("GET /__faults HTTP/1.1\r\nhost: {hostport}\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out.split("\r\n\r\n").nth(1).and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default()
}
