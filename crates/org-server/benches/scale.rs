//! `cargo xtask bench scale`: what the core use cases cost as an org grows, on SQLite and on
//! PostgreSQL (a throwaway cluster this process starts).
//!
//! For orgs of 0, 1,000, 10,000 and 100,000 members (seeded through the store in bulk, not
//! through HTTP) it times each operation of the "Core at scale" issue through the app — get
//! org, list members (first page and a deep keyset page), change role, remove, transfer
//! ownership, invite, accept (with the member cap check) — and prints p50 and p99 and the
//! ratio of the 100,000-member p50 to the 0-member p50. It does the same for audit reads (org
//! and platform log) and webhook deliveries at 1,000 and 1,000,000 entries. Last, it starts the
//! release server on an SQLite database of 10,000 orgs and 100,000 members and reports its idle
//! resident memory.
//!
//! Every org, whatever its size, also holds the 61 members the measured operations need (10
//! whose role changes, 1 ownership partner, and 50 more so that every page read — first or
//! deep — is a full page of 50); "0 members" means no others.
// A benchmark measures wall-clock time and makes its own ids and times.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Backend, ms, quantile};
use org_app::webhooks::WebhookInput;
use org_app::{App, Caller, MemberFilter, MemberPosition, RequestMeta, TransferTarget};
use org_domain::{
    Email, EventId, Membership, MembershipId, MembershipRecord, MembershipStatus, NewOrganization, OrgId, OrgName,
    OrgStatus, Organization, Role, Slug, TierId, User, UserId, UserRecord,
};
use org_ports::{AuditActor, AuditDraft, AuditFilter, Changeset, DeliveryFilter, OutboxEvent, PageRequest, UnitOfWork};
use org_store_seaorm::SeaStore;
use serde_json::json;
use uuid::Uuid;

const SIZES: [usize; 4] = [0, 1_000, 10_000, 100_000];
const LOG_SIZES: [usize; 2] = [1_000, 1_000_000];
const WARMUP: usize = 20;
const RUNS: usize = 200;
const BATCH: usize = 1_000;
/// Members every org has beyond its size, so a deep page is as full at 0 as at 100,000.
const PAGE_FILL: usize = 50;

fn meta() -> RequestMeta {
    RequestMeta::default()
}

fn id() -> Uuid {
    Uuid::now_v7()
}

/// `n` users and their active `member` memberships of `org`, joined in order from `from`.
async fn add_members(store: &SeaStore, org: OrgId, tag: &str, start: usize, n: usize, from: DateTime<Utc>) {
    let mut done = 0;
    while done < n {
        let mut c = Changeset::default();
        for i in start + done..start + (done + BATCH).min(n) {
            let at = from + chrono::Duration::milliseconds(i as i64);
            let user = User::restore(UserRecord {
                id: UserId::from_uuid(id()),
                email: Email::parse(&format!("m{i}@{tag}.bench")).unwrap(),
                name: Some(format!("Member {i}")),
                is_platform_owner: false,
                disabled_at: None,
                created_at: at,
                updated_at: at,
                version: 0,
            });
            let m = Membership::restore(MembershipRecord {
                id: MembershipId::from_uuid(id()),
                org_id: org,
                user_id: user.id(),
                role: Role::Member,
                status: MembershipStatus::Active,
                created_at: at,
                updated_at: at,
                version: 0,
            })
            .unwrap();
            c.users.push(user);
            c.memberships.push(m);
        }
        done += c.memberships.len();
        store.commit(c).await.expect("seed members");
    }
}

/// One org of `size` members plus the fixed targets, with its owner and targets as callers.
struct World {
    app: App,
    store: Arc<SeaStore>,
    slug: String,
    org: OrgId,
    owner: Caller,
    partner: Caller,
    targets: Vec<UserId>,
    /// The keyset position 90 % deep into the member list.
    deep: (DateTime<Utc>, UserId),
}

async fn caller(app: &App, email: &str) -> Caller {
    Caller::new(app.users.create(email, None, false).await.unwrap(), None)
}

async fn world(backend: Backend, dir: &std::path::Path, size: usize) -> World {
    let name = format!("scale_{size}");
    let (store, _) = common::store(backend, dir, &name).await;
    let app = common::app(store.clone());
    let slug = format!("org-{size}");
    let owner = caller(&app, &format!("owner@{slug}.bench")).await;
    app.orgs.create(&owner, &meta(), &slug, "Scale Org").await.unwrap();
    let org = app.orgs.get(&owner, &slug).await.unwrap().org.id();
    let from = Utc::now();
    add_members(&store, org, &slug, 0, size, from).await;
    // The members the measured operations act on join last.
    let partner = caller(&app, &format!("partner@{slug}.bench")).await;
    join(&app, &owner, &slug, &partner, "admin").await;
    let mut targets = Vec::new();
    for i in 0..10 {
        let t = caller(&app, &format!("t{i}@{slug}.bench")).await;
        join(&app, &owner, &slug, &t, "member").await;
        targets.push(t.user.id());
    }
    // Enough members that every page read is a full page of 50, whatever the size.
    add_members(&store, org, &format!("{slug}-page"), size, PAGE_FILL, Utc::now()).await;
    let depth = size * 9 / 10;
    let page = app
        .members
        .list(
            &owner,
            &slug,
            &MemberFilter::default(),
            MemberPosition::Offset(PageRequest::new(1, 1)),
        )
        .await
        .unwrap();
    let first = page.members[0].membership.clone();
    let deep = if size == 0 {
        (first.joined_at(), first.user_id())
    } else {
        let at = from + chrono::Duration::milliseconds(depth as i64);
        let m = app
            .stores()
            .members
            .member_page(
                org,
                &org_ports::MemberQuery {
                    after: Some((at - chrono::Duration::milliseconds(1), UserId::from_uuid(Uuid::max()))),
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let m = &m[0].membership;
        (m.joined_at(), m.user_id())
    };
    World {
        app,
        store,
        slug,
        org,
        owner,
        partner,
        targets,
        deep,
    }
}

/// `who` joins through an invitation the owner creates and `who` accepts.
async fn join(app: &App, owner: &Caller, slug: &str, who: &Caller, role: &str) {
    let inv = app
        .invitations
        .create(owner, &meta(), slug, who.user.email().as_str(), Some(role), None)
        .await
        .unwrap();
    app.invitations.accept_by_token(who, &meta(), &inv.token).await.unwrap();
}

type Row = (&'static str, Vec<Duration>);

/// The operations timed on every org, in table order.
#[derive(Clone, Copy, Debug)]
enum Op {
    GetOrg,
    ListFirst,
    ListDeep,
    ChangeRole,
    Transfer,
    Invite,
    Accept,
    Remove,
}

const OPS: [(&str, Op); 8] = [
    ("get org", Op::GetOrg),
    ("list members, first page (50)", Op::ListFirst),
    ("list members, deep page (cursor, 50)", Op::ListDeep),
    ("change role", Op::ChangeRole),
    ("transfer ownership", Op::Transfer),
    ("invite", Op::Invite),
    ("accept (member cap checked)", Op::Accept),
    ("remove member", Op::Remove),
];

/// Rounds of each operation, interleaved across the org sizes, and runs per round.
const ROUNDS: usize = 10;
const PER_ROUND: usize = RUNS / ROUNDS;

/// Run `i` of `op` on `w`; `pending` holds the invitations accepted (then removed) by run `i`.
async fn run_op(w: &World, op: Op, i: usize, pending: &[(Caller, String)]) {
    let app = &w.app;
    let f = MemberFilter::default();
    match op {
        Op::GetOrg => {
            app.orgs.get(&w.owner, &w.slug).await.unwrap();
        }
        Op::ListFirst => {
            let page = app
                .members
                .list(&w.owner, &w.slug, &f, MemberPosition::first(50))
                .await
                .unwrap();
            assert_eq!(page.members.len(), 50);
        }
        Op::ListDeep => {
            let p = MemberPosition::After {
                org: w.org,
                joined_at: w.deep.0,
                user_id: w.deep.1,
                limit: 50,
            };
            let page = app.members.list(&w.owner, &w.slug, &f, p).await.unwrap();
            assert_eq!(page.members.len(), 50);
        }
        Op::ChangeRole => {
            let target = w.targets[i % w.targets.len()].to_string();
            let role = if (i / w.targets.len()).is_multiple_of(2) {
                "admin"
            } else {
                "member"
            };
            app.members
                .change_role(&w.owner, &meta(), &w.slug, &target, role)
                .await
                .unwrap();
        }
        // Back and forth between the owner and the partner.
        Op::Transfer => {
            let (from, to) = if i.is_multiple_of(2) {
                (&w.owner, &w.partner)
            } else {
                (&w.partner, &w.owner)
            };
            let target = TransferTarget::UserId(to.user.id().to_string());
            app.members
                .transfer_ownership(from, &meta(), &w.slug, &target)
                .await
                .unwrap();
        }
        Op::Invite => {
            let email = format!("invitee{i}@{}.bench", w.slug);
            app.invitations
                .create(&w.owner, &meta(), &w.slug, &email, None, None)
                .await
                .unwrap();
        }
        Op::Accept => {
            let (who, token) = &pending[i];
            app.invitations.accept_by_token(who, &meta(), token).await.unwrap();
        }
        // The joiners the acceptances added are removed, one per run.
        Op::Remove => {
            let who = pending[i].0.user.id().to_string();
            app.members.remove(&w.owner, &meta(), &w.slug, &who).await.unwrap();
        }
    }
}

/// Invitations to accept, made untimed: one per run of the acceptance (and of the removal).
async fn invitations(w: &World) -> Vec<(Caller, String)> {
    let mut pending = Vec::new();
    for i in 0..WARMUP + RUNS {
        let email = format!("joiner{i}@{}.bench", w.slug);
        let inv = w
            .app
            .invitations
            .create(&w.owner, &meta(), &w.slug, &email, None, None)
            .await
            .unwrap();
        pending.push((caller(&w.app, &email).await, inv.token));
    }
    pending
}

/// Every operation on every org: warm-up runs discarded, then rounds that visit the orgs in
/// turn, so a drift of the machine spreads over all sizes alike. Rows per org.
async fn member_ops(worlds: &[World]) -> Vec<Vec<Row>> {
    let mut pending = Vec::new();
    for w in worlds {
        pending.push(invitations(w).await);
    }
    let mut tables: Vec<Vec<Row>> = worlds.iter().map(|_| Vec::new()).collect();
    for (name, op) in OPS {
        let mut samples: Vec<Vec<Duration>> = worlds.iter().map(|_| Vec::new()).collect();
        for (w, p) in worlds.iter().zip(&pending) {
            for i in 0..WARMUP {
                run_op(w, op, i, p).await;
            }
        }
        for round in 0..ROUNDS {
            for ((w, p), out) in worlds.iter().zip(&pending).zip(samples.iter_mut()) {
                for k in 0..PER_ROUND {
                    let i = WARMUP + round * PER_ROUND + k;
                    let start = std::time::Instant::now();
                    run_op(w, op, i, p).await;
                    out.push(start.elapsed());
                }
            }
        }
        for (table, mut s) in tables.iter_mut().zip(samples) {
            s.sort();
            table.push((name, s));
        }
    }
    tables
}

/// The log of one org and of the platform, and one endpoint's deliveries, grown to `n`.
struct Logs {
    app: App,
    store: Arc<SeaStore>,
    slug: String,
    org: OrgId,
    owner: Caller,
    platform: Caller,
    webhook: String,
    audit_seeded: usize,
    deliveries_seeded: usize,
    base: DateTime<Utc>,
}

async fn logs(backend: Backend, dir: &std::path::Path, name: &str) -> Logs {
    let (store, _) = common::store(backend, dir, name).await;
    let app = common::app(store.clone());
    let owner = caller(&app, "owner@logs.bench").await;
    let platform = Caller::new(app.users.create("root@logs.bench", None, true).await.unwrap(), None);
    app.orgs.create(&owner, &meta(), "logs", "Logs").await.unwrap();
    let org = app.orgs.get(&owner, "logs").await.unwrap().org.id();
    let input = WebhookInput {
        name: Some("sink".into()),
        url: Some("https://hooks.example.com/sink".into()),
        events: Some(vec!["organization.updated".into()]),
        is_active: None,
    };
    let hook = app.webhooks.create(&owner, &meta(), "logs", input).await.unwrap();
    Logs {
        app,
        store,
        slug: "logs".into(),
        org,
        owner,
        platform,
        webhook: hook.webhook.id().to_string(),
        audit_seeded: 0,
        deliveries_seeded: 0,
        base: Utc::now() - chrono::Duration::days(30),
    }
}

fn draft(org: Option<OrgId>, at: DateTime<Utc>, i: usize) -> AuditDraft {
    AuditDraft {
        id: EventId::from_uuid(id()),
        org_id: org,
        actor: AuditActor::system(),
        action: "role.created".into(),
        target_type: Some("role".into()),
        target_id: Some(format!("r{i}")),
        ip_address: Some("203.0.113.7".into()),
        user_agent: Some("bench".into()),
        success: true,
        metadata: Some(json!({"slug": format!("r{i}")})),
        request_id: None,
        created_at: at,
    }
}

async fn grow(l: &mut Logs, to: usize) {
    while l.audit_seeded < to {
        let n = BATCH.min(to - l.audit_seeded);
        let mut c = Changeset::default();
        for i in l.audit_seeded..l.audit_seeded + n {
            let at = l.base + chrono::Duration::milliseconds(i as i64);
            c.audit.push(draft(Some(l.org), at, i));
            c.audit.push(draft(None, at, i));
        }
        l.store.commit(c).await.expect("seed audit");
        l.audit_seeded += n;
    }
    while l.deliveries_seeded < to {
        let n = BATCH.min(to - l.deliveries_seeded);
        let mut c = Changeset::default();
        for i in l.deliveries_seeded..l.deliveries_seeded + n {
            c.events.push(OutboxEvent {
                id: EventId::from_uuid(id()),
                org_id: l.org,
                event_type: "organization.updated".into(),
                occurred_at: l.base + chrono::Duration::milliseconds(i as i64),
                actor_user_id: None,
                actor_email: None,
                target_type: Some("organization".into()),
                target_id: Some(l.org.to_string()),
                data: json!({"changes": {"name": {"old": "a", "new": "b"}}}),
            });
        }
        l.store.commit(c).await.expect("seed deliveries");
        l.deliveries_seeded += n;
    }
}

/// The log reads, in table order.
const LOG_OPS: [&str; 6] = [
    "org audit log, first page",
    "org audit log, deep page (cursor)",
    "platform audit log, first page",
    "platform audit log, deep page (cursor)",
    "deliveries, first page",
    "deliveries, deep page (cursor)",
];

/// Read `op` (an index of [`LOG_OPS`]) of `l`: a first page, or a page 90 % deep into the
/// list (newest first, so an entry seeded early).
async fn run_log_op(l: &Logs, op: usize) {
    let app = &l.app;
    let page = PageRequest::new(1, 50);
    let depth = l.audit_seeded / 10;
    let at = l.base + chrono::Duration::milliseconds(depth as i64);
    let audit = if op.is_multiple_of(2) {
        AuditFilter::default()
    } else {
        AuditFilter {
            before: Some((at, u64::MAX)),
            ..AuditFilter::default()
        }
    };
    let n = match op {
        0 | 1 => app
            .audit
            .list(&l.owner, &meta(), &l.slug, &audit, page)
            .await
            .unwrap()
            .items
            .len(),
        2 | 3 => app
            .audit
            .platform(&l.platform, None, &audit, page)
            .await
            .unwrap()
            .items
            .len(),
        _ => {
            let f = if op == 4 {
                DeliveryFilter::default()
            } else {
                DeliveryFilter {
                    before: Some((at, org_domain::DeliveryId::from_uuid(Uuid::max()))),
                    ..DeliveryFilter::default()
                }
            };
            let (_, p) = app
                .webhooks
                .deliveries(&l.owner, &meta(), &l.slug, &l.webhook, &f, page)
                .await
                .unwrap();
            p.items.len()
        }
    };
    assert_eq!(n, 50, "{}", LOG_OPS[op]);
}

/// Every log read on every log size, interleaved in rounds as for the members.
async fn log_ops(all: &[Logs]) -> Vec<Vec<Row>> {
    let mut tables: Vec<Vec<Row>> = all.iter().map(|_| Vec::new()).collect();
    for (op, name) in LOG_OPS.iter().enumerate() {
        let mut samples: Vec<Vec<Duration>> = all.iter().map(|_| Vec::new()).collect();
        for l in all {
            for _ in 0..WARMUP {
                run_log_op(l, op).await;
            }
        }
        for _ in 0..ROUNDS {
            for (l, out) in all.iter().zip(samples.iter_mut()) {
                for _ in 0..PER_ROUND {
                    let start = std::time::Instant::now();
                    run_log_op(l, op).await;
                    out.push(start.elapsed());
                }
            }
        }
        for (table, mut s) in tables.iter_mut().zip(samples) {
            s.sort();
            table.push((*name, s));
        }
    }
    tables
}

fn table(title: &str, sizes: &[usize], results: &[Vec<Row>]) {
    println!("\n### {title}\n");
    let head: Vec<String> = sizes.iter().map(|n| format!("{n}: p50 / p99 (ms)")).collect();
    println!(
        "| operation | {} | p50 ratio {} / {} |",
        head.join(" | "),
        sizes[sizes.len() - 1],
        sizes[0]
    );
    println!("|---|{}---|", "---|".repeat(sizes.len()));
    for (i, (name, _)) in results[0].iter().enumerate() {
        let cells: Vec<String> = results
            .iter()
            .map(|r| format!("{} / {}", ms(quantile(&r[i].1, 0.5)), ms(quantile(&r[i].1, 0.99))))
            .collect();
        let first = quantile(&results[0][i].1, 0.5).as_secs_f64();
        let last = quantile(&results[results.len() - 1][i].1, 0.5).as_secs_f64();
        println!("| {name} | {} | {:.2} |", cells.join(" | "), last / first);
    }
}

/// 10,000 orgs of 10 members each, straight into an SQLite database in `dir`.
async fn seed_many(dir: &std::path::Path) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("org-server.db").display());
    let opts = org_store_seaorm::StoreOptions {
        cipher: Some(Arc::new(org_store_seaorm::AesGcmCipher::generate().0)),
        ..Default::default()
    };
    let store = SeaStore::connect(&url, opts).await.unwrap();
    store.migrate().await.unwrap();
    let now = Utc::now();
    for chunk in 0..100 {
        let mut c = Changeset::default();
        for o in chunk * 100..(chunk + 1) * 100 {
            let mut members = Vec::new();
            for k in 0..10 {
                let u = User::restore(UserRecord {
                    id: UserId::from_uuid(id()),
                    email: Email::parse(&format!("u{k}@o{o}.bench")).unwrap(),
                    name: None,
                    is_platform_owner: false,
                    disabled_at: None,
                    created_at: now,
                    updated_at: now,
                    version: 0,
                });
                members.push(u);
            }
            let (org, owner, _) = Organization::create(
                NewOrganization {
                    id: OrgId::from_uuid(id()),
                    slug: Slug::parse(&format!("org-{o}")).unwrap(),
                    name: OrgName::parse(&format!("Org {o}")).unwrap(),
                    owner: members[0].id(),
                    owner_membership: MembershipId::from_uuid(id()),
                    status: OrgStatus::Active,
                    tier_id: TierId::new("tier_enterprise"),
                },
                now,
            );
            for u in &members[1..] {
                c.memberships.push(
                    Membership::restore(MembershipRecord {
                        id: MembershipId::from_uuid(id()),
                        org_id: org.id(),
                        user_id: u.id(),
                        role: Role::Member,
                        status: MembershipStatus::Active,
                        created_at: now,
                        updated_at: now,
                        version: 0,
                    })
                    .unwrap(),
                );
            }
            c.users.extend(members);
            c.orgs.push(org);
            c.memberships.push(owner);
        }
        store.commit(c).await.expect("seed orgs");
    }
    store.close().await.unwrap();
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Starts the release server on a database of 10,000 orgs and 100,000 members, serves a few
/// requests, lets it idle, and reads its resident memory.
async fn idle_rss(dir: &std::path::Path) -> u64 {
    let data = dir.join("rss");
    std::fs::create_dir_all(&data).unwrap();
    seed_many(&data).await;
    let port = common::free_port();
    let cfg = data.join("org-server.toml");
    std::fs::write(&cfg, format!("data_dir = \"{}\"\n", data.display())).unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_org-server"))
        .args(["--config", &cfg.display().to_string(), "serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/healthz");
    for _ in 0..200 {
        if client.get(&url).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..100 {
        let _ = client.get(&url).send().await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = rss_kib(server.id());
    let _ = server.kill();
    let _ = server.wait();
    rss
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    org_server::sender::install_tls();
    let dir = tempfile::tempdir().unwrap();
    let only = std::env::var("ORG_BENCH_BACKEND").ok();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if only.as_deref().is_some_and(|b| !b.eq_ignore_ascii_case(backend.name())) {
            continue;
        }
        let mut worlds = Vec::new();
        for size in SIZES {
            eprintln!("bench scale: {}: seeding {size} members", backend.name());
            worlds.push(world(backend, dir.path(), size).await);
        }
        eprintln!("bench scale: {}: timing", backend.name());
        let results = member_ops(&worlds).await;
        table(&format!("{}: members", backend.name()), &SIZES, &results);
        for w in worlds {
            let _ = w.store.close().await;
        }
        let mut all = Vec::new();
        for n in LOG_SIZES {
            eprintln!(
                "bench scale: {}: seeding {n} audit entries and deliveries",
                backend.name()
            );
            let mut l = logs(backend, dir.path(), &format!("scale_logs_{n}")).await;
            grow(&mut l, n).await;
            all.push(l);
        }
        eprintln!("bench scale: {}: timing the logs", backend.name());
        let results = log_ops(&all).await;
        table(
            &format!("{}: audit log and deliveries", backend.name()),
            &LOG_SIZES,
            &results,
        );
        for l in all {
            let _ = l.store.close().await;
        }
    }
    eprintln!("bench scale: idle RSS with 10,000 orgs and 100,000 members (SQLite)");
    let rss = idle_rss(dir.path()).await;
    println!(
        "\n### Idle RSS\n\n| database | orgs | members | RSS (MiB) | target (MiB) |\n|---|---|---|---|---|\n| SQLite | 10,000 | 100,000 | {:.1} | 64 |",
        rss as f64 / 1024.0
    );
}
