//! A local HTTP server that answers like the platforms' APIs from recorded responses: Meta
//! insights and activities (paged with `paging.next`), Google Ads `searchStream` (report or
//! `change_event` by the GAQL query), TikTok's report envelope (paged by `page`). The main job
//! points its connections at it, so the bundled sample exports go through the real connector
//! path (HTTP, paging, auth headers, retries); tests use it with injected rate limits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Recorded responses for one account per platform.
#[derive(Debug, Clone, Default)]
pub struct Recordings {
    pub meta_insights: Vec<serde_json::Value>,
    pub meta_activities: Vec<serde_json::Value>,
    pub google_report: serde_json::Value,
    pub google_changes: serde_json::Value,
    pub tiktok_pages: Vec<serde_json::Value>,
    /// Answer the first N requests with 429 (Meta: error code 17; TikTok: code 40100).
    pub rate_limit_first: usize,
    /// The token every request must carry (else 401).
    pub token: String,
}

pub struct Replay {
    pub base_url: String,
    pub requests: Arc<AtomicUsize>,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

fn query(path: &str) -> BTreeMap<String, String> {
    path.split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), super::url_decode(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn respond(
    rec: &Recordings,
    base: &str,
    method: &str,
    path: &str,
    headers: &BTreeMap<String, String>,
    body: &str,
    n: usize,
) -> (u16, String) {
    let auth_ok = headers.get("authorization").is_some_and(|v| v == &format!("Bearer {}", rec.token))
        || headers.get("access-token").is_some_and(|v| v == &rec.token);
    let route = path.split('?').next().unwrap_or("");
    let q = query(path);
    let limited = n < rec.rate_limit_first && !route.ends_with("/token");
    // Google's OAuth token endpoint: the refresh-token grant.
    if method == "POST" && route.ends_with("/token") {
        let form = query(&format!("?{body}"));
        let ok = form.get("grant_type").map(String::as_str) == Some("refresh_token")
            && form.get("refresh_token").is_some_and(|t| t == &format!("refresh-{}", rec.token));
        return if ok {
            (
                200,
                serde_json::json!({"access_token": rec.token, "expires_in": 3599, "token_type": "Bearer"}).to_string(),
            )
        } else {
            (400, r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#.into())
        };
    }
    if route.contains("/open_api/") {
        if limited {
            return (200, r#"{"code":40100,"message":"Too many requests","data":{}}"#.into());
        }
        if !auth_ok {
            return (
                200,
                r#"{"code":40105,"message":"Access token is incorrect or has been revoked.","data":{}}"#.into(),
            );
        }
        let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        return match rec.tiktok_pages.get(page.saturating_sub(1)) {
            Some(p) => (200, p.to_string()),
            None => (200, r#"{"code":40002,"message":"page out of range","data":{}}"#.into()),
        };
    }
    if limited {
        return (429, r#"{"error":{"message":"User request limit reached","code":17}}"#.into());
    }
    if !auth_ok {
        return (401, r#"{"error":{"message":"Invalid OAuth access token.","code":190}}"#.into());
    }
    if method == "POST" && route.ends_with("googleAds:searchStream") {
        let v = if body.contains("change_event") { &rec.google_changes } else { &rec.google_report };
        return (200, v.to_string());
    }
    let pages = if route.ends_with("/insights") {
        &rec.meta_insights
    } else if route.ends_with("/activities") {
        &rec.meta_activities
    } else {
        return (404, r#"{"error":{"message":"Unknown path","code":100}}"#.into());
    };
    let i: usize = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    match pages.get(i) {
        Some(p) => {
            let mut p = p.clone();
            if i + 1 < pages.len() {
                p["paging"] = serde_json::json!({ "cursors": { "after": (i + 1).to_string() }, "next": format!("{base}{route}?after={}", i + 1) });
            }
            (200, p.to_string())
        }
        None => (200, r#"{"data":[]}"#.into()),
    }
}

/// Serve `rec` on a free loopback port until dropped.
pub async fn serve(rec: Recordings) -> std::io::Result<Replay> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let counter = Arc::new(AtomicUsize::new(0));
    let (rec, b, c) = (Arc::new(rec), base.clone(), counter.clone());
    let handle = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (rec, base, counter) = (rec.clone(), b.clone(), c.clone());
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, path) =
                        (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
                    let mut headers = BTreeMap::new();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                    }
                    let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; len];
                    if len > 0 && r.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let (status, text) =
                        respond(&rec, &base, &method, &path, &headers, &String::from_utf8_lossy(&body), n);
                    let reason = match status {
                        200 => "OK",
                        401 => "Unauthorized",
                        404 => "Not Found",
                        429 => "Too Many Requests",
                        _ => "Error",
                    };
                    let head = format!(
                        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n",
                        text.len(),
                        if status == 429 { "retry-after: 0\r\n" } else { "" }
                    );
                    if w.write_all(head.as_bytes()).await.is_err() || w.write_all(text.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(Replay { base_url: base, requests: counter, handle })
}
