//! `GET /api/v1/marketing/audit?start=&end=&limit=&cursor=`: the org's audit log, newest first.
//! Needs `causal:audit:read` (the `causal_admin` role).

liftos::http_function!(liftos::runtime::handlers::query_audit_log_http);
