#![allow(clippy::unwrap_used)]
//! The `liftos` command's contract: flags, JSON keys, exit codes, errors naming the field.

use std::process::Command;

fn liftos(args: &[&str]) -> (i32, serde_json::Value) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_liftos")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {text}"));
    (out.status.code().unwrap_or(-1), json)
}

/// `liftos` with the arguments of a command line (split on whitespace).
fn run(line: &str) -> (i32, serde_json::Value) {
    liftos(&line.split_whitespace().collect::<Vec<_>>())
}

/// `liftos` with the arguments of a command line split on `|` (for values with spaces, as a shell
/// passes a quoted one).
fn run_split(line: &str) -> (i32, serde_json::Value) {
    liftos(&line.split('|').collect::<Vec<_>>())
}

const MPDTA: &str = "../../tests/reference/data/mpdta.csv";

/// mpdta with the treated-and-post indicator added.
fn mpdta_with_treat_post() -> tempfile::NamedTempFile {
    use std::io::Write;
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(MPDTA)).unwrap();
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            writeln!(f, "{line},treat_post").unwrap();
            continue;
        }
        let cols: Vec<&str> = line.split(',').collect();
        let (year, first): (f64, f64) = (cols[0].parse().unwrap(), cols[4].parse().unwrap());
        writeln!(f, "{line},{}", u8::from(first > 0.0 && year >= first)).unwrap();
    }
    f
}

#[test]
fn did_twfe_and_event_study() {
    let f = mpdta_with_treat_post();
    let path = f.path().to_str().unwrap();
    let base = [
        "estimate",
        "did",
        "--input",
        path,
        "--unit",
        "countyreal",
        "--time",
        "year",
        "--outcome",
        "lemp",
        "--treatment",
        "treat_post",
    ];
    let (code, v) = liftos(&base);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["estimator"], "twfe");
    assert!((v["estimate"].as_f64().unwrap() + 0.036548936674).abs() < 1e-9);
    for key in ["method", "estimator", "estimate", "std_error", "ci_low", "ci_high", "p_value", "n_obs"] {
        assert!(!v[key].is_null(), "missing {key}");
    }
    let mut es = base.to_vec();
    es.push("--event-study");
    let (code, v) = liftos(&es);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["estimator"], "event_study");
    assert!(v["pre_trend_p_value"].as_f64().is_some());
    let pts = v["event_study"].as_array().unwrap();
    assert!(pts.iter().all(|p| p["relative_time"].as_i64() != Some(-1)), "the reference period is left out");
    for key in ["relative_time", "att", "std_error"] {
        assert!(!pts[0][key].is_null());
    }
}

#[test]
fn did_errors_name_the_field() {
    let (code, v) =
        run(&format!("estimate did --input {MPDTA} --unit countyreal --time year --outcome lemp --treatment treat"));
    // `treat` is the ever-treated flag, constant within unit: absorbed by the unit effects.
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["error"], "invalid_request");
    assert_eq!(v["field"], "treatment");
    assert!(v["message"].is_string());
    let (code, v) =
        liftos(&["estimate", "did", "--input", MPDTA, "--unit", "countyreal", "--time", "year", "--outcome", "lemp"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("treatment")), "{v}");
    let (code, v) = run(&format!(
        "estimate did --input {MPDTA} --unit countyreal --time year --outcome lemp --cohort first.treat --method magic"
    ));
    assert_eq!((code, v["field"].as_str()), (2, Some("method")), "{v}");
}

/// A panel as a spreadsheet saves it: days as dates, sales as it shows them ("1,001.89"). The
/// same estimate as from plain numbers; a cell that is no number is named with its row, and
/// the note on how the dates are numbered is kept for errors about periods.
#[test]
fn did_on_a_spreadsheets_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = liftos_estimators::rng::Rng::new(5);
    let (mut shown, mut plain) =
        (String::from("Date,Region,Sales ($),Treated\n"), String::from("Date,Region,Sales,Treated\n"));
    for region in ["Texas", "Ohio", "Utah", "Maine"] {
        for t in 0..20u32 {
            let treated = u8::from(matches!(region, "Texas" | "Ohio") && t >= 12);
            let y = 1000.0 + 20.0 * rng.normal() + 3.0 * f64::from(t) + 50.0 * f64::from(treated);
            let y = (y * 100.0).round() / 100.0;
            let whole = y.trunc() as i64;
            let cents = ((y - whole as f64) * 100.0).round() as i64;
            let text = match whole / 1000 {
                0 => format!("{whole}.{cents:02}"),
                k => format!("{k},{:03}.{cents:02}", whole % 1000),
            };
            let day = format!("2026-06-{:02}", t + 1);
            shown.push_str(&format!("{day},{region},\"{text}\",{treated}\n"));
            plain.push_str(&format!("{day},{region},{y},{treated}\n"));
        }
    }
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (shown_path, plain_path) = (write("shown.csv", &shown), write("plain.csv", &plain));
    let did = |path: &str, outcome: &str| {
        liftos(&[
            "estimate",
            "did",
            "--input",
            path,
            "--unit",
            "Region",
            "--time",
            "Date",
            "--outcome",
            outcome,
            "--treatment",
            "Treated",
        ])
    };
    let (code, a) = did(&shown_path, "Sales ($)");
    assert_eq!(code, 0, "{a}");
    let (code, b) = did(&plain_path, "Sales");
    assert_eq!(code, 0, "{b}");
    assert_eq!((a["estimate"].as_f64(), a["std_error"].as_f64()), (b["estimate"].as_f64(), b["std_error"].as_f64()));
    let bad: Vec<&str> =
        shown.lines().map(|l| if l.starts_with("2026-06-01,Utah,") { "2026-06-01,Utah,n/a,0" } else { l }).collect();
    let bad = write("bad.csv", &bad.join("\n"));
    let (code, e) = did(&bad, "Sales ($)");
    assert_eq!((code, e["field"].as_str()), (2, Some("Sales ($)")), "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("row 41") && message.contains("is not a number"), "{message}");
    assert!(!message.contains("numbered as periods"), "{message}");
}

/// A panel by hour (8 geos, 72 hours, half of them treated from the 49th hour): numbered by
/// hour, the answer's axis in hours, the treatment time of a synthetic control given as an hour;
/// an effect of 3 found within its interval.
#[test]
fn did_and_synth_on_a_panel_by_hour() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = liftos_estimators::rng::Rng::new(8);
    let mut text = String::from("hour,geo,orders,treated\n");
    let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    for g in 0..8 {
        for h in 0..72 {
            let treated = u8::from(g < 4 && h >= 48);
            let y = 20.0 + 2.0 * rng.normal() + 3.0 * f64::from(treated);
            let at = start + chrono::Duration::hours(h);
            text.push_str(&format!("{},g{g},{y:.3},{treated}\n", at.format("%Y-%m-%d %H:%M:%S")));
        }
    }
    let path = dir.path().join("hourly.csv");
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap();
    let (code, v) = liftos(&[
        "estimate",
        "did",
        "--input",
        p,
        "--unit",
        "geo",
        "--time",
        "hour",
        "--outcome",
        "orders",
        "--treatment",
        "treated",
    ]);
    assert_eq!(code, 0, "{v}");
    let axis = &v["time_axis"];
    assert_eq!((axis["step"].as_str(), axis["periods"].as_i64()), (Some("hour"), Some(72)), "{axis}");
    assert_eq!((axis["first"].as_str(), axis["last"].as_str()), (Some("2026-11-01 00:00"), Some("2026-11-03 23:00")));
    let (lo, hi) = (v["ci_low"].as_f64().unwrap(), v["ci_high"].as_f64().unwrap());
    assert!(lo < 3.0 && 3.0 < hi, "{v}");
    let synth = |at: &str| {
        let flags = "--unit geo --time hour --outcome orders --treated-unit g0";
        let mut args = vec!["estimate", "synth", "--input", p, "--treatment-time", at];
        args.extend(flags.split_whitespace());
        liftos(&args)
    };
    let (code, v) = synth("2026-11-03 00:00");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["treatment_time"], 49, "{v}");
    let (code, e) = synth("2026-11-03 00:30");
    assert_eq!((code, e["field"].as_str()), (2, Some("treatment_time")), "{e}");
}

#[test]
fn did_staggered_keys() {
    let (code, v) = run(&format!("estimate did --input {MPDTA} --unit countyreal --time year --outcome lemp --cohort first.treat --control never --method dr"));
    assert_eq!(code, 0, "{v}");
    for key in
        ["method", "estimator", "estimate", "std_error", "ci_low", "ci_high", "p_value", "n_obs", "pre_trend_p_value"]
    {
        assert!(!v[key].is_null(), "missing {key}");
    }
    assert_eq!(v["method"], "did");
    assert_eq!(v["estimator"], "callaway_santanna");
    // Never treated written NA (R's write.csv) and empty (pandas): the same answer as 0.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(MPDTA)).unwrap();
    let na: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut c: Vec<&str> = l.split(',').collect();
            if c[4] == "0" {
                c[4] = if i % 2 == 0 { "NA" } else { "" };
            }
            c.join(",") + "\n"
        })
        .collect();
    let na_path = dir.path().join("mpdta-na.csv");
    std::fs::write(&na_path, na).unwrap();
    let (code, again) = run(&format!("estimate did --input {} --unit countyreal --time year --outcome lemp --cohort first.treat --control never --method dr", na_path.display()));
    assert_eq!((code, &again), (0, &v));
    let gt = v["group_time"].as_array().unwrap();
    assert_eq!(gt.len(), 12);
    for key in ["group", "time", "att", "std_error"] {
        assert!(!gt[0][key].is_null(), "group_time lacks {key}");
    }
    for key in ["relative_time", "att", "std_error"] {
        assert!(!v["event_study"][0][key].is_null(), "event_study lacks {key}");
    }
    assert!((v["estimate"].as_f64().unwrap() + 0.0399513).abs() < 1e-6);
}

#[test]
fn iv_keys_and_errors() {
    let iv = "../../tests/reference/data/iv_sim.csv";
    let (code, v) =
        run(&format!("estimate iv --input {iv} --outcome y --endogenous x --instruments z1,z2 --controls w1"));
    assert_eq!(code, 0, "{v}");
    for key in [
        "method",
        "estimator",
        "estimate",
        "std_error",
        "ci_low",
        "ci_high",
        "p_value",
        "n_obs",
        "first_stage_f",
        "overid_p_value",
        "endogeneity_p_value",
    ] {
        assert!(!v[key].is_null(), "missing {key}");
    }
    let (code, v) =
        liftos(&["estimate", "iv", "--input", iv, "--outcome", "y", "--endogenous", "x", "--instruments", "nope"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("nope")), "{v}");
    let (code, v) = run(&format!("estimate iv --input {iv} --outcome y --endogenous x --instruments z1 --se cluster:"));
    assert_eq!((code, v["field"].as_str()), (2, Some("se")), "{v}");
    let (code, v) = run("estimate iv --input missing.csv --outcome y --endogenous x --instruments z1");
    assert_eq!((code, v["field"].as_str()), (2, Some("input")), "{v}");
}

#[test]
fn rdd_keys_and_errors() {
    let senate = "../../tests/reference/data/rdrobust_senate.csv";
    let (code, v) =
        liftos(&["estimate", "rdd", "--input", senate, "--outcome", "vote", "--running", "margin", "--cutoff", "0"]);
    assert_eq!(code, 0, "{v}");
    for key in [
        "method",
        "estimator",
        "estimate",
        "std_error",
        "ci_low",
        "ci_high",
        "p_value",
        "n_obs",
        "bandwidth",
        "bias_bandwidth",
        "estimate_bias_corrected",
        "robust_std_error",
        "robust_ci_low",
        "robust_ci_high",
        "robust_p_value",
        "n_left",
        "n_right",
        "density_test_p_value",
    ] {
        assert!(!v[key].is_null(), "missing {key}");
    }
    assert!((v["estimate"].as_f64().unwrap() - 7.414130749).abs() < 1e-6);
    let (code, v) =
        liftos(&["estimate", "rdd", "--input", senate, "--outcome", "vote", "--running", "margin", "--cutoff", "-500"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("cutoff")), "{v}");
    let (code, v) =
        run(&format!("estimate rdd --input {senate} --outcome vote --running margin --cutoff 0 --kernel gauss"));
    assert_eq!((code, v["field"].as_str()), (2, Some("kernel")), "{v}");
    let (code, v) = run(&format!(
        "estimate rdd --input {senate} --outcome vote --running margin --cutoff 0 --bandwidth 10 --kernel uniform"
    ));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["bandwidth"].as_f64(), Some(10.0));
}

#[test]
fn effect_keys_and_errors() {
    let f = "../../tests/reference/data/effects_sim.csv";
    let (code, v) = run(&format!(
        "estimate effect --input {f} --outcome y --treatment d --covariates x1,x2 --method aipw --estimand ate"
    ));
    assert_eq!(code, 0, "{v}");
    for key in
        ["method", "estimator", "estimate", "std_error", "ci_low", "ci_high", "p_value", "n_obs", "overlap", "e_value"]
    {
        assert!(!v[key].is_null(), "missing {key}");
    }
    assert_eq!(v["estimator"], "aipw");
    let (code, v) =
        run(&format!("estimate effect --input {f} --outcome y --treatment d --covariates x1,x2 --refute --seed 3"));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["refutations"].as_array().map(|a| a.len()), Some(3));
    let (code, v) = run(&format!("estimate effect --input {f} --outcome y --treatment d --covariates x1 --method psm"));
    assert_eq!((code, v["field"].as_str()), (2, Some("method")), "{v}");
    let (code, v) =
        liftos(&["estimate", "effect", "--input", f, "--outcome", "y", "--treatment", "x1", "--covariates", "x2"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("x1")), "{v}");
}

#[test]
fn discover_prints_edges() {
    let f = "../../tests/reference/data/dag_sim.csv";
    let (code, v) = liftos(&["discover", "--input", f, "--alpha", "0.05"]);
    assert_eq!(code, 0, "{v}");
    let edges = v["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 14);
    for key in ["from", "to", "directed"] {
        assert!(!edges[0][key].is_null());
    }
    let (code, v) = liftos(&["discover", "--input", "../../tests/reference/data/lingam_sim.csv", "--method", "lingam"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["estimator"], "direct_lingam");
    assert_eq!(v["causal_order"].as_array().unwrap().len(), 8);
    assert!(v["edges"].as_array().unwrap().iter().all(|e| e["directed"] == true && e["from"].is_string()));
    assert_eq!(v["edges"].as_array().unwrap().len(), v["effects"].as_array().unwrap().len());
    let (code, v) = liftos(&["discover", "--input", f, "--method", "ges"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("method")), "{v}");
    let (code, v) = liftos(&["discover", "--input", f, "--forbid", "x1-x2"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("forbid")), "{v}");
}

#[test]
fn synth_fixed_window_keys_and_errors() {
    let f = "../../tests/reference/data/smoking_prop99.csv";
    let base = [
        "estimate",
        "synth",
        "--input",
        f,
        "--unit",
        "state",
        "--time",
        "year",
        "--outcome",
        "cigsale",
        "--treated-unit",
        "California",
        "--treatment-time",
        "1989",
    ];
    // Outcome-only predictors (each fit-window year): a quick fit.
    let mut args = base.to_vec();
    args.extend(["--predictors", "outcome:1975,outcome:1980,outcome:1988", "--fit-window", "1970-1988"]);
    let (code, v) = liftos(&args);
    assert_eq!(code, 0, "{v}");
    for key in ["method", "estimator", "estimate", "n_obs", "weights", "pre_rmspe", "gaps"] {
        assert!(!v[key].is_null(), "missing {key}");
    }
    assert!(v["gaps"][0]["time"].is_i64() && v["gaps"][0]["gap"].is_f64());
    // Donors left out (units treated too): not in the pool, their rows not read; a treated unit
    // or a name the panel lacks is refused naming the field.
    let heaviest = v["weights"]
        .as_object()
        .unwrap()
        .iter()
        .max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
        .unwrap()
        .0
        .clone();
    let mut ex = args.clone();
    ex.extend(["--exclude-units", &heaviest]);
    let (code, w) = liftos(&ex);
    assert_eq!(code, 0, "{w}");
    assert!(w["weights"].get(&heaviest).is_none(), "{heaviest} still a donor: {}", w["weights"]);
    assert_eq!(w["n_obs"].as_u64().unwrap() + 31, v["n_obs"].as_u64().unwrap(), "its 31 years left out");
    assert_ne!(w["estimate"], v["estimate"]);
    let donors =
        v["weights"].as_object().unwrap().keys().filter(|u| **u != heaviest).cloned().collect::<Vec<_>>().join(",");
    let all = format!("{heaviest},{donors}");
    for (units, says) in [
        ("California", "is a treated unit"),
        ("Atlantis", "is not a unit of the panel"),
        (all.as_str(), "units left out, need at least two donors"),
    ] {
        let mut ex = args.clone();
        ex.extend(["--exclude-units", units]);
        let (code, e) = liftos(&ex);
        assert_eq!((code, e["field"].as_str()), (2, Some("exclude_units")), "{e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{e}");
    }
    let mut bad = base.to_vec();
    bad.extend(["--predictors", "cigsale-1975"]);
    let (code, v) = liftos(&bad);
    assert_eq!((code, v["field"].as_str()), (2, Some("predictors")), "{v}");
    // Augmented, pooled treated units, and every robustness check.
    let mut aug = base.to_vec();
    aug[11] = "California,Nevada";
    aug.extend(["--augmented", "--fit-window", "1970-1988", "--placebo"]);
    let (code, v) = liftos(&aug);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["estimator"], "augmented_synth_ridge");
    assert_eq!(v["treated_unit"], "pooled(California+Nevada)");
    assert_eq!(v["augmented"]["lambda_source"], "cross-validation");
    assert!(v["augmented"]["ridge_lambda"].as_f64().unwrap() > 0.0);
    // The augmented fit's placebo test over-rejects: placebo gaps, no p-value (a warning says so);
    // the placebos are pools of two donors, as many as there are donors.
    assert!(v["placebo_p_value"].is_null() && v["p_value"].is_null(), "{v}");
    assert!(v["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("no placebo p-value")));
    assert_eq!(v["placebos"].as_array().unwrap().len(), 37);
    assert!(v["placebos"][0]["unit"].as_str().unwrap().starts_with("pooled("));
    assert_eq!(v["placebo_in_time"]["placebo_time"], 1979);
    assert!(!v["leave_one_out"]["fits"].as_array().unwrap().is_empty());
    let mut lam = base.to_vec();
    lam.extend(["--ridge-lambda", "10"]);
    let (code, v) = liftos(&lam);
    assert_eq!((code, v["field"].as_str()), (2, Some("ridge_lambda")), "{v}");
    lam.push("--augmented");
    let n = lam.len();
    lam[n - 2] = "-1";
    let (code, v) = liftos(&lam);
    assert_eq!((code, v["field"].as_str()), (2, Some("ridge_lambda")), "{v}");
    let mut who = base.to_vec();
    who[11] = "Atlantis";
    let (code, v) = liftos(&who);
    assert_eq!((code, v["field"].as_str()), (2, Some("treated_unit")), "{v}");
}

/// `liftos report`: the API's request body on a local CSV (or Parquet) file; the same result
/// keys as `liftos estimate`, and a self-contained HTML report with one plot per figure.
#[test]
fn report_writes_html_with_plots() {
    let dir = tempfile::tempdir().unwrap();
    let request = dir.path().join("request.json");
    std::fs::write(
        &request,
        r#"{"question": "Did winning the previous race raise the vote share?",
            "methods": [{"method": "rdd", "outcome": "vote", "running": "margin", "cutoff": 0}]}"#,
    )
    .unwrap();
    let out = dir.path().join("r/report.html");
    let (code, v) = liftos(&[
        "report",
        "--request",
        request.to_str().unwrap(),
        "--input",
        "../../tests/reference/data/rdrobust_senate.csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{v}");
    let (_, direct) = run("estimate rdd --input ../../tests/reference/data/rdrobust_senate.csv --outcome vote --running margin --cutoff 0");
    assert_eq!(v["results"][0]["result"], direct, "the report's numbers are the estimator's");
    assert_eq!(v["report"]["path"], out.to_str().unwrap());
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Regression discontinuity at 0"));
    assert_eq!(html.matches("<svg").count(), 1, "the binned scatter with the local fits");
    // rdplot's IMSE-optimal bins (8 left and 9 right of the cutoff on these data), as the
    // result's `bins` says, and two fitted curves.
    let circles = html.matches("<circle").count();
    assert_eq!(circles, direct["bins"]["points"].as_array().map_or(0, Vec::len), "{circles} bins");
    assert_eq!((direct["bins"]["bins_left"].as_u64(), direct["bins"]["bins_right"].as_u64()), (Some(8), Some(9)));
    // Errors name the field.
    let (code, v) = liftos(&["report", "--request", request.to_str().unwrap(), "--input", "missing.csv"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("input")), "{v}");
    std::fs::write(
        &request,
        r#"{"methods": [{"method": "rdd", "outcome": "nope", "running": "margin", "cutoff": 0}]}"#,
    )
    .unwrap();
    let (code, v) = liftos(&[
        "report",
        "--request",
        request.to_str().unwrap(),
        "--input",
        "../../tests/reference/data/rdrobust_senate.csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!((code, v["field"].as_str()), (2, Some("methods[0].nope")), "{v}");
}

/// `liftos report` on a weak instrument (first-stage coefficient 0.02 on 60 rows): under the t
/// interval of the headline, the Anderson-Rubin set and its p-value, and the words that say the
/// interval above understates the uncertainty; the same report on a strong instrument has none.
#[test]
fn a_report_on_weak_instruments_shows_the_anderson_rubin_set() {
    let dir = tempfile::tempdir().unwrap();
    let request = dir.path().join("request.json");
    std::fs::write(
        &request,
        r#"{"methods": [{"method": "iv", "outcome": "y", "endogenous": ["x"], "instruments": ["z"], "controls": ["w"]}]}"#,
    )
    .unwrap();
    for (pi, weak) in [(0.02, true), (1.0, false)] {
        let mut rng = liftos_estimators::rng::Rng::new(5);
        let mut csv = String::from("y,x,z,w\n");
        for _ in 0..60 {
            let (z, w, u) = (rng.normal(), rng.normal(), rng.normal());
            let x = pi * z + u + rng.normal();
            csv.push_str(&format!("{},{x},{z},{w}\n", 1.0 + 2.0 * x + u + 0.5 * w));
        }
        let data = dir.path().join("iv.csv");
        std::fs::write(&data, csv).unwrap();
        let out = dir.path().join("iv.html");
        let (code, v) = liftos(&[
            "report",
            "--request",
            request.to_str().unwrap(),
            "--input",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{v}");
        let r = &v["results"][0]["result"];
        let html = std::fs::read_to_string(&out).unwrap();
        assert_eq!(html.contains("Anderson-Rubin set"), weak, "pi {pi}: F {}", r["first_stage_f"]);
        if weak {
            assert!(r["first_stage_f"].as_f64().unwrap() < 10.0, "{r}");
            assert!(html.contains("the interval above understates the uncertainty"));
            let p = r["ar_p_value"].as_f64().unwrap();
            let shown = if p < 0.001 { "p &lt; 0.001".to_string() } else { format!("p = {p:.4}") };
            assert!(html.contains(&format!("{shown} for no effect")), "{shown} in the report");
            // the set as the result gives it
            let set = r["ar_confidence_set"].as_str().unwrap();
            assert!(
                ["bounded", "two rays", "unbounded below", "unbounded above", "whole line"].contains(&set),
                "{set}"
            );
            if set == "two rays" {
                assert!(html.contains("(−∞, ") && html.contains(", ∞)"), "two rays drawn as such");
            }
        }
    }
}

const EXPORTS: &str = "../../tests/fixtures/exports";

fn export(name: &str) -> String {
    format!("{EXPORTS}/{name}")
}

/// `liftos ingest PATH --platform PLATFORM` into the embedded store `dir/store`.
fn ingest_into(dir: &std::path::Path, store: &str, path: &str, platform: &str) -> (i32, serde_json::Value) {
    let d = dir.join(store);
    liftos(&["ingest", path, "--platform", platform, "--data-dir", d.to_str().unwrap()])
}

/// An export of the same rows as `twin` in another form, ingested as `v`: the same column map
/// and, in its batch, the same `keys`; `again`, the same export ingested into `twin`'s store
/// (where its rows were rejected alike, so the records carry the same quality), stores nothing
/// new: the same records, to the value.
fn assert_read_as_its_twin(
    twin: &serde_json::Value,
    v: &serde_json::Value,
    keys: &[&str],
    again: Option<(i32, serde_json::Value)>,
) {
    assert_eq!(v["column_map"], twin["column_map"], "{v}");
    assert_eq!(v["stored"], twin["stored"], "{v}");
    for key in keys {
        assert_eq!(v["batches"][0][key], twin["batches"][0][key], "{key}");
    }
    let Some((code, again)) = again else { return };
    assert_eq!(code, 0, "{again}");
    assert_eq!((again["stored"].as_u64(), again["unchanged"].as_u64()), (Some(0), twin["stored"].as_u64()), "{again}");
}

/// A Google Ads UI download as it comes: a title and a date range above the header, thousands
/// separators, `--` for no value, totals rows at the foot, and two malformed rows.
#[test]
fn ingest_a_google_ads_export_as_downloaded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let file = export("google_ads_campaign_report.csv");
    let (code, v) = liftos(&["ingest", &file, "--platform", "google_ads", "--data-dir", d]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["column_map_source"], "detected");
    assert_eq!(v["column_map"]["date"], "Day");
    assert_eq!(v["column_map"]["spend"], "Cost");
    assert_eq!(v["column_map"]["revenue"], "Conv. value");
    // 56 days x 3 campaigns; the totals rows are not records; the two malformed rows are rejected.
    assert_eq!(v["stored"], 168, "{v}");
    assert_eq!(v["unchanged"], 0);
    assert_eq!(v["records_by_platform"]["google_ads"], 168);
    let batch = &v["batches"][0];
    assert_eq!(batch["records"], 168);
    let q = batch["quality_score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&q), "{q}");
    let rejected = batch["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    // Lines in the file: two title lines, the header on line 3, 168 rows on lines 4-171.
    assert_eq!(rejected[0]["line"], 172);
    assert_eq!(rejected[0]["column"], "Cost");
    assert!(rejected[0]["reason"].as_str().unwrap().contains("n/a"));
    assert_eq!(rejected[1]["line"], 173);
    assert_eq!(rejected[1]["column"], "Day");
    // The same export again stores nothing twice, the platform named as people write it (the
    // same platform and connection).
    let (code, again) = liftos(&["ingest", &file, "--platform", "Google Ads", "--data-dir", d]);
    assert_eq!(code, 0, "{again}");
    assert_eq!((again["stored"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(168)));
    assert_eq!((&again["platform"], &again["connection_id"]), (&v["platform"], &v["connection_id"]), "{again}");
    // A platform with no connector of its own is pointed to `other`; nothing is stored.
    let (code, e) = liftos(&["ingest", &file, "--platform", "Microsoft Advertising", "--data-dir", d]);
    assert_eq!((code, &e["field"]), (2, &serde_json::json!("--platform")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("read as other (--platform other)"), "{e}");
}

/// Rows that read but cannot be used, rejected by the quality screen and not by the reader: a
/// negative cost, a campaign's day twice, more clicks than impressions and a day in the future.
/// Each is named with its line in the file, as an unreadable row is; the rest is stored.
#[test]
fn ingest_names_the_line_of_every_row_the_quality_screen_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::fs::read_to_string(export("google_ads_campaign_report.csv")).unwrap();
    let mut lines: Vec<String> = fixture.lines().map(str::to_string).collect();
    // lines 4-6 are the three campaigns' 2026-10-01, lines 7-9 their 2026-10-02
    lines[4] = "2026-10-01,Generic Search,20123456782,Enabled,USD,-5.00,100,3,0.00,0.00".into();
    lines[6] = lines[3].clone();
    lines[8] = "2026-10-02,Performance Max,20123456783,Enabled,USD,100.00,10,500,1.00,10.00".into();
    lines[9] = "2099-01-01,Brand Search,20123456781,Enabled,USD,100.00,1000,5,1.00,10.00".into();
    let file = dir.path().join("screened.csv");
    std::fs::write(&file, format!("{}\n", lines.join("\n"))).unwrap();
    let (code, v) = ingest_into(dir.path(), "store", file.to_str().unwrap(), "google_ads");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stored"], 164, "{v}");
    let rejected = v["batches"][0]["rejected"].as_array().unwrap();
    let mut at: Vec<(u64, &str)> =
        rejected.iter().map(|r| (r["line"].as_u64().unwrap_or(0), r["reason"].as_str().unwrap())).collect();
    at.sort();
    let lines_at: Vec<u64> = at.iter().map(|a| a.0).collect();
    assert_eq!(lines_at, [5, 7, 9, 10, 172, 173], "{rejected:?}");
    assert_eq!(at[0].1, "a metric is negative");
    assert_eq!(at[1].1, "a duplicate of an earlier row for the same campaign and day");
    assert!(at[2].1.starts_with("clicks (500) exceed impressions (10)"), "{}", at[2].1);
    assert!(at[3].1.contains("2099-01-01 is in the future"), "{}", at[3].1);
    // the screen's rejections still say which campaign and day they are
    let negative = rejected.iter().find(|r| r["line"] == 5).unwrap();
    assert_eq!(negative["at"], "campaign 20123456782 on 2026-10-01", "{negative}");
}

/// Lines of another length than the header's: a campaign name holding a comma outside quotes
/// (line 10), a row cut short (line 20), a row ending in a comma the header lacks (line 30: read),
/// a blank line (line 51), and a blank line and a note below the table. Each line that cannot be read is rejected with
/// its line, the others are stored; as UTF-16 with tabs (LinkedIn's, Google Ads' "Excel"
/// download) the same.
#[test]
fn ingest_an_export_with_rows_of_another_length_than_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::fs::read_to_string(export("google_ads_campaign_report.csv")).unwrap();
    let mut lines: Vec<String> = fixture.lines().map(str::to_string).collect();
    lines[9] = lines[9].replacen("Search", "Search, EU", 1);
    lines[19] = format!("{},USD", lines[19].split(",USD,").next().unwrap());
    lines[29].push(',');
    lines.insert(50, String::new());
    let text = format!("{}\n\nReport generated on Nov 27, 2026 by Google Ads\n", lines.join("\n"));
    let comma = dir.path().join("comma.csv");
    std::fs::write(&comma, &text).unwrap();
    let (code, v) = ingest_into(dir.path(), "comma", comma.to_str().unwrap(), "google_ads");
    assert_eq!(code, 0, "{v}");
    // the fixture's 168 days of a campaign, less the two lines that cannot be read
    assert_eq!(v["stored"], 166, "{v}");
    let rejected = v["batches"][0]["rejected"].as_array().unwrap();
    let at: Vec<(u64, &str)> =
        rejected.iter().map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap())).collect();
    assert_eq!(at.len(), 5, "{rejected:?}");
    assert_eq!(at[0].0, 10);
    assert!(at[0].1.contains("has 11 fields where the header has 10"), "{}", at[0].1);
    assert_eq!(at[1].0, 20);
    assert!(at[1].1.contains("has 5 fields where the header has 10"), "{}", at[1].1);
    // the fixture's two malformed rows, a line lower, then the note (after the blank line 177)
    assert_eq!((at[2].0, at[3].0, at[4].0), (173, 174, 178), "{rejected:?}");
    assert!(at[4].1.contains("has 2 fields where"), "{}", at[4].1);
    // tab-separated UTF-16: the same rows read, the same lines rejected
    let tsv: String =
        text.lines()
            .map(|l| {
                if l.starts_with('"') || !l.contains(',') {
                    format!("{}\n", l.trim_matches('"'))
                } else {
                    csv_to_tsv(l)
                }
            })
            .collect();
    let bytes: Vec<u8> = std::iter::once(0xFEFFu16).chain(tsv.encode_utf16()).flat_map(u16::to_le_bytes).collect();
    let utf16 = dir.path().join("utf16.csv");
    std::fs::write(&utf16, bytes).unwrap();
    let (code, w) = ingest_into(dir.path(), "utf16", utf16.to_str().unwrap(), "google_ads");
    assert_eq!(code, 0, "{w}");
    assert_eq!(w["stored"], 166, "{w}");
    let lines_of = |v: &serde_json::Value| -> Vec<u64> {
        v["batches"][0]["rejected"].as_array().unwrap().iter().map(|r| r["line"].as_u64().unwrap()).collect()
    };
    assert_eq!(lines_of(&w), lines_of(&v));
}

/// A manager account's export over an account in dollars and one in euros: refused naming
/// `--currency` without it; with `--currency`, that currency's campaigns are stored and the
/// others' rows listed in `left_out` with their lines, the batch's quality not lowered by them;
/// two connections of one file, one a currency, store every campaign once.
#[test]
fn ingest_an_export_in_two_currencies() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::fs::read_to_string(export("google_ads_campaign_report.csv")).unwrap();
    let mixed: String = fixture
        .lines()
        .map(|l| {
            format!("{}\n", if l.contains("Generic Search") { l.replace(",USD,", ",EUR,") } else { l.to_string() })
        })
        .collect();
    let file = dir.path().join("mcc.csv");
    std::fs::write(&file, &mixed).unwrap();
    let path = file.to_str().unwrap();
    let store = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (code, v) = liftos(&["ingest", path, "--platform", "google_ads", "--data-dir", &store("a")]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--currency")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("2 currencies (EUR, USD"), "{v}");
    let (code, v) = liftos(&[
        "ingest",
        path,
        "--platform",
        "google_ads",
        "--data-dir",
        &store("b"),
        "--currency",
        "EUR",
        "--fx-rate",
        "1.08",
    ]);
    assert_eq!(code, 0, "{v}");
    // Generic Search's 56 days; the fixture's two malformed rows are Brand Search's and Generic
    // Search's (this one in EUR)
    assert_eq!(v["stored"], 56, "{v}");
    let batch = &v["batches"][0];
    let left: Vec<u64> = batch["left_out"].as_array().unwrap().iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert_eq!(left.len(), 56 * 2 + 1, "{batch}");
    assert_eq!(left[0], 4);
    assert!(batch["quality_score"].as_f64().unwrap() > 0.5, "{batch}");
    let (code, v) =
        liftos(&["ingest", path, "--platform", "google_ads", "--data-dir", &store("c"), "--currency", "euro"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--currency")), "{v}");
    let conns = dir.path().join("connections.json");
    let list = serde_json::json!([
        {"id": "usd", "kind": "file", "platform": "google_ads", "path": "mcc.csv", "currency": "USD"},
        {"id": "eur", "kind": "file", "platform": "google_ads", "path": "mcc.csv", "currency": "EUR", "fx_rate": 1.08},
    ]);
    std::fs::write(&conns, list.to_string()).unwrap();
    let d = store("d");
    let out = store("out");
    let (code, v) =
        liftos(&["pipeline", "--connections", conns.to_str().unwrap(), "--data-dir", &d, "--out", &out, "--quiet"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stored_by_platform"]["google_ads"]["records"], 168, "{v}");
    for b in v["ingestion"]["batches"].as_array().unwrap() {
        assert!(b.get("quarantined").is_none() && b["records"].as_u64().unwrap() > 0, "{b}");
    }
}

/// A CSV line as tab-separated fields (quotes around a field dropped, commas outside quotes
/// turned into tabs).
fn csv_to_tsv(line: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push('\t'),
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// Meta's and LinkedIn's exports: campaigns named rather than numbered, a unit in the spend
/// column's name, US dates below four title lines; a given map with a column the export lacks.
#[test]
fn ingest_meta_and_linkedin_exports_and_refuse_what_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, v) = liftos(&["ingest", &export("meta_ads_manager_export.csv"), "--platform", "meta", "--data-dir", d]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["column_map"]["spend"], "Amount spent (USD)");
    assert_eq!(v["stored"], 112);
    let rejected = v["batches"][0]["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!((rejected[0]["line"].as_u64(), rejected[0]["column"].as_str()), (Some(114), Some("Campaign name")));
    let (code, v) = liftos(&[
        "ingest",
        &export("linkedin_campaign_performance.csv"),
        "--platform",
        "linkedin",
        "--data-dir",
        d,
        "--connection",
        "li-ads",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!((v["connection_id"].as_str(), v["stored"].as_u64()), (Some("li-ads"), Some(56)));
    assert_eq!(v["column_map"]["date_format"], "%m/%d/%Y");

    // Nothing is stored from a file that cannot be read.
    let empty = tempfile::tempdir().unwrap();
    let e = empty.path().to_str().unwrap();
    let map = empty.path().join("map.json");
    std::fs::write(&map, r#"{"date": "Day", "campaign_id": "Campaign ID", "spend": "Spend"}"#).unwrap();
    let file = export("google_ads_campaign_report.csv");
    let args = ["ingest", &file, "--platform", "google_ads", "--data-dir", e, "--column-map", map.to_str().unwrap()];
    let (code, v) = liftos(&args);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["field"], "--column-map");
    assert!(v["message"].as_str().unwrap().contains("Spend"), "{v}");
    assert!(!empty.path().join("panels").join("demo").join("drop").exists());
    let odd = empty.path().join("odd.csv");
    std::fs::write(&odd, "when,what\n2026-01-01,3\n").unwrap();
    let (code, v) = liftos(&["ingest", odd.to_str().unwrap(), "--platform", "meta", "--data-dir", e]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--column-map")), "{v}");
    let (code, v) = liftos(&["ingest", odd.to_str().unwrap(), "--platform", "myspace", "--data-dir", e]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--platform")), "{v}");
    // a file with a header and no rows is the file's fault, not the map's
    std::fs::write(&odd, "Day,Campaign ID,Cost\n").unwrap();
    let (code, v) = liftos(&["ingest", odd.to_str().unwrap(), "--platform", "google_ads", "--data-dir", e]);
    assert_eq!((code, v["field"].as_str()), (2, Some("file")), "{v}");
    assert_eq!(v["message"], "file: odd.csv: has no rows", "{v}");
    assert!(!empty.path().join("panels").join("demo").join("drop").exists());
}

/// A map written by hand names the columns as a person would (`day`, `cost`, `impr.`): each is
/// the export's column of that name without regard to case, spaces or underscores, the header
/// is found below the title lines by it, and the records are those of the map as the header
/// writes it. A file connection holding its map (an entry of a connections file) is taken too.
#[test]
fn ingest_reads_a_map_written_as_a_person_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = export("google_ads_campaign_report.csv");
    let ingest = |store: &str, map: &str| {
        let path = dir.path().join(format!("{store}.json"));
        std::fs::write(&path, map).unwrap();
        let d = dir.path().join(store);
        liftos(&[
            "ingest",
            &file,
            "--platform",
            "google_ads",
            "--data-dir",
            d.to_str().unwrap(),
            "--column-map",
            path.to_str().unwrap(),
        ])
    };
    let exact = r#"{"date": "Day", "campaign_id": "Campaign ID", "spend": "Cost", "impressions": "Impr.", "clicks": "Clicks", "revenue": "Conv. value"}"#;
    let (code, want) = ingest("exact", exact);
    assert_eq!((code, want["stored"].as_u64()), (0, Some(168)), "{want}");
    let loose = r#"{"date": "day", "campaign_id": "campaign_id", "spend": "COST", "impressions": "impr.", "clicks": "clicks", "revenue": "conv value"}"#;
    let wrapped =
        format!(r#"{{"id": "google-ads-ui", "kind": "file", "platform": "google_ads", "column_map": {exact}}}"#);
    for (store, map) in [("loose", loose), ("wrapped", wrapped.as_str())] {
        let (code, v) = ingest(store, map);
        assert_eq!(code, 0, "{store}: {v}");
        assert_eq!(v["column_map_source"], "given");
        assert_eq!(v["stored"], want["stored"], "{store}: {v}");
        for key in ["records", "quality_score", "quality_components", "rejected", "treatments", "confounders"] {
            assert_eq!(v["batches"][0][key], want["batches"][0][key], "{store}: {key}");
        }
    }
}

/// A Meta export saved from Excel: its 18-digit campaign ids written as `1.20210000000000E+17`,
/// their last digits lost. Refused naming `--column-map` and the row, nothing stored (read as
/// numbers, two campaigns fell together as one id and every row of the second was a "duplicate",
/// and a campaign alone under its first digits would be stored under an id not its own); mapped
/// to the campaign names, the same file is stored. An id column that is not the campaign's and a
/// whole-number id stay as they were read.
#[test]
fn ingest_refuses_campaign_ids_that_excel_wrote_in_scientific_notation() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("Day,Campaign ID,Campaign name,Ad set ID,Amount spent (USD),Impressions,Link clicks\n");
    for day in 1..=20 {
        text.push_str(&format!("2026-10-{day:02},1.20210000000000E+17,Prospecting,1.2021E+17,{},1000,10\n", 100 + day));
        text.push_str(&format!("2026-10-{day:02},1.20210000000000E+17,Retargeting,1.2021E+17,{},2000,20\n", 200 + day));
    }
    let file = dir.path().join("saved_by_excel.csv");
    std::fs::write(&file, &text).unwrap();
    let store = dir.path().join("store");
    let d = store.to_str().unwrap();
    let (code, v) = liftos(&["ingest", file.to_str().unwrap(), "--platform", "meta", "--data-dir", d]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["field"], "--column-map", "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("Campaign ID"), "{message}");
    assert!(message.contains("row 1: \"1.20210000000000E+17\" is an id in scientific notation"), "{message}");
    assert!(!store.join("panels").join("demo").join("drop").exists());
    // the campaigns by their names: 40 records (the ad set ids, also mangled, are a breakdown
    // column: one ad set a campaign's day, nothing summed)
    let map = dir.path().join("map.json");
    std::fs::write(&map, r#"{"date": "Day", "campaign_id": "Campaign name", "spend": "Amount spent (USD)"}"#).unwrap();
    let (code, v) = liftos(&[
        "ingest",
        file.to_str().unwrap(),
        "--platform",
        "meta",
        "--data-dir",
        d,
        "--column-map",
        map.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stored"], 40, "{v}");
    assert_eq!(v["batches"][0]["rejected"], serde_json::json!([]), "{v}");
    // ids written whole are read as before
    let whole = dir.path().join("whole.csv");
    std::fs::write(
        &whole,
        text.replacen("1.20210000000000E+17,Prospecting", "120210000000000001,Prospecting", 20)
            .replace("1.20210000000000E+17,Retargeting", "120210000000000002,Retargeting"),
    )
    .unwrap();
    let (code, v) = ingest_into(dir.path(), "whole", whole.to_str().unwrap(), "meta");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stored"], 40, "{v}");
    // an interface in German: the id column's name says nothing, the map says it holds the ids
    let german = dir.path().join("kampagnen.csv");
    std::fs::write(
        &german,
        text.replace(
            "Day,Campaign ID,Campaign name,Ad set ID,Amount spent (USD)",
            "Tag,Kampagnen-ID,Kampagnenname,Anzeigengruppen-ID,Ausgegebener Betrag (USD)",
        ),
    )
    .unwrap();
    let map = dir.path().join("karte.json");
    std::fs::write(&map, r#"{"date": "Tag", "campaign_id": "Kampagnen-ID", "spend": "Ausgegebener Betrag (USD)"}"#)
        .unwrap();
    let store = dir.path().join("german");
    let (code, v) = liftos(&[
        "ingest",
        german.to_str().unwrap(),
        "--platform",
        "meta",
        "--data-dir",
        store.to_str().unwrap(),
        "--column-map",
        map.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["field"], "--column-map", "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("Kampagnen-ID"), "{message}");
    assert!(message.contains("row 1: \"1.20210000000000E+17\" is an id in scientific notation"), "{message}");
    assert!(!store.join("panels").join("demo").join("drop").exists());
}

/// Meta's campaign ids have 18 digits, more than a double holds: two campaigns whose ids differ
/// in the last digit are two campaigns (read as numbers both were 120210000000000000, and every
/// row of the second was rejected as a duplicate of the first, quarantining the export). The
/// export is by ad set: its rows are summed into each campaign's day.
#[test]
fn ingest_an_export_with_18_digit_campaign_ids() {
    let dir = tempfile::tempdir().unwrap();
    // by ad set: two rows per campaign and day, summed into the campaign's day
    let mut csv =
        String::from("Campaign name,Campaign ID,Ad set name,Day,Amount spent (EUR),Impressions,Link clicks,Results\n");
    for day in 1..=10 {
        for (id, name) in [("120210000000000001", "Prospecting | DE"), ("120210000000000002", "Retargeting | DE")] {
            for set in ["Broad", "Lookalike 1%"] {
                csv.push_str(&format!(
                    "{name},{id},{set},2026-10-{day:02},{}.50,{},{},{}\n",
                    100 + day,
                    1000 * day,
                    40 + day,
                    day % 4
                ));
            }
        }
    }
    let file = dir.path().join("meta.csv");
    std::fs::write(&file, csv).unwrap();
    let d = dir.path().join("store");
    let args = ["ingest", file.to_str().unwrap(), "--platform", "meta", "--data-dir", d.to_str().unwrap()];
    let (code, v) = liftos(&args);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["column_map"]["campaign_id"], "Campaign ID");
    assert_eq!((v["stored"].as_u64(), v["batches"][0]["records"].as_u64()), (Some(20), Some(20)), "{v}");
    assert_eq!(v["batches"][0]["rejected"], serde_json::json!([]), "{v}");
    assert!(v["batches"][0].get("quarantined").is_none_or(|q| q == false), "{v}");
}

/// A small export that scores under the quality threshold is stored nowhere, and the summary and
/// stderr say why: its score against 0.5, the share of usable rows, the lowest components with
/// their details, and where the batch is kept (the same reason as the quarantine file's).
#[test]
fn ingest_says_why_a_batch_was_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "Campaign name,Day,Amount spent (USD),Impressions,Link clicks,Results\n\
               Retargeting,2026-03-01,230.00,4500,80,3\n\
               Retargeting,2026-03-02,240.00,4600,85,5\n\
               Retargeting,2026-03-04,5.00,100,2,0\n\
               Retargeting,2026-03-05,-5.00,4600,85,5\n\
               Prospecting,2026-03-01,1234.56,15321,321,12\n\
               Prospecting,2026-03-02,1100.10,14000,300,10\n\
               Prospecting,2026-03-03,abc,14000,300,10\n";
    let file = dir.path().join("meta.csv");
    std::fs::write(&file, csv).unwrap();
    let d = dir.path().join("store");
    let out = Command::new(env!("CARGO_BIN_EXE_liftos"))
        .args([
            "ingest",
            file.to_str().unwrap(),
            "--platform",
            "meta",
            "--data-dir",
            d.to_str().unwrap(),
            "--org",
            "acme",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = &v["batches"][0];
    assert_eq!(
        (v["stored"].as_u64(), b["records"].as_u64(), &b["quarantined"]),
        (Some(0), Some(0), &serde_json::json!(true)),
        "{v}"
    );
    assert!(b["quality_score"].as_f64().unwrap() < 0.5, "{b}");
    let why = b["quarantine_reason"].as_str().unwrap();
    let score = format!("quality score {:.3} is below 0.5", b["quality_score"].as_f64().unwrap());
    assert!(why.starts_with(&score), "{why}");
    // two rows rejected (a negative spend, a spend that is not a number) of seven
    assert!(why.contains("none of its 5 records were stored: 5 of its 7 rows were usable"), "{why}");
    // the lowest components, each with its detail, the lowest first
    let outliers = why.find("outliers 0.00 (1 values beyond 8 robust SDs)").expect(why);
    let completeness = why.find("completeness 0.83 (5 of 6 campaign-days").expect(why);
    assert!(outliers < completeness, "{why}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("liftos: the batch of meta-export was not stored: {why}")), "{stderr}");
    // the quarantine file holds the batch with the same reason
    let key = why.rsplit("kept with its rows in ").next().unwrap();
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("panels").join("acme").join(key)).unwrap()).unwrap();
    assert_eq!(kept["batch"], why);
    // a batch that is stored has no reason
    let ok = dir.path().join("ok.csv");
    std::fs::write(&ok, csv.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
    let (code, v) = liftos(&["ingest", ok.to_str().unwrap(), "--platform", "meta", "--data-dir", d.to_str().unwrap()]);
    assert_eq!((code, v["stored"].as_u64()), (0, Some(2)), "{v}");
    assert!(v["batches"][0].get("quarantine_reason").is_none(), "{v}");
}

/// LinkedIn Campaign Manager's download as it comes: UTF-16 with tabs (the fixture is the same
/// report saved as UTF-8 with commas). It reads as the comma file does (the same records and
/// confounders, each in its own store), a malformed row is named by its line, and the same
/// download again stores nothing new.
#[test]
fn ingest_a_utf16_tab_separated_linkedin_export() {
    let dir = tempfile::tempdir().unwrap();
    let comma = std::fs::read_to_string(export("linkedin_campaign_performance.csv")).unwrap();
    let mut tsv: String = comma
        .lines()
        .map(|line| match line.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
            Some(title) => format!("{title}\n"),
            None => format!("{}\n", line.replace(',', "\t")),
        })
        .collect();
    // a row whose spend is not a number, on line 62 (4 title lines, the header, 56 rows)
    tsv.push_str(
        "11/26/2026\tAcme Corp\tABM Q4\tABM - Decision makers\t528001\tSponsored Content\tUSD\tn/a\t1\t1\t0\t0\n",
    );
    let bytes: Vec<u8> = std::iter::once(0xFEFFu16).chain(tsv.encode_utf16()).flat_map(u16::to_le_bytes).collect();
    let file = dir.path().join("campaign_performance_report.csv");
    std::fs::write(&file, bytes).unwrap();
    let ingest = |path: &str, store: &str| ingest_into(dir.path(), store, path, "linkedin");
    let (code, from_comma) = ingest(&export("linkedin_campaign_performance.csv"), "comma");
    assert_eq!((code, from_comma["stored"].as_u64()), (0, Some(56)), "{from_comma}");
    let (code, v) = ingest(file.to_str().unwrap(), "utf16");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["column_map"]["date_format"], "%m/%d/%Y");
    // (its quality score is its own: the rejected row counts against it, and its records carry it)
    assert_read_as_its_twin(&from_comma, &v, &["records", "confounders", "treatments"], None);
    let rejected = v["batches"][0]["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!((rejected[0]["line"].as_u64(), rejected[0]["column"].as_str()), (Some(62), Some("Total Spent")));
    let (code, again) = ingest(file.to_str().unwrap(), "utf16");
    assert_eq!(code, 0, "{again}");
    assert_eq!((again["stored"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(56)), "{again}");
}

/// The Google Ads fixture as a spreadsheet set to German saves it: semicolons between fields,
/// decimal commas and points between thousands (`1.346,13`).
fn google_ads_with_semicolons() -> String {
    let comma = std::fs::read_to_string(export("google_ads_campaign_report.csv")).unwrap();
    let german = |field: &str| -> String {
        let us = !field.is_empty() && field.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '.');
        if us {
            field
                .chars()
                .map(|c| match c {
                    ',' => '.',
                    '.' => ',',
                    c => c,
                })
                .collect()
        } else {
            field.to_string()
        }
    };
    let mut semi = String::new();
    for line in comma.lines() {
        // the fixture quotes only whole fields holding commas, never a quote
        let mut fields = Vec::new();
        let mut rest = line;
        while !rest.is_empty() || fields.is_empty() {
            let (field, tail) = match rest.strip_prefix('"') {
                Some(q) => {
                    let end = q.find('"').unwrap();
                    (&q[..end], q[end + 1..].strip_prefix(',').unwrap_or(""))
                }
                None => rest.split_once(',').unwrap_or((rest, "")),
            };
            fields.push(german(field));
            rest = tail;
        }
        semi.push_str(&fields.join(";"));
        semi.push('\n');
    }
    assert!(semi.contains("2026-10-01;Brand Search;20123456781;Enabled;USD;1.346,13;14.719;485;21,27;2.338,02\n"));
    semi
}

/// The Google Ads export as a spreadsheet set to German saves it. It stores what the comma file
/// stores: the same records, treatments and confounders, and the same rows rejected at the same
/// lines.
#[test]
fn ingest_a_semicolon_export_with_decimal_commas() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Kampagnenbericht.csv");
    std::fs::write(&file, google_ads_with_semicolons()).unwrap();
    let ingest = |path: &str, store: &str| ingest_into(dir.path(), store, path, "google_ads");
    let (code, from_comma) = ingest(&export("google_ads_campaign_report.csv"), "comma");
    assert_eq!((code, from_comma["stored"].as_u64()), (0, Some(168)), "{from_comma}");
    let (code, v) = ingest(file.to_str().unwrap(), "semicolon");
    assert_eq!(code, 0, "{v}");
    let again = ingest(file.to_str().unwrap(), "comma");
    assert_read_as_its_twin(
        &from_comma,
        &v,
        &["records", "confounders", "treatments", "quality_score", "rejected"],
        Some(again),
    );
}

/// The Google Ads export downloaded from the interface set to German: German column names
/// (`Tag`, `Kampagne`, `Kosten`, `Conv.-Wert`), days as `01.10.2026`, totals rows as
/// `Gesamt: Konto`, saved with semicolons and decimal commas. Recognised with no column map, it
/// stores the English file's records (unchanged in its store) and rejects the same rows at the
/// same lines, naming the German columns.
#[test]
fn ingest_a_german_google_ads_export_without_a_map() {
    let dir = tempfile::tempdir().unwrap();
    let mut german = String::new();
    for line in google_ads_with_semicolons().lines() {
        let line = match line {
            "Campaign report" => "Kampagnenbericht".to_string(),
            l if l.starts_with("Day;") => {
                "Tag;Kampagne;Kampagnen-ID;Kampagnenstatus;Währungscode;Kosten;Impr.;Klicks;Conversions;Conv.-Wert"
                    .to_string()
            }
            l if l.starts_with("Total: Account") => l.replace("Total: Account", "Gesamt: Konto"),
            l if l.starts_with("Total: Search") => l.replace("Total: Search", "Gesamt: Suche"),
            l => match l.split_once(';') {
                // 2026-10-01 as 01.10.2026 (the malformed date stays as it is)
                Some((day, rest)) if day.len() == 10 && day.as_bytes()[4] == b'-' => {
                    format!("{}.{}.{};{rest}", &day[8..], &day[5..7], &day[..4])
                }
                _ => l.to_string(),
            },
        };
        german.push_str(&line);
        german.push('\n');
    }
    assert!(german.contains("\n01.10.2026;Brand Search;20123456781;Enabled;USD;1.346,13;"), "{german}");
    let file = dir.path().join("Kampagnenbericht.csv");
    std::fs::write(&file, &german).unwrap();
    let ingest = |path: &str, store: &str| ingest_into(dir.path(), store, path, "google_ads");
    let (code, from_english) = ingest(&export("google_ads_campaign_report.csv"), "english");
    assert_eq!((code, from_english["stored"].as_u64()), (0, Some(168)), "{from_english}");
    let (code, v) = ingest(file.to_str().unwrap(), "german");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["column_map_source"], "detected");
    let map = &v["column_map"];
    assert_eq!((map["date"].as_str(), map["date_format"].as_str()), (Some("Tag"), Some("%d.%m.%Y")), "{map}");
    assert_eq!((map["campaign_id"].as_str(), map["campaign_name"].as_str()), (Some("Kampagnen-ID"), Some("Kampagne")));
    assert_eq!((map["spend"].as_str(), map["revenue"].as_str()), (Some("Kosten"), Some("Conv.-Wert")));
    assert_eq!((map["impressions"].as_str(), map["clicks"].as_str()), (Some("Impr."), Some("Klicks")));
    for key in ["records", "quality_score"] {
        assert_eq!(v["batches"][0][key], from_english["batches"][0][key], "{key}");
    }
    let lines = |v: &serde_json::Value| -> Vec<(u64, String)> {
        v["batches"][0]["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["line"].as_u64().unwrap(), r["column"].as_str().unwrap().to_string()))
            .collect()
    };
    assert_eq!(lines(&v), [(172, "Kosten".to_string()), (173, "Tag".to_string())]);
    assert_eq!(lines(&from_english), [(172, "Cost".to_string()), (173, "Day".to_string())]);
    let (code, again) = ingest(file.to_str().unwrap(), "english");
    assert_eq!(code, 0, "{again}");
    assert_eq!((again["stored"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(168)), "{again}");
}

/// The Google Ads report as its "Excel .xlsx" download (written by openpyxl from the CSV fixture:
/// `tests/fixtures/exports/make_xlsx.py`; days as date cells, amounts as number cells): the
/// same records as the CSV (unchanged in the CSV's store), the same rows rejected at the same
/// lines (the sheet's rows). A damaged workbook is refused naming the file, and nothing is stored.
#[test]
fn ingest_an_excel_workbook_export() {
    let dir = tempfile::tempdir().unwrap();
    let ingest = |path: &str, store: &str| ingest_into(dir.path(), store, path, "google_ads");
    let (code, from_csv) = ingest(&export("google_ads_campaign_report.csv"), "store");
    assert_eq!((code, from_csv["stored"].as_u64()), (0, Some(168)), "{from_csv}");
    let (code, v) = ingest(&export("google_ads_campaign_report.xlsx"), "fresh");
    assert_eq!(code, 0, "{v}");
    let again = ingest(&export("google_ads_campaign_report.xlsx"), "store");
    assert_read_as_its_twin(
        &from_csv,
        &v,
        &["records", "confounders", "treatments", "quality_score", "rejected"],
        Some(again),
    );
    let bytes = std::fs::read(export("google_ads_campaign_report.xlsx")).unwrap();
    let damaged = dir.path().join("report.xlsx");
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    let (code, v) = ingest(damaged.to_str().unwrap(), "damaged");
    assert_eq!(code, 2, "{v}");
    assert!(v["message"].as_str().unwrap().contains("not a readable workbook"), "{v}");
    let (code, v) = ingest(&export("google_ads_campaign_report.csv"), "damaged");
    assert_eq!((code, v["stored"].as_u64()), (0, Some(168)), "nothing was stored from the damaged workbook: {v}");
}

/// File connections without a column map (in a connections file written by hand: the list under
/// `connections`, `Google Ads` and `Meta`, a kind left out): each is recognised from its export's header, as
/// `liftos ingest` does (the same records as with the map written out); an export whose header
/// names nothing known is refused naming the connection's column_map. A KPI on days the
/// platforms have no records for: no plan, and the note says which days each series covers.
#[test]
fn pipeline_connections_without_column_maps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let conns = dir.path().join("connections.json");
    let fixture = |name: &str| {
        let at = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(export(name));
        at.canonicalize().unwrap().to_str().unwrap().to_string()
    };
    // the list under `connections`, the platforms and kinds as people write them, a file
    // connection known by its path
    let list = serde_json::json!({"connections": [
        {"id": "gads", "kind": "File", "platform": "Google Ads", "path": fixture("google_ads_campaign_report.csv")},
        {"id": "meta", "platform": "Meta", "path": fixture("meta_ads_manager_export.csv")},
    ]});
    std::fs::write(&conns, list.to_string()).unwrap();
    let kpi = dir.path().join("kpi.csv");
    // the main job on a KPI file, and its note on why there is no budget plan
    let without_plan = |text: String| {
        std::fs::write(&kpi, text).unwrap();
        let out = dir.path().join("out");
        let args = ["--kpi", kpi.to_str().unwrap(), "--data-dir", d.to_str().unwrap(), "--out", out.to_str().unwrap()];
        let (code, v) = liftos(&[&["pipeline", "--connections", conns.to_str().unwrap()][..], &args[..]].concat());
        assert_eq!(code, 0, "{v}");
        assert!(v["budget_recommendation"].is_null());
        let notes = v["notes"].as_array().unwrap().iter().filter_map(|n| n.as_str());
        let note = notes.clone().find(|n| n.contains("no budget plan")).map(str::to_string);
        (v.clone(), note.unwrap_or_else(|| panic!("{}", v["notes"])))
    };
    // as a spreadsheet saves it: US dates, a capitalised header, amounts with separators
    let days: String = (1..=28).map(|d| format!("02/{d:02}/2025,\"1,{}\"\n", 100 + d)).collect();
    let (v, note) = without_plan(format!("Date,Orders\n{days}"));
    assert_eq!(v["ingestion"]["records_by_platform"], serde_json::json!({"google_ads": 168, "meta": 112}), "{v}");
    assert!(
        note.contains("the KPI: 28 days, 2025-02-01 to 2025-02-28")
            && note.contains("google_ads no days")
            && note.contains("missing, not zero spend"),
        "{note}"
    );
    // a KPI by week is counted in weeks
    let first = chrono::NaiveDate::from_ymd_opt(2025, 1, 22).unwrap();
    let weeks: String = (0..8)
        .map(|w| format!("{},\"1,{}\"\n", (first + chrono::Duration::weeks(w)).format("%m/%d/%Y"), 100 + w))
        .collect();
    let (_, note) = without_plan(format!("Week,Orders\n{weeks}"));
    assert!(note.contains("the KPI: 8 weeks, ") && note.contains("a week with such a day"), "{note}");

    let odd = dir.path().join("odd.csv");
    std::fs::write(&odd, "when,what\n2026-01-01,3\n").unwrap();
    let list = serde_json::json!([{"id": "x", "kind": "file", "platform": "meta", "path": "odd.csv"}]);
    std::fs::write(&conns, list.to_string()).unwrap();
    let (code, v) = liftos(&["pipeline", "--connections", conns.to_str().unwrap(), "--data-dir", d.to_str().unwrap()]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--connections[0].column_map")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("when, what"), "{v}");
    let list = serde_json::json!([{"id": "x", "kind": "file", "platform": "Bing Ads", "path": "odd.csv"}]);
    std::fs::write(&conns, list.to_string()).unwrap();
    let (code, v) = liftos(&["pipeline", "--connections", conns.to_str().unwrap(), "--data-dir", d.to_str().unwrap()]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--connections[0].platform")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("read as other"), "{v}");
}

/// The main job on a user's own exports: three file connections and the shop's own revenue.
#[test]
fn pipeline_on_your_own_connections() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let out = dir.path().join("out");
    let conns = export("connections.json");
    let kpi = export("shop_revenue.csv");
    let args = |with_kpi: bool| {
        let mut a = vec![
            "pipeline".to_string(),
            "--connections".into(),
            conns.clone(),
            "--data-dir".into(),
            d.to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ];
        if with_kpi {
            a.extend(["--kpi".to_string(), kpi.clone()]);
        }
        a
    };
    let run = |a: Vec<String>| liftos(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, v) = run(args(true));
    assert_eq!(code, 0, "{v}");
    let ing = &v["ingestion"];
    assert_eq!(ing["stored"], 168 + 112 + 56, "{ing}");
    let batches = ing["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 3);
    let rejected: usize = batches.iter().map(|b| b["rejected"].as_array().unwrap().len()).sum();
    assert_eq!(rejected, 3);
    assert_eq!(v["stored_by_platform"]["linkedin"]["records"], 56);
    // The analysis of the detected treatment: Generic Search's budget rise.
    let a = &v["analysis"];
    assert_eq!(a["treatment"]["treated_units"], serde_json::json!(["20123456782"]), "{a}");
    assert_eq!(a["estimates"][0][0], "did");
    assert!(out.join("report.html").exists() && out.join("summary.json").exists());
    // The budget plan on the shop's revenue, one channel per platform.
    let channels = v["budget_recommendation"]["model"]["channels"].as_array().unwrap();
    let names: Vec<&str> = channels.iter().map(|c| c["channel"].as_str().unwrap()).collect();
    assert_eq!(names, ["google_ads", "linkedin", "meta"]);
    assert_eq!(v["budget_recommendation"]["kpi"], "shop_revenue");
    assert!(v.get("notes").is_none(), "{}", v["notes"]);
    // its report: no currency is claimed, since these file connections name none
    assert!(v["budget_recommendation"].get("currency").is_none());
    let plan = std::fs::read_to_string(out.join("plan.html")).unwrap();
    assert!(plan.contains("<h1>Budget plan: shop_revenue</h1>") && plan.contains("<h2>In words</h2>"));
    assert!(!plan.contains("USD") && plan.contains("<svg"));

    // Again, without the KPI: the records are unchanged, and the stored KPI still serves.
    let (code, again) = run(args(false));
    assert_eq!(code, 0, "{again}");
    assert_eq!((again["ingestion"]["stored"].as_u64(), again["ingestion"]["unchanged"].as_u64()), (Some(0), Some(336)));
    assert!(again["budget_recommendation"].is_object());

    // A fresh org without a KPI: no plan, and the summary says why.
    let (code, v) = liftos(&[
        "pipeline",
        "--connections",
        &conns,
        "--data-dir",
        d.to_str().unwrap(),
        "--org",
        "other",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{v}");
    assert!(v["budget_recommendation"].is_null());
    assert!(v["notes"][0].as_str().unwrap().contains("no first-party KPI"), "{}", v["notes"]);
    assert!(!out.join("plan.html").exists(), "the other org's plan is not left as this run's");

    // A file connection without its path, a KPI file without a date.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"id": "x", "kind": "file", "platform": "meta", "column_map": {"date": "Day", "campaign_id": "Campaign", "spend": "Cost"}}]"#).unwrap();
    let (code, v) = liftos(&["pipeline", "--connections", bad.to_str().unwrap(), "--data-dir", d.to_str().unwrap()]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--connections[0].path")), "{v}");
    let kpi_run = |kpi: &str, extra: &[&str]| {
        let file = dir.path().join("kpi.csv");
        std::fs::write(&file, kpi).unwrap();
        let mut a = vec!["pipeline", "--connections", &conns, "--kpi", file.to_str().unwrap()];
        a.extend(["--data-dir", d.to_str().unwrap()]);
        a.extend(extra);
        liftos(&a)
    };
    let (code, v) = kpi_run("when,orders\n2026-10-01,3\n", &[]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--kpi")), "{v}");
    // A shop's export of several figures a day: --kpi-column names the one, or is refused
    // naming the columns the file has.
    let shop = "Day,Orders,Net sales\n2026-10-01,3,$120.00\n";
    let (code, v) = kpi_run(shop, &[]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--kpi")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("--kpi-column"), "{v}");
    let (code, v) = kpi_run(shop, &["--kpi-column", "Revenue"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--kpi-column")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("(it has: Orders, Net sales)"), "{v}");

    // A period past what one sync may cover names --start.
    let (code, v) = liftos(&[
        "pipeline",
        "--connections",
        &conns,
        "--start",
        "2026-01-01",
        "--end",
        "2026-06-30",
        "--data-dir",
        d.to_str().unwrap(),
    ]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--start")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("at most 93 days"), "{v}");
}

/// `--quiet`: the summary on stdout, nothing below a warning on stderr (and no progress bar,
/// which is drawn only on a terminal anyway).
#[test]
fn quiet_keeps_stderr_for_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let file = export("linkedin_campaign_performance.csv");
    let run = |quiet: bool| {
        let mut args = vec!["ingest", file.as_str(), "--platform", "linkedin", "--data-dir", d];
        if quiet {
            args.push("--quiet");
        }
        Command::new(env!("CARGO_BIN_EXE_liftos"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let loud = run(false);
    assert!(String::from_utf8_lossy(&loud.stderr).contains("INFO"));
    let quiet = run(true);
    assert_eq!(quiet.status.code(), Some(0));
    let err = String::from_utf8_lossy(&quiet.stderr);
    assert!(!err.contains("INFO"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&quiet.stdout).unwrap();
    assert_eq!(v["unchanged"], 56);
}

/// Overlapping exports in one run (downloads whose weeks overlap, in a folder or in two
/// connections): the later one's figures are stored over the earlier's, each campaign's day is
/// one record, and reading back finds every record the run stored (`record_read_back` compared
/// the store's 168 records with the run's 336 writes and said false).
#[test]
fn overlapping_exports_are_read_back_as_one_record_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("downloads");
    std::fs::create_dir(&folder).unwrap();
    let fixture = std::fs::read(export("google_ads_campaign_report.csv")).unwrap();
    std::fs::write(folder.join("week1.csv"), &fixture).unwrap();
    // the later download with a row more that cannot be read: its quality, which its records
    // carry, is its own, so its records are written over the earlier's
    let mut later = fixture.clone();
    later.extend_from_slice(b"2026-11-27,Brand Search,20123456781,Enabled,USD,n/a,1,1,0,0\n");
    std::fs::write(folder.join("week2.csv"), &later).unwrap();
    let conns = dir.path().join("connections.json");
    std::fs::write(
        &conns,
        r#"[{"id": "gads", "kind": "file", "platform": "google_ads", "path": "downloads"},
        {"id": "gads-again", "kind": "file", "platform": "google_ads", "path": "downloads/week2.csv"}]"#,
    )
    .unwrap();
    let (d, out) = (dir.path().join("store"), dir.path().join("out"));
    let (code, v) = liftos(&[
        "pipeline",
        "--connections",
        conns.to_str().unwrap(),
        "--data-dir",
        d.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ingestion"]["batches"].as_array().unwrap().len(), 3, "{}", v["ingestion"]);
    assert_eq!(v["stored_by_platform"]["google_ads"]["records"], 168, "{v}");
    assert!(v["ingestion"]["stored"].as_u64().unwrap() > 168, "{}", v["ingestion"]);
    assert_eq!(v["record_read_back"], true, "{}", v["ingestion"]);
}

/// The knowledge engine on the sample org: build (twice: the second writes nothing), search with
/// causal paths whose edges carry their numbers and grades, a question with no evidence, a
/// neighbourhood, the concept map, and the errors naming the flag.
#[test]
fn kse_build_search_graph_and_map() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = dir.path().join("out");
    // Before any data or build: search says to build first.
    let (code, v) = liftos(&["kse", "search", "what drives revenue?", "--data-dir", d]);
    assert_eq!(code, 2, "{v}");
    assert!(v["message"].as_str().unwrap().contains("build it first"), "{v}");
    let (code, v) = liftos(&["pipeline", "--data-dir", d, "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{v}");

    let (code, b) = liftos(&["kse", "build", "--data-dir", d]);
    assert_eq!(code, 0, "{b}");
    assert_eq!(b["written"], true);
    assert!(b["nodes"].as_u64().unwrap() > 20 && b["edges"].as_u64().unwrap() > 10, "{b}");
    assert!(b["evidence"]["estimated_effect"].as_u64().unwrap() >= 2, "{b}");
    let (_, again) = liftos(&["kse", "build", "--data-dir", d]);
    assert_eq!((again["written"].as_bool(), &again["version"]), (Some(false), &b["version"]));

    let (code, s) = liftos(&["kse", "search", "Did the Meta budget increase drive revenue?", "--data-dir", d]);
    assert_eq!(code, 0, "{s}");
    assert_eq!((s["intent"].as_str(), s["answer"].as_str()), (Some("effect"), Some("evidence")), "{s}");
    let top = &s["results"][0];
    assert_eq!(top["nodes"][0].as_str().unwrap().split(':').take(2).collect::<Vec<_>>(), ["meta", "budget_increase"]);
    for e in top["path"].as_array().unwrap() {
        for k in ["from", "to", "method", "grade"] {
            assert!(e[k].is_string(), "{k}: {e}");
        }
    }
    let e = &top["path"][0];
    let (est, lo, hi) =
        (e["estimate"].as_f64().unwrap(), e["ci_low"].as_f64().unwrap(), e["ci_high"].as_f64().unwrap());
    assert!(lo <= est && est <= hi, "{e}");

    let (code, none) = liftos(&["kse", "search", "did the LinkedIn budget cut hurt sign-ups?", "--data-dir", d]);
    assert_eq!(code, 0);
    assert_eq!(none["answer"], "no_evidence", "{none}");
    assert!(none["results"].as_array().unwrap().is_empty());

    let (code, g) = liftos(&["kse", "graph", "--node", "meta:conversions", "--depth", "1", "--data-dir", d]);
    assert_eq!(code, 0, "{g}");
    assert!(g["edges"].as_array().unwrap().iter().all(|e| !e["evidence"].as_array().unwrap().is_empty()));
    let (code, g) = liftos(&["kse", "graph", "--node", "meta:nonsense", "--data-dir", d]);
    assert_eq!((code, g["error"].as_str()), (2, Some("not_found")), "{g}");
    // Another org sees nothing of this one's graph.
    let (code, g) = liftos(&["kse", "graph", "--node", "meta:conversions", "--data-dir", d, "--org", "other"]);
    assert_eq!(code, 2, "{g}");

    // Channels by carry-over, campaigns by context.
    let (code, sim) = liftos(&["kse", "similar", "--node", "meta", "--profile", "effect", "--data-dir", d]);
    assert_eq!(code, 0, "{sim}");
    let n = sim["neighbours"].as_array().unwrap();
    assert!(!n.is_empty() && n.iter().all(|x| x["kind"] == "channel"), "{sim}");
    assert!(n.windows(2).all(|w| w[0]["distance"].as_f64() <= w[1]["distance"].as_f64()));
    let (code, sim) = liftos(&["kse", "similar", "--node", "meta", "--profile", "context", "--data-dir", d]);
    assert_eq!((code, sim["field"].as_str()), (2, Some("--profile")), "{sim}");
    let (code, sim) = liftos(&["kse", "similar", "--node", "meta", "--profile", "semantic", "--data-dir", d]);
    assert_eq!((code, sim["field"].as_str()), (2, Some("--profile")), "{sim}");

    let (code, m) = liftos(&["kse", "map", "Facebook carry-over and diminishing returns hurt our sales"]);
    assert_eq!(code, 0, "{m}");
    let ids: Vec<&str> = m["concepts"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["meta", "adstock", "saturation", "effect_on_treated", "revenue"], "{m}");

    let (code, v) = liftos(&["kse", "search", "what drives revenue?", "--limit", "0", "--data-dir", d]);
    assert_eq!((code, v["field"].as_str()), (2, Some("--limit")), "{v}");
    let (code, v) = liftos(&["kse", "search", "   ", "--data-dir", d]);
    assert_eq!((code, v["field"].as_str()), (2, Some("query")), "{v}");
}

/// `liftos estimate` on a Parquet file or an Excel workbook gives the answer of the same panel as
/// CSV (the promo panel of the analyze-advanced sample: `tests/fixtures/promo.parquet` and
/// `promo.xlsx` hold its rows).
#[test]
fn estimate_on_parquet_is_the_csv_answer() {
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("../../events/analyze-advanced.ok.json").unwrap()).unwrap();
    let body: serde_json::Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let mut csv = String::from("unit,week,sales,d\n");
    for r in body["rows"].as_array().unwrap() {
        csv.push_str(&format!("{},{},{},{}\n", r["unit"].as_str().unwrap(), r["week"], r["sales"], r["d"]));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("promo.csv");
    std::fs::write(&path, csv).unwrap();
    let args = "estimate did --unit unit --time week --outcome sales --treatment d --event-study";
    let (code, from_csv) = run(&format!("{args} --input {}", path.display()));
    assert_eq!(code, 0, "{from_csv}");
    let (code, from_parquet) = run(&format!("{args} --input ../../tests/fixtures/promo.parquet"));
    assert_eq!(code, 0, "{from_parquet}");
    assert_eq!(from_parquet, from_csv);
    // and as an Excel workbook (written by openpyxl: tests/fixtures/exports/make_xlsx.py)
    let (code, from_xlsx) = run(&format!("{args} --input ../../tests/fixtures/promo.xlsx"));
    assert_eq!(code, 0, "{from_xlsx}");
    assert_eq!(from_xlsx, from_csv);
    // and with the treatment written as pandas, R or Excel write a flag (True/FALSE)
    let flags: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| match (i, l.rsplit_once(',')) {
            (0, _) | (_, None) => format!("{l}\n"),
            (_, Some((head, d))) => format!("{head},{}\n", if d == "1" { "True" } else { "FALSE" }),
        })
        .collect();
    assert!(flags.contains(",True\n") && flags.contains(",FALSE\n"));
    let flags_path = dir.path().join("promo_flags.csv");
    std::fs::write(&flags_path, flags).unwrap();
    let (code, from_flags) = run(&format!("{args} --input {}", flags_path.display()));
    assert_eq!(code, 0, "{from_flags}");
    assert_eq!(from_flags, from_csv);
    // so does `liftos report` on the sample's request (DiD, synthetic control, SDID)
    let mut request = body.clone();
    request.as_object_mut().unwrap().remove("rows");
    let request_path = dir.path().join("request.json");
    std::fs::write(&request_path, request.to_string()).unwrap();
    let report = |input: &str| {
        let out = dir.path().join("report.html");
        let (code, v) = liftos(&[
            "report",
            "--request",
            request_path.to_str().unwrap(),
            "--input",
            input,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{v}");
        v["results"].clone()
    };
    assert_eq!(report("../../tests/fixtures/promo.xlsx"), report(path.to_str().unwrap()));
    // a column the file does not have is named
    let (code, v) = run("estimate did --unit unit --time week --outcome revenue --treatment d --input ../../tests/fixtures/promo.parquet");
    assert_eq!((code, v["field"].as_str()), (2, Some("revenue")), "{v}");
}

/// `liftos mmm` on the reference series as a spreadsheet set to German saves it (semicolons,
/// decimal commas, days as `01.01.2024`) gives the ISO file's answer; so does a lift-test file
/// with US dates.
#[test]
fn mmm_reads_the_dates_and_numbers_of_a_german_spreadsheet() {
    let iso = std::fs::read_to_string("../../tests/reference/data/mmm_daily.csv").unwrap();
    let german: String = iso
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let fields: Vec<String> = l
                .split(',')
                .enumerate()
                .map(|(c, f)| match (i, c) {
                    (0, _) => f.to_string(),
                    (_, 0) => format!("{}.{}.{}", &f[8..10], &f[5..7], &f[..4]),
                    _ => f.replace('.', ","),
                })
                .collect();
            format!("{}\n", fields.join(";"))
        })
        .collect();
    assert!(german.starts_with("date;kpi;") && german.contains("\n01.01.2024;12954,2;"), "{}", &german[..200]);
    let lifts = std::fs::read_to_string("../../tests/reference/data/mmm_lifts.csv").unwrap();
    let us = |d: &str| format!("{}/{}/{}", &d[5..7], &d[8..10], &d[..4]);
    // channel,start,end,...: the start and end as 06/01/2025
    let lifts_us: String = lifts
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
            if i > 0 {
                f[1] = us(&f[1]);
                f[2] = us(&f[2]);
            }
            format!("{}\n", f.join(","))
        })
        .collect();
    assert!(lifts.starts_with("channel,start,end,") && lifts_us.contains("video,06/01/2025,06/14/2025,"));
    let dir = tempfile::tempdir().unwrap();
    let (de, lu) = (dir.path().join("Umsatz.csv"), dir.path().join("lifts_us.csv"));
    std::fs::write(&de, german).unwrap();
    std::fs::write(&lu, lifts_us).unwrap();
    let args = "mmm --date date --kpi kpi --spend search,social,video,affiliates,display --controls promo --draws 20 --folds 0 --quiet";
    let (code, from_iso) = run(&format!(
        "{args} --input ../../tests/reference/data/mmm_daily.csv --lift-tests ../../tests/reference/data/mmm_lifts.csv"
    ));
    assert_eq!(code, 0, "{from_iso}");
    let (code, from_german) = run(&format!("{args} --input {} --lift-tests {}", de.display(), lu.display()));
    assert_eq!(code, 0, "{from_german}");
    assert_eq!(from_german, from_iso);
}

/// `liftos mmm --history-start`: the carry-over at the history's first period is the user's
/// when given (and said in `fit.history_start` and the report), a value the model does not know is
/// an error naming the flag.
#[test]
fn mmm_history_start_is_given_or_chosen() {
    let args = "mmm --input ../../tests/reference/data/mmm_daily.csv --date date --kpi kpi \
                --spend search,social,video,affiliates,display --controls promo --draws 20 --folds 0 --quiet";
    let (code, auto) = run(args);
    assert_eq!(code, 0, "{auto}");
    let chosen = auto["fit"]["history_start"].as_str().unwrap().to_string();
    assert!(chosen == "running" || chosen == "launch", "{chosen}");
    for start in ["running", "launch"] {
        let (code, v) = run(&format!("{args} --history-start {start}"));
        assert_eq!((code, v["fit"]["history_start"].as_str()), (0, Some(start)), "{v}");
        if start == chosen {
            assert_eq!(v, auto, "auto chose {chosen}: the same answer as asking for it");
        } else {
            assert_ne!(v["channels"], auto["channels"], "the start changes the carry-over's fit");
        }
    }
    let (code, v) = run(&format!("{args} --history-start sometimes"));
    assert_eq!((code, v["field"].as_str()), (2, Some("history_start")), "{v}");
    assert!(v["message"].as_str().unwrap_or_default().contains("auto, running or launch"), "{v}");
}

/// `liftos mmm --report` on `csv` (the reference series' columns, re-dated) with `flags`: the
/// answer, after checking that the report holds each of `words` and says nothing "a day".
fn mmm_report(csv: String, flags: &str, words: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let (input, html) = (dir.path().join("kpi.csv"), dir.path().join("plan.html"));
    std::fs::write(&input, csv).unwrap();
    let (code, v) = run(&format!(
        "mmm --date date --kpi kpi {flags} --draws 20 --quiet --input {} --report {}",
        input.display(),
        html.display()
    ));
    assert_eq!(code, 0, "{v}");
    let page = std::fs::read_to_string(&html).unwrap();
    for w in words {
        assert!(page.contains(w), "{w}");
    }
    assert!(!page.contains("a day") && !page.contains(" days"), "{page}");
    v
}

/// `liftos mmm --report` on weekly data (the reference series summed by week, dated as a US
/// spreadsheet writes it) speaks of weeks: spend a week, the weeks fitted, the folds' length, the
/// week-to-week variation; nothing "a day".
#[test]
fn mmm_report_on_weekly_data_speaks_of_weeks() {
    let daily = std::fs::read_to_string("../../tests/reference/data/mmm_daily.csv").unwrap();
    let mut lines = daily.lines();
    let header = lines.next().unwrap().to_string();
    let rows: Vec<Vec<f64>> =
        lines.map(|l| l.split(',').skip(1).map(|f| f.parse::<f64>().unwrap()).collect()).collect();
    let weekly = |format: &str| {
        let mut csv = format!("{header}\n");
        for (w, week) in rows.chunks_exact(7).enumerate() {
            let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::weeks(w as i64);
            let sums: Vec<String> = (0..week[0].len())
                .map(|c| {
                    let s: f64 = week.iter().map(|r| r[c]).sum();
                    format!("{s:.2}")
                })
                .collect();
            csv.push_str(&format!("{},{}\n", day.format(format), sums.join(",")));
        }
        csv
    };
    let flags = "--spend search,social,video,affiliates,display --controls promo --folds 2";
    let words = [
        "<th>spend a week today</th>",
        "<th>weeks fitted</th><td>104 of 104</td>",
        "week-to-week variation of kpi over the 104 weeks",
        "folds of ",
        "per extra unit of spend a week",
    ];
    let v = mmm_report(weekly("%m/%d/%Y"), flags, &words);
    assert_eq!(v["fit"]["periods"], 104, "{v}");
    // the weeks written as ISO weeks (2024-W01: 2024-01-01 is its Monday): the same answer
    let w = mmm_report(weekly("%G-W%V"), flags, &words);
    assert!(weekly("%G-W%V").contains("\n2024-W01,"));
    for key in ["fit", "channels", "planned_spend", "expected_gain"] {
        assert_eq!(w[key], v[key], "{key}");
    }
}

/// `liftos estimate impact --season 7` on a daily series as a report exports it: newest first, one
/// day missing and one day's sales left empty. The missing days are periods without an outcome
/// (the weekly seasonal keeps its phase across them), the answer is the same as on the file in
/// date order, and the inference says what was left out; a control left empty on a day with
/// sales is refused naming the file's row.
#[test]
fn impact_on_a_daily_export_with_missing_days() {
    let first = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let mut rows = Vec::new();
    for t in 0..112i64 {
        let (x1, x2) = (50.0 + (t as f64 * 0.7).sin() * 5.0, 30.0 + (t as f64 * 0.3).cos() * 3.0);
        let week = [3.0, 1.0, 0.0, -1.0, -2.0, 0.5, -1.5][t as usize % 7];
        let y =
            10.0 + 1.5 * x1 + 0.5 * x2 + week + if t >= 84 { 12.0 } else { 0.0 } + ((t * 37 % 11) as f64 - 5.0) * 0.4;
        let day = (first + chrono::Duration::days(t)).format("%Y-%m-%d");
        match t {
            40 => continue,
            95 => rows.push(format!("{day},,{x1:.4},{x2:.4}")),
            _ => rows.push(format!("{day},{y:.4},{x1:.4},{x2:.4}")),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, rows: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("Date,Sales,x1,x2\n{}\n", rows.join("\n"))).unwrap();
        path.display().to_string()
    };
    let ascending = write("ascending.csv", &rows);
    let newest_first: Vec<String> = rows.iter().rev().cloned().collect();
    let descending = write("descending.csv", &newest_first);
    let args =
        "estimate impact --time Date --outcome Sales --controls x1,x2 --treatment-time 2026-08-24 --season 7 --quiet";
    let (code, a) = run(&format!("{args} --input {ascending}"));
    assert_eq!(code, 0, "{a}");
    let (code, d) = run(&format!("{args} --input {descending}"));
    assert_eq!(code, 0, "{d}");
    assert_eq!(a, d);
    assert_eq!(
        (a["pre_periods"].as_i64(), a["post_periods"].as_i64(), a["n_obs"].as_i64()),
        (Some(83), Some(27), Some(110)),
        "{a}"
    );
    assert!(a["inference"].as_str().unwrap().contains("2 periods without an outcome"), "{a}");
    let (lo, hi) = (a["ci_low"].as_f64().unwrap(), a["ci_high"].as_f64().unwrap());
    assert!(lo < 12.0 && 12.0 < hi, "{a}");
    // the days present keep their dates, the missing ones are not in the series
    let days: Vec<i64> = a["series"].as_array().unwrap().iter().map(|p| p["time"].as_i64().unwrap()).collect();
    assert_eq!(days.len(), 110);
    assert!(!days.contains(&41) && !days.contains(&96) && days.contains(&42), "{days:?}");
    // a control left empty on a day with sales: the file's row is named (row 3, newest first)
    let mut broken = newest_first.clone();
    broken[2] = broken[2].rsplit_once(',').unwrap().0.to_string() + ",";
    let broken = write("broken.csv", &broken);
    let (code, v) = run(&format!("{args} --input {broken}"));
    assert_eq!((code, v["field"].as_str()), (2, Some("controls")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("x2 row 3 is missing"), "{v}");
    // the same series as Google Analytics 4 downloads it: `#` lines above the header, the days
    // written 20260601 and sorted by the first figure; the same answer. Its totals row is
    // named as one.
    let ga4_rows: Vec<String> = rows.iter().map(|r| r.replacen('-', "", 2)).rev().collect::<Vec<_>>();
    let head =
        "# ----------------------------------------\n# Free form 1\n# Property: Acme\n#\n# Start date: 20260601\n";
    let ga4 = dir.path().join("ga4.csv");
    std::fs::write(&ga4, format!("{head}Date,Sales,x1,x2\n{}\n", ga4_rows.join("\n"))).unwrap();
    let (code, g) = run(&format!("{args} --input {}", ga4.display()));
    assert_eq!(code, 0, "{g}");
    assert_eq!(g, a);
    let (code, g) = run(&format!("{} --input {}", args.replace("2026-08-24", "20260824"), ga4.display()));
    assert_eq!((code, &g), (0, &a));
    std::fs::write(&ga4, format!("{head}Date,Sales,x1,x2\n{}\nGrand total,1,2,3\n", ga4_rows.join("\n"))).unwrap();
    let (code, v) = run(&format!("{args} --input {}", ga4.display()));
    assert_eq!((code, v["field"].as_str()), (2, Some("Date")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("\"Grand total\" is a totals row"), "{v}");
}

/// A covariate of categories (a customer table's `Region`: North, South, ...) in `estimate effect`,
/// `estimate iv --controls` and Callaway-Sant'Anna's `--covariates` is coded as an indicator per region but the first, as a
/// formula's C(Region): the same answer, to the bit, as the table with those indicators written
/// out (`Region=South`, ...); a region left empty is named with its row.
#[test]
fn categorical_covariates_are_coded_as_indicators() {
    let regions = ["North", "South", "East", "West"];
    let mut state = 11u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f64 / 10_000.0
    };
    let (mut text, mut coded) = (
        "id,Region,Age,Saw Ad,z,Revenue\n".to_string(),
        "id,Age,Region=North,Region=South,Region=West,Saw Ad,z,Revenue\n".to_string(),
    );
    for i in 0..600 {
        let r = (next() * 4.0) as usize;
        let age = 20.0 + 40.0 * next();
        let z = next();
        let shift = [0.5, -0.3, 0.2, -0.4][r];
        let d = u8::from(next() < 0.3 + 0.3 * z + 0.2 * shift);
        let y = 10.0 + 0.1 * age + 3.0 * shift + 2.0 * f64::from(d) + next() - 0.5;
        text.push_str(&format!("c{i},{},{age:.1},{d},{z:.4},{y:.3}\n", regions[r]));
        // East is the first in sorted order: the reference
        let ind = |k: usize| u8::from(r == k);
        coded.push_str(&format!("c{i},{age:.1},{},{},{},{d},{z:.4},{y:.3}\n", ind(0), ind(1), ind(3)));
    }
    let dir = tempfile::tempdir().unwrap();
    let (t, c) = (dir.path().join("customers.csv"), dir.path().join("coded.csv"));
    std::fs::write(&t, &text).unwrap();
    std::fs::write(&c, &coded).unwrap();
    // `command`'s arguments split on `|`, with `{input}` and `{columns}` filled in
    let fill = |command: &str, input: &std::path::Path, columns: &str| {
        run_split(&command.replace("{input}", &input.display().to_string()).replace("{columns}", columns))
    };
    // `command` on the words and on the indicators written out: both succeed with the same
    // answer, which is returned
    let same = |command: &str, words: (&std::path::Path, &str), written: (&std::path::Path, &str)| {
        let answer = |(input, columns): (&std::path::Path, &str)| {
            let (code, v) = fill(command, input, columns);
            assert_eq!(code, 0, "{command} on {}: {v}", input.display());
            v
        };
        let (a, b) = (answer(words), answer(written));
        assert_eq!(a, b, "{command}");
        a
    };
    let effect = "estimate|effect|--input|{input}|--outcome|Revenue|--treatment|Saw Ad|--covariates|{columns}";
    let a = same(effect, (&t, "Age,Region"), (&c, "Age,Region=North,Region=South,Region=West"));
    let (lo, hi) = (a["ci_low"].as_f64().unwrap(), a["ci_high"].as_f64().unwrap());
    assert!(lo < 2.0 && 2.0 < hi, "{a}");
    same(
        "estimate|iv|--input|{input}|--outcome|Revenue|--endogenous|Saw Ad|--instruments|z|--controls|{columns}",
        (&t, "Region,Age"),
        (&c, "Region=North,Region=South,Region=West,Age"),
    );
    // Callaway-Sant'Anna's covariates (mpdta with each county's region as words): the same as
    // with the indicators written out
    let mpdta = std::fs::read_to_string(MPDTA).unwrap();
    let (mut words, mut written) = (String::new(), String::new());
    for (i, line) in mpdta.lines().enumerate() {
        if i == 0 {
            words.push_str(&format!("{line},region\n"));
            written.push_str(&format!("{line},region=West\n"));
            continue;
        }
        let county: usize = line.split(',').nth(1).unwrap().parse().unwrap();
        let r = (county / 2) % 2;
        words.push_str(&format!("{line},{}\n", ["East", "West"][r]));
        written.push_str(&format!("{line},{r}\n"));
    }
    let (w, x) = (dir.path().join("mpdta_words.csv"), dir.path().join("mpdta_written.csv"));
    std::fs::write(&w, words).unwrap();
    std::fs::write(&x, written).unwrap();
    same(
        "estimate|did|--input|{input}|--unit|countyreal|--time|year|--outcome|lemp|--cohort|first.treat|--method|dr|--covariates|{columns}",
        (&w, "lpop,region"),
        (&x, "lpop,region=West"),
    );
    // a region left empty: its row is left out as an empty number's is (before 2026-12-05 the
    // file was refused), the answer the file's without that row, the row named in the warning
    let holed = dir.path().join("holed.csv");
    std::fs::write(&holed, text.replacen(",North,", ",,", 1)).unwrap();
    let (code, mut v) = fill(effect, &holed, "Age,Region");
    assert_eq!(code, 0, "{v}");
    let line = text.lines().position(|l| l.contains(",North,")).unwrap();
    let without: Vec<&str> = text.lines().enumerate().filter(|(i, _)| *i != line).map(|(_, l)| l).collect();
    let rest = dir.path().join("without.csv");
    std::fs::write(&rest, without.join("\n")).unwrap();
    let (code, mut w) = fill(effect, &rest, "Age,Region");
    assert_eq!(code, 0, "{w}");
    let none = w.as_object_mut().unwrap().remove("warnings");
    assert!(none.as_ref().is_none_or(|n| n.as_array().is_some_and(Vec::is_empty)), "{none:?}");
    let warnings = v.as_object_mut().unwrap().remove("warnings").unwrap();
    assert!(warnings[0].as_str().unwrap().contains(&format!("left out of the fit (row {line})")), "{warnings}");
    assert_eq!(v, w);
}

/// `liftos mmm` on monthly data (the reference series summed by calendar month, each dated by its
/// first day, as a monthly KPI sheet is): periods are months, and the report speaks of months.
#[test]
fn mmm_on_monthly_data() {
    let daily = std::fs::read_to_string("../../tests/reference/data/mmm_daily.csv").unwrap();
    let mut lines = daily.lines();
    let header = lines.next().unwrap().to_string();
    let mut months: Vec<(String, Vec<f64>)> = Vec::new();
    for l in lines {
        let mut f = l.split(',');
        let month = format!("{}-01", &f.next().unwrap()[..7]);
        let v: Vec<f64> = f.map(|x| x.parse::<f64>().unwrap()).collect();
        match months.last_mut() {
            Some((m, sums)) if *m == month => sums.iter_mut().zip(&v).for_each(|(s, x)| *s += x),
            _ => months.push((month, v)),
        }
    }
    let monthly = |format: &str| {
        let mut csv = format!("{header}\n");
        for (m, sums) in &months {
            let day = chrono::NaiveDate::parse_from_str(m, "%Y-%m-%d").unwrap();
            let sums: Vec<String> = sums.iter().map(|s| format!("{s:.2}")).collect();
            csv.push_str(&format!("{},{}\n", day.format(format), sums.join(",")));
        }
        csv
    };
    let words =
        ["<th>spend a month today</th>", "<th>months fitted</th><td>24 of 24</td>", "month-to-month variation of kpi"];
    let v = mmm_report(monthly("%Y-%m-%d"), "--spend search,social --folds 0", &words);
    assert_eq!((v["fit"]["periods"].as_u64(), months.len()), (Some(24), 24), "{v}");
    // the months written without a day, as a monthly sheet may: the same answer
    for format in ["%Y-%m", "%b %Y"] {
        let w = mmm_report(monthly(format), "--spend search,social --folds 0", &words);
        for key in ["fit", "channels", "planned_spend", "expected_gain"] {
            assert_eq!(w[key], v[key], "{format}: {key}");
        }
    }
}

/// `liftos explain --kind budget` on the media mix model's answer (as `liftos mmm` prints it):
/// the endpoint's keys, at the model's level; another level and a stray --input name the flag.
#[test]
fn explain_budget_of_the_media_mix_model() {
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/cli/mmm_daily.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, golden["output"].to_string().as_bytes()).unwrap();
    let path = f.path().to_str().unwrap();
    let (code, x) =
        liftos(&["explain", "--kind", "budget", "--request", path, "--audience", "analyst", "--outcome", "orders"]);
    assert_eq!(code, 0, "{x}");
    assert_eq!(x["grounding"]["passed"], true, "{x}");
    assert_eq!(x["evidence_grade"], "C");
    assert!(x["explanation"]["headline"].as_str().unwrap().contains("orders"), "{x}");
    assert!(x["facts"].as_array().unwrap().iter().any(|f| f["id"] == "mmm.gain" && f["display"].is_string()));
    assert!(x["explanation"]["sentences"][0]["fact_ids"].as_array().unwrap().iter().any(|i| i == "mmm.gain"));
    let (code, e) = liftos(&["explain", "--kind", "budget", "--request", path, "--level", "0.95"]);
    assert_eq!((code, e["field"].as_str()), (2, Some("confidence_level")), "{e}");
    let (code, e) = liftos(&["explain", "--kind", "budget", "--request", path, "--input", path]);
    assert_eq!((code, e["field"].as_str()), (2, Some("input")), "{e}");
    let (code, e) = liftos(&["explain", "--request", path]);
    assert_eq!((code, e["field"].as_str()), (2, Some("input")), "{e}");
}

/// `liftos` with stderr on a pseudo-terminal (120 columns) and stdout piped: its exit code, its
/// stdout, and everything it wrote to the terminal.
fn on_a_terminal(args: &[&str]) -> (i32, String, String) {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use std::io::Read;
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal =
        rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty()).unwrap();
    let size = rustix::termios::Winsize { ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(&terminal, size).unwrap();
    // The command holds the terminal's only other end: reading sees its end when the child exits.
    let child = Command::new(env!("CARGO_BIN_EXE_liftos"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(terminal))
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(master);
    let reader = std::thread::spawn(move || {
        let (mut seen, mut buf) = (Vec::new(), vec![0u8; 1 << 16]);
        // A pseudo-terminal's reader gets EIO once no writer is left.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    });
    let out = child.wait_with_output().unwrap();
    let seen = reader.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&seen).into_owned(),
    )
}

/// Progress on a terminal (issue 20): the main job on the sample data, with stderr on a
/// pseudo-terminal, draws its four stages as a bar (how many are done, which one runs) and the
/// media mix model's re-fits inside the budget plan as a second bar with its time left, and writes
/// its log lines above them (the short stage of reading the records back may pass between two of
/// the bars' frames, at most 20 a second, so it is not required on the screen). With `--quiet` on the same terminal, or with stderr piped, no bar is
/// drawn. The summary on stdout is the same JSON either way.
#[test]
fn progress_bars_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let (code, stdout, terminal) = on_a_terminal(&["pipeline", "--data-dir", d, "--out", out]);
    assert_eq!(code, 0, "{terminal}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["ingestion"]["stored"], 462, "{v}");
    for shown in [
        "[0/4] ingesting the sample exports",
        "[2/4] budget plan: the media mix model",
        "[3/4] analysis: the estimates",
        // the inner bar: the media mix model's 200 re-fits, with the time left
        "/200 (",
        "INFO",
    ] {
        assert!(terminal.contains(shown), "{shown:?} not on the terminal:\n{terminal}");
    }
    let (code, stdout, terminal) = on_a_terminal(&["pipeline", "--data-dir", d, "--out", out, "--quiet"]);
    assert_eq!(code, 0, "{terminal}");
    let again: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(again["ingestion"]["unchanged"], 462, "{again}");
    assert!(!terminal.contains("/4]") && !terminal.contains(" left)") && !terminal.contains("INFO"), "{terminal}");
    let piped = Command::new(env!("CARGO_BIN_EXE_liftos"))
        .args(["pipeline", "--data-dir", d, "--out", out])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&piped.stderr);
    assert_eq!(piped.status.code(), Some(0), "{err}");
    assert!(err.contains("INFO") && !err.contains("/4]") && !err.contains(" left)"), "{err}");
}

/// A panel whose time column holds dates, and the same panel with the dates numbered by hand
/// (day 1 = the first date): 12 markets over 63 days (a gap on day 20: no market reports it),
/// markets 0-2 treated from day 43 (2026-10-13), a series of one market with two controls.
fn dated_and_numbered(dir: &std::path::Path, weekly: bool) -> (String, String) {
    use std::fmt::Write;
    let (step, start) = if weekly { (7, 9) } else { (1, 43) };
    let first = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    let date = |t: i64| (first + chrono::Duration::days((t - 1) * step)).format("%m/%d/%Y").to_string();
    let (mut dated, mut numbered) =
        ("date,market,sales,treated,first\n".to_string(), "period,market,sales,treated,first\n".to_string());
    let mut state = 7u64;
    for m in 0..12i64 {
        for t in (1..=if weekly { 15 } else { 63 }).filter(|&t| t != 20) {
            // a fixed pseudo-random noise (xorshift), the same in both files
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 1000) as f64 / 250.0 - 2.0;
            let treated = m < 3 && t >= start;
            let y = 100.0 + 5.0 * m as f64 + 0.3 * t as f64 + if treated { 8.0 } else { 0.0 } + noise;
            let (cohort_date, cohort) =
                if m < 3 { (date(start), start.to_string()) } else { (String::new(), "0".into()) };
            writeln!(dated, "{},m{m},{y:.3},{},{cohort_date}", date(t), u8::from(treated)).unwrap();
            writeln!(numbered, "{t},m{m},{y:.3},{},{cohort}", u8::from(treated)).unwrap();
        }
    }
    let tag = if weekly { "weekly" } else { "daily" };
    let (a, b) = (dir.join(format!("{tag}-dated.csv")), dir.join(format!("{tag}-numbered.csv")));
    std::fs::write(&a, dated).unwrap();
    std::fs::write(&b, numbered).unwrap();
    (a.to_str().unwrap().to_string(), b.to_str().unwrap().to_string())
}

/// Markets named as DMAs are ("New York, NY"): the comma-separated flags (`--treated-markets`,
/// `--exclude-markets`, `--treated-unit`) take them as written, without quotes, and give the
/// answer of the same panel with plain names; a market not in the panel is named without the
/// note on how dates are numbered (it has nothing to do with them).
#[test]
fn market_names_with_commas_in_comma_separated_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (dated, _) = dated_and_numbered(dir.path(), false);
    let plain = std::fs::read_to_string(&dated).unwrap();
    let dma = plain
        .replace(",m0,", ",\"New York, NY\",")
        .replace(",m1,", ",\"Los Angeles, CA\",")
        .replace(",m5,", ",\"Chicago, IL\",");
    let dma_path = dir.path().join("dma.csv");
    std::fs::write(&dma_path, dma).unwrap();
    let dma_path = dma_path.to_str().unwrap();
    // the command line as a shell passes it: a quoted flag value is one argument
    let with = |line: &str, input: &str, extra: &[&str]| {
        let mut args: Vec<&str> = line.split_whitespace().collect();
        args.extend(["--input", input]);
        args.extend(extra);
        liftos(&args)
    };
    let base = "estimate geo-readout --market market --time date --outcome sales --start 2026-10-13 --duration 14";
    let (code, a) = with(base, &dated, &["--treated-markets", "m0,m1", "--exclude-markets", "m5"]);
    assert_eq!(code, 0, "{a}");
    let (code, b) = with(
        base,
        dma_path,
        &["--treated-markets", "New York, NY,Los Angeles, CA", "--exclude-markets", "Chicago, IL"],
    );
    assert_eq!(code, 0, "{b}");
    let names = |v: &serde_json::Value| {
        v.to_string().replace("New York, NY", "m0").replace("Los Angeles, CA", "m1").replace("Chicago, IL", "m5")
    };
    assert_eq!(names(&a), names(&b));
    assert!(b.to_string().contains("New York, NY"), "{b}");
    let synth = "estimate synth --unit market --time date --outcome sales --treatment-time 2026-10-13";
    let (code, a) = with(synth, &dated, &["--treated-unit", "m0"]);
    assert_eq!(code, 0, "{a}");
    let (code, b) = with(synth, dma_path, &["--treated-unit", "New York, NY"]);
    assert_eq!(code, 0, "{b}");
    // the donors come in another order (Chicago, IL sorts first), which moves the predictor
    // weights V within their ties; the unit weights and the estimate stay
    assert_eq!(b["treated_units"], serde_json::json!(["New York, NY"]), "{b}");
    assert_eq!(
        (a["estimate"].as_f64(), &a["weights"]["m1"]),
        (b["estimate"].as_f64(), &b["weights"]["Los Angeles, CA"])
    );
    let (code, v) = with(base, dma_path, &["--treated-markets", "Boston, MA"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("treated_markets")), "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("\"Boston\" is not a market") && !message.contains("numbered as periods"), "{v}");
}

#[test]
fn panels_with_dates_as_their_time_column() {
    let dir = tempfile::tempdir().unwrap();
    let (dated, numbered) = dated_and_numbered(dir.path(), false);
    // Each command on the dated panel (its time flags as dates) and on the numbered one (as
    // periods): the same answer, and the dated one says which date each period is.
    let runs: &[(&str, &str)] = &[
        ("did --unit market --outcome sales --treatment treated --event-study", ""),
        ("did --unit market --outcome sales --cohort first", ""),
        ("sdid --unit market --outcome sales --treatment treated --replications 50", ""),
        (
            "synth --unit market --outcome sales --treated-unit m0 --placebo \
             --treatment-time 43 --placebo-time 30 --predictors outcome:1-42 --fit-window 10-42",
            "synth --unit market --outcome sales --treated-unit m0 --placebo \
             --treatment-time 10/13/2026 --placebo-time 2026-09-30 --predictors outcome:2026-09-01..2026-10-12 \
             --fit-window 09/10/2026-10/12/2026",
        ),
        (
            "geo-readout --market market --outcome sales --treated-markets m0,m1 --start 43 --duration 14",
            "geo-readout --market market --outcome sales --treated-markets m0,m1 --start 2026-10-13 --duration 14",
        ),
    ];
    for (by_number, by_date) in runs {
        let by_date = if by_date.is_empty() { by_number } else { by_date };
        let (code, n) = run(&format!("estimate {by_number} --input {numbered} --time period"));
        assert_eq!(code, 0, "{by_number}: {n}");
        let (code, mut d) = run(&format!("estimate {by_date} --input {dated} --time date"));
        assert_eq!(code, 0, "{by_date}: {d}");
        let axis = d.as_object_mut().unwrap().remove("time_axis").unwrap();
        assert_eq!(n, d, "{by_number}");
        assert_eq!((axis["step"].as_str(), axis["periods"].as_i64()), (Some("day"), Some(63)), "{axis}");
        assert_eq!((axis["first"].as_str(), axis["last"].as_str()), (Some("2026-09-01"), Some("2026-11-02")));
        // period 43 is the 43rd date, the day with no report included
        assert_eq!(axis["dates"][42], "2026-10-13");
    }
    // Weekly dates: periods are weeks, the cohort a week.
    let (dated, numbered) = dated_and_numbered(dir.path(), true);
    let cs = "estimate did --unit market --outcome sales --cohort first";
    let (_, n) = run(&format!("{cs} --input {numbered} --time period"));
    let (code, mut d) = run(&format!("{cs} --input {dated} --time date"));
    assert_eq!(code, 0, "{d}");
    let axis = d.as_object_mut().unwrap().remove("time_axis").unwrap();
    assert_eq!((n, axis["step"].as_str(), axis["dates"][8].as_str()), (d, Some("week"), Some("2026-10-27")));
    // Errors name the flag: a number where the column holds dates, a date off the axis, a
    // date where the column holds numbers, a cohort of numbers beside dates.
    let synth = "estimate synth --unit market --outcome sales --treated-unit m0";
    for (line, field, says) in [
        (
            format!("{synth} --input {dated} --time date --treatment-time 9"),
            "treatment_time",
            "holds dates, so give one",
        ),
        (
            format!("{synth} --input {dated} --time date --treatment-time 2026-10-28"),
            "treatment_time",
            "2026-10-28 is not one of the periods of \"date\", which run from 2026-09-01 in steps of a week",
        ),
        (
            format!("{synth} --input {numbered} --time period --treatment-time 2026-10-27"),
            "treatment_time",
            "not a whole-number period",
        ),
    ] {
        let (code, v) = run(&line);
        assert_eq!((code, v["field"].as_str()), (2, Some(field)), "{line}: {v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{line}: {v}");
    }
    // A time series by date (CausalImpact's design): the same as by period.
    let (mut dated, mut numbered) = ("day,y,x1,x2\n".to_string(), "t,y,x1,x2\n".to_string());
    let first = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    for t in 1..=90i64 {
        let (x1, x2) = (50.0 + (t as f64 * 0.7).sin() * 5.0, 30.0 + (t as f64 * 0.3).cos() * 3.0);
        let y = 10.0 + 1.5 * x1 + 0.5 * x2 + if t > 70 { 12.0 } else { 0.0 } + ((t * 37 % 11) as f64 - 5.0) * 0.4;
        let day = (first + chrono::Duration::days(t - 1)).format("%Y-%m-%d");
        dated.push_str(&format!("{day},{y:.4},{x1:.4},{x2:.4}\n"));
        numbered.push_str(&format!("{t},{y:.4},{x1:.4},{x2:.4}\n"));
    }
    let (ds, ns) = (dir.path().join("series-dated.csv"), dir.path().join("series.csv"));
    std::fs::write(&ds, dated).unwrap();
    std::fs::write(&ns, numbered).unwrap();
    let (code, n) = run(&format!(
        "estimate impact --input {} --time t --outcome y --controls x1,x2 --treatment-time 71",
        ns.display()
    ));
    assert_eq!(code, 0, "{n}");
    let (code, mut d) = run(&format!(
        "estimate impact --input {} --time day --outcome y --controls x1,x2 --treatment-time 2026-05-10",
        ds.display()
    ));
    assert_eq!(code, 0, "{d}");
    let axis = d.as_object_mut().unwrap().remove("time_axis").unwrap();
    assert_eq!((n, axis["dates"][70].as_str()), (d, Some("2026-05-10")));
    let mixed = dir.path().join("mixed.csv");
    std::fs::write(
        &mixed,
        "date,market,sales,first\n2026-09-01,a,1,0\n2026-09-02,a,2,0\n2026-09-01,b,1,2\n2026-09-02,b,3,2\n",
    )
    .unwrap();
    let (code, v) = run(&format!(
        "estimate did --input {} --unit market --time date --outcome sales --cohort first",
        mixed.display()
    ));
    assert_eq!((code, v["field"].as_str()), (2, Some("first")), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("row 3: 2 is a number, but the time column \"date\" holds dates"),
        "{v}"
    );
}

/// A geo panel of 12 markets (one named as a DMA is, "New York, NY") over `weeks` weeks, dated
/// (`2025-01-06` on) or numbered from 1, with a 10% lift in `lifted` from week `lift_from` on: a
/// shared seasonal path, each market's size and a fixed pseudo-random noise (the same in both).
fn geo_weeks(weeks: i64, lifted: &[&str], lift_from: i64, dated: bool) -> String {
    use std::fmt::Write;
    let name = |m: i64| if m == 0 { "New York, NY".to_string() } else { format!("m{m}") };
    let first = chrono::NaiveDate::from_ymd_opt(2025, 1, 6).unwrap();
    let mut text = "Week,DMA,Revenue\n".to_string();
    let mut state = 11u64;
    for m in 0..12i64 {
        let size = 1000.0 + 150.0 * m as f64;
        for t in 1..=weeks {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = ((state % 10_000) as f64 / 10_000.0 - 0.5) * 0.04;
            let season = 1.0 + 0.1 * (t as f64 / 6.0).sin();
            let lift = if lifted.contains(&name(m).as_str()) && t >= lift_from { 1.1 } else { 1.0 };
            let y = size * season * (1.0 + noise) * lift;
            let when = if dated { (first + chrono::Duration::weeks(t - 1)).to_string() } else { t.to_string() };
            writeln!(text, "{when},\"{}\",\"${y:.2}\"", name(m)).unwrap();
        }
    }
    text
}

/// `liftos design geo` on a weekly history with dates picks the test markets and duration (the
/// answer of the same panel numbered from 1, with the dates' axis); run with a 10% lift in the
/// recommended markets, `liftos estimate geo-readout` with the candidate's placebo_rmse and
/// evaluation_windows reads it back within its interval. Bad flags name themselves.
#[test]
fn design_a_geo_test_then_read_it_out() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let dated = write("history.csv", geo_weeks(52, &[], 0, true));
    let numbered = write("numbered.csv", geo_weeks(52, &[], 0, false));
    let design = |input: &str, extra: &[&str]| {
        let mut args =
            vec!["design", "geo", "--input", input, "--market", "DMA", "--time", "Week", "--outcome", "Revenue"];
        args.extend(extra);
        liftos(&args)
    };
    let flags = ["--durations", "4,6", "--max-markets", "2", "--top", "3", "--effect", "0.1"];
    let (code, a) = design(&dated, &flags);
    assert_eq!(code, 0, "{a}");
    let (code, b) = design(&numbered, &flags);
    assert_eq!(code, 0, "{b}");
    assert_eq!(a["geo"], b["geo"], "dates are numbered as the periods they are");
    assert_eq!((a["time_axis"]["step"].as_str(), a["time_axis"]["periods"].as_u64()), (Some("week"), Some(52)), "{a}");
    let geo = &a["geo"];
    assert_eq!(geo["candidates_evaluated"].as_u64(), Some(2 * (12 + 66)), "{geo}");
    let by_duration = geo["by_duration"].as_array().unwrap();
    assert_eq!(by_duration.len(), 2);
    for (list, d) in by_duration.iter().zip([4, 6]) {
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 3);
        // ranked by the noise on the windows that chose them
        let sel: Vec<f64> = list.iter().map(|c| c["selection_rmse"].as_f64().unwrap()).collect();
        assert!(sel.windows(2).all(|w| w[0] <= w[1]), "{sel:?}");
        for c in list {
            assert_eq!(c["duration"].as_u64(), Some(d));
            let (mde, rmse) = (c["mde"].as_f64().unwrap(), c["placebo_rmse"].as_f64().unwrap());
            assert!(mde > 0.0 && mde.is_finite() && rmse > 0.0, "{c}");
            let power = c["power"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&power), "{c}");
        }
    }
    let best = &geo["recommended"];
    let markets: Vec<&str> = best["markets"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    let duration = best["duration"].as_u64().unwrap();
    // the test: a 10% lift in those markets from week 53 on, read out on the weeks after
    let full = write("with-test.csv", geo_weeks(52 + duration as i64, &markets, 53, true));
    let start = (chrono::NaiveDate::from_ymd_opt(2025, 1, 6).unwrap() + chrono::Duration::weeks(52)).to_string();
    let (rmse, windows) = (best["placebo_rmse"].to_string(), best["evaluation_windows"].to_string());
    let duration = duration.to_string();
    let treated = markets.join(",");
    let (code, r) = liftos(&[
        "estimate",
        "geo-readout",
        "--input",
        &full,
        "--market",
        "DMA",
        "--time",
        "Week",
        "--outcome",
        "Revenue",
        "--treated-markets",
        &treated,
        "--start",
        &start,
        "--duration",
        &duration,
        "--design-rmse",
        &rmse,
        "--design-windows",
        &windows,
    ]);
    assert_eq!(code, 0, "{r}");
    let (lift, lo, hi) = (r["lift"].as_f64().unwrap(), r["ci_low"].as_f64().unwrap(), r["ci_high"].as_f64().unwrap());
    assert!(lo < 0.1 && 0.1 < hi, "the 10% lift within [{lo}, {hi}]: {r}");
    assert!((lift - 0.1).abs() < 0.05, "{r}");
    // the readout in words: the lift over the test's weeks, at the readout's own 90%
    let saved = write("readout.json", r.to_string());
    let (code, x) = liftos(&["explain", "--kind", "readout", "--request", &saved, "--outcome", "revenue"]);
    assert_eq!(code, 0, "{x}");
    assert_eq!(x["confidence_level"], 0.9, "{x}");
    assert_eq!(x["grounding"]["passed"], true, "{x}");
    let head = x["explanation"]["headline"].as_str().unwrap();
    assert!(head.contains(&format!("{duration} weeks")), "{head}");
    for m in &markets {
        assert!(head.contains(m), "{head}");
    }
    let effect = x["facts"].as_array().unwrap().iter().find(|f| f["id"] == "readout.effect").unwrap().clone();
    assert!(head.contains(effect["display"].as_str().unwrap().trim_start_matches('-')), "{head}");
    let (code, v) = liftos(&["explain", "--kind", "readout", "--request", &saved, "--input", &full]);
    assert_eq!((code, v["field"].as_str()), (2, Some("input")), "{v}");
    // errors name the flag
    for (extra, field) in [
        (vec!["--durations", "4,x"], "durations"),
        (vec!["--durations", "4,40"], "durations"),
        (vec!["--durations", "4", "--windows", "60"], "windows"),
        (vec!["--durations", "4", "--kind", "stop"], "kind"),
        (vec!["--durations", "4", "--include", "Boston"], "include"),
        (vec!["--durations", "4", "--max-markets", "11"], "max_markets"),
        (vec!["--durations", "4", "--alpha", "0.7"], "alpha"),
        (vec!["--durations", "4", "--max-markets", "12", "--windows", "52"], "max_markets"),
    ] {
        let (code, v) = design(&dated, &extra);
        assert_eq!((code, v["field"].as_str()), (2, Some(field)), "{extra:?}: {v}");
    }
    let (_, v) = design(&dated, &["--durations", "4,40"]);
    let says = v["message"].as_str().unwrap();
    assert!(says.contains("needs 54 periods") && says.contains("at most 38 periods"), "{v}");
    // a market missing a week is named with the week's date
    let gap: String = std::fs::read_to_string(&dated)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("2025-03-10,\"m3\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let gap = write("gap.csv", gap);
    let (code, v) = design(&gap, &["--durations", "4"]);
    assert_eq!(code, 2, "{v}");
    assert!(v["message"].as_str().unwrap().contains("m3 has no value for period 10 (2025-03-10)"), "{v}");
    // a market named with a comma, given as written
    let (code, v) =
        design(&dated, &["--durations", "4", "--include", "New York, NY", "--max-markets", "2", "--top", "1"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["geo"]["recommended"]["markets"][0], "New York, NY", "{v}");
}

/// `liftos explain --kind design` on what `liftos design geo|power` printed: the plan in words,
/// at the design's own level, every number the design's, weeks counted as weeks; another level,
/// or data given, is refused naming the flag.
#[test]
fn explain_a_design_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let history = path("history.csv");
    std::fs::write(&history, geo_weeks(52, &[], 0, true)).unwrap();
    let (code, design) = liftos(&[
        "design",
        "geo",
        "--input",
        &history,
        "--market",
        "DMA",
        "--time",
        "Week",
        "--outcome",
        "Revenue",
        "--durations",
        "4,6",
        "--max-markets",
        "2",
        "--top",
        "2",
    ]);
    assert_eq!(code, 0, "{design}");
    let saved = path("design.json");
    std::fs::write(&saved, design.to_string()).unwrap();
    let (code, x) = liftos(&["explain", "--kind", "design", "--request", &saved, "--outcome", "revenue"]);
    assert_eq!(code, 0, "{x}");
    assert_eq!(x["confidence_level"], 0.9, "the geo design's alpha of 0.1: {x}");
    assert_eq!(x["evidence_grade"], "D");
    assert_eq!(x["grounding"]["passed"], true, "{x}");
    let sentences: Vec<&str> =
        x["explanation"]["sentences"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap()).collect();
    assert!((3..=5).contains(&sentences.len()), "{sentences:#?}");
    let rec = &design["geo"]["recommended"];
    for m in rec["markets"].as_array().unwrap() {
        assert!(sentences[0].contains(m.as_str().unwrap()), "{sentences:#?}");
    }
    let weeks = format!("for {} weeks", rec["duration"]);
    assert!(sentences[0].contains(&weeks), "{weeks}: {sentences:#?}");
    let at = sentences.iter().any(|s| s.contains("90% interval excludes zero"));
    assert!(at, "{sentences:#?}");
    let stated = x["facts"].as_array().unwrap().iter().find(|f| f["id"] == "geo.mde").unwrap()["display"].clone();
    assert!(sentences[1].contains(stated.as_str().unwrap()), "{stated}: {sentences:#?}");
    // the analyst reads every duration's best and the noise on the windows that did not choose it
    let (code, a) =
        liftos(&["explain", "--kind", "design", "--request", &saved, "--audience", "analyst", "--outcome", "revenue"]);
    assert_eq!(code, 0, "{a}");
    let all = a["explanation"]["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(all.contains("The best design of each length detects a lift of") && all.contains("in 4 weeks"), "{all}");
    assert!(all.contains("past windows where nothing happened"), "{all}");
    // a power analysis alone, at its own 95%
    let (code, power) = run("design power --sd 12 --effect 1.5 --power 0.8");
    assert_eq!(code, 0, "{power}");
    let saved_power = path("power.json");
    std::fs::write(&saved_power, power.to_string()).unwrap();
    let (code, p) = liftos(&["explain", "--kind", "design", "--request", &saved_power]);
    assert_eq!(code, 0, "{p}");
    assert_eq!(p["confidence_level"], 0.95);
    let head = p["explanation"]["headline"].as_str().unwrap();
    assert!(head.contains("the test needs 1,006 treated and 1,006 control units (2,012 in all)"), "{head}");
    // refusals name the flag
    for (args, field) in [
        (vec!["explain", "--kind", "design", "--request", &saved, "--level", "0.95"], "confidence_level"),
        (vec!["explain", "--kind", "design", "--request", &saved, "--input", &history], "input"),
        (vec!["explain", "--kind", "design", "--request", &history], "request"),
        (vec!["explain", "--kind", "design", "--request", &saved, "--audience", "board"], "audience"),
        (vec!["explain", "--kind", "desing", "--request", &saved], "kind"),
        (vec!["explain", "--kind", "desing", "--request", &saved, "--input", &history], "kind"),
    ] {
        let (code, v) = liftos(&args);
        assert_eq!((code, v["field"].as_str()), (2, Some(field)), "{args:?}: {v}");
    }
}

/// `liftos design power` solves the missing one of sample size, effect and power, as the design
/// endpoint's `power` section (the figures are statsmodels 0.15.0's `NormalIndPower` with
/// `proportion_effectsize`, and `TTestIndPower`, on the same inputs).
#[test]
fn design_power_solves_the_missing_one() {
    let (code, v) = run("design power --baseline 0.03 --effect 0.003 --power 0.8");
    assert_eq!(code, 0, "{v}");
    let p = &v["power"];
    assert_eq!(p["solved_for"], "n_control");
    assert!((p["n_control"].as_f64().unwrap() - 53181.78971737066).abs() < 1e-3, "{v}");
    assert_eq!(p["n_control_ceil"].as_u64(), Some(53182));
    // rates as a person writes them: the same answer
    assert_eq!(run("design power --baseline 3% --effect 0.003 --power 80% --alpha 5%"), (code, v.clone()));
    let out = Command::new(env!("CARGO_BIN_EXE_liftos"))
        .args(["design", "power", "--baseline", "3%%", "--effect", "0.003", "--power", "0.8"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("--baseline") && stderr.contains("is not a percentage"), "{stderr}");
    // the effect alone: the sample for 80% power, the same answer, saying the power it used
    assert_eq!(run("design power --baseline 0.03 --effect 0.003"), (code, v.clone()));
    let (code, v) = run("design power --sd 40 --n-control 5000 --power 0.8 --alternative larger");
    assert_eq!(code, 0, "{v}");
    // statsmodels' root finder stops at its tolerance: 1.9892873590968652
    assert!((v["power"]["effect"].as_f64().unwrap() - 1.9892873590968652).abs() < 1e-3, "{v}");
    // the sample alone: its minimum detectable effect at 80% power
    assert_eq!(run("design power --sd 40 --n-control 5000 --alternative larger"), (code, v.clone()));
    let (code, v) = run("design power --sd 40 --n-control 5000 --effect 2 --cluster-size 20 --icc 0.05");
    assert_eq!(code, 0, "{v}");
    assert!((v["power"]["design_effect"].as_f64().unwrap() - 1.95).abs() < 1e-12, "{v}");
    for (line, field) in [
        ("design power --sd 40 --power 0.9", "n_control"),
        ("design power --sd 40 --n-control 5000 --effect 2 --power 0.8", "n_control"),
        ("design power --n-control 10 --power 0.8", "sd"),
        ("design power --baseline 1.3 --n-control 10 --power 0.8", "baseline"),
        ("design power --sd 0 --n-control 10 --power 0.8", "sd"),
        ("design power --sd 5 --n-control 100 --effect 1 --cluster-size 20 --icc 2", "icc"),
        ("design power --sd 5 --n-control 100 --effect 1 --alternative up", "alternative"),
    ] {
        let (code, v) = run(line);
        assert_eq!((code, v["field"].as_str()), (2, Some(field)), "{line}: {v}");
    }
}

/// `liftos design randomize` assigns the stores of a file to arms as the design endpoint's
/// `randomization` section does: stratified by region when a stratum is named (each region split
/// evenly), the same assignment for the same seed, the balance of the covariates, and the
/// assignment written as CSV with --out; errors name the flag or column (and the row).
#[test]
fn design_randomize_the_stores_of_a_file() {
    use std::fmt::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut csv = "Store,Region,Sq Ft,Weekly Sales\n".to_string();
    for i in 0..40 {
        let region = ["North", "South", "East", "West"][i % 4];
        writeln!(
            csv,
            "\"Store #{i}, {region}\",{region},{},\"${},{:03}.00\"",
            8000 + 250 * (i % 9),
            10 + i % 7,
            i * 37 % 1000
        )
        .unwrap();
    }
    let input = dir.path().join("stores.csv");
    std::fs::write(&input, csv).unwrap();
    let input = input.to_str().unwrap();
    let out = dir.path().join("out/assignment.csv");
    let out = out.to_str().unwrap();
    let args = |extra: &[&str]| {
        let mut a: Vec<String> =
            ["design", "randomize", "--input", input, "--id", "Store"].iter().map(|s| s.to_string()).collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        liftos(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (code, v) = args(&["--stratum", "Region", "--covariates", "Sq Ft,Weekly Sales", "--seed", "7", "--out", out]);
    assert_eq!(code, 0, "{v}");
    let r = &v["randomization"];
    assert_eq!(r["method"], "stratified");
    assert_eq!((r["counts"]["control"].as_u64(), r["counts"]["treatment"].as_u64()), (Some(20), Some(20)), "{r}");
    for region in ["North", "South", "East", "West"] {
        assert_eq!(r["strata"][region]["control"].as_u64(), Some(5), "{r}");
    }
    let assignments = r["assignments"].as_array().unwrap();
    assert_eq!(assignments.len(), 40);
    assert_eq!(assignments[0][0], "Store #0, North");
    assert_eq!(r["balance"].as_array().unwrap().len(), 4, "two covariates by two arms: {r}");
    let smd = r["max_abs_smd"].as_f64().unwrap();
    assert_eq!(r["balanced"].as_bool(), Some(smd < 0.1));
    let written = std::fs::read_to_string(out).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 41);
    assert_eq!(lines[0], "Store,arm");
    assert_eq!(lines[1], format!("\"Store #0, North\",{}", assignments[0][1].as_str().unwrap()));
    // the same seed, the same assignment; another seed, another
    let (_, again) = args(&["--stratum", "Region", "--seed", "7"]);
    assert_eq!(again["randomization"]["assignments"], r["assignments"]);
    let (_, other) = args(&["--stratum", "Region", "--seed", "8"]);
    assert_ne!(other["randomization"]["assignments"], r["assignments"]);
    // three arms 1:1:2, complete
    let (code, v) = args(&["--arms", "a:1,b:1,c:2", "--seed", "1"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["randomization"]["method"], "complete");
    assert_eq!(v["randomization"]["counts"], serde_json::json!({"a": 10, "b": 10, "c": 20}));
    for (extra, field) in [
        (vec!["--seed", "1", "--method", "stratified"], "stratum"),
        (vec!["--seed", "1", "--arms", "control"], "arms"),
        (vec!["--seed", "1", "--arms", "control:x,treatment"], "arms"),
        (vec!["--seed", "1", "--method", "blocked"], "block_size"),
        (vec!["--seed", "1", "--method", "paired"], "method"),
        (vec!["--seed", "1", "--covariates", "Region"], "Region"),
        (vec!["--seed", "1", "--stratum", "Zone"], "Zone"),
    ] {
        let (code, v) = args(&extra);
        assert_eq!((code, v["field"].as_str()), (2, Some(field)), "{extra:?}: {v}");
    }
    // a store listed twice is named with its row
    let twice = dir.path().join("twice.csv");
    std::fs::write(&twice, "Store,Region\nA,North\nB,South\nA,East\n").unwrap();
    let (code, v) =
        liftos(&["design", "randomize", "--input", twice.to_str().unwrap(), "--id", "Store", "--seed", "1"]);
    assert_eq!((code, v["field"].as_str()), (2, Some("Store")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("row 3"), "{v}");
}

/// A quarterly panel written as BI tools write quarters (`2024-Q1`, `Q1 2024`) is numbered in
/// quarters: the same TWFE and Callaway-Sant'Anna answers as the panel numbered 1 to 12 (its
/// cohorts as quarters too), with `time_axis` stepping a quarter from the first quarter's first day.
#[test]
fn a_quarterly_panel_is_numbered_in_quarters() {
    use std::fmt::Write;
    let dir = tempfile::tempdir().unwrap();
    let quarter = |t: i64, style: u8| {
        let (y, q) = (2024 + (t - 1) / 4, (t - 1) % 4 + 1);
        if style == 0 {
            format!("{y}-Q{q}")
        } else {
            format!("Q{q} {y}")
        }
    };
    let mut files = Vec::new();
    for style in [0u8, 1, 2] {
        let mut csv = "quarter,state,sales,treated,first\n".to_string();
        let mut state = 5u64;
        for u in 0..16i64 {
            // cohorts: 2025-Q1 (period 5), 2025-Q3 (period 7), never
            let first = match u % 3 {
                0 => 5,
                1 => 7,
                _ => 0,
            };
            for t in 1..=12i64 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let noise = (state % 1000) as f64 / 500.0 - 1.0;
                let on = first > 0 && t >= first;
                let y = 50.0 + 2.0 * u as f64 + 0.5 * t as f64 + if on { 3.0 } else { 0.0 } + noise;
                let (when, cohort) = match style {
                    2 => (t.to_string(), first.to_string()),
                    s => (quarter(t, s), if first > 0 { quarter(first, s) } else { String::new() }),
                };
                writeln!(csv, "{when},s{u},{y:.4},{},{cohort}", u8::from(on)).unwrap();
            }
        }
        let path = dir.path().join(format!("q{style}.csv"));
        std::fs::write(&path, csv).unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    let run_on = |file: &str, extra: &[&str]| {
        let mut a =
            vec!["estimate", "did", "--input", file, "--unit", "state", "--time", "quarter", "--outcome", "sales"];
        a.extend(extra);
        liftos(&a)
    };
    for extra in [&["--treatment", "treated"][..], &["--cohort", "first"][..]] {
        let (code, numbered) = run_on(&files[2], extra);
        assert_eq!(code, 0, "{numbered}");
        for file in &files[..2] {
            let (code, v) = run_on(file, extra);
            assert_eq!(code, 0, "{extra:?} {file}: {v}");
            assert_eq!(v["estimate"], numbered["estimate"], "{extra:?} {file}");
            assert_eq!(v["std_error"], numbered["std_error"], "{extra:?} {file}");
            let axis = &v["time_axis"];
            assert_eq!((axis["step"].as_str(), axis["first"].as_str()), (Some("quarter"), Some("2024-01-01")), "{v}");
            assert_eq!(axis["periods"].as_u64(), Some(12));
        }
    }
}

/// `--max-smd` rerandomises until every covariate is balanced, and says how many draws it took;
/// a threshold no draw meets is refused naming it.
#[test]
fn design_randomize_rerandomises_for_balance() {
    use std::fmt::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut csv = "store,sales\n".to_string();
    for i in 0..30 {
        writeln!(csv, "s{i},{}", 100 + (i * 37) % 29).unwrap();
    }
    let input = dir.path().join("stores.csv");
    std::fs::write(&input, csv).unwrap();
    let base = format!("design randomize --input {} --id store --covariates sales --seed 4", input.display());
    let (code, v) = run(&format!("{base} --max-smd 0.03"));
    assert_eq!(code, 0, "{v}");
    let r = &v["randomization"];
    assert!(r["max_abs_smd"].as_f64().unwrap() < 0.03, "{r}");
    assert!(r["attempts"].as_u64().unwrap() >= 1, "{r}");
    let (code, v) = run(&format!("{base} --max-smd 0.000001 --max-attempts 20"));
    assert_eq!((code, v["field"].as_str()), (2, Some("max_smd")), "{v}");
    let (code, v) = run(&format!("{base} --max-smd 0.1 --max-attempts 20000"));
    assert_eq!((code, v["field"].as_str()), (2, Some("max_attempts")), "{v}");
}
