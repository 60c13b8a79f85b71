//! Identifiers. Tenant and entity ids are restricted to a safe alphabet so they can
//! be embedded in storage keys (`ORG#{org}#...`) without escaping or ambiguity.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::error::ValidationError;

const MAX_ID_LEN: usize = 128;

/// Check an identifier: non-empty, at most 128 chars, `[A-Za-z0-9_.:-]` only, and not only dots
/// (`.` and `..` would walk the embedded default's folders).
pub fn check_id(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(ValidationError::new(field, format!("must be at most {MAX_ID_LEN} characters")));
    }
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))) {
        return Err(ValidationError::new(
            field,
            format!("contains {c:?}; only letters, digits, '_', '-', '.' and ':' are allowed"),
        ));
    }
    if value.chars().all(|c| c == '.') {
        return Err(ValidationError::new(field, format!("{value:?} is not an id")));
    }
    Ok(())
}

/// A tenant. Every stored key begins with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct OrgId(String);

impl OrgId {
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_id("org_id", &value)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrgId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<OrgId> for String {
    fn from(value: OrgId) -> Self {
        value.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_are_checked() {
        assert!(OrgId::new("acme-01").is_ok());
        assert_eq!(OrgId::new("").unwrap_err().field(), "org_id");
        assert!(OrgId::new("a#b").is_err());
        assert!(OrgId::new("x".repeat(129)).is_err());
        let parsed: Result<OrgId, _> = serde_json::from_str("\"bad org\"");
        assert!(parsed.is_err());
    }

    /// Defect 14.10: `.` and `..` were accepted as org ids (a path out of the org's folder on
    /// the embedded panel store).
    #[test]
    fn dot_and_dot_dot_are_not_org_ids() {
        for v in [".", "..", "..."] {
            assert_eq!(OrgId::new(v).unwrap_err().field(), "org_id", "{v}");
            assert!(serde_json::from_str::<OrgId>(&format!("{v:?}")).is_err());
        }
        assert!(OrgId::new("a.b").is_ok() && OrgId::new(".a").is_ok());
    }
}
