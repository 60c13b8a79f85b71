//! What the knowledge engine's endpoints take and give. The graph's and the search's own types
//! are defined with the engine (`crate::kse`) and re-exported here.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::kse::graph::{BuildInputs, Claim, ClaimCheck, Edge, EvidenceKind, KnowledgeGraph, Node, NodeKind};
pub use crate::kse::ontology::{ConceptKind, Role};
pub use crate::kse::profile::{Profile, ProfileKind};
pub use crate::kse::search::{
    AnswerKind, Intent, MatchedConcept, Neighbourhood, PathEdge, PathResult, ScoreParts, SearchRequest, SearchResponse,
};

/// What a build did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildSummary {
    pub org_id: String,
    pub version: String,
    /// False when the stored snapshot already had this version (nothing was written).
    pub written: bool,
    pub key: String,
    /// Items of the single table written (the head and the nodes whose content changed) and
    /// removed (nodes the graph no longer has): none when nothing changed.
    pub items_written: usize,
    pub items_deleted: usize,
    pub nodes: usize,
    pub edges: usize,
    /// Evidence records by kind.
    pub evidence: BTreeMap<String, usize>,
    /// Edges by the grade of their strongest evidence.
    pub edges_by_grade: BTreeMap<String, usize>,
    pub inputs: BuildInputs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `GET /api/v1/kse/graph?node=&depth=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GraphQuery {
    /// A node id (`meta:conversions`, `meta`, `confounder:weekday`).
    pub node: String,
    /// Edges away from the node, 0 to 3 (default 1).
    #[serde(default)]
    pub depth: Option<usize>,
}

/// `POST /api/v1/kse/concepts/map`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConceptMapRequest {
    /// Free marketing text, at most 2,000 characters.
    pub text: String,
}

pub const MAX_MAP_CHARS: usize = 2000;

/// A concept the text names, with what the causal framework makes of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MappedConcept {
    pub id: String,
    pub label: String,
    pub kind: ConceptKind,
    pub role: Role,
    /// The words of the text that named it.
    pub matched: Vec<String>,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<i64>,
    /// Methods suited to it (for designs: the method the design is analysed with).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// The checks those methods must pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConceptMapResponse {
    pub ontology_version: String,
    pub concepts: Vec<MappedConcept>,
    /// Words no concept claimed (common words left out).
    pub unmatched: Vec<String>,
}

/// `GET /api/v1/kse/similar?node=&profile=&limit=&date=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SimilarQuery {
    /// A node id with that profile: a channel (`meta`: effect, temporal), an intervention
    /// (effect, temporal) or a campaign (`meta/cmp-1`: context, and record with `date`).
    pub node: String,
    /// `effect`, `temporal`, `context` or `record` (a campaign-day's record context vector).
    pub profile: ProfileKind,
    /// Neighbours to return, 1 to 50 (default 5).
    #[serde(default)]
    pub limit: Option<usize>,
    /// With `record`: the campaign's day (YYYY-MM-DD); its neighbours are the untreated
    /// campaign-days of the same platform and day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<chrono::NaiveDate>,
}

/// One neighbour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Neighbour {
    pub node: String,
    pub label: String,
    pub kind: NodeKind,
    /// Euclidean distance between the two vectors (for record vectors, each component over its
    /// spread among the candidates).
    pub distance: f64,
    /// For a record context vector: the neighbour's day (the same as the one asked about).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<chrono::NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SimilarResponse {
    pub node: String,
    pub profile: ProfileKind,
    /// What the vector is (a feature vector computed from the estimates, not a learned embedding).
    pub about: String,
    pub vector: Profile,
    /// Nearest first; only nodes with a vector of the same components.
    pub neighbours: Vec<Neighbour>,
    pub graph_version: String,
}

pub const MAX_SIMILAR: usize = 50;

// The area's HTTP routes (see [`super::routes::Route`]).

use super::routes::{error, ok, schema, Route};
use crate::domain::permissions;

pub const KSE_SEARCH: Route = Route {
    function: "kse-search",
    method: "POST",
    path: "/api/v1/kse/search",
    action: "kse.search",
    permission: permissions::DATA_READ,
    summary: "Answer a question with causal paths and their evidence",
    description: "The question read through the marketing ontology (channels, metrics, interventions, confounders; what it asks: the effect of X on Y, the drivers of Y, the consequences of X, a what-if, a comparison), the directed paths of the org's knowledge graph between what it names (up to max_edges), ranked by how much of the question they cover and the strength of their weakest evidence, each edge with its method, estimate, interval, grade and source. answer is no_evidence when nothing links what the question names, prior_only when only the ontology's funnel order does.",
    path_params: &[],
    query: None,
    body: Some(schema::<SearchRequest>),
    answers: &[ok(200, "The paths, or why there are none", schema::<SearchResponse>), error(404, "No knowledge graph built for your org yet")],
};

pub const KSE_GRAPH: Route = Route {
    function: "kse-graph",
    method: "GET",
    path: "/api/v1/kse/graph",
    action: "kse.graph",
    permission: permissions::DATA_READ,
    summary: "A node's neighbourhood in the knowledge graph",
    description: "The nodes within depth edges of node (either direction; depth 0 to 3, default 1) and every edge among them with all its evidence.",
    path_params: &[],
    query: Some(schema::<GraphQuery>),
    body: None,
    answers: &[ok(200, "The neighbourhood", schema::<Neighbourhood>), error(404, "No such node in your org's graph, or no graph yet")],
};

pub const KSE_SIMILAR: Route = Route {
    function: "kse-similar",
    method: "GET",
    path: "/api/v1/kse/similar",
    action: "kse.similar",
    permission: permissions::DATA_READ,
    summary: "A node's nearest neighbours by its effect, temporal or context profile",
    description: "Feature vectors computed from the estimates, named for what they are: effect (an intervention's effects as z-statistics and its grade; a channel's elasticities and adstock), temporal (a channel's lag profile of conversions on spend; an intervention's event-study shape), context (a campaign's pre-period level, spread, trend and cost per conversion: neighbours are candidate controls). Nearest first by Euclidean distance, among nodes with a vector of the same components.",
    path_params: &[],
    query: Some(schema::<SimilarQuery>),
    body: None,
    answers: &[
        ok(200, "The neighbours", schema::<SimilarResponse>),
        error(404, "No such node in your org's graph, or no graph yet"),
    ],
};

pub const KSE_BUILD: Route = Route {
    function: "kse-graph-build",
    method: "POST",
    path: "/api/v1/kse/graph/build",
    action: "kse.build",
    permission: permissions::ANALYSIS_RUN,
    summary: "Build the org's causal knowledge graph",
    description: "From the stored records, the detected interventions and confounders: each intervention's difference-in-differences on spend and outcomes (graded by its checks), PC on each platform's campaign-days with the ontology's funnel tiers and bootstrap stability, detected confounders, and the ontology's priors (grade D). The snapshot's version is the hash of its content: the same inputs write nothing new (written: false). The kse-build stage does the same on new data.",
    path_params: &[],
    query: None,
    body: None,
    answers: &[ok(200, "What the build found and whether it wrote a new snapshot", schema::<BuildSummary>)],
};

pub const KSE_CONCEPTS_MAP: Route = Route {
    function: "kse-concepts-map",
    method: "POST",
    path: "/api/v1/kse/concepts/map",
    action: "kse.concepts_map",
    permission: permissions::DATA_READ,
    summary: "Map marketing words onto the causal framework",
    description: "Free marketing text (at most 2,000 characters) to the ontology's concepts: each with its causal role, kind, formula, discovery tier, suitable methods and the checks they need, and the words of the text no concept claimed.",
    path_params: &[],
    query: None,
    body: Some(schema::<ConceptMapRequest>),
    answers: &[ok(200, "The concepts", schema::<ConceptMapResponse>)],
};

/// The kse routes, in the order of the API document.
pub const ROUTES: &[Route] = &[KSE_SEARCH, KSE_GRAPH, KSE_SIMILAR, KSE_BUILD, KSE_CONCEPTS_MAP];
