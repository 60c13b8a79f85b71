//! The API's request and response types: what the HTTP endpoints and the `liftos` command take
//! and give, parsed at the edge into enums and typed structs. The OpenAPI document
//! (`infra/openapi.json`) is generated from these types.

pub mod causal;
pub mod error;
pub mod estimate;
pub mod ingestion;
pub mod kse;
pub mod llm;
pub mod memory;
pub mod names;
pub mod openapi;
pub mod routes;
pub mod surfacing;
