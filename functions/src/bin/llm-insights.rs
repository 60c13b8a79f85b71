//! `POST /api/v1/llm/causal/insights`: an analysis explained at a confidence level, every number
//! from its fact sheet, checked by the grounding validator. Needs `causal:analysis:run`.

liftos::http_function!(liftos::runtime::handlers::llm_insights_http);
