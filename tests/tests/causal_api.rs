//! The causal endpoints on inline rows give exactly what the estimators give on the same data,
//! and bad requests name the column or setting.

use liftos::config::AuthSettings;
use liftos::runtime::{handlers, Deps};
use liftos::service::causal::table_from_rows;
use liftos::service::estimate::{self, DiscoverRequest, EffectRequest};
use liftos_tests::events::{body_of, http_request, json_body, with_body};

fn deps(dir: &std::path::Path) -> Deps {
    liftos_tests::fixtures::embedded_deps(dir, AuthSettings::ApiGateway)
}

fn rows(b: &serde_json::Value) -> Vec<serde_json::Map<String, serde_json::Value>> {
    b["rows"].as_array().expect("rows").iter().map(|r| r.as_object().expect("row").clone()).collect()
}

#[tokio::test]
async fn endpoints_match_the_estimators() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    // Treatment effect (AIPW, ATE, refutations).
    let resp = handlers::treatment_effect_http(&d, http_request("treatment-effect.ok.json")).await;
    let mut got = json_body(&resp);
    // What was read comes beside the estimator's result.
    let data = got.as_object_mut().expect("object").remove("data").expect("data");
    assert_eq!((data["source"].as_str(), data["rows"].as_u64()), (Some("rows"), Some(600)));
    assert_eq!(resp.status(), 200, "{got}");
    let b = body_of("treatment-effect.ok.json");
    let req: EffectRequest = serde_json::from_value(b.clone()).expect("request");
    let want =
        serde_json::to_value(estimate::effect(table_from_rows(&rows(&b)).expect("table"), &req).expect("effect"))
            .expect("json");
    // The whole result, refutations (seeded) included.
    assert_eq!(got, want);
    assert!(!got["e_value"].is_null() && !got["overlap"].is_null(), "{got}");
    // Discovery (PC with tiers).
    let resp = handlers::causal_discover_http(&d, http_request("causal-discover.ok.json")).await;
    let mut got = json_body(&resp);
    got.as_object_mut().expect("object").remove("data").expect("data");
    assert_eq!(resp.status(), 200, "{got}");
    let b = body_of("causal-discover.ok.json");
    let req: DiscoverRequest = serde_json::from_value(b.clone()).expect("request");
    let want =
        serde_json::to_value(estimate::discover(&table_from_rows(&rows(&b)).expect("table"), &req).expect("discover"))
            .expect("json");
    assert_eq!(got, want);
    assert!(!got["edges"].as_array().expect("edges").is_empty());
    // Errors name the field.
    for (event, field) in
        [("causal-discover.bad-method.json", "method"), ("treatment-effect.missing-column.json", "x9")]
    {
        let resp = if event.starts_with("causal") {
            handlers::causal_discover_http(&d, http_request(event)).await
        } else {
            handlers::treatment_effect_http(&d, http_request(event)).await
        };
        let out = json_body(&resp);
        assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some(field)), "{out}");
    }
    // Rows of different shapes, nested values, none at all.
    for (rows, field) in
        [(r#"[{"a":1},{"b":2}]"#, "rows[1]"), (r#"[{"a":{"x":1}},{"a":2}]"#, "rows[0].a"), (r#"[]"#, "rows")]
    {
        let rows: serde_json::Value = serde_json::from_str(rows).expect("rows");
        let req = with_body("causal-discover.ok.json", serde_json::json!({ "rows": rows }));
        let resp = handlers::causal_discover_http(&d, req).await;
        let out = json_body(&resp);
        assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some(field)), "{out}");
    }
}

/// A method's settings without its `method` tag, as the estimate functions take them (a key a
/// method does not have is refused, the tag among them).
fn settings(method: &serde_json::Value) -> serde_json::Value {
    let mut m = method.clone();
    m.as_object_mut().expect("a method object").remove("method");
    m
}

/// Several methods on one question: each result is the estimator's own, with its checks, and
/// the comparison says whether they agree (DiD and synthetic control on a panel with a true
/// lift of 2).
#[tokio::test]
async fn analyze_advanced_runs_each_method_and_compares() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let resp = handlers::analyze_advanced_http(&d, http_request("analyze-advanced.ok.json")).await;
    let got = json_body(&resp);
    assert_eq!(resp.status(), 200, "{got}");
    let b = body_of("analyze-advanced.ok.json");
    let table = table_from_rows(&rows(&b)).expect("table");
    let did: estimate::DidRequest = serde_json::from_value(settings(&b["methods"][0])).expect("did");
    assert_eq!(
        got["results"][0]["result"],
        serde_json::to_value(estimate::did(&table, &did).expect("did")).expect("json")
    );
    let synth: estimate::SynthRequest = serde_json::from_value(settings(&b["methods"][1])).expect("synth");
    assert_eq!(
        got["results"][1]["result"],
        serde_json::to_value(estimate::synth_control(&table, &synth).expect("synth")).expect("json")
    );
    for r in got["results"].as_array().expect("results") {
        let e = r["result"]["estimate"].as_f64().expect("estimate");
        assert!((e - 2.0).abs() < 0.5, "{}: {e}", r["method"]);
        assert!(!r["assumptions"].as_array().expect("assumptions").is_empty());
    }
    let pre = &got["results"][0]["checks"][0];
    assert_eq!(pre["name"], "pre-trends");
    let p = pre["value"].as_f64().expect("the event study's pre-trend p-value");
    assert_eq!(pre["passed"], p >= 0.05);
    let fit = &got["results"][1]["checks"][0];
    assert_eq!(fit["name"], "pre-period fit");
    assert_eq!(fit["passed"], fit["value"].as_f64().expect("relative RMSPE") <= 0.05);
    let passed = got["results"]
        .as_array()
        .expect("results")
        .iter()
        .flat_map(|r| r["checks"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["passed"] == true)
        .count();
    assert_eq!(got["comparison"]["checks_passed"], passed);
    assert_eq!(got["comparison"]["signs_agree"], true);
    assert_eq!(got["comparison"]["methods"], 3);
    // Errors name the method and the field.
    let bad = handlers::analyze_advanced_http(&d, http_request("analyze-advanced.unknown-method.json")).await;
    assert_eq!((bad.status().as_u16(), json_body(&bad)["field"].as_str()), (400, Some("methods[0].method")));
    let mut body = b.clone();
    body["methods"][1]["outcome"] = serde_json::json!("revenue");
    let resp = handlers::analyze_advanced_http(&d, with_body("analyze-advanced.ok.json", body)).await;
    let out = json_body(&resp);
    assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some("methods[1].revenue")), "{out}");
}

/// The RDD through analyze/advanced with covariates and clusters (rdrobust's `covs` and
/// `cluster`): the answer is the estimator's own on the same rows, with `covariates` and
/// `clusters`; a covariate that is the running variable is a 400 naming it.
#[tokio::test]
async fn rdd_with_covariates_and_clusters_over_http() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let csv = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/data/rdd_covs.csv"),
    )
    .expect("csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let rows: Vec<serde_json::Value> = lines
        .take(2000)
        .map(|l| {
            let mut row = serde_json::Map::new();
            for (k, v) in header.iter().zip(l.split(',')) {
                let value = v.parse::<f64>().map(serde_json::Value::from).unwrap_or_else(|_| v.into());
                row.insert(k.to_string(), value);
            }
            serde_json::Value::Object(row)
        })
        .collect();
    let method = serde_json::json!({"method": "rdd", "outcome": "y", "running": "x", "cutoff": 0.0,
        "covariates": ["z1", "z2"], "cluster": "market"});
    let call = |method: serde_json::Value| {
        with_body("analyze-advanced.ok.json", serde_json::json!({"rows": rows, "methods": [method]}))
    };
    let resp = handlers::analyze_advanced_http(&d, call(method.clone())).await;
    let got = json_body(&resp);
    assert_eq!(resp.status(), 200, "{got}");
    let table =
        table_from_rows(&rows.iter().map(|r| r.as_object().expect("row").clone()).collect::<Vec<_>>()).expect("table");
    let req: estimate::RddRequest = serde_json::from_value(settings(&method)).expect("rdd");
    let want = estimate::rdd(&table, &req).expect("rdd");
    assert_eq!(got["results"][0]["result"], serde_json::to_value(&want).expect("json"));
    let result = &got["results"][0]["result"];
    assert_eq!(result["covariates"].as_array().map(Vec::len), Some(2), "{result}");
    assert_eq!(result["clusters"].as_u64(), Some(80));
    assert!(result["inference"].as_str().expect("inference").contains("cluster-robust (CR1)"));
    let mut bad = method.clone();
    bad["covariates"] = serde_json::json!(["z1", "x"]);
    let resp = handlers::analyze_advanced_http(&d, call(bad)).await;
    let out = json_body(&resp);
    assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some("methods[0].covariates")), "{out}");
    // A setting the method does not have is refused by name, never ignored: `treatment` on a
    // regression discontinuity (its take-up column is `fuzzy`) ran a sharp design before.
    for (key, value) in [("treatment", serde_json::json!("z1")), ("bandwidht", serde_json::json!(0.5))] {
        let mut bad = method.clone();
        bad[key] = value;
        let resp = handlers::analyze_advanced_http(&d, call(bad)).await;
        let out = json_body(&resp);
        let want = format!("methods[0].{key}");
        assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some(want.as_str())), "{out}");
        assert!(out["message"].as_str().expect("message").contains("`fuzzy`"), "{out}");
    }
}

/// analyze/advanced on rows whose time column holds dates (weeks): the same answer as on the
/// same rows numbered 1, 2, ... by hand, the synthetic control's treatment time given as a date,
/// `data.time_axis` listing each period's date, and the report's time axes labelled with dates.
/// A number where the column holds dates, and a date off its weeks, are 400s naming the field.
#[tokio::test]
async fn analyze_advanced_on_dates() {
    use liftos::service::causal::{run_local, Kind};
    let b = body_of("analyze-advanced.ok.json");
    let monday = chrono::NaiveDate::from_ymd_opt(2026, 9, 7).expect("day");
    let (mut numbered, mut dated) = (b.clone(), b.clone());
    for (n, d) in
        numbered["rows"].as_array_mut().expect("rows").iter_mut().zip(dated["rows"].as_array_mut().expect("rows"))
    {
        let week = n["week"].as_i64().expect("week");
        n["week"] = (week + 1).into();
        d["week"] = (monday + chrono::Duration::weeks(week)).format("%Y-%m-%d").to_string().into();
        // the promotion's first week, by unit (the first five stores), for Callaway-Sant'Anna
        let treated = ["u00", "u01", "u02", "u03", "u04"].contains(&n["unit"].as_str().expect("unit"));
        n["first"] = if treated { 9.into() } else { 0.into() };
        d["first"] = if treated { "2026-11-02".into() } else { "".into() };
    }
    numbered["methods"][1]["treatment_time"] = 9.into();
    dated["methods"][1]["treatment_time"] = "2026-11-02".into();
    let cs =
        serde_json::json!({"method": "did", "unit": "unit", "time": "week", "outcome": "sales", "cohort": "first"});
    for body in [&mut numbered, &mut dated] {
        body["methods"].as_array_mut().expect("methods").push(cs.clone());
    }
    let run = |body: &serde_json::Value| {
        let table = table_from_rows(&rows(body)).expect("table");
        let (out, html) =
            run_local(Kind::AnalyzeAdvanced, body.to_string().as_bytes(), table, "rows").expect("analysis");
        (serde_json::to_value(&out).expect("json"), html, out)
    };
    let ((mut n, n_html, n_out), (mut d, d_html, d_out)) = (run(&numbered), run(&dated));
    // The counterfactual paths over calendar time are labelled with the dates.
    let synth = |out| {
        let paths = liftos::llm::counterfactual::analysis_paths(out, None, &[], 0.95).0;
        paths.into_iter().find(|s| s.source == "synth").expect("synth")
    };
    let (ns, ds) = (synth(&n_out), synth(&d_out));
    assert_eq!((ns.series[8].t.as_str(), ds.series[8].t.as_str()), ("9", "2026-11-02"));
    let effects =
        |s: &liftos::llm::counterfactual::Scenario| s.series.iter().map(|p| p.effect.to_bits()).collect::<Vec<_>>();
    assert_eq!(effects(&ns), effects(&ds));
    let axis = d["data"].as_object_mut().expect("data").remove("time_axis").expect("time_axis");
    assert!(n["data"].get("time_axis").is_none());
    for v in [&mut n, &mut d] {
        v.as_object_mut().expect("object").remove("report");
    }
    assert_eq!(n, d);
    assert_eq!((axis["step"].as_str(), axis["periods"].as_i64()), (Some("week"), Some(12)), "{axis}");
    assert_eq!(axis["dates"][8], "2026-11-02");
    let dates: Vec<&str> = axis["dates"].as_array().expect("dates").iter().filter_map(|d| d.as_str()).collect();
    let shown = |html: &str| dates.iter().filter(|d| html.contains(&format!("\n{d}\n</text>"))).count();
    assert!(shown(&d_html) >= 3 && shown(&n_html) == 0, "the dated report's time axes are labelled with the dates");
    // Over HTTP: the same, and the errors.
    let dir = tempfile::tempdir().expect("dir");
    let deps = deps(dir.path());
    let call = |body: serde_json::Value| with_body("analyze-advanced.ok.json", body);
    let resp = handlers::analyze_advanced_http(&deps, call(dated.clone())).await;
    let got = json_body(&resp);
    assert_eq!(resp.status(), 200, "{got}");
    assert_eq!(got["data"]["time_axis"], axis);
    assert_eq!(got["results"][1]["result"], d["results"][1]["result"]);
    for (value, says) in [
        (serde_json::json!(9), "holds dates, so give one"),
        (serde_json::json!("2026-11-03"), "not one of the periods"),
    ] {
        let mut bad = dated.clone();
        bad["methods"][1]["treatment_time"] = value;
        let resp = handlers::analyze_advanced_http(&deps, call(bad)).await;
        let out = json_body(&resp);
        assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some("methods[1].treatment_time")), "{out}");
        assert!(out["message"].as_str().expect("message").contains(says), "{out}");
    }
    // A cohort of periods beside a time column of dates.
    let mut bad = dated.clone();
    for (row, n) in bad["rows"].as_array_mut().expect("rows").iter_mut().zip(numbered["rows"].as_array().expect("rows"))
    {
        row["first"] = n["first"].clone();
    }
    let resp = handlers::analyze_advanced_http(&deps, call(bad)).await;
    let out = json_body(&resp);
    assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some("methods[3].first")), "{out}");
    assert!(out["message"].as_str().expect("message").contains("is a number, but the time column"), "{out}");
}
