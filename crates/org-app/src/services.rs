//! Services of an org (§19.1, §19.2), member service access (§5.4, §5.5), the org view's
//! `service_count`, and login keys (§19.5, §2.9): the CLI issues and revokes them, and
//! [`LoginKeyAdmin::authenticate`] checks one for `POST /api/platform/logins`.
//!
//! The service cap (§22.3) is decided by the domain on the kept count and backed by the store
//! under the org's count lock (`Changeset::service_cap`): of concurrent creates at the cap,
//! exactly the room gets in; the others decide again and get `SERVICE_LIMIT_EXCEEDED`.
//!
//! Missing by design here: service sessions do not exist yet, so deleting a service revokes
//! none (the `service_deleted` revocation belongs to the session work of §19.5).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use org_domain::login_key::{LOGIN_KEY_PREFIX, LoginKey};
use org_domain::service::{Service, ServiceAccessLevel, ServiceDraft, ServiceSlug, ServiceUpdate, service_cap};
use org_domain::{LoginKeyId, OrgId, Organization, ServiceId, UserId};
use org_ports::{Changeset, Page, PageRequest};

use crate::core::{Core, Decision};
use crate::record::{Caller, Recorder, RequestMeta};
use crate::{AppError, MemberService, OrgView, ServiceAccess};

service! {
    /// An org's services (§19.2).
    ServiceCatalog
}

service! {
    /// Login keys of the platform's login front-end (§19.5): the CLI's issue and revoke, and
    /// the authentication of a presented key.
    LoginKeyAdmin
}

/// One grant of `PUT …/service-access` as received: the slug as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccessChange {
    pub service_slug: String,
    pub access: Option<ServiceAccessLevel>,
}

/// A login key just issued: the plaintext, shown this once.
#[derive(Clone, Debug)]
pub struct IssuedLoginKey {
    pub id: LoginKeyId,
    pub name: String,
    pub key: String,
    pub created_at: DateTime<Utc>,
}

/// An authenticated login key: the caller of `POST /api/platform/logins`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginKeyCaller {
    pub id: LoginKeyId,
    pub name: String,
}

impl Core {
    /// The org's kept service count.
    pub(crate) async fn service_count(&self, org: OrgId) -> Result<u32, AppError> {
        let counts = self.stores.services.service_counts(&[org]).await?;
        Ok(counts.first().map_or(0, |(_, n)| *n))
    }

    /// Sets `service_count` of each view from the kept counts: from the cache while no commit
    /// has happened since they were read, else in one read.
    pub(crate) async fn fill_service_counts<'v>(
        &self,
        views: impl IntoIterator<Item = &'v mut OrgView>,
    ) -> Result<(), AppError> {
        let mut views: Vec<&mut OrgView> = views.into_iter().collect();
        if views.is_empty() {
            return Ok(());
        }
        // The token is read before the store: a count read under it is what a fresh read returns.
        let token = self.change_token();
        let mut counts: HashMap<OrgId, u32> = HashMap::new();
        let mut missing: Vec<OrgId> = Vec::new();
        for v in &views {
            match token.and_then(|t| self.service_counts.get(t, &v.org.id())) {
                Some(n) => {
                    counts.insert(v.org.id(), *n);
                }
                None => missing.push(v.org.id()),
            }
        }
        if !missing.is_empty() {
            let read: HashMap<OrgId, u32> = self
                .stores
                .services
                .service_counts(&missing)
                .await?
                .into_iter()
                .collect();
            for id in missing {
                let n = read.get(&id).copied().unwrap_or(0);
                if let Some(t) = token {
                    self.service_counts.put(t, id, std::sync::Arc::new(n));
                }
                counts.insert(id, n);
            }
        }
        for v in &mut views {
            v.service_count = counts.get(&v.org.id()).copied().unwrap_or(0);
        }
        Ok(())
    }

    /// The effective service cap of an org (§22.3).
    pub(crate) fn service_cap(&self, org: &Organization) -> u32 {
        service_cap(org, self.tier_of(org))
    }
}

/// A slug from a path: malformed is simply unknown (404).
fn path_slug(text: &str) -> Option<ServiceSlug> {
    ServiceSlug::parse(text).ok()
}

impl ServiceCatalog {
    /// `GET …/services`: `services.view`; oldest first, offset pages (bare array, §1.6).
    pub async fn list(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        page: PageRequest,
    ) -> Result<Page<Service>, AppError> {
        let (org, _) = self.core.read(caller, meta, slug, |a| a.view_services()).await?;
        Ok(self.core.stores.services.service_page(org.id(), page).await?)
    }

    /// `GET …/services/:service_slug`.
    pub async fn get(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        service_slug: &str,
    ) -> Result<Service, AppError> {
        let (org, _) = self.core.read(caller, meta, slug, |a| a.view_services()).await?;
        let Some(s) = path_slug(service_slug) else {
            return Err(AppError::not_found());
        };
        self.core
            .stores
            .services
            .service_by_slug(org.id(), &s)
            .await?
            .ok_or_else(AppError::not_found)
    }

    /// `POST …/services`: `services.create`, the field rules, the cap (decided on the kept
    /// count, backed by the store under the org's lock), one commit with `service.created`.
    pub async fn create(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        draft: ServiceDraft,
    ) -> Result<Service, AppError> {
        let core = &self.core;
        let draft = &draft;
        core.mutate(caller, meta, slug, |s| async move {
            let cap = core.service_cap(&s.org);
            let count = core.service_count(s.org.id()).await?;
            let id = ServiceId::from_uuid(core.new_uuid());
            let (service, outcome) = s.access.create_service(draft, count, cap, id, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.services.push(service.clone());
            c.service_cap = Some(cap);
            Ok(Decision::new(c, service.with_version(1)))
        })
        .await
    }

    /// `PATCH …/services/:service_slug`: equal values write nothing (§1.7).
    pub async fn update(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        service_slug: &str,
        update: ServiceUpdate,
    ) -> Result<Service, AppError> {
        let core = &self.core;
        let update = &update;
        core.mutate(caller, meta, slug, |s| async move {
            let current = match path_slug(service_slug) {
                Some(x) => core.stores.services.service_by_slug(s.org.id(), &x).await?,
                None => None,
            };
            let (written, outcome) = s.access.update_service(current.as_ref(), update, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            let out = match written {
                Some(w) => {
                    c.services.push(w.clone());
                    let v = w.record().version + 1;
                    w.with_version(v)
                }
                None => current.ok_or_else(AppError::not_found)?,
            };
            Ok(Decision::new(c, out))
        })
        .await
    }

    /// `DELETE …/services/:service_slug`: the service and its member grants go in one commit
    /// with `service.deleted`.
    pub async fn delete(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        service_slug: &str,
    ) -> Result<(), AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let current = match path_slug(service_slug) {
                Some(x) => core.stores.services.service_by_slug(s.org.id(), &x).await?,
                None => None,
            };
            let outcome = s.access.delete_service(current.as_ref())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            // §2.4: the service's sessions end with it (`service_deleted`).
            if let Some(service) = &current {
                c.revocations.push(org_ports::SessionRevocation {
                    scope: org_ports::RevocationScope::Service(service.id()),
                    reason: org_domain::RevokeReason::ServiceDeleted,
                    at: s.now(),
                });
            }
            c.removed_services.extend(current);
            Ok(Decision::new(c, ()))
        })
        .await
    }
}

impl MemberService {
    /// Every service of the org with `user`'s access to it.
    async fn access_list(&self, org: OrgId, user: UserId) -> Result<Vec<ServiceAccess>, AppError> {
        let stores = &self.core.stores;
        let services = stores.services.org_services(org).await?;
        let grants = stores.services.service_grants(org, user).await?;
        Ok(services
            .iter()
            .map(|s| ServiceAccess {
                service_id: s.id().to_string(),
                service_slug: s.slug().as_str().to_owned(),
                service_name: s.name().to_owned(),
                access: grants
                    .iter()
                    .find(|g| g.service_id == s.id())
                    .map(|g| g.access.as_str().to_owned()),
            })
            .collect())
    }

    /// `GET …/members/:user_id/service-access` (§5.4): one entry per service of the org.
    pub async fn service_access(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        user_id: &str,
    ) -> Result<Vec<ServiceAccess>, AppError> {
        let core = &self.core;
        let (ctx, access) = core.org_context(caller, slug).await?;
        let org = ctx.org.id();
        let user = UserId::parse(user_id);
        let target = match user {
            Some(u) => core.stores.members.membership(org, u).await?,
            None => None,
        };
        if let Err(e) = access.read_service_access(target.as_ref()) {
            return Err(core.denied(caller, meta, org, e).await);
        }
        let user = user.ok_or_else(AppError::not_found)?;
        self.access_list(org, user).await
    }

    /// `PUT …/members/:user_id/service-access` (§5.5): sets the listed services' access
    /// (`None` removes it), leaves the others; an unknown `service_slug` → 404 (compat). The
    /// changed grants and `member.service_access_updated` commit together; no change → no entry.
    pub async fn update_service_access(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        user_id: &str,
        grants: &[ServiceAccessChange],
    ) -> Result<Vec<ServiceAccess>, AppError> {
        let core = &self.core;
        let user = UserId::parse(user_id);
        let org = core
            .mutate(caller, meta, slug, |s| async move {
                let org = s.org.id();
                let target = match user {
                    Some(u) => core.stores.members.membership(org, u).await?,
                    None => None,
                };
                let roles = match &target {
                    Some(t) => core.roles_named(org, &[t.role()]).await?,
                    None => Default::default(),
                };
                // The member and the target rule come before the services named (§1.5).
                s.access.set_service_access(target.as_ref(), &roles, &[], &[])?;
                let mut slugs = Vec::with_capacity(grants.len());
                for g in grants {
                    slugs.push(ServiceSlug::parse(&g.service_slug).map_err(|_| AppError::not_found())?);
                }
                let found = core.stores.services.services_named(org, &slugs).await?;
                let mut wanted = Vec::with_capacity(grants.len());
                for (slug, g) in slugs.iter().zip(grants) {
                    let service = found
                        .iter()
                        .find(|s| s.slug() == slug)
                        .ok_or_else(AppError::not_found)?;
                    wanted.push((service.clone(), g.access));
                }
                let current = match user {
                    Some(u) => core.stores.services.service_grants(org, u).await?,
                    None => Vec::new(),
                };
                let (writes, outcome) = s
                    .access
                    .set_service_access(target.as_ref(), &roles, &current, &wanted)?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                c.service_grants.extend(writes);
                Ok(Decision::new(c, org))
            })
            .await?;
        let user = user.ok_or_else(AppError::not_found)?;
        self.access_list(org, user).await
    }
}

fn login_key_unauthorized() -> AppError {
    AppError::Unauthorized("Invalid or revoked login key".to_owned())
}

fn login_key_taken() -> AppError {
    AppError::Duplicate("a live login key with this name already exists".to_owned())
}

impl LoginKeyAdmin {
    /// `admin issue-login-key --name N`: a new key (`lk_` + 43 base64url characters), stored
    /// as its hash; platform audit `login_key.issued`. A live key with the name → duplicate.
    pub async fn issue(&self, name: &str) -> Result<IssuedLoginKey, AppError> {
        let core = &self.core;
        let meta = RequestMeta::cli();
        let rec = Recorder::system(core, &meta, core.now());
        let checked = org_domain::login_key::login_key_name(name)?;
        if core.stores.login_keys.live_login_key(&checked).await?.is_some() {
            return Err(login_key_taken());
        }
        let (plaintext, hash) = core.tokens.issue(LOGIN_KEY_PREFIX);
        let id = LoginKeyId::from_uuid(core.new_uuid());
        let (key, event) = LoginKey::issue(id, &checked, &plaintext, hash, rec.now)?;
        let mut c = Changeset::default();
        rec.record(&mut c, None, None, &[event]);
        c.login_keys.push(key.clone());
        core.commit(c).await.map_err(|e| match e {
            AppError::Stale => login_key_taken(),
            other => other,
        })?;
        Ok(IssuedLoginKey {
            id,
            name: key.name().to_owned(),
            key: plaintext,
            created_at: key.record().created_at,
        })
    }

    /// `admin revoke-login-key --name N`: revokes the live key with that name (effective on
    /// its next use); platform audit `login_key.revoked`. No live key → not found.
    pub async fn revoke(&self, name: &str) -> Result<LoginKeyCaller, AppError> {
        let core = &self.core;
        core.retry(|| async {
            let meta = RequestMeta::cli();
            let rec = Recorder::system(core, &meta, core.now());
            let checked = org_domain::login_key::login_key_name(name)?;
            let mut key = core
                .stores
                .login_keys
                .live_login_key(&checked)
                .await?
                .ok_or_else(AppError::not_found)?;
            let event = key.revoke(rec.now)?;
            let mut c = Changeset::default();
            rec.record(&mut c, None, None, &[event]);
            c.login_keys.push(key.clone());
            core.commit(c).await?;
            Ok(LoginKeyCaller {
                id: key.id(),
                name: key.name().to_owned(),
            })
        })
        .await
    }

    /// Authenticates a presented login key (`Authorization: Bearer lk_…`, §19.5): its hash is
    /// looked up and compared in constant time; an unknown or revoked key → 401.
    pub async fn authenticate(&self, bearer: &str) -> Result<LoginKeyCaller, AppError> {
        if !bearer.starts_with(LOGIN_KEY_PREFIX) || bearer.len() > 200 {
            return Err(login_key_unauthorized());
        }
        let hash = self.core.tokens.hash(bearer);
        let key = self
            .core
            .stores
            .login_keys
            .login_key_by_hash(&hash)
            .await?
            .filter(|k| k.verifies(&hash) && k.is_live())
            .ok_or_else(login_key_unauthorized)?;
        Ok(LoginKeyCaller {
            id: key.id(),
            name: key.name().to_owned(),
        })
    }
}
