#![allow(clippy::unwrap_used)]
//! The time-series counterfactual against statsmodels 0.15 `UnobservedComponents`
//! (`mle_regression=False`, approximate diffuse initialisation; tests/reference/scripts/
//! impact_statsmodels.py writes tests/reference/impact_statsmodels.json) on a simulated daily
//! series with two controls: for a local level, a local level with a weekly seasonal, and a local
//! linear trend, the log-likelihood at fixed parameters to 1e-8 (the filter), the maximised
//! log-likelihood to 1e-4 (ours no lower than 1e-4 below), the post-period forecast mean and
//! variance and the controls' filtered coefficients and variances at statsmodels' parameters to
//! 1e-6, and the forecast at our own maximum within 1e-4 of the series' scale.

use liftos_estimators::data::Table;
use liftos_estimators::impact::{self, ImpactInput, ImpactSettings};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference")
}

fn input() -> ImpactInput {
    let t = Table::read_csv(&dir().join("data/impact_sim.csv")).unwrap();
    ImpactInput {
        time: t.integers("day").unwrap(),
        outcome: t.numeric("sales").unwrap().to_vec(),
        controls: ["x1", "x2"].iter().map(|c| (c.to_string(), t.numeric(c).unwrap().to_vec())).collect(),
        treatment_time: 100,
    }
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn filter_likelihood_and_forecast_match_statsmodels() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("impact_statsmodels.json")).unwrap()).unwrap();
    let x = input();
    for (name, s) in [
        ("local_level", ImpactSettings::default()),
        ("local_level_seasonal7", ImpactSettings { season: Some(7), ..Default::default() }),
        ("local_linear_trend", ImpactSettings { trend: true, ..Default::default() }),
    ] {
        let spec = &r["specs"][name];
        let fixed = floats(&spec["fixed_params"]);
        let ll = impact::log_likelihood(&x, &s, &fixed).unwrap();
        let want = spec["loglike_at_fixed"].as_f64().unwrap();
        assert!((ll - want).abs() < 1e-8 * want.abs().max(1.0), "{name}: loglike {ll} vs {want}");
        let fit = impact::fit(&x, &s).unwrap();
        let llf = spec["llf"].as_f64().unwrap();
        assert!(fit.log_likelihood > llf - 1e-4, "{name}: llf {} vs statsmodels {llf}", fit.log_likelihood);
        assert!((fit.log_likelihood - llf).abs() < 1e-3, "{name}: llf {} vs statsmodels {llf}", fit.log_likelihood);
        assert_eq!(fit.loglikelihood_burn, spec["loglikelihood_burn"].as_u64().unwrap() as usize);
        // The forecast and the coefficients at statsmodels' parameters.
        let mean = floats(&spec["forecast_mean"]);
        let var = floats(&spec["forecast_var"]);
        let scale = mean.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let (fc, coef) = impact::plug_in(&x, &s, &floats(&spec["params"])).unwrap();
        assert_eq!(fc.len(), mean.len());
        for (t, ((pm, pv), (m, v))) in fc.iter().zip(mean.iter().zip(&var)).enumerate() {
            assert!((pm - m).abs() < 1e-6 * scale, "{name} {t}: {pm} vs {m}");
            assert!((pv - v).abs() < 1e-6 * v, "{name} {t}: var {pv} vs {v}");
        }
        let beta = floats(&spec["beta"]);
        let beta_var = floats(&spec["beta_var"]);
        for ((b_ours, se), (b, v)) in coef.iter().zip(beta.iter().zip(&beta_var)) {
            assert!((b_ours - b).abs() < 1e-6 * b.abs().max(1.0), "{name}: {b_ours} vs {b}");
            assert!((se * se - v).abs() < 1e-6 * v, "{name}: var {} vs {v}", se * se);
        }
        // And at our own maximum: the same forecast within 1e-4 of the series' scale.
        let ours: Vec<f64> = fit.params.iter().map(|p| p.value).collect();
        let (fc, _) = impact::plug_in(&x, &s, &ours).unwrap();
        for (t, ((pm, _), m)) in fc.iter().zip(&mean).enumerate() {
            assert!((pm - m).abs() < 1e-4 * scale, "{name} {t}: {pm} vs {m} at our maximum");
        }
        eprintln!("{name}: llf {} (statsmodels {llf}), estimate {}", fit.log_likelihood, fit.inference.estimate);
    }
}

/// Missing periods against statsmodels 0.15, which filters a NaN outcome as a missing observation
/// (tests/reference/scripts/impact_statsmodels_gaps.py writes
/// tests/reference/impact_statsmodels_gaps.json): the series above with days 20 and 63 absent (no
/// row) and days 41, 42 and 87 empty, and in the post-period day 110 absent and day 120 empty.
/// The log-likelihood at fixed parameters to 1e-8, the maximum to 1e-3 (ours no lower than 1e-4
/// below), the forecast at statsmodels' parameters to 1e-6 at every post period that has an
/// outcome (the seasonal's phase carried across the gaps); the missing periods are left out of
/// the series, the counts and the effect, and named in the inference.
#[test]
fn missing_periods_match_statsmodels_missing_observations() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("impact_statsmodels_gaps.json")).unwrap()).unwrap();
    let full = input();
    let (absent, empty) = ([20, 63, 110], [41, 42, 87, 120]);
    let mut x = full.clone();
    let keep: Vec<usize> = (0..full.time.len()).filter(|&i| !absent.contains(&full.time[i])).collect();
    x.time = keep.iter().map(|&i| full.time[i]).collect();
    x.outcome = keep.iter().map(|&i| if empty.contains(&full.time[i]) { f64::NAN } else { full.outcome[i] }).collect();
    for (c, (_, v)) in x.controls.iter_mut().zip(&full.controls) {
        c.1 = keep.iter().map(|&i| v[i]).collect();
    }
    for (name, s) in [
        ("local_level", ImpactSettings::default()),
        ("local_level_seasonal7", ImpactSettings { season: Some(7), ..Default::default() }),
        ("local_linear_trend", ImpactSettings { trend: true, ..Default::default() }),
    ] {
        let spec = &r["specs"][name];
        let ll = impact::log_likelihood(&x, &s, &floats(&spec["fixed_params"])).unwrap();
        let want = spec["loglike_at_fixed"].as_f64().unwrap();
        assert!((ll - want).abs() < 1e-8 * want.abs().max(1.0), "{name}: loglike {ll} vs {want}");
        let fit = impact::fit(&x, &s).unwrap();
        let llf = spec["llf"].as_f64().unwrap();
        assert!(fit.log_likelihood > llf - 1e-4, "{name}: llf {} vs statsmodels {llf}", fit.log_likelihood);
        assert!((fit.log_likelihood - llf).abs() < 1e-3, "{name}: llf {} vs statsmodels {llf}", fit.log_likelihood);
        let mean = floats(&spec["forecast_mean"]);
        let var = floats(&spec["forecast_var"]);
        let scale = mean.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let (fc, _) = impact::plug_in(&x, &s, &floats(&spec["params"])).unwrap();
        assert_eq!(fc.len(), mean.len());
        for (k, ((pm, pv), (m, v))) in fc.iter().zip(mean.iter().zip(&var)).enumerate() {
            let day = 100 + k as i64;
            if absent.contains(&day) || empty.contains(&day) {
                assert!(pm.is_nan() && pv.is_nan(), "{name} {day}: {pm}");
                continue;
            }
            assert!((pm - m).abs() < 1e-6 * scale, "{name} {day}: {pm} vs {m}");
            assert!((pv - v).abs() < 1e-6 * v, "{name} {day}: var {pv} vs {v}");
        }
        assert_eq!((fit.pre_periods, fit.post_periods, fit.inference.n_obs), (95, 28, 123), "{name}");
        assert_eq!(fit.series.len(), 123);
        assert!(fit
            .series
            .iter()
            .all(|p| !absent.contains(&p.time) && !empty.contains(&p.time) && p.observed.is_finite()));
        assert!(fit.inference.inference.contains("7 periods without an outcome"), "{}", fit.inference.inference);
        // The effect over the observed post periods: their observed sum minus the forecast's.
        let last = fit.series.last().unwrap();
        assert_eq!(last.time, 129);
        assert!((last.cumulative_effect.unwrap() - fit.cumulative).abs() < 1e-9);
        assert!((fit.inference.estimate - fit.cumulative / 28.0).abs() < 1e-12);
    }
    // A control missing where the outcome is there is refused, naming the row as given.
    let mut bad = x.clone();
    bad.controls[1].1[30] = f64::NAN;
    let e = impact::fit(&bad, &ImpactSettings::default()).unwrap_err().to_string();
    assert!(e.contains("x2 row 31 is missing"), "{e}");
    // Whole numbers that leave most periods without a row are not taken as periods.
    let mut sparse = x.clone();
    sparse.time = x.time.iter().map(|t| 10 * t).collect();
    sparse.treatment_time = 1000;
    let e = impact::fit(&sparse, &ImpactSettings::default()).unwrap_err().to_string();
    assert!(e.contains("have no row; the time column must number consecutive periods"), "{e}");
}
