//! The connectors' HTTP client: HTTPS (rustls, the system's roots) to each platform's own hosts
//! only ([`allowed_hosts`]), with retries on rate limits (429, or the platform's own rate-limit
//! codes) and server errors, honouring `Retry-After`, with exponential backoff and jitter
//! otherwise. Every request's URL is checked before it is sent (the configured base URL, a
//! token endpoint, a `paging.next` link), so a platform token can only go to that platform.
//! Plain HTTP to loopback (the replay server, tests) only with [`Egress::AlsoLoopback`]
//! (`LIFTOS_CONNECTORS_ALLOW_LOCAL=1`).

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

/// Where the connectors may send requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Egress {
    /// Each platform's own hosts, over https on the default port.
    PlatformsOnly,
    /// Those, and servers on loopback over http or https (the replay server, tests).
    AlsoLoopback,
}

/// The hosts a platform's requests may go to.
pub fn allowed_hosts(platform: &str) -> &'static [&'static str] {
    match platform {
        "meta" => &["graph.facebook.com"],
        "google_ads" => &["googleads.googleapis.com", "oauth2.googleapis.com"],
        "tiktok" => &["business-api.tiktok.com"],
        _ => &[],
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The origin of a URL (`scheme://host[:port]`, lower-cased), or None when it is not absolute.
pub fn origin(url: &str) -> Option<String> {
    let uri: hyper::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    Some(match uri.port_u16() {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    })
}

/// Whether `url` may be called for `platform` under `egress`; the error says why not (naming
/// the host, never the query, which may carry a token).
pub fn check_url(platform: &str, url: &str, egress: Egress) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|_| "is not a URL".to_string())?;
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err("is not an absolute URL".into());
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("must not carry user information".into());
    }
    let host = host.to_ascii_lowercase();
    if is_loopback(&host) {
        return match (egress, scheme) {
            (Egress::AlsoLoopback, "http" | "https") => Ok(()),
            _ => Err(format!("{host} is a local server: allowed only with LIFTOS_CONNECTORS_ALLOW_LOCAL=1")),
        };
    }
    if scheme != "https" {
        return Err(format!("{scheme}:// is not allowed: {platform} is called over https only"));
    }
    if !allowed_hosts(platform).contains(&host.as_str()) {
        return Err(format!("{host} is not one of {platform}'s hosts ({})", allowed_hosts(platform).join(", ")));
    }
    if uri.port_u16().is_some_and(|p| p != 443) {
        return Err(format!("port {} is not allowed", uri.port_u16().unwrap_or_default()));
    }
    Ok(())
}

pub struct Http {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    pub retry: RetryPolicy,
    timeout: Duration,
    egress: Egress,
}

impl Http {
    /// A client for the platforms' own hosts over https.
    pub fn new() -> Result<Self, ConnectorError> {
        Self::with_egress(Egress::PlatformsOnly)
    }

    pub fn with_egress(egress: Egress) -> Result<Self, ConnectorError> {
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
            egress,
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

    /// One JSON POST to a URL the operator configured (a language model's endpoint), not a
    /// platform's: no allow-list and no retry (the caller falls back instead), its own timeout.
    pub async fn post_configured(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Response, String> {
        match tokio::time::timeout(timeout, self.once("POST", url, headers, Some(body), "application/json")).await {
            Err(_) => Err("timed out".into()),
            Ok(r) => r,
        }
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
        check_url(platform, url, self.egress).map_err(|why| ConnectorError::Egress { platform, message: why })?;
        let mut last = String::new();
        for attempt in 0..self.retry.attempts {
            let wait = match self.once(method, url, headers, body, content_type).await {
                Ok(r) if r.status == 429 || r.status >= 500 || retry_hint(&r) => {
                    // The status only: the upstream body stays out of errors (it can name
                    // accounts and internals), and out of the logs.
                    last = format!("status {}", r.status);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect 14.1: a connection's `base_url`, a token URL or a `paging.next` link could send a
    /// platform token to any host, over plain http too.
    #[test]
    fn requests_go_only_to_the_platforms_hosts_over_https() {
        let ok = |p: &str, u: &str| check_url(p, u, Egress::PlatformsOnly);
        assert!(ok("meta", "https://graph.facebook.com/v21.0/act_1/insights?x=1").is_ok());
        assert!(ok("google_ads", "https://oauth2.googleapis.com/token").is_ok());
        assert!(ok("tiktok", "https://business-api.tiktok.com/open_api/v1.3/").is_ok());
        for (p, u) in [
            ("meta", "http://graph.facebook.com/v21.0/"),
            ("meta", "https://graph.facebook.com.evil.test/"),
            ("meta", "https://evil.test/graph.facebook.com"),
            ("meta", "https://graph.facebook.com:8443/"),
            ("meta", "https://user@graph.facebook.com/"),
            ("meta", "https://business-api.tiktok.com/"),
            ("tiktok", "http://127.0.0.1:9000/"),
            ("google_ads", "https://localhost/token"),
            ("meta", "/relative"),
            ("meta", "not a url"),
            ("file", "https://graph.facebook.com/"),
        ] {
            assert!(ok(p, u).is_err(), "{p} {u}");
        }
        let local = |u: &str| check_url("meta", u, Egress::AlsoLoopback);
        assert!(local("http://127.0.0.1:9000/v21.0/").is_ok() && local("http://[::1]:1/").is_ok());
        assert!(local("http://localhost:1/").is_ok());
        assert!(local("http://10.0.0.1/").is_err() && local("http://169.254.169.254/").is_err());
        assert_eq!(origin("https://Graph.facebook.com/v1?a=b").as_deref(), Some("https://graph.facebook.com"));
        assert_eq!(origin("http://127.0.0.1:9/x").as_deref(), Some("http://127.0.0.1:9"));
    }
}
