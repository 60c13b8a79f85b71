//! Storage ports: one narrow trait per capability, each method scoped to an org.
//!
//! Adapters: [`embedded`] (SQLite file, local panel folder, in-process queue) and [`aws`]
//! (DynamoDB, S3, SQS). Both pass the same contract tests (`tests/`).

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::domain::{
    AnalysisJob, AuditEntry, CausalExperiment, CausalMarketingData, ConfounderVariable, DateRange, OrgId, Platform,
};

#[cfg(feature = "aws")]
pub mod aws;
pub mod cursor;
#[cfg(feature = "embedded")]
pub mod embedded;

pub use cursor::{Page, PageRequest};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write was refused: the stored item is newer or differs.
    #[error("conflict on {key}: {reason}")]
    Conflict { key: String, reason: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("stored item {key} could not be read: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("{backend} error: {message}")]
    Backend { backend: &'static str, message: String, retryable: bool },
}

impl StoreError {
    pub fn backend(backend: &'static str, err: impl std::fmt::Display, retryable: bool) -> Self {
        StoreError::Backend { backend, message: err.to_string(), retryable }
    }

    /// Whether trying the same call again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Backend { retryable: true, .. })
    }
}

/// What a single conditional put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PutOutcome {
    /// There was no such item.
    Inserted,
    /// An older version with different content was replaced (its `created_at` kept).
    Updated,
    /// The same content was already stored (a duplicate delivery): nothing written.
    Unchanged,
}

/// Per-record outcome of a batch put. Conflicts are reported, never swallowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPutReport {
    pub inserted: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub conflicts: Vec<WriteConflict>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WriteConflict {
    pub id: String,
    pub reason: String,
}

impl BatchPutReport {
    pub fn written(&self) -> usize {
        self.inserted.len() + self.updated.len()
    }

    pub fn record(&mut self, id: &str, outcome: PutOutcome) {
        match outcome {
            PutOutcome::Inserted => self.inserted.push(id.to_string()),
            PutOutcome::Updated => self.updated.push(id.to_string()),
            PutOutcome::Unchanged => self.unchanged.push(id.to_string()),
        }
    }
}

/// What is already stored under a record's id, as far as the write rule needs to know.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub content_hash: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The write rule every adapter applies, so a retried or reordered delivery is harmless:
/// - nothing stored: insert;
/// - same content: unchanged (no write);
/// - stored version strictly older: update, keeping the stored `created_at`;
/// - stored version as new or newer with other content: conflict.
pub fn decide_put(
    existing: Option<&StoredVersion>,
    new: &CausalMarketingData,
    new_hash: &str,
) -> Result<PutOutcome, String> {
    match existing {
        None => Ok(PutOutcome::Inserted),
        Some(old) if old.content_hash == new_hash => Ok(PutOutcome::Unchanged),
        Some(old) if old.updated_at < new.updated_at => Ok(PutOutcome::Updated),
        Some(old) => Err(format!(
            "a different version updated at {} is stored; this write (updated at {}) is not newer",
            ts_key(old.updated_at),
            ts_key(new.updated_at)
        )),
    }
}

/// A fixed-width UTC timestamp (`2026-10-01T00:00:00.000000Z`) whose text order is time order.
pub fn ts_key(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_ts_key(key: &str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt { key: key.to_string(), reason: format!("bad timestamp {s:?}: {e}") })
}

/// Which records to return. Every query is within one org, ordered by timestamp then id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordQuery {
    Platform { platform: Platform, range: DateRange },
    Campaign { platform: Platform, campaign_id: String, range: DateRange },
    Experiment { experiment_id: String },
}

impl RecordQuery {
    /// A stable description, used to bind cursors to the query that produced them.
    pub fn scope(&self, org: &OrgId) -> String {
        match self {
            RecordQuery::Platform { platform, range } => {
                format!("{org}|platform|{platform}|{}|{}", range.start, range.end)
            }
            RecordQuery::Campaign { platform, campaign_id, range } => {
                format!("{org}|campaign|{platform}|{campaign_id}|{}|{}", range.start, range.end)
            }
            RecordQuery::Experiment { experiment_id } => format!("{org}|experiment|{experiment_id}"),
        }
    }
}

/// Causal records.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Conditional put following [`decide_put`]; a conflict is `Err(StoreError::Conflict)`.
    async fn put_record(&self, record: &CausalMarketingData) -> Result<PutOutcome, StoreError>;
    /// The same rule per record; conflicts are listed in the report.
    async fn put_records(&self, records: &[CausalMarketingData]) -> Result<BatchPutReport, StoreError>;
    async fn get_record(&self, org: &OrgId, id: &str) -> Result<Option<CausalMarketingData>, StoreError>;
    async fn query_records(
        &self,
        org: &OrgId,
        query: &RecordQuery,
        page: &PageRequest,
    ) -> Result<Page<CausalMarketingData>, StoreError>;
}

/// Experiments.
#[async_trait]
pub trait ExperimentStore: Send + Sync {
    /// Create; `Unchanged` if the identical experiment exists (a retry), `Conflict` if a different one does.
    async fn create_experiment(&self, experiment: &CausalExperiment) -> Result<PutOutcome, StoreError>;
    /// Replace, only if the stored version's `updated_at` is still `expected_updated_at`.
    async fn update_experiment(
        &self,
        experiment: &CausalExperiment,
        expected_updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn get_experiment(&self, org: &OrgId, id: &str) -> Result<Option<CausalExperiment>, StoreError>;
    /// Newest first.
    async fn list_experiments(&self, org: &OrgId, page: &PageRequest) -> Result<Page<CausalExperiment>, StoreError>;
}

/// Confounder variables found for an org.
#[async_trait]
pub trait ConfounderStore: Send + Sync {
    /// Insert or merge with the stored sighting (see [`ConfounderVariable::merge`]); idempotent.
    async fn put_confounder(&self, variable: &ConfounderVariable) -> Result<(), StoreError>;
    /// By platform (or all platforms), ordered by platform then name.
    async fn list_confounders(
        &self,
        org: &OrgId,
        platform: Option<Platform>,
    ) -> Result<Vec<ConfounderVariable>, StoreError>;
}

/// The audit log: every access to an org's causal data, kept durably.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Append an entry; idempotent on its id.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// The org's entries with `at` inside `range`, newest first.
    async fn list_audit(
        &self,
        org: &OrgId,
        range: &DateRange,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError>;
}

/// Analysis jobs.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Create; `Unchanged` if the identical job exists (a retry), `Conflict` if another has the id.
    async fn create_job(&self, job: &AnalysisJob) -> Result<PutOutcome, StoreError>;
    async fn get_job(&self, org: &OrgId, id: &str) -> Result<Option<AnalysisJob>, StoreError>;
    /// Replace, only if the stored version's `updated_at` is still `expected_updated_at`.
    async fn update_job(&self, job: &AnalysisJob, expected_updated_at: DateTime<Utc>) -> Result<(), StoreError>;
    /// The org's jobs in id order (the knowledge graph reads the finished ones).
    async fn list_jobs(&self, org: &OrgId, page: &PageRequest) -> Result<Page<AnalysisJob>, StoreError>;
}

/// One item of an org's knowledge graph in the single table: the graph's head (`HEAD`: version,
/// inputs, warnings) or a node with the edges that leave it (`N#{node id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphItem {
    pub key: String,
    /// sha256 of `doc`: a rebuild writes only the items whose hash changed.
    pub hash: String,
    pub doc: String,
}

/// The org's knowledge graph as items (the source the snapshot is made from and can be rebuilt
/// from).
#[async_trait]
pub trait GraphStore: Send + Sync {
    /// The org's item keys with their hashes.
    async fn graph_hashes(&self, org: &OrgId) -> Result<BTreeMap<String, String>, StoreError>;
    /// Every item of the org, by key.
    async fn graph_items(&self, org: &OrgId) -> Result<Vec<GraphItem>, StoreError>;
    /// Puts `put` and removes the items at `delete`; either may be retried whole.
    async fn write_graph(&self, org: &OrgId, put: &[GraphItem], delete: &[String]) -> Result<(), StoreError>;
}

/// Large panels (CSV, Parquet) as opaque bytes under the org's prefix.
#[async_trait]
pub trait PanelStore: Send + Sync {
    async fn put_panel(&self, org: &OrgId, key: &str, data: Bytes) -> Result<(), StoreError>;
    async fn get_panel(&self, org: &OrgId, key: &str) -> Result<Option<Bytes>, StoreError>;
    /// The object and when it was last written (S3's `Last-Modified`, the file's modification
    /// time): an export re-dropped under the same key is newer than the first drop.
    async fn get_panel_with_time(&self, org: &OrgId, key: &str) -> Result<Option<(Bytes, DateTime<Utc>)>, StoreError>;
    /// Keys (relative to the org) under `prefix`, sorted.
    async fn list_panels(&self, org: &OrgId, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// A link that reads the object for `ttl` without credentials: an S3 presigned GET, or a
    /// `file://` URL for the local folder.
    async fn link(&self, org: &OrgId, key: &str, ttl: std::time::Duration) -> Result<String, StoreError>;
}

/// A message between pipeline stages.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Message {
    pub body: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// FIFO queues only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication_id: Option<String>,
}

impl Message {
    pub fn new(body: impl Into<String>) -> Self {
        Self { body: body.into(), ..Default::default() }
    }

    pub fn with_attribute(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attributes.insert(name.to_string(), value.into());
        self
    }
}

/// Outcome of a batch send: which messages (by index into the input) went and which did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: Vec<usize>,
    pub failed: Vec<(usize, String)>,
}

/// The queue that chains pipeline stages.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, message: &Message) -> Result<(), StoreError>;
    /// Partial failures are reported per message, not as one error.
    async fn send_batch(&self, messages: &[Message]) -> Result<SendReport, StoreError>;
}

/// Equal but for the server-set timestamps: a retried create of the same experiment.
pub fn same_experiment_content(a: &CausalExperiment, b: &CausalExperiment) -> bool {
    let mut a = a.clone();
    a.created_at = b.created_at;
    a.updated_at = b.updated_at;
    &a == b
}

/// Check a panel key: relative, `/`-separated segments of `[A-Za-z0-9_.=-]`, no `.` or `..` segments.
pub fn check_panel_key(key: &str) -> Result<(), StoreError> {
    let bad = |reason: &str| Err(StoreError::InvalidKey { key: key.to_string(), reason: reason.to_string() });
    if key.is_empty() || key.len() > 512 {
        return bad("must be 1 to 512 characters");
    }
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return bad("segments must be non-empty and not '.' or '..'");
        }
        if !seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '=')) {
            return bad("only letters, digits, '_', '-', '.', '=' and '/' are allowed");
        }
    }
    Ok(())
}

/// Check a listing prefix: empty, or a key prefix built from the same characters as keys.
pub fn check_panel_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.is_empty() {
        return Ok(());
    }
    check_panel_key(prefix.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_keys_cannot_escape() {
        assert!(check_panel_key("panels/2026/spend.csv").is_ok());
        for k in ["", "../x", "a/../b", "/abs", "a//b", "a\\b", "a b", "./x"] {
            assert!(check_panel_key(k).is_err(), "{k}");
        }
    }

    #[test]
    fn timestamp_keys_sort_as_time() {
        let a: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let b: DateTime<Utc> = "2026-01-01T00:00:00.5Z".parse().unwrap();
        let c: DateTime<Utc> = "2026-01-01T00:00:01Z".parse().unwrap();
        assert!(ts_key(a) < ts_key(b) && ts_key(b) < ts_key(c));
        assert_eq!(parse_ts_key("k", &ts_key(b)).unwrap(), b);
    }
}

/// The stores a function may use, built once per cold start from the configured backend.
#[derive(Clone)]
pub struct Stores {
    pub records: std::sync::Arc<dyn RecordStore>,
    pub experiments: std::sync::Arc<dyn ExperimentStore>,
    pub confounders: std::sync::Arc<dyn ConfounderStore>,
    pub audit: std::sync::Arc<dyn AuditStore>,
    pub jobs: std::sync::Arc<dyn JobStore>,
    pub panels: std::sync::Arc<dyn PanelStore>,
    pub graph: std::sync::Arc<dyn GraphStore>,
}

impl Stores {
    /// SQLite at `<dir>/liftos.db`, panels under `<dir>/panels/`.
    #[cfg(feature = "embedded")]
    pub fn embedded(data_dir: &std::path::Path) -> Result<Self, StoreError> {
        let db = std::sync::Arc::new(embedded::SqliteStore::open(&data_dir.join("liftos.db"))?);
        Ok(Self {
            records: db.clone(),
            experiments: db.clone(),
            confounders: db.clone(),
            audit: db.clone(),
            jobs: db.clone(),
            graph: db,
            panels: std::sync::Arc::new(embedded::LocalPanelStore::new(data_dir.join("panels"))),
        })
    }

    #[cfg(feature = "aws")]
    pub fn aws(sdk: &aws_config::SdkConfig, table: &str, bucket: &str) -> Self {
        let dynamo = std::sync::Arc::new(aws::DynamoStore::new(aws::dynamodb_client(sdk), table));
        Self {
            records: dynamo.clone(),
            experiments: dynamo.clone(),
            confounders: dynamo.clone(),
            audit: dynamo.clone(),
            jobs: dynamo.clone(),
            graph: dynamo,
            panels: std::sync::Arc::new(aws::S3PanelStore::new(aws::s3_client(sdk), bucket)),
        }
    }
}
