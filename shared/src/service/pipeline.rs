//! The main job on the embedded default: ingest the bundled sample data through the same use
//! cases the API calls, query it back, analyse the detected treatment (DiD and synthetic control
//! with the HTML report), and surface where the next dollar should go.

use chrono::{DateTime, Utc};
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
  {{"id": "linkedin-export", "kind": "file", "platform": "linkedin", "timezone": "UTC", "currency": "USD", "country": "US",
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
    /// Records not applied because the store holds newer data for them (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub superseded: usize,
    /// The records the run handed to the store, each counted once (a campaign's day in two
    /// exports of one run is stored twice, the later over the earlier, and is one record):
    /// what reading back must find.
    #[serde(skip)]
    pub distinct: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchSummary {
    pub connection_id: String,
    pub platform: String,
    pub records: usize,
    pub quality_score: f64,
    /// The batch scored too low (or had nothing usable): none of it was stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quarantined: bool,
    /// Why (its score against the threshold and the components that pulled it down, or nothing
    /// usable), and where the batch is kept; absent when it was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_reason: Option<String>,
    pub quality_components: BTreeMap<String, f64>,
    pub rejected: Vec<super::ingestion::RejectedRow>,
    /// An export's rows in another currency than the connection's (not errors: left for the
    /// connection of their own currency), with their lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<super::ingestion::RejectedRow>,
    pub treatments: Vec<crate::ingestion::detect::Intervention>,
    /// (name, confidence, method)
    pub confounders: Vec<(String, f64, String)>,
}

/// Sync -> transform -> quality -> store for the sample accounts (replayed on loopback) and the
/// sample LinkedIn export.
pub async fn ingest_sample_exports(
    stores: &Stores,
    user: &UserContext,
    now: DateTime<Utc>,
) -> Result<IngestionSummary, ServiceError> {
    let replay = crate::ingestion::connectors::replay::serve(sample_recordings())
        .await
        .map_err(|e| ServiceError::Store(crate::storage::StoreError::backend("replay", e, false)))?;
    let org = &user.org_id;
    let conns = sample_connections(&replay.base_url);
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
    let period = crate::ingestion::connectors::Period {
        start: chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or_default(),
        end: chrono::NaiveDate::from_ymd_opt(2026, 10, 12).unwrap_or_default(),
    };
    let files = vec![ExportFile {
        connection_id: "linkedin-export".into(),
        name: "linkedin_campaigns.csv".into(),
        bytes: SAMPLE_LINKEDIN_CSV.as_bytes().to_vec(),
    }];
    let summary = ingest_connections(stores, user, &conns, files, &creds, period, now).await?;
    // The replayed sample accounts are reachable only while this job runs: keep only the
    // connection that needs no server (the export drop), so a later sync does not call a dead URL.
    let lasting: Vec<_> = conns.into_iter().filter(|c| c.column_map.is_some()).collect();
    stores
        .panels
        .put_panel(
            org,
            super::ingestion::CONNECTIONS_KEY,
            bytes::Bytes::from(serde_json::to_vec_pretty(&lasting).unwrap_or_default()),
        )
        .await?;
    Ok(summary)
}

/// An export file for one of the file connections, read on the operator's machine.
#[derive(Debug, Clone)]
pub struct ExportFile {
    pub connection_id: String,
    /// The file's name (its key under `drop/{connection_id}/`; `.parquet` is read as Parquet).
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The key an export is dropped at: `drop/{connection}/{name}`, the name reduced to
/// `[A-Za-z0-9._-]`.
pub fn drop_key(connection_id: &str, name: &str) -> String {
    let clean: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    format!("drop/{connection_id}/{}", clean.trim_start_matches('.'))
}

/// Read an export as the transform stage will (after any title lines, mapped by the
/// connection's column map), to refuse an unreadable file before anything is stored. The rows
/// it could not read are the transform's to report.
pub fn check_export(conn: &crate::ingestion::connectors::Connection, file: &ExportFile) -> Result<usize, ServiceError> {
    use crate::domain::ValidationError;
    use crate::ingestion::connectors::file;
    let field = |m: String| ServiceError::from(ValidationError::new("file", format!("{}: {m}", file.name)));
    let format = if file.name.ends_with(".parquet") {
        super::source::PanelFormat::Parquet
    } else {
        super::source::PanelFormat::Csv
    };
    let export =
        super::source::read_export(&file.bytes, format, conn.column_map.as_ref()).map_err(|e| field(e.summary()))?;
    let (batch, _) = file::parse(conn, &export.table).map_err(|e| match e {
        crate::ingestion::connectors::ConnectorError::Malformed { field: f, message, .. } if f == "currency" => {
            ServiceError::from(ValidationError::new("currency", format!("{}: {message}", file.name)))
        }
        crate::ingestion::connectors::ConnectorError::Malformed { field: f, message, .. } => {
            let column = f.strip_prefix("column_map: ").unwrap_or(&f);
            ServiceError::from(ValidationError::new("column_map", format!("{column}: {message}")))
        }
        other => field(other.to_string()),
    })?;
    Ok(batch.rows.len())
}

/// The main job's ingestion for `conns` (added to the org's `config/connections.json`,
/// replacing those with the same id): the API connections fetched for `period` with `creds`,
/// the file connections from `files`, each through sync, transform, quality and store. Every
/// connection and file is checked before anything is stored; a file that cannot be read at all
/// (a mapped column missing, not CSV) is an error naming it, with nothing stored.
pub async fn ingest_connections(
    stores: &Stores,
    user: &UserContext,
    conns: &[crate::ingestion::connectors::Connection],
    files: Vec<ExportFile>,
    creds: &dyn crate::ingestion::connectors::Credentials,
    period: crate::ingestion::connectors::Period,
    now: DateTime<Utc>,
) -> Result<IngestionSummary, ServiceError> {
    use super::ingestion::{sync_org, RawReady};
    use crate::domain::ValidationError;
    use crate::ingestion::connectors::{http, ConnectorKind};
    use crate::storage::embedded::InProcessQueue;
    let org = &user.org_id;
    for (i, c) in conns.iter().enumerate() {
        c.validate().map_err(|e| e.within(&format!("connections[{i}]")))?;
    }
    for f in &files {
        let conn =
            conns.iter().find(|c| c.id == f.connection_id && c.kind == ConnectorKind::File).ok_or_else(|| {
                ValidationError::new(
                    "connection_id",
                    format!("no file connection {:?} for {}", f.connection_id, f.name),
                )
            })?;
        check_export(conn, f)?;
    }
    let mut config = super::ingestion::connections(stores, org).await.map_err(stage_error)?;
    config.retain(|c| !conns.iter().any(|n| n.id == c.id));
    config.extend(conns.iter().cloned());
    let encoded = serde_json::to_vec_pretty(&config).map_err(|e| ValidationError::new("connections", e.to_string()))?;
    stores.panels.put_panel(org, super::ingestion::CONNECTIONS_KEY, bytes::Bytes::from(encoded)).await?;

    // The operator's own machine: an API base URL on loopback (a local stand-in) is allowed.
    let client = http::Http::with_egress(http::Egress::AlsoLoopback)
        .map_err(|e| ServiceError::Store(crate::storage::StoreError::backend("http", e, false)))?;
    let raw_q = InProcessQueue::new();
    let mut synced = Vec::new();
    let apis: Vec<_> = conns.iter().filter(|c| c.kind != ConnectorKind::File).collect();
    tracing::info!("sync: fetching {} API connections", apis.len());
    for c in apis {
        synced.extend(
            sync_org(stores, Some(&raw_q), creds, &client, org, Some(&c.id), period).await.map_err(stage_error)?,
        );
    }
    for f in files {
        let key = drop_key(&f.connection_id, &f.name);
        stores.panels.put_panel(org, &key, bytes::Bytes::from(f.bytes)).await?;
        let drop = RawReady { org_id: org.clone(), connection_id: f.connection_id, raw_key: key };
        crate::storage::Queue::send(
            &raw_q,
            &crate::storage::Message::new(serde_json::to_string(&drop).unwrap_or_default()),
        )
        .await?;
    }
    let Stages { batches, stored, unchanged, superseded, records_by_platform, distinct } =
        run_stages(stores, &raw_q, now).await?;
    Ok(IngestionSummary { period, synced, batches, records_by_platform, stored, unchanged, superseded, distinct })
}

/// What `liftos ingest` did with one export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportSummary {
    pub org_id: String,
    pub connection_id: String,
    pub platform: String,
    pub file: String,
    /// Where the export was dropped in the org's panel store.
    pub raw_key: String,
    /// The column map used: the one given, or the one recognised from the export's header.
    pub column_map: crate::ingestion::connectors::file::ColumnMap,
    /// `given` or `detected`.
    pub column_map_source: String,
    /// Records new or changed in the store, and those already stored as they are.
    pub stored: usize,
    pub unchanged: usize,
    /// Records not applied because the store holds newer data for them (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub superseded: usize,
    pub records_by_platform: BTreeMap<String, usize>,
    /// Per batch: `records` stored, `quality_score`, and the `rejected` rows with `line`,
    /// `column` and `reason`.
    pub batches: Vec<BatchSummary>,
}

/// The column map of an export whose header carries its platform's usual names (after any
/// title lines); an error names the file and what is missing.
pub fn detect_export_map(file: &ExportFile) -> Result<crate::ingestion::connectors::file::ColumnMap, ServiceError> {
    use crate::ingestion::connectors::file;
    let field = |m: String| ServiceError::from(crate::domain::ValidationError::new("column_map", m));
    let format = if file.name.ends_with(".parquet") {
        super::source::PanelFormat::Parquet
    } else {
        super::source::PanelFormat::Csv
    };
    // a file that cannot be read is the file's fault, not the map's
    let export = super::source::read_export(&file.bytes, format, None).map_err(|e| {
        let why = e.errors.first().map_or_else(|| e.summary(), |f| f.message.clone());
        ServiceError::from(crate::domain::ValidationError::new("file", format!("{}: {why}", file.name)))
    })?;
    file::detect_map(&export.table).map_err(field)
}

/// One export through transform, quality and store for `conn` (a file connection, added to the
/// org's connections), as a drop of the file would go in the cloud. Dropping the same file
/// again stores nothing new (`unchanged`).
pub async fn ingest_export(
    stores: &Stores,
    user: &UserContext,
    conn: crate::ingestion::connectors::Connection,
    file: ExportFile,
    column_map_source: &str,
    now: DateTime<Utc>,
) -> Result<ExportSummary, ServiceError> {
    let today = now.date_naive();
    let period = crate::ingestion::connectors::Period { start: today, end: today };
    let raw_key = drop_key(&file.connection_id, &file.name);
    let name = file.name.clone();
    let column_map = conn
        .column_map
        .clone()
        .ok_or_else(|| crate::domain::ValidationError::new("column_map", "is required for file connections"))?;
    let s =
        ingest_connections(stores, user, std::slice::from_ref(&conn), vec![file], &NoCredentials, period, now).await?;
    Ok(ExportSummary {
        org_id: user.org_id.to_string(),
        connection_id: conn.id.clone(),
        platform: conn.platform.to_string(),
        file: name,
        raw_key,
        column_map,
        column_map_source: column_map_source.to_string(),
        stored: s.stored,
        unchanged: s.unchanged,
        superseded: s.superseded,
        records_by_platform: s.records_by_platform,
        batches: s.batches,
    })
}

/// Files need no credentials.
struct NoCredentials;

#[async_trait::async_trait]
impl crate::ingestion::connectors::Credentials for NoCredentials {
    async fn secret(
        &self,
        _: &crate::domain::OrgId,
        name: &str,
    ) -> Result<String, crate::ingestion::connectors::ConnectorError> {
        Err(crate::ingestion::connectors::ConnectorError::Credentials {
            name: name.to_string(),
            message: "no credentials are read for a file".into(),
        })
    }
}

/// What the transform, quality and store stages did with the messages of a sync or a drop.
struct Stages {
    batches: Vec<BatchSummary>,
    stored: usize,
    unchanged: usize,
    superseded: usize,
    records_by_platform: BTreeMap<String, usize>,
    distinct: usize,
}

fn stage_error(e: super::stage::StageError) -> ServiceError {
    ServiceError::from(crate::domain::ValidationError::new("pipeline", e.to_string()))
}

/// Transform -> quality -> store for every message on `raw_q`, with in-process queues between
/// the stages (the same stage functions the Lambdas run).
async fn run_stages(
    stores: &Stores,
    raw_q: &crate::storage::embedded::InProcessQueue,
    now: DateTime<Utc>,
) -> Result<Stages, ServiceError> {
    use super::ingestion::{quality_message, transform_message};
    use crate::storage::embedded::InProcessQueue;
    let stage = stage_error;
    let (staged_q, store_q) = (InProcessQueue::new(), InProcessQueue::new());
    let mut batches = Vec::new();
    let raws = raw_q.receive(1000);
    for (i, m) in raws.iter().enumerate() {
        tracing::info!("transform: batch {}/{}", i + 1, raws.len());
        // Each batch produced a microsecond after the one before: where two exports of one run
        // hold the same campaign's day (a folder of weekly downloads that overlap), the later
        // one's figures (a platform's restated conversions) are stored, as they would be had
        // the files been dropped one after the other; at one instant the later was discarded.
        let at = now + chrono::Duration::microseconds(i64::try_from(i).unwrap_or(i64::MAX));
        let staged = transform_message(stores, Some(&staged_q), &m.body, at).await.map_err(stage)?;
        let s = staged_q.receive(1);
        for sm in s {
            let q = quality_message(stores, Some(&store_q), &sm.body, at).await.map_err(stage)?;
            tracing::info!(batch = %q.batch_id, score = q.score, rejected = q.rejected, "quality");
            batches.push(BatchSummary {
                connection_id: staged.connection_id.clone(),
                platform: staged.platform.to_string(),
                records: q.accepted,
                quality_score: (q.score * 1000.0).round() / 1000.0,
                quarantined: q.quarantined_batch,
                quarantine_reason: q.quarantine_reason.clone(),
                quality_components: q
                    .report
                    .components
                    .iter()
                    .map(|(k, c)| (k.clone(), (c.score * 1000.0).round() / 1000.0))
                    .collect(),
                rejected: staged.rejected.clone(),
                left_out: staged.left_out.clone(),
                treatments: staged.interventions.clone(),
                confounders: staged
                    .confounders
                    .iter()
                    .map(|c| (c.name.clone(), (c.confidence * 1000.0).round() / 1000.0, c.method.clone()))
                    .collect(),
            });
        }
    }
    let (mut stored, mut unchanged, mut superseded) = (0, 0, 0);
    let mut records_by_platform = BTreeMap::new();
    let mut keys = std::collections::HashSet::new();
    let msgs = store_q.receive(100_000);
    tracing::info!("store: {} messages", msgs.len());
    for m in msgs {
        let out = super::stage::store_records_message(stores.records.as_ref(), &m.body).await.map_err(stage)?;
        stored += out.stored;
        unchanged += out.unchanged;
        superseded += out.superseded.len();
        let parsed: super::stage::StoreRecordsMessage =
            serde_json::from_str(&m.body).map_err(|e| stage(super::stage::StageError::Poison(e.to_string())))?;
        for r in &parsed.records {
            *records_by_platform.entry(r.platform.to_string()).or_insert(0) += 1;
            keys.insert((r.platform, r.campaign_id.clone(), r.timestamp));
        }
    }
    Ok(Stages { batches, stored, unchanged, superseded, records_by_platform, distinct: keys.len() })
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
    /// The sample's registered experiment (none on the org's own connections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_outcome: Option<PutOutcome>,
    /// The platform exports through sync, transform, quality and store.
    pub ingestion: IngestionSummary,
    /// Queried back from the store, per platform, over the whole sample range.
    pub stored_by_platform: BTreeMap<String, PlatformSummary>,
    pub experiment_records: usize,
    pub experiment_pages: usize,
    pub record_read_back: bool,
    /// Where the next dollar should go: the media mix model on the org's KPI (none without a
    /// first-party KPI: `notes` says so).
    pub budget_recommendation: Option<BudgetRecommendation>,
    /// The test that would settle the most uncertain channel.
    pub proposed_next_test: ProposedTest,
    /// DiD (with event study) and synthetic control (with placebos) on the detected treatment,
    /// from the stored records, with the HTML report (none when the data has no treatment to
    /// analyse: `notes` says why).
    pub analysis: Option<AnalysisSummary>,
    /// What the job could not do on this data, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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

async fn analyse(
    stores: &Stores,
    user: &UserContext,
    request: &str,
    now: DateTime<Utc>,
) -> Result<AnalysisSummary, ServiceError> {
    use super::causal::{self, AnalysisOutput, Answer, Ctx, Kind, ReportLink};
    let ctx = Ctx { stores, jobs_queue: None, now };
    // The request says `mode: sync`: the answer comes now, never as a job.
    let out = match causal::run(&ctx, user, Kind::AnalyzeAdvanced, request.as_bytes()).await? {
        Answer::Done(AnalysisOutput::Advanced(a)) => a,
        _ => return Err(crate::domain::ValidationError::new("mode", "the sample analysis must answer at once").into()),
    };
    let ask = crate::api::llm::InsightsRequest {
        analysis: Default::default(),
        confidence_level: 0.95,
        audience: crate::llm::Audience::Executive,
        narrator: Default::default(),
        outcome: Some("revenue".into()),
        mode: Default::default(),
        level_given: true,
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

pub use super::surfacing::{BudgetRecommendation, ProposedTest, KPI_KEY};
pub const SAMPLE_KPI: &str = include_str!("../../samples/config/kpi.csv");

/// Run the main job for `user`'s org against `stores`.
pub async fn run_sample_pipeline(
    stores: &Stores,
    user: &UserContext,
    now: DateTime<Utc>,
) -> Result<PipelineSummary, ServiceError> {
    let progress = liftos_estimators::parallel::stages(STAGES);
    progress.stage("ingesting the sample exports: sync, transform, quality, store");
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
    progress.advance();
    let mut summary = finish(stores, user, ingestion, true, Ok(SAMPLE_ANALYSIS.to_string()), now, &progress).await?;
    if let Some(b) = summary.budget_recommendation.as_mut() {
        b.currency = super::source::reporting_currency(&sample_connections(""));
    }
    summary.experiment_id = Some(experiment.id);
    summary.experiment_outcome = Some(experiment_outcome);
    summary.experiment_records = experiment_records;
    summary.experiment_pages = experiment_pages;
    Ok(summary)
}

/// The main job on the org's own data (`liftos pipeline --connections`).
pub struct OwnData {
    /// In the format of `config/connections.json`.
    pub connections: Vec<crate::ingestion::connectors::Connection>,
    /// The exports of the file connections.
    pub files: Vec<ExportFile>,
    /// The days the API connections are fetched for.
    pub period: crate::ingestion::connectors::Period,
    /// The org's first-party KPI as CSV (`date` and one KPI column), stored as `config/kpi.csv`.
    pub kpi: Option<Vec<u8>>,
    /// The KPI file's column to plan on, when it holds several (a shop's orders and sales).
    pub kpi_column: Option<String>,
}

/// The main job on the org's own connections: ingest them through sync, transform, quality and
/// store; query the records back; the media mix model on the org's KPI (if it has one); DiD and
/// synthetic control on the most recent detected treatment with a comparison group, with the
/// report and its explanation. What the data cannot support is skipped with the reason in
/// `notes`, never filled with the sample's.
pub async fn run_pipeline(
    stores: &Stores,
    user: &UserContext,
    own: OwnData,
    creds: &dyn crate::ingestion::connectors::Credentials,
    now: DateTime<Utc>,
) -> Result<PipelineSummary, ServiceError> {
    let kpi = own.kpi.as_deref().map(|k| super::surfacing::kpi_csv(k, "kpi", own.kpi_column.as_deref())).transpose()?;
    let progress = liftos_estimators::parallel::stages(STAGES);
    progress.stage("ingesting the connections: sync, transform, quality, store");
    let ingestion = ingest_connections(stores, user, &own.connections, own.files, creds, own.period, now).await?;
    if let Some(kpi) = kpi {
        stores.panels.put_panel(&user.org_id, KPI_KEY, bytes::Bytes::from(kpi)).await?;
    }
    let request = analysis_request(stores, user).await?;
    progress.advance();
    let mut summary = finish(stores, user, ingestion, false, request, now, &progress).await?;
    if let Some(b) = summary.budget_recommendation.as_mut() {
        b.currency = super::source::reporting_currency(&own.connections);
    }
    Ok(summary)
}

/// The main job's question in a marketer's words: the change, the treated campaign by its name
/// (or how many), the platform as it calls itself.
fn question(
    intervention: &str,
    platform: &str,
    treated: &std::collections::BTreeSet<String>,
    names: &BTreeMap<String, String>,
    day: chrono::NaiveDate,
    outcome: &str,
) -> String {
    // (an export of another platform's says nothing of which)
    let platform = match platform.parse::<Platform>() {
        Ok(Platform::Meta) => Some("Meta"),
        Ok(Platform::GoogleAds) => Some("Google Ads"),
        Ok(Platform::Tiktok) => Some("TikTok"),
        Ok(Platform::Linkedin) => Some("LinkedIn"),
        Ok(Platform::Snapchat) => Some("Snapchat"),
        Ok(Platform::Other) | Err(_) => None,
    };
    let on = platform.map_or(String::new(), |p| format!(" on {p}"));
    let change = intervention.replace('_', " ");
    let what = match treated.iter().collect::<Vec<_>>()[..] {
        [one] => match names.get(one) {
            Some(name) => format!("the \"{name}\" campaign{on}"),
            None => format!("campaign {one}{on}"),
        },
        ref many => format!("{} {}campaigns", many.len(), platform.map_or(String::new(), |p| format!("{p} "))),
    };
    format!("Did the {change} of {what} from {day} cause more {outcome}?")
}

/// The analysis of the most recent treatment detected on the stored records that has a
/// comparison group: its platform, treated and comparison campaigns, 8 weeks either side.
async fn analysis_request(stores: &Stores, user: &UserContext) -> Result<Result<String, String>, ServiceError> {
    use crate::domain::TreatmentGroup;
    // (platform, intervention, day) -> (treated, controls, records with revenue)
    type Arms = (std::collections::BTreeSet<String>, std::collections::BTreeSet<String>, usize);
    let mut found: BTreeMap<(String, String, chrono::NaiveDate), Arms> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut revenue = 0.0;
    for platform in Platform::ALL {
        let q = RecordQuery::Platform { platform, range: DateRange::all() };
        let mut page = PageRequest::first(1000);
        loop {
            let got = stores.records.query_records(&user.org_id, &q, &page).await?;
            for r in &got.items {
                revenue += r.metrics.revenue;
                if let Some(n) = r.campaign_name.as_deref().filter(|n| !n.trim().is_empty()) {
                    names.entry(r.campaign_id.clone()).or_insert_with(|| n.trim().to_string());
                }
                if let Some(a) = &r.treatment_assignment {
                    let e = found
                        .entry((r.platform.to_string(), a.intervention.clone(), a.assigned_at.date_naive()))
                        .or_default();
                    match a.group {
                        TreatmentGroup::Treated => e.0.insert(r.campaign_id.clone()),
                        TreatmentGroup::Control => e.1.insert(r.campaign_id.clone()),
                    };
                    e.2 += 1;
                }
            }
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
    }
    let Some(((platform, intervention, day), (treated, controls, _))) =
        found.into_iter().filter(|(_, (t, c, _))| !t.is_empty() && !c.is_empty()).max_by_key(|((_, _, day), _)| *day)
    else {
        return Ok(Err("no analysis: no treatment with a comparison group was detected on the stored records \
                       (a budget change, a launch or a pause of some campaigns while others carried on)"
            .into()));
    };
    let outcome = if revenue > 0.0 { "revenue" } else { "conversions" };
    let campaigns: Vec<String> = treated.iter().chain(&controls).cloned().collect();
    let mut request = serde_json::json!({
        "question": question(&intervention, &platform, &treated, &names, day, outcome),
        "records": {
            "platform": platform,
            "campaigns": campaigns,
            "intervention": intervention,
            "start": (day - chrono::Duration::days(56)).to_string(),
            "end": (day + chrono::Duration::days(56)).to_string(),
        },
        "report": true,
        "mode": "sync",
        "methods": [{"method": "did", "outcome": outcome, "event_study": true}]
    });
    // A synthetic control needs two donors, and its placebo pools three.
    if controls.len() >= 2 {
        if let Some(m) = request["methods"].as_array_mut() {
            m.push(serde_json::json!({"method": "synth", "outcome": outcome, "placebo": controls.len() >= 3}));
        }
    }
    Ok(Ok(request.to_string()))
}

/// The main job's stages as its progress shows them: the ingestion, then [`finish`]'s three.
const STAGES: usize = 4;

/// What every run of the main job does after ingesting: read the records back, the budget plan
/// on the KPI, the analysis (`request`, or why there is none) with its report and explanation.
async fn finish(
    stores: &Stores,
    user: &UserContext,
    ingestion: IngestionSummary,
    sample_kpi: bool,
    request: Result<String, String>,
    now: DateTime<Utc>,
    progress: &liftos_estimators::parallel::Steps,
) -> Result<PipelineSummary, ServiceError> {
    tracing::info!(stored = ingestion.stored, unchanged = ingestion.unchanged, "records ingested");
    progress.stage("reading the stored records back");
    let mut notes = Vec::new();
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

    let record_read_back = stored_by_platform.values().map(|p| p.records).sum::<usize>() >= ingestion.distinct;
    progress.advance();
    progress.stage("budget plan: the media mix model on the KPI");
    let (budget_recommendation, proposed_next_test) = match surface(stores, user, sample_kpi).await {
        Ok(Some((b, t))) => (Some(b), t),
        Ok(None) => {
            notes.push(format!(
                "no budget plan: the org has no first-party KPI ({KPI_KEY}; pass --kpi with a date column and \
                 the KPI's): platform-attributed conversions do not measure what the spend caused"
            ));
            (None, None)
        }
        Err(e) if !sample_kpi => {
            notes.push(format!("no budget plan: {e}"));
            (None, None)
        }
        Err(e) => return Err(e),
    };
    progress.advance();
    progress.stage("analysis: the estimates, their checks, the report and its explanation");
    let analysis = match request {
        Ok(request) => match analyse(stores, user, &request, now).await {
            Ok(a) => {
                tracing::info!(summary = %a.summary, report = %a.report_key, "analysis");
                Some(a)
            }
            Err(e) if !sample_kpi => {
                notes.push(format!("no analysis: {e}"));
                None
            }
            Err(e) => return Err(e),
        },
        Err(why) => {
            notes.push(why);
            None
        }
    };
    progress.advance();

    Ok(PipelineSummary {
        org_id: user.org_id.to_string(),
        experiment_id: None,
        experiment_outcome: None,
        ingestion,
        stored_by_platform,
        experiment_records: 0,
        experiment_pages: 0,
        record_read_back,
        budget_recommendation,
        proposed_next_test,
        analysis,
        notes,
    })
}

/// The media mix model on the org's own KPI (`config/kpi.csv`; the sample's is stored for it when
/// it has none and `sample_fallback`): see `surfacing::kpi_plan`.
async fn surface(
    stores: &Stores,
    user: &UserContext,
    sample_fallback: bool,
) -> Result<Option<(BudgetRecommendation, ProposedTest)>, ServiceError> {
    if sample_fallback && stores.panels.get_panel(&user.org_id, KPI_KEY).await?.is_none() {
        stores.panels.put_panel(&user.org_id, KPI_KEY, bytes::Bytes::from_static(SAMPLE_KPI.as_bytes())).await?;
    }
    super::surfacing::kpi_plan(stores, user).await
}

#[cfg(test)]
mod overlap_tests {
    use super::{ingest_connections, ExportFile, NoCredentials};
    use crate::domain::{DateRange, OrgId, Platform, UserContext};
    use crate::storage::{PageRequest, RecordQuery, Stores};

    const WEEK1: &str = "Day,Campaign ID,Cost,Conversions\n2026-11-01,7,10,1\n2026-11-02,7,11,2\n2026-11-03,7,12,3\n";
    const WEEK2: &str = "Day,Campaign ID,Cost,Conversions\n2026-11-03,7,12,5\n2026-11-04,7,13,4\n";

    /// Two overlapping weekly downloads in one run (a folder): the later one's restated day is
    /// stored, as it would be had they been dropped one after the other (at one instant it was
    /// dropped silently). A run older than what is stored applies nothing and says how much.
    #[tokio::test]
    async fn the_later_of_two_overlapping_exports_wins_and_older_data_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let stores = Stores::embedded(dir.path()).unwrap();
        let user = UserContext::new(OrgId::new("o").unwrap(), "u".into(), vec!["causal_admin".into()], vec![]);
        let conn: crate::ingestion::connectors::Connection = serde_json::from_value(serde_json::json!({
            "id": "g", "kind": "file", "platform": "google_ads",
            "column_map": {"date": "Day", "campaign_id": "Campaign ID", "spend": "Cost", "conversions": "Conversions"},
        }))
        .unwrap();
        let file = |name: &str, text: &str| ExportFile {
            connection_id: "g".into(),
            name: name.into(),
            bytes: text.as_bytes().to_vec(),
        };
        let now = chrono::Utc::now();
        let period = crate::ingestion::connectors::Period { start: now.date_naive(), end: now.date_naive() };
        let run = |files: Vec<ExportFile>, at: chrono::DateTime<chrono::Utc>| {
            let (stores, user, conn) = (&stores, &user, conn.clone());
            async move { ingest_connections(stores, user, &[conn], files, &NoCredentials, period, at).await.unwrap() }
        };
        let s = run(vec![file("week1.csv", WEEK1), file("week2.csv", WEEK2)], now).await;
        assert_eq!((s.stored, s.unchanged, s.superseded), (5, 0, 0));
        let conversions = || async {
            let q = RecordQuery::Campaign {
                platform: Platform::GoogleAds,
                campaign_id: "7".into(),
                range: DateRange::all(),
            };
            let got = stores.records.query_records(&user.org_id, &q, &PageRequest::first(100)).await.unwrap();
            let mut v: Vec<f64> = got.items.iter().map(|r| r.metrics.conversions).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        assert_eq!(conversions().await, [1.0, 2.0, 4.0, 5.0], "the restated 5, not the first 3");
        // an earlier run's figures arrive after the newer ones: not applied, and counted
        let older = "Day,Campaign ID,Cost,Conversions\n2026-11-03,7,12,9\n2026-11-04,7,13,9\n";
        let s = run(vec![file("late.csv", older)], now - chrono::Duration::hours(1)).await;
        assert_eq!((s.stored, s.superseded), (0, 2));
        assert_eq!(conversions().await, [1.0, 2.0, 4.0, 5.0]);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["superseded"], 2);
    }
}

#[cfg(test)]
mod question_tests {
    use std::collections::{BTreeMap, BTreeSet};

    /// The question names the change, the campaign and the platform as a marketer would, not
    /// by the store's identifiers (before: "Did the budget_increase on google_ads from ...").
    #[test]
    fn the_main_jobs_question_is_in_a_marketers_words() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 5).unwrap();
        let one: BTreeSet<String> = ["20123456782".to_string()].into();
        let names: BTreeMap<String, String> = [("20123456782".to_string(), "Generic Search".to_string())].into();
        assert_eq!(
            super::question("budget_increase", "google_ads", &one, &names, day, "revenue"),
            "Did the budget increase of the \"Generic Search\" campaign on Google Ads from 2026-11-05 cause more revenue?"
        );
        assert_eq!(
            super::question("launch", "tiktok", &one, &BTreeMap::new(), day, "conversions"),
            "Did the launch of campaign 20123456782 on TikTok from 2026-11-05 cause more conversions?"
        );
        let two: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        assert_eq!(
            super::question("pause", "other", &two, &names, day, "revenue"),
            "Did the pause of 2 campaigns from 2026-11-05 cause more revenue?"
        );
        assert_eq!(
            super::question("pause", "meta", &two, &names, day, "revenue"),
            "Did the pause of 2 Meta campaigns from 2026-11-05 cause more revenue?"
        );
    }
}

#[cfg(test)]
mod kpi_tests {
    fn kpi_csv(bytes: &[u8]) -> Result<Vec<u8>, crate::service::ServiceError> {
        crate::service::surfacing::kpi_csv(bytes, "kpi", None)
    }

    fn kpi(text: &str) -> Result<String, String> {
        kpi_csv(text.as_bytes()).map(|b| String::from_utf8(b).unwrap()).map_err(|e| e.to_string())
    }

    /// A shop's export of several figures a day (Shopify's sales over time) plans on the column
    /// named (`--kpi-column`, its case as typed); without one it is refused naming them all, and
    /// a name it does not hold is refused naming the columns it has.
    #[test]
    fn a_kpi_file_of_several_figures_plans_on_the_column_named() {
        let shop =
            "Day,Orders,Gross sales,Net sales,Total sales\n2026-11-01,12,\"$1,100.00\",\"$1,024.50\",\"$1,090.00\"\n\
                    2026-11-02,9,$990.00,$921.00,$980.50\n";
        let with = |c: &str| {
            crate::service::surfacing::kpi_csv(shop.as_bytes(), "kpi", Some(c))
                .map(|b| String::from_utf8(b).unwrap())
                .map_err(|e| e.to_string())
        };
        assert_eq!(with("Net sales").unwrap(), "date,Net sales\n2026-11-01,1024.5\n2026-11-02,921\n");
        assert_eq!(with("net SALES").unwrap(), with("Net sales").unwrap());
        assert_eq!(with("Orders").unwrap(), "date,Orders\n2026-11-01,12\n2026-11-02,9\n");
        let e = kpi(shop).unwrap_err();
        assert!(e.contains("holds 4 columns beside \"Day\" (Orders, Gross sales, Net sales, Total sales)"), "{e}");
        assert!(e.contains("--kpi-column"), "{e}");
        let e = crate::service::surfacing::kpi_csv(shop.as_bytes(), "kpi", Some("Revenue")).unwrap_err();
        match e {
            crate::service::ServiceError::Validation(v) => {
                assert_eq!(v.field(), "kpi_column");
                assert!(
                    v.summary().contains("(it has: Orders, Gross sales, Net sales, Total sales)"),
                    "{}",
                    v.summary()
                );
            }
            e => panic!("{e}"),
        }
    }

    /// A KPI file as order systems and spreadsheets write it becomes `date,<kpi>` with ISO dates.
    #[test]
    fn a_users_kpi_file_is_read_in_its_own_formats() {
        let iso = "date,orders\n2026-11-01,12\n2026-11-02,\n2026-11-03,14.5\n";
        assert_eq!(kpi(iso).unwrap(), iso);
        let us = "Shop report\nDate,Revenue\n11/01/2026,\"$1,024.50\"\n11/02/2026,\"$998.00\"\n";
        assert_eq!(kpi(us).unwrap(), "date,Revenue\n2026-11-01,1024.5\n2026-11-02,998\n");
        let named = "Day,Sign-ups\n\"Nov 1, 2026\",3\n\"Nov 2, 2026\",4\n";
        assert_eq!(kpi(named).unwrap(), "date,Sign-ups\n2026-11-01,3\n2026-11-02,4\n");
        let tabs: Vec<u8> = "Week\tOrders\n2026-11-02\t70\n2026-11-09\t75\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>();
        let bom: Vec<u8> = [0xFF, 0xFE].into_iter().chain(tabs).collect();
        assert_eq!(String::from_utf8(kpi_csv(&bom).unwrap()).unwrap(), "date,Orders\n2026-11-02,70\n2026-11-09,75\n");
        // a German spreadsheet's: semicolons, decimal commas, day-first dates
        let german = "Datum;Umsatz\n01.11.2026;1.024,50 €\n02.11.2026;998,00 €\n";
        assert_eq!(kpi(german).unwrap(), "date,Umsatz\n2026-11-01,1024.5\n2026-11-02,998\n");
        let per_week = "Orders per week,Week\n70,2026-11-02\n75,2026-11-09\n";
        assert_eq!(kpi(per_week).unwrap(), "date,Orders per week\n2026-11-02,70\n2026-11-09,75\n");
        let french = "Semaine;Commandes\n02/11/2026;70\n09/11/2026;75\n";
        assert_eq!(kpi(french).unwrap(), "date,Commandes\n2026-11-02,70\n2026-11-09,75\n");
        let numeric = "date,orders\n20261101,5\n20261102,6\n";
        assert_eq!(kpi(numeric).unwrap(), "date,orders\n2026-11-01,5\n2026-11-02,6\n");
        // Google Analytics 4's download: `#` lines above the header, days as YYYYMMDD sorted by
        // the first figure, and a `Grand total` row (not a day; before, the file was refused)
        let ga4 = "# ----------------------------------------\n# Free form 1\n# Property: Acme\n\
                   # ----------------------------------------\n#\n# Start date: 20261101\n\
                   Date,Purchase revenue\n20261102,998.5\nGrand total,2022.5\n20261101,1024\n";
        assert_eq!(kpi(ga4).unwrap(), "date,Purchase revenue\n2026-11-02,998.5\n2026-11-01,1024\n");
        let german_total = "Datum;Umsatz\n01.11.2026;1.024,50\nGesamtsumme;1.024,50\n";
        assert_eq!(kpi(german_total).unwrap(), "date,Umsatz\n2026-11-01,1024.5\n");
    }

    #[test]
    fn a_kpi_file_that_cannot_be_read_is_refused_saying_where() {
        let e = kpi("date,orders,revenue\n2026-11-01,1,2\n").unwrap_err();
        assert!(e.contains("2 columns beside") && e.contains("orders, revenue"), "{e}");
        let e = kpi("when,orders\n2026-11-01,1\n").unwrap_err();
        assert!(e.contains("needs a date column") && e.contains("when, orders"), "{e}");
        let e = kpi("date,orders\n2026-11-01,1\n2026-11-02,lots\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("\"lots\""), "{e}");
        let e = kpi("date,orders\n2026-11-01,1\n2026-11-02,2\n2026-11-03,3\n2026-11-04,4\n2026-11-05,5\n2026-11-06,6\n2026-11-07,7\n2026-11-08,8\n2026-11-09,9\n2026-11-10,10\nsoon,11\n").unwrap_err();
        assert!(e.contains("line 12") && e.contains("\"soon\""), "{e}");
        assert!(kpi("date\n2026-11-01\n").unwrap_err().contains("needs a KPI column"));
        let e = kpi("Date,Revenue\n11/01/2026,5\n11/02/2026,6\n11/02/2026,7\n").unwrap_err();
        assert!(e.contains("line 4: 2026-11-02 is on line 3 too"), "{e}");
        // below a title and a blank line, the lines are still the file's
        let e = kpi("Orders\ndate;orders\n2026-11-01;1\n\n2026-11-02;lots\n").unwrap_err();
        assert!(e.contains("line 5") && e.contains("\"lots\""), "{e}");
        let e = kpi("date,orders\n2026-11-01,1\n\n2026-11-02,2,3\n").unwrap_err();
        assert!(e.contains("line 4: has 3 fields where the header has 2"), "{e}");
        assert_eq!(
            kpi("date,orders\n2026-11-01,1\n\n2026-11-02,2\n").unwrap(),
            "date,orders\n2026-11-01,1\n2026-11-02,2\n"
        );
    }
}

#[cfg(test)]
mod currency_tests {
    use super::sample_connections;
    use crate::ingestion::connectors::Connection;
    use crate::service::source::reporting_currency;

    fn conn(currency: Option<&str>, fx: f64) -> Connection {
        let mut c = sample_connections("").remove(0);
        c.currency = currency.map(str::to_string);
        c.fx_rate = fx;
        c
    }

    #[test]
    fn the_reporting_currency_is_the_one_the_unconverted_connections_agree_on() {
        // the sample: two USD accounts at 1.0, a EUR account converted at 1.08
        assert_eq!(reporting_currency(&sample_connections("")), Some("USD".into()));
        assert_eq!(reporting_currency(&[conn(Some("usd"), 1.0), conn(None, 1.0)]), Some("USD".into()));
        // disagreement, or nobody naming it: no currency is claimed
        assert_eq!(reporting_currency(&[conn(Some("USD"), 1.0), conn(Some("GBP"), 1.0)]), None);
        assert_eq!(reporting_currency(&[conn(None, 1.0), conn(Some("EUR"), 1.08)]), None);
        assert_eq!(reporting_currency(&[]), None);
    }
}
