//! Treatment effects under measured confounding: regression adjustment, inverse propensity
//! weighting (logistic propensity, stabilised/normalised weights, trimming) and AIPW (doubly
//! robust), for the ATE and the ATT, with influence-function standard errors, overlap
//! diagnostics (propensity ranges, effective sample sizes, standardised mean differences before
//! and after weighting) and the E-value.
//!
//! ATT estimators are Sant'Anna and Zhao's (the cross-sectional case of DRDID's `reg_did_panel`,
//! `std_ipw_did_panel` and `drdid_panel`, shared with Callaway-Sant'Anna). ATE: regression
//! adjustment and Hajek IPW with the nuisance estimation effect in their influence functions;
//! AIPW with its efficient influence function.

use serde::{Deserialize, Serialize};

use ndarray::{Array1, Array2, ArrayView1, Axis, CowArray, Ix1};

use crate::columns::Columns;
use crate::did::staggered::{two_by_two, CsMethod};
use crate::inference::Inference;
use crate::{dist, linalg, logit};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EffectError {
    #[error("{column}: {message}")]
    InvalidInput { column: String, message: String },
    #[error("{0}")]
    Model(String),
}

fn invalid(column: &str, message: impl Into<String>) -> EffectError {
    EffectError::InvalidInput { column: column.to_string(), message: message.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EffectMethod {
    Regression,
    Ipw,
    Aipw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Estimand {
    Ate,
    Att,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EffectSettings {
    pub method: EffectMethod,
    pub estimand: Estimand,
    pub alpha: f64,
    /// ATE: drop units whose propensity lies outside [trim, 1 - trim]; ATT: drop only controls
    /// above 1 - trim (0 keeps all).
    pub trim: f64,
}

impl Default for EffectSettings {
    fn default() -> Self {
        Self { method: EffectMethod::Aipw, estimand: Estimand::Ate, alpha: 0.05, trim: 0.01 }
    }
}

#[derive(Debug, Clone, Default)]
pub struct EffectInput {
    pub outcome: (String, Array1<f64>),
    pub treatment: (String, Array1<f64>),
    pub covariates: Columns,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Balance {
    pub covariate: String,
    /// Standardised mean difference (pooled SD), unweighted and weighted.
    pub smd_before: f64,
    pub smd_after: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Overlap {
    pub propensity_treated_min: f64,
    pub propensity_treated_max: f64,
    pub propensity_control_min: f64,
    pub propensity_control_max: f64,
    pub trimmed: usize,
    /// (Σw)²/Σw² of the weights each group gets.
    pub effective_sample_size_treated: f64,
    pub effective_sample_size_control: f64,
    pub balance: Vec<Balance>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EValue {
    /// The confounding strength (risk-ratio scale) needed to explain the estimate away.
    pub estimate: f64,
    /// The same for the confidence limit closer to the null (1 when the interval covers 0).
    pub ci: f64,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EffectResult {
    pub method: String,
    pub estimator: String,
    pub estimand: Estimand,
    #[serde(flatten)]
    pub inference: Inference,
    pub overlap: Overlap,
    pub e_value: EValue,
    pub warnings: Vec<String>,
    /// Every unit's propensity score (before trimming) and whether it was treated, for an overlap
    /// plot (in-process only; not serialised).
    #[serde(skip)]
    pub scores: Option<(Vec<f64>, Vec<bool>)>,
}

/// The E-value of VanderWeele and Ding (2017) for a mean difference `d` in an outcome with
/// standard deviation `sd`, via the approximate risk ratio exp(0.91 d / sd).
pub fn e_value(estimate: f64, ci_low: f64, ci_high: f64, sd: f64) -> EValue {
    let ev = |diff: f64| {
        let rr = (0.91 * diff / sd).exp();
        let rr = if rr < 1.0 { 1.0 / rr } else { rr };
        rr + (rr * (rr - 1.0)).sqrt()
    };
    let ci = if ci_low <= 0.0 && ci_high >= 0.0 {
        1.0
    } else if estimate > 0.0 {
        ev(ci_low)
    } else {
        ev(ci_high)
    };
    EValue {
        estimate: ev(estimate),
        ci,
        note: "risk-ratio scale via RR ≈ exp(0.91 × effect / SD(outcome)) (VanderWeele & Ding 2017)".into(),
    }
}

fn mean(v: ArrayView1<f64>) -> f64 {
    v.sum() / v.len() as f64
}

fn smd(x: ArrayView1<f64>, d: ArrayView1<f64>, w: Option<ArrayView1<f64>>) -> f64 {
    // One pass, branch-free: the 0/1 treatment multiplies, so six independent sums (indexing and
    // a branch per row made this a fifth of the AIPW fit).
    let mut acc = [[0.0f64; 3]; 2];
    let mut add = |xi: f64, di: f64, wi: f64| {
        let (w1, w0) = (wi * di, wi * (1.0 - di));
        acc[1][0] += w1;
        acc[1][1] += w1 * xi;
        acc[1][2] += w1 * xi * xi;
        acc[0][0] += w0;
        acc[0][1] += w0 * xi;
        acc[0][2] += w0 * xi * xi;
    };
    match w {
        Some(w) => x.iter().zip(d.iter()).zip(w.iter()).for_each(|((&xi, &di), &wi)| add(xi, di, wi)),
        None => x.iter().zip(d.iter()).for_each(|(&xi, &di)| add(xi, di, 1.0)),
    }
    let stats = |[sw, sx, sxx]: [f64; 3]| {
        let m = sx / sw;
        (m, (sxx / sw - m * m).max(0.0))
    };
    let ((m0, v0), (m1, v1)) = (stats(acc[0]), stats(acc[1]));
    let pooled = ((v1 + v0) / 2.0).sqrt();
    if pooled > 0.0 {
        (m1 - m0) / pooled
    } else {
        0.0
    }
}

fn ess(w: ArrayView1<f64>, d: ArrayView1<f64>, treated: bool) -> f64 {
    let (mut s, mut s2) = (0.0, 0.0);
    for (wi, di) in w.iter().zip(d) {
        if (*di == 1.0) == treated {
            s += wi;
            s2 += wi * wi;
        }
    }
    s * s / s2
}

pub fn fit(input: &EffectInput, settings: &EffectSettings) -> Result<EffectResult, EffectError> {
    let (yname, y0) = (&input.outcome.0, &input.outcome.1);
    let (dname, d0) = (&input.treatment.0, &input.treatment.1);
    let n0 = y0.len();
    if n0 == 0 {
        return Err(invalid(yname, "no rows"));
    }
    if !(settings.alpha > 0.0 && settings.alpha < 1.0) {
        return Err(invalid("alpha", "must be between 0 and 1"));
    }
    if !(0.0..0.5).contains(&settings.trim) {
        return Err(invalid("trim", "must be in [0, 0.5)"));
    }
    if d0.len() != n0 {
        return Err(invalid(dname, format!("has {} rows; the outcome has {n0}", d0.len())));
    }
    if !input.covariates.is_empty() && input.covariates.n() != n0 {
        return Err(invalid(
            &input.covariates.names()[0],
            format!("has {} rows; the outcome has {n0}", input.covariates.n()),
        ));
    }
    for (name, col) in [(yname, y0), (dname, d0)] {
        if let Some(i) = col.iter().position(|v| !v.is_finite()) {
            return Err(invalid(name, format!("row {}: not a finite number", i + 1)));
        }
    }
    if let Some((name, row)) = input.covariates.first_non_finite() {
        return Err(invalid(name, format!("row {row}: not a finite number")));
    }
    if let Some(i) = d0.iter().position(|&v| v != 0.0 && v != 1.0) {
        return Err(invalid(dname, format!("row {}: must be 0 or 1", i + 1)));
    }
    let n_t = d0.iter().filter(|&&v| v == 1.0).count();
    if n_t == 0 || n_t == n0 {
        return Err(invalid(dname, "is constant: no treated or no control units"));
    }
    if input.covariates.is_empty() {
        return Err(invalid("covariates", "name at least one covariate (the confounders to adjust for)"));
    }
    // Propensity on the full sample, then trimming.
    let design = input.covariates.with_intercept();
    let ps = logit::fit(design.view(), d0.view()).map_err(|e| EffectError::Model(format!("propensity score: {e}")))?;
    let scores = Some((ps.p.to_vec(), d0.iter().map(|&v| v == 1.0).collect()));
    // The ATT keeps every treated unit and drops only controls too like the treated to weigh
    // (DRDID's convention: the estimand stays the effect on all the treated); the ATE drops
    // both sides, so it becomes the effect on the population with overlap, which the warnings say.
    let keep: Vec<usize> = (0..n0)
        .filter(|&i| match settings.estimand {
            Estimand::Att => d0[i] == 1.0 || ps.p[i] <= 1.0 - settings.trim,
            Estimand::Ate => ps.p[i] >= settings.trim && ps.p[i] <= 1.0 - settings.trim,
        })
        .collect();
    let trimmed = n0 - keep.len();
    let trimmed_treated = (0..n0).filter(|&i| d0[i] == 1.0).count() - keep.iter().filter(|&&i| d0[i] == 1.0).count();
    // Nothing trimmed: the input's rows as they are (views, and the propensity's design); else
    // copies of the kept rows. The covariates are a view of the design's columns.
    let (y, d, x): (CowArray<f64, Ix1>, CowArray<f64, Ix1>, Array2<f64>) = if trimmed == 0 {
        (y0.view().into(), d0.view().into(), design)
    } else {
        drop(design);
        let x = input.covariates.rows(&keep).with_intercept();
        (y0.select(Axis(0), &keep).into(), d0.select(Axis(0), &keep).into(), x)
    };
    let xs = linalg::block(x.view(), 0..x.nrows(), 1..x.ncols());
    let n = y.len();
    let nt = d.iter().filter(|&&v| v == 1.0).count();
    if nt < 2 || n - nt < 2 {
        return Err(EffectError::Model("too few treated or control units remain after trimming".into()));
    }
    // Re-fit the propensity on the kept sample (its estimation enters the influence functions);
    // with nothing trimmed the first fit is that fit.
    let psf = if trimmed == 0 {
        ps
    } else {
        logit::fit(x.view(), d.view()).map_err(|e| EffectError::Model(format!("propensity score: {e}")))?
    };
    let e = psf.p.clone();

    let (estimate, inf, estimator) = match settings.estimand {
        Estimand::Att => {
            let m = match settings.method {
                EffectMethod::Regression => CsMethod::Reg,
                EffectMethod::Ipw => CsMethod::Ipw,
                EffectMethod::Aipw => CsMethod::Dr,
            };
            let (att, inf) = two_by_two(y.view(), d.view(), xs.view(), m).map_err(EffectError::Model)?;
            (att, inf, settings.method)
        }
        Estimand::Ate => {
            let nf = n as f64;
            // Outcome regressions in each arm: fitted values for every unit and A⁻¹ of the arm's
            // design, A = (1/n) Σ_{arm} x x'. Weighted least squares with 0/1 arm weights.
            let arm = |t: f64| -> Result<(Array1<f64>, Array2<f64>), EffectError> {
                let wt = d.mapv(|di| if di == t { 1.0 } else { 0.0 });
                let a = linalg::weighted_crossprod(x.view(), wt.view());
                let xy = x.t().dot(&(&y * &wt));
                let coef = linalg::cholesky(a.view())
                    .map_err(|e| EffectError::Model(format!("outcome model: column {} collinear", e.column)))?
                    .solve(xy.view());
                let fitted = x.dot(&coef);
                let ainv = linalg::inv_spd((a / nf).view())
                    .map_err(|_| EffectError::Model("outcome model: singular design".into()))?;
                Ok((fitted, ainv))
            };
            let (mu1, a1inv) = arm(1.0)?;
            let (mu0, a0inv) = arm(0.0)?;
            let untreated = d.mapv(|v| 1.0 - v);
            match settings.method {
                EffectMethod::Regression => {
                    let tau = (&mu1 - &mu0).sum() / nf;
                    let xbar = x.t().sum_axis(Axis(1)) / nf;
                    let xg1 = x.dot(&a1inv.dot(&xbar));
                    let xg0 = x.dot(&a0inv.dot(&xbar));
                    let inf = &mu1 - &mu0 - tau + &xg1 * &d * (&y - &mu1) - &xg0 * &untreated * (&y - &mu0);
                    (tau, inf, EffectMethod::Regression)
                }
                EffectMethod::Ipw => {
                    let w1 = &d / &e;
                    let w0 = &untreated / &e.mapv(|v| 1.0 - v);
                    let (s1, s0) = (mean(w1.view()), mean(w0.view()));
                    let m1 = w1.dot(&y) / (nf * s1);
                    let m0 = w0.dot(&y) / (nf * s0);
                    let tau = m1 - m0;
                    // Estimation effect of the propensity: M' H⁻¹ s_i, s_i = (d - e) x.
                    let va = -(&w1 * &y.mapv(|v| v - m1) * e.mapv(|v| 1.0 - v)) / (nf * s1);
                    let vb = &w0 * &y.mapv(|v| v - m0) * &e / (nf * s0);
                    let mvec = x.t().dot(&(va - vb));
                    let hm = psf.hessian_inv_n.dot(&mvec);
                    let psi = &w1 * &y.mapv(|v| v - m1) / s1 - &w0 * &y.mapv(|v| v - m0) / s0;
                    let inf = psi + (&d - &e) * x.dot(&hm);
                    (tau, inf, EffectMethod::Ipw)
                }
                EffectMethod::Aipw => {
                    let phi = &mu1 - &mu0 + &d * (&y - &mu1) / &e - &untreated * (&y - &mu0) / e.mapv(|v| 1.0 - v);
                    let tau = mean(phi.view());
                    (tau, phi - tau, EffectMethod::Aipw)
                }
            }
        }
    };
    let se = (inf.iter().map(|v| v * v).sum::<f64>()).sqrt() / n as f64;
    let z = dist::normal_critical(settings.alpha);
    let (ci_low, ci_high) = (estimate - z * se, estimate + z * se);

    // Overlap diagnostics with the weights of the estimand.
    let w: Array1<f64> = (0..n)
        .map(|i| match settings.estimand {
            Estimand::Ate => {
                if d[i] == 1.0 {
                    1.0 / e[i]
                } else {
                    1.0 / (1.0 - e[i])
                }
            }
            Estimand::Att => {
                if d[i] == 1.0 {
                    1.0
                } else {
                    e[i] / (1.0 - e[i])
                }
            }
        })
        .collect();
    let range = |t: bool| {
        let v: Vec<f64> = (0..n).filter(|&i| (d[i] == 1.0) == t).map(|i| e[i]).collect();
        (v.iter().cloned().fold(f64::INFINITY, f64::min), v.iter().cloned().fold(f64::NEG_INFINITY, f64::max))
    };
    let ((t_min, t_max), (c_min, c_max)) = (range(true), range(false));
    let balance = input
        .covariates
        .names()
        .iter()
        .zip(xs.columns())
        .map(|(name, x)| Balance {
            covariate: name.clone(),
            smd_before: smd(x, d.view(), None),
            smd_after: smd(x, d.view(), Some(w.view())),
        })
        .collect::<Vec<_>>();
    let mut warnings = Vec::new();
    if trimmed > 0 {
        warnings.push(match settings.estimand {
            Estimand::Att => format!(
                "{trimmed} control unit(s) with propensity above {} trimmed (no treated unit is: the estimate is \
                 still the effect on all the treated)",
                1.0 - settings.trim
            ),
            Estimand::Ate => format!(
                "{trimmed} unit(s) with propensity outside [{}, {}] trimmed ({trimmed_treated} of them treated): the \
                 estimate is the average effect in the population with overlap, not in the whole sample",
                settings.trim,
                1.0 - settings.trim
            ),
        });
    }
    if let Some(b) = balance.iter().find(|b| b.smd_after.abs() > 0.1) {
        warnings.push(format!("covariate {} still imbalanced after weighting (SMD {:.3})", b.covariate, b.smd_after));
    }
    let sd_y = {
        let m = mean(y.view());
        (y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt()
    };
    let name = match estimator {
        EffectMethod::Regression => "regression",
        EffectMethod::Ipw => "ipw",
        EffectMethod::Aipw => "aipw",
    };
    Ok(EffectResult {
        method: "treatment_effect".into(),
        estimator: name.into(),
        estimand: settings.estimand,
        inference: Inference {
            estimate,
            std_error: Some(se),
            ci_low: Some(ci_low),
            ci_high: Some(ci_high),
            p_value: Some(dist::normal_p_value(estimate / se)),
            n_obs: n,
            inference: "influence-function standard errors (normal)".into(),
        },
        overlap: Overlap {
            propensity_treated_min: t_min,
            propensity_treated_max: t_max,
            propensity_control_min: c_min,
            propensity_control_max: c_max,
            trimmed,
            effective_sample_size_treated: ess(w.view(), d.view(), true),
            effective_sample_size_control: ess(w.view(), d.view(), false),
            balance,
        },
        e_value: e_value(estimate, ci_low, ci_high, sd_y),
        warnings,
        scores,
    })
}

/// One robustness check of an estimate (DoWhy's refuters).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Refutation {
    pub refuter: String,
    /// The estimate under the refutation (the mean over repetitions where there are several).
    pub new_estimate: f64,
    /// How far it moved from the original estimate.
    pub change: f64,
    /// A p-value where the check has one (placebo: share of permutations at least as large).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    pub survived: bool,
    pub detail: String,
}

/// Refute an estimate three ways, with a seed:
/// - placebo treatment: the treatment randomly permuted (`reps` times); the effect should vanish,
///   and the real estimate should be larger than nearly all placebo estimates;
/// - random common cause: an independent random covariate added; the estimate should not move
///   beyond a fraction of its standard error;
/// - data subset: re-estimated on random 80% subsets; the estimates should stay within about two
///   standard errors of the original.
pub fn refute(
    input: &EffectInput,
    settings: &EffectSettings,
    seed: u64,
    reps: usize,
) -> Result<Vec<Refutation>, EffectError> {
    let base = fit(input, settings)?;
    let mut rng = crate::rng::Rng::new(seed);
    let n = input.outcome.1.len();
    let reps = reps.max(2);
    let mut out = Vec::new();

    // Placebo treatment: permutations of the treatment column.
    let mut placebo = Vec::with_capacity(reps);
    for _ in 0..reps {
        let mut d = input.treatment.1.clone();
        for i in (1..n).rev() {
            let j = rng.below(i + 1);
            d.swap(i, j);
        }
        let mut inp = input.clone();
        inp.treatment.1 = d;
        if let Ok(f) = fit(&inp, settings) {
            placebo.push(f.inference.estimate);
        }
    }
    let pm = placebo.iter().sum::<f64>() / placebo.len().max(1) as f64;
    let extreme = placebo.iter().filter(|e| e.abs() >= base.inference.estimate.abs()).count();
    let p = (extreme + 1) as f64 / (placebo.len() + 1) as f64;
    out.push(Refutation {
        refuter: "placebo_treatment".into(),
        new_estimate: pm,
        change: pm - base.inference.estimate,
        p_value: Some(p),
        survived: p <= settings.alpha.max(1.0 / (placebo.len() + 1) as f64)
            && pm.abs() < 2.0 * base.inference.std_error.unwrap_or(f64::NAN),
        detail: format!("{} permutations of the treatment; mean placebo effect {pm:.4}", placebo.len()),
    });

    // Random common cause.
    let mut inp = input.clone();
    let noise: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    inp.covariates =
        inp.covariates.with_column("random_common_cause", noise).map_err(|e| invalid(&e.column, e.to_string()))?;
    let rc = fit(&inp, settings)?;
    out.push(Refutation {
        refuter: "random_common_cause".into(),
        new_estimate: rc.inference.estimate,
        change: rc.inference.estimate - base.inference.estimate,
        p_value: None,
        survived: (rc.inference.estimate - base.inference.estimate).abs()
            < 0.5 * base.inference.std_error.unwrap_or(f64::NAN),
        detail: "an independent N(0,1) covariate added to the adjustment set".into(),
    });

    // Data subsets.
    let mut subs = Vec::with_capacity(reps);
    for _ in 0..reps {
        let keep: Vec<usize> = (0..n).filter(|_| rng.uniform() < 0.8).collect();
        let inp = EffectInput {
            outcome: (input.outcome.0.clone(), input.outcome.1.select(Axis(0), &keep)),
            treatment: (input.treatment.0.clone(), input.treatment.1.select(Axis(0), &keep)),
            covariates: input.covariates.rows(&keep),
        };
        if let Ok(f) = fit(&inp, settings) {
            subs.push(f.inference.estimate);
        }
    }
    let sm = subs.iter().sum::<f64>() / subs.len().max(1) as f64;
    let worst = subs.iter().map(|e| (e - base.inference.estimate).abs()).fold(0.0, f64::max);
    out.push(Refutation {
        refuter: "data_subset".into(),
        new_estimate: sm,
        change: sm - base.inference.estimate,
        p_value: None,
        survived: worst < 2.0 * base.inference.std_error.unwrap_or(f64::NAN) / 0.8f64.sqrt() + 1e-12,
        detail: format!("{} random 80% subsets; largest move {worst:.4}", subs.len()),
    });
    Ok(out)
}

crate::impl_estimate!(EffectResult);
