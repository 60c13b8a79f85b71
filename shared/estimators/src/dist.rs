//! p-values and critical values (statrs distributions).

use statrs::distribution::{ChiSquared, ContinuousCDF, FisherSnedecor, Normal, StudentsT};

/// Two-sided p-value of a t statistic with `df` degrees of freedom (normal when df is infinite).
pub fn t_p_value(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return if t.is_nan() { f64::NAN } else { 0.0 };
    }
    if !df.is_finite() {
        return normal_p_value(t);
    }
    match StudentsT::new(0.0, 1.0, df) {
        Ok(d) => (2.0 * d.sf(t.abs())).min(1.0),
        Err(_) => f64::NAN,
    }
}

/// The (1 - alpha/2) quantile of t(df).
pub fn t_critical(alpha: f64, df: f64) -> f64 {
    if !df.is_finite() {
        return normal_critical(alpha);
    }
    StudentsT::new(0.0, 1.0, df).map(|d| d.inverse_cdf(1.0 - alpha / 2.0)).unwrap_or(f64::NAN)
}

pub fn normal_p_value(z: f64) -> f64 {
    let n = Normal::standard();
    (2.0 * n.sf(z.abs())).min(1.0)
}

pub fn normal_critical(alpha: f64) -> f64 {
    Normal::standard().inverse_cdf(1.0 - alpha / 2.0)
}

/// Upper tail of F(d1, d2).
pub fn f_p_value(f: f64, d1: f64, d2: f64) -> f64 {
    if !f.is_finite() || f < 0.0 {
        return f64::NAN;
    }
    if !d2.is_finite() {
        return chi2_p_value(f * d1, d1);
    }
    FisherSnedecor::new(d1, d2).map(|d| d.sf(f)).unwrap_or(f64::NAN)
}

/// Upper tail of chi-squared(df).
pub fn chi2_p_value(x: f64, df: f64) -> f64 {
    if !x.is_finite() || x < 0.0 {
        return f64::NAN;
    }
    ChiSquared::new(df).map(|d| d.sf(x)).unwrap_or(f64::NAN)
}

/// The (1 - alpha) quantile of chi-squared(df).
pub fn chi2_critical(alpha: f64, df: f64) -> f64 {
    ChiSquared::new(df).map(|d| d.inverse_cdf(1.0 - alpha)).unwrap_or(f64::NAN)
}

/// Upper tail of the non-central chi-squared(df, λ) at x: the Poisson(λ/2) mixture of central
/// chi-squared(df + 2j) tails, summed outward from the mode until the weights are negligible.
pub fn noncentral_chi2_sf(x: f64, df: f64, lambda: f64) -> f64 {
    if !(x.is_finite() && lambda.is_finite() && lambda >= 0.0) {
        return f64::NAN;
    }
    if lambda == 0.0 {
        return chi2_p_value(x, df);
    }
    let m = lambda / 2.0;
    let mode = m.floor() as i64;
    let log_w = |j: i64| -> f64 { -m + j as f64 * m.ln() - statrs::function::gamma::ln_gamma(j as f64 + 1.0) };
    let term = |j: i64| log_w(j).exp() * chi2_p_value(x, df + 2.0 * j as f64);
    let mut total = term(mode);
    for dir in [-1i64, 1] {
        let mut j = mode + dir;
        while j >= 0 {
            let w = log_w(j).exp();
            total += w * chi2_p_value(x, df + 2.0 * j as f64);
            if w < 1e-16 && (j - mode).abs() > 10 {
                break;
            }
            j += dir;
        }
    }
    total.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values: scipy 1.17.1 (2 * t.sf, norm.ppf, t.ppf, f.sf, chi2.sf).
    #[test]
    fn known_values() {
        assert!((t_p_value(2.0, 10.0) - 0.073_388_034_770_740_37).abs() < 1e-12);
        assert!((normal_critical(0.05) - 1.959_963_984_540_054).abs() < 1e-12);
        assert!((t_critical(0.05, 499.0) - 1.964_729_390_987_688_6).abs() < 1e-9);
        assert!((f_p_value(3.0, 2.0, 20.0) - 0.072_538_150_286_405_71).abs() < 1e-10);
        assert!((chi2_p_value(3.841_458_820_694_124, 1.0) - 0.05).abs() < 1e-12);
        assert!((chi2_critical(0.05, 3.0) - 7.814_727_903_251_179).abs() < 1e-9);
    }

    /// The limits the callers rely on: infinite degrees of freedom are the normal (t) and the
    /// chi-squared over d1 (F); an infinite statistic has p-value 0; a non-centrality of 0 is the
    /// central law; anything else out of the domain is NaN, never a number.
    #[test]
    fn limits_and_arguments_out_of_the_domain() {
        assert_eq!(t_p_value(f64::INFINITY, 10.0), 0.0);
        assert!(t_p_value(f64::NAN, 10.0).is_nan());
        assert_eq!(t_p_value(1.7, f64::INFINITY), normal_p_value(1.7));
        assert!(t_p_value(1.7, -1.0).is_nan());
        assert_eq!(t_critical(0.05, f64::INFINITY), normal_critical(0.05));
        assert!(f_p_value(-1.0, 2.0, 20.0).is_nan() && f_p_value(f64::NAN, 2.0, 20.0).is_nan());
        assert_eq!(f_p_value(3.0, 2.0, f64::INFINITY), chi2_p_value(6.0, 2.0));
        assert!(chi2_p_value(-0.5, 3.0).is_nan());
        assert!(noncentral_chi2_sf(f64::NAN, 3.0, 1.0).is_nan() && noncentral_chi2_sf(2.0, 3.0, -1.0).is_nan());
        assert_eq!(noncentral_chi2_sf(7.8, 3.0, 0.0), chi2_p_value(7.8, 3.0));
    }

    // scipy 1.17.1 ncx2.sf(x, df, nc).
    #[test]
    fn noncentral_chi2_matches_scipy() {
        for (x, df, l, want) in [
            (7.8147, 3.0, 5.0, 0.440_511_113_137_862_34),
            (3.84, 1.0, 7.85, 0.800_161_093_911_407_1),
            (20.0, 4.0, 60.0, 0.999_789_821_678_174_9),
            (11.07, 5.0, 0.3, 0.063_396_481_747_447_73),
        ] {
            let got = noncentral_chi2_sf(x, df, l);
            assert!((got - want).abs() < 1e-10, "{x} {df} {l}: {got} vs {want}");
        }
    }
}
