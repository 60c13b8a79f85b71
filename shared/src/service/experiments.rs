//! Experiments: create, read, list, change status; and an experiment with its causal data.

use chrono::{DateTime, Utc};

use super::{require, ServiceError};
pub use crate::api::memory::{CreatedExperiment, ExperimentCausalData, StatusChange};
use crate::domain::error::from_json_value;
use crate::domain::{
    check_id, permissions, CausalExperiment, ExperimentStatus, NewExperiment, UserContext, ValidationError,
};
use crate::storage::{ExperimentStore, Page, PageRequest, PutOutcome, RecordQuery, RecordStore, StoreError};

/// `GET /api/v1/marketing/causal/{experiment_id}`: the experiment and its records, paginated.
pub async fn experiment_causal_data(
    experiments: &dyn ExperimentStore,
    records: &dyn RecordStore,
    user: &UserContext,
    experiment_id: &str,
    page: &PageRequest,
) -> Result<ExperimentCausalData, ServiceError> {
    require(user, permissions::DATA_READ)?;
    let experiment = get_experiment(experiments, user, experiment_id).await?;
    let page = records
        .query_records(&user.org_id, &RecordQuery::Experiment { experiment_id: experiment_id.to_string() }, page)
        .await?;
    Ok(ExperimentCausalData { experiment, records: page.items, next_cursor: page.next_cursor })
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ValidationError> {
    let value = super::json_object(body)?;
    for forbidden in ["org_id", "created_at", "updated_at"] {
        if value.get(forbidden).is_some() {
            return Err(ValidationError::new(
                forbidden,
                if forbidden == "org_id" {
                    "must not be set: the org comes from your token"
                } else {
                    "must not be set: it is set by the server"
                },
            ));
        }
    }
    from_json_value(value)
}

/// `POST /api/v1/marketing/experiments`. Idempotent: the same body again is 200 with
/// `created: false`; a different experiment under the same id is a 409.
pub async fn create_experiment(
    store: &dyn ExperimentStore,
    user: &UserContext,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<CreatedExperiment, ServiceError> {
    require(user, permissions::EXPERIMENTS_MANAGE)?;
    let new: NewExperiment = parse_body(body)?;
    let experiment = new.into_experiment(&user.org_id, now)?;
    match store.create_experiment(&experiment).await {
        Ok(PutOutcome::Unchanged) => {
            let stored = store.get_experiment(&user.org_id, &experiment.id).await?.unwrap_or(experiment);
            Ok(CreatedExperiment { created: false, experiment: stored })
        }
        Ok(_) => Ok(CreatedExperiment { created: true, experiment }),
        Err(StoreError::Conflict { .. }) => {
            Err(ServiceError::Conflict(format!("experiment {} already exists with different content", experiment.id)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/v1/marketing/experiments/{experiment_id}`. Another org's experiment is a 404, the
/// same as one that does not exist.
pub async fn get_experiment(
    store: &dyn ExperimentStore,
    user: &UserContext,
    experiment_id: &str,
) -> Result<CausalExperiment, ServiceError> {
    require(user, permissions::DATA_READ)?;
    load(store, user, experiment_id).await
}

/// The caller's experiment (the caller's permission is checked by the use case).
async fn load(
    store: &dyn ExperimentStore,
    user: &UserContext,
    experiment_id: &str,
) -> Result<CausalExperiment, ServiceError> {
    check_id("experiment_id", experiment_id)?;
    store
        .get_experiment(&user.org_id, experiment_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: format!("experiment {experiment_id}") })
}

/// `GET /api/v1/marketing/experiments`: newest first, optionally one status.
pub async fn list_experiments(
    store: &dyn ExperimentStore,
    user: &UserContext,
    status: Option<ExperimentStatus>,
    page: &PageRequest,
) -> Result<Page<CausalExperiment>, ServiceError> {
    require(user, permissions::DATA_READ)?;
    let mut out = store.list_experiments(&user.org_id, page).await?;
    if let Some(st) = status {
        out.items.retain(|e| e.status == st);
    }
    Ok(out)
}

/// `PATCH /api/v1/marketing/experiments/{experiment_id}/status`: only draft -> running |
/// cancelled and running -> completed | cancelled. Asking for the current status again (a retry)
/// changes nothing.
pub async fn update_status(
    store: &dyn ExperimentStore,
    user: &UserContext,
    experiment_id: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<CausalExperiment, ServiceError> {
    require(user, permissions::EXPERIMENTS_MANAGE)?;
    let change: StatusChange = parse_body(body)?;
    let current = load(store, user, experiment_id).await?;
    if let Some(expected) = change.expected_updated_at {
        if expected != current.updated_at {
            return Err(ServiceError::Conflict(format!(
                "experiment {experiment_id} changed at {} (expected {expected})",
                current.updated_at
            )));
        }
    }
    if current.status == change.status {
        return Ok(current);
    }
    if !current.status.can_become(change.status) {
        return Err(ValidationError::new(
            "status",
            format!("cannot go from {} to {}", current.status.as_str(), change.status.as_str()),
        )
        .into());
    }
    let mut next = current.clone();
    next.status = change.status;
    next.updated_at = chrono::SubsecRound::trunc_subsecs(now, 6).max(current.updated_at);
    match store.update_experiment(&next, current.updated_at).await {
        Ok(()) => Ok(next),
        Err(StoreError::Conflict { .. }) => {
            Err(ServiceError::Conflict(format!("experiment {experiment_id} was changed concurrently; retry")))
        }
        Err(e) => Err(e.into()),
    }
}
