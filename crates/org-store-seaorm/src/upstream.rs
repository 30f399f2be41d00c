//! Upstream identity providers (§11) in SQL: the `upstream_providers` table (m0012), its row
//! mapping (the client secret sealed, bound to its org and row), the reads, and the writes of
//! a changeset. `connection_id` is unique per org (`ux_upstream_providers_org_connection`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::OrgId;
use org_domain::upstream::{ProviderType, SamlCertificate, UpstreamProvider, UpstreamProviderId, UpstreamRecord};
use org_ports::{Changeset, Page, PageRequest, SecretCipher, SecretScope, StoreError};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::SeaStore;
use crate::error::{DbFailure, store_err};
use crate::mapping::{all_set, version_to_row};

pub mod upstream_provider {
    //! `upstream_providers`: one row per provider of an org; `client_secret` sealed;
    //! `certificates` one `<sha256 hex> <not_after RFC 3339>` line per signing certificate.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "upstream_providers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub connection_id: String,
        pub name: String,
        pub provider_type: String,
        pub client_id: String,
        /// Sealed text, never the secret.
        pub client_secret: Option<String>,
        pub issuer: Option<String>,
        pub authorization_url: Option<String>,
        pub token_url: Option<String>,
        pub userinfo_url: Option<String>,
        pub jwks_url: Option<String>,
        pub discovery_url: Option<String>,
        pub scopes: Option<String>,
        pub metadata: Option<String>,
        pub metadata_xml: Option<String>,
        pub metadata_url: Option<String>,
        pub certificates: String,
        pub enabled: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn scope(org_id: Uuid, id: Uuid) -> SecretScope {
    SecretScope::new(OrgId::from_uuid(org_id), "upstream_providers", "client_secret", id)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn to_row(
    p: &UpstreamProvider,
    version: i64,
    cipher: &dyn SecretCipher,
) -> Result<upstream_provider::Model, StoreError> {
    let r = p.record();
    let (org_id, id) = (r.org_id.as_uuid(), r.id.as_uuid());
    let client_secret = match &r.client_secret {
        Some(s) => Some(cipher.seal(s, &scope(org_id, id))?),
        None => None,
    };
    let certificates = r
        .certificates
        .iter()
        .map(|c| format!("{} {}", c.sha256_fingerprint, c.not_after.to_rfc3339()))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(upstream_provider::Model {
        id,
        org_id,
        connection_id: r.connection_id.clone(),
        name: r.name.clone(),
        provider_type: r.provider_type.as_str().to_owned(),
        client_id: r.client_id.clone(),
        client_secret,
        issuer: r.issuer.clone(),
        authorization_url: r.authorization_url.clone(),
        token_url: r.token_url.clone(),
        userinfo_url: r.userinfo_url.clone(),
        jwks_url: r.jwks_url.clone(),
        discovery_url: r.discovery_url.clone(),
        scopes: r.scopes.clone(),
        metadata: r.metadata.clone(),
        metadata_xml: r.metadata_xml.clone(),
        metadata_url: r.metadata_url.clone(),
        certificates,
        enabled: r.enabled,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version,
    })
}

fn from_row(m: upstream_provider::Model, cipher: &dyn SecretCipher) -> Result<UpstreamProvider, StoreError> {
    let provider_type = ProviderType::parse(&m.provider_type)
        .ok_or_else(|| corrupt(format!("upstream_providers {}: provider_type", m.id)))?;
    let client_secret = match &m.client_secret {
        Some(s) => Some(cipher.open(s, &scope(m.org_id, m.id))?),
        None => None,
    };
    let certificates = m
        .certificates
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (fp, at) = l
                .split_once(' ')
                .ok_or_else(|| corrupt(format!("upstream_providers {}: certificates", m.id)))?;
            let not_after = DateTime::parse_from_rfc3339(at)
                .map_err(|_| corrupt(format!("upstream_providers {}: certificate expiry", m.id)))?
                .with_timezone(&Utc);
            Ok(SamlCertificate {
                sha256_fingerprint: fp.to_owned(),
                not_after,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let version = u64::try_from(m.version).map_err(|_| corrupt(format!("upstream_providers {}: version", m.id)))?;
    Ok(UpstreamProvider::restore(UpstreamRecord {
        id: UpstreamProviderId::from_uuid(m.id),
        org_id: OrgId::from_uuid(m.org_id),
        connection_id: m.connection_id,
        name: m.name,
        provider_type,
        client_id: m.client_id,
        client_secret,
        issuer: m.issuer,
        authorization_url: m.authorization_url,
        token_url: m.token_url,
        userinfo_url: m.userinfo_url,
        jwks_url: m.jwks_url,
        discovery_url: m.discovery_url,
        scopes: m.scopes,
        metadata: m.metadata,
        metadata_xml: m.metadata_xml,
        metadata_url: m.metadata_url,
        certificates,
        enabled: m.enabled,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version,
    }))
}

/// The changeset's provider writes: deletes first (so a connection id freed in the same commit
/// can be taken), then inserts and compare-and-swap updates.
pub(crate) async fn write(
    txn: &DatabaseTransaction,
    cipher: &dyn SecretCipher,
    c: &Changeset,
) -> Result<(), DbFailure> {
    for p in &c.removed_upstream_providers {
        crate::write::delete_at::<upstream_provider::Entity>(txn, p.id().as_uuid(), p.record().version).await?;
    }
    for p in &c.upstream_providers {
        let v = p.record().version;
        let row: upstream_provider::ActiveModel = all_set(to_row(p, version_to_row(v + 1)?, cipher)?);
        crate::write::versioned::<upstream_provider::Entity>(txn, row, p.id().as_uuid(), v).await?;
    }
    Ok(())
}

#[async_trait]
impl org_ports::UpstreamRepository for SeaStore {
    async fn upstream_provider(
        &self,
        org: OrgId,
        id: UpstreamProviderId,
    ) -> Result<Option<UpstreamProvider>, StoreError> {
        self.load_data_keys(&[org.as_uuid()]).await?;
        upstream_provider::Entity::find_by_id(id.as_uuid())
            .filter(upstream_provider::Column::OrgId.eq(org.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(|m| from_row(m, &*self.cipher))
            .transpose()
    }

    async fn upstream_providers(&self, org: OrgId, page: PageRequest) -> Result<Page<UpstreamProvider>, StoreError> {
        self.load_data_keys(&[org.as_uuid()]).await?;
        let of_org = || upstream_provider::Entity::find().filter(upstream_provider::Column::OrgId.eq(org.as_uuid()));
        let total = of_org().count(&self.db).await.map_err(store_err)?;
        let rows = of_org()
            .order_by_asc(upstream_provider::Column::CreatedAt)
            .order_by_asc(upstream_provider::Column::Id)
            .offset(page.offset())
            .limit(u64::from(page.limit))
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let items = rows
            .into_iter()
            .map(|m| from_row(m, &*self.cipher))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: Some(total),
        })
    }
}
