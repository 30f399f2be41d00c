//! Authorization against one org (§1.5 steps 3–7a, §3): who the actor is there, what they may
//! do, and the grant and target rules of §3.5. Built from exactly what one decision needs: the
//! org row, the actor's own membership and, for a custom role, that role.

use crate::capability::{Capability, CapabilitySet};
use crate::custom_role::{CustomRole, RoleBook};
use crate::error::{DomainError, Rule};
use crate::event::DomainEvent;
use crate::ids::{OrgId, UserId};
use crate::membership::Membership;
use crate::organization::{OrgStatus, Organization};
use crate::role::Role;

/// Who is acting: the user and the platform-owner flag as re-read for this request (§3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub is_platform_owner: bool,
}

impl Actor {
    /// The rule of platform administration (§20): only a platform owner acts, with every
    /// capability and the owner's rights.
    pub fn platform_owner(&self) -> Result<Principal, DomainError> {
        if !self.is_platform_owner {
            return Err(DomainError::RuleViolation(Rule::PlatformOwnerOnly));
        }
        Ok(Principal {
            user_id: self.user_id,
            role: None,
            caps: CapabilitySet::all(),
            owner_rights: true,
            via_platform_owner: true,
        })
    }
}

/// The actor as resolved for one decision.
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
    pub(crate) fn need(&self, cap: Capability) -> Result<(), DomainError> {
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

/// Resolved capabilities of a built-in role, or of a custom role found in `roles`.
pub(crate) fn caps_of(role: &Role, roles: &RoleBook) -> Option<CapabilitySet> {
    match role {
        Role::Custom(slug) => Some(roles.get(slug)?.permissions().resolved()),
        built_in => built_in.built_in_capabilities(),
    }
}

/// The actor resolved against one org: the input of every org-scoped authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    org_id: OrgId,
    org_status: OrgStatus,
    actor: Actor,
    /// The actor's role and its resolved capabilities, when an active member.
    member: Option<(Role, CapabilitySet)>,
    /// A directory principal (a SCIM token), not a user.
    directory: bool,
}

impl Access {
    /// Resolves `actor` in `org` from the actor's own membership (any status) and, when that
    /// membership holds a custom role, the role. Neither an active member nor a platform owner
    /// → not found (§1.5 step 3: no existence leak).
    pub fn resolve(
        org: &Organization,
        actor: Actor,
        membership: Option<&Membership>,
        role: Option<&CustomRole>,
    ) -> Result<Self, DomainError> {
        let member = membership
            .filter(|m| m.is_active() && m.user_id() == actor.user_id && m.org_id() == org.id())
            .map(|m| (m.role().clone(), m.capabilities(role)));
        if member.is_none() && !actor.is_platform_owner {
            return Err(DomainError::NotFound);
        }
        Ok(Self {
            org_id: org.id(),
            org_status: org.status(),
            actor,
            member,
            directory: false,
        })
    }

    /// Access for a directory principal (a SCIM token, §3.5): it acts with `caps` and the rank
    /// of a plain member, never as owner or admin and never through the platform-owner flag.
    pub(crate) fn for_directory(org: &Organization, actor: Actor, caps: CapabilitySet) -> Self {
        Self {
            org_id: org.id(),
            org_status: org.status(),
            actor,
            member: Some((crate::scim_token::DIRECTORY_ROLE, caps)),
            directory: true,
        }
    }

    /// Whether this is a directory principal (a SCIM token) rather than a user.
    pub fn is_directory(&self) -> bool {
        self.directory
    }

    /// The org.
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }
    /// The actor.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    /// The actor's role, when an active member.
    pub fn role(&self) -> Option<&Role> {
        self.member.as_ref().map(|(r, _)| r)
    }

    fn member_principal(&self) -> Option<Principal> {
        self.member.as_ref().map(|(role, caps)| Principal {
            user_id: self.actor.user_id,
            role: Some(role.clone()),
            caps: *caps,
            owner_rights: *role == Role::Owner,
            via_platform_owner: false,
        })
    }

    /// Runs `check` with the actor's membership; if that fails and the actor is a platform
    /// owner, runs it again with the owner's rights (recorded as `via_platform_owner`).
    pub(crate) fn authorize(
        &self,
        check: impl Fn(&Principal) -> Result<(), DomainError>,
    ) -> Result<Principal, DomainError> {
        let member = self.member_principal();
        if let Some(p) = &member {
            match check(p) {
                Ok(()) => return Ok(p.clone()),
                Err(e) if !self.actor.is_platform_owner => return Err(e),
                Err(_) => {}
            }
        }
        if !self.actor.is_platform_owner {
            return Err(DomainError::NotFound);
        }
        let p = Principal {
            user_id: self.actor.user_id,
            role: member.and_then(|m| m.role),
            caps: CapabilitySet::all(),
            owner_rights: true,
            via_platform_owner: true,
        };
        check(&p)?;
        Ok(p)
    }

    /// Membership rights (§3.1): any active member or platform owner may see the org.
    pub fn view(&self) -> Principal {
        match self.member_principal() {
            Some(p) => p,
            None => Principal {
                user_id: self.actor.user_id,
                role: None,
                caps: CapabilitySet::all(),
                owner_rights: true,
                via_platform_owner: false,
            },
        }
    }

    /// Requires a capability (§1.5 step 4), for a read.
    pub fn require(&self, cap: Capability) -> Result<Principal, DomainError> {
        self.authorize(|p| p.need(cap))
    }

    /// The active-org gate (§4.7); platform owners are exempt.
    pub(crate) fn gate(&self) -> Result<(), DomainError> {
        if self.org_status == OrgStatus::Active || self.actor.is_platform_owner {
            Ok(())
        } else {
            Err(DomainError::OrgNotActive(self.org_status))
        }
    }

    /// Requires a capability and the active-org gate, for a mutation (§1.5 steps 4 and 6).
    pub fn require_mutable(&self, cap: Capability) -> Result<Principal, DomainError> {
        let p = self.require(cap)?;
        self.gate()?;
        Ok(p)
    }

    /// `select` (§4.6): a member or platform owner; the org must be active, no exemption.
    pub fn select(&self) -> Result<Principal, DomainError> {
        if self.org_status != OrgStatus::Active {
            return Err(DomainError::OrgNotActive(self.org_status));
        }
        Ok(self.view())
    }

    /// The grant rule (§3.5): assigning `role` needs it to be `member`, or `admin` by an
    /// owner or admin, or a custom role whose capabilities the caller holds.
    pub(crate) fn check_grant(p: &Principal, role: &Role, roles: &RoleBook) -> Result<(), DomainError> {
        let ok = match role {
            Role::Member => true,
            Role::Admin => p.owner_rights || p.role == Some(Role::Admin),
            Role::Owner => false,
            Role::Custom(_) => caps_of(role, roles).is_some_and(|c| c.is_subset_of(p.caps)),
        };
        if ok {
            Ok(())
        } else {
            Err(DomainError::RuleViolation(Rule::Grant))
        }
    }

    /// The target rule (§3.5): never the owner; an admin needs `org.admins.manage`; anyone
    /// else needs caps(role(M)) ⊆ caps(caller).
    pub(crate) fn check_target(p: &Principal, target: &Membership, roles: &RoleBook) -> Result<(), DomainError> {
        match target.role() {
            Role::Owner if p.via_platform_owner => Err(DomainError::OwnerInvariant),
            Role::Owner => Err(DomainError::RuleViolation(Rule::TargetIsOwner)),
            Role::Admin if !p.caps.contains(Capability::OrgAdminsManage) => {
                Err(DomainError::RuleViolation(Rule::TargetIsAdmin))
            }
            Role::Admin => Ok(()),
            other => {
                let caps = caps_of(other, roles).unwrap_or(CapabilitySet::EMPTY);
                if caps.is_subset_of(p.caps) {
                    Ok(())
                } else {
                    Err(DomainError::RuleViolation(Rule::TargetCapabilities))
                }
            }
        }
    }
}
