//! LiftOS Causal: the shared crate.
//!
//! - [`domain`]: the causal marketing data model, validated.
//! - [`storage`]: narrow ports (records, experiments, confounders, panels, queue) with embedded
//!   and AWS adapters.
//! - [`service`]: the use cases the Lambdas and the `liftos` command call.
//! - [`config`]: configuration from the environment, read once per cold start.
//! - `runtime` (feature `handlers`, in `lambda`): HTTP error mapping, authentication, SQS batch handling.

pub mod api;
pub mod config;
pub mod domain;
pub mod ingestion;
pub mod kse;
pub mod llm;
pub mod report;
pub mod service;
pub mod storage;

#[cfg(feature = "handlers")]
pub mod runtime;
