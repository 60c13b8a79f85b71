//! Every estimator on small panels as users' data can be: units and periods missing or
//! repeated, empty cells, one unit or one period, every unit treated or none, constant columns.
//! Each method gives its result or an error naming the problem, never a panic (an overflow, an
//! index out of bounds, an unwrap on a degenerate fit): the same functions serve `liftos
//! estimate` and the analysis endpoints.
//!
//! Input: a first byte of options, then six bytes a row (unit, period, outcome, treatment and
//! cohort, a covariate, an instrument), written as a CSV and read by the panel reader.
#![no_main]
use libfuzzer_sys::fuzz_target;
use liftos::api::estimate::{
    DidRequest, DiscoverRequest, EffectRequest, GeoReadoutRequest, ImpactRequest, IvRequest, RddRequest, SdidRequest,
    SynthRequest,
};
use liftos::service::estimate;
use liftos::service::source::{parse_panel, PanelFormat};
use serde_json::json;

/// At most this many rows (the point is the shapes of small panels, not their size).
const MAX_ROWS: usize = 120;

fn request<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    match serde_json::from_value(v) {
        Ok(r) => r,
        // the requests below are the target's own: a wrong one is a bug of the target
        Err(e) => panic!("the target's request does not parse: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&opts, rows)) = data.split_first() else { return };
    let mut csv = String::from("unit,time,y,d,cohort,x,z\n");
    for r in rows.chunks_exact(6).take(MAX_ROWS) {
        let y = if r[2] == 255 { String::new() } else { format!("{}", (f64::from(r[2]) - 128.0) / 8.0) };
        let cohort = match (r[3] >> 1) % 6 {
            0 => 0,
            c => i64::from(c) + 1,
        };
        csv.push_str(&format!(
            "u{},{},{y},{},{cohort},{},{}\n",
            r[0] % 6,
            r[1] % 10,
            r[3] & 1,
            f64::from(r[4]) / 16.0,
            r[5] % 7
        ));
    }
    let Ok(table) = parse_panel(csv.as_bytes(), PanelFormat::Csv) else { return };
    let bit = |i: u8| opts & (1 << i) != 0;
    let se = ["cluster:unit", "robust", "wild", "cr2"][usize::from(opts & 3)];

    let _ = estimate::did(
        &table,
        &request::<DidRequest>(json!({
            "unit": "unit", "time": "time", "outcome": "y", "treatment": "d",
            "event_study": bit(2), "honest": bit(2) && bit(3), "se": se, "bootstrap": 99, "seed": 1
        })),
    );
    let method = ["regression", "ipw", "aipw", "aipw"][usize::from(opts & 3)];
    let sdid_se = ["placebo", "bootstrap", "jackknife", "placebo"][usize::from(opts & 3)];
    let estimation = ["dr", "ipw", "reg", "sun-abraham", "imputation"][usize::from(opts >> 4) % 5];
    let _ = estimate::did(
        &table,
        &request::<DidRequest>(json!({
            "unit": "unit", "time": "time", "outcome": "y", "cohort": "cohort",
            "control": if bit(3) { "not-yet" } else { "never" }, "estimation": estimation,
            "covariates": if bit(7) { vec!["x"] } else { vec![] }, "bootstrap": 49, "seed": 1
        })),
    );
    let _ = estimate::iv(
        &table,
        &request::<IvRequest>(json!({
            "outcome": "y", "endogenous": ["x"], "instruments": ["z"],
            "controls": if bit(2) { vec!["d"] } else { vec![] }, "se": if bit(3) { "cluster:unit" } else { "robust" }
        })),
    );
    let _ = estimate::rdd(
        &table,
        &request::<RddRequest>(json!({
            "outcome": "y", "running": "x", "cutoff": 8.0,
            "fuzzy": if bit(2) { Some("d") } else { None }, "cluster": if bit(3) { Some("unit") } else { None }
        })),
    );
    let _ = estimate::effect(
        &table,
        &request::<EffectRequest>(json!({
            "outcome": "y", "treatment": "d", "covariates": ["x", "z"],
            "method": method,
            "estimand": if bit(2) { "att" } else { "ate" }, "refute": bit(3), "seed": 1
        })),
    );
    let _ = estimate::discover(
        &table,
        &request::<DiscoverRequest>(json!({
            "columns": ["y", "x", "z", "d"], "method": if bit(2) { "lingam" } else { "pc" }
        })),
    );
    let _ = estimate::synth_control(
        &table,
        &request::<SynthRequest>(json!({
            "unit": "unit", "time": "time", "outcome": "y", "treated_unit": "u0", "treatment_time": 5,
            "placebo": bit(2), "augmented": bit(3)
        })),
    );
    let _ = estimate::sdid(
        &table,
        &request::<SdidRequest>(json!({
            "unit": "unit", "time": "time", "outcome": "y", "treatment": "d",
            "se": sdid_se, "replications": 20, "seed": 1
        })),
    );
    let _ = estimate::impact(
        &table,
        &request::<ImpactRequest>(json!({
            "time": "time", "outcome": "y", "controls": if bit(2) { vec!["x"] } else { vec![] },
            "treatment_time": 6, "trend": bit(3), "seed": 1
        })),
    );
    let _ = estimate::geo_readout(
        &table,
        &request::<GeoReadoutRequest>(json!({
            "market": "unit", "time": "time", "outcome": "y", "treated_markets": ["u0", "u1"],
            "start": 6, "duration": 2, "windows": 2
        })),
    );
});
