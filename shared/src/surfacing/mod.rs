//! Surfacing: turning causal estimates into decisions — experiment design (power analysis,
//! randomisation, geo market selection), budget optimisation over response curves calibrated by
//! lift estimates, and treatment recommendations. No AWS here; the Lambdas are thin.

pub mod budget;
pub mod geo;
pub mod power;
pub mod randomize;
pub mod recommend;
