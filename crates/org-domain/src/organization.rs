//! The `Organization` aggregate: the org row. It holds the org's settings, its lifecycle
//! (§4.7, §20) and the org-wide facts member decisions need, kept as data: the owner and the
//! member counts. Memberships and custom roles are their own aggregates ([`crate::Membership`],
//! [`crate::CustomRole`]); a decision loads only the ones it needs.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::access::{Access, Actor, Outcome, Principal};
use crate::capability::Capability;
use crate::error::{DomainError, Rule};
use crate::event::{Change, ChangeValue, DomainEvent};
use crate::ids::{MembershipId, OrgId, UserId};
use crate::membership::Membership;
use crate::role::Role;
use crate::session::RevokeReason;
use crate::tier::{FeatureOverrides, Tier, TierId};
use crate::values::{OrgName, Slug};

/// Organization status (§4.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrgStatus {
    Pending,
    Active,
    Rejected,
    Suspended,
}

impl OrgStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Active, Self::Rejected, Self::Suspended];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for OrgStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Member counts kept with the org and changed in the same transaction as the memberships
/// they count (§5.1, §22.3): what the member cap and the member list's totals are read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Headcount {
    /// Active memberships.
    pub active: u32,
    /// All memberships, active and deactivated.
    pub total: u32,
}

/// The state of an organization, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgState {
    pub id: OrgId,
    pub slug: Slug,
    pub name: OrgName,
    pub owner_user_id: UserId,
    pub status: OrgStatus,
    pub tier_id: TierId,
    pub max_services: Option<u32>,
    pub max_users: Option<u32>,
    pub approved_by: Option<UserId>,
    pub approved_at: Option<DateTime<Utc>>,
    pub rejected_by: Option<UserId>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub suspension_reason: Option<String>,
    pub feature_overrides: Option<FeatureOverrides>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Counts as loaded. Stores maintain them from the membership writes of each commit; the
    /// org row's `version` does not change with them, so member writes never conflict here.
    pub headcount: Headcount,
    /// Optimistic-concurrency version as loaded; 0 for an org not yet stored. Bumped by
    /// settings, lifecycle and ownership changes only.
    pub version: u64,
}

/// Parameters of a new organization.
#[derive(Clone, Debug)]
pub struct NewOrganization {
    pub id: OrgId,
    pub slug: Slug,
    pub name: OrgName,
    pub owner: UserId,
    pub owner_membership: MembershipId,
    pub status: OrgStatus,
    pub tier_id: TierId,
}

/// A PATCH of §4.8: `None` leaves a field unchanged; `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default)]
pub struct UpdateOrg {
    pub name: Option<OrgName>,
    pub max_services: Option<Option<u32>>,
    pub max_users: Option<Option<u32>>,
}

/// A platform PATCH of §20.
#[derive(Clone, Debug, Default)]
pub struct LimitsUpdate {
    pub tier_id: Option<TierId>,
    pub max_services: Option<Option<u32>>,
    pub max_users: Option<Option<u32>>,
    pub feature_overrides: Option<Option<FeatureOverrides>>,
}

/// An organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization(OrgState);

impl Organization {
    /// Rebuilds an organization from storage, refusing counts that cannot be (a live org has
    /// at least its owner; a deleted one may have been purged of its members).
    pub fn restore(state: OrgState) -> Result<Self, DomainError> {
        let live = state.deleted_at.is_none();
        if state.headcount.active > state.headcount.total || (live && state.headcount.active == 0) {
            return Err(DomainError::invalid(
                "organization",
                "corrupt organization record: impossible member counts",
            ));
        }
        Ok(Self(state))
    }

    /// Creates an org whose creator is its owner (§4.3): the org and the owner's membership.
    pub fn create(new: NewOrganization, now: DateTime<Utc>) -> (Self, Membership, Vec<DomainEvent>) {
        let active = new.status == OrgStatus::Active;
        let state = OrgState {
            id: new.id,
            slug: new.slug.clone(),
            name: new.name.clone(),
            owner_user_id: new.owner,
            status: new.status,
            tier_id: new.tier_id,
            max_services: None,
            max_users: None,
            approved_by: None,
            approved_at: active.then_some(now),
            rejected_by: None,
            rejected_at: None,
            rejection_reason: None,
            suspended_at: None,
            suspension_reason: None,
            feature_overrides: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            // The owner's membership is inserted with the org; the store counts it.
            headcount: Headcount { active: 1, total: 1 },
            version: 0,
        };
        let owner = Membership::new(new.owner_membership, new.id, new.owner, Role::Owner, now);
        let event = DomainEvent::OrgCreated {
            org_id: new.id,
            slug: new.slug,
            name: new.name,
            status: new.status,
        };
        (Self(state), owner, vec![event])
    }

    /// The org-per-user cap of §4.2 (platform owners exempt).
    pub fn check_creation_cap(actor: &Actor, owned: u64, max: u32) -> Result<(), DomainError> {
        if actor.is_platform_owner || owned < u64::from(max) {
            Ok(())
        } else {
            Err(DomainError::OrgCapReached)
        }
    }

    /// The stored state.
    pub fn state(&self) -> &OrgState {
        &self.0
    }
    /// The same org as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    /// The id.
    pub fn id(&self) -> OrgId {
        self.0.id
    }
    /// The slug.
    pub fn slug(&self) -> &Slug {
        &self.0.slug
    }
    /// The status.
    pub fn status(&self) -> OrgStatus {
        self.0.status
    }
    /// The owner.
    pub fn owner(&self) -> UserId {
        self.0.owner_user_id
    }
    /// Whether the org was deleted.
    pub fn is_deleted(&self) -> bool {
        self.0.deleted_at.is_some()
    }
    /// The member counts as loaded.
    pub fn headcount(&self) -> Headcount {
        self.0.headcount
    }

    /// Effective member cap (§22.3): org override, else the tier default, else 3.
    /// The effective features (§22.2): the tier's (`None`: unknown tier, nothing), each
    /// overridden by the org's `feature_overrides`.
    pub fn features(&self, tier: Option<&Tier>) -> crate::tier::Features {
        crate::tier::Features::effective(tier, self.0.feature_overrides.as_ref())
    }

    pub fn member_cap(&self, tier: Option<&Tier>) -> u32 {
        self.0.max_users.or(tier.map(|t| t.default_max_users)).unwrap_or(3)
    }

    /// `limit.source` of the member list (§5.1): `custom` when the org sets `max_users`, else
    /// the tier name.
    pub fn cap_source(&self, tier: Option<&Tier>) -> String {
        match (self.0.max_users, tier) {
            (None, Some(t)) => t.name.clone(),
            _ => "custom".to_owned(),
        }
    }

    /// The member cap as a rule (§22.3): one more active member must fit under `cap`.
    pub fn require_room(&self, cap: u32) -> Result<(), DomainError> {
        if self.0.headcount.active >= cap {
            Err(DomainError::TeamLimitExceeded(cap))
        } else {
            Ok(())
        }
    }

    pub(crate) fn set_owner(&mut self, owner: UserId, now: DateTime<Utc>) {
        self.0.owner_user_id = owner;
        self.touch(now);
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.0.updated_at = now;
    }

    /// PATCH the org (§4.8): `name` needs `org.settings.manage`; limits are platform-owner only.
    pub fn update(&mut self, access: &Access, upd: UpdateOrg, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        access.require_mutable(Capability::OrgSettingsManage)?;
        let touches_limits = upd.max_services.is_some() || upd.max_users.is_some();
        let principal = access.authorize(|p| {
            p.need(Capability::OrgSettingsManage)?;
            if touches_limits && !p.via_platform_owner {
                return Err(DomainError::RuleViolation(Rule::PlatformOwnerOnly));
            }
            Ok(())
        })?;
        if upd.max_users == Some(Some(0)) {
            return Err(DomainError::invalid("max_users", "must be at least 1"));
        }
        let mut changes = Vec::new();
        if let Some(name) = upd.name {
            changes.extend(Change::of("name", name_value(&self.0.name), name_value(&name)));
            self.0.name = name;
        }
        self.apply_limits(upd.max_services, upd.max_users, &mut changes);
        let events = if changes.is_empty() {
            Vec::new()
        } else {
            self.touch(now);
            vec![DomainEvent::OrgUpdated { changes }]
        };
        Ok(Outcome { principal, events })
    }

    fn apply_limits(&mut self, services: Option<Option<u32>>, users: Option<Option<u32>>, changes: &mut Vec<Change>) {
        if let Some(v) = services {
            changes.extend(Change::of("max_services", self.0.max_services, v));
            self.0.max_services = v;
        }
        if let Some(v) = users {
            changes.extend(Change::of("max_users", self.0.max_users, v));
            self.0.max_users = v;
        }
    }

    /// Deletes the org (§4.9): `org.delete` (owner) or platform owner; no active-org gate.
    pub fn delete(&mut self, access: &Access, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        let principal = access.require(Capability::OrgDelete)?;
        self.0.deleted_at = Some(now);
        self.touch(now);
        let events = vec![
            DomainEvent::OrgDeleted {
                org_id: self.0.id,
                slug: self.0.slug.clone(),
                name: self.0.name.clone(),
            },
            DomainEvent::SessionsRevoked {
                user_id: None,
                reason: RevokeReason::OrgDeleted,
            },
        ];
        Ok(Outcome { principal, events })
    }

    fn transition(
        &mut self,
        actor: &Actor,
        from: OrgStatus,
        to: OrgStatus,
        action: &'static str,
        now: DateTime<Utc>,
    ) -> Result<Principal, DomainError> {
        let p = actor.platform_owner()?;
        if self.0.status != from {
            return Err(DomainError::InvalidTransition {
                from: self.0.status,
                action,
            });
        }
        self.0.status = to;
        self.touch(now);
        Ok(p)
    }

    fn status_event(from: OrgStatus, to: OrgStatus, tier_id: Option<TierId>, reason: Option<String>) -> DomainEvent {
        DomainEvent::OrgStatusChanged {
            old: from,
            new: to,
            tier_id,
            reason,
        }
    }

    /// `pending` → `active` (§20), optionally moving to another tier.
    pub fn approve(&mut self, actor: &Actor, tier: Option<TierId>, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        let principal = self.transition(actor, OrgStatus::Pending, OrgStatus::Active, "approve", now)?;
        self.0.approved_by = Some(actor.user_id);
        self.0.approved_at = Some(now);
        if let Some(t) = &tier {
            self.0.tier_id = t.clone();
        }
        let tier_id = Some(self.0.tier_id.clone());
        Ok(Outcome {
            principal,
            events: vec![Self::status_event(OrgStatus::Pending, OrgStatus::Active, tier_id, None)],
        })
    }

    /// `pending` → `rejected` (§20).
    pub fn reject(&mut self, actor: &Actor, reason: String, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        let principal = self.transition(actor, OrgStatus::Pending, OrgStatus::Rejected, "reject", now)?;
        self.0.rejected_by = Some(actor.user_id);
        self.0.rejected_at = Some(now);
        self.0.rejection_reason = Some(reason.clone());
        Ok(Outcome {
            principal,
            events: vec![Self::status_event(
                OrgStatus::Pending,
                OrgStatus::Rejected,
                None,
                Some(reason),
            )],
        })
    }

    /// `active` → `suspended` (§20); revokes every session of the org.
    pub fn suspend(
        &mut self,
        actor: &Actor,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let principal = self.transition(actor, OrgStatus::Active, OrgStatus::Suspended, "suspend", now)?;
        self.0.suspended_at = Some(now);
        self.0.suspension_reason = reason.clone();
        let events = vec![
            Self::status_event(OrgStatus::Active, OrgStatus::Suspended, None, reason),
            DomainEvent::SessionsRevoked {
                user_id: None,
                reason: RevokeReason::OrgSuspended,
            },
        ];
        Ok(Outcome { principal, events })
    }

    /// `suspended` → `active` (§20); clears the suspension record.
    pub fn activate(&mut self, actor: &Actor, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        let principal = self.transition(actor, OrgStatus::Suspended, OrgStatus::Active, "activate", now)?;
        self.0.suspended_at = None;
        self.0.suspension_reason = None;
        Ok(Outcome {
            principal,
            events: vec![Self::status_event(OrgStatus::Suspended, OrgStatus::Active, None, None)],
        })
    }

    /// Platform PATCH of tier, limits and feature overrides (§20).
    pub fn update_limits(
        &mut self,
        actor: &Actor,
        upd: LimitsUpdate,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let principal = actor.platform_owner()?;
        if upd.max_users == Some(Some(0)) {
            return Err(DomainError::invalid("max_users", "must be at least 1"));
        }
        let mut changes = Vec::new();
        if let Some(tier) = upd.tier_id {
            changes.extend(Change::of(
                "tier_id",
                Some(self.0.tier_id.to_string()),
                Some(tier.to_string()),
            ));
            self.0.tier_id = tier;
        }
        self.apply_limits(upd.max_services, upd.max_users, &mut changes);
        if let Some(overrides) = upd.feature_overrides
            && overrides != self.0.feature_overrides
        {
            changes.push(Change {
                field: "feature_overrides",
                old: ChangeValue::Text(format!("{:?}", self.0.feature_overrides.is_some())),
                new: ChangeValue::Text(format!("{:?}", overrides.is_some())),
            });
            self.0.feature_overrides = overrides;
        }
        let events = if changes.is_empty() {
            Vec::new()
        } else {
            self.touch(now);
            vec![DomainEvent::OrgLimitsUpdated { changes }]
        };
        Ok(Outcome { principal, events })
    }
}

fn name_value(name: &OrgName) -> Option<String> {
    Some(name.as_str().to_owned())
}
