//! An analysis job: a request too large to answer inside an HTTP call, run by the batch-analysis
//! stage. Its status moves `queued` → `running` → `succeeded` | `failed`; a finished job never
//! changes again, so a redelivered message cannot overwrite its result.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::OrgId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    /// The name as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

/// How far a running job has got: steps done of the total (each method of the request, then
/// the report when one is asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobProgress {
    pub done: u32,
    pub total: u32,
}

/// Why a job failed: the same shape as an HTTP error (the status it would have had).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobError {
    pub status: u16,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnalysisJob {
    pub id: String,
    pub org_id: OrgId,
    /// Who asked, and the permissions their verified token carried then.
    pub user_id: String,
    pub permissions: Vec<String>,
    /// What to run: `analyze_advanced`, `treatment_effect` or `discover`.
    pub kind: String,
    pub status: JobStatus,
    /// The request body, kept in the panel store under the org (it may be megabytes).
    pub request_key: String,
    /// The result, when small enough to keep in the job item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Where a large result was written instead (a panel-store key under the org).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    /// Deliveries that started running it.
    #[serde(default)]
    pub attempts: u32,
    /// Steps done of the total, from when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<JobProgress>,
    /// When the last delivery started running it (its function's timeout counts from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AnalysisJob {
    /// A job just queued by `user_id` of `org_id` with these permissions: its request at
    /// `request_key`, no attempt, progress, result or error yet.
    pub fn queued(
        id: String,
        org_id: OrgId,
        user_id: String,
        permissions: Vec<String>,
        kind: String,
        request_key: String,
        now: DateTime<Utc>,
    ) -> Self {
        AnalysisJob {
            id,
            org_id,
            user_id,
            permissions,
            kind,
            status: JobStatus::Queued,
            request_key,
            result: None,
            result_key: None,
            error: None,
            attempts: 0,
            progress: None,
            started_at: None,
            created_at: now,
            updated_at: now,
        }
    }
}
