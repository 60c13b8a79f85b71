//! The memory service's read side: records by platform, campaign and dates; the confounder
//! analysis; and the audit log.

use std::collections::BTreeMap;

use super::{require, ServiceError};
pub use crate::api::memory::ConfounderAnalysis;
use crate::domain::{
    permissions, AuditEntry, CausalMarketingData, ConfounderVariable, DateRange, Platform, UserContext,
};
use crate::storage::{AuditStore, ConfounderStore, Page, PageRequest, RecordQuery, RecordStore};

/// `GET /api/v1/marketing/records?platform=&campaign_id=&start=&end=&limit=&cursor=`.
pub async fn query_records(
    store: &dyn RecordStore,
    user: &UserContext,
    query: &RecordQuery,
    page: &PageRequest,
) -> Result<Page<CausalMarketingData>, ServiceError> {
    require(user, permissions::DATA_READ)?;
    Ok(store.query_records(&user.org_id, query, page).await?)
}

/// `GET /api/v1/marketing/confounders?platform=&start=&end=`: the confounders whose sightings
/// overlap the range.
pub async fn confounder_analysis(
    store: &dyn ConfounderStore,
    user: &UserContext,
    platform: Option<Platform>,
    range: &DateRange,
) -> Result<ConfounderAnalysis, ServiceError> {
    require(user, permissions::DATA_READ)?;
    let mut variables: Vec<ConfounderVariable> = store
        .list_confounders(&user.org_id, platform)
        .await?
        .into_iter()
        .filter(|v| v.last_seen >= range.start_instant() && v.first_seen <= range.end_instant())
        .collect();
    variables.sort_by(|a, b| b.occurrences.cmp(&a.occurrences).then_with(|| a.variable_name.cmp(&b.variable_name)));
    let mut by_type = BTreeMap::new();
    for v in &variables {
        let t =
            serde_json::to_value(v.variable_type).ok().and_then(|t| t.as_str().map(String::from)).unwrap_or_default();
        *by_type.entry(t).or_insert(0) += 1;
    }
    let total_occurrences: u64 = variables.iter().map(|v| v.occurrences).sum();
    let mean_confidence = (!variables.is_empty()).then(|| {
        let w: f64 = variables.iter().map(|v| v.occurrences.max(1) as f64).sum();
        variables.iter().map(|v| v.confidence_score * v.occurrences.max(1) as f64).sum::<f64>() / w
    });
    Ok(ConfounderAnalysis {
        platform,
        start: range.start,
        end: range.end,
        total_variables: variables.len(),
        variables,
        total_occurrences,
        by_type,
        mean_confidence,
    })
}

/// `GET /api/v1/marketing/audit?start=&end=&limit=&cursor=`: the org's audit log, newest first.
/// Administrators only (`causal:audit:read`).
pub async fn audit_log(
    store: &dyn AuditStore,
    user: &UserContext,
    range: &DateRange,
    page: &PageRequest,
) -> Result<Page<AuditEntry>, ServiceError> {
    require(user, permissions::AUDIT_READ)?;
    Ok(store.list_audit(&user.org_id, range, page).await?)
}
