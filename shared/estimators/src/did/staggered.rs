//! Callaway and Sant'Anna (2021): group-time average treatment effects under staggered adoption,
//! with never-treated or not-yet-treated controls; doubly robust (Sant'Anna and Zhao 2020),
//! inverse probability weighting or outcome regression, optional covariates; the simple, group,
//! calendar and dynamic aggregations with analytic (influence-function) standard errors, a
//! multiplier bootstrap with a seed, and a simultaneous (sup-t) band over the event study.
//!
//! Follows R `did` 2.x / Python `csdid` 0.4.3: a "varying" base period (t-1 before treatment,
//! g-1 from treatment on), covariates taken at the base period, the influence functions of
//! DRDID's `drdid_panel` / `std_ipw_did_panel` / `reg_did_panel`, and the aggregation weights'
//! own estimation effect in the aggregated standard errors.
//!
//! An unbalanced panel (a unit missing some periods) is estimated as R did's
//! `allow_unbalanced_panel = TRUE` does: each ATT(g,t) from the rows present in its two periods
//! with DRDID's repeated-cross-section estimators (`two_by_two_rc`; each row's covariates at its
//! own period; without covariates they all reduce to the difference of four means, `four_means`),
//! each row's influence function scaled by n / rows and summed within its unit, so a unit seen in
//! both periods is one draw. Without covariates on a balanced panel this is exactly the panel
//! estimator.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use super::twfe::DidError;
use crate::columns::Columns;
use crate::inference::Inference;
use crate::logit;
use crate::rng::Rng;
use crate::{dist, linalg, ols};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ControlGroup {
    NeverTreated,
    NotYetTreated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CsMethod {
    Dr,
    Ipw,
    Reg,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Bootstrap {
    pub draws: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CsSettings {
    pub control: ControlGroup,
    pub method: CsMethod,
    pub alpha: f64,
    pub bootstrap: Option<Bootstrap>,
    /// Periods before the first treated one in which units may already react (R did's
    /// `anticipation`): the comparisons use the last period before them.
    #[serde(default)]
    pub anticipation: usize,
    /// Pre-period cells compared with the period before (`varying`, R's default) or all with
    /// the last unaffected period (`universal`).
    #[serde(default)]
    pub base_period: BasePeriod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BasePeriod {
    #[default]
    Varying,
    Universal,
}

impl Default for CsSettings {
    fn default() -> Self {
        Self {
            control: ControlGroup::NeverTreated,
            method: CsMethod::Dr,
            alpha: 0.05,
            bootstrap: None,
            anticipation: 0,
            base_period: BasePeriod::Varying,
        }
    }
}

/// A long panel with each unit's first treated period (0 or `None`: never treated); balanced or
/// not.
#[derive(Debug, Clone)]
pub struct CsInput {
    pub unit: Vec<u32>,
    pub unit_labels: Vec<String>,
    pub time: Vec<i64>,
    pub outcome: Array1<f64>,
    pub cohort: Vec<Option<i64>>,
    /// Named covariates (values at the base period are used).
    pub covariates: Columns,
    /// Clusters above the unit (codes per row and their number; constant within a unit): the
    /// influence functions are summed within clusters for the standard errors, the multiplier
    /// bootstrap draws one weight per cluster (R did's `clustervars`). `None`: by unit.
    pub cluster: Option<(Vec<u32>, usize)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GroupTime {
    pub group: i64,
    pub time: i64,
    pub base_period: i64,
    pub att: f64,
    pub std_error: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_std_error: Option<f64>,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n_treated: usize,
    pub n_control: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AggPoint {
    /// The group, calendar period or event time.
    pub key: i64,
    pub att: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_std_error: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Aggregate {
    pub att: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_std_error: Option<f64>,
    pub points: Vec<AggPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EventPoint {
    pub relative_time: i64,
    pub att: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// The simultaneous band over every event time: att ± uniform_critical_value × the scale
    /// (the standard error; with `bootstrap`, the bootstrap scale as R did's `cband`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform_ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform_ci_high: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CsResult {
    pub method: String,
    pub estimator: String,
    /// The simple aggregation: the average of post-treatment ATT(g,t) weighted by group size.
    #[serde(flatten)]
    pub inference: Inference,
    pub n_units: usize,
    pub control_group: ControlGroup,
    pub estimation_method: CsMethod,
    pub covariates: Vec<String>,
    pub group_time: Vec<GroupTime>,
    pub event_study: Vec<EventPoint>,
    /// The sup-t critical value of the event study's uniform band: from normal draws with the
    /// estimated covariance (plug-in sup-t), or from the multiplier bootstrap when one is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform_critical_value: Option<f64>,
    /// Draws behind the uniform band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform_draws: Option<usize>,
    pub aggregations: BTreeMap<String, Aggregate>,
    /// Every unit has a row for every period (otherwise the unbalanced-panel estimator ran).
    #[serde(default = "yes")]
    pub balanced: bool,
    /// With clusters above the unit: how many (among the units kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_clusters: Option<usize>,
    /// Wald test that every pre-treatment ATT(g,t) is zero (chi-squared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_trend_p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_trend_chi2: Option<f64>,
    pub warnings: Vec<String>,
}

fn yes() -> bool {
    true
}

fn invalid(column: &str, message: impl Into<String>) -> DidError {
    DidError::InvalidInput { column: column.to_string(), message: message.into() }
}

/// The wide panel: unit x period.
struct Wide {
    /// Every unit has a row for every period.
    balanced: bool,
    /// Each unit's cluster code (when clustered above the unit).
    cluster: Option<Vec<u32>>,
    periods: Vec<i64>,
    /// unit x period
    y: Array2<f64>,
    /// per covariate, unit x period
    x: Vec<Array2<f64>>,
    cohort: Vec<i64>,
}

fn widen(input: &CsInput) -> Result<(Wide, Vec<String>), DidError> {
    let n = input.outcome.len();
    for (name, len) in [("unit", input.unit.len()), ("time", input.time.len()), ("cohort", input.cohort.len())] {
        if len != n {
            return Err(invalid(name, format!("has {len} rows; the outcome has {n}")));
        }
    }
    if let Some(i) = input.outcome.iter().position(|v| !v.is_finite()) {
        return Err(invalid("outcome", format!("row {}: not a finite number", i + 1)));
    }
    if !input.covariates.is_empty() && input.covariates.n() != n {
        return Err(invalid(
            &input.covariates.names()[0],
            format!("has {} rows; the outcome has {n}", input.covariates.n()),
        ));
    }
    if let Some((name, row)) = input.covariates.first_non_finite() {
        return Err(invalid(name, format!("row {row}: not a finite number")));
    }
    let periods: Vec<i64> = input.time.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    if periods.len() < 2 {
        return Err(invalid("time", "needs at least two periods"));
    }
    let pidx: HashMap<i64, usize> = periods.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let nu = input.unit_labels.len();
    let np = periods.len();
    let mut y = Array2::from_elem((nu, np), f64::NAN);
    let mut x = vec![Array2::from_elem((nu, np), f64::NAN); input.covariates.k()];
    let mut cohort: Vec<Option<Option<i64>>> = vec![None; nu];
    let mut unit_cluster: Option<Vec<Option<u32>>> = match &input.cluster {
        Some((codes, _)) if codes.len() != n => {
            return Err(invalid("cluster", format!("has {} rows; the outcome has {n}", codes.len())))
        }
        Some(_) => Some(vec![None; nu]),
        None => None,
    };
    for i in 0..n {
        let (u, p) = (input.unit[i] as usize, pidx[&input.time[i]]);
        if !y[[u, p]].is_nan() {
            return Err(invalid(
                "time",
                format!("unit {} has two rows for period {}", input.unit_labels[u], input.time[i]),
            ));
        }
        y[[u, p]] = input.outcome[i];
        if let (Some(uc), Some((codes, _))) = (unit_cluster.as_mut(), &input.cluster) {
            match uc[u] {
                None => uc[u] = Some(codes[i]),
                Some(c) if c != codes[i] => {
                    return Err(invalid(
                        "cluster",
                        format!(
                            "unit {} is in more than one cluster: clusters must contain whole units (a unit's cluster cannot change over time)",
                            input.unit_labels[u]
                        ),
                    ))
                }
                _ => {}
            }
        }
        for (c, (_, col)) in input.covariates.iter().enumerate() {
            x[c][[u, p]] = col[i];
        }
        let g = input.cohort[i].filter(|&g| g != 0);
        match cohort[u] {
            None => cohort[u] = Some(g),
            Some(prev) if prev != g => {
                return Err(invalid(
                    "cohort",
                    format!("unit {} has more than one first-treated period", input.unit_labels[u]),
                ))
            }
            _ => {}
        }
    }
    let missing = y.iter().filter(|v| v.is_nan()).count();
    let mut warnings = Vec::new();
    if missing > 0 {
        warnings.push(format!(
            "the panel is unbalanced ({missing} of {} unit-periods missing): each ATT(g,t) compares the rows present in its two periods \
             (R did's allow_unbalanced_panel), which no longer differences out each unit's level; expect wider intervals than \
             on a balanced panel",
            y.len()
        ));
    }
    let last = periods[np - 1];
    let first = periods[0];
    let mut late = 0;
    let mut always = 0;
    let cohort: Vec<i64> = cohort
        .into_iter()
        .map(|g| match g.flatten() {
            Some(g) if g > last => {
                late += 1;
                0
            }
            Some(g) if g <= first => {
                always += 1;
                -1
            }
            Some(g) => g,
            None => 0,
        })
        .collect();
    if late > 0 {
        warnings.push(format!("{late} unit(s) first treated after the last period are used as never treated"));
    }
    if always > 0 {
        warnings.push(format!("{always} unit(s) treated in the first period are dropped (no pre-treatment period)"));
    }
    let cluster = unit_cluster.map(|uc| uc.into_iter().map(|c| c.unwrap_or(u32::MAX)).collect());
    Ok((Wide { balanced: missing == 0, cluster, periods, y, x, cohort }, warnings))
}

/// DRDID's trimming (R DRDID ≥ 1.0, `trim.level = 0.995`; csdid's `drdid_trim`): controls with
/// a propensity of 0.995 or more get no weight (they would dominate the reweighted control mean).
pub const TRIM_LEVEL: f64 = 0.995;

/// Fewer units (or clusters) than this: a warning that the influence-function standard errors,
/// large-sample ones, can understate the uncertainty (`callaway_santanna_with_few_units_warns_and_under_covers`
/// in the simulation tests measures it at 12 units).
const FEW_UNITS: usize = 30;

fn keep_controls(p: &Array1<f64>, d: &Array1<f64>) -> Array1<f64> {
    p.iter().zip(d).map(|(&p, &d)| if d == 0.0 && p >= TRIM_LEVEL { 0.0 } else { 1.0 }).collect()
}

/// Outcome regression of `y` on `cov` over the rows where `mask` is 1: the fitted values for every
/// row and the asymptotic linear representation of the coefficients, mask·e·X (X' mask X / n)⁻¹.
/// `what` follows "outcome regression" in errors.
fn masked_regression(
    cov: &Array2<f64>,
    y: &Array1<f64>,
    mask: &Array1<f64>,
    what: &str,
) -> Result<(Array1<f64>, Array2<f64>), String> {
    let nf = y.len() as f64;
    let rows: Vec<usize> = (0..y.len()).filter(|&i| mask[i] == 1.0).collect();
    let cx = cov.select(Axis(0), &rows);
    let cy = y.select(Axis(0), &rows);
    let fit = ols::solve(cx.view(), cy.view())
        .map_err(|e| format!("outcome regression{what}: covariate {} collinear", e.column))?;
    let fitted = cov.dot(&fit.coef);
    let inv = linalg::inv_spd((linalg::crossprod(cx.view()) / nf).view())
        .map_err(|_| format!("outcome regression{what}: singular design"))?;
    let e = mask * &(y - &fitted);
    let alr = (cov * &e.view().insert_axis(Axis(1))).dot(&inv);
    Ok((fitted, alr))
}

/// Propensity score: logit of D on X, capped at 1 − 1e-6, and the asymptotic linear
/// representation of its coefficients.
fn propensity(cov: &Array2<f64>, d: &Array1<f64>) -> Result<(Array1<f64>, Array2<f64>), String> {
    let f = logit::fit(cov.view(), d.view()).map_err(|e| format!("propensity score: {e}"))?;
    let p = f.p.mapv(|p| p.min(1.0 - 1e-6));
    let r = d - &p;
    let alr = (cov * &r.view().insert_axis(Axis(1))).dot(&f.hessian_inv_n);
    Ok((p, alr))
}

/// One 2x2 comparison: ATT and its influence function on the subsample. `xs` are the
/// covariates (n x k, possibly none).
pub(crate) fn two_by_two(
    dy: ArrayView1<f64>,
    d: ArrayView1<f64>,
    xs: ArrayView2<f64>,
    method: CsMethod,
) -> Result<(f64, Array1<f64>), String> {
    let n = dy.len();
    let nf = n as f64;
    if xs.ncols() == 0 {
        // Without covariates the propensity score is the treated share and the outcome model the
        // control mean: DR, IPW and regression all reduce to a difference in mean changes, with
        // influence function D/p (ΔY - μ₁) - (1-D)/(1-p) (ΔY - μ₀).
        let n1 = d.sum();
        let p = n1 / nf;
        let (mut s1, mut s0) = (0.0, 0.0);
        for (&y, &di) in dy.iter().zip(d) {
            if di == 1.0 {
                s1 += y;
            } else {
                s0 += y;
            }
        }
        let (mu1, mu0) = (s1 / n1, s0 / (nf - n1));
        let inf =
            dy.iter().zip(d).map(|(&y, &di)| if di == 1.0 { (y - mu1) / p } else { -(y - mu0) / (1.0 - p) }).collect();
        return Ok((mu1 - mu0, inf));
    }
    let mean = |v: &Array1<f64>| v.sum() / nf;
    let cov = linalg::with_intercept(xs);
    let untreated = d.mapv(|v| 1.0 - v);

    // Outcome regression on the controls: ΔY ~ X; its fitted values for everyone and the
    // asymptotic linear representation of the coefficients, (1-D) e X (X'(1-D)X/n)⁻¹.
    // Column means of X weighted by w: (1/n) X'w.
    let wmean = |w: &Array1<f64>| cov.t().dot(w) / nf;
    let dy = dy.to_owned();
    let d = d.to_owned();
    // Outcome regression on the controls: ΔY ~ X.
    let or_fit = || masked_regression(&cov, &dy, &untreated, "");
    let ps_fit = || propensity(&cov, &d);

    match method {
        CsMethod::Reg => {
            let (fitted, alr) = or_fit()?;
            let mt = mean(&d);
            let eta_t = mean(&(&d * &dy)) / mt;
            let eta_c = mean(&(&d * &fitted)) / mt;
            let m1 = wmean(&d);
            let inf_t = (&d * &dy - &d * eta_t) / mt;
            let inf_c = (&d * &fitted - &d * eta_c + alr.dot(&m1)) / mt;
            Ok((eta_t - eta_c, inf_t - inf_c))
        }
        CsMethod::Ipw => {
            let (p, alr) = ps_fit()?;
            let wt = d.clone();
            let wc = &(&p * &untreated / p.mapv(|p| 1.0 - p)) * &keep_controls(&p, &d);
            let (mwt, mwc) = (mean(&wt), mean(&wc));
            let eta_t = mean(&(&wt * &dy)) / mwt;
            let eta_c = mean(&(&wc * &dy)) / mwc;
            let m2 = wmean(&(&wc * &dy.mapv(|v| v - eta_c)));
            let inf_t = (&wt * &dy - &wt * eta_t) / mwt;
            let inf_c = (&wc * &dy - &wc * eta_c + alr.dot(&m2)) / mwc;
            Ok((eta_t - eta_c, inf_t - inf_c))
        }
        CsMethod::Dr => {
            let (p, ps_alr) = ps_fit()?;
            let (fitted, or_alr) = or_fit()?;
            let wt = d.clone();
            let wc = &(&p * &untreated / p.mapv(|p| 1.0 - p)) * &keep_controls(&p, &d);
            let (mwt, mwc) = (mean(&wt), mean(&wc));
            let r = &dy - &fitted;
            let eta_t = mean(&(&wt * &r)) / mwt;
            let eta_c = mean(&(&wc * &r)) / mwc;
            let m1 = wmean(&wt);
            let m2 = wmean(&(&wc * &r.mapv(|v| v - eta_c)));
            let m3 = wmean(&wc);
            let inf_t = (&wt * &r - &wt * eta_t - or_alr.dot(&m1)) / mwt;
            let inf_c = (&wc * &r - &wc * eta_c + ps_alr.dot(&m2) - or_alr.dot(&m3)) / mwc;
            Ok((eta_t - eta_c, inf_t - inf_c))
        }
    }
}

/// Units' clusters: a code 0..g per kept unit.
struct Clusters {
    code: Vec<usize>,
    g: usize,
}

impl Clusters {
    /// The influence function summed within each cluster.
    fn sums(&self, inf: &Array1<f64>) -> Array1<f64> {
        let mut s = Array1::zeros(self.g);
        for (i, v) in inf.iter().enumerate() {
            s[self.code[i]] += v;
        }
        s
    }
}

/// The 2x2 comparison on rows (R DRDID's repeated-cross-section estimators, as csdid 0.4.3's
/// `reg_did_rc`, `std_ipw_did_rc` and `drdid_rc` with unit weights): `y` the outcome of each row,
/// `post` 1 in the later period, `d` 1 for the cohort, `xs` the row's own covariates. Returns the
/// ATT and each row's influence function. The propensity score is a logit over all rows (capped
/// at 1 − 1e-6, controls at 0.995 or more trimmed, as the panel estimators); the outcome
/// regressions are fitted on each (group, period) cell's rows.
pub(crate) fn two_by_two_rc(
    y: ArrayView1<f64>,
    post: ArrayView1<f64>,
    d: ArrayView1<f64>,
    xs: ArrayView2<f64>,
    method: CsMethod,
) -> Result<(f64, Array1<f64>), String> {
    let n = y.len();
    let nf = n as f64;
    let y = y.to_owned();
    let post = post.to_owned();
    let d = d.to_owned();
    let cov = linalg::with_intercept(xs);
    let mean = |v: &Array1<f64>| v.sum() / nf;
    let wmean = |w: &Array1<f64>| cov.t().dot(w) / nf;
    let ones = Array1::<f64>::ones(n);
    let pre = &ones - &post;
    let untreated = &ones - &d;
    // Outcome regression on the rows of `mask`: fitted values for every row and the asymptotic
    // linear representation of its coefficients, mask e X (X' mask X / n)⁻¹.
    let or_fit = |mask: &Array1<f64>, what: &str| masked_regression(&cov, &y, mask, &format!(" ({what})"));
    let ps_fit = || propensity(&cov, &d);
    let positive = |ws: &[&Array1<f64>]| -> Result<(), String> {
        if ws.iter().any(|w| w.sum() <= 0.0) {
            Err("a group has no weight in one of the two periods (every control trimmed?)".into())
        } else {
            Ok(())
        }
    };
    match method {
        CsMethod::Reg => {
            let (out_pre, alr_pre) = or_fit(&(&untreated * &pre), "controls, base period")?;
            let (out_post, alr_post) = or_fit(&(&untreated * &post), "controls, later period")?;
            let w_tpre = &d * &pre;
            let w_tpost = &d * &post;
            positive(&[&w_tpre, &w_tpost])?;
            let eta_tpre = mean(&(&w_tpre * &y)) / mean(&w_tpre);
            let eta_tpost = mean(&(&w_tpost * &y)) / mean(&w_tpost);
            let cont = &d * &(&out_post - &out_pre);
            let eta_cont = mean(&cont) / mean(&d);
            let att = eta_tpost - eta_tpre - eta_cont;
            let inf_tpre = (&w_tpre * &y - &w_tpre * eta_tpre) / mean(&w_tpre);
            let inf_tpost = (&w_tpost * &y - &w_tpost * eta_tpost) / mean(&w_tpost);
            let moment = wmean(&d);
            let inf_cont = (&cont - &(&d * eta_cont) + alr_post.dot(&moment) - alr_pre.dot(&moment)) / mean(&d);
            Ok((att, inf_tpost - inf_tpre - inf_cont))
        }
        CsMethod::Ipw => {
            let (p, alr_ps) = ps_fit()?;
            let keep = keep_controls(&p, &d);
            let odds = &p * &untreated / p.mapv(|p| 1.0 - p);
            let w_tpre = &keep * &(&d * &pre);
            let w_tpost = &keep * &(&d * &post);
            let w_cpre = &keep * &(&odds * &pre);
            let w_cpost = &keep * &(&odds * &post);
            positive(&[&w_tpre, &w_tpost, &w_cpre, &w_cpost])?;
            let part = |w: &Array1<f64>| -> (f64, Array1<f64>) {
                let eta = w * &y / mean(w);
                let att = mean(&eta);
                let inf = &eta - &(w * (att / mean(w)));
                (att, inf)
            };
            let (a_tpre, i_tpre) = part(&w_tpre);
            let (a_tpost, i_tpost) = part(&w_tpost);
            let (a_cpre, i_cpre) = part(&w_cpre);
            let (a_cpost, i_cpost) = part(&w_cpost);
            let att = (a_tpost - a_tpre) - (a_cpost - a_cpre);
            let m2_pre = wmean(&(&w_cpre * &y.mapv(|v| v - a_cpre))) / mean(&w_cpre);
            let m2_post = wmean(&(&w_cpost * &y.mapv(|v| v - a_cpost))) / mean(&w_cpost);
            let inf_cont = &i_cpost - &i_cpre + alr_ps.dot(&(&m2_post - &m2_pre));
            Ok((att, &i_tpost - &i_tpre - inf_cont))
        }
        CsMethod::Dr => {
            let (p, alr_ps) = ps_fit()?;
            let keep = keep_controls(&p, &d);
            let (out_cpre, alr_cpre) = or_fit(&(&untreated * &pre), "controls, base period")?;
            let (out_cpost, alr_cpost) = or_fit(&(&untreated * &post), "controls, later period")?;
            let (out_tpre, alr_tpre) = or_fit(&(&d * &pre), "cohort, base period")?;
            let (out_tpost, alr_tpost) = or_fit(&(&d * &post), "cohort, later period")?;
            let out_cont = &post * &out_cpost + &pre * &out_cpre;
            let odds = &p * &untreated / p.mapv(|p| 1.0 - p);
            let w_tpre = &keep * &(&d * &pre);
            let w_tpost = &keep * &(&d * &post);
            let w_cpre = &keep * &(&odds * &pre);
            let w_cpost = &keep * &(&odds * &post);
            let w_d = &keep * &d;
            positive(&[&w_tpre, &w_tpost, &w_cpre, &w_cpost])?;
            let resid = &y - &out_cont;
            // η = w·v / mean(w), its mean, and the influence η − w·mean(η)/mean(w).
            let part = |w: &Array1<f64>, v: &Array1<f64>| -> (f64, Array1<f64>) {
                let eta = w * v / mean(w);
                let att = mean(&eta);
                let inf = &eta - &(w * (att / mean(w)));
                (att, inf)
            };
            let (a_tpre, i_tpre) = part(&w_tpre, &resid);
            let (a_tpost, i_tpost) = part(&w_tpost, &resid);
            let (a_cpre, i_cpre) = part(&w_cpre, &resid);
            let (a_cpost, i_cpost) = part(&w_cpost, &resid);
            let gap_post = &out_tpost - &out_cpost;
            let gap_pre = &out_tpre - &out_cpre;
            let (a_d_post, i_eff1) = part(&w_d, &gap_post);
            let (a_dt1_post, i_eff2) = part(&w_tpost, &gap_post);
            let (a_d_pre, i_eff3) = part(&w_d, &gap_pre);
            let (a_dt0_pre, i_eff4) = part(&w_tpre, &gap_pre);
            let att = (a_tpost - a_tpre) - (a_cpost - a_cpre) + (a_d_post - a_dt1_post) - (a_d_pre - a_dt0_pre);
            let m1_post = -wmean(&(&w_tpost * &post)) / mean(&w_tpost);
            let m1_pre = -wmean(&(&w_tpre * &pre)) / mean(&w_tpre);
            let inf_treat_or = alr_cpost.dot(&m1_post) - alr_cpre.dot(&m1_pre);
            let m2_pre = wmean(&(&w_cpre * &resid.mapv(|v| v - a_cpre))) / mean(&w_cpre);
            let m2_post = wmean(&(&w_cpost * &resid.mapv(|v| v - a_cpost))) / mean(&w_cpost);
            let inf_cont_ps = alr_ps.dot(&(&m2_post - &m2_pre));
            let m3_post = -wmean(&(&w_cpost * &post)) / mean(&w_cpost);
            let m3_pre = -wmean(&(&w_cpre * &pre)) / mean(&w_cpre);
            let inf_cont_or = alr_cpost.dot(&m3_post) - alr_cpre.dot(&m3_pre);
            let inf_eff = (&i_eff1 - &i_eff2) - (&i_eff3 - &i_eff4);
            let mom_post = wmean(&(&w_d / mean(&w_d) - &w_tpost / mean(&w_tpost)));
            let mom_pre = wmean(&(&w_d / mean(&w_d) - &w_tpre / mean(&w_tpre)));
            let inf_or = (&alr_tpost - &alr_cpost).dot(&mom_post) - (&alr_tpre - &alr_cpre).dot(&mom_pre);
            let inf_treat = &i_tpost - &i_tpre + inf_treat_or;
            let inf_cont = &i_cpost - &i_cpre + inf_cont_ps + inf_cont_or;
            Ok((att, inf_treat - inf_cont + inf_eff + inf_or))
        }
    }
}

/// The unbalanced panel's 2x2 comparison (R did's `allow_unbalanced_panel`, DRDID's
/// repeated-cross-section estimators without covariates): (Ȳ₁ₜ − Ȳ₁ᵦ) − (Ȳ₀ₜ − Ȳ₀ᵦ) over the rows
/// present, `sub`'s first `n_t` units treated. Each row's influence function
/// ±n (Y − Ȳ_cell) / n_cell (csdid's (n/n₁)·IF with the cell shares n_cell/n₁) summed within its
/// unit; over the `n` kept units. `None` when a cell has no rows.
fn four_means(
    sub: &[usize],
    n_t: usize,
    ti: usize,
    bi: usize,
    y: impl Fn(usize, usize) -> f64,
    n: usize,
) -> Option<(f64, Array1<f64>)> {
    // [treated post, treated base, control post, control base]: sum and count.
    let mut sum = [0.0f64; 4];
    let mut cnt = [0usize; 4];
    for (j, &i) in sub.iter().enumerate() {
        let off = if j < n_t { 0 } else { 2 };
        for (k, p) in [(off, ti), (off + 1, bi)] {
            let v = y(i, p);
            if !v.is_nan() {
                sum[k] += v;
                cnt[k] += 1;
            }
        }
    }
    if cnt.contains(&0) {
        return None;
    }
    let mean: Vec<f64> = (0..4).map(|k| sum[k] / cnt[k] as f64).collect();
    let att = (mean[0] - mean[1]) - (mean[2] - mean[3]);
    let nf = n as f64;
    let mut inf = Array1::zeros(n);
    for (j, &i) in sub.iter().enumerate() {
        let (off, sign) = if j < n_t { (0, 1.0) } else { (2, -1.0) };
        let mut v = 0.0;
        let post = y(i, ti);
        if !post.is_nan() {
            v += (post - mean[off]) / cnt[off] as f64;
        }
        let pre = y(i, bi);
        if !pre.is_nan() {
            v -= (pre - mean[off + 1]) / cnt[off + 1] as f64;
        }
        inf[i] = sign * nf * v;
    }
    Some((att, inf))
}

/// A group-time cell's influence function over the kept units. It is nonzero only on the units
/// of the cell's comparison (its cohort and its controls), so where those are at most half of all
/// units it is kept on them alone, and consecutive cells comparing the same units (every cell of
/// a cohort against never-treated controls) share one list of them: the 195 cells of the
/// 5,000-unit benchmark (5 cohorts of about 750, 1,265 never treated) take 3.1 MB instead of
/// 7.8 MB. Every sum over it is the full vector's, in the same order: the same numbers.
enum CellInf {
    Dense(Array1<f64>),
    Sparse { units: Arc<Vec<usize>>, values: Vec<f64> },
}

impl CellInf {
    /// `dense`, which is zero outside `units`, kept on `units` (sharing `last`'s list when it is
    /// the same one).
    fn of(dense: Array1<f64>, units: Vec<usize>, last: &mut Option<Arc<Vec<usize>>>) -> Self {
        if units.len() * 2 > dense.len() {
            return CellInf::Dense(dense);
        }
        if units.is_empty() {
            // a universal base's reference cell: nothing, and the cohort's list stays shared
            return CellInf::Sparse { units: Arc::default(), values: Vec::new() };
        }
        if cfg!(debug_assertions) {
            let mut inside = vec![false; dense.len()];
            units.iter().for_each(|&i| inside[i] = true);
            assert!(dense.iter().zip(&inside).all(|(v, &k)| k || *v == 0.0), "an influence function outside its units");
        }
        let units = match last {
            Some(l) if **l == units => Arc::clone(l),
            _ => Arc::clone(last.insert(Arc::new(units))),
        };
        let values = units.iter().map(|&i| dense[i]).collect();
        CellInf::Sparse { units, values }
    }

    /// The full vector over the `n` kept units.
    fn dense(&self, n: usize) -> Array1<f64> {
        match self {
            CellInf::Dense(v) => v.clone(),
            CellInf::Sparse { units, values } => {
                let mut v = Array1::zeros(n);
                for (&i, &x) in units.iter().zip(values) {
                    v[i] = x;
                }
                v
            }
        }
    }
}

/// `out + a x` for an influence function x, element by element as ndarray's `scaled_add`
/// (`out[i] + a x[i]`; where x is zero that leaves `out[i]` as it is).
trait ScaledAdd {
    fn scaled_add_to(&self, a: f64, out: &mut Array1<f64>);
}

impl ScaledAdd for Array1<f64> {
    fn scaled_add_to(&self, a: f64, out: &mut Array1<f64>) {
        out.scaled_add(a, self);
    }
}

impl ScaledAdd for CellInf {
    fn scaled_add_to(&self, a: f64, out: &mut Array1<f64>) {
        match self {
            CellInf::Dense(v) => out.scaled_add(a, v),
            CellInf::Sparse { units, values } => {
                for (&i, &x) in units.iter().zip(values) {
                    out[i] += a * x;
                }
            }
        }
    }
}

/// Standard error from a full-sample influence function: sqrt(mean(IF²)/n); clustered,
/// sqrt(Σ_c (Σ_{i in c} IF_i)²)/n (R did and csdid's cluster-robust analytic errors).
fn se_of(inf: &Array1<f64>, cl: Option<&Clusters>) -> f64 {
    let n = inf.len() as f64;
    match cl {
        None => (inf.dot(inf) / n / n).sqrt(),
        Some(c) => {
            let s = c.sums(inf);
            s.dot(&s).sqrt() / n
        }
    }
}

/// Influence function of a weighted aggregate of cells, including the weights' estimation effect
/// (R did's `get_agg_inf_func` + `wif`). `pg` are the cells' group shares.
fn agg_inf(
    cells: &[usize],
    atts: &[f64],
    infs: &[impl ScaledAdd],
    pg: &[f64],
    unit_cohort: &[i64],
    cell_group: &[i64],
    with_wif: bool,
) -> (f64, Array1<f64>) {
    let n = unit_cohort.len();
    let total: f64 = cells.iter().map(|&c| pg[c]).sum();
    let att: f64 = cells.iter().map(|&c| atts[c] * pg[c]).sum::<f64>() / total;
    let mut inf = Array1::zeros(n);
    for &c in cells {
        infs[c].scaled_add_to(pg[c] / total, &mut inf);
    }
    if with_wif {
        // wif_i = Σ_c [(1{G_i = g_c} - pg_c)/T - (Σ_c' (1{G_i = g_c'} - pg_c')) pg_c/T²] att_c, which
        // collapses per group: (A_g - P)/T - (C_g - T) P/T² with A_g = Σ_{c in g} att_c, C_g the
        // number of cells of group g, P = Σ_c pg_c att_c, T = Σ_c pg_c. O(n + cells).
        let p_sum: f64 = cells.iter().map(|&c| pg[c] * atts[c]).sum();
        let mut per_group: Vec<(i64, f64, f64)> = Vec::new();
        for &c in cells {
            match per_group.iter_mut().find(|(g, _, _)| *g == cell_group[c]) {
                Some(e) => {
                    e.1 += atts[c];
                    e.2 += 1.0;
                }
                None => per_group.push((cell_group[c], atts[c], 1.0)),
            }
        }
        let base = -p_sum / total + total * p_sum / (total * total);
        for i in 0..n {
            let (a_g, c_g) =
                per_group.iter().find(|(g, _, _)| *g == unit_cohort[i]).map(|e| (e.1, e.2)).unwrap_or((0.0, 0.0));
            inf[i] += a_g / total - c_g * p_sum / (total * total) + base;
        }
    }
    (att, inf)
}

/// Normal draws behind the default uniform band (R did's default number of bootstrap draws).
const PLUGIN_BAND_DRAWS: usize = 999;

/// Multiplier bootstrap standard errors (Rademacher weights, as R did and csdid) for several influence functions at once,
/// using R did's robust scale: IQR / (z(.75) - z(.25)).
fn bootstrap_se(infs: &[&Array1<f64>], b: &Bootstrap, cl: Option<&Clusters>) -> Vec<f64> {
    let draws = bootstrap_draws(infs, b, cl);
    draws.into_iter().map(|mut d| robust_scale(&mut d)).collect()
}

/// The IQR-based scale of bootstrap draws (R did's `mboot`): (q75 − q25) / (z(.75) − z(.25)),
/// quantiles of R's type 1.
fn robust_scale(d: &mut [f64]) -> f64 {
    d.sort_by(|a, b| a.total_cmp(b));
    let q = dist::normal_critical(0.5); // z(.75)
    (quantile_type1(d, 0.75) - quantile_type1(d, 0.25)) / (2.0 * q)
}

/// R's type-1 quantile (numpy's "inverted_cdf"): the smallest value whose empirical distribution
/// reaches p.
fn quantile_type1(sorted: &[f64], p: f64) -> f64 {
    let idx = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

/// The sup-t critical value of a uniform band over several estimates (R did's `mboot` with
/// `cband = TRUE`): per draw the largest |draw| / scale over the estimates, its 1 − alpha quantile
/// (R's type 1). Returns the critical value and each estimate's bootstrap scale.
fn uniform_band(infs: &[&Array1<f64>], b: &Bootstrap, alpha: f64, cl: Option<&Clusters>) -> (f64, Vec<f64>) {
    let draws = bootstrap_draws(infs, b, cl);
    let scales: Vec<f64> = draws.iter().map(|d| robust_scale(&mut d.clone())).collect();
    let mut sup: Vec<f64> = (0..b.draws)
        .map(|k| {
            draws.iter().zip(&scales).filter(|(_, s)| **s > 1e-12).map(|(d, s)| (d[k] / s).abs()).fold(0.0f64, f64::max)
        })
        .collect();
    sup.sort_by(|a, b| a.total_cmp(b));
    // Never below the pointwise normal value (R did falls back to pointwise bands there).
    (quantile_type1(&sup, 1.0 - alpha).max(dist::normal_critical(alpha)), scales)
}

/// Ψ'Ψ for influence functions Ψ as columns, or of their cluster sums, from the columns as
/// they are (no n x m matrix of them is assembled).
fn if_crossprod(infs: &[&Array1<f64>], cl: Option<&Clusters>) -> Array2<f64> {
    let sums: Vec<Array1<f64>> = cl.map(|c| infs.iter().map(|inf| c.sums(inf)).collect()).unwrap_or_default();
    let cols: Vec<&Array1<f64>> = if cl.is_some() { sums.iter().collect() } else { infs.to_vec() };
    match cols.iter().map(|c| c.as_slice()).collect::<Option<Vec<&[f64]>>>() {
        Some(slices) => linalg::crossprod_slices(&slices),
        None => linalg::crossprod(linalg::stack_views(cols.iter().map(|c| c.view())).view()),
    }
}

/// The sup-t critical value of a uniform band over several estimates from their estimated joint
/// normal distribution (the plug-in sup-t band of Montiel Olea and Plagborg-Møller 2019, "Simultaneous
/// confidence bands", J. Applied Econometrics 34(1), eq. 4): Σ = Ψ'Ψ / n² from the influence
/// functions (their cluster sums when clustered), the scales its diagonal's square roots (the
/// analytic standard errors), and the 1 − alpha quantile (R's type 1) of max_j |Z_j| over `draws`
/// draws of Z ~ N(0, R), R the correlation matrix. This is the multiplier bootstrap with standard
/// normal weights computed exactly: Σ_i g_i ψ_i / n with g ~ N(0, I) is N(0, Σ) given the data, so
/// drawing Z costs m² per draw instead of n·m. Estimates with no variance are left out of the
/// maximum. Returns the critical value and the scales.
fn plugin_band(infs: &[&Array1<f64>], b: &Bootstrap, alpha: f64, cl: Option<&Clusters>) -> (f64, Vec<f64>) {
    let n = infs.first().map(|v| v.len()).unwrap_or(0) as f64;
    let sigma = if_crossprod(infs, cl) / (n * n);
    let scales: Vec<f64> = sigma.diag().iter().map(|v| v.max(0.0).sqrt()).collect();
    let keep: Vec<usize> = (0..scales.len()).filter(|&j| scales[j] > 1e-12).collect();
    let zcrit = dist::normal_critical(alpha);
    if keep.is_empty() || b.draws == 0 {
        return (zcrit, scales);
    }
    let m = keep.len();
    let corr = Array2::from_shape_fn((m, m), |(i, j)| sigma[[keep[i], keep[j]]] / (scales[keep[i]] * scales[keep[j]]));
    // R = U Λ U': a draw is U Λ^½ ε (eigenvalues below zero from rounding count as zero).
    let (values, vectors) = linalg::symmetric_eigen(corr.view());
    let mut root = vectors;
    for (mut col, v) in root.columns_mut().into_iter().zip(values.iter()) {
        col *= v.max(0.0).sqrt();
    }
    let mut rng = Rng::new(b.seed);
    let eps = Array2::from_shape_simple_fn((b.draws, m), || rng.normal());
    let z = eps.dot(&root.t());
    let mut sup: Vec<f64> = z.rows().into_iter().map(|r| r.iter().fold(0.0f64, |a, x| a.max(x.abs()))).collect();
    sup.sort_by(|a, b| a.total_cmp(b));
    // Never below the pointwise normal value.
    (quantile_type1(&sup, 1.0 - alpha).max(zcrit), scales)
}

/// Draws of the multiplier bootstrap, one vector per influence function: (1/n) Σ_i V_i IF_i, or
/// clustered (1/n) Σ_c V_c Σ_{i in c} IF_i (one weight per cluster, csdid's `mboot`).
fn bootstrap_draws(infs: &[&Array1<f64>], b: &Bootstrap, cl: Option<&Clusters>) -> Vec<Vec<f64>> {
    let n = infs.first().map(|v| v.len()).unwrap_or(0);
    let m = infs.len();
    let rows = cl.map_or(n, |c| c.g);
    // rows x m: the influence functions (or their cluster sums) as columns; the draws in blocks
    // of rows, one product each.
    let mut ifs = Array2::<f64>::zeros((rows, m));
    for (j, inf) in infs.iter().enumerate() {
        match cl {
            None => ifs.column_mut(j).assign(inf),
            Some(c) => ifs.column_mut(j).assign(&c.sums(inf)),
        }
    }
    let mut rng = Rng::new(b.seed);
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(b.draws); m];
    const BLOCK: usize = 64;
    let steps = crate::parallel::steps(b.draws.div_ceil(BLOCK));
    let mut done = 0;
    while done < b.draws {
        let block = BLOCK.min(b.draws - done);
        let v = Array2::from_shape_simple_fn((block, rows), || if rng.uniform() < 0.5 { -1.0 } else { 1.0 });
        let t = v.dot(&ifs) / n as f64;
        for row in t.rows() {
            for (j, x) in row.iter().enumerate() {
                draws[j].push(*x);
            }
        }
        done += block;
        steps.advance();
    }
    draws
}

pub fn fit(input: &CsInput, settings: &CsSettings) -> Result<CsResult, DidError> {
    check_alpha(settings)?;
    let (w, warnings) = widen(input)?;
    fit_wide(w, warnings, input.covariates.names().to_vec(), settings)
}

/// [`fit`] on an input it takes: its rows are freed once they are laid out by unit and period,
/// before the group-time cells' influence functions are computed, instead of being held through
/// the fit (the command line's and the service's path; the same result).
pub fn fit_owned(input: CsInput, settings: &CsSettings) -> Result<CsResult, DidError> {
    check_alpha(settings)?;
    let (w, warnings) = widen(&input)?;
    let covariates = input.covariates.names().to_vec();
    drop(input);
    fit_wide(w, warnings, covariates, settings)
}

fn check_alpha(settings: &CsSettings) -> Result<(), DidError> {
    if settings.alpha > 0.0 && settings.alpha < 1.0 {
        Ok(())
    } else {
        Err(invalid("alpha", "must be between 0 and 1"))
    }
}

/// The fit on the panel laid out by unit and period; `covariates`: their names.
fn fit_wide(
    w: Wide,
    mut warnings: Vec<String>,
    covariates: Vec<String>,
    settings: &CsSettings,
) -> Result<CsResult, DidError> {
    // Units treated in the first period carry no information.
    let keep: Vec<usize> = (0..w.cohort.len()).filter(|&u| w.cohort[u] >= 0).collect();
    let n = keep.len();
    let cohort: Vec<i64> = keep.iter().map(|&u| w.cohort[u]).collect();
    // Clusters among the kept units, renumbered 0..g.
    let clusters = match &w.cluster {
        None => {
            if n < FEW_UNITS {
                warnings.push(format!(
                    "{n} units: influence-function standard errors from so few units can understate the uncertainty (simulated, 12 units in three cohorts of 4: the 95% interval covered 90.5% of 1,000 panels)"
                ));
            }
            None
        }
        Some(uc) => {
            let mut ids: HashMap<u32, usize> = HashMap::new();
            let code: Vec<usize> = keep
                .iter()
                .map(|&u| {
                    let next = ids.len();
                    *ids.entry(uc[u]).or_insert(next)
                })
                .collect();
            let g = ids.len();
            if g < 2 {
                return Err(invalid("cluster", "needs at least two clusters"));
            }
            if g < FEW_UNITS {
                warnings.push(format!(
                    "{g} clusters: cluster-robust errors from so few clusters can understate the uncertainty"
                ));
            }
            Some(Clusters { code, g })
        }
    };
    let cl = clusters.as_ref();
    let groups: Vec<i64> = cohort.iter().copied().filter(|&g| g > 0).collect::<BTreeSet<_>>().into_iter().collect();
    if groups.is_empty() {
        return Err(invalid("cohort", "no unit is treated within the panel's periods"));
    }
    if settings.control == ControlGroup::NeverTreated && !cohort.contains(&0) {
        return Err(invalid("cohort", "no never-treated units; use --control not-yet"));
    }
    let periods = &w.periods;
    let np = periods.len();
    let zcrit = dist::normal_critical(settings.alpha);
    let mut by_cohort: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, &g) in cohort.iter().enumerate() {
        by_cohort.entry(g).or_default().push(i);
    }

    let mut cells: Vec<GroupTime> = Vec::new();
    let mut infs: Vec<CellInf> = Vec::new();
    let mut last_units = None;
    // R did's cell plan (csdid's `plan_cell`): with a varying base each period is compared with
    // the one before it until the anticipation window, then with the last unaffected period
    // (t + anticipation < g); with a universal base every period is compared with that one, and
    // that period's own cell is an ATT of zero.
    let delta = settings.anticipation as i64;
    let universal = settings.base_period == BasePeriod::Universal;
    let tfac = usize::from(!universal);
    let tlen = if universal { np } else { np - 1 };
    for &g in &groups {
        let Some(last_pre) = periods.iter().rposition(|&t| t + delta < g) else {
            warnings.push(format!(
                "no period before group {g}'s treatment{}: the group is dropped",
                if delta > 0 { format!(" and its {delta}-period anticipation window") } else { String::new() }
            ));
            continue;
        };
        for t_i in 0..tlen {
            let ti = t_i + tfac;
            let t = periods[ti];
            let mut bi = if universal { last_pre } else { t_i };
            if g - delta <= t {
                bi = last_pre;
            }
            if universal && bi == ti {
                // The reference period itself: zero by construction.
                cells.push(GroupTime {
                    group: g,
                    time: t,
                    base_period: t,
                    att: 0.0,
                    std_error: 0.0,
                    bootstrap_std_error: None,
                    ci_low: 0.0,
                    ci_high: 0.0,
                    n_treated: by_cohort.get(&g).map_or(0, Vec::len),
                    n_control: 0,
                });
                infs.push(CellInf::of(Array1::zeros(n), Vec::new(), &mut last_units));
                continue;
            }
            let base = periods[bi];
            let ctrl_after = periods[t_i.max(bi) + tfac] + delta;
            // Treated: cohort g; controls: never treated, or (not-yet) first treated after both
            // periods and the anticipation window.
            let mut sub: Vec<usize> = by_cohort.get(&g).cloned().unwrap_or_default();
            let n_t = sub.len();
            for (&cg, units) in by_cohort.iter() {
                let is_ctrl = match settings.control {
                    ControlGroup::NeverTreated => cg == 0,
                    ControlGroup::NotYetTreated => cg == 0 || (cg != g && cg > ctrl_after),
                };
                if is_ctrl {
                    sub.extend_from_slice(units);
                }
            }
            let d: Array1<f64> = (0..sub.len()).map(|j| if j < n_t { 1.0 } else { 0.0 }).collect();
            let n_treated = d.iter().filter(|&&v| v == 1.0).count();
            let n_control = sub.len() - n_treated;
            if n_control == 0 {
                warnings.push(format!("no control units for group {g} at time {t}; cell skipped"));
                continue;
            }
            let (att, inf) = if w.balanced {
                let dy: Array1<f64> = sub.iter().map(|&i| w.y[[keep[i], ti]] - w.y[[keep[i], bi]]).collect();
                let xs = Array2::from_shape_fn((sub.len(), w.x.len()), |(j, c)| w.x[c][[keep[sub[j]], bi]]);
                let (att, inf_sub) = two_by_two(dy.view(), d.view(), xs.view(), settings.method)
                    .map_err(|m| invalid("covariates", format!("group {g}, time {t}: {m}")))?;
                let scale = n as f64 / sub.len() as f64;
                let mut inf = Array1::zeros(n);
                for (j, &i) in sub.iter().enumerate() {
                    inf[i] = scale * inf_sub[j];
                }
                (att, inf)
            } else if !w.x.is_empty() {
                // Rows present in the two periods, each with its own period's covariates.
                let (mut ry, mut rpost, mut rd, mut runit, mut rx) = (vec![], vec![], vec![], vec![], vec![]);
                for (j, &i) in sub.iter().enumerate() {
                    for (p, is_post) in [(ti, 1.0), (bi, 0.0)] {
                        let v = w.y[[keep[i], p]];
                        if !v.is_nan() {
                            ry.push(v);
                            rpost.push(is_post);
                            rd.push(if j < n_t { 1.0 } else { 0.0 });
                            runit.push(i);
                            rx.extend(w.x.iter().map(|x| x[[keep[i], p]]));
                        }
                    }
                }
                let rows = ry.len();
                let cell = |dv: f64, pv: f64| (0..rows).any(|r| rd[r] == dv && rpost[r] == pv);
                if !(cell(1.0, 1.0) && cell(1.0, 0.0) && cell(0.0, 1.0) && cell(0.0, 0.0)) {
                    warnings.push(format!(
                        "group {g} at time {t}: no rows for the cohort or its controls in period {t} or {base}; cell skipped"
                    ));
                    continue;
                }
                let xs =
                    Array2::from_shape_vec((rows, w.x.len()), rx).map_err(|e| invalid("covariates", e.to_string()))?;
                let fitted = two_by_two_rc(
                    Array1::from(ry).view(),
                    Array1::from(rpost).view(),
                    Array1::from(rd).view(),
                    xs.view(),
                    settings.method,
                );
                let (att, inf_rows) = fitted.map_err(|m| invalid("covariates", format!("group {g}, time {t}: {m}")))?;
                // csdid's (n / n1) IF per row, summed within units.
                let scale = n as f64 / rows as f64;
                let mut inf = Array1::zeros(n);
                for (r, &i) in runit.iter().enumerate() {
                    inf[i] += scale * inf_rows[r];
                }
                (att, inf)
            } else {
                let yv = |i: usize, p: usize| w.y[[keep[i], p]];
                match four_means(&sub, n_t, ti, bi, yv, n) {
                    Some(v) => v,
                    None => {
                        warnings.push(format!(
                            "group {g} at time {t}: no rows for the cohort or its controls in period {t} or {base}; cell skipped"
                        ));
                        continue;
                    }
                }
            };
            let se = se_of(&inf, cl);
            cells.push(GroupTime {
                group: g,
                time: t,
                base_period: base,
                att,
                std_error: se,
                bootstrap_std_error: None,
                ci_low: att - zcrit * se,
                ci_high: att + zcrit * se,
                n_treated,
                n_control,
            });
            infs.push(CellInf::of(inf, sub, &mut last_units));
        }
    }
    if cells.is_empty() {
        return Err(invalid("cohort", "no group-time cell could be estimated"));
    }

    // Group shares among all kept units (R did's pg), per cell.
    let share = |g: i64| cohort.iter().filter(|&&c| c == g).count() as f64 / n as f64;
    let pg: Vec<f64> = cells.iter().map(|c| share(c.group)).collect();
    let cell_group: Vec<i64> = cells.iter().map(|c| c.group).collect();
    let atts: Vec<f64> = cells.iter().map(|c| c.att).collect();
    let post: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].time >= cells[c].group).collect();
    if post.is_empty() {
        return Err(invalid("cohort", "no post-treatment periods in the panel"));
    }
    // Pre-trend Wald test over the pre-treatment cells: chi2 = b' V^-1 b with V = IF'IF / n², on
    // full copies of their influence functions, freed before the aggregations' are built.
    // (A universal base's reference cells are zeros by construction, not estimates.)
    let pre: Vec<usize> =
        (0..cells.len()).filter(|&c| cells[c].time < cells[c].group && cells[c].time != cells[c].base_period).collect();
    let (pre_chi2, pre_p) = if pre.is_empty() {
        (None, None)
    } else {
        let q = pre.len();
        let pre_infs: Vec<Array1<f64>> = pre.iter().map(|&c| infs[c].dense(n)).collect();
        let v = if_crossprod(&pre_infs.iter().collect::<Vec<_>>(), cl) / (n as f64 * n as f64);
        drop(pre_infs);
        let b: Array1<f64> = pre.iter().map(|&c| atts[c]).collect();
        match linalg::quad_form_inv(v.view(), b.view()) {
            Ok(w) => (Some(w), Some(dist::chi2_p_value(w, q as f64))),
            Err(_) => {
                warnings.push("the pre-treatment covariance is singular; no pre-trend test".into());
                (None, None)
            }
        }
    };

    let point = |key: i64, att: f64, inf: &Array1<f64>| {
        let se = se_of(inf, cl);
        AggPoint {
            key,
            att,
            std_error: se,
            ci_low: att - zcrit * se,
            ci_high: att + zcrit * se,
            bootstrap_std_error: None,
        }
    };
    let mut aggregations = BTreeMap::new();

    // simple
    let (simple_att, simple_inf) = agg_inf(&post, &atts, &infs, &pg, &cohort, &cell_group, true);
    aggregations.insert("simple".to_string(), (simple_att, simple_inf, Vec::<(AggPoint, Array1<f64>)>::new()));

    // group: the average over each group's post periods, then weighted by group share
    let mut g_points = Vec::new();
    let mut g_atts = Vec::new();
    let mut g_infs = Vec::new();
    for &g in &groups {
        let which: Vec<usize> = post.iter().copied().filter(|&c| cells[c].group == g).collect();
        if which.is_empty() {
            continue;
        }
        let (a, inf) = agg_inf(&which, &atts, &infs, &pg, &cohort, &cell_group, false);
        g_points.push((point(g, a, &inf), inf.clone()));
        g_atts.push((g, a));
        g_infs.push(inf);
    }
    let gpg: Vec<f64> = g_atts.iter().map(|(g, _)| share(*g)).collect();
    let gidx: Vec<usize> = (0..g_atts.len()).collect();
    let gatt: Vec<f64> = g_atts.iter().map(|(_, a)| *a).collect();
    let ggroup: Vec<i64> = g_atts.iter().map(|(g, _)| *g).collect();
    let (group_att, group_inf) = agg_inf(&gidx, &gatt, &g_infs, &gpg, &cohort, &ggroup, true);
    aggregations.insert("group".to_string(), (group_att, group_inf, g_points));

    // calendar: per period, cells already treated, weighted by group share; overall the mean
    let mut c_points = Vec::new();
    for &t in periods.iter() {
        let which: Vec<usize> = post.iter().copied().filter(|&c| cells[c].time == t).collect();
        if which.is_empty() {
            continue;
        }
        let (a, inf) = agg_inf(&which, &atts, &infs, &pg, &cohort, &cell_group, true);
        c_points.push((point(t, a, &inf), inf));
    }
    let cal_att = c_points.iter().map(|(p, _)| p.att).sum::<f64>() / c_points.len() as f64;
    let mut cal_inf = Array1::zeros(n);
    for (_, inf) in &c_points {
        cal_inf.scaled_add(1.0 / c_points.len() as f64, inf);
    }
    aggregations.insert("calendar".to_string(), (cal_att, cal_inf, c_points));

    // dynamic (event study): per event time e = t - g, weighted by group share; overall the mean
    // over e >= 0
    let events: BTreeSet<i64> = cells.iter().map(|c| c.time - c.group).collect();
    let mut e_points = Vec::new();
    for &e in &events {
        let which: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].time - cells[c].group == e).collect();
        let (a, inf) = agg_inf(&which, &atts, &infs, &pg, &cohort, &cell_group, true);
        e_points.push((point(e, a, &inf), inf));
    }
    let post_e: Vec<&(AggPoint, Array1<f64>)> = e_points.iter().filter(|(p, _)| p.key >= 0).collect();
    let dyn_att = post_e.iter().map(|(p, _)| p.att).sum::<f64>() / post_e.len() as f64;
    let mut dyn_inf = Array1::zeros(n);
    for (_, inf) in &post_e {
        dyn_inf.scaled_add(1.0 / post_e.len() as f64, inf);
    }
    let event_study: Vec<EventPoint> = e_points
        .iter()
        .map(|(p, _)| EventPoint {
            relative_time: p.key,
            att: p.att,
            std_error: p.std_error,
            ci_low: p.ci_low,
            ci_high: p.ci_high,
            uniform_ci_low: None,
            uniform_ci_high: None,
        })
        .collect();
    // The uniform (sup-t) band over the event times, on the same footing as the pointwise
    // intervals: with the multiplier bootstrap asked for, from its draws (R did's `cband`);
    // otherwise from the analytic covariance (999 normal draws with a fixed seed).
    let e_infs: Vec<&Array1<f64>> = e_points.iter().map(|(_, inf)| inf).collect();
    let (band_draws, (uniform_crit, scales)) = match &settings.bootstrap {
        Some(b) => (b.draws, uniform_band(&e_infs, b, settings.alpha, cl)),
        None => {
            let b = Bootstrap { draws: PLUGIN_BAND_DRAWS, seed: 20240101 };
            (b.draws, plugin_band(&e_infs, &b, settings.alpha, cl))
        }
    };
    let mut event_study = event_study;
    for (p, s) in event_study.iter_mut().zip(&scales) {
        p.uniform_ci_low = Some(p.att - uniform_crit * s);
        p.uniform_ci_high = Some(p.att + uniform_crit * s);
    }
    aggregations.insert("dynamic".to_string(), (dyn_att, dyn_inf, e_points));

    // Assemble, with bootstrap standard errors where asked.
    let mut out_aggs = BTreeMap::new();
    let boot = settings.bootstrap.as_ref().map(|b| {
        let cell_infs: Vec<Array1<f64>> = infs.iter().map(|c| c.dense(n)).collect();
        let mut all_infs: Vec<&Array1<f64>> = cell_infs.iter().collect();
        for (_, (_, inf, points)) in aggregations.iter() {
            all_infs.push(inf);
            for (_, pinf) in points {
                all_infs.push(pinf);
            }
        }
        bootstrap_se(&all_infs, b, cl)
    });
    let mut bi = cells.len();
    if let Some(bs) = &boot {
        for (c, se) in cells.iter_mut().zip(bs) {
            c.bootstrap_std_error = Some(*se);
        }
    }
    for (name, (att, inf, points)) in aggregations {
        let se = se_of(&inf, cl);
        let bse = boot.as_ref().map(|b| b[bi]);
        bi += 1;
        let points = points
            .into_iter()
            .map(|(mut p, _)| {
                p.bootstrap_std_error = boot.as_ref().map(|b| b[bi]);
                bi += 1;
                p
            })
            .collect();
        out_aggs.insert(
            name,
            Aggregate {
                att,
                std_error: se,
                ci_low: att - zcrit * se,
                ci_high: att + zcrit * se,
                p_value: dist::normal_p_value(att / se),
                bootstrap_std_error: bse,
                points,
            },
        );
    }
    let simple = &out_aggs["simple"];
    Ok(CsResult {
        method: "did".into(),
        estimator: "callaway_santanna".into(),
        inference: Inference {
            estimate: simple.att,
            std_error: Some(simple.std_error),
            ci_low: Some(simple.ci_low),
            ci_high: Some(simple.ci_high),
            p_value: Some(simple.p_value),
            n_obs: keep.iter().map(|&u| w.y.row(u).iter().filter(|v| !v.is_nan()).count()).sum(),
            inference: format!(
                "influence-function standard errors (normal){}{}",
                match cl {
                    Some(c) => format!(", clustered by {} clusters", c.g),
                    None => String::new(),
                },
                if settings.bootstrap.is_some() {
                    if cl.is_some() {
                        "; multiplier bootstrap (Rademacher, one weight per cluster) also reported"
                    } else {
                        "; multiplier bootstrap (Rademacher) also reported"
                    }
                } else {
                    ""
                }
            ),
        },
        n_units: n,
        control_group: settings.control,
        estimation_method: settings.method,
        covariates,
        group_time: cells,
        event_study,
        uniform_critical_value: Some(uniform_crit),
        uniform_draws: Some(band_draws),
        aggregations: out_aggs.clone(),
        n_clusters: cl.map(|c| c.g),
        balanced: w.balanced,
        pre_trend_p_value: pre_p,
        pre_trend_chi2: pre_chi2,
        warnings,
    })
}

crate::impl_estimate!(CsResult);

#[cfg(test)]
mod trim_tests {
    use super::*;

    /// Without covariates DRDID's repeated-cross-section estimators (all three) are the
    /// difference of four means, influence function included, on rows with gaps.
    #[test]
    fn rc_estimators_without_covariates_are_four_means() {
        let mut rng = crate::rng::Rng::new(5);
        let (units, n_t) = (30usize, 12usize);
        let y: Vec<[f64; 2]> = (0..units)
            .map(|i| {
                let miss = i % 7;
                [if miss == 1 { f64::NAN } else { rng.normal() }, if miss == 2 { f64::NAN } else { rng.normal() + 1.0 }]
            })
            .collect();
        let sub: Vec<usize> = (0..units).collect();
        let (att, inf) = four_means(&sub, n_t, 1, 0, |i, p| y[i][p], units).unwrap();
        let (mut ry, mut rp, mut rd, mut ru) = (vec![], vec![], vec![], vec![]);
        for (i, yi) in y.iter().enumerate() {
            for p in [1usize, 0] {
                if !yi[p].is_nan() {
                    ry.push(yi[p]);
                    rp.push(p as f64);
                    rd.push(if i < n_t { 1.0 } else { 0.0 });
                    ru.push(i);
                }
            }
        }
        let none = Array2::<f64>::zeros((ry.len(), 0));
        for m in [CsMethod::Dr, CsMethod::Ipw, CsMethod::Reg] {
            let (a, rows) = two_by_two_rc(
                Array1::from(ry.clone()).view(),
                Array1::from(rp.clone()).view(),
                Array1::from(rd.clone()).view(),
                none.view(),
                m,
            )
            .unwrap();
            assert!((a - att).abs() < 1e-12, "{m:?}: {a} vs {att}");
            let mut per_unit = vec![0.0; units];
            for (r, &i) in ru.iter().enumerate() {
                per_unit[i] += units as f64 / ry.len() as f64 * rows[r];
            }
            for (x, w) in per_unit.iter().zip(&inf) {
                assert!((x - w).abs() < 1e-9, "{m:?}: {x} vs {w}");
            }
        }
    }

    /// On a balanced panel the unbalanced estimator is the panel estimator: the same ATT and the
    /// same influence function as the 2x2 on changes without covariates.
    #[test]
    fn four_means_is_the_panel_estimator_when_balanced() {
        let mut rng = crate::rng::Rng::new(3);
        let (units, n_t) = (40usize, 15usize);
        let y: Vec<[f64; 2]> = (0..units).map(|_| [rng.normal(), rng.normal() + 0.5]).collect();
        let sub: Vec<usize> = (0..units).collect();
        let (att, inf) = four_means(&sub, n_t, 1, 0, |i, p| y[i][p], units).unwrap();
        let dy: Array1<f64> = y.iter().map(|v| v[1] - v[0]).collect();
        let d: Array1<f64> = (0..units).map(|i| if i < n_t { 1.0 } else { 0.0 }).collect();
        let none = Array2::<f64>::zeros((units, 0));
        let (att2, inf2) = two_by_two(dy.view(), d.view(), none.view(), CsMethod::Dr).unwrap();
        assert!((att - att2).abs() < 1e-12);
        for (a, b) in inf.iter().zip(&inf2) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }

    /// DRDID's trimming against csdid 0.4.3's `drdid_trim` (R DRDID's panel estimators with
    /// `trim.level = 0.995`) on a 2x2 panel where a control's propensity passes 0.995
    /// (`tests/reference/scripts/drdid_trim.py`): ATT 1e-6 and the influence function's mean
    /// square 1e-5, for DR and IPW.
    #[test]
    fn trimmed_like_drdid() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference");
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("drdid_trim.json")).unwrap()).unwrap();
        assert!(r["controls_trimmed"].as_u64().unwrap() >= 1);
        let t = crate::data::Table::read_csv(&dir.join("data/drdid_trim.csv")).unwrap();
        let (y0, y1, d, x) =
            (t.numeric("y0").unwrap(), t.numeric("y1").unwrap(), t.numeric("d").unwrap(), t.numeric("x").unwrap());
        let dy = &y1 - &y0;
        let xs = x.view().insert_axis(Axis(1));
        for (m, key) in [(CsMethod::Dr, "dr"), (CsMethod::Ipw, "ipw")] {
            let (att, inf) = two_by_two(dy.view(), d.view(), xs, m).unwrap();
            let want = r[key]["att"].as_f64().unwrap();
            assert!((att - want).abs() < 1e-6 * want.abs(), "{key}: {att} vs {want}");
            let msq = inf.mapv(|v| v * v).mean().unwrap();
            let wm = r[key]["inf_sq_mean"].as_f64().unwrap();
            assert!(((msq - wm) / wm).abs() < 1e-5, "{key}: {msq} vs {wm}");
        }
    }
}

#[cfg(test)]
mod band_tests {
    use super::*;

    /// The plug-in band's critical value is the 1 − α quantile of max_j |Z_j| under the
    /// estimated normal law. With independent estimates (influence functions on disjoint units)
    /// that is the c with (2Φ(c) − 1)^m = 1 − α exactly: six estimates, 99,999 draws (Monte
    /// Carlo sd of the quantile about 0.005), within 0.02. With one estimate repeated it is the
    /// pointwise value. Either way the scales are the analytic standard errors.
    #[test]
    fn plugin_band_is_the_sup_t_quantile_of_the_estimated_normal_law() {
        let mut rng = Rng::new(8);
        let (m, per) = (6usize, 100usize);
        let infs: Vec<Array1<f64>> = (0..m)
            .map(|j| {
                Array1::from_shape_fn(m * per, |i| if i / per == j { (1.0 + j as f64) * rng.normal() } else { 0.0 })
            })
            .collect();
        let refs: Vec<&Array1<f64>> = infs.iter().collect();
        let draws = Bootstrap { draws: 99_999, seed: 3 };
        let (crit, scales) = plugin_band(&refs, &draws, 0.05, None);
        let exact = dist::normal_critical(1.0 - 0.95f64.powf(1.0 / m as f64));
        assert!((crit - exact).abs() < 0.02, "{crit} vs {exact}");
        for (s, inf) in scales.iter().zip(&infs) {
            assert!((s - se_of(inf, None)).abs() <= 1e-12 * s, "{s}");
        }
        let same = vec![&infs[0]; 4];
        let (crit, _) = plugin_band(&same, &draws, 0.05, None);
        assert!((crit - dist::normal_critical(0.05)).abs() < 0.02, "{crit}");
    }
}

#[cfg(test)]
mod cell_inf_tests {
    use super::*;

    /// A cell's influence function kept on its units is the full vector: aggregated with the
    /// weights' estimation effect it gives the full vectors' aggregate to the bit. Consecutive
    /// cells on the same units share one list (a reference cell between them does not break
    /// it), and a cell on more than half of the units keeps the full vector.
    #[test]
    fn influence_functions_kept_on_their_units_sum_as_the_full_vectors() {
        let n = 10;
        let units = vec![1, 4, 5, 8];
        let mut rng = Rng::new(3);
        let mut draw = || {
            let mut v = Array1::zeros(n);
            for &i in &units {
                v[i] = rng.normal();
            }
            v
        };
        let (a, b) = (draw(), draw());
        let mut last = None;
        let ca = CellInf::of(a.clone(), units.clone(), &mut last);
        let reference = CellInf::of(Array1::zeros(n), Vec::new(), &mut last);
        let cb = CellInf::of(b.clone(), units.clone(), &mut last);
        match (&ca, &cb) {
            (CellInf::Sparse { units: ua, .. }, CellInf::Sparse { units: ub, .. }) => assert!(Arc::ptr_eq(ua, ub)),
            _ => panic!("cells on 4 of 10 units are kept on them"),
        }
        assert_eq!(ca.dense(n), a);
        assert_eq!(reference.dense(n), Array1::<f64>::zeros(n));
        let wide = CellInf::of(Array1::ones(n), (0..6).collect(), &mut last);
        assert!(matches!(wide, CellInf::Dense(_)));
        let cohort: Vec<i64> = (0..n as i64).map(|i| [0, 3, 5][i as usize % 3]).collect();
        let (atts, pg, groups) = ([0.3, 0.0, -0.2, 1.0], [0.3, 0.3, 0.4, 0.3], [3, 3, 5, 3]);
        let kept = agg_inf(&[0, 1, 2, 3], &atts, &[ca, reference, cb, wide], &pg, &cohort, &groups, true);
        let full =
            agg_inf(&[0, 1, 2, 3], &atts, &[a, Array1::zeros(n), b, Array1::ones(n)], &pg, &cohort, &groups, true);
        assert_eq!(kept.0.to_bits(), full.0.to_bits());
        assert!(kept.1.iter().zip(&full.1).all(|(x, y)| x.to_bits() == y.to_bits()), "{} vs {}", kept.1, full.1);
        assert!(full.1.iter().any(|v| *v != 0.0));
    }
}
