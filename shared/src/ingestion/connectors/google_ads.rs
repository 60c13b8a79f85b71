//! Google Ads API: GAQL report rows by `googleAds:searchStream` (campaign x `segments.date`,
//! `metrics.cost_micros`, ...) and the `change_event` resource for the change history.
//!
//! Shapes: the stream is a JSON array of batches with `results`; int64 fields are strings
//! (`"costMicros": "900750000"`: micros of the account currency); dates are the account's;
//! change times are the account's local time (`"2026-09-29 10:00:00.000000"`). Rate limits:
//! HTTP 429 with `RESOURCE_EXHAUSTED`.

use chrono::{NaiveDate, NaiveDateTime};

use super::http::{enc, Http, Response};
use super::{num, Connection, ConnectorError, Period};
use crate::ingestion::{ChangeEvent, ChangeKind, DailyRow, PlatformBatch};

const P: &str = "google_ads";
pub const DEFAULT_BASE: &str = "https://googleads.googleapis.com";
pub const VERSION: &str = "v17";

fn exhausted(r: &Response) -> bool {
    r.status >= 400 && String::from_utf8_lossy(&r.body).contains("RESOURCE_EXHAUSTED")
}

/// The credentials secret: a developer token and either an OAuth `access_token`, or an OAuth
/// client (`client_id`, `client_secret`, `refresh_token`) that is exchanged for one at
/// `token_url` (Google's by default) before the calls.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Secret {
    developer_token: String,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    login_customer_id: Option<String>,
}

pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// An access token: the secret's own, or one from the refresh-token grant.
async fn access_token(conn: &Connection, client: &Http, s: &Secret) -> Result<String, ConnectorError> {
    let cred_err =
        |m: String| ConnectorError::Credentials { name: conn.credentials.clone().unwrap_or_default(), message: m };
    if let Some(t) = &s.access_token {
        return Ok(t.clone());
    }
    let (Some(id), Some(secret), Some(refresh)) = (&s.client_id, &s.client_secret, &s.refresh_token) else {
        return Err(cred_err("needs access_token, or client_id, client_secret and refresh_token".into()));
    };
    let url = s.token_url.as_deref().unwrap_or(DEFAULT_TOKEN_URL);
    let form = format!(
        "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
        enc(id),
        enc(secret),
        enc(refresh)
    );
    let r = client.send_form(P, url, form.as_bytes(), |_| false).await?;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    match (r.status, v["access_token"].as_str()) {
        (200, Some(t)) => Ok(t.to_string()),
        // The token endpoint's error names the problem (invalid_grant, ...); never the secret.
        _ => {
            // OAuth's error code is one of a documented few; the description is free text and
            // stays in the log.
            let code =
                v["error"].as_str().filter(|c| c.len() <= 40 && c.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            tracing::warn!(status = r.status, upstream = %v["error_description"].as_str().unwrap_or(""), "token endpoint refused");
            Err(cred_err(format!(
                "the token endpoint refused the refresh token: status {}{}",
                r.status,
                code.map(|c| format!(" ({c})")).unwrap_or_default()
            )))
        }
    }
}

async fn search(
    conn: &Connection,
    client: &Http,
    secret: &str,
    query: String,
) -> Result<Vec<serde_json::Value>, ConnectorError> {
    let s: Secret = serde_json::from_str(secret).map_err(|e| ConnectorError::Credentials {
        name: conn.credentials.clone().unwrap_or_default(),
        message: format!("expected {{developer_token, access_token | client_id + client_secret + refresh_token[, token_url, login_customer_id]}}: {e}"),
    })?;
    let token = access_token(conn, client, &s).await?;
    let base = conn.base_url.as_deref().unwrap_or(DEFAULT_BASE).trim_end_matches('/');
    let url = format!("{base}/{VERSION}/customers/{}/googleAds:searchStream", enc(&conn.account_id.replace('-', "")));
    let mut headers = vec![("authorization", format!("Bearer {token}")), ("developer-token", s.developer_token)];
    if let Some(l) = s.login_customer_id {
        headers.push(("login-customer-id", l));
    }
    let body = serde_json::json!({ "query": query }).to_string();
    let r = client.send(P, "POST", &url, &headers, Some(body.as_bytes()), exhausted).await?;
    if r.status != 200 {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let v = if v.is_array() { v[0].clone() } else { v };
        // Google's status name (UNAUTHENTICATED, PERMISSION_DENIED, ...) is a fixed vocabulary;
        // its message names customers and is logged only.
        tracing::warn!(status = r.status, upstream = %v["error"]["message"].as_str().unwrap_or(""), "google ads refused");
        let status = v["error"]["status"]
            .as_str()
            .filter(|s| s.len() <= 40 && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        return Err(ConnectorError::Api {
            platform: P,
            message: format!("status {}{}", r.status, status.map(|s| format!(": {s}")).unwrap_or_default()),
            retryable: false,
        });
    }
    match r.json(P)? {
        serde_json::Value::Array(batches) => Ok(batches),
        _ => Err(ConnectorError::malformed(P, "searchStream", "is not an array of batches")),
    }
}

pub async fn fetch(
    conn: &Connection,
    period: Period,
    secret: &str,
    client: &Http,
) -> Result<(Vec<serde_json::Value>, Vec<serde_json::Value>), ConnectorError> {
    let report = search(
        conn,
        client,
        secret,
        format!(
            "SELECT campaign.id, campaign.name, segments.date, metrics.cost_micros, metrics.impressions, metrics.clicks, metrics.conversions, metrics.conversions_value FROM campaign WHERE segments.date BETWEEN '{}' AND '{}'",
            period.start, period.end
        ),
    )
    .await?;
    let history = search(
        conn,
        client,
        secret,
        format!(
            "SELECT change_event.change_date_time, change_event.change_resource_type, change_event.resource_change_operation, change_event.changed_fields, change_event.old_resource, change_event.new_resource, change_event.campaign FROM change_event WHERE change_event.change_date_time BETWEEN '{} 00:00:00' AND '{} 23:59:59' ORDER BY change_event.change_date_time LIMIT 10000",
            period.start, period.end
        ),
    )
    .await?;
    Ok((report, history))
}

fn campaign_of(resource: &str) -> String {
    resource.rsplit('/').next().unwrap_or(resource).to_string()
}

pub fn parse(
    conn: &Connection,
    report: &[serde_json::Value],
    history: &[serde_json::Value],
) -> Result<PlatformBatch, ConnectorError> {
    let mut rows = Vec::new();
    for (b, batch) in report.iter().enumerate() {
        let Some(results) = batch["results"].as_array() else { continue };
        for (i, r) in results.iter().enumerate() {
            let at = |f: &str| format!("report[{b}].results[{i}].{f}");
            let id = r["campaign"]["id"]
                .as_str()
                .map(String::from)
                .or_else(|| r["campaign"]["id"].as_i64().map(|x| x.to_string()))
                .ok_or_else(|| ConnectorError::malformed(P, at("campaign.id"), "is missing"))?;
            let day: NaiveDate = r["segments"]["date"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| ConnectorError::malformed(P, at("segments.date"), "is not a date"))?;
            let m = &r["metrics"];
            let micros = num(&m["costMicros"])
                .ok_or_else(|| ConnectorError::malformed(P, at("metrics.costMicros"), "is not a number"))?;
            rows.push(DailyRow {
                platform: conn.platform,
                campaign_id: id,
                campaign_name: r["campaign"]["name"].as_str().map(String::from),
                date: day,
                timestamp: conn.day_start_utc(day)?,
                spend: micros / 1e6 * conn.fx_rate,
                impressions: num(&m["impressions"]).unwrap_or(0.0),
                clicks: num(&m["clicks"]).unwrap_or(0.0),
                conversions: num(&m["conversions"]).unwrap_or(0.0),
                revenue: num(&m["conversionsValue"]).unwrap_or(0.0) * conn.fx_rate,
                extra: Default::default(),
            });
        }
    }
    let mut changes = Vec::new();
    for (b, batch) in history.iter().enumerate() {
        let Some(results) = batch["results"].as_array() else { continue };
        for (i, r) in results.iter().enumerate() {
            let e = &r["changeEvent"];
            let when = e["changeDateTime"]
                .as_str()
                .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").ok())
                .ok_or_else(|| {
                    ConnectorError::malformed(
                        P,
                        format!("history[{b}].results[{i}].changeEvent.changeDateTime"),
                        "is not a time",
                    )
                })?;
            let fields = e["changedFields"].as_str().unwrap_or("");
            let op = e["resourceChangeOperation"].as_str().unwrap_or("");
            let new_status = e["newResource"]["campaign"]["status"].as_str();
            let kind = match e["changeResourceType"].as_str().unwrap_or("") {
                "CAMPAIGN_BUDGET" => ChangeKind::BudgetChange,
                "CAMPAIGN" if op == "CREATE" => ChangeKind::Launch,
                "CAMPAIGN" if fields.contains("status") => match new_status {
                    Some("PAUSED") => ChangeKind::Pause,
                    Some("ENABLED") => ChangeKind::Launch,
                    _ => ChangeKind::StatusChange,
                },
                "CAMPAIGN"
                    if fields.contains("bidding") || fields.contains("maximize") || fields.contains("target") =>
                {
                    ChangeKind::BidStrategyChange
                }
                "AD_GROUP_AD" | "AD" | "ASSET" => ChangeKind::CreativeChange,
                "AD_GROUP_CRITERION" | "CAMPAIGN_CRITERION" => ChangeKind::TargetingChange,
                _ => continue,
            };
            let micros =
                |v: &serde_json::Value| num(&v["campaignBudget"]["amountMicros"]).map(|x| x / 1e6 * conn.fx_rate);
            changes.push(ChangeEvent {
                platform: conn.platform,
                campaign_id: campaign_of(e["campaign"].as_str().unwrap_or_default()),
                at: conn.local_to_utc(when)?,
                kind,
                old_value: micros(&e["oldResource"]),
                new_value: micros(&e["newResource"]),
                detail: format!("{} {op} {fields}", e["changeResourceType"].as_str().unwrap_or("")),
            });
        }
    }
    Ok(PlatformBatch { rows, changes })
}
