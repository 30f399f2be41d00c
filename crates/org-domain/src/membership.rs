//! A membership: one user's place in one org, its own row and its own unit of change (§4.1,
//! §5). Writes to different memberships never touch each other.

use chrono::{DateTime, Utc};

use crate::capability::CapabilitySet;
use crate::custom_role::CustomRole;
use crate::error::DomainError;
use crate::ids::{MembershipId, OrgId, UserId};
use crate::role::Role;

/// Membership status; deactivated members (SCIM) count as non-members (§1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MembershipStatus {
    Active,
    Deactivated,
}

impl MembershipStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }
    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Active, Self::Deactivated]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The state of a membership, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipRecord {
    pub id: MembershipId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub role: Role,
    pub status: MembershipStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for a membership not yet stored.
    pub version: u64,
}

/// A user's membership in an org. Role and status change only through the decisions of
/// [`crate::Access`], which check the rules of §3.5 first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership(MembershipRecord);

impl Membership {
    /// Rebuilds a membership from storage; an owner must be active (§3.5).
    pub fn restore(record: MembershipRecord) -> Result<Self, DomainError> {
        if record.role == Role::Owner && record.status != MembershipStatus::Active {
            return Err(DomainError::invalid("membership", "corrupt membership: inactive owner"));
        }
        Ok(Self(record))
    }

    /// A new, active membership.
    pub(crate) fn new(id: MembershipId, org_id: OrgId, user_id: UserId, role: Role, now: DateTime<Utc>) -> Self {
        Self(MembershipRecord {
            id,
            org_id,
            user_id,
            role,
            status: MembershipStatus::Active,
            created_at: now,
            updated_at: now,
            version: 0,
        })
    }

    /// What this membership may do, resolved (§3.3): nothing unless active; for a custom
    /// role, the permissions of `custom` when it is this membership's role in this org.
    pub fn capabilities(&self, custom: Option<&CustomRole>) -> CapabilitySet {
        if !self.is_active() {
            return CapabilitySet::EMPTY;
        }
        match (&self.0.role, custom) {
            (Role::Custom(slug), Some(r)) if r.slug() == slug && r.org_id() == self.0.org_id => {
                r.permissions().resolved()
            }
            (role, _) => role.built_in_capabilities().unwrap_or_default(),
        }
    }

    /// The stored state.
    pub fn record(&self) -> &MembershipRecord {
        &self.0
    }
    /// The same membership as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    /// The id.
    pub fn id(&self) -> MembershipId {
        self.0.id
    }
    /// The org.
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    /// The member.
    pub fn user_id(&self) -> UserId {
        self.0.user_id
    }
    /// The role held.
    pub fn role(&self) -> &Role {
        &self.0.role
    }
    /// The status.
    pub fn status(&self) -> MembershipStatus {
        self.0.status
    }
    /// Whether the membership is active.
    pub fn is_active(&self) -> bool {
        self.0.status == MembershipStatus::Active
    }
    /// When the user joined.
    pub fn joined_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    pub(crate) fn set_status(&mut self, status: MembershipStatus, now: DateTime<Utc>) {
        self.0.status = status;
        self.0.updated_at = now;
    }

    pub(crate) fn set_role(&mut self, role: Role, now: DateTime<Utc>) {
        self.0.role = role;
        self.0.updated_at = now;
    }
}
