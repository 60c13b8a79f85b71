//! The API's one error format, and the mapping of outcomes to status codes.
//!
//! ```json
//! {"error": "invalid_request", "message": "records[0].metrics.spend: must not be negative (got -1)",
//!  "field": "records[0].metrics.spend", "details": [{"field": "...", "message": "..."}], "request_id": "..."}
//! ```
//! 4xx for the caller's mistakes; 5xx only for ours (and without internal detail).

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::domain::{FieldError, ValidationError};
use crate::service::ServiceError;
use crate::storage::StoreError;

/// Requests larger than this are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, error: &'static str, message: impl Into<String>) -> Self {
        Self { status, error, message: message.into(), field: None, details: vec![], request_id: None }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(400, "invalid_request", message);
        e.field = Some(field.to_string());
        e.message = format!("{field}: {}", e.message);
        e
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    pub fn forbidden(permission: &str) -> Self {
        Self::new(403, "forbidden", format!("this operation needs the permission {permission}"))
    }

    pub fn internal() -> Self {
        Self::new(500, "internal_error", "an internal error occurred; it has been logged")
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let mut out = Self::new(400, "invalid_request", e.summary());
        let field = e.field().to_string();
        out.field = if field.is_empty() { None } else { Some(field) };
        out.details = if e.errors.len() > 1 { e.errors } else { vec![] };
        out
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor(why) => ApiError::invalid("cursor", why),
            StoreError::InvalidKey { key, reason } => ApiError::invalid("key", format!("{key:?}: {reason}")),
            StoreError::NotFound(what) => ApiError::new(404, "not_found", format!("{what} not found")),
            StoreError::Conflict { key, reason } => ApiError::new(409, "conflict", format!("{key}: {reason}")),
            StoreError::Backend { retryable: true, .. } => {
                tracing::error!(error = %e, "store unavailable");
                ApiError::new(503, "unavailable", "the store is busy; retry with backoff (the request is idempotent)")
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
            ServiceError::Forbidden { permission } => {
                ApiError::new(403, "forbidden", format!("this operation needs the permission {permission}"))
            }
            ServiceError::NotFound { what } => ApiError::new(404, "not_found", format!("{what} not found")),
            ServiceError::Conflict(m) => ApiError::new(409, "conflict", m),
            ServiceError::Store(s) => s.into(),
        }
    }
}

/// The request id to echo in errors: API Gateway's, else the Lambda invocation's.
pub fn request_id(req: &Request) -> Option<String> {
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        if let Some(id) = &ctx.request_id {
            return Some(id.clone());
        }
    }
    req.lambda_context_ref().map(|c| c.request_id.clone())
}

pub fn json_response<T: Serialize>(status: u16, value: &T) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string());
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

pub fn error_response(req: &Request, mut e: ApiError) -> Response<Body> {
    e.request_id = request_id(req);
    if e.status >= 500 {
        tracing::error!(status = e.status, error = e.error, "request failed");
    } else {
        tracing::info!(status = e.status, error = e.error, field = ?e.field, "request refused");
    }
    let status = e.status;
    let mut resp = json_response(status, &e);
    if status == 401 {
        resp.headers_mut().insert("www-authenticate", lambda_http::http::HeaderValue::from_static("Bearer"));
    }
    resp
}

/// Turn a handler's result into the response; errors take the one format.
pub fn respond<T: Serialize>(req: &Request, status: u16, result: Result<T, ApiError>) -> Response<Body> {
    match result {
        Ok(v) => json_response(status, &v),
        Err(e) => error_response(req, e),
    }
}

/// The request body as bytes, refusing oversized ones with 413.
pub fn body_bytes(req: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b.as_slice(),
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            413,
            "payload_too_large",
            format!("the body is {} bytes; at most {MAX_BODY_BYTES}", bytes.len()),
        ));
    }
    if bytes.is_empty() {
        return Err(ApiError::invalid("body", "a JSON body is required"));
    }
    Ok(bytes)
}

/// A path parameter, from API Gateway's routing or, where the request came without routing
/// (a function URL, `cargo lambda watch`), from the path segment after `after`.
pub fn path_param(req: &Request, name: &str, after: &str) -> Option<String> {
    if let Some(v) = req.path_parameters_ref().and_then(|p| p.first(name)) {
        return Some(v.to_string());
    }
    let path = req.uri().path();
    let idx = path.find(after)?;
    let rest = &path[idx + after.len()..];
    let seg = rest.trim_start_matches('/').split('/').next().unwrap_or("");
    (!seg.is_empty()).then(|| seg.to_string())
}

/// The query parameters, refusing names the endpoint does not take (a misspelt filter would
/// otherwise be silently ignored) and repeated ones.
pub fn query_params(req: &Request, allowed: &[&str]) -> Result<std::collections::HashMap<String, String>, ApiError> {
    let mut out = std::collections::HashMap::new();
    if let Some(q) = req.query_string_parameters_ref() {
        for (name, _) in q.iter() {
            if !allowed.contains(&name) {
                let expected = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
                return Err(ApiError::invalid(
                    name,
                    format!("is not a parameter of this endpoint (expected: {expected})"),
                ));
            }
            let all = q.all(name).unwrap_or_default();
            if all.len() > 1 {
                return Err(ApiError::invalid(name, "is given more than once"));
            }
            if let Some(v) = all.first() {
                out.insert(name.to_string(), v.to_string());
            }
        }
    }
    Ok(out)
}

/// Optional query parameter `limit` (1..=1000, default 100) and `cursor`.
pub fn page_request(req: &Request) -> Result<crate::storage::PageRequest, ApiError> {
    let q = req.query_string_parameters_ref();
    let limit = match q.and_then(|q| q.first("limit")) {
        None => crate::storage::cursor::DEFAULT_PAGE_SIZE,
        Some(s) => {
            s.parse::<usize>().map_err(|_| ApiError::invalid("limit", format!("{s:?} is not a whole number")))?
        }
    };
    let cursor = q.and_then(|q| q.first("cursor")).map(|s| s.to_string());
    Ok(crate::storage::PageRequest::new(limit, cursor)?)
}
