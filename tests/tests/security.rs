//! Regression tests of the security and reliability review (issue 14), one or more per defect,
//! named after it, on the embedded default through the functions' handlers. The same rules on
//! DynamoDB, S3 and SQS are in `moto_functions.rs`, `moto_store.rs` and `write_rule.rs`.

use liftos::config::AuthSettings;
use liftos::domain::{OrgId, Platform};
use liftos::runtime::{handlers, Deps};
use liftos::storage::PageRequest;
use liftos_tests::events::{http_request_with, json_body, set_query, text};
use liftos_tests::fixtures::embedded_deps;

fn deps(dir: &std::path::Path) -> Deps {
    embedded_deps(dir, AuthSettings::ApiGateway)
}

fn acme() -> OrgId {
    OrgId::new("acme").expect("org")
}

/// The sample event's JSON body, edited.
fn body_of(event: &str, edit: impl FnOnce(&mut serde_json::Value)) -> impl FnOnce(&mut serde_json::Value) {
    let mut b: serde_json::Value = serde_json::from_str(
        serde_json::from_str::<serde_json::Value>(&text(event)).expect("event")["body"].as_str().expect("body"),
    )
    .expect("body json");
    edit(&mut b);
    move |v: &mut serde_json::Value| v["body"] = b.to_string().into()
}

async fn audit(d: &Deps) -> Vec<liftos::domain::AuditEntry> {
    d.stores
        .audit
        .list_audit(&acme(), &liftos::domain::DateRange::all(), &PageRequest::first(1000))
        .await
        .expect("audit")
        .items
}

// ---- 1. connections ------------------------------------------------------------------------

/// A connection may name only its org's credentials and its platform's hosts over https.
#[test]
fn defect_01_connections_name_only_their_orgs_secret_and_their_platforms_host() {
    use liftos::ingestion::connectors::Connection;
    let conn = |patch: serde_json::Value| -> Result<(), String> {
        let mut v = serde_json::json!({"id": "meta-main", "kind": "meta", "platform": "meta", "account_id": "1"});
        for (k, x) in patch.as_object().expect("obj") {
            v[k] = x.clone();
        }
        let c: Connection = serde_json::from_value(v).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.summary())
    };
    assert!(conn(serde_json::json!({"credentials": "meta-main"})).is_ok());
    assert!(conn(serde_json::json!({"base_url": "https://graph.facebook.com"})).is_ok());
    assert!(conn(serde_json::json!({"base_url": "http://127.0.0.1:8080"})).is_ok(), "loopback: checked again at send");
    for bad in [
        serde_json::json!({"credentials": "liftos/globex/meta-main"}),
        serde_json::json!({"credentials": "../globex/meta-main"}),
        serde_json::json!({"credentials": "arn:aws:secretsmanager:us-east-1:1:secret:x"}),
        serde_json::json!({"base_url": "https://attacker.example"}),
        serde_json::json!({"base_url": "http://graph.facebook.com"}),
        serde_json::json!({"base_url": "https://graph.facebook.com@attacker.example"}),
        serde_json::json!({"kind": "file", "column_map": {"date": "d", "campaign_id": "c", "spend": "s"}, "base_url": "https://graph.facebook.com"}),
    ] {
        let e = conn(bad.clone()).expect_err(&bad.to_string());
        assert!(e.starts_with("credentials") || e.starts_with("base_url"), "{bad}: {e}");
    }
}

/// A tiny HTTP server on loopback answering every request with `body`.
async fn serve_once_forever(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let body = body.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

/// Meta's `paging.next` was followed to any host, the bearer token with it.
#[tokio::test]
async fn defect_01_pagination_stays_on_the_first_pages_origin() {
    use liftos::ingestion::connectors::{self, http, Connection, Period};
    let page = serde_json::json!({"data": [], "paging": {"next": "http://localhost:9/v21.0/steal?access_token=x"}});
    let base = serve_once_forever(page.to_string()).await;
    let c: Connection = serde_json::from_value(serde_json::json!({
        "id": "meta-main", "kind": "meta", "platform": "meta", "account_id": "1", "base_url": base
    }))
    .expect("conn");
    let client = http::Http::with_egress(http::Egress::AlsoLoopback).expect("http");
    let period = Period { start: "2026-09-01".parse().expect("d"), end: "2026-09-02".parse().expect("d") };
    let err = connectors::fetch(&c, period, "the-token", &client).await.expect_err("refused").to_string();
    assert!(err.contains("paging.next") && err.contains("another origin"), "{err}");
    // And without the local setting, the loopback base URL itself is refused before any request.
    let strict = http::Http::new().expect("http");
    let err = connectors::fetch(&c, period, "the-token", &strict).await.expect_err("refused").to_string();
    assert!(err.contains("request refused") && err.contains("LIFTOS_CONNECTORS_ALLOW_LOCAL"), "{err}");
}

// ---- 4 and 5. ingestion times and rows ----------------------------------------------------

const FILE_CONN: &str = r#"[{"id": "shop-export", "kind": "file", "platform": "meta",
  "column_map": {"date": "day", "campaign_id": "campaign", "spend": "cost", "conversions": "orders", "revenue": "sales"}}]"#;

async fn drop_and_ingest(d: &Deps, csv: &str) -> serde_json::Value {
    let org = acme();
    d.stores
        .panels
        .put_panel(&org, "config/connections.json", FILE_CONN.as_bytes().to_vec().into())
        .await
        .expect("config");
    d.stores
        .panels
        .put_panel(&org, "drop/shop-export/2026-09.csv", csv.as_bytes().to_vec().into())
        .await
        .expect("drop");
    let mut event: serde_json::Value =
        serde_json::from_str(&text("sync-connections.export-dropped.json")).expect("event");
    event["detail"]["object"]["key"] = "orgs/acme/drop/shop-export/2026-09.csv".into();
    handlers::sync_event(d, event).await.expect("sync")
}

async fn stored(d: &Deps) -> Vec<liftos::domain::CausalMarketingData> {
    let q =
        liftos::storage::RecordQuery::Platform { platform: Platform::Meta, range: liftos::domain::DateRange::all() };
    d.stores.records.query_records(&acme(), &q, &PageRequest::first(1000)).await.expect("query").items
}

/// One rejected row dated 2099 stamped the whole batch, so every later correction got a 409;
/// a corrected re-drop of the same period was silently discarded.
#[tokio::test]
async fn defect_04_a_future_row_does_not_lock_the_records_and_a_corrected_drop_lands() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let first =
        "day,campaign,cost,orders,sales\n2026-09-01,c1,100,4,400\n2026-09-02,c1,110,5,500\n2099-01-01,c1,1,1,1\n";
    drop_and_ingest(&d, first).await;
    let recs = stored(&d).await;
    assert_eq!(recs.len(), 2, "the 2099 row is rejected, the others stored");
    let now = chrono::Utc::now();
    assert!(recs.iter().all(|r| r.updated_at <= now), "no stored time lies in the future");
    // The corrected export of the same period, dropped again under the same key.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let corrected = "day,campaign,cost,orders,sales\n2026-09-01,c1,100,4,400\n2026-09-02,c1,120,6,600\n";
    drop_and_ingest(&d, corrected).await;
    let recs = stored(&d).await;
    let day2 = recs.iter().find(|r| r.timestamp.date_naive().to_string() == "2026-09-02").expect("day 2");
    assert_eq!((day2.metrics.spend, day2.metrics.revenue), (120.0, 600.0), "the correction landed");
    // A redelivery of the same drop changes nothing.
    drop_and_ingest(&d, corrected).await;
    assert_eq!(stored(&d).await, recs);
}

/// A value the quality stage let through (a campaign id the store refuses) sent all 250
/// records of the message to the DLQ.
#[tokio::test]
async fn defect_05_a_row_the_store_refuses_is_rejected_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    // A campaign named rather than numbered gets an id from its name; one whose id is longer
    // than the store allows is refused by the store's rules.
    let long = "c".repeat(200);
    let csv = format!(
        "day,campaign,cost,orders,sales\n2026-09-01,c1,100,4,400\n2026-09-01,{long},50,2,200\n\
         2026-09-01,spring sale!,50,2,200\n2026-09-02,c1,110,5,500\n"
    );
    drop_and_ingest(&d, &csv).await;
    let recs = stored(&d).await;
    assert_eq!(recs.len(), 3, "the good rows are stored");
    assert!(recs.iter().any(|r| r.campaign_id == "spring-sale"), "the named campaign");
    let keys = d.stores.panels.list_panels(&acme(), "quarantine/").await.expect("list");
    let q = d.stores.panels.get_panel(&acme(), &keys[0]).await.expect("get").expect("quarantine");
    let q = String::from_utf8_lossy(&q);
    assert!(q.contains(&long) && q.contains("campaign_id"), "the row is kept with its reason: {q}");
}

/// The store stage itself: a message with one record its rules refuse stores the others, keeps
/// the refused one in quarantine with the reason, and is not a poison message.
#[tokio::test]
async fn defect_05_the_store_stage_rejects_rows_not_messages() {
    let dir = tempfile::tempdir().expect("dir");
    let dlq = std::sync::Arc::new(liftos::storage::embedded::InProcessQueue::new());
    let mut d = deps(dir.path());
    d.dlq = Some(dlq.clone());
    let good = liftos_tests::fixtures::new_record(Platform::Meta, "c1", 1, 10.0, None);
    let mut bad = liftos_tests::fixtures::new_record(Platform::Meta, "c1", 2, 10.0, None);
    bad.metrics.spend = -5.0;
    let msg = serde_json::json!({"org_id": "acme", "batch_id": "b-1", "produced_at": "2026-10-01T00:00:00Z", "records": [good, bad]});
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(serde_json::json!({
        "Records": [{"messageId": "m1", "body": msg.to_string(), "attributes": {}, "messageAttributes": {}}]
    }))
    .expect("event");
    let resp = handlers::store_records_sqs(&d, event).await;
    assert!(resp.batch_item_failures.is_empty());
    assert!(dlq.is_empty(), "not a poison message");
    assert_eq!(stored(&d).await.len(), 1);
    let q = d.stores.panels.get_panel(&acme(), "quarantine/b-1-store.json").await.expect("get").expect("kept");
    assert!(String::from_utf8_lossy(&q).contains("metrics.spend"));
}

// ---- 6 and 7. the audit log, panics --------------------------------------------------------

/// The audit entry was written after the mutation; a change is now recorded as started before
/// it runs and with its outcome after; the query string is recorded.
#[tokio::test]
async fn defect_06_a_change_is_audited_before_and_after() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let resp =
        handlers::create_experiment_http(&d, liftos_tests::events::http_request("create-experiment.ok.json")).await;
    assert_eq!(resp.status().as_u16(), 201, "{}", json_body(&resp));
    let entries = audit(&d).await;
    let started = entries.iter().find(|e| e.outcome == liftos::domain::AuditOutcome::Started).expect("started");
    let done = entries.iter().find(|e| format!("{}:started", e.id) == started.id).expect("outcome");
    assert_eq!((done.status, done.outcome), (201, liftos::domain::AuditOutcome::Allowed));
    assert!(started.at <= done.at);
    let q = http_request_with("query-records.ok.json", |v| set_query(v, &[("platform", "meta"), ("limit", "5")]));
    assert_eq!(handlers::query_records_http(&d, q).await.status(), 200);
    let read = audit(&d).await.into_iter().find(|e| e.action == "records.query").expect("read entry");
    assert_eq!(read.query.as_deref(), Some("platform=meta&limit=5"));
}

/// An audit log that refuses the started entry: nothing is changed and the caller gets a 503.
#[tokio::test]
async fn defect_06_no_change_without_its_audit_entry() {
    struct Refusing;
    #[async_trait::async_trait]
    impl liftos::storage::AuditStore for Refusing {
        async fn append_audit(&self, _: &liftos::domain::AuditEntry) -> Result<(), liftos::storage::StoreError> {
            Err(liftos::storage::StoreError::backend("test", "audit down", true))
        }
        async fn list_audit(
            &self,
            _: &OrgId,
            _: &liftos::domain::DateRange,
            _: &PageRequest,
        ) -> Result<liftos::storage::Page<liftos::domain::AuditEntry>, liftos::storage::StoreError> {
            Ok(liftos::storage::Page { items: vec![], next_cursor: None })
        }
    }
    let dir = tempfile::tempdir().expect("dir");
    let mut d = deps(dir.path());
    d.stores.audit = std::sync::Arc::new(Refusing);
    let resp =
        handlers::create_experiment_http(&d, liftos_tests::events::http_request("create-experiment.ok.json")).await;
    assert_eq!(resp.status().as_u16(), 503);
    assert!(d.stores.experiments.get_experiment(&acme(), "exp-tiktok-geo-holdout").await.expect("get").is_none());
}

/// The embedded audit table refuses updates and deletes (SQLite triggers).
#[tokio::test]
async fn defect_06_audit_entries_cannot_be_changed_or_removed() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let resp = handlers::query_records_http(&d, liftos_tests::events::http_request("query-records.ok.json")).await;
    assert_eq!(resp.status().as_u16(), 200);
    let conn = rusqlite::Connection::open(dir.path().join("liftos.db")).expect("open");
    for sql in ["UPDATE audit SET body = '{}'", "DELETE FROM audit"] {
        let err = conn.execute(sql, []).expect_err(sql).to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(audit(&d).await.len(), 1);
}

/// Inputs that panicked: an empty fit window, a predictor without its range, a non-ASCII first
/// character. Each is now a 400 naming the field; the access is audited.
#[tokio::test]
async fn defect_07_inputs_that_panicked_are_400s() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    for (field, value) in [("fit_window", ""), ("predictors", "x:"), ("fit_window", "é1-3"), ("predictors", "sales:é")]
    {
        let req = http_request_with(
            "analyze-advanced.ok.json",
            body_of("analyze-advanced.ok.json", |b| {
                b["methods"] = serde_json::json!([{"method": "synth", "unit": "unit", "time": "week", "outcome": "sales",
                    "treated_unit": "u00", "treatment_time": 8, field: value}]);
            }),
        );
        let resp = handlers::analyze_advanced_http(&d, req).await;
        let body = json_body(&resp);
        assert_eq!(resp.status().as_u16(), 400, "{field}={value:?}: {body}");
        assert!(body.to_string().contains(field), "{field}={value:?}: {body}");
    }
    assert_eq!(audit(&d).await.iter().filter(|e| e.status == 400).count(), 4);
}

/// An error quotes what it refuses, but never whole: a body of 4.8 MB that serde quotes (and
/// the answer escapes again) was answered with 9.6 MB, more than a Lambda may return (API Gateway
/// then answers a 5xx for the caller's mistake); a thousand bad records listed a thousand details.
#[tokio::test]
async fn defect_07_an_error_answer_stays_small_whatever_it_quotes() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let quotes = format!(r#"{{"records": "{}"}}"#, r#"\""#.repeat(2_400_000));
    assert!(quotes.len() < liftos::api::error::MAX_BODY_BYTES);
    let req = http_request_with("ingest-causal.ok.json", |v| v["body"] = quotes.into());
    let resp = handlers::ingest_causal_http(&d, req).await;
    let raw = match resp.body() {
        lambda_http::Body::Text(t) => t.len(),
        other => panic!("{other:?}"),
    };
    let body = json_body(&resp);
    assert_eq!(resp.status().as_u16(), 400, "{body}");
    assert_eq!(body["field"], "records");
    assert!(raw < 4096, "{raw} bytes");
    // the value serde quotes, cut after 1,000 characters, saying how long its message was
    let message = body["message"].as_str().expect("message");
    assert!(message.starts_with(r#"records: invalid type: string "\"\""#), "{message}");
    let total: usize = message
        .rsplit_once("... (")
        .and_then(|(_, n)| n.strip_suffix(" characters in all)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    assert!(total > 4_800_000, "{total}");

    let req = http_request_with(
        "ingest-causal.bad-spend.json",
        body_of("ingest-causal.bad-spend.json", |b| {
            let one = b["records"][0].clone();
            b["records"] = (0..1000)
                .map(|i| {
                    let mut r = one.clone();
                    r["campaign_id"] = format!("c{i}").into();
                    r["metrics"]["spend"] = serde_json::json!(-1.0);
                    r
                })
                .collect();
        }),
    );
    let resp = handlers::ingest_causal_http(&d, req).await;
    let body = json_body(&resp);
    assert_eq!(resp.status().as_u16(), 400, "{body}");
    assert_eq!(body["field"], "records[0].metrics.spend", "{body}");
    assert_eq!(body["details"].as_array().expect("details").len(), liftos::api::error::MAX_DETAILS);
    assert!(body["message"].as_str().expect("message").ends_with("(and 999 more problem(s))"), "{body}");
}

// ---- 8. caps ---------------------------------------------------------------------------------

/// Parameters that drive work have caps, and a 400 names the field beyond them.
#[tokio::test]
async fn defect_08_every_parameter_that_drives_work_is_capped() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    // Bootstrap draws (staggered DiD).
    let req = http_request_with(
        "analyze-advanced.ok.json",
        body_of("analyze-advanced.ok.json", |b| {
            b["methods"] = serde_json::json!([{"method": "did", "unit": "unit", "time": "week", "outcome": "sales",
                "cohort": "week", "bootstrap": 10_001}]);
        }),
    );
    let resp = handlers::analyze_advanced_http(&d, req).await;
    assert_eq!(
        (resp.status().as_u16(), json_body(&resp)["field"].as_str()),
        (400, Some("methods[0].bootstrap")),
        "{}",
        json_body(&resp)
    );
    // PC's depth.
    let req = http_request_with(
        "causal-discover.ok.json",
        body_of("causal-discover.ok.json", |b| b["max_depth"] = 11.into()),
    );
    let resp = handlers::causal_discover_http(&d, req).await;
    assert_eq!(resp.status().as_u16(), 400, "{}", json_body(&resp));
    assert!(json_body(&resp).to_string().contains("max_depth"));
    // Geo replays.
    for (field, value) in [("windows", 53), ("pre_periods", 521)] {
        let req = http_request_with(
            "design-experiment.ok.json",
            body_of("design-experiment.ok.json", |b| b["geo"][field] = value.into()),
        );
        let resp = handlers::design_experiment_http(&d, req).await;
        assert_eq!(resp.status().as_u16(), 400, "{field}");
        assert_eq!(json_body(&resp)["field"], format!("geo.{field}"));
    }
}

/// Discovery over too many columns is refused before any test runs.
#[tokio::test]
async fn defect_08_discovery_columns_are_capped() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let rows: Vec<serde_json::Value> = (0..60)
        .map(|i| (0..51).map(|c| (format!("x{c}"), serde_json::Value::from(((i * 7 + c * 13) % 17) as f64))).collect())
        .collect();
    let req = http_request_with(
        "causal-discover.ok.json",
        body_of("causal-discover.ok.json", |b| {
            b["rows"] = rows.into();
            b["knowledge"] = serde_json::json!({});
        }),
    );
    let resp = handlers::causal_discover_http(&d, req).await;
    assert_eq!(resp.status().as_u16(), 400, "{}", json_body(&resp));
    assert!(json_body(&resp)["message"].as_str().unwrap_or_default().contains("at most 50"), "{}", json_body(&resp));
}

/// `mode: "sync"` bypassed every size threshold.
#[tokio::test]
async fn defect_08_sync_mode_does_not_bypass_the_size_limits() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    // A synthetic control with placebo runs over 30 donors: over the 25-donor limit.
    let mut rows = Vec::new();
    for u in 0..31 {
        for w in 0..12 {
            rows.push(
                serde_json::json!({"unit": format!("u{u:02}"), "week": w, "sales": 10.0 + u as f64 + w as f64 * 0.1}),
            );
        }
    }
    let req = http_request_with(
        "analyze-advanced.ok.json",
        body_of("analyze-advanced.ok.json", |b| {
            b["rows"] = rows.into();
            b["mode"] = "sync".into();
            b["methods"] = serde_json::json!([{"method": "synth", "unit": "unit", "time": "week", "outcome": "sales",
            "treated_unit": "u00", "treatment_time": 8, "placebo": true}]);
        }),
    );
    let resp = handlers::analyze_advanced_http(&d, req).await;
    assert_eq!(
        (resp.status().as_u16(), json_body(&resp)["field"].as_str()),
        (400, Some("mode")),
        "{}",
        json_body(&resp)
    );
}

/// A job whose function died stayed `running` for ever; past its timeout it is failed with the
/// reason.
#[tokio::test]
async fn defect_08_a_job_past_its_timeout_is_marked_failed() {
    use liftos::domain::{AnalysisJob, JobStatus};
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let long_ago = chrono::Utc::now() - chrono::Duration::hours(2);
    let job = AnalysisJob {
        status: JobStatus::Running,
        attempts: 1,
        // Its last progress was written a minute ago: the timeout counts from its start.
        progress: Some(liftos::domain::job::JobProgress { done: 1, total: 3 }),
        started_at: Some(long_ago),
        updated_at: chrono::Utc::now() - chrono::Duration::minutes(1),
        ..AnalysisJob::queued(
            "job-stuck".into(),
            acme(),
            "u".into(),
            vec![],
            "analyze_advanced".into(),
            "jobs/job-stuck/request.json".into(),
            long_ago,
        )
    };
    d.stores.jobs.create_job(&job).await.expect("create");
    let req = http_request_with("get-causal-job.not-found.json", |v| {
        v["rawPath"] = "/api/v1/causal/jobs/job-stuck".into();
        v["requestContext"]["http"]["path"] = "/api/v1/causal/jobs/job-stuck".into();
        v["pathParameters"] = serde_json::json!({"job_id": "job-stuck"});
    });
    let resp = handlers::get_causal_job_http(&d, req).await;
    let body = json_body(&resp);
    assert_eq!((resp.status().as_u16(), body["status"].as_str()), (200, Some("failed")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("timeout"), "{body}");
    let stored = d.stores.jobs.get_job(&acme(), "job-stuck").await.expect("get").expect("job");
    assert_eq!(stored.status, JobStatus::Failed);
}

// ---- 9. the scheduled sync -------------------------------------------------------------------

/// One org's bad configuration (or an invalid org id) aborted the nightly sync of every org
/// after it.
#[tokio::test]
async fn defect_09_one_orgs_failure_stays_with_it() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let broken = OrgId::new("broken").expect("org");
    d.stores.panels.put_panel(&broken, "config/connections.json", b"not json".to_vec().into()).await.expect("put");
    let out = handlers::sync_event(&d, serde_json::json!({"orgs": ["broken", "..", "acme"]})).await.expect("sync");
    assert!(out["broken"]["error"].as_str().unwrap_or_default().contains("connections"), "{out}");
    assert!(out[".."]["error"].is_string(), "{out}");
    assert_eq!(out["acme"], serde_json::json!([]), "acme (no connections) is still synced: {out}");
}

// ---- 10. lower ---------------------------------------------------------------------------------

/// Panel keys could name the org's configuration, raw pages and job files.
#[tokio::test]
async fn defect_10_panel_keys_cannot_name_the_platforms_files() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    d.stores.panels.put_panel(&acme(), "config/connections.json", b"[]".to_vec().into()).await.expect("put");
    for key in ["config/connections.json", "raw/meta-main/x.json", "jobs/j1/request.json", "staged/b.json"] {
        let req = http_request_with(
            "analyze-advanced.ok.json",
            body_of("analyze-advanced.ok.json", |b| {
                b.as_object_mut().expect("obj").remove("rows");
                b["panel"] = serde_json::json!({"key": key, "format": "csv"});
            }),
        );
        let resp = handlers::analyze_advanced_http(&d, req).await;
        let body = json_body(&resp);
        assert_eq!((resp.status().as_u16(), body["field"].as_str()), (400, Some("panel.key")), "{key}: {body}");
    }
}

/// `end=+10000-01-01` reached the store as an inverted key range (a 500).
#[tokio::test]
async fn defect_10_out_of_range_dates_are_400s() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    for end in ["+10000-01-01", "10000-01-01", "-0001-01-01"] {
        let q = http_request_with("query-records.ok.json", |v| set_query(v, &[("platform", "meta"), ("end", end)]));
        let resp = handlers::query_records_http(&d, q).await;
        assert_eq!((resp.status().as_u16(), json_body(&resp)["field"].as_str()), (400, Some("end")), "{end}");
    }
}

/// Items over DynamoDB's 400 KB gave a partial write, then a 500. A record that large is a
/// 400 naming it, and nothing of the batch is written.
#[tokio::test]
async fn defect_10_an_oversized_record_is_a_400_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let req = http_request_with(
        "ingest-causal.ok.json",
        body_of("ingest-causal.ok.json", |b| {
            let extra: serde_json::Map<String, serde_json::Value> =
                (0..20_000).map(|i| (format!("metric_{i:05}"), serde_json::Value::from(1.0))).collect();
            b["records"][1]["metrics"]["extra"] = extra.into();
        }),
    );
    let resp = handlers::ingest_causal_http(&d, req).await;
    let body = json_body(&resp);
    assert_eq!(resp.status().as_u16(), 400, "{body}");
    assert!(body.to_string().contains("records[1].record"), "{body}");
    assert!(stored(&d).await.is_empty(), "nothing half-written");
}

/// Experiments could be created directly as completed.
#[tokio::test]
async fn defect_10_an_experiment_is_not_created_completed() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    for status in ["completed", "cancelled"] {
        let req = http_request_with(
            "create-experiment.ok.json",
            body_of("create-experiment.ok.json", |b| b["status"] = status.into()),
        );
        let resp = handlers::create_experiment_http(&d, req).await;
        assert_eq!((resp.status().as_u16(), json_body(&resp)["field"].as_str()), (400, Some("status")), "{status}");
    }
}

/// Found by `cargo fuzz` (target `panels`): a dropped export whose date column holds a number
/// past 9999-12-31 as days panicked the file connector (`NaiveDate + TimeDelta` overflowed).
/// Such a row is now a bad row with its reason; and a date written as a number (20260901) is
/// read with the column map's format, not as days since 1970.
#[test]
fn fuzz_found_a_numeric_date_past_9999_is_a_bad_row_not_a_panic() {
    use liftos::service::source::{parse_panel, PanelFormat};
    let conn = |fmt: &str| -> liftos::ingestion::connectors::Connection {
        serde_json::from_value(serde_json::json!({
            "id": "export", "kind": "file", "platform": "meta",
            "column_map": {"date": "day", "campaign_id": "campaign", "spend": "cost", "date_format": fmt}
        }))
        .expect("connection")
    };
    let table = parse_panel(b"day,campaign,cost\n2020000006,c1,1.5\n19000,c2,2.5\n", PanelFormat::Csv).expect("table");
    let (batch, bad) = liftos::ingestion::connectors::file::parse(&conn("%Y-%m-%d"), &table).expect("parsed");
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].row, 1);
    assert!(bad[0].reason.contains("not a date"), "{}", bad[0].reason);
    assert_eq!(batch.rows.len(), 1, "the other row (19000 days: 2022-01-08) lands");
    let table = parse_panel(b"day,campaign,cost\n20260901,c1,1.5\n", PanelFormat::Csv).expect("table");
    let (batch, bad) = liftos::ingestion::connectors::file::parse(&conn("%Y%m%d"), &table).expect("parsed");
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(batch.rows[0].date.to_string(), "2026-09-01");
}
