//! Heterogeneity-robust event studies for staggered adoption.
//!
//! - **Sun and Abraham (2021)**, the interaction-weighted estimator: the TWFE regression saturated
//!   in cohort × event-time dummies (every event time but −1, never-treated units as the
//!   comparison), each event time's effect the average of its cohorts' coefficients weighted by
//!   their shares of that event time's observations; the overall effect weights every post-period
//!   coefficient by its treated observations (fixest's `sunab` with `agg = "ATT"`). Checked against
//!   pyfixest 0.60's saturated event study (`pf.event_study(estimator = "saturated")` and its
//!   `aggregate()`).
//! - **Borusyak, Jaravel and Spiess (2024)** imputation, computed as Gardner's (2021) two-stage
//!   DiD: unit and period effects fitted on the untreated observations only, each observation's
//!   untreated outcome imputed from them, and the effect the mean of observed minus imputed over
//!   the treated observations (overall) or over each event time (event study). Standard errors are
//!   Gardner's GMM ones, clustered (Butts and Gardner's `did2s`), which account for the first stage:
//!   for cluster g, ψ_g = X₂g'e₂g − (X₂'X₁)(X₁₀'X₁₀)⁻ X₁₀g'e₁g, V = (X₂'X₂)⁻¹ Σ ψ_gψ_g' (X₂'X₂)⁻¹,
//!   X₁ the unit and period dummies, X₁₀ the same on untreated rows only. (X₁₀'X₁₀)⁻ is applied by
//!   Gauss-Seidel sweeps over the two sets of effects, so no dummy matrix is formed. Checked
//!   against pyfixest 0.60's `did2s` (with singleton fixed effects kept: a unit untreated in one
//!   period still has its effect imputed).

use std::collections::{BTreeMap, BTreeSet};

use ndarray::{Array1, Array2};

use super::twfe::{check, cohorts, invalid, refuse_switch_offs, DidError, DidResult, EventStudyPoint, PanelInput};
use crate::dist;
use crate::inference::Inference;
use crate::linalg;
use crate::ols::{self, SeKind};
use crate::panel::{demean, FixedEffect};

/// Which heterogeneity-robust estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RobustMethod {
    SunAbraham,
    Imputation,
}

#[derive(Debug, Clone)]
pub struct RobustSettings {
    pub method: RobustMethod,
    pub alpha: f64,
}

/// Cohort × event-time cells of the saturated regression (each an n-row column).
pub const MAX_SATURATED_CELLS: usize = 2000;
/// Rows × cells of the saturated regression's dummies.
pub const MAX_SATURATED_WORK: usize = 300_000_000;

/// Fit the estimator; `input.treatment` must be absorbing (the service builds it from the cohort).
pub fn fit(input: &PanelInput, settings: &RobustSettings) -> Result<DidResult, DidError> {
    if !(settings.alpha > 0.0 && settings.alpha < 1.0) {
        return Err(invalid("alpha", "must be between 0 and 1"));
    }
    let c = check(input)?;
    let (first, switch_offs) = cohorts(input);
    refuse_switch_offs(input, &switch_offs)?;
    let cluster: (Vec<u32>, usize) = match &input.cluster {
        Some((ids, g)) => (ids.clone(), *g),
        None => (input.unit.clone(), c.n_units),
    };
    if cluster.1 < 2 {
        return Err(DidError::TooFewClusters { found: cluster.1 });
    }
    let treated_units = first.iter().filter(|f| f.is_some()).count();
    let mut warnings = Vec::new();
    if !c.balanced {
        warnings.push("the panel is unbalanced; fixed effects absorbed by alternating projections".into());
    }
    let out = match settings.method {
        RobustMethod::SunAbraham => sun_abraham(input, &c, &first, &cluster, settings.alpha, &mut warnings)?,
        RobustMethod::Imputation => imputation(input, &c, &first, &cluster, settings.alpha, &mut warnings)?,
    };
    let treated_clusters = super::twfe::count_treated_clusters((&cluster.0, cluster.1), &input.treatment);
    if super::twfe::few_clusters(cluster.1, treated_clusters) {
        warnings.push(format!(
            "few clusters: {} clusters, {treated_clusters} of them treated; cluster-robust t-tests over-reject with fewer than about 30, or fewer than 10 treated: read the interval as too narrow",
            cluster.1
        ));
    }
    let tcrit = dist::t_critical(settings.alpha, out.df);
    Ok(DidResult {
        method: "did".into(),
        estimator: match settings.method {
            RobustMethod::SunAbraham => "sun_abraham",
            RobustMethod::Imputation => "imputation",
        }
        .into(),
        inference: Inference::with_interval(
            out.estimate,
            out.std_error,
            tcrit,
            dist::t_p_value(out.estimate / out.std_error, out.df),
            out.n_obs,
            out.words,
        ),
        n_units: c.n_units,
        n_periods: c.periods.len(),
        n_clusters: Some(cluster.1),
        treated_clusters: Some(treated_clusters),
        df: out.df,
        balanced: c.balanced,
        treated_units,
        units_switching_off: 0,
        event_study: Some(out.points),
        pre_trend_f: out.pre_f,
        pre_trend_p_value: out.pre_p,
        pre_trend_power: out.power,
        pre_trend_slope: out.slope,
        honest: None,
        within_iterations: out.iterations,
        wild: None,
        bacon: None,
        negative_weights: None,
        headline: super::twfe::Headline::T,
        warnings,
    })
}

struct Out {
    estimate: f64,
    std_error: f64,
    df: f64,
    n_obs: usize,
    words: String,
    points: Vec<EventStudyPoint>,
    pre_f: Option<f64>,
    pre_p: Option<f64>,
    power: Option<super::pretrend::PretrendPower>,
    slope: Option<super::pretrend::PretrendSlope>,
    iterations: usize,
}

fn no_never_treated(first: &[Option<i64>]) -> Option<DidError> {
    first.iter().all(|f| f.is_some()).then(|| {
        invalid(
            "cohort",
            "every unit is treated by the end, so there are no never-treated units to compare with: \
             use method imputation (it compares with units not yet treated), or Callaway-Sant'Anna with \
             control not-yet, or drop the periods after the last cohort starts and treat that cohort as never treated",
        )
    })
}

/// Event time per row (None for never-treated units).
fn relative(input: &PanelInput, first: &[Option<i64>]) -> Vec<Option<i64>> {
    (0..input.time.len()).map(|i| first[input.unit[i] as usize].map(|g| input.time[i] - g)).collect()
}

fn sun_abraham(
    input: &PanelInput,
    c: &super::twfe::Checked,
    first: &[Option<i64>],
    cluster: &(Vec<u32>, usize),
    alpha: f64,
    warnings: &mut Vec<String>,
) -> Result<Out, DidError> {
    if let Some(e) = no_never_treated(first) {
        return Err(e);
    }
    let n = input.outcome.len();
    let rel = relative(input, first);
    // Cells (cohort, event time), event time -1 left out.
    let mut cells: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    for i in 0..n {
        if let (Some(g), Some(r)) = (first[input.unit[i] as usize], rel[i]) {
            if r != -1 {
                *cells.entry((g, r)).or_insert(0) += 1;
            }
        }
    }
    let keys: Vec<(i64, i64)> = cells.keys().copied().collect();
    if keys.len() > MAX_SATURATED_CELLS || keys.len().saturating_mul(n) > MAX_SATURATED_WORK {
        return Err(invalid(
            "cohort",
            format!(
                "sun-abraham: {} cohort x event-time cells over {n} rows is too large (at most {MAX_SATURATED_CELLS} cells and {MAX_SATURATED_WORK} cells x rows): use method imputation",
                keys.len()
            ),
        ));
    }
    let index: BTreeMap<(i64, i64), usize> = keys.iter().enumerate().map(|(j, k)| (*k, j)).collect();
    let k = keys.len();
    let mut cols: Vec<Array1<f64>> = vec![Array1::zeros(n); k];
    for i in 0..n {
        if let (Some(g), Some(r)) = (first[input.unit[i] as usize], rel[i]) {
            if let Some(&j) = index.get(&(g, r)) {
                cols[j][i] = 1.0;
            }
        }
    }
    let fes =
        [FixedEffect::new(input.unit.clone(), c.n_units), FixedEffect::new(c.time_codes.clone(), c.periods.len())];
    let mut y = input.outcome.clone();
    let mut iterations = demean(y.view_mut(), &fes)?;
    let collinear =
        |j: usize| DidError::Collinear { what: format!("cohort {} at event time {}", keys[j].0, keys[j].1) };
    for (j, col) in cols.iter_mut().enumerate() {
        let before = crate::panel::centered_sum_of_squares(col.view());
        iterations = iterations.max(demean(col.view_mut(), &fes)?);
        if crate::panel::absorbed(before, col.view()) {
            return Err(collinear(j));
        }
    }
    let x = linalg::stack_columns(&cols);
    let solved = ols::solve(x.view(), y.view()).map_err(|s| collinear(s.column))?;
    let mut dof_k = k + c.n_units + c.periods.len() - 1;
    for fe in &fes {
        if fe.nested_in(&cluster.0) {
            dof_k = dof_k - fe.levels() + 1;
        }
    }
    let fit = ols::covariance(x.view(), &solved, SeKind::Cluster, dof_k, Some((&cluster.0, cluster.1)));
    // Per event time: cohort shares of its observations.
    let times: BTreeSet<i64> = keys.iter().map(|k| k.1).collect();
    let mut points = Vec::new();
    let mut lead_rows: Vec<Array1<f64>> = Vec::new();
    let tcrit = dist::t_critical(alpha, fit.df);
    for &r in &times {
        let total: usize = keys.iter().filter(|k| k.1 == r).map(|k| cells[k]).sum();
        let w: Array1<f64> = keys.iter().map(|k| if k.1 == r { cells[k] as f64 / total as f64 } else { 0.0 }).collect();
        let (b, se) = combo(&w, &fit);
        points.push(EventStudyPoint {
            relative_time: r,
            att: b,
            std_error: se,
            ci_low: b - tcrit * se,
            ci_high: b + tcrit * se,
            p_value: dist::t_p_value(b / se, fit.df),
            n_obs: total,
        });
        if r < -1 {
            lead_rows.push(w);
        }
    }
    let treated: usize = keys.iter().filter(|k| k.1 >= 0).map(|k| cells[k]).sum();
    let w: Array1<f64> = keys.iter().map(|k| if k.1 >= 0 { cells[k] as f64 / treated as f64 } else { 0.0 }).collect();
    let (estimate, std_error) = combo(&w, &fit);
    let (pre_f, pre_p) = joint(&lead_rows, &fit, warnings);
    // Power of the lead test over the aggregated event times (their covariance R V R').
    let rows: Vec<Array1<f64>> = times
        .iter()
        .map(|&r| {
            let total: usize = keys.iter().filter(|k| k.1 == r).map(|k| cells[k]).sum();
            keys.iter().map(|k| if k.1 == r { cells[k] as f64 / total as f64 } else { 0.0 }).collect()
        })
        .collect();
    let rm = Array2::from_shape_fn((rows.len(), k), |(a, b)| rows[a][b]);
    let agg_v = rm.dot(&fit.vcov).dot(&rm.t());
    let rel: Vec<i64> = times.iter().copied().collect();
    // The ATT's weights over the aggregated event times: each one's share of the treated rows.
    let post_w: Array1<f64> = rel
        .iter()
        .map(|&r| {
            if r >= 0 {
                keys.iter().filter(|k| k.1 == r).map(|k| cells[k]).sum::<usize>() as f64 / treated as f64
            } else {
                0.0
            }
        })
        .collect();
    let power = super::pretrend::power(&rel, &agg_v, &post_w, -1, estimate, alpha);
    let atts: Array1<f64> = points.iter().map(|p| p.att).collect();
    let slope = super::pretrend::slope_test(&rel, &atts, &agg_v, &post_w, -1, estimate, fit.df, alpha);
    Ok(Out {
        estimate,
        std_error,
        df: fit.df,
        n_obs: n,
        words: format!(
            "Sun-Abraham interaction-weighted (cohort x event-time TWFE, never-treated comparison); cluster-robust (CR1); t with {} df",
            fit.df
        ),
        points,
        pre_f,
        pre_p,
        power,
        slope,
        iterations,
    })
}

/// w'β and its standard error.
fn combo(w: &Array1<f64>, fit: &ols::Fit) -> (f64, f64) {
    (w.dot(&fit.coef), w.dot(&fit.vcov.dot(w)).max(0.0).sqrt())
}

/// The joint Wald test that every lead is zero: F(q, df).
fn joint(rows: &[Array1<f64>], fit: &ols::Fit, warnings: &mut Vec<String>) -> (Option<f64>, Option<f64>) {
    if rows.is_empty() {
        return (None, None);
    }
    let q = rows.len();
    let r = Array2::from_shape_fn((q, fit.coef.len()), |(a, b)| rows[a][b]);
    let rb = r.dot(&fit.coef);
    let rvr = r.dot(&fit.vcov).dot(&r.t());
    match linalg::quad_form_inv(rvr.view(), rb.view()) {
        Ok(wald) => {
            let f = wald / q as f64;
            (Some(f), Some(dist::f_p_value(f, q as f64, fit.df)))
        }
        Err(_) => {
            warnings.push("the pre-trend covariance is singular; no joint test".into());
            (None, None)
        }
    }
}

/// Gauss-Seidel solution of the two-way normal equations on the untreated rows:
/// find (a, l) with Σ_{untreated rows of unit u} (a_u + l_t) = b_u and likewise per period.
struct TwoWay<'a> {
    unit: &'a [u32],
    time: &'a [u32],
    /// Untreated row indices.
    rows: &'a [usize],
    unit_n: Vec<f64>,
    time_n: Vec<f64>,
}

impl TwoWay<'_> {
    fn solve(&self, bu: &[f64], bt: &[f64]) -> Result<(Vec<f64>, Vec<f64>, usize), DidError> {
        const MAX_ITER: usize = 100_000;
        let (mut a, mut l) = (vec![0.0; bu.len()], vec![0.0; bt.len()]);
        let scale = bu.iter().chain(bt).fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
        let mut acc_u = vec![0.0; bu.len()];
        let mut acc_t = vec![0.0; bt.len()];
        for it in 1..=MAX_ITER {
            acc_u.iter_mut().for_each(|v| *v = 0.0);
            for &i in self.rows {
                acc_u[self.unit[i] as usize] += l[self.time[i] as usize];
            }
            let mut change = 0.0f64;
            for u in 0..a.len() {
                if self.unit_n[u] > 0.0 {
                    let v = (bu[u] - acc_u[u]) / self.unit_n[u];
                    change = change.max((v - a[u]).abs() * self.unit_n[u]);
                    a[u] = v;
                }
            }
            acc_t.iter_mut().for_each(|v| *v = 0.0);
            for &i in self.rows {
                acc_t[self.time[i] as usize] += a[self.unit[i] as usize];
            }
            for t in 0..l.len() {
                if self.time_n[t] > 0.0 {
                    let v = (bt[t] - acc_t[t]) / self.time_n[t];
                    change = change.max((v - l[t]).abs() * self.time_n[t]);
                    l[t] = v;
                }
            }
            if change <= 1e-13 * scale {
                return Ok((a, l, it));
            }
        }
        Err(DidError::NotConverged(crate::panel::NotConverged { iterations: MAX_ITER }))
    }
}

fn imputation(
    input: &PanelInput,
    c: &super::twfe::Checked,
    first: &[Option<i64>],
    cluster: &(Vec<u32>, usize),
    alpha: f64,
    warnings: &mut Vec<String>,
) -> Result<Out, DidError> {
    let n = input.outcome.len();
    let (nu, nt) = (c.n_units, c.periods.len());
    let untreated: Vec<usize> = (0..n).filter(|&i| input.treatment[i] == 0.0).collect();
    let mut unit_n = vec![0.0; nu];
    let mut time_n = vec![0.0; nt];
    for &i in &untreated {
        unit_n[input.unit[i] as usize] += 1.0;
        time_n[c.time_codes[i] as usize] += 1.0;
    }
    let tw = TwoWay { unit: &input.unit, time: &c.time_codes, rows: &untreated, unit_n, time_n };
    // First stage: unit and period effects from the untreated rows.
    let (mut bu, mut bt) = (vec![0.0; nu], vec![0.0; nt]);
    for &i in &untreated {
        bu[input.unit[i] as usize] += input.outcome[i];
        bt[c.time_codes[i] as usize] += input.outcome[i];
    }
    let (alpha_u, lambda_t, mut iterations) = tw.solve(&bu, &bt)?;
    // Observed minus imputed, where both effects were estimated.
    let imputable: Vec<bool> =
        (0..n).map(|i| tw.unit_n[input.unit[i] as usize] > 0.0 && tw.time_n[c.time_codes[i] as usize] > 0.0).collect();
    let lost: BTreeSet<u32> = (0..n).filter(|&i| !imputable[i]).map(|i| input.unit[i]).collect();
    let lost_rows = imputable.iter().filter(|v| !**v).count();
    if lost_rows > 0 {
        warnings.push(format!(
            "{lost_rows} treated row(s) of {} unit(s) left out: their unit was never untreated, or their period had no untreated unit, so no untreated outcome can be imputed",
            lost.len()
        ));
    }
    let ytil: Vec<f64> = (0..n)
        .map(|i| {
            if imputable[i] {
                input.outcome[i] - alpha_u[input.unit[i] as usize] - lambda_t[c.time_codes[i] as usize]
            } else {
                f64::NAN
            }
        })
        .collect();
    let rel = relative(input, first);
    // Second-stage columns: event-time dummies (-1 left out), then the treated indicator.
    let times: BTreeSet<i64> = (0..n).filter(|&i| imputable[i]).filter_map(|i| rel[i]).filter(|&r| r != -1).collect();
    let times: Vec<i64> = times.into_iter().collect();
    let col_of = |i: usize| -> Option<usize> {
        if !imputable[i] {
            return None;
        }
        rel[i].and_then(|r| times.binary_search(&r).ok())
    };
    let treated_count = (0..n).filter(|&i| imputable[i] && input.treatment[i] == 1.0).count();
    if treated_count == 0 {
        return Err(invalid("cohort", "no treated row has an untreated outcome to impute from"));
    }
    let k = times.len();
    // Columns 0..k event times; k the overall treated indicator (a separate regression).
    let member = |i: usize, j: usize| -> bool {
        if j < k {
            col_of(i) == Some(j)
        } else {
            imputable[i] && input.treatment[i] == 1.0
        }
    };
    let mut count = vec![0.0; k + 1];
    let mut sum = vec![0.0; k + 1];
    for (i, &yt) in ytil.iter().enumerate() {
        if let Some(j) = col_of(i) {
            count[j] += 1.0;
            sum[j] += yt;
        }
        if member(i, k) {
            count[k] += 1.0;
            sum[k] += yt;
        }
    }
    let beta: Vec<f64> = (0..=k).map(|j| sum[j] / count[j]).collect();
    // GMM scores per cluster: ψ_gj = Σ_{i∈g, col j} e₂ᵢ − Σ_{i∈g untreated} (a_j[u] + l_j[t]) e₁ᵢ.
    let g = cluster.1;
    let mut psi = Array2::<f64>::zeros((g, k + 1));
    for j in 0..=k {
        let (mut bu, mut bt) = (vec![0.0; nu], vec![0.0; nt]);
        for i in 0..n {
            if member(i, j) {
                bu[input.unit[i] as usize] += 1.0;
                bt[c.time_codes[i] as usize] += 1.0;
            }
        }
        let (a, l, it) = tw.solve(&bu, &bt)?;
        iterations = iterations.max(it);
        for i in 0..n {
            let cg = cluster.0[i] as usize;
            if member(i, j) {
                psi[[cg, j]] += ytil[i] - beta[j];
            }
            if input.treatment[i] == 0.0 && imputable[i] {
                psi[[cg, j]] -= (a[input.unit[i] as usize] + l[c.time_codes[i] as usize]) * ytil[i];
            }
        }
    }
    for (j, &cj) in count.iter().enumerate() {
        psi.column_mut(j).mapv_inplace(|v| v / cj);
    }
    let vcov = linalg::crossprod(psi.view());
    let df = g as f64 - 1.0;
    let tcrit = dist::t_critical(alpha, df);
    let se = |j: usize| vcov[[j, j]].max(0.0).sqrt();
    let points: Vec<EventStudyPoint> = times
        .iter()
        .enumerate()
        .map(|(j, &r)| EventStudyPoint {
            relative_time: r,
            att: beta[j],
            std_error: se(j),
            ci_low: beta[j] - tcrit * se(j),
            ci_high: beta[j] + tcrit * se(j),
            p_value: dist::t_p_value(beta[j] / se(j), df),
            n_obs: count[j] as usize,
        })
        .collect();
    let leads: Vec<Array1<f64>> = (0..k)
        .filter(|&j| times[j] < -1)
        .map(|j| Array1::from_shape_fn(k + 1, |m| if m == j { 1.0 } else { 0.0 }))
        .collect();
    let fit =
        ols::Fit { coef: Array1::from(beta.clone()), vcov: vcov.clone(), n, df, rss: f64::NAN, n_clusters: Some(g) };
    let (pre_f, pre_p) = joint(&leads, &fit, warnings);
    // The ATT weighs the post event times by their treated rows.
    let post_w: Array1<f64> = (0..k).map(|j| if times[j] >= 0 { count[j] / count[k] } else { 0.0 }).collect();
    let idx: Vec<usize> = (0..k).collect();
    let v_times = linalg::submatrix(vcov.view(), &idx);
    let power = super::pretrend::power(&times, &v_times, &post_w, -1, beta[k], alpha);
    let atts: Array1<f64> = beta[..k].iter().copied().collect();
    let slope = super::pretrend::slope_test(&times, &atts, &v_times, &post_w, -1, beta[k], df, alpha);
    Ok(Out {
        estimate: beta[k],
        std_error: se(k),
        df,
        n_obs: n - lost_rows,
        words: format!(
            "imputation (Borusyak-Jaravel-Spiess; Gardner's two-stage): GMM cluster-robust errors with the first stage; t with {df} df"
        ),
        points,
        pre_f,
        pre_p,
        power,
        slope,
        iterations,
    })
}
