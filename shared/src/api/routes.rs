//! Every HTTP route of the API, once: its Lambda, method and path, the permission it needs, the
//! action recorded in the audit log, and the types of its body, query and answers. The handlers
//! check the permission and write the audit entry from here; the OpenAPI document
//! (`infra/openapi.json`), the template test and `liftos serve` are generated from here.

use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::causal::{AdvancedRequest, AnalysisOutput, DiscoverBody, EffectBody, JobView};
use super::ingestion::{SyncRequest, SyncResponse};
use super::kse::{
    BuildSummary, ConceptMapRequest, ConceptMapResponse, GraphQuery, Neighbourhood, SearchRequest, SearchResponse,
    SimilarQuery, SimilarResponse,
};
use super::llm::{CounterfactualRequest, CounterfactualResponse, InsightsRequest};
use super::memory::{
    AuditQuery, ConfoundersQuery, CreatedExperiment, ExperimentCausalData, ExperimentsQuery, IngestRequest,
    IngestResponse, PageQuery, RecordsQuery, StatusChange,
};
use super::surfacing::{
    DesignRequest, DesignResponse, OptimizeAnswer, OptimizeRequest, RecommendAnswer, RecommendQuery,
};
use crate::domain::{permissions, AuditEntry, CausalExperiment, CausalMarketingData, NewExperiment};
use crate::llm::Insights;
use crate::storage::Page;

/// A schema of a type, for the document generator.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// One answer of a route: its status, what it means, and its body (`None`: the error format).
#[derive(Clone, Copy)]
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    pub body: Option<SchemaFn>,
}

const fn ok(status: u16, description: &'static str, body: SchemaFn) -> Answer {
    Answer { status, description, body: Some(body) }
}

const fn error(status: u16, description: &'static str) -> Answer {
    Answer { status, description, body: None }
}

/// A path parameter: its name and the pattern of its values.
#[derive(Clone, Copy)]
pub struct PathParam {
    pub name: &'static str,
    pub pattern: &'static str,
}

const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$";

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

pub const INGEST_CAUSAL: Route = Route {
    function: "ingest-causal",
    method: "POST",
    path: "/api/v1/marketing/ingest/causal",
    action: "records.ingest",
    permission: permissions::DATA_WRITE,
    summary: "Store a batch of causal records",
    description: "Validates every record (errors name the field, nothing is written unless the whole batch is valid) and stores them idempotently: the same observation has the same id; a retry changes nothing; a strictly older stored version is replaced; anything else is a conflict, reported and not applied (409 with this same body).",
    path_params: &[],
    query: None,
    body: Some(schema::<IngestRequest>),
    answers: &[
        ok(200, "Stored (or already stored)", schema::<IngestResponse>),
        ok(409, "Some records conflicted with newer stored data; the others were written", schema::<IngestResponse>),
    ],
};

pub const GET_EXPERIMENT_CAUSAL: Route = Route {
    function: "get-experiment-causal",
    method: "GET",
    path: "/api/v1/marketing/causal/{experiment_id}",
    action: "experiments.causal_data",
    permission: permissions::DATA_READ,
    summary: "An experiment with its causal records",
    description: "The experiment and a page of the records linked to it, in time order.",
    path_params: &[PathParam { name: "experiment_id", pattern: ID_PATTERN }],
    query: Some(schema::<PageQuery>),
    body: None,
    answers: &[
        ok(200, "The experiment and a page of its records", schema::<ExperimentCausalData>),
        error(404, "No such experiment in your org"),
    ],
};

pub const CREATE_EXPERIMENT: Route = Route {
    function: "create-experiment",
    method: "POST",
    path: "/api/v1/marketing/experiments",
    action: "experiments.create",
    permission: permissions::EXPERIMENTS_MANAGE,
    summary: "Register an experiment",
    description: "201 when created, 200 when the identical experiment already existed (a retry), 409 when a different one has the id. The org and the timestamps are set by the server.",
    path_params: &[],
    query: None,
    body: Some(schema::<NewExperiment>),
    answers: &[
        ok(201, "Created", schema::<CreatedExperiment>),
        ok(200, "Already there, identical", schema::<CreatedExperiment>),
        error(409, "Another experiment has this id"),
    ],
};

pub const GET_EXPERIMENT: Route = Route {
    function: "get-experiment",
    method: "GET",
    path: "/api/v1/marketing/experiments/{experiment_id}",
    action: "experiments.get",
    permission: permissions::DATA_READ,
    summary: "One experiment",
    description: "Another org's experiment is a 404, as one that does not exist.",
    path_params: &[PathParam { name: "experiment_id", pattern: ID_PATTERN }],
    query: None,
    body: None,
    answers: &[ok(200, "The experiment", schema::<CausalExperiment>), error(404, "No such experiment in your org")],
};

pub const LIST_EXPERIMENTS: Route = Route {
    function: "list-experiments",
    method: "GET",
    path: "/api/v1/marketing/experiments",
    action: "experiments.list",
    permission: permissions::DATA_READ,
    summary: "The org's experiments",
    description: "Newest first, a page at a time, optionally by status.",
    path_params: &[],
    query: Some(schema::<ExperimentsQuery>),
    body: None,
    answers: &[ok(200, "A page of experiments", schema::<Page<CausalExperiment>>)],
};

pub const UPDATE_EXPERIMENT_STATUS: Route = Route {
    function: "update-experiment-status",
    method: "PATCH",
    path: "/api/v1/marketing/experiments/{experiment_id}/status",
    action: "experiments.update_status",
    permission: permissions::EXPERIMENTS_MANAGE,
    summary: "Move an experiment to another status",
    description: "draft -> running | cancelled; running -> completed | cancelled. Asking for the current status again changes nothing.",
    path_params: &[PathParam { name: "experiment_id", pattern: ID_PATTERN }],
    query: None,
    body: Some(schema::<StatusChange>),
    answers: &[
        ok(200, "The experiment as it is now", schema::<CausalExperiment>),
        error(404, "No such experiment in your org"),
        error(409, "It changed since expected_updated_at"),
    ],
};

pub const QUERY_RECORDS: Route = Route {
    function: "query-records",
    method: "GET",
    path: "/api/v1/marketing/records",
    action: "records.query",
    permission: permissions::DATA_READ,
    summary: "Causal records by platform, campaign and dates",
    description: "In time order, a page at a time.",
    path_params: &[],
    query: Some(schema::<RecordsQuery>),
    body: None,
    answers: &[ok(200, "A page of records", schema::<Page<CausalMarketingData>>)],
};

pub const LIST_CONFOUNDERS: Route = Route {
    function: "list-confounders",
    method: "GET",
    path: "/api/v1/marketing/confounders",
    action: "confounders.analysis",
    permission: permissions::DATA_READ,
    summary: "The confounders seen in a date range",
    description:
        "Each variable with its type, detection method, confidence, pattern and occurrences; most frequent first.",
    path_params: &[],
    query: Some(schema::<ConfoundersQuery>),
    body: None,
    answers: &[ok(200, "The confounders", schema::<super::memory::ConfounderAnalysis>)],
};

pub const QUERY_AUDIT_LOG: Route = Route {
    function: "query-audit-log",
    method: "GET",
    path: "/api/v1/marketing/audit",
    action: "audit.query",
    permission: permissions::AUDIT_READ,
    summary: "The org's audit log",
    description: "Every access (who, what, when, status, outcome), newest first. Administrators only.",
    path_params: &[],
    query: Some(schema::<AuditQuery>),
    body: None,
    answers: &[ok(200, "A page of audit entries", schema::<Page<AuditEntry>>)],
};

pub const DESIGN_EXPERIMENT: Route = Route {
    function: "design-experiment",
    method: "POST",
    path: "/api/v1/surfacing/experiments/design",
    action: "surfacing.design_experiment",
    permission: permissions::ANALYSIS_RUN,
    summary: "Design the next test",
    description: "Power analysis (solve for the missing one of sample size, effect and power), randomised assignment, and geo market selection, any of them in one request.",
    path_params: &[],
    query: None,
    body: Some(schema::<DesignRequest>),
    answers: &[ok(200, "The design", schema::<DesignResponse>)],
};

pub const READOUT_EXPERIMENT: Route = Route {
    function: "readout-experiment",
    method: "POST",
    path: "/api/v1/surfacing/experiments/readout",
    action: "surfacing.readout_experiment",
    permission: permissions::ANALYSIS_RUN,
    summary: "Read out a geo test",
    description: "The lift of the test markets over their synthetic control (markets scaled by their pre-period mean, as the design scales them), its standard error from the design's noise or replays of the history, the t interval and p-value, and conformal inference; `exclude_markets` reads one arm of a multi-cell test against its own control pool.",
    path_params: &[],
    query: None,
    body: Some(schema::<crate::api::surfacing::ReadoutRequest>),
    answers: &[ok(200, "The readout", schema::<liftos_estimators::design::geo::GeoReadout>)],
};

pub const OPTIMIZE_BUDGET: Route = Route {
    function: "optimize-budget",
    method: "POST",
    path: "/api/v1/surfacing/optimize/causal",
    action: "surfacing.optimize_budget",
    permission: permissions::ANALYSIS_RUN,
    summary: "Where the next dollar should go",
    description: "Response curves fitted to a spend and outcome history (inline or the org's records), calibrated by lift tests; the optimal allocation with its interval, and recommendations. With `kpi` (the org's own KPI by date): the media mix model with controls, adstock-aware lift calibration and bootstrap intervals over every parameter, the plan within the spend the history supports, and the next test.",
    path_params: &[],
    query: None,
    body: Some(schema::<OptimizeRequest>),
    answers: &[ok(200, "The model, the plan and the recommendations (or the media mix model's answer)", schema::<OptimizeAnswer>)],
};

pub const RECOMMEND_TREATMENTS: Route = Route {
    function: "recommend-treatments",
    method: "GET",
    path: "/api/v1/surfacing/recommendations/treatments",
    action: "surfacing.recommend_treatments",
    permission: permissions::ANALYSIS_RUN,
    summary: "Scale, cut or test each channel",
    description: "For an org with its own KPI (config/kpi.csv) and the platforms as channels: the media mix model's moves (scale, cut, hold, or a test where the evidence is short), with the intervals of its re-fits. Otherwise, or for one platform's campaigns, from the stored records' attribution (incremental: false): the profit-optimal moves within ±30% of current spend, and where the evidence is too uncertain, a test.",
    path_params: &[],
    query: Some(schema::<RecommendQuery>),
    body: None,
    answers: &[
        ok(200, "The recommendations, with the model and its plan", schema::<RecommendAnswer>),
        error(404, "No stored records to learn from"),
    ],
};

const ANALYSIS_ANSWERS: &[Answer] = &[
    ok(200, "The answer", schema::<AnalysisOutput>),
    ok(202, "A job will compute it: ask its href", schema::<JobView>),
];

pub const CAUSAL_DISCOVER: Route = Route {
    function: "causal-discover",
    method: "POST",
    path: "/api/v1/causal/discover",
    action: "causal.discover",
    permission: permissions::ANALYSIS_RUN,
    summary: "Causal discovery",
    description: "PC-stable (a CPDAG) or DirectLiNGAM (a DAG with coefficients), with background knowledge (tiers, forbidden and required edges), on inline rows, a panel under your org or stored records.",
    path_params: &[],
    query: None,
    body: Some(schema::<DiscoverBody>),
    answers: ANALYSIS_ANSWERS,
};

pub const TREATMENT_EFFECT: Route = Route {
    function: "treatment-effect",
    method: "POST",
    path: "/api/v1/causal/treatment-effect",
    action: "causal.treatment_effect",
    permission: permissions::ANALYSIS_RUN,
    summary: "Treatment effect under measured confounding",
    description: "Regression adjustment, IPW or AIPW for the ATE or the ATT, with overlap diagnostics, the E-value and optional refutations.",
    path_params: &[],
    query: None,
    body: Some(schema::<EffectBody>),
    answers: ANALYSIS_ANSWERS,
};

pub const ANALYZE_ADVANCED: Route = Route {
    function: "analyze-advanced",
    method: "POST",
    path: "/api/v1/causal/analyze/advanced",
    action: "causal.analyze_advanced",
    permission: permissions::ANALYSIS_RUN,
    summary: "Several methods on one question",
    description: "DiD (TWFE, event study, Callaway-Sant'Anna), IV, RDD and synthetic control on the same data, each with its assumptions and checks, and whether they agree. Large requests become a job (202).",
    path_params: &[],
    query: None,
    body: Some(schema::<AdvancedRequest>),
    answers: ANALYSIS_ANSWERS,
};

pub const GET_CAUSAL_JOB: Route = Route {
    function: "get-causal-job",
    method: "GET",
    path: "/api/v1/causal/jobs/{job_id}",
    action: "causal.job",
    permission: permissions::ANALYSIS_RUN,
    summary: "An analysis job",
    description:
        "Status, attempts, and the result once there is one (inline, or a time-limited result_url when large).",
    path_params: &[PathParam { name: "job_id", pattern: ID_PATTERN }],
    query: None,
    body: None,
    answers: &[ok(200, "The job", schema::<JobView>), error(404, "No such job in your org")],
};

pub const SYNC_NOW: Route = Route {
    function: "sync-now",
    method: "POST",
    path: "/api/v1/ingestion/sync",
    action: "ingestion.sync",
    permission: permissions::DATA_WRITE,
    summary: "Sync the org's ad platforms now",
    description: "Fetch one connection (or all) for a period (default: the last two full days) and hand the raw pages to the pipeline.",
    path_params: &[],
    query: None,
    body: Some(schema::<SyncRequest>),
    answers: &[
        ok(200, "What each connection landed", schema::<SyncResponse>),
        error(409, "The org's connection configuration cannot be used"),
    ],
};

pub const LLM_INSIGHTS: Route = Route {
    function: "llm-insights",
    method: "POST",
    path: "/api/v1/llm/causal/insights",
    action: "llm.insights",
    permission: permissions::ANALYSIS_RUN,
    summary: "Explain an analysis",
    description: "An analysis (a finished job, a result, or a request run now) explained for an executive or an analyst at the confidence level asked for: the fact sheet, a narrative whose every number comes from it, the evidence grade, and the grounding validator's verdict. A request too large for the call, or `mode: async`, becomes a job (202).",
    path_params: &[],
    query: None,
    body: Some(schema::<InsightsRequest>),
    answers: &[
        ok(200, "The explanation", schema::<Insights>),
        ok(202, "A job will explain it: ask its href", schema::<JobView>),
        error(404, "No such job in your org"),
        error(409, "The job has not succeeded"),
    ],
};

pub const LLM_COUNTERFACTUAL: Route = Route {
    function: "llm-counterfactual",
    method: "POST",
    path: "/api/v1/llm/causal/counterfactual",
    action: "llm.counterfactual",
    permission: permissions::ANALYSIS_RUN,
    summary: "Counterfactual paths and spend what-ifs",
    description: "Computed, not generated: an analysis's observed outcome against its counterfactual (synthetic control, DiD and event study, Callaway-Sant'Anna cohorts) and spend what-ifs from the fitted response curves (a new spend, a scale factor, a channel switched off, the optimiser's plan), each with its series, average and cumulative summary, interval method, extrapolation flag, evidence grade and reconciliation identities. IV and RDD results are refused with the reason (local estimands).",
    path_params: &[],
    query: None,
    body: Some(schema::<CounterfactualRequest>),
    answers: &[
        ok(200, "The scenarios", schema::<CounterfactualResponse>),
        error(404, "No such job in your org"),
        error(409, "The job has not succeeded"),
    ],
};

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

/// Every HTTP route.
pub const ROUTES: &[Route] = &[
    INGEST_CAUSAL,
    GET_EXPERIMENT_CAUSAL,
    CREATE_EXPERIMENT,
    GET_EXPERIMENT,
    LIST_EXPERIMENTS,
    UPDATE_EXPERIMENT_STATUS,
    QUERY_RECORDS,
    LIST_CONFOUNDERS,
    QUERY_AUDIT_LOG,
    DESIGN_EXPERIMENT,
    READOUT_EXPERIMENT,
    OPTIMIZE_BUDGET,
    RECOMMEND_TREATMENTS,
    CAUSAL_DISCOVER,
    TREATMENT_EFFECT,
    ANALYZE_ADVANCED,
    GET_CAUSAL_JOB,
    SYNC_NOW,
    LLM_INSIGHTS,
    LLM_COUNTERFACTUAL,
    KSE_SEARCH,
    KSE_GRAPH,
    KSE_SIMILAR,
    KSE_BUILD,
    KSE_CONCEPTS_MAP,
];

/// The route of a Lambda.
pub fn by_function(function: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.function == function)
}

#[cfg(test)]
mod tests {
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
