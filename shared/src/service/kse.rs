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
use crate::storage::{PageRequest, RecordQuery, Stores};

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

/// Builds the caller's graph and stores its snapshot unless the stored one has the same version.
pub async fn build(stores: &Stores, user: &UserContext, now: DateTime<Utc>) -> Result<BuildSummary, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let g = assemble(stores, user, now).await?;
    graph::check(&g).map_err(ServiceError::Internal)?;
    let stored = load(stores, user).await?;
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
    tracing::info!(org = %user.org_id, version = %g.version, written, nodes = g.nodes.len(), edges = g.edges.len(), "kse build");
    Ok(BuildSummary {
        org_id: user.org_id.to_string(),
        version: g.version.clone(),
        written,
        key: SNAPSHOT_KEY.into(),
        nodes: g.nodes.len(),
        edges: g.edges.len(),
        evidence,
        edges_by_grade: by_grade,
        inputs: g.inputs.clone(),
        warnings: g.warnings.clone(),
    })
}

/// The caller's stored snapshot, if a build has run.
pub async fn load(stores: &Stores, user: &UserContext) -> Result<Option<KnowledgeGraph>, ServiceError> {
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
    let g = require_graph(stores, user).await?;
    let node = g.node(&q.node).ok_or_else(|| ServiceError::NotFound { what: format!("node {}", q.node) })?;
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
            Some(Neighbour { node: n.id.clone(), label: n.label.clone(), kind: n.kind, distance: d })
        })
        .collect();
    neighbours.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.node.cmp(&b.node)));
    neighbours.truncate(limit);
    let about = match q.profile {
        ProfileKind::Effect => "effect profile: an intervention's effects on spend, conversions and revenue as z-statistics (clipped to ±10, over 10) and its grade's weight; a channel's elasticities and adstock θ",
        ProfileKind::Temporal => "temporal profile: a channel's distributed-lag weights of conversions on spend (lags 0-7, within campaign, weekday controls, summing to one); an intervention's event-study coefficients at event times -4 to 7 over the largest post-period one",
        ProfileKind::Context => "context vector: a campaign's level, spread and weekly trend of log spend and log conversions, and log cost per conversion; its neighbours are candidate comparison campaigns",
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
                id: graph::campaign_node_id(pp, c),
                kind: NodeKind::Campaign,
                label: format!("{} campaign {c}", ontology.for_platform(pp).map_or(pp.as_str(), |x| x.label.as_str())),
                platform: Some(pp.clone()),
                concept: None,
                date: None,
                campaigns: Vec::new(),
                controls: Vec::new(),
                experiment: None,
                profiles: BTreeMap::new(),
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
            id: id.clone(),
            kind: NodeKind::Intervention,
            label: match &experiment {
                None => format!("{channel} {} on {day}", label.to_lowercase()),
                Some(x) => format!("{channel} {} on {day} (experiment {x})", label.to_lowercase()),
            },
            platform: Some(p.clone()),
            concept: ontology.for_intervention(&name).map(|c| c.id.clone()),
            date: Some(day),
            campaigns: treated.iter().cloned().collect(),
            controls: controls.iter().cloned().collect(),
            experiment: experiment.clone(),
            profiles: BTreeMap::new(),
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
    Ok(b.finish(user.org_id.as_str(), ontology))
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
    // A registered experiment lifts a passing quasi-experiment to A (the facts grade from the result alone).
    let grade = match (ev.grade, experiment) {
        (Grade::B, Some(_)) => Grade::A,
        (g, _) => g,
    };
    let claim = Claim {
        id: format!(
            "estimated_effect:{}:{}->{}",
            analysis_id,
            graph::intervention_id(platform, intervention, day),
            outcome
        ),
        kind: EvidenceKind::EstimatedEffect,
        grade,
        method: ev.method.clone(),
        estimate: Some(effect.value),
        ci_low: effect.ci.map(|c| c[0]),
        ci_high: effect.ci.map(|c| c[1]),
        level: effect.ci.map(|_| level),
        p_value: effect.p_value,
        unit: Some(format!("{outcome} per campaign-day")),
        stability: None,
        confidence: None,
        n: None,
        analysis_id: Some(analysis_id),
        checks: ev.checks.iter().map(|c| ClaimCheck { name: c.name.clone(), passed: c.passed }).collect(),
        detail: format!(
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
        ),
    };
    Ok((claim, event))
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
