//! `POST /api/v1/causal/analyze/advanced`: several methods (DiD, staggered DiD, IV, RDD,
//! synthetic control) on the same data (inline rows, a panel in S3, or stored records), each with its assumptions and checks, and whether
//! they agree. Needs `causal:analysis:run`.

liftos::http_function!(liftos::runtime::handlers::analyze_advanced_http);
