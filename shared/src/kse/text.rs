//! Full-text search over an org's campaigns: the words a question uses for a campaign ("the
//! retargeting campaign", "the Spring Sale campaigns") found in the campaigns' own names and ids.
//! The ontology reads the marketing vocabulary; a campaign's name is the org's own vocabulary,
//! which no ontology lists.
//!
//! SQLite FTS5 (compiled into the bundled SQLite) in memory, one index per snapshot version,
//! built on first use and kept for the warm process: `porter unicode61` tokenising (so
//! "retargeting" finds "Retarget", and "cmp-meta-brand" is three words), a term's document count
//! to drop words too common to name a campaign, and BM25 to order the campaigns found.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::Connection;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::graph::{KnowledgeGraph, NodeKind};

/// Indexes a warm process keeps (one per snapshot version).
pub const CACHED_INDEXES: usize = 16;

/// A campaign the question names, found by full-text search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NamedCampaign {
    /// Its node (`meta/cmp-meta-retargeting`).
    pub node: String,
    pub label: String,
    /// The question's words that found it.
    pub terms: Vec<String>,
    /// FTS5's BM25 rank of the campaign's text for those words (lower is a better match).
    pub bm25: f64,
}

/// The campaigns of one snapshot in an FTS5 table.
pub struct TextIndex {
    conn: Mutex<Connection>,
    /// Campaigns indexed.
    pub campaigns: usize,
}

impl std::fmt::Debug for TextIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextIndex").field("campaigns", &self.campaigns).finish()
    }
}

/// An FTS5 string literal: the term as one phrase, quotes doubled (the query syntax never sees
/// the user's text as operators).
fn phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

impl TextIndex {
    /// Indexes each campaign's name and id.
    pub fn build(g: &KnowledgeGraph) -> Result<Self, String> {
        let e = |e: rusqlite::Error| format!("full-text index: {e}");
        let mut conn = Connection::open_in_memory().map_err(e)?;
        conn.execute_batch(
            "CREATE VIRTUAL TABLE campaigns USING fts5(node UNINDEXED, text, tokenize = 'porter unicode61');",
        )
        .map_err(e)?;
        let mut n = 0;
        {
            let tx = conn.transaction().map_err(e)?;
            {
                let mut put = tx.prepare("INSERT INTO campaigns (node, text) VALUES (?1, ?2)").map_err(e)?;
                for node in g.nodes.iter().filter(|n| n.kind == NodeKind::Campaign) {
                    // The id after the platform (`meta/cmp-1` → `cmp-1`), and the name.
                    let id = node.id.split_once('/').map_or(node.id.as_str(), |(_, c)| c);
                    let text = match &node.name {
                        Some(name) => format!("{name} {id}"),
                        None => id.to_string(),
                    };
                    put.execute(rusqlite::params![node.id, text]).map_err(e)?;
                    n += 1;
                }
            }
            tx.commit().map_err(e)?;
        }
        Ok(TextIndex { conn: Mutex::new(conn), campaigns: n })
    }

    /// The campaigns whose text has `term` (after stemming).
    fn with_term(&self, conn: &Connection, term: &str) -> Result<BTreeSet<String>, rusqlite::Error> {
        let mut q = conn.prepare_cached("SELECT node FROM campaigns WHERE campaigns MATCH ?1")?;
        let rows = q.query_map([phrase(term)], |r| r.get::<_, String>(0))?;
        rows.collect()
    }

    /// The campaigns that `terms` name: each term kept only if it finds at least one campaign
    /// and at most half of them (or two, in an org of few campaigns); then the campaigns that
    /// have the most of the kept terms, best BM25 first. Empty when no term names a campaign.
    pub fn campaigns_named(&self, g: &KnowledgeGraph, terms: &[String]) -> Vec<NamedCampaign> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let common = (self.campaigns / 2).max(2);
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut kept = Vec::new();
        for t in terms {
            let Ok(hits) = self.with_term(&conn, t) else { continue };
            if hits.is_empty() || hits.len() > common {
                continue;
            }
            kept.push(t.clone());
            for h in hits {
                found.entry(h).or_default().push(t.clone());
            }
        }
        let Some(most) = found.values().map(Vec::len).max() else { return Vec::new() };
        let query = kept.iter().map(|t| phrase(t)).collect::<Vec<_>>().join(" OR ");
        let rank: HashMap<String, f64> = conn
            .prepare_cached("SELECT node, bm25(campaigns) FROM campaigns WHERE campaigns MATCH ?1")
            .and_then(|mut q| q.query_map([query], |r| Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?)))?.collect())
            .unwrap_or_default();
        let mut out: Vec<NamedCampaign> = found
            .into_iter()
            .filter(|(_, t)| t.len() == most)
            .map(|(node, terms)| NamedCampaign {
                label: g.node(&node).map_or_else(|| node.clone(), |n| n.label.clone()),
                bm25: rank.get(&node).copied().unwrap_or(0.0),
                node,
                terms,
            })
            .collect();
        out.sort_by(|a, b| a.bm25.total_cmp(&b.bm25).then(a.node.cmp(&b.node)));
        out
    }
}

type Cache = Mutex<Vec<(String, Arc<TextIndex>)>>;

/// The index of `g`, built once per snapshot version in a process; None (with a warning logged)
/// if SQLite cannot build it, and search goes on with the ontology alone.
pub fn index(g: &KnowledgeGraph) -> Option<Arc<TextIndex>> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = format!("{}/{}", g.org_id, g.version);
    if let Some((_, i)) = cache.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(k, _)| *k == key) {
        return Some(i.clone());
    }
    let built = match TextIndex::build(g) {
        Ok(i) => Arc::new(i),
        Err(e) => {
            tracing::warn!(org = %g.org_id, error = %e, "kse full-text index");
            return None;
        }
    };
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if !c.iter().any(|(k, _)| *k == key) {
        if c.len() >= CACHED_INDEXES {
            c.remove(0);
        }
        c.push((key, built.clone()));
    }
    Some(built)
}
