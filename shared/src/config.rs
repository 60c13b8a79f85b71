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
}

pub const MIN_SECRET_LEN: usize = 32;

impl Config {
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
        Ok(Self { backend, auth, next_queue_url: get("LIFTOS_NEXT_QUEUE_URL"), dlq_url: get("LIFTOS_DLQ_URL") })
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
        let c = cfg(&[("LIFTOS_BACKEND", "aws"), ("LIFTOS_TABLE", "t"), ("LIFTOS_BUCKET", "b")]).unwrap();
        assert_eq!(c.auth, AuthSettings::ApiGateway);
        assert_eq!(cfg(&[("LIFTOS_BACKEND", "mongo")]).unwrap_err().var, "LIFTOS_BACKEND");
    }
}
