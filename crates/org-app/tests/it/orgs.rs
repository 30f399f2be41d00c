//! Organization use cases: create, list, get, select, update, delete.

use org_app::{AppConfig, AppError, OrgApproval};
use org_domain::{Capability, DomainError, OrgStatus, Rule, SessionKind, UpdateOrg};
use org_ports::{AuditLog, PageRequest};

use crate::support::{TestApp, World, is_validation, meta, missing, not_found, rule, user};

#[tokio::test]
async fn creating_an_org_makes_the_caller_its_owner_with_an_org_scoped_session() {
    let app = TestApp::new(AppConfig::default()).app;
    let alice = user(&app, "alice@x.test").await;
    let created = app.orgs.create(&alice, &meta(), "acme", "  Acme Inc ").await.unwrap();
    let st = created.view.org.state();
    let stored = app
        .stores()
        .members
        .membership(st.id, alice.user.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, created.membership, "the returned membership is the stored one");
    assert_eq!(
        created.view.org.headcount(),
        org_domain::Headcount { active: 1, total: 1 }
    );
    let policy = org_app::RoutePolicy {
        service_tokens: false,
        org_slug: Some("acme"),
        path_org: Some("acme"),
    };
    let auth = app
        .sessions
        .authenticate(&created.session.access_token, policy)
        .await
        .unwrap();
    assert_eq!(
        (auth.caller.user.id(), auth.session.id, auth.claims.aud.as_str()),
        (alice.user.id(), created.session.session.id, "org:acme")
    );
    assert_eq!(
        (st.slug.as_str(), st.name.as_str(), st.status),
        ("acme", "Acme Inc", OrgStatus::Active)
    );
    assert_eq!(st.owner_user_id, alice.user.id());
    assert_eq!(created.membership.role().as_str(), "owner");
    assert_eq!(created.view.membership_count, 1);
    assert_eq!(created.session.audience(), "org:acme");
    assert_eq!(created.session.session.kind, SessionKind::Org);
    assert!(created.session.refresh_token.starts_with("rt_"));
    assert!(st.approved_at.is_some());
}

#[tokio::test]
async fn with_manual_approval_a_new_org_is_pending_and_its_session_is_a_platform_session() {
    let app = TestApp::new(AppConfig {
        org_approval: OrgApproval::Manual,
        ..AppConfig::default()
    })
    .app;
    let alice = user(&app, "alice@x.test").await;
    let created = app.orgs.create(&alice, &meta(), "acme", "Acme").await.unwrap();
    assert_eq!(created.view.org.status(), OrgStatus::Pending);
    assert_eq!(created.session.audience(), "platform");
}

#[tokio::test]
async fn invalid_slugs_and_names_are_all_reported() {
    let app = TestApp::new(AppConfig::default()).app;
    let alice = user(&app, "alice@x.test").await;
    let err = app.orgs.create(&alice, &meta(), "API", "x").await.unwrap_err();
    let AppError::Domain(DomainError::Validation(errors)) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
        ["slug", "name"]
    );
    let err = app
        .orgs
        .create(&alice, &meta(), "admin", "Admin org")
        .await
        .unwrap_err();
    assert!(is_validation(&err), "reserved slug: {err:?}");
}

#[tokio::test]
async fn a_taken_slug_is_a_duplicate() {
    let w = World::new().await;
    let err = w
        .app
        .orgs
        .create(&w.member, &meta(), "acme", "Another")
        .await
        .unwrap_err();
    assert_eq!(err, AppError::SlugTaken);
}

#[tokio::test]
async fn the_org_per_user_cap_applies_except_to_platform_owners() {
    let app = TestApp::new(AppConfig {
        max_orgs_per_user: 2,
        ..AppConfig::default()
    })
    .app;
    let alice = user(&app, "alice@x.test").await;
    app.orgs.create(&alice, &meta(), "one", "One").await.unwrap();
    app.orgs.create(&alice, &meta(), "two", "Two").await.unwrap();
    let err = app.orgs.create(&alice, &meta(), "three", "Three").await.unwrap_err();
    assert_eq!(err, AppError::Domain(DomainError::OrgCapReached));
    let root = app.users.create("root@x.test", None, true).await.unwrap();
    let root = org_app::Caller::new(root, None);
    for slug in ["p-one", "p-two", "p-three"] {
        app.orgs.create(&root, &meta(), slug, "Platform org").await.unwrap();
    }
}

#[tokio::test]
async fn members_list_their_orgs_in_joining_order() {
    let w = World::new().await;
    let orgs = w
        .app
        .orgs
        .list_mine(&w.member, None, PageRequest::new(1, 20))
        .await
        .unwrap();
    assert_eq!(
        orgs.iter().map(|o| o.view.org.slug().as_str()).collect::<Vec<_>>(),
        ["acme"]
    );
    assert_eq!(orgs[0].view.membership_count, 4);
    let none = w
        .app
        .orgs
        .list_mine(&w.platform, None, PageRequest::new(1, 20))
        .await
        .unwrap();
    assert!(none.is_empty(), "platform owners see only their memberships here");
}

#[tokio::test]
async fn non_members_get_not_found_and_platform_owners_see_every_org() {
    let w = World::new().await;
    assert_eq!(w.app.orgs.get(&w.stranger, "acme").await.unwrap_err(), not_found());
    assert_eq!(w.app.orgs.get(&w.member, "nope").await.unwrap_err(), not_found());
    assert_eq!(
        w.app.orgs.get(&w.platform, "acme").await.unwrap().org.slug().as_str(),
        "acme"
    );
}

#[tokio::test]
async fn select_issues_a_new_org_session_and_is_refused_for_inactive_orgs_even_to_platform_owners() {
    let w = World::new().await;
    let selected = w.app.orgs.select(&w.member, &meta(), "acme").await.unwrap();
    assert_eq!(selected.session.audience(), "org:acme");
    assert_eq!(selected.membership.unwrap().user_id(), w.member.user.id());
    assert!(w.acme_log().await.contains(&"session.created".to_owned()));
    let as_platform = w.app.orgs.select(&w.platform, &meta(), "acme").await.unwrap();
    assert!(as_platform.membership.is_none());
    w.app
        .platform
        .lifecycle(
            &w.platform,
            &meta(),
            "acme",
            org_app::platform::Lifecycle::Suspend { reason: None },
        )
        .await
        .unwrap();
    let err = w.app.orgs.select(&w.platform, &meta(), "acme").await.unwrap_err();
    assert_eq!(err, AppError::Domain(DomainError::OrgNotActive(OrgStatus::Suspended)));
}

#[tokio::test]
async fn renaming_needs_the_settings_capability_and_limits_need_a_platform_owner() {
    let w = World::new().await;
    let rename = || UpdateOrg {
        name: Some(org_domain::OrgName::parse("Acme Two").unwrap()),
        ..UpdateOrg::default()
    };
    let err = w
        .app
        .orgs
        .update(&w.member, &meta(), "acme", rename())
        .await
        .unwrap_err();
    assert_eq!(err, missing(Capability::OrgSettingsManage));
    let view = w.app.orgs.update(&w.admin, &meta(), "acme", rename()).await.unwrap();
    assert_eq!(view.org.state().name.as_str(), "Acme Two");
    let limits = UpdateOrg {
        max_users: Some(Some(50)),
        ..UpdateOrg::default()
    };
    assert_eq!(
        w.app
            .orgs
            .update(&w.owner, &meta(), "acme", limits.clone())
            .await
            .unwrap_err(),
        rule(Rule::PlatformOwnerOnly)
    );
    let view = w.app.orgs.update(&w.platform, &meta(), "acme", limits).await.unwrap();
    assert_eq!(view.org.state().max_users, Some(50));
    let log = w.acme_log().await;
    assert_eq!(log.iter().filter(|a| *a == "org.updated").count(), 2);
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_no_audit_entry_and_no_event() {
    let w = World::new().await;
    let before = (w.acme_log().await.len(), w.org_events("acme").await.len());
    let same = UpdateOrg {
        name: Some(org_domain::OrgName::parse("Acme Inc").unwrap()),
        ..UpdateOrg::default()
    };
    w.app.orgs.update(&w.owner, &meta(), "acme", same).await.unwrap();
    assert_eq!((w.acme_log().await.len(), w.org_events("acme").await.len()), before);
}

#[tokio::test]
async fn only_the_owner_deletes_and_deletion_frees_the_slug_cancels_invitations_and_revokes_sessions() {
    let w = World::new().await;
    let selected = w.app.orgs.select(&w.member, &meta(), "acme").await.unwrap();
    let inv = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "guest@x.test", None, None)
        .await
        .unwrap();
    assert_eq!(
        w.app.orgs.delete(&w.admin, &meta(), "acme").await.unwrap_err(),
        missing(Capability::OrgDelete)
    );
    let org_id = w.app.orgs.get(&w.owner, "acme").await.unwrap().org.id();
    w.app.orgs.delete(&w.owner, &meta(), "acme").await.unwrap();
    assert_eq!(w.app.orgs.get(&w.owner, "acme").await.unwrap_err(), not_found());
    let session = w
        .app
        .stores()
        .sessions
        .session_by_id(selected.session.session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.revoke_reason, Some(org_domain::RevokeReason::OrgDeleted));
    let inv = w
        .app
        .stores()
        .invitations
        .invitation_by_id(inv.view.invitation.record().id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inv.record().status, org_domain::InvitationStatus::Cancelled);
    assert!(
        w.audit_actions(AuditLog::Platform)
            .await
            .contains(&"org.deleted".to_owned())
    );
    let events = w.app.stores().outbox.org_events(org_id).await.unwrap();
    assert_eq!(events.last().unwrap().event_type, "organization.deleted");
    w.app.orgs.create(&w.member, &meta(), "acme", "New Acme").await.unwrap();
}

#[tokio::test]
async fn platform_owners_delete_any_org_and_the_entry_says_so() {
    let w = World::new().await;
    w.app.orgs.delete(&w.platform, &meta(), "acme").await.unwrap();
    let page = w
        .app
        .stores()
        .audit
        .audit_entries(
            AuditLog::Platform,
            &org_ports::AuditFilter {
                action: Some("org.deleted".into()),
                ..Default::default()
            },
            PageRequest::new(1, 10),
        )
        .await
        .unwrap();
    assert_eq!(
        page.items[0].entry.metadata.as_ref().unwrap()["via_platform_owner"],
        true
    );
}

#[tokio::test]
async fn a_deleted_org_is_purged_once_its_deliveries_are_done_or_48_hours_later() {
    let w = World::new().await;
    let id = w.org_id("acme").await;
    let hook = org_app::webhooks::WebhookInput {
        name: Some("sink".into()),
        url: Some("https://hooks.example.com/h".into()),
        events: Some(vec!["organization.deleted".into()]),
        is_active: None,
    };
    w.app.webhooks.create(&w.owner, &meta(), "acme", hook).await.unwrap();
    assert_eq!(w.app.workers.purge_deleted_orgs().await.unwrap(), 0, "a live org stays");
    w.app.orgs.delete(&w.owner, &meta(), "acme").await.unwrap();
    assert_eq!(
        w.app.workers.purge_deleted_orgs().await.unwrap(),
        0,
        "its organization.deleted delivery is still pending"
    );
    assert!(w.app.stores().orgs.org_by_id(id).await.unwrap().is_some());
    w.advance(chrono::Duration::hours(48) + chrono::Duration::seconds(1));
    assert_eq!(
        w.app.workers.purge_deleted_orgs().await.unwrap(),
        1,
        "the deadline passed"
    );
    assert_eq!(w.app.stores().orgs.org_by_id(id).await.unwrap(), None);
    let log = w
        .app
        .stores()
        .audit
        .audit_entries(AuditLog::Org(id), &Default::default(), PageRequest::new(1, 10))
        .await
        .unwrap();
    assert!(log.items.is_empty(), "the org's log went with it");
    let platform = w
        .app
        .stores()
        .audit
        .audit_entries(AuditLog::Platform, &Default::default(), PageRequest::new(1, 100))
        .await
        .unwrap();
    assert!(
        platform.items.iter().any(|e| e.entry.action == "org.deleted"),
        "the platform log keeps the deletion"
    );
    assert_eq!(w.app.workers.purge_deleted_orgs().await.unwrap(), 0, "once");
}

#[tokio::test]
async fn a_worker_lease_is_held_by_one_app_until_it_lapses() {
    let w = World::new().await;
    let other = w.sibling();
    let hold = std::time::Duration::from_secs(60);
    assert!(w.app.workers.lease("sweep", hold).await.unwrap());
    assert!(
        !other.workers.lease("sweep", hold).await.unwrap(),
        "another process waits"
    );
    assert!(w.app.workers.lease("sweep", hold).await.unwrap(), "the holder renews");
    w.advance(chrono::Duration::seconds(61));
    assert!(
        other.workers.lease("sweep", hold).await.unwrap(),
        "a lapsed lease moves"
    );
    assert!(!w.app.workers.lease("sweep", hold).await.unwrap());
}
