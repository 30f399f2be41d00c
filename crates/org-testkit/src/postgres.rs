//! A PostgreSQL server for tests: `ORG_TEST_DATABASE_URL`, or a throwaway cluster this process
//! starts once, plus fresh databases on it.
//!
//! The throwaway cluster: `initdb` + `pg_ctl start` from `/usr/lib/postgresql/15/bin` (or
//! `ORG_TEST_PG_BIN`) in a temp directory owned by the `postgres` user (run through
//! `runuser -u postgres --` when the tests run as root, since initdb refuses root), on a free
//! port of 127.0.0.1 with its socket inside that directory and fsync off. A detached watchdog
//! shell polls `/proc/<test pid>` and, once the test process is gone however it ended, runs
//! `pg_ctl stop -m immediate` and removes the directory. If PostgreSQL cannot be started the
//! callers fail with the reason; PostgreSQL tests are never skipped.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sea_orm::{ConnectionTrait, Database};

/// The variable naming an external server to use instead of a throwaway cluster.
pub const EXTERNAL_URL_VAR: &str = "ORG_TEST_DATABASE_URL";

/// Whether the tests run on an external server (`ORG_TEST_DATABASE_URL`), whose databases
/// they must drop themselves; a throwaway cluster is removed whole when the process ends.
pub fn is_external() -> bool {
    std::env::var(EXTERNAL_URL_VAR).is_ok()
}

/// The URL of a database to create test databases from: `ORG_TEST_DATABASE_URL`, else the
/// `postgres` database of a throwaway cluster started on first use. Panics with the reason
/// when no server can be had.
pub fn admin_url() -> String {
    if let Ok(url) = std::env::var(EXTERNAL_URL_VAR) {
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

/// A fresh, empty database on the test server: its name and URL.
pub async fn create_database() -> (String, String) {
    let admin = admin_url();
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let db = Database::connect(admin.as_str())
        .await
        .expect("connect to the admin database");
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    db.close().await.expect("close the admin connection");
    let url = with_database(&admin, &name);
    (name, url)
}

/// Drops databases made by [`create_database`] when the server is external (a throwaway
/// cluster is removed whole when the process ends, so there it does nothing).
pub async fn drop_databases(names: Vec<String>) {
    if names.is_empty() || !is_external() {
        return;
    }
    let db = Database::connect(admin_url().as_str())
        .await
        .expect("connect to the admin database");
    for name in names {
        let _ = db
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
    let _ = db.close().await;
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
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

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Server options of the test cluster: no durability, many connections.
const TEST_OPTIONS: &str = "-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300";

fn start_cluster() -> Result<String, String> {
    start(TEST_OPTIONS).map(|c| c.url)
}

/// A throwaway cluster: the URL of its `postgres` database and its directory (`data/`,
/// `postgres.log`).
#[derive(Clone, Debug)]
pub struct Cluster {
    pub url: String,
    pub dir: PathBuf,
}

/// Starts a throwaway cluster with these server options (`-c name=value …`; benchmarks want
/// durability, tests do not), stopped and removed when this process ends; returns the URL of
/// its `postgres` database. [`admin_url`] starts one for tests once per process.
pub fn start(options: &str) -> Result<Cluster, String> {
    let bin = PathBuf::from(std::env::var("ORG_TEST_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()));
    let (initdb, pg_ctl) = (bin.join("initdb"), bin.join("pg_ctl"));
    if !initdb.exists() || !pg_ctl.exists() {
        return Err(format!("{} has no initdb/pg_ctl", bin.display()));
    }
    let dir = std::env::temp_dir().join(format!(
        "org-testkit-pg-{}-{}",
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
    crate::run(&mut init, "initdb")?;
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let opts = format!("{options} -c listen_addresses=127.0.0.1 -p {port} -k {}", dir.display());
        let mut start = as_pg(&pg_ctl);
        start
            .current_dir(&dir)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"]);
        match crate::run(&mut start, "pg_ctl start") {
            Ok(()) => {
                return Ok(Cluster {
                    url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                    dir,
                });
            }
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

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres?sslmode=disable", "t_1"),
            "postgres://u@h:5/t_1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:5", "t_1"), "postgres://u@h:5/t_1");
    }
}
