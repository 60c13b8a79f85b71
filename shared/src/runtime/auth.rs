//! Who is calling. The org and permissions come only from a verified token, never from the
//! body, path or query.
//!
//! - `apigw`: API Gateway's JWT authorizer has verified the token (signature against the
//!   issuer's JWKS, expiry, audience) before the function runs; its claims arrive in the request
//!   context. A request without them is refused (401): there is no bypass.
//! - `jwks`: the `Authorization: Bearer` token is verified here, RS256 only, against the
//!   issuer's JSON Web Key Set (the key named by the token's `kid`).
//! - `local` (embedded default, tests): the `Authorization: Bearer` token is verified here, HS256
//!   with the configured key.
//!
//! The org is read from one configured claim (`LIFTOS_ORG_CLAIM`, `org_id` by default) and a
//! token without it is refused: the issuer must set that claim itself, never from anything the
//! user can write (README, "Tenant identity").
//!
//! Either way `alg: none`, other algorithms (an HS256 token signed with the public key is an
//! "algorithm confusion" attempt), bad signatures, expired or not-yet-valid tokens, wrong issuer
//! or audience, and malformed tokens are refused (401).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::http::ApiError;
use crate::config::AuthSettings;
use crate::domain::{OrgId, UserContext};

/// The claims LiftOS reads: the registered ones, roles and permissions, and (among the others)
/// the configured org claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Every other claim: the org claim is one of them.
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Claims {
    /// The value of the org claim `name`: a string, or absent.
    pub fn org(&self, name: &str) -> Option<&str> {
        self.other.get(name).and_then(|v| v.as_str())
    }
}

fn context_from(
    org_claim: &str,
    org: Option<&str>,
    user: &str,
    roles: Vec<String>,
    permissions: Vec<String>,
) -> Result<UserContext, ApiError> {
    let org = org.ok_or_else(|| ApiError::unauthorized(format!("the token has no {org_claim} claim")))?;
    let org =
        OrgId::new(org).map_err(|_| ApiError::unauthorized(format!("the token's {org_claim} claim is invalid")))?;
    if user.is_empty() {
        return Err(ApiError::unauthorized("the token has no subject"));
    }
    Ok(UserContext::new(org, user.to_string(), roles, permissions))
}

fn validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = 30;
    v
}

/// Verify a local HS256 token; the org is the claim `org_claim`.
pub fn verify_local(
    token: &str,
    secret: &str,
    issuer: &str,
    audience: &str,
    org_claim: &str,
) -> Result<UserContext, ApiError> {
    let v = validation(Algorithm::HS256, issuer, audience);
    decode_with(token, &DecodingKey::from_secret(secret.as_bytes()), &v, org_claim)
}

/// Verify an RS256 token against a JSON Web Key Set (the key with the token's `kid`, or the only
/// RSA key when the token names none).
pub fn verify_jwks(
    token: &str,
    jwks: &str,
    issuer: &str,
    audience: &str,
    org_claim: &str,
) -> Result<UserContext, ApiError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::unauthorized("the token is malformed"))?;
    if header.alg != Algorithm::RS256 {
        return Err(ApiError::unauthorized("the token's algorithm is not accepted"));
    }
    // The key set is configured once per cold start: parse it once, not per request.
    static PARSED: std::sync::Mutex<Option<(String, jsonwebtoken::jwk::JwkSet)>> = std::sync::Mutex::new(None);
    let mut cache = PARSED.lock().unwrap_or_else(|p| p.into_inner());
    if cache.as_ref().is_none_or(|(raw, _)| raw != jwks) {
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(jwks).map_err(|e| {
            tracing::error!(error = %e, "the configured JWKS does not parse");
            ApiError::unauthorized("the token cannot be verified")
        })?;
        *cache = Some((jwks.to_string(), set));
    }
    let Some((_, set)) = cache.as_ref() else { return Err(ApiError::unauthorized("the token cannot be verified")) };
    let jwk = match &header.kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
    .ok_or_else(|| ApiError::unauthorized("the token's signing key is not one of the issuer's"))?;
    let key =
        DecodingKey::from_jwk(jwk).map_err(|_| ApiError::unauthorized("the token's signing key is not usable"))?;
    decode_with(token, &key, &validation(Algorithm::RS256, issuer, audience), org_claim)
}

fn decode_with(token: &str, key: &DecodingKey, v: &Validation, org_claim: &str) -> Result<UserContext, ApiError> {
    let data = jsonwebtoken::decode::<Claims>(token, key, v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind::*;
        let why = match e.kind() {
            ExpiredSignature => "the token has expired",
            ImmatureSignature => "the token is not valid yet",
            InvalidSignature => "the token's signature is invalid",
            InvalidAudience => "the token is for another audience",
            InvalidIssuer => "the token is from another issuer",
            InvalidAlgorithm | InvalidAlgorithmName => "the token's algorithm is not accepted",
            MissingRequiredClaim(_) => "the token lacks a required claim",
            _ => "the token is malformed",
        };
        ApiError::unauthorized(why)
    })?;
    let c = data.claims;
    let org = c.org(org_claim).map(String::from);
    context_from(org_claim, org.as_deref(), &c.sub, c.roles, c.permissions)
}

impl Claims {
    /// A token's claims valid from a second ago for `ttl_seconds`, with the org under the default claim.
    #[allow(clippy::too_many_arguments)]
    fn fresh(
        issuer: &str,
        audience: &str,
        org: &str,
        user: &str,
        roles: &[&str],
        permissions: &[&str],
        ttl_seconds: i64,
    ) -> Self {
        let now = chrono::Utc::now().timestamp();
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Claims {
            sub: user.to_string(),
            roles: owned(roles),
            permissions: owned(permissions),
            iss: issuer.to_string(),
            aud: audience.to_string(),
            exp: now + ttl_seconds,
            nbf: Some(now - 1),
            iat: Some(now),
            other: [(crate::config::DEFAULT_ORG_CLAIM.to_string(), serde_json::Value::from(org))].into(),
        }
    }
}

/// Create a local token (tests, `liftos token`, curl against `cargo lambda watch`).
#[allow(clippy::too_many_arguments)]
pub fn mint_local(
    secret: &str,
    issuer: &str,
    audience: &str,
    org: &str,
    user: &str,
    roles: &[&str],
    permissions: &[&str],
    ttl_seconds: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = Claims::fresh(issuer, audience, org, user, roles, permissions, ttl_seconds);
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
}

/// Create an RS256 token with a PEM private key (tests, and issuers of one's own).
#[allow(clippy::too_many_arguments)]
pub fn mint_rs256(
    private_pem: &[u8],
    kid: Option<&str>,
    issuer: &str,
    audience: &str,
    org: &str,
    user: &str,
    roles: &[&str],
    ttl_seconds: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = Claims::fresh(issuer, audience, org, user, roles, &[], ttl_seconds);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(String::from);
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(private_pem)?)
}

/// API Gateway flattens array claims to strings: `[a b]`, `a b`, or a JSON array.
fn claim_list(raw: Option<&String>) -> Vec<String> {
    let Some(raw) = raw else { return vec![] };
    let t = raw.trim();
    if let Ok(list) = serde_json::from_str::<Vec<String>>(t) {
        return list;
    }
    t.trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The caller from claims API Gateway's JWT authorizer verified; the org is the claim
/// `org_claim`.
pub fn from_authorizer_claims(claims: &HashMap<String, String>, org_claim: &str) -> Result<UserContext, ApiError> {
    let org = claims.get(org_claim).map(String::as_str);
    let user = claims.get("sub").map(String::as_str).unwrap_or("");
    let mut roles = claim_list(claims.get("roles"));
    roles.extend(claim_list(claims.get("cognito:groups")));
    let mut perms = claim_list(claims.get("permissions"));
    perms.extend(claim_list(claims.get("scope")));
    context_from(org_claim, org, user, roles, perms)
}

/// Establish the caller of an HTTP request; the org is the claim `org_claim`.
pub fn authenticate(req: &Request, settings: &AuthSettings, org_claim: &str) -> Result<UserContext, ApiError> {
    match settings {
        AuthSettings::ApiGateway => {
            let claims = req
                .request_context_ref()
                .and_then(|c| c.authorizer())
                .and_then(|a| a.jwt.as_ref())
                .map(|j| &j.claims)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| ApiError::unauthorized("no verified token: call through the API with a bearer token"))?;
            from_authorizer_claims(claims, org_claim)
        }
        AuthSettings::LocalKey { secret, issuer, audience } => {
            verify_local(bearer(req)?, secret, issuer, audience, org_claim)
        }
        AuthSettings::Jwks { jwks, issuer, audience } => verify_jwks(bearer(req)?, jwks, issuer, audience, org_claim),
    }
}

fn bearer(req: &Request) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get("authorization")
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
    let value = header.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is malformed"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))?;
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const ORG: &str = crate::config::DEFAULT_ORG_CLAIM;

    fn token(ttl: i64) -> String {
        mint_local(SECRET, "liftos-local", "liftos", "acme", "u1", &["causal_analyst"], &[], ttl).unwrap()
    }

    #[test]
    fn valid_token_gives_the_caller() {
        let u = verify_local(&token(300), SECRET, "liftos-local", "liftos", ORG).unwrap();
        assert_eq!(u.org_id.as_str(), "acme");
        assert!(u.has("causal:data:read") && !u.has("causal:data:write"));
    }

    #[test]
    fn bad_tokens_are_refused() {
        let t = token(300);
        assert_eq!(
            verify_local(&token(-120), SECRET, "liftos-local", "liftos", ORG).unwrap_err().message,
            "the token has expired"
        );
        assert_eq!(verify_local(&t, &"x".repeat(32), "liftos-local", "liftos", ORG).unwrap_err().status, 401);
        assert_eq!(
            verify_local(&t, SECRET, "liftos-local", "other", ORG).unwrap_err().message,
            "the token is for another audience"
        );
        assert_eq!(
            verify_local(&t, SECRET, "evil", "liftos", ORG).unwrap_err().message,
            "the token is from another issuer"
        );
        assert_eq!(verify_local("not.a.token", SECRET, "liftos-local", "liftos", ORG).unwrap_err().status, 401);
        // alg: none with the same claims and no signature
        let parts: Vec<&str> = t.split('.').collect();
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert_eq!(verify_local(&none, SECRET, "liftos-local", "liftos", ORG).unwrap_err().status, 401);
        // not yet valid
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "u".into(),
            roles: vec![],
            permissions: vec![],
            iss: "liftos-local".into(),
            aud: "liftos".into(),
            exp: now + 7200,
            nbf: Some(now + 3600),
            iat: Some(now),
            other: [("org_id".to_string(), serde_json::Value::from("acme"))].into(),
        };
        let future =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes()))
                .unwrap();
        assert_eq!(
            verify_local(&future, SECRET, "liftos-local", "liftos", ORG).unwrap_err().message,
            "the token is not valid yet"
        );
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name)).unwrap()
    }

    #[test]
    fn rs256_tokens_against_the_jwks() {
        let jwks = String::from_utf8(fixture("test-jwks.json")).unwrap();
        let key = fixture("test-rs256-private.pem");
        let mint = |kid: Option<&str>, ttl: i64, aud: &str| {
            mint_rs256(&key, kid, "https://issuer.test", aud, "acme", "u1", &["causal_admin"], ttl).unwrap()
        };
        let ok = verify_jwks(&mint(Some("liftos-test-1"), 300, "liftos"), &jwks, "https://issuer.test", "liftos", ORG)
            .unwrap();
        assert_eq!(ok.org_id.as_str(), "acme");
        assert!(ok.has("causal:experiments:manage"));
        // One key in the set: a token without kid is checked against it.
        assert!(verify_jwks(&mint(None, 300, "liftos"), &jwks, "https://issuer.test", "liftos", ORG).is_ok());
        let refuse = |t: &str| verify_jwks(t, &jwks, "https://issuer.test", "liftos", ORG).unwrap_err();
        assert_eq!(refuse(&mint(Some("liftos-test-1"), -120, "liftos")).message, "the token has expired");
        assert_eq!(refuse(&mint(Some("liftos-test-1"), 300, "other")).message, "the token is for another audience");
        assert_eq!(
            refuse(&mint(Some("unknown"), 300, "liftos")).message,
            "the token's signing key is not one of the issuer's"
        );
        // Signed by another key, claiming the issuer's kid.
        let other = fixture("test-rs256-other-private.pem");
        let forged =
            mint_rs256(&other, Some("liftos-test-1"), "https://issuer.test", "liftos", "acme", "u1", &[], 300).unwrap();
        assert_eq!(refuse(&forged).message, "the token's signature is invalid");
        // Algorithm confusion: HS256 "signed" with the public key material, and alg none.
        let hs = mint_local(&jwks, "https://issuer.test", "liftos", "acme", "u1", &[], &[], 300).unwrap();
        assert_eq!(refuse(&hs).message, "the token's algorithm is not accepted");
        let parts: Vec<&str> = hs.split('.').collect();
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert_eq!(refuse(&none).status, 401);
        assert_eq!(refuse("a.b").status, 401);
        assert_eq!(refuse("").status, 401);
    }

    #[test]
    fn authorizer_claims_in_api_gateway_shapes() {
        let claims: HashMap<String, String> = [
            ("sub", "u1"),
            ("custom:org_id", "acme"),
            ("roles", "[causal_admin]"),
            ("scope", "openid causal:data:read"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // The org claim is the configured one: `custom:org_id` only when configured so.
        let u = from_authorizer_claims(&claims, "custom:org_id").unwrap();
        assert_eq!(u.org_id.as_str(), "acme");
        assert!(u.has("causal:experiments:manage"));
        let mut no_org = claims.clone();
        no_org.remove("custom:org_id");
        assert_eq!(from_authorizer_claims(&no_org, "custom:org_id").unwrap_err().status, 401);
    }

    /// Defect 14.2: the org came from `org_id` or, failing that, Cognito's user-writable
    /// `custom:org_id`. Only the configured claim counts now, and a token without it is refused.
    #[test]
    fn the_org_comes_only_from_the_configured_claim() {
        let claims: HashMap<String, String> = [("sub", "u1"), ("custom:org_id", "victim"), ("tenant", "acme")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let e = from_authorizer_claims(&claims, ORG).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (401, "the token has no org_id claim"));
        assert_eq!(from_authorizer_claims(&claims, "tenant").unwrap().org_id.as_str(), "acme");
        // Verified tokens too: an HS256 token carrying only custom:org_id is refused by default.
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "u".into(),
            roles: vec![],
            permissions: vec![],
            iss: "liftos-local".into(),
            aud: "liftos".into(),
            exp: now + 600,
            nbf: None,
            iat: Some(now),
            other: [("custom:org_id".to_string(), serde_json::Value::from("victim"))].into(),
        };
        let t =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes()))
                .unwrap();
        assert_eq!(verify_local(&t, SECRET, "liftos-local", "liftos", ORG).unwrap_err().status, 401);
        assert_eq!(
            verify_local(&t, SECRET, "liftos-local", "liftos", "custom:org_id").unwrap().org_id.as_str(),
            "victim"
        );
        // A non-string org claim is not an org.
        let mut odd = claims.clone();
        odd.other.insert("org_id".into(), serde_json::json!(["acme"]));
        let t =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &odd, &EncodingKey::from_secret(SECRET.as_bytes()))
                .unwrap();
        assert_eq!(verify_local(&t, SECRET, "liftos-local", "liftos", ORG).unwrap_err().status, 401);
    }
}
