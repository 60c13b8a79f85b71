#![allow(clippy::unwrap_used)]
//! The knowledge engine measured on orgs whose truth is known.
//!
//! - The simulator org: `liftos::ingestion::simulate` (seed 7: 3 platforms × 30 campaigns × 120
//!   days, 4 interventions per platform found by change points, a weekday pattern), written as
//!   exports and ingested through the main job's stages, plus a registered experiment on Google
//!   Ads (12 of the untouched campaigns at 1.5× budget from 2026-08-30, the other untouched ones
//!   its control group). Its true causal relations are known: spend causes impressions, clicks,
//!   conversions and revenue; impressions cause clicks; conversions cause revenue; the weekday
//!   moves conversions (and so revenue); each intervention moves its platform's spend and
//!   outcomes in its direction. Nothing else (clicks do not cause conversions here).
//! - The sample org: the main job's bundled sample.
//!
//! Measured: graph recovery by grade; the labelled questions of `tests/kse/queries.json` (hit@1,
//! hit@5 and MRR with the ontology and with its labels only, "no evidence" on relations that do
//! not exist, path precision of the two strongest grades); the calibration of discovered edges'
//! bootstrap stability over 24 simulated platforms. The figures are printed
//! (`cargo test -p liftos-tests --test kse -- --nocapture`).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use liftos::domain::{OrgId, Platform, TreatmentAssignment, TreatmentGroup, UserContext};
use liftos::ingestion::connectors::{file::ColumnMap, Connection, ConnectorKind};
use liftos::ingestion::simulate::{simulate, SimSettings, Truth};
use liftos::ingestion::ChangeKind;
use liftos::kse::graph::KnowledgeGraph;
use liftos::kse::ontology::Ontology;
use liftos::kse::search::{search, AnswerKind, SearchRequest};
use liftos::llm::facts::Grade;
use liftos::service::pipeline::{ingest_export, ExportFile};
use liftos::storage::{PageRequest, RecordQuery, Stores};

fn user(org: &str) -> UserContext {
    UserContext::new(OrgId::new(org).unwrap(), "kse-test".into(), vec!["causal_admin".into()], vec![])
}

const EXPERIMENT_DAY: i64 = 90;
const EXPERIMENT_ID: &str = "exp-gads-scale";

fn sim_settings(seed: u64) -> SimSettings {
    SimSettings {
        seed,
        campaigns_per_platform: 30,
        days: 120,
        interventions_per_platform: 4,
        history_share: 0.0,
        platforms: vec![Platform::Meta, Platform::GoogleAds, Platform::Tiktok],
        ..Default::default()
    }
}

fn file_connection(p: Platform) -> Connection {
    let id = format!("{p}-sim").replace('_', "-");
    Connection {
        id,
        kind: ConnectorKind::File,
        platform: p,
        account_id: String::new(),
        base_url: None,
        credentials: None,
        timezone: "UTC".into(),
        fx_rate: 1.0,
        currency: None,
        conversion_actions: vec![],
        revenue_metric: None,
        column_map: Some(ColumnMap {
            date: "date".into(),
            campaign_id: "campaign_id".into(),
            campaign_name: None,
            spend: "spend".into(),
            impressions: Some("impressions".into()),
            clicks: Some("clicks".into()),
            conversions: Some("conversions".into()),
            revenue: Some("revenue".into()),
            date_format: None,
            money_scale: None,
        }),
        country: None,
    }
}

/// The simulator org: exports through `ingest_export`, then the registered experiment's group
/// on its campaigns' records. Returns the truth and the experiment's treated campaigns.
async fn simulated_org(stores: &Stores, user: &UserContext) -> (Truth, Vec<String>) {
    let s = sim_settings(7);
    let (mut batch, truth) = simulate(&s);
    // The experiment: untouched Google Ads campaigns, every other one treated.
    let touched: Vec<&str> = truth.interventions.iter().map(|t| t.campaign_id.as_str()).collect();
    let untouched: Vec<String> = (0..s.campaigns_per_platform)
        .map(|c| liftos::ingestion::simulate::campaign_id(Platform::GoogleAds, c))
        .filter(|c| !touched.contains(&c.as_str()))
        .collect();
    let treated: Vec<String> = untouched.iter().step_by(2).take(12).cloned().collect();
    let day = s.start + Duration::days(EXPERIMENT_DAY);
    for r in batch.rows.iter_mut() {
        if r.platform == Platform::GoogleAds && treated.contains(&r.campaign_id) && r.date >= day {
            // Conversions scale with the budget at a fixed spend-to-budget ratio (the simulator's model).
            r.spend = (r.spend * 150.0).round() / 100.0;
            r.impressions = (r.impressions * 1.5).round();
            r.clicks = (r.clicks * 1.5).round();
            r.conversions = (r.conversions * 150.0).round() / 100.0;
            r.revenue = (r.revenue * 150.0).round() / 100.0;
        }
    }
    for p in &s.platforms {
        let mut csv = String::from("date,campaign_id,spend,impressions,clicks,conversions,revenue\n");
        for r in batch.rows.iter().filter(|r| r.platform == *p) {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                r.date, r.campaign_id, r.spend, r.impressions, r.clicks, r.conversions, r.revenue
            ));
        }
        let conn = file_connection(*p);
        let file = ExportFile { connection_id: conn.id.clone(), name: format!("{p}.csv"), bytes: csv.into_bytes() };
        ingest_export(stores, user, conn, file, "given", truth.now).await.unwrap();
    }
    // The registered experiment's groups on its campaigns' records.
    let at = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap());
    let mut updated = Vec::new();
    for c in &untouched {
        let q = RecordQuery::Campaign {
            platform: Platform::GoogleAds,
            campaign_id: c.clone(),
            range: liftos::domain::DateRange::all(),
        };
        let got = stores.records.query_records(&user.org_id, &q, &PageRequest::first(1000)).await.unwrap();
        for mut r in got.items {
            r.treatment_assignment = Some(TreatmentAssignment {
                intervention: "budget_increase".into(),
                group: if treated.contains(c) { TreatmentGroup::Treated } else { TreatmentGroup::Control },
                assigned_at: at,
                intensity: None,
                experiment_id: Some(EXPERIMENT_ID.into()),
            });
            r.updated_at += Duration::seconds(1);
            updated.push(r);
        }
    }
    stores.records.put_records(&updated).await.unwrap();
    (truth, treated)
}

/// The sign (+1, -1; 0: a relation whose sign is not fixed) of the true relation `from` → `to`
/// of the simulator org, or None when there is none.
fn true_sign(truth: &Truth, from: &str, to: &str) -> Option<i8> {
    let (fp, fv) = from.split_once(':')?;
    let (tp, tv) = to.split_once(':')?;
    if fp == "confounder" {
        // The weekday pattern is in the conversions, and so in the revenue.
        return (fv == "day_of_week" && truth.weekday_effect && matches!(tv, "conversions" | "revenue")).then_some(0);
    }
    if fp != tp {
        return None;
    }
    let downstream = |v: &str| -> &'static [&'static str] {
        match v {
            "spend" => &["impressions", "clicks", "conversions", "revenue"],
            "impressions" => &["clicks"],
            "conversions" => &["revenue"],
            _ => &[],
        }
    };
    if downstream(fv).contains(&tv) {
        return Some(1);
    }
    // An intervention node: `{platform}:{kind}:{day}`.
    let mut parts = fv.splitn(2, ':');
    let (kind, day) = (parts.next()?, parts.next()?.get(..10)?.parse::<NaiveDate>().ok()?);
    if !matches!(tv, "spend" | "impressions" | "clicks" | "conversions" | "revenue") {
        return None;
    }
    if fp == "google_ads"
        && kind == "budget_increase"
        && (day - (sim_settings(7).start + Duration::days(EXPERIMENT_DAY))).num_days().abs() <= 3
    {
        return Some(1);
    }
    truth.interventions.iter().find_map(|t| {
        let same_day = (t.date - day).num_days().abs() <= 3 && t.platform.as_str() == fp;
        let sign = match (t.kind, kind) {
            (ChangeKind::BudgetChange, "budget_increase") if t.size > 0.0 => 1,
            (ChangeKind::BudgetChange, "budget_decrease") if t.size < 0.0 => -1,
            (ChangeKind::Launch, "launch") => 1,
            (ChangeKind::Pause, "pause") => -1,
            _ => return None,
        };
        same_day.then_some(sign)
    })
}

/// Whether a claim about `from` → `to` with estimate `est` is right about the simulator org.
fn right(truth: &Truth, from: &str, to: &str, est: Option<f64>) -> bool {
    match (true_sign(truth, from, to), est) {
        (None, _) => false,
        (Some(0), _) | (Some(_), None) => true,
        (Some(s), Some(e)) => e.signum() as i8 == s,
    }
}

fn matches(pattern: &Option<String>, id: &str) -> bool {
    match pattern {
        None => true,
        Some(p) => match p.strip_prefix("*:") {
            Some(rest) => id.split_once(':').is_some_and(|(_, v)| v.starts_with(rest)),
            None => id.starts_with(p.as_str()),
        },
    }
}

#[derive(Default, Debug)]
struct Scores {
    relations: usize,
    hit1: usize,
    hit5: usize,
    rr: f64,
    negatives: usize,
    said_none: usize,
    strong_edges: usize,
    strong_right: usize,
}

impl Scores {
    fn line(&self) -> String {
        let r = self.relations.max(1) as f64;
        format!(
            "hit@1 {:.3} hit@5 {:.3} MRR {:.3} ({} questions); no evidence on {}/{} non-relations; strong edges right {}/{}",
            self.hit1 as f64 / r,
            self.hit5 as f64 / r,
            self.rr / r,
            self.relations,
            self.said_none,
            self.negatives,
            self.strong_right,
            self.strong_edges
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_recovery_and_labelled_questions() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::embedded(dir.path()).unwrap();
    let (sim_user, sample_user) = (user("sim"), user("sample"));
    let (truth, treated) = simulated_org(&stores, &sim_user).await;
    assert_eq!(treated.len(), 12);
    liftos::service::pipeline::run_sample_pipeline(&stores, &sample_user, Utc::now()).await.unwrap();
    let t0 = std::time::Instant::now();
    let built = liftos::service::kse::build(&stores, &sim_user, truth.now).await.unwrap();
    println!(
        "simulator org: built in {:?} (debug build): {} nodes, {} edges, evidence {:?}",
        t0.elapsed(),
        built.nodes,
        built.edges,
        built.evidence
    );
    for w in &built.warnings {
        println!("build warning: {w}");
    }
    liftos::service::kse::build(&stores, &sample_user, Utc::now()).await.unwrap();
    let sim: KnowledgeGraph = liftos::service::kse::load(&stores, &sim_user).await.unwrap().unwrap();
    let sample: KnowledgeGraph = liftos::service::kse::load(&stores, &sample_user).await.unwrap().unwrap();
    liftos::kse::graph::check(&sim).unwrap();
    liftos::kse::graph::check(&sample).unwrap();

    // Graph recovery by the grade of each edge's strongest evidence.
    let mut by_grade: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for e in &sim.edges {
        let c = e.best();
        let g = by_grade.entry(format!("{:?} {}", c.grade, c.kind)).or_default();
        g.0 += 1;
        g.1 += usize::from(right(&truth, &e.from, &e.to, c.estimate));
    }
    for (k, (n, ok)) in &by_grade {
        println!("recovery: grade {k}: {ok}/{n} edges true (with the right sign where estimated)");
    }
    for e in sim.edges.iter().filter(|e| e.best().kind == liftos::kse::graph::EvidenceKind::EstimatedEffect) {
        let c = e.best();
        println!(
            "effect: {} -> {}: grade {:?}, {:.2} [{:.2}, {:.2}], checks {:?}",
            e.from,
            e.to,
            c.grade,
            c.estimate.unwrap_or(f64::NAN),
            c.ci_low.unwrap_or(f64::NAN),
            c.ci_high.unwrap_or(f64::NAN),
            c.checks.iter().map(|k| (k.name.as_str(), k.passed)).collect::<Vec<_>>()
        );
    }
    let strong: Vec<_> = sim.edges.iter().filter(|e| e.best().grade.allows_causal_words()).collect();
    assert!(!strong.is_empty(), "the registered experiment gives grade A/B evidence");
    let strong_right = strong.iter().filter(|e| right(&truth, &e.from, &e.to, e.best().estimate)).count();
    assert!(strong_right as f64 >= 0.9 * strong.len() as f64, "{strong_right}/{} strong edges true", strong.len());
    // The experiment's edges are there, in the right direction.
    for v in ["spend", "conversions", "revenue"] {
        let e = strong
            .iter()
            .find(|e| e.from.starts_with("google_ads:budget_increase:") && e.to == format!("google_ads:{v}"));
        let e = e.unwrap_or_else(|| panic!("no strong edge from the experiment to {v}"));
        assert!(e.best().estimate.unwrap() > 0.0 && e.best().ci_low.unwrap() > 0.0, "{e:?}");
    }

    // The labelled questions.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/kse/queries.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let queries = file["queries"].as_array().unwrap();
    assert!(queries.len() >= 100);
    let shipped = Ontology::shipped();
    let bare = shipped.without_synonyms().unwrap();
    let mut table: BTreeMap<(String, String), Scores> = BTreeMap::new();
    let mut misses = Vec::new();
    for (name, o) in [("ontology", shipped), ("labels only", &bare)] {
        for q in queries {
            let (org, split, kind) =
                (q["org"].as_str().unwrap(), q["split"].as_str().unwrap(), q["kind"].as_str().unwrap());
            let g = if org == "sim" { &sim } else { &sample };
            let req = SearchRequest { query: q["query"].as_str().unwrap().into(), limit: 10, max_edges: 4 };
            let r = search(g, o, &req);
            for key in [(name.to_string(), split.to_string()), (name.to_string(), format!("{split} {org}"))] {
                let s = table.entry(key).or_default();
                if kind == "relation" {
                    s.relations += 1;
                    let (from, to) = (q["from"].as_str().map(String::from), q["to"].as_str().map(String::from));
                    let rank = r
                        .results
                        .iter()
                        .position(|p| matches(&from, &p.nodes[0]) && matches(&to, p.nodes.last().unwrap()));
                    if let Some(k) = rank {
                        s.hit1 += usize::from(k == 0);
                        s.hit5 += usize::from(k < 5);
                        s.rr += 1.0 / (k + 1) as f64;
                    }
                } else {
                    s.negatives += 1;
                    s.said_none += usize::from(matches!(r.answer, AnswerKind::NoEvidence | AnswerKind::PriorOnly));
                }
                if org == "sim" {
                    for p in r.results.iter().take(5) {
                        for e in p.path.iter().filter(|e| e.grade <= Grade::B) {
                            s.strong_edges += 1;
                            s.strong_right += usize::from(right(&truth, &e.from, &e.to, e.estimate));
                        }
                    }
                }
            }
            if name == "ontology" && split == "dev" {
                let ok = if kind == "relation" {
                    r.results.iter().take(5).any(|p| {
                        matches(&q["from"].as_str().map(String::from), &p.nodes[0])
                            && matches(&q["to"].as_str().map(String::from), p.nodes.last().unwrap())
                    })
                } else {
                    matches!(r.answer, AnswerKind::NoEvidence | AnswerKind::PriorOnly)
                };
                if !ok {
                    misses.push(format!("{} [{}] {:?} {:?}: {}", q["id"], kind, r.intent, r.answer, req.query));
                }
            }
        }
    }
    for ((name, split), s) in &table {
        println!("questions, {name}, {split}: {}", s.line());
    }
    for m in &misses {
        println!("dev miss: {m}");
    }
    let test = &table[&("ontology".to_string(), "test".to_string())];
    let bare_test = &table[&("labels only".to_string(), "test".to_string())];
    // Validity, on the held-out questions: strong edges are true, and questions about relations
    // that do not exist are answered "no evidence".
    assert!(test.strong_right as f64 >= 0.9 * test.strong_edges as f64, "{}", test.line());
    assert!(test.said_none as f64 >= 0.9 * test.negatives as f64, "{}", test.line());
    // The ontology's synonyms are what finds the relations asked about in marketers' words.
    assert!(test.hit5 > bare_test.hit5, "ontology {} vs labels only {}", test.line(), bare_test.line());
}

/// Discovered edges' bootstrap stability is calibrated: over 24 simulated platforms (8 seeds ×
/// 3 platforms, 30 campaigns × 120 days each), the edges found in at least 80% of the resamples
/// are true at least 90% of the time.
#[test]
fn bootstrap_stability_is_calibrated() {
    use liftos::kse::graph::{add_channel, add_discovered, EvidenceKind, GraphBuilder, PlatformDays};
    let o = Ontology::shipped();
    let mut stable = (0usize, 0usize);
    let mut unstable = (0usize, 0usize);
    for seed in 0..8u64 {
        let s = SimSettings { interventions_per_platform: 0, ..sim_settings(100 + seed) };
        let (batch, truth) = simulate(&s);
        for p in &s.platforms {
            let mut b = GraphBuilder::default();
            add_channel(&mut b, o, p.as_str());
            let mut d = PlatformDays { platform: p.to_string(), ..Default::default() };
            for r in batch.rows.iter().filter(|r| r.platform == *p) {
                d.campaign.push(r.campaign_id.clone());
                for (k, v) in [
                    ("spend", r.spend),
                    ("impressions", r.impressions),
                    ("clicks", r.clicks),
                    ("conversions", r.conversions),
                    ("revenue", r.revenue),
                ] {
                    d.metrics.entry(k.to_string()).or_default().push(v);
                }
            }
            add_discovered(&mut b, o, &d, seed);
            let g = b.finish("o", o);
            for e in g.edges.iter().filter(|e| e.best().kind == EvidenceKind::Discovered) {
                let c = e.best();
                let ok = usize::from(right(&truth, &e.from, &e.to, c.estimate));
                let bucket = if c.stability.unwrap() >= 0.8 { &mut stable } else { &mut unstable };
                bucket.0 += 1;
                bucket.1 += ok;
            }
        }
    }
    println!(
        "discovered edges: stability >= 0.8: {}/{} true; below: {}/{} true",
        stable.1, stable.0, unstable.1, unstable.0
    );
    assert!(stable.0 >= 24, "{stable:?}");
    assert!(stable.1 as f64 >= 0.9 * stable.0 as f64, "{stable:?}");
}
