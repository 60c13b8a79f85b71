//! Power analysis for A/B tests (`CausalABTestDesigner`): sample size, minimum detectable effect
//! or power, for a difference in means (two-sample t test, noncentral t, as statsmodels'
//! `TTestIndPower`) or in proportions (Cohen's h with the normal approximation, as statsmodels'
//! `NormalIndPower` with `proportion_effectsize`); one- or two-sided; unequal allocation
//! (`ratio` = treatment size / control size); cluster randomisation (the design effect
//! 1 + (m - 1) ICC divides the effective sample size); variance reduction with a pre-period
//! covariate (CUPED: the outcome variance times 1 - rho²).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use statrs::function::beta::beta_reg;
use statrs::function::gamma::ln_gamma;

use crate::error::{invalid, FieldError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Alternative {
    #[default]
    TwoSided,
    /// Treatment above control.
    Larger,
    /// Treatment below control.
    Smaller,
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Metric {
    /// A mean with this standard deviation per unit; effects in the metric's units.
    Mean { sd: f64 },
    /// A rate with this baseline; effects as absolute differences in the rate.
    Proportion { baseline: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cluster {
    /// Units per cluster (average).
    pub size: f64,
    /// Intra-cluster correlation.
    pub icc: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PowerSettings {
    pub metric: Metric,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default)]
    pub alternative: Alternative,
    /// Treatment units per control unit.
    #[serde(default = "one")]
    pub ratio: f64,
    #[serde(default)]
    pub cluster: Option<Cluster>,
    /// Correlation of the outcome with its pre-period value (CUPED).
    #[serde(default)]
    pub cuped_correlation: Option<f64>,
}

fn default_alpha() -> f64 {
    0.05
}

fn one() -> f64 {
    1.0
}

/// Give two of sample size, effect and power; the third is solved for. A sample size or an
/// effect alone is at [`DEFAULT_POWER`] (the minimum detectable effect of that sample, or the
/// sample that detects that effect).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PowerQuery {
    /// Control-group units (the treatment group has `ratio` times as many).
    pub n_control: Option<f64>,
    /// The effect in the metric's units (absolute difference).
    pub effect: Option<f64>,
    pub power: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PowerResult {
    pub method: String,
    pub n_control: f64,
    pub n_treatment: f64,
    pub n_total: f64,
    /// Sample sizes rounded up to whole units (clusters rounded up to whole clusters).
    pub n_control_ceil: u64,
    pub n_treatment_ceil: u64,
    pub effect: f64,
    /// Standardised effect (Cohen's d for means, h for proportions), after variance reduction.
    pub standardized_effect: f64,
    pub power: f64,
    pub alpha: f64,
    pub alternative: Alternative,
    pub design_effect: f64,
    pub variance_reduction: f64,
    /// Which of the three was solved for, the other two given.
    pub solved_for: SolvedFor,
}

/// What a power query solves for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SolvedFor {
    /// The control units needed (the treated ones follow from the ratio).
    NControl,
    /// The smallest effect detected at the power asked.
    Effect,
    /// The power against the effect given.
    Power,
}

impl SolvedFor {
    /// The word the JSON writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NControl => "n_control",
            Self::Effect => "effect",
            Self::Power => "power",
        }
    }
}

/// CDF of the noncentral t distribution (Lenth 1989, AS 243).
pub fn nct_cdf(t: f64, df: f64, delta: f64) -> f64 {
    let (tt, del, neg) = if t >= 0.0 { (t, delta, false) } else { (-t, -delta, true) };
    let norm = Normal::standard();
    let mut tnc = 0.0;
    let x = tt * tt / (tt * tt + df);
    if x > 0.0 {
        let lambda = del * del;
        let mut p = 0.5 * (-0.5 * lambda).exp();
        let mut q = (2.0 / std::f64::consts::PI).sqrt() * p * del;
        let mut s = 0.5 - p;
        let mut a = 0.5;
        let b = 0.5 * df;
        let rxb = (1.0 - x).powf(b);
        let albeta = ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b);
        let mut xodd = beta_reg(a, b, x);
        let mut godd = 2.0 * rxb * (a * x.ln() - albeta).exp();
        let mut xeven = 1.0 - rxb;
        let mut geven = b * x * rxb;
        tnc = p * xodd + q * xeven;
        for en in 1..=5000 {
            let en = en as f64;
            a += 1.0;
            xodd -= godd;
            xeven -= geven;
            godd *= x * (a + b - 1.0) / a;
            geven *= x * (a + b - 0.5) / (a + 0.5);
            p *= lambda / (2.0 * en);
            q *= lambda / (2.0 * en + 1.0);
            s -= p;
            tnc += p * xodd + q * xeven;
            if 2.0 * s * (xodd - godd) <= 1e-14 && en > lambda / 2.0 {
                break;
            }
        }
    }
    tnc += norm.cdf(-del);
    let out = if neg { 1.0 - tnc } else { tnc };
    out.clamp(0.0, 1.0)
}

struct Design {
    /// The design effect of clustering (1 without clusters).
    deff: f64,
    /// Units per cluster (1 without clusters): the t test's degrees of freedom count clusters.
    cluster_size: f64,
    /// Variance multiplier from CUPED (1 - rho²).
    vr: f64,
}

fn check(s: &PowerSettings) -> Result<Design, FieldError> {
    if !(s.alpha > 0.0 && s.alpha < 0.5) {
        return Err(invalid("alpha", "must be between 0 and 0.5"));
    }
    if !(s.ratio.is_finite() && s.ratio > 0.0) {
        return Err(invalid("ratio", "must be a positive number"));
    }
    match s.metric {
        Metric::Mean { sd } if !(sd.is_finite() && sd > 0.0) => return Err(invalid("metric.sd", "must be positive")),
        Metric::Proportion { baseline } if !(baseline > 0.0 && baseline < 1.0) => {
            return Err(invalid("metric.baseline", "must be between 0 and 1"))
        }
        _ => {}
    }
    let cluster_size = s.cluster.map_or(1.0, |c| c.size);
    let deff = match s.cluster {
        None => 1.0,
        Some(c) => {
            if !(c.size.is_finite() && c.size >= 1.0) {
                return Err(invalid("cluster.size", "must be at least 1"));
            }
            if !(0.0..=1.0).contains(&c.icc) {
                return Err(invalid("cluster.icc", "must be between 0 and 1"));
            }
            1.0 + (c.size - 1.0) * c.icc
        }
    };
    let vr = match s.cuped_correlation {
        None => 1.0,
        Some(r) if r.abs() < 1.0 => 1.0 - r * r,
        Some(_) => return Err(invalid("cuped_correlation", "must be between -1 and 1 (exclusive)")),
    };
    Ok(Design { deff, cluster_size, vr })
}

/// Standardised effect of an absolute effect.
fn standardize(s: &PowerSettings, d: &Design, effect: f64) -> Result<f64, FieldError> {
    Ok(match s.metric {
        Metric::Mean { sd } => effect / (sd * d.vr.sqrt()),
        Metric::Proportion { baseline } => {
            let p2 = baseline + effect;
            if !(p2 > 0.0 && p2 < 1.0) {
                return Err(invalid("effect", format!("baseline + effect = {p2} is not a proportion")));
            }
            // Cohen's h; CUPED shrinks the variance as for means.
            (2.0 * p2.sqrt().asin() - 2.0 * baseline.sqrt().asin()) / d.vr.sqrt()
        }
    })
}

fn unstandardize(s: &PowerSettings, d: &Design, es: f64) -> f64 {
    match s.metric {
        Metric::Mean { sd } => es * sd * d.vr.sqrt(),
        Metric::Proportion { baseline } => {
            let h = es * d.vr.sqrt();
            let phi = 2.0 * baseline.sqrt().asin() + h;
            (phi / 2.0).sin().powi(2) - baseline
        }
    }
}

/// The largest standardised effect a proportion can have in the tested direction (up to p = 1,
/// or down to p = 0 for "smaller"); unbounded for means.
fn largest_effect(s: &PowerSettings, d: &Design) -> f64 {
    match s.metric {
        Metric::Mean { .. } => f64::INFINITY,
        Metric::Proportion { baseline } => {
            let phi = 2.0 * baseline.sqrt().asin();
            let up = std::f64::consts::PI - phi;
            let h = match s.alternative {
                Alternative::Smaller => phi,
                Alternative::Larger => up,
                // Either way: upward while the rate has room, else downward.
                Alternative::TwoSided => up.max(phi),
            };
            h / d.vr.sqrt()
        }
    }
}

/// Degrees of freedom of the t test: clusters (or units) less two.
fn degrees_of_freedom(s: &PowerSettings, d: &Design, n1_eff: f64) -> f64 {
    n1_eff * (1.0 + s.ratio) * d.deff / d.cluster_size - 2.0
}

/// Power for a standardised effect with `n1` control units (effective, after the design effect;
/// with clusters the t test has as many degrees of freedom as clusters less two).
fn power_of(s: &PowerSettings, d: &Design, es: f64, n1: f64) -> f64 {
    let n2 = n1 * s.ratio;
    // Signed so that "smaller" tests a negative effect.
    let es = match s.alternative {
        Alternative::Smaller => -es,
        _ => es,
    };
    match s.metric {
        Metric::Mean { .. } => {
            let df = (n1 + n2) * d.deff / d.cluster_size - 2.0;
            if df <= 0.0 {
                return f64::NAN;
            }
            let nc = es * (n1 * n2 / (n1 + n2)).sqrt();
            let Ok(t) = StudentsT::new(0.0, 1.0, df) else { return f64::NAN };
            match s.alternative {
                Alternative::TwoSided => {
                    let crit = t.inverse_cdf(1.0 - s.alpha / 2.0);
                    1.0 - nct_cdf(crit, df, nc) + nct_cdf(-crit, df, nc)
                }
                _ => 1.0 - nct_cdf(t.inverse_cdf(1.0 - s.alpha), df, nc),
            }
        }
        Metric::Proportion { .. } => {
            let norm = Normal::standard();
            let shift = es * (n1 * n2 / (n1 + n2)).sqrt();
            match s.alternative {
                Alternative::TwoSided => {
                    let crit = norm.inverse_cdf(1.0 - s.alpha / 2.0);
                    norm.sf(crit - shift) + norm.cdf(-crit - shift)
                }
                _ => norm.sf(norm.inverse_cdf(1.0 - s.alpha) - shift),
            }
        }
    }
}

/// Bisection on a function increasing in x, over [lo, max]: the bracket grows from lo by
/// doubling (so huge x, where the noncentral t is slow, are never evaluated needlessly).
fn solve_increasing(f: impl Fn(f64) -> f64, target: f64, lo: f64, max: f64) -> Option<f64> {
    let mut lo = lo;
    if f(lo) > target {
        return None;
    }
    let mut hi = (lo * 2.0).max(1e-3).min(max);
    while f(hi) < target {
        if hi >= max {
            return None;
        }
        lo = hi;
        hi = (hi * 2.0).min(max);
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi.abs().max(1e-12) {
            break;
        }
    }
    Some(0.5 * (lo + hi))
}

/// The power a sample size or an effect given alone is solved at (the convention of 80%).
pub const DEFAULT_POWER: f64 = 0.8;

pub fn solve(s: &PowerSettings, q: &PowerQuery) -> Result<PowerResult, FieldError> {
    let d = check(s)?;
    let mut q = *q;
    if q.power.is_none() && q.n_control.is_some() != q.effect.is_some() {
        q.power = Some(DEFAULT_POWER);
    }
    let q = &q;
    let given = [q.n_control.is_some(), q.effect.is_some(), q.power.is_some()].iter().filter(|x| **x).count();
    if given != 2 {
        return Err(invalid(
            "query",
            "give exactly two of n_control, effect and power (the third is solved for), or n_control or effect alone (at 80% power)",
        ));
    }
    if let Some(p) = q.power {
        if !(p > s.alpha && p < 1.0) {
            return Err(invalid("power", "must be between alpha and 1"));
        }
    }
    if let Some(n) = q.n_control {
        if !(n.is_finite() && n >= 2.0) {
            return Err(invalid("n_control", "must be at least 2"));
        }
    }
    if let Some(e) = q.effect {
        if !(e.is_finite() && e != 0.0) {
            return Err(invalid("effect", "must be a non-zero number"));
        }
        if s.alternative == Alternative::Larger && e < 0.0 || s.alternative == Alternative::Smaller && e > 0.0 {
            return Err(invalid("effect", "has the opposite sign of the alternative"));
        }
    }
    let sign = if s.alternative == Alternative::Smaller { -1.0 } else { 1.0 };
    let no_df = |n: f64| -> Result<(), FieldError> {
        let df = degrees_of_freedom(s, &d, n / d.deff);
        if matches!(s.metric, Metric::Mean { .. }) && df <= 0.0 {
            return Err(invalid(
                "n_control",
                format!(
                    "{n} control units{} leave the t test {df} degrees of freedom: it needs more than 2 {} in all",
                    if s.cluster.is_some() { " in clusters" } else { "" },
                    if s.cluster.is_some() { "clusters" } else { "units" }
                ),
            ));
        }
        Ok(())
    };
    let (n_eff, es, power, solved) = match (q.n_control, q.effect, q.power) {
        (Some(n), Some(e), None) => {
            no_df(n)?;
            let es = standardize(s, &d, e)?;
            let n_eff = n / d.deff;
            (n_eff, es, power_of(s, &d, es.abs() * signed(s), n_eff), SolvedFor::Power)
        }
        (None, Some(e), Some(p)) => {
            let es = standardize(s, &d, e)?;
            let f = |n: f64| power_of(s, &d, es.abs() * signed(s), n);
            let lo = (2.0 * d.cluster_size / d.deff / s.ratio.min(1.0)).max(2.0 / s.ratio.min(1.0)) + 1e-9;
            // The smallest sample may already have more power than asked: it is the answer.
            if f(lo) >= p {
                (lo, es, f(lo), SolvedFor::NControl)
            } else {
                let n_eff = solve_increasing(f, p, lo, 1e12)
                    .ok_or_else(|| invalid("effect", "no sample size reaches that power"))?;
                (n_eff, es, p, SolvedFor::NControl)
            }
        }
        (Some(n), None, Some(p)) => {
            no_df(n)?;
            let n_eff = n / d.deff;
            let f = |es: f64| power_of(s, &d, es * signed(s), n_eff);
            // A proportion cannot pass 0 or 1: the effect is searched only up to there.
            let most = largest_effect(s, &d);
            if most.is_finite() && f(most) < p {
                return Err(invalid(
                    "power",
                    format!(
                        "no effect with the rate between 0 and 1 reaches power {p} with {n} control units: the \
                         largest possible effect (the rate at {}) has power {:.4}; add units or accept less power",
                        if s.alternative == Alternative::Smaller
                            || s.alternative == Alternative::TwoSided
                                && matches!(s.metric, Metric::Proportion { baseline } if baseline > 0.5)
                        {
                            0
                        } else {
                            1
                        },
                        f(most)
                    ),
                ));
            }
            let es = solve_increasing(f, p, 1e-9, most.min(40.0))
                .ok_or_else(|| invalid("n_control", "too few units for any detectable effect at that power"))?;
            (n_eff, sign * es, p, SolvedFor::Effect)
        }
        _ => return Err(invalid("query", "give exactly two of n_control, effect and power")),
    };
    let effect = match q.effect {
        Some(e) => e,
        // The detectable effect in the tested direction (upward for two-sided tests).
        None => {
            let up = match s.metric {
                Metric::Proportion { baseline } => (std::f64::consts::PI - 2.0 * baseline.sqrt().asin()) / d.vr.sqrt(),
                Metric::Mean { .. } => f64::INFINITY,
            };
            let down = s.alternative == Alternative::Smaller || s.alternative == Alternative::TwoSided && es.abs() > up;
            unstandardize(s, &d, if down { -es.abs() } else { es.abs() })
        }
    };
    let n_control = n_eff * d.deff;
    let n_treatment = n_control * s.ratio;
    let (c1, c2) = match s.cluster {
        // Whole clusters.
        Some(c) => ((n_control / c.size).ceil() * c.size, (n_treatment / c.size).ceil() * c.size),
        None => (n_control.ceil(), n_treatment.ceil()),
    };
    Ok(PowerResult {
        method: match s.metric {
            Metric::Mean { .. } => "two-sample t test (noncentral t)".into(),
            Metric::Proportion { .. } => "two-sample test of proportions (Cohen's h, normal approximation)".into(),
        },
        n_control,
        n_treatment,
        n_total: n_control + n_treatment,
        n_control_ceil: c1 as u64,
        n_treatment_ceil: c2 as u64,
        effect,
        standardized_effect: if q.effect.is_none() { es.abs().copysign(effect) } else { es },
        power,
        alpha: s.alpha,
        alternative: s.alternative,
        design_effect: d.deff,
        variance_reduction: 1.0 - d.vr,
        solved_for: solved,
    })
}

/// +1, or -1 for a "smaller" alternative (power_of flips it back).
fn signed(s: &PowerSettings) -> f64 {
    if s.alternative == Alternative::Smaller {
        -1.0
    } else {
        1.0
    }
}
