//! `GET /api/v1/marketing/confounders?platform=&start=&end=`: the confounder analysis (variables,
//! detection methods, confidence, temporal pattern, occurrences). Needs `causal:data:read`.

liftos::http_function!(liftos::runtime::handlers::list_confounders_http);
