//! The causal knowledge graph of one org: nodes for channels, their variables, campaigns,
//! interventions (experiments among them) and confounders, and for the analyses that back its
//! claims and the ontology concepts its nodes instantiate (provenance: [`add_provenance`]); edges
//! that are claims, each with the evidence behind it. An edge without evidence cannot be built:
//! [`GraphBuilder::claim`] is the only way to add one.
//!
//! Evidence, strongest first (grades as the LLM module's [`Grade`]):
//! - `estimated_effect`: an intervention's difference-in-differences on the stored records
//!   (estimate, interval, p-value, checks, analysis id); graded by its checks (A for a
//!   registered experiment whose checks passed, B for a quasi-experiment whose checks passed,
//!   C otherwise).
//! - `discovered`: PC on one platform's campaign-days (log metrics within campaign, the ontology's
//!   funnel tiers as background knowledge), with the share of 100 bootstrap resamples that found
//!   the same directed edge, and the elasticity of the child on its discovered parents. Grade C:
//!   observational.
//! - `confounds`: a confounder the ingestion detected on the platform (method, confidence). Grade C.
//! - `domain_prior`: the ontology's funnel order. Grade D, always.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use liftos_estimators::columns::Columns;
use liftos_estimators::discovery::{pc, BackgroundKnowledge, PcSettings};
use liftos_estimators::rng::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::ontology::Ontology;
use crate::llm::facts::Grade;

/// Bumped when the builder's rules change, so a snapshot built by older rules is rebuilt.
pub const BUILDER_VERSION: u32 = 1;
/// Bootstrap resamples for the stability of discovered edges.
pub const BOOTSTRAP: usize = 100;
/// Fewest campaign-days a platform needs before discovery runs on it.
pub const MIN_DISCOVERY_ROWS: usize = 30;

crate::names! {
    /// What a node stands for.
    pub enum NodeKind {
        Channel = "channel",
        Variable = "variable",
        Campaign = "campaign",
        Intervention = "intervention",
        Confounder = "confounder",
        Analysis = "analysis",
        Concept = "concept",
    }
    expected "channel, variable, campaign, intervention, confounder, analysis or concept"
}

crate::names! {
    /// Where a claim comes from.
    pub enum EvidenceKind {
        EstimatedEffect = "estimated_effect",
        Discovered = "discovered",
        ResponseCurve = "response_curve",
        Confounds = "confounds",
        DomainPrior = "domain_prior",
    }
    expected "estimated_effect, discovered, response_curve, confounds or domain_prior"
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Node {
    /// `meta` (channel), `meta:conversions` (variable), `meta/cmp-1` (campaign),
    /// `meta:budget_decrease:2026-09-29` (intervention), `confounder:weekday`, `analysis:{id}`,
    /// `concept:{id}`.
    pub id: String,
    pub kind: NodeKind,
    pub label: String,
    /// For a campaign: its own name, as the platform or the export wrote it (found by full-text search).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The ontology concept it instantiates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concept: Option<String>,
    /// For an intervention: the day it took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// For an intervention: its treated campaigns, then (in `controls`) its comparison campaigns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    /// For an intervention: the registered experiment that assigned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// Its feature vectors by kind (`effect`, `temporal`, `context`; see [`super::profile`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, super::profile::Profile>,
}

impl Node {
    /// A node with its id, kind and label, and nothing else: no name, platform, concept, date,
    /// campaigns, controls, experiment or profiles (set those with `..Node::new(..)`).
    pub fn new(id: impl Into<String>, kind: NodeKind, label: impl Into<String>) -> Self {
        Node {
            id: id.into(),
            kind,
            label: label.into(),
            name: None,
            platform: None,
            concept: None,
            date: None,
            campaigns: Vec::new(),
            controls: Vec::new(),
            experiment: None,
            profiles: BTreeMap::new(),
        }
    }
}

/// A check of the analysis behind a claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimCheck {
    pub name: String,
    /// None: the check could not be run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
}

/// One piece of evidence for an edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Claim {
    /// Stable within a snapshot: `{kind}:{from}->{to}` (plus the outcome or analysis for effects).
    pub id: String,
    pub kind: EvidenceKind,
    pub grade: Grade,
    /// `did`, `pc`, `detector:<method>`, `ontology`.
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    /// The level of `ci_low`..`ci_high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// What `estimate` measures (`conversions per campaign-day`, `elasticity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Discovered edges: the share of bootstrap resamples that found this directed edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<f64>,
    /// Confounds: the detector's confidence (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Observations the evidence rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<ClaimCheck>,
    /// Why the grade, in words.
    pub detail: String,
}

impl Claim {
    /// The estimate over its standard error (from a normal interval), when there is one.
    pub fn z(&self) -> Option<f64> {
        let (e, lo, hi, level) = (self.estimate?, self.ci_low?, self.ci_high?, self.level?);
        let crit = liftos_estimators::dist::normal_critical(1.0 - level);
        let se = (hi - lo) / (2.0 * crit);
        (se > 0.0 && se.is_finite()).then(|| e / se)
    }
    /// The sign of the estimate (0 when there is none, or its interval includes zero).
    pub fn sign(&self) -> i8 {
        match (self.estimate, self.ci_low, self.ci_high) {
            (Some(_), Some(lo), _) if lo > 0.0 => 1,
            (Some(_), _, Some(hi)) if hi < 0.0 => -1,
            (Some(e), None, None) if e != 0.0 => e.signum() as i8,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// Never empty; strongest first.
    pub evidence: Vec<Claim>,
}

impl Edge {
    /// The strongest evidence: the best grade, then the largest |z|.
    pub fn best(&self) -> &Claim {
        &self.evidence[0]
    }
}

/// What the build read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildInputs {
    pub records: usize,
    pub platforms: usize,
    pub campaigns: usize,
    pub interventions: usize,
    pub analyses: usize,
    pub confounders: usize,
    /// The org's own finished analyses (jobs) whose effects entered as evidence.
    #[serde(default)]
    pub org_analyses: usize,
}

/// An org's graph: what the snapshot holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KnowledgeGraph {
    pub org_id: String,
    /// sha256 of everything below: the same inputs give the same version.
    pub version: String,
    pub ontology_version: String,
    pub builder_version: u32,
    pub inputs: BuildInputs,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// What the build could not do, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl KnowledgeGraph {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.binary_search_by(|n| n.id.as_str().cmp(id)).ok().map(|i| &self.nodes[i])
    }
}

/// Collects nodes and claims; edges only ever come with a claim.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    nodes: BTreeMap<String, Node>,
    edges: BTreeMap<(String, String), Vec<Claim>>,
    pub inputs: BuildInputs,
    pub warnings: Vec<String>,
}

impl GraphBuilder {
    /// The node with this id, if added.
    pub fn node_ref(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    pub fn node(&mut self, node: Node) {
        self.nodes.entry(node.id.clone()).or_insert(node);
    }

    /// Adds a claim `from → to`; both nodes must exist (a claim about an unknown node is dropped
    /// with a warning).
    pub fn claim(&mut self, from: &str, to: &str, mut claim: Claim) {
        // A number that is not finite is no evidence (and has no JSON).
        for x in [
            &mut claim.estimate,
            &mut claim.ci_low,
            &mut claim.ci_high,
            &mut claim.p_value,
            &mut claim.stability,
            &mut claim.confidence,
            &mut claim.level,
        ] {
            if x.is_some_and(|v| !v.is_finite()) {
                *x = None;
            }
        }
        if !self.nodes.contains_key(from) || !self.nodes.contains_key(to) {
            self.warnings.push(format!("claim {} names a node not in the graph", claim.id));
            return;
        }
        self.edges.entry((from.to_string(), to.to_string())).or_default().push(claim);
    }

    /// Sets a node's profile (no effect on an unknown node).
    pub fn profile(&mut self, id: &str, kind: super::profile::ProfileKind, p: super::profile::Profile) {
        if !p.values.iter().chain(p.fitted.values()).all(|v| v.is_finite()) {
            self.warnings.push(format!("{id}: its {kind} profile is not finite and was left out"));
            return;
        }
        if let Some(n) = self.nodes.get_mut(id) {
            n.profiles.insert(kind.to_string(), p);
        }
    }

    /// The strongest claim from `from` to `to` so far.
    pub fn claim_between(&self, from: &str, to: &str) -> Option<&Claim> {
        self.edges.get(&(from.to_string(), to.to_string()))?.iter().min_by_key(|c| c.grade)
    }

    pub fn has_node(&self, id: &str) -> bool {
        self.nodes.contains_key(id)
    }

    /// The graph, its evidence sorted strongest first, and its version.
    pub fn finish(self, org_id: &str, ontology: &Ontology) -> KnowledgeGraph {
        let nodes: Vec<Node> = self.nodes.into_values().collect();
        let edges: Vec<Edge> = self
            .edges
            .into_iter()
            .map(|((from, to), mut evidence)| {
                evidence.sort_by(|a, b| {
                    a.grade
                        .cmp(&b.grade)
                        .then(b.z().map_or(0.0, f64::abs).total_cmp(&a.z().map_or(0.0, f64::abs)))
                        .then(a.id.cmp(&b.id))
                });
                Edge { from, to, evidence }
            })
            .collect();
        let mut g = KnowledgeGraph {
            org_id: org_id.to_string(),
            version: String::new(),
            ontology_version: ontology.version.clone(),
            builder_version: BUILDER_VERSION,
            inputs: self.inputs,
            nodes,
            edges,
            warnings: self.warnings,
        };
        g.version = content_version(&g);
        g
    }
}

/// Nodes for where the evidence comes from and what the nodes are: one per analysis that backs a
/// claim (`analysis:{id}`) and one per ontology concept a node instantiates (`concept:{id}`).
/// Neither has edges (an edge is a causal claim with evidence); `neighbourhood` reads them as the
/// claims an analysis backs and the nodes a concept stands for.
pub fn add_provenance(b: &mut GraphBuilder, ontology: &Ontology) {
    let mut analyses: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>, usize)> = BTreeMap::new();
    for ((from, _), claims) in &b.edges {
        for c in claims {
            if let Some(id) = &c.analysis_id {
                let a = analyses.entry(id.clone()).or_default();
                a.0.insert(c.method.clone());
                if let Some(p) = b.nodes.get(from).and_then(|n| n.platform.clone()) {
                    a.1.insert(p);
                }
                a.2 += 1;
            }
        }
    }
    let concepts: BTreeSet<String> = b.nodes.values().filter_map(|n| n.concept.clone()).collect();
    for (id, (methods, platforms, n)) in analyses {
        let methods: Vec<String> = methods.into_iter().collect();
        b.node(Node {
            platform: (platforms.len() == 1).then(|| platforms.into_iter().next()).flatten(),
            ..Node::new(
                analysis_id(&id),
                NodeKind::Analysis,
                format!("analysis {id} ({}): {n} claim(s)", methods.join(", ")),
            )
        });
    }
    for c in concepts {
        let Some(concept) = ontology.concept(&c) else { continue };
        b.node(Node {
            concept: Some(c.clone()),
            ..Node::new(concept_id(&c), NodeKind::Concept, concept.label.clone())
        });
    }
}

pub fn analysis_id(id: &str) -> String {
    format!("analysis:{id}")
}
pub fn concept_id(id: &str) -> String {
    format!("concept:{id}")
}

/// The version a graph's content gives: sha256 of the graph as JSON with an empty version.
pub fn content_version(g: &KnowledgeGraph) -> String {
    let body = if g.version.is_empty() {
        serde_json::to_vec(g)
    } else {
        serde_json::to_vec(&KnowledgeGraph { version: String::new(), ..g.clone() })
    };
    hex(&sha2::Sha256::digest(body.unwrap_or_default()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn channel_id(platform: &str) -> String {
    platform.to_string()
}
pub fn variable_id(platform: &str, variable: &str) -> String {
    format!("{platform}:{variable}")
}
pub fn campaign_node_id(platform: &str, campaign: &str) -> String {
    format!("{platform}/{campaign}")
}
pub fn intervention_id(platform: &str, intervention: &str, day: NaiveDate) -> String {
    format!("{platform}:{intervention}:{day}")
}
pub fn confounder_id(name: &str) -> String {
    format!("confounder:{name}")
}

/// The channel node and its variable nodes (the ontology's tiered variables).
pub fn add_channel(b: &mut GraphBuilder, ontology: &Ontology, platform: &str) {
    let label = ontology.for_platform(platform).map_or(platform.to_string(), |c| c.label.clone());
    b.node(Node {
        platform: Some(platform.into()),
        concept: ontology.for_platform(platform).map(|c| c.id.clone()),
        ..Node::new(channel_id(platform), NodeKind::Channel, label.clone())
    });
    for (v, _) in ontology.tiers() {
        let c = ontology.for_variable(&v);
        b.node(Node {
            platform: Some(platform.into()),
            concept: c.map(|c| c.id.clone()),
            ..Node::new(
                variable_id(platform, &v),
                NodeKind::Variable,
                format!("{label} {}", c.map_or(v.clone(), |c| c.label.to_lowercase())),
            )
        });
    }
}

/// The ontology's funnel order as grade-D claims between a platform's consecutive tiers.
pub fn add_domain_priors(b: &mut GraphBuilder, ontology: &Ontology, platform: &str) {
    let tiers = ontology.tiers();
    for w in tiers.windows(2) {
        let (from, to) = (variable_id(platform, &w[0].0), variable_id(platform, &w[1].0));
        b.claim(
            &from,
            &to,
            Claim {
                id: format!("domain_prior:{from}->{to}"),
                kind: EvidenceKind::DomainPrior,
                grade: Grade::D,
                method: "ontology".into(),
                estimate: None,
                ci_low: None,
                ci_high: None,
                level: None,
                p_value: None,
                unit: None,
                stability: None,
                confidence: None,
                n: None,
                analysis_id: None,
                checks: Vec::new(),
                detail: format!(
                    "a domain prior (ontology {}): {} comes before {} in the funnel; not evidence from this org's data",
                    ontology.version, w[0].0, w[1].0
                ),
            },
        );
    }
}

/// One platform's campaign-days: the tiered metrics per row and the campaign of each row.
#[derive(Debug, Clone, Default)]
pub struct PlatformDays {
    pub platform: String,
    pub campaign: Vec<String>,
    /// variable -> values, one per row.
    pub metrics: BTreeMap<String, Vec<f64>>,
}

/// The discovered edges of one platform, with their bootstrap stability and elasticities.
pub fn add_discovered(b: &mut GraphBuilder, ontology: &Ontology, days: &PlatformDays, seed: u64) {
    let n = days.campaign.len();
    let p = &days.platform;
    if n < MIN_DISCOVERY_ROWS {
        b.warnings.push(format!("{p}: no discovery: {n} campaign-days, fewer than {MIN_DISCOVERY_ROWS}"));
        return;
    }
    // log(1 + x), demeaned within campaign: campaign size differences are not effects.
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in days.campaign.iter().enumerate() {
        groups.entry(c.as_str()).or_default().push(i);
    }
    let mut cols: Vec<(String, Vec<f64>)> = Vec::new();
    for (v, _) in ontology.tiers() {
        let Some(x) = days.metrics.get(&v) else { continue };
        let mut y: Vec<f64> = x.iter().map(|v| v.max(0.0).ln_1p()).collect();
        for rows in groups.values() {
            let m = rows.iter().map(|&i| y[i]).sum::<f64>() / rows.len() as f64;
            for &i in rows {
                y[i] -= m;
            }
        }
        let var = y.iter().map(|v| v * v).sum::<f64>() / n as f64;
        if var > 1e-12 {
            cols.push((v, y));
        }
    }
    // PC assumes no variable is a function of another: impressions are often spend over a
    // near-constant CPM. Such a variable is claimed as determined by the earlier one (the
    // funnel gives the direction) and left out of the search, which it would otherwise empty of
    // every edge the two share.
    let mut kept: Vec<(String, Vec<f64>)> = Vec::new();
    for (v, y) in cols {
        let twin = kept.iter().find(|(_, x)| corr(x, &y).powi(2) > DETERMINED_R2);
        match twin {
            Some((u, x)) => {
                let r2 = corr(x, &y).powi(2);
                let (fid, tid) = (variable_id(p, u), variable_id(p, &v));
                let slope = liftos_estimators::linalg::dot(x, &y) / liftos_estimators::linalg::dot(x, x);
                b.claim(
                    &fid,
                    &tid,
                    Claim {
                        id: format!("discovered:{fid}->{tid}"),
                        kind: EvidenceKind::Discovered,
                        grade: Grade::C,
                        method: "determined".into(),
                        estimate: Some(slope),
                        ci_low: None,
                        ci_high: None,
                        level: None,
                        p_value: None,
                        unit: Some("elasticity".into()),
                        stability: Some(1.0),
                        confidence: None,
                        n: Some(n),
                        analysis_id: None,
                        checks: Vec::new(),
                        detail: format!(
                            "{v} is almost a function of {u} on {n} campaign-days of {p} (R² = {r2:.4} of the log metrics                              within campaign); the direction is the funnel's; left out of the PC search"
                        ),
                    },
                );
            }
            None => kept.push((v, y)),
        }
    }
    let cols = kept;
    if cols.len() < 2 {
        b.warnings.push(format!("{p}: no discovery: fewer than two metrics vary within campaigns on their own"));
        return;
    }
    let tiers: HashMap<String, i64> = ontology.tiers().into_iter().collect();
    let settings = PcSettings {
        alpha: 0.05,
        knowledge: BackgroundKnowledge {
            tiers: cols.iter().filter_map(|(v, _)| Some((v.clone(), *tiers.get(v)?))).collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    let Ok(data) = Columns::new(cols.clone()) else { return };
    let fit = match pc(&data, &settings) {
        Ok(f) => f,
        Err(e) => {
            b.warnings.push(format!("{p}: no discovery: {e}"));
            return;
        }
    };
    let edges = fit.graph.edges();
    // Bootstrap: resample campaign-days with replacement.
    let mut found: HashMap<(String, String), f64> = HashMap::new();
    let mut rng = Rng::new(seed);
    let mut ran = 0usize;
    for _ in 0..BOOTSTRAP {
        let idx: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
        let resampled: Vec<(String, Vec<f64>)> =
            cols.iter().map(|(v, x)| (v.clone(), idx.iter().map(|&i| x[i]).collect())).collect();
        let Ok(d) = Columns::new(resampled) else { continue };
        let Ok(r) = pc(&d, &settings) else { continue };
        ran += 1;
        for e in r.graph.edges() {
            let w = if e.directed { 1.0 } else { 0.5 };
            *found.entry((e.from.clone(), e.to.clone())).or_default() += w;
            if !e.directed {
                *found.entry((e.to.clone(), e.from.clone())).or_default() += w;
            }
        }
    }
    let index: HashMap<&str, usize> = cols.iter().enumerate().map(|(i, (v, _))| (v.as_str(), i)).collect();
    for e in &edges {
        let pairs: Vec<(&String, &String)> =
            if e.directed { vec![(&e.from, &e.to)] } else { vec![(&e.from, &e.to), (&e.to, &e.from)] };
        for (from, to) in pairs {
            // The elasticity of the child on its discovered parents (directed into it).
            let parents: Vec<usize> = edges
                .iter()
                .filter(|x| x.directed && &x.to == to)
                .filter_map(|x| index.get(x.from.as_str()).copied())
                .collect();
            let coef = index.get(to.as_str()).and_then(|&y| {
                let j = parents.iter().position(|&k| Some(&k) == index.get(from.as_str()))?;
                ols(&cols, y, &parents, groups.len()).map(|(b, se)| (b[j], se[j]))
            });
            let stability =
                if ran > 0 { found.get(&(from.clone(), to.clone())).copied().unwrap_or(0.0) / ran as f64 } else { 0.0 };
            let (fid, tid) = (variable_id(p, from), variable_id(p, to));
            let crit = liftos_estimators::dist::normal_critical(0.05);
            b.claim(
                &fid,
                &tid,
                Claim {
                    id: format!("discovered:{fid}->{tid}"),
                    kind: EvidenceKind::Discovered,
                    grade: Grade::C,
                    method: "pc".into(),
                    estimate: coef.map(|c| c.0),
                    ci_low: coef.map(|(b, se)| b - crit * se),
                    ci_high: coef.map(|(b, se)| b + crit * se),
                    level: coef.map(|_| 0.95),
                    p_value: None,
                    unit: coef.map(|_| "elasticity".into()),
                    stability: Some(stability),
                    confidence: None,
                    n: Some(n),
                    analysis_id: None,
                    checks: Vec::new(),
                    detail: format!(
                        "discovered by PC (α = 0.05, funnel tiers as background knowledge) on {n} campaign-days of {p}, \
                         log metrics within campaign; {}found in {:.0}% of {ran} bootstrap resamples; observational, \
                         so a hypothesis for a test, not a measured effect",
                        if e.directed { "" } else { "direction not identified; " },
                        100.0 * stability
                    ),
                },
            );
        }
    }
}

/// Above this R² (of within-campaign log metrics) a variable counts as a function of another.
pub const DETERMINED_R2: f64 = 0.995;

fn corr(x: &[f64], y: &[f64]) -> f64 {
    use liftos_estimators::linalg::dot;
    let d = (dot(x, x) * dot(y, y)).sqrt();
    if d > 0.0 {
        dot(x, y) / d
    } else {
        0.0
    }
}

/// OLS of column `y` on columns `x` (already demeaned within `groups` groups): coefficients and
/// classical standard errors.
fn ols(cols: &[(String, Vec<f64>)], y: usize, x: &[usize], groups: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    use liftos_estimators::linalg;
    let n = cols[y].1.len();
    let k = x.len();
    if k == 0 || n <= k + groups {
        return None;
    }
    let xs: Vec<&[f64]> = x.iter().map(|&j| cols[j].1.as_slice()).collect();
    let xtx = linalg::crossprod_columns(&xs, None);
    let inv = linalg::inv_spd(xtx.view()).ok()?;
    let xty: Vec<f64> = xs.iter().map(|c| linalg::dot(c, &cols[y].1)).collect();
    let beta: Vec<f64> = (0..k).map(|i| (0..k).map(|j| inv[[i, j]] * xty[j]).sum()).collect();
    let rss: f64 = (0..n)
        .map(|r| {
            let fit: f64 = (0..k).map(|j| beta[j] * xs[j][r]).sum();
            (cols[y].1[r] - fit).powi(2)
        })
        .sum();
    let s2 = rss / (n - k - groups) as f64;
    let se: Vec<f64> = (0..k).map(|j| (s2 * inv[[j, j]]).sqrt()).collect();
    Some((beta, se))
}

/// A detected confounder of a platform: the claim that it moves the platform's conversions
/// (where the detector found it), so an analysis of them must adjust for it.
pub fn add_confounder(
    b: &mut GraphBuilder,
    ontology: &Ontology,
    platform: &str,
    name: &str,
    detection_method: &str,
    confidence: f64,
    occurrences: u64,
) {
    let id = confounder_id(name);
    let readable = name.replace(['_', ':'], " ");
    let concept = ontology.mentions(&readable).into_iter().find_map(|m| {
        ontology.concept(&m.concept).filter(|c| c.role == super::ontology::Role::Confounder).map(|c| c.id.clone())
    });
    b.node(Node { concept, ..Node::new(id.clone(), NodeKind::Confounder, readable) });
    // The detector finds them in the conversions (a weekday pattern, a trend, a holiday's
    // bump, a learning phase after a change): that is the claim, and no more.
    {
        let to = variable_id(platform, "conversions");
        b.claim(
            &id,
            &to,
            Claim {
                id: format!("confounds:{id}->{to}"),
                kind: EvidenceKind::Confounds,
                grade: Grade::C,
                method: format!("detector:{detection_method}"),
                estimate: None,
                ci_low: None,
                ci_high: None,
                level: None,
                p_value: None,
                unit: None,
                stability: None,
                confidence: Some(confidence),
                n: Some(occurrences as usize),
                analysis_id: None,
                checks: Vec::new(),
                detail: format!(
                    "detected on {platform} by {detection_method} (confidence {confidence:.2}, {occurrences} records): \
                     it moves the conversions, so an analysis of them must adjust for it; its size is not estimated"
                ),
            },
        );
    }
}

/// The org's first-party KPI node.
pub fn kpi_id(name: &str) -> String {
    format!("kpi:{name}")
}

/// One channel's response curve from the media mix model on the org's KPI.
#[derive(Debug, Clone)]
pub struct CurveEvidence {
    pub platform: String,
    /// Incremental KPI per unit of spend over the history, with its interval.
    pub roi: f64,
    pub roi_ci: (f64, f64),
    /// KPI per extra unit of spend per day at today's spend, with its interval.
    pub marginal_roi: f64,
    pub marginal_roi_ci: (f64, f64),
    pub adstock: f64,
    pub half_saturation: f64,
    /// The share of the model's re-fits with a positive ROI.
    pub positive_share: f64,
    /// Mean spend per day over the history.
    pub spend_from: f64,
}

/// The org's KPI as a node, and each channel's spend → KPI claim from the media mix model:
/// its ROI with the interval from the model's re-fits (`level`), the marginal ROI, carry-over and
/// saturation in the detail. Grade C: an observational model of the history, however tight.
pub fn add_kpi_response(
    b: &mut GraphBuilder,
    ontology: &Ontology,
    kpi: &str,
    curves: &[CurveEvidence],
    level: f64,
    days: usize,
) {
    let id = kpi_id(kpi);
    let readable = kpi.replace(['_', '-'], " ");
    // What the KPI is (revenue, sign-ups): the variable or metric its name's head names, the
    // last one mentioned before a "by", "from" or "of" ("Purchase revenue" is revenue, not
    // purchases; "Sales of shoes" is revenue). A ratio ("Revenue per order") is neither of the
    // two it names: none, unless the ontology names it whole ("average order value").
    let lower = readable.to_ascii_lowercase();
    let head_end = [" by ", " from ", " of "].iter().filter_map(|w| lower.find(w)).min().unwrap_or(lower.len());
    let per = lower.find(" per ");
    let concept = ontology
        .mentions(&readable)
        .into_iter()
        .filter(|m| m.start < head_end && per.is_none_or(|p| m.start <= p && p < m.end))
        .filter_map(|m| {
            ontology
                .concept(&m.concept)
                .filter(|c| c.variable.is_some() || c.kind == super::ontology::ConceptKind::Metric)
                .map(|c| (m.start, c.id.clone()))
        })
        .max_by_key(|(start, _)| *start)
        .map(|(_, id)| id);
    b.node(Node { concept, ..Node::new(id.clone(), NodeKind::Variable, format!("{readable} (the org's own KPI)")) });
    for c in curves {
        let from = variable_id(&c.platform, "spend");
        if !b.has_node(&from) {
            b.warnings
                .push(format!("{id}: the media mix model names {} but the graph has no such channel", c.platform));
            continue;
        }
        b.claim(
            &from,
            &id,
            Claim {
                id: format!("response_curve:{from}->{id}"),
                kind: EvidenceKind::ResponseCurve,
                grade: Grade::C,
                method: "mmm".into(),
                estimate: Some(c.roi),
                ci_low: Some(c.roi_ci.0),
                ci_high: Some(c.roi_ci.1),
                level: Some(level),
                p_value: None,
                unit: Some(format!("{readable} per unit of spend (ROI over the history)")),
                stability: Some(c.positive_share),
                confidence: None,
                n: Some(days),
                analysis_id: None,
                checks: Vec::new(),
                detail: format!(
                    "media mix model of {readable} on {days} days: ROI {:.3} [{:.3}, {:.3}], positive in {:.0}% of the re-fits; \
                     at today's {:.0} a day the next unit of spend returns {:.3} [{:.3}, {:.3}]; carry-over {:.2}, half \
                     of the maximum effect at {:.0} a day. An observational model: grade C",
                    c.roi,
                    c.roi_ci.0,
                    c.roi_ci.1,
                    100.0 * c.positive_share,
                    c.spend_from,
                    c.marginal_roi,
                    c.marginal_roi_ci.0,
                    c.marginal_roi_ci.1,
                    c.adstock,
                    c.half_saturation
                ),
            },
        );
    }
}

/// Every node id in sorted order and every edge's evidence non-empty: what a snapshot promises.
pub fn check(g: &KnowledgeGraph) -> Result<(), String> {
    let ids: BTreeSet<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    if ids.len() != g.nodes.len() || !g.nodes.windows(2).all(|w| w[0].id < w[1].id) {
        return Err("node ids are not unique and sorted".into());
    }
    for e in &g.edges {
        if e.evidence.is_empty() {
            return Err(format!("edge {} -> {} has no evidence", e.from, e.to));
        }
        if !ids.contains(e.from.as_str()) || !ids.contains(e.to.as_str()) {
            return Err(format!("edge {} -> {} names an unknown node", e.from, e.to));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The KPI node takes its concept from its name, each known channel gets its response-curve
    /// claim, and a channel the graph does not have is a warning, never an edge to nowhere.
    #[test]
    fn kpi_response_curves_on_known_channels_only() {
        let o = Ontology::shipped();
        let mut b = GraphBuilder::default();
        add_channel(&mut b, o, "meta");
        let curve = |p: &str| CurveEvidence {
            platform: p.into(),
            roi: 2.0,
            roi_ci: (0.5, 3.5),
            marginal_roi: 1.2,
            marginal_roi_ci: (0.1, 2.0),
            adstock: 0.4,
            half_saturation: 900.0,
            positive_share: 0.995,
            spend_from: 1000.0,
        };
        add_kpi_response(&mut b, o, "shop_sales", &[curve("meta"), curve("tiktok")], 0.9, 120);
        assert!(b.warnings.iter().any(|w| w.contains("tiktok")), "{:?}", b.warnings);
        let g = b.finish("o", o);
        check(&g).unwrap();
        let kpi = g.node("kpi:shop_sales").expect("node");
        assert_eq!(kpi.concept.as_deref(), Some("revenue"));
        let edges: Vec<&Edge> = g.edges.iter().filter(|e| e.to == "kpi:shop_sales").collect();
        assert_eq!(edges.len(), 1);
        let c = edges[0].best();
        assert_eq!((edges[0].from.as_str(), c.kind, c.grade), ("meta:spend", EvidenceKind::ResponseCurve, Grade::C));
        assert_eq!(
            (c.estimate, c.ci_low, c.ci_high, c.level, c.n),
            (Some(2.0), Some(0.5), Some(3.5), Some(0.9), Some(120))
        );
    }

    /// A KPI's concept is its name's head: "Purchase revenue" is revenue, not the purchases it
    /// also mentions (before, search for revenue missed a Google Analytics KPI so named).
    #[test]
    fn a_kpis_concept_is_its_names_head() {
        let o = Ontology::shipped();
        for (name, concept) in [
            ("Purchase revenue", "revenue"),
            ("Sales of shoes", "revenue"),
            ("Average order value", "aov"),
            ("shop_sales", "revenue"),
            ("Transactions", "conversions"),
            ("Sign-ups", "conversions"),
        ] {
            let mut b = GraphBuilder::default();
            add_kpi_response(&mut b, o, name, &[], 0.9, 120);
            let g = b.finish("o", o);
            assert_eq!(g.node(&kpi_id(name)).and_then(|n| n.concept.as_deref()), Some(concept), "{name}");
        }
        // a ratio of two concepts is neither
        let mut b = GraphBuilder::default();
        add_kpi_response(&mut b, o, "Revenue per order", &[], 0.9, 120);
        assert_eq!(b.finish("o", o).node(&kpi_id("Revenue per order")).map(|n| n.concept.clone()), Some(None));
    }
}
