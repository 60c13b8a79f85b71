//! The functions' handlers, by area, here so tests, `liftos serve` and the Lambdas call the same
//! code. Each only parses, calls a use case in [`crate::service`], and maps the outcome;
//! [`super::http::serve`] authenticates, checks the route's permission and writes the audit
//! entry.

pub mod causal;
pub mod ingestion;
pub mod kse;
pub mod llm;
pub mod memory;
pub mod surfacing;

pub use causal::*;
pub use ingestion::*;
pub use kse::*;
pub use llm::*;
pub use memory::*;
pub use surfacing::*;

use lambda_http::{Body, Request, Response};

use super::Deps;

/// The HTTP handler of a Lambda, by its name (for `liftos serve` and the tests; each Lambda's
/// binary calls its own handler directly).
pub async fn dispatch(deps: &Deps, function: &str, req: Request) -> Option<Response<Body>> {
    let req = match memory::dispatch(deps, function, req).await {
        Ok(resp) => return Some(resp),
        Err(req) => req,
    };
    let req = match surfacing::dispatch(deps, function, req).await {
        Ok(resp) => return Some(resp),
        Err(req) => req,
    };
    let req = match causal::dispatch(deps, function, req).await {
        Ok(resp) => return Some(resp),
        Err(req) => req,
    };
    let req = match llm::dispatch(deps, function, req).await {
        Ok(resp) => return Some(resp),
        Err(req) => req,
    };
    let req = match kse::dispatch(deps, function, req).await {
        Ok(resp) => return Some(resp),
        Err(req) => req,
    };
    ingestion::dispatch(deps, function, req).await.ok()
}
