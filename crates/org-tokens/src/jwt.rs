//! Access tokens as JWTs (§2.1): signing, and validation of steps 1–4 in the contract's order
//! (size and shape, header, signature and issuer, times).

use chrono::{DateTime, Utc};
use jsonwebtoken::{Header, Validation};
use org_ports::{AccessClaims, TokenRejection};
use serde::{Deserialize, Serialize};

use crate::keys::Keys;

/// Tokens larger than this are refused before parsing (§2.1 step 1).
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Leeway for `exp`, `iat` and `nbf`.
const LEEWAY_SECS: i64 = 60;
/// The `typ` header of access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims as they are serialized in a token (§2.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Wire {
    sub: String,
    email: String,
    is_platform_owner: bool,
    jti: String,
    sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    aud: String,
    iss: String,
    iat: i64,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
}

impl From<&AccessClaims> for Wire {
    fn from(c: &AccessClaims) -> Self {
        Self {
            sub: c.sub.clone(),
            email: c.email.clone(),
            is_platform_owner: c.is_platform_owner,
            jti: c.jti.clone(),
            sid: c.sid.clone(),
            org: c.org.clone(),
            service: c.service.clone(),
            aud: c.aud.clone(),
            iss: c.iss.clone(),
            iat: c.iat,
            exp: c.exp,
            nbf: c.nbf,
        }
    }
}

impl From<Wire> for AccessClaims {
    fn from(w: Wire) -> Self {
        Self {
            sub: w.sub,
            email: w.email,
            is_platform_owner: w.is_platform_owner,
            jti: w.jti,
            sid: w.sid,
            org: w.org,
            service: w.service,
            aud: w.aud,
            iss: w.iss,
            iat: w.iat,
            exp: w.exp,
            nbf: w.nbf,
        }
    }
}

/// Signs claims with the signing key (also used by tests to forge edge cases).
pub fn sign(keys: &Keys, claims: &AccessClaims) -> String {
    let mut header = Header::new(keys.alg().jwt());
    header.kid = Some(keys.kid().to_owned());
    header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
    jsonwebtoken::encode(&header, &Wire::from(claims), keys.encoding()).unwrap_or_default()
}

fn is_b64url(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Validates steps 1–4 of §2.1 (the audience and the session are checked by the caller).
pub fn validate(keys: &Keys, issuer: &str, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenRejection> {
    let claims = verify_signed(keys, issuer, token)?;
    check_times(&claims, now)?;
    Ok(claims)
}

/// Steps 1–3 of §2.1: size and shape, header, signature and issuer. A pure function of the
/// token and the key set, so its result may be kept for as long as the key set stands.
pub(crate) fn verify_signed(keys: &Keys, issuer: &str, token: &str) -> Result<AccessClaims, TokenRejection> {
    // 1. Size and shape.
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenRejection::Invalid("token too large"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| is_b64url(p)) {
        return Err(TokenRejection::Invalid("malformed token"));
    }
    // 2. Header: algorithm, key id, no key-carrying headers, type.
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Invalid("malformed token header"))?;
    // Only the algorithm of the configured signing key (§2.1, §21.8).
    let alg = keys.alg().jwt();
    if header.alg != alg {
        return Err(TokenRejection::Invalid("algorithm not accepted"));
    }
    let Some(key) = header.kid.as_deref().and_then(|kid| keys.decoding(kid)) else {
        return Err(TokenRejection::Invalid("unknown key id"));
    };
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some() {
        return Err(TokenRejection::Invalid("forbidden token header"));
    }
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(TokenRejection::Invalid("wrong token type"));
    }
    // 3. Signature and issuer (times are checked below, in the contract's order).
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[issuer]);
    let claims = jsonwebtoken::decode::<Wire>(token, key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => TokenRejection::Invalid("wrong issuer"),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenRejection::Invalid("invalid signature"),
            _ => TokenRejection::Invalid("invalid token"),
        })?
        .claims;
    Ok(claims.into())
}

/// Step 4 of §2.1: `exp` (with leeway), `iat` not in the future, `nbf` reached.
pub(crate) fn check_times(claims: &AccessClaims, now: DateTime<Utc>) -> Result<(), TokenRejection> {
    let now = now.timestamp();
    if now > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenRejection::Expired);
    }
    if claims.iat > now.saturating_add(LEEWAY_SECS) {
        return Err(TokenRejection::Invalid("token issued in the future"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS)) {
        return Err(TokenRejection::Invalid("token not yet valid"));
    }
    Ok(())
}
