//! `POST /api/v1/surfacing/experiments/readout`: a geo test read out (the lift over a synthetic
//! control of markets scaled as the design scales them, its standard error, t interval, p-value
//! and conformal inference). Needs `causal:analysis:run`.

liftos::http_function!(liftos::runtime::handlers::readout_experiment_http);
