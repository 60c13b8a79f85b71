#![allow(clippy::unwrap_used)]
//! Synthetic difference-in-differences on Prop 99 against the `synthdid` PyPI package 0.10.1 (a
//! port of R synthdid; tests/reference/scripts/sdid_prop99.py writes
//! tests/reference/sdid_prop99.json): the estimate (R synthdid and Arkhangelsky et al. 2021,
//! Table 1: -15.6038), every unit and time weight; the placebo standard error against the
//! package's own draws.

use liftos_estimators::data::Table;
use liftos_estimators::sdid::{self, SdidInput, SdidSe, SdidSettings};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference")
}

fn prop99() -> SdidInput {
    let t = Table::read_csv(&dir().join("data/smoking_prop99.csv")).unwrap();
    let unit = t.labels("state").unwrap();
    let time = t.integers("year").unwrap();
    let treatment = unit.iter().zip(&time).map(|(u, &y)| f64::from(u == "California" && y >= 1989)).collect();
    SdidInput { unit, time, outcome: t.numeric("cigsale").unwrap().to_vec(), treatment }
}

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("sdid_prop99.json")).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn prop99_estimate_and_weights_match_synthdid() {
    let r = reference();
    let fit = sdid::fit(&prop99(), &SdidSettings::default()).unwrap();
    // The published figure, and the package's unrounded estimate.
    assert!((fit.inference.estimate - -15.6038).abs() < 5e-5, "{}", fit.inference.estimate);
    assert!((fit.inference.estimate - r["att"].as_f64().unwrap()).abs() < 1e-9, "{}", fit.inference.estimate);
    let units: Vec<String> = r["units"].as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_string()).collect();
    let omega = floats(&r["omega"]);
    assert_eq!(fit.unit_weights.len(), omega.len());
    for (w, (u, o)) in fit.unit_weights.iter().zip(units.iter().zip(&omega)) {
        assert_eq!(&w.unit, u);
        assert!((w.weight - o).abs() < 1e-9, "{u}: {} vs {o}", w.weight);
    }
    let lambda = floats(&r["lambda"]);
    assert_eq!(fit.time_weights.len(), lambda.len());
    for (w, l) in fit.time_weights.iter().zip(&lambda) {
        assert!((w.weight - l).abs() < 1e-9, "{}: {} vs {l}", w.time, w.weight);
    }
    assert_eq!(fit.time_weights[0].time, 1970);
    assert_eq!(
        (fit.treatment_time, fit.n_treated, fit.n_control, fit.pre_periods, fit.post_periods),
        (1989, 1, 38, 19, 12)
    );
    // Plain DiD on the same panel (the paper's Table 1: -27.3).
    assert!((fit.did_estimate - -27.35).abs() < 0.01, "{}", fit.did_estimate);
}

#[test]
fn prop99_placebo_standard_error_is_within_the_packages_draws() {
    // synthdid's placebo_se (50 draws, five seeds): 7.5 to 10.1; 200 draws here.
    let r = reference();
    let theirs = floats(&r["se_placebo_50_draws"]);
    let (lo, hi) = theirs.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    for seed in [1u64, 2, 3] {
        let fit = sdid::fit(&prop99(), &SdidSettings { seed, ..SdidSettings::default() }).unwrap();
        let se = fit.inference.std_error.unwrap();
        assert!(se > lo * 0.8 && se < hi * 1.2, "seed {seed}: {se} outside [{lo}, {hi}] +/- 20%");
        let (a, b) = fit.inference.interval().unwrap();
        assert!((b - a - 2.0 * 1.959963984540054 * se).abs() < 1e-9);
    }
    // One treated unit: no jackknife, no bootstrap (as R synthdid); both name `se`.
    for se in [SdidSe::Jackknife, SdidSe::Bootstrap] {
        let e = sdid::fit(&prop99(), &SdidSettings { se, ..SdidSettings::default() }).unwrap_err();
        assert!(e.to_string().starts_with("se:"), "{e}");
    }
}
