//! TikTok Business API: the integrated report (`/open_api/v1.3/report/integrated/get/`,
//! `data_level=AUCTION_CAMPAIGN`, dimensions `campaign_id` x `stat_time_day`), paged by
//! `page_info`. Every response is an envelope `{"code", "message", "data"}`: `code` 0 is
//! success, 40100 is "too many requests" (retried), anything else an error. Amounts are
//! strings in the advertiser's currency; `stat_time_day` is `"2026-09-01 00:00:00"` in the
//! advertiser's time zone. TikTok has no change-history report: interventions come from change
//! points in spend.

use chrono::NaiveDate;

use super::http::{enc, Http, Response};
use super::{num, Connection, ConnectorError, Period};
use crate::ingestion::{DailyRow, PlatformBatch};

const P: &str = "tiktok";
pub const DEFAULT_BASE: &str = "https://business-api.tiktok.com";
pub const DEFAULT_REVENUE: &str = "total_purchase_value";

fn too_many(r: &Response) -> bool {
    serde_json::from_slice::<serde_json::Value>(&r.body).ok().and_then(|v| v["code"].as_i64()) == Some(40100)
}

pub async fn fetch(
    conn: &Connection,
    period: Period,
    token: &str,
    client: &Http,
) -> Result<Vec<serde_json::Value>, ConnectorError> {
    let base = conn.base_url.as_deref().unwrap_or(DEFAULT_BASE).trim_end_matches('/');
    let revenue = conn.revenue_metric.as_deref().unwrap_or(DEFAULT_REVENUE);
    let metrics = format!(r#"["spend","impressions","clicks","conversion","campaign_name","{revenue}"]"#);
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let url = format!(
            "{base}/open_api/v1.3/report/integrated/get/?advertiser_id={}&report_type=BASIC&data_level=AUCTION_CAMPAIGN&dimensions={}&metrics={}&start_date={}&end_date={}&page={page}&page_size=1000",
            enc(&conn.account_id),
            enc(r#"["campaign_id","stat_time_day"]"#),
            enc(&metrics),
            period.start,
            period.end
        );
        let r = client.send(P, "GET", &url, &[("access-token", token.to_string())], None, too_many).await?;
        let v = r.json(P)?;
        match v["code"].as_i64() {
            Some(0) => {}
            code => {
                // TikTok's code is documented; its message is logged only.
                tracing::warn!(status = r.status, code = ?code, upstream = %v["message"].as_str().unwrap_or(""), "tiktok refused");
                return Err(ConnectorError::Api {
                    platform: P,
                    message: format!("status {}: code {}", r.status, code.unwrap_or(-1)),
                    retryable: false,
                });
            }
        }
        let total = v["data"]["page_info"]["total_page"].as_i64().unwrap_or(1);
        out.push(v);
        if page >= total || page >= 10_000 {
            break;
        }
        page += 1;
    }
    Ok(out)
}

pub fn parse(conn: &Connection, report: &[serde_json::Value]) -> Result<PlatformBatch, ConnectorError> {
    let revenue = conn.revenue_metric.as_deref().unwrap_or(DEFAULT_REVENUE);
    let mut rows = Vec::new();
    for (p, page) in report.iter().enumerate() {
        if page["code"].as_i64() != Some(0) {
            return Err(ConnectorError::malformed(P, format!("report[{p}].code"), "is not 0 (an error envelope)"));
        }
        let list = page["data"]["list"]
            .as_array()
            .ok_or_else(|| ConnectorError::malformed(P, format!("report[{p}].data.list"), "is not an array"))?;
        for (i, r) in list.iter().enumerate() {
            let at = |f: &str| format!("report[{p}].data.list[{i}].{f}");
            let d = &r["dimensions"];
            let m = &r["metrics"];
            let id = d["campaign_id"]
                .as_str()
                .map(String::from)
                .or_else(|| d["campaign_id"].as_i64().map(|x| x.to_string()))
                .ok_or_else(|| ConnectorError::malformed(P, at("dimensions.campaign_id"), "is missing"))?;
            let day: NaiveDate = d["stat_time_day"]
                .as_str()
                .and_then(|s| s.get(..10))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ConnectorError::malformed(P, at("dimensions.stat_time_day"), "is not a day"))?;
            let spend =
                num(&m["spend"]).ok_or_else(|| ConnectorError::malformed(P, at("metrics.spend"), "is not a number"))?;
            rows.push(DailyRow {
                platform: conn.platform,
                campaign_id: id,
                campaign_name: m["campaign_name"].as_str().map(String::from),
                date: day,
                timestamp: conn.day_start_utc(day)?,
                spend: spend * conn.fx_rate,
                impressions: num(&m["impressions"]).unwrap_or(0.0),
                clicks: num(&m["clicks"]).unwrap_or(0.0),
                conversions: num(&m["conversion"]).unwrap_or(0.0),
                revenue: num(&m[revenue]).unwrap_or(0.0) * conn.fx_rate,
                extra: Default::default(),
            });
        }
    }
    Ok(PlatformBatch { rows, changes: vec![] })
}
