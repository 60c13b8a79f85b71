//! The functions' answers to the sample events in `events/` are a contract: each sample, sent in
//! the order `tests/smoke.sh` sends them (on a fresh embedded store, with the sample pipeline run
//! for the samples' org where smoke.sh runs it), answers what `tests/golden/events/<sample>.json`
//! pins: status and JSON body (see `tests/src/golden.rs` for what is normalised).

#[path = "../src/golden.rs"]
mod golden;

use liftos::config::{AuthSettings, Backend, Config};
use liftos::domain::{OrgId, UserContext};
use liftos::runtime::Deps;
use liftos::storage::Stores;
use liftos_tests::events::{http_request, json_body, sqs_event, text};
use std::sync::Arc;

/// The samples whose order matters (smoke.sh's order); `PIPELINE` runs the main job for org
/// `acme` there. Every other sample in `events/` runs after these, in the order of its name.
const SEQUENCE: &[&str] = &[
    "ingest-causal.ok",
    "ingest-causal.ok",
    "ingest-causal.bad-spend",
    "ingest-causal.forbidden",
    "ingest-causal.no-token",
    "get-experiment-causal.ok",
    "create-experiment.ok",
    "create-experiment.ok",
    "create-experiment.bad-dates",
    "create-experiment.forbidden",
    "get-experiment.ok",
    "get-experiment.not-found",
    "get-experiment-causal.ok",
    "get-experiment-causal.bad-cursor",
    "list-experiments.ok",
    "list-experiments.bad-status",
    "update-experiment-status.bad-transition",
    "update-experiment-status.ok",
    "query-records.ok",
    "query-records.bad-date",
    "list-confounders.ok",
    "list-confounders.bad-platform",
    "query-audit-log.ok",
    "query-audit-log.forbidden",
    "design-experiment.ok",
    "design-experiment.bad-query",
    "design-experiment.forbidden",
    "readout-experiment.ok",
    "readout-experiment.bad-market",
    "sync-now.ok",
    "sync-now.bad-period",
    "sync-now.unknown-connection",
    "PIPELINE",
    "sync-connections.export-dropped",
    "sync-connections.schedule",
    "transform-records.export",
    "score-quality.missing-batch",
    "optimize-budget.ok",
    "optimize-budget.bad-history",
    "optimize-budget.kpi",
    "optimize-budget.kpi-too-many-draws",
    "recommend-treatments.ok",
    "recommend-treatments.bad-objective",
    "causal-discover.ok",
    "causal-discover.bad-method",
    "treatment-effect.ok",
    "treatment-effect.missing-column",
    "analyze-advanced.ok",
    "analyze-advanced.unknown-method",
    "analyze-advanced.records",
    "analyze-advanced.short-pre-period",
    "analyze-advanced.panel-outside-org",
    "analyze-advanced.missing-roles",
    "llm-insights.ok",
    "llm-insights.bad-level",
    "llm-insights.async",
    "llm-insights.budget",
    "llm-counterfactual.ok",
    "llm-counterfactual.bad-factor",
    "kse-search.ok",
    "kse-graph-build.ok",
    "kse-graph-build.ok",
    "kse-search.ok",
    "kse-search.no-evidence",
    "kse-search.bad-limit",
    "kse-graph.ok",
    "kse-graph.unknown-node",
    "kse-similar.ok",
    "kse-similar.bad-profile",
    "kse-similar.record",
    "kse-similar.record-no-date",
    "kse-build.poison",
    "kse-build.data-ready",
    "analyze-advanced.async",
    "get-causal-job.not-found",
    "batch-analysis.jobs",
    "store-records.batch",
];

/// Send one sample to its function; the answer as JSON (`status` and `body` for HTTP).
async fn send(deps: &Deps, sample: &str) -> serde_json::Value {
    use liftos::runtime::handlers as h;
    let function = sample.split('.').next().unwrap_or_default();
    let file = format!("{sample}.json");
    let http = |resp: lambda_http::Response<lambda_http::Body>| serde_json::json!({ "status": resp.status().as_u16(), "body": json_body(&resp) });
    match function {
        "batch-analysis" => serde_json::to_value(h::batch_analysis_sqs(deps, sqs_event(&file)).await),
        "store-records" => serde_json::to_value(h::store_records_sqs(deps, sqs_event(&file)).await),
        "transform-records" => serde_json::to_value(h::transform_records_sqs(deps, sqs_event(&file)).await),
        "score-quality" => serde_json::to_value(h::score_quality_sqs(deps, sqs_event(&file)).await),
        "kse-build" => serde_json::to_value(h::kse_build_sqs(deps, sqs_event(&file)).await),
        "sync-connections" => {
            let event: serde_json::Value = serde_json::from_str(&text(&file)).expect("event");
            Ok(match h::sync_event(deps, event).await {
                Ok(v) => serde_json::json!({ "ok": v }),
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            })
        }
        // every HTTP function through the handlers' table (as `liftos serve` routes), so a new
        // endpoint needs no arm here
        _ => {
            let resp = h::dispatch(deps, function, http_request(&file))
                .await
                .unwrap_or_else(|| panic!("{function}: no HTTP handler and no stage arm here"));
            Ok(http(resp))
        }
    }
    .expect("answer as JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_answers_its_pinned_json() {
    let dir = tempfile::tempdir().expect("dir");
    let config = Config::new(Backend::Embedded { data_dir: dir.path().to_path_buf() }, AuthSettings::ApiGateway);
    let deps = Deps {
        config: Arc::new(config),
        stores: Stores::embedded(dir.path()).expect("store"),
        next_queue: None,
        dlq: None,
    };
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut rest: Vec<String> = std::fs::read_dir(golden::golden_dir().join("../../events"))
        .expect("events/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().trim_end_matches(".json").to_string())
        .filter(|name| !SEQUENCE.contains(&name.as_str()))
        .collect();
    rest.sort();
    for sample in SEQUENCE.iter().map(|s| s.to_string()).chain(rest) {
        let sample = sample.as_str();
        let got = if sample == "PIPELINE" {
            let user = UserContext::new(
                OrgId::new("acme").expect("org"),
                "golden".into(),
                vec!["causal_admin".into()],
                vec![],
            );
            let s = liftos::service::pipeline::run_sample_pipeline(&deps.stores, &user, chrono::Utc::now())
                .await
                .expect("pipeline");
            serde_json::to_value(s).expect("summary")
        } else {
            send(&deps, sample).await
        };
        let nth = seen.entry(sample.to_string()).or_insert(0);
        *nth += 1;
        let name = if *nth == 1 { sample.to_string() } else { format!("{sample}.{nth}") };
        problems.extend(golden::check(&format!("events/{name}.json"), &golden::normalise(&got, Some(dir.path()))));
        problems.extend(round_trip(sample, &got));
    }
    assert!(problems.is_empty(), "{} difference(s):\n{}", problems.len(), problems.join("\n"));
}

/// An analysis answer (or a job with its result) reads back into its typed form and writes out
/// the same JSON.
fn round_trip(sample: &str, got: &serde_json::Value) -> Vec<String> {
    use liftos::api::causal::{AnalysisOutput, JobView, Kind};
    let kind = match sample.split('.').next().unwrap_or_default() {
        "analyze-advanced" => Kind::AnalyzeAdvanced,
        "causal-discover" => Kind::Discover,
        "treatment-effect" => Kind::TreatmentEffect,
        _ => return vec![],
    };
    let (status, body) = (got["status"].as_u64().unwrap_or(0), &got["body"]);
    let back = match status {
        200 => AnalysisOutput::from_json(kind, body.clone()).and_then(serde_json::to_value),
        202 => serde_json::from_value::<JobView>(body.clone()).and_then(serde_json::to_value),
        _ => return vec![],
    };
    match back {
        Ok(b) => {
            golden::differences(body, &b).into_iter().map(|d| format!("{sample} (typed round trip): {d}")).collect()
        }
        Err(e) => vec![format!("{sample}: does not read back as its type: {e}")],
    }
}
