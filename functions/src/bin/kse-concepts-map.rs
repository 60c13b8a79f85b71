//! `POST /api/v1/kse/concepts/map`: marketing words mapped onto the ontology's concepts, with
//! roles, formulas, methods and checks. Needs `causal:data:read`.

liftos::http_function!(liftos::runtime::handlers::kse_concepts_map_http);
