//! HTTP on Lambda: reading a request (body with its size cap, path and query parameters), writing
//! a JSON answer or the one error format ([`ApiError`]), and [`serve`]: authenticate, check the
//! route's permission, run the use case, and audit the access.

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use std::future::Future;

use super::{auth, Deps};
use crate::api::routes::Route;
use crate::domain::{AuditEntry, AuditOutcome, UserContext};

pub use crate::api::error::{ApiError, ErrorCode, MAX_BODY_BYTES};

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
        tracing::error!(status = e.status, error = %e.error, "request failed");
    } else {
        tracing::info!(status = e.status, error = %e.error, field = ?e.field, "request refused");
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
            ErrorCode::PayloadTooLarge,
            format!("the body is {} bytes; at most {MAX_BODY_BYTES}", bytes.len()),
        ));
    }
    if bytes.is_empty() {
        return Err(ApiError::invalid("body", "a JSON body is required"));
    }
    Ok(bytes)
}

/// The API path of a request (function URLs and `cargo lambda watch` put a prefix before it).
pub fn api_path(req: &Request) -> String {
    let path = req.uri().path();
    match path.find("/api/") {
        Some(i) => path[i..].to_string(),
        None => path.to_string(),
    }
}

/// A path parameter of `route`: from API Gateway's routing or, where the request came without
/// routing (a function URL, `cargo lambda watch`, `liftos serve`), from matching the path.
pub fn path_param(req: &Request, route: &Route, name: &str) -> Result<String, ApiError> {
    if let Some(v) = req.path_parameters_ref().and_then(|p| p.first(name)) {
        return Ok(v.to_string());
    }
    route
        .matches(&api_path(req))
        .and_then(|params| params.into_iter().find(|(n, _)| *n == name).map(|(_, v)| v))
        .ok_or_else(|| ApiError::invalid(name, "is required in the path"))
}

/// Authenticate (401 without an audit entry: there is no verified org to file it under), check
/// the route's permission (403), run the use case, and record the access in the org's
/// append-only audit log whatever the outcome.
///
/// A request that may change something (any method but GET) is recorded before it runs (an
/// entry `{id}:started`) and again when it ends (`{id}`, with the status): if the first write
/// fails nothing is done (503); if the second fails the change stands and the started entry
/// shows it was attempted. A panic in the use case is caught here: it is logged, answered as a
/// 500 with the request id, and audited like any other failure.
pub async fn serve<T, F, Fut>(deps: &Deps, req: &Request, route: &Route, f: F) -> Response<Body>
where
    T: Serialize,
    F: FnOnce(UserContext) -> Fut,
    Fut: Future<Output = Result<(u16, T), ApiError>>,
{
    // API Gateway routes by method; a function URL or `cargo lambda watch` does not.
    if req.method().as_str() != route.method {
        let mut resp = error_response(
            req,
            ApiError::new(
                405,
                ErrorCode::MethodNotAllowed,
                format!("{} is not allowed here; use {}", req.method(), route.method),
            ),
        );
        if let Ok(v) = lambda_http::http::HeaderValue::from_str(route.method) {
            resp.headers_mut().insert("allow", v);
        }
        return resp;
    }
    let user = match auth::authenticate(req, &deps.config.auth, &deps.config.org_claim) {
        Ok(u) => u,
        Err(e) => return error_response(req, e),
    };
    let mut entry = AuditEntry {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: user.org_id.clone(),
        user_id: user.user_id.clone(),
        action: route.action.to_string(),
        method: req.method().to_string(),
        resource: api_path(req),
        status: 0,
        outcome: AuditOutcome::Started,
        query: req.uri().query().filter(|q| !q.is_empty()).map(|q| q.chars().take(2048).collect()),
        at: chrono::Utc::now(),
        request_id: request_id(req),
        detail: None,
    };
    let permitted = user.has(route.permission);
    if permitted && route.method != "GET" {
        let started = AuditEntry { id: format!("{}:started", entry.id), ..entry.clone() };
        if let Err(e) = deps.stores.audit.append_audit(&started).await {
            tracing::error!(error = %e, action = route.action, "the audit entry could not be written; nothing was done");
            return error_response(
                req,
                ApiError::unavailable("the access could not be recorded in the audit log; retry"),
            );
        }
    }
    let result = if permitted {
        match futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(f(user))).await {
            Ok(r) => r,
            Err(panic) => {
                tracing::error!(action = route.action, panic = %crate::service::panic_message(panic.as_ref()), "the handler panicked");
                Err(ApiError::internal())
            }
        }
    } else {
        Err(ApiError::forbidden(route.permission))
    };
    let resp = match result {
        Ok((status, value)) => json_response(status, &value),
        Err(e) => error_response(req, e),
    };
    entry.status = resp.status().as_u16();
    entry.outcome = AuditOutcome::from_status(entry.status);
    entry.at = chrono::Utc::now();
    if let Err(e) = deps.stores.audit.append_audit(&entry).await {
        tracing::error!(error = %e, action = route.action, status = entry.status, "the audit outcome could not be written");
        if route.method == "GET" || !permitted {
            // Nothing changed: an access that cannot be recorded is not served.
            return error_response(
                req,
                ApiError::unavailable("the access could not be recorded in the audit log; retry"),
            );
        }
        // The change is done and its started entry stands; the caller gets the answer.
    }
    resp
}

/// [`serve`] for a route that takes a body and no query parameters: `f` gets the caller and the
/// body's bytes (a query parameter is refused, naming it, before the body is read).
pub async fn serve_body<'r, T, F, Fut>(deps: &Deps, req: &'r Request, route: &Route, f: F) -> Response<Body>
where
    T: Serialize,
    F: FnOnce(UserContext, &'r [u8]) -> Fut,
    Fut: Future<Output = Result<(u16, T), ApiError>>,
{
    serve(deps, req, route, |user| async move {
        query_params(req, &[])?;
        let body = body_bytes(req)?;
        f(user, body).await
    })
    .await
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
