//! Warm handler latency of the causal endpoints, measured the way API Gateway calls them: an
//! HTTP API event with verified claims into `analyze_advanced_http`, data read from the
//! embedded panel store (a file, as S3 would hand back bytes), the estimator, the JSON answer
//! and the audit entry. One warm-up call, then the median / p95 / min of `LATENCY_RUNS` calls
//! (default 20). The spec's target is under 500 ms.
//!
//!   cargo bench -p liftos --features "lambda demo" --bench latency
//!
//! Prints one JSON object per case.

use std::time::Instant;

use liftos::config::{AuthSettings, Backend, Config};
use liftos::domain::OrgId;
use liftos::runtime::{handlers, Deps};
use liftos::storage::Stores;

/// A simple deterministic generator (the same numbers on every machine).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-12), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// 1,000 units x 100 periods: half treated from period 60, true effect 2.
fn did_panel() -> String {
    let mut r = Lcg(7);
    let mut s = String::from("unit,time,y,d\n");
    for u in 0..1000 {
        let a = r.normal();
        for t in 0..100 {
            let d = u8::from(u < 500 && t >= 60);
            let y = a + 0.05 * t as f64 + 2.0 * f64::from(d) + r.normal();
            s.push_str(&format!("u{u:04},{t},{y:.6},{d}\n"));
        }
    }
    s
}

/// 101 units x 40 periods, unit u000 treated from period 30 (effect 3), 100 donors.
fn synth_panel() -> String {
    let mut r = Lcg(11);
    let factors: Vec<f64> = (0..40).map(|t| (t as f64 / 6.0).sin()).collect();
    let mut s = String::from("unit,time,y\n");
    for u in 0..101 {
        let (level, load) = (10.0 + 3.0 * r.next(), 0.5 + r.next());
        for (t, f) in factors.iter().enumerate() {
            let effect = if u == 0 && t >= 30 { 3.0 } else { 0.0 };
            let y = level + load * f + 0.02 * t as f64 + effect + 0.3 * r.normal();
            s.push_str(&format!("u{u:03},{t},{y:.6}\n"));
        }
    }
    s
}

fn request(body: &serde_json::Value) -> lambda_http::Request {
    request_to("/api/v1/causal/analyze/advanced", body)
}

fn request_to(path: &str, body: &serde_json::Value) -> lambda_http::Request {
    let ev = serde_json::json!({
        "version": "2.0", "routeKey": format!("POST {path}"),
        "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "bench", "domainPrefix": "bench",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench", "routeKey": format!("POST {path}"), "stage": "$default",
            "time": "27/Nov/2026:15:00:00 +0000", "timeEpoch": 1_795_791_600_000_i64,
            "authorizer": {"jwt": {"claims": {"sub": "bench", "org_id": "bench", "roles": "[causal_analyst]"}, "scopes": null}}
        },
        "body": body.to_string(), "isBase64Encoded": false
    });
    lambda_http::request::from_str(&ev.to_string()).expect("event")
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn call(deps: &Deps, name: &str, body: &serde_json::Value) -> lambda_http::Response<lambda_http::Body> {
    if name.starts_with("insights") {
        handlers::llm_insights_http(deps, request_to("/api/v1/llm/causal/insights", body)).await
    } else {
        handlers::analyze_advanced_http(deps, request(body)).await
    }
}

async fn measure(deps: &Deps, name: &str, body: serde_json::Value, runs: usize, extra: serde_json::Value) {
    let first = Instant::now();
    let resp = call(deps, name, &body).await;
    let first_ms = first.elapsed().as_secs_f64() * 1e3;
    assert_eq!(resp.status(), 200, "{name}: {:?}", resp.body());
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let resp = call(deps, name, &body).await;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(resp.status(), 200);
    }
    times.sort_by(f64::total_cmp);
    let mut out = serde_json::json!({
        "case": name, "runs": runs,
        "median_ms": percentile(&times, 0.5), "p95_ms": percentile(&times, 0.95), "min_ms": times[0],
        "first_call_ms": first_ms,
    });
    if let (Some(o), Some(e)) = (out.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    println!("{out}");
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("LATENCY_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().expect("dir");
    let deps = Deps {
        config: std::sync::Arc::new(Config::new(
            Backend::Embedded { data_dir: dir.path().to_path_buf() },
            AuthSettings::ApiGateway,
        )),
        stores: Stores::embedded(dir.path()).expect("store"),
        next_queue: None,
        dlq: None,
    };
    let org = OrgId::new("bench").expect("org");
    let did = did_panel();
    let did_bytes = did.len();
    deps.stores.panels.put_panel(&org, "panels/did.csv", bytes::Bytes::from(did)).await.expect("put");
    let synth = synth_panel();
    deps.stores.panels.put_panel(&org, "panels/synth.csv", bytes::Bytes::from(synth)).await.expect("put");

    let did_method =
        serde_json::json!({"method": "did", "unit": "unit", "time": "time", "outcome": "y", "treatment": "d"});
    measure(
        &deps,
        "did_100k_rows_panel",
        serde_json::json!({"panel": {"key": "panels/did.csv"}, "methods": [did_method]}),
        runs,
        serde_json::json!({"rows": 100_000, "panel_bytes": did_bytes}),
    )
    .await;
    // The same rows inline in the body (4.4 MB of JSON, under the 5 MiB cap).
    let table = liftos::service::source::parse_panel(did_panel().as_bytes(), liftos::service::source::PanelFormat::Csv)
        .expect("table");
    let (units, times, ys, ds) = (
        table.labels("unit").expect("unit"),
        table.numeric("time").expect("time"),
        table.numeric("y").expect("y"),
        table.numeric("d").expect("d"),
    );
    let rows: Vec<serde_json::Value> = (0..table.rows)
        .map(|i| serde_json::json!({"unit": units[i], "time": times[i], "y": ys[i], "d": ds[i]}))
        .collect();
    let inline = serde_json::json!({"rows": rows, "methods": [did_method]});
    let inline_bytes = inline.to_string().len();
    measure(
        &deps,
        "did_100k_rows_inline",
        inline,
        runs,
        serde_json::json!({"rows": 100_000, "body_bytes": inline_bytes}),
    )
    .await;
    // The estimator alone on the parsed table, to split compute from reading and parsing.
    let mut settings = did_method.clone();
    settings.as_object_mut().expect("method").remove("method");
    let req: liftos::service::estimate::DidRequest = serde_json::from_value(settings).expect("did");
    let mut est = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        liftos::service::estimate::did(&table, &req).expect("did");
        est.push(t.elapsed().as_secs_f64() * 1e3);
    }
    est.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({"case": "did_100k_rows_estimator_only", "runs": runs, "median_ms": percentile(&est, 0.5), "min_ms": est[0]})
    );

    // The LLM module's template path: the same DiD run and explained, and a stored result explained.
    measure(
        &deps,
        "insights_did_100k_rows_panel",
        serde_json::json!({"analysis": {"request": {"panel": {"key": "panels/did.csv"}, "methods": [did_method]}}, "confidence_level": 0.9}),
        runs,
        serde_json::json!({"rows": 100_000, "narrator": "template"}),
    )
    .await;
    let answer = handlers::analyze_advanced_http(
        &deps,
        request(&serde_json::json!({"panel": {"key": "panels/did.csv"}, "methods": [did_method]})),
    )
    .await;
    let result: serde_json::Value = match answer.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).expect("json"),
        lambda_http::Body::Binary(b) => serde_json::from_slice(b).expect("json"),
        _ => serde_json::Value::Null,
    };
    measure(
        &deps,
        "insights_of_a_result",
        serde_json::json!({"analysis": {"result": result}, "confidence_level": 0.9, "audience": "analyst"}),
        runs,
        serde_json::json!({"narrator": "template"}),
    )
    .await;

    let synth_method = serde_json::json!({"method": "synth", "unit": "unit", "time": "time", "outcome": "y", "treated_unit": "u000", "treatment_time": 30});
    measure(
        &deps,
        "synth_100_donors_panel",
        serde_json::json!({"panel": {"key": "panels/synth.csv"}, "methods": [synth_method]}),
        runs,
        serde_json::json!({"donors": 100, "periods": 40, "pre_periods": 30}),
    )
    .await;
}
