//! The memory service's requests and answers: causal records, experiments, confounders and the
//! audit log (`/api/v1/marketing/...`), with their query parameters as typed structs.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use crate::domain::{
    CausalExperiment, CausalMarketingData, ConfounderVariable, DateRange, ExperimentStatus, NewCausalRecord, Platform,
    ValidationError,
};
use crate::storage::{PageRequest, WriteConflict};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    pub records: Vec<NewCausalRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IngestResponse {
    pub received: usize,
    pub inserted: usize,
    pub updated: usize,
    /// Already stored with the same content (a retried request): nothing written.
    pub unchanged: usize,
    /// Not written: a newer version is stored. Never silently dropped.
    pub conflicts: Vec<WriteConflict>,
    /// The stored ids, in request order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentCausalData {
    pub experiment: CausalExperiment,
    pub records: Vec<CausalMarketingData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreatedExperiment {
    /// False when the identical experiment already existed (a retried request).
    pub created: bool,
    pub experiment: CausalExperiment,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: ExperimentStatus,
    /// Optimistic concurrency: refuse (409) if the experiment changed since this time.
    #[serde(default)]
    pub expected_updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfounderAnalysis {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    pub start: chrono::NaiveDate,
    pub end: chrono::NaiveDate,
    /// The confounders seen in the range: variable, type, detection method, confidence,
    /// temporal pattern, occurrences, first and last seen; most frequent first.
    pub variables: Vec<ConfounderVariable>,
    pub total_variables: usize,
    pub total_occurrences: u64,
    /// Variables per type.
    pub by_type: BTreeMap<String, usize>,
    /// Occurrence-weighted mean confidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_confidence: Option<f64>,
}

/// Query parameters as they arrive, by name.
pub type QueryMap = HashMap<String, String>;

/// A date parameter: `YYYY-MM-DD`.
#[derive(JsonSchema)]
#[schemars(transparent)]
pub struct Day(#[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))] pub String);

fn range_of(q: &QueryMap) -> Result<DateRange, ValidationError> {
    DateRange::from_optional(q.get("start").map(String::as_str), q.get("end").map(String::as_str))
}

fn page_of(q: &QueryMap) -> Result<PageRequest, ValidationError> {
    let limit = match q.get("limit") {
        None => crate::storage::cursor::DEFAULT_PAGE_SIZE,
        Some(s) => {
            s.parse::<usize>().map_err(|_| ValidationError::new("limit", format!("{s:?} is not a whole number")))?
        }
    };
    PageRequest::new(limit, q.get("cursor").cloned())
}

/// `limit` (1-1000, default 100) and `cursor` (opaque; from the previous page's `next_cursor`,
/// for the same query and org only).
#[derive(Debug, Clone, Default, JsonSchema)]
pub struct PageQuery {
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/marketing/records`.
#[derive(JsonSchema)]
pub struct RecordsQuery {
    pub platform: Platform,
    #[schemars(length(min = 1))]
    pub campaign_id: Option<String>,
    /// First day (UTC), inclusive.
    pub start: Option<Day>,
    /// Last day (UTC), inclusive.
    pub end: Option<Day>,
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<usize>,
    /// Opaque; from the previous page's next_cursor, for the same query and org only.
    pub cursor: Option<String>,
}

/// The parsed records query.
pub struct RecordsFilter {
    pub platform: Option<String>,
    pub campaign_id: Option<String>,
    pub range: DateRange,
    pub page: PageRequest,
}

impl RecordsFilter {
    pub const PARAMS: &'static [&'static str] = &["platform", "campaign_id", "start", "end", "limit", "cursor"];

    pub fn parse(q: &QueryMap) -> Result<Self, ValidationError> {
        Ok(Self {
            range: range_of(q)?,
            page: page_of(q)?,
            platform: q.get("platform").cloned(),
            campaign_id: q.get("campaign_id").cloned(),
        })
    }
}

/// `GET /api/v1/marketing/confounders`.
#[derive(JsonSchema)]
pub struct ConfoundersQuery {
    pub platform: Option<Platform>,
    /// First day (UTC), inclusive.
    pub start: Option<Day>,
    /// Last day (UTC), inclusive.
    pub end: Option<Day>,
}

pub struct ConfoundersFilter {
    pub platform: Option<String>,
    pub range: DateRange,
}

impl ConfoundersFilter {
    pub const PARAMS: &'static [&'static str] = &["platform", "start", "end"];

    pub fn parse(q: &QueryMap) -> Result<Self, ValidationError> {
        Ok(Self { range: range_of(q)?, platform: q.get("platform").cloned() })
    }
}

/// `GET /api/v1/marketing/audit`.
#[derive(JsonSchema)]
pub struct AuditQuery {
    /// First day (UTC), inclusive.
    pub start: Option<Day>,
    /// Last day (UTC), inclusive.
    pub end: Option<Day>,
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<usize>,
    /// Opaque; from the previous page's next_cursor, for the same query and org only.
    pub cursor: Option<String>,
}

pub struct AuditFilter {
    pub range: DateRange,
    pub page: PageRequest,
}

impl AuditFilter {
    pub const PARAMS: &'static [&'static str] = &["start", "end", "limit", "cursor"];

    pub fn parse(q: &QueryMap) -> Result<Self, ValidationError> {
        Ok(Self { range: range_of(q)?, page: page_of(q)? })
    }
}

/// `GET /api/v1/marketing/experiments`.
#[derive(JsonSchema)]
pub struct ExperimentsQuery {
    pub status: Option<ExperimentStatus>,
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<usize>,
    /// Opaque; from the previous page's next_cursor, for the same query and org only.
    pub cursor: Option<String>,
}

pub struct ExperimentsFilter {
    pub status: Option<ExperimentStatus>,
    pub page: PageRequest,
}

impl ExperimentsFilter {
    pub const PARAMS: &'static [&'static str] = &["status", "limit", "cursor"];

    pub fn parse(q: &QueryMap) -> Result<Self, ValidationError> {
        let status = q
            .get("status")
            .map(|s| {
                serde_json::from_value(serde_json::Value::String(s.clone())).map_err(|_| {
                    ValidationError::new("status", format!("{s:?} is not one of draft, running, completed, cancelled"))
                })
            })
            .transpose()?;
        Ok(Self { status, page: page_of(q)? })
    }
}

/// A page query alone (`GET /api/v1/marketing/causal/{experiment_id}`).
pub struct PageFilter {
    pub page: PageRequest,
}

impl PageFilter {
    pub const PARAMS: &'static [&'static str] = &["limit", "cursor"];

    pub fn parse(q: &QueryMap) -> Result<Self, ValidationError> {
        Ok(Self { page: page_of(q)? })
    }
}
