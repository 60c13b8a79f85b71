//! DynamoDB single-table design. Every partition key begins with `ORG#{org_id}#`, so tenant
//! isolation is a property of the keys.
//!
//! | item | pk | sk | GSI1 (gsi1pk / gsi1sk) | GSI2 | GSI3 |
//! |---|---|---|---|---|---|
//! | record | `ORG#o#REC#{id}` | `REC` | `ORG#o#PLAT#{platform}` / `{ts}#{id}` | `ORG#o#CAMP#{platform}#{campaign}` / `{ts}#{id}` | `ORG#o#EXP#{experiment}` / `{ts}#{id}` (only records in an experiment) |
//! | experiment | `ORG#o#EXP#{id}` | `EXP` | `ORG#o#EXPERIMENTS` / `{created_at}#{id}` | | |
//! | confounder | `ORG#o#CONF#{platform}` | `VAR#{name}` | | | |
//! | audit entry | `ORG#o#AUDIT#{id}` | `AUDIT` | `ORG#o#AUDIT` / `{at}#{id}` | | |
//! | analysis job | `ORG#o#JOB#{id}` | `JOB` | `ORG#o#JOBS` / `{id}` | | |
//! | knowledge graph item | `ORG#o#KG` | `HEAD` or `N#{node id}` | | | |
//!
//! - get by id: GetItem on the base table (strongly consistent);
//! - records by platform and time range: Query GSI1 with `gsi1sk BETWEEN`;
//! - by campaign: GSI2; by experiment: GSI3 (sparse); experiments and audit entries newest first:
//!   GSI1 descending (audit writes spread over the base table; the index partition per org takes
//!   DynamoDB's 1,000 writes/s per partition, far above an org's API traffic).
//! - Records are written conditionally (`attribute_not_exists(pk) OR (content_hash <> :h AND
//!   updated_at < :u)`), so a redelivered or stale write never duplicates or overwrites newer data.
//! - The record document is kept as JSON in `doc` (exact round trip of floats and optional
//!   fields); the key, index and version attributes are top-level.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

use super::sdk_error;
use crate::domain::{
    AnalysisJob, AuditEntry, CausalExperiment, CausalMarketingData, ConfounderVariable, DateRange, OrgId, Platform,
};
use crate::storage::cursor::{self, Page, PageRequest};
use crate::storage::{
    decide_put, parse_ts_key, ts_key, AuditStore, BatchPutReport, ConfounderStore, ExperimentStore, GraphItem,
    GraphStore, JobStore, PutOutcome, RecordQuery, RecordStore, StoreError, StoredVersion, WriteConflict,
};

type Item = HashMap<String, AttributeValue>;

const BACKEND: &str = "dynamodb";
const MAX_ATTEMPTS: u32 = 8;

pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(|s| s.as_str())
}

fn req_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    get_s(item, name).ok_or_else(|| StoreError::Corrupt {
        key: get_s(item, "pk").unwrap_or("?").to_string(),
        reason: format!("missing attribute {name}"),
    })
}

fn org_prefix(org: &OrgId) -> String {
    format!("ORG#{org}#")
}

fn record_pk(org: &OrgId, id: &str) -> String {
    format!("ORG#{org}#REC#{id}")
}

fn experiment_pk(org: &OrgId, id: &str) -> String {
    format!("ORG#{org}#EXP#{id}")
}

fn confounder_pk(org: &OrgId, platform: Platform) -> String {
    format!("ORG#{org}#CONF#{platform}")
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((25u64 << attempt.min(6)).min(2_000))
}

fn record_from_item(item: &Item) -> Result<CausalMarketingData, StoreError> {
    let key = req_s(item, "pk")?;
    let mut r: CausalMarketingData = serde_json::from_str(req_s(item, "doc")?)
        .map_err(|e| StoreError::Corrupt { key: key.to_string(), reason: e.to_string() })?;
    r.created_at = parse_ts_key(key, req_s(item, "created_at")?)?;
    Ok(r)
}

fn version_from_item(item: &Item) -> Result<StoredVersion, StoreError> {
    let key = req_s(item, "pk")?;
    Ok(StoredVersion {
        content_hash: req_s(item, "content_hash")?.to_string(),
        created_at: parse_ts_key(key, req_s(item, "created_at")?)?,
        updated_at: parse_ts_key(key, req_s(item, "updated_at")?)?,
    })
}

/// The full item for a record (used by batch writes). `created_at` is the one to keep.
fn record_item(r: &CausalMarketingData, hash: &str, created_at: DateTime<Utc>) -> Result<Item, StoreError> {
    let doc = serde_json::to_string(r).map_err(|e| StoreError::backend(BACKEND, e, false))?;
    let ts = ts_key(r.timestamp);
    let org = &r.org_id;
    let mut item: Item = HashMap::from([
        ("pk".to_string(), s(record_pk(org, &r.id))),
        ("sk".to_string(), s("REC")),
        ("entity".to_string(), s("record")),
        ("gsi1pk".to_string(), s(format!("ORG#{org}#PLAT#{}", r.platform))),
        ("gsi1sk".to_string(), s(format!("{ts}#{}", r.id))),
        ("gsi2pk".to_string(), s(format!("ORG#{org}#CAMP#{}#{}", r.platform, r.campaign_id))),
        ("gsi2sk".to_string(), s(format!("{ts}#{}", r.id))),
        ("content_hash".to_string(), s(hash)),
        ("created_at".to_string(), s(ts_key(created_at))),
        ("updated_at".to_string(), s(ts_key(r.updated_at))),
        ("doc".to_string(), s(doc)),
    ]);
    if let Some(exp) = r.experiment_id() {
        item.insert("gsi3pk".to_string(), s(format!("ORG#{org}#EXP#{exp}")));
        item.insert("gsi3sk".to_string(), s(format!("{ts}#{}", r.id)));
    }
    Ok(item)
}

/// Create the table with its three GSIs (on-demand billing), as `infra/template.yaml` declares it.
/// Used by tests against moto and by `liftos` against a fresh endpoint.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| StoreError::backend(BACKEND, e, false))
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .map_err(|e| StoreError::backend(BACKEND, e, false))
    };
    let mut req = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?);
    for n in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"] {
        req = req.attribute_definitions(attr(n)?);
    }
    for i in 1..=3 {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(format!("gsi{i}"))
                .key_schema(key(&format!("gsi{i}pk"), KeyType::Hash)?)
                .key_schema(key(&format!("gsi{i}sk"), KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(|e| StoreError::backend(BACKEND, e, false))?,
        );
    }
    req.send().await.map_err(|e| sdk_error(BACKEND, e))?;
    Ok(())
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// Put `item` only if nothing has its key: `Ok(false)` when something does.
    async fn put_new(&self, item: Item) -> Result<bool, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().map(|x| x.is_conditional_check_failed_exception()).unwrap_or(false) => {
                Ok(false)
            }
            Err(err) => Err(sdk_error(BACKEND, err)),
        }
    }

    /// Replace `item` only if the stored version's `updated_at` is `expected`: `Ok(false)` when
    /// it is not (or there is none).
    async fn put_if_version(&self, item: Item, expected: DateTime<Utc>) -> Result<bool, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("updated_at = :expected")
            .expression_attribute_values(":expected", s(ts_key(expected)))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().map(|x| x.is_conditional_check_failed_exception()).unwrap_or(false) => {
                Ok(false)
            }
            Err(err) => Err(sdk_error(BACKEND, err)),
        }
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, e))?;
        Ok(out.item)
    }

    /// Query one index partition in key order, `limit` items after the cursor, each decoded.
    #[allow(clippy::too_many_arguments)]
    async fn query_index<T>(
        &self,
        decode: fn(&Item) -> Result<T, StoreError>,
        index: &str,
        pk: String,
        sk_range: Option<(String, String)>,
        forward: bool,
        scope: &str,
        page: &PageRequest,
        org: &OrgId,
    ) -> Result<Page<T>, StoreError> {
        let (pk_attr, sk_attr) = (format!("{index}pk"), format!("{index}sk"));
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .scan_index_forward(forward)
            .expression_attribute_values(":p", s(pk.clone()));
        q = match &sk_range {
            Some((a, b)) => q
                .key_condition_expression(format!("{pk_attr} = :p AND {sk_attr} BETWEEN :a AND :b"))
                .expression_attribute_values(":a", s(a.clone()))
                .expression_attribute_values(":b", s(b.clone())),
            None => q.key_condition_expression(format!("{pk_attr} = :p")),
        };
        if let Some(c) = &page.cursor {
            let k = cursor::decode(scope, c, 4)?;
            // The start key must lie inside this org's partition of this index.
            if k[2] != pk || !k[0].starts_with(&org_prefix(org)) {
                return Err(StoreError::InvalidCursor("this cursor belongs to a different query".into()));
            }
            let start: Item = HashMap::from([
                ("pk".to_string(), s(k[0].clone())),
                ("sk".to_string(), s(k[1].clone())),
                (pk_attr.clone(), s(k[2].clone())),
                (sk_attr.clone(), s(k[3].clone())),
            ]);
            q = q.set_exclusive_start_key(Some(start));
        }
        let mut items: Vec<Item> = Vec::with_capacity(page.limit + 1);
        let mut start_key = None;
        // Ask for one more than a page to know whether another page exists.
        loop {
            let mut call = q.clone().limit((page.limit + 1 - items.len()) as i32);
            if start_key.is_some() {
                call = call.set_exclusive_start_key(start_key.take());
            }
            let out = call.send().await.map_err(|e| sdk_error(BACKEND, e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if items.len() <= page.limit => start_key = Some(k),
                _ => break,
            }
        }
        let next = if items.len() > page.limit {
            items.truncate(page.limit);
            let last = items.last().ok_or_else(|| StoreError::backend(BACKEND, "empty page", false))?;
            Some(cursor::encode(
                scope,
                vec![
                    req_s(last, "pk")?.to_string(),
                    req_s(last, "sk")?.to_string(),
                    req_s(last, &pk_attr)?.to_string(),
                    req_s(last, &sk_attr)?.to_string(),
                ],
            ))
        } else {
            None
        };
        Ok(Page { items: items.iter().map(decode).collect::<Result<Vec<_>, _>>()?, next_cursor: next })
    }
}

/// How many conditional writes of one batch are in flight at once.
const WRITE_CONCURRENCY: usize = 16;

/// One conditional write: the outcome, or that the stored item changed between the refused
/// condition and the read of it (then the write is tried again).
enum Attempt {
    Done(PutOutcome),
    Raced,
}

impl DynamoStore {
    /// Versions of one record, in their order: each outcome, or the conflict's reason.
    async fn put_in_order(
        &self,
        group: Vec<(usize, &CausalMarketingData)>,
    ) -> Result<Vec<(usize, Result<PutOutcome, String>)>, StoreError> {
        let mut out = Vec::with_capacity(group.len());
        for (i, r) in group {
            match self.put_record(r).await {
                Ok(o) => out.push((i, Ok(o))),
                Err(StoreError::Conflict { reason, .. }) => out.push((i, Err(reason))),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The write rule as one conditional UpdateItem: insert when absent, replace only a
    /// strictly older version with other content (keeping `created_at`); a refused condition is
    /// then explained from the stored item (same content: unchanged; newer: a conflict).
    async fn try_put(&self, r: &CausalMarketingData) -> Result<Attempt, StoreError> {
        let hash = r.content_hash();
        let item = record_item(r, &hash, r.created_at)?;
        let mut sets = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(record_pk(&r.org_id, &r.id)))
            .key("sk", s("REC"));
        for (i, (name, value)) in item.iter().enumerate() {
            if name == "pk" || name == "sk" {
                continue;
            }
            let (n, v) = (format!("#a{i}"), format!(":a{i}"));
            if name == "created_at" {
                sets.push(format!("{n} = if_not_exists({n}, {v})"));
            } else {
                sets.push(format!("{n} = {v}"));
            }
            req = req.expression_attribute_names(n, name).expression_attribute_values(v, value.clone());
        }
        let mut expr = format!("SET {}", sets.join(", "));
        if r.experiment_id().is_none() {
            req = req.expression_attribute_names("#g3p", "gsi3pk").expression_attribute_names("#g3s", "gsi3sk");
            expr.push_str(" REMOVE #g3p, #g3s");
        }
        let out = req
            .update_expression(expr)
            .condition_expression("attribute_not_exists(pk) OR (#ch <> :h AND #ua < :u)")
            .expression_attribute_names("#ch", "content_hash")
            .expression_attribute_names("#ua", "updated_at")
            .expression_attribute_values(":h", s(hash.clone()))
            .expression_attribute_values(":u", s(ts_key(r.updated_at)))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(o) => Ok(Attempt::Done(if o.attributes.map(|a| a.is_empty()).unwrap_or(true) {
                PutOutcome::Inserted
            } else {
                PutOutcome::Updated
            })),
            Err(err) => {
                let is_ccf = err.as_service_error().map(|e| e.is_conditional_check_failed_exception()).unwrap_or(false);
                if !is_ccf {
                    return Err(sdk_error(BACKEND, err));
                }
                let old = match err.into_service_error() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(e) => {
                        e.item.filter(|i| !i.is_empty())
                    }
                    _ => None,
                };
                let old = match old {
                    Some(i) => Some(i),
                    None => self.get_item(record_pk(&r.org_id, &r.id), "REC").await?,
                };
                // An item without its version attributes is one being written this instant
                // (moto can show an update half-applied; DynamoDB never does): look again.
                let version = match old.as_ref().map(version_from_item).transpose() {
                    Ok(v) => v,
                    Err(StoreError::Corrupt { .. }) => return Ok(Attempt::Raced),
                    Err(e) => return Err(e),
                };
                match decide_put(version.as_ref(), r, &hash) {
                    Ok(PutOutcome::Unchanged) => Ok(Attempt::Done(PutOutcome::Unchanged)),
                    Ok(_) => Ok(Attempt::Raced),
                    Err(reason) => Err(StoreError::Conflict { key: r.id.clone(), reason }),
                }
            }
        }
    }
}

#[async_trait]
impl RecordStore for DynamoStore {
    async fn put_record(&self, r: &CausalMarketingData) -> Result<PutOutcome, StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            match self.try_put(r).await? {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::Raced => tokio::time::sleep(backoff(attempt + 1)).await,
            }
        }
        Err(StoreError::Conflict { key: r.id.clone(), reason: "changed concurrently on every attempt; retry".into() })
    }

    /// Every record through the same conditional write as [`put_record`](Self::put_record), up
    /// to 16 at a time; versions of one id in the batch are written in their order. A batch that
    /// fails part-way (throttling past the SDK's retries) fails whole and is redelivered: the
    /// records already written are then unchanged.
    async fn put_records(&self, records: &[CausalMarketingData]) -> Result<BatchPutReport, StoreError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        // Versions of one id (by org and id) are written in order by one task.
        let mut groups: Vec<Vec<(usize, &CausalMarketingData)>> = Vec::new();
        let mut index: HashMap<(&OrgId, &str), usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            let g = *index.entry((&r.org_id, r.id.as_str())).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push((i, r));
        }
        let tasks: Vec<_> = groups.into_iter().map(|g| self.put_in_order(g)).collect();
        let outcomes: Vec<Vec<(usize, Result<PutOutcome, String>)>> =
            stream::iter(tasks).buffer_unordered(WRITE_CONCURRENCY).try_collect().await?;
        let mut flat: Vec<(usize, Result<PutOutcome, String>)> = outcomes.into_iter().flatten().collect();
        flat.sort_by_key(|(i, _)| *i);
        let mut report = BatchPutReport::default();
        for (i, outcome) in flat {
            let id = &records[i].id;
            match outcome {
                Ok(o) => report.record(id, o),
                Err(reason) => report.conflicts.push(WriteConflict { id: id.clone(), reason }),
            }
        }
        Ok(report)
    }

    async fn get_record(&self, org: &OrgId, id: &str) -> Result<Option<CausalMarketingData>, StoreError> {
        self.get_item(record_pk(org, id), "REC").await?.as_ref().map(record_from_item).transpose()
    }

    async fn query_records(
        &self,
        org: &OrgId,
        query: &RecordQuery,
        page: &PageRequest,
    ) -> Result<Page<CausalMarketingData>, StoreError> {
        let scope = query.scope(org);
        let between = |range: &crate::domain::DateRange| {
            (format!("{}#", ts_key(range.start_instant())), format!("{}#~", ts_key(range.end_instant())))
        };
        let (index, pk, range) = match query {
            RecordQuery::Platform { platform, range } => {
                ("gsi1", format!("ORG#{org}#PLAT#{platform}"), Some(between(range)))
            }
            RecordQuery::Campaign { platform, campaign_id, range } => {
                ("gsi2", format!("ORG#{org}#CAMP#{platform}#{campaign_id}"), Some(between(range)))
            }
            RecordQuery::Experiment { experiment_id } => ("gsi3", format!("ORG#{org}#EXP#{experiment_id}"), None),
        };
        self.query_index(record_from_item, index, pk, range, true, &scope, page, org).await
    }
}

fn experiment_item(e: &CausalExperiment) -> Result<Item, StoreError> {
    let doc = serde_json::to_string(e).map_err(|err| StoreError::backend(BACKEND, err, false))?;
    Ok(HashMap::from([
        ("pk".to_string(), s(experiment_pk(&e.org_id, &e.id))),
        ("sk".to_string(), s("EXP")),
        ("entity".to_string(), s("experiment")),
        ("gsi1pk".to_string(), s(format!("ORG#{}#EXPERIMENTS", e.org_id))),
        ("gsi1sk".to_string(), s(format!("{}#{}", ts_key(e.created_at), e.id))),
        ("updated_at".to_string(), s(ts_key(e.updated_at))),
        ("doc".to_string(), s(doc)),
    ]))
}

/// An item whose content is the JSON document in `doc` (experiments, jobs).
fn doc_from_item<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let key = req_s(item, "pk")?;
    serde_json::from_str(req_s(item, "doc")?)
        .map_err(|e| StoreError::Corrupt { key: key.to_string(), reason: e.to_string() })
}

#[async_trait]
impl ExperimentStore for DynamoStore {
    async fn create_experiment(&self, e: &CausalExperiment) -> Result<PutOutcome, StoreError> {
        if self.put_new(experiment_item(e)?).await? {
            return Ok(PutOutcome::Inserted);
        }
        match self.get_experiment(&e.org_id, &e.id).await? {
            Some(old) if crate::storage::same_experiment_content(&old, e) => Ok(PutOutcome::Unchanged),
            _ => Err(StoreError::Conflict {
                key: e.id.clone(),
                reason: "an experiment with this id already exists".into(),
            }),
        }
    }

    async fn update_experiment(&self, e: &CausalExperiment, expected: DateTime<Utc>) -> Result<(), StoreError> {
        if self.put_if_version(experiment_item(e)?, expected).await? {
            return Ok(());
        }
        match self.get_experiment(&e.org_id, &e.id).await? {
            None => Err(StoreError::NotFound(format!("experiment {}", e.id))),
            Some(_) => Err(StoreError::Conflict {
                key: e.id.clone(),
                reason: "the experiment was changed since it was read".into(),
            }),
        }
    }

    async fn get_experiment(&self, org: &OrgId, id: &str) -> Result<Option<CausalExperiment>, StoreError> {
        self.get_item(experiment_pk(org, id), "EXP").await?.as_ref().map(doc_from_item).transpose()
    }

    async fn list_experiments(&self, org: &OrgId, page: &PageRequest) -> Result<Page<CausalExperiment>, StoreError> {
        let scope = format!("{org}|experiments");
        self.query_index(doc_from_item, "gsi1", format!("ORG#{org}#EXPERIMENTS"), None, false, &scope, page, org).await
    }
}

#[async_trait]
impl ConfounderStore for DynamoStore {
    async fn put_confounder(&self, v: &ConfounderVariable) -> Result<(), StoreError> {
        let pk = confounder_pk(&v.org_id, v.platform);
        let sk = format!("VAR#{}", v.variable_name);
        // Optimistic concurrency: read, merge, write if the version is unchanged.
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.get_item(pk.clone(), &sk).await?;
            let (merged, version) = match &current {
                Some(item) => {
                    let old: ConfounderVariable = serde_json::from_str(req_s(item, "doc")?)
                        .map_err(|e| StoreError::Corrupt { key: pk.clone(), reason: e.to_string() })?;
                    let version: u64 = req_s(item, "version")?.parse().unwrap_or(0);
                    (old.merge(v), Some(version))
                }
                None => (v.clone(), None),
            };
            let doc = serde_json::to_string(&merged).map_err(|e| StoreError::backend(BACKEND, e, false))?;
            let next = version.map(|x| x + 1).unwrap_or(1);
            let mut req = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(pk.clone()))
                .item("sk", s(sk.clone()))
                .item("entity", s("confounder"))
                .item("version", s(next.to_string()))
                .item("doc", s(doc));
            req = match version {
                Some(old) => {
                    req.condition_expression("version = :v").expression_attribute_values(":v", s(old.to_string()))
                }
                None => req.condition_expression("attribute_not_exists(pk)"),
            };
            match req.send().await {
                Ok(_) => return Ok(()),
                Err(err)
                    if err.as_service_error().map(|x| x.is_conditional_check_failed_exception()).unwrap_or(false) =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(err) => return Err(sdk_error(BACKEND, err)),
            }
        }
        Err(StoreError::Conflict { key: pk, reason: "too many concurrent updates".into() })
    }

    async fn list_confounders(
        &self,
        org: &OrgId,
        platform: Option<Platform>,
    ) -> Result<Vec<ConfounderVariable>, StoreError> {
        let platforms: Vec<Platform> = match platform {
            Some(p) => vec![p],
            None => Platform::ALL.to_vec(),
        };
        let mut out = Vec::new();
        for p in platforms {
            let mut start = None;
            loop {
                let res = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :p")
                    .expression_attribute_values(":p", s(confounder_pk(org, p)))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| sdk_error(BACKEND, e))?;
                for item in res.items.unwrap_or_default() {
                    let v: ConfounderVariable = serde_json::from_str(req_s(&item, "doc")?)
                        .map_err(|e| StoreError::Corrupt { key: confounder_pk(org, p), reason: e.to_string() })?;
                    out.push(v);
                }
                match res.last_evaluated_key {
                    Some(k) => start = Some(k),
                    None => break,
                }
            }
        }
        out.sort_by(|a, b| (a.platform.as_str(), &a.variable_name).cmp(&(b.platform.as_str(), &b.variable_name)));
        Ok(out)
    }
}

#[async_trait]
impl AuditStore for DynamoStore {
    async fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let doc = serde_json::to_string(e).map_err(|err| StoreError::backend(BACKEND, err, false))?;
        let at = ts_key(e.at);
        let pk = format!("ORG#{}#AUDIT#{}", e.org_id, e.id);
        let mut attempt = 0;
        loop {
            let res = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(pk.clone()))
                .item("sk", s("AUDIT"))
                .item("gsi1pk", s(format!("ORG#{}#AUDIT", e.org_id)))
                .item("gsi1sk", s(format!("{at}#{}", e.id)))
                .item("doc", s(doc.clone()))
                // Appending twice (a retried request) keeps the first entry.
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match res {
                Ok(_) => return Ok(()),
                Err(err) => {
                    let conditional =
                        err.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception());
                    if conditional {
                        return Ok(());
                    }
                    let mapped = sdk_error(BACKEND, err);
                    attempt += 1;
                    if !mapped.is_retryable() || attempt >= MAX_ATTEMPTS {
                        return Err(mapped);
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
    }

    async fn list_audit(
        &self,
        org: &OrgId,
        range: &DateRange,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let scope = format!("{org}|audit|{}|{}", range.start, range.end);
        let lo = ts_key(range.start_instant());
        // '~' sorts after the '#id' suffix of any entry at the last instant.
        let hi = format!("{}~", ts_key(range.end_instant()));
        self.query_index(doc_from_item, "gsi1", format!("ORG#{org}#AUDIT"), Some((lo, hi)), false, &scope, page, org)
            .await
    }
}

fn job_pk(org: &OrgId, id: &str) -> String {
    format!("ORG#{org}#JOB#{id}")
}

fn job_item(j: &AnalysisJob) -> Result<Item, StoreError> {
    let doc = serde_json::to_string(j).map_err(|err| StoreError::backend(BACKEND, err, false))?;
    Ok(HashMap::from([
        ("pk".to_string(), s(job_pk(&j.org_id, &j.id))),
        ("sk".to_string(), s("JOB")),
        ("gsi1pk".to_string(), s(format!("ORG#{}#JOBS", j.org_id))),
        ("gsi1sk".to_string(), s(j.id.clone())),
        ("entity".to_string(), s("job")),
        (
            "status".to_string(),
            s(serde_json::to_value(j.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()),
        ),
        ("updated_at".to_string(), s(ts_key(j.updated_at))),
        ("doc".to_string(), s(doc)),
    ]))
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn create_job(&self, j: &AnalysisJob) -> Result<PutOutcome, StoreError> {
        if self.put_new(job_item(j)?).await? {
            return Ok(PutOutcome::Inserted);
        }
        match self.get_job(&j.org_id, &j.id).await? {
            Some(old) if &old == j => Ok(PutOutcome::Unchanged),
            _ => Err(StoreError::Conflict { key: j.id.clone(), reason: "a job with this id already exists".into() }),
        }
    }

    async fn get_job(&self, org: &OrgId, id: &str) -> Result<Option<AnalysisJob>, StoreError> {
        self.get_item(job_pk(org, id), "JOB").await?.as_ref().map(doc_from_item).transpose()
    }

    /// GSI1 (eventually consistent: a job finished a moment ago may be missing from a listing).
    async fn list_jobs(&self, org: &OrgId, page: &PageRequest) -> Result<Page<AnalysisJob>, StoreError> {
        let scope = format!("{org}|jobs");
        self.query_index(doc_from_item, "gsi1", format!("ORG#{org}#JOBS"), None, true, &scope, page, org).await
    }

    async fn update_job(&self, j: &AnalysisJob, expected: DateTime<Utc>) -> Result<(), StoreError> {
        if self.put_if_version(job_item(j)?, expected).await? {
            return Ok(());
        }
        match self.get_job(&j.org_id, &j.id).await? {
            None => Err(StoreError::NotFound(format!("job {}", j.id))),
            Some(_) => {
                Err(StoreError::Conflict { key: j.id.clone(), reason: "the job was changed since it was read".into() })
            }
        }
    }
}

fn graph_pk(org: &OrgId) -> String {
    format!("ORG#{org}#KG")
}

impl DynamoStore {
    /// Every item of the org's graph partition, with only `attrs` when given (a projection).
    async fn graph_query(&self, org: &OrgId, attrs: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(graph_pk(org)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if let Some(a) = attrs {
                q = q.projection_expression(a).expression_attribute_names("#h", "hash");
            }
            let res = q.send().await.map_err(|e| sdk_error(BACKEND, e))?;
            out.extend(res.items.unwrap_or_default());
            match res.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl GraphStore for DynamoStore {
    async fn graph_hashes(&self, org: &OrgId) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        self.graph_query(org, Some("sk, #h"))
            .await?
            .iter()
            .map(|i| Ok((req_s(i, "sk")?.to_string(), req_s(i, "hash")?.to_string())))
            .collect()
    }

    async fn graph_items(&self, org: &OrgId) -> Result<Vec<GraphItem>, StoreError> {
        let mut items: Vec<GraphItem> = self
            .graph_query(org, None)
            .await?
            .iter()
            .map(|i| {
                Ok(GraphItem {
                    key: req_s(i, "sk")?.to_string(),
                    hash: req_s(i, "hash")?.to_string(),
                    doc: req_s(i, "doc")?.to_string(),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        items.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(items)
    }

    /// BatchWriteItem, 25 requests a call, the unprocessed ones sent again with backoff.
    async fn write_graph(&self, org: &OrgId, put: &[GraphItem], delete: &[String]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
        let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::backend(BACKEND, e, false);
        let mut requests = Vec::with_capacity(put.len() + delete.len());
        for i in put {
            let item: Item = HashMap::from([
                ("pk".to_string(), s(graph_pk(org))),
                ("sk".to_string(), s(i.key.clone())),
                ("entity".to_string(), s("graph")),
                ("hash".to_string(), s(i.hash.clone())),
                ("doc".to_string(), s(i.doc.clone())),
            ]);
            requests.push(
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().map_err(build)?)
                    .build(),
            );
        }
        for k in delete {
            let key: Item = HashMap::from([("pk".to_string(), s(graph_pk(org))), ("sk".to_string(), s(k.clone()))]);
            requests.push(
                WriteRequest::builder()
                    .delete_request(DeleteRequest::builder().set_key(Some(key)).build().map_err(build)?)
                    .build(),
            );
        }
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt > 0 {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                if attempt >= MAX_ATTEMPTS {
                    return Err(StoreError::Backend {
                        backend: BACKEND,
                        message: format!("{} graph items not written after {MAX_ATTEMPTS} attempts", pending.len()),
                        retryable: true,
                    });
                }
                attempt += 1;
                let res = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| sdk_error(BACKEND, e))?;
                pending = res.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            }
        }
        Ok(())
    }
}
