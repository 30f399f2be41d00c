//! What the benchmarks share: a throwaway PostgreSQL 15 cluster, stores on SQLite and
//! PostgreSQL, an app over a store, latency percentiles, and the pinned processes of the
//! HTTP benchmark.
#![allow(dead_code)]

pub mod pglog;
pub mod process;

use std::net::TcpListener;
use std::path::Path;
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
    cluster().url.clone()
}

/// The directory of the throwaway cluster (`data/`, `postgres.log`), starting it if needed.
#[allow(dead_code)] // not every bench reads the cluster's files
pub fn pg_dir() -> std::path::PathBuf {
    cluster().dir.clone()
}

fn cluster() -> &'static org_testkit::postgres::Cluster {
    static CLUSTER: std::sync::OnceLock<org_testkit::postgres::Cluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| {
        // Durable, as in production (unlike the test cluster), with room for the pools.
        org_testkit::postgres::start("-c max_connections=200 -c shared_buffers=256MB")
            .unwrap_or_else(|e| panic!("cannot start PostgreSQL 15: {e}"))
    })
}

/// A free TCP port of 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
