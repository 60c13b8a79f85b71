//! The LLM module: grounded explanations of analysis results. A typed fact sheet from the result
//! ([`facts`]), one number formatter ([`format`]), a deterministic narrator ([`narrate`]) and a
//! grounding validator run on every narrative ([`validate`]). A language model, when one is
//! configured ([`provider`]), only rephrases the narrator's placeholders; without one nothing
//! leaves the process. Counterfactuals are computed, not generated ([`counterfactual`]).

pub mod counterfactual;
pub mod design;
pub mod facts;
pub mod format;
pub mod narrate;
pub mod provider;
pub mod readout;
pub mod validate;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use facts::{Context, Evidence, Fact, FactSheet, Grade};
pub use narrate::{Audience, Explanation, Sentence};
pub use validate::{Grounding, Violation};

/// The version of the templates and prompt: part of every response and of the cache key.
pub const PROMPT_VERSION: &str = "liftos-narrative-1";

/// Who wrote the narrative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Narrative {
    /// `template`, or `llm` when a configured model's rephrasing passed the validator.
    pub source: String,
    #[serde(default)]
    pub model: Option<String>,
    pub prompt_version: String,
    /// Why the template was used when a model was asked for.
    #[serde(default)]
    pub llm_error: Option<String>,
    /// A model's rephrasing served from the cache (same prompt version, model and facts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
}

/// An analysis explained: the facts, the narrative, the grades and the validator's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Insights {
    pub facts: Vec<Fact>,
    pub explanation: Explanation,
    /// The grade of the headline result (A best, D a prior only).
    pub evidence_grade: Grade,
    pub evidence: Vec<Evidence>,
    pub entities: facts::Entities,
    pub confidence_level: f64,
    pub audience: Audience,
    pub narrative: Narrative,
    pub grounding: Grounding,
}

/// The template narrative of `sheet`, validated.
pub fn explain_sheet(sheet: FactSheet, audience: Audience, llm_error: Option<String>) -> Result<Insights, String> {
    let explanation = narrate::explain(&sheet, audience)?;
    let grounding = validate::grounding(&explanation.sentences, &sheet);
    let narrative = Narrative {
        source: "template".into(),
        model: None,
        prompt_version: PROMPT_VERSION.into(),
        llm_error,
        cached: None,
    };
    Ok(insights_of(sheet, audience, explanation, grounding, narrative))
}

/// The answer from a sheet and its validated explanation.
pub fn insights_of(
    sheet: FactSheet,
    audience: Audience,
    explanation: Explanation,
    grounding: Grounding,
    narrative: Narrative,
) -> Insights {
    let evidence_grade = sheet.evidence.first().map(|e| e.grade).unwrap_or(Grade::D);
    Insights {
        facts: sheet.facts,
        explanation,
        evidence_grade,
        evidence: sheet.evidence,
        entities: sheet.entities,
        confidence_level: sheet.confidence_level,
        audience,
        narrative,
        grounding,
    }
}
