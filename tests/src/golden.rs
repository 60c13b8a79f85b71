//! Pinned JSON outputs (`tests/golden/`): what the `liftos` commands and the functions answer on
//! fixed inputs. A test compares today's output with the pinned one; `LIFTOS_BLESS=1` rewrites
//! the pinned files (do that only for an intended change of the contract, and say so).
//!
//! Before comparing, what legitimately changes from run to run is normalised: UUIDs, the
//! scratch folder, and the times at which things happened (`created_at`, `updated_at`, `at`,
//! `failed_at`). Numbers are equal when they agree to 1e-9 relative (1e-10 absolute near zero):
//! the contract is the values, not the last bits of their rounding.
//!
//! Included with `#[path]` by the tests that need it (the CLI's and the functions'), so it
//! depends on serde_json alone.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `tests/golden` of the repository, found upwards from the crate that includes this file.
pub fn golden_dir() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("tests").join("golden").is_dir() {
        if !dir.pop() {
            panic!("no tests/golden above {}", env!("CARGO_MANIFEST_DIR"));
        }
    }
    dir.join("tests").join("golden")
}

pub fn blessing() -> bool {
    std::env::var("LIFTOS_BLESS").is_ok_and(|v| v == "1")
}

const VOLATILE_KEYS: [&str; 4] = ["created_at", "updated_at", "at", "failed_at"];

fn is_uuid_at(b: &[u8], i: usize) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut p = i;
    for (g, len) in GROUPS.iter().enumerate() {
        for _ in 0..*len {
            if p >= b.len() || !b[p].is_ascii_hexdigit() {
                return false;
            }
            p += 1;
        }
        if g < 4 {
            if p >= b.len() || b[p] != b'-' {
                return false;
            }
            p += 1;
        }
    }
    true
}

/// Replace every UUID in `s` by `<uuid>` and the scratch folder by `<dir>`.
pub fn normalise_str(s: &str, scratch: Option<&Path>) -> String {
    let mut s = s.to_string();
    if let Some(d) = scratch {
        let d = d.display().to_string();
        if !d.is_empty() {
            s = s.replace(&d, "<dir>");
        }
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if (i == 0 || !b[i - 1].is_ascii_hexdigit()) && is_uuid_at(b, i) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

pub fn normalise(v: &serde_json::Value, scratch: Option<&Path>) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(normalise_str(s, scratch)),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalise(x, scratch)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let x = if VOLATILE_KEYS.contains(&k.as_str()) && x.is_string() {
                        Value::String("<time>".into())
                    } else {
                        normalise(x, scratch)
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The differences between `want` and `got` (paths and values), at most 20.
pub fn differences(want: &serde_json::Value, got: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    diff("", want, got, &mut out);
    out
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a - b).abs() <= 1e-10
}

fn diff(path: &str, want: &serde_json::Value, got: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    if out.len() >= 20 {
        return;
    }
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            if !close(a, b) {
                out.push(format!("{path}: {a} -> {b}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!("{path}: {} items -> {}", a.len(), b.len()));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, x) in a {
                match b.get(k) {
                    Some(y) => diff(&format!("{path}.{k}"), x, y, out),
                    None => out.push(format!("{path}.{k}: missing")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: new key"));
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {} -> {}", short(a), short(b))),
    }
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        format!("{}…", &s[..s.char_indices().nth(200).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

/// Compare `got` with the pinned `tests/golden/{rel}` (or write it when blessing). Returns the
/// problems found, prefixed with the file.
pub fn check(rel: &str, got: &serde_json::Value) -> Vec<String> {
    let path = golden_dir().join(rel);
    if blessing() {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
        let text = serde_json::to_string_pretty(got).unwrap_or_default() + "\n";
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return vec![];
    }
    let Ok(text) = std::fs::read_to_string(&path) else {
        return vec![format!("{rel}: no pinned output (run with LIFTOS_BLESS=1 to pin it)")];
    };
    let want: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return vec![format!("{rel}: not JSON: {e}")],
    };
    differences(&want, got).into_iter().map(|d| format!("{rel}: {d}")).collect()
}
