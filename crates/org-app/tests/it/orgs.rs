//! Organization use cases: create, list, get, select, update, delete.

use org_app::{AppConfig, AppError, OrgApproval};
use org_domain::{Capability, DomainError, OrgStatus, Rule, SessionKind, UpdateOrg};
use org_ports::{AuditLog, PageRequest};

use crate::support::{World, app_with, is_validation, meta, missing, not_found, rule, user};

#[tokio::test]
async fn creating_an_org_makes_the_caller_its_owner_with_an_org_scoped_session() {
    let (app, _, _) = app_with(AppConfig::default());
    let alice = user(&app, "alice@x.test").await;
    let created = app.create_org(&alice, &meta(), "acme", "  Acme Inc ").await.unwrap();
    let st = created.view.org.state();
    assert_eq!(
        (st.slug.as_str(), st.name.as_str(), st.status),
        ("acme", "Acme Inc", OrgStatus::Active)
    );
    assert_eq!(st.owner_user_id, alice.user.id);
    assert_eq!(created.membership.role.as_str(), "owner");
    assert_eq!(created.view.membership_count, 1);
    assert_eq!(created.session.audience(), "org:acme");
    assert_eq!(created.session.session.kind, SessionKind::Org);
    assert!(created.session.refresh_token.starts_with("rt_"));
    assert!(st.approved_at.is_some());
}

#[tokio::test]
async fn with_manual_approval_a_new_org_is_pending_and_its_session_is_a_platform_session() {
    let (app, _, _) = app_with(AppConfig {
        org_approval: OrgApproval::Manual,
        ..AppConfig::default()
    });
    let alice = user(&app, "alice@x.test").await;
    let created = app.create_org(&alice, &meta(), "acme", "Acme").await.unwrap();
    assert_eq!(created.view.org.status(), OrgStatus::Pending);
    assert_eq!(created.session.audience(), "platform");
}

#[tokio::test]
async fn invalid_slugs_and_names_are_all_reported() {
    let (app, _, _) = app_with(AppConfig::default());
    let alice = user(&app, "alice@x.test").await;
    let err = app.create_org(&alice, &meta(), "API", "x").await.unwrap_err();
    let AppError::Domain(DomainError::Validation(errors)) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
        ["slug", "name"]
    );
    let err = app.create_org(&alice, &meta(), "admin", "Admin org").await.unwrap_err();
    assert!(is_validation(&err), "reserved slug: {err:?}");
}

#[tokio::test]
async fn a_taken_slug_is_a_duplicate() {
    let w = World::new().await;
    let err = w
        .app
        .create_org(&w.member, &meta(), "acme", "Another")
        .await
        .unwrap_err();
    assert_eq!(err, AppError::SlugTaken);
}

#[tokio::test]
async fn the_org_per_user_cap_applies_except_to_platform_owners() {
    let (app, _, _) = app_with(AppConfig {
        max_orgs_per_user: 2,
        ..AppConfig::default()
    });
    let alice = user(&app, "alice@x.test").await;
    app.create_org(&alice, &meta(), "one", "One").await.unwrap();
    app.create_org(&alice, &meta(), "two", "Two").await.unwrap();
    let err = app.create_org(&alice, &meta(), "three", "Three").await.unwrap_err();
    assert_eq!(err, AppError::Domain(DomainError::OrgCapReached));
    let root = app.admin_create_user("root@x.test", None, true).await.unwrap();
    let root = org_app::Caller {
        user: root,
        session_id: None,
    };
    for slug in ["p-one", "p-two", "p-three"] {
        app.create_org(&root, &meta(), slug, "Platform org").await.unwrap();
    }
}

#[tokio::test]
async fn members_list_their_orgs_in_joining_order() {
    let w = World::new().await;
    let orgs = w
        .app
        .list_my_orgs(&w.member, None, PageRequest::new(1, 20))
        .await
        .unwrap();
    assert_eq!(orgs.iter().map(|o| o.org.slug().as_str()).collect::<Vec<_>>(), ["acme"]);
    assert_eq!(orgs[0].membership_count, 4);
    let none = w
        .app
        .list_my_orgs(&w.platform, None, PageRequest::new(1, 20))
        .await
        .unwrap();
    assert!(none.is_empty(), "platform owners see only their memberships here");
}

#[tokio::test]
async fn non_members_get_not_found_and_platform_owners_see_every_org() {
    let w = World::new().await;
    assert_eq!(w.app.get_org(&w.stranger, "acme").await.unwrap_err(), not_found());
    assert_eq!(w.app.get_org(&w.member, "nope").await.unwrap_err(), not_found());
    assert_eq!(
        w.app.get_org(&w.platform, "acme").await.unwrap().org.slug().as_str(),
        "acme"
    );
}

#[tokio::test]
async fn select_issues_a_new_org_session_and_is_refused_for_inactive_orgs_even_to_platform_owners() {
    let w = World::new().await;
    let selected = w.app.select_org(&w.member, &meta(), "acme").await.unwrap();
    assert_eq!(selected.session.audience(), "org:acme");
    assert_eq!(selected.membership.unwrap().user_id, w.member.user.id);
    assert!(w.acme_log().await.contains(&"session.created".to_owned()));
    let as_platform = w.app.select_org(&w.platform, &meta(), "acme").await.unwrap();
    assert!(as_platform.membership.is_none());
    w.app
        .platform_lifecycle(
            &w.platform,
            &meta(),
            "acme",
            org_app::platform::Lifecycle::Suspend { reason: None },
        )
        .await
        .unwrap();
    let err = w.app.select_org(&w.platform, &meta(), "acme").await.unwrap_err();
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
        .update_org(&w.member, &meta(), "acme", rename())
        .await
        .unwrap_err();
    assert_eq!(err, missing(Capability::OrgSettingsManage));
    let view = w.app.update_org(&w.admin, &meta(), "acme", rename()).await.unwrap();
    assert_eq!(view.org.state().name.as_str(), "Acme Two");
    let limits = UpdateOrg {
        max_users: Some(Some(50)),
        ..UpdateOrg::default()
    };
    assert_eq!(
        w.app
            .update_org(&w.owner, &meta(), "acme", limits.clone())
            .await
            .unwrap_err(),
        rule(Rule::PlatformOwnerOnly)
    );
    let view = w.app.update_org(&w.platform, &meta(), "acme", limits).await.unwrap();
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
    w.app.update_org(&w.owner, &meta(), "acme", same).await.unwrap();
    assert_eq!((w.acme_log().await.len(), w.org_events("acme").await.len()), before);
}

#[tokio::test]
async fn only_the_owner_deletes_and_deletion_frees_the_slug_cancels_invitations_and_revokes_sessions() {
    let w = World::new().await;
    let selected = w.app.select_org(&w.member, &meta(), "acme").await.unwrap();
    let inv = w
        .app
        .create_invitation(&w.owner, &meta(), "acme", "guest@x.test", None, None)
        .await
        .unwrap();
    assert_eq!(
        w.app.delete_org(&w.admin, &meta(), "acme").await.unwrap_err(),
        missing(Capability::OrgDelete)
    );
    let org_id = w.app.get_org(&w.owner, "acme").await.unwrap().org.id();
    w.app.delete_org(&w.owner, &meta(), "acme").await.unwrap();
    assert_eq!(w.app.get_org(&w.owner, "acme").await.unwrap_err(), not_found());
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
    w.app.create_org(&w.member, &meta(), "acme", "New Acme").await.unwrap();
}

#[tokio::test]
async fn platform_owners_delete_any_org_and_the_entry_says_so() {
    let w = World::new().await;
    w.app.delete_org(&w.platform, &meta(), "acme").await.unwrap();
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
