//! Every HTTP route of the API, once: its Lambda, method and path, the permission it needs, the
//! action recorded in the audit log, and the types of its body, query and answers. The handlers
//! check the permission and write the audit entry from here; the OpenAPI document
//! (`infra/openapi.json`), the template test and `liftos serve` are generated from here. Each
//! route is declared in its area's module beside its types (`api::kse::KSE_SEARCH`) and listed in
//! that module's `ROUTES`; [`ROUTES`] is all of them.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::sync::LazyLock;

/// A schema of a type, for the document generator.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

pub(crate) fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// One answer of a route: its status, what it means, and its body (`None`: the error format).
#[derive(Clone, Copy)]
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    pub body: Option<SchemaFn>,
}

pub(crate) const fn ok(status: u16, description: &'static str, body: SchemaFn) -> Answer {
    Answer { status, description, body: Some(body) }
}

pub(crate) const fn error(status: u16, description: &'static str) -> Answer {
    Answer { status, description, body: None }
}

/// A path parameter: its name and the pattern of its values.
#[derive(Clone, Copy)]
pub struct PathParam {
    pub name: &'static str,
    pub pattern: &'static str,
}

pub(crate) const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$";

/// An HTTP route and its Lambda.
#[derive(Clone, Copy)]
pub struct Route {
    /// The Lambda (folder under `functions/`, crate, binary and the template's `Binary`).
    pub function: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    /// What the audit log records.
    pub action: &'static str,
    pub permission: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub path_params: &'static [PathParam],
    /// A struct whose fields are the query parameters.
    pub query: Option<SchemaFn>,
    pub body: Option<SchemaFn>,
    /// The answers besides the ones every route has (400, 401, 403, 503; 413 with a body).
    pub answers: &'static [Answer],
}

impl Route {
    /// `GET /api/v1/...` with `{experiment_id}` segments: whether `path` (a concrete path) is
    /// this route's, and the values of its parameters.
    pub fn matches(&self, path: &str) -> Option<Vec<(&'static str, String)>> {
        let want: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let got: Vec<&str> = path.trim_matches('/').split('/').collect();
        if want.len() != got.len() {
            return None;
        }
        let mut params = Vec::new();
        for (w, g) in want.iter().zip(&got) {
            match w.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                Some(name) if !g.is_empty() => {
                    let name = self.path_params.iter().find(|p| p.name == name)?.name;
                    params.push((name, (*g).to_string()));
                }
                Some(_) => return None,
                None if w == g => {}
                None => return None,
            }
        }
        Some(params)
    }
}

/// Every HTTP route: each area's routes (`ROUTES` of the area's module, beside its request and
/// response types), in the order of the areas.
pub static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    [
        super::memory::ROUTES,
        super::surfacing::ROUTES,
        super::causal::ROUTES,
        super::ingestion::ROUTES,
        super::llm::ROUTES,
        super::kse::ROUTES,
    ]
    .concat()
});

/// The route of a Lambda.
pub fn by_function(function: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.function == function)
}

#[cfg(test)]
mod tests {
    use super::super::memory::{GET_EXPERIMENT, LIST_EXPERIMENTS, UPDATE_EXPERIMENT_STATUS};
    use super::*;

    #[test]
    fn paths_match_with_their_parameters() {
        assert_eq!(
            UPDATE_EXPERIMENT_STATUS.matches("/api/v1/marketing/experiments/exp-1/status"),
            Some(vec![("experiment_id", "exp-1".to_string())])
        );
        assert_eq!(GET_EXPERIMENT.matches("/api/v1/marketing/experiments/exp-1/status"), None);
        assert_eq!(LIST_EXPERIMENTS.matches("/api/v1/marketing/experiments"), Some(vec![]));
        assert_eq!(GET_EXPERIMENT.matches("/api/v1/marketing/experiments/"), None);
        let functions: std::collections::BTreeSet<_> = ROUTES.iter().map(|r| r.function).collect();
        assert_eq!(functions.len(), ROUTES.len(), "one route per function");
    }
}
