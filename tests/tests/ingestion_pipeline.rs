//! The ingestion pipeline end to end: connectors against a local server answering in each
//! platform's documented shape (with rate limits), the sync -> transform -> quality -> store
//! chain on the embedded store and on moto (SQS between the stages, raw payloads in S3, records
//! in DynamoDB, credentials in Secrets Manager), idempotent redelivery, poison messages to the
//! DLQ with their reason, and a malformed export rejected while the rest lands.

use liftos::config::AuthSettings;
use liftos::domain::{DateRange, OrgId, Platform, UserContext};
use liftos::ingestion::connectors::http::{Http, RetryPolicy};
use liftos::ingestion::connectors::{self, replay, ConnectorError, Period};
use liftos::runtime::{handlers, Deps};
use liftos::service::ingestion::{self as stages, RawReady};
use liftos::service::pipeline::{sample_connections, sample_recordings, SAMPLE_RECORDS};
use liftos::storage::{PageRequest, RecordQuery, Stores};
use liftos_tests::events::{http_request, json_body, sqs_event};
use std::sync::Arc;

fn acme() -> UserContext {
    UserContext::new(OrgId::new("acme").expect("org"), "user-456".into(), vec!["causal_admin".into()], vec![])
}

fn period() -> Period {
    Period {
        start: chrono::NaiveDate::from_ymd_opt(2026, 9, 1).expect("d"),
        end: chrono::NaiveDate::from_ymd_opt(2026, 10, 12).expect("d"),
    }
}

fn fast_http() -> Http {
    // The replay server is on loopback: allowed only with the explicit local setting.
    Http::with_egress(liftos::ingestion::connectors::http::Egress::AlsoLoopback).expect("http").with_retry(
        RetryPolicy {
            attempts: 5,
            base: std::time::Duration::from_millis(5),
            max: std::time::Duration::from_millis(50),
        },
    )
}

/// The sample records by (campaign, day): what every connector must reproduce.
fn sample_by_key() -> std::collections::BTreeMap<(String, String), serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(SAMPLE_RECORDS).expect("sample");
    v["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                (
                    r["campaign_id"].as_str().expect("c").to_string(),
                    r["timestamp"].as_str().expect("t")[..10].to_string(),
                ),
                r["metrics"].clone(),
            )
        })
        .collect()
}

/// Each connector fetches through rate limits and paging, and maps the platform's units: Meta's
/// string amounts and overlapping purchase actions (counted once), Google's micros, TikTok's EUR
/// at the connection's rate, and each account's time zone to UTC.
#[tokio::test]
async fn connectors_map_each_platform_through_rate_limits() {
    let mut rec = sample_recordings();
    rec.rate_limit_first = 3;
    let server = replay::serve(rec.clone()).await.expect("serve");
    let conns = sample_connections(&server.base_url);
    let http = fast_http();
    let want = sample_by_key();
    for c in conns.iter().filter(|c| c.column_map.is_none()) {
        let secret = if c.id == "google-main" {
            format!(r#"{{"access_token": "{}", "developer_token": "d"}}"#, rec.token)
        } else {
            rec.token.clone()
        };
        let raw = connectors::fetch(c, period(), &secret, &http).await.unwrap_or_else(|e| panic!("{}: {e}", c.id));
        let batch = connectors::parse(&raw).expect("parse");
        assert_eq!(batch.rows.len(), 126, "{}", c.id);
        for r in &batch.rows {
            let m = &want[&(r.campaign_id.clone(), r.date.to_string())];
            let close = |a: f64, b: f64| (a - b).abs() <= 0.01 * b.abs().max(1.0);
            assert!(
                close(r.spend, m["spend"].as_f64().expect("spend")),
                "{}: spend {} vs {}",
                c.id,
                r.spend,
                m["spend"]
            );
            assert!(close(r.conversions, m["conversions"].as_f64().expect("c")), "{}: conversions counted once", c.id);
            assert!(close(r.revenue, m["revenue"].as_f64().expect("r")), "{}: revenue", c.id);
        }
        let first = batch.rows.iter().map(|r| r.timestamp).min().expect("rows");
        let hour = match c.timezone.as_str() {
            "America/New_York" => 4,
            "America/Los_Angeles" => 7,
            _ => 0,
        };
        assert_eq!(
            first.to_rfc3339(),
            format!("2026-09-01T{hour:02}:00:00+00:00"),
            "{}: the account's midnight in UTC",
            c.id
        );
        if c.id == "meta-main" {
            assert_eq!(batch.changes.len(), 1, "the budget change (the rename is not an intervention)");
            let ch = &batch.changes[0];
            assert!((ch.new_value.expect("new") / ch.old_value.expect("old") - 1.3).abs() < 0.01, "{ch:?}");
        }
    }
    assert!(server.requests.load(std::sync::atomic::Ordering::SeqCst) > 3, "the rate-limited requests were retried");
    // A wrong token: the platform's error code and its meaning, never Meta's own text.
    let meta = conns.iter().find(|c| c.id == "meta-main").expect("meta");
    let err = connectors::fetch(meta, period(), "wrong-token", &http).await.expect_err("refused");
    assert!(
        matches!(&err, ConnectorError::Api { platform: "meta", .. })
            && err.to_string().contains("code 190: the access token is invalid or expired")
            && !err.to_string().contains("Invalid OAuth"),
        "{err}"
    );
    // Rate limited for longer than the retries: a retryable error, not a crash.
    let mut always = rec.clone();
    always.rate_limit_first = usize::MAX;
    let busy = replay::serve(always).await.expect("serve");
    let tiktok = sample_connections(&busy.base_url).into_iter().find(|c| c.id == "tiktok-eu").expect("tiktok");
    let err = connectors::fetch(&tiktok, period(), &rec.token, &http).await.expect_err("gave up");
    assert!(err.is_retryable() && err.to_string().contains("gave up after 5 attempts"), "{err}");
}

fn embedded(dir: &std::path::Path) -> Deps {
    liftos_tests::fixtures::embedded_deps(dir, AuthSettings::ApiGateway)
}

async fn create_sample_experiment(stores: &Stores) {
    let e: liftos::domain::NewExperiment =
        liftos::domain::error::from_json_str(liftos::service::pipeline::SAMPLE_EXPERIMENT).expect("experiment");
    let e = e.into_experiment(&acme().org_id, chrono::Utc::now()).expect("valid");
    stores.experiments.create_experiment(&e).await.expect("create");
}

/// The main job's chain on the embedded store: every platform lands, the detected treatment is
/// linked to the registered experiment, confounders reach the memory service, the malformed row
/// of the LinkedIn export is quarantined with its reason and the rest lands; a second run stores
/// nothing new.
#[tokio::test]
async fn the_chain_on_the_embedded_store() {
    let dir = tempfile::tempdir().expect("dir");
    let d = embedded(dir.path());
    create_sample_experiment(&d.stores).await;
    let out =
        liftos::service::pipeline::ingest_sample_exports(&d.stores, &acme(), chrono::Utc::now()).await.expect("chain");
    assert_eq!((out.stored, out.unchanged), (462, 0));
    assert_eq!(out.records_by_platform.values().sum::<usize>(), 462);
    let meta = out.batches.iter().find(|b| b.connection_id == "meta-main").expect("meta batch");
    let t = &meta.treatments[0];
    assert_eq!(
        (t.campaign_id.as_str(), t.intervention.as_str(), t.source.as_str()),
        ("cmp-meta-prospecting", "budget_increase", "change_history")
    );
    assert!(meta.quality_score >= 0.95, "{}", meta.quality_score);
    let li = out.batches.iter().find(|b| b.connection_id == "linkedin-export").expect("linkedin batch");
    assert_eq!(li.records, 84);
    assert_eq!(li.rejected.len(), 1);
    assert!(
        li.rejected[0].at.contains("row 85") && li.rejected[0].reason.contains("not a number"),
        "{:?}",
        li.rejected
    );
    let q = d.stores.panels.list_panels(&acme().org_id, "quarantine/").await.expect("list");
    assert_eq!(q.len(), 1, "{q:?}");
    // Records carry the experiment's arms and the confounders of their day.
    let page = d
        .stores
        .records
        .query_records(
            &acme().org_id,
            &RecordQuery::Experiment { experiment_id: "exp-meta-budget-q3".into() },
            &PageRequest::first(1000),
        )
        .await
        .expect("query");
    assert_eq!(page.items.len(), 126);
    assert!(page.items.iter().any(|r| r.confounders.iter().any(|c| c.name.starts_with("holiday:Labor Day"))));
    let confounders = d.stores.confounders.list_confounders(&acme().org_id, Some(Platform::Meta)).await.expect("list");
    assert!(confounders.iter().any(|c| c.variable_name == "trend" && c.confidence_score > 0.9), "{confounders:?}");
    // Again: the raw data is fetched again, and every record is found unchanged.
    let again =
        liftos::service::pipeline::ingest_sample_exports(&d.stores, &acme(), chrono::Utc::now()).await.expect("again");
    assert_eq!((again.stored, again.unchanged), (0, 462));
}

/// The stage handlers as `cargo lambda watch` runs them on the embedded default: a dropped export
/// goes through; a message naming a missing object is poison (reported for SQS's redrive, no
/// DLQ here); a malformed export fails with a clear error and the other message still lands.
#[tokio::test]
async fn stage_handlers_on_the_embedded_default() {
    let dir = tempfile::tempdir().expect("dir");
    let d = embedded(dir.path());
    let org = acme().org_id;
    let conns = sample_connections("http://127.0.0.1:9");
    d.stores
        .panels
        .put_panel(&org, stages::CONNECTIONS_KEY, serde_json::to_vec(&conns).expect("json").into())
        .await
        .expect("put");
    let csv = liftos::service::pipeline::SAMPLE_LINKEDIN_CSV;
    d.stores
        .panels
        .put_panel(&org, "drop/linkedin-export/linkedin_campaigns.csv", csv.as_bytes().to_vec().into())
        .await
        .expect("put");
    let out = handlers::sync_event(
        &d,
        serde_json::from_str(&liftos_tests::events::text("sync-connections.export-dropped.json")).expect("event"),
    )
    .await
    .expect("sync");
    assert_eq!(out["queued"][0], "orgs/acme/drop/linkedin-export/linkedin_campaigns.csv");
    let q = RecordQuery::Platform { platform: Platform::Linkedin, range: DateRange::all() };
    let stored = d.stores.records.query_records(&org, &q, &PageRequest::first(1000)).await.expect("query").items.len();
    assert_eq!(stored, 84);
    // The transform sample: the export again (unchanged) and a missing raw object (poison).
    let resp = handlers::transform_records_sqs(&d, sqs_event("transform-records.export.json")).await;
    assert_eq!(resp.batch_item_failures.len(), 1);
    assert_eq!(resp.batch_item_failures[0].item_identifier, "5b2f1c00-0000-4000-8000-000000000002");
    let resp = handlers::score_quality_sqs(&d, sqs_event("score-quality.missing-batch.json")).await;
    assert_eq!(resp.batch_item_failures.len(), 1);
    // A malformed export (a mapped column missing) is rejected with the column named.
    d.stores
        .panels
        .put_panel(&org, "drop/linkedin-export/broken.csv", "Day,Campaign\n2026-09-01,a\n".as_bytes().to_vec().into())
        .await
        .expect("put");
    let msg = RawReady {
        org_id: org.clone(),
        connection_id: "linkedin-export".into(),
        raw_key: "drop/linkedin-export/broken.csv".into(),
    };
    let err =
        stages::transform_message(&d.stores, None, &serde_json::to_string(&msg).expect("json"), chrono::Utc::now())
            .await
            .expect_err("malformed");
    assert!(err.to_string().contains("column_map: Start Date (in UTC)"), "{err}");
    // The HTTP sync: a bad period and an unknown connection are 400s naming the field.
    for (event, field) in [("sync-now.bad-period.json", "end"), ("sync-now.unknown-connection.json", "connection_id")] {
        let resp = handlers::sync_now_http(&d, http_request(event)).await;
        assert_eq!((resp.status().as_u16(), json_body(&resp)["field"].as_str()), (400, Some(field)), "{event}");
    }
    // The file connection is not fetched: nothing to sync over HTTP here.
    let mut only_files = conns.clone();
    only_files.retain(|c| c.column_map.is_some());
    d.stores
        .panels
        .put_panel(&org, stages::CONNECTIONS_KEY, serde_json::to_vec(&only_files).expect("json").into())
        .await
        .expect("put");
    let resp = handlers::sync_now_http(&d, http_request("sync-now.ok.json")).await;
    let body = json_body(&resp);
    assert_eq!(resp.status(), 200, "{body}");
    assert_eq!(body["connections"], serde_json::json!([]));
}

/// On moto: credentials from Secrets Manager, raw pages in S3, SQS between every stage (with
/// DLQs), records in DynamoDB, and the data-ready announcement; a redelivered transform message
/// stores nothing twice; a poison message lands in the DLQ with its reason.
#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn the_chain_on_moto() {
    use liftos::storage::aws::{create_table, dynamodb_client, s3_client, sqs_client, SqsQueue};
    use liftos_tests::moto;
    let sdk = moto::sdk_config().await;
    let (table, bucket) = (moto::unique("liftos"), moto::unique("liftos-panels"));
    create_table(&dynamodb_client(&sdk), &table).await.expect("table");
    s3_client(&sdk).create_bucket().bucket(&bucket).send().await.expect("bucket");
    let sqs = sqs_client(&sdk);
    let (urls, [transform, quality, store]) = moto::stage_chain(&sdk, &sqs, &table, &bucket).await;
    let stores = transform.stores.clone();
    let q = |i: usize| -> Arc<dyn liftos::storage::Queue> { Arc::new(SqsQueue::new(sqs.clone(), urls[i].clone())) };
    create_sample_experiment(&stores).await;
    // Credentials in Secrets Manager; connections configured under the org.
    let server = replay::serve(sample_recordings()).await.expect("serve");
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    // Bound to the org: the connection names the secret, which is read as liftos/{org}/{name}.
    let secret_name = moto::unique("meta-main");
    sm.create_secret()
        .name(format!("liftos/acme/{secret_name}"))
        .secret_string(sample_recordings().token)
        .send()
        .await
        .expect("secret");
    let mut conns = sample_connections(&server.base_url);
    conns.retain(|c| c.id == "meta-main");
    conns[0].credentials = Some(secret_name.clone());
    let org = acme().org_id;
    stores
        .panels
        .put_panel(&org, stages::CONNECTIONS_KEY, serde_json::to_vec(&conns).expect("json").into())
        .await
        .expect("put");
    let creds = connectors::SecretsManagerCredentials::new(&sdk);
    let synced =
        stages::sync_org(&stores, Some(q(0).as_ref()), &creds, &fast_http(), &org, None, period()).await.expect("sync");
    assert_eq!(synced[0].error, None, "{synced:?}");
    let raw_key = synced[0].raw_key.clone().expect("raw key");
    assert!(stores.panels.get_panel(&org, &raw_key).await.expect("get").is_some(), "raw pages in S3");
    // raw -> transform -> staged -> quality -> store -> store stage -> ready.
    let raw_msgs = liftos_tests::moto::receive_all(&sqs, &urls[0]).await;
    assert_eq!(raw_msgs.len(), 1);
    assert!(handlers::transform_records_sqs(&transform, liftos_tests::moto::sqs_event_of(&raw_msgs))
        .await
        .batch_item_failures
        .is_empty());
    let staged = liftos_tests::moto::receive_all(&sqs, &urls[2]).await;
    assert_eq!(staged.len(), 1);
    assert!(handlers::score_quality_sqs(&quality, liftos_tests::moto::sqs_event_of(&staged))
        .await
        .batch_item_failures
        .is_empty());
    let to_store = liftos_tests::moto::receive_all(&sqs, &urls[4]).await;
    assert!(!to_store.is_empty());
    assert!(handlers::store_records_sqs(&store, liftos_tests::moto::sqs_event_of(&to_store))
        .await
        .batch_item_failures
        .is_empty());
    let count = |s: Stores| async move {
        let mut n = 0;
        let mut page = PageRequest::first(100);
        loop {
            let got = s
                .records
                .query_records(
                    &acme().org_id,
                    &RecordQuery::Platform { platform: Platform::Meta, range: DateRange::all() },
                    &page,
                )
                .await
                .expect("q");
            n += got.items.len();
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return n,
            }
        }
    };
    assert_eq!(count(stores.clone()).await, 126, "records in DynamoDB");
    let ready = liftos_tests::moto::receive_all(&sqs, &urls[6]).await;
    assert_eq!(ready.len(), to_store.len(), "one data-ready message per stored batch");
    let r: serde_json::Value = serde_json::from_str(ready[0].body().expect("body")).expect("json");
    assert_eq!(r["org_id"], "acme");
    // A message delivered twice stores once.
    assert!(handlers::transform_records_sqs(&transform, liftos_tests::moto::sqs_event_of(&raw_msgs))
        .await
        .batch_item_failures
        .is_empty());
    let staged = liftos_tests::moto::receive_all(&sqs, &urls[2]).await;
    assert!(handlers::score_quality_sqs(&quality, liftos_tests::moto::sqs_event_of(&staged))
        .await
        .batch_item_failures
        .is_empty());
    let to_store = liftos_tests::moto::receive_all(&sqs, &urls[4]).await;
    assert!(handlers::store_records_sqs(&store, liftos_tests::moto::sqs_event_of(&to_store))
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(count(stores.clone()).await, 126);
    let ready = liftos_tests::moto::receive_all(&sqs, &urls[6]).await;
    let r: serde_json::Value = serde_json::from_str(ready[0].body().expect("body")).expect("json");
    assert_eq!(r["stored"], 0, "the redelivery found every record unchanged: {r}");
    // Poison: a message naming an object that does not exist goes to the DLQ with the reason.
    let resp = handlers::transform_records_sqs(&transform, sqs_event("transform-records.export.json")).await;
    assert!(resp.batch_item_failures.is_empty(), "both are poison here (neither object exists): to the DLQ");
    let dead = liftos_tests::moto::receive_all(&sqs, &urls[1]).await;
    let reasons: Vec<String> =
        dead.iter().filter_map(|m| m.message_attributes.as_ref()?.get("liftos_error")?.string_value.clone()).collect();
    assert!(reasons.iter().any(|r| r.contains("no object")), "{reasons:?}");
}

/// Local credentials: `LIFTOS_CREDENTIAL_<ORG>__<NAME>` first, then the file's `"{org}/{name}"`;
/// a missing one is an error naming the credentials, never showing a value; another org's
/// entries are not the caller's.
#[tokio::test]
async fn local_credentials_from_environment_or_file() {
    use liftos::ingestion::connectors::{Credentials, LocalCredentials};
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("credentials.json");
    std::fs::write(&file, r#"{"acme/tiktok-eu": "from-file", "globex/google-main": "globex-token"}"#).expect("write");
    std::env::set_var("LIFTOS_CREDENTIALS_FILE", &file);
    std::env::set_var("LIFTOS_CREDENTIAL_ACME__META_MAIN", "from-env");
    let acme = acme().org_id;
    assert_eq!(LocalCredentials.secret(&acme, "meta-main").await.expect("env"), "from-env");
    assert_eq!(LocalCredentials.secret(&acme, "tiktok-eu").await.expect("file"), "from-file");
    let err = LocalCredentials.secret(&acme, "google-main").await.expect_err("missing").to_string();
    assert!(err.contains("google-main") && !err.contains("from-file") && !err.contains("globex-token"), "{err}");
    for bad in ["../globex/google-main", "globex/google-main", "arn:aws:secretsmanager:x", ".."] {
        assert!(LocalCredentials.secret(&acme, bad).await.is_err(), "{bad}");
    }
}

/// A Parquet export (pandas/pyarrow: a DATE column, spend in micros) dropped for a file
/// connection lands with its units mapped.
#[tokio::test]
async fn a_parquet_export_lands() {
    let dir = tempfile::tempdir().expect("dir");
    let d = embedded(dir.path());
    let org = acme().org_id;
    let conns = serde_json::json!([{ "id": "snap-export", "kind": "file", "platform": "snapchat", "timezone": "Europe/Paris",
        "column_map": { "date": "day", "campaign_id": "campaign_id", "spend": "spend_micro", "impressions": "impressions",
            "clicks": "swipes", "conversions": "conversion_purchases", "revenue": "conversion_purchases_value", "money_scale": 0.000001 } }]);
    d.stores.panels.put_panel(&org, stages::CONNECTIONS_KEY, conns.to_string().into_bytes().into()).await.expect("put");
    let bytes =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/snapchat_export.parquet"))
            .expect("fixture");
    d.stores.panels.put_panel(&org, "drop/snap-export/2026-09.parquet", bytes.into()).await.expect("put");
    let msg = RawReady {
        org_id: org.clone(),
        connection_id: "snap-export".into(),
        raw_key: "drop/snap-export/2026-09.parquet".into(),
    };
    // The embedded default's next stage runs the rest of the chain in process.
    let next = d.next_stage();
    let q = next.queue().expect("the in-process chain");
    let m = liftos::storage::Message::new(serde_json::to_string(&msg).expect("json"))
        .with_attribute("liftos_kind", "raw_ready");
    q.send(&m).await.expect("chain");
    let out = next.ran_in_process().expect("ran in process");
    assert_eq!((out.stored, out.rejected_rows, out.poison.len()), (60, 0, 0));
    let q =
        RecordQuery::Campaign { platform: Platform::Snapchat, campaign_id: "sc-1001".into(), range: DateRange::all() };
    let recs = d.stores.records.query_records(&org, &q, &PageRequest::first(100)).await.expect("query").items;
    assert_eq!(recs.len(), 30);
    // Paris midnight in September is 22:00 UTC the day before; spend from micros.
    assert_eq!(recs[0].timestamp.to_rfc3339(), "2026-08-31T22:00:00+00:00");
    assert!(recs.iter().all(|r| r.metrics.spend > 50.0 && r.metrics.spend < 500.0), "{:?}", recs[0].metrics);
    assert_eq!(
        liftos::ingestion::local_day(recs[0].timestamp).to_string(),
        "2026-09-01",
        "the local day, not the UTC date"
    );
}

/// A queue that is down: every send fails as SQS's throttling would.
struct DownQueue;

fn throttled<T>() -> Result<T, liftos::storage::StoreError> {
    Err(liftos::storage::StoreError::backend("sqs", "throttled", true))
}

#[async_trait::async_trait]
impl liftos::storage::Queue for DownQueue {
    async fn send(&self, _: &liftos::storage::Message) -> Result<(), liftos::storage::StoreError> {
        throttled()
    }
    async fn send_batch(
        &self,
        _: &[liftos::storage::Message],
    ) -> Result<liftos::storage::SendReport, liftos::storage::StoreError> {
        throttled()
    }
}

/// The deployed schedule (with `LIFTOS_SYNC_QUEUE_URL`): the fan-out queues one message per org
/// and API connection (never the file connection), and an org whose id or configuration cannot be
/// used, or whose messages cannot be queued, is reported with the reason while the others are
/// queued. Each message then syncs its one connection on its own: the raw pages land and the rest
/// of the chain stores that platform's records. A message naming a connection that is not
/// configured, or a file connection, can never succeed (poison: to the DLQ with the reason), nor
/// can a platform's refusal of the token; a platform still rate limiting after the retries is
/// transient (the queue delivers it again).
#[tokio::test]
async fn the_scheduled_fan_out_queues_each_connection_and_each_message_syncs_it() {
    use liftos::api::ingestion::SyncConnectionMessage;
    use liftos::ingestion::connectors::StaticCredentials;
    use liftos::service::stage::StageError;
    use liftos::storage::embedded::InProcessQueue;
    let dir = tempfile::tempdir().expect("dir");
    let d = embedded(dir.path());
    let rec = sample_recordings();
    let server = replay::serve(rec.clone()).await.expect("serve");
    let conns = sample_connections(&server.base_url);
    let org = acme().org_id;
    let globex = OrgId::new("globex").expect("org");
    d.stores
        .panels
        .put_panel(&org, stages::CONNECTIONS_KEY, serde_json::to_vec(&conns).expect("json").into())
        .await
        .expect("put");
    d.stores.panels.put_panel(&globex, stages::CONNECTIONS_KEY, b"{not a list".to_vec().into()).await.expect("put");
    let orgs: Vec<String> = ["acme", "Not An Org!", "globex", "initech"].map(String::from).to_vec();
    let queue = InProcessQueue::new();
    let out = stages::fan_out(&d.stores, &queue, &orgs, period()).await;
    let api: Vec<String> = conns.iter().filter(|c| c.column_map.is_none()).map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(api, ["meta-main", "google-main", "tiktok-eu"]);
    assert_eq!(out.len(), 4, "every org answered: {out:?}");
    assert_eq!(out["acme"], Ok(api.clone()));
    let bad = out["Not An Org!"].as_ref().expect_err("not an org id");
    assert!(bad.starts_with("org_id"), "{bad}");
    let unreadable = out["globex"].as_ref().expect_err("unreadable connections");
    assert!(unreadable.starts_with("config/connections.json: not a list of connections"), "{unreadable}");
    assert_eq!(out["initech"], Ok(vec![]), "an org without connections queues nothing");
    let messages = queue.receive(100);
    assert_eq!(messages.len(), 3, "one message per API connection of acme, none for the others");
    // The queue down: that org is reported, with no backend detail, and nothing is queued.
    let down = stages::fan_out(&d.stores, &DownQueue, &orgs[..1], period()).await;
    assert_eq!(down["acme"], Err("the sync could not be queued".to_string()));

    // Each message syncs its connection and the chain stores its platform's 126 records.
    let token = rec.token.clone();
    let creds = |meta: &str| {
        StaticCredentials(
            [
                ("acme/meta-main".to_string(), meta.to_string()),
                ("acme/google-main".to_string(), format!(r#"{{"access_token": "{token}", "developer_token": "d"}}"#)),
                ("acme/tiktok-eu".to_string(), token.clone()),
            ]
            .into(),
        )
    };
    let good = creds(&token);
    let next = d.next_stage();
    for (m, id) in messages.iter().zip(&api) {
        assert_eq!(m.attributes.get("liftos_kind").map(String::as_str), Some("sync_connection"));
        let body: SyncConnectionMessage = serde_json::from_str(&m.body).expect("message");
        assert_eq!(body, SyncConnectionMessage { org_id: org.clone(), connection_id: id.clone(), period: period() });
        let synced = stages::sync_connection_message(&d.stores, next.queue(), &good, &fast_http(), &m.body)
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!((synced.connection_id.as_str(), synced.error.as_deref()), (id.as_str(), None));
        let raw = synced.raw_key.expect("raw pages landed");
        assert!(d.stores.panels.get_panel(&org, &raw).await.expect("get").is_some(), "{raw}");
    }
    for platform in [Platform::Meta, Platform::GoogleAds, Platform::Tiktok] {
        let q = RecordQuery::Platform { platform, range: DateRange::all() };
        let n = d.stores.records.query_records(&org, &q, &PageRequest::first(1000)).await.expect("query").items.len();
        assert_eq!(n, 126, "{platform:?}");
    }

    // Messages that can never succeed, and one that may later.
    let message = |id: &str| {
        serde_json::to_string(&SyncConnectionMessage {
            org_id: org.clone(),
            connection_id: id.into(),
            period: period(),
        })
        .expect("json")
    };
    // Each through a queue of its own, to see what it queued.
    let sync = |creds: StaticCredentials, body: String| {
        let stores = d.stores.clone();
        async move {
            let q = InProcessQueue::new();
            let r = stages::sync_connection_message(&stores, Some(&q), &creds, &fast_http(), &body).await;
            (r, q.len())
        }
    };
    let (r, queued) = sync(creds(&token), message("no-such-connection")).await;
    let e = r.expect_err("not configured");
    assert!(matches!(&e, StageError::Invalid(_)) && e.reason().starts_with("connection_id"), "{e}");
    assert_eq!(queued, 0);
    let (r, queued) = sync(creds(&token), message("linkedin-export")).await;
    let e = r.expect_err("a file connection");
    assert!(matches!(&e, StageError::Poison(_)) && e.reason().contains("is a file connection"), "{e}");
    assert_eq!(queued, 0);
    let (r, queued) = sync(creds("wrong-token"), message("meta-main")).await;
    let e = r.expect_err("refused");
    assert!(matches!(&e, StageError::Poison(_)) && e.reason().contains("code 190"), "{e}");
    assert!(!e.reason().contains("wrong-token"), "the secret is never echoed: {e}");
    assert_eq!(queued, 0, "nothing queued for a failed fetch");
    let e = sync(creds(&token), "{\"org_id\": \"acme\"}".to_string()).await.0.expect_err("malformed");
    assert!(matches!(&e, StageError::Invalid(_) | StageError::Poison(_)), "{e}");
    // Rate limited past the retries: transient, for the queue to deliver again.
    let mut always = rec.clone();
    always.rate_limit_first = usize::MAX;
    let busy = replay::serve(always).await.expect("serve");
    let umbrella = OrgId::new("umbrella").expect("org");
    let tiktok: Vec<_> = sample_connections(&busy.base_url).into_iter().filter(|c| c.id == "tiktok-eu").collect();
    d.stores
        .panels
        .put_panel(&umbrella, stages::CONNECTIONS_KEY, serde_json::to_vec(&tiktok).expect("json").into())
        .await
        .expect("put");
    let body = serde_json::to_string(&SyncConnectionMessage {
        org_id: umbrella.clone(),
        connection_id: "tiktok-eu".into(),
        period: period(),
    })
    .expect("json");
    let busy_creds = StaticCredentials([("umbrella/tiktok-eu".to_string(), token.clone())].into());
    let q = InProcessQueue::new();
    let e = stages::sync_connection_message(&d.stores, Some(&q), &busy_creds, &fast_http(), &body)
        .await
        .expect_err("still rate limited");
    assert!(matches!(&e, StageError::Transient(_)) && e.reason().contains("gave up after 5 attempts"), "{e}");
    assert!(q.is_empty());
}

/// Google Ads with an OAuth client instead of an access token: the refresh token is exchanged
/// at the token endpoint first; a revoked one is a credentials error that names the problem.
#[tokio::test]
async fn google_ads_exchanges_a_refresh_token() {
    let rec = sample_recordings();
    let server = replay::serve(rec.clone()).await.expect("serve");
    let google = sample_connections(&server.base_url).into_iter().find(|c| c.id == "google-main").expect("google");
    let secret = |refresh: &str| {
        serde_json::json!({
            "developer_token": "d", "client_id": "cid.apps.googleusercontent.com", "client_secret": "s3cr3t",
            "refresh_token": refresh, "token_url": format!("{}/token", server.base_url)
        })
        .to_string()
    };
    let raw = connectors::fetch(&google, period(), &secret(&format!("refresh-{}", rec.token)), &fast_http())
        .await
        .expect("fetch");
    assert_eq!(connectors::parse(&raw).expect("parse").rows.len(), 126);
    let err = connectors::fetch(&google, period(), &secret("bad-refresh-value"), &fast_http())
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("invalid_grant") && !err.contains("s3cr3t") && !err.contains("bad-refresh-value"), "{err}");
}

/// `liftos pipeline --connections`' use case with API connections: the accounts fetched from a
/// server in each platform's shape with the org's credentials, a Google Ads UI download beside
/// them, a connection whose credentials are missing reported while the others land; the
/// analysis and the plan come from this data, never the sample's experiment.
#[tokio::test]
async fn the_main_job_on_the_orgs_own_connections() {
    use liftos::service::pipeline::{run_pipeline, ExportFile, OwnData};
    let dir = tempfile::tempdir().expect("dir");
    let d = embedded(dir.path());
    let server = replay::serve(sample_recordings()).await.expect("replay");
    let mut conns: Vec<_> =
        sample_connections(&server.base_url).into_iter().filter(|c| c.column_map.is_none()).collect();
    let mut orphan = conns[2].clone();
    orphan.id = "tiktok-us".into();
    orphan.credentials = Some("tiktok-us".into());
    conns.push(orphan);
    let exports = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/exports");
    let google_file: liftos::ingestion::connectors::Connection = serde_json::from_value(serde_json::json!(
        {"id": "google-ui", "kind": "file", "platform": "google_ads",
         "column_map": {"date": "Day", "campaign_id": "Campaign ID", "spend": "Cost", "revenue": "Conv. value"}}
    ))
    .expect("connection");
    conns.push(google_file);
    let files = vec![ExportFile {
        connection_id: "google-ui".into(),
        name: "google_ads_campaign_report.csv".into(),
        bytes: std::fs::read(exports.join("google_ads_campaign_report.csv")).expect("export"),
    }];
    let org = acme().org_id;
    let token = sample_recordings().token;
    let creds = connectors::StaticCredentials(
        [
            (format!("{org}/meta-main"), token.clone()),
            (format!("{org}/google-main"), format!(r#"{{"access_token": "{token}", "developer_token": "dev"}}"#)),
            (format!("{org}/tiktok-eu"), token.clone()),
        ]
        .into_iter()
        .collect(),
    );
    let own = OwnData { connections: conns, files, period: period(), kpi: None, kpi_column: None };
    let s = run_pipeline(&d.stores, &acme(), own, &creds, chrono::Utc::now()).await.expect("pipeline");
    // The three accounts (the sample's 462 records less the LinkedIn export's) and the download.
    let synced: Vec<(&str, bool)> =
        s.ingestion.synced.iter().map(|c| (c.connection_id.as_str(), c.error.is_none())).collect();
    assert_eq!(synced, [("meta-main", true), ("google-main", true), ("tiktok-eu", true), ("tiktok-us", false)]);
    let missing = s.ingestion.synced[3].error.as_deref().unwrap_or_default();
    assert!(missing.contains("tiktok-us") && !missing.contains(&token), "{missing}");
    assert_eq!(s.ingestion.records_by_platform.get("google_ads"), Some(&(126 + 168)), "{:?}", s.ingestion);
    assert_eq!(s.ingestion.batches.len(), 4);
    assert!(s.experiment_id.is_none());
    // No KPI: no plan, and the summary says so; the analysis is of a treatment found in the data.
    assert!(s.budget_recommendation.is_none());
    assert!(s.notes.iter().any(|n| n.contains("no first-party KPI")), "{:?}", s.notes);
    let a = s.analysis.expect("an analysis of the detected treatment");
    let t = a.treatment.expect("treatment");
    assert!(t.experiment_id.is_none());
    assert!(!t.treated_units.is_empty() && !t.control_units.is_empty(), "{t:?}");
    // The org's connections now include the download's, for later drops.
    let stored = stages::connections(&d.stores, &org).await.expect("connections");
    assert!(stored.iter().any(|c| c.id == "google-ui"));
}
