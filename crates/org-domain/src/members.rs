//! Member decisions (§5, §6): change a role, remove a member, transfer ownership, invite and
//! admit. Each is decided from exactly what it needs: the actor's [`Access`], the target's
//! membership (`None` when the target is not a member), the custom roles involved, and for
//! ownership and the member cap the org row's kept facts. Checks run in the order of §1.5:
//! capability, active-org gate, target lookup, rules, state.

use chrono::{DateTime, Utc};

use crate::access::{Access, Outcome};
use crate::capability::Capability;
use crate::custom_role::RoleBook;
use crate::error::DomainError;
use crate::event::{DomainEvent, JoinedVia};
use crate::ids::{MembershipId, UserId};
use crate::invitation::{Invitation, InvitationStatus, NewInvitation};
use crate::membership::Membership;
use crate::organization::{OrgStatus, Organization};
use crate::role::Role;
use crate::session::RevokeReason;
use crate::user::User;
use crate::values::Email;

impl Access {
    /// Changes a member's role (§5.2). `owner` transfers ownership (§5.6), which also needs
    /// the org row and the current owner's membership (`owner`; loaded for that case only).
    #[allow(clippy::too_many_arguments)]
    pub fn change_role(
        &self,
        org: &mut Organization,
        target: Option<&mut Membership>,
        owner: Option<&mut Membership>,
        role: Role,
        roles: &RoleBook,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        self.require_mutable(Capability::OrgRolesManage)?;
        let target = target.ok_or(DomainError::NotFound)?;
        if target.user_id() == self.actor().user_id {
            return Err(DomainError::SelfAction);
        }
        if role == Role::Owner {
            let owner = owner.ok_or(DomainError::NotFound)?;
            return self.transfer_ownership(org, Some(target), owner, now);
        }
        roles.knows(&role)?;
        let principal = self.authorize(|p| {
            p.need(Capability::OrgRolesManage)?;
            Access::check_target(p, target, roles)?;
            Access::check_grant(p, &role, roles)
        })?;
        if *target.role() == role {
            return Ok(Outcome {
                principal,
                events: Vec::new(),
            });
        }
        let old_role = target.role().clone();
        target.set_role(role.clone(), now);
        Ok(Outcome {
            principal,
            events: vec![DomainEvent::MemberRoleChanged {
                user_id: target.user_id(),
                old_role,
                new_role: role,
            }],
        })
    }

    /// Removes a member, active or deactivated (§5.3). The caller deletes `target`.
    pub fn remove_member(&self, target: Option<&Membership>, roles: &RoleBook) -> Result<Outcome, DomainError> {
        self.require_mutable(Capability::OrgMembersManage)?;
        let target = target.ok_or(DomainError::NotFound)?;
        if target.user_id() == self.actor().user_id {
            return Err(DomainError::SelfAction);
        }
        let principal = self.authorize(|p| {
            p.need(Capability::OrgMembersManage)?;
            Access::check_target(p, target, roles)
        })?;
        let events = vec![
            DomainEvent::MemberRemoved {
                user_id: target.user_id(),
                role: target.role().clone(),
                removed_by_role: principal.acting_role(),
            },
            DomainEvent::SessionsRevoked {
                user_id: Some(target.user_id()),
                reason: RevokeReason::MemberRemoved,
            },
        ];
        Ok(Outcome { principal, events })
    }

    /// Transfers ownership in one step (§5.6): the target becomes owner, the previous owner
    /// (`owner`, the membership of `org`'s owner) becomes admin, and the org row records it.
    pub fn transfer_ownership(
        &self,
        org: &mut Organization,
        target: Option<&mut Membership>,
        owner: &mut Membership,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let principal = self.require_mutable(Capability::OrgOwnershipTransfer)?;
        let target = target.filter(|m| m.is_active()).ok_or(DomainError::NotFound)?;
        let previous = org.owner();
        if target.user_id() == previous {
            return Err(DomainError::AlreadyOwner);
        }
        if owner.user_id() != previous || *owner.role() != Role::Owner || owner.org_id() != org.id() {
            return Err(DomainError::invalid("owner", "the owner's membership was not loaded"));
        }
        owner.set_role(Role::Admin, now);
        target.set_role(Role::Owner, now);
        org.set_owner(target.user_id(), now);
        Ok(Outcome {
            principal,
            events: vec![DomainEvent::OwnershipTransferred {
                previous_owner: previous,
                new_owner: target.user_id(),
            }],
        })
    }

    /// Authorizes org-side invitation management (§6.3): `org.members.manage`, the active-org
    /// gate for mutations, and for `role` (resend, admin accept, create) the grant rule.
    pub fn authorize_invitations(
        &self,
        role: Option<&Role>,
        roles: &RoleBook,
        mutating: bool,
    ) -> Result<crate::Principal, DomainError> {
        let p = self.require(Capability::OrgMembersManage)?;
        if mutating {
            self.gate()?;
        }
        match role {
            None => Ok(p),
            Some(role) => self.authorize(|p| {
                p.need(Capability::OrgMembersManage)?;
                if *role != Role::Member {
                    p.need(Capability::OrgRolesManage)?;
                }
                Access::check_grant(p, role, roles)
            }),
        }
    }

    /// Step one of creating an invitation (§1.5): `org.members.manage`, then the body's e-mail
    /// and role (`member` when absent). What the e-mail and role name is loaded next, and
    /// [`Access::invite`] decides.
    pub fn invitation_request(&self, email: &str, role: Option<&str>) -> Result<(Email, Role), DomainError> {
        self.require(Capability::OrgMembersManage)?;
        let email = Email::parse(email)?;
        let role = Role::parse(role.unwrap_or("member"))?;
        Ok((email, role))
    }

    /// Creates an invitation (§6.2). `existing_member` is the membership of the user holding
    /// the e-mail, if any; `pending` is the org's stored pending invitation for that e-mail,
    /// which is expired first when past due; `cap` is the effective member cap.
    #[allow(clippy::too_many_arguments)]
    pub fn invite(
        &self,
        org: &Organization,
        new: NewInvitation,
        existing_member: Option<&Membership>,
        pending: Option<&mut Invitation>,
        roles: &RoleBook,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<(Invitation, Outcome), DomainError> {
        self.require(Capability::OrgMembersManage)?;
        self.gate()?;
        if new.role == Role::Owner {
            return Err(DomainError::invalid(
                "role",
                "invitations cannot grant 'owner'; transfer ownership instead",
            ));
        }
        if !Invitation::TTL_DAYS.contains(&new.ttl_days) {
            return Err(DomainError::invalid("expires_in_days", "must be between 1 and 30"));
        }
        roles.knows(&new.role)?;
        let principal = self.authorize_invitations(Some(&new.role), roles, true)?;
        if existing_member.is_some() {
            return Err(DomainError::AlreadyMember);
        }
        let mut events = Vec::new();
        if let Some(pending) = pending {
            match pending.expire_if_due(now) {
                Some(expired) => events.push(expired),
                None => return Err(DomainError::PendingInvitationExists),
            }
        }
        org.require_room(cap)?;
        let (invitation, created) = Invitation::create(new, now);
        events.push(created);
        Ok((invitation, Outcome { principal, events }))
    }

    /// The org's invitation a management call addresses (§6.3): `org.members.manage` and, for
    /// mutations, the active-org gate come first; then an unknown invitation is not found.
    pub fn managed_invitation<'i>(
        &self,
        invitation: Option<&'i mut Invitation>,
        roles: &RoleBook,
    ) -> Result<(crate::Principal, &'i mut Invitation), DomainError> {
        let principal = self.authorize_invitations(None, roles, true)?;
        let invitation = invitation
            .filter(|i| i.record().org_id == self.org_id())
            .ok_or(DomainError::NotFound)?;
        Ok((principal, invitation))
    }

    /// Cancels a pending invitation (§6.3).
    pub fn cancel_invitation(
        &self,
        invitation: Option<&mut Invitation>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let (principal, invitation) = self.managed_invitation(invitation, &RoleBook::default())?;
        let event = invitation.cancel(now)?;
        Ok(Outcome {
            principal,
            events: vec![event],
        })
    }

    /// Resends a pending invitation with a new token (§6.3); the grant rule applies to its role.
    pub fn resend_invitation(
        &self,
        invitation: Option<&mut Invitation>,
        token_hash: crate::TokenHash,
        roles: &RoleBook,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let (_, invitation) = self.managed_invitation(invitation, roles)?;
        let principal = self.authorize_invitations(Some(&invitation.record().role.clone()), roles, true)?;
        let event = invitation.resend(token_hash, now)?;
        Ok(Outcome {
            principal,
            events: vec![event],
        })
    }

    /// An org admin accepts on the invitee's behalf (§6.3 admin accept); `user` is the
    /// invitee's user (found or created by the caller), `existing` their membership.
    #[allow(clippy::too_many_arguments)]
    pub fn admin_accept_invitation(
        &self,
        org: &Organization,
        invitation: Option<&mut Invitation>,
        user: &User,
        existing: Option<&Membership>,
        membership_id: MembershipId,
        roles: &RoleBook,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<(Membership, Outcome), DomainError> {
        let (_, invitation) = self.managed_invitation(invitation, roles)?;
        let role = invitation.record().role.clone();
        let principal = self.authorize_invitations(Some(&role), roles, true)?;
        if invitation.status_at(now) != InvitationStatus::Pending
            && invitation.record().status != InvitationStatus::Pending
        {
            return Err(DomainError::InvitationNotPending);
        }
        invitation.require_acceptable(now)?;
        let (membership, events) = org.admit(
            invitation,
            user,
            existing,
            membership_id,
            roles,
            cap,
            JoinedVia::AdminAccept,
            now,
        )?;
        Ok((membership, Outcome { principal, events }))
    }
}

impl Organization {
    /// The invitee accepts (§6.4, §6.5): the org must be active and the e-mail must match.
    #[allow(clippy::too_many_arguments)]
    pub fn accept_invitation(
        &self,
        invitation: &mut Invitation,
        user: &User,
        existing: Option<&Membership>,
        membership_id: MembershipId,
        roles: &RoleBook,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<(Membership, Vec<DomainEvent>), DomainError> {
        if invitation.record().org_id != self.id() {
            return Err(DomainError::NotFound);
        }
        invitation.require_acceptable(now)?;
        if invitation.record().email != *user.email() {
            return Err(DomainError::EmailMismatch);
        }
        if self.status() != OrgStatus::Active {
            return Err(DomainError::OrgNotActive(self.status()));
        }
        self.admit(
            invitation,
            user,
            existing,
            membership_id,
            roles,
            cap,
            JoinedVia::Invitation,
            now,
        )
    }

    /// Admits `user` with the invited role: a new active membership, if the user is not one
    /// yet and one more active member fits under `cap`. The store backs the cap under
    /// concurrency (it refuses a commit that would take the active count past it).
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        invitation: &mut Invitation,
        user: &User,
        existing: Option<&Membership>,
        membership_id: MembershipId,
        roles: &RoleBook,
        cap: u32,
        via: JoinedVia,
        now: DateTime<Utc>,
    ) -> Result<(Membership, Vec<DomainEvent>), DomainError> {
        if existing.is_some() {
            return Err(DomainError::AlreadyMember);
        }
        self.require_room(cap)?;
        let role = invitation.record().role.clone();
        roles.knows(&role)?;
        let membership = Membership::new(membership_id, self.id(), user.id(), role.clone(), now);
        invitation.mark_accepted(now);
        let rec = invitation.record();
        let events = vec![
            DomainEvent::InvitationAccepted {
                invitation_id: rec.id,
                email: rec.email.clone(),
                role: role.clone(),
                user_id: user.id(),
                via,
            },
            DomainEvent::MemberAdded {
                user_id: user.id(),
                role,
                via,
            },
        ];
        Ok((membership, events))
    }
}

/// Users whose e-mails a member decision's audit entries name (the subjects of its events).
pub fn subjects(events: &[DomainEvent]) -> Vec<UserId> {
    let mut out = Vec::new();
    for e in events {
        match e {
            DomainEvent::OwnershipTransferred {
                previous_owner,
                new_owner,
            } => out.extend([*previous_owner, *new_owner]),
            DomainEvent::MemberAdded { user_id, .. }
            | DomainEvent::MemberRemoved { user_id, .. }
            | DomainEvent::MemberRoleChanged { user_id, .. }
            | DomainEvent::MemberDeactivated { user_id }
            | DomainEvent::MemberReactivated { user_id }
            | DomainEvent::MemberUpdated { user_id, .. } => out.push(*user_id),
            _ => {}
        }
    }
    out
}
