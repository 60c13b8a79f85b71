//! Configuration from the environment, read once per cold start. A missing or bad setting fails
//! the cold start with a message naming the variable, not the first request.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `LIFTOS_BACKEND` | `embedded` or `aws` | `embedded` |
//! | `LIFTOS_DATA_DIR` | embedded: folder for `liftos.db` and `panels/` | `.liftos` |
//! | `LIFTOS_TABLE` | aws: DynamoDB table | required with `aws` |
//! | `LIFTOS_BUCKET` | aws: S3 bucket for panels | required with `aws` |
//! | `LIFTOS_NEXT_QUEUE_URL` | the queue a stage sends its output to | none |
//! | `LIFTOS_DLQ_URL` | where a stage puts poison messages, with the reason | none |
//! | `LIFTOS_AUTH` | `apigw` (claims verified by the API Gateway JWT authorizer against the issuer's JWKS), `jwks` (RS256 verified here against a pinned JWKS) or `local` (HS256 key) | `apigw` with `aws`, else `local` |
//! | `LIFTOS_JWT_SECRET` | local: the HS256 key, at least 32 bytes | required with `local` |
//! | `LIFTOS_JWKS_FILE` or `LIFTOS_JWKS` | jwks: the issuer's key set (a file, or the JSON itself) | required with `jwks` |
//! | `LIFTOS_JWT_ISSUER`, `LIFTOS_JWT_AUDIENCE` | local, jwks: expected `iss` and `aud` | `liftos-local`, `liftos` |
//! | `LIFTOS_AUDIT_TABLE` | aws: the DynamoDB table of the append-only audit log (only PutItem and Query are granted on it) | the main table |
//! | `LIFTOS_ORG_CLAIM` | the claim holding the caller's org; the issuer must set it server-side (see README, "Tenant identity") | `org_id` |
//! | `LIFTOS_CURSOR_KEY` | the key pagination cursors are signed with (HMAC-SHA256), at least 32 bytes | required with `aws`; else random per process |
//! | `LIFTOS_SYNC_QUEUE_URL` | the scheduled sync's fan-out queue: one message per org and connection | none (each org synced in turn) |
//! | `LIFTOS_CONNECTORS_ALLOW_LOCAL` | `1`: connectors may also call plain-http servers on loopback (tests, the replay server) | off: each platform's own hosts over https only |
//! | `LIFTOS_JOB_TIMEOUT_SECONDS` | how long a queued analysis may run before it is marked failed (the batch function's timeout) | 900 |
//! | `AWS_ENDPOINT_URL` | any AWS-compatible endpoint (read by the SDK) | AWS |

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: &str, message: impl Into<String>) -> Self {
        Self { var: var.to_string(), message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Embedded { data_dir: PathBuf },
    Aws { table: String, bucket: String },
}

#[derive(Clone, PartialEq, Eq)]
pub enum AuthSettings {
    /// Trust the claims that API Gateway's JWT authorizer verified and put in the request context.
    ApiGateway,
    /// Verify `Authorization: Bearer` tokens here, HS256 with a local key.
    LocalKey { secret: String, issuer: String, audience: String },
    /// Verify `Authorization: Bearer` tokens here, RS256 against the issuer's JSON Web Key Set.
    Jwks { jwks: String, issuer: String, audience: String },
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthSettings::ApiGateway => f.write_str("ApiGateway"),
            // Never print the key.
            AuthSettings::LocalKey { issuer, audience, .. } => {
                f.debug_struct("LocalKey").field("issuer", issuer).field("audience", audience).finish_non_exhaustive()
            }
            AuthSettings::Jwks { issuer, audience, .. } => {
                f.debug_struct("Jwks").field("issuer", issuer).field("audience", audience).finish_non_exhaustive()
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub backend: Backend,
    pub auth: AuthSettings,
    pub next_queue_url: Option<String>,
    pub dlq_url: Option<String>,
    /// aws: the audit log's own table.
    pub audit_table: Option<String>,
    /// The verified token's claim that names the caller's org.
    pub org_claim: String,
    /// The pagination cursors' signing key.
    pub cursor_key: Option<Redacted>,
    /// The scheduled sync's fan-out queue.
    pub sync_queue_url: Option<String>,
    /// Whether connectors may call plain-http servers on loopback.
    pub connectors_allow_local: bool,
    /// How long a queued analysis may run before it is marked failed.
    pub job_timeout: std::time::Duration,
}

/// A secret setting: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

pub const MIN_SECRET_LEN: usize = 32;
pub const DEFAULT_ORG_CLAIM: &str = "org_id";
pub const DEFAULT_JOB_TIMEOUT_SECONDS: u64 = 900;

impl Config {
    /// A configuration with the defaults for everything but the backend and the auth.
    pub fn new(backend: Backend, auth: AuthSettings) -> Self {
        Self {
            backend,
            auth,
            next_queue_url: None,
            dlq_url: None,
            audit_table: None,
            org_claim: DEFAULT_ORG_CLAIM.into(),
            cursor_key: None,
            sync_queue_url: None,
            connectors_allow_local: false,
            job_timeout: std::time::Duration::from_secs(DEFAULT_JOB_TIMEOUT_SECONDS),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// The same, from any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let backend = match get("LIFTOS_BACKEND").as_deref().unwrap_or("embedded") {
            "embedded" => Backend::Embedded {
                data_dir: PathBuf::from(get("LIFTOS_DATA_DIR").unwrap_or_else(|| ".liftos".into())),
            },
            "aws" => Backend::Aws {
                table: get("LIFTOS_TABLE")
                    .ok_or_else(|| ConfigError::new("LIFTOS_TABLE", "required with LIFTOS_BACKEND=aws"))?,
                bucket: get("LIFTOS_BUCKET")
                    .ok_or_else(|| ConfigError::new("LIFTOS_BUCKET", "required with LIFTOS_BACKEND=aws"))?,
            },
            other => return Err(ConfigError::new("LIFTOS_BACKEND", format!("{other:?}: expected embedded or aws"))),
        };
        let default_auth = if matches!(backend, Backend::Aws { .. }) { "apigw" } else { "local" };
        let auth = match get("LIFTOS_AUTH").as_deref().unwrap_or(default_auth) {
            "apigw" => AuthSettings::ApiGateway,
            "local" => {
                let secret = get("LIFTOS_JWT_SECRET")
                    .ok_or_else(|| ConfigError::new("LIFTOS_JWT_SECRET", "required with LIFTOS_AUTH=local"))?;
                if secret.len() < MIN_SECRET_LEN {
                    return Err(ConfigError::new(
                        "LIFTOS_JWT_SECRET",
                        format!("must be at least {MIN_SECRET_LEN} bytes"),
                    ));
                }
                AuthSettings::LocalKey {
                    secret,
                    issuer: get("LIFTOS_JWT_ISSUER").unwrap_or_else(|| "liftos-local".into()),
                    audience: get("LIFTOS_JWT_AUDIENCE").unwrap_or_else(|| "liftos".into()),
                }
            }
            "jwks" => {
                let jwks = match (get("LIFTOS_JWKS"), get("LIFTOS_JWKS_FILE")) {
                    (Some(j), _) => j,
                    (None, Some(f)) => std::fs::read_to_string(&f)
                        .map_err(|e| ConfigError::new("LIFTOS_JWKS_FILE", format!("{f}: {e}")))?,
                    (None, None) => {
                        return Err(ConfigError::new(
                            "LIFTOS_JWKS_FILE",
                            "LIFTOS_JWKS_FILE or LIFTOS_JWKS is required with LIFTOS_AUTH=jwks",
                        ))
                    }
                };
                let parsed: serde_json::Value = serde_json::from_str(&jwks)
                    .map_err(|e| ConfigError::new("LIFTOS_JWKS", format!("is not JSON: {e}")))?;
                if parsed["keys"].as_array().is_none_or(|k| k.is_empty()) {
                    return Err(ConfigError::new(
                        "LIFTOS_JWKS",
                        "must be a JWKS: an object with a non-empty `keys` array",
                    ));
                }
                AuthSettings::Jwks {
                    jwks,
                    issuer: get("LIFTOS_JWT_ISSUER").unwrap_or_else(|| "liftos-local".into()),
                    audience: get("LIFTOS_JWT_AUDIENCE").unwrap_or_else(|| "liftos".into()),
                }
            }
            other => return Err(ConfigError::new("LIFTOS_AUTH", format!("{other:?}: expected apigw, jwks or local"))),
        };
        let org_claim = get("LIFTOS_ORG_CLAIM").unwrap_or_else(|| DEFAULT_ORG_CLAIM.into());
        if org_claim.len() > 128 || org_claim.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::new(
                "LIFTOS_ORG_CLAIM",
                "must be a claim name (at most 128 characters, no spaces)",
            ));
        }
        let cursor_key = match get("LIFTOS_CURSOR_KEY") {
            Some(k) if k.len() < crate::storage::cursor::MIN_KEY_LEN => {
                return Err(ConfigError::new(
                    "LIFTOS_CURSOR_KEY",
                    format!("must be at least {} bytes", crate::storage::cursor::MIN_KEY_LEN),
                ))
            }
            Some(k) => Some(Redacted(k)),
            None if matches!(backend, Backend::Aws { .. }) => {
                return Err(ConfigError::new(
                    "LIFTOS_CURSOR_KEY",
                    "required with LIFTOS_BACKEND=aws (every function must sign cursors with the same key)",
                ))
            }
            None => None,
        };
        let connectors_allow_local = match get("LIFTOS_CONNECTORS_ALLOW_LOCAL").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(ConfigError::new("LIFTOS_CONNECTORS_ALLOW_LOCAL", format!("{other:?}: expected 1 or 0")))
            }
        };
        let job_timeout = match get("LIFTOS_JOB_TIMEOUT_SECONDS") {
            None => DEFAULT_JOB_TIMEOUT_SECONDS,
            Some(v) => v.parse::<u64>().ok().filter(|s| (1..=86_400).contains(s)).ok_or_else(|| {
                ConfigError::new("LIFTOS_JOB_TIMEOUT_SECONDS", format!("{v:?}: expected seconds, 1 to 86400"))
            })?,
        };
        Ok(Self {
            backend,
            auth,
            next_queue_url: get("LIFTOS_NEXT_QUEUE_URL"),
            dlq_url: get("LIFTOS_DLQ_URL"),
            audit_table: get("LIFTOS_AUDIT_TABLE"),
            org_claim,
            cursor_key,
            sync_queue_url: get("LIFTOS_SYNC_QUEUE_URL"),
            connectors_allow_local,
            job_timeout: std::time::Duration::from_secs(job_timeout),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_and_errors_name_the_variable() {
        let secret = "s".repeat(32);
        let c = cfg(&[("LIFTOS_JWT_SECRET", &secret)]).unwrap();
        assert_eq!(c.backend, Backend::Embedded { data_dir: ".liftos".into() });
        assert!(matches!(c.auth, AuthSettings::LocalKey { .. }));
        assert!(!format!("{:?}", c.auth).contains(&secret), "the key is never printed");
        assert_eq!(cfg(&[]).unwrap_err().var, "LIFTOS_JWT_SECRET");
        assert_eq!(cfg(&[("LIFTOS_JWT_SECRET", "short")]).unwrap_err().var, "LIFTOS_JWT_SECRET");
        assert_eq!(cfg(&[("LIFTOS_BACKEND", "aws")]).unwrap_err().var, "LIFTOS_TABLE");
        assert_eq!(cfg(&[("LIFTOS_BACKEND", "aws"), ("LIFTOS_TABLE", "t")]).unwrap_err().var, "LIFTOS_BUCKET");
        let aws = [("LIFTOS_BACKEND", "aws"), ("LIFTOS_TABLE", "t"), ("LIFTOS_BUCKET", "b")];
        assert_eq!(cfg(&aws).unwrap_err().var, "LIFTOS_CURSOR_KEY");
        let key = "k".repeat(32);
        let c = cfg(&[aws[0], aws[1], aws[2], ("LIFTOS_CURSOR_KEY", &key)]).unwrap();
        assert_eq!(c.auth, AuthSettings::ApiGateway);
        assert_eq!(c.org_claim, "org_id");
        assert!(!format!("{c:?}").contains(&key), "the cursor key is never printed");
        assert_eq!(
            cfg(&[aws[0], aws[1], aws[2], ("LIFTOS_CURSOR_KEY", "short")]).unwrap_err().var,
            "LIFTOS_CURSOR_KEY"
        );
        let with = |k: &'static str, v: &'static str| cfg(&[("LIFTOS_JWT_SECRET", "s".repeat(32).leak()), (k, v)]);
        assert_eq!(with("LIFTOS_ORG_CLAIM", "custom:tenant").unwrap().org_claim, "custom:tenant");
        assert_eq!(with("LIFTOS_ORG_CLAIM", "a b").unwrap_err().var, "LIFTOS_ORG_CLAIM");
        assert!(with("LIFTOS_CONNECTORS_ALLOW_LOCAL", "1").unwrap().connectors_allow_local);
        assert_eq!(with("LIFTOS_CONNECTORS_ALLOW_LOCAL", "yes").unwrap_err().var, "LIFTOS_CONNECTORS_ALLOW_LOCAL");
        assert_eq!(with("LIFTOS_JOB_TIMEOUT_SECONDS", "0").unwrap_err().var, "LIFTOS_JOB_TIMEOUT_SECONDS");
        assert_eq!(cfg(&[("LIFTOS_BACKEND", "mongo")]).unwrap_err().var, "LIFTOS_BACKEND");
    }
}
