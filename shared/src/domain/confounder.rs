//! `ConfounderVariable`: a confounder the pipeline has found for an org and platform.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ValidationError, Validator};
use super::ids::OrgId;
use super::platform::Platform;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VariableType {
    Seasonality,
    Trend,
    Holiday,
    Promotion,
    External,
    PlatformSpecific,
    CrossChannel,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemporalPattern {
    None,
    Daily,
    Weekly,
    Monthly,
    Yearly,
    Event,
    Trend,
    Irregular,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfounderVariable {
    pub org_id: OrgId,
    pub platform: Platform,
    pub variable_name: String,
    pub variable_type: VariableType,
    pub detection_method: String,
    /// 0 to 1.
    pub confidence_score: f64,
    pub temporal_pattern: TemporalPattern,
    /// How many records it was found in.
    #[serde(default)]
    pub occurrences: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl ConfounderVariable {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        v.non_empty("variable_name", &self.variable_name);
        v.check(!self.variable_name.contains('#'), "variable_name", "must not contain '#'");
        v.non_empty("detection_method", &self.detection_method);
        v.unit_interval("confidence_score", self.confidence_score);
        v.check(self.last_seen >= self.first_seen, "last_seen", "must not be before first_seen");
        v.finish()
    }

    /// Combine two sightings of the same variable. Idempotent (`a.merge(&a) == a`) and order-free,
    /// so a redelivered detection changes nothing: the span widens to cover both, and the type,
    /// method, confidence, pattern and count come from the later sighting (by `last_seen`, then count).
    pub fn merge(&self, other: &ConfounderVariable) -> ConfounderVariable {
        let later =
            if (other.last_seen, other.occurrences) >= (self.last_seen, self.occurrences) { other } else { self };
        let mut out = later.clone();
        out.first_seen = self.first_seen.min(other.first_seen);
        out.last_seen = self.last_seen.max(other.last_seen);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(first: &str, last: &str, n: u64, conf: f64) -> ConfounderVariable {
        ConfounderVariable {
            org_id: OrgId::new("acme").unwrap(),
            platform: Platform::Meta,
            variable_name: "black_friday".into(),
            variable_type: VariableType::Holiday,
            detection_method: "calendar".into(),
            confidence_score: conf,
            temporal_pattern: TemporalPattern::Yearly,
            occurrences: n,
            first_seen: first.parse().unwrap(),
            last_seen: last.parse().unwrap(),
        }
    }

    #[test]
    fn merge_is_idempotent_and_order_free() {
        let a = var("2025-11-28T00:00:00Z", "2025-11-28T00:00:00Z", 3, 0.8);
        let b = var("2026-11-27T00:00:00Z", "2026-11-27T00:00:00Z", 5, 0.95);
        assert_eq!(a.merge(&a), a);
        let ab = a.merge(&b);
        assert_eq!(ab, b.merge(&a));
        assert_eq!(ab.merge(&b), ab);
        assert_eq!(ab.first_seen, a.first_seen);
        assert_eq!(ab.last_seen, b.last_seen);
        assert_eq!(ab.confidence_score, 0.95);
        assert!(a.validate().is_ok());
        assert_eq!(
            var("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", 1, 0.5).validate().unwrap_err().field(),
            "last_seen"
        );
        assert_eq!(
            var("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 1, 2.0).validate().unwrap_err().field(),
            "confidence_score"
        );
    }
}
