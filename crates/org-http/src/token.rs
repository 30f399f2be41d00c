//! Access tokens (§2.1): minting for issued sessions and validation in the contract's order.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Header, Validation};
use org_app::IssuedSession;
use org_domain::User;
use serde::{Deserialize, Serialize};

use crate::keys::Keys;

/// Tokens larger than this are refused before parsing (§2.1 step 1).
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Leeway for `exp`, `iat` and `nbf`.
const LEEWAY_SECS: i64 = 60;
/// The `typ` header of access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of an access token (§2.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub email: String,
    pub is_platform_owner: bool,
    pub jti: String,
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// The audience of a token (§2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    Platform,
    Org(String),
    Service,
}

impl AccessClaims {
    /// The parsed audience; `None` for an unknown form.
    pub fn audience(&self) -> Option<Audience> {
        if self.aud == "platform" {
            Some(Audience::Platform)
        } else if let Some(slug) = self.aud.strip_prefix("org:") {
            Some(Audience::Org(slug.to_owned()))
        } else if self.aud.starts_with("service:") {
            Some(Audience::Service)
        } else {
            None
        }
    }
}

/// Why a bearer token is refused (all 401).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// `JWT_ERROR`: malformed, bad header, signature, issuer, times or audience.
    Invalid(&'static str),
    /// `TOKEN_EXPIRED`: past `exp` (+ leeway).
    Expired,
}

/// Signs an access token for `session` of `user`, valid for `ttl_secs` from `now`.
pub fn mint(
    keys: &Keys,
    issuer: &str,
    user: &User,
    session: &IssuedSession,
    now: DateTime<Utc>,
    ttl_secs: i64,
) -> String {
    let iat = now.timestamp();
    let claims = AccessClaims {
        sub: user.id.to_string(),
        email: user.email.as_str().to_owned(),
        is_platform_owner: user.is_platform_owner,
        jti: uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string(),
        sid: session.session.id.to_string(),
        org: session.org_slug.as_ref().map(|s| s.as_str().to_owned()),
        service: None,
        aud: session.audience(),
        iss: issuer.to_owned(),
        iat,
        exp: iat + ttl_secs,
        nbf: None,
    };
    sign(keys, &claims)
}

/// Signs arbitrary claims with the signing key (also used by tests to forge edge cases).
pub fn sign(keys: &Keys, claims: &AccessClaims) -> String {
    let mut header = Header::new(keys.alg().jwt());
    header.kid = Some(keys.kid().to_owned());
    header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
    jsonwebtoken::encode(&header, claims, keys.encoding()).unwrap_or_default()
}

fn is_b64url(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Validates steps 1–4 of §2.1 (the audience and the session are checked by the caller).
pub fn validate(keys: &Keys, issuer: &str, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
    // 1. Size and shape.
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Invalid("token too large"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| is_b64url(p)) {
        return Err(TokenError::Invalid("malformed token"));
    }
    // 2. Header: algorithm, key id, no key-carrying headers, type.
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("malformed token header"))?;
    // Only the algorithm of the configured signing key (§2.1, §21.8).
    let alg = keys.alg().jwt();
    if header.alg != alg {
        return Err(TokenError::Invalid("algorithm not accepted"));
    }
    let Some(key) = header.kid.as_deref().and_then(|kid| keys.decoding(kid)) else {
        return Err(TokenError::Invalid("unknown key id"));
    };
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some() {
        return Err(TokenError::Invalid("forbidden token header"));
    }
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(TokenError::Invalid("wrong token type"));
    }
    // 3. Signature and issuer (times are checked below, in the contract's order).
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[issuer]);
    let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => TokenError::Invalid("wrong issuer"),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::Invalid("invalid signature"),
            _ => TokenError::Invalid("invalid token"),
        })?
        .claims;
    // 4. Times.
    let now = now.timestamp();
    if now > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Expired);
    }
    if claims.iat > now.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Invalid("token issued in the future"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS)) {
        return Err(TokenError::Invalid("token not yet valid"));
    }
    Ok(claims)
}
