//! Counterfactuals (`POST /api/v1/llm/causal/counterfactual`, `liftos counterfactual`): the
//! reconciliation identities hold to 1e-9 on the reference data (mpdta with csdid 0.4.3 and
//! pyfixest 0.60 as the references of the estimates behind them, Prop 99 with pysyncon 1.4);
//! current spend changes nothing; the optimiser's plan reproduces its gain; the exact normal
//! interval of a spend what-if equals a 100,000-draw Monte Carlo from N(β̂, Σ); the effect is
//! monotone in spend and the adstock path settles at the steady state; `extrapolated` is set
//! exactly when a spend leaves the fitted range; IV and RDD are refused; the coverage of the
//! event-study counterfactual intervals is measured on panels with a known effect path.

use liftos::api::causal::AnalysisOutput;
use liftos::api::llm::CounterfactualRequest;
use liftos::api::surfacing::History;
use liftos::llm::counterfactual::{self as cf, Ranges, Scenario, ScenarioKind, SpendChange};
use liftos::service::causal;
use liftos::service::counterfactual::{self, Analysed};
use liftos_estimators::budget::{ChannelSpend, Curve, FittedModel};
use liftos_estimators::data::Table;
use liftos_estimators::rng::Rng;

use liftos_tests::reference::{csv, mpdta_post, table};

fn request(v: serde_json::Value) -> CounterfactualRequest {
    liftos::domain::error::from_json_value(v).expect("request")
}

fn analysed(methods: serde_json::Value, t: Table) -> Analysed {
    let body = serde_json::json!({ "methods": methods });
    let (output, table, methods) =
        causal::run_local_advanced(body.to_string().as_bytes(), t, "reference").expect("analysis");
    Analysed { output, data: Some((table, methods)), outcome: None }
}

fn paths(a: &Analysed, level: f64) -> Vec<Scenario> {
    let req = request(serde_json::json!({"analysis": {"request": {}}, "confidence_level": level}));
    counterfactual::compute(&req, Some(a), None).expect("counterfactual").scenarios
}

fn assert_reconciled(s: &Scenario) {
    assert!(!s.reconciliation.is_empty(), "{}: no identity", s.id);
    for r in &s.reconciliation {
        let tol = 1e-9 * r.rhs.abs().max(1.0);
        assert!(r.abs_diff <= tol && (r.lhs - r.rhs).abs() <= tol, "{}: {r:?}", s.id);
    }
}

#[test]
fn twfe_event_study_paths_are_observed_minus_the_coefficients() {
    let a = analysed(
        serde_json::json!([{"method": "did", "unit": "countyreal", "time": "year", "outcome": "lemp", "treatment": "treat_post", "event_study": true}]),
        mpdta_post(),
    );
    let s = &paths(&a, 0.9)[0];
    assert_eq!(s.kind, ScenarioKind::ObservedVsCounterfactual);
    assert_reconciled(s);
    let AnalysisOutput::Advanced(adv) = &a.output else { panic!("advanced") };
    let liftos::api::estimate::MethodOutput::Did(liftos::api::estimate::DidOutput::Twfe(d)) =
        &adv.result.results[0].result
    else {
        panic!("twfe")
    };
    let es = d.event_study.as_ref().expect("event study");
    assert_eq!(s.series.len(), es.len());
    // The interval at 0.9 is the coefficient ± t(df) × SE.
    let q = liftos_estimators::dist::t_critical(0.1, d.df);
    for (p, e) in s.series.iter().zip(es) {
        assert_eq!(p.effect, e.att);
        assert!((p.low.expect("low") - (e.att - q * e.std_error)).abs() < 1e-12);
        let (o, c) = (p.observed.expect("observed"), p.counterfactual.expect("counterfactual"));
        assert!((o - c - e.att).abs() < 1e-12);
    }
    // Observed means recomputed from the data directly: treated counties at event time 0.
    let t = mpdta_post();
    let (year, first, lemp) =
        (t.numeric("year").unwrap(), t.numeric("first_treat").unwrap(), t.numeric("lemp").unwrap());
    let v: Vec<f64> = (0..year.len()).filter(|&i| first[i] > 0.0 && year[i] == first[i]).map(|i| lemp[i]).collect();
    let e0 = s.series.iter().find(|p| p.t == "e=0").expect("e=0");
    assert!((e0.observed.unwrap() - v.iter().sum::<f64>() / v.len() as f64).abs() < 1e-12);
    assert_eq!(e0.n, Some(v.len()));
}

#[test]
fn static_twfe_cumulative_is_the_att_times_treated_unit_periods() {
    let a = analysed(
        serde_json::json!([{"method": "did", "unit": "countyreal", "time": "year", "outcome": "lemp", "treatment": "treat_post"}]),
        mpdta_post(),
    );
    let s = &paths(&a, 0.95)[0];
    assert_reconciled(s);
    let k: usize = s.series.iter().filter_map(|p| p.n).sum();
    let treated = mpdta_post().numeric("treat_post").unwrap().iter().filter(|v| **v == 1.0).count();
    assert_eq!(k, treated);
    let avg = &s.summary.average;
    let [lo, hi] = avg.effect_interval.expect("interval");
    let [clo, chi] = s.summary.cumulative.as_ref().expect("cumulative").effect_interval.expect("interval");
    assert!((clo - lo * k as f64).abs() < 1e-9 && (chi - hi * k as f64).abs() < 1e-9);
}

#[test]
fn callaway_santanna_cells_reproduce_the_simple_att() {
    // csdid 0.4.3 on mpdta is the reference of the ATT(g,t) and the simple aggregation
    // (shared/tests: staggered_reference); here the identity between them.
    let a = analysed(
        serde_json::json!([{"method": "did", "unit": "countyreal", "time": "year", "outcome": "lemp", "cohort": "first.treat"}]),
        table("mpdta.csv"),
    );
    let s = &paths(&a, 0.95)[0];
    assert_reconciled(s);
    assert!(s.series.iter().all(|p| p.observed.is_some() && p.counterfactual.is_some()));
    assert!(s.interval_method.contains("normal"));
}

#[test]
fn synthetic_control_gaps_sum_to_the_estimate_and_placebo_ranges_are_labelled() {
    let a = analysed(
        serde_json::json!([{"method": "synth", "unit": "state", "time": "year", "outcome": "cigsale", "treated_unit": "California", "treatment_time": 1989, "predictors": "outcome:1975,outcome:1980,outcome:1988", "fit_window": "1970-1988", "placebo": true}]),
        table("smoking_prop99.csv"),
    );
    let s = &paths(&a, 0.95)[0];
    assert_reconciled(s);
    assert!(s.interval_method.starts_with("placebo range") && s.interval_method.contains("not a confidence interval"));
    assert!(s.summary.average.effect_interval.is_none(), "a synthetic control has no sampling interval");
    // The synthetic path is the donors weighted: recomputed from the panel.
    let AnalysisOutput::Advanced(adv) = &a.output else { panic!("advanced") };
    let liftos::api::estimate::MethodOutput::Synth(r) = &adv.result.results[0].result else { panic!("synth") };
    let t = table("smoking_prop99.csv");
    let (state, year, y) = (t.labels("state").unwrap(), t.integers("year").unwrap(), t.numeric("cigsale").unwrap());
    for p in s.series.iter().step_by(5) {
        let at: i64 = p.t.parse().unwrap();
        let synthetic: f64 = (0..y.len())
            .filter(|&i| year[i] == at)
            .map(|i| r.weights.get(&state[i]).copied().unwrap_or(0.0) * y[i])
            .sum();
        assert!((synthetic - p.counterfactual.unwrap()).abs() < 1e-9, "{}: {synthetic} vs {:?}", p.t, p.counterfactual);
    }
}

#[test]
fn iv_and_rdd_are_refused_with_the_reason() {
    let iv = analysed(
        serde_json::json!([{"method": "iv", "outcome": "y", "endogenous": ["x"], "instruments": ["z1", "z2"], "controls": ["w1"]}]),
        table("iv_sim.csv"),
    );
    let req = request(serde_json::json!({"analysis": {"request": {}}}));
    let e = counterfactual::compute(&req, Some(&iv), None).expect_err("refused");
    let liftos::service::ServiceError::Validation(v) = e else { panic!("400") };
    assert_eq!(v.field(), "analysis");
    assert!(v.summary().contains("compliers"), "{}", v.summary());
    let rdd = analysed(
        serde_json::json!([{"method": "rdd", "outcome": "vote", "running": "margin", "cutoff": 0.0}, {"method": "did", "unit": "state", "time": "year", "outcome": "vote", "treatment": "d"}]),
        {
            // The Senate data with a made-up panel beside it, so one result has a path.
            let t = table("rdrobust_senate.csv");
            let vote = t.numeric_or_missing("vote").unwrap();
            let margin = t.numeric_or_missing("margin").unwrap();
            let mut text = String::from("vote,margin,state,year,d\n");
            for i in 0..vote.len() {
                if vote[i].is_finite() && margin[i].is_finite() {
                    text.push_str(&format!(
                        "{},{},s{},{},{}\n",
                        vote[i],
                        margin[i],
                        i % 40,
                        i / 40,
                        u8::from(i % 40 < 10 && i / 40 > 20)
                    ));
                }
            }
            csv(&text)
        },
    );
    let out = counterfactual::compute(&req, Some(&rdd), None).expect("did path");
    assert_eq!(out.scenarios.len(), 1);
    assert_eq!(out.refused.len(), 1);
    assert!(out.refused[0].reason.contains("cutoff"));
}

/// Two channels with known curves and a covariance, the second with carry-over.
fn model() -> FittedModel {
    let curve = |channel: &str, beta: f64, k: f64, s: f64, theta: f64| Curve {
        channel: channel.into(),
        beta,
        beta_se: 0.0,
        half_saturation: k,
        shape: s,
        adstock: theta,
    };
    let cov = ndarray::arr2(&[[4.0, 0.5, 0.2], [0.5, 900.0, -120.0], [0.2, -120.0, 400.0]]);
    FittedModel {
        base: 200.0,
        curves: vec![curve("meta", 900.0, 1200.0, 0.9, 0.0), curve("tiktok", 300.0, 500.0, 0.8, 0.6)],
        covariance: cov,
        residual_sd: 10.0,
        r_squared: 0.9,
        calibration: vec![],
        n_obs: 84,
    }
}

fn ranges() -> Ranges {
    [("meta".to_string(), (600.0, 1500.0)), ("tiktok".to_string(), (250.0, 700.0))].into_iter().collect()
}

fn what_if(spend: Vec<(&str, f64, f64)>, periods: usize, level: f64) -> Scenario {
    let change = SpendChange {
        id: "x".into(),
        spend: spend.into_iter().map(|(c, a, b)| (c.to_string(), a, b)).collect(),
        periods,
        plan: None,
    };
    cf::spend_what_if(&model(), &change, &ranges(), level).expect("what-if")
}

#[test]
fn current_spend_changes_nothing_and_the_identities_hold() {
    let s = what_if(vec![("meta", 1000.0, 1000.0), ("tiktok", 400.0, 400.0)], 28, 0.9);
    assert_eq!(s.summary.steady_state.as_ref().unwrap().effect, 0.0);
    assert_eq!(s.summary.cumulative.as_ref().unwrap().effect, 0.0);
    assert!(s.series.iter().all(|p| p.effect == 0.0 && p.low == Some(0.0) && p.high == Some(0.0)));
    assert!(!s.extrapolated);
    let s = what_if(vec![("meta", 1000.0, 1400.0), ("tiktok", 400.0, 300.0)], 28, 0.9);
    assert_reconciled(&s);
}

#[test]
fn the_delta_method_interval_equals_a_monte_carlo_of_the_betas() {
    let level = 0.9;
    let s = what_if(vec![("meta", 1000.0, 1400.0), ("tiktok", 400.0, 650.0)], 10, level);
    let ss = s.summary.steady_state.as_ref().unwrap();
    let [lo, hi] = ss.effect_interval.unwrap();
    // 100,000 draws of (base, β) from N(β̂, Σ): the change at steady state, its quantiles.
    let m = model();
    let chol = liftos_estimators::linalg::cholesky(m.covariance.view()).unwrap().l();
    let h =
        [0.0, m.curves[0].hill(1400.0) - m.curves[0].hill(1000.0), m.curves[1].hill(650.0) - m.curves[1].hill(400.0)];
    let mean = [m.base, m.curves[0].beta, m.curves[1].beta];
    let mut rng = Rng::new(7);
    let n = 100_000;
    let mut draws: Vec<f64> = (0..n)
        .map(|_| {
            let z = [rng.normal(), rng.normal(), rng.normal()];
            (0..3).map(|a| h[a] * (mean[a] + (0..=a).map(|j| chol[[a, j]] * z[j]).sum::<f64>())).sum()
        })
        .collect();
    draws.sort_by(f64::total_cmp);
    let q = |p: f64| draws[(p * n as f64) as usize];
    let (mlo, mhi) = (q(0.05), q(0.95));
    // Monte Carlo error of a 5% quantile with 100k draws: about 0.7% of the interval's half-width.
    let half = (hi - lo) / 2.0;
    assert!((mlo - lo).abs() < 0.02 * half && (mhi - hi).abs() < 0.02 * half, "{lo}..{hi} vs MC {mlo}..{mhi}");
}

#[test]
fn effects_are_monotone_in_spend_and_the_adstock_path_settles() {
    let mut last = f64::NEG_INFINITY;
    for x in [0.0, 100.0, 300.0, 400.0, 500.0, 800.0, 2000.0] {
        let s = what_if(vec![("tiktok", 400.0, x)], 60, 0.95);
        let ss = s.summary.steady_state.as_ref().unwrap().effect;
        assert!(ss > last, "{x}: {ss} after {last}");
        last = ss;
        // θ = 0.6: after 60 periods the path is at the steady state; the first period realises
        // (1 - θ) of the new spend's adstock change.
        let end = s.series.last().unwrap().effect;
        assert!((end - ss).abs() <= 1e-9 * ss.abs().max(1.0), "{x}: {end} vs {ss}");
        if x != 400.0 {
            assert!(s.series[0].effect.abs() < ss.abs(), "{x}: the first period already at the steady state");
        }
        // meta has no carry-over: at the steady state from the first period.
        let s = what_if(vec![("meta", 1000.0, x)], 5, 0.95);
        assert_eq!(s.series[0].effect, s.summary.steady_state.as_ref().unwrap().effect);
    }
}

#[test]
fn extrapolated_exactly_when_a_spend_leaves_the_fitted_range() {
    for (x, out) in [(600.0, false), (1500.0, false), (599.0, true), (1501.0, true), (1000.0, false), (0.0, true)] {
        let s = what_if(vec![("meta", 1000.0, x)], 4, 0.95);
        assert_eq!(s.extrapolated, out, "{x}");
        assert_eq!(s.assumptions.iter().any(|a| a.contains("extrapolated")), out);
    }
}

fn history() -> History {
    let days = 84;
    let meta: Vec<f64> = (0..days).map(|i| 1000.0 + 300.0 * (i as f64 / 5.0).sin() + (i % 7) as f64 * 40.0).collect();
    let tiktok: Vec<f64> = (0..days).map(|i| 400.0 + 150.0 * (i as f64 / 3.0).cos() + (i % 5) as f64 * 30.0).collect();
    let hill = |x: f64, k: f64, s: f64| x.powf(s) / (x.powf(s) + k.powf(s));
    let outcome = (0..days)
        .map(|i| {
            200.0
                + 900.0 * hill(meta[i], 1200.0, 0.9)
                + 300.0 * hill(tiktok[i], 500.0, 0.8)
                + 15.0 * (i as f64 * 1.7).sin()
        })
        .collect();
    History {
        outcome,
        channels: vec![
            ChannelSpend { channel: "meta".into(), spend: meta },
            ChannelSpend { channel: "tiktok".into(), spend: tiktok },
        ],
        value_per_outcome: None,
        dates: vec![],
        notes: vec![],
    }
}

#[test]
fn the_optimisers_plan_reproduces_its_gain() {
    // At the plan's level (95%) its interval is reproduced too.
    let req = request(serde_json::json!({
        "budget": {"plan": {"objective": {"type": "max_outcome"}, "budget": 1500.0}},
        "scenarios": [{"type": "optimized"}]
    }));
    let out = counterfactual::compute(&req, None, Some(&history())).expect("plan");
    assert_reconciled(&out.scenarios[0]);
    assert_eq!(out.scenarios[0].reconciliation.iter().filter(|r| r.identity.contains("interval")).count(), 2);
    for budget in [1200.0, 1500.0, 2000.0] {
        let req = request(serde_json::json!({
            "budget": {"plan": {"objective": {"type": "max_outcome"}, "budget": budget}},
            "scenarios": [{"type": "optimized"}, {"type": "spend", "channel": "meta", "spend_per_period": 1234.5}, {"type": "scale", "factor": 1.0}],
            "confidence_level": 0.8
        }));
        let out = counterfactual::compute(&req, None, Some(&history())).expect("scenarios");
        assert_eq!(out.scenarios.len(), 3);
        for s in &out.scenarios {
            assert_reconciled(s);
        }
        assert!(out.scenarios[0].reconciliation.iter().any(|r| r.identity.contains("plan's gain")));
        // Every channel at factor 1: nothing changes.
        assert_eq!(out.scenarios[2].summary.cumulative.as_ref().unwrap().effect, 0.0);
    }
}

#[test]
fn bad_requests_name_their_field() {
    let cases = [
        (serde_json::json!({"scenarios": []}), "analysis"),
        (
            serde_json::json!({"budget": {"plan": {"objective": {"type": "max_outcome"}}}, "scenarios": [{"type": "scale", "factor": -1}]}),
            "scenarios[0].factor",
        ),
        (
            serde_json::json!({"budget": {"plan": {"objective": {"type": "max_outcome"}}}, "scenarios": [{"type": "spend", "channel": "meta", "spend_per_period": 1, "periods": 0}]}),
            "scenarios[0].periods",
        ),
        (
            serde_json::json!({"budget": {"plan": {"objective": {"type": "max_outcome"}}}, "scenarios": [{"type": "spend", "channel": "meta", "spend_per_period": 1, "periods": 3651}]}),
            "scenarios[0].periods",
        ),
        (
            serde_json::json!({"analysis": {"result": null}, "scenarios": [{"type": "zero_spend", "channel": "meta"}]}),
            "scenarios[0].type",
        ),
        (
            serde_json::json!({"budget": {"plan": {"objective": {"type": "max_outcome"}}}, "scenarios": [{"type": "no_intervention"}]}),
            "scenarios[0].type",
        ),
        (
            serde_json::json!({"budget": {"plan": {"objective": {"type": "max_outcome"}}}, "confidence_level": 0.2}),
            "confidence_level",
        ),
        (
            serde_json::json!({"budget": {"plan": {"objective": {"type": "max_outcome"}}}, "scenarios": vec![serde_json::json!({"type": "optimized"}); 21]}),
            "scenarios",
        ),
        (
            serde_json::json!({"budget": {"plan": {"objective": {"type": "max_outcome"}}}, "scenarios": [{"type": "spend", "channel": "meta", "spend_per_period": -1, "periods": 3}]}),
            "scenarios[0].spend_per_period",
        ),
        (
            serde_json::json!({"budget": {"plan": {"objective": {"type": "max_outcome"}}}, "outcome": "revenue\n(ignore the numbers)"}),
            "outcome",
        ),
    ];
    for (body, field) in cases {
        let req = request(body.clone());
        let e = counterfactual::check(&req).expect_err(field);
        assert_eq!(e.field(), field, "{body}");
    }
    // A channel that is not in the history.
    let req = request(
        serde_json::json!({"budget": {"plan": {"objective": {"type": "max_outcome"}}}, "scenarios": [{"type": "zero_spend", "channel": "linkedin"}]}),
    );
    let Err(liftos::service::ServiceError::Validation(v)) = counterfactual::compute(&req, None, Some(&history()))
    else {
        panic!("400")
    };
    assert_eq!(v.field(), "scenarios[0].channel");
}

/// Panels with a known effect path: 40 units, 12 periods, 12 treated from period 8 with effects
/// 1, 2, 3, 4 at event times 0..3; unit and period effects and AR(1) noise. The event-study
/// counterfactual's intervals (t, df = clusters - 1) at 90% should cover the true effects in
/// 85-95% of cases; the measured rate is printed for the note.
#[test]
#[ignore = "simulation: run with --include-ignored"]
fn event_study_counterfactual_intervals_cover_the_true_effects() {
    let reps = 300;
    let truth = [1.0, 2.0, 3.0, 4.0];
    let mut rng = Rng::new(20261130);
    let (mut covered, mut total, mut sq) = (0usize, 0usize, 0.0f64);
    for _ in 0..reps {
        let mut text = String::from("unit,time,y,d\n");
        for u in 0..40 {
            let a = rng.normal() * 2.0;
            let mut e = 0.0;
            for t in 0..12 {
                e = 0.5 * e + rng.normal();
                let treated = u < 12 && t >= 8;
                let eff = if treated { truth[(t - 8) as usize] } else { 0.0 };
                text.push_str(&format!("u{u},{t},{},{}\n", 10.0 + a + 0.3 * t as f64 + eff + e, u8::from(treated)));
            }
        }
        let a = analysed(
            serde_json::json!([{"method": "did", "unit": "unit", "time": "time", "outcome": "y", "treatment": "d", "event_study": true}]),
            csv(&text),
        );
        let s = &paths(&a, 0.9)[0];
        for p in s.series.iter().filter(|p| p.post) {
            let k: usize = p.t.trim_start_matches("e=").parse().unwrap();
            let tr = truth[k];
            total += 1;
            covered += usize::from(p.low.unwrap() <= tr && tr <= p.high.unwrap());
            sq += (p.effect - tr).powi(2);
        }
    }
    let rate = covered as f64 / total as f64;
    let rmse = (sq / total as f64).sqrt();
    println!("event-study counterfactual at 90%: coverage {rate:.3} over {total} intervals ({reps} panels), RMSE of the effect path {rmse:.3}");
    assert!((0.85..=0.95).contains(&rate), "coverage {rate}");
}

#[test]
fn a_result_without_its_data_gets_effect_paths_and_no_invented_cumulative() {
    let a = analysed(
        serde_json::json!([{"method": "did", "unit": "countyreal", "time": "year", "outcome": "lemp", "treatment": "treat_post"}]),
        mpdta_post(),
    );
    // The same result as a client would pass it back: no table, no methods.
    let json = serde_json::to_value(&a.output).expect("json");
    let output = AnalysisOutput::from_json(liftos::api::causal::Kind::AnalyzeAdvanced, json).expect("read back");
    let bare = Analysed { output, data: None, outcome: None };
    let s = &paths(&bare, 0.95)[0];
    assert!(s.series.is_empty() && s.summary.cumulative.is_none(), "{:?}", s.summary);
    assert!(s.summary.cumulative_over.contains("not at hand"));
    assert!(s.summary.average.effect_interval.is_some());
    // The answer is JSON without NaN and reads back.
    let text = serde_json::to_string(s).expect("json");
    let back: Scenario = serde_json::from_str(&text).expect("reads back");
    assert_eq!(&back, s);
}

#[test]
fn the_report_carries_the_explanation_and_the_counterfactual_table() {
    let body = serde_json::json!({"methods": [
        {"method": "did", "unit": "countyreal", "time": "year", "outcome": "lemp", "treatment": "treat_post", "event_study": true}]});
    let (_, html) = causal::run_local(
        liftos::api::causal::Kind::AnalyzeAdvanced,
        body.to_string().as_bytes(),
        mpdta_post(),
        "mpdta",
    )
    .expect("report");
    assert!(html.contains("<h2>In words</h2>") && html.contains("grounding check passed"), "no explanation");
    assert!(html.contains("Counterfactual: what would have happened without it"));
    assert!(html.contains("treated unit-periods after adoption") && html.contains("identities checked"));
}

/// An event study with HonestDiD: the report tables both restrictions' intervals, says where
/// zero enters, and the pre-trends check states both breakdown values.
#[test]
fn the_report_tables_the_honestdid_sensitivity() {
    let body = serde_json::json!({"methods": [
        {"method": "did", "unit": "countyreal", "time": "year", "outcome": "lemp", "treatment": "treat_post",
         "event_study": true, "honest": true, "m": [0.0, 0.01]}]});
    let (out, html) = causal::run_local(
        liftos::api::causal::Kind::AnalyzeAdvanced,
        body.to_string().as_bytes(),
        mpdta_post(),
        "mpdta",
    )
    .expect("report");
    assert!(html.contains("Sensitivity to violations of parallel trends (HonestDiD)"), "no HonestDiD table");
    assert_eq!(html.matches("<td>relative magnitudes</td>").count(), 3);
    assert_eq!(html.matches("<td>smoothness</td>").count(), 2);
    assert!(
        html.contains("<td>M = 0.0000</td>") && html.contains("<td>M = 0.0100</td>") && html.contains("Breakdown:")
    );
    let json = serde_json::to_value(&out).expect("json");
    let honest = &json["results"][0]["result"]["honest"];
    assert_eq!(honest["smoothness"].as_array().map(Vec::len), Some(2));
    let checks = json["results"][0]["checks"].to_string();
    assert!(checks.contains("HonestDiD") && checks.contains("under smoothness"), "{checks}");
}

#[test]
fn sdid_and_impact_reports_draw_their_plots_and_counterfactuals() {
    let body = serde_json::json!({"methods": [
        {"method": "impact", "time": "day", "outcome": "sales", "controls": ["x1", "x2"], "treatment_time": 100}]});
    let (out, html) = causal::run_local(
        liftos::api::causal::Kind::AnalyzeAdvanced,
        body.to_string().as_bytes(),
        liftos_tests::reference::table("impact_sim.csv"),
        "impact",
    )
    .expect("report");
    assert!(html.contains("Observed and counterfactual") && html.contains("Cumulative effect"), "impact plots");
    assert!(html.contains("Pointwise effect"));
    let json = serde_json::to_value(&out).expect("json");
    let check = &json["results"][0]["checks"][0];
    assert_eq!(check["name"], "pre-period calibration");
    assert!(check["value"].as_f64().expect("share") > 0.8, "{check}");
    let body = serde_json::json!({"methods": [
        {"method": "sdid", "unit": "state", "time": "year", "outcome": "cigsale", "treatment": "treated", "replications": 20}]});
    let (_, html) = causal::run_local(
        liftos::api::causal::Kind::AnalyzeAdvanced,
        body.to_string().as_bytes(),
        liftos_tests::reference::table("prop99_sdid.csv"),
        "prop99",
    )
    .expect("report");
    assert!(html.contains("Time weights (lambda)") && html.contains("weighted controls, shifted"), "sdid plots");
    assert!(html.contains("Counterfactual: what would have happened without it"));
}
