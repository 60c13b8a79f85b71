//! `GET /api/v1/kse/similar?node=&profile=effect|temporal|context&limit=`: a node's nearest
//! neighbours by one of its profile vectors. Needs `causal:data:read`.

liftos::http_function!(liftos::runtime::handlers::kse_similar_http);
