//! The LLM module's requests and answers: `POST /api/v1/llm/causal/insights`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::causal::{AnalysisOutput, Kind};
use crate::llm::Audience;

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
    /// A request body of analyze/advanced (or of `kind`), run at the level asked for. A request
    /// too large to answer in the call is refused: run it as a job, then pass its `job_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
    /// The kind of `request` (default analyze_advanced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
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
}

fn default_level() -> f64 {
    0.95
}
