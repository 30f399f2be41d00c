//! Member use cases: list, change role, remove, transfer ownership (§5, rules of §3.5).

use chrono::Duration;
use org_app::{AppError, Caller, MemberFilter, MemberPosition, TransferTarget};
use org_domain::{Capability, DomainError, MembershipStatus, RevokeReason, Role, Rule, UserId};
use org_ports::PageRequest;

use crate::support::{World, invalid_fields, is_validation, join, meta, missing, not_found, rule, user};

fn id(c: &Caller) -> String {
    c.user.id().to_string()
}

#[tokio::test]
async fn every_member_lists_members_oldest_first_with_the_cap() {
    let w = World::new().await;
    let list = w
        .app
        .members
        .list(&w.member, "acme", &MemberFilter::default(), MemberPosition::first(50))
        .await
        .unwrap();
    let emails: Vec<&str> = list.members.iter().map(|m| m.user.email().as_str()).collect();
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
        (list.total, list.page, list.active, list.cap, list.cap_source.as_str()),
        (Some(4), Some(1), 4, 999_999, "enterprise")
    );
    assert_eq!(list.next, None, "one page holds them all");
    let admins = MemberFilter {
        role: Some(Role::Admin),
        status: Some(MembershipStatus::Active),
    };
    let list = w
        .app
        .members
        .list(&w.member, "acme", &admins, MemberPosition::first(50))
        .await
        .unwrap();
    assert_eq!(list.total, Some(1));
    assert_eq!(list.members[0].user.id(), w.admin.user.id());
    let paged = w
        .app
        .members
        .list(
            &w.member,
            "acme",
            &MemberFilter::default(),
            MemberPosition::Offset(PageRequest::new(2, 3)),
        )
        .await
        .unwrap();
    assert_eq!((paged.total, paged.page, paged.members.len()), (Some(4), Some(2), 1));
    assert_eq!(paged.members[0].user.id(), w.auditor.user.id());
    let err = w
        .app
        .members
        .list(&w.stranger, "acme", &MemberFilter::default(), MemberPosition::first(50))
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
            .members
            .change_role(actor, &meta(), "acme", &id(target), role)
            .await;
        match expected {
            Ok(role) => assert_eq!(got.unwrap().membership.role().as_str(), role, "case {i}"),
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
    join(&w.app, &w.owner, "acme", &lead, "lead").await;
    let err = w
        .app
        .members
        .change_role(&lead, &meta(), "acme", &id(&w.member), "auditor")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        rule(Rule::Grant),
        "auditor holds audit_logs.view, which lead lacks"
    );
    let err = w
        .app
        .members
        .change_role(&lead, &meta(), "acme", &id(&w.member), "admin")
        .await
        .unwrap_err();
    assert_eq!(err, rule(Rule::Grant), "only owners and admins grant admin");
    let err = w
        .app
        .members
        .change_role(&lead, &meta(), "acme", &id(&w.auditor), "member")
        .await
        .unwrap_err();
    assert_eq!(err, rule(Rule::TargetCapabilities));
}

#[tokio::test]
async fn changing_a_role_to_owner_transfers_ownership() {
    let w = World::new().await;
    let err = w
        .app
        .members
        .change_role(&w.admin, &meta(), "acme", &id(&w.member), "owner")
        .await
        .unwrap_err();
    assert_eq!(err, missing(Capability::OrgOwnershipTransfer));
    let m = w
        .app
        .members
        .change_role(&w.owner, &meta(), "acme", &id(&w.member), "owner")
        .await
        .unwrap();
    assert_eq!(*m.membership.role(), Role::Owner);
    let org = w.app.orgs.get(&w.owner, "acme").await.unwrap().org;
    assert_eq!(org.owner(), w.member.user.id());
    let previous = w
        .app
        .stores()
        .members
        .membership(org.id(), w.owner.user.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*previous.role(), Role::Admin);
    assert_eq!(
        w.headcount("acme").await.active,
        4,
        "a transfer moves no member in or out"
    );
    assert!(w.acme_log().await.contains(&"org.ownership_transferred".to_owned()));
}

#[tokio::test]
async fn removal_follows_the_target_rule_and_revokes_the_members_org_sessions() {
    let w = World::new().await;
    let session = w
        .app
        .orgs
        .select(&w.member, &meta(), "acme")
        .await
        .unwrap()
        .session
        .session
        .id;
    assert_eq!(
        w.app
            .members
            .remove(&w.auditor, &meta(), "acme", &id(&w.member))
            .await
            .unwrap_err(),
        missing(Capability::OrgMembersManage)
    );
    assert_eq!(
        w.app
            .members
            .remove(&w.admin, &meta(), "acme", &id(&w.admin))
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::SelfAction)
    );
    assert_eq!(
        w.app
            .members
            .remove(&w.admin, &meta(), "acme", &id(&w.owner))
            .await
            .unwrap_err(),
        rule(Rule::TargetIsOwner)
    );
    assert_eq!(
        w.app
            .members
            .remove(&w.platform, &meta(), "acme", &id(&w.owner))
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::OwnerInvariant)
    );
    assert_eq!(
        w.app
            .members
            .remove(&w.admin, &meta(), "acme", &id(&w.stranger))
            .await
            .unwrap_err(),
        not_found()
    );
    assert_eq!(
        w.app
            .members
            .remove(&w.admin, &meta(), "acme", "not-a-uuid")
            .await
            .unwrap_err(),
        not_found()
    );
    w.app
        .members
        .remove(&w.admin, &meta(), "acme", &id(&w.member))
        .await
        .unwrap();
    let s = w.app.stores().sessions.session_by_id(session).await.unwrap().unwrap();
    assert_eq!(s.revoke_reason, Some(RevokeReason::MemberRemoved));
    assert_eq!(w.app.orgs.get(&w.member, "acme").await.unwrap_err(), not_found());
    assert_eq!(
        w.app
            .members
            .remove(&w.admin, &meta(), "acme", &id(&w.owner))
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
            .members
            .remove(&w.admin, &meta(), "acme", &id(&second))
            .await
            .unwrap_err(),
        rule(Rule::TargetIsAdmin)
    );
    w.app
        .members
        .remove(&w.owner, &meta(), "acme", &id(&second))
        .await
        .unwrap();
}

#[tokio::test]
async fn ownership_transfer_is_one_step_by_email_or_id() {
    let w = World::new().await;
    let by_email = TransferTarget::Email("ADMIN@acme.test".into());
    assert_eq!(
        w.app
            .members
            .transfer_ownership(&w.admin, &meta(), "acme", &by_email)
            .await
            .unwrap_err(),
        missing(Capability::OrgOwnershipTransfer)
    );
    let unknown = TransferTarget::Email("ghost@acme.test".into());
    assert_eq!(
        w.app
            .members
            .transfer_ownership(&w.owner, &meta(), "acme", &unknown)
            .await
            .unwrap_err(),
        not_found()
    );
    let outsider = TransferTarget::UserId(id(&w.stranger));
    assert_eq!(
        w.app
            .members
            .transfer_ownership(&w.owner, &meta(), "acme", &outsider)
            .await
            .unwrap_err(),
        not_found()
    );
    let me = TransferTarget::UserId(id(&w.owner));
    assert_eq!(
        w.app
            .members
            .transfer_ownership(&w.owner, &meta(), "acme", &me)
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::AlreadyOwner)
    );
    let bad = TransferTarget::Email("not an email".into());
    assert!(is_validation(
        &w.app
            .members
            .transfer_ownership(&w.owner, &meta(), "acme", &bad)
            .await
            .unwrap_err()
    ));
    let new_owner = w
        .app
        .members
        .transfer_ownership(&w.owner, &meta(), "acme", &by_email)
        .await
        .unwrap();
    assert_eq!(
        (new_owner.user.id(), new_owner.membership.role().clone()),
        (w.admin.user.id(), Role::Owner)
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
            .members
            .transfer_ownership(&w.owner, &meta(), "acme", &back)
            .await
            .unwrap_err(),
        missing(Capability::OrgOwnershipTransfer)
    );
}

/// Adds `n` members to acme in groups: each group joins at one instant, in the reverse order
/// of the users' creation (so ties on `joined_at` are broken by user id, not by join order),
/// and the clock moves a second between groups. Returns the new members.
async fn crowd(w: &World, groups: &[usize]) -> Vec<Caller> {
    let mut all = Vec::new();
    for (g, n) in groups.iter().enumerate() {
        let mut group = Vec::new();
        for i in 0..*n {
            group.push(user(&w.app, &format!("g{g}m{i}@acme.test")).await);
        }
        for (i, m) in group.iter().enumerate().rev() {
            let role = if i % 3 == 0 { "auditor" } else { "member" };
            join(&w.app, &w.owner, "acme", m, role).await;
        }
        all.extend(group);
        w.advance(Duration::seconds(1));
    }
    all
}

/// The expected list order of `filter` among acme's members (the world's four and `crowd`),
/// built from each member's own row: `(joined_at, user_id)`.
async fn expected_order(w: &World, crowd: &[Caller], filter: &MemberFilter) -> Vec<UserId> {
    let org = w.org_id("acme").await;
    let everyone = [&w.owner, &w.admin, &w.member, &w.auditor].into_iter().chain(crowd);
    let mut keyed = Vec::new();
    for u in everyone {
        let m = w
            .app
            .stores()
            .members
            .membership(org, u.user.id())
            .await
            .unwrap()
            .unwrap();
        let keep = filter.role.as_ref().is_none_or(|r| m.role() == r) && filter.status.is_none_or(|s| m.status() == s);
        if keep {
            keyed.push((m.joined_at(), m.user_id()));
        }
    }
    keyed.sort();
    keyed.into_iter().map(|(_, u)| u).collect()
}

#[tokio::test]
async fn cursor_pages_walk_the_member_list_in_joined_at_then_user_id_order() {
    let w = World::new().await;
    let crowd = crowd(&w, &[3, 4, 1, 3]).await;
    let org = w.org_id("acme").await;
    let auditor = Role::parse("auditor").unwrap();
    let filters = [
        ("all", MemberFilter::default()),
        (
            "members",
            MemberFilter {
                role: Some(Role::Member),
                status: None,
            },
        ),
        (
            "auditors, active",
            MemberFilter {
                role: Some(auditor),
                status: Some(MembershipStatus::Active),
            },
        ),
        (
            "admins",
            MemberFilter {
                role: Some(Role::Admin),
                status: None,
            },
        ),
        (
            "deactivated",
            MemberFilter {
                role: None,
                status: Some(MembershipStatus::Deactivated),
            },
        ),
    ];
    for (name, filter) in &filters {
        let expected = expected_order(&w, &crowd, filter).await;
        for limit in [1_u32, 2, 3, 4, 5, 7, 15, 16, 100] {
            let case = format!("{name}, limit {limit}");
            let first = w
                .app
                .members
                .list(&w.member, "acme", filter, MemberPosition::first(limit))
                .await
                .unwrap();
            assert_eq!(
                (first.total, first.page),
                (Some(expected.len() as u64), Some(1)),
                "{case}: the first page counts"
            );
            let mut seen: Vec<UserId> = first.members.iter().map(|m| m.user.id()).collect();
            let mut next = first.next;
            let mut pages = 1;
            while let Some((joined_at, user_id)) = next {
                let last = seen.last().copied();
                assert_eq!(Some(user_id), last, "{case}: the position is the last row shown");
                let position = MemberPosition::After {
                    org,
                    joined_at,
                    user_id,
                    limit,
                };
                let page = w.app.members.list(&w.member, "acme", filter, position).await.unwrap();
                assert_eq!(
                    (page.total, page.page),
                    (None, None),
                    "{case}: cursor pages never count"
                );
                assert!(
                    !page.members.is_empty(),
                    "{case}: a position is only given when rows follow"
                );
                assert!(page.members.len() <= limit as usize, "{case}");
                if page.next.is_some() {
                    assert_eq!(
                        page.members.len(),
                        limit as usize,
                        "{case}: only the last page is short"
                    );
                }
                seen.extend(page.members.iter().map(|m| m.user.id()));
                next = page.next;
                pages += 1;
                assert!(pages <= expected.len() + 1, "{case}: the walk does not end");
            }
            assert_eq!(seen, expected, "{case}: every member once, in keyset order");
            let full_pages = expected.len().div_ceil(limit as usize).max(1);
            assert_eq!(pages, full_pages, "{case}: no empty trailing page");
        }
    }
}

#[tokio::test]
async fn a_cursor_position_is_clamped_to_1_through_100_rows() {
    let w = World::new().await;
    let org = w.org_id("acme").await;
    let everyone = w.members("acme").await;
    let start = &everyone[0].membership;
    let after_owner = |limit| MemberPosition::After {
        org,
        joined_at: start.joined_at(),
        user_id: start.user_id(),
        limit,
    };
    // (limit asked, rows shown, more follow)
    let cases = [
        (0_u32, 1_usize, true),
        (1, 1, true),
        (2, 2, true),
        (3, 3, false),
        (101, 3, false),
        (u32::MAX, 3, false),
    ];
    for (limit, rows, more) in cases {
        let page = w
            .app
            .members
            .list(&w.owner, "acme", &MemberFilter::default(), after_owner(limit))
            .await
            .unwrap();
        let ids: Vec<UserId> = page.members.iter().map(|m| m.user.id()).collect();
        let expected: Vec<UserId> = everyone[1..=rows].iter().map(|m| m.user.id()).collect();
        assert_eq!(ids, expected, "limit {limit}: the rows strictly after the position");
        assert_eq!(page.next.is_some(), more, "limit {limit}");
    }
}

#[tokio::test]
async fn a_cursor_position_of_another_orgs_list_is_refused_on_cursor() {
    let w = World::new().await;
    let acme = w.org_id("acme").await;
    let other = w.org_id("other").await;
    let somewhere = w.members("acme").await[0].membership.clone();
    let at = |org| MemberPosition::After {
        org,
        joined_at: somewhere.joined_at(),
        user_id: somewhere.user_id(),
        limit: 10,
    };
    let cases: Vec<(&str, &Caller, &str, MemberPosition)> = vec![
        ("acme's position on other", &w.stranger, "other", at(acme)),
        ("other's position on acme", &w.member, "acme", at(other)),
        ("a platform owner too", &w.platform, "acme", at(other)),
    ];
    for (name, who, slug, position) in cases {
        let err = w
            .app
            .members
            .list(who, slug, &MemberFilter::default(), position)
            .await
            .unwrap_err();
        assert_eq!(invalid_fields(&err), ["cursor"], "{name}");
    }
    let err = w
        .app
        .members
        .list(&w.stranger, "acme", &MemberFilter::default(), at(acme))
        .await
        .unwrap_err();
    assert_eq!(err, not_found(), "a stranger learns nothing about the org first");
}

/// After each member operation the org's kept headcount equals its memberships as counted,
/// and the views show it.
#[tokio::test]
async fn member_operations_keep_the_org_headcount_equal_to_its_memberships() {
    let w = World::new().await;
    let org = w.org_id("acme").await;
    let guest = user(&w.app, "guest@x.test").await;
    let inv = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "fresh@x.test", None, None)
        .await
        .unwrap();
    let fresh_inv = inv.view.invitation.record().id.to_string();
    type Op<'a> = (&'a str, u32);
    let steps: Vec<Op> = vec![
        ("join", 5),
        ("change role", 5),
        ("change role refused", 5),
        ("transfer", 5),
        ("change role to owner", 5),
        ("remove", 4),
        ("remove refused", 4),
        ("admin accept", 5),
        ("remove again", 4),
    ];
    for (name, active) in steps {
        let r: Result<(), AppError> = match name {
            "join" => {
                join(&w.app, &w.owner, "acme", &guest, "member").await;
                Ok(())
            }
            "change role" => w
                .app
                .members
                .change_role(&w.owner, &meta(), "acme", &id(&guest), "admin")
                .await
                .map(drop),
            "change role refused" => {
                let err = w
                    .app
                    .members
                    .change_role(&w.member, &meta(), "acme", &id(&guest), "member")
                    .await
                    .unwrap_err();
                assert_eq!(err, missing(Capability::OrgRolesManage));
                Ok(())
            }
            "transfer" => w
                .app
                .members
                .transfer_ownership(&w.owner, &meta(), "acme", &TransferTarget::UserId(id(&w.admin)))
                .await
                .map(drop),
            "change role to owner" => w
                .app
                .members
                .change_role(&w.admin, &meta(), "acme", &id(&w.owner), "owner")
                .await
                .map(drop),
            "remove" => w.app.members.remove(&w.owner, &meta(), "acme", &id(&guest)).await,
            "remove refused" => {
                let err = w
                    .app
                    .members
                    .remove(&w.member, &meta(), "acme", &id(&w.admin))
                    .await
                    .unwrap_err();
                assert_eq!(err, missing(Capability::OrgMembersManage));
                Ok(())
            }
            "admin accept" => w
                .app
                .invitations
                .admin_accept(&w.owner, &meta(), "acme", &fresh_inv)
                .await
                .map(drop),
            _ => {
                let email = org_domain::Email::parse("fresh@x.test").unwrap();
                let fresh = w.app.stores().users.user_by_email(&email).await.unwrap().unwrap();
                w.app
                    .members
                    .remove(&w.owner, &meta(), "acme", &fresh.id().to_string())
                    .await
            }
        };
        r.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let kept = w.headcount("acme").await;
        let rows = w.app.stores().members.count_members(org, None, None).await.unwrap();
        let active_rows = w
            .app
            .stores()
            .members
            .count_members(org, None, Some(MembershipStatus::Active))
            .await
            .unwrap();
        assert_eq!((kept.active, kept.total), (active, active), "{name}: kept");
        assert_eq!(
            (active_rows, rows),
            (u64::from(active), u64::from(active)),
            "{name}: counted"
        );
        let view = w.app.orgs.get(&w.owner, "acme").await.unwrap();
        assert_eq!(view.membership_count, active, "{name}: the org view");
        let list = w
            .app
            .members
            .list(
                &w.platform,
                "acme",
                &MemberFilter::default(),
                MemberPosition::first(100),
            )
            .await
            .unwrap();
        assert_eq!(
            (list.total, list.active, list.members.len()),
            (Some(u64::from(active)), active, active as usize),
            "{name}: the member list"
        );
        let owners = list
            .members
            .iter()
            .filter(|m| *m.membership.role() == Role::Owner)
            .count();
        assert_eq!(owners, 1, "{name}: one owner");
    }
}
