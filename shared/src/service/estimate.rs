//! Column roles → estimator → typed result: what `liftos estimate` runs, and what the causal API
//! runs with the same names. Errors name the flag or column at fault.

use std::collections::HashMap;

use liftos_estimators::data::{DataError, Table};
use liftos_estimators::did::robust::{self, RobustMethod, RobustSettings};
use liftos_estimators::did::staggered::{self, Bootstrap, CsInput, CsMethod, CsSettings};
use liftos_estimators::did::wild::WildSettings;
use liftos_estimators::did::{twfe, DidError, DidSettings, PanelInput};
use liftos_estimators::discovery::{self, DiscoveryError, PcSettings};
use liftos_estimators::effects::{self, EffectError, EffectInput, EffectSettings};
use liftos_estimators::impact::{self, ImpactError, ImpactInput, ImpactResult, ImpactSettings};
use liftos_estimators::iv::{self, IvError, IvInput, IvSettings};
use liftos_estimators::mmm::{self, LiftTest, MmmInput, MmmResult, Series};
use liftos_estimators::ols::SeKind;
use liftos_estimators::rdd::{self, RddError, RddSettings};
use liftos_estimators::sdid::{self, SdidError, SdidInput, SdidResult, SdidSettings};
use liftos_estimators::synth::{self, Predictor, SynthError, SynthInput, SynthSettings};
use liftos_estimators::Columns;

pub use crate::api::estimate::{
    DidOutput, DidRequest, DiscoverRequest, DiscoveryMethod, DiscoveryOutput, EffectOutput, EffectRequest,
    GeoDesignRequest, GeoReadoutRequest, ImpactRequest, IvRequest, MmmRequest, RandomizeRequest, RddRequest,
    SdidRequest, SeSpec, SynthRequest,
};

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

    pub fn new(field: &str, message: impl Into<String>) -> Self {
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
            // The wild bootstrap's parallel transformations.
            DidError::Worker(_) => "se".into(),
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

impl From<EffectError> for EstimateError {
    fn from(e: EffectError) -> Self {
        let field = match &e {
            EffectError::InvalidInput { column, .. } => column.clone(),
            EffectError::Model(_) => "covariates".into(),
        };
        EstimateError::new(&field, e.to_string())
    }
}

impl From<DiscoveryError> for EstimateError {
    fn from(e: DiscoveryError) -> Self {
        let DiscoveryError::InvalidInput { column, .. } = &e;
        let field = column.clone();
        EstimateError::new(&field, e.to_string())
    }
}

impl From<ImpactError> for EstimateError {
    fn from(e: ImpactError) -> Self {
        let ImpactError::InvalidInput { column, .. } = &e;
        EstimateError::new(column, e.to_string())
    }
}

impl From<SdidError> for EstimateError {
    fn from(e: SdidError) -> Self {
        let SdidError::InvalidInput { column, .. } = &e;
        EstimateError::new(column, e.to_string())
    }
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

/// Parse a flag's value (the CLI's strings) into its typed form, the error naming the flag.
pub fn parse_flag<T: std::str::FromStr<Err = String>>(
    field: &str,
    v: Option<String>,
) -> Result<Option<T>, EstimateError> {
    v.map(|s| s.parse::<T>().map_err(|e| EstimateError::new(field, format!("{field}: {e}")))).transpose()
}

fn alpha_of(a: Option<f64>) -> Result<f64, EstimateError> {
    let a = a.unwrap_or(0.05);
    if a > 0.0 && a < 1.0 {
        Ok(a)
    } else {
        Err(EstimateError::new("alpha", "alpha: must be between 0 and 1"))
    }
}

/// Integer codes and their count for a cluster column, and where its cells are empty
/// ([`empty_cells`]).
type Codes = (Vec<u32>, usize);
type Clusters = (Codes, Option<Vec<f64>>);

fn cluster_codes(table: &Table, column: &str) -> Result<Clusters, EstimateError> {
    let (codes, levels) = table.codes(column)?;
    let empty = empty_cells(&codes, &levels);
    Ok(((codes, levels.len()), empty))
}

/// Cluster codes and their empty cells, each optional.
fn unzip(c: Option<Clusters>) -> (Option<Codes>, Option<Vec<f64>>) {
    c.map_or((None, None), |(codes, empty)| (Some(codes), empty))
}

/// A model's numeric columns and the empty cells of its label columns (named), for [`Complete::of`].
fn with_labels<'a>(
    mut model: Vec<(&'a str, &'a [f64])>,
    labels: &[(&'a str, &'a Option<Vec<f64>>)],
) -> Vec<(&'a str, &'a [f64])> {
    model.extend(labels.iter().filter_map(|(name, e)| e.as_deref().map(|e| (*name, e))));
    model
}

/// Where a column of labels (units, clusters) is empty, as NaN (0 elsewhere) for [`Complete`]:
/// an empty cell is no unit or cluster, not one more named "". None when no cell is empty.
fn empty_cells(codes: &[u32], levels: &[String]) -> Option<Vec<f64>> {
    let empty: Vec<bool> = levels.iter().map(|l| l.trim().is_empty() || l == "NaN").collect();
    empty.contains(&true).then(|| codes.iter().map(|&c| if empty[c as usize] { f64::NAN } else { 0.0 }).collect())
}

/// The rows a fit uses when some of its model's numeric columns are empty in places. fixest,
/// linearmodels, statsmodels and R's did leave out a row with a missing value in a model
/// variable (the outcome, a regressor, a covariate) and fit the rest; so do we, and say so in the
/// result's warnings with the rows' numbers, instead of refusing the file. Every method is the
/// identity when no row is left out (the columns move through, no copy).
struct Complete(Option<LeftOut>);

/// The rows left out of a fit and those used.
struct LeftOut {
    /// The rows used (0-based, in the file's order).
    kept: Vec<usize>,
    /// The rows left out.
    left_out: Vec<usize>,
    /// The columns with an empty cell.
    columns: Vec<String>,
}

impl Complete {
    /// Every row, unless one holds an empty value (NaN) in `columns` (named); an error naming
    /// the first column with one when every row does.
    fn of(columns: &[(&str, &[f64])]) -> Result<Self, EstimateError> {
        // a block at a time without a branch per value (vectorised: a 1,000,000-row column in a
        // fraction of a millisecond)
        let empty = |c: &[f64]| c.chunks(4096).any(|b| b.iter().fold(false, |a, x| a | x.is_nan()));
        let with: Vec<&(&str, &[f64])> = columns.iter().filter(|(_, c)| empty(c)).collect();
        let Some((first, _)) = with.first() else { return Ok(Self(None)) };
        let n = columns.first().map_or(0, |(_, c)| c.len());
        let (kept, left_out): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| with.iter().all(|(_, c)| c.get(i).is_none_or(|x| !x.is_nan())));
        if kept.is_empty() {
            return Err(EstimateError::new(
                first,
                format!("{first}: every row has an empty cell in the model's columns"),
            ));
        }
        let mut names: Vec<String> = Vec::new();
        for (name, _) in &with {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        Ok(Self(Some(LeftOut { kept, left_out, columns: names })))
    }

    /// `v` on the rows used.
    fn rows<T: Clone>(&self, v: Vec<T>) -> Vec<T> {
        match &self.0 {
            None => v,
            Some(l) => l.kept.iter().map(|&i| v[i].clone()).collect(),
        }
    }

    /// A panel's unit codes, labels and periods on the rows used (units numbered again over
    /// those still present, in their order).
    fn panel(&self, unit: Vec<u32>, labels: Vec<String>, time: Vec<i64>) -> (Vec<u32>, Vec<String>, Vec<i64>) {
        let Some(l) = &self.0 else { return (unit, labels, time) };
        let (codes, present) = l.codes(&unit, labels.len());
        (codes, present.iter().map(|&u| labels[u].clone()).collect(), self.rows(time))
    }

    /// Cluster codes on the rows used.
    fn clusters(&self, cluster: Option<(Vec<u32>, usize)>) -> Option<(Vec<u32>, usize)> {
        let Some(l) = &self.0 else { return cluster };
        cluster.map(|(codes, levels)| {
            let (codes, present) = l.codes(&codes, levels);
            (codes, present.len())
        })
    }

    /// Puts the warning first among a result's: how many rows were left out, the first of them,
    /// and the columns whose empty cells left them out.
    fn note(&self, warnings: &mut Vec<String>) {
        if let Some(l) = &self.0 {
            warnings.insert(0, l.warning());
        }
    }

    /// A fit's result with its errors' row numbers (`row N`, counted among the rows used) put
    /// back to the file's.
    fn renumbered<T>(&self, r: Result<T, EstimateError>) -> Result<T, EstimateError> {
        r.map_err(|e| match &self.0 {
            Some(l) => l.renumber(e),
            None => e,
        })
    }
}

impl LeftOut {
    /// A factor's codes on the rows used, numbered again over the levels still present (in their
    /// order), and those levels' old codes.
    fn codes(&self, codes: &[u32], levels: usize) -> (Vec<u32>, Vec<usize>) {
        let mut new = vec![u32::MAX; levels];
        for &i in &self.kept {
            new[codes[i] as usize] = 0;
        }
        let mut present = Vec::new();
        for (old, code) in new.iter_mut().enumerate() {
            if *code == 0 {
                *code = present.len() as u32;
                present.push(old);
            }
        }
        (self.kept.iter().map(|&i| new[codes[i] as usize]).collect(), present)
    }

    /// The warning the result carries: how many rows were left out, the first of them, and the
    /// columns whose empty cells left them out.
    fn warning(&self) -> String {
        let columns = self.columns.join(", ");
        const SHOWN: usize = 10;
        let rows: Vec<String> = self.left_out.iter().take(SHOWN).map(|i| (i + 1).to_string()).collect();
        let more = if self.left_out.len() > SHOWN { ", ..." } else { "" };
        let n = self.left_out.len();
        format!(
            "{n} row{} with an empty cell in {columns} left out of the fit (row{} {}{more}); n_obs counts the {} complete rows used (fixest, linearmodels, statsmodels and R leave out incomplete rows the same way)",
            if n == 1 { "" } else { "s" },
            if n == 1 { "" } else { "s" },
            rows.join(", "),
            self.kept.len()
        )
    }

    /// An error of the fit with its row numbers (`row N`, counted among the rows used) put back
    /// to the file's.
    fn renumber(&self, e: EstimateError) -> EstimateError {
        let EstimateError::Invalid { field, message } = e;
        let mut out = String::with_capacity(message.len());
        let mut rest = message.as_str();
        while let Some(at) = rest.find("row ") {
            out.push_str(&rest[..at + 4]);
            rest = &rest[at + 4..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            match rest[..digits].parse::<usize>() {
                Ok(k) if (1..=self.kept.len()).contains(&k) => out.push_str(&(self.kept[k - 1] + 1).to_string()),
                _ => out.push_str(&rest[..digits]),
            }
            rest = &rest[digits..];
        }
        out.push_str(rest);
        // too few rows may be the empty cells' doing: say how many they took
        if out.contains("too few") {
            let n = self.left_out.len();
            out.push_str(&format!(
                " ({n} row{} with an empty cell in {} left out; name the columns to use, or fill the cells)",
                if n == 1 { "" } else { "s" },
                self.columns.join(", ")
            ));
        }
        EstimateError::Invalid { field, message: out }
    }
}

/// Difference in differences on a borrowed table, or on an owned one whose outcome and
/// treatment columns the input takes (the command line's: no second copy of them).
pub fn did<'t>(table: impl Into<std::borrow::Cow<'t, Table>>, req: &DidRequest) -> Result<DidOutput, EstimateError> {
    let alpha = alpha_of(req.alpha)?;
    let mut table = table.into();
    let (units, time) = rayon::join(|| table.codes(&req.unit), || table.integers_or_empty(&req.time));
    let ((unit, unit_labels), (time, time_empty)) = (units?, time?);
    // an empty unit or period cell places its row nowhere: it is left out with the incomplete ones
    let unit_empty = empty_cells(&unit, &unit_labels);
    // Still read from the table after the outcome: the treatment (taken below) and the others.
    let keep: Vec<&str> = [
        req.treatment.as_deref(),
        req.cohort.as_deref(),
        req.cluster.as_deref(),
        req.se.as_ref().and_then(SeSpec::cluster),
    ]
    .into_iter()
    .flatten()
    .collect();
    let outcome = Table::take_numeric_or_empty(&mut table, &req.outcome, &keep)?;
    // the unit and period columns, coded now, freed unless another role still reads them
    let mut still = keep.clone();
    still.extend(req.covariates.iter().map(String::as_str));
    Table::free(&mut table, &[&req.unit, &req.time], &still);
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
            let se = req.se.as_ref().map_or(SeKind::Cluster, SeSpec::kind);
            let cluster_col = req.cluster.as_deref().or(req.se.as_ref().and_then(SeSpec::cluster));
            // Clusters that are the units: the unit codes (the fit's default), not a second coding.
            let cluster_col = cluster_col.filter(|&c| c != req.unit);
            let (cluster, cluster_empty) = unzip(cluster_col.map(|c| cluster_codes(&table, c)).transpose()?);
            let se = if req.cluster.is_some() { SeKind::Cluster } else { se };
            // a column of a test and a control group is not yet a treated-and-post indicator
            if let Ok(liftos_estimators::data::Column::Text(v)) = table.column(d) {
                if let [a, b] = groups_of(v)[..] {
                    return Err(EstimateError::new(
                        d,
                        format!(
                            "{d}: holds two groups ({a:?}, {b:?}), not a treated-and-post indicator: --treatment takes 1 on \
                             a treated unit's rows from its start on and 0 elsewhere; for a test and a control group from \
                             one start, estimate geo-readout --treated-markets ... --start T, or give each unit's first \
                             treated period with --cohort"
                        ),
                    ));
                }
            }
            let treatment = Table::take_numeric_or_empty(&mut table, d, &[])?;
            // what the input does not hold (the unit and period columns) is freed before the fit
            drop(table);
            let labels = [
                (req.unit.as_str(), &unit_empty),
                (req.time.as_str(), &time_empty),
                (cluster_col.unwrap_or_default(), &cluster_empty),
            ];
            let complete = Complete::of(&with_labels(vec![(&req.outcome, &outcome), (d, &treatment)], &labels))?;
            let (unit, unit_labels, time) = complete.panel(unit, unit_labels, time);
            let input = PanelInput {
                unit,
                unit_labels,
                time,
                outcome: complete.rows(outcome).into(),
                treatment: complete.rows(treatment).into(),
                cluster: complete.clusters(cluster),
            };
            let wild = match (&req.se, req.weights) {
                (Some(SeSpec::Wild), weights) => {
                    let draws = req.bootstrap.unwrap_or(9999);
                    let max = crate::api::estimate::limits::MAX_BOOTSTRAP_DRAWS;
                    if !(99..=max).contains(&draws) {
                        return Err(EstimateError::new("bootstrap", format!("bootstrap: 99 to {max} draws")));
                    }
                    Some(WildSettings {
                        draws,
                        seed: req.seed.unwrap_or(20261130),
                        weights: weights.unwrap_or_default(),
                    })
                }
                (_, Some(_)) => {
                    return Err(EstimateError::new(
                        "weights",
                        "weights: only with se wild (the wild cluster bootstrap)",
                    ))
                }
                _ => None,
            };
            let cr2 = req.se == Some(SeSpec::Cr2);
            for (field, set) in
                [("anticipation", req.anticipation.is_some()), ("base_period", req.base_period.is_some())]
            {
                if set {
                    return Err(EstimateError::new(
                        field,
                        format!("{field}: only with cohort (Callaway-Sant'Anna), not with a treatment indicator"),
                    ));
                }
            }
            let settings = DidSettings {
                se,
                alpha,
                event_study: req.event_study,
                reference_period: -1,
                wild,
                cr2,
                // The wild bootstrap is the default inference with few clusters, unless the user
                // chose the errors.
                wild_when_few_clusters: req.se.is_none(),
                honest: honest_mbars(req)?,
                honest_m: req.m.clone(),
            };
            let mut result = complete.renumbered(twfe::fit(&input, &settings).map_err(EstimateError::from))?;
            complete.note(&mut result.warnings);
            Ok(DidOutput::Twfe(result))
        }
        (None, Some(g)) => {
            // Built at its final size (collecting Results grows the vector by doubling).
            // every role but the cohort's own (the cohort column may also be the clusters)
            let others: Vec<&str> = [req.cluster.as_deref(), req.se.as_ref().and_then(SeSpec::cluster)]
                .into_iter()
                .flatten()
                .chain(req.covariates.iter().map(String::as_str))
                .collect();
            let values = cohort_values(&mut table, g, &others)?;
            let mut cohort = Vec::with_capacity(values.len());
            for (i, &v) in values.iter().enumerate() {
                cohort.push(if v.is_nan() || v == 0.0 {
                    None
                } else if v.fract() == 0.0 {
                    Some(v as i64)
                } else {
                    return Err(EstimateError::new(g, format!("{g}: row {}: {v} is not a period", i + 1)));
                });
            }
            drop(values);
            let estimation = req.estimation.unwrap_or(crate::api::estimate::CsEstimation::Dr);
            if let Err(method) = estimation.split() {
                let cluster_col = req.cluster.as_deref().or(req.se.as_ref().and_then(SeSpec::cluster));
                let (cluster, cluster_empty) = unzip(cluster_col.map(|c| cluster_codes(&table, c)).transpose()?);
                let labels = [
                    (req.unit.as_str(), &unit_empty),
                    (req.time.as_str(), &time_empty),
                    (cluster_col.unwrap_or_default(), &cluster_empty),
                ];
                let complete = Complete::of(&with_labels(vec![(&req.outcome, &outcome)], &labels))?;
                let (unit, unit_labels, time) = complete.panel(unit, unit_labels, time);
                let (outcome, cohort, cluster) =
                    (complete.rows(outcome), complete.rows(cohort), complete.clusters(cluster));
                let out = robust_event_study(req, method, alpha, unit, unit_labels, time, outcome, &cohort, cluster);
                return match complete.renumbered(out)? {
                    DidOutput::Twfe(mut r) => {
                        complete.note(&mut r.warnings);
                        Ok(DidOutput::Twfe(r))
                    }
                    out => Ok(out),
                };
            }
            if req.honest || req.mbar.is_some() || req.m.is_some() {
                return Err(EstimateError::new(
                    "honest",
                    "honest: HonestDiD bounds the TWFE event study (--treatment D --event-study --honest)",
                ));
            }
            let names: Vec<&str> = req.covariates.iter().map(String::as_str).collect();
            let covariates = Table::take_covariates(&mut std::borrow::Cow::Borrowed(&*table), &names, true)?;
            let bootstrap = req.bootstrap.map(|draws| Bootstrap { draws, seed: req.seed.unwrap_or(20240101) });
            if bootstrap.as_ref().is_some_and(|b| b.draws < 2) {
                return Err(EstimateError::new("bootstrap", "bootstrap: needs at least 2 draws"));
            }
            let max = crate::api::estimate::limits::MAX_BOOTSTRAP_DRAWS;
            if bootstrap.as_ref().is_some_and(|b| b.draws > max) {
                return Err(EstimateError::new("bootstrap", format!("bootstrap: at most {max} draws")));
            }
            // Influence-function errors by unit, or by clusters above it (cluster, or se
            // cluster:COLUMN); the other error types are the regression's, not these.
            let cluster_col = match &req.se {
                None => None,
                Some(SeSpec::Cluster(c)) => Some(c.as_str()),
                Some(other) => {
                    return Err(EstimateError::new(
                        "se",
                        format!(
                            "se: Callaway-Sant'Anna uses influence-function errors, by unit or clustered above it \
                             (cluster:COLUMN or --cluster COLUMN), not {other}"
                        ),
                    ))
                }
            };
            if req.weights.is_some() {
                return Err(EstimateError::new(
                    "weights",
                    "weights: only with se wild (the TWFE wild cluster bootstrap)",
                ));
            }
            let cluster_col = req.cluster.as_deref().or(cluster_col);
            let (cluster, cluster_empty) = unzip(cluster_col.map(|c| cluster_codes(&table, c)).transpose()?);
            let mut model: Vec<(&str, &[f64])> = vec![(&req.outcome, &outcome)];
            model.extend(covariates.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
            let labels = [
                (req.unit.as_str(), &unit_empty),
                (req.time.as_str(), &time_empty),
                (cluster_col.unwrap_or_default(), &cluster_empty),
            ];
            let complete = Complete::of(&with_labels(model, &labels))?;
            let (unit, unit_labels, time) = complete.panel(unit, unit_labels, time);
            let covariates = covariates.into_iter().map(|(n, v)| (n, complete.rows(v))).collect();
            let input = CsInput {
                unit,
                unit_labels,
                time,
                outcome: complete.rows(outcome).into(),
                cohort: complete.rows(cohort),
                covariates: Columns::new(covariates).map_err(DataError::from)?,
                cluster: complete.clusters(cluster),
            };
            // the columns the input does not hold (unit, period, cohort, cluster) freed before the fit,
            // and the input's own rows once the fit has laid them out by unit and period
            drop(table);
            let anticipation = req.anticipation.unwrap_or(0);
            if anticipation > MAX_ANTICIPATION {
                return Err(EstimateError::new(
                    "anticipation",
                    format!("anticipation: at most {MAX_ANTICIPATION} periods"),
                ));
            }
            let settings = CsSettings {
                anticipation,
                base_period: req.base_period.unwrap_or_default(),
                control: req.control.unwrap_or(crate::api::estimate::Control::Never).into(),
                method: estimation.split().unwrap_or(CsMethod::Dr),
                alpha,
                bootstrap,
            };
            let mut result =
                complete.renumbered(staggered::fit_owned(input, &settings).map_err(EstimateError::from))?;
            complete.note(&mut result.warnings);
            Ok(DidOutput::Staggered(result))
        }
    }
}

/// Names of a control group as experiment and holdout exports write them.
const CONTROL_GROUPS: [&str; 13] = [
    "control",
    "controls",
    "control group",
    "ctrl",
    "holdout",
    "hold-out",
    "hold out",
    "holdout group",
    "untreated",
    "not treated",
    "unexposed",
    "not exposed",
    "baseline",
];

/// The distinct groups of a column of text (case aside, in their order; empty cells are none),
/// up to three: two are a treatment's groups.
fn groups_of(v: &liftos_estimators::data::Texts) -> Vec<&str> {
    let mut groups: Vec<&str> = Vec::new();
    // the distinct values in order of first appearance: the rows' groups in that order
    for s in v.levels().iter().map(|s| s.trim()).filter(|s| !liftos_estimators::data::empty_cell(s)) {
        if !groups.iter().any(|g| g.eq_ignore_ascii_case(s)) {
            groups.push(s);
            if groups.len() > 2 {
                break;
            }
        }
    }
    groups
}

/// A treatment column as 0 and 1: a column of numbers as it is (checked by the estimator), or
/// a column of two groups as an experiment's export writes them (`Treatment` and `Control`,
/// `test` and `holdout`, `Exposed` and `Unexposed`): the one named as a control group is 0, the
/// other 1, and the warning says so. Empty cells and NA stay empty (NaN: their rows are left
/// out). Two groups neither of which is named as a control group are refused, naming both.
fn treatment_values(
    table: &mut std::borrow::Cow<'_, Table>,
    name: &str,
    keep: &[&str],
) -> Result<(Vec<f64>, Option<String>), EstimateError> {
    use liftos_estimators::data::Column;
    let Column::Text(v) = table.column(name)? else {
        return Ok((Table::take_numeric_or_empty(table, name, keep)?, None));
    };
    let groups = groups_of(v);
    let control = |g: &str| CONTROL_GROUPS.iter().any(|c| g.eq_ignore_ascii_case(c));
    let (treated, untreated) = match groups[..] {
        [a, b] if control(a) != control(b) => if control(a) { (b, a) } else { (a, b) },
        [a, b] => {
            return Err(EstimateError::new(
                name,
                format!(
                    "{name}: two groups, {a:?} and {b:?}: name exactly one of them as a control group is named (control, holdout, untreated, unexposed), or write 1 for the treated and 0 for the control group"
                ),
            ))
        }
        // one group, three or more, or numbers with words: the reader's error names the cell
        _ => return Ok((Table::take_numeric_or_empty(table, name, keep)?, None)),
    };
    let (treated, untreated) = (treated.to_string(), untreated.to_string());
    let values = v
        .iter()
        .map(|s| {
            let s = s.trim();
            if liftos_estimators::data::empty_cell(s) {
                f64::NAN
            } else if s.eq_ignore_ascii_case(&treated) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let warning = format!("{name}: {treated:?} read as treated (1) and {untreated:?} as the control group (0)");
    Ok((values, Some(warning)))
}

/// A cohort column's first treated periods, never treated as NaN: empty cells, and in a column
/// of text the words for a missing value (NA as R writes it, never, ...). A numeric column is
/// taken out of an owned table unless `keep` names it (no copy).
fn cohort_values<'a>(
    table: &mut std::borrow::Cow<'a, Table>,
    g: &str,
    keep: &[&str],
) -> Result<ndarray::CowArray<'a, f64, ndarray::Ix1>, EstimateError> {
    use liftos_estimators::data::Column;
    let Column::Text(v) = table.column(g)? else { return Ok(Table::take_numeric_or_missing(table, g, keep)?) };
    v.iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.trim();
            if super::time_axis::NEVER.iter().any(|n| s.eq_ignore_ascii_case(n)) {
                return Ok(f64::NAN);
            }
            s.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
                EstimateError::new(
                    g,
                    format!("{g}: row {}: {s:?} is not a period (never treated: empty, 0 or NA)", i + 1),
                )
            })
        })
        .collect::<Result<ndarray::Array1<f64>, _>>()
        .map(ndarray::CowArray::from)
}

/// The most anticipation periods a Callaway-Sant'Anna request may declare.
pub const MAX_ANTICIPATION: usize = 50;

/// HonestDiD's M-bar values when asked for (`mbar` alone is a mistake worth naming).
fn honest_mbars(req: &DidRequest) -> Result<Option<Vec<f64>>, EstimateError> {
    if !req.honest && req.m.is_some() {
        return Err(EstimateError::new("m", "m: only with honest"));
    }
    match (req.honest, &req.mbar) {
        (false, Some(_)) => Err(EstimateError::new("mbar", "mbar: only with honest")),
        (false, None) => Ok(None),
        (true, m) => Ok(Some(m.clone().unwrap_or_else(|| vec![0.5, 1.0, 2.0]))),
    }
}

/// Sun-Abraham or imputation: the cohort column gives the absorbing treatment.
#[allow(clippy::too_many_arguments)]
fn robust_event_study(
    req: &DidRequest,
    method: RobustMethod,
    alpha: f64,
    unit: Vec<u32>,
    unit_labels: Vec<String>,
    time: Vec<i64>,
    outcome: Vec<f64>,
    cohort: &[Option<i64>],
    cluster: Option<(Vec<u32>, usize)>,
) -> Result<DidOutput, EstimateError> {
    let name = match method {
        RobustMethod::SunAbraham => "sun-abraham",
        RobustMethod::Imputation => "imputation",
    };
    for (field, set) in [
        ("honest", req.honest),
        ("mbar", req.mbar.is_some()),
        ("m", req.m.is_some()),
        ("anticipation", req.anticipation.is_some()),
        ("base_period", req.base_period.is_some()),
        ("covariates", !req.covariates.is_empty()),
        ("control", req.control.is_some()),
        ("bootstrap", req.bootstrap.is_some()),
        ("weights", req.weights.is_some()),
    ] {
        if set {
            return Err(EstimateError::new(field, format!("{field}: not used by method {name}")));
        }
    }
    match &req.se {
        None | Some(SeSpec::Cluster(_)) => {}
        Some(other) => {
            return Err(EstimateError::new(
                "se",
                format!(
                "se: method {name} uses cluster-robust errors (cluster:COLUMN or the default, by unit), not {other}"
            ),
            ))
        }
    }
    let treatment = (0..time.len()).map(|i| if cohort[i].is_some_and(|g| time[i] >= g) { 1.0 } else { 0.0 }).collect();
    let input = PanelInput { unit, unit_labels, time, outcome: outcome.into(), treatment, cluster };
    Ok(DidOutput::Twfe(robust::fit(&input, &RobustSettings { method, alpha })?))
}

/// 2SLS on a borrowed table, or on an owned one whose columns the input takes (the command
/// line's: one copy of the data in memory, not two).
pub fn iv<'t>(
    table: impl Into<std::borrow::Cow<'t, Table>>,
    req: &IvRequest,
) -> Result<liftos_estimators::iv::IvResult, EstimateError> {
    let mut table = table.into();
    let alpha = alpha_of(req.alpha)?;
    let se = req.se.clone().unwrap_or(SeSpec::Robust);
    if matches!(se, SeSpec::Wild | SeSpec::Cr2) {
        return Err(EstimateError::new(
            "se",
            format!("se: {se} is for difference-in-differences; use robust or cluster:COLUMN"),
        ));
    }
    let (cluster, cluster_empty) = unzip(se.cluster().map(|c| cluster_codes(&table, c)).transpose()?);
    let names: Vec<&str> = std::iter::once(&req.outcome)
        .chain(&req.endogenous)
        .chain(&req.instruments)
        .chain(&req.controls)
        .map(String::as_str)
        .collect();
    // each column taken unless a later name asks for it again
    let outcome = Table::take_numeric_or_empty(&mut table, names[0], &names[1..])?;
    let (ne, ni) = (req.endogenous.len(), req.instruments.len());
    let mut cols = (1..1 + ne + ni)
        .map(|i| Ok((names[i].to_string(), Table::take_numeric_or_empty(&mut table, names[i], &names[i + 1..])?)))
        .collect::<Result<Vec<_>, DataError>>()?;
    cols.extend(Table::take_covariates(&mut table, &names[1 + ne + ni..], true)?);
    drop(table);
    let model =
        std::iter::once((names[0], outcome.as_slice())).chain(cols.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
    let complete = Complete::of(&with_labels(model.collect(), &[(se.cluster().unwrap_or_default(), &cluster_empty)]))?;
    let (outcome, cluster) = (complete.rows(outcome), complete.clusters(cluster));
    let mut cols: Vec<_> = cols.into_iter().map(|(n, v)| (n, complete.rows(v))).collect();
    let controls = Columns::new(cols.split_off(ne + ni)).map_err(DataError::from)?;
    let instruments = Columns::new(cols.split_off(ne)).map_err(DataError::from)?;
    let endogenous = Columns::new(cols).map_err(DataError::from)?;
    let input = IvInput { outcome: (req.outcome.clone(), outcome.into()), endogenous, instruments, controls, cluster };
    let mut result =
        complete.renumbered(iv::fit(&input, &IvSettings { se: se.kind(), alpha }).map_err(EstimateError::from))?;
    complete.note(&mut result.warnings);
    Ok(result)
}

/// Covariates an RDD request may adjust for.
pub const MAX_RDD_COVARIATES: usize = 50;

/// The RDD on a borrowed table, or on an owned one whose columns the fit then consumes (the
/// command line's: one copy of the data in memory, not two).
pub fn rdd<'t>(
    table: impl Into<std::borrow::Cow<'t, Table>>,
    req: &RddRequest,
) -> Result<liftos_estimators::rdd::RddResult, EstimateError> {
    let mut table = table.into();
    let alpha = alpha_of(req.alpha)?;
    if !req.cutoff.is_finite() {
        return Err(EstimateError::new("cutoff", "cutoff: must be a finite number"));
    }
    let settings = RddSettings {
        cutoff: req.cutoff,
        p: req.p.unwrap_or(1),
        kernel: req.kernel.unwrap_or(crate::api::estimate::KernelName::Triangular).into(),
        bwselect: req.bwselect.unwrap_or(crate::api::estimate::BandwidthSelector::Mserd).into(),
        bandwidth: req.bandwidth,
        alpha,
        nnmatch: 3,
    };
    if req.covariates.len() > MAX_RDD_COVARIATES {
        return Err(EstimateError::new(
            "covariates",
            format!("covariates: {} given, at most {MAX_RDD_COVARIATES}", req.covariates.len()),
        ));
    }
    let design = [Some(&req.outcome), Some(&req.running), req.fuzzy.as_ref(), req.cluster.as_ref()];
    if let Some(c) = req.covariates.iter().find(|c| design.contains(&Some(*c))) {
        return Err(EstimateError::new(
            "covariates",
            format!("covariates: {c} is the outcome, running, fuzzy or cluster column"),
        ));
    }
    let (cluster, cluster_empty) = unzip(req.cluster.as_deref().map(|c| cluster_codes(&table, c)).transpose()?);
    if let (Some(c), Some(row)) = (&req.cluster, cluster_empty.and_then(|e| e.iter().position(|x| x.is_nan()))) {
        return Err(EstimateError::new(c, format!("{c}: row {}: is empty: every row needs its cluster", row + 1)));
    }
    // a running variable of dates: a change at a date is the time-series counterfactual's question
    if let Ok(liftos_estimators::data::Column::Text(v)) = table.column(&req.running) {
        let r = &req.running;
        if let Some(d) = v
            .iter()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
            .filter(|s| crate::ingestion::connectors::file::format_of(s).is_some())
        {
            return Err(EstimateError::new(
                r,
                format!(
                    "{r}: holds dates ({d:?}): a regression discontinuity needs a running variable of numbers (a score, a \
                     distance, an age); for a change at a date, estimate impact (--time {r} --treatment-time DATE) \
                     compares the series after it with its counterfactual"
                ),
            ));
        }
    }
    let names: Vec<&str> =
        [&req.outcome, &req.running].into_iter().chain(&req.fuzzy).chain(&req.covariates).map(String::as_str).collect();
    // each column taken unless a later name asks for it again
    let y = Table::take_numeric_or_missing(&mut table, names[0], &names[1..])?;
    let x = Table::take_numeric_or_missing(&mut table, names[1], &names[2..])?;
    let d = match req.fuzzy {
        Some(_) => Some(Table::take_numeric_or_missing(&mut table, names[2], &names[3..])?),
        None => None,
    };
    let first = names.len() - req.covariates.len();
    let covariates = (first..names.len())
        .map(|i| Ok((names[i].to_string(), Table::take_numeric_or_missing(&mut table, names[i], &names[i + 1..])?)))
        .collect::<Result<Vec<_>, DataError>>()?;
    let adjust = rdd::RddAdjust {
        covariates: covariates.iter().map(|(n, v)| (n.clone(), v.view())).collect(),
        cluster: cluster.as_ref().map(|(codes, levels)| (&codes[..], *levels)),
    };
    Ok(rdd::fit_adjusted(y, x, d.as_ref().map(|d| d.view()), &adjust, &settings)?)
}

/// Treatment effects on a borrowed table, or on an owned one whose columns the input takes
/// (the command line's: no second copy of the data).
pub fn effect<'t>(
    table: impl Into<std::borrow::Cow<'t, Table>>,
    req: &EffectRequest,
) -> Result<EffectOutput, EstimateError> {
    let alpha = alpha_of(req.alpha)?;
    let mut table = table.into();
    let names: Vec<&str> =
        [&req.outcome, &req.treatment].into_iter().chain(&req.covariates).map(String::as_str).collect();
    // each column taken unless a later name asks for it again
    let outcome = Table::take_numeric_or_empty(&mut table, &req.outcome, &names[1..])?;
    let (treatment, groups) = treatment_values(&mut table, &req.treatment, &names[2..])?;
    let covariates = Table::take_covariates(&mut table, &names[2..], true)?;
    drop(table);
    let mut model: Vec<(&str, &[f64])> = vec![(&req.outcome, &outcome), (&req.treatment, &treatment)];
    model.extend(covariates.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
    let complete = Complete::of(&model)?;
    let covariates = covariates.into_iter().map(|(n, v)| (n, complete.rows(v))).collect();
    let input = EffectInput {
        outcome: (req.outcome.clone(), complete.rows(outcome).into()),
        treatment: (req.treatment.clone(), complete.rows(treatment).into()),
        covariates: Columns::new(covariates).map_err(DataError::from)?,
    };
    let settings = EffectSettings {
        method: req.method.unwrap_or(crate::api::estimate::EffectMethodName::Aipw).into(),
        estimand: req.estimand.unwrap_or(crate::api::estimate::EstimandName::Ate).into(),
        alpha,
        trim: req.trim.unwrap_or(0.01),
    };
    let mut result = complete.renumbered(effects::fit(&input, &settings).map_err(EstimateError::from))?;
    result.warnings.splice(0..0, groups);
    complete.note(&mut result.warnings);
    let refutations = if req.refute {
        Some(complete.renumbered(
            effects::refute(&input, &settings, req.seed.unwrap_or(20240101), 20).map_err(EstimateError::from),
        )?)
    } else {
        None
    };
    Ok(EffectOutput { result, refutations })
}

pub fn discover(table: &Table, req: &DiscoverRequest) -> Result<DiscoveryOutput, EstimateError> {
    let alpha = alpha_of(req.alpha)?;
    let method = req.method.unwrap_or(DiscoveryMethod::Pc);
    if method == DiscoveryMethod::Ges {
        return Err(EstimateError::new(
            "method",
            "method: ges is not available; use pc (constraint-based) or lingam (DirectLiNGAM, non-Gaussian)",
        ));
    }
    // By default every column of numbers, also one with empty cells (its rows are left out
    // below); the others are named in a warning.
    let mut warnings = Vec::new();
    let names: Vec<String> = if req.columns.is_empty() {
        let numbers = |n: &String| table.numeric_or_missing(n).is_ok_and(|v| v.iter().any(|x| !x.is_nan()));
        let (names, others): (Vec<String>, Vec<String>) = table.names.iter().cloned().partition(numbers);
        if !others.is_empty() {
            warnings.push(format!(
                "columns left out as they do not hold numbers (name the columns to see why): {}",
                others.join(", ")
            ));
        }
        names
    } else {
        req.columns.clone()
    };
    let max = crate::api::estimate::limits::MAX_DISCOVERY_COLUMNS;
    if names.len() > max {
        return Err(EstimateError::new(
            "columns",
            format!("columns: {} variables; at most {max} (name them in columns)", names.len()),
        ));
    }
    let max_depth = crate::api::estimate::limits::MAX_PC_DEPTH;
    if req.max_depth.is_some_and(|d| d > max_depth) {
        return Err(EstimateError::new("max_depth", format!("max_depth: at most {max_depth}")));
    }
    let mut cols = Vec::with_capacity(names.len());
    for n in &names {
        cols.push((n.clone(), Table::take_numeric_or_empty(&mut std::borrow::Cow::Borrowed(table), n, &[])?));
    }
    let complete = Complete::of(&cols.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect::<Vec<_>>())?;
    complete.note(&mut warnings);
    let cols = Columns::new(cols.into_iter().map(|(n, v)| (n, complete.rows(v))).collect()).map_err(DataError::from)?;
    let mut knowledge = req.knowledge.clone();
    if req.funnel_tiers {
        knowledge.tiers.extend(funnel_tiers(&names).into_iter().filter(|(n, _)| !req.knowledge.tiers.contains_key(n)));
    }
    let req = &DiscoverRequest { knowledge, ..req.clone() };
    if method == DiscoveryMethod::Lingam {
        let settings = discovery::LingamSettings { knowledge: req.knowledge.clone() };
        let mut result =
            complete.renumbered(discovery::direct_lingam(&cols, &settings).map_err(EstimateError::from))?;
        result.warnings = warnings;
        return Ok(DiscoveryOutput::Lingam(result));
    }
    let settings = PcSettings {
        alpha,
        knowledge: req.knowledge.clone(),
        max_depth: req.max_depth,
        max_tests: crate::api::estimate::limits::MAX_PC_TESTS,
    };
    let mut result = complete.renumbered(discovery::pc(&cols, &settings).map_err(EstimateError::from))?;
    result.warnings = warnings;
    Ok(DiscoveryOutput::Pc(result))
}

/// The ontology's funnel tier of each column named like one of its variables (the whole name
/// one concept: "Amount spent (USD)" is spend, "Purchases" conversions, "Sales" revenue).
pub fn funnel_tiers(names: &[String]) -> Vec<(String, i64)> {
    let o = crate::kse::ontology::Ontology::shipped();
    names
        .iter()
        .filter_map(|n| {
            let m = o.mentions(n);
            let tiers: std::collections::BTreeSet<i64> = m.iter().filter_map(|x| o.concept(&x.concept)?.tier).collect();
            match (tiers.len(), tiers.first()) {
                (1, Some(t)) => Some((n.clone(), *t)),
                _ => None,
            }
        })
        .collect()
}

/// A period or a range `START-END` (a leading minus is a negative period). Never panics, whatever
/// the text.
pub fn parse_range(field: &str, s: &str) -> Result<(i64, i64), EstimateError> {
    let bad = || EstimateError::new(field, format!("{field}: {s:?} is not a period or a range like 1980-1988"));
    let s = s.trim();
    // The separator is the first '-' after the first character (byte offsets from char_indices
    // are always boundaries).
    let sep = s.char_indices().skip(1).find(|&(_, c)| c == '-').map(|(i, _)| i);
    match sep {
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

/// Synthetic control's `predictors`: `COLUMN:PERIODS` items separated by commas, `outcome`
/// naming the outcome column (`"spend:1980-1988,outcome:1975"`). Never panics.
pub fn parse_predictors(spec: &str, outcome: &str) -> Result<Vec<Predictor>, EstimateError> {
    spec.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (col, range) = p
                .split_once(':')
                .ok_or_else(|| EstimateError::new("predictors", format!("predictors: {p:?} is not COLUMN:PERIODS")))?;
            let col = col.trim();
            if col.is_empty() {
                return Err(EstimateError::new("predictors", format!("predictors: {p:?} names no column")));
            }
            let column = if col == "outcome" { outcome.to_string() } else { col.to_string() };
            let (start, end) = parse_range("predictors", range)?;
            Ok(Predictor { column, start, end })
        })
        .collect()
}

pub fn synth_control(
    table: &Table,
    req: &SynthRequest,
) -> Result<liftos_estimators::synth::SynthResult, EstimateError> {
    let predictors = match &req.predictors {
        None => vec![],
        Some(spec) => parse_predictors(spec, &req.outcome)?,
    };
    let fit_window = req.fit_window.as_deref().map(|w| parse_range("fit_window", w)).transpose()?;
    let mut names: Vec<String> = predictors.iter().map(|p| p.column.clone()).collect();
    names.push(req.outcome.clone());
    names.sort();
    names.dedup();
    let mut columns = HashMap::new();
    for n in names {
        columns.insert(n.clone(), table.numeric_or_missing(&n)?);
    }
    let unit = table.labels(&req.unit)?;
    let treated_units = rejoin(req.treated_unit.split(',').map(str::to_string).collect(), &unit);
    let mut time = table.integers(&req.time)?;
    let excluded = rejoin(
        req.exclude_units
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|u| !u.trim().is_empty())
            .map(str::to_string)
            .collect(),
        &unit,
    );
    let mut unit = unit;
    if !excluded.is_empty() {
        let keep =
            kept_rows(&excluded, &treated_units, &unit, ("exclude_units", "a treated unit", "a unit of the panel"))?;
        unit = kept(unit, &keep);
        time = kept(time, &keep);
        for c in columns.values_mut() {
            *c = kept(std::mem::take(c), &keep);
        }
    }
    let input = SynthInput {
        unit,
        time,
        outcome: req.outcome.clone(),
        columns,
        treated_units,
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
        conformal: req.conformal,
        alpha: alpha_of(req.alpha)?,
        ..SynthSettings::default()
    };
    synth::fit(&input, &settings).map_err(|e| match e {
        // too few donors once the units left out are gone: the request's exclude_units did that
        SynthError::InvalidInput { column, message }
            if !excluded.is_empty() && column == "unit" && message.contains("donors") =>
        {
            EstimateError::new(
                "exclude_units",
                format!("exclude_units: with {} units left out, {message}", excluded.len()),
            )
        }
        e => e.into(),
    })
}

/// Which rows stay once the `excluded` names are left out of a panel whose rows are named by
/// `names`: a treated name or one the panel lacks is an error naming `field` (`what`: (field, a
/// treated name's description, the panel's names' description)). Through sets: a list of many
/// names against a panel of many rows stays one pass over each.
fn kept_rows(
    excluded: &[String],
    treated: &[String],
    names: &[String],
    (field, treated_is, among): (&str, &str, &str),
) -> Result<Vec<bool>, EstimateError> {
    use std::collections::HashSet;
    let known: HashSet<&str> = names.iter().map(String::as_str).collect();
    let treated: HashSet<&str> = treated.iter().map(String::as_str).collect();
    for n in excluded {
        if treated.contains(n.as_str()) {
            return Err(EstimateError::new(field, format!("{field}: {n:?} is {treated_is}")));
        }
        if !known.contains(n.as_str()) {
            return Err(EstimateError::new(
                field,
                format!("{field}: {}", liftos_estimators::panel::not_among(n, among, names)),
            ));
        }
    }
    let excluded: HashSet<&str> = excluded.iter().map(String::as_str).collect();
    Ok(names.iter().map(|n| !excluded.contains(n.as_str())).collect())
}

/// The values whose row `keep` keeps.
fn kept<C: IntoIterator + FromIterator<C::Item>>(values: C, keep: &[bool]) -> C {
    values.into_iter().zip(keep).filter(|(_, k)| **k).map(|(v, _)| v).collect()
}

/// The time-series counterfactual: one row per period, in any order (a period without a row or
/// with an empty outcome is a missing observation).
pub fn impact(table: &Table, req: &ImpactRequest) -> Result<ImpactResult, EstimateError> {
    let mut controls = Vec::new();
    for c in &req.controls {
        controls.push((c.clone(), table.numeric_or_missing(c)?.to_vec()));
    }
    // In the file's order: the model puts the rows on its grid of periods, and its errors name
    // the file's rows.
    let input = ImpactInput {
        time: table.integers(&req.time)?,
        outcome: table.numeric_or_missing(&req.outcome)?.to_vec(),
        controls,
        treatment_time: req.treatment_time,
    };
    let settings = ImpactSettings {
        trend: req.trend,
        season: req.season,
        alpha: alpha_of(req.alpha)?,
        seed: req.seed.unwrap_or(20261201),
    };
    Ok(impact::fit(&input, &settings)?)
}

/// The readout of a geo test.
pub fn geo_readout(
    table: &Table,
    req: &GeoReadoutRequest,
) -> Result<liftos_estimators::design::geo::GeoReadout, EstimateError> {
    use liftos_estimators::design::geo::{self, DesignNoise, GeoPanel, ReadoutSettings};
    let mut panel = GeoPanel {
        market: table.labels(&req.market)?,
        time: table.integers(&req.time)?,
        outcome: table.numeric(&req.outcome)?,
    };
    let treated_markets = rejoin(req.treated_markets.clone(), &panel.market);
    let exclude_markets = rejoin(req.exclude_markets.clone(), &panel.market);
    let req = &GeoReadoutRequest { treated_markets, exclude_markets, ..req.clone() };
    if !req.exclude_markets.is_empty() {
        let keep = kept_rows(
            &req.exclude_markets,
            &req.treated_markets,
            &panel.market,
            ("exclude_markets", "a test market", "a market of the panel"),
        )?;
        let GeoPanel { market, time, outcome } = panel;
        panel = GeoPanel { market: kept(market, &keep), time: kept(time, &keep), outcome: kept(outcome, &keep) };
    }
    let design_noise = match (req.design_rmse, req.design_windows) {
        (Some(r), Some(w)) => Some(DesignNoise { placebo_rmse: r, evaluation_windows: w }),
        (None, None) => None,
        _ => {
            return Err(EstimateError::new(
                "design_rmse",
                "design_rmse: give both design_rmse and design_windows (the design candidate's placebo_rmse and evaluation_windows)",
            ))
        }
    };
    let windows = req.windows.unwrap_or(6);
    if !(2..=52).contains(&windows) {
        return Err(EstimateError::new("windows", "windows: 2 to 52 replays"));
    }
    let s = ReadoutSettings {
        pre_periods: req.pre_periods.unwrap_or(52).min(10_000),
        windows,
        alpha: req.alpha.unwrap_or(0.1),
        design_noise,
    };
    geo::readout(&panel, &req.treated_markets, req.start, req.duration, &s).map_err(|e| {
        // The estimator's `treated` is the request's `treated_markets`.
        let field = match e.field.as_str() {
            "treated" => "treated_markets",
            "design_noise" => "design_rmse",
            f => f,
        };
        EstimateError::new(field, format!("{field}: {}", e.message))
    })
}

/// A geo test designed on a markets' panel (`liftos design geo`): the markets, sets of them and
/// durations ranked by the minimum detectable lift that replays of the history measure, under
/// the caps of `POST /api/v1/surfacing/experiments/design`.
pub fn geo_design(
    table: &Table,
    req: &GeoDesignRequest,
) -> Result<liftos_estimators::design::geo::GeoDesign, EstimateError> {
    use liftos_estimators::design::geo::{self, GeoPanel};
    let panel = GeoPanel {
        market: table.labels(&req.market)?,
        time: table.integers(&req.time)?,
        outcome: table.numeric(&req.outcome)?,
    };
    let mut settings = req.settings.clone();
    settings.include = rejoin(settings.include, &panel.market);
    settings.exclude = rejoin(settings.exclude, &panel.market);
    let markets = panel.market.iter().collect::<std::collections::BTreeSet<_>>().len();
    super::surfacing::check_geo_design(markets, &settings)
        .map_err(|(field, message)| EstimateError::new(field.as_str(), format!("{field}: {message}")))?;
    geo::design(&panel, &settings)
        .map_err(|e| EstimateError::new(e.field.as_str(), format!("{}: {}", e.field, e.message)))
}

/// The units of a table (one row each: stores, regions, customers) assigned to arms at random
/// (`liftos design randomize`), as the design endpoint's `randomization` section assigns them;
/// an error names the column (and the row) at fault.
pub fn randomize_units(
    table: &Table,
    req: &RandomizeRequest,
) -> Result<liftos_estimators::design::randomize::RandomizeResult, EstimateError> {
    use liftos_estimators::design::randomize::{self, Method, Unit};
    let ids = table.labels(&req.id)?;
    let strata = req.stratum.as_deref().map(|c| table.labels(c)).transpose()?;
    let covariates =
        req.covariates.iter().map(|c| Ok((c.clone(), table.numeric(c)?))).collect::<Result<Vec<_>, EstimateError>>()?;
    if req.settings.method == Method::Stratified && strata.is_none() {
        return Err(EstimateError::new("stratum", "stratum: stratified randomisation needs the stratum column"));
    }
    let units: Vec<Unit> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Unit {
            id: id.clone(),
            stratum: strata.as_ref().map(|s| s[i].clone()),
            covariates: covariates.iter().map(|(name, v)| (name.clone(), v[i])).collect(),
        })
        .collect();
    randomize::randomize(&units, &req.settings).map_err(|e| {
        // `units[i].id` is the id column's row i + 1; `units` the file
        let row =
            e.field.strip_prefix("units[").and_then(|r| r.split(']').next()).and_then(|r| r.parse::<usize>().ok());
        let field = if e.field.ends_with(".stratum") {
            req.stratum.as_deref().unwrap_or("stratum")
        } else if e.field.starts_with("units") {
            req.id.as_str()
        } else if e.field.starts_with("arms") {
            "arms"
        } else {
            e.field.as_str()
        };
        match row {
            Some(r) => EstimateError::new(field, format!("{field}: row {}: {}", r + 1, e.message)),
            None => EstimateError::new(field, format!("{field}: {}", e.message)),
        }
    })
}

/// Names listed with commas between them, where a name that holds a comma itself ("New York, NY",
/// as DMAs are named) was cut at it: a run of pieces that, joined back by ", " or ",", names one
/// of `labels` is one name (the longest such run); any other piece is a name of its own. Pieces
/// are trimmed and empty ones dropped.
fn rejoin(pieces: Vec<String>, labels: &[String]) -> Vec<String> {
    let known: std::collections::HashSet<&str> = labels.iter().map(String::as_str).collect();
    // A run is at most as long as the most commas a name holds, plus one: no joins at all when no
    // name holds a comma, however many pieces a request lists.
    let longest = known.iter().map(|l| l.matches(',').count() + 1).max().unwrap_or(1);
    let pieces: Vec<&str> = pieces.iter().map(|p| p.trim()).collect();
    let mut out = Vec::with_capacity(pieces.len());
    let mut i = 0;
    while i < pieces.len() {
        let run = (i + 2..=pieces.len().min(i + longest)).rev().find_map(|j| {
            [", ", ","]
                .iter()
                .map(|sep| pieces[i..j].join(sep))
                .find(|name| known.contains(name.as_str()))
                .map(|n| (j, n))
        });
        match run {
            Some((j, name)) => {
                out.push(name);
                i = j;
            }
            None => {
                if !pieces[i].is_empty() {
                    out.push(pieces[i].to_string());
                }
                i += 1;
            }
        }
    }
    out
}

/// Synthetic difference-in-differences.
pub fn sdid(table: &Table, req: &SdidRequest) -> Result<SdidResult, EstimateError> {
    let settings = SdidSettings {
        se: req.se.map(Into::into).unwrap_or_default(),
        replications: req.replications.unwrap_or(200),
        seed: req.seed.unwrap_or(20261201),
        alpha: alpha_of(req.alpha)?,
    };
    let input = SdidInput {
        unit: table.labels(&req.unit)?,
        time: table.integers(&req.time)?,
        outcome: table.numeric_or_missing(&req.outcome)?.to_vec(),
        treatment: table.numeric(&req.treatment)?.to_vec(),
    };
    Ok(sdid::fit(&input, &settings)?)
}

/// Day number (days since 1970-01-01) of a date written YYYY-MM-DD (a time after it is ignored).
pub fn day_number(field: &str, row: usize, s: &str) -> Result<i64, EstimateError> {
    let d =
        s.trim().get(..10).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).ok_or_else(|| {
            EstimateError::new(field, format!("{field}: row {}: {s:?} is not a date YYYY-MM-DD", row + 2))
        })?;
    Ok(d.signed_duration_since(chrono::NaiveDate::default()).num_days())
}

/// The day numbers (days since 1970-01-01) of a table's date column, in the format its dates
/// are written in (`2026-11-01`, `11/01/2026`, `01.11.2026`, `Nov 1, 2026`, `20261101`: of the
/// exports' formats, the one that reads them, as a panel's time column is read), or a Parquet
/// DATE column. Where no format reads them, each is read as YYYY-MM-DD and the first that is not
/// one is named.
pub fn table_days(table: &Table, column: &str) -> Result<Vec<i64>, EstimateError> {
    use crate::ingestion::connectors::file;
    if let (true, liftos_estimators::data::Column::Num(v)) = (table.holds_days(column), table.column(column)?) {
        return v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if x.is_finite() && x.fract() == 0.0 && x.abs() < 3.0e6 {
                    Ok(x as i64)
                } else {
                    Err(EstimateError::new(column, format!("{column}: row {}: is empty; a date is needed", i + 2)))
                }
            })
            .collect();
    }
    let labels = table.labels(column)?;
    // (a numeric column is offered `%Y%m%d`: taken only where it reads, as 20261101 does)
    let format = match file::date_format(table, column) {
        Ok(f) if f != "%Y-%m-%d" && labels.first().is_some_and(|s| file::day_in(s.trim(), &f).is_some()) => f,
        _ => return labels.iter().enumerate().map(|(i, s)| day_number(column, i, s)).collect(),
    };
    let epoch = chrono::NaiveDate::default();
    labels
        .iter()
        .enumerate()
        .map(|(i, s)| {
            file::day_in(s.trim(), &format).map(|d| d.signed_duration_since(epoch).num_days()).ok_or_else(|| {
                EstimateError::new(
                    column,
                    format!("{column}: row {}: {s:?} is not a date in the column's format ({format})", i + 2),
                )
            })
        })
        .collect()
}

/// Holiday controls for the media mix model from the ingestion's country calendars
/// (`ingestion::holidays`): public holidays, and the retail peaks (Black Friday, Cyber Monday)
/// apart, each 1 on a period that holds one (a day, a week when the dates are weekly, a calendar
/// month when they are monthly) and 0 elsewhere. A kind with none within the dates is left out. `field` names the request's key.
pub fn holiday_controls(country: &str, days: &[i64], field: &str) -> Result<Vec<Series>, EstimateError> {
    let code = country.trim().to_ascii_uppercase();
    if code.len() != 2 || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(EstimateError::new(
            field,
            format!("{field}: {country:?} is not a country code (ISO 3166 alpha-2, as US or GB)"),
        ));
    }
    let mut grid = days.to_vec();
    grid.sort_unstable();
    grid.dedup();
    let (Some(&first), Some(&last)) = (grid.first(), grid.last()) else { return Ok(vec![]) };
    // The period a date stands for: the data's smallest step (1 daily, 7 weekly).
    let step = grid.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(1).clamp(1, 31);
    if (last - first) / step >= liftos_estimators::mmm::MAX_PERIODS as i64 {
        // Too long a grid for the model: its fit names the dates; no calendar over centuries first.
        return Ok(vec![]);
    }
    let epoch = chrono::NaiveDate::default();
    let date = |d: i64| epoch + chrono::Duration::days(d);
    // The days a date stands for: from it for a step, or, for monthly dates, its calendar month
    // (dated by its first day or by its last).
    let window = |d: i64| -> (i64, i64) {
        use chrono::Datelike;
        let day = date(d);
        let month_start = day.with_day(1).unwrap_or(day);
        let next_month = month_start.checked_add_months(chrono::Months::new(1)).unwrap_or(day);
        let n = |x: chrono::NaiveDate| x.signed_duration_since(epoch).num_days();
        match step {
            28..=31 if day.day() == 1 => (d, n(next_month)),
            28..=31 if n(next_month) == d + 1 => (n(month_start), d + 1),
            _ => (d, d + step),
        }
    };
    let all = crate::ingestion::holidays::holidays_between(&code, date(window(first).0), date(window(last).1 - 1));
    let peaks = ["Black Friday", "Cyber Monday"];
    let mut out = Vec::new();
    for (name, peak) in [(format!("holidays ({code})"), false), (format!("retail peaks ({code})"), true)] {
        let mut on: Vec<i64> = all
            .iter()
            .filter(|(_, n)| peaks.contains(n) == peak)
            .map(|(d, _)| d.signed_duration_since(epoch).num_days())
            .collect();
        on.sort_unstable();
        let values: Vec<f64> = days
            .iter()
            .map(|&d| {
                let (from, to) = window(d);
                let next = on.partition_point(|&h| h < from);
                if on.get(next).is_some_and(|&h| h < to) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        if values.contains(&1.0) {
            out.push(Series { name, values });
        }
    }
    Ok(out)
}

/// The media mix model: rows sorted by date; the lift tests (if any) from their own table with
/// columns channel, start, end, spend_from, spend_to, incremental, std_error.
pub fn mmm(table: &Table, lifts: Option<&Table>, req: &MmmRequest) -> Result<MmmResult, EstimateError> {
    let days = table_days(table, &req.date)?;
    let series = |names: &[String]| -> Result<Vec<Series>, EstimateError> {
        names.iter().map(|n| Ok(Series { name: n.clone(), values: table.numeric_or_missing(n)?.to_vec() })).collect()
    };
    if req.spend.is_empty() {
        return Err(EstimateError::new("spend", "spend: name at least one spend column"));
    }
    let lift_tests = match lifts {
        None => vec![],
        Some(t) => {
            let channel = t.labels("channel")?;
            let (start, end) = (table_days(t, "start")?, table_days(t, "end")?);
            let num = |c: &str| t.numeric(c).map(|v| v.to_vec());
            let (from, to, inc, se) = (num("spend_from")?, num("spend_to")?, num("incremental")?, num("std_error")?);
            (0..t.rows)
                .map(|i| {
                    Ok(LiftTest {
                        channel: channel[i].clone(),
                        start: start[i],
                        end: end[i],
                        spend_from: from[i],
                        spend_to: to[i],
                        incremental: inc[i],
                        std_error: se[i],
                    })
                })
                .collect::<Result<_, EstimateError>>()?
        }
    };
    let mut controls = series(&req.controls)?;
    if let Some(country) = &req.holidays {
        controls.extend(holiday_controls(country, &days, "holidays")?);
    }
    let input = MmmInput {
        days,
        kpi: table.numeric_or_missing(&req.kpi)?.to_vec(),
        channels: series(&req.spend)?,
        controls,
        lifts: lift_tests,
    };
    let mut result = mmm::fit(&input, &req.settings).map_err(|e| {
        // Spend and control errors name the column, not its position.
        let field = match e.field.split_once('[') {
            Some(("spend", rest)) => {
                rest.trim_end_matches(']').parse::<usize>().ok().and_then(|i| req.spend.get(i)).cloned()
            }
            Some(("controls", rest)) => {
                rest.trim_end_matches(']').parse::<usize>().ok().and_then(|i| req.controls.get(i)).cloned()
            }
            None if e.field == "date" => Some(req.date.clone()),
            _ => None,
        }
        .unwrap_or_else(|| e.field.clone());
        EstimateError::new(&field, format!("{field}: {}", e.message))
    })?;
    if req.attributed {
        result.mark_attributed();
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cut_at_their_commas_are_put_back_together() {
        let labels: Vec<String> =
            ["New York, NY", "Ohio", "Texas", "Los Angeles,CA", "New York"].iter().map(|s| s.to_string()).collect();
        let cut = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(rejoin(cut("New York, NY,Ohio"), &labels), ["New York, NY", "Ohio"]);
        assert_eq!(rejoin(cut(" Ohio , Texas,"), &labels), ["Ohio", "Texas"]);
        assert_eq!(rejoin(cut("Los Angeles,CA,New York"), &labels), ["Los Angeles,CA", "New York"]);
        // the trimmed pieces a flag parser leaves are joined by ", " too
        assert_eq!(rejoin(vec!["New York".into(), "NY".into()], &labels), ["New York, NY"]);
        // nothing to join: the pieces as they are (the estimator names the unknown one)
        assert_eq!(rejoin(cut("Boston, MA"), &labels), ["Boston", "MA"]);
        assert_eq!(rejoin(vec![], &labels), Vec::<String>::new());
        // many pieces: joined no further than the longest name's commas allow
        let many: Vec<String> = (0..20_000).map(|i| format!("u{i}")).collect();
        assert_eq!(rejoin(many.clone(), &labels), many);
        let with = |extra: &str| labels.iter().cloned().chain([extra.to_string()]).collect::<Vec<_>>();
        assert_eq!(rejoin(cut("a, b, c,Ohio"), &with("a, b, c")), ["a, b, c", "Ohio"]);
    }

    #[test]
    fn ranges_never_panic_and_name_the_field() {
        assert_eq!(parse_range("fit_window", "1970-1988").unwrap(), (1970, 1988));
        assert_eq!(parse_range("fit_window", " -5 - -1 ").unwrap(), (-5, -1));
        assert_eq!(parse_range("fit_window", "1975").unwrap(), (1975, 1975));
        for bad in ["", " ", "x:", "é-1", "-", "1-", "--", "ü", "1970-1988-2000"] {
            let e = parse_range("fit_window", bad).unwrap_err();
            assert_eq!(e.field(), "fit_window", "{bad:?}");
        }
    }

    /// mpdta with a treated-and-post indicator `D` and each county's `state`, as CSV.
    fn mpdta_with_d() -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/data/mpdta.csv");
        let rows: Vec<String> = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    return format!("{l},D,state");
                }
                let f: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
                format!("{l},{},{}", u8::from(f[4] > 0.0 && f[0] >= f[4]), (f[1] / 1000.0).floor())
            })
            .collect();
        rows.join("\n")
    }

    /// Difference in differences on an owned table (as the command line runs it: the unit and
    /// period columns freed once coded, the outcome and the cohort taken, not copied) is the
    /// answer on the borrowed table, to the bit, also when the unit or the period column plays
    /// another role (cluster, errors' cluster, covariate), which keeps it; and the same error
    /// where there is one.
    #[test]
    fn did_on_an_owned_table_is_the_borrowed_answer() {
        let table = Table::from_csv_bytes(mpdta_with_d().as_bytes(), None).unwrap();
        let base = serde_json::json!({"unit": "countyreal", "time": "year", "outcome": "lemp"});
        let cases = [
            serde_json::json!({"treatment": "D"}),
            serde_json::json!({"treatment": "D", "cluster": "countyreal"}),
            serde_json::json!({"treatment": "D", "se": "cluster:year"}),
            serde_json::json!({"treatment": "D", "event_study": true, "cluster": "state"}),
            serde_json::json!({"cohort": "first.treat"}),
            serde_json::json!({"cohort": "first.treat", "cluster": "countyreal"}),
            serde_json::json!({"cohort": "first.treat", "se": "cluster:countyreal"}),
            serde_json::json!({"cohort": "first.treat", "cluster": "state", "covariates": ["lpop"]}),
            // the period as a covariate: the same at every unit's base period, the same error
            serde_json::json!({"cohort": "first.treat", "covariates": ["year"]}),
            serde_json::json!({"cohort": "first.treat", "estimation": "imputation", "cluster": "countyreal"}),
            serde_json::json!({"cohort": "first.treat", "unit": "nope"}),
            // the cohort column as the clusters too (it contains whole units)
            serde_json::json!({"cohort": "first.treat", "cluster": "first.treat"}),
            serde_json::json!({"cohort": "first.treat", "se": "cluster:first.treat"}),
        ];
        let json = |r: Result<DidOutput, EstimateError>| match r {
            Ok(v) => serde_json::to_string(&v).unwrap(),
            Err(e) => format!("error {}: {e}", e.field()),
        };
        let mut answers = 0;
        for c in cases {
            let mut v = base.clone();
            v.as_object_mut().unwrap().extend(c.as_object().unwrap().clone());
            let r: DidRequest = serde_json::from_value(v).unwrap();
            let borrowed = json(did(&table, &r));
            assert_eq!(json(did(table.clone(), &r)), borrowed, "{c}");
            answers += usize::from(!borrowed.starts_with("error"));
        }
        assert_eq!(answers, 11);
    }

    /// 2SLS on an owned table (its columns taken, as the command line runs it) is the answer
    /// on the borrowed table, bit for bit, also when one column plays two roles (then copied,
    /// not taken twice) and when a column is missing or not a number (the same error).
    #[test]
    fn iv_on_an_owned_table_is_the_borrowed_answer() {
        use liftos_estimators::data::Column;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/data/iv_sim.csv");
        let table = Table::from_csv_bytes(&std::fs::read(path).unwrap(), None).unwrap();
        let req = |v: serde_json::Value| -> IvRequest { serde_json::from_value(v).unwrap() };
        let cases = [
            serde_json::json!({"outcome": "y", "endogenous": ["x"], "instruments": ["z1", "z2"], "controls": ["w1"]}),
            serde_json::json!({"outcome": "y", "endogenous": ["x"], "instruments": ["z1", "z2"],
                "controls": ["w1"], "se": "cluster:g"}),
            // w1 both an instrument and a control: collinear, the same error either way
            serde_json::json!({"outcome": "y", "endogenous": ["x"], "instruments": ["z1", "w1"], "controls": ["w1"]}),
            // the outcome again as a control
            serde_json::json!({"outcome": "y", "endogenous": ["x"], "instruments": ["z1", "z2"], "controls": ["y"]}),
            serde_json::json!({"outcome": "y", "endogenous": ["x"], "instruments": ["z1", "nope"], "controls": []}),
        ];
        let json = |r: Result<liftos_estimators::iv::IvResult, EstimateError>| match r {
            Ok(v) => serde_json::to_string(&v).unwrap(),
            Err(e) => format!("error {}: {e}", e.field()),
        };
        let mut answers = 0;
        for c in cases {
            let r = req(c.clone());
            let borrowed = json(iv(&table, &r));
            answers += usize::from(!borrowed.starts_with("error"));
            assert_eq!(json(iv(table.clone(), &r)), borrowed, "{c}");
        }
        assert!(answers >= 2, "the first two cases have answers");
        let with_text = Table::from_columns(vec![
            ("y", Column::Num(vec![1.0, 2.0, 3.0])),
            ("x", Column::Text(["a", "b", "c"].iter().collect())),
        ]);
        let r = req(serde_json::json!({"outcome": "y", "endogenous": ["x"], "instruments": ["y"], "controls": []}));
        assert_eq!(json(iv(with_text.clone(), &r)), json(iv(&with_text, &r)));
        assert!(json(iv(with_text, &r)).contains("x"));
    }

    /// `csv` with the cells `(data row, column)` emptied, and `csv` without those rows.
    fn with_holes(csv: &str, holes: &[(usize, &str)]) -> (Table, Table) {
        let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
        let header: Vec<String> = lines[0].split(',').map(str::to_string).collect();
        for &(row, col) in holes {
            let c = header.iter().position(|h| h == col).unwrap();
            let mut fields: Vec<String> = lines[row].split(',').map(str::to_string).collect();
            fields[c] = String::new();
            lines[row] = fields.join(",");
        }
        let without: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !holes.iter().any(|h| h.0 == *i))
            .map(|(_, l)| l.as_str())
            .collect();
        let read = |text: String| Table::from_csv_bytes(text.as_bytes(), None).unwrap();
        (read(lines.join("\n")), read(without.join("\n")))
    }

    /// The result as JSON without its warnings, and its warnings.
    fn parts(v: impl serde::Serialize) -> (serde_json::Value, Vec<String>) {
        let mut v = serde_json::to_value(v).unwrap();
        let w = v.as_object_mut().unwrap().remove("warnings").unwrap_or_default();
        (v, serde_json::from_value(w).unwrap_or_default())
    }

    /// A row with an empty value in a model's column (the outcome, the treatment, a regressor, an
    /// instrument, a covariate) is left out as fixest, linearmodels and R's did leave it out: the
    /// answer is the fit on the file without those rows, to the bit, with a first warning that
    /// names them. pyfixest 0.60.0 on a 30-store weekly panel with one empty sales cell
    /// (`feols("sales ~ treated | store + week", vcov={"CRV1": "store"})`, 779 of 780 rows)
    /// gave 5.151465155440411 (SE 0.30927770944781413), ours 5.151465155440414 (0.30927770944837935);
    /// linearmodels 7.1 `IV2SLS` drops the row too ("Dropping rows with missing observations").
    /// An error of the fit names the file's row, not its place among the rows used.
    #[test]
    fn rows_with_an_empty_model_value_are_left_out_as_the_references_do() {
        let data = |name: &str| {
            std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/data").join(name),
            )
            .unwrap()
        };
        let mpdta = mpdta_with_d();
        let req = |v: serde_json::Value| -> DidRequest { serde_json::from_value(v).unwrap() };
        let base = serde_json::json!({"unit": "countyreal", "time": "year", "outcome": "lemp"});
        let with = |extra: serde_json::Value| {
            let mut b = base.clone();
            b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            req(b)
        };
        // rows 1-5 are all of county 8001's: it leaves the panel
        let holes: Vec<(usize, &str)> =
            vec![(1, "lemp"), (2, "lemp"), (3, "lemp"), (4, "lemp"), (5, "lemp"), (100, "lemp"), (1501, "lemp")];
        let (holed, without) = with_holes(&mpdta, &holes);
        let cases = [
            with(serde_json::json!({"treatment": "D"})),
            with(serde_json::json!({"treatment": "D", "event_study": true})),
            with(serde_json::json!({"cohort": "first.treat"})),
            with(serde_json::json!({"cohort": "first.treat", "estimation": "sun-abraham"})),
            with(serde_json::json!({"cohort": "first.treat", "estimation": "imputation"})),
        ];
        for r in &cases {
            let (a, wa) = parts(did(&holed, r).unwrap());
            let (b, wb) = parts(did(&without, r).unwrap());
            assert_eq!(a, b, "{r:?}");
            assert_eq!(a["n_obs"], 2500 - 7, "{r:?}");
            assert!(wa[0].starts_with("7 rows with an empty cell in lemp left out of the fit"), "{}", wa[0]);
            assert!(wa[0].contains("(rows 1, 2, 3, 4, 5, 100, 1501)"), "{}", wa[0]);
            assert_eq!(wa[1..], wb[..], "{r:?}");
            // and the owned table (the command line's) answers the same
            assert_eq!(parts(did(holed.clone(), r).unwrap()).0, a);
        }
        // a covariate's empty cell leaves its row out of Callaway-Sant'Anna with covariates
        let (holed, without) = with_holes(&mpdta, &[(7, "lpop"), (900, "lemp")]);
        let r = with(serde_json::json!({"cohort": "first.treat", "covariates": ["lpop"]}));
        let (a, wa) = parts(did(&holed, &r).unwrap());
        assert_eq!(a, parts(did(&without, &r).unwrap()).0);
        assert!(wa[0].starts_with("2 rows with an empty cell in lemp, lpop left out"), "{}", wa[0]);
        // an empty unit or cluster cell is no unit or cluster, not one more named "": the row is
        // left out (before, TWFE counted one cluster more)
        let (holed, without) = with_holes(&mpdta, &[(12, "state"), (30, "countyreal")]);
        for r in [
            with(serde_json::json!({"treatment": "D", "cluster": "state"})),
            with(serde_json::json!({"cohort": "first.treat", "cluster": "state"})),
            with(serde_json::json!({"cohort": "first.treat", "estimation": "imputation", "cluster": "state"})),
        ] {
            let (a, wa) = parts(did(&holed, &r).unwrap());
            assert_eq!(a, parts(did(&without, &r).unwrap()).0, "{r:?}");
            assert!(wa[0].starts_with("2 rows with an empty cell in countyreal, state left out"), "{}", wa[0]);
            assert_eq!(a["n_clusters"], parts(did(&without, &r).unwrap()).0["n_clusters"]);
        }
        // an empty period places its row in no period: left out (pyfixest 0.60 drops a row with
        // a missing fixed effect: 779 of 780 rows, D -0.03703917371301203 on mpdta without row 5's
        // year, as here), every DiD estimator
        let (holed, without) = with_holes(&mpdta, &[(5, "year"), (1200, "year"), (1201, "lemp")]);
        for r in cases.iter().chain([&with(serde_json::json!({"treatment": "D", "cluster": "countyreal"}))]) {
            let (a, wa) = parts(did(&holed, r).unwrap());
            assert_eq!(a, parts(did(&without, r).unwrap()).0, "{r:?}");
            assert!(wa[0].starts_with("3 rows with an empty cell in lemp, year left out"), "{}", wa[0]);
            assert_eq!(parts(did(holed.clone(), r).unwrap()).0, a);
        }
        let twfe = parts(did(&with_holes(&mpdta, &[(5, "year")]).0, &cases[0]).unwrap()).0;
        assert!((twfe["estimate"].as_f64().unwrap() - -0.03703917371301203).abs() < 1e-14, "{twfe}");
        // a period that is not a whole number is still refused, naming its row
        let frac = mpdta.replacen("2004,8001", "2004.5,8001", 1);
        let e = did(Table::from_csv_bytes(frac.as_bytes(), None).unwrap(), &cases[0]).unwrap_err().to_string();
        assert!(e.contains("row 2") && e.contains("2004.5 is not a whole number"), "{e}");
        let frac = with_holes(&frac, &[(9, "year")]).0;
        let e = did(&frac, &cases[0]).unwrap_err().to_string();
        assert!(e.contains("row 2") && e.contains("2004.5 is not a whole number"), "{e}");
        // a bad value after a left-out row is named by its row in the file
        let mut bad: Vec<String> = mpdta.lines().map(str::to_string).collect();
        // D, the last but one field
        let (head, state) = bad[10].rsplit_once(',').unwrap();
        bad[10] = format!("{},2,{state}", head.rsplit_once(',').unwrap().0);
        let (holed, _) = with_holes(&bad.join("\n"), &[(3, "lemp")]);
        let e = did(&holed, &cases[0]).unwrap_err().to_string();
        assert!(e.contains("row 10: must be 0 or 1"), "{e}");
        // an infinity is not an empty cell, and a column of nothing but empty cells is refused
        let inf = mpdta.replacen(",8.46146904264388,", ",inf,", 1);
        let e = did(Table::from_csv_bytes(inf.as_bytes(), None).unwrap(), &cases[0]).unwrap_err().to_string();
        assert_eq!(e, "lemp: row 1: not a finite number");
        let all: Vec<(usize, &str)> = (1..=2500).map(|i| (i, "lemp")).collect();
        let e = did(&with_holes(&mpdta, &all).0, &cases[0]).unwrap_err();
        assert_eq!(e.field(), "lemp");

        // causal discovery: PC and DirectLiNGAM on the complete rows, every column of numbers
        // kept by default (one with empty cells too) and the others named
        let dag = data("dag_sim.csv");
        let header = dag.lines().next().unwrap().split(',').map(str::to_string).collect::<Vec<_>>();
        let (holed, without) = with_holes(&dag, &[(3, header[0].as_str()), (50, header[2].as_str())]);
        for method in ["pc", "lingam"] {
            let r: DiscoverRequest = serde_json::from_value(serde_json::json!({"method": method})).unwrap();
            let (a, wa) = parts(discover(&holed, &r).unwrap());
            let (b, wb) = parts(discover(&without, &r).unwrap());
            assert_eq!((a.clone(), wb.len()), (b, 0), "{method}");
            assert_eq!(a["variables"].as_array().unwrap().len(), header.len(), "{method}");
            assert_eq!(wa.len(), 1, "{wa:?}");
            let start =
                format!("2 rows with an empty cell in {}, {} left out of the fit (rows 3, 50)", header[0], header[2]);
            assert!(wa[0].starts_with(&start), "{}", wa[0]);
        }
        let labelled = format!(
            "{},name\n{}",
            header.join(","),
            dag.lines().skip(1).enumerate().map(|(i, l)| format!("{l},c{i}\n")).collect::<String>()
        );
        let labelled = Table::from_csv_bytes(labelled.as_bytes(), None).unwrap();
        let (a, wa) = parts(discover(&labelled, &DiscoverRequest::default()).unwrap());
        assert_eq!(
            a,
            parts(
                discover(&Table::from_csv_bytes(dag.as_bytes(), None).unwrap(), &DiscoverRequest::default()).unwrap()
            )
            .0
        );
        assert_eq!(wa, ["columns left out as they do not hold numbers (name the columns to see why): name"]);

        // 2SLS and the treatment effects
        let (holed, without) = with_holes(&data("iv_sim.csv"), &[(2, "y"), (40, "z2"), (41, "w1"), (300, "x")]);
        let r: IvRequest = serde_json::from_value(serde_json::json!({"outcome": "y", "endogenous": ["x"],
            "instruments": ["z1", "z2"], "controls": ["w1"], "se": "cluster:g"}))
        .unwrap();
        let (a, wa) = parts(iv(&holed, &r).unwrap());
        let (b, wb) = parts(iv(&without, &r).unwrap());
        assert_eq!(a, b);
        assert!(wa[0].starts_with("4 rows with an empty cell in y, x, z2, w1 left out"), "{}", wa[0]);
        assert!(wa[0].contains("(rows 2, 40, 41, 300)"), "{}", wa[0]);
        assert_eq!(wa[1..], wb[..]);
        assert_eq!(parts(iv(holed.clone(), &r).unwrap()).0, a);
        let (holed, without) = with_holes(&data("effects_sim.csv"), &[(5, "d"), (6, "x2"), (7, "y")]);
        for method in ["aipw", "ipw", "regression"] {
            let r: EffectRequest = serde_json::from_value(serde_json::json!({"outcome": "y", "treatment": "d",
                "covariates": ["x1", "x2"], "method": method}))
            .unwrap();
            let (a, wa) = parts(effect(&holed, &r).unwrap().result);
            assert_eq!(a, parts(effect(&without, &r).unwrap().result).0, "{method}");
            assert!(wa[0].contains("(rows 5, 6, 7)"), "{}", wa[0]);
        }
        // a covariate of categories: an empty cell leaves its row out too
        let regions: Vec<String> = data("effects_sim.csv")
            .lines()
            .enumerate()
            .map(
                |(i, l)| {
                    if i == 0 {
                        format!("{l},region")
                    } else {
                        format!("{l},{}", ["North", "South", "East"][i % 3])
                    }
                },
            )
            .collect();
        let (holed, without) = with_holes(&regions.join("\n"), &[(9, "region"), (12, "y")]);
        let r: EffectRequest = serde_json::from_value(serde_json::json!({"outcome": "y", "treatment": "d",
            "covariates": ["x1", "region"]}))
        .unwrap();
        let (a, wa) = parts(effect(&holed, &r).unwrap().result);
        assert_eq!(a, parts(effect(&without, &r).unwrap().result).0);
        assert!(wa[0].starts_with("2 rows with an empty cell in y, region=North, region=South left out"), "{}", wa[0]);
        // one category and an empty cell: nothing to adjust for, named
        let one: String = regions.join("\n").replace(",South", ",North").replace(",East", ",North");
        let e = effect(&with_holes(&one, &[(9, "region")]).0, &r).unwrap_err().to_string();
        assert!(e.starts_with("region: row 9: is empty, and the column's other rows hold one category"), "{e}");
    }

    /// Discovery on a file whose empty cells leave too few rows says so, with the rows left out.
    #[test]
    fn too_few_rows_after_the_empty_cells_are_left_out_says_so() {
        let mut csv = String::from("a,b,c\n");
        for i in 0..10 {
            let b = if i % 3 == 0 { String::new() } else { (i * 2).to_string() };
            csv.push_str(&format!("{i},{b},{}\n", i % 5));
        }
        let t = Table::from_csv_bytes(csv.as_bytes(), None).unwrap();
        let req: DiscoverRequest = serde_json::from_value(serde_json::json!({})).unwrap();
        let EstimateError::Invalid { field, message } = discover(&t, &req).unwrap_err();
        assert_eq!(field, "columns");
        assert_eq!(
            message,
            "columns: 6 rows is too few for 3 variables (at least 7 are needed) (4 rows with an empty cell in b left out; name the \
             columns to use, or fill the cells)"
        );
    }

    /// A running variable of dates is refused pointing to the time-series counterfactual, in
    /// the exports' date formats; one of numbers is not.
    #[test]
    fn an_rdd_on_dates_points_to_the_time_series_counterfactual() {
        let rows = |f: &dyn Fn(usize) -> String| {
            let body: String = (0..60).map(|i| format!("{},{}\n", f(i), 100 + i % 7)).collect();
            Table::from_csv_bytes(format!("day,orders\n{body}").as_bytes(), None).unwrap()
        };
        let req: RddRequest =
            serde_json::from_value(serde_json::json!({"outcome": "orders", "running": "day", "cutoff": 30.0})).unwrap();
        for dates in [rows(&|i| format!("2026-01-{:02}", i % 28 + 1)), rows(&|i| format!("01/{:02}/2026", i % 28 + 1))]
        {
            let e = rdd(&dates, &req).unwrap_err();
            assert_eq!(e.field(), "day");
            assert!(e.to_string().contains("holds dates") && e.to_string().contains("estimate impact"), "{e}");
        }
        let e = rdd(rows(&|i| i.to_string()), &req).map(|_| ()).map_err(|e| e.to_string());
        assert!(!e.as_ref().is_err_and(|m| m.contains("holds dates")), "{e:?}");
    }

    /// A treatment column of two groups as an experiment's export names them is the 0/1 column
    /// it means: the group named as a control group is 0, the answer that of the 0/1 file, and
    /// a warning says which group was read as treated; two groups neither of which is named so
    /// are refused naming both.
    #[test]
    fn a_treatment_of_two_named_groups_is_read_as_1_and_0() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/data/effects_sim.csv"),
        )
        .unwrap();
        let named_text = |treated: &str, control: &str| -> Vec<String> {
            text.lines()
                .enumerate()
                .map(|(i, l)| match (i, l.split_once(',')) {
                    (0, _) | (_, None) => l.to_string(),
                    (_, Some((y, rest))) => {
                        let (d, x) = rest.split_once(',').unwrap();
                        format!("{y},{},{x}", if d == "1" { treated } else { control })
                    }
                })
                .collect()
        };
        let named = |treated: &str, control: &str| {
            Table::from_csv_bytes(named_text(treated, control).join("\n").as_bytes(), None).unwrap()
        };
        let numbers = Table::from_csv_bytes(text.as_bytes(), None).unwrap();
        for method in ["aipw", "ipw", "regression"] {
            let r: EffectRequest = serde_json::from_value(serde_json::json!({"outcome": "y", "treatment": "d",
                "covariates": ["x1", "x2"], "method": method}))
            .unwrap();
            let (b, _) = parts(effect(&numbers, &r).unwrap().result);
            for (treated, control) in [("Treatment", "Control"), ("test", "HOLDOUT"), ("Exposed", "unexposed")] {
                let (a, wa) = parts(effect(named(treated, control), &r).unwrap().result);
                assert_eq!(a, b, "{method} {treated}");
                assert_eq!(
                    wa[0],
                    format!("d: {treated:?} read as treated (1) and {control:?} as the control group (0)")
                );
            }
        }
        let r: EffectRequest =
            serde_json::from_value(serde_json::json!({"outcome": "y", "treatment": "d", "covariates": ["x1"]}))
                .unwrap();
        for (treated, control) in [("A", "B"), ("control", "holdout")] {
            let e = effect(named(treated, control), &r).unwrap_err();
            assert_eq!(e.field(), "d");
            assert!(e.to_string().contains("name exactly one of them as a control group"), "{e}");
        }
        // a third group is not a treatment: the reader names the cell
        let mut three = named_text("Treatment", "Control");
        three[5] = three[5].replace(",Treatment,", ",Maybe,").replace(",Control,", ",Maybe,");
        let three = Table::from_csv_bytes(three.join("\n").as_bytes(), None).unwrap();
        let e = effect(&three, &r).unwrap_err().to_string();
        assert!(e.starts_with("d: row 1: \"") && e.contains("is not a number"), "{e}");
        // the DiD's treatment is treated-and-post: a column of two groups is refused, saying so
        let mpdta = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/data/mpdta.csv"),
        )
        .unwrap()
        .replace(",1\n", ",test\n")
        .replace(",0\n", ",control\n");
        let r: DidRequest = serde_json::from_value(
            serde_json::json!({"unit": "countyreal", "time": "year", "outcome": "lemp", "treatment": "treat"}),
        )
        .unwrap();
        let e = did(Table::from_csv_bytes(mpdta.as_bytes(), None).unwrap(), &r).unwrap_err();
        assert_eq!(e.field(), "treat");
        assert!(e.to_string().contains("holds two groups (\"test\", \"control\"), not a treated-and-post"), "{e}");
    }

    /// Holidays on a monthly history: each month dated by its first day (or by its last) stands
    /// for its calendar month, so May 2026 holds Memorial Day and March none; the same months
    /// dated by their last day mark the same months (a window of the smallest step from the date
    /// would have let January 31 stand for February).
    #[test]
    fn a_monthly_date_stands_for_its_calendar_month() {
        let day = |y: i32, m: u32, d: u32| {
            chrono::NaiveDate::from_ymd_opt(y, m, d)
                .map(|x| x.signed_duration_since(chrono::NaiveDate::default()).num_days())
                .unwrap_or_default()
        };
        let firsts: Vec<i64> = (1..=12).map(|m| day(2026, m, 1)).collect();
        let lasts: Vec<i64> =
            (1..=12).map(|m| if m == 12 { day(2026, 12, 31) } else { day(2026, m + 1, 1) - 1 }).collect();
        let marks = |days: &[i64]| {
            let c = holiday_controls("US", days, "holidays").unwrap_or_default();
            c.iter().find(|s| s.name == "holidays (US)").map(|s| s.values.clone()).unwrap_or_default()
        };
        // January (New Year, MLK), February (Presidents'), no March or April, May (Memorial),
        // June (Juneteenth), July, no August, September (Labor), October (Columbus), November
        // (Veterans, Thanksgiving), December
        let want = [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        assert_eq!(marks(&firsts), want);
        assert_eq!(marks(&lasts), want);
        let peaks = holiday_controls("US", &firsts, "holidays").unwrap_or_default();
        let peaks = peaks.iter().find(|s| s.name == "retail peaks (US)").map(|s| s.values.clone()).unwrap_or_default();
        assert_eq!(peaks.iter().position(|v| *v == 1.0), Some(10), "November: {peaks:?}");
    }
}
