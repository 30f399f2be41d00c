//! The write side: one database transaction per changeset, in an order that keeps every
//! constraint satisfied statement by statement (users before the orgs that reference them,
//! removed rows before added ones, non-owner memberships before the owner's, terminal
//! invitations before pending ones).

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use org_domain::webhook::{DeliveryStatus, Webhook};
use org_domain::{InvitationStatus, OrgState};
use org_ports::chain::{self, GENESIS};
use org_ports::{AuditLog, Changeset, ConflictKind, RevocationScope, SecretCipher, StoreError};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use crate::entities::{audit, delivery, event, head, invitation, membership, org, role, session, user, webhook};
use crate::error::DbFailure;
use crate::mapping::{self, all_set, version_to_row};

/// A write that runs in one transaction.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WriteOp<'a> {
    /// A unit-of-work commit.
    Commit(&'a Changeset),
    /// Lease the due deliveries (the delivery queue).
    Claim {
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    },
}

/// What a write returns.
#[derive(Debug)]
pub(crate) enum WriteOut {
    Committed,
    Claimed(Vec<delivery::Model>),
}

/// Runs one attempt of a write in its own transaction (SQLite: `BEGIN IMMEDIATE`).
pub(crate) async fn run_once(
    db: &DatabaseConnection,
    backend: DbBackend,
    cipher: &dyn SecretCipher,
    op: WriteOp<'_>,
) -> Result<WriteOut, DbFailure> {
    let txn = if backend == DbBackend::Sqlite {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?
    } else {
        db.begin().await?
    };
    let result = match op {
        WriteOp::Commit(c) => apply(&txn, backend, cipher, c).await.map(|()| WriteOut::Committed),
        WriteOp::Claim {
            now,
            lease_until,
            limit,
        } => claim(&txn, backend, now, lease_until, limit)
            .await
            .map(WriteOut::Claimed),
    };
    match result {
        Ok(out) => {
            txn.commit().await?;
            Ok(out)
        }
        Err(e) => {
            if let Err(rb) = txn.rollback().await {
                tracing::warn!(error = %rb, "rollback failed");
            }
            Err(e)
        }
    }
}

async fn apply(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    cipher: &dyn SecretCipher,
    c: &Changeset,
) -> Result<(), DbFailure> {
    for u in &c.users {
        let row = mapping::user_to_row(u, version_to_row(u.version + 1)?);
        versioned::<user::Entity>(txn, row, u.id.as_uuid(), u.version).await?;
    }
    for o in &c.orgs {
        let s = o.state();
        let row = mapping::org_to_row(s, version_to_row(s.version + 1)?);
        versioned::<org::Entity>(txn, row, s.id.as_uuid(), s.version).await?;
        write_org_children(txn, s, s.version == 0).await?;
    }
    // Terminal invitations first, so replacing a pending one never trips the one-pending index.
    let (pending, settled): (Vec<_>, Vec<_>) = c
        .invitations
        .iter()
        .partition(|i| i.record().status == InvitationStatus::Pending);
    for inv in settled.into_iter().chain(pending) {
        let r = inv.record();
        let row = mapping::invitation_to_row(r, version_to_row(r.version + 1)?);
        versioned::<invitation::Entity>(txn, row, r.id.as_uuid(), r.version).await?;
    }
    for s in &c.sessions {
        let row = mapping::session_to_row(s, version_to_row(s.version + 1)?);
        versioned::<session::Entity>(txn, row, s.id.as_uuid(), s.version).await?;
    }
    for r in &c.revocations {
        let q = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(r.at))
            .col_expr(session::Column::RevokeReason, Expr::value(r.reason.as_str()))
            .col_expr(session::Column::Version, Expr::col(session::Column::Version).add(1))
            .filter(session::Column::RevokedAt.is_null());
        let q = match r.scope {
            RevocationScope::Org(o) => q.filter(session::Column::OrgId.eq(o.as_uuid())),
            RevocationScope::MemberOfOrg(o, u) => q
                .filter(session::Column::OrgId.eq(o.as_uuid()))
                .filter(session::Column::UserId.eq(u.as_uuid()))
                .filter(session::Column::Kind.eq(org_domain::SessionKind::Org.as_str())),
            RevocationScope::User(u) => q.filter(session::Column::UserId.eq(u.as_uuid())),
        };
        q.exec(txn).await?;
    }
    for w in &c.webhooks {
        let row = mapping::webhook_to_row(w, version_to_row(w.version + 1)?, cipher)?;
        versioned::<webhook::Entity>(txn, row, w.id.as_uuid(), w.version).await?;
    }
    for d in &c.deliveries {
        let row = mapping::delivery_to_row(d, version_to_row(d.version + 1)?);
        versioned::<delivery::Entity>(txn, row, d.id.as_uuid(), d.version).await?;
    }
    for p in &c.audit_prunes {
        let through = i64::try_from(p.through_seq).unwrap_or(i64::MAX);
        audit::Entity::delete_many()
            .filter(audit::Column::LogKey.eq(mapping::log_key(p.log)))
            .filter(audit::Column::Seq.lte(through))
            .exec(txn)
            .await?;
    }
    append_logs(txn, backend, c).await?;
    fan_out(txn, c).await
}

/// One pending delivery per subscribed endpoint of each event's org, as the endpoints stand
/// after this changeset's own webhook writes (§9.4).
async fn fan_out(txn: &DatabaseTransaction, c: &Changeset) -> Result<(), DbFailure> {
    let mut subscribers: HashMap<Uuid, Vec<Webhook>> = HashMap::new();
    let mut rows = Vec::new();
    for e in &c.events {
        let hooks = match subscribers.entry(e.org_id.as_uuid()) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let hooks = webhook::Entity::find()
                    .filter(webhook::Column::OrgId.eq(*v.key()))
                    .filter(webhook::Column::IsActive.eq(true))
                    .filter(webhook::Column::DeletedAt.is_null())
                    .order_by_asc(webhook::Column::CreatedAt)
                    .order_by_asc(webhook::Column::Id)
                    .all(txn)
                    .await?
                    .into_iter()
                    .map(mapping::webhook_subscriber_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                v.insert(hooks)
            }
        };
        for d in org_ports::webhooks::fan_out(e, hooks.iter()) {
            rows.push(all_set::<_, delivery::ActiveModel>(mapping::delivery_to_row(&d, 1)));
        }
    }
    if !rows.is_empty() {
        delivery::Entity::insert_many(rows).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// Leases up to `limit` due deliveries (oldest due first). PostgreSQL skips rows another
/// worker holds (`FOR UPDATE SKIP LOCKED`); SQLite runs this under its single writer.
async fn claim(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<delivery::Model>, DbFailure> {
    let mut q = delivery::Entity::find()
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(delivery::Column::NextRetryAt.lte(now))
        .order_by_asc(delivery::Column::NextRetryAt)
        .order_by_asc(delivery::Column::Id)
        .limit(u64::from(limit));
    if backend == DbBackend::Postgres {
        q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let mut rows = q.all(txn).await?;
    for row in &mut rows {
        delivery::Entity::update_many()
            .col_expr(delivery::Column::NextRetryAt, Expr::value(lease_until))
            .col_expr(delivery::Column::Version, Expr::col(delivery::Column::Version).add(1))
            .filter(delivery::Column::Id.eq(row.id))
            .exec(txn)
            .await?;
        row.next_retry_at = Some(lease_until);
        row.version += 1;
    }
    Ok(rows)
}

/// Entities with a UUID primary key `id`.
trait Keyed: EntityTrait {
    fn id_col() -> Self::Column;
    fn row_id(m: &Self::Model) -> Uuid;
}

/// Entities with an optimistic-concurrency `version`.
trait Versioned: Keyed {
    fn version_col() -> Self::Column;
}

macro_rules! keyed {
    ($($m:ident),*) => {$(
        impl Keyed for $m::Entity {
            fn id_col() -> $m::Column {
                $m::Column::Id
            }
            fn row_id(m: &$m::Model) -> Uuid {
                m.id
            }
        }
    )*};
}
keyed!(org, user, invitation, session, membership, role, webhook, delivery);

macro_rules! versioned_entity {
    ($($m:ident),*) => {$(
        impl Versioned for $m::Entity {
            fn version_col() -> $m::Column {
                $m::Column::Version
            }
        }
    )*};
}
versioned_entity!(org, user, invitation, session, webhook, delivery);

async fn exists<E: Keyed>(txn: &DatabaseTransaction, id: Uuid) -> Result<bool, DbFailure>
where
    E::Model: Sync,
{
    Ok(E::find().filter(E::id_col().eq(id)).count(txn).await? > 0)
}

/// Version 0 inserts (an existing id conflicts); otherwise a compare-and-swap on `version`.
async fn versioned<E: Versioned>(
    txn: &DatabaseTransaction,
    row: E::Model,
    id: Uuid,
    loaded: u64,
) -> Result<(), DbFailure>
where
    E::Model: IntoActiveModel<E::ActiveModel> + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    if loaded == 0 {
        if exists::<E>(txn, id).await? {
            return Err(StoreError::Conflict(ConflictKind::Unique(org_ports::UniqueKey::Id)).into());
        }
        E::insert(all_set::<_, E::ActiveModel>(row))
            .exec_without_returning(txn)
            .await?;
        return Ok(());
    }
    let updated = E::update_many()
        .set(all_set::<_, E::ActiveModel>(row))
        .filter(E::id_col().eq(id))
        .filter(E::version_col().eq(version_to_row(loaded)?))
        .exec(txn)
        .await?;
    if updated.rows_affected == 1 {
        return Ok(());
    }
    Err(if exists::<E>(txn, id).await? {
        StoreError::Conflict(ConflictKind::StaleVersion)
    } else {
        StoreError::NotFound
    }
    .into())
}

/// Brings child rows from `have` to `want`: deletes, then updates and inserts in `want` order.
async fn sync_rows<E: Keyed>(
    txn: &DatabaseTransaction,
    have: Vec<E::Model>,
    want: Vec<E::Model>,
) -> Result<(), DbFailure>
where
    E::Model: IntoActiveModel<E::ActiveModel> + PartialEq + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let want_ids: HashSet<Uuid> = want.iter().map(E::row_id).collect();
    let gone: Vec<Uuid> = have.iter().map(E::row_id).filter(|id| !want_ids.contains(id)).collect();
    if !gone.is_empty() {
        E::delete_many().filter(E::id_col().is_in(gone)).exec(txn).await?;
    }
    let have: HashMap<Uuid, E::Model> = have.into_iter().map(|m| (E::row_id(&m), m)).collect();
    for row in want {
        let id = E::row_id(&row);
        match have.get(&id) {
            Some(old) if *old == row => {}
            Some(_) => {
                E::update_many()
                    .set(all_set::<_, E::ActiveModel>(row))
                    .filter(E::id_col().eq(id))
                    .exec(txn)
                    .await?;
            }
            None => {
                E::insert(all_set::<_, E::ActiveModel>(row))
                    .exec_without_returning(txn)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn write_org_children(txn: &DatabaseTransaction, s: &OrgState, inserted: bool) -> Result<(), DbFailure> {
    let org_id = s.id.as_uuid();
    let (have_roles, have_members) = if inserted {
        (Vec::new(), Vec::new())
    } else {
        (
            role::Entity::find()
                .filter(role::Column::OrgId.eq(org_id))
                .all(txn)
                .await?,
            membership::Entity::find()
                .filter(membership::Column::OrgId.eq(org_id))
                .all(txn)
                .await?,
        )
    };
    let want_roles = s.roles.iter().map(|r| mapping::role_to_row(s.id, r)).collect();
    sync_rows::<role::Entity>(txn, have_roles, want_roles).await?;
    // The owner's row last: a transfer demotes the old owner before it promotes the new one.
    let mut want_members: Vec<membership::Model> = s
        .memberships
        .iter()
        .map(|m| mapping::membership_to_row(s.id, m))
        .collect();
    want_members.sort_by_key(|m| m.role == org_domain::Role::Owner.as_str());
    sync_rows::<membership::Entity>(txn, have_members, want_members).await
}

/// Locks the head rows of `keys` (sorted, so concurrent commits never deadlock on them) and
/// returns them; a missing head is created at `seq` 0.
async fn lock_heads(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    keys: &BTreeSet<String>,
) -> Result<HashMap<String, head::Model>, DbFailure> {
    let mut out = HashMap::new();
    for key in keys {
        let select = || {
            let q = head::Entity::find_by_id(key.clone());
            if backend == DbBackend::Postgres {
                q.lock_exclusive()
            } else {
                q
            }
        };
        let row = match select().one(txn).await? {
            Some(row) => row,
            None => {
                let fresh = head::Model {
                    log_key: key.clone(),
                    seq: 0,
                    hash: None,
                };
                head::Entity::insert(all_set::<_, head::ActiveModel>(fresh))
                    .on_conflict_do_nothing_on([head::Column::LogKey])
                    .exec_without_returning(txn)
                    .await?;
                select()
                    .one(txn)
                    .await?
                    .ok_or_else(|| StoreError::Unavailable(format!("log head {key} vanished")))?
            }
        };
        out.insert(key.clone(), row);
    }
    Ok(out)
}

fn audit_head_key(log: AuditLog) -> String {
    format!("audit:{}", mapping::log_key(log))
}

fn events_head_key(org: org_domain::OrgId) -> String {
    format!("events:{org}")
}

/// Appends audit entries (next `seq` of their log, chained by hash) and outbox events (next
/// `seq` of their org's stream) under the head locks.
async fn append_logs(txn: &DatabaseTransaction, backend: DbBackend, c: &Changeset) -> Result<(), DbFailure> {
    if c.audit.is_empty() && c.events.is_empty() {
        return Ok(());
    }
    let mut keys: BTreeSet<String> = c
        .audit
        .iter()
        .map(|d| audit_head_key(d.org_id.map_or(AuditLog::Platform, AuditLog::Org)))
        .collect();
    keys.extend(c.events.iter().map(|e| events_head_key(e.org_id)));
    let mut heads = lock_heads(txn, backend, &keys).await?;
    let mut rows = Vec::with_capacity(c.audit.len());
    for d in &c.audit {
        let key = audit_head_key(d.org_id.map_or(AuditLog::Platform, AuditLog::Org));
        let h = heads
            .get_mut(&key)
            .ok_or_else(|| StoreError::Unavailable(format!("log head {key} not locked")))?;
        let prev = match h.hash.as_deref() {
            None => GENESIS,
            Some(hex) => {
                chain::from_hex(hex).ok_or_else(|| StoreError::Corrupt(format!("log head {key}: bad hash")))?
            }
        };
        let seq = h.seq + 1;
        let seq_u = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("log head {key}: bad seq")))?;
        let hash = chain::entry_hash(&prev, seq_u, d);
        rows.push(all_set::<_, audit::ActiveModel>(mapping::audit_to_row(
            d, seq, &prev, &hash,
        )));
        h.seq = seq;
        h.hash = Some(chain::to_hex(&hash));
    }
    if !rows.is_empty() {
        audit::Entity::insert_many(rows).exec_without_returning(txn).await?;
    }
    let mut rows = Vec::with_capacity(c.events.len());
    for e in &c.events {
        let key = events_head_key(e.org_id);
        let h = heads
            .get_mut(&key)
            .ok_or_else(|| StoreError::Unavailable(format!("log head {key} not locked")))?;
        h.seq += 1;
        rows.push(all_set::<_, event::ActiveModel>(mapping::event_to_row(e, h.seq)));
    }
    if !rows.is_empty() {
        event::Entity::insert_many(rows).exec_without_returning(txn).await?;
    }
    for key in &keys {
        if let Some(h) = heads.remove(key) {
            head::Entity::update_many()
                .col_expr(head::Column::Seq, Expr::value(h.seq))
                .col_expr(head::Column::Hash, Expr::value(h.hash))
                .filter(head::Column::LogKey.eq(key.clone()))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}
