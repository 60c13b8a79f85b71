//! The causal transformation's detectors: interventions (from the platforms' change history,
//! else from change points in spend) with their treated and comparison units, and confounders
//! (seasonality, trend, holidays, user-supplied series, platform-specific periods, simultaneous
//! changes on other channels), each with its method and a confidence.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::changepoint::{pelt, PeltSettings};
use super::{ChangeEvent, ChangeKind, DailyRow};
use crate::domain::Platform;
use liftos_estimators::dist;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intervention {
    pub platform: Platform,
    pub campaign_id: String,
    /// The first day under the new regime.
    pub date: NaiveDate,
    pub kind: ChangeKind,
    /// `budget_increase`, `budget_decrease`, `launch`, `pause`, `bid_strategy_change`, ...
    pub intervention: String,
    /// Relative size (0.3 = +30%), when measurable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    /// `change_history`, `changepoint` (PELT on spend) or `data_span` (a campaign that starts
    /// after, or stops before, the rest of its platform).
    pub source: String,
    pub confidence: f64,
    /// Same-platform campaigns with no intervention within `comparison_window` days.
    pub comparison_units: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectedConfounder {
    pub name: String,
    /// `seasonality`, `trend`, `holiday`, `external`, `platform`, `simultaneous_change`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The days it applies to (empty: every day, e.g. a weekly cycle).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<NaiveDate>,
    pub method: String,
    pub confidence: f64,
    /// A size where there is one (F statistic, slope per day, correlation...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistic: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectSettings {
    /// Spend shifts smaller than this (relative) are not called interventions.
    pub min_relative_change: f64,
    /// A change point is reported only if its two-sample test gives p below this.
    pub max_changepoint_p: f64,
    /// Change points within this many days of a change-history event are that event.
    pub history_match_days: i64,
    pub comparison_window_days: i64,
    /// p-value below which a seasonality, trend or external series is reported.
    pub alpha: f64,
    /// ISO country for the holiday calendar.
    pub country: String,
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self {
            min_relative_change: 0.2,
            max_changepoint_p: 1e-4,
            history_match_days: 3,
            comparison_window_days: 14,
            alpha: 0.01,
            country: "US".into(),
        }
    }
}

type Key = (Platform, String);

/// A campaign whose rows start (end) more than this many days after (before) its platform's is
/// launched (paused) there; shorter holes are missing data.
const SPAN_DAYS: i64 = 5;

/// Replace single-day spikes (more than 5 robust SDs from the centred 7-day median) by that
/// median, so an outlier is not read as two shifts.
fn despike(x: &mut [f64]) {
    let sd = super::changepoint::noise_sd(x);
    if sd.is_nan() || sd <= 0.0 || x.len() < 7 {
        return;
    }
    let orig = x.to_vec();
    for i in 0..x.len() {
        let lo = i.saturating_sub(3);
        let hi = (i + 4).min(orig.len());
        let mut w: Vec<f64> = orig[lo..hi].to_vec();
        w.sort_by(f64::total_cmp);
        let med = w[w.len() / 2];
        if (orig[i] - med).abs() > 5.0 * sd {
            x[i] = med;
        }
    }
}

fn series(rows: &[DailyRow]) -> BTreeMap<Key, BTreeMap<NaiveDate, f64>> {
    let mut out: BTreeMap<Key, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for r in rows {
        *out.entry((r.platform, r.campaign_id.clone())).or_default().entry(r.date).or_default() += r.spend;
    }
    out
}

fn kind_name(k: ChangeKind, size: Option<f64>) -> String {
    match k {
        ChangeKind::BudgetChange => match size {
            Some(s) if s < 0.0 => "budget_decrease".into(),
            _ => "budget_increase".into(),
        },
        ChangeKind::Launch => "launch".into(),
        ChangeKind::Pause => "pause".into(),
        ChangeKind::BidStrategyChange => "bid_strategy_change".into(),
        ChangeKind::CreativeChange => "creative_change".into(),
        ChangeKind::TargetingChange => "targeting_change".into(),
        ChangeKind::StatusChange => "status_change".into(),
    }
}

/// Interventions: every change-history event, and every clear shift in a campaign's daily
/// spend (PELT on log(1 + spend)) that no history event explains.
pub fn detect_treatments(rows: &[DailyRow], changes: &[ChangeEvent], s: &DetectSettings) -> Vec<Intervention> {
    let spend = series(rows);
    let mut found: Vec<Intervention> = Vec::new();
    for c in changes {
        let size = match (c.old_value, c.new_value) {
            (Some(a), Some(b)) if a > 0.0 => Some(b / a - 1.0),
            _ => None,
        };
        found.push(Intervention {
            platform: c.platform,
            campaign_id: c.campaign_id.clone(),
            date: c.at.date_naive(),
            kind: c.kind,
            intervention: kind_name(c.kind, size),
            size,
            source: "change_history".into(),
            // A recorded change happened; whether it moved spend is measured below.
            confidence: 0.99,
            comparison_units: vec![],
        });
    }
    // The span each platform reports: a campaign that starts later was launched, one that stops
    // earlier was paused (absent rows are no spend).
    let mut span: BTreeMap<Platform, (NaiveDate, NaiveDate)> = BTreeMap::new();
    for ((platform, _), days) in &spend {
        if let (Some(a), Some(b)) = (days.keys().next(), days.keys().last()) {
            let e = span.entry(*platform).or_insert((*a, *b));
            e.0 = e.0.min(*a);
            e.1 = e.1.max(*b);
        }
    }
    for ((platform, campaign), days) in &spend {
        let (Some(first), Some(last)) = (days.keys().next().copied(), days.keys().last().copied()) else { continue };
        let (p_first, p_last) = span.get(platform).copied().unwrap_or((first, last));
        let edges = [
            (first > p_first + Duration::days(SPAN_DAYS), first, ChangeKind::Launch),
            (last + Duration::days(SPAN_DAYS) < p_last, last + Duration::days(1), ChangeKind::Pause),
        ];
        for (yes, date, kind) in edges {
            let explained = found.iter().any(|f| {
                f.platform == *platform
                    && &f.campaign_id == campaign
                    && f.source == "change_history"
                    && (f.date - date).num_days().abs() <= s.history_match_days
            });
            if yes && !explained {
                found.push(Intervention {
                    platform: *platform,
                    campaign_id: campaign.clone(),
                    date,
                    kind,
                    intervention: kind_name(kind, None),
                    size: None,
                    source: "data_span".into(),
                    // The platform reported other campaigns on those days, so this one had none.
                    confidence: 0.9,
                    comparison_units: vec![],
                });
            }
        }
        // The observed days in order (a missing day is no evidence either way).
        let dates: Vec<NaiveDate> = days.keys().copied().collect();
        let mut x: Vec<f64> = days.values().map(|v| v.max(0.0).ln_1p()).collect();
        despike(&mut x);
        for cp in pelt(&x, &PeltSettings { penalty: None, min_size: 7 }) {
            let date = dates[cp.index];
            let (before, after) = (cp.mean_before.exp_m1().max(0.0), cp.mean_after.exp_m1().max(0.0));
            let kind = if before < 0.01 * after.max(1e-9) {
                ChangeKind::Launch
            } else if after < 0.01 * before {
                ChangeKind::Pause
            } else {
                ChangeKind::BudgetChange
            };
            let size = if before > 0.0 { Some(after / before - 1.0) } else { None };
            if kind == ChangeKind::BudgetChange && size.is_none_or(|r| r.abs() < s.min_relative_change) {
                continue;
            }
            let explained = found.iter().any(|f| {
                f.platform == *platform
                    && &f.campaign_id == campaign
                    && f.source == "change_history"
                    && (f.date - date).num_days().abs() <= s.history_match_days
            });
            if explained {
                continue;
            }
            // Two-sided test of the shift between the neighbouring segments; PELT's penalty already
            // controls false alarms, this keeps only shifts that are clear on their own too.
            let p = dist::normal_p_value(cp.t().abs());
            if p > s.max_changepoint_p {
                continue;
            }
            let confidence = (1.0 - p).clamp(0.0, 0.999);
            found.push(Intervention {
                platform: *platform,
                campaign_id: campaign.clone(),
                date,
                kind,
                intervention: kind_name(kind, size),
                size,
                source: "changepoint".into(),
                confidence,
                comparison_units: vec![],
            });
        }
    }
    // Comparison units: same platform, no intervention of their own near the date.
    let all: BTreeMap<Platform, BTreeSet<String>> = spend.keys().fold(BTreeMap::new(), |mut m, (p, c)| {
        m.entry(*p).or_insert_with(BTreeSet::new).insert(c.clone());
        m
    });
    let snapshot = found.clone();
    for f in &mut found {
        f.comparison_units = all
            .get(&f.platform)
            .map(|cs| {
                cs.iter()
                    .filter(|c| {
                        **c != f.campaign_id
                            && !snapshot.iter().any(|o| {
                                o.platform == f.platform
                                    && &o.campaign_id == *c
                                    && (o.date - f.date).num_days().abs() <= s.comparison_window_days
                            })
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
    }
    found.sort_by(|a, b| (a.date, a.platform, &a.campaign_id).cmp(&(b.date, b.platform, &b.campaign_id)));
    found
}

struct SeasonalFit {
    trend: f64,
    trend_p: f64,
    dow_f: f64,
    dow_p: f64,
    residuals: Vec<f64>,
}

/// log(1 + conversions) on campaign fixed effects, log(1 + spend), a linear time trend and
/// weekday dummies (Monday the base), by OLS on the within-campaign demeaned data. Controlling
/// for spend keeps budget changes from passing for a trend or a season.
fn seasonal_fit(rows: &[&DailyRow]) -> Option<SeasonalFit> {
    use liftos_estimators::linalg;
    let n = rows.len();
    let first = rows.iter().map(|r| r.date).min()?;
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        groups.entry(r.campaign_id.as_str()).or_default().push(i);
    }
    let k = 8; // log spend, time, 6 weekdays
    if n < groups.len() + k + 5 {
        return None;
    }
    let y: Vec<f64> = rows.iter().map(|r| r.conversions.max(0.0).ln_1p()).collect();
    let mut cols: Vec<Vec<f64>> = vec![
        rows.iter().map(|r| r.spend.max(0.0).ln_1p()).collect(),
        rows.iter().map(|r| (r.date - first).num_days() as f64).collect(),
    ];
    for d in 1..7u32 {
        cols.push(rows.iter().map(|r| f64::from(u8::from(r.date.weekday().num_days_from_monday() == d))).collect());
    }
    let demean = |v: &[f64]| -> Vec<f64> {
        let mut out = v.to_vec();
        for idx in groups.values() {
            let m = idx.iter().map(|&i| v[i]).sum::<f64>() / idx.len() as f64;
            for &i in idx {
                out[i] -= m;
            }
        }
        out
    };
    let yd = demean(&y);
    let xd: Vec<Vec<f64>> = cols.iter().map(|c| demean(c)).collect();
    let x = linalg::columns(&xd);
    let inv = linalg::inv_spd(linalg::crossprod(x.view()).view()).ok()?;
    let beta = inv.dot(&linalg::xty(x.view(), ndarray::ArrayView1::from(&yd)));
    let residuals: Vec<f64> = (ndarray::Array1::from(yd) - x.dot(&beta)).to_vec();
    let df = (n - groups.len() - k) as f64;
    let s2 = residuals.iter().map(|e| e * e).sum::<f64>() / df;
    let se_t = (s2 * inv[[1, 1]]).sqrt();
    let trend_t = if se_t > 0.0 { beta[1] / se_t } else { 0.0 };
    let idx: Vec<usize> = (2..k).collect();
    let v_d = linalg::submatrix(inv.view(), &idx) * s2;
    let b_d: ndarray::Array1<f64> = idx.iter().map(|&j| beta[j]).collect();
    let wald = linalg::quad_form_inv(v_d.view(), b_d.view()).ok()?;
    let dow_f = wald / idx.len() as f64;
    Some(SeasonalFit {
        trend: beta[1],
        trend_p: dist::t_p_value(trend_t, df),
        dow_f,
        dow_p: dist::f_p_value(dow_f, idx.len() as f64, df),
        residuals,
    })
}

/// One-way ANOVA of `values` by `groups`: (F, p).
fn anova(values: &[f64], groups: &[usize], k: usize) -> Option<(f64, f64)> {
    let n = values.len();
    if n <= k || k < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut sums = vec![0.0; k];
    let mut counts = vec![0usize; k];
    for (v, &g) in values.iter().zip(groups) {
        sums[g] += v;
        counts[g] += 1;
    }
    let used = counts.iter().filter(|c| **c > 0).count();
    if used < 2 {
        return None;
    }
    let between: f64 =
        (0..k).filter(|&g| counts[g] > 0).map(|g| counts[g] as f64 * (sums[g] / counts[g] as f64 - mean).powi(2)).sum();
    let within: f64 = values.iter().zip(groups).map(|(v, &g)| (v - sums[g] / counts[g] as f64).powi(2)).sum();
    let (d1, d2) = ((used - 1) as f64, (n - used) as f64);
    if within <= 0.0 || d2 <= 0.0 {
        return None;
    }
    let f = (between / d1) / (within / d2);
    Some((f, dist::f_p_value(f, d1, d2)))
}

fn pearson(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let n = a.len();
    if n < 4 {
        return None;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n as f64, b.iter().sum::<f64>() / n as f64);
    let sab: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let saa: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let sbb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if saa <= 0.0 || sbb <= 0.0 {
        return None;
    }
    let r = sab / (saa * sbb).sqrt();
    let t = r * ((n as f64 - 2.0) / (1.0 - r * r).max(1e-12)).sqrt();
    Some((r, dist::t_p_value(t, n as f64 - 2.0)))
}

/// A user-supplied daily series (a promotions calendar, prices, weather, competitor activity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalSeries {
    pub name: String,
    pub values: BTreeMap<NaiveDate, f64>,
}

/// Confounders of the batch's outcome (conversions) per platform.
pub fn detect_confounders(
    rows: &[DailyRow],
    changes: &[ChangeEvent],
    interventions: &[Intervention],
    external: &[ExternalSeries],
    s: &DetectSettings,
) -> Vec<DetectedConfounder> {
    let mut out = Vec::new();
    let platforms: BTreeSet<Platform> = rows.iter().map(|r| r.platform).collect();
    for platform in platforms {
        let prow: Vec<&DailyRow> = rows.iter().filter(|r| r.platform == platform).collect();
        let Some(fit) = seasonal_fit(&prow) else { continue };
        if fit.trend_p < s.alpha {
            out.push(DetectedConfounder {
                name: "trend".into(),
                kind: "trend".into(),
                platform: Some(platform),
                dates: vec![],
                method: "campaign fixed-effects regression of log conversions on log spend, time and weekday: t test of the time slope".into(),
                confidence: 1.0 - fit.trend_p,
                statistic: Some(fit.trend),
            });
        }
        if fit.dow_p < s.alpha {
            out.push(DetectedConfounder {
                name: "day_of_week".into(),
                kind: "seasonality".into(),
                platform: Some(platform),
                dates: vec![],
                method: "the same regression: Wald F test of the six weekday effects".into(),
                confidence: 1.0 - fit.dow_p,
                statistic: Some(fit.dow_f),
            });
        }
        // Residuals by day (mean over campaigns) for month seasonality and external series.
        let mut by_day: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
        for (r, e) in prow.iter().zip(&fit.residuals) {
            let a = by_day.entry(r.date).or_default();
            a.0 += e;
            a.1 += 1.0;
        }
        let dates: Vec<NaiveDate> = by_day.keys().copied().collect();
        let res: Vec<f64> = by_day.values().map(|(s, n)| s / n).collect();
        let months: Vec<usize> = dates.iter().map(|d| d.month0() as usize).collect();
        let distinct: BTreeSet<usize> = months.iter().copied().collect();
        if res.len() >= 60 && distinct.len() >= 3 {
            if let Some((f, p)) = anova(&res, &months, 12) {
                if p < s.alpha {
                    out.push(DetectedConfounder {
                        name: "month".into(),
                        kind: "seasonality".into(),
                        platform: Some(platform),
                        dates: vec![],
                        method: "one-way ANOVA by month of the regression's daily residuals".into(),
                        confidence: 1.0 - p,
                        statistic: Some(f),
                    });
                }
            }
        }
        for ext in external {
            let pairs: Vec<(f64, f64)> =
                dates.iter().zip(&res).filter_map(|(d, r)| ext.values.get(d).map(|v| (*v, *r))).collect();
            let (a, b): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
            if let Some((r, p)) = pearson(&a, &b) {
                if p < s.alpha {
                    out.push(DetectedConfounder {
                        name: ext.name.clone(),
                        kind: "external".into(),
                        platform: Some(platform),
                        dates: vec![],
                        method: "correlation of the supplied series with the regression's daily residuals".into(),
                        confidence: 1.0 - p,
                        statistic: Some(r),
                    });
                }
            }
        }
    }
    // Holidays in the batch's span, from the calendar.
    if let (Some(start), Some(end)) = (rows.iter().map(|r| r.date).min(), rows.iter().map(|r| r.date).max()) {
        for (d, name) in super::holidays::holidays_between(&s.country, start, end) {
            out.push(DetectedConfounder {
                name: format!("holiday:{name}"),
                kind: "holiday".into(),
                platform: None,
                dates: vec![d],
                method: format!("public holiday and retail calendar ({})", s.country),
                confidence: 1.0,
                statistic: None,
            });
        }
        // iOS 14.5 (App Tracking Transparency, 2021-04-26): Meta's measured conversions drop.
        let att = NaiveDate::from_ymd_opt(2021, 4, 26).unwrap_or_default();
        if rows.iter().any(|r| r.platform == Platform::Meta) && start < att && end >= att {
            out.push(DetectedConfounder {
                name: "ios14_5_tracking_loss".into(),
                kind: "platform".into(),
                platform: Some(Platform::Meta),
                dates: (0..=(end - att).num_days()).map(|i| att + Duration::days(i)).collect(),
                method: "the batch spans Apple's App Tracking Transparency launch (2021-04-26)".into(),
                confidence: 0.9,
                statistic: None,
            });
        }
    }
    // Platform learning periods after significant edits, and simultaneous changes elsewhere.
    for i in interventions {
        let significant = match i.kind {
            ChangeKind::BudgetChange => i.size.is_some_and(|s| s.abs() >= 0.2),
            ChangeKind::CreativeChange | ChangeKind::TargetingChange | ChangeKind::Launch => true,
            _ => false,
        };
        if i.platform == Platform::Meta && significant {
            out.push(DetectedConfounder {
                name: format!("meta_learning_phase:{}", i.campaign_id),
                kind: "platform".into(),
                platform: Some(Platform::Meta),
                dates: (0..7).map(|k| i.date + Duration::days(k)).collect(),
                method: "7 days after a significant edit: Meta's delivery re-enters the learning phase".into(),
                confidence: 0.8 * i.confidence,
                statistic: None,
            });
        }
        if i.platform == Platform::GoogleAds && i.kind == ChangeKind::BidStrategyChange {
            out.push(DetectedConfounder {
                name: format!("google_smart_bidding_learning:{}", i.campaign_id),
                kind: "platform".into(),
                platform: Some(Platform::GoogleAds),
                dates: (0..14).map(|k| i.date + Duration::days(k)).collect(),
                method: "14 days after a bid strategy change: Google's smart bidding learning period".into(),
                confidence: 0.8 * i.confidence,
                statistic: None,
            });
        }
        for o in interventions {
            if o.platform != i.platform
                && (o.date - i.date).num_days().abs() <= 3
                && (o.date, &o.campaign_id) >= (i.date, &i.campaign_id)
            {
                out.push(DetectedConfounder {
                    name: format!(
                        "simultaneous_change:{}:{}+{}:{}",
                        i.platform, i.campaign_id, o.platform, o.campaign_id
                    ),
                    kind: "simultaneous_change".into(),
                    platform: None,
                    dates: vec![i.date.min(o.date)],
                    method: "interventions on two channels within 3 days of each other".into(),
                    confidence: i.confidence.min(o.confidence),
                    statistic: None,
                });
            }
        }
    }
    out.extend(budget_limited_days(rows, changes));
    out
}

/// Budget-limited days from the change history's budgets: spend at 95% or more of the daily
/// budget in force.
pub fn budget_limited_days(rows: &[DailyRow], changes: &[ChangeEvent]) -> Vec<DetectedConfounder> {
    let mut by_campaign: BTreeMap<Key, Vec<(NaiveDate, f64)>> = BTreeMap::new();
    for c in changes.iter().filter(|c| c.kind == ChangeKind::BudgetChange) {
        if let Some(b) = c.new_value {
            by_campaign.entry((c.platform, c.campaign_id.clone())).or_default().push((c.at.date_naive(), b));
        }
    }
    let mut out = Vec::new();
    for (key, mut budgets) in by_campaign {
        budgets.sort_by_key(|b| b.0);
        let limited: Vec<NaiveDate> = rows
            .iter()
            .filter(|r| r.platform == key.0 && r.campaign_id == key.1)
            .filter(|r| {
                budgets.iter().rev().find(|(d, _)| *d <= r.date).is_some_and(|(_, b)| *b > 0.0 && r.spend >= 0.95 * b)
            })
            .map(|r| r.date)
            .collect();
        if !limited.is_empty() {
            out.push(DetectedConfounder {
                name: format!("budget_limited:{}", key.1),
                kind: "platform".into(),
                platform: Some(key.0),
                dates: limited,
                method: "spend at 95% or more of the daily budget set in the change history".into(),
                confidence: 0.9,
                statistic: None,
            });
        }
    }
    out
}
