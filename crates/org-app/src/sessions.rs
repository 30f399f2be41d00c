//! Sessions (§2.4): creation for org create/select and the admin CLI, the per-request
//! liveness check, and logout.

use chrono::{DateTime, Utc};
use org_domain::{OrgId, RevokeReason, Session, SessionId, SessionKind, Slug, User, UserId};
use org_ports::Changeset;
use serde_json::json;

use crate::record::{Caller, Recorder, RequestMeta};
use crate::{App, AppError};

/// What a new session is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionScope {
    Platform,
    Org(OrgId, Slug),
}

/// A new session and its refresh token (shown once).
#[derive(Clone, Debug)]
pub struct IssuedSession {
    pub session: Session,
    pub refresh_token: String,
    /// Slug of the org context, for the `org` claim and `aud=org:<slug>`.
    pub org_slug: Option<Slug>,
}

impl IssuedSession {
    /// The token audience (§2.2).
    pub fn audience(&self) -> String {
        self.org_slug
            .as_ref()
            .map_or_else(|| "platform".to_owned(), |s| format!("org:{s}"))
    }
}

/// Result of a refresh.
#[derive(Clone, Debug)]
pub struct RefreshOutcome {
    pub session: IssuedSession,
    pub user: User,
}

impl App {
    pub(crate) fn new_session(
        &self,
        user: &User,
        scope: SessionScope,
        meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> IssuedSession {
        let (refresh_token, hash) = self.inner.tokens.issue("rt_");
        let config = self.config();
        let (kind, org_id, org_slug) = match scope {
            SessionScope::Platform => (SessionKind::Platform, None, None),
            SessionScope::Org(id, slug) => (SessionKind::Org, Some(id), Some(slug)),
        };
        let absolute = now + config.session_max_lifetime;
        let session = Session {
            id: SessionId::from_uuid(self.new_uuid()),
            user_id: user.id,
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
            version: 0,
        };
        IssuedSession {
            session,
            refresh_token,
            org_slug,
        }
    }

    /// The per-request check of §2.1 step 6: the session is live and belongs to an enabled user.
    /// Returns the user as stored now (so the platform-owner flag is fresh, §3.6).
    pub async fn authenticate(&self, user_id: UserId, session_id: SessionId) -> Result<(User, Session), AppError> {
        let refused = || AppError::Unauthorized("Session revoked or expired".to_owned());
        let session = self
            .stores()
            .sessions
            .session_by_id(session_id)
            .await?
            .ok_or_else(refused)?;
        if session.user_id != user_id || !session.is_live(self.now()) {
            return Err(refused());
        }
        let user = self.stores().users.user_by_id(user_id).await?.ok_or_else(refused)?;
        if !user.is_enabled() {
            return Err(refused());
        }
        Ok((user, session))
    }

    /// `POST /api/auth/logout` (§2.6): revokes the caller's session.
    pub async fn logout(&self, caller: &Caller, meta: &RequestMeta) -> Result<(), AppError> {
        let Some(sid) = caller.session_id else { return Ok(()) };
        retrying!(self, async {
            let now = self.now();
            let Some(mut session) = self.stores().sessions.session_by_id(sid).await? else {
                return Ok(());
            };
            session.revoke(RevokeReason::Logout, now);
            let rec = Recorder::for_caller(self, meta, caller, now);
            let mut c = Changeset::default();
            let id = session.id.to_string();
            let meta_json = json!({"session_id": id, "reason": "logout"});
            match (session.kind, session.org_id) {
                (SessionKind::Service, Some(org)) => {
                    rec.event(
                        &mut c,
                        org,
                        "user.logout",
                        Some(("session", id.clone())),
                        json!({"session_id": id}),
                    );
                }
                (SessionKind::Org, Some(org)) => {
                    rec.audit(
                        &mut c,
                        Some(org),
                        "session.revoked",
                        Some(("session", id.clone())),
                        meta_json,
                        false,
                        true,
                    );
                    rec.event(
                        &mut c,
                        org,
                        "user.logout",
                        Some(("session", id.clone())),
                        json!({"session_id": id}),
                    );
                }
                _ => rec.audit(
                    &mut c,
                    None,
                    "session.revoked",
                    Some(("session", id.clone())),
                    meta_json,
                    false,
                    true,
                ),
            }
            c.sessions.push(session);
            self.commit(c).await
        })
    }
}
