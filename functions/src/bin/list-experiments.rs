//! `GET /api/v1/marketing/experiments?status=&limit=&cursor=`: the org's experiments, newest
//! first. Needs `causal:data:read`.

liftos::http_function!(liftos::runtime::handlers::list_experiments_http);
