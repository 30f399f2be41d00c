//! Invitations and their lifecycle (§6.1): pending → accepted | rejected | cancelled | expired.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

use crate::error::DomainError;
use crate::event::DomainEvent;
use crate::ids::{InvitationId, OrgId, UserId};
use crate::role::Role;
use crate::values::Email;

/// SHA-256 of a token; the plaintext is never stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// Stored invitation status. A pending invitation past `expires_at` counts as expired
/// everywhere ([`Invitation::status_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Rejected,
    Cancelled,
    Expired,
}

impl InvitationStatus {
    /// Every status.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Accepted,
        Self::Rejected,
        Self::Cancelled,
        Self::Expired,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The state of an invitation, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationRecord {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub email: Email,
    pub role: Role,
    pub status: InvitationStatus,
    pub invited_by: UserId,
    pub token_hash: TokenHash,
    pub ttl_days: u32,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for an invitation not yet stored.
    pub version: u64,
}

/// An invitation. Status changes only through its methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation(InvitationRecord);

/// Parameters of a new invitation.
#[derive(Clone, Debug)]
pub struct NewInvitation {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub email: Email,
    pub role: Role,
    pub invited_by: UserId,
    pub token_hash: TokenHash,
    pub ttl_days: u32,
}

impl Invitation {
    /// Valid TTLs in days (§6.2).
    pub const TTL_DAYS: std::ops::RangeInclusive<u32> = 1..=30;

    /// Rebuilds an invitation from its stored record.
    pub fn restore(record: InvitationRecord) -> Result<Self, DomainError> {
        if !Self::TTL_DAYS.contains(&record.ttl_days) || record.role == Role::Owner {
            return Err(DomainError::invalid("invitation", "corrupt invitation record"));
        }
        Ok(Self(record))
    }

    pub(crate) fn create(new: NewInvitation, now: DateTime<Utc>) -> (Self, DomainEvent) {
        let expires_at = now + Duration::days(i64::from(new.ttl_days));
        let inv = Self(InvitationRecord {
            id: new.id,
            org_id: new.org_id,
            email: new.email,
            role: new.role,
            status: InvitationStatus::Pending,
            invited_by: new.invited_by,
            token_hash: new.token_hash,
            ttl_days: new.ttl_days,
            expires_at,
            created_at: now,
            updated_at: now,
            version: 0,
        });
        let event = DomainEvent::InvitationCreated {
            invitation_id: inv.0.id,
            email: inv.0.email.clone(),
            role: inv.0.role.clone(),
            expires_at,
        };
        (inv, event)
    }

    /// The stored state.
    pub fn record(&self) -> &InvitationRecord {
        &self.0
    }
    /// The same invitation as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }

    /// Status as seen at `now`: a pending invitation past `expires_at` is expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> InvitationStatus {
        if self.0.status == InvitationStatus::Pending && now >= self.0.expires_at {
            InvitationStatus::Expired
        } else {
            self.0.status
        }
    }

    /// Marks a pending invitation past `expires_at` as expired (sweeper, or before re-inviting).
    pub fn expire_if_due(&mut self, now: DateTime<Utc>) -> Option<DomainEvent> {
        if self.0.status == InvitationStatus::Pending && now >= self.0.expires_at {
            self.0.status = InvitationStatus::Expired;
            self.0.updated_at = now;
            Some(DomainEvent::InvitationExpired {
                invitation_id: self.0.id,
                email: self.0.email.clone(),
            })
        } else {
            None
        }
    }

    fn require_open_for_admin(&self, now: DateTime<Utc>) -> Result<(), DomainError> {
        match self.status_at(now) {
            InvitationStatus::Pending => Ok(()),
            _ => Err(DomainError::InvitationNotPending),
        }
    }

    pub(crate) fn require_acceptable(&self, now: DateTime<Utc>) -> Result<(), DomainError> {
        match self.status_at(now) {
            InvitationStatus::Pending => Ok(()),
            InvitationStatus::Expired if self.0.status == InvitationStatus::Pending => {
                Err(DomainError::InvitationExpired)
            }
            _ => Err(DomainError::NotFound),
        }
    }

    /// Cancels (org side). Authorization is [`crate::Access::cancel_invitation`]'s.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<DomainEvent, DomainError> {
        self.require_open_for_admin(now)?;
        self.0.status = InvitationStatus::Cancelled;
        self.0.updated_at = now;
        Ok(DomainEvent::InvitationCancelled {
            invitation_id: self.0.id,
            email: self.0.email.clone(),
        })
    }

    /// Replaces the token and restarts the TTL the invitation was created with.
    pub fn resend(&mut self, token_hash: TokenHash, now: DateTime<Utc>) -> Result<DomainEvent, DomainError> {
        self.require_open_for_admin(now)?;
        self.0.token_hash = token_hash;
        self.0.expires_at = now + Duration::days(i64::from(self.0.ttl_days));
        self.0.updated_at = now;
        Ok(DomainEvent::InvitationResent {
            invitation_id: self.0.id,
            email: self.0.email.clone(),
        })
    }

    /// Declines (invitee side). Unknown or no longer pending → not found; past expiry → expired.
    pub fn decline(&mut self, now: DateTime<Utc>) -> Result<DomainEvent, DomainError> {
        self.require_acceptable(now)?;
        self.0.status = InvitationStatus::Rejected;
        self.0.updated_at = now;
        Ok(DomainEvent::InvitationDeclined {
            invitation_id: self.0.id,
            email: self.0.email.clone(),
        })
    }

    /// Cancels a pending invitation because its org is being deleted (no event of its own).
    pub fn cancel_for_org_deletion(&mut self, now: DateTime<Utc>) {
        if self.0.status == InvitationStatus::Pending {
            self.0.status = InvitationStatus::Cancelled;
            self.0.updated_at = now;
        }
    }

    pub(crate) fn mark_accepted(&mut self, now: DateTime<Utc>) {
        self.0.status = InvitationStatus::Accepted;
        self.0.updated_at = now;
    }
}
