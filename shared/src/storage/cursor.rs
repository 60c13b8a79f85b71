//! Opaque pagination cursors, signed and bound to the query that produced them.
//!
//! A cursor is base64url(JSON `{"k": [last key parts], "m": HMAC-SHA256(key, scope, k)}`), the
//! scope naming the org and the query. A cursor from another query or org, or one whose key
//! parts were changed, fails the signature and is refused with `InvalidCursor` (a 400 to the
//! caller), never passed to a backend.
//!
//! The key: `LIFTOS_CURSOR_KEY` (required with the AWS backend, where every container of every
//! function must agree; the template generates it in Secrets Manager), installed once per cold
//! start by [`install_key`]; otherwise a random key per process (the embedded default and tests:
//! cursors do not outlive the process).

use aws_lc_rs::hmac;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

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
    k: Vec<String>,
    m: String,
}

/// The shortest signing key accepted.
pub const MIN_KEY_LEN: usize = 32;
/// The longest cursor read (a page's last key is a few ids and a time).
pub const MAX_CURSOR_LEN: usize = 2048;

static KEY: OnceLock<hmac::Key> = OnceLock::new();

/// Install the signing key (at cold start, before any cursor is made). A second call with
/// another key is refused: cursors already handed out would stop verifying.
pub fn install_key(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_KEY_LEN {
        return Err(format!("must be at least {MIN_KEY_LEN} bytes"));
    }
    let fingerprint = |k: &hmac::Key| hmac::sign(k, b"liftos-cursor-key").as_ref().to_vec();
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let want = fingerprint(&key);
    let got = KEY.get_or_init(|| key);
    if fingerprint(got) != want {
        return Err("a different cursor key is already in use in this process".into());
    }
    Ok(())
}

fn key() -> &'static hmac::Key {
    KEY.get_or_init(|| {
        let mut bytes = [0u8; 32];
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            // Never reached on a working system; a key from the clock and the process is still
            // unknown to callers.
            let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
            bytes.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, seed.as_bytes()).as_ref());
        }
        hmac::Key::new(hmac::HMAC_SHA256, &bytes)
    })
}

fn message(scope: &str, parts: &[String]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(scope.as_bytes());
    for p in parts {
        m.push(0);
        m.extend_from_slice(p.as_bytes());
    }
    m
}

pub fn encode(scope: &str, key_parts: Vec<String>) -> String {
    let tag = hmac::sign(key(), &message(scope, &key_parts));
    let raw = Raw { m: URL_SAFE_NO_PAD.encode(tag.as_ref()), k: key_parts };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&raw).unwrap_or_default())
}

/// Decode a cursor for `scope`; `parts` is how many key parts the adapter expects.
pub fn decode(scope: &str, cursor: &str, parts: usize) -> Result<Vec<String>, StoreError> {
    let invalid = |why: &str| StoreError::InvalidCursor(why.to_string());
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid("not a cursor returned by this API"));
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).map_err(|_| invalid("not a cursor returned by this API"))?;
    let raw: Raw = serde_json::from_slice(&bytes).map_err(|_| invalid("not a cursor returned by this API"))?;
    let tag = URL_SAFE_NO_PAD.decode(raw.m.as_bytes()).map_err(|_| invalid("not a cursor returned by this API"))?;
    if hmac::verify(key(), &message(scope, &raw.k), &tag).is_err() {
        return Err(invalid("this cursor was not issued for this query"));
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
        // Defect 14.10: cursors were unsigned; a changed key part is refused.
        let raw: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&c).unwrap()).unwrap();
        let mut forged = raw.clone();
        forged["k"][0] = "0000".into();
        let forged = URL_SAFE_NO_PAD.encode(forged.to_string());
        assert!(matches!(decode("acme|platform|meta", &forged, 2), Err(StoreError::InvalidCursor(_))));
        assert!(matches!(decode("acme|platform|meta", &"A".repeat(5000), 2), Err(StoreError::InvalidCursor(_))));
        assert!(install_key(b"short").is_err());
        assert!(PageRequest::new(0, None).is_err());
        assert!(PageRequest::new(1001, None).is_err());
    }
}
