//! Login keys (§19.5, §2.9): the platform login front-end's bearer credentials for
//! `POST /api/platform/logins`. Issued and revoked by the admin CLI only; stored as a SHA-256
//! hash with a short visible prefix, never the key; a name is unique among live keys.

use chrono::{DateTime, Utc};

use crate::error::DomainError;
use crate::event::DomainEvent;
use crate::ids::LoginKeyId;
use crate::invitation::TokenHash;

/// The plaintext prefix of every login key (`lk_` + 43 base64url characters).
pub const LOGIN_KEY_PREFIX: &str = "lk_";

/// How many leading characters of the plaintext are kept visible (`lk_` and 8 more).
pub const VISIBLE_PREFIX_LEN: usize = 11;

/// A login key as stored. `Debug` shows neither the hash nor anything secret.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginKeyRecord {
    pub id: LoginKeyId,
    /// Trimmed, 1–100 characters, unique among live keys.
    pub name: String,
    /// The first [`VISIBLE_PREFIX_LEN`] characters of the plaintext.
    pub prefix: String,
    pub key_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version as loaded; 0 for a key not yet stored.
    pub version: u64,
}

impl std::fmt::Debug for LoginKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginKeyRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// A login key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginKey(LoginKeyRecord);

/// Login key facts (platform audit `login_key.issued` / `login_key.revoked`, §23.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginKeyEvent {
    Issued { key_id: LoginKeyId, name: String },
    Revoked { key_id: LoginKeyId, name: String },
}

/// The name of a login key: trimmed, 1–100 characters, no control characters.
pub fn login_key_name(input: &str) -> Result<String, DomainError> {
    let name = input.trim();
    let n = name.chars().count();
    if n == 0 || n > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name",
            "must be 1-100 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Whether two hashes are equal, in time independent of where they differ.
pub fn hashes_match(a: &TokenHash, b: &TokenHash) -> bool {
    a.0.iter().zip(b.0.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl LoginKey {
    /// Issues a key named `name` (checked) for the drawn `plaintext` and its `hash`; the
    /// caller shows the plaintext once. Uniqueness among live keys is the store's.
    pub fn issue(
        id: LoginKeyId,
        name: &str,
        plaintext: &str,
        hash: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<(Self, DomainEvent), DomainError> {
        let name = login_key_name(name)?;
        let prefix: String = plaintext.chars().take(VISIBLE_PREFIX_LEN).collect();
        let key = Self(LoginKeyRecord {
            id,
            name: name.clone(),
            prefix,
            key_hash: hash,
            created_at: now,
            revoked_at: None,
            version: 0,
        });
        Ok((key, DomainEvent::LoginKey(LoginKeyEvent::Issued { key_id: id, name })))
    }

    /// Rebuilds a key from storage.
    pub fn restore(record: LoginKeyRecord) -> Self {
        Self(record)
    }
    /// The stored state.
    pub fn record(&self) -> &LoginKeyRecord {
        &self.0
    }
    pub fn id(&self) -> LoginKeyId {
        self.0.id
    }
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// Whether the key is still accepted.
    pub fn is_live(&self) -> bool {
        self.0.revoked_at.is_none()
    }
    /// The same key as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }

    /// Whether `hash` (of a presented key) is this key's, compared in constant time.
    pub fn verifies(&self, hash: &TokenHash) -> bool {
        hashes_match(&self.0.key_hash, hash)
    }

    /// Revokes a live key (effective on its next use); a revoked one is not found.
    pub fn revoke(&mut self, now: DateTime<Utc>) -> Result<DomainEvent, DomainError> {
        if self.0.revoked_at.is_some() {
            return Err(DomainError::NotFound);
        }
        self.0.revoked_at = Some(now);
        Ok(DomainEvent::LoginKey(LoginKeyEvent::Revoked {
            key_id: self.0.id,
            name: self.0.name.clone(),
        }))
    }
}
