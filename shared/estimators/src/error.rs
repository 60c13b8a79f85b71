//! The one error of a bad input that names its field, shared by the estimators that check their
//! settings field by field (power, randomisation, geo design, the media mix model, the budget)
//! and by the platform's validation (`liftos::domain::FieldError` is this type).

use serde::{Deserialize, Serialize};

/// One problem with one field. `field` is a path such as `records[3].metrics.spend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// [`FieldError::new`] for the estimators' checks: `invalid("budget", "must be positive")`.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_field_then_the_message() {
        let e = invalid("alpha", "must be in (0, 1)");
        assert_eq!(e.to_string(), "alpha: must be in (0, 1)");
        assert_eq!(e, FieldError::new("alpha".to_string(), "must be in (0, 1)"));
    }
}
