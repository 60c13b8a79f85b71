//! The causal endpoints on inline rows give exactly what the estimators give on the same data,
//! and bad requests name the column or setting.

use liftos::config::{AuthSettings, Backend, Config};
use liftos::runtime::{handlers, Deps};
use liftos::service::causal::table_from_rows;
use liftos::service::estimate::{self, DiscoverRequest, EffectRequest};
use liftos::storage::Stores;
use liftos_tests::events::{http_request, json_body, text};
use std::sync::Arc;

fn deps(dir: &std::path::Path) -> Deps {
    let config = Config {
        backend: Backend::Embedded { data_dir: dir.to_path_buf() },
        auth: AuthSettings::ApiGateway,
        next_queue_url: None,
        dlq_url: None,
    };
    Deps { config: Arc::new(config), stores: Stores::embedded(dir).expect("open"), next_queue: None, dlq: None }
}

fn body_of(event: &str) -> serde_json::Value {
    let ev: serde_json::Value = serde_json::from_str(&text(event)).expect("event");
    serde_json::from_str(ev["body"].as_str().expect("body")).expect("json")
}

fn rows(b: &serde_json::Value) -> Vec<serde_json::Map<String, serde_json::Value>> {
    b["rows"].as_array().expect("rows").iter().map(|r| r.as_object().expect("row").clone()).collect()
}

#[tokio::test]
async fn endpoints_match_the_estimators() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    // Treatment effect (AIPW, ATE, refutations).
    let resp = handlers::treatment_effect_http(&d, http_request("treatment-effect.ok.json")).await;
    let got = json_body(&resp);
    assert_eq!(resp.status(), 200, "{got}");
    let b = body_of("treatment-effect.ok.json");
    let req: EffectRequest = serde_json::from_value(b.clone()).expect("request");
    let want = estimate::effect(&table_from_rows(&rows(&b)).expect("table"), &req).expect("effect");
    // The whole result, refutations (seeded) included.
    assert_eq!(got, want);
    assert!(!got["e_value"].is_null() && !got["overlap"].is_null(), "{got}");
    // Discovery (PC with tiers).
    let resp = handlers::causal_discover_http(&d, http_request("causal-discover.ok.json")).await;
    let got = json_body(&resp);
    assert_eq!(resp.status(), 200, "{got}");
    let b = body_of("causal-discover.ok.json");
    let req: DiscoverRequest = serde_json::from_value(b.clone()).expect("request");
    let want = estimate::discover(&table_from_rows(&rows(&b)).expect("table"), &req).expect("discover");
    assert_eq!(got, want);
    assert!(!got["edges"].as_array().expect("edges").is_empty());
    // Errors name the field.
    for (event, field) in
        [("causal-discover.bad-method.json", "method"), ("treatment-effect.missing-column.json", "x9")]
    {
        let resp = if event.starts_with("causal") {
            handlers::causal_discover_http(&d, http_request(event)).await
        } else {
            handlers::treatment_effect_http(&d, http_request(event)).await
        };
        let out = json_body(&resp);
        assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some(field)), "{out}");
    }
    // Rows of different shapes, nested values, none at all.
    for (rows, field) in
        [(r#"[{"a":1},{"b":2}]"#, "rows[1]"), (r#"[{"a":{"x":1}},{"a":2}]"#, "rows[0].a"), (r#"[]"#, "rows")]
    {
        let mut ev: serde_json::Value = serde_json::from_str(&text("causal-discover.ok.json")).expect("event");
        ev["body"] = serde_json::Value::String(format!(r#"{{"rows":{rows}}}"#));
        let req = lambda_http::request::from_str(&ev.to_string()).expect("request");
        let resp = handlers::causal_discover_http(&d, req).await;
        let out = json_body(&resp);
        assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some(field)), "{out}");
    }
}
