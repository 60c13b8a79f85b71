//! `POST /api/v1/ingestion/sync`: sync the caller's org now, one connection or all, for a
//! period (default: the last two full days): fetch each platform's report and change history,
//! land the raw pages in S3 and queue them for the transform stage. Needs `causal:data:write`.

liftos::http_function!(liftos::runtime::handlers::sync_now_http);
