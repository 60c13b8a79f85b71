//! The surfacing service's requests and answers: experiment design
//! (`POST /api/v1/surfacing/experiments/design`), budget optimisation
//! (`POST /api/v1/surfacing/optimize/causal`) and treatment recommendations
//! (`GET /api/v1/surfacing/recommendations/treatments`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::Platform;
use liftos_estimators::budget::recommend::Recommendation;
use liftos_estimators::budget::{self, ChannelBounds, ChannelSpend, FittedModel, Lift, PlanResult};
use liftos_estimators::design::geo::{GeoDesign, GeoSettings};
use liftos_estimators::design::power::{PowerResult, PowerSettings};
use liftos_estimators::design::randomize::{RandomizeResult, RandomizeSettings, Unit};

/// Give two of `n_control`, `effect` and `power`; the third is solved for (`n_control` or
/// `effect` alone: at 80% power).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PowerSection {
    #[serde(flatten)]
    pub settings: PowerSettings,
    #[serde(default)]
    pub n_control: Option<f64>,
    #[serde(default)]
    pub effect: Option<f64>,
    /// The power to detect `effect` (default 0.8 when `n_control` or `effect` is given alone).
    #[serde(default)]
    pub power: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RandomizationSection {
    pub units: Vec<Unit>,
    #[serde(flatten)]
    pub settings: RandomizeSettings,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PanelRow {
    pub market: String,
    pub period: i64,
    pub outcome: f64,
}

/// Where a geo design's history comes from (the schema of the `panel` key; read by
/// [`GeoSection::source`]).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only
enum GeoPanelSchema {
    /// Inline rows of whole-number periods.
    Rows(Vec<PanelRow>),
    /// A panel object under your org (CSV, Parquet, Excel), its columns named by `market`,
    /// `time` and `outcome`.
    Stored(crate::api::causal::PanelRef),
}

/// Geo market selection on the markets' history: `panel` as inline `{market, period, outcome}`
/// rows (whole-number periods); or the history as the analyses take it, a stored `panel`
/// (`{"key": "geo/history.csv"}`) or inline `rows` of any columns, with `market`, `time` and
/// `outcome` naming them (a `time` column of dates is numbered in its steps; the answer then
/// gains `time_axis`).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GeoSection {
    #[serde(default)]
    #[schemars(with = "Option<GeoPanelSchema>")]
    pub panel: Option<serde_json::Value>,
    /// Inline rows (at most 100,000) with the columns `market`, `time` and `outcome` name.
    #[serde(default)]
    pub rows: Option<Vec<crate::api::causal::Row>>,
    /// With a stored `panel` or `rows`: the market, period and outcome columns.
    #[serde(default)]
    pub market: Option<String>,
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(flatten)]
    pub settings: GeoSettings,
}

/// A geo section's history, parsed.
#[allow(clippy::large_enum_variant)] // parsed once per request
pub enum GeoSource {
    /// `{market, period, outcome}` rows.
    Rows(Vec<PanelRow>),
    /// The analyses' data (a stored panel or inline rows) and the three columns.
    Data { data: crate::api::causal::DataSpec, market: String, time: String, outcome: String },
}

impl GeoSection {
    /// Which history the section names, with errors naming the key within the section.
    pub fn source(&mut self) -> Result<GeoSource, crate::domain::ValidationError> {
        use crate::domain::ValidationError;
        let columns = [("market", self.market.take()), ("time", self.time.take()), ("outcome", self.outcome.take())];
        let stored = match (self.panel.take(), self.rows.take()) {
            (Some(_), Some(_)) => return Err(ValidationError::new("rows", "give panel or rows, not both")),
            (None, None) => {
                return Err(ValidationError::new(
                    "panel",
                    "is required: the markets' history as {market, period, outcome} rows, a stored panel {\"key\": ...}, or rows with market, time and outcome naming their columns",
                ))
            }
            (Some(v @ serde_json::Value::Array(_)), None) => {
                if let Some((name, _)) = columns.iter().find(|(_, c)| c.is_some()) {
                    return Err(ValidationError::new(
                        *name,
                        "names a column of a stored panel or of rows; inline panel rows are {market, period, outcome}",
                    ));
                }
                let rows = crate::domain::error::from_json_value(v).map_err(|e| e.prefixed("panel"))?;
                return Ok(GeoSource::Rows(rows));
            }
            (Some(v @ serde_json::Value::Object(_)), None) => crate::api::causal::DataSpec {
                panel: Some(crate::domain::error::from_json_value(v).map_err(|e| e.prefixed("panel"))?),
                ..Default::default()
            },
            (Some(_), None) => {
                return Err(ValidationError::new(
                    "panel",
                    "must be an array of {market, period, outcome} rows or a stored panel {\"key\": ...}",
                ))
            }
            (None, Some(rows)) => crate::api::causal::DataSpec { rows: Some(rows), ..Default::default() },
        };
        let [market, time, outcome] = columns.map(|(name, c)| {
            c.ok_or_else(|| {
                ValidationError::new(
                    name,
                    format!(
                        "is required with {}: the column of the {name}",
                        if stored.rows.is_some() { "rows" } else { "a stored panel" }
                    ),
                )
            })
        });
        Ok(GeoSource::Data { data: stored, market: market?, time: time?, outcome: outcome? })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DesignRequest {
    #[serde(default)]
    pub power: Option<PowerSection>,
    #[serde(default)]
    pub randomization: Option<RandomizationSection>,
    #[serde(default)]
    pub geo: Option<GeoSection>,
}

/// The design endpoint's answer (also read back, as `analysis.design_result` of an explanation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DesignResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<PowerResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomization: Option<RandomizeResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoDesign>,
    /// When the geo history's time column held dates: each period's date (durations count its
    /// steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_axis: Option<crate::api::estimate::AxisSummary>,
}

/// The outcome that the curves model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeMetric {
    #[default]
    Conversions,
    Revenue,
}

/// A spend and outcome history: per-period outcome and per-channel spend.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub outcome: Vec<f64>,
    pub channels: Vec<ChannelSpend>,
    /// Revenue per unit of outcome over the history (from stored records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_per_outcome: Option<f64>,
    /// The date of each period (read from stored records; not part of the request).
    #[serde(skip)]
    pub dates: Vec<chrono::NaiveDate>,
    /// What reading the stored records left out, said in the answer's warnings (not part of the
    /// request).
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// Where the history comes from: inline, or the org's stored records.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordsSource {
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub metric: OutcomeMetric,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimizeRequest {
    #[serde(default)]
    pub history: Option<History>,
    #[serde(default)]
    pub records: Option<RecordsSource>,
    #[serde(default)]
    pub lifts: Vec<Lift>,
    /// The media mix model on the org's own KPI (the model of `liftos mmm`): give this instead
    /// of `history` or `records`; the answer is then the model's (channels with ROI intervals,
    /// the plan within the supported spend, its gain with an interval, the next test).
    #[serde(default)]
    pub kpi: Option<KpiHistory>,
    pub plan: PlanRequest,
    /// With `kpi`: also store the HTML report (the plan in words, the channels, the response
    /// curves with their intervals, the KPI over time by source, the fit) and link to it.
    #[serde(default)]
    pub report: bool,
}

/// One entry per date: the business KPI (orders, revenue, sign-ups; null where missing) and each
/// channel's spend on the same dates.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KpiHistory {
    /// YYYY-MM-DD, daily, weekly or monthly (a month dated by its first or last day); a date left out is a missing period, never zero spend.
    pub dates: Vec<String>,
    pub kpi: Vec<Option<f64>>,
    pub spend: Vec<NamedSeries>,
    /// The org's own series: promotions, prices, holiday indicators.
    #[serde(default)]
    pub controls: Vec<NamedSeries>,
    #[serde(default)]
    pub lift_tests: Vec<LiftTestRow>,
    /// The KPI is platform-attributed: allowed, and the answer says it is not incremental.
    #[serde(default)]
    pub attributed: bool,
    /// A country (ISO 3166 alpha-2, as US or GB): its public holidays and retail peaks from the
    /// ingestion's calendars as controls.
    #[serde(default)]
    pub holidays: Option<String>,
    /// Built-in controls and the uncertainty (trend, yearly, weekly, draws, level, folds).
    #[serde(default)]
    pub trend: Option<bool>,
    #[serde(default)]
    pub yearly: Option<usize>,
    #[serde(default)]
    pub weekly: Option<usize>,
    #[serde(default)]
    pub draws: Option<usize>,
    #[serde(default)]
    pub level: Option<f64>,
    #[serde(default)]
    pub folds: Option<usize>,
    /// The carry-over at the history's first period: `running` (the channels ran before it, at
    /// its first spend), `launch` (they started with it: carry-over builds from zero) or `auto`
    /// (default: `launch` where it fits clearly better). The answer says which in
    /// `model.fit.history_start`.
    #[serde(default)]
    pub history_start: Option<liftos_estimators::mmm::HistoryStart>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedSeries {
    pub name: String,
    /// One value per date (null where missing).
    pub values: Vec<Option<f64>>,
}

/// A lift test: spend per period moved from `spend_from` to `spend_to` from `start` to `end`
/// (dates), and the KPI it measured over that window.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftTestRow {
    pub channel: String,
    pub start: String,
    pub end: String,
    pub spend_from: f64,
    pub spend_to: f64,
    pub incremental: f64,
    pub std_error: f64,
}

/// The answer of `POST /api/v1/surfacing/optimize/causal`: the response-curve optimiser's for a
/// `history` or `records`, the media mix model's for a `kpi`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OptimizeAnswer {
    Curves(Box<OptimizeResponse>),
    Mmm(Box<MmmAnswer>),
}

/// The media mix model's answer, and its report when asked for.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MmmAnswer {
    #[serde(flatten)]
    pub model: liftos_estimators::mmm::MmmResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<crate::api::causal::ReportLink>,
}

/// The plan, with channels' current spend defaulting to their recent average.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    pub objective: budget::Objective,
    #[serde(default)]
    pub budget: Option<f64>,
    #[serde(default)]
    pub channels: Vec<ChannelBounds>,
    #[serde(default)]
    pub value_per_outcome: Option<f64>,
    #[serde(default)]
    pub max_change: Option<f64>,
    #[serde(default)]
    pub target_roas: Option<f64>,
    #[serde(default)]
    pub target_cpa: Option<f64>,
    #[serde(default)]
    pub periods: Option<f64>,
    #[serde(default)]
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OptimizeResponse {
    pub model: FittedModel,
    pub plan: PlanResult,
    pub recommendations: Vec<Recommendation>,
    /// `false` when the outcome is the platforms' attributed conversions or revenue (from the
    /// stored records): the effects are then not incremental. Absent for an inline history,
    /// whose outcome the caller chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<bool>,
    /// What limits these curves: the outcome they were fitted on, and the model itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `GET /api/v1/surfacing/recommendations/treatments` for an org with its own KPI
/// (`config/kpi.csv`) and the platforms as channels: the media mix model's moves, with the
/// intervals of its re-fits. Per channel: `scale` or `cut` toward the plan (`confidence`: the
/// share of re-fits in which the plan gains), `run_test` where the ROI is positive in fewer than
/// 99% of the re-fits or its test of no effect does not reject at 5% (`no_effect_p_value`; held
/// at today's spend; `confidence`: the share of re-fits in which it is positive),
/// `hold` where the plan keeps today's spend (`confidence` the same). `expected_gain` is the KPI per period the move adds in steady state, with its
/// interval; `marginal_roi` is KPI per extra unit of spend.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct KpiRecommendations {
    /// Where the KPI came from and its column.
    pub kpi_source: String,
    pub kpi: String,
    pub recommendations: Vec<Recommendation>,
    /// The model behind them, with the plan and the next test.
    pub model: liftos_estimators::mmm::MmmResult,
    /// Always true: the outcome is the org's own KPI.
    pub incremental: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The answer of `GET /api/v1/surfacing/recommendations/treatments`: the media mix model's on
/// the org's KPI when it has one (and no `platform` is asked for), else the response curves'
/// on the platforms' attribution (`incremental: false`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RecommendAnswer {
    Kpi(Box<KpiRecommendations>),
    Curves(Box<OptimizeResponse>),
}

crate::names! {
    /// What the recommendations maximise: conversions, revenue, or profit (revenue minus spend).
    pub enum Objective { Conversions = "conversions", Revenue = "revenue", Profit = "profit" }
    expected "conversions, revenue or profit"
}

/// `GET /api/v1/surfacing/recommendations/treatments`.
#[derive(JsonSchema)]
pub struct RecommendQuery {
    /// One platform's campaigns as the channels (default: the platforms themselves).
    pub platform: Option<Platform>,
    /// conversions (default), revenue or profit.
    pub objective: Option<Objective>,
}

/// `POST /api/v1/surfacing/experiments/readout`: the data as for the analyses (exactly one of
/// inline `rows`, a `panel` under your org, or stored `records`) and the test as
/// `liftos estimate geo-readout` takes it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReadoutRequest {
    #[serde(flatten)]
    pub data: crate::api::causal::DataSpec,
    #[serde(flatten)]
    pub readout: crate::api::estimate::GeoReadoutRequest,
}

/// The readout, and when the time column held dates, each period's date (`time_axis`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReadoutAnswer {
    #[serde(flatten)]
    pub readout: liftos_estimators::design::geo::GeoReadout,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_axis: Option<crate::api::estimate::AxisSummary>,
}

// The area's HTTP routes (see [`super::routes::Route`]).

use super::routes::{error, ok, schema, Route};
use crate::domain::permissions;

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
    answers: &[ok(200, "The readout", schema::<ReadoutAnswer>)],
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

/// The surfacing routes, in the order of the API document.
pub const ROUTES: &[Route] = &[DESIGN_EXPERIMENT, READOUT_EXPERIMENT, OPTIMIZE_BUDGET, RECOMMEND_TREATMENTS];
