//! The causal service's synchronous endpoints on inline rows: causal discovery and treatment
//! effects under measured confounding. Column roles and result keys are those of
//! `liftos estimate` / `liftos discover`.

use serde::Deserialize;

use super::estimate::{self, DiscoverRequest, EffectRequest, EstimateError};
use super::{require, ServiceError};
use crate::domain::{permissions, UserContext, ValidationError};
use crate::estimators::data::{Column, Table};

/// Inline rows are for small data (the body is capped at 5 MiB as well).
pub const MAX_INLINE_ROWS: usize = 100_000;

type Row = serde_json::Map<String, serde_json::Value>;

/// Rows of JSON objects to a table: a column whose values are all numbers (or null, a missing
/// value) is numeric; otherwise it is text.
pub fn table_from_rows(rows: &[Row]) -> Result<Table, ValidationError> {
    if rows.is_empty() {
        return Err(ValidationError::new("rows", "must contain at least one row"));
    }
    if rows.len() > MAX_INLINE_ROWS {
        return Err(ValidationError::new("rows", format!("has {} rows; at most {MAX_INLINE_ROWS} inline", rows.len())));
    }
    let names: Vec<String> = rows[0].keys().cloned().collect();
    for (i, r) in rows.iter().enumerate() {
        if r.len() != names.len() || !names.iter().all(|n| r.contains_key(n)) {
            return Err(ValidationError::new(format!("rows[{i}]"), "must have the same keys as rows[0]"));
        }
    }
    let mut cols = Vec::with_capacity(names.len());
    for n in &names {
        let vals: Vec<&serde_json::Value> = rows.iter().map(|r| &r[n]).collect();
        let numeric = vals.iter().all(|v| v.is_number() || v.is_null());
        let col = if numeric {
            Column::Num(vals.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
        } else {
            for (i, v) in vals.iter().enumerate() {
                if v.is_object() || v.is_array() {
                    return Err(ValidationError::new(format!("rows[{i}].{n}"), "must be a number, a string or null"));
                }
            }
            Column::Text(vals.iter().map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).collect())
        };
        cols.push((n.as_str(), col));
    }
    Ok(Table::from_columns(cols))
}

fn field_error(e: EstimateError) -> ServiceError {
    let field = e.field().to_string();
    let message = e.to_string();
    // The estimators' messages name their column first; the error format adds the field itself.
    let message = message.strip_prefix(&format!("{field}: ")).map(String::from).unwrap_or(message);
    ValidationError::new(field, message).into()
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ServiceError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ValidationError::new("body", format!("is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ValidationError::new("body", "must be a JSON object").into());
    }
    Ok(crate::domain::error::from_json_value(value)?)
}

#[derive(Debug, Deserialize)]
struct DiscoverBody {
    rows: Vec<Row>,
    #[serde(flatten)]
    request: DiscoverRequest,
}

#[derive(Debug, Deserialize)]
struct EffectBody {
    rows: Vec<Row>,
    #[serde(flatten)]
    request: EffectRequest,
}

/// `POST /api/v1/causal/discover`: PC (CPDAG) or DirectLiNGAM on the rows' numeric columns (or
/// `columns`), with background knowledge (tiers, forbidden and required edges).
pub fn discover(user: &UserContext, body: &[u8]) -> Result<serde_json::Value, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let b: DiscoverBody = parse(body)?;
    let table = table_from_rows(&b.rows)?;
    estimate::discover(&table, &b.request).map_err(field_error)
}

/// `POST /api/v1/causal/treatment-effect`: regression adjustment, IPW or AIPW (ATE or ATT) with
/// overlap diagnostics, the E-value and, with `refute`, the refutations.
pub fn treatment_effect(user: &UserContext, body: &[u8]) -> Result<serde_json::Value, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let b: EffectBody = parse(body)?;
    let table = table_from_rows(&b.rows)?;
    estimate::effect(&table, &b.request).map_err(field_error)
}
