//! SIEM configs (§17) in SQL: the `siem_configs` table (m0011), its row mapping (secrets
//! sealed, bound to org, table, column and row), the reads of [`SiemRepository`] and the
//! changeset writes: config writes touch config columns only; progress writes are a
//! compare-and-set on the cursor.

use chrono::{DateTime, Utc};
use org_domain::siem::{SiemConfig, SiemConfigRecord, SiemProgress, SiemProvider};
use org_domain::{OrgId, SiemConfigId};
use org_ports::{Changeset, ConflictKind, SecretCipher, SecretScope, SiemRepository, StoreError};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::SeaStore;
use crate::error::{DbFailure, store_err};

pub(crate) mod siem_config {
    //! `siem_configs`: one SIEM streaming config (§17); `api_key` and `auth_header` sealed;
    //! `cursor` … `next_attempt_at` are the stream's progress, written by the worker only.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "siem_configs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        pub provider_type: String,
        pub endpoint_url: String,
        /// Sealed text, never the key.
        pub api_key: Option<String>,
        /// Sealed text, never the header.
        pub auth_header: Option<String>,
        pub batch_size: i32,
        pub enabled: bool,
        pub cursor: Option<i64>,
        pub failure_count: i32,
        pub last_error: Option<String>,
        pub last_successful_batch_at: Option<DateTimeUtc>,
        pub next_attempt_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use siem_config::{ActiveModel, Column, Entity, Model};

const TABLE: &str = "siem_configs";

fn scope(org_id: uuid::Uuid, column: &'static str, id: uuid::Uuid) -> SecretScope {
    SecretScope::new(OrgId::from_uuid(org_id), TABLE, column, id)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{TABLE}: {what}"))
}

fn seal(
    cipher: &dyn SecretCipher,
    value: Option<&String>,
    org: uuid::Uuid,
    column: &'static str,
    id: uuid::Uuid,
) -> Result<Option<String>, StoreError> {
    value.map(|v| cipher.seal(v, &scope(org, column, id))).transpose()
}

fn cursor_to_row(c: Option<u64>) -> Result<Option<i64>, StoreError> {
    c.map(|c| i64::try_from(c).map_err(|_| StoreError::Unavailable(format!("cursor {c} out of range"))))
        .transpose()
}

fn version_to_row(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Unavailable(format!("version {v} out of range")))
}

fn to_row(c: &SiemConfig, version: i64, cipher: &dyn SecretCipher) -> Result<Model, StoreError> {
    let r = c.record();
    let (org, id) = (r.org_id.as_uuid(), r.id.as_uuid());
    let p = &r.progress;
    Ok(Model {
        id,
        org_id: org,
        name: r.name.clone(),
        provider_type: r.provider.as_str().to_owned(),
        endpoint_url: r.endpoint_url.clone(),
        api_key: seal(cipher, r.api_key.as_ref(), org, "api_key", id)?,
        auth_header: seal(cipher, r.auth_header.as_ref(), org, "auth_header", id)?,
        batch_size: i32::try_from(r.batch_size).map_err(|_| StoreError::Unavailable("batch_size".into()))?,
        enabled: r.enabled,
        cursor: cursor_to_row(p.cursor)?,
        failure_count: i32::try_from(p.failure_count).unwrap_or(i32::MAX),
        last_error: p.last_error.clone(),
        last_successful_batch_at: p.last_successful_batch_at,
        next_attempt_at: p.next_attempt_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version,
    })
}

fn from_row(m: Model, cipher: &dyn SecretCipher) -> Result<SiemConfig, StoreError> {
    let open = |v: Option<String>, column| v.map(|v| cipher.open(&v, &scope(m.org_id, column, m.id))).transpose();
    let provider = SiemProvider::parse(&m.provider_type).ok_or_else(|| corrupt(format!("{}: provider", m.id)))?;
    Ok(SiemConfig::restore(SiemConfigRecord {
        id: SiemConfigId::from_uuid(m.id),
        org_id: OrgId::from_uuid(m.org_id),
        name: m.name.clone(),
        provider,
        endpoint_url: m.endpoint_url.clone(),
        api_key: open(m.api_key.clone(), "api_key")?,
        auth_header: open(m.auth_header.clone(), "auth_header")?,
        batch_size: u32::try_from(m.batch_size).map_err(|_| corrupt(format!("{}: batch_size", m.id)))?,
        enabled: m.enabled,
        progress: SiemProgress {
            cursor: m
                .cursor
                .map(|c| u64::try_from(c).map_err(|_| corrupt(format!("{}: cursor", m.id))))
                .transpose()?,
            failure_count: u32::try_from(m.failure_count).unwrap_or_default(),
            last_error: m.last_error,
            last_successful_batch_at: m.last_successful_batch_at,
            next_attempt_at: m.next_attempt_at,
        },
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: u64::try_from(m.version).map_err(|_| corrupt(format!("{}: version", m.id)))?,
    }))
}

#[async_trait::async_trait]
impl SiemRepository for SeaStore {
    async fn org_siem_configs(&self, org: OrgId) -> Result<Vec<SiemConfig>, StoreError> {
        self.load_data_keys(&[org.as_uuid()]).await?;
        Entity::find()
            .filter(Column::OrgId.eq(org.as_uuid()))
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|m| from_row(m, &*self.cipher))
            .collect()
    }

    async fn siem_config(&self, org: OrgId, id: SiemConfigId) -> Result<Option<SiemConfig>, StoreError> {
        self.load_data_keys(&[org.as_uuid()]).await?;
        Entity::find_by_id(id.as_uuid())
            .filter(Column::OrgId.eq(org.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(|m| from_row(m, &*self.cipher))
            .transpose()
    }

    async fn streaming_siem_configs(
        &self,
        now: DateTime<Utc>,
        after: Option<SiemConfigId>,
        limit: u32,
    ) -> Result<Vec<SiemConfig>, StoreError> {
        let mut q = Entity::find().filter(Column::Enabled.eq(true)).filter(
            Condition::any()
                .add(Column::NextAttemptAt.is_null())
                .add(Column::NextAttemptAt.lte(now)),
        );
        if let Some(a) = after {
            q = q.filter(Column::Id.gt(a.as_uuid()));
        }
        let rows = q
            .order_by_asc(Column::Id)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let orgs: Vec<uuid::Uuid> = rows.iter().map(|m| m.org_id).collect();
        self.load_data_keys(&orgs).await?;
        rows.into_iter().map(|m| from_row(m, &*self.cipher)).collect()
    }
}

/// Whether the row `id` exists (to tell a stale write from a vanished row).
async fn exists(txn: &DatabaseTransaction, id: uuid::Uuid) -> Result<bool, DbFailure> {
    Ok(Entity::find_by_id(id).one(txn).await?.is_some())
}

async fn stale_or_gone(txn: &DatabaseTransaction, id: uuid::Uuid) -> DbFailure {
    match exists(txn, id).await {
        Ok(true) => StoreError::Conflict(ConflictKind::StaleVersion).into(),
        Ok(false) => StoreError::NotFound.into(),
        Err(e) => e,
    }
}

/// The changeset's SIEM writes: deletions, config writes, then progress.
pub(crate) async fn write(
    txn: &DatabaseTransaction,
    cipher: &dyn SecretCipher,
    c: &Changeset,
) -> Result<(), DbFailure> {
    for x in &c.removed_siem_configs {
        let done = Entity::delete_many()
            .filter(Column::Id.eq(x.id().as_uuid()))
            .filter(Column::OrgId.eq(x.org_id().as_uuid()))
            .filter(Column::Version.eq(version_to_row(x.record().version)?))
            .exec(txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(stale_or_gone(txn, x.id().as_uuid()).await);
        }
    }
    for x in &c.siem_configs {
        let v = x.record().version;
        let row = to_row(x, version_to_row(v + 1)?, cipher)?;
        if v == 0 {
            let active: ActiveModel = crate::mapping::all_set(row);
            Entity::insert(active)
                .exec_without_returning(txn)
                .await
                .map_err(|e| match DbFailure::from(e) {
                    DbFailure::ForeignKey => StoreError::NotFound.into(),
                    other => other,
                })?;
            continue;
        }
        // Config columns only: the stream's progress is the worker's.
        let done = Entity::update_many()
            .col_expr(Column::Name, Expr::value(row.name))
            .col_expr(Column::EndpointUrl, Expr::value(row.endpoint_url))
            .col_expr(Column::ApiKey, Expr::value(row.api_key))
            .col_expr(Column::AuthHeader, Expr::value(row.auth_header))
            .col_expr(Column::BatchSize, Expr::value(row.batch_size))
            .col_expr(Column::Enabled, Expr::value(row.enabled))
            .col_expr(Column::UpdatedAt, Expr::value(row.updated_at))
            .col_expr(Column::Version, Expr::value(row.version))
            .filter(Column::Id.eq(row.id))
            .filter(Column::OrgId.eq(row.org_id))
            .filter(Column::Version.eq(version_to_row(v)?))
            .exec(txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(stale_or_gone(txn, row.id).await);
        }
    }
    for p in &c.siem_progress {
        let expected = match cursor_to_row(p.expected_cursor)? {
            Some(e) => Column::Cursor.eq(e),
            None => Column::Cursor.is_null(),
        };
        let g = &p.progress;
        let done = Entity::update_many()
            .col_expr(Column::Cursor, Expr::value(cursor_to_row(g.cursor)?))
            .col_expr(
                Column::FailureCount,
                Expr::value(i32::try_from(g.failure_count).unwrap_or(i32::MAX)),
            )
            .col_expr(Column::LastError, Expr::value(g.last_error.clone()))
            .col_expr(Column::LastSuccessfulBatchAt, Expr::value(g.last_successful_batch_at))
            .col_expr(Column::NextAttemptAt, Expr::value(g.next_attempt_at))
            .filter(Column::Id.eq(p.config_id.as_uuid()))
            .filter(Column::OrgId.eq(p.org_id.as_uuid()))
            .filter(expected)
            .exec(txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(StoreError::Conflict(ConflictKind::StaleVersion).into());
        }
    }
    Ok(())
}

pub(crate) use m0011::Migration;

mod m0011 {
    use sea_orm::ConnectionTrait;
    use sea_orm_migration::prelude::*;
    use sea_orm_migration::schema::{
        big_integer, big_integer_null, boolean, integer, pk_uuid, string, text, text_null, timestamp_with_time_zone,
        timestamp_with_time_zone_null, uuid,
    };

    use super::TABLE;

    /// SIEM streaming (m0011, §17): one row per config, its secrets sealed, names unique per org,
    /// rows going with their org; the stream's progress on the row.
    pub(crate) struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0011_siem"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        fn use_transaction(&self) -> Option<bool> {
            Some(true)
        }

        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table(TABLE)
                    .col(pk_uuid("id"))
                    .col(uuid("org_id"))
                    .col(string("name"))
                    .col(string("provider_type"))
                    .col(text("endpoint_url"))
                    .col(text_null("api_key"))
                    .col(text_null("auth_header"))
                    .col(integer("batch_size"))
                    .col(boolean("enabled"))
                    .col(big_integer_null("cursor"))
                    .col(integer("failure_count"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone_null("last_successful_batch_at"))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(big_integer("version"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_siem_configs_org")
                            .from(TABLE, "org_id")
                            .to("orgs", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
            let db = m.get_connection();
            db.execute_unprepared("CREATE UNIQUE INDEX ux_siem_configs_org_name ON siem_configs (org_id, name)")
                .await?;
            db.execute_unprepared("CREATE INDEX ix_siem_configs_org_created ON siem_configs (org_id, created_at, id)")
                .await?;
            db.execute_unprepared("CREATE INDEX ix_siem_configs_enabled ON siem_configs (enabled, id)")
                .await?;
            Ok(())
        }

        async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.drop_table(Table::drop().table(TABLE).to_owned()).await
        }
    }
}
