//! Invitation use cases (§6): org side (create, list, get, cancel, resend, admin accept) and
//! invitee side (list mine, accept and decline by id or token), and the expiry sweeper.
//! Acceptance adds one membership row and raises the org's kept active count under the
//! member cap, which the store enforces at commit (§22.3).

use org_domain::{
    Capability, Email, Invitation, InvitationId, InvitationStatus, Membership, MembershipId, NewInvitation,
    Organization, Role, RoleBook, Slug, User, UserId, UserVia,
};
use org_ports::{Changeset, PageRequest};

use crate::core::Decision;
use crate::members::MemberView;
use crate::record::{Caller, Recorder, RequestMeta};
use crate::{AppError, OrgView};

/// An invitation with its inviter.
#[derive(Clone, Debug)]
pub struct InvitationView {
    pub invitation: Invitation,
    pub inviter: Option<User>,
}

/// An invitation and its plaintext token, shown once.
#[derive(Clone, Debug)]
pub struct CreatedInvitation {
    pub view: InvitationView,
    pub token: String,
}

/// One of the caller's pending invitations (§6.4).
#[derive(Clone, Debug)]
pub struct MyInvitation {
    pub invitation: Invitation,
    pub org_slug: Slug,
    pub org_name: String,
}

/// How the invitee names the invitation.
#[derive(Clone, Copy)]
enum Find<'a> {
    Token(&'a str),
    Id(&'a str),
}

service! {
    /// Invitations (§6).
    InvitationService
}

impl InvitationService {
    async fn with_inviter(&self, invitation: Invitation) -> Result<InvitationView, AppError> {
        let inviter = self
            .core
            .stores
            .users
            .user_by_id(invitation.record().invited_by)
            .await?;
        Ok(InvitationView { invitation, inviter })
    }

    /// The org's invitation with this id; `None` for an unknown id or another org's.
    async fn org_invitation(&self, org: &Organization, id: &str) -> Result<Option<Invitation>, AppError> {
        let Some(id) = InvitationId::parse(id) else {
            return Ok(None);
        };
        Ok(self
            .core
            .stores
            .invitations
            .invitation_by_id(id)
            .await?
            .filter(|inv| inv.record().org_id == org.id()))
    }

    async fn membership_of(&self, org: &Organization, user: Option<&User>) -> Result<Option<Membership>, AppError> {
        match user {
            Some(u) => Ok(self.core.stores.members.membership(org.id(), u.id()).await?),
            None => Ok(None),
        }
    }

    /// `POST …/invitations` (§6.2).
    pub async fn create(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        email: &str,
        role: Option<&str>,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedInvitation, AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let (email, role) = s.access.invitation_request(email, role)?;
            let ttl_days = expires_in_days.unwrap_or(core.config.invitation_ttl_days);
            let existing_user = core.stores.users.user_by_email(&email).await?;
            let existing = self.membership_of(&s.org, existing_user.as_ref()).await?;
            let mut pending = core.stores.invitations.pending_invitation(s.org.id(), &email).await?;
            let roles = core.roles_named(s.org.id(), &[&role]).await?;
            let (token, token_hash) = core.tokens.issue("inv_");
            let new = NewInvitation {
                id: InvitationId::from_uuid(core.new_uuid()),
                org_id: s.org.id(),
                email,
                role,
                invited_by: caller.user.id(),
                token_hash,
                ttl_days,
            };
            let cap = core.member_cap(&s.org);
            let (invitation, outcome) =
                s.access
                    .invite(&s.org, new, existing.as_ref(), pending.as_mut(), &roles, cap, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.invitations.extend(pending);
            c.invitations.push(invitation.clone());
            c.mails.push(crate::mail::invitation_mail(
                core,
                &s.org,
                &invitation,
                &caller.user,
                &token,
            ));
            let view = InvitationView {
                invitation: invitation.with_version(1),
                inviter: Some(caller.user.clone()),
            };
            Ok(Decision::new(c, CreatedInvitation { view, token }))
        })
        .await
    }

    /// `GET …/invitations` (§6.3), newest first.
    pub async fn list(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        status: Option<InvitationStatus>,
        page: PageRequest,
    ) -> Result<Vec<InvitationView>, AppError> {
        let core = &self.core;
        let (org, _) = core
            .read(caller, meta, slug, |a| a.require(Capability::OrgMembersManage))
            .await?;
        let page = core
            .stores
            .invitations
            .org_invitations(org.id(), status, core.now(), page)
            .await?;
        let ids: Vec<UserId> = page.items.iter().map(|i| i.record().invited_by).collect();
        let users = core.stores.users.users_by_ids(&ids).await?;
        Ok(page
            .items
            .into_iter()
            .map(|invitation| {
                let inviter = users.iter().find(|u| u.id() == invitation.record().invited_by).cloned();
                InvitationView { invitation, inviter }
            })
            .collect())
    }

    /// `GET …/invitations/:id`.
    pub async fn get(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<InvitationView, AppError> {
        let (org, _) = self
            .core
            .read(caller, meta, slug, |a| a.require(Capability::OrgMembersManage))
            .await?;
        let inv = self.org_invitation(&org, id).await?.ok_or_else(AppError::not_found)?;
        self.with_inviter(inv).await
    }

    /// `POST|DELETE …/invitations/:id` — cancel.
    pub async fn cancel(&self, caller: &Caller, meta: &RequestMeta, slug: &str, id: &str) -> Result<(), AppError> {
        self.core
            .mutate(caller, meta, slug, |s| async move {
                let mut inv = self.org_invitation(&s.org, id).await?;
                let outcome = s.access.cancel_invitation(inv.as_mut(), s.now())?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                c.invitations.extend(inv);
                Ok(Decision::new(c, ()))
            })
            .await
    }

    /// `POST …/invitations/:id/resend`: a new token and a fresh expiry.
    pub async fn resend(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<CreatedInvitation, AppError> {
        let core = &self.core;
        let (invitation, token) = core
            .mutate(caller, meta, slug, |s| async move {
                let mut inv = self.org_invitation(&s.org, id).await?;
                let role = inv.as_ref().map(|i| i.record().role.clone()).unwrap_or(Role::Member);
                let roles = core.roles_named(s.org.id(), &[&role]).await?;
                let (token, hash) = core.tokens.issue("inv_");
                let outcome = s.access.resend_invitation(inv.as_mut(), hash, &roles, s.now())?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                let inv = inv.ok_or_else(AppError::not_found)?;
                c.invitations.push(inv.clone());
                c.mails
                    .push(crate::mail::invitation_mail(core, &s.org, &inv, &caller.user, &token));
                let version = inv.record().version + 1;
                Ok(Decision::new(c, (inv.with_version(version), token)))
            })
            .await?;
        Ok(CreatedInvitation {
            view: self.with_inviter(invitation).await?,
            token,
        })
    }

    /// Finds the user an invitation is addressed to, creating it when absent (platform audit
    /// `user.created`).
    async fn invitee(&self, rec: &Recorder<'_>, c: &mut Changeset, email: &Email) -> Result<User, AppError> {
        if let Some(u) = self.core.stores.users.user_by_email(email).await? {
            return Ok(u);
        }
        let (user, created) = User::create(
            UserId::from_uuid(self.core.new_uuid()),
            email.clone(),
            None,
            false,
            UserVia::Invitation,
            rec.now,
        );
        rec.record(c, None, None, &[created]);
        c.users.push(user.clone());
        Ok(user)
    }

    /// `POST …/invitations/:id/accept` — admin accept (§6.3).
    pub async fn admin_accept(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<MemberView, AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |mut s| async move {
            let mut found = self.org_invitation(&s.org, id).await?;
            // Capability and gate first, then the lookup (§1.5 steps 4, 6, 7).
            let (_, inv) = s.access.managed_invitation(found.as_mut(), &RoleBook::default())?;
            let mut c = Changeset::default();
            let email = inv.record().email.clone();
            let user = self.invitee(&s.rec, &mut c, &email).await?;
            s.rec.know(&user);
            let existing = self.membership_of(&s.org, Some(&user)).await?;
            let roles = core.roles_named(s.org.id(), &[&inv.record().role.clone()]).await?;
            let cap = core.member_cap(&s.org);
            let mid = MembershipId::from_uuid(core.new_uuid());
            let (membership, outcome) = s.access.admin_accept_invitation(
                &s.org,
                found.as_mut(),
                &user,
                existing.as_ref(),
                mid,
                &roles,
                cap,
                s.now(),
            )?;
            s.rec
                .record(&mut c, Some(s.org.id()), Some(&outcome.principal), &outcome.events);
            c.invitations.extend(found);
            c.memberships.push(membership.clone());
            c.member_cap = Some(cap);
            Ok(Decision::new(
                c,
                MemberView {
                    membership: membership.with_version(1),
                    user,
                },
            ))
        })
        .await
    }

    /// `GET /api/invitations`: the caller's pending, unexpired invitations.
    pub async fn mine(&self, caller: &Caller) -> Result<Vec<MyInvitation>, AppError> {
        let core = &self.core;
        let list = core
            .stores
            .invitations
            .pending_invitations_for(caller.user.email(), core.now())
            .await?;
        let mut out = Vec::with_capacity(list.len());
        for invitation in list {
            if let Some(org) = core.stores.orgs.org_by_id(invitation.record().org_id).await? {
                let st = org.state();
                out.push(MyInvitation {
                    org_slug: st.slug.clone(),
                    org_name: st.name.as_str().to_owned(),
                    invitation,
                });
            }
        }
        Ok(out)
    }

    async fn for_invitee(&self, caller: &Caller, id: &str) -> Result<Invitation, AppError> {
        let id = InvitationId::parse(id).ok_or_else(AppError::not_found)?;
        match self.core.stores.invitations.invitation_by_id(id).await? {
            Some(inv) if inv.record().email == *caller.user.email() => Ok(inv),
            _ => Err(AppError::not_found()),
        }
    }

    async fn by_token(&self, token: &str) -> Result<Invitation, AppError> {
        let hash = self.core.tokens.hash(token);
        self.core
            .stores
            .invitations
            .invitation_by_token(&hash)
            .await?
            .ok_or_else(AppError::not_found)
    }

    async fn live_org(&self, inv: &Invitation) -> Result<Organization, AppError> {
        match self.core.stores.orgs.org_by_id(inv.record().org_id).await? {
            Some(o) if !o.is_deleted() => Ok(o),
            _ => Err(AppError::not_found()),
        }
    }

    async fn accept(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        find: Find<'_>,
    ) -> Result<(OrgView, Membership), AppError> {
        let core = &self.core;
        core.retry(|| async {
            let mut inv = match find {
                Find::Token(token) => self.by_token(token).await?,
                Find::Id(id) => self.for_invitee(caller, id).await?,
            };
            let org = self.live_org(&inv).await?;
            let now = core.now();
            let existing = self.membership_of(&org, Some(&caller.user)).await?;
            let roles = core.roles_named(org.id(), &[&inv.record().role.clone()]).await?;
            let cap = core.member_cap(&org);
            let mid = MembershipId::from_uuid(core.new_uuid());
            let (membership, events) =
                org.accept_invitation(&mut inv, &caller.user, existing.as_ref(), mid, &roles, cap, now)?;
            let mut c = Changeset::default();
            Recorder::for_caller(core, meta, caller, now).record(&mut c, Some(org.id()), None, &events);
            c.invitations.push(inv);
            c.memberships.push(membership.clone());
            c.member_cap = Some(cap);
            core.commit(c).await?;
            // The view shows the count this acceptance made.
            let mut state = org.state().clone();
            state.headcount.active += 1;
            state.headcount.total += 1;
            let org = Organization::restore(state).map_err(AppError::from)?;
            Ok((core.view(org), membership.with_version(1)))
        })
        .await
    }

    /// `POST /api/invitations/accept` `{token}`.
    pub async fn accept_by_token(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        token: &str,
    ) -> Result<(OrgView, Membership), AppError> {
        let (mut view, m) = self.accept(caller, meta, Find::Token(token)).await?;
        self.core.fill_service_counts([&mut view]).await?;
        Ok((view, m))
    }

    /// `POST /api/invitations/:id/accept`.
    pub async fn accept_by_id(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<(OrgView, Membership), AppError> {
        let (mut view, m) = self.accept(caller, meta, Find::Id(id)).await?;
        self.core.fill_service_counts([&mut view]).await?;
        Ok((view, m))
    }

    async fn decline(&self, rec: &Recorder<'_>, mut inv: Invitation) -> Result<(), AppError> {
        self.live_org(&inv).await?;
        let event = inv.decline(rec.now)?;
        let mut c = Changeset::default();
        rec.record(&mut c, Some(inv.record().org_id), None, &[event]);
        c.invitations.push(inv);
        self.core.commit(c).await
    }

    /// `POST /api/invitations/:id/decline`.
    pub async fn decline_by_id(&self, caller: &Caller, meta: &RequestMeta, id: &str) -> Result<(), AppError> {
        let core = &self.core;
        core.retry(|| async {
            let inv = self.for_invitee(caller, id).await?;
            self.decline(&Recorder::for_caller(core, meta, caller, core.now()), inv)
                .await
        })
        .await
    }

    /// `POST /api/invitations/decline` `{token}` (public; actor `anonymous`).
    pub async fn decline_by_token(&self, meta: &RequestMeta, token: &str) -> Result<(), AppError> {
        let core = &self.core;
        core.retry(|| async {
            let inv = self.by_token(token).await?;
            self.decline(&Recorder::anonymous(core, meta, core.now()), inv).await
        })
        .await
    }

    /// The expiry sweeper (§6.1): marks pending invitations of `org` past `expires_at` as
    /// expired, with actor `system`. Returns how many it expired.
    pub async fn expire(&self, org: &Organization) -> Result<usize, AppError> {
        let core = &self.core;
        let meta = RequestMeta::default();
        core.retry(|| async {
            let now = core.now();
            let rec = Recorder::system(core, &meta, now);
            let mut c = Changeset::default();
            for mut inv in core.stores.invitations.pending_org_invitations(org.id()).await? {
                if let Some(event) = inv.expire_if_due(now) {
                    rec.record(&mut c, Some(org.id()), None, &[event]);
                    c.invitations.push(inv);
                }
            }
            let n = c.invitations.len();
            core.commit(c).await?;
            Ok(n)
        })
        .await
    }
}
