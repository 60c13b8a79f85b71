//! Shared test code: the store contract every adapter must pass (embedded and AWS on moto),
//! fixtures, and helpers to reach a moto server.

pub mod contract;
pub mod events;
pub mod fixtures;
pub mod moto;
pub mod reference;
pub mod write_rule;
