//! Geo experiment design (the GeoLift approach): choose the treatment markets and the duration
//! from historical data by simulating the test with synthetic control.
//!
//! For every candidate set of markets (up to `max_markets`, containing every market the user
//! must include, none they excluded) and every duration, the test is replayed on `windows`
//! historical periods where nothing happened: the pooled treated markets are fitted by a
//! synthetic control (simplex weights over the other markets, exact least squares on the
//! pre-period, each market's series divided by its own mean so markets of any size compare),
//! and the relative gap over the window is a placebo effect. Their root mean square is the
//! noise of the test's estimate; the minimum detectable effect is (z_{1-α/2} + z_{power}) times
//! it, and the power against a given lift follows from the same normal approximation. The same
//! holds for spend-cut (holdout) tests, whose effect is a loss. Candidates are ranked by their
//! MDE; the test's cost (markets x periods x the cost per market-period) can be capped.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};
use std::collections::{BTreeSet, HashMap};

use crate::synth::simplex::SimplexLs;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{field}: {message}")]
pub struct GeoError {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> GeoError {
    GeoError { field: field.to_string(), message: message.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// Spend raised in the test markets.
    #[default]
    Increase,
    /// Spend cut (a holdout): the effect is a loss.
    Holdout,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GeoSettings {
    /// Test lengths, in periods of the panel (e.g. weeks).
    pub durations: Vec<usize>,
    #[serde(default = "three")]
    pub max_markets: usize,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default = "alpha")]
    pub alpha: f64,
    #[serde(default = "power")]
    pub power: f64,
    /// A lift to compute the power against (relative, e.g. 0.05 for +5%).
    #[serde(default)]
    pub effect: Option<f64>,
    /// Historical windows replayed per candidate.
    #[serde(default = "windows")]
    pub windows: usize,
    /// Pre-period length used to fit each replay (at most).
    #[serde(default = "pre_periods")]
    pub pre_periods: usize,
    #[serde(default)]
    pub kind: TestKind,
    /// Cost of testing one market for one period, and the budget it must fit.
    #[serde(default)]
    pub cost_per_market_period: Option<f64>,
    #[serde(default)]
    pub budget: Option<f64>,
    /// How many candidates to return per duration.
    #[serde(default = "top")]
    pub top: usize,
}

fn three() -> usize {
    3
}
fn alpha() -> f64 {
    0.1
}
fn power() -> f64 {
    0.8
}
fn windows() -> usize {
    6
}
fn pre_periods() -> usize {
    52
}
fn top() -> usize {
    10
}

/// A long panel: market, period, outcome.
#[derive(Debug, Clone)]
pub struct GeoPanel {
    pub market: Vec<String>,
    pub time: Vec<i64>,
    pub outcome: ndarray::Array1<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Candidate {
    pub markets: Vec<String>,
    pub duration: usize,
    /// Minimum detectable lift (relative; a loss for holdouts), at `alpha` and `power`.
    pub mde: f64,
    /// The same in outcome units per period across the test markets.
    pub mde_absolute: f64,
    /// Power against `effect`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power: Option<f64>,
    /// Root mean square of the placebo effects (the estimate's noise), and their mean (bias).
    pub placebo_rmse: f64,
    pub placebo_bias: f64,
    /// Pre-period fit of the replays (relative RMSPE).
    pub pre_rmspe: f64,
    /// The test markets' share of the total outcome.
    pub share_of_outcome: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GeoDesign {
    pub method: String,
    pub kind: TestKind,
    pub alpha: f64,
    pub power: f64,
    pub candidates_evaluated: usize,
    pub synthetic_control_fits: usize,
    /// Best candidates per duration, smallest MDE first.
    pub by_duration: Vec<Vec<Candidate>>,
    /// The best candidate overall (smallest MDE, then shortest).
    pub recommended: Option<Candidate>,
}

/// k-subsets of 0..n, each containing `must`.
fn subsets(pool: &[usize], must: &[usize], max: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let free: Vec<usize> = pool.iter().copied().filter(|m| !must.contains(m)).collect();
    let extra_max = max.saturating_sub(must.len());
    fn rec(free: &[usize], start: usize, left: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>, must: &[usize]) {
        if !cur.is_empty() || !must.is_empty() {
            let mut s: Vec<usize> = must.to_vec();
            s.extend_from_slice(cur);
            if !s.is_empty() {
                out.push(s);
            }
        }
        if left == 0 {
            return;
        }
        for i in start..free.len() {
            cur.push(free[i]);
            rec(free, i + 1, left - 1, cur, out, must);
            cur.pop();
        }
    }
    rec(&free, 0, extra_max, &mut Vec::new(), &mut out, must);
    out
}

/// The panel as market x period outcomes: every value present, finite and non-negative.
struct Wide {
    markets: Vec<String>,
    times: Vec<i64>,
    y: Vec<Vec<f64>>,
}

fn pivot(panel: &GeoPanel) -> Result<Wide, GeoError> {
    let n = panel.market.len();
    if panel.time.len() != n || panel.outcome.len() != n {
        return Err(invalid("panel", "market, time and outcome differ in length"));
    }
    let markets: Vec<String> = panel.market.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let times: Vec<i64> = panel.time.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let mi: HashMap<&str, usize> = markets.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let ti: HashMap<i64, usize> = times.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let mut y = vec![vec![f64::NAN; times.len()]; markets.len()];
    for i in 0..n {
        if !panel.outcome[i].is_finite() || panel.outcome[i] < 0.0 {
            return Err(invalid("panel.outcome", format!("row {}: must be a non-negative number", i + 1)));
        }
        y[mi[panel.market[i].as_str()]][ti[&panel.time[i]]] = panel.outcome[i];
    }
    for (m, row) in y.iter().enumerate() {
        if let Some(t) = row.iter().position(|v| v.is_nan()) {
            return Err(invalid("panel", format!("market {} has no value for period {}", markets[m], times[t])));
        }
    }
    Ok(Wide { markets, times, y })
}

pub fn design(panel: &GeoPanel, s: &GeoSettings) -> Result<GeoDesign, GeoError> {
    let Wide { markets, times, y } = pivot(panel)?;
    let mi: HashMap<&str, usize> = markets.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    if markets.len() < 4 {
        return Err(invalid("panel", "needs at least 4 markets"));
    }
    if s.durations.is_empty() || s.durations.contains(&0) {
        return Err(invalid("durations", "give one or more positive durations"));
    }
    if !(s.alpha > 0.0 && s.alpha < 0.5) {
        return Err(invalid("alpha", "must be between 0 and 0.5"));
    }
    if !(s.power > 0.5 && s.power < 1.0) {
        return Err(invalid("power", "must be between 0.5 and 1"));
    }
    if s.max_markets == 0 || s.max_markets >= markets.len() - 1 {
        return Err(invalid("max_markets", "must leave at least two control markets"));
    }
    if s.windows < 2 {
        return Err(invalid("windows", "needs at least 2 replays"));
    }
    let dmax = *s.durations.iter().max().unwrap_or(&1);
    let t_len = times.len();
    let pre = s.pre_periods.max(4);
    if dmax > t_len || s.windows > t_len || t_len < dmax + s.windows + 8 {
        return Err(invalid(
            "panel",
            format!("{t_len} periods is too short to replay {} windows of {dmax}", s.windows),
        ));
    }
    let idx = |name: &str, field: &str| -> Result<usize, GeoError> {
        mi.get(name).copied().ok_or_else(|| invalid(field, format!("{name:?} is not a market of the panel")))
    };
    let must: Vec<usize> = s.include.iter().map(|m| idx(m, "include")).collect::<Result<_, _>>()?;
    let banned: Vec<usize> = s.exclude.iter().map(|m| idx(m, "exclude")).collect::<Result<_, _>>()?;
    if must.iter().any(|m| banned.contains(m)) {
        return Err(invalid("include", "a market is both included and excluded"));
    }
    if must.len() > s.max_markets {
        return Err(invalid("include", "more markets than max_markets"));
    }
    // Each market divided by its mean: markets of any size compare on shape.
    let scaled: Vec<Vec<f64>> = y
        .iter()
        .map(|row| {
            let m = row.iter().sum::<f64>() / row.len() as f64;
            row.iter().map(|v| if m > 0.0 { v / m } else { 0.0 }).collect()
        })
        .collect();
    let total: f64 = y.iter().map(|r| r.iter().sum::<f64>()).sum();
    // Replay windows end at the end of the data and step back by the longest duration (they
    // may overlap when the history is short).
    let step = ((t_len - dmax - 8) / s.windows).clamp(1, dmax);
    let starts: Vec<usize> = (0..s.windows).map(|w| t_len - dmax - w * step).filter(|&st| st >= 8).collect();
    let pool: Vec<usize> = (0..markets.len()).filter(|m| !banned.contains(m)).collect();
    let sets = subsets(&pool, &must, s.max_markets);
    let z = Normal::standard();
    let (za, zp) = (z.inverse_cdf(1.0 - s.alpha / 2.0), z.inverse_cdf(s.power));
    // Evaluate candidates on all cores.
    let eval = |set: &Vec<usize>| -> Vec<Option<Candidate>> {
        let donors: Vec<usize> = (0..markets.len()).filter(|m| !set.contains(m)).collect();
        let treated: Vec<f64> =
            (0..t_len).map(|t| set.iter().map(|&m| scaled[m][t]).sum::<f64>() / set.len() as f64).collect();
        let mut placebo: Vec<Vec<f64>> = vec![Vec::new(); s.durations.len()];
        let mut pre_err = Vec::new();
        for &st in &starts {
            let p0 = st.saturating_sub(pre);
            let a: Vec<Vec<f64>> = donors.iter().map(|&d| scaled[d][p0..st].to_vec()).collect();
            let b = &treated[p0..st];
            let Some((w, _)) = (SimplexLs { a: &a, b }).solve(None) else { continue };
            let synth = |t: usize| donors.iter().zip(&w).map(|(&d, wi)| scaled[d][t] * wi).sum::<f64>();
            let rmspe = ((p0..st).map(|t| (treated[t] - synth(t)).powi(2)).sum::<f64>() / (st - p0) as f64).sqrt();
            pre_err.push(rmspe);
            for (k, &d) in s.durations.iter().enumerate() {
                let (num, den): (f64, f64) = (st..st + d)
                    .map(|t| (treated[t] - synth(t), synth(t)))
                    .fold((0.0, 0.0), |acc, x| (acc.0 + x.0, acc.1 + x.1));
                placebo[k].push(if den > 0.0 { num / den } else { 0.0 });
            }
        }
        if pre_err.len() < 2 {
            return vec![None; s.durations.len()];
        }
        let share = set.iter().map(|&m| y[m].iter().sum::<f64>()).sum::<f64>() / total;
        let level: f64 = set.iter().map(|&m| y[m].iter().sum::<f64>() / t_len as f64).sum();
        s.durations
            .iter()
            .enumerate()
            .map(|(k, &d)| {
                let e = &placebo[k];
                let rmse = (e.iter().map(|v| v * v).sum::<f64>() / e.len() as f64).sqrt();
                let bias = e.iter().sum::<f64>() / e.len() as f64;
                let mde = (za + zp) * rmse;
                let cost = s.cost_per_market_period.map(|c| c * set.len() as f64 * d as f64);
                if let (Some(c), Some(b)) = (cost, s.budget) {
                    if c > b {
                        return None;
                    }
                }
                let power = s.effect.map(|l| {
                    let x = l.abs() / rmse.max(1e-300);
                    z.cdf(x - za) + z.cdf(-x - za)
                });
                let sign = if s.kind == TestKind::Holdout { -1.0 } else { 1.0 };
                Some(Candidate {
                    markets: set.iter().map(|&m| markets[m].clone()).collect(),
                    duration: d,
                    mde: sign * mde,
                    mde_absolute: sign * mde * level,
                    power,
                    placebo_rmse: rmse,
                    placebo_bias: bias,
                    pre_rmspe: pre_err.iter().sum::<f64>() / pre_err.len() as f64,
                    share_of_outcome: share,
                    cost,
                })
            })
            .collect()
    };
    // Every candidate set on all cores; one that panics fails the design (never a silently
    // smaller search).
    let results: Vec<Vec<Option<Candidate>>> = crate::parallel::map(&sets, eval)
        .map_err(|e| GeoError { field: "panel".into(), message: format!("a candidate evaluation failed ({e})") })?;
    let mut by_duration: Vec<Vec<Candidate>> = vec![Vec::new(); s.durations.len()];
    for r in results {
        for (k, c) in r.into_iter().enumerate() {
            if let Some(c) = c {
                by_duration[k].push(c);
            }
        }
    }
    for list in by_duration.iter_mut() {
        list.sort_by(|a, b| a.mde.abs().total_cmp(&b.mde.abs()).then(a.markets.len().cmp(&b.markets.len())));
        list.truncate(s.top.max(1));
    }
    let recommended = by_duration
        .iter()
        .filter_map(|l| l.first())
        .min_by(|a, b| a.mde.abs().total_cmp(&b.mde.abs()).then(a.duration.cmp(&b.duration)))
        .cloned();
    Ok(GeoDesign {
        method: "synthetic-control replay of historical windows (GeoLift-style market selection)".into(),
        kind: s.kind,
        alpha: s.alpha,
        power: s.power,
        candidates_evaluated: sets.len() * s.durations.len(),
        synthetic_control_fits: sets.len() * starts.len(),
        by_duration,
        recommended,
    })
}

/// The post-test readout with the same method: the relative lift of `treated` (pooled) over
/// `duration` periods from `start`, against a synthetic control fitted on up to `pre_periods`
/// periods before it (each market divided by its mean over the pre-period).
pub fn lift_estimate(
    panel: &GeoPanel,
    treated: &[String],
    start: i64,
    duration: usize,
    pre_periods: usize,
) -> Result<f64, GeoError> {
    let Wide { markets, times, y } = pivot(panel)?;
    let mi: HashMap<&str, usize> = markets.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let st = times.iter().position(|t| *t == start).ok_or_else(|| invalid("start", "is not a period of the panel"))?;
    if st < 2 || st + duration > times.len() {
        return Err(invalid("start", "leaves no pre-period or runs past the data"));
    }
    let set: Vec<usize> = treated
        .iter()
        .map(|m| mi.get(m.as_str()).copied().ok_or_else(|| invalid("treated", format!("{m:?} is not a market"))))
        .collect::<Result<_, _>>()?;
    let p0 = st.saturating_sub(pre_periods);
    let scaled: Vec<Vec<f64>> = y
        .iter()
        .map(|row| {
            let m = row[p0..st].iter().sum::<f64>() / (st - p0) as f64;
            row.iter().map(|v| if m > 0.0 { v / m } else { 0.0 }).collect()
        })
        .collect();
    let donors: Vec<usize> = (0..markets.len()).filter(|m| !set.contains(m)).collect();
    let treated_s: Vec<f64> =
        (0..times.len()).map(|t| set.iter().map(|&m| scaled[m][t]).sum::<f64>() / set.len() as f64).collect();
    let a: Vec<Vec<f64>> = donors.iter().map(|&d| scaled[d][p0..st].to_vec()).collect();
    let (w, _) = (SimplexLs { a: &a, b: &treated_s[p0..st] })
        .solve(None)
        .ok_or_else(|| invalid("panel", "the synthetic control could not be fitted"))?;
    let synth = |t: usize| donors.iter().zip(&w).map(|(&d, wi)| scaled[d][t] * wi).sum::<f64>();
    let (num, den) = (st..st + duration)
        .map(|t| (treated_s[t] - synth(t), synth(t)))
        .fold((0.0, 0.0), |a, x| (a.0 + x.0, a.1 + x.1));
    Ok(if den > 0.0 { num / den } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// 16 markets, 3 latent factors, weekly noise; `lift` added to `treated` from `from`.
    fn panel(rng: &mut Rng, periods: usize, treated: &[usize], from: usize, lift: f64) -> GeoPanel {
        let k = 16;
        let load: Vec<[f64; 3]> = (0..k).map(|_| [rng.uniform(), rng.uniform(), rng.uniform()]).collect();
        let size: Vec<f64> = (0..k).map(|_| 50.0 + 200.0 * rng.uniform()).collect();
        let mut f = vec![[0.0f64; 3]; periods];
        for t in 1..periods {
            let prev = f[t - 1];
            for (j, x) in f[t].iter_mut().enumerate() {
                *x = 0.8 * prev[j] + 0.3 * rng.normal();
            }
        }
        let (mut market, mut time, mut outcome) = (Vec::new(), Vec::new(), Vec::new());
        for m in 0..k {
            for (t, ft) in f.iter().enumerate() {
                let season = 1.0 + 0.1 * (t as f64 * std::f64::consts::TAU / 52.0).sin();
                let mut v = size[m]
                    * season
                    * (1.0 + 0.15 * (0..3).map(|j| load[m][j] * ft[j]).sum::<f64>())
                    * (1.0 + 0.02 * rng.normal());
                if treated.contains(&m) && t >= from {
                    v *= 1.0 + lift;
                }
                market.push(format!("m{m:02}"));
                time.push(t as i64);
                outcome.push(v.max(0.0));
            }
        }
        GeoPanel { market, time, outcome: outcome.into() }
    }

    fn settings() -> GeoSettings {
        GeoSettings {
            durations: vec![4],
            max_markets: 2,
            include: vec!["m00".into(), "m01".into()],
            exclude: vec![],
            alpha: 0.1,
            power: 0.8,
            effect: None,
            windows: 12,
            pre_periods: 40,
            kind: TestKind::Increase,
            cost_per_market_period: None,
            budget: None,
            top: 5,
        }
    }

    /// The MDE is calibrated: on fresh data from the same process, a test of the chosen markets
    /// rejects about alpha of the time with no lift and about `power` of the time with a lift
    /// equal to the MDE.
    #[test]
    fn mde_is_calibrated_by_simulation() {
        let mut rng = Rng::new(11);
        let (hist, d) = (100usize, 4usize);
        let (mut rej0, mut rej1, reps) = (0, 0, 150);
        let z = Normal::standard().inverse_cdf(0.95);
        for _ in 0..reps {
            for (lift_is_mde, counter) in [(false, &mut rej0), (true, &mut rej1)] {
                // Design on the history, then run the test on the next `d` periods.
                let base = panel(&mut rng.clone(), hist + d, &[], 0, 0.0);
                let keep: Vec<usize> = (0..base.time.len()).filter(|&i| base.time[i] < hist as i64).collect();
                let past = GeoPanel {
                    market: keep.iter().map(|&i| base.market[i].clone()).collect(),
                    time: keep.iter().map(|&i| base.time[i]).collect(),
                    outcome: keep.iter().map(|&i| base.outcome[i]).collect(),
                };
                let g = design(&past, &settings()).unwrap();
                let c = &g.by_duration[0][0];
                assert_eq!(c.markets, vec!["m00", "m01"]);
                let lift = if lift_is_mde { c.mde } else { 0.0 };
                let live = panel(&mut rng.clone(), hist + d, &[0, 1], hist, lift);
                let est = lift_estimate(&live, &c.markets, hist as i64, d, 40).unwrap();
                if est.abs() > z * c.placebo_rmse {
                    *counter += 1;
                }
                rng.next_u64();
            }
        }
        let (size, power) = (rej0 as f64 / reps as f64, rej1 as f64 / reps as f64);
        eprintln!("size {size:.3} (nominal 0.10), power {power:.3} (nominal 0.80)");
        assert!((0.02..=0.2).contains(&size), "size {size}");
        assert!((0.6..=0.95).contains(&power), "power {power}");
    }

    #[test]
    fn candidates_respect_include_exclude_budget_and_rank() {
        let mut rng = Rng::new(3);
        let p = panel(&mut rng, 90, &[], 0, 0.0);
        let s = GeoSettings {
            durations: vec![2, 4, 6],
            max_markets: 3,
            include: vec!["m03".into()],
            exclude: vec!["m05".into()],
            effect: Some(0.1),
            cost_per_market_period: Some(1000.0),
            budget: Some(12_000.0),
            windows: 6,
            ..settings()
        };
        let g = design(&p, &s).unwrap();
        // Sets with m03, without m05, of 1..3 markets: 1 + 14 + C(14,2) = 106.
        assert_eq!(g.candidates_evaluated, 106 * 3);
        for (k, list) in g.by_duration.iter().enumerate() {
            assert!(!list.is_empty());
            for c in list {
                assert!(c.markets.contains(&"m03".to_string()) && !c.markets.contains(&"m05".to_string()));
                assert_eq!(c.duration, s.durations[k]);
                assert!(c.cost.unwrap() <= 12_000.0);
                assert!(c.mde > 0.0 && c.power.unwrap() > 0.0);
            }
            assert!(list.windows(2).all(|w| w[0].mde.abs() <= w[1].mde.abs()));
        }
        // 6-period tests of 3 markets cost 18,000 > budget: none of them.
        assert!(g.by_duration[2].iter().all(|c| c.markets.len() <= 2));
        let holdout = design(&p, &GeoSettings { kind: TestKind::Holdout, ..s.clone() }).unwrap();
        assert!(holdout.recommended.unwrap().mde < 0.0);
        assert_eq!(
            design(&p, &GeoSettings { include: vec!["nowhere".into()], ..s.clone() }).unwrap_err().field,
            "include"
        );
        assert_eq!(design(&p, &GeoSettings { durations: vec![], ..s }).unwrap_err().field, "durations");
    }
}
