//! What a TWFE coefficient averages under staggered adoption.
//!
//! - The Goodman-Bacon (2021) decomposition: on a balanced panel with an absorbing treatment the
//!   TWFE coefficient is a weighted average of every 2x2 DiD between timing groups: each treated
//!   cohort against the never treated, earlier- against later-treated cohorts before the later
//!   ones start, and later- against earlier-treated cohorts after the earlier ones started (the
//!   "forbidden" comparison, whose control is itself treated). Weights (Goodman-Bacon 2021,
//!   eq. 10a-10e) grow with group sizes and with the variance of treatment in each 2x2 and sum
//!   to one; Σ weight × estimate reproduces the TWFE coefficient exactly.
//! - The weights on each treated cell (de Chaisemartin and D'Haultfœuille 2020): the TWFE
//!   coefficient is Σ_{treated cells} w_gt Δ_gt with w_gt proportional to the residual of the
//!   treatment on the two fixed effects; cells with a negative residual get a negative weight.

use serde::{Deserialize, Serialize};

/// One 2x2 comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BaconTerm {
    /// `treated_vs_never`, `earlier_vs_later` (later cohort not yet treated: a clean control) or
    /// `later_vs_earlier` (the earlier cohort, already treated, as the control).
    #[serde(rename = "type")]
    pub kind: String,
    /// The first treated period of the cohort treated in this comparison.
    pub treated_cohort: i64,
    /// The control cohort's first treated period; absent for the never treated.
    pub control_cohort: Option<i64>,
    pub weight: f64,
    pub estimate: f64,
}

/// The de Chaisemartin-D'Haultfœuille weights on the treated cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NegativeWeights {
    /// Share of treated observations whose weight is negative.
    pub share: f64,
    /// Sum of the negative weights (the weights sum to one).
    pub sum: f64,
}

/// Per treated row, the weight's sign comes from the treatment's within residual `x` (the
/// demeaned treatment); the weights are x / Σ_{treated} x.
pub fn negative_weights(x: &[f64], treated: &[bool]) -> Option<NegativeWeights> {
    let total: f64 = x.iter().zip(treated).filter(|(_, t)| **t).map(|(v, _)| v).sum();
    let n_treated = treated.iter().filter(|t| **t).count();
    if n_treated == 0 || total == 0.0 {
        return None;
    }
    let neg: Vec<f64> = x.iter().zip(treated).filter(|(v, t)| **t && **v < 0.0).map(|(v, _)| *v).collect();
    Some(NegativeWeights { share: neg.len() as f64 / n_treated as f64, sum: neg.iter().sum::<f64>() / total })
}

/// A balanced panel in wide form: `y[u][t]` over periods 0..T, and each unit's first treated
/// period index (None: never treated).
pub struct Wide<'a> {
    pub y: &'a [Vec<f64>],
    pub first: &'a [Option<usize>],
    /// The period labels, for the cohorts' names.
    pub periods: &'a [i64],
}

/// The decomposition, or None when there is nothing staggered to decompose (fewer than two
/// timing groups among treated and never-treated units).
pub fn decompose(w: &Wide) -> Option<Vec<BaconTerm>> {
    let t_len = w.periods.len();
    let n = w.y.len() as f64;
    // Timing groups: cohorts by first treated period, and the never treated.
    let mut cohorts: Vec<usize> = w.first.iter().flatten().copied().collect();
    cohorts.sort_unstable();
    cohorts.dedup();
    let never: Vec<usize> = (0..w.y.len()).filter(|&u| w.first[u].is_none()).collect();
    if cohorts.len() + usize::from(!never.is_empty()) < 2 {
        return None;
    }
    let members = |c: usize| -> Vec<usize> { (0..w.y.len()).filter(|&u| w.first[u] == Some(c)).collect() };
    // Mean of a group over periods [a, b).
    let mean = |units: &[usize], a: usize, b: usize| -> f64 {
        let mut s = 0.0;
        for &u in units {
            s += w.y[u][a..b].iter().sum::<f64>();
        }
        s / (units.len() * (b - a)) as f64
    };
    let share = |units: &[usize]| units.len() as f64 / n;
    // D̄: the share of periods treated.
    let dbar = |c: usize| (t_len - c) as f64 / t_len as f64;
    let mut terms = Vec::new();
    for (i, &k) in cohorts.iter().enumerate() {
        let uk = members(k);
        let nk = share(&uk);
        let dk = dbar(k);
        // Treated vs never treated (cohorts treated from the first period have no pre-period).
        if !never.is_empty() && k > 0 {
            let nu = share(&never);
            let nku = nk / (nk + nu);
            let est = (mean(&uk, k, t_len) - mean(&uk, 0, k)) - (mean(&never, k, t_len) - mean(&never, 0, k));
            let weight = (nk + nu).powi(2) * nku * (1.0 - nku) * dk * (1.0 - dk);
            terms.push(BaconTerm {
                kind: "treated_vs_never".into(),
                treated_cohort: w.periods[k],
                control_cohort: None,
                weight,
                estimate: est,
            });
        }
        for &l in &cohorts[i + 1..] {
            // k treated earlier than l.
            let ul = members(l);
            let nl = share(&ul);
            let dl = dbar(l);
            let nkl = nk / (nk + nl);
            // Earlier vs later, before l starts: periods [0, l); k's pre [0, k), mid [k, l).
            if k > 0 {
                let est = (mean(&uk, k, l) - mean(&uk, 0, k)) - (mean(&ul, k, l) - mean(&ul, 0, k));
                let weight = ((nk + nl) * (1.0 - dl)).powi(2)
                    * nkl
                    * (1.0 - nkl)
                    * ((dk - dl) / (1.0 - dl))
                    * ((1.0 - dk) / (1.0 - dl));
                terms.push(BaconTerm {
                    kind: "earlier_vs_later".into(),
                    treated_cohort: w.periods[k],
                    control_cohort: Some(w.periods[l]),
                    weight,
                    estimate: est,
                });
            }
            // Later vs earlier, after k started: periods [k, T); l's mid [k, l), post [l, T).
            let est = (mean(&ul, l, t_len) - mean(&ul, k, l)) - (mean(&uk, l, t_len) - mean(&uk, k, l));
            let weight = ((nk + nl) * dk).powi(2) * nkl * (1.0 - nkl) * (dl / dk) * ((dk - dl) / dk);
            terms.push(BaconTerm {
                kind: "later_vs_earlier".into(),
                treated_cohort: w.periods[l],
                control_cohort: Some(w.periods[k]),
                weight,
                estimate: est,
            });
        }
    }
    let total: f64 = terms.iter().map(|t| t.weight).sum();
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    for t in &mut terms {
        t.weight /= total;
    }
    Some(terms)
}
