//! Exports dropped as files: CSV or Parquet, mapped column by column. Each row is checked; a
//! row that cannot be read is reported with its line and column, and the rest still land.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Connection, ConnectorError};
use crate::ingestion::{DailyRow, PlatformBatch};
use liftos_estimators::data::{Column, Table};

/// Which export column holds each field (absent metrics are 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    pub date: String,
    pub campaign_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_name: Option<String>,
    pub spend: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impressions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clicks: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<String>,
    /// chrono format of the date column (default `%Y-%m-%d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
    /// Multiply money columns by this first (e.g. 1e-6 for micros).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub money_scale: Option<f64>,
}

/// A row of the export that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadRow {
    /// 1-based data row (after the header).
    pub row: usize,
    pub column: String,
    pub reason: String,
}

fn cell(t: &Table, col: &str, i: usize) -> Option<String> {
    match t.column(col).ok()? {
        Column::Num(v) => v.get(i).filter(|x| x.is_finite()).map(|x| x.to_string()),
        Column::Text(v) => v.get(i).cloned(),
    }
}

/// Days from 1970-01-01 to 9999-12-31: the last date a numeric date column may hold.
const MAX_DATE_DAYS: f64 = 2_932_896.0;

/// Map the table's rows; unreadable rows are returned beside the good ones. A missing column
/// fails the whole file (nothing in it can be read).
pub fn parse(conn: &Connection, table: &Table) -> Result<(PlatformBatch, Vec<BadRow>), ConnectorError> {
    let map = conn.column_map.as_ref().ok_or_else(|| ConnectorError::malformed("file", "column_map", "is required"))?;
    let mut needed = vec![&map.date, &map.campaign_id, &map.spend];
    needed.extend(
        [&map.impressions, &map.clicks, &map.conversions, &map.revenue, &map.campaign_name].into_iter().flatten(),
    );
    for c in needed {
        if table.column(c).is_err() {
            return Err(ConnectorError::malformed(
                "file",
                format!("column_map: {c}"),
                format!("the export has no such column (it has: {})", table.names.join(", ")),
            ));
        }
    }
    let fmt = map.date_format.as_deref().unwrap_or("%Y-%m-%d");
    let scale = map.money_scale.unwrap_or(1.0) * conn.fx_rate;
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    'rows: for i in 0..table.rows {
        let get = |c: &str| cell(table, c, i);
        let number = |c: &Option<String>| -> Result<f64, (String, String)> {
            match c {
                None => Ok(0.0),
                Some(c) => match get(c) {
                    None => Ok(0.0),
                    Some(s) if s.trim().is_empty() => Ok(0.0),
                    Some(s) => s
                        .trim()
                        .replace(',', "")
                        .parse::<f64>()
                        .map_err(|_| (c.clone(), format!("{s:?} is not a number"))),
                },
            }
        };
        // A Parquet DATE column arrives as days since 1970-01-01 (up to 9999-12-31); anything
        // else, a number like 20260901 included, is text parsed with the format.
        let as_days = match table.column(&map.date) {
            Ok(Column::Num(v)) => v
                .get(i)
                .filter(|x| x.is_finite() && x.fract() == 0.0 && (0.0..=MAX_DATE_DAYS).contains(*x))
                .and_then(|x| NaiveDate::default().checked_add_signed(chrono::Duration::days(*x as i64))),
            _ => None,
        };
        let date = match as_days.or_else(|| get(&map.date).and_then(|s| NaiveDate::parse_from_str(s.trim(), fmt).ok()))
        {
            Some(d) => d,
            None => {
                bad.push(BadRow {
                    row: i + 1,
                    column: map.date.clone(),
                    reason: format!("not a date in the format {fmt}"),
                });
                continue;
            }
        };
        let campaign = match get(&map.campaign_id).filter(|s| !s.trim().is_empty()) {
            Some(c) => c.trim().trim_end_matches(".0").to_string(),
            None => {
                bad.push(BadRow { row: i + 1, column: map.campaign_id.clone(), reason: "is empty".into() });
                continue;
            }
        };
        let mut vals = [0.0; 5];
        for (k, c) in [
            Some(map.spend.clone()),
            map.impressions.clone(),
            map.clicks.clone(),
            map.conversions.clone(),
            map.revenue.clone(),
        ]
        .iter()
        .enumerate()
        {
            match number(c) {
                Ok(v) => vals[k] = v,
                Err((column, reason)) => {
                    bad.push(BadRow { row: i + 1, column, reason });
                    continue 'rows;
                }
            }
        }
        rows.push(DailyRow {
            platform: conn.platform,
            campaign_id: campaign,
            campaign_name: map.campaign_name.as_deref().and_then(get),
            date,
            timestamp: conn.day_start_utc(date)?,
            spend: vals[0] * scale,
            impressions: vals[1],
            clicks: vals[2],
            conversions: vals[3],
            revenue: vals[4] * scale,
            extra: Default::default(),
        });
    }
    Ok((PlatformBatch { rows, changes: vec![] }, bad))
}
