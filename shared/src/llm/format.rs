//! The one number formatter: every number a narrative states is written here, from a fact, and
//! the grounding validator reads numbers back with the same rules.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a number measures, which decides how it is written and what a written number may match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// In the outcome's own units (revenue, conversions, ... per unit and period).
    Outcome,
    /// A fraction written as a percentage (0.082 is "8.20%").
    Share,
    /// A difference of two shares, written in percentage points.
    PercentagePoints,
    /// A p-value: two significant digits, "<0.001" below 0.001.
    Probability,
    /// A whole number: units, periods, edges.
    Count,
    /// A test statistic or a ratio (F, chi-squared, E-value).
    Statistic,
    /// A confidence level (0.9 is "90%").
    Level,
}

/// `value` as a narrative writes it.
pub fn display(value: f64, unit: Unit) -> String {
    if !value.is_finite() {
        return "not available".into();
    }
    match unit {
        Unit::Count => group(&format!("{:.0}", value)),
        Unit::Level => {
            let pct = value * 100.0;
            if (pct - pct.round()).abs() < 1e-9 {
                format!("{:.0}%", pct)
            } else {
                format!("{}%", trim(&format!("{:.2}", pct)))
            }
        }
        Unit::Share => format!("{}%", sig3(value * 100.0)),
        Unit::PercentagePoints => format!("{} pp", sig3(value * 100.0)),
        Unit::Probability => {
            if value < 0.001 {
                "<0.001".into()
            } else {
                let d = decimals_for(value, 2);
                format!("{:.*}", d, value)
            }
        }
        Unit::Outcome | Unit::Statistic => sig3(value),
    }
}

/// Three significant digits; whole numbers from 1,000 up, with thousands separators.
pub fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let d = decimals_for(v, 3);
    group(&format!("{:.*}", d, v))
}

/// Decimals that give `sig` significant digits (none from 10^(sig-1) up).
fn decimals_for(v: f64, sig: i32) -> usize {
    let a = v.abs();
    if a == 0.0 {
        return 0;
    }
    let mag = a.log10().floor() as i32;
    let d = (sig - 1 - mag).clamp(0, 20) as usize;
    // Rounding can carry into the next power of ten (99.96 to "100.0", 0.99999 to "1.00"): then
    // one decimal fewer keeps the same number of significant digits.
    let rounded: f64 = format!("{a:.d$}").parse().unwrap_or(a);
    if d > 0 && rounded.log10().floor() as i32 > mag {
        d - 1
    } else {
        d
    }
}

fn trim(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// Thousands separators in the whole part of a formatted number.
fn group(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map(|r| ("-", r)).unwrap_or(("", s));
    let (int, frac) = rest.split_once('.').map(|(i, f)| (i, Some(f))).unwrap_or((rest, None));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_one_way() {
        assert_eq!(display(1234.56, Unit::Outcome), "1,235");
        assert_eq!(display(-1234567.0, Unit::Outcome), "-1,234,567");
        assert_eq!(display(12.345, Unit::Outcome), "12.3");
        assert_eq!(display(0.012345, Unit::Outcome), "0.0123");
        assert_eq!(display(999.6, Unit::Outcome), "1,000");
        assert_eq!(display(0.0, Unit::Outcome), "0");
        assert_eq!(display(0.0823, Unit::Share), "8.23%");
        assert_eq!(display(0.9, Unit::Level), "90%");
        assert_eq!(display(0.975, Unit::Level), "97.5%");
        assert_eq!(display(0.0412, Unit::Probability), "0.041");
        assert_eq!(display(0.41, Unit::Probability), "0.41");
        assert_eq!(display(0.0004, Unit::Probability), "<0.001");
        assert_eq!(display(1.0, Unit::Probability), "1.0");
        assert_eq!(display(12.0, Unit::Count), "12");
        // rounding that carries into the next power of ten keeps three significant digits
        assert_eq!(display(0.9999999999999998, Unit::Share), "100%");
        assert_eq!(display(99.96, Unit::Outcome), "100");
        assert_eq!(display(9.996, Unit::Outcome), "10.0");
        assert_eq!(display(0.99999, Unit::Probability), "1.0");
        assert_eq!(display(f64::NAN, Unit::Outcome), "not available");
    }
}
