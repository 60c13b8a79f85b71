//! Quality assessment of a batch and of each row: what cannot be used is rejected with its
//! reason (the quality stage quarantines it); the rest gets a score. The batch score is a
//! weighted mean of components in [0, 1], each with its detail:
//!
//! | component | weight | 1.0 means |
//! |---|---|---|
//! | completeness | 0.20 | every campaign reports every day of its span |
//! | gaps | 0.10 | no campaign misses two or more days in a row |
//! | duplicates | 0.15 | no campaign-day reported twice |
//! | outliers | 0.15 | no value more than 8 robust SDs from its campaign's median |
//! | temporal | 0.10 | no future days, rows in order |
//! | pre_period | 0.10 | 14+ days before each intervention |
//! | treatment_variation | 0.10 | some campaigns treated, some not |
//! | controls | 0.10 | each intervention has comparison campaigns |

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::detect::Intervention;
use super::DailyRow;
use crate::domain::Platform;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub score: f64,
    pub weight: f64,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub index: usize,
    pub platform: Platform,
    pub campaign_id: String,
    pub date: NaiveDate,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    pub score: f64,
    pub components: BTreeMap<String, Component>,
    /// Rows that cannot be used, with why.
    pub rejected: Vec<Rejected>,
    /// Per input row: 0 when rejected, else 1 less 0.5 for an outlier.
    pub row_scores: Vec<f64>,
}

pub const MIN_PRE_DAYS: i64 = 14;
const OUTLIER_SDS: f64 = 8.0;

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What a row-level screen found: rows that cannot be used (with why), duplicates, future days
/// and rows out of order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Screen {
    pub rejected: Vec<Rejected>,
    pub duplicates: usize,
    pub future: usize,
    pub out_of_order: usize,
}

impl Screen {
    /// The indices of the rows that passed, in order, among `rows` screened rows.
    pub fn accepted(&self, rows: usize) -> Vec<usize> {
        let bad: BTreeSet<usize> = self.rejected.iter().map(|r| r.index).collect();
        (0..rows).filter(|i| !bad.contains(i)).collect()
    }
}

/// Reject rows that cannot be used: non-finite or negative metrics, more clicks than
/// impressions, days after `now`, and repeats of a campaign-day already seen.
pub fn screen(rows: &[DailyRow], now: DateTime<Utc>) -> Screen {
    let mut out = Screen::default();
    let mut seen = BTreeSet::new();
    let mut last: BTreeMap<(Platform, &str), NaiveDate> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        let reject = |reason: String| Rejected {
            index: i,
            platform: r.platform,
            campaign_id: r.campaign_id.clone(),
            date: r.date,
            reason,
        };
        let values = [r.spend, r.impressions, r.clicks, r.conversions, r.revenue];
        if values.iter().any(|v| !v.is_finite()) {
            out.rejected.push(reject("a metric is not a finite number".into()));
            continue;
        }
        if values.iter().any(|v| *v < 0.0) {
            out.rejected.push(reject("a metric is negative".into()));
            continue;
        }
        // No impressions (an export without the column, 0) says nothing of the clicks: the
        // record's own rule, which the store applies.
        if r.clicks > r.impressions && r.impressions > 0.0 {
            out.rejected.push(reject(format!("clicks ({}) exceed impressions ({})", r.clicks, r.impressions)));
            continue;
        }
        if r.timestamp > now {
            out.future += 1;
            out.rejected.push(reject(format!("the day {} is in the future", r.date)));
            continue;
        }
        if !seen.insert((r.platform, r.campaign_id.as_str(), r.date)) {
            out.duplicates += 1;
            out.rejected.push(reject("a duplicate of an earlier row for the same campaign and day".into()));
            continue;
        }
        let key = (r.platform, r.campaign_id.as_str());
        if last.get(&key).is_some_and(|d| *d > r.date) {
            out.out_of_order += 1;
        }
        last.insert(key, r.date);
    }
    out
}

/// Score `rows` (and the interventions found in them) as of `now`.
pub fn assess(rows: &[DailyRow], interventions: &[Intervention], now: DateTime<Utc>) -> QualityReport {
    let sc = screen(rows, now);
    let mut row_scores = vec![1.0; rows.len()];
    for r in &sc.rejected {
        row_scores[r.index] = 0.0;
    }
    let (dups, future, out_of_order) = (sc.duplicates, sc.future, sc.out_of_order);
    let rejected = sc.rejected;
    let good: Vec<usize> = (0..rows.len()).filter(|&i| row_scores[i] > 0.0).collect();
    // Per campaign: span, days present, gaps, outliers (robust z of log spend and conversions).
    let mut by_campaign: BTreeMap<(Platform, &str), Vec<usize>> = BTreeMap::new();
    for &i in &good {
        by_campaign.entry((rows[i].platform, rows[i].campaign_id.as_str())).or_default().push(i);
    }
    let (mut expected, mut present, mut gappy, mut outliers) = (0i64, 0i64, 0usize, 0usize);
    for idx in by_campaign.values() {
        let dates: BTreeSet<NaiveDate> = idx.iter().map(|&i| rows[i].date).collect();
        let (Some(a), Some(b)) = (dates.first(), dates.last()) else { continue };
        expected += (*b - *a).num_days() + 1;
        present += dates.len() as i64;
        let mut run = 0;
        let mut d = *a;
        let mut has_gap = false;
        while d <= *b {
            if dates.contains(&d) {
                run = 0;
            } else {
                run += 1;
                has_gap |= run >= 2;
            }
            d += Duration::days(1);
        }
        gappy += usize::from(has_gap);
        for metric in [|r: &DailyRow| r.spend, |r: &DailyRow| r.conversions] {
            let vals: Vec<f64> = idx.iter().map(|&i| metric(&rows[i]).ln_1p()).collect();
            let med = median(&mut vals.clone());
            let mut dev: Vec<f64> = vals.iter().map(|v| (v - med).abs()).collect();
            let mad = median(&mut dev) * 1.4826;
            if mad <= 0.0 {
                continue;
            }
            for (k, &i) in idx.iter().enumerate() {
                if ((vals[k] - med) / mad).abs() > OUTLIER_SDS && row_scores[i] == 1.0 {
                    row_scores[i] = 0.5;
                    outliers += 1;
                }
            }
        }
    }
    let n = rows.len().max(1) as f64;
    let campaigns = by_campaign.len().max(1) as f64;
    let mut c = BTreeMap::new();
    let mut put = |name: &str, score: f64, weight: f64, detail: String| {
        c.insert(name.to_string(), Component { score: score.clamp(0.0, 1.0), weight, detail });
    };
    put(
        "completeness",
        if expected > 0 { present as f64 / expected as f64 } else { 0.0 },
        0.20,
        format!("{present} of {expected} campaign-days in the campaigns' spans"),
    );
    put("gaps", 1.0 - gappy as f64 / campaigns, 0.10, format!("{gappy} campaigns miss 2+ days in a row"));
    put("duplicates", 1.0 - 10.0 * dups as f64 / n, 0.15, format!("{dups} duplicate rows"));
    put(
        "outliers",
        1.0 - 10.0 * outliers as f64 / n,
        0.15,
        format!("{outliers} values beyond {OUTLIER_SDS} robust SDs"),
    );
    put(
        "temporal",
        1.0 - 10.0 * (future + out_of_order) as f64 / n,
        0.10,
        format!("{future} future days, {out_of_order} rows out of order"),
    );
    let first_day = good.iter().map(|&i| rows[i].date).min();
    let with_pre =
        interventions.iter().filter(|iv| first_day.is_some_and(|f| (iv.date - f).num_days() >= MIN_PRE_DAYS)).count();
    put(
        "pre_period",
        if interventions.is_empty() { 1.0 } else { with_pre as f64 / interventions.len() as f64 },
        0.10,
        format!("{with_pre} of {} interventions have {MIN_PRE_DAYS}+ days before them", interventions.len()),
    );
    let treated: BTreeSet<&str> = interventions.iter().map(|i| i.campaign_id.as_str()).collect();
    let untreated = by_campaign.keys().filter(|(_, c)| !treated.contains(c)).count();
    put(
        "treatment_variation",
        if !treated.is_empty() && untreated > 0 { 1.0 } else { 0.0 },
        0.10,
        format!("{} campaigns with an intervention, {untreated} without", treated.len()),
    );
    let with_controls = interventions.iter().filter(|i| !i.comparison_units.is_empty()).count();
    put(
        "controls",
        if interventions.is_empty() { 0.0 } else { with_controls as f64 / interventions.len() as f64 },
        0.10,
        format!("{with_controls} of {} interventions have comparison campaigns", interventions.len()),
    );
    let total_w: f64 = c.values().map(|x| x.weight).sum();
    let score = c.values().map(|x| x.score * x.weight).sum::<f64>() / total_w;
    QualityReport { score, components: c, rejected, row_scores }
}

#[cfg(test)]
mod tests {
    use super::screen;
    use crate::domain::Platform;
    use crate::ingestion::DailyRow;

    fn row(day: u32, impressions: f64, clicks: f64) -> DailyRow {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, day).unwrap_or_default();
        DailyRow {
            platform: Platform::GoogleAds,
            campaign_id: "7".into(),
            campaign_name: None,
            date,
            timestamp: date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            spend: 10.0,
            impressions,
            clicks,
            conversions: 1.0,
            revenue: 0.0,
            extra: Default::default(),
        }
    }

    /// Clicks above the impressions reject a row; an export without impressions (0) does not
    /// (its clicks cannot be checked against them), as the store's own rule has it.
    #[test]
    fn clicks_are_checked_against_impressions_only_where_there_are_some() {
        let now = chrono::Utc::now();
        let s = screen(&[row(1, 100.0, 10.0), row(2, 5.0, 10.0), row(3, 0.0, 10.0)], now);
        let rejected: Vec<String> = s.rejected.iter().map(|r| r.reason.clone()).collect();
        assert_eq!(rejected, ["clicks (10) exceed impressions (5)"]);
        assert_eq!(s.accepted(3), [0, 2]);
    }
}
