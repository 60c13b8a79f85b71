//! `POST /api/v1/kse/search`: a question answered with causal paths of the org's knowledge graph,
//! each edge with its evidence, or "no evidence". Needs `causal:data:read`.

liftos::http_function!(liftos::runtime::handlers::kse_search_http);
