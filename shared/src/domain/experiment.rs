//! `CausalExperiment`: a designed intervention with treatment and control groups.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ValidationError, Validator};
use super::ids::{check_id, OrgId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentStatus {
    Draft,
    Running,
    Completed,
    Cancelled,
}

impl ExperimentStatus {
    /// Allowed transitions: draft -> running | cancelled; running -> completed | cancelled.
    /// Completed and cancelled are final.
    pub fn can_become(self, next: ExperimentStatus) -> bool {
        use ExperimentStatus::*;
        matches!((self, next), (Draft, Running) | (Draft, Cancelled) | (Running, Completed) | (Running, Cancelled))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentStatus::Draft => "draft",
            ExperimentStatus::Running => "running",
            ExperimentStatus::Completed => "completed",
            ExperimentStatus::Cancelled => "cancelled",
        }
    }
}

/// What is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RandomizationUnit {
    Campaign,
    AdSet,
    Ad,
    Geo,
    User,
    Time,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CausalExperiment {
    pub id: String,
    pub org_id: OrgId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Units (campaigns, geos, ...) that receive the intervention.
    pub treatment_groups: Vec<String>,
    /// Units that do not.
    pub control_groups: Vec<String>,
    pub randomization_unit: RandomizationUnit,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: ExperimentStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// At most this many units in each arm of an experiment (the stored item stays well inside
/// DynamoDB's 400 KB).
pub const MAX_GROUP_UNITS: usize = 1000;

/// An experiment as a caller submits it: the org comes from the token, timestamps from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExperiment {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub treatment_groups: Vec<String>,
    pub control_groups: Vec<String>,
    pub randomization_unit: RandomizationUnit,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default = "draft")]
    pub status: ExperimentStatus,
}

fn draft() -> ExperimentStatus {
    ExperimentStatus::Draft
}

impl NewExperiment {
    pub fn into_experiment(self, org: &OrgId, now: DateTime<Utc>) -> Result<CausalExperiment, ValidationError> {
        // An experiment begins as a draft or running; completing or cancelling it is a status
        // change (PATCH .../status), which checks the transition and is audited as one.
        if !matches!(self.status, ExperimentStatus::Draft | ExperimentStatus::Running) {
            return Err(ValidationError::new(
                "status",
                "a new experiment is draft or running; complete or cancel it with PATCH .../status",
            ));
        }
        // Stored timestamps have microsecond precision; keep the value identical to what is stored.
        let now = chrono::SubsecRound::trunc_subsecs(now, 6);
        let e = CausalExperiment {
            id: self.id,
            org_id: org.clone(),
            name: self.name,
            description: self.description,
            treatment_groups: self.treatment_groups,
            control_groups: self.control_groups,
            randomization_unit: self.randomization_unit,
            start: self.start,
            end: self.end,
            status: self.status,
            created_at: now,
            updated_at: now,
        };
        e.validate()?;
        Ok(e)
    }
}

impl CausalExperiment {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        v.nested("", check_id("id", &self.id));
        v.non_empty("name", &self.name);
        v.check(self.name.len() <= 256, "name", "must be at most 256 bytes");
        v.check(self.description.as_ref().is_none_or(|d| d.len() <= 4096), "description", "must be at most 4096 bytes");
        v.check(!self.treatment_groups.is_empty(), "treatment_groups", "needs at least one unit");
        v.check(!self.control_groups.is_empty(), "control_groups", "needs at least one unit");
        for (field, groups) in [("treatment_groups", &self.treatment_groups), ("control_groups", &self.control_groups)]
        {
            v.check(groups.len() <= MAX_GROUP_UNITS, field, format!("at most {MAX_GROUP_UNITS} units"));
            v.check(groups.iter().all(|g| g.len() <= 128), field, "each unit is at most 128 bytes");
        }
        let controls: std::collections::BTreeSet<&String> = self.control_groups.iter().collect();
        for (i, g) in self.treatment_groups.iter().enumerate() {
            v.non_empty(&format!("treatment_groups[{i}]"), g);
            if controls.contains(g) {
                v.push(format!("treatment_groups[{i}]"), format!("{g:?} is also in control_groups"));
            }
        }
        for (i, g) in self.control_groups.iter().enumerate() {
            v.non_empty(&format!("control_groups[{i}]"), g);
        }
        v.check(self.end >= self.start, "end", "must not be before start");
        v.check(self.updated_at >= self.created_at, "updated_at", "must not be before created_at");
        v.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExperimentStatus::*;

    #[test]
    fn transitions() {
        assert!(Draft.can_become(Running));
        assert!(Running.can_become(Completed));
        assert!(!Completed.can_become(Running));
        assert!(!Cancelled.can_become(Draft));
        assert!(!Draft.can_become(Completed));
    }

    #[test]
    fn validation_names_fields() {
        let now = Utc::now();
        let mut e = CausalExperiment {
            id: "exp-1".into(),
            org_id: OrgId::new("acme").unwrap(),
            name: "Budget +25% on Meta".into(),
            description: None,
            treatment_groups: vec!["cmp-1".into()],
            control_groups: vec!["cmp-2".into()],
            randomization_unit: RandomizationUnit::Campaign,
            start: now,
            end: now + chrono::Duration::days(14),
            status: Draft,
            created_at: now,
            updated_at: now,
        };
        e.validate().unwrap();
        e.control_groups.push("cmp-1".into());
        assert_eq!(e.validate().unwrap_err().field(), "treatment_groups[0]");
        e.control_groups.pop();
        e.end = now - chrono::Duration::days(1);
        assert_eq!(e.validate().unwrap_err().field(), "end");
    }
}
