//! Concurrency through the use cases: many tasks transfer ownership, change roles and create
//! roles on one org at once. Never zero or two owners; no update is lost.

use org_app::roles::CreateRole;
use org_app::{AppConfig, AppError, Caller, TransferTarget};
use org_domain::Role;
use org_ports::{AuditFilter, AuditLog, PageRequest};

use crate::support::{World, join, meta, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_and_role_changes_keep_one_owner_and_lose_nothing() {
    let w = World::with(AppConfig {
        max_attempts: 10_000,
        ..AppConfig::default()
    })
    .await;
    let mut members: Vec<Caller> = Vec::new();
    for i in 0..5 {
        let m = user(&w.app, &format!("m{i}@acme.test")).await;
        join(&w.app, &w.owner, "acme", &m, "member").await;
        members.push(m);
    }
    let mut tasks = Vec::new();
    for i in 0..40_usize {
        let (app, platform) = (w.app.clone(), w.platform.clone());
        let target = members[i % members.len()].user.id;
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                app.transfer_ownership(&platform, &meta(), "acme", &TransferTarget::UserId(target.to_string()))
                    .await
                    .map(|_| ())
            } else {
                let role = if i % 4 == 1 { "admin" } else { "member" };
                app.change_member_role(&platform, &meta(), "acme", &target.to_string(), role)
                    .await
                    .map(|_| ())
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
                matches!(
                    e,
                    org_domain::DomainError::AlreadyOwner | org_domain::DomainError::OwnerInvariant
                ),
                "task {i}: {e:?}"
            ),
            Err(e) => panic!("task {i}: {e:?}"),
        }
    }
    let org = w
        .app
        .get_org(&w.owner, "acme")
        .await
        .unwrap_or_else(|_| panic!("owner lost access"))
        .org;
    let owners: Vec<_> = org
        .state()
        .memberships
        .iter()
        .filter(|m| m.role == Role::Owner)
        .collect();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].user_id, org.state().owner_user_id);
    // Every committed transfer is in the log, and each one starts from the previous one's result.
    let filter = AuditFilter {
        action: Some("org.ownership_transferred".into()),
        ..Default::default()
    };
    let log = w
        .app
        .stores()
        .audit
        .audit_entries(AuditLog::Org(org.id()), &filter, PageRequest::new(1, 100))
        .await
        .unwrap();
    assert_eq!(log.total, transfers);
    let mut chain: Vec<_> = log.items.into_iter().map(|e| e.entry.metadata.unwrap()).collect();
    chain.reverse();
    let mut expected_prev = w.owner.user.id.to_string();
    for m in &chain {
        assert_eq!(
            m["previous_owner_id"],
            expected_prev.as_str(),
            "a transfer was based on a stale owner"
        );
        expected_prev = m["new_owner_id"].as_str().unwrap().to_owned();
    }
    assert_eq!(org.state().owner_user_id.to_string(), expected_prev);
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
                app.create_role(&owner, &meta(), "acme", cmd).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let org = w.app.get_org(&w.owner, "acme").await.unwrap().org;
    assert_eq!(org.state().roles.len(), 31, "30 new roles plus the auditor role");
    let filter = AuditFilter {
        action: Some("role.created".into()),
        ..Default::default()
    };
    let log = w
        .app
        .stores()
        .audit
        .audit_entries(AuditLog::Org(org.id()), &filter, PageRequest::new(1, 100))
        .await
        .unwrap();
    assert_eq!(log.total, 31);
}
