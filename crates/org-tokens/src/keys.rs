//! JWT signing keys (§2.1, §2.8): Ed25519 (`EdDSA`) or RSA (`RS256`), PKCS#8 PEM in and out,
//! JWKS out.
//!
//! A key's `kid` is its RFC 7638 JWK thumbprint, so it is stable across restarts and
//! instances. During a rotation the previous key stays in the verification set
//! ([`Keys::with_verification_key`]) while the new one signs.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The size of generated RSA keys, and the smallest one accepted when loading.
const RSA_BITS: usize = 2048;

/// Why a key could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError(pub String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid signing key: {}", self.0)
    }
}

impl std::error::Error for KeyError {}

/// The JWT signing algorithm of a key set (`auth.signing_alg`, §21.8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    /// Ed25519 (the default).
    #[default]
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    RS256,
}

impl SigningAlg {
    /// The JOSE name: `EdDSA` or `RS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
        }
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            Self::EdDSA => Algorithm::EdDSA,
            Self::RS256 => Algorithm::RS256,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "EdDSA" => Ok(Self::EdDSA),
            "RS256" => Ok(Self::RS256),
            other => Err(KeyError(format!(
                "unsupported signing algorithm '{other}' (EdDSA or RS256)"
            ))),
        }
    }
}

#[derive(Clone)]
struct Public {
    kid: String,
    /// The JWK members of the public key (`kty` and `crv, x` or `n, e`).
    jwk: Value,
    alg: SigningAlg,
    decoding: DecodingKey,
}

/// The RFC 7638 thumbprint of canonical JWK members (lexicographic order, no whitespace).
fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

impl Public {
    fn of_ed(key: &VerifyingKey) -> Self {
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        let kid = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
        Self {
            kid,
            decoding: DecodingKey::from_ed_der(key.as_bytes()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
            alg: SigningAlg::EdDSA,
        }
    }

    fn of_rsa(key: &RsaPublicKey) -> Self {
        let n_bytes = key.n().to_bytes_be();
        let e_bytes = key.e().to_bytes_be();
        let n = URL_SAFE_NO_PAD.encode(&n_bytes);
        let e = URL_SAFE_NO_PAD.encode(&e_bytes);
        let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
        Self {
            kid,
            decoding: DecodingKey::from_rsa_raw_components(&n_bytes, &e_bytes),
            jwk: json!({"kty": "RSA", "n": n, "e": e}),
            alg: SigningAlg::RS256,
        }
    }
}

enum Private {
    Ed(Box<SigningKey>),
    Rsa(Box<RsaPrivateKey>),
}

struct Inner {
    signing: Private,
    encoding: EncodingKey,
    /// The signing key's public part first, then the keys that only verify.
    public: Vec<Public>,
}

/// The signing key set: one key (Ed25519 or RSA) that signs, plus keys that only verify.
#[derive(Clone)]
pub struct Keys {
    inner: Arc<Inner>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.inner.public.iter().map(|p| p.kid.as_str()).collect();
        f.debug_struct("Keys")
            .field("alg", &self.alg())
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

impl Keys {
    fn from_ed(signing: SigningKey) -> Result<Self, KeyError> {
        let der = signing.to_pkcs8_der().map_err(|e| KeyError(e.to_string()))?;
        let public = vec![Public::of_ed(&signing.verifying_key())];
        Ok(Self {
            inner: Arc::new(Inner {
                encoding: EncodingKey::from_ed_der(der.as_bytes()),
                signing: Private::Ed(Box::new(signing)),
                public,
            }),
        })
    }

    fn from_rsa(signing: RsaPrivateKey) -> Result<Self, KeyError> {
        if signing.size() * 8 < RSA_BITS {
            return Err(KeyError(format!("RSA keys must have at least {RSA_BITS} bits")));
        }
        // jsonwebtoken signs with a PKCS#1 DER private key.
        let der = signing.to_pkcs1_der().map_err(|e| KeyError(e.to_string()))?;
        let public = vec![Public::of_rsa(&signing.to_public_key())];
        Ok(Self {
            inner: Arc::new(Inner {
                encoding: EncodingKey::from_rsa_der(der.as_bytes()),
                signing: Private::Rsa(Box::new(signing)),
                public,
            }),
        })
    }

    /// A fresh Ed25519 key from the OS CSPRNG (`EdDSA`, the default).
    pub fn generate() -> Self {
        let seed: [u8; 32] = rand::random();
        let signing = SigningKey::from_bytes(&seed);
        let der = signing
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        let public = vec![Public::of_ed(&signing.verifying_key())];
        Self {
            inner: Arc::new(Inner {
                encoding: EncodingKey::from_ed_der(&der),
                signing: Private::Ed(Box::new(signing)),
                public,
            }),
        }
    }

    /// A fresh key for `alg` from the OS CSPRNG: Ed25519, or 2048-bit RSA (slow in debug
    /// builds: about a second or more).
    pub fn generate_for(alg: SigningAlg) -> Result<Self, KeyError> {
        match alg {
            SigningAlg::EdDSA => Ok(Self::generate()),
            SigningAlg::RS256 => {
                let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS)
                    .map_err(|e| KeyError(format!("RSA key generation failed: {e}")))?;
                Self::from_rsa(key)
            }
        }
    }

    /// Loads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) private key, Ed25519 or RSA (at
    /// least 2048 bits); the algorithm follows the key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        match SigningKey::from_pkcs8_pem(pem) {
            Ok(signing) => Self::from_ed(signing),
            Err(ed_err) => match RsaPrivateKey::from_pkcs8_pem(pem) {
                Ok(key) => Self::from_rsa(key),
                Err(_) => Err(KeyError(ed_err.to_string())),
            },
        }
    }

    /// The signing key as PKCS#8 PEM (a secret: store it encrypted).
    pub fn to_pem(&self) -> String {
        let pem = match &self.inner.signing {
            Private::Ed(key) => key.to_pkcs8_pem(LineEnding::LF),
            Private::Rsa(key) => rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(key.as_ref(), LineEnding::LF),
        };
        pem.map(|pem| pem.as_str().to_owned()).unwrap_or_default()
    }

    /// The algorithm of the signing key: the `alg` of every token it signs and the only
    /// `alg` accepted when validating.
    pub fn alg(&self) -> SigningAlg {
        match self.inner.signing {
            Private::Ed(_) => SigningAlg::EdDSA,
            Private::Rsa(_) => SigningAlg::RS256,
        }
    }

    /// Adds the public part of `other`'s signing key (and its verification keys) to the
    /// verification set and the JWKS, e.g. the previous key during a rotation (§2.8).
    pub fn with_verification_key(self, other: &Keys) -> Self {
        let mut public = self.inner.public.clone();
        for p in &other.inner.public {
            if public.iter().all(|q| q.kid != p.kid) {
                public.push(p.clone());
            }
        }
        let signing = match &self.inner.signing {
            Private::Ed(key) => Private::Ed(key.clone()),
            Private::Rsa(key) => Private::Rsa(key.clone()),
        };
        Self {
            inner: Arc::new(Inner {
                signing,
                encoding: self.inner.encoding.clone(),
                public,
            }),
        }
    }

    /// A 32-byte key for another purpose derived from the private signing key:
    /// SHA-256(`domain` ‖ 0x00 ‖ private key bytes), the private key bytes being the Ed25519
    /// seed or the big-endian RSA private exponent. Secret as the signing key is.
    pub fn derive_secret(&self, domain: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(domain.as_bytes());
        h.update([0]);
        match &self.inner.signing {
            Private::Ed(key) => h.update(key.to_bytes()),
            Private::Rsa(key) => h.update(key.d().to_bytes_be()),
        }
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

    /// The JWKS document of §2.8: `{keys: [{kty, crv, x | n, e, kid, use, alg}]}`.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .inner
            .public
            .iter()
            .map(|p| {
                let mut jwk = p.jwk.clone();
                if let Some(obj) = jwk.as_object_mut() {
                    obj.insert("kid".into(), json!(p.kid));
                    obj.insert("use".into(), json!("sig"));
                    obj.insert("alg".into(), json!(p.alg.as_str()));
                }
                jwk
            })
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
#[allow(clippy::unwrap_used)]
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

    #[test]
    fn signing_algorithms_parse_by_their_jose_names_only() {
        assert_eq!("EdDSA".parse::<SigningAlg>(), Ok(SigningAlg::EdDSA));
        assert_eq!("RS256".parse::<SigningAlg>(), Ok(SigningAlg::RS256));
        assert!("rs256".parse::<SigningAlg>().is_err());
        assert!("ES256".parse::<SigningAlg>().is_err());
        assert_eq!(Keys::generate().alg(), SigningAlg::EdDSA);
        assert_eq!(SigningAlg::default().to_string(), "EdDSA");
    }
}
