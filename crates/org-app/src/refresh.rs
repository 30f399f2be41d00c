//! `POST /api/auth/refresh` (§2.5): refresh-token rotation with reuse detection, and the
//! current time for adapters that validate time-bound credentials against the app's clock.
//!
//! Rotation is a compare-and-swap on the session's `version`: of two concurrent refreshes with
//! the same token exactly one commits; the other re-reads the session, finds its token to be
//! the direct predecessor and is answered as a replay (below).
//!
//! The replay window of §2.5 wants the previous response answered again: this use case
//! answers a replay of the direct predecessor inside the window with `Unauthorized` without
//! revoking anything, and `org-http` answers it from the response it kept (in memory, until a
//! cipher port lets it be stored encrypted; see `docs/API-DESIGN.md`). Only the direct
//! predecessor is remembered by the store, so older ancestors are simply unknown tokens (401).

use chrono::{DateTime, Utc};
use org_domain::{OrgStatus, RevokeReason, Session, SessionKind, Slug, TokenHash, User};
use org_ports::Changeset;
use serde_json::json;

use crate::record::{Caller, Recorder, RequestMeta};
use crate::sessions::{IssuedSession, RefreshOutcome};
use crate::{App, AppError};

fn invalid() -> AppError {
    AppError::Unauthorized("Invalid refresh token".to_owned())
}

impl App {
    /// The current time of the app's clock (adapters validate token times against it).
    pub fn current_time(&self) -> DateTime<Utc> {
        self.now()
    }

    /// `POST /api/auth/refresh`: rotates the presented refresh token of a live session.
    ///
    /// Unknown, expired or revoked tokens, sessions past their absolute lifetime, a replay of
    /// the direct predecessor, and sessions whose authority is gone → `Unauthorized`. Presenting
    /// the direct predecessor outside the replay window revokes the session
    /// (`refresh_token_reuse`, audit `session.revoked`).
    pub async fn refresh(&self, meta: &RequestMeta, refresh_token: &str) -> Result<RefreshOutcome, AppError> {
        let hash = self.inner.tokens.hash(refresh_token);
        let mut attempt = 0_u32;
        loop {
            match self.try_refresh(meta, &hash).await {
                Err(AppError::Stale) if attempt < self.config().max_attempts => {
                    attempt += 1;
                    crate::orgs::backoff(attempt).await;
                }
                Err(AppError::Stale) => return Err(invalid()),
                other => return other,
            }
        }
    }

    async fn try_refresh(&self, meta: &RequestMeta, hash: &TokenHash) -> Result<RefreshOutcome, AppError> {
        let Some(mut session) = self.stores().sessions.session_by_refresh_hash(hash).await? else {
            return Err(invalid());
        };
        let now = self.now();
        if session.refresh_hash != *hash {
            // The direct predecessor of the current token.
            let Some((_, rotated_at)) = session.previous_hash else {
                return Err(invalid());
            };
            if !session.is_live(now) || now - rotated_at < self.config().refresh_reuse_window {
                return Err(invalid());
            }
            self.revoke_for_reuse(meta, session, now).await?;
            return Err(invalid());
        }
        if !session.is_live(now) || now >= session.expires_at {
            return Err(invalid());
        }
        let user = match self.stores().users.user_by_id(session.user_id).await? {
            Some(u) if u.is_enabled() => u,
            _ => return self.revoke_silently(session, RevokeReason::UserDisabled, now).await,
        };
        let org_slug = match self.session_org(&session, &user).await? {
            Ok(slug) => slug,
            Err(reason) => return self.revoke_silently(session, reason, now).await,
        };
        let (refresh_token, new_hash) = self.inner.tokens.issue("rt_");
        session.previous_hash = Some((session.refresh_hash, now));
        session.refresh_hash = new_hash;
        session.last_refreshed_at = Some(now);
        session.expires_at = (now + self.config().refresh_token_ttl).min(session.absolute_expires_at);
        let mut c = Changeset::default();
        c.sessions.push(session.clone());
        self.commit(c).await?;
        session.version += 1;
        Ok(RefreshOutcome {
            session: IssuedSession {
                session,
                refresh_token,
                org_slug,
            },
            user,
        })
    }

    /// The org context of a session if its authority still holds, else the revocation reason.
    async fn session_org(
        &self,
        session: &Session,
        user: &User,
    ) -> Result<Result<Option<Slug>, RevokeReason>, AppError> {
        let org_id = match (session.kind, session.org_id) {
            (SessionKind::Platform, _) => return Ok(Ok(None)),
            (_, Some(id)) => id,
            (_, None) => return Ok(Err(RevokeReason::OrgDeleted)),
        };
        let org = match self.stores().orgs.org_by_id(org_id).await? {
            Some(o) if !o.is_deleted() => o,
            _ => return Ok(Err(RevokeReason::OrgDeleted)),
        };
        if org.status() != OrgStatus::Active {
            return Ok(Err(RevokeReason::OrgSuspended));
        }
        if session.kind == SessionKind::Org && !user.is_platform_owner && org.active_membership(user.id).is_none() {
            return Ok(Err(RevokeReason::MemberRemoved));
        }
        Ok(Ok(Some(org.slug().clone())))
    }

    /// Revokes a session whose authority is gone; always answers `Unauthorized` (or `Stale`).
    async fn revoke_silently(
        &self,
        mut session: Session,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, AppError> {
        session.revoke(reason, now);
        let mut c = Changeset::default();
        c.sessions.push(session);
        self.commit(c).await?;
        Err(invalid())
    }

    async fn revoke_for_reuse(
        &self,
        meta: &RequestMeta,
        mut session: Session,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        session.revoke(RevokeReason::RefreshTokenReuse, now);
        let user = self.stores().users.user_by_id(session.user_id).await?;
        let caller = user.map(|user| Caller {
            user,
            session_id: Some(session.id),
        });
        let rec = match &caller {
            Some(caller) => Recorder::for_caller(self, meta, caller, now),
            None => Recorder::system(self, meta, now),
        };
        let log = match session.kind {
            SessionKind::Platform => None,
            SessionKind::Org | SessionKind::Service => session.org_id,
        };
        let id = session.id.to_string();
        let mut c = Changeset::default();
        rec.audit(
            &mut c,
            log,
            "session.revoked",
            Some(("session", id.clone())),
            json!({"session_id": id, "reason": RevokeReason::RefreshTokenReuse.as_str()}),
            false,
            true,
        );
        c.sessions.push(session);
        self.commit(c).await
    }
}
