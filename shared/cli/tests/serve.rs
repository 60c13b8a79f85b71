#![allow(clippy::unwrap_used)]
//! `liftos serve`: the API's routes from one process on loopback, with the Lambdas' handlers,
//! authentication and errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

const SECRET: &str = "serve-test-secret-0123456789abcdef0123";

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_liftos"))
        .args(["serve", "--port", "0", "--data-dir", data.to_str().unwrap()])
        .env("LIFTOS_AUTH", "local")
        .env("LIFTOS_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        if let Some(i) = line.find("http://") {
            let addr = line[i + 7..].split_whitespace().next().unwrap().to_string();
            // Keep draining stderr so the server never blocks on it.
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            return Server { child, addr };
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("liftos serve did not start");
}

fn token(org: &str, roles: &[&str]) -> String {
    let mut args = vec!["token", "--org", org, "--user", "tester"];
    for r in roles {
        args.extend(["--role", r]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_liftos")).args(&args).env("LIFTOS_JWT_SECRET", SECRET).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// One HTTP/1.1 request; (status, allow header, JSON body).
fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String, serde_json::Value) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let allow = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("allow: ").map(str::to_string))
        .unwrap_or_default();
    (status, allow, serde_json::from_str(text).unwrap_or(serde_json::Value::Null))
}

fn sample_body(event: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events").join(event);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["body"].as_str().unwrap().to_string()
}

#[test]
fn every_route_from_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let a = server.addr.as_str();
    let admin = token("acme", &["causal_admin"]);
    let ingest = sample_body("ingest-causal.ok.json");
    let (status, _, v) = call(a, "POST", "/api/v1/marketing/ingest/causal", Some(&admin), Some(&ingest));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["inserted"], 2);
    let (status, _, v) = call(a, "POST", "/api/v1/marketing/ingest/causal", Some(&admin), Some(&ingest));
    assert_eq!((status, v["unchanged"].as_u64()), (200, Some(2)), "idempotent: {v}");
    // The records, read back by another route of the same process; scoped to the caller's org.
    let q = "/api/v1/marketing/records?platform=meta&campaign_id=cmp-meta-prospecting&start=2026-09-01&end=2026-10-31";
    let (status, _, v) = call(a, "GET", q, Some(&admin), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 2, "{v}");
    let other = token("globex", &["causal_admin"]);
    let (status, _, v) = call(a, "GET", q, Some(&other), None);
    assert_eq!((status, v["items"].as_array().map(Vec::len)), (200, Some(0)), "{v}");
    // Errors as the Lambdas answer them: the field named, 401, 403, 404, 405 with allow.
    let bad = sample_body("ingest-causal.bad-spend.json");
    let (status, _, v) = call(a, "POST", "/api/v1/marketing/ingest/causal", Some(&admin), Some(&bad));
    assert_eq!((status, v["field"].as_str()), (400, Some("records[1].metrics.spend")), "{v}");
    let (status, _, v) = call(a, "POST", "/api/v1/marketing/ingest/causal", None, Some(&ingest));
    assert_eq!((status, v["error"].as_str()), (401, Some("unauthorized")), "{v}");
    let forged = format!("{}x", &admin[..admin.len() - 1]);
    let (status, _, _) = call(a, "POST", "/api/v1/marketing/ingest/causal", Some(&forged), Some(&ingest));
    assert_eq!(status, 401);
    let viewer = token("acme", &["causal_analyst"]);
    let (status, _, v) = call(a, "POST", "/api/v1/marketing/ingest/causal", Some(&viewer), Some(&ingest));
    assert_eq!(status, 403, "{v}");
    let (status, _, v) = call(a, "GET", "/api/v1/marketing/experiments/nope", Some(&admin), None);
    assert_eq!(status, 404, "{v}");
    let (status, _, v) = call(a, "GET", "/api/v1/nowhere", Some(&admin), None);
    assert_eq!((status, v["error"].as_str()), (404, Some("not_found")), "{v}");
    let (status, allow, _) = call(a, "DELETE", "/api/v1/marketing/experiments", Some(&admin), None);
    assert_eq!(status, 405);
    assert!(allow.contains("get") && allow.contains("post"), "{allow}");
    // A use case that runs an estimator, and the explanation route on its answer.
    let effect = sample_body("treatment-effect.ok.json");
    let (status, _, v) = call(a, "POST", "/api/v1/causal/treatment-effect", Some(&admin), Some(&effect));
    assert_eq!(status, 200, "{v}");
    assert!(v["estimate"].as_f64().is_some_and(f64::is_finite), "{v}");
    let ask = sample_body("llm-insights.ok.json");
    let (status, _, v) = call(a, "POST", "/api/v1/llm/causal/insights", Some(&admin), Some(&ask));
    assert_eq!(status, 200, "{v}");
    assert!(!v["explanation"]["sentences"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn refuses_to_serve_without_a_way_to_verify_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_liftos"))
        .args(["serve", "--port", "0", "--data-dir", dir.path().to_str().unwrap()])
        .env("LIFTOS_AUTH", "apigw")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["field"], "LIFTOS_AUTH");
    let out = Command::new(env!("CARGO_BIN_EXE_liftos"))
        .args(["serve", "--port", "0", "--data-dir", dir.path().to_str().unwrap()])
        .env("LIFTOS_AUTH", "local")
        .env_remove("LIFTOS_JWT_SECRET")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), v["field"].as_str()), (Some(2), Some("LIFTOS_JWT_SECRET")));
}
