//! Member use cases: list, change role, remove, transfer ownership (§5, rules of §3.5).

use org_app::{AppError, MemberFilter, TransferTarget};
use org_domain::{Capability, DomainError, MembershipStatus, RevokeReason, Role, Rule};
use org_ports::PageRequest;

use crate::support::{World, is_validation, join, meta, missing, not_found, rule, user};

fn id(c: &org_app::Caller) -> String {
    c.user.id.to_string()
}

#[tokio::test]
async fn every_member_lists_members_oldest_first_with_the_cap() {
    let w = World::new().await;
    let list = w
        .app
        .list_members(&w.member, "acme", &MemberFilter::default(), PageRequest::new(1, 50))
        .await
        .unwrap();
    let emails: Vec<&str> = list.members.iter().map(|m| m.user.email.as_str()).collect();
    assert_eq!(
        emails,
        [
            "owner@acme.test",
            "admin@acme.test",
            "member@acme.test",
            "auditor@acme.test"
        ]
    );
    assert_eq!(
        (list.total, list.active, list.cap, list.cap_source.as_str()),
        (4, 4, 999_999, "enterprise")
    );
    let admins = MemberFilter {
        role: Some("admin".into()),
        status: Some(MembershipStatus::Active),
    };
    let list = w
        .app
        .list_members(&w.member, "acme", &admins, PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(list.total, 1);
    let paged = w
        .app
        .list_members(&w.member, "acme", &MemberFilter::default(), PageRequest::new(2, 3))
        .await
        .unwrap();
    assert_eq!((paged.total, paged.members.len()), (4, 1));
    let err = w
        .app
        .list_members(&w.stranger, "acme", &MemberFilter::default(), PageRequest::new(1, 50))
        .await
        .unwrap_err();
    assert_eq!(err, not_found());
}

#[tokio::test]
async fn role_changes_follow_the_grant_and_target_rules() {
    let w = World::new().await;
    let cases: Vec<(&org_app::Caller, &org_app::Caller, &str, Result<&str, AppError>)> = vec![
        (&w.member, &w.auditor, "admin", Err(missing(Capability::OrgRolesManage))),
        (
            &w.admin,
            &w.admin,
            "member",
            Err(AppError::Domain(DomainError::SelfAction)),
        ),
        (&w.admin, &w.owner, "member", Err(rule(Rule::TargetIsOwner))),
        (
            &w.admin,
            &w.member,
            "nope",
            Err(AppError::Domain(DomainError::Validation(vec![
                org_domain::FieldError::new("role", "unknown role 'nope'"),
            ]))),
        ),
        (&w.admin, &w.member, "auditor", Ok("auditor")),
        (&w.admin, &w.member, "admin", Ok("admin")),
        (&w.admin, &w.member, "member", Err(rule(Rule::TargetIsAdmin))),
        (&w.owner, &w.member, "member", Ok("member")),
        (&w.owner, &w.member, "member", Ok("member")),
    ];
    for (i, (actor, target, role, expected)) in cases.into_iter().enumerate() {
        let got = w
            .app
            .change_member_role(actor, &meta(), "acme", &id(target), role)
            .await;
        match expected {
            Ok(role) => assert_eq!(got.unwrap().membership.role.as_str(), role, "case {i}"),
            Err(e) => assert_eq!(got.unwrap_err(), e, "case {i}"),
        }
    }
    let changes = w
        .acme_log()
        .await
        .iter()
        .filter(|a| *a == "member.role_changed")
        .count();
    assert_eq!(changes, 3, "the no-op change wrote nothing");
}

#[tokio::test]
async fn nobody_grants_capabilities_they_do_not_hold() {
    let w = World::new().await;
    let lead = user(&w.app, "lead@acme.test").await;
    w.app
        .create_role(
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
    join(&w.app, &w.owner, "acme", &lead, "lead").await;
    let err = w
        .app
        .change_member_role(&lead, &meta(), "acme", &id(&w.member), "auditor")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        rule(Rule::Grant),
        "auditor holds audit_logs.view, which lead lacks"
    );
    let err = w
        .app
        .change_member_role(&lead, &meta(), "acme", &id(&w.member), "admin")
        .await
        .unwrap_err();
    assert_eq!(err, rule(Rule::Grant), "only owners and admins grant admin");
    let err = w
        .app
        .change_member_role(&lead, &meta(), "acme", &id(&w.auditor), "member")
        .await
        .unwrap_err();
    assert_eq!(err, rule(Rule::TargetCapabilities));
}

#[tokio::test]
async fn changing_a_role_to_owner_transfers_ownership() {
    let w = World::new().await;
    let err = w
        .app
        .change_member_role(&w.admin, &meta(), "acme", &id(&w.member), "owner")
        .await
        .unwrap_err();
    assert_eq!(err, missing(Capability::OrgOwnershipTransfer));
    let m = w
        .app
        .change_member_role(&w.owner, &meta(), "acme", &id(&w.member), "owner")
        .await
        .unwrap();
    assert_eq!(m.membership.role, Role::Owner);
    let org = w.app.get_org(&w.owner, "acme").await.unwrap().org;
    assert_eq!(org.state().owner_user_id, w.member.user.id);
    assert_eq!(org.membership(w.owner.user.id).unwrap().role, Role::Admin);
    assert!(w.acme_log().await.contains(&"org.ownership_transferred".to_owned()));
}

#[tokio::test]
async fn removal_follows_the_target_rule_and_revokes_the_members_org_sessions() {
    let w = World::new().await;
    let session = w
        .app
        .select_org(&w.member, &meta(), "acme")
        .await
        .unwrap()
        .session
        .session
        .id;
    assert_eq!(
        w.app
            .remove_member(&w.auditor, &meta(), "acme", &id(&w.member))
            .await
            .unwrap_err(),
        missing(Capability::OrgMembersManage)
    );
    assert_eq!(
        w.app
            .remove_member(&w.admin, &meta(), "acme", &id(&w.admin))
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::SelfAction)
    );
    assert_eq!(
        w.app
            .remove_member(&w.admin, &meta(), "acme", &id(&w.owner))
            .await
            .unwrap_err(),
        rule(Rule::TargetIsOwner)
    );
    assert_eq!(
        w.app
            .remove_member(&w.platform, &meta(), "acme", &id(&w.owner))
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::OwnerInvariant)
    );
    assert_eq!(
        w.app
            .remove_member(&w.admin, &meta(), "acme", &id(&w.stranger))
            .await
            .unwrap_err(),
        not_found()
    );
    assert_eq!(
        w.app
            .remove_member(&w.admin, &meta(), "acme", "not-a-uuid")
            .await
            .unwrap_err(),
        not_found()
    );
    w.app
        .remove_member(&w.admin, &meta(), "acme", &id(&w.member))
        .await
        .unwrap();
    let s = w.app.stores().sessions.session_by_id(session).await.unwrap().unwrap();
    assert_eq!(s.revoke_reason, Some(RevokeReason::MemberRemoved));
    assert_eq!(w.app.get_org(&w.member, "acme").await.unwrap_err(), not_found());
    assert_eq!(
        w.app
            .remove_member(&w.admin, &meta(), "acme", &id(&w.owner))
            .await
            .unwrap_err(),
        rule(Rule::TargetIsOwner)
    );
    assert_eq!(
        w.event_types("acme")
            .await
            .iter()
            .filter(|t| *t == "member.removed" || *t == "user.removed")
            .count(),
        2
    );
}

#[tokio::test]
async fn admins_are_removed_only_by_the_owner() {
    let w = World::new().await;
    let second = user(&w.app, "second@acme.test").await;
    join(&w.app, &w.owner, "acme", &second, "admin").await;
    assert_eq!(
        w.app
            .remove_member(&w.admin, &meta(), "acme", &id(&second))
            .await
            .unwrap_err(),
        rule(Rule::TargetIsAdmin)
    );
    w.app
        .remove_member(&w.owner, &meta(), "acme", &id(&second))
        .await
        .unwrap();
}

#[tokio::test]
async fn ownership_transfer_is_one_step_by_email_or_id() {
    let w = World::new().await;
    let by_email = TransferTarget::Email("ADMIN@acme.test".into());
    assert_eq!(
        w.app
            .transfer_ownership(&w.admin, &meta(), "acme", &by_email)
            .await
            .unwrap_err(),
        missing(Capability::OrgOwnershipTransfer)
    );
    let unknown = TransferTarget::Email("ghost@acme.test".into());
    assert_eq!(
        w.app
            .transfer_ownership(&w.owner, &meta(), "acme", &unknown)
            .await
            .unwrap_err(),
        not_found()
    );
    let outsider = TransferTarget::UserId(id(&w.stranger));
    assert_eq!(
        w.app
            .transfer_ownership(&w.owner, &meta(), "acme", &outsider)
            .await
            .unwrap_err(),
        not_found()
    );
    let me = TransferTarget::UserId(id(&w.owner));
    assert_eq!(
        w.app
            .transfer_ownership(&w.owner, &meta(), "acme", &me)
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::AlreadyOwner)
    );
    let bad = TransferTarget::Email("not an email".into());
    assert!(is_validation(
        &w.app
            .transfer_ownership(&w.owner, &meta(), "acme", &bad)
            .await
            .unwrap_err()
    ));
    let new_owner = w
        .app
        .transfer_ownership(&w.owner, &meta(), "acme", &by_email)
        .await
        .unwrap();
    assert_eq!(
        (new_owner.user.id, new_owner.membership.role.clone()),
        (w.admin.user.id, Role::Owner)
    );
    let events = w.org_events("acme").await;
    let e = events
        .iter()
        .find(|e| e.event_type == "organization.ownership_transferred")
        .unwrap();
    assert_eq!(e.data["previous_owner_email"], "owner@acme.test");
    assert_eq!(e.data["new_owner_email"], "admin@acme.test");
    // The previous owner is now an admin and cannot transfer again.
    let back = TransferTarget::UserId(id(&w.owner));
    assert_eq!(
        w.app
            .transfer_ownership(&w.owner, &meta(), "acme", &back)
            .await
            .unwrap_err(),
        missing(Capability::OrgOwnershipTransfer)
    );
}
