//! Realistic multi-channel marketing data with known truth: campaigns on several platforms,
//! daily spend around a budget, conversions responding to spend with diminishing returns,
//! weekday seasonality, a trend and holiday peaks when asked; injected interventions (budget
//! changes, launches, pauses) recorded in the change history or not; and injected faults
//! (missing days, duplicates, outliers, future days). Used to measure detection and quality.

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::{ChangeEvent, ChangeKind, DailyRow, PlatformBatch};
use crate::domain::Platform;
use liftos_estimators::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Share of campaign-days dropped (in runs of 2-4 days).
    pub missing_share: f64,
    pub duplicates: usize,
    /// Rows whose spend and conversions are multiplied by 20.
    pub outliers: usize,
    /// Rows dated after "now".
    pub future_rows: usize,
}

impl Faults {
    pub fn none() -> Self {
        Self { missing_share: 0.0, duplicates: 0, outliers: 0, future_rows: 0 }
    }
    pub fn degraded() -> Self {
        Self { missing_share: 0.12, duplicates: 8, outliers: 6, future_rows: 4 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSettings {
    pub seed: u64,
    pub platforms: Vec<Platform>,
    pub campaigns_per_platform: usize,
    pub days: usize,
    pub start: NaiveDate,
    /// Weekend conversions lower by `weekday_strength` (Friday higher by 40% of it).
    pub weekday_effect: bool,
    pub weekday_strength: f64,
    /// Conversions grow `trend_per_day` (log) a day at fixed spend.
    pub trend: bool,
    pub trend_per_day: f64,
    /// Interventions per platform (on distinct campaigns).
    pub interventions_per_platform: usize,
    /// Share of interventions the change history records.
    pub history_share: f64,
    /// Day-to-day spend variation around the budget (sd of log spend).
    pub spend_noise: f64,
    /// Budget changes are at least this large (relative; up to this + 0.5).
    pub min_change: f64,
    pub faults: Faults,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            seed: 1,
            platforms: vec![Platform::Meta, Platform::GoogleAds, Platform::Tiktok],
            campaigns_per_platform: 5,
            days: 90,
            start: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or_default(),
            weekday_effect: true,
            weekday_strength: 0.25,
            trend: false,
            trend_per_day: 0.004,
            interventions_per_platform: 2,
            history_share: 0.5,
            spend_noise: 0.08,
            min_change: 0.3,
            faults: Faults::none(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrueIntervention {
    pub platform: Platform,
    pub campaign_id: String,
    pub date: NaiveDate,
    pub kind: ChangeKind,
    pub size: f64,
    pub in_history: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub interventions: Vec<TrueIntervention>,
    pub weekday_effect: bool,
    pub trend: bool,
    /// The "now" the data was exported at (the day after the last day).
    pub now: chrono::DateTime<Utc>,
}

pub fn campaign_id(p: Platform, c: usize) -> String {
    format!("{}-c{c:02}", p.as_str())
}

pub fn simulate(s: &SimSettings) -> (PlatformBatch, Truth) {
    let mut rng = Rng::new(s.seed);
    let mut rows = Vec::new();
    let mut changes = Vec::new();
    let mut truth = Vec::new();
    for &p in &s.platforms {
        // Which campaigns change, when, how.
        let mut order: Vec<usize> = (0..s.campaigns_per_platform).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut plan: Vec<Option<(usize, ChangeKind, f64)>> = vec![None; s.campaigns_per_platform];
        for &c in order.iter().take(s.interventions_per_platform.min(s.campaigns_per_platform.saturating_sub(1))) {
            let day = 20 + rng.below(s.days.saturating_sub(40).max(1));
            let u = rng.uniform();
            let (kind, size) = if u < 0.7 {
                let mag = s.min_change + 0.5 * rng.uniform();
                (ChangeKind::BudgetChange, if rng.uniform() < 0.6 { mag } else { -mag / (1.0 + mag) })
            } else if u < 0.85 {
                (ChangeKind::Launch, 0.0)
            } else {
                (ChangeKind::Pause, -1.0)
            };
            plan[c] = Some((day, kind, size));
        }
        for (c, planned) in plan.iter().enumerate() {
            let id = campaign_id(p, c);
            let budget = 200.0 * (1.0 + 9.0 * rng.uniform());
            let cpa = 15.0 + 30.0 * rng.uniform();
            let cpm = 5.0 + 10.0 * rng.uniform();
            let ctr = 0.005 + 0.02 * rng.uniform();
            let aov = 40.0 + 80.0 * rng.uniform();
            if let Some((day, kind, size)) = *planned {
                let date = s.start + Duration::days(day as i64);
                let in_history = rng.uniform() < s.history_share;
                truth.push(TrueIntervention { platform: p, campaign_id: id.clone(), date, kind, size, in_history });
                if in_history {
                    let at = Utc.from_utc_datetime(&date.and_hms_opt(9, 30, 0).unwrap_or_default());
                    let (old_value, new_value) = match kind {
                        ChangeKind::BudgetChange => (Some(budget), Some(budget * (1.0 + size))),
                        _ => (None, None),
                    };
                    changes.push(ChangeEvent {
                        platform: p,
                        campaign_id: id.clone(),
                        at,
                        kind,
                        old_value,
                        new_value,
                        detail: "simulated".into(),
                    });
                }
            }
            for t in 0..s.days {
                let date = s.start + Duration::days(t as i64);
                let mut b = budget;
                match *planned {
                    Some((day, ChangeKind::BudgetChange, size)) if t >= day => b *= 1.0 + size,
                    Some((day, ChangeKind::Launch, _)) if t < day => continue,
                    Some((day, ChangeKind::Pause, _)) if t >= day => continue,
                    _ => {}
                }
                let spend = b * (s.spend_noise * rng.normal()).exp();
                let mut mult = 1.0;
                if s.weekday_effect {
                    mult *= match date.weekday().num_days_from_monday() {
                        4 => 1.0 + 0.4 * s.weekday_strength,
                        5 | 6 => 1.0 - s.weekday_strength,
                        _ => 1.0,
                    };
                }
                if s.trend {
                    mult *= (s.trend_per_day * t as f64).exp();
                }
                // Diminishing returns: conversions ∝ budget^0.8.
                let expected = (budget * (spend / budget).powf(0.8)) / cpa * mult;
                let conversions = (expected * (0.10 * rng.normal()).exp()).max(0.0);
                let impressions = (spend / cpm * 1000.0).round();
                let clicks = (impressions * ctr).round();
                rows.push(DailyRow {
                    platform: p,
                    campaign_id: id.clone(),
                    campaign_name: Some(format!("Campaign {c}")),
                    date,
                    timestamp: Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default()),
                    spend: (spend * 100.0).round() / 100.0,
                    impressions,
                    clicks,
                    conversions: (conversions * 100.0).round() / 100.0,
                    revenue: (conversions * aov * 100.0).round() / 100.0,
                    extra: Default::default(),
                });
            }
        }
    }
    let end = s.start + Duration::days(s.days as i64);
    let now = Utc.from_utc_datetime(&end.and_hms_opt(6, 0, 0).unwrap_or_default());
    // Faults.
    let f = &s.faults;
    if f.missing_share > 0.0 {
        let target = (rows.len() as f64 * f.missing_share) as usize;
        let mut dropped = 0;
        while dropped < target && !rows.is_empty() {
            let i = rng.below(rows.len());
            let run = 2 + rng.below(3);
            let key = (rows[i].platform, rows[i].campaign_id.clone());
            let mut k = 0;
            while k < run && i < rows.len() && (rows[i].platform, rows[i].campaign_id.clone()) == key {
                rows.remove(i);
                k += 1;
                dropped += 1;
            }
        }
    }
    for _ in 0..f.duplicates {
        let i = rng.below(rows.len());
        let dup = rows[i].clone();
        rows.insert(i + 1, dup);
    }
    for _ in 0..f.outliers {
        let i = rng.below(rows.len());
        rows[i].spend *= 20.0;
        rows[i].conversions *= 20.0;
    }
    for k in 0..f.future_rows {
        let mut r = rows[rng.below(rows.len())].clone();
        r.date = end + Duration::days(3 + k as i64);
        r.timestamp = Utc.from_utc_datetime(&r.date.and_hms_opt(0, 0, 0).unwrap_or_default());
        rows.push(r);
    }
    (
        PlatformBatch { rows, changes },
        Truth { interventions: truth, weekday_effect: s.weekday_effect, trend: s.trend, now },
    )
}
