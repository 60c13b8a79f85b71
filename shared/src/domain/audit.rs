//! `AuditEntry`: one access to an org's causal data — who, which org, what, when, and the outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::OrgId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Written before a change is attempted (the id ends in `:started`); the entry with the
    /// same id without the suffix records how it ended. A started entry without its outcome is
    /// a request that was cut off (a time-out, a crash): its change may or may not have happened.
    Started,
    /// Served (2xx).
    Allowed,
    /// Refused for want of a permission (403).
    Denied,
    /// Refused as a bad request (400, 404, 409, 413).
    Rejected,
    /// Failed on our side (5xx).
    Failed,
}

impl AuditOutcome {
    pub fn from_status(status: u16) -> Self {
        match status {
            200..=299 => AuditOutcome::Allowed,
            403 => AuditOutcome::Denied,
            400..=499 => AuditOutcome::Rejected,
            _ => AuditOutcome::Failed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditEntry {
    /// Unique per access (a UUID).
    pub id: String,
    pub org_id: OrgId,
    /// The token's subject.
    pub user_id: String,
    /// The endpoint's action, e.g. `experiments.create`.
    pub action: String,
    pub method: String,
    /// The path requested, e.g. `/api/v1/marketing/experiments/exp-1`.
    pub resource: String,
    /// The HTTP status answered (0 in a `started` entry).
    pub status: u16,
    pub outcome: AuditOutcome,
    /// The query string, as sent (filters, page size, cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What a use case adds (a language-model call: model, prompt hash and tokens; never the
    /// text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}
