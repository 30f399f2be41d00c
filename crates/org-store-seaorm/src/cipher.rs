//! [`AesGcmCipher`]: the [`SecretCipher`] of the SQL store — AES-256-GCM under key-encryption
//! keys with ids, one primary (contract §1.8).
//!
//! Stored text: `v1:<key_id>:<base64 nonce>:<base64 ciphertext+tag>` (standard base64 with
//! padding, a fresh random 96-bit nonce per seal). The associated data binds the blob to its
//! format version, its key id and its [`SecretScope`] `(org_id, table, column, row_id)`, each
//! field length-prefixed, so a blob copied to another row, column or org does not open.
//!
//! The store wraps each org's data key with it (`envelope.rs`); secret columns are sealed under
//! the data keys. Texts it sealed directly, from before data keys, still open (legacy).

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use org_ports::{SecretCipher, SecretScope, StoreError};

/// Format version of the stored text.
const VERSION: &str = "v1";
/// Length of an AES-GCM nonce (96 bits).
const NONCE_LEN: usize = 12;

/// Whether `id` is a valid key id: 1–32 characters of `[A-Za-z0-9_-]` (§21.8).
pub fn is_valid_key_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// AES-256-GCM with several key-encryption keys by id: seals with the primary, opens with the
/// key a blob names. `Debug` shows key ids only.
#[derive(Clone)]
pub struct AesGcmCipher {
    keys: HashMap<String, Aes256Gcm>,
    primary: String,
}

impl std::fmt::Debug for AesGcmCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("AesGcmCipher")
            .field("key_ids", &ids)
            .field("primary", &self.primary)
            .finish()
    }
}

impl AesGcmCipher {
    /// A cipher over `keys` (id → 32-byte key) that seals with `primary`. Refuses an empty
    /// list, invalid or duplicate ids, and a primary that is not among the keys.
    pub fn new(keys: Vec<(String, [u8; 32])>, primary: &str) -> Result<Self, String> {
        if keys.is_empty() {
            return Err("no encryption key".to_owned());
        }
        let mut map = HashMap::with_capacity(keys.len());
        for (id, bytes) in keys {
            if !is_valid_key_id(&id) {
                return Err(format!("invalid key id '{id}': use 1-32 characters of A-Z a-z 0-9 _ -"));
            }
            let key = Key::<Aes256Gcm>::from(bytes);
            if map.insert(id.clone(), Aes256Gcm::new(&key)).is_some() {
                return Err(format!("duplicate key id '{id}'"));
            }
        }
        if !map.contains_key(primary) {
            return Err(format!("primary key id '{primary}' is not among the configured keys"));
        }
        Ok(Self {
            keys: map,
            primary: primary.to_owned(),
        })
    }

    /// A cipher over one fresh random key with id `k1`; returns the key so it can be kept.
    pub fn generate() -> (Self, String, [u8; 32]) {
        let id = "k1".to_owned();
        let bytes: [u8; 32] = rand::random();
        let key = Key::<Aes256Gcm>::from(bytes);
        let cipher = Self {
            keys: HashMap::from([(id.clone(), Aes256Gcm::new(&key))]),
            primary: id.clone(),
        };
        (cipher, id, bytes)
    }

    /// The id of the key new blobs are sealed with.
    pub fn primary_key_id(&self) -> &str {
        &self.primary
    }
}

/// The associated data: version, key id and scope, each length-prefixed (no ambiguity
/// between fields).
fn associated_data(key_id: &str, scope: &SecretScope) -> Vec<u8> {
    let org = scope.org_id.to_string();
    let fields: [&[u8]; 6] = [
        VERSION.as_bytes(),
        key_id.as_bytes(),
        org.as_bytes(),
        scope.table.as_bytes(),
        scope.column.as_bytes(),
        scope.row_id.as_bytes(),
    ];
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for f in fields {
        // Every field is far below 4 GiB; saturate rather than wrap if one ever is not.
        out.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn corrupt(scope: &SecretScope, why: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "{}.{} of row {}: {why}",
        scope.table, scope.column, scope.row_id
    ))
}

impl SecretCipher for AesGcmCipher {
    fn seal(&self, plaintext: &str, aad: &SecretScope) -> Result<String, StoreError> {
        let key = self
            .keys
            .get(&self.primary)
            .ok_or_else(|| StoreError::Unavailable("the primary encryption key is missing".to_owned()))?;
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        let ad = associated_data(&self.primary, aad);
        let sealed = key
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &ad,
                },
            )
            .map_err(|_| StoreError::Unavailable(format!("cannot encrypt {}.{}", aad.table, aad.column)))?;
        Ok(format!(
            "{VERSION}:{}:{}:{}",
            self.primary,
            STANDARD.encode(nonce_bytes),
            STANDARD.encode(sealed)
        ))
    }

    fn open(&self, sealed: &str, aad: &SecretScope) -> Result<String, StoreError> {
        let mut parts = sealed.splitn(4, ':');
        let (Some(version), Some(key_id), Some(nonce), Some(body)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt(aad, "not an encrypted value"));
        };
        if version != VERSION {
            return Err(corrupt(aad, "unknown encryption format"));
        }
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| corrupt(aad, &format!("sealed with unknown key id '{key_id}'")))?;
        let nonce: [u8; NONCE_LEN] = STANDARD
            .decode(nonce)
            .ok()
            .and_then(|n| <[u8; NONCE_LEN]>::try_from(n.as_slice()).ok())
            .ok_or_else(|| corrupt(aad, "bad nonce"))?;
        let body = STANDARD
            .decode(body)
            .map_err(|_| corrupt(aad, "bad ciphertext encoding"))?;
        let ad = associated_data(key_id, aad);
        let plain = key
            .decrypt(&Nonce::from(nonce), Payload { msg: &body, aad: &ad })
            .map_err(|_| corrupt(aad, "cannot decrypt (wrong key, tampered, or sealed for another row)"))?;
        String::from_utf8(plain).map_err(|_| corrupt(aad, "decrypted value is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

    use org_domain::OrgId;

    use super::*;

    fn scope(org: OrgId, column: &'static str, row: &str) -> SecretScope {
        SecretScope::new(org, "webhooks", column, row)
    }

    #[test]
    fn a_sealed_secret_opens_only_in_its_own_scope() {
        let (c, id, _) = AesGcmCipher::generate();
        let org = OrgId::from_uuid(uuid::Uuid::now_v7());
        let here = scope(org, "secret", "row-1");
        let blob = c.seal("whsec_abc", &here).unwrap();
        assert!(blob.starts_with(&format!("v1:{id}:")), "{blob}");
        assert!(!blob.contains("whsec_abc"));
        assert_eq!(c.open(&blob, &here).unwrap(), "whsec_abc");
        let elsewhere = [
            scope(org, "secret", "row-2"),
            scope(org, "previous_secret", "row-1"),
            scope(OrgId::from_uuid(uuid::Uuid::now_v7()), "secret", "row-1"),
            SecretScope::new(org, "other", "secret", "row-1"),
        ];
        for s in &elsewhere {
            assert!(matches!(c.open(&blob, s), Err(StoreError::Corrupt(_))), "{s:?}");
        }
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let (c, _, _) = AesGcmCipher::generate();
        let s = scope(OrgId::from_uuid(uuid::Uuid::now_v7()), "secret", "r");
        assert_ne!(c.seal("x", &s).unwrap(), c.seal("x", &s).unwrap());
    }

    #[test]
    fn old_keys_keep_opening_after_a_new_primary_is_configured() {
        let (old, _, k1) = AesGcmCipher::generate();
        let s = scope(OrgId::from_uuid(uuid::Uuid::now_v7()), "secret", "r");
        let blob = old.seal("whsec_old", &s).unwrap();
        let both = AesGcmCipher::new(vec![("k1".into(), k1), ("k2".into(), [7; 32])], "k2").unwrap();
        assert_eq!(both.open(&blob, &s).unwrap(), "whsec_old");
        assert!(both.seal("new", &s).unwrap().starts_with("v1:k2:"));
        let without = AesGcmCipher::new(vec![("k2".into(), [7; 32])], "k2").unwrap();
        let err = without.open(&blob, &s).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("unknown key id 'k1'")),
            "{err:?}"
        );
    }

    #[test]
    fn tampered_or_malformed_blobs_are_corrupt() {
        let (c, _, _) = AesGcmCipher::generate();
        let s = scope(OrgId::from_uuid(uuid::Uuid::now_v7()), "secret", "r");
        let blob = c.seal("whsec_abc", &s).unwrap();
        let mut tampered = blob.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for bad in [
            "whsec_plain",
            "v2:k1:AAAA:AAAA",
            "v1:k1:AAAA:AAAA",
            "v1:k1:!!!:AAAA",
            &blob.replacen("v1:k1", "v1:k9", 1),
            &tampered,
        ] {
            assert!(matches!(c.open(bad, &s), Err(StoreError::Corrupt(_))), "{bad}");
        }
    }

    #[test]
    fn bad_key_sets_are_refused() {
        assert!(AesGcmCipher::new(vec![], "k1").is_err());
        assert!(AesGcmCipher::new(vec![("k 1".into(), [0; 32])], "k 1").is_err());
        assert!(AesGcmCipher::new(vec![("k1".into(), [0; 32])], "k2").is_err());
        assert!(AesGcmCipher::new(vec![("k1".into(), [0; 32]), ("k1".into(), [1; 32])], "k1").is_err());
        let c = AesGcmCipher::new(vec![("k1".into(), [0; 32])], "k1").unwrap();
        assert_eq!(format!("{c:?}"), r#"AesGcmCipher { key_ids: ["k1"], primary: "k1" }"#);
    }
}
