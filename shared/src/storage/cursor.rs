//! Opaque pagination cursors, bound to the query that produced them.
//!
//! A cursor is base64url(JSON `{"s": scope-hash, "k": [last key parts]}`). A cursor from another
//! query, org or a tampered one is refused with `InvalidCursor` (a 400 to the caller), never
//! passed to a backend.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::StoreError;

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl PageRequest {
    /// `limit` must be 1..=1000.
    pub fn new(limit: usize, cursor: Option<String>) -> Result<Self, crate::domain::ValidationError> {
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(crate::domain::ValidationError::new("limit", format!("must be between 1 and {MAX_PAGE_SIZE}")));
        }
        Ok(Self { limit, cursor })
    }

    pub fn first(limit: usize) -> Self {
        Self { limit: limit.clamp(1, MAX_PAGE_SIZE), cursor: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "PageOf{T}")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when there may be more; pass it back to get the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Raw {
    s: String,
    k: Vec<String>,
}

fn scope_hash(scope: &str) -> String {
    let d = Sha256::digest(scope.as_bytes());
    d[..12].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn encode(scope: &str, key: Vec<String>) -> String {
    let raw = Raw { s: scope_hash(scope), k: key };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&raw).unwrap_or_default())
}

/// Decode a cursor for `scope`; `parts` is how many key parts the adapter expects.
pub fn decode(scope: &str, cursor: &str, parts: usize) -> Result<Vec<String>, StoreError> {
    let invalid = |why: &str| StoreError::InvalidCursor(why.to_string());
    let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).map_err(|_| invalid("not a cursor returned by this API"))?;
    let raw: Raw = serde_json::from_slice(&bytes).map_err(|_| invalid("not a cursor returned by this API"))?;
    if raw.s != scope_hash(scope) {
        return Err(invalid("this cursor belongs to a different query"));
    }
    if raw.k.len() != parts {
        return Err(invalid("not a cursor returned by this API"));
    }
    Ok(raw.k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let c = encode("acme|platform|meta", vec!["a".into(), "b".into()]);
        assert_eq!(decode("acme|platform|meta", &c, 2).unwrap(), vec!["a", "b"]);
        assert!(matches!(decode("other|platform|meta", &c, 2), Err(StoreError::InvalidCursor(_))));
        assert!(matches!(decode("acme|platform|meta", &c, 3), Err(StoreError::InvalidCursor(_))));
        assert!(matches!(decode("acme|platform|meta", "%%%", 2), Err(StoreError::InvalidCursor(_))));
        assert!(matches!(decode("acme|platform|meta", "bm90anNvbg", 2), Err(StoreError::InvalidCursor(_))));
        assert!(PageRequest::new(0, None).is_err());
        assert!(PageRequest::new(1001, None).is_err());
    }
}
