//! JWT signing keys (§2.1, §2.8): Ed25519, PKCS#8 PEM in and out, JWKS out.
//!
//! A key's `kid` is its RFC 7638 JWK thumbprint, so it is stable across restarts and
//! instances. During a rotation the previous key stays in the verification set
//! ([`Keys::with_verification_key`]) while the new one signs.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why a key could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError(pub String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid signing key: {}", self.0)
    }
}

impl std::error::Error for KeyError {}

struct Public {
    kid: String,
    x: String,
    decoding: DecodingKey,
}

impl Public {
    fn of(key: &VerifyingKey) -> Self {
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        // RFC 7638: members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self {
            kid,
            decoding: DecodingKey::from_ed_der(key.as_bytes()),
            x,
        }
    }
}

struct Inner {
    signing: SigningKey,
    encoding: EncodingKey,
    /// The signing key's public part first, then the keys that only verify.
    public: Vec<Public>,
}

/// The signing key set: one Ed25519 key that signs, plus keys that only verify.
#[derive(Clone)]
pub struct Keys {
    inner: Arc<Inner>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.inner.public.iter().map(|p| p.kid.as_str()).collect();
        f.debug_struct("Keys").field("kids", &kids).finish_non_exhaustive()
    }
}

impl Keys {
    fn from_signing(signing: SigningKey) -> Result<Self, KeyError> {
        let der = signing.to_pkcs8_der().map_err(|e| KeyError(e.to_string()))?;
        let public = vec![Public::of(&signing.verifying_key())];
        Ok(Self {
            inner: Arc::new(Inner {
                encoding: EncodingKey::from_ed_der(der.as_bytes()),
                signing,
                public,
            }),
        })
    }

    /// A fresh Ed25519 key from the OS CSPRNG.
    pub fn generate() -> Self {
        let seed: [u8; 32] = rand::random();
        let signing = SigningKey::from_bytes(&seed);
        let der = signing
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        let public = vec![Public::of(&signing.verifying_key())];
        Self {
            inner: Arc::new(Inner {
                encoding: EncodingKey::from_ed_der(&der),
                signing,
                public,
            }),
        }
    }

    /// Loads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) Ed25519 private key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let signing = SigningKey::from_pkcs8_pem(pem).map_err(|e| KeyError(e.to_string()))?;
        Self::from_signing(signing)
    }

    /// The signing key as PKCS#8 PEM (a secret: store it encrypted).
    pub fn to_pem(&self) -> String {
        self.inner
            .signing
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.as_str().to_owned())
            .unwrap_or_default()
    }

    /// Adds the public part of `other`'s signing key (and its verification keys) to the
    /// verification set and the JWKS, e.g. the previous key during a rotation (§2.8).
    pub fn with_verification_key(self, other: &Keys) -> Self {
        let mut public: Vec<Public> = self
            .inner
            .public
            .iter()
            .map(|p| Public {
                kid: p.kid.clone(),
                x: p.x.clone(),
                decoding: p.decoding.clone(),
            })
            .collect();
        for p in &other.inner.public {
            if public.iter().all(|q| q.kid != p.kid) {
                public.push(Public {
                    kid: p.kid.clone(),
                    x: p.x.clone(),
                    decoding: p.decoding.clone(),
                });
            }
        }
        Self {
            inner: Arc::new(Inner {
                signing: self.inner.signing.clone(),
                encoding: self.inner.encoding.clone(),
                public,
            }),
        }
    }

    /// A 32-byte key for another purpose derived from the private signing key:
    /// SHA-256(`domain` ‖ 0x00 ‖ private key bytes). Secret as the signing key is.
    pub(crate) fn derive_secret(&self, domain: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(domain.as_bytes());
        h.update([0]);
        h.update(self.inner.signing.to_bytes());
        h.finalize().into()
    }

    /// The `kid` of the signing key.
    pub fn kid(&self) -> &str {
        self.inner.public.first().map_or("", |p| p.kid.as_str())
    }

    /// The `kid`s of every key that verifies.
    pub fn kids(&self) -> Vec<String> {
        self.inner.public.iter().map(|p| p.kid.clone()).collect()
    }

    /// The JWKS document of §2.8: `{keys: [{kty, crv, x, kid, use, alg}]}`.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .inner
            .public
            .iter()
            .map(|p| json!({"kty": "OKP", "crv": "Ed25519", "x": p.x, "kid": p.kid, "use": "sig", "alg": "EdDSA"}))
            .collect();
        json!({ "keys": keys })
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.inner.encoding
    }

    pub(crate) fn decoding(&self, kid: &str) -> Option<&DecodingKey> {
        self.inner.public.iter().find(|p| p.kid == kid).map(|p| &p.decoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_survives_a_pem_round_trip_with_the_same_kid() {
        let keys = Keys::generate();
        let pem = keys.to_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = Keys::from_pem(&pem).unwrap();
        assert_eq!(again.kid(), keys.kid());
        assert_eq!(again.jwks(), keys.jwks());
        assert!(Keys::from_pem("not a key").is_err());
    }

    #[test]
    fn a_rotation_publishes_both_keys_and_signs_with_the_new_one() {
        let old = Keys::generate();
        let new = Keys::generate().with_verification_key(&old);
        assert_eq!(new.kids().len(), 2);
        assert_ne!(new.kid(), old.kid());
        assert!(new.decoding(old.kid()).is_some());
        assert_eq!(new.jwks()["keys"].as_array().map(Vec::len), Some(2));
    }
}
