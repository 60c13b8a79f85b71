//! Use cases: what the Lambdas and the `liftos` command do, independent of how they are invoked.
//! Each takes the caller's [`UserContext`](crate::domain::UserContext) (from a verified token)
//! and the narrow stores it needs.

pub mod causal;
pub mod chain;
pub mod counterfactual;
pub mod estimate;
pub mod experiments;
pub mod ingest;
pub mod ingestion;
pub mod insights;
pub mod kse;
pub mod memory;
#[cfg(feature = "demo")]
pub mod pipeline;
pub mod source;
pub mod stage;
pub mod surfacing;
pub mod time_axis;

use crate::domain::ValidationError;
use crate::storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The caller's input is wrong (400), naming the field.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The caller lacks a permission (403).
    #[error("missing permission {permission}")]
    Forbidden { permission: String },
    /// Nothing of that id in the caller's org (404). Another org's item looks exactly the same.
    #[error("{what} not found")]
    NotFound { what: String },
    /// A conditional write was refused (409).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Our failure (500): the message is safe to show; the detail was logged.
    #[error("internal: {0}")]
    Internal(String),
}

/// The text of a caught panic's payload (a `&str` or `String` message), for the log.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

pub(crate) fn require(user: &crate::domain::UserContext, permission: &str) -> Result<(), ServiceError> {
    if user.has(permission) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden { permission: permission.to_string() })
    }
}

/// A request body that must be a JSON object, decoded into `T` with errors naming the field.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ValidationError> {
    crate::domain::error::from_json_value(json_object(body)?)
}

/// A request body parsed as a JSON object (400 on `body` otherwise).
pub(crate) fn json_object(body: &[u8]) -> Result<serde_json::Value, ValidationError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ValidationError::new("body", format!("is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ValidationError::new("body", "must be a JSON object"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_payload_is_read_whatever_its_type() {
        let s: Box<dyn std::any::Any + Send> = Box::new("boom");
        assert_eq!(panic_message(s.as_ref()), "boom");
        let s: Box<dyn std::any::Any + Send> = Box::new(String::from("bang"));
        assert_eq!(panic_message(s.as_ref()), "bang");
        let s: Box<dyn std::any::Any + Send> = Box::new(7u8);
        assert_eq!(panic_message(s.as_ref()), "a panic without a message");
    }

    /// A body that is not JSON, or JSON but not an object, is a 400 naming `body`; a field of
    /// the wrong type names that field.
    #[test]
    fn bodies_are_objects_and_errors_name_the_field() {
        for (body, words) in
            [(&b"{"[..], "is not valid JSON"), (b"[1, 2]", "must be a JSON object"), (b"3", "must be a JSON object")]
        {
            let e = json_object(body).unwrap_err();
            assert_eq!(e.errors[0].field, "body");
            assert!(e.errors[0].message.contains(words), "{e:?}");
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Limit {
            limit: u32,
        }
        let e = parse_object::<Limit>(br#"{"limit": "ten"}"#).unwrap_err();
        assert_eq!(e.errors[0].field, "limit", "{e:?}");
        assert_eq!(parse_object::<Limit>(br#"{"limit": 10}"#).unwrap().limit, 10);
    }

    #[test]
    fn a_missing_permission_is_forbidden_and_named() {
        let user = crate::domain::UserContext {
            org_id: crate::domain::OrgId::new("o").unwrap(),
            user_id: "u".into(),
            roles: vec![],
            permissions: ["causal:read".to_string()].into_iter().collect(),
        };
        assert!(require(&user, "causal:read").is_ok());
        match require(&user, "causal:write") {
            Err(ServiceError::Forbidden { permission }) => assert_eq!(permission, "causal:write"),
            other => panic!("{other:?}"),
        }
    }
}
