//! Repository traits (read side) and the unit of work (write side).
//!
//! Every implementation MUST pass the contract suite ([`crate::contract`], feature `contract`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::{
    CustomRole, Email, Invitation, InvitationId, InvitationStatus, Membership, MembershipStatus, OrgId, OrgStatus,
    Organization, Role, RoleSlug, Session, SessionId, Slug, TokenHash, User, UserId,
};
use uuid::Uuid;

use crate::audit::{AuditEntry, AuditFilter, AuditLog, OutboxEvent};
use crate::changeset::Changeset;
use crate::error::StoreError;

/// Offset paging (§1.6): `page` is 1-based, `limit` 1..=100 after clamping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub limit: u32,
}

impl PageRequest {
    /// Clamps `page ≥ 1` and `limit` into 1..=100.
    pub fn new(page: u32, limit: u32) -> Self {
        Self {
            page: page.max(1),
            limit: limit.clamp(1, 100),
        }
    }
    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.limit)
    }
    /// Applies the page to an in-memory list.
    pub fn slice<T: Clone>(&self, all: &[T]) -> Page<T> {
        let start = usize::try_from(self.offset()).unwrap_or(usize::MAX).min(all.len());
        let end = start.saturating_add(self.limit as usize).min(all.len());
        Page {
            items: all[start..end].to_vec(),
            total: Some(all.len() as u64),
        }
    }
}

/// One page of rows and the number of rows matching in total. `total` is `None` for pages
/// read after a keyset position (cursor mode, §1.6), which never count.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: Option<u64>,
}

/// An org with the caller's own membership in it and, when that membership holds a custom
/// role, the role: everything an org-scoped authorization needs, read together.
#[derive(Clone, Debug, PartialEq)]
pub struct OrgContext {
    pub org: Organization,
    pub membership: Option<Membership>,
    pub role: Option<CustomRole>,
}

/// A session, its user and the user's context in the org a request names (if any).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionContext {
    pub session: Session,
    pub user: User,
    /// `None` when no org was asked for, or it is unknown or deleted.
    pub org: Option<OrgContext>,
}

/// Which members to list (§5.1): ordered by `joined_at`, then user id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberQuery {
    pub role: Option<Role>,
    pub status: Option<MembershipStatus>,
    /// Keyset position: only members strictly after `(joined_at, user_id)` (cursor pages).
    pub after: Option<(DateTime<Utc>, UserId)>,
    /// Rows to skip (offset pages; 0 with `after`).
    pub offset: u64,
    pub limit: u32,
}

/// A member and their user record.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberRow {
    pub membership: Membership,
    pub user: User,
}

/// Filters of the platform org list (§20).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgFilter {
    pub status: Option<OrgStatus>,
    /// Case-insensitive substring of slug or name.
    pub q: Option<String>,
}

/// Organization rows (settings, lifecycle, owner and kept member counts).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait OrgRepository: Send + Sync {
    /// The org with this slug that is not deleted.
    async fn org_by_slug(&self, slug: &Slug) -> Result<Option<Organization>, StoreError>;
    /// The org with this id, deleted or not.
    async fn org_by_id(&self, id: OrgId) -> Result<Option<Organization>, StoreError>;
    /// The live org with this slug, `user`'s membership in it (any status) and that
    /// membership's custom role, read in one snapshot (the hot path: one statement where the
    /// store can).
    async fn org_context(&self, slug: &Slug, user: UserId) -> Result<Option<OrgContext>, StoreError>;
    /// Orgs (not deleted) where `user` has an active membership, oldest membership first, each
    /// with that membership and its custom role.
    async fn orgs_of_member(
        &self,
        user: UserId,
        status: Option<OrgStatus>,
        page: PageRequest,
    ) -> Result<Page<OrgContext>, StoreError>;
    /// All orgs that are not deleted, oldest first.
    async fn list_orgs(&self, filter: &OrgFilter, page: PageRequest) -> Result<Page<Organization>, StoreError>;
    /// Number of orgs (not deleted) owned by `user`.
    async fn count_orgs_owned_by(&self, user: UserId) -> Result<u64, StoreError>;
    /// Deleted orgs the purge of §4.9 may remove now, oldest deletion first, at most `limit`:
    /// those without a pending webhook delivery, and every one deleted before
    /// `deleted_before` whatever its deliveries.
    async fn purgeable_orgs(&self, deleted_before: DateTime<Utc>, limit: u32) -> Result<Vec<OrgId>, StoreError>;
}

/// Memberships, one row each (§5).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MembershipRepository: Send + Sync {
    /// The membership of `user` in `org`, any status.
    async fn membership(&self, org: OrgId, user: UserId) -> Result<Option<Membership>, StoreError>;
    /// The memberships in `org` of those of `users` that have one, any status, in no order
    /// (one statement, for a request that names many members).
    async fn memberships_of(&self, org: OrgId, users: &[UserId]) -> Result<Vec<Membership>, StoreError>;
    /// One page of members with their users, ordered by `(joined_at, user_id)`: rows after
    /// `query.after` or from `query.offset`, at most `query.limit`. Its cost does not depend
    /// on the number of members (an index seek, then `limit` rows).
    async fn member_page(&self, org: OrgId, query: &MemberQuery) -> Result<Vec<MemberRow>, StoreError>;
    /// Number of memberships matching the filters (used only when a filter is given; the
    /// unfiltered counts are the org's kept headcount).
    async fn count_members(
        &self,
        org: OrgId,
        role: Option<Role>,
        status: Option<MembershipStatus>,
    ) -> Result<u64, StoreError>;
}

/// Custom roles, one row each (§7).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RoleRepository: Send + Sync {
    /// Every custom role of the org, oldest first.
    async fn custom_roles(&self, org: OrgId) -> Result<Vec<CustomRole>, StoreError>;
    /// The org's custom roles with these slugs (unknown slugs are skipped).
    async fn custom_roles_named(&self, org: OrgId, slugs: &[RoleSlug]) -> Result<Vec<CustomRole>, StoreError>;
}

/// Platform users.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// By id.
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// By normalised e-mail.
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;
    /// Those of `ids` that exist, in any order.
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError>;
}

/// Invitations.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait InvitationRepository: Send + Sync {
    /// By id, in any org.
    async fn invitation_by_id(&self, id: InvitationId) -> Result<Option<Invitation>, StoreError>;
    /// By the hash of its current token.
    async fn invitation_by_token(&self, hash: &TokenHash) -> Result<Option<Invitation>, StoreError>;
    /// The stored `pending` invitation of (org, e-mail), expired or not.
    async fn pending_invitation(&self, org: OrgId, email: &Email) -> Result<Option<Invitation>, StoreError>;
    /// The org's invitations, newest first; `status` filters by the status as seen at `now`
    /// (a pending invitation past `expires_at` is `expired`).
    async fn org_invitations(
        &self,
        org: OrgId,
        status: Option<InvitationStatus>,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<Invitation>, StoreError>;
    /// Every stored `pending` invitation of the org.
    async fn pending_org_invitations(&self, org: OrgId) -> Result<Vec<Invitation>, StoreError>;
    /// Pending, unexpired invitations addressed to `email` in orgs that are not deleted, newest first.
    async fn pending_invitations_for(&self, email: &Email, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError>;
    /// Number of pending, unexpired invitations of the org that name `role`.
    async fn count_pending_with_role(&self, org: OrgId, role: &str, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Sessions.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// By id.
    async fn session_by_id(&self, id: SessionId) -> Result<Option<Session>, StoreError>;
    /// The session and its user and, when `org` names a live org, that org with the user's
    /// membership in it and the membership's custom role: the per-request liveness check of
    /// §2.1 and the caller's org context, read together (one statement where the store can).
    async fn session_context(&self, id: SessionId, org: Option<Slug>) -> Result<Option<SessionContext>, StoreError>;
    /// The session whose current refresh token has this hash, or whose rotations consumed a
    /// token with this hash (any ancestor of the family, not only the direct predecessor).
    async fn session_by_refresh_hash(&self, hash: &TokenHash) -> Result<Option<RefreshMatch>, StoreError>;
}

/// What a refresh token's hash names (§2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshMatch {
    /// The session's current refresh token.
    Current(Session),
    /// A token of the session's family that a rotation consumed at `consumed_at`.
    Consumed {
        session: Session,
        consumed_at: DateTime<Utc>,
    },
}

/// Named leases shared by every process on one database: a worker pass that must run in one
/// process at a time (invitation expiry, audit retention, org purge) holds its lease while it
/// runs, and a process that dies mid-pass loses it when it expires.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait LeaseRepository: Send + Sync {
    /// Takes the lease `name` for `holder` until `until` when it is free at `now` (never taken,
    /// or expired), or renews it when `holder` already has it. Whether `holder` has it now.
    async fn try_lease(
        &self,
        name: &str,
        holder: Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Audit log reads.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AuditRepository: Send + Sync {
    /// Matching entries of one log, newest first (`created_at`, then `seq`). `total` is the
    /// log's kept count when no filter is given, a count of the matches otherwise, and `None`
    /// after a keyset position (`filter.before`), where nothing is counted.
    async fn audit_entries(
        &self,
        log: AuditLog,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError>;
    /// Entries of one log with `seq > after_seq`, ascending by `seq`, at most `limit`
    /// (chain verification and streamed exports read the log in such chunks).
    async fn audit_chain(&self, log: AuditLog, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// The newest entry of the log by `seq` (the chain head), read from the kept head.
    async fn audit_head(&self, log: AuditLog) -> Result<Option<AuditEntry>, StoreError>;
}

/// Outbox reads.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait OutboxRepository: Send + Sync {
    /// The org's events in commit order.
    async fn org_events(&self, org: OrgId) -> Result<Vec<OutboxEvent>, StoreError>;
}

/// The write side: one atomic commit per use case.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Writes the whole changeset in one transaction, or nothing.
    ///
    /// MUST return `Conflict(StaleVersion)` when a stored version differs from the loaded one,
    /// `Conflict(Unique(..))` when a uniqueness rule breaks, `NotFound` when an updated row is
    /// gone, and leave no trace of the changeset in every error case. Audit entries get the next
    /// `seq` of their log in commit order.
    ///
    /// `audit_prunes` is the only way audit entries are ever removed: each deletes the entries
    /// of its log with `seq <= through_seq`, in the same transaction, leaving the log's head (and
    /// so the `seq` and `prev_hash` of the next appended entry) unchanged.
    async fn commit(&self, changes: Changeset) -> Result<(), StoreError>;
}

/// Whether stored data may have changed since a read: a token that differs after every commit,
/// by this process or any other sharing the database. A read cache is valid only while the
/// token it was filled under stands; `None` means the store cannot tell cheaply, and nothing
/// is cached (e.g. several processes on PostgreSQL). Called on every request: it MUST be cheap
/// and MUST NOT block on IO beyond a local check.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait ChangeToken: Send + Sync {
    /// The current token.
    fn current(&self) -> Option<u64>;
}

/// A store implementing every port.
pub trait Store:
    OrgRepository
    + MembershipRepository
    + RoleRepository
    + UserRepository
    + InvitationRepository
    + SessionRepository
    + AuditRepository
    + OutboxRepository
    + crate::WebhookRepository
    + crate::DeliveryQueue
    + crate::DirectoryRepository
    + crate::MailRepository
    + crate::MailQueue
    + crate::SettingsRepository
    + crate::SiemRepository
    + LeaseRepository
    + ChangeToken
    + UnitOfWork
    + crate::RiskRepository
    + crate::ServiceRepository
    + crate::LoginKeyRepository
    + crate::UpstreamRepository
    + crate::LoginRepository
{
}

impl<T> Store for T where
    T: OrgRepository
        + MembershipRepository
        + RoleRepository
        + UserRepository
        + InvitationRepository
        + SessionRepository
        + AuditRepository
        + OutboxRepository
        + crate::WebhookRepository
        + crate::DeliveryQueue
        + crate::DirectoryRepository
        + crate::MailRepository
        + crate::MailQueue
        + crate::SettingsRepository
        + crate::SiemRepository
        + LeaseRepository
        + ChangeToken
        + UnitOfWork
        + crate::RiskRepository
        + crate::ServiceRepository
        + crate::LoginKeyRepository
        + crate::UpstreamRepository
        + crate::LoginRepository
{
}

/// The ports as trait objects, so a test can swap one (e.g. a mocked unit of work).
#[derive(Clone)]
pub struct Stores {
    pub orgs: Arc<dyn OrgRepository>,
    pub members: Arc<dyn MembershipRepository>,
    pub roles: Arc<dyn RoleRepository>,
    pub users: Arc<dyn UserRepository>,
    pub invitations: Arc<dyn InvitationRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub audit: Arc<dyn AuditRepository>,
    pub outbox: Arc<dyn OutboxRepository>,
    pub webhooks: Arc<dyn crate::WebhookRepository>,
    pub queue: Arc<dyn crate::DeliveryQueue>,
    pub directory: Arc<dyn crate::DirectoryRepository>,
    pub mail: Arc<dyn crate::MailRepository>,
    pub mail_queue: Arc<dyn crate::MailQueue>,
    pub settings: Arc<dyn crate::SettingsRepository>,
    pub leases: Arc<dyn LeaseRepository>,
    pub siem: Arc<dyn crate::SiemRepository>,
    pub changes: Arc<dyn ChangeToken>,
    pub uow: Arc<dyn UnitOfWork>,
    pub risk: Arc<dyn crate::RiskRepository>,
    pub services: Arc<dyn crate::ServiceRepository>,
    pub login_keys: Arc<dyn crate::LoginKeyRepository>,
    pub upstream: Arc<dyn crate::UpstreamRepository>,
    pub logins: Arc<dyn crate::LoginRepository>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stores")
    }
}

impl Stores {
    /// Every port served by one store.
    pub fn from_store<S: Store + 'static>(store: Arc<S>) -> Self {
        Self {
            orgs: store.clone(),
            members: store.clone(),
            roles: store.clone(),
            users: store.clone(),
            invitations: store.clone(),
            sessions: store.clone(),
            audit: store.clone(),
            outbox: store.clone(),
            webhooks: store.clone(),
            queue: store.clone(),
            directory: store.clone(),
            mail: store.clone(),
            mail_queue: store.clone(),
            settings: store.clone(),
            leases: store.clone(),
            siem: store.clone(),
            changes: store.clone(),
            risk: store.clone(),
            services: store.clone(),
            login_keys: store.clone(),
            upstream: store.clone(),
            logins: store.clone(),
            uow: store,
        }
    }
}
