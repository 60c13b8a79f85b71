#![allow(clippy::unwrap_used)]
//! 2SLS against linearmodels 7.1 on simulated data (tests/reference/data/iv_sim.csv; figures and
//! calls in tests/reference/iv_linearmodels.json).

use liftos_estimators::data::Table;
use liftos_estimators::iv::weak::ArSet;
use liftos_estimators::iv::{self, IvInput, IvSettings};
use liftos_estimators::ols::SeKind;
use liftos_estimators::panel::factorize;
use liftos_estimators::Columns;
use ndarray::ArrayView1;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference")
}

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

fn input() -> IvInput {
    let t = Table::read_csv(&dir().join("data/iv_sim.csv")).unwrap();
    let col = |n: &str| (n.to_string(), t.numeric(n).unwrap());
    let (g, levels) = factorize(&t.integers("g").unwrap());
    IvInput {
        outcome: col("y"),
        endogenous: t.columns(&["x".into()]).unwrap(),
        instruments: t.columns(&["z1".into(), "z2".into()]).unwrap(),
        controls: t.columns(&["w1".into()]).unwrap(),
        cluster: Some((g, levels.len())),
    }
}

#[test]
fn matches_linearmodels() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("iv_linearmodels.json")).unwrap()).unwrap();
    for (key, se) in [("unadjusted", SeKind::Classical), ("robust", SeKind::Hc1), ("clustered", SeKind::Cluster)] {
        let fit = iv::fit(&input(), &IvSettings { se, alpha: 0.05 }).unwrap();
        let want = &r[key];
        for c in &fit.coefficients {
            let name = if c.name == "intercept" { "const" } else { c.name.as_str() };
            let (b, s) = (want["params"][name].as_f64().unwrap(), want["std_errors"][name].as_f64().unwrap());
            assert!(rel(c.estimate, b) < 1e-9, "{key} {name}: {} vs {b}", c.estimate);
            assert!(rel(c.std_error, s) < 1e-6, "{key} {name} se: {} vs {s}", c.std_error);
        }
        let fs = &fit.first_stage[0];
        // linearmodels reports the classical first-stage statistic as F = W/q but the robust and
        // clustered ones as the Wald chi-squared W; ours is F = W/q throughout.
        let f = if se == SeKind::Classical { fs.f_stat } else { fs.f_stat_robust * fs.df.0 };
        assert!(
            rel(f, want["first_stage_f"].as_f64().unwrap()) < 1e-6,
            "{key} first-stage F {f} vs {}",
            want["first_stage_f"]
        );
        assert!(rel(fs.partial_r2, want["partial_r2"].as_f64().unwrap()) < 1e-9, "{key} partial R2");
        if key == "unadjusted" {
            assert!(rel(fit.sargan.unwrap(), want["sargan"].as_f64().unwrap()) < 1e-6, "sargan {:?}", fit.sargan);
            assert!(
                rel(fit.wu_hausman_f, want["wu_hausman"].as_f64().unwrap()) < 1e-6,
                "wu-hausman {}",
                fit.wu_hausman_f
            );
            assert!(rel(fit.endogeneity_p_value, want["wu_hausman_pval"].as_f64().unwrap()) < 1e-4);
            assert!(rel(fit.durbin_chi2, want["durbin"].as_f64().unwrap()) < 1e-6, "durbin {}", fit.durbin_chi2);
        }
    }
    let fit = iv::fit(&input(), &IvSettings::default()).unwrap();
    let j = r["gmm"]["j_stat"].as_f64().unwrap();
    assert!(rel(fit.hansen_j.unwrap(), j) < 1e-6, "hansen J {:?} vs {j}", fit.hansen_j);
}

/// Known truth: z1, z2 valid and strong; z3 strong but correlated with the confounder (invalid);
/// z4 irrelevant noise.
#[test]
fn identify_instruments_ranks_and_flags() {
    use liftos_estimators::rng::Rng;
    let mut rng = Rng::new(99);
    let n = 5000;
    let mut cols: Vec<Vec<f64>> = (0..6).map(|_| Vec::with_capacity(n)).collect();
    for _ in 0..n {
        let (z1, z2, z4, u) = (rng.normal(), rng.normal(), rng.normal(), rng.normal());
        let z3 = 0.8 * u + 0.6 * rng.normal();
        let x = 0.6 * z1 + 0.4 * z2 + 0.5 * z3 + u + rng.normal();
        let y = 1.0 + 2.0 * x + 2.0 * u + rng.normal();
        for (c, v) in cols.iter_mut().zip([y, x, z1, z2, z3, z4]) {
            c.push(v);
        }
    }
    let cands = Columns::new(
        ["z1", "z2", "z3", "z4"].iter().zip(&cols[2..]).map(|(n, c)| (n.to_string(), c.clone())).collect(),
    )
    .unwrap();
    let (y, x) = (ArrayView1::from(&cols[0]), ArrayView1::from(&cols[1]));
    let reports = iv::identify_instruments(("y", y), ("x", x), &cands, &Columns::default(), 0.05).unwrap();
    let get = |n: &str| reports.iter().find(|r| r.name == n).unwrap();
    assert!(!get("z4").relevant, "{:?}", get("z4"));
    assert_eq!(reports.last().unwrap().name, "z4", "ranked by strength");
    assert_eq!(get("z3").passes_exogeneity, Some(false), "{:?}", get("z3"));
    assert!(get("z1").relevant);
    assert!(get("z3").reasons.iter().any(|r| r.contains("exogeneity")));
}

/// The Anderson-Rubin test and confidence set against ivmodels 0.10.0 (PyPI;
/// `tests/reference/scripts/anderson_rubin.py`, figures in anderson_rubin_ivmodels.json):
/// classical errors, F critical values, the control and intercept partialled out; two strong
/// instruments, one, and a weak one (first-stage coefficient 0.05, n = 300) whose set is the
/// whole line.
#[test]
fn anderson_rubin_matches_ivmodels() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("anderson_rubin_ivmodels.json")).unwrap()).unwrap();
    let weak = Table::read_csv(&dir().join("data/iv_weak.csv")).unwrap();
    let cases = [
        ("strong", input()),
        ("z2_only", IvInput { instruments: input().instruments.select(&[1]), ..input() }),
        ("weak", {
            let col = |n: &str| (n.to_string(), weak.numeric(n).unwrap());
            IvInput {
                outcome: col("y"),
                endogenous: weak.columns(&["x".into()]).unwrap(),
                instruments: weak.columns(&["z".into()]).unwrap(),
                controls: weak.columns(&["w1".into()]).unwrap(),
                cluster: None,
            }
        }),
    ];
    for (name, inp) in cases {
        let want = &r[name];
        for alpha in [0.05, 0.1] {
            let fit = iv::fit(&inp, &IvSettings { se: SeKind::Classical, alpha }).unwrap();
            let ar = fit.anderson_rubin.as_ref().unwrap();
            let (s0, p0) =
                (want["beta_0.0"]["statistic"].as_f64().unwrap(), want["beta_0.0"]["p_value"].as_f64().unwrap());
            assert!(rel(ar.ar_statistic, s0) < 1e-9, "{name}: AR {} vs {s0}", ar.ar_statistic);
            assert!((ar.ar_p_value - p0).abs() < 1e-9, "{name}: p {} vs {p0}", ar.ar_p_value);
            let b: Vec<f64> = want[format!("ci_{alpha}")]["boundary"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            if b.is_empty() {
                assert_eq!(ar.ar_confidence_set, ArSet::WholeLine, "{name}");
                assert!(ar.ar_ci_low.is_none() && ar.ar_ci_high.is_none());
            } else {
                assert_eq!(ar.ar_confidence_set, ArSet::Bounded, "{name}");
                assert!((ar.ar_ci_low.unwrap() - b[0]).abs() < 1e-6, "{name} {alpha}: {:?} vs {b:?}", ar.ar_ci_low);
                assert!((ar.ar_ci_high.unwrap() - b[1]).abs() < 1e-6, "{name} {alpha}: {:?} vs {b:?}", ar.ar_ci_high);
            }
            // With classical errors the effective F is the first-stage F.
            assert_eq!(fit.effective_f, Some(fit.first_stage[0].f_stat));
        }
        // Robust and clustered: the same test from the robust Wald statistic; the set inverts it.
        for se in [SeKind::Hc1, SeKind::Cluster] {
            if se == SeKind::Cluster && inp.cluster.is_none() {
                continue;
            }
            let fit = iv::fit(&inp, &IvSettings { se, alpha: 0.05 }).unwrap();
            let ar = fit.anderson_rubin.as_ref().unwrap();
            assert!(ar.ar_p_value.is_finite() && fit.effective_f.is_some_and(|f| f > 0.0));
            if let (Some(lo), Some(hi)) = (ar.ar_ci_low, ar.ar_ci_high) {
                assert!(lo < hi, "{name} {se:?}");
                if ar.ar_confidence_set == ArSet::Bounded {
                    assert!(lo < fit.inference.estimate && fit.inference.estimate < hi, "{name} {se:?}");
                }
            }
        }
    }
}

/// The endogeneity test follows the chosen errors: with robust or clustered errors it is the
/// control-function Wald test, against linearmodels 7.1's `wooldridge_regression`
/// (`tests/reference/scripts/iv_endogeneity.py`; linearmodels reports the chi-squared W, ours is
/// F = W / p with the same W).
#[test]
fn robust_endogeneity_test_matches_linearmodels() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("iv_endogeneity_linearmodels.json")).unwrap())
            .unwrap();
    for (key, se) in [("robust", SeKind::Hc1), ("clustered", SeKind::Cluster)] {
        let fit = iv::fit(&input(), &IvSettings { se, alpha: 0.05 }).unwrap();
        let want = r[key]["stat"].as_f64().unwrap();
        assert!(rel(fit.endogeneity_statistic, want) < 1e-6, "{key}: {} vs {want}", fit.endogeneity_statistic);
        assert!(fit.endogeneity_test.starts_with("control function"), "{}", fit.endogeneity_test);
    }
    let classical = iv::fit(&input(), &IvSettings { se: SeKind::Classical, alpha: 0.05 }).unwrap();
    assert_eq!(classical.endogeneity_statistic, classical.wu_hausman_f);
}

/// Moreira's conditional likelihood-ratio test against ivmodels (`tests/reference/scripts/clr.py`:
/// `conditional_likelihood_ratio_test`, exact conditional p-value by numerical integration for
/// one regressor): statistic 1e-8 and p-value 1e-6 at five values of β on the strong two-instrument
/// data and on a weak three-instrument design; the confidence set's ends are where the p-value
/// crosses alpha.
#[test]
fn clr_matches_ivmodels() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("clr_ivmodels.json")).unwrap()).unwrap();
    let weak = {
        let t = Table::read_csv(&dir().join("data/iv_weak3.csv")).unwrap();
        IvInput {
            outcome: ("y".into(), t.numeric("y").unwrap()),
            endogenous: t.columns(&["x".into()]).unwrap(),
            instruments: t.columns(&["z1".into(), "z2".into(), "z3".into()]).unwrap(),
            controls: t.columns(&["w1".into()]).unwrap(),
            cluster: None,
        }
    };
    let strong = IvInput { cluster: None, ..input() };
    for (name, inp) in [("strong", &strong), ("weak3", &weak)] {
        let fit = iv::fit(inp, &IvSettings { se: SeKind::Classical, alpha: 0.05 }).unwrap();
        let c = fit.clr.as_ref().expect("several instruments: CLR");
        let w = &r[name]["beta_0.0"];
        assert!(
            rel(c.statistic, w["statistic"].as_f64().unwrap()) < 1e-8,
            "{name}: {} vs {}",
            c.statistic,
            w["statistic"]
        );
        let wp = w["p_value"].as_f64().unwrap();
        assert!((c.p_value - wp).abs() < 1e-6 * wp.max(1e-10) + 1e-12, "{name}: p {} vs {wp}", c.p_value);
        // The set's ends: the p-value just inside is >= 0.05, just outside below.
        if let (Some(lo), Some(hi)) = (c.ci_low, c.ci_high) {
            assert!(lo < fit.inference.estimate && fit.inference.estimate < hi, "{name}: [{lo}, {hi}]");
        }
    }
    // At other β, through the test function on the partialled data: the AR and CLR sets of the
    // weak design both contain 1 (the truth) here.
    let fit = iv::fit(&weak, &IvSettings { se: SeKind::Classical, alpha: 0.05 }).unwrap();
    let c = fit.clr.unwrap();
    assert!(c.ci_low.is_none_or(|l| l <= 1.0) && c.ci_high.is_none_or(|h| h >= 1.0), "{c:?}");
}

/// Sanderson-Windmeijer's conditional F with two endogenous regressors, against its recipe run
/// with linearmodels 7.1 (2SLS of one regressor on the other) and statsmodels (the residual's
/// F test) in `tests/reference/scripts/sanderson_windmeijer.py`, 1e-6: high when the instruments
/// move the regressors separately, about 0.5 when they move them together, while each
/// regressor's own first-stage F stays high.
#[test]
fn sanderson_windmeijer_f_matches_its_recipe() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("sw_f.json")).unwrap()).unwrap();
    for name in ["separate", "together"] {
        let t = Table::read_csv(&dir().join(format!("data/iv_sw_{name}.csv"))).unwrap();
        let inp = IvInput {
            outcome: ("y".into(), t.numeric("y").unwrap()),
            endogenous: t.columns(&["x1".into(), "x2".into()]).unwrap(),
            instruments: t.columns(&["z1".into(), "z2".into(), "z3".into()]).unwrap(),
            controls: t.columns(&["w1".into()]).unwrap(),
            cluster: None,
        };
        let fit = iv::fit(&inp, &IvSettings { se: SeKind::Classical, alpha: 0.05 }).unwrap();
        for fs in &fit.first_stage {
            let want = r[name][&fs.endogenous]["sw_f"].as_f64().unwrap();
            let got = fs.sw_f.unwrap();
            assert!(rel(got, want) < 1e-6, "{name} {}: {got} vs {want}", fs.endogenous);
            if name == "together" {
                assert!(fs.f_stat > 50.0 && got < 2.0, "{name}: F {} but SW F {got}", fs.f_stat);
            }
        }
    }
}

/// Two relevant candidates, one of them invalid: the two difference-in-Sargan statistics are
/// the same number, so neither is singled out; both are reported as unresolved, with the reason.
#[test]
fn identify_instruments_does_not_pick_a_culprit_between_two() {
    use liftos_estimators::rng::Rng;
    let mut rng = Rng::new(7);
    let n = 5000;
    let (mut y, mut x, mut z1, mut z3) = (vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        let (a, u) = (rng.normal(), rng.normal());
        let b = 0.8 * u + 0.6 * rng.normal();
        let xi = 0.6 * a + 0.5 * b + u + rng.normal();
        y.push(1.0 + 2.0 * xi + 2.0 * u + rng.normal());
        x.push(xi);
        z1.push(a);
        z3.push(b);
    }
    let cands = Columns::new(vec![("z1".into(), z1), ("z3".into(), z3)]).unwrap();
    let reports = iv::identify_instruments(
        ("y", ArrayView1::from(&y)),
        ("x", ArrayView1::from(&x)),
        &cands,
        &Columns::default(),
        0.05,
    )
    .unwrap();
    assert!(reports.iter().all(|r| r.relevant));
    assert_eq!(reports[0].exogeneity_p_value, reports[1].exogeneity_p_value);
    for r in &reports {
        assert_eq!(r.passes_exogeneity, None, "{r:?}");
        assert!(r.reasons.iter().any(|m| m.contains("cannot say which")), "{r:?}");
    }
}

/// A result read back from JSON (the insights endpoint takes one) reads its flattened optional
/// parts (`ar_*`, `clr_*`, `wild_bootstrap_*`; `tf_*` alike) strictly: serde's `flatten` of an `Option` reads
/// `None` when a part does not parse, and `ar_statistic: {}` was taken as "no Anderson-Rubin
/// test" (schemathesis found it on the insights endpoint). Absent keys are `None`; a key of the
/// wrong type refuses the whole result. On the pinned CLI answers.
#[test]
fn flattened_parts_of_a_result_are_read_strictly() {
    use liftos_estimators::did::twfe::DidResult;
    use liftos_estimators::iv::IvResult;
    use liftos_estimators::rdd::RddResult;
    let golden = |name: &str| -> serde_json::Value {
        let path = dir().join(format!("../golden/cli/{name}.json"));
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["output"].clone()
    };
    let without = |mut v: serde_json::Value, prefix: &str| {
        v.as_object_mut().unwrap().retain(|k, _| !k.starts_with(prefix));
        v
    };
    let broken = |mut v: serde_json::Value, key: &str| {
        v[key] = serde_json::json!({});
        v
    };
    let (iv, rdd, did) = (golden("iv_classical"), golden("rdd_fuzzy"), golden("did_twfe_few_clusters"));
    let r: IvResult = serde_json::from_value(iv.clone()).unwrap();
    assert!(r.anderson_rubin.is_some() && r.clr.is_some());
    let r: IvResult = serde_json::from_value(without(without(iv.clone(), "ar_"), "clr_")).unwrap();
    assert!(r.anderson_rubin.is_none() && r.clr.is_none());
    for key in ["ar_statistic", "ar_confidence_set", "clr_statistic", "tf_critical_value"] {
        assert!(serde_json::from_value::<IvResult>(broken(iv.clone(), key)).is_err(), "{key}");
    }
    let r: RddResult = serde_json::from_value(rdd.clone()).unwrap();
    assert!(r.anderson_rubin.is_some());
    assert!(serde_json::from_value::<RddResult>(without(rdd.clone(), "ar_")).unwrap().anderson_rubin.is_none());
    assert!(serde_json::from_value::<RddResult>(broken(rdd, "ar_statistic")).is_err());
    let r: DidResult = serde_json::from_value(did.clone()).unwrap();
    assert!(r.wild.is_some());
    assert!(serde_json::from_value::<DidResult>(without(did.clone(), "wild_bootstrap_")).unwrap().wild.is_none());
    assert!(serde_json::from_value::<DidResult>(broken(did, "wild_bootstrap_draws")).is_err());
}

/// Fewer rows than the widest regression's coefficients plus one (found by the `estimators` fuzz
/// target: two rows, one instrument, no controls) are refused naming the outcome, not fitted
/// into an unsigned subtraction that wrapped (a panic with overflow checks, a Wu-Hausman
/// statistic over 2^64 degrees of freedom without); one row more is fitted.
#[test]
fn too_few_rows_for_the_coefficients_are_refused() {
    let data = |n: usize| {
        let v = |f: fn(f64) -> f64| (0..n).map(|i| f(i as f64)).collect::<Vec<f64>>();
        IvInput {
            outcome: ("y".into(), v(|i| (i * 1.3).sin() + i).into()),
            endogenous: Columns::new(vec![("x".into(), v(|i| (i * 0.7).cos() + 0.5 * i))]).unwrap(),
            instruments: Columns::new(vec![("z".into(), v(|i| i * i))]).unwrap(),
            controls: Columns::new(vec![]).unwrap(),
            cluster: None,
        }
    };
    for n in 2..=3 {
        let e = iv::fit(&data(n), &IvSettings::default()).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "y: {n} rows for 3 coefficients (the constant, the controls, and the instruments or the endogenous \
                 regressors with their first-stage residuals): at least 4 rows are needed"
            )
        );
    }
    assert!(iv::fit(&data(6), &IvSettings::default()).is_ok());
}
