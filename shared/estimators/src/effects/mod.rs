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

use crate::did::staggered::{two_by_two, CsMethod};
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
#[serde(rename_all = "snake_case")]
pub enum EffectMethod {
    Regression,
    Ipw,
    Aipw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimand {
    Ate,
    Att,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EffectSettings {
    pub method: EffectMethod,
    pub estimand: Estimand,
    pub alpha: f64,
    /// Drop units whose propensity lies outside [trim, 1 - trim] (0 keeps all).
    pub trim: f64,
}

impl Default for EffectSettings {
    fn default() -> Self {
        Self { method: EffectMethod::Aipw, estimand: Estimand::Ate, alpha: 0.05, trim: 0.01 }
    }
}

#[derive(Debug, Clone, Default)]
pub struct EffectInput {
    pub outcome: (String, Vec<f64>),
    pub treatment: (String, Vec<f64>),
    pub covariates: Vec<(String, Vec<f64>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Balance {
    pub covariate: String,
    /// Standardised mean difference (pooled SD), unweighted and weighted.
    pub smd_before: f64,
    pub smd_after: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
pub struct EValue {
    /// The confounding strength (risk-ratio scale) needed to explain the estimate away.
    pub estimate: f64,
    /// The same for the confidence limit closer to the null (1 when the interval covers 0).
    pub ci: f64,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EffectResult {
    pub method: String,
    pub estimator: String,
    pub estimand: Estimand,
    pub estimate: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub n_obs: usize,
    pub inference: String,
    pub overlap: Overlap,
    pub e_value: EValue,
    pub warnings: Vec<String>,
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

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn smd(x: &[f64], d: &[f64], w: Option<&[f64]>) -> f64 {
    let stats = |treated: bool| {
        let (mut sw, mut sx, mut sxx) = (0.0, 0.0, 0.0);
        for i in 0..x.len() {
            if (d[i] == 1.0) == treated {
                let wi = w.map(|w| w[i]).unwrap_or(1.0);
                sw += wi;
                sx += wi * x[i];
                sxx += wi * x[i] * x[i];
            }
        }
        let m = sx / sw;
        (m, (sxx / sw - m * m).max(0.0))
    };
    let ((m1, v1), (m0, v0)) = (stats(true), stats(false));
    let pooled = ((v1 + v0) / 2.0).sqrt();
    if pooled > 0.0 {
        (m1 - m0) / pooled
    } else {
        0.0
    }
}

fn ess(w: &[f64], d: &[f64], treated: bool) -> f64 {
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
    let n0 = input.outcome.1.len();
    if n0 == 0 {
        return Err(invalid(&input.outcome.0, "no rows"));
    }
    if !(settings.alpha > 0.0 && settings.alpha < 1.0) {
        return Err(invalid("alpha", "must be between 0 and 1"));
    }
    if !(0.0..0.5).contains(&settings.trim) {
        return Err(invalid("trim", "must be in [0, 0.5)"));
    }
    for (name, col) in std::iter::once(&input.outcome).chain(std::iter::once(&input.treatment)).chain(&input.covariates)
    {
        if col.len() != n0 {
            return Err(invalid(name, format!("has {} rows; the outcome has {n0}", col.len())));
        }
        if let Some(i) = col.iter().position(|v| !v.is_finite()) {
            return Err(invalid(name, format!("row {}: not a finite number", i + 1)));
        }
    }
    if let Some(i) = input.treatment.1.iter().position(|&v| v != 0.0 && v != 1.0) {
        return Err(invalid(&input.treatment.0, format!("row {}: must be 0 or 1", i + 1)));
    }
    let n_t = input.treatment.1.iter().filter(|&&v| v == 1.0).count();
    if n_t == 0 || n_t == n0 {
        return Err(invalid(&input.treatment.0, "is constant: no treated or no control units"));
    }
    if input.covariates.is_empty() {
        return Err(invalid("covariates", "name at least one covariate (the confounders to adjust for)"));
    }
    // Propensity on the full sample, then trimming.
    let one = vec![1.0; n0];
    let mut cov: Vec<&[f64]> = vec![&one];
    cov.extend(input.covariates.iter().map(|(_, c)| c.as_slice()));
    let ps = logit::fit(&cov, &input.treatment.1).map_err(|e| EffectError::Model(format!("propensity score: {e}")))?;
    let keep: Vec<usize> = (0..n0).filter(|&i| ps.p[i] >= settings.trim && ps.p[i] <= 1.0 - settings.trim).collect();
    let trimmed = n0 - keep.len();
    let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let y = pick(&input.outcome.1);
    let d = pick(&input.treatment.1);
    let xs: Vec<Vec<f64>> = input.covariates.iter().map(|(_, c)| pick(c)).collect();
    let n = y.len();
    let nt = d.iter().filter(|&&v| v == 1.0).count();
    if nt < 2 || n - nt < 2 {
        return Err(EffectError::Model("too few treated or control units remain after trimming".into()));
    }
    // Re-fit the propensity on the kept sample (its estimation enters the influence functions);
    // with nothing trimmed the first fit is that fit.
    let one = vec![1.0; n];
    let mut xcols: Vec<&[f64]> = vec![&one];
    xcols.extend(xs.iter().map(|c| c.as_slice()));
    let k = xcols.len();
    let psf = if trimmed == 0 {
        ps
    } else {
        logit::fit(&xcols, &d).map_err(|e| EffectError::Model(format!("propensity score: {e}")))?
    };
    let e: Vec<f64> = psf.p.clone();

    let (estimate, inf, estimator) = match settings.estimand {
        Estimand::Att => {
            let m = match settings.method {
                EffectMethod::Regression => CsMethod::Reg,
                EffectMethod::Ipw => CsMethod::Ipw,
                EffectMethod::Aipw => CsMethod::Dr,
            };
            let (att, inf) = two_by_two(&y, &d, &xs, m).map_err(EffectError::Model)?;
            (att, inf, settings.method)
        }
        Estimand::Ate => {
            let nf = n as f64;
            // Outcome regressions in each arm.
            // Fitted values for every unit and A⁻¹ of the arm's design.
            let arm = |t: f64| -> Result<(Vec<f64>, Vec<f64>), EffectError> {
                // Weighted least squares with 0/1 arm weights: no copies of the data.
                let wt: Vec<f64> = d.iter().map(|&di| if di == t { 1.0 } else { 0.0 }).collect();
                let mut a = linalg::weighted_crossprod(&xcols, Some(&wt));
                let xy: Vec<f64> = xcols.iter().map(|c| linalg::dot3(c, &y, &wt)).collect();
                let l = linalg::cholesky(&a, k)
                    .map_err(|e| EffectError::Model(format!("outcome model: column {} collinear", e.column)))?;
                let coef = linalg::chol_solve(&l, k, &xy);
                let mut fitted = vec![0.0; n];
                for (c, bi) in xcols.iter().zip(&coef) {
                    for (f, xi) in fitted.iter_mut().zip(c.iter()) {
                        *f += bi * xi;
                    }
                }
                // A⁻¹ with A = (1/n) Σ_{arm} x x'
                a.iter_mut().for_each(|v| *v /= nf);
                let ainv =
                    linalg::inv_spd(&a, k).map_err(|_| EffectError::Model("outcome model: singular design".into()))?;
                Ok((fitted, ainv))
            };
            let (mu1, a1inv) = arm(1.0)?;
            let (mu0, a0inv) = arm(0.0)?;
            match settings.method {
                EffectMethod::Regression => {
                    let tau = (0..n).map(|i| mu1[i] - mu0[i]).sum::<f64>() / nf;
                    let xbar: Vec<f64> = (0..k).map(|a| mean(xcols[a])).collect();
                    let g1: Vec<f64> = (0..k).map(|b| (0..k).map(|a| xbar[a] * a1inv[a * k + b]).sum()).collect();
                    let g0: Vec<f64> = (0..k).map(|b| (0..k).map(|a| xbar[a] * a0inv[a * k + b]).sum()).collect();
                    let inf = (0..n)
                        .map(|i| {
                            let xg1: f64 = (0..k).map(|a| g1[a] * xcols[a][i]).sum();
                            let xg0: f64 = (0..k).map(|a| g0[a] * xcols[a][i]).sum();
                            mu1[i] - mu0[i] - tau + xg1 * d[i] * (y[i] - mu1[i]) - xg0 * (1.0 - d[i]) * (y[i] - mu0[i])
                        })
                        .collect::<Vec<_>>();
                    (tau, inf, EffectMethod::Regression)
                }
                EffectMethod::Ipw => {
                    let w1: Vec<f64> = (0..n).map(|i| d[i] / e[i]).collect();
                    let w0: Vec<f64> = (0..n).map(|i| (1.0 - d[i]) / (1.0 - e[i])).collect();
                    let (s1, s0) = (mean(&w1), mean(&w0));
                    let m1 = (0..n).map(|i| w1[i] * y[i]).sum::<f64>() / (nf * s1);
                    let m0 = (0..n).map(|i| w0[i] * y[i]).sum::<f64>() / (nf * s0);
                    let tau = m1 - m0;
                    // Estimation effect of the propensity: M' H⁻¹ s_i, s_i = (d - e) x.
                    let mvec: Vec<f64> = (0..k)
                        .map(|a| {
                            let ma = (0..n).map(|i| -w1[i] * (y[i] - m1) * (1.0 - e[i]) * xcols[a][i]).sum::<f64>()
                                / (nf * s1);
                            let mb = (0..n).map(|i| w0[i] * (y[i] - m0) * e[i] * xcols[a][i]).sum::<f64>() / (nf * s0);
                            ma - mb
                        })
                        .collect();
                    let hm: Vec<f64> =
                        (0..k).map(|b| (0..k).map(|a| mvec[a] * psf.hessian_inv_n[a * k + b]).sum()).collect();
                    let inf = (0..n)
                        .map(|i| {
                            let psi = w1[i] * (y[i] - m1) / s1 - w0[i] * (y[i] - m0) / s0;
                            let corr: f64 = (0..k).map(|b| hm[b] * (d[i] - e[i]) * xcols[b][i]).sum();
                            psi + corr
                        })
                        .collect::<Vec<_>>();
                    (tau, inf, EffectMethod::Ipw)
                }
                EffectMethod::Aipw => {
                    let phi: Vec<f64> = (0..n)
                        .map(|i| {
                            mu1[i] - mu0[i] + d[i] * (y[i] - mu1[i]) / e[i]
                                - (1.0 - d[i]) * (y[i] - mu0[i]) / (1.0 - e[i])
                        })
                        .collect();
                    let tau = mean(&phi);
                    (tau, phi.iter().map(|v| v - tau).collect(), EffectMethod::Aipw)
                }
            }
        }
    };
    let se = (inf.iter().map(|v| v * v).sum::<f64>()).sqrt() / n as f64;
    let z = dist::normal_critical(settings.alpha);
    let (ci_low, ci_high) = (estimate - z * se, estimate + z * se);

    // Overlap diagnostics with the weights of the estimand.
    let w: Vec<f64> = (0..n)
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
        .iter()
        .zip(&xs)
        .map(|((name, _), x)| Balance {
            covariate: name.clone(),
            smd_before: smd(x, &d, None),
            smd_after: smd(x, &d, Some(&w)),
        })
        .collect::<Vec<_>>();
    let mut warnings = Vec::new();
    if trimmed > 0 {
        warnings.push(format!(
            "{trimmed} unit(s) with propensity outside [{}, {}] trimmed",
            settings.trim,
            1.0 - settings.trim
        ));
    }
    if let Some(b) = balance.iter().find(|b| b.smd_after.abs() > 0.1) {
        warnings.push(format!("covariate {} still imbalanced after weighting (SMD {:.3})", b.covariate, b.smd_after));
    }
    let sd_y = {
        let m = mean(&y);
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
        estimate,
        std_error: se,
        ci_low,
        ci_high,
        p_value: dist::normal_p_value(estimate / se),
        n_obs: n,
        inference: "influence-function standard errors (normal)".into(),
        overlap: Overlap {
            propensity_treated_min: t_min,
            propensity_treated_max: t_max,
            propensity_control_min: c_min,
            propensity_control_max: c_max,
            trimmed,
            effective_sample_size_treated: ess(&w, &d, true),
            effective_sample_size_control: ess(&w, &d, false),
            balance,
        },
        e_value: e_value(estimate, ci_low, ci_high, sd_y),
        warnings,
    })
}

/// One robustness check of an estimate (DoWhy's refuters).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
            placebo.push(f.estimate);
        }
    }
    let pm = placebo.iter().sum::<f64>() / placebo.len().max(1) as f64;
    let extreme = placebo.iter().filter(|e| e.abs() >= base.estimate.abs()).count();
    let p = (extreme + 1) as f64 / (placebo.len() + 1) as f64;
    out.push(Refutation {
        refuter: "placebo_treatment".into(),
        new_estimate: pm,
        change: pm - base.estimate,
        p_value: Some(p),
        survived: p <= settings.alpha.max(1.0 / (placebo.len() + 1) as f64) && pm.abs() < 2.0 * base.std_error,
        detail: format!("{} permutations of the treatment; mean placebo effect {pm:.4}", placebo.len()),
    });

    // Random common cause.
    let mut inp = input.clone();
    inp.covariates.push(("random_common_cause".into(), (0..n).map(|_| rng.normal()).collect()));
    let rc = fit(&inp, settings)?;
    out.push(Refutation {
        refuter: "random_common_cause".into(),
        new_estimate: rc.estimate,
        change: rc.estimate - base.estimate,
        p_value: None,
        survived: (rc.estimate - base.estimate).abs() < 0.5 * base.std_error,
        detail: "an independent N(0,1) covariate added to the adjustment set".into(),
    });

    // Data subsets.
    let mut subs = Vec::with_capacity(reps);
    for _ in 0..reps {
        let keep: Vec<usize> = (0..n).filter(|_| rng.uniform() < 0.8).collect();
        let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        let inp = EffectInput {
            outcome: (input.outcome.0.clone(), pick(&input.outcome.1)),
            treatment: (input.treatment.0.clone(), pick(&input.treatment.1)),
            covariates: input.covariates.iter().map(|(n, c)| (n.clone(), pick(c))).collect(),
        };
        if let Ok(f) = fit(&inp, settings) {
            subs.push(f.estimate);
        }
    }
    let sm = subs.iter().sum::<f64>() / subs.len().max(1) as f64;
    let worst = subs.iter().map(|e| (e - base.estimate).abs()).fold(0.0, f64::max);
    out.push(Refutation {
        refuter: "data_subset".into(),
        new_estimate: sm,
        change: sm - base.estimate,
        p_value: None,
        survived: worst < 2.0 * base.std_error / 0.8f64.sqrt() + 1e-12,
        detail: format!("{} random 80% subsets; largest move {worst:.4}", subs.len()),
    });
    Ok(out)
}
