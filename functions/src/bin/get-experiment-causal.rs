//! `GET /api/v1/marketing/causal/{experiment_id}?limit=&cursor=`: the experiment and its causal
//! records, a page at a time. Needs `causal:data:read`. Another org's experiment is a 404, the
//! same as one that does not exist.

liftos::http_function!(liftos::runtime::handlers::get_experiment_causal_http);
