//! Throughput of the transform stage, in process: a dropped CSV export of simulated data
//! (3 platforms x 200 campaigns x 90 days = 54,000 campaign-days, with budget changes,
//! seasonality and faults) read, screened, put in context with the stored history, run through
//! treatment and confounder detection and turned into causal records, staged batch written.
//! Also the detection alone. Median of 5 (release build):
//!
//!   cargo bench -p liftos --bench transform

use std::time::Instant;

use liftos::domain::{OrgId, Platform};
use liftos::ingestion::detect::{detect_confounders, detect_treatments, DetectSettings};
use liftos::ingestion::simulate::{simulate, Faults, SimSettings};
use liftos::service::ingestion::{transform_message, RawReady, CONNECTIONS_KEY};
use liftos::storage::Stores;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let s = SimSettings {
        seed: 42,
        platforms: vec![Platform::Linkedin],
        campaigns_per_platform: 600,
        days: 90,
        interventions_per_platform: 120,
        faults: Faults::degraded(),
        ..Default::default()
    };
    let (batch, truth) = simulate(&s);
    let rows = batch.rows.len();
    let mut csv = String::from("date,campaign,spend,impressions,clicks,conversions,revenue\n");
    for r in &batch.rows {
        csv.push_str(&format!(
            "{},{},{:.2},{},{},{:.2},{:.2}\n",
            r.date, r.campaign_id, r.spend, r.impressions, r.clicks, r.conversions, r.revenue
        ));
    }
    let dir = tempfile::tempdir().expect("dir");
    let stores = Stores::embedded(dir.path()).expect("stores");
    let org = OrgId::new("bench").expect("org");
    let conn = serde_json::json!([{ "id": "export", "kind": "file", "platform": "linkedin", "column_map": {
        "date": "date", "campaign_id": "campaign", "spend": "spend", "impressions": "impressions", "clicks": "clicks",
        "conversions": "conversions", "revenue": "revenue" } }]);
    stores.panels.put_panel(&org, CONNECTIONS_KEY, conn.to_string().into_bytes().into()).await.expect("put");
    stores.panels.put_panel(&org, "drop/export/big.csv", csv.into_bytes().into()).await.expect("put");
    let msg = serde_json::to_string(&RawReady {
        org_id: org.clone(),
        connection_id: "export".into(),
        raw_key: "drop/export/big.csv".into(),
    })
    .expect("json");
    let mut stage = Vec::new();
    let mut records = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let staged = transform_message(&stores, None, &msg, truth.now).await.expect("transform");
        stage.push(t.elapsed().as_secs_f64());
        records = staged.records.len();
    }
    let mut detect = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let found = detect_treatments(&batch.rows, &batch.changes, &DetectSettings::default());
        let _ = detect_confounders(&batch.rows, &batch.changes, &found, &[], &DetectSettings::default());
        detect.push(t.elapsed().as_secs_f64());
    }
    let (st, dt) = (median(stage), median(detect));
    println!(
        "{}",
        serde_json::json!({
            "rows": rows, "records": records, "campaigns": s.campaigns_per_platform,
            "transform_stage_s": st, "transform_records_per_s": (records as f64 / st).round(),
            "detection_s": dt, "detection_rows_per_s": (rows as f64 / dt).round(),
        })
    );
}
