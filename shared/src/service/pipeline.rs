//! The main job on the embedded default: ingest the bundled sample data through the same use
//! cases the API calls, query it back, analyse the detected treatment (DiD and synthetic control
//! with the HTML report), and surface where the next dollar should go.

use chrono::{DateTime, Utc};
use liftos_estimators::mmm::{MmmResult, NextTest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::experiments::experiment_causal_data;

use super::ServiceError;
use crate::domain::error::from_json_str;
use crate::domain::{DateRange, NewExperiment, Platform, UserContext};
use crate::storage::{PageRequest, PutOutcome, RecordQuery, Stores};

pub const SAMPLE_RECORDS: &str = include_str!("../../samples/causal_records.json");
pub const SAMPLE_META_INSIGHTS: &str = include_str!("../../samples/exports/meta_insights.json");
pub const SAMPLE_META_ACTIVITIES: &str = include_str!("../../samples/exports/meta_activities.json");
pub const SAMPLE_GOOGLE_REPORT: &str = include_str!("../../samples/exports/google_ads_report.json");
pub const SAMPLE_GOOGLE_CHANGES: &str = include_str!("../../samples/exports/google_ads_changes.json");
pub const SAMPLE_TIKTOK_REPORT: &str = include_str!("../../samples/exports/tiktok_report.json");
pub const SAMPLE_LINKEDIN_CSV: &str = include_str!("../../samples/exports/linkedin_campaigns.csv");
const SAMPLE_TOKEN: &str = "sample-token-not-a-secret";

/// The recorded API responses of the sample accounts.
pub fn sample_recordings() -> crate::ingestion::connectors::replay::Recordings {
    let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or_default();
    let pages = |s: &str| v(s).as_array().cloned().unwrap_or_default();
    crate::ingestion::connectors::replay::Recordings {
        meta_insights: pages(SAMPLE_META_INSIGHTS),
        meta_activities: pages(SAMPLE_META_ACTIVITIES),
        google_report: v(SAMPLE_GOOGLE_REPORT),
        google_changes: v(SAMPLE_GOOGLE_CHANGES),
        tiktok_pages: pages(SAMPLE_TIKTOK_REPORT),
        rate_limit_first: 0,
        token: SAMPLE_TOKEN.into(),
    }
}

/// The sample org's connections: three APIs (at `base_url`) and a LinkedIn CSV export.
pub fn sample_connections(base_url: &str) -> Vec<crate::ingestion::connectors::Connection> {
    let text = format!(
        r#"[
  {{"id": "meta-main", "kind": "meta", "platform": "meta", "account_id": "1234567890", "base_url": "{base_url}",
    "credentials": "meta-main", "timezone": "America/New_York", "currency": "USD", "country": "US"}},
  {{"id": "google-main", "kind": "google_ads", "platform": "google_ads", "account_id": "123-456-7890", "base_url": "{base_url}",
    "credentials": "google-main", "timezone": "America/Los_Angeles", "currency": "USD", "country": "US"}},
  {{"id": "tiktok-eu", "kind": "tiktok", "platform": "tiktok", "account_id": "7012345678901234567", "base_url": "{base_url}",
    "credentials": "tiktok-eu", "timezone": "UTC", "currency": "EUR", "fx_rate": 1.08, "country": "US"}},
  {{"id": "linkedin-export", "kind": "file", "platform": "linkedin", "timezone": "UTC", "country": "US",
    "column_map": {{"date": "Start Date (in UTC)", "campaign_id": "Campaign ID", "campaign_name": "Campaign Name",
      "spend": "Total Spent", "impressions": "Impressions", "clicks": "Clicks", "conversions": "Conversions",
      "revenue": "Conversion Value", "date_format": "%m/%d/%Y"}}}}
]"#
    );
    serde_json::from_str(&text).unwrap_or_default()
}

/// What the ingestion pipeline did with the sample exports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestionSummary {
    pub period: crate::ingestion::connectors::Period,
    pub synced: Vec<super::ingestion::SyncedConnection>,
    pub batches: Vec<BatchSummary>,
    pub records_by_platform: BTreeMap<String, usize>,
    pub stored: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchSummary {
    pub connection_id: String,
    pub platform: String,
    pub records: usize,
    pub quality_score: f64,
    pub quality_components: BTreeMap<String, f64>,
    pub rejected: Vec<super::ingestion::RejectedRow>,
    pub treatments: Vec<crate::ingestion::detect::Intervention>,
    /// (name, confidence, method)
    pub confounders: Vec<(String, f64, String)>,
}

/// Sync -> transform -> quality -> store for the sample accounts, with in-process queues
/// between the stages (the same stage functions the Lambdas run).
pub async fn ingest_sample_exports(
    stores: &Stores,
    user: &UserContext,
    now: DateTime<Utc>,
) -> Result<IngestionSummary, ServiceError> {
    use super::ingestion::{quality_message, sync_org, transform_message, RawReady};
    use crate::storage::embedded::InProcessQueue;
    let stage = |e: super::stage::StageError| {
        ServiceError::from(crate::domain::ValidationError::new("pipeline", e.to_string()))
    };
    let replay = crate::ingestion::connectors::replay::serve(sample_recordings())
        .await
        .map_err(|e| ServiceError::Store(crate::storage::StoreError::backend("replay", e, false)))?;
    let org = &user.org_id;
    let conns = sample_connections(&replay.base_url);
    let put = |key: &'static str, bytes: Vec<u8>| stores.panels.put_panel(org, key, bytes::Bytes::from(bytes));
    put(super::ingestion::CONNECTIONS_KEY, serde_json::to_vec_pretty(&conns).unwrap_or_default()).await?;
    put("drop/linkedin-export/linkedin_campaigns.csv", SAMPLE_LINKEDIN_CSV.as_bytes().to_vec()).await?;
    let creds = crate::ingestion::connectors::StaticCredentials(
        [
            (format!("{org}/meta-main"), SAMPLE_TOKEN.to_string()),
            (
                format!("{org}/google-main"),
                format!(r#"{{"access_token": "{SAMPLE_TOKEN}", "developer_token": "sample-dev-token"}}"#),
            ),
            (format!("{org}/tiktok-eu"), SAMPLE_TOKEN.to_string()),
        ]
        .into_iter()
        .collect(),
    );
    // The sample accounts are replayed on loopback: the one place outside tests that allows it.
    let http =
        crate::ingestion::connectors::http::Http::with_egress(crate::ingestion::connectors::http::Egress::AlsoLoopback)
            .map_err(|e| ServiceError::Store(crate::storage::StoreError::backend("http", e, false)))?;
    let period = crate::ingestion::connectors::Period {
        start: chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or_default(),
        end: chrono::NaiveDate::from_ymd_opt(2026, 10, 12).unwrap_or_default(),
    };
    let (raw_q, staged_q, store_q) = (InProcessQueue::new(), InProcessQueue::new(), InProcessQueue::new());
    tracing::info!("sync: fetching {} API connections", conns.iter().filter(|c| c.column_map.is_none()).count());
    let synced = sync_org(stores, Some(&raw_q), &creds, &http, org, None, period).await.map_err(stage)?;
    let drop = RawReady {
        org_id: org.clone(),
        connection_id: "linkedin-export".into(),
        raw_key: "drop/linkedin-export/linkedin_campaigns.csv".into(),
    };
    crate::storage::Queue::send(
        &raw_q,
        &crate::storage::Message::new(serde_json::to_string(&drop).unwrap_or_default()),
    )
    .await?;
    let mut batches = Vec::new();
    let raws = raw_q.receive(1000);
    for (i, m) in raws.iter().enumerate() {
        tracing::info!("transform: batch {}/{}", i + 1, raws.len());
        let staged = transform_message(stores, Some(&staged_q), &m.body, now).await.map_err(stage)?;
        let s = staged_q.receive(1);
        for sm in s {
            let q = quality_message(stores, Some(&store_q), &sm.body, now).await.map_err(stage)?;
            tracing::info!(batch = %q.batch_id, score = q.score, rejected = q.rejected, "quality");
            batches.push(BatchSummary {
                connection_id: staged.connection_id.clone(),
                platform: staged.platform.to_string(),
                records: q.accepted,
                quality_score: (q.score * 1000.0).round() / 1000.0,
                quality_components: q
                    .report
                    .components
                    .iter()
                    .map(|(k, c)| (k.clone(), (c.score * 1000.0).round() / 1000.0))
                    .collect(),
                rejected: staged.rejected.clone(),
                treatments: staged.interventions.clone(),
                confounders: staged
                    .confounders
                    .iter()
                    .map(|c| (c.name.clone(), (c.confidence * 1000.0).round() / 1000.0, c.method.clone()))
                    .collect(),
            });
        }
    }
    let (mut stored, mut unchanged) = (0, 0);
    let mut records_by_platform = BTreeMap::new();
    let msgs = store_q.receive(100_000);
    tracing::info!("store: {} messages", msgs.len());
    for m in msgs {
        let out = super::stage::store_records_message(stores.records.as_ref(), &m.body).await.map_err(stage)?;
        stored += out.stored;
        unchanged += out.unchanged;
        let parsed: super::stage::StoreRecordsMessage =
            serde_json::from_str(&m.body).map_err(|e| stage(super::stage::StageError::Poison(e.to_string())))?;
        for r in &parsed.records {
            *records_by_platform.entry(r.platform.to_string()).or_insert(0) += 1;
        }
    }
    // The replayed sample accounts are reachable only while this job runs: keep only the
    // connection that needs no server (the export drop), so a later sync does not call a dead URL.
    let lasting: Vec<_> = conns.into_iter().filter(|c| c.column_map.is_some()).collect();
    put(super::ingestion::CONNECTIONS_KEY, serde_json::to_vec_pretty(&lasting).unwrap_or_default()).await?;
    Ok(IngestionSummary { period, synced, batches, records_by_platform, stored, unchanged })
}
pub const SAMPLE_EXPERIMENT: &str = include_str!("../../samples/experiment.json");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlatformSummary {
    pub records: usize,
    pub campaigns: usize,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub spend: f64,
    pub conversions: f64,
    pub revenue: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineSummary {
    pub org_id: String,
    pub experiment_id: String,
    pub experiment_outcome: PutOutcome,
    /// The platform exports through sync, transform, quality and store.
    pub ingestion: IngestionSummary,
    /// Queried back from the store, per platform, over the whole sample range.
    pub stored_by_platform: BTreeMap<String, PlatformSummary>,
    pub experiment_records: usize,
    pub experiment_pages: usize,
    pub record_read_back: bool,
    /// Where the next dollar should go: the revenue-maximising allocation of the current daily
    /// budget across platforms (each within ±30% of its current spend), with the expected gain.
    pub budget_recommendation: BudgetRecommendation,
    /// The test that would settle the most uncertain channel.
    pub proposed_next_test: ProposedTest,
    /// DiD (with event study) and synthetic control (with placebos) on the detected treatment,
    /// from the stored records, with the HTML report.
    pub analysis: AnalysisSummary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnalysisSummary {
    pub treatment: Option<super::source::DetectedTreatment>,
    pub outcome: String,
    /// (method, estimate, ci_low, ci_high)
    pub estimates: Vec<(String, f64, Option<f64>, Option<f64>)>,
    pub summary: String,
    pub checks_passed: usize,
    pub checks_failed: usize,
    /// The report in the panel store (`key`) and a link to it (`url`).
    pub report_key: String,
    pub report_url: String,
    /// The analysis explained for an executive at 95% (as POST /api/v1/llm/causal/insights).
    pub explanation: crate::llm::Insights,
}

/// The request the main job sends to the causal service: both panel methods on the stored
/// records' detected treatment, revenue as the outcome, with the report.
pub const SAMPLE_ANALYSIS: &str = r#"{
  "question": "Did the +30% Meta prospecting budget (from 2026-09-29) cause more revenue?",
  "records": {"experiment_id": "exp-meta-budget-q3"},
  "report": true,
  "mode": "sync",
  "methods": [
    {"method": "did", "outcome": "revenue", "event_study": true},
    {"method": "synth", "outcome": "revenue", "placebo": true}
  ]
}"#;

async fn analyse(stores: &Stores, user: &UserContext, now: DateTime<Utc>) -> Result<AnalysisSummary, ServiceError> {
    use super::causal::{self, AnalysisOutput, Answer, Ctx, Kind, ReportLink};
    let ctx = Ctx { stores, jobs_queue: None, now };
    // The request says `mode: sync`: the answer comes now, never as a job.
    let out = match causal::run(&ctx, user, Kind::AnalyzeAdvanced, SAMPLE_ANALYSIS.as_bytes()).await? {
        Answer::Done(AnalysisOutput::Advanced(a)) => a,
        _ => return Err(crate::domain::ValidationError::new("mode", "the sample analysis must answer at once").into()),
    };
    let ask = crate::api::llm::InsightsRequest {
        analysis: Default::default(),
        confidence_level: 0.95,
        audience: crate::llm::Audience::Executive,
        narrator: Default::default(),
        outcome: Some("revenue".into()),
    };
    let explanation = super::insights::explain(&AnalysisOutput::Advanced(out.clone()), &ask, None)?;
    let (report_key, report_url) = match out.report {
        Some(ReportLink::Stored { key, url, .. }) => (key, url),
        _ => return Err(crate::domain::ValidationError::new("report", "the sample analysis wrote no report").into()),
    };
    let c = out.result.comparison;
    Ok(AnalysisSummary {
        treatment: out.data.treatment,
        outcome: "revenue".into(),
        estimates: c.estimates,
        summary: c.summary,
        checks_passed: c.checks_passed,
        checks_failed: c.checks_failed,
        report_key,
        report_url,
        explanation,
    })
}

/// The budget recommendation: the media mix model on the org's first-party KPI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BudgetRecommendation {
    /// Where the KPI came from (the org's `config/kpi.csv`) and its column.
    pub kpi_source: String,
    pub kpi: String,
    /// Spend per day planned: the last week's average.
    pub daily_budget: f64,
    /// Channels with ROI and marginal ROI intervals, the plan within the supported spend and
    /// ±30% a channel, its gain per day with an interval, the fit and its cross-validation.
    pub model: MmmResult,
}

/// The next test: a switchback on the channel with the weakest evidence, sized by simulation
/// under the model's carry-over and residual autocorrelation.
pub type ProposedTest = Option<NextTest>;

/// The org's first-party KPI, by date (`date` and one KPI column); the sample org's is bundled.
pub const KPI_KEY: &str = "config/kpi.csv";
pub const SAMPLE_KPI: &str = include_str!("../../samples/config/kpi.csv");

/// Run the main job for `user`'s org against `stores`.
pub async fn run_sample_pipeline(
    stores: &Stores,
    user: &UserContext,
    now: DateTime<Utc>,
) -> Result<PipelineSummary, ServiceError> {
    let experiment = from_json_str::<NewExperiment>(SAMPLE_EXPERIMENT)?.into_experiment(&user.org_id, now)?;
    // The sample experiment may have moved on since (its status changed through the API): the
    // stored one stands, and the job carries on with it.
    let experiment_outcome = match stores.experiments.create_experiment(&experiment).await {
        Ok(o) => o,
        Err(crate::storage::StoreError::Conflict { .. }) => {
            tracing::info!(experiment_id = %experiment.id, "the sample experiment exists with changes; kept as stored");
            PutOutcome::Unchanged
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(experiment_id = %experiment.id, outcome = ?experiment_outcome, "experiment");

    let ingestion = ingest_sample_exports(stores, user, now).await?;
    tracing::info!(stored = ingestion.stored, unchanged = ingestion.unchanged, "records ingested");

    let range = DateRange::all();
    let mut stored_by_platform = BTreeMap::new();
    for platform in Platform::ALL {
        let mut s = PlatformSummary {
            records: 0,
            campaigns: 0,
            first: None,
            last: None,
            spend: 0.0,
            conversions: 0.0,
            revenue: 0.0,
        };
        let mut campaigns = std::collections::BTreeSet::new();
        let mut page = PageRequest::first(500);
        loop {
            let got =
                stores.records.query_records(&user.org_id, &RecordQuery::Platform { platform, range }, &page).await?;
            for r in &got.items {
                s.records += 1;
                campaigns.insert(r.campaign_id.clone());
                s.first = Some(s.first.map_or(r.timestamp, |f| f.min(r.timestamp)));
                s.last = Some(s.last.map_or(r.timestamp, |l| l.max(r.timestamp)));
                s.spend += r.metrics.spend;
                s.conversions += r.metrics.conversions;
                s.revenue += r.metrics.revenue;
            }
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        if s.records > 0 {
            s.campaigns = campaigns.len();
            s.spend = (s.spend * 100.0).round() / 100.0;
            s.conversions = (s.conversions * 100.0).round() / 100.0;
            s.revenue = (s.revenue * 100.0).round() / 100.0;
            stored_by_platform.insert(platform.to_string(), s);
        }
    }

    let (mut experiment_records, mut experiment_pages) = (0, 0);
    let mut page = PageRequest::first(50);
    loop {
        let got =
            experiment_causal_data(stores.experiments.as_ref(), stores.records.as_ref(), user, &experiment.id, &page)
                .await?;
        experiment_records += got.records.len();
        experiment_pages += 1;
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }

    let record_read_back = stored_by_platform.values().map(|p| p.records).sum::<usize>() >= ingestion.stored;
    let (budget_recommendation, proposed_next_test) = surface(stores, user).await?;
    let analysis = analyse(stores, user, now).await?;
    tracing::info!(summary = %analysis.summary, report = %analysis.report_key, "analysis");

    Ok(PipelineSummary {
        org_id: user.org_id.to_string(),
        experiment_id: experiment.id,
        experiment_outcome,
        ingestion,
        stored_by_platform,
        experiment_records,
        experiment_pages,
        record_read_back,
        budget_recommendation,
        proposed_next_test,
        analysis,
    })
}

/// The media mix model on the org's own KPI (`config/kpi.csv`; the sample's is stored for it when
/// it has none) and the platforms' stored daily spend: today's budget re-allocated within ±30%
/// and the spend the history supports, and the test that would settle the weakest channel.
async fn surface(stores: &Stores, user: &UserContext) -> Result<(BudgetRecommendation, ProposedTest), ServiceError> {
    use super::surfacing::{history_from_records, OutcomeMetric};
    use crate::domain::ValidationError;
    use liftos_estimators::mmm::{self, MmmInput, MmmSettings, Series};
    let bytes = match stores.panels.get_panel(&user.org_id, KPI_KEY).await? {
        Some(b) => b,
        None => {
            let b = bytes::Bytes::from_static(SAMPLE_KPI.as_bytes());
            stores.panels.put_panel(&user.org_id, KPI_KEY, b.clone()).await?;
            b
        }
    };
    let bad = |m: String| ServiceError::from(ValidationError::new(KPI_KEY, m));
    let table = liftos_estimators::data::Table::from_reader(bytes.as_ref()).map_err(|e| bad(e.to_string()))?;
    let kpi = table
        .names
        .iter()
        .find(|n| n.as_str() != "date")
        .cloned()
        .ok_or_else(|| bad("needs a date column and a KPI column".into()))?;
    let dates = table.labels("date").map_err(|e| bad(e.to_string()))?;
    let days: Vec<i64> = dates
        .iter()
        .enumerate()
        .map(|(i, d)| super::estimate::day_number("date", i, d))
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let values = table.numeric_or_missing(&kpi).map_err(|e| bad(e.to_string()))?.to_vec();
    let history =
        history_from_records(stores.records.as_ref(), user, None, &DateRange::all(), OutcomeMetric::Revenue).await?;
    let epoch = chrono::NaiveDate::default();
    let channels: Vec<Series> = history
        .channels
        .iter()
        .map(|c| {
            let by_day: std::collections::HashMap<i64, f64> = history
                .dates
                .iter()
                .zip(&c.spend)
                .map(|(d, s)| (d.signed_duration_since(epoch).num_days(), *s))
                .collect();
            // A day the platform has no record for is missing, not zero spend.
            Series {
                name: c.channel.clone(),
                values: days.iter().map(|d| *by_day.get(d).unwrap_or(&f64::NAN)).collect(),
            }
        })
        .collect();
    if channels.is_empty() {
        return Err(ValidationError::new("records", "no channels to learn from").into());
    }
    let budget: f64 = history
        .channels
        .iter()
        .map(|c| {
            let k = 7.min(c.spend.len()).max(1);
            c.spend[c.spend.len() - k..].iter().sum::<f64>() / k as f64
        })
        .sum();
    let mut order: Vec<usize> = (0..days.len()).collect();
    order.sort_by_key(|&i| days[i]);
    let pick = |v: &[f64]| order.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let input = MmmInput {
        days: order.iter().map(|&i| days[i]).collect(),
        kpi: pick(&values),
        channels: channels.into_iter().map(|s| Series { values: pick(&s.values), ..s }).collect(),
        controls: vec![],
        lifts: vec![],
    };
    let settings = MmmSettings { budget: Some(budget), max_change: Some(0.3), periods: 7, ..MmmSettings::default() };
    let mut model = mmm::fit(&input, &settings).map_err(|e| bad(format!("{}: {}", e.field, e.message)))?;
    let test = model.next_test.take();
    Ok((BudgetRecommendation { kpi_source: KPI_KEY.into(), kpi, daily_budget: budget, model }, test))
}
