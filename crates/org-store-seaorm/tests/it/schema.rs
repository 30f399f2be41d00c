//! The schema backs the invariants on its own: raw SQL that breaks them is refused (owner
//! rules, held custom roles, directory rows). Also: an m0002 database upgrades with its rows and
//! counts, m0005 rolls back and forward, and the hot reads' query plans seek indexes (no scan
//! of an org's members or of a log).

use chrono::{DateTime, Utc};
use org_domain::webhook::Delivery;
use org_domain::{DeliveryId, EventId, OrgId, Role, SessionId, SessionKind, UserId};
use org_ports::{
    AuditFilter, AuditLog, AuditRepository, Changeset, DeliveryFilter, MemberQuery, MembershipRepository,
    OrgRepository, PageRequest, UnitOfWork, WebhookRepository,
};
use org_store_seaorm::{HotReadKeys, SeaStore, StoreOptions};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement, Value};
use uuid::Uuid;

use crate::build::{audit, id, member, seeded, t, user};
use crate::support::{Backend, Fixture};

/// `sql` written with `$n` placeholders as the backend spells them (SQLite: `?n`).
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DbBackend::Sqlite {
        let mut out = sql.to_owned();
        for n in (1..=values.len()).rev() {
            out = out.replace(&format!("${n}"), &format!("?{n}"));
        }
        out
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

async fn exec(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> Result<(), DbErr> {
    db.execute_raw(statement(db.get_database_backend(), sql, values))
        .await
        .map(drop)
}

fn uuid(u: Uuid) -> Value {
    u.into()
}

fn time(at: DateTime<Utc>) -> Value {
    at.into()
}

/// The rule a refused statement broke: PostgreSQL's constraint name (the triggers raise with
/// one too), SQLite's message (which names the index columns, the CHECK or the trigger rule).
fn broken_rule(r: Result<(), DbErr>) -> String {
    let err = r.expect_err("the schema accepted a row that breaks an invariant");
    if let DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) = &err
        && let sea_orm::sqlx::Error::Database(db) = &**e
    {
        return match db.constraint() {
            Some(name) => name.to_owned(),
            None => db.message().to_owned(),
        };
    }
    panic!("not a database error: {err}")
}

/// Asserts that `r` broke `rule` (PostgreSQL name) / `sqlite` (a piece of SQLite's message).
fn assert_refused(r: Result<(), DbErr>, rule: &str, sqlite: &str, what: &str) {
    let got = broken_rule(r);
    assert!(
        got == rule || got.contains(sqlite),
        "{what}: refused for another reason: {got}"
    );
}

async fn insert_user(db: &DatabaseConnection, email: &str) -> Uuid {
    let u = id();
    exec(
        db,
        "INSERT INTO users (id, email, name, is_platform_owner, disabled_at, created_at, updated_at, version) \
         VALUES ($1, $2, NULL, false, NULL, $3, $3, 1)",
        vec![uuid(u), email.into(), time(t(0))],
    )
    .await
    .unwrap();
    u
}

async fn insert_org(db: &DatabaseConnection, slug: &str, owner: Uuid) -> Uuid {
    let org = id();
    exec(
        db,
        "INSERT INTO orgs (id, slug, name, name_lower, owner_user_id, status, tier_id, created_at, updated_at, \
         version) VALUES ($1, $2, 'Acme', 'acme', $3, 'active', 'tier_free', $4, $4, 1)",
        vec![uuid(org), slug.into(), uuid(owner), time(t(0))],
    )
    .await
    .unwrap();
    org
}

/// Inserts a membership; `custom_role` is what the store writes for a custom `role`.
async fn insert_membership(
    db: &DatabaseConnection,
    org: Uuid,
    user: Uuid,
    role: &str,
    custom_role: Option<&str>,
) -> Result<(), DbErr> {
    exec(
        db,
        "INSERT INTO memberships (id, org_id, user_id, role, custom_role, status, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $6, 1)",
        vec![
            uuid(id()),
            uuid(org),
            uuid(user),
            role.into(),
            custom_role.map(str::to_owned).into(),
            time(t(0)),
        ],
    )
    .await
}

async fn set_membership(db: &DatabaseConnection, org: Uuid, user: Uuid, set: &str) -> Result<(), DbErr> {
    exec(
        db,
        &format!("UPDATE memberships SET {set} WHERE org_id = $1 AND user_id = $2"),
        vec![uuid(org), uuid(user)],
    )
    .await
}

async fn set_owner(db: &DatabaseConnection, org: Uuid, owner: Uuid) -> Result<(), DbErr> {
    exec(
        db,
        "UPDATE orgs SET owner_user_id = $1 WHERE id = $2",
        vec![uuid(owner), uuid(org)],
    )
    .await
}

async fn insert_invitation(db: &DatabaseConnection, org: Uuid, email: &str, status: &str) -> Result<(), DbErr> {
    exec(
        db,
        "INSERT INTO invitations (id, org_id, email, role, status, invited_by, token_hash, ttl_days, expires_at, \
         created_at, updated_at, version) VALUES ($1, $2, $3, 'member', $4, $5, $6, 7, $7, $7, $7, 1)",
        vec![
            uuid(id()),
            uuid(org),
            email.into(),
            status.into(),
            uuid(id()),
            "00".repeat(32).into(),
            time(t(0)),
        ],
    )
    .await
}

async fn insert_role(db: &DatabaseConnection, org: Uuid, slug: &str) {
    exec(
        db,
        "INSERT INTO org_roles (id, org_id, slug, name, name_key, description, permissions, created_at, updated_at, \
         version) VALUES ($1, $2, $3, $3, $3, NULL, '[]', $4, $4, 1)",
        vec![uuid(id()), uuid(org), slug.into(), time(t(0))],
    )
    .await
    .unwrap();
}

/// A migrated database of `fx` and a raw connection to it.
async fn migrated(fx: &Fixture) -> (std::sync::Arc<SeaStore>, DatabaseConnection) {
    let url = fx.fresh_url().await;
    let store = fx.open(&url, StoreOptions::default()).await;
    store.migrate().await.unwrap();
    store.migrate().await.expect("migrating again is a no-op");
    (store, Database::connect(url.as_str()).await.unwrap())
}

async fn migrations_alone_enforce_the_owner_rules(backend: Backend) {
    let fx = Fixture::new(backend);
    let (_store, db) = migrated(&fx).await;
    let owner = insert_user(&db, "o@x.test").await;
    let (other, stranger) = (insert_user(&db, "p@x.test").await, insert_user(&db, "q@x.test").await);
    let org = insert_org(&db, "acme", owner).await;
    insert_membership(&db, org, owner, "owner", None).await.unwrap();
    let named = ("tr_memberships_owner_named", "tr_memberships_owner_named");
    assert_refused(
        insert_membership(&db, org, other, "owner", None).await,
        named.0,
        named.1,
        "a second owner the org row does not name",
    );
    insert_membership(&db, org, other, "admin", None)
        .await
        .expect("a second, non-owner member");
    assert_refused(
        insert_membership(&db, org, other, "member", None).await,
        "ux_memberships_org_user",
        "memberships.org_id, memberships.user_id",
        "a second membership of one user",
    );
    assert_refused(
        set_membership(&db, org, other, "role = 'owner'").await,
        named.0,
        named.1,
        "a promotion without a transfer",
    );
    assert_refused(
        set_owner(&db, org, stranger).await,
        "tr_orgs_owner_is_member",
        "tr_orgs_owner_is_member",
        "an org row naming a non-member",
    );
    // A transfer in the wrong order: the org row names the new owner, who is promoted
    // before the old owner steps down. The partial unique index refuses two owners.
    set_owner(&db, org, other)
        .await
        .expect("the org row names an active member");
    assert_refused(
        set_membership(&db, org, other, "role = 'owner'").await,
        "ux_memberships_one_owner",
        "memberships.org_id",
        "two owners at once",
    );
    // The right order: demote, then promote.
    set_membership(&db, org, owner, "role = 'admin'").await.unwrap();
    set_membership(&db, org, other, "role = 'owner'").await.unwrap();
    assert_refused(
        set_membership(&db, org, other, "status = 'deactivated'").await,
        "ck_memberships_owner_active",
        "ck_memberships_owner_active",
        "an inactive owner",
    );
    let keep = "tr_memberships_keep_owner";
    assert_refused(
        set_membership(&db, org, other, "role = 'member'").await,
        keep,
        keep,
        "demoting the owner the live org names",
    );
    assert_refused(
        exec(
            &db,
            "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2",
            vec![uuid(org), uuid(other)],
        )
        .await,
        keep,
        keep,
        "deleting the owner's membership of a live org",
    );
    // Invitations: one pending per (org, e-mail).
    insert_invitation(&db, org, "guest@x.test", "pending").await.unwrap();
    assert_refused(
        insert_invitation(&db, org, "guest@x.test", "pending").await,
        "ux_invitations_pending",
        "invitations.org_id, invitations.email",
        "a second pending invitation",
    );
    insert_invitation(&db, org, "guest@x.test", "cancelled")
        .await
        .expect("settled invitations do not count");
    assert_refused(
        insert_membership(&db, id(), stranger, "member", None).await,
        "fk_memberships_org",
        "FOREIGN KEY",
        "a membership of no org",
    );
    // Once the org is deleted its owner's membership may go (a purge).
    exec(
        &db,
        "UPDATE orgs SET deleted_at = $1 WHERE id = $2",
        vec![time(t(5)), uuid(org)],
    )
    .await
    .unwrap();
    exec(
        &db,
        "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2",
        vec![uuid(org), uuid(other)],
    )
    .await
    .expect("the owner's membership of a deleted org");
    db.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_migrations_alone_enforce_the_owner_rules() {
    migrations_alone_enforce_the_owner_rules(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_migrations_alone_enforce_the_owner_rules() {
    migrations_alone_enforce_the_owner_rules(Backend::Postgres).await;
}

async fn migrations_alone_keep_held_custom_roles(backend: Backend) {
    let fx = Fixture::new(backend);
    let (_store, db) = migrated(&fx).await;
    let owner = insert_user(&db, "o@x.test").await;
    let (holder, other) = (insert_user(&db, "h@x.test").await, insert_user(&db, "p@x.test").await);
    let org = insert_org(&db, "acme", owner).await;
    let elsewhere = insert_org(&db, "other", other).await;
    insert_membership(&db, org, owner, "owner", None).await.unwrap();
    insert_membership(&db, elsewhere, other, "owner", None).await.unwrap();
    insert_role(&db, org, "auditor").await;
    insert_role(&db, elsewhere, "foreign").await;
    let fk = ("fk_memberships_custom_role", "FOREIGN KEY");
    assert_refused(
        insert_membership(&db, org, holder, "ghost", Some("ghost")).await,
        fk.0,
        fk.1,
        "a role the org does not have",
    );
    assert_refused(
        insert_membership(&db, org, holder, "foreign", Some("foreign")).await,
        fk.0,
        fk.1,
        "another org's role",
    );
    let ck = ("ck_memberships_custom_role", "ck_memberships_custom_role");
    assert_refused(
        insert_membership(&db, org, holder, "auditor", None).await,
        ck.0,
        ck.1,
        "a custom role outside the foreign key",
    );
    assert_refused(
        insert_membership(&db, org, holder, "admin", Some("auditor")).await,
        ck.0,
        ck.1,
        "a built-in role naming a custom one",
    );
    insert_membership(&db, org, holder, "auditor", Some("auditor"))
        .await
        .expect("a holder of the org's role");
    let delete_role = || {
        exec(
            &db,
            "DELETE FROM org_roles WHERE org_id = $1 AND slug = 'auditor'",
            vec![uuid(org)],
        )
    };
    assert_refused(delete_role().await, fk.0, fk.1, "deleting a held role");
    set_membership(&db, org, holder, "role = 'member', custom_role = NULL")
        .await
        .unwrap();
    delete_role().await.expect("a role nobody holds");
    // Purging an org removes its memberships and roles together, held or not.
    insert_role(&db, elsewhere, "viewer").await;
    insert_membership(&db, elsewhere, holder, "viewer", Some("viewer"))
        .await
        .unwrap();
    exec(&db, "DELETE FROM orgs WHERE id = $1", vec![uuid(elsewhere)])
        .await
        .expect("an org purge cascades through held roles");
    let left = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM memberships WHERE org_id = $1",
            vec![uuid(elsewhere)],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left.try_get::<i64>("", "n").unwrap(), 0);
    db.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_migrations_alone_keep_held_custom_roles() {
    migrations_alone_keep_held_custom_roles(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_migrations_alone_keep_held_custom_roles() {
    migrations_alone_keep_held_custom_roles(Backend::Postgres).await;
}

async fn count(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> i64 {
    let row = db
        .query_one_raw(statement(db.get_database_backend(), sql, values))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn id_of(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> Uuid {
    let row = db
        .query_one_raw(statement(db.get_database_backend(), sql, values))
        .await
        .unwrap()
        .expect("the row");
    row.try_get::<Uuid>("", "id").unwrap()
}

async fn insert_token(db: &DatabaseConnection, org: Uuid, hash: &str) -> Result<(), DbErr> {
    exec(
        db,
        "INSERT INTO scim_tokens (id, org_id, name, prefix, token_hash, created_by, capabilities, created_at, \
         expires_at, last_used_at, revoked_at, version) VALUES ($1, $2, 'Okta', 'scim_abcdefg', $3, $4, '[]', $5, \
         NULL, NULL, NULL, 1)",
        vec![uuid(id()), uuid(org), hash.into(), uuid(id()), time(t(0))],
    )
    .await
}

async fn insert_profile(
    db: &DatabaseConnection,
    membership: Uuid,
    org: Uuid,
    user: Uuid,
    key: &str,
) -> Result<(), DbErr> {
    exec(
        db,
        "INSERT INTO directory_profiles (membership_id, org_id, user_id, external_id, user_name, user_name_key, \
         formatted_name, given_name, family_name, display_name, email, created_at, updated_at, version) \
         VALUES ($1, $2, $3, NULL, $4, $4, NULL, NULL, NULL, NULL, 'p@x.test', $5, $5, 1)",
        vec![uuid(membership), uuid(org), uuid(user), key.into(), time(t(0))],
    )
    .await
}

async fn insert_group(db: &DatabaseConnection, role: Uuid, org: Uuid) -> Result<(), DbErr> {
    exec(
        db,
        "INSERT INTO directory_groups (role_id, org_id, external_id, version) VALUES ($1, $2, 'G1', 1)",
        vec![uuid(role), uuid(org)],
    )
    .await
}

/// The directory tables back their rules alone: one token per hash, one `userName` key per
/// org, one profile per membership, every row on an existing parent, and rows go with their
/// parent (a membership, a role, a purged org).
async fn migrations_alone_back_the_directory_rules(backend: Backend) {
    let fx = Fixture::new(backend);
    let (_store, db) = migrated(&fx).await;
    let owner = insert_user(&db, "o@x.test").await;
    let (ada, bea, other) = (
        insert_user(&db, "a@x.test").await,
        insert_user(&db, "b@x.test").await,
        insert_user(&db, "p@x.test").await,
    );
    let org = insert_org(&db, "acme", owner).await;
    let elsewhere = insert_org(&db, "other", other).await;
    insert_membership(&db, org, owner, "owner", None).await.unwrap();
    insert_membership(&db, org, ada, "member", None).await.unwrap();
    insert_membership(&db, org, bea, "member", None).await.unwrap();
    insert_membership(&db, elsewhere, other, "owner", None).await.unwrap();
    insert_role(&db, org, "eng").await;
    let membership = |org: Uuid, user: Uuid| {
        id_of(
            &db,
            "SELECT id FROM memberships WHERE org_id = $1 AND user_id = $2",
            vec![uuid(org), uuid(user)],
        )
    };
    let (ada_m, bea_m, other_m) = (
        membership(org, ada).await,
        membership(org, bea).await,
        membership(elsewhere, other).await,
    );
    let role = id_of(
        &db,
        "SELECT id FROM org_roles WHERE org_id = $1 AND slug = 'eng'",
        vec![uuid(org)],
    )
    .await;
    let (hash, fk) = ("ab".repeat(32), "FOREIGN KEY");

    insert_token(&db, org, &hash).await.expect("a token");
    assert_refused(
        insert_token(&db, elsewhere, &hash).await,
        "ux_scim_tokens_hash",
        "scim_tokens.token_hash",
        "a token hash twice, in any org",
    );
    assert_refused(
        insert_token(&db, id(), &"cd".repeat(32)).await,
        "fk_scim_tokens_org",
        fk,
        "a token of no org",
    );
    insert_profile(&db, ada_m, org, ada, "ada").await.expect("a profile");
    assert_refused(
        insert_profile(&db, bea_m, org, bea, "ada").await,
        "ux_directory_profiles_user_name",
        "directory_profiles.org_id, directory_profiles.user_name_key",
        "a userName key twice in an org",
    );
    assert_refused(
        insert_profile(&db, ada_m, org, ada, "zed").await,
        "directory_profiles_pkey",
        "directory_profiles.membership_id",
        "a second profile of one membership",
    );
    assert_refused(
        insert_profile(&db, id(), org, bea, "bea").await,
        "fk_directory_profiles_membership",
        fk,
        "a profile of no membership",
    );
    insert_profile(&db, other_m, elsewhere, other, "ada")
        .await
        .expect("the userName key in another org");
    insert_group(&db, role, org).await.expect("a role group");
    assert_refused(
        insert_group(&db, id(), org).await,
        "fk_directory_groups_role",
        fk,
        "a role group of no role",
    );

    exec(&db, "DELETE FROM memberships WHERE id = $1", vec![uuid(ada_m)])
        .await
        .unwrap();
    let profiles_of = "SELECT COUNT(*) AS n FROM directory_profiles WHERE membership_id = $1";
    assert_eq!(
        count(&db, profiles_of, vec![uuid(ada_m)]).await,
        0,
        "a profile goes with its membership"
    );
    insert_profile(&db, bea_m, org, bea, "ada")
        .await
        .expect("the key is free once its profile is gone");
    exec(&db, "DELETE FROM org_roles WHERE id = $1", vec![uuid(role)])
        .await
        .unwrap();
    let groups_of = "SELECT COUNT(*) AS n FROM directory_groups WHERE role_id = $1";
    assert_eq!(
        count(&db, groups_of, vec![uuid(role)]).await,
        0,
        "group data goes with its role"
    );
    insert_token(&db, elsewhere, &"ef".repeat(32)).await.unwrap();
    exec(&db, "DELETE FROM orgs WHERE id = $1", vec![uuid(elsewhere)])
        .await
        .expect("an org purge cascades to its directory rows");
    let left = "SELECT (SELECT COUNT(*) FROM scim_tokens WHERE org_id = $1) \
                + (SELECT COUNT(*) FROM directory_profiles WHERE org_id = $1) AS n";
    assert_eq!(count(&db, left, vec![uuid(elsewhere)]).await, 0);
    db.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_migrations_alone_back_the_directory_rules() {
    migrations_alone_back_the_directory_rules(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_migrations_alone_back_the_directory_rules() {
    migrations_alone_back_the_directory_rules(Backend::Postgres).await;
}

/// m0005 rolls back (its tables and their rows go, the rest stays) and applies again.
async fn m0005_rolls_back_and_forward(backend: Backend) {
    use org_ports::DirectoryRepository;
    let fx = Fixture::new(backend);
    let (s, db) = migrated(&fx).await;
    let (owner, _, o) = seeded(&*s, "acme", 0).await;
    let owner_m = s
        .membership(o.id(), owner.id())
        .await
        .unwrap()
        .expect("the owner's membership");
    let token = token_of(o.id(), owner.id(), 1);
    let directory = || Changeset {
        scim_tokens: vec![token.clone()],
        profiles: vec![profile_of(&owner_m, 1)],
        ..Changeset::default()
    };
    s.commit(directory()).await.unwrap();
    assert_eq!(
        s.pending_migrations().await.unwrap(),
        0,
        "/readyz: the schema is the binary's"
    );
    // Back to m0004: m0005 and every migration after it.
    let after_m0004 = org_store_seaorm::SeaStore::known_migrations() - 4;
    s.migrate_down(u32::try_from(after_m0004).unwrap()).await.unwrap();
    assert_eq!(
        s.pending_migrations().await.unwrap(),
        after_m0004,
        "/readyz fails an older schema"
    );
    for table in ["scim_tokens", "directory_profiles", "directory_groups"] {
        let read = db.execute_unprepared(&format!("SELECT COUNT(*) FROM {table}")).await;
        assert!(read.is_err(), "{table} is dropped");
    }
    assert_eq!(
        s.org_by_id(o.id()).await.unwrap().map(|o| o.id()),
        Some(o.id()),
        "the rest stays"
    );
    s.migrate().await.unwrap();
    assert!(
        s.scim_token(o.id(), token.id()).await.unwrap().is_none(),
        "its rows went with it"
    );
    s.commit(directory()).await.expect("m0005 applies again");
    assert!(s.scim_token(o.id(), token.id()).await.unwrap().is_some());
    db.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_m0005_rolls_back_and_forward() {
    m0005_rolls_back_and_forward(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_m0005_rolls_back_and_forward() {
    m0005_rolls_back_and_forward(Backend::Postgres).await;
}

/// An m0002 database with rows in the old shape: an org of three members (one holding a
/// custom role, one deactivated), three audit entries, an endpoint with two deliveries.
async fn a_database_at_m0002_upgrades_with_its_rows(backend: Backend) {
    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let store = fx.open(&url, StoreOptions::default()).await;
    store.migrate_first(2).await.unwrap();
    let db = Database::connect(url.as_str()).await.unwrap();
    let owner = insert_user(&db, "o@x.test").await;
    let (holder, gone) = (insert_user(&db, "h@x.test").await, insert_user(&db, "g@x.test").await);
    let org = insert_org(&db, "acme", owner).await;
    exec(
        &db,
        "INSERT INTO org_roles (id, org_id, slug, name, name_key, description, permissions, created_at, \
         updated_at) VALUES ($1, $2, 'auditor', 'Auditor', 'auditor', NULL, '[\"audit_logs.view\"]', $3, $3)",
        vec![uuid(id()), uuid(org), time(t(0))],
    )
    .await
    .unwrap();
    for (u, role, status, at) in [
        (owner, "owner", "active", 0),
        (holder, "auditor", "active", 1),
        (gone, "member", "deactivated", 2),
    ] {
        exec(
            &db,
            "INSERT INTO memberships (id, org_id, user_id, role, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
            vec![uuid(id()), uuid(org), uuid(u), role.into(), status.into(), time(t(at))],
        )
        .await
        .unwrap();
    }
    let log_key = format!("org:{}", OrgId::from_uuid(org));
    for seq in 1..=3_i64 {
        exec(
            &db,
            "INSERT INTO audit_entries (id, log_key, seq, org_id, actor_id, actor_type, action, success, \
             created_at, prev_hash, hash) VALUES ($1, $2, $3, $4, 'system', 'system', 'member.added', true, $5, $6, $6)",
            vec![
                uuid(id()),
                log_key.clone().into(),
                seq.into(),
                uuid(org),
                time(t(seq)),
                "00".repeat(32).into(),
            ],
        )
        .await
        .unwrap();
    }
    exec(
        &db,
        "INSERT INTO log_heads (log_key, seq, hash) VALUES ($1, 3, $2)",
        vec![format!("audit:{log_key}").into(), "00".repeat(32).into()],
    )
    .await
    .unwrap();
    let hook = id();
    exec(
        &db,
        "INSERT INTO webhooks (id, org_id, name, url, events, is_active, secret, created_at, updated_at, version) \
         VALUES ($1, $2, 'h', 'https://example.com/h', '[\"member.added\"]', true, 'v1:sealed', $3, $3, 1)",
        vec![uuid(hook), uuid(org), time(t(0))],
    )
    .await
    .unwrap();
    for n in 0..2 {
        exec(
            &db,
            "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event_id, event_type, payload, status, \
             attempt_count, next_retry_at, created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, 'member.added', '{}', 'pending', 0, $5, $5, $5, 1)",
            vec![uuid(id()), uuid(hook), uuid(org), uuid(id()), time(t(n))],
        )
        .await
        .unwrap();
    }

    store.migrate().await.expect("m0003 upgrades the database");
    let o = store.org_by_id(OrgId::from_uuid(org)).await.unwrap().expect("org");
    assert_eq!((o.headcount().active, o.headcount().total), (2, 3), "counts backfilled");
    let ctx = store
        .org_context(o.slug(), UserId::from_uuid(holder))
        .await
        .unwrap()
        .expect("context");
    let m = ctx.membership.expect("the holder's membership");
    assert_eq!((m.role().as_str(), m.record().version), ("auditor", 1));
    assert_eq!(ctx.role.map(|r| r.record().version), Some(1), "roles are versioned");
    let log = AuditLog::Org(o.id());
    let page = store
        .audit_entries(log, &AuditFilter::default(), PageRequest::new(1, 2))
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.total), (2, Some(3)), "audit count backfilled");
    let deliveries = store
        .webhook_deliveries(
            org_domain::WebhookId::from_uuid(hook),
            &DeliveryFilter::default(),
            PageRequest::new(1, 1),
        )
        .await
        .unwrap();
    assert_eq!(deliveries.total, Some(2), "delivery count backfilled");
    assert_refused(
        set_membership(&db, org, holder, "role = 'owner'").await,
        "tr_memberships_owner_named",
        "tr_memberships_owner_named",
        "the upgraded table has the owner rules",
    );
    // The upgraded store writes members as rows of their own.
    let newcomer = user("n@x.test");
    store
        .commit(Changeset {
            users: vec![newcomer.clone()],
            memberships: vec![member(o.id(), &newcomer, Role::Member, 9)],
            member_cap: Some(10),
            ..Changeset::default()
        })
        .await
        .unwrap();
    let o = store.org_by_id(o.id()).await.unwrap().unwrap();
    assert_eq!((o.headcount().active, o.headcount().total), (3, 4));
    db.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_a_database_at_m0002_upgrades_with_its_rows() {
    a_database_at_m0002_upgrades_with_its_rows(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_database_at_m0002_upgrades_with_its_rows() {
    a_database_at_m0002_upgrades_with_its_rows(Backend::Postgres).await;
}

/// Plan lines that mean the statement reads more than its page: a scan of a table, or a sort
/// of its rows. (The seeded tables are big enough that neither planner prefers a scan.)
fn scans(backend: DbBackend, plan: &str) -> Vec<String> {
    plan.lines()
        .filter(|l| match backend {
            DbBackend::Postgres => l.contains("Seq Scan") || l.contains("Sort"),
            _ => l.contains("SCAN ") || l.contains("TEMP B-TREE"),
        })
        .map(str::to_owned)
        .collect()
}

/// An active endpoint of `org` subscribed to member and org events.
fn endpoint(org: OrgId) -> org_domain::webhook::Webhook {
    org_domain::webhook::Webhook::restore(org_domain::webhook::WebhookRecord {
        id: org_domain::WebhookId::from_uuid(id()),
        org_id: org,
        name: "h".into(),
        url: "https://example.com/h".into(),
        events: vec!["member.added".into(), "organization.created".into()],
        is_active: true,
        disabled_reason: None,
        secret: "whsec_x".into(),
        previous_secret: None,
        previous_secret_expires_at: None,
        failing_since: None,
        created_at: t(0),
        updated_at: t(0),
        deleted_at: None,
        version: 0,
    })
}

fn session_of(user: UserId, org: Option<OrgId>) -> org_domain::Session {
    org_domain::Session {
        id: SessionId::from_uuid(id()),
        user_id: user,
        kind: SessionKind::Org,
        org_id: org,
        refresh_hash: org_domain::TokenHash([7; 32]),
        previous_hash: None,
        ip_address: None,
        user_agent: None,
        created_at: t(0),
        last_refreshed_at: None,
        expires_at: t(3600),
        absolute_expires_at: t(7200),
        revoked_at: None,
        revoke_reason: None,
        replay: None,
        version: 0,
        service_id: None,
    }
}

async fn explain(db: &DatabaseConnection, stmt: &Statement) -> String {
    let backend = db.get_database_backend();
    let prefix = if backend == DbBackend::Postgres {
        "EXPLAIN "
    } else {
        "EXPLAIN QUERY PLAN "
    };
    let q = Statement {
        sql: format!("{prefix}{}", stmt.sql),
        ..stmt.clone()
    };
    let rows = db.query_all_raw(q).await.unwrap();
    let col = if backend == DbBackend::Postgres {
        "QUERY PLAN"
    } else {
        "detail"
    };
    rows.iter()
        .map(|r| r.try_get::<String>("", col).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A SCIM token of `org` (not yet stored).
fn token_of(org: OrgId, creator: UserId, n: usize) -> org_domain::scim_token::ScimToken {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&u64::try_from(n).unwrap().to_be_bytes());
    org_domain::scim_token::ScimToken::restore(org_domain::scim_token::ScimTokenRecord {
        id: org_domain::ScimTokenId::from_uuid(id()),
        org_id: org,
        name: format!("Directory {n}"),
        prefix: "scim_abcdefg".into(),
        token_hash: org_domain::TokenHash(hash),
        created_by: creator,
        capabilities: org_domain::CapabilitySet::EMPTY,
        created_at: t(i64::try_from(n).unwrap()),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        version: 0,
    })
}

/// The directory profile of membership `m` (not yet stored).
fn profile_of(m: &org_domain::Membership, n: usize) -> org_domain::directory::DirectoryProfile {
    org_domain::directory::DirectoryProfile::restore(org_domain::directory::DirectoryProfileRecord {
        membership_id: m.id(),
        org_id: m.org_id(),
        user_id: m.user_id(),
        external_id: Some(format!("ext-{n}")),
        user_name: format!("User.{n}"),
        formatted_name: None,
        given_name: None,
        family_name: None,
        display_name: None,
        email: org_domain::Email::parse(&format!("p{}@dir.test", n % 1000)).unwrap(),
        created_at: m.joined_at(),
        updated_at: m.joined_at(),
        version: 0,
    })
}

/// Seeds an org of `members` members, an audit log of `entries` entries and an endpoint with
/// `deliveries` deliveries, beside a second org of the same size, so a scan would show; and
/// directory rows (tokens, profiles, role groups) in the same proportions.
async fn hot_reads_seek_indexes(backend: Backend) {
    const MEMBERS: usize = 3000;
    const ENTRIES: usize = 6000;
    const DELIVERIES: usize = 2000;
    const ORGS: usize = 500;
    const TOKENS: usize = 2000;
    const GROUPS: usize = 1500;
    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let s = fx.open(&url, StoreOptions::default()).await;
    s.migrate().await.unwrap();
    let (owner, _, o) = seeded(&*s, "acme", 0).await;
    let (_, _, other) = seeded(&*s, "other", 0).await;
    // Many small orgs, each with an owner, a custom role, a session, an audit log and an event
    // stream.
    let (mut orgs, mut users, mut memberships, mut roles, mut sessions) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut entries, mut events, mut hooks) = (vec![], vec![], vec![]);
    let (mut tokens, mut profiles, mut groups) = (vec![], vec![], vec![]);
    for i in 0..ORGS {
        let u = user(&format!("owner{i}@small.test"));
        let (small, m) = crate::build::org(&format!("small-{i}"), &u);
        let role = crate::build::custom_role(small.id(), "auditor");
        groups.push(org_domain::directory::DirectoryGroup::new(&role));
        roles.push(role);
        tokens.push(token_of(small.id(), u.id(), i));
        profiles.push(profile_of(&m, i));
        sessions.push(session_of(u.id(), Some(small.id())));
        entries.push(audit(Some(small.id()), "org.created"));
        hooks.push(endpoint(small.id()));
        events.push(crate::build::event(small.id(), "organization.created"));
        orgs.push(small);
        memberships.push(m);
        users.push(u);
    }
    s.commit(Changeset {
        orgs,
        users,
        memberships,
        roles,
        sessions,
        audit: entries,
        events,
        webhooks: hooks,
        scim_tokens: tokens,
        profiles,
        directory_groups: groups,
        ..Changeset::default()
    })
    .await
    .unwrap();
    for org in [o.id(), other.id()] {
        let roles: Vec<_> = (0..GROUPS / 2)
            .map(|i| crate::build::custom_role(org, &format!("group-{i}")))
            .collect();
        let mut groups: Vec<_> = roles.iter().map(org_domain::directory::DirectoryGroup::new).collect();
        for (i, g) in groups.iter_mut().enumerate() {
            g.set_external_id(Some(&format!("ext-{i}"))).unwrap();
        }
        // The org read has a few dozen tokens (as orgs do), the other one many.
        let (first, n) = if org == o.id() { (ORGS, 40) } else { (ORGS + 40, TOKENS) };
        s.commit(Changeset {
            roles,
            directory_groups: groups,
            scim_tokens: (0..n).map(|i| token_of(org, owner.id(), first + i)).collect(),
            ..Changeset::default()
        })
        .await
        .unwrap();
        for chunk in 0..(MEMBERS / 500) {
            let users: Vec<_> = (0..500)
                .map(|i| user(&format!("u{chunk}-{i}-{}@bulk.test", Uuid::now_v7().simple())))
                .collect();
            let memberships: Vec<_> = users
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let role = if i % 10 == 0 { Role::Admin } else { Role::Member };
                    member(org, u, role, i64::try_from(chunk * 500 + i).unwrap())
                })
                .collect();
            let profiles = memberships
                .iter()
                .enumerate()
                .map(|(i, m)| profile_of(m, chunk * 500 + i))
                .collect();
            s.commit(Changeset {
                users,
                memberships,
                profiles,
                ..Changeset::default()
            })
            .await
            .unwrap();
        }
        for _ in 0..(ENTRIES / 1000) {
            s.commit(Changeset {
                audit: (0..1000).map(|_| audit(Some(org), "member.added")).collect(),
                ..Changeset::default()
            })
            .await
            .unwrap();
        }
    }
    let hook = endpoint(o.id());
    s.commit(Changeset {
        webhooks: vec![hook.clone()],
        ..Changeset::default()
    })
    .await
    .unwrap();
    for chunk in 0..(DELIVERIES / 500) {
        let deliveries = (0..500)
            .map(|i| {
                let at = t(i64::try_from(chunk * 500 + i).unwrap());
                Delivery::new(
                    DeliveryId::from_uuid(id()),
                    &hook,
                    EventId::from_uuid(id()),
                    "member.added",
                    "{}".into(),
                    at,
                )
            })
            .collect();
        s.commit(Changeset {
            deliveries,
            ..Changeset::default()
        })
        .await
        .unwrap();
    }
    let session = session_of(owner.id(), Some(o.id()));
    s.commit(Changeset {
        sessions: vec![session.clone()],
        ..Changeset::default()
    })
    .await
    .unwrap();
    // The store answers from the seeded rows (and the kept counts agree with them).
    let page = s
        .member_page(
            o.id(),
            &MemberQuery {
                limit: 10,
                ..MemberQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 10);
    let audit_page = s
        .audit_entries(AuditLog::Org(o.id()), &AuditFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(audit_page.total, Some(ENTRIES as u64));
    let raw = Database::connect(url.as_str()).await.unwrap();
    raw.execute_unprepared("ANALYZE").await.unwrap();
    let keys = HotReadKeys {
        org: o.id(),
        slug: o.slug().clone(),
        user: owner.id(),
        session: session.id,
        webhook: hook.id(),
        delivery: DeliveryId::from_uuid(id()),
        at: t(1500),
        token_hash: org_domain::TokenHash([9; 32]),
        directory_text: "ext-1500".into(),
        email: org_domain::Email::parse("p500@dir.test").unwrap(),
    };
    let db_backend = raw.get_database_backend();
    let mut report = String::new();
    let mut bad = Vec::new();
    for (name, stmt) in s.hot_read_statements(&keys) {
        let plan = explain(&raw, &stmt).await;
        report.push_str(&format!("-- {name}\n{}\n{plan}\n\n", stmt.sql));
        let mut found = scans(db_backend, &plan);
        if name == "orgs_of_member" {
            // The window count is computed over the user's memberships (found by index, as
            // many as the orgs they belong to) and then sorted: bounded by the user, not by
            // the size of any org. The token page counts the org's tokens the same way.
            found.retain(|l| !(l.contains("(subquery") || l.contains("TEMP B-TREE") || l.contains("Sort")));
        }
        if name == "profiles_by_email" || name == "profiles_by_external_id" {
            // The lookup index is led by the looked-up value, then the org (so that no other
            // index led by `org_id` competes with it on a table without statistics): PostgreSQL
            // may fetch the matches of (value, org) by a bitmap of that index and sort them.
            // Bounded by the matches (at most the lookup bound), never by the org's profiles; a
            // scan would still fail.
            found.retain(|l| !(l.contains("Sort") && plan.contains("Bitmap Index Scan on ix_directory_profiles_")));
        }
        if name == "scim_token_page" {
            // An org has a few dozen tokens: PostgreSQL may fetch them by the index and sort
            // them rather than walk the index in order. Bounded by the org's tokens, never by
            // its members; a scan would still fail.
            found.retain(|l| !l.contains("Sort"));
        }
        if !found.is_empty() {
            bad.push(format!("{name}: {found:?}"));
        }
    }
    if let Ok(path) = std::env::var("ORG_TEST_PLANS_OUT") {
        std::fs::write(format!("{path}.{db_backend:?}.txt"), &report).unwrap();
    }
    assert!(
        bad.is_empty(),
        "hot reads that scan or sort:\n{}\n\n{report}",
        bad.join("\n")
    );
    raw.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_hot_reads_seek_indexes() {
    hot_reads_seek_indexes(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_hot_reads_seek_indexes() {
    hot_reads_seek_indexes(Backend::Postgres).await;
}

/// A directory lookup seeks its own index even before PostgreSQL has statistics of the table:
/// a new install's first sync grows `directory_profiles` from empty, and autovacuum analyzes it
/// only later. With every lookup index led by `org_id`, the planner could not tell them apart on
/// an unanalyzed table and took the e-mail index for a `userName` lookup (`org_id` alone as the
/// index condition: every profile of the org read per lookup), and a connection kept that plan
/// for its prepared statement while the org grew to 10,000 members (`cargo xtask bench scim`).
#[tokio::test]
async fn postgres_directory_lookups_seek_their_own_index_without_statistics() {
    const PROFILES: usize = 500;
    let fx = Fixture::new(Backend::Postgres);
    let url = fx.fresh_url().await;
    let s = fx.open(&url, StoreOptions::default()).await;
    s.migrate().await.unwrap();
    let raw = Database::connect(url.as_str()).await.unwrap();
    raw.execute_unprepared("ALTER TABLE directory_profiles SET (autovacuum_enabled = false)")
        .await
        .unwrap();
    let (owner, _, o) = seeded(&*s, "acme", 0).await;
    let users: Vec<_> = (0..PROFILES).map(|i| user(&format!("d{i}@dir.test"))).collect();
    let memberships: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| member(o.id(), u, Role::Member, i64::try_from(i).unwrap()))
        .collect();
    let profiles = memberships.iter().enumerate().map(|(i, m)| profile_of(m, i)).collect();
    s.commit(Changeset {
        users,
        memberships,
        profiles,
        ..Changeset::default()
    })
    .await
    .unwrap();
    let keys = HotReadKeys {
        org: o.id(),
        slug: o.slug().clone(),
        user: owner.id(),
        session: SessionId::from_uuid(id()),
        webhook: org_domain::WebhookId::from_uuid(id()),
        delivery: DeliveryId::from_uuid(id()),
        at: t(250),
        token_hash: org_domain::TokenHash([9; 32]),
        directory_text: "ext-250".into(),
        email: org_domain::Email::parse("p250@dir.test").unwrap(),
    };
    let expected = [
        (
            "profile_by_user_name",
            "ux_directory_profiles_user_name",
            "user_name_key",
        ),
        (
            "profiles_by_external_id",
            "ix_directory_profiles_external_id",
            "external_id",
        ),
        ("profiles_by_email", "ix_directory_profiles_email", "email"),
    ];
    let mut bad = Vec::new();
    let mut report = String::new();
    for (name, stmt) in s.hot_read_statements(&keys) {
        let Some((_, index, column)) = expected.iter().find(|(n, ..)| *n == name) else {
            continue;
        };
        let plan = explain(&raw, &stmt).await;
        report.push_str(&format!("-- {name}\n{plan}\n\n"));
        let uses = plan.contains(&format!("using {index} "));
        let seeks = plan
            .lines()
            .any(|l| l.contains("Index Cond:") && l.contains(&format!("({column})")));
        if !uses || !seeks || plan.contains("Filter:") {
            bad.push(format!("{name}: not a seek of {index} on {column}"));
        }
    }
    assert!(bad.is_empty(), "{}\n\n{report}", bad.join("\n"));
    raw.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_files_are_in_wal_mode() {
    let fx = Fixture::new(Backend::Sqlite);
    let url = fx.fresh_url().await;
    let store = fx.open(&url, StoreOptions::default()).await;
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    let db = Database::connect(url.as_str()).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA journal_mode"))
        .await
        .unwrap()
        .unwrap();
    let mode: String = row.try_get_by_index(0).unwrap();
    assert_eq!(mode, "wal");
    db.close().await.unwrap();
}

#[tokio::test]
async fn an_unsupported_url_is_refused() {
    let err = SeaStore::connect("mysql://localhost/x", StoreOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, org_ports::StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn an_in_memory_sqlite_store_works() {
    let s = SeaStore::connect("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    s.migrate().await.unwrap();
    let (_, _, o) = seeded(&s, "acme", 2).await;
    assert_eq!((o.headcount().active, o.headcount().total), (3, 3));
    assert_eq!(
        s.member_page(
            o.id(),
            &MemberQuery {
                limit: 10,
                ..MemberQuery::default()
            }
        )
        .await
        .unwrap()
        .len(),
        3
    );
}
