//! The schema backs the invariants on its own: raw SQL that breaks them is refused.

use chrono::{DateTime, Utc};
use org_store_seaorm::StoreOptions;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr, Statement, Value};
use uuid::Uuid;

use crate::build::{id, t};
use crate::support::{Backend, Fixture};

/// Runs `sql` written with `$n` placeholders (SQLite's numbered form is `?n`).
async fn exec(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = if backend == DbBackend::Sqlite {
        let mut out = sql.to_owned();
        for n in (1..=values.len()).rev() {
            out = out.replace(&format!("${n}"), &format!("?{n}"));
        }
        out
    } else {
        sql.to_owned()
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .map(drop)
}

fn uuid(u: Uuid) -> Value {
    u.into()
}

fn time(at: DateTime<Utc>) -> Value {
    at.into()
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

async fn insert_membership(db: &DatabaseConnection, org: Uuid, user: Uuid, role: &str) -> Result<(), DbErr> {
    exec(
        db,
        "INSERT INTO memberships (id, org_id, user_id, role, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'active', $5, $5)",
        vec![uuid(id()), uuid(org), uuid(user), role.into(), time(t(0))],
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

fn assert_unique_violation(r: Result<(), DbErr>, index: &str, sqlite_cols: &str) {
    let err = r.expect_err("the schema accepted a row that breaks an invariant");
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(msg)) => assert!(
            msg.contains(index) || msg.contains(sqlite_cols),
            "violation of another constraint: {msg}"
        ),
        other => panic!("expected a unique violation, got {other:?} ({err})"),
    }
}

async fn migrations_alone_enforce_one_owner_and_one_pending_invitation(backend: Backend) {
    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let store = fx.open(&url, StoreOptions::default()).await;
    store.migrate().await.unwrap();
    store.migrate().await.expect("migrating again is a no-op");
    let db = Database::connect(url.as_str()).await.unwrap();
    let (owner, other) = (insert_user(&db, "o@x.test").await, insert_user(&db, "p@x.test").await);
    let org = id();
    exec(
        &db,
        "INSERT INTO orgs (id, slug, name, name_lower, owner_user_id, status, tier_id, created_at, updated_at, version) \
         VALUES ($1, 'acme', 'Acme', 'acme', $2, 'active', 'tier_free', $3, $3, 1)",
        vec![uuid(org), uuid(owner), time(t(0))],
    )
    .await
    .unwrap();
    insert_membership(&db, org, owner, "owner").await.unwrap();
    assert_unique_violation(
        insert_membership(&db, org, other, "owner").await,
        "ux_memberships_one_owner",
        "memberships.org_id",
    );
    insert_membership(&db, org, other, "admin")
        .await
        .expect("a second, non-owner member");
    assert_unique_violation(
        insert_membership(&db, org, other, "member").await,
        "ux_memberships_org_user",
        "memberships.org_id, memberships.user_id",
    );
    insert_invitation(&db, org, "guest@x.test", "pending").await.unwrap();
    assert_unique_violation(
        insert_invitation(&db, org, "guest@x.test", "pending").await,
        "ux_invitations_pending",
        "invitations.org_id, invitations.email",
    );
    insert_invitation(&db, org, "guest@x.test", "cancelled")
        .await
        .expect("settled invitations do not count");
    let fk = insert_membership(&db, id(), other, "member")
        .await
        .expect_err("membership of no org");
    assert!(
        matches!(fk.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))),
        "{fk}"
    );
    db.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_migrations_alone_enforce_one_owner_and_one_pending_invitation() {
    migrations_alone_enforce_one_owner_and_one_pending_invitation(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_migrations_alone_enforce_one_owner_and_one_pending_invitation() {
    migrations_alone_enforce_one_owner_and_one_pending_invitation(Backend::Postgres).await;
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
    let err = org_store_seaorm::SeaStore::connect("mysql://localhost/x", StoreOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, org_ports::StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn an_in_memory_sqlite_store_works() {
    let s = org_store_seaorm::SeaStore::connect("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    s.migrate().await.unwrap();
    let (_, _, o) = crate::build::seeded(&s, "acme", 2).await;
    assert_eq!(o.state().memberships.len(), 3);
}
