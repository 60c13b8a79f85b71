#![allow(clippy::unwrap_used)]
//! Treatment effects under confounding against reference code on the same data
//! (tests/reference/effects_reference.json: statsmodels Logit/OLS-based ATE formulas; csdid's
//! DRDID estimators for the ATT), and by simulation.

use liftos_estimators::data::Table;
use liftos_estimators::effects::{self, EffectInput, EffectMethod, EffectSettings, Estimand};
use liftos_estimators::rng::Rng;
use liftos_estimators::Columns;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference")
}

fn input() -> EffectInput {
    let t = Table::read_csv(&dir().join("data/effects_sim.csv")).unwrap();
    let col = |n: &str| (n.to_string(), t.numeric(n).unwrap());
    EffectInput { outcome: col("y"), treatment: col("d"), covariates: t.columns(&["x1".into(), "x2".into()]).unwrap() }
}

#[test]
fn matches_reference_code() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("effects_reference.json")).unwrap()).unwrap();
    for (key, method, estimand) in [
        ("regression_ate", EffectMethod::Regression, Estimand::Ate),
        ("ipw_ate", EffectMethod::Ipw, Estimand::Ate),
        ("aipw_ate", EffectMethod::Aipw, Estimand::Ate),
        ("regression_att", EffectMethod::Regression, Estimand::Att),
        ("ipw_att", EffectMethod::Ipw, Estimand::Att),
        ("aipw_att", EffectMethod::Aipw, Estimand::Att),
    ] {
        let fit = effects::fit(&input(), &EffectSettings { method, estimand, alpha: 0.05, trim: 0.0 }).unwrap();
        let (est, se) = (r[key][0].as_f64().unwrap(), r[key][1].as_f64().unwrap());
        assert!(((fit.inference.estimate - est) / est).abs() < 1e-7, "{key}: {} vs {est}", fit.inference.estimate);
        assert!(
            ((fit.inference.std_error.unwrap() - se) / se).abs() < 1e-5,
            "{key}: se {} vs {se}",
            fit.inference.std_error.unwrap()
        );
        assert!(fit.e_value.estimate > 1.0 && fit.e_value.ci > 1.0);
        assert_eq!(fit.overlap.trimmed, 0);
        assert!(fit
            .overlap
            .balance
            .iter()
            .all(|b| b.smd_after.abs() < b.smd_before.abs() || b.smd_before.abs() < 0.05));
    }
    // Trimming drops units and says so; bad input names the column.
    let fit = effects::fit(&input(), &EffectSettings { trim: 0.2, ..EffectSettings::default() }).unwrap();
    assert!(fit.overlap.trimmed > 0 && fit.warnings.iter().any(|w| w.contains("trimmed")));
    // The ATT trims controls only (DRDID's convention): every treated unit stays, and the
    // warning says the estimand is still the effect on all the treated; the ATE's says it is
    // the overlap population's.
    let n_treated = input().treatment.1.iter().filter(|&&v| v == 1.0).count();
    let att =
        effects::fit(&input(), &EffectSettings { trim: 0.2, estimand: Estimand::Att, ..EffectSettings::default() })
            .unwrap();
    let kept_treated = att.overlap.trimmed <= input().treatment.1.len() - n_treated;
    assert!(att.overlap.trimmed > 0 && kept_treated, "{:?}", att.warnings);
    assert!(att.warnings.iter().any(|w| w.contains("control unit(s)") && w.contains("all the treated")));
    assert!(fit.warnings.iter().any(|w| w.contains("population with overlap")));
    let mut bad = input();
    bad.treatment.1[3] = 2.0;
    assert!(effects::fit(&bad, &EffectSettings::default()).unwrap_err().to_string().starts_with("d: row 4"));
}

/// Confounded assignment with a known ATE of 2: AIPW is unbiased with nominal coverage.
#[test]
fn aipw_unbiased_with_nominal_coverage() {
    let mut rng = Rng::new(15);
    let (reps, mut covered, mut sum) = (400, 0, 0.0);
    for _ in 0..reps {
        let n = 1000;
        let (mut y, mut d, mut x1, mut x2) = (vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            let (a, b) = (rng.normal(), rng.normal());
            let e = 1.0 / (1.0 + (-(0.6 * a - 0.5 * b)).exp());
            let t = if rng.uniform() < e { 1.0 } else { 0.0 };
            y.push(1.0 + 2.0 * t + 1.5 * a + b + rng.normal());
            d.push(t);
            x1.push(a);
            x2.push(b);
        }
        let input = EffectInput {
            outcome: ("y".into(), y.into()),
            treatment: ("d".into(), d.into()),
            covariates: Columns::new(vec![("x1".into(), x1), ("x2".into(), x2)]).unwrap(),
        };
        let fit = effects::fit(&input, &EffectSettings { trim: 0.0, ..EffectSettings::default() }).unwrap();
        sum += fit.inference.estimate;
        if fit.inference.ci_low.unwrap() <= 2.0 && 2.0 <= fit.inference.ci_high.unwrap() {
            covered += 1;
        }
    }
    let (bias, coverage) = (sum / reps as f64 - 2.0, covered as f64 / reps as f64);
    eprintln!("aipw: bias {bias:.4}, coverage {coverage:.3}");
    assert!(bias.abs() < 0.02, "bias {bias}");
    assert!((0.92..=0.98).contains(&coverage), "coverage {coverage}");
}

/// A real, confounded effect survives the refutations; a null effect does not pass the placebo test.
#[test]
fn refutations() {
    let settings = EffectSettings { trim: 0.0, ..EffectSettings::default() };
    let r = effects::refute(&input(), &settings, 7, 20).unwrap();
    let get = |n: &str| r.iter().find(|x| x.refuter == n).unwrap();
    assert!(get("placebo_treatment").new_estimate.abs() < 0.1, "{:?}", get("placebo_treatment"));
    assert!(get("placebo_treatment").survived);
    assert!(get("random_common_cause").survived, "{:?}", get("random_common_cause"));
    assert!(get("data_subset").survived, "{:?}", get("data_subset"));
    // No effect at all: the placebo distribution covers the estimate.
    let mut null = input();
    let mut rng = Rng::new(3);
    null.outcome.1 = (0..null.outcome.1.len()).map(|_| rng.normal()).collect();
    let r = effects::refute(&null, &settings, 7, 20).unwrap();
    assert!(!r.iter().find(|x| x.refuter == "placebo_treatment").unwrap().survived);
}
