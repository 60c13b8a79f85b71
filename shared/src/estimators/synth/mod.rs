//! Synthetic control (`SyntheticControlAnalyzer`, Abadie, Diamond and Hainmueller 2010): donor
//! weights on the simplex minimising the V-weighted distance between the treated unit's
//! predictors and the synthetic unit's, with V chosen to minimise the pre-period outcome error.
//!
//! - The inner problem (weights for a fixed V) is a convex QP solved exactly by Clarabel's
//!   interior-point method.
//! - The outer search over V (diagonal, on the simplex) is non-convex: Nelder-Mead from several
//!   starts (equal weights, each predictor emphasised, seeded random points), keeping the best.
//! - Predictors are column means over a period range (R Synth's "special predictors" are the
//!   same with a one-period range), scaled by their standard deviation across all units, as
//!   pysyncon and R Synth do.
//! - Inference: placebo-in-space (every donor as the treated unit, re-fitted), the post/pre
//!   RMSPE ratio and its permutation p-value.

#![allow(clippy::needless_range_loop)] // index loops over small dense blocks read clearest here

use clarabel::algebra::CscMatrix;
use clarabel::solver::{DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus, ZeroConeT};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::estimators::rng::Rng;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SynthError {
    #[error("{column}: {message}")]
    InvalidInput { column: String, message: String },
    #[error("the weight problem could not be solved: {0}")]
    Solver(String),
}

fn invalid(column: &str, message: impl Into<String>) -> SynthError {
    SynthError::InvalidInput { column: column.to_string(), message: message.into() }
}

/// A predictor: the mean of `column` over periods `start..=end`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Predictor {
    pub column: String,
    pub start: i64,
    pub end: i64,
}

impl Predictor {
    pub fn label(&self) -> String {
        if self.start == self.end {
            format!("{}:{}", self.column, self.start)
        } else {
            format!("{}:{}-{}", self.column, self.start, self.end)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthSettings {
    pub predictors: Vec<Predictor>,
    /// Periods whose outcome error V is chosen to minimise (default: every pre-treatment period).
    pub fit_window: Option<(i64, i64)>,
    /// A fixed V (one weight per predictor); `None` optimises it.
    pub v: Option<Vec<f64>>,
    pub placebo: bool,
    /// Random starts of the V search beyond the deterministic ones.
    pub random_starts: usize,
    pub seed: u64,
}

impl Default for SynthSettings {
    fn default() -> Self {
        Self { predictors: vec![], fit_window: None, v: None, placebo: false, random_starts: 4, seed: 20100101 }
    }
}

/// A long panel and the column values by name.
#[derive(Debug, Clone)]
pub struct SynthInput {
    pub unit: Vec<String>,
    pub time: Vec<i64>,
    pub outcome: String,
    pub columns: HashMap<String, Vec<f64>>,
    pub treated_unit: String,
    pub treatment_time: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Gap {
    pub time: i64,
    pub treated: f64,
    pub synthetic: f64,
    pub gap: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlaceboUnit {
    pub unit: String,
    pub pre_rmspe: f64,
    pub post_rmspe: f64,
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthResult {
    pub method: String,
    pub estimator: String,
    /// The average post-treatment gap (treated minus synthetic).
    pub estimate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    pub n_obs: usize,
    pub inference: String,
    pub treated_unit: String,
    pub treatment_time: i64,
    pub weights: BTreeMap<String, f64>,
    pub v: BTreeMap<String, f64>,
    pub pre_rmspe: f64,
    pub post_rmspe: f64,
    pub rmspe_ratio: f64,
    pub gaps: Vec<Gap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placebo_p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placebos: Option<Vec<PlaceboUnit>>,
    pub predictor_balance: Vec<(String, f64, f64)>,
    pub qp_solves: usize,
}

/// The wide problem: scaled predictors and outcomes per unit.
struct Problem {
    units: Vec<String>,
    times: Vec<i64>,
    /// x[u][p]: scaled predictor p of unit u; raw[u][p] unscaled.
    x: Vec<Vec<f64>>,
    raw: Vec<Vec<f64>>,
    /// y[u][t] outcome.
    y: Vec<Vec<f64>>,
    fit: Vec<usize>,
    pre: Vec<usize>,
    post: Vec<usize>,
}

fn build(input: &SynthInput, s: &SynthSettings) -> Result<Problem, SynthError> {
    let n = input.unit.len();
    if input.time.len() != n {
        return Err(invalid("time", "differs in length from the unit column"));
    }
    let units: Vec<String> = input.unit.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let times: Vec<i64> = input.time.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    if !units.contains(&input.treated_unit) {
        return Err(invalid("treated_unit", format!("{:?} is not a unit of the panel", input.treated_unit)));
    }
    if units.len() < 3 {
        return Err(invalid("unit", "need the treated unit and at least two donors"));
    }
    let ui: HashMap<&str, usize> = units.iter().enumerate().map(|(i, u)| (u.as_str(), i)).collect();
    let ti: HashMap<i64, usize> = times.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let wide = |col: &str| -> Result<Vec<Vec<f64>>, SynthError> {
        let v = input.columns.get(col).ok_or_else(|| invalid(col, "no such column"))?;
        let mut w = vec![vec![f64::NAN; times.len()]; units.len()];
        for i in 0..n {
            w[ui[input.unit[i].as_str()]][ti[&input.time[i]]] = v[i];
        }
        Ok(w)
    };
    let y = wide(&input.outcome)?;
    for (u, row) in y.iter().enumerate() {
        if let Some(t) = row.iter().position(|v| !v.is_finite()) {
            return Err(invalid(&input.outcome, format!("unit {} has no value for period {}", units[u], times[t])));
        }
    }
    let pre: Vec<usize> = (0..times.len()).filter(|&t| times[t] < input.treatment_time).collect();
    let post: Vec<usize> = (0..times.len()).filter(|&t| times[t] >= input.treatment_time).collect();
    if pre.len() < 2 {
        return Err(invalid("treatment_time", "fewer than two pre-treatment periods"));
    }
    if post.is_empty() {
        return Err(invalid("treatment_time", "no post-treatment periods"));
    }
    let fit: Vec<usize> = match s.fit_window {
        Some((a, b)) => {
            (0..times.len()).filter(|&t| times[t] >= a && times[t] <= b && times[t] < input.treatment_time).collect()
        }
        None => pre.clone(),
    };
    if fit.is_empty() {
        return Err(invalid("fit_window", "contains no pre-treatment period"));
    }
    let preds: Vec<Predictor> = if s.predictors.is_empty() {
        // Default: the outcome in each fit period.
        fit.iter().map(|&t| Predictor { column: input.outcome.clone(), start: times[t], end: times[t] }).collect()
    } else {
        s.predictors.clone()
    };
    let mut raw = vec![vec![0.0; preds.len()]; units.len()];
    for (p, pr) in preds.iter().enumerate() {
        if pr.start > pr.end {
            return Err(invalid("predictors", format!("{}: the range is empty", pr.label())));
        }
        let w = wide(&pr.column)?;
        for u in 0..units.len() {
            let vals: Vec<f64> = (0..times.len())
                .filter(|&t| times[t] >= pr.start && times[t] <= pr.end)
                .map(|t| w[u][t])
                .filter(|v| v.is_finite())
                .collect();
            if vals.is_empty() {
                return Err(invalid(
                    "predictors",
                    format!("{}: unit {} has no value in the range", pr.label(), units[u]),
                ));
            }
            raw[u][p] = vals.iter().sum::<f64>() / vals.len() as f64;
        }
    }
    // Scale each predictor by its standard deviation across all units.
    let mut x = raw.clone();
    for p in 0..preds.len() {
        let m = raw.iter().map(|r| r[p]).sum::<f64>() / units.len() as f64;
        let sd = (raw.iter().map(|r| (r[p] - m).powi(2)).sum::<f64>() / (units.len() as f64 - 1.0)).sqrt();
        if sd > 0.0 {
            x.iter_mut().for_each(|r| r[p] /= sd);
        }
    }
    let _ = preds;
    Ok(Problem { units, times, x, raw, y, fit, pre, post })
}

/// min_w (x1 - X0 w)' V (x1 - X0 w), w >= 0, Σw = 1, solved by Clarabel in the lifted form
/// min u'u s.t. u + V^½ X0 w = V^½ x1 (k residual variables): the quadratic term is diagonal and
/// the constraint matrix has k x J entries, so each interior-point step factorises a small system
/// instead of a dense J x J Gram matrix.
fn weights(x1: &[f64], x0: &[&[f64]], v: &[f64]) -> Result<Vec<f64>, SynthError> {
    let j = x0.len();
    let k = x1.len();
    let sv: Vec<f64> = v.iter().map(|x| x.max(0.0).sqrt()).collect();
    // Variables [w (J), u (k)]; P = diag(0, .., 0, 2, .., 2) (upper triangle).
    let mut colptr = vec![0usize; j + 1];
    let mut rowval = Vec::with_capacity(k);
    let mut nzval = Vec::with_capacity(k);
    for p in 0..k {
        rowval.push(j + p);
        nzval.push(2.0);
        colptr.push(rowval.len());
    }
    let pm = CscMatrix::new(j + k, j + k, colptr, rowval, nzval);
    let q = vec![0.0; j + k];
    // Rows: 0..k  u + V^½ X0 w = V^½ x1; k  Σw = 1 (zero cone); k+1..k+1+J  -w <= 0.
    let mut colptr = vec![0usize];
    let mut rowval = Vec::new();
    let mut nzval = Vec::new();
    for c in 0..j {
        for p in 0..k {
            rowval.push(p);
            nzval.push(sv[p] * x0[c][p]);
        }
        rowval.push(k);
        nzval.push(1.0);
        rowval.push(k + 1 + c);
        nzval.push(-1.0);
        colptr.push(rowval.len());
    }
    for p in 0..k {
        rowval.push(p);
        nzval.push(1.0);
        colptr.push(rowval.len());
    }
    let am = CscMatrix::new(k + 1 + j, j + k, colptr, rowval, nzval);
    let mut b = vec![0.0; k + 1 + j];
    for p in 0..k {
        b[p] = sv[p] * x1[p];
    }
    b[k] = 1.0;
    let cones = [ZeroConeT(k + 1), NonnegativeConeT(j)];
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .tol_gap_abs(1e-10)
        .tol_gap_rel(1e-10)
        .tol_feas(1e-10)
        .max_iter(100)
        .build()
        .map_err(|e| SynthError::Solver(format!("{e:?}")))?;
    let mut solver =
        DefaultSolver::new(&pm, &q, &am, &b, &cones, settings).map_err(|e| SynthError::Solver(format!("{e:?}")))?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => {}
        other => return Err(SynthError::Solver(format!("{other:?}"))),
    }
    let mut w: Vec<f64> = solver.solution.x[..j].iter().map(|v| v.max(0.0)).collect();
    let s: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= s);
    Ok(w)
}

struct Fitted {
    w: Vec<f64>,
    v: Vec<f64>,
    solves: usize,
}

/// Fit unit `treated` against `donors` (indices into the problem).
fn fit_unit(pb: &Problem, treated: usize, donors: &[usize], s: &SynthSettings) -> Result<Fitted, SynthError> {
    let x1 = &pb.x[treated];
    let x0: Vec<&[f64]> = donors.iter().map(|&d| pb.x[d].as_slice()).collect();
    let k = x1.len();
    let mut solves = 0usize;
    let loss = |w: &[f64]| -> f64 {
        pb.fit
            .iter()
            .map(|&t| {
                let synth: f64 = donors.iter().zip(w).map(|(&d, wi)| pb.y[d][t] * wi).sum();
                (pb.y[treated][t] - synth).powi(2)
            })
            .sum::<f64>()
            / pb.fit.len() as f64
    };
    if let Some(v) = &s.v {
        if v.len() != k || v.iter().any(|x| !x.is_finite() || *x < 0.0) || v.iter().sum::<f64>() <= 0.0 {
            return Err(invalid("v", format!("needs {k} non-negative weights, not all zero")));
        }
        let w = weights(x1, &x0, v)?;
        return Ok(Fitted { w, v: v.clone(), solves: 1 });
    }
    // V = θ² / Σθ² keeps V on the simplex with an unconstrained search.
    let to_v = |th: &[f64]| -> Vec<f64> {
        let s: f64 = th.iter().map(|t| t * t).sum::<f64>().max(1e-300);
        th.iter().map(|t| t * t / s).collect()
    };
    let mut objective = |th: &[f64]| -> f64 {
        solves += 1;
        match weights(x1, &x0, &to_v(th)) {
            Ok(w) => loss(&w),
            Err(_) => f64::INFINITY,
        }
    };
    let mut starts: Vec<Vec<f64>> = vec![vec![1.0; k]];
    for p in 0..k {
        let mut st = vec![0.3; k];
        st[p] = 1.0;
        starts.push(st);
    }
    let _ = &loss;
    let mut rng = Rng::new(s.seed);
    for _ in 0..s.random_starts {
        starts.push((0..k).map(|_| rng.uniform() + 0.05).collect());
    }
    let mut best: Option<(Vec<f64>, f64)> = None;
    for st in starts {
        let (th, f) = nelder_mead(&mut objective, &st, 250);
        if best.as_ref().is_none_or(|b| f < b.1) {
            best = Some((th, f));
        }
    }
    let (mut th, mut f) = best.ok_or_else(|| SynthError::Solver("no start".into()))?;
    // Polish: restart from the best point until it stops improving.
    for _ in 0..3 {
        let (t2, f2) = nelder_mead(&mut objective, &th, 400);
        if f2 < f - 1e-12 {
            th = t2;
            f = f2;
        } else {
            break;
        }
    }
    let v = to_v(&th);
    let w = weights(x1, &x0, &v)?;
    Ok(Fitted { w, v, solves: solves + 1 })
}

/// Nelder-Mead (standard coefficients), `iters` iterations at most.
fn nelder_mead(f: &mut dyn FnMut(&[f64]) -> f64, x0: &[f64], iters: usize) -> (Vec<f64>, f64) {
    let k = x0.len();
    let mut simplex: Vec<Vec<f64>> = vec![x0.to_vec()];
    for i in 0..k {
        let mut p = x0.to_vec();
        p[i] = if p[i] != 0.0 { p[i] * 1.05 } else { 0.00025 };
        simplex.push(p);
    }
    let mut vals: Vec<f64> = simplex.iter().map(|p| f(p)).collect();
    for _ in 0..iters {
        let mut order: Vec<usize> = (0..=k).collect();
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        simplex = order.iter().map(|&i| simplex[i].clone()).collect();
        vals = order.iter().map(|&i| vals[i]).collect();
        if (vals[k] - vals[0]).abs() <= 1e-10 * (1.0 + vals[0].abs()) {
            break;
        }
        let centroid: Vec<f64> = (0..k).map(|d| simplex[..k].iter().map(|p| p[d]).sum::<f64>() / k as f64).collect();
        let at = |t: f64| -> Vec<f64> { (0..k).map(|d| centroid[d] + t * (simplex[k][d] - centroid[d])).collect() };
        let xr = at(-1.0);
        let fr = f(&xr);
        if fr < vals[0] {
            let xe = at(-2.0);
            let fe = f(&xe);
            if fe < fr {
                simplex[k] = xe;
                vals[k] = fe;
            } else {
                simplex[k] = xr;
                vals[k] = fr;
            }
        } else if fr < vals[k - 1] {
            simplex[k] = xr;
            vals[k] = fr;
        } else {
            let (xc, fc) = if fr < vals[k] {
                let xc = at(-0.5);
                let fc = f(&xc);
                (xc, fc)
            } else {
                let xc = at(0.5);
                let fc = f(&xc);
                (xc, fc)
            };
            if fc < vals[k].min(fr) {
                simplex[k] = xc;
                vals[k] = fc;
            } else {
                for i in 1..=k {
                    let p: Vec<f64> = (0..k).map(|d| simplex[0][d] + 0.5 * (simplex[i][d] - simplex[0][d])).collect();
                    vals[i] = f(&p);
                    simplex[i] = p;
                }
            }
        }
    }
    let best = (0..=k).min_by(|&a, &b| vals[a].total_cmp(&vals[b])).unwrap_or(0);
    (simplex[best].clone(), vals[best])
}

fn rmspe(pb: &Problem, unit: usize, donors: &[usize], w: &[f64], periods: &[usize]) -> f64 {
    (periods
        .iter()
        .map(|&t| {
            let synth: f64 = donors.iter().zip(w).map(|(&d, wi)| pb.y[d][t] * wi).sum();
            (pb.y[unit][t] - synth).powi(2)
        })
        .sum::<f64>()
        / periods.len() as f64)
        .sqrt()
}

/// The inner objective (x1 - X0 w)' V (x1 - X0 w) on scaled predictors, for given donor weights
/// (by unit name) and V: to compare solutions of the weight problem.
pub fn predictor_loss(
    input: &SynthInput,
    s: &SynthSettings,
    weights: &BTreeMap<String, f64>,
    v: &[f64],
) -> Result<f64, SynthError> {
    let pb = build(input, s)?;
    let treated = pb.units.iter().position(|u| u == &input.treated_unit).unwrap_or(0);
    let k = pb.x[treated].len();
    let mut synth = vec![0.0; k];
    for (u, name) in pb.units.iter().enumerate() {
        if let Some(w) = weights.get(name) {
            for (s, x) in synth.iter_mut().zip(&pb.x[u]) {
                *s += w * x;
            }
        }
    }
    Ok((0..k).map(|p| v[p] * (pb.x[treated][p] - synth[p]).powi(2)).sum())
}

pub fn fit(input: &SynthInput, s: &SynthSettings) -> Result<SynthResult, SynthError> {
    let pb = build(input, s)?;
    let treated = pb.units.iter().position(|u| u == &input.treated_unit).unwrap_or(0);
    let donors: Vec<usize> = (0..pb.units.len()).filter(|&u| u != treated).collect();
    let f = fit_unit(&pb, treated, &donors, s)?;
    let mut solves = f.solves;
    let gaps: Vec<Gap> = (0..pb.times.len())
        .map(|t| {
            let synth: f64 = donors.iter().zip(&f.w).map(|(&d, wi)| pb.y[d][t] * wi).sum();
            Gap { time: pb.times[t], treated: pb.y[treated][t], synthetic: synth, gap: pb.y[treated][t] - synth }
        })
        .collect();
    let pre_rmspe = rmspe(&pb, treated, &donors, &f.w, &pb.pre);
    let post_rmspe = rmspe(&pb, treated, &donors, &f.w, &pb.post);
    let estimate = pb.post.iter().map(|&t| gaps[t].gap).sum::<f64>() / pb.post.len() as f64;
    let ratio = post_rmspe / pre_rmspe;
    let (placebos, p) = if s.placebo {
        // Every donor as the treated unit, fitted against the other donors (the real treated
        // unit excluded), with the same settings.
        let mut out = Vec::new();
        for &u in &donors {
            let others: Vec<usize> = donors.iter().copied().filter(|&d| d != u).collect();
            let fu = fit_unit(&pb, u, &others, s)?;
            solves += fu.solves;
            let pre = rmspe(&pb, u, &others, &fu.w, &pb.pre);
            let post = rmspe(&pb, u, &others, &fu.w, &pb.post);
            out.push(PlaceboUnit { unit: pb.units[u].clone(), pre_rmspe: pre, post_rmspe: post, ratio: post / pre });
        }
        let at_least = out.iter().filter(|pl| pl.ratio >= ratio).count();
        let p = (at_least + 1) as f64 / (out.len() + 1) as f64;
        (Some(out), Some(p))
    } else {
        (None, None)
    };
    let labels: Vec<String> = if s.predictors.is_empty() {
        pb.fit.iter().map(|&t| format!("{}:{}", input.outcome, pb.times[t])).collect()
    } else {
        s.predictors.iter().map(|p| p.label()).collect()
    };
    let predictor_balance = labels
        .iter()
        .enumerate()
        .map(|(p, l)| {
            let synth: f64 = donors.iter().zip(&f.w).map(|(&d, wi)| pb.raw[d][p] * wi).sum();
            (l.clone(), pb.raw[treated][p], synth)
        })
        .collect();
    Ok(SynthResult {
        method: "synthetic_control".into(),
        estimator: if s.v.is_some() { "synth_fixed_v".into() } else { "synth".into() },
        estimate,
        p_value: p,
        n_obs: input.unit.len(),
        inference: if s.placebo {
            "placebo-in-space permutation test on the post/pre RMSPE ratio".into()
        } else {
            "none (run with placebo for a permutation p-value)".into()
        },
        treated_unit: input.treated_unit.clone(),
        treatment_time: input.treatment_time,
        weights: donors.iter().zip(&f.w).map(|(&d, w)| (pb.units[d].clone(), *w)).collect(),
        v: labels.iter().cloned().zip(f.v.iter().copied()).collect(),
        pre_rmspe,
        post_rmspe,
        rmspe_ratio: ratio,
        gaps,
        placebo_p_value: p,
        placebos,
        predictor_balance,
        qp_solves: solves,
    })
}
