//! Directory sync (§10): the SCIM tokens an org manages, and the skeleton every directory
//! request runs — authenticate the token, authorize it against its org (active, tier), let
//! the domain decide with the token's capabilities, commit with audit entries that name the
//! token. The SCIM resources themselves are in [`crate::scim`].

use std::future::Future;

use org_domain::scim_token::{ScimSecret, ScimToken, ScimTokenDraft};
use org_domain::{Access, Capability, Features, Organization, ScimTokenId};
use org_ports::PageRequest;

use crate::AppError;
use crate::core::{Core, Decision};
use crate::record::{Caller, Recorder, RequestMeta};

mod groups;
mod users;

pub use groups::GroupList;
pub use users::UserList;

service! {
    /// SCIM tokens (§10.1) and directory requests (§10.2–§10.4).
    DirectoryService
}

/// A page of SCIM resources (`startIndex` 1-based) and the number of matches.
#[derive(Clone, Debug)]
pub struct Listed<T> {
    pub total: u64,
    pub start_index: u64,
    pub resources: Vec<T>,
}

/// Members read per page when a request must walk an org's members.
const SCAN_PAGE: u32 = 500;

/// The members of an org matching a role and a status, page by page in join order (keyset).
pub(crate) struct MemberScan<'a> {
    svc: &'a DirectoryService,
    org: org_domain::OrgId,
    query: org_ports::MemberQuery,
    done: bool,
}

impl<'a> MemberScan<'a> {
    pub fn new(
        svc: &'a DirectoryService,
        org: org_domain::OrgId,
        role: Option<org_domain::Role>,
        status: Option<org_domain::MembershipStatus>,
    ) -> Self {
        let query = org_ports::MemberQuery {
            role,
            status,
            limit: SCAN_PAGE,
            ..org_ports::MemberQuery::default()
        };
        Self {
            svc,
            org,
            query,
            done: false,
        }
    }

    /// The next page, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<org_ports::MemberRow>>, AppError> {
        if self.done {
            return Ok(None);
        }
        let rows = self.svc.core.stores.members.member_page(self.org, &self.query).await?;
        self.done = rows.len() < SCAN_PAGE as usize;
        self.query.after = rows.last().map(|r| (r.membership.joined_at(), r.user.id()));
        Ok(Some(rows))
    }
}

/// A token just created, with its plaintext (shown once).
#[derive(Clone, Debug)]
pub struct CreatedScimToken {
    pub token: ScimToken,
    pub plaintext: String,
}

/// A directory request, authenticated: the token and its org, as read for this request.
#[derive(Clone, Debug)]
pub struct DirectoryCaller {
    pub(crate) token: ScimToken,
    pub(crate) org: Organization,
}

impl DirectoryCaller {
    /// The token's org (the tenant of every resource).
    pub fn org(&self) -> &Organization {
        &self.org
    }
    /// The token.
    pub fn token(&self) -> &ScimToken {
        &self.token
    }
}

/// One directory decision: the org row and the token's access as read for this attempt, and
/// a recorder naming the token.
pub(crate) struct DirectoryScope<'a> {
    pub org: Organization,
    pub access: Access,
    pub rec: Recorder<'a>,
}

impl DirectoryScope<'_> {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.rec.now
    }

    /// A changeset with the audit entries, events and revocations `events` imply.
    pub fn record(
        &self,
        principal: &org_domain::Principal,
        events: &[org_domain::DomainEvent],
    ) -> org_ports::Changeset {
        let mut c = org_ports::Changeset::default();
        self.rec.record(&mut c, Some(self.org.id()), Some(principal), events);
        c
    }
}

/// `If-Match` (§10.2): absent, `*` or a tag naming `version` passes; else 412.
fn check_if_match(header: Option<&str>, version: u64) -> Result<(), AppError> {
    match header {
        Some(h) if !crate::scim::etag_matches(h, version) => Err(AppError::Scim(
            crate::scim::ScimError::precondition_failed("the resource changed (ETag mismatch)"),
        )),
        _ => Ok(()),
    }
}

/// The prefix of every SCIM token.
const TOKEN_PREFIX: &str = "scim_";

impl DirectoryService {
    fn features(&self, org: &Organization) -> Features {
        self.core.features(org)
    }

    async fn org_token(&self, org: &Organization, id: &str) -> Result<Option<ScimToken>, AppError> {
        let Some(id) = ScimTokenId::parse(id) else {
            return Ok(None);
        };
        Ok(self.core.stores.directory.scim_token(org.id(), id).await?)
    }

    /// The org whose tokens `caller` reads: `integrations.manage` only (a downgraded org can
    /// still clean up, §10.1).
    async fn token_admin_org(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<Organization, AppError> {
        let (org, ()) = self
            .core
            .read(caller, meta, slug, |a| {
                a.require(Capability::IntegrationsManage).map(drop)
            })
            .await?;
        Ok(org)
    }

    /// `POST …/scim-tokens` (§10.1): the plaintext is returned once and stored as SHA-256.
    pub async fn create_token(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        draft: ScimTokenDraft,
    ) -> Result<CreatedScimToken, AppError> {
        let core = &self.core;
        let draft = &draft;
        core.mutate(caller, meta, slug, |s| async move {
            let (plaintext, hash) = core.tokens.issue(TOKEN_PREFIX);
            let prefix: String = plaintext.chars().take(12).collect();
            let secret = ScimSecret { hash, prefix };
            let id = ScimTokenId::from_uuid(core.new_uuid());
            let features = self.features(&s.org);
            let (token, outcome) = s.access.create_scim_token(id, draft, secret, &features, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.scim_tokens.push(token.clone());
            Ok(Decision::new(
                c,
                CreatedScimToken {
                    token: token.with_version(1),
                    plaintext,
                },
            ))
        })
        .await
    }

    /// `GET …/scim-tokens`: oldest first.
    pub async fn list_tokens(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        page: PageRequest,
    ) -> Result<Vec<ScimToken>, AppError> {
        let org = self.token_admin_org(caller, meta, slug).await?;
        Ok(self.core.stores.directory.scim_tokens(org.id(), page).await?.items)
    }

    /// `GET …/scim-tokens/:id`.
    pub async fn get_token(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<ScimToken, AppError> {
        let org = self.token_admin_org(caller, meta, slug).await?;
        self.org_token(&org, id).await?.ok_or_else(AppError::not_found)
    }

    /// `POST …/scim-tokens/:id/revoke`: idempotent.
    pub async fn revoke_token(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<(), AppError> {
        self.core
            .mutate(caller, meta, slug, |s| async move {
                let mut token = self.org_token(&s.org, id).await?;
                let outcome = s.access.revoke_scim_token(token.as_mut(), s.now())?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                if !outcome.events.is_empty() {
                    c.scim_tokens.extend(token);
                }
                Ok(Decision::new(c, ()))
            })
            .await
    }

    /// `DELETE …/scim-tokens/:id`: for good.
    pub async fn delete_token(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<(), AppError> {
        self.core
            .mutate(caller, meta, slug, |s| async move {
                let token = self.org_token(&s.org, id).await?;
                let outcome = s.access.delete_scim_token(token.as_ref())?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                c.removed_scim_tokens.extend(token);
                Ok(Decision::new(c, ()))
            })
            .await
    }

    /// Authenticates a directory request (§10.2): an unknown, revoked or expired token → 401;
    /// its org not active, or a tier without SCIM → 403. Records the use (`last_used_at`, at
    /// most once a minute).
    pub async fn authenticate(&self, bearer: &str) -> Result<DirectoryCaller, AppError> {
        let core = &self.core;
        let unauthorized = || AppError::Unauthorized("Invalid or expired SCIM token".to_owned());
        if !bearer.starts_with(TOKEN_PREFIX) || bearer.len() > 200 {
            return Err(unauthorized());
        }
        let hash = core.tokens.hash(bearer);
        let token = core
            .stores
            .directory
            .scim_token_by_hash(&hash)
            .await?
            .ok_or_else(unauthorized)?;
        let now = core.now();
        if !token.is_active(now) {
            return Err(unauthorized());
        }
        let org = self.live_org(&token).await?.ok_or_else(unauthorized)?;
        token.access(&org, &self.features(&org))?;
        if token.use_is_due(now) {
            let mut c = org_ports::Changeset::default();
            c.scim_token_uses.push((token.id(), now));
            // Best effort: a lost `last_used_at` never fails the request.
            let _ = core.commit(c).await;
        }
        Ok(DirectoryCaller { token, org })
    }

    /// The caller's token and org as stored now: a token revoked or expired meanwhile → 401,
    /// an org deleted → 404.
    async fn reread(&self, caller: &DirectoryCaller) -> Result<(ScimToken, Organization), AppError> {
        let core = &self.core;
        let token = core
            .stores
            .directory
            .scim_token(caller.token.org_id(), caller.token.id())
            .await?
            .filter(|t| t.is_active(core.now()))
            .ok_or_else(|| AppError::Unauthorized("Invalid or expired SCIM token".to_owned()))?;
        let org = self.live_org(&token).await?.ok_or_else(AppError::not_found)?;
        Ok((token, org))
    }

    /// The token's org unless it is deleted.
    async fn live_org(&self, token: &ScimToken) -> Result<Option<Organization>, AppError> {
        Ok(self
            .core
            .stores
            .orgs
            .org_by_id(token.org_id())
            .await?
            .filter(|o| o.state().deleted_at.is_none()))
    }

    /// A directory read: the caller's org as authenticated.
    pub(crate) fn read_scope(&self, caller: &DirectoryCaller) -> Result<Access, AppError> {
        Ok(caller.token.access(&caller.org, &self.features(&caller.org))?)
    }

    /// The skeleton of every directory write: re-read the token and its org (a token revoked
    /// or an org suspended meanwhile stops here), let `decide` load and call the domain with
    /// the token's access, commit, and run again on a stale version.
    pub(crate) async fn mutate<'a, T, F, Fut>(
        &'a self,
        caller: &'a DirectoryCaller,
        meta: &'a RequestMeta,
        decide: F,
    ) -> Result<T, AppError>
    where
        F: Fn(DirectoryScope<'a>) -> Fut,
        Fut: Future<Output = Result<Decision<T>, AppError>>,
    {
        let core: &'a Core = &self.core;
        // The first attempt decides on the token and org `authenticate` read for this request;
        // a retry (a stale version: something changed meanwhile) reads them again.
        let first = std::sync::atomic::AtomicBool::new(true);
        core.retry(|| async {
            let (token, org) = if first.swap(false, std::sync::atomic::Ordering::Relaxed) {
                (caller.token.clone(), caller.org.clone())
            } else {
                self.reread(caller).await?
            };
            let access = token.access(&org, &self.features(&org))?;
            let scope = DirectoryScope {
                org,
                access,
                rec: Recorder::for_directory(core, meta, token.id(), core.now()),
            };
            let d = decide(scope).await?;
            core.commit(d.changes).await?;
            Ok(d.output)
        })
        .await
    }
}
