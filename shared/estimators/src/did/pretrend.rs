//! The power of the pre-trend test (Roth 2022, "Pretest with caution"): a lead test that does not
//! reject is evidence of parallel trends only if it could have detected a violation that matters.
//!
//! Against a linear violation δ_e = γ·(e − r₀) (r₀ the reference event time, so δ is zero there),
//! the joint Wald statistic of the q leads is non-central chi-squared(q, λ) with
//! λ = γ² dᵀV⁻¹d, d_e = e − r₀ over the leads and V their covariance. The trend biases the
//! reported post-period average by γ·Σ a_e (e − r₀), a its weights. Reported: the slope the test
//! detects with 80% probability and the bias that slope implies, and the test's power against
//! the trend whose bias equals the estimate itself. (The chi-squared version of the test: the
//! F version's power is slightly lower with few clusters.)
//!
//! The joint test needs an invertible covariance of the leads: with cluster-robust errors its
//! rank is at most the number of clusters less one, so with as many leads as clusters it cannot
//! run. [`slope_test`] is the 1-df test that still can: the least-squares slope of the leads on
//! their distance from the reference, γ̂ = Σ d_e β̂_e / Σ d_e², a single linear combination whose
//! variance dᵀVd/(dᵀd)² is positive with two clusters, tested with t on the fit's degrees of
//! freedom. It looks for one violation only (a trend), which is the one that biases the estimate
//! most when it continues after treatment.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::{dist, linalg};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PretrendPower {
    /// The slope per period of a linear pre-trend the joint lead test detects with 80% power.
    pub slope_80: f64,
    /// The bias that slope, continued, puts on the reported post-period estimate.
    pub bias_at_slope_80: f64,
    /// The test's power against the linear trend that would bias the estimate by its own size.
    pub power_against_effect_sized_trend: f64,
    pub leads: usize,
}

/// The 1-df test of a linear pre-trend (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PretrendSlope {
    /// The least-squares slope of the leads on their distance from the reference period, per period.
    pub slope: f64,
    pub std_error: f64,
    /// Degrees of freedom of the t-test (the fit's: clusters less one when clustered).
    pub df: f64,
    pub p_value: f64,
    pub leads: usize,
    /// Its power against the linear trend that would bias the estimate by its own size
    /// (normal approximation).
    pub power_against_effect_sized_trend: f64,
}

/// `coef`, `vcov`: the event study's coefficients and covariance; `df`: the t-test's degrees of
/// freedom. None without leads or when the slope's variance is not positive.
#[allow(clippy::too_many_arguments)]
pub fn slope_test(
    rel: &[i64],
    coef: &Array1<f64>,
    vcov: &Array2<f64>,
    post_weights: &Array1<f64>,
    reference: i64,
    estimate: f64,
    df: f64,
    alpha: f64,
) -> Option<PretrendSlope> {
    let leads: Vec<usize> = (0..rel.len()).filter(|&j| rel[j] < reference).collect();
    if leads.is_empty() || df.is_nan() || df <= 0.0 {
        return None;
    }
    let dd: f64 = leads.iter().map(|&j| ((rel[j] - reference) as f64).powi(2)).sum();
    // c: the slope's weights over all coefficients (zero off the leads).
    let mut c = Array1::<f64>::zeros(rel.len());
    for &j in &leads {
        c[j] = (rel[j] - reference) as f64 / dd;
    }
    let slope = c.dot(coef);
    let var = c.dot(&vcov.dot(&c));
    if var.is_nan() || var <= 0.0 || !slope.is_finite() {
        return None;
    }
    let se = var.sqrt();
    let reach: f64 = (0..rel.len()).map(|j| post_weights[j] * (rel[j] - reference) as f64).sum();
    let power = if reach.abs() > 0.0 {
        let shift = estimate.abs() / reach.abs() / se;
        let z = dist::normal_critical(alpha);
        let n = Normal::standard();
        n.sf(z - shift) + n.sf(z + shift)
    } else {
        f64::NAN
    };
    Some(PretrendSlope {
        slope,
        std_error: se,
        df,
        p_value: dist::t_p_value(slope / se, df),
        leads: leads.len(),
        power_against_effect_sized_trend: power,
    })
}

/// `rel`: each coefficient's event time; `vcov`: their covariance; `post_weights`: the weights
/// of the reported estimate over the coefficients; `reference`: the omitted event time.
pub fn power(
    rel: &[i64],
    vcov: &Array2<f64>,
    post_weights: &Array1<f64>,
    reference: i64,
    estimate: f64,
    alpha: f64,
) -> Option<PretrendPower> {
    let leads: Vec<usize> = (0..rel.len()).filter(|&j| rel[j] < reference).collect();
    if leads.is_empty() {
        return None;
    }
    let v = linalg::submatrix(vcov.view(), &leads);
    let d: Array1<f64> = leads.iter().map(|&j| (rel[j] - reference) as f64).collect();
    let info = linalg::quad_form_inv(v.view(), d.view()).ok().filter(|x| x.is_finite() && *x > 0.0)?;
    let q = leads.len() as f64;
    let crit = dist::chi2_critical(alpha, q);
    // λ with 80% power, by bisection (power increases in λ).
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while dist::noncentral_chi2_sf(crit, q, hi) < 0.8 && hi < 1e6 {
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if dist::noncentral_chi2_sf(crit, q, mid) < 0.8 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let slope_80 = (hi / info).sqrt();
    let reach: f64 = (0..rel.len()).map(|j| post_weights[j] * (rel[j] - reference) as f64).sum();
    let power_eff = if reach.abs() > 0.0 {
        let g = estimate.abs() / reach.abs();
        dist::noncentral_chi2_sf(crit, q, g * g * info)
    } else {
        f64::NAN
    };
    Some(PretrendPower {
        slope_80,
        bias_at_slope_80: slope_80 * reach.abs(),
        power_against_effect_sized_trend: power_eff,
        leads: leads.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One lead at e = -2 with variance s²: λ = γ²/s², so 80% power needs γ = s·√λ₈₀ with
    /// λ₈₀ ≈ (1.96 + 0.8416)² = 7.849 (the normal-theory figure, which ignores the far tail's
    /// Φ(−4.8) ≈ 1e-6).
    #[test]
    fn one_lead_closed_form() {
        let s = 0.5;
        let v = ndarray::arr2(&[[s * s, 0.0], [0.0, 1.0]]);
        let a = ndarray::arr1(&[0.0, 1.0]);
        let p = power(&[-2, 0], &v, &a, -1, 1.0, 0.05).unwrap();
        let want = s * (1.959_963_984_540_054f64 + 0.841_621_233_572_914_4).powi(2).sqrt();
        assert!((p.slope_80 - want).abs() < 1e-5, "{} vs {want}", p.slope_80);
        // The post coefficient at e = 0 is 1 period from the reference.
        assert!((p.bias_at_slope_80 - p.slope_80).abs() < 1e-12);
        // The effect-sized trend has slope 1 → λ = 4 → power = P(χ²₁(4) > 3.84) (scipy 1.17.1 ncx2.sf).
        assert!(
            (p.power_against_effect_sized_trend - 0.516_005_273_976_174_7).abs() < 1e-9,
            "{}",
            p.power_against_effect_sized_trend
        );
    }

    /// Two leads at e = -3 and -2 (reference -1): d = (-2, -1), so the slope is (-2 b₋₃ - b₋₂)/5
    /// with variance dᵀVd/25, by hand. The leads' covariance here has rank one, as with two
    /// clusters: the joint test and its power cannot run, the slope test can.
    #[test]
    fn slope_by_hand_where_the_joint_test_cannot_run() {
        let v = ndarray::arr2(&[[1.0, 0.5, 0.0], [0.5, 0.25, 0.0], [0.0, 0.0, 0.04]]);
        let b = ndarray::arr1(&[0.9, 0.2, 1.0]);
        let a = ndarray::arr1(&[0.0, 0.0, 1.0]);
        let rel = [-3, -2, 0];
        assert!(power(&rel, &v, &a, -1, 1.0, 0.05).is_none());
        let s = slope_test(&rel, &b, &v, &a, -1, 1.0, 1.0, 0.05).unwrap();
        let want = (-2.0 * 0.9 - 0.2) / 5.0;
        let var = (4.0 * 1.0 + 2.0 * 2.0 * 0.5 + 0.25) / 25.0;
        assert!((s.slope - want).abs() < 1e-15);
        assert!((s.std_error - f64::sqrt(var)).abs() < 1e-15);
        // t(1): p = 1 - 2 atan(|t|)/π.
        let t = want / var.sqrt();
        let p = 1.0 - 2.0 * t.abs().atan() / std::f64::consts::PI;
        assert!((s.p_value - p).abs() < 1e-12, "{} vs {p}", s.p_value);
        assert_eq!(s.leads, 2);
        // The effect-sized trend: slope 1/1 (the post coefficient is 1 period from the reference),
        // shift 1/se; power = Φ(shift - 1.96) + Φ(-shift - 1.96).
        let n = Normal::standard();
        let shift = 1.0 / var.sqrt();
        let z = 1.959_963_984_540_054;
        assert!((s.power_against_effect_sized_trend - (n.cdf(shift - z) + n.cdf(-shift - z))).abs() < 1e-12);
        // Without leads or degrees of freedom: no test.
        assert!(slope_test(
            &[0],
            &ndarray::arr1(&[1.0]),
            &ndarray::arr2(&[[1.0]]),
            &ndarray::arr1(&[1.0]),
            -1,
            1.0,
            5.0,
            0.05
        )
        .is_none());
        assert!(slope_test(&rel, &b, &v, &a, -1, 1.0, 0.0, 0.05).is_none());
    }
}
