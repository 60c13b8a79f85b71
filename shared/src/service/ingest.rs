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
