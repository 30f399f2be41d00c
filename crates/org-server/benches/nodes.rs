//! `cargo xtask bench nodes`: what one PostgreSQL carries behind one and two org-server
//! processes on this machine, per kind of request, at 1, 4, 16 and 64 requests in flight.
//!
//! A throwaway PostgreSQL 15 cluster (durable options, not pinned) holds two orgs of 200 and
//! 10,000 members and 64 orgs of 2, seeded through the store in bulk. The release server runs
//! pinned to CPU 0 with every rate limit off; the load generator (this process: a
//! current-thread tokio runtime and one reqwest client) runs pinned to CPU 1. Four kinds of
//! request, with the owner's org-scoped token:
//!
//! - `GET /api/organizations/:slug`;
//! - `GET /api/organizations/:slug/members?limit=50`;
//! - `PATCH /api/organizations/:slug/members/:user_id`, each client on a member of its own,
//!   alternating `admin` / `member` (one audit entry and two outbox events per write); also
//!   with each client in an org of its own (the 64 small orgs), to separate the per-org log
//!   heads from the rest;
//! - `POST /api/auth/refresh`, one chain of rotations per client (each request presents the
//!   refresh token the previous answer gave).
//!
//! Each cell (kind, orgs, requests in flight) runs for `ORG_BENCH_SECS` (1.5) seconds; its
//! figures are requests per second, p50 and p99, the CPU the server, PostgreSQL (the postmaster
//! and all its processes, exited backends included) and the load generator used, from
//! `/proc/<pid>/stat`, and how busy each CPU was (`/proc/stat`: the machine is shared, so other
//! people's processes show there); CPU per request (CPU seconds / requests) is the figure the
//! other load on the machine disturbs least. Beside each cell, the raw-SQL ceiling measured in the same
//! round: this binary re-executed with `--ceiling`, pinned to CPU 0 where the server runs, runs
//! the statements the request runs (read from PostgreSQL's statement log; the last table counts
//! them again for both) with the same parameters, through the same driver (sea-orm 2 over sqlx,
//! prepared statements, a pool of 10 connections as the server's default
//! `database.max_connections`), from as many concurrent tasks. It does no HTTP, JSON, JWT
//! signing or encryption: ratio = server req/s / ceiling req/s is the share of the database's
//! own rate the service keeps. For the 10,000-member org, the same cells also run against two
//! server processes on the same database, both pinned to CPU 0 (one machine: the second node
//! shares the first one's core), the load spread round-robin request by request.
//!
//! A warm-up round (half-length cells) is discarded; then `ORG_BENCH_ROUNDS` (3) rounds
//! interleave every cell, server and ceiling in turn; medians over the rounds are quoted.
//! `ORG_BENCH_DATABASE_URL` names an existing PostgreSQL server instead of the throwaway
//! cluster (PostgreSQL's CPU then reads 0 and the statement table is left out).
// A benchmark measures wall-clock time and makes its own ids and times.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use common::process::{self, Killed, cli, median, pinned, server_bin};
use common::{Backend, pglog, quantile};
use org_app::Caller;
use org_domain::{
    Email, EventId, Membership, MembershipId, MembershipRecord, MembershipStatus, OrgId, Role, User, UserId, UserRecord,
};
use org_ports::{ActorType, AuditActor, AuditDraft, Changeset, UnitOfWork, chain};
use org_store_seaorm::{AesGcmCipher, SeaStore};
use reqwest::StatusCode;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult, Statement, TransactionTrait,
    Value as DbValue,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// Members of the two orgs (the owner included).
const SIZES: [usize; 2] = [200, 10_000];
/// Requests in flight.
const LEVELS: [usize; 4] = [1, 4, 16, 64];
/// Requests in flight of the two-node cells (largest org only).
const TWO_NODE_LEVELS: [usize; 3] = [4, 16, 64];
/// Clients at most: members changed by the role writes and refresh chains, per org.
const CLIENTS: usize = 64;
/// The server's default `database.max_connections`, and so the ceiling's pool.
const POOL: u32 = 10;
/// Seconds the ceiling runs its loop, untimed, before a cell (prepared statements, pool).
const CEILING_WARM: f64 = 0.2;

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Org,
    Members,
    Role,
    Refresh,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Org, Kind::Members, Kind::Role, Kind::Refresh];

    fn label(self) -> &'static str {
        match self {
            Self::Org => "`GET /api/organizations/:slug`",
            Self::Members => "`GET …/members?limit=50`",
            Self::Role => "`PATCH …/members/:user_id` (role)",
            Self::Refresh => "`POST /api/auth/refresh`",
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Self::Org => "org",
            Self::Members => "members",
            Self::Role => "role",
            Self::Refresh => "refresh",
        }
    }

    fn parse(s: &str) -> Self {
        Self::ALL.into_iter().find(|k| k.arg() == s).unwrap()
    }
}

// ------------------------------------------------------------------ CPU

/// The data directory of this run's throwaway cluster (`None` on an external server).
fn pg_data_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("ORG_NODES_PG_DATA") {
        return (!d.is_empty()).then(|| PathBuf::from(d));
    }
    if std::env::var("ORG_BENCH_DATABASE_URL").is_ok() {
        return None;
    }
    Some(common::pg_dir().join("data"))
}

/// Busy and total jiffies of CPU 0 and CPU 1, and steal of both, from `/proc/stat`.
fn machine() -> [f64; 5] {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut out = [0.0; 5];
    for (i, name) in ["cpu0 ", "cpu1 "].into_iter().enumerate() {
        let Some(line) = stat.lines().find(|l| l.starts_with(name)) else {
            continue;
        };
        let v: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0.0))
            .collect();
        let at = |j: usize| v.get(j).copied().unwrap_or(0.0);
        // user nice system idle iowait irq softirq steal
        out[2 * i] = at(0) + at(1) + at(2) + at(5) + at(6);
        out[2 * i + 1] = (0..8).map(at).sum();
        out[4] += at(7);
    }
    out
}

/// CPU 0 busy, CPU 1 busy and steal (of both) between two `machine()` readings, as fractions.
fn busy(a: [f64; 5], b: [f64; 5]) -> (f64, f64, f64) {
    let d = |i: usize| b[i] - a[i];
    let frac = |x: f64, t: f64| if t > 0.0 { x / t } else { 0.0 };
    (frac(d(0), d(1)), frac(d(2), d(3)), frac(d(4), d(1) + d(3)))
}

/// The figures of one cell. CPU is in cores (CPU seconds / wall seconds).
#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    rps: f64,
    p50: Duration,
    p99: Duration,
    /// The server processes (or the ceiling process).
    own: f64,
    pg: f64,
    /// The load generator (0 for the ceiling, whose load is its own).
    load: f64,
    /// How busy CPU 0 and CPU 1 were (all processes, other people's included), and stolen time.
    cpu0: f64,
    cpu1: f64,
    steal: f64,
}

/// Sorted latencies and wall seconds into a cell, with CPU seconds turned into cores.
fn cell(mut lat: Vec<Duration>, wall: f64, own: f64, pg: f64, load: f64, m: (f64, f64, f64)) -> Cell {
    lat.sort();
    Cell {
        cpu0: m.0,
        cpu1: m.1,
        steal: m.2,
        rps: lat.len() as f64 / wall,
        p50: quantile(&lat, 0.5),
        p99: quantile(&lat, 0.99),
        own: own / wall,
        pg: pg / wall,
        load: load / wall,
    }
}

// ------------------------------------------------------------------ the servers

/// A running server process.
struct Server {
    _child: Killed,
    pid: u32,
    base: String,
}

/// The config file both servers share (one data dir, so one JWT signing key; one encryption
/// key): rate limits off, the default tier `tier_enterprise`.
fn write_config(data: &Path, db_url: &str) -> PathBuf {
    std::fs::create_dir_all(data).unwrap();
    let (_, key_id, key) = AesGcmCipher::generate();
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    let cfg = data.join("org-server.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\npublic_base_url = \"http://bench.invalid\"\ndefault_tier_id = \"tier_enterprise\"\n\
             [database]\nurl = \"{db_url}\"\nmax_connections = {POOL}\n\
             [rate_limit]\napi_per_session = 0\nscim_per_token = 0\nper_ip = 0\nrefresh_per_ip = 0\n\
             public_per_ip = 0\noutbound_per_org = 0\nlogins_per_key = 0\n\
             [encryption.keys]\n{key_id} = \"base64:{key}\"\n",
            data.display()
        ),
    )
    .unwrap();
    cfg
}

async fn start_server(cfg: &Path, log: &Path) -> Server {
    let port = common::free_port();
    let child = pinned("0", server_bin())
        .arg("--config")
        .arg(cfg)
        .args(["serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let server = Server {
        pid: child.id(),
        _child: Killed(child),
        base: format!("http://127.0.0.1:{port}"),
    };
    process::wait_healthy(&server.base, log).await;
    server
}

// ------------------------------------------------------------------ the orgs

/// What one client acts as and on: an org, its owner's org-scoped token and session (the
/// ceiling reads the session), and the member its role writes change.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Seat {
    slug: String,
    org: Uuid,
    owner: Uuid,
    owner_email: String,
    token: String,
    session: Uuid,
    target: Uuid,
}

/// The clients of one setting: all in one org of `size` members, or each in an org of its own.
struct Fixture {
    size: usize,
    spread: bool,
    seats: Vec<Seat>,
    /// Whether each seat's target is `admin` now.
    admin: Vec<AtomicBool>,
    /// One refresh chain per client: the token the last rotation gave.
    chains: Vec<Mutex<String>>,
}

/// `n` users and their active `member` memberships of `org`, in bulk through the store.
async fn add_members(store: &SeaStore, org: OrgId, tag: &str, n: usize) -> Vec<Uuid> {
    let from = Utc::now();
    let mut ids = Vec::with_capacity(n);
    let mut done = 0;
    while done < n {
        let mut c = Changeset::default();
        for i in done..(done + 1_000).min(n) {
            let at = from + chrono::Duration::milliseconds(i as i64);
            let user = User::restore(UserRecord {
                id: UserId::from_uuid(Uuid::now_v7()),
                email: Email::parse(&format!("m{i}@{tag}.bench")).unwrap(),
                name: Some(format!("Member {i}")),
                is_platform_owner: false,
                disabled_at: None,
                created_at: at,
                updated_at: at,
                version: 0,
            });
            ids.push(user.id().as_uuid());
            c.memberships.push(
                Membership::restore(MembershipRecord {
                    id: MembershipId::from_uuid(Uuid::now_v7()),
                    org_id: org,
                    user_id: user.id(),
                    role: Role::Member,
                    status: MembershipStatus::Active,
                    created_at: at,
                    updated_at: at,
                    version: 0,
                })
                .unwrap(),
            );
            c.users.push(user);
        }
        done += c.memberships.len();
        store.commit(c).await.expect("seed members");
    }
    ids
}

/// A seeded org: slug, id, owner, members (the owner not included).
type Seeded = (String, Uuid, Uuid, Vec<Uuid>);

/// An org of `size` members made through the app (owner and org) and seeded through the store.
async fn seed_org(app: &org_app::App, store: &SeaStore, slug: &str, size: usize) -> Seeded {
    let owner = app
        .users
        .create(&format!("owner@{slug}.bench"), Some("Owner".into()), false)
        .await
        .unwrap();
    let owner_id = owner.id().as_uuid();
    let caller = Caller::new(owner, None);
    app.orgs
        .create(&caller, &Default::default(), slug, &format!("Org {slug}"))
        .await
        .unwrap();
    let org = app.orgs.get(&caller, slug).await.unwrap().org.id();
    let members = add_members(store, org, slug, size - 1).await;
    (slug.to_owned(), org.as_uuid(), owner_id, members)
}

/// The owner's org-scoped token (admin CLI) and its session.
async fn owner_token(cfg: &Path, db: &DatabaseConnection, (slug, org, owner, _): &Seeded) -> (String, Uuid) {
    let email = format!("owner@{slug}.bench");
    let token = cli(cfg, &["admin", "issue-token", "--email", &email, "--org", slug])["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM sessions WHERE user_id = $1 AND org_id = $2 AND revoked_at IS NULL \
             ORDER BY created_at DESC LIMIT 1",
            [(*owner).into(), (*org).into()],
        ))
        .await
        .unwrap()
        .unwrap();
    (token, row.try_get("", "id").unwrap())
}

/// The fixture of `orgs`: one org for every client (`spread`: one org per client), a
/// target member per client, and a refresh chain per client (`POST …/select`, a new org
/// session each).
async fn fixture(
    client: &reqwest::Client,
    server: &Server,
    cfg: &Path,
    db: &DatabaseConnection,
    size: usize,
    orgs: &[Seeded],
) -> Fixture {
    let spread = orgs.len() > 1;
    let mut tokens = Vec::new();
    for o in orgs {
        tokens.push(owner_token(cfg, db, o).await);
    }
    let mut seats = Vec::new();
    let mut chains = Vec::new();
    for k in 0..CLIENTS {
        let i = if spread { k } else { 0 };
        let (slug, org, owner, members) = &orgs[i];
        let (token, session) = tokens[i].clone();
        let r = client
            .post(format!("{}/api/organizations/{slug}/select", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "select {slug}: {body}");
        chains.push(Mutex::new(body["refresh_token"].as_str().unwrap().to_owned()));
        seats.push(Seat {
            slug: slug.clone(),
            org: *org,
            owner: *owner,
            owner_email: format!("owner@{slug}.bench"),
            token,
            session,
            // The last members: the role writes churn rows the first page (the member list
            // reads) does not hold.
            target: members[if spread { 0 } else { members.len() - CLIENTS + k }],
        });
    }
    Fixture {
        size,
        spread,
        admin: seats.iter().map(|_| AtomicBool::new(false)).collect(),
        seats,
        chains,
    }
}

// ------------------------------------------------------------------ the load

/// Fails the bench on an answer that is not `want`.
async fn check(r: reqwest::Response, want: StatusCode, what: &str) -> Vec<u8> {
    let status = r.status();
    let body = r.bytes().await.unwrap();
    assert_eq!(status, want, "{what}: {}", String::from_utf8_lossy(&body));
    body.to_vec()
}

/// One request of `kind` by client `k` to the server at `base`.
async fn request(client: &reqwest::Client, base: &str, f: &Fixture, kind: Kind, k: usize) {
    let seat = &f.seats[k];
    let slug = &seat.slug;
    match kind {
        Kind::Org => {
            let r = client
                .get(format!("{base}/api/organizations/{slug}"))
                .bearer_auth(&seat.token)
                .send()
                .await
                .unwrap();
            check(r, StatusCode::OK, "GET org").await;
        }
        Kind::Members => {
            let r = client
                .get(format!("{base}/api/organizations/{slug}/members?limit=50"))
                .bearer_auth(&seat.token)
                .send()
                .await
                .unwrap();
            check(r, StatusCode::OK, "GET members").await;
        }
        Kind::Role => {
            let admin = !f.admin[k].load(Ordering::Relaxed);
            let r = client
                .patch(format!("{base}/api/organizations/{slug}/members/{}", seat.target))
                .bearer_auth(&seat.token)
                .json(&json!({"role": if admin { "admin" } else { "member" }}))
                .send()
                .await
                .unwrap();
            check(r, StatusCode::OK, "PATCH member").await;
            f.admin[k].store(admin, Ordering::Relaxed);
        }
        Kind::Refresh => {
            let token = f.chains[k].lock().unwrap().clone();
            let r = client
                .post(format!("{base}/api/auth/refresh"))
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            let body: Value = serde_json::from_slice(&check(r, StatusCode::OK, "refresh").await).unwrap();
            *f.chains[k].lock().unwrap() = body["refresh_token"].as_str().unwrap().to_owned();
        }
    }
}

/// `conc` clients sending `kind` for `secs` seconds, request by request round-robin over
/// `servers`.
async fn load(
    client: &reqwest::Client,
    servers: &[&Server],
    f: &Arc<Fixture>,
    kind: Kind,
    conc: usize,
    secs: f64,
) -> Cell {
    let bases: Arc<Vec<String>> = Arc::new(servers.iter().map(|s| s.base.clone()).collect());
    let pids: Vec<u32> = servers.iter().map(|s| s.pid).collect();
    let own = |pids: &[u32]| pids.iter().map(|p| process::cpu_of(*p)).sum::<f64>();
    let me = std::process::id();
    let (own0, pg0, load0, m0) = (own(&pids), pg_cpu(), process::cpu_of(me), machine());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut set = tokio::task::JoinSet::new();
    for k in 0..conc {
        let (client, bases, f) = (client.clone(), bases.clone(), f.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut i = k;
            while Instant::now() < deadline {
                let t = Instant::now();
                request(&client, &bases[i % bases.len()], &f, kind, k).await;
                lat.push(t.elapsed());
                i += 1;
            }
            lat
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = set.join_next().await {
        lat.extend(r.unwrap());
    }
    let wall = start.elapsed().as_secs_f64();
    let (own1, pg1, load1, m1) = (own(&pids), pg_cpu(), process::cpu_of(me), machine());
    cell(lat, wall, own1 - own0, pg1 - pg0, load1 - load0, busy(m0, m1))
}

// ------------------------------------------------------------------ raw-SQL ceiling

// The statements the four requests run, as the server's PostgreSQL statement log shows them
// (sea-orm's text, prepared by sqlx).

/// Every authenticated request: the session, its user, the org of the path, the caller's
/// membership and custom role, in one query.
const AUTH: &str = r#"SELECT s.id AS s_id, s.user_id AS s_user_id, s.kind AS s_kind, s.org_id AS s_org_id, s.refresh_hash AS s_refresh_hash, s.previous_hash AS s_previous_hash, s.previous_rotated_at AS s_previous_rotated_at, s.ip_address AS s_ip_address, s.user_agent AS s_user_agent, s.created_at AS s_created_at, s.last_refreshed_at AS s_last_refreshed_at, s.expires_at AS s_expires_at, s.absolute_expires_at AS s_absolute_expires_at, s.revoked_at AS s_revoked_at, s.revoke_reason AS s_revoke_reason, s.replay_access AS s_replay_access, s.replay_refresh AS s_replay_refresh, s.version AS s_version, u.id AS u_id, u.email AS u_email, u.name AS u_name, u.is_platform_owner AS u_is_platform_owner, u.disabled_at AS u_disabled_at, u.created_at AS u_created_at, u.updated_at AS u_updated_at, u.version AS u_version, o.id AS o_id, o.slug AS o_slug, o.name AS o_name, o.name_lower AS o_name_lower, o.owner_user_id AS o_owner_user_id, o.status AS o_status, o.tier_id AS o_tier_id, o.max_services AS o_max_services, o.max_users AS o_max_users, o.approved_by AS o_approved_by, o.approved_at AS o_approved_at, o.rejected_by AS o_rejected_by, o.rejected_at AS o_rejected_at, o.rejection_reason AS o_rejection_reason, o.suspended_at AS o_suspended_at, o.suspension_reason AS o_suspension_reason, o.feature_overrides AS o_feature_overrides, o.created_at AS o_created_at, o.updated_at AS o_updated_at, o.deleted_at AS o_deleted_at, o.version AS o_version, o.active_members AS o_active_members, o.total_members AS o_total_members, m.id AS m_id, m.org_id AS m_org_id, m.user_id AS m_user_id, m.role AS m_role, m.custom_role AS m_custom_role, m.status AS m_status, m.created_at AS m_created_at, m.updated_at AS m_updated_at, m.version AS m_version, r.id AS r_id, r.org_id AS r_org_id, r.slug AS r_slug, r.name AS r_name, r.name_key AS r_name_key, r.description AS r_description, r.permissions AS r_permissions, r.created_at AS r_created_at, r.updated_at AS r_updated_at, r.version AS r_version FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN orgs o ON o.slug = $1 AND o.deleted_at IS NULL LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = s.user_id LEFT JOIN org_roles r ON r.org_id = m.org_id AND r.slug = m.custom_role WHERE s.id = $2"#;
/// The member list's page (limit + 1 rows, keyset order).
const MEMBER_PAGE: &str = r#"SELECT m.id AS m_id, m.org_id AS m_org_id, m.user_id AS m_user_id, m.role AS m_role, m.custom_role AS m_custom_role, m.status AS m_status, m.created_at AS m_created_at, m.updated_at AS m_updated_at, m.version AS m_version, u.id AS u_id, u.email AS u_email, u.name AS u_name, u.is_platform_owner AS u_is_platform_owner, u.disabled_at AS u_disabled_at, u.created_at AS u_created_at, u.updated_at AS u_updated_at, u.version AS u_version FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY m.created_at, m.user_id LIMIT $2"#;
/// The role change: the actor's org, membership and role; the target's membership and user;
/// then in one transaction the membership's compare-and-swap, the locked heads of the org's
/// audit log and event stream, the audit entry, the two outbox events, the heads, the org's
/// active webhooks; after commit the user for the answer.
const ACTOR: &str = r#"SELECT o.id AS o_id, o.slug AS o_slug, o.name AS o_name, o.name_lower AS o_name_lower, o.owner_user_id AS o_owner_user_id, o.status AS o_status, o.tier_id AS o_tier_id, o.max_services AS o_max_services, o.max_users AS o_max_users, o.approved_by AS o_approved_by, o.approved_at AS o_approved_at, o.rejected_by AS o_rejected_by, o.rejected_at AS o_rejected_at, o.rejection_reason AS o_rejection_reason, o.suspended_at AS o_suspended_at, o.suspension_reason AS o_suspension_reason, o.feature_overrides AS o_feature_overrides, o.created_at AS o_created_at, o.updated_at AS o_updated_at, o.deleted_at AS o_deleted_at, o.version AS o_version, o.active_members AS o_active_members, o.total_members AS o_total_members, m.id AS m_id, m.org_id AS m_org_id, m.user_id AS m_user_id, m.role AS m_role, m.custom_role AS m_custom_role, m.status AS m_status, m.created_at AS m_created_at, m.updated_at AS m_updated_at, m.version AS m_version, r.id AS r_id, r.org_id AS r_org_id, r.slug AS r_slug, r.name AS r_name, r.name_key AS r_name_key, r.description AS r_description, r.permissions AS r_permissions, r.created_at AS r_created_at, r.updated_at AS r_updated_at, r.version AS r_version FROM orgs o LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = $1 LEFT JOIN org_roles r ON r.org_id = m.org_id AND r.slug = m.custom_role WHERE o.slug = $2 AND o.deleted_at IS NULL"#;
const TARGET: &str = r#"SELECT "memberships"."id", "memberships"."org_id", "memberships"."user_id", "memberships"."role", "memberships"."custom_role", "memberships"."status", "memberships"."created_at", "memberships"."updated_at", "memberships"."version" FROM "memberships" WHERE "memberships"."org_id" = $1 AND "memberships"."user_id" = $2 LIMIT $3"#;
const USERS_IN: &str = r#"SELECT "users"."id", "users"."email", "users"."name", "users"."is_platform_owner", "users"."disabled_at", "users"."created_at", "users"."updated_at", "users"."version" FROM "users" WHERE "users"."id" IN ($1)"#;
const UPDATE_MEMBERSHIP: &str = r#"UPDATE "memberships" SET "org_id" = $1, "user_id" = $2, "role" = $3, "custom_role" = $4, "status" = $5, "created_at" = $6, "updated_at" = $7, "version" = $8 WHERE "memberships"."id" = $9 AND "memberships"."version" = $10 AND "memberships"."status" = $11"#;
const LOCK_HEADS: &str = r#"SELECT "log_heads"."log_key", "log_heads"."seq", "log_heads"."hash", "log_heads"."entries" FROM "log_heads" WHERE "log_heads"."log_key" IN ($1, $2) ORDER BY "log_heads"."log_key" ASC FOR UPDATE"#;
const INSERT_AUDIT: &str = r#"INSERT INTO "audit_entries" ("id", "log_key", "seq", "org_id", "actor_id", "actor_type", "actor_email", "action", "target_type", "target_id", "ip_address", "user_agent", "success", "metadata", "request_id", "created_at", "prev_hash", "hash") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"#;
const INSERT_EVENTS: &str = r#"INSERT INTO "outbox_events" ("id", "org_id", "seq", "event_type", "occurred_at", "actor_user_id", "actor_email", "target_type", "target_id", "data") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10), ($11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"#;
const UPDATE_HEAD: &str =
    r#"UPDATE "log_heads" SET "seq" = $1, "hash" = $2, "entries" = $3 WHERE "log_heads"."log_key" = $4"#;
const WEBHOOKS: &str = r#"SELECT "webhooks"."id", "webhooks"."org_id", "webhooks"."name", "webhooks"."url", "webhooks"."events", "webhooks"."is_active", "webhooks"."disabled_reason", "webhooks"."secret", "webhooks"."previous_secret", "webhooks"."previous_secret_expires_at", "webhooks"."failing_since", "webhooks"."created_at", "webhooks"."updated_at", "webhooks"."deleted_at", "webhooks"."version" FROM "webhooks" WHERE "webhooks"."org_id" = $1 AND "webhooks"."is_active" = $2 AND "webhooks"."deleted_at" IS NULL ORDER BY "webhooks"."created_at" ASC, "webhooks"."id" ASC"#;
const USER_BY_ID: &str = r#"SELECT "users"."id", "users"."email", "users"."name", "users"."is_platform_owner", "users"."disabled_at", "users"."created_at", "users"."updated_at", "users"."version" FROM "users" WHERE "users"."id" = $1 LIMIT $2"#;
/// The refresh: the session by the presented token's hash, its user, org and membership (live
/// authority); then in a transaction the session's compare-and-swap and the consumed token
/// kept as an ancestor of the family.
const SESSION_BY_HASH: &str = r#"SELECT "sessions"."id", "sessions"."user_id", "sessions"."kind", "sessions"."org_id", "sessions"."refresh_hash", "sessions"."previous_hash", "sessions"."previous_rotated_at", "sessions"."ip_address", "sessions"."user_agent", "sessions"."created_at", "sessions"."last_refreshed_at", "sessions"."expires_at", "sessions"."absolute_expires_at", "sessions"."revoked_at", "sessions"."revoke_reason", "sessions"."replay_access", "sessions"."replay_refresh", "sessions"."version" FROM "sessions" WHERE "sessions"."refresh_hash" = $1 LIMIT $2"#;
const INSERT_ANCESTOR: &str = r#"INSERT INTO "refresh_ancestors" ("hash", "session_id", "consumed_at") VALUES ($1, $2, $3) ON CONFLICT ("hash") DO NOTHING"#;
const ORG_BY_ID: &str = r#"SELECT "orgs"."id", "orgs"."slug", "orgs"."name", "orgs"."name_lower", "orgs"."owner_user_id", "orgs"."status", "orgs"."tier_id", "orgs"."max_services", "orgs"."max_users", "orgs"."approved_by", "orgs"."approved_at", "orgs"."rejected_by", "orgs"."rejected_at", "orgs"."rejection_reason", "orgs"."suspended_at", "orgs"."suspension_reason", "orgs"."feature_overrides", "orgs"."created_at", "orgs"."updated_at", "orgs"."deleted_at", "orgs"."version", "orgs"."active_members", "orgs"."total_members" FROM "orgs" WHERE "orgs"."id" = $1 LIMIT $2"#;
const UPDATE_SESSION: &str = r#"UPDATE "sessions" SET "user_id" = $1, "kind" = $2, "org_id" = $3, "refresh_hash" = $4, "previous_hash" = $5, "previous_rotated_at" = $6, "ip_address" = $7, "user_agent" = $8, "created_at" = $9, "last_refreshed_at" = $10, "expires_at" = $11, "absolute_expires_at" = $12, "revoked_at" = $13, "revoke_reason" = $14, "replay_access" = $15, "replay_refresh" = $16, "version" = $17 WHERE "sessions"."id" = $18 AND "sessions"."version" = $19"#;

/// What the ceiling is told about the clients (JSON on its command line).
fn ceiling_arg(f: &Fixture) -> String {
    serde_json::to_string(&f.seats).unwrap()
}

struct Ceiling {
    db: DatabaseConnection,
    seats: Vec<Seat>,
    /// Refresh: per task, the session and the hash of its current refresh token.
    chains: Vec<Mutex<String>>,
    /// Refresh: the encrypted replay pair a rotation keeps (bytes of a real one, not re-encrypted).
    replay: (String, String),
}

fn stmt(sql: &str, values: Vec<DbValue>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

async fn one<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<DbValue>) -> QueryResult {
    db.query_one_raw(stmt(sql, values)).await.unwrap().expect("a row")
}

async fn exec<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<DbValue>) -> u64 {
    db.execute_raw(stmt(sql, values)).await.unwrap().rows_affected()
}

/// A unique SHA-256-sized hex string, as the hash of a refresh token.
fn random_hash() -> String {
    format!("{}{}", Uuid::now_v7().simple(), Uuid::now_v7().simple())
}

impl Ceiling {
    async fn auth(&self, s: &Seat) {
        let row = one(&self.db, AUTH, vec![s.slug.clone().into(), s.session.into()]).await;
        assert!(row.try_get::<Option<Uuid>>("", "m_id").unwrap().is_some());
    }

    async fn op(&self, kind: Kind, k: usize) {
        match kind {
            Kind::Org => self.auth(&self.seats[k]).await,
            Kind::Members => {
                self.auth(&self.seats[k]).await;
                let rows = self
                    .db
                    .query_all_raw(stmt(MEMBER_PAGE, vec![self.seats[k].org.into(), 51i64.into()]))
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 51);
            }
            Kind::Role => self.role(k).await,
            Kind::Refresh => self.refresh(k).await,
        }
    }

    async fn role(&self, k: usize) {
        let s = &self.seats[k];
        let (target, org) = (s.target, s.org);
        self.auth(s).await;
        one(&self.db, ACTOR, vec![s.owner.into(), s.slug.clone().into()]).await;
        let m = one(&self.db, TARGET, vec![org.into(), target.into(), 1i64.into()]).await;
        let (id, role, created, version): (Uuid, String, DateTime<Utc>, i64) = (
            m.try_get("", "id").unwrap(),
            m.try_get("", "role").unwrap(),
            m.try_get("", "created_at").unwrap(),
            m.try_get("", "version").unwrap(),
        );
        let user = one(&self.db, USERS_IN, vec![target.into()]).await;
        let email: String = user.try_get("", "email").unwrap();
        let new = if role == "admin" { "member" } else { "admin" };
        let at = Utc::now();
        let txn = self.db.begin().await.unwrap();
        let n = exec(
            &txn,
            UPDATE_MEMBERSHIP,
            vec![
                org.into(),
                target.into(),
                new.into(),
                DbValue::String(None),
                "active".into(),
                created.into(),
                at.into(),
                (version + 1).into(),
                id.into(),
                version.into(),
                "active".into(),
            ],
        )
        .await;
        assert_eq!(n, 1, "the membership's version moved");
        let (audit_key, events_key) = (format!("audit:org:{}", org), format!("events:{}", org));
        let heads = txn
            .query_all_raw(stmt(
                LOCK_HEADS,
                vec![audit_key.clone().into(), events_key.clone().into()],
            ))
            .await
            .unwrap();
        let mut h: HashMap<String, (i64, Option<String>, i64)> = HashMap::new();
        for r in heads {
            h.insert(
                r.try_get("", "log_key").unwrap(),
                (
                    r.try_get("", "seq").unwrap(),
                    r.try_get("", "hash").unwrap(),
                    r.try_get("", "entries").unwrap(),
                ),
            );
        }
        let (seq, prev, entries) = h[&audit_key].clone();
        let draft = AuditDraft {
            id: EventId::from_uuid(Uuid::now_v7()),
            org_id: Some(OrgId::from_uuid(org)),
            actor: AuditActor {
                id: s.owner.to_string(),
                kind: ActorType::User,
                email: Some(s.owner_email.clone()),
            },
            action: "member.role_changed".to_owned(),
            target_type: Some("user".to_owned()),
            target_id: Some(target.to_string()),
            ip_address: Some("127.0.0.1".to_owned()),
            user_agent: None,
            success: true,
            metadata: Some(json!({"new_role": new, "old_role": role, "target_user_email": email})),
            request_id: Some(Uuid::now_v7().to_string()),
            created_at: at,
        };
        let prev = prev.as_deref().and_then(chain::from_hex).unwrap_or(chain::GENESIS);
        let hash = chain::entry_hash(&prev, (seq + 1) as u64, &draft);
        exec(
            &txn,
            INSERT_AUDIT,
            vec![
                draft.id.as_uuid().into(),
                format!("org:{}", org).into(),
                (seq + 1).into(),
                org.into(),
                draft.actor.id.into(),
                "user".into(),
                draft.actor.email.into(),
                draft.action.into(),
                draft.target_type.into(),
                draft.target_id.into(),
                draft.ip_address.into(),
                draft.user_agent.into(),
                true.into(),
                draft.metadata.map(|m| m.to_string()).into(),
                draft.request_id.into(),
                at.into(),
                chain::to_hex(&prev).into(),
                chain::to_hex(&hash).into(),
            ],
        )
        .await;
        let (eseq, ehash, eentries) = h[&events_key].clone();
        let data = json!({"new_role": new, "old_role": role, "user_id": target.to_string()}).to_string();
        let mut events = Vec::new();
        for (i, ty) in ["member.role_updated", "user.role_updated"].into_iter().enumerate() {
            events.extend::<[DbValue; 10]>([
                Uuid::now_v7().into(),
                org.into(),
                (eseq + 1 + i as i64).into(),
                ty.into(),
                at.into(),
                Some(s.owner).into(),
                Some(s.owner_email.clone()).into(),
                "user".into(),
                target.to_string().into(),
                data.clone().into(),
            ]);
        }
        exec(&txn, INSERT_EVENTS, events).await;
        exec(
            &txn,
            UPDATE_HEAD,
            vec![
                (seq + 1).into(),
                chain::to_hex(&hash).into(),
                (entries + 1).into(),
                audit_key.into(),
            ],
        )
        .await;
        exec(
            &txn,
            UPDATE_HEAD,
            vec![(eseq + 2).into(), ehash.into(), eentries.into(), events_key.into()],
        )
        .await;
        txn.query_all_raw(stmt(WEBHOOKS, vec![org.into(), true.into()]))
            .await
            .unwrap();
        txn.commit().await.unwrap();
        one(&self.db, USER_BY_ID, vec![target.into(), 1i64.into()]).await;
    }

    async fn refresh(&self, k: usize) {
        let old = self.chains[k].lock().unwrap().clone();
        let s = one(&self.db, SESSION_BY_HASH, vec![old.clone().into(), 1i64.into()]).await;
        let id: Uuid = s.try_get("", "id").unwrap();
        let user: Uuid = s.try_get("", "user_id").unwrap();
        let org: Uuid = s.try_get("", "org_id").unwrap();
        let version: i64 = s.try_get("", "version").unwrap();
        let created: DateTime<Utc> = s.try_get("", "created_at").unwrap();
        let absolute: DateTime<Utc> = s.try_get("", "absolute_expires_at").unwrap();
        one(&self.db, USER_BY_ID, vec![user.into(), 1i64.into()]).await;
        one(&self.db, ORG_BY_ID, vec![org.into(), 1i64.into()]).await;
        one(&self.db, TARGET, vec![org.into(), user.into(), 1i64.into()]).await;
        let new = random_hash();
        let at = Utc::now();
        let txn = self.db.begin().await.unwrap();
        let n = exec(
            &txn,
            UPDATE_SESSION,
            vec![
                user.into(),
                "org".into(),
                Some(org).into(),
                new.clone().into(),
                Some(old.clone()).into(),
                Some(at).into(),
                Some("127.0.0.1".to_owned()).into(),
                DbValue::String(None),
                created.into(),
                Some(at).into(),
                (at + chrono::Duration::days(30)).into(),
                absolute.into(),
                Option::<DateTime<Utc>>::None.into(),
                DbValue::String(None),
                Some(self.replay.0.clone()).into(),
                Some(self.replay.1.clone()).into(),
                (version + 1).into(),
                id.into(),
                version.into(),
            ],
        )
        .await;
        assert_eq!(n, 1, "the session's version moved");
        exec(&txn, INSERT_ANCESTOR, vec![old.into(), id.into(), at.into()]).await;
        txn.commit().await.unwrap();
        *self.chains[k].lock().unwrap() = new;
    }
}

/// `--ceiling <url> <kind> <in flight> <seconds> <org JSON>`: the statements of `kind` from
/// that many tasks for that long, after an untimed warm-up; prints the cell as JSON.
async fn ceiling_main(url: &str, kind: Kind, conc: usize, secs: f64, arg: &str) {
    let seats: Vec<Seat> = serde_json::from_str(arg).unwrap();
    let mut co = ConnectOptions::new(url.to_owned());
    co.max_connections(POOL).sqlx_logging(false);
    let db = Database::connect(co).await.expect("connect");
    let mut c = Ceiling {
        db,
        seats,
        chains: Vec::new(),
        replay: (String::new(), String::new()),
    };
    if kind == Kind::Refresh {
        // Untimed: a session per task, a copy of the owner's, and a replay pair the server wrote.
        let r = one(
            &c.db,
            "SELECT replay_access, replay_refresh FROM sessions WHERE replay_access IS NOT NULL LIMIT 1",
            vec![],
        )
        .await;
        c.replay = (
            r.try_get("", "replay_access").unwrap(),
            r.try_get("", "replay_refresh").unwrap(),
        );
        for k in 0..conc {
            let hash = random_hash();
            exec(
                &c.db,
                "INSERT INTO sessions (id, user_id, kind, org_id, refresh_hash, previous_hash, previous_rotated_at, \
                 ip_address, user_agent, created_at, last_refreshed_at, expires_at, absolute_expires_at, revoked_at, \
                 revoke_reason, version, replay_access, replay_refresh) \
                 SELECT $1, user_id, kind, org_id, $2, NULL, NULL, ip_address, user_agent, created_at, NULL, \
                 expires_at, absolute_expires_at, NULL, NULL, 1, NULL, NULL FROM sessions WHERE id = $3",
                vec![Uuid::now_v7().into(), hash.clone().into(), c.seats[k].session.into()],
            )
            .await;
            c.chains.push(Mutex::new(hash));
        }
    }
    let c = Arc::new(c);
    let run = async |secs: f64| {
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(secs);
        let mut set = tokio::task::JoinSet::new();
        for k in 0..conc {
            let c = c.clone();
            set.spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    c.op(kind, k).await;
                    lat.push(t.elapsed());
                }
                lat
            });
        }
        let mut lat = Vec::new();
        while let Some(r) = set.join_next().await {
            lat.extend(r.unwrap());
        }
        (lat, start.elapsed().as_secs_f64())
    };
    run(CEILING_WARM).await;
    let me = std::process::id();
    let (own0, pg0, m0) = (process::cpu_of(me), pg_cpu(), machine());
    let (lat, wall) = run(secs).await;
    let (own, pg, m1) = (process::cpu_of(me) - own0, pg_cpu() - pg0, machine());
    let n = lat.len();
    let m = busy(m0, m1);
    let cell = cell(lat, wall, own, pg, 0.0, m);
    c.db.clone().close().await.unwrap();
    println!(
        "{}",
        json!({"n": n, "wall": wall, "p50": cell.p50.as_secs_f64(), "p99": cell.p99.as_secs_f64(),
               "own": own, "pg": pg, "cpu0": m.0, "cpu1": m.1, "steal": m.2})
    );
}

/// One ceiling cell: this binary re-executed with `--ceiling`, pinned to CPU 0.
fn run_ceiling(url: &str, f: &Fixture, kind: Kind, conc: usize, secs: f64) -> Cell {
    let me = std::env::current_exe().unwrap();
    let out = pinned("0", &me.display().to_string())
        .args(["--ceiling", url, kind.arg(), &conc.to_string(), &secs.to_string()])
        .arg(ceiling_arg(f))
        .env(
            "ORG_NODES_PG_DATA",
            pg_data_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        )
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the ceiling failed");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = |k: &str| v[k].as_f64().unwrap();
    let wall = g("wall");
    Cell {
        rps: g("n") / wall,
        p50: Duration::from_secs_f64(g("p50")),
        p99: Duration::from_secs_f64(g("p99")),
        own: g("own") / wall,
        pg: g("pg") / wall,
        load: 0.0,
        cpu0: g("cpu0"),
        cpu1: g("cpu1"),
        steal: g("steal"),
    }
}

/// After the ceiling changed the targets' roles: what the server's clients must flip next.
async fn resync_roles(db: &DatabaseConnection, f: &Fixture) {
    for (k, s) in f.seats.iter().enumerate() {
        let r = one(
            db,
            "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2",
            vec![s.org.into(), s.target.into()],
        )
        .await;
        let role: String = r.try_get("", "role").unwrap();
        f.admin[k].store(role == "admin", Ordering::Relaxed);
    }
}

// ------------------------------------------------------------------ statements per request

/// "n: kind, kind ×2, …" of logged statements.
fn summary(sql: &[(String, f64)]) -> String {
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for (q, _) in sql {
        let kind = pglog::statement_kind(q);
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some(e) => e.1 += 1,
            None => kinds.push((kind, 1)),
        }
    }
    let list = kinds
        .iter()
        .map(|(k, n)| if *n == 1 { k.clone() } else { format!("{k} ×{n}") })
        .collect::<Vec<_>>()
        .join(", ");
    format!("{}: {list}", sql.len())
}

/// The statements one request of each kind runs on a server, and one ceiling operation, from
/// PostgreSQL's statement log: the database gets `log_min_duration_statement = 0` (new
/// connections only), a third server starts on it, and a ceiling connects in this process.
/// The first run of each warms the prepared statements and is not counted.
async fn statements(
    client: &reqwest::Client,
    cfg: &Path,
    dir: &Path,
    url: &str,
    f: &Arc<Fixture>,
) -> Option<Vec<(Kind, String, String)>> {
    let data = pg_data_dir()?;
    let log = data.parent().unwrap().join("postgres.log");
    let db_name = url.rsplit_once('/').unwrap().1;
    let admin = Database::connect(common::pg_admin_url().as_str()).await.unwrap();
    admin
        .execute_unprepared(&format!("ALTER DATABASE {db_name} SET log_min_duration_statement = 0"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let server = start_server(cfg, &dir.join("server-statements.log")).await;
    let mut co = ConnectOptions::new(url.to_owned());
    co.max_connections(1).sqlx_logging(false);
    let mut ceiling = Ceiling {
        db: Database::connect(co).await.unwrap(),
        seats: f.seats.clone(),
        chains: Vec::new(),
        replay: (String::new(), String::new()),
    };
    let r = one(
        &ceiling.db,
        "SELECT replay_access, replay_refresh FROM sessions WHERE replay_access IS NOT NULL LIMIT 1",
        vec![],
    )
    .await;
    ceiling.replay = (
        r.try_get("", "replay_access").unwrap(),
        r.try_get("", "replay_refresh").unwrap(),
    );
    let hash = random_hash();
    exec(
        &ceiling.db,
        "INSERT INTO sessions (id, user_id, kind, org_id, refresh_hash, created_at, expires_at, absolute_expires_at, version) \
         SELECT $1, user_id, kind, org_id, $2, created_at, expires_at, absolute_expires_at, 1 FROM sessions WHERE id = $3",
        vec![Uuid::now_v7().into(), hash.clone().into(), f.seats[0].session.into()],
    )
    .await;
    ceiling.chains.push(Mutex::new(hash));
    resync_roles(&ceiling.db, f).await;
    let pid: i32 = one(&ceiling.db, "SELECT pg_backend_pid() AS pid", vec![])
        .await
        .try_get("", "pid")
        .unwrap();
    let mut out = Vec::new();
    for kind in Kind::ALL {
        // The server's: the fewest of three after a warm-up (a worker's pass may fall in a
        // window); the ceiling's: its one connection's.
        let mut server_seen: Option<Vec<(String, f64)>> = None;
        let mut ceiling_seen = Vec::new();
        for pass in 0..4 {
            let offset = std::fs::metadata(&log).map_or(0, |m| m.len());
            request(client, &server.base, f, kind, 0).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let sql = pglog::logged_since(&log, offset, None);
            if pass > 0 && server_seen.as_ref().is_none_or(|s| sql.len() < s.len()) {
                server_seen = Some(sql);
            }
            let offset = std::fs::metadata(&log).map_or(0, |m| m.len());
            ceiling.op(kind, 0).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            ceiling_seen = pglog::logged_since(&log, offset, Some(pid));
            if kind == Kind::Role {
                resync_roles(&ceiling.db, f).await;
            }
        }
        out.push((kind, summary(&server_seen.unwrap()), summary(&ceiling_seen)));
    }
    ceiling.db.close().await.unwrap();
    Some(out)
}

// ------------------------------------------------------------------ driver

/// What runs a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Target {
    OneNode,
    TwoNodes,
    Ceiling,
}

/// A cell: kind, fixture (0: small org, 1: big org, 2: an org per client), in flight, target.
type Key = (usize, usize, usize, Target);

/// The fixture of one org per client.
const SPREAD: usize = 2;

fn kind_index(kind: Kind) -> usize {
    Kind::ALL.iter().position(|k| *k == kind).unwrap()
}

async fn round(
    client: &reqwest::Client,
    servers: &[&Server],
    url: &str,
    db: &DatabaseConnection,
    fixtures: &[Arc<Fixture>],
    secs: f64,
    out: &mut HashMap<Key, Vec<Cell>>,
) {
    for kind in Kind::ALL {
        for (i, f) in fixtures.iter().enumerate() {
            if f.spread && kind != Kind::Role {
                continue;
            }
            for conc in LEVELS {
                let key = |t| (kind_index(kind), i, conc, t);
                let c = load(client, &servers[..1], f, kind, conc, secs).await;
                out.entry(key(Target::OneNode)).or_default().push(c);
                let c = run_ceiling(url, f, kind, conc, secs);
                out.entry(key(Target::Ceiling)).or_default().push(c);
                if kind == Kind::Role {
                    resync_roles(db, f).await;
                }
                if !f.spread && f.size == SIZES[1] && TWO_NODE_LEVELS.contains(&conc) {
                    let c = load(client, servers, f, kind, conc, secs).await;
                    out.entry(key(Target::TwoNodes)).or_default().push(c);
                }
            }
        }
        eprintln!("bench nodes:   {} done", kind.arg());
    }
}

/// The median over the rounds of each figure of a cell.
fn med(cells: &[Cell]) -> Cell {
    let m = |g: fn(&Cell) -> f64| median(cells.iter().map(g).collect());
    Cell {
        rps: m(|c| c.rps),
        p50: Duration::from_secs_f64(m(|c| c.p50.as_secs_f64())),
        p99: Duration::from_secs_f64(m(|c| c.p99.as_secs_f64())),
        own: m(|c| c.own),
        pg: m(|c| c.pg),
        load: m(|c| c.load),
        cpu0: m(|c| c.cpu0),
        cpu1: m(|c| c.cpu1),
        steal: m(|c| c.steal),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn pct(cores: f64) -> String {
    format!("{:.0}", cores * 100.0)
}

fn print(results: &HashMap<Key, Vec<Cell>>, rounds: usize, secs: f64) {
    let get = |kind: Kind, f: usize, conc: usize, t: Target| med(&results[&(kind_index(kind), f, conc, t)]);
    println!(
        "\n### One server process, one PostgreSQL (server and ceiling pinned to CPU 0, load generator to CPU 1, PostgreSQL unpinned; {secs} s cells; medians of {rounds} rounds)\n"
    );
    println!(
        "CPU figures are % of one core: of the server process (or the ceiling process), of PostgreSQL (all its processes), of the load generator; and how busy CPU 0 and CPU 1 were (every process on the machine).\n"
    );
    println!(
        "| request | org members | in flight | org-server req/s | p50 / p99 (ms) | raw-SQL ceiling req/s | ceiling p50 / p99 (ms) | ratio server / ceiling | server run: CPU server / PostgreSQL / load | server run: CPU 0 / CPU 1 busy | ceiling run: CPU ceiling / PostgreSQL | ceiling run: CPU 0 / CPU 1 busy |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for kind in Kind::ALL {
        for (i, size) in SIZES.into_iter().enumerate() {
            for conc in LEVELS {
                let s = get(kind, i, conc, Target::OneNode);
                let c = get(kind, i, conc, Target::Ceiling);
                println!(
                    "| {} | {size} | {conc} | {:.0} | {} / {} | {:.0} | {} / {} | {:.2} | {} / {} / {} | {} / {} | {} / {} | {} / {} |",
                    kind.label(),
                    s.rps,
                    ms(s.p50),
                    ms(s.p99),
                    c.rps,
                    ms(c.p50),
                    ms(c.p99),
                    s.rps / c.rps,
                    pct(s.own),
                    pct(s.pg),
                    pct(s.load),
                    pct(s.cpu0),
                    pct(s.cpu1),
                    pct(c.own),
                    pct(c.pg),
                    pct(c.cpu0),
                    pct(c.cpu1)
                );
            }
        }
    }
    let steal: Vec<f64> = results.values().flatten().map(|c| c.steal).collect();
    let max = steal.iter().copied().fold(0.0, f64::max);
    println!(
        "\nStolen time (hypervisor), of both CPUs: median {:.1} %, highest {:.1} % over all cells.",
        median(steal) * 100.0,
        max * 100.0
    );
    println!(
        "\n### Org size: {} members against {} (one server)\n",
        SIZES[1], SIZES[0]
    );
    println!(
        "| request | in flight | req/s ratio big / small | p50 ratio big / small | ceiling req/s ratio big / small |"
    );
    println!("|---|---|---|---|---|");
    for kind in Kind::ALL {
        for conc in LEVELS {
            let (b, s) = (get(kind, 1, conc, Target::OneNode), get(kind, 0, conc, Target::OneNode));
            let (cb, cs) = (get(kind, 1, conc, Target::Ceiling), get(kind, 0, conc, Target::Ceiling));
            println!(
                "| {} | {conc} | {:.2} | {:.2} | {:.2} |",
                kind.label(),
                b.rps / s.rps,
                b.p50.as_secs_f64() / s.p50.as_secs_f64(),
                cb.rps / cs.rps
            );
        }
    }
    println!(
        "\n### Role changes: every client in one org of {} members, or each client in an org of its own ({CLIENTS} orgs of 2 members; one server)\n",
        SIZES[1]
    );
    println!(
        "| in flight | one org: req/s | p50 / p99 (ms) | ceiling req/s | an org per client: req/s | p50 / p99 (ms) | ceiling req/s | ratio server / ceiling | CPU server / PostgreSQL | CPU 0 / CPU 1 busy |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for conc in LEVELS {
        let (o, oc) = (
            get(Kind::Role, 1, conc, Target::OneNode),
            get(Kind::Role, 1, conc, Target::Ceiling),
        );
        let (m, mc) = (
            get(Kind::Role, SPREAD, conc, Target::OneNode),
            get(Kind::Role, SPREAD, conc, Target::Ceiling),
        );
        println!(
            "| {conc} | {:.0} | {} / {} | {:.0} | {:.0} | {} / {} | {:.0} | {:.2} | {} / {} | {} / {} |",
            o.rps,
            ms(o.p50),
            ms(o.p99),
            oc.rps,
            m.rps,
            ms(m.p50),
            ms(m.p99),
            mc.rps,
            m.rps / mc.rps,
            pct(m.own),
            pct(m.pg),
            pct(m.cpu0),
            pct(m.cpu1)
        );
    }
    let per_request = |key: Key| {
        let cells = &results[&key];
        let us = |g: fn(&Cell) -> f64| {
            median(
                cells
                    .iter()
                    .map(|c| g(c) / c.rps.max(f64::MIN_POSITIVE) * 1e6)
                    .collect(),
            )
        };
        (us(|c| c.own), us(|c| c.pg))
    };
    println!(
        "\n### CPU per request (µs of CPU time per request: CPU seconds of the cell / requests; medians of the rounds)\n"
    );
    println!(
        "| request | orgs | in flight | org-server | PostgreSQL, server run | raw-SQL ceiling process | PostgreSQL, ceiling run |"
    );
    println!("|---|---|---|---|---|---|---|");
    let fixtures = [
        (0, format!("one of {}", SIZES[0])),
        (1, format!("one of {}", SIZES[1])),
        (SPREAD, format!("{CLIENTS} of 2")),
    ];
    for kind in Kind::ALL {
        for (i, name) in &fixtures {
            if *i == SPREAD && kind != Kind::Role {
                continue;
            }
            for conc in [16, 64] {
                let (s, sp) = per_request((kind_index(kind), *i, conc, Target::OneNode));
                let (c, cp) = per_request((kind_index(kind), *i, conc, Target::Ceiling));
                println!(
                    "| {} | {name} | {conc} | {s:.0} | {sp:.0} | {c:.0} | {cp:.0} |",
                    kind.label()
                );
            }
        }
    }
    println!(
        "\n### Two server processes on the same PostgreSQL, both pinned to CPU 0 (org of {} members; load round-robin per request)\n",
        SIZES[1]
    );
    println!(
        "| request | in flight | 1 process req/s | 2 processes req/s | 2 / 1 | 2 processes p50 / p99 (ms) | CPU both servers / PostgreSQL / load | CPU 0 / CPU 1 busy | µs CPU per request, 1 process: server / PostgreSQL | 2 processes: servers / PostgreSQL | ceiling req/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for kind in Kind::ALL {
        for conc in TWO_NODE_LEVELS {
            let one = get(kind, 1, conc, Target::OneNode);
            let two = get(kind, 1, conc, Target::TwoNodes);
            let c = get(kind, 1, conc, Target::Ceiling);
            let u1 = per_request((kind_index(kind), 1, conc, Target::OneNode));
            let u2 = per_request((kind_index(kind), 1, conc, Target::TwoNodes));
            println!(
                "| {} | {conc} | {:.0} | {:.0} | {:.2} | {} / {} | {} / {} / {} | {} / {} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} |",
                kind.label(),
                one.rps,
                two.rps,
                two.rps / one.rps,
                ms(two.p50),
                ms(two.p99),
                pct(two.own),
                pct(two.pg),
                pct(two.load),
                pct(two.cpu0),
                pct(two.cpu1),
                u1.0,
                u1.1,
                u2.0,
                u2.1,
                c.rps
            );
        }
    }
}

async fn bench(dir: &Path) {
    let secs = env_f64("ORG_BENCH_SECS", 1.5);
    let rounds = env_f64("ORG_BENCH_ROUNDS", 3.0).max(1.0) as usize;
    let started = Instant::now();
    let (store, url) = common::store(Backend::Postgres, dir, "nodes").await;
    eprintln!("bench nodes: seeding orgs of {SIZES:?} members and {CLIENTS} orgs of 2");
    let app = common::app(store.clone());
    let mut seeded = Vec::new();
    for size in SIZES {
        seeded.push(seed_org(&app, &store, &format!("org-{size}"), size).await);
    }
    let mut spread = Vec::new();
    for k in 0..CLIENTS {
        spread.push(seed_org(&app, &store, &format!("solo-{k}"), 2).await);
    }
    drop(app);
    store.close().await.unwrap();
    let data = dir.join("server");
    let cfg = write_config(&data, &url);
    let a = start_server(&cfg, &dir.join("server-a.log")).await;
    // The second starts after the first wrote the shared signing key.
    let b = start_server(&cfg, &dir.join("server-b.log")).await;
    let client = reqwest::Client::new();
    let db = Database::connect(url.as_str()).await.unwrap();
    let mut fixtures = Vec::new();
    for (size, s) in SIZES.into_iter().zip(&seeded) {
        fixtures.push(Arc::new(
            fixture(&client, &a, &cfg, &db, size, std::slice::from_ref(s)).await,
        ));
    }
    fixtures.push(Arc::new(fixture(&client, &a, &cfg, &db, 2, &spread).await));
    let servers = [&a, &b];
    eprintln!(
        "bench nodes: set up in {:.0} s; warm-up round (discarded)",
        started.elapsed().as_secs_f64()
    );
    let mut discard = HashMap::new();
    round(&client, &servers, &url, &db, &fixtures, secs / 2.0, &mut discard).await;
    let mut results = HashMap::new();
    for r in 1..=rounds {
        eprintln!(
            "bench nodes: round {r}/{rounds} ({:.0} s in)",
            started.elapsed().as_secs_f64()
        );
        round(&client, &servers, &url, &db, &fixtures, secs, &mut results).await;
    }
    print(&results, rounds, secs);
    eprintln!("bench nodes: statements per request (statement log, a third server)");
    if let Some(rows) = statements(&client, &cfg, dir, &url, &fixtures[1]).await {
        println!(
            "\n### Statements per request (PostgreSQL statement log of a third server and of the ceiling; org of {} members; BEGIN and COMMIT included, the workers' polls left out)\n",
            SIZES[1]
        );
        println!("| request | org-server | raw-SQL ceiling |");
        println!("|---|---|---|");
        for (kind, s, c) in rows {
            println!("| {} | {s} | {c} |", kind.label());
        }
    }
    db.close().await.unwrap();
    eprintln!("bench nodes: done in {:.0} s", started.elapsed().as_secs_f64());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--ceiling") {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(ceiling_main(
                &args[2],
                Kind::parse(&args[3]),
                args[4].parse().unwrap(),
                args[5].parse().unwrap(),
                &args[6],
            ));
        return;
    }
    org_server::sender::install_tls();
    // The cluster starts before this process pins itself to CPU 1, so it is not pinned.
    common::pg_admin_url();
    let pin = Command::new("taskset")
        .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
    assert!(pin.is_ok_and(|s| s.success()), "taskset (util-linux) is needed");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(bench(dir.path()));
}

/// CPU seconds of this run's cluster.
fn pg_cpu() -> f64 {
    process::cluster_cpu(pg_data_dir().as_deref())
}
