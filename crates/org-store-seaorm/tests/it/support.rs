//! Test fixtures: fresh stores on SQLite (a temp file each) and on PostgreSQL (a fresh database
//! each, on `ORG_TEST_DATABASE_URL` or on a throwaway cluster this process starts once).
//!
//! The PostgreSQL server comes from `org_testkit::postgres`: a throwaway PostgreSQL 15 cluster
//! (initdb/pg_ctl, run as the `postgres` user when root) on a free loopback port, stopped and
//! removed by a watchdog once this process ends, however it ended. If PostgreSQL cannot be
//! started the PostgreSQL tests fail with the reason; they are never skipped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use org_ports::SecretCipher;
use org_store_seaorm::{AesGcmCipher, SeaStore, StoreOptions};
use org_testkit::postgres;

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
                let (name, url) = postgres::create_database().await;
                self.databases.lock().expect("lock").push(name);
                url
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
        postgres::drop_databases(names).await;
    }
}
