//! Speed benchmarks against the Python anchors, on the same generated data
//! (`../shared/bench/write_data.py`). Run through `shared/benches/anchors.sh`, which also runs the
//! anchors in the same session and reports the ratios.
//!
//! `cargo bench -p liftos-estimators --bench anchors -- DATA_DIR NAME` with NAME one of `twfe`, `wild`, `cs`, `iv`, ...
//! Prints one JSON object: the median of 3 fit-only runs (data in memory), the end-to-end time
//! (read CSV + fit), the estimate and standard error (to check both sides computed the same
//! thing), the data's in-memory size and the process's peak resident memory.

use std::path::PathBuf;
use std::time::Instant;

use liftos_estimators::data::Table;
use liftos_estimators::design::geo::{self, GeoPanel, GeoSettings, TestKind};
use liftos_estimators::did::staggered::{self, CsInput, CsSettings};
use liftos_estimators::did::{twfe, DidSettings, PanelInput};
use liftos_estimators::discovery::{self, PcSettings};
use liftos_estimators::effects::{self, EffectInput, EffectSettings};
use liftos_estimators::iv::{self, IvInput, IvSettings};
use liftos_estimators::rdd::{self, RddSettings};
use liftos_estimators::sdid::{self, SdidInput, SdidSettings};
use liftos_estimators::synth::{self, Predictor, SynthInput, SynthSettings};

/// 50 markets x 104 weeks of conversions from a 3-factor model with seasonality (fixed seed).
fn write_geo_panel(path: &std::path::Path) {
    let mut rng = liftos_estimators::rng::Rng::new(20261127);
    let (k, weeks) = (50usize, 104usize);
    let load: Vec<[f64; 3]> = (0..k).map(|_| [rng.uniform(), rng.uniform(), rng.uniform()]).collect();
    let size: Vec<f64> = (0..k).map(|_| 100.0 + 900.0 * rng.uniform()).collect();
    let mut f = vec![[0.0f64; 3]; weeks];
    for t in 1..weeks {
        let prev = f[t - 1];
        for (j, x) in f[t].iter_mut().enumerate() {
            *x = 0.8 * prev[j] + 0.3 * rng.normal();
        }
    }
    let mut out = String::from("market,week,conversions\n");
    for m in 0..k {
        for (t, ft) in f.iter().enumerate() {
            let season = 1.0 + 0.1 * (t as f64 * std::f64::consts::TAU / 52.0).sin();
            let v = size[m]
                * season
                * (1.0 + 0.15 * (0..3).map(|j| load[m][j] * ft[j]).sum::<f64>())
                * (1.0 + 0.03 * rng.normal());
            out.push_str(&format!("m{m:02},{t},{:.3}\n", v.max(0.0)));
        }
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn median3(mut f: impl FnMut() -> (f64, f64)) -> (f64, Vec<f64>, (f64, f64)) {
    let mut times = Vec::new();
    let mut out = (0.0, 0.0);
    for _ in 0..std::env::var("BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(3) {
        let t = Instant::now();
        out = f();
        times.push(t.elapsed().as_secs_f64());
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    (sorted[1], times, out)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

type Prepared = (Box<dyn FnMut() -> (f64, f64)>, f64);

fn prepare(name: &str, table: &Table) -> Prepared {
    let col = |n: &str| table.numeric(n).unwrap_or_else(|e| panic!("{e}"));
    match name {
        "twfe" => {
            let (unit, unit_labels) = table.codes("unit").unwrap_or_else(|e| panic!("{e}"));
            let time: Vec<i64> = table.integers("time").unwrap_or_else(|e| panic!("{e}"));
            let input = PanelInput { unit, unit_labels, time, outcome: col("y"), treatment: col("D"), cluster: None };
            let bytes = (input.outcome.len() * (8 + 8 + 8 + 4)) as f64 / 1048576.0;
            (
                Box::new(move || {
                    let f = twfe::fit(&input, &DidSettings::default()).unwrap_or_else(|e| panic!("{e}"));
                    (f.inference.estimate, f.inference.std_error.unwrap_or(f64::NAN))
                }),
                bytes,
            )
        }
        "wild" => {
            // The TWFE panel clustered into 50 groups of units (unit mod 50), 9,999 Rademacher
            // draws: the wild cluster restricted bootstrap's p-value and interval.
            let (unit, unit_labels) = table.codes("unit").unwrap_or_else(|e| panic!("{e}"));
            let time: Vec<i64> = table.integers("time").unwrap_or_else(|e| panic!("{e}"));
            let cluster: Vec<u32> = unit.iter().map(|u| u % 50).collect();
            let input = PanelInput {
                unit,
                unit_labels,
                time,
                outcome: col("y"),
                treatment: col("D"),
                cluster: Some((cluster, 50)),
            };
            let bytes = (input.outcome.len() * (8 + 8 + 8 + 4 + 4)) as f64 / 1048576.0;
            let settings = DidSettings { wild: Some(Default::default()), ..DidSettings::default() };
            (
                Box::new(move || {
                    let f = twfe::fit(&input, &settings).unwrap_or_else(|e| panic!("{e}"));
                    (f.wild.as_ref().map_or(f64::NAN, |w| w.p_value), f.inference.std_error.unwrap_or(f64::NAN))
                }),
                bytes,
            )
        }
        "cs" => {
            let (unit, unit_labels) = table.codes("id").unwrap_or_else(|e| panic!("{e}"));
            let time = table.integers("t").unwrap_or_else(|e| panic!("{e}"));
            let cohort = table
                .integers("g")
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(|g| (g > 0).then_some(g))
                .collect();
            let input = CsInput {
                unit,
                unit_labels,
                time,
                outcome: col("y"),
                cohort,
                covariates: Default::default(),
                cluster: None,
            };
            let bytes = (input.outcome.len() * (8 + 8 + 16 + 4)) as f64 / 1048576.0;
            (
                Box::new(move || {
                    let f = staggered::fit(&input, &CsSettings::default()).unwrap_or_else(|e| panic!("{e}"));
                    (f.inference.estimate, f.inference.std_error.unwrap_or(f64::NAN))
                }),
                bytes,
            )
        }
        "iv" => {
            let named = |n: &str| (n.to_string(), col(n));
            let input = IvInput {
                outcome: named("y"),
                endogenous: table.columns(&["x".into()]).unwrap_or_else(|e| panic!("{e}")),
                instruments: table.columns(&["z1".into(), "z2".into()]).unwrap_or_else(|e| panic!("{e}")),
                controls: table
                    .columns(&(0..10).map(|i| format!("w{i}")).collect::<Vec<_>>())
                    .unwrap_or_else(|e| panic!("{e}")),
                cluster: None,
            };
            let bytes = (input.outcome.1.len() * 14 * 8) as f64 / 1048576.0;
            (
                Box::new(move || {
                    let f = iv::fit(&input, &IvSettings::default()).unwrap_or_else(|e| panic!("{e}"));
                    (f.inference.estimate, f.inference.std_error.unwrap_or(f64::NAN))
                }),
                bytes,
            )
        }
        "rd" => {
            let (x, y) = (col("x"), col("y"));
            let bytes = (x.len() * 16) as f64 / 1048576.0;
            (
                Box::new(move || {
                    let f =
                        rdd::fit(y.view(), x.view(), None, &RddSettings::default()).unwrap_or_else(|e| panic!("{e}"));
                    (f.inference.estimate, f.inference.std_error.unwrap_or(f64::NAN))
                }),
                bytes,
            )
        }
        "pc" => {
            let cols = table.columns(&table.names).unwrap_or_else(|e| panic!("{e}"));
            let bytes = (cols.k() * cols.n() * 8) as f64 / 1048576.0;
            (
                Box::new(move || {
                    let f = discovery::pc(&cols, &PcSettings::default()).unwrap_or_else(|e| panic!("{e}"));
                    (f.graph.edges().len() as f64, f.ci_tests as f64)
                }),
                bytes,
            )
        }
        "aipw" => {
            let named = |n: &str| (n.to_string(), col(n));
            let input = EffectInput {
                outcome: named("y"),
                treatment: named("d"),
                covariates: table
                    .columns(&(0..10).map(|i| format!("x{i}")).collect::<Vec<_>>())
                    .unwrap_or_else(|e| panic!("{e}")),
            };
            let bytes = (input.outcome.1.len() * 12 * 8) as f64 / 1048576.0;
            (
                Box::new(move || {
                    let f = effects::fit(&input, &EffectSettings { trim: 0.0, ..EffectSettings::default() })
                        .unwrap_or_else(|e| panic!("{e}"));
                    (f.inference.estimate, f.inference.std_error.unwrap_or(f64::NAN))
                }),
                bytes,
            )
        }
        "synth_fixed" | "synth" | "synth_placebo" => {
            // bench_gen.gen_synth: unit 0 treated at t = 150, donors 1..100, predictors p0..p9
            // averaged over t in 0..149, fit window 0..149 (pysyncon's dataprep in bench_run.py).
            let input = SynthInput {
                unit: table.labels("unit").unwrap_or_else(|e| panic!("{e}")),
                time: table.integers("time").unwrap_or_else(|e| panic!("{e}")),
                outcome: "y".into(),
                columns: std::iter::once("y".to_string())
                    .chain((0..10).map(|j| format!("p{j}")))
                    .map(|c| {
                        let v = col(&c);
                        (c, v)
                    })
                    .collect(),
                treated_units: vec!["0".into()],
                treatment_time: 150,
            };
            let bytes = (input.unit.len() * (11 * 8 + 8 + 8)) as f64 / 1048576.0;
            let settings = SynthSettings {
                predictors: (0..10).map(|j| Predictor { column: format!("p{j}"), start: 0, end: 149 }).collect(),
                fit_window: Some((0, 149)),
                v: (name == "synth_fixed").then(|| vec![0.1; 10]),
                placebo: name == "synth_placebo",
                ..SynthSettings::default()
            };
            let fixed = name == "synth_fixed";
            (
                Box::new(move || {
                    let f = synth::fit(&input, &settings).unwrap_or_else(|e| panic!("{e}"));
                    // The second figure: pre-RMSPE for the fixed-V fit, inner QP solves otherwise.
                    (f.inference.estimate, if fixed { f.pre_rmspe } else { f.qp_solves as f64 })
                }),
                bytes,
            )
        }
        "sdid" => {
            // Prop 99 (tests/reference/data/prop99_sdid.csv): the estimate with 200 placebo draws.
            let unit = table.labels("state").unwrap_or_else(|e| panic!("{e}"));
            let input = SdidInput {
                time: table.integers("year").unwrap_or_else(|e| panic!("{e}")),
                outcome: col("cigsale").to_vec(),
                treatment: col("treated").to_vec(),
                unit,
            };
            let bytes = (input.unit.len() * 32) as f64 / 1048576.0;
            (
                Box::new(move || {
                    let f = sdid::fit(&input, &SdidSettings::default()).unwrap_or_else(|e| panic!("{e}"));
                    (f.inference.estimate, f.inference.std_error.unwrap_or(f64::NAN))
                }),
                bytes,
            )
        }
        "synth_conformal" => {
            // Prop 99: the outcome-matched synthetic control with conformal inference at 90%.
            let input = SynthInput {
                unit: table.labels("state").unwrap_or_else(|e| panic!("{e}")),
                time: table.integers("year").unwrap_or_else(|e| panic!("{e}")),
                outcome: "cigsale".into(),
                columns: std::iter::once(("cigsale".to_string(), col("cigsale"))).collect(),
                treated_units: vec!["California".into()],
                treatment_time: 1989,
            };
            let bytes = (input.unit.len() * 32) as f64 / 1048576.0;
            let settings = SynthSettings { conformal: true, alpha: 0.1, ..SynthSettings::default() };
            (
                Box::new(move || {
                    let f = synth::fit(&input, &settings).unwrap_or_else(|e| panic!("{e}"));
                    (f.inference.estimate, f.conformal_ci_high.unwrap_or(f64::NAN))
                }),
                bytes,
            )
        }
        "geo" => {
            // Market selection: 50 markets x 104 weeks, sets of up to 3 markets, 2/4/6 weeks.
            let panel = GeoPanel {
                market: table.labels("market").unwrap_or_else(|e| panic!("{e}")),
                time: table.integers("week").unwrap_or_else(|e| panic!("{e}")),
                outcome: col("conversions"),
            };
            let bytes = (panel.outcome.len() * 24) as f64 / 1048576.0;
            let settings = GeoSettings {
                durations: vec![2, 4, 6],
                max_markets: 3,
                include: vec![],
                exclude: vec![],
                alpha: 0.1,
                power: 0.8,
                effect: Some(0.05),
                windows: 6,
                pre_periods: 52,
                kind: TestKind::Increase,
                cost_per_market_period: None,
                cost_per_outcome: None,
                budget: None,
                top: 10,
                carryover: None,
                cells: 1,
            };
            (
                Box::new(move || {
                    let g = geo::design(&panel, &settings).unwrap_or_else(|e| panic!("{e}"));
                    // The figures: the best MDE and the number of synthetic-control fits.
                    (g.recommended.map_or(f64::NAN, |c| c.mde), g.synthetic_control_fits as f64)
                }),
                bytes,
            )
        }
        other => {
            panic!("unknown benchmark {other}: twfe, cs, iv, rd, pc, aipw, synth_fixed, synth, synth_placebo, sdid, synth_conformal or geo")
        }
    }
}

fn return_reference(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/data").join(file)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (dir, name) = match args.as_slice() {
        [d, n, ..] => (PathBuf::from(d), n.clone()),
        _ => {
            eprintln!("usage: anchors DATA_DIR twfe|cs|iv|rd");
            std::process::exit(2);
        }
    };
    let file = match name.as_str() {
        // Prop 99 from the repository's reference data (no generated file).
        "sdid" => return_reference("prop99_sdid.csv"),
        "synth_conformal" => return_reference("smoking_prop99.csv"),
        _ => dir.join(match name.as_str() {
            "twfe" | "wild" => "twfe.csv",
            "cs" => "staggered.csv",
            "iv" => "iv.csv",
            "rd" => "rd.csv",
            "pc" => "dag.csv",
            "aipw" => "aipw.csv",
            "synth_fixed" | "synth" | "synth_placebo" => "synth.csv",
            "geo" => "geo.csv",
            other => panic!("unknown benchmark {other}"),
        }),
    };
    if name == "geo" && !file.exists() {
        write_geo_panel(&file);
    }
    // End to end: read the CSV and fit, as a user of `liftos estimate` waits for it.
    let t = Instant::now();
    let table = Table::read_csv(&file).unwrap_or_else(|e| panic!("{e}"));
    let read_s = t.elapsed().as_secs_f64();
    let (mut fit, data_mb) = prepare(&name, &table);
    drop(table);
    let t = Instant::now();
    let first = fit();
    let end_to_end_s = read_s + t.elapsed().as_secs_f64();
    let (median, runs, (est, se)) = median3(&mut fit);
    assert_eq!(first, (est, se), "deterministic");
    println!(
        "{}",
        serde_json::json!({
            "benchmark": name,
            "fit_median_s": median,
            "fit_runs_s": runs,
            "csv_read_s": read_s,
            "end_to_end_s": end_to_end_s,
            "estimate": est,
            "std_error": se,
            "data_in_memory_mb": data_mb,
            "peak_rss_mb": peak_rss_mb(),
        })
    );
}
