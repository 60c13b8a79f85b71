//! Regression discontinuity (`RegressionDiscontinuityAnalyzer`): sharp and fuzzy designs with
//! local polynomial fits (order p, default 1; bias-correction order q = p + 1), triangular,
//! uniform or Epanechnikov kernels, the MSE-optimal bandwidth selectors of Calonico, Cattaneo
//! and Titiunik (`mserd`, rdrobust's default, and `msetwo`), conventional and bias-corrected
//! estimates with robust standard errors (nearest-neighbour variance, 3 matches), effective
//! sample sizes; or a user-supplied bandwidth.
//!
//! A port of rdrobust 2.1.1's default path (`vce="nn"`, `masspoints="adjust"`, `stdvars=True`,
//! `bwrestrict=True`, `scaleregul=1`), checked against it on the Lee (2008) Senate data.

use serde::{Deserialize, Serialize};

use crate::estimators::{dist, linalg};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RddError {
    #[error("{column}: {message}")]
    InvalidInput { column: String, message: String },
    #[error("cutoff: {cutoff} is not inside the range of the running variable ({min} to {max})")]
    CutoffOutside { cutoff: f64, min: f64, max: f64 },
    #[error("{side} side of the cutoff: {message}")]
    TooFew { side: String, message: String },
    #[error("bandwidth selection failed: {0}")]
    Bandwidth(String),
}

fn invalid(column: &str, message: impl Into<String>) -> RddError {
    RddError::InvalidInput { column: column.to_string(), message: message.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kernel {
    Triangular,
    Uniform,
    Epanechnikov,
}

impl Kernel {
    fn weight(self, u: f64, h: f64) -> f64 {
        let a = u.abs();
        if a > 1.0 {
            return 0.0;
        }
        match self {
            Kernel::Triangular => (1.0 - a) / h,
            Kernel::Uniform => 0.5 / h,
            Kernel::Epanechnikov => 0.75 * (1.0 - u * u) / h,
        }
    }

    fn c_c(self) -> f64 {
        match self {
            Kernel::Triangular => 2.576,
            Kernel::Uniform => 1.843,
            Kernel::Epanechnikov => 2.34,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BwSelect {
    Mserd,
    Msetwo,
    Msesum,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RddSettings {
    pub cutoff: f64,
    pub p: usize,
    pub kernel: Kernel,
    pub bwselect: BwSelect,
    /// A user-supplied main bandwidth (both sides); the bias bandwidth is then the same.
    pub bandwidth: Option<f64>,
    pub alpha: f64,
    /// Minimum neighbours for the nearest-neighbour variance.
    pub nnmatch: usize,
}

impl Default for RddSettings {
    fn default() -> Self {
        Self {
            cutoff: 0.0,
            p: 1,
            kernel: Kernel::Triangular,
            bwselect: BwSelect::Mserd,
            bandwidth: None,
            alpha: 0.05,
            nnmatch: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RddResult {
    pub method: String,
    pub estimator: String,
    /// Conventional local-polynomial estimate.
    pub estimate: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub n_obs: usize,
    pub inference: String,
    pub estimate_bias_corrected: f64,
    pub robust_std_error: f64,
    pub robust_ci_low: f64,
    pub robust_ci_high: f64,
    pub robust_p_value: f64,
    pub bandwidth: f64,
    pub bias_bandwidth: f64,
    pub bandwidth_left: f64,
    pub bandwidth_right: f64,
    pub bias_bandwidth_left: f64,
    pub bias_bandwidth_right: f64,
    pub bandwidth_selector: String,
    pub kernel: Kernel,
    pub p: usize,
    pub q: usize,
    pub cutoff: f64,
    /// Observations on each side (all, and with positive weight in the main bandwidth).
    pub n_left: usize,
    pub n_right: usize,
    pub n_effective_left: usize,
    pub n_effective_right: usize,
    /// Intercepts of the two local fits at the cutoff.
    pub fit_left: f64,
    pub fit_right: f64,
    /// Fuzzy designs: the first stage (jump in treatment take-up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_stage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub density_test_p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub density_test: Option<density::DensityTest>,
    pub warnings: Vec<String>,
}

/// One side of the cutoff, sorted by the running variable.
struct Side {
    x: Vec<f64>,
    y: Vec<f64>,
    t: Option<Vec<f64>>,
    /// For each observation: how many share its x, and its 1-based position among them.
    dups: Vec<usize>,
    dupsid: Vec<usize>,
}

fn dup_counts(x: &[f64]) -> (Vec<usize>, Vec<usize>) {
    let n = x.len();
    let (mut dups, mut dupsid) = (vec![0; n], vec![0; n]);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && x[j + 1] == x[i] {
            j += 1;
        }
        for (k, pos) in (i..=j).enumerate() {
            dups[pos] = j - i + 1;
            dupsid[pos] = k + 1;
        }
        i = j + 1;
    }
    (dups, dupsid)
}

/// rdrobust's nearest-neighbour residuals: each observation against the mean of at least
/// `matches` nearest neighbours (ties included), scaled by sqrt(J/(J+1)). Columns: y, then t.
fn nn_residuals(x: &[f64], cols: &[&[f64]], dups: &[usize], dupsid: &[usize], matches: usize) -> Vec<Vec<f64>> {
    let n = x.len();
    let eps = f64::EPSILON.sqrt();
    let mut out = vec![vec![0.0; n]; cols.len()];
    let cap = matches.min(n.saturating_sub(1));
    for pos in 0..n {
        let mut rpos = dups[pos] - dupsid[pos];
        let mut lpos = dupsid[pos] - 1;
        while lpos + rpos < cap {
            if pos < lpos + 1 {
                rpos += dups[pos + rpos + 1];
            } else if pos + rpos + 1 >= n {
                lpos += dups[pos - lpos - 1];
            } else {
                let dleft = x[pos] - x[pos - lpos - 1];
                let dright = x[pos + rpos + 1] - x[pos];
                let tol = dleft.max(dright) * eps;
                if dleft - dright > tol {
                    rpos += dups[pos + rpos + 1];
                } else if dright - dleft > tol {
                    lpos += dups[pos - lpos - 1];
                } else {
                    rpos += dups[pos + rpos + 1];
                    lpos += dups[pos - lpos - 1];
                }
            }
        }
        let (lo, hi) = (pos - lpos, pos + rpos + 1);
        let ji = (hi - lo - 1) as f64;
        let sf = (ji / (ji + 1.0)).sqrt();
        for (c, col) in cols.iter().enumerate() {
            let s: f64 = col[lo..hi].iter().sum::<f64>() - col[pos];
            out[c][pos] = sf * (col[pos] - s / ji);
        }
    }
    out
}

/// Columns (x - c)^j, j = 0..=o.
fn vander(x: &[f64], c: f64, o: usize) -> Vec<Vec<f64>> {
    let mut cols = vec![vec![1.0; x.len()]];
    for j in 1..=o {
        let prev = &cols[j - 1];
        let next: Vec<f64> = prev.iter().zip(x).map(|(p, xi)| p * (xi - c)).collect();
        cols.push(next);
    }
    cols
}

/// (R'WR)⁻¹ for columns R and weights w.
fn weighted_inv(r: &[Vec<f64>], w: &[f64]) -> Result<Vec<f64>, String> {
    let k = r.len();
    let mut g = vec![0.0; k * k];
    for a in 0..k {
        for b in 0..=a {
            let v: f64 = r[a].iter().zip(&r[b]).zip(w).map(|((x, y), w)| x * y * w).sum();
            g[a * k + b] = v;
            g[b * k + a] = v;
        }
    }
    linalg::inv_spd(&g, k).map_err(|_| "singular local design (too few distinct points)".to_string())
}

/// Σ_i r_i² a_i a_i' for score columns a (k of them) and combined residual r.
fn meat(a: &[Vec<f64>], r: &[f64]) -> Vec<f64> {
    let k = a.len();
    let mut m = vec![0.0; k * k];
    for i in 0..r.len() {
        let r2 = r[i] * r[i];
        for p in 0..k {
            let ap = a[p][i] * r2;
            for q in 0..=p {
                m[p * k + q] += ap * a[q][i];
            }
        }
    }
    for p in 0..k {
        for q in 0..p {
            m[q * k + p] = m[p * k + q];
        }
    }
    m
}

fn quad(inv: &[f64], m: &[f64], k: usize, j: usize) -> f64 {
    linalg::sandwich(inv, m, k)[j * k + j]
}

/// Weighted local polynomial coefficients: (R'WR)⁻¹ R'W d for each column d.
fn coefs(r: &[Vec<f64>], w: &[f64], inv: &[f64], ds: &[&[f64]]) -> Vec<Vec<f64>> {
    let k = r.len();
    let rwd: Vec<Vec<f64>> = ds
        .iter()
        .map(|d| r.iter().map(|c| c.iter().zip(w).zip(d.iter()).map(|((x, w), y)| x * w * y).sum()).collect())
        .collect();
    rwd.iter().map(|v| (0..k).map(|a| (0..k).map(|b| inv[a * k + b] * v[b]).sum()).collect()).collect()
}

struct BwPieces {
    v: f64,
    b: f64,
    r: f64,
    rate: f64,
}

/// rdrobust_bw: variance, bias and regularisation constants of one side for a polynomial of
/// order `o`, derivative `nu`, bias order `o_b`, pilot `h_v` and bias pilot `h_b`.
#[allow(clippy::too_many_arguments)]
fn bw_constants(
    side: &Side,
    c: f64,
    o: usize,
    nu: usize,
    o_b: usize,
    h_v: f64,
    h_b: f64,
    scale: f64,
    kernel: Kernel,
    nnmatch: usize,
) -> Result<BwPieces, String> {
    let fact = |n: usize| (1..=n).map(|v| v as f64).product::<f64>();
    // V fit on the pilot window.
    let idx: Vec<usize> = (0..side.x.len()).filter(|&i| kernel.weight((side.x[i] - c) / h_v, h_v) > 0.0).collect();
    let ex: Vec<f64> = idx.iter().map(|&i| side.x[i]).collect();
    let ey: Vec<f64> = idx.iter().map(|&i| side.y[i]).collect();
    let et: Option<Vec<f64>> = side.t.as_ref().map(|t| idx.iter().map(|&i| t[i]).collect());
    let ew: Vec<f64> = ex.iter().map(|&x| kernel.weight((x - c) / h_v, h_v)).collect();
    let rv = vander(&ex, c, o);
    let inv_v = weighted_inv(&rv, &ew)?;
    let k = o + 1;
    let mut ds: Vec<&[f64]> = vec![&ey];
    if let Some(t) = &et {
        ds.push(t);
    }
    let beta_v = coefs(&rv, &ew, &inv_v, &ds);
    let s: Vec<f64> = match &et {
        None => vec![1.0],
        Some(_) => {
            let (ty, tt) = (fact(nu) * beta_v[0][nu], fact(nu) * beta_v[1][nu]);
            vec![1.0 / tt, -(ty / (tt * tt))]
        }
    };
    let dups: Vec<usize> = idx.iter().map(|&i| side.dups[i]).collect();
    let dupsid: Vec<usize> = idx.iter().map(|&i| side.dupsid[i]).collect();
    let res = nn_residuals(&ex, &ds, &dups, &dupsid, nnmatch);
    let comb: Vec<f64> = (0..ex.len()).map(|i| s.iter().zip(&res).map(|(s, r)| s * r[i]).sum()).collect();
    let rw: Vec<Vec<f64>> = rv.iter().map(|col| col.iter().zip(&ew).map(|(a, w)| a * w).collect()).collect();
    let v_v = quad(&inv_v, &meat(&rw, &comb), k, nu);
    let vv: Vec<f64> =
        (0..k).map(|a| rw[a].iter().zip(&ex).map(|(r, x)| r * ((x - c) / h_v).powi(o as i32 + 1)).sum()).collect();
    let bconst = h_v.powi(nu as i32) * (0..k).map(|b| inv_v[nu * k + b] * vv[b]).sum::<f64>();

    // B fit on the bias window.
    if !(h_b.is_finite() && h_b > 0.0) {
        return Err("non-finite bias pilot bandwidth".into());
    }
    let idx: Vec<usize> = (0..side.x.len()).filter(|&i| kernel.weight((side.x[i] - c) / h_b, h_b) > 0.0).collect();
    let ex: Vec<f64> = idx.iter().map(|&i| side.x[i]).collect();
    let ey: Vec<f64> = idx.iter().map(|&i| side.y[i]).collect();
    let et: Option<Vec<f64>> = side.t.as_ref().map(|t| idx.iter().map(|&i| t[i]).collect());
    let ew: Vec<f64> = ex.iter().map(|&x| kernel.weight((x - c) / h_b, h_b)).collect();
    let rb = vander(&ex, c, o_b);
    let inv_b = weighted_inv(&rb, &ew)?;
    let kb = o_b + 1;
    let mut ds: Vec<&[f64]> = vec![&ey];
    if let Some(t) = &et {
        ds.push(t);
    }
    let beta_b = coefs(&rb, &ew, &inv_b, &ds);
    let mut bwreg = 0.0;
    if scale > 0.0 {
        let dups: Vec<usize> = idx.iter().map(|&i| side.dups[i]).collect();
        let dupsid: Vec<usize> = idx.iter().map(|&i| side.dupsid[i]).collect();
        let res = nn_residuals(&ex, &ds, &dups, &dupsid, nnmatch);
        let comb: Vec<f64> = (0..ex.len()).map(|i| s.iter().zip(&res).map(|(s, r)| s * r[i]).sum()).collect();
        let rw: Vec<Vec<f64>> = rb.iter().map(|col| col.iter().zip(&ew).map(|(a, w)| a * w).collect()).collect();
        let v_b = quad(&inv_b, &meat(&rw, &comb), kb, kb - 1);
        bwreg = 3.0 * bconst * bconst * v_b;
    }
    let last: f64 = s.iter().zip(&beta_b).map(|(s, b)| s * b[kb - 1]).sum();
    let bias = (2.0 * (o + 1 - nu) as f64).sqrt() * bconst * last;
    let v = (2 * nu + 1) as f64 * h_v.powi(2 * nu as i32 + 1) * v_v;
    let r = scale * (2 * (o + 1 - nu)) as f64 * bwreg;
    Ok(BwPieces { v, b: bias, r, rate: 1.0 / (2 * o + 3) as f64 })
}

/// rdrobust's quantile type 2 (inverse of the empirical distribution, averaging at discontinuities).
fn quantile_type2(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let np = n as f64 * p;
    let j = np.floor() as usize;
    let g = np - j as f64;
    if g > 0.0 {
        sorted[j.min(n - 1)]
    } else if j == 0 {
        sorted[0]
    } else {
        0.5 * (sorted[j - 1] + sorted[j.min(n - 1)])
    }
}

fn sd(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// Bandwidths (h_l, h_r, b_l, b_r) by rdrobust's selector, in the running variable's units.
fn select_bandwidths(
    left: &Side,
    right: &Side,
    all_x: &[f64],
    all_y: &[f64],
    s: &RddSettings,
) -> Result<[f64; 4], String> {
    let c = s.cutoff;
    let (p, q) = (s.p, s.p + 1);
    let n = all_x.len();
    // Standardise x and y (stdvars).
    let x_sd = sd(all_x);
    let y_sd = sd(all_y);
    let mut sorted = all_x.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let iq = quantile_type2(&sorted, 0.75) - quantile_type2(&sorted, 0.25);
    let bwp = (1.0f64).min((iq / x_sd) / 1.349);
    let std_side = |sd_: &Side| Side {
        x: sd_.x.iter().map(|v| v / x_sd).collect(),
        y: sd_.y.iter().map(|v| v / y_sd).collect(),
        t: sd_.t.clone(),
        dups: sd_.dups.clone(),
        dupsid: sd_.dupsid.clone(),
    };
    let (l, r) = (std_side(left), std_side(right));
    let cs = c / x_sd;
    let x_min = sorted[0] / x_sd;
    let x_max = sorted[n - 1] / x_sd;
    let range_l = (cs - l.x[0]).abs();
    let range_r = (r.x[r.x.len() - 1] - cs).abs();
    let uniq = |v: &[f64]| {
        let mut u = v.to_vec();
        u.dedup();
        u.len()
    };
    let (m_l, m_r) = (uniq(&left.x), uniq(&right.x));
    let m = (m_l + m_r) as f64;
    let mut c_bw = s.kernel.c_c() * bwp * m.powf(-0.2);
    let bw_max_l = (cs - x_min).abs();
    let bw_max_r = (cs - x_max).abs();
    let bw_max = bw_max_l.max(bw_max_r);
    c_bw = c_bw.min(bw_max);
    // Mass points (>= 20% repeated values): keep at least 10 distinct values in the pilot.
    let mass = 1.0 - m_l as f64 / left.x.len() as f64 >= 0.2 || 1.0 - m_r as f64 / right.x.len() as f64 >= 0.2;
    let bw_min = if mass {
        let mut ul: Vec<f64> = l.x.clone();
        ul.dedup();
        ul.reverse();
        let mut ur: Vec<f64> = r.x.clone();
        ur.dedup();
        let bl = (ul[10.min(ul.len()) - 1] - cs).abs() * (1.0 + f64::EPSILON.sqrt());
        let br = (ur[10.min(ur.len()) - 1] - cs).abs() * (1.0 + f64::EPSILON.sqrt());
        c_bw = c_bw.max(bl).max(br);
        Some((bl, br))
    } else {
        None
    };
    let k = s.kernel;
    let nn = s.nnmatch;
    let eps1 = 1.0 + f64::EPSILON.sqrt();
    let cd_l = bw_constants(&l, cs, q + 1, q + 1, q + 2, c_bw, range_l * eps1, 0.0, k, nn)?;
    let cd_r = bw_constants(&r, cs, q + 1, q + 1, q + 2, c_bw, range_r * eps1, 0.0, k, nn)?;
    let floor = |v: f64| match bw_min {
        Some((a, b)) => v.max(a).max(b),
        None => v,
    };
    let out = match s.bwselect {
        BwSelect::Mserd => {
            let d = floor(((cd_l.v + cd_r.v) / (cd_r.b - cd_l.b).powi(2)).powf(cd_l.rate).min(bw_max));
            let cb_l = bw_constants(&l, cs, q, p + 1, q + 1, c_bw, d, 1.0, k, nn)?;
            let cb_r = bw_constants(&r, cs, q, p + 1, q + 1, c_bw, d, 1.0, k, nn)?;
            let b = ((cb_l.v + cb_r.v) / ((cb_r.b - cb_l.b).powi(2) + (cb_r.r + cb_l.r))).powf(cb_l.rate).min(bw_max);
            let ch_l = bw_constants(&l, cs, p, 0, q, c_bw, b, 1.0, k, nn)?;
            let ch_r = bw_constants(&r, cs, p, 0, q, c_bw, b, 1.0, k, nn)?;
            let h = ((ch_l.v + ch_r.v) / ((ch_r.b - ch_l.b).powi(2) + (ch_r.r + ch_l.r))).powf(ch_l.rate).min(bw_max);
            [h, h, b, b]
        }
        BwSelect::Msesum => {
            let d = floor(((cd_l.v + cd_r.v) / (cd_r.b + cd_l.b).powi(2)).powf(cd_l.rate).min(bw_max));
            let cb_l = bw_constants(&l, cs, q, p + 1, q + 1, c_bw, d, 1.0, k, nn)?;
            let cb_r = bw_constants(&r, cs, q, p + 1, q + 1, c_bw, d, 1.0, k, nn)?;
            let b = ((cb_l.v + cb_r.v) / ((cb_r.b + cb_l.b).powi(2) + (cb_r.r + cb_l.r))).powf(cb_l.rate).min(bw_max);
            let ch_l = bw_constants(&l, cs, p, 0, q, c_bw, b, 1.0, k, nn)?;
            let ch_r = bw_constants(&r, cs, p, 0, q, c_bw, b, 1.0, k, nn)?;
            let h = ((ch_l.v + ch_r.v) / ((ch_r.b + ch_l.b).powi(2) + (ch_r.r + ch_l.r))).powf(ch_l.rate).min(bw_max);
            [h, h, b, b]
        }
        BwSelect::Msetwo => {
            let side_bw = |cd: &BwPieces, maxb: f64, side: &Side, lo: Option<f64>| -> Result<(f64, f64), String> {
                let mut d = (cd.v / cd.b.powi(2)).powf(cd.rate).min(maxb);
                if let Some(lo) = lo {
                    d = d.max(lo);
                }
                let cb = bw_constants(side, cs, q, p + 1, q + 1, c_bw, d, 1.0, k, nn)?;
                let b = (cb.v / (cb.b.powi(2) + cb.r)).powf(cb.rate).min(maxb);
                let ch = bw_constants(side, cs, p, 0, q, c_bw, b, 1.0, k, nn)?;
                let h = (ch.v / (ch.b.powi(2) + ch.r)).powf(ch.rate).min(maxb);
                Ok((h, b))
            };
            let (hl, bl) = side_bw(&cd_l, bw_max_l, &l, bw_min.map(|m| m.0))?;
            let (hr, br) = side_bw(&cd_r, bw_max_r, &r, bw_min.map(|m| m.1))?;
            [hl, hr, bl, br]
        }
    };
    if out.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Err(format!("degenerate bandwidths {out:?}"));
    }
    Ok(out.map(|v| v * x_sd))
}

/// Sharp (no `treatment`) or fuzzy RDD.
pub fn fit(
    outcome: &[f64],
    running: &[f64],
    treatment: Option<&[f64]>,
    s: &RddSettings,
) -> Result<RddResult, RddError> {
    if s.p > 8 {
        return Err(invalid("p", "polynomial order must be at most 8"));
    }
    if !(s.alpha > 0.0 && s.alpha < 1.0) {
        return Err(invalid("alpha", "must be between 0 and 1"));
    }
    if outcome.len() != running.len() || treatment.is_some_and(|t| t.len() != running.len()) {
        return Err(invalid("running", "the outcome, running and treatment columns differ in length"));
    }
    // Drop incomplete rows (as rdrobust does), then sort by the running variable.
    let mut rows: Vec<(f64, f64, f64)> = (0..running.len())
        .filter(|&i| running[i].is_finite() && outcome[i].is_finite() && treatment.is_none_or(|t| t[i].is_finite()))
        .map(|i| (running[i], outcome[i], treatment.map(|t| t[i]).unwrap_or(0.0)))
        .collect();
    let dropped = running.len() - rows.len();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = rows.len();
    if n == 0 {
        return Err(invalid("running", "no complete rows"));
    }
    let c = s.cutoff;
    let (min, max) = (rows[0].0, rows[n - 1].0);
    if c <= min || c >= max {
        return Err(RddError::CutoffOutside { cutoff: c, min, max });
    }
    let q = s.p + 1;
    let mk = |sel: Vec<&(f64, f64, f64)>| {
        let x: Vec<f64> = sel.iter().map(|r| r.0).collect();
        let (dups, dupsid) = dup_counts(&x);
        Side {
            y: sel.iter().map(|r| r.1).collect(),
            t: treatment.map(|_| sel.iter().map(|r| r.2).collect()),
            x,
            dups,
            dupsid,
        }
    };
    let left = mk(rows.iter().filter(|r| r.0 < c).collect());
    let right = mk(rows.iter().filter(|r| r.0 >= c).collect());
    for (name, side) in [("left", &left), ("right", &right)] {
        let mut u = side.x.clone();
        u.dedup();
        if u.len() < q + 1 {
            return Err(RddError::TooFew {
                side: name.into(),
                message: format!(
                    "{} distinct running-variable values; at least {} needed for order {q}",
                    u.len(),
                    q + 1
                ),
            });
        }
    }
    if let Some(t) = treatment {
        let _ = t;
        let tl: Vec<f64> = left.t.clone().unwrap_or_default();
        let tr: Vec<f64> = right.t.clone().unwrap_or_default();
        if sd(&tl).abs() < 1e-300 && sd(&tr).abs() < 1e-300 && (tl[0] - tr[0]).abs() < 1e-12 {
            return Err(invalid(
                "fuzzy",
                "the treatment does not change at the cutoff: the fuzzy design is not identified",
            ));
        }
    }
    let all_x: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let all_y: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let (h_l, h_r, b_l, b_r, selector) = match s.bandwidth {
        Some(h) if h.is_finite() && h > 0.0 => (h, h, h, h, "manual".to_string()),
        Some(_) => return Err(invalid("bandwidth", "must be a positive number")),
        None => {
            let [hl, hr, bl, br] = select_bandwidths(&left, &right, &all_x, &all_y, s).map_err(RddError::Bandwidth)?;
            let name = match s.bwselect {
                BwSelect::Mserd => "mserd",
                BwSelect::Msetwo => "msetwo",
                BwSelect::Msesum => "msesum",
            };
            (hl, hr, bl, br, name.to_string())
        }
    };

    struct SideFit {
        tau_cl: Vec<f64>,
        tau_bc: Vec<f64>,
        n_h: usize,
        inv_p: Vec<f64>,
        rw_p: Vec<Vec<f64>>,
        q_q: Vec<Vec<f64>>,
        res: Vec<Vec<f64>>,
    }
    let fit_side = |side: &Side, h: f64, b: f64, name: &str| -> Result<SideFit, RddError> {
        let k = s.kernel;
        let wh: Vec<f64> = side.x.iter().map(|&x| k.weight((x - c) / h, h)).collect();
        let wb: Vec<f64> = side.x.iter().map(|&x| k.weight((x - c) / b, b)).collect();
        let idx: Vec<usize> = (0..side.x.len()).filter(|&i| if h > b { wh[i] > 0.0 } else { wb[i] > 0.0 }).collect();
        let n_h = wh.iter().filter(|&&w| w > 0.0).count();
        let ex: Vec<f64> = idx.iter().map(|&i| side.x[i]).collect();
        let ey: Vec<f64> = idx.iter().map(|&i| side.y[i]).collect();
        let et: Option<Vec<f64>> = side.t.as_ref().map(|t| idx.iter().map(|&i| t[i]).collect());
        let ewh: Vec<f64> = idx.iter().map(|&i| wh[i]).collect();
        let ewb: Vec<f64> = idx.iter().map(|&i| wb[i]).collect();
        let too_few = |m: String| RddError::TooFew { side: name.into(), message: m };
        let rq = vander(&ex, c, q);
        let rp: Vec<Vec<f64>> = rq[..=s.p].to_vec();
        let inv_p = weighted_inv(&rp, &ewh).map_err(|m| too_few(format!("{m} in the main bandwidth")))?;
        let inv_q = weighted_inv(&rq, &ewb).map_err(|m| too_few(format!("{m} in the bias bandwidth")))?;
        let mut ds: Vec<&[f64]> = vec![&ey];
        if let Some(t) = &et {
            ds.push(t);
        }
        let kp = s.p + 1;
        let kq = q + 1;
        let rw_p: Vec<Vec<f64>> = rp.iter().map(|col| col.iter().zip(&ewh).map(|(a, w)| a * w).collect()).collect();
        // L = Σ RW_p u^(p+1); m_i = (R_q,i · invG_q[p+1, :]) W_b,i; Q_q = RW_p - h^(p+1) m L'
        let lvec: Vec<f64> =
            (0..kp).map(|a| rw_p[a].iter().zip(&ex).map(|(r, x)| r * ((x - c) / h).powi(kp as i32)).sum()).collect();
        let mvec: Vec<f64> =
            (0..ex.len()).map(|i| (0..kq).map(|j| rq[j][i] * inv_q[kp * kq + j]).sum::<f64>() * ewb[i]).collect();
        let hp = h.powi(kp as i32);
        let q_q: Vec<Vec<f64>> =
            (0..kp).map(|a| (0..ex.len()).map(|i| rw_p[a][i] - hp * mvec[i] * lvec[a]).collect()).collect();
        let project = |cols: &[Vec<f64>], d: &[f64]| -> Vec<f64> {
            let v: Vec<f64> = cols.iter().map(|col| col.iter().zip(d).map(|(a, y)| a * y).sum()).collect();
            (0..kp).map(|a| (0..kp).map(|b| inv_p[a * kp + b] * v[b]).sum()).collect()
        };
        let tau_cl: Vec<f64> = ds.iter().map(|d| project(&rw_p, d)[0]).collect();
        let tau_bc: Vec<f64> = ds.iter().map(|d| project(&q_q, d)[0]).collect();
        let (dups, dupsid) = dup_counts(&ex);
        let res = nn_residuals(&ex, &ds, &dups, &dupsid, s.nnmatch);
        Ok(SideFit { tau_cl, tau_bc, n_h, inv_p, rw_p, q_q, res })
    };
    let fl = fit_side(&left, h_l, b_l, "left")?;
    let fr = fit_side(&right, h_r, b_r, "right")?;
    let kp = s.p + 1;
    let (tau_cl, tau_bc, sw, first_stage) = match treatment {
        None => (fr.tau_cl[0] - fl.tau_cl[0], fr.tau_bc[0] - fl.tau_bc[0], vec![1.0], None),
        Some(_) => {
            let (ty, tt) = (fr.tau_cl[0] - fl.tau_cl[0], fr.tau_cl[1] - fl.tau_cl[1]);
            let (tyb, ttb) = (fr.tau_bc[0] - fl.tau_bc[0], fr.tau_bc[1] - fl.tau_bc[1]);
            let tau = ty / tt;
            let sy = vec![1.0 / tt, -(ty / (tt * tt))];
            let bc = tau - (sy[0] * (ty - tyb) + sy[1] * (tt - ttb));
            (tau, bc, sy, Some(tt))
        }
    };
    let var = |f: &SideFit, cols: &[Vec<f64>]| {
        let comb: Vec<f64> = (0..f.res[0].len()).map(|i| sw.iter().zip(&f.res).map(|(s, r)| s * r[i]).sum()).collect();
        quad(&f.inv_p, &meat(cols, &comb), kp, 0)
    };
    let se_cl = (var(&fl, &fl.rw_p) + var(&fr, &fr.rw_p)).sqrt();
    let se_rb = (var(&fl, &fl.q_q) + var(&fr, &fr.q_q)).sqrt();
    let z = dist::normal_critical(s.alpha);
    // The manipulation test uses every observed value of the running variable.
    let mut warnings = Vec::new();
    let density = match density::test(running, c) {
        Ok(d) => Some(d),
        Err(e) => {
            warnings.push(format!("density test not computed: {e}"));
            None
        }
    };
    if dropped > 0 {
        warnings.push(format!("{dropped} row(s) with a missing value dropped"));
    }
    Ok(RddResult {
        method: "rdd".into(),
        estimator: if treatment.is_some() { "fuzzy".into() } else { "sharp".into() },
        estimate: tau_cl,
        std_error: se_cl,
        ci_low: tau_cl - z * se_cl,
        ci_high: tau_cl + z * se_cl,
        p_value: dist::normal_p_value(tau_cl / se_cl),
        n_obs: n,
        inference: "local polynomial; nearest-neighbour (3) heteroskedasticity-robust variance; robust bias-corrected CI (CCT 2014)".into(),
        estimate_bias_corrected: tau_bc,
        robust_std_error: se_rb,
        robust_ci_low: tau_bc - z * se_rb,
        robust_ci_high: tau_bc + z * se_rb,
        robust_p_value: dist::normal_p_value(tau_bc / se_rb),
        bandwidth: h_l.max(h_r),
        bias_bandwidth: b_l.max(b_r),
        bandwidth_left: h_l,
        bandwidth_right: h_r,
        bias_bandwidth_left: b_l,
        bias_bandwidth_right: b_r,
        bandwidth_selector: selector,
        kernel: s.kernel,
        p: s.p,
        q,
        cutoff: c,
        n_left: left.x.len(),
        n_right: right.x.len(),
        n_effective_left: fl.n_h,
        n_effective_right: fr.n_h,
        fit_left: fl.tau_cl[0],
        fit_right: fr.tau_cl[0],
        first_stage,
        density_test_p_value: density.as_ref().map(|d| d.p_value),
        density_test: density,
        warnings,
    })
}

pub mod density;
