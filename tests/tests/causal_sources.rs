//! The causal endpoints on each data source (stored records, CSV and Parquet panels under the
//! org, inline rows), as jobs, with reports; bad requests get a clear 4xx; and on moto, an S3
//! panel analysed through the SQS batch-analysis stage.

use liftos::config::{AuthSettings, Backend, Config};
use liftos::domain::{OrgId, UserContext};
use liftos::runtime::{handlers, Deps};
use liftos::service::estimate::{self, DidRequest, SynthRequest};
use liftos::service::ingest::ingest_causal;
use liftos::service::pipeline::SAMPLE_RECORDS;
use liftos::storage::Stores;
use liftos_estimators::data::{Column, Table};
use liftos_tests::events::{body_of, http_request, json_body, text, with_body};
use std::sync::Arc;

fn deps(dir: &std::path::Path) -> Deps {
    liftos_tests::fixtures::embedded_deps(dir, AuthSettings::ApiGateway)
}

fn acme() -> UserContext {
    UserContext::new(OrgId::new("acme").expect("org"), "user-456".into(), vec!["causal_admin".into()], vec![])
}

/// The sample records as a panel, built here from the JSON (not by the service): campaign,
/// day number, revenue, and the treated-and-post indicator of the budget test.
fn sample_panel() -> Table {
    let v: serde_json::Value = serde_json::from_str(SAMPLE_RECORDS).expect("sample");
    let recs = v["records"].as_array().expect("records");
    let mut rows: Vec<(String, i64, f64, f64)> = recs
        .iter()
        .map(|r| {
            let ts: chrono::DateTime<chrono::Utc> = r["timestamp"].as_str().expect("ts").parse().expect("ts");
            let day = (ts.date_naive() - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days();
            let treated = r["treatment_assignment"]["group"] == "treated";
            let start = chrono::NaiveDate::from_ymd_opt(2026, 9, 29).expect("start");
            let post = ts.date_naive() >= start;
            let d = if treated && post { 1.0 } else { 0.0 };
            (
                r["campaign_id"].as_str().expect("campaign").to_string(),
                day,
                r["metrics"]["revenue"].as_f64().expect("revenue"),
                d,
            )
        })
        .collect();
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    Table::from_columns(vec![
        ("unit", Column::Text(rows.iter().map(|r| r.0.clone()).collect())),
        ("time", Column::Num(rows.iter().map(|r| r.1 as f64).collect())),
        ("revenue", Column::Num(rows.iter().map(|r| r.2).collect())),
        ("treatment", Column::Num(rows.iter().map(|r| r.3).collect())),
    ])
}

async fn ingest_samples(stores: &Stores) {
    let out = ingest_causal(stores.records.as_ref(), &acme(), SAMPLE_RECORDS.as_bytes(), chrono::Utc::now())
        .await
        .expect("ingest");
    assert_eq!(out.received, 378);
}

/// Records ingested by the pipeline, analysed through the endpoint: the results are the
/// estimators' own on the same panel, the detected treatment fills the roles, and the report is
/// stored under the org with plots.
#[tokio::test]
async fn stored_records_through_the_endpoint_match_the_estimators() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    ingest_samples(&d.stores).await;
    let resp = handlers::analyze_advanced_http(&d, http_request("analyze-advanced.records.json")).await;
    let got = json_body(&resp);
    assert_eq!(resp.status(), 200, "{got}");
    let panel = sample_panel();
    let did = DidRequest {
        unit: "unit".into(),
        time: "time".into(),
        outcome: "revenue".into(),
        treatment: Some("treatment".into()),
        event_study: true,
        ..Default::default()
    };
    assert_eq!(
        got["results"][0]["result"],
        serde_json::to_value(estimate::did(&panel, &did).expect("did")).expect("json")
    );
    let synth = SynthRequest {
        unit: "unit".into(),
        time: "time".into(),
        outcome: "revenue".into(),
        treated_unit: "cmp-meta-prospecting".into(),
        treatment_time: 20725,
        ..Default::default()
    };
    assert_eq!(
        got["results"][1]["result"],
        serde_json::to_value(estimate::synth_control(&panel, &synth).expect("synth")).expect("json")
    );
    let t = &got["data"]["treatment"];
    assert_eq!((t["intervention"].as_str(), t["time"].as_i64()), (Some("budget_increase"), Some(20725)));
    assert_eq!(t["treated_units"], serde_json::json!(["cmp-meta-prospecting"]));
    assert_eq!((got["data"]["rows"].as_u64(), got["data"]["units"].as_u64()), (Some(378), Some(9)));
    // The report: stored under the org, linked, with the event study and the synthetic-control plots.
    let key = got["report"]["key"].as_str().expect("report key");
    assert!(got["report"]["url"].as_str().expect("url").starts_with("file://"));
    let html = d.stores.panels.get_panel(&acme().org_id, key).await.expect("get").expect("stored");
    let html = String::from_utf8(html.to_vec()).expect("utf8");
    assert_eq!(html.matches("<svg").count(), 3, "event study, treated vs synthetic, gaps");
    assert!(html.contains("Event study") && html.contains("Treated and synthetic"));
    // the treatment in words and by its date, not the store's day number
    assert!(html.contains("<td>budget increase from 2026-09-29; treated: cmp-meta-prospecting;"), "the treatment");
    assert!(!html.contains("20725"), "a day number in the report");
    // The synthetic control's fit reads as its rule does, a share of the treated unit's level.
    let fit = got["results"][1]["checks"][0]["value"].as_f64().expect("pre-period fit");
    let shown = liftos::llm::format::display(fit, liftos::llm::format::Unit::Share);
    assert!(
        shown.ends_with('%') && html.contains(&format!("<td>pre-period fit</td><td>{shown}</td>")),
        "{fit}: {shown}"
    );
    assert!(!html.contains(&format!("<td>pre-period fit</td><td>{fit:.4}</td>")), "a share shown as a bare number");
    // The records' time is the day number: the time axes show dates (2026-09-29 is day 20725),
    // never the numbers themselves.
    let labels: Vec<&str> = html.split("</text>").filter_map(|t| t.rsplit('>').next()).map(str::trim).collect();
    assert!(labels.contains(&"date"), "the time axis is named date: {labels:?}");
    assert!(labels.iter().any(|l| l.starts_with("2026-09-") || l.starts_with("2026-10-")), "{labels:?}");
    assert!(!labels.iter().any(|l| l.starts_with("207")), "a day number on an axis: {labels:?}");
    // the value axes' whole numbers without a trailing .0, the thousands separated (2,000)
    let numbers: Vec<&&str> = labels.iter().filter(|l| l.parse::<f64>().is_ok() || l.contains(',')).collect();
    assert!(numbers.len() >= 6, "{labels:?}");
    assert!(!numbers.iter().any(|l| l.ends_with(".0")), "{numbers:?}");
    assert!(numbers.iter().any(|l| l.contains(',')), "thousands: {numbers:?}");
    // Another org sees none of acme's records.
    let mut other: serde_json::Value = serde_json::from_str(&text("analyze-advanced.records.json")).expect("event");
    other["requestContext"]["authorizer"]["jwt"]["claims"]["org_id"] = "globex".into();
    let resp =
        handlers::analyze_advanced_http(&d, lambda_http::request::from_str(&other.to_string()).expect("req")).await;
    let out = json_body(&resp);
    assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some("records")), "{out}");
}

/// Stored revenue is in the org's reporting currency, as its connections name it: the report's
/// amounts and the explanation's are written in it (`EUR 1,967`), its statistics are not; where
/// the connections name none, the amounts stay bare; and the answer's JSON is the same either way.
#[tokio::test]
async fn the_report_of_stored_revenue_writes_its_currency() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    ingest_samples(&d.stores).await;
    let report = |resp: &lambda_http::Response<lambda_http::Body>| {
        let got = json_body(resp);
        assert_eq!(resp.status(), 200, "{got}");
        (got.clone(), got["report"]["key"].as_str().expect("report key").to_string())
    };
    let html = |key: String| {
        let stores = d.stores.clone();
        async move {
            let bytes = stores.panels.get_panel(&acme().org_id, &key).await.expect("get").expect("stored");
            String::from_utf8(bytes.to_vec()).expect("utf8")
        }
    };
    let (bare, key) = report(&handlers::analyze_advanced_http(&d, http_request("analyze-advanced.records.json")).await);
    let bare_html = html(key).await;
    assert!(!bare_html.contains("EUR ") && !bare_html.contains("USD "), "no currency named: bare amounts");
    let connections = serde_json::json!([{"id": "meta-de", "kind": "file", "platform": "meta", "currency": "eur",
        "column_map": {"date": "Day", "campaign_id": "Campaign ID", "spend": "Amount spent (EUR)"}}]);
    d.stores
        .panels
        .put_panel(&acme().org_id, "config/connections.json", bytes::Bytes::from(connections.to_string()))
        .await
        .expect("put");
    let (euros, key) =
        report(&handlers::analyze_advanced_http(&d, http_request("analyze-advanced.records.json")).await);
    let html = html(key).await;
    let did = &euros["results"][0]["result"];
    let money = |x: f64| {
        let whole = format!("{:.0}", x.abs());
        let grouped: String = whole
            .chars()
            .enumerate()
            .flat_map(|(i, c)| ((i > 0 && (whole.len() - i) % 3 == 0).then_some(',')).into_iter().chain([c]))
            .collect();
        format!("EUR {}{grouped}", if x < 0.0 { "-" } else { "" })
    };
    let estimate = did["estimate"].as_f64().expect("estimate");
    assert!(html.contains(&format!("<b>{}</b>", money(estimate))), "the headline estimate in EUR");
    let (lo, hi) = (did["ci_low"].as_f64().expect("lo"), did["ci_high"].as_f64().expect("hi"));
    assert!(html.contains(&format!("[{}, {}]", money(lo), money(hi))), "its interval in EUR");
    assert!(html.contains("grounding check passed"), "the explanation still grounds its numbers");
    let words = html.split("<h2>In words</h2>").nth(1).and_then(|s| s.split("<h2>").next()).expect("explanation");
    assert!(words.contains("EUR "), "{words}");
    assert!(html.contains("p &lt; 0.001") || html.contains("p = "), "the p-value stays a probability");
    // the answer itself carries no new key: the currency is the report's and the explanation's
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().expect("object").remove("report");
        v
    };
    let answer = strip(euros.clone());
    assert_eq!(strip(euros), strip(bare));
    // Explained again later, from its stored job or from the answer sent back, the amounts keep
    // the org's currency, which the stored JSON does not carry.
    let mut body = body_of("analyze-advanced.records.json");
    body["mode"] = "async".into();
    let job = json_body(&handlers::analyze_advanced_http(&d, with_body("analyze-advanced.records.json", body)).await);
    assert_eq!(job["status"], "succeeded", "{job}");
    // (an answer sent back does not say which column was the outcome: the caller names it)
    let asks = [
        serde_json::json!({"analysis": {"job_id": job["job_id"]}, "audience": "analyst"}),
        serde_json::json!({"analysis": {"result": answer}, "outcome": "revenue", "audience": "analyst"}),
    ];
    for ask in asks {
        let resp = handlers::llm_insights_http(&d, with_body("llm-insights.ok.json", ask.clone())).await;
        let got = json_body(&resp);
        assert_eq!(resp.status(), 200, "{got}");
        let facts = got["facts"].as_array().expect("facts");
        let shown = |id: &str| facts.iter().find(|f| f["id"] == id).and_then(|f| f["display"].as_str());
        assert_eq!(shown("did.effect"), Some(money(estimate).as_str()), "{}", ask["analysis"]);
        assert!(shown("did.clusters").is_none_or(|c| !c.contains("EUR")), "a count is no amount");
        let words = got["explanation"]["sentences"].to_string();
        assert!(words.contains("EUR "), "{words}");
    }
    // the counterfactual's explanation of the stored job too
    let ask = serde_json::json!({"analysis": {"job_id": job["job_id"]}, "scenarios": [{"type": "no_intervention"}]});
    let resp = handlers::llm_counterfactual_http(&d, with_body("llm-counterfactual.ok.json", ask)).await;
    let got = json_body(&resp);
    assert_eq!(resp.status(), 200, "{got}");
    let headline = got["explanation"]["headline"].as_str().expect("headline");
    assert!(headline.contains(&money(estimate)), "{headline}");
}

/// `POST /api/v1/llm/causal/counterfactual` names the analysis by exactly one of `job_id`,
/// `result` and `request`: none, two, a budget body under `analysis`, or a request of another
/// kind is a 400 naming the field, before anything is run; a request the causal service refuses
/// is a 400 naming its field under `analysis.request`; an answer sent back as `result` gets its
/// effect path.
#[tokio::test]
async fn counterfactual_analyses_are_named_once_and_refusals_name_their_field() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let request = body_of("llm-counterfactual.ok.json")["analysis"]["request"].clone();
    let mut unknown_outcome = request.clone();
    unknown_outcome["outcome"] = "no_such_column".into();
    let budget = serde_json::json!({"plan": {"objective": {"type": "max_outcome"}}});
    let cases = [
        (serde_json::json!({"analysis": {}}), "analysis"),
        (serde_json::json!({"analysis": {"job_id": "job-1", "request": request}}), "analysis"),
        (serde_json::json!({"analysis": {"budget": budget, "request": request}}), "analysis"),
        (serde_json::json!({"analysis": {"kind": "discover", "request": request}}), "analysis.kind"),
        (serde_json::json!({"analysis": {"request": unknown_outcome}}), "analysis.request.outcome"),
    ];
    for (ask, field) in cases {
        let resp = handlers::llm_counterfactual_http(&d, with_body("llm-counterfactual.ok.json", ask.clone())).await;
        let got = json_body(&resp);
        assert_eq!((resp.status().as_u16(), got["field"].as_str()), (400, Some(field)), "{ask}: {got}");
    }
    // An answer sent back: its effect path, the outcome named by the caller.
    let answer = json_body(&handlers::analyze_advanced_http(&d, http_request("analyze-advanced.ok.json")).await);
    let ask = serde_json::json!({"analysis": {"result": answer}, "outcome": "sales",
        "scenarios": [{"type": "no_intervention"}]});
    let resp = handlers::llm_counterfactual_http(&d, with_body("llm-counterfactual.ok.json", ask)).await;
    let got = json_body(&resp);
    assert_eq!(resp.status(), 200, "{got}");
    let scenarios = got["scenarios"].as_array().expect("scenarios");
    let did = scenarios.iter().find(|s| s["id"] == "did").expect("the DiD's path");
    let series = did["series"].as_array().expect("series");
    assert!(series.iter().any(|p| p["post"] == true) && series.iter().any(|p| p["post"] == false), "{did}");
}

/// A CSV and a Parquet panel under the org give exactly the inline rows' answer.
#[tokio::test]
async fn csv_and_parquet_panels_match_inline_rows() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let inline = json_body(&handlers::analyze_advanced_http(&d, http_request("analyze-advanced.ok.json")).await);
    let b = body_of("analyze-advanced.ok.json");
    let rows = b["rows"].as_array().expect("rows");
    let mut csv = String::from("unit,week,sales,d\n");
    for r in rows {
        csv.push_str(&format!("{},{},{},{}\n", r["unit"].as_str().expect("unit"), r["week"], r["sales"], r["d"]));
    }
    let org = acme().org_id;
    d.stores.panels.put_panel(&org, "panels/promo.csv", bytes::Bytes::from(csv)).await.expect("put");
    let parquet = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/promo.parquet"))
        .expect("parquet fixture");
    d.stores.panels.put_panel(&org, "panels/promo.parquet", bytes::Bytes::from(parquet)).await.expect("put");
    for key in ["panels/promo.csv", "panels/promo.parquet"] {
        let mut body = b.clone();
        body.as_object_mut().expect("object").remove("rows");
        body["panel"] = serde_json::json!({ "key": key });
        let resp = handlers::analyze_advanced_http(&d, with_body("analyze-advanced.ok.json", body)).await;
        let got = json_body(&resp);
        assert_eq!(resp.status(), 200, "{key}: {got}");
        assert_eq!(got["results"], inline["results"], "{key}");
        assert_eq!(got["comparison"], inline["comparison"], "{key}");
        assert_eq!((got["data"]["source"].as_str(), got["data"]["panel_key"].as_str()), (Some("panel"), Some(key)));
    }
}

/// Bad requests name the field: unknown method, missing column roles, a panel outside the
/// org's prefix (or a URL, or missing), too little pre-period, no data or two sources.
#[tokio::test]
async fn bad_requests_get_a_clear_4xx() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    ingest_samples(&d.stores).await;
    let cases: Vec<(lambda_http::Request, &str, &str)> = vec![
        (http_request("analyze-advanced.unknown-method.json"), "methods[0].method", "expected did"),
        (http_request("analyze-advanced.missing-roles.json"), "methods[0].outcome", "outcome"),
        (http_request("analyze-advanced.panel-outside-org.json"), "panel.key", "outside your org"),
        (http_request("analyze-advanced.short-pre-period.json"), "methods[0].treatment_time", "at least 5"),
        (
            with_body(
                "analyze-advanced.ok.json",
                serde_json::json!({"panel": {"key": "s3://bucket/orgs/acme/x.csv"}, "methods": [{"method": "did"}]}),
            ),
            "panel.key",
            "not a URL",
        ),
        (
            with_body(
                "analyze-advanced.ok.json",
                serde_json::json!({"panel": {"key": "panels/none.csv"}, "methods": [{"method": "did"}]}),
            ),
            "panel.key",
            "no such object",
        ),
        (
            with_body("analyze-advanced.ok.json", serde_json::json!({"panel": {"key": "../x.csv"}, "methods": []})),
            "panel.key",
            "segments",
        ),
        (
            with_body("analyze-advanced.ok.json", serde_json::json!({"methods": [{"method": "did"}]})),
            "rows",
            "name the data",
        ),
        (
            with_body(
                "analyze-advanced.ok.json",
                serde_json::json!({"rows": [{"a": 1}], "records": {}, "methods": []}),
            ),
            "rows",
            "exactly one",
        ),
        (
            with_body(
                "analyze-advanced.ok.json",
                serde_json::json!({"records": {"platform": "myspace"}, "methods": []}),
            ),
            "records.platform",
            "",
        ),
        (
            with_body("analyze-advanced.ok.json", serde_json::json!({"records": {}, "mode": "later", "methods": []})),
            "mode",
            "",
        ),
    ];
    for (req, field, words) in cases {
        let resp = handlers::analyze_advanced_http(&d, req).await;
        let out = json_body(&resp);
        assert_eq!((resp.status().as_u16(), out["field"].as_str()), (400, Some(field)), "{out}");
        assert!(out["message"].as_str().expect("message").contains(words), "{out}");
    }
}

/// `mode: async` makes a job; on the embedded default (no queue) it runs in the same call. Its
/// result is the synchronous answer; another org's job is not found; a job whose request turns
/// out bad fails with the error it would have had.
#[tokio::test]
async fn jobs_on_the_embedded_default() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let sync = json_body(&handlers::analyze_advanced_http(&d, http_request("analyze-advanced.ok.json")).await);
    let resp = handlers::analyze_advanced_http(&d, http_request("analyze-advanced.async.json")).await;
    let job = json_body(&resp);
    assert_eq!(resp.status(), 202, "{job}");
    assert_eq!(job["status"], "succeeded", "{job}");
    let id = job["job_id"].as_str().expect("id").to_string();
    assert_eq!(job["href"], format!("/api/v1/causal/jobs/{id}"));
    let mut ev: serde_json::Value = serde_json::from_str(&text("get-causal-job.not-found.json")).expect("event");
    ev["rawPath"] = format!("/api/v1/causal/jobs/{id}").into();
    ev["requestContext"]["http"]["path"] = ev["rawPath"].clone();
    ev["pathParameters"]["job_id"] = id.clone().into();
    let get = |ev: &serde_json::Value| lambda_http::request::from_str(&ev.to_string()).expect("req");
    let resp = handlers::get_causal_job_http(&d, get(&ev)).await;
    let got = json_body(&resp);
    assert_eq!(resp.status(), 200, "{got}");
    assert_eq!(got["result"]["results"], sync["results"]);
    assert_eq!(got["result"]["comparison"], sync["comparison"]);
    assert_eq!(got["attempts"], 1);
    // Three methods, no report: three steps, all done.
    assert_eq!(got["progress"], serde_json::json!({"done": 3, "total": 3}), "{got}");
    // The stage sees a redelivery of the finished job and changes nothing.
    let org = OrgId::new("acme").expect("org");
    liftos::service::causal::run_job(&d.stores, &org, &id, None).await.expect("redelivery");
    let again = d.stores.jobs.get_job(&org, &id).await.expect("get").expect("job");
    assert_eq!(again.attempts, 1);
    // Another org: 404, the same as a job that does not exist.
    ev["requestContext"]["authorizer"]["jwt"]["claims"]["org_id"] = "globex".into();
    let resp = handlers::get_causal_job_http(&d, get(&ev)).await;
    assert_eq!(resp.status(), 404);
    let resp = handlers::get_causal_job_http(&d, http_request("get-causal-job.not-found.json")).await;
    assert_eq!(resp.status(), 404);
    // A job that fails records why.
    let mut bad = body_of("analyze-advanced.async.json");
    bad["methods"][0]["outcome"] = "nope".into();
    let resp = handlers::analyze_advanced_http(&d, with_body("analyze-advanced.async.json", bad)).await;
    let job = json_body(&resp);
    assert_eq!((resp.status().as_u16(), job["status"].as_str()), (202, Some("failed")), "{job}");
    assert_eq!((job["error"]["status"].as_u64(), job["error"]["field"].as_str()), (Some(400), Some("methods[0].nope")));
    // With `mode: async`, what can be checked before the data is read is checked at once.
    let mut bad = body_of("analyze-advanced.async.json");
    bad["methods"][0]["method"] = "magic".into();
    let resp = handlers::analyze_advanced_http(&d, with_body("analyze-advanced.async.json", bad)).await;
    assert_eq!((resp.status().as_u16(), json_body(&resp)["field"].as_str()), (400, Some("methods[0].method")));
    // SQS: a message naming no job, and one that is not a job message, are both poison.
    let resp = handlers::batch_analysis_sqs(&d, liftos_tests::events::sqs_event("batch-analysis.jobs.json")).await;
    assert_eq!(resp.batch_item_failures.len(), 2, "no DLQ here: both reported for SQS's redrive");
}

/// Reports for discovery (the graph) and treatment effects (the overlap), and `liftos report`'s
/// engine on a local table.
#[tokio::test]
async fn reports_for_discovery_and_effects() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    for (event, title, plots) in [
        ("causal-discover.ok.json", "Discovered causal graph", 1),
        ("treatment-effect.ok.json", "Propensity overlap", 1),
    ] {
        let mut body = body_of(event);
        body["report"] = true.into();
        let req = with_body(event, body);
        let resp = if event.starts_with("causal") {
            handlers::causal_discover_http(&d, req).await
        } else {
            handlers::treatment_effect_http(&d, req).await
        };
        let got = json_body(&resp);
        assert_eq!(resp.status(), 200, "{got}");
        let key = got["report"]["key"].as_str().expect("key");
        let html = d.stores.panels.get_panel(&acme().org_id, key).await.expect("get").expect("stored");
        let html = String::from_utf8(html.to_vec()).expect("utf8");
        assert_eq!(html.matches("<svg").count(), plots, "{event}");
        assert!(html.contains(title), "{event}");
    }
}

async fn moto_deps() -> (Deps, aws_sdk_sqs::Client, String, String) {
    use liftos::storage::aws::{create_table, dynamodb_client, s3_client, sqs_client, SqsQueue};
    use liftos_tests::moto;
    let sdk = moto::sdk_config().await;
    let (table, bucket) = (moto::unique("liftos"), moto::unique("liftos-panels"));
    create_table(&dynamodb_client(&sdk), &table).await.expect("table");
    s3_client(&sdk).create_bucket().bucket(&bucket).send().await.expect("bucket");
    let sqs = sqs_client(&sdk);
    let jobs = sqs.create_queue().queue_name(moto::unique("jobs")).send().await.expect("q").queue_url.expect("url");
    let dlq = sqs.create_queue().queue_name(moto::unique("jobs-dlq")).send().await.expect("q").queue_url.expect("url");
    let config = Config {
        next_queue_url: Some(jobs.clone()),
        dlq_url: Some(dlq.clone()),
        ..Config::new(Backend::Aws { table: table.clone(), bucket: bucket.clone() }, AuthSettings::ApiGateway)
    };
    let deps = Deps {
        config: Arc::new(config),
        stores: Stores::aws(&sdk, &table, &bucket),
        next_queue: Some(Arc::new(SqsQueue::new(sqs.clone(), jobs.clone()))),
        dlq: Some(Arc::new(SqsQueue::new(sqs.clone(), dlq.clone()))),
    };
    (deps, sqs, jobs, dlq)
}

/// On moto: a CSV panel in S3 under the org, analysed as a job: 202, a message on the jobs
/// queue, the batch-analysis stage writes the result to DynamoDB, the job endpoint returns it
/// (equal to the synchronous answer); a redelivery changes nothing; a poison message lands in
/// the DLQ with its reason; the report is in S3 behind a presigned link.
#[tokio::test]
#[ignore = "needs moto: run tests/run.sh"]
async fn s3_panel_batch_job_on_moto() {
    let (d, sqs, jobs, dlq) = moto_deps().await;
    let b = body_of("analyze-advanced.ok.json");
    let mut csv = String::from("unit,week,sales,d\n");
    for r in b["rows"].as_array().expect("rows") {
        csv.push_str(&format!("{},{},{},{}\n", r["unit"].as_str().expect("unit"), r["week"], r["sales"], r["d"]));
    }
    d.stores.panels.put_panel(&acme().org_id, "panels/promo.csv", bytes::Bytes::from(csv)).await.expect("put");
    let mut body = b.clone();
    body.as_object_mut().expect("object").remove("rows");
    body["panel"] = serde_json::json!({"key": "panels/promo.csv"});
    body["report"] = true.into();
    let mut sync_body = body.clone();
    sync_body["mode"] = "sync".into();
    sync_body["report"] = false.into();
    let sync = json_body(&handlers::analyze_advanced_http(&d, with_body("analyze-advanced.ok.json", sync_body)).await);
    assert!(sync["results"].is_array(), "{sync}");
    body["mode"] = "async".into();
    let resp = handlers::analyze_advanced_http(&d, with_body("analyze-advanced.ok.json", body)).await;
    let job = json_body(&resp);
    assert_eq!((resp.status().as_u16(), job["status"].as_str()), (202, Some("queued")), "{job}");
    let id = job["job_id"].as_str().expect("id").to_string();
    let msgs = liftos_tests::moto::receive_all(&sqs, &jobs).await;
    assert_eq!(msgs.len(), 1);
    let resp = handlers::batch_analysis_sqs(&d, liftos_tests::moto::sqs_event_of(&msgs)).await;
    assert!(resp.batch_item_failures.is_empty());
    let org = acme().org_id;
    let stored = d.stores.jobs.get_job(&org, &id).await.expect("get").expect("job in DynamoDB");
    assert_eq!((stored.status, stored.attempts), (liftos::domain::JobStatus::Succeeded, 1));
    let view = liftos::service::causal::get_job(&d.stores, &acme(), &id, std::time::Duration::from_secs(900))
        .await
        .expect("view");
    let result = serde_json::to_value(view.result.expect("result")).expect("json");
    assert_eq!(result["results"], sync["results"]);
    let url = result["report"]["url"].as_str().expect("presigned url");
    assert!(url.contains("X-Amz-Signature") && url.contains("/orgs/acme/reports/"), "{url}");
    let key = result["report"]["key"].as_str().expect("key");
    let html = d.stores.panels.get_panel(&org, key).await.expect("get").expect("report in S3");
    assert!(String::from_utf8_lossy(&html).contains("<svg"));
    // At-least-once: the same message again leaves the finished job as it was.
    let resp = handlers::batch_analysis_sqs(&d, liftos_tests::moto::sqs_event_of(&msgs)).await;
    assert!(resp.batch_item_failures.is_empty());
    let again = d.stores.jobs.get_job(&org, &id).await.expect("get").expect("job");
    assert_eq!(again, stored);
    // Poison: to the DLQ with the reason, acknowledged.
    let resp = handlers::batch_analysis_sqs(&d, liftos_tests::events::sqs_event("batch-analysis.jobs.json")).await;
    assert!(resp.batch_item_failures.is_empty(), "both moved to the DLQ");
    let dead = liftos_tests::moto::receive_all(&sqs, &dlq).await;
    assert_eq!(dead.len(), 2);
    let reasons: Vec<String> =
        dead.iter().filter_map(|m| m.message_attributes.as_ref()?.get("liftos_error")?.string_value.clone()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("no job")) && reasons.iter().any(|r| r.contains("not an analysis job")),
        "{reasons:?}"
    );
}

/// The same treatment recorded from accounts in different time zones (its start at different
/// UTC instants on the same local day) is one treatment.
#[tokio::test]
async fn a_treatment_seen_from_two_time_zones_is_one() {
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    ingest_samples(&d.stores).await;
    let e: liftos::domain::NewExperiment =
        liftos::domain::error::from_json_str(liftos::service::pipeline::SAMPLE_EXPERIMENT).expect("experiment");
    d.stores
        .experiments
        .create_experiment(&e.into_experiment(&acme().org_id, chrono::Utc::now()).expect("valid"))
        .await
        .expect("create");
    // The exports' Meta account is in New York: its days start at 04:00 UTC.
    liftos::service::pipeline::ingest_sample_exports(&d.stores, &acme(), chrono::Utc::now()).await.expect("exports");
    let resp = handlers::analyze_advanced_http(&d, http_request("analyze-advanced.records.json")).await;
    let got = json_body(&resp);
    assert_eq!(resp.status(), 200, "{got}");
    assert_eq!(got["data"]["treatment"]["time"], 20725);
    assert_eq!(got["data"]["treatment"]["assigned_at"], "2026-09-29T00:00:00Z", "the earliest start");
}

/// Every update of a job the runner writes, as it writes it.
struct Recording {
    inner: Arc<dyn liftos::storage::JobStore>,
    seen: std::sync::Mutex<Vec<liftos::domain::AnalysisJob>>,
}

#[async_trait::async_trait]
impl liftos::storage::JobStore for Recording {
    async fn create_job(
        &self,
        job: &liftos::domain::AnalysisJob,
    ) -> Result<liftos::storage::PutOutcome, liftos::storage::StoreError> {
        self.inner.create_job(job).await
    }
    async fn get_job(
        &self,
        org: &OrgId,
        id: &str,
    ) -> Result<Option<liftos::domain::AnalysisJob>, liftos::storage::StoreError> {
        self.inner.get_job(org, id).await
    }
    async fn update_job(
        &self,
        job: &liftos::domain::AnalysisJob,
        expected: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), liftos::storage::StoreError> {
        self.seen.lock().expect("lock").push(job.clone());
        self.inner.update_job(job, expected).await
    }
    async fn list_jobs(
        &self,
        org: &OrgId,
        page: &liftos::storage::PageRequest,
    ) -> Result<liftos::storage::Page<liftos::domain::AnalysisJob>, liftos::storage::StoreError> {
        self.inner.list_jobs(org, page).await
    }
}

/// A queued job reports its progress as it runs: each method, then the report, written to the
/// job as they end, in order, while it is running; it finishes with every step done.
#[tokio::test]
async fn a_running_job_reports_its_progress() {
    use liftos::service::causal::{self, Answer, Ctx, Kind};
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    let queue = liftos::storage::embedded::InProcessQueue::new();
    let mut body = body_of("analyze-advanced.async.json");
    body["report"] = true.into();
    let ctx = Ctx { stores: &d.stores, jobs_queue: Some(&queue), now: chrono::Utc::now() };
    let queued = match causal::run(&ctx, &acme(), Kind::AnalyzeAdvanced, body.to_string().as_bytes()).await {
        Ok(Answer::Queued(v)) => v,
        other => panic!("expected a queued job, got {:?}", other.map(|_| ())),
    };
    assert_eq!(queued.status, liftos::domain::JobStatus::Queued);
    assert!(queued.progress.is_none(), "no progress before it runs");
    let rec = Arc::new(Recording { inner: d.stores.jobs.clone(), seen: Default::default() });
    let stores = Stores { jobs: rec.clone(), ..d.stores.clone() };
    causal::run_job(&stores, &acme().org_id, &queued.job_id, None).await.expect("run");
    let seen = rec.seen.lock().expect("lock").clone();
    let steps: Vec<(liftos::domain::JobStatus, Option<(u32, u32)>)> =
        seen.iter().map(|j| (j.status, j.progress.map(|p| (p.done, p.total)))).collect();
    use liftos::domain::JobStatus::{Running, Succeeded};
    assert_eq!(
        steps,
        [
            (Running, None),
            (Running, Some((0, 4))),
            (Running, Some((1, 4))),
            (Running, Some((2, 4))),
            (Running, Some((3, 4))),
            (Running, Some((4, 4))),
            (Succeeded, Some((4, 4))),
        ]
    );
    // Progress does not move the start the function's timeout counts from.
    let started = seen[0].started_at.expect("started");
    assert!(seen.iter().all(|j| j.started_at == Some(started)));
    let view =
        causal::get_job(&d.stores, &acme(), &queued.job_id, std::time::Duration::from_secs(900)).await.expect("view");
    assert_eq!(view.progress.map(|p| (p.done, p.total)), Some((4, 4)));
}

/// A finished analysis of stored records is announced on the data-ready queue (the knowledge
/// graph's build listens there), again on a redelivery; an analysis of inline rows is not. The
/// build then reads the job: its effects are evidence on the experiment's edge, with its id.
#[tokio::test]
async fn a_finished_analysis_of_records_reaches_the_knowledge_graph() {
    use liftos::service::causal::{self, Answer, Kind};
    use liftos::storage::embedded::InProcessQueue;
    let dir = tempfile::tempdir().expect("dir");
    let d = deps(dir.path());
    ingest_samples(&d.stores).await;
    let (jobs, ready) = (InProcessQueue::new(), InProcessQueue::new());
    let now = chrono::Utc::now();
    let ctx = causal::Ctx { stores: &d.stores, jobs_queue: Some(&jobs), now };
    let mut body = body_of("analyze-advanced.records.json");
    body["mode"] = "async".into();
    body["report"] = false.into();
    let job = match causal::run(&ctx, &acme(), Kind::AnalyzeAdvanced, body.to_string().as_bytes()).await {
        Ok(Answer::Queued(j)) => j,
        other => panic!("queued: {other:?}"),
    };
    let message = jobs.receive(1).pop().expect("the job's message");
    causal::job_message(&d.stores, Some(&ready), &message.body, None).await.expect("run");
    let sent = ready.receive(10);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].attributes.get("liftos_kind").map(String::as_str), Some("data_ready"));
    let m: serde_json::Value = serde_json::from_str(&sent[0].body).expect("json");
    assert_eq!((m["org_id"].as_str(), m["analysis_job"].as_str()), (Some("acme"), Some(job.job_id.as_str())));
    // A redelivery announces again (the build is idempotent); the job is not run twice.
    causal::job_message(&d.stores, Some(&ready), &message.body, None).await.expect("redelivery");
    assert_eq!(ready.receive(10).len(), 1);
    let stored = d.stores.jobs.get_job(&acme().org_id, &job.job_id).await.expect("get").expect("job");
    assert_eq!(stored.attempts, 1);
    // Inline rows: nothing about the org's stored data changed.
    let mut rows = body_of("analyze-advanced.async.json");
    rows["mode"] = "async".into();
    let _ = causal::run(&ctx, &acme(), Kind::AnalyzeAdvanced, rows.to_string().as_bytes()).await.expect("queued");
    let message = jobs.receive(1).pop().expect("the job's message");
    causal::job_message(&d.stores, Some(&ready), &message.body, None).await.expect("run");
    assert!(ready.receive(10).is_empty());
    // The graph's build reads the finished analysis: its two methods' effects on revenue, from the
    // experiment's intervention, with the job's id.
    let built = liftos::service::kse::build(&d.stores, &acme(), now).await.expect("build");
    assert_eq!(built.inputs.org_analyses, 1, "{built:?}");
    let g = liftos::service::kse::load(&d.stores, &acme()).await.expect("load").expect("graph");
    let e = g
        .edges
        .iter()
        .find(|e| e.from == "meta:budget_increase:2026-09-29:exp-meta-budget-q3" && e.to == "meta:revenue")
        .expect("the experiment's edge to revenue");
    let theirs: Vec<&str> = e
        .evidence
        .iter()
        .filter(|c| c.analysis_id.as_deref() == Some(job.job_id.as_str()))
        .map(|c| c.method.as_str())
        .collect();
    assert_eq!(theirs, ["did", "synth"], "{:?}", e.evidence);
}
