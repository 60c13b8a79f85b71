#![allow(clippy::unwrap_used)]
//! DiD against reference implementations on the same data.
//! - mpdta (R `did::mpdta`, 500 counties x 2003-2007): pyfixest 0.60.0
//!   `feols("lemp ~ treat_post | countyreal + year", vcov={"CRV1": "countyreal"})`, figures in
//!   tests/reference/reference.json (`mpdta_did.twfe`).

use liftos_estimators::data::Table;
use liftos_estimators::did::{twfe, DidSettings, PanelInput};
use liftos_estimators::ols::SeKind;
use liftos_estimators::panel::factorize;
use std::path::PathBuf;

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference")
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
    assert!(rel(fit.inference.estimate, coef) < 1e-9, "{} vs {coef}", fit.inference.estimate);
    assert!(rel(fit.inference.std_error.unwrap(), se) < 1e-6, "{} vs {se}", fit.inference.std_error.unwrap());
    assert_eq!((fit.inference.n_obs, fit.n_units, fit.n_periods, fit.n_clusters), (2500, 500, 5, Some(500)));
    assert_eq!(fit.df, 499.0);
    assert!(fit.balanced);
    assert_eq!(fit.estimator, "twfe");
    assert!(
        fit.inference.ci_low.unwrap() < fit.inference.estimate
            && fit.inference.estimate < fit.inference.ci_high.unwrap()
    );
    let _ = SeKind::Hc1;
}

use liftos_estimators::did::staggered::{self, Bootstrap, ControlGroup, CsInput, CsMethod, CsSettings};

fn mpdta_cs() -> CsInput {
    cs_input(&Table::read_csv(&reference_dir().join("data/mpdta.csv")).unwrap())
}

/// mpdta's columns as the Callaway-Sant'Anna input (never-treated counties' cohort 0 as none).
fn cs_input(t: &Table) -> CsInput {
    let (unit, unit_labels) = factorize(&t.labels("countyreal").unwrap());
    let cohort = t.integers("first.treat").unwrap().into_iter().map(|g| (g > 0).then_some(g)).collect();
    CsInput {
        unit,
        unit_labels,
        time: t.integers("year").unwrap(),
        outcome: t.numeric("lemp").unwrap(),
        cohort,
        covariates: Default::default(),
        cluster: None,
    }
}

/// csdid 0.4.3 `ATTgt(..., control_group='nevertreated').fit(est_method='dr')` and `aggte`, same
/// figures as R did 2.x (reference.json `mpdta_did.csdid`).
#[test]
fn callaway_santanna_matches_csdid_on_mpdta() {
    let r = &reference()["mpdta_did"]["csdid"];
    let fit = staggered::fit(&mpdta_cs(), &CsSettings::default()).unwrap();
    let cells = r["group_time_att"].as_array().unwrap();
    assert_eq!(fit.group_time.len(), cells.len());
    for (got, want) in fit.group_time.iter().zip(cells) {
        assert_eq!((got.group, got.time), (want["group"].as_i64().unwrap(), want["time"].as_i64().unwrap()));
        let (att, se) = (want["att"].as_f64().unwrap(), want["se_analytic"].as_f64().unwrap());
        assert!(
            (got.att - att).abs() <= 1e-6 * att.abs().max(1e-3),
            "att({},{}) {} vs {att}",
            got.group,
            got.time,
            got.att
        );
        assert!(rel(got.std_error, se) < 1e-6, "se({},{}) {} vs {se}", got.group, got.time, got.std_error);
    }
    let close = |got: f64, key: &str, tol: f64| {
        let want = r[key].as_f64().unwrap();
        assert!(rel(got, want) < tol, "{key}: {got} vs {want}");
    };
    close(fit.inference.estimate, "simple_att", 1e-9);
    close(fit.inference.std_error.unwrap(), "simple_se_analytic", 1e-6);
    close(fit.aggregations["group"].att, "group_agg_overall_att", 1e-9);
    close(fit.aggregations["group"].std_error, "group_agg_overall_se_analytic", 1e-6);
    close(fit.aggregations["dynamic"].att, "dynamic_agg_overall_att", 1e-9);
    close(fit.aggregations["dynamic"].std_error, "dynamic_agg_overall_se_analytic", 1e-6);
    let es = r["dynamic_egt"].as_array().unwrap();
    for (i, e) in es.iter().enumerate() {
        let p = fit.event_study.iter().find(|p| p.relative_time == e.as_i64().unwrap()).unwrap();
        let (att, se) = (r["dynamic_att_egt"][i].as_f64().unwrap(), r["dynamic_se_egt_analytic"][i].as_f64().unwrap());
        assert!((p.att - att).abs() <= 1e-6 * att.abs().max(1e-3), "e={e}: {} vs {att}", p.att);
        assert!(rel(p.std_error, se) < 1e-6, "e={e}: se {} vs {se}", p.std_error);
    }
    // Without covariates, IPW and outcome regression give the same numbers as DR.
    for method in [CsMethod::Ipw, CsMethod::Reg] {
        let other = staggered::fit(&mpdta_cs(), &CsSettings { method, ..CsSettings::default() }).unwrap();
        assert!(
            (other.inference.estimate - fit.inference.estimate).abs() < 1e-12
                && rel(other.inference.std_error.unwrap(), fit.inference.std_error.unwrap()) < 1e-9
        );
    }
}

/// The multiplier bootstrap cannot share csdid's random numbers; it must agree within Monte
/// Carlo error (1,000 draws: about 2-5% of the standard error).
#[test]
fn callaway_santanna_bootstrap_is_close_to_csdid() {
    let r = &reference()["mpdta_did"]["csdid"];
    let settings = CsSettings { bootstrap: Some(Bootstrap { draws: 1000, seed: 20240101 }), ..CsSettings::default() };
    let fit = staggered::fit(&mpdta_cs(), &settings).unwrap();
    let want = r["simple_se_multiplier_bootstrap_1000_seed20240101"].as_f64().unwrap();
    let got = fit.aggregations["simple"].bootstrap_std_error.unwrap();
    assert!(rel(got, want) < 0.1, "{got} vs {want}");
    let again = staggered::fit(&mpdta_cs(), &settings).unwrap();
    assert_eq!(again.aggregations["simple"].bootstrap_std_error, Some(got), "same seed, same draws");
    for (cell, want) in fit.group_time.iter().zip(r["group_time_se_bootstrap_seed20240101"].as_array().unwrap()) {
        let want = want.as_f64().unwrap();
        assert!(rel(cell.bootstrap_std_error.unwrap(), want) < 0.15, "{} vs {want}", cell.bootstrap_std_error.unwrap());
    }
}

#[test]
fn not_yet_treated_controls_and_errors() {
    let fit =
        staggered::fit(&mpdta_cs(), &CsSettings { control: ControlGroup::NotYetTreated, ..CsSettings::default() })
            .unwrap();
    assert_eq!(fit.group_time.len(), 12);
    // 2004 x 2004 may use 2006/2007 cohorts too: more controls than never-treated alone.
    assert!(fit.group_time[0].n_control > 309);
    let mut unbalanced = mpdta_cs();
    let n = unbalanced.outcome.len();
    unbalanced.outcome = unbalanced.outcome.slice_axis_move(ndarray::Axis(0), ndarray::Slice::from(..n - 1));
    unbalanced.unit.pop();
    unbalanced.time.pop();
    unbalanced.cohort.pop();
    // An unbalanced panel is estimated (R did's allow_unbalanced_panel; checked against csdid in
    // `cs_unbalanced_panel_matches_csdid`), and says so.
    let fit = staggered::fit(&unbalanced, &CsSettings::default()).unwrap();
    assert!(!fit.balanced && fit.warnings.iter().any(|w| w.contains("unbalanced")), "{:?}", fit.warnings);
    assert_eq!(fit.inference.n_obs, n - 1);
}

/// With a covariate (lpop), each estimation method against csdid 0.4.3
/// (tests/reference/csdid_covariates.json).
#[test]
fn callaway_santanna_with_covariates_matches_csdid() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join("csdid_covariates.json")).unwrap()).unwrap();
    let t = Table::read_csv(&reference_dir().join("data/mpdta.csv")).unwrap();
    let mut input = mpdta_cs();
    input.covariates = t.columns(&["lpop".into()]).unwrap();
    for (name, method) in [("dr", CsMethod::Dr), ("ipw", CsMethod::Ipw), ("reg", CsMethod::Reg)] {
        let fit = staggered::fit(&input, &CsSettings { method, ..CsSettings::default() }).unwrap();
        let want = &r[name];
        for (i, cell) in fit.group_time.iter().enumerate() {
            let (att, se) = (want["att"][i].as_f64().unwrap(), want["se"][i].as_f64().unwrap());
            assert!((cell.att - att).abs() <= 1e-6 * att.abs().max(1e-3), "{name} att[{i}] {} vs {att}", cell.att);
            assert!(rel(cell.std_error, se) < 1e-5, "{name} se[{i}] {} vs {se}", cell.std_error);
        }
        assert!(rel(fit.inference.estimate, want["simple_att"].as_f64().unwrap()) < 1e-6, "{name} simple");
        assert!(
            rel(fit.inference.std_error.unwrap(), want["simple_se"].as_f64().unwrap()) < 1e-5,
            "{name} simple se {}",
            fit.inference.std_error.unwrap()
        );
    }
}

/// Treatment that switches off is reported (TWFE) or refused (event study); duplicates, constant
/// treatment and too few clusters are clear errors; an unbalanced panel is handled.
#[test]
fn twfe_input_problems_are_reported() {
    use liftos_estimators::did::DidError;
    let mut input = mpdta();
    // County 0 treated in 2004 and 2005, untreated again in 2006.
    let rows: Vec<usize> = (0..input.unit.len()).filter(|&i| input.unit[i] == 0).collect();
    for &i in &rows {
        input.treatment[i] = if input.time[i] == 2004 || input.time[i] == 2005 { 1.0 } else { 0.0 };
    }
    let fit = twfe::fit(&input, &DidSettings::default()).unwrap();
    assert_eq!(fit.units_switching_off, 1);
    assert!(fit.warnings.iter().any(|w| w.contains("switches off")));
    let es = twfe::fit(&input, &DidSettings { event_study: true, ..DidSettings::default() }).unwrap_err();
    assert!(matches!(es, DidError::TreatmentSwitchesOff { units: 1, time: 2006, .. }), "{es}");

    let mut dup = mpdta();
    dup.time[1] = dup.time[0];
    assert!(twfe::fit(&dup, &DidSettings::default()).unwrap_err().to_string().contains("two rows"));

    let mut constant = mpdta();
    constant.treatment.iter_mut().for_each(|v| *v = 0.0);
    assert!(matches!(twfe::fit(&constant, &DidSettings::default()), Err(DidError::ConstantTreatment { .. })));

    let mut one_cluster = mpdta();
    one_cluster.cluster = Some((vec![0; one_cluster.unit.len()], 1));
    assert!(matches!(twfe::fit(&one_cluster, &DidSettings::default()), Err(DidError::TooFewClusters { found: 1 })));

    let mut unbalanced = mpdta();
    unbalanced.outcome = unbalanced.outcome.slice_axis_move(ndarray::Axis(0), ndarray::Slice::from(..2497));
    unbalanced.treatment = unbalanced.treatment.slice_axis_move(ndarray::Axis(0), ndarray::Slice::from(..2497));
    unbalanced.unit.truncate(2497);
    unbalanced.time.truncate(2497);
    let fit = twfe::fit(&unbalanced, &DidSettings::default()).unwrap();
    assert!(!fit.balanced && fit.within_iterations > 1);
    assert!((fit.inference.estimate + 0.0365).abs() < 0.002);

    // A treatment the unit and period effects absorb: two units, the comparison unit seen only
    // in the first 3 of 26 periods, the other treated from period 18. Nothing compares treated
    // and untreated rows within a period; fitting what rounding leaves of the treatment gave an
    // estimate of 1037 with a standard error of 1.8e14. It is refused, as fixest removes it.
    let (mut unit, mut time, mut treatment) = (vec![], vec![], vec![]);
    for t in 0..26 {
        unit.push(0);
        time.push(t);
        treatment.push(if t >= 18 { 1.0 } else { 0.0 });
    }
    for t in 0..3 {
        unit.push(1);
        time.push(t);
        treatment.push(0.0);
    }
    let outcome: Vec<f64> = (0..unit.len()).map(|i| 1000.0 + 10.0 * time[i] as f64 + (i % 7) as f64).collect();
    let mut absorbed = PanelInput {
        unit: unit.clone(),
        unit_labels: vec!["A".into(), "B".into()],
        time: time.clone(),
        outcome: outcome.into(),
        treatment: treatment.into(),
        cluster: None,
    };
    for settings in [DidSettings::default(), DidSettings { se: SeKind::Hc1, ..DidSettings::default() }] {
        let e = twfe::fit(&absorbed, &settings).unwrap_err();
        assert_eq!(e, DidError::Collinear { what: "treatment".into() });
    }
    // The comparison unit seen through period 20 compares periods 18 to 20: identified again.
    for t in 3..21 {
        absorbed.unit.push(1);
        absorbed.time.push(t);
    }
    let more = absorbed.unit.len() - absorbed.outcome.len();
    let n = absorbed.outcome.len();
    absorbed.outcome = absorbed
        .outcome
        .iter()
        .copied()
        .chain((0..more).map(|i| 990.0 + 10.0 * (3 + i) as f64 + (i % 5) as f64))
        .collect();
    absorbed.treatment = absorbed.treatment.iter().copied().chain(std::iter::repeat_n(0.0, more)).collect();
    assert_eq!(absorbed.outcome.len(), n + more);
    let fit = twfe::fit(&absorbed, &DidSettings { se: SeKind::Hc1, ..DidSettings::default() }).unwrap();
    let se = fit.inference.std_error.unwrap();
    assert!(se.is_finite() && se < 100.0, "{:?}", fit.inference);
}

/// The wild cluster restricted bootstrap against wildboottest 0.3.2 (PyPI) on the same panel:
/// 12 clusters, 3 treated; `tests/reference/scripts/wild_bootstrap.py` (statsmodels OLS with unit
/// and time dummies, clustered by unit). Rademacher with 2^12 = 4,096 <= 9,999 draws is
/// enumerated on both sides, so the p-value matches exactly once the two sign vectors that
/// reproduce the data are counted, as ours does and wildboottest's strict count does not (ours is
/// wildboottest's plus 2/4,096; `did/wild.rs`); Webb's weights are drawn (99,999 on each side),
/// so within Monte Carlo error.
#[test]
fn wild_cluster_bootstrap_matches_wildboottest() {
    use liftos_estimators::did::wild::{WildSettings, WildWeights};
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join("wild_wildboottest.json")).unwrap())
            .unwrap();
    let t = Table::read_csv(&reference_dir().join("data/wild_panel.csv")).unwrap();
    let (unit, unit_labels) = factorize(&t.labels("unit").unwrap());
    let input = PanelInput {
        unit,
        unit_labels,
        time: t.integers("time").unwrap(),
        outcome: t.numeric("y").unwrap(),
        treatment: t.numeric("d").unwrap(),
        cluster: None,
    };
    for (w, draws) in [(WildWeights::Rademacher, 9999), (WildWeights::Webb, 99999)] {
        let settings =
            DidSettings { wild: Some(WildSettings { draws, seed: 7, weights: w }), ..DidSettings::default() };
        let f = twfe::fit(&input, &settings).unwrap();
        assert!(rel(f.inference.estimate, r["estimate"].as_f64().unwrap()) < 1e-9);
        let wb = f.wild.as_ref().expect("wild bootstrap");
        let key = if w == WildWeights::Rademacher { "rademacher" } else { "webb" };
        let want = r[key]["p_value"].as_f64().unwrap();
        if w == WildWeights::Rademacher {
            assert!(wb.enumerated && wb.draws == 4096);
            assert!((wb.p_value - (want + 2.0 / 4096.0)).abs() < 1e-12, "{} vs wildboottest {want}", wb.p_value);
        } else {
            assert!(!wb.enumerated);
            assert!((wb.p_value - want).abs() < 0.008, "{} vs wildboottest {want}", wb.p_value);
        }
        // The interval by test inversion: its ends are where the p-value crosses alpha.
        let (lo, hi) = (wb.ci_low.unwrap(), wb.ci_high.unwrap());
        assert!(lo < f.inference.estimate && f.inference.estimate < hi);
        assert!(f.warnings.iter().any(|x| x.contains("few clusters")), "{:?}", f.warnings);
        assert_eq!((f.n_clusters, f.treated_clusters), (Some(12), Some(3)));
        // The same interval in the outcome's units whatever they are: the inversion's first step
        // was at least 1e-12, wider than the whole interval of an outcome in units of 1e-40.
        for a in [1e-40, 1e40] {
            let scaled = PanelInput { outcome: input.outcome.mapv(|v| v * a), ..input.clone() };
            let g = twfe::fit(&scaled, &settings).unwrap();
            let wg = g.wild.as_ref().unwrap();
            assert!((wg.p_value - wb.p_value).abs() < 1e-12, "x{a}: p {} vs {}", wg.p_value, wb.p_value);
            for (got, want) in [(wg.ci_low.unwrap(), lo), (wg.ci_high.unwrap(), hi)] {
                assert!(rel(got / a, want) < 1e-6, "x{a}: {} vs {want}", got / a);
            }
        }
    }
}

/// Enumerated, the wild bootstrap's p-value is never below 2/2^G: the sign vectors ±1 are the
/// data's own assignment. With 3 clusters (8 sign vectors) that is 0.25, so no value of the
/// effect is rejected at 5% and the interval is unbounded on both sides. A panel the unit and
/// period effects and the treatment fit exactly (residuals of 1e-15) reported p = 0 and an
/// interval of ±0.001 around the estimate: rounding had tipped the data's own draws out of the
/// count. The same with noise, and with 4 clusters (16 sign vectors, 2/16 = 0.125).
#[test]
fn an_enumerated_wild_bootstrap_never_goes_below_its_own_floor() {
    use liftos_estimators::did::wild::WildSettings;
    let settings = DidSettings { wild: Some(WildSettings::default()), ..DidSettings::default() };
    for (units, noise) in [(3u32, 0.0), (3, 0.3), (4, 0.0), (4, 0.3)] {
        let (mut unit, mut time, mut y, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for u in 0..units {
            for t in 0..2i64 {
                let treated = u == 0 && t == 1;
                let wobble = noise * (((u * 7 + t as u32 * 3) % 5) as f64 - 2.0);
                unit.push(u);
                time.push(t);
                y.push(10.0 + 2.0 * u as f64 + 1.5 * t as f64 + if treated { 0.5 } else { 0.0 } + wobble);
                d.push(if treated { 1.0 } else { 0.0 });
            }
        }
        let input = PanelInput {
            unit,
            unit_labels: (0..units).map(|u| u.to_string()).collect(),
            time,
            outcome: y.into(),
            treatment: d.into(),
            cluster: None,
        };
        let f = twfe::fit(&input, &settings).unwrap();
        let wb = f.wild.as_ref().expect("wild bootstrap");
        let what = format!("{units} clusters, noise {noise}");
        assert!(wb.enumerated && wb.draws == 1 << units, "{what}: {wb:?}");
        let floor = 2.0 / f64::from(1u32 << units);
        assert!(wb.p_value >= floor - 1e-12, "{what}: p {} below {floor}", wb.p_value);
        assert_eq!((wb.ci_low, wb.ci_high), (None, None), "{what}");
        assert_eq!((f.inference.ci_low, f.inference.ci_high), (None, None), "{what}");
    }
}

/// Goodman-Bacon on mpdta (three cohorts and never treated, balanced): the weights sum to one
/// and the weighted 2x2 estimates reproduce the TWFE coefficient; the same with units treated
/// from the first period (always treated) and without never-treated units. The negative
/// weights are reported, and the fit warns.
#[test]
fn bacon_decomposition_reproduces_the_twfe_coefficient() {
    let check = |input: &PanelInput, what: &str, kinds: usize| {
        let f = twfe::fit(input, &DidSettings::default()).unwrap();
        let b = f.bacon.as_ref().unwrap_or_else(|| panic!("{what}: no decomposition"));
        let wsum: f64 = b.iter().map(|t| t.weight).sum();
        let avg: f64 = b.iter().map(|t| t.weight * t.estimate).sum();
        assert!((wsum - 1.0).abs() < 1e-12, "{what}: weights sum to {wsum}");
        assert!(
            (avg - f.inference.estimate).abs() < 1e-9 * f.inference.estimate.abs().max(1.0),
            "{what}: {avg} vs TWFE {}",
            f.inference.estimate
        );
        assert!(b.iter().all(|t| t.weight >= 0.0));
        let k: std::collections::BTreeSet<&str> = b.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(k.len(), kinds, "{what}: {k:?}");
        assert!(f.negative_weights.is_some());
        assert!(f.warnings.iter().any(|w| w.contains("staggered adoption")), "{what}: {:?}", f.warnings);
        f
    };
    let m = mpdta();
    let f = check(&m, "mpdta", 3);
    // Seven comparisons: 3 cohorts vs never, and 3 pairs each way.
    assert_eq!(f.bacon.as_ref().unwrap().len(), 9);
    // Without the never treated: only timing comparisons.
    let keep: Vec<usize> = (0..m.unit.len())
        .filter(|&i| m.treatment.iter().enumerate().any(|(j, d)| *d == 1.0 && m.unit[j] == m.unit[i]))
        .collect();
    let sub = PanelInput {
        unit: keep.iter().map(|&i| m.unit[i]).collect(),
        unit_labels: m.unit_labels.clone(),
        time: keep.iter().map(|&i| m.time[i]).collect(),
        outcome: keep.iter().map(|&i| m.outcome[i]).collect(),
        treatment: keep.iter().map(|&i| m.treatment[i]).collect(),
        cluster: None,
    };
    let (codes, labels) = factorize(&sub.unit.iter().map(|u| u.to_string()).collect::<Vec<_>>());
    let sub = PanelInput { unit: codes, unit_labels: labels, ..sub };
    check(&sub, "treated only", 2);
    // The first cohort treated from the first period (always treated): 2003 instead of 2004.
    let mut always = mpdta();
    for i in 0..always.time.len() {
        if always.treatment[i] == 1.0 && always.time[i] == 2004 {
            let u = always.unit[i];
            for j in 0..always.time.len() {
                if always.unit[j] == u {
                    always.treatment[j] = 1.0;
                }
            }
        }
    }
    check(&always, "always treated", 3);
}

/// CR2 with Bell-McCaffrey degrees of freedom against the documented formulas computed on the full
/// dummy model (`tests/reference/scripts/cr2.py`, numpy 2.4.6: A_g the Moore-Penrose inverse
/// square root of (I - H)_gg, df from the eigenvalues of G'G, as R clubSandwich's CR2 and
/// Satterthwaite test with working model I). Here the fixed effects nested in the clusters are
/// absorbed and the others enter as dummies; the two agree (Pustejovsky-Tipton 2018, Theorem 2).
/// Clustered by unit, by period (the unit effects are then explicit), and above the unit; the
/// event study's per-coefficient degrees of freedom.
#[test]
fn cr2_bell_mccaffrey_matches_the_full_dummy_formula() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join("cr2_reference.json")).unwrap()).unwrap();
    let close = |got: f64, want: &serde_json::Value, what: &str| {
        let w = want.as_f64().unwrap();
        assert!(rel(got, w) < 1e-8, "{what}: {got} vs {w}");
    };
    let cr2 = DidSettings { cr2: true, ..DidSettings::default() };
    let t = Table::read_csv(&reference_dir().join("data/wild_panel.csv")).unwrap();
    let (unit, unit_labels) = factorize(&t.labels("unit").unwrap());
    let time = t.integers("time").unwrap();
    let small = PanelInput {
        unit,
        unit_labels,
        time: time.clone(),
        outcome: t.numeric("y").unwrap(),
        treatment: t.numeric("d").unwrap(),
        cluster: None,
    };
    let by_period = PanelInput { cluster: Some((time.iter().map(|&t| t as u32).collect(), 8)), ..small.clone() };
    let mut m = mpdta();
    let state: Vec<u32> = m.unit_labels.iter().map(|c| c.parse::<u32>().unwrap() % 23).collect();
    let by_unit_mpdta = m.clone();
    m.cluster = Some((m.unit.iter().map(|&u| state[u as usize]).collect(), 23));
    for (input, key) in [
        (&small, "wild_panel_by_unit"),
        (&by_period, "wild_panel_by_time"),
        (&by_unit_mpdta, "mpdta_by_county"),
        (&m, "mpdta_by_state23"),
    ] {
        let f = twfe::fit(input, &cr2).unwrap();
        let want = &r[key];
        close(f.inference.estimate, &want["estimate"], key);
        close(f.inference.std_error.unwrap(), &want["std_error"], key);
        close(f.df, &want["df"], key);
        assert!(f.inference.inference.contains("CR2"), "{}", f.inference.inference);
        // The interval uses t with the Bell-McCaffrey degrees of freedom.
        let tcrit = (f.inference.ci_high.unwrap() - f.inference.estimate) / f.inference.std_error.unwrap();
        assert!((tcrit - liftos_estimators::dist::t_critical(0.05, f.df)).abs() < 1e-9, "{key}");
    }
    // Mixed up with the wild bootstrap: refused, naming se.
    let both = DidSettings { wild: Some(Default::default()), ..cr2.clone() };
    assert!(
        matches!(twfe::fit(&small, &both), Err(liftos_estimators::did::DidError::InvalidInput { column, .. }) if column == "se")
    );
    // Event study: each event time has its own degrees of freedom.
    let f = twfe::fit(&small, &DidSettings { event_study: true, ..cr2 }).unwrap();
    let pts = f.event_study.unwrap();
    let want = r["wild_panel_event_study"].as_array().unwrap();
    assert_eq!(pts.len(), want.len());
    for (p, w) in pts.iter().zip(want) {
        assert_eq!(p.relative_time, w["relative_time"].as_i64().unwrap());
        close(p.att, &w["estimate"], "event study");
        close(p.std_error, &w["std_error"], "event study");
        let tcrit = (p.ci_high - p.att) / p.std_error;
        let df = w["df"].as_f64().unwrap();
        assert!((tcrit - liftos_estimators::dist::t_critical(0.05, df)).abs() < 1e-6, "{}", p.relative_time);
    }
}

/// Sun-Abraham and imputation on mpdta against pyfixest 0.60
/// (`tests/reference/scripts/event_study_robust.py`): the saturated event study aggregated by
/// event time (cohort shares) and the treated-share ATT; Gardner's did2s (GMM cluster-robust
/// errors) for the ATT and the event study, first stage with singletons kept.
#[test]
fn sun_abraham_and_imputation_match_pyfixest_on_mpdta() {
    use liftos_estimators::did::robust::{self, RobustMethod, RobustSettings};
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join("event_study_pyfixest.json")).unwrap())
            .unwrap();
    let input = mpdta();
    for (method, key) in [(RobustMethod::SunAbraham, "sun_abraham"), (RobustMethod::Imputation, "imputation")] {
        let f = robust::fit(&input, &RobustSettings { method, alpha: 0.05 }).unwrap();
        let want = &r[key];
        assert!(rel(f.inference.estimate, want["att"].as_f64().unwrap()) < 1e-8, "{key}: {}", f.inference.estimate);
        assert!(
            rel(f.inference.std_error.unwrap(), want["std_error"].as_f64().unwrap()) < 1e-6,
            "{key}: se {}",
            f.inference.std_error.unwrap()
        );
        let pts = f.event_study.as_ref().unwrap();
        let w = want["event_study"].as_array().unwrap();
        assert_eq!(pts.len(), w.len(), "{key}");
        for (p, w) in pts.iter().zip(w) {
            assert_eq!(p.relative_time, w["relative_time"].as_i64().unwrap());
            // Absolute for the small pre-period means: pyfixest demeans to its fixef_tol of 1e-8.
            let wa = w["att"].as_f64().unwrap();
            assert!((p.att - wa).abs() < 1e-8 * (1.0 + wa.abs()), "{key} e={}: {} vs {wa}", p.relative_time, p.att);
            assert!(
                rel(p.std_error, w["std_error"].as_f64().unwrap()) < 1e-6,
                "{key} e={}: se {}",
                p.relative_time,
                p.std_error
            );
        }
        assert!(f.pre_trend_p_value.is_some(), "{key}: the joint lead test");
    }
    // Without never-treated units, Sun-Abraham says what to do instead of "collinear".
    let ever: std::collections::BTreeSet<u32> =
        (0..input.unit.len()).filter(|&i| input.treatment[i] == 1.0).map(|i| input.unit[i]).collect();
    let keep: Vec<usize> = (0..input.unit.len()).filter(|&i| ever.contains(&input.unit[i])).collect();
    let labels: Vec<String> = keep.iter().map(|&i| input.unit_labels[input.unit[i] as usize].clone()).collect();
    let (unit, unit_labels) = factorize(&labels);
    let sub = PanelInput {
        unit,
        unit_labels,
        time: keep.iter().map(|&i| input.time[i]).collect(),
        outcome: keep.iter().map(|&i| input.outcome[i]).collect(),
        treatment: keep.iter().map(|&i| input.treatment[i]).collect(),
        cluster: None,
    };
    let e = robust::fit(&sub, &RobustSettings { method: RobustMethod::SunAbraham, alpha: 0.05 }).unwrap_err();
    assert!(e.to_string().contains("imputation"), "{e}");
    // So does the TWFE event study.
    let e = twfe::fit(&sub, &DidSettings { event_study: true, ..DidSettings::default() }).unwrap_err();
    assert!(e.to_string().contains("imputation"), "{e}");
    // Imputation works there (not-yet-treated comparisons), leaving out what cannot be imputed.
    let f = robust::fit(&sub, &RobustSettings { method: RobustMethod::Imputation, alpha: 0.05 }).unwrap();
    assert!(f.warnings.iter().any(|w| w.contains("left out")), "{:?}", f.warnings);
}

/// mpdta clustered by state (countyreal / 1000: 29 states).
fn mpdta_cs_by_state() -> CsInput {
    let mut input = mpdta_cs();
    let t = Table::read_csv(&reference_dir().join("data/mpdta.csv")).unwrap();
    let states: Vec<String> = t.integers("countyreal").unwrap().iter().map(|c| (c / 1000).to_string()).collect();
    let (codes, levels) = factorize(&states);
    input.cluster = Some((codes, levels.len()));
    input
}

/// The fit that takes its input (and frees the rows once the panel is laid out by unit and
/// period) is the fit: the same result to the bit, with a covariate, clustered above the unit,
/// on an unbalanced panel, with the multiplier bootstrap and not-yet-treated controls; and the
/// same refusals.
#[test]
fn the_owned_fit_is_the_fit() {
    let t = Table::read_csv(&reference_dir().join("data/mpdta.csv")).unwrap();
    let mut with_covariate = mpdta_cs_by_state();
    with_covariate.covariates = t.columns(&["lpop".into()]).unwrap();
    let mut unbalanced = mpdta_cs();
    unbalanced.outcome = unbalanced.outcome.slice_axis_move(ndarray::Axis(0), ndarray::Slice::from(3..));
    unbalanced.unit.drain(..3);
    unbalanced.time.drain(..3);
    unbalanced.cohort.drain(..3);
    let bootstrap = CsSettings {
        bootstrap: Some(Bootstrap { draws: 199, seed: 7 }),
        control: ControlGroup::NotYetTreated,
        ..CsSettings::default()
    };
    for (input, settings) in [
        (mpdta_cs(), CsSettings::default()),
        (with_covariate, CsSettings { method: CsMethod::Ipw, ..CsSettings::default() }),
        (unbalanced, bootstrap),
    ] {
        let json = |r: &staggered::CsResult| serde_json::to_string(r).unwrap();
        let borrowed = staggered::fit(&input, &settings).unwrap();
        assert_eq!(json(&staggered::fit_owned(input, &settings).unwrap()), json(&borrowed));
    }
    let bad = CsSettings { alpha: 1.5, ..CsSettings::default() };
    assert_eq!(
        staggered::fit_owned(mpdta_cs(), &bad).unwrap_err().to_string(),
        staggered::fit(&mpdta_cs(), &bad).unwrap_err().to_string()
    );
    let mut short = mpdta_cs();
    short.time.pop();
    assert_eq!(
        staggered::fit_owned(short.clone(), &CsSettings::default()).unwrap_err().to_string(),
        staggered::fit(&short, &CsSettings::default()).unwrap_err().to_string()
    );
}

/// Callaway-Sant'Anna clustered above the unit against csdid 0.4.3 (`tests/reference/scripts/
/// cs_cluster.py`: mpdta, `clustervar='state'`, 29 states, doubly robust, never-treated
/// controls). Analytic: every ATT(g,t) 1e-9 and its cluster-robust error sqrt(Σ_c S_c²)/n 1e-6,
/// the simple and dynamic aggregations and every event time's error 1e-6, the Wald pre-test 1e-6.
/// Multiplier bootstrap with one weight per state (99,999 draws on both sides): the event
/// study's uniform critical value within 0.03 and each event time's bootstrap scale within 2%.
#[test]
fn cs_clustered_above_the_unit_matches_csdid() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join("cs_cluster.json")).unwrap()).unwrap();
    let f = staggered::fit(&mpdta_cs_by_state(), &CsSettings::default()).unwrap();
    assert_eq!(f.n_clusters, Some(29));
    assert!(f.warnings.iter().any(|w| w.contains("29 clusters")), "{:?}", f.warnings);
    let a = &r["analytic"];
    let n = a["att"].as_array().unwrap().len();
    assert_eq!(f.group_time.len(), n);
    for i in 0..n {
        let c = f
            .group_time
            .iter()
            .find(|c| c.group == a["group"][i].as_i64().unwrap() && c.time == a["time"][i].as_i64().unwrap());
        let c = c.unwrap();
        assert!((c.att - a["att"][i].as_f64().unwrap()).abs() < 1e-9, "att({}, {})", c.group, c.time);
        assert!(rel(c.std_error, a["se"][i].as_f64().unwrap()) < 1e-6, "se({}, {}): {}", c.group, c.time, c.std_error);
    }
    let simple = &f.aggregations["simple"];
    assert!((simple.att - a["simple"]["att"].as_f64().unwrap()).abs() < 1e-9);
    assert!(rel(simple.std_error, a["simple"]["se"].as_f64().unwrap()) < 1e-6, "simple se {}", simple.std_error);
    let dynamic = &f.aggregations["dynamic"];
    assert!(rel(dynamic.std_error, a["dynamic"]["se"].as_f64().unwrap()) < 1e-6, "dynamic se {}", dynamic.std_error);
    for (k, e) in a["dynamic"]["egt"].as_array().unwrap().iter().enumerate() {
        let p = f.event_study.iter().find(|p| p.relative_time == e.as_i64().unwrap()).unwrap();
        assert!((p.att - a["dynamic"]["att_egt"][k].as_f64().unwrap()).abs() < 1e-9);
        assert!(
            rel(p.std_error, a["dynamic"]["se_egt"][k].as_f64().unwrap()) < 1e-6,
            "e={} se {}",
            p.relative_time,
            p.std_error
        );
    }
    let chi2 = f.pre_trend_chi2.unwrap();
    assert!(rel(chi2, a["wald"].as_f64().unwrap()) < 1e-6, "Wald {chi2}");

    let b = &r["bootstrap"];
    let settings = CsSettings { bootstrap: Some(Bootstrap { draws: 99_999, seed: 12 }), ..CsSettings::default() };
    let f = staggered::fit(&mpdta_cs_by_state(), &settings).unwrap();
    let crit = f.uniform_critical_value.unwrap();
    let want = b["crit_val"].as_f64().unwrap();
    eprintln!("clustered uniform critical value {crit} vs csdid {want}");
    assert!((crit - want).abs() < 0.03, "{crit} vs csdid {want}");
    for (k, e) in b["event_times"].as_array().unwrap().iter().enumerate() {
        let p = f.event_study.iter().find(|p| p.relative_time == e.as_i64().unwrap()).unwrap();
        let scale = (p.uniform_ci_high.unwrap() - p.uniform_ci_low.unwrap()) / (2.0 * crit);
        let want = b["se_egt"][k].as_f64().unwrap();
        eprintln!("e={}: bootstrap scale {scale} vs csdid {want}", p.relative_time);
        assert!(rel(scale, want) < 0.02, "e={}: {scale} vs {want}", p.relative_time);
    }
}

/// Callaway-Sant'Anna on an unbalanced panel against csdid 0.4.3 with allow_unbalanced_panel
/// (`tests/reference/scripts/cs_unbalanced.py`: mpdta with 10% of its rows dropped at random,
/// 2,232 rows of 500 counties): doubly robust without covariates with never-treated controls,
/// not-yet-treated controls, and never-treated clustered by state; with the covariate lpop,
/// DRDID's `drdid_rc`, `std_ipw_did_rc` and `reg_did_rc` (the last with not-yet-treated
/// controls). Every ATT(g,t) 1e-9 (1e-7 with the covariate: logit and regression fits) and its
/// error 1e-6, the simple and dynamic aggregations and each event time 1e-6, the Wald pre-test
/// 1e-6.
#[test]
fn cs_unbalanced_panel_matches_csdid() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join("cs_unbalanced.json")).unwrap()).unwrap();
    let t = Table::read_csv(&reference_dir().join("data/mpdta_unbalanced.csv")).unwrap();
    let states: Vec<String> = t.integers("countyreal").unwrap().iter().map(|c| (c / 1000).to_string()).collect();
    let (state, levels) = factorize(&states);
    let input = cs_input(&t);
    assert_eq!(input.time.len(), r["rows"].as_u64().unwrap() as usize);
    let lpop =
        liftos_estimators::columns::Columns::new(vec![("lpop".into(), t.numeric("lpop").unwrap().to_vec())]).unwrap();
    for (key, control, clustered, covariate, method) in [
        ("never", ControlGroup::NeverTreated, false, false, CsMethod::Dr),
        ("notyet", ControlGroup::NotYetTreated, false, false, CsMethod::Dr),
        ("never_state", ControlGroup::NeverTreated, true, false, CsMethod::Dr),
        ("dr_lpop", ControlGroup::NeverTreated, false, true, CsMethod::Dr),
        ("ipw_lpop", ControlGroup::NeverTreated, false, true, CsMethod::Ipw),
        ("reg_lpop_notyet", ControlGroup::NotYetTreated, false, true, CsMethod::Reg),
    ] {
        let mut input = input.clone();
        if clustered {
            input.cluster = Some((state.clone(), levels.len()));
        }
        if covariate {
            input.covariates = lpop.clone();
        }
        let tol = if covariate { 1e-7 } else { 1e-9 };
        let f = staggered::fit(&input, &CsSettings { control, method, ..CsSettings::default() }).unwrap();
        assert!(!f.balanced);
        assert!(f.warnings.iter().any(|w| w.contains("unbalanced")), "{:?}", f.warnings);
        assert_eq!(f.inference.n_obs, 2232);
        let a = &r[key];
        let n = a["att"].as_array().unwrap().len();
        assert_eq!(f.group_time.len(), n, "{key}");
        for i in 0..n {
            let (g, tt) = (a["group"][i].as_i64().unwrap(), a["time"][i].as_i64().unwrap());
            let c = f.group_time.iter().find(|c| c.group == g && c.time == tt).unwrap();
            assert!((c.att - a["att"][i].as_f64().unwrap()).abs() < tol, "{key} att({g}, {tt}): {}", c.att);
            assert!(rel(c.std_error, a["se"][i].as_f64().unwrap()) < 1e-6, "{key} se({g}, {tt}): {}", c.std_error);
        }
        let simple = &f.aggregations["simple"];
        assert!((simple.att - a["simple"]["att"].as_f64().unwrap()).abs() < tol, "{key} simple");
        assert!(
            rel(simple.std_error, a["simple"]["se"].as_f64().unwrap()) < 1e-6,
            "{key} simple se {}",
            simple.std_error
        );
        let dynamic = &f.aggregations["dynamic"];
        assert!(rel(dynamic.std_error, a["dynamic"]["se"].as_f64().unwrap()) < 1e-6, "{key} dynamic se");
        for (k, e) in a["dynamic"]["egt"].as_array().unwrap().iter().enumerate() {
            let p = f.event_study.iter().find(|p| p.relative_time == e.as_i64().unwrap()).unwrap();
            assert!((p.att - a["dynamic"]["att_egt"][k].as_f64().unwrap()).abs() < tol, "{key} e={}", p.relative_time);
            assert!(
                rel(p.std_error, a["dynamic"]["se_egt"][k].as_f64().unwrap()) < 1e-6,
                "{key} e={}",
                p.relative_time
            );
        }
        if let Some(w) = a["wald"].as_f64() {
            assert!(rel(f.pre_trend_chi2.unwrap(), w) < 1e-6, "{key} Wald {:?} vs {w}", f.pre_trend_chi2);
        }
    }
}

/// The event study's uniform (sup-t) band against csdid 0.4.3 (`tests/reference/scripts/
/// cs_uniform_band.py`: `cband=True`, 99,999 multiplier draws on both sides, R did's type-1
/// quantiles): the critical value within 0.03 (its Monte Carlo sd is about 0.005 per side) and
/// the bootstrap scale per event time within 2%; the band contains the pointwise interval.
#[test]
fn cs_uniform_band_matches_csdid() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join("cs_uniform_band.json")).unwrap()).unwrap();
    let settings = CsSettings { bootstrap: Some(Bootstrap { draws: 99_999, seed: 11 }), ..CsSettings::default() };
    let f = staggered::fit(&mpdta_cs(), &settings).unwrap();
    let crit = f.uniform_critical_value.unwrap();
    let want = r["crit_val"].as_f64().unwrap();
    assert!((crit - want).abs() < 0.03, "{crit} vs csdid {want}");
    let ses = r["se"].as_array().unwrap();
    assert_eq!(f.event_study.len(), ses.len());
    for (p, se) in f.event_study.iter().zip(ses) {
        let (lo, hi) = (p.uniform_ci_low.unwrap(), p.uniform_ci_high.unwrap());
        let scale = (hi - lo) / (2.0 * crit);
        assert!(rel(scale, se.as_f64().unwrap()) < 0.02, "e={}: {scale} vs {se}", p.relative_time);
        assert!(lo <= p.ci_low + 1e-3 * scale && hi >= p.ci_high - 1e-3 * scale, "e={}", p.relative_time);
    }
}

/// The default band (no bootstrap asked) is the plug-in sup-t band: each event time's scale is
/// its analytic standard error, and the critical value comes from 999 draws of the estimated
/// normal law. Against csdid 0.4.3's multiplier-bootstrap band (99,999 draws; the reference of
/// `cs_uniform_band_matches_csdid`) each half-width agrees within 10%. The two methods differ
/// by up to 4.4% here: csdid scales by the bootstrap's IQR, up to 6% above the standard error on
/// event times 2 and 3, which rest on the 20 counties first treated in 2004, and takes a lower
/// critical value (2.54 against the plug-in's 2.66, both at 99,999 draws). 999 draws add Monte
/// Carlo error of about 1.7% (sd 0.045 of the critical value over 40 seeds): the default seed's
/// 2.73 puts the widest half-width 7.1% above csdid's. The band contains the pointwise interval.
#[test]
fn cs_default_band_is_the_plugin_sup_t_band() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join("cs_uniform_band.json")).unwrap()).unwrap();
    let f = staggered::fit(&mpdta_cs(), &CsSettings::default()).unwrap();
    let crit = f.uniform_critical_value.unwrap();
    assert_eq!(f.uniform_draws, Some(999));
    let csdid_crit = r["crit_val"].as_f64().unwrap();
    for (p, se) in f.event_study.iter().zip(r["se"].as_array().unwrap()) {
        let (lo, hi) = (p.uniform_ci_low.unwrap(), p.uniform_ci_high.unwrap());
        assert!(
            rel((hi - lo) / (2.0 * crit), p.std_error) < 1e-12,
            "e={}: the scale is the standard error",
            p.relative_time
        );
        let (half, theirs) = ((hi - lo) / 2.0, csdid_crit * se.as_f64().unwrap());
        eprintln!("e={}: half-width {half} vs csdid {theirs}", p.relative_time);
        assert!(rel(half, theirs) < 0.10, "e={}: {half} vs csdid {theirs}", p.relative_time);
        assert!(lo <= p.ci_low && hi >= p.ci_high, "e={}", p.relative_time);
    }
}

/// A HonestDiD reference file, with its event-study coefficients and their 7 x 7 covariance.
fn honest_reference(file: &str) -> (serde_json::Value, ndarray::Array1<f64>, ndarray::Array2<f64>) {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join(file)).unwrap()).unwrap();
    let beta: ndarray::Array1<f64> = r["betahat"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let rows = r["sigma"].as_array().unwrap();
    let sigma = ndarray::Array2::from_shape_fn((7, 7), |(i, j)| rows[i][j].as_f64().unwrap());
    (r, beta, sigma)
}

/// HonestDiD's relative-magnitude bounds against honestdid 0.1.1 (`tests/reference/scripts/
/// honestdid_rm.py`: the mpdta TWFE event study from pyfixest, 3 leads and 4 lags, C-LF, 1,000
/// grid points over ±20 standard errors) for the average of the lags and for the first lag,
/// M-bar 0.5, 1 and 2: 10 of the 12 ends within one grid step (7 exactly equal), none more than
/// three (the least-favourable critical value is simulated with a different generator). The coefficients and covariance are pyfixest's, so
/// this checks the sensitivity analysis alone.
#[test]
fn honest_relative_magnitudes_match_honestdid() {
    use liftos_estimators::did::honest::{self, HonestSettings};
    let (r, beta, sigma) = honest_reference("honestdid_rm.json");
    let (mut worst, mut within_one) = (0.0f64, 0usize);
    for key in ["average", "first"] {
        let l: ndarray::Array1<f64> = r[key]["l_vec"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let got = honest::relative_magnitudes(&beta, &sigma, 3, 4, &l, &HonestSettings::default()).unwrap();
        let post_sd = {
            let p = linalg_block(&sigma, 3);
            l.dot(&p.dot(&l)).sqrt()
        };
        let step = 40.0 * post_sd / 999.0;
        for (g, w) in got.iter().zip(r[key]["relative_magnitudes"].as_array().unwrap()) {
            assert_eq!(g.mbar, w["mbar"].as_f64().unwrap());
            for (mine, theirs) in [(g.ci_low, &w["ci_low"]), (g.ci_high, &w["ci_high"])] {
                let (m, t) = (mine.unwrap(), theirs.as_f64().unwrap());
                eprintln!("{key} mbar {}: {m} vs honestdid {t}: {:.1} steps", g.mbar, (m - t) / step);
                worst = worst.max((m - t).abs() / step);
                within_one += usize::from((m - t).abs() <= step * 1.0001);
            }
        }
    }
    assert!(worst <= 3.0 + 1e-9, "an end {worst} grid steps from honestdid's");
    assert!(within_one >= 10, "{within_one} of 12 ends within one step");
}

/// HonestDiD's smoothness bounds (Δ^SD(M), the optimal FLCI) against honestdid 0.1.1
/// (`tests/reference/scripts/honestdid_sd.py`: `createSensitivityResults`, method FLCI, on the
/// same mpdta event study as the relative-magnitude check) for the average of the lags and for
/// the first lag, at honestdid's default M grid (ten values from 0 to its upper bound on the
/// pre-periods' second differences, reproduced to 1e-12) and M = 0.05. honestdid takes the
/// quantile of |N(b, 1)| from 10⁶ simulated draws and its h by bisecting a finite-difference
/// derivative in 100 steps; here both are solved exactly. Every end agrees within 0.5% of the
/// interval's width (0.15% measured), and the M = 0 estimator (the minimum-variance
/// trend-unbiased one) has honestdid's standard deviation to 1e-6 and its weights to 1e-3.
#[test]
fn honest_smoothness_matches_honestdid() {
    use liftos_estimators::did::honest_sd;
    let (r, beta, sigma) = honest_reference("honestdid_sd.json");
    let grid = honest_sd::default_ms(&beta, &sigma, 3);
    for (g, w) in grid.iter().zip(r["default_mvec"].as_array().unwrap()) {
        assert!((g - w.as_f64().unwrap()).abs() < 1e-12, "default M {g} vs {w}");
    }
    let mut worst = 0.0f64;
    for key in ["average", "first"] {
        let l: ndarray::Array1<f64> = r[key]["l_vec"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let want = r[key]["smoothness"].as_array().unwrap();
        let ms: Vec<f64> = want.iter().map(|w| w["m"].as_f64().unwrap()).collect();
        let got = honest_sd::smoothness(&beta, &sigma, 3, 4, &l, &ms, 0.05).unwrap();
        for (g, w) in got.iter().zip(want) {
            let (lo, hi) = (w["ci_low"].as_f64().unwrap(), w["ci_high"].as_f64().unwrap());
            let gap = (g.ci_low - lo).abs().max((g.ci_high - hi).abs()) / (hi - lo);
            eprintln!(
                "{key} M {:.5}: [{:.6}, {:.6}] vs honestdid [{lo:.6}, {hi:.6}]: {:.4}% of the width",
                g.m,
                g.ci_low,
                g.ci_high,
                100.0 * gap
            );
            worst = worst.max(gap);
        }
        let f0 = honest_sd::flci(&beta, &sigma, 3, 4, &l, 0.0, 0.05).unwrap();
        // At M = 0 the half-length is the |N(0,1)| quantile × the smallest standard deviation:
        // that deviation is never larger than honestdid's (an exact optimum) and within 1e-6
        // of it; the weights, flat near the optimum, within 1e-3.
        let sd0 = r[key]["flci"][0]["half_length"].as_f64().unwrap() / r["qfoldednormal_095_0"].as_f64().unwrap();
        assert!(f0.sd <= sd0 * (1.0 + 1e-9) && f0.sd >= sd0 * (1.0 - 1e-6), "{key}: M = 0 sd {} vs {sd0}", f0.sd);
        let w0 = &r[key]["flci"][0]["weights"];
        for (j, w) in w0.as_array().unwrap().iter().enumerate() {
            assert!(
                (f0.weights[j] - w.as_f64().unwrap()).abs() < 1e-3,
                "{key}: M = 0 weight {j}: {} vs {w}",
                f0.weights[j]
            );
        }
    }
    assert!(worst < 0.005, "an end {:.3}% of the width from honestdid's", 100.0 * worst);
    // The same bounds in any units of the outcome (the coefficients x a, the covariance x a²,
    // M x a): the cone programs' tolerances are absolute, so before the event study was put in
    // units of its standard error the M = 0 interval moved by 2.5e-4 of itself at a = 1e-6.
    let l: ndarray::Array1<f64> =
        r["average"]["l_vec"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let base = honest_sd::smoothness(&beta, &sigma, 3, 4, &l, &grid, 0.05).unwrap();
    let b0 = honest_sd::breakdown(&beta, &sigma, 3, 4, &l, 0.05, 1.0);
    for a in [1e-6, 1e6] {
        let ms: Vec<f64> = grid.iter().map(|m| m * a).collect();
        let got = honest_sd::smoothness(&(&beta * a), &(&sigma * (a * a)), 3, 4, &l, &ms, 0.05).unwrap();
        for (g, w) in got.iter().zip(&base) {
            let width = w.ci_high - w.ci_low;
            let gap = (g.ci_low / a - w.ci_low).abs().max((g.ci_high / a - w.ci_high).abs()) / width;
            assert!(
                gap < 1e-5,
                "x{a}, M {}: [{}, {}] vs [{}, {}]",
                w.m,
                g.ci_low / a,
                g.ci_high / a,
                w.ci_low,
                w.ci_high
            );
        }
        let b = honest_sd::breakdown(&(&beta * a), &(&sigma * (a * a)), 3, 4, &l, 0.05, a);
        assert_eq!(b.is_some(), b0.is_some(), "x{a}: breakdown {b:?} vs {b0:?}");
        if let (Some(b), Some(b0)) = (b, b0) {
            assert!((b / a - b0).abs() <= 2e-3 * b0.max(1e-12), "x{a}: breakdown {} vs {b0}", b / a);
        }
    }
}

fn linalg_block(s: &ndarray::Array2<f64>, from: usize) -> ndarray::Array2<f64> {
    let n = s.nrows();
    ndarray::Array2::from_shape_fn((n - from, n - from), |(i, j)| s[[from + i, from + j]])
}

/// Anticipation and the universal base period against csdid 0.4.3 on mpdta
/// (`tests/reference/scripts/cs_anticipation.py`): every ATT(g,t) 1e-9 and standard error 1e-6,
/// with one period of anticipation (the 2004 cohort has no unaffected period and is dropped),
/// with a universal base (the reference cell is a zero), and both with not-yet-treated controls.
#[test]
fn cs_anticipation_and_universal_base_match_csdid() {
    use liftos_estimators::did::staggered::BasePeriod;
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join("cs_anticipation.json")).unwrap()).unwrap();
    for (key, anticipation, base_period, control) in [
        ("ant1_varying_never", 1, BasePeriod::Varying, ControlGroup::NeverTreated),
        ("ant0_universal_never", 0, BasePeriod::Universal, ControlGroup::NeverTreated),
        ("ant1_universal_notyet", 1, BasePeriod::Universal, ControlGroup::NotYetTreated),
    ] {
        let s = CsSettings { anticipation, base_period, control, ..CsSettings::default() };
        let f = staggered::fit(&mpdta_cs(), &s).unwrap();
        let w = &r[key];
        let n = w["att"].as_array().unwrap().len();
        assert_eq!(
            f.group_time.len(),
            n,
            "{key}: {:?}",
            f.group_time.iter().map(|c| (c.group, c.time)).collect::<Vec<_>>()
        );
        for (i, c) in f.group_time.iter().enumerate() {
            assert_eq!((c.group, c.time), (w["group"][i].as_i64().unwrap(), w["time"][i].as_i64().unwrap()), "{key}");
            let a = w["att"][i].as_f64().unwrap();
            assert!((c.att - a).abs() < 1e-9, "{key} ({}, {}): {} vs {a}", c.group, c.time, c.att);
            match w["se"][i].as_f64() {
                Some(se) => assert!(
                    (c.std_error - se).abs() < 1e-6 * se.max(1e-3),
                    "{key} ({}, {}): se {} vs {se}",
                    c.group,
                    c.time,
                    c.std_error
                ),
                // csdid reports the reference cell's standard error as NaN; it is exactly zero.
                None => assert_eq!((c.att, c.std_error), (0.0, 0.0)),
            }
        }
    }
}

/// The 1-df linear pre-trend test on mpdta's TWFE event study against pyfixest 0.60 and scipy
/// 1.17 (`tests/reference/scripts/pretrend_slope.py`): the event study's coefficients and CR1
/// errors, the slope of the leads c'b, its error sqrt(c'Vc) from pyfixest's covariance, the
/// t(G-1) p-value; pyfixest's `wald_test` of the same restriction is its square.
#[test]
fn linear_pretrend_slope_matches_pyfixest_on_mpdta() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference_dir().join("pretrend_slope.json")).unwrap()).unwrap();
    let f = twfe::fit(&mpdta(), &DidSettings { event_study: true, ..DidSettings::default() }).unwrap();
    let pts = f.event_study.as_ref().unwrap();
    let want = r["event_study"].as_array().unwrap();
    assert_eq!(pts.len(), want.len());
    for (p, w) in pts.iter().zip(want) {
        assert_eq!(p.relative_time, w["relative_time"].as_i64().unwrap());
        let wa = w["att"].as_f64().unwrap();
        assert!((p.att - wa).abs() < 1e-8 * (1.0 + wa.abs()), "e={}: {} vs {wa}", p.relative_time, p.att);
        assert!(rel(p.std_error, w["std_error"].as_f64().unwrap()) < 1e-6, "e={}", p.relative_time);
    }
    let s = f.pre_trend_slope.as_ref().unwrap();
    assert_eq!(s.leads as u64, r["leads"].as_u64().unwrap());
    assert_eq!(s.df, r["df"].as_f64().unwrap());
    assert!((s.slope - r["slope"].as_f64().unwrap()).abs() < 1e-9, "slope {}", s.slope);
    assert!(rel(s.std_error, r["std_error"].as_f64().unwrap()) < 1e-6, "se {}", s.std_error);
    assert!((s.p_value - r["p_value"].as_f64().unwrap()).abs() < 1e-6, "p {}", s.p_value);
    let t2 = (s.slope / s.std_error).powi(2);
    assert!(rel(t2, r["wald_statistic"].as_f64().unwrap()) < 1e-5, "Wald {t2}");
}
