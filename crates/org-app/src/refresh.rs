//! `POST /api/auth/refresh` (§2.5): refresh-token rotation with reuse detection, and the
//! current time for adapters that validate time-bound credentials against the app's clock.
//!
//! Rotation is a compare-and-swap on the session's `version`: of two concurrent refreshes with
//! the same token exactly one commits; the other re-reads the session, finds its token consumed
//! and is answered as a replay (below).
//!
//! The replay window of §2.5: a rotation stores the token pair it answers with the session
//! ([`org_domain::RotationReplay`], sealed at rest by durable stores), and the store keeps
//! every token a rotation consumed with the time it did. A consumed token presented inside the
//! window — on any server process — is answered with the latest rotation's pair and nothing
//! rotates or is revoked. That holds for older ancestors too, not only the direct predecessor:
//! a client that fired refreshes with its token, got the new one and refreshed again while
//! the first burst was still in flight would otherwise be logged out by its own requests
//! (docs/API-DESIGN.md). Any consumed ancestor presented outside the window is reuse.
//!
//! The refresh budget (§21.5) is spent by everything but replays: with `may_rotate` false
//! (the caller's budget is used up) a replay is still answered, and anything else is
//! `RateLimited`.

use chrono::{DateTime, Utc};
use org_domain::{DomainEvent, OrgStatus, RevokeReason, RotationReplay, Session, SessionKind, Slug, TokenHash, User};
use org_ports::{Changeset, RefreshMatch};

use crate::AppError;
use crate::record::{Caller, Recorder, RequestMeta};
use crate::sessions::{IssuedSession, RefreshOutcome, SessionService};

fn invalid() -> AppError {
    AppError::Unauthorized("Invalid refresh token".to_owned())
}

impl SessionService {
    /// `POST /api/auth/refresh`: rotates the presented refresh token of a live session.
    ///
    /// Unknown, expired or revoked tokens, sessions past their absolute lifetime and sessions
    /// whose authority is gone → `Unauthorized`. A consumed ancestor inside the replay window is
    /// answered with the latest rotation's pair; outside it, presenting it revokes the session
    /// (`refresh_token_reuse`, audit `session.revoked`). Conflicts past the retries → `Stale`
    /// (503), never a 401: the token may well be good.
    pub async fn refresh(
        &self,
        meta: &RequestMeta,
        refresh_token: &str,
        may_rotate: bool,
    ) -> Result<RefreshOutcome, AppError> {
        let hash = self.core.tokens.hash(refresh_token);
        let mut attempt = 0_u32;
        loop {
            match self.try_refresh(meta, &hash, may_rotate).await {
                Err(AppError::Stale) if attempt < self.core.config.max_attempts => {
                    attempt += 1;
                    crate::core::backoff(attempt).await;
                }
                other => return other,
            }
        }
    }

    async fn try_refresh(
        &self,
        meta: &RequestMeta,
        hash: &TokenHash,
        may_rotate: bool,
    ) -> Result<RefreshOutcome, AppError> {
        // Anything but a replay needs budget.
        let refused = || if may_rotate { invalid() } else { AppError::RateLimited };
        let (mut session, consumed_at) = match self.core.stores.sessions.session_by_refresh_hash(hash).await? {
            None => return Err(refused()),
            Some(RefreshMatch::Current(session)) => (session, None),
            Some(RefreshMatch::Consumed { session, consumed_at }) => (session, Some(consumed_at)),
        };
        let now = self.core.now();
        if let Some(consumed_at) = consumed_at {
            if !session.is_live(now) {
                return Err(invalid());
            }
            if now - consumed_at < self.core.config.refresh_reuse_window {
                return self.replay(session).await;
            }
            if !may_rotate {
                return Err(AppError::RateLimited);
            }
            self.revoke_for_reuse(meta, session, now).await?;
            return Err(invalid());
        }
        if !session.is_live(now) || now >= session.expires_at {
            return Err(refused());
        }
        if !may_rotate {
            return Err(AppError::RateLimited);
        }
        let user = match self.core.stores.users.user_by_id(session.user_id).await? {
            Some(u) if u.is_enabled() => u,
            _ => return self.revoke_silently(session, RevokeReason::UserDisabled, now).await,
        };
        let (org_slug, service_slug) = match self.session_org(&session, &user).await? {
            Ok(context) => context,
            Err(reason) => return self.revoke_silently(session, reason, now).await,
        };
        let (refresh_token, new_hash) = self.core.tokens.issue("rt_");
        session.previous_hash = Some((session.refresh_hash, now));
        session.refresh_hash = new_hash;
        session.last_refreshed_at = Some(now);
        session.expires_at = (now + self.core.config.refresh_token_ttl).min(session.absolute_expires_at);
        let access_token = self
            .core
            .access_token(&user, &session, org_slug.as_ref(), service_slug.as_deref(), now);
        session.replay = Some(RotationReplay {
            access_token: access_token.clone(),
            refresh_token: refresh_token.clone(),
        });
        let mut c = Changeset::default();
        c.sessions.push(session.clone());
        self.core.commit(c).await?;
        session.version += 1;
        Ok(RefreshOutcome {
            session: IssuedSession {
                access_token,
                session,
                refresh_token,
                org_slug,
                service_slug,
            },
            user,
            replayed: false,
        })
    }

    /// A replay inside the window: the pair the latest rotation answered, if the session's
    /// user may still authenticate.
    async fn replay(&self, session: Session) -> Result<RefreshOutcome, AppError> {
        let Some(pair) = session.replay.clone() else {
            return Err(invalid());
        };
        let user = match self.core.stores.users.user_by_id(session.user_id).await? {
            Some(u) if u.is_enabled() => u,
            _ => return Err(invalid()),
        };
        let (org_slug, service_slug) = match self.session_org(&session, &user).await? {
            Ok(context) => context,
            Err(_) => return Err(invalid()),
        };
        Ok(RefreshOutcome {
            session: IssuedSession {
                access_token: pair.access_token,
                refresh_token: pair.refresh_token,
                session,
                org_slug,
                service_slug,
            },
            user,
            replayed: true,
        })
    }

    /// The org context of a session if its authority still holds, else the revocation reason.
    async fn session_org(
        &self,
        session: &Session,
        user: &User,
    ) -> Result<Result<(Option<Slug>, Option<String>), RevokeReason>, AppError> {
        let org_id = match (session.kind, session.org_id) {
            (SessionKind::Platform, _) => return Ok(Ok((None, None))),
            (_, Some(id)) => id,
            (_, None) => return Ok(Err(RevokeReason::OrgDeleted)),
        };
        let org = match self.core.stores.orgs.org_by_id(org_id).await? {
            Some(o) if !o.is_deleted() => o,
            _ => return Ok(Err(RevokeReason::OrgDeleted)),
        };
        if org.status() != OrgStatus::Active {
            return Ok(Err(RevokeReason::OrgSuspended));
        }
        if session.kind == SessionKind::Org && !user.is_platform_owner() {
            let member = self.core.stores.members.membership(org_id, user.id()).await?;
            if !member.is_some_and(|m| m.is_active()) {
                return Ok(Err(RevokeReason::MemberRemoved));
            }
        }
        let mut service_slug = None;
        if session.kind == SessionKind::Service {
            let services = self.core.stores.services.org_services(org_id).await?;
            match services.iter().find(|s| Some(s.id()) == session.service_id) {
                Some(s) => service_slug = Some(s.slug().as_str().to_owned()),
                None => return Ok(Err(RevokeReason::ServiceDeleted)),
            }
        }
        Ok(Ok((Some(org.slug().clone()), service_slug)))
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
        self.core.commit(c).await?;
        Err(invalid())
    }

    async fn revoke_for_reuse(
        &self,
        meta: &RequestMeta,
        mut session: Session,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        session.revoke(RevokeReason::RefreshTokenReuse, now);
        let user = self.core.stores.users.user_by_id(session.user_id).await?;
        let caller = user.map(|user| Caller::new(user, Some(session.id)));
        let rec = match &caller {
            Some(caller) => Recorder::for_caller(&self.core, meta, caller, now),
            None => Recorder::system(&self.core, meta, now),
        };
        let org = match session.kind {
            SessionKind::Platform => None,
            SessionKind::Org | SessionKind::Service => session.org_id,
        };
        let event = DomainEvent::SessionRevoked {
            session_id: session.id,
            kind: session.kind,
            org_id: org,
            reason: RevokeReason::RefreshTokenReuse,
        };
        let mut c = Changeset::default();
        rec.record(&mut c, org, None, &[event]);
        c.sessions.push(session);
        self.core.commit(c).await
    }
}
