//! The causal service's requests and answers: `POST /api/v1/causal/analyze/advanced`,
//! `/discover`, `/treatment-effect`, and `GET /api/v1/causal/jobs/{job_id}`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::estimate::{
    DidRequest, DiscoverRequest, DiscoveryOutput, EffectOutput, EffectRequest, ImpactRequest, IvRequest, MethodOutput,
    RddRequest, SdidRequest, SynthRequest,
};
use crate::domain::{JobError, JobStatus};

/// The three analyses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    AnalyzeAdvanced,
    Discover,
    TreatmentEffect,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AnalyzeAdvanced => "analyze_advanced",
            Kind::Discover => "discover",
            Kind::TreatmentEffect => "treatment_effect",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "analyze_advanced" => Ok(Kind::AnalyzeAdvanced),
            "discover" => Ok(Kind::Discover),
            "treatment_effect" => Ok(Kind::TreatmentEffect),
            other => Err(format!("{other:?} is not an analysis")),
        }
    }
}

/// What a job computes: an analysis, or the explanation of one (`POST /api/v1/llm/causal/insights`
/// with `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    AnalyzeAdvanced,
    Discover,
    TreatmentEffect,
    Insights,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Insights => "insights",
            JobKind::AnalyzeAdvanced => Kind::AnalyzeAdvanced.as_str(),
            JobKind::Discover => Kind::Discover.as_str(),
            JobKind::TreatmentEffect => Kind::TreatmentEffect.as_str(),
        }
    }

    /// The analysis it runs, if it is one.
    pub fn analysis(self) -> Option<Kind> {
        match self {
            JobKind::AnalyzeAdvanced => Some(Kind::AnalyzeAdvanced),
            JobKind::Discover => Some(Kind::Discover),
            JobKind::TreatmentEffect => Some(Kind::TreatmentEffect),
            JobKind::Insights => None,
        }
    }
}

impl From<Kind> for JobKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::AnalyzeAdvanced => JobKind::AnalyzeAdvanced,
            Kind::Discover => JobKind::Discover,
            Kind::TreatmentEffect => JobKind::TreatmentEffect,
        }
    }
}

impl std::str::FromStr for JobKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "insights" => Ok(JobKind::Insights),
            other => other.parse::<Kind>().map(JobKind::from).map_err(|_| format!("{other:?} is not a kind of job")),
        }
    }
}

/// `auto` answers at once unless the job is large; `sync` always answers at once; `async`
/// always queues a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Auto,
    Sync,
    Async,
}

/// One row of inline data: numbers (null = missing), booleans (1 and 0) or strings.
pub type Row = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PanelFormat {
    Csv,
    Parquet,
}

/// A panel object under the caller's org: `key` is relative to the org's prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PanelRef {
    pub key: String,
    /// By default from the key's extension (`.csv`, `.parquet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PanelFormat>,
}

/// Causal records of the caller's org: one row per campaign and day.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordsRef {
    /// One platform, or all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Only these campaigns (needs `platform`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Which detected treatment defines `treated`, `post` and `treatment`, when the records
    /// carry several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervention: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
}

/// The three ways to name data; exactly one must be given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DataSpec {
    /// Inline rows (at most 100,000, and the 5 MiB body cap): objects with the same keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Row>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<PanelRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<RecordsRef>,
}

/// The treatment found on the records: who was treated, from when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DetectedTreatment {
    pub intervention: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
    pub assigned_at: DateTime<Utc>,
    /// `assigned_at` as a `time` value (days since 1970-01-01).
    pub time: i64,
    pub treated_units: Vec<String>,
    pub control_units: Vec<String>,
}

/// What was read, reported with every result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DataInfo {
    /// `rows`, `panel` or `records`.
    pub source: String,
    pub rows: usize,
    pub columns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub panel_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treatment: Option<DetectedTreatment>,
    /// The methods' time column held dates: numbered as periods (1 is the first date), each
    /// period's date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_axis: Option<crate::api::estimate::AxisSummary>,
    /// Stored records: the currency their money columns (`spend`, `revenue`) are in, the org's
    /// reporting currency as its connections name it. For the report's and the explanation's
    /// amounts; not part of the answer's JSON.
    #[serde(skip)]
    #[schemars(skip)]
    pub currency: Option<String>,
}

impl DataInfo {
    /// The currency of `column` where it is money: a stored record's `spend` or `revenue`.
    pub fn money_of(&self, column: &str) -> Option<&str> {
        self.currency.as_deref().filter(|_| self.source == "records" && matches!(column, "spend" | "revenue"))
    }
}

/// One method's settings in `analyze/advanced`: `method` and that method's column roles (as
/// `liftos estimate`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum MethodSpec {
    Did(DidRequest),
    Iv(IvRequest),
    Rdd(RddRequest),
    Synth(SynthRequest),
    Sdid(SdidRequest),
    Impact(ImpactRequest),
}

impl MethodSpec {
    /// `did`, `iv`, `rdd`, `synth`, `sdid` or `impact`.
    pub fn name(&self) -> &'static str {
        match self {
            MethodSpec::Did(_) => "did",
            MethodSpec::Iv(_) => "iv",
            MethodSpec::Rdd(_) => "rdd",
            MethodSpec::Synth(_) => "synth",
            MethodSpec::Sdid(_) => "sdid",
            MethodSpec::Impact(_) => "impact",
        }
    }
}

/// The options every analysis request shares.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Common {
    #[serde(flatten)]
    pub data: DataSpec,
    /// auto (default): answer now unless the job is large (over 200,000 rows, a 16 MiB panel, or
    /// a placebo run over more than 25 donors), else 202 with a job; sync: now, or 400 (`mode`)
    /// when it is that large; async: always a job.
    #[serde(default)]
    pub mode: Mode,
    /// Also write a self-contained HTML report with SVG plots under the org (reports/...) and
    /// return a time-limited link.
    #[serde(default)]
    pub report: bool,
}

/// `POST /api/v1/causal/analyze/advanced`: several methods on the same data. Name the data with
/// exactly one of `rows`, `panel` or `records`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AdvancedRequest {
    #[serde(flatten)]
    pub common: Common,
    /// One to eight methods.
    #[schemars(length(min = 1, max = 8))]
    pub methods: Vec<MethodSpec>,
    #[serde(default)]
    pub question: Option<String>,
}

/// `POST /api/v1/causal/discover`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DiscoverBody {
    #[serde(flatten)]
    pub common: Common,
    #[serde(flatten)]
    pub request: DiscoverRequest,
}

/// `POST /api/v1/causal/treatment-effect` (with stored records, `treatment` defaults to theirs).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EffectBody {
    #[serde(flatten)]
    pub common: Common,
    #[serde(flatten)]
    pub request: EffectRequest,
}

/// A validity check of a method: the statistic, the rule, and whether it passed (absent when
/// the result does not carry the statistic, e.g. no event study was run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
}

/// One method's result with its assumptions and checks.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MethodResult {
    pub method: String,
    pub assumptions: Vec<String>,
    pub checks: Vec<Check>,
    pub result: MethodOutput,
}

/// Whether the methods agree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    pub methods: usize,
    /// (method, estimate, ci_low, ci_high)
    pub estimates: Vec<(String, f64, Option<f64>, Option<f64>)>,
    pub signs_agree: bool,
    /// Every pair of intervals overlaps (methods without an interval are left out).
    pub intervals_overlap: bool,
    pub spread: f64,
    pub checks_passed: usize,
    pub checks_failed: usize,
    pub summary: String,
}

/// The methods' results and their comparison.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AdvancedResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    pub results: Vec<MethodResult>,
    pub comparison: Comparison,
}

/// Where the HTML report is: in the org's store behind a time-limited link, or (from `liftos
/// report`) a local file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ReportLink {
    Stored { key: String, url: String, expires_in_seconds: u64, bytes: usize },
    Local { path: String, bytes: usize },
}

/// An analysis's answer: the result, what was read, and the report when asked for.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "AnalysisOf{T}")]
pub struct Analysis<T> {
    #[serde(flatten)]
    pub result: T,
    pub data: DataInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportLink>,
}

/// The answer of any of the three analyses.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // one per request, moved rarely
pub enum AnalysisOutput {
    Advanced(Analysis<AdvancedResponse>),
    Discover(Analysis<DiscoveryOutput>),
    Effect(Analysis<EffectOutput>),
}

impl AnalysisOutput {
    /// A stored answer read back as the kind of analysis that produced it.
    pub fn from_json(kind: Kind, v: serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            Kind::AnalyzeAdvanced => AnalysisOutput::Advanced(serde_json::from_value(v)?),
            Kind::Discover => AnalysisOutput::Discover(serde_json::from_value(v)?),
            Kind::TreatmentEffect => AnalysisOutput::Effect(serde_json::from_value(v)?),
        })
    }

    pub fn data(&self) -> &DataInfo {
        match self {
            AnalysisOutput::Advanced(a) => &a.data,
            AnalysisOutput::Discover(a) => &a.data,
            AnalysisOutput::Effect(a) => &a.data,
        }
    }

    pub fn data_mut(&mut self) -> &mut DataInfo {
        match self {
            AnalysisOutput::Advanced(a) => &mut a.data,
            AnalysisOutput::Discover(a) => &mut a.data,
            AnalysisOutput::Effect(a) => &mut a.data,
        }
    }

    pub fn report_mut(&mut self) -> &mut Option<ReportLink> {
        match self {
            AnalysisOutput::Advanced(a) => &mut a.report,
            AnalysisOutput::Discover(a) => &mut a.report,
            AnalysisOutput::Effect(a) => &mut a.report,
        }
    }
}

/// A job as `GET /api/v1/causal/jobs/{job_id}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JobView {
    pub job_id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attempts: u32,
    /// Steps done of the total (each method, then the report), from when the job runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<crate::domain::job::JobProgress>,
    /// The same JSON as the synchronous answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// A time-limited link to a result too large to return inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    /// Where to ask for the status.
    pub href: String,
}

/// A finished job's answer: the analysis's, or the explanation's.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // one per job view
pub enum JobResult {
    Analysis(AnalysisOutput),
    Insights(Box<crate::llm::Insights>),
}

impl JobResult {
    /// A stored answer read back as the kind of job that produced it.
    pub fn from_json(kind: JobKind, v: serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(match kind.analysis() {
            Some(k) => JobResult::Analysis(AnalysisOutput::from_json(k, v)?),
            None => JobResult::Insights(Box::new(serde_json::from_value(v)?)),
        })
    }
}

/// What an analysis request came to: an answer now (200), or a job to ask about later (202).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Answer {
    Done(AnalysisOutput),
    Queued(JobView),
}

/// The message the batch-analysis stage receives. The org in it was taken from the verified
/// token when the job was created; only the API functions may send to this queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub job_id: String,
    pub org_id: String,
}

// The area's HTTP routes (see [`super::routes::Route`]).

use super::routes::{error, ok, schema, PathParam, Route, ID_PATTERN};
use crate::domain::permissions;

const ANALYSIS_ANSWERS: &[super::routes::Answer] = &[
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

/// The causal routes, in the order of the API document.
pub const ROUTES: &[Route] = &[CAUSAL_DISCOVER, TREATMENT_EFFECT, ANALYZE_ADVANCED, GET_CAUSAL_JOB];
