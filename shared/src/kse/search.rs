//! Search over an org's knowledge graph: the question read through the ontology (which channels,
//! variables, interventions and confounders it names; what it asks: the effect of X on Y, the
//! drivers of Y, the consequences of X, a what-if or a comparison), the directed paths between
//! the nodes it names (petgraph, up to four edges), ranked by how much of the question they cover
//! and how strong their weakest evidence is, each edge with the numbers of its stored evidence.
//! When no path links what the question names, the answer says so: never a made-up link.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use petgraph::graph::{DiGraph, NodeIndex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::graph::{EvidenceKind, KnowledgeGraph, NodeKind};
use super::ontology::{ConceptKind, Ontology};
use super::text::NamedCampaign;
use crate::domain::ValidationError;
use crate::llm::facts::Grade;

pub const MAX_QUERY_CHARS: usize = 500;
pub const MAX_LIMIT: usize = 50;
pub const MAX_PATH_EDGES: usize = 4;
/// Paths enumerated per search before ranking (the rest are not looked at, and the answer says so).
pub const MAX_PATHS: usize = 5000;

fn default_limit() -> usize {
    10
}
fn default_max_edges() -> usize {
    MAX_PATH_EDGES
}

/// `POST /api/v1/kse/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// A question in marketing words ("did the TikTok budget cut hurt sign-ups?"); at most 500 characters.
    pub query: String,
    /// Paths to return, 1 to 50.
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// The longest path, in edges (1 to 4).
    #[serde(default = "default_max_edges")]
    pub max_edges: usize,
}

impl SearchRequest {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.query.trim().is_empty() {
            return Err(ValidationError::new("query", "must not be empty"));
        }
        if self.query.chars().count() > MAX_QUERY_CHARS {
            return Err(ValidationError::new("query", format!("at most {MAX_QUERY_CHARS} characters")));
        }
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(ValidationError::new("limit", format!("{}: must be 1 to {MAX_LIMIT}", self.limit)));
        }
        if !(1..=MAX_PATH_EDGES).contains(&self.max_edges) {
            return Err(ValidationError::new(
                "max_edges",
                format!("{}: must be 1 to {MAX_PATH_EDGES}", self.max_edges),
            ));
        }
        Ok(())
    }
}

crate::names! {
    /// What the question asks.
    pub enum Intent {
        Effect = "effect",
        Drivers = "drivers",
        Consequences = "consequences",
        WhatIf = "what_if",
        Comparison = "comparison",
        Lookup = "lookup",
    }
    expected "effect, drivers, consequences, what_if, comparison or lookup"
}

crate::names! {
    /// What the graph holds for the question.
    pub enum AnswerKind {
        /// At least one path whose every edge has evidence from the org's data (grade C or better).
        Evidence = "evidence",
        /// Paths exist only through domain priors (the ontology's funnel order): no evidence from the data.
        PriorOnly = "prior_only",
        /// The concepts were recognised, but nothing in the graph links them.
        NoEvidence = "no_evidence",
    }
    expected "evidence, prior_only or no_evidence"
}

/// A concept the question names, and the graph's nodes it resolved to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatchedConcept {
    pub concept: String,
    pub label: String,
    pub role: super::ontology::Role,
    /// The words of the question.
    pub text: String,
    /// The nodes of this org it stands for (empty: the org's graph has none).
    pub nodes: Vec<String>,
}

/// One edge of a returned path, with its strongest evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PathEdge {
    pub from: String,
    pub to: String,
    pub from_label: String,
    pub to_label: String,
    pub kind: EvidenceKind,
    pub method: String,
    pub grade: Grade,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_id: Option<String>,
    pub evidence_id: String,
    /// How many pieces of evidence the edge has (this is the strongest).
    pub evidence_count: usize,
    pub detail: String,
}

/// How a path's score was made: score = text_match × grade_weight × strength.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScoreParts {
    /// Share of the question's resolved concepts the path touches.
    pub text_match: f64,
    /// Of the path's weakest grade: A 1, B 0.8, C 0.4, D 0.1.
    pub grade_weight: f64,
    /// Of the weakest edge: min(1, |z|/2) for an estimate with an interval, the bootstrap
    /// stability for a discovered edge, the detector's confidence, 0.5 for a prior.
    pub strength: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PathResult {
    pub rank: usize,
    pub score: f64,
    pub score_parts: ScoreParts,
    /// The weakest grade on the path: what the path as a whole can bear.
    pub grade: Grade,
    pub nodes: Vec<String>,
    pub path: Vec<PathEdge>,
}

/// The answer of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchResponse {
    pub query: String,
    pub intent: Intent,
    pub answer: AnswerKind,
    /// One sentence on what was found, from the results only.
    pub message: String,
    pub concepts: Vec<MatchedConcept>,
    /// Campaigns the question names, found by full-text search over their names and ids: the
    /// treatment asked about is then their interventions only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<NamedCampaign>,
    pub results: Vec<PathResult>,
    /// Paths found before the limit.
    pub paths_found: usize,
    /// A what-if is computed by the counterfactual engine, not looked up: its route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    pub graph_version: String,
    pub ontology_version: String,
}

pub fn grade_weight(g: Grade) -> f64 {
    match g {
        Grade::A => 1.0,
        Grade::B => 0.8,
        Grade::C => 0.4,
        Grade::D => 0.1,
    }
}

fn claim_strength(c: &super::graph::Claim) -> f64 {
    if let Some(z) = c.z() {
        return (z.abs() / 2.0).min(1.0);
    }
    if let Some(s) = c.stability {
        return s;
    }
    if let Some(s) = c.confidence {
        return s;
    }
    0.5
}

/// The variable a metric concept is read from.
fn metric_variable(id: &str) -> Option<&'static str> {
    Some(match id {
        "roas" | "aov" | "marginal_roi" => "revenue",
        "cpa" | "conversion_rate" => "conversions",
        "ctr" | "cpc" => "clicks",
        "cpm" => "impressions",
        _ => return None,
    })
}

fn has_any(text: &str, cues: &[&str]) -> bool {
    cues.iter().any(|c| text.contains(c))
}

/// What a question asks, resolved to the graph's nodes.
struct Interpretation {
    concepts: Vec<MatchedConcept>,
    sources: BTreeSet<String>,
    targets: BTreeSet<String>,
    intent: Intent,
    /// The question asks about a cause the ontology does not know (these words).
    unknown: Vec<String>,
    /// Campaigns the question names (full-text search over their names and ids).
    campaigns: Vec<NamedCampaign>,
}

/// The campaigns a question names. Only a question that says "campaign" names one: a name alone
/// ("google search") is read as the marketing words it is made of. The words outside the
/// ontology's phrases are tried first, then those inside them (a "Spring Sale" campaign's "sale"
/// is also the ontology's revenue), never a channel's (its own platform is the channel).
fn named_campaigns(
    g: &KnowledgeGraph,
    ontology: &Ontology,
    query: &str,
    mentions: &[super::ontology::Mention],
    on: &BTreeSet<String>,
) -> Vec<NamedCampaign> {
    let words = super::ontology::words(query);
    if !words.iter().any(|(w, _, _)| w == "campaign" || w == "campaigns" || w == "campaign's") {
        return Vec::new();
    }
    let Some(index) = super::text::index(g) else { return Vec::new() };
    let inside = |s: usize, e: usize| mentions.iter().find(|m| m.start <= s && e <= m.end);
    let mut outside = Vec::new();
    let mut within = Vec::new();
    for (k, (w, s, e)) in words.iter().enumerate() {
        let w = w.trim_end_matches("'s");
        // A number names a campaign only right after "campaign" ("campaign 7").
        let numeric = w.chars().all(|c| c.is_ascii_digit() || c == '.');
        let after_campaign = k > 0 && words[k - 1].0.starts_with("campaign");
        let generic = super::ontology::STOP.contains(&w) || w.starts_with("campaign");
        if generic || (numeric && !after_campaign) || w.is_empty() {
            continue;
        }
        match inside(*s, *e) {
            None => outside.push(w.to_string()),
            Some(m) if ontology.concept(&m.concept).is_some_and(|c| c.kind != ConceptKind::Channel) => {
                within.push(w.to_string())
            }
            Some(_) => {}
        }
    }
    for terms in [outside, within] {
        let found: Vec<NamedCampaign> = index
            .campaigns_named(g, &terms)
            .into_iter()
            .filter(|c| g.node(&c.node).and_then(|n| n.platform.as_ref()).is_some_and(|p| on.contains(p)))
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

const UP: &[&str] = &[
    "increase",
    "increasing",
    "increased",
    "raise",
    "raising",
    "raised",
    "boost",
    "boosting",
    "boosted",
    "scale",
    "scaling",
    "scaled",
    "grow",
    "growing",
    "double",
    "doubling",
    "doubled",
    "up",
    "more",
    "higher",
    "bigger",
];
const DOWN: &[&str] = &[
    "cut",
    "cutting",
    "slash",
    "slashing",
    "slashed",
    "reduce",
    "reducing",
    "reduced",
    "lower",
    "lowering",
    "lowered",
    "decrease",
    "decreasing",
    "decreased",
    "trim",
    "trimming",
    "trimmed",
    "halve",
    "halving",
    "halved",
    "down",
    "less",
    "smaller",
];

/// "increasing the YouTube budget", "slashing the instagram budget", "cut tiktok spend": a change
/// of budget in words the synonyms cannot list (a verb up to three words before budget or spend).
fn budget_change(text: &str) -> Option<(&'static str, usize, usize)> {
    let w = super::ontology::words(text);
    for (k, (word, _, _)) in w.iter().enumerate() {
        if !matches!(word.as_str(), "budget" | "spend" | "spending") {
            continue;
        }
        // The verb before the noun ("increasing the budget"); after it, the synonyms list the
        // phrases ("budget cut", "spend more").
        let lo = k.saturating_sub(3);
        for (v, (verb, _, _)) in w.iter().enumerate().take(k).skip(lo) {
            let kind = if UP.contains(&verb.as_str()) {
                "budget_increase"
            } else if DOWN.contains(&verb.as_str()) {
                "budget_decrease"
            } else {
                continue;
            };
            // "more" or "less" before the noun ("more budget") is a change; not "up" or "down".
            if matches!(verb.as_str(), "up" | "down") {
                continue;
            }
            let (a, b) = (k.min(v), k.max(v));
            return Some((kind, w[a].1, w[b].2));
        }
    }
    None
}

fn interpret(
    g: &KnowledgeGraph,
    ontology: &Ontology,
    query: &str,
    mut mentions: Vec<super::ontology::Mention>,
) -> Interpretation {
    let text = format!(" {} ", query.to_lowercase());
    // The words a cause is read from when nothing else resolves: those the concepts as found left
    // over (before a budget change in free words is read in).
    let found = mentions.clone();
    // A change of budget the synonyms missed replaces the words it spans.
    if !mentions.iter().any(|m| ontology.concept(&m.concept).is_some_and(|c| c.kind == ConceptKind::Intervention)) {
        if let Some((kind, start, end)) = budget_change(query) {
            mentions.retain(|m| m.end <= start || m.start >= end);
            let at = mentions.iter().position(|m| m.start > start).unwrap_or(mentions.len());
            mentions.insert(
                at,
                super::ontology::Mention {
                    concept: kind.into(),
                    text: query[start..end].to_string(),
                    start,
                    end,
                    instance: false,
                },
            );
        }
    }
    let what_if = mentions.iter().any(|m| m.concept == "counterfactual")
        || has_any(&text, &[" what if ", " if we ", " had we ", " would have ", " what would "]);
    let comparison = has_any(
        &text,
        &[
            " which channel",
            " which platform",
            " which campaign",
            " compare",
            " best ",
            " better ",
            " vs ",
            " versus ",
            " most ",
        ],
    );
    let drivers_cue = has_any(
        &text,
        &[
            " what drive",
            " drivers ",
            " driver ",
            " what cause",
            " why did ",
            " why do ",
            " why does ",
            " why are ",
            " why is ",
            " what affect",
            " what move",
            " what influence",
            " what explain",
            " what impact",
            " what is behind",
            " what's behind",
        ],
    );
    let in_graph: BTreeSet<String> =
        g.nodes.iter().filter(|n| n.kind == NodeKind::Channel).filter_map(|n| n.platform.clone()).collect();
    // Channels named, with where: each variable or treatment belongs to the nearest one.
    let channels: Vec<(usize, String)> =
        mentions.iter().filter_map(|m| Some((m.start, ontology.concept(&m.concept)?.platform.clone()?))).collect();
    let distinct: BTreeSet<&String> = channels.iter().map(|(_, p)| p).collect();
    let platforms_for = |at: usize| -> BTreeSet<String> {
        if distinct.len() < 2 {
            return if channels.is_empty() {
                in_graph.clone()
            } else {
                distinct.iter().map(|p| p.to_string()).collect()
            };
        }
        let nearest = channels.iter().min_by_key(|(s, _)| s.abs_diff(at)).map(|(_, p)| p.clone());
        nearest.into_iter().collect()
    };
    let all_named: BTreeSet<String> =
        if channels.is_empty() { in_graph.clone() } else { distinct.iter().map(|p| p.to_string()).collect() };
    let tier: HashMap<String, i64> = ontology.tiers().into_iter().collect();

    let mut concepts = Vec::new();
    let mut sources: BTreeSet<String> = BTreeSet::new();
    let mut targets: BTreeSet<String> = BTreeSet::new();
    let mut variables: Vec<(i64, Vec<String>)> = Vec::new();
    let mut specific_treatment = false;
    let mut seen = HashSet::new();
    for m in &mentions {
        let Some(c) = ontology.concept(&m.concept) else { continue };
        if !seen.insert((c.id.clone(), m.text.to_lowercase())) {
            continue;
        }
        let here = platforms_for(m.start);
        let mut nodes: Vec<String> = Vec::new();
        match c.kind {
            ConceptKind::Channel => {
                nodes = g
                    .nodes
                    .iter()
                    .filter(|n| n.kind == NodeKind::Channel && n.platform == c.platform)
                    .map(|n| n.id.clone())
                    .collect();
            }
            ConceptKind::Intervention | ConceptKind::Confounder
                if !(what_if && c.kind == ConceptKind::Intervention) =>
            {
                specific_treatment = true;
                // A named holiday stands for the nodes that name it, not every holiday.
                let named: Vec<String> = super::ontology::words(&m.text).into_iter().map(|w| w.0).collect();
                nodes = g
                    .nodes
                    .iter()
                    .filter(|n| {
                        matches!(n.kind, NodeKind::Intervention | NodeKind::Confounder)
                            && n.concept.as_deref() == Some(c.id.as_str())
                            && n.platform.as_ref().is_none_or(|p| here.contains(p))
                            && (!m.instance || {
                                let label: Vec<String> =
                                    super::ontology::words(&n.label).into_iter().map(|w| w.0).collect();
                                label.windows(named.len()).any(|w| w == named.as_slice())
                            })
                    })
                    .map(|n| n.id.clone())
                    .collect();
                sources.extend(nodes.iter().cloned());
            }
            ConceptKind::Design if c.id == "experiment" && !what_if => {
                // A registered experiment is an intervention node with its id.
                nodes = g
                    .nodes
                    .iter()
                    .filter(|n| {
                        n.kind == NodeKind::Intervention
                            && n.experiment.is_some()
                            && n.platform.as_ref().is_some_and(|p| here.contains(p))
                    })
                    .map(|n| n.id.clone())
                    .collect();
                if !nodes.is_empty() {
                    specific_treatment = true;
                    sources.extend(nodes.iter().cloned());
                }
            }
            ConceptKind::Variable | ConceptKind::Metric => {
                if let Some(v) = c.variable.as_deref().or_else(|| metric_variable(&c.id)) {
                    nodes = here
                        .iter()
                        .map(|p| super::graph::variable_id(p, v))
                        .filter(|id| g.node(id).is_some())
                        .collect();
                    // The org's own KPI when it is this variable (a shop's revenue): no platform's.
                    nodes.extend(
                        g.nodes
                            .iter()
                            .filter(|n| {
                                n.kind == NodeKind::Variable
                                    && n.platform.is_none()
                                    && n.concept.as_deref() == Some(c.id.as_str())
                            })
                            .map(|n| n.id.clone()),
                    );
                    variables.push((tier.get(v).copied().unwrap_or(0), nodes.clone()));
                }
            }
            _ => {}
        }
        concepts.push(MatchedConcept {
            concept: c.id.clone(),
            label: c.label.clone(),
            role: c.role,
            text: m.text.clone(),
            nodes,
        });
    }
    // A campaign named: its interventions are the treatment asked about (and only those), since
    // the graph's other evidence is about channels as a whole.
    let campaigns = if what_if { Vec::new() } else { named_campaigns(g, ontology, query, &mentions, &all_named) };
    if !campaigns.is_empty() {
        let on: BTreeSet<String> = g
            .nodes
            .iter()
            .filter(|n| {
                n.kind == NodeKind::Intervention
                    && campaigns.iter().any(|c| {
                        g.node(&c.node).is_some_and(|cn| {
                            cn.platform == n.platform
                                && c.node.split_once('/').is_some_and(|(_, id)| n.campaigns.iter().any(|x| x == id))
                        })
                    })
            })
            .map(|n| n.id.clone())
            .collect();
        if specific_treatment {
            sources.retain(|s| on.contains(s) || g.node(s).is_some_and(|n| n.kind != NodeKind::Intervention));
        } else {
            sources.extend(on);
        }
        specific_treatment = true;
    }
    // Variables: as written, the first is the cause asked about and the last the outcome ("does
    // spend drive revenue"), unless the sentence is passive ("revenue driven by spend"); a
    // question the wrong way round ("does revenue drive spend") then finds no path, as it should.
    let passive =
        has_any(&text, &[" caused by ", " driven by ", " due to ", " because of ", " explained by ", " from "]);
    if passive {
        variables.reverse();
    }
    variables.dedup_by(|a, b| a.1 == b.1);
    if specific_treatment {
        // The treatment is named: the variables are the outcomes asked about (its spend only
        // when nothing else is).
        let outcomes: Vec<&(i64, Vec<String>)> = variables.iter().filter(|(t, _)| *t > 0).collect();
        let asked: Vec<&(i64, Vec<String>)> = if outcomes.is_empty() { variables.iter().collect() } else { outcomes };
        targets.extend(asked.iter().flat_map(|(_, n)| n.iter().cloned()));
    } else if variables.len() == 1 {
        let (t, nodes) = &variables[0];
        if *t >= 3 || drivers_cue {
            targets.extend(nodes.iter().cloned());
        } else {
            sources.extend(nodes.iter().cloned());
        }
    } else if let (Some(first), Some(last)) = (variables.first(), variables.last()) {
        sources.extend(first.1.iter().cloned());
        targets.extend(last.1.iter().cloned());
    }
    let named_channel = !channels.is_empty();
    // What-if: the named channels' spend, whatever the scenario's words.
    if what_if {
        for p in &all_named {
            let id = super::graph::variable_id(p, "spend");
            if g.node(&id).is_some() && !targets.contains(&id) {
                sources.insert(id);
            }
        }
    }
    // A channel alone stands for its spend and its interventions, unless the question names a
    // specific treatment (then that, or nothing).
    if sources.is_empty() && !specific_treatment && named_channel && !drivers_cue && !what_if {
        for n in &g.nodes {
            let on = n.platform.as_ref().is_some_and(|p| all_named.contains(p));
            if on && (n.kind == NodeKind::Intervention || n.id.ends_with(":spend")) && !targets.contains(&n.id) {
                sources.insert(n.id.clone());
            }
        }
    }
    // A question about what a thing the ontology does not know does ("does the weather affect
    // sales"): the unknown words, and no path is looked for.
    let unknown: Vec<String> = if sources.is_empty() && !specific_treatment && !drivers_cue && !what_if && !comparison {
        super::ontology::unmatched_by(query, &found)
            .into_iter()
            .filter(|w| w.chars().all(|c| c.is_alphabetic() || c == '\'') && w.len() > 2)
            .collect()
    } else {
        Vec::new()
    };
    let intent = if what_if {
        Intent::WhatIf
    } else if drivers_cue || (sources.is_empty() && !targets.is_empty() && !specific_treatment && unknown.is_empty()) {
        Intent::Drivers
    } else if comparison {
        Intent::Comparison
    } else if !sources.is_empty() && targets.is_empty() {
        Intent::Consequences
    } else if !sources.is_empty() || specific_treatment || !unknown.is_empty() {
        Intent::Effect
    } else {
        Intent::Lookup
    };
    if targets.is_empty()
        && matches!(intent, Intent::Effect | Intent::Consequences | Intent::Comparison | Intent::WhatIf)
    {
        let on: BTreeSet<String> = if distinct.len() < 2 { all_named.clone() } else { platforms_for(usize::MAX) };
        for p in &on {
            for v in ["conversions", "revenue"] {
                let id = super::graph::variable_id(p, v);
                if g.node(&id).is_some() {
                    targets.insert(id);
                }
            }
        }
    }
    if matches!(intent, Intent::Drivers) && !specific_treatment {
        sources.clear();
    }
    Interpretation { concepts, sources, targets, intent, unknown, campaigns }
}

/// Searches `g` for `req` (validated by the caller).
pub fn search(g: &KnowledgeGraph, ontology: &Ontology, req: &SearchRequest) -> SearchResponse {
    search_with_mentions(g, ontology, req, ontology.mentions(&req.query))
}

/// [`search`] with the concepts the question mentions found some other way (the text-embedding
/// ablation of `tests/tests/kse.rs`); each mention's concept must be `ontology`'s.
pub fn search_with_mentions(
    g: &KnowledgeGraph,
    ontology: &Ontology,
    req: &SearchRequest,
    mentions: Vec<super::ontology::Mention>,
) -> SearchResponse {
    let Interpretation { concepts, mut sources, mut targets, intent, unknown, campaigns } =
        interpret(g, ontology, &req.query, mentions);
    if !unknown.is_empty() {
        sources.clear();
        targets.clear();
    }
    let (paths, truncated) =
        enumerate(g, &sources, &targets, req.max_edges, matches!(intent, Intent::Drivers) && sources.is_empty());
    // Rank.
    let resolved: Vec<&MatchedConcept> = concepts.iter().filter(|c| !c.nodes.is_empty()).collect();
    let edge_at: HashMap<(&str, &str), &super::graph::Edge> =
        g.edges.iter().map(|e| ((e.from.as_str(), e.to.as_str()), e)).collect();
    let mut ranked: Vec<PathResult> = paths
        .iter()
        .filter_map(|nodes| {
            let edges: Vec<&super::graph::Edge> = nodes
                .windows(2)
                .map(|w| edge_at.get(&(w[0].as_str(), w[1].as_str())).copied())
                .collect::<Option<_>>()?;
            let weakest = edges.iter().map(|e| e.best().grade).max()?;
            let strength = edges.iter().map(|e| claim_strength(e.best())).fold(1.0, f64::min);
            let node_set: HashSet<&str> = nodes.iter().map(String::as_str).collect();
            // A channel is covered by any node of its platform on the path.
            let on_path: HashSet<&str> = nodes.iter().filter_map(|n| g.node(n)?.platform.as_deref()).collect();
            let covered = resolved
                .iter()
                .filter(|c| {
                    c.nodes.iter().any(|n| node_set.contains(n.as_str()))
                        || ontology
                            .concept(&c.concept)
                            .and_then(|x| x.platform.as_deref())
                            .is_some_and(|p| on_path.contains(p))
                })
                .count();
            let text_match = if resolved.is_empty() { 0.1 } else { (covered as f64 / resolved.len() as f64).max(0.1) };
            let gw = grade_weight(weakest);
            let path = edges
                .iter()
                .map(|e| {
                    let c = e.best();
                    let label = |id: &str| g.node(id).map_or(id.to_string(), |n| n.label.clone());
                    PathEdge {
                        from: e.from.clone(),
                        to: e.to.clone(),
                        from_label: label(&e.from),
                        to_label: label(&e.to),
                        kind: c.kind,
                        method: c.method.clone(),
                        grade: c.grade,
                        estimate: c.estimate,
                        ci_low: c.ci_low,
                        ci_high: c.ci_high,
                        level: c.level,
                        p_value: c.p_value,
                        unit: c.unit.clone(),
                        stability: c.stability,
                        confidence: c.confidence,
                        analysis_id: c.analysis_id.clone(),
                        evidence_id: c.id.clone(),
                        evidence_count: e.evidence.len(),
                        detail: c.detail.clone(),
                    }
                })
                .collect();
            Some(PathResult {
                rank: 0,
                score: text_match * gw * strength,
                score_parts: ScoreParts { text_match, grade_weight: gw, strength },
                grade: weakest,
                nodes: nodes.clone(),
                path,
            })
        })
        .collect();
    // Ties: measured effects before discovered edges before detected confounding before priors,
    // then shorter paths.
    let kind_rank = |r: &PathResult| -> usize {
        r.path
            .iter()
            .map(|e| match e.kind {
                EvidenceKind::EstimatedEffect => 0,
                EvidenceKind::Discovered | EvidenceKind::ResponseCurve => 1,
                EvidenceKind::Confounds => 2,
                EvidenceKind::DomainPrior => 3,
            })
            .max()
            .unwrap_or(3)
    };
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(kind_rank(a).cmp(&kind_rank(b)))
            .then(a.nodes.len().cmp(&b.nodes.len()))
            .then(a.nodes.cmp(&b.nodes))
    });
    let found = ranked.len();
    ranked.truncate(req.limit);
    for (i, r) in ranked.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    let answer = if ranked.is_empty() {
        AnswerKind::NoEvidence
    } else if ranked.iter().all(|r| r.grade == Grade::D) {
        AnswerKind::PriorOnly
    } else {
        AnswerKind::Evidence
    };
    let named: Vec<String> = concepts.iter().map(|c| c.label.clone()).collect();
    let mut message = match answer {
        AnswerKind::NoEvidence if !unknown.is_empty() => format!(
            "The question asks about {} , which no concept of the ontology and no node of this org's graph stands for: no causal evidence.",
            unknown.join(" ")
        )
        .replace(" ,", ","),
        AnswerKind::NoEvidence if !campaigns.is_empty() => format!(
            "The question names {}; no analysed intervention in this org's graph treats {}, and the graph's other \
             evidence is about channels as a whole, not single campaigns: no causal evidence for {}.",
            campaigns.iter().map(|c| c.label.clone()).collect::<Vec<_>>().join(", "),
            if campaigns.len() == 1 { "it" } else { "them" },
            if campaigns.len() == 1 { "this campaign" } else { "these campaigns" }
        ),
        AnswerKind::NoEvidence if concepts.is_empty() => {
            "No marketing concept of the ontology was recognised in the question, so nothing was looked up.".to_string()
        }
        AnswerKind::NoEvidence => {
            let missing: Vec<String> = concepts
                .iter()
                .filter(|c| {
                    c.nodes.is_empty()
                        && c.role != super::ontology::Role::Metric
                        && ontology.concept(&c.concept).is_some_and(|x| {
                            matches!(
                                x.kind,
                                ConceptKind::Intervention
                                    | ConceptKind::Confounder
                                    | ConceptKind::Channel
                                    | ConceptKind::Variable
                            )
                        })
                })
                .map(|c| c.label.clone())
                .collect();
            let mut m = format!(
                "Concepts matched ({}), but no causal evidence links them in this org's graph.",
                named.join(", ")
            );
            if !missing.is_empty() {
                m.push_str(&format!(" Nothing in the stored data stands for: {}.", missing.join(", ")));
            }
            m
        }
        AnswerKind::PriorOnly => format!(
            "Only domain priors (the funnel order of the ontology) link {}: no evidence from this org's data.",
            named.join(", ")
        ),
        AnswerKind::Evidence => {
            let top = &ranked[0];
            format!(
                "{} path(s) found; the strongest, {}, rests on grade-{:?} evidence at its weakest edge{}.",
                found,
                top.path
                    .iter()
                    .map(|e| e.from_label.clone())
                    .chain(top.path.last().map(|e| e.to_label.clone()))
                    .collect::<Vec<_>>()
                    .join(" → "),
                top.grade,
                if top.grade.allows_causal_words() { "" } else { " (not enough for a causal claim)" }
            )
        }
    };
    if truncated {
        message.push_str(&format!(" Only the first {MAX_PATHS} paths were looked at."));
    }
    SearchResponse {
        query: req.query.clone(),
        intent,
        answer,
        message,
        concepts,
        campaigns,
        results: ranked,
        paths_found: found,
        route: (intent == Intent::WhatIf).then(|| "POST /api/v1/llm/causal/counterfactual".to_string()),
        graph_version: g.version.clone(),
        ontology_version: ontology.version.clone(),
    }
}

/// Directed simple paths from `sources` to `targets` of at most `max_edges` edges; with
/// `any_source`, from every node that reaches a target.
fn enumerate(
    g: &KnowledgeGraph,
    sources: &BTreeSet<String>,
    targets: &BTreeSet<String>,
    max_edges: usize,
    any_source: bool,
) -> (Vec<Vec<String>>, bool) {
    let mut dg: DiGraph<&str, ()> = DiGraph::new();
    let mut idx: HashMap<&str, NodeIndex> = HashMap::new();
    for n in &g.nodes {
        idx.insert(n.id.as_str(), dg.add_node(n.id.as_str()));
    }
    for e in &g.edges {
        if let (Some(&a), Some(&b)) = (idx.get(e.from.as_str()), idx.get(e.to.as_str())) {
            dg.add_edge(a, b, ());
        }
    }
    let tgt: Vec<NodeIndex> = targets.iter().filter_map(|t| idx.get(t.as_str()).copied()).collect();
    let src: Vec<NodeIndex> = if any_source {
        // Every ancestor of a target within max_edges (reverse breadth-first).
        let mut seen: HashSet<NodeIndex> = tgt.iter().copied().collect();
        let mut q: VecDeque<(NodeIndex, usize)> = tgt.iter().map(|&t| (t, 0)).collect();
        let mut out = Vec::new();
        while let Some((v, d)) = q.pop_front() {
            if d == max_edges {
                continue;
            }
            for u in dg.neighbors_directed(v, petgraph::Direction::Incoming) {
                if seen.insert(u) {
                    out.push(u);
                    q.push_back((u, d + 1));
                }
            }
        }
        out.sort();
        out
    } else {
        sources.iter().filter_map(|s| idx.get(s.as_str()).copied()).collect()
    };
    let mut paths = Vec::new();
    for &s in &src {
        for &t in &tgt {
            if s == t {
                continue;
            }
            for p in petgraph::algo::all_simple_paths::<Vec<NodeIndex>, _, std::hash::RandomState>(
                &dg,
                s,
                t,
                0,
                Some(max_edges - 1),
            ) {
                paths.push(p.iter().map(|&i| dg[i].to_string()).collect());
                if paths.len() >= MAX_PATHS {
                    return (paths, true);
                }
            }
        }
    }
    (paths, false)
}

/// `GET /api/v1/kse/graph?node=&depth=`: the nodes within `depth` edges of `node` (either
/// direction) and the edges among them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Neighbourhood {
    pub node: String,
    pub depth: usize,
    pub nodes: Vec<super::graph::Node>,
    pub edges: Vec<super::graph::Edge>,
    pub graph_version: String,
}

pub const MAX_DEPTH: usize = 3;

pub fn neighbourhood(g: &KnowledgeGraph, node: &str, depth: usize) -> Option<Neighbourhood> {
    let me = g.node(node)?;
    // An analysis: the edges its claims are on, and their ends. A concept: the nodes that
    // instantiate it, and the edges among them.
    if matches!(me.kind, NodeKind::Analysis | NodeKind::Concept) {
        let edges: Vec<super::graph::Edge> = match me.kind {
            NodeKind::Analysis => {
                let id = node.strip_prefix("analysis:").unwrap_or(node);
                g.edges
                    .iter()
                    .filter(|e| e.evidence.iter().any(|c| c.analysis_id.as_deref() == Some(id)))
                    .cloned()
                    .collect()
            }
            _ => {
                let of = |n: &str| g.node(n).is_some_and(|x| x.concept == me.concept && x.id != me.id);
                g.edges.iter().filter(|e| of(&e.from) && of(&e.to)).cloned().collect()
            }
        };
        let mut ids: BTreeSet<&str> = BTreeSet::from([node]);
        ids.extend(edges.iter().flat_map(|e| [e.from.as_str(), e.to.as_str()]));
        if me.kind == NodeKind::Concept {
            ids.extend(g.nodes.iter().filter(|n| n.concept == me.concept).map(|n| n.id.as_str()));
        }
        return Some(Neighbourhood {
            node: node.to_string(),
            depth,
            nodes: g.nodes.iter().filter(|n| ids.contains(n.id.as_str())).cloned().collect(),
            edges,
            graph_version: g.version.clone(),
        });
    }
    let mut seen: BTreeSet<&str> = BTreeSet::from([node]);
    let mut frontier = vec![node];
    for _ in 0..depth {
        let mut next = Vec::new();
        for e in &g.edges {
            for (a, b) in [(e.from.as_str(), e.to.as_str()), (e.to.as_str(), e.from.as_str())] {
                if frontier.contains(&a) && seen.insert(b) {
                    next.push(b);
                }
            }
        }
        frontier = next;
    }
    Some(Neighbourhood {
        node: node.to_string(),
        depth,
        nodes: g.nodes.iter().filter(|n| seen.contains(n.id.as_str())).cloned().collect(),
        edges: g
            .edges
            .iter()
            .filter(|e| seen.contains(e.from.as_str()) && seen.contains(e.to.as_str()))
            .cloned()
            .collect(),
        graph_version: g.version.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kse::graph::{self, Claim, GraphBuilder, Node};

    fn claim(kind: EvidenceKind, grade: Grade, est: Option<(f64, f64, f64)>) -> Claim {
        Claim {
            id: format!("{kind}:{}", est.map_or(0.0, |e| e.0)),
            kind,
            grade,
            method: "test".into(),
            estimate: est.map(|e| e.0),
            ci_low: est.map(|e| e.1),
            ci_high: est.map(|e| e.2),
            level: est.map(|_| 0.95),
            p_value: None,
            unit: None,
            stability: None,
            confidence: None,
            n: None,
            analysis_id: None,
            checks: vec![],
            detail: String::new(),
        }
    }

    /// Meta and TikTok with their variables and priors; a Meta budget cut with a measured (B)
    /// negative effect on conversions; TikTok's spend -> conversions discovered (C).
    fn graph() -> KnowledgeGraph {
        let o = Ontology::shipped();
        let mut b = GraphBuilder::default();
        for p in ["meta", "tiktok"] {
            graph::add_channel(&mut b, o, p);
            graph::add_domain_priors(&mut b, o, p);
        }
        b.node(Node {
            platform: Some("meta".into()),
            concept: Some("budget_decrease".into()),
            campaigns: vec!["c1".into()],
            controls: vec!["c2".into()],
            ..Node::new("meta:budget_decrease:2026-09-01", NodeKind::Intervention, "Meta budget cut on 2026-09-01")
        });
        b.claim(
            "meta:budget_decrease:2026-09-01",
            "meta:conversions",
            claim(EvidenceKind::EstimatedEffect, Grade::B, Some((-12.0, -18.0, -6.0))),
        );
        b.claim("tiktok:spend", "tiktok:conversions", claim(EvidenceKind::Discovered, Grade::C, Some((0.8, 0.7, 0.9))));
        // Concept nodes (no claim here has an analysis id): never taken for what they stand for.
        graph::add_provenance(&mut b, o);
        b.finish("o", o)
    }

    fn ask(g: &KnowledgeGraph, q: &str) -> SearchResponse {
        let req = SearchRequest { query: q.into(), limit: 10, max_edges: 4 };
        req.validate().unwrap();
        search(g, Ontology::shipped(), &req)
    }

    #[test]
    fn an_effect_question_answers_with_the_measured_edge_first() {
        let g = graph();
        let r = ask(&g, "Did the Facebook budget cut hurt sign-ups?");
        assert_eq!((r.intent, r.answer), (Intent::Effect, AnswerKind::Evidence), "{r:?}");
        let top = &r.results[0];
        assert_eq!(top.nodes, ["meta:budget_decrease:2026-09-01", "meta:conversions"]);
        assert_eq!((top.grade, top.path[0].estimate, top.path[0].ci_high), (Grade::B, Some(-12.0), Some(-6.0)));
        assert_eq!(top.score_parts.text_match, 1.0);
        // Revenue through the prior conversions -> revenue: weaker (grade D at its weakest edge).
        let r = ask(&g, "did the meta budget cut hurt revenue?");
        assert_eq!(r.results[0].grade, Grade::D);
    }

    #[test]
    fn no_path_or_no_matching_node_is_no_evidence() {
        let g = graph();
        // TikTok had no budget cut: the question is not rewritten into "TikTok spend".
        let r = ask(&g, "did the TikTok budget cut hurt sign-ups?");
        assert_eq!(r.answer, AnswerKind::NoEvidence, "{r:?}");
        assert!(r.message.contains("Nothing in the stored data stands for: Budget cut"), "{}", r.message);
        let r = ask(&g, "what about the weather in Paris");
        assert_eq!(r.answer, AnswerKind::NoEvidence);
        assert!(r.results.is_empty());
        // Only the funnel's priors link clicks to revenue.
        let r = ask(&g, "do clicks drive sales on tiktok?");
        assert_eq!(r.answer, AnswerKind::PriorOnly, "{r:?}");
    }

    /// The graph above with named campaigns: c1 ("Spring Sale Prospecting", the budget cut's)
    /// and c2 ("Retargeting Always On", untouched) on Meta; t1 ("Spring Sale Spark") on TikTok.
    fn named() -> KnowledgeGraph {
        let o = Ontology::shipped();
        let base = graph();
        let mut b = GraphBuilder::default();
        for n in &base.nodes {
            b.node(n.clone());
        }
        for e in &base.edges {
            for c in &e.evidence {
                b.claim(&e.from, &e.to, c.clone());
            }
        }
        for (p, id, name) in [
            ("meta", "c1", "Spring Sale Prospecting"),
            ("meta", "c2", "Retargeting Always On"),
            ("tiktok", "t1", "Spring Sale Spark"),
        ] {
            b.node(Node {
                name: Some(name.into()),
                platform: Some(p.into()),
                ..Node::new(graph::campaign_node_id(p, id), NodeKind::Campaign, format!("{p} campaign {name}"))
            });
        }
        b.finish("o-named", o)
    }

    #[test]
    fn a_campaign_named_by_its_words_narrows_the_treatment_to_its_interventions() {
        let g = named();
        // Stemmed ("prospecting campaign's"), and the cut is the campaign's.
        let r = ask(&g, "Did the prospecting campaign's budget cut hurt sign-ups?");
        assert_eq!(r.campaigns.iter().map(|c| c.node.as_str()).collect::<Vec<_>>(), ["meta/c1"], "{r:?}");
        assert_eq!(r.campaigns[0].terms, ["prospecting"]);
        assert_eq!(r.answer, AnswerKind::Evidence);
        assert_eq!(r.results[0].nodes, ["meta:budget_decrease:2026-09-01", "meta:conversions"]);
        // The untouched campaign: its words find it, and nothing else answers for it (before,
        // the Meta budget cut of another campaign did).
        for q in ["did the retargeting campaign's budget cut hurt conversions", "what did the always-on campaign do?"] {
            let r = ask(&g, q);
            assert_eq!(r.campaigns.iter().map(|c| c.node.as_str()).collect::<Vec<_>>(), ["meta/c2"], "{q}: {r:?}");
            assert_eq!(r.answer, AnswerKind::NoEvidence, "{q}");
            assert!(r.results.is_empty());
            assert!(r.message.contains("names meta campaign Retargeting Always On"), "{}", r.message);
        }
        // Two campaigns share "spring sale" ("sale" is also the ontology's revenue); the channel
        // named picks one.
        let r = ask(&g, "did the spring sale campaigns drive conversions");
        assert_eq!(r.campaigns.len(), 2, "{r:?}");
        let r = ask(&g, "did the tiktok spring sale campaign drive conversions");
        assert_eq!(r.campaigns.iter().map(|c| c.node.as_str()).collect::<Vec<_>>(), ["tiktok/t1"]);
        assert_eq!(r.answer, AnswerKind::NoEvidence);
        // Without the word "campaign" a name is the marketing words it is made of, and a word
        // that names no campaign narrows nothing.
        let r = ask(&g, "Did the Facebook budget cut hurt sign-ups?");
        assert!(r.campaigns.is_empty());
        assert_eq!(r.results[0].nodes, ["meta:budget_decrease:2026-09-01", "meta:conversions"]);
        let r = ask(&g, "did the summer campaign's budget cut hurt conversions on facebook");
        assert!(r.campaigns.is_empty(), "{r:?}");
        assert_eq!(r.answer, AnswerKind::Evidence);
        // The query language never sees the user's words as operators.
        let r = ask(&g, "did the \"spring\" OR NEAR(sale) campaign* work");
        assert!(r.campaigns.iter().all(|c| c.node.ends_with("1")), "{r:?}");
    }

    #[test]
    fn drivers_what_ifs_and_the_caps() {
        let g = graph();
        let r = ask(&g, "What drives conversions on TikTok?");
        assert_eq!(r.intent, Intent::Drivers);
        assert_eq!(r.results[0].nodes, ["tiktok:spend", "tiktok:conversions"], "{r:?}");
        let r = ask(&g, "what if we spent 20% more on tiktok?");
        assert_eq!(r.intent, Intent::WhatIf);
        assert_eq!(r.route.as_deref(), Some("POST /api/v1/llm/causal/counterfactual"));
        for (req, field) in [
            (SearchRequest { query: "x".repeat(501), limit: 10, max_edges: 4 }, "query"),
            (SearchRequest { query: "x".into(), limit: 0, max_edges: 4 }, "limit"),
            (SearchRequest { query: "x".into(), limit: 10, max_edges: 5 }, "max_edges"),
        ] {
            assert_eq!(req.validate().unwrap_err().field(), field);
        }
        assert!(neighbourhood(&g, "meta:conversions", 1).unwrap().nodes.len() >= 3);
        assert!(neighbourhood(&g, "other-org:node", 1).is_none());
    }

    #[test]
    fn every_edge_has_evidence_and_the_version_follows_the_content() {
        let g = graph();
        graph::check(&g).unwrap();
        assert_eq!(graph().version, g.version);
        let mut b = GraphBuilder::default();
        graph::add_channel(&mut b, Ontology::shipped(), "meta");
        // A claim about a node that is not in the graph adds nothing.
        b.claim("meta:spend", "nowhere", claim(EvidenceKind::DomainPrior, Grade::D, None));
        let h = b.finish("o", Ontology::shipped());
        assert!(h.edges.is_empty() && h.warnings.len() == 1);
        assert_ne!(h.version, g.version);
    }
}
