//! `PATCH /api/v1/marketing/experiments/{experiment_id}/status`: draft -> running | cancelled,
//! running -> completed | cancelled; anything else is a 400. Needs `causal:experiments:manage`.

liftos::http_function!(liftos::runtime::handlers::update_experiment_status_http);
