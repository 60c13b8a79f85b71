//! Designing the next test: power analysis ([`power`]), randomised assignment ([`randomize`]) and
//! geo market selection ([`geo`]).

pub mod geo;
pub mod power;
pub mod randomize;
