use chrono::{DateTime, Duration, Utc};
use liftos::domain::{
    CausalExperiment, CausalMarketingData, ConfounderVariable, ExperimentStatus, Metrics, NewCausalRecord, OrgId,
    Platform, RandomizationUnit, TemporalPattern, TreatmentAssignment, TreatmentGroup, VariableType,
};

/// A fresh org per test, so tests sharing a store never see each other's data.
pub fn org(tag: &str) -> OrgId {
    OrgId::new(format!("{tag}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])).expect("valid org")
}

pub fn day(n: i64) -> DateTime<Utc> {
    "2026-09-01T00:00:00Z".parse::<DateTime<Utc>>().expect("date") + Duration::days(n)
}

pub fn new_record(
    platform: Platform,
    campaign: &str,
    day_n: i64,
    spend: f64,
    experiment: Option<&str>,
) -> NewCausalRecord {
    NewCausalRecord {
        platform,
        campaign_id: campaign.to_string(),
        campaign_name: None,
        timestamp: day(day_n),
        metrics: Metrics {
            spend,
            impressions: 1000,
            clicks: 20,
            conversions: spend / 50.0,
            revenue: spend * 2.5,
            extra: Default::default(),
        },
        treatment_assignment: experiment.map(|e| TreatmentAssignment {
            intervention: "budget_increase".into(),
            group: TreatmentGroup::Treated,
            assigned_at: day(10),
            intensity: Some(0.3),
            experiment_id: Some(e.to_string()),
        }),
        confounders: vec![],
        external_factors: vec![],
        causal_graph: None,
        quality_score: 0.99,
    }
}

pub fn record(
    org: &OrgId,
    platform: Platform,
    campaign: &str,
    day_n: i64,
    spend: f64,
    experiment: Option<&str>,
    written_at: DateTime<Utc>,
) -> CausalMarketingData {
    new_record(platform, campaign, day_n, spend, experiment).into_record(org, written_at).expect("valid record")
}

pub fn experiment(org: &OrgId, id: &str, created_at: DateTime<Utc>) -> CausalExperiment {
    CausalExperiment {
        id: id.to_string(),
        org_id: org.clone(),
        name: format!("experiment {id}"),
        description: None,
        treatment_groups: vec!["cmp-a".into()],
        control_groups: vec!["cmp-b".into()],
        randomization_unit: RandomizationUnit::Campaign,
        start: day(10),
        end: day(30),
        status: ExperimentStatus::Draft,
        created_at,
        updated_at: created_at,
    }
}

pub fn confounder(org: &OrgId, platform: Platform, name: &str, last_seen: i64, occurrences: u64) -> ConfounderVariable {
    ConfounderVariable {
        org_id: org.clone(),
        platform,
        variable_name: name.to_string(),
        variable_type: VariableType::Seasonality,
        detection_method: "calendar".into(),
        confidence_score: 0.9,
        temporal_pattern: TemporalPattern::Weekly,
        occurrences,
        first_seen: day(0),
        last_seen: day(last_seen),
    }
}

/// A function's dependencies on the embedded store in `dir`, with `auth`, no queues.
pub fn embedded_deps(dir: &std::path::Path, auth: liftos::config::AuthSettings) -> liftos::runtime::Deps {
    liftos::runtime::Deps::embedded(dir, auth).expect("open")
}
