#![allow(clippy::unwrap_used)]
//! Synthetic control on Prop 99 against pysyncon (tests/reference/reference.json `prop99_synth`):
//! with V fixed the weights are a convex problem and must match; with V optimised the
//! pre-period RMSPE must be no worse than the best reference (BFGS, 2.024).

use liftos_estimators::data::Table;
use liftos_estimators::synth::{self, Predictor, SynthInput, SynthSettings};
use std::collections::HashMap;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference")
}

fn input() -> SynthInput {
    let t = Table::read_csv(&dir().join("data/smoking_prop99.csv")).unwrap();
    let mut columns = HashMap::new();
    for c in ["cigsale", "lnincome", "beer", "age15to24", "retprice"] {
        columns.insert(c.to_string(), t.numeric_or_missing(c).unwrap());
    }
    SynthInput {
        unit: t.labels("state").unwrap(),
        time: t.integers("year").unwrap(),
        outcome: "cigsale".into(),
        columns,
        treated_units: vec!["California".into()],
        treatment_time: 1989,
    }
}

fn adh_predictors() -> Vec<Predictor> {
    let p = |c: &str, a: i64, b: i64| Predictor { column: c.into(), start: a, end: b };
    vec![
        p("lnincome", 1980, 1988),
        p("age15to24", 1980, 1988),
        p("retprice", 1980, 1988),
        p("beer", 1984, 1988),
        p("cigsale", 1975, 1975),
        p("cigsale", 1980, 1980),
        p("cigsale", 1988, 1988),
    ]
}

/// Abadie, Diamond and Hainmueller's specification (predictors, fit over 1970-1988) with V given.
fn adh_fixed_v(v: &[f64]) -> SynthSettings {
    SynthSettings {
        predictors: adh_predictors(),
        fit_window: Some((1970, 1988)),
        v: Some(v.to_vec()),
        ..SynthSettings::default()
    }
}

fn reference() -> serde_json::Value {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap()).unwrap();
    r["prop99_synth"].clone()
}

#[test]
fn fixed_v_weights_match_pysyncon() {
    let r = reference();
    let v: Vec<f64> =
        r["fixed_V"]["V_from_bfgs_ols"]["V_diag"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let s = adh_fixed_v(&v);
    let fit = synth::fit(&input(), &s).unwrap();
    let want: std::collections::BTreeMap<String, f64> = r["fixed_V"]["V_from_bfgs_ols"]["weights_full_precision"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect();
    // pysyncon solves the QP with SLSQP (scipy's default tolerances); Clarabel's interior point
    // reaches the optimum more tightly. Same support, weights within 0.005, and an objective no
    // worse than pysyncon's.
    let ours = synth::predictor_loss(&input(), &s, &fit.weights, &v).unwrap();
    let theirs = synth::predictor_loss(&input(), &s, &want, &v).unwrap();
    eprintln!("predictor loss ours {ours:.10} vs pysyncon {theirs:.10}");
    assert!(ours <= theirs * (1.0 + 1e-9), "{ours} vs {theirs}");
    for (state, w) in &want {
        let got = fit.weights[state];
        assert!((got - w).abs() < 5e-3, "{state}: {got} vs {w}");
        assert_eq!(got > 1e-3, *w > 1e-3, "{state}: support differs");
    }
    let bfgs = &r["nested_optimisation"]["bfgs_ols"];
    assert!((fit.pre_rmspe - bfgs["pre_rmspe_1970_1988"].as_f64().unwrap()).abs() < 0.02, "{}", fit.pre_rmspe);
    assert!(
        (fit.inference.estimate - bfgs["avg_post_gap_1989_2000"].as_f64().unwrap()).abs() < 0.2,
        "{}",
        fit.inference.estimate
    );
}

#[test]
fn nested_v_reaches_the_best_reference_fit() {
    let r = reference();
    let s = SynthSettings { predictors: adh_predictors(), fit_window: Some((1970, 1988)), ..SynthSettings::default() };
    let fit = synth::fit(&input(), &s).unwrap();
    let best = r["nested_optimisation"]["bfgs_ols"]["pre_rmspe_1970_1988"].as_f64().unwrap();
    eprintln!(
        "pre-RMSPE {} (reference best {best}), weights {:?}, solves {}",
        fit.pre_rmspe,
        fit.weights.iter().filter(|(_, w)| **w > 1e-3).collect::<Vec<_>>(),
        fit.qp_solves
    );
    assert!(fit.pre_rmspe <= best + 1e-4, "pre-RMSPE {} worse than the reference {best}", fit.pre_rmspe);
    assert!((fit.weights.values().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(fit.weights.values().all(|w| *w >= 0.0));
}

#[test]
fn active_set_matches_interior_point_on_random_v() {
    let mut seed = 12345u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 / (1u64 << 53) as f64).powi(3) + 1e-4
    };
    for _ in 0..40 {
        let v: Vec<f64> = (0..7).map(|_| next()).collect();
        let s = adh_fixed_v(&v);
        let fit = synth::fit(&input(), &s).unwrap();
        let ip = synth::interior_point_weights(&input(), &s, &v).unwrap();
        let ours = synth::predictor_loss(&input(), &s, &fit.weights, &v).unwrap();
        let theirs = synth::predictor_loss(&input(), &s, &ip, &v).unwrap();
        eprintln!("{ours:.12} {theirs:.12} ip={}", fit.interior_point_solves);
        assert!(ours <= theirs + 1e-10 * (1.0 + theirs), "active set {ours} vs interior point {theirs}");
    }
}

fn outcome_only() -> SynthSettings {
    SynthSettings { fit_window: Some((1970, 1988)), augmented: true, ..SynthSettings::default() }
}

/// Augmented (ridge) synthetic control against pysyncon 1.7.0 `AugSynth` (augsynth's
/// progfunc="Ridge", no covariates; tests/reference/scripts/augsynth_pysyncon.py): the same
/// cross-validated lambda on the same grid, and the same weights and effect for given lambdas.
/// pysyncon solves the plain synthetic control with SLSQP, ours is exact: weights within 2e-3.
#[test]
fn augmented_matches_pysyncon_augsynth() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("augsynth_pysyncon.json")).unwrap()).unwrap();
    for case in ["cv", "lambda_1000", "lambda_50"] {
        let want = &r[case];
        let lambda = want["lambda"].as_f64().unwrap();
        let s = SynthSettings { ridge_lambda: (case != "cv").then_some(lambda), ..outcome_only() };
        let fit = synth::fit(&input(), &s).unwrap();
        let aug = fit.augmented.as_ref().unwrap();
        eprintln!("{case}: lambda {} vs {lambda}, att {} vs {}", aug.ridge_lambda, fit.inference.estimate, want["att"]);
        assert!((aug.ridge_lambda - lambda).abs() < 1e-6 * lambda, "{case}: lambda {} vs {lambda}", aug.ridge_lambda);
        assert_eq!(aug.lambda_source, if case == "cv" { "cross-validation" } else { "given" });
        assert!(
            (fit.inference.estimate - want["att"].as_f64().unwrap()).abs() < 0.05,
            "{case}: {}",
            fit.inference.estimate
        );
        for (state, w) in want["weights"].as_object().unwrap() {
            let got = fit.weights[state];
            assert!((got - w.as_f64().unwrap()).abs() < 2e-3, "{case} {state}: {got} vs {w}");
        }
        for (state, w) in want["scm_weights"].as_object().unwrap() {
            let got = aug.scm_weights[state];
            assert!((got - w.as_f64().unwrap()).abs() < 2e-3, "{case} scm {state}: {got} vs {w}");
        }
        // The ridge correction keeps the weights summing to one (it is orthogonal to the
        // donor-mean direction) and improves the pre-period fit.
        assert!((fit.weights.values().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(fit.pre_rmspe < aug.scm_pre_rmspe);
    }
}

/// Several treated units are pooled: the same as fitting their average as one unit.
#[test]
fn pooled_treated_units_equal_their_average_as_one_unit() {
    let base = input();
    let treated = ["California", "Nevada", "Utah"];
    let pooled = SynthInput { treated_units: treated.iter().map(|s| s.to_string()).collect(), ..base.clone() };
    let s = adh_fixed_v(&[1.0; 7]);
    let fit_pooled = synth::fit(&pooled, &s).unwrap();
    // Build the average unit by hand.
    let mut avg = SynthInput { treated_units: vec!["AVG".into()], ..base.clone() };
    let keep: Vec<usize> = (0..base.unit.len()).filter(|&i| !treated.contains(&base.unit[i].as_str())).collect();
    avg.unit = keep.iter().map(|&i| base.unit[i].clone()).collect();
    avg.time = keep.iter().map(|&i| base.time[i]).collect();
    for (k, col) in avg.columns.iter_mut() {
        *col = keep.iter().map(|&i| base.columns[k][i]).collect();
    }
    // Add the average (and keep the treated units' rows out: their scaling contribution is
    // replaced, so use the same scaling by giving the predictors as raw means: compare on
    // outcomes, which are unscaled).
    let years: Vec<i64> = (1970..=2000).collect();
    for &y in &years {
        avg.unit.push("AVG".into());
        avg.time.push(y);
        for (k, col) in avg.columns.iter_mut() {
            let vals: Vec<f64> = (0..base.unit.len())
                .filter(|&i| treated.contains(&base.unit[i].as_str()) && base.time[i] == y)
                .map(|i| base.columns[k][i])
                .collect();
            let mut v = col.to_vec();
            v.push(vals.iter().sum::<f64>() / vals.len() as f64);
            *col = v.into();
        }
    }
    assert_eq!(fit_pooled.treated_unit, "pooled(California+Nevada+Utah)");
    assert!(!fit_pooled.weights.contains_key("Nevada") && !fit_pooled.weights.contains_key("Utah"));
    // With the outcome-only augmented estimator there is no predictor scaling: exact equality.
    let a = synth::fit(&pooled, &SynthSettings { ridge_lambda: Some(100.0), ..outcome_only() }).unwrap();
    let b = synth::fit(&avg, &SynthSettings { ridge_lambda: Some(100.0), ..outcome_only() }).unwrap();
    assert!(
        (a.inference.estimate - b.inference.estimate).abs() < 1e-9,
        "{} vs {}",
        a.inference.estimate,
        b.inference.estimate
    );
    for (state, w) in &a.weights {
        assert!((w - b.weights[state]).abs() < 1e-9, "{state}");
    }
    for (ga, gb) in a.gaps.iter().zip(&b.gaps) {
        assert!((ga.gap - gb.gap).abs() < 1e-9);
    }
    assert!(fit_pooled.pre_rmspe.is_finite() && fit_pooled.inference.estimate.is_finite());
}

/// Placebo-in-time and leave-one-out on Prop 99: the fake 1980 treatment shows a far smaller
/// effect than the real one, and dropping any donor keeps the effect negative.
#[test]
fn placebo_in_time_and_leave_one_out() {
    let s = SynthSettings {
        predictors: adh_predictors(),
        fit_window: Some((1970, 1988)),
        v: Some(
            reference()["fixed_V"]["V_from_bfgs_ols"]["V_diag"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect(),
        ),
        placebo_time: Some(1980),
        leave_one_out: true,
        ..SynthSettings::default()
    };
    let fit = synth::fit(&input(), &s).unwrap();
    let pt = fit.placebo_in_time.as_ref().unwrap();
    eprintln!("estimate {} placebo-in-time {:?}", fit.inference.estimate, pt);
    assert_eq!(pt.placebo_time, 1980);
    assert!(pt.passed, "{pt:?}");
    assert!(pt.estimate.abs() < 0.3 * fit.inference.estimate.abs());
    let loo = fit.leave_one_out.as_ref().unwrap();
    let positive = fit.weights.values().filter(|w| **w > 1e-6).count();
    assert_eq!(loo.fits.len(), positive);
    assert!(loo.survived, "{loo:?}");
    assert!(loo.min_estimate <= fit.inference.estimate && fit.inference.estimate <= loo.max_estimate);
    for f in &loo.fits {
        assert!(f.estimate < 0.0, "{f:?}");
    }
    // A placebo date after the treatment, or with too little before it, is refused.
    for bad in [1989, 1971, 1960] {
        let e = synth::fit(&input(), &SynthSettings { placebo_time: Some(bad), ..s.clone() }).unwrap_err();
        assert!(matches!(&e, synth::SynthError::InvalidInput { column, .. } if column == "placebo_time"), "{e}");
    }
}

/// Conformal inference on Prop 99 at 90% against pysyncon 1.7's ConformalInference with exact
/// simplex weights (tests/reference/scripts/synth_conformal.py writes
/// tests/reference/synth_conformal.json): the outcome-matched estimate, the p-value of no effect
/// (moving blocks; the script's numpy rendering of augsynth's test) exactly, every per-period
/// interval within pysyncon's root-search tolerance (0.01) plus ours, and the average's upper end
/// within one step of the script's grid (its lower end lies at that grid's edge; ours, on a
/// widened grid, is beyond it).
#[test]
fn conformal_intervals_match_pysyncon() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("synth_conformal.json")).unwrap()).unwrap();
    let s = SynthSettings { v: None, conformal: true, alpha: 0.1, ..SynthSettings::default() };
    let mut input = input();
    input.columns.retain(|k, _| k == "cigsale");
    let fit = synth::fit(&input, &s).unwrap();
    assert!((fit.inference.estimate - r["estimate"].as_f64().unwrap()).abs() < 1e-4, "{}", fit.inference.estimate);
    assert_eq!(fit.conformal_p_value, r["p_value_no_effect"].as_f64());
    assert_eq!(fit.inference.p_value, fit.conformal_p_value);
    for p in r["per_period"].as_array().unwrap() {
        let t = p["time"].as_i64().unwrap();
        let g = fit.gaps.iter().find(|g| g.time == t).unwrap();
        for (ours, theirs) in [(g.ci_low, &p["ci_low"]), (g.ci_high, &p["ci_high"])] {
            let (a, b) = (ours.unwrap(), theirs.as_f64().unwrap());
            assert!((a - b).abs() < 0.02, "{t}: {a} vs pysyncon {b}");
        }
    }
    let step = r["average_ci_grid_step"].as_f64().unwrap();
    let ci = r["average_ci"].as_array().unwrap();
    let hi = fit.conformal_ci_high.unwrap();
    assert!((hi - ci[1].as_f64().unwrap()).abs() <= step, "{hi}");
    assert!(fit.conformal_ci_low.is_none_or(|lo| lo <= ci[0].as_f64().unwrap() + step));
    assert_eq!(fit.conformal_level, Some(0.9));
}

/// What a demanding user should be told: a predictor measured after the treatment is refused
/// naming `predictors`; a treated unit outside the donors' range and more donors than fit periods
/// are warned about; the augmented fit's placebo test gives no p-value (it over-rejects).
#[test]
fn predictors_past_the_treatment_are_refused_and_fits_warn() {
    let p = |c: &str, a: i64, b: i64| Predictor { column: c.into(), start: a, end: b };
    let s = SynthSettings { predictors: vec![p("lnincome", 1980, 1990)], ..SynthSettings::default() };
    let e = synth::fit(&input(), &s).unwrap_err();
    assert!(matches!(&e, synth::SynthError::InvalidInput { column, .. } if column == "predictors"), "{e}");
    // 38 donors for 19 pre-periods.
    let fit = synth::fit(&input(), &SynthSettings { v: Some(vec![1.0; 19]), ..SynthSettings::default() }).unwrap();
    assert!(fit.warnings.iter().any(|w| w.starts_with("38 donors for 19 fit periods")), "{:?}", fit.warnings);
    // Utah has the lowest sales of all: outside the donors' range when treated.
    let mut x = input();
    x.treated_units = vec!["Utah".into()];
    let fit = synth::fit(&x, &SynthSettings { v: Some(vec![1.0; 19]), ..SynthSettings::default() }).unwrap();
    assert!(fit.warnings.iter().any(|w| w.contains("outside the donors' range")), "{:?}", fit.warnings);
    let s =
        SynthSettings { augmented: true, placebo: true, fit_window: Some((1980, 1988)), ..SynthSettings::default() };
    let mut x = input();
    x.columns.retain(|k, _| k == "cigsale");
    let fit = synth::fit(&x, &s).unwrap();
    assert!(fit.placebo_p_value.is_none() && fit.inference.p_value.is_none());
    assert!(fit.placebos.as_ref().is_some_and(|p| p.len() == 38));
}

/// The same answer in any units: the outcome in thousands, in millionths and x10,000 (V searched,
/// the ADH predictors with the outcome years among them) gives the same weights, and the
/// estimate and RMSPEs in the outcome's units. The V search used to stop when its losses differed
/// by 1e-10 of (1 + the loss), so on outcomes of small numbers it stopped early: the outcome in
/// thousands of packs gave an estimate of -19.84 instead of -19.56 (in packs).
#[test]
fn the_fit_does_not_depend_on_the_outcomes_units() {
    let s = SynthSettings { predictors: adh_predictors(), fit_window: Some((1970, 1988)), ..SynthSettings::default() };
    let base = synth::fit(&input(), &s).unwrap();
    for a in [1e-3, 1e-6, 1e4] {
        let mut x = input();
        x.columns.get_mut("cigsale").unwrap().mapv_inplace(|v| v * a);
        let fit = synth::fit(&x, &s).unwrap();
        for (unit, w) in &base.weights {
            assert!((fit.weights[unit] - w).abs() < 1e-4, "x{a}: {unit} weight {} vs {w}", fit.weights[unit]);
        }
        let e = fit.inference.estimate / a;
        eprintln!(
            "x{a}: estimate {e} vs {}, pre-RMSPE {} vs {}",
            base.inference.estimate,
            fit.pre_rmspe / a,
            base.pre_rmspe
        );
        assert!((e - base.inference.estimate).abs() < 1e-4 * base.inference.estimate.abs(), "x{a}: {e}");
        let r = fit.pre_rmspe / a;
        assert!((r - base.pre_rmspe).abs() < 1e-6 * base.pre_rmspe, "x{a}: pre-RMSPE {r} vs {}", base.pre_rmspe);
    }
}
