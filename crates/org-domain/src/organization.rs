//! The `Organization` aggregate: it owns its memberships and custom roles and guards every
//! invariant of §3–§7 and §20 (exactly one owner, grant and target rules, caps, lifecycle).

use std::fmt;

use chrono::{DateTime, Utc};

use crate::capability::{Capability, CapabilitySet};
use crate::error::{DomainError, Rule};
use crate::event::{Change, ChangeValue, DomainEvent, JoinedVia};
use crate::ids::{MembershipId, OrgId, RoleId, UserId};
use crate::invitation::{Invitation, NewInvitation};
use crate::role::Role;
use crate::session::RevokeReason;
use crate::tier::{FeatureOverrides, Tier, TierId};
use crate::user::User;
use crate::values::{Description, OrgName, RoleName, RoleSlug, Slug};

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

/// A user's membership in the org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub id: MembershipId,
    pub user_id: UserId,
    pub role: Role,
    pub status: MembershipStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A custom role of the org (§3.4, §7). `permissions` keep what was written; checks use
/// [`CapabilitySet::resolved`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRole {
    pub id: RoleId,
    pub slug: RoleSlug,
    pub name: RoleName,
    pub description: Option<Description>,
    pub permissions: CapabilitySet,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The whole state of an organization, as stored.
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
    /// Memberships ordered by creation.
    pub memberships: Vec<Membership>,
    /// Custom roles ordered by creation.
    pub roles: Vec<CustomRole>,
    /// Optimistic-concurrency version as loaded; 0 for an org not yet stored.
    pub version: u64,
}

/// Who is acting: the user and the platform-owner flag as re-read for this request (§3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub is_platform_owner: bool,
}

/// The actor as resolved against one org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    /// The actor's membership role, if an active member.
    pub role: Option<Role>,
    /// Resolved capabilities used for this decision.
    pub caps: CapabilitySet,
    /// Whether the actor has the owner's rights (the owner, or a platform owner acting as one).
    pub owner_rights: bool,
    /// Whether the decision relied on the platform-owner flag (§1.7 `via_platform_owner`).
    pub via_platform_owner: bool,
}

impl Principal {
    fn need(&self, cap: Capability) -> Result<(), DomainError> {
        if self.caps.contains(cap) {
            Ok(())
        } else {
            Err(DomainError::MissingCapability(cap))
        }
    }

    /// The role to record as the acting role (a platform owner acts as `owner`).
    pub fn acting_role(&self) -> Role {
        if self.via_platform_owner {
            Role::Owner
        } else {
            self.role.clone().unwrap_or(Role::Member)
        }
    }
}

/// A decision and what it caused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub principal: Principal,
    pub events: Vec<DomainEvent>,
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

/// Parameters of a new custom role.
#[derive(Clone, Debug)]
pub struct NewRole {
    pub id: RoleId,
    pub slug: RoleSlug,
    pub name: RoleName,
    pub description: Option<Description>,
    pub permissions: CapabilitySet,
}

/// A partial role update (§7 `PUT`).
#[derive(Clone, Debug, Default)]
pub struct RoleUpdate {
    pub name: Option<RoleName>,
    pub description: Option<Option<Description>>,
    pub permissions: Option<CapabilitySet>,
}

/// A role addressed by id: a built-in (`role_owner` …) or a custom role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleRef {
    BuiltIn(Role),
    Custom(RoleId),
}

impl RoleRef {
    /// Parses `role_owner|role_admin|role_member` or a UUID.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "role_owner" => Some(Self::BuiltIn(Role::Owner)),
            "role_admin" => Some(Self::BuiltIn(Role::Admin)),
            "role_member" => Some(Self::BuiltIn(Role::Member)),
            other => RoleId::parse(other).map(Self::Custom),
        }
    }
}

/// An organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization(OrgState);

fn corrupt(why: &str) -> DomainError {
    DomainError::invalid("organization", format!("corrupt organization record: {why}"))
}

impl Organization {
    /// Rebuilds an organization from storage, refusing a state that breaks an invariant.
    pub fn restore(state: OrgState) -> Result<Self, DomainError> {
        let owners: Vec<&Membership> = state.memberships.iter().filter(|m| m.role == Role::Owner).collect();
        match owners.as_slice() {
            [owner] if owner.user_id == state.owner_user_id && owner.status == MembershipStatus::Active => {}
            _ => return Err(corrupt("exactly one active owner required")),
        }
        let mut users: Vec<UserId> = state.memberships.iter().map(|m| m.user_id).collect();
        users.sort();
        users.dedup();
        if users.len() != state.memberships.len() {
            return Err(corrupt("duplicate membership"));
        }
        for m in &state.memberships {
            if let Role::Custom(slug) = &m.role
                && !state.roles.iter().any(|r| &r.slug == slug)
            {
                return Err(corrupt("membership names an unknown role"));
            }
        }
        Ok(Self(state))
    }

    /// Creates an org whose creator is its owner (§4.3).
    pub fn create(new: NewOrganization, now: DateTime<Utc>) -> (Self, Vec<DomainEvent>) {
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
            memberships: vec![Membership {
                id: new.owner_membership,
                user_id: new.owner,
                role: Role::Owner,
                status: MembershipStatus::Active,
                created_at: now,
                updated_at: now,
            }],
            roles: Vec::new(),
            version: 0,
        };
        let event = DomainEvent::OrgCreated {
            org_id: new.id,
            slug: new.slug,
            name: new.name,
            status: new.status,
        };
        (Self(state), vec![event])
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
    /// The state, by value (for adapters that store it).
    pub fn into_state(self) -> OrgState {
        self.0
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
    /// Whether the org was deleted.
    pub fn is_deleted(&self) -> bool {
        self.0.deleted_at.is_some()
    }

    /// The membership of `user`, whatever its status.
    pub fn membership(&self, user: UserId) -> Option<&Membership> {
        self.0.memberships.iter().find(|m| m.user_id == user)
    }

    /// The active membership of `user`.
    pub fn active_membership(&self, user: UserId) -> Option<&Membership> {
        self.membership(user).filter(|m| m.status == MembershipStatus::Active)
    }

    /// Number of active members.
    pub fn active_member_count(&self) -> u32 {
        let n = self
            .0
            .memberships
            .iter()
            .filter(|m| m.status == MembershipStatus::Active)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Effective member cap (§22.3): org override, else the tier default.
    pub fn member_cap(&self, tier: Option<&Tier>) -> u32 {
        self.0.max_users.or(tier.map(|t| t.default_max_users)).unwrap_or(3)
    }

    /// A custom role by slug.
    pub fn custom_role(&self, slug: &RoleSlug) -> Option<&CustomRole> {
        self.0.roles.iter().find(|r| &r.slug == slug)
    }

    /// A custom role by id.
    pub fn custom_role_by_id(&self, id: RoleId) -> Option<&CustomRole> {
        self.0.roles.iter().find(|r| r.id == id)
    }

    /// Resolved capabilities of a role; `None` for an unknown custom slug.
    pub fn role_caps(&self, role: &Role) -> Option<CapabilitySet> {
        Some(match role {
            Role::Owner => CapabilitySet::all(),
            Role::Admin => CapabilitySet::grantable(),
            Role::Member => CapabilitySet::EMPTY,
            Role::Custom(slug) => self.custom_role(slug)?.permissions.resolved(),
        })
    }

    fn member_principal(&self, actor: &Actor) -> Option<Principal> {
        let m = self.active_membership(actor.user_id)?;
        Some(Principal {
            user_id: actor.user_id,
            role: Some(m.role.clone()),
            caps: self.role_caps(&m.role).unwrap_or(CapabilitySet::EMPTY),
            owner_rights: m.role == Role::Owner,
            via_platform_owner: false,
        })
    }

    /// Runs `check` with the actor's membership; if that fails and the actor is a platform
    /// owner, runs it again with the owner's rights (recorded as `via_platform_owner`).
    /// Neither a member nor a platform owner → not found.
    fn authorize(
        &self,
        actor: &Actor,
        check: impl Fn(&Principal) -> Result<(), DomainError>,
    ) -> Result<Principal, DomainError> {
        let member = self.member_principal(actor);
        if let Some(p) = &member {
            match check(p) {
                Ok(()) => return Ok(p.clone()),
                Err(e) if !actor.is_platform_owner => return Err(e),
                Err(_) => {}
            }
        }
        if !actor.is_platform_owner {
            return Err(DomainError::NotFound);
        }
        let p = Principal {
            user_id: actor.user_id,
            role: member.and_then(|m| m.role),
            caps: CapabilitySet::all(),
            owner_rights: true,
            via_platform_owner: true,
        };
        check(&p)?;
        Ok(p)
    }

    /// Membership rights (§3.1): any active member or platform owner may see the org.
    pub fn view(&self, actor: &Actor) -> Result<Principal, DomainError> {
        let mut p = self.authorize(actor, |_| Ok(()))?;
        p.via_platform_owner = false;
        Ok(p)
    }

    /// Requires a capability (§1.5 step 4) for a read.
    pub fn require(&self, actor: &Actor, cap: Capability) -> Result<Principal, DomainError> {
        self.authorize(actor, |p| p.need(cap))
    }

    /// The active-org gate (§4.7); platform owners are exempt.
    fn gate(&self, actor: &Actor) -> Result<(), DomainError> {
        if self.0.status == OrgStatus::Active || actor.is_platform_owner {
            Ok(())
        } else {
            Err(DomainError::OrgNotActive(self.0.status))
        }
    }

    /// Requires a capability and the active-org gate, for a mutation (§1.5 steps 4 and 6).
    pub fn require_mutable(&self, actor: &Actor, cap: Capability) -> Result<Principal, DomainError> {
        let p = self.require(actor, cap)?;
        self.gate(actor)?;
        Ok(p)
    }

    /// `select` (§4.6): a member or platform owner; the org must be active, no exemption.
    pub fn select(&self, actor: &Actor) -> Result<Principal, DomainError> {
        let p = self.view(actor)?;
        if self.0.status != OrgStatus::Active {
            return Err(DomainError::OrgNotActive(self.0.status));
        }
        Ok(p)
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.0.updated_at = now;
    }

    /// PATCH the org (§4.8): `name` needs `org.settings.manage`; limits are platform-owner only.
    pub fn update(&mut self, actor: &Actor, upd: UpdateOrg, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        self.require(actor, Capability::OrgSettingsManage)?;
        self.gate(actor)?;
        let touches_limits = upd.max_services.is_some() || upd.max_users.is_some();
        let principal = self.authorize(actor, |p| {
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
    pub fn delete(&mut self, actor: &Actor, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        let principal = self.require(actor, Capability::OrgDelete)?;
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

    fn check_grant(&self, p: &Principal, role: &Role) -> Result<(), DomainError> {
        let ok = match role {
            Role::Member => true,
            Role::Admin => p.owner_rights || p.role == Some(Role::Admin),
            Role::Owner => false,
            Role::Custom(_) => self.role_caps(role).is_some_and(|c| c.is_subset_of(p.caps)),
        };
        if ok {
            Ok(())
        } else {
            Err(DomainError::RuleViolation(Rule::Grant))
        }
    }

    fn check_target(&self, p: &Principal, target: &Membership) -> Result<(), DomainError> {
        match &target.role {
            Role::Owner if p.via_platform_owner => Err(DomainError::OwnerInvariant),
            Role::Owner => Err(DomainError::RuleViolation(Rule::TargetIsOwner)),
            Role::Admin if !p.caps.contains(Capability::OrgAdminsManage) => {
                Err(DomainError::RuleViolation(Rule::TargetIsAdmin))
            }
            Role::Admin => Ok(()),
            other => {
                let caps = self.role_caps(other).unwrap_or(CapabilitySet::EMPTY);
                if caps.is_subset_of(p.caps) {
                    Ok(())
                } else {
                    Err(DomainError::RuleViolation(Rule::TargetCapabilities))
                }
            }
        }
    }

    fn known_role(&self, role: &Role) -> Result<(), DomainError> {
        match self.role_caps(role) {
            Some(_) => Ok(()),
            None => Err(DomainError::invalid("role", format!("unknown role '{role}'"))),
        }
    }

    /// Changes a member's role (§5.2). `owner` performs an ownership transfer (§5.6).
    pub fn change_role(
        &mut self,
        actor: &Actor,
        target: UserId,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        self.require_mutable(actor, Capability::OrgRolesManage)?;
        let member = self.membership(target).cloned().ok_or(DomainError::NotFound)?;
        if target == actor.user_id {
            return Err(DomainError::SelfAction);
        }
        if role == Role::Owner {
            return self.transfer_ownership(actor, target, now);
        }
        self.known_role(&role)?;
        let principal = self.authorize(actor, |p| {
            p.need(Capability::OrgRolesManage)?;
            self.check_target(p, &member)?;
            self.check_grant(p, &role)
        })?;
        if member.role == role {
            return Ok(Outcome {
                principal,
                events: Vec::new(),
            });
        }
        self.set_role(target, role.clone(), now);
        self.touch(now);
        let events = vec![DomainEvent::MemberRoleChanged {
            user_id: target,
            old_role: member.role,
            new_role: role,
        }];
        Ok(Outcome { principal, events })
    }

    fn set_role(&mut self, user: UserId, role: Role, now: DateTime<Utc>) {
        if let Some(m) = self.0.memberships.iter_mut().find(|m| m.user_id == user) {
            m.role = role;
            m.updated_at = now;
        }
    }

    /// Removes a member, active or deactivated (§5.3).
    pub fn remove_member(&mut self, actor: &Actor, target: UserId, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        self.require_mutable(actor, Capability::OrgMembersManage)?;
        let member = self.membership(target).cloned().ok_or(DomainError::NotFound)?;
        if target == actor.user_id {
            return Err(DomainError::SelfAction);
        }
        let principal = self.authorize(actor, |p| {
            p.need(Capability::OrgMembersManage)?;
            self.check_target(p, &member)
        })?;
        self.0.memberships.retain(|m| m.user_id != target);
        self.touch(now);
        let events = vec![
            DomainEvent::MemberRemoved {
                user_id: target,
                role: member.role,
                removed_by_role: principal.acting_role(),
            },
            DomainEvent::SessionsRevoked {
                user_id: Some(target),
                reason: RevokeReason::MemberRemoved,
            },
        ];
        Ok(Outcome { principal, events })
    }

    /// Transfers ownership in one step (§5.6): the target becomes owner, the previous owner admin.
    pub fn transfer_ownership(
        &mut self,
        actor: &Actor,
        target: UserId,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let principal = self.require_mutable(actor, Capability::OrgOwnershipTransfer)?;
        self.active_membership(target).ok_or(DomainError::NotFound)?;
        let previous = self.0.owner_user_id;
        if previous == target {
            return Err(DomainError::AlreadyOwner);
        }
        self.set_role(previous, Role::Admin, now);
        self.set_role(target, Role::Owner, now);
        self.0.owner_user_id = target;
        self.touch(now);
        let events = vec![DomainEvent::OwnershipTransferred {
            previous_owner: previous,
            new_owner: target,
        }];
        Ok(Outcome { principal, events })
    }

    /// Authorizes org-side invitation management (§6.3): `org.members.manage`, the active-org
    /// gate for mutations, and for `role` (resend, admin accept, create) the grant rule.
    pub fn authorize_invitations(
        &self,
        actor: &Actor,
        role: Option<&Role>,
        mutating: bool,
    ) -> Result<Principal, DomainError> {
        let p = self.require(actor, Capability::OrgMembersManage)?;
        if mutating {
            self.gate(actor)?;
        }
        match role {
            None => Ok(p),
            Some(role) => self.authorize(actor, |p| {
                p.need(Capability::OrgMembersManage)?;
                if *role != Role::Member {
                    p.need(Capability::OrgRolesManage)?;
                }
                self.check_grant(p, role)
            }),
        }
    }

    /// Creates an invitation (§6.2). `existing_user` is the user holding the e-mail, if any;
    /// `pending` is the org's stored pending invitation for that e-mail, which is expired first
    /// when past due.
    pub fn invite(
        &self,
        actor: &Actor,
        new: NewInvitation,
        existing_user: Option<UserId>,
        pending: Option<&mut Invitation>,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<(Invitation, Outcome), DomainError> {
        self.require(actor, Capability::OrgMembersManage)?;
        self.gate(actor)?;
        if new.role == Role::Owner {
            return Err(DomainError::invalid(
                "role",
                "invitations cannot grant 'owner'; transfer ownership instead",
            ));
        }
        if !Invitation::TTL_DAYS.contains(&new.ttl_days) {
            return Err(DomainError::invalid("expires_in_days", "must be between 1 and 30"));
        }
        self.known_role(&new.role)?;
        let principal = self.authorize_invitations(actor, Some(&new.role), true)?;
        if existing_user.is_some_and(|u| self.membership(u).is_some()) {
            return Err(DomainError::AlreadyMember);
        }
        let mut events = Vec::new();
        if let Some(pending) = pending {
            match pending.expire_if_due(now) {
                Some(expired) => events.push(expired),
                None => return Err(DomainError::PendingInvitationExists),
            }
        }
        if self.active_member_count() >= cap {
            return Err(DomainError::TeamLimitExceeded(cap));
        }
        let (invitation, created) = Invitation::create(new, now);
        events.push(created);
        Ok((invitation, Outcome { principal, events }))
    }

    /// The invitee accepts (§6.4, §6.5): the org must be active and the e-mail must match.
    pub fn accept_invitation(
        &mut self,
        invitation: &mut Invitation,
        user: &User,
        membership_id: MembershipId,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, DomainError> {
        if invitation.record().org_id != self.0.id {
            return Err(DomainError::NotFound);
        }
        invitation.require_acceptable(now)?;
        if invitation.record().email != user.email {
            return Err(DomainError::EmailMismatch);
        }
        if self.0.status != OrgStatus::Active {
            return Err(DomainError::OrgNotActive(self.0.status));
        }
        self.admit(invitation, user, membership_id, cap, JoinedVia::Invitation, now)
    }

    /// An org admin accepts on the invitee's behalf (§6.3 admin accept).
    pub fn admin_accept_invitation(
        &mut self,
        actor: &Actor,
        invitation: &mut Invitation,
        user: &User,
        membership_id: MembershipId,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        if invitation.record().org_id != self.0.id {
            return Err(DomainError::NotFound);
        }
        let role = invitation.record().role.clone();
        let principal = self.authorize_invitations(actor, Some(&role), true)?;
        if invitation.status_at(now) != crate::InvitationStatus::Pending
            && invitation.record().status != crate::InvitationStatus::Pending
        {
            return Err(DomainError::InvitationNotPending);
        }
        invitation.require_acceptable(now)?;
        let events = self.admit(invitation, user, membership_id, cap, JoinedVia::AdminAccept, now)?;
        Ok(Outcome { principal, events })
    }

    fn admit(
        &mut self,
        invitation: &mut Invitation,
        user: &User,
        membership_id: MembershipId,
        cap: u32,
        via: JoinedVia,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, DomainError> {
        if self.membership(user.id).is_some() {
            return Err(DomainError::AlreadyMember);
        }
        if self.active_member_count() >= cap {
            return Err(DomainError::TeamLimitExceeded(cap));
        }
        let role = invitation.record().role.clone();
        self.known_role(&role)?;
        self.0.memberships.push(Membership {
            id: membership_id,
            user_id: user.id,
            role: role.clone(),
            status: MembershipStatus::Active,
            created_at: now,
            updated_at: now,
        });
        invitation.mark_accepted(now);
        self.touch(now);
        let rec = invitation.record();
        Ok(vec![
            DomainEvent::InvitationAccepted {
                invitation_id: rec.id,
                email: rec.email.clone(),
                role: role.clone(),
                user_id: user.id,
                via,
            },
            DomainEvent::MemberAdded {
                user_id: user.id,
                role,
                via,
            },
        ])
    }

    /// Creates a custom role (§7): caps(new) ⊆ caps(caller).
    pub fn create_role(&mut self, actor: &Actor, new: NewRole, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        self.require_mutable(actor, Capability::OrgRolesManage)?;
        if !new.permissions.all_grantable() {
            return Err(DomainError::invalid(
                "permissions",
                "owner-only capabilities cannot be granted to custom roles",
            ));
        }
        let resolved = new.permissions.resolved();
        let principal = self.authorize(actor, |p| {
            p.need(Capability::OrgRolesManage)?;
            if resolved.is_subset_of(p.caps) {
                Ok(())
            } else {
                Err(DomainError::RuleViolation(Rule::Grant))
            }
        })?;
        if self.custom_role(&new.slug).is_some() {
            return Err(DomainError::DuplicateRoleSlug);
        }
        if self.role_name_taken(&new.name, None) {
            return Err(DomainError::DuplicateRoleName);
        }
        let event = DomainEvent::RoleCreated {
            role_id: new.id,
            slug: new.slug.clone(),
            name: new.name.as_str().to_owned(),
            permissions: new.permissions,
        };
        self.0.roles.push(CustomRole {
            id: new.id,
            slug: new.slug,
            name: new.name,
            description: new.description,
            permissions: new.permissions,
            created_at: now,
            updated_at: now,
        });
        self.touch(now);
        Ok(Outcome {
            principal,
            events: vec![event],
        })
    }

    fn role_name_taken(&self, name: &RoleName, except: Option<RoleId>) -> bool {
        let key = name.unique_key();
        self.0
            .roles
            .iter()
            .any(|r| Some(r.id) != except && r.name.unique_key() == key)
    }

    fn custom_role_for_write(&self, actor: &Actor, role: &RoleRef) -> Result<CustomRole, DomainError> {
        self.require_mutable(actor, Capability::OrgRolesManage)?;
        match role {
            RoleRef::BuiltIn(_) => {
                self.authorize(actor, |_| Err(DomainError::RuleViolation(Rule::BuiltInRole)))?;
                Err(DomainError::RuleViolation(Rule::BuiltInRole))
            }
            RoleRef::Custom(id) => self.custom_role_by_id(*id).cloned().ok_or(DomainError::NotFound),
        }
    }

    /// Updates a custom role (§7): caps(old) ⊆ caps(caller) and caps(new) ⊆ caps(caller).
    pub fn update_role(
        &mut self,
        actor: &Actor,
        role: &RoleRef,
        upd: RoleUpdate,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let existing = self.custom_role_for_write(actor, role)?;
        if upd.permissions.is_some_and(|p| !p.all_grantable()) {
            return Err(DomainError::invalid(
                "permissions",
                "owner-only capabilities cannot be granted to custom roles",
            ));
        }
        let old_caps = existing.permissions.resolved();
        let new_caps = upd.permissions.map_or(old_caps, CapabilitySet::resolved);
        let principal = self.authorize(actor, |p| {
            p.need(Capability::OrgRolesManage)?;
            if old_caps.is_subset_of(p.caps) && new_caps.is_subset_of(p.caps) {
                Ok(())
            } else {
                Err(DomainError::RuleViolation(Rule::Grant))
            }
        })?;
        if let Some(name) = &upd.name
            && self.role_name_taken(name, Some(existing.id))
        {
            return Err(DomainError::DuplicateRoleName);
        }
        let mut changes = Vec::new();
        let mut updated = existing.clone();
        if let Some(name) = upd.name {
            changes.extend(Change::of(
                "name",
                Some(existing.name.as_str().to_owned()),
                Some(name.as_str().to_owned()),
            ));
            updated.name = name;
        }
        if let Some(description) = upd.description {
            let text = |d: &Option<Description>| d.as_ref().map(|d| d.as_str().to_owned());
            changes.extend(Change::of(
                "description",
                text(&existing.description),
                text(&description),
            ));
            updated.description = description;
        }
        if let Some(perms) = upd.permissions {
            let list = |c: CapabilitySet| ChangeValue::List(c.iter().map(|c| c.as_str().to_owned()).collect());
            if perms != existing.permissions {
                changes.push(Change {
                    field: "permissions",
                    old: list(existing.permissions),
                    new: list(perms),
                });
            }
            updated.permissions = perms;
        }
        if changes.is_empty() {
            return Ok(Outcome {
                principal,
                events: Vec::new(),
            });
        }
        updated.updated_at = now;
        let event = DomainEvent::RoleUpdated {
            role_id: existing.id,
            slug: existing.slug.clone(),
            changes,
        };
        if let Some(slot) = self.0.roles.iter_mut().find(|r| r.id == existing.id) {
            *slot = updated;
        }
        self.touch(now);
        Ok(Outcome {
            principal,
            events: vec![event],
        })
    }

    /// Deletes a custom role (§7): caps(old) ⊆ caps(caller); refused while members hold it
    /// or `pending_invitations` name it.
    pub fn delete_role(
        &mut self,
        actor: &Actor,
        role: &RoleRef,
        pending_invitations: u64,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let existing = self.custom_role_for_write(actor, role)?;
        let caps = existing.permissions.resolved();
        let principal = self.authorize(actor, |p| {
            p.need(Capability::OrgRolesManage)?;
            if caps.is_subset_of(p.caps) {
                Ok(())
            } else {
                Err(DomainError::RuleViolation(Rule::Grant))
            }
        })?;
        let role = Role::Custom(existing.slug.clone());
        let members = self.0.memberships.iter().filter(|m| m.role == role).count() as u64;
        if members > 0 || pending_invitations > 0 {
            return Err(DomainError::RoleInUse {
                members,
                invitations: pending_invitations,
            });
        }
        self.0.roles.retain(|r| r.id != existing.id);
        self.touch(now);
        Ok(Outcome {
            principal,
            events: vec![DomainEvent::RoleDeleted {
                role_id: existing.id,
                slug: existing.slug,
            }],
        })
    }

    fn platform(actor: &Actor) -> Result<Principal, DomainError> {
        if !actor.is_platform_owner {
            return Err(DomainError::RuleViolation(Rule::PlatformOwnerOnly));
        }
        Ok(Principal {
            user_id: actor.user_id,
            role: None,
            caps: CapabilitySet::all(),
            owner_rights: true,
            via_platform_owner: true,
        })
    }

    fn transition(
        &mut self,
        actor: &Actor,
        from: OrgStatus,
        to: OrgStatus,
        action: &'static str,
        now: DateTime<Utc>,
    ) -> Result<Principal, DomainError> {
        let p = Self::platform(actor)?;
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
        let principal = Self::platform(actor)?;
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
