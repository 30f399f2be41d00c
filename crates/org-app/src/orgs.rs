//! Organization use cases (§4): create, list, get, select, update, delete; plus the shared
//! load–decide–commit loop every org-scoped use case runs in.

use org_domain::{
    Capability, DomainError, FieldError, Membership, MembershipId, NewOrganization, OrgId, OrgName, OrgStatus,
    Organization, Slug, Tier, UpdateOrg, User,
};
use org_ports::{Changeset, PageRequest};
use serde_json::json;

use crate::record::{Caller, Recorder, RequestMeta};
use crate::sessions::{IssuedSession, SessionScope};
use crate::{App, AppError, OrgApproval};

/// An org as `OrganizationResponse` needs it (§4.1).
#[derive(Clone, Debug)]
pub struct OrgView {
    pub org: Organization,
    pub tier: Option<Tier>,
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

impl App {
    pub(crate) fn view(&self, org: Organization) -> OrgView {
        let tier = self.config().tier(&org.state().tier_id).cloned();
        OrgView {
            membership_count: org.active_member_count(),
            service_count: 0,
            tier,
            org,
        }
    }

    /// Loads a live org by slug text; a malformed slug is simply unknown.
    pub(crate) async fn load_org(&self, slug: &str) -> Result<Organization, AppError> {
        let slug = Slug::parse(slug).map_err(|_| AppError::not_found())?;
        self.stores()
            .orgs
            .org_by_slug(&slug)
            .await?
            .ok_or_else(AppError::not_found)
    }

    pub(crate) async fn commit(&self, changes: Changeset) -> Result<(), AppError> {
        if changes.is_empty() {
            return Ok(());
        }
        Ok(self.stores().uow.commit(changes).await?)
    }

    /// Passes `result` through; a 403 given to a member first writes `authorization.denied`
    /// (§1.5) in a transaction of its own.
    pub(crate) async fn guarded<T>(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        result: Result<T, AppError>,
    ) -> Result<T, AppError> {
        if let Err(AppError::Domain(e)) = &result
            && e.missing().is_some()
            && let Ok(org) = self.load_org(slug).await
        {
            self.write_denied(caller, meta, org.id(), e).await;
        }
        result
    }

    async fn write_denied(&self, caller: &Caller, meta: &RequestMeta, org: OrgId, e: &DomainError) {
        let missing = e.missing().unwrap_or_default();
        let route = meta.route.clone().unwrap_or_default();
        let now = self.now();
        if !self
            .inner
            .denied
            .admit((caller.user.id.to_string(), route.clone(), missing.to_owned()), now)
        {
            return;
        }
        let rec = Recorder::for_caller(self, meta, caller, now);
        let mut c = Changeset::default();
        let metadata = json!({"method": meta.method, "route": route, "missing": missing});
        rec.audit(&mut c, Some(org), "authorization.denied", None, metadata, false, false);
        // Best effort: the refusal stands even if its audit entry cannot be written.
        let _ = self.commit(c).await;
    }

    /// `POST /api/organizations` (§4.3).
    pub async fn create_org(
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
        let config = self.config();
        retrying!(self, async {
            let now = self.now();
            let mut owner = self
                .stores()
                .users
                .user_by_id(caller.user.id)
                .await?
                .ok_or_else(AppError::not_found)?;
            let actor = org_domain::Actor {
                user_id: owner.id,
                is_platform_owner: owner.is_platform_owner,
            };
            let owned = self.stores().orgs.count_orgs_owned_by(owner.id).await?;
            Organization::check_creation_cap(&actor, owned, config.max_orgs_per_user)?;
            if self.stores().orgs.org_by_slug(&slug).await?.is_some() {
                return Err(AppError::SlugTaken);
            }
            let status = match config.org_approval {
                OrgApproval::Auto => OrgStatus::Active,
                OrgApproval::Manual => OrgStatus::Pending,
            };
            let (org, events) = Organization::create(
                NewOrganization {
                    id: OrgId::from_uuid(self.new_uuid()),
                    slug: slug.clone(),
                    name: name.clone(),
                    owner: owner.id,
                    owner_membership: MembershipId::from_uuid(self.new_uuid()),
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
            let session = self.new_session(&owner, scope, meta, now);
            let rec = Recorder::for_caller(self, meta, caller, now);
            let mut c = Changeset::default();
            rec.record(&mut c, org.id(), None, &events);
            // Touching the owner's row serializes concurrent creations for the org-per-user cap.
            owner.updated_at = now;
            c.users.push(owner.clone());
            c.orgs.push(org.clone());
            c.sessions.push(session.session.clone());
            self.commit(c).await?;
            let membership = org.state().memberships[0].clone();
            owner.version += 1;
            Ok(CreatedOrg {
                view: self.view(org),
                owner,
                membership,
                session,
            })
        })
    }

    /// `GET /api/organizations` (§4.4).
    pub async fn list_my_orgs(
        &self,
        caller: &Caller,
        status: Option<OrgStatus>,
        page: PageRequest,
    ) -> Result<Vec<OrgView>, AppError> {
        let page = self.stores().orgs.orgs_of_member(caller.user.id, status, page).await?;
        Ok(page.items.into_iter().map(|o| self.view(o)).collect())
    }

    /// `GET /api/organizations/:org_slug` (§4.5).
    pub async fn get_org(&self, caller: &Caller, slug: &str) -> Result<OrgView, AppError> {
        let org = self.load_org(slug).await?;
        org.view(&caller.actor())?;
        Ok(self.view(org))
    }

    /// `POST /api/organizations/:org_slug/select` (§4.6): a new org-scoped session.
    pub async fn select_org(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<SelectedOrg, AppError> {
        let org = self.load_org(slug).await?;
        org.select(&caller.actor())?;
        let now = self.now();
        let session = self.new_session(&caller.user, SessionScope::Org(org.id(), org.slug().clone()), meta, now);
        let rec = Recorder::for_caller(self, meta, caller, now);
        let mut c = Changeset::default();
        let sid = session.session.id.to_string();
        rec.audit(
            &mut c,
            Some(org.id()),
            "session.created",
            Some(("session", sid.clone())),
            json!({"session_id": sid}),
            false,
            true,
        );
        c.sessions.push(session.session.clone());
        self.commit(c).await?;
        let membership = org.active_membership(caller.user.id).cloned();
        Ok(SelectedOrg {
            view: self.view(org),
            membership,
            session,
        })
    }

    /// `PATCH /api/organizations/:org_slug` (§4.8).
    pub async fn update_org(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        upd: UpdateOrg,
    ) -> Result<OrgView, AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let mut org = self.load_org(slug).await?;
                let now = self.now();
                let outcome = org.update(&caller.actor(), upd.clone(), now)?;
                let mut c = Changeset::default();
                Recorder::for_caller(self, meta, caller, now).record(
                    &mut c,
                    org.id(),
                    Some(&outcome.principal),
                    &outcome.events,
                );
                if !outcome.events.is_empty() {
                    c.orgs.push(org.clone());
                }
                self.commit(c).await?;
                Ok(self.view(org))
            }),
        )
        .await
    }

    /// `DELETE /api/organizations/:org_slug` (§4.9).
    pub async fn delete_org(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<(), AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let mut org = self.load_org(slug).await?;
                let now = self.now();
                let outcome = org.delete(&caller.actor(), now)?;
                let mut c = Changeset::default();
                for mut inv in self.stores().invitations.pending_org_invitations(org.id()).await? {
                    inv.cancel_for_org_deletion(now);
                    c.invitations.push(inv);
                }
                Recorder::for_caller(self, meta, caller, now).record(
                    &mut c,
                    org.id(),
                    Some(&outcome.principal),
                    &outcome.events,
                );
                c.orgs.push(org);
                self.commit(c).await
            }),
        )
        .await
    }

    /// Requires a capability for a read in the org; returns the org.
    pub(crate) async fn read_in_org(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        cap: Capability,
    ) -> Result<Organization, AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let org = self.load_org(slug).await?;
                org.require(&caller.actor(), cap)?;
                Ok(org)
            }),
        )
        .await
    }
}

/// A short, growing pause between optimistic-concurrency retries.
pub(crate) async fn backoff(attempt: u32) {
    let ms = u64::from(attempt.min(8)) * 2 + u64::from(rand::random::<u8>() % 5);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}
