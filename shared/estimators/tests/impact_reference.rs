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
