//! `POST /api/v1/surfacing/optimize/causal`: per-channel response curves (Hill saturation, geometric
//! adstock) fitted to the spend and outcome history and calibrated by lift estimates; the optimal
//! allocation under the plan's objective and constraints; recommendations. Needs
//! `causal:analysis:run`.

liftos::http_function!(liftos::runtime::handlers::optimize_budget_http);
