//! org-store-seaorm: every port of `org-ports` on SeaORM 2, for SQLite (the embedded default)
//! and PostgreSQL.
//!
//! - [`SeaStore::connect`] opens a pool (`sqlite:…` or `postgres://…`), [`SeaStore::migrate`]
//!   applies the schema, [`SeaStore::ping`] answers readiness.
//! - One database transaction per [`org_ports::UnitOfWork::commit`]: optimistic versions
//!   (`UPDATE … WHERE id = ? AND version = ?`) on every row, memberships and custom roles
//!   included; the org's member counts kept from the membership writes by one conditional
//!   `UPDATE` (which also enforces the member cap); constraint violations mapped to
//!   [`org_ports::StoreError::Conflict`] by name; audit `seq` and hash chain assigned under a
//!   per-log head lock.
//! - The schema backs the invariants itself: one active owner per org whom the org row names,
//!   custom roles in use never deleted (`docs/STORAGE.md`).
//! - Reads cost the same whatever the size of an org or a log: the hot ones are one statement
//!   each (`sql.rs`), keyset pages never count, unfiltered totals are kept counts.
//! - Directory sync (m0005): SCIM tokens (hashes only), per-membership profiles and role-group
//!   data, each hanging on its parent by a cascading foreign key; token uses are blind
//!   forward-only writes of `last_used_at` that no versioned update undoes.
//! - SQLite: WAL, `foreign_keys = ON`, `busy_timeout`; writers are serialized in-process and
//!   start with `BEGIN IMMEDIATE`; a busy database is retried internally.
//!
//! - Secrets at rest: every secret column is sealed under its org's data key (`envelope.rs`,
//!   table `data_keys`), bound to `(org_id, table, column, row id)`; the data keys are wrapped
//!   by the key-encryption keys of [`StoreOptions::cipher`] (an [`AesGcmCipher`] in
//!   production), and [`SeaStore::rewrap_secrets`] moves them under the primary. A cipher is
//!   required for every database except an in-memory SQLite one, which gets an ephemeral random
//!   key (its data dies with it).
//!
//! Entities are private; `mapping.rs` converts rows through the domain constructors.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod changes;
mod cipher;
mod entities;
mod envelope;
mod error;
mod keys;
mod logins;
mod mapping;
mod migration;
mod read;
mod risk;
mod services;
mod siem;
mod sql;
mod upstream;
mod write;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use org_domain::webhook::Delivery;
use org_ports::{ChangeToken, Changeset, DeliveryQueue, SecretCipher, StoreError, UnitOfWork};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    AccessMode, ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, IsolationLevel,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::error::{DbFailure, store_err};
use crate::write::{WriteOp, WriteOut};

pub use crate::cipher::{AesGcmCipher, is_valid_key_id};
pub use crate::envelope::RewrapReport;
pub use crate::keys::StoredSigningKey;

/// Pool, retry and encryption settings.
#[derive(Clone)]
pub struct StoreOptions {
    /// Pool size. PostgreSQL: as given. SQLite: readers share it (writers are serialized);
    /// an in-memory SQLite database always uses one connection.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a caller waits for a pooled connection before `Unavailable`.
    pub acquire_timeout: Duration,
    /// SQLite `busy_timeout`: how long one statement waits for another process's lock.
    pub busy_timeout: Duration,
    /// How often a whole SQLite write transaction is retried while the database stays busy.
    pub busy_retries: u32,
    /// Log every SQL statement (sqlx logging).
    pub log_statements: bool,
    /// The key-encryption keys that wrap the per-org data keys secrets are sealed under
    /// (`envelope.rs`). Required, except for an in-memory SQLite database, which uses an
    /// ephemeral random key when none is given.
    pub cipher: Option<Arc<dyn SecretCipher>>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("busy_timeout", &self.busy_timeout)
            .field("busy_retries", &self.busy_retries)
            .field("log_statements", &self.log_statements)
            .field("cipher", &self.cipher.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
            busy_retries: 20,
            log_statements: false,
            cipher: None,
        }
    }
}

/// Keys the statements of [`SeaStore::hot_read_statements`] are bound to.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct HotReadKeys {
    pub org: org_domain::OrgId,
    pub slug: org_domain::Slug,
    pub user: org_domain::UserId,
    pub session: org_domain::SessionId,
    pub webhook: org_domain::WebhookId,
    pub delivery: org_domain::DeliveryId,
    /// A keyset position's time.
    pub at: DateTime<Utc>,
    /// A SCIM token hash, and a directory text used as `externalId` and `userName` key.
    pub token_hash: org_domain::TokenHash,
    pub directory_text: String,
    pub email: org_domain::Email,
}

/// The SeaORM store. Cheap to share behind an `Arc`; every port is implemented on it.
pub struct SeaStore {
    db: DatabaseConnection,
    backend: DbBackend,
    opts: StoreOptions,
    /// Seals and opens secret columns under per-org data keys (`envelope.rs`).
    cipher: Arc<envelope::Envelope>,
    /// SQLite has one writer at a time; serializing writers in-process keeps them off the
    /// busy handler entirely (other processes are covered by `busy_timeout` and retries).
    write_lock: tokio::sync::Mutex<()>,
    /// The change token of an SQLite file; `None` on PostgreSQL (several processes may write
    /// it, and no local check can tell) and for in-memory SQLite.
    changes: Option<changes::ChangeWatch>,
}

impl std::fmt::Debug for SeaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

fn is_memory_sqlite(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

impl SeaStore {
    /// Opens a pool for `url`: `sqlite://path?mode=rwc`, `sqlite::memory:`, or
    /// `postgres://user:password@host:port/database`. `Unavailable` without
    /// [`StoreOptions::cipher`], unless the database is an in-memory SQLite one.
    pub async fn connect(url: &str, opts: StoreOptions) -> Result<SeaStore, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            DbBackend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbBackend::Postgres
        } else {
            return Err(StoreError::Unavailable(
                "unsupported database URL: use sqlite:… or postgres://…".to_owned(),
            ));
        };
        let cipher: Arc<dyn SecretCipher> = match (&opts.cipher, backend) {
            (Some(c), _) => c.clone(),
            (None, DbBackend::Sqlite) if is_memory_sqlite(url) => Arc::new(AesGcmCipher::generate().0),
            (None, _) => {
                return Err(StoreError::Unavailable(
                    "no secret cipher: an encryption key is required for this database".to_owned(),
                ));
            }
        };
        let mut co = ConnectOptions::new(url.to_owned());
        co.min_connections(opts.min_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_timeout(opts.acquire_timeout)
            .sqlx_logging(opts.log_statements);
        if backend == DbBackend::Sqlite {
            let memory = is_memory_sqlite(url);
            co.max_connections(if memory { 1 } else { opts.max_connections.max(1) });
            let busy = opts.busy_timeout;
            co.map_sqlx_sqlite_opts(move |o| {
                let o = o.foreign_keys(true).busy_timeout(busy).create_if_missing(true);
                if memory {
                    o
                } else {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                }
            });
            if memory {
                // The one connection holds the database: never let the pool close it.
                co.idle_timeout(None).max_lifetime(None);
            }
        } else {
            co.max_connections(opts.max_connections.max(1));
        }
        let db = Database::connect(co).await.map_err(store_err)?;
        let changes = match backend {
            DbBackend::Sqlite => changes::ChangeWatch::open(url),
            _ => None,
        };
        Ok(SeaStore {
            db,
            backend,
            opts,
            cipher: Arc::new(envelope::Envelope::new(cipher)),
            write_lock: tokio::sync::Mutex::new(()),
            changes,
        })
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let _serialized = self.write_lock.lock().await;
        migration::Migrator::up(&self.db, None).await.map_err(store_err)
    }

    /// Applies only the first `steps` migrations (an older schema, for upgrade tests). A test
    /// hook, not part of the store's API: a store is only usable at the latest schema.
    #[doc(hidden)]
    pub async fn migrate_first(&self, steps: u32) -> Result<(), StoreError> {
        let _serialized = self.write_lock.lock().await;
        migration::Migrator::up(&self.db, Some(steps)).await.map_err(store_err)
    }

    /// Rolls back the newest `steps` applied migrations (an older schema, for rollback tests).
    /// A test hook like [`SeaStore::migrate_first`], not part of the store's API.
    #[doc(hidden)]
    pub async fn migrate_down(&self, steps: u32) -> Result<(), StoreError> {
        let _serialized = self.write_lock.lock().await;
        migration::Migrator::down(&self.db, Some(steps))
            .await
            .map_err(store_err)
    }

    /// How many migrations this binary knows (rollback tests count back from it). A test hook
    /// like [`SeaStore::migrate_first`].
    #[doc(hidden)]
    pub fn known_migrations() -> usize {
        use sea_orm_migration::MigratorTrait;
        migration::Migrator::migrations().len()
    }

    /// Readiness: how many migrations this binary knows are not applied to the database.
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        use sea_orm_migration::MigratorTrait;
        migration::Migrator::get_pending_migrations(&self.db)
            .await
            .map(|m| m.len())
            .map_err(store_err)
    }

    /// The connection pool's state for `db_pool_connections` (§21.3): `(in use, idle)`.
    pub fn pool_connections(&self) -> (u32, u32) {
        let (size, idle) = match self.backend {
            DbBackend::Postgres => {
                let p = self.db.get_postgres_connection_pool();
                (p.size(), p.num_idle())
            }
            _ => {
                let p = self.db.get_sqlite_connection_pool();
                (p.size(), p.num_idle())
            }
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        (size.saturating_sub(idle), idle)
    }

    /// Readiness: a round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(store_err)
    }

    /// A read-only snapshot for reads of several statements that must come from one committed
    /// state (a list page and its total): PostgreSQL `REPEATABLE READ`, SQLite a deferred
    /// transaction.
    pub(crate) async fn snapshot(&self) -> Result<DatabaseTransaction, StoreError> {
        let tx = if self.backend == DbBackend::Postgres {
            self.db
                .begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
                .await
        } else {
            self.db.begin().await
        };
        tx.map_err(store_err)
    }

    /// Whether this store runs on PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    /// The statements of the hot reads exactly as this store sends them, bound to the given
    /// keys, for query-plan checks (`EXPLAIN`). A test hook, not part of the store's API.
    #[doc(hidden)]
    pub fn hot_read_statements(&self, keys: &HotReadKeys) -> Vec<(&'static str, sea_orm::Statement)> {
        use org_ports::{AuditFilter, AuditLog, DeliveryFilter, MemberQuery, PageRequest};
        let b = self.backend;
        let log = AuditLog::Org(keys.org);
        let page = PageRequest::new(1, 50);
        let member = |role, status, after| MemberQuery {
            role,
            status,
            after,
            offset: 0,
            limit: 50,
        };
        let audit_after = AuditFilter {
            before: Some((keys.at, 1_000)),
            ..AuditFilter::default()
        };
        let audit_action = AuditFilter {
            action: Some("member.added".to_owned()),
            ..audit_after.clone()
        };
        let deliveries_after = DeliveryFilter {
            before: Some((keys.at, keys.delivery)),
            ..DeliveryFilter::default()
        };
        let after = Some((keys.at, keys.user));
        vec![
            ("org_context", sql::org_context(b, &keys.slug, keys.user)),
            ("session_context", sql::session_context(b, keys.session, None)),
            (
                "session_context with org",
                sql::session_context(b, keys.session, Some(&keys.slug)),
            ),
            (
                "member_page first",
                sql::member_page(b, keys.org, &member(None, None, None)),
            ),
            (
                "member_page keyset",
                sql::member_page(b, keys.org, &member(None, None, after)),
            ),
            (
                "member_page role keyset",
                sql::member_page(b, keys.org, &member(Some(org_domain::Role::Admin), None, after)),
            ),
            (
                "member_page status keyset",
                sql::member_page(
                    b,
                    keys.org,
                    &member(None, Some(org_domain::MembershipStatus::Deactivated), after),
                ),
            ),
            (
                "audit_page first",
                sql::audit_page(b, log, &AuditFilter::default(), page),
            ),
            ("audit_page keyset", sql::audit_page(b, log, &audit_after, page)),
            ("audit_page action keyset", sql::audit_page(b, log, &audit_action, page)),
            ("audit_head", sql::audit_head(b, log)),
            (
                "delivery_page first",
                sql::delivery_page(b, keys.webhook, &DeliveryFilter::default(), page),
            ),
            (
                "delivery_page keyset",
                sql::delivery_page(b, keys.webhook, &deliveries_after, page),
            ),
            ("orgs_of_member", sql::orgs_of_member(b, keys.user, None, page)),
            ("scim_token_page", sql::scim_token_page(b, keys.org, page)),
        ]
        .into_iter()
        .map(|(name, q)| (name, q.statement()))
        .chain(self.directory_statements(keys))
        .collect()
    }

    /// The directory lookups of `hot_read_statements` (built by SeaORM's query builder).
    fn directory_statements(&self, keys: &HotReadKeys) -> Vec<(&'static str, sea_orm::Statement)> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait};

        use crate::entities::{directory_group, directory_profile};
        let b = self.backend;
        let (org, text) = (keys.org, keys.directory_text.clone());
        let some_ids = vec![keys.user.as_uuid(), keys.org.as_uuid()];
        vec![
            (
                "scim_token_by_hash",
                read::scim_token_by_hash(&keys.token_hash).build(b),
            ),
            ("profile_by_user_name", read::profile_by_user_name(org, &text).build(b)),
            (
                "profiles_by_external_id",
                read::profiles_where(org, directory_profile::Column::ExternalId, text.clone()).build(b),
            ),
            (
                "profiles_by_email",
                read::profiles_where(org, directory_profile::Column::Email, keys.email.as_str().to_owned()).build(b),
            ),
            (
                "profiles of memberships",
                directory_profile::Entity::find()
                    .filter(directory_profile::Column::OrgId.eq(org.as_uuid()))
                    .filter(directory_profile::Column::MembershipId.is_in(some_ids.clone()))
                    .build(b),
            ),
            (
                "directory_groups_by_external_id",
                read::groups_by_external_id(org, &text).build(b),
            ),
            (
                "directory groups of roles",
                directory_group::Entity::find()
                    .filter(directory_group::Column::OrgId.eq(org.as_uuid()))
                    .filter(directory_group::Column::RoleId.is_in(some_ids))
                    .build(b),
            ),
        ]
    }

    /// Closes the pool (pending queries finish first).
    pub async fn close(&self) -> Result<(), StoreError> {
        self.db.close_by_ref().await.map_err(store_err)
    }
}

impl SeaStore {
    /// Runs a write: PostgreSQL once (conflicts surface as errors); SQLite under the in-process
    /// writer lock, retrying the whole transaction while the database is busy.
    async fn write(&self, op: WriteOp<'_>) -> Result<WriteOut, StoreError> {
        // A write whose new data key lost to one another process stored first (or that opened
        // a secret of an org whose key is not cached) fails before anything is committed; the
        // stored keys are then loaded and the write runs again.
        for _ in 0..3 {
            match self.write_once(op).await {
                Err(e) if envelope::is_missing(&e) => {
                    let misses = self.cipher.take_misses();
                    if misses.is_empty() {
                        return Err(e);
                    }
                    self.load_data_keys(&misses).await?;
                }
                other => return other,
            }
        }
        Err(StoreError::Unavailable("data keys could not be loaded".to_owned()))
    }

    async fn write_once(&self, op: WriteOp<'_>) -> Result<WriteOut, StoreError> {
        if self.backend == DbBackend::Postgres {
            return write::run_once(&self.db, self.backend, &self.cipher, op)
                .await
                .map_err(DbFailure::into_store);
        }
        let _serialized = self.write_lock.lock().await;
        let mut delay = Duration::from_millis(5);
        for _ in 0..=self.opts.busy_retries {
            match write::run_once(&self.db, self.backend, &self.cipher, op).await {
                Err(DbFailure::Busy) => {
                    tracing::debug!(?delay, "sqlite busy; retrying the transaction");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(500));
                }
                other => return other.map_err(DbFailure::into_store),
            }
        }
        Err(StoreError::Unavailable(
            "database stayed busy; retries exhausted".to_owned(),
        ))
    }
}

impl ChangeToken for SeaStore {
    fn current(&self) -> Option<u64> {
        self.changes.as_ref()?.version()
    }
}

#[async_trait::async_trait]
impl UnitOfWork for SeaStore {
    async fn commit(&self, changes: Changeset) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.write(WriteOp::Commit(&changes)).await.map(|_| ())
    }
}

#[async_trait::async_trait]
impl DeliveryQueue for SeaStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match self
            .write(WriteOp::Claim {
                now,
                lease_until,
                limit,
            })
            .await?
        {
            WriteOut::Claimed(rows) => rows.into_iter().map(mapping::delivery_from_row).collect(),
            WriteOut::Committed | WriteOut::Leased(_) | WriteOut::ClaimedMail(_) => Ok(Vec::new()),
        }
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        read::pending_deliveries_count(&self.db).await
    }
}

#[async_trait::async_trait]
impl org_ports::MailQueue for SeaStore {
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<org_domain::mail::Mail>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match self
            .write(WriteOp::ClaimMail {
                now,
                lease_until,
                limit,
            })
            .await?
        {
            WriteOut::ClaimedMail(rows) => {
                let orgs: Vec<uuid::Uuid> = rows.iter().map(|m| m.org_id).collect();
                self.load_data_keys(&orgs).await?;
                rows.into_iter()
                    .map(|m| mapping::mail_from_row(m, &*self.cipher))
                    .collect()
            }
            WriteOut::Committed | WriteOut::Leased(_) | WriteOut::Claimed(_) => Ok(Vec::new()),
        }
    }
}

#[async_trait::async_trait]
impl org_ports::LeaseRepository for SeaStore {
    async fn try_lease(
        &self,
        name: &str,
        holder: uuid::Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self
            .write(WriteOp::Lease {
                name,
                holder,
                now,
                until,
            })
            .await?
        {
            WriteOut::Leased(held) => Ok(held),
            WriteOut::Committed | WriteOut::Claimed(_) | WriteOut::ClaimedMail(_) => Ok(false),
        }
    }
}
