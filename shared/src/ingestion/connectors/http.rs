//! The connectors' HTTP client: HTTPS (rustls, the system's roots) or plain HTTP to a local
//! server, with retries on rate limits (429, or the platform's own rate-limit codes) and server
//! errors, honouring `Retry-After`, with exponential backoff and jitter otherwise.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

use super::ConnectorError;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 6, base: Duration::from_millis(500), max: Duration::from_secs(30) }
    }
}

pub struct Response {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self, platform: &'static str) -> Result<serde_json::Value, ConnectorError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ConnectorError::malformed(platform, "body", format!("not JSON ({e}), status {}", self.status)))
    }
}

/// How a platform says "slow down" or "try again" beyond the HTTP status.
pub type RetryHint = fn(&Response) -> bool;

pub struct Http {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    pub retry: RetryPolicy,
    timeout: Duration,
}

impl Http {
    pub fn new() -> Result<Self, ConnectorError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| ConnectorError::Api {
                platform: "http",
                message: format!("TLS roots: {e}"),
                retryable: false,
            })?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    async fn once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        content_type: &str,
    ) -> Result<Response, String> {
        let mut req = hyper::Request::builder().method(method).uri(url).header("accept", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if body.is_some() {
            req = req.header("content-type", content_type);
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
            .map_err(|e| format!("bad request: {e}"))?;
        let resp = tokio::time::timeout(self.timeout, self.client.request(req))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| format!("connection failed: {e}"))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(|s| Duration::from_secs_f64(s.clamp(0.0, 300.0)));
        let body = resp.into_body().collect().await.map_err(|e| format!("reading the body: {e}"))?.to_bytes();
        Ok(Response { status, retry_after, body })
    }

    /// Send, retrying rate limits, 5xx, timeouts and connection failures. Other 4xx are
    /// returned to the caller (which names the platform's error).
    pub async fn send(
        &self,
        platform: &'static str,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        retry_hint: RetryHint,
    ) -> Result<Response, ConnectorError> {
        self.send_as(platform, method, url, headers, body, "application/json", retry_hint).await
    }

    /// A form POST (OAuth token endpoints).
    pub async fn send_form(
        &self,
        platform: &'static str,
        url: &str,
        form: &[u8],
        retry_hint: RetryHint,
    ) -> Result<Response, ConnectorError> {
        self.send_as(platform, "POST", url, &[], Some(form), "application/x-www-form-urlencoded", retry_hint).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_as(
        &self,
        platform: &'static str,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        content_type: &str,
        retry_hint: RetryHint,
    ) -> Result<Response, ConnectorError> {
        let mut last = String::new();
        for attempt in 0..self.retry.attempts {
            let wait = match self.once(method, url, headers, body, content_type).await {
                Ok(r) if r.status == 429 || r.status >= 500 || retry_hint(&r) => {
                    last = format!(
                        "status {}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.body).chars().take(300).collect::<String>()
                    );
                    r.retry_after
                }
                Ok(r) => return Ok(r),
                Err(e) => {
                    last = e;
                    None
                }
            };
            if attempt + 1 == self.retry.attempts {
                break;
            }
            let backoff = wait.unwrap_or_else(|| {
                let exp = self.retry.base.saturating_mul(1u32 << attempt.min(16));
                // Full jitter from the clock's sub-second noise: spreads retries of many workers.
                let jitter = f64::from(chrono::Utc::now().timestamp_subsec_nanos() % 1000) / 1000.0;
                exp.mul_f64(0.5 + 0.5 * jitter)
            });
            let backoff = backoff.min(self.retry.max);
            tracing::warn!(platform, attempt, wait_ms = backoff.as_millis() as u64, reason = %last, "retrying");
            tokio::time::sleep(backoff).await;
        }
        Err(ConnectorError::Api {
            platform,
            message: format!("gave up after {} attempts: {last}", self.retry.attempts),
            retryable: true,
        })
    }
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
