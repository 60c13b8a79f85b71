//! The ingestion pipeline's stages, chained by queue messages. Every stage is idempotent: its
//! outputs have keys derived from its input (the raw object's key), and the records' `updated_at`
//! is the raw data's fetch time, so a redelivered message rewrites the same objects and the
//! store finds the records unchanged.
//!
//! 1. **sync**: for each configured connection of an org (`config/connections.json` under the
//!    org), fetch the period from the platform's API and land the raw pages in S3
//!    (`raw/{connection}/{start}_{end}.json`); or take an export dropped under
//!    `drop/{connection}/`. The message carries the S3 key, never the payload.
//! 2. **transform**: parse to rows and changes, screen the rows, load the last 30 days of the
//!    same campaigns from the store, detect interventions and confounders, link interventions
//!    to registered experiments, and build causal records (`staged/{batch}.json`).
//! 3. **quality**: score the batch and each record; quarantine rejected rows with their reason
//!    (`quarantine/{batch}.json`) or the whole batch below the minimum score; record the
//!    confounders; send the records to the store stage in messages under 256 KB.
//! 4. **store** ([`super::stage`]): write, then announce that new causal data is ready.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::stage::{StageError, StoreRecordsMessage};
pub use crate::api::ingestion::SyncedConnection;
use crate::domain::{
    Confounder, ConfounderVariable, Metrics, NewCausalRecord, OrgId, Platform, TemporalPattern, TreatmentAssignment,
    TreatmentGroup, VariableType,
};
use crate::ingestion::connectors::{
    self, file, http::Http, Connection, ConnectorKind, Credentials, Period, RawPayload,
};
use crate::ingestion::detect::{
    detect_confounders, detect_treatments, DetectSettings, DetectedConfounder, ExternalSeries, Intervention,
};
use crate::ingestion::quality::{self, QualityReport};
use crate::ingestion::{DailyRow, PlatformBatch};
use crate::storage::{Message, PageRequest, Queue, RecordQuery, StoreError, Stores};

pub const CONNECTIONS_KEY: &str = "config/connections.json";
/// Days of stored history loaded for the same campaigns.
pub const HISTORY_DAYS: i64 = 30;
/// A batch scoring below this is quarantined whole.
pub const MIN_BATCH_SCORE: f64 = 0.5;
/// Records per store message (a record is about 600 bytes of JSON: well under 256 KB).
pub const RECORDS_PER_MESSAGE: usize = 250;

fn transient(e: StoreError) -> StageError {
    StageError::from(e)
}

fn poison(e: impl std::fmt::Display) -> StageError {
    StageError::Poison(e.to_string())
}

fn json<T: Serialize>(v: &T) -> Result<bytes::Bytes, StageError> {
    serde_json::to_vec(v).map(bytes::Bytes::from).map_err(poison)
}

async fn send(queue: Option<&dyn Queue>, body: String, kind: &str) -> Result<(), StageError> {
    match queue {
        Some(q) => q.send(&Message::new(body).with_attribute("liftos_kind", kind)).await.map_err(transient),
        None => Err(StageError::Transient("no next queue is configured".into())),
    }
}

/// The org's connections.
pub async fn connections(stores: &Stores, org: &OrgId) -> Result<Vec<Connection>, StageError> {
    let Some(bytes) = stores.panels.get_panel(org, CONNECTIONS_KEY).await.map_err(transient)? else {
        return Ok(vec![]);
    };
    let list: Vec<Connection> = serde_json::from_slice(&bytes)
        .map_err(|e| StageError::Poison(format!("{CONNECTIONS_KEY}: not a list of connections: {e}")))?;
    for (i, c) in list.iter().enumerate() {
        c.validate().map_err(|e| StageError::Poison(format!("{CONNECTIONS_KEY}[{i}]: {}", e.summary())))?;
    }
    Ok(list)
}

/// The series the org supplies (`config/external_series.csv` under the org: `date,name,value`
/// rows: a promotions calendar, prices, weather, competitor activity), tested as confounders.
pub const EXTERNAL_SERIES_KEY: &str = "config/external_series.csv";

pub async fn external_series(stores: &Stores, org: &OrgId) -> Result<Vec<ExternalSeries>, StageError> {
    let Some(bytes) = stores.panels.get_panel(org, EXTERNAL_SERIES_KEY).await.map_err(transient)? else {
        return Ok(vec![]);
    };
    let mut by: BTreeMap<String, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    let mut reader = csv::Reader::from_reader(bytes.as_ref());
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| StageError::Poison(format!("{EXTERNAL_SERIES_KEY}: row {}: {e}", i + 1)))?;
        let bad = |what: &str| StageError::Poison(format!("{EXTERNAL_SERIES_KEY}: row {}: {what}", i + 1));
        let date: NaiveDate =
            rec.get(0).and_then(|d| d.trim().parse().ok()).ok_or_else(|| bad("date is not YYYY-MM-DD"))?;
        let name = rec.get(1).map(str::trim).filter(|n| !n.is_empty()).ok_or_else(|| bad("name is empty"))?;
        let value: f64 = rec.get(2).and_then(|v| v.trim().parse().ok()).ok_or_else(|| bad("value is not a number"))?;
        by.entry(name.to_string()).or_default().insert(date, value);
    }
    Ok(by.into_iter().map(|(name, values)| ExternalSeries { name, values }).collect())
}

/// A raw object is ready for the transform stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReady {
    pub org_id: OrgId,
    pub connection_id: String,
    pub raw_key: String,
}

/// The default period: yesterday (in UTC) and the day before, so late-reported conversions of
/// the previous day are refreshed.
pub fn default_period(now: DateTime<Utc>) -> Period {
    let end = now.date_naive() - Duration::days(1);
    Period { start: end - Duration::days(1), end }
}

/// The scheduled sync's fan-out: one message per org and API connection (an org whose id or
/// configuration is unusable is reported with the reason; the others go on).
pub async fn fan_out(
    stores: &Stores,
    queue: &dyn Queue,
    orgs: &[String],
    period: Period,
) -> BTreeMap<String, Result<Vec<String>, String>> {
    let mut out = BTreeMap::new();
    for o in orgs {
        let result = async {
            let org = OrgId::new(o).map_err(|e| e.summary())?;
            let conns = connections(stores, &org).await.map_err(|e| e.reason())?;
            let mut queued = Vec::new();
            for c in conns.iter().filter(|c| c.kind != ConnectorKind::File) {
                let m = crate::api::ingestion::SyncConnectionMessage {
                    org_id: org.clone(),
                    connection_id: c.id.clone(),
                    period,
                };
                let body = serde_json::to_string(&m).map_err(|e| e.to_string())?;
                queue.send(&Message::new(body).with_attribute("liftos_kind", "sync_connection")).await.map_err(
                    |e| {
                        tracing::error!(org_id = %org, error = %e, "fan-out");
                        "the sync could not be queued".to_string()
                    },
                )?;
                queued.push(c.id.clone());
            }
            Ok::<_, String>(queued)
        }
        .await;
        if let Err(e) = &result {
            tracing::warn!(org = %o, error = %e, "scheduled sync: this org is skipped");
        }
        out.insert(o.clone(), result);
    }
    out
}

/// One queued connection sync: a failure the platform may get over is transient (the queue
/// redelivers it), any other is poison (to the DLQ with its reason).
pub async fn sync_connection_message(
    stores: &Stores,
    next: Option<&dyn Queue>,
    creds: &dyn Credentials,
    http: &Http,
    body: &str,
) -> Result<SyncedConnection, StageError> {
    let m: crate::api::ingestion::SyncConnectionMessage = crate::domain::error::from_json_str(body)?;
    let mut synced = sync_org(stores, next, creds, http, &m.org_id, Some(&m.connection_id), m.period).await?;
    let one = synced
        .pop()
        .ok_or_else(|| StageError::Poison(format!("connection_id: {:?} is a file connection", m.connection_id)))?;
    match &one.error {
        None => Ok(one),
        Some(e) if one.retryable => Err(StageError::Transient(e.clone())),
        Some(e) => Err(StageError::Poison(e.clone())),
    }
}

/// Sync every API connection of `org` (or only `only`): fetch, land the raw pages, queue them.
/// A connection that fails is reported and the others go on.
pub async fn sync_org(
    stores: &Stores,
    next: Option<&dyn Queue>,
    creds: &dyn Credentials,
    http: &Http,
    org: &OrgId,
    only: Option<&str>,
    period: Period,
) -> Result<Vec<SyncedConnection>, StageError> {
    let mut out = Vec::new();
    let conns = connections(stores, org).await?;
    if let Some(id) = only {
        if !conns.iter().any(|c| c.id == id) {
            return Err(crate::domain::ValidationError::new(
                "connection_id",
                format!("no connection {id:?} is configured"),
            )
            .into());
        }
    }
    for c in conns.iter().filter(|c| only.is_none_or(|id| c.id == id)).filter(|c| c.kind != ConnectorKind::File) {
        // Failures are (retryable, what to tell the caller).
        let result = async {
            let secret = match &c.credentials {
                Some(name) => creds.secret(org, name).await.map_err(|e| (e.is_retryable(), e.to_string()))?,
                None => String::new(),
            };
            let raw =
                connectors::fetch(c, period, &secret, http).await.map_err(|e| (e.is_retryable(), e.to_string()))?;
            let key = format!("raw/{}/{}_{}.json", c.id, period.start, period.end);
            // Storage and queue failures are logged with their detail; the caller is told what
            // failed, not the backend's context.
            let internal = |what: &str, e: &dyn std::fmt::Display| {
                tracing::error!(org_id = %org, connection = %c.id, error = %e, "{what}");
                (true, format!("{what}; retry"))
            };
            let bytes = json(&raw).map_err(|e| internal("the raw pages could not be encoded", &e))?;
            stores
                .panels
                .put_panel(org, &key, bytes)
                .await
                .map_err(|e| internal("the raw pages could not be stored", &e))?;
            let msg = RawReady { org_id: org.clone(), connection_id: c.id.clone(), raw_key: key.clone() };
            let body = serde_json::to_string(&msg).map_err(|e| internal("the message could not be encoded", &e))?;
            send(next, body, "raw_ready").await.map_err(|e| internal("the next stage could not be queued", &e))?;
            Ok::<_, (bool, String)>((key, raw.report.len() + raw.history.len()))
        }
        .await;
        match result {
            Ok((key, pages)) => {
                tracing::info!(org_id = %org, connection = %c.id, %key, pages, "synced");
                out.push(SyncedConnection {
                    connection_id: c.id.clone(),
                    platform: c.platform,
                    raw_key: Some(key),
                    pages,
                    error: None,
                    retryable: false,
                })
            }
            Err((retryable, e)) => {
                tracing::warn!(org_id = %org, connection = %c.id, error = %e, "sync failed");
                out.push(SyncedConnection {
                    connection_id: c.id.clone(),
                    platform: c.platform,
                    raw_key: None,
                    pages: 0,
                    error: Some(e),
                    retryable,
                })
            }
        }
    }
    Ok(out)
}

/// An export dropped at `orgs/{org}/drop/{connection}/{file}` (an S3 object key; `.csv`, `.tsv`,
/// `.parquet`, or an Excel workbook, `.xlsx`, `.xls`, `.ods`): queue it for the transform stage. Keys elsewhere are not exports and are
/// ignored (None).
/// The endings of the files read as exports.
pub const EXPORT_EXTENSIONS: [&str; 6] = ["csv", "tsv", "parquet", "xlsx", "xls", "ods"];

pub fn dropped_file(object_key: &str) -> Option<RawReady> {
    let rest = object_key.strip_prefix("orgs/")?;
    let (org, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("drop/")?;
    let (connection, file) = rest.split_once('/')?;
    if file.is_empty() || !EXPORT_EXTENSIONS.iter().any(|x| file.ends_with(&format!(".{x}"))) {
        return None;
    }
    Some(RawReady {
        org_id: OrgId::new(org).ok()?,
        connection_id: connection.to_string(),
        raw_key: format!("drop/{connection}/{file}"),
    })
}

/// What the transform stage hands to the quality stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedBatch {
    pub org_id: OrgId,
    pub batch_id: String,
    pub connection_id: String,
    pub platform: Platform,
    pub raw_key: String,
    /// The raw data's time: the records' `updated_at`.
    pub produced_at: DateTime<Utc>,
    /// The new rows that passed the screen, and their records (same order).
    pub rows: Vec<DailyRow>,
    pub records: Vec<NewCausalRecord>,
    /// Rows the screen or the export's parser refused, with why.
    pub rejected: Vec<RejectedRow>,
    /// An export's rows of another currency than the connection's: not errors, so not counted
    /// against the batch; left for the connection of their own currency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<RejectedRow>,
    pub interventions: Vec<Intervention>,
    pub confounders: Vec<DetectedConfounder>,
    pub history_rows: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// `row 12` of an export, or `campaign 123 on 2026-09-01`.
    pub at: String,
    pub reason: String,
    /// An export's row: its line in the file (the header's line plus the row number; for
    /// Parquet the row number plus 1) and the column that could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

impl RejectedRow {
    fn of(at: String, reason: String) -> Self {
        Self { at, reason, line: None, column: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Staged {
    pub org_id: OrgId,
    pub staged_key: String,
}

fn batch_id(raw_key: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(raw_key.as_bytes());
    h.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn record_to_row(r: &crate::domain::CausalMarketingData) -> DailyRow {
    DailyRow {
        platform: r.platform,
        campaign_id: r.campaign_id.clone(),
        campaign_name: None,
        date: crate::ingestion::local_day(r.timestamp),
        timestamp: r.timestamp,
        spend: r.metrics.spend,
        impressions: r.metrics.impressions as f64,
        clicks: r.metrics.clicks as f64,
        conversions: r.metrics.conversions,
        revenue: r.metrics.revenue,
        extra: r.metrics.extra.clone(),
    }
}

/// The transform stage for one message.
pub async fn transform_message(
    stores: &Stores,
    next: Option<&dyn Queue>,
    body: &str,
    now: DateTime<Utc>,
) -> Result<StagedBatch, StageError> {
    let msg: RawReady =
        serde_json::from_str(body).map_err(|e| StageError::Poison(format!("not a raw-ready message: {e}")))?;
    let org = msg.org_id.clone();
    let (raw_bytes, written_at) = stores
        .panels
        .get_panel_with_time(&org, &msg.raw_key)
        .await
        .map_err(transient)?
        .ok_or_else(|| StageError::Poison(format!("raw_key: no object {:?} under org {org}", msg.raw_key)))?;
    let mut rejected = Vec::new();
    let mut left_out = Vec::new();
    // An export's rows: the line each of the batch's rows was first read from, so that the
    // quality stage's and the store's rejections name it too (none for an API's rows).
    let mut lines: Vec<usize> = Vec::new();
    let (conn, batch, produced_at) = if msg.raw_key.starts_with("drop/") {
        let conn = connections(stores, &org)
            .await?
            .into_iter()
            .find(|c| c.id == msg.connection_id && c.kind == ConnectorKind::File)
            .ok_or_else(|| StageError::Poison(format!("connection_id: no file connection {:?}", msg.connection_id)))?;
        let format = if msg.raw_key.ends_with(".parquet") {
            super::source::PanelFormat::Parquet
        } else {
            super::source::PanelFormat::Csv
        };
        // A title and a date range above the header (as Google Ads and LinkedIn write them).
        let export = super::source::read_export(&raw_bytes, format, conn.column_map.as_ref())
            .map_err(|e| StageError::Poison(format!("{}: {}", msg.raw_key, e.summary())))?;
        let file::Parsed { batch, bad, first_rows } =
            file::read_rows(&conn, &export.table).map_err(|e| StageError::Poison(format!("{}: {e}", msg.raw_key)))?;
        lines = first_rows.iter().map(|r| export.skipped + 1 + r).collect();
        let mut unread: Vec<(usize, RejectedRow)> = export
            .ragged
            .into_iter()
            .map(|r| {
                (
                    r.row,
                    RejectedRow { at: format!("row {}", r.row), reason: r.reason, line: Some(r.line), column: None },
                )
            })
            .collect();
        let row_of = |b: file::BadRow| RejectedRow {
            at: format!("row {} ({})", b.row, b.column),
            reason: b.reason,
            line: Some(export.skipped + 1 + b.row),
            column: Some(b.column),
        };
        let (other_currency, bad): (Vec<_>, Vec<_>) = bad.into_iter().partition(|b| b.left_out);
        left_out.extend(other_currency.into_iter().map(row_of));
        unread.extend(bad.into_iter().map(|b| (b.row, row_of(b))));
        unread.sort_by_key(|(row, _)| *row);
        rejected.extend(unread.into_iter().map(|(_, r)| r));
        // A dropped file's time is when it was written: the same for every redelivery of this
        // drop, and later for a corrected export dropped again under the same key.
        (conn, batch, written_at)
    } else {
        let raw: RawPayload = serde_json::from_slice(&raw_bytes)
            .map_err(|e| StageError::Poison(format!("{}: not a raw payload: {e}", msg.raw_key)))?;
        let batch = connectors::parse(&raw).map_err(|e| StageError::Poison(format!("{}: {e}", msg.raw_key)))?;
        (raw.connection.clone(), batch, raw.fetched_at)
    };
    // The time that decides which version of a record wins never lies in the future (a clock
    // ahead, a hand-edited payload): it would lock the records against every later correction.
    // It never comes from the rows either, which may be rejected.
    let produced_at = produced_at.min(now);
    let PlatformBatch { rows, changes } = batch;
    let screen = quality::screen(&rows, now);
    let campaign_day = |i: usize, reason: String| RejectedRow {
        line: lines.get(i).copied(),
        ..RejectedRow::of(format!("campaign {} on {}", rows[i].campaign_id, rows[i].date), reason)
    };
    rejected.extend(screen.rejected.iter().map(|r| campaign_day(r.index, r.reason.clone())));
    let accepted_at = screen.accepted(rows.len());
    let accepted: Vec<DailyRow> = accepted_at.iter().map(|&i| rows[i].clone()).collect();
    // The last 30 days of the same campaigns, from the store (context for detection).
    let mut history = Vec::new();
    if let Some(first) = accepted.iter().map(|r| r.date).min() {
        let campaigns: BTreeSet<(Platform, String)> =
            accepted.iter().map(|r| (r.platform, r.campaign_id.clone())).collect();
        let range = crate::domain::DateRange::new(first - Duration::days(HISTORY_DAYS), first - Duration::days(1))
            .map_err(poison)?;
        for (platform, campaign_id) in campaigns {
            let q = RecordQuery::Campaign { platform, campaign_id, range };
            let mut page = PageRequest::first(1000);
            loop {
                let got = stores.records.query_records(&org, &q, &page).await.map_err(transient)?;
                history.extend(got.items.iter().map(record_to_row));
                match got.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
        }
    }
    let mut all = history.clone();
    all.extend(accepted.iter().cloned());
    let settings =
        DetectSettings { country: conn.country.clone().unwrap_or_else(|| "US".into()), ..Default::default() };
    let mut interventions = detect_treatments(&all, &changes, &settings);
    let external = external_series(stores, &org).await?;
    let confounders = detect_confounders(&all, &changes, &interventions, &external, &settings);
    // Interventions that are registered experiments take their id and arms from it.
    let experiments =
        stores.experiments.list_experiments(&org, &PageRequest::first(1000)).await.map_err(transient)?.items;
    let mut experiment_of: BTreeMap<usize, (String, BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for (k, iv) in interventions.iter_mut().enumerate() {
        if let Some(e) = experiments.iter().find(|e| {
            e.treatment_groups.contains(&iv.campaign_id) && (e.start.date_naive() - iv.date).num_days().abs() <= 3
        }) {
            iv.comparison_units = e.control_groups.clone();
            experiment_of.insert(
                k,
                (
                    e.id.clone(),
                    e.treatment_groups.iter().cloned().collect(),
                    e.control_groups.iter().cloned().collect(),
                ),
            );
        }
    }
    let records = accepted
        .iter()
        .map(|r| to_record(r, &conn, &interventions, &experiment_of, &confounders))
        .collect::<Result<Vec<_>, _>>()?;
    // The store's own rules, here: a row the store would refuse is rejected now with its reason,
    // instead of failing the whole message later.
    let (mut kept_rows, mut kept) = (Vec::with_capacity(records.len()), Vec::with_capacity(records.len()));
    for ((row, record), at) in accepted.into_iter().zip(records).zip(accepted_at) {
        match record.clone().into_record(&org, produced_at) {
            Ok(_) => {
                kept_rows.push(row);
                kept.push(record);
            }
            Err(e) => rejected.push(campaign_day(at, e.summary())),
        }
    }
    let (accepted, records) = (kept_rows, kept);
    let bid = batch_id(&msg.raw_key);
    let staged = StagedBatch {
        org_id: org.clone(),
        batch_id: bid.clone(),
        connection_id: conn.id.clone(),
        platform: conn.platform,
        raw_key: msg.raw_key.clone(),
        produced_at,
        rows: accepted,
        records,
        rejected,
        left_out,
        interventions,
        confounders,
        history_rows: history.len(),
    };
    let key = format!("staged/{bid}.json");
    stores.panels.put_panel(&org, &key, json(&staged)?).await.map_err(transient)?;
    if let Some(q) = next {
        let msg = Staged { org_id: org.clone(), staged_key: key };
        send(Some(q), serde_json::to_string(&msg).map_err(poison)?, "staged").await?;
    }
    tracing::info!(org_id = %org, batch = %bid, records = staged.records.len(), rejected = staged.rejected.len(), interventions = staged.interventions.len(), confounders = staged.confounders.len(), "transformed");
    Ok(staged)
}

/// A row to a causal record: its treatment (the nearest intervention within 30 days on its
/// platform where it is the treated unit or a comparison unit) and the confounders of its day.
fn to_record(
    r: &DailyRow,
    conn: &Connection,
    interventions: &[Intervention],
    experiment_of: &BTreeMap<usize, (String, BTreeSet<String>, BTreeSet<String>)>,
    confounders: &[DetectedConfounder],
) -> Result<NewCausalRecord, StageError> {
    let mut best: Option<(i64, usize, TreatmentGroup)> = None;
    for (k, iv) in interventions.iter().enumerate() {
        if iv.platform != r.platform {
            continue;
        }
        let group = match experiment_of.get(&k) {
            Some((_, t, c)) if t.contains(&r.campaign_id) => TreatmentGroup::Treated,
            Some((_, _, c)) if c.contains(&r.campaign_id) => TreatmentGroup::Control,
            Some(_) => continue,
            None if iv.campaign_id == r.campaign_id => TreatmentGroup::Treated,
            None if iv.comparison_units.contains(&r.campaign_id) => TreatmentGroup::Control,
            None => continue,
        };
        let d = (r.date - iv.date).num_days().abs();
        if d <= HISTORY_DAYS && best.is_none_or(|b| d < b.0) {
            best = Some((d, k, group));
        }
    }
    let treatment_assignment = match best {
        Some((_, k, group)) => {
            let iv = &interventions[k];
            Some(TreatmentAssignment {
                intervention: iv.intervention.clone(),
                group,
                assigned_at: conn.day_start_utc(iv.date).map_err(poison)?,
                intensity: iv.size,
                experiment_id: experiment_of.get(&k).map(|e| e.0.clone()),
            })
        }
        None => None,
    };
    let day_index = |d: NaiveDate| (d - NaiveDate::default()).num_days() as f64;
    let mut cs = Vec::new();
    for c in confounders {
        if c.platform.is_some_and(|p| p != r.platform) {
            continue;
        }
        // Campaign-specific ones name the campaign after the colon.
        if let Some((_, campaign)) = c.name.split_once(':') {
            if c.kind == "platform" && campaign != r.campaign_id {
                continue;
            }
        }
        let applies = c.dates.is_empty() || c.dates.contains(&r.date);
        if !applies {
            continue;
        }
        let value = match c.name.as_str() {
            "day_of_week" => f64::from(chrono::Datelike::weekday(&r.date).num_days_from_monday()),
            "trend" => day_index(r.date),
            "month" => f64::from(chrono::Datelike::month(&r.date)),
            _ => 1.0,
        };
        cs.push(Confounder {
            name: c.name.clone(),
            value,
            detection_method: c.method.clone(),
            confidence: c.confidence,
        });
    }
    let mut extra = r.extra.clone();
    extra.retain(|_, v| v.is_finite());
    Ok(NewCausalRecord {
        platform: r.platform,
        campaign_id: r.campaign_id.clone(),
        campaign_name: campaign_name(r.campaign_name.as_deref()),
        timestamp: r.timestamp,
        metrics: Metrics {
            spend: r.spend,
            impressions: r.impressions.round().max(0.0) as u64,
            clicks: r.clicks.round().max(0.0) as u64,
            conversions: r.conversions,
            revenue: r.revenue,
            extra,
        },
        treatment_assignment,
        confounders: cs,
        external_factors: vec![],
        causal_graph: None,
        quality_score: 1.0,
    })
}

/// A campaign's name as stored: control characters dropped, space trimmed, cut at the longest
/// kept; none when nothing is left (a name never fails a record).
fn campaign_name(raw: Option<&str>) -> Option<String> {
    let cleaned: String = raw?.chars().filter(|c| !c.is_control()).collect();
    let name: String = cleaned.trim().chars().take(crate::domain::record::MAX_CAMPAIGN_NAME_CHARS).collect();
    let name = name.trim_end().to_string();
    (!name.is_empty()).then_some(name)
}

/// What the quality stage decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityOutcome {
    pub batch_id: String,
    pub score: f64,
    pub report: QualityReport,
    pub accepted: usize,
    pub rejected: usize,
    pub quarantined_batch: bool,
    /// Why the batch was quarantined whole (None when it was stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_reason: Option<String>,
    pub store_messages: usize,
}

/// The components shown in a quarantined batch's reason, the lowest first.
const REASON_COMPONENTS: usize = 4;

/// Why a batch is quarantined whole, in words a user can act on: nothing usable, or its score
/// against [`MIN_BATCH_SCORE`] with the share of its rows that were usable and the components
/// that pulled it down (each with its detail), and where the batch is kept.
fn quarantine_reason(
    report: &QualityReport,
    score: f64,
    rows: usize,
    total: usize,
    records: usize,
    key: &str,
) -> String {
    if records == 0 {
        return format!(
            "nothing in this batch could be stored: {} of its {total} rows were rejected (see rejected); kept with its rows in {key}",
            total - rows
        );
    }
    let mut low: Vec<(&String, &quality::Component)> =
        report.components.iter().filter(|(_, c)| c.score < 1.0).collect();
    low.sort_by(|a, b| a.1.score.total_cmp(&b.1.score).then(a.0.cmp(b.0)));
    let parts: Vec<String> =
        low.iter().take(REASON_COMPONENTS).map(|(n, c)| format!("{n} {:.2} ({})", c.score, c.detail)).collect();
    format!(
        "quality score {score:.3} is below {MIN_BATCH_SCORE}, so none of its {records} records were stored: {rows} of its {total} rows were usable, and the score is that share times the components' weighted mean ({:.3}){}; kept with its rows in {key}",
        report.score,
        if parts.is_empty() { String::new() } else { format!(", whose lowest are {}", parts.join(", ")) }
    )
}

/// The quality stage for one message.
pub async fn quality_message(
    stores: &Stores,
    next: Option<&dyn Queue>,
    body: &str,
    now: DateTime<Utc>,
) -> Result<QualityOutcome, StageError> {
    let msg: Staged =
        serde_json::from_str(body).map_err(|e| StageError::Poison(format!("not a staged message: {e}")))?;
    let org = msg.org_id.clone();
    let bytes = stores
        .panels
        .get_panel(&org, &msg.staged_key)
        .await
        .map_err(transient)?
        .ok_or_else(|| StageError::Poison(format!("staged_key: no object {:?}", msg.staged_key)))?;
    let staged: StagedBatch =
        serde_json::from_slice(&bytes).map_err(|e| StageError::Poison(format!("{}: {e}", msg.staged_key)))?;
    let report = quality::assess(&staged.rows, &staged.interventions, now);
    // Rows rejected upstream count against the batch too: the share of input that was usable.
    let total = staged.rows.len() + staged.rejected.len();
    let usable = if total == 0 { 0.0 } else { staged.rows.len() as f64 / total as f64 };
    let score = (report.score * usable.max(0.0)).clamp(0.0, 1.0);
    let quarantined_batch = score < MIN_BATCH_SCORE || staged.records.is_empty();
    let quarantine_key = format!("quarantine/{}.json", staged.batch_id);
    let quarantine_reason = quarantined_batch
        .then(|| quarantine_reason(&report, score, staged.rows.len(), total, staged.records.len(), &quarantine_key));
    let mut rejected = staged.rejected.clone();
    rejected.extend(
        report
            .rejected
            .iter()
            .map(|r| RejectedRow::of(format!("campaign {} on {}", r.campaign_id, r.date), r.reason.clone())),
    );
    if !rejected.is_empty() || quarantined_batch {
        let q = serde_json::json!({ "batch_id": staged.batch_id, "raw_key": staged.raw_key, "batch": quarantine_reason, "rows": rejected, "quality": report });
        stores.panels.put_panel(&org, &quarantine_key, json(&q)?).await.map_err(transient)?;
    }
    stores
        .panels
        .put_panel(&org, &format!("quality/{}.json", staged.batch_id), json(&report)?)
        .await
        .map_err(transient)?;
    let mut store_messages = 0;
    if !quarantined_batch {
        // The confounders, in the memory service's list.
        for c in &staged.confounders {
            let Some(platform) = c.platform.or(Some(staged.platform)) else { continue };
            let first = c
                .dates
                .first()
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
                .unwrap_or(staged.produced_at);
            let last = c
                .dates
                .last()
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
                .unwrap_or(staged.produced_at);
            let v = ConfounderVariable {
                org_id: org.clone(),
                platform,
                variable_name: c.name.replace('#', "_"),
                variable_type: match c.kind.as_str() {
                    "seasonality" => VariableType::Seasonality,
                    "holiday" => VariableType::Holiday,
                    "trend" => VariableType::Trend,
                    "external" => VariableType::External,
                    "simultaneous_change" => VariableType::CrossChannel,
                    _ => VariableType::PlatformSpecific,
                },
                detection_method: c.method.clone(),
                confidence_score: c.confidence.clamp(0.0, 1.0),
                temporal_pattern: match c.name.as_str() {
                    "day_of_week" => TemporalPattern::Weekly,
                    "month" => TemporalPattern::Monthly,
                    "trend" => TemporalPattern::Trend,
                    _ if c.dates.is_empty() => TemporalPattern::Irregular,
                    _ => TemporalPattern::Event,
                },
                occurrences: c.dates.len().max(1) as u64,
                first_seen: first,
                last_seen: last,
            };
            if v.validate().is_ok() {
                stores.confounders.put_confounder(&v).await.map_err(transient)?;
            }
        }
        let mut records = staged.records.clone();
        for (r, s) in records.iter_mut().zip(&report.row_scores) {
            r.quality_score = (s * score.max(0.0)).clamp(0.0, 1.0);
        }
        for (n, chunk) in records.chunks(RECORDS_PER_MESSAGE).enumerate() {
            let m = StoreRecordsMessage {
                org_id: org.clone(),
                batch_id: format!("{}-{n}", staged.batch_id),
                produced_at: staged.produced_at,
                records: chunk.to_vec(),
            };
            send(next, serde_json::to_string(&m).map_err(poison)?, "store_records").await?;
            store_messages += 1;
        }
    }
    tracing::info!(org_id = %org, batch = %staged.batch_id, score, quarantined_batch, rejected = rejected.len(), store_messages, "quality assessed");
    Ok(QualityOutcome {
        batch_id: staged.batch_id,
        score,
        accepted: if quarantined_batch { 0 } else { staged.records.len() },
        rejected: rejected.len(),
        report,
        quarantined_batch,
        quarantine_reason,
        store_messages,
    })
}

/// The store stage's announcement: new causal data for an org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataReady {
    pub org_id: OrgId,
    pub batch_id: String,
    pub stored: usize,
    pub unchanged: usize,
    pub campaigns: Vec<String>,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_tsv_parquet_and_workbook_files_under_drop_are_exports_and_nothing_else_is() {
        for file in ["report.csv", "campaign_performance.tsv", "2026-09.parquet", "report.xlsx", "old.xls", "a.ods"] {
            let msg = dropped_file(&format!("orgs/acme/drop/li/{file}")).expect(file);
            assert_eq!((msg.org_id.as_str(), msg.connection_id.as_str()), ("acme", "li"));
            assert_eq!(msg.raw_key, format!("drop/li/{file}"));
        }
        for key in ["orgs/acme/drop/li/report.pdf", "orgs/acme/drop/li/", "orgs/acme/raw/li/a.csv", "drop/li/a.csv"] {
            assert!(dropped_file(key).is_none(), "{key}");
        }
    }
}
