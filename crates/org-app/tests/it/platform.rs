//! Platform administration (§20) and admin-CLI user use cases (§2.9).

use org_app::platform::{Lifecycle, PlatformPatch};
use org_app::{AppConfig, AppError, OrgApproval};
use org_domain::{DomainError, OrgStatus, RevokeReason, Rule};
use org_ports::{AuditLog, OrgFilter, PageRequest};

use crate::support::{TestApp, World, is_validation, meta, rule, user};

#[tokio::test]
async fn the_lifecycle_allows_exactly_the_transitions_of_the_contract() {
    let app = TestApp::new(AppConfig {
        org_approval: OrgApproval::Manual,
        ..AppConfig::default()
    })
    .app;
    let root = org_app::Caller::new(app.users.create("root@x.test", None, true).await.unwrap(), None);
    let alice = user(&app, "alice@x.test").await;
    app.orgs.create(&alice, &meta(), "acme", "Acme").await.unwrap();
    app.orgs.create(&alice, &meta(), "beta", "Beta").await.unwrap();
    let step = |slug: &'static str, action: Lifecycle| {
        let (app, root) = (app.clone(), root.clone());
        async move {
            app.platform
                .lifecycle(&root, &meta(), slug, action)
                .await
                .map(|v| v.org.status())
        }
    };
    let conflict = |from, action| AppError::Domain(DomainError::InvalidTransition { from, action });
    assert_eq!(
        step("acme", Lifecycle::Activate).await.unwrap_err(),
        conflict(OrgStatus::Pending, "activate")
    );
    assert_eq!(
        step("acme", Lifecycle::Suspend { reason: None }).await.unwrap_err(),
        conflict(OrgStatus::Pending, "suspend")
    );
    assert!(is_validation(
        &step(
            "acme",
            Lifecycle::Approve {
                tier_id: Some("tier_gold".into())
            }
        )
        .await
        .unwrap_err()
    ));
    assert_eq!(
        step(
            "acme",
            Lifecycle::Approve {
                tier_id: Some("tier_pro".into())
            }
        )
        .await
        .unwrap(),
        OrgStatus::Active
    );
    assert_eq!(
        step("acme", Lifecycle::Approve { tier_id: None }).await.unwrap_err(),
        conflict(OrgStatus::Active, "approve")
    );
    assert_eq!(
        step(
            "acme",
            Lifecycle::Suspend {
                reason: Some("abuse".into())
            }
        )
        .await
        .unwrap(),
        OrgStatus::Suspended
    );
    assert_eq!(step("acme", Lifecycle::Activate).await.unwrap(), OrgStatus::Active);
    assert_eq!(
        step("beta", Lifecycle::Reject { reason: "spam".into() }).await.unwrap(),
        OrgStatus::Rejected
    );
    assert_eq!(
        step("beta", Lifecycle::Approve { tier_id: None }).await.unwrap_err(),
        conflict(OrgStatus::Rejected, "approve")
    );
    let acme = app.platform.get_org(&root, "acme").await.unwrap().org;
    assert_eq!(
        (acme.state().tier_id.as_str(), acme.state().suspended_at),
        ("tier_pro", None)
    );
    let page = app
        .stores()
        .audit
        .audit_entries(AuditLog::Org(acme.id()), &Default::default(), PageRequest::new(1, 50))
        .await
        .unwrap();
    let approved = page.items.iter().find(|e| e.entry.action == "org.approved").unwrap();
    let m = approved.entry.metadata.as_ref().unwrap();
    assert_eq!(
        (
            m["old_status"].as_str(),
            m["new_status"].as_str(),
            m["tier_id"].as_str()
        ),
        (Some("pending"), Some("active"), Some("tier_pro"))
    );
    assert_eq!(m["via_platform_owner"], true);
    let events = app.stores().outbox.org_events(acme.id()).await.unwrap();
    let updated: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "organization.updated")
        .collect();
    assert_eq!(
        updated[0].data,
        serde_json::json!({"status": "active", "previous_status": "pending"})
    );
}

#[tokio::test]
async fn suspension_revokes_every_org_session_and_gates_mutations_but_not_reads() {
    let w = World::new().await;
    let s = w
        .app
        .orgs
        .select(&w.member, &meta(), "acme")
        .await
        .unwrap()
        .session
        .session
        .id;
    w.app
        .platform
        .lifecycle(&w.platform, &meta(), "acme", Lifecycle::Suspend { reason: None })
        .await
        .unwrap();
    let session = w.app.stores().sessions.session_by_id(s).await.unwrap().unwrap();
    assert_eq!(session.revoke_reason, Some(RevokeReason::OrgSuspended));
    w.app.orgs.get(&w.owner, "acme").await.unwrap();
    let err = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "x@x.test", None, None)
        .await
        .unwrap_err();
    assert_eq!(err, AppError::Domain(DomainError::OrgNotActive(OrgStatus::Suspended)));
    w.app
        .invitations
        .create(&w.platform, &meta(), "acme", "x@x.test", None, None)
        .await
        .unwrap();
    w.app.orgs.delete(&w.owner, &meta(), "acme").await.unwrap();
}

#[tokio::test]
async fn platform_endpoints_refuse_everyone_else() {
    let w = World::new().await;
    assert_eq!(
        w.app.platform.tiers(&w.owner).unwrap_err(),
        rule(Rule::PlatformOwnerOnly)
    );
    assert_eq!(
        w.app
            .platform
            .list_orgs(&w.owner, &OrgFilter::default(), PageRequest::new(1, 20))
            .await
            .unwrap_err(),
        rule(Rule::PlatformOwnerOnly)
    );
    let err = w
        .app
        .platform
        .lifecycle(&w.owner, &meta(), "acme", Lifecycle::Suspend { reason: None })
        .await
        .unwrap_err();
    assert_eq!(err, rule(Rule::PlatformOwnerOnly));
    assert_eq!(w.app.platform.tiers(&w.platform).unwrap().len(), 4);
    let (orgs, total) = w
        .app
        .platform
        .list_orgs(
            &w.platform,
            &OrgFilter {
                q: Some("OTH".into()),
                status: None,
            },
            PageRequest::new(1, 20),
        )
        .await
        .unwrap();
    assert_eq!((total, orgs[0].org.slug().as_str()), (1, "other"));
}

#[tokio::test]
async fn platform_patch_changes_tier_and_limits_and_rejects_unknown_tiers() {
    let w = World::new().await;
    let patch = PlatformPatch {
        tier_id: Some("tier_free".into()),
        max_services: Some(Some(7)),
        ..Default::default()
    };
    let view = w
        .app
        .platform
        .patch_org(&w.platform, &meta(), "acme", patch)
        .await
        .unwrap();
    assert_eq!(
        (view.org.state().tier_id.as_str(), view.org.state().max_services),
        ("tier_free", Some(7))
    );
    assert_eq!(view.tier.unwrap().name, "free");
    let bad = PlatformPatch {
        tier_id: Some("tier_x".into()),
        ..Default::default()
    };
    assert!(is_validation(
        &w.app
            .platform
            .patch_org(&w.platform, &meta(), "acme", bad)
            .await
            .unwrap_err()
    ));
    assert!(w.acme_log().await.contains(&"org.limits_updated".to_owned()));
}

#[tokio::test]
async fn admin_cli_users_promote_disable_and_issue_tokens() {
    let app = TestApp::new(AppConfig::default()).app;
    let u = app.users.create("a@x.test", Some("A".into()), false).await.unwrap();
    assert!(matches!(
        app.users.create("A@x.test", None, false).await.unwrap_err(),
        AppError::Duplicate(_)
    ));
    assert!(
        app.users
            .set_platform_owner("a@x.test", true)
            .await
            .unwrap()
            .is_platform_owner()
    );
    assert!(
        !app.users
            .set_platform_owner("a@x.test", false)
            .await
            .unwrap()
            .is_platform_owner()
    );
    let (user, issued) = app.users.issue_token("new@x.test", None).await.unwrap();
    assert_eq!(
        (user.email().as_str(), issued.audience().as_str()),
        ("new@x.test", "platform")
    );
    let caller = org_app::Caller::new(u.clone(), None);
    app.orgs.create(&caller, &meta(), "acme", "Acme").await.unwrap();
    let (_, org_token) = app.users.issue_token("a@x.test", Some("acme")).await.unwrap();
    assert_eq!(org_token.audience(), "org:acme");
    assert_eq!(
        app.users.issue_token("new@x.test", Some("acme")).await.unwrap_err(),
        AppError::Domain(DomainError::NotFound)
    );
    let on_acme = org_app::RoutePolicy {
        service_tokens: false,
        org_slug: Some("acme"),
        path_org: Some("acme"),
    };
    let auth = app
        .sessions
        .authenticate(&org_token.access_token, on_acme)
        .await
        .unwrap();
    assert_eq!((auth.caller.user.id(), auth.session.id), (u.id(), org_token.session.id));
    app.users.set_disabled("a@x.test", true).await.unwrap();
    assert!(matches!(
        app.sessions
            .authenticate(&org_token.access_token, on_acme)
            .await
            .unwrap_err(),
        AppError::Unauthorized(_)
    ));
    let session = app
        .stores()
        .sessions
        .session_by_id(org_token.session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.revoke_reason, Some(RevokeReason::UserDisabled));
    app.users.set_disabled("a@x.test", false).await.unwrap();
    assert!(
        app.sessions
            .authenticate(&org_token.access_token, on_acme)
            .await
            .is_err(),
        "disabling revoked the session for good"
    );
    let page = app
        .stores()
        .audit
        .audit_entries(AuditLog::Platform, &Default::default(), PageRequest::new(1, 50))
        .await
        .unwrap();
    let actions: Vec<&str> = page.items.iter().rev().map(|e| e.entry.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user.created",
            "platform_owner.granted",
            "platform_owner.revoked",
            "user.created",
            "token.issued",
            "token.issued",
            "user.disabled",
            "user.enabled"
        ]
    );
    assert!(
        page.items
            .iter()
            .all(|e| e.entry.actor.id == "system" && e.entry.metadata.as_ref().unwrap()["via_cli"] == true)
    );
}
