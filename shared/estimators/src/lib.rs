//! The crate's README (below) documents it, with a runnable example per estimator; the examples
//! run as doc-tests.
#![doc = include_str!("../README.md")]

pub mod budget;
pub mod columns;
pub mod data;
pub mod design;
pub mod did;
pub mod discovery;
pub mod dist;
pub mod effects;
pub mod error;
pub mod impact;
pub mod inference;
pub mod iv;
pub mod linalg;
pub mod logit;
pub mod mmm;
pub mod ols;
pub mod optim;
pub mod panel;
pub mod parallel;
pub mod rdd;
pub mod rng;
pub mod sdid;
pub mod synth;

pub use columns::Columns;
pub use error::{clip, clip_to, FieldError, MAX_ERROR_TEXT};
pub use inference::{Estimate, Inference};
