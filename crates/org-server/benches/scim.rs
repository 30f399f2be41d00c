//! `cargo xtask bench scim`: directory sync through the real server, on SQLite and on
//! PostgreSQL (a throwaway cluster this process starts).
//!
//! The release server runs pinned to CPU 0 with every rate limit off (`rate_limit.* = 0`) and
//! the default tier `tier_enterprise` (SCIM allowed, member cap 999,999); the load generator
//! (this process, one tokio worker) runs pinned to CPU 1. Each org gets its owner from the
//! admin CLI, is created over HTTP, and gets a SCIM token from `POST …/scim-tokens`.
//!
//! 1. **Initial sync**: 10,000 users created by 4 concurrent clients, each create preceded by
//!    the Okta-style lookup `GET /Users?filter=userName eq "…"&startIndex=1&count=100`; then a
//!    group (`POST /Groups`) and all 10,000 users added to it by `PATCH /Groups/:id` add-members
//!    operations of 100, sent one after the other. Next to it, the raw-SQL ceiling measured in
//!    the same run, also pinned to CPU 0 (this binary re-executed with `--ceiling`): a loop
//!    writing the rows one create writes (user, membership, kept member counts under the cap,
//!    directory profile, the platform `user.created` and org `member.added` audit entries
//!    chained by hash under their locked log heads, the `member.added` and `user.joined` outbox
//!    events) in one transaction per user, 4 concurrent tasks; and per batch of 100 the same
//!    role changes with their audit entries, events and the group's version, one transaction
//!    per batch; plain SQL through the same driver (sea-orm `execute_raw`). A warm-up round (500
//!    users) is discarded; then the rounds alternate server and ceiling, each on a fresh org;
//!    medians are quoted. Ratio = ceiling time / server time. CPU per user of the server, the
//!    ceiling and PostgreSQL is read from `/proc`.
//! 2. **Incremental sync at that size**: p50/p99 of a `userName` lookup, a PATCH deactivate
//!    (alternating with reactivate) and a group PATCH removing/adding one member (also with
//!    `excludedAttributes=members`), on the 10,000-member org of the last round and on an org of
//!    10, in interleaved rounds after a discarded warm-up; ratio of the p50s big/small.
//! 3. **Concurrent creates of one userName**: 16 concurrent `POST /Users` with the same body, 20
//!    times with distinct names: exactly one 201 and fifteen 409 `uniqueness`, and exactly one
//!    membership in the database. The process exits non-zero otherwise.
//! 4. **Statements per request** (PostgreSQL): what each kind of request runs, and how long
//!    PostgreSQL spent on it, from the statement log (`log_min_duration_statement = 0`) of a
//!    second server on a database of its own.
//!
//! `ORG_BENCH_BACKEND=sqlite|postgresql` runs one database, `ORG_BENCH_USERS` and
//! `ORG_BENCH_ROUNDS` shrink the sync (for a quick look), `ORG_BENCH_DATABASE_URL` names an
//! existing PostgreSQL server instead of the throwaway cluster.
// A benchmark measures wall-clock time and makes its own ids and times.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use common::process::{self, Killed, cli, median, pinned, server_bin};
use common::{Backend, ms, pglog, quantile};
use org_domain::{EventId, OrgId};
use org_ports::chain;
use org_ports::{ActorType, AuditActor, AuditDraft};
use org_store_seaorm::AesGcmCipher;
use reqwest::{Method, StatusCode};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value as DbValue,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// Concurrent directory clients of the initial sync (and tasks of the ceiling).
const CLIENTS: usize = 4;
/// Members per group PATCH.
const BATCH: usize = 100;
/// Clients sending the group PATCHes, one after the other as identity providers push a
/// group: the group's version moves with its members, so concurrent PATCHes of one group
/// conflict (and come back 503 once the retries are spent).
const GROUP_CLIENTS: usize = 1;
/// Users of the discarded warm-up sync.
const WARMUP_USERS: usize = 500;
/// Members of the small org of the incremental comparison.
const SMALL: usize = 10;
/// Incremental: warm-up runs discarded, rounds interleaving the two orgs, runs per round.
const INC_WARMUP: usize = 20;
const INC_ROUNDS: usize = 10;
const INC_PER_ROUND: usize = 20;
/// Users a PATCH or group write alternates over (so every user ends as it began).
const FLIP: usize = 5;
/// Concurrent-create trials and clients per trial.
const RACE_TRIALS: usize = 20;
const RACE_CLIENTS: usize = 16;
/// The member cap of `tier_enterprise`.
const CAP: i64 = 999_999;

const SCIM: &str = "application/scim+json";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Percent-encodes a query value (everything but the unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ------------------------------------------------------------------ the server

struct Server {
    _child: Killed,
    pid: u32,
    postgres: bool,
    base: String,
    cfg: PathBuf,
    /// The server's database, for the checks of the concurrent creates.
    db_url: String,
    log: PathBuf,
}

/// The logs of the servers this process started: a panic prints their ends.
static SERVER_LOGS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn report_server_logs_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        if let Ok(logs) = SERVER_LOGS.try_lock() {
            for log in logs.iter() {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("--- last lines of {}:", log.display());
                for l in &lines[lines.len().saturating_sub(20)..] {
                    eprintln!("{l}");
                }
            }
        }
    }));
}

fn key_line() -> (String, String) {
    let (_, id, key) = AesGcmCipher::generate();
    (id, base64::engine::general_purpose::STANDARD.encode(key))
}

/// A fresh database for `name`: an SQLite file in `dir`, or a new database on the cluster.
async fn database(backend: Backend, dir: &Path, name: &str) -> String {
    let (store, url) = common::store(backend, dir, name).await;
    store.close().await.unwrap();
    url
}

async fn start_server(backend: Backend, dir: &Path) -> Server {
    let db_url = match backend {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            dir.join("server-sqlite").join("org-server.db").display()
        ),
        Backend::Postgres => database(backend, dir, "scim_server").await,
    };
    start_server_on(dir, backend.name(), db_url).await
}

/// The release server on `db_url`, with its data dir `server-<name>` in `dir`.
async fn start_server_on(dir: &Path, name: &str, db_url: String) -> Server {
    let data = dir.join(format!("server-{}", name.to_lowercase()));
    std::fs::create_dir_all(&data).unwrap();
    let (key_id, key) = key_line();
    let cfg = data.join("org-server.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\npublic_base_url = \"http://bench.invalid\"\ndefault_tier_id = \"tier_enterprise\"\n\
             [database]\nurl = \"{db_url}\"\n\
             [rate_limit]\napi_per_session = 0\nscim_per_token = 0\nper_ip = 0\nrefresh_per_ip = 0\n\
             public_per_ip = 0\noutbound_per_org = 0\nlogins_per_key = 0\n\
             [encryption.keys]\n{key_id} = \"base64:{key}\"\n",
            data.display()
        ),
    )
    .unwrap();
    let port = common::free_port();
    let log = data.join("server.log");
    SERVER_LOGS.lock().unwrap().push(log.clone());
    let child = pinned("0", server_bin())
        .arg("--config")
        .arg(&cfg)
        .args(["serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = Server {
        pid: child.id(),
        postgres: db_url.starts_with("postgres"),
        _child: Killed(child),
        base: format!("http://127.0.0.1:{port}"),
        cfg,
        db_url,
        log,
    };
    process::wait_healthy(&server.base, &server.log).await;
    server
}

/// An org of the server and its SCIM token.
#[derive(Clone)]
struct ScimOrg {
    slug: String,
    token: String,
    /// `…/scim/v2`.
    scim: String,
}

/// A new org `slug` (owner from the admin CLI, org over HTTP) and a SCIM token for it.
async fn scim_org(client: &reqwest::Client, server: &Server, slug: &str) -> ScimOrg {
    let owner = format!("owner@{slug}.bench");
    let user = cli(&server.cfg, &["admin", "issue-token", "--email", &owner]);
    let user = user["access_token"].as_str().unwrap();
    let r = client
        .post(format!("{}/api/organizations", server.base))
        .bearer_auth(user)
        .json(&json!({"slug": slug, "name": format!("Org {slug}")}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "create org {slug}: {body}");
    let org_token = body["access_token"].as_str().unwrap().to_owned();
    let r = client
        .post(format!("{}/api/organizations/{slug}/scim-tokens", server.base))
        .bearer_auth(&org_token)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "create SCIM token for {slug}: {body}");
    ScimOrg {
        slug: slug.to_owned(),
        token: body["token"].as_str().unwrap().to_owned(),
        scim: format!("{}/scim/v2", server.base),
    }
}

/// One SCIM request: status and body (`Null` when empty).
async fn scim(
    client: &reqwest::Client,
    org: &ScimOrg,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = client
        .request(method, format!("{}{path}", org.scim))
        .bearer_auth(&org.token)
        .header("accept", SCIM);
    if let Some(b) = body {
        req = req.header("content-type", SCIM).body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let bytes = r.bytes().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, value)
}

fn user_name(tag: &str, i: usize) -> String {
    format!("u{i}@{tag}.bench")
}

fn user_body(name: &str, i: usize) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": name,
        "emails": [{"value": name, "primary": true, "type": "work"}],
        "name": {"givenName": "User", "familyName": format!("Number {i}")},
        "active": true,
    })
}

fn lookup_path(name: &str) -> String {
    format!(
        "/Users?filter={}&startIndex=1&count=100",
        encode(&format!("userName eq \"{name}\""))
    )
}

async fn lookup(client: &reqwest::Client, org: &ScimOrg, name: &str) -> u64 {
    let (status, body) = scim(client, org, Method::GET, &lookup_path(name), None).await;
    assert_eq!(status, StatusCode::OK, "lookup {name}: {body}");
    body["totalResults"].as_u64().unwrap()
}

async fn create_user(client: &reqwest::Client, org: &ScimOrg, name: &str, i: usize) -> String {
    let (status, body) = scim(client, org, Method::POST, "/Users", Some(&user_body(name, i))).await;
    assert_eq!(status, StatusCode::CREATED, "create {name}: {body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn create_group(client: &reqwest::Client, org: &ScimOrg, name: &str) -> String {
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": name});
    let (status, body) = scim(client, org, Method::POST, "/Groups", Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "create group {name}: {body}");
    body["id"].as_str().unwrap().to_owned()
}

fn add_members(ids: &[String]) -> Value {
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "add", "path": "members", "value": members}]})
}

fn remove_member(id: &str) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]})
}

fn remove_members(ids: &[String]) -> Value {
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "remove", "path": "members", "value": members}]})
}

fn set_active(active: bool) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": {"active": active}}]})
}

async fn patch_group(client: &reqwest::Client, org: &ScimOrg, group: &str, query: &str, body: &Value) {
    let path = format!("/Groups/{group}{query}");
    let (status, answer) = scim(client, org, Method::PATCH, &path, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "PATCH {path}: {answer}");
}

/// A synced org: its users (id, userName) in creation order and its group.
struct Synced {
    org: ScimOrg,
    users: Vec<(String, String)>,
    group: String,
}

/// Seconds of the two phases of an initial sync, and the CPU seconds they took in the
/// process doing the work (the server, or the ceiling) and in PostgreSQL (0 on SQLite).
#[derive(Clone, Copy, Debug, Default)]
struct SyncTimes {
    users: f64,
    group: f64,
    users_cpu: f64,
    group_cpu: f64,
    users_pg: f64,
    group_pg: f64,
}

/// The data directory of this run's throwaway cluster (the bench process started it).
fn pg_data_dir() -> PathBuf {
    std::env::var("ORG_SCIM_PG_DATA").map_or_else(|_| common::pg_dir().join("data"), PathBuf::from)
}

/// Wall and CPU time of one phase: the CPU of `pid`, and of PostgreSQL when `pg`.
struct Meter {
    pid: u32,
    pg: bool,
    start: Instant,
    cpu: f64,
    pg_cpu: f64,
}

impl Meter {
    fn start(pid: u32, pg: bool) -> Self {
        Self {
            pid,
            pg,
            start: Instant::now(),
            cpu: process::cpu_of(pid),
            pg_cpu: if pg { pg_cpu() } else { 0.0 },
        }
    }

    /// (wall seconds, CPU seconds of the process, CPU seconds of PostgreSQL).
    fn stop(&self) -> (f64, f64, f64) {
        let wall = self.start.elapsed().as_secs_f64();
        let pg = if self.pg { pg_cpu() - self.pg_cpu } else { 0.0 };
        (wall, process::cpu_of(self.pid) - self.cpu, pg)
    }
}

/// The initial sync of `n` users into `org` through the server.
async fn server_sync(
    client: &reqwest::Client,
    server: &Server,
    org: ScimOrg,
    tag: &str,
    n: usize,
) -> (SyncTimes, Synced) {
    let meter = Meter::start(server.pid, server.postgres);
    let mut set = tokio::task::JoinSet::new();
    for k in 0..CLIENTS {
        let (client, org, tag) = (client.clone(), org.clone(), tag.to_owned());
        set.spawn(async move {
            let mut made = Vec::new();
            for i in (k..n).step_by(CLIENTS) {
                let name = user_name(&tag, i);
                assert_eq!(lookup(&client, &org, &name).await, 0, "{name} exists before its create");
                made.push((i, create_user(&client, &org, &name, i).await, name));
            }
            made
        });
    }
    let mut users = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        users.extend(r.unwrap());
    }
    let (users_secs, users_cpu, users_pg) = meter.stop();
    users.sort_by_key(|u| u.0);
    let users: Vec<(String, String)> = users.into_iter().map(|(_, id, name)| (id, name)).collect();
    let meter = Meter::start(server.pid, server.postgres);
    let group = create_group(client, &org, &format!("Engineering {tag}")).await;
    let ids: Arc<Vec<String>> = Arc::new(users.iter().map(|u| u.0.clone()).collect());
    let batches = ids.len().div_ceil(BATCH);
    let mut set = tokio::task::JoinSet::new();
    for k in 0..GROUP_CLIENTS {
        let (client, org, group, ids) = (client.clone(), org.clone(), group.clone(), ids.clone());
        set.spawn(async move {
            for b in (k..batches).step_by(GROUP_CLIENTS) {
                let chunk = &ids[b * BATCH..((b + 1) * BATCH).min(ids.len())];
                patch_group(&client, &org, &group, "", &add_members(chunk)).await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let (group_secs, group_cpu, group_pg) = meter.stop();
    (
        SyncTimes {
            users: users_secs,
            group: group_secs,
            users_cpu,
            group_cpu,
            users_pg,
            group_pg,
        },
        Synced { org, users, group },
    )
}

// ----------------------------------------------------------- raw-SQL ceiling

/// The ceiling's connection: the pool options of the store (SQLite: WAL, `synchronous =
/// NORMAL`, foreign keys, busy timeout; writers serialized in-process and `BEGIN IMMEDIATE`).
struct Raw {
    db: DatabaseConnection,
    backend: DbBackend,
    writer: tokio::sync::Mutex<()>,
}

async fn raw_connect(url: &str) -> Raw {
    let sqlite = url.starts_with("sqlite:");
    let mut co = ConnectOptions::new(url.to_owned());
    co.max_connections(10).sqlx_logging(false);
    if sqlite {
        co.map_sqlx_sqlite_opts(|o| {
            o.foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        });
    }
    let db = Database::connect(co).await.expect("connect");
    Raw {
        db,
        backend: if sqlite { DbBackend::Sqlite } else { DbBackend::Postgres },
        writer: tokio::sync::Mutex::new(()),
    }
}

impl Raw {
    async fn write<T>(&self, f: impl AsyncFnOnce(&DatabaseTransaction, DbBackend) -> Result<T, sea_orm::DbErr>) -> T {
        let _serialized = if self.backend == DbBackend::Sqlite {
            Some(self.writer.lock().await)
        } else {
            None
        };
        let txn = if self.backend == DbBackend::Sqlite {
            self.db
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..TransactionOptions::default()
                })
                .await
                .unwrap()
        } else {
            self.db.begin().await.unwrap()
        };
        let out = f(&txn, self.backend).await.expect("ceiling statement");
        txn.commit().await.unwrap();
        out
    }
}

async fn exec(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    sql: &str,
    values: Vec<DbValue>,
) -> Result<u64, sea_orm::DbErr> {
    Ok(txn
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .rows_affected())
}

/// `INSERT INTO table (cols) VALUES (…), (…)` with numbered placeholders.
async fn insert_rows(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    table: &str,
    cols: &[&str],
    rows: Vec<Vec<DbValue>>,
) -> Result<(), sea_orm::DbErr> {
    for chunk in rows.chunks(400) {
        let mut n = 0;
        let groups: Vec<String> = chunk
            .iter()
            .map(|r| {
                let ps: Vec<String> = r
                    .iter()
                    .map(|_| {
                        n += 1;
                        format!("${n}")
                    })
                    .collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        let sql = format!("INSERT INTO {table} ({}) VALUES {}", cols.join(", "), groups.join(", "));
        exec(txn, backend, &sql, chunk.iter().flatten().cloned().collect()).await?;
    }
    Ok(())
}

/// A log head as locked: `(seq, hash, entries)`.
type Head = (i64, Option<String>, i64);

async fn lock_heads(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    keys: &[String],
) -> Result<std::collections::HashMap<String, Head>, sea_orm::DbErr> {
    let ps: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT log_key, seq, hash, entries FROM log_heads WHERE log_key IN ({}) ORDER BY log_key{lock}",
        ps.join(", ")
    );
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            &sql,
            keys.iter().map(|k| DbValue::from(k.clone())),
        ))
        .await?;
    let mut out = std::collections::HashMap::new();
    for r in rows {
        out.insert(
            r.try_get::<String>("", "log_key")?,
            (
                r.try_get::<i64>("", "seq")?,
                r.try_get::<Option<String>>("", "hash")?,
                r.try_get::<i64>("", "entries")?,
            ),
        );
    }
    Ok(out)
}

async fn store_heads(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    heads: std::collections::HashMap<String, Head>,
) -> Result<(), sea_orm::DbErr> {
    let mut keys: Vec<_> = heads.into_iter().collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, (seq, hash, entries)) in keys {
        exec(
            txn,
            backend,
            "UPDATE log_heads SET seq = $1, hash = $2, entries = $3 WHERE log_key = $4",
            vec![seq.into(), hash.into(), entries.into(), key.into()],
        )
        .await?;
    }
    Ok(())
}

const AUDIT_COLS: &[&str] = &[
    "id",
    "log_key",
    "seq",
    "org_id",
    "actor_id",
    "actor_type",
    "actor_email",
    "action",
    "target_type",
    "target_id",
    "ip_address",
    "user_agent",
    "success",
    "metadata",
    "request_id",
    "created_at",
    "prev_hash",
    "hash",
];

const EVENT_COLS: &[&str] = &[
    "id",
    "org_id",
    "seq",
    "event_type",
    "occurred_at",
    "actor_user_id",
    "actor_email",
    "target_type",
    "target_id",
    "data",
];

/// What the ceiling writes for one org: its ids and the SCIM token its entries name.
#[derive(Clone)]
struct CeilingOrg {
    org: Uuid,
    token: String,
}

impl CeilingOrg {
    fn org_log(&self) -> String {
        format!("org:{}", self.org)
    }

    /// An audit entry of `log` (`None`: the platform log), chained after `head`.
    fn audit(
        &self,
        head: &mut Head,
        log: Option<Uuid>,
        action: &str,
        target: Uuid,
        metadata: Value,
        at: DateTime<Utc>,
    ) -> Vec<DbValue> {
        let draft = AuditDraft {
            id: EventId::from_uuid(Uuid::now_v7()),
            org_id: log.map(OrgId::from_uuid),
            actor: AuditActor {
                id: self.token.clone(),
                kind: ActorType::ScimToken,
                email: None,
            },
            action: action.to_owned(),
            target_type: Some("user".to_owned()),
            target_id: Some(target.to_string()),
            ip_address: Some("127.0.0.1".to_owned()),
            user_agent: None,
            success: true,
            metadata: Some(metadata),
            request_id: Some(Uuid::now_v7().to_string()),
            created_at: at,
        };
        let prev = head.1.as_deref().and_then(chain::from_hex).unwrap_or(chain::GENESIS);
        let seq = head.0 + 1;
        let hash = chain::entry_hash(&prev, seq as u64, &draft);
        *head = (seq, Some(chain::to_hex(&hash)), head.2 + 1);
        vec![
            draft.id.as_uuid().into(),
            log.map_or_else(|| "platform".to_owned(), |o| format!("org:{o}")).into(),
            seq.into(),
            log.into(),
            draft.actor.id.into(),
            "scim_token".into(),
            DbValue::String(None),
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
        ]
    }

    fn event(&self, head: &mut Head, ty: &str, target: Uuid, data: Value, at: DateTime<Utc>) -> Vec<DbValue> {
        head.0 += 1;
        vec![
            Uuid::now_v7().into(),
            self.org.into(),
            head.0.into(),
            ty.into(),
            at.into(),
            Option::<Uuid>::None.into(),
            DbValue::String(None),
            "user".into(),
            target.to_string().into(),
            data.to_string().into(),
        ]
    }
}

/// One SCIM create as plain SQL, in one transaction: the (user, membership) written.
async fn ceiling_create(raw: &Raw, o: &CeilingOrg, email: &str, i: usize) -> (Uuid, Uuid) {
    let (user, membership) = (Uuid::now_v7(), Uuid::now_v7());
    let at = Utc::now();
    raw.write(async |txn, b| {
        exec(
            txn,
            b,
            "INSERT INTO users (id, email, name, is_platform_owner, disabled_at, created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            vec![
                user.into(),
                email.into(),
                DbValue::String(None),
                false.into(),
                Option::<DateTime<Utc>>::None.into(),
                at.into(),
                at.into(),
                1i64.into(),
            ],
        )
        .await?;
        exec(
            txn,
            b,
            "INSERT INTO memberships (id, org_id, user_id, role, custom_role, status, created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            vec![
                membership.into(),
                o.org.into(),
                user.into(),
                "member".into(),
                DbValue::String(None),
                "active".into(),
                at.into(),
                at.into(),
                1i64.into(),
            ],
        )
        .await?;
        let counted = exec(
            txn,
            b,
            "UPDATE orgs SET active_members = active_members + 1, total_members = total_members + 1 \
             WHERE id = $1 AND active_members + 1 <= $2",
            vec![o.org.into(), CAP.into()],
        )
        .await?;
        assert_eq!(counted, 1);
        exec(
            txn,
            b,
            "INSERT INTO directory_profiles (membership_id, org_id, user_id, external_id, user_name, user_name_key, \
             formatted_name, given_name, family_name, display_name, email, created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            vec![
                membership.into(),
                o.org.into(),
                user.into(),
                DbValue::String(None),
                email.into(),
                email.to_lowercase().into(),
                DbValue::String(None),
                "User".into(),
                format!("Number {i}").into(),
                DbValue::String(None),
                email.into(),
                at.into(),
                at.into(),
                1i64.into(),
            ],
        )
        .await?;
        let keys = vec![
            format!("audit:{}", o.org_log()),
            "audit:platform".to_owned(),
            format!("events:{}", o.org),
        ];
        let mut heads = lock_heads(txn, b, &keys).await?;
        let mut audit = Vec::new();
        let platform = heads.get_mut(&keys[1]).unwrap();
        audit.push(o.audit(
            platform,
            None,
            "user.created",
            user,
            json!({"email": email, "via": "scim"}),
            at,
        ));
        let org_head = heads.get_mut(&keys[0]).unwrap();
        audit.push(o.audit(
            org_head,
            Some(o.org),
            "member.added",
            user,
            json!({"email": email, "role": "member", "via": "scim"}),
            at,
        ));
        insert_rows(txn, b, "audit_entries", AUDIT_COLS, audit).await?;
        let events_head = heads.get_mut(&keys[2]).unwrap();
        let events = vec![
            o.event(
                events_head,
                "member.added",
                user,
                json!({"user_id": user.to_string(), "email": email, "role": "member", "via": "scim"}),
                at,
            ),
            o.event(
                events_head,
                "user.joined",
                user,
                json!({"user_id": user.to_string(), "email": email, "role": "member"}),
                at,
            ),
        ];
        insert_rows(txn, b, "outbox_events", EVENT_COLS, events).await?;
        store_heads(txn, b, heads).await?;
        Ok((user, membership))
    })
    .await
}

/// One group PATCH of `members` (user, membership) as plain SQL, in one transaction.
async fn ceiling_group_batch(raw: &Raw, o: &CeilingOrg, role: Uuid, slug: &str, members: &[(Uuid, Uuid)]) {
    let at = Utc::now();
    raw.write(async |txn, b| {
        // The group's version moves with its members (its ETag).
        exec(
            txn,
            b,
            "UPDATE directory_groups SET version = version + 1 WHERE role_id = $1",
            vec![role.into()],
        )
        .await?;
        for (_, m) in members {
            let n = exec(
                txn,
                b,
                "UPDATE memberships SET role = $1, custom_role = $2, status = $3, updated_at = $4, \
                 version = $5 WHERE id = $6 AND version = $7",
                vec![
                    slug.into(),
                    slug.into(),
                    "active".into(),
                    at.into(),
                    2i64.into(),
                    (*m).into(),
                    1i64.into(),
                ],
            )
            .await?;
            assert_eq!(n, 1);
        }
        let keys = vec![format!("audit:{}", o.org_log()), format!("events:{}", o.org)];
        let mut heads = lock_heads(txn, b, &keys).await?;
        let mut audit = Vec::new();
        let mut events = Vec::new();
        for (u, _) in members {
            let h = heads.get_mut(&keys[0]).unwrap();
            audit.push(o.audit(
                h,
                Some(o.org),
                "member.role_changed",
                *u,
                json!({"target_user_email": format!("{u}@x.bench"), "old_role": "member", "new_role": slug, "via": "scim"}),
                at,
            ));
            let h = heads.get_mut(&keys[1]).unwrap();
            let data = json!({"user_id": u.to_string(), "old_role": "member", "new_role": slug});
            events.push(o.event(h, "member.role_updated", *u, data.clone(), at));
            events.push(o.event(h, "user.role_updated", *u, data, at));
        }
        insert_rows(txn, b, "audit_entries", AUDIT_COLS, audit).await?;
        insert_rows(txn, b, "outbox_events", EVENT_COLS, events).await?;
        store_heads(txn, b, heads).await
    })
    .await;
}

/// `--ceiling <url> <org id> <tag> <n>`: the initial sync of `n` users as plain SQL; prints
/// the seconds of both phases as JSON.
async fn ceiling_main(url: &str, org: &str, tag: &str, n: usize) {
    let raw = Arc::new(raw_connect(url).await);
    let o = CeilingOrg {
        org: Uuid::parse_str(org).unwrap(),
        token: Uuid::now_v7().to_string(),
    };
    // Untimed: the heads exist (a server's exist after its first entries), and the role.
    let slug = format!("engineering-{tag}");
    let role = Uuid::now_v7();
    raw.write(async |txn, b| {
        for key in [
            format!("audit:{}", o.org_log()),
            "audit:platform".to_owned(),
            format!("events:{}", o.org),
        ] {
            exec(
                txn,
                b,
                "INSERT INTO log_heads (log_key, seq, hash, entries) VALUES ($1, 0, NULL, 0) ON CONFLICT (log_key) DO NOTHING",
                vec![key.into()],
            )
            .await?;
        }
        let at = Utc::now();
        exec(
            txn,
            b,
            "INSERT INTO org_roles (id, org_id, slug, name, name_key, description, permissions, created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, NULL, '[]', $6, $7, 1)",
            vec![
                role.into(),
                o.org.into(),
                slug.clone().into(),
                format!("Engineering {tag}").into(),
                format!("engineering {tag}").into(),
                at.into(),
                at.into(),
            ],
        )
        .await?;
        exec(
            txn,
            b,
            "INSERT INTO directory_groups (role_id, org_id, external_id, version) VALUES ($1, $2, NULL, 1)",
            vec![role.into(), o.org.into()],
        )
        .await
    })
    .await;

    let pg = raw.backend == DbBackend::Postgres;
    let meter = Meter::start(std::process::id(), pg);
    let mut set = tokio::task::JoinSet::new();
    for k in 0..CLIENTS {
        let (raw, o, tag) = (raw.clone(), o.clone(), tag.to_owned());
        set.spawn(async move {
            let mut made = Vec::new();
            for i in (k..n).step_by(CLIENTS) {
                made.push(ceiling_create(&raw, &o, &user_name(&tag, i), i).await);
            }
            made
        });
    }
    let mut members = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        members.extend(r.unwrap());
    }
    let (users, users_cpu, users_pg) = meter.stop();

    let meter = Meter::start(std::process::id(), pg);
    let members = Arc::new(members);
    let batches = members.len().div_ceil(BATCH);
    let mut set = tokio::task::JoinSet::new();
    for k in 0..GROUP_CLIENTS {
        let (raw, o, slug, members) = (raw.clone(), o.clone(), slug.clone(), members.clone());
        set.spawn(async move {
            for b in (k..batches).step_by(GROUP_CLIENTS) {
                let chunk = &members[b * BATCH..((b + 1) * BATCH).min(members.len())];
                ceiling_group_batch(&raw, &o, role, &slug, chunk).await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let (group, group_cpu, group_pg) = meter.stop();
    raw.db.clone().close().await.unwrap();
    println!(
        "{}",
        json!({"users": users, "group": group, "users_cpu": users_cpu, "group_cpu": group_cpu,
               "users_pg": users_pg, "group_pg": group_pg})
    );
}

/// The ceiling databases' orgs, made through the app (untimed).
async fn ceiling_orgs(backend: Backend, dir: &Path, tags: &[String]) -> (String, Vec<String>) {
    let (store, url) = common::store(backend, dir, "scim_ceiling").await;
    let app = common::app(store.clone());
    let mut orgs = Vec::new();
    for tag in tags {
        let owner = org_app::Caller::new(
            app.users
                .create(&format!("owner@{tag}.bench"), None, false)
                .await
                .unwrap(),
            None,
        );
        let slug = format!("c-{tag}");
        app.orgs
            .create(&owner, &Default::default(), &slug, &format!("Org {slug}"))
            .await
            .unwrap();
        orgs.push(app.orgs.get(&owner, &slug).await.unwrap().org.id().to_string());
    }
    store.close().await.unwrap();
    (url, orgs)
}

fn run_ceiling(url: &str, org: &str, tag: &str, n: usize) -> SyncTimes {
    let me = std::env::current_exe().unwrap();
    let out = pinned("0", &me.display().to_string())
        .args(["--ceiling", url, org, tag, &n.to_string()])
        .env("ORG_SCIM_PG_DATA", pg_data_dir())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the ceiling failed");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = |k: &str| v[k].as_f64().unwrap();
    SyncTimes {
        users: f("users"),
        group: f("group"),
        users_cpu: f("users_cpu"),
        group_cpu: f("group_cpu"),
        users_pg: f("users_pg"),
        group_pg: f("group_pg"),
    }
}

// --------------------------------------------------------------- incremental

#[derive(Clone, Copy, Debug)]
enum Inc {
    Lookup,
    Deactivate,
    GroupPatch,
    GroupPatchNoMembers,
}

const INC_OPS: [(&str, Inc); 4] = [
    ("lookup by userName (filter eq)", Inc::Lookup),
    ("PATCH User active=false / true", Inc::Deactivate),
    ("PATCH Group remove / add one member", Inc::GroupPatch),
    ("same, `?excludedAttributes=members`", Inc::GroupPatchNoMembers),
];

async fn run_inc(client: &reqwest::Client, s: &Synced, op: Inc, i: usize) {
    let flip = (i / FLIP).is_multiple_of(2);
    match op {
        Inc::Lookup => {
            let name = &s.users[(i * 7919) % s.users.len()].1;
            assert_eq!(lookup(client, &s.org, name).await, 1, "lookup {name}");
        }
        Inc::Deactivate => {
            let id = &s.users[i % FLIP].0;
            let (status, body) = scim(
                client,
                &s.org,
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(&set_active(!flip)),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "PATCH user {id}: {body}");
            assert_eq!(body["active"], Value::Bool(!flip), "{body}");
        }
        Inc::GroupPatch | Inc::GroupPatchNoMembers => {
            let id = &s.users[FLIP + i % FLIP].0;
            let query = if matches!(op, Inc::GroupPatch) {
                ""
            } else {
                "?excludedAttributes=members"
            };
            let body = if flip {
                remove_member(id)
            } else {
                add_members(std::slice::from_ref(id))
            };
            patch_group(client, &s.org, &s.group, query, &body).await;
        }
    }
}

/// Each incremental operation on each org: warm-up discarded, then rounds visiting the orgs
/// in turn. Sorted samples per operation, per org.
async fn incremental(client: &reqwest::Client, orgs: &[&Synced]) -> Vec<Vec<Vec<Duration>>> {
    let mut out: Vec<Vec<Vec<Duration>>> = orgs.iter().map(|_| Vec::new()).collect();
    for (_, op) in INC_OPS {
        for s in orgs {
            for i in 0..INC_WARMUP {
                run_inc(client, s, op, i).await;
            }
        }
        let mut samples: Vec<Vec<Duration>> = orgs.iter().map(|_| Vec::new()).collect();
        for round in 0..INC_ROUNDS {
            for (s, v) in orgs.iter().zip(samples.iter_mut()) {
                for k in 0..INC_PER_ROUND {
                    let i = INC_WARMUP + round * INC_PER_ROUND + k;
                    let start = Instant::now();
                    run_inc(client, s, op, i).await;
                    v.push(start.elapsed());
                }
            }
        }
        for (o, mut v) in out.iter_mut().zip(samples) {
            v.sort();
            o.push(v);
        }
    }
    out
}

// ---------------------------------------------------------- concurrent creates

/// One trial's answers.
#[derive(Debug, Default)]
struct Trial {
    created: usize,
    uniqueness: usize,
    other: Vec<String>,
    memberships: i64,
    profiles: i64,
}

impl Trial {
    fn ok(&self) -> bool {
        self.created == 1
            && self.uniqueness == RACE_CLIENTS - 1
            && self.other.is_empty()
            && self.memberships == 1
            && self.profiles == 1
    }
}

async fn count(db: &DatabaseConnection, sql: &str, values: Vec<DbValue>) -> i64 {
    db.query_one_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, values))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

async fn race(client: &reqwest::Client, server: &Server, org: &ScimOrg) -> Vec<Trial> {
    let db = Database::connect(server.db_url.as_str()).await.unwrap();
    let mut trials = Vec::new();
    for t in 0..RACE_TRIALS {
        let name = format!("race{t}@{}.bench", org.slug);
        let body = Arc::new(user_body(&name, t));
        let barrier = Arc::new(tokio::sync::Barrier::new(RACE_CLIENTS));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..RACE_CLIENTS {
            let (client, org, body, barrier) = (client.clone(), org.clone(), body.clone(), barrier.clone());
            set.spawn(async move {
                barrier.wait().await;
                scim(&client, &org, Method::POST, "/Users", Some(&body)).await
            });
        }
        let mut trial = Trial::default();
        while let Some(r) = set.join_next().await {
            let (status, body) = r.unwrap();
            match status {
                StatusCode::CREATED => trial.created += 1,
                StatusCode::CONFLICT if body["scimType"] == "uniqueness" => trial.uniqueness += 1,
                other => trial.other.push(format!("{other} {body}")),
            }
        }
        let members = "SELECT COUNT(*) AS n FROM memberships m JOIN users u ON u.id = m.user_id \
                       JOIN orgs o ON o.id = m.org_id WHERE o.slug = $1 AND u.email = $2";
        trial.memberships = count(&db, members, vec![org.slug.clone().into(), name.clone().into()]).await;
        let profiles = "SELECT COUNT(*) AS n FROM directory_profiles p JOIN orgs o ON o.id = p.org_id \
                        WHERE o.slug = $1 AND p.user_name_key = $2";
        trial.profiles = count(&db, profiles, vec![org.slug.clone().into(), name.to_lowercase().into()]).await;
        trials.push(trial);
    }
    db.close().await.unwrap();
    trials
}

// ------------------------------------------------- statements per request

/// One request's statements, from PostgreSQL's log (`log_min_duration_statement = 0` on a
/// database of its own, served by a second server): the request, its wall time, the statements
/// it ran, their summed execution time in PostgreSQL, and which they were.
struct StatementRow {
    label: &'static str,
    wall: Duration,
    count: usize,
    db_ms: f64,
    summary: String,
}

async fn statements(dir: &Path) -> Option<Vec<StatementRow>> {
    if std::env::var("ORG_BENCH_DATABASE_URL").is_ok() {
        return None;
    }
    let log = common::pg_dir().join("postgres.log");
    let url = database(Backend::Postgres, dir, "scim_statements").await;
    let admin = Database::connect(common::pg_admin_url().as_str()).await.unwrap();
    admin
        .execute_unprepared("ALTER DATABASE scim_statements SET log_min_duration_statement = 0")
        .await
        .unwrap();
    admin.close().await.unwrap();
    let server = start_server_on(dir, "statements", url).await;
    let client = reqwest::Client::new();
    let org = scim_org(&client, &server, "stmts").await;
    let (_, s) = server_sync(&client, &server, org, "stmts", 120).await;
    let org = &s.org;
    let ids: Vec<String> = s.users.iter().map(|u| u.0.clone()).collect();
    let known = s.users[0].1.clone();
    let (u, g) = (ids[0].clone(), s.group.clone());
    let mut rows = Vec::new();
    // Every request twice, the first time to warm the connections (prepared statements); the
    // sequence leaves the org as it found it, but for the one user each pass creates.
    for k in (0..9).chain(0..9) {
        let fresh = user_name("stmts", 1_000 + rows.len() / 9);
        let label: &'static str = match k {
            0 => "`GET /Users?filter=userName eq` (a member)",
            1 => "`GET /Users?filter=userName eq` (no one: the lookup before a create)",
            2 => "`POST /Users`",
            3 => "`PATCH /Users/:id` active=false",
            4 => "`PATCH /Users/:id` active=true",
            5 => "`PATCH /Groups/:id` remove 1 member (group of 120)",
            6 => "`PATCH /Groups/:id` add 1 member (group of 120)",
            7 => "`PATCH /Groups/:id` remove 100 members (group of 120)",
            _ => "`PATCH /Groups/:id` add 100 members (group of 20)",
        };
        let offset = std::fs::metadata(&log).map_or(0, |m| m.len());
        let start = Instant::now();
        match k {
            0 => assert_eq!(lookup(&client, org, &known).await, 1),
            1 => assert_eq!(lookup(&client, org, &fresh).await, 0),
            2 => {
                create_user(&client, org, &fresh, 1_000).await;
            }
            3 | 4 => {
                let (status, body) = scim(
                    &client,
                    org,
                    Method::PATCH,
                    &format!("/Users/{u}"),
                    Some(&set_active(k == 4)),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
            5 => patch_group(&client, org, &g, "", &remove_member(&u)).await,
            6 => patch_group(&client, org, &g, "", &add_members(std::slice::from_ref(&u))).await,
            7 => patch_group(&client, org, &g, "", &remove_members(&ids[20..120])).await,
            _ => patch_group(&client, org, &g, "", &add_members(&ids[20..120])).await,
        }
        let wall = start.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sql = pglog::logged_since(&log, offset, None);
        let mut kinds: Vec<(String, usize)> = Vec::new();
        for (q, _) in &sql {
            let kind = pglog::statement_kind(q);
            match kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some(e) => e.1 += 1,
                None => kinds.push((kind, 1)),
            }
        }
        let summary = kinds
            .iter()
            .map(|(k, n)| if *n == 1 { k.clone() } else { format!("{k} ×{n}") })
            .collect::<Vec<_>>()
            .join(", ");
        rows.push(StatementRow {
            label,
            wall,
            count: sql.len(),
            db_ms: sql.iter().map(|(_, d)| d).sum(),
            summary,
        });
    }
    Some(rows.split_off(9))
}

// ------------------------------------------------------------------- driver

struct Report {
    server: Vec<SyncTimes>,
    ceiling: Vec<SyncTimes>,
    users: usize,
    inc: Vec<Vec<Vec<Duration>>>,
    trials: Vec<Trial>,
}

async fn bench(backend: Backend, dir: &Path) -> Report {
    let users = env_usize("ORG_BENCH_USERS", 10_000);
    let rounds = env_usize("ORG_BENCH_ROUNDS", 3).max(1);
    let name = backend.name();
    let client = reqwest::Client::new();
    let server = start_server(backend, dir).await;
    eprintln!("bench scim: {name}: server up ({})", server.log.display());
    let tags: Vec<String> = std::iter::once("warm".to_owned())
        .chain((1..=rounds).map(|r| format!("r{r}")))
        .collect();
    let (ceiling_url, ceiling_orgs) = ceiling_orgs(backend, dir, &tags).await;

    eprintln!("bench scim: {name}: warm-up sync of {WARMUP_USERS} users (discarded)");
    let org = scim_org(&client, &server, "sync-warm").await;
    server_sync(&client, &server, org, "warm", WARMUP_USERS).await;
    run_ceiling(&ceiling_url, &ceiling_orgs[0], "warm", WARMUP_USERS);

    let (mut s_times, mut c_times) = (Vec::new(), Vec::new());
    let mut last = None;
    for r in 1..=rounds {
        let tag = &tags[r];
        eprintln!("bench scim: {name}: round {r}/{rounds}: server, {users} users");
        let org = scim_org(&client, &server, &format!("sync-{tag}")).await;
        let (t, synced) = server_sync(&client, &server, org, tag, users).await;
        eprintln!(
            "bench scim: {name}: round {r}/{rounds}: server {:.1} s + {:.1} s; ceiling",
            t.users, t.group
        );
        s_times.push(t);
        last = Some(synced);
        let c = run_ceiling(&ceiling_url, &ceiling_orgs[r], tag, users);
        eprintln!(
            "bench scim: {name}: round {r}/{rounds}: ceiling {:.1} s + {:.1} s",
            c.users, c.group
        );
        c_times.push(c);
    }
    let big = last.unwrap();

    eprintln!("bench scim: {name}: the {SMALL}-member org");
    let org = scim_org(&client, &server, "small").await;
    let (_, small) = server_sync(&client, &server, org, "small", SMALL).await;
    eprintln!("bench scim: {name}: incremental operations");
    let inc = incremental(&client, &[&big, &small]).await;
    eprintln!("bench scim: {name}: concurrent creates");
    let trials = race(&client, &server, &small.org).await;
    Report {
        server: s_times,
        ceiling: c_times,
        users,
        inc,
        trials,
    }
}

/// A row of the CPU table: its label, the CPU of the process doing the work and of PostgreSQL.
type CpuRow = (&'static str, fn(&SyncTimes) -> f64, fn(&SyncTimes) -> f64);

/// A row of the initial-sync table: its label and the seconds it takes of a round.
type Phase = (&'static str, fn(&SyncTimes) -> f64);

fn print(backend: Backend, r: &Report) -> bool {
    let name = backend.name();
    let rounds = r.server.len();
    let med = |v: &[SyncTimes], f: fn(&SyncTimes) -> f64| median(v.iter().map(f).collect());
    let phases: [Phase; 3] = [
        ("users: lookup + `POST /Users`", |t| t.users),
        (
            "group: `POST /Groups` + PATCH add members (100 per request, one client)",
            |t| t.group,
        ),
        ("initial sync, total", |t| t.users + t.group),
    ];
    println!(
        "\n### {name}: initial sync of {} users ({CLIENTS} clients; server and ceiling on CPU 0, clients on CPU 1; medians of {rounds} rounds)\n",
        r.users
    );
    println!("| phase | org-server (s) | raw-SQL ceiling (s) | ratio ceiling / server | target |");
    println!("|---|---|---|---|---|");
    for (label, f) in phases {
        let (s, c) = (med(&r.server, f), med(&r.ceiling, f));
        let target = if label.ends_with("total") { "≥ 0.7" } else { "" };
        println!("| {label} | {s:.2} | {c:.2} | {:.3} | {target} |", c / s);
    }
    let pg = backend == Backend::Postgres;
    println!(
        "\nCPU per user (ms; medians): the process doing the work (org-server, or the ceiling) and PostgreSQL (all its backends)\n"
    );
    println!("| phase | org-server | ceiling | PostgreSQL, server run | PostgreSQL, ceiling run |");
    println!("|---|---|---|---|---|");
    let cpu: [CpuRow; 2] = [
        ("users", |t| t.users_cpu, |t| t.users_pg),
        ("group", |t| t.group_cpu, |t| t.group_pg),
    ];
    for (label, own, db) in cpu {
        let per_user = |v: f64| format!("{:.2}", v * 1000.0 / r.users as f64);
        let pgs = |v: &[SyncTimes]| if pg { per_user(med(v, db)) } else { "–".to_owned() };
        println!(
            "| {label} | {} | {} | {} | {} |",
            per_user(med(&r.server, own)),
            per_user(med(&r.ceiling, own)),
            pgs(&r.server),
            pgs(&r.ceiling)
        );
    }
    let per = |t: f64| r.users as f64 / t;
    println!(
        "\nUsers per second (users phase): org-server {:.0}, ceiling {:.0}; per round (server / ceiling, s): {}",
        per(med(&r.server, |t| t.users)),
        per(med(&r.ceiling, |t| t.users)),
        r.server
            .iter()
            .zip(&r.ceiling)
            .map(|(s, c)| format!("{:.1}+{:.1} / {:.1}+{:.1}", s.users, s.group, c.users, c.group))
            .collect::<Vec<_>>()
            .join("; ")
    );

    println!(
        "\n### {name}: incremental sync, one client ({} runs per operation and org, {INC_ROUNDS} interleaved rounds)\n",
        INC_ROUNDS * INC_PER_ROUND
    );
    println!(
        "| operation | {} members: p50 / p99 (ms) | {SMALL} members: p50 / p99 (ms) | p50 ratio big / small | target |",
        r.users
    );
    println!("|---|---|---|---|---|");
    for (k, (label, _)) in INC_OPS.iter().enumerate() {
        let (b, s) = (&r.inc[0][k], &r.inc[1][k]);
        let ratio = quantile(b, 0.5).as_secs_f64() / quantile(s, 0.5).as_secs_f64();
        let mark = if ratio <= 1.5 { "≤ 1.5 ✓" } else { "≤ 1.5 ✗" };
        println!(
            "| {label} | {} / {} | {} / {} | {ratio:.2} | {mark} |",
            ms(quantile(b, 0.5)),
            ms(quantile(b, 0.99)),
            ms(quantile(s, 0.5)),
            ms(quantile(s, 0.99))
        );
    }

    let ok = r.trials.iter().filter(|t| t.ok()).count();
    let sum = |f: fn(&Trial) -> usize| r.trials.iter().map(f).sum::<usize>();
    println!("\n### {name}: {RACE_CLIENTS} concurrent `POST /Users` with one userName ({RACE_TRIALS} trials)\n");
    println!(
        "| trials | 201 | 409 `uniqueness` | other answers | trials with exactly 1 membership and 1 profile | trials exactly 1 × 201 + 15 × 409 |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {ok} |",
        r.trials.len(),
        sum(|t| t.created),
        sum(|t| t.uniqueness),
        sum(|t| t.other.len()),
        r.trials
            .iter()
            .filter(|t| t.memberships == 1 && t.profiles == 1)
            .count(),
    );
    for (i, t) in r.trials.iter().enumerate().filter(|(_, t)| !t.ok()) {
        println!(
            "\ntrial {i}: {} × 201, {} × 409 uniqueness, memberships {}, profiles {}, other: {:?}",
            t.created, t.uniqueness, t.memberships, t.profiles, t.other
        );
    }
    ok == r.trials.len()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--ceiling") {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(ceiling_main(&args[2], &args[3], &args[4], args[5].parse().unwrap()));
        return ExitCode::SUCCESS;
    }
    org_server::sender::install_tls();
    report_server_logs_on_panic();
    let only = std::env::var("ORG_BENCH_BACKEND").ok();
    let backends: Vec<Backend> = [Backend::Sqlite, Backend::Postgres]
        .into_iter()
        .filter(|b| only.as_deref().is_none_or(|o| o.eq_ignore_ascii_case(b.name())))
        .collect();
    // The cluster starts before this process pins itself to CPU 1, so it is not pinned.
    if backends.contains(&Backend::Postgres) {
        common::pg_admin_url();
    }
    let pin = Command::new("taskset")
        .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
    assert!(pin.is_ok_and(|s| s.success()), "taskset (util-linux) is needed");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut all_ok = true;
    let ran_postgres = backends.contains(&Backend::Postgres);
    for backend in backends {
        let report = rt.block_on(bench(backend, dir.path()));
        all_ok &= print(backend, &report);
    }
    if ran_postgres {
        eprintln!("bench scim: PostgreSQL: statements per request (statement log, a server of its own)");
        if let Some(rows) = rt.block_on(statements(dir.path())) {
            println!(
                "\n### PostgreSQL: statements per request (statement log of a server of its own; an org of 121 members; one request each)\n"
            );
            println!("| request | wall (ms) | statements | time in PostgreSQL (ms) | which (verb and first table) |");
            println!("|---|---|---|---|---|");
            for r in rows {
                println!(
                    "| {} | {} | {} | {:.2} | {} |",
                    r.label,
                    ms(r.wall),
                    r.count,
                    r.db_ms,
                    r.summary
                );
            }
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("bench scim: a concurrent-create trial was not exactly 1 × 201 + 15 × 409 with one membership");
        ExitCode::FAILURE
    }
}

/// CPU seconds of this run's cluster.
fn pg_cpu() -> f64 {
    process::cluster_cpu(Some(&pg_data_dir()))
}
