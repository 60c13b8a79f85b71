//! `POST /api/v1/causal/treatment-effect`: ATE or ATT under measured confounding (regression, IPW,
//! AIPW) with overlap diagnostics, E-value and refutations, on inline rows. Needs
//! `causal:analysis:run`.

liftos::http_function!(liftos::runtime::handlers::treatment_effect_http);
