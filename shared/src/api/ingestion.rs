//! The ingestion pipeline's HTTP entry: `POST /api/v1/ingestion/sync`.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{Platform, ValidationError};
use crate::ingestion::connectors::Period;
use crate::service::chain::ChainOutcome;

/// Sync the caller's org now: one connection (default: all), for a period (default: the last
/// two full days, UTC). The body may be empty or any field null.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    #[serde(default)]
    pub connection_id: Option<String>,
    #[serde(default)]
    pub start: Option<NaiveDate>,
    #[serde(default)]
    pub end: Option<NaiveDate>,
}

/// A sync covers at most this many days (split longer backfills).
pub const MAX_SYNC_DAYS: i64 = 93;

impl SyncRequest {
    /// The period to sync: the given days, defaulting to `default`.
    pub fn period(&self, default: Period) -> Result<Period, ValidationError> {
        let p = Period { start: self.start.unwrap_or(default.start), end: self.end.unwrap_or(default.end) };
        if p.start > p.end {
            return Err(ValidationError::new("end", "must not be before start"));
        }
        if (p.end - p.start).num_days() >= MAX_SYNC_DAYS {
            return Err(ValidationError::new("end", "a sync covers at most 93 days; split longer backfills"));
        }
        Ok(p)
    }
}

/// What one connection landed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SyncedConnection {
    pub connection_id: String,
    pub platform: Platform,
    pub raw_key: Option<String>,
    pub pages: usize,
    pub error: Option<String>,
    /// Whether trying again may succeed (a rate limit past the retries, an outage): the
    /// scheduled sync's queue redelivers those and sends the others to its DLQ.
    #[serde(skip)]
    #[schemars(skip)]
    pub retryable: bool,
}

/// What a sync did: each connection's pages, and (on the embedded default, where the next
/// stages run in the same call) what the rest of the pipeline did with them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SyncResponse {
    pub period: Period,
    pub connections: Vec<SyncedConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<ChainOutcome>,
}

/// The scheduled sync's unit of work, one message per org and connection on the sync queue,
/// so a failure stays with its org.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncConnectionMessage {
    pub org_id: crate::domain::OrgId,
    pub connection_id: String,
    pub period: Period,
}

/// At most this many orgs in one schedule's input.
pub const MAX_SCHEDULED_ORGS: usize = 10_000;

/// The schedule's input to the sync stage: the orgs to sync, optionally a period.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledSync {
    pub orgs: Vec<String>,
    #[serde(default)]
    pub start: Option<NaiveDate>,
    #[serde(default)]
    pub end: Option<NaiveDate>,
}

// The area's HTTP routes (see [`super::routes::Route`]).

use super::routes::{error, ok, schema, Route};
use crate::domain::permissions;

pub const SYNC_NOW: Route = Route {
    function: "sync-now",
    method: "POST",
    path: "/api/v1/ingestion/sync",
    action: "ingestion.sync",
    permission: permissions::DATA_WRITE,
    summary: "Sync the org's ad platforms now",
    description: "Fetch one connection (or all) for a period (default: the last two full days) and hand the raw pages to the pipeline.",
    path_params: &[],
    query: None,
    body: Some(schema::<SyncRequest>),
    answers: &[
        ok(200, "What each connection landed", schema::<SyncResponse>),
        error(409, "The org's connection configuration cannot be used"),
    ],
};

/// The ingestion routes, in the order of the API document.
pub const ROUTES: &[Route] = &[SYNC_NOW];
