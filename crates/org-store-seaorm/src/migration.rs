//! Schema migrations (sea-orm-migration), run from code by [`crate::SeaStore::migrate`]. The same
//! statements create the schema on SQLite and PostgreSQL; partial indexes use the SQL both share;
//! triggers are written once per dialect (m0003).

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, integer_null, pk_uuid, string, string_null, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

mod m0012_upstream_providers;

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(Webhooks),
            Box::new(CoreAtScale),
            Box::new(WebhookNames),
            Box::new(Directory),
            Box::new(Nodes),
            Box::new(Mail),
            Box::new(DomainsBranding),
            Box::new(Credentials),
            Box::new(SigningKeys),
            Box::new(crate::siem::Migration),
            Box::new(m0012_upstream_providers::UpstreamProviders),
            Box::new(crate::services::Services),
            Box::new(crate::risk::Risk),
            Box::new(DataKeys),
            Box::new(crate::logins::Logins),
        ]
    }
}

/// Tables of orgs, members, roles, users, invitations, sessions, audit logs and the outbox.
struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m0001_initial"
    }
}

pub(crate) fn fk(
    name: &str,
    from: (&'static str, &'static str),
    to: &'static str,
    cascade: bool,
) -> ForeignKeyCreateStatement {
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

pub(crate) async fn create_indexes(
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

/// Core at scale (m0003): memberships become their own versioned rows with the owner and
/// custom-role rules in the schema; kept counts on orgs, audit log heads and webhook endpoints;
/// keyset indexes for member, audit and delivery pages.
struct CoreAtScale;

impl MigrationName for CoreAtScale {
    fn name(&self) -> &str {
        "m0003_core_at_scale"
    }
}

/// Built-in role names as SQL, for the checks that tell them from custom role slugs.
const BUILT_IN_ROLES: &str = "('owner', 'admin', 'member')";

const SCALE_INDEXES: &[(&str, &str, &str, bool, Option<&str>)] = &[
    ("ux_memberships_org_user", "memberships", "org_id, user_id", true, None),
    (
        "ux_memberships_one_owner",
        "memberships",
        "org_id",
        true,
        Some("role = 'owner'"),
    ),
    (
        "ix_memberships_user",
        "memberships",
        "user_id, status, created_at, org_id",
        false,
        None,
    ),
    (
        "ix_memberships_org_joined",
        "memberships",
        "org_id, created_at, user_id",
        false,
        None,
    ),
    (
        "ix_memberships_org_role_joined",
        "memberships",
        "org_id, role, created_at, user_id",
        false,
        None,
    ),
    (
        "ix_memberships_org_status_joined",
        "memberships",
        "org_id, status, created_at, user_id",
        false,
        None,
    ),
    (
        "ix_audit_log_action",
        "audit_entries",
        "log_key, action, created_at, seq",
        false,
        None,
    ),
    (
        "ix_audit_log_actor",
        "audit_entries",
        "log_key, actor_id, created_at, seq",
        false,
        None,
    ),
    (
        "ix_audit_log_target",
        "audit_entries",
        "log_key, target_id, created_at, seq",
        false,
        None,
    ),
    ("ix_sessions_user_org", "sessions", "user_id, org_id", false, None),
    (
        "ix_deliveries_webhook_status_created",
        "webhook_deliveries",
        "webhook_id, status, created_at, id",
        false,
        None,
    ),
];

/// SQLite triggers of the owner rules. `RAISE` messages start with the rule's name, which
/// `error.rs` maps (SQLite reports no constraint name for triggers).
const SQLITE_OWNER_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER tr_memberships_keep_owner_delete BEFORE DELETE ON memberships \
     FOR EACH ROW WHEN OLD.role = 'owner' AND EXISTS (SELECT 1 FROM orgs o WHERE o.id = OLD.org_id \
     AND o.deleted_at IS NULL AND o.owner_user_id = OLD.user_id) \
     BEGIN SELECT RAISE(ABORT, 'tr_memberships_keep_owner: the owner''s membership of a live org cannot be \
     deleted'); END",
    "CREATE TRIGGER tr_memberships_keep_owner_update BEFORE UPDATE ON memberships \
     FOR EACH ROW WHEN OLD.role = 'owner' AND (NEW.role <> 'owner' OR NEW.user_id <> OLD.user_id \
     OR NEW.org_id <> OLD.org_id) AND EXISTS (SELECT 1 FROM orgs o WHERE o.id = OLD.org_id \
     AND o.deleted_at IS NULL AND o.owner_user_id = OLD.user_id) \
     BEGIN SELECT RAISE(ABORT, 'tr_memberships_keep_owner: the owner''s membership of a live org cannot be \
     demoted'); END",
    "CREATE TRIGGER tr_memberships_owner_named_insert BEFORE INSERT ON memberships \
     FOR EACH ROW WHEN NEW.role = 'owner' AND NOT EXISTS (SELECT 1 FROM orgs o WHERE o.id = NEW.org_id \
     AND o.owner_user_id = NEW.user_id) \
     BEGIN SELECT RAISE(ABORT, 'tr_memberships_owner_named: only the user the org names may hold owner'); END",
    "CREATE TRIGGER tr_memberships_owner_named_update BEFORE UPDATE ON memberships \
     FOR EACH ROW WHEN NEW.role = 'owner' AND NOT EXISTS (SELECT 1 FROM orgs o WHERE o.id = NEW.org_id \
     AND o.owner_user_id = NEW.user_id) \
     BEGIN SELECT RAISE(ABORT, 'tr_memberships_owner_named: only the user the org names may hold owner'); END",
    "CREATE TRIGGER tr_orgs_owner_is_member BEFORE UPDATE OF owner_user_id ON orgs \
     FOR EACH ROW WHEN NEW.owner_user_id <> OLD.owner_user_id AND NOT EXISTS (SELECT 1 FROM memberships m \
     WHERE m.org_id = NEW.id AND m.user_id = NEW.owner_user_id AND m.status = 'active') \
     BEGIN SELECT RAISE(ABORT, 'tr_orgs_owner_is_member: the new owner must be an active member'); END",
];

/// PostgreSQL functions and triggers of the owner rules; violations are `check_violation`
/// (23514) carrying the rule's name as the constraint name.
const POSTGRES_OWNER_TRIGGERS: &[&str] = &[
    "CREATE FUNCTION memberships_keep_owner() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF EXISTS (SELECT 1 FROM orgs o WHERE o.id = OLD.org_id AND o.deleted_at IS NULL
                  AND o.owner_user_id = OLD.user_id) THEN
         RAISE EXCEPTION 'the owner''s membership of a live org cannot be deleted or demoted'
           USING ERRCODE = 'check_violation', CONSTRAINT = 'tr_memberships_keep_owner';
       END IF;
       IF TG_OP = 'DELETE' THEN
         RETURN OLD;
       END IF;
       RETURN NEW;
     END $$",
    "CREATE FUNCTION memberships_owner_named() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NOT EXISTS (SELECT 1 FROM orgs o WHERE o.id = NEW.org_id AND o.owner_user_id = NEW.user_id) THEN
         RAISE EXCEPTION 'only the user the org names may hold owner'
           USING ERRCODE = 'check_violation', CONSTRAINT = 'tr_memberships_owner_named';
       END IF;
       RETURN NEW;
     END $$",
    "CREATE FUNCTION orgs_owner_is_member() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NOT EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = NEW.id AND m.user_id = NEW.owner_user_id
                      AND m.status = 'active') THEN
         RAISE EXCEPTION 'the new owner must be an active member'
           USING ERRCODE = 'check_violation', CONSTRAINT = 'tr_orgs_owner_is_member';
       END IF;
       RETURN NEW;
     END $$",
    "CREATE TRIGGER tr_memberships_keep_owner_delete BEFORE DELETE ON memberships \
     FOR EACH ROW WHEN (OLD.role = 'owner') EXECUTE FUNCTION memberships_keep_owner()",
    "CREATE TRIGGER tr_memberships_keep_owner_update BEFORE UPDATE ON memberships \
     FOR EACH ROW WHEN (OLD.role = 'owner' AND (NEW.role <> 'owner' OR NEW.user_id <> OLD.user_id \
     OR NEW.org_id <> OLD.org_id)) EXECUTE FUNCTION memberships_keep_owner()",
    "CREATE TRIGGER tr_memberships_owner_named_insert BEFORE INSERT ON memberships \
     FOR EACH ROW WHEN (NEW.role = 'owner') EXECUTE FUNCTION memberships_owner_named()",
    "CREATE TRIGGER tr_memberships_owner_named_update BEFORE UPDATE ON memberships \
     FOR EACH ROW WHEN (NEW.role = 'owner') EXECUTE FUNCTION memberships_owner_named()",
    "CREATE TRIGGER tr_orgs_owner_is_member BEFORE UPDATE OF owner_user_id ON orgs \
     FOR EACH ROW WHEN (OLD.owner_user_id IS DISTINCT FROM NEW.owner_user_id) EXECUTE FUNCTION orgs_owner_is_member()",
];

/// The memberships table of m0003, created as `memberships_next` and renamed once filled.
fn memberships_table(name: &'static str) -> TableCreateStatement {
    Table::create()
        .table(name)
        .col(pk_uuid("id"))
        .col(uuid("org_id"))
        .col(uuid("user_id"))
        .col(string("role"))
        .col(string_null("custom_role"))
        .col(string("status"))
        .col(timestamp_with_time_zone("created_at"))
        .col(timestamp_with_time_zone("updated_at"))
        .col(big_integer("version"))
        .check((
            "ck_memberships_status",
            Expr::cust("status IN ('active', 'deactivated')"),
        ))
        .check((
            "ck_memberships_owner_active",
            Expr::cust("role <> 'owner' OR status = 'active'"),
        ))
        .check((
            "ck_memberships_custom_role",
            Expr::cust(format!(
                "(role IN {BUILT_IN_ROLES} AND custom_role IS NULL) \
                 OR (role NOT IN {BUILT_IN_ROLES} AND custom_role IS NOT NULL AND custom_role = role)"
            )),
        ))
        .foreign_key(&mut fk("fk_memberships_org", (name, "org_id"), "orgs", true))
        .foreign_key(&mut fk("fk_memberships_user", (name, "user_id"), "users", true))
        .foreign_key(
            ForeignKey::create()
                .name("fk_memberships_custom_role")
                .from(name, ("org_id", "custom_role"))
                .to("org_roles", ("org_id", "slug"))
                .on_delete(ForeignKeyAction::Restrict),
        )
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CoreAtScale {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        let run = |sql: String| async move { db.execute_unprepared(&sql).await.map(drop) };

        // Custom roles become versioned rows.
        m.alter_table(
            Table::alter()
                .table("org_roles")
                .add_column(big_integer("version").default(1))
                .to_owned(),
        )
        .await?;

        // Sessions keep the replay window of their latest rotation (§2.5), sealed.
        for col in ["replay_access", "replay_refresh"] {
            m.alter_table(Table::alter().table("sessions").add_column(text_null(col)).to_owned())
                .await?;
        }

        // Memberships: a new table with the rules in it (SQLite cannot add constraints to an
        // existing table), the rows copied over, the old table dropped (nothing references it).
        m.create_table(memberships_table("memberships_next")).await?;
        run(format!(
            "INSERT INTO memberships_next (id, org_id, user_id, role, custom_role, status, created_at, updated_at, \
             version) SELECT id, org_id, user_id, role, CASE WHEN role IN {BUILT_IN_ROLES} THEN NULL ELSE role END, \
             status, created_at, updated_at, 1 FROM memberships"
        ))
        .await?;
        m.drop_table(Table::drop().table("memberships").to_owned()).await?;
        run("ALTER TABLE memberships_next RENAME TO memberships".to_owned()).await?;
        if postgres {
            run("ALTER INDEX memberships_next_pkey RENAME TO memberships_pkey".to_owned()).await?;
        }

        // Kept member counts on the org row, backfilled.
        for col in ["active_members", "total_members"] {
            m.alter_table(
                Table::alter()
                    .table("orgs")
                    .add_column(big_integer(col).default(0))
                    .to_owned(),
            )
            .await?;
        }
        run("UPDATE orgs SET \
             active_members = (SELECT COUNT(*) FROM memberships m WHERE m.org_id = orgs.id AND m.status = 'active'), \
             total_members = (SELECT COUNT(*) FROM memberships m WHERE m.org_id = orgs.id)"
            .to_owned())
        .await?;

        // Kept entry counts on the audit log heads (`audit:<log_key>`), backfilled; event-stream
        // heads keep 0.
        m.alter_table(
            Table::alter()
                .table("log_heads")
                .add_column(big_integer("entries").default(0))
                .to_owned(),
        )
        .await?;
        run("UPDATE log_heads SET entries = (SELECT COUNT(*) FROM audit_entries a \
             WHERE a.log_key = substr(log_heads.log_key, 7)) WHERE log_key LIKE 'audit:%'"
            .to_owned())
        .await?;

        // Kept delivery counts per endpoint, in their own table: a versioned webhook write never
        // touches them.
        m.create_table(
            Table::create()
                .table("webhook_delivery_counts")
                .col(pk_uuid("webhook_id"))
                .col(big_integer("deliveries"))
                .foreign_key(
                    &mut ForeignKey::create()
                        .name("fk_delivery_counts_webhook")
                        .from("webhook_delivery_counts", "webhook_id")
                        .to("webhooks", "id")
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
        run("INSERT INTO webhook_delivery_counts (webhook_id, deliveries) \
             SELECT webhook_id, COUNT(*) FROM webhook_deliveries GROUP BY webhook_id"
            .to_owned())
        .await?;

        // Keyset indexes (the audit and delivery filter indexes gain the sort key); a member's
        // sessions by (user, org), so revoking them never reads the org's other sessions.
        for (name, table) in [
            ("ix_audit_log_action", "audit_entries"),
            ("ix_audit_log_actor", "audit_entries"),
            ("ix_sessions_user", "sessions"),
        ] {
            m.drop_index(Index::drop().name(name).table(table).to_owned()).await?;
        }
        create_indexes(m, SCALE_INDEXES).await?;

        let triggers = if postgres {
            POSTGRES_OWNER_TRIGGERS
        } else {
            SQLITE_OWNER_TRIGGERS
        };
        for sql in triggers {
            run((*sql).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        let run = |sql: String| async move { db.execute_unprepared(&sql).await.map(drop) };
        for t in [
            "tr_memberships_keep_owner_delete",
            "tr_memberships_keep_owner_update",
            "tr_memberships_owner_named_insert",
            "tr_memberships_owner_named_update",
        ] {
            run(if postgres {
                format!("DROP TRIGGER {t} ON memberships")
            } else {
                format!("DROP TRIGGER {t}")
            })
            .await?;
        }
        run(if postgres {
            "DROP TRIGGER tr_orgs_owner_is_member ON orgs".to_owned()
        } else {
            "DROP TRIGGER tr_orgs_owner_is_member".to_owned()
        })
        .await?;
        if postgres {
            for f in [
                "memberships_keep_owner",
                "memberships_owner_named",
                "orgs_owner_is_member",
            ] {
                run(format!("DROP FUNCTION {f}()")).await?;
            }
        }
        for (name, table, ..) in SCALE_INDEXES.iter().filter(|(_, t, ..)| *t != "memberships") {
            m.drop_index(Index::drop().name(*name).table(*table).to_owned()).await?;
        }
        create_indexes(
            m,
            &[
                ("ix_audit_log_action", "audit_entries", "log_key, action", false, None),
                ("ix_audit_log_actor", "audit_entries", "log_key, actor_id", false, None),
                ("ix_sessions_user", "sessions", "user_id", false, None),
            ],
        )
        .await?;
        m.drop_table(Table::drop().table("webhook_delivery_counts").to_owned())
            .await?;
        for (table, col) in [
            ("sessions", "replay_access"),
            ("sessions", "replay_refresh"),
            ("log_heads", "entries"),
            ("orgs", "active_members"),
            ("orgs", "total_members"),
            ("org_roles", "version"),
        ] {
            m.alter_table(Table::alter().table(table).drop_column(col).to_owned())
                .await?;
        }
        // The m0001 memberships table, refilled.
        m.create_table(
            Table::create()
                .table("memberships_prev")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(uuid("user_id"))
                .col(string("role"))
                .col(string("status"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk(
                    "fk_memberships_org",
                    ("memberships_prev", "org_id"),
                    "orgs",
                    true,
                ))
                .foreign_key(&mut fk(
                    "fk_memberships_user",
                    ("memberships_prev", "user_id"),
                    "users",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        run(
            "INSERT INTO memberships_prev (id, org_id, user_id, role, status, created_at, updated_at) \
             SELECT id, org_id, user_id, role, status, created_at, updated_at FROM memberships"
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table("memberships").to_owned()).await?;
        run("ALTER TABLE memberships_prev RENAME TO memberships".to_owned()).await?;
        if postgres {
            run("ALTER INDEX memberships_prev_pkey RENAME TO memberships_pkey".to_owned()).await?;
        }
        create_indexes(
            m,
            &[
                ("ux_memberships_org_user", "memberships", "org_id, user_id", true, None),
                (
                    "ux_memberships_one_owner",
                    "memberships",
                    "org_id",
                    true,
                    Some("role = 'owner'"),
                ),
                ("ix_memberships_user", "memberships", "user_id, status", false, None),
            ],
        )
        .await
    }
}

/// Webhook names unique per org among live endpoints (m0004), in the schema as role names
/// are, so two concurrent creates cannot both take a name.
struct WebhookNames;

impl MigrationName for WebhookNames {
    fn name(&self) -> &str {
        "m0004_webhook_names"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for WebhookNames {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // Names taken twice by a race before this migration: every later endpoint gets its id
        // appended, so the index can be built and nothing is lost.
        let id_text = if db.get_database_backend() == DbBackend::Postgres {
            "CAST(id AS TEXT)"
        } else {
            "lower(hex(id))"
        };
        db.execute_unprepared(&format!(
            "UPDATE webhooks SET name = name || ' (' || {id_text} || ')' WHERE deleted_at IS NULL AND EXISTS \
             (SELECT 1 FROM webhooks w WHERE w.org_id = webhooks.org_id AND w.name = webhooks.name \
             AND w.deleted_at IS NULL AND (w.created_at < webhooks.created_at \
             OR (w.created_at = webhooks.created_at AND w.id < webhooks.id)))"
        ))
        .await?;
        create_indexes(
            m,
            &[(
                "ux_webhooks_org_name_live",
                "webhooks",
                "org_id, name",
                true,
                Some("deleted_at IS NULL"),
            )],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ux_webhooks_org_name_live")
                .table("webhooks")
                .to_owned(),
        )
        .await
    }
}

/// Directory sync (m0005): SCIM tokens, the per-membership profiles a directory writes, and
/// the directory data of role groups. Profiles and group data hang on their membership and role
/// (`ON DELETE CASCADE`, so they go in the same statement as their parent).
struct Directory;

impl MigrationName for Directory {
    fn name(&self) -> &str {
        "m0005_directory"
    }
}

const DIRECTORY_INDEXES: &[(&str, &str, &str, bool, Option<&str>)] = &[
    ("ux_scim_tokens_hash", "scim_tokens", "token_hash", true, None),
    (
        "ix_scim_tokens_org_created",
        "scim_tokens",
        "org_id, created_at, id",
        false,
        None,
    ),
    (
        "ux_directory_profiles_user_name",
        "directory_profiles",
        "org_id, user_name_key",
        true,
        None,
    ),
    // The lookups are ordered (oldest first; groups by role id): the order's columns follow the
    // key, so a lookup is a seek and a range in index order, never a sort. The looked-up value
    // leads, not `org_id`: an index led by `org_id` alone matches every lookup of the table by
    // its first column, and on a table without statistics (a first sync, before autovacuum
    // analyzes it) PostgreSQL cannot tell such indexes apart. It then took this e-mail index for
    // a `userName` lookup, read every profile of the org per lookup, and kept that plan for the
    // prepared statement.
    (
        "ix_directory_profiles_external_id",
        "directory_profiles",
        "external_id, org_id, created_at, membership_id",
        false,
        None,
    ),
    (
        "ix_directory_profiles_email",
        "directory_profiles",
        "email, org_id, created_at, membership_id",
        false,
        None,
    ),
    (
        "ix_directory_groups_external_id",
        "directory_groups",
        "external_id, org_id, role_id",
        false,
        None,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Directory {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("scim_tokens")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(string("name"))
                .col(string("prefix"))
                .col(string("token_hash"))
                .col(uuid("created_by"))
                .col(text("capabilities"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("expires_at"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk("fk_scim_tokens_org", ("scim_tokens", "org_id"), "orgs", true))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("directory_profiles")
                .col(pk_uuid("membership_id"))
                .col(uuid("org_id"))
                .col(uuid("user_id"))
                .col(string_null("external_id"))
                .col(string("user_name"))
                .col(string("user_name_key"))
                .col(string_null("formatted_name"))
                .col(string_null("given_name"))
                .col(string_null("family_name"))
                .col(string_null("display_name"))
                .col(string("email"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk(
                    "fk_directory_profiles_membership",
                    ("directory_profiles", "membership_id"),
                    "memberships",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("directory_groups")
                .col(pk_uuid("role_id"))
                .col(uuid("org_id"))
                .col(string_null("external_id"))
                .col(big_integer("version"))
                .foreign_key(&mut fk(
                    "fk_directory_groups_role",
                    ("directory_groups", "role_id"),
                    "org_roles",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        create_indexes(m, DIRECTORY_INDEXES).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["directory_groups", "directory_profiles", "scim_tokens"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// Several processes on one database (m0006): every consumed refresh token of a session (so any
/// ancestor of a family is recognised, §2.5) and the leases of worker passes.
struct Nodes;

impl MigrationName for Nodes {
    fn name(&self) -> &str {
        "m0006_nodes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Nodes {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("refresh_ancestors")
                .col(string("hash").primary_key())
                .col(uuid("session_id"))
                .col(timestamp_with_time_zone("consumed_at"))
                .foreign_key(&mut fk(
                    "fk_refresh_ancestors_session",
                    ("refresh_ancestors", "session_id"),
                    "sessions",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("worker_leases")
                .col(string("name").primary_key())
                .col(uuid("holder"))
                .col(timestamp_with_time_zone("until"))
                .to_owned(),
        )
        .await?;
        // Sessions are revoked and purged by org; deleting one finds its ancestors by this.
        create_indexes(
            m,
            &[(
                "ix_refresh_ancestors_session",
                "refresh_ancestors",
                "session_id",
                false,
                None,
            )],
        )
        .await?;
        // Refresh lookups now go by the current hash or through this table.
        m.drop_index(Index::drop().name("ix_sessions_previous").table("sessions").to_owned())
            .await?;
        // The direct predecessor is an ancestor like any other: existing sessions keep theirs.
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO refresh_ancestors (hash, session_id, consumed_at) SELECT previous_hash, id, \
                 previous_rotated_at FROM sessions WHERE previous_hash IS NOT NULL AND previous_rotated_at IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["worker_leases", "refresh_ancestors"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        create_indexes(m, &[("ix_sessions_previous", "sessions", "previous_hash", false, None)]).await
    }
}

/// Org mail (m0007): the SMTP settings of an org (one row per org, keyed by it; the password
/// sealed) and the mail outbox the mail worker claims from. Both go with their org
/// (`ON DELETE CASCADE`).
struct Mail;

impl MigrationName for Mail {
    fn name(&self) -> &str {
        "m0007_mail"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Mail {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("smtp_settings")
                .col(pk_uuid("org_id"))
                .col(string("host"))
                .col(integer("port"))
                .col(string("username"))
                .col(text("password"))
                .col(string("from_email"))
                .col(string_null("from_name"))
                .col(string("security"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk(
                    "fk_smtp_settings_org",
                    ("smtp_settings", "org_id"),
                    "orgs",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("mail_outbox")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(uuid_null("invitation_id"))
                .col(string_null("token_hash"))
                .col(string("recipient"))
                .col(string("subject"))
                .col(text("body"))
                .col(string("status"))
                .col(integer("attempt_count"))
                .col(timestamp_with_time_zone_null("next_attempt_at"))
                .col(string_null("last_error"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk("fk_mail_outbox_org", ("mail_outbox", "org_id"), "orgs", true))
                .to_owned(),
        )
        .await?;
        create_indexes(
            m,
            &[
                (
                    "ix_mail_outbox_due",
                    "mail_outbox",
                    "next_attempt_at, id",
                    false,
                    Some("status = 'pending'"),
                ),
                ("ix_mail_outbox_org", "mail_outbox", "org_id", false, None),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["mail_outbox", "smtp_settings"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// Custom domains and branding (m0008, §14, §15): singleton rows keyed by their org. At most
/// one row holds a domain verified (a partial unique index); unverified claims may repeat.
struct DomainsBranding;

impl MigrationName for DomainsBranding {
    fn name(&self) -> &str {
        "m0008_domains_branding"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for DomainsBranding {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("org_brandings")
                .col(pk_uuid("org_id"))
                .col(text_null("logo_url"))
                .col(string_null("primary_color"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk(
                    "fk_org_brandings_org",
                    ("org_brandings", "org_id"),
                    "orgs",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("custom_domains")
                .col(pk_uuid("org_id"))
                .col(string("domain"))
                .col(string("verification_token"))
                .col(timestamp_with_time_zone_null("verified_at"))
                .col(string_null("verification_method"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk(
                    "fk_custom_domains_org",
                    ("custom_domains", "org_id"),
                    "orgs",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        create_indexes(
            m,
            &[
                (
                    "ux_custom_domains_verified",
                    "custom_domains",
                    "domain",
                    true,
                    Some("verified_at IS NOT NULL"),
                ),
                (
                    "ix_custom_domains_domain",
                    "custom_domains",
                    "domain, created_at, org_id",
                    false,
                    None,
                ),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["custom_domains", "org_brandings"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// JWT signing keys (m0010, §2.8): one row per key with its timeline; the private key is
/// sealed by the secret cipher (platform scope, `signing_keys.private_key`, row `kid`).
/// `generation` is unique, so two first starts or two rotations at once cannot both win.
struct SigningKeys;

impl MigrationName for SigningKeys {
    fn name(&self) -> &str {
        "m0010_signing_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SigningKeys {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("signing_keys")
                .col(string("kid").primary_key())
                .col(big_integer("generation"))
                .col(string("algorithm"))
                .col(text("public_jwk"))
                .col(text("private_key"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("signs_from"))
                .col(timestamp_with_time_zone_null("signs_until"))
                .col(timestamp_with_time_zone_null("retire_after"))
                .to_owned(),
        )
        .await?;
        create_indexes(
            m,
            &[("ux_signing_keys_generation", "signing_keys", "generation", true, None)],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("signing_keys").to_owned()).await
    }
}

/// Data keys (m0015, §1.8): one random data key per org (the nil org: the platform's), wrapped
/// by a key-encryption key; secret columns are sealed under it (`envelope.rs`). No foreign key:
/// the platform key has no org, and an org's key is deleted by its purge.
struct DataKeys;

impl MigrationName for DataKeys {
    fn name(&self) -> &str {
        "m0015_data_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for DataKeys {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("data_keys")
                .col(uuid("org_id").primary_key())
                .col(string("key_id"))
                .col(text("wrapped"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("data_keys").to_owned()).await
    }
}

/// Provider credentials (m0009, §12, §18): an org's OAuth app credentials and billing-provider
/// keys, each one row per (org, provider) held by a unique index; the secrets sealed. Rows go
/// with their org.
struct Credentials;

impl MigrationName for Credentials {
    fn name(&self) -> &str {
        "m0009_credentials"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Credentials {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("oauth_credentials")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(string("provider"))
                .col(text("client_id"))
                .col(text("client_secret"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk(
                    "fk_oauth_credentials_org",
                    ("oauth_credentials", "org_id"),
                    "orgs",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("billing_credentials")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(string("provider"))
                .col(string("mode"))
                .col(text("api_key"))
                .col(text("webhook_secret"))
                .col(boolean("enabled"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk(
                    "fk_billing_credentials_org",
                    ("billing_credentials", "org_id"),
                    "orgs",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        create_indexes(
            m,
            &[
                (
                    "ux_oauth_credentials_org_provider",
                    "oauth_credentials",
                    "org_id, provider",
                    true,
                    None,
                ),
                (
                    "ux_billing_credentials_org_provider",
                    "billing_credentials",
                    "org_id, provider",
                    true,
                    None,
                ),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["billing_credentials", "oauth_credentials"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// What the migration tests share: an in-memory database at the latest schema, an owner with
/// orgs in it, row counts and the steps back to just before a migration.
#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used)]

    use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
    use sea_orm_migration::MigratorTrait;

    use super::Migrator;

    /// The timestamp the test rows carry.
    pub(crate) const AT: &str = "'2026-01-01T00:00:00Z'";

    /// An in-memory SQLite database with foreign keys on, migrated to the latest schema.
    pub(crate) async fn migrated() -> DatabaseConnection {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("PRAGMA foreign_keys = ON").await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        db
    }

    /// User `X'01'` and, owned by it, one active `tier_pro` org per `(id hex, slug)`.
    pub(crate) async fn owner_with_orgs(db: &DatabaseConnection, orgs: &[(&str, &str)]) {
        db.execute_unprepared(&format!(
            "INSERT INTO users (id, email, name, is_platform_owner, created_at, updated_at, version) \
             VALUES (X'01', 'o@x.test', NULL, 0, {AT}, {AT}, 1)"
        ))
        .await
        .unwrap();
        for (id, slug) in orgs {
            db.execute_unprepared(&format!(
                "INSERT INTO orgs (id, slug, name, name_lower, owner_user_id, status, tier_id, created_at, \
                 updated_at, version) VALUES (X'{id}', '{slug}', '{slug}', '{slug}', X'01', 'active', 'tier_pro', \
                 {AT}, {AT}, 1)"
            ))
            .await
            .unwrap();
        }
    }

    /// The `n` column of the one row `sql` answers.
    pub(crate) async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// How many migrations, `name` included, to roll back to just before it.
    pub(crate) fn steps_to_before(name: &str) -> u32 {
        let all = Migrator::migrations();
        let at = all.iter().position(|m| m.name() == name).unwrap();
        u32::try_from(all.len() - at).unwrap()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sea_orm::{ConnectionTrait, Database};
    use sea_orm_migration::MigratorTrait;

    use super::Migrator;
    use super::testing::{self, count};

    #[tokio::test]
    async fn every_migration_after_m0002_rolls_back_to_m0002_and_forward_again() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("PRAGMA foreign_keys = ON").await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let after_m0002 = u32::try_from(Migrator::migrations().len() - 2).unwrap();
        Migrator::down(&db, Some(after_m0002)).await.unwrap();
        let old = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM pragma_table_info('memberships') WHERE name = 'version'",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(old.try_get::<i64>("", "n").unwrap(), 0, "the m0002 memberships table");
        Migrator::up(&db, None).await.unwrap();
    }

    #[tokio::test]
    async fn m0005_rolls_back_to_m0004_with_its_rows_and_forward_again() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("PRAGMA foreign_keys = ON").await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let at = "'2026-01-01T00:00:00Z'";
        for sql in [
            format!(
                "INSERT INTO users (id, email, name, is_platform_owner, created_at, updated_at, version) \
                 VALUES (X'01', 'o@x.test', NULL, 0, {at}, {at}, 1)"
            ),
            format!(
                "INSERT INTO orgs (id, slug, name, name_lower, owner_user_id, status, tier_id, created_at, \
                 updated_at, version) VALUES (X'02', 'acme', 'Acme', 'acme', X'01', 'active', 'tier_free', {at}, \
                 {at}, 1)"
            ),
            format!(
                "INSERT INTO memberships (id, org_id, user_id, role, custom_role, status, created_at, updated_at, \
                 version) VALUES (X'03', X'02', X'01', 'member', NULL, 'active', {at}, {at}, 1)"
            ),
            format!(
                "INSERT INTO org_roles (id, org_id, slug, name, name_key, description, permissions, created_at, \
                 updated_at, version) VALUES (X'04', X'02', 'eng', 'Eng', 'eng', NULL, '[]', {at}, {at}, 1)"
            ),
            format!(
                "INSERT INTO scim_tokens (id, org_id, name, prefix, token_hash, created_by, capabilities, \
                 created_at, expires_at, last_used_at, revoked_at, version) VALUES (X'05', X'02', 'Okta', \
                 'scim_abcdefg', '{}', X'01', '[]', {at}, NULL, NULL, NULL, 1)",
                "ab".repeat(32)
            ),
            format!(
                "INSERT INTO directory_profiles (membership_id, org_id, user_id, external_id, user_name, \
                 user_name_key, formatted_name, given_name, family_name, display_name, email, created_at, \
                 updated_at, version) VALUES (X'03', X'02', X'01', 'E1', 'Ada', 'ada', NULL, NULL, NULL, NULL, \
                 'ada@x.test', {at}, {at}, 1)"
            ),
            "INSERT INTO directory_groups (role_id, org_id, external_id, version) VALUES (X'04', X'02', 'G1', 1)"
                .to_owned(),
        ] {
            db.execute_unprepared(&sql).await.unwrap();
        }
        let tables = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
                      AND name IN ('scim_tokens', 'directory_profiles', 'directory_groups')";
        let indexes = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' \
                       AND name NOT LIKE 'sqlite_%' AND (name LIKE '%scim_tokens%' OR name LIKE '%directory_%')";
        assert_eq!(count(&db, tables).await, 3);
        assert_eq!(count(&db, indexes).await, 6);

        // Back to m0004: every migration after it.
        let after_m0004 = u32::try_from(Migrator::migrations().len() - 4).unwrap();
        Migrator::down(&db, Some(after_m0004)).await.unwrap();
        assert_eq!(count(&db, tables).await, 0, "m0005's tables are dropped");
        assert_eq!(count(&db, indexes).await, 0, "with their indexes");
        let parents = "SELECT (SELECT COUNT(*) FROM memberships) + (SELECT COUNT(*) FROM org_roles) AS n";
        assert_eq!(count(&db, parents).await, 2, "the parents stay");

        Migrator::up(&db, None).await.unwrap();
        assert_eq!(count(&db, tables).await, 3);
        assert_eq!(count(&db, indexes).await, 6);
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM directory_profiles").await, 0);
    }

    #[tokio::test]
    async fn m0006_keeps_each_sessions_predecessor_as_an_ancestor_and_rolls_back() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("PRAGMA foreign_keys = ON").await.unwrap();
        Migrator::up(&db, Some(5)).await.unwrap();
        let at = "'2026-01-01T00:00:00Z'";
        for sql in [
            format!(
                "INSERT INTO users (id, email, name, is_platform_owner, created_at, updated_at, version) \
                 VALUES (X'01', 'o@x.test', NULL, 0, {at}, {at}, 1)"
            ),
            format!(
                "INSERT INTO sessions (id, user_id, kind, org_id, refresh_hash, previous_hash, \
                 previous_rotated_at, created_at, expires_at, absolute_expires_at, version) VALUES \
                 (X'02', X'01', 'platform', NULL, 'cur', 'prev', {at}, {at}, {at}, {at}, 2), \
                 (X'03', X'01', 'platform', NULL, 'fresh', NULL, NULL, {at}, {at}, {at}, 1)"
            ),
        ] {
            db.execute_unprepared(&sql).await.unwrap();
        }
        let previous_index = "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'ix_sessions_previous'";
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) AS n FROM refresh_ancestors WHERE hash = 'prev' AND session_id = X'02'"
            )
            .await,
            1,
            "the direct predecessor is kept"
        );
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM refresh_ancestors").await, 1);
        assert_eq!(count(&db, previous_index).await, 0);
        // Ancestors go with their session.
        db.execute_unprepared("DELETE FROM sessions WHERE id = X'02'")
            .await
            .unwrap();
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM refresh_ancestors").await, 0);

        // Back to m0005: every migration after it.
        let after_m0005 = u32::try_from(Migrator::migrations().len() - 5).unwrap();
        Migrator::down(&db, Some(after_m0005)).await.unwrap();
        let tables = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
                      AND name IN ('refresh_ancestors', 'worker_leases')";
        assert_eq!(count(&db, tables).await, 0);
        assert_eq!(count(&db, previous_index).await, 1, "the m0001 index is back");
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(count(&db, tables).await, 2);
    }

    #[tokio::test]
    async fn m0007_adds_the_mail_tables_and_rolls_back() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("PRAGMA foreign_keys = ON").await.unwrap();
        Migrator::up(&db, Some(6)).await.unwrap();
        let tables = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
                      AND name IN ('smtp_settings', 'mail_outbox')";
        assert_eq!(count(&db, tables).await, 0);
        Migrator::up(&db, Some(1)).await.unwrap();
        assert_eq!(count(&db, tables).await, 2);
        let due = "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'ix_mail_outbox_due'";
        assert_eq!(count(&db, due).await, 1);
        Migrator::down(&db, Some(1)).await.unwrap();
        assert_eq!(count(&db, tables).await, 0, "m0007's tables are dropped");
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(count(&db, tables).await, 2);
    }

    #[tokio::test]
    async fn m0008_holds_a_domain_verified_once_goes_with_its_org_and_rolls_back() {
        let db = testing::migrated().await;
        let at = testing::AT;
        testing::owner_with_orgs(&db, &[("02", "a"), ("03", "b"), ("04", "c")]).await;
        let claim = |org: &str, verified: &str| {
            format!(
                "INSERT INTO custom_domains (org_id, domain, verification_token, verified_at, verification_method, \
                 created_at, updated_at, version) VALUES (X'{org}', 'x.example.com', 't', {verified}, NULL, {at}, \
                 {at}, 1)"
            )
        };
        db.execute_unprepared(&claim("02", at)).await.unwrap();
        db.execute_unprepared(&claim("03", "NULL")).await.unwrap();
        assert!(
            db.execute_unprepared(&claim("04", at)).await.is_err(),
            "a second verified holder is refused"
        );
        db.execute_unprepared(&format!(
            "INSERT INTO org_brandings (org_id, logo_url, primary_color, updated_at, version) \
             VALUES (X'02', NULL, '#fff', {at}, 1)"
        ))
        .await
        .unwrap();
        db.execute_unprepared("DELETE FROM orgs WHERE id = X'02'")
            .await
            .unwrap();
        let rows = "SELECT (SELECT COUNT(*) FROM custom_domains) + (SELECT COUNT(*) FROM org_brandings) AS n";
        assert_eq!(count(&db, rows).await, 1, "an org's rows go with it");

        // Down to just before m0008 (the migrations after it first).
        let steps = testing::steps_to_before("m0008_domains_branding");
        Migrator::down(&db, Some(steps)).await.unwrap();
        let tables = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
                      AND name IN ('custom_domains', 'org_brandings')";
        assert_eq!(count(&db, tables).await, 0);
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(count(&db, tables).await, 2);
    }

    #[tokio::test]
    async fn m0010_holds_one_key_per_generation_and_rolls_back() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let key = |kid: &str, generation: i64| {
            format!(
                "INSERT INTO signing_keys (kid, generation, algorithm, public_jwk, private_key, created_at, \
                 signs_from, signs_until, retire_after) VALUES ('{kid}', {generation}, 'EdDSA', '{{}}', 'sealed', \
                 '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', NULL, NULL)"
            )
        };
        db.execute_unprepared(&key("a", 1)).await.unwrap();
        assert!(
            db.execute_unprepared(&key("b", 1)).await.is_err(),
            "one key per generation"
        );
        db.execute_unprepared(&key("b", 2)).await.unwrap();
        let steps = Migrator::migrations()
            .iter()
            .rev()
            .position(|m| m.name() == "m0010_signing_keys")
            .unwrap();
        Migrator::down(&db, Some(u32::try_from(steps + 1).unwrap()))
            .await
            .unwrap();
        let tables = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'signing_keys'";
        assert_eq!(count(&db, tables).await, 0);
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(count(&db, tables).await, 1);
    }

    #[tokio::test]
    async fn m0009_holds_one_row_per_org_and_provider_goes_with_its_org_and_rolls_back() {
        let db = testing::migrated().await;
        let at = testing::AT;
        testing::owner_with_orgs(&db, &[("02", "a")]).await;
        let row = |id: &str, provider: &str| {
            format!(
                "INSERT INTO oauth_credentials (id, org_id, provider, client_id, client_secret, created_at, \
                 updated_at, version) VALUES (X'{id}', X'02', '{provider}', 'c', 'sealed', {at}, {at}, 1)"
            )
        };
        db.execute_unprepared(&row("0A", "github")).await.unwrap();
        let billing = |id: &str| {
            format!(
                "INSERT INTO billing_credentials (id, org_id, provider, mode, api_key, webhook_secret, enabled, \
                 created_at, updated_at, version) VALUES (X'{id}', X'02', 'stripe', 'test', 'sealed', 'sealed', 1, \
                 {at}, {at}, 1)"
            )
        };
        db.execute_unprepared(&billing("1A")).await.unwrap();
        assert!(
            db.execute_unprepared(&billing("1B")).await.is_err(),
            "a second billing row for the pair is refused"
        );
        db.execute_unprepared(&row("0B", "google")).await.unwrap();
        assert!(
            db.execute_unprepared(&row("0C", "github")).await.is_err(),
            "a second row for the pair is refused"
        );
        db.execute_unprepared("DELETE FROM orgs WHERE id = X'02'")
            .await
            .unwrap();
        let rows = "SELECT (SELECT COUNT(*) FROM oauth_credentials) + (SELECT COUNT(*) FROM billing_credentials) AS n";
        assert_eq!(count(&db, rows).await, 0, "the rows go with their org");
        // Down to just before m0009 (the migrations after it first).
        let steps = testing::steps_to_before("m0009_credentials");
        Migrator::down(&db, Some(steps)).await.unwrap();
        let table = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
                     AND name IN ('oauth_credentials', 'billing_credentials')";
        assert_eq!(count(&db, table).await, 0);
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(count(&db, table).await, 2);
    }

    #[tokio::test]
    async fn m0004_renames_names_taken_twice_then_refuses_a_third() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        // Endpoints of an org row this test does not need.
        db.execute_unprepared("PRAGMA foreign_keys = OFF").await.unwrap();
        Migrator::up(&db, Some(3)).await.unwrap();
        let insert = |id: &str, name: &str, created: &str, deleted: &str| {
            format!(
                "INSERT INTO webhooks (id, org_id, name, url, events, is_active, secret, created_at, updated_at, \
                 deleted_at, version) VALUES (X'{id}', X'01', '{name}', 'https://h.example/x', '[]', 1, 's', \
                 '{created}', '{created}', {deleted}, 1)"
            )
        };
        for (id, name, created, deleted) in [
            ("0A", "sink", "2026-01-01T00:00:00Z", "NULL"),
            ("0B", "sink", "2026-01-02T00:00:00Z", "NULL"),
            ("0C", "sink", "2026-01-03T00:00:00Z", "'2026-01-04T00:00:00Z'"),
        ] {
            db.execute_unprepared(&insert(id, name, created, deleted))
                .await
                .unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let names: Vec<String> = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT name FROM webhooks ORDER BY created_at",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "name").unwrap())
            .collect();
        assert_eq!(
            names,
            ["sink", "sink (0b)", "sink"],
            "the later live duplicate is renamed"
        );
        let third = insert("0D", "sink", "2026-01-05T00:00:00Z", "NULL");
        assert!(
            db.execute_unprepared(&third).await.is_err(),
            "a live name is unique per org"
        );
        let deleted = insert("0E", "sink", "2026-01-05T00:00:00Z", "'2026-01-06T00:00:00Z'");
        db.execute_unprepared(&deleted).await.unwrap();
    }
}
