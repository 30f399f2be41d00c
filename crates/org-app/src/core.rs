//! What every service shares: the ports, the clock, ids and tokens, the settings, and the one
//! skeleton every org-scoped use case runs — authorize → load → decide → commit — with its
//! bounded retry on stale versions and the `authorization.denied` entry of §1.5.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use org_domain::{
    Access, DomainError, DomainEvent, Features, OrgId, Organization, Role, RoleBook, RoleSlug, SessionId, Slug, Tier,
};
use org_ports::{AccessTokens, Changeset, Clock, IdGenerator, OrgContext, SessionContext, Stores, TokenIssuer};

use crate::cache::TokenCache;

use crate::record::{Caller, DeniedLimiter, Recorder, RequestMeta};
use crate::webhooks::Outbound;
use crate::{AppConfig, AppError};

/// The shared state of the services. Cheap to share behind an `Arc`.
pub(crate) struct Core {
    pub stores: Stores,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub access_tokens: Arc<dyn AccessTokens>,
    pub config: AppConfig,
    pub denied: DeniedLimiter,
    pub outbound: Outbound,
    pub verifier: crate::settings::DomainVerifier,
    /// Fetches OIDC discovery and SAML metadata documents (§11).
    pub documents: std::sync::Arc<dyn org_ports::DocumentFetcher>,
    /// Session contexts read for authentication, kept while the change token stands.
    pub sessions: TokenCache<(SessionId, Option<Slug>), SessionContext>,
    /// Kept service counts of orgs (`service_count` of the org views), while the change token stands.
    pub service_counts: TokenCache<OrgId, u32>,
    /// The outbound client of SIEM test records (§17; the worker is handed its own).
    pub siem_sender: Arc<dyn org_ports::WebhookSender>,
}

/// One org-scoped request, resolved: the org row, the caller's access to it, and a recorder
/// for the audit entries and events of the decision.
pub(crate) struct Scope<'a> {
    pub org: Organization,
    pub access: Access,
    pub rec: Recorder<'a>,
}

impl Scope<'_> {
    /// The time of the decision.
    pub fn now(&self) -> DateTime<Utc> {
        self.rec.now
    }

    /// A changeset holding the audit entries, events and revocations `events` imply.
    pub fn record(&self, principal: &org_domain::Principal, events: &[DomainEvent]) -> Changeset {
        let mut c = Changeset::default();
        self.rec.record(&mut c, Some(self.org.id()), Some(principal), events);
        c
    }
}

/// What a decision commits and what the use case then answers.
pub(crate) struct Decision<T> {
    pub changes: Changeset,
    pub output: T,
}

impl<T> Decision<T> {
    pub fn new(changes: Changeset, output: T) -> Self {
        Self { changes, output }
    }
}

impl Core {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn new_uuid(&self) -> uuid::Uuid {
        self.ids.new_id()
    }

    /// The store's change token (see [`TokenCache`]).
    pub fn change_token(&self) -> Option<u64> {
        self.stores.changes.current()
    }

    /// The configured tier of an org.
    pub fn tier_of(&self, org: &Organization) -> Option<&Tier> {
        self.config.tier(&org.state().tier_id)
    }

    /// The effective features of an org (§22.2): its tier's, with the platform's overrides;
    /// an unknown tier allows nothing.
    pub fn features(&self, org: &Organization) -> Features {
        org.features(self.tier_of(org))
    }

    /// The effective member cap of an org (§22.3).
    pub fn member_cap(&self, org: &Organization) -> u32 {
        org.member_cap(self.tier_of(org))
    }

    /// Commits a changeset (nothing to do for an empty one).
    pub async fn commit(&self, changes: Changeset) -> Result<(), AppError> {
        if changes.is_empty() {
            return Ok(());
        }
        Ok(self.stores.uow.commit(changes).await?)
    }

    /// The live org with this slug, whoever asks; a malformed or unknown slug → not found.
    pub async fn org_by_slug(&self, slug: &str) -> Result<Organization, AppError> {
        let slug = Slug::parse(slug).map_err(|_| AppError::not_found())?;
        self.stores
            .orgs
            .org_by_slug(&slug)
            .await?
            .ok_or_else(AppError::not_found)
    }

    /// The live org with this slug and the caller's membership in it, in one read (none when
    /// the caller was authenticated with it for this request); a malformed or unknown slug, a
    /// deleted org, or a caller who is neither a member nor a platform owner → not found
    /// (§1.5 step 3).
    pub async fn org_context(&self, caller: &Caller, slug: &str) -> Result<(OrgContext, Access), AppError> {
        let ctx = match caller.prefetched.as_ref().filter(|c| c.org.slug().as_str() == slug) {
            Some(ctx) => ctx.clone(),
            None => self.read_org_context(caller, slug).await?,
        };
        let access = Access::resolve(&ctx.org, caller.actor(), ctx.membership.as_ref(), ctx.role.as_ref())?;
        Ok((ctx, access))
    }

    /// [`Self::org_context`], always read from the store (every attempt of a mutation).
    async fn fresh_org_context(&self, caller: &Caller, slug: &str) -> Result<(OrgContext, Access), AppError> {
        let ctx = self.read_org_context(caller, slug).await?;
        let access = Access::resolve(&ctx.org, caller.actor(), ctx.membership.as_ref(), ctx.role.as_ref())?;
        Ok((ctx, access))
    }

    async fn read_org_context(&self, caller: &Caller, slug: &str) -> Result<OrgContext, AppError> {
        let slug = Slug::parse(slug).map_err(|_| AppError::not_found())?;
        self.stores
            .orgs
            .org_context(&slug, caller.user.id())
            .await?
            .ok_or_else(AppError::not_found)
    }

    /// The org and the caller's access to it, read afresh, with a recorder for the decision.
    pub async fn scope<'a>(
        &'a self,
        caller: &'a Caller,
        meta: &'a RequestMeta,
        slug: &str,
    ) -> Result<Scope<'a>, AppError> {
        let (ctx, access) = self.fresh_org_context(caller, slug).await?;
        Ok(Scope {
            org: ctx.org,
            access,
            rec: Recorder::for_caller(self, meta, caller, self.now()),
        })
    }

    /// The custom roles of `org` among `roles` (built-ins need no lookup).
    pub async fn roles_named(&self, org: OrgId, roles: &[&Role]) -> Result<RoleBook, AppError> {
        let slugs: Vec<RoleSlug> = roles
            .iter()
            .filter_map(|r| match r {
                Role::Custom(slug) => Some(slug.clone()),
                _ => None,
            })
            .collect();
        if slugs.is_empty() {
            return Ok(RoleBook::default());
        }
        Ok(RoleBook::new(self.stores.roles.custom_roles_named(org, &slugs).await?))
    }

    /// A read in the org: `check` authorizes it (a 403 given to a member is audited).
    pub async fn read<T>(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        check: impl FnOnce(&Access) -> Result<T, DomainError>,
    ) -> Result<(Organization, T), AppError> {
        let (ctx, access) = self.org_context(caller, slug).await?;
        match check(&access) {
            Ok(t) => Ok((ctx.org, t)),
            Err(e) => Err(self.denied(caller, meta, ctx.org.id(), e).await),
        }
    }

    /// The skeleton of every org-scoped mutation: resolve the caller against the org
    /// (authorize), let `decide` load what it needs and call the domain, commit its changeset,
    /// and run it all again on a stale version, at most `max_attempts` times (then 503). A
    /// 403 given to a member writes `authorization.denied` (§1.5) in a transaction of its own.
    pub async fn mutate<'a, T, F, Fut>(
        &'a self,
        caller: &'a Caller,
        meta: &'a RequestMeta,
        slug: &'a str,
        decide: F,
    ) -> Result<T, AppError>
    where
        F: Fn(Scope<'a>) -> Fut,
        Fut: Future<Output = Result<Decision<T>, AppError>>,
    {
        self.retry(|| async {
            let scope = self.scope(caller, meta, slug).await?;
            let org = scope.org.id();
            match decide(scope).await {
                Ok(d) => {
                    self.commit(d.changes).await?;
                    Ok(d.output)
                }
                Err(AppError::Domain(e)) => Err(self.denied(caller, meta, org, e).await),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Runs `attempt` until it stops failing with a stale version, at most `max_attempts`
    /// times (then 503 "too many concurrent changes").
    pub async fn retry<T, F, Fut>(&self, attempt: F) -> Result<T, AppError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AppError>>,
    {
        let mut n: u32 = 0;
        loop {
            match attempt().await {
                Err(AppError::Stale) => {
                    n += 1;
                    if n >= self.config.max_attempts {
                        return Err(AppError::Unavailable("too many concurrent changes; retry".to_owned()));
                    }
                    backoff(n).await;
                }
                other => return other,
            }
        }
    }

    /// Passes a domain refusal through; a 403 given to a caller first writes
    /// `authorization.denied` (at most one per actor, route and rule per minute).
    pub async fn denied(&self, caller: &Caller, meta: &RequestMeta, org: OrgId, e: DomainError) -> AppError {
        if let Some(missing) = e.missing() {
            let route = meta.route.clone().unwrap_or_default();
            let now = self.now();
            if self
                .denied
                .admit((caller.user.id().to_string(), route.clone(), missing.to_owned()), now)
            {
                let rec = Recorder::for_caller(self, meta, caller, now);
                let mut c = Changeset::default();
                let event = DomainEvent::AuthorizationDenied {
                    method: meta.method.clone().unwrap_or_default(),
                    route,
                    missing,
                };
                rec.record(&mut c, Some(org), None, &[event]);
                // Best effort: the refusal stands even if its audit entry cannot be written.
                let _ = self.commit(c).await;
            }
        }
        AppError::Domain(e)
    }
}

/// A short, growing pause between optimistic-concurrency retries.
pub(crate) async fn backoff(attempt: u32) {
    let ms = u64::from(attempt.min(8)) * 2 + u64::from(rand::random::<u8>() % 5);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}
