#![allow(clippy::unwrap_used)]
//! Detection and quality measured on simulated multi-channel data with known truth (the
//! simulator in `liftos::ingestion::simulate`): precision and recall of treatment detection
//! (change points alone, and with the change history) and of confounder detection (weekday
//! seasonality, trend), and the quality score on clean against degraded data.
//!
//! Thresholds are set below the measured figures with room for simulation noise; the figures
//! are printed (`cargo test -p liftos --test ingestion_detection -- --nocapture`).

use liftos::ingestion::detect::{detect_confounders, detect_treatments, DetectSettings};
use liftos::ingestion::quality::{assess, screen};
use liftos::ingestion::simulate::{simulate, Faults, SimSettings};
use liftos::ingestion::ChangeKind;

const RUNS: u64 = 40;

#[derive(Default, Debug)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
}

/// A detection matches a true intervention on the same campaign within 2 days.
fn score_treatments(history_share: f64, spend_noise: f64, min_change: f64, faults: Faults) -> (Counts, Counts) {
    let mut all = Counts::default();
    let mut budget_size_err = Counts::default(); // tp = sign and size within 25% relative
    for seed in 0..RUNS {
        let s =
            SimSettings { seed, history_share, spend_noise, min_change, faults: faults.clone(), ..Default::default() };
        let (batch, truth) = simulate(&s);
        // As the transform does: detection on the rows the screen accepts.
        let accepted: Vec<_> = screen(&batch.rows, truth.now)
            .accepted(batch.rows.len())
            .into_iter()
            .map(|i| batch.rows[i].clone())
            .collect();
        let found = detect_treatments(&accepted, &batch.changes, &DetectSettings::default());
        let mut matched = vec![false; found.len()];
        for t in &truth.interventions {
            let hit = found.iter().enumerate().find(|(i, f)| {
                !matched[*i]
                    && f.platform == t.platform
                    && f.campaign_id == t.campaign_id
                    && (f.date - t.date).num_days().abs() <= 2
            });
            match hit {
                Some((i, f)) => {
                    matched[i] = true;
                    all.tp += 1;
                    if t.kind == ChangeKind::BudgetChange {
                        let ok = f.size.is_some_and(|x| (x - t.size).abs() <= 0.25 * t.size.abs().max(0.1));
                        if ok {
                            budget_size_err.tp += 1;
                        } else {
                            budget_size_err.fp += 1;
                        }
                    }
                }
                None => all.fn_ += 1,
            }
        }
        all.fp += matched.iter().filter(|m| !**m).count();
    }
    (all, budget_size_err)
}

#[test]
fn treatment_detection_precision_and_recall() {
    let report = |name: &str, c: &Counts, size: &Counts| {
        println!(
            "treatments, {name}: precision {:.3} recall {:.3} ({c:?}); budget size within 25%: {}/{}",
            c.precision(),
            c.recall(),
            size.tp,
            size.tp + size.fp
        )
    };
    // Change points alone (no history), spend noise 8%, budget changes of 23% or more.
    let (cp, cp_size) = score_treatments(0.0, 0.08, 0.3, Faults::none());
    report("change points only, 8% noise", &cp, &cp_size);
    assert!(cp.recall() >= 0.95 && cp.precision() >= 0.95, "{cp:?}");
    assert!(cp_size.tp as f64 >= 0.9 * (cp_size.tp + cp_size.fp) as f64, "{cp_size:?}");
    // Harder: 20% day-to-day noise, changes from 17% down or 20% up, and degraded data.
    let (hard, hard_size) = score_treatments(0.0, 0.20, 0.2, Faults::degraded());
    report("change points only, 20% noise, degraded data", &hard, &hard_size);
    assert!(hard.recall() >= 0.8 && hard.precision() >= 0.8, "{hard:?}");
    // With the change history every intervention is recorded.
    let (hist, _) = score_treatments(1.0, 0.20, 0.2, Faults::degraded());
    report("with change history, 20% noise, degraded data", &hist, &Counts::default());
    assert!(hist.recall() >= 0.99 && hist.precision() >= 0.8, "{hist:?}");
}

fn score_confounders(weekday_strength: f64, trend_per_day: f64) -> (Counts, Counts) {
    let (mut dow, mut trend) = (Counts::default(), Counts::default());
    for seed in 0..RUNS {
        let s = SimSettings {
            seed: 1000 + seed,
            weekday_effect: seed % 2 == 0,
            weekday_strength,
            trend: (seed / 2) % 2 == 0,
            trend_per_day,
            history_share: 0.5,
            ..Default::default()
        };
        let (batch, truth) = simulate(&s);
        let found = detect_treatments(&batch.rows, &batch.changes, &DetectSettings::default());
        let conf = detect_confounders(&batch.rows, &batch.changes, &found, &[], &DetectSettings::default());
        for p in &s.platforms {
            let has = |name: &str| conf.iter().any(|c| c.name == name && c.platform == Some(*p));
            for (counts, detected, real) in
                [(&mut dow, has("day_of_week"), truth.weekday_effect), (&mut trend, has("trend"), truth.trend)]
            {
                match (detected, real) {
                    (true, true) => counts.tp += 1,
                    (true, false) => counts.fp += 1,
                    (false, true) => counts.fn_ += 1,
                    _ => {}
                }
            }
        }
        for c in &conf {
            assert!((0.0..=1.0).contains(&c.confidence), "{c:?}");
        }
    }
    (dow, trend)
}

#[test]
fn confounder_detection_precision_and_recall() {
    // Strong: weekend -25%, trend +0.4% a day; weak: weekend -8%, trend +0.1% a day (10% over
    // 90 days), both under 10% day-to-day noise in conversions.
    for (name, w, t, min_p, min_r) in [("strong", 0.25, 0.004, 0.95, 0.95), ("weak", 0.08, 0.001, 0.9, 0.8)] {
        let (dow, trend) = score_confounders(w, t);
        println!(
            "confounders ({name}), weekday: precision {:.3} recall {:.3} ({dow:?})",
            dow.precision(),
            dow.recall()
        );
        println!(
            "confounders ({name}), trend: precision {:.3} recall {:.3} ({trend:?})",
            trend.precision(),
            trend.recall()
        );
        assert!(dow.precision() >= min_p && dow.recall() >= min_r, "{name}: {dow:?}");
        assert!(trend.precision() >= min_p && trend.recall() >= min_r, "{name}: {trend:?}");
    }
}

#[test]
fn quality_separates_clean_from_degraded() {
    let (mut clean_min, mut degraded_max) = (f64::INFINITY, f64::NEG_INFINITY);
    for seed in 0..RUNS {
        let clean = SimSettings { seed: 2000 + seed, ..Default::default() };
        let degraded = SimSettings { faults: Faults::degraded(), ..clean.clone() };
        for (s, is_clean) in [(clean, true), (degraded, false)] {
            let (batch, truth) = simulate(&s);
            let found = detect_treatments(&batch.rows, &batch.changes, &DetectSettings::default());
            let q = assess(&batch.rows, &found, truth.now);
            if is_clean {
                clean_min = clean_min.min(q.score);
                assert!(q.rejected.is_empty(), "{:?}", q.rejected.first());
            } else {
                degraded_max = degraded_max.max(q.score);
                let future = q.rejected.iter().filter(|r| r.reason.contains("future")).count();
                let dups = q.rejected.iter().filter(|r| r.reason.contains("duplicate")).count();
                assert_eq!((future, dups), (s.faults.future_rows, s.faults.duplicates), "every injected fault found");
            }
        }
    }
    println!("quality: clean min {clean_min:.3}, degraded max {degraded_max:.3}");
    assert!(clean_min >= 0.95, "clean data scores at least 0.95: {clean_min}");
    assert!(degraded_max < clean_min - 0.1, "degraded {degraded_max} vs clean {clean_min}");
}

/// A promotions calendar the user supplies is found when promotions move conversions, and an
/// unrelated series is not.
#[test]
fn supplied_series_are_found_when_they_matter() {
    use liftos::ingestion::detect::ExternalSeries;
    use liftos_estimators::rng::Rng;
    let (mut promo, mut noise) = (Counts::default(), Counts::default());
    for seed in 0..RUNS {
        let s = SimSettings { seed: 3000 + seed, ..Default::default() };
        let (mut batch, truth) = simulate(&s);
        let mut rng = Rng::new(seed);
        let days: std::collections::BTreeSet<_> = batch.rows.iter().map(|r| r.date).collect();
        let promo_days: std::collections::BTreeSet<_> = days.iter().copied().filter(|_| rng.uniform() < 0.15).collect();
        let effective = seed % 2 == 0;
        if effective {
            for r in &mut batch.rows {
                if promo_days.contains(&r.date) {
                    r.conversions *= 1.25;
                }
            }
        }
        let calendar = ExternalSeries {
            name: "promotion".into(),
            values: days.iter().map(|d| (*d, f64::from(u8::from(promo_days.contains(d))))).collect(),
        };
        let unrelated =
            ExternalSeries { name: "weather".into(), values: days.iter().map(|d| (*d, rng.normal())).collect() };
        let found = detect_treatments(&batch.rows, &batch.changes, &DetectSettings::default());
        let conf =
            detect_confounders(&batch.rows, &batch.changes, &found, &[calendar, unrelated], &DetectSettings::default());
        let _ = truth;
        for p in &s.platforms {
            let has = |n: &str| conf.iter().any(|c| c.name == n && c.platform == Some(*p));
            match (has("promotion"), effective) {
                (true, true) => promo.tp += 1,
                (true, false) => promo.fp += 1,
                (false, true) => promo.fn_ += 1,
                _ => {}
            }
            if has("weather") {
                noise.fp += 1;
            }
        }
    }
    println!(
        "supplied series: promotion precision {:.3} recall {:.3} ({promo:?}); unrelated series flagged {} of {}",
        promo.precision(),
        promo.recall(),
        noise.fp,
        RUNS * 3
    );
    assert!(promo.precision() >= 0.9 && promo.recall() >= 0.9, "{promo:?}");
    assert!(noise.fp <= 3, "{noise:?}");
}
