//! Column roles → estimator → JSON result: what `liftos estimate` runs, and what the causal API
//! will run with the same names. Errors name the flag or column at fault.

use serde::{Deserialize, Serialize};

use liftos_estimators::data::{DataError, Table};
use liftos_estimators::did::staggered::{self, Bootstrap, ControlGroup, CsInput, CsMethod, CsSettings};
use liftos_estimators::did::{twfe, DidError, DidSettings, PanelInput};
use liftos_estimators::discovery::{self, BackgroundKnowledge, DiscoveryError, PcSettings};
use liftos_estimators::effects::{self, EffectError, EffectInput, EffectMethod, EffectSettings, Estimand};
use liftos_estimators::iv::{self, IvError, IvInput, IvSettings};
use liftos_estimators::ols::SeKind;
use liftos_estimators::rdd::{self, BwSelect, Kernel, RddError, RddSettings};
use liftos_estimators::synth::{self, Predictor, SynthError, SynthInput, SynthSettings};

#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// `message` names the column or flag itself.
    #[error("{message}")]
    Invalid { field: String, message: String },
}

impl EstimateError {
    pub fn field(&self) -> &str {
        match self {
            EstimateError::Invalid { field, .. } => field,
        }
    }

    fn new(field: &str, message: impl Into<String>) -> Self {
        EstimateError::Invalid { field: field.to_string(), message: message.into() }
    }
}

impl From<DataError> for EstimateError {
    fn from(e: DataError) -> Self {
        match &e {
            DataError::Read { .. } => EstimateError::new("input", e.to_string()),
            DataError::MissingColumn { column, .. } | DataError::BadValue { column, .. } => {
                EstimateError::new(column, e.to_string())
            }
        }
    }
}

impl From<DidError> for EstimateError {
    fn from(e: DidError) -> Self {
        let field = match &e {
            DidError::InvalidInput { column, .. } => column.clone(),
            DidError::ConstantTreatment { .. } | DidError::TreatmentSwitchesOff { .. } => "treatment".into(),
            DidError::TooFewClusters { .. } => "cluster".into(),
            DidError::Collinear { what } => what.clone(),
            DidError::NotConverged(_) => "unit".into(),
        };
        EstimateError::new(&field, e.to_string())
    }
}

impl From<IvError> for EstimateError {
    fn from(e: IvError) -> Self {
        let field = match &e {
            IvError::InvalidInput { column, .. } => column.clone(),
            IvError::Collinear { what } => what.clone(),
            IvError::UnderIdentified { .. } => "instruments".into(),
            IvError::TooFewClusters { .. } => "cluster".into(),
        };
        EstimateError::new(&field, e.to_string())
    }
}

/// Standard errors by name: `robust`, `hc0`, `classical`, or `cluster:COLUMN`.
pub fn parse_se(s: &str) -> Result<(SeKind, Option<String>), EstimateError> {
    match s {
        "robust" | "hc1" => Ok((SeKind::Hc1, None)),
        "hc0" => Ok((SeKind::Hc0, None)),
        "classical" => Ok((SeKind::Classical, None)),
        other => match other.strip_prefix("cluster:") {
            Some(c) if !c.is_empty() => Ok((SeKind::Cluster, Some(c.to_string()))),
            _ => Err(EstimateError::new(
                "se",
                format!("se: {other:?}: expected robust, hc0, classical or cluster:COLUMN"),
            )),
        },
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DidRequest {
    pub unit: String,
    pub time: String,
    pub outcome: String,
    /// The 0/1 treated-and-post indicator (TWFE / event study).
    pub treatment: Option<String>,
    /// The first treated period per unit, 0 or empty for never treated (Callaway-Sant'Anna).
    pub cohort: Option<String>,
    pub cluster: Option<String>,
    #[serde(default)]
    pub event_study: bool,
    pub control: Option<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub covariates: Vec<String>,
    pub se: Option<String>,
    pub bootstrap: Option<usize>,
    pub seed: Option<u64>,
    pub alpha: Option<f64>,
}

fn alpha_of(a: Option<f64>) -> Result<f64, EstimateError> {
    let a = a.unwrap_or(0.05);
    if a > 0.0 && a < 1.0 {
        Ok(a)
    } else {
        Err(EstimateError::new("alpha", "alpha: must be between 0 and 1"))
    }
}

pub fn did(table: &Table, req: &DidRequest) -> Result<serde_json::Value, EstimateError> {
    let alpha = alpha_of(req.alpha)?;
    let (unit, unit_labels) = table.codes(&req.unit)?;
    let time = table.integers(&req.time)?;
    let outcome = table.numeric(&req.outcome)?;
    match (&req.treatment, &req.cohort) {
        (Some(_), Some(_)) => Err(EstimateError::new(
            "cohort",
            "cohort: give either --treatment (TWFE) or --cohort (staggered), not both",
        )),
        (None, None) => Err(EstimateError::new(
            "treatment",
            "treatment: give --treatment (0/1 treated-and-post) or --cohort (first treated period)",
        )),
        (Some(d), None) => {
            let (se, se_cluster) = match &req.se {
                Some(s) => parse_se(s)?,
                None => (SeKind::Cluster, None),
            };
            let cluster_col = req.cluster.clone().or(se_cluster);
            let cluster = match &cluster_col {
                Some(c) => {
                    let (codes, levels) = table.codes(c)?;
                    Some((codes, levels.len()))
                }
                None => None,
            };
            let se = if req.cluster.is_some() { SeKind::Cluster } else { se };
            let input = PanelInput { unit, unit_labels, time, outcome, treatment: table.numeric(d)?, cluster };
            let settings = DidSettings { se, alpha, event_study: req.event_study, reference_period: -1 };
            Ok(serde_json::to_value(twfe::fit(&input, &settings)?).unwrap_or_default())
        }
        (None, Some(g)) => {
            let cohort = table
                .numeric_or_missing(g)?
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    if v.is_nan() || v == 0.0 {
                        Ok(None)
                    } else if v.fract() == 0.0 {
                        Ok(Some(v as i64))
                    } else {
                        Err(EstimateError::new(g, format!("{g}: row {}: {v} is not a period", i + 1)))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            let control = match req.control.as_deref().unwrap_or("never") {
                "never" => ControlGroup::NeverTreated,
                "not-yet" | "notyet" => ControlGroup::NotYetTreated,
                other => {
                    return Err(EstimateError::new("control", format!("control: {other:?}: expected never or not-yet")))
                }
            };
            let method = match req.method.as_deref().unwrap_or("dr") {
                "dr" => CsMethod::Dr,
                "ipw" => CsMethod::Ipw,
                "reg" => CsMethod::Reg,
                other => {
                    return Err(EstimateError::new("method", format!("method: {other:?}: expected dr, ipw or reg")))
                }
            };
            let covariates = req
                .covariates
                .iter()
                .map(|c| Ok((c.clone(), table.numeric(c)?)))
                .collect::<Result<Vec<_>, EstimateError>>()?;
            let bootstrap = req.bootstrap.map(|draws| Bootstrap { draws, seed: req.seed.unwrap_or(20240101) });
            if bootstrap.as_ref().is_some_and(|b| b.draws < 2) {
                return Err(EstimateError::new("bootstrap", "bootstrap: needs at least 2 draws"));
            }
            let input = CsInput { unit, unit_labels, time, outcome, cohort, covariates };
            let settings = CsSettings { control, method, alpha, bootstrap };
            Ok(serde_json::to_value(staggered::fit(&input, &settings)?).unwrap_or_default())
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IvRequest {
    pub outcome: String,
    pub endogenous: Vec<String>,
    pub instruments: Vec<String>,
    #[serde(default)]
    pub controls: Vec<String>,
    pub se: Option<String>,
    pub alpha: Option<f64>,
}

pub fn iv(table: &Table, req: &IvRequest) -> Result<serde_json::Value, EstimateError> {
    let alpha = alpha_of(req.alpha)?;
    let (se, cluster_col) = parse_se(req.se.as_deref().unwrap_or("robust"))?;
    let col = |n: &String| -> Result<(String, Vec<f64>), EstimateError> { Ok((n.clone(), table.numeric(n)?)) };
    let cluster = match cluster_col {
        Some(c) => {
            let (codes, levels) = table.codes(&c)?;
            Some((codes, levels.len()))
        }
        None => None,
    };
    let input = IvInput {
        outcome: col(&req.outcome)?,
        endogenous: req.endogenous.iter().map(col).collect::<Result<_, _>>()?,
        instruments: req.instruments.iter().map(col).collect::<Result<_, _>>()?,
        controls: req.controls.iter().map(col).collect::<Result<_, _>>()?,
        cluster,
    };
    Ok(serde_json::to_value(iv::fit(&input, &IvSettings { se, alpha })?).unwrap_or_default())
}

impl From<RddError> for EstimateError {
    fn from(e: RddError) -> Self {
        let field = match &e {
            RddError::InvalidInput { column, .. } => column.clone(),
            RddError::CutoffOutside { .. } => "cutoff".into(),
            RddError::TooFew { .. } | RddError::Bandwidth(_) => "running".into(),
        };
        EstimateError::new(&field, e.to_string())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RddRequest {
    pub outcome: String,
    pub running: String,
    pub cutoff: f64,
    pub bandwidth: Option<f64>,
    pub kernel: Option<String>,
    /// The treatment take-up column of a fuzzy design.
    pub fuzzy: Option<String>,
    pub p: Option<usize>,
    pub bwselect: Option<String>,
    pub alpha: Option<f64>,
}

pub fn rdd(table: &Table, req: &RddRequest) -> Result<serde_json::Value, EstimateError> {
    let alpha = alpha_of(req.alpha)?;
    if !req.cutoff.is_finite() {
        return Err(EstimateError::new("cutoff", "cutoff: must be a finite number"));
    }
    let kernel = match req.kernel.as_deref().unwrap_or("triangular") {
        "triangular" | "tri" => Kernel::Triangular,
        "uniform" | "uni" => Kernel::Uniform,
        "epanechnikov" | "epa" => Kernel::Epanechnikov,
        other => {
            return Err(EstimateError::new(
                "kernel",
                format!("kernel: {other:?}: expected triangular, uniform or epanechnikov"),
            ))
        }
    };
    let bwselect = match req.bwselect.as_deref().unwrap_or("mserd") {
        "mserd" => BwSelect::Mserd,
        "msetwo" => BwSelect::Msetwo,
        "msesum" => BwSelect::Msesum,
        other => {
            return Err(EstimateError::new(
                "bwselect",
                format!("bwselect: {other:?}: expected mserd, msetwo or msesum"),
            ))
        }
    };
    let y = table.numeric_or_missing(&req.outcome)?;
    let x = table.numeric_or_missing(&req.running)?;
    let d = match &req.fuzzy {
        Some(c) => Some(table.numeric_or_missing(c)?),
        None => None,
    };
    let settings = RddSettings {
        cutoff: req.cutoff,
        p: req.p.unwrap_or(1),
        kernel,
        bwselect,
        bandwidth: req.bandwidth,
        alpha,
        nnmatch: 3,
    };
    Ok(serde_json::to_value(rdd::fit(&y, &x, d.as_deref(), &settings)?).unwrap_or_default())
}

impl From<EffectError> for EstimateError {
    fn from(e: EffectError) -> Self {
        let field = match &e {
            EffectError::InvalidInput { column, .. } => column.clone(),
            EffectError::Model(_) => "covariates".into(),
        };
        EstimateError::new(&field, e.to_string())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EffectRequest {
    pub outcome: String,
    pub treatment: String,
    pub covariates: Vec<String>,
    pub method: Option<String>,
    pub estimand: Option<String>,
    pub trim: Option<f64>,
    pub alpha: Option<f64>,
    /// Also run the placebo-treatment, random-common-cause and data-subset refutations.
    #[serde(default)]
    pub refute: bool,
    pub seed: Option<u64>,
}

pub fn effect(table: &Table, req: &EffectRequest) -> Result<serde_json::Value, EstimateError> {
    let alpha = alpha_of(req.alpha)?;
    let method = match req.method.as_deref().unwrap_or("aipw") {
        "regression" | "reg" => EffectMethod::Regression,
        "ipw" => EffectMethod::Ipw,
        "aipw" | "dr" => EffectMethod::Aipw,
        other => {
            return Err(EstimateError::new("method", format!("method: {other:?}: expected regression, ipw or aipw")))
        }
    };
    let estimand = match req.estimand.as_deref().unwrap_or("ate") {
        "ate" => Estimand::Ate,
        "att" => Estimand::Att,
        other => return Err(EstimateError::new("estimand", format!("estimand: {other:?}: expected ate or att"))),
    };
    let col = |n: &String| -> Result<(String, Vec<f64>), EstimateError> { Ok((n.clone(), table.numeric(n)?)) };
    let input = EffectInput {
        outcome: col(&req.outcome)?,
        treatment: col(&req.treatment)?,
        covariates: req.covariates.iter().map(col).collect::<Result<_, _>>()?,
    };
    let settings = EffectSettings { method, estimand, alpha, trim: req.trim.unwrap_or(0.01) };
    let mut out = serde_json::to_value(effects::fit(&input, &settings)?).unwrap_or_default();
    if req.refute {
        let r = effects::refute(&input, &settings, req.seed.unwrap_or(20240101), 20)?;
        out["refutations"] = serde_json::to_value(r).unwrap_or_default();
    }
    Ok(out)
}

impl From<DiscoveryError> for EstimateError {
    fn from(e: DiscoveryError) -> Self {
        let DiscoveryError::InvalidInput { column, .. } = &e;
        let field = column.clone();
        EstimateError::new(&field, e.to_string())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DiscoverRequest {
    /// Variables to use (default: every numeric column).
    #[serde(default)]
    pub columns: Vec<String>,
    pub alpha: Option<f64>,
    pub method: Option<String>,
    #[serde(default)]
    pub knowledge: BackgroundKnowledge,
}

pub fn discover(table: &Table, req: &DiscoverRequest) -> Result<serde_json::Value, EstimateError> {
    let alpha = alpha_of(req.alpha)?;
    let method = req.method.as_deref().unwrap_or("pc");
    match method {
        "pc" | "lingam" => {}
        "ges" => {
            return Err(EstimateError::new(
                "method",
                "method: ges is not available; use pc (constraint-based) or lingam (DirectLiNGAM, non-Gaussian)",
            ))
        }
        other => return Err(EstimateError::new("method", format!("method: {other:?}: expected pc or lingam"))),
    }
    let names: Vec<String> = if req.columns.is_empty() {
        table.names.iter().filter(|n| table.numeric(n).is_ok()).cloned().collect()
    } else {
        req.columns.clone()
    };
    let cols = names.iter().map(|n| Ok((n.clone(), table.numeric(n)?))).collect::<Result<Vec<_>, EstimateError>>()?;
    if method == "lingam" {
        let settings = discovery::LingamSettings { knowledge: req.knowledge.clone() };
        return Ok(serde_json::to_value(discovery::direct_lingam(&cols, &settings)?).unwrap_or_default());
    }
    let settings = PcSettings { alpha, knowledge: req.knowledge.clone() };
    Ok(serde_json::to_value(discovery::pc(&cols, &settings)?).unwrap_or_default())
}

impl From<SynthError> for EstimateError {
    fn from(e: SynthError) -> Self {
        let field = match &e {
            SynthError::InvalidInput { column, .. } => column.clone(),
            SynthError::Solver(_) => "predictors".into(),
        };
        EstimateError::new(&field, e.to_string())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SynthRequest {
    pub unit: String,
    pub time: String,
    pub outcome: String,
    /// One unit, or several separated by commas (pooled, as a set of test markets).
    pub treated_unit: String,
    pub treatment_time: i64,
    /// "col:1980-1988,col2:1984-1988,outcome:1975" (`outcome` names the outcome column).
    pub predictors: Option<String>,
    /// "1970-1988"
    pub fit_window: Option<String>,
    /// Placebo-in-space, placebo-in-time (at `placebo_time`, default the middle of the
    /// pre-period) and leave-one-out.
    #[serde(default)]
    pub placebo: bool,
    pub placebo_time: Option<i64>,
    #[serde(default)]
    pub augmented: bool,
    /// The ridge penalty of the augmented estimator (default: cross-validated).
    pub ridge_lambda: Option<f64>,
}

fn parse_range(field: &str, s: &str) -> Result<(i64, i64), EstimateError> {
    let bad = || EstimateError::new(field, format!("{field}: {s:?} is not a period or a range like 1980-1988"));
    let s = s.trim();
    // A leading minus would be a negative period; ranges are START-END.
    match s[1..].find('-').map(|i| i + 1) {
        Some(i) => {
            let (a, b) = (s[..i].trim(), s[i + 1..].trim());
            Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
        }
        None => {
            let v: i64 = s.parse().map_err(|_| bad())?;
            Ok((v, v))
        }
    }
}

pub fn synth_control(table: &Table, req: &SynthRequest) -> Result<serde_json::Value, EstimateError> {
    let predictors = match &req.predictors {
        None => vec![],
        Some(spec) => spec
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                let (col, range) = p.split_once(':').ok_or_else(|| {
                    EstimateError::new("predictors", format!("predictors: {p:?} is not COLUMN:PERIODS"))
                })?;
                let col = col.trim();
                let column = if col == "outcome" { req.outcome.clone() } else { col.to_string() };
                let (start, end) = parse_range("predictors", range)?;
                Ok(Predictor { column, start, end })
            })
            .collect::<Result<Vec<_>, EstimateError>>()?,
    };
    let fit_window = req.fit_window.as_deref().map(|w| parse_range("fit_window", w)).transpose()?;
    let mut names: Vec<String> = predictors.iter().map(|p| p.column.clone()).collect();
    names.push(req.outcome.clone());
    names.sort();
    names.dedup();
    let mut columns = std::collections::HashMap::new();
    for n in names {
        columns.insert(n.clone(), table.numeric_or_missing(&n)?);
    }
    let input = SynthInput {
        unit: table.labels(&req.unit)?,
        time: table.integers(&req.time)?,
        outcome: req.outcome.clone(),
        columns,
        treated_units: req.treated_unit.split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect(),
        treatment_time: req.treatment_time,
    };
    if req.ridge_lambda.is_some() && !req.augmented {
        return Err(EstimateError::new(
            "ridge_lambda",
            "ridge_lambda: only the augmented estimator has a ridge penalty",
        ));
    }
    let placebo_time = match req.placebo_time {
        Some(t) => Some(t),
        None if req.placebo => synth::default_placebo_time(&input),
        None => None,
    };
    let settings = SynthSettings {
        predictors,
        fit_window,
        placebo: req.placebo,
        placebo_time,
        leave_one_out: req.placebo,
        augmented: req.augmented,
        ridge_lambda: req.ridge_lambda,
        ..SynthSettings::default()
    };
    Ok(serde_json::to_value(synth::fit(&input, &settings)?).unwrap_or_default())
}
