//! The unit of work: all-or-nothing commits, referential integrity, corrupt rows.

use org_ports::chain::GENESIS;
use org_ports::{AuditFilter, AuditLog, AuditRepository, Changeset, ConflictKind, StoreError, UniqueKey};
use org_ports::{OrgRepository, OutboxRepository, UnitOfWork, UserRepository};
use sea_orm::{ConnectionTrait, Database};

use crate::build::{audit, event, org, seeded, user};
use crate::support::{Backend, Fixture};

async fn a_changeset_failing_late_leaves_nothing_behind(backend: Backend) {
    let fx = Fixture::new(backend);
    let s = fx.store().await;
    let (existing, _, _) = seeded(&*s, "first", 0).await;
    let owner = user("new@acme.test");
    let o = org("acme", &owner);
    let clash = user(existing.email.as_str());
    let err = s
        .commit(Changeset {
            orgs: vec![o.clone()],
            users: vec![owner.clone(), clash],
            audit: vec![audit(Some(o.id()), "org.created"), audit(None, "user.created")],
            events: vec![event(o.id(), "organization.created")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::Conflict(ConflictKind::Unique(UniqueKey::UserEmail)));
    assert!(s.org_by_id(o.id()).await.unwrap().is_none(), "org row left behind");
    assert!(s.user_by_id(owner.id).await.unwrap().is_none(), "user left behind");
    assert!(s.org_events(o.id()).await.unwrap().is_empty(), "event left behind");
    let platform = s
        .audit_entries(
            AuditLog::Platform,
            &AuditFilter::default(),
            org_ports::PageRequest::new(1, 10),
        )
        .await
        .unwrap();
    assert_eq!(platform.total, 0, "audit entry left behind");
    // The log heads did not move either: the next entry of the platform log is its first.
    s.commit(Changeset {
        audit: vec![audit(None, "user.created")],
        ..Default::default()
    })
    .await
    .unwrap();
    let chain = s.audit_chain(AuditLog::Platform, 0, 10).await.unwrap();
    assert_eq!(chain.len(), 1);
    assert_eq!((chain[0].seq, chain[0].prev_hash), (1, GENESIS));
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_a_changeset_failing_late_leaves_nothing_behind() {
    a_changeset_failing_late_leaves_nothing_behind(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_changeset_failing_late_leaves_nothing_behind() {
    a_changeset_failing_late_leaves_nothing_behind(Backend::Postgres).await;
}

async fn an_org_whose_owner_is_not_stored_is_refused(backend: Backend) {
    let fx = Fixture::new(backend);
    let s = fx.store().await;
    let ghost = user("ghost@acme.test");
    let err = s
        .commit(Changeset {
            orgs: vec![org("acme", &ghost)],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::NotFound, "foreign keys are enforced");
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_an_org_whose_owner_is_not_stored_is_refused() {
    an_org_whose_owner_is_not_stored_is_refused(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_an_org_whose_owner_is_not_stored_is_refused() {
    an_org_whose_owner_is_not_stored_is_refused(Backend::Postgres).await;
}

async fn a_corrupt_row_is_an_error_not_an_aggregate(backend: Backend) {
    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let s = fx.open(&url, org_store_seaorm::StoreOptions::default()).await;
    s.migrate().await.unwrap();
    let (_, _, o) = seeded(&*s, "acme", 1).await;
    let raw = Database::connect(url.as_str()).await.unwrap();
    raw.execute_unprepared("UPDATE orgs SET status = 'bogus'")
        .await
        .unwrap();
    assert!(matches!(s.org_by_id(o.id()).await, Err(StoreError::Corrupt(_))));
    raw.execute_unprepared("UPDATE orgs SET status = 'active'")
        .await
        .unwrap();
    assert!(s.org_by_id(o.id()).await.is_ok());
    raw.execute_unprepared("UPDATE memberships SET role = 'ghost-role' WHERE role <> 'owner'")
        .await
        .unwrap();
    assert!(
        matches!(s.org_by_slug(o.slug()).await, Err(StoreError::Corrupt(_))),
        "a membership naming an unknown role never becomes an aggregate"
    );
    raw.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_a_corrupt_row_is_an_error_not_an_aggregate() {
    a_corrupt_row_is_an_error_not_an_aggregate(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_corrupt_row_is_an_error_not_an_aggregate() {
    a_corrupt_row_is_an_error_not_an_aggregate(Backend::Postgres).await;
}
