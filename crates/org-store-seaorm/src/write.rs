//! The write side: one database transaction per changeset, in an order that keeps every
//! constraint satisfied statement by statement: users before the orgs that reference them; the
//! org row (settings, lifecycle, owner) before memberships, so a transfer names the new owner
//! before the triggers check it; custom roles before the memberships naming them; removed
//! memberships, then demotions, then promotions to owner; the org's kept counts after its
//! membership writes (one conditional `UPDATE`, which also enforces the member cap); removed
//! roles after the memberships that left them; directory profiles after the memberships they
//! hang on and role-group data after the roles (a removed parent took its directory row with
//! it, by cascade); SCIM tokens, then their uses; terminal invitations before pending ones; SMTP settings and
//! outbox mails after deliveries.
//! Memberships, roles and directory rows are written one row each at their own version:
//! nothing is diffed.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use org_domain::directory::DirectoryProfile;
use org_domain::mail::MailStatus;
use org_domain::webhook::{DeliveryStatus, Webhook};
use org_domain::{InvitationStatus, Membership, MembershipStatus, Role};
use org_ports::chain::{self, GENESIS};
use org_ports::{AuditLog, Changeset, ConflictKind, RevocationScope, SecretCipher, StoreError, UniqueKey};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use crate::entities::{
    audit, billing_credential, custom_domain, delivery, directory_group, directory_profile, event, head, invitation,
    mail, membership, oauth_credential, org, org_branding, refresh_ancestor, role, scim_token, session, smtp_settings,
    user, webhook, worker_lease,
};
use crate::error::DbFailure;
use crate::mapping::{self, all_set, version_to_row};
use crate::upstream::upstream_provider;

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
    /// Lease the due mails (the mail queue).
    ClaimMail {
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    },
    /// Take or renew a worker lease.
    Lease {
        name: &'a str,
        holder: Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// What a write returns.
#[derive(Debug)]
pub(crate) enum WriteOut {
    Committed,
    Claimed(Vec<delivery::Model>),
    ClaimedMail(Vec<mail::Model>),
    Leased(bool),
}

/// Runs one attempt of a write in its own transaction (SQLite: `BEGIN IMMEDIATE`).
pub(crate) async fn run_once(
    db: &DatabaseConnection,
    backend: DbBackend,
    envelope: &crate::envelope::Envelope,
    op: WriteOp<'_>,
) -> Result<WriteOut, DbFailure> {
    let cipher: &dyn SecretCipher = envelope;
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
        WriteOp::ClaimMail {
            now,
            lease_until,
            limit,
        } => claim_mail(&txn, backend, now, lease_until, limit)
            .await
            .map(WriteOut::ClaimedMail),
        WriteOp::Lease {
            name,
            holder,
            now,
            until,
        } => lease(&txn, name, holder, now, until).await.map(WriteOut::Leased),
    };
    let result = match result {
        Ok(out) => match crate::envelope::flush_pending(&txn, envelope).await {
            Ok(keys) => Ok((out, keys)),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok((out, keys)) => {
            txn.commit().await?;
            envelope.settle(&keys);
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

/// Inserts the lease, or takes over one that expired or is already the holder's: one
/// statement, so of processes racing for it the row lock lets exactly one write it.
async fn lease(
    txn: &DatabaseTransaction,
    name: &str,
    holder: Uuid,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbFailure> {
    let row = worker_lease::ActiveModel {
        name: ActiveValue::Set(name.to_owned()),
        holder: ActiveValue::Set(holder),
        until: ActiveValue::Set(until),
    };
    let take_over = Condition::any()
        .add(Expr::col((worker_lease::Entity, worker_lease::Column::Until)).lte(now))
        .add(Expr::col((worker_lease::Entity, worker_lease::Column::Holder)).eq(holder));
    let written = worker_lease::Entity::insert(row)
        .on_conflict(
            OnConflict::column(worker_lease::Column::Name)
                .update_columns([worker_lease::Column::Holder, worker_lease::Column::Until])
                .action_cond_where(take_over)
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(written == 1)
}

async fn apply(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    cipher: &dyn SecretCipher,
    c: &Changeset,
) -> Result<(), DbFailure> {
    for u in &c.users {
        let r = u.record();
        let row = all_set(mapping::user_to_row(u, version_to_row(r.version + 1)?));
        versioned::<user::Entity>(txn, row, r.id.as_uuid(), r.version).await?;
    }
    for o in &c.orgs {
        let s = o.state();
        // Settings, lifecycle and owner only: the kept counts are never taken from here.
        let row = mapping::org_write_row(s, version_to_row(s.version + 1)?);
        versioned::<org::Entity>(txn, row, s.id.as_uuid(), s.version).await?;
    }
    for r in &c.roles {
        let rec = r.record();
        let row = all_set(mapping::role_to_row(r, version_to_row(rec.version + 1)?));
        versioned::<role::Entity>(txn, row, rec.id.as_uuid(), rec.version).await?;
    }
    let mut heads = Headcounts::default();
    for m in &c.removed_memberships {
        remove_membership(txn, m, &mut heads).await?;
    }
    // Demotions before promotions: a transfer's org row is already written, the old owner
    // steps down, then the new one takes `owner` (the one-owner index never sees two).
    let (owners, others): (Vec<&Membership>, Vec<&Membership>) =
        c.memberships.iter().partition(|m| *m.role() == Role::Owner);
    for m in others.into_iter().chain(owners) {
        write_membership(txn, m, &mut heads).await?;
    }
    heads.apply(txn, c.member_cap).await?;
    for r in &c.removed_roles {
        remove_role(txn, r).await?;
    }
    write_directory(txn, c).await?;
    write_settings(txn, c).await?;
    // Terminal invitations first, so replacing a pending one never trips the one-pending index.
    let (pending, settled): (Vec<_>, Vec<_>) = c
        .invitations
        .iter()
        .partition(|i| i.record().status == InvitationStatus::Pending);
    for inv in settled.into_iter().chain(pending) {
        let r = inv.record();
        let row = all_set(mapping::invitation_to_row(r, version_to_row(r.version + 1)?));
        versioned::<invitation::Entity>(txn, row, r.id.as_uuid(), r.version).await?;
    }
    for s in &c.sessions {
        let row = all_set(mapping::session_to_row(s, version_to_row(s.version + 1)?, cipher)?);
        versioned::<session::Entity>(txn, row, s.id.as_uuid(), s.version).await?;
        // A rotation's consumed token joins the family's ancestors (written again, unchanged,
        // by later writes of the same session).
        if let Some((hash, at)) = &s.previous_hash {
            let row = refresh_ancestor::ActiveModel {
                hash: ActiveValue::Set(mapping::hash_to_row(hash)),
                session_id: ActiveValue::Set(s.id.as_uuid()),
                consumed_at: ActiveValue::Set(*at),
            };
            refresh_ancestor::Entity::insert(row)
                .on_conflict_do_nothing_on([refresh_ancestor::Column::Hash])
                .exec_without_returning(txn)
                .await?;
        }
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
            RevocationScope::Service(sv) => q.filter(session::Column::ServiceId.eq(sv.as_uuid())),
            RevocationScope::EndUserOfOrg(o, u) => q
                .filter(session::Column::OrgId.eq(o.as_uuid()))
                .filter(session::Column::UserId.eq(u.as_uuid()))
                .filter(session::Column::Kind.eq(org_domain::SessionKind::Service.as_str())),
        };
        q.exec(txn).await?;
    }
    for w in &c.webhooks {
        let v = w.record().version;
        let row = all_set(mapping::webhook_to_row(w, version_to_row(v + 1)?, cipher)?);
        versioned::<webhook::Entity>(txn, row, w.id().as_uuid(), v).await?;
    }
    let mut delivered = DeliveryCounts::default();
    for d in &c.deliveries {
        let row = all_set(mapping::delivery_to_row(d, version_to_row(d.version + 1)?));
        versioned::<delivery::Entity>(txn, row, d.id.as_uuid(), d.version).await?;
        if d.version == 0 {
            delivered.add(d.webhook_id.as_uuid());
        }
    }
    write_mail(txn, cipher, c).await?;
    write_credentials(txn, cipher, c).await?;
    crate::risk::write_risk(txn, c).await?;
    crate::services::write(txn, backend, c).await?;
    crate::upstream::write(txn, cipher, c).await?;
    crate::siem::write(txn, cipher, c).await?;
    crate::logins::write(txn, backend, c).await?;
    sequence_logs(txn, backend, c).await?;
    fan_out(txn, c, &mut delivered).await?;
    delivered.apply(txn, backend).await?;
    purge_orgs(txn, &c.org_purges).await
}

/// Deletes deleted orgs whole (§4.9): the rows without a foreign key to the org (its audit
/// log, its event stream and their heads), then the org row, which takes every other row of
/// the org with it by cascade. An org that is not deleted is left alone.
async fn purge_orgs(txn: &DatabaseTransaction, orgs: &[org_domain::OrgId]) -> Result<(), DbFailure> {
    for id in orgs {
        let gone = org::Entity::find_by_id(id.as_uuid())
            .filter(org::Column::DeletedAt.is_not_null())
            .one(txn)
            .await?;
        if gone.is_none() {
            continue;
        }
        let log = mapping::log_key(AuditLog::Org(*id));
        audit::Entity::delete_many()
            .filter(audit::Column::LogKey.eq(log.clone()))
            .exec(txn)
            .await?;
        event::Entity::delete_many()
            .filter(event::Column::OrgId.eq(id.as_uuid()))
            .exec(txn)
            .await?;
        head::Entity::delete_many()
            .filter(head::Column::LogKey.is_in([audit_head_key(AuditLog::Org(*id)), events_head_key(*id)]))
            .exec(txn)
            .await?;
        org::Entity::delete_by_id(id.as_uuid()).exec(txn).await?;
        // Its data key last: whatever copy of its sealed secrets remains cannot be opened.
        crate::envelope::data_key::Entity::delete_by_id(id.as_uuid())
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Changes of the kept member counts of each org, from this commit's membership writes.
#[derive(Debug, Default)]
struct Headcounts(BTreeMap<Uuid, (i64, i64)>);

impl Headcounts {
    fn add(&mut self, org: Uuid, active: i64, total: i64) {
        let e = self.0.entry(org).or_default();
        e.0 += active;
        e.1 += total;
    }

    /// One conditional `UPDATE` per org whose counts change. With a member cap, an org whose
    /// active count rises must stay within it (`active_members + d <= cap`, evaluated on the
    /// row as locked, so concurrent admissions never pass it together).
    async fn apply(self, txn: &DatabaseTransaction, cap: Option<u32>) -> Result<(), DbFailure> {
        for (org_id, (active, total)) in self.0 {
            if active == 0 && total == 0 {
                continue;
            }
            let mut q = org::Entity::update_many()
                .col_expr(
                    org::Column::ActiveMembers,
                    Expr::col(org::Column::ActiveMembers).add(active),
                )
                .col_expr(
                    org::Column::TotalMembers,
                    Expr::col(org::Column::TotalMembers).add(total),
                )
                .filter(org::Column::Id.eq(org_id));
            let capped = cap.filter(|_| active > 0);
            if let Some(cap) = capped {
                q = q.filter(Expr::col(org::Column::ActiveMembers).add(active).lte(i64::from(cap)));
            }
            if q.exec(txn).await?.rows_affected == 1 {
                continue;
            }
            return Err(if capped.is_some() && exists::<org::Entity>(txn, org_id).await? {
                StoreError::Conflict(ConflictKind::MemberCap)
            } else {
                StoreError::NotFound
            }
            .into());
        }
        Ok(())
    }
}

fn active(m: &Membership) -> i64 {
    i64::from(m.status() == MembershipStatus::Active)
}

/// A SQLite foreign-key failure of a membership write: the custom role it names is missing
/// (`RoleInUse`), or else the org or user is (`NotFound`). PostgreSQL names the key itself.
async fn membership_fk(txn: &DatabaseTransaction, m: &Membership, failure: DbFailure) -> DbFailure {
    if failure != DbFailure::ForeignKey {
        return failure;
    }
    let Some(slug) = mapping::custom_role_column(m.role()) else {
        return StoreError::NotFound.into();
    };
    let held = role::Entity::find()
        .filter(role::Column::OrgId.eq(m.org_id().as_uuid()))
        .filter(role::Column::Slug.eq(slug))
        .count(txn)
        .await;
    match held {
        Ok(0) => StoreError::Conflict(ConflictKind::RoleInUse).into(),
        Ok(_) => StoreError::NotFound.into(),
        Err(e) => e.into(),
    }
}

/// Inserts (version 0) or updates a membership at its own version. An update tries first with
/// the status unchanged (role changes: one statement); if that matches nothing it tries again
/// without, and a match then means the status flipped (there are two), which moves the counts.
async fn write_membership(txn: &DatabaseTransaction, m: &Membership, heads: &mut Headcounts) -> Result<(), DbFailure> {
    let r = m.record();
    let (id, org_id) = (r.id.as_uuid(), r.org_id.as_uuid());
    let row = mapping::membership_to_row(m, version_to_row(r.version + 1)?);
    if r.version == 0 {
        if let Err(f) = insert_new::<membership::Entity>(txn, all_set(row), id).await {
            return Err(membership_fk(txn, m, f).await);
        }
        heads.add(org_id, active(m), 1);
        return Ok(());
    }
    let loaded = version_to_row(r.version)?;
    let mut set: membership::ActiveModel = all_set(row);
    for col in membership::Entity::key_cols() {
        set.not_set(col);
    }
    let update = |status_unchanged: bool| {
        let mut q = membership::Entity::update_many()
            .set(set.clone())
            .filter(membership::Column::Id.eq(id))
            .filter(membership::Column::Version.eq(loaded));
        if status_unchanged {
            q = q.filter(membership::Column::Status.eq(r.status.as_str()));
        }
        q.exec(txn)
    };
    for status_unchanged in [true, false] {
        match update(status_unchanged).await {
            Ok(done) if done.rows_affected == 1 => {
                if !status_unchanged {
                    heads.add(org_id, 2 * active(m) - 1, 0);
                }
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => return Err(membership_fk(txn, m, e.into()).await),
        }
    }
    Err(stale_or_gone::<membership::Entity>(txn, id).await)
}

/// Deletes a membership at the version it was loaded with; its status as loaded is the one
/// stored (the version matched), so the counts move by it.
async fn remove_membership(txn: &DatabaseTransaction, m: &Membership, heads: &mut Headcounts) -> Result<(), DbFailure> {
    let r = m.record();
    let done = membership::Entity::delete_many()
        .filter(membership::Column::Id.eq(r.id.as_uuid()))
        .filter(membership::Column::Version.eq(version_to_row(r.version)?))
        .exec(txn)
        .await?;
    if done.rows_affected == 1 {
        heads.add(r.org_id.as_uuid(), -active(m), -1);
        return Ok(());
    }
    Err(stale_or_gone::<membership::Entity>(txn, r.id.as_uuid()).await)
}

/// Deletes a custom role at its loaded version; the foreign key from memberships refuses it
/// while a membership holds the role (`RoleInUse`).
async fn remove_role(txn: &DatabaseTransaction, r: &org_domain::CustomRole) -> Result<(), DbFailure> {
    let rec = r.record();
    let done = role::Entity::delete_many()
        .filter(role::Column::Id.eq(rec.id.as_uuid()))
        .filter(role::Column::Version.eq(version_to_row(rec.version)?))
        .exec(txn)
        .await;
    match done {
        Ok(d) if d.rows_affected == 1 => Ok(()),
        Ok(_) => Err(stale_or_gone::<role::Entity>(txn, rec.id.as_uuid()).await),
        Err(e) => Err(match DbFailure::from(e) {
            DbFailure::ForeignKey => StoreError::Conflict(ConflictKind::RoleInUse).into(),
            other => other,
        }),
    }
}

/// The directory rows of a commit, after the memberships and roles they hang on: profiles
/// (updates before inserts, so a renamed profile frees its `userName` key before another takes
/// it), role-group data, SCIM tokens (removals, then writes), then the token uses. A profile or
/// group whose parent is missing (or was removed by this commit, taking its row along by
/// cascade) fails on the foreign key or matches no row: `NotFound`.
async fn write_directory(txn: &DatabaseTransaction, c: &Changeset) -> Result<(), DbFailure> {
    let (updates, inserts): (Vec<&DirectoryProfile>, Vec<&DirectoryProfile>) =
        c.profiles.iter().partition(|p| p.record().version > 0);
    for p in updates.into_iter().chain(inserts) {
        let v = p.record().version;
        let row = all_set(mapping::profile_to_row(p, version_to_row(v + 1)?));
        versioned::<directory_profile::Entity>(txn, row, p.membership_id().as_uuid(), v).await?;
    }
    for g in &c.directory_groups {
        let r = g.record();
        let row = all_set(mapping::group_to_row(g, version_to_row(r.version + 1)?));
        versioned::<directory_group::Entity>(txn, row, r.role_id.as_uuid(), r.version).await?;
    }
    for t in &c.removed_scim_tokens {
        delete_at::<scim_token::Entity>(txn, t.id().as_uuid(), t.record().version).await?;
    }
    let mut uses = Vec::new();
    for t in &c.scim_tokens {
        let r = t.record();
        let mut row: scim_token::ActiveModel = all_set(mapping::scim_token_to_row(t, version_to_row(r.version + 1)?));
        if r.version > 0 {
            // A use is a blind write that bumps no version: a writer holding an older copy of
            // the token (a revoke loaded before the use) must not move `last_used_at` back.
            row.last_used_at = ActiveValue::NotSet;
            uses.extend(r.last_used_at.map(|at| (r.id, at)));
        }
        versioned::<scim_token::Entity>(txn, row, r.id.as_uuid(), r.version).await?;
    }
    for (id, at) in uses.iter().chain(&c.scim_token_uses) {
        // A token that is gone (deleted concurrently) matches nothing: the use is dropped.
        scim_token::Entity::update_many()
            .col_expr(scim_token::Column::LastUsedAt, Expr::value(*at))
            .filter(scim_token::Column::Id.eq(id.as_uuid()))
            .filter(
                Condition::any()
                    .add(scim_token::Column::LastUsedAt.is_null())
                    .add(scim_token::Column::LastUsedAt.lt(*at)),
            )
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Branding and domain rows (§14, §15): removed claims go first, so a verification that
/// clears other orgs' claims never meets them in `ux_custom_domains_verified`; a row whose org
/// is missing fails on the foreign key (`NotFound`).
async fn write_settings(txn: &DatabaseTransaction, c: &Changeset) -> Result<(), DbFailure> {
    for d in &c.removed_custom_domains {
        delete_at::<custom_domain::Entity>(txn, d.org_id().as_uuid(), d.record().version).await?;
    }
    for d in &c.custom_domains {
        let v = d.record().version;
        let row = all_set(mapping::custom_domain_to_row(d, version_to_row(v + 1)?));
        versioned::<custom_domain::Entity>(txn, row, d.org_id().as_uuid(), v).await?;
    }
    for b in &c.brandings {
        let v = b.record().version;
        let row = all_set(mapping::branding_to_row(b, version_to_row(v + 1)?));
        versioned::<org_branding::Entity>(txn, row, b.org_id().as_uuid(), v).await?;
    }
    Ok(())
}

/// Deliveries inserted by this commit, per endpoint: added to the endpoint's kept count.
#[derive(Debug, Default)]
struct DeliveryCounts(BTreeMap<Uuid, i64>);

impl DeliveryCounts {
    fn add(&mut self, webhook: Uuid) {
        *self.0.entry(webhook).or_default() += 1;
    }

    /// One upsert per endpoint (a statement text that never changes).
    async fn apply(self, txn: &DatabaseTransaction, backend: DbBackend) -> Result<(), DbFailure> {
        for (webhook, n) in self.0 {
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO webhook_delivery_counts (webhook_id, deliveries) VALUES ($1, $2) \
                 ON CONFLICT (webhook_id) DO UPDATE SET deliveries = webhook_delivery_counts.deliveries + \
                 excluded.deliveries",
                [webhook.into(), n.into()],
            ))
            .await?;
        }
        Ok(())
    }
}

/// One pending delivery per subscribed endpoint of each event's org, as the endpoints stand
/// after this changeset's own webhook writes (§9.4).
async fn fan_out(txn: &DatabaseTransaction, c: &Changeset, delivered: &mut DeliveryCounts) -> Result<(), DbFailure> {
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
            delivered.add(d.webhook_id.as_uuid());
            rows.push(all_set::<_, delivery::ActiveModel>(mapping::delivery_to_row(&d, 1)));
        }
    }
    insert_chunked::<delivery::Entity>(txn, rows).await
}

/// Rows per multi-row `INSERT`: well under SQLite's 32,766 bound variables for the widest
/// table (and PostgreSQL's 65,535).
const INSERT_CHUNK: usize = 500;

/// Inserts `rows` in statements of at most [`INSERT_CHUNK`] rows.
async fn insert_chunked<E: EntityTrait>(txn: &DatabaseTransaction, rows: Vec<E::ActiveModel>) -> Result<(), DbFailure>
where
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<E::ActiveModel> = rows.by_ref().take(INSERT_CHUNK).collect();
        E::insert_many(chunk).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// OAuth and billing credentials (each one row per org and provider: a first write for a pair that has a row
/// matches nothing and is a stale write, so a racing first upsert retries).
async fn write_credentials(
    txn: &DatabaseTransaction,
    cipher: &dyn SecretCipher,
    c: &Changeset,
) -> Result<(), DbFailure> {
    for x in &c.removed_oauth_credentials {
        delete_at::<oauth_credential::Entity>(txn, x.id().as_uuid(), x.record().version).await?;
    }
    for x in &c.oauth_credentials {
        let v = x.record().version;
        let row: oauth_credential::ActiveModel = all_set(mapping::oauth_to_row(x, version_to_row(v + 1)?, cipher)?);
        if v > 0 {
            versioned::<oauth_credential::Entity>(txn, row, x.id().as_uuid(), v).await?;
            continue;
        }
        // A missing org fails on the foreign key (not found).
        let written = oauth_credential::Entity::insert(row)
            .on_conflict_do_nothing_on([oauth_credential::Column::OrgId, oauth_credential::Column::Provider])
            .exec_without_returning(txn)
            .await?;
        if !matches!(written, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
            return Err(StoreError::Conflict(ConflictKind::StaleVersion).into());
        }
    }
    for x in &c.removed_billing_credentials {
        delete_at::<billing_credential::Entity>(txn, x.id().as_uuid(), x.record().version).await?;
    }
    for x in &c.billing_credentials {
        let v = x.record().version;
        let row: billing_credential::ActiveModel = all_set(mapping::billing_to_row(x, version_to_row(v + 1)?, cipher)?);
        if v > 0 {
            versioned::<billing_credential::Entity>(txn, row, x.id().as_uuid(), v).await?;
            continue;
        }
        let written = billing_credential::Entity::insert(row)
            .on_conflict_do_nothing_on([billing_credential::Column::OrgId, billing_credential::Column::Provider])
            .exec_without_returning(txn)
            .await?;
        if !matches!(written, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
            return Err(StoreError::Conflict(ConflictKind::StaleVersion).into());
        }
    }
    Ok(())
}

/// SMTP settings (one row per org: an insert for an org that has settings matches nothing and
/// is a stale write, so a racing first upsert retries) and outbox mails.
async fn write_mail(txn: &DatabaseTransaction, cipher: &dyn SecretCipher, c: &Changeset) -> Result<(), DbFailure> {
    for x in &c.removed_smtp {
        delete_at::<smtp_settings::Entity>(txn, x.org_id().as_uuid(), x.record().version).await?;
    }
    for x in &c.smtp {
        let v = x.record().version;
        let org = x.org_id().as_uuid();
        let row: smtp_settings::ActiveModel = all_set(mapping::smtp_to_row(x, version_to_row(v + 1)?, cipher)?);
        if v > 0 {
            versioned::<smtp_settings::Entity>(txn, row, org, v).await?;
            continue;
        }
        // A missing org fails on the foreign key (not found).
        let written = smtp_settings::Entity::insert(row)
            .on_conflict_do_nothing_on([smtp_settings::Column::OrgId])
            .exec_without_returning(txn)
            .await?;
        if !matches!(written, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
            return Err(StoreError::Conflict(ConflictKind::StaleVersion).into());
        }
    }
    for m in &c.mails {
        let row = all_set(mapping::mail_to_row(m, version_to_row(m.version + 1)?, cipher)?);
        versioned::<mail::Entity>(txn, row, m.id.as_uuid(), m.version).await?;
    }
    Ok(())
}

/// The columns of a leased queue: a row is due while `status` is `pending` and `due` has
/// come; a claim moves `due` to the lease's end and bumps `version`.
struct Queue<C> {
    status: C,
    pending: &'static str,
    due: C,
    id: C,
    version: C,
}

/// Leases up to `limit` due rows of a queue (oldest due first): one read and one update.
/// PostgreSQL skips rows another worker holds (`FOR UPDATE SKIP LOCKED`); SQLite runs this
/// under its single writer. `leased` brings a read row to what the update wrote.
async fn lease_due<E: EntityTrait>(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    q: Queue<E::Column>,
    (now, lease_until, limit): (DateTime<Utc>, DateTime<Utc>, u32),
    id_of: impl Fn(&E::Model) -> Uuid,
    leased: impl Fn(&mut E::Model),
) -> Result<Vec<E::Model>, DbFailure> {
    let mut find = E::find()
        .filter(q.status.eq(q.pending))
        .filter(q.due.lte(now))
        .order_by_asc(q.due)
        .order_by_asc(q.id)
        .limit(u64::from(limit));
    if backend == DbBackend::Postgres {
        find = find.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let mut rows = find.all(txn).await?;
    if rows.is_empty() {
        return Ok(rows);
    }
    E::update_many()
        .col_expr(q.due, Expr::value(lease_until))
        .col_expr(q.version, Expr::col(q.version).add(1))
        .filter(q.id.is_in(rows.iter().map(&id_of)))
        .exec(txn)
        .await?;
    rows.iter_mut().for_each(leased);
    Ok(rows)
}

async fn claim_mail(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<mail::Model>, DbFailure> {
    let q = Queue {
        status: mail::Column::Status,
        pending: MailStatus::Pending.as_str(),
        due: mail::Column::NextAttemptAt,
        id: mail::Column::Id,
        version: mail::Column::Version,
    };
    lease_due::<mail::Entity>(
        txn,
        backend,
        q,
        (now, lease_until, limit),
        |m| m.id,
        |m| {
            m.next_attempt_at = Some(lease_until);
            m.version += 1;
        },
    )
    .await
}

async fn claim(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<delivery::Model>, DbFailure> {
    let q = Queue {
        status: delivery::Column::Status,
        pending: DeliveryStatus::Pending.as_str(),
        due: delivery::Column::NextRetryAt,
        id: delivery::Column::Id,
        version: delivery::Column::Version,
    };
    lease_due::<delivery::Entity>(
        txn,
        backend,
        q,
        (now, lease_until, limit),
        |d| d.id,
        |d| {
            d.next_retry_at = Some(lease_until);
            d.version += 1;
        },
    )
    .await
}

/// Entities with a UUID primary key (`id`, or the parent's id for rows that extend one).
pub(crate) trait Keyed: EntityTrait {
    fn id_col() -> Self::Column;
}

/// Entities with an optimistic-concurrency `version`.
pub(crate) trait Versioned: Keyed {
    fn version_col() -> Self::Column;
    /// The columns an update never sets: the primary key, and the columns other tables'
    /// foreign keys point at. SQLite re-checks every child row of a parent key named in an
    /// `UPDATE … SET`, even when its value stays the same, which would make writing an org row
    /// cost as much as its members, or a webhook row as its deliveries.
    fn key_cols() -> Vec<Self::Column> {
        vec![Self::id_col()]
    }
}

macro_rules! keyed {
    ($($m:ident [$($key:ident),*]),* $(,)?) => {$(
        impl Keyed for $m::Entity {
            fn id_col() -> $m::Column {
                $m::Column::Id
            }
        }
        impl Versioned for $m::Entity {
            fn version_col() -> $m::Column {
                $m::Column::Version
            }
            fn key_cols() -> Vec<$m::Column> {
                vec![$m::Column::Id $(, $m::Column::$key)*]
            }
        }
    )*};
}
// A custom role is also the parent of its holders' `(org_id, custom_role)`.
keyed!(
    org[],
    user[],
    invitation[],
    session[],
    membership[],
    role[OrgId, Slug],
    webhook[],
    delivery[],
    scim_token[],
    mail[],
    oauth_credential[],
    billing_credential[],
    upstream_provider[]
);

/// Rows keyed by their parent's id: a profile by its membership, group data by its role.
macro_rules! extends {
    ($($m:ident . $key:ident),* $(,)?) => {$(
        impl Keyed for $m::Entity {
            fn id_col() -> $m::Column {
                $m::Column::$key
            }
        }
        impl Versioned for $m::Entity {
            fn version_col() -> $m::Column {
                $m::Column::Version
            }
        }
    )*};
}
extends!(
    directory_profile.MembershipId,
    directory_group.RoleId,
    smtp_settings.OrgId,
    org_branding.OrgId,
    custom_domain.OrgId
);

async fn exists<E: Keyed>(txn: &DatabaseTransaction, id: Uuid) -> Result<bool, DbFailure>
where
    E::Model: Sync,
{
    Ok(E::find().filter(E::id_col().eq(id)).count(txn).await? > 0)
}

/// After a compare-and-swap matched no row: the row moved on (`StaleVersion`) or is gone
/// (`NotFound`).
async fn stale_or_gone<E: Keyed>(txn: &DatabaseTransaction, id: Uuid) -> DbFailure
where
    E::Model: Sync,
{
    match exists::<E>(txn, id).await {
        Ok(true) => StoreError::Conflict(ConflictKind::StaleVersion).into(),
        Ok(false) => StoreError::NotFound.into(),
        Err(e) => e,
    }
}

/// Inserts a new row. An existing id is `Conflict(Unique(Id))`: PostgreSQL checks the primary
/// key first (the oldest index); SQLite may report another unique index of the same row, so
/// there the id is looked up on that error path only.
async fn insert_new<E: Keyed>(txn: &DatabaseTransaction, row: E::ActiveModel, id: Uuid) -> Result<(), DbFailure>
where
    E::Model: Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let Err(e) = E::insert(row).exec_without_returning(txn).await else {
        return Ok(());
    };
    let failure = DbFailure::from(e);
    let other_key = matches!(
        failure,
        DbFailure::Store(StoreError::Conflict(ConflictKind::Unique(k))) if k != UniqueKey::Id
    );
    if other_key && txn.get_database_backend() == DbBackend::Sqlite && exists::<E>(txn, id).await? {
        return Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::Id)).into());
    }
    Err(failure)
}

/// Version 0 inserts (an existing id conflicts); otherwise a compare-and-swap on `version`.
pub(crate) async fn versioned<E: Versioned>(
    txn: &DatabaseTransaction,
    row: E::ActiveModel,
    id: Uuid,
    loaded: u64,
) -> Result<(), DbFailure>
where
    E::Model: Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    if loaded == 0 {
        return insert_new::<E>(txn, row, id).await;
    }
    let mut row = row;
    for col in E::key_cols() {
        row.not_set(col);
    }
    let updated = E::update_many()
        .set(row)
        .filter(E::id_col().eq(id))
        .filter(E::version_col().eq(version_to_row(loaded)?))
        .exec(txn)
        .await?;
    if updated.rows_affected == 1 {
        return Ok(());
    }
    Err(stale_or_gone::<E>(txn, id).await)
}

/// Deletes a row at the version it was loaded with (stale → `StaleVersion`, gone → `NotFound`).
pub(crate) async fn delete_at<E: Versioned>(txn: &DatabaseTransaction, id: Uuid, loaded: u64) -> Result<(), DbFailure>
where
    E::Model: Sync,
{
    let done = E::delete_many()
        .filter(E::id_col().eq(id))
        .filter(E::version_col().eq(version_to_row(loaded)?))
        .exec(txn)
        .await?;
    if done.rows_affected == 1 {
        return Ok(());
    }
    Err(stale_or_gone::<E>(txn, id).await)
}

/// Locks the head rows of `keys` in one statement (sorted, so concurrent commits never
/// deadlock on them) and returns them; missing heads are created at `seq` 0 first.
async fn lock_heads(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    keys: &BTreeSet<String>,
) -> Result<HashMap<String, head::Model>, DbFailure> {
    let select = |keys: Vec<String>| {
        let q = head::Entity::find()
            .filter(head::Column::LogKey.is_in(keys))
            .order_by_asc(head::Column::LogKey);
        if backend == DbBackend::Postgres {
            q.lock_exclusive()
        } else {
            q
        }
    };
    let mut out: HashMap<String, head::Model> = select(keys.iter().cloned().collect())
        .all(txn)
        .await?
        .into_iter()
        .map(|h| (h.log_key.clone(), h))
        .collect();
    let missing: Vec<String> = keys.iter().filter(|k| !out.contains_key(*k)).cloned().collect();
    if missing.is_empty() {
        return Ok(out);
    }
    let fresh = missing.iter().map(|key| {
        all_set::<_, head::ActiveModel>(head::Model {
            log_key: key.clone(),
            seq: 0,
            hash: None,
            entries: 0,
        })
    });
    head::Entity::insert_many(fresh)
        .on_conflict_do_nothing_on([head::Column::LogKey])
        .exec_without_returning(txn)
        .await?;
    for h in select(missing.clone()).all(txn).await? {
        out.insert(h.log_key.clone(), h);
    }
    if let Some(key) = missing.iter().find(|k| !out.contains_key(*k)) {
        return Err(StoreError::Unavailable(format!("log head {key} vanished")).into());
    }
    Ok(out)
}

fn audit_head_key(log: AuditLog) -> String {
    format!("audit:{}", mapping::log_key(log))
}

fn events_head_key(org: org_domain::OrgId) -> String {
    format!("events:{org}")
}

fn draft_log(d: &org_ports::AuditDraft) -> AuditLog {
    d.org_id.map_or(AuditLog::Platform, AuditLog::Org)
}

/// Prunes audit prefixes, appends audit entries (next `seq` of their log, chained by hash) and
/// outbox events (next `seq` of their org's stream), all under the head locks, and keeps each
/// audit head's entry count (appends add, prunes subtract).
async fn sequence_logs(txn: &DatabaseTransaction, backend: DbBackend, c: &Changeset) -> Result<(), DbFailure> {
    if c.audit.is_empty() && c.events.is_empty() && c.audit_prunes.is_empty() {
        return Ok(());
    }
    let mut keys: BTreeSet<String> = c.audit.iter().map(|d| audit_head_key(draft_log(d))).collect();
    keys.extend(c.audit_prunes.iter().map(|p| audit_head_key(p.log)));
    keys.extend(c.events.iter().map(|e| events_head_key(e.org_id)));
    let mut heads = lock_heads(txn, backend, &keys).await?;
    for p in &c.audit_prunes {
        let through = i64::try_from(p.through_seq).unwrap_or(i64::MAX);
        let key = audit_head_key(p.log);
        let pruned = audit::Entity::delete_many()
            .filter(audit::Column::LogKey.eq(mapping::log_key(p.log)))
            .filter(audit::Column::Seq.lte(through))
            .exec(txn)
            .await?
            .rows_affected;
        if pruned != p.count {
            // Another process pruned (part of) this range since it was read.
            return Err(StoreError::Conflict(ConflictKind::StaleVersion).into());
        }
        let h = locked(&mut heads, &key)?;
        h.entries -= i64::try_from(pruned).unwrap_or(i64::MAX);
    }
    let mut rows = Vec::with_capacity(c.audit.len());
    for d in &c.audit {
        let key = audit_head_key(draft_log(d));
        let h = locked(&mut heads, &key)?;
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
        h.entries += 1;
    }
    insert_chunked::<audit::Entity>(txn, rows).await?;
    let mut rows = Vec::with_capacity(c.events.len());
    for e in &c.events {
        let h = locked(&mut heads, &events_head_key(e.org_id))?;
        h.seq += 1;
        rows.push(all_set::<_, event::ActiveModel>(mapping::event_to_row(e, h.seq)));
    }
    insert_chunked::<event::Entity>(txn, rows).await?;
    for key in &keys {
        if let Some(h) = heads.remove(key) {
            head::Entity::update_many()
                .col_expr(head::Column::Seq, Expr::value(h.seq))
                .col_expr(head::Column::Hash, Expr::value(h.hash))
                .col_expr(head::Column::Entries, Expr::value(h.entries))
                .filter(head::Column::LogKey.eq(key.clone()))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

fn locked<'h>(heads: &'h mut HashMap<String, head::Model>, key: &str) -> Result<&'h mut head::Model, DbFailure> {
    heads
        .get_mut(key)
        .ok_or_else(|| StoreError::Unavailable(format!("log head {key} not locked")).into())
}
