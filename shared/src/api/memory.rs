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
use crate::storage::{PageRequest, RecordQuery, WriteConflict};

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

fn platform_of(q: &QueryMap) -> Result<Option<Platform>, ValidationError> {
    q.get("platform").map(|p| p.parse()).transpose()
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

/// The parsed records query: one platform's records, or one campaign's, over the range.
pub struct RecordsFilter {
    pub query: RecordQuery,
    pub page: PageRequest,
}

impl RecordsFilter {
    pub const PARAMS: &'static [&'static str] = &["platform", "campaign_id", "start", "end", "limit", "cursor"];

    pub fn parse(q: &QueryMap) -> Result<Self, ValidationError> {
        let range = range_of(q)?;
        let page = page_of(q)?;
        let platform = platform_of(q)?.ok_or_else(|| ValidationError::new("platform", "is required"))?;
        let query = match q.get("campaign_id") {
            Some(c) if c.trim().is_empty() => return Err(ValidationError::new("campaign_id", "must not be empty")),
            Some(c) => RecordQuery::Campaign { platform, campaign_id: c.clone(), range },
            None => RecordQuery::Platform { platform, range },
        };
        Ok(Self { query, page })
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
    pub platform: Option<Platform>,
    pub range: DateRange,
}

impl ConfoundersFilter {
    pub const PARAMS: &'static [&'static str] = &["platform", "start", "end"];

    pub fn parse(q: &QueryMap) -> Result<Self, ValidationError> {
        Ok(Self { range: range_of(q)?, platform: platform_of(q)? })
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

// The area's HTTP routes (see [`super::routes::Route`]).

use super::routes::{error, ok, schema, PathParam, Route, ID_PATTERN};
use crate::domain::{permissions, AuditEntry, NewExperiment};
use crate::storage::Page;

pub const INGEST_CAUSAL: Route = Route {
    function: "ingest-causal",
    method: "POST",
    path: "/api/v1/marketing/ingest/causal",
    action: "records.ingest",
    permission: permissions::DATA_WRITE,
    summary: "Store a batch of causal records",
    description: "Validates every record (errors name the field, nothing is written unless the whole batch is valid) and stores them idempotently: the same observation has the same id; a retry changes nothing; a strictly older stored version is replaced; anything else is a conflict, reported and not applied (409 with this same body).",
    path_params: &[],
    query: None,
    body: Some(schema::<IngestRequest>),
    answers: &[
        ok(200, "Stored (or already stored)", schema::<IngestResponse>),
        ok(409, "Some records conflicted with newer stored data; the others were written", schema::<IngestResponse>),
    ],
};

pub const GET_EXPERIMENT_CAUSAL: Route = Route {
    function: "get-experiment-causal",
    method: "GET",
    path: "/api/v1/marketing/causal/{experiment_id}",
    action: "experiments.causal_data",
    permission: permissions::DATA_READ,
    summary: "An experiment with its causal records",
    description: "The experiment and a page of the records linked to it, in time order.",
    path_params: &[PathParam { name: "experiment_id", pattern: ID_PATTERN }],
    query: Some(schema::<PageQuery>),
    body: None,
    answers: &[
        ok(200, "The experiment and a page of its records", schema::<ExperimentCausalData>),
        error(404, "No such experiment in your org"),
    ],
};

pub const CREATE_EXPERIMENT: Route = Route {
    function: "create-experiment",
    method: "POST",
    path: "/api/v1/marketing/experiments",
    action: "experiments.create",
    permission: permissions::EXPERIMENTS_MANAGE,
    summary: "Register an experiment",
    description: "201 when created, 200 when the identical experiment already existed (a retry), 409 when a different one has the id. The org and the timestamps are set by the server.",
    path_params: &[],
    query: None,
    body: Some(schema::<NewExperiment>),
    answers: &[
        ok(201, "Created", schema::<CreatedExperiment>),
        ok(200, "Already there, identical", schema::<CreatedExperiment>),
        error(409, "Another experiment has this id"),
    ],
};

pub const GET_EXPERIMENT: Route = Route {
    function: "get-experiment",
    method: "GET",
    path: "/api/v1/marketing/experiments/{experiment_id}",
    action: "experiments.get",
    permission: permissions::DATA_READ,
    summary: "One experiment",
    description: "Another org's experiment is a 404, as one that does not exist.",
    path_params: &[PathParam { name: "experiment_id", pattern: ID_PATTERN }],
    query: None,
    body: None,
    answers: &[ok(200, "The experiment", schema::<CausalExperiment>), error(404, "No such experiment in your org")],
};

pub const LIST_EXPERIMENTS: Route = Route {
    function: "list-experiments",
    method: "GET",
    path: "/api/v1/marketing/experiments",
    action: "experiments.list",
    permission: permissions::DATA_READ,
    summary: "The org's experiments",
    description: "Newest first, a page at a time, optionally by status.",
    path_params: &[],
    query: Some(schema::<ExperimentsQuery>),
    body: None,
    answers: &[ok(200, "A page of experiments", schema::<Page<CausalExperiment>>)],
};

pub const UPDATE_EXPERIMENT_STATUS: Route = Route {
    function: "update-experiment-status",
    method: "PATCH",
    path: "/api/v1/marketing/experiments/{experiment_id}/status",
    action: "experiments.update_status",
    permission: permissions::EXPERIMENTS_MANAGE,
    summary: "Move an experiment to another status",
    description: "draft -> running | cancelled; running -> completed | cancelled. Asking for the current status again changes nothing.",
    path_params: &[PathParam { name: "experiment_id", pattern: ID_PATTERN }],
    query: None,
    body: Some(schema::<StatusChange>),
    answers: &[
        ok(200, "The experiment as it is now", schema::<CausalExperiment>),
        error(404, "No such experiment in your org"),
        error(409, "It changed since expected_updated_at"),
    ],
};

pub const QUERY_RECORDS: Route = Route {
    function: "query-records",
    method: "GET",
    path: "/api/v1/marketing/records",
    action: "records.query",
    permission: permissions::DATA_READ,
    summary: "Causal records by platform, campaign and dates",
    description: "In time order, a page at a time.",
    path_params: &[],
    query: Some(schema::<RecordsQuery>),
    body: None,
    answers: &[ok(200, "A page of records", schema::<Page<CausalMarketingData>>)],
};

pub const LIST_CONFOUNDERS: Route = Route {
    function: "list-confounders",
    method: "GET",
    path: "/api/v1/marketing/confounders",
    action: "confounders.analysis",
    permission: permissions::DATA_READ,
    summary: "The confounders seen in a date range",
    description:
        "Each variable with its type, detection method, confidence, pattern and occurrences; most frequent first.",
    path_params: &[],
    query: Some(schema::<ConfoundersQuery>),
    body: None,
    answers: &[ok(200, "The confounders", schema::<super::memory::ConfounderAnalysis>)],
};

pub const QUERY_AUDIT_LOG: Route = Route {
    function: "query-audit-log",
    method: "GET",
    path: "/api/v1/marketing/audit",
    action: "audit.query",
    permission: permissions::AUDIT_READ,
    summary: "The org's audit log",
    description: "Every access (who, what, when, status, outcome), newest first. Administrators only.",
    path_params: &[],
    query: Some(schema::<AuditQuery>),
    body: None,
    answers: &[ok(200, "A page of audit entries", schema::<Page<AuditEntry>>)],
};

/// The memory routes, in the order of the API document.
pub const ROUTES: &[Route] = &[
    INGEST_CAUSAL,
    GET_EXPERIMENT_CAUSAL,
    CREATE_EXPERIMENT,
    GET_EXPERIMENT,
    LIST_EXPERIMENTS,
    UPDATE_EXPERIMENT_STATUS,
    QUERY_RECORDS,
    LIST_CONFOUNDERS,
    QUERY_AUDIT_LOG,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> QueryMap {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_records_query_is_parsed_into_its_platform_and_campaign() {
        let f = RecordsFilter::parse(&query(&[("platform", "meta"), ("campaign_id", "c1"), ("limit", "5")])).unwrap();
        match f.query {
            RecordQuery::Campaign { platform, campaign_id, .. } => {
                assert_eq!((platform, campaign_id.as_str()), (Platform::Meta, "c1"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(f.page.limit, 5);
        let f = RecordsFilter::parse(&query(&[("platform", "google_ads")])).unwrap();
        assert!(matches!(f.query, RecordQuery::Platform { platform: Platform::GoogleAds, .. }));
        for (pairs, field, says) in [
            (&[][..], "platform", "is required"),
            (&[("platform", "myspace")][..], "platform", "unknown platform \"myspace\""),
            (&[("platform", "meta"), ("campaign_id", " ")][..], "campaign_id", "must not be empty"),
            (&[("platform", "myspace"), ("limit", "x")][..], "limit", "is not a whole number"),
        ] {
            let e = RecordsFilter::parse(&query(pairs)).err().expect("an error");
            assert_eq!(e.field(), field, "{pairs:?}");
            assert!(e.to_string().contains(says), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn the_confounders_platform_is_optional_but_must_be_known() {
        assert_eq!(ConfoundersFilter::parse(&query(&[])).unwrap().platform, None);
        assert_eq!(
            ConfoundersFilter::parse(&query(&[("platform", "tiktok")])).unwrap().platform,
            Some(Platform::Tiktok)
        );
        let e = ConfoundersFilter::parse(&query(&[("platform", "TikTok")])).err().expect("an error");
        assert_eq!(e.field(), "platform");
    }
}
