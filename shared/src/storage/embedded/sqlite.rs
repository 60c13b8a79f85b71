use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use crate::domain::{
    AnalysisJob, AuditEntry, CausalExperiment, CausalMarketingData, ConfounderVariable, DateRange, OrgId, Platform,
};
use crate::storage::cursor::{self, Page, PageRequest};
use crate::storage::{
    decide_put, parse_ts_key, ts_key, AuditStore, BatchPutReport, ConfounderStore, ExperimentStore, GraphItem,
    GraphStore, JobStore, PutOutcome, RecordQuery, RecordStore, StoreError, StoredVersion, WriteConflict,
};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS records (
    org_id        TEXT NOT NULL,
    id            TEXT NOT NULL,
    platform      TEXT NOT NULL,
    campaign_id   TEXT NOT NULL,
    ts            TEXT NOT NULL,
    experiment_id TEXT,
    content_hash  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_platform ON records (org_id, platform, ts, id);
CREATE INDEX IF NOT EXISTS records_by_campaign ON records (org_id, platform, campaign_id, ts, id);
CREATE INDEX IF NOT EXISTS records_by_experiment ON records (org_id, experiment_id, ts, id) WHERE experiment_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS experiments (
    org_id     TEXT NOT NULL,
    id         TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS experiments_by_created ON experiments (org_id, created_at, id);
CREATE TABLE IF NOT EXISTS confounders (
    org_id        TEXT NOT NULL,
    platform      TEXT NOT NULL,
    variable_name TEXT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (org_id, platform, variable_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    org_id TEXT NOT NULL,
    at     TEXT NOT NULL,
    id     TEXT NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (org_id, at, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS audit_by_id ON audit (org_id, id);
-- The audit log is append-only: an entry can be neither changed nor removed.
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TABLE IF NOT EXISTS graph_items (
    org_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    hash   TEXT NOT NULL,
    doc    TEXT NOT NULL,
    PRIMARY KEY (org_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    org_id     TEXT NOT NULL,
    id         TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
"#;

/// SQLite-backed record, experiment and confounder store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    // SQLITE_BUSY after the busy timeout is worth retrying; the rest is not.
    let msg = e.to_string();
    let retryable = msg.contains("database is locked") || msg.contains("busy");
    StoreError::Backend { backend: "sqlite", message: msg, retryable }
}

/// The (sort key, id) a page continues from: its cursor's, or `start` twice on the first page.
fn key_pair(scope: &str, page: &PageRequest, start: &str) -> Result<(String, String), StoreError> {
    match &page.cursor {
        Some(c) => {
            let mut k = cursor::decode(scope, c, 2)?;
            let id = k.pop().unwrap_or_default();
            Ok((k.pop().unwrap_or_default(), id))
        }
        None => Ok((start.to_string(), start.to_string())),
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(key: &str, body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt { key: key.to_string(), reason: e.to_string() })
}

fn encode_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::backend("sqlite", e, false))
}

impl SqliteStore {
    /// Open (creating if needed) the database file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::backend("sqlite", e, false))?;
            }
        }
        let conn = Connection::open(path).map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back), so a
        // poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn stored_version(tx: &Connection, org: &str, id: &str) -> Result<Option<StoredVersion>, StoreError> {
    let row: Option<(String, String, String)> = tx
        .query_row(
            "SELECT content_hash, created_at, updated_at FROM records WHERE org_id = ?1 AND id = ?2",
            params![org, id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(db_err)?;
    row.map(|(h, c, u)| {
        Ok(StoredVersion { content_hash: h, created_at: parse_ts_key(id, &c)?, updated_at: parse_ts_key(id, &u)? })
    })
    .transpose()
}

/// Apply the write rule to one record inside an open transaction.
fn put_in_tx(tx: &Connection, record: &CausalMarketingData) -> Result<Result<PutOutcome, String>, StoreError> {
    let hash = record.content_hash();
    let existing = stored_version(tx, record.org_id.as_str(), &record.id)?;
    let outcome = match decide_put(existing.as_ref(), record, &hash) {
        Ok(o) => o,
        Err(reason) => return Ok(Err(reason)),
    };
    if outcome == PutOutcome::Unchanged {
        return Ok(Ok(outcome));
    }
    let mut stored = record.clone();
    if let Some(old) = &existing {
        stored.created_at = old.created_at;
    }
    tx.execute(
        "INSERT INTO records (org_id, id, platform, campaign_id, ts, experiment_id, content_hash, created_at, updated_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (org_id, id) DO UPDATE SET
            platform = excluded.platform, campaign_id = excluded.campaign_id, ts = excluded.ts,
            experiment_id = excluded.experiment_id, content_hash = excluded.content_hash,
            updated_at = excluded.updated_at, body = excluded.body",
        params![
            stored.org_id.as_str(),
            stored.id,
            stored.platform.as_str(),
            stored.campaign_id,
            ts_key(stored.timestamp),
            stored.experiment_id(),
            hash,
            ts_key(stored.created_at),
            ts_key(stored.updated_at),
            encode_json(&stored)?,
        ],
    )
    .map_err(db_err)?;
    Ok(Ok(outcome))
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn put_record(&self, record: &CausalMarketingData) -> Result<PutOutcome, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let result = put_in_tx(&tx, record)?;
        tx.commit().map_err(db_err)?;
        result.map_err(|reason| StoreError::Conflict { key: record.id.clone(), reason })
    }

    async fn put_records(&self, records: &[CausalMarketingData]) -> Result<BatchPutReport, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let mut report = BatchPutReport::default();
        for r in records {
            match put_in_tx(&tx, r)? {
                Ok(outcome) => report.record(&r.id, outcome),
                Err(reason) => report.conflicts.push(WriteConflict { id: r.id.clone(), reason }),
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(report)
    }

    async fn get_record(&self, org: &OrgId, id: &str) -> Result<Option<CausalMarketingData>, StoreError> {
        let conn = self.conn();
        let body: Option<String> = conn
            .query_row("SELECT body FROM records WHERE org_id = ?1 AND id = ?2", params![org.as_str(), id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        body.map(|b| decode_json(id, &b)).transpose()
    }

    async fn query_records(
        &self,
        org: &OrgId,
        query: &RecordQuery,
        page: &PageRequest,
    ) -> Result<Page<CausalMarketingData>, StoreError> {
        let scope = query.scope(org);
        // Without a cursor, from before every real key.
        let (after_ts, after_id) = key_pair(&scope, page, "")?;
        let limit = page.limit as i64 + 1;
        let conn = self.conn();
        let mut rows: Vec<(String, String, String)> = Vec::new();
        let mut collect = |stmt: &mut rusqlite::Statement<'_>, p: &[&dyn rusqlite::ToSql]| -> Result<(), StoreError> {
            let it = stmt.query_map(p, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(db_err)?;
            for row in it {
                rows.push(row.map_err(db_err)?);
            }
            Ok(())
        };
        match query {
            RecordQuery::Platform { platform, range } => {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT ts, id, body FROM records WHERE org_id = ?1 AND platform = ?2 AND ts >= ?3 AND ts <= ?4
                         AND (ts, id) > (?5, ?6) ORDER BY ts, id LIMIT ?7",
                    )
                    .map_err(db_err)?;
                collect(
                    &mut stmt,
                    params![
                        org.as_str(),
                        platform.as_str(),
                        ts_key(range.start_instant()),
                        ts_key(range.end_instant()),
                        after_ts,
                        after_id,
                        limit
                    ],
                )?;
            }
            RecordQuery::Campaign { platform, campaign_id, range } => {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT ts, id, body FROM records WHERE org_id = ?1 AND platform = ?2 AND campaign_id = ?3
                         AND ts >= ?4 AND ts <= ?5 AND (ts, id) > (?6, ?7) ORDER BY ts, id LIMIT ?8",
                    )
                    .map_err(db_err)?;
                collect(
                    &mut stmt,
                    params![
                        org.as_str(),
                        platform.as_str(),
                        campaign_id,
                        ts_key(range.start_instant()),
                        ts_key(range.end_instant()),
                        after_ts,
                        after_id,
                        limit
                    ],
                )?;
            }
            RecordQuery::Experiment { experiment_id } => {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT ts, id, body FROM records WHERE org_id = ?1 AND experiment_id = ?2
                         AND (ts, id) > (?3, ?4) ORDER BY ts, id LIMIT ?5",
                    )
                    .map_err(db_err)?;
                collect(&mut stmt, params![org.as_str(), experiment_id, after_ts, after_id, limit])?;
            }
        }
        let more = rows.len() > page.limit;
        rows.truncate(page.limit);
        let next_cursor = if more {
            rows.last().map(|(ts, id, _)| cursor::encode(&scope, vec![ts.clone(), id.clone()]))
        } else {
            None
        };
        let items = rows.iter().map(|(_, id, body)| decode_json(id, body)).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

#[async_trait]
impl ExperimentStore for SqliteStore {
    async fn create_experiment(&self, e: &CausalExperiment) -> Result<PutOutcome, StoreError> {
        let conn = self.conn();
        let existing: Option<String> = conn
            .query_row(
                "SELECT body FROM experiments WHERE org_id = ?1 AND id = ?2",
                params![e.org_id.as_str(), e.id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        if let Some(body) = existing {
            let old: CausalExperiment = decode_json(&e.id, &body)?;
            return if crate::storage::same_experiment_content(&old, e) {
                Ok(PutOutcome::Unchanged)
            } else {
                Err(StoreError::Conflict {
                    key: e.id.clone(),
                    reason: "an experiment with this id already exists".into(),
                })
            };
        }
        let n = conn
            .execute(
                "INSERT INTO experiments (org_id, id, created_at, updated_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
                params![e.org_id.as_str(), e.id, ts_key(e.created_at), ts_key(e.updated_at), encode_json(e)?],
            )
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::Conflict { key: e.id.clone(), reason: "created concurrently".into() });
        }
        Ok(PutOutcome::Inserted)
    }

    async fn update_experiment(&self, e: &CausalExperiment, expected: DateTime<Utc>) -> Result<(), StoreError> {
        replace_versioned(
            &self.conn(),
            "experiments",
            "experiment",
            &e.org_id,
            &e.id,
            e.updated_at,
            encode_json(e)?,
            expected,
        )
    }

    async fn get_experiment(&self, org: &OrgId, id: &str) -> Result<Option<CausalExperiment>, StoreError> {
        let conn = self.conn();
        let body: Option<String> = conn
            .query_row("SELECT body FROM experiments WHERE org_id = ?1 AND id = ?2", params![org.as_str(), id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        body.map(|b| decode_json(id, &b)).transpose()
    }

    async fn list_experiments(&self, org: &OrgId, page: &PageRequest) -> Result<Page<CausalExperiment>, StoreError> {
        let scope = format!("{org}|experiments");
        // Without a cursor, from after every real key ('~' > any timestamp or id character).
        let (before_c, before_id) = key_pair(&scope, page, "~")?;
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT created_at, id, body FROM experiments WHERE org_id = ?1 AND (created_at, id) < (?2, ?3)
                 ORDER BY created_at DESC, id DESC LIMIT ?4",
            )
            .map_err(db_err)?;
        let mut rows: Vec<(String, String, String)> = stmt
            .query_map(params![org.as_str(), before_c, before_id, page.limit as i64 + 1], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        let more = rows.len() > page.limit;
        rows.truncate(page.limit);
        let next_cursor =
            if more { rows.last().map(|(c, id, _)| cursor::encode(&scope, vec![c.clone(), id.clone()])) } else { None };
        let items = rows.iter().map(|(_, id, b)| decode_json(id, b)).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

#[async_trait]
impl ConfounderStore for SqliteStore {
    async fn put_confounder(&self, v: &ConfounderVariable) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let key = (v.org_id.as_str(), v.platform.as_str(), v.variable_name.as_str());
        let existing: Option<String> = tx
            .query_row(
                "SELECT body FROM confounders WHERE org_id = ?1 AND platform = ?2 AND variable_name = ?3",
                params![key.0, key.1, key.2],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        let merged = match existing {
            Some(body) => decode_json::<ConfounderVariable>(&v.variable_name, &body)?.merge(v),
            None => v.clone(),
        };
        tx.execute(
            "INSERT INTO confounders (org_id, platform, variable_name, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (org_id, platform, variable_name) DO UPDATE SET body = excluded.body",
            params![key.0, key.1, key.2, encode_json(&merged)?],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    async fn list_confounders(
        &self,
        org: &OrgId,
        platform: Option<Platform>,
    ) -> Result<Vec<ConfounderVariable>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT variable_name, body FROM confounders WHERE org_id = ?1 AND (?2 IS NULL OR platform = ?2)
                 ORDER BY platform, variable_name",
            )
            .map_err(db_err)?;
        let rows: Vec<(String, String)> = stmt
            .query_map(params![org.as_str(), platform.map(|p| p.as_str())], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        rows.iter().map(|(k, b)| decode_json(k, b)).collect()
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let body = encode_json(e)?;
        self.conn()
            .execute(
                "INSERT INTO audit (org_id, at, id, body) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![e.org_id.as_str(), ts_key(e.at), e.id, body],
            )
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_audit(
        &self,
        org: &OrgId,
        range: &DateRange,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let scope = format!("{org}|audit|{}|{}", range.start, range.end);
        let (before_at, before_id) = key_pair(&scope, page, "~")?;
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT at, id, body FROM audit WHERE org_id = ?1 AND at >= ?2 AND at <= ?3 AND (at, id) < (?4, ?5)
                 ORDER BY at DESC, id DESC LIMIT ?6",
            )
            .map_err(db_err)?;
        let mut rows: Vec<(String, String, String)> = stmt
            .query_map(
                params![
                    org.as_str(),
                    ts_key(range.start_instant()),
                    ts_key(range.end_instant()),
                    before_at,
                    before_id,
                    page.limit as i64 + 1
                ],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        let more = rows.len() > page.limit;
        rows.truncate(page.limit);
        let next_cursor =
            if more { rows.last().map(|(a, id, _)| cursor::encode(&scope, vec![a.clone(), id.clone()])) } else { None };
        let items = rows.iter().map(|(_, id, b)| decode_json(id, b)).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

/// Replace the body of `table`'s row (org, id) only if its `updated_at` is still `expected`:
/// optimistic concurrency for experiments and jobs.
#[allow(clippy::too_many_arguments)]
fn replace_versioned(
    conn: &Connection,
    table: &'static str,
    what: &str,
    org: &OrgId,
    id: &str,
    updated_at: DateTime<Utc>,
    body: String,
    expected: DateTime<Utc>,
) -> Result<(), StoreError> {
    let n = conn
        .execute(
            &format!("UPDATE {table} SET updated_at = ?3, body = ?4 WHERE org_id = ?1 AND id = ?2 AND updated_at = ?5"),
            params![org.as_str(), id, ts_key(updated_at), body, ts_key(expected)],
        )
        .map_err(db_err)?;
    if n == 1 {
        return Ok(());
    }
    let exists: Option<i64> = conn
        .query_row(&format!("SELECT 1 FROM {table} WHERE org_id = ?1 AND id = ?2"), params![org.as_str(), id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(db_err)?;
    match exists {
        None => Err(StoreError::NotFound(format!("{what} {id}"))),
        Some(_) => Err(StoreError::Conflict {
            key: id.to_string(),
            reason: format!("the {what} was changed since it was read"),
        }),
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn create_job(&self, j: &AnalysisJob) -> Result<PutOutcome, StoreError> {
        let conn = self.conn();
        let n = conn
            .execute(
                "INSERT INTO jobs (org_id, id, updated_at, body) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![j.org_id.as_str(), j.id, ts_key(j.updated_at), encode_json(j)?],
            )
            .map_err(db_err)?;
        if n == 1 {
            return Ok(PutOutcome::Inserted);
        }
        let body: String = conn
            .query_row("SELECT body FROM jobs WHERE org_id = ?1 AND id = ?2", params![j.org_id.as_str(), j.id], |r| {
                r.get(0)
            })
            .map_err(db_err)?;
        let old: AnalysisJob = decode_json(&j.id, &body)?;
        if &old == j {
            Ok(PutOutcome::Unchanged)
        } else {
            Err(StoreError::Conflict { key: j.id.clone(), reason: "a job with this id already exists".into() })
        }
    }

    async fn get_job(&self, org: &OrgId, id: &str) -> Result<Option<AnalysisJob>, StoreError> {
        let conn = self.conn();
        let body: Option<String> = conn
            .query_row("SELECT body FROM jobs WHERE org_id = ?1 AND id = ?2", params![org.as_str(), id], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        body.map(|b| decode_json(id, &b)).transpose()
    }

    async fn update_job(&self, j: &AnalysisJob, expected: DateTime<Utc>) -> Result<(), StoreError> {
        replace_versioned(&self.conn(), "jobs", "job", &j.org_id, &j.id, j.updated_at, encode_json(j)?, expected)
    }

    async fn list_jobs(&self, org: &OrgId, page: &PageRequest) -> Result<Page<AnalysisJob>, StoreError> {
        let scope = format!("{org}|jobs");
        let after = match &page.cursor {
            Some(c) => cursor::decode(&scope, c, 1)?.remove(0),
            None => String::new(),
        };
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT id, body FROM jobs WHERE org_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3")
            .map_err(db_err)?;
        let mut rows: Vec<(String, String)> = stmt
            .query_map(params![org.as_str(), after, page.limit as i64 + 1], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        let more = rows.len() > page.limit;
        rows.truncate(page.limit);
        let next_cursor = if more { rows.last().map(|(id, _)| cursor::encode(&scope, vec![id.clone()])) } else { None };
        let items = rows.iter().map(|(id, b)| decode_json(id, b)).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

#[async_trait]
impl GraphStore for SqliteStore {
    async fn graph_hashes(&self, org: &OrgId) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let conn = self.conn();
        let mut q = conn.prepare_cached("SELECT key, hash FROM graph_items WHERE org_id = ?1").map_err(db_err)?;
        let rows = q.query_map(params![org.as_str()], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    async fn graph_items(&self, org: &OrgId) -> Result<Vec<GraphItem>, StoreError> {
        let conn = self.conn();
        let mut q = conn
            .prepare_cached("SELECT key, hash, doc FROM graph_items WHERE org_id = ?1 ORDER BY key")
            .map_err(db_err)?;
        let rows = q
            .query_map(params![org.as_str()], |r| Ok(GraphItem { key: r.get(0)?, hash: r.get(1)?, doc: r.get(2)? }))
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    async fn write_graph(&self, org: &OrgId, put: &[GraphItem], delete: &[String]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO graph_items (org_id, key, hash, doc) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (org_id, key) DO UPDATE SET hash = excluded.hash, doc = excluded.doc",
                )
                .map_err(db_err)?;
            for i in put {
                ins.execute(params![org.as_str(), i.key, i.hash, i.doc]).map_err(db_err)?;
            }
            let mut del =
                tx.prepare_cached("DELETE FROM graph_items WHERE org_id = ?1 AND key = ?2").map_err(db_err)?;
            for k in delete {
                del.execute(params![org.as_str(), k]).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }
}
