//! The knowledge engine's "embeddings", named for what they are: fixed-length feature vectors
//! computed from the estimators' results, not learned representations.
//!
//! - **Lag profile** of a channel (temporal): the distributed-lag weights of the outcome on spend
//!   at lags 0..=7 (OLS within campaign, weekday controls), scaled to sum to one, with the
//!   adstock θ whose geometric decay (1-θ)θ^k fits them best.
//! - **Event profile** of an intervention (temporal): its event study's coefficients at event
//!   times -4..=7 divided by the largest post-period |coefficient|: the shape of the effect
//!   (a step, a ramp, a pulse that decays) whatever its size.
//! - **Effect profile** (effect): an intervention's signed effects on spend, conversions and
//!   revenue as z-statistics (clipped to ±10, over 10) and its grade; a channel's elasticities.
//! - **Context vector** of a campaign (context): its pre-period level, spread and trend of log
//!   spend and log conversions, and its cost per conversion: neighbours are candidate controls.
//! - **Record context vector** of one campaign-day (record): its treatment, its exposure to
//!   detected confounders, its quality score and its log metrics; neighbours are the untreated
//!   campaign-days of the same platform and date, each component scaled by its spread over them:
//!   comparable campaign-days as candidate controls. Computed from the stored records when asked,
//!   never kept in the snapshot (one per campaign-day).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const LAGS: usize = 7;
pub const EVENT_LEADS: i64 = 4;
pub const EVENT_LAGS: i64 = 7;

crate::names! {
    /// Which vector.
    pub enum ProfileKind { Effect = "effect", Temporal = "temporal", Context = "context", Record = "record" }
    expected "effect, temporal, context or record"
}

/// One vector of a node, with the name of each component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Profile {
    pub components: Vec<String>,
    pub values: Vec<f64>,
    /// What was estimated alongside (the adstock θ of a lag profile).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fitted: BTreeMap<String, f64>,
}

impl Profile {
    pub fn distance(&self, other: &Profile) -> Option<f64> {
        (self.components == other.components)
            .then(|| self.values.iter().zip(&other.values).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt())
    }
}

/// One campaign's days, in any order.
#[derive(Debug, Clone, Default)]
pub struct CampaignDays {
    pub campaign: Vec<String>,
    /// Day numbers.
    pub day: Vec<i64>,
    pub spend: Vec<f64>,
    pub outcome: Vec<f64>,
}

/// The lag profile of spend on the outcome; None with too few complete rows or no positive
/// total effect to scale by.
pub fn lag_profile(d: &CampaignDays) -> Option<Profile> {
    use liftos_estimators::linalg;
    // Rows with all lags present, by campaign.
    let mut by: BTreeMap<&str, BTreeMap<i64, (f64, f64)>> = BTreeMap::new();
    for i in 0..d.day.len() {
        by.entry(d.campaign[i].as_str()).or_default().insert(d.day[i], (d.spend[i], d.outcome[i]));
    }
    let k = LAGS + 1 + 6;
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut y = Vec::new();
    let mut groups = 0usize;
    for days in by.values() {
        let start = y.len();
        for (&t, &(_, out)) in days {
            let lags: Option<Vec<f64>> = (0..=LAGS as i64).map(|l| days.get(&(t - l)).map(|v| v.0)).collect();
            let Some(lags) = lags else { continue };
            for (j, v) in lags.into_iter().enumerate() {
                cols[j].push(v);
            }
            let wd = (t + 3).rem_euclid(7); // day 0 (1970-01-01) was a Thursday: Monday = 0
            for w in 1..7 {
                cols[LAGS + w].push(if wd == w as i64 { 1.0 } else { 0.0 });
            }
            y.push(out);
        }
        let n = y.len() - start;
        if n == 0 {
            continue;
        }
        groups += 1;
        // Within campaign.
        for c in cols.iter_mut().chain(std::iter::once(&mut y)) {
            let m = c[start..].iter().sum::<f64>() / n as f64;
            for v in &mut c[start..] {
                *v -= m;
            }
        }
    }
    let n = y.len();
    if n < 3 * (k + groups) {
        return None;
    }
    let xs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let inv = linalg::inv_spd(linalg::crossprod_columns(&xs, None).view()).ok()?;
    let xty: Vec<f64> = xs.iter().map(|c| linalg::dot(c, &y)).collect();
    let beta: Vec<f64> = (0..k).map(|i| (0..k).map(|j| inv[[i, j]] * xty[j]).sum()).collect();
    let raw = &beta[..=LAGS];
    let total: f64 = raw.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    let weights: Vec<f64> = raw.iter().map(|b| b / total).collect();
    let theta = fit_adstock(&weights);
    Some(Profile {
        components: (0..=LAGS).map(|l| format!("lag_{l}")).collect(),
        values: weights,
        fitted: BTreeMap::from([("adstock_theta".to_string(), theta), ("total_effect".to_string(), total)]),
    })
}

/// The θ in [0, 0.95] whose truncated geometric weights (1-θ)θ^k / (1-θ^8) are closest to `w`.
pub fn fit_adstock(w: &[f64]) -> f64 {
    let mut best = (f64::INFINITY, 0.0);
    for step in 0..=95 {
        let theta = step as f64 / 100.0;
        let norm: f64 = (0..w.len()).map(|k| theta.powi(k as i32)).sum();
        let sse: f64 = w.iter().enumerate().map(|(k, v)| (v - theta.powi(k as i32) / norm).powi(2)).sum();
        if sse < best.0 {
            best = (sse, theta);
        }
    }
    best.1
}

/// The event profile of an event study's (event time, coefficient) points.
pub fn event_profile(points: &[(i64, f64)]) -> Option<Profile> {
    let scale = points.iter().filter(|(k, _)| *k >= 0).map(|(_, b)| b.abs()).fold(0.0, f64::max);
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let at: BTreeMap<i64, f64> = points.iter().copied().collect();
    let times: Vec<i64> = (-EVENT_LEADS..=EVENT_LAGS).collect();
    Some(Profile {
        components: times.iter().map(|k| format!("event_{k}")).collect(),
        values: times.iter().map(|k| at.get(k).copied().unwrap_or(0.0) / scale).collect(),
        fitted: BTreeMap::from([("scale".to_string(), scale)]),
    })
}

/// An intervention's effect profile: z of its effects on spend, conversions, revenue (clipped
/// to ±10, over 10; 0 when not estimated) and its grade's weight.
pub fn effect_profile(z: [Option<f64>; 3], grade_weight: f64) -> Profile {
    let mut values: Vec<f64> = z.iter().map(|z| z.map_or(0.0, |z| z.clamp(-10.0, 10.0) / 10.0)).collect();
    values.push(grade_weight);
    Profile {
        components: vec!["z_spend".into(), "z_conversions".into(), "z_revenue".into(), "grade".into()],
        values,
        fitted: BTreeMap::new(),
    }
}

/// A campaign's context before `before` (a day number): mean and standard deviation of log(1+
/// spend) and log(1+outcome), their daily trends, and log cost per outcome. None with fewer than
/// 7 days.
pub fn context_vector(days: &[(i64, f64, f64)], before: i64) -> Option<Profile> {
    let pre: Vec<&(i64, f64, f64)> = days.iter().filter(|(t, _, _)| *t < before).collect();
    if pre.len() < 7 {
        return None;
    }
    let n = pre.len() as f64;
    let stats = |f: &dyn Fn(&(i64, f64, f64)) -> f64| {
        let v: Vec<f64> = pre.iter().map(|r| f(r)).collect();
        let m = v.iter().sum::<f64>() / n;
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let tm = pre.iter().map(|r| r.0 as f64).sum::<f64>() / n;
        let sxx: f64 = pre.iter().map(|r| (r.0 as f64 - tm).powi(2)).sum();
        let slope = if sxx > 0.0 {
            pre.iter().zip(&v).map(|(r, x)| (r.0 as f64 - tm) * (x - m)).sum::<f64>() / sxx
        } else {
            0.0
        };
        (m, sd, slope)
    };
    let (ms, ss, ts) = stats(&|r| r.1.max(0.0).ln_1p());
    let (mo, so, to) = stats(&|r| r.2.max(0.0).ln_1p());
    Some(Profile {
        components: [
            "log_spend",
            "sd_log_spend",
            "trend_log_spend",
            "log_outcome",
            "sd_log_outcome",
            "trend_log_outcome",
            "log_cost_per_outcome",
        ]
        .map(String::from)
        .to_vec(),
        values: vec![ms, ss, 7.0 * ts, mo, so, 7.0 * to, ms - mo],
        fitted: BTreeMap::new(),
    })
}

/// The components of a record context vector.
pub const RECORD_COMPONENTS: [&str; 8] = [
    "treated",
    "confounder_exposure",
    "quality",
    "log_spend",
    "log_impressions",
    "log_clicks",
    "log_conversions",
    "log_revenue",
];

/// One campaign-day's context: treated (0 or 1), the detected confounders it was exposed to, its
/// quality score, and its metrics (spend, impressions, clicks, conversions, revenue) as log1p.
pub fn record_vector(treated: bool, exposure: usize, quality: f64, metrics: [f64; 5]) -> Profile {
    let mut values = vec![f64::from(u8::from(treated)), exposure as f64, quality];
    values.extend(metrics.iter().map(|m| m.max(0.0).ln_1p()));
    Profile { components: RECORD_COMPONENTS.map(String::from).to_vec(), values, fitted: BTreeMap::new() }
}

/// The candidates nearest to `me` (index, distance), nearest first: Euclidean over the components,
/// each divided by its standard deviation over the candidates (a component that does not vary
/// among them, as `treated` among untreated ones, counts for nothing).
pub fn nearest_records(me: &Profile, candidates: &[Profile]) -> Vec<(usize, f64)> {
    let k = me.values.len();
    let n = candidates.len() as f64;
    let sd: Vec<f64> = (0..k)
        .map(|j| {
            if candidates.len() < 2 {
                return 0.0;
            }
            let m = candidates.iter().map(|c| c.values[j]).sum::<f64>() / n;
            (candidates.iter().map(|c| (c.values[j] - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        })
        .collect();
    let mut out: Vec<(usize, f64)> = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.components == me.components)
        .map(|(i, c)| {
            let d2: f64 =
                (0..k).filter(|&j| sd[j] > 1e-12).map(|j| ((c.values[j] - me.values[j]) / sd[j]).powi(2)).sum();
            (i, d2.sqrt())
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adstock_weights_are_recovered_without_noise() {
        for theta in [0.0, 0.3, 0.6, 0.8] {
            let norm: f64 = (0..=LAGS).map(|k| f64::powi(theta, k as i32)).sum();
            let w: Vec<f64> = (0..=LAGS).map(|k| f64::powi(theta, k as i32) / norm).collect();
            assert!((fit_adstock(&w) - theta).abs() < 1e-9, "{theta}");
        }
        let p = event_profile(&[(-2, 0.1), (0, 2.0), (1, -4.0)]).unwrap();
        assert_eq!(p.values[EVENT_LEADS as usize + 1], -1.0);
        assert!(event_profile(&[(-1, 3.0)]).is_none());
    }
}
