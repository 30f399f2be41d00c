//! The small semantic error set every store returns.

/// Which uniqueness rule a write broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UniqueKey {
    /// Slug among orgs that are not deleted.
    OrgSlug,
    /// User e-mail.
    UserEmail,
    /// One membership per (org, user).
    Membership,
    /// One owner per org.
    OneOwner,
    /// One pending invitation per (org, e-mail).
    PendingInvitation,
    /// Custom role slug per org.
    RoleSlug,
    /// Custom role name per org (case-insensitive).
    RoleName,
    /// Webhook endpoint name per org, among endpoints not deleted.
    WebhookName,
    /// Directory `userName` per org (case-insensitive).
    DirectoryUserName,
    /// SCIM token hash.
    ScimToken,
    /// A domain held verified (§14): at most one org holds each domain verified.
    VerifiedDomain,
    /// A row with the same primary key exists.
    Id,
    /// Service slug per org (§19.1).
    ServiceSlug,
    /// Login key name among live keys (§2.9).
    LoginKeyName,
    /// Upstream provider `connection_id` per org (§11).
    ConnectionId,
    /// SIEM config name per org (§17).
    SiemConfigName,
}

/// Why a write conflicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// The stored version differs from the loaded one (optimistic concurrency).
    StaleVersion,
    /// A uniqueness rule.
    Unique(UniqueKey),
    /// Admitting the commit's members would raise the active count above its member cap.
    MemberCap,
    /// A custom role to delete is still held by a membership (or a membership names a role
    /// that no longer exists).
    RoleInUse,
    /// The commit's new services would raise the org's kept service count above its cap.
    ServiceCap,
    /// The commit's end-user logins would raise the org's monthly active users above its cap.
    MauCap,
}

/// A store failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The row to update does not exist.
    #[error("not found")]
    NotFound,
    /// A concurrent or duplicate write; nothing of the changeset was stored.
    #[error("conflict: {0:?}")]
    Conflict(ConflictKind),
    /// The database is unavailable or busy after retries.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored row violates a domain rule; it is never turned into an aggregate.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether retrying the whole use case may succeed.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::Conflict(ConflictKind::StaleVersion))
    }
}
