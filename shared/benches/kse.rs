#![allow(clippy::unwrap_used)]
//! The knowledge engine's speed (release build):
//!
//!   cargo bench -p liftos --bench kse
//!
//! - Build time per org: the simulator org of the tests (3 platforms × 30 campaigns × 120 days,
//!   10,800 campaign-days; its interventions' analyses, discovery with 100 bootstrap resamples per
//!   platform, profiles), ingested through the main job's stages; median of 3.
//! - With `KSE_BENCH_SNAPSHOT=path` (and `KSE_BENCH_ORG`, default acme), the 10,000-node graph
//!   is also written there as that org's snapshot, for the cold start of the `kse-search` Lambda
//!   with the snapshot fetched from S3 (see the README).
//! - Search on a graph of 10,000 nodes (4 channels, 8,000 campaigns with context vectors, 1,900
//!   interventions with effects on spend, conversions and revenue, 76 confounders): the snapshot's
//!   size, the cold path (read the snapshot from the store and parse it, then search) and the
//!   warm path (the service's search as a warm Lambda runs it: snapshot cached, question
//!   interpreted, paths enumerated and ranked), p50 and p95 over 22 questions × 10 rounds (two name
//!   campaigns: the full-text index, whose build time is measured on its own).

use std::time::Instant;

use chrono::NaiveDate;
use liftos::domain::{OrgId, Platform, UserContext};
use liftos::kse::graph::{self, Claim, EvidenceKind, GraphBuilder, Node, NodeKind};
use liftos::kse::ontology::Ontology;
use liftos::kse::profile::{self, ProfileKind};
use liftos::llm::facts::Grade;
use liftos::storage::Stores;

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn effect(id: String, est: f64) -> Claim {
    Claim {
        id,
        kind: EvidenceKind::EstimatedEffect,
        grade: if est > 0.0 { Grade::B } else { Grade::C },
        method: "event_study".into(),
        estimate: Some(est),
        ci_low: Some(est - 2.0),
        ci_high: Some(est + 2.0),
        level: Some(0.95),
        p_value: None,
        unit: Some("conversions per campaign-day".into()),
        stability: None,
        confidence: None,
        n: None,
        analysis_id: None,
        checks: vec![],
        detail: String::new(),
    }
}

/// A campaign's name: three words of small vocabularies and its number, as accounts name them.
fn name(c: usize) -> String {
    const A: [&str; 8] = ["Spring", "Summer", "Autumn", "Winter", "Always On", "Launch", "Holiday", "Evergreen"];
    const B: [&str; 6] = ["Sale", "Promo", "Brand", "Retargeting", "Prospecting", "Lookalike"];
    const C: [&str; 5] = ["US", "UK", "DE", "Broad", "Interest"];
    format!("{} {} {} {c}", A[c % 8], B[(c / 8) % 6], C[(c / 48) % 5])
}

/// A graph of about 10,000 nodes.
fn big_graph(org: &str) -> graph::KnowledgeGraph {
    let o = Ontology::shipped();
    let mut b = GraphBuilder::default();
    let kinds = ["budget_increase", "budget_decrease"];
    for p in ["meta", "google_ads", "tiktok", "linkedin"] {
        graph::add_channel(&mut b, o, p);
        graph::add_domain_priors(&mut b, o, p);
        for c in 0..2000 {
            let id = graph::campaign_node_id(p, &format!("cmp-{c:05}"));
            b.node(Node {
                platform: Some(p.into()),
                name: Some(name(c)),
                ..Node::new(id.clone(), NodeKind::Campaign, format!("{p} campaign {}", name(c)))
            });
            let series: Vec<(i64, f64, f64)> =
                (0..28).map(|t| (t, 100.0 + (c % 17) as f64 + t as f64, 5.0 + (c % 5) as f64)).collect();
            if let Some(v) = profile::context_vector(&series, 100) {
                b.profile(&id, ProfileKind::Context, v);
            }
        }
        for i in 0..475 {
            let kind = kinds[i % 2];
            let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(i as u64);
            let id = graph::intervention_id(p, kind, day);
            b.node(Node {
                platform: Some(p.into()),
                concept: Some(kind.into()),
                date: Some(day),
                campaigns: vec![format!("cmp-{:05}", i * 4)],
                ..Node::new(id.clone(), NodeKind::Intervention, format!("{p} {kind} on {day}"))
            });
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            for v in ["spend", "conversions", "revenue"] {
                let est = sign * (3.0 + (i % 7) as f64);
                b.claim(&id, &graph::variable_id(p, v), effect(format!("e:{id}:{v}"), est));
            }
            b.profile(
                &id,
                ProfileKind::Effect,
                profile::effect_profile([Some(sign * 5.0), Some(sign * 3.0), None], 0.8),
            );
        }
    }
    for h in 0..19 {
        for p in ["meta", "google_ads", "tiktok", "linkedin"] {
            graph::add_confounder(&mut b, o, p, &format!("holiday:day {h}"), "calendar", 0.9, 10);
        }
    }
    b.finish(org, o)
}

const QUESTIONS: [&str; 22] = [
    "did the Meta budget increase drive revenue?",
    "what drives conversions on TikTok?",
    "did the google budget cut hurt sign-ups",
    "does linkedin spend drive leads",
    "which channel drives the most revenue",
    "what if we spent 20% more on meta",
    "do clicks drive conversions on meta",
    "did the TikTok budget cut hurt conversions?",
    "consequences of the linkedin budget increase",
    "does the weather affect sales",
    "why did google ads conversions go up",
    "did holidays affect tiktok revenue",
    "does spend on instagram increase impressions",
    "did boosting the fb budget grow purchases",
    "roas of the meta budget increase",
    "cpa after the google budget cut",
    "does revenue drive spend on meta",
    "what moves sign-ups on linkedin",
    "did the meta pause hurt tiktok revenue",
    "incremental revenue from the tiktok budget increase",
    "did the summer prospecting campaign's budget increase lift meta conversions",
    "what did the evergreen lookalike campaigns on tiktok do for revenue",
];

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::embedded(dir.path()).unwrap();

    // A realistic org's build.
    let user = UserContext::new(OrgId::new("sim").unwrap(), "bench".into(), vec!["causal_admin".into()], vec![]);
    let s = liftos::ingestion::simulate::SimSettings {
        seed: 7,
        campaigns_per_platform: 30,
        days: 120,
        interventions_per_platform: 4,
        history_share: 0.0,
        platforms: vec![Platform::Meta, Platform::GoogleAds, Platform::Tiktok],
        ..Default::default()
    };
    let (batch, truth) = liftos::ingestion::simulate::simulate(&s);
    for p in &s.platforms {
        let mut csv = String::from("date,campaign_id,spend,impressions,clicks,conversions,revenue\n");
        for r in batch.rows.iter().filter(|r| r.platform == *p) {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                r.date, r.campaign_id, r.spend, r.impressions, r.clicks, r.conversions, r.revenue
            ));
        }
        let file = liftos::service::pipeline::ExportFile {
            connection_id: format!("{p}-sim").replace('_', "-"),
            name: format!("{p}.csv"),
            bytes: csv.into_bytes(),
        };
        let map = liftos::service::pipeline::detect_export_map(&file).unwrap();
        let conn = liftos::ingestion::connectors::Connection {
            id: file.connection_id.clone(),
            kind: liftos::ingestion::connectors::ConnectorKind::File,
            platform: *p,
            account_id: String::new(),
            base_url: None,
            credentials: None,
            timezone: "UTC".into(),
            fx_rate: 1.0,
            currency: None,
            conversion_actions: vec![],
            revenue_metric: None,
            column_map: Some(map),
            country: None,
        };
        liftos::service::pipeline::ingest_export(&stores, &user, conn, file, "detected", truth.now).await.unwrap();
    }
    // The build's reading and computing (assemble), three times, and one build with its write.
    let mut builds = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let g = liftos::service::kse::assemble(&stores, &user, truth.now).await.unwrap();
        builds.push(t.elapsed().as_secs_f64());
        std::hint::black_box(g);
    }
    builds.sort_by(f64::total_cmp);
    let t = Instant::now();
    let b = liftos::service::kse::build(&stores, &user, truth.now).await.unwrap();
    let with_write = t.elapsed().as_secs_f64();
    println!(
        "build, simulator org ({} campaign-days, {} analyses): median {:.0} ms of 3; with the snapshot's write {:.0} ms",
        batch.rows.len(),
        b.inputs.analyses,
        1000.0 * builds[1],
        1000.0 * with_write
    );

    // Search on 10,000 nodes.
    let big_user = UserContext::new(OrgId::new("big").unwrap(), "bench".into(), vec!["causal_admin".into()], vec![]);
    let g = big_graph("big");
    let bytes = serde_json::to_vec(&g).unwrap();
    println!("graph: {} nodes, {} edges, snapshot {:.1} MB", g.nodes.len(), g.edges.len(), bytes.len() as f64 / 1e6);
    // The same graph for another org, written where `KSE_BENCH_SNAPSHOT` says: the Lambda cold
    // start with the snapshot fetched from S3 (shared/benches/cold_start.py) reads it.
    if let Ok(path) = std::env::var("KSE_BENCH_SNAPSHOT") {
        let org = std::env::var("KSE_BENCH_ORG").unwrap_or_else(|_| "acme".into());
        std::fs::write(&path, serde_json::to_vec(&big_graph(&org)).unwrap()).unwrap();
        println!("snapshot of org {org} written to {path}");
    }
    stores.panels.put_panel(&big_user.org_id, liftos::service::kse::SNAPSHOT_KEY, bytes.into()).await.unwrap();
    liftos::service::kse::forget_cached();
    let mut cold = Vec::new();
    for _ in 0..5 {
        liftos::service::kse::forget_cached();
        let body = serde_json::json!({ "query": QUESTIONS[0] }).to_string();
        let t = Instant::now();
        liftos::service::kse::search(&stores, &big_user, body.as_bytes()).await.unwrap();
        cold.push(1000.0 * t.elapsed().as_secs_f64());
    }
    // The full-text index of the 8,000 campaigns' names, built on the first question that names
    // a campaign and kept per snapshot version.
    let mut index = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(liftos::kse::text::TextIndex::build(&g).unwrap());
        index.push(1000.0 * t.elapsed().as_secs_f64());
    }
    println!("full-text index of {} campaigns: built in median {:.0} ms of 5", 8000, pct(index, 0.5));
    let mut warm = Vec::new();
    for _ in 0..10 {
        for q in QUESTIONS {
            let body = serde_json::json!({ "query": q }).to_string();
            let t = Instant::now();
            let r = liftos::service::kse::search(&stores, &big_user, body.as_bytes()).await.unwrap();
            warm.push(1000.0 * t.elapsed().as_secs_f64());
            std::hint::black_box(r);
        }
    }
    println!(
        "search, 10,000 nodes: cold (snapshot read and parsed) median {:.0} ms; warm p50 {:.1} ms, p95 {:.1} ms over {} questions",
        pct(cold, 0.5),
        pct(warm.clone(), 0.5),
        pct(warm.clone(), 0.95),
        warm.len()
    );
}
