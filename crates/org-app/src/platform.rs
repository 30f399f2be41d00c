//! Platform administration use cases (§20): org list and lifecycle, limits, tiers.

use org_domain::{DomainError, FeatureOverrides, LimitsUpdate, Organization, Rule, Tier, TierId};
use org_ports::{Changeset, OrgFilter, PageRequest};

use crate::record::{Caller, Recorder, RequestMeta};
use crate::{App, AppError, OrgView};

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

fn platform_only(caller: &Caller) -> Result<(), AppError> {
    if caller.user.is_platform_owner {
        Ok(())
    } else {
        Err(DomainError::RuleViolation(Rule::PlatformOwnerOnly).into())
    }
}

impl App {
    fn known_tier(&self, id: Option<String>) -> Result<Option<TierId>, AppError> {
        match id {
            None => Ok(None),
            Some(id) => {
                let id = TierId::new(id);
                if self.config().tier(&id).is_some() {
                    Ok(Some(id))
                } else {
                    Err(AppError::invalid("tier_id", format!("unknown tier '{id}'")))
                }
            }
        }
    }

    /// `GET /api/platform/organizations`.
    pub async fn platform_list_orgs(
        &self,
        caller: &Caller,
        filter: &OrgFilter,
        page: PageRequest,
    ) -> Result<(Vec<OrgView>, u64), AppError> {
        platform_only(caller)?;
        let page = self.stores().orgs.list_orgs(filter, page).await?;
        Ok((page.items.into_iter().map(|o| self.view(o)).collect(), page.total))
    }

    /// `GET /api/platform/organizations/:org_slug`.
    pub async fn platform_get_org(&self, caller: &Caller, slug: &str) -> Result<OrgView, AppError> {
        platform_only(caller)?;
        Ok(self.view(self.load_org(slug).await?))
    }

    /// `GET /api/platform/tiers`.
    pub fn platform_tiers(&self, caller: &Caller) -> Result<Vec<Tier>, AppError> {
        platform_only(caller)?;
        Ok(self.config().tiers.clone())
    }

    async fn platform_change(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        decide: impl Fn(&mut Organization) -> Result<org_domain::Outcome, DomainError>,
    ) -> Result<OrgView, AppError> {
        platform_only(caller)?;
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let mut org = self.load_org(slug).await?;
                let outcome = decide(&mut org)?;
                let mut c = Changeset::default();
                Recorder::for_caller(self, meta, caller, self.now()).record(
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

    /// `POST /api/platform/organizations/:org_slug/{approve,reject,suspend,activate}`.
    pub async fn platform_lifecycle(
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
        self.platform_change(caller, meta, slug, |org| {
            let now = self.now();
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
    pub async fn platform_patch_org(
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
        self.platform_change(caller, meta, slug, |org| {
            org.update_limits(&actor, upd.clone(), self.now())
        })
        .await
    }
}
