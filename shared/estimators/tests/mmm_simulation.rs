#![allow(clippy::unwrap_used)]
//! The media mix model on simulated histories with known curves, seasonal demand, spend paced to
//! that demand and a channel with no effect: coverage of the ROI intervals, recovery of the
//! curves, the zero-effect channel's budget, the plan's share of the oracle's gain, and
//! adstock-aware lift calibration.

use liftos_estimators::budget::{self, ChannelBounds, Curve, FittedModel, Objective, Plan};
use liftos_estimators::mmm::{self, LiftTest, MmmInput, MmmSettings, Series};
use liftos_estimators::rng::Rng;

/// A channel's true curve: effect β, half-saturation κ, carry-over θ.
#[derive(Clone, Copy)]
struct Truth {
    beta: f64,
    kappa: f64,
    theta: f64,
    level: f64,
}

const TRUTH: [Truth; 3] = [
    Truth { beta: 3000.0, kappa: 8000.0, theta: 0.5, level: 6000.0 },
    Truth { beta: 1500.0, kappa: 3000.0, theta: 0.2, level: 3000.0 },
    // No effect at all: its platform would attribute the seasonal demand it is paced to.
    Truth { beta: 0.0, kappa: 4000.0, theta: 0.3, level: 4000.0 },
];
const NAMES: [&str; 3] = ["search", "social", "display"];

fn adstock(x: &[f64], theta: f64) -> Vec<f64> {
    let mut a = x[0];
    x.iter()
        .map(|v| {
            a = theta * a + (1.0 - theta) * v;
            a
        })
        .collect()
}

fn hill(a: f64, k: f64) -> f64 {
    a / (a + k)
}

struct History {
    input: MmmInput,
    /// True ROI per channel over the history.
    roi: Vec<f64>,
}

/// `weeks` weekly periods: KPI = base + trend + yearly demand + Σ channel effects + AR(1) noise;
/// every channel's spend follows the demand (planners pace to it) with noise and dark weeks.
fn history(rng: &mut Rng, weeks: usize, noise: f64) -> History {
    let demand: Vec<f64> = (0..weeks)
        .map(|t| {
            let w = 2.0 * std::f64::consts::PI * (7 * t) as f64 / 365.25;
            800.0 * w.sin() + 400.0 * (2.0 * w).cos()
        })
        .collect();
    let spends: Vec<Vec<f64>> = TRUTH
        .iter()
        .map(|tr| {
            (0..weeks)
                .map(|t| {
                    if rng.uniform() < 0.08 {
                        0.0
                    } else {
                        tr.level * (1.0 + 0.3 * demand[t] / 800.0) * (0.5 + rng.uniform())
                    }
                })
                .collect()
        })
        .collect();
    let mut e = 0.0;
    let mut kpi: Vec<f64> = (0..weeks)
        .map(|t| {
            e = 0.3 * e + noise * rng.normal();
            10_000.0 + 5.0 * t as f64 + demand[t] + e
        })
        .collect();
    let mut roi = Vec::new();
    for (tr, x) in TRUTH.iter().zip(&spends) {
        let a = adstock(x, tr.theta);
        let contrib: Vec<f64> = a.iter().map(|v| tr.beta * hill(*v, tr.kappa)).collect();
        for t in 0..weeks {
            kpi[t] += contrib[t];
        }
        roi.push(contrib.iter().sum::<f64>() / x.iter().sum::<f64>());
    }
    History {
        input: MmmInput {
            days: (0..weeks as i64).map(|t| 19_000 + 7 * t).collect(),
            kpi,
            channels: NAMES.iter().zip(spends).map(|(n, v)| Series { name: n.to_string(), values: v }).collect(),
            controls: vec![],
            lifts: vec![],
        },
        roi,
    }
}

fn true_curves() -> FittedModel {
    FittedModel {
        base: 0.0,
        curves: TRUTH
            .iter()
            .zip(NAMES)
            .map(|(t, n)| Curve {
                channel: n.into(),
                beta: t.beta,
                beta_se: 0.0,
                half_saturation: t.kappa,
                shape: 1.0,
                adstock: t.theta,
            })
            .collect(),
        covariance: ndarray::Array2::zeros((4, 4)),
        residual_sd: 0.0,
        r_squared: 1.0,
        calibration: vec![],
        n_obs: 0,
    }
}

/// 200 histories of three years: the 90% interval of every channel's ROI covers the truth
/// 90 ± 5% of the time, the zero-effect channel gets more budget in about 5% of them (at most 6%), and the plan
/// captures most of the gain the true curves allow.
#[test]
#[ignore = "simulation: run with --include-ignored"]
fn roi_intervals_cover_and_the_plan_follows_the_truth() {
    let reps = 200;
    let truth = true_curves();
    let mut covered = [0usize; 3];
    let mut zero_funded = 0;
    let mut zero_cut = 0;
    // the test of no effect: histories where it rejects at 5%, per channel
    let mut rejected = [0usize; 3];
    let mut shares = Vec::new();
    let mut width = [0.0f64; 3];
    // histories (all running before their first week) the model took as starting at launch
    let mut taken_as_launch = 0;
    for r in 0..reps {
        let mut rng = Rng::new(7000 + r as u64);
        let h = history(&mut rng, 156, 150.0);
        let st = MmmSettings { draws: 100, folds: 0, seed: r as u64, ..MmmSettings::default() };
        let fit = mmm::fit(&h.input, &st).unwrap();
        taken_as_launch += usize::from(fit.fit.history_start == mmm::HistoryStart::Launch);
        for c in 0..3 {
            let ch = &fit.channels[c];
            if ch.roi_ci_low <= h.roi[c] && h.roi[c] <= ch.roi_ci_high {
                covered[c] += 1;
            }
            width[c] += (ch.roi_ci_high - ch.roi_ci_low) / reps as f64;
            let q = ch.no_effect_p_value;
            if q.is_some_and(|q| q <= 0.05) {
                rejected[c] += 1;
            }
            // evidence needs the test's rejection; where it keeps no effect at 10%, the
            // intervals reach zero
            assert!(!ch.evidence || q.is_some_and(|q| q <= 0.05), "{}: evidence at p = {q:?}", NAMES[c]);
            if q.is_some_and(|q| q > 1.0 - st.level) {
                assert!(ch.roi_ci_low <= 0.0 && ch.marginal_roi_ci_low <= 0.0, "{}: {ch:?}", NAMES[c]);
                assert!(ch.gain_ci_low <= 0.0 && ch.gain_ci_high >= 0.0, "{}: {ch:?}", NAMES[c]);
            }
        }
        // No more budget for the channel with no effect (held at today's spend or cut).
        let display = &fit.channels[2];
        if display.spend_to > display.spend_from * (1.0 + 1e-9) {
            zero_funded += 1;
        }
        if display.spend_to < 1e-9 {
            zero_cut += 1;
        }
        // The plan's gain under the true curves against the oracle's (the true curves optimised
        // for the same budget), both from the history's mean allocation.
        let from: Vec<f64> = fit.channels.iter().map(|c| c.spend_from).collect();
        let to: Vec<f64> = fit.channels.iter().map(|c| c.spend_to).collect();
        let response = |x: &[f64]| truth.curves.iter().zip(x).map(|(c, v)| c.response(*v)).sum::<f64>();
        let oracle = budget::optimize(
            &truth,
            &Plan::new(
                Objective::MaxOutcome,
                Some(from.iter().sum()),
                NAMES
                    .iter()
                    .zip(&from)
                    .map(|(n, f)| ChannelBounds { channel: n.to_string(), current: *f, min: None, max: None })
                    .collect(),
            ),
        )
        .unwrap();
        let best: Vec<f64> = oracle.allocations.iter().map(|a| a.spend).collect();
        let oracle_gain = response(&best) - response(&from);
        if oracle_gain > 1.0 {
            shares.push((response(&to) - response(&from)) / oracle_gain);
        }
    }
    let mean_share = shares.iter().sum::<f64>() / shares.len() as f64;
    let mut sorted = shares.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    for c in 0..3 {
        eprintln!(
            "{}: ROI coverage {:.3} at 90% (mean width {:.4}); no effect rejected at 5% in {}/{reps}",
            NAMES[c],
            covered[c] as f64 / reps as f64,
            width[c],
            rejected[c]
        );
    }
    eprintln!("taken as starting at launch: {taken_as_launch}/{reps}");
    eprintln!(
        "zero-effect channel given more budget in {zero_funded}/{reps}, cut to zero in {zero_cut}; plan's share of the oracle's gain: mean {mean_share:.3}, \
         median {:.3}, 10th percentile {:.3} ({} histories)",
        sorted[sorted.len() / 2],
        sorted[sorted.len() / 10],
        shares.len()
    );
    for c in 0..2 {
        let cov = covered[c] as f64 / reps as f64;
        assert!((0.85..=0.95).contains(&cov), "{}: coverage {cov}", NAMES[c]);
    }
    // The zero channel's truth is 0: its interval covers it as the others' do (86.0% before the
    // test of no effect, whose percentile interval is short on the boundary β = 0), and the test
    // keeps its size (5%: at most 16 of 200, two binomial standard deviations above 10).
    let zero = covered[2] as f64 / reps as f64;
    assert!((0.87..=0.95).contains(&zero), "display: coverage {zero}");
    assert!(rejected[2] <= 16, "the test of no effect rejected the zero channel's in {} of {reps}", rejected[2]);
    for c in 0..2 {
        assert!(rejected[c] as f64 >= 0.9 * reps as f64, "{}: no effect rejected in only {}", NAMES[c], rejected[c]);
    }
    assert!(zero_funded as f64 <= 0.06 * reps as f64, "the zero-effect channel was funded {zero_funded} times");
    // These histories ran before their first week: seldom taken as launched (18 of 200 when the
    // likelier start was kept with no margin, none with it).
    assert!(taken_as_launch <= 6, "taken as starting at launch in {taken_as_launch} of {reps}");
    assert!(mean_share > 0.5, "the plan captured {mean_share} of the oracle's gain");
}

/// A history that starts with the channels' launch (no spend before its first week), one
/// channel's response a power curve rather than the model's Hill curve, and a channel with no
/// effect dark in half its flights: the KPI ramps up over the first weeks as carry-over builds.
fn launch_history(rng: &mut Rng, weeks: usize) -> MmmInput {
    let flight = |rng: &mut Rng, level: f64, dark: f64| -> Vec<f64> {
        let mut on = true;
        (0..weeks)
            .map(|t| {
                if t % 4 == 0 {
                    on = rng.uniform() >= dark;
                }
                if on {
                    level * (0.6 + 0.8 * rng.uniform())
                } else {
                    0.0
                }
            })
            .collect()
    };
    let slow = flight(rng, 6000.0, 0.1);
    let fast = flight(rng, 3000.0, 0.1);
    let zero = flight(rng, 4000.0, 0.5);
    let from_zero = |x: &[f64], theta: f64| -> Vec<f64> {
        let mut a = 0.0;
        x.iter()
            .map(|v| {
                a = theta * a + (1.0 - theta) * v;
                a
            })
            .collect()
    };
    let (a_slow, a_fast) = (from_zero(&slow, 0.7), from_zero(&fast, 0.2));
    let mut e = 0.0;
    let kpi = (0..weeks)
        .map(|t| {
            e = 0.3 * e + 150.0 * rng.normal();
            let w = 2.0 * std::f64::consts::PI * (7 * t) as f64 / 365.25;
            10_000.0 + 5.0 * t as f64 + 600.0 * w.sin() + 40.0 * a_slow[t].sqrt() + 1500.0 * hill(a_fast[t], 3000.0) + e
        })
        .collect();
    MmmInput {
        days: (0..weeks as i64).map(|t| 19_000 + 7 * t).collect(),
        kpi,
        channels: ["tv", "social", "display"]
            .iter()
            .zip([slow, fast, zero])
            .map(|(n, v)| Series { name: n.to_string(), values: v })
            .collect(),
        controls: vec![],
        lifts: vec![],
    }
}

/// Histories that start at the channels' launch: taken as already running (the model's only
/// start before), the KPI's ramp-up over the first weeks was left to explain, and the channel
/// with no effect took it: it had evidence of an effect (the plan free to fund it, where a channel
/// without evidence is held or cut) in 7 of these 40 histories. The model now compares the two
/// starts and keeps the launch where it fits clearly better: the channel without effect gets
/// evidence about as often as the test's 5% level allows (2 of 40), and the channels with an
/// effect keep theirs.
#[test]
#[ignore = "simulation: run with --include-ignored"]
fn a_history_started_at_launch_gives_no_evidence_to_a_channel_without_effect() {
    let reps = 40;
    let mut zero_evidence = 0;
    let mut launch = 0;
    let mut real_evidence = [0usize; 2];
    for r in 0..reps {
        let mut rng = Rng::new(9100 + r as u64);
        let input = launch_history(&mut rng, 104);
        let st = MmmSettings { draws: 100, folds: 0, seed: r as u64, ..MmmSettings::default() };
        let fit = mmm::fit(&input, &st).unwrap();
        launch += usize::from(fit.fit.history_start == mmm::HistoryStart::Launch);
        zero_evidence += usize::from(fit.channels[2].evidence);
        for (e, ch) in real_evidence.iter_mut().zip(&fit.channels) {
            *e += usize::from(ch.evidence);
        }
    }
    eprintln!(
        "started at launch: taken as a launch in {launch}/{reps}; evidence for the channel without effect in \
         {zero_evidence}/{reps}, for the two with an effect in {} and {}",
        real_evidence[0], real_evidence[1]
    );
    // 5% of 40 is 2; at most 5 (two binomial standard deviations above).
    assert!(zero_evidence <= 5, "the channel without effect had evidence in {zero_evidence} of {reps}");
    assert!(launch as f64 >= 0.9 * reps as f64, "the launch was recognised in only {launch} of {reps}");
    for (c, e) in real_evidence.iter().enumerate() {
        assert!(*e as f64 >= 0.9 * reps as f64, "channel {c}: evidence in only {e}");
    }
}

/// A lift test on a channel with carry-over: the model predicts what the test measured (41% of
/// the steady-state increment after 4 periods at θ = 0.8), not the steady state.
#[test]
fn lift_calibration_accounts_for_carry_over() {
    let mut rng = Rng::new(11);
    let mut h = history(&mut rng, 156, 150.0);
    let tr = TRUTH[0];
    // The test: 4 weeks at 1.5x the level, measured over those weeks.
    let (from, to) = (tr.level, 1.5 * tr.level);
    let realised: f64 =
        (1..=4).map(|k| tr.beta * (hill(to + (from - to) * tr.theta.powi(k), tr.kappa) - hill(from, tr.kappa))).sum();
    let steady = 4.0 * tr.beta * (hill(to, tr.kappa) - hill(from, tr.kappa));
    h.input.lifts = vec![LiftTest {
        channel: "search".into(),
        start: 19_000,
        end: 19_021,
        spend_from: from,
        spend_to: to,
        incremental: realised,
        std_error: 0.1 * realised,
    }];
    let fit = mmm::fit(&h.input, &MmmSettings { draws: 50, folds: 2, ..MmmSettings::default() }).unwrap();
    let l = &fit.lifts[0];
    assert_eq!(l.periods, 4);
    eprintln!(
        "lift {realised:.1}, steady-state {steady:.1}, predicted {:.1} ({:.1} steady)",
        l.predicted, l.predicted_steady_state
    );
    assert!((l.predicted - realised).abs() < 0.25 * realised, "{} vs {realised}", l.predicted);
    assert!(l.predicted < l.predicted_steady_state);
    let c = &fit.channels[0];
    assert!(c.roi_ci_low <= c.roi && c.roi <= c.roi_ci_high);
    assert!(fit.fit.cv_rmse.is_some() && fit.fit.cv_folds == 2);
}

/// Missing dates are missing, not zero spend; errors name the field.
#[test]
fn gaps_and_errors() {
    let mut rng = Rng::new(12);
    let h = history(&mut rng, 120, 150.0);
    let mut input = h.input.clone();
    // Drop 5 weeks.
    for _ in 0..5 {
        let i = 40 + rng.below(40);
        input.days.remove(i);
        input.kpi.remove(i);
        for c in &mut input.channels {
            c.values.remove(i);
        }
    }
    let st = MmmSettings { draws: 20, folds: 0, ..MmmSettings::default() };
    let fit = mmm::fit(&input, &st).unwrap();
    assert_eq!(fit.fit.periods, 120);
    assert_eq!(fit.fit.observed, 115);
    assert!(fit.warnings.iter().any(|w| w.contains("5 dates are missing")));
    let err = |f: &dyn Fn(&mut MmmInput, &mut MmmSettings)| {
        let (mut i, mut s) = (h.input.clone(), st.clone());
        f(&mut i, &mut s);
        mmm::fit(&i, &s).unwrap_err().field
    };
    assert_eq!(err(&|i, _| i.channels[1].values[3] = -1.0), "spend[1]");
    assert_eq!(err(&|i, _| i.days[4] = i.days[3]), "date");
    let (mut twice, s) = (h.input.clone(), st.clone());
    twice.days[9] = twice.days[2];
    assert!(mmm::fit(&twice, &s).unwrap_err().message.contains("rows 3 and 10 have the same date"));
    // Rows in any order: the same fit as in date order.
    let mut shuffled = input.clone();
    shuffled.days.reverse();
    shuffled.kpi.reverse();
    for c in &mut shuffled.channels {
        c.values.reverse();
    }
    let again = mmm::fit(&shuffled, &st).unwrap();
    assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&fit).unwrap());
    assert_eq!(err(&|_, s| s.draws = 100_000), "draws");
    assert_eq!(err(&|_, s| s.draws = 5), "draws");
    assert_eq!(err(&|_, s| s.folds = 50), "folds");
    assert_eq!(err(&|_, s| s.budget = Some(-1.0)), "budget");
    assert_eq!(err(&|i, _| i.channels[0].values.iter_mut().for_each(|v| *v = 0.0)), "spend[0]");
    assert_eq!(err(&|i, _| i.controls.push(Series { name: "constant".into(), values: vec![1.0; 120] })), "controls");
    assert_eq!(
        err(&|i, s| {
            s.max_change = Some(0.1);
            s.budget = Some(1.0);
            let _ = i;
        }),
        "budget"
    );
}

/// The report's pieces agree with the fit: the decomposition's baseline plus the channels'
/// contributions is the fitted KPI (its error over the observed weeks is the fit's RMSE, each
/// channel's sum its `contribution`), a missing week has no KPI, and each response curve is the
/// fitted curve β·x/(x + κ) from zero, rising, inside its interval, with the marginal ROI as its
/// slope at today's spend.
#[test]
fn decomposition_and_response_curves_agree_with_the_fit() {
    let mut rng = Rng::new(13);
    let mut input = history(&mut rng, 104, 150.0).input;
    input.days.remove(50);
    input.kpi.remove(50);
    for c in &mut input.channels {
        c.values.remove(50);
    }
    let fit = mmm::fit(&input, &MmmSettings { draws: 40, folds: 0, ..MmmSettings::default() }).unwrap();
    let d = &fit.decomposition;
    assert_eq!(d.days.len(), 104);
    assert!(d.days.windows(2).all(|w| w[1] - w[0] == 7) && d.days[0] == input.days[0]);
    assert_eq!(d.kpi.iter().filter(|k| k.is_none()).count(), 1);
    assert!(d.kpi[50].is_none());
    let fitted = |t: usize| d.baseline[t] + d.channels.iter().map(|c| c[t]).sum::<f64>();
    let observed: Vec<usize> = (0..104).filter(|&t| d.kpi[t].is_some()).collect();
    let sse: f64 = observed.iter().map(|&t| (d.kpi[t].unwrap() - fitted(t)).powi(2)).sum();
    let rmse = (sse / observed.len() as f64).sqrt();
    assert!((rmse - fit.fit.rmse).abs() < 1e-9 * fit.fit.rmse, "{rmse} vs {}", fit.fit.rmse);
    for (c, ch) in fit.channels.iter().enumerate() {
        let sum: f64 = observed.iter().map(|&t| d.channels[c][t]).sum();
        assert!((sum - ch.contribution).abs() <= 1e-9 * ch.contribution.abs().max(1.0), "{}", ch.channel);
        let curve = &ch.response_curve;
        assert_eq!(curve.len(), mmm::CURVE_POINTS);
        assert_eq!((curve[0].spend, curve[0].response), (0.0, 0.0));
        assert!(curve.last().unwrap().spend >= 1.5 * ch.spend_supported.max(ch.spend_to) * (1.0 - 1e-12));
        for p in curve {
            let want = ch.effect * p.spend / (p.spend + ch.half_saturation);
            assert!((p.response - want).abs() <= 1e-9 * want.abs().max(1.0));
            assert!(p.ci_low <= p.ci_high && p.ci_low >= 0.0);
        }
        assert!(curve.windows(2).all(|w| w[1].response >= w[0].response));
        // Inside the band wherever the band has width (the point fit is one of many re-fits).
        let inside = curve.iter().filter(|p| p.ci_low - 1e-9 <= p.response && p.response <= p.ci_high + 1e-9).count();
        assert!(inside >= curve.len() - 2, "{}: {inside} of {} inside", ch.channel, curve.len());
        let (x, k) = (ch.spend_from, ch.half_saturation);
        let slope = ch.effect * k / (x + k).powi(2);
        assert!((slope - ch.marginal_roi).abs() <= 1e-9 * slope.abs().max(1e-12), "{}", ch.channel);
    }
    // The decomposition is for the report: not in the JSON answer.
    assert!(serde_json::to_value(&fit).unwrap().get("decomposition").is_none());
}

/// Two channels: one the data supports, and display with a small effect, one the data cannot
/// tell from none.
fn one_supported_one_not() -> MmmInput {
    let mut rng = Rng::new(21);
    let mut input = history(&mut rng, 156, 400.0).input;
    input.channels.remove(1);
    let a = adstock(&input.channels[1].values, 0.3);
    for (k, v) in input.kpi.iter_mut().zip(&a) {
        *k += 100.0 * hill(*v, 4000.0);
    }
    input
}

/// A plan that moves nothing gains nothing, exactly: with one channel the data supports and one it
/// does not (held at today's spend), the default budget leaves the supported channel where it is.
/// The optimiser's sums put it a rounding error away (1e-12 relative); that used to come out as a
/// gain of 1e-9 "positive in every re-fit", which the explanation read as a sure gain.
#[test]
fn a_plan_that_moves_nothing_gains_nothing() {
    let input = one_supported_one_not();
    let fit = mmm::fit(&input, &MmmSettings { draws: 50, folds: 0, ..MmmSettings::default() }).unwrap();
    let held = fit.channels.iter().filter(|c| c.bound.as_deref() == Some("held")).count();
    assert_eq!(held, 1, "{:?}", fit.channels.iter().map(|c| (&c.channel, &c.bound)).collect::<Vec<_>>());
    for c in &fit.channels {
        assert_eq!(c.spend_to, c.spend_from, "{}", c.channel);
        assert_eq!((c.gain, c.gain_ci_low, c.gain_ci_high), (0.0, 0.0, 0.0), "{}", c.channel);
    }
    assert_eq!((fit.expected_gain, fit.gain_ci_low, fit.gain_ci_high), (0.0, 0.0, 0.0));
    assert_eq!(fit.gain_positive_share, 0.0);
    assert_eq!((fit.horizon.gain, fit.horizon.gain_ci_low, fit.horizon.gain_ci_high), (0.0, 0.0, 0.0));
}

/// Budget the plan cannot place is left unallocated, and the warning says why: with one channel
/// the data supports (at its cap) and one they do not (held), both reasons; with no channel the
/// data support, that none is given more than its average spend, not that the history's spend
/// was exceeded (it was not: the budget is the history's mean).
#[test]
fn budget_left_unallocated_says_why() {
    let mut input = one_supported_one_not();
    let mean: f64 = input.channels.iter().map(|c| c.values.iter().sum::<f64>() / c.values.len() as f64).sum();
    let settings = MmmSettings { draws: 50, folds: 0, budget: Some(3.0 * mean), ..MmmSettings::default() };
    let fit = mmm::fit(&input, &settings).unwrap();
    let bounds: Vec<Option<&str>> = fit.channels.iter().map(|c| c.bound.as_deref()).collect();
    assert!(bounds.contains(&Some("held")) && fit.unallocated > 0.0, "{bounds:?}");
    assert_eq!(fit.warnings.iter().filter(|w| w.contains("left unallocated")).count(), 1, "{:?}", fit.warnings);
    let w = fit.warnings.iter().find(|w| w.contains("left unallocated")).unwrap();
    assert!(w.contains("the channel with a return clear of zero is at the most the history supports"), "{w}");
    assert!(w.contains("the others are given no more than their average spend"), "{w}");
    // the KPI without the channels' effects: no evidence for either, the budget the history's mean
    let mut rng = Rng::new(5);
    for k in input.kpi.iter_mut() {
        *k = 10_000.0 + 400.0 * rng.normal();
    }
    let fit = mmm::fit(&input, &MmmSettings { budget: Some(1.2 * mean), ..settings }).unwrap();
    assert!(fit.channels.iter().all(|c| c.bound.as_deref() == Some("held")), "{:?}", fit.channels);
    let w = fit.warnings.iter().find(|w| w.contains("left unallocated")).expect("a warning");
    assert!(w.contains("no channel's return on spend is clear of zero") && !w.contains("history supports"), "{w}");
}

/// Day number of a date (Howard Hinnant's `days_from_civil`).
fn day_of(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// A monthly history (five years dated by each month's first day, as a monthly KPI sheet is):
/// periods are calendar months, not a grid of 28 days (it used to be refused as "not on a regular
/// grid"); a missing month is a missing period; the same months dated by their last day are the
/// same grid; with little noise the model recovers each channel's return; a lift test's window
/// counts months; weekly harmonics are refused; dates off any grid are named.
#[test]
fn a_monthly_history_is_on_a_grid_of_months() {
    let mut rng = Rng::new(31);
    let months = 60usize;
    let truth = [(9000.0, 20_000.0, 0.3), (4000.0, 8000.0, 0.1)];
    let spend: Vec<Vec<f64>> = [30_000.0, 12_000.0]
        .iter()
        .map(|level| (0..months).map(|_| level * (0.4 + 1.2 * rng.uniform())).collect())
        .collect();
    let mut kpi: Vec<f64> = (0..months)
        .map(|t| 50_000.0 + 3000.0 * (2.0 * std::f64::consts::PI * t as f64 / 12.0).sin() + 20.0 * rng.normal())
        .collect();
    let mut roi = Vec::new();
    for ((beta, kappa, theta), x) in truth.iter().zip(&spend) {
        let a = adstock(x, *theta);
        let contrib: Vec<f64> = a.iter().map(|v| beta * hill(*v, *kappa)).collect();
        for t in 0..months {
            kpi[t] += contrib[t];
        }
        roi.push(contrib.iter().sum::<f64>() / x.iter().sum::<f64>());
    }
    let firsts: Vec<i64> = (0..months as i64).map(|t| day_of(2021 + t / 12, t % 12 + 1, 1)).collect();
    let lasts: Vec<i64> = (0..months as i64).map(|t| day_of(2021 + (t + 1) / 12, (t + 1) % 12 + 1, 1) - 1).collect();
    let input = |days: &[i64], drop: Option<usize>| {
        let keep: Vec<usize> = (0..months).filter(|&t| Some(t) != drop).collect();
        MmmInput {
            days: keep.iter().map(|&t| days[t]).collect(),
            kpi: keep.iter().map(|&t| kpi[t]).collect(),
            channels: ["tv", "search"]
                .iter()
                .zip(&spend)
                .map(|(n, v)| Series { name: n.to_string(), values: keep.iter().map(|&t| v[t]).collect() })
                .collect(),
            controls: vec![],
            lifts: vec![],
        }
    };
    let st = MmmSettings { draws: 30, folds: 0, ..MmmSettings::default() };
    let fit = mmm::fit(&input(&firsts, None), &st).unwrap();
    assert_eq!((fit.fit.periods, fit.fit.observed), (60, 60));
    assert_eq!(fit.decomposition.days, firsts);
    assert!(fit.controls.contains(&"yearly_sin1".to_string()) && !fit.controls.iter().any(|c| c.starts_with("weekly")));
    for (c, r) in fit.channels.iter().zip(&roi) {
        assert!((c.roi - r).abs() < 0.1 * r, "{}: roi {} vs {r}", c.channel, c.roi);
    }
    let gap = mmm::fit(&input(&firsts, Some(20)), &st).unwrap();
    assert_eq!((gap.fit.periods, gap.fit.observed), (60, 59));
    assert!(gap.warnings.iter().any(|w| w.contains("1 dates are missing")), "{:?}", gap.warnings);
    let by_last = mmm::fit(&input(&lasts, Some(20)), &st).unwrap();
    assert_eq!((by_last.fit.periods, by_last.fit.observed), (60, 59));
    assert_eq!(by_last.decomposition.days, lasts);
    // a lift test over three months counts three periods
    let mut with_lift = input(&firsts, None);
    with_lift.lifts.push(LiftTest {
        channel: "search".into(),
        start: firsts[30],
        end: firsts[32],
        spend_from: 12_000.0,
        spend_to: 18_000.0,
        incremental: 3000.0,
        std_error: 1000.0,
    });
    let lifted = mmm::fit(&with_lift, &st).unwrap();
    assert_eq!(lifted.lifts[0].periods, 3);
    let e = mmm::fit(&input(&firsts, None), &MmmSettings { weekly: Some(2), ..st.clone() }).unwrap_err();
    assert_eq!(e.field, "weekly");
    let mut odd = input(&firsts, None);
    odd.days[10] += 3;
    let e = mmm::fit(&odd, &st).unwrap_err();
    assert_eq!(e.field, "date");
    assert!(
        e.message.contains(
            "the closest are 27 days apart (2021-11-04 to 2021-12-01), but 2021-02-01 follows 2021-01-01 after 31 days"
        ),
        "{}",
        e.message
    );
    // quarters (every third month, by its first day or by its last) are refused as quarters
    for days in [&firsts, &lasts] {
        let mut quarters = input(days, None);
        let keep: Vec<usize> = (0..months).step_by(3).collect();
        quarters.days = keep.iter().map(|&t| quarters.days[t]).collect();
        quarters.kpi = keep.iter().map(|&t| quarters.kpi[t]).collect();
        for c in &mut quarters.channels {
            c.values = keep.iter().map(|&t| c.values[t]).collect();
        }
        let e = mmm::fit(&quarters, &st).unwrap_err();
        assert_eq!(e.field, "date");
        assert!(e.message.contains("the dates are quarters (20 of them)"), "{}", e.message);
    }
}
