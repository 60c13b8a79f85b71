//! `GET /api/v1/marketing/causal/{experiment_id}`: an experiment and its causal data, paginated.

use serde::{Deserialize, Serialize};

use super::{require, ServiceError};
use crate::domain::{check_id, permissions, CausalExperiment, CausalMarketingData, UserContext};
use crate::storage::{ExperimentStore, PageRequest, RecordQuery, RecordStore};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentCausalData {
    pub experiment: CausalExperiment,
    pub records: Vec<CausalMarketingData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub async fn experiment_causal_data(
    experiments: &dyn ExperimentStore,
    records: &dyn RecordStore,
    user: &UserContext,
    experiment_id: &str,
    page: &PageRequest,
) -> Result<ExperimentCausalData, ServiceError> {
    require(user, permissions::DATA_READ)?;
    check_id("experiment_id", experiment_id)?;
    let experiment = experiments
        .get_experiment(&user.org_id, experiment_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: format!("experiment {experiment_id}") })?;
    let page = records
        .query_records(&user.org_id, &RecordQuery::Experiment { experiment_id: experiment_id.to_string() }, page)
        .await?;
    Ok(ExperimentCausalData { experiment, records: page.items, next_cursor: page.next_cursor })
}
