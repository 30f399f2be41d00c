//! What the benchmarks share: a throwaway PostgreSQL 15 cluster, stores on SQLite and
//! PostgreSQL, an app over a store, latency percentiles, and the pinned processes of the
//! HTTP benchmark.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use org_app::system::{RandomTokens, SystemClock, UuidV7};
use org_app::{App, AppConfig};
use org_ports::Stores;
use org_store_seaorm::{AesGcmCipher, SeaStore, StoreOptions};
use sea_orm::{ConnectionTrait, Database};

/// A database the benchmark runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// A fresh, migrated store: an SQLite file in `dir`, or a new database on the cluster.
pub async fn store(backend: Backend, dir: &Path, name: &str) -> (Arc<SeaStore>, String) {
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join(format!("{name}.db")).display()),
        Backend::Postgres => {
            let admin = pg_admin_url();
            let db = Database::connect(admin.as_str()).await.expect("connect to PostgreSQL");
            db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                .await
                .expect("drop");
            db.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create a database");
            db.close().await.expect("close");
            let (server, _) = admin.rsplit_once('/').expect("a database in the URL");
            format!("{server}/{name}")
        }
    };
    let opts = StoreOptions {
        cipher: Some(Arc::new(AesGcmCipher::generate().0)),
        ..StoreOptions::default()
    };
    let store = Arc::new(SeaStore::connect(&url, opts).await.expect("connect"));
    store.migrate().await.expect("migrate");
    (store, url)
}

/// An app over `store` with the system clock and generous retries.
pub fn app(store: Arc<SeaStore>) -> App {
    let config = AppConfig {
        max_attempts: 1_000,
        ..AppConfig::default()
    };
    App::new(
        Stores::from_store(store),
        Arc::new(SystemClock),
        Arc::new(UuidV7),
        Arc::new(RandomTokens),
        Arc::new(org_tokens::JwtTokens::new(
            org_tokens::Keys::generate(),
            "http://127.0.0.1",
        )),
        config,
    )
}

/// The `p`-quantile of sorted samples.
pub fn quantile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

// ------------------------------------------------------------- PostgreSQL

/// The admin URL of a throwaway cluster this process starts once (`ORG_BENCH_DATABASE_URL`
/// overrides it). It is stopped and removed when the process ends.
pub fn pg_admin_url() -> String {
    if let Ok(url) = std::env::var("ORG_BENCH_DATABASE_URL") {
        return url;
    }
    static CLUSTER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CLUSTER
        .get_or_init(|| start_cluster().unwrap_or_else(|e| panic!("cannot start PostgreSQL 15: {e}")))
        .clone()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn postgres_ids() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .ok_or("no 'postgres' user")?;
    let f: Vec<&str> = line.split(':').collect();
    let parse = |i: usize| f.get(i).and_then(|v| v.parse().ok()).ok_or("bad passwd entry");
    Ok((parse(2)?, parse(3)?))
}

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
    let out = c.stdin(Stdio::null()).output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A free TCP port of 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_cluster() -> Result<String, String> {
    let bin = PathBuf::from(std::env::var("ORG_TEST_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()));
    let (initdb, pg_ctl) = (bin.join("initdb"), bin.join("pg_ctl"));
    let dir = std::env::temp_dir().join(format!("org-bench-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if is_root() {
        let (uid, gid) = postgres_ids()?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
    }
    let script = format!(
        "trap '' INT HUP TERM; while [ -d /proc/{pid} ]; do sleep 1; done; {stop} -D '{dir}/data' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display(),
        stop = if is_root() {
            format!("runuser -u postgres -- '{}'", pg_ctl.display())
        } else {
            format!("'{}'", pg_ctl.display())
        },
    );
    Command::new("setsid")
        .args(["-f", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
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
    let port = free_port();
    // Durability settings as a production server has them; only the socket is private.
    let opts = format!(
        "-c max_connections=200 -c shared_buffers=256MB -c listen_addresses=127.0.0.1 -p {port} -k {}",
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
    run(start, "pg_ctl start")?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}
