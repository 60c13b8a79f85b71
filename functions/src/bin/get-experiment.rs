//! `GET /api/v1/marketing/experiments/{experiment_id}`: one experiment. Needs
//! `causal:data:read`. Another org's experiment is a 404, the same as one that does not exist.

liftos::http_function!(liftos::runtime::handlers::get_experiment_http);
