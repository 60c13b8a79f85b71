//! Inference that stays valid with weak instruments, for one endogenous regressor x:
//!
//! - the Anderson-Rubin test of H0: β = β0 (Anderson and Rubin 1949): regress y − xβ0 on the
//!   controls W and the excluded instruments Z and test that Z's coefficients are zero. With
//!   classical errors AR(β0) = [e'P e / k] / [e'M e / (n − k − w)] ~ F(k, n − k − w) (P projects on
//!   Z after partialling W out, M is the residual maker of [W, Z], e = y − xβ0); with robust or
//!   cluster-robust errors the same coefficients' Wald statistic / k, on the fit's degrees of
//!   freedom. Its size does not depend on the instruments' strength.
//! - the AR confidence set {β0 : AR(β0) ≤ critical value}. Classical: a quadric, solved exactly
//!   (Dufour and Taamouti 2005): a bounded interval, the whole line, two rays (−∞, a] ∪ [b, ∞),
//!   or empty (the overidentifying restrictions themselves rejected). Robust: the statistic is a
//!   ratio of quadratics in β0 (the meat is quadratic in β0 too), inverted numerically over a wide
//!   range around the estimate and refined by bisection.
//! - the effective first-stage F of Montiel Olea and Pflueger (2013): π̂'(Z̃'Z̃)π̂ / tr(V̂_π Z̃'Z̃),
//!   with V̂_π the first stage's robust (or cluster) covariance; it equals the classical F with
//!   classical errors.

use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::{dist, linalg};

/// The Anderson-Rubin results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ArResult {
    /// H0: the coefficient is zero.
    pub ar_p_value: f64,
    pub ar_statistic: f64,
    /// The confidence set's finite ends (see `ar_confidence_set`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ar_ci_low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ar_ci_high: Option<f64>,
    /// `bounded` [ar_ci_low, ar_ci_high]; `two rays` (−∞, ar_ci_low] ∪ [ar_ci_high, ∞);
    /// `whole line` (the data say nothing about the coefficient: the instruments are too weak);
    /// `unbounded below` (−∞, ar_ci_high]; `unbounded above` [ar_ci_low, ∞); `empty` (every
    /// value rejected: the overidentifying restrictions fail).
    pub ar_confidence_set: String,
}

/// The cross-products the test needs, after partialling the controls out: Z̃'Z̃ (k x k), Z̃'x̃, Z̃'ỹ
/// (k), x̃'x̃, x̃'ỹ, ỹ'ỹ.
pub struct Partialled {
    pub zz: Array2<f64>,
    pub zx: Array1<f64>,
    pub zy: Array1<f64>,
    pub xx: f64,
    pub xy: f64,
    pub yy: f64,
    /// Rows, excluded instruments, and regressors partialled out (the intercept included).
    pub n: usize,
    pub k: usize,
    pub w: usize,
}

/// The robust pieces: the reduced-form coefficients' map B = (Z̃'Z̃)⁻¹ restricted to the
/// excluded instruments, and the meat's quadratic in β0 (M_yy − β0 (M_xy + M_yx) + β0² M_xx), with
/// the small-sample scale and degrees of freedom of the chosen errors.
pub struct RobustPieces {
    /// (X'X)⁻¹ of [W, Z] rows for the excluded instruments (k x (w + k)).
    pub bread: Array2<f64>,
    /// Coefficients of ỹ and x̃ on [W, Z], the excluded ones (k).
    pub gy: Array1<f64>,
    pub gx: Array1<f64>,
    pub m_yy: Array2<f64>,
    pub m_xy: Array2<f64>,
    pub m_xx: Array2<f64>,
    pub scale: f64,
    pub df: f64,
}

fn quad(a: &Array1<f64>, m: ArrayView2<f64>, b: &Array1<f64>) -> f64 {
    a.dot(&m.dot(b))
}

/// The classical statistic at β0 and its degrees of freedom.
fn classical_stat(p: &Partialled, zz_inv: &Array2<f64>, b0: f64) -> f64 {
    let ze = &p.zy - &(&p.zx * b0);
    let epe = quad(&ze, zz_inv.view(), &ze);
    let ee = p.yy - 2.0 * b0 * p.xy + b0 * b0 * p.xx;
    let df2 = (p.n - p.k - p.w) as f64;
    (epe / p.k as f64) / ((ee - epe) / df2)
}

fn robust_stat(r: &RobustPieces, k: usize, b0: f64) -> f64 {
    let g = &r.gy - &(&r.gx * b0);
    let meat = &r.m_yy - &((&r.m_xy + &r.m_xy.t()) * b0) + &(&r.m_xx * (b0 * b0));
    let v = r.bread.dot(&meat).dot(&r.bread.t()) * r.scale;
    linalg::quad_form_inv(v.view(), g.view()).map(|w| w / k as f64).unwrap_or(f64::NAN)
}

/// The test and its confidence set at `alpha`; `robust` for robust or clustered errors.
pub fn anderson_rubin(p: &Partialled, robust: Option<&RobustPieces>, alpha: f64) -> Option<ArResult> {
    let zz_inv = linalg::inv_spd(p.zz.view()).ok()?;
    let df2 = (p.n - p.k - p.w) as f64;
    let kf = p.k as f64;
    match robust {
        None => {
            let stat = classical_stat(p, &zz_inv, 0.0);
            let crit = f_critical(alpha, kf, df2)?;
            // e'Pe − q e'Me ≤ 0 with q = crit · k / df2, as A β² + B β + C ≤ 0.
            let q = crit * kf / df2;
            let pxx = quad(&p.zx, zz_inv.view(), &p.zx);
            let pxy = quad(&p.zx, zz_inv.view(), &p.zy);
            let pyy = quad(&p.zy, zz_inv.view(), &p.zy);
            let a = (1.0 + q) * pxx - q * p.xx;
            let b = -2.0 * ((1.0 + q) * pxy - q * p.xy);
            let c = (1.0 + q) * pyy - q * p.yy;
            let (lo, hi, kind) = solve_quadric(a, b, c);
            Some(ArResult {
                ar_p_value: dist::f_p_value(stat, kf, df2),
                ar_statistic: stat,
                ar_ci_low: lo,
                ar_ci_high: hi,
                ar_confidence_set: kind.into(),
            })
        }
        Some(r) => {
            let stat = robust_stat(r, p.k, 0.0);
            let crit = f_critical(alpha, kf, r.df)?;
            let accept = |b0: f64| robust_stat(r, p.k, b0) <= crit;
            // The 2SLS estimate and a scale for the search from the classical pieces.
            let pxx = quad(&p.zx, zz_inv.view(), &p.zx);
            let pxy = quad(&p.zx, zz_inv.view(), &p.zy);
            let center = pxy / pxx;
            let resid = (p.yy - 2.0 * center * p.xy + center * center * p.xx) / df2;
            let scale = (resid / pxx).sqrt().max(1e-12 * center.abs().max(1.0));
            let (lo, hi, kind) = invert(accept, center, scale);
            Some(ArResult {
                ar_p_value: dist::f_p_value(stat, kf, r.df),
                ar_statistic: stat,
                ar_ci_low: lo,
                ar_ci_high: hi,
                ar_confidence_set: kind.into(),
            })
        }
    }
}

/// {β : a β² + b β + c ≤ 0}.
fn solve_quadric(a: f64, b: f64, c: f64) -> (Option<f64>, Option<f64>, &'static str) {
    let disc = b * b - 4.0 * a * c;
    let tiny = 1e-12 * (b.abs() + c.abs()).max(1e-300);
    if a.abs() <= tiny {
        // Linear: b β + c ≤ 0.
        return if b > 0.0 {
            (None, Some(-c / b), "unbounded below")
        } else if b < 0.0 {
            (Some(-c / b), None, "unbounded above")
        } else if c <= 0.0 {
            (None, None, "whole line")
        } else {
            (None, None, "empty")
        };
    }
    if disc < 0.0 {
        return if a > 0.0 { (None, None, "empty") } else { (None, None, "whole line") };
    }
    let s = disc.sqrt();
    let (r1, r2) = ((-b - s) / (2.0 * a), (-b + s) / (2.0 * a));
    let (r1, r2) = (r1.min(r2), r1.max(r2));
    if a > 0.0 {
        (Some(r1), Some(r2), "bounded")
    } else {
        (Some(r1), Some(r2), "two rays")
    }
}

/// The accepted set of a test over β, searched over center ± 10⁴ scale on a grid and refined by
/// bisection: reported as its outer finite ends with the same shapes as the quadric.
fn invert(accept: impl Fn(f64) -> bool, center: f64, scale: f64) -> (Option<f64>, Option<f64>, &'static str) {
    // A geometric grid on each side (fine near the estimate, out to 10⁴ standard errors).
    let mut grid: Vec<f64> = (0..=400).map(|i| 10f64.powf(-3.0 + 7.0 * i as f64 / 400.0)).collect();
    grid.insert(0, 0.0);
    let pts: Vec<f64> =
        grid.iter().rev().map(|g| center - g * scale).chain(grid.iter().skip(1).map(|g| center + g * scale)).collect();
    let acc: Vec<bool> = pts.iter().map(|&b| accept(b)).collect();
    let refine = |mut inside: f64, mut outside: f64| {
        for _ in 0..80 {
            let mid = 0.5 * (inside + outside);
            if accept(mid) {
                inside = mid;
            } else {
                outside = mid;
            }
        }
        0.5 * (inside + outside)
    };
    let (first, last) = match (acc.iter().position(|a| *a), acc.iter().rposition(|a| *a)) {
        (Some(f), Some(l)) => (f, l),
        _ => return (None, None, "empty"),
    };
    let lo = (first > 0).then(|| refine(pts[first], pts[first - 1]));
    let hi = (last + 1 < pts.len()).then(|| refine(pts[last], pts[last + 1]));
    let gap = acc[first..=last].iter().any(|a| !*a);
    match (lo, hi) {
        (Some(l), Some(h)) if !gap => (Some(l), Some(h), "bounded"),
        (Some(l), Some(h)) => (Some(l), Some(h), "bounded, with gaps inside: a union of intervals"),
        (None, Some(h)) => (None, Some(h), "unbounded below"),
        (Some(l), None) => (Some(l), None, "unbounded above"),
        (None, None) if gap => {
            // Accepted at both ends with a rejected stretch between: two rays.
            let r1 = acc.iter().position(|a| !*a).map(|i| refine(pts[i - 1], pts[i]));
            let r2 = acc.iter().rposition(|a| !*a).map(|i| refine(pts[i + 1], pts[i]));
            (r1, r2, "two rays")
        }
        (None, None) => (None, None, "whole line"),
    }
}

/// The upper-alpha critical value of F(d1, d2) (chi²(d1)/d1 when d2 is infinite).
pub fn f_critical(alpha: f64, d1: f64, d2: f64) -> Option<f64> {
    // Bisection on the upper tail: monotone and always available.
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while dist::f_p_value(hi, d1, d2) > alpha {
        hi *= 2.0;
        if hi > 1e12 {
            return None;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if dist::f_p_value(mid, d1, d2) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(0.5 * (lo + hi))
}
