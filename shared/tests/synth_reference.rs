#![allow(clippy::unwrap_used)]
//! Synthetic control on Prop 99 against pysyncon (tests/reference/reference.json `prop99_synth`):
//! with V fixed the weights are a convex problem and must match; with V optimised the
//! pre-period RMSPE must be no worse than the best reference (BFGS, 2.024).

use liftos::estimators::data::Table;
use liftos::estimators::synth::{self, Predictor, SynthInput, SynthSettings};
use std::collections::HashMap;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/reference")
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
        treated_unit: "California".into(),
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
    let s = SynthSettings {
        predictors: adh_predictors(),
        fit_window: Some((1970, 1988)),
        v: Some(v.clone()),
        ..SynthSettings::default()
    };
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
    assert!((fit.estimate - bfgs["avg_post_gap_1989_2000"].as_f64().unwrap()).abs() < 0.2, "{}", fit.estimate);
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
