//! Platform administration use cases (§20): org list and lifecycle, limits, tiers.

use org_domain::{DomainError, FeatureOverrides, LimitsUpdate, Organization, Tier, TierId};
use org_ports::{OrgFilter, Page, PageRequest};

use crate::core::Decision;
use crate::record::{Caller, RequestMeta};
use crate::{AppError, OrgView};

/// A lifecycle action of §20.
#[derive(Clone, Debug)]
pub enum Lifecycle {
    Approve { tier_id: Option<String> },
    Reject { reason: String },
    Suspend { reason: Option<String> },
    Activate,
}

/// Body of `PATCH /api/platform/organizations/:org_slug`.
#[derive(Clone, Debug, Default)]
pub struct PlatformPatch {
    pub tier_id: Option<String>,
    pub max_services: Option<Option<u32>>,
    pub max_users: Option<Option<u32>>,
    pub feature_overrides: Option<Option<FeatureOverrides>>,
}

service! {
    /// Platform administration (§20): platform owners only.
    PlatformService
}

fn platform_only(caller: &Caller) -> Result<(), AppError> {
    caller.actor().platform_owner()?;
    Ok(())
}

impl PlatformService {
    fn known_tier(&self, id: Option<String>) -> Result<Option<TierId>, AppError> {
        match id {
            None => Ok(None),
            Some(id) => {
                let id = TierId::new(id);
                if self.core.config.tier(&id).is_some() {
                    Ok(Some(id))
                } else {
                    Err(AppError::invalid("tier_id", format!("unknown tier '{id}'")))
                }
            }
        }
    }

    /// `GET /api/platform/organizations`.
    pub async fn list_orgs(
        &self,
        caller: &Caller,
        filter: &OrgFilter,
        page: PageRequest,
    ) -> Result<(Vec<OrgView>, u64), AppError> {
        platform_only(caller)?;
        let Page { items, total } = self.core.stores.orgs.list_orgs(filter, page).await?;
        let mut views: Vec<OrgView> = items.into_iter().map(|o| self.core.view(o)).collect();
        self.core.fill_service_counts(views.iter_mut()).await?;
        Ok((views, total.unwrap_or_default()))
    }

    /// `GET /api/platform/organizations/:org_slug`.
    pub async fn get_org(&self, caller: &Caller, slug: &str) -> Result<OrgView, AppError> {
        platform_only(caller)?;
        let org = self.core.org_by_slug(slug).await?;
        let mut view = self.core.view(org);
        self.core.fill_service_counts([&mut view]).await?;
        Ok(view)
    }

    /// `GET /api/platform/tiers`.
    pub fn tiers(&self, caller: &Caller) -> Result<Vec<Tier>, AppError> {
        platform_only(caller)?;
        Ok(self.core.config.tiers.clone())
    }

    async fn change(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        decide: impl Fn(&mut Organization) -> Result<org_domain::Outcome, DomainError>,
    ) -> Result<OrgView, AppError> {
        platform_only(caller)?;
        let decide = &decide;
        let mut view = self
            .core
            .mutate(caller, meta, slug, |mut s| async move {
                let outcome = decide(&mut s.org)?;
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

    /// `POST /api/platform/organizations/:org_slug/{approve,reject,suspend,activate}`.
    pub async fn lifecycle(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        action: Lifecycle,
    ) -> Result<OrgView, AppError> {
        let actor = caller.actor();
        let tier = match &action {
            Lifecycle::Approve { tier_id } => self.known_tier(tier_id.clone())?,
            _ => None,
        };
        self.change(caller, meta, slug, |org| {
            let now = self.core.now();
            match &action {
                Lifecycle::Approve { .. } => org.approve(&actor, tier.clone(), now),
                Lifecycle::Reject { reason } => org.reject(&actor, reason.clone(), now),
                Lifecycle::Suspend { reason } => org.suspend(&actor, reason.clone(), now),
                Lifecycle::Activate => org.activate(&actor, now),
            }
        })
        .await
    }

    /// `PATCH /api/platform/organizations/:org_slug`.
    pub async fn patch_org(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        patch: PlatformPatch,
    ) -> Result<OrgView, AppError> {
        let actor = caller.actor();
        let upd = LimitsUpdate {
            tier_id: self.known_tier(patch.tier_id)?,
            max_services: patch.max_services,
            max_users: patch.max_users,
            feature_overrides: patch.feature_overrides,
        };
        self.change(caller, meta, slug, |org| {
            org.update_limits(&actor, upd.clone(), self.core.now())
        })
        .await
    }
}
