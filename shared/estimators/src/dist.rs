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
    }
}
