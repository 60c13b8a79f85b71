//! The request bodies and query strings of every endpoint, through the real handlers on the
//! embedded store: whatever the bytes, the answer is a 2xx or a 4xx (a 500 on a caller's input is
//! a bug, and so is a panic, which the handler boundary turns into a 500).
#![no_main]
use libfuzzer_sys::fuzz_target;
use liftos::api::routes::ROUTES;
use std::sync::OnceLock;

struct Env {
    rt: tokio::runtime::Runtime,
    deps: liftos::runtime::Deps,
    _dir: tempfile::TempDir,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        // In memory where there is a tmpfs: the store's fsyncs would otherwise set the pace.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.expect("dir");
        let deps =
            liftos::runtime::Deps::embedded(dir.path(), liftos::config::AuthSettings::ApiGateway).expect("store");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Env { rt, deps, _dir: dir }
    })
}

/// The raw query string as API Gateway passes it on: bytes outside a URI's query characters
/// percent-encoded (it never forwards a raw control character).
fn gateway_query(raw: &[u8]) -> String {
    let mut out = String::new();
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~&=%+:,/!$'()*;@?".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query component as API Gateway decodes it into `queryStringParameters`.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let route = &ROUTES[which as usize % ROUTES.len()];
    // The input: a query string, a newline, the body.
    let (query, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (gateway_query(&rest[..i]), &rest[i + 1..]),
        None => (String::new(), rest),
    };
    let path = route.path.replace("{experiment_id}", "exp-1").replace("{job_id}", "job-1");
    let pairs: serde_json::Map<String, serde_json::Value> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), serde_json::Value::from(decode(v))))
        .collect();
    let event = serde_json::json!({
        "version": "2.0", "routeKey": format!("{} {}", route.method, route.path), "rawPath": path,
        "rawQueryString": query,
        "queryStringParameters": pairs,
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": route.method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "fuzz"},
            "requestId": "fuzz", "routeKey": format!("{} {}", route.method, route.path), "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0,
            "authorizer": {"jwt": {"claims": {"sub": "fuzzer", "org_id": "fuzz", "roles": "[causal_admin]"}, "scopes": null}}
        },
        "body": String::from_utf8_lossy(body), "isBase64Encoded": false
    });
    let Ok(req) = lambda_http::request::from_str(&event.to_string()) else { return };
    let e = env();
    let resp = e.rt.block_on(liftos::runtime::handlers::dispatch(&e.deps, route.function, req));
    let status = resp.map(|r| r.status().as_u16()).unwrap_or(0);
    assert!((200..500).contains(&status), "{} {}: status {status}", route.method, route.path);
});
