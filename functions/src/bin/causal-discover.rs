//! `POST /api/v1/causal/discover`: causal discovery (PC-stable with Fisher-z, or DirectLiNGAM) on
//! inline rows, with background knowledge (tiers, forbidden and required edges). Needs
//! `causal:analysis:run`.

liftos::http_function!(liftos::runtime::handlers::causal_discover_http);
