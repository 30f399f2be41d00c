//! Organization use cases (§4): create, list, get, select, update, delete.

use org_domain::{
    DomainError, DomainEvent, FieldError, Membership, MembershipId, NewOrganization, OrgId, OrgName, OrgStatus,
    Organization, Slug, Tier, UpdateOrg, User,
};
use org_ports::{Changeset, OrgContext, PageRequest};

use crate::core::{Core, Decision};
use crate::record::{Caller, Recorder, RequestMeta};
use crate::sessions::{IssuedSession, SessionScope};
use crate::{AppError, OrgApproval};

/// An org as `OrganizationResponse` needs it (§4.1).
#[derive(Clone, Debug)]
pub struct OrgView {
    pub org: Organization,
    pub tier: Option<Tier>,
    /// Active members, from the org's kept headcount.
    pub membership_count: u32,
    pub service_count: u32,
}

/// Result of `POST /api/organizations`.
#[derive(Clone, Debug)]
pub struct CreatedOrg {
    pub view: OrgView,
    pub owner: User,
    pub membership: Membership,
    pub session: IssuedSession,
}

/// Result of `select`.
#[derive(Clone, Debug)]
pub struct SelectedOrg {
    pub view: OrgView,
    pub membership: Option<Membership>,
    pub session: IssuedSession,
}

/// One of the caller's orgs with the caller's membership there.
#[derive(Clone, Debug)]
pub struct MyOrg {
    pub view: OrgView,
    pub context: OrgContext,
}

service! {
    /// Organizations (§4).
    OrgService
}

impl Core {
    /// The response view of an org.
    pub fn view(&self, org: Organization) -> OrgView {
        OrgView {
            tier: self.tier_of(&org).cloned(),
            membership_count: org.headcount().active,
            service_count: 0,
            org,
        }
    }
}

impl OrgService {
    /// `POST /api/organizations` (§4.3).
    pub async fn create(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        name: &str,
    ) -> Result<CreatedOrg, AppError> {
        let mut errors: Vec<FieldError> = Vec::new();
        let slug = Slug::parse(slug).map_err(|e| errors.push(e)).ok();
        let name = OrgName::parse(name).map_err(|e| errors.push(e)).ok();
        let (Some(slug), Some(name)) = (slug, name) else {
            return Err(DomainError::Validation(errors).into());
        };
        let core = &self.core;
        let config = &core.config;
        core.retry(|| async {
            let now = core.now();
            let mut owner = core
                .stores
                .users
                .user_by_id(caller.user.id())
                .await?
                .ok_or_else(AppError::not_found)?;
            let actor = org_domain::Actor {
                user_id: owner.id(),
                is_platform_owner: owner.is_platform_owner(),
            };
            let owned = core.stores.orgs.count_orgs_owned_by(owner.id()).await?;
            Organization::check_creation_cap(&actor, owned, config.max_orgs_per_user)?;
            if core.stores.orgs.org_by_slug(&slug).await?.is_some() {
                return Err(AppError::SlugTaken);
            }
            let status = match config.org_approval {
                OrgApproval::Auto => OrgStatus::Active,
                OrgApproval::Manual => OrgStatus::Pending,
            };
            let (org, membership, events) = Organization::create(
                NewOrganization {
                    id: OrgId::from_uuid(core.new_uuid()),
                    slug: slug.clone(),
                    name: name.clone(),
                    owner: owner.id(),
                    owner_membership: MembershipId::from_uuid(core.new_uuid()),
                    status,
                    tier_id: config.default_tier_id.clone(),
                },
                now,
            );
            let scope = if status == OrgStatus::Active {
                SessionScope::Org(org.id(), slug.clone())
            } else {
                SessionScope::Platform
            };
            let session = core.new_session(&owner, scope, meta, now);
            let rec = Recorder::for_caller(core, meta, caller, now);
            let mut c = Changeset::default();
            rec.record(&mut c, Some(org.id()), None, &events);
            // Touching the owner's row serializes concurrent creations for the org-per-user cap.
            owner.touch(now);
            c.users.push(owner.clone());
            c.orgs.push(org.clone());
            c.memberships.push(membership.clone());
            c.sessions.push(session.session.clone());
            // Every org has its risk settings from the start (§16.1).
            c.risk_settings
                .push(org_domain::risk::RiskSettings::defaults(org.id(), now));
            core.commit(c).await?;
            let version = owner.record().version + 1;
            Ok(CreatedOrg {
                view: core.view(org.with_version(1)),
                owner: owner.with_version(version),
                membership: membership.with_version(1),
                session,
            })
        })
        .await
    }

    /// `GET /api/organizations` (§4.4): the caller's orgs with the caller's membership in each.
    pub async fn list_mine(
        &self,
        caller: &Caller,
        status: Option<OrgStatus>,
        page: PageRequest,
    ) -> Result<Vec<MyOrg>, AppError> {
        let page = self
            .core
            .stores
            .orgs
            .orgs_of_member(caller.user.id(), status, page)
            .await?;
        let mut mine: Vec<MyOrg> = page
            .items
            .into_iter()
            .map(|context| MyOrg {
                view: self.core.view(context.org.clone()),
                context,
            })
            .collect();
        self.core
            .fill_service_counts(mine.iter_mut().map(|m| &mut m.view))
            .await?;
        Ok(mine)
    }

    /// `GET /api/organizations/:org_slug` (§4.5): one read.
    pub async fn get(&self, caller: &Caller, slug: &str) -> Result<OrgView, AppError> {
        let (ctx, _access) = self.core.org_context(caller, slug).await?;
        let mut view = self.core.view(ctx.org);
        self.core.fill_service_counts([&mut view]).await?;
        Ok(view)
    }

    /// `POST /api/organizations/:org_slug/select` (§4.6): a new org-scoped session.
    pub async fn select(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<SelectedOrg, AppError> {
        let core = &self.core;
        let (ctx, access) = core.org_context(caller, slug).await?;
        let principal = access.select()?;
        let now = core.now();
        let org = ctx.org;
        let session = core.new_session(&caller.user, SessionScope::Org(org.id(), org.slug().clone()), meta, now);
        let mut c = Changeset::default();
        let event = DomainEvent::SessionCreated {
            session_id: session.session.id,
        };
        Recorder::for_caller(core, meta, caller, now).record(&mut c, Some(org.id()), Some(&principal), &[event]);
        c.sessions.push(session.session.clone());
        core.commit(c).await?;
        let mut view = core.view(org);
        core.fill_service_counts([&mut view]).await?;
        Ok(SelectedOrg {
            view,
            membership: ctx.membership.filter(Membership::is_active),
            session,
        })
    }

    /// `PATCH /api/organizations/:org_slug` (§4.8).
    pub async fn update(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        upd: UpdateOrg,
    ) -> Result<OrgView, AppError> {
        let upd = &upd;
        let mut view = self
            .core
            .mutate(caller, meta, slug, |mut s| async move {
                let outcome = s.org.update(&s.access, upd.clone(), s.now())?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                if !outcome.events.is_empty() {
                    c.orgs.push(s.org.clone());
                }
                Ok(Decision::new(c, self.core.view(s.org)))
            })
            .await?;
        self.core.fill_service_counts([&mut view]).await?;
        Ok(view)
    }

    /// `DELETE /api/organizations/:org_slug` (§4.9).
    pub async fn delete(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<(), AppError> {
        self.core
            .mutate(caller, meta, slug, |mut s| async move {
                let outcome = s.org.delete(&s.access, s.now())?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                for mut inv in self.core.stores.invitations.pending_org_invitations(s.org.id()).await? {
                    inv.cancel_for_org_deletion(s.now());
                    c.invitations.push(inv);
                }
                c.orgs.push(s.org);
                Ok(Decision::new(c, ()))
            })
            .await
    }
}
