//! Causal discovery: PC-stable with Fisher-z conditional independence tests and Meek's
//! orientation rules, returning a CPDAG (directed and undirected edges) as a petgraph graph;
//! background knowledge as forbidden and required edges and temporal tiers.
//!
//! Follows causal-learn 0.1.x `pc(data, alpha, "fisherz", stable=True)` (uc_rule 0, uc_priority 2):
//! stable skeleton search with the union of separating sets per pair, unshielded colliders in
//! lexicographic order without overriding existing orientations, then Meek rules 1-3.

#![allow(clippy::needless_range_loop)] // index loops over adjacency matrices read clearest here

use ndarray::{Array2, ArrayView2};
use petgraph::graph::Graph;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::columns::Columns;
use crate::{dist, linalg};

mod lingam;
pub use lingam::{direct_lingam, EdgeEffect, LingamResult, LingamSettings};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DiscoveryError {
    #[error("{column}: {message}")]
    InvalidInput { column: String, message: String },
}

fn invalid(column: &str, message: impl Into<String>) -> DiscoveryError {
    DiscoveryError::InvalidInput { column: column.to_string(), message: message.into() }
}

/// What is known before looking at the data.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BackgroundKnowledge {
    /// (from, to): this direct effect cannot exist.
    #[serde(default)]
    pub forbidden: Vec<(String, String)>,
    /// (from, to): this direct effect exists in this direction (if the edge is found).
    #[serde(default)]
    pub required: Vec<(String, String)>,
    /// Variable -> tier; nothing in a later tier causes anything in an earlier one.
    #[serde(default)]
    pub tiers: HashMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PcSettings {
    pub alpha: f64,
    pub knowledge: BackgroundKnowledge,
    /// The largest conditioning set tried (None: as large as the graph allows, as causal-learn).
    #[serde(default)]
    pub max_depth: Option<usize>,
    /// The most conditional-independence tests the search may run before it stops with an error
    /// (a dense graph over many variables can need exponentially many).
    #[serde(default = "default_max_tests")]
    pub max_tests: usize,
}

/// The default test budget: about a minute of work on one core at 30 variables.
pub const DEFAULT_MAX_TESTS: usize = 2_000_000;

fn default_max_tests() -> usize {
    DEFAULT_MAX_TESTS
}

impl Default for PcSettings {
    fn default() -> Self {
        Self { alpha: 0.05, knowledge: BackgroundKnowledge::default(), max_depth: None, max_tests: DEFAULT_MAX_TESTS }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EdgeOut {
    pub from: String,
    pub to: String,
    pub directed: bool,
}

/// A discovered causal graph as a petgraph graph: node weights are the variable names, edge
/// weights whether the edge is directed (an undirected CPDAG edge is stored once, from the
/// earlier variable). In JSON: `variables` (the nodes in order) and `edges`
/// (`{from, to, directed}`, in insertion order).
#[derive(Debug, Clone, Default)]
pub struct CausalGraph {
    graph: Graph<String, bool>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GraphJson {
    pub variables: Vec<String>,
    /// Directed edges from -> to; undirected ones once, in variable order.
    pub edges: Vec<EdgeOut>,
}

impl CausalGraph {
    /// Nodes named `variables`, with `edges` between them.
    ///
    /// # Errors
    /// An edge naming a variable that is not a node.
    pub fn new(variables: Vec<String>, edges: &[EdgeOut]) -> Result<Self, DiscoveryError> {
        let mut graph = Graph::new();
        let idx: HashMap<String, _> = variables.into_iter().map(|v| (v.clone(), graph.add_node(v))).collect();
        for e in edges {
            let node =
                |v: &str| idx.get(v).copied().ok_or_else(|| invalid("edges", format!("{v:?} is not a variable")));
            graph.add_edge(node(&e.from)?, node(&e.to)?, e.directed);
        }
        Ok(Self { graph })
    }

    /// The petgraph graph.
    pub fn graph(&self) -> &Graph<String, bool> {
        &self.graph
    }

    pub fn variables(&self) -> Vec<String> {
        self.graph.node_weights().cloned().collect()
    }

    pub fn edges(&self) -> Vec<EdgeOut> {
        self.graph
            .edge_indices()
            .filter_map(|e| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                Some(EdgeOut { from: self.graph[a].clone(), to: self.graph[b].clone(), directed: self.graph[e] })
            })
            .collect()
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for CausalGraph {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CausalGraph".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        GraphJson::json_schema(generator)
    }
}

impl Serialize for CausalGraph {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        GraphJson { variables: self.variables(), edges: self.edges() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for CausalGraph {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let g = GraphJson::deserialize(d)?;
        CausalGraph::new(g.variables, &g.edges).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DiscoveryResult {
    pub method: String,
    pub estimator: String,
    pub n_obs: usize,
    pub alpha: f64,
    /// The CPDAG: `variables` and `edges` in JSON.
    #[serde(flatten)]
    pub graph: CausalGraph,
    pub ci_tests: usize,
    /// What the caller left out of the data (rows with an empty value, columns that are not
    /// numbers); absent when nothing was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

struct Knowledge {
    forbid: Vec<Vec<bool>>,
    require: Vec<Vec<bool>>,
    any: bool,
}

impl Knowledge {
    fn new(names: &[String], bk: &BackgroundKnowledge) -> Result<Self, DiscoveryError> {
        let p = names.len();
        let idx = |n: &str| -> Result<usize, DiscoveryError> {
            names
                .iter()
                .position(|v| v == n)
                .ok_or_else(|| invalid("knowledge", crate::panel::not_among(n, "one of the variables", names)))
        };
        let mut forbid = vec![vec![false; p]; p];
        let mut require = vec![vec![false; p]; p];
        for (a, b) in &bk.forbidden {
            forbid[idx(a)?][idx(b)?] = true;
        }
        for (a, b) in &bk.required {
            let (i, j) = (idx(a)?, idx(b)?);
            if forbid[i][j] {
                return Err(invalid("knowledge", format!("{a} -> {b} is both required and forbidden")));
            }
            require[i][j] = true;
        }
        for (a, ta) in &bk.tiers {
            let i = idx(a)?;
            for (b, tb) in &bk.tiers {
                if ta > tb {
                    forbid[i][idx(b)?] = true;
                }
            }
        }
        let any = !bk.forbidden.is_empty() || !bk.required.is_empty() || !bk.tiers.is_empty();
        Ok(Self { forbid, require, any })
    }
}

/// At least two finite variables with enough rows; the row count.
fn check_columns(columns: &Columns) -> Result<usize, DiscoveryError> {
    let p = columns.k();
    if p < 2 {
        return Err(invalid("columns", "need at least two variables"));
    }
    let n = columns.n();
    if let Some((name, row)) = columns.first_non_finite() {
        return Err(invalid(name, format!("row {row}: not a finite number")));
    }
    if n < p + 4 {
        return Err(invalid(
            "columns",
            format!(
                "{n} row{} is too few for {p} variables (at least {} are needed)",
                if n == 1 { "" } else { "s" },
                p + 4
            ),
        ));
    }
    Ok(n)
}

/// Fisher-z test of X ⟂ Y | S from the correlation matrix.
fn fisher_z(corr: ArrayView2<f64>, n: usize, x: usize, y: usize, s: &[usize]) -> f64 {
    let mut vars = vec![x, y];
    vars.extend_from_slice(s);
    let sub = linalg::submatrix(corr, &vars);
    let r = match linalg::inv_spd(sub.view()) {
        Ok(inv) => -inv[[0, 1]] / (inv[[0, 0]] * inv[[1, 1]]).abs().sqrt(),
        Err(_) => 1.0,
    };
    let r = r.clamp(-(1.0 - f64::EPSILON), 1.0 - f64::EPSILON);
    let z = 0.5 * ((1.0 + r) / (1.0 - r)).ln();
    let stat = ((n as f64 - s.len() as f64 - 3.0).max(0.0)).sqrt() * z.abs();
    dist::normal_p_value(stat)
}

/// The k-subsets of `items` in lexicographic order, one at a time (none is stored).
struct Combinations<'a> {
    items: &'a [usize],
    idx: Vec<usize>,
    first: bool,
}

impl<'a> Combinations<'a> {
    fn new(items: &'a [usize], k: usize) -> Self {
        Self { items, idx: (0..k).collect(), first: true }
    }
}

impl Iterator for Combinations<'_> {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let (n, k) = (self.items.len(), self.idx.len());
        if k > n {
            return None;
        }
        if self.first {
            self.first = false;
        } else {
            // The rightmost index that can still move right, then everything after it follows.
            let i = (0..k).rev().find(|&i| self.idx[i] < n - k + i)?;
            self.idx[i] += 1;
            for j in i + 1..k {
                self.idx[j] = self.idx[j - 1] + 1;
            }
        }
        Some(self.idx.iter().map(|&i| self.items[i]).collect())
    }
}

/// PC-stable on the named numeric columns.
pub fn pc(columns: &Columns, settings: &PcSettings) -> Result<DiscoveryResult, DiscoveryError> {
    let p = columns.k();
    if !(settings.alpha > 0.0 && settings.alpha < 1.0) {
        return Err(invalid("alpha", "must be between 0 and 1"));
    }
    let n = check_columns(columns)?;
    let names: Vec<String> = columns.names().to_vec();
    let know = Knowledge::new(&names, &settings.knowledge)?;
    // Correlation matrix from the cross-products of the centred columns.
    let mut centred = columns.to_matrix();
    for (name, mut c) in names.iter().zip(centred.columns_mut()) {
        let m = c.sum() / n as f64;
        c.mapv_inplace(|x| x - m);
        if c.iter().all(|x| *x == 0.0) {
            return Err(invalid(name, "is constant"));
        }
    }
    let cov = linalg::crossprod(centred.view());
    drop(centred);
    let corr = Array2::from_shape_fn((p, p), |(i, j)| cov[[i, j]] / (cov[[i, i]] * cov[[j, j]]).sqrt());

    // Skeleton (stable).
    let mut adj = vec![vec![true; p]; p];
    for (i, row) in adj.iter_mut().enumerate() {
        row[i] = false;
    }
    let mut sepset: HashMap<(usize, usize), Vec<Vec<usize>>> = HashMap::new();
    let mut tests = 0usize;
    // Edges forbidden in both directions never exist.
    for i in 0..p {
        for j in 0..p {
            if i != j && know.forbid[i][j] && know.forbid[j][i] && adj[i][j] {
                adj[i][j] = false;
                adj[j][i] = false;
                sepset.entry((i, j)).or_default().push(vec![]);
                sepset.entry((j, i)).or_default().push(vec![]);
            }
        }
    }
    let mut depth: i64 = -1;
    loop {
        let max_degree = adj.iter().map(|r| r.iter().filter(|&&a| a).count()).max().unwrap_or(0) as i64;
        if max_degree - 1 <= depth || settings.max_depth.is_some_and(|m| depth >= m as i64) {
            break;
        }
        depth += 1;
        let d = depth as usize;
        let mut removal: Vec<(usize, usize)> = Vec::new();
        for x in 0..p {
            let neigh: Vec<usize> = (0..p).filter(|&j| adj[x][j]).collect();
            if (neigh.len() as i64) < depth - 1 {
                continue;
            }
            for &y in &neigh {
                let rest: Vec<usize> = neigh.iter().copied().filter(|&v| v != y).collect();
                let mut union: Vec<usize> = Vec::new();
                for s in Combinations::new(&rest, d) {
                    tests += 1;
                    if tests > settings.max_tests {
                        return Err(invalid(
                            "columns",
                            format!(
                                "the search needs more than {} conditional-independence tests (depth {d}); \
                                 pass fewer columns or a smaller max_depth",
                                settings.max_tests
                            ),
                        ));
                    }
                    if fisher_z(corr.view(), n, x, y, &s) > settings.alpha {
                        removal.push((x, y));
                        removal.push((y, x));
                        for v in s {
                            if !union.contains(&v) {
                                union.push(v);
                            }
                        }
                    }
                }
                if removal.contains(&(x, y)) {
                    union.sort_unstable();
                    sepset.entry((x, y)).or_default().push(union.clone());
                    sepset.entry((y, x)).or_default().push(union);
                }
            }
        }
        for (x, y) in removal {
            adj[x][y] = false;
        }
    }

    // Orientation: dir[i][j] means i -> j.
    let mut dir = vec![vec![false; p]; p];
    let undirected = |dir: &Vec<Vec<bool>>, i: usize, j: usize| adj[i][j] && !dir[i][j] && !dir[j][i];
    let orient = |dir: &mut Vec<Vec<bool>>, i: usize, j: usize| {
        dir[i][j] = true;
        dir[j][i] = false;
    };
    if know.any {
        for i in 0..p {
            for j in (i + 1)..p {
                if undirected(&dir, i, j) {
                    if know.forbid[j][i] {
                        orient(&mut dir, i, j);
                    } else if know.forbid[i][j] || know.require[j][i] {
                        orient(&mut dir, j, i);
                    } else if know.require[i][j] {
                        orient(&mut dir, i, j);
                    }
                }
            }
        }
    }
    // Unshielded triples x - y - z (x, z not adjacent), lexicographic, x < z.
    let mut triples = Vec::new();
    for x in 0..p {
        for y in 0..p {
            if !adj[x][y] {
                continue;
            }
            for z in 0..p {
                if z != x && adj[y][z] && !adj[x][z] {
                    triples.push((x, y, z));
                }
            }
        }
    }
    for &(x, y, z) in triples.iter().filter(|t| t.0 < t.2) {
        if know.forbid[x][y] || know.forbid[z][y] || know.require[y][x] || know.require[y][z] {
            continue;
        }
        let seps = sepset.get(&(x, z)).map(|v| v.as_slice()).unwrap_or(&[]);
        if seps.iter().all(|s| !s.contains(&y)) && !dir[y][x] && !dir[y][z] {
            orient(&mut dir, x, y);
            orient(&mut dir, z, y);
        }
    }
    // Meek rules 1-3 until nothing changes.
    let ancestor = |dir: &Vec<Vec<bool>>, a: usize, b: usize| -> bool {
        // is a an ancestor of b through directed edges?
        let mut seen = vec![false; p];
        let mut stack = vec![a];
        while let Some(v) = stack.pop() {
            if v == b {
                return true;
            }
            for w in 0..p {
                if dir[v][w] && !seen[w] {
                    seen[w] = true;
                    stack.push(w);
                }
            }
        }
        false
    };
    let mut triangles = Vec::new();
    for i in 0..p {
        for j in 0..p {
            for k in 0..p {
                if i != k && adj[i][j] && adj[j][k] && adj[i][k] {
                    triangles.push((i, j, k));
                }
            }
        }
    }
    let mut kites = Vec::new();
    for &(i, j, l) in &triangles {
        for &(i2, k, l2) in &triangles {
            if i == i2 && l == l2 && j < k && !adj[j][k] {
                kites.push((i, j, k, l));
            }
        }
    }
    let mut changed = true;
    while changed {
        changed = false;
        for &(i, j, k) in &triples {
            if dir[i][j] && undirected(&dir, j, k) && !know.forbid[j][k] && !know.require[k][j] && !ancestor(&dir, k, j)
            {
                orient(&mut dir, j, k);
                changed = true;
            }
        }
        for &(i, j, k) in &triangles {
            if dir[i][j]
                && dir[j][k]
                && undirected(&dir, i, k)
                && !know.forbid[i][k]
                && !know.require[k][i]
                && !ancestor(&dir, k, i)
            {
                orient(&mut dir, i, k);
                changed = true;
            }
        }
        for &(i, j, k, l) in &kites {
            if undirected(&dir, i, j)
                && undirected(&dir, i, k)
                && dir[j][l]
                && dir[k][l]
                && undirected(&dir, i, l)
                && !know.forbid[i][l]
                && !know.require[l][i]
                && !ancestor(&dir, l, i)
            {
                orient(&mut dir, i, l);
                changed = true;
            }
        }
    }
    let mut edges = Vec::new();
    for i in 0..p {
        for j in 0..p {
            if dir[i][j] {
                edges.push(EdgeOut { from: names[i].clone(), to: names[j].clone(), directed: true });
            } else if i < j && undirected(&dir, i, j) {
                edges.push(EdgeOut { from: names[i].clone(), to: names[j].clone(), directed: false });
            }
        }
    }
    Ok(DiscoveryResult {
        method: "discovery".into(),
        estimator: "pc".into(),
        n_obs: n,
        alpha: settings.alpha,
        graph: CausalGraph::new(names, &edges)?,
        ci_tests: tests,
        warnings: Vec::new(),
    })
}
