#![allow(clippy::unwrap_used)]
//! Sharp RDD against rdrobust 2.1.1 on the Lee (2008) Senate data (tests/reference/reference.json,
//! `senate_rdd`: `rdrobust(y=vote, x=margin)` with defaults and `rdbwselect(..., all=True)`).

use liftos_estimators::data::Table;
use liftos_estimators::rdd::{self, BwSelect, RddSettings};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference")
}

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

fn senate() -> (ndarray::Array1<f64>, ndarray::Array1<f64>) {
    let t = Table::read_csv(&dir().join("data/rdrobust_senate.csv")).unwrap();
    (t.numeric_or_missing("vote").unwrap(), t.numeric_or_missing("margin").unwrap())
}

#[test]
fn matches_rdrobust_on_senate() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap()).unwrap();
    let r = &r["senate_rdd"];
    let (y, x) = senate();
    let fit = rdd::fit(y.view(), x.view(), None, &RddSettings::default()).unwrap();
    let f = |k: &str| r[k].as_f64().unwrap();
    assert_eq!(fit.inference.n_obs, 1297);
    assert_eq!((fit.n_left, fit.n_right), (595, 702));
    assert!(rel(fit.bandwidth, f("h_left")) < 1e-4, "h {} vs {}", fit.bandwidth, f("h_left"));
    assert!(rel(fit.bias_bandwidth, f("b_left")) < 1e-4, "b {} vs {}", fit.bias_bandwidth, f("b_left"));
    assert_eq!((fit.n_effective_left, fit.n_effective_right), (360, 323));
    assert!(
        rel(fit.inference.estimate, f("conventional_estimate")) < 1e-6,
        "tau {} vs {}",
        fit.inference.estimate,
        f("conventional_estimate")
    );
    assert!(rel(fit.conventional_std_error, f("conventional_se")) < 1e-4, "se {}", fit.conventional_std_error);
    // The headline is rdrobust's robust bias-corrected interval and p-value.
    assert_eq!(fit.inference.ci_low, Some(fit.robust_ci_low));
    assert_eq!(fit.inference.ci_high, Some(fit.robust_ci_high));
    assert_eq!(fit.inference.p_value, Some(fit.robust_p_value));
    assert_eq!(fit.inference.std_error, Some(fit.robust_std_error));
    assert!(
        rel(fit.estimate_bias_corrected, f("bias_corrected_estimate")) < 1e-6,
        "bc {}",
        fit.estimate_bias_corrected
    );
    assert!(rel(fit.robust_std_error, f("robust_se")) < 1e-4, "robust se {}", fit.robust_std_error);
    assert!(rel(fit.robust_ci_low, r["robust_ci95"][0].as_f64().unwrap()) < 1e-4);
    assert!(rel(fit.robust_ci_high, r["robust_ci95"][1].as_f64().unwrap()) < 1e-4);
    assert!(rel(fit.robust_p_value, f("robust_pvalue")) < 1e-3, "robust p {}", fit.robust_p_value);
}

#[test]
fn msetwo_matches_rdbwselect() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap()).unwrap();
    let rows = r["senate_rdd"]["rdbwselect_all"]["rows"].as_array().unwrap();
    let vals = r["senate_rdd"]["rdbwselect_all"]["values"].as_array().unwrap();
    let i = rows.iter().position(|v| v == "msetwo").unwrap();
    let want: Vec<f64> = vals[i].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (y, x) = senate();
    let fit = rdd::fit(y.view(), x.view(), None, &RddSettings { bwselect: BwSelect::Msetwo, ..RddSettings::default() })
        .unwrap();
    let got = [fit.bandwidth_left, fit.bandwidth_right, fit.bias_bandwidth_left, fit.bias_bandwidth_right];
    for (g, w) in got.iter().zip(&want) {
        assert!(rel(*g, *w) < 1e-4, "msetwo {got:?} vs {want:?}");
    }
    if let Some(j) = rows.iter().position(|v| v == "msesum") {
        let want: Vec<f64> = vals[j].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let fit =
            rdd::fit(y.view(), x.view(), None, &RddSettings { bwselect: BwSelect::Msesum, ..RddSettings::default() })
                .unwrap();
        assert!(
            rel(fit.bandwidth, want[0]) < 1e-4 && rel(fit.bias_bandwidth, want[2]) < 1e-4,
            "msesum {} {} vs {want:?}",
            fit.bandwidth,
            fit.bias_bandwidth
        );
    }
}

/// rddensity 3.0 `rddensity(X=margin, c=0)` defaults (reference.json `senate_rdd.rddensity`).
#[test]
fn density_test_matches_rddensity() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap()).unwrap();
    let r = &r["senate_rdd"]["rddensity"];
    let (_, x) = senate();
    let d = rdd::density::test(x.view(), 0.0).unwrap();
    let f = |a: &str, b: &str| r[a][b].as_f64().unwrap();
    assert!(rel(d.bandwidth_left, f("h", "left")) < 1e-4, "h left {} vs {}", d.bandwidth_left, f("h", "left"));
    assert!(rel(d.bandwidth_right, f("h", "right")) < 1e-4, "h right {} vs {}", d.bandwidth_right, f("h", "right"));
    assert!(rel(d.density_left, f("hat", "left")) < 1e-6, "f left {}", d.density_left);
    assert!(rel(d.density_right, f("hat", "right")) < 1e-6, "f right {}", d.density_right);
    assert!(rel(d.t_stat, r["test_statistic_jk"].as_f64().unwrap()) < 1e-4, "t {}", d.t_stat);
    assert!(rel(d.p_value, r["p_value_jk"].as_f64().unwrap()) < 1e-4, "p {}", d.p_value);
    assert_eq!((d.n_effective_left, d.n_effective_right), (f("n", "eff_left") as usize, f("n", "eff_right") as usize));
    // And through the RDD result.
    let (y, x) = senate();
    let fit = rdd::fit(y.view(), x.view(), None, &rdd::RddSettings::default()).unwrap();
    assert!(rel(fit.density_test_p_value.unwrap(), r["p_value_jk"].as_f64().unwrap()) < 1e-4);
}

/// Kernels, polynomial order, manual bandwidth, another cutoff and the fuzzy design against
/// rdrobust 2.1.1 on simulated data (tests/reference/rdd_rdrobust.json).
#[test]
fn options_and_fuzzy_match_rdrobust() {
    use liftos_estimators::rdd::Kernel;
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("rdd_rdrobust.json")).unwrap()).unwrap();
    let t = Table::read_csv(&dir().join("data/rdd_sim.csv")).unwrap();
    let (x, y, d) = (t.numeric("x").unwrap(), t.numeric("y").unwrap(), t.numeric("d").unwrap());
    let base = RddSettings::default();
    let cases: Vec<(&str, RddSettings, bool)> = vec![
        ("sharp_default", base.clone(), false),
        ("sharp_uniform", RddSettings { kernel: Kernel::Uniform, ..base.clone() }, false),
        ("sharp_epanechnikov_p2", RddSettings { kernel: Kernel::Epanechnikov, p: 2, ..base.clone() }, false),
        ("sharp_manual_h03", RddSettings { bandwidth: Some(0.3), ..base.clone() }, false),
        ("fuzzy_default", base.clone(), true),
        ("sharp_cutoff_02", RddSettings { cutoff: 0.2, ..base.clone() }, false),
    ];
    for (name, s, fuzzy) in cases {
        let fit = rdd::fit(y.view(), x.view(), fuzzy.then_some(d.view()), &s).unwrap();
        let w = &r[name];
        let g = |k: &str, i: usize| w[k][i].as_f64().unwrap();
        assert!(rel(fit.bandwidth_left, g("h", 0)) < 1e-4, "{name}: h {} vs {}", fit.bandwidth_left, g("h", 0));
        assert!(
            rel(fit.bias_bandwidth_left, g("b", 0)) < 1e-4,
            "{name}: b {} vs {}",
            fit.bias_bandwidth_left,
            g("b", 0)
        );
        assert!(
            rel(fit.inference.estimate, g("coef", 0)) < 1e-6,
            "{name}: tau {} vs {}",
            fit.inference.estimate,
            g("coef", 0)
        );
        assert!(
            rel(fit.estimate_bias_corrected, g("coef", 1)) < 1e-6,
            "{name}: bc {} vs {}",
            fit.estimate_bias_corrected,
            g("coef", 1)
        );
        assert!(
            rel(fit.conventional_std_error, g("se", 0)) < 1e-4,
            "{name}: se {} vs {}",
            fit.conventional_std_error,
            g("se", 0)
        );
        assert!(
            rel(fit.robust_std_error, g("se", 2)) < 1e-4,
            "{name}: robust se {} vs {}",
            fit.robust_std_error,
            g("se", 2)
        );
    }
}

/// The fuzzy design's first stage against rdrobust 2.1.1's `tau_T` / `se_T`
/// (`tests/reference/scripts/rdd_first_stage.py`): the jump in take-up and its conventional
/// standard error; its F is (jump / se)².
#[test]
fn fuzzy_first_stage_matches_rdrobust() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("rdd_first_stage_rdrobust.json")).unwrap()).unwrap();
    let t = Table::read_csv(&dir().join("data/rdd_sim.csv")).unwrap();
    let (x, y, d) = (t.numeric("x").unwrap(), t.numeric("y").unwrap(), t.numeric("d").unwrap());
    let fit = rdd::fit(y.view(), x.view(), Some(d.view()), &RddSettings::default()).unwrap();
    let (tt, se) = (r["tau_T"][0].as_f64().unwrap(), r["se_T"][0].as_f64().unwrap());
    assert!(rel(fit.first_stage.unwrap(), tt) < 1e-6, "{:?} vs {tt}", fit.first_stage);
    assert!(rel(fit.first_stage_std_error.unwrap(), se) < 1e-4, "{:?} vs {se}", fit.first_stage_std_error);
    assert!((fit.first_stage_f.unwrap() - (tt / se).powi(2)).abs() < 1e-3 * (tt / se).powi(2));
    assert!(!fit.mass_points);
    // A running variable on a coarse grid: mass points, and a warning.
    let xr: ndarray::Array1<f64> = x.mapv(|v| (v * 10.0).round() / 10.0);
    let fit = rdd::fit(y.view(), xr.view(), None, &RddSettings::default()).unwrap();
    assert!(fit.mass_points && fit.warnings.iter().any(|w| w.contains("mass points")), "{:?}", fit.warnings);
}

/// rdplot's IMSE-optimal evenly spaced bins against rdrobust 2.1.1's `rdplot(binselect="es")`
/// (`tests/reference/scripts/rdplot_bins.py`) on the Senate data and the simulated data: the
/// number of bins a side exactly, each bin's mean x and mean y 1e-9 and count exactly.
#[test]
fn rdplot_bins_match_rdrobust() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("rdplot_bins.json")).unwrap()).unwrap();
    let (y, x) = senate();
    let sim = Table::read_csv(&dir().join("data/rdd_sim.csv")).unwrap();
    let (sx, sy) = (sim.numeric("x").unwrap(), sim.numeric("y").unwrap());
    for (name, y, x) in [("senate", y.view(), x.view()), ("sim", sy.view(), sx.view())] {
        let fit = rdd::fit(y, x, None, &RddSettings::default()).unwrap();
        let b = fit.bins.as_ref().expect("bins");
        let w = &r[name];
        assert_eq!(
            [b.bins_left as u64, b.bins_right as u64],
            [w["J"][0].as_u64().unwrap(), w["J"][1].as_u64().unwrap()],
            "{name}"
        );
        let (mx, my, n) =
            (w["mean_x"].as_array().unwrap(), w["mean_y"].as_array().unwrap(), w["n"].as_array().unwrap());
        assert_eq!(b.points.len(), mx.len(), "{name}");
        for (i, p) in b.points.iter().enumerate() {
            assert!((p.x - mx[i].as_f64().unwrap()).abs() < 1e-9 * (1.0 + p.x.abs()), "{name} bin {i}");
            assert!((p.y - my[i].as_f64().unwrap()).abs() < 1e-9 * (1.0 + p.y.abs()), "{name} bin {i}");
            assert_eq!(p.n as u64, n[i].as_u64().unwrap(), "{name} bin {i}");
        }
    }
}

/// The fuzzy design's Anderson-Rubin test of no effect is the sharp design's robust test that
/// the outcome does not jump, at the same bandwidths (rdrobust 2.1.1's, matched by the tests
/// above): the same p-value and χ²(1), with and without covariates and clusters
/// (`data/rdd_sim.csv`, `data/rdd_covs.csv`). With a strong first stage the set is an interval
/// close to the delta method's robust one.
#[test]
fn the_fuzzy_anderson_rubin_test_of_no_effect_is_the_sharp_test_of_the_outcome() {
    use liftos_estimators::iv::weak::ArSet;
    use liftos_estimators::rdd::RddAdjust;
    let sim = Table::read_csv(&dir().join("data/rdd_sim.csv")).unwrap();
    let covs = Table::read_csv(&dir().join("data/rdd_covs.csv")).unwrap();
    let (codes, levels) = covs.codes("market").unwrap();
    let z: Vec<(String, ndarray::Array1<f64>)> =
        ["z1", "z2"].iter().map(|n| (n.to_string(), covs.numeric(n).unwrap())).collect();
    let with_z = RddAdjust {
        covariates: z.iter().map(|(n, v)| (n.clone(), v.view())).collect(),
        cluster: Some((&codes[..], levels.len())),
    };
    let (y1, x1, d1) = (sim.numeric("y").unwrap(), sim.numeric("x").unwrap(), sim.numeric("d").unwrap());
    let (y2, x2, d2) = (covs.numeric("y").unwrap(), covs.numeric("x").unwrap(), covs.numeric("d").unwrap());
    let cases = [
        ("rdd_sim", (&y1, &x1, &d1), RddAdjust::default()),
        ("rdd_covs, covariates and clusters", (&y2, &x2, &d2), with_z),
    ];
    for (name, (y, x, d), adjust) in cases {
        let fuzzy = rdd::fit_adjusted(y.view(), x.view(), Some(d.view()), &adjust, &RddSettings::default()).unwrap();
        let ar = fuzzy.anderson_rubin.as_ref().expect("fuzzy: Anderson-Rubin");
        // the sharp design at the fuzzy design's bandwidths (h = b on both sides when given)
        let (h, b) = (fuzzy.bandwidth_left, fuzzy.bias_bandwidth_left);
        let s = RddSettings { bandwidth: Some(h), ..RddSettings::default() };
        let fuzzy_h = rdd::fit_adjusted(y.view(), x.view(), Some(d.view()), &adjust, &s).unwrap();
        let sharp = rdd::fit_adjusted(y.view(), x.view(), None, &adjust, &s).unwrap();
        let ar_h = fuzzy_h.anderson_rubin.as_ref().unwrap();
        assert!(
            rel(ar_h.ar_p_value, sharp.robust_p_value) < 1e-9,
            "{name}: {} vs {}",
            ar_h.ar_p_value,
            sharp.robust_p_value
        );
        let t = sharp.estimate_bias_corrected / sharp.robust_std_error;
        assert!(rel(ar_h.ar_statistic, t * t) < 1e-9, "{name}: {} vs {}", ar_h.ar_statistic, t * t);
        assert!(h > 0.0 && b > 0.0);
        // a strong first stage: an interval near the delta method's
        let f = fuzzy.first_stage_f.unwrap();
        assert!(f > 10.0, "{name}: F = {f}");
        assert_eq!(ar.ar_confidence_set, ArSet::Bounded, "{name}");
        assert!(!fuzzy.weak_first_stage(), "{name}");
        let (lo, hi) = (ar.ar_ci_low.unwrap(), ar.ar_ci_high.unwrap());
        let width = fuzzy.robust_ci_high - fuzzy.robust_ci_low;
        eprintln!(
            "{name}: F {f:.1}, Anderson-Rubin [{lo:.4}, {hi:.4}], delta method [{:.4}, {:.4}]",
            fuzzy.robust_ci_low, fuzzy.robust_ci_high
        );
        assert!(
            (lo - fuzzy.robust_ci_low).abs() < 0.25 * width && (hi - fuzzy.robust_ci_high).abs() < 0.25 * width,
            "{name}"
        );
    }
}

/// Covariate adjustment and cluster-robust (CR1) variances against rdrobust 2.1.1 (PyPI):
/// `tests/reference/scripts/rdd_covariates_cluster.py` on `data/rdd_covs.csv` (4,000 rows, 80
/// markets, two covariates): bandwidths, the conventional and bias-corrected estimates, both
/// standard errors, the covariates' coefficients, the number of clusters, and for fuzzy designs
/// the first stage; sharp and fuzzy, mserd and msetwo, triangular and uniform, p = 1 and 2, and a
/// manual bandwidth (h = b, rdrobust's other branch for the robust variance).
#[test]
fn covariates_and_clusters_match_rdrobust() {
    use liftos_estimators::rdd::{Kernel, RddAdjust};
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("rdd_covariates_cluster.json")).unwrap()).unwrap();
    let t = Table::read_csv(&dir().join("data/rdd_covs.csv")).unwrap();
    let x = t.numeric("x").unwrap();
    let d = t.numeric("d").unwrap();
    let (codes, levels) = t.codes("market").unwrap();
    assert_eq!(levels.len(), 80);
    let mut checked = 0;
    for (name, case) in r.as_object().unwrap().iter().filter(|(_, v)| v.get("call").is_some()) {
        let call = &case["call"];
        let y = t.numeric(call["y"].as_str().unwrap()).unwrap();
        let covs: Vec<(String, ndarray::Array1<f64>)> = call
            .get("covs")
            .map(|c| c.as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|n| (n.to_string(), t.numeric(n).unwrap()))
            .collect();
        let adjust = RddAdjust {
            covariates: covs.iter().map(|(n, v)| (n.clone(), v.view())).collect(),
            cluster: call.get("cluster").map(|_| (&codes[..], levels.len())),
        };
        let s = RddSettings {
            bwselect: if call.get("bwselect").is_some() { BwSelect::Msetwo } else { BwSelect::Mserd },
            kernel: if call.get("kernel").is_some() { Kernel::Uniform } else { Kernel::Triangular },
            p: call.get("p").map_or(1, |p| p.as_u64().unwrap() as usize),
            bandwidth: call.get("h").map(|h| h.as_f64().unwrap()),
            ..RddSettings::default()
        };
        let fuzzy = call.get("fuzzy").is_some();
        let fit = rdd::fit_adjusted(y.view(), x.view(), fuzzy.then_some(d.view()), &adjust, &s).unwrap();
        let g = |k: &str, i: usize| case[k][i].as_f64().unwrap();
        let close = |what: &str, ours: f64, theirs: f64, tol: f64| {
            assert!(rel(ours, theirs) < tol, "{name}: {what} {ours} vs rdrobust {theirs}");
        };
        close("h left", fit.bandwidth_left, g("h", 0), 1e-6);
        close("h right", fit.bandwidth_right, g("h", 1), 1e-6);
        close("b left", fit.bias_bandwidth_left, g("b", 0), 1e-6);
        close("b right", fit.bias_bandwidth_right, g("b", 1), 1e-6);
        assert_eq!((fit.n_effective_left, fit.n_effective_right), (g("n_h", 0) as usize, g("n_h", 1) as usize));
        close("tau", fit.inference.estimate, g("coef", 0), 1e-6);
        close("bias-corrected tau", fit.estimate_bias_corrected, g("coef", 1), 1e-6);
        close("conventional se", fit.conventional_std_error, g("se", 0), 1e-6);
        close("robust se", fit.robust_std_error, g("se", 2), 1e-6);
        if let Some(cc) = case.get("coef_covs") {
            // rdrobust's coef_covs: per covariate, the outcome's then (fuzzy) the take-up's.
            let theirs: Vec<f64> = cc.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let ours: Vec<f64> = fit
                .covariates
                .iter()
                .flat_map(|c| std::iter::once(c.coefficient).chain(c.treatment_coefficient))
                .collect();
            assert_eq!(ours.len(), theirs.len(), "{name}");
            for (o, t) in ours.iter().zip(&theirs) {
                close("covariate coefficient", *o, *t, 1e-6);
            }
        } else {
            assert!(fit.covariates.is_empty());
        }
        assert_eq!(fit.clusters, case.get("n_clust").map(|v| v.as_u64().unwrap() as usize), "{name}");
        if fuzzy {
            close("first stage", fit.first_stage.unwrap(), case["tau_T"][0].as_f64().unwrap(), 1e-6);
            close("first-stage se", fit.first_stage_std_error.unwrap(), case["se_T"][0].as_f64().unwrap(), 1e-6);
        }
        checked += 1;
    }
    assert_eq!(checked, 9);
}

/// Collinear covariates (a copy of a covariate, or the running variable itself, which the local
/// polynomial already holds) leave the effect and its standard errors as without them, with a
/// warning; a side with one cluster is an error naming `cluster`.
#[test]
fn collinear_covariates_and_single_clusters() {
    use liftos_estimators::rdd::{RddAdjust, RddError};
    let t = Table::read_csv(&dir().join("data/rdd_covs.csv")).unwrap();
    let (x, y, z1) = (t.numeric("x").unwrap(), t.numeric("y").unwrap(), t.numeric("z1").unwrap());
    let s = RddSettings::default();
    let one = RddAdjust { covariates: vec![("z1".into(), z1.view())], cluster: None };
    let base = rdd::fit_adjusted(y.view(), x.view(), None, &one, &s).unwrap();
    assert!(base.warnings.iter().all(|w| !w.contains("collinear")));
    let twice = RddAdjust { covariates: vec![("z1".into(), z1.view()), ("z1 again".into(), z1.view())], cluster: None };
    let fit = rdd::fit_adjusted(y.view(), x.view(), None, &twice, &s).unwrap();
    assert!(fit.warnings.iter().any(|w| w.contains("collinear")), "{:?}", fit.warnings);
    assert!(rel(fit.inference.estimate, base.inference.estimate) < 1e-8);
    assert!(rel(fit.robust_std_error, base.robust_std_error) < 1e-8);
    assert!(rel(fit.covariates[0].coefficient + fit.covariates[1].coefficient, base.covariates[0].coefficient) < 1e-8);
    let plain = rdd::fit(y.view(), x.view(), None, &s).unwrap();
    let running = RddAdjust { covariates: vec![("x".into(), x.view())], cluster: None };
    let fit = rdd::fit_adjusted(y.view(), x.view(), None, &running, &s).unwrap();
    assert!(fit.warnings.iter().any(|w| w.contains("collinear")), "{:?}", fit.warnings);
    assert!(
        rel(fit.inference.estimate, plain.inference.estimate) < 1e-6,
        "{} vs {}",
        fit.inference.estimate,
        plain.inference.estimate
    );
    assert!(rel(fit.robust_std_error, plain.robust_std_error) < 1e-6);
    // Clusters: one market left of the cutoff.
    let codes: Vec<u32> = x.iter().enumerate().map(|(i, &v)| if v < 0.0 { 0 } else { 1 + (i % 5) as u32 }).collect();
    let one_left = RddAdjust { covariates: vec![], cluster: Some((&codes, 6)) };
    match rdd::fit_adjusted(y.view(), x.view(), None, &one_left, &s) {
        Err(RddError::InvalidInput { column, message }) => {
            assert_eq!(column, "cluster");
            assert!(message.contains("1 cluster(s) left"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Few clusters a side: a warning.
    let few: Vec<u32> = (0..x.len()).map(|i| (i % 8) as u32).collect();
    let fit =
        rdd::fit_adjusted(y.view(), x.view(), None, &RddAdjust { covariates: vec![], cluster: Some((&few, 8)) }, &s)
            .unwrap();
    assert_eq!(fit.clusters, Some(8));
    assert!(fit.warnings.iter().any(|w| w.contains("only 8 (left) and 8 (right) clusters")), "{:?}", fit.warnings);
}
