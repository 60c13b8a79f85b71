//! `POST /api/v1/kse/graph/build`: build the org's knowledge graph from its stored data now.
//! Needs `causal:analysis:run`.

liftos::http_function!(liftos::runtime::handlers::kse_graph_build_http);
