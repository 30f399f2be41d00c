//! Concurrency through the use cases: many tasks transfer ownership, change roles, create
//! roles and accept invitations on one org at once. Never zero or two owners; no update is
//! lost; the member cap holds; writes to different members never conflict.

use org_app::roles::CreateRole;
use org_app::webhooks::WebhookInput;
use org_app::{AppConfig, AppError, Caller, MemberFilter, MemberPosition, TransferTarget};
use org_domain::{DomainError, MembershipStatus, Role};
use org_ports::AuditLog;

use crate::support::{World, join, meta, user};

/// `n` new members of acme with role `member`.
async fn new_members(w: &World, prefix: &str, n: usize) -> Vec<Caller> {
    let mut members = Vec::new();
    for i in 0..n {
        let m = user(&w.app, &format!("{prefix}{i}@acme.test")).await;
        join(&w.app, &w.owner, "acme", &m, "member").await;
        members.push(m);
    }
    members
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_and_role_changes_keep_one_owner_and_lose_nothing() {
    let w = World::with(AppConfig {
        max_attempts: 10_000,
        ..AppConfig::default()
    })
    .await;
    let members = new_members(&w, "m", 5).await;
    let mut tasks = Vec::new();
    for i in 0..40_usize {
        let (app, platform) = (w.app.clone(), w.platform.clone());
        let target = members[i % members.len()].user.id();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                app.members
                    .transfer_ownership(&platform, &meta(), "acme", &TransferTarget::UserId(target.to_string()))
                    .await
                    .map(drop)
            } else {
                let role = if i % 4 == 1 { "admin" } else { "member" };
                app.members
                    .change_role(&platform, &meta(), "acme", &target.to_string(), role)
                    .await
                    .map(drop)
            }
        }));
    }
    let mut transfers = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(()) if i % 2 == 0 => transfers += 1,
            Ok(()) => {}
            // Allowed refusals: the target is already the owner, or is the owner (role change).
            Err(AppError::Domain(e)) => assert!(
                matches!(e, DomainError::AlreadyOwner | DomainError::OwnerInvariant),
                "task {i}: {e:?}"
            ),
            Err(e) => panic!("task {i}: {e:?}"),
        }
    }
    let org = w
        .app
        .orgs
        .get(&w.owner, "acme")
        .await
        .unwrap_or_else(|_| panic!("owner lost access"))
        .org;
    let owners = MemberFilter {
        role: Some(Role::Owner),
        status: None,
    };
    let list = w
        .app
        .members
        .list(&w.platform, "acme", &owners, MemberPosition::first(100))
        .await
        .unwrap();
    assert_eq!(list.total, Some(1));
    assert_eq!(list.members.len(), 1);
    assert_eq!(list.members[0].user.id(), org.owner());
    assert_eq!(w.headcount("acme").await.active, 9, "nobody joined or left");
    // Every committed transfer is in the log, and each one starts from the previous one's result.
    let log = w.filtered(AuditLog::Org(org.id()), "org.ownership_transferred").await;
    assert_eq!(log.total, Some(transfers));
    let mut chain: Vec<_> = log.items.into_iter().map(|e| e.entry.metadata.unwrap()).collect();
    chain.reverse();
    let mut expected_prev = w.owner.user.id().to_string();
    for m in &chain {
        assert_eq!(
            m["previous_owner_id"],
            expected_prev.as_str(),
            "a transfer was based on a stale owner"
        );
        expected_prev = m["new_owner_id"].as_str().unwrap().to_owned();
    }
    assert_eq!(org.owner().to_string(), expected_prev);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_role_creations_are_all_kept() {
    let w = World::with(AppConfig {
        max_attempts: 10_000,
        ..AppConfig::default()
    })
    .await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (app, owner) = (w.app.clone(), w.owner.clone());
            tokio::spawn(async move {
                let cmd = CreateRole {
                    slug: format!("r{i}"),
                    name: format!("Role {i}"),
                    description: None,
                    permissions: vec![],
                };
                app.roles.create(&owner, &meta(), "acme", cmd).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let org = w.org_id("acme").await;
    let roles = w.app.stores().roles.custom_roles(org).await.unwrap();
    assert_eq!(roles.len(), 31, "30 new roles plus the auditor role");
    let log = w.filtered(AuditLog::Org(org), "role.created").await;
    assert_eq!(log.total, Some(31));
}

/// Eight creates of one endpoint name at once: one is kept, the others are refused as
/// duplicates (the store backs the name), and one creation is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_webhook_creations_with_one_name_keep_exactly_one() {
    let w = World::new().await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (app, owner) = (w.app.clone(), w.owner.clone());
            tokio::spawn(async move {
                let input = WebhookInput {
                    name: Some("sink".into()),
                    url: Some(format!("https://hooks.example.com/{i}")),
                    events: Some(vec!["member.added".into()]),
                    is_active: None,
                };
                app.webhooks.create(&owner, &meta(), "acme", input).await
            })
        })
        .collect();
    let mut kept = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => kept += 1,
            Err(AppError::Domain(DomainError::DuplicateWebhookName)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kept, 1);
    let org = w.org_id("acme").await;
    assert_eq!(w.app.stores().webhooks.org_webhooks(org).await.unwrap().len(), 1);
    assert_eq!(w.filtered(AuditLog::Org(org), "webhook.created").await.total, Some(1));
}

/// N invitees accept at once against a cap with `room` free places: exactly `room` are
/// admitted, every other one is refused with the cap, and the kept count ends at the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acceptances_admit_exactly_the_room_left_under_the_member_cap() {
    // (cap, invitees): the world's org starts with 4 active members.
    let cases = [(5_u32, 6_usize), (8, 12), (10, 6), (4, 3)];
    for (cap, invitees) in cases {
        let w = World::new().await;
        let patch = org_app::platform::PlatformPatch {
            max_users: Some(Some(cap)),
            ..Default::default()
        };
        w.app
            .platform
            .patch_org(&w.platform, &meta(), "acme", patch)
            .await
            .unwrap();
        let before = w.headcount("acme").await.active;
        let room = cap.saturating_sub(before) as usize;
        let mut pending = Vec::new();
        for i in 0..invitees {
            let email = format!("c{i}@x.test");
            let u = user(&w.app, &email).await;
            let inv = w
                .app
                .invitations
                .create(&w.platform, &meta(), "acme", &email, None, None)
                .await;
            // With no room left, the invitation itself is refused; accept nothing then.
            match inv {
                Ok(inv) => pending.push((u, inv.token)),
                Err(e) => {
                    assert_eq!(room, 0, "cap {cap}: {e:?}");
                    assert_eq!(e, AppError::Domain(DomainError::TeamLimitExceeded(cap)));
                }
            }
        }
        let tasks: Vec<_> = pending
            .into_iter()
            .map(|(u, token)| {
                let app = w.app.clone();
                tokio::spawn(async move { app.invitations.accept_by_token(&u, &meta(), &token).await })
            })
            .collect();
        let (mut admitted, mut refused) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => admitted += 1,
                Err(AppError::Domain(DomainError::TeamLimitExceeded(c))) if c == cap => refused += 1,
                Err(e) => panic!("cap {cap}: {e:?}"),
            }
        }
        let expected = room.min(invitees);
        assert_eq!(admitted, expected, "cap {cap}, {invitees} invitees: admitted");
        assert_eq!(
            refused,
            if room == 0 { 0 } else { invitees - expected },
            "cap {cap}: refused"
        );
        let kept = w.headcount("acme").await;
        let org = w.org_id("acme").await;
        let counted = w
            .app
            .stores()
            .members
            .count_members(org, None, Some(MembershipStatus::Active))
            .await
            .unwrap();
        assert_eq!(kept.active as usize, before as usize + expected, "cap {cap}: kept");
        assert_eq!(counted, u64::from(kept.active), "cap {cap}: the kept count is the rows");
        assert!(kept.active <= cap.max(before), "cap {cap}: never above the cap");
    }
}

/// Eight tasks each change their own member's role 24 times at once. Member rows are their
/// own unit of change, so not one write conflicts: with a single attempt allowed, any
/// conflict would surface as 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn role_changes_of_different_members_never_conflict() {
    const ROUNDS: usize = 24;
    let w = World::with(AppConfig {
        max_attempts: 1,
        ..AppConfig::default()
    })
    .await;
    let members = new_members(&w, "p", 8).await;
    let log = AuditLog::Org(w.org_id("acme").await);
    let before = w.filtered(log, "member.role_changed").await.total;
    let tasks: Vec<_> = members
        .iter()
        .map(|m| {
            let (app, owner, target) = (w.app.clone(), w.owner.clone(), m.user.id().to_string());
            tokio::spawn(async move {
                let mut unavailable = 0;
                for round in 0..ROUNDS {
                    let role = if round % 2 == 0 { "admin" } else { "auditor" };
                    match app.members.change_role(&owner, &meta(), "acme", &target, role).await {
                        Ok(v) => assert_eq!(v.membership.role().as_str(), role),
                        Err(AppError::Unavailable(_)) => unavailable += 1,
                        Err(e) => panic!("{target} round {round}: {e:?}"),
                    }
                }
                unavailable
            })
        })
        .collect();
    let mut unavailable = 0;
    for t in tasks {
        unavailable += t.await.unwrap();
    }
    assert_eq!(unavailable, 0, "writes to different members conflicted");
    let after = w.filtered(log, "member.role_changed").await.total;
    assert_eq!(
        after.unwrap() - before.unwrap(),
        (members.len() * ROUNDS) as u64,
        "every change is in the log"
    );
    let org = w.org_id("acme").await;
    for m in &members {
        let row = w
            .app
            .stores()
            .members
            .membership(org, m.user.id())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.role().as_str(), "auditor", "the last change stands");
        assert_eq!(row.record().version, 1 + ROUNDS as u64, "one write per change");
    }
    assert_eq!(w.headcount("acme").await.active, 12);
}
