//! Production implementations of the ambient ports: the system clock, UUIDv7 ids and
//! CSPRNG tokens hashed with SHA-256. These are the only call sites of the system clock and
//! id generator (clippy.toml forbids them elsewhere).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, Utc};
use org_domain::TokenHash;
use org_ports::{Clock, IdGenerator, TokenIssuer};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The system clock, truncated to milliseconds (the stored precision).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(3)
    }
}

/// UUIDv7 ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7;

impl IdGenerator for UuidV7 {
    #[allow(clippy::disallowed_methods)]
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// 256-bit tokens from the OS CSPRNG, hashed with SHA-256.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomTokens;

/// SHA-256 of a token.
pub fn sha256_token(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

impl TokenIssuer for RandomTokens {
    fn issue(&self, prefix: &str) -> (String, TokenHash) {
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = sha256_token(&token);
        (token, hash)
    }

    fn hash(&self, token: &str) -> TokenHash {
        sha256_token(token)
    }

    fn random_bytes(&self) -> [u8; 32] {
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_prefix_43_base64url_characters_and_verify_by_hash() {
        let (token, hash) = RandomTokens.issue("inv_");
        let body = token.strip_prefix("inv_").unwrap_or_default();
        assert_eq!(body.len(), 43);
        assert!(body.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(RandomTokens.hash(&token), hash);
        assert_ne!(RandomTokens.issue("inv_").0, token);
    }
}
