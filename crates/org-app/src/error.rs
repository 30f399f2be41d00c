//! The application error: domain refusals plus what storage and authentication add.

use org_domain::{DomainError, FieldError};
use org_ports::{ConflictKind, StoreError, TokenRejection, UniqueKey};

fn token_text(r: &TokenRejection) -> &'static str {
    match r {
        TokenRejection::Invalid(why) => why,
        TokenRejection::Expired => "Access token has expired",
    }
}

/// Why a use case failed. Adapters map every variant to a status (no wildcard).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// A domain rule refused the operation.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The org slug is taken (409 `DUPLICATE_CONSTRAINT`, fixed detail).
    #[error("This slug is not available")]
    SlugTaken,
    /// Another uniqueness conflict (409 `DUPLICATE_CONSTRAINT`).
    #[error("{0}")]
    Duplicate(String),
    /// A state conflict outside the domain rules (409 `CONFLICT`), e.g. a disabled webhook.
    #[error("{0}")]
    Conflict(String),
    /// Authentication failed (401 `UNAUTHORIZED`), e.g. an invalid refresh token.
    #[error("{0}")]
    Unauthorized(String),
    /// The access token was refused (401 `JWT_ERROR` or `TOKEN_EXPIRED`, §2.1).
    #[error("{}", token_text(.0))]
    Token(TokenRejection),
    /// The caller's budget for this kind of request is spent (429 `RATE_LIMITED`), e.g. a
    /// refresh that would rotate once `rate_limit.refresh_per_ip` is used up.
    #[error("rate limit exceeded")]
    RateLimited,
    /// A token scoped to another org on this org's routes (403 `FORBIDDEN`, §1.5 step 2).
    #[error("token is scoped to another organization; select this organization first")]
    ForeignOrgToken,
    /// Storage conflicts persisted after every retry, or the store is unavailable (503).
    #[error("{0}")]
    Unavailable(String),
    /// An unexpected failure (500); the text is logged, never sent.
    #[error("{0}")]
    Internal(String),
    /// A SCIM protocol error (§10.6), rendered as a SCIM error body on `/scim/v2`.
    #[error("{}", .0.detail)]
    Scim(crate::scim::ScimError),
    /// Internal: a stale version; retried by the use-case loop, never returned.
    #[error("stale version")]
    Stale,
}

impl AppError {
    /// A validation failure of one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Domain(DomainError::Validation(vec![FieldError::new(field, message)]))
    }

    /// Not found.
    pub fn not_found() -> Self {
        Self::Domain(DomainError::NotFound)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            // A lost race on a version, the member cap or a role in use: deciding again on
            // fresh rows answers it (the domain then refuses with the precise error).
            StoreError::Conflict(
                ConflictKind::StaleVersion
                | ConflictKind::MemberCap
                | ConflictKind::RoleInUse
                | ConflictKind::ServiceCap
                | ConflictKind::MauCap,
            ) => Self::Stale,
            StoreError::Conflict(ConflictKind::Unique(key)) => match key {
                UniqueKey::OrgSlug => Self::SlugTaken,
                UniqueKey::RoleSlug => Self::Domain(DomainError::DuplicateRoleSlug),
                UniqueKey::RoleName => Self::Domain(DomainError::DuplicateRoleName),
                UniqueKey::WebhookName => Self::Domain(DomainError::DuplicateWebhookName),
                UniqueKey::DirectoryUserName => Self::Domain(DomainError::DuplicateUserName),
                UniqueKey::ScimToken => Self::Internal("duplicate SCIM token".to_owned()),
                UniqueKey::PendingInvitation => Self::Domain(DomainError::PendingInvitationExists),
                UniqueKey::Membership => Self::Domain(DomainError::AlreadyMember),
                // A concurrent insert of the same user or owner: retrying re-reads the winner.
                // A concurrent verification of the same domain: deciding again sees the winner.
                UniqueKey::UserEmail | UniqueKey::OneOwner | UniqueKey::VerifiedDomain => Self::Stale,
                UniqueKey::Id => Self::Internal("duplicate id".to_owned()),
                UniqueKey::ServiceSlug => Self::Domain(DomainError::DuplicateServiceSlug),
                // A concurrent issue of the same name: deciding again sees the winner.
                UniqueKey::LoginKeyName => Self::Stale,
                UniqueKey::ConnectionId => Self::Domain(DomainError::DuplicateConnectionId),
                UniqueKey::SiemConfigName => Self::Domain(DomainError::DuplicateSiemConfigName),
            },
            StoreError::NotFound => Self::Stale,
            StoreError::Unavailable(why) => Self::Unavailable(why),
            StoreError::Corrupt(why) => Self::Internal(why),
        }
    }
}
