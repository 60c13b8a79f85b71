//! The API's one error format, and the one table from outcomes to status codes. HTTP answers,
//! failed jobs and the `liftos` command all take their errors from here.
//!
//! ```json
//! {"error": "invalid_request", "message": "records[0].metrics.spend: must not be negative (got -1)",
//!  "field": "records[0].metrics.spend", "details": [{"field": "...", "message": "..."}], "request_id": "..."}
//! ```
//! 4xx for the caller's mistakes; 5xx only for ours (and without internal detail).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{FieldError, JobError, ValidationError};
use crate::service::ServiceError;
use crate::storage::StoreError;

/// The most field errors an answer lists in `details`: a body of 10,000 bad records is named by
/// its first 100 (the message says how many there are).
pub const MAX_DETAILS: usize = 100;

/// Requests larger than this are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

crate::names! {
    /// What kind of error: the caller's mistakes (4xx) or ours (5xx).
    pub enum ErrorCode {
        InvalidRequest = "invalid_request",
        Unauthorized = "unauthorized",
        Forbidden = "forbidden",
        NotFound = "not_found",
        MethodNotAllowed = "method_not_allowed",
        Conflict = "conflict",
        PayloadTooLarge = "payload_too_large",
        Unavailable = "unavailable",
        InternalError = "internal_error",
    }
    expected "an error code"
}

/// An error answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: ErrorCode,
    pub message: String,
    /// The field, parameter or header to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem, when there are several (the first 100; `message` counts them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    /// The message cut to three times [`liftos_estimators::MAX_ERROR_TEXT`] characters (room for
    /// a field error's field and message, each already cut to it, and the count of the others).
    pub fn new(status: u16, error: ErrorCode, message: impl Into<String>) -> Self {
        let message = liftos_estimators::clip_to(message.into(), 3 * liftos_estimators::MAX_ERROR_TEXT);
        Self { status, error, message, field: None, details: vec![], request_id: None }
    }

    /// 400 naming the field; the message is prefixed with it.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ValidationError::new(field, message).into()
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(permission: &str) -> Self {
        Self::new(403, ErrorCode::Forbidden, format!("this operation needs the permission {permission}"))
    }

    pub fn internal() -> Self {
        Self::new(500, ErrorCode::InternalError, "an internal error occurred; it has been logged")
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, ErrorCode::Unavailable, message)
    }

    /// How a failed job records it.
    pub fn to_job_error(&self) -> JobError {
        JobError {
            status: self.status,
            code: self.error.to_string(),
            field: self.field.clone(),
            message: self.message.clone(),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let mut out = Self::new(400, ErrorCode::InvalidRequest, e.summary());
        let field = e.field().to_string();
        out.field = if field.is_empty() { None } else { Some(field) };
        // every problem up to MAX_DETAILS (the message counts them all)
        out.details = if e.errors.len() > 1 { e.errors.into_iter().take(MAX_DETAILS).collect() } else { vec![] };
        out
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor(why) => ApiError::invalid("cursor", why),
            StoreError::InvalidKey { key, reason } => ApiError::invalid("key", format!("{key:?}: {reason}")),
            StoreError::NotFound(what) => ApiError::new(404, ErrorCode::NotFound, format!("{what} not found")),
            StoreError::Conflict { key, reason } => ApiError::new(409, ErrorCode::Conflict, format!("{key}: {reason}")),
            StoreError::Backend { retryable: true, .. } => {
                tracing::error!(error = %e, "store unavailable");
                ApiError::unavailable("the store is busy; retry with backoff (the request is idempotent)")
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(v) => v.into(),
            ServiceError::Forbidden { permission } => ApiError::forbidden(&permission),
            ServiceError::NotFound { what } => ApiError::new(404, ErrorCode::NotFound, format!("{what} not found")),
            ServiceError::Conflict(m) => ApiError::new(409, ErrorCode::Conflict, m),
            ServiceError::Store(s) => s.into(),
            ServiceError::Internal(m) => ApiError::new(500, ErrorCode::InternalError, m),
        }
    }
}
