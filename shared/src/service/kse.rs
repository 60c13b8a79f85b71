//! The knowledge engine's use cases: build an org's graph from its stored records, detected
//! interventions and confounders (`POST /api/v1/kse/graph/build`, `liftos kse build`, the
//! `kse-build` stage); search it; a node's neighbourhood; map marketing text onto the ontology.
//!
//! The snapshot is one JSON document under the org's panels (`kse/graph.json`: S3
//! `orgs/{org}/kse/graph.json` in the cloud, a file under the data folder locally). Its `version`
//! is the sha256 of its content, which is a function of the inputs only, so a rebuild on the same
//! inputs (a redelivered message, a concurrent build) writes nothing new.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::causal::{self, AnalysisOutput, Answer, Ctx, Kind};
use super::{parse_object, require, ServiceError};
use crate::api::kse::{
    BuildSummary, ConceptMapRequest, ConceptMapResponse, GraphQuery, MappedConcept, Neighbour, SimilarQuery,
    SimilarResponse, MAX_MAP_CHARS, MAX_SIMILAR,
};
use crate::domain::{permissions, DateRange, Platform, TreatmentGroup, UserContext, ValidationError};
use crate::kse::graph::{
    self, Claim, ClaimCheck, EvidenceKind, GraphBuilder, KnowledgeGraph, Node, NodeKind, PlatformDays,
};
use crate::kse::ontology::{Concept, Ontology};
use crate::kse::profile::{self, ProfileKind};
use crate::kse::search::{self, Neighbourhood, SearchRequest, SearchResponse};
use crate::llm::facts::{self, Grade};
use crate::storage::{GraphItem, PageRequest, RecordQuery, Stores};

/// Where the org's snapshot lives among its panels.
pub const SNAPSHOT_KEY: &str = "kse/graph.json";
/// The version of the current snapshot, written after it: a warm reader compares this small
/// object with the version it holds instead of reading the snapshot again.
pub const VERSION_KEY: &str = "kse/version";
/// Orgs whose parsed snapshot a warm process keeps.
pub const CACHED_ORGS: usize = 16;

type Cache = std::sync::Mutex<std::collections::HashMap<String, (String, std::sync::Arc<KnowledgeGraph>)>>;

fn cache() -> &'static Cache {
    static C: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    C.get_or_init(Default::default)
}

/// Drops the parsed snapshots this process keeps (the benchmark's cold path).
pub fn forget_cached() {
    cache().lock().unwrap_or_else(|p| p.into_inner()).clear();
}
/// The most records one build reads (a larger org is built from the most recent ones, with a warning).
pub const MAX_BUILD_RECORDS: usize = 500_000;
/// The most interventions one build analyses (the most recent first).
pub const MAX_INTERVENTIONS: usize = 24;
/// Days either side of an intervention its analysis reads.
pub const WINDOW_DAYS: i64 = 56;

/// Builds the caller's graph and stores it: its items in the single table (only those whose
/// content changed, and the removal of those gone), then the snapshot unless the stored one has
/// the same version, then the version.
pub async fn build(stores: &Stores, user: &UserContext, now: DateTime<Utc>) -> Result<BuildSummary, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let g = assemble(stores, user, now).await?;
    graph::check(&g).map_err(ServiceError::Internal)?;
    let (items_written, items_deleted) = store_items(stores, user, &g).await?;
    let stored = load_snapshot(stores, user).await.ok().flatten();
    let written = stored.as_ref().is_none_or(|s| s.version != g.version);
    if written {
        let body = serde_json::to_vec(&g).map_err(|e| ServiceError::Internal(e.to_string()))?;
        stores.panels.put_panel(&user.org_id, SNAPSHOT_KEY, bytes::Bytes::from(body)).await?;
    }
    // The version after the snapshot (also when unchanged: it may be missing after an outage).
    stores.panels.put_panel(&user.org_id, VERSION_KEY, bytes::Bytes::from(g.version.clone())).await?;
    let mut evidence = BTreeMap::new();
    let mut by_grade = BTreeMap::new();
    for e in &g.edges {
        for c in &e.evidence {
            *evidence.entry(c.kind.to_string()).or_insert(0) += 1;
        }
        *by_grade.entry(format!("{:?}", e.best().grade)).or_insert(0) += 1;
    }
    tracing::info!(org = %user.org_id, version = %g.version, written, items_written, items_deleted, nodes = g.nodes.len(), edges = g.edges.len(), "kse build");
    Ok(BuildSummary {
        org_id: user.org_id.to_string(),
        version: g.version.clone(),
        written,
        key: SNAPSHOT_KEY.into(),
        items_written,
        items_deleted,
        nodes: g.nodes.len(),
        edges: g.edges.len(),
        evidence,
        edges_by_grade: by_grade,
        inputs: g.inputs.clone(),
        warnings: g.warnings.clone(),
    })
}

/// The largest item one node with the edges that leave it may make (DynamoDB holds 400 KB).
pub const MAX_ITEM_BYTES: usize = 350_000;
/// The key of the graph's head item.
pub const HEAD_KEY: &str = "HEAD";

/// The graph's head item: everything but its nodes and edges.
#[derive(serde::Serialize, serde::Deserialize)]
struct HeadDoc {
    org_id: String,
    version: String,
    ontology_version: String,
    builder_version: u32,
    inputs: graph::BuildInputs,
    #[serde(default)]
    warnings: Vec<String>,
}

/// A node's item: the node and the edges that leave it.
#[derive(serde::Serialize, serde::Deserialize)]
struct NodeDoc {
    node: Node,
    #[serde(default)]
    edges: Vec<graph::Edge>,
}

fn item(key: String, doc: String) -> GraphItem {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(doc.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    GraphItem { key, hash, doc }
}

/// The graph as items of the single table: its head, and one item per node with the edges that
/// leave it.
pub fn graph_items(g: &KnowledgeGraph) -> Result<Vec<GraphItem>, String> {
    let head = HeadDoc {
        org_id: g.org_id.clone(),
        version: g.version.clone(),
        ontology_version: g.ontology_version.clone(),
        builder_version: g.builder_version,
        inputs: g.inputs.clone(),
        warnings: g.warnings.clone(),
    };
    let mut out = vec![item(HEAD_KEY.into(), json(&head)?)];
    let mut leaving: BTreeMap<&str, Vec<graph::Edge>> = BTreeMap::new();
    for e in &g.edges {
        leaving.entry(e.from.as_str()).or_default().push(e.clone());
    }
    for n in &g.nodes {
        let doc = json(&NodeDoc { node: n.clone(), edges: leaving.remove(n.id.as_str()).unwrap_or_default() })?;
        if doc.len() > MAX_ITEM_BYTES {
            return Err(format!(
                "node {} with the edges that leave it is {} bytes, more than one item holds ({MAX_ITEM_BYTES})",
                n.id,
                doc.len()
            ));
        }
        out.push(item(format!("N#{}", n.id), doc));
    }
    Ok(out)
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string(v).map_err(|e| e.to_string())
}

/// The graph the items make, checked: its content must give the head's version (items of two
/// builds mixed, or an item changed by hand, do not).
pub fn graph_from_items(items: &[GraphItem]) -> Result<Option<KnowledgeGraph>, String> {
    let Some(head) = items.iter().find(|i| i.key == HEAD_KEY) else { return Ok(None) };
    let head: HeadDoc = serde_json::from_str(&head.doc).map_err(|e| format!("the graph's head item: {e}"))?;
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for i in items.iter().filter(|i| i.key.starts_with("N#")) {
        let d: NodeDoc = serde_json::from_str(&i.doc).map_err(|e| format!("graph item {}: {e}", i.key))?;
        nodes.push(d.node);
        edges.extend(d.edges);
    }
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    let g = KnowledgeGraph {
        org_id: head.org_id,
        version: head.version,
        ontology_version: head.ontology_version,
        builder_version: head.builder_version,
        inputs: head.inputs,
        nodes,
        edges,
        warnings: head.warnings,
    };
    let content = graph::content_version(&g);
    if content != g.version {
        return Err(format!("the graph's items give version {content}, their head says {}", g.version));
    }
    graph::check(&g)?;
    Ok(Some(g))
}

/// Writes the items of `g` whose content changed and removes those it no longer has: nodes and
/// removals first, the head last (a reader that finds the head finds its nodes). Returns how many
/// were written and removed; a rebuild on the same inputs writes none.
async fn store_items(stores: &Stores, user: &UserContext, g: &KnowledgeGraph) -> Result<(usize, usize), ServiceError> {
    let items = graph_items(g).map_err(ServiceError::Internal)?;
    let stored = stores.graph.graph_hashes(&user.org_id).await?;
    let keys: BTreeSet<String> = items.iter().map(|i| i.key.clone()).collect();
    let changed: Vec<GraphItem> =
        items.into_iter().filter(|i| stored.get(&i.key).is_none_or(|h| *h != i.hash)).collect();
    let (head, nodes): (Vec<GraphItem>, Vec<GraphItem>) = changed.into_iter().partition(|i| i.key == HEAD_KEY);
    let gone: Vec<String> = stored.keys().filter(|k| !keys.contains(*k)).cloned().collect();
    if !nodes.is_empty() || !gone.is_empty() {
        stores.graph.write_graph(&user.org_id, &nodes, &gone).await?;
    }
    if !head.is_empty() {
        stores.graph.write_graph(&user.org_id, &head, &[]).await?;
    }
    Ok((nodes.len() + head.len(), gone.len()))
}

/// The caller's stored snapshot as it is (None when missing).
async fn load_snapshot(stores: &Stores, user: &UserContext) -> Result<Option<KnowledgeGraph>, ServiceError> {
    let Some(bytes) = stores.panels.get_panel(&user.org_id, SNAPSHOT_KEY).await? else {
        return Ok(None);
    };
    let g: KnowledgeGraph = serde_json::from_slice(&bytes)
        .map_err(|e| ServiceError::Internal(format!("the stored knowledge graph does not read: {e}")))?;
    // A snapshot is only ever the caller's own (keys are under the org), but say so twice.
    if g.org_id != user.org_id.as_str() {
        return Ok(None);
    }
    Ok(Some(g))
}

/// The caller's graph, if a build has run: the snapshot, or when it is missing or does not read,
/// the graph the single table's items make (then written back as the snapshot).
pub async fn load(stores: &Stores, user: &UserContext) -> Result<Option<KnowledgeGraph>, ServiceError> {
    let snapshot_error = match load_snapshot(stores, user).await {
        Ok(Some(g)) => return Ok(Some(g)),
        Ok(None) => None,
        Err(e) => Some(e),
    };
    let items = stores.graph.graph_items(&user.org_id).await?;
    let g = match graph_from_items(&items) {
        Ok(Some(g)) if g.org_id == user.org_id.as_str() => g,
        Ok(_) => return snapshot_error.map_or(Ok(None), Err),
        Err(e) => {
            return Err(snapshot_error.unwrap_or_else(|| ServiceError::Internal(format!("knowledge graph items: {e}"))))
        }
    };
    tracing::warn!(org = %user.org_id, version = %g.version, "kse snapshot missing or unreadable: read from the table's items");
    // Written back where the caller may (the build; the read-only routes' roles may not, and
    // answer from the items all the same).
    let body = serde_json::to_vec(&g).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let back = async {
        stores.panels.put_panel(&user.org_id, SNAPSHOT_KEY, bytes::Bytes::from(body)).await?;
        stores.panels.put_panel(&user.org_id, VERSION_KEY, bytes::Bytes::from(g.version.clone())).await
    };
    if let Err(e) = back.await {
        tracing::warn!(org = %user.org_id, error = %e, "kse snapshot not written back");
    }
    Ok(Some(g))
}

/// The caller's snapshot, parsed once per version in a warm process: the small version object
/// is read on every call, the snapshot only when it changed.
pub async fn load_cached(
    stores: &Stores,
    user: &UserContext,
) -> Result<Option<std::sync::Arc<KnowledgeGraph>>, ServiceError> {
    let org = user.org_id.to_string();
    let current = stores.panels.get_panel(&user.org_id, VERSION_KEY).await?;
    let current = current.map(|b| String::from_utf8_lossy(&b).to_string());
    if let Some(v) = &current {
        let held = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&org).cloned();
        if let Some((held_version, g)) = held {
            if &held_version == v {
                return Ok(Some(g));
            }
        }
    }
    let Some(g) = load(stores, user).await? else { return Ok(None) };
    let g = std::sync::Arc::new(g);
    let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= CACHED_ORGS && !c.contains_key(&org) {
        if let Some(k) = c.keys().next().cloned() {
            c.remove(&k);
        }
    }
    // Kept under the version the snapshot says it is (a pointer ahead of it is read again next time).
    c.insert(org, (g.version.clone(), g.clone()));
    Ok(Some(g))
}

async fn require_graph(stores: &Stores, user: &UserContext) -> Result<std::sync::Arc<KnowledgeGraph>, ServiceError> {
    load_cached(stores, user).await?.ok_or_else(|| ServiceError::NotFound {
        what: "knowledge graph (build it first: POST /api/v1/kse/graph/build or liftos kse build)".into(),
    })
}

/// `POST /api/v1/kse/search`.
pub async fn search(stores: &Stores, user: &UserContext, body: &[u8]) -> Result<SearchResponse, ServiceError> {
    require(user, permissions::DATA_READ)?;
    let req: SearchRequest = parse_object(body)?;
    req.validate()?;
    let g = require_graph(stores, user).await?;
    Ok(search::search(&g, Ontology::shipped(), &req))
}

pub async fn neighbourhood(stores: &Stores, user: &UserContext, q: &GraphQuery) -> Result<Neighbourhood, ServiceError> {
    require(user, permissions::DATA_READ)?;
    let depth = q.depth.unwrap_or(1);
    if depth > search::MAX_DEPTH {
        return Err(ValidationError::new("depth", format!("{depth}: must be 0 to {}", search::MAX_DEPTH)).into());
    }
    if q.node.is_empty() || q.node.len() > 300 {
        return Err(ValidationError::new("node", "must be 1 to 300 characters").into());
    }
    let g = require_graph(stores, user).await?;
    // Another org's node id is simply not in this org's graph: the same 404 as a made-up one.
    search::neighbourhood(&g, &q.node, depth).ok_or_else(|| ServiceError::NotFound { what: format!("node {}", q.node) })
}

/// `GET /api/v1/kse/similar`: the node's nearest neighbours by one of its profiles.
pub async fn similar(stores: &Stores, user: &UserContext, q: &SimilarQuery) -> Result<SimilarResponse, ServiceError> {
    require(user, permissions::DATA_READ)?;
    let limit = q.limit.unwrap_or(5);
    if !(1..=MAX_SIMILAR).contains(&limit) {
        return Err(ValidationError::new("limit", format!("{limit}: must be 1 to {MAX_SIMILAR}")).into());
    }
    if q.node.is_empty() || q.node.len() > 300 {
        return Err(ValidationError::new("node", "must be 1 to 300 characters").into());
    }
    if q.date.is_some() != (q.profile == ProfileKind::Record) {
        return Err(if q.date.is_some() {
            ValidationError::new("date", "only with profile=record")
        } else {
            ValidationError::new("date", "is required with profile=record (the campaign's day, YYYY-MM-DD)")
        }
        .into());
    }
    let g = require_graph(stores, user).await?;
    let node = g.node(&q.node).ok_or_else(|| ServiceError::NotFound { what: format!("node {}", q.node) })?;
    if let (ProfileKind::Record, Some(date)) = (q.profile, q.date) {
        return similar_records(stores, user, &g, node, date, limit).await;
    }
    let key = q.profile.to_string();
    let me = node.profiles.get(&key).ok_or_else(|| {
        let has = if node.profiles.is_empty() {
            "none".to_string()
        } else {
            node.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
        };
        ValidationError::new(
            "profile",
            format!(
                "{} has no {key} profile (it has: {has}); channels and interventions have effect and temporal \
                 profiles, campaigns a context profile",
                q.node
            ),
        )
    })?;
    let mut neighbours: Vec<Neighbour> = g
        .nodes
        .iter()
        .filter(|n| n.id != node.id)
        .filter_map(|n| {
            let d = n.profiles.get(&key)?.distance(me)?;
            Some(Neighbour { node: n.id.clone(), label: n.label.clone(), kind: n.kind, distance: d, date: None })
        })
        .collect();
    neighbours.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.node.cmp(&b.node)));
    neighbours.truncate(limit);
    let about = match q.profile {
        ProfileKind::Effect => "effect profile: an intervention's effects on spend, conversions and revenue as z-statistics (clipped to ±10, over 10) and its grade's weight; a channel's elasticities and adstock θ",
        ProfileKind::Temporal => "temporal profile: a channel's distributed-lag weights of conversions on spend (lags 0-7, within campaign, weekday controls, summing to one); an intervention's event-study coefficients at event times -4 to 7 over the largest post-period one",
        ProfileKind::Context => "context vector: a campaign's level, spread and weekly trend of log spend and log conversions, and log cost per conversion; its neighbours are candidate comparison campaigns",
        ProfileKind::Record => unreachable!("answered by similar_records"),
    };
    Ok(SimilarResponse {
        node: node.id.clone(),
        profile: q.profile,
        about: format!("{about}. A feature vector computed from the estimates, not a learned embedding."),
        vector: me.clone(),
        neighbours,
        graph_version: g.version.clone(),
    })
}

/// The most records of one platform and day a record-vector query reads.
pub const MAX_DAY_RECORDS: usize = 50_000;

/// `GET /api/v1/kse/similar?profile=record&date=`: the campaign's record of that day as a context
/// vector, and the nearest untreated campaign-days of its platform on the same day.
async fn similar_records(
    stores: &Stores,
    user: &UserContext,
    g: &KnowledgeGraph,
    node: &Node,
    date: NaiveDate,
    limit: usize,
) -> Result<SimilarResponse, ServiceError> {
    let not_campaign =
        || ValidationError::new("profile", format!("{} is not a campaign: record vectors are campaign-days'", node.id));
    if node.kind != NodeKind::Campaign {
        return Err(not_campaign().into());
    }
    let (platform, campaign) = node.id.split_once('/').ok_or_else(not_campaign)?;
    let platform: Platform = platform.parse().map_err(|_| not_campaign())?;
    let range = DateRange::new(date, date)?;
    let mut day = Vec::new();
    let mut page = PageRequest::first(1000);
    loop {
        let got = stores.records.query_records(&user.org_id, &RecordQuery::Platform { platform, range }, &page).await?;
        day.extend(got.items);
        match got.next_cursor {
            Some(c) if day.len() < MAX_DAY_RECORDS => page.cursor = Some(c),
            _ => break,
        }
    }
    // Calendar variables are on every record alike; the exposure counts the detected events.
    let vector = |r: &crate::domain::CausalMarketingData| {
        let treated = r
            .treatment_assignment
            .as_ref()
            .is_some_and(|a| a.group == TreatmentGroup::Treated && a.assigned_at <= r.timestamp);
        let exposure = r
            .confounders
            .iter()
            .filter(|c| !matches!(c.name.as_str(), "day_of_week" | "trend" | "month") && c.value != 0.0)
            .count();
        let m = &r.metrics;
        profile::record_vector(
            treated,
            exposure,
            r.quality_score,
            [m.spend, m.impressions as f64, m.clicks as f64, m.conversions, m.revenue],
        )
    };
    let mine = day
        .iter()
        .find(|r| r.campaign_id == campaign)
        .ok_or_else(|| ServiceError::NotFound { what: format!("a record of {} on {date}", node.id) })?;
    let me = vector(mine);
    // Candidate controls: the other campaigns' untreated days (one record per campaign and day).
    let mut seen = BTreeSet::new();
    let pool: Vec<&crate::domain::CausalMarketingData> = day
        .iter()
        .filter(|r| r.campaign_id != campaign && seen.insert(r.campaign_id.clone()))
        .filter(|r| vector(r).values[0] == 0.0)
        .collect();
    let vectors: Vec<profile::Profile> = pool.iter().map(|r| vector(r)).collect();
    let neighbours: Vec<Neighbour> = profile::nearest_records(&me, &vectors)
        .into_iter()
        .take(limit)
        .map(|(i, d)| {
            let id = graph::campaign_node_id(platform.as_str(), &pool[i].campaign_id);
            let label = g.node(&id).map_or_else(|| id.clone(), |n| n.label.clone());
            Neighbour { node: id, label, kind: NodeKind::Campaign, distance: d, date: Some(date) }
        })
        .collect();
    Ok(SimilarResponse {
        node: node.id.clone(),
        profile: ProfileKind::Record,
        about: format!(
            "record context vector: the campaign's day ({date}): treated, its exposure to detected confounders (events, \
             not the calendar), its quality score, and log spend, impressions, clicks, conversions and revenue; its \
             neighbours are the {} untreated campaign-days of {platform} that day, each component over its spread \
             among them: comparable campaign-days as candidate controls. A feature vector computed from the records, \
             not a learned embedding.",
            pool.len()
        ),
        vector: me,
        neighbours,
        graph_version: g.version.clone(),
    })
}

pub fn map_concepts(user: &UserContext, body: &[u8]) -> Result<ConceptMapResponse, ServiceError> {
    require(user, permissions::DATA_READ)?;
    map_request(body)
}

/// The mapping of a request body (no org data is read).
pub fn map_request(body: &[u8]) -> Result<ConceptMapResponse, ServiceError> {
    let req: ConceptMapRequest = parse_object(body)?;
    if req.text.trim().is_empty() {
        return Err(ValidationError::new("text", "must not be empty").into());
    }
    if req.text.chars().count() > MAX_MAP_CHARS {
        return Err(ValidationError::new("text", format!("at most {MAX_MAP_CHARS} characters")).into());
    }
    Ok(map_text(Ontology::shipped(), &req.text))
}

pub fn map_text(o: &Ontology, text: &str) -> ConceptMapResponse {
    let mut by_id: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for (i, m) in o.mentions(text).into_iter().enumerate() {
        by_id.entry(m.concept).or_insert((i, Vec::new())).1.push(m.text);
    }
    let mut found: Vec<(usize, MappedConcept)> = by_id
        .into_iter()
        .filter_map(|(id, (first, matched))| {
            let c: &Concept = o.concept(&id)?;
            Some((
                first,
                MappedConcept {
                    id: c.id.clone(),
                    label: c.label.clone(),
                    kind: c.kind,
                    role: c.role,
                    matched,
                    description: c.description.clone(),
                    formula: c.formula.clone(),
                    tier: c.tier,
                    methods: c.methods.clone(),
                    checks: c.checks.clone(),
                },
            ))
        })
        .collect();
    found.sort_by_key(|(i, _)| *i);
    ConceptMapResponse {
        ontology_version: o.version.clone(),
        concepts: found.into_iter().map(|(_, c)| c).collect(),
        unmatched: o.unmatched(text),
    }
}

/// (platform, intervention, day, experiment) -> treated campaigns, comparison campaigns.
type Found = BTreeMap<(String, String, NaiveDate, Option<String>), (BTreeSet<String>, BTreeSet<String>)>;

/// Reads the org's data and assembles its graph.
pub async fn assemble(stores: &Stores, user: &UserContext, now: DateTime<Utc>) -> Result<KnowledgeGraph, ServiceError> {
    let ontology = Ontology::shipped();
    let mut b = GraphBuilder::default();
    let mut days: BTreeMap<String, BTreeMap<(String, i64), [f64; 5]>> = BTreeMap::new();
    let mut campaigns: BTreeSet<(String, String)> = BTreeSet::new();
    // (platform, campaign) -> its name on its newest named record.
    let mut names: BTreeMap<(String, String), (DateTime<Utc>, String)> = BTreeMap::new();
    let mut revenue: BTreeMap<String, f64> = BTreeMap::new();
    let mut found: Found = BTreeMap::new();
    // (platform, campaign) -> every (intervention, day) its records carry, with the first and
    // last day of those records.
    type Spans = BTreeMap<(String, NaiveDate, Option<String>), (NaiveDate, NaiveDate)>;
    let mut assigned: BTreeMap<(String, String), Spans> = BTreeMap::new();
    let mut read = 0usize;
    'platforms: for platform in Platform::ALL {
        let q = RecordQuery::Platform { platform, range: DateRange::all() };
        let mut page = PageRequest::first(1000);
        loop {
            let got = stores.records.query_records(&user.org_id, &q, &page).await?;
            for r in &got.items {
                read += 1;
                if read > MAX_BUILD_RECORDS {
                    b.warnings.push(format!(
                        "more than {MAX_BUILD_RECORDS} records: the build read the first {MAX_BUILD_RECORDS}"
                    ));
                    break 'platforms;
                }
                let p = r.platform.to_string();
                let m = &r.metrics;
                let day = r.timestamp.date_naive().signed_duration_since(NaiveDate::default()).num_days();
                let cell = days.entry(p.clone()).or_default().entry((r.campaign_id.clone(), day)).or_insert([0.0; 5]);
                for (k, v) in
                    [m.spend, m.impressions as f64, m.clicks as f64, m.conversions, m.revenue].into_iter().enumerate()
                {
                    cell[k] += v;
                }
                *revenue.entry(p.clone()).or_default() += m.revenue;
                campaigns.insert((p.clone(), r.campaign_id.clone()));
                if let Some(name) = &r.campaign_name {
                    let held = names.entry((p.clone(), r.campaign_id.clone())).or_insert((r.timestamp, name.clone()));
                    // The newest day's name; on one day, the first in order (the same every build).
                    if r.timestamp > held.0 || (r.timestamp == held.0 && name < &held.1) {
                        *held = (r.timestamp, name.clone());
                    }
                }
                if let Some(a) = &r.treatment_assignment {
                    let on = r.timestamp.date_naive();
                    let span = assigned
                        .entry((p.clone(), r.campaign_id.clone()))
                        .or_default()
                        .entry((a.intervention.clone(), a.assigned_at.date_naive(), a.experiment_id.clone()))
                        .or_insert((on, on));
                    *span = (span.0.min(on), span.1.max(on));
                    let e = found
                        .entry((p, a.intervention.clone(), a.assigned_at.date_naive(), a.experiment_id.clone()))
                        .or_default();
                    match a.group {
                        TreatmentGroup::Treated => e.0.insert(r.campaign_id.clone()),
                        TreatmentGroup::Control => e.1.insert(r.campaign_id.clone()),
                    };
                }
            }
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
    }
    b.inputs.records = read.min(MAX_BUILD_RECORDS);
    b.inputs.platforms = days.len();
    b.inputs.campaigns = campaigns.len();

    const VARS: [&str; 5] = ["spend", "impressions", "clicks", "conversions", "revenue"];
    for (p, cells) in &days {
        graph::add_channel(&mut b, ontology, p);
        for (pp, c) in campaigns.iter().filter(|(pp, _)| pp == p) {
            b.node(Node {
                platform: Some(pp.clone()),
                name: names.get(&(pp.clone(), c.clone())).map(|(_, n)| n.clone()),
                ..Node::new(
                    graph::campaign_node_id(pp, c),
                    NodeKind::Campaign,
                    format!(
                        "{} campaign {}",
                        ontology.for_platform(pp).map_or(pp.as_str(), |x| x.label.as_str()),
                        names.get(&(pp.clone(), c.clone())).map_or(c.as_str(), |(_, n)| n.as_str())
                    ),
                )
            });
        }
        graph::add_domain_priors(&mut b, ontology, p);
        let mut pd = PlatformDays { platform: p.clone(), ..Default::default() };
        for ((c, _), v) in cells {
            pd.campaign.push(c.clone());
            for (k, name) in VARS.iter().enumerate() {
                pd.metrics.entry(name.to_string()).or_default().push(v[k]);
            }
        }
        // The seed is fixed: the same records give the same resamples, and the same snapshot.
        graph::add_discovered(&mut b, ontology, &pd, 20261201);
        // The channel's carry-over (lag profile of conversions on spend) and elasticities.
        let mut cd = profile::CampaignDays::default();
        for ((c, t), v) in cells {
            cd.campaign.push(c.clone());
            cd.day.push(*t);
            cd.spend.push(v[0]);
            cd.outcome.push(v[3]);
        }
        let lag = profile::lag_profile(&cd);
        let elasticity = |from: &str, to: &str| {
            b.claim_between(&graph::variable_id(p, from), &graph::variable_id(p, to))
                .and_then(|c| c.estimate)
                .unwrap_or(0.0)
        };
        let effect = profile::Profile {
            components: vec![
                "elasticity_conversions_spend".into(),
                "elasticity_revenue_conversions".into(),
                "adstock_theta".into(),
            ],
            values: vec![
                elasticity("spend", "conversions"),
                elasticity("conversions", "revenue"),
                lag.as_ref().and_then(|l| l.fitted.get("adstock_theta").copied()).unwrap_or(0.0),
            ],
            fitted: BTreeMap::new(),
        };
        let channel = graph::channel_id(p);
        b.profile(&channel, ProfileKind::Effect, effect);
        if let Some(l) = lag {
            b.profile(&channel, ProfileKind::Temporal, l);
        }
        // Each campaign's context: candidate controls are its nearest neighbours.
        let mut by_campaign: BTreeMap<&str, Vec<(i64, f64, f64)>> = BTreeMap::new();
        for ((c, t), v) in cells {
            by_campaign.entry(c.as_str()).or_default().push((*t, v[0], v[3]));
        }
        for (c, series) in by_campaign {
            if let Some(ctx) = profile::context_vector(&series, i64::MAX) {
                b.profile(&graph::campaign_node_id(p, c), ProfileKind::Context, ctx);
            }
        }
    }

    // Detected confounders.
    let confounders = stores.confounders.list_confounders(&user.org_id, None).await?;
    b.inputs.confounders = confounders.len();
    for c in &confounders {
        let p = c.platform.to_string();
        if days.contains_key(&p) {
            graph::add_confounder(
                &mut b,
                ontology,
                &p,
                &c.variable_name,
                &c.detection_method,
                c.confidence_score,
                c.occurrences,
            );
        }
    }

    // The org's own KPI and what the media mix model says each channel's spend does to it.
    match super::surfacing::kpi_plan(stores, user).await {
        Ok(Some((plan, _))) => {
            let m = &plan.model;
            let curves: Vec<graph::CurveEvidence> = m
                .channels
                .iter()
                .map(|c| graph::CurveEvidence {
                    platform: c.channel.clone(),
                    roi: c.roi,
                    roi_ci: (c.roi_ci_low, c.roi_ci_high),
                    marginal_roi: c.marginal_roi,
                    marginal_roi_ci: (c.marginal_roi_ci_low, c.marginal_roi_ci_high),
                    adstock: c.adstock,
                    half_saturation: c.half_saturation,
                    positive_share: c.positive_share,
                    spend_from: c.spend_from,
                })
                .collect();
            let days = m.decomposition.kpi.iter().filter(|v| v.is_some()).count();
            graph::add_kpi_response(&mut b, ontology, &plan.kpi, &curves, m.level, days);
        }
        Ok(None) => {}
        Err(ServiceError::Store(e)) => return Err(ServiceError::Store(e)),
        Err(e) => b.warnings.push(format!("the org's KPI: no response curves: {e}")),
    }

    // Interventions with a comparison group: their effects on spend and the outcomes.
    let mut with_arms: Vec<_> = found.into_iter().filter(|(_, (t, c))| !t.is_empty() && !c.is_empty()).collect();
    b.inputs.interventions = with_arms.len();
    with_arms.sort_by(|a, b| b.0 .2.cmp(&a.0 .2).then(a.0.cmp(&b.0)));
    if with_arms.len() > MAX_INTERVENTIONS {
        b.warnings.push(format!(
            "{} interventions with a comparison group: the {MAX_INTERVENTIONS} most recent were analysed",
            with_arms.len()
        ));
        with_arms.truncate(MAX_INTERVENTIONS);
    }
    // Campaigns each analysed intervention treats: never a comparison for another one.
    let treated_by: BTreeMap<(String, String), Vec<NaiveDate>> =
        with_arms.iter().fold(BTreeMap::new(), |mut m, ((p, _, d, _), (t, _))| {
            for c in t {
                m.entry((p.clone(), c.clone())).or_insert_with(Vec::new).push(*d);
            }
            m
        });
    let ctx = Ctx { stores, jobs_queue: None, now };
    for ((p, name, day, experiment), (treated, controls)) in with_arms {
        let id = match &experiment {
            None => graph::intervention_id(&p, &name, day),
            Some(x) => format!("{}:{x}", graph::intervention_id(&p, &name, day)),
        };
        let label = ontology.for_intervention(&name).map_or(name.clone(), |c| c.label.clone());
        let channel = ontology.for_platform(&p).map_or(p.clone(), |c| c.label.clone());
        b.node(Node {
            platform: Some(p.clone()),
            concept: ontology.for_intervention(&name).map(|c| c.id.clone()),
            date: Some(day),
            campaigns: treated.iter().cloned().collect(),
            controls: controls.iter().cloned().collect(),
            experiment: experiment.clone(),
            ..Node::new(
                id.clone(),
                NodeKind::Intervention,
                match &experiment {
                    None => format!("{channel} {} on {day}", label.to_lowercase()),
                    Some(x) => format!("{channel} {} on {day} (experiment {x})", label.to_lowercase()),
                },
            )
        });
        if matches!(name.as_str(), "pause" | "launch") {
            b.warnings.push(format!(
                "{id}: no estimate: a {name} leaves its campaigns without records on one side, so a campaign-level \
                 difference-in-differences has nothing to compare; the platform's totals need a time-series analysis"
            ));
            continue;
        }
        // A campaign whose records also carry the same intervention from another day cannot be
        // told apart by the analysis (it names the intervention): a comparison campaign like that
        // is left out; a treated one stops the analysis.
        let days = window_days(treated.len() + controls.len());
        let (from, to) = (day - chrono::Duration::days(days), day + chrono::Duration::days(days - 1));
        let other_day = |c: &String| {
            assigned.get(&(p.clone(), c.clone())).is_some_and(|s| {
                s.iter().any(|((n, d, x), (first, last))| {
                    n == &name && (*d != day || *x != experiment) && *first <= to && *last >= from
                })
            })
        };
        if let Some(c) = treated.iter().find(|c| other_day(c)) {
            b.warnings.push(format!(
                "{id}: no estimate: campaign {c} carries {name} from another day as well within {from} to {to}"
            ));
            continue;
        }
        let controls: BTreeSet<String> = controls
            .into_iter()
            .filter(|c| !other_day(c))
            .filter(|c| {
                treated_by
                    .get(&(p.clone(), c.clone()))
                    .is_none_or(|treated_on| treated_on.iter().all(|d| *d < from || *d > to))
            })
            .collect();
        if controls.is_empty() {
            b.warnings.push(format!("{id}: no estimate: every comparison campaign was treated within {from} to {to}"));
            continue;
        }
        let mut outcomes = vec!["spend", "conversions"];
        if revenue.get(&p).copied().unwrap_or(0.0) > 0.0 {
            outcomes.push("revenue");
        }
        let mut z: [Option<f64>; 3] = [None; 3];
        let mut grade = Grade::D;
        for outcome in outcomes {
            match effect_claim(&ctx, user, &p, &name, day, &treated, &controls, experiment.as_deref(), outcome).await {
                Ok((claim, event)) => {
                    b.inputs.analyses += 1;
                    let k = ["spend", "conversions", "revenue"].iter().position(|v| *v == outcome).unwrap_or(0);
                    z[k] = claim.z();
                    grade = grade.min(claim.grade);
                    if outcome == "conversions" {
                        if let Some(t) = profile::event_profile(&event) {
                            b.profile(&id, ProfileKind::Temporal, t);
                        }
                    }
                    b.claim(&id, &graph::variable_id(&p, outcome), claim);
                }
                Err(e) => b.warnings.push(format!("{id}: no estimate on {outcome}: {e}")),
            }
        }
        if z.iter().any(Option::is_some) {
            b.profile(&id, ProfileKind::Effect, profile::effect_profile(z, crate::kse::search::grade_weight(grade)));
        }
    }
    org_analyses(stores, user, ontology, &mut b).await?;
    graph::add_provenance(&mut b, ontology);
    Ok(b.finish(user.org_id.as_str(), ontology))
}

/// The most analysis jobs one build lists.
pub const MAX_JOBS: usize = 1_000;

/// The org's own finished analyses on its stored records as evidence: each succeeded job whose
/// data were the records of one platform with a detected intervention, and whose methods share one
/// outcome the graph has, adds an `estimated_effect` claim per method from the intervention's node
/// to that outcome (graded as the build's own, analysis id the job's). Anything else is a warning.
async fn org_analyses(
    stores: &Stores,
    user: &UserContext,
    ontology: &Ontology,
    b: &mut GraphBuilder,
) -> Result<(), ServiceError> {
    const VARIABLES: [&str; 5] = ["spend", "impressions", "clicks", "conversions", "revenue"];
    let mut jobs = Vec::new();
    let mut page = PageRequest::first(100);
    loop {
        let got = stores.jobs.list_jobs(&user.org_id, &page).await?;
        jobs.extend(got.items.into_iter().filter(|j| j.status == crate::domain::JobStatus::Succeeded));
        match got.next_cursor {
            Some(c) if jobs.len() < MAX_JOBS => page.cursor = Some(c),
            Some(_) => {
                b.warnings.push(format!("more than {MAX_JOBS} analysis jobs: the first {MAX_JOBS} by id were read"));
                break;
            }
            None => break,
        }
    }
    for job in jobs {
        let skip = |why: String| format!("analysis {}: not read: {why}", job.id);
        let kind = match job.kind.as_str() {
            "analyze_advanced" => Kind::AnalyzeAdvanced,
            "treatment_effect" => Kind::TreatmentEffect,
            _ => continue,
        };
        let result = match (&job.result, &job.result_key) {
            (Some(v), _) => v.clone(),
            (None, Some(k)) => match stores.panels.get_panel(&user.org_id, k).await? {
                Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| ServiceError::Internal(e.to_string()))?,
                None => {
                    b.warnings.push(skip("its result is missing".into()));
                    continue;
                }
            },
            (None, None) => continue,
        };
        let out = match AnalysisOutput::from_json(kind, result) {
            Ok(o) => o,
            Err(e) => {
                b.warnings.push(skip(format!("its result does not read: {e}")));
                continue;
            }
        };
        let data = out.data();
        let Some(t) = (data.source == "records").then_some(data.treatment.as_ref()).flatten() else { continue };
        let request: serde_json::Value = match stores.panels.get_panel(&user.org_id, &job.request_key).await? {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            None => serde_json::Value::Null,
        };
        let outcomes: BTreeSet<&str> = match kind {
            Kind::AnalyzeAdvanced => request["methods"]
                .as_array()
                .map(|m| m.iter().filter_map(|x| x["outcome"].as_str()).collect())
                .unwrap_or_default(),
            _ => request["outcome"].as_str().into_iter().collect(),
        };
        let outcome = match outcomes.iter().next() {
            Some(o) if outcomes.len() == 1 && VARIABLES.contains(o) => o.to_string(),
            _ => {
                b.warnings.push(skip(format!(
                    "its outcome ({}) is not one of the graph's variables",
                    outcomes.iter().copied().collect::<Vec<_>>().join(", ")
                )));
                continue;
            }
        };
        // The intervention's node: on the request's platform, or the one platform whose node of
        // this intervention, day and experiment treats the analysis's treated campaigns.
        let day = t.assigned_at.date_naive();
        let node_of = |p: &str| match &t.experiment_id {
            None => graph::intervention_id(p, &t.intervention, day),
            Some(x) => format!("{}:{x}", graph::intervention_id(p, &t.intervention, day)),
        };
        let platforms: Vec<String> = match request["records"]["platform"].as_str() {
            Some(p) => vec![p.to_string()],
            None => Platform::ALL.iter().map(|p| p.to_string()).collect(),
        };
        let found: Vec<(String, String)> = platforms
            .iter()
            .map(|p| (p.clone(), node_of(p)))
            .filter(|(_, id)| b.node_ref(id).is_some_and(|n| t.treated_units.iter().all(|u| n.campaigns.contains(u))))
            .collect();
        let (platform, from) = match found.as_slice() {
            [one] => one.clone(),
            [] => {
                b.warnings.push(skip(format!(
                    "no intervention of the graph is its {} of {day}{} on its treated campaigns",
                    t.intervention,
                    t.experiment_id.as_ref().map(|x| format!(" (experiment {x})")).unwrap_or_default()
                )));
                continue;
            }
            _ => {
                b.warnings.push(skip("its intervention is on several platforms' campaigns".into()));
                continue;
            }
        };
        let level = 0.95;
        let context =
            facts::Context { outcome: Some(outcome.clone()), platforms: vec![platform.clone()], campaigns: Vec::new() };
        let sheet = match facts::sheet(&out, level, &context) {
            Ok(s) => s,
            Err(e) => {
                b.warnings.push(skip(format!("its facts: {e}")));
                continue;
            }
        };
        let mut added = 0;
        for ev in &sheet.evidence {
            let Some(effect) = sheet.get(&format!("{}.effect", ev.id)) else { continue };
            let scale = ontology
                .estimate_name(&ev.method, &ev.estimator)
                .and_then(|(_, s)| s)
                .unwrap_or("per treated unit and period");
            let claim = effect_fact_claim(
                format!("estimated_effect:{}:{}:{from}->{outcome}", job.id, ev.id),
                ev,
                effect,
                t.experiment_id.as_deref(),
                level,
                format!("{outcome} {scale}"),
                job.id.clone(),
                |_| {
                    format!(
                        "the org's own analysis {} ({}, {} treated and {} comparison campaigns): {}",
                        job.id,
                        ev.estimator,
                        t.treated_units.len(),
                        t.control_units.len(),
                        ev.reason
                    )
                },
            );
            b.claim(&from, &graph::variable_id(&platform, &outcome), claim);
            added += 1;
        }
        if added > 0 {
            b.inputs.org_analyses += 1;
        }
    }
    Ok(())
}

/// Days either side of an intervention for `clusters` campaigns: a third as many leads as
/// clusters, between 7 and [`WINDOW_DAYS`]. The joint test of the leads needs fewer leads than
/// clusters to run at all, and far fewer to hold its size: its cluster-robust covariance has
/// rank below the number of clusters.
pub fn window_days(clusters: usize) -> i64 {
    (clusters as i64 / 3).clamp(7, WINDOW_DAYS)
}

/// The difference-in-differences of one intervention on one outcome, as a claim graded by its
/// checks (the LLM module's grades).
#[allow(clippy::too_many_arguments)]
async fn effect_claim(
    ctx: &Ctx<'_>,
    user: &UserContext,
    platform: &str,
    intervention: &str,
    day: NaiveDate,
    treated: &BTreeSet<String>,
    controls: &BTreeSet<String>,
    experiment: Option<&str>,
    outcome: &str,
) -> Result<(Claim, Vec<(i64, f64)>), ServiceError> {
    let campaigns: Vec<&String> = treated.iter().chain(controls).collect();
    // The joint test of the leads needs fewer leads than clusters: the pre-period is as long as
    // the campaigns allow (7 to 56 days), the post-period as long.
    let days = window_days(campaigns.len());
    let mut request = serde_json::json!({
        "records": {
            "platform": platform,
            "campaigns": campaigns,
            "intervention": intervention,
            "start": (day - chrono::Duration::days(days)).to_string(),
            "end": (day + chrono::Duration::days(days - 1)).to_string(),
        },
        "mode": "sync",
        "methods": [{"method": "did", "outcome": outcome, "event_study": true}]
    });
    if let Some(x) = experiment {
        request["records"]["experiment_id"] = serde_json::json!(x);
    }
    let body = request.to_string();
    let analysis_id = {
        use sha2::Digest;
        let h = sha2::Sha256::digest(body.as_bytes());
        format!("kse-{}", h.iter().take(6).map(|x| format!("{x:02x}")).collect::<String>())
    };
    let out = match causal::run(ctx, user, Kind::AnalyzeAdvanced, body.as_bytes()).await? {
        Answer::Done(o @ AnalysisOutput::Advanced(_)) => o,
        _ => return Err(ServiceError::Internal("a synchronous analysis answered otherwise".into())),
    };
    // The event study's coefficients: the shape of the effect over time.
    let event: Vec<(i64, f64)> = match &out {
        AnalysisOutput::Advanced(a) => a
            .result
            .results
            .iter()
            .find_map(|m| match &m.result {
                crate::api::estimate::MethodOutput::Did(crate::api::estimate::DidOutput::Twfe(d)) => {
                    d.event_study.as_ref().map(|e| e.iter().map(|p| (p.relative_time, p.att)).collect())
                }
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let level = 0.95;
    let sheet = facts::sheet(
        &out,
        level,
        &facts::Context { outcome: Some(outcome.into()), platforms: vec![platform.into()], campaigns: Vec::new() },
    )?;
    let ev = sheet.evidence.first().ok_or_else(|| ServiceError::Internal("the analysis graded nothing".into()))?;
    let effect = sheet
        .get(&format!("{}.effect", ev.id))
        .ok_or_else(|| ServiceError::Internal("the analysis has no effect".into()))?;
    let claim = effect_fact_claim(
        format!(
            "estimated_effect:{}:{}->{}",
            analysis_id,
            graph::intervention_id(platform, intervention, day),
            outcome
        ),
        ev,
        effect,
        experiment,
        level,
        format!("{outcome} per campaign-day"),
        analysis_id.clone(),
        |grade| {
            format!(
                "{} of the {} on {} from {day} ({} treated, {} comparison campaigns, {} days either side): {}",
                ev.estimator,
                intervention.replace('_', " "),
                platform,
                treated.len(),
                controls.len(),
                days,
                match (grade, experiment) {
                    (Grade::A, Some(x)) => format!("the registered experiment {x}, and every check passed"),
                    _ => ev.reason.clone(),
                }
            )
        },
    );
    Ok((claim, event))
}

/// The estimated-effect claim of one graded method of an analysis (`ev` and its `effect` from the
/// LLM module's fact sheet at `level`): a registered experiment lifts a passing quasi-experiment
/// to A (the facts grade from the result alone).
#[allow(clippy::too_many_arguments)]
fn effect_fact_claim(
    id: String,
    ev: &facts::Evidence,
    effect: &facts::Fact,
    experiment: Option<&str>,
    level: f64,
    unit: String,
    analysis_id: String,
    detail: impl FnOnce(Grade) -> String,
) -> Claim {
    let grade = match (ev.grade, experiment) {
        (Grade::B, Some(_)) => Grade::A,
        (g, _) => g,
    };
    Claim {
        id,
        kind: EvidenceKind::EstimatedEffect,
        grade,
        method: ev.method.clone(),
        estimate: Some(effect.value),
        ci_low: effect.ci.map(|c| c[0]),
        ci_high: effect.ci.map(|c| c[1]),
        level: effect.ci.map(|_| level),
        p_value: effect.p_value,
        unit: Some(unit),
        stability: None,
        confidence: None,
        n: None,
        analysis_id: Some(analysis_id),
        checks: ev.checks.iter().map(|c| ClaimCheck { name: c.name.clone(), passed: c.passed }).collect(),
        detail: detail(grade),
    }
}

/// The build stage's message: a data-ready announcement (or any message naming `org_id`). The
/// stage acts for the org the message names, which only the platform's own store stage writes.
pub async fn build_message(
    stores: &Stores,
    body: &str,
    now: DateTime<Utc>,
) -> Result<BuildSummary, super::stage::StageError> {
    use super::stage::StageError;
    #[derive(serde::Deserialize)]
    struct OrgOnly {
        org_id: crate::domain::OrgId,
    }
    let m: OrgOnly =
        serde_json::from_str(body).map_err(|e| StageError::Poison(format!("not a data-ready message: {e}")))?;
    let user = UserContext::new(
        m.org_id,
        "kse-build-stage".into(),
        vec![],
        [permissions::ANALYSIS_RUN.to_string(), permissions::DATA_READ.to_string()],
    );
    build(stores, &user, now).await.map_err(|e| match e {
        ServiceError::Store(s) if s.is_retryable() => StageError::Transient(s.to_string()),
        other => StageError::Poison(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> KnowledgeGraph {
        let o = Ontology::shipped();
        let mut b = GraphBuilder::default();
        for p in ["meta", "tiktok"] {
            graph::add_channel(&mut b, o, p);
            graph::add_domain_priors(&mut b, o, p);
        }
        b.warnings.push("a warning".into());
        b.finish("o", o)
    }

    /// The items make the graph again to the last byte; an item changed or left out is refused,
    /// never read as a different graph.
    #[test]
    fn the_items_make_the_graph_and_nothing_else() {
        let g = small();
        let items = graph_items(&g).unwrap();
        assert_eq!(items.len(), g.nodes.len() + 1);
        assert_eq!(items.iter().filter(|i| i.key == HEAD_KEY).count(), 1);
        let back = graph_from_items(&items).unwrap().unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), serde_json::to_string(&g).unwrap());
        // In any order (a query returns them by key; a test store might not).
        let mut shuffled = items.clone();
        shuffled.reverse();
        assert_eq!(graph_from_items(&shuffled).unwrap().unwrap(), g);
        // A node's edges changed (an item of another build): refused.
        let mut mixed = items.clone();
        let k = mixed.iter().position(|i| i.key == "N#meta:spend").unwrap();
        mixed[k].doc = mixed[k].doc.replacen("\"domain_prior\"", "\"discovered\"", 1);
        assert!(graph_from_items(&mixed).unwrap_err().contains("their head says"), "{mixed:?}");
        // A node missing: refused (its edges' ends are unknown, or the version differs).
        let fewer: Vec<GraphItem> = items.iter().filter(|i| i.key != "N#meta:clicks").cloned().collect();
        assert!(graph_from_items(&fewer).is_err());
        // No head: no graph.
        assert_eq!(
            graph_from_items(&items[1..].iter().filter(|i| i.key != HEAD_KEY).cloned().collect::<Vec<_>>()),
            Ok(None)
        );
        // Hashes follow the documents.
        assert!(items.iter().all(|i| i.hash.len() == 64));
        assert_eq!(graph_items(&g).unwrap(), items);
    }
}
