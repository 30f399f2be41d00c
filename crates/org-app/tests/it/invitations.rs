//! Invitation use cases (§6): lifecycle, rules, acceptance semantics.

use chrono::Duration;
use org_app::AppError;
use org_domain::{Capability, DomainError, InvitationStatus, OrgStatus, Rule};
use org_ports::PageRequest;

use crate::support::{World, is_validation, meta, missing, not_found, rule, user};

#[tokio::test]
async fn an_invitation_is_created_once_per_email_and_accepted_once() {
    let w = World::new().await;
    let guest = user(&w.app, "guest@x.test").await;
    let inv = w
        .app
        .invitations
        .create(&w.admin, &meta(), "acme", " Guest@X.test ", None, Some(3))
        .await
        .unwrap();
    let rec = inv.view.invitation.record();
    assert_eq!(
        (rec.email.as_str(), rec.role.as_str(), rec.status),
        ("guest@x.test", "member", InvitationStatus::Pending)
    );
    assert_eq!(rec.expires_at - rec.created_at, Duration::days(3));
    assert!(inv.token.starts_with("inv_") && inv.token.len() == 47);
    let again = w
        .app
        .invitations
        .create(&w.admin, &meta(), "acme", "guest@x.test", None, None)
        .await
        .unwrap_err();
    assert_eq!(again, AppError::Domain(DomainError::PendingInvitationExists));
    let (view, membership) = w
        .app
        .invitations
        .accept_by_token(&guest, &meta(), &inv.token)
        .await
        .unwrap();
    assert_eq!(
        (view.org.slug().as_str(), membership.role().as_str()),
        ("acme", "member")
    );
    let replay = w
        .app
        .invitations
        .accept_by_token(&guest, &meta(), &inv.token)
        .await
        .unwrap_err();
    assert_eq!(replay, not_found(), "single use");
    let member_again = w
        .app
        .invitations
        .create(&w.admin, &meta(), "acme", "guest@x.test", None, None)
        .await
        .unwrap_err();
    assert_eq!(member_again, AppError::Domain(DomainError::AlreadyMember));
    let types = w.event_types("acme").await;
    for t in [
        "invitation.created",
        "user.invited",
        "invitation.accepted",
        "user.joined",
        "member.added",
    ] {
        assert!(types.contains(&t.to_owned()), "{t}");
    }
}

#[tokio::test]
async fn invitation_rules_need_capabilities_and_known_roles() {
    let w = World::new().await;
    let create = |who, role: Option<&'static str>, days| {
        let app = w.app.clone();
        async move {
            app.invitations
                .create(who, &meta(), "acme", "new@x.test", role, days)
                .await
                .map(|_| ())
        }
    };
    assert_eq!(
        create(&w.member, None, None).await.unwrap_err(),
        missing(Capability::OrgMembersManage)
    );
    assert_eq!(create(&w.stranger, None, None).await.unwrap_err(), not_found());
    assert!(is_validation(&create(&w.admin, Some("owner"), None).await.unwrap_err()));
    assert!(is_validation(
        &create(&w.admin, Some("ghost-role"), None).await.unwrap_err()
    ));
    assert!(is_validation(&create(&w.admin, None, Some(31)).await.unwrap_err()));
    assert!(is_validation(
        &w.app
            .invitations
            .create(&w.admin, &meta(), "acme", "nope", None, None)
            .await
            .unwrap_err()
    ));
    create(&w.admin, Some("admin"), None).await.unwrap();
}

#[tokio::test]
async fn a_members_manager_without_roles_manage_invites_only_members() {
    let w = World::new().await;
    let hr = user(&w.app, "hr@acme.test").await;
    w.app
        .roles
        .create(
            &w.owner,
            &meta(),
            "acme",
            org_app::roles::CreateRole {
                slug: "hr".into(),
                name: "HR".into(),
                description: None,
                permissions: vec!["org.members.manage".into()],
            },
        )
        .await
        .unwrap();
    crate::support::join(&w.app, &w.owner, "acme", &hr, "hr").await;
    let err = w
        .app
        .invitations
        .create(&hr, &meta(), "acme", "a@x.test", Some("admin"), None)
        .await
        .unwrap_err();
    assert_eq!(err, missing(Capability::OrgRolesManage));
    w.app
        .invitations
        .create(&hr, &meta(), "acme", "a@x.test", None, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_member_cap_blocks_invitations_and_acceptances() {
    let w = World::new().await;
    let patch = org_app::platform::PlatformPatch {
        max_users: Some(Some(5)),
        ..Default::default()
    };
    w.app
        .platform
        .patch_org(&w.platform, &meta(), "acme", patch)
        .await
        .unwrap();
    let (a, b) = (user(&w.app, "a@x.test").await, user(&w.app, "b@x.test").await);
    let inv_a = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "a@x.test", None, None)
        .await
        .unwrap();
    let inv_b = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "b@x.test", None, None)
        .await
        .unwrap();
    w.app
        .invitations
        .accept_by_token(&a, &meta(), &inv_a.token)
        .await
        .unwrap();
    let err = w
        .app
        .invitations
        .accept_by_token(&b, &meta(), &inv_b.token)
        .await
        .unwrap_err();
    assert_eq!(err, AppError::Domain(DomainError::TeamLimitExceeded(5)));
    let err = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "c@x.test", None, None)
        .await
        .unwrap_err();
    assert_eq!(err, AppError::Domain(DomainError::TeamLimitExceeded(5)));
    let list = w
        .app
        .members
        .list(
            &w.owner,
            "acme",
            &org_app::MemberFilter::default(),
            org_app::MemberPosition::first(50),
        )
        .await
        .unwrap();
    assert_eq!((list.active, list.cap, list.cap_source.as_str()), (5, 5, "custom"));
    assert_eq!(w.headcount("acme").await.active, 5);
    let refused = w
        .app
        .stores()
        .members
        .membership(list.org.id(), b.user.id())
        .await
        .unwrap();
    assert!(refused.is_none(), "the refused acceptance wrote nothing");
}

#[tokio::test]
async fn acceptance_checks_email_expiry_and_org_status() {
    let w = World::new().await;
    let guest = user(&w.app, "guest@x.test").await;
    let inv = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "guest@x.test", Some("auditor"), Some(1))
        .await
        .unwrap();
    let err = w
        .app
        .invitations
        .accept_by_token(&w.stranger, &meta(), &inv.token)
        .await
        .unwrap_err();
    assert_eq!(err, AppError::Domain(DomainError::EmailMismatch));
    let by_id = inv.view.invitation.record().id.to_string();
    assert_eq!(
        w.app
            .invitations
            .accept_by_id(&w.stranger, &meta(), &by_id)
            .await
            .unwrap_err(),
        not_found(),
        "addressed to someone else"
    );
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
    let err = w
        .app
        .invitations
        .accept_by_id(&guest, &meta(), &by_id)
        .await
        .unwrap_err();
    assert_eq!(err, AppError::Domain(DomainError::OrgNotActive(OrgStatus::Suspended)));
    w.app
        .platform
        .lifecycle(&w.platform, &meta(), "acme", org_app::platform::Lifecycle::Activate)
        .await
        .unwrap();
    w.advance(Duration::days(1));
    let err = w
        .app
        .invitations
        .accept_by_id(&guest, &meta(), &by_id)
        .await
        .unwrap_err();
    assert_eq!(err, AppError::Domain(DomainError::InvitationExpired));
    let listed = w
        .app
        .invitations
        .list(
            &w.owner,
            &meta(),
            "acme",
            Some(InvitationStatus::Expired),
            PageRequest::new(1, 50),
        )
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        1,
        "a pending invitation past its expiry is listed as expired"
    );
    assert!(w.app.invitations.mine(&guest).await.unwrap().is_empty());
    // Inviting the same e-mail again first marks the old one expired.
    w.app
        .invitations
        .create(&w.owner, &meta(), "acme", "guest@x.test", None, None)
        .await
        .unwrap();
    assert!(w.acme_log().await.contains(&"invitation.expired".to_owned()));
    assert_eq!(w.app.invitations.mine(&guest).await.unwrap().len(), 1);
}

#[tokio::test]
async fn cancel_resend_and_decline() {
    let w = World::new().await;
    let guest = user(&w.app, "guest@x.test").await;
    let inv = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "guest@x.test", None, None)
        .await
        .unwrap();
    let id = inv.view.invitation.record().id.to_string();
    assert_eq!(
        w.app
            .invitations
            .get(&w.admin, &meta(), "acme", &id)
            .await
            .unwrap()
            .inviter
            .unwrap()
            .id(),
        w.owner.user.id()
    );
    assert_eq!(
        w.app
            .invitations
            .get(&w.stranger, &meta(), "other", &id)
            .await
            .unwrap_err(),
        not_found(),
        "another org's id"
    );
    let resent = w.app.invitations.resend(&w.admin, &meta(), "acme", &id).await.unwrap();
    assert_ne!(resent.token, inv.token);
    assert_eq!(
        w.app
            .invitations
            .accept_by_token(&guest, &meta(), &inv.token)
            .await
            .unwrap_err(),
        not_found(),
        "the old token stopped working"
    );
    w.app
        .invitations
        .decline_by_token(&meta(), &resent.token)
        .await
        .unwrap();
    assert_eq!(
        w.app
            .invitations
            .cancel(&w.admin, &meta(), "acme", &id)
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::InvitationNotPending)
    );
    let second = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "guest@x.test", None, None)
        .await
        .unwrap();
    let second_id = second.view.invitation.record().id.to_string();
    w.app
        .invitations
        .cancel(&w.admin, &meta(), "acme", &second_id)
        .await
        .unwrap();
    assert_eq!(
        w.app
            .invitations
            .decline_by_id(&guest, &meta(), &second_id)
            .await
            .unwrap_err(),
        not_found()
    );
    let log = w.acme_log().await;
    for a in ["invitation.resent", "invitation.declined", "invitation.cancelled"] {
        assert!(log.contains(&a.to_owned()), "{a}");
    }
    let types = w.event_types("acme").await;
    assert!(types.contains(&"invitation.revoked".to_owned()) && types.contains(&"invitation.declined".to_owned()));
}

#[tokio::test]
async fn admin_accept_creates_the_user_when_needed_and_applies_the_grant_rule() {
    let w = World::new().await;
    let inv = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "fresh@x.test", Some("admin"), None)
        .await
        .unwrap();
    let id = inv.view.invitation.record().id.to_string();
    let hr_err = w
        .app
        .invitations
        .admin_accept(&w.member, &meta(), "acme", &id)
        .await
        .unwrap_err();
    assert_eq!(hr_err, missing(Capability::OrgMembersManage));
    let m = w
        .app
        .invitations
        .admin_accept(&w.admin, &meta(), "acme", &id)
        .await
        .unwrap();
    assert_eq!(
        (m.user.email().as_str(), m.membership.role().as_str()),
        ("fresh@x.test", "admin")
    );
    let platform_log = w.audit_actions(org_ports::AuditLog::Platform).await;
    assert!(platform_log.contains(&"user.created".to_owned()));
    assert_eq!(
        w.app
            .invitations
            .admin_accept(&w.admin, &meta(), "acme", &id)
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::InvitationNotPending)
    );
    // A members-and-roles manager without audit_logs.view cannot admit someone as auditor,
    // nor as admin (only owners and admins grant admin).
    let lead = user(&w.app, "lead@acme.test").await;
    w.app
        .roles
        .create(
            &w.owner,
            &meta(),
            "acme",
            org_app::roles::CreateRole {
                slug: "lead".into(),
                name: "Lead".into(),
                description: None,
                permissions: vec!["org.roles.manage".into(), "org.members.manage".into()],
            },
        )
        .await
        .unwrap();
    crate::support::join(&w.app, &w.owner, "acme", &lead, "lead").await;
    for (email, role) in [("aud@x.test", "auditor"), ("adm@x.test", "admin")] {
        let inv = w
            .app
            .invitations
            .create(&w.owner, &meta(), "acme", email, Some(role), None)
            .await
            .unwrap();
        let id = inv.view.invitation.record().id.to_string();
        assert_eq!(
            w.app
                .invitations
                .admin_accept(&lead, &meta(), "acme", &id)
                .await
                .unwrap_err(),
            rule(Rule::Grant),
            "{role}"
        );
        let still = w.app.invitations.get(&w.owner, &meta(), "acme", &id).await.unwrap();
        assert_eq!(still.invitation.record().status, InvitationStatus::Pending, "{role}");
    }
}

#[tokio::test]
async fn the_sweeper_expires_due_invitations_as_system() {
    let w = World::new().await;
    w.app
        .invitations
        .create(&w.owner, &meta(), "acme", "a@x.test", None, Some(1))
        .await
        .unwrap();
    w.app
        .invitations
        .create(&w.owner, &meta(), "acme", "b@x.test", None, Some(5))
        .await
        .unwrap();
    w.advance(Duration::days(2));
    let org = w.app.orgs.get(&w.owner, "acme").await.unwrap().org;
    assert_eq!(w.app.invitations.expire(&org).await.unwrap(), 1);
    assert_eq!(w.app.invitations.expire(&org).await.unwrap(), 0);
    assert!(w.event_types("acme").await.contains(&"invitation.expired".to_owned()));
    let expired = w
        .filtered(org_ports::AuditLog::Org(org.id()), "invitation.expired")
        .await;
    assert_eq!(expired.total, Some(1));
    assert_eq!(expired.items[0].entry.actor.id, "system");
    assert_eq!(expired.items[0].entry.metadata.as_ref().unwrap()["email"], "a@x.test");
}
