//! Services (§19), member grants (§5.4) and login keys (§19.5) on SeaORM: the m0013 schema,
//! the rows, their writes inside a commit and their reads.
//!
//! - `services`: one versioned row per service, `(org_id, slug)` unique, going with its org.
//! - `service_grants`: one row per (service, member), going with its service (cascade) and,
//!   in the same commit, with a removed membership.
//! - `service_counts`: the kept service count of each org. A commit that adds services under
//!   a cap raises it with one conditional upsert (`… DO UPDATE … WHERE services + d <= cap`)
//!   evaluated on the row as locked, so concurrent creates at the cap never pass it together
//!   (SQLite writers are serialized by `BEGIN IMMEDIATE`).
//! - `login_keys`: hashes only; a name unique among live keys (partial unique index).

use async_trait::async_trait;
use org_domain::login_key::{LoginKey, LoginKeyRecord};
use org_domain::service::{Service, ServiceAccessLevel, ServiceGrant, ServiceRecord, ServiceSlug};
use org_domain::{LoginKeyId, OrgId, ServiceId, TokenHash, UserId};
use org_ports::{Changeset, ConflictKind, LoginKeyRepository, Page, PageRequest, ServiceRepository, StoreError};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, pk_uuid, string, text, text_null, timestamp_with_time_zone, uuid,
};
use std::collections::BTreeMap;

use crate::SeaStore;
use crate::error::{DbFailure, store_err};
use crate::mapping::{hash_from_row, hash_to_row, version_from_row, version_to_row};
use crate::migration::{create_indexes, fk};

pub(crate) mod service_row {
    //! `services`: one row per service of an org (§19.1).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "services")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub slug: String,
        pub name: String,
        pub description: Option<String>,
        pub enabled: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod grant_row {
    //! `service_grants`: a member's access to one service (§5.4).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_grants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub service_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub org_id: Uuid,
        pub access: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod count_row {
    //! `service_counts`: the kept service count of an org.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_counts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        pub services: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod login_key_row {
    //! `login_keys`: the login front-end's keys (§19.5), hashes only.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub prefix: String,
        pub key_hash: String,
        pub created_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// ---------------------------------------------------------------------------------------------
// Migration m0013
// ---------------------------------------------------------------------------------------------

/// Services, member grants, kept service counts and login keys (m0013, §19, §5.4, §19.5).
pub(crate) struct Services;

impl MigrationName for Services {
    fn name(&self) -> &str {
        "m0013_services"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Services {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("services")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(string("slug"))
                .col(text("name"))
                .col(text_null("description"))
                .col(boolean("enabled"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk("fk_services_org", ("services", "org_id"), "orgs", true))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("service_grants")
                .col(uuid("service_id"))
                .col(uuid("user_id"))
                .col(uuid("org_id"))
                .col(string("access"))
                .primary_key(Index::create().col("service_id").col("user_id"))
                .foreign_key(&mut fk(
                    "fk_service_grants_service",
                    ("service_grants", "service_id"),
                    "services",
                    true,
                ))
                .foreign_key(&mut fk(
                    "fk_service_grants_org",
                    ("service_grants", "org_id"),
                    "orgs",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("service_counts")
                .col(uuid("org_id").primary_key())
                .col(big_integer("services"))
                .foreign_key(&mut fk(
                    "fk_service_counts_org",
                    ("service_counts", "org_id"),
                    "orgs",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("login_keys")
                .col(pk_uuid("id"))
                .col(text("name"))
                .col(string("prefix"))
                .col(string("key_hash"))
                .col(timestamp_with_time_zone("created_at"))
                .col(sea_orm_migration::schema::timestamp_with_time_zone_null("revoked_at"))
                .col(big_integer("version"))
                .to_owned(),
        )
        .await?;
        create_indexes(
            m,
            &[
                ("ux_services_org_slug", "services", "org_id, slug", true, None),
                (
                    "ix_services_org_created",
                    "services",
                    "org_id, created_at, id",
                    false,
                    None,
                ),
                (
                    "ix_service_grants_member",
                    "service_grants",
                    "org_id, user_id",
                    false,
                    None,
                ),
                ("ux_login_keys_hash", "login_keys", "key_hash", true, None),
                (
                    "ux_login_keys_name_live",
                    "login_keys",
                    "name",
                    true,
                    Some("revoked_at IS NULL"),
                ),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["login_keys", "service_counts", "service_grants", "services"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------------------------

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn service_to_row(s: &Service, version: i64) -> service_row::ActiveModel {
    let r = s.record();
    service_row::ActiveModel {
        id: ActiveValue::Set(r.id.as_uuid()),
        org_id: ActiveValue::Set(r.org_id.as_uuid()),
        slug: ActiveValue::Set(r.slug.as_str().to_owned()),
        name: ActiveValue::Set(r.name.clone()),
        description: ActiveValue::Set(r.description.clone()),
        enabled: ActiveValue::Set(r.enabled),
        created_at: ActiveValue::Set(r.created_at),
        updated_at: ActiveValue::Set(r.updated_at),
        version: ActiveValue::Set(version),
    }
}

fn service_from_row(m: service_row::Model) -> Result<Service, StoreError> {
    let slug = ServiceSlug::parse(&m.slug).map_err(|e| corrupt(format!("services.slug: {e}")))?;
    Service::restore(ServiceRecord {
        id: ServiceId::from_uuid(m.id),
        org_id: OrgId::from_uuid(m.org_id),
        slug,
        name: m.name,
        description: m.description,
        enabled: m.enabled,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: version_from_row(m.version, "services")?,
    })
    .map_err(|e| corrupt(format!("services: {e}")))
}

fn grant_from_row(m: grant_row::Model) -> Result<ServiceGrant, StoreError> {
    let access =
        ServiceAccessLevel::parse(&m.access).ok_or_else(|| corrupt(format!("service_grants.access: {}", m.access)))?;
    Ok(ServiceGrant {
        org_id: OrgId::from_uuid(m.org_id),
        service_id: ServiceId::from_uuid(m.service_id),
        user_id: UserId::from_uuid(m.user_id),
        access,
    })
}

fn login_key_to_row(k: &LoginKey, version: i64) -> login_key_row::ActiveModel {
    let r = k.record();
    login_key_row::ActiveModel {
        id: ActiveValue::Set(r.id.as_uuid()),
        name: ActiveValue::Set(r.name.clone()),
        prefix: ActiveValue::Set(r.prefix.clone()),
        key_hash: ActiveValue::Set(hash_to_row(&r.key_hash)),
        created_at: ActiveValue::Set(r.created_at),
        revoked_at: ActiveValue::Set(r.revoked_at),
        version: ActiveValue::Set(version),
    }
}

fn login_key_from_row(m: login_key_row::Model) -> Result<LoginKey, StoreError> {
    Ok(LoginKey::restore(LoginKeyRecord {
        id: LoginKeyId::from_uuid(m.id),
        name: m.name,
        prefix: m.prefix,
        key_hash: hash_from_row(&m.key_hash, "login_keys.key_hash")?,
        created_at: m.created_at,
        revoked_at: m.revoked_at,
        version: version_from_row(m.version, "login_keys")?,
    }))
}

// ---------------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------------

/// A versioned update's miss: the row is gone (`NotFound`) or moved on (`StaleVersion`).
async fn stale_or_gone<E: EntityTrait>(txn: &DatabaseTransaction, id_col: E::Column, id: uuid::Uuid) -> DbFailure {
    match E::find().filter(id_col.eq(id)).one(txn).await {
        Ok(Some(_)) => StoreError::Conflict(ConflictKind::StaleVersion).into(),
        Ok(None) => StoreError::NotFound.into(),
        Err(e) => e.into(),
    }
}

/// This commit's writes of services, grants, service counts and login keys.
pub(crate) async fn write(txn: &DatabaseTransaction, backend: DbBackend, c: &Changeset) -> Result<(), DbFailure> {
    for m in &c.removed_memberships {
        grant_row::Entity::delete_many()
            .filter(grant_row::Column::OrgId.eq(m.org_id().as_uuid()))
            .filter(grant_row::Column::UserId.eq(m.user_id().as_uuid()))
            .exec(txn)
            .await?;
    }
    let mut deltas: BTreeMap<uuid::Uuid, i64> = BTreeMap::new();
    for s in &c.removed_services {
        let id = s.id().as_uuid();
        let gone = service_row::Entity::delete_many()
            .filter(service_row::Column::Id.eq(id))
            .filter(service_row::Column::Version.eq(version_to_row(s.record().version)?))
            .exec(txn)
            .await?;
        if gone.rows_affected != 1 {
            return Err(stale_or_gone::<service_row::Entity>(txn, service_row::Column::Id, id).await);
        }
        *deltas.entry(s.org_id().as_uuid()).or_default() -= 1;
    }
    for s in &c.services {
        let v = s.record().version;
        let id = s.id().as_uuid();
        if v == 0 {
            service_row::Entity::insert(service_to_row(s, 1))
                .exec_without_returning(txn)
                .await
                .map_err(|e| match DbFailure::from(e) {
                    DbFailure::ForeignKey => StoreError::NotFound.into(),
                    other => other,
                })?;
            *deltas.entry(s.org_id().as_uuid()).or_default() += 1;
            continue;
        }
        let mut row = service_to_row(s, version_to_row(v + 1)?);
        row.id = ActiveValue::NotSet;
        row.org_id = ActiveValue::NotSet;
        let updated = service_row::Entity::update_many()
            .set(row)
            .filter(service_row::Column::Id.eq(id))
            .filter(service_row::Column::Version.eq(version_to_row(v)?))
            .exec(txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(stale_or_gone::<service_row::Entity>(txn, service_row::Column::Id, id).await);
        }
    }
    for (org, d) in deltas {
        apply_count(txn, backend, org, d, c.service_cap).await?;
    }
    for g in &c.service_grants {
        let (sid, uid) = (g.service_id.as_uuid(), g.user_id.as_uuid());
        match g.access {
            Some(access) => {
                txn.execute_raw(Statement::from_sql_and_values(
                    backend,
                    "INSERT INTO service_grants (service_id, user_id, org_id, access) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (service_id, user_id) DO UPDATE SET access = excluded.access",
                    [
                        sid.into(),
                        uid.into(),
                        g.org_id.as_uuid().into(),
                        access.as_str().into(),
                    ],
                ))
                .await?;
            }
            None => {
                grant_row::Entity::delete_many()
                    .filter(grant_row::Column::ServiceId.eq(sid))
                    .filter(grant_row::Column::UserId.eq(uid))
                    .exec(txn)
                    .await?;
            }
        }
    }
    for k in &c.login_keys {
        let v = k.record().version;
        let id = k.id().as_uuid();
        if v == 0 {
            login_key_row::Entity::insert(login_key_to_row(k, 1))
                .exec_without_returning(txn)
                .await?;
            continue;
        }
        let mut row = login_key_to_row(k, version_to_row(v + 1)?);
        row.id = ActiveValue::NotSet;
        let updated = login_key_row::Entity::update_many()
            .set(row)
            .filter(login_key_row::Column::Id.eq(id))
            .filter(login_key_row::Column::Version.eq(version_to_row(v)?))
            .exec(txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(stale_or_gone::<login_key_row::Entity>(txn, login_key_row::Column::Id, id).await);
        }
    }
    Ok(())
}

/// Moves an org's kept service count by `d`. A rise is one upsert on the org's count row; under
/// a cap it is conditional and matches nothing when `services + d > cap` (→ `ServiceCap`),
/// decided on the row as locked by this transaction.
async fn apply_count(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    org: uuid::Uuid,
    d: i64,
    cap: Option<u32>,
) -> Result<(), DbFailure> {
    if d < 0 {
        count_row::Entity::update_many()
            .col_expr(
                count_row::Column::Services,
                Expr::col(count_row::Column::Services).add(d),
            )
            .filter(count_row::Column::OrgId.eq(org))
            .exec(txn)
            .await?;
        return Ok(());
    }
    if d == 0 {
        return Ok(());
    }
    let upsert = "INSERT INTO service_counts (org_id, services) VALUES ($1, $2) ON CONFLICT (org_id) DO UPDATE \
                  SET services = service_counts.services + excluded.services";
    let stmt = match cap.map(i64::from) {
        Some(cap) if d > cap => return Err(StoreError::Conflict(ConflictKind::ServiceCap).into()),
        Some(cap) => Statement::from_sql_and_values(
            backend,
            format!("{upsert} WHERE service_counts.services + excluded.services <= $3"),
            [org.into(), d.into(), cap.into()],
        ),
        None => Statement::from_sql_and_values(backend, upsert, [org.into(), d.into()]),
    };
    let n = match txn.execute_raw(stmt).await {
        Ok(r) => r.rows_affected(),
        Err(e) => {
            return Err(match DbFailure::from(e) {
                DbFailure::ForeignKey => StoreError::NotFound.into(),
                other => other,
            });
        }
    };
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(ConflictKind::ServiceCap).into())
    }
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl ServiceRepository for SeaStore {
    async fn service_page(&self, org: OrgId, page: PageRequest) -> Result<Page<Service>, StoreError> {
        let items = service_row::Entity::find()
            .filter(service_row::Column::OrgId.eq(org.as_uuid()))
            .order_by_asc(service_row::Column::CreatedAt)
            .order_by_asc(service_row::Column::Id)
            .offset(page.offset())
            .limit(u64::from(page.limit))
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(service_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let total = self.service_counts(&[org]).await?.first().map_or(0, |(_, n)| *n);
        Ok(Page {
            items,
            total: Some(u64::from(total)),
        })
    }

    async fn org_services(&self, org: OrgId) -> Result<Vec<Service>, StoreError> {
        service_row::Entity::find()
            .filter(service_row::Column::OrgId.eq(org.as_uuid()))
            .order_by_asc(service_row::Column::CreatedAt)
            .order_by_asc(service_row::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(service_from_row)
            .collect()
    }

    async fn service_by_slug(&self, org: OrgId, slug: &ServiceSlug) -> Result<Option<Service>, StoreError> {
        service_row::Entity::find()
            .filter(service_row::Column::OrgId.eq(org.as_uuid()))
            .filter(service_row::Column::Slug.eq(slug.as_str()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(service_from_row)
            .transpose()
    }

    async fn services_named(&self, org: OrgId, slugs: &[ServiceSlug]) -> Result<Vec<Service>, StoreError> {
        if slugs.is_empty() {
            return Ok(Vec::new());
        }
        service_row::Entity::find()
            .filter(service_row::Column::OrgId.eq(org.as_uuid()))
            .filter(service_row::Column::Slug.is_in(slugs.iter().map(|s| s.as_str().to_owned())))
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(service_from_row)
            .collect()
    }

    async fn service_counts(&self, orgs: &[OrgId]) -> Result<Vec<(OrgId, u32)>, StoreError> {
        if orgs.is_empty() {
            return Ok(Vec::new());
        }
        count_row::Entity::find()
            .filter(count_row::Column::OrgId.is_in(orgs.iter().map(OrgId::as_uuid)))
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|r| {
                let n = <u32 as TryFrom<i64>>::try_from(r.services)
                    .map_err(|_| corrupt(format!("service_counts: {}", r.services)))?;
                Ok((OrgId::from_uuid(r.org_id), n))
            })
            .collect()
    }

    async fn service_grants(&self, org: OrgId, user: UserId) -> Result<Vec<ServiceGrant>, StoreError> {
        grant_row::Entity::find()
            .filter(grant_row::Column::OrgId.eq(org.as_uuid()))
            .filter(grant_row::Column::UserId.eq(user.as_uuid()))
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(grant_from_row)
            .collect()
    }
}

#[async_trait]
impl LoginKeyRepository for SeaStore {
    async fn login_key_by_hash(&self, hash: &TokenHash) -> Result<Option<LoginKey>, StoreError> {
        login_key_row::Entity::find()
            .filter(login_key_row::Column::KeyHash.eq(hash_to_row(hash)))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(login_key_from_row)
            .transpose()
    }

    async fn live_login_key(&self, name: &str) -> Result<Option<LoginKey>, StoreError> {
        login_key_row::Entity::find()
            .filter(login_key_row::Column::Name.eq(name))
            .filter(login_key_row::Column::RevokedAt.is_null())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(login_key_from_row)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sea_orm::ConnectionTrait;
    use sea_orm_migration::MigratorTrait;

    use crate::migration::Migrator;
    use crate::migration::testing::{self, count as n};

    #[tokio::test]
    async fn m0013_keeps_slugs_unique_per_org_lets_rows_go_with_their_org_and_rolls_back() {
        let db = testing::migrated().await;
        let at = testing::AT;
        testing::owner_with_orgs(&db, &[("02", "a")]).await;
        let service = |id: &str, slug: &str| {
            format!(
                "INSERT INTO services (id, org_id, slug, name, description, enabled, created_at, updated_at, \
                 version) VALUES (X'{id}', X'02', '{slug}', 'n', NULL, 1, {at}, {at}, 1)"
            )
        };
        db.execute_unprepared(&service("0A", "app")).await.unwrap();
        assert!(
            db.execute_unprepared(&service("0B", "app")).await.is_err(),
            "a slug is unique in its org"
        );
        db.execute_unprepared(
            "INSERT INTO service_grants (service_id, user_id, org_id, access) VALUES (X'0A', X'01', X'02', 'viewer')",
        )
        .await
        .unwrap();
        db.execute_unprepared("INSERT INTO service_counts (org_id, services) VALUES (X'02', 1)")
            .await
            .unwrap();
        let key = |id: &str, hash: &str, revoked: &str| {
            format!(
                "INSERT INTO login_keys (id, name, prefix, key_hash, created_at, revoked_at, version) \
                 VALUES (X'{id}', 'fe', 'lk_', '{hash}', {at}, {revoked}, 1)"
            )
        };
        db.execute_unprepared(&key("1A", "h1", "NULL")).await.unwrap();
        assert!(
            db.execute_unprepared(&key("1B", "h2", "NULL")).await.is_err(),
            "a live name is unique"
        );
        db.execute_unprepared(&key("1C", "h3", at)).await.unwrap();
        db.execute_unprepared("DELETE FROM services WHERE id = X'0A'")
            .await
            .unwrap();
        assert_eq!(
            n(&db, "SELECT COUNT(*) AS n FROM service_grants").await,
            0,
            "grants go with their service"
        );
        db.execute_unprepared(&service("0C", "api")).await.unwrap();
        db.execute_unprepared("DELETE FROM orgs WHERE id = X'02'")
            .await
            .unwrap();
        let rows = "SELECT (SELECT COUNT(*) FROM services) + (SELECT COUNT(*) FROM service_counts) AS n";
        assert_eq!(n(&db, rows).await, 0, "the rows go with their org");
        let steps = testing::steps_to_before("m0013_services");
        Migrator::down(&db, Some(steps)).await.unwrap();
        let tables = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
                      AND name IN ('services', 'service_grants', 'service_counts', 'login_keys')";
        assert_eq!(n(&db, tables).await, 0);
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(n(&db, tables).await, 4);
    }
}
