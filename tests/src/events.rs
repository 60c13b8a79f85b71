//! The sample events in `events/`, as the functions receive them.

use std::path::PathBuf;

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("events").join(name)
}

pub fn text(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// An API Gateway HTTP API (v2) event as lambda_http hands it to a handler.
pub fn http_request(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&text(name))
        .unwrap_or_else(|e| panic!("events/{name} is not an HTTP API event: {e}"))
}

pub fn sqs_event(name: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_str(&text(name)).unwrap_or_else(|e| panic!("events/{name} is not an SQS event: {e}"))
}

/// The JSON body of a response (panics on a non-JSON body: every response of ours is JSON).
pub fn json_body(resp: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    let text = match resp.body() {
        lambda_http::Body::Text(t) => t.clone(),
        lambda_http::Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("response body is not JSON ({e}): {text}"))
}

/// The sample HTTP event `name` with `edit` applied to its JSON first: another body, query or
/// path, another org in the authorizer's claims.
pub fn http_request_with(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> lambda_http::Request {
    let mut v: serde_json::Value = serde_json::from_str(&text(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"));
    edit(&mut v);
    lambda_http::request::from_str(&v.to_string()).unwrap_or_else(|e| panic!("events/{name} edited: {e}"))
}

/// A sample HTTP event's body, parsed.
pub fn body_of(name: &str) -> serde_json::Value {
    let ev: serde_json::Value = serde_json::from_str(&text(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"));
    serde_json::from_str(ev["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("events/{name}'s body: {e}"))
}

/// A sample HTTP event with another body (and the same verified claims).
pub fn with_body(name: &str, body: serde_json::Value) -> lambda_http::Request {
    http_request_with(name, |ev| ev["body"] = serde_json::Value::String(body.to_string()))
}

/// Set an HTTP event's query string (both the raw string and the parsed map).
pub fn set_query(v: &mut serde_json::Value, pairs: &[(&str, &str)]) {
    v["rawQueryString"] = pairs.iter().map(|(k, val)| format!("{k}={val}")).collect::<Vec<_>>().join("&").into();
    v["queryStringParameters"] = pairs
        .iter()
        .map(|(k, val)| (k.to_string(), serde_json::Value::from(*val)))
        .collect::<serde_json::Map<_, _>>()
        .into();
}
