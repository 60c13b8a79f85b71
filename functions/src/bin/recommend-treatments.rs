//! `GET /api/v1/surfacing/recommendations/treatments?platform=&objective=`: ranked interventions
//! (scale, cut, shift, or test first) from the org's stored records. Needs `causal:analysis:run`.

liftos::http_function!(liftos::runtime::handlers::recommend_treatments_http);
