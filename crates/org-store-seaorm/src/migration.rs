//! Schema migrations (sea-orm-migration), run from code by [`crate::SeaStore::migrate`]. The same
//! statements create the schema on SQLite and PostgreSQL; partial indexes use the SQL both share.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, integer_null, pk_uuid, string, string_null, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial), Box::new(Webhooks)]
    }
}

/// Tables of orgs, members, roles, users, invitations, sessions, audit logs and the outbox.
struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m0001_initial"
    }
}

fn fk(name: &str, from: (&'static str, &'static str), to: &'static str, cascade: bool) -> ForeignKeyCreateStatement {
    let mut f = ForeignKey::create();
    f.name(name).from(from.0, from.1).to(to, "id");
    if cascade {
        f.on_delete(ForeignKeyAction::Cascade);
    }
    f
}

/// `(name, table, columns, unique, partial WHERE clause)`; plain SQL common to both backends.
const INDEXES: &[(&str, &str, &str, bool, Option<&str>)] = &[
    ("ux_orgs_slug_live", "orgs", "slug", true, Some("deleted_at IS NULL")),
    ("ix_orgs_created", "orgs", "created_at, id", false, None),
    ("ix_orgs_owner", "orgs", "owner_user_id", false, None),
    ("ux_users_email", "users", "email", true, None),
    ("ux_memberships_org_user", "memberships", "org_id, user_id", true, None),
    (
        "ux_memberships_one_owner",
        "memberships",
        "org_id",
        true,
        Some("role = 'owner'"),
    ),
    ("ix_memberships_user", "memberships", "user_id, status", false, None),
    ("ux_org_roles_slug", "org_roles", "org_id, slug", true, None),
    ("ux_org_roles_name", "org_roles", "org_id, name_key", true, None),
    (
        "ux_invitations_pending",
        "invitations",
        "org_id, email",
        true,
        Some("status = 'pending'"),
    ),
    (
        "ix_invitations_org_created",
        "invitations",
        "org_id, created_at, id",
        false,
        None,
    ),
    ("ix_invitations_token", "invitations", "token_hash", false, None),
    ("ix_invitations_email", "invitations", "email, status", false, None),
    ("ix_sessions_refresh", "sessions", "refresh_hash", false, None),
    ("ix_sessions_previous", "sessions", "previous_hash", false, None),
    ("ix_sessions_org", "sessions", "org_id", false, None),
    ("ix_sessions_user", "sessions", "user_id", false, None),
    ("ux_audit_log_seq", "audit_entries", "log_key, seq", true, None),
    (
        "ix_audit_log_created",
        "audit_entries",
        "log_key, created_at, seq",
        false,
        None,
    ),
    ("ix_audit_log_action", "audit_entries", "log_key, action", false, None),
    ("ix_audit_log_actor", "audit_entries", "log_key, actor_id", false, None),
    ("ux_outbox_org_seq", "outbox_events", "org_id, seq", true, None),
    (
        "ix_outbox_org_occurred",
        "outbox_events",
        "org_id, occurred_at, id",
        false,
        None,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("users")
                .col(pk_uuid("id"))
                .col(string("email"))
                .col(string_null("name"))
                .col(boolean("is_platform_owner"))
                .col(timestamp_with_time_zone_null("disabled_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("orgs")
                .col(pk_uuid("id"))
                .col(string("slug"))
                .col(string("name"))
                .col(string("name_lower"))
                .col(uuid("owner_user_id"))
                .col(string("status"))
                .col(string("tier_id"))
                .col(big_integer_null("max_services"))
                .col(big_integer_null("max_users"))
                .col(uuid_null("approved_by"))
                .col(timestamp_with_time_zone_null("approved_at"))
                .col(uuid_null("rejected_by"))
                .col(timestamp_with_time_zone_null("rejected_at"))
                .col(text_null("rejection_reason"))
                .col(timestamp_with_time_zone_null("suspended_at"))
                .col(text_null("suspension_reason"))
                .col(text_null("feature_overrides"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("deleted_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk("fk_orgs_owner", ("orgs", "owner_user_id"), "users", false))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("memberships")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(uuid("user_id"))
                .col(string("role"))
                .col(string("status"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("fk_memberships_org", ("memberships", "org_id"), "orgs", true))
                .foreign_key(&mut fk(
                    "fk_memberships_user",
                    ("memberships", "user_id"),
                    "users",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("org_roles")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(string("slug"))
                .col(string("name"))
                .col(string("name_key"))
                .col(text_null("description"))
                .col(text("permissions"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("fk_org_roles_org", ("org_roles", "org_id"), "orgs", true))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("invitations")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(string("email"))
                .col(string("role"))
                .col(string("status"))
                .col(uuid("invited_by"))
                .col(string("token_hash"))
                .col(integer("ttl_days"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk("fk_invitations_org", ("invitations", "org_id"), "orgs", true))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("sessions")
                .col(pk_uuid("id"))
                .col(uuid("user_id"))
                .col(string("kind"))
                .col(uuid_null("org_id"))
                .col(string("refresh_hash"))
                .col(string_null("previous_hash"))
                .col(timestamp_with_time_zone_null("previous_rotated_at"))
                .col(text_null("ip_address"))
                .col(text_null("user_agent"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("last_refreshed_at"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone("absolute_expires_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .col(string_null("revoke_reason"))
                .col(big_integer("version"))
                .foreign_key(&mut fk("fk_sessions_user", ("sessions", "user_id"), "users", true))
                .foreign_key(&mut fk("fk_sessions_org", ("sessions", "org_id"), "orgs", true))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("audit_entries")
                .col(pk_uuid("id"))
                .col(string("log_key"))
                .col(big_integer("seq"))
                .col(uuid_null("org_id"))
                .col(string("actor_id"))
                .col(string("actor_type"))
                .col(string_null("actor_email"))
                .col(string("action"))
                .col(string_null("target_type"))
                .col(string_null("target_id"))
                .col(text_null("ip_address"))
                .col(text_null("user_agent"))
                .col(boolean("success"))
                .col(text_null("metadata"))
                .col(string_null("request_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(string_null("prev_hash"))
                .col(string_null("hash"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("outbox_events")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(big_integer("seq"))
                .col(string("event_type"))
                .col(timestamp_with_time_zone("occurred_at"))
                .col(uuid_null("actor_user_id"))
                .col(string_null("actor_email"))
                .col(string_null("target_type"))
                .col(string_null("target_id"))
                .col(text("data"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("log_heads")
                .col(string("log_key").primary_key())
                .col(big_integer("seq"))
                .col(string_null("hash"))
                .to_owned(),
        )
        .await?;
        create_indexes(m, INDEXES).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "log_heads",
            "outbox_events",
            "audit_entries",
            "sessions",
            "invitations",
            "org_roles",
            "memberships",
            "orgs",
            "users",
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// Webhook endpoints and their deliveries (§9).
struct Webhooks;

impl MigrationName for Webhooks {
    fn name(&self) -> &str {
        "m0002_webhooks"
    }
}

const WEBHOOK_INDEXES: &[(&str, &str, &str, bool, Option<&str>)] = &[
    (
        "ix_webhooks_org_created",
        "webhooks",
        "org_id, created_at, id",
        false,
        None,
    ),
    (
        "ix_deliveries_webhook_created",
        "webhook_deliveries",
        "webhook_id, created_at, id",
        false,
        None,
    ),
    (
        "ix_deliveries_due",
        "webhook_deliveries",
        "next_retry_at, id",
        false,
        Some("status = 'pending'"),
    ),
];

async fn create_indexes(
    m: &SchemaManager<'_>,
    indexes: &[(&str, &str, &str, bool, Option<&str>)],
) -> Result<(), DbErr> {
    let db = m.get_connection();
    for (name, table, cols, unique, partial) in indexes {
        let unique = if *unique { "UNIQUE " } else { "" };
        let partial = partial.map(|w| format!(" WHERE {w}")).unwrap_or_default();
        db.execute_unprepared(&format!("CREATE {unique}INDEX {name} ON {table} ({cols}){partial}"))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Webhooks {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("webhooks")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(string("name"))
                .col(text("url"))
                .col(text("events"))
                .col(boolean("is_active"))
                .col(string_null("disabled_reason"))
                .col(text("secret"))
                .col(text_null("previous_secret"))
                .col(timestamp_with_time_zone_null("previous_secret_expires_at"))
                .col(timestamp_with_time_zone_null("failing_since"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("deleted_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk("fk_webhooks_org", ("webhooks", "org_id"), "orgs", true))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("webhook_deliveries")
                .col(pk_uuid("id"))
                .col(uuid("webhook_id"))
                .col(uuid("org_id"))
                .col(uuid("event_id"))
                .col(string("event_type"))
                .col(text("payload"))
                .col(string("status"))
                .col(integer_null("response_status_code"))
                .col(text_null("response_body"))
                .col(big_integer("attempt_count"))
                .col(timestamp_with_time_zone_null("next_retry_at"))
                .col(timestamp_with_time_zone_null("last_attempt_at"))
                .col(text_null("delivery_error"))
                .col(uuid_null("redelivery_of"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk(
                    "fk_deliveries_webhook",
                    ("webhook_deliveries", "webhook_id"),
                    "webhooks",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        create_indexes(m, WEBHOOK_INDEXES).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_deliveries", "webhooks"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
