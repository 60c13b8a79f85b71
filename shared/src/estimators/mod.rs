//! The estimators. No AWS here: settings, `fit`, and a result that carries its uncertainty and
//! diagnostics. JSON keys are the `liftos estimate` contract: `method`, `estimator`, `estimate`,
//! `std_error`, `ci_low`, `ci_high`, `p_value`, `n_obs`, plus each method's own.

pub mod data;
pub mod did;
pub mod discovery;
pub mod dist;
pub mod effects;
pub mod iv;
pub mod linalg;
pub mod logit;
pub mod ols;
pub mod panel;
pub mod rdd;
pub mod rng;
pub mod synth;
