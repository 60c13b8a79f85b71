//! `POST /api/v1/marketing/experiments`: create an experiment (treatment and control groups,
//! randomisation unit, dates, status). Needs `causal:experiments:manage`. 201 when created, 200
//! when the identical experiment exists (a retry), 409 when a different one has the id.

liftos::http_function!(liftos::runtime::handlers::create_experiment_http);
