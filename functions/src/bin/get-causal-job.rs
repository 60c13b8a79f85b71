//! `GET /api/v1/causal/jobs/{job_id}`: an analysis job's status, and its result (inline, or a
//! time-limited link when large) once it has one. Needs `causal:analysis:run`; another org's
//! job is not found.

liftos::http_function!(liftos::runtime::handlers::get_causal_job_http);
