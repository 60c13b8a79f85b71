//! `GET /api/v1/kse/graph?node=&depth=`: a node's neighbourhood in the org's knowledge graph.
//! Needs `causal:data:read`.

liftos::http_function!(liftos::runtime::handlers::kse_graph_http);
