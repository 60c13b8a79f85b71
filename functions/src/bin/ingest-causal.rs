//! `POST /api/v1/marketing/ingest/causal`: validate a batch of causal records and store it.
//! Needs `causal:data:write`. Idempotent: a retried request changes nothing.

liftos::http_function!(liftos::runtime::handlers::ingest_causal_http);
