//! Sessions and access tokens (§2): creation for org create/select and the admin CLI, the
//! per-request authentication (token through the [`org_ports::AccessTokens`] port, audience,
//! then the session's liveness in one read), logout, and refresh (`refresh.rs`).

use chrono::{DateTime, Utc};
use org_domain::{DomainEvent, OrgId, RevokeReason, Session, SessionId, SessionKind, Slug, User, UserId};
use org_ports::{AccessClaims, Changeset, SessionContext, TokenRejection};

use crate::AppError;
use crate::core::Core;
use crate::record::{Caller, Recorder, RequestMeta};

/// What a new session is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionScope {
    Platform,
    Org(OrgId, Slug),
    /// An end-user session of a service (§19.5): the org, the service and its slug.
    Service(OrgId, Slug, org_domain::ServiceId, String),
}

/// A new session, its first access token and its refresh token (both shown once).
#[derive(Clone)]
pub struct IssuedSession {
    pub session: Session,
    pub access_token: String,
    pub refresh_token: String,
    /// Slug of the org context, for the `org` claim and `aud=org:<slug>`.
    pub org_slug: Option<Slug>,
    /// Slug of the service of a service session (`aud=service:<org>/<service>`).
    pub service_slug: Option<String>,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession")
            .field("session", &self.session.id)
            .field("org_slug", &self.org_slug)
            .finish_non_exhaustive()
    }
}

/// The audience of a token (§2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    Platform,
    Org(String),
    Service,
}

impl Audience {
    /// Parses `aud`; `None` for an unknown form.
    pub fn parse(aud: &str) -> Option<Self> {
        if aud == "platform" {
            Some(Self::Platform)
        } else if let Some(slug) = aud.strip_prefix("org:") {
            Some(Self::Org(slug.to_owned()))
        } else if aud.starts_with("service:") {
            Some(Self::Service)
        } else {
            None
        }
    }
}

/// What a route accepts (§2.2, §1.5 step 2), as the HTTP adapter classifies it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoutePolicy<'a> {
    /// Whether a `service:` token may call the route (logout and `GET /api/user` only).
    pub service_tokens: bool,
    /// The org slug in the path of an org route an `org:` token must be scoped to (not set
    /// for `select` and the webhook event types).
    pub org_slug: Option<&'a str>,
    /// The org slug in the path, when the route is one org's: the caller's context there is
    /// read with the session, in the same statement, for the request to use.
    pub path_org: Option<&'a str>,
}

/// An authenticated request: the caller as stored now, the calling session and the claims.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub caller: Caller,
    pub session: Session,
    pub claims: AccessClaims,
    /// The store's change token as read before anything of this request was: what the request
    /// derives from its reads may be kept under it ([`crate::cache::TokenCache`]).
    pub token: Option<u64>,
}

impl IssuedSession {
    /// The token audience (§2.2).
    pub fn audience(&self) -> String {
        audience(self.org_slug.as_ref(), self.service_slug.as_deref())
    }
}

/// Result of a refresh.
#[derive(Clone, Debug)]
pub struct RefreshOutcome {
    pub session: IssuedSession,
    pub user: User,
    /// Answered from the replay window (§2.5): nothing rotated.
    pub replayed: bool,
}

service! {
    /// Sessions (§2.4): the per-request liveness check, logout and refresh (`refresh.rs`).
    SessionService
}

impl Core {
    /// A new session for `user` and its refresh token (not yet stored).
    pub(crate) fn new_session(
        &self,
        user: &User,
        scope: SessionScope,
        meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> IssuedSession {
        let (refresh_token, hash) = self.tokens.issue("rt_");
        let config = &self.config;
        let (kind, org_id, org_slug, service) = match scope {
            SessionScope::Platform => (SessionKind::Platform, None, None, None),
            SessionScope::Org(id, slug) => (SessionKind::Org, Some(id), Some(slug), None),
            SessionScope::Service(id, slug, service, service_slug) => (
                SessionKind::Service,
                Some(id),
                Some(slug),
                Some((service, service_slug)),
            ),
        };
        let absolute = now + config.session_max_lifetime;
        let session = Session {
            id: SessionId::from_uuid(self.new_uuid()),
            user_id: user.id(),
            kind,
            org_id,
            refresh_hash: hash,
            previous_hash: None,
            ip_address: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            created_at: now,
            last_refreshed_at: None,
            expires_at: (now + config.refresh_token_ttl).min(absolute),
            absolute_expires_at: absolute,
            revoked_at: None,
            revoke_reason: None,
            replay: None,
            version: 0,
            service_id: service.as_ref().map(|(id, _)| *id),
        };
        let service_slug = service.map(|(_, slug)| slug);
        let access_token = self.access_token(user, &session, org_slug.as_ref(), service_slug.as_deref(), now);
        IssuedSession {
            session,
            access_token,
            refresh_token,
            org_slug,
            service_slug,
        }
    }

    /// A signed access token of `session` for `user`, valid for `auth.access_token_ttl`.
    pub(crate) fn access_token(
        &self,
        user: &User,
        session: &Session,
        org: Option<&Slug>,
        service: Option<&str>,
        now: DateTime<Utc>,
    ) -> String {
        let iat = now.timestamp();
        let claims = AccessClaims {
            sub: user.id().to_string(),
            email: user.email().as_str().to_owned(),
            is_platform_owner: user.is_platform_owner(),
            jti: self.new_uuid().to_string(),
            sid: session.id.to_string(),
            org: org.map(|s| s.as_str().to_owned()),
            service: service.map(str::to_owned),
            aud: audience(org, service),
            iss: self.access_tokens.issuer(),
            iat,
            exp: iat + self.config.access_token_ttl.num_seconds(),
            nbf: None,
        };
        self.access_tokens.sign(&claims)
    }
}

/// The `aud` of a session's tokens (§2.2).
fn audience(org: Option<&Slug>, service: Option<&str>) -> String {
    match (org, service) {
        (Some(o), Some(s)) => format!("service:{o}/{s}"),
        (Some(o), None) => format!("org:{o}"),
        (None, _) => "platform".to_owned(),
    }
}

impl SessionService {
    /// `expires_in` of token responses, in seconds.
    pub fn expires_in(&self) -> i64 {
        self.core.config.access_token_ttl.num_seconds()
    }

    /// Authenticates a bearer token for a route (§2.1, §2.2, §1.5 step 2): the token's
    /// signature, header, issuer and times; its audience on this route; then the session's
    /// liveness and the user, read fresh (so a revocation or `admin demote` takes effect on
    /// the next request).
    pub async fn authenticate(&self, bearer: &str, route: RoutePolicy<'_>) -> Result<Authenticated, AppError> {
        let claims = self
            .core
            .access_tokens
            .verify(bearer, self.core.now())
            .map_err(AppError::Token)?;
        let bad_audience = || AppError::Token(TokenRejection::Invalid("token audience not accepted on this route"));
        let audience = Audience::parse(&claims.aud).ok_or_else(bad_audience)?;
        if audience == Audience::Service && !route.service_tokens {
            return Err(bad_audience());
        }
        let (Some(user_id), Some(session_id)) = (UserId::parse(&claims.sub), SessionId::parse(&claims.sid)) else {
            return Err(AppError::Token(TokenRejection::Invalid(
                "malformed subject or session claim",
            )));
        };
        let org = route.path_org.and_then(|s| Slug::parse(s).ok());
        let refused = || AppError::Unauthorized("Session revoked or expired".to_owned());
        let token = self.core.change_token();
        let ctx = self
            .session_context(token, session_id, org)
            .await?
            .ok_or_else(refused)?;
        let SessionContext { session, user, org } = ctx.as_ref().clone();
        if session.user_id != user_id || !session.is_live(self.core.now()) || !user.is_enabled() {
            return Err(refused());
        }
        if let (Audience::Org(scoped), Some(path)) = (&audience, route.org_slug)
            && scoped != path
        {
            return Err(AppError::ForeignOrgToken);
        }
        let mut caller = Caller::new(user, Some(session.id));
        caller.prefetched = org;
        Ok(Authenticated {
            caller,
            session,
            claims,
            token,
        })
    }

    /// The session's context, from the cache while no commit has happened since it was read.
    async fn session_context(
        &self,
        token: Option<u64>,
        id: SessionId,
        org: Option<Slug>,
    ) -> Result<Option<std::sync::Arc<SessionContext>>, AppError> {
        let key = (id, org);
        if let Some(hit) = token.and_then(|t| self.core.sessions.get(t, &key)) {
            return Ok(Some(hit));
        }
        let Some(read) = self.core.stores.sessions.session_context(key.0, key.1.clone()).await? else {
            return Ok(None);
        };
        let read = std::sync::Arc::new(read);
        if let Some(t) = token {
            self.core.sessions.put(t, key, read.clone());
        }
        Ok(Some(read))
    }

    /// `POST /api/auth/logout` (§2.6): revokes the caller's session.
    pub async fn logout(&self, caller: &Caller, meta: &RequestMeta) -> Result<(), AppError> {
        let Some(sid) = caller.session_id else { return Ok(()) };
        let core = &self.core;
        core.retry(|| async {
            let now = core.now();
            let Some(mut session) = core.stores.sessions.session_by_id(sid).await? else {
                return Ok(());
            };
            session.revoke(RevokeReason::Logout, now);
            let event = DomainEvent::SessionRevoked {
                session_id: session.id,
                kind: session.kind,
                org_id: session.org_id,
                reason: RevokeReason::Logout,
            };
            let mut c = Changeset::default();
            Recorder::for_caller(core, meta, caller, now).record(&mut c, session.org_id, None, &[event]);
            c.sessions.push(session);
            core.commit(c).await
        })
        .await
    }
}
