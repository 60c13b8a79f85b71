//! Meta Marketing API: campaign insights by day (`/act_{id}/insights`, `level=campaign`,
//! `time_increment=1`) and the ad account's activity log (`/act_{id}/activities`).
//!
//! Shapes: amounts are strings in the account currency (`"spend": "900.75"`); conversions and
//! their value come as action arrays (`"actions": [{"action_type": "purchase", "value": "3"}]`);
//! days (`date_start`) are in the account's time zone; pages link on with `paging.next`.
//! Activity budgets (`extra_data` `old_value`/`new_value`) are in minor units (cents).
//! Rate limits: HTTP 429, or error codes 4, 17, 32, 613 and 80000-80014.

use chrono::NaiveDate;

use super::http::{enc, Http, Response};
use super::{num, Connection, ConnectorError, Period};
use crate::ingestion::{ChangeEvent, ChangeKind, DailyRow, PlatformBatch};

const P: &str = "meta";
pub const DEFAULT_BASE: &str = "https://graph.facebook.com";
pub const VERSION: &str = "v21.0";
/// Overlapping purchase action types, in the order Meta recommends counting them.
pub const DEFAULT_ACTIONS: [&str; 3] = ["omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase"];

fn rate_limited(r: &Response) -> bool {
    if r.status < 400 {
        return false;
    }
    let code = serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["error"]["code"].as_i64())
        .unwrap_or(0);
    matches!(code, 4 | 17 | 32 | 613) || (80000..=80014).contains(&code)
}

/// The refusal as the caller sees it: the status and Meta's error code with its documented
/// meaning. Meta's own message (which can name accounts, apps and users) goes to the log only.
fn api_error(r: &Response) -> ConnectorError {
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    let code = v["error"]["code"].as_i64().unwrap_or(0);
    tracing::warn!(status = r.status, code, upstream = %v["error"]["message"].as_str().unwrap_or(""), "meta refused");
    let meaning = match code {
        190 => "the access token is invalid or expired",
        10 | 200..=299 => "the token lacks a permission for this ad account",
        100 => "a parameter was refused",
        803 => "the ad account does not exist or is not visible to the token",
        _ => "see Meta's error codes",
    };
    ConnectorError::Api {
        platform: P,
        message: format!("status {}: code {code}: {meaning}", r.status),
        retryable: false,
    }
}

/// Every page, following `paging.next` only on the first page's origin (the token goes with it).
async fn pages(client: &Http, first: String, token: &str) -> Result<Vec<serde_json::Value>, ConnectorError> {
    let auth = [("authorization", format!("Bearer {token}"))];
    let home = super::http::origin(&first);
    let mut out = Vec::new();
    let mut next = Some(first);
    while let Some(url) = next.take() {
        if super::http::origin(&url) != home {
            return Err(ConnectorError::malformed(P, "paging.next", "points to another origin: not followed"));
        }
        let r = client.send(P, "GET", &url, &auth, None, rate_limited).await?;
        if r.status != 200 {
            return Err(api_error(&r));
        }
        let v = r.json(P)?;
        next = v["paging"]["next"].as_str().map(String::from);
        out.push(v);
        if out.len() > 10_000 {
            return Err(ConnectorError::malformed(P, "paging.next", "more than 10,000 pages"));
        }
    }
    Ok(out)
}

pub async fn fetch(
    conn: &Connection,
    period: Period,
    token: &str,
    client: &Http,
) -> Result<(Vec<serde_json::Value>, Vec<serde_json::Value>), ConnectorError> {
    let base = conn.base_url.as_deref().unwrap_or(DEFAULT_BASE).trim_end_matches('/');
    let act = format!("{base}/{VERSION}/act_{}", enc(&conn.account_id));
    let range = format!(r#"{{"since":"{}","until":"{}"}}"#, period.start, period.end);
    let insights = format!(
        "{act}/insights?level=campaign&time_increment=1&limit=500&fields={}&time_range={}",
        enc("campaign_id,campaign_name,spend,impressions,clicks,actions,action_values,date_start,date_stop"),
        enc(&range)
    );
    let report = pages(client, insights, token).await?;
    let since = conn.day_start_utc(period.start)?.timestamp();
    let until = conn.day_start_utc(period.end + chrono::Duration::days(1))?.timestamp();
    let activities = format!(
        "{act}/activities?limit=500&fields={}&since={since}&until={until}",
        enc("event_type,event_time,object_id,object_name,object_type,extra_data")
    );
    let history = pages(client, activities, token).await?;
    Ok((report, history))
}

fn action_value(conn: &Connection, row: &serde_json::Value, key: &str) -> f64 {
    let Some(list) = row[key].as_array() else { return 0.0 };
    let prefs: Vec<&str> = if conn.conversion_actions.is_empty() {
        DEFAULT_ACTIONS.to_vec()
    } else {
        conn.conversion_actions.iter().map(String::as_str).collect()
    };
    for p in prefs {
        if let Some(a) = list.iter().find(|a| a["action_type"].as_str() == Some(p)) {
            return num(&a["value"]).unwrap_or(0.0);
        }
    }
    0.0
}

pub fn parse(
    conn: &Connection,
    report: &[serde_json::Value],
    history: &[serde_json::Value],
) -> Result<PlatformBatch, ConnectorError> {
    let mut rows = Vec::new();
    for (p, page) in report.iter().enumerate() {
        let data = page["data"]
            .as_array()
            .ok_or_else(|| ConnectorError::malformed(P, format!("report[{p}].data"), "is not an array"))?;
        for (i, r) in data.iter().enumerate() {
            let at = |f: &str| format!("report[{p}].data[{i}].{f}");
            let campaign = r["campaign_id"]
                .as_str()
                .ok_or_else(|| ConnectorError::malformed(P, at("campaign_id"), "is missing"))?;
            let day: NaiveDate = r["date_start"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| ConnectorError::malformed(P, at("date_start"), "is not a date"))?;
            let spend = num(&r["spend"]).ok_or_else(|| ConnectorError::malformed(P, at("spend"), "is not a number"))?;
            rows.push(DailyRow {
                platform: conn.platform,
                campaign_id: campaign.to_string(),
                campaign_name: r["campaign_name"].as_str().map(String::from),
                date: day,
                timestamp: conn.day_start_utc(day)?,
                spend: spend * conn.fx_rate,
                impressions: num(&r["impressions"]).unwrap_or(0.0),
                clicks: num(&r["clicks"]).unwrap_or(0.0),
                conversions: action_value(conn, r, "actions"),
                revenue: action_value(conn, r, "action_values") * conn.fx_rate,
                extra: Default::default(),
            });
        }
    }
    let mut changes = Vec::new();
    for (p, page) in history.iter().enumerate() {
        let Some(data) = page["data"].as_array() else {
            return Err(ConnectorError::malformed(P, format!("history[{p}].data"), "is not an array"));
        };
        for (i, a) in data.iter().enumerate() {
            let event = a["event_type"].as_str().unwrap_or("");
            let kind = match event {
                "create_campaign_group" | "create_campaign" => ChangeKind::Launch,
                "update_campaign_budget" | "update_ad_set_budget" | "update_campaign_group_spend_cap" => {
                    ChangeKind::BudgetChange
                }
                "update_campaign_run_status" | "update_ad_set_run_status" => ChangeKind::StatusChange,
                "update_campaign_bid_strategy" | "update_ad_set_bid_strategy" | "update_ad_set_bidding" => {
                    ChangeKind::BidStrategyChange
                }
                "update_ad_creative" | "create_ad" | "update_ad_set_creative" => ChangeKind::CreativeChange,
                "update_ad_set_target_spec" | "update_ad_targeting" => ChangeKind::TargetingChange,
                _ => continue,
            };
            let at = a["event_time"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%z").ok())
                .ok_or_else(|| {
                    ConnectorError::malformed(P, format!("history[{p}].data[{i}].event_time"), "is not a time")
                })?
                .with_timezone(&chrono::Utc);
            let extra: serde_json::Value =
                a["extra_data"].as_str().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
            let minor = |v: &serde_json::Value| num(v).map(|x| x / 100.0 * conn.fx_rate);
            let (old_value, new_value) = (minor(&extra["old_value"]), minor(&extra["new_value"]));
            let kind = match (kind, extra["new_value"].as_str()) {
                (ChangeKind::StatusChange, Some("PAUSED")) => ChangeKind::Pause,
                (ChangeKind::StatusChange, Some("ACTIVE")) => ChangeKind::Launch,
                (k, _) => k,
            };
            let campaign = a["object_id"].as_str().unwrap_or_default().to_string();
            changes.push(ChangeEvent {
                platform: conn.platform,
                campaign_id: campaign,
                at,
                kind,
                old_value: if kind == ChangeKind::BudgetChange { old_value } else { None },
                new_value: if kind == ChangeKind::BudgetChange { new_value } else { None },
                detail: event.to_string(),
            });
        }
    }
    Ok(PlatformBatch { rows, changes })
}
