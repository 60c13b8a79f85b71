use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use ndarray::{Array1, Array2, Axis};

use crate::dist;
use crate::inference::Inference;
use crate::linalg;
use crate::ols::{self, SeKind};
use crate::panel::{demean, FixedEffect, NotConverged};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DidError {
    #[error("{column}: {message}")]
    InvalidInput { column: String, message: String },
    #[error("treatment: it is {value} everywhere; there is nothing to compare")]
    ConstantTreatment { value: f64 },
    #[error("cluster: {found} cluster(s); cluster-robust errors need at least 2")]
    TooFewClusters { found: usize },
    #[error("{what}: collinear with the fixed effects or the other regressors")]
    Collinear { what: String },
    #[error(
        "treatment: it switches off for {units} unit(s) (e.g. unit {example} at time {time}); the event study needs an absorbing treatment"
    )]
    TreatmentSwitchesOff { units: usize, example: String, time: i64 },
    #[error(transparent)]
    NotConverged(#[from] NotConverged),
    #[error(transparent)]
    Worker(#[from] crate::parallel::WorkerPanicked),
}

pub(super) fn invalid(column: &str, message: impl Into<String>) -> DidError {
    DidError::InvalidInput { column: column.to_string(), message: message.into() }
}

/// Settings: which standard errors (cluster-robust by unit unless told), the level of the
/// intervals, and whether to estimate the event study.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DidSettings {
    pub se: SeKind,
    pub alpha: f64,
    pub event_study: bool,
    /// The event time left out as the reference (default -1, the last period before treatment).
    pub reference_period: i64,
    /// The wild cluster restricted bootstrap of the treatment coefficient (clusters as `se`'s).
    pub wild: Option<super::wild::WildSettings>,
    /// CR2 cluster-robust errors with Bell-McCaffrey degrees of freedom in place of CR1 (`se`
    /// must be `Cluster`).
    #[serde(default)]
    pub cr2: bool,
    /// With cluster-robust errors and few clusters (under 30, or under 10 treated), run the wild
    /// bootstrap even if not asked and make it the headline p-value and interval (the service
    /// turns this off when the user chose the errors).
    #[serde(default)]
    pub wild_when_few_clusters: bool,
    /// With the event study: HonestDiD's relative-magnitude bounds at these M̄ values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honest: Option<Vec<f64>>,
    /// With `honest`: the smoothness restriction's M values (`None`: honestdid's default grid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honest_m: Option<Vec<f64>>,
}

impl Default for DidSettings {
    fn default() -> Self {
        Self {
            se: SeKind::Cluster,
            alpha: 0.05,
            event_study: false,
            reference_period: -1,
            wild: None,
            cr2: false,
            wild_when_few_clusters: true,
            honest: None,
            honest_m: None,
        }
    }
}

/// A long panel: one row per unit and period.
#[derive(Debug, Clone)]
pub struct PanelInput {
    /// Unit codes 0..unit_labels.len().
    pub unit: Vec<u32>,
    pub unit_labels: Vec<String>,
    /// Integer periods (years, weeks, days since epoch...).
    pub time: Vec<i64>,
    pub outcome: Array1<f64>,
    /// The 0/1 treated-and-post indicator.
    pub treatment: Array1<f64>,
    /// Cluster codes and count; `None` clusters by unit.
    pub cluster: Option<(Vec<u32>, usize)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EventStudyPoint {
    pub relative_time: i64,
    pub att: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub n_obs: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DidResult {
    pub method: String,
    pub estimator: String,
    #[serde(flatten)]
    pub inference: Inference,
    pub n_units: usize,
    pub n_periods: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_clusters: Option<usize>,
    /// Clusters with at least one treated observation (with clustered standard errors). With
    /// one, no cluster-robust variance sees the treated cluster's variation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treated_clusters: Option<usize>,
    pub df: f64,
    pub balanced: bool,
    pub treated_units: usize,
    /// Units whose treatment goes from 1 back to 0 (TWFE then compares them with themselves).
    pub units_switching_off: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_study: Option<Vec<EventStudyPoint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_trend_f: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_trend_p_value: Option<f64>,
    /// The lead test's power against linear pre-trends (Roth 2022).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_trend_power: Option<super::pretrend::PretrendPower>,
    /// The 1-df test of a linear pre-trend (the slope of the leads), which runs where the joint
    /// test cannot: with as many leads as clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_trend_slope: Option<super::pretrend::PretrendSlope>,
    /// HonestDiD (`honest`): how far parallel trends may fail before the conclusion changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honest: Option<super::honest::HonestResult>,
    pub within_iterations: usize,
    /// The wild cluster restricted bootstrap (`se: wild`): `wild_bootstrap_p_value`,
    /// `wild_bootstrap_ci_low`, `wild_bootstrap_ci_high`, draws, whether enumerated, weights.
    #[serde(
        flatten,
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::inference::strict_wild"
    )]
    pub wild: Option<super::wild::WildResult>,
    /// Staggered adoption (two or more cohorts) on a balanced panel: the Goodman-Bacon
    /// decomposition of the coefficient into 2x2 comparisons (weights sum to one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bacon: Option<Vec<super::bacon::BaconTerm>>,
    /// Staggered adoption: the share and sum of negative weights TWFE puts on treated
    /// observations (de Chaisemartin-D'Haultfœuille).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_weights: Option<super::bacon::NegativeWeights>,
    /// Where the headline p-value and interval come from: absent or `t` (the standard error with
    /// t(df)), or `wild_bootstrap` (few clusters: the wild bootstrap's, at `wild_bootstrap_level`
    /// only; `std_error` stays the cluster-robust one).
    #[serde(default, skip_serializing_if = "Headline::is_t")]
    pub headline: Headline,
    pub warnings: Vec<String>,
}

/// Too few clusters for cluster-robust (CR1) t-tests: fewer than 30 clusters, or fewer than 10
/// of them treated (Cameron, Gelbach and Miller 2008; MacKinnon and Webb 2017, "The wild
/// bootstrap for few (treated) clusters"). The static DiD then reports the wild bootstrap.
pub fn few_clusters(clusters: usize, treated: usize) -> bool {
    clusters < 30 || treated < 10
}

/// How CR2 inference describes itself (its Bell-McCaffrey degrees of freedom are the
/// small-sample correction for few clusters).
pub const CR2_WORDS: &str = "cluster-robust CR2 (Bell-McCaffrey degrees of freedom)";

impl DidResult {
    /// The headline's p-value and interval are cluster-robust CR1 t ones over too few clusters
    /// ([`few_clusters`]; the warnings say to read them as too narrow): neither the wild
    /// bootstrap's nor CR2's. Whether the effect could be zero cannot be read from them.
    pub fn cr1_with_few_clusters(&self) -> bool {
        match (self.n_clusters, self.treated_clusters) {
            (Some(g), Some(t)) => {
                few_clusters(g, t)
                    && self.headline != Headline::WildBootstrap
                    && !self.inference.inference.starts_with(CR2_WORDS)
            }
            _ => false,
        }
    }
}

/// Where a DiD's headline p-value and interval come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Headline {
    /// The standard error with t(df).
    #[default]
    T,
    /// Few clusters: the wild cluster bootstrap's, at its own level only.
    WildBootstrap,
}

impl Headline {
    fn is_t(&self) -> bool {
        *self == Self::T
    }
}

pub(super) struct Checked {
    pub(super) time_codes: Vec<u32>,
    pub(super) periods: Vec<i64>,
    pub(super) n_units: usize,
    pub(super) balanced: bool,
}

pub(super) fn check(input: &PanelInput) -> Result<Checked, DidError> {
    let n = input.outcome.len();
    if n == 0 {
        return Err(invalid("outcome", "no rows"));
    }
    for (name, len) in [("unit", input.unit.len()), ("time", input.time.len()), ("treatment", input.treatment.len())] {
        if len != n {
            return Err(invalid(name, format!("has {len} rows; the outcome has {n}")));
        }
    }
    // the values checked while the periods are coded on the other core
    let (checked, (time_codes, periods)) = rayon::join(
        || {
            if let Some(i) = input.outcome.iter().position(|v| !v.is_finite()) {
                return Err(invalid("outcome", format!("row {}: not a finite number", i + 1)));
            }
            if let Some(i) = input.treatment.iter().position(|&v| v != 0.0 && v != 1.0) {
                return Err(invalid(
                    "treatment",
                    format!("row {}: must be 0 or 1 (got {})", i + 1, input.treatment[i]),
                ));
            }
            let first = input.treatment[0];
            if input.treatment.iter().all(|&v| v == first) {
                return Err(DidError::ConstantTreatment { value: first });
            }
            Ok(())
        },
        || crate::panel::factorize_int(&input.time),
    );
    checked?;
    let n_units = input.unit_labels.len();
    // Duplicate (unit, period) rows: a bitmap over the unit x period grid.
    let np = periods.len();
    let mut seen = vec![false; n_units * np];
    for (i, &tc) in time_codes.iter().enumerate() {
        let cell = input.unit[i] as usize * np + tc as usize;
        if std::mem::replace(&mut seen[cell], true) {
            return Err(invalid(
                "time",
                format!("unit {} has two rows for period {}", input.unit_labels[input.unit[i] as usize], input.time[i]),
            ));
        }
    }
    Ok(Checked { time_codes, balanced: n == n_units * np, periods, n_units })
}

/// First treated period per unit, and units whose treatment switches off (untreated in a period
/// after their first treated one). Two passes, no sorting.
pub(super) fn cohorts(input: &PanelInput) -> (Vec<Option<i64>>, Vec<(u32, i64)>) {
    let mut first: Vec<Option<i64>> = vec![None; input.unit_labels.len()];
    for i in 0..input.time.len() {
        if input.treatment[i] == 1.0 {
            let f = &mut first[input.unit[i] as usize];
            *f = Some(f.map_or(input.time[i], |v| v.min(input.time[i])));
        }
    }
    let mut off: Vec<Option<i64>> = vec![None; first.len()];
    for i in 0..input.time.len() {
        let u = input.unit[i] as usize;
        if let Some(g) = first[u] {
            if input.treatment[i] == 0.0 && input.time[i] > g {
                off[u] = Some(off[u].map_or(input.time[i], |v| v.min(input.time[i])));
            }
        }
    }
    let off = off.iter().enumerate().filter_map(|(u, t)| t.map(|t| (u as u32, t))).collect();
    (first, off)
}

/// The error for an event study (or a robust one) on a treatment that switches off.
pub(super) fn refuse_switch_offs(input: &PanelInput, switch_offs: &[(u32, i64)]) -> Result<(), DidError> {
    match switch_offs.first() {
        Some(&(u, t)) => Err(DidError::TreatmentSwitchesOff {
            units: switch_offs.len(),
            example: input.unit_labels[u as usize].clone(),
            time: t,
        }),
        None => Ok(()),
    }
}

/// A column of the regression, demeaned on its own core.
enum Column {
    Outcome,
    Treatment,
    EventTime(i64),
}

/// The wild bootstrap keeps a G x G matrix per draw: it is for few clusters.
pub const MAX_WILD_CLUSTERS: usize = 1000;

/// Two-way fixed effects DiD (and the event study when `settings.event_study`).
pub fn fit(input: &PanelInput, settings: &DidSettings) -> Result<DidResult, DidError> {
    if !(settings.alpha > 0.0 && settings.alpha < 1.0) {
        return Err(invalid("alpha", "must be between 0 and 1"));
    }
    let c = check(input)?;
    let n = input.outcome.len();
    let cluster: (&[u32], usize) = match &input.cluster {
        Some((ids, g)) => (ids, *g),
        None => (&input.unit, c.n_units),
    };
    if settings.se == SeKind::Cluster && cluster.1 < 2 {
        return Err(DidError::TooFewClusters { found: cluster.1 });
    }
    // Passes over the rows that do not depend on each other, on both cores.
    let n_periods = c.periods.len();
    let ((first_treated, switch_offs), (treated_clusters, fes)) = rayon::join(
        || cohorts(input),
        || {
            let fes = [FixedEffect::new(input.unit.clone(), c.n_units), FixedEffect::new(c.time_codes, n_periods)];
            (count_treated_clusters(cluster, &input.treatment), fes)
        },
    );
    let treated_units = first_treated.iter().filter(|f| f.is_some()).count();
    let few_clusters = settings.se == SeKind::Cluster && few_clusters(cluster.1, treated_clusters);

    // Regressors: the treatment, or one dummy per event time (reference left out).
    let mut names: Vec<String> = Vec::new();
    let mut rel: Vec<Option<i64>> = Vec::new();
    let mut rel_times: Vec<i64> = Vec::new();
    let mut work = vec![Column::Outcome];
    if settings.event_study {
        refuse_switch_offs(input, &switch_offs)?;
        rel = (0..n).map(|i| first_treated[input.unit[i] as usize].map(|g| input.time[i] - g)).collect();
        rel_times = rel.iter().flatten().copied().collect::<BTreeSet<_>>().into_iter().collect();
        rel_times.retain(|&r| r != settings.reference_period);
        for &r in &rel_times {
            names.push(format!("event_time[{r}]"));
            work.push(Column::EventTime(r));
        }
    } else {
        names.push("treatment".into());
        work.push(Column::Treatment);
    }

    // The outcome and each regressor built and demeaned on its own core (each column's sweeps
    // are the same as one after the other: the same numbers).
    let demeaned = crate::parallel::map(&work, |w| {
        let mut col: Array1<f64> = match *w {
            Column::Outcome => input.outcome.clone(),
            Column::Treatment => input.treatment.clone(),
            Column::EventTime(r) => rel.iter().map(|v| if *v == Some(r) { 1.0 } else { 0.0 }).collect(),
        };
        // a regressor's variation before the fixed effects take theirs (the outcome's is not needed)
        let before = match *w {
            Column::Outcome => f64::INFINITY,
            _ => crate::panel::centered_sum_of_squares(col.view()),
        };
        demean(col.view_mut(), &fes).map(|it| (col, it, before))
    })?;
    drop(rel);
    let not_identified = |column: usize| {
        if settings.event_study && first_treated.iter().all(Option::is_some) {
            // Fully dynamic TWFE needs a comparison group that is never treated.
            invalid(
                "treatment",
                "every unit is treated by the end, so the event-time effects are not identified against a never-treated group: \
                 use cohort with method imputation (not-yet-treated comparisons) or Callaway-Sant'Anna with control not-yet",
            )
        } else {
            DidError::Collinear { what: names[column].clone() }
        }
    };
    let mut iterations = 0;
    let mut cols: Vec<Array1<f64>> = Vec::with_capacity(demeaned.len());
    for (j, d) in demeaned.into_iter().enumerate() {
        let (col, it, before) = d?;
        // the unit and period effects absorbed it: no period compares treated and untreated rows
        // of units observed in other periods too
        if j > 0 && crate::panel::absorbed(before, col.view()) {
            return Err(not_identified(j - 1));
        }
        iterations = iterations.max(it);
        cols.push(col);
    }
    let y = cols.remove(0);
    // One regressor (the plain DiD) is used in place; event-study dummies are stacked.
    let stacked: Array2<f64>;
    let x = match cols.as_slice() {
        [one] => one.view().insert_axis(Axis(1)),
        _ => {
            stacked = linalg::stack_columns(&cols);
            stacked.view()
        }
    };
    let solved = ols::solve(x, y.view()).map_err(|s| not_identified(s.column))?;

    // Degrees of freedom counted as pyfixest's k_fixef = "nonnested".
    let k = cols.len();
    let mut dof_k = k + c.n_units + c.periods.len() - 1;
    if settings.se == SeKind::Cluster {
        for fe in &fes {
            if fe.nested_in(cluster.0) {
                dof_k = dof_k - fe.levels() + 1;
            }
        }
    }
    let cl = (settings.se == SeKind::Cluster).then_some(cluster);
    let mut fit = ols::covariance(x, &solved, settings.se, dof_k, cl);
    // Degrees of freedom per coefficient and for the overall estimate (CR2's differ).
    let post: Vec<usize> = (0..k).filter(|&j| settings.event_study && rel_times[j] >= 0).collect();
    let overall: Array1<f64> = if settings.event_study {
        (0..k).map(|j| if post.contains(&j) { 1.0 / post.len() as f64 } else { 0.0 }).collect()
    } else {
        Array1::from_elem(1, 1.0)
    };
    let mut coef_df = vec![fit.df; k];
    let mut overall_df = fit.df;
    let mut se_words = settings.se.describe().to_string();
    if settings.cr2 {
        if settings.se != SeKind::Cluster || settings.wild.is_some() {
            return Err(invalid("se", "cr2: cluster-robust CR2 replaces CR1; it does not combine with other errors"));
        }
        let raw: Vec<Array1<f64>> = if settings.event_study {
            rel_times
                .iter()
                .map(|&r| {
                    (0..n)
                        .map(|i| {
                            let rel = first_treated[input.unit[i] as usize].map(|g| input.time[i] - g);
                            if rel == Some(r) {
                                1.0
                            } else {
                                0.0
                            }
                        })
                        .collect()
                })
                .collect()
        } else {
            vec![input.treatment.clone()]
        };
        let mut contrasts: Vec<Array1<f64>> =
            (0..k).map(|j| Array1::from_shape_fn(k, |i| if i == j { 1.0 } else { 0.0 })).collect();
        contrasts.push(overall.clone());
        let problem = super::cr2::Problem {
            names: &names,
            x: &raw,
            y: &input.outcome,
            fes: &fes,
            cluster: cluster.0,
            n_clusters: cluster.1,
        };
        let c2 = super::cr2::fit(&problem, &contrasts).map_err(|e| match e {
            super::cr2::Cr2Error::TooLarge(m) => invalid("se", format!("cr2: {m}")),
            super::cr2::Cr2Error::Collinear(what) => DidError::Collinear { what },
            super::cr2::Cr2Error::NotConverged(e) => DidError::NotConverged(e),
        })?;
        fit.vcov = c2.vcov;
        coef_df = c2.df[..k].to_vec();
        overall_df = c2.df[k];
        fit.df = overall_df;
        se_words = CR2_WORDS.into();
    }
    let tcrit = dist::t_critical(settings.alpha, overall_df);
    let auto_wild = (settings.wild.is_none()
        && settings.wild_when_few_clusters
        && few_clusters
        && !settings.event_study
        && !settings.cr2
        && cluster.1 <= MAX_WILD_CLUSTERS)
        .then(super::wild::WildSettings::default);
    let wild = match settings.wild.as_ref().or(auto_wild.as_ref()) {
        None => None,
        Some(_) if settings.event_study => {
            return Err(invalid(
                "se",
                "wild: the wild bootstrap tests the treatment coefficient; run it without event_study",
            ))
        }
        Some(_) if cluster.1 > MAX_WILD_CLUSTERS => {
            return Err(invalid(
                "se",
                format!(
                "wild: {} clusters; the wild bootstrap is for few clusters (at most {MAX_WILD_CLUSTERS}): use cluster",
                cluster.1
            ),
            ))
        }
        Some(w) => {
            let (xs, ys) = (cols[0].as_slice(), y.as_slice());
            let (Some(xs), Some(ys)) = (xs, ys) else {
                return Err(invalid("se", "wild: internal layout"));
            };
            let problem = super::wild::Problem {
                x: xs,
                y: ys,
                fes: &fes,
                cluster: cluster.0,
                n_clusters: cluster.1,
                beta: fit.coef[0],
                se: fit.se(0),
            };
            Some(super::wild::bootstrap(&problem, w, settings.alpha)?)
        }
    };

    let mut warnings = Vec::new();
    if !switch_offs.is_empty() {
        warnings.push(format!(
            "treatment switches off for {} unit(s); the TWFE coefficient then averages switch-on and switch-off effects",
            switch_offs.len()
        ));
    }
    if !c.balanced {
        warnings.push("the panel is unbalanced; fixed effects absorbed by alternating projections".into());
    }
    // Staggered adoption: what the static coefficient averages.
    let cohorts_n = first_treated.iter().flatten().collect::<BTreeSet<_>>().len();
    let (bacon, negative_weights) = if !settings.event_study && cohorts_n >= 2 && switch_offs.is_empty() {
        let treated: Vec<bool> = input.treatment.iter().map(|&d| d == 1.0).collect();
        let neg = cols[0].as_slice().and_then(|x| super::bacon::negative_weights(x, &treated));
        let bacon = if c.balanced {
            let np = c.periods.len();
            let mut wide = vec![vec![0.0; np]; c.n_units];
            for i in 0..n {
                wide[input.unit[i] as usize][fes[1].codes[i] as usize] = input.outcome[i];
            }
            let first: Vec<Option<usize>> =
                first_treated.iter().map(|f| f.and_then(|g| c.periods.binary_search(&g).ok())).collect();
            super::bacon::decompose(&super::bacon::Wide { y: &wide, first: &first, periods: &c.periods })
        } else {
            None
        };
        let later: f64 = bacon.iter().flatten().filter(|t| t.kind == "later_vs_earlier").map(|t| t.weight).sum();
        let neg_share = neg.as_ref().map_or(0.0, |n| n.share);
        warnings.push(format!(
            "staggered adoption ({cohorts_n} cohorts): the TWFE coefficient averages 2x2 comparisons{}{}; if effects change over time it is biased: use a heterogeneity-robust estimator (cohort with Callaway-Sant'Anna, or method sun-abraham or imputation)",
            if bacon.is_some() {
                format!(", {:.0}% of the weight on later-treated units compared with already-treated ones", 100.0 * later)
            } else {
                " (the decomposition needs a balanced panel)".into()
            },
            if neg_share > 0.0 {
                format!(", and puts negative weights on {:.0}% of treated observations", 100.0 * neg_share)
            } else {
                String::new()
            }
        ));
        (bacon, neg)
    } else {
        (None, None)
    };
    if settings.se == SeKind::Cluster {
        if few_clusters {
            warnings.push(format!(
                "few clusters: {} clusters, {treated_clusters} of them treated; cluster-robust t-tests over-reject here \
                 (in simulations with 1 treated cluster of 20, a 5% test rejected a true null 64% of the time){}",
                cluster.1,
                if wild.is_some() {
                    "; the p-value and interval reported are the wild cluster bootstrap's"
                } else if settings.event_study {
                    ": the event study has no bootstrap; read its intervals as too narrow"
                } else {
                    ": use se wild (the wild cluster bootstrap)"
                }
            ));
        }
        if treated_clusters == 1 {
            warnings.push(
                "one treated cluster: its residuals are orthogonal to the treatment, so no cluster-robust standard error (CR1 or CR2) measures its variation; the wild bootstrap is conservative here: treat any p-value as unreliable".into(),
            );
        }
    }

    let mut pre_power = None;
    let mut pre_slope = None;
    let mut honest_out = None;
    if settings.honest.is_some() && !settings.event_study {
        return Err(invalid("honest", "HonestDiD bounds an event study: run with event_study"));
    }
    let (estimate, std_error, event_study, pre_f, pre_p) = if settings.event_study {
        let mut points = Vec::with_capacity(k);
        for (j, &r) in rel_times.iter().enumerate() {
            let (b, se) = (fit.coef[j], fit.se(j));
            let n_obs = cols_nonzero(input, &first_treated, r);
            let tj = dist::t_critical(settings.alpha, coef_df[j]);
            points.push(EventStudyPoint {
                relative_time: r,
                att: b,
                std_error: se,
                ci_low: b - tj * se,
                ci_high: b + tj * se,
                p_value: dist::t_p_value(b / se, coef_df[j]),
                n_obs,
            });
        }
        // Joint test that every lead (event time < reference) is zero: Wald / q ~ F(q, df).
        let leads: Vec<usize> = (0..k).filter(|&j| rel_times[j] < settings.reference_period).collect();
        let (pre_f, pre_p) = if leads.is_empty() {
            (None, None)
        } else {
            let v = linalg::submatrix(fit.vcov.view(), &leads);
            let b: Array1<f64> = leads.iter().map(|&j| fit.coef[j]).collect();
            match linalg::quad_form_inv(v.view(), b.view()) {
                Ok(w) => {
                    let q = leads.len() as f64;
                    (Some(w / q), Some(dist::f_p_value(w / q, q, fit.df)))
                }
                Err(_) => {
                    let clusters = fit.n_clusters.map_or(String::new(), |g| format!(", {g} clusters"));
                    warnings.push(format!(
                        "the pre-trend covariance is singular ({} leads{clusters}); no joint test of the leads",
                        leads.len()
                    ));
                    (None, None)
                }
            }
        };
        // The overall estimate: the equally weighted average of the post-treatment event times.
        let est = overall.dot(&fit.coef);
        let var = overall.dot(&fit.vcov.dot(&overall));
        pre_power =
            super::pretrend::power(&rel_times, &fit.vcov, &overall, settings.reference_period, est, settings.alpha);
        pre_slope = super::pretrend::slope_test(
            &rel_times,
            &fit.coef,
            &fit.vcov,
            &overall,
            settings.reference_period,
            est,
            fit.df,
            settings.alpha,
        );
        if let Some(mbars) = &settings.honest {
            honest_out =
                Some(honest_bounds(&rel_times, &fit.coef, &fit.vcov, settings, mbars, settings.honest_m.as_deref())?);
        }
        (est, var.max(0.0).sqrt(), Some(points), pre_f, pre_p)
    } else {
        (fit.coef[0], fit.se(0), None, None, None)
    };

    let estimator = if settings.event_study {
        "event_study"
    } else if c.periods.len() == 2 {
        "2x2"
    } else {
        "twfe"
    };
    let mut inference = Inference::with_interval(
        estimate,
        std_error,
        tcrit,
        dist::t_p_value(estimate / std_error, overall_df),
        n,
        format!("{se_words}; t with {} df", round_df(overall_df)),
    );
    let mut headline = Headline::T;
    if let (Some(w), true) = (&wild, few_clusters) {
        inference.p_value = Some(w.p_value);
        inference.ci_low = w.ci_low;
        inference.ci_high = w.ci_high;
        inference.inference = format!(
            "wild cluster restricted bootstrap ({} weights, {} draws{}): p-value and interval by test inversion at {}%; std_error is {se_words}",
            match w.weights {
                super::wild::WildWeights::Rademacher => "Rademacher",
                super::wild::WildWeights::Webb => "Webb",
            },
            w.draws,
            if w.enumerated { ", every sign vector" } else { "" },
            round_df(100.0 * w.level)
        );
        headline = Headline::WildBootstrap;
    }
    Ok(DidResult {
        method: "did".into(),
        estimator: estimator.into(),
        inference,
        n_units: c.n_units,
        n_periods: c.periods.len(),
        n_clusters: fit.n_clusters,
        treated_clusters: fit.n_clusters.map(|_| treated_clusters),
        df: fit.df,
        balanced: c.balanced,
        treated_units,
        units_switching_off: switch_offs.len(),
        event_study,
        pre_trend_f: pre_f,
        pre_trend_p_value: pre_p,
        pre_trend_power: pre_power,
        pre_trend_slope: pre_slope,
        honest: honest_out,
        within_iterations: iterations,
        wild,
        bacon,
        negative_weights,
        headline,
        warnings,
    })
}

crate::impl_estimate!(DidResult);

/// The clusters (ids, count) with at least one treated observation.
pub(crate) fn count_treated_clusters(cluster: (&[u32], usize), treatment: &ndarray::Array1<f64>) -> usize {
    let mut treated = vec![false; cluster.1];
    for (&g, &d) in cluster.0.iter().zip(treatment) {
        if d == 1.0 {
            treated[g as usize] = true;
        }
    }
    treated.iter().filter(|t| **t).count()
}

/// The most M̄ values one request may ask for, and the largest.
pub const MAX_HONEST_MBARS: usize = 10;
pub const MAX_HONEST_MBAR: f64 = 20.0;

/// HonestDiD's relative-magnitude bounds and smoothness FLCIs for the average of the
/// post-period coefficients (the reported estimate), and their breakdown values.
fn honest_bounds(
    rel: &[i64],
    coef: &Array1<f64>,
    vcov: &Array2<f64>,
    settings: &DidSettings,
    mbars: &[f64],
    ms: Option<&[f64]>,
) -> Result<super::honest::HonestResult, DidError> {
    if mbars.is_empty() || mbars.len() > MAX_HONEST_MBARS {
        return Err(invalid("mbar", format!("give 1 to {MAX_HONEST_MBARS} values")));
    }
    if let Some(m) = mbars.iter().find(|m| !(m.is_finite() && **m >= 0.0 && **m <= MAX_HONEST_MBAR)) {
        return Err(invalid("mbar", format!("{m}: each M-bar must be between 0 and {MAX_HONEST_MBAR}")));
    }
    if let Some(ms) = ms {
        if ms.is_empty() || ms.len() > super::honest_sd::MAX_SD_MS {
            return Err(invalid("m", format!("give 1 to {} values", super::honest_sd::MAX_SD_MS)));
        }
        if let Some(m) = ms.iter().find(|m| !(m.is_finite() && **m >= 0.0)) {
            return Err(invalid("m", format!("{m}: each M must be a finite number, 0 or more (the outcome's units)")));
        }
    }
    if settings.reference_period != -1 {
        return Err(invalid("honest", "HonestDiD needs the reference period -1"));
    }
    let pre = rel.iter().filter(|&&r| r < -1).count();
    let post = rel.iter().filter(|&&r| r >= 0).count();
    let consecutive = rel.iter().enumerate().all(|(i, &r)| {
        let want = if i < pre { i as i64 - pre as i64 - 1 } else { (i - pre) as i64 };
        r == want
    });
    if pre == 0 || post == 0 || !consecutive {
        return Err(invalid(
            "honest",
            "HonestDiD needs at least one lead before -1, at least one lag, and consecutive event times",
        ));
    }

    let l = Array1::from_elem(post, 1.0 / post as f64);
    let hs = super::honest::HonestSettings { mbars: mbars.to_vec(), alpha: settings.alpha, ..Default::default() };
    let bounds =
        super::honest::relative_magnitudes(coef, vcov, pre, post, &l, &hs).map_err(|m| invalid("honest", m))?;
    let max = 10.0;
    let breakdown = super::honest::breakdown(coef, vcov, pre, post, &l, &hs, max);
    let ms = match ms {
        Some(ms) => ms.to_vec(),
        None => super::honest_sd::default_ms(coef, vcov, pre),
    };
    let smoothness = super::honest_sd::smoothness(coef, vcov, pre, post, &l, &ms, settings.alpha)
        .map_err(|m| invalid("honest", m))?;
    // Searched up to ten times the largest M shown (honestdid's default grid ends at a bound on
    // the pre-periods' own second differences).
    let m_max = 10.0 * ms.iter().copied().fold(0.0, f64::max);
    let breakdown_m = super::honest_sd::breakdown(coef, vcov, pre, post, &l, settings.alpha, m_max);
    Ok(super::honest::HonestResult {
        target: format!("the average of the {post} post-period event-time effects (the reported estimate)"),
        relative_magnitudes: bounds,
        breakdown_mbar: breakdown,
        breakdown_search_max: max,
        smoothness,
        breakdown_m,
        breakdown_m_search_max: m_max,
        method: "relative magnitudes (Rambachan-Roth): conditional least-favourable hybrid (ARP), honestdid 0.1.1's defaults; \
                 smoothness: the optimal fixed-length confidence interval (Armstrong-Kolesar), honestdid's default for it"
            .into(),
    })
}

/// Whole degrees of freedom as they are; Satterthwaite's to two decimals.
fn round_df(df: f64) -> f64 {
    if df.fract() == 0.0 {
        df
    } else {
        (df * 100.0).round() / 100.0
    }
}

fn cols_nonzero(input: &PanelInput, first: &[Option<i64>], r: i64) -> usize {
    (0..input.time.len()).filter(|&i| first[input.unit[i] as usize].map(|g| input.time[i] - g) == Some(r)).count()
}
