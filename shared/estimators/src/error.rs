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
    /// The field and the message each [`clip`]ped: a value echoed from a huge input stays short.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: clip(field.into()), message: clip(message.into()) }
    }
}

/// The most characters of an error's field path or message. An error can quote what it refuses
/// (serde quotes a string where a list belongs); a body of megabytes quoted whole, and escaped
/// again, made an answer larger than a Lambda may return (6 MB), which API Gateway turns into a
/// 5xx, and a failed job larger than a DynamoDB item (400 KB).
pub const MAX_ERROR_TEXT: usize = 1000;

/// `text` cut to [`MAX_ERROR_TEXT`] characters, saying how long it was.
pub fn clip(text: String) -> String {
    clip_to(text, MAX_ERROR_TEXT)
}

/// `text` cut to `max` characters, saying how long it was.
pub fn clip_to(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.chars().count();
    if total <= max {
        return text;
    }
    let mut out: String = text.chars().take(max).collect();
    out.push_str(&format!("... ({total} characters in all)"));
    out
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

    #[test]
    fn a_huge_field_or_message_is_cut_saying_how_long_it_was() {
        let quoted = format!("invalid type: string \"{}\", expected a sequence", "é".repeat(3_000_000));
        let e = FieldError::new(format!("rows[0].{}", "k".repeat(5000)), quoted);
        assert_eq!(e.message.chars().count(), MAX_ERROR_TEXT + "... (3000044 characters in all)".len());
        assert!(e.message.starts_with("invalid type: string \"éé"), "{}", &e.message[..40]);
        assert!(e.message.ends_with("... (3000044 characters in all)"));
        assert!(e.field.starts_with("rows[0].kkk") && e.field.ends_with("... (5008 characters in all)"));
        // at the limit, nothing is cut
        let exact = "é".repeat(MAX_ERROR_TEXT);
        assert_eq!(FieldError::new("f", exact.clone()).message, exact);
    }
}
