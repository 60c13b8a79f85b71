//! Geo experiment design (the GeoLift approach): choose the treatment markets and the duration
//! from historical data by simulating the test with synthetic control.
//!
//! For every candidate set of markets (up to `max_markets`, containing every market the user
//! must include, none they excluded) and every duration, the test is replayed on `windows`
//! historical periods where nothing happened: the pooled treated markets are fitted by a
//! synthetic control (simplex weights over the other markets, exact least squares on the
//! pre-period, each market's series divided by its own mean so markets of any size compare),
//! and the relative gap over the window is a placebo effect. The older half of the windows
//! select (their placebo RMSE ranks the candidates) and the recent half evaluate (their RMSE is
//! the reported noise of the chosen design): picking the best of thousands of candidates on the
//! same windows that measure its noise would understate it (the winner's curse), and so would
//! windows next to the ones that chose, through the noise's autocorrelation (alternating
//! windows let a second arm chosen from 105 sets reject 23% of true nulls at 10%). The
//! minimum detectable effect is (t_{1-α/2} + t_{power}) times the evaluation RMSE with as many
//! degrees of freedom as evaluation windows (the readout's test divides by that estimated noise,
//! so its statistic is t-distributed), and the power against a given lift follows from the
//! same t approximation. The same
//! holds for spend-cut (holdout) tests, whose effect is a loss. Candidates are ranked by their
//! MDE; the test's cost (markets x periods x the cost per market-period) can be capped.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::{BTreeSet, HashMap};

use crate::synth::simplex::SimplexLs;

use crate::error::{invalid, FieldError};

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
    /// A lift to compute the power against (relative, e.g. 0.05 for +5%; the steady-state lift
    /// when `carryover` is given).
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
    /// Cost per unit of a market's average outcome per period: a market's cost proportional to
    /// its size (media bought in proportion to the market); added to the flat cost.
    #[serde(default)]
    pub cost_per_outcome: Option<f64>,
    #[serde(default)]
    pub budget: Option<f64>,
    /// How many candidates to return per duration.
    #[serde(default = "top")]
    pub top: usize,
    /// The channel's carry-over θ (geometric adstock, 0 <= θ < 1; a media mix model's fitted
    /// `adstock`). The test's lift then builds up as the adstock does: in its k-th period
    /// (k = 0, 1, ...) it is 1 − θ^(k+1) of the steady state, so a window of d periods realises
    /// the mean of those shares; `effect` is read as the steady-state lift, and each candidate
    /// gives `realized_share` and `mde_steady_state`. Linear in the adstock: with a saturating
    /// response a holdout realises a little less and an increase a little more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carryover: Option<f64>,
    /// Treatment arms sharing one control pool (a multi-cell test, as GeoLift's): with 2 or more,
    /// `multi_cell` gives per duration the best set of disjoint test-market sets, each read
    /// against the markets in no arm. `include` applies to the first arm.
    #[serde(default = "one")]
    pub cells: usize,
}

fn one() -> usize {
    1
}

/// At most this many arms in a multi-cell design, and the first arm's best candidates each
/// searched on.
pub const MAX_CELLS: usize = 5;
pub const CELL_BEAM: usize = 3;

/// The share of the steady-state lift a window of `periods` periods realises under carry-over
/// θ: the mean over the window of 1 − θ^(k+1).
pub fn realized_share(theta: f64, periods: usize) -> f64 {
    if periods == 0 {
        return 0.0;
    }
    1.0 - (1..=periods).map(|k| theta.powi(k as i32)).sum::<f64>() / periods as f64
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

impl GeoPanel {
    /// The rows whose market and period `keep` accepts.
    pub fn filter(&self, keep: impl Fn(&str, i64) -> bool) -> GeoPanel {
        let rows: Vec<usize> = (0..self.market.len()).filter(|&i| keep(&self.market[i], self.time[i])).collect();
        GeoPanel {
            market: rows.iter().map(|&i| self.market[i].clone()).collect(),
            time: rows.iter().map(|&i| self.time[i]).collect(),
            outcome: rows.iter().map(|&i| self.outcome[i]).collect(),
        }
    }
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
    /// Root mean square of the placebo effects on the evaluation windows (the estimate's noise,
    /// measured on windows the candidate was not chosen on), their mean (bias), and how many.
    pub placebo_rmse: f64,
    pub placebo_bias: f64,
    pub evaluation_windows: usize,
    /// The same on the selection windows, which ranked the candidates (optimistic for the
    /// winner: picking the best of many on them understates its noise).
    pub selection_rmse: f64,
    /// Pre-period fit of the replays (relative RMSPE).
    pub pre_rmspe: f64,
    /// The test markets' share of the total outcome.
    pub share_of_outcome: f64,
    /// With `carryover`: the share of the steady-state lift the window realises, and the
    /// steady-state lift detectable (`mde` / `realized_share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realized_share: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mde_steady_state: Option<f64>,
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
    /// Best candidates per duration, ranked by their noise on the selection windows
    /// (`selection_rmse`, smallest first); each one's `mde` comes from the evaluation windows,
    /// which did not rank it, so the list need not be in order of `mde`.
    pub by_duration: Vec<Vec<Candidate>>,
    /// The best candidate overall: the first of a duration with the smallest MDE on the
    /// selection windows, then the shortest.
    pub recommended: Option<Candidate>,
    /// With `cells` of 2 or more: per duration, the best multi-cell design found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub multi_cell: Vec<MultiCell>,
}

/// Several arms at once, their markets disjoint, each read out against the markets in no arm
/// (the shared control pool): every arm's numbers are its own replays with that pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MultiCell {
    pub duration: usize,
    pub cells: Vec<Candidate>,
    /// The control pool every arm is read against.
    pub control_markets: Vec<String>,
    /// The largest of the arms' MDEs (the test is as good as its weakest arm).
    pub mde: f64,
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

fn pivot(panel: &GeoPanel) -> Result<Wide, FieldError> {
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

pub fn design(panel: &GeoPanel, s: &GeoSettings) -> Result<GeoDesign, FieldError> {
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
    if [s.cost_per_market_period, s.cost_per_outcome, s.budget].iter().flatten().any(|c| !(c.is_finite() && *c >= 0.0))
    {
        return Err(invalid("cost_per_outcome", "costs and the budget must be non-negative numbers"));
    }
    if s.carryover.is_some_and(|t| !(0.0..0.995).contains(&t)) {
        return Err(invalid("carryover", "must be at least 0 and below 1 (a geometric adstock's θ)"));
    }
    if s.windows < 6 {
        return Err(invalid(
            "windows",
            "needs at least 6 replays: half select the markets, half measure the chosen design's noise",
        ));
    }
    let dmax = *s.durations.iter().max().unwrap_or(&1);
    let t_len = times.len();
    let pre = s.pre_periods.max(4);
    if dmax > t_len || s.windows > t_len || t_len < dmax + s.windows + 8 {
        // the longest test, one period more per further replay, and 8 periods to fit before
        let longest = t_len.saturating_sub(s.windows + 8);
        let way_out = if longest > 0 {
            format!("durations of at most {longest} periods, or fewer windows")
        } else {
            "a longer history, or fewer windows".to_string()
        };
        return Err(invalid(
            "durations",
            format!(
                "a {dmax}-period test replayed on {} windows needs {} periods of history (the test, at least one more for each further window, 8 to fit before the first), but the panel has {t_len}: {way_out}",
                s.windows,
                dmax + s.windows + 8
            ),
        ));
    }
    let idx = |name: &str, field: &str| -> Result<usize, FieldError> {
        mi.get(name)
            .copied()
            .ok_or_else(|| invalid(field, crate::panel::not_among(name, "a market of the panel", &markets)))
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
    // may overlap when the history is short); the recent half evaluates, the older half selects.
    let step = ((t_len - dmax - 8) / s.windows).clamp(1, dmax);
    let starts: Vec<usize> = (0..s.windows).map(|w| t_len - dmax - w * step).filter(|&st| st >= 8).collect();
    let n_eval = starts.len() / 2;
    let df = n_eval as f64;
    let tdist = StudentsT::new(0.0, 1.0, df.max(1.0)).map_err(|e| invalid("windows", e.to_string()))?;
    let (ta, tp) = (tdist.inverse_cdf(1.0 - s.alpha / 2.0), tdist.inverse_cdf(s.power));
    let pool: Vec<usize> = (0..markets.len()).filter(|m| !banned.contains(m)).collect();
    let sets = subsets(&pool, &must, s.max_markets);
    // Evaluate candidates on all cores.
    if s.cells == 0 || s.cells > MAX_CELLS {
        return Err(invalid("cells", format!("must be between 1 and {MAX_CELLS}")));
    }
    if s.cells > 1 && markets.len() < s.cells + 2 {
        return Err(invalid("cells", "needs a market per arm and at least two control markets"));
    }
    // A candidate set read against `donors` (the markets in no arm).
    let eval_with = |set: &[usize], donors: &[usize]| -> Vec<Option<Candidate>> {
        let treated: Vec<f64> =
            (0..t_len).map(|t| set.iter().map(|&m| scaled[m][t]).sum::<f64>() / set.len() as f64).collect();
        // Per duration, the placebo effects of the selection and of the evaluation windows.
        let mut placebo: Vec<[Vec<f64>; 2]> = vec![[Vec::new(), Vec::new()]; s.durations.len()];
        let mut pre_err = Vec::new();
        for (wi, &st) in starts.iter().enumerate() {
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
                placebo[k][usize::from(wi < n_eval)].push(if den > 0.0 { num / den } else { 0.0 });
            }
        }
        if placebo.iter().any(|p| p[0].is_empty() || p[1].len() < 2) {
            return vec![None; s.durations.len()];
        }
        let share = set.iter().map(|&m| y[m].iter().sum::<f64>()).sum::<f64>() / total;
        let level: f64 = set.iter().map(|&m| y[m].iter().sum::<f64>() / t_len as f64).sum();
        let rms = |e: &[f64]| (e.iter().map(|v| v * v).sum::<f64>() / e.len() as f64).sqrt();
        s.durations
            .iter()
            .enumerate()
            .map(|(k, &d)| {
                let [sel, ev] = &placebo[k];
                let rmse = rms(ev);
                let bias = ev.iter().sum::<f64>() / ev.len() as f64;
                let mde = (ta + tp) * rmse;
                let flat = s.cost_per_market_period.map(|c| c * set.len() as f64 * d as f64);
                let sized = s.cost_per_outcome.map(|c| c * level * d as f64);
                let cost = match (flat, sized) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
                };
                if let (Some(c), Some(b)) = (cost, s.budget) {
                    if c > b {
                        return None;
                    }
                }
                let realized = s.carryover.map(|t| realized_share(t, d));
                let power = s.effect.map(|l| {
                    let x = l.abs() * realized.unwrap_or(1.0) / rmse.max(1e-300);
                    tdist.cdf(x - ta) + tdist.cdf(-x - ta)
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
                    evaluation_windows: ev.len(),
                    selection_rmse: rms(sel),
                    pre_rmspe: pre_err.iter().sum::<f64>() / pre_err.len() as f64,
                    share_of_outcome: share,
                    realized_share: realized,
                    mde_steady_state: realized.map(|r| sign * mde / r.max(1e-12)),
                    cost,
                })
            })
            .collect()
    };
    let eval = |set: &Vec<usize>| -> Vec<Option<Candidate>> {
        let donors: Vec<usize> = (0..markets.len()).filter(|m| !set.contains(m)).collect();
        eval_with(set, &donors)
    };
    let failed = |e: crate::parallel::WorkerPanicked| FieldError {
        field: "panel".into(),
        message: format!("a candidate evaluation failed ({e})"),
    };
    // Every candidate set on all cores; one that panics fails the design (never a silently
    // smaller search).
    let results: Vec<Vec<Option<Candidate>>> = crate::parallel::map(&sets, eval).map_err(failed)?;
    let mut by_duration: Vec<Vec<Candidate>> = vec![Vec::new(); s.durations.len()];
    for r in results {
        for (k, c) in r.into_iter().enumerate() {
            if let Some(c) = c {
                by_duration[k].push(c);
            }
        }
    }
    // Ranked on the selection windows only.
    for list in by_duration.iter_mut() {
        list.sort_by(|a, b| a.selection_rmse.total_cmp(&b.selection_rmse).then(a.markets.len().cmp(&b.markets.len())));
        list.truncate(s.top.max(1));
    }
    let recommended = by_duration
        .iter()
        .filter_map(|l| l.first())
        .min_by(|a, b| {
            let sel = |c: &Candidate| (ta + tp) * c.selection_rmse;
            sel(a).total_cmp(&sel(b)).then(a.duration.cmp(&b.duration))
        })
        .cloned();
    // Multi-cell: from each of the first arm's best candidates, each further arm is the best set
    // of the markets left (read against the markets in no arm so far); every arm is then read
    // again against the final pool, and the design with the smallest worst arm wins.
    let mut multi_cell = Vec::new();
    if s.cells > 1 {
        let index = |c: &Candidate| -> Vec<usize> { c.markets.iter().map(|m| mi[m.as_str()]).collect() };
        for (k, list) in by_duration.iter().enumerate() {
            let mut best: Option<MultiCell> = None;
            for first in list.iter().take(CELL_BEAM) {
                let mut arms: Vec<Vec<usize>> = vec![index(first)];
                for _ in 1..s.cells {
                    let used: Vec<usize> = arms.concat();
                    let free: Vec<usize> = pool.iter().copied().filter(|m| !used.contains(m)).collect();
                    let options: Vec<Vec<usize>> = subsets(&free, &[], s.max_markets)
                        .into_iter()
                        .filter(|set| (0..markets.len()).filter(|m| !used.contains(m) && !set.contains(m)).count() >= 2)
                        .collect();
                    let scored = crate::parallel::map(&options, |set: &Vec<usize>| {
                        let donors: Vec<usize> =
                            (0..markets.len()).filter(|m| !used.contains(m) && !set.contains(m)).collect();
                        eval_with(set, &donors).swap_remove(k)
                    })
                    .map_err(failed)?;
                    let Some((set, _)) = options
                        .iter()
                        .zip(scored)
                        .filter_map(|(o, c)| c.map(|c| (o, c)))
                        .min_by(|a, b| a.1.selection_rmse.total_cmp(&b.1.selection_rmse))
                    else {
                        break;
                    };
                    arms.push(set.clone());
                }
                if arms.len() < s.cells {
                    continue;
                }
                let used: Vec<usize> = arms.concat();
                let pool_left: Vec<usize> = (0..markets.len()).filter(|m| !used.contains(m)).collect();
                let cells: Option<Vec<Candidate>> =
                    arms.iter().map(|a| eval_with(a, &pool_left).swap_remove(k)).collect();
                let Some(cells) = cells else { continue };
                let worst_selection = cells.iter().map(|c| c.selection_rmse).fold(0.0, f64::max);
                let better = best
                    .as_ref()
                    .is_none_or(|b| worst_selection < b.cells.iter().map(|c| c.selection_rmse).fold(0.0, f64::max));
                if better {
                    best = Some(MultiCell {
                        duration: s.durations[k],
                        mde: cells.iter().map(|c| c.mde).fold(0.0, |a, m| if m.abs() > a.abs() { m } else { a }),
                        control_markets: pool_left.iter().map(|&m| markets[m].clone()).collect(),
                        cells,
                    });
                }
            }
            multi_cell.extend(best);
        }
    }
    Ok(GeoDesign {
        multi_cell,
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

/// How a geo test is read out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReadoutSettings {
    /// Pre-period length used to fit the synthetic control (at most), as in the design.
    #[serde(default = "pre_periods")]
    pub pre_periods: usize,
    /// Historical windows (before the test) replayed to measure the estimate's noise.
    #[serde(default = "windows")]
    pub windows: usize,
    #[serde(default = "alpha")]
    pub alpha: f64,
    /// The design's noise for these markets and this duration (its candidate's `placebo_rmse`
    /// and `evaluation_windows`): when the markets were chosen on this history, replays of it
    /// understate the noise (the winner's curse), and the design's evaluation windows do not.
    #[serde(default)]
    pub design_noise: Option<DesignNoise>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DesignNoise {
    pub placebo_rmse: f64,
    pub evaluation_windows: usize,
}

impl Default for ReadoutSettings {
    fn default() -> Self {
        Self { pre_periods: pre_periods(), windows: windows(), alpha: alpha(), design_noise: None }
    }
}

/// Where a geo readout's noise (its standard error) comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum NoiseSource {
    /// The design's placebo lifts over its evaluation windows, which the markets were not
    /// chosen on.
    #[default]
    Design,
    /// Replays of the test on the history before it, which understate the noise when the
    /// markets were chosen on that same history.
    Replays,
}

/// A geo test's readout: the relative lift of the pooled test markets over their synthetic
/// control (each market divided by its pre-period mean, as the design scales them), its noise
/// from replays of the same test on windows before it, and conformal inference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GeoReadout {
    pub method: String,
    pub markets: Vec<String>,
    pub start: i64,
    pub duration: usize,
    /// The relative lift: (test markets - synthetic) / synthetic, summed over the test.
    pub lift: f64,
    /// The same in outcome units per period across the test markets.
    pub lift_absolute: f64,
    /// The root mean square of the placebo lifts of `windows` replays before the test, with as
    /// many degrees of freedom; the t interval and p-value at 1 - alpha.
    pub std_error: f64,
    pub df: usize,
    /// Where `std_error` comes from.
    pub noise_source: NoiseSource,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    /// Conformal inference (Chernozhukov, Wüthrich and Zhu 2021, moving blocks, as GeoLift reads
    /// out with augsynth) for a constant lift, mapped to the relative scale; an end absent when
    /// unbounded.
    pub conformal_p_value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformal_ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformal_ci_high: Option<f64>,
    pub level: f64,
    /// Pre-period fit of the test's synthetic control (relative RMSPE).
    pub pre_rmspe: f64,
}

/// The relative lift of `set` over [st, st + d) against a synthetic control fitted on
/// [p0, st), and the pre-period relative RMSPE.
fn relative_lift(scaled: &[Vec<f64>], set: &[usize], p0: usize, st: usize, d: usize) -> Option<(f64, f64, f64)> {
    let donors: Vec<usize> = (0..scaled.len()).filter(|m| !set.contains(m)).collect();
    let treated: Vec<f64> =
        (0..st + d).map(|t| set.iter().map(|&m| scaled[m][t]).sum::<f64>() / set.len() as f64).collect();
    let a: Vec<Vec<f64>> = donors.iter().map(|&m| scaled[m][p0..st].to_vec()).collect();
    let (w, _) = (SimplexLs { a: &a, b: &treated[p0..st] }).solve(None)?;
    let synth = |t: usize| donors.iter().zip(&w).map(|(&m, wi)| scaled[m][t] * wi).sum::<f64>();
    let rmspe = ((p0..st).map(|t| (treated[t] - synth(t)).powi(2)).sum::<f64>() / (st - p0) as f64).sqrt();
    let (num, den) =
        (st..st + d).map(|t| (treated[t] - synth(t), synth(t))).fold((0.0, 0.0), |a, x| (a.0 + x.0, a.1 + x.1));
    Some((if den > 0.0 { num / den } else { 0.0 }, den, rmspe))
}

/// The post-test readout with the design's method: the relative lift of `treated` (pooled) over
/// `duration` periods from `start`, against a synthetic control fitted on up to `pre_periods`
/// periods before it (each market divided by its mean over that pre-period); its standard
/// error from `windows` replays of the same test in the history before it (t with that many
/// degrees of freedom, as the design's MDE assumes); and conformal inference on the same fit.
pub fn readout(
    panel: &GeoPanel,
    treated: &[String],
    start: i64,
    duration: usize,
    s: &ReadoutSettings,
) -> Result<GeoReadout, FieldError> {
    let Wide { markets, times, y } = pivot(panel)?;
    let mi: HashMap<&str, usize> = markets.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let (first, last) = (times.first().copied().unwrap_or_default(), times.last().copied().unwrap_or_default());
    let st = times.iter().position(|t| *t == start).ok_or_else(|| {
        invalid("start", format!("{start} is not a period of the panel, whose periods run from {first} to {last}"))
    })?;
    if duration == 0 {
        return Err(invalid("duration", "must be at least 1 period"));
    }
    if duration > times.len() - st {
        return Err(invalid(
            "duration",
            format!(
                "a {duration}-period test from period {start} needs {duration} periods from it, but the panel has {} (it ends at period {last})",
                times.len() - st
            ),
        ));
    }
    if !(s.alpha > 0.0 && s.alpha < 0.5) {
        return Err(invalid("alpha", "must be between 0 and 0.5"));
    }
    if s.windows < 2 {
        return Err(invalid("windows", "needs at least 2 replays"));
    }
    if treated.is_empty() {
        return Err(invalid("treated", "name at least one test market"));
    }
    let set: Vec<usize> = treated
        .iter()
        .map(|m| {
            mi.get(m.as_str())
                .copied()
                .ok_or_else(|| invalid("treated", crate::panel::not_among(m, "a market", &markets)))
        })
        .collect::<Result<_, _>>()?;
    if markets.len() < set.len() + 2 {
        return Err(invalid("treated", "leaves fewer than two control markets"));
    }
    let pre = s.pre_periods.max(4);
    let p0 = st.saturating_sub(pre);
    if st - p0 < 4 {
        return Err(invalid("start", "leaves fewer than four pre-periods"));
    }
    let scaled: Vec<Vec<f64>> = y
        .iter()
        .map(|row| {
            let m = row[p0..st].iter().sum::<f64>() / (st - p0) as f64;
            row.iter().map(|v| if m > 0.0 { v / m } else { 0.0 }).collect()
        })
        .collect();
    let (lift, synth_sum, pre_rmspe) = relative_lift(&scaled, &set, p0, st, duration)
        .ok_or_else(|| invalid("panel", "the synthetic control could not be fitted"))?;
    // Replays ending before the test, stepping back by the duration.
    let mut placebo = Vec::new();
    for w in 0..s.windows {
        let Some(ws) = st.checked_sub(duration * (w + 1)) else { break };
        let wp0 = ws.saturating_sub(pre);
        if ws - wp0 < 4 {
            break;
        }
        if let Some((l, _, _)) = relative_lift(&scaled, &set, wp0, ws, duration) {
            placebo.push(l);
        }
    }
    let (se, df, noise_source) = match s.design_noise {
        Some(n) if n.placebo_rmse.is_finite() && n.placebo_rmse > 0.0 && n.evaluation_windows >= 2 => {
            (n.placebo_rmse, n.evaluation_windows, NoiseSource::Design)
        }
        Some(_) => {
            return Err(invalid("design_noise", "needs a positive placebo_rmse and at least 2 evaluation_windows"))
        }
        None => {
            if placebo.len() < 2 {
                return Err(invalid(
                    "start",
                    format!(
                        "the history before {start} holds {} replay(s) of a {duration}-period test (each {duration} periods with at least 4 before it); at least 2 are needed: a shorter test, more history before it, or the design's noise (design_rmse and design_windows)",
                        placebo.len()
                    ),
                ));
            }
            let df = placebo.len();
            let se = (placebo.iter().map(|v| v * v).sum::<f64>() / df as f64).sqrt();
            if !(se > 0.0 && se.is_finite()) {
                return Err(invalid(
                    "windows",
                    "the replays before the test show no variation, so the lift has no standard error: give the design's noise",
                ));
            }
            (se, df, NoiseSource::Replays)
        }
    };
    let tdist = StudentsT::new(0.0, 1.0, df as f64).map_err(|e| invalid("windows", e.to_string()))?;
    let tc = tdist.inverse_cdf(1.0 - s.alpha / 2.0);
    let p_value = if se > 0.0 { 2.0 * (1.0 - tdist.cdf((lift / se).abs())) } else { f64::NAN };
    // Conformal inference on the same scaled panel (outcomes with V = I, as the fit above).
    let keep: Vec<usize> = (p0..st + duration).collect();
    let mut unit = Vec::new();
    let mut time = Vec::new();
    let mut vals = Vec::new();
    for (m, name) in markets.iter().enumerate() {
        for &t in &keep {
            unit.push(name.clone());
            time.push(times[t]);
            vals.push(scaled[m][t]);
        }
    }
    let input = crate::synth::SynthInput {
        unit,
        time,
        outcome: "y".into(),
        columns: HashMap::from([("y".to_string(), ndarray::Array1::from(vals))]),
        treated_units: treated.to_vec(),
        treatment_time: start,
    };
    let sc = crate::synth::fit(
        &input,
        &crate::synth::SynthSettings {
            v: Some(vec![1.0; st - p0]),
            conformal: true,
            alpha: s.alpha,
            ..crate::synth::SynthSettings::default()
        },
    )
    .map_err(|e| invalid("panel", format!("conformal inference: {e}")))?;
    // A constant additive gap h on the scaled series is a relative lift h x duration / the
    // synthetic's sum.
    let to_rel = |h: f64| if synth_sum > 0.0 { h * duration as f64 / synth_sum } else { f64::NAN };
    let level: f64 = set.iter().map(|&m| y[m][p0..st].iter().sum::<f64>() / (st - p0) as f64).sum();
    Ok(GeoReadout {
        method: "synthetic control on markets scaled by their pre-period mean (GeoLift-style readout)".into(),
        markets: set.iter().map(|&m| markets[m].clone()).collect(),
        start,
        duration,
        lift,
        lift_absolute: lift * level * synth_sum / duration as f64,
        std_error: se,
        df,
        noise_source,
        ci_low: lift - tc * se,
        ci_high: lift + tc * se,
        p_value,
        conformal_p_value: sc.conformal_p_value.unwrap_or(f64::NAN),
        conformal_ci_low: sc.conformal_ci_low.map(to_rel),
        conformal_ci_high: sc.conformal_ci_high.map(to_rel),
        level: 1.0 - s.alpha,
        pre_rmspe,
    })
}
