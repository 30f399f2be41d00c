//! Test fixtures: fresh stores on SQLite (a temp file each) and on PostgreSQL (a fresh database
//! each, on `ORG_TEST_DATABASE_URL` or on a throwaway cluster this process starts once).
//!
//! The throwaway cluster: `initdb` + `pg_ctl start` from `/usr/lib/postgresql/15/bin` (or
//! `ORG_TEST_PG_BIN`) in a temp directory owned by the `postgres` user (run through
//! `runuser -u postgres --` when the tests run as root, since initdb refuses root), on a free
//! port of 127.0.0.1 with its socket inside that directory and fsync off. A detached watchdog
//! shell polls `/proc/<test pid>` and, once the test process is gone however it ended, runs
//! `pg_ctl stop -m immediate` and removes the directory. If PostgreSQL cannot be started the
//! PostgreSQL tests fail with the reason; they are never skipped.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use org_ports::SecretCipher;
use org_store_seaorm::{AesGcmCipher, SeaStore, StoreOptions};
use sea_orm::{ConnectionTrait, Database};

/// Which database a fixture makes stores on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Makes fresh, migrated stores of one backend for one test.
pub struct Fixture {
    pub backend: Backend,
    dir: tempfile::TempDir,
    /// Seals secrets for every store of this fixture unless a test brings its own.
    pub cipher: Arc<AesGcmCipher>,
    next: AtomicU64,
    databases: Mutex<Vec<String>>,
}

impl Fixture {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            dir: tempfile::tempdir().expect("temp dir"),
            cipher: Arc::new(AesGcmCipher::generate().0),
            next: AtomicU64::new(0),
            databases: Mutex::new(Vec::new()),
        }
    }

    /// The URL of a fresh, empty database (not yet migrated).
    pub async fn fresh_url(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        match self.backend {
            Backend::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                self.dir.path().join(format!("db-{n}.sqlite")).display()
            ),
            Backend::Postgres => {
                let admin = pg_admin_url();
                let name = format!("t_{}", uuid::Uuid::now_v7().simple());
                let db = Database::connect(admin.as_str())
                    .await
                    .expect("connect to the admin database");
                db.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create a test database");
                db.close().await.expect("close the admin connection");
                self.databases.lock().expect("lock").push(name.clone());
                with_database(&admin, &name)
            }
        }
    }

    /// Opens (without migrating) a store on `url`, with the fixture's cipher unless `opts` has one.
    pub async fn open(&self, url: &str, mut opts: StoreOptions) -> Arc<SeaStore> {
        let cipher: Arc<dyn SecretCipher> = self.cipher.clone();
        opts.cipher.get_or_insert(cipher);
        Arc::new(SeaStore::connect(url, opts).await.expect("connect"))
    }

    /// A fresh, migrated store with default options.
    pub async fn store(&self) -> Arc<SeaStore> {
        self.store_with(StoreOptions::default()).await
    }

    /// A fresh, migrated store.
    pub async fn store_with(&self, opts: StoreOptions) -> Arc<SeaStore> {
        let url = self.fresh_url().await;
        let s = self.open(&url, opts).await;
        s.migrate().await.expect("migrate");
        s
    }

    /// Drops the databases this fixture created on an external server (a throwaway cluster is
    /// removed whole when the process ends).
    pub async fn finish(self) {
        let names = std::mem::take(&mut *self.databases.lock().expect("lock"));
        if names.is_empty() || std::env::var("ORG_TEST_DATABASE_URL").is_err() {
            return;
        }
        let db = Database::connect(pg_admin_url().as_str())
            .await
            .expect("connect to the admin database");
        for name in names {
            let _ = db
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
        let _ = db.close().await;
    }
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The URL of a database to create test databases from.
pub fn pg_admin_url() -> String {
    if let Ok(url) = std::env::var("ORG_TEST_DATABASE_URL") {
        return url;
    }
    static CLUSTER: OnceLock<Result<String, String>> = OnceLock::new();
    match CLUSTER.get_or_init(start_cluster) {
        Ok(url) => url.clone(),
        Err(why) => panic!(
            "PostgreSQL tests need a server: set ORG_TEST_DATABASE_URL=postgres://… or install PostgreSQL 15 \
             (initdb/pg_ctl in /usr/lib/postgresql/15/bin, or ORG_TEST_PG_BIN). Starting a throwaway cluster \
             failed: {why}"
        ),
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn postgres_ids() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .ok_or("no 'postgres' system user to run PostgreSQL as (tests run as root)")?;
    let f: Vec<&str> = line.split(':').collect();
    let parse = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or("bad /etc/passwd entry for postgres")
    };
    Ok((parse(2)?, parse(3)?))
}

/// A command run as the `postgres` user when we are root, else as ourselves.
fn as_pg(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn start_cluster() -> Result<String, String> {
    let bin = PathBuf::from(std::env::var("ORG_TEST_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()));
    let (initdb, pg_ctl) = (bin.join("initdb"), bin.join("pg_ctl"));
    if !initdb.exists() || !pg_ctl.exists() {
        return Err(format!("{} has no initdb/pg_ctl", bin.display()));
    }
    let dir = std::env::temp_dir().join(format!(
        "org-store-seaorm-pg-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if is_root() {
        let (uid, gid) = postgres_ids()?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| format!("chown {}: {e}", dir.display()))?;
    }
    // From here on the watchdog owns the directory: it stops the server and removes it all.
    spawn_watchdog(&dir, &pg_ctl)?;
    let data = dir.join("data");
    let mut init = as_pg(&initdb);
    init.current_dir(&dir).arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-locale",
        "--no-sync",
    ]);
    run(init, "initdb")?;
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let opts = format!(
            "-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
             -c listen_addresses=127.0.0.1 -p {port} -k {}",
            dir.display()
        );
        let mut start = as_pg(&pg_ctl);
        start
            .current_dir(&dir)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"]);
        match run(start, "pg_ctl start") {
            Ok(()) => return Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres")),
            Err(e) => {
                let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
                last = format!("{e}\n{log}");
            }
        }
    }
    Err(last)
}

/// A detached shell that waits for this process to end, then stops the cluster and removes
/// its directory (even when the tests panic or are interrupted).
fn spawn_watchdog(dir: &Path, pg_ctl: &Path) -> Result<(), String> {
    let stop = if is_root() {
        format!("runuser -u postgres -- '{}'", pg_ctl.display())
    } else {
        format!("'{}'", pg_ctl.display())
    };
    let script = format!(
        "trap '' INT HUP TERM; while [ -d /proc/{pid} ]; do sleep 1; done; \
         {stop} -D '{dir}/data' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display(),
    );
    let quiet = |c: &mut Command| {
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    };
    if Path::new("/usr/bin/setsid").exists() {
        // `setsid -f` forks the shell into its own session and returns at once.
        let mut c = Command::new("/usr/bin/setsid");
        c.args(["-f", "sh", "-c", &script]);
        quiet(&mut c);
        let status = c
            .status()
            .map_err(|e| format!("cannot spawn the cleanup watchdog: {e}"))?;
        return if status.success() {
            Ok(())
        } else {
            Err(format!("setsid failed: {status}"))
        };
    }
    let mut c = Command::new("sh");
    c.args(["-c", &script]);
    quiet(&mut c);
    c.spawn()
        .map(drop)
        .map_err(|e| format!("cannot spawn the cleanup watchdog: {e}"))
}
