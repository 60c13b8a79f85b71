//! # liftos-estimators
//!
//! The causal estimators and the decision mathematics of LiftOS Causal, as a pure library: no
//! tokio, no AWS, no HTTP, no storage. Each estimator is *settings + `fit` + a fitted result*;
//! the result carries its uncertainty (standard error, interval, p-value, method of inference)
//! and its diagnostics. JSON keys of the results are the `liftos estimate` contract: `method`,
//! `estimator`, `estimate`, `std_error`, `ci_low`, `ci_high`, `p_value`, `n_obs`, plus each
//! method's own.
//!
//! | module | what | checked against |
//! |---|---|---|
//! | [`did`] | TWFE / event study, Callaway-Sant'Anna | pyfixest 0.60, csdid 0.4.3 |
//! | [`iv`] | 2SLS with diagnostics | linearmodels 7.1 |
//! | [`rdd`] | local polynomial RDD, density test | rdrobust 2.1.1, rddensity |
//! | [`synth`] | synthetic control (ADH), augmented | pysyncon 1.7, augsynth |
//! | [`effects`] | regression adjustment, IPW, AIPW | statsmodels, DRDID |
//! | [`discovery`] | PC-stable, DirectLiNGAM | causal-learn, lingam 1.13 |
//! | [`design`] | power, randomisation, geo market selection | statsmodels 0.15 |
//! | [`budget`] | response curves, the optimiser, recommendations | brute force, scipy SLSQP |
//!
//! See `README.md` beside this crate for a runnable example per estimator.

pub mod budget;
pub mod columns;
pub mod data;
pub mod design;
pub mod did;
pub mod discovery;
pub mod dist;
pub mod effects;
pub mod inference;
pub mod iv;
pub mod linalg;
pub mod logit;
pub mod ols;
pub mod panel;
pub mod parallel;
pub mod rdd;
pub mod rng;
pub mod synth;

pub use columns::Columns;
pub use inference::{Estimate, Inference};
