//! The store stage of the pipeline: a queue message carries a batch of records for one org; the
//! stage validates and writes them. Delivery is at least once, so the stage is idempotent:
//! records have natural-key ids, identical content is left unchanged, and a stale redelivery
//! (a message older than what is stored) is reported as superseded and writes nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::error::from_json_str;
use crate::domain::{NewCausalRecord, OrgId, ValidationError};
use crate::storage::{RecordStore, StoreError, WriteConflict};

/// The body of a message to the store stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreRecordsMessage {
    /// Set by the upstream stage from the caller's verified identity.
    pub org_id: OrgId,
    /// The upstream batch, for tracing.
    pub batch_id: String,
    /// When the upstream stage produced this data: becomes the records' `updated_at`, so a
    /// redelivered old message can never overwrite data produced later.
    pub produced_at: DateTime<Utc>,
    pub records: Vec<NewCausalRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageOutcome {
    pub stored: usize,
    pub unchanged: usize,
    /// Newer data was already stored for these ids; logged, not applied.
    pub superseded: Vec<WriteConflict>,
    /// Records the store's rules refuse (`records[i]: field: why`): the others are stored, these
    /// are logged and quarantined, never silently dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<WriteConflict>,
}

/// Why a message failed: a poison message will never succeed (send it to the DLQ with the
/// reason); a transient failure may succeed on redelivery.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Never succeeds: the input is wrong, and it says which field (a poison message in a queue;
    /// a 400 naming the field over HTTP).
    #[error("poison message: {}", .0.summary())]
    Invalid(ValidationError),
    #[error("poison message: {0}")]
    Poison(String),
    #[error("transient failure: {0}")]
    Transient(String),
}

impl StageError {
    /// Why, without the kind of failure (what a dead-letter queue records).
    pub fn reason(&self) -> String {
        match self {
            StageError::Invalid(v) => v.summary(),
            StageError::Poison(r) | StageError::Transient(r) => r.clone(),
        }
    }
}

impl From<ValidationError> for StageError {
    fn from(e: ValidationError) -> Self {
        StageError::Invalid(e)
    }
}

impl From<StoreError> for StageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidKey { .. } | StoreError::InvalidCursor(_) => StageError::Poison(e.to_string()),
            other => StageError::Transient(other.to_string()),
        }
    }
}

pub async fn store_records_message(records: &dyn RecordStore, body: &str) -> Result<StageOutcome, StageError> {
    let msg: StoreRecordsMessage = from_json_str(body)?;
    if msg.records.is_empty() {
        return Err(StageError::Poison("records: must contain at least one record".into()));
    }
    let mut parsed = Vec::with_capacity(msg.records.len());
    let mut rejected = Vec::new();
    for (i, r) in msg.records.into_iter().enumerate() {
        let id = format!("records[{i}] (campaign {} at {})", r.campaign_id, r.timestamp.to_rfc3339());
        match r.into_record(&msg.org_id, msg.produced_at) {
            Ok(rec) => parsed.push(rec),
            Err(e) => rejected.push(WriteConflict { id, reason: e.summary() }),
        }
    }
    if !rejected.is_empty() {
        tracing::warn!(org_id = %msg.org_id, batch_id = %msg.batch_id, rejected = ?rejected, "records refused by the store's rules; the rest are stored");
    }
    let report = if parsed.is_empty() { Default::default() } else { records.put_records(&parsed).await? };
    if !report.conflicts.is_empty() {
        tracing::warn!(
            org_id = %msg.org_id,
            batch_id = %msg.batch_id,
            superseded = report.conflicts.len(),
            ids = ?report.conflicts.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            "stale redelivery: newer data already stored for these records; not applied"
        );
    }
    tracing::info!(org_id = %msg.org_id, batch_id = %msg.batch_id, stored = report.written(), unchanged = report.unchanged.len(), "batch stored");
    Ok(StageOutcome {
        stored: report.written(),
        unchanged: report.unchanged.len(),
        superseded: report.conflicts,
        rejected,
    })
}

/// The store stage: store the message's records, then announce the new data on `next` (where
/// it is configured: the in-process chain, or the data-ready queue).
pub async fn store_and_announce(
    stores: &crate::storage::Stores,
    next: Option<&dyn crate::storage::Queue>,
    body: &str,
) -> Result<StageOutcome, StageError> {
    let out = store_records_message(stores.records.as_ref(), body).await?;
    let m: StoreRecordsMessage = from_json_str(body)?;
    if !out.rejected.is_empty() {
        // Kept where the quality stage keeps its rejected rows, under the batch's name: a
        // redelivery rewrites the same object.
        let q = serde_json::json!({ "batch_id": m.batch_id, "stage": "store", "rows": out.rejected });
        let bytes = serde_json::to_vec(&q).map_err(|e| StageError::Poison(e.to_string()))?;
        stores
            .panels
            .put_panel(&m.org_id, &format!("quarantine/{}-store.json", m.batch_id), bytes.into())
            .await
            .map_err(StageError::from)?;
    }
    if let Some(q) = next {
        let ready = super::ingestion::DataReady {
            org_id: m.org_id.clone(),
            batch_id: m.batch_id.clone(),
            stored: out.stored,
            unchanged: out.unchanged,
            campaigns: m
                .records
                .iter()
                .map(|r| r.campaign_id.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            first: m.records.iter().map(|r| r.timestamp).min(),
            last: m.records.iter().map(|r| r.timestamp).max(),
        };
        let text = serde_json::to_string(&ready).map_err(|e| StageError::Poison(e.to_string()))?;
        q.send(&crate::storage::Message::new(text).with_attribute("liftos_kind", "data_ready"))
            .await
            .map_err(|e| StageError::Transient(e.to_string()))?;
    }
    Ok(out)
}
