//! The functions (`functions/src/bin/<name>.rs`), the workspace members, the SAM template's
//! functions and the sample events agree: every function is declared, built with cargo-lambda,
//! and has samples.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The Lambdas: the binaries of the `functions` crate, one file each.
fn function_names() -> BTreeSet<String> {
    std::fs::read_dir(root().join("functions/src/bin"))
        .expect("functions/src/bin/")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".rs").map(str::to_string))
        .collect()
}

#[test]
fn template_declares_every_function_and_only_those() {
    let template = read("infra/template.yaml");
    let binaries: BTreeSet<String> =
        template.lines().filter_map(|l| l.trim().strip_prefix("Binary:")).map(|b| b.trim().to_string()).collect();
    assert_eq!(binaries, function_names(), "template Binary entries vs functions/src/bin/");
    let build_methods = template.matches("BuildMethod: rust-cargolambda").count();
    assert_eq!(build_methods, binaries.len(), "every function is built with cargo-lambda");
    assert!(template.contains("FunctionResponseTypes: [ReportBatchItemFailures]"));
    assert!(template.contains("deadLetterTargetArn"));
}

#[test]
fn every_function_is_a_binary_of_the_functions_member_with_samples() {
    let manifest = read("Cargo.toml");
    assert!(manifest.contains("\"functions\","), "the functions crate is a workspace member");
    let own = read("functions/Cargo.toml");
    assert!(!own.contains("[[bin]]"), "the binaries are found from src/bin/, not listed");
    let events: Vec<String> = std::fs::read_dir(root().join("events"))
        .expect("events/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for f in function_names() {
        let main = read(&format!("functions/src/bin/{f}.rs"));
        assert!(main.contains("liftos::") && main.contains("_function!("), "{f}: one of the runtime's mains");
        assert!(events.iter().any(|e| e.starts_with(&format!("{f}."))), "events/{f}.<case>.json exists");
    }
    for e in &events {
        let f = e.split('.').next().unwrap_or_default();
        assert!(function_names().contains(f), "events/{e} belongs to no function");
        let v: serde_json::Value =
            serde_json::from_str(&read(&format!("events/{e}"))).unwrap_or_else(|err| panic!("{e}: {err}"));
        assert!(v.is_object());
    }
}

/// (method, path, function) of every HTTP route in the SAM template.
fn template_routes() -> BTreeSet<(String, String, String)> {
    let template = read("infra/template.yaml");
    let mut out = BTreeSet::new();
    let (mut binary, mut method) = (String::new(), String::new());
    for line in template.lines() {
        let l = line.trim();
        if let Some(b) = l.strip_prefix("Binary:") {
            binary = b.trim().to_string();
        } else if let Some(m) = l.strip_prefix("Method:") {
            method = m.trim().to_uppercase();
        } else if let Some(p) = l.strip_prefix("Path:") {
            out.insert((method.clone(), p.trim().to_string(), binary.clone()));
        }
    }
    out
}

/// The OpenAPI document, the template's routes, the functions (`functions/src/bin/`) and the
/// handlers' endpoint table agree: same routes, same functions, same permissions.
#[test]
fn openapi_template_and_functions_agree() {
    let doc: serde_json::Value = serde_json::from_str(&read("infra/openapi.json")).expect("openapi.json");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut api = BTreeSet::new();
    let mut permissions = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let f = op["x-liftos-function"].as_str().unwrap_or_else(|| panic!("{method} {path}: x-liftos-function"));
            let p =
                op["x-liftos-permission"].as_str().unwrap_or_else(|| panic!("{method} {path}: x-liftos-permission"));
            api.insert((method.to_uppercase(), path.clone(), f.to_string()));
            permissions.insert((f.to_string(), p.to_string()));
            for code in ["400", "401", "403"] {
                assert!(op["responses"][code].is_object(), "{method} {path}: documents {code}");
            }
            for (code, resp) in op["responses"].as_object().expect("responses") {
                // The ingest endpoint's 409 reports which records conflicted (its normal body).
                let partial = f == "ingest-causal" && code == "409";
                if (code.starts_with('4') || code.starts_with('5')) && !partial {
                    assert_eq!(resp["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error");
                }
            }
        }
    }
    assert_eq!(api, template_routes(), "OpenAPI routes vs template routes");
    let http_functions: BTreeSet<String> = api.iter().map(|(_, _, f)| f.clone()).collect();
    let non_http: BTreeSet<String> = function_names().difference(&http_functions).cloned().collect();
    assert_eq!(
        non_http,
        ["batch-analysis", "kse-build", "score-quality", "store-records", "sync-connections", "transform-records"]
            .into_iter()
            .map(String::from)
            .collect::<BTreeSet<_>>(),
        "every other function is an HTTP endpoint"
    );
    let table: BTreeSet<(String, String)> =
        liftos::api::routes::ROUTES.iter().map(|e| (e.function.to_string(), e.permission.to_string())).collect();
    assert_eq!(permissions, table, "OpenAPI x-liftos-permission vs the route table");
    let methods: BTreeSet<(String, String)> =
        liftos::api::routes::ROUTES.iter().map(|e| (e.method.to_string(), e.function.to_string())).collect();
    assert_eq!(methods, api.iter().map(|(m, _, f)| (m.clone(), f.clone())).collect(), "route methods vs OpenAPI");
}

/// The committed `infra/openapi.json` is the document generated from the types
/// (`cargo run --bin liftos -- openapi > infra/openapi.json` after changing them).
#[test]
fn committed_openapi_is_the_generated_one() {
    let generated = liftos::api::openapi::document_text();
    let committed = read("infra/openapi.json");
    if committed != generated {
        let path = std::env::temp_dir().join("openapi.generated.json");
        let _ = std::fs::write(&path, &generated);
        panic!(
            "infra/openapi.json differs from the document generated from the types (written to {}); regenerate it with `cargo run --bin liftos -- openapi > infra/openapi.json`",
            path.display()
        );
    }
}

/// Request bodies are described as the API reads them: no schema a request body reaches (through
/// any depth of `$ref`s) has a reading of its own (`{Name}Input`) that the body should have
/// pointed at. Schemathesis found the insights body reaching `CsResult` (whose `balanced`
/// defaults when read) through types that read as they are written.
#[test]
fn request_bodies_reach_only_the_reading_schemas() {
    let doc: serde_json::Value = serde_json::from_str(&read("infra/openapi.json")).expect("openapi.json");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r.trim_start_matches("#/components/schemas/").to_string());
                }
                m.values().for_each(|x| refs(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut bad = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let Some(body) = op.get("requestBody") else { continue };
            let (mut todo, mut seen) = (Vec::new(), std::collections::BTreeSet::new());
            refs(body, &mut todo);
            while let Some(name) = todo.pop() {
                if !seen.insert(name.clone()) {
                    continue;
                }
                if schemas.contains_key(&format!("{name}Input")) {
                    bad.push(format!("{method} {path} reaches {name}"));
                }
                if let Some(s) = schemas.get(&name) {
                    refs(s, &mut todo);
                }
            }
        }
    }
    assert!(bad.is_empty(), "request bodies reaching the written form of a type: {bad:#?}");
}

/// Every HTTP function's handler answers through the dispatcher `liftos serve` uses.
#[tokio::test]
async fn every_route_has_a_handler() {
    let dir = tempfile::tempdir().expect("dir");
    let deps = liftos::runtime::Deps::embedded(dir.path(), liftos::config::AuthSettings::ApiGateway).expect("store");
    for r in liftos::api::routes::ROUTES.iter() {
        let req = lambda_http::http::Request::builder()
            .method(r.method)
            .uri(format!("http://localhost{}", r.path))
            .body(lambda_http::Body::Empty)
            .expect("request");
        let resp = liftos::runtime::handlers::dispatch(&deps, r.function, req).await;
        // No token: every route answers 401 (its handler ran; nothing is audited).
        assert_eq!(resp.map(|r| r.status().as_u16()), Some(401), "{}", r.function);
    }
}
