//! `CausalMarketingData`: one campaign's metrics at one point in time, with what the
//! causal pipeline knows about it (treatment, confounders, external factors, graph, quality).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use super::error::{ValidationError, Validator};
use super::ids::{check_id, OrgId};
use super::platform::Platform;

/// Marketing metrics. Counts are whole numbers; money is in the account currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub spend: f64,
    pub impressions: u64,
    pub clicks: u64,
    /// Fractional where the platform attributes fractions.
    pub conversions: f64,
    pub revenue: f64,
    /// Any other numeric metrics (`video_views`, `reach`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        v.non_negative("spend", self.spend);
        v.non_negative("conversions", self.conversions);
        v.non_negative("revenue", self.revenue);
        v.check(self.clicks <= self.impressions || self.impressions == 0, "clicks", "must not exceed impressions");
        for (name, value) in &self.extra {
            v.check(!name.trim().is_empty(), "extra", "metric names must not be empty");
            v.finite(&format!("extra.{name}"), *value);
        }
        v.finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TreatmentGroup {
    Treated,
    Control,
}

/// Which intervention a record is exposed to, in which arm, since when, and how much.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreatmentAssignment {
    /// What was done: `budget_increase`, `creative_change`, `launch`, ...
    pub intervention: String,
    pub group: TreatmentGroup,
    /// When the intervention started (UTC).
    pub assigned_at: DateTime<Utc>,
    /// How much: e.g. the relative budget change (0.25 = +25%). Absent for on/off treatments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intensity: Option<f64>,
    /// The experiment this assignment belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
}

impl TreatmentAssignment {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        v.non_empty("intervention", &self.intervention);
        if let Some(i) = self.intensity {
            v.finite("intensity", i);
        }
        if let Some(id) = &self.experiment_id {
            v.nested("", check_id("experiment_id", id));
        }
        v.finish()
    }
}

/// A variable that may drive both treatment and outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Confounder {
    pub name: String,
    pub value: f64,
    /// How it was found: `calendar`, `changepoint`, `platform_rule`, `user_supplied`, ...
    pub detection_method: String,
    /// 0 to 1.
    pub confidence: f64,
}

/// An outside series observed alongside the record (weather, price index, competitor activity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalFactor {
    pub name: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CausalEdge {
    pub from: String,
    pub to: String,
    /// false for an undirected edge of a CPDAG.
    #[serde(default = "yes")]
    pub directed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

fn yes() -> bool {
    true
}

/// A causal graph over named variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CausalGraph {
    pub nodes: Vec<String>,
    pub edges: Vec<CausalEdge>,
}

impl CausalGraph {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            v.non_empty(&format!("nodes[{i}]"), n);
            v.check(seen.insert(n.as_str()), format!("nodes[{i}]"), format!("duplicate node {n:?}"));
        }
        for (i, e) in self.edges.iter().enumerate() {
            v.check(seen.contains(e.from.as_str()), format!("edges[{i}].from"), format!("unknown node {:?}", e.from));
            v.check(seen.contains(e.to.as_str()), format!("edges[{i}].to"), format!("unknown node {:?}", e.to));
            v.check(e.from != e.to, format!("edges[{i}]"), "self-loops are not allowed");
            if let Some(w) = e.weight {
                v.finite(&format!("edges[{i}].weight"), w);
            }
        }
        v.finish()
    }
}

/// The largest record stored (its JSON), well inside DynamoDB's 400 KB item limit.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The longest campaign name kept (the platforms allow 256 to 512 characters).
pub const MAX_CAMPAIGN_NAME_CHARS: usize = 512;

/// One record of causal marketing data, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CausalMarketingData {
    /// Derived from (org, platform, campaign, timestamp): the same observation always has the same id,
    /// so a retried write can never create a second copy.
    pub id: String,
    pub org_id: OrgId,
    pub platform: Platform,
    pub campaign_id: String,
    /// The campaign's name as the platform or the export wrote it (what marketers call it; the
    /// knowledge engine's full-text search finds campaigns by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_name: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub metrics: Metrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treatment_assignment: Option<TreatmentAssignment>,
    #[serde(default)]
    pub confounders: Vec<Confounder>,
    #[serde(default)]
    pub external_factors: Vec<ExternalFactor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causal_graph: Option<CausalGraph>,
    /// 0 to 1.
    pub quality_score: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A record as a caller submits it: no org (that comes from the caller's verified token),
/// no id (derived), no server timestamps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCausalRecord {
    pub platform: Platform,
    pub campaign_id: String,
    /// The campaign's name as the platform or the export wrote it (what marketers call it; the
    /// knowledge engine's full-text search finds campaigns by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_name: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub metrics: Metrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treatment_assignment: Option<TreatmentAssignment>,
    #[serde(default)]
    pub confounders: Vec<Confounder>,
    #[serde(default)]
    pub external_factors: Vec<ExternalFactor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causal_graph: Option<CausalGraph>,
    #[serde(default = "full_quality")]
    pub quality_score: f64,
}

fn full_quality() -> f64 {
    1.0
}

/// The record id for an observation: 32 hex chars of SHA-256 over its natural key.
pub fn record_id(org: &OrgId, platform: Platform, campaign_id: &str, timestamp: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    for part in
        [org.as_str(), platform.as_str(), campaign_id, &timestamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)]
    {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl NewCausalRecord {
    /// Check the submitted values and build the stored record for `org`.
    pub fn into_record(self, org: &OrgId, now: DateTime<Utc>) -> Result<CausalMarketingData, ValidationError> {
        // Stored timestamps have microsecond precision; keep the value identical to what is stored.
        let now = chrono::SubsecRound::trunc_subsecs(now, 6);
        let record = CausalMarketingData {
            id: record_id(org, self.platform, &self.campaign_id, self.timestamp),
            org_id: org.clone(),
            platform: self.platform,
            campaign_id: self.campaign_id,
            campaign_name: self.campaign_name,
            timestamp: self.timestamp,
            metrics: self.metrics,
            treatment_assignment: self.treatment_assignment,
            confounders: self.confounders,
            external_factors: self.external_factors,
            causal_graph: self.causal_graph,
            quality_score: self.quality_score,
            created_at: now,
            updated_at: now,
        };
        record.validate()?;
        Ok(record)
    }
}

impl CausalMarketingData {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        v.nested("", check_id("campaign_id", &self.campaign_id));
        if let Some(n) = &self.campaign_name {
            v.check(
                !n.trim().is_empty()
                    && n.chars().count() <= MAX_CAMPAIGN_NAME_CHARS
                    && !n.chars().any(char::is_control),
                "campaign_name",
                format!("must be 1 to {MAX_CAMPAIGN_NAME_CHARS} characters, without control characters"),
            );
        }
        if v_ok_id(&self.campaign_id) {
            let expected = record_id(&self.org_id, self.platform, &self.campaign_id, self.timestamp);
            v.check(self.id == expected, "id", "does not match the record's org, platform, campaign_id and timestamp");
        }
        let ts = self.timestamp.date_naive();
        v.check(
            ts >= super::date_range::earliest() && ts <= super::date_range::latest(),
            "timestamp",
            "must be between 1970-01-01 and 9999-12-31",
        );
        v.nested("metrics", self.metrics.validate());
        if let Some(t) = &self.treatment_assignment {
            v.nested("treatment_assignment", t.validate());
        }
        for (i, c) in self.confounders.iter().enumerate() {
            let f = format!("confounders[{i}]");
            v.non_empty(&format!("{f}.name"), &c.name);
            v.finite(&format!("{f}.value"), c.value);
            v.non_empty(&format!("{f}.detection_method"), &c.detection_method);
            v.unit_interval(&format!("{f}.confidence"), c.confidence);
        }
        for (i, e) in self.external_factors.iter().enumerate() {
            v.non_empty(&format!("external_factors[{i}].name"), &e.name);
            v.finite(&format!("external_factors[{i}].value"), e.value);
        }
        if let Some(g) = &self.causal_graph {
            v.nested("causal_graph", g.validate());
        }
        v.unit_interval("quality_score", self.quality_score);
        v.check(self.updated_at >= self.created_at, "updated_at", "must not be before created_at");
        // A stored item must fit DynamoDB's 400 KB with room to spare: a record is a few
        // hundred bytes; one this large is a mistake, refused before anything is written.
        let bytes = serde_json::to_vec(self).map(|b| b.len()).unwrap_or(usize::MAX);
        v.check(
            bytes <= MAX_RECORD_BYTES,
            "record",
            format!("is {bytes} bytes as JSON; at most {MAX_RECORD_BYTES} (fewer extra metrics, confounders or graph edges)"),
        );
        v.finish()
    }

    /// The experiment this record belongs to, if its treatment assignment names one.
    pub fn experiment_id(&self) -> Option<&str> {
        self.treatment_assignment.as_ref().and_then(|t| t.experiment_id.as_deref())
    }

    /// A fingerprint of the observation's content (everything but the server timestamps):
    /// two deliveries of the same data have the same hash.
    pub fn content_hash(&self) -> String {
        let mut copy = self.clone();
        copy.created_at = DateTime::<Utc>::UNIX_EPOCH;
        copy.updated_at = DateTime::<Utc>::UNIX_EPOCH;
        let bytes = serde_json::to_vec(&copy).unwrap_or_default();
        let digest = Sha256::digest(&bytes);
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn v_ok_id(id: &str) -> bool {
    check_id("campaign_id", id).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error::from_json_str;

    fn sample() -> NewCausalRecord {
        from_json_str(
            r#"{"platform":"meta","campaign_id":"cmp-1","timestamp":"2026-10-01T00:00:00Z",
                "metrics":{"spend":120.5,"impressions":10000,"clicks":230,"conversions":12.5,"revenue":640.0},
                "treatment_assignment":{"intervention":"budget_increase","group":"treated",
                    "assigned_at":"2026-09-28T00:00:00Z","intensity":0.25,"experiment_id":"exp-1"},
                "confounders":[{"name":"black_friday","value":1,"detection_method":"calendar","confidence":0.9}],
                "quality_score":0.97}"#,
        )
        .unwrap()
    }

    fn org() -> OrgId {
        OrgId::new("acme").unwrap()
    }

    #[test]
    fn valid_record_builds_with_stable_id() {
        let now = Utc::now();
        let a = sample().into_record(&org(), now).unwrap();
        let b = sample().into_record(&org(), now + chrono::Duration::seconds(5)).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.id.len(), 32);
        assert_eq!(a.content_hash(), b.content_hash());
        assert_eq!(a.experiment_id(), Some("exp-1"));
        let other = sample().into_record(&OrgId::new("other").unwrap(), now).unwrap();
        assert_ne!(a.id, other.id, "the org is part of the identity");
    }

    #[test]
    fn invalid_values_name_their_field() {
        type Mutation = Box<dyn Fn(&mut NewCausalRecord)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|r| r.metrics.spend = -1.0), "metrics.spend"),
            (Box::new(|r| r.timestamp = "1969-12-31T00:00:00Z".parse().unwrap()), "timestamp"),
            (Box::new(|r| r.metrics.revenue = f64::NAN), "metrics.revenue"),
            (Box::new(|r| r.metrics.conversions = f64::INFINITY), "metrics.conversions"),
            (Box::new(|r| r.quality_score = 1.5), "quality_score"),
            (Box::new(|r| r.quality_score = f64::NAN), "quality_score"),
            (Box::new(|r| r.campaign_id = String::new()), "campaign_id"),
            (Box::new(|r| r.confounders[0].confidence = -0.1), "confounders[0].confidence"),
            (Box::new(|r| r.metrics.clicks = r.metrics.impressions + 1), "metrics.clicks"),
            (
                Box::new(|r| {
                    if let Some(t) = r.treatment_assignment.as_mut() {
                        t.experiment_id = Some(String::new())
                    }
                }),
                "treatment_assignment.experiment_id",
            ),
            (
                Box::new(|r| {
                    r.causal_graph = Some(CausalGraph {
                        nodes: vec!["spend".into()],
                        edges: vec![CausalEdge {
                            from: "spend".into(),
                            to: "sales".into(),
                            directed: true,
                            weight: None,
                        }],
                    })
                }),
                "causal_graph.edges[0].to",
            ),
        ];
        for (mutate, field) in cases {
            let mut r = sample();
            mutate(&mut r);
            let err = r.into_record(&org(), Utc::now()).unwrap_err();
            assert_eq!(err.field(), field, "{err}");
        }
    }

    #[test]
    fn unknown_platform_and_org_in_body_are_rejected_by_name() {
        let err = from_json_str::<NewCausalRecord>(
            r#"{"platform":"myspace","campaign_id":"c","timestamp":"2026-10-01T00:00:00Z",
                "metrics":{"spend":1,"impressions":1,"clicks":0,"conversions":0,"revenue":0}}"#,
        )
        .unwrap_err();
        assert_eq!(err.field(), "platform");
        let err = from_json_str::<NewCausalRecord>(
            r#"{"org_id":"evil","platform":"meta","campaign_id":"c","timestamp":"2026-10-01T00:00:00Z",
                "metrics":{"spend":1,"impressions":1,"clicks":0,"conversions":0,"revenue":0}}"#,
        )
        .unwrap_err();
        assert!(err.summary().contains("org_id"), "{err}");
    }

    #[test]
    fn stored_records_round_trip_through_json() {
        let r = sample().into_record(&org(), Utc::now()).unwrap();
        let text = serde_json::to_string(&r).unwrap();
        let back: CausalMarketingData = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        back.validate().unwrap();
    }
}
