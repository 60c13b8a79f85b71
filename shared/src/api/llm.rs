//! The LLM module's requests and answers: `POST /api/v1/llm/causal/insights` and `/counterfactual`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::causal::{AnalysisOutput, Kind, Mode};
use crate::llm::{Audience, Insights};

/// Which analysis to explain: exactly one of a finished job, a result as an analysis endpoint
/// returned it, or an analysis request to run now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSource {
    /// A finished analysis job of your org (`GET /api/v1/causal/jobs/{job_id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The answer of analyze/advanced, discover or treatment-effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<AnalysisOutput>>,
    /// A request body of analyze/advanced (or of `kind`), run at the level asked for. One too
    /// large to answer in the call makes the explanation a job (`mode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
    /// The kind of `request` (default analyze_advanced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// The budget model: an optimize-budget body with `kpi` (`POST /api/v1/surfacing/optimize/causal`),
    /// run at the level asked for; its plan, channels and next test explained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<serde_json::Value>,
    /// The media mix model's answer as that route (or the KPI recommendations' `model`) returned
    /// it, explained at its own level (its intervals are percentiles of its re-fits there); a
    /// `confidence_level` other than that is a 400 naming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_result: Option<Box<liftos_estimators::mmm::MmmResult>>,
    /// A test design: a body of `POST /api/v1/surfacing/experiments/design`, run now. Without
    /// `confidence_level`, explained at the design's own level (1 - its alpha: 90% for a geo
    /// design's default alpha of 0.1); with it, each section's alpha is set to 1 - that level
    /// (one already set to another value is a 400 naming `confidence_level`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design: Option<serde_json::Value>,
    /// The design endpoint's answer (as `liftos design geo|power|randomize` prints it),
    /// explained at its own level; a `confidence_level` other than that is a 400 naming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design_result: Option<Box<super::surfacing::DesignResponse>>,
    /// A geo test's readout: a body of `POST /api/v1/surfacing/experiments/readout`, run now.
    /// With `confidence_level`, its `alpha` is set to 1 - that level (one already set to another
    /// value is a 400 naming `confidence_level`); without, explained at the readout's own level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readout: Option<serde_json::Value>,
    /// The readout's answer (as that route or `liftos estimate geo-readout` returns it),
    /// explained at the level asked for (its t interval recomputed; the conformal interval only
    /// at the readout's own level), or at its own without `confidence_level`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readout_result: Option<Box<super::surfacing::ReadoutAnswer>>,
}

/// Who writes the narrative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Narrator {
    /// The deterministic templates (default; no network).
    #[default]
    Template,
    /// A configured language model rephrases the templates; the validated template when none is
    /// configured or its text fails the validator (with the reason in `narrative.llm_error`).
    Llm,
    /// The model when one is configured, else the templates, without an error.
    Auto,
}

/// What an explanation request came to: the explanation now (200), or a job (202).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // one per request
pub enum InsightsAnswer {
    Done(Box<Insights>),
    Queued(super::causal::JobView),
}

/// `POST /api/v1/llm/causal/insights`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightsRequest {
    pub analysis: AnalysisSource,
    /// The level of every interval stated (default 0.95; 0.5 to 0.999).
    #[serde(default = "default_level")]
    pub confidence_level: f64,
    #[serde(default)]
    pub audience: Audience,
    #[serde(default)]
    pub narrator: Narrator,
    /// The outcome's name as the narrative should call it (default: the request's outcome column):
    /// 1 to 64 letters, spaces, `-` or `_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// `auto` (default): explained in the call unless `analysis.request` is too large for it,
    /// then a job (202, `GET /api/v1/causal/jobs/{job_id}`); `sync`: in the call, or a 400 naming
    /// `mode`; `async`: always a job, in which a language model has `LIFTOS_LLM_JOB_TIMEOUT_MS`
    /// (default 300 s) where a call gives it `LIFTOS_LLM_TIMEOUT_MS` (default 20 s).
    #[serde(default)]
    pub mode: Mode,
    /// Whether the body gave `confidence_level` (a design is otherwise explained at its own).
    #[serde(skip)]
    pub level_given: bool,
}

fn default_level() -> f64 {
    0.95
}

/// A scenario to compute. `id` names it in the answer (default: its type, or the result's id).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScenarioSpec {
    /// The analysis's observed outcome against its counterfactual without the intervention (one
    /// scenario per result of the analysis).
    NoIntervention {
        #[serde(default)]
        id: Option<String>,
    },
    /// One channel at a new spend per period (the others at their current spend).
    Spend {
        #[serde(default)]
        id: Option<String>,
        channel: String,
        spend_per_period: f64,
        /// Periods to follow the change over (default 28; 1 to 3650).
        #[serde(default)]
        periods: Option<usize>,
    },
    /// One channel's spend (or every channel's, without `channel`) times `factor`.
    Scale {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        channel: Option<String>,
        factor: f64,
        #[serde(default)]
        periods: Option<usize>,
    },
    /// One channel switched off: its contribution at current spend.
    ZeroSpend {
        #[serde(default)]
        id: Option<String>,
        channel: String,
        #[serde(default)]
        periods: Option<usize>,
    },
    /// The optimiser's plan for `budget.plan` against current spend.
    Optimized {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        periods: Option<usize>,
    },
}

/// `POST /api/v1/llm/causal/counterfactual`: an analysis (for observed-vs-counterfactual paths)
/// and/or a budget model's history (for spend what-ifs), and the scenarios to compute.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterfactualRequest {
    #[serde(default)]
    pub analysis: Option<AnalysisSource>,
    /// As `POST /api/v1/surfacing/optimize/causal`: the history (inline or from records), lift
    /// tests and the plan.
    #[serde(default)]
    pub budget: Option<super::surfacing::OptimizeRequest>,
    /// At most 20 (default: no_intervention with an analysis, optimized with a budget).
    #[serde(default)]
    pub scenarios: Vec<ScenarioSpec>,
    /// The level of every interval (default 0.95; 0.5 to 0.999).
    #[serde(default = "default_level")]
    pub confidence_level: f64,
    /// The outcome's name in the explanation (as in insights).
    #[serde(default)]
    pub outcome: Option<String>,
}

/// The answer: each scenario with its series, summary and reconciliation; results that have no
/// counterfactual path with the reason; and, with an analysis, its grounded explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CounterfactualResponse {
    pub scenarios: Vec<crate::llm::counterfactual::Scenario>,
    pub refused: Vec<crate::llm::counterfactual::Refusal>,
    pub confidence_level: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<crate::llm::Explanation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grounding: Option<crate::llm::Grounding>,
}

// The area's HTTP routes (see [`super::routes::Route`]).

use super::causal::JobView;
use super::routes::{error, ok, schema, Route};
use crate::domain::permissions;

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

/// The llm routes, in the order of the API document.
pub const ROUTES: &[Route] = &[LLM_INSIGHTS, LLM_COUNTERFACTUAL];
