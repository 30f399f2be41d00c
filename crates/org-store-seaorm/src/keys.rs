//! JWT signing keys at rest (§2.8): the rows of `signing_keys`, private keys sealed by the
//! secret cipher for the platform scope, read by every server and written by the first start
//! and `admin rotate-signing-key`.

use chrono::{DateTime, Utc};
use org_domain::OrgId;
use org_ports::{SecretCipher, SecretScope, StoreError};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set, TransactionTrait,
};

use crate::SeaStore;
use crate::entities::signing_key;
use crate::error::store_err;

/// A stored signing key, its private key in the clear (never logged).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    /// Unique and increasing: the order of the keys.
    pub generation: i64,
    /// `EdDSA` or `RS256`.
    pub algorithm: String,
    /// The public JWK (JSON text).
    pub public_jwk: String,
    /// The private key, PKCS#8 PEM.
    pub private_pem: String,
    /// Published from this time.
    pub created_at: DateTime<Utc>,
    pub signs_from: DateTime<Utc>,
    pub signs_until: Option<DateTime<Utc>>,
    pub retire_after: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("generation", &self.generation)
            .field("algorithm", &self.algorithm)
            .field("signs_from", &self.signs_from)
            .field("signs_until", &self.signs_until)
            .field("retire_after", &self.retire_after)
            .finish_non_exhaustive()
    }
}

fn scope(kid: &str) -> SecretScope {
    SecretScope::new(OrgId::from_uuid(uuid::Uuid::nil()), "signing_keys", "private_key", kid)
}

impl SeaStore {
    fn sealed_row(&self, k: &StoredSigningKey) -> Result<signing_key::ActiveModel, StoreError> {
        Ok(signing_key::ActiveModel {
            kid: Set(k.kid.clone()),
            generation: Set(k.generation),
            algorithm: Set(k.algorithm.clone()),
            public_jwk: Set(k.public_jwk.clone()),
            private_key: Set(self.cipher.seal(&k.private_pem, &scope(&k.kid))?),
            created_at: Set(k.created_at),
            signs_from: Set(k.signs_from),
            signs_until: Set(k.signs_until),
            retire_after: Set(k.retire_after),
        })
    }

    /// Every stored signing key, oldest generation first, private keys opened.
    pub async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.load_data_keys(&[uuid::Uuid::nil()]).await?;
        let rows = signing_key::Entity::find()
            .order_by_asc(signing_key::Column::Generation)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredSigningKey {
                    private_pem: self.cipher.open(&r.private_key, &scope(&r.kid))?,
                    kid: r.kid,
                    generation: r.generation,
                    algorithm: r.algorithm,
                    public_jwk: r.public_jwk,
                    created_at: r.created_at,
                    signs_from: r.signs_from,
                    signs_until: r.signs_until,
                    retire_after: r.retire_after,
                })
            })
            .collect()
    }

    /// Stores the first keys when the table is empty; `Ok(false)` (nothing written) when it
    /// holds keys already, also when another process stored its first keys at the same time.
    pub async fn insert_first_signing_keys(&self, keys: &[StoredSigningKey]) -> Result<bool, StoreError> {
        self.ensure_data_keys(&[uuid::Uuid::nil()]).await?;
        let rows = keys.iter().map(|k| self.sealed_row(k)).collect::<Result<Vec<_>, _>>()?;
        let _serialized = self.write_lock.lock().await;
        let tx = self.db.begin().await.map_err(store_err)?;
        let any = signing_key::Entity::find().one(&tx).await.map_err(store_err)?;
        if any.is_some() {
            return Ok(false);
        }
        for row in rows {
            if let Err(e) = row.insert(&tx).await {
                return match store_err(e) {
                    StoreError::Conflict(_) => Ok(false),
                    other => Err(other),
                };
            }
        }
        match tx.commit().await.map_err(store_err) {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A rotation (§2.8): every key without an end of signing gets `signs_until` and
    /// `retire_after`, and `new` is stored with the next generation (its `generation` is
    /// ignored). `Conflict` when another rotation won the race.
    pub async fn rotate_signing_key(
        &self,
        new: &StoredSigningKey,
        signs_until: DateTime<Utc>,
        retire_after: DateTime<Utc>,
    ) -> Result<StoredSigningKey, StoreError> {
        self.ensure_data_keys(&[uuid::Uuid::nil()]).await?;
        let _serialized = self.write_lock.lock().await;
        let tx = self.db.begin().await.map_err(store_err)?;
        let last = signing_key::Entity::find()
            .order_by_desc(signing_key::Column::Generation)
            .one(&tx)
            .await
            .map_err(store_err)?;
        let open = signing_key::Entity::find()
            .filter(signing_key::Column::SignsUntil.is_null())
            .all(&tx)
            .await
            .map_err(store_err)?;
        for row in open {
            let mut row = row.into_active_model();
            row.signs_until = Set(Some(signs_until));
            row.retire_after = Set(Some(retire_after));
            row.update(&tx).await.map_err(store_err)?;
        }
        let mut new = new.clone();
        new.generation = last.map_or(1, |r| r.generation + 1);
        self.sealed_row(&new)?.insert(&tx).await.map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::StoreOptions;

    fn key(kid: &str, generation: i64, at: DateTime<Utc>) -> StoredSigningKey {
        StoredSigningKey {
            kid: kid.to_owned(),
            generation,
            algorithm: "EdDSA".to_owned(),
            public_jwk: "{}".to_owned(),
            private_pem: format!("pem of {kid}"),
            created_at: at,
            signs_from: at,
            signs_until: None,
            retire_after: None,
        }
    }

    #[tokio::test]
    async fn the_first_keys_are_stored_once_and_a_rotation_ends_the_old_key() {
        let store = SeaStore::connect("sqlite::memory:", StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let t0 = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        assert!(store.signing_keys().await.unwrap().is_empty());
        assert!(store.insert_first_signing_keys(&[key("a", 1, t0)]).await.unwrap());
        assert!(!store.insert_first_signing_keys(&[key("b", 1, t0)]).await.unwrap());
        let t1 = t0 + chrono::Duration::minutes(1);
        let (until, retire) = (t1 + chrono::Duration::minutes(10), t1 + chrono::Duration::minutes(30));
        let mut new = key("c", 0, t1);
        new.signs_from = until;
        let stored = store.rotate_signing_key(&new, until, retire).await.unwrap();
        assert_eq!(stored.generation, 2);
        let keys = store.signing_keys().await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            (keys[0].kid.as_str(), keys[0].signs_until, keys[0].retire_after),
            ("a", Some(until), Some(retire))
        );
        assert_eq!(
            (keys[1].kid.as_str(), keys[1].signs_from, keys[1].signs_until),
            ("c", until, None)
        );
        assert_eq!(keys[0].private_pem, "pem of a", "the private key opens");
        // Sealed at rest.
        use sea_orm::{ConnectionTrait, Statement};
        let raw = store
            .db
            .query_one_raw(Statement::from_string(
                store.backend,
                "SELECT private_key FROM signing_keys WHERE kid = 'a'",
            ))
            .await
            .unwrap()
            .unwrap();
        let sealed: String = raw.try_get("", "private_key").unwrap();
        assert!(!sealed.contains("pem of a"), "{sealed}");
    }
}
