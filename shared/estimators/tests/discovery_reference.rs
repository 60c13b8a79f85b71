#![allow(clippy::unwrap_used)]
//! PC against causal-learn on the same data (tests/reference/pc_causallearn.json), and recovery
//! of known DAGs by simulation (structural Hamming distance).

use liftos_estimators::data::Table;
use liftos_estimators::discovery::{self, BackgroundKnowledge, EdgeOut, PcSettings};
use liftos_estimators::Columns;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference")
}

fn columns() -> Columns {
    let t = Table::read_csv(&dir().join("data/dag_sim.csv")).unwrap();
    t.columns(&t.names).unwrap()
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
    assert_eq!(sorted(fit.graph.edges()), expected(&r["pc"]));
    let g = fit.graph.graph();
    assert_eq!(g.node_count(), 12);
    assert_eq!(g.edge_count(), fit.graph.edges().len());
}

#[test]
fn pc_with_temporal_tiers_matches_causal_learn() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("pc_causallearn.json")).unwrap()).unwrap();
    let tiers = (0..12).map(|i| (format!("x{i}"), (i / 4) as i64)).collect();
    let settings =
        PcSettings { knowledge: BackgroundKnowledge { tiers, ..Default::default() }, ..PcSettings::default() };
    let fit = discovery::pc(&columns(), &settings).unwrap();
    assert_eq!(sorted(fit.graph.edges()), expected(&r["tiers"]));
    // Nothing points from a later tier to an earlier one.
    let tier = |n: &str| n[1..].parse::<usize>().unwrap() / 4;
    assert!(fit.graph.edges().iter().filter(|e| e.directed).all(|e| tier(&e.from) <= tier(&e.to)));
}

/// A known DAG x0 -> x1 -> x2 <- x3, x2 -> x4. Its CPDAG: the collider orients x1 -> x2 <- x3,
/// Meek's first rule orients x2 -> x4, and x0 - x1 stays undirected. With 5,000 rows PC recovers
/// it exactly (structural Hamming distance 0).
#[test]
fn recovers_a_known_dag() {
    use liftos_estimators::rng::Rng;
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
    let cols = Columns::new(c.into_iter().enumerate().map(|(i, v)| (format!("x{i}"), v)).collect()).unwrap();
    let fit = discovery::pc(&cols, &PcSettings::default()).unwrap();
    let e = |f: &str, t: &str, d: bool| EdgeOut { from: f.into(), to: t.into(), directed: d };
    let want = sorted(vec![e("x0", "x1", false), e("x1", "x2", true), e("x3", "x2", true), e("x2", "x4", true)]);
    assert_eq!(sorted(fit.graph.edges()), want, "structural Hamming distance must be 0");
    // Required and forbidden edges are honoured: require x1 -> x0, forbid x4 -> x2 (already so).
    let bk = BackgroundKnowledge {
        required: vec![("x1".into(), "x0".into())],
        forbidden: vec![("x4".into(), "x2".into())],
        ..Default::default()
    };
    let fit = discovery::pc(&cols, &PcSettings { knowledge: bk, ..PcSettings::default() }).unwrap();
    assert!(fit.graph.edges().contains(&e("x1", "x0", true)), "{:?}", fit.graph.edges());
    // Unknown names in the knowledge are an error naming it.
    let bad = BackgroundKnowledge { forbidden: vec![("zz".into(), "x0".into())], ..Default::default() };
    assert!(discovery::pc(&cols, &PcSettings { knowledge: bad, ..PcSettings::default() }).is_err());
}

fn lingam_columns() -> Columns {
    let t = Table::read_csv(&dir().join("data/lingam_sim.csv")).unwrap();
    t.columns(&t.names).unwrap()
}

fn lingam_reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("lingam_reference.json")).unwrap()).unwrap()
}

/// The reference adjacency (B[i][j] != 0: column j -> column i) as (from, to, coefficient).
fn lingam_effects(names: &[String], adj: &serde_json::Value) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    for (i, row) in adj.as_array().unwrap().iter().enumerate() {
        for (j, v) in row.as_array().unwrap().iter().enumerate() {
            let v = v.as_f64().unwrap();
            if v != 0.0 {
                out.push((names[j].clone(), names[i].clone(), v));
            }
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn check_lingam(case: &str, knowledge: BackgroundKnowledge) {
    let r = lingam_reference();
    let names: Vec<String> = r["columns"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let fit = discovery::direct_lingam(&lingam_columns(), &discovery::LingamSettings { knowledge }).unwrap();
    let want_order: Vec<String> =
        r[case]["causal_order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(fit.causal_order, want_order, "{case}: causal order");
    let want = lingam_effects(&names, &r[case]["adjacency"]);
    let mut got: Vec<(String, String, f64)> =
        fit.effects.iter().map(|e| (e.from.clone(), e.to.clone(), e.coefficient)).collect();
    got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(
        got.iter().map(|e| (&e.0, &e.1)).collect::<Vec<_>>(),
        want.iter().map(|e| (&e.0, &e.1)).collect::<Vec<_>>(),
        "{case}: edges"
    );
    for (g, w) in got.iter().zip(&want) {
        assert!((g.2 - w.2).abs() < 1e-8 * w.2.abs().max(1.0), "{case} {}->{}: {} vs {}", g.0, g.1, g.2, w.2);
    }
    assert!(fit.graph.edges().iter().all(|e| e.directed));
}

/// DirectLiNGAM against lingam 1.13.0 (scikit-learn 1.9.1 for the adaptive lasso) on the same
/// data (tests/reference/scripts/lingam_reference.py): the same causal order, the same pruned
/// edges and the same coefficients.
#[test]
fn direct_lingam_matches_lingam() {
    check_lingam("plain", BackgroundKnowledge::default());
}

/// With temporal tiers (lingam's prior knowledge: no path from a later tier to an earlier one).
#[test]
fn direct_lingam_with_tiers_matches_lingam() {
    let r = lingam_reference();
    let tiers =
        r["tiers"]["tiers"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap())).collect();
    check_lingam("tiers", BackgroundKnowledge { tiers, ..BackgroundKnowledge::default() });
}

/// The true DAG is recovered: every true edge found in its direction, with at most one extra
/// edge (structural Hamming distance), and the order consistent with the true DAG.
#[test]
fn direct_lingam_recovers_the_true_dag() {
    let r = lingam_reference();
    let truth: Vec<(String, String)> = r["true_edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().to_string(), e[1].as_str().unwrap().to_string()))
        .collect();
    let fit = discovery::direct_lingam(&lingam_columns(), &discovery::LingamSettings::default()).unwrap();
    let found: Vec<(String, String)> = fit.graph.edges().iter().map(|e| (e.from.clone(), e.to.clone())).collect();
    let missing = truth.iter().filter(|e| !found.contains(e)).count();
    let extra = found.iter().filter(|e| !truth.contains(e)).count();
    eprintln!("true {} edges, found {}, missing {missing}, extra {extra}", truth.len(), found.len());
    assert_eq!(missing, 0);
    assert!(extra <= 1);
    let pos = |v: &str| fit.causal_order.iter().position(|x| x == v).unwrap();
    for (a, b) in &truth {
        assert!(pos(a) < pos(b), "{a} -> {b} against the order");
    }
    // Forbidding a true edge removes it; a contradiction in the knowledge is a clear error.
    let (a, b) = truth[0].clone();
    let k = BackgroundKnowledge { forbidden: vec![(a.clone(), b.clone())], ..BackgroundKnowledge::default() };
    let fit = discovery::direct_lingam(&lingam_columns(), &discovery::LingamSettings { knowledge: k }).unwrap();
    assert!(!fit.graph.edges().iter().any(|e| e.from == a && e.to == b));
    let tiers = [(a.clone(), 1), (b.clone(), 0)].into_iter().collect();
    let k = BackgroundKnowledge { required: vec![(a, b)], tiers, ..BackgroundKnowledge::default() };
    let e = discovery::direct_lingam(&lingam_columns(), &discovery::LingamSettings { knowledge: k }).unwrap_err();
    assert!(e.to_string().contains("contradict"), "{e}");
}
