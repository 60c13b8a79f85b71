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
    /// The set's shape, which says how to read its finite ends.
    pub ar_confidence_set: ArSet,
}

/// The shape of a confidence set found by inverting a test (Anderson-Rubin, CLR), written in the
/// JSON as its words; `low` and `high` are the set's finite ends (`ar_ci_low`, `ar_ci_high`;
/// `clr_ci_low`, `clr_ci_high`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ArSet {
    /// [low, high].
    #[serde(rename = "bounded")]
    Bounded,
    /// Within [low, high] with rejected stretches inside (the robust test's set,
    /// found on a grid): a union of intervals.
    #[serde(rename = "bounded, with gaps inside: a union of intervals")]
    BoundedWithGaps,
    /// (−∞, low] ∪ [high, ∞).
    #[serde(rename = "two rays")]
    TwoRays,
    /// (−∞, high].
    #[serde(rename = "unbounded below")]
    UnboundedBelow,
    /// [low, ∞).
    #[serde(rename = "unbounded above")]
    UnboundedAbove,
    /// Every value: the data say nothing about the coefficient (the instruments are too weak).
    #[serde(rename = "whole line")]
    WholeLine,
    /// No value: every one is rejected (the overidentifying restrictions fail).
    #[serde(rename = "empty")]
    Empty,
}

impl ArSet {
    /// The words the JSON writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bounded => "bounded",
            Self::BoundedWithGaps => "bounded, with gaps inside: a union of intervals",
            Self::TwoRays => "two rays",
            Self::UnboundedBelow => "unbounded below",
            Self::UnboundedAbove => "unbounded above",
            Self::WholeLine => "whole line",
            Self::Empty => "empty",
        }
    }
}

impl std::fmt::Display for ArSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ArResult {
    /// The set as one interval, where it is one: its ends, `None` for an infinite end (the whole
    /// line is (None, None)). `None` for two rays, a union of intervals or the empty set.
    pub fn interval(&self) -> Option<(Option<f64>, Option<f64>)> {
        match self.ar_confidence_set {
            ArSet::Bounded => Some((self.ar_ci_low, self.ar_ci_high)),
            ArSet::UnboundedBelow => Some((None, self.ar_ci_high)),
            ArSet::UnboundedAbove => Some((self.ar_ci_low, None)),
            ArSet::WholeLine => Some((None, None)),
            ArSet::BoundedWithGaps | ArSet::TwoRays | ArSet::Empty => None,
        }
    }

    /// Whether the set holds `b` (the test does not reject the coefficient `b`). `None` where
    /// the set is a union of intervals and `b` lies within its outer ends: the gaps inside are
    /// not recorded.
    pub fn contains(&self, b: f64) -> Option<bool> {
        let (lo, hi) = (self.ar_ci_low, self.ar_ci_high);
        let within = lo.is_none_or(|l| l <= b) && hi.is_none_or(|h| b <= h);
        match self.ar_confidence_set {
            ArSet::Bounded | ArSet::UnboundedBelow | ArSet::UnboundedAbove | ArSet::WholeLine => Some(within),
            ArSet::TwoRays => Some(lo.is_some_and(|l| b <= l) || hi.is_some_and(|h| h <= b)),
            ArSet::Empty => Some(false),
            ArSet::BoundedWithGaps => (!within).then_some(false),
        }
    }
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
                ar_confidence_set: kind,
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
                ar_confidence_set: kind,
            })
        }
    }
}

/// {β : a β² + b β + c ≤ 0}.
pub(crate) fn solve_quadric(a: f64, b: f64, c: f64) -> (Option<f64>, Option<f64>, ArSet) {
    let disc = b * b - 4.0 * a * c;
    let tiny = 1e-12 * (b.abs() + c.abs()).max(1e-300);
    if a.abs() <= tiny {
        // Linear: b β + c ≤ 0.
        return if b > 0.0 {
            (None, Some(-c / b), ArSet::UnboundedBelow)
        } else if b < 0.0 {
            (Some(-c / b), None, ArSet::UnboundedAbove)
        } else if c <= 0.0 {
            (None, None, ArSet::WholeLine)
        } else {
            (None, None, ArSet::Empty)
        };
    }
    if disc < 0.0 {
        return if a > 0.0 { (None, None, ArSet::Empty) } else { (None, None, ArSet::WholeLine) };
    }
    let s = disc.sqrt();
    let (r1, r2) = ((-b - s) / (2.0 * a), (-b + s) / (2.0 * a));
    let (r1, r2) = (r1.min(r2), r1.max(r2));
    if a > 0.0 {
        (Some(r1), Some(r2), ArSet::Bounded)
    } else {
        (Some(r1), Some(r2), ArSet::TwoRays)
    }
}

/// The accepted set of a test over β, searched over center ± 10⁴ scale on a grid and refined by
/// bisection: reported as its outer finite ends with the same shapes as the quadric.
fn invert(accept: impl Fn(f64) -> bool, center: f64, scale: f64) -> (Option<f64>, Option<f64>, ArSet) {
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
        _ => return (None, None, ArSet::Empty),
    };
    let lo = (first > 0).then(|| refine(pts[first], pts[first - 1]));
    let hi = (last + 1 < pts.len()).then(|| refine(pts[last], pts[last + 1]));
    let gap = acc[first..=last].iter().any(|a| !*a);
    match (lo, hi) {
        (Some(l), Some(h)) if !gap => (Some(l), Some(h), ArSet::Bounded),
        (Some(l), Some(h)) => (Some(l), Some(h), ArSet::BoundedWithGaps),
        (None, Some(h)) => (None, Some(h), ArSet::UnboundedBelow),
        (Some(l), None) => (Some(l), None, ArSet::UnboundedAbove),
        (None, None) if gap => {
            // Accepted at both ends with a rejected stretch between: two rays.
            let r1 = acc.iter().position(|a| !*a).map(|i| refine(pts[i - 1], pts[i]));
            let r2 = acc.iter().rposition(|a| !*a).map(|i| refine(pts[i + 1], pts[i]));
            (r1, r2, ArSet::TwoRays)
        }
        (None, None) => (None, None, ArSet::WholeLine),
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

/// Lee, McCrary, Moreira and Porter (2022, "Valid t-ratio inference for IV", AER, Table 3): the
/// 5% critical value c(F) of the t-ratio as a function of the first-stage F, tabulated at
/// √F = 2.0, 2.1, ..., 10.3 (F = 4 to 106.1; 1.96 from there on). Only for one endogenous
/// regressor and one excluded instrument, at the 5% level.
const TF_TABLE: [f64; 84] = [
    18.66, 9.74, 7.37, 6.18, 5.43, 4.92, 4.54, 4.25, 4.01, 3.82, 3.65, 3.51, 3.39, 3.29, 3.19, 3.11, 3.03, 2.97, 2.91,
    2.85, 2.80, 2.75, 2.71, 2.67, 2.63, 2.60, 2.57, 2.54, 2.51, 2.48, 2.46, 2.43, 2.41, 2.39, 2.37, 2.35, 2.33, 2.32,
    2.30, 2.29, 2.27, 2.26, 2.24, 2.23, 2.22, 2.21, 2.20, 2.19, 2.17, 2.16, 2.16, 2.15, 2.14, 2.13, 2.12, 2.11, 2.10,
    2.10, 2.09, 2.08, 2.08, 2.07, 2.06, 2.06, 2.05, 2.04, 2.04, 2.03, 2.03, 2.02, 2.02, 2.01, 2.01, 2.00, 2.00, 1.99,
    1.99, 1.99, 1.98, 1.98, 1.97, 1.97, 1.97, 1.96,
];

/// The tF procedure's answer: the adjusted critical value, and the interval and p-value it gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TfResult {
    /// c(F): reject at 5% when |t| > c(F). Below F = 4 the test has no finite critical value
    /// that keeps its size (the interval is then absent: use the Anderson-Rubin set).
    #[serde(rename = "tf_critical_value")]
    pub critical_value: f64,
    #[serde(rename = "tf_ci_low", skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(rename = "tf_ci_high", skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
}

/// c(F) by linear interpolation in √F (as the table is laid out); `None` below F = 4, where
/// LMMP give no finite value.
pub fn tf_critical_value(f: f64) -> Option<f64> {
    if !(f.is_finite() && f >= 4.0) {
        return None;
    }
    let r = f.sqrt();
    if r >= 10.3 {
        return Some(1.96);
    }
    let pos = (r - 2.0) / 0.1;
    let i = (pos.floor() as usize).min(TF_TABLE.len() - 2);
    let w = pos - i as f64;
    Some(TF_TABLE[i] * (1.0 - w) + TF_TABLE[i + 1] * w)
}

/// The tF-adjusted interval for a coefficient with its standard error and first-stage F.
pub fn tf(estimate: f64, std_error: f64, f: f64) -> TfResult {
    match tf_critical_value(f) {
        Some(c) => TfResult {
            critical_value: c,
            ci_low: Some(estimate - c * std_error),
            ci_high: Some(estimate + c * std_error),
        },
        None => TfResult { critical_value: f64::INFINITY, ci_low: None, ci_high: None },
    }
}

#[cfg(test)]
mod tf_tests {
    use super::*;

    /// The table's own points, the ends, and the interpolation between two points.
    #[test]
    fn table_points_and_interpolation() {
        assert_eq!(tf_critical_value(3.9), None);
        assert_eq!(tf_critical_value(4.0), Some(18.66));
        assert!((tf_critical_value(10.0f64.powi(2)).unwrap() - 1.97).abs() < 1e-12);
        assert_eq!(tf_critical_value(10.3 * 10.3), Some(1.96));
        assert_eq!(tf_critical_value(1e6), Some(1.96));
        // F = 10: LMMP's headline figure, "a t-ratio critical value of 3.43" (√F = 3.162,
        // between 3.51 at 3.1 and 3.39 at 3.2).
        let c = tf_critical_value(10.0).unwrap();
        assert!((c - 3.43).abs() < 0.01, "{c}");
        let w = (10.0f64.sqrt() - 3.1) / 0.1;
        assert!((c - (3.51 * (1.0 - w) + 3.39 * w)).abs() < 1e-9);
        // Decreasing in F.
        let mut last = f64::INFINITY;
        for k in 0..2000 {
            let c = tf_critical_value(4.0 + k as f64 * 0.06).unwrap();
            assert!(c <= last + 1e-12);
            last = c;
        }
    }
}

/// Moreira's (2003) conditional likelihood-ratio test for one endogenous regressor under
/// homoskedastic errors, as ivmodels computes it (`conditional_likelihood_ratio_test`): the
/// statistic dof·(AR(β₀) − min_β AR(β)) with AR the ratio ‖P_Z e‖²/‖M_Z e‖², and its p-value
/// conditional on the concentration statistic λ, P[Γ(k−1, 1, λ) > z] =
/// 1 − E_{B∼Beta((k−1)/2, 1/2)} F_{χ²(k)}(z / (1 − aB)), a = λ/(z + λ) (exact for one regressor).
/// Its confidence set by test inversion. More powerful than Anderson-Rubin with several
/// instruments; the same with one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClrResult {
    #[serde(rename = "clr_statistic")]
    pub statistic: f64,
    /// H0: the coefficient is 0.
    #[serde(rename = "clr_p_value")]
    pub p_value: f64,
    #[serde(rename = "clr_ci_low", skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(rename = "clr_ci_high", skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    #[serde(rename = "clr_confidence_set")]
    pub confidence_set: ArSet,
}

/// The CLR statistic and p-value at β0.
pub fn clr_test(p: &Partialled, zz_inv: &Array2<f64>, b0: f64) -> (f64, f64) {
    let dof = (p.n - p.k - p.w) as f64;
    let px = |a: &Array1<f64>, b: &Array1<f64>| quad(a, zz_inv.view(), b);
    let (pxx, pxy, pyy) = (px(&p.zx, &p.zx), px(&p.zx, &p.zy), px(&p.zy, &p.zy));
    // M_Z cross products.
    let (mxx, mxy, myy) = (p.xx - pxx, p.xy - pxy, p.yy - pyy);
    // e = y − x β0.
    let e_p = pyy - 2.0 * b0 * pxy + b0 * b0 * pxx;
    let e_m = myy - 2.0 * b0 * mxy + b0 * b0 * mxx;
    let ar = e_p / e_m;
    // Smallest root of det(A − μ B), A = [x y]'P_Z[x y], B = [x y]'M_Z[x y].
    let (qa, qb, qc) = (mxx * myy - mxy * mxy, -(pxx * myy + pyy * mxx - 2.0 * pxy * mxy), pxx * pyy - pxy * pxy);
    let disc = (qb * qb - 4.0 * qa * qc).max(0.0);
    let ar_min = (-qb - disc.sqrt()) / (2.0 * qa);
    let z = (dof * (ar - ar_min)).max(0.0);
    // x̃ = x − e Σ, Σ = e'M_Z x / e'M_Z e.
    let em_x = mxy - b0 * mxx;
    let sigma = em_x / e_m;
    let ep_x = pxy - b0 * pxx;
    let xt_p = pxx - 2.0 * sigma * ep_x + sigma * sigma * e_p;
    let xt_m = mxx - 2.0 * sigma * em_x + sigma * sigma * e_m;
    let lambda = dof * xt_p / xt_m;
    (z, clr_p_value(p.k, lambda, z))
}

/// P[Γ(k−1, 1, λ) > z].
fn clr_p_value(k: usize, lambda: f64, z: f64) -> f64 {
    if z <= 0.0 {
        return 1.0;
    }
    if k == 1 || lambda <= 0.0 {
        return dist::chi2_p_value(z, k as f64);
    }
    let (al, be) = ((k as f64 - 1.0) / 2.0, 0.5);
    let a = lambda / (z + lambda);
    let cdf = |x: f64| 1.0 - dist::chi2_p_value(z / (1.0 - a * x), k as f64);
    let ln_b = statrs::function::beta::ln_beta(al, be);
    // ∫₀¹ cdf(x) x^(α−1) (1−x)^(β−1) dx / B(α, β), split at ½ with x = s² and x = 1 − t² so
    // both endpoint singularities go away, then Gauss-Legendre on each piece.
    let (nodes, weights) = gauss_legendre_64();
    let mut total = 0.0;
    for (u, w) in nodes.iter().zip(weights) {
        // s ∈ [0, √½]: x = s², dx = 2s ds.
        let s = (0.5f64).sqrt() * 0.5 * (u + 1.0);
        let x = s * s;
        let f = cdf(x) * 2.0 * s.powf(2.0 * al - 1.0) * (1.0 - x).powf(be - 1.0);
        total += w * 0.5 * (0.5f64).sqrt() * f;
        // t ∈ [0, √½]: x = 1 − t², dx = −2t dt.
        let t = (0.5f64).sqrt() * 0.5 * (u + 1.0);
        let x = 1.0 - t * t;
        let f = cdf(x) * 2.0 * x.powf(al - 1.0) * t.powf(2.0 * be - 1.0);
        total += w * 0.5 * (0.5f64).sqrt() * f;
    }
    (1.0 - total / ln_b.exp()).clamp(f64::EPSILON, 1.0)
}

/// 64-point Gauss-Legendre nodes and weights on [−1, 1], computed once (the CLR interval's
/// inversion evaluates the p-value about a thousand times).
fn gauss_legendre_64() -> &'static (Vec<f64>, Vec<f64>) {
    static NODES: std::sync::OnceLock<(Vec<f64>, Vec<f64>)> = std::sync::OnceLock::new();
    NODES.get_or_init(legendre_nodes)
}

/// 64-point Gauss-Legendre nodes and weights (Newton on the Legendre polynomial).
fn legendre_nodes() -> (Vec<f64>, Vec<f64>) {
    let n = 64;
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    for i in 0..n {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 0.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, z);
            for j in 2..=n {
                let p2 = ((2 * j - 1) as f64 * z * p1 - (j - 1) as f64 * p0) / j as f64;
                p0 = p1;
                p1 = p2;
            }
            dp = n as f64 * (z * p1 - p0) / (z * z - 1.0);
            let dz = p1 / dp;
            z -= dz;
            if dz.abs() < 1e-15 {
                break;
            }
        }
        x[i] = z;
        w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
    }
    (x, w)
}

/// The CLR test of β = 0 and its confidence set at `alpha` (classical errors).
pub fn clr(p: &Partialled, alpha: f64) -> Option<ClrResult> {
    let zz_inv = linalg::inv_spd(p.zz.view()).ok()?;
    let (statistic, p_value) = clr_test(p, &zz_inv, 0.0);
    let pxx = quad(&p.zx, zz_inv.view(), &p.zx);
    let pxy = quad(&p.zx, zz_inv.view(), &p.zy);
    let center = pxy / pxx;
    let df2 = (p.n - p.k - p.w) as f64;
    let resid = (p.yy - 2.0 * center * p.xy + center * center * p.xx) / df2;
    let scale = (resid / pxx).sqrt().max(1e-12 * center.abs().max(1.0));
    let (ci_low, ci_high, kind) = invert(|b0| clr_test(p, &zz_inv, b0).1 >= alpha, center, scale);
    Some(ClrResult { statistic, p_value, ci_low, ci_high, confidence_set: kind })
}
