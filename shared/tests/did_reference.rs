#![allow(clippy::unwrap_used)]
//! DiD against reference implementations on the same data.
//! - mpdta (R `did::mpdta`, 500 counties x 2003-2007): pyfixest 0.60.0
//!   `feols("lemp ~ treat_post | countyreal + year", vcov={"CRV1": "countyreal"})`, figures in
//!   tests/reference/reference.json (`mpdta_did.twfe`).

use liftos::estimators::data::Table;
use liftos::estimators::did::{twfe, DidSettings, PanelInput};
use liftos::estimators::ols::SeKind;
use liftos::estimators::panel::factorize;
use std::path::PathBuf;

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/reference")
}

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(reference_dir().join("reference.json")).unwrap()).unwrap()
}

fn mpdta() -> PanelInput {
    let t = Table::read_csv(&reference_dir().join("data/mpdta.csv")).unwrap();
    let (unit, unit_labels) = factorize(&t.labels("countyreal").unwrap());
    let time = t.integers("year").unwrap();
    let first = t.integers("first.treat").unwrap();
    let treatment = time.iter().zip(&first).map(|(&y, &g)| if g > 0 && y >= g { 1.0 } else { 0.0 }).collect();
    PanelInput { unit, unit_labels, time, outcome: t.numeric("lemp").unwrap(), treatment, cluster: None }
}

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

#[test]
fn twfe_matches_pyfixest_on_mpdta() {
    let r = &reference()["mpdta_did"]["twfe"];
    let fit = twfe::fit(&mpdta(), &DidSettings::default()).unwrap();
    let coef = r["pyfixest_coef"].as_f64().unwrap();
    let se = r["pyfixest_se_crv1_county"].as_f64().unwrap();
    assert!(rel(fit.estimate, coef) < 1e-9, "{} vs {coef}", fit.estimate);
    assert!(rel(fit.std_error, se) < 1e-6, "{} vs {se}", fit.std_error);
    assert_eq!((fit.n_obs, fit.n_units, fit.n_periods, fit.n_clusters), (2500, 500, 5, Some(500)));
    assert_eq!(fit.df, 499.0);
    assert!(fit.balanced);
    assert_eq!(fit.estimator, "twfe");
    assert!(fit.ci_low < fit.estimate && fit.estimate < fit.ci_high);
    let _ = SeKind::Hc1;
}
