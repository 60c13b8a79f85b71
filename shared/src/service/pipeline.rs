//! The main job on the embedded default: ingest the bundled sample data through the same use
//! cases the API calls, query it back, analyse the detected treatment (DiD and synthetic control
//! with the HTML report), and surface where the next dollar should go.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::experiments::experiment_causal_data;
use super::ingest::{ingest_causal, IngestResponse};
use super::ServiceError;
use crate::domain::error::from_json_str;
use crate::domain::{DateRange, NewExperiment, Platform, UserContext};
use crate::storage::{PageRequest, PutOutcome, RecordQuery, Stores};

pub const SAMPLE_RECORDS: &str = include_str!("../../samples/causal_records.json");
pub const SAMPLE_EXPERIMENT: &str = include_str!("../../samples/experiment.json");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlatformSummary {
    pub records: usize,
    pub campaigns: usize,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub spend: f64,
    pub conversions: f64,
    pub revenue: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineSummary {
    pub org_id: String,
    pub experiment_id: String,
    pub experiment_outcome: PutOutcome,
    pub ingest: IngestResponse,
    /// Queried back from the store, per platform, over the whole sample range.
    pub stored_by_platform: BTreeMap<String, PlatformSummary>,
    pub experiment_records: usize,
    pub experiment_pages: usize,
    pub record_read_back: bool,
    /// Where the next dollar should go: the revenue-maximising allocation of the current daily
    /// budget across platforms (each within ±30% of its current spend), with the expected gain.
    pub budget_recommendation: BudgetRecommendation,
    /// The test that would settle the most uncertain channel.
    pub proposed_next_test: ProposedTest,
    /// DiD (with event study) and synthetic control (with placebos) on the detected treatment,
    /// from the stored records, with the HTML report.
    pub analysis: AnalysisSummary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnalysisSummary {
    pub treatment: Option<super::source::DetectedTreatment>,
    pub outcome: String,
    /// (method, estimate, ci_low, ci_high)
    pub estimates: Vec<(String, f64, Option<f64>, Option<f64>)>,
    pub summary: String,
    pub checks_passed: usize,
    pub checks_failed: usize,
    /// The report in the panel store (`key`) and a link to it (`url`).
    pub report_key: String,
    pub report_url: String,
}

/// The request the main job sends to the causal service: both panel methods on the stored
/// records' detected treatment, revenue as the outcome, with the report.
pub const SAMPLE_ANALYSIS: &str = r#"{
  "question": "Did the +30% Meta prospecting budget (from 2026-09-29) cause more revenue?",
  "records": {},
  "report": true,
  "mode": "sync",
  "methods": [
    {"method": "did", "outcome": "revenue", "event_study": true},
    {"method": "synth", "outcome": "revenue", "placebo": true}
  ]
}"#;

async fn analyse(stores: &Stores, user: &UserContext, now: DateTime<Utc>) -> Result<AnalysisSummary, ServiceError> {
    use super::causal::{self, Answer, Ctx, Kind};
    let ctx = Ctx { stores, jobs_queue: None, now };
    let v = match causal::run(&ctx, user, Kind::AnalyzeAdvanced, SAMPLE_ANALYSIS.as_bytes()).await? {
        Answer::Done(v) => v,
        Answer::Queued(j) => j.result.unwrap_or_default(),
    };
    let c = &v["comparison"];
    let parsed = |k: &str| serde_json::from_value(v["comparison"][k].clone()).ok();
    Ok(AnalysisSummary {
        treatment: serde_json::from_value(v["data"]["treatment"].clone()).ok(),
        outcome: "revenue".into(),
        estimates: parsed("estimates").unwrap_or_default(),
        summary: c["summary"].as_str().unwrap_or_default().to_string(),
        checks_passed: c["checks_passed"].as_u64().unwrap_or(0) as usize,
        checks_failed: c["checks_failed"].as_u64().unwrap_or(0) as usize,
        report_key: v["report"]["key"].as_str().unwrap_or_default().to_string(),
        report_url: v["report"]["url"].as_str().unwrap_or_default().to_string(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BudgetRecommendation {
    pub daily_budget: f64,
    pub allocations: Vec<crate::surfacing::budget::Allocation>,
    pub expected_daily_revenue_gain: f64,
    pub expected_daily_revenue_gain_ci: (f64, f64),
    pub binding: Vec<String>,
    pub recommendations: Vec<crate::surfacing::recommend::Recommendation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposedTest {
    pub channel: String,
    pub design: String,
    /// The revenue a day that +30% spend must add to pay for itself, the lift the curves
    /// predict, and the days per arm that detect the break-even lift with 80% power at 5%.
    pub break_even_daily_lift: f64,
    pub predicted_daily_lift: f64,
    pub days_per_arm: u64,
    pub power: f64,
    pub why: String,
}

/// Run the main job for `user`'s org against `stores`.
pub async fn run_sample_pipeline(
    stores: &Stores,
    user: &UserContext,
    now: DateTime<Utc>,
) -> Result<PipelineSummary, ServiceError> {
    let experiment = from_json_str::<NewExperiment>(SAMPLE_EXPERIMENT)?.into_experiment(&user.org_id, now)?;
    // The sample experiment may have moved on since (its status changed through the API): the
    // stored one stands, and the job carries on with it.
    let experiment_outcome = match stores.experiments.create_experiment(&experiment).await {
        Ok(o) => o,
        Err(crate::storage::StoreError::Conflict { .. }) => {
            tracing::info!(experiment_id = %experiment.id, "the sample experiment exists with changes; kept as stored");
            PutOutcome::Unchanged
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(experiment_id = %experiment.id, outcome = ?experiment_outcome, "experiment");

    let ingest = ingest_causal(stores.records.as_ref(), user, SAMPLE_RECORDS.as_bytes(), now).await?;
    tracing::info!(
        received = ingest.received,
        inserted = ingest.inserted,
        unchanged = ingest.unchanged,
        "records ingested"
    );

    let range = DateRange::all();
    let mut stored_by_platform = BTreeMap::new();
    for platform in Platform::ALL {
        let mut s = PlatformSummary {
            records: 0,
            campaigns: 0,
            first: None,
            last: None,
            spend: 0.0,
            conversions: 0.0,
            revenue: 0.0,
        };
        let mut campaigns = std::collections::BTreeSet::new();
        let mut page = PageRequest::first(500);
        loop {
            let got =
                stores.records.query_records(&user.org_id, &RecordQuery::Platform { platform, range }, &page).await?;
            for r in &got.items {
                s.records += 1;
                campaigns.insert(r.campaign_id.clone());
                s.first = Some(s.first.map_or(r.timestamp, |f| f.min(r.timestamp)));
                s.last = Some(s.last.map_or(r.timestamp, |l| l.max(r.timestamp)));
                s.spend += r.metrics.spend;
                s.conversions += r.metrics.conversions;
                s.revenue += r.metrics.revenue;
            }
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        if s.records > 0 {
            s.campaigns = campaigns.len();
            s.spend = (s.spend * 100.0).round() / 100.0;
            s.conversions = (s.conversions * 100.0).round() / 100.0;
            s.revenue = (s.revenue * 100.0).round() / 100.0;
            stored_by_platform.insert(platform.to_string(), s);
        }
    }

    let (mut experiment_records, mut experiment_pages) = (0, 0);
    let mut page = PageRequest::first(50);
    loop {
        let got =
            experiment_causal_data(stores.experiments.as_ref(), stores.records.as_ref(), user, &experiment.id, &page)
                .await?;
        experiment_records += got.records.len();
        experiment_pages += 1;
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }

    let record_read_back = match ingest.record_ids.first() {
        Some(id) => stores.records.get_record(&user.org_id, id).await?.is_some(),
        None => false,
    };
    let (budget_recommendation, proposed_next_test) = surface(stores, user).await?;
    let analysis = analyse(stores, user, now).await?;
    tracing::info!(summary = %analysis.summary, report = %analysis.report_key, "analysis");

    let mut ingest = ingest;
    // The summary shows counts; the ids are in the store.
    ingest.record_ids.clear();
    Ok(PipelineSummary {
        org_id: user.org_id.to_string(),
        experiment_id: experiment.id,
        experiment_outcome,
        ingest,
        stored_by_platform,
        experiment_records,
        experiment_pages,
        record_read_back,
        budget_recommendation,
        proposed_next_test,
        analysis,
    })
}

/// Fit the platforms' revenue response to the stored history, re-allocate today's budget, and
/// propose the test that would settle the least certain channel.
async fn surface(stores: &Stores, user: &UserContext) -> Result<(BudgetRecommendation, ProposedTest), ServiceError> {
    use super::surfacing::{history_from_records, optimize_history, OutcomeMetric, PlanRequest};
    use crate::surfacing::budget::Objective;
    use crate::surfacing::power::{self, Metric, PowerQuery, PowerSettings};
    let history =
        history_from_records(stores.records.as_ref(), user, None, &DateRange::all(), OutcomeMetric::Revenue).await?;
    let budget: f64 = history
        .channels
        .iter()
        .map(|c| {
            let k = 7.min(c.spend.len()).max(1);
            c.spend[c.spend.len() - k..].iter().sum::<f64>() / k as f64
        })
        .sum();
    let req = PlanRequest {
        objective: Objective::MaxOutcome,
        budget: Some(budget),
        channels: vec![],
        value_per_outcome: Some(1.0),
        max_change: Some(0.3),
        target_roas: None,
        target_cpa: None,
        periods: Some(1.0),
        seed: None,
    };
    let out = optimize_history(&history, &[], &req)?;
    // The test: the first channel the recommendations say to test (else the least certain),
    // sized to detect the break-even lift of +30% spend: the revenue that would pay for it.
    let channel = out
        .recommendations
        .iter()
        .find(|r| r.action == crate::surfacing::recommend::Action::RunTest)
        .map(|r| r.channel.clone())
        .or_else(|| {
            out.model
                .curves
                .iter()
                .max_by(|a, b| (a.beta_se / a.beta.max(1e-9)).total_cmp(&(b.beta_se / b.beta.max(1e-9))))
                .map(|c| c.channel.clone())
        })
        .ok_or_else(|| crate::domain::ValidationError::new("records", "no channels to learn from"))?;
    let curve = out.model.curves.iter().find(|c| c.channel == channel).cloned();
    let current = out.plan.allocations.iter().find(|a| a.channel == channel).map_or(0.0, |a| a.current);
    let break_even = (0.3 * current).max(1e-6);
    let settings = PowerSettings {
        metric: Metric::Mean { sd: out.model.residual_sd.max(1e-6) },
        alpha: 0.05,
        alternative: power::Alternative::TwoSided,
        ratio: 1.0,
        cluster: None,
        cuped_correlation: None,
    };
    let p = power::solve(&settings, &PowerQuery { n_control: None, effect: Some(break_even), power: Some(0.8) })
        .map_err(|e| crate::domain::ValidationError::new(e.field, e.message))?;
    let predicted = curve.as_ref().map_or(0.0, |c| c.response(current * 1.3) - c.response(current));
    let test = ProposedTest {
        channel: channel.clone(),
        design: format!("+30% spend on {channel} on alternating days (switchback), revenue per day as the outcome"),
        break_even_daily_lift: break_even,
        predicted_daily_lift: predicted,
        days_per_arm: p.n_control_ceil,
        power: p.power,
        why: format!(
            "the evidence on {channel} is too uncertain to act on; +30% spend ({:.0} a day) pays for itself if revenue rises by at least that much, which {} days per arm detect with 80% power against day-to-day noise of {:.0}",
            break_even, p.n_control_ceil, out.model.residual_sd
        ),
    };
    let rec = BudgetRecommendation {
        daily_budget: budget,
        expected_daily_revenue_gain: out.plan.gain,
        expected_daily_revenue_gain_ci: out.plan.gain_ci,
        binding: out.plan.binding.clone(),
        allocations: out.plan.allocations.clone(),
        recommendations: out.recommendations.clone(),
    };
    Ok((rec, test))
}
