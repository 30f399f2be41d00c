//! org-tokens: the access-token adapter of org-server. [`JwtTokens`] implements the
//! [`org_ports::AccessTokens`] port with JWTs signed by an Ed25519 (`EdDSA`, the default) or
//! RSA (`RS256`) key set ([`Keys`]), publishes the public keys as a JWKS (§2.8), and keeps the
//! result of each signature check for as long as the key set stands, so a token presented
//! again costs a lookup instead of a signature verification. Times are checked on every call.
//!
//! ```
//! use org_ports::{AccessClaims, AccessTokens};
//! use org_tokens::{JwtTokens, Keys};
//!
//! let tokens = JwtTokens::new(Keys::generate(), "https://id.example.com");
//! let now = chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap();
//! let claims = AccessClaims {
//!     sub: "u".into(), email: "a@example.com".into(), is_platform_owner: false,
//!     jti: "j".into(), sid: "s".into(), org: None, service: None, aud: "platform".into(),
//!     iss: tokens.issuer(), iat: now.timestamp(), exp: now.timestamp() + 900, nbf: None,
//! };
//! let token = tokens.sign(&claims);
//! assert_eq!(tokens.verify(&token, now), Ok(claims));
//! assert!(tokens.verify(&format!("{token}x"), now).is_err());
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod jwt;
mod keys;
pub mod timeline;

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Utc};
use org_ports::{AccessClaims, AccessTokens, TokenRejection};

pub use jwt::{ACCESS_TOKEN_TYP, sign, validate};
pub use keys::{KeyError, Keys, SigningAlg};

/// How many verified tokens are remembered before the memory is cleared.
const REMEMBERED: usize = 16_384;

/// Tokens whose signature checked out under the current key set.
#[derive(Default)]
struct Verified {
    by_token: HashMap<String, AccessClaims>,
}

/// Access tokens as JWTs over a replaceable key set.
pub struct JwtTokens {
    keys: RwLock<Keys>,
    issuer: String,
    verified: Mutex<Verified>,
}

impl std::fmt::Debug for JwtTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTokens")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtTokens {
    /// Tokens signed by `keys` and issued by `issuer` (the public base URL, no trailing `/`).
    pub fn new(keys: Keys, issuer: &str) -> Self {
        Self {
            keys: RwLock::new(keys),
            issuer: issuer.trim_end_matches('/').to_owned(),
            verified: Mutex::new(Verified::default()),
        }
    }

    /// The current key set.
    pub fn keys(&self) -> Keys {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps the key set (rotation or reload, §2.8); verified tokens are forgotten with the old
    /// set, so a token of a retired key is refused on its next use.
    pub fn replace_keys(&self, keys: Keys) {
        match self.keys.write() {
            Ok(mut k) => *k = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        if let Ok(mut v) = self.verified.lock() {
            v.by_token.clear();
        }
    }

    /// The JWKS document (§2.8).
    pub fn jwks(&self) -> serde_json::Value {
        self.keys().jwks()
    }

    /// A 32-byte secret derived from the signing key for another purpose (`domain` separates
    /// purposes), e.g. the cursor key when none is configured.
    pub fn derive_secret(&self, domain: &str) -> [u8; 32] {
        self.keys().derive_secret(domain)
    }

    fn remembered(&self, token: &str) -> Option<AccessClaims> {
        self.verified.lock().ok()?.by_token.get(token).cloned()
    }

    fn remember(&self, token: &str, claims: &AccessClaims) {
        if let Ok(mut v) = self.verified.lock() {
            if v.by_token.len() >= REMEMBERED {
                v.by_token.clear();
            }
            v.by_token.insert(token.to_owned(), claims.clone());
        }
    }
}

impl AccessTokens for JwtTokens {
    fn issuer(&self) -> String {
        self.issuer.clone()
    }

    fn sign(&self, claims: &AccessClaims) -> String {
        jwt::sign(&self.keys(), claims)
    }

    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenRejection> {
        let claims = match self.remembered(token) {
            Some(c) => c,
            None => {
                // Hold the key set for the whole check, so a concurrent replacement cannot
                // leave a result of the old set remembered under the new one.
                let keys = match self.keys.read() {
                    Ok(k) => k,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let c = jwt::verify_signed(&keys, &self.issuer, token)?;
                self.remember(token, &c);
                c
            }
        };
        jwt::check_times(&claims, now)?;
        Ok(claims)
    }
}
