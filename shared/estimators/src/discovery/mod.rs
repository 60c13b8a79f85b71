//! Causal discovery: PC-stable with Fisher-z conditional independence tests and Meek's
//! orientation rules, returning a CPDAG (directed and undirected edges) as a petgraph graph;
//! background knowledge as forbidden and required edges and temporal tiers.
//!
//! Follows causal-learn 0.1.x `pc(data, alpha, "fisherz", stable=True)` (uc_rule 0, uc_priority 2):
//! stable skeleton search with the union of separating sets per pair, unshielded colliders in
//! lexicographic order without overriding existing orientations, then Meek rules 1-3.

#![allow(clippy::needless_range_loop)] // index loops over adjacency matrices read clearest here

use petgraph::graph::Graph;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
pub struct PcSettings {
    pub alpha: f64,
    pub knowledge: BackgroundKnowledge,
}

impl Default for PcSettings {
    fn default() -> Self {
        Self { alpha: 0.05, knowledge: BackgroundKnowledge::default() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EdgeOut {
    pub from: String,
    pub to: String,
    pub directed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscoveryResult {
    pub method: String,
    pub estimator: String,
    pub n_obs: usize,
    pub alpha: f64,
    pub variables: Vec<String>,
    /// Directed edges from -> to; undirected ones once, in variable order.
    pub edges: Vec<EdgeOut>,
    pub ci_tests: usize,
}

impl DiscoveryResult {
    /// The CPDAG as a petgraph graph: node weights are variable names, edge weights say whether
    /// the edge is directed (an undirected edge is stored once, from the earlier variable).
    pub fn graph(&self) -> Graph<String, bool> {
        let mut g = Graph::new();
        let idx: HashMap<&str, _> = self.variables.iter().map(|v| (v.as_str(), g.add_node(v.clone()))).collect();
        for e in &self.edges {
            g.add_edge(idx[e.from.as_str()], idx[e.to.as_str()], e.directed);
        }
        g
    }
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
                .ok_or_else(|| invalid("knowledge", format!("{n:?} is not one of the variables")))
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

/// At least two variables of equal length, finite, with enough rows; the row count.
fn check_columns(columns: &[(String, Vec<f64>)]) -> Result<usize, DiscoveryError> {
    let p = columns.len();
    if p < 2 {
        return Err(invalid("columns", "need at least two variables"));
    }
    let n = columns[0].1.len();
    for (name, c) in columns {
        if c.len() != n {
            return Err(invalid(name, "columns differ in length"));
        }
        if let Some(i) = c.iter().position(|v| !v.is_finite()) {
            return Err(invalid(name, format!("row {}: not a finite number", i + 1)));
        }
    }
    if n < p + 4 {
        return Err(invalid("columns", format!("{n} rows is too few for {p} variables")));
    }
    Ok(n)
}

/// Fisher-z test of X ⟂ Y | S from the correlation matrix.
fn fisher_z(corr: &[f64], p: usize, n: usize, x: usize, y: usize, s: &[usize]) -> f64 {
    let mut vars = vec![x, y];
    vars.extend_from_slice(s);
    let k = vars.len();
    let sub = linalg::submatrix(corr, p, &vars);
    let r = match linalg::inv_spd(&sub, k) {
        Ok(inv) => -inv[1] / (inv[0] * inv[k + 1]).abs().sqrt(),
        Err(_) => 1.0,
    };
    let r = r.clamp(-(1.0 - f64::EPSILON), 1.0 - f64::EPSILON);
    let z = 0.5 * ((1.0 + r) / (1.0 - r)).ln();
    let stat = ((n as f64 - s.len() as f64 - 3.0).max(0.0)).sqrt() * z.abs();
    dist::normal_p_value(stat)
}

fn combinations(items: &[usize], k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity(k);
    fn rec(items: &[usize], k: usize, start: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..items.len() {
            cur.push(items[i]);
            rec(items, k, i + 1, cur, out);
            cur.pop();
        }
    }
    rec(items, k, 0, &mut cur, &mut out);
    out
}

/// PC-stable on the named numeric columns.
pub fn pc(columns: &[(String, Vec<f64>)], settings: &PcSettings) -> Result<DiscoveryResult, DiscoveryError> {
    let p = columns.len();
    if !(settings.alpha > 0.0 && settings.alpha < 1.0) {
        return Err(invalid("alpha", "must be between 0 and 1"));
    }
    let n = check_columns(columns)?;
    let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
    let know = Knowledge::new(&names, &settings.knowledge)?;
    // Correlation matrix from one blocked pass of cross-products over centred columns.
    let centred: Vec<Vec<f64>> = columns
        .iter()
        .map(|(name, c)| {
            let m = c.iter().sum::<f64>() / n as f64;
            let v: Vec<f64> = c.iter().map(|x| x - m).collect();
            if v.iter().all(|x| *x == 0.0) {
                Err(invalid(name, "is constant"))
            } else {
                Ok(v)
            }
        })
        .collect::<Result<_, _>>()?;
    let refs: Vec<&[f64]> = centred.iter().map(|c| c.as_slice()).collect();
    let cov = linalg::weighted_crossprod(&refs, None);
    let mut corr = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..p {
            corr[i * p + j] = cov[i * p + j] / (cov[i * p + i] * cov[j * p + j]).sqrt();
        }
    }

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
        if max_degree - 1 <= depth {
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
                for s in combinations(&rest, d) {
                    tests += 1;
                    if fisher_z(&corr, p, n, x, y, &s) > settings.alpha {
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
        variables: names,
        edges,
        ci_tests: tests,
    })
}
