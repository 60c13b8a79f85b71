//! `POST /api/v1/surfacing/experiments/design`: power analysis (sample size, MDE or power; means
//! or proportions; clusters, CUPED), randomised assignment with balance checks, and geo market
//! selection by synthetic-control replays. Needs `causal:analysis:run`.

liftos::http_function!(liftos::runtime::handlers::design_experiment_http);
