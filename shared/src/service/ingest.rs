//! `POST /api/v1/marketing/ingest/causal`: validate a batch of causal records and store it.

use chrono::{DateTime, Utc};
use std::collections::HashMap;

use super::{require, ServiceError};
pub use crate::api::memory::{IngestRequest, IngestResponse};
use crate::domain::error::from_json_value;
use crate::domain::{permissions, CausalMarketingData, OrgId, UserContext, ValidationError, Validator};
use crate::storage::{BatchPutReport, RecordStore};

/// At most this many records per request (a request is also capped in bytes by the handler).
pub const MAX_RECORDS_PER_REQUEST: usize = 1000;

impl IngestResponse {
    fn from_report(received: usize, ids: Vec<String>, report: BatchPutReport) -> Self {
        Self {
            received,
            inserted: report.inserted.len(),
            updated: report.updated.len(),
            unchanged: report.unchanged.len(),
            conflicts: report.conflicts,
            record_ids: ids,
        }
    }
}

/// Parse and check a request body into records for `org`. Every problem is reported with its
/// path (`records[3].metrics.spend`); nothing is written unless the whole batch is valid.
pub fn parse_records(
    org: &OrgId,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<CausalMarketingData>, ValidationError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ValidationError::new("body", format!("is not valid JSON: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Err(ValidationError::new("body", "must be a JSON object with a `records` array"));
    };
    // The org is the caller's, from the verified token; a body naming one is refused outright.
    if let Some(list) = obj.get("records").and_then(|r| r.as_array()) {
        let mut v = Validator::new();
        for (i, r) in list.iter().enumerate() {
            for forbidden in ["org_id", "id", "created_at", "updated_at"] {
                if r.get(forbidden).is_some() {
                    v.push(
                        format!("records[{i}].{forbidden}"),
                        match forbidden {
                            "org_id" => "must not be set: the org comes from your token",
                            "id" => "must not be set: the id is derived from platform, campaign_id and timestamp",
                            _ => "must not be set: it is set by the server",
                        },
                    );
                }
            }
        }
        v.finish()?;
        if list.is_empty() {
            return Err(ValidationError::new("records", "must contain at least one record"));
        }
        if list.len() > MAX_RECORDS_PER_REQUEST {
            return Err(ValidationError::new(
                "records",
                format!("has {} records; at most {MAX_RECORDS_PER_REQUEST} per request", list.len()),
            ));
        }
    }
    let req: IngestRequest = from_json_value(value)?;
    let mut v = Validator::new();
    let mut out = Vec::with_capacity(req.records.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, r) in req.records.into_iter().enumerate() {
        match r.into_record(org, now) {
            Ok(rec) => {
                if let Some(first) = seen.insert(rec.id.clone(), i) {
                    v.push(
                        format!("records[{i}]"),
                        format!("duplicates records[{first}] (same platform, campaign_id and timestamp)"),
                    );
                }
                out.push(rec);
            }
            Err(e) => v.nested(&format!("records[{i}]"), Err(e)),
        }
    }
    v.finish()?;
    Ok(out)
}

/// Validate the whole batch, then store it with the idempotent write rule.
pub async fn ingest_causal(
    records: &dyn RecordStore,
    user: &UserContext,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<IngestResponse, ServiceError> {
    require(user, permissions::DATA_WRITE)?;
    let parsed = parse_records(&user.org_id, body, now)?;
    let ids: Vec<String> = parsed.iter().map(|r| r.id.clone()).collect();
    let report = records.put_records(&parsed).await?;
    tracing::info!(
        org_id = %user.org_id,
        received = parsed.len(),
        inserted = report.inserted.len(),
        updated = report.updated.len(),
        unchanged = report.unchanged.len(),
        conflicts = report.conflicts.len(),
        "causal records ingested"
    );
    Ok(IngestResponse::from_report(parsed.len(), ids, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(day: u32) -> serde_json::Value {
        serde_json::json!({
            "platform": "meta", "campaign_id": "cmp-1", "timestamp": format!("2026-10-{day:02}T00:00:00Z"),
            "metrics": {"spend": 100.0, "impressions": 1000, "clicks": 10, "conversions": 1.0, "revenue": 50.0}
        })
    }

    fn parse(records: Vec<serde_json::Value>) -> Result<Vec<CausalMarketingData>, ValidationError> {
        let org = OrgId::new("acme").expect("org");
        let body = serde_json::json!({ "records": records }).to_string();
        parse_records(&org, body.as_bytes(), Utc::now())
    }

    fn fields(e: &ValidationError) -> Vec<(String, String)> {
        e.errors.iter().map(|f| (f.field.clone(), f.message.clone())).collect()
    }

    /// What the server sets (the org from the token, the id, the timestamps) is refused in a
    /// record, each field named with why, all of them at once; the records are stored under the
    /// caller's org with their derived ids.
    #[test]
    fn server_set_fields_are_refused_each_with_its_reason() {
        let mut bad = record(1);
        for (k, v) in [("org_id", "globex"), ("id", "x"), ("created_at", "2026-10-01T00:00:00Z")] {
            bad[k] = serde_json::json!(v);
        }
        let mut late = record(2);
        late["updated_at"] = serde_json::json!("2026-10-02T00:00:00Z");
        let e = parse(vec![record(3), bad, late]).expect_err("refused");
        assert_eq!(
            fields(&e),
            [
                ("records[1].org_id", "must not be set: the org comes from your token"),
                ("records[1].id", "must not be set: the id is derived from platform, campaign_id and timestamp"),
                ("records[1].created_at", "must not be set: it is set by the server"),
                ("records[2].updated_at", "must not be set: it is set by the server"),
            ]
            .map(|(f, m)| (f.to_string(), m.to_string()))
        );
        let ok = parse(vec![record(1), record(2)]).expect("valid");
        assert_eq!(ok.len(), 2);
        assert!(ok.iter().all(|r| r.org_id.as_str() == "acme"));
        assert_ne!(ok[0].id, ok[1].id);
    }

    /// An empty batch, one over the cap and the same campaign's day twice are refused naming
    /// `records`; the cap itself is accepted.
    #[test]
    fn empty_oversized_and_duplicated_batches_are_refused() {
        let e = parse(vec![]).expect_err("empty");
        assert_eq!(fields(&e), [("records".to_string(), "must contain at least one record".to_string())]);
        let day = |i: usize| {
            let mut r = record(1);
            r["timestamp"] = serde_json::json!((chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("d")
                + chrono::Duration::days(i as i64))
            .format("%Y-%m-%dT00:00:00Z")
            .to_string());
            r
        };
        let at_cap: Vec<_> = (0..MAX_RECORDS_PER_REQUEST).map(day).collect();
        assert_eq!(parse(at_cap).expect("at the cap").len(), MAX_RECORDS_PER_REQUEST);
        let over: Vec<_> = (0..=MAX_RECORDS_PER_REQUEST).map(day).collect();
        let e = parse(over).expect_err("over the cap");
        assert_eq!(
            fields(&e),
            [("records".to_string(), format!("has 1001 records; at most {MAX_RECORDS_PER_REQUEST} per request"))]
        );
        let e = parse(vec![record(1), record(2), record(1)]).expect_err("duplicate");
        assert_eq!(
            fields(&e),
            [(
                "records[2]".to_string(),
                "duplicates records[0] (same platform, campaign_id and timestamp)".to_string()
            )]
        );
        for body in [&b"[1, 2]"[..], b"{\"records\": "] {
            let e = parse_records(&OrgId::new("acme").expect("org"), body, Utc::now()).expect_err("not an object");
            assert_eq!(e.errors[0].field, "body");
        }
    }
}
