//! Sessions: one refresh-token family each (§2.4). Tokens are kept only as hashes.

use chrono::{DateTime, Utc};

use crate::ids::{OrgId, ServiceId, SessionId, UserId};
use crate::invitation::TokenHash;

/// What a session is scoped to (§2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionKind {
    Platform,
    Org,
    Service,
}

impl SessionKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Org => "org",
            Self::Service => "service",
        }
    }
    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Platform, Self::Org, Self::Service]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// Why a session was revoked (§2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevokeReason {
    Logout,
    RefreshTokenReuse,
    MemberRemoved,
    MemberDeactivated,
    OrgSuspended,
    OrgDeleted,
    ServiceDeleted,
    EndUserRevoked,
    UserDisabled,
}

impl RevokeReason {
    /// Every reason.
    pub const ALL: [RevokeReason; 9] = [
        Self::Logout,
        Self::RefreshTokenReuse,
        Self::MemberRemoved,
        Self::MemberDeactivated,
        Self::OrgSuspended,
        Self::OrgDeleted,
        Self::ServiceDeleted,
        Self::EndUserRevoked,
        Self::UserDisabled,
    ];

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::MemberRemoved => "member_removed",
            Self::MemberDeactivated => "member_deactivated",
            Self::OrgSuspended => "org_suspended",
            Self::OrgDeleted => "org_deleted",
            Self::ServiceDeleted => "service_deleted",
            Self::EndUserRevoked => "end_user_revoked",
            Self::UserDisabled => "user_disabled",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// The token pair the latest rotation answered (§2.5 replay window): a replay of the direct
/// predecessor inside the window is answered with it again. Both are credentials: durable
/// stores keep them sealed (scope `sessions`, columns `replay_access` / `replay_refresh`, the
/// session's row) and `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct RotationReplay {
    pub access_token: String,
    pub refresh_token: String,
}

impl std::fmt::Debug for RotationReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RotationReplay([REDACTED])")
    }
}

/// A session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub kind: SessionKind,
    pub org_id: Option<OrgId>,
    /// Hash of the current refresh token.
    pub refresh_hash: TokenHash,
    /// Hash of the direct predecessor of the current refresh token, with its rotation time.
    pub previous_hash: Option<(TokenHash, DateTime<Utc>)>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<RevokeReason>,
    /// The response of the rotation that consumed `previous_hash`; `None` for a session never
    /// rotated. Stores keep what is written (each rotation replaces it); the replay window,
    /// measured from `previous_hash`'s rotation time, bounds when it is answered.
    pub replay: Option<RotationReplay>,
    pub version: u64,
    /// The service of a `service` session (§2.4), `None` for the others.
    pub service_id: Option<ServiceId>,
}

impl Session {
    /// Whether the session may still authenticate at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.absolute_expires_at
    }

    /// Marks the session revoked (idempotent: the first reason wins).
    pub fn revoke(&mut self, reason: RevokeReason, now: DateTime<Utc>) {
        if self.revoked_at.is_none() {
            self.revoked_at = Some(now);
            self.revoke_reason = Some(reason);
        }
    }
}
