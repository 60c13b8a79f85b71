//! Platform connectors: fetch a period's report and change history over the platform's API
//! (a configurable base URL, retries with backoff on rate limits and server errors), keep the
//! raw pages as they came (landed in S3 by the sync stage), and parse them into
//! [`PlatformBatch`]es with the platform's real field names and units: Meta's string amounts and
//! action arrays, Google Ads' micros and int64-as-string, TikTok's envelope codes, account time
//! zones to UTC, account currency to the reporting currency. Exports dropped as files (CSV or
//! Parquet) are mapped by a column map.

pub mod file;
pub mod google_ads;
pub mod http;
pub mod meta;
#[cfg(feature = "demo")]
pub mod replay;
pub mod tiktok;
pub mod xlsx;

mod ole;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::PlatformBatch;
use crate::domain::{OrgId, Platform, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    Meta,
    GoogleAds,
    Tiktok,
    /// A CSV or Parquet export dropped in the bucket, mapped by `column_map`.
    File,
}

/// One configured connection of an org (`config/connections.json` under the org).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub id: String,
    pub kind: ConnectorKind,
    /// The platform its records belong to (for files: what the export is from).
    pub platform: Platform,
    /// Meta ad account (without `act_`), Google Ads customer id, TikTok advertiser id.
    #[serde(default)]
    pub account_id: String,
    /// The API's base URL (default: the platform's). Only the platform's own hosts over https;
    /// a server on loopback (tests, the replay server) where the deployment allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The name of the credentials (`[A-Za-z0-9_.-]`), bound to the org: the Secrets Manager
    /// secret `liftos/{org}/{name}` in the cloud; locally the entry `"{org}/{name}"` of the
    /// credentials file or `LIFTOS_CREDENTIAL_<ORG>__<NAME>`. Never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// The account's time zone (IANA), in which the platform reports days.
    #[serde(default = "utc")]
    pub timezone: String,
    /// Account currency units to the org's reporting currency (1.0: the same currency).
    #[serde(default = "one")]
    pub fx_rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Meta: the action types counted as conversions, in order of preference (the first one
    /// present is used, so overlapping types are not double-counted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversion_actions: Vec<String>,
    /// TikTok: the metric holding purchase value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_metric: Option<String>,
    /// Files: which column is which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column_map: Option<file::ColumnMap>,
    /// ISO country for holiday calendars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

fn utc() -> String {
    "UTC".into()
}

fn one() -> f64 {
    1.0
}

impl Connection {
    pub fn validate(&self) -> Result<(), ValidationError> {
        crate::domain::check_id("id", &self.id)?;
        if let Some(name) = &self.credentials {
            check_credentials_name(name)?;
        }
        if let Some(url) = &self.base_url {
            let platform = self.api_name().ok_or_else(|| {
                ValidationError::new("base_url", "file connections are not fetched: they take no base_url")
            })?;
            http::check_url(platform, url, http::Egress::AlsoLoopback)
                .map_err(|why| ValidationError::new("base_url", why))?;
        }
        self.tz()?;
        if !(self.fx_rate.is_finite() && self.fx_rate > 0.0) {
            return Err(ValidationError::new("fx_rate", "must be a positive number"));
        }
        if let Some(c) = &self.currency {
            if !(c.trim().len() == 3 && c.trim().bytes().all(|b| b.is_ascii_alphabetic())) {
                return Err(ValidationError::new("currency", format!("{c:?} is not an ISO 4217 code (USD, EUR, GBP)")));
            }
        }
        match self.kind {
            ConnectorKind::File if self.column_map.is_none() => {
                Err(ValidationError::new("column_map", "is required for file connections"))
            }
            ConnectorKind::Meta | ConnectorKind::GoogleAds | ConnectorKind::Tiktok if self.account_id.is_empty() => {
                Err(ValidationError::new("account_id", "is required"))
            }
            _ => Ok(()),
        }
    }

    /// The platform API this connection calls (the name [`http::allowed_hosts`] knows).
    pub fn api_name(&self) -> Option<&'static str> {
        match self.kind {
            ConnectorKind::Meta => Some("meta"),
            ConnectorKind::GoogleAds => Some("google_ads"),
            ConnectorKind::Tiktok => Some("tiktok"),
            ConnectorKind::File => None,
        }
    }

    pub fn tz(&self) -> Result<chrono_tz::Tz, ValidationError> {
        self.timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| ValidationError::new("timezone", format!("{:?} is not an IANA time zone", self.timezone)))
    }

    /// The UTC instant a local day starts in the account's time zone.
    pub fn day_start_utc(&self, day: NaiveDate) -> Result<DateTime<Utc>, ValidationError> {
        let tz = self.tz()?;
        let local = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        tz.from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| ValidationError::new("timezone", format!("{day} has no midnight in {}", self.timezone)))
    }

    /// A local wall-clock time in the account's time zone, to UTC.
    pub fn local_to_utc(&self, t: chrono::NaiveDateTime) -> Result<DateTime<Utc>, ValidationError> {
        let tz = self.tz()?;
        tz.from_local_datetime(&t)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| ValidationError::new("timezone", format!("{t} does not exist in {}", self.timezone)))
    }
}

/// The days to fetch (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// What the sync stage lands in S3: the connection, the period and the platform's pages as
/// they came, so a transform can be re-run from the raw data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawPayload {
    pub connection: Connection,
    pub period: Period,
    pub fetched_at: DateTime<Utc>,
    /// Report pages (JSON bodies as returned).
    pub report: Vec<serde_json::Value>,
    /// Change-history pages, where the platform has them.
    #[serde(default)]
    pub history: Vec<serde_json::Value>,
}

/// A credentials name: 1 to 128 of `[A-Za-z0-9_.-]`, not only dots. No `/` or `:`: the name
/// is always read under the org's own prefix, never as a path or an ARN.
pub fn check_credentials_name(name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.chars().all(|c| c == '.');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "credentials",
            "must be a name of 1 to 128 letters, digits, '_', '-' or '.' (it is read as liftos/{org}/{name})",
        ))
    }
}

/// Where an org's credentials `name` live in Secrets Manager.
pub fn secret_id(org: &OrgId, name: &str) -> String {
    format!("liftos/{org}/{name}")
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The platform's data does not have the documented shape (names the field).
    #[error("{platform}: {field}: {message}")]
    Malformed { platform: &'static str, field: String, message: String },
    /// The API refused or failed after the retries.
    #[error("{platform} API: {message}")]
    Api { platform: &'static str, message: String, retryable: bool },
    #[error("credentials {name:?}: {message}")]
    Credentials { name: String, message: String },
    /// The request would leave the platform's hosts.
    #[error("{platform}: request refused: {message}")]
    Egress { platform: &'static str, message: String },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

impl ConnectorError {
    pub fn malformed(platform: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        ConnectorError::Malformed { platform, field: field.into(), message: message.into() }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, ConnectorError::Api { retryable: true, .. })
    }
}

/// Parse raw pages into rows and changes.
pub fn parse(raw: &RawPayload) -> Result<PlatformBatch, ConnectorError> {
    raw.connection.validate()?;
    match raw.connection.kind {
        ConnectorKind::Meta => meta::parse(&raw.connection, &raw.report, &raw.history),
        ConnectorKind::GoogleAds => google_ads::parse(&raw.connection, &raw.report, &raw.history),
        ConnectorKind::Tiktok => tiktok::parse(&raw.connection, &raw.report),
        ConnectorKind::File => Err(ConnectorError::malformed("file", "kind", "files are parsed with file::parse")),
    }
}

/// Fetch a period from the platform's API.
pub async fn fetch(
    conn: &Connection,
    period: Period,
    secret: &str,
    client: &http::Http,
) -> Result<RawPayload, ConnectorError> {
    conn.validate()?;
    let (report, history) = match conn.kind {
        ConnectorKind::Meta => meta::fetch(conn, period, secret, client).await?,
        ConnectorKind::GoogleAds => google_ads::fetch(conn, period, secret, client).await?,
        ConnectorKind::Tiktok => (tiktok::fetch(conn, period, secret, client).await?, vec![]),
        ConnectorKind::File => {
            return Err(ConnectorError::malformed("file", "kind", "file connections are not fetched; drop the export"))
        }
    };
    Ok(RawPayload { connection: conn.clone(), period, fetched_at: Utc::now(), report, history })
}

/// A number the platform sends as a JSON number or a numeric string.
pub(crate) fn num(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An org's credentials by name: Secrets Manager in the cloud, a local file or environment
/// locally. Only the org's own: the name is read under the org's prefix.
#[async_trait::async_trait]
pub trait Credentials: Send + Sync {
    async fn secret(&self, org: &OrgId, name: &str) -> Result<String, ConnectorError>;
}

/// Local credentials: `LIFTOS_CREDENTIAL_<ORG>__<NAME>` (upper-cased, other characters as `_`),
/// else the entry `"{org}/{name}"` of the JSON object in `LIFTOS_CREDENTIALS_FILE`.
pub struct LocalCredentials;

#[async_trait::async_trait]
impl Credentials for LocalCredentials {
    async fn secret(&self, org: &OrgId, name: &str) -> Result<String, ConnectorError> {
        check_credentials_name(name)?;
        let upper = |s: &str| {
            s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect::<String>()
        };
        let var = format!("LIFTOS_CREDENTIAL_{}__{}", upper(org.as_str()), upper(name));
        if let Ok(v) = std::env::var(&var) {
            if !v.is_empty() {
                return Ok(v);
            }
        }
        let err = |m: String| ConnectorError::Credentials { name: name.to_string(), message: m };
        let path = std::env::var("LIFTOS_CREDENTIALS_FILE")
            .map_err(|_| err(format!("neither {var} nor LIFTOS_CREDENTIALS_FILE is set")))?;
        let text = std::fs::read_to_string(&path).map_err(|_| err("the credentials file cannot be read".into()))?;
        let map: std::collections::BTreeMap<String, String> = serde_json::from_str(&text)
            .map_err(|_| err("the credentials file is not a JSON object of strings".into()))?;
        map.get(&format!("{org}/{name}")).cloned().ok_or_else(|| err(format!("no entry \"{org}/{name}\"")))
    }
}

/// AWS Secrets Manager: the secret's string value.
#[cfg(feature = "aws")]
pub struct SecretsManagerCredentials {
    client: aws_sdk_secretsmanager::Client,
}

#[cfg(feature = "aws")]
impl SecretsManagerCredentials {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self { client: aws_sdk_secretsmanager::Client::new(sdk) }
    }
}

#[cfg(feature = "aws")]
#[async_trait::async_trait]
impl Credentials for SecretsManagerCredentials {
    async fn secret(&self, org: &OrgId, name: &str) -> Result<String, ConnectorError> {
        check_credentials_name(name)?;
        let id = secret_id(org, name);
        let cred = |m: &str| ConnectorError::Credentials { name: name.to_string(), message: m.to_string() };
        let out = self.client.get_secret_value().secret_id(&id).send().await.map_err(|e| {
            // The SDK's context (role and secret ARNs, account ids) goes to the log, never to
            // the caller; neither ever holds the value.
            tracing::warn!(secret = %id, error = %aws_sdk_secretsmanager::error::DisplayErrorContext(&e), "credentials");
            match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => cred(&format!("no secret {id} exists")),
                Some(s) if s.is_decryption_failure() => cred("the secret cannot be decrypted"),
                Some(s) if s.is_invalid_request_exception() || s.is_invalid_parameter_exception() => {
                    cred("the secret cannot be read (deleted or disabled)")
                }
                Some(_) => ConnectorError::Api {
                    platform: "secretsmanager",
                    message: "the secret could not be read (access refused or unavailable)".into(),
                    retryable: false,
                },
                None => ConnectorError::Api {
                    platform: "secretsmanager",
                    message: "Secrets Manager could not be reached".into(),
                    retryable: true,
                },
            }
        })?;
        out.secret_string.ok_or_else(|| cred("the secret has no string value"))
    }
}

/// Credentials from a map held in memory, keyed `"{org}/{name}"` (the main job's replayed sample
/// accounts, tests).
pub struct StaticCredentials(pub std::collections::BTreeMap<String, String>);

#[async_trait::async_trait]
impl Credentials for StaticCredentials {
    async fn secret(&self, org: &OrgId, name: &str) -> Result<String, ConnectorError> {
        check_credentials_name(name)?;
        self.0.get(&format!("{org}/{name}")).cloned().ok_or_else(|| ConnectorError::Credentials {
            name: name.to_string(),
            message: "no such credentials".into(),
        })
    }
}

/// Decode `%XX` escapes and `+` (S3 event keys, query strings). Invalid escapes are kept as they
/// are; bytes that are not UTF-8 become U+FFFD.
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
