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
