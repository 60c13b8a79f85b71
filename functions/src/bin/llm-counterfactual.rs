//! `POST /api/v1/llm/causal/counterfactual`: counterfactual paths of an analysis and spend
//! what-ifs of the budget model, computed with their intervals and reconciliation identities.
//! Needs `causal:analysis:run`.

liftos::http_function!(liftos::runtime::handlers::llm_counterfactual_http);
