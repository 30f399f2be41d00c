//! Login rows (§19.5, §22.3) on SeaORM: tables of migration m0016, reads and writes.
//!
//! - `sessions.service_id`: the service of a `service` session (§2.4), indexed for the
//!   revocation of a deleted service's sessions.
//! - `login_identities`: identities issued through an org, keyed by
//!   `(org_id, provider, provider_key)`, insert-once.
//! - `end_users`: one row per (org, user) with a service login: `created_at` (when the user
//!   became an end user) and `last_login_at`. The MAU count (§22.3) is an index range on
//!   `ix_end_users_org_last (org_id, last_login_at)`; it runs under the org row's lock
//!   (`FOR UPDATE` on PostgreSQL; SQLite writers are serialized) when a commit carries a cap.
//! - The risk engine's history reads the risk events through `ix_risk_events_org_user` /
//!   `ix_risk_events_org_email` (m0014), each read bounded by its limit.
//!
//! All go with their org (cascading foreign keys).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::login::LoginIdentity;
use org_domain::risk::RiskEvent;
use org_domain::{OrgId, ServiceId, Session, SessionKind, UserId};
use org_ports::{
    Changeset, ConflictKind, EndUserQuery, EndUserRow, EndUserStanding, HistoryQuery, LoginRepository, LoginSubject,
    StoreError,
};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

use crate::SeaStore;
use crate::error::{DbFailure, store_err};
use crate::risk::{event_from_row, risk_event};

pub(crate) mod login_identity {
    //! `login_identities`: an identity issued through an org (§19.5).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_identities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider_key: String,
        pub user_id: Uuid,
        pub service_id: Option<Uuid>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod end_user {
    //! `end_users`: a user with a service login to an org (§19).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "end_users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub created_at: DateTimeUtc,
        pub last_login_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// ---------------------------------------------------------------------------- reads

fn rows(found: Vec<risk_event::Model>) -> Result<Vec<RiskEvent>, StoreError> {
    found.into_iter().map(event_from_row).collect()
}

#[async_trait]
impl LoginRepository for SeaStore {
    async fn login_history(
        &self,
        org: OrgId,
        subject: &LoginSubject,
        query: &HistoryQuery,
    ) -> Result<Vec<RiskEvent>, StoreError> {
        let of = || {
            let q = risk_event::Entity::find().filter(risk_event::Column::OrgId.eq(org.as_uuid()));
            match subject {
                LoginSubject::User(u) => q.filter(risk_event::Column::UserId.eq(u.as_uuid())),
                LoginSubject::Email(e) => q
                    .filter(risk_event::Column::UserId.is_null())
                    .filter(risk_event::Column::UserEmail.eq(e.as_str())),
            }
        };
        let mut out = rows(
            of().filter(risk_event::Column::CreatedAt.gte(query.velocity_since))
                .order_by_desc(risk_event::Column::CreatedAt)
                .limit(u64::from(query.velocity_limit))
                .all(&self.db)
                .await
                .map_err(store_err)?,
        )?;
        if matches!(subject, LoginSubject::User(_)) {
            let located = of()
                .filter(risk_event::Column::Success.eq(true))
                .filter(risk_event::Column::GeoLat.is_not_null())
                .filter(risk_event::Column::GeoLong.is_not_null())
                .order_by_desc(risk_event::Column::CreatedAt)
                .limit(1)
                .all(&self.db)
                .await
                .map_err(store_err)?;
            out.extend(rows(located)?);
            if let Some(key) = &query.device_key {
                let known = of()
                    .filter(risk_event::Column::Success.eq(true))
                    .filter(risk_event::Column::CreatedAt.gte(query.device_since))
                    .filter(risk_event::Column::DeviceKey.eq(key.as_str()))
                    .limit(1)
                    .all(&self.db)
                    .await
                    .map_err(store_err)?;
                out.extend(rows(known)?);
            }
        }
        Ok(out)
    }

    async fn mau_count(&self, org: OrgId, since: DateTime<Utc>) -> Result<u64, StoreError> {
        end_user::Entity::find()
            .filter(end_user::Column::OrgId.eq(org.as_uuid()))
            .filter(end_user::Column::LastLoginAt.gte(since))
            .count(&self.db)
            .await
            .map_err(store_err)
    }

    async fn end_user(&self, org: OrgId, user: UserId) -> Result<Option<EndUserStanding>, StoreError> {
        Ok(end_user::Entity::find_by_id((org.as_uuid(), user.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(|m| EndUserStanding {
                since: m.created_at,
                last_login_at: m.last_login_at,
            }))
    }

    async fn end_user_page(&self, org: OrgId, query: &EndUserQuery) -> Result<Vec<EndUserRow>, StoreError> {
        self.end_user_page_rows(org, query).await
    }

    async fn end_user_count(&self, org: OrgId, service: Option<ServiceId>) -> Result<u64, StoreError> {
        self.end_users_of(org, service).count(&self.db).await.map_err(store_err)
    }

    async fn identities(&self, org: OrgId, users: &[UserId]) -> Result<Vec<LoginIdentity>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        Ok(login_identity::Entity::find()
            .filter(login_identity::Column::OrgId.eq(org.as_uuid()))
            .filter(login_identity::Column::UserId.is_in(users.iter().map(|u| u.as_uuid())))
            .order_by_asc(login_identity::Column::CreatedAt)
            .order_by_asc(login_identity::Column::Provider)
            .order_by_asc(login_identity::Column::ProviderKey)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|m| LoginIdentity {
                org_id: OrgId::from_uuid(m.org_id),
                user_id: UserId::from_uuid(m.user_id),
                provider: m.provider,
                provider_key: m.provider_key,
                service_id: m.service_id.map(ServiceId::from_uuid),
                created_at: m.created_at,
            })
            .collect())
    }

    async fn recent_logins(&self, org: OrgId, user: UserId, limit: u32) -> Result<Vec<RiskEvent>, StoreError> {
        rows(
            risk_event::Entity::find()
                .filter(risk_event::Column::OrgId.eq(org.as_uuid()))
                .filter(risk_event::Column::UserId.eq(user.as_uuid()))
                .order_by_desc(risk_event::Column::CreatedAt)
                .order_by_desc(risk_event::Column::Id)
                .limit(u64::from(limit))
                .all(&self.db)
                .await
                .map_err(store_err)?,
        )
    }

    async fn end_user_sessions(&self, org: OrgId, user: UserId) -> Result<Vec<Session>, StoreError> {
        use crate::entities::session;
        session::Entity::find()
            .filter(session::Column::OrgId.eq(org.as_uuid()))
            .filter(session::Column::UserId.eq(user.as_uuid()))
            .filter(session::Column::Kind.eq(SessionKind::Service.as_str()))
            .filter(session::Column::RevokedAt.is_null())
            .order_by_asc(session::Column::CreatedAt)
            .order_by_asc(session::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|m| crate::mapping::session_from_row(m, &*self.cipher))
            .collect()
    }
}

impl SeaStore {
    fn end_users_of(&self, org: OrgId, service: Option<ServiceId>) -> sea_orm::Select<end_user::Entity> {
        let q = end_user::Entity::find().filter(end_user::Column::OrgId.eq(org.as_uuid()));
        match service {
            None => q,
            Some(sv) => q.filter(
                end_user::Column::UserId.in_subquery(
                    Query::select()
                        .column(login_identity::Column::UserId)
                        .from(login_identity::Entity)
                        .and_where(login_identity::Column::OrgId.eq(org.as_uuid()))
                        .and_where(login_identity::Column::ServiceId.eq(sv.as_uuid()))
                        .to_owned(),
                ),
            ),
        }
    }

    pub(crate) async fn end_user_page_rows(
        &self,
        org: OrgId,
        query: &EndUserQuery,
    ) -> Result<Vec<EndUserRow>, StoreError> {
        let mut q = self.end_users_of(org, query.service);
        if let Some((at, user)) = query.before {
            q = q.filter(
                Condition::any().add(end_user::Column::CreatedAt.lt(at)).add(
                    Condition::all()
                        .add(end_user::Column::CreatedAt.eq(at))
                        .add(end_user::Column::UserId.lt(user.as_uuid())),
                ),
            );
        }
        Ok(q.order_by_desc(end_user::Column::CreatedAt)
            .order_by_desc(end_user::Column::UserId)
            .offset(query.offset)
            .limit(u64::from(query.limit))
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|m| EndUserRow {
                user_id: UserId::from_uuid(m.user_id),
                standing: EndUserStanding {
                    since: m.created_at,
                    last_login_at: m.last_login_at,
                },
            })
            .collect())
    }
}

// ---------------------------------------------------------------------------- writes

/// The login rows of a changeset, after the org and user rows: the MAU cap decided under the
/// org row's lock, then the end users (upserts) and the identities (insert-once).
pub(crate) async fn write(txn: &DatabaseTransaction, backend: DbBackend, c: &Changeset) -> Result<(), DbFailure> {
    if let Some(cap) = c.mau_cap {
        let org = cap.org_id.as_uuid();
        if backend == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                "SELECT id FROM orgs WHERE id = $1 FOR UPDATE",
                [org.into()],
            ))
            .await?;
        }
        let mut count = end_user::Entity::find()
            .filter(end_user::Column::OrgId.eq(org))
            .filter(end_user::Column::LastLoginAt.gte(cap.since))
            .count(txn)
            .await?;
        for l in c.end_user_logins.iter().filter(|l| l.org_id == cap.org_id) {
            let active = end_user::Entity::find_by_id((org, l.user_id.as_uuid()))
                .one(txn)
                .await?
                .is_some_and(|m| m.last_login_at >= cap.since);
            if !active {
                if count >= cap.cap {
                    return Err(StoreError::Conflict(ConflictKind::MauCap).into());
                }
                count += 1;
            }
        }
    }
    for l in &c.end_user_logins {
        let row = end_user::ActiveModel {
            org_id: sea_orm::ActiveValue::Set(l.org_id.as_uuid()),
            user_id: sea_orm::ActiveValue::Set(l.user_id.as_uuid()),
            created_at: sea_orm::ActiveValue::Set(l.at),
            last_login_at: sea_orm::ActiveValue::Set(l.at),
        };
        end_user::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([end_user::Column::OrgId, end_user::Column::UserId])
                    .update_column(end_user::Column::LastLoginAt)
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    for i in &c.login_identities {
        let row = login_identity::ActiveModel {
            org_id: sea_orm::ActiveValue::Set(i.org_id.as_uuid()),
            provider: sea_orm::ActiveValue::Set(i.provider.clone()),
            provider_key: sea_orm::ActiveValue::Set(i.provider_key.clone()),
            user_id: sea_orm::ActiveValue::Set(i.user_id.as_uuid()),
            service_id: sea_orm::ActiveValue::Set(i.service_id.map(|s| s.as_uuid())),
            created_at: sea_orm::ActiveValue::Set(i.created_at),
        };
        login_identity::Entity::insert(row)
            .on_conflict_do_nothing_on([
                login_identity::Column::OrgId,
                login_identity::Column::Provider,
                login_identity::Column::ProviderKey,
            ])
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------- migration

pub(crate) use m0016::Logins;

mod m0016 {
    use sea_orm_migration::prelude::*;
    use sea_orm_migration::schema::{string, text, timestamp_with_time_zone, uuid, uuid_null};

    /// Logins (m0016, §19.5): `sessions.service_id`, identities issued through an org and the
    /// org's end users (first and latest service login, the MAU index).
    pub(crate) struct Logins;

    impl MigrationName for Logins {
        fn name(&self) -> &str {
            "m0016_logins"
        }
    }

    fn fk(name: &str, table: &'static str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
        let mut f = ForeignKey::create();
        f.name(name)
            .from(table, col)
            .to(to, "id")
            .on_delete(ForeignKeyAction::Cascade);
        f
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Logins {
        fn use_transaction(&self) -> Option<bool> {
            Some(true)
        }

        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.alter_table(
                Table::alter()
                    .table("sessions")
                    .add_column(uuid_null("service_id"))
                    .to_owned(),
            )
            .await?;
            m.create_table(
                Table::create()
                    .table("login_identities")
                    .col(uuid("org_id"))
                    .col(string("provider"))
                    .col(text("provider_key"))
                    .col(uuid("user_id"))
                    .col(uuid_null("service_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("org_id").col("provider").col("provider_key"))
                    .foreign_key(&mut fk("fk_login_identities_org", "login_identities", "org_id", "orgs"))
                    .foreign_key(&mut fk(
                        "fk_login_identities_user",
                        "login_identities",
                        "user_id",
                        "users",
                    ))
                    .to_owned(),
            )
            .await?;
            m.create_table(
                Table::create()
                    .table("end_users")
                    .col(uuid("org_id"))
                    .col(uuid("user_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_login_at"))
                    .primary_key(Index::create().col("org_id").col("user_id"))
                    .foreign_key(&mut fk("fk_end_users_org", "end_users", "org_id", "orgs"))
                    .foreign_key(&mut fk("fk_end_users_user", "end_users", "user_id", "users"))
                    .to_owned(),
            )
            .await?;
            let db = m.get_connection();
            for sql in [
                "CREATE INDEX ix_sessions_service ON sessions (service_id)",
                "CREATE INDEX ix_login_identities_org_user ON login_identities (org_id, user_id, created_at)",
                "CREATE INDEX ix_end_users_org_last ON end_users (org_id, last_login_at)",
                "CREATE INDEX ix_end_users_org_created ON end_users (org_id, created_at, user_id)",
            ] {
                db.execute_unprepared(sql).await?;
            }
            Ok(())
        }

        async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
            for table in ["end_users", "login_identities"] {
                m.drop_table(Table::drop().table(table).to_owned()).await?;
            }
            m.get_connection()
                .execute_unprepared("DROP INDEX ix_sessions_service")
                .await?;
            m.alter_table(Table::alter().table("sessions").drop_column("service_id").to_owned())
                .await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
    use sea_orm_migration::MigratorTrait;

    use crate::migration::Migrator;

    async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// How many migrations, m0016 included, to roll back to just before it.
    fn steps_to_before_m0016() -> u32 {
        let all = Migrator::migrations();
        let at = all.iter().position(|m| m.name() == "m0016_logins").unwrap();
        u32::try_from(all.len() - at).unwrap()
    }

    #[tokio::test]
    async fn m0016_adds_the_login_tables_whose_rows_go_with_their_org_and_rolls_back() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("PRAGMA foreign_keys = ON").await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let tables = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
                      AND name IN ('login_identities', 'end_users')";
        let column = "SELECT COUNT(*) AS n FROM pragma_table_info('sessions') WHERE name = 'service_id'";
        assert_eq!(count(&db, tables).await, 2);
        assert_eq!(count(&db, column).await, 1);
        let at = "'2026-01-01T00:00:00Z'";
        db.execute_unprepared(&format!(
            "INSERT INTO users (id, email, name, is_platform_owner, created_at, updated_at, version) \
             VALUES (X'01', 'o@x.test', NULL, 0, {at}, {at}, 1)"
        ))
        .await
        .unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO orgs (id, slug, name, name_lower, owner_user_id, status, tier_id, created_at, \
             updated_at, version) VALUES (X'02', 'a', 'a', 'a', X'01', 'active', 'tier_pro', {at}, {at}, 1)"
        ))
        .await
        .unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO end_users (org_id, user_id, created_at, last_login_at) VALUES (X'02', X'01', {at}, {at})"
        ))
        .await
        .unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO login_identities (org_id, provider, provider_key, user_id, service_id, created_at) \
             VALUES (X'02', 'github', 'gh-1', X'01', NULL, {at})"
        ))
        .await
        .unwrap();
        let dup = db
            .execute_unprepared(&format!(
                "INSERT INTO login_identities (org_id, provider, provider_key, user_id, service_id, created_at) \
                 VALUES (X'02', 'github', 'gh-1', X'01', NULL, {at})"
            ))
            .await;
        assert!(dup.is_err(), "one row per (org, provider, provider key)");
        db.execute_unprepared("DELETE FROM orgs WHERE id = X'02'")
            .await
            .unwrap();
        let rows = "SELECT (SELECT COUNT(*) FROM end_users) + (SELECT COUNT(*) FROM login_identities) AS n";
        assert_eq!(count(&db, rows).await, 0, "an org's login rows go with it");
        Migrator::down(&db, Some(steps_to_before_m0016())).await.unwrap();
        assert_eq!(count(&db, tables).await, 0, "m0016's tables are dropped");
        assert_eq!(count(&db, column).await, 0, "sessions.service_id is dropped");
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(count(&db, tables).await, 2, "and applies again");
    }
}
