#![allow(clippy::unwrap_used)]
//! The `liftos` command's JSON on the reference data is a contract: every case of
//! `tests/golden/cases.txt` prints what `tests/golden/cli/<case>.json` pins (see
//! `tests/src/golden.rs` for what is normalised and the numeric tolerance).

#[path = "../../../tests/src/golden.rs"]
mod golden;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// mpdta with the treated-and-post indicator `treat_post` and the county's `state`
/// (countyreal / 1000).
fn mpdta_with_treat_post(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("tests/reference/data/mpdta.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(&format!("{line},treat_post,state\n"));
            continue;
        }
        let cols: Vec<&str> = line.split(',').collect();
        let (year, first): (f64, f64) = (cols[0].parse().unwrap(), cols[4].parse().unwrap());
        let county: i64 = cols[1].parse().unwrap();
        out.push_str(&format!("{line},{},{}\n", u8::from(first > 0.0 && year >= first), county / 1000));
    }
    let path = dir.join("mpdta_tp.csv");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn every_case_prints_its_pinned_json() {
    let dir = tempfile::tempdir().unwrap();
    let tp = mpdta_with_treat_post(dir.path());
    let cases = std::fs::read_to_string(golden::golden_dir().join("cases.txt")).unwrap();
    let mut problems = Vec::new();
    let mut n = 0;
    for line in cases.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (name, args) = line.split_once('|').unwrap();
        let args: Vec<String> = args
            .split_whitespace()
            .map(|a| if a == "MPDTA_TP" { tp.display().to_string() } else { a.to_string() })
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_liftos")).args(&args).current_dir(root()).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let json: serde_json::Value =
            serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{name}: not one JSON object ({e}): {text}"));
        let got = serde_json::json!({
            "exit_code": out.status.code(),
            "output": golden::normalise(&json, Some(dir.path())),
        });
        problems.extend(golden::check(&format!("cli/{name}.json"), &got));
        if out.status.success() {
            problems.extend(round_trip(name, &json));
        }
        n += 1;
    }
    assert!(n >= 30, "only {n} cases");
    assert!(problems.is_empty(), "{} difference(s):\n{}", problems.len(), problems.join("\n"));
}

/// The JSON reads back into its typed result and writes out the same: the types are the
/// contract, not a description of it.
fn round_trip(name: &str, json: &serde_json::Value) -> Vec<String> {
    use liftos::api::estimate::{DidOutput, DiscoveryOutput, EffectOutput};
    fn again<T: serde::de::DeserializeOwned + serde::Serialize>(
        v: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let typed: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    let back = match name.split('_').next().unwrap_or_default() {
        "did" => again::<DidOutput>(json),
        "iv" => again::<liftos_estimators::iv::IvResult>(json),
        "rdd" => again::<liftos_estimators::rdd::RddResult>(json),
        "effect" => again::<EffectOutput>(json),
        "synth" => again::<liftos_estimators::synth::SynthResult>(json),
        "sdid" => again::<liftos_estimators::sdid::SdidResult>(json),
        "impact" => again::<liftos_estimators::impact::ImpactResult>(json),
        "geo" => again::<liftos_estimators::design::geo::GeoReadout>(json),
        "mmm" => again::<liftos_estimators::mmm::MmmResult>(json),
        "discover" => again::<DiscoveryOutput>(json),
        other => Err(format!("no typed result for {other}")),
    };
    match back {
        Ok(b) => golden::differences(json, &b).into_iter().map(|d| format!("{name} (typed round trip): {d}")).collect(),
        Err(e) => vec![format!("{name}: does not read back as its type: {e}")],
    }
}
