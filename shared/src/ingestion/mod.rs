//! Data ingestion: platform data to causal records. Connectors fetch and normalise each
//! platform's reports and change history ([`connectors`]); the causal transformation detects
//! interventions (from change history, else change points in spend) and confounders
//! ([`detect`]); quality assessment scores batches and records and quarantines what cannot be
//! used ([`quality`]); a simulator with known injected treatments, confounders and faults
//! measures all three ([`simulate`]).

pub mod changepoint;
pub mod connectors;

pub mod detect;
pub mod holidays;
pub mod quality;
#[cfg(feature = "demo")]
pub mod simulate;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::domain::Platform;

/// One campaign-day as a platform reports it, normalised: money in the reporting currency,
/// the day in the account's time zone (its UTC start is [`DailyRow::timestamp`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyRow {
    pub platform: Platform,
    pub campaign_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_name: Option<String>,
    pub date: NaiveDate,
    /// The start of `date` in the account's time zone, in UTC.
    pub timestamp: DateTime<Utc>,
    pub spend: f64,
    pub impressions: f64,
    pub clicks: f64,
    pub conversions: f64,
    pub revenue: f64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

/// What was changed on a campaign, as its platform's change history says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Launch,
    Pause,
    BudgetChange,
    BidStrategyChange,
    CreativeChange,
    TargetingChange,
    StatusChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub platform: Platform,
    pub campaign_id: String,
    pub at: DateTime<Utc>,
    pub kind: ChangeKind,
    /// Budgets (in the reporting currency) before and after, when the history carries them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_value: Option<f64>,
    #[serde(default)]
    pub detail: String,
}

/// A platform's report for a period: the rows, and the change history where the platform
/// exposes one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlatformBatch {
    pub rows: Vec<DailyRow>,
    #[serde(default)]
    pub changes: Vec<ChangeEvent>,
}

/// The local day a daily record stands for. Its timestamp is the start of that day in the
/// account's time zone, in UTC: within 12 hours of the day's UTC midnight for any zone from
/// UTC-12 to UTC+12, so the date 12 hours later is the local date.
pub fn local_day(timestamp: DateTime<Utc>) -> NaiveDate {
    (timestamp + chrono::Duration::hours(12)).date_naive()
}
