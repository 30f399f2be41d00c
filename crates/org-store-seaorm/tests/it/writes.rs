//! The unit of work: all-or-nothing commits, referential integrity, corrupt rows.

use org_domain::Role;
use org_ports::chain::GENESIS;
use org_ports::{AuditFilter, AuditLog, AuditRepository, Changeset, ConflictKind, StoreError, UniqueKey};
use org_ports::{MembershipRepository, OrgRepository, OutboxRepository, RoleRepository, UnitOfWork, UserRepository};
use sea_orm::{ConnectionTrait, Database};

use crate::build::{audit, custom_role, event, member, org, seeded, user};
use crate::support::{Backend, Fixture};

async fn a_changeset_failing_late_leaves_nothing_behind(backend: Backend) {
    let fx = Fixture::new(backend);
    let s = fx.store().await;
    let (existing, _, first) = seeded(&*s, "first", 0).await;
    let owner = user("new@acme.test");
    let (o, om) = org("acme", &owner);
    let joiner = user("joiner@acme.test");
    let clash = user(existing.email().as_str());
    let err = s
        .commit(Changeset {
            orgs: vec![o.clone()],
            memberships: vec![om, member(first.id(), &joiner, Role::Member, 1)],
            roles: vec![custom_role(first.id(), "auditor")],
            users: vec![owner.clone(), joiner.clone(), clash],
            audit: vec![audit(Some(o.id()), "org.created"), audit(None, "user.created")],
            events: vec![event(o.id(), "organization.created")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::Conflict(ConflictKind::Unique(UniqueKey::UserEmail)));
    assert!(s.org_by_id(o.id()).await.unwrap().is_none(), "org row left behind");
    assert!(s.user_by_id(owner.id()).await.unwrap().is_none(), "user left behind");
    assert!(
        s.membership(first.id(), joiner.id()).await.unwrap().is_none(),
        "membership left behind"
    );
    assert!(s.custom_roles(first.id()).await.unwrap().is_empty(), "role left behind");
    let counts = s.org_by_id(first.id()).await.unwrap().unwrap().headcount();
    assert_eq!((counts.active, counts.total), (1, 1), "counts moved");
    assert!(s.org_events(o.id()).await.unwrap().is_empty(), "event left behind");
    let platform = s
        .audit_entries(
            AuditLog::Platform,
            &AuditFilter::default(),
            org_ports::PageRequest::new(1, 10),
        )
        .await
        .unwrap();
    assert_eq!(platform.total, Some(0), "audit entry left behind");
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

async fn rows_referencing_missing_rows_are_refused(backend: Backend) {
    let fx = Fixture::new(backend);
    let s = fx.store().await;
    let ghost = user("ghost@acme.test");
    let (o, om) = org("acme", &ghost);
    let err = s
        .commit(Changeset {
            orgs: vec![o],
            memberships: vec![om],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::NotFound, "an org whose owner is not stored");
    let (_, _, real) = seeded(&*s, "real", 0).await;
    let err = s
        .commit(Changeset {
            memberships: vec![member(real.id(), &ghost, Role::Member, 1)],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::NotFound, "a membership of a user not stored");
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_rows_referencing_missing_rows_are_refused() {
    rows_referencing_missing_rows_are_refused(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_rows_referencing_missing_rows_are_refused() {
    rows_referencing_missing_rows_are_refused(Backend::Postgres).await;
}

async fn a_corrupt_row_is_an_error_not_an_aggregate(backend: Backend) {
    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let s = fx.open(&url, org_store_seaorm::StoreOptions::default()).await;
    s.migrate().await.unwrap();
    let (owner, _, o) = seeded(&*s, "acme", 1).await;
    s.commit(Changeset {
        roles: vec![custom_role(o.id(), "auditor")],
        ..Default::default()
    })
    .await
    .unwrap();
    let raw = Database::connect(url.as_str()).await.unwrap();
    let cases = [
        ("UPDATE orgs SET status = 'bogus'", "UPDATE orgs SET status = 'active'"),
        (
            "UPDATE orgs SET active_members = 0",
            "UPDATE orgs SET active_members = 2",
        ),
        (
            "UPDATE orgs SET active_members = 3",
            "UPDATE orgs SET active_members = 2",
        ),
    ];
    for (break_it, mend_it) in cases {
        raw.execute_unprepared(break_it).await.unwrap();
        assert!(
            matches!(s.org_by_id(o.id()).await, Err(StoreError::Corrupt(_))),
            "{break_it}"
        );
        assert!(
            matches!(s.org_context(o.slug(), owner.id()).await, Err(StoreError::Corrupt(_))),
            "{break_it}"
        );
        raw.execute_unprepared(mend_it).await.unwrap();
        assert!(s.org_by_id(o.id()).await.is_ok(), "{mend_it}");
    }
    raw.execute_unprepared("UPDATE org_roles SET permissions = '[\"org.delete\"]'")
        .await
        .unwrap();
    assert!(
        matches!(s.custom_roles(o.id()).await, Err(StoreError::Corrupt(_))),
        "a custom role with an owner-only capability never becomes an aggregate"
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

/// One commit may carry thousands of audit entries and events (a bulk import): the store splits
/// its inserts below the databases' bound-variable limits, and the log stays one chain.
async fn a_commit_with_thousands_of_entries_and_events_lands_whole(backend: Backend) {
    use org_ports::{OutboxEvent, PageRequest};
    let fx = Fixture::new(backend);
    let s = fx.store().await;
    let (_, _, o) = crate::build::seeded(&*s, "acme", 0).await;
    let n = 3_000;
    let mut c = Changeset::default();
    for i in 0..n {
        c.audit.push(crate::build::audit(Some(o.id()), "role.created"));
        c.audit.push(crate::build::audit(None, "user.created"));
        c.events.push(OutboxEvent {
            id: org_domain::EventId::from_uuid(crate::build::id()),
            org_id: o.id(),
            event_type: "organization.updated".into(),
            occurred_at: crate::build::t(i),
            actor_user_id: None,
            actor_email: None,
            target_type: None,
            target_id: None,
            data: serde_json::json!({}),
        });
    }
    s.commit(c).await.expect("a large commit lands");
    let org_log = s
        .audit_entries(AuditLog::Org(o.id()), &AuditFilter::default(), PageRequest::new(1, 1))
        .await
        .unwrap();
    assert!(org_log.total >= Some(n as u64));
    assert!(s.org_events(o.id()).await.unwrap().len() >= n as usize);
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_a_commit_with_thousands_of_entries_and_events_lands_whole() {
    a_commit_with_thousands_of_entries_and_events_lands_whole(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_commit_with_thousands_of_entries_and_events_lands_whole() {
    a_commit_with_thousands_of_entries_and_events_lands_whole(Backend::Postgres).await;
}

/// Which directory read a corrupt-row case goes through.
#[derive(Clone, Copy, Debug)]
enum DirectoryRead {
    Token,
    Profile,
    Group,
}

/// A directory row that breaks a domain rule (a hash that is no hash, an unknown capability, a
/// missing or unparsed attribute, a negative version) is `Corrupt` on every read of it.
async fn a_corrupt_directory_row_is_an_error_not_an_aggregate(backend: Backend) {
    use org_domain::directory::{DirectoryGroup, DirectoryProfile, DirectoryProfileRecord};
    use org_domain::scim_token::{ScimToken, ScimTokenRecord};
    use org_ports::{DirectoryRepository, PageRequest};

    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let s = fx.open(&url, org_store_seaorm::StoreOptions::default()).await;
    s.migrate().await.unwrap();
    let (owner, _, o) = seeded(&*s, "acme", 0).await;
    let m = s.membership(o.id(), owner.id()).await.unwrap().unwrap();
    let role = custom_role(o.id(), "eng");
    let token = ScimToken::restore(ScimTokenRecord {
        id: org_domain::ScimTokenId::from_uuid(crate::build::id()),
        org_id: o.id(),
        name: "Okta".into(),
        prefix: "scim_abcdefg".into(),
        token_hash: org_domain::TokenHash([3; 32]),
        created_by: owner.id(),
        capabilities: [org_domain::Capability::OrgMembersManage].into_iter().collect(),
        created_at: crate::build::t(0),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        version: 0,
    });
    let profile = DirectoryProfile::restore(DirectoryProfileRecord {
        membership_id: m.id(),
        org_id: o.id(),
        user_id: owner.id(),
        external_id: Some("E1".into()),
        user_name: "Ada".into(),
        formatted_name: None,
        given_name: Some("Ada".into()),
        family_name: None,
        display_name: None,
        email: org_domain::Email::parse("ada@acme.test").unwrap(),
        created_at: crate::build::t(0),
        updated_at: crate::build::t(0),
        version: 0,
    });
    let mut group = DirectoryGroup::new(&role);
    group.set_external_id(Some("G1")).unwrap();
    s.commit(Changeset {
        roles: vec![role.clone()],
        scim_tokens: vec![token.clone()],
        profiles: vec![profile.clone()],
        directory_groups: vec![group],
        ..Default::default()
    })
    .await
    .unwrap();
    let raw = Database::connect(url.as_str()).await.unwrap();
    let long = "x".repeat(300);
    let cases: Vec<(DirectoryRead, String, &str)> = vec![
        (
            DirectoryRead::Token,
            "UPDATE scim_tokens SET token_hash = 'not hex'".into(),
            "UPDATE scim_tokens SET token_hash = '0303030303030303030303030303030303030303030303030303030303030303'",
        ),
        (
            DirectoryRead::Token,
            "UPDATE scim_tokens SET capabilities = '[\"bogus.capability\"]'".into(),
            "UPDATE scim_tokens SET capabilities = '[\"org.members.manage\"]'",
        ),
        (
            DirectoryRead::Token,
            "UPDATE scim_tokens SET version = -1".into(),
            "UPDATE scim_tokens SET version = 1",
        ),
        (
            DirectoryRead::Profile,
            "UPDATE directory_profiles SET email = 'not an e-mail'".into(),
            "UPDATE directory_profiles SET email = 'ada@acme.test'",
        ),
        (
            DirectoryRead::Profile,
            "UPDATE directory_profiles SET email = 'Ada@Acme.test'".into(),
            "UPDATE directory_profiles SET email = 'ada@acme.test'",
        ),
        (
            DirectoryRead::Profile,
            "UPDATE directory_profiles SET user_name = '  '".into(),
            "UPDATE directory_profiles SET user_name = 'Ada'",
        ),
        (
            DirectoryRead::Profile,
            "UPDATE directory_profiles SET given_name = ' Ada '".into(),
            "UPDATE directory_profiles SET given_name = 'Ada'",
        ),
        (
            DirectoryRead::Profile,
            format!("UPDATE directory_profiles SET display_name = '{long}'"),
            "UPDATE directory_profiles SET display_name = NULL",
        ),
        (
            DirectoryRead::Group,
            "UPDATE directory_groups SET external_id = ''".into(),
            "UPDATE directory_groups SET external_id = 'G1'",
        ),
        (
            DirectoryRead::Group,
            format!("UPDATE directory_groups SET external_id = '{long}'"),
            "UPDATE directory_groups SET external_id = 'G1'",
        ),
    ];
    for (read, break_it, mend_it) in cases {
        raw.execute_unprepared(&break_it).await.unwrap();
        let results: Vec<Result<(), StoreError>> = match read {
            DirectoryRead::Token => vec![
                s.scim_token(o.id(), token.id()).await.map(drop),
                s.scim_tokens(o.id(), PageRequest::new(1, 10)).await.map(drop),
            ],
            DirectoryRead::Profile => vec![
                s.profiles(o.id(), &[m.id()]).await.map(drop),
                s.profile_by_user_name(o.id(), "ada").await.map(drop),
                s.profiles_by_external_id(o.id(), "E1").await.map(drop),
            ],
            DirectoryRead::Group => vec![s.directory_groups(o.id(), &[role.id()]).await.map(drop)],
        };
        for r in results {
            assert!(matches!(r, Err(StoreError::Corrupt(_))), "{break_it}: {r:?}");
        }
        raw.execute_unprepared(mend_it).await.unwrap();
        let mended = match read {
            DirectoryRead::Token => s.scim_token(o.id(), token.id()).await.map(|t| t.is_some()),
            DirectoryRead::Profile => s.profiles(o.id(), &[m.id()]).await.map(|p| p.len() == 1),
            DirectoryRead::Group => s.directory_groups(o.id(), &[role.id()]).await.map(|g| g.len() == 1),
        };
        assert_eq!(mended, Ok(true), "{mend_it}");
    }
    raw.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_a_corrupt_directory_row_is_an_error_not_an_aggregate() {
    a_corrupt_directory_row_is_an_error_not_an_aggregate(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_corrupt_directory_row_is_an_error_not_an_aggregate() {
    a_corrupt_directory_row_is_an_error_not_an_aggregate(Backend::Postgres).await;
}
