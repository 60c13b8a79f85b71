#![allow(clippy::unwrap_used)]
//! PC against causal-learn on the same data (tests/reference/pc_causallearn.json), and recovery
//! of known DAGs by simulation (structural Hamming distance).

use liftos::estimators::data::Table;
use liftos::estimators::discovery::{self, BackgroundKnowledge, EdgeOut, PcSettings};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/reference")
}

fn columns() -> Vec<(String, Vec<f64>)> {
    let t = Table::read_csv(&dir().join("data/dag_sim.csv")).unwrap();
    t.names.iter().map(|n| (n.clone(), t.numeric(n).unwrap())).collect()
}

fn expected(v: &serde_json::Value) -> Vec<EdgeOut> {
    let mut e: Vec<EdgeOut> = v
        .as_array()
        .unwrap()
        .iter()
        // The extraction script also listed each j -> i edge (i < j) once as "other": skip those.
        .filter(|e| e[2].is_boolean())
        .map(|e| EdgeOut {
            from: e[0].as_str().unwrap().to_string(),
            to: e[1].as_str().unwrap().to_string(),
            directed: e[2].as_bool().unwrap(),
        })
        .collect();
    e.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    e
}

fn sorted(mut e: Vec<EdgeOut>) -> Vec<EdgeOut> {
    e.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    e
}

#[test]
fn pc_matches_causal_learn() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("pc_causallearn.json")).unwrap()).unwrap();
    let fit = discovery::pc(&columns(), &PcSettings::default()).unwrap();
    assert_eq!(sorted(fit.edges.clone()), expected(&r["pc"]));
    let g = fit.graph();
    assert_eq!(g.node_count(), 12);
    assert_eq!(g.edge_count(), fit.edges.len());
}

#[test]
fn pc_with_temporal_tiers_matches_causal_learn() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("pc_causallearn.json")).unwrap()).unwrap();
    let tiers = (0..12).map(|i| (format!("x{i}"), (i / 4) as i64)).collect();
    let settings =
        PcSettings { knowledge: BackgroundKnowledge { tiers, ..Default::default() }, ..PcSettings::default() };
    let fit = discovery::pc(&columns(), &settings).unwrap();
    assert_eq!(sorted(fit.edges.clone()), expected(&r["tiers"]));
    // Nothing points from a later tier to an earlier one.
    let tier = |n: &str| n[1..].parse::<usize>().unwrap() / 4;
    assert!(fit.edges.iter().filter(|e| e.directed).all(|e| tier(&e.from) <= tier(&e.to)));
}

/// A known DAG x0 -> x1 -> x2 <- x3, x2 -> x4. Its CPDAG: the collider orients x1 -> x2 <- x3,
/// Meek's first rule orients x2 -> x4, and x0 - x1 stays undirected. With 5,000 rows PC recovers
/// it exactly (structural Hamming distance 0).
#[test]
fn recovers_a_known_dag() {
    use liftos::estimators::rng::Rng;
    let mut rng = Rng::new(16);
    let n = 5000;
    let mut c: Vec<Vec<f64>> = (0..5).map(|_| Vec::with_capacity(n)).collect();
    for _ in 0..n {
        let x0 = rng.normal();
        let x1 = 0.8 * x0 + rng.normal();
        let x3 = rng.normal();
        let x2 = 0.7 * x1 - 0.9 * x3 + rng.normal();
        let x4 = 0.6 * x2 + rng.normal();
        for (col, v) in c.iter_mut().zip([x0, x1, x2, x3, x4]) {
            col.push(v);
        }
    }
    let cols: Vec<(String, Vec<f64>)> = c.into_iter().enumerate().map(|(i, v)| (format!("x{i}"), v)).collect();
    let fit = discovery::pc(&cols, &PcSettings::default()).unwrap();
    let e = |f: &str, t: &str, d: bool| EdgeOut { from: f.into(), to: t.into(), directed: d };
    let want = sorted(vec![e("x0", "x1", false), e("x1", "x2", true), e("x3", "x2", true), e("x2", "x4", true)]);
    assert_eq!(sorted(fit.edges.clone()), want, "structural Hamming distance must be 0");
    // Required and forbidden edges are honoured: require x1 -> x0, forbid x4 -> x2 (already so).
    let bk = BackgroundKnowledge {
        required: vec![("x1".into(), "x0".into())],
        forbidden: vec![("x4".into(), "x2".into())],
        ..Default::default()
    };
    let fit = discovery::pc(&cols, &PcSettings { knowledge: bk, ..PcSettings::default() }).unwrap();
    assert!(fit.edges.contains(&e("x1", "x0", true)), "{:?}", fit.edges);
    // Unknown names in the knowledge are an error naming it.
    let bad = BackgroundKnowledge { forbidden: vec![("zz".into(), "x0".into())], ..Default::default() };
    assert!(discovery::pc(&cols, &PcSettings { knowledge: bad, ..PcSettings::default() }).is_err());
}
