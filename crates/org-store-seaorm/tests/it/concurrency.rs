//! Many writers at once: optimistic versions, the one-owner rule and the audit chain hold, and
//! SQLite never reports busy. On both backends the writers share two stores (two pools on the
//! same database, as two server processes would).

use std::sync::Arc;
use std::time::Duration;

use org_domain::{Role, UserId};
use org_ports::chain::{self, Link, Verdict};
use org_ports::{AuditLog, AuditRepository, Changeset, OrgRepository, StoreError, UnitOfWork};
use org_store_seaorm::{SeaStore, StoreOptions};
use tokio::sync::Barrier;

use crate::build::{actor, audit, new_role, seeded, t};
use crate::support::{Backend, Fixture};

/// Two stores on one fresh, migrated database.
async fn two_stores(fx: &Fixture) -> [Arc<SeaStore>; 2] {
    let url = fx.fresh_url().await;
    let opts = StoreOptions {
        max_connections: 4,
        // Short enough that the second SQLite pool really meets a busy database.
        busy_timeout: Duration::from_millis(20),
        busy_retries: 200,
        ..StoreOptions::default()
    };
    let a = fx.open(&url, opts.clone()).await;
    a.migrate().await.unwrap();
    let b = fx.open(&url, opts).await;
    [a, b]
}

const TASKS: usize = 8;

async fn no_update_is_lost(backend: Backend) {
    let fx = Fixture::new(backend);
    let stores = two_stores(&fx).await;
    let (owner, _, o) = seeded(&*stores[0], "acme", 0).await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let s = stores[i % 2].clone();
        let barrier = barrier.clone();
        let org_id = o.id();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0_u32;
            let mut first = true;
            loop {
                let mut org = s.org_by_id(org_id).await.unwrap().unwrap();
                org.create_role(&actor(owner.id), new_role(&format!("role-{i}")), t(2))
                    .unwrap();
                if std::mem::take(&mut first) {
                    barrier.wait().await;
                }
                match s
                    .commit(Changeset {
                        orgs: vec![org],
                        audit: vec![audit(Some(org_id), "role.created")],
                        ..Default::default()
                    })
                    .await
                {
                    Ok(()) => return conflicts,
                    Err(e) if e.is_stale() => conflicts += 1,
                    Err(e) => panic!("task {i}: {e:?}"),
                }
            }
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    assert!(
        conflicts >= u32::try_from(TASKS - 1).unwrap(),
        "the losers of the first round conflict"
    );
    let stored = stores[1].org_by_id(o.id()).await.unwrap().unwrap();
    assert_eq!(stored.state().roles.len(), TASKS, "every role is there: no lost update");
    assert_eq!(stored.state().version, 1 + TASKS as u64);
    let chain = stores[0].audit_chain(AuditLog::Org(o.id()), 0, 1000).await.unwrap();
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=TASKS as u64).collect::<Vec<_>>()
    );
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_role_creations_lose_no_update() {
    no_update_is_lost(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_role_creations_lose_no_update() {
    no_update_is_lost(Backend::Postgres).await;
}

async fn racing_transfers_leave_exactly_one_owner(backend: Backend) {
    let fx = Fixture::new(backend);
    let stores = two_stores(&fx).await;
    let (owner, members, o) = seeded(&*stores[0], "acme", TASKS).await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let s = stores[i % 2].clone();
        let barrier = barrier.clone();
        let (org_id, target, owner_id) = (o.id(), m.id, owner.id);
        tasks.push(tokio::spawn(async move {
            let mut org = s.org_by_id(org_id).await.unwrap().unwrap();
            org.transfer_ownership(&actor(owner_id), target, t(3)).unwrap();
            barrier.wait().await;
            let r = s
                .commit(Changeset {
                    orgs: vec![org],
                    ..Default::default()
                })
                .await;
            (target, r)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (target, Ok(())) => winners.push(target),
            (_, Err(e)) => assert!(e.is_stale(), "a loser got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one transfer wins");
    let stored = stores[1].org_by_id(o.id()).await.unwrap().unwrap();
    let owners: Vec<UserId> = stored
        .state()
        .memberships
        .iter()
        .filter(|m| m.role == Role::Owner)
        .map(|m| m.user_id)
        .collect();
    assert_eq!(owners, winners);
    assert_eq!(stored.state().owner_user_id, winners[0]);
    assert_eq!(stored.membership(owner.id).unwrap().role, Role::Admin);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_racing_transfers_leave_exactly_one_owner() {
    racing_transfers_leave_exactly_one_owner(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_racing_transfers_leave_exactly_one_owner() {
    racing_transfers_leave_exactly_one_owner(Backend::Postgres).await;
}

/// Tasks that keep transferring ownership among the members and changing roles, retrying on
/// stale versions, in both stores; the org stays valid and keeps one owner throughout.
async fn mixed_role_changes_keep_one_owner(backend: Backend) {
    let fx = Fixture::new(backend);
    let stores = two_stores(&fx).await;
    let (_, members, o) = seeded(&*stores[0], "acme", 4).await;
    let ids: Arc<Vec<UserId>> = Arc::new(members.iter().map(|m| m.id).collect());
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let s = stores[i % 2].clone();
        let (org_id, ids) = (o.id(), ids.clone());
        tasks.push(tokio::spawn(async move {
            for step in 0..4 {
                let target = ids[(i + step) % ids.len()];
                loop {
                    let mut org = s.org_by_id(org_id).await.unwrap().unwrap();
                    let owner = org.state().owner_user_id;
                    let changed = if target == owner {
                        false
                    } else if (i + step) % 2 == 0 {
                        org.transfer_ownership(&actor(owner), target, t(4)).is_ok()
                    } else {
                        let role = if step % 2 == 0 { Role::Admin } else { Role::Member };
                        org.change_role(&actor(owner), target, role, t(4)).is_ok()
                    };
                    if !changed {
                        break;
                    }
                    match s
                        .commit(Changeset {
                            orgs: vec![org],
                            ..Default::default()
                        })
                        .await
                    {
                        Ok(()) => break,
                        Err(e) if e.is_stale() => tokio::task::yield_now().await,
                        Err(e) => panic!("task {i}: {e:?}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stored = stores[0].org_by_id(o.id()).await.unwrap().unwrap();
    let owners = stored
        .state()
        .memberships
        .iter()
        .filter(|m| m.role == Role::Owner)
        .count();
    assert_eq!(owners, 1);
    assert_eq!(stored.state().memberships.len(), 5, "nobody lost a membership");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_mixed_role_changes_and_transfers_keep_one_owner() {
    mixed_role_changes_keep_one_owner(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_mixed_role_changes_and_transfers_keep_one_owner() {
    mixed_role_changes_keep_one_owner(Backend::Postgres).await;
}

/// Concurrent appends to one org log and the platform log number both without gaps, in commit
/// order, and the hash chains verify.
async fn concurrent_appends_keep_the_chains_whole(backend: Backend) {
    let fx = Fixture::new(backend);
    let stores = two_stores(&fx).await;
    let (_, _, o) = seeded(&*stores[0], "acme", 0).await;
    const EACH: usize = 5;
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let s = stores[i % 2].clone();
        let org_id = o.id();
        tasks.push(tokio::spawn(async move {
            for _ in 0..EACH {
                s.commit(Changeset {
                    audit: vec![audit(Some(org_id), "a"), audit(None, "p"), audit(Some(org_id), "b")],
                    events: vec![crate::build::event(org_id, "e")],
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e: StoreError| panic!("task {i}: {e:?}"));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for (log, n) in [
        (AuditLog::Org(o.id()), 2 * TASKS * EACH),
        (AuditLog::Platform, TASKS * EACH),
    ] {
        let entries = stores[1].audit_chain(log, 0, 10_000).await.unwrap();
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=n as u64).collect::<Vec<_>>()
        );
        let links: Vec<Link> = entries
            .iter()
            .map(|e| Link {
                seq: e.seq,
                object: chain::chained_object(e.seq, &e.entry),
                prev_hash: e.prev_hash,
                hash: e.hash,
            })
            .collect();
        assert!(
            matches!(
                chain::verify(&links, Some(chain::GENESIS), true),
                Verdict::Intact { complete: true, .. }
            ),
            "the chain of {log:?} verifies"
        );
    }
    let events = org_ports::OutboxRepository::org_events(&*stores[0], o.id())
        .await
        .unwrap();
    assert_eq!(events.len(), TASKS * EACH);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_appends_keep_the_chains_whole() {
    concurrent_appends_keep_the_chains_whole(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_appends_keep_the_chains_whole() {
    concurrent_appends_keep_the_chains_whole(Backend::Postgres).await;
}
