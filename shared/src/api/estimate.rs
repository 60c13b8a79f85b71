//! The column roles and options of each method (what `liftos estimate` takes as flags and the
//! analysis endpoints as JSON), and the typed results they produce.

use liftos_estimators::did::staggered::{ControlGroup, CsMethod, CsResult};
use liftos_estimators::did::DidResult;
use liftos_estimators::discovery::{BackgroundKnowledge, DiscoveryResult, LingamResult};
use liftos_estimators::effects::{EffectMethod, EffectResult, Estimand, Refutation};
use liftos_estimators::impact::ImpactResult;
use liftos_estimators::iv::IvResult;
use liftos_estimators::ols::SeKind;
use liftos_estimators::rdd::{BwSelect, Kernel, RddResult};
use liftos_estimators::sdid::{SdidResult, SdidSe};
use liftos_estimators::synth::SynthResult;
use liftos_estimators::{Estimate, Inference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

crate::names! {
    /// Which units serve as controls in a staggered DiD.
    pub enum Control { Never = "never", NotYet = "not-yet" | "notyet" }
    expected "never or not-yet"
}

impl From<Control> for ControlGroup {
    fn from(c: Control) -> Self {
        match c {
            Control::Never => ControlGroup::NeverTreated,
            Control::NotYet => ControlGroup::NotYetTreated,
        }
    }
}

crate::names! {
    /// The staggered-adoption estimator (with `cohort`): Callaway-Sant'Anna's group-time ATTs
    /// estimated dr (default), ipw or reg; or the heterogeneity-robust event studies
    /// sun-abraham (interaction-weighted) and imputation (Borusyak-Jaravel-Spiess / did2s).
    pub enum CsEstimation {
        Dr = "dr",
        Ipw = "ipw",
        Reg = "reg",
        SunAbraham = "sun-abraham" | "sun_abraham" | "sunab",
        Imputation = "imputation" | "did2s",
    }
    expected "dr, ipw, reg, sun-abraham or imputation"
}

impl CsEstimation {
    /// Callaway-Sant'Anna's way of estimating each group-time ATT, or the robust event study.
    pub fn split(self) -> Result<CsMethod, liftos_estimators::did::robust::RobustMethod> {
        use liftos_estimators::did::robust::RobustMethod;
        match self {
            CsEstimation::Dr => Ok(CsMethod::Dr),
            CsEstimation::Ipw => Ok(CsMethod::Ipw),
            CsEstimation::Reg => Ok(CsMethod::Reg),
            CsEstimation::SunAbraham => Err(RobustMethod::SunAbraham),
            CsEstimation::Imputation => Err(RobustMethod::Imputation),
        }
    }
}

/// Standard errors: `robust` (HC1), `hc0`, `classical`, `cluster:COLUMN`, or (DiD) `wild`:
/// cluster-robust errors with the wild cluster restricted bootstrap's p-value and interval, or
/// (DiD) `cr2`: CR2 cluster-robust errors with Bell-McCaffrey degrees of freedom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeSpec {
    Robust,
    Hc0,
    Classical,
    Cluster(String),
    Wild,
    Cr2,
}

impl SeSpec {
    pub fn kind(&self) -> SeKind {
        match self {
            SeSpec::Robust => SeKind::Hc1,
            SeSpec::Hc0 => SeKind::Hc0,
            SeSpec::Classical => SeKind::Classical,
            SeSpec::Cluster(_) | SeSpec::Wild | SeSpec::Cr2 => SeKind::Cluster,
        }
    }

    pub fn cluster(&self) -> Option<&str> {
        match self {
            SeSpec::Cluster(c) => Some(c),
            _ => None,
        }
    }
}

impl std::str::FromStr for SeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "robust" | "hc1" => Ok(SeSpec::Robust),
            "hc0" => Ok(SeSpec::Hc0),
            "classical" => Ok(SeSpec::Classical),
            "wild" => Ok(SeSpec::Wild),
            "cr2" => Ok(SeSpec::Cr2),
            other => match other.strip_prefix("cluster:") {
                Some(c) if !c.is_empty() => Ok(SeSpec::Cluster(c.to_string())),
                _ => Err(format!("{other:?}: expected robust, hc0, classical, cluster:COLUMN, wild or cr2")),
            },
        }
    }
}

impl std::fmt::Display for SeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeSpec::Robust => f.write_str("robust"),
            SeSpec::Hc0 => f.write_str("hc0"),
            SeSpec::Classical => f.write_str("classical"),
            SeSpec::Cluster(c) => write!(f, "cluster:{c}"),
            SeSpec::Wild => f.write_str("wild"),
            SeSpec::Cr2 => f.write_str("cr2"),
        }
    }
}

impl Serialize for SeSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SeSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for SeSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SeSpec".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(robust|hc1|hc0|classical|wild|cr2|cluster:.+)$",
            "description": "robust (HC1), hc0, classical, cluster:COLUMN, or for DiD: wild (cluster-robust errors with the wild cluster restricted bootstrap's p-value and interval) or cr2 (CR2 cluster-robust std_error with Bell-McCaffrey df, as R clubSandwich); clusters from `cluster`, default the unit"
        })
    }
}

crate::names! {
    /// The local-polynomial kernel.
    pub enum KernelName { Triangular = "triangular" | "tri", Uniform = "uniform" | "uni", Epanechnikov = "epanechnikov" | "epa" }
    expected "triangular, uniform or epanechnikov"
    into Kernel
}

crate::names! {
    /// rdrobust's bandwidth selector.
    pub enum BandwidthSelector { Mserd = "mserd", Msetwo = "msetwo", Msesum = "msesum" }
    expected "mserd, msetwo or msesum"
    into BwSelect
}

crate::names! {
    /// Treatment-effect estimator under measured confounding.
    pub enum EffectMethodName { Regression = "regression" | "reg", Ipw = "ipw", Aipw = "aipw" | "dr" }
    expected "regression, ipw or aipw"
    into EffectMethod
}

crate::names! {
    /// Synthetic DiD's standard error.
    pub enum SdidSeName { Placebo = "placebo", Bootstrap = "bootstrap", Jackknife = "jackknife" }
    expected "placebo, bootstrap or jackknife"
    into SdidSe
}

crate::names! {
    /// The target population of a treatment effect.
    pub enum EstimandName { Ate = "ate", Att = "att" }
    expected "ate or att"
    into Estimand
}

crate::names! {
    /// Causal discovery algorithm (`ges` is named to be refused with a reason).
    pub enum DiscoveryMethod { Pc = "pc", Lingam = "lingam", Ges = "ges" }
    expected "pc or lingam"
}

/// Difference-in-differences: TWFE / event study with `treatment`, Callaway-Sant'Anna with
/// `cohort`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DidRequest {
    pub unit: String,
    pub time: String,
    pub outcome: String,
    /// The 0/1 treated-and-post indicator (TWFE / event study).
    #[serde(default)]
    pub treatment: Option<String>,
    /// The first treated period per unit, 0 or empty for never treated (Callaway-Sant'Anna).
    #[serde(default)]
    pub cohort: Option<String>,
    /// The cluster column (default: the unit). With `cohort` (Callaway-Sant'Anna) the influence
    /// functions are summed within clusters and the multiplier bootstrap draws one weight per
    /// cluster; a unit must stay in one cluster.
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub event_study: bool,
    #[serde(default)]
    pub control: Option<Control>,
    /// Callaway-Sant'Anna's estimator: dr (default), ipw or reg (`liftos estimate did --method`;
    /// in a request body `method` names the method itself, so this is `estimation`).
    #[serde(default)]
    pub estimation: Option<CsEstimation>,
    #[serde(default)]
    pub covariates: Vec<String>,
    #[serde(default)]
    pub se: Option<SeSpec>,
    /// Multiplier-bootstrap draws (staggered), or the wild bootstrap's draws (`se: wild`,
    /// default 9,999).
    #[serde(default)]
    pub bootstrap: Option<usize>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// The wild bootstrap's weights: rademacher (default) or webb (`se: wild`).
    #[serde(default)]
    pub weights: Option<liftos_estimators::did::wild::WildWeights>,
    /// With `event_study` (TWFE): HonestDiD's bounds on the average post-period effect under
    /// relative magnitudes (`honest.relative_magnitudes`, `honest.breakdown_mbar`) and under
    /// smoothness (`honest.smoothness`, `honest.breakdown_m`).
    #[serde(default)]
    pub honest: bool,
    /// The M-bar values for `honest` (default 0.5, 1, 2; at most 10, each 0 to 20).
    #[serde(default)]
    pub mbar: Option<Vec<f64>>,
    /// The smoothness restriction's M values for `honest`, in the outcome's units per period²
    /// (default: honestdid's, ten from 0 to an upper bound on the leads' own second
    /// differences; at most 10, each 0 or more).
    #[serde(default)]
    pub m: Option<Vec<f64>>,
    /// Callaway-Sant'Anna (`cohort`): periods before treatment in which units may already react
    /// (R did's `anticipation`; at most 50).
    #[serde(default)]
    pub anticipation: Option<usize>,
    /// Callaway-Sant'Anna (`cohort`): `varying` (default) or `universal` base period.
    #[serde(default)]
    pub base_period: Option<liftos_estimators::did::staggered::BasePeriod>,
    #[serde(default)]
    pub alpha: Option<f64>,
}

/// Instrumental variables (2SLS).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IvRequest {
    pub outcome: String,
    pub endogenous: Vec<String>,
    pub instruments: Vec<String>,
    #[serde(default)]
    pub controls: Vec<String>,
    #[serde(default)]
    pub se: Option<SeSpec>,
    #[serde(default)]
    pub alpha: Option<f64>,
}

/// Regression discontinuity (sharp, or fuzzy with `fuzzy`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RddRequest {
    pub outcome: String,
    pub running: String,
    pub cutoff: f64,
    #[serde(default)]
    pub bandwidth: Option<f64>,
    #[serde(default)]
    pub kernel: Option<KernelName>,
    /// The treatment take-up column of a fuzzy design.
    #[serde(default)]
    pub fuzzy: Option<String>,
    /// Polynomial order (default 1, at most 8).
    #[serde(default)]
    pub p: Option<usize>,
    #[serde(default)]
    pub bwselect: Option<BandwidthSelector>,
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Covariates entered in the local fits with one coefficient each for both sides (rdrobust's
    /// covariate adjustment; at most 50): `covariates` in the answer.
    #[serde(default)]
    pub covariates: Vec<String>,
    /// Cluster column: cluster-robust (CR1) variances, as rdrobust's `cluster`; `clusters` in the
    /// answer.
    #[serde(default)]
    pub cluster: Option<String>,
}

/// Treatment effect under measured confounding.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct EffectRequest {
    pub outcome: String,
    pub treatment: String,
    pub covariates: Vec<String>,
    #[serde(default)]
    pub method: Option<EffectMethodName>,
    #[serde(default)]
    pub estimand: Option<EstimandName>,
    /// Drop units with propensity outside [trim, 1 - trim] (default 0.01).
    #[serde(default)]
    pub trim: Option<f64>,
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Also run the placebo-treatment, random-common-cause and data-subset refutations.
    #[serde(default)]
    pub refute: bool,
    #[serde(default)]
    pub seed: Option<u64>,
}

/// Causal discovery.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct DiscoverRequest {
    /// Variables to use (default: every numeric column).
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub alpha: Option<f64>,
    #[serde(default)]
    pub method: Option<DiscoveryMethod>,
    #[serde(default)]
    pub knowledge: BackgroundKnowledge,
    /// Order the variables by the marketing ontology's funnel (spend, impressions, clicks,
    /// conversions, revenue, by the names exports use: "Amount spent", "Purchases", "Sales") as
    /// tiers, for those `knowledge.tiers` does not place.
    #[serde(default)]
    pub funnel_tiers: bool,
    /// PC: the largest conditioning set tried (default: as large as the graph allows; at most
    /// 10).
    #[serde(default)]
    pub max_depth: Option<usize>,
}

/// Caps on the parameters that drive work (a 400 naming the field beyond them).
pub mod limits {
    /// Multiplier-bootstrap draws.
    pub const MAX_BOOTSTRAP_DRAWS: usize = 10_000;
    /// Variables in a causal discovery.
    pub const MAX_DISCOVERY_COLUMNS: usize = 50;
    /// PC's conditioning depth.
    pub const MAX_PC_DEPTH: usize = 10;
    /// Conditional-independence tests of one PC search.
    pub const MAX_PC_TESTS: usize = liftos_estimators::discovery::DEFAULT_MAX_TESTS;
}

/// A whole-number period or, when the time column holds dates, a date on its axis (2026-10-13).
// The service reads dates as periods before the typed request is parsed (analyze/advanced:
// `service::time_axis::date_methods`; the readout: `service::surfacing::readout_experiment`);
// this type only describes the field in the API document.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PeriodOrDate {
    Period(i64),
    Date(String),
}

/// A panel's time column of dates numbered as periods: what the answer says about it. Period p
/// is `dates[p - 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AxisSummary {
    /// The time column.
    pub column: String,
    /// The spacing of the periods: day | week | month | quarter | "n days" | "n months".
    pub step: String,
    pub first: String,
    pub last: String,
    pub periods: i64,
    pub dates: Vec<String>,
}

impl AxisSummary {
    /// `text` (an error's message, counted in periods) with each "period N" followed by that
    /// period's date: "market Chicago has no value for period 10 (2025-03-10)".
    pub fn dated(&self, text: &str) -> String {
        const WORD: &str = "period ";
        let mut out = String::with_capacity(text.len() + 16);
        let mut rest = text;
        while let Some(i) = rest.find(WORD) {
            let (head, tail) = rest.split_at(i + WORD.len());
            out.push_str(head);
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            let (number, after) = tail.split_at(digits);
            out.push_str(number);
            let date = number.parse::<usize>().ok().filter(|&p| p >= 1).and_then(|p| self.dates.get(p - 1));
            if let Some(date) = date.filter(|_| !after.starts_with(" (")) {
                out.push_str(&format!(" ({date})"));
            }
            rest = after;
        }
        out.push_str(rest);
        out
    }

    /// The date of period `p` (a time value of a result), when it is one of the axis's.
    pub fn date_of(&self, p: f64) -> Option<&str> {
        let k = p.round();
        (k >= 1.0 && (k - p).abs() < 1e-9).then(|| self.dates.get(k as usize - 1).map(String::as_str)).flatten()
    }
}

/// Synthetic control.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SynthRequest {
    pub unit: String,
    pub time: String,
    pub outcome: String,
    /// One unit, or several separated by commas (pooled, as a set of test markets).
    pub treated_unit: String,
    /// The first treated period (a date when the time column holds dates).
    #[schemars(with = "PeriodOrDate")]
    pub treatment_time: i64,
    /// "col:1980-1988,col2:1984-1988,outcome:1975" (`outcome` names the outcome column; with a
    /// time column of dates, "spend:2026-09-01..2026-10-10").
    #[serde(default)]
    pub predictors: Option<String>,
    /// "1970-1988" (with a time column of dates, "2026-09-01..2026-10-10")
    #[serde(default)]
    pub fit_window: Option<String>,
    /// Placebo-in-space, placebo-in-time (at `placebo_time`, default the middle of the
    /// pre-period) and leave-one-out.
    #[serde(default)]
    pub placebo: bool,
    #[serde(default)]
    #[schemars(with = "Option<PeriodOrDate>")]
    pub placebo_time: Option<i64>,
    #[serde(default)]
    pub augmented: bool,
    /// The ridge penalty of the augmented estimator (default: cross-validated).
    #[serde(default)]
    pub ridge_lambda: Option<f64>,
    /// Conformal inference (Chernozhukov, Wüthrich and Zhu 2021): `conformal_p_value`,
    /// `conformal_ci_low`/`conformal_ci_high` for the average effect and per post period in
    /// `gaps` `ci_low`/`ci_high`, at 1 - `alpha`.
    #[serde(default)]
    pub conformal: bool,
    /// The conformal intervals' level is 1 - alpha (default 0.05).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Units left out of the donor pool, separated by commas: units treated too (a multi-cell
    /// test's other arms, markets where something else changed), which would otherwise make the
    /// synthetic control carry their effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_units: Option<String>,
}

/// Synthetic difference-in-differences (Arkhangelsky et al. 2021): a balanced panel, treated
/// units adopting at one common time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdidRequest {
    pub unit: String,
    pub time: String,
    pub outcome: String,
    /// The 0/1 treated-and-post indicator.
    pub treatment: String,
    /// placebo (default), bootstrap (two or more treated units) or jackknife (two or more).
    #[serde(default)]
    pub se: Option<SdidSeName>,
    /// Placebo or bootstrap draws (default 200, at most 10,000).
    #[serde(default)]
    pub replications: Option<usize>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub alpha: Option<f64>,
}

/// A time-series counterfactual (CausalImpact's design, by maximum likelihood): one row per
/// period of the treated series and its control series.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImpactRequest {
    pub time: String,
    pub outcome: String,
    /// Control series (columns) used as regressors; none is allowed (a pure time-series forecast).
    #[serde(default)]
    pub controls: Vec<String>,
    /// The first treated period (a date when the time column holds dates).
    #[schemars(with = "PeriodOrDate")]
    pub treatment_time: i64,
    /// A stochastic dummy seasonal of this many periods (2 to 60), e.g. 7 for daily data.
    #[serde(default)]
    pub season: Option<usize>,
    /// A stochastic slope (local linear trend) as well as the level.
    #[serde(default)]
    pub trend: bool,
    #[serde(default)]
    pub alpha: Option<f64>,
    /// The posterior draws' seed (default fixed: the same data give the same answer).
    #[serde(default)]
    pub seed: Option<u64>,
}

/// The readout of a geo test: the pooled test markets against a synthetic control, on markets
/// scaled by their pre-period mean (the design's scaling).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct GeoReadoutRequest {
    pub market: String,
    pub time: String,
    pub outcome: String,
    /// The test markets.
    pub treated_markets: Vec<String>,
    /// The test's first period (a date when the time column holds dates), and its length in
    /// periods.
    #[schemars(with = "PeriodOrDate")]
    pub start: i64,
    pub duration: usize,
    #[serde(default)]
    pub pre_periods: Option<usize>,
    #[serde(default)]
    pub windows: Option<usize>,
    /// The intervals' level is 1 - alpha (default 0.1: 90% intervals, as GeoLift's; below 0.5).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// The design's `placebo_rmse` and `evaluation_windows` for these markets and duration: the
    /// noise measured on windows the markets were not chosen on (without them, replays of the
    /// history, which understate the noise when the markets were chosen on it).
    #[serde(default)]
    pub design_rmse: Option<f64>,
    #[serde(default)]
    pub design_windows: Option<usize>,
    /// Markets left out of the readout: the other arms of a multi-cell test, so that each arm is
    /// read against its design's control pool.
    #[serde(default)]
    pub exclude_markets: Vec<String>,
}

/// The design of a geo test on a markets' panel read from a file (`liftos design geo`): the
/// columns, and the settings of `POST /api/v1/surfacing/experiments/design`'s `geo` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeoDesignRequest {
    pub market: String,
    pub time: String,
    pub outcome: String,
    #[serde(flatten)]
    pub settings: liftos_estimators::design::geo::GeoSettings,
}

/// A randomised assignment of the units in a file (`liftos design randomize`): the id column, an
/// optional stratum column, covariate columns to check balance on, and the settings of the
/// design endpoint's `randomization` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RandomizeRequest {
    pub id: String,
    #[serde(default)]
    pub stratum: Option<String>,
    #[serde(default)]
    pub covariates: Vec<String>,
    #[serde(flatten)]
    pub settings: liftos_estimators::design::randomize::RandomizeSettings,
}

/// A difference-in-differences result: TWFE (or its event study) or Callaway-Sant'Anna.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
// One result per fit, moved rarely: boxing the larger variant would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum DidOutput {
    Twfe(DidResult),
    Staggered(CsResult),
}

/// A causal discovery result: PC's CPDAG or DirectLiNGAM's DAG with its coefficients.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DiscoveryOutput {
    Lingam(LingamResult),
    Pc(DiscoveryResult),
}

impl DiscoveryOutput {
    pub fn estimator(&self) -> &str {
        match self {
            DiscoveryOutput::Pc(r) => &r.estimator,
            DiscoveryOutput::Lingam(r) => &r.estimator,
        }
    }

    pub fn graph(&self) -> &liftos_estimators::discovery::CausalGraph {
        match self {
            DiscoveryOutput::Pc(r) => &r.graph,
            DiscoveryOutput::Lingam(r) => &r.graph,
        }
    }
}

/// A treatment-effect result, with its refutations when asked for.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EffectOutput {
    #[serde(flatten)]
    pub result: EffectResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refutations: Option<Vec<Refutation>>,
}

/// One method's fitted result within `analyze/advanced`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MethodOutput {
    Did(DidOutput),
    Iv(IvResult),
    Rdd(RddResult),
    Synth(SynthResult),
    Sdid(SdidResult),
    Impact(ImpactResult),
}

macro_rules! delegate_estimate {
    ($t:ty, $($v:path),+) => {
        impl Estimate for $t {
            fn method(&self) -> &str {
                match self { $($v(r) => r.method()),+ }
            }
            fn estimator(&self) -> &str {
                match self { $($v(r) => r.estimator()),+ }
            }
            fn inference(&self) -> &Inference {
                match self { $($v(r) => r.inference()),+ }
            }
        }
    };
}

delegate_estimate!(DidOutput, DidOutput::Twfe, DidOutput::Staggered);
delegate_estimate!(
    MethodOutput,
    MethodOutput::Did,
    MethodOutput::Iv,
    MethodOutput::Rdd,
    MethodOutput::Synth,
    MethodOutput::Sdid,
    MethodOutput::Impact
);

impl Estimate for EffectOutput {
    fn method(&self) -> &str {
        self.result.method()
    }
    fn estimator(&self) -> &str {
        self.result.estimator()
    }
    fn inference(&self) -> &Inference {
        self.result.inference()
    }
}

/// The media mix model on one row per date (`liftos mmm`): the KPI is the business's own series
/// (orders, revenue, sign-ups), the spends are per channel; a missing date is a missing period.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MmmRequest {
    /// The date column (YYYY-MM-DD; daily, weekly or monthly, a month dated by its first or last day).
    pub date: String,
    pub kpi: String,
    /// One spend column per channel.
    pub spend: Vec<String>,
    /// The org's own control series (promotions, prices, holidays as 0/1 columns).
    #[serde(default)]
    pub controls: Vec<String>,
    /// The KPI is platform-attributed conversions (not first-party): allowed only when said,
    /// and the answer says the estimate is not incremental.
    #[serde(default)]
    pub attributed: bool,
    /// A country (ISO 3166 alpha-2, as US or GB): its public holidays and retail peaks from the
    /// ingestion's calendars as controls (`holidays (US)`, `retail peaks (US)` in `controls`).
    #[serde(default)]
    pub holidays: Option<String>,
    #[serde(default)]
    pub settings: liftos_estimators::mmm::MmmSettings,
}
