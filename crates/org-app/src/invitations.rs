//! Invitation use cases (§6): org side (create, list, get, cancel, resend, admin accept) and
//! invitee side (list mine, accept and decline by id or token).

use org_domain::{
    DomainError, Email, Invitation, InvitationId, InvitationStatus, MembershipId, NewInvitation, Organization, Role,
    Slug, User, UserId,
};
use org_ports::{Changeset, PageRequest};
use serde_json::json;

use crate::members::MemberView;
use crate::record::{Caller, Recorder, RequestMeta};
use crate::{App, AppError, OrgView};

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

impl App {
    async fn with_inviter(&self, invitation: Invitation) -> Result<InvitationView, AppError> {
        let inviter = self.stores().users.user_by_id(invitation.record().invited_by).await?;
        Ok(InvitationView { invitation, inviter })
    }

    async fn org_invitation(&self, org: &Organization, id: &str) -> Result<Invitation, AppError> {
        let id = InvitationId::parse(id).ok_or_else(AppError::not_found)?;
        match self.stores().invitations.invitation_by_id(id).await? {
            Some(inv) if inv.record().org_id == org.id() => Ok(inv),
            _ => Err(AppError::not_found()),
        }
    }

    fn effective_cap(&self, org: &Organization) -> u32 {
        org.member_cap(self.config().tier(&org.state().tier_id))
    }

    /// `POST …/invitations` (§6.2).
    pub async fn create_invitation(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        email: &str,
        role: Option<&str>,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedInvitation, AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let org = self.load_org(slug).await?;
                let actor = caller.actor();
                org.require(&actor, org_domain::Capability::OrgMembersManage)?;
                let email = Email::parse(email).map_err(DomainError::from)?;
                let role = Role::parse(role.unwrap_or("member")).map_err(DomainError::from)?;
                let ttl_days = expires_in_days.unwrap_or(self.config().invitation_ttl_days);
                let existing_user = self.stores().users.user_by_email(&email).await?;
                let mut pending = self.stores().invitations.pending_invitation(org.id(), &email).await?;
                let (token, token_hash) = self.inner.tokens.issue("inv_");
                let now = self.now();
                let new = NewInvitation {
                    id: InvitationId::from_uuid(self.new_uuid()),
                    org_id: org.id(),
                    email,
                    role,
                    invited_by: caller.user.id,
                    token_hash,
                    ttl_days,
                };
                let cap = self.effective_cap(&org);
                let (invitation, outcome) =
                    org.invite(&actor, new, existing_user.map(|u| u.id), pending.as_mut(), cap, now)?;
                let mut c = Changeset::default();
                Recorder::for_caller(self, meta, caller, now).record(
                    &mut c,
                    org.id(),
                    Some(&outcome.principal),
                    &outcome.events,
                );
                c.invitations.extend(pending);
                c.invitations.push(invitation.clone());
                // The org row's version serializes invitations against the member cap (§22.3).
                c.orgs.push(org);
                self.commit(c).await?;
                Ok(CreatedInvitation {
                    view: InvitationView {
                        invitation,
                        inviter: Some(caller.user.clone()),
                    },
                    token,
                })
            }),
        )
        .await
    }

    /// `GET …/invitations` (§6.3), newest first.
    pub async fn list_invitations(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        status: Option<InvitationStatus>,
        page: PageRequest,
    ) -> Result<Vec<InvitationView>, AppError> {
        let org = self
            .read_in_org(caller, meta, slug, org_domain::Capability::OrgMembersManage)
            .await?;
        let page = self
            .stores()
            .invitations
            .org_invitations(org.id(), status, self.now(), page)
            .await?;
        let ids: Vec<UserId> = page.items.iter().map(|i| i.record().invited_by).collect();
        let users = self.stores().users.users_by_ids(&ids).await?;
        Ok(page
            .items
            .into_iter()
            .map(|invitation| {
                let inviter = users.iter().find(|u| u.id == invitation.record().invited_by).cloned();
                InvitationView { invitation, inviter }
            })
            .collect())
    }

    /// `GET …/invitations/:id`.
    pub async fn get_invitation(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<InvitationView, AppError> {
        let org = self
            .read_in_org(caller, meta, slug, org_domain::Capability::OrgMembersManage)
            .await?;
        let inv = self.org_invitation(&org, id).await?;
        self.with_inviter(inv).await
    }

    /// `POST|DELETE …/invitations/:id` — cancel.
    pub async fn cancel_invitation(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<(), AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let org = self.load_org(slug).await?;
                let principal = org.authorize_invitations(&caller.actor(), None, true)?;
                let mut inv = self.org_invitation(&org, id).await?;
                let now = self.now();
                let event = inv.cancel(now)?;
                let mut c = Changeset::default();
                Recorder::for_caller(self, meta, caller, now).record(&mut c, org.id(), Some(&principal), &[event]);
                c.invitations.push(inv);
                self.commit(c).await
            }),
        )
        .await
    }

    /// `POST …/invitations/:id/resend`: a new token and a fresh expiry.
    pub async fn resend_invitation(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<CreatedInvitation, AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let org = self.load_org(slug).await?;
                org.authorize_invitations(&caller.actor(), None, true)?;
                let mut inv = self.org_invitation(&org, id).await?;
                let principal = org.authorize_invitations(&caller.actor(), Some(&inv.record().role), true)?;
                let (token, hash) = self.inner.tokens.issue("inv_");
                let now = self.now();
                let event = inv.resend(hash, now)?;
                let mut c = Changeset::default();
                Recorder::for_caller(self, meta, caller, now).record(&mut c, org.id(), Some(&principal), &[event]);
                c.invitations.push(inv.clone());
                self.commit(c).await?;
                Ok(CreatedInvitation {
                    view: self.with_inviter(inv).await?,
                    token,
                })
            }),
        )
        .await
    }

    /// Finds the user an invitation is addressed to, creating it when absent (platform audit
    /// `user.created`).
    async fn invitee(&self, rec: &Recorder<'_>, c: &mut Changeset, email: &Email) -> Result<User, AppError> {
        if let Some(u) = self.stores().users.user_by_email(email).await? {
            return Ok(u);
        }
        let user = User::new(UserId::from_uuid(self.new_uuid()), email.clone(), None, rec.now);
        let metadata = json!({"email": email.as_str(), "via": "invitation"});
        rec.audit(
            c,
            None,
            "user.created",
            Some(("user", user.id.to_string())),
            metadata,
            false,
            true,
        );
        c.users.push(user.clone());
        Ok(user)
    }

    /// `POST …/invitations/:id/accept` — admin accept (§6.3).
    pub async fn admin_accept_invitation(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<MemberView, AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let mut org = self.load_org(slug).await?;
                org.authorize_invitations(&caller.actor(), None, true)?;
                let mut inv = self.org_invitation(&org, id).await?;
                let now = self.now();
                let mut rec = Recorder::for_caller(self, meta, caller, now);
                let mut c = Changeset::default();
                let user = self.invitee(&rec, &mut c, &inv.record().email.clone()).await?;
                rec.know(&user);
                let cap = self.effective_cap(&org);
                let membership_id = MembershipId::from_uuid(self.new_uuid());
                let outcome = org.admin_accept_invitation(&caller.actor(), &mut inv, &user, membership_id, cap, now)?;
                rec.record(&mut c, org.id(), Some(&outcome.principal), &outcome.events);
                c.invitations.push(inv);
                c.orgs.push(org.clone());
                self.commit(c).await?;
                Ok(MemberView {
                    membership: org.membership(user.id).cloned().ok_or_else(AppError::not_found)?,
                    user,
                })
            }),
        )
        .await
    }

    /// `GET /api/invitations`: the caller's pending, unexpired invitations.
    pub async fn my_invitations(&self, caller: &Caller) -> Result<Vec<MyInvitation>, AppError> {
        let list = self
            .stores()
            .invitations
            .pending_invitations_for(&caller.user.email, self.now())
            .await?;
        let mut out = Vec::with_capacity(list.len());
        for invitation in list {
            if let Some(org) = self.stores().orgs.org_by_id(invitation.record().org_id).await? {
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

    async fn invitation_for_invitee(&self, caller: &Caller, id: &str) -> Result<Invitation, AppError> {
        let id = InvitationId::parse(id).ok_or_else(AppError::not_found)?;
        match self.stores().invitations.invitation_by_id(id).await? {
            Some(inv) if inv.record().email == caller.user.email => Ok(inv),
            _ => Err(AppError::not_found()),
        }
    }

    async fn invitation_by_token(&self, token: &str) -> Result<Invitation, AppError> {
        let hash = self.inner.tokens.hash(token);
        self.stores()
            .invitations
            .invitation_by_token(&hash)
            .await?
            .ok_or_else(AppError::not_found)
    }

    async fn accept(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        find: Find<'_>,
    ) -> Result<(OrgView, org_domain::Membership), AppError> {
        retrying!(self, async {
            let mut inv = match find {
                Find::Token(token) => self.invitation_by_token(token).await?,
                Find::Id(id) => self.invitation_for_invitee(caller, id).await?,
            };
            let mut org = match self.stores().orgs.org_by_id(inv.record().org_id).await? {
                Some(o) if !o.is_deleted() => o,
                _ => return Err(AppError::not_found()),
            };
            let now = self.now();
            let mut c = Changeset::default();
            let cap = self.effective_cap(&org);
            let membership_id = MembershipId::from_uuid(self.new_uuid());
            let events = org.accept_invitation(&mut inv, &caller.user, membership_id, cap, now)?;
            Recorder::for_caller(self, meta, caller, now).record(&mut c, org.id(), None, &events);
            c.invitations.push(inv);
            c.orgs.push(org.clone());
            self.commit(c).await?;
            let membership = org
                .membership(caller.user.id)
                .cloned()
                .ok_or_else(AppError::not_found)?;
            Ok((self.view(org), membership))
        })
    }

    /// `POST /api/invitations/accept` `{token}`.
    pub async fn accept_invitation_by_token(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        token: &str,
    ) -> Result<(OrgView, org_domain::Membership), AppError> {
        self.accept(caller, meta, Find::Token(token)).await
    }

    /// `POST /api/invitations/:id/accept`.
    pub async fn accept_invitation_by_id(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<(OrgView, org_domain::Membership), AppError> {
        self.accept(caller, meta, Find::Id(id)).await
    }

    async fn decline(&self, rec: &Recorder<'_>, mut inv: Invitation) -> Result<(), AppError> {
        let org = self.stores().orgs.org_by_id(inv.record().org_id).await?;
        if org.is_none_or(|o| o.is_deleted()) {
            return Err(AppError::not_found());
        }
        let event = inv.decline(rec.now)?;
        let mut c = Changeset::default();
        rec.record(&mut c, inv.record().org_id, None, &[event]);
        c.invitations.push(inv);
        self.commit(c).await
    }

    /// `POST /api/invitations/:id/decline`.
    pub async fn decline_invitation_by_id(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        id: &str,
    ) -> Result<(), AppError> {
        retrying!(self, async {
            let inv = self.invitation_for_invitee(caller, id).await?;
            self.decline(&Recorder::for_caller(self, meta, caller, self.now()), inv)
                .await
        })
    }

    /// `POST /api/invitations/decline` `{token}` (public; actor `anonymous`).
    pub async fn decline_invitation_by_token(&self, meta: &RequestMeta, token: &str) -> Result<(), AppError> {
        retrying!(self, async {
            let inv = self.invitation_by_token(token).await?;
            self.decline(&Recorder::anonymous(self, meta, self.now()), inv).await
        })
    }

    /// The expiry sweeper (§6.1): marks pending invitations of `org` past `expires_at` as
    /// expired, with actor `system`. Returns how many it expired.
    pub async fn expire_invitations(&self, org: &Organization) -> Result<usize, AppError> {
        let meta = RequestMeta::default();
        retrying!(self, async {
            let now = self.now();
            let rec = Recorder::system(self, &meta, now);
            let mut c = Changeset::default();
            for mut inv in self.stores().invitations.pending_org_invitations(org.id()).await? {
                if let Some(event) = inv.expire_if_due(now) {
                    rec.record(&mut c, org.id(), None, &[event]);
                    c.invitations.push(inv);
                }
            }
            let n = c.invitations.len();
            self.commit(c).await?;
            Ok(n)
        })
    }
}
