//! Risk settings and risk events (§16) on SeaORM: their tables (migration m0014), rows,
//! mapping through the domain constructors, reads and writes.
//!
//! - `risk_settings`: one row per org keyed by the org (a racing first write is a stale read),
//!   inserted with the org and backfilled for existing orgs by m0014.
//! - `risk_events`: the org's recorded, scored logins (§16.4, the login record of §19.5),
//!   insert-only; listed newest first through `ix_risk_events_org_created`
//!   (`org_id, created_at, id`) and, for high `min_score` filters,
//!   `ix_risk_events_org_score`. `ix_risk_events_org_user` and `ix_risk_events_org_email`
//!   serve the login flow's history reads (per user, and per e-mail for attempts without one).
//!
//! Both go with their org (cascading foreign keys).

use async_trait::async_trait;
use org_domain::risk::{
    DeviceKey, EnforcementMode, RiskAction, RiskEvent, RiskEventId, RiskFactor, RiskPolicy, RiskSettings,
    RiskSettingsRecord,
};
use org_domain::{OrgId, UserId};
use org_ports::{Changeset, ConflictKind, RiskEventQuery, RiskRepository, StoreError};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::SeaStore;
use crate::error::{DbFailure, store_err};
use crate::mapping::{all_set, version_to_row};

pub(crate) mod risk_setting {
    //! `risk_settings`: an org's risk settings (§16.1), one row per org.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "risk_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        pub enforcement_mode: String,
        pub low_threshold: i32,
        pub medium_threshold: i32,
        pub new_device_score: i32,
        pub impossible_travel_score: i32,
        pub velocity_threshold: i32,
        pub velocity_score: i32,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod risk_event {
    //! `risk_events`: one recorded, scored login of an org (§16.4).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "risk_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub user_id: Option<Uuid>,
        pub user_email: String,
        pub service_id: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub success: bool,
        pub risk_score: i32,
        /// Factor names joined by `,` in the order of `RiskFactor::ALL`.
        pub risk_factors: String,
        pub risk_action: String,
        pub geo_country: Option<String>,
        pub geo_city: Option<String>,
        pub geo_lat: Option<f64>,
        pub geo_long: Option<f64>,
        pub ip_address: Option<String>,
        pub user_agent: Option<String>,
        pub device_key: Option<String>,
        pub provider: String,
        pub failure_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// ---------------------------------------------------------------------------- mapping

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn settings_to_row(s: &RiskSettings, version: i64) -> risk_setting::Model {
    let r = s.record();
    let p = &r.policy;
    risk_setting::Model {
        org_id: r.org_id.as_uuid(),
        enforcement_mode: p.enforcement_mode.as_str().to_owned(),
        low_threshold: i32::from(p.low_threshold),
        medium_threshold: i32::from(p.medium_threshold),
        new_device_score: i32::from(p.new_device_score),
        impossible_travel_score: i32::from(p.impossible_travel_score),
        velocity_threshold: i32::from(p.velocity_threshold),
        velocity_score: i32::from(p.velocity_score),
        updated_at: r.updated_at,
        version,
    }
}

fn settings_from_row(m: risk_setting::Model) -> Result<RiskSettings, StoreError> {
    let small = |v: i32, field: &str| u8::try_from(v).map_err(|_| corrupt(format!("risk_settings.{field}: {v}")));
    let policy = RiskPolicy {
        enforcement_mode: EnforcementMode::parse(&m.enforcement_mode)
            .ok_or_else(|| corrupt(format!("risk_settings.enforcement_mode: {}", m.enforcement_mode)))?,
        low_threshold: small(m.low_threshold, "low_threshold")?,
        medium_threshold: small(m.medium_threshold, "medium_threshold")?,
        new_device_score: small(m.new_device_score, "new_device_score")?,
        impossible_travel_score: small(m.impossible_travel_score, "impossible_travel_score")?,
        velocity_threshold: u16::try_from(m.velocity_threshold)
            .map_err(|_| corrupt(format!("risk_settings.velocity_threshold: {}", m.velocity_threshold)))?,
        velocity_score: small(m.velocity_score, "velocity_score")?,
    };
    policy
        .check()
        .map_err(|e| corrupt(format!("risk_settings of {}: {e}", m.org_id)))?;
    Ok(RiskSettings::restore(RiskSettingsRecord {
        org_id: OrgId::from_uuid(m.org_id),
        policy,
        updated_at: m.updated_at,
        version: u64::try_from(m.version).map_err(|_| corrupt("risk_settings: negative version"))?,
    }))
}

fn event_to_row(e: &RiskEvent) -> risk_event::Model {
    risk_event::Model {
        id: e.id.as_uuid(),
        org_id: e.org_id.as_uuid(),
        user_id: e.user_id.map(|u| u.as_uuid()),
        user_email: e.user_email.clone(),
        service_id: e.service_id,
        created_at: e.created_at,
        success: e.success,
        risk_score: i32::from(e.risk_score),
        risk_factors: e.risk_factors.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(","),
        risk_action: e.risk_action.as_str().to_owned(),
        geo_country: e.geo_country.clone(),
        geo_city: e.geo_city.clone(),
        geo_lat: e.geo_lat,
        geo_long: e.geo_long,
        ip_address: e.ip_address.clone(),
        user_agent: e.user_agent.clone(),
        device_key: e.device_key.as_ref().map(|k| k.as_str().to_owned()),
        provider: e.provider.clone(),
        failure_reason: e.failure_reason.clone(),
    }
}

pub(crate) fn event_from_row(m: risk_event::Model) -> Result<RiskEvent, StoreError> {
    let risk_factors = m
        .risk_factors
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| RiskFactor::parse(f).ok_or_else(|| corrupt(format!("risk_events.risk_factors: {f}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let risk_score = u8::try_from(m.risk_score)
        .ok()
        .filter(|s| *s <= 100)
        .ok_or_else(|| corrupt(format!("risk_events.risk_score: {}", m.risk_score)))?;
    Ok(RiskEvent {
        id: RiskEventId::from_uuid(m.id),
        org_id: OrgId::from_uuid(m.org_id),
        user_id: m.user_id.map(UserId::from_uuid),
        user_email: m.user_email,
        service_id: m.service_id,
        created_at: m.created_at,
        success: m.success,
        risk_score,
        risk_factors,
        risk_action: RiskAction::parse(&m.risk_action)
            .ok_or_else(|| corrupt(format!("risk_events.risk_action: {}", m.risk_action)))?,
        geo_country: m.geo_country,
        geo_city: m.geo_city,
        geo_lat: m.geo_lat,
        geo_long: m.geo_long,
        ip_address: m.ip_address,
        user_agent: m.user_agent,
        device_key: m.device_key.map(DeviceKey::restore),
        provider: m.provider,
        failure_reason: m.failure_reason,
    })
}

// ---------------------------------------------------------------------------- reads

#[async_trait]
impl RiskRepository for SeaStore {
    async fn risk_settings(&self, org: OrgId) -> Result<Option<RiskSettings>, StoreError> {
        risk_setting::Entity::find_by_id(org.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(settings_from_row)
            .transpose()
    }

    async fn risk_events(&self, org: OrgId, query: &RiskEventQuery) -> Result<Vec<RiskEvent>, StoreError> {
        let mut q = risk_event::Entity::find().filter(risk_event::Column::OrgId.eq(org.as_uuid()));
        if query.min_score > 0 {
            q = q.filter(risk_event::Column::RiskScore.gte(i32::from(query.min_score)));
        }
        if let Some((at, id)) = query.before {
            q = q.filter(
                Condition::any().add(risk_event::Column::CreatedAt.lt(at)).add(
                    Condition::all()
                        .add(risk_event::Column::CreatedAt.eq(at))
                        .add(risk_event::Column::Id.lt(id.as_uuid())),
                ),
            );
        }
        q.order_by_desc(risk_event::Column::CreatedAt)
            .order_by_desc(risk_event::Column::Id)
            .offset(query.offset)
            .limit(u64::from(query.limit))
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(event_from_row)
            .collect()
    }
}

// ---------------------------------------------------------------------------- writes

/// The risk rows of a changeset, after the org rows (a new org's settings reference it): the
/// settings at their version (a first write over a stored row is a stale read), then the
/// events (inserts; an existing id is `Unique(Id)`). A missing org fails on the foreign key.
pub(crate) async fn write_risk(txn: &DatabaseTransaction, c: &Changeset) -> Result<(), DbFailure> {
    for s in &c.risk_settings {
        let loaded = s.record().version;
        let row: risk_setting::ActiveModel = all_set(settings_to_row(s, version_to_row(loaded + 1)?));
        if loaded == 0 {
            risk_setting::Entity::insert(row).exec_without_returning(txn).await?;
            continue;
        }
        let mut row = row;
        row.not_set(risk_setting::Column::OrgId);
        let updated = risk_setting::Entity::update_many()
            .set(row)
            .filter(risk_setting::Column::OrgId.eq(s.org_id().as_uuid()))
            .filter(risk_setting::Column::Version.eq(version_to_row(loaded)?))
            .exec(txn)
            .await?;
        if updated.rows_affected != 1 {
            let stored = risk_setting::Entity::find_by_id(s.org_id().as_uuid())
                .count(txn)
                .await?;
            return Err(if stored > 0 {
                StoreError::Conflict(ConflictKind::StaleVersion).into()
            } else {
                StoreError::NotFound.into()
            });
        }
    }
    for e in &c.risk_events {
        let row: risk_event::ActiveModel = all_set(event_to_row(e));
        risk_event::Entity::insert(row).exec_without_returning(txn).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------- migration

pub(crate) use m0014::Risk;

mod m0014 {
    use sea_orm_migration::prelude::*;
    use sea_orm_migration::schema::{
        big_integer, boolean, double_null, integer, pk_uuid, string, string_null, text, text_null,
        timestamp_with_time_zone, uuid, uuid_null,
    };

    /// Risk settings and risk events (m0014, §16): the settings table, backfilled with the
    /// defaults of §16.1 for every existing org (`updated_at` = the org's `created_at`), and the
    /// events table with its listing and history indexes.
    pub(crate) struct Risk;

    impl MigrationName for Risk {
        fn name(&self) -> &str {
            "m0014_risk"
        }
    }

    fn org_fk(name: &str, table: &'static str) -> ForeignKeyCreateStatement {
        let mut f = ForeignKey::create();
        f.name(name)
            .from(table, "org_id")
            .to("orgs", "id")
            .on_delete(ForeignKeyAction::Cascade);
        f
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Risk {
        fn use_transaction(&self) -> Option<bool> {
            Some(true)
        }

        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table("risk_settings")
                    .col(pk_uuid("org_id"))
                    .col(string("enforcement_mode"))
                    .col(integer("low_threshold"))
                    .col(integer("medium_threshold"))
                    .col(integer("new_device_score"))
                    .col(integer("impossible_travel_score"))
                    .col(integer("velocity_threshold"))
                    .col(integer("velocity_score"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(big_integer("version"))
                    .foreign_key(&mut org_fk("fk_risk_settings_org", "risk_settings"))
                    .to_owned(),
            )
            .await?;
            m.create_table(
                Table::create()
                    .table("risk_events")
                    .col(pk_uuid("id"))
                    .col(uuid("org_id"))
                    .col(uuid_null("user_id"))
                    .col(string("user_email"))
                    .col(uuid_null("service_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(boolean("success"))
                    .col(integer("risk_score"))
                    .col(text("risk_factors"))
                    .col(string("risk_action"))
                    .col(string_null("geo_country"))
                    .col(string_null("geo_city"))
                    .col(double_null("geo_lat"))
                    .col(double_null("geo_long"))
                    .col(string_null("ip_address"))
                    .col(text_null("user_agent"))
                    .col(string_null("device_key"))
                    .col(string("provider"))
                    .col(text_null("failure_reason"))
                    .foreign_key(&mut org_fk("fk_risk_events_org", "risk_events"))
                    .to_owned(),
            )
            .await?;
            let db = m.get_connection();
            for sql in [
                "CREATE INDEX ix_risk_events_org_created ON risk_events (org_id, created_at, id)",
                "CREATE INDEX ix_risk_events_org_score ON risk_events (org_id, risk_score, created_at, id)",
                "CREATE INDEX ix_risk_events_org_user ON risk_events (org_id, user_id, created_at)",
                "CREATE INDEX ix_risk_events_org_email ON risk_events (org_id, user_email, created_at)",
                // The defaults of §16.1 for every org that exists before this migration.
                "INSERT INTO risk_settings (org_id, enforcement_mode, low_threshold, medium_threshold, \
                 new_device_score, impossible_travel_score, velocity_threshold, velocity_score, updated_at, version) \
                 SELECT id, 'log_only', 30, 70, 20, 50, 10, 30, created_at, 1 FROM orgs",
            ] {
                db.execute_unprepared(sql).await?;
            }
            Ok(())
        }

        async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
            for table in ["risk_events", "risk_settings"] {
                m.drop_table(Table::drop().table(table).to_owned()).await?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sea_orm::ConnectionTrait;
    use sea_orm_migration::MigratorTrait;

    use crate::migration::Migrator;
    use crate::migration::testing::{self, count};

    #[tokio::test]
    async fn m0014_backfills_the_defaults_for_existing_orgs_goes_with_its_org_and_rolls_back() {
        let db = testing::migrated().await;
        Migrator::down(&db, Some(testing::steps_to_before("m0014_risk")))
            .await
            .unwrap();
        let tables = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
                      AND name IN ('risk_settings', 'risk_events')";
        assert_eq!(count(&db, tables).await, 0, "before m0014");
        let at = testing::AT;
        testing::owner_with_orgs(&db, &[("02", "a"), ("03", "b")]).await;
        Migrator::up(&db, None).await.unwrap();
        let defaults = "SELECT COUNT(*) AS n FROM risk_settings WHERE enforcement_mode = 'log_only' \
                        AND low_threshold = 30 AND medium_threshold = 70 AND new_device_score = 20 \
                        AND impossible_travel_score = 50 AND velocity_threshold = 10 AND velocity_score = 30 \
                        AND version = 1";
        assert_eq!(count(&db, defaults).await, 2, "every existing org gets the defaults");
        db.execute_unprepared(&format!(
            "INSERT INTO risk_events (id, org_id, user_id, user_email, service_id, created_at, success, risk_score, \
             risk_factors, risk_action, provider) VALUES (X'10', X'02', NULL, 'x@y.test', NULL, {at}, 0, 30, \
             'velocity', 'allow', 'password')"
        ))
        .await
        .unwrap();
        db.execute_unprepared("DELETE FROM orgs WHERE id = X'02'")
            .await
            .unwrap();
        let rows = "SELECT (SELECT COUNT(*) FROM risk_settings) + (SELECT COUNT(*) FROM risk_events) AS n";
        assert_eq!(count(&db, rows).await, 1, "an org's risk rows go with it");
        Migrator::down(&db, Some(testing::steps_to_before("m0014_risk")))
            .await
            .unwrap();
        assert_eq!(count(&db, tables).await, 0, "m0014's tables are dropped");
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(count(&db, tables).await, 2);
        assert_eq!(
            count(&db, "SELECT COUNT(*) AS n FROM risk_settings").await,
            1,
            "backfilled again"
        );
    }
}
