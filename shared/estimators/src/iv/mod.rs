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

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

pub mod weak;

use crate::columns::Columns;
use crate::inference::Inference;
use crate::ols::SeKind;
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IvSettings {
    pub se: SeKind,
    pub alpha: f64,
}

impl Default for IvSettings {
    fn default() -> Self {
        Self { se: SeKind::Hc1, alpha: 0.05 }
    }
}

/// The outcome and named columns of one length (see [`Columns`]).
#[derive(Debug, Clone, Default)]
pub struct IvInput {
    pub outcome: (String, Array1<f64>),
    pub endogenous: Columns,
    pub instruments: Columns,
    /// Exogenous controls (an intercept is always added).
    pub controls: Columns,
    pub cluster: Option<(Vec<u32>, usize)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Coefficient {
    pub name: String,
    pub estimate: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// With several endogenous regressors: Sanderson-Windmeijer's conditional F (classical), the
    /// strength of the instruments for this regressor given the others (the first-stage F can
    /// look strong when the instruments only move the regressors together); with one it equals
    /// the first-stage F. Degrees of freedom (q − p + 1, n − l).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sw_f: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IvResult {
    pub method: String,
    pub estimator: String,
    /// The first endogenous regressor's coefficient.
    #[serde(flatten)]
    pub inference: Inference,
    /// Degrees of freedom of the t distribution behind the intervals and p-values (n - k, or the
    /// number of clusters - 1); an interval at another level is estimate ± t(df) × std_error.
    #[serde(default = "nan")]
    pub df: f64,
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
    /// The endogeneity test's p-value (H0: the regressors are exogenous) under the chosen errors:
    /// Wu-Hausman's F when classical, else the control-function Wald test with the robust or
    /// clustered covariance (`endogeneity_test` names it).
    pub endogeneity_p_value: f64,
    pub endogeneity_statistic: f64,
    pub endogeneity_test: String,
    /// One endogenous regressor: the Anderson-Rubin test and confidence set under the chosen
    /// errors (`ar_p_value`, `ar_statistic`, `ar_ci_low`, `ar_ci_high`, `ar_confidence_set`),
    /// valid however weak the instruments.
    #[serde(
        flatten,
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::inference::strict_ar"
    )]
    pub anderson_rubin: Option<weak::ArResult>,
    /// One endogenous regressor: Montiel Olea-Pflueger's effective first-stage F under the
    /// chosen errors (the classical F with classical errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_f: Option<f64>,
    /// One endogenous regressor and one instrument, at the 5% level: Lee-McCrary-Moreira-Porter's
    /// tF critical value for the t-ratio given the first-stage F under the chosen errors
    /// (`tf_critical_value`, `tf_ci_low`, `tf_ci_high`).
    #[serde(
        flatten,
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::inference::strict_tf"
    )]
    pub tf: Option<weak::TfResult>,
    /// One endogenous regressor and several instruments: Moreira's conditional likelihood-ratio
    /// test (homoskedastic) and its confidence set (`clr_statistic`, `clr_p_value`,
    /// `clr_ci_low`, `clr_ci_high`, `clr_confidence_set`).
    #[serde(
        flatten,
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::inference::strict_clr"
    )]
    pub clr: Option<weak::ClrResult>,
    pub warnings: Vec<String>,
}

fn check(input: &IvInput) -> Result<usize, IvError> {
    let (yname, y) = &input.outcome;
    let n = y.len();
    if n == 0 {
        return Err(invalid(yname, "no rows"));
    }
    if input.endogenous.is_empty() {
        return Err(invalid("endogenous", "name at least one endogenous regressor"));
    }
    if input.instruments.k() < input.endogenous.k() {
        return Err(IvError::UnderIdentified { instruments: input.instruments.k(), endogenous: input.endogenous.k() });
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(invalid(yname, format!("row {}: not a finite number", i + 1)));
    }
    for cols in [&input.endogenous, &input.instruments, &input.controls] {
        if !cols.is_empty() && cols.n() != n {
            return Err(invalid(&cols.names()[0], format!("has {} rows; the outcome has {n}", cols.n())));
        }
        if let Some((name, row)) = cols.first_non_finite() {
            return Err(invalid(name, format!("row {row}: not a finite number")));
        }
        if let Some(name) = cols.first_constant() {
            return Err(invalid(name, "is constant"));
        }
    }
    Ok(n)
}

/// Rows `r` x columns `c` of `m`.
fn block(m: &Array2<f64>, r: &[usize], c: &[usize]) -> Array2<f64> {
    m.select(Axis(0), r).select(Axis(1), c)
}

/// Rows `r` of column `c` of `m`.
fn col(m: &Array2<f64>, r: &[usize], c: usize) -> Array1<f64> {
    r.iter().map(|&i| m[[i, c]]).collect()
}

/// Wald statistic b_idx' V_idx⁻¹ b_idx.
fn wald(coef: ArrayView1<f64>, vcov: ArrayView2<f64>, idx: &[usize]) -> f64 {
    let v = linalg::submatrix(vcov, idx);
    let b: Array1<f64> = idx.iter().map(|&j| coef[j]).collect();
    linalg::quad_form_inv(v.view(), b.view()).unwrap_or(f64::NAN)
}

/// Appends a meat to the pass's list and returns its place.
fn push<'a>(specs: &mut Vec<linalg::Meat<'a>>, spec: Option<linalg::Meat<'a>>) -> Option<usize> {
    spec.map(|s| {
        specs.push(s);
        specs.len() - 1
    })
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
/// pass of cross-products over [W, Z, X, y] plus one pass per residual vector.
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
    let p = input.endogenous.k();
    let q = input.instruments.k();
    let nw = 1 + input.controls.k();
    let l = nw + q;
    // The widest regression fitted: the first stage (constant, controls, instruments) or the
    // control function's (constant, controls, endogenous regressors and their residuals); each
    // needs a residual degree of freedom.
    let widest = l.max(nw + 2 * p);
    if n <= widest {
        return Err(invalid(
            &input.outcome.0,
            format!(
                "{n} rows for {widest} coefficients (the constant, the controls, and the instruments or the endogenous \
                 regressors with their first-stage residuals): at least {} rows are needed",
                widest + 1
            ),
        ));
    }
    // All columns as slices, no copy: [1, controls | instruments | endogenous | y]. `Columns`
    // is column-major, so each column is one contiguous run.
    let mut all: Vec<&[f64]> = vec![&one];
    for part in [&input.controls, &input.instruments, &input.endogenous] {
        all.extend(part.slices());
    }
    let y = input.outcome.1.view();
    let y_copy: Vec<f64>;
    all.push(match y.to_slice() {
        Some(s) => s,
        None => {
            y_copy = y.to_vec();
            &y_copy
        }
    });
    let m = linalg::crossprod_columns(&all, None);
    let zi: Vec<usize> = (0..l).collect();
    let wi: Vec<usize> = (0..nw).collect();
    let xi: Vec<usize> = (l..l + p).collect();
    let yi = l + p;
    // Second-stage regressors A = [endogenous, 1, controls].
    let ai: Vec<usize> = xi.iter().copied().chain(wi.iter().copied()).collect();
    let k = ai.len();

    let mzz = block(&m, &zi, &zi);
    let mzz_chol = linalg::cholesky(mzz.view()).map_err(|e| IvError::Collinear { what: z_name(input, e.column) })?;
    let mzz_inv = mzz_chol.inverse();
    let mww = block(&m, &wi, &wi);
    let mww_chol = linalg::cholesky(mww.view()).map_err(|e| IvError::Collinear { what: w_name(input, e.column) })?;

    let robust_kind = if settings.se == SeKind::Classical { SeKind::Hc1 } else { settings.se };
    let robust = settings.se != SeKind::Classical;
    let excl: Vec<usize> = (nw..l).collect();
    // Everything that only needs the cross-products comes first; then one pass over the rows
    // computes every residual and every sandwich meat.
    // First stages: x_j on Z.
    let gams: Vec<Array1<f64>> = (0..p).map(|j| mzz_chol.solve(col(&m, &zi, l + j).view())).collect();

    // Second stage from the normal equations: X̂ = Z Γ with Γ = (Z'Z)⁻¹ Z'A.
    let mza = block(&m, &zi, &ai);
    let gamma = mzz_chol.solve_matrix(mza.view()); // L x k
    let qmat = mza.t().dot(&gamma); // X̂'X̂
    let mzy = col(&m, &zi, yi);
    let cvec = gamma.t().dot(&mzy);
    let q_chol = linalg::cholesky(qmat.view()).map_err(|e| IvError::Collinear { what: x_name(input, e.column) })?;
    let beta = q_chol.solve(cvec.view());
    let qinv = q_chol.inverse();

    // Durbin-Wu-Hausman from cross-products: V̂ = X - Z (Z'Z)⁻¹ Z'X.
    let pzx = mzz_chol.solve_matrix(block(&m, &zi, &xi).view()); // L x p
                                                                 // M_{rows,X} - M_{rows,Z} (Z'Z)⁻¹ Z'X
    let proj = |rows: &[usize]| -> Array2<f64> { block(&m, rows, &xi) - block(&m, rows, &zi).dot(&pzx) };
    let av = proj(&ai); // k x p: A'V̂
    let vv = proj(&xi); // p x p: V̂'V̂ (X'V̂ = V̂'V̂)
    let vy = proj(&[yi]); // 1 x p: y'V̂
    let kk = k + p;
    let maa = block(&m, &ai, &ai);
    let may = col(&m, &ai, yi);
    let mut gaug = Array2::zeros((kk, kk));
    linalg::block_mut(gaug.view_mut(), 0..k, 0..k).assign(&maa);
    linalg::block_mut(gaug.view_mut(), 0..k, k..kk).assign(&av);
    linalg::block_mut(gaug.view_mut(), k..kk, 0..k).assign(&av.t());
    linalg::block_mut(gaug.view_mut(), k..kk, k..kk).assign(&vv);
    let baug: Array1<f64> = may.iter().chain(vy.iter()).copied().collect();
    let yy = m[[yi, yi]];
    let gaug_chol =
        linalg::cholesky(gaug.view()).map_err(|_| IvError::Collinear { what: "control function".into() })?;
    let beta_aug = gaug_chol.solve(baug.view());
    let rss_aug = yy - beta_aug.dot(&baug);
    let beta_o = linalg::cholesky(maa.view())
        .map_err(|e| IvError::Collinear { what: x_name(input, e.column) })?
        .solve(may.view());
    let rss_o = yy - beta_o.dot(&may);
    let wu = ((rss_o - rss_aug) / p as f64) / (rss_aug / (n - kk) as f64);
    let wu_p = dist::f_p_value(wu, p as f64, (n - kk) as f64);
    // The weak-instrument-robust inference (one endogenous regressor, robust errors) needs the
    // reduced form y on Z.
    let weak_robust = p == 1 && robust;
    let gy_all = weak_robust.then(|| mzz_chol.solve(col(&m, &zi, yi).view()));

    // The pass. Derived columns (after `all`'s): v_j = x_j − Z γ_j (the first stages'
    // residuals), e = y − A β (2SLS), with robust errors V̂_j = x_j − Z Π_j and e_aug =
    // y − [A V̂] β_aug (the control function), and for the weak-instrument tests r_y = y − Z g_y.
    let terms = |idx: &[usize], coef: ArrayView1<f64>| -> Vec<(usize, f64)> {
        idx.iter().copied().zip(coef.iter().copied()).collect()
    };
    let nx = all.len();
    let mut derived: Vec<linalg::Derived> =
        (0..p).map(|j| linalg::Derived { base: xi[j], minus: terms(&zi, gams[j].view()) }).collect();
    let ei = nx + derived.len();
    derived.push(linalg::Derived { base: yi, minus: terms(&ai, beta.view()) });
    let (vhat_i, e_aug_i) = if robust {
        let first = nx + derived.len();
        for (j, &x) in xi.iter().enumerate() {
            derived.push(linalg::Derived { base: x, minus: terms(&zi, pzx.column(j)) });
        }
        let cols: Vec<usize> = ai.iter().copied().chain(first..first + p).collect();
        derived.push(linalg::Derived { base: yi, minus: terms(&cols, beta_aug.view()) });
        (cols, nx + derived.len() - 1)
    } else {
        (Vec::new(), 0)
    };
    let ry_i = nx + derived.len();
    if let Some(gy) = &gy_all {
        derived.push(linalg::Derived { base: yi, minus: terms(&zi, gy.view()) });
    }
    let kind_of = |kind: SeKind| match (kind, cluster) {
        (SeKind::Cluster, Some((ids, g))) => linalg::MeatKind::Clusters(ids, g),
        _ => linalg::MeatKind::Rows,
    };
    let meat = |cols: &[usize], a: usize, b: usize, kind: SeKind| linalg::Meat {
        cols: cols.to_vec(),
        weight: Some((a, b)),
        kind: kind_of(kind),
    };
    // Meats: the first stages' (0..p), e'e (p), then those asked for, at their recorded places.
    let mut specs: Vec<linalg::Meat> = (0..p).map(|j| meat(&zi, nx + j, nx + j, robust_kind)).collect();
    specs.push(linalg::Meat { cols: vec![ei], weight: None, kind: linalg::MeatKind::Rows });
    let need_s = robust || q > p;
    let s_z_at = push(&mut specs, need_s.then(|| meat(&zi, ei, ei, SeKind::Hc0)));
    let cluster_at = push(&mut specs, (settings.se == SeKind::Cluster).then(|| meat(&zi, ei, ei, SeKind::Cluster)));
    let cf_at = push(&mut specs, robust.then(|| meat(&vhat_i, e_aug_i, e_aug_i, settings.se)));
    let yy_at = push(&mut specs, weak_robust.then(|| meat(&zi, ry_i, ry_i, settings.se)));
    let xy_at = push(&mut specs, weak_robust.then(|| meat(&zi, nx, ry_i, settings.se)));
    let mut meats = linalg::meats(&all, &derived, &specs);
    let mut take = |at: Option<usize>| at.map(|i| std::mem::take(&mut meats[i]));
    let s_z = take(s_z_at);
    let cluster_meat = take(cluster_at);
    let cf_meat = take(cf_at);
    let (m_yy, m_xy) = (take(yy_at), take(xy_at));
    let ee = meats[p][[0, 0]];

    // First-stage strength, classical and with the robust (or clustered) meat.
    let mut first_stage = Vec::with_capacity(p);
    for (j, name) in input.endogenous.names().iter().enumerate() {
        let xj = l + j;
        let mzx = col(&m, &zi, xj);
        let gam = &gams[j];
        let rss_full = m[[xj, xj]] - gam.dot(&mzx);
        let mwx = col(&m, &wi, xj);
        let gw = mww_chol.solve(mwx.view());
        let rss_r = m[[xj, xj]] - gw.dot(&mwx);
        let df2 = (n - l) as f64;
        let f = ((rss_r - rss_full) / q as f64) / (rss_full / df2);
        let vc =
            linalg::sandwich(mzz_inv.view(), meats[j].view()) * vcov_scale(robust_kind, n, l, cluster.map(|c| c.1));
        let fr = wald(gam.view(), vc.view(), &excl) / q as f64;
        let df2r = if robust_kind == SeKind::Cluster { cluster.map(|c| c.1 as f64 - 1.0).unwrap_or(df2) } else { df2 };
        first_stage.push(FirstStage {
            endogenous: name.to_string(),
            f_stat: f,
            f_p_value: dist::f_p_value(f, q as f64, df2),
            f_stat_robust: fr,
            f_p_value_robust: dist::f_p_value(fr, q as f64, df2r),
            partial_r2: 1.0 - rss_full / rss_r,
            df: (q as f64, df2),
            sw_f: None,
        });
    }
    // Sanderson-Windmeijer: x_j on the other endogenous regressors and W by 2SLS (instruments
    // Z), then the excluded instruments' F on its residual, from the cross-products.
    if p >= 2 && q + 1 > p {
        for (j, fs) in first_stage.iter_mut().enumerate() {
            let xj = l + j;
            let a_idx: Vec<usize> = xi.iter().copied().filter(|&i| i != xj).chain(wi.iter().copied()).collect();
            let mza = block(&m, &zi, &a_idx);
            let gam = mzz_chol.solve_matrix(mza.view());
            let qa = mza.t().dot(&gam);
            let rhs = gam.t().dot(&col(&m, &zi, xj));
            let Ok(qc) = linalg::cholesky(qa.view()) else { continue };
            let c = qc.solve(rhs.view());
            let ee = m[[xj, xj]] - 2.0 * c.dot(&col(&m, &a_idx, xj)) + c.dot(&block(&m, &a_idx, &a_idx).dot(&c));
            let ze = &col(&m, &zi, xj) - &mza.dot(&c);
            let we = &col(&m, &wi, xj) - &block(&m, &wi, &a_idx).dot(&c);
            let epe = ze.dot(&mzz_chol.solve(ze.view()));
            let epwe = we.dot(&mww_chol.solve(we.view()));
            let d1 = (q + 1 - p) as f64;
            let f = ((epe - epwe) / d1) / ((ee - epe) / (n - l) as f64);
            fs.sw_f = Some(f);
        }
    }

    let dfr = (n - k) as f64;
    let (vcov, df) = match settings.se {
        SeKind::Classical => (qinv.mapv(|v| v * ee / dfr), dfr),
        kind => {
            let meat_z = match (&cluster_meat, &s_z) {
                (Some(c), _) | (None, Some(c)) => c,
                (None, None) => unreachable!("robust errors ask for a meat"),
            };
            let meat = gamma.t().dot(meat_z).dot(&gamma);
            let v = linalg::sandwich(qinv.view(), meat.view()) * vcov_scale(kind, n, k, cluster.map(|c| c.1));
            match (kind, cluster) {
                (SeKind::Cluster, Some((_, g))) => (v, g as f64 - 1.0),
                _ => (v, dfr),
            }
        }
    };
    let tcrit = dist::t_critical(settings.alpha, df);
    let names: Vec<String> = input
        .endogenous
        .names()
        .iter()
        .cloned()
        .chain(std::iter::once("intercept".to_string()))
        .chain(input.controls.names().iter().cloned())
        .collect();
    let coefficients: Vec<Coefficient> = (0..k)
        .map(|j| {
            let (b, se) = (beta[j], vcov[[j, j]].max(0.0).sqrt());
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
        let ze = &mzy - &mza.dot(&beta);
        let s_val = n as f64 * ze.dot(&mzz_chol.solve(ze.view())) / ee;
        sargan = Some(s_val);
        let nf = n as f64;
        let j_val = s_z.as_ref().and_then(|sz| {
            let w = linalg::inv_spd((sz / nf).view()).ok()?;
            let zx = &mza / nf;
            let zy = &mzy / nf;
            let xzw = zx.t().dot(&w);
            let lhs = xzw.dot(&zx);
            let rhs = xzw.dot(&zy);
            let bg = linalg::cholesky(lhs.view()).ok()?.solve(rhs.view());
            let g = &zy - &zx.dot(&bg);
            Some(nf * g.dot(&w.dot(&g)))
        });
        hansen_j = j_val;
        overid_df = Some(df_o);
        overid_p = match settings.se {
            SeKind::Classical => Some(dist::chi2_p_value(s_val, df_o as f64)),
            _ => j_val.map(|j| dist::chi2_p_value(j, df_o as f64)),
        };
    }

    // Under robust or clustered errors the endogeneity test is the control-function Wald test of
    // the first-stage residuals' coefficients with those errors (Wooldridge 2010, 6.3.1); the
    // classical Wu-Hausman F stays reported.
    let (endog_stat, endog_p, endog_test) = if settings.se == SeKind::Classical {
        (wu, wu_p, "Wu-Hausman F (classical)".to_string())
    } else {
        let meat = cf_meat.as_ref().expect("robust errors ask for the control function's meat");
        let vc = linalg::sandwich(gaug_chol.inverse().view(), meat.view())
            * vcov_scale(settings.se, n, kk, cluster.map(|c| c.1));
        let idx: Vec<usize> = (k..kk).collect();
        let f = wald(beta_aug.view(), vc.view(), &idx) / p as f64;
        let df2 = match (settings.se, cluster) {
            (SeKind::Cluster, Some((_, g))) => g as f64 - 1.0,
            _ => (n - kk) as f64,
        };
        (f, dist::f_p_value(f, p as f64, df2), format!("control function, {}", settings.se.describe()))
    };
    let durbin = n as f64 * (rss_o - rss_aug) / rss_o;

    // Weak-instrument-robust inference for one endogenous regressor.
    let mut clr = None;
    let (anderson_rubin, effective_f) = if p == 1 {
        let xj = l;
        let zxy: Vec<usize> = excl.iter().copied().chain([xj, yi]).collect();
        let cross = block(&m, &wi, &zxy); // w x (k + 2)
        let s_mat = block(&m, &zxy, &zxy) - cross.t().dot(&mww_chol.solve_matrix(cross.view()));
        let kq = q;
        let part = weak::Partialled {
            zz: s_mat
                .slice_axis(Axis(0), ndarray::Slice::from(0..kq))
                .slice_axis(Axis(1), ndarray::Slice::from(0..kq))
                .to_owned(),
            zx: (0..kq).map(|i| s_mat[[i, kq]]).collect(),
            zy: (0..kq).map(|i| s_mat[[i, kq + 1]]).collect(),
            xx: s_mat[[kq, kq]],
            xy: s_mat[[kq, kq + 1]],
            yy: s_mat[[kq + 1, kq + 1]],
            n,
            k: kq,
            w: nw,
        };
        let robust = gy_all.as_ref().zip(m_yy.zip(m_xy)).map(|(gy_all, (m_yy, m_xy))| {
            // x's residual on Z is the first stage's: its meat is the first stage's.
            let (gx_all, m_xx) = (&gams[0], meats[0].clone());
            let bread = mzz_inv.select(Axis(0), &excl);
            let g = cluster.map(|c| c.1);
            weak::RobustPieces {
                bread,
                gy: excl.iter().map(|&i| gy_all[i]).collect(),
                gx: excl.iter().map(|&i| gx_all[i]).collect(),
                m_yy,
                m_xy,
                m_xx,
                scale: vcov_scale(settings.se, n, l, g),
                df: match (settings.se, g) {
                    (SeKind::Cluster, Some(g)) => g as f64 - 1.0,
                    _ => (n - l) as f64,
                },
            }
        });
        let eff = match &robust {
            None => first_stage.first().map(|f| f.f_stat),
            Some(r) => {
                let v = r.bread.dot(&r.m_xx).dot(&r.bread.t()) * r.scale;
                let num = r.gx.dot(&part.zz.dot(&r.gx));
                let den = v.dot(&part.zz).diag().sum();
                (den > 0.0).then(|| num / den)
            }
        };
        clr = (q > 1).then(|| weak::clr(&part, settings.alpha)).flatten();
        (weak::anderson_rubin(&part, robust.as_ref(), settings.alpha), eff)
    } else {
        (None, None)
    };

    let mut warnings = Vec::new();
    for fs in &first_stage {
        if let Some(f) = fs.sw_f.filter(|f| *f < 10.0) {
            warnings.push(format!(
                "{}: Sanderson-Windmeijer conditional F = {f:.1} < 10: given the other endogenous regressors the instruments hardly move it, so its coefficient is weakly identified",
                fs.endogenous
            ));
        }
    }
    let min_f = first_stage
        .iter()
        .map(|f| if settings.se == SeKind::Classical { f.f_stat } else { f.f_stat_robust })
        .fold(f64::INFINITY, f64::min);
    if min_f < 10.0 {
        warnings.push(format!("weak instruments: first-stage F = {min_f:.2} < 10; 2SLS is biased towards OLS"));
    }
    if let Some(ar) = anderson_rubin.as_ref().filter(|a| a.ar_confidence_set != weak::ArSet::Bounded) {
        warnings.push(format!(
            "the Anderson-Rubin confidence set is {}: {}",
            ar.ar_confidence_set,
            if ar.ar_confidence_set == weak::ArSet::Empty {
                "no value of the effect fits all the instruments (their exclusion restrictions are doubtful)"
            } else {
                "the instruments are too weak to bound the effect; the 2SLS interval understates the uncertainty"
            }
        ));
    }
    let c0 = &coefficients[0];
    // tF: one endogenous regressor, one instrument, 5% (the table's level).
    let tf =
        (p == 1 && q == 1 && (settings.alpha - 0.05).abs() < 1e-12).then(|| weak::tf(c0.estimate, c0.std_error, min_f));
    if let Some(t) = &tf {
        if t.ci_low.is_none() {
            warnings.push(format!(
                "first-stage F = {min_f:.2} is below 4: no t-ratio critical value keeps a 5% test's size (tF); read the Anderson-Rubin set"
            ));
        } else if t.critical_value > 1.96 + 1e-9 {
            warnings.push(format!(
                "with first-stage F = {min_f:.1} a valid 5% t-test needs |t| > {:.2} (tF, Lee-McCrary-Moreira-Porter 2022), not 1.96: see tf_ci_low/tf_ci_high",
                t.critical_value
            ));
        }
    }
    Ok(IvResult {
        method: "iv".into(),
        estimator: "2sls".into(),
        df,
        inference: Inference {
            estimate: c0.estimate,
            std_error: Some(c0.std_error),
            ci_low: Some(c0.ci_low),
            ci_high: Some(c0.ci_high),
            p_value: Some(c0.p_value),
            n_obs: n,
            inference: format!("{}; t with {} df", settings.se.describe(), df),
        },
        coefficients,
        first_stage,
        first_stage_f: min_f,
        sargan,
        hansen_j,
        overid_p_value: overid_p,
        overid_df,
        wu_hausman_f: wu,
        durbin_chi2: durbin,
        endogeneity_p_value: endog_p,
        endogeneity_statistic: endog_stat,
        endogeneity_test: endog_test,
        anderson_rubin,
        effective_f,
        tf,
        clr,
        warnings,
    })
}

crate::impl_estimate!(IvResult);

impl IvResult {
    /// Weak instruments, as the warnings say: a first-stage F under 10, or an Anderson-Rubin set
    /// that is not an interval. The t interval and p-value are then too optimistic; the
    /// Anderson-Rubin test and set (`anderson_rubin`) stay valid however weak the instruments.
    pub fn weak_instruments(&self) -> bool {
        self.first_stage_f < 10.0
            || self.anderson_rubin.as_ref().is_some_and(|a| a.ar_confidence_set != weak::ArSet::Bounded)
    }
}

fn w_name(input: &IvInput, j: usize) -> String {
    if j == 0 {
        "intercept".into()
    } else {
        input.controls.names().get(j - 1).cloned().unwrap_or_default()
    }
}

fn nan() -> f64 {
    f64::NAN
}

fn z_name(input: &IvInput, j: usize) -> String {
    let nw = 1 + input.controls.k();
    if j < nw {
        w_name(input, j)
    } else {
        input.instruments.names().get(j - nw).cloned().unwrap_or_default()
    }
}

fn x_name(input: &IvInput, j: usize) -> String {
    let p = input.endogenous.k();
    if j < p {
        input.endogenous.names()[j].clone()
    } else {
        w_name(input, j - p)
    }
}

/// One candidate instrument's assessment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
///
/// This is pre-testing, and it says so: choosing instruments with the same data then fitting
/// 2SLS with the chosen ones makes the second fit's p-values and intervals too optimistic (the
/// selection is not accounted for), and a candidate that passes the exogeneity test is not shown
/// to be exogenous (the test has power only against violations the other candidates do not
/// share: if all are invalid in the same direction, all pass). With exactly two relevant
/// candidates the two difference-in-Sargan statistics are the same number (each equals the
/// overidentification test of the pair), so a rejection says that at least one of them is
/// invalid and nothing about which: both are then reported as unresolved, never one as the
/// culprit.
pub fn identify_instruments(
    outcome: (&str, ArrayView1<f64>),
    treatment: (&str, ArrayView1<f64>),
    candidates: &Columns,
    controls: &Columns,
    alpha: f64,
) -> Result<Vec<CandidateReport>, IvError> {
    if candidates.is_empty() {
        return Err(invalid("candidates", "name at least one candidate instrument"));
    }
    let endogenous = Columns::new(vec![(treatment.0.to_string(), treatment.1.to_vec())])
        .map_err(|e| invalid(&e.column, e.to_string()))?;
    let base = |instruments: Columns| IvInput {
        outcome: (outcome.0.to_string(), outcome.1.to_owned()),
        endogenous: endogenous.clone(),
        instruments,
        controls: controls.clone(),
        cluster: None,
    };
    let hc1 = IvSettings { se: SeKind::Hc1, alpha };
    let mut reports: Vec<CandidateReport> = Vec::new();
    for (j, name) in candidates.names().iter().enumerate() {
        let r = fit(&base(candidates.select(&[j])), &hc1)?;
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
    let relevant: Vec<usize> = (0..candidates.k()).filter(|&i| reports[i].relevant).collect();
    if relevant.len() == 2 {
        // Symmetric: one overidentification test of the pair.
        let full = fit(&base(candidates.select(&relevant)), &IvSettings { se: SeKind::Classical, alpha })?;
        let pv = full.overid_p_value.unwrap_or(f64::NAN);
        for &i in &relevant {
            reports[i].exogeneity_p_value = Some(pv);
            if pv < alpha {
                reports[i].passes_exogeneity = None;
                reports[i].reasons.push(format!(
                    "the two relevant candidates disagree (Sargan p = {pv:.4} < {alpha}): at least one is invalid, and with two the data cannot say which"
                ));
            } else {
                reports[i].passes_exogeneity = Some(true);
                reports[i].reasons.push(format!(
                    "no evidence against exogeneity (Sargan p = {pv:.4}), which only says the two agree: if both were invalid the same way, they would"
                ));
            }
        }
    } else if relevant.len() >= 3 {
        let full = fit(&base(candidates.select(&relevant)), &IvSettings { se: SeKind::Classical, alpha })?;
        let s_full = full.sargan.unwrap_or(0.0);
        for (pos, &i) in relevant.iter().enumerate() {
            let mut others = relevant.clone();
            others.remove(pos);
            let reduced = fit(&base(candidates.select(&others)), &IvSettings { se: SeKind::Classical, alpha })?;
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
