//! The memory service and auth endpoints on the embedded store: every sample event, the auth
//! failures (HS256 local key and RS256 JWKS), each endpoint's permission, a cross-org matrix,
//! bad input, pagination, and the audit log.

use lambda_http::{Body, Request, Response};
use liftos::api::routes::{Route, ROUTES as ENDPOINTS};
use liftos::config::{AuthSettings, Backend, Config};
use liftos::runtime::auth::{mint_local, mint_rs256};
use liftos::runtime::handlers::{self};
use liftos::runtime::Deps;
use liftos::storage::aws::{create_table, dynamodb_client, s3_client};
use liftos::storage::Stores;
use liftos_tests::events::{http_request, json_body};
use liftos_tests::moto;
use serde_json::{json, Value};
use std::sync::Arc;

const SECRET: &str = "memory-api-secret-memory-api-secret!";
const ISS: &str = "liftos-local";
const AUD: &str = "liftos";

/// Where the stores live: the embedded default, or DynamoDB/S3 on moto.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Embedded,
    Moto,
}

/// A fresh store: an embedded folder, or a new table and bucket on moto.
struct Env {
    kind: Kind,
    dir: tempfile::TempDir,
    table: String,
    bucket: String,
    /// On moto: the analysis functions' jobs queue (as the template configures it).
    jobs: Option<String>,
}

async fn env(kind: Kind) -> Env {
    let (table, bucket) = (moto::unique("liftos"), moto::unique("liftos-panels"));
    let mut jobs = None;
    if let Kind::Moto = kind {
        let sdk = moto::sdk_config().await;
        create_table(&dynamodb_client(&sdk), &table).await.expect("table");
        s3_client(&sdk).create_bucket().bucket(&bucket).send().await.expect("bucket");
        let q = liftos::storage::aws::sqs_client(&sdk)
            .create_queue()
            .queue_name(moto::unique("jobs"))
            .send()
            .await
            .expect("queue");
        jobs = q.queue_url;
    }
    Env { kind, dir: tempfile::tempdir().expect("dir"), table, bucket, jobs }
}

impl Env {
    async fn deps(&self, auth: AuthSettings) -> Deps {
        let (backend, stores) = match self.kind {
            Kind::Embedded => (
                Backend::Embedded { data_dir: self.dir.path().to_path_buf() },
                Stores::embedded(self.dir.path()).expect("open"),
            ),
            Kind::Moto => {
                let sdk = moto::sdk_config().await;
                (
                    Backend::Aws { table: self.table.clone(), bucket: self.bucket.clone() },
                    Stores::aws(&sdk, &self.table, &self.bucket),
                )
            }
        };
        let mut config = Config::new(backend, auth);
        let mut next_queue: Option<Arc<dyn liftos::storage::Queue>> = None;
        if let Some(url) = &self.jobs {
            let sdk = moto::sdk_config().await;
            config.next_queue_url = Some(url.clone());
            next_queue = Some(Arc::new(liftos::storage::aws::SqsQueue::new(
                liftos::storage::aws::sqs_client(&sdk),
                url.clone(),
            )));
        }
        Deps { config: Arc::new(config), stores, next_queue, dlq: None }
    }
}

/// Each scenario runs on the embedded store and (with `tests/run.sh`) on moto.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::Embedded).await
            })*
        }
        mod on_moto {
            $(#[tokio::test]
            #[ignore = "needs moto: run tests/run.sh"]
            async fn $name() {
                super::$name(super::Kind::Moto).await
            })*
        }
    };
}

on_both!(
    every_sample_event_gets_its_status,
    bad_tokens_are_401_everywhere,
    each_endpoint_needs_its_permission,
    no_endpoint_crosses_orgs,
    bad_input_gets_a_clear_4xx,
    pagination_walks_every_item_once,
    the_audit_log_records_every_access,
);

fn local() -> AuthSettings {
    AuthSettings::LocalKey { secret: SECRET.into(), issuer: ISS.into(), audience: AUD.into() }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).expect("fixture")
}

fn jwks() -> AuthSettings {
    AuthSettings::Jwks {
        jwks: String::from_utf8(fixture("test-jwks.json")).expect("utf8"),
        issuer: ISS.into(),
        audience: AUD.into(),
    }
}

fn token(org: &str, roles: &[&str]) -> String {
    mint_local(SECRET, ISS, AUD, org, &format!("user-of-{org}"), roles, &[], 600).expect("token")
}

const ADMIN: &[&str] = &["causal_admin"];
const ANALYST: &[&str] = &["causal_analyst"];

/// An HTTP API v2 event without authorizer claims (the function verifies the token itself).
fn request(method: &str, path: &str, query: &[(&str, &str)], body: Option<&str>, token: Option<&str>) -> Request {
    let mut headers = json!({"content-type": "application/json", "host": "localhost"});
    if let Some(t) = token {
        headers["authorization"] = Value::String(format!("Bearer {t}"));
    }
    let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut params = serde_json::Map::new();
    for (k, v) in query {
        params.insert(k.to_string(), Value::String(v.to_string()));
    }
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": qs.join("&"),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost", "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "req-test", "routeKey": "$default", "stage": "$default",
            "time": "27/Nov/2026:15:00:00 +0000", "timeEpoch": 1795791600000u64
        },
        "isBase64Encoded": false
    });
    if !params.is_empty() {
        ev["queryStringParameters"] = Value::Object(params);
    }
    if let Some(b) = body {
        ev["body"] = Value::String(b.to_string());
    }
    lambda_http::request::from_str(&ev.to_string()).expect("request")
}

async fn call(d: &Deps, ep: Route, req: Request) -> Response<Body> {
    handlers::dispatch(d, ep.function, req).await.unwrap_or_else(|| panic!("no handler for {}", ep.function))
}

fn experiment_body(id: &str, status: &str) -> String {
    json!({
        "id": id, "name": format!("test {id}"), "treatment_groups": ["cmp-a"], "control_groups": ["cmp-b", "cmp-c"],
        "randomization_unit": "campaign", "start": "2026-09-01T00:00:00Z", "end": "2026-09-30T00:00:00Z", "status": status
    })
    .to_string()
}

fn records_body(n: usize, experiment: Option<&str>) -> String {
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let mut assignment = json!({"intervention": "budget_increase", "group": "treated", "assigned_at": "2026-09-01T00:00:00Z", "intensity": 0.3});
            if let Some(e) = experiment {
                assignment["experiment_id"] = Value::String(e.to_string());
            }
            let r = json!({
                "platform": "meta", "campaign_id": "cmp-a",
                "timestamp": format!("2026-09-{:02}T{:02}:00:00Z", 1 + i / 24, i % 24),
                "metrics": {"spend": 100.0 + i as f64, "impressions": 1000, "clicks": 30, "conversions": 3.0, "revenue": 90.0},
                "treatment_assignment": assignment
            });
            r
        })
        .collect();
    json!({ "records": records }).to_string()
}

/// A request to `ep` that is valid apart from auth and data: the path and body it needs.
fn valid_request(ep: Route, token: Option<&str>) -> Request {
    let e = "/api/v1/marketing/experiments";
    match ep.function {
        "ingest-causal" => request("POST", "/api/v1/marketing/ingest/causal", &[], Some(&records_body(2, None)), token),
        "get-experiment-causal" => request("GET", "/api/v1/marketing/causal/exp-1", &[], None, token),
        "create-experiment" => request("POST", e, &[], Some(&experiment_body("exp-1", "draft")), token),
        "get-experiment" => request("GET", &format!("{e}/exp-1"), &[], None, token),
        "list-experiments" => request("GET", e, &[], None, token),
        "update-experiment-status" => {
            request("PATCH", &format!("{e}/exp-1/status"), &[], Some(r#"{"status":"running"}"#), token)
        }
        "query-records" => request("GET", "/api/v1/marketing/records", &[("platform", "meta")], None, token),
        "list-confounders" => request("GET", "/api/v1/marketing/confounders", &[], None, token),
        "query-audit-log" => request("GET", "/api/v1/marketing/audit", &[], None, token),
        "design-experiment" => request(
            "POST",
            "/api/v1/surfacing/experiments/design",
            &[],
            Some(r#"{"power":{"metric":{"type":"mean","sd":10},"effect":1,"power":0.8}}"#),
            token,
        ),
        "readout-experiment" => request(
            "POST",
            "/api/v1/surfacing/experiments/readout",
            &[],
            Some(
                r#"{"rows":[{"m":"a","t":0,"y":1}],"market":"m","time":"t","outcome":"y","treated_markets":["a"],"start":0,"duration":1}"#,
            ),
            token,
        ),
        "optimize-budget" => request(
            "POST",
            "/api/v1/surfacing/optimize/causal",
            &[],
            Some(r#"{"records":{"metric":"conversions"},"plan":{"objective":{"type":"max_profit"}}}"#),
            token,
        ),
        "recommend-treatments" => request("GET", "/api/v1/surfacing/recommendations/treatments", &[], None, token),
        "treatment-effect" => request(
            "POST",
            "/api/v1/causal/treatment-effect",
            &[],
            Some(r#"{"rows":[{"y":1,"d":0,"x":1}],"outcome":"y","treatment":"d","covariates":["x"]}"#),
            token,
        ),
        "analyze-advanced" => request(
            "POST",
            "/api/v1/causal/analyze/advanced",
            &[],
            Some(
                r#"{"rows":[{"a":1}],"methods":[{"method":"iv","outcome":"a","endogenous":["a"],"instruments":["a"]}]}"#,
            ),
            token,
        ),
        "get-causal-job" => request("GET", "/api/v1/causal/jobs/job-1", &[], None, token),
        "llm-insights" => request(
            "POST",
            "/api/v1/llm/causal/insights",
            &[],
            Some(r#"{"analysis":{"job_id":"job-1"},"confidence_level":0.9}"#),
            token,
        ),
        "llm-counterfactual" => {
            request("POST", "/api/v1/llm/causal/counterfactual", &[], Some(r#"{"analysis":{"job_id":"job-1"}}"#), token)
        }
        "kse-search" => request("POST", "/api/v1/kse/search", &[], Some(r#"{"query":"what drives revenue?"}"#), token),
        "kse-graph" => request("GET", "/api/v1/kse/graph", &[("node", "meta:spend")], None, token),
        "kse-similar" => request("GET", "/api/v1/kse/similar", &[("node", "meta"), ("profile", "effect")], None, token),
        "kse-graph-build" => request("POST", "/api/v1/kse/graph/build", &[], None, token),
        // any other route: its sample event `events/<function>.ok.json` (so a new endpoint
        // needs no arm here)
        function => sample_request(function, token),
    }
}

/// The method, path, query and body of `events/<function>.ok.json`, with `token` as the bearer.
fn sample_request(function: &str, token: Option<&str>) -> Request {
    let v: Value = serde_json::from_str(&liftos_tests::events::text(&format!("{function}.ok.json")))
        .unwrap_or_else(|e| panic!("events/{function}.ok.json: {e}"));
    let method = v["requestContext"]["http"]["method"].as_str().expect("method");
    let path = v["rawPath"].as_str().expect("rawPath");
    let query: Vec<(String, String)> = v["queryStringParameters"]
        .as_object()
        .map(|q| q.iter().map(|(k, x)| (k.clone(), x.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    let pairs: Vec<(&str, &str)> = query.iter().map(|(k, x)| (k.as_str(), x.as_str())).collect();
    request(method, path, &pairs, v["body"].as_str(), token)
}

async fn seed(d: &Deps, org: &str) {
    let t = token(org, ADMIN);
    let r = call(
        d,
        liftos::api::memory::CREATE_EXPERIMENT,
        request("POST", "/api/v1/marketing/experiments", &[], Some(&experiment_body("exp-1", "draft")), Some(&t)),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", json_body(&r));
    let r = call(
        d,
        liftos::api::memory::INGEST_CAUSAL,
        request("POST", "/api/v1/marketing/ingest/causal", &[], Some(&records_body(3, Some("exp-1"))), Some(&t)),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", json_body(&r));
    let now = chrono::Utc::now();
    let v = liftos::domain::ConfounderVariable {
        org_id: liftos::domain::OrgId::new(org).expect("org"),
        platform: liftos::domain::Platform::Meta,
        variable_name: "black_friday".into(),
        variable_type: liftos::domain::VariableType::Holiday,
        detection_method: "holiday calendar (DE)".into(),
        confidence_score: 0.9,
        temporal_pattern: liftos::domain::TemporalPattern::Yearly,
        occurrences: 4,
        first_seen: now - chrono::Duration::days(3),
        last_seen: now,
    };
    d.stores.confounders.put_confounder(&v).await.expect("confounder");
}

async fn every_sample_event_gets_its_status(kind: Kind) {
    let e = env(kind).await;
    let d = e.deps(AuthSettings::ApiGateway).await;
    // The samples' caller is org "acme"; give it the sample experiment and records.
    let e: liftos::domain::NewExperiment =
        liftos::domain::error::from_json_str(liftos::service::pipeline::SAMPLE_EXPERIMENT).expect("sample");
    let e = e.into_experiment(&liftos::domain::OrgId::new("acme").expect("org"), chrono::Utc::now()).expect("valid");
    d.stores.experiments.create_experiment(&e).await.expect("create");
    let cases: &[(&str, Route, u16)] = &[
        ("create-experiment.ok.json", liftos::api::memory::CREATE_EXPERIMENT, 201),
        ("create-experiment.ok.json", liftos::api::memory::CREATE_EXPERIMENT, 200),
        ("create-experiment.bad-dates.json", liftos::api::memory::CREATE_EXPERIMENT, 400),
        ("create-experiment.forbidden.json", liftos::api::memory::CREATE_EXPERIMENT, 403),
        ("get-experiment.ok.json", liftos::api::memory::GET_EXPERIMENT, 200),
        ("get-experiment.not-found.json", liftos::api::memory::GET_EXPERIMENT, 404),
        ("list-experiments.ok.json", liftos::api::memory::LIST_EXPERIMENTS, 200),
        ("list-experiments.bad-status.json", liftos::api::memory::LIST_EXPERIMENTS, 400),
        ("update-experiment-status.bad-transition.json", liftos::api::memory::UPDATE_EXPERIMENT_STATUS, 400),
        ("update-experiment-status.ok.json", liftos::api::memory::UPDATE_EXPERIMENT_STATUS, 200),
        ("query-records.ok.json", liftos::api::memory::QUERY_RECORDS, 200),
        ("query-records.bad-date.json", liftos::api::memory::QUERY_RECORDS, 400),
        ("list-confounders.ok.json", liftos::api::memory::LIST_CONFOUNDERS, 200),
        ("list-confounders.bad-platform.json", liftos::api::memory::LIST_CONFOUNDERS, 400),
        ("query-audit-log.ok.json", liftos::api::memory::QUERY_AUDIT_LOG, 200),
        ("query-audit-log.forbidden.json", liftos::api::memory::QUERY_AUDIT_LOG, 403),
        ("design-experiment.ok.json", liftos::api::surfacing::DESIGN_EXPERIMENT, 200),
        ("design-experiment.bad-query.json", liftos::api::surfacing::DESIGN_EXPERIMENT, 400),
        ("design-experiment.forbidden.json", liftos::api::surfacing::DESIGN_EXPERIMENT, 403),
        ("causal-discover.ok.json", liftos::api::causal::CAUSAL_DISCOVER, 200),
        ("causal-discover.bad-method.json", liftos::api::causal::CAUSAL_DISCOVER, 400),
        ("treatment-effect.ok.json", liftos::api::causal::TREATMENT_EFFECT, 200),
        ("treatment-effect.missing-column.json", liftos::api::causal::TREATMENT_EFFECT, 400),
        ("analyze-advanced.ok.json", liftos::api::causal::ANALYZE_ADVANCED, 200),
        ("analyze-advanced.unknown-method.json", liftos::api::causal::ANALYZE_ADVANCED, 400),
        ("analyze-advanced.panel-outside-org.json", liftos::api::causal::ANALYZE_ADVANCED, 400),
        ("analyze-advanced.missing-roles.json", liftos::api::causal::ANALYZE_ADVANCED, 400),
        ("analyze-advanced.async.json", liftos::api::causal::ANALYZE_ADVANCED, 202),
        ("get-causal-job.not-found.json", liftos::api::causal::GET_CAUSAL_JOB, 404),
    ];
    for (event, ep, status) in cases {
        let resp = call(&d, *ep, http_request(event)).await;
        let body = json_body(&resp);
        assert_eq!(resp.status(), *status, "{event}: {body}");
        if *status >= 400 {
            assert!(body["error"].is_string() && body["message"].is_string(), "{event}: {body}");
            assert_eq!(body["request_id"], "JKJaXmPLvHcESHA=", "{event}");
        }
    }
    let listed =
        json_body(&call(&d, liftos::api::memory::LIST_EXPERIMENTS, http_request("list-experiments.ok.json")).await);
    assert_eq!(listed["items"].as_array().expect("items").len(), 0, "the sample experiment is completed now: {listed}");
    let bad = json_body(
        &call(&d, liftos::api::memory::CREATE_EXPERIMENT, http_request("create-experiment.bad-dates.json")).await,
    );
    assert_eq!(bad["field"], "end");
    let audit =
        json_body(&call(&d, liftos::api::memory::QUERY_AUDIT_LOG, http_request("query-audit-log.ok.json")).await);
    // Every call above was recorded with its outcome, refused ones included; each change was
    // also recorded as started before it ran.
    let items = audit["items"].as_array().expect("items");
    let outcomes: Vec<&serde_json::Value> = items.iter().filter(|e| e["outcome"] != "started").collect();
    assert_eq!(outcomes.len(), cases.len() + 2, "{audit}");
    for started in items.iter().filter(|e| e["outcome"] == "started") {
        let id = started["id"].as_str().expect("id").trim_end_matches(":started");
        assert!(outcomes.iter().any(|e| e["id"] == id && e["method"] != "GET"), "{started}");
    }
}

/// Expired, not-yet-valid, wrongly signed, wrong audience, `alg: none`, malformed and missing
/// tokens are 401 on every endpoint, with HS256 local keys and with RS256 against the JWKS.
async fn bad_tokens_are_401_everywhere(kind: Kind) {
    let e = env(kind).await;
    let key = fixture("test-rs256-private.pem");
    let other = fixture("test-rs256-other-private.pem");
    let hs = |secret: &str, aud: &str, ttl: i64| {
        mint_local(secret, ISS, AUD.replace("liftos", aud).as_str(), "acme", "u", ADMIN, &[], ttl).expect("t")
    };
    let rs = |k: &[u8], aud: &str, ttl: i64| {
        mint_rs256(k, Some("liftos-test-1"), ISS, aud, "acme", "u", ADMIN, ttl).expect("t")
    };
    let none = |t: &str| {
        use base64::Engine;
        let parts: Vec<&str> = t.split('.').collect();
        format!(
            "{}.{}.",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        )
    };
    let good_hs = hs(SECRET, "liftos", 600);
    let good_rs = rs(&key, AUD, 600);
    let cases: Vec<(AuthSettings, Vec<Option<String>>, String)> = vec![
        (
            local(),
            vec![
                None,
                Some(hs(SECRET, "liftos", -600)),
                Some(hs("another-secret-another-secret-another!", "liftos", 600)),
                Some(hs(SECRET, "other", 600)),
                Some(none(&good_hs)),
                Some("not-a-jwt".into()),
                Some(good_rs.clone()),
            ],
            good_hs.clone(),
        ),
        (
            jwks(),
            vec![
                None,
                Some(rs(&key, AUD, -600)),
                Some(rs(&other, AUD, 600)),
                Some(rs(&key, "other", 600)),
                Some(none(&good_rs)),
                Some("a.b.c".into()),
                Some(good_hs.clone()),
            ],
            good_rs.clone(),
        ),
    ];
    for (auth, bad, good) in cases {
        let d = e.deps(auth.clone()).await;
        for &ep in ENDPOINTS.iter() {
            for t in &bad {
                let resp = call(&d, ep, valid_request(ep, t.as_deref())).await;
                assert_eq!(resp.status(), 401, "{auth:?} {} with {t:?}", ep.function);
                assert_eq!(resp.headers()["www-authenticate"], "Bearer");
                assert_eq!(json_body(&resp)["error"], "unauthorized");
            }
            let resp = call(&d, ep, valid_request(ep, Some(&good))).await;
            assert_ne!(resp.status(), 401, "{auth:?} {}: {}", ep.function, json_body(&resp));
        }
    }
    // Not yet valid (nbf an hour ahead).
    let now = chrono::Utc::now().timestamp();
    let claims = liftos::runtime::auth::Claims {
        sub: "u".into(),
        roles: vec!["causal_admin".into()],
        permissions: vec![],
        iss: ISS.into(),
        aud: AUD.into(),
        exp: now + 7200,
        nbf: Some(now + 3600),
        iat: Some(now),
        other: [("org_id".to_string(), serde_json::Value::from("acme"))].into(),
    };
    let future = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("t");
    let d = e.deps(local()).await;
    for &ep in ENDPOINTS.iter() {
        assert_eq!(call(&d, ep, valid_request(ep, Some(&future))).await.status(), 401, "{}", ep.function);
    }
}

/// Each endpoint needs its permission: without it 403 (and nothing changes); the roles grant
/// what the spec says.
async fn each_endpoint_needs_its_permission(kind: Kind) {
    let e = env(kind).await;
    let d = e.deps(local()).await;
    seed(&d, "acme").await;
    let nobody = token("acme", &[]);
    for &ep in ENDPOINTS.iter() {
        let resp = call(&d, ep, valid_request(ep, Some(&nobody))).await;
        let body = json_body(&resp);
        assert_eq!(resp.status(), 403, "{}: {body}", ep.function);
        assert!(body["message"].as_str().unwrap_or("").contains(ep.permission), "{body}");
        // Exactly the declared permission is enough.
        let only = mint_local(SECRET, ISS, AUD, "acme", "u", &[], &[ep.permission], 600).expect("t");
        let resp = call(&d, ep, valid_request(ep, Some(&only))).await;
        assert_ne!(resp.status(), 403, "{} with {}: {}", ep.function, ep.permission, json_body(&resp));
    }
    // The analyst reads but neither writes nor manages experiments nor reads the audit log.
    let analyst = token("acme", ANALYST);
    for &ep in ENDPOINTS.iter() {
        let status = call(&d, ep, valid_request(ep, Some(&analyst))).await.status().as_u16();
        let may = matches!(ep.permission, "causal:data:read" | "causal:analysis:run");
        assert_eq!(status == 403, !may, "analyst on {}: {status}", ep.function);
    }
    // Nothing was written by the refused calls: still the one seeded experiment and 3 records.
    let admin = token("acme", ADMIN);
    let list = json_body(
        &call(
            &d,
            liftos::api::memory::LIST_EXPERIMENTS,
            valid_request(liftos::api::memory::LIST_EXPERIMENTS, Some(&admin)),
        )
        .await,
    );
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
}

/// Org B can neither read, change nor learn of org A's data through any endpoint, with A's ids.
async fn no_endpoint_crosses_orgs(kind: Kind) {
    let e = env(kind).await;
    let d = e.deps(local()).await;
    seed(&d, "org-a").await;
    let b = token("org-b", ADMIN);
    // A's knowledge graph: B's reads of its nodes look exactly like reads of nodes that do not
    // exist, and B's questions never reach it.
    let a = token("org-a", ADMIN);
    let built = call(&d, liftos::api::kse::KSE_BUILD, valid_request(liftos::api::kse::KSE_BUILD, Some(&a))).await;
    assert_eq!(built.status(), 200, "{}", json_body(&built));
    let mine = call(&d, liftos::api::kse::KSE_GRAPH, valid_request(liftos::api::kse::KSE_GRAPH, Some(&a))).await;
    assert_eq!(mine.status(), 200, "{}", json_body(&mine));
    for ep in [liftos::api::kse::KSE_GRAPH, liftos::api::kse::KSE_SIMILAR, liftos::api::kse::KSE_SEARCH] {
        let theirs = call(&d, ep, valid_request(ep, Some(&b))).await;
        assert_eq!(theirs.status(), 404, "{}: {}", ep.function, json_body(&theirs));
        assert!(!json_body(&theirs).to_string().contains("org-a"), "{}", json_body(&theirs));
    }
    // Reads of A's ids look exactly like reads of ids that do not exist.
    for (ep, path) in [
        (liftos::api::memory::GET_EXPERIMENT, "/api/v1/marketing/experiments/exp-1"),
        (liftos::api::memory::GET_EXPERIMENT_CAUSAL, "/api/v1/marketing/causal/exp-1"),
    ] {
        let theirs = call(&d, ep, request("GET", path, &[], None, Some(&b))).await;
        let missing = call(&d, ep, request("GET", &path.replace("exp-1", "exp-none"), &[], None, Some(&b))).await;
        assert_eq!(theirs.status(), 404);
        assert_eq!(json_body(&theirs)["error"], json_body(&missing)["error"]);
    }
    let r = call(
        &d,
        liftos::api::memory::UPDATE_EXPERIMENT_STATUS,
        request("PATCH", "/api/v1/marketing/experiments/exp-1/status", &[], Some(r#"{"status":"running"}"#), Some(&b)),
    )
    .await;
    assert_eq!(r.status(), 404);
    for ep in [
        liftos::api::memory::LIST_EXPERIMENTS,
        liftos::api::memory::QUERY_RECORDS,
        liftos::api::memory::QUERY_AUDIT_LOG,
    ] {
        let r = json_body(&call(&d, ep, valid_request(ep, Some(&b))).await);
        let items = r["items"].as_array().expect("items");
        assert!(items.iter().all(|i| i["org_id"] == "org-b"), "{}: {r}", ep.function);
        if ep.function != "query-audit-log" {
            assert!(items.is_empty(), "{}: {r}", ep.function);
        }
    }
    let conf = json_body(
        &call(
            &d,
            liftos::api::memory::LIST_CONFOUNDERS,
            valid_request(liftos::api::memory::LIST_CONFOUNDERS, Some(&b)),
        )
        .await,
    );
    assert_eq!(conf["total_variables"], 0);
    // B creating the same id makes B's own experiment (201), A's is untouched.
    let r = call(
        &d,
        liftos::api::memory::CREATE_EXPERIMENT,
        request("POST", "/api/v1/marketing/experiments", &[], Some(&experiment_body("exp-1", "running")), Some(&b)),
    )
    .await;
    assert_eq!(r.status(), 201);
    let a = token("org-a", ADMIN);
    let mine = json_body(
        &call(
            &d,
            liftos::api::memory::GET_EXPERIMENT,
            request("GET", "/api/v1/marketing/experiments/exp-1", &[], None, Some(&a)),
        )
        .await,
    );
    assert_eq!((mine["org_id"].as_str(), mine["status"].as_str()), (Some("org-a"), Some("draft")));
    // A body naming another org is refused, not obeyed.
    let mut body: Value = serde_json::from_str(&experiment_body("exp-2", "draft")).expect("json");
    body["org_id"] = json!("org-a");
    let r = call(
        &d,
        liftos::api::memory::CREATE_EXPERIMENT,
        request("POST", "/api/v1/marketing/experiments", &[], Some(&body.to_string()), Some(&b)),
    )
    .await;
    assert_eq!((r.status().as_u16(), json_body(&r)["field"].as_str()), (400, Some("org_id")));
    // A's cursor is refused for B.
    let page = json_body(
        &call(
            &d,
            liftos::api::memory::QUERY_RECORDS,
            request("GET", "/api/v1/marketing/records", &[("platform", "meta"), ("limit", "1")], None, Some(&a)),
        )
        .await,
    );
    let cursor = page["next_cursor"].as_str().expect("cursor").to_string();
    let r = call(
        &d,
        liftos::api::memory::QUERY_RECORDS,
        request(
            "GET",
            "/api/v1/marketing/records",
            &[("platform", "meta"), ("limit", "1"), ("cursor", &cursor)],
            None,
            Some(&b),
        ),
    )
    .await;
    assert_eq!((r.status().as_u16(), json_body(&r)["field"].as_str()), (400, Some("cursor")));
    // B's audit log holds only B's accesses.
    let audit = json_body(
        &call(&d, liftos::api::memory::QUERY_AUDIT_LOG, valid_request(liftos::api::memory::QUERY_AUDIT_LOG, Some(&b)))
            .await,
    );
    assert!(audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|e| e["org_id"] == "org-b" && e["user_id"] == "user-of-org-b"));
}

/// Bad input: 4xx naming the field, never a 5xx.
async fn bad_input_gets_a_clear_4xx(kind: Kind) {
    let e = env(kind).await;
    let d = e.deps(local()).await;
    seed(&d, "acme").await;
    let t = token("acme", ADMIN);
    let e = "/api/v1/marketing/experiments";
    let big = "x".repeat(6 * 1024 * 1024);
    let cases: Vec<(Route, Request, u16, Option<&str>)> = vec![
        (liftos::api::memory::CREATE_EXPERIMENT, request("POST", e, &[], Some("{"), Some(&t)), 400, Some("body")),
        (liftos::api::memory::CREATE_EXPERIMENT, request("POST", e, &[], Some("[]"), Some(&t)), 400, Some("body")),
        (liftos::api::memory::CREATE_EXPERIMENT, request("POST", e, &[], None, Some(&t)), 400, Some("body")),
        (liftos::api::memory::CREATE_EXPERIMENT, request("POST", e, &[], Some(&big), Some(&t)), 413, None),
        (liftos::api::memory::CREATE_EXPERIMENT, request("POST", e, &[], Some(r#"{"id":"x"}"#), Some(&t)), 400, None),
        (
            liftos::api::memory::CREATE_EXPERIMENT,
            request("POST", e, &[], Some(&experiment_body("exp-9", "draft").replace("\"campaign\"", "5")), Some(&t)),
            400,
            Some("randomization_unit"),
        ),
        (
            liftos::api::memory::CREATE_EXPERIMENT,
            request("POST", e, &[], Some(&experiment_body("exp 9", "draft")), Some(&t)),
            400,
            Some("id"),
        ),
        (
            liftos::api::memory::CREATE_EXPERIMENT,
            request("POST", e, &[], Some(&experiment_body("exp-9", "paused")), Some(&t)),
            400,
            Some("status"),
        ),
        (
            liftos::api::memory::CREATE_EXPERIMENT,
            request(
                "POST",
                e,
                &[],
                Some(&experiment_body("exp-9", "draft").replace("2026-09-30T00:00:00Z", "yesterday")),
                Some(&t),
            ),
            400,
            Some("end"),
        ),
        (
            liftos::api::memory::CREATE_EXPERIMENT,
            request("POST", e, &[], Some(&experiment_body("exp-1", "running")), Some(&t)),
            409,
            None,
        ),
        (
            liftos::api::memory::UPDATE_EXPERIMENT_STATUS,
            request("PATCH", &format!("{e}/exp-1/status"), &[], Some(r#"{"status":"completed"}"#), Some(&t)),
            400,
            Some("status"),
        ),
        (
            liftos::api::memory::UPDATE_EXPERIMENT_STATUS,
            request("PATCH", &format!("{e}/exp-1/status"), &[], Some(r#"{"status":"running","extra":1}"#), Some(&t)),
            400,
            None,
        ),
        (
            liftos::api::memory::UPDATE_EXPERIMENT_STATUS,
            request(
                "PATCH",
                &format!("{e}/exp-1/status"),
                &[],
                Some(r#"{"status":"running","expected_updated_at":"2020-01-01T00:00:00Z"}"#),
                Some(&t),
            ),
            409,
            None,
        ),
        (
            liftos::api::memory::GET_EXPERIMENT,
            request("GET", &format!("{e}/bad%20id"), &[], None, Some(&t)),
            400,
            Some("experiment_id"),
        ),
        (
            liftos::api::memory::LIST_EXPERIMENTS,
            request("GET", e, &[("limit", "0")], None, Some(&t)),
            400,
            Some("limit"),
        ),
        (
            liftos::api::memory::LIST_EXPERIMENTS,
            request("GET", e, &[("limit", "ten")], None, Some(&t)),
            400,
            Some("limit"),
        ),
        (
            liftos::api::memory::LIST_EXPERIMENTS,
            request("GET", e, &[("cursor", "garbage")], None, Some(&t)),
            400,
            Some("cursor"),
        ),
        (
            liftos::api::memory::LIST_EXPERIMENTS,
            request("GET", e, &[("stauts", "running")], None, Some(&t)),
            400,
            Some("stauts"),
        ),
        (
            liftos::api::memory::QUERY_RECORDS,
            request("GET", "/api/v1/marketing/records", &[], None, Some(&t)),
            400,
            Some("platform"),
        ),
        (
            liftos::api::memory::QUERY_RECORDS,
            request(
                "GET",
                "/api/v1/marketing/records",
                &[("platform", "meta"), ("start", "2026-10-02"), ("end", "2026-10-01")],
                None,
                Some(&t),
            ),
            400,
            Some("start"),
        ),
        (
            liftos::api::memory::QUERY_RECORDS,
            request("GET", "/api/v1/marketing/records", &[("platform", "meta"), ("end", "31/10/2026")], None, Some(&t)),
            400,
            Some("end"),
        ),
        (
            liftos::api::memory::QUERY_RECORDS,
            request("GET", "/api/v1/marketing/records", &[("platform", "meta"), ("campaign_id", "")], None, Some(&t)),
            400,
            Some("campaign_id"),
        ),
        (
            liftos::api::memory::LIST_CONFOUNDERS,
            request("GET", "/api/v1/marketing/confounders", &[("platform", "myspace")], None, Some(&t)),
            400,
            Some("platform"),
        ),
        (
            liftos::api::memory::QUERY_AUDIT_LOG,
            request("GET", "/api/v1/marketing/audit", &[("start", "0000-01-01")], None, Some(&t)),
            400,
            Some("start"),
        ),
    ];
    for (ep, req, status, field) in cases {
        let resp = call(&d, ep, req).await;
        let body = json_body(&resp);
        assert_eq!(resp.status(), status, "{}: {body}", ep.function);
        assert!(body["message"].is_string(), "{body}");
        if let Some(f) = field {
            assert_eq!(body["field"], f, "{}: {body}", ep.function);
        }
    }
}

/// Records page with an opaque cursor: every record once, in time order; experiments too.
async fn pagination_walks_every_item_once(kind: Kind) {
    let e = env(kind).await;
    let d = e.deps(local()).await;
    let t = token("acme", ADMIN);
    let r = call(
        &d,
        liftos::api::memory::INGEST_CAUSAL,
        request("POST", "/api/v1/marketing/ingest/causal", &[], Some(&records_body(25, None)), Some(&t)),
    )
    .await;
    assert_eq!(r.status(), 200);
    for i in 0..7 {
        let r = call(
            &d,
            liftos::api::memory::CREATE_EXPERIMENT,
            request(
                "POST",
                "/api/v1/marketing/experiments",
                &[],
                Some(&experiment_body(&format!("exp-{i}"), "draft")),
                Some(&t),
            ),
        )
        .await;
        assert_eq!(r.status(), 201);
    }
    for (ep, path, query, total) in [
        (
            liftos::api::memory::QUERY_RECORDS,
            "/api/v1/marketing/records",
            vec![("platform", "meta"), ("start", "2026-09-01"), ("end", "2026-09-30")],
            25usize,
        ),
        (liftos::api::memory::LIST_EXPERIMENTS, "/api/v1/marketing/experiments", vec![], 7),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut q = query.clone();
            q.push(("limit", "10"));
            if let Some(c) = &cursor {
                q.push(("cursor", c.as_str()));
            }
            let body = json_body(&call(&d, ep, request("GET", path, &q, None, Some(&t))).await);
            pages += 1;
            let items = body["items"].as_array().expect("items");
            assert!(items.len() <= 10);
            seen.extend(items.iter().map(|i| i["id"].as_str().expect("id").to_string()));
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len(), pages), (total, total, total.div_ceil(10)), "{}", ep.function);
    }
}

/// Every access is in the audit log with who, what, when and the outcome; refused ones too.
async fn the_audit_log_records_every_access(kind: Kind) {
    let e = env(kind).await;
    let d = e.deps(local()).await;
    seed(&d, "acme").await;
    let analyst = token("acme", ANALYST);
    let admin = token("acme", ADMIN);
    call(
        &d,
        liftos::api::memory::GET_EXPERIMENT,
        request("GET", "/api/v1/marketing/experiments/exp-1", &[], None, Some(&analyst)),
    )
    .await;
    call(
        &d,
        liftos::api::memory::CREATE_EXPERIMENT,
        request("POST", "/api/v1/marketing/experiments", &[], Some(&experiment_body("exp-2", "draft")), Some(&analyst)),
    )
    .await;
    call(
        &d,
        liftos::api::memory::QUERY_RECORDS,
        request("GET", "/api/v1/marketing/records", &[("platform", "nope")], None, Some(&analyst)),
    )
    .await;
    // A request without a verified token has no org to be filed under: not in any org's log.
    call(
        &d,
        liftos::api::memory::GET_EXPERIMENT,
        request("GET", "/api/v1/marketing/experiments/exp-1", &[], None, None),
    )
    .await;
    let log = json_body(
        &call(
            &d,
            liftos::api::memory::QUERY_AUDIT_LOG,
            request("GET", "/api/v1/marketing/audit", &[("limit", "3")], None, Some(&admin)),
        )
        .await,
    );
    let items = log["items"].as_array().expect("items");
    let got: Vec<(&str, &str, u64, &str, &str)> = items
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["user_id"].as_str().unwrap_or(""),
                e["status"].as_u64().unwrap_or(0),
                e["outcome"].as_str().unwrap_or(""),
                e["resource"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("records.query", "user-of-acme", 400, "rejected", "/api/v1/marketing/records"),
            ("experiments.create", "user-of-acme", 403, "denied", "/api/v1/marketing/experiments"),
            ("experiments.get", "user-of-acme", 200, "allowed", "/api/v1/marketing/experiments/exp-1"),
        ]
    );
    assert!(items.iter().all(|e| e["org_id"] == "acme" && e["request_id"] == "req-test" && e["at"].is_string()));
    // The whole log: the 2 seeding calls, the 3 above, and this admin's earlier read (and the
    // started entries of the two changes among them).
    let all = json_body(
        &call(
            &d,
            liftos::api::memory::QUERY_AUDIT_LOG,
            request("GET", "/api/v1/marketing/audit", &[], None, Some(&admin)),
        )
        .await,
    );
    let all = all["items"].as_array().expect("items");
    assert_eq!(all.iter().filter(|e| e["outcome"] != "started").count(), 6, "{all:?}");
    assert_eq!(all.iter().filter(|e| e["outcome"] == "started").count(), 2, "{all:?}");
}

/// A body that is not UTF-8 (API Gateway delivers it base64-encoded) is a 400, not a 5xx.
#[tokio::test]
async fn a_binary_body_is_a_400() {
    use base64::Engine;
    let e = env(Kind::Embedded).await;
    let d = e.deps(local()).await;
    let t = token("acme", ADMIN);
    let mut ev: Value = serde_json::from_str(&liftos_tests::events::text("create-experiment.ok.json")).expect("event");
    ev["requestContext"].as_object_mut().expect("ctx").remove("authorizer");
    ev["headers"]["authorization"] = Value::String(format!("Bearer {t}"));
    ev["body"] = Value::String(base64::engine::general_purpose::STANDARD.encode([0xff, 0x16, 0x5e, 0x1a, 0x0e, 0xfe]));
    ev["isBase64Encoded"] = Value::Bool(true);
    for ep in [
        liftos::api::memory::CREATE_EXPERIMENT,
        liftos::api::memory::INGEST_CAUSAL,
        liftos::api::memory::UPDATE_EXPERIMENT_STATUS,
    ] {
        ev["requestContext"]["http"]["method"] = Value::String(ep.method.to_string());
        let req = lambda_http::request::from_str(&ev.to_string()).expect("request");
        let resp = call(&d, ep, req).await;
        assert_eq!(resp.status(), 400, "{}: {}", ep.function, json_body(&resp));
    }
}

/// Behind a function URL (or `cargo lambda watch`) any method reaches the function: the wrong
/// one is a 405 naming the right one, before anything else.
#[tokio::test]
async fn a_wrong_method_is_a_405() {
    let e = env(Kind::Embedded).await;
    let d = e.deps(local()).await;
    let t = token("acme", ADMIN);
    for &ep in ENDPOINTS.iter() {
        let mut req = valid_request(ep, Some(&t));
        *req.method_mut() =
            if ep.method == "GET" { lambda_http::http::Method::DELETE } else { lambda_http::http::Method::GET };
        let resp = call(&d, ep, req).await;
        assert_eq!(resp.status(), 405, "{}", ep.function);
        assert_eq!(resp.headers()["allow"], ep.method);
        assert_eq!(json_body(&resp)["error"], "method_not_allowed");
    }
}
