//! Instrumental variables (`InstrumentalVariablesAnalyzer`): two-stage least squares with one or
//! more endogenous regressors and instruments, exogenous controls (an intercept is always
//! included), classical, robust (HC0/HC1) or cluster-robust (CR1) errors, and diagnostics:
//! first-stage F per endogenous regressor (robust and non-robust) with partial R², Sargan and
//! Hansen J overidentification tests, the Durbin-Wu-Hausman endogeneity test; and
//! [`identify_instruments`], which ranks candidate instruments by first-stage strength and tests
//! each one's exogeneity against the others (difference-in-Sargan).
//!
//! # Conventions (matching linearmodels 7.1 `IV2SLS(...).fit(cov_type=..., debiased=True)`)
//! classical s² = e'e/(n-k); HC1 n/(n-k); CR1 G/(G-1)·(n-1)/(n-k); t with n-k df (G-1 clustered).

use serde::{Deserialize, Serialize};

use crate::estimators::ols::{self, SeKind};
use crate::estimators::{dist, linalg};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IvError {
    #[error("{column}: {message}")]
    InvalidInput { column: String, message: String },
    #[error("{what}: collinear with the other regressors or instruments")]
    Collinear { what: String },
    #[error("instruments: {instruments} excluded instrument(s) for {endogenous} endogenous regressor(s); need at least as many")]
    UnderIdentified { instruments: usize, endogenous: usize },
    #[error("cluster: {found} cluster(s); cluster-robust errors need at least 2")]
    TooFewClusters { found: usize },
}

fn invalid(column: &str, message: impl Into<String>) -> IvError {
    IvError::InvalidInput { column: column.to_string(), message: message.into() }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IvSettings {
    pub se: SeKind,
    pub alpha: f64,
}

impl Default for IvSettings {
    fn default() -> Self {
        Self { se: SeKind::Hc1, alpha: 0.05 }
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default)]
pub struct IvInput {
    pub outcome: (String, Vec<f64>),
    pub endogenous: Vec<(String, Vec<f64>)>,
    pub instruments: Vec<(String, Vec<f64>)>,
    pub controls: Vec<(String, Vec<f64>)>,
    pub cluster: Option<(Vec<u32>, usize)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Coefficient {
    pub name: String,
    pub estimate: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FirstStage {
    pub endogenous: String,
    /// F test that the excluded instruments' coefficients are zero, classical errors.
    pub f_stat: f64,
    pub f_p_value: f64,
    /// The same test with the chosen robust (or cluster-robust) covariance.
    pub f_stat_robust: f64,
    pub f_p_value_robust: f64,
    pub partial_r2: f64,
    pub df: (f64, f64),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IvResult {
    pub method: String,
    pub estimator: String,
    /// The first endogenous regressor's coefficient.
    pub estimate: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub n_obs: usize,
    pub inference: String,
    pub coefficients: Vec<Coefficient>,
    pub first_stage: Vec<FirstStage>,
    /// The smallest first-stage F (the one that matters for weak instruments), robust if errors are.
    pub first_stage_f: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sargan: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hansen_j: Option<f64>,
    /// Hansen's J p-value when errors are robust, Sargan's otherwise; absent when exactly identified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overid_p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overid_df: Option<usize>,
    pub wu_hausman_f: f64,
    pub durbin_chi2: f64,
    /// Wu-Hausman F-test p-value (H0: the regressors are exogenous).
    pub endogeneity_p_value: f64,
    pub warnings: Vec<String>,
}

fn check(input: &IvInput) -> Result<usize, IvError> {
    let n = input.outcome.1.len();
    if n == 0 {
        return Err(invalid(&input.outcome.0, "no rows"));
    }
    if input.endogenous.is_empty() {
        return Err(invalid("endogenous", "name at least one endogenous regressor"));
    }
    if input.instruments.len() < input.endogenous.len() {
        return Err(IvError::UnderIdentified {
            instruments: input.instruments.len(),
            endogenous: input.endogenous.len(),
        });
    }
    let all = std::iter::once(&input.outcome).chain(&input.endogenous).chain(&input.instruments).chain(&input.controls);
    for (name, col) in all {
        if col.len() != n {
            return Err(invalid(name, format!("has {} rows; the outcome has {n}", col.len())));
        }
        if let Some(i) = col.iter().position(|v| !v.is_finite()) {
            return Err(invalid(name, format!("row {}: not a finite number", i + 1)));
        }
        let first = col[0];
        if name != &input.outcome.0 && col.iter().all(|&v| v == first) {
            return Err(invalid(name, "is constant"));
        }
    }
    Ok(n)
}

/// Wald test of `idx` coefficients = 0 with covariance `v`: (F = W/q, chi2 = W).
fn wald(fit: &ols::Fit, idx: &[usize]) -> f64 {
    let v = linalg::submatrix(&fit.vcov, fit.k, idx);
    let b: Vec<f64> = idx.iter().map(|&j| fit.coef[j]).collect();
    linalg::quad_form_inv(&v, idx.len(), &b).unwrap_or(f64::NAN)
}

fn r2_uncentered_resid(resid: &[f64]) -> f64 {
    linalg::dot(resid, resid)
}

/// Two-stage least squares and its diagnostics.
pub fn fit(input: &IvInput, settings: &IvSettings) -> Result<IvResult, IvError> {
    let n = check(input)?;
    if !(settings.alpha > 0.0 && settings.alpha < 1.0) {
        return Err(invalid("alpha", "must be between 0 and 1"));
    }
    let cluster = match (settings.se, &input.cluster) {
        (SeKind::Cluster, Some((ids, g))) => {
            if *g < 2 {
                return Err(IvError::TooFewClusters { found: *g });
            }
            Some((ids.as_slice(), *g))
        }
        (SeKind::Cluster, None) => return Err(invalid("cluster", "cluster-robust errors need a cluster column")),
        _ => None,
    };
    let one = vec![1.0; n];
    let p = input.endogenous.len();
    let q = input.instruments.len();
    // Exogenous block W = [1, controls]; full instrument set Z = [W, instruments].
    let mut w: Vec<&[f64]> = vec![&one];
    w.extend(input.controls.iter().map(|(_, c)| c.as_slice()));
    let mut z = w.clone();
    z.extend(input.instruments.iter().map(|(_, c)| c.as_slice()));
    let zs = ols::solve(&z, &one).map_err(|s| IvError::Collinear { what: z_name(input, s.column) })?;
    drop(zs);

    // First stages.
    let mut fitted: Vec<Vec<f64>> = Vec::with_capacity(p);
    let mut first_resid: Vec<Vec<f64>> = Vec::with_capacity(p);
    let mut first_stage = Vec::with_capacity(p);
    let excl: Vec<usize> = (w.len()..z.len()).collect();
    for (name, x) in &input.endogenous {
        let s = ols::solve(&z, x).map_err(|e| IvError::Collinear { what: z_name(input, e.column) })?;
        let fx: Vec<f64> = x.iter().zip(&s.resid).map(|(a, r)| a - r).collect();
        let classical = ols::covariance(&z, &s, SeKind::Classical, z.len(), None);
        let robust_kind = if settings.se == SeKind::Classical { SeKind::Hc1 } else { settings.se };
        let robust = ols::covariance(&z, &s, robust_kind, z.len(), cluster);
        let df2 = if robust_kind == SeKind::Cluster { robust.df } else { (n - z.len()) as f64 };
        let f = wald(&classical, &excl) / q as f64;
        let fr = wald(&robust, &excl) / q as f64;
        // Partial R²: how much the excluded instruments explain beyond the controls.
        let restricted = ols::solve(&w, x).map_err(|e| IvError::Collinear { what: w_name(input, e.column) })?;
        let partial_r2 = 1.0 - r2_uncentered_resid(&s.resid) / r2_uncentered_resid(&restricted.resid);
        first_stage.push(FirstStage {
            endogenous: name.clone(),
            f_stat: f,
            f_p_value: dist::f_p_value(f, q as f64, (n - z.len()) as f64),
            f_stat_robust: fr,
            f_p_value_robust: dist::f_p_value(fr, q as f64, df2),
            partial_r2,
            df: (q as f64, (n - z.len()) as f64),
        });
        first_resid.push(s.resid);
        fitted.push(fx);
    }

    // Second stage: y on [X̂, W]; residuals with the actual X.
    let mut xhat: Vec<&[f64]> = fitted.iter().map(|c| c.as_slice()).collect();
    xhat.extend(w.iter().copied());
    let mut xact: Vec<&[f64]> = input.endogenous.iter().map(|(_, c)| c.as_slice()).collect();
    xact.extend(w.iter().copied());
    let y = &input.outcome.1;
    let s2 = ols::solve(&xhat, y).map_err(|e| IvError::Collinear { what: x_name(input, e.column) })?;
    let mut resid = y.clone();
    for (c, col) in s2.coef.iter().zip(&xact) {
        for (r, v) in resid.iter_mut().zip(col.iter()) {
            *r -= c * v;
        }
    }
    let k = xhat.len();
    let solved = ols::Solved { coef: s2.coef.clone(), xtx_inv: s2.xtx_inv.clone(), resid: resid.clone() };
    let fit = ols::covariance(&xhat, &solved, settings.se, k, cluster);
    let tcrit = dist::t_critical(settings.alpha, fit.df);
    let names: Vec<String> = input
        .endogenous
        .iter()
        .map(|(n, _)| n.clone())
        .chain(std::iter::once("intercept".to_string()))
        .chain(input.controls.iter().map(|(n, _)| n.clone()))
        .collect();
    let coefficients: Vec<Coefficient> = (0..k)
        .map(|j| {
            let (b, se) = (fit.coef[j], fit.se(j));
            Coefficient {
                name: names[j].clone(),
                estimate: b,
                std_error: se,
                ci_low: b - tcrit * se,
                ci_high: b + tcrit * se,
                p_value: dist::t_p_value(b / se, fit.df),
            }
        })
        .collect();

    // Overidentification: Sargan = n R² of e on Z (uncentred e has mean ~0 with an intercept);
    // Hansen J from two-step efficient GMM with a heteroskedasticity-robust weight.
    let (mut sargan, mut hansen_j, mut overid_p, mut overid_df) = (None, None, None, None);
    if q > p {
        let df = q - p;
        let se_ = ols::solve(&z, &resid).map_err(|e| IvError::Collinear { what: z_name(input, e.column) })?;
        let ee = linalg::dot(&resid, &resid);
        let s = n as f64 * (1.0 - linalg::dot(&se_.resid, &se_.resid) / ee);
        sargan = Some(s);
        let j = hansen_j_stat(&z, &xact, y, &resid);
        hansen_j = j;
        overid_df = Some(df);
        overid_p = match settings.se {
            SeKind::Classical => Some(dist::chi2_p_value(s, df as f64)),
            _ => j.map(|j| dist::chi2_p_value(j, df as f64)),
        };
    }

    // Durbin-Wu-Hausman: add the first-stage residuals to the structural OLS and test them.
    let mut aug: Vec<&[f64]> = xact.clone();
    aug.extend(first_resid.iter().map(|c| c.as_slice()));
    let sa = ols::solve(&aug, y).map_err(|e| IvError::Collinear { what: format!("control function {}", e.column) })?;
    let kk = aug.len();
    let ca = ols::covariance(&aug, &sa, SeKind::Classical, kk, None);
    let vidx: Vec<usize> = (k..kk).collect();
    let wu = wald(&ca, &vidx) / p as f64;
    let wu_p = dist::f_p_value(wu, p as f64, (n - kk) as f64);
    // Durbin: n (RSS_ols - RSS_aug) / RSS_ols, chi2(p).
    let so = ols::solve(&xact, y).map_err(|e| IvError::Collinear { what: x_name(input, e.column) })?;
    let rss_o = linalg::dot(&so.resid, &so.resid);
    let durbin = n as f64 * (rss_o - linalg::dot(&sa.resid, &sa.resid)) / rss_o;

    let mut warnings = Vec::new();
    let min_f = first_stage
        .iter()
        .map(|f| if settings.se == SeKind::Classical { f.f_stat } else { f.f_stat_robust })
        .fold(f64::INFINITY, f64::min);
    if min_f < 10.0 {
        warnings.push(format!("weak instruments: first-stage F = {min_f:.2} < 10; 2SLS is biased towards OLS"));
    }
    let c0 = &coefficients[0];
    Ok(IvResult {
        method: "iv".into(),
        estimator: "2sls".into(),
        estimate: c0.estimate,
        std_error: c0.std_error,
        ci_low: c0.ci_low,
        ci_high: c0.ci_high,
        p_value: c0.p_value,
        n_obs: n,
        inference: format!("{}; t with {} df", settings.se.describe(), fit.df),
        coefficients,
        first_stage,
        first_stage_f: min_f,
        sargan,
        hansen_j,
        overid_p_value: overid_p,
        overid_df,
        wu_hausman_f: wu,
        durbin_chi2: durbin,
        endogeneity_p_value: wu_p,
        warnings,
    })
}

/// J = n ḡ' S⁻¹ ḡ at the two-step efficient GMM estimate, S = mean(zᵢzᵢ'eᵢ²) from 2SLS residuals.
fn hansen_j_stat(z: &[&[f64]], x: &[&[f64]], y: &[f64], e0: &[f64]) -> Option<f64> {
    let n = y.len();
    let l = z.len();
    let k = x.len();
    let nf = n as f64;
    let mut s = vec![0.0; l * l];
    for i in 0..n {
        let e2 = e0[i] * e0[i];
        for a in 0..l {
            for b in 0..=a {
                s[a * l + b] += z[a][i] * z[b][i] * e2;
            }
        }
    }
    for a in 0..l {
        for b in 0..a {
            s[b * l + a] = s[a * l + b];
        }
    }
    s.iter_mut().for_each(|v| *v /= nf);
    let winv = linalg::inv_spd(&s, l).ok()?;
    // Z'X (l x k), Z'y (l)
    let zx: Vec<f64> =
        (0..l).flat_map(|a| (0..k).map(move |b| (a, b))).map(|(a, b)| linalg::dot(z[a], x[b]) / nf).collect();
    let zy: Vec<f64> = (0..l).map(|a| linalg::dot(z[a], y) / nf).collect();
    // beta = (X'Z W Z'X)^-1 X'Z W Z'y
    let mut a_mat = vec![0.0; k * k];
    let mut rhs = vec![0.0; k];
    for r in 0..k {
        for c in 0..k {
            let mut acc = 0.0;
            for a in 0..l {
                for b in 0..l {
                    acc += zx[a * k + r] * winv[a * l + b] * zx[b * k + c];
                }
            }
            a_mat[r * k + c] = acc;
        }
        let mut acc = 0.0;
        for a in 0..l {
            for b in 0..l {
                acc += zx[a * k + r] * winv[a * l + b] * zy[b];
            }
        }
        rhs[r] = acc;
    }
    let lch = linalg::cholesky(&a_mat, k).ok()?;
    let beta = linalg::chol_solve(&lch, k, &rhs);
    let mut e = y.to_vec();
    for (bj, col) in beta.iter().zip(x) {
        for (r, v) in e.iter_mut().zip(col.iter()) {
            *r -= bj * v;
        }
    }
    let g: Vec<f64> = (0..l).map(|a| linalg::dot(z[a], &e) / nf).collect();
    let mut j = 0.0;
    for a in 0..l {
        for b in 0..l {
            j += g[a] * winv[a * l + b] * g[b];
        }
    }
    Some(nf * j)
}

fn w_name(input: &IvInput, j: usize) -> String {
    if j == 0 {
        "intercept".into()
    } else {
        input.controls.get(j - 1).map(|c| c.0.clone()).unwrap_or_default()
    }
}

fn z_name(input: &IvInput, j: usize) -> String {
    let nw = 1 + input.controls.len();
    if j < nw {
        w_name(input, j)
    } else {
        input.instruments.get(j - nw).map(|c| c.0.clone()).unwrap_or_default()
    }
}

fn x_name(input: &IvInput, j: usize) -> String {
    let p = input.endogenous.len();
    if j < p {
        input.endogenous[j].0.clone()
    } else {
        w_name(input, j - p)
    }
}

/// One candidate instrument's assessment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CandidateReport {
    pub name: String,
    /// First-stage F of the treatment on this candidate alone (plus controls), robust.
    pub first_stage_f: f64,
    pub first_stage_p_value: f64,
    pub partial_r2: f64,
    pub relevant: bool,
    /// Difference-in-Sargan (C) test of this candidate's exogeneity, maintaining the other
    /// relevant candidates as valid; absent when fewer than two candidates are relevant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exogeneity_p_value: Option<f64>,
    pub passes_exogeneity: Option<bool>,
    pub reasons: Vec<String>,
}

/// Rank candidates by first-stage strength (robust F, strongest first) and test each relevant
/// one's exogeneity against the others. `alpha` is the level of both tests; relevance also needs
/// F ≥ 10 (Staiger-Stock).
pub fn identify_instruments(
    outcome: (&str, &[f64]),
    treatment: (&str, &[f64]),
    candidates: &[(String, Vec<f64>)],
    controls: &[(String, Vec<f64>)],
    alpha: f64,
) -> Result<Vec<CandidateReport>, IvError> {
    if candidates.is_empty() {
        return Err(invalid("candidates", "name at least one candidate instrument"));
    }
    let base = |inst: Vec<(String, Vec<f64>)>| IvInput {
        outcome: (outcome.0.to_string(), outcome.1.to_vec()),
        endogenous: vec![(treatment.0.to_string(), treatment.1.to_vec())],
        instruments: inst,
        controls: controls.to_vec(),
        cluster: None,
    };
    let hc1 = IvSettings { se: SeKind::Hc1, alpha };
    let mut reports: Vec<CandidateReport> = Vec::new();
    for (name, col) in candidates {
        let r = fit(&base(vec![(name.clone(), col.clone())]), &hc1)?;
        let fs = &r.first_stage[0];
        let relevant = fs.f_p_value_robust < alpha && fs.f_stat_robust >= 10.0;
        let mut reasons = Vec::new();
        if fs.f_p_value_robust >= alpha {
            reasons.push(format!("not relevant: first-stage p = {:.3} ≥ {alpha}", fs.f_p_value_robust));
        } else if fs.f_stat_robust < 10.0 {
            reasons.push(format!("weak: first-stage F = {:.2} < 10", fs.f_stat_robust));
        }
        reports.push(CandidateReport {
            name: name.clone(),
            first_stage_f: fs.f_stat_robust,
            first_stage_p_value: fs.f_p_value_robust,
            partial_r2: fs.partial_r2,
            relevant,
            exogeneity_p_value: None,
            passes_exogeneity: None,
            reasons,
        });
    }
    let relevant: Vec<usize> = (0..candidates.len()).filter(|&i| reports[i].relevant).collect();
    if relevant.len() >= 2 {
        let all: Vec<(String, Vec<f64>)> = relevant.iter().map(|&i| candidates[i].clone()).collect();
        let full = fit(&base(all.clone()), &IvSettings { se: SeKind::Classical, alpha })?;
        let s_full = full.sargan.unwrap_or(0.0);
        for (pos, &i) in relevant.iter().enumerate() {
            let mut others = all.clone();
            others.remove(pos);
            let reduced = fit(&base(others), &IvSettings { se: SeKind::Classical, alpha })?;
            let c = (s_full - reduced.sargan.unwrap_or(0.0)).max(0.0);
            let pv = dist::chi2_p_value(c, 1.0);
            let pass = pv >= alpha;
            reports[i].exogeneity_p_value = Some(pv);
            reports[i].passes_exogeneity = Some(pass);
            if !pass {
                reports[i].reasons.push(format!(
                    "fails exogeneity: difference-in-Sargan p = {pv:.4} < {alpha} given the other relevant instruments"
                ));
            }
        }
    } else if relevant.len() == 1 {
        reports[relevant[0]]
            .reasons
            .push("exogeneity cannot be tested: no other relevant instrument to compare against".into());
    }
    reports.sort_by(|a, b| b.first_stage_f.total_cmp(&a.first_stage_f));
    Ok(reports)
}
