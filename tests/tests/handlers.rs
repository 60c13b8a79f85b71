//! The functions' handlers on the embedded store, driven by the sample events in `events/` and by
//! requests with locally signed tokens: status codes, the error format, auth, org isolation,
//! nothing half-written, idempotent retries, and the SQS stage's poison/transient handling.

use async_trait::async_trait;
use lambda_http::Request;
use liftos::config::{AuthSettings, Backend, Config};
use liftos::domain::{CausalMarketingData, OrgId};
use liftos::runtime::auth::mint_local;
use liftos::runtime::{handlers, Deps};
use liftos::storage::embedded::InProcessQueue;
use liftos::storage::{BatchPutReport, Page, PageRequest, PutOutcome, RecordQuery, RecordStore, StoreError, Stores};
use liftos_tests::events::{http_request, json_body, sqs_event, text};
use std::sync::Arc;

const SECRET: &str = "test-secret-test-secret-test-secret!";

fn deps(dir: &std::path::Path, auth: AuthSettings) -> (Deps, Arc<InProcessQueue>) {
    let dlq = Arc::new(InProcessQueue::new());
    let config = Config::new(Backend::Embedded { data_dir: dir.to_path_buf() }, auth);
    let d = Deps {
        config: Arc::new(config),
        stores: Stores::embedded(dir).expect("open"),
        next_queue: None,
        dlq: Some(dlq.clone()),
    };
    (d, dlq)
}

fn local() -> AuthSettings {
    AuthSettings::LocalKey { secret: SECRET.into(), issuer: "liftos-local".into(), audience: "liftos".into() }
}

fn token(org: &str, roles: &[&str]) -> String {
    mint_local(SECRET, "liftos-local", "liftos", org, "tester", roles, &[], 600).expect("token")
}

/// A request shaped like the sample event, with another body or token.
fn with(event: &str, token: Option<&str>, body: Option<&str>) -> Request {
    let mut v: serde_json::Value = serde_json::from_str(&text(event)).expect("event");
    if let Some(obj) = v["requestContext"].as_object_mut() {
        obj.remove("authorizer");
    }
    if let Some(t) = token {
        v["headers"]["authorization"] = serde_json::Value::String(format!("Bearer {t}"));
    }
    if let Some(b) = body {
        v["body"] = serde_json::Value::String(b.to_string());
    }
    lambda_http::request::from_str(&v.to_string()).expect("request")
}

async fn count(d: &Deps, org: &str) -> usize {
    let org = OrgId::new(org).expect("org");
    let q = RecordQuery::Platform { platform: liftos::domain::Platform::Meta, range: liftos::domain::DateRange::all() };
    d.stores.records.query_records(&org, &q, &PageRequest::first(1000)).await.expect("query").items.len()
}

async fn seed_experiment(d: &Deps, org: &str) {
    let e: liftos::domain::NewExperiment =
        liftos::domain::error::from_json_str(liftos::service::pipeline::SAMPLE_EXPERIMENT).expect("sample experiment");
    let e = e.into_experiment(&OrgId::new(org).expect("org"), chrono::Utc::now()).expect("valid");
    d.stores.experiments.create_experiment(&e).await.expect("create");
}

#[tokio::test]
async fn sample_ingest_event_stores_and_a_retry_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, _) = deps(dir.path(), AuthSettings::ApiGateway);
    let resp = handlers::ingest_causal_http(&d, http_request("ingest-causal.ok.json")).await;
    assert_eq!(resp.status(), 200);
    let body = json_body(&resp);
    assert_eq!((body["received"].as_u64(), body["inserted"].as_u64()), (Some(2), Some(2)));
    assert_eq!(resp.headers()["content-type"], "application/json");
    let retry = handlers::ingest_causal_http(&d, http_request("ingest-causal.ok.json")).await;
    assert_eq!(retry.status(), 200);
    assert_eq!(json_body(&retry)["unchanged"].as_u64(), Some(2));
    assert_eq!(count(&d, "acme").await, 2);
}

#[tokio::test]
async fn bad_record_is_a_400_naming_the_field_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, _) = deps(dir.path(), AuthSettings::ApiGateway);
    let resp = handlers::ingest_causal_http(&d, http_request("ingest-causal.bad-spend.json")).await;
    assert_eq!(resp.status(), 400);
    let body = json_body(&resp);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["field"], "records[1].metrics.spend");
    assert!(body["message"].as_str().unwrap_or("").contains("negative"));
    assert_eq!(body["request_id"], "JKJaXmPLvHcESHA=");
    assert_eq!(count(&d, "acme").await, 0, "the valid record in the same batch was not written either");
}

#[tokio::test]
async fn missing_permission_is_403_and_missing_token_is_401() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, _) = deps(dir.path(), AuthSettings::ApiGateway);
    let resp = handlers::ingest_causal_http(&d, http_request("ingest-causal.forbidden.json")).await;
    assert_eq!(resp.status(), 403);
    assert!(json_body(&resp)["message"].as_str().unwrap_or("").contains("causal:data:write"));
    let resp = handlers::ingest_causal_http(&d, http_request("ingest-causal.no-token.json")).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(json_body(&resp)["error"], "unauthorized");
    assert_eq!(count(&d, "acme").await, 0);
}

#[tokio::test]
async fn local_tokens_are_verified() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, _) = deps(dir.path(), local());
    let body = serde_json::from_str::<serde_json::Value>(&text("ingest-causal.ok.json")).expect("event")["body"]
        .as_str()
        .expect("body")
        .to_string();
    let ev = "ingest-causal.ok.json";
    let forged =
        mint_local(&"x".repeat(36), "liftos-local", "liftos", "acme", "u", &["causal_admin"], &[], 600).expect("t");
    let expired = mint_local(SECRET, "liftos-local", "liftos", "acme", "u", &["causal_admin"], &[], -600).expect("t");
    let wrong_aud = mint_local(SECRET, "liftos-local", "other", "acme", "u", &["causal_admin"], &[], 600).expect("t");
    for (tok, status) in [
        (None, 401),
        (Some("garbage".to_string()), 401),
        (Some(forged), 401),
        (Some(expired), 401),
        (Some(wrong_aud), 401),
        (Some(token("acme", &["causal_analyst"])), 403),
        (Some(token("acme", &["causal_admin"])), 200),
    ] {
        let resp = handlers::ingest_causal_http(&d, with(ev, tok.as_deref(), Some(&body))).await;
        assert_eq!(resp.status(), status, "{}", json_body(&resp));
    }
    assert_eq!(count(&d, "acme").await, 2);
}

#[tokio::test]
async fn the_org_comes_from_the_token_never_the_body() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, _) = deps(dir.path(), local());
    let body = r#"{"records":[{"org_id":"victim","platform":"meta","campaign_id":"c","timestamp":"2026-10-01T00:00:00Z",
        "metrics":{"spend":1,"impressions":10,"clicks":1,"conversions":0,"revenue":0}}]}"#;
    let resp = handlers::ingest_causal_http(
        &d,
        with("ingest-causal.ok.json", Some(&token("attacker", &["causal_admin"])), Some(body)),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json_body(&resp)["field"], "records[0].org_id");
    assert_eq!(count(&d, "victim").await + count(&d, "attacker").await, 0);
}

#[tokio::test]
async fn bad_bodies_get_clear_400s() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, _) = deps(dir.path(), local());
    let t = token("acme", &["causal_admin"]);
    let rec = |fields: &str| {
        format!(
            r#"{{"records":[{{"platform":"meta","campaign_id":"c","timestamp":"2026-10-01T00:00:00Z","metrics":{{"spend":1,"impressions":10,"clicks":1,"conversions":0,"revenue":0}}{fields}}}]}}"#
        )
    };
    let cases: Vec<(String, u16, &str)> = vec![
        ("not json".into(), 400, "body"),
        ("[]".into(), 400, "body"),
        (r#"{"records":[]}"#.into(), 400, "records"),
        (r#"{"records":"x"}"#.into(), 400, "records"),
        (r#"{"rows":[]}"#.into(), 400, ""),
        (rec(r#","quality_score":1.5"#), 400, "records[0].quality_score"),
        (rec(r#","quality_score":"high""#), 400, "records[0].quality_score"),
        (rec("").replace("\"meta\"", "\"myspace\""), 400, "records[0].platform"),
        (rec("").replace("2026-10-01T00:00:00Z", "yesterday"), 400, "records[0].timestamp"),
        (rec("").replace("\"campaign_id\":\"c\"", "\"campaign_id\":\"\""), 400, "records[0].campaign_id"),
        (rec("").replace("\"spend\":1,", ""), 400, "records[0].metrics"),
        (rec(r#","id":"abc""#), 400, "records[0].id"),
    ];
    for (body, status, field) in cases {
        let resp = handlers::ingest_causal_http(&d, with("ingest-causal.ok.json", Some(&t), Some(&body))).await;
        let json = json_body(&resp);
        assert_eq!(resp.status(), status, "{body} -> {json}");
        assert_eq!(json["error"], "invalid_request");
        if !field.is_empty() {
            assert_eq!(json["field"], field, "{body} -> {json}");
        }
    }
    // Two records with the same natural key in one request.
    let one = rec("");
    let dup = one.replace("]}", &format!(",{}]}}", &one[12..one.len() - 2]));
    let resp = handlers::ingest_causal_http(&d, with("ingest-causal.ok.json", Some(&t), Some(&dup))).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json_body(&resp)["field"], "records[1]");
    // Too large.
    let huge = format!(r#"{{"records":[],"pad":"{}"}}"#, "x".repeat(6 * 1024 * 1024));
    let resp = handlers::ingest_causal_http(&d, with("ingest-causal.ok.json", Some(&t), Some(&huge))).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(count(&d, "acme").await, 0);
}

#[tokio::test]
async fn get_experiment_pages_and_hides_other_orgs() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, _) = deps(dir.path(), AuthSettings::ApiGateway);
    seed_experiment(&d, "acme").await;
    let resp = handlers::ingest_causal_http(&d, http_request("ingest-causal.ok.json")).await;
    assert_eq!(resp.status(), 200);
    let resp = handlers::get_experiment_causal_http(&d, http_request("get-experiment-causal.ok.json")).await;
    assert_eq!(resp.status(), 200);
    let body = json_body(&resp);
    assert_eq!(body["experiment"]["id"], "exp-meta-budget-q3");
    assert_eq!(body["records"].as_array().map(|a| a.len()), Some(2));
    assert!(body.get("next_cursor").is_none());

    let resp = handlers::get_experiment_causal_http(&d, http_request("get-experiment-causal.bad-cursor.json")).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json_body(&resp)["field"], "cursor");

    // Same experiment id, another org: exactly what a missing experiment looks like.
    let (dl, _) = deps(dir.path(), local());
    let other = handlers::get_experiment_causal_http(
        &dl,
        with("get-experiment-causal.ok.json", Some(&token("globex", &["causal_analyst"])), None),
    )
    .await;
    let own = handlers::get_experiment_causal_http(
        &dl,
        with("get-experiment-causal.ok.json", Some(&token("acme", &["causal_analyst"])), None),
    )
    .await;
    assert_eq!(own.status(), 200);
    assert_eq!(other.status(), 404);
    assert_eq!(json_body(&other)["message"], "experiment exp-meta-budget-q3 not found");
    let mut absent_ev: serde_json::Value = serde_json::from_str(&text("get-experiment-causal.ok.json")).expect("event");
    absent_ev["pathParameters"]["experiment_id"] = "exp-never-created".into();
    absent_ev["rawPath"] = "/api/v1/marketing/causal/exp-never-created".into();
    let absent =
        handlers::get_experiment_causal_http(&d, lambda_http::request::from_str(&absent_ev.to_string()).expect("req"))
            .await;
    assert_eq!(absent.status(), 404);
    let (mut a, mut b) = (json_body(&absent), json_body(&other));
    a["message"] = serde_json::Value::Null;
    b["message"] = serde_json::Value::Null;
    assert_eq!(a, b, "another org's experiment is indistinguishable from a missing one");

    // Paging one record at a time with the cursor; a bad limit is named.
    let t = token("acme", &["causal_analyst"]);
    let mut ev: serde_json::Value = serde_json::from_str(&text("get-experiment-causal.ok.json")).expect("event");
    ev["requestContext"].as_object_mut().map(|c| c.remove("authorizer"));
    ev["headers"]["authorization"] = format!("Bearer {t}").into();
    let set_query = |ev: &mut serde_json::Value, q: &str| {
        ev["rawQueryString"] = q.into();
        ev["queryStringParameters"] = q
            .split('&')
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
            .collect();
    };
    set_query(&mut ev, "limit=1");
    let first =
        handlers::get_experiment_causal_http(&dl, lambda_http::request::from_str(&ev.to_string()).expect("req")).await;
    let first = json_body(&first);
    let cursor = first["next_cursor"].as_str().expect("a second page").to_string();
    set_query(&mut ev, &format!("limit=1&cursor={cursor}"));
    let second = json_body(
        &handlers::get_experiment_causal_http(&dl, lambda_http::request::from_str(&ev.to_string()).expect("req")).await,
    );
    assert_ne!(first["records"][0]["id"], second["records"][0]["id"]);
    assert!(second.get("next_cursor").is_none());
    for limit in ["0", "abc", "5000"] {
        set_query(&mut ev, &format!("limit={limit}"));
        let resp =
            handlers::get_experiment_causal_http(&dl, lambda_http::request::from_str(&ev.to_string()).expect("req"))
                .await;
        assert_eq!(resp.status(), 400, "limit={limit}");
        assert_eq!(json_body(&resp)["field"], "limit");
    }
}

#[tokio::test]
async fn sqs_stage_stores_once_and_sends_poison_to_the_dlq_with_the_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, dlq) = deps(dir.path(), AuthSettings::ApiGateway);
    let resp = handlers::store_records_sqs(&d, sqs_event("store-records.batch.json")).await;
    assert!(resp.batch_item_failures.is_empty(), "poison is moved to the DLQ, not retried");
    let dead = dlq.receive(10);
    assert_eq!(dead.len(), 1);
    assert!(dead[0].attributes["liftos_error"].contains("records[0].platform"), "{:?}", dead[0].attributes);
    assert_eq!(dead[0].attributes["liftos_source_message_id"], "0f6c1a2e-0000-4000-8000-000000000001");
    assert_eq!(count(&d, "acme").await, 2);
    // Delivered again: stored once.
    let again = handlers::store_records_sqs(&d, sqs_event("store-records.batch.json")).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(count(&d, "acme").await, 2);
}

/// A store that is down: every write fails with a retryable error.
struct Down;

#[async_trait]
impl RecordStore for Down {
    async fn put_record(&self, _: &CausalMarketingData) -> Result<PutOutcome, StoreError> {
        Err(StoreError::backend("test", "unavailable", true))
    }
    async fn put_records(&self, _: &[CausalMarketingData]) -> Result<BatchPutReport, StoreError> {
        Err(StoreError::backend("test", "unavailable", true))
    }
    async fn get_record(&self, _: &OrgId, _: &str) -> Result<Option<CausalMarketingData>, StoreError> {
        Err(StoreError::backend("test", "unavailable", true))
    }
    async fn query_records(
        &self,
        _: &OrgId,
        _: &RecordQuery,
        _: &PageRequest,
    ) -> Result<Page<CausalMarketingData>, StoreError> {
        Err(StoreError::backend("test", "unavailable", true))
    }
}

#[tokio::test]
async fn transient_failures_are_reported_for_redelivery_and_http_gets_a_503() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut d, dlq) = deps(dir.path(), AuthSettings::ApiGateway);
    d.stores.records = Arc::new(Down);
    let resp = handlers::store_records_sqs(&d, sqs_event("store-records.batch.json")).await;
    let failed: Vec<_> = resp.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, vec!["0f6c1a2e-0000-4000-8000-000000000000"], "only the good message is retried");
    assert_eq!(dlq.len(), 1, "the poison one still went to the DLQ");
    let http = handlers::ingest_causal_http(&d, http_request("ingest-causal.ok.json")).await;
    assert_eq!(http.status(), 503);
    assert_eq!(json_body(&http)["error"], "unavailable");
}
