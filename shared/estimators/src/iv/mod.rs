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

use crate::ols::{self, SeKind};
use crate::{dist, linalg};

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

/// Rows `r` x columns `c` of a square matrix of order `k`.
fn block(m: &[f64], k: usize, r: &[usize], c: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(r.len() * c.len());
    for &i in r {
        for &j in c {
            out.push(m[i * k + j]);
        }
    }
    out
}

/// A (r x c) times B (c x s), row-major.
fn mul(a: &[f64], b: &[f64], r: usize, c: usize, s: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * s];
    for i in 0..r {
        for p in 0..c {
            let aip = a[i * c + p];
            for j in 0..s {
                out[i * s + j] += aip * b[p * s + j];
            }
        }
    }
    out
}

fn transpose(a: &[f64], r: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = a[i * c + j];
        }
    }
    out
}

/// Solve S X = B for SPD S (k x k) and B (k x s).
fn solve_spd(s_mat: &[f64], k: usize, b: &[f64], s: usize) -> Result<Vec<f64>, linalg::Singular> {
    let l = linalg::cholesky(s_mat, k)?;
    let mut out = vec![0.0; k * s];
    for j in 0..s {
        let col: Vec<f64> = (0..k).map(|i| b[i * s + j]).collect();
        let x = linalg::chol_solve(&l, k, &col);
        for i in 0..k {
            out[i * s + j] = x[i];
        }
    }
    Ok(out)
}

/// Wald statistic b_idx' V_idx⁻¹ b_idx.
fn wald(coef: &[f64], vcov: &[f64], k: usize, idx: &[usize]) -> f64 {
    let v = linalg::submatrix(vcov, k, idx);
    let b: Vec<f64> = idx.iter().map(|&j| coef[j]).collect();
    linalg::quad_form_inv(&v, idx.len(), &b).unwrap_or(f64::NAN)
}

/// The meat of a sandwich for coefficients that are linear in Z-scores: Σ (z e)(z e)' (HC) or the
/// cluster sums' outer products. Returns the L x L matrix in instrument space.
fn z_meat(z: &[&[f64]], e: &[f64], kind: SeKind, cluster: Option<(&[u32], usize)>) -> Vec<f64> {
    match (kind, cluster) {
        (SeKind::Cluster, Some((ids, g))) => {
            let l = z.len();
            let scores = ols::cluster_scores(z, e, ids, g);
            let mut m = vec![0.0; l * l];
            for row in scores.chunks_exact(l) {
                for a in 0..l {
                    for b in 0..l {
                        m[a * l + b] += row[a] * row[b];
                    }
                }
            }
            m
        }
        _ => {
            let e2: Vec<f64> = e.iter().map(|v| v * v).collect();
            linalg::weighted_crossprod(z, Some(&e2))
        }
    }
}

/// The small-sample factor of each covariance (see the module conventions).
fn vcov_scale(kind: SeKind, n: usize, k: usize, g: Option<usize>) -> f64 {
    let (nf, kf) = (n as f64, k as f64);
    match (kind, g) {
        (SeKind::Hc1, _) => nf / (nf - kf),
        (SeKind::Cluster, Some(g)) => {
            let gf = g as f64;
            gf / (gf - 1.0) * (nf - 1.0) / (nf - kf)
        }
        _ => 1.0,
    }
}

/// Two-stage least squares and its diagnostics. Every regression here is computed from one
/// blocked pass of cross-products over [W, Z, X, y] plus one pass per residual vector.
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
    let nw = 1 + input.controls.len();
    let l = nw + q;
    // All columns: [1, controls | instruments | endogenous | y].
    let mut all: Vec<&[f64]> = vec![&one];
    all.extend(input.controls.iter().map(|(_, c)| c.as_slice()));
    all.extend(input.instruments.iter().map(|(_, c)| c.as_slice()));
    all.extend(input.endogenous.iter().map(|(_, c)| c.as_slice()));
    all.push(&input.outcome.1);
    let ka = all.len();
    let m = linalg::weighted_crossprod(&all, None);
    let zi: Vec<usize> = (0..l).collect();
    let wi: Vec<usize> = (0..nw).collect();
    let xi: Vec<usize> = (l..l + p).collect();
    let yi = l + p;
    // Second-stage regressors A = [endogenous, 1, controls].
    let ai: Vec<usize> = xi.iter().copied().chain(wi.iter().copied()).collect();
    let k = ai.len();
    let z: Vec<&[f64]> = all[..l].to_vec();
    let a_cols: Vec<&[f64]> = ai.iter().map(|&i| all[i]).collect();

    let mzz = block(&m, ka, &zi, &zi);
    let mzz_l = linalg::cholesky(&mzz, l).map_err(|e| IvError::Collinear { what: z_name(input, e.column) })?;
    let pz_times = |b: &[f64], s: usize| -> Vec<f64> {
        let mut out = vec![0.0; l * s];
        for j in 0..s {
            let col: Vec<f64> = (0..l).map(|i| b[i * s + j]).collect();
            let x = linalg::chol_solve(&mzz_l, l, &col);
            for i in 0..l {
                out[i * s + j] = x[i];
            }
        }
        out
    };
    let mzz_inv = linalg::inv_spd(&mzz, l).map_err(|e| IvError::Collinear { what: z_name(input, e.column) })?;
    let mww = block(&m, ka, &wi, &wi);
    linalg::cholesky(&mww, nw).map_err(|e| IvError::Collinear { what: w_name(input, e.column) })?;

    // First stages.
    let robust_kind = if settings.se == SeKind::Classical { SeKind::Hc1 } else { settings.se };
    let excl: Vec<usize> = (nw..l).collect();
    let mut first_stage = Vec::with_capacity(p);
    for (j, (name, x)) in input.endogenous.iter().enumerate() {
        let xj = l + j;
        let mzx = block(&m, ka, &zi, &[xj]);
        let gam = pz_times(&mzx, 1);
        let rss_full = m[xj * ka + xj] - linalg::dot(&gam, &mzx);
        let mwx = block(&m, ka, &wi, &[xj]);
        let gw = solve_spd(&mww, nw, &mwx, 1).map_err(|e| IvError::Collinear { what: w_name(input, e.column) })?;
        let rss_r = m[xj * ka + xj] - linalg::dot(&gw, &mwx);
        let df2 = (n - l) as f64;
        let f = ((rss_r - rss_full) / q as f64) / (rss_full / df2);
        // Robust: the first-stage residuals' sandwich.
        let mut v = x.clone();
        for (c, col) in gam.iter().zip(&z) {
            for (r, zv) in v.iter_mut().zip(col.iter()) {
                *r -= c * zv;
            }
        }
        let meat = z_meat(&z, &v, robust_kind, cluster);
        let mut vc = linalg::sandwich(&mzz_inv, &meat, l);
        let scale = vcov_scale(robust_kind, n, l, cluster.map(|c| c.1));
        vc.iter_mut().for_each(|x| *x *= scale);
        let fr = wald(&gam, &vc, l, &excl) / q as f64;
        let df2r = if robust_kind == SeKind::Cluster { cluster.map(|c| c.1 as f64 - 1.0).unwrap_or(df2) } else { df2 };
        first_stage.push(FirstStage {
            endogenous: name.clone(),
            f_stat: f,
            f_p_value: dist::f_p_value(f, q as f64, df2),
            f_stat_robust: fr,
            f_p_value_robust: dist::f_p_value(fr, q as f64, df2r),
            partial_r2: 1.0 - rss_full / rss_r,
            df: (q as f64, df2),
        });
    }

    // Second stage from the normal equations: X̂ = Z Γ with Γ = (Z'Z)⁻¹ Z'A.
    let mza = block(&m, ka, &zi, &ai);
    let gamma = pz_times(&mza, k); // L x k
    let maz = transpose(&mza, l, k);
    let qmat = mul(&maz, &gamma, k, l, k); // X̂'X̂
    let mzy = block(&m, ka, &zi, &[yi]);
    let cvec = mul(&transpose(&gamma, l, k), &mzy, k, l, 1);
    let beta = solve_spd(&qmat, k, &cvec, 1).map_err(|e| IvError::Collinear { what: x_name(input, e.column) })?;
    let qinv = linalg::inv_spd(&qmat, k).map_err(|e| IvError::Collinear { what: x_name(input, e.column) })?;
    let mut e = input.outcome.1.clone();
    for (b, col) in beta.iter().zip(&a_cols) {
        for (r, v) in e.iter_mut().zip(col.iter()) {
            *r -= b * v;
        }
    }
    let ee = linalg::dot(&e, &e);
    let dfr = (n - k) as f64;
    let need_s = settings.se != SeKind::Classical || q > p;
    let s_z = if need_s { Some(z_meat(&z, &e, SeKind::Hc0, None)) } else { None };
    let (vcov, df) = match settings.se {
        SeKind::Classical => (qinv.iter().map(|v| v * ee / dfr).collect::<Vec<_>>(), dfr),
        kind => {
            let meat_z =
                if kind == SeKind::Cluster { z_meat(&z, &e, kind, cluster) } else { s_z.clone().unwrap_or_default() };
            let meat = mul(&mul(&transpose(&gamma, l, k), &meat_z, k, l, l), &gamma, k, l, k);
            let mut v = linalg::sandwich(&qinv, &meat, k);
            let scale = vcov_scale(kind, n, k, cluster.map(|c| c.1));
            v.iter_mut().for_each(|x| *x *= scale);
            match (kind, cluster) {
                (SeKind::Cluster, Some((_, g))) => (v, g as f64 - 1.0),
                _ => (v, dfr),
            }
        }
    };
    let tcrit = dist::t_critical(settings.alpha, df);
    let names: Vec<String> = input
        .endogenous
        .iter()
        .map(|(n, _)| n.clone())
        .chain(std::iter::once("intercept".to_string()))
        .chain(input.controls.iter().map(|(n, _)| n.clone()))
        .collect();
    let coefficients: Vec<Coefficient> = (0..k)
        .map(|j| {
            let (b, se) = (beta[j], vcov[j * k + j].max(0.0).sqrt());
            Coefficient {
                name: names[j].clone(),
                estimate: b,
                std_error: se,
                ci_low: b - tcrit * se,
                ci_high: b + tcrit * se,
                p_value: dist::t_p_value(b / se, df),
            }
        })
        .collect();

    // Overidentification: Sargan = n (Z'e)'(Z'Z)⁻¹(Z'e) / e'e; Hansen J at two-step efficient GMM
    // with S = mean(zz'e²) from the 2SLS residuals.
    let (mut sargan, mut hansen_j, mut overid_p, mut overid_df) = (None, None, None, None);
    if q > p {
        let df_o = q - p;
        let ze: Vec<f64> = (0..l).map(|i| mzy[i] - (0..k).map(|j| mza[i * k + j] * beta[j]).sum::<f64>()).collect();
        let s_val = n as f64 * linalg::dot(&ze, &pz_times(&ze, 1)) / ee;
        sargan = Some(s_val);
        let nf = n as f64;
        let j_val = s_z.as_ref().and_then(|sz| {
            let s_mat: Vec<f64> = sz.iter().map(|v| v / nf).collect();
            let w = linalg::inv_spd(&s_mat, l).ok()?;
            let zx: Vec<f64> = mza.iter().map(|v| v / nf).collect();
            let zy: Vec<f64> = mzy.iter().map(|v| v / nf).collect();
            let xzw = mul(&transpose(&zx, l, k), &w, k, l, l);
            let lhs = mul(&xzw, &zx, k, l, k);
            let rhs = mul(&xzw, &zy, k, l, 1);
            let bg = solve_spd(&lhs, k, &rhs, 1).ok()?;
            let g: Vec<f64> = (0..l).map(|i| zy[i] - (0..k).map(|j| zx[i * k + j] * bg[j]).sum::<f64>()).collect();
            let wg = mul(&w, &g, l, l, 1);
            Some(nf * linalg::dot(&g, &wg))
        });
        hansen_j = j_val;
        overid_df = Some(df_o);
        overid_p = match settings.se {
            SeKind::Classical => Some(dist::chi2_p_value(s_val, df_o as f64)),
            _ => j_val.map(|j| dist::chi2_p_value(j, df_o as f64)),
        };
    }

    // Durbin-Wu-Hausman from cross-products: V̂ = X - Z (Z'Z)⁻¹ Z'X.
    let mzxe = block(&m, ka, &zi, &xi);
    let pzx = pz_times(&mzxe, p); // L x p
    let proj = |rows: &[usize]| -> Vec<f64> {
        // M_{rows,X} - M_{rows,Z} (Z'Z)⁻¹ Z'X
        let direct = block(&m, ka, rows, &xi);
        let via = mul(&block(&m, ka, rows, &zi), &pzx, rows.len(), l, p);
        direct.iter().zip(&via).map(|(a, b)| a - b).collect()
    };
    let av = proj(&ai); // k x p: A'V̂
    let vv = proj(&xi); // p x p: V̂'V̂ (X'V̂ = V̂'V̂)
    let vy: Vec<f64> = proj(&[yi]); // 1 x p: y'V̂
    let kk = k + p;
    let maa = block(&m, ka, &ai, &ai);
    let may = block(&m, ka, &ai, &[yi]);
    let mut gaug = vec![0.0; kk * kk];
    for i in 0..k {
        for j in 0..k {
            gaug[i * kk + j] = maa[i * k + j];
        }
        for j in 0..p {
            gaug[i * kk + k + j] = av[i * p + j];
            gaug[(k + j) * kk + i] = av[i * p + j];
        }
    }
    for i in 0..p {
        for j in 0..p {
            gaug[(k + i) * kk + k + j] = vv[i * p + j];
        }
    }
    let baug: Vec<f64> = may.iter().copied().chain(vy.iter().copied()).collect();
    let yy = m[yi * ka + yi];
    let beta_aug =
        solve_spd(&gaug, kk, &baug, 1).map_err(|_| IvError::Collinear { what: "control function".into() })?;
    let rss_aug = yy - linalg::dot(&beta_aug, &baug);
    let beta_o = solve_spd(&maa, k, &may, 1).map_err(|e| IvError::Collinear { what: x_name(input, e.column) })?;
    let rss_o = yy - linalg::dot(&beta_o, &may);
    let wu = ((rss_o - rss_aug) / p as f64) / (rss_aug / (n - kk) as f64);
    let wu_p = dist::f_p_value(wu, p as f64, (n - kk) as f64);
    let durbin = n as f64 * (rss_o - rss_aug) / rss_o;

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
        inference: format!("{}; t with {} df", settings.se.describe(), df),
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
