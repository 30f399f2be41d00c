//! Many writers at once, sharing two stores (two pools on one database, as two server
//! processes would): versions lose no update, transfers leave one owner, the member cap holds,
//! writers to different members never conflict, the audit chains never fork, and SQLite never
//! reports busy.

use std::sync::Arc;
use std::time::Duration;

use org_domain::{Access, MembershipStatus, Role, RoleBook, RoleName, RoleRef, RoleUpdate, UserId};
use org_ports::chain::{self, Link, Verdict};
use org_ports::{
    AuditLog, AuditRepository, Changeset, ConflictKind, MembershipRepository, OrgRepository, RoleRepository,
    StoreError, UnitOfWork,
};
use org_store_seaorm::{SeaStore, StoreOptions};
use tokio::sync::Barrier;

use crate::build::{actor, audit, custom_role, member, seeded, t, user};
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

/// `user`'s access to the org as `org_context` resolves it.
async fn access(s: &SeaStore, o: &org_domain::Organization, user: UserId) -> (org_domain::Organization, Access) {
    let ctx = s.org_context(o.slug(), user).await.unwrap().expect("the org");
    let a = Access::resolve(&ctx.org, actor(user), ctx.membership.as_ref(), ctx.role.as_ref()).unwrap();
    (ctx.org, a)
}

async fn concurrent_role_updates_lose_no_update(backend: Backend) {
    let fx = Fixture::new(backend);
    let stores = two_stores(&fx).await;
    let (owner, _, o) = seeded(&*stores[0], "acme", 0).await;
    let owner = owner.id();
    stores[0]
        .commit(Changeset {
            roles: vec![custom_role(o.id(), "auditor")],
            ..Changeset::default()
        })
        .await
        .unwrap();
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let (s, barrier, o) = (stores[i % 2].clone(), barrier.clone(), o.clone());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0_u32;
            let mut first = true;
            loop {
                let (_, acc) = access(&s, &o, owner).await;
                let role = s.custom_roles(o.id()).await.unwrap().remove(0);
                let upd = RoleUpdate {
                    name: Some(RoleName::parse(&format!("Auditor {i}")).unwrap()),
                    ..RoleUpdate::default()
                };
                let (updated, _) = acc
                    .update_role(
                        &RoleBook::new(vec![role.clone()]),
                        &RoleRef::Custom(role.id()),
                        upd,
                        t(2),
                    )
                    .unwrap();
                if std::mem::take(&mut first) {
                    barrier.wait().await;
                }
                match s
                    .commit(Changeset {
                        roles: vec![updated],
                        audit: vec![audit(Some(o.id()), "role.updated")],
                        ..Changeset::default()
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
    let role = stores[1].custom_roles(o.id()).await.unwrap().remove(0);
    assert_eq!(
        role.record().version,
        1 + TASKS as u64,
        "every update landed: none lost"
    );
    let chain = stores[0].audit_chain(AuditLog::Org(o.id()), 0, 1000).await.unwrap();
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=TASKS as u64).collect::<Vec<_>>()
    );
    let o = stores[1].org_by_id(o.id()).await.unwrap().unwrap();
    assert_eq!(o.state().version, 1, "role writes leave the org row alone");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_role_updates_lose_no_update() {
    concurrent_role_updates_lose_no_update(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_role_updates_lose_no_update() {
    concurrent_role_updates_lose_no_update(Backend::Postgres).await;
}

async fn racing_transfers_leave_exactly_one_owner(backend: Backend) {
    let fx = Fixture::new(backend);
    let stores = two_stores(&fx).await;
    let (owner, members, o) = seeded(&*stores[0], "acme", TASKS).await;
    let owner = owner.id();
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let (s, barrier, o, target) = (stores[i % 2].clone(), barrier.clone(), o.clone(), m.id());
        tasks.push(tokio::spawn(async move {
            let (mut org, acc) = access(&s, &o, owner).await;
            let mut previous = s.membership(org.id(), owner).await.unwrap().unwrap();
            let mut next = s.membership(org.id(), target).await.unwrap();
            acc.transfer_ownership(&mut org, next.as_mut(), &mut previous, t(3))
                .unwrap();
            barrier.wait().await;
            let r = s
                .commit(Changeset {
                    orgs: vec![org],
                    memberships: vec![next.unwrap(), previous],
                    ..Changeset::default()
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
    assert_eq!(stored.owner(), winners[0]);
    let mut owners = Vec::new();
    for u in std::iter::once(owner).chain(members.iter().map(|m| m.id())) {
        let m = stores[1].membership(o.id(), u).await.unwrap().unwrap();
        if *m.role() == Role::Owner {
            owners.push(u);
        }
    }
    assert_eq!(owners, winners);
    let previous = stores[0].membership(o.id(), owner).await.unwrap().unwrap();
    assert_eq!(previous.role(), &Role::Admin);
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

/// Admissions through both pools at once, each loaded below the cap: the conditional update
/// of the kept count lets exactly the room in, the rest get `MemberCap`.
async fn concurrent_admissions_never_pass_the_cap(backend: Backend) {
    const CANDIDATES: usize = 16;
    const CAP: u32 = 6;
    let fx = Fixture::new(backend);
    let stores = two_stores(&fx).await;
    let (_, _, o) = seeded(&*stores[0], "acme", 1).await;
    let barrier = Arc::new(Barrier::new(CANDIDATES));
    let mut tasks = Vec::new();
    for i in 0..CANDIDATES {
        let (s, barrier, org_id) = (stores[i % 2].clone(), barrier.clone(), o.id());
        tasks.push(tokio::spawn(async move {
            let joiner = user(&format!("c{i}@acme.test"));
            let loaded = s.org_by_id(org_id).await.unwrap().unwrap();
            loaded.require_room(CAP).expect("loaded below the cap");
            barrier.wait().await;
            let r = s
                .commit(Changeset {
                    users: vec![joiner.clone()],
                    memberships: vec![member(org_id, &joiner, Role::Member, 5)],
                    member_cap: Some(CAP),
                    ..Changeset::default()
                })
                .await;
            match r {
                Ok(()) => true,
                Err(StoreError::Conflict(ConflictKind::MemberCap)) => false,
                Err(e) => panic!("admission {i}: {e:?}"),
            }
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap());
    }
    assert_eq!(admitted, CAP as usize - 2, "exactly the room was admitted");
    let o = stores[1].org_by_id(o.id()).await.unwrap().unwrap();
    assert_eq!((o.headcount().active, o.headcount().total), (CAP, CAP));
    let active = stores[0]
        .count_members(o.id(), Some(Role::Member), Some(MembershipStatus::Active))
        .await
        .unwrap();
    assert_eq!(active, u64::from(CAP) - 1, "the rows agree with the kept count");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_admissions_never_pass_the_cap() {
    concurrent_admissions_never_pass_the_cap(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_admissions_never_pass_the_cap() {
    concurrent_admissions_never_pass_the_cap(Backend::Postgres).await;
}

/// Role changes of different members through both pools, all loaded before any commits:
/// none conflicts (memberships are their own rows), and the org row never moves.
async fn writers_to_different_members_never_conflict(backend: Backend) {
    const ROUNDS: u64 = 5;
    let fx = Fixture::new(backend);
    let stores = two_stores(&fx).await;
    let (owner, members, o) = seeded(&*stores[0], "acme", TASKS).await;
    let owner = owner.id();
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let (s, barrier, o, target) = (stores[i % 2].clone(), barrier.clone(), o.clone(), m.id());
        tasks.push(tokio::spawn(async move {
            for k in 0..ROUNDS {
                let (mut org, acc) = access(&s, &o, owner).await;
                let mut m = s.membership(org.id(), target).await.unwrap();
                let role = if k % 2 == 0 { Role::Admin } else { Role::Member };
                acc.change_role(&mut org, m.as_mut(), None, role, &RoleBook::default(), t(4))
                    .unwrap();
                barrier.wait().await;
                s.commit(Changeset {
                    memberships: vec![m.unwrap()],
                    ..Changeset::default()
                })
                .await
                .unwrap_or_else(|e| panic!("writer {i}, round {k}: {e:?}"));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for m in &members {
        let stored = stores[1].membership(o.id(), m.id()).await.unwrap().unwrap();
        assert_eq!((stored.role(), stored.record().version), (&Role::Admin, 1 + ROUNDS));
    }
    let o = stores[0].org_by_id(o.id()).await.unwrap().unwrap();
    assert_eq!(o.state().version, 1, "member writes moved the org row");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writers_to_different_members_never_conflict() {
    writers_to_different_members_never_conflict(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_writers_to_different_members_never_conflict() {
    writers_to_different_members_never_conflict(Backend::Postgres).await;
}

/// Concurrent appends to one org log and the platform log number both without gaps, in commit
/// order, and the hash chains verify; the kept counts match.
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
                    ..Changeset::default()
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
        let page = stores[0]
            .audit_entries(
                log,
                &org_ports::AuditFilter::default(),
                org_ports::PageRequest::new(1, 1),
            )
            .await
            .unwrap();
        assert_eq!(page.total, Some(n as u64), "the kept count of {log:?}");
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

/// The change token of an SQLite file moves when another pool (another process) commits, so a
/// read cache filled under it is never served after someone else's write; PostgreSQL stores
/// give none (nothing is cached over them).
#[tokio::test]
async fn a_commit_through_another_pool_moves_the_sqlite_change_token() {
    use org_ports::ChangeToken;
    let fx = Fixture::new(Backend::Sqlite);
    let [a, b] = two_stores(&fx).await;
    let before = a.current().expect("an SQLite file has a change token");
    assert_eq!(a.current(), Some(before), "nothing changed");
    seeded(&*b, "acme", 1).await;
    let after = a.current().expect("a token");
    assert_ne!(after, before, "the other pool's commit is seen");
    b.org_by_slug(&org_domain::Slug::parse("acme").unwrap()).await.unwrap();
    assert_eq!(a.current(), Some(after), "reads leave it");
    let memory = StoreOptions::default();
    let in_memory = SeaStore::connect("sqlite::memory:", memory).await.unwrap();
    assert_eq!(
        in_memory.current(),
        None,
        "no other connection can see an in-memory database"
    );
    let pg = Fixture::new(Backend::Postgres);
    let url = pg.fresh_url().await;
    let p = pg.open(&url, StoreOptions::default()).await;
    assert_eq!(p.current(), None, "several processes may write PostgreSQL");
    pg.finish().await;
    fx.finish().await;
}
