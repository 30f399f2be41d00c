//! Bearer authentication (§2.1 steps 1–6, §2.2 audiences) and step 2 of §1.5 (a token scoped
//! to another org → 403), as an extractor. Public routes simply do not use it.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use org_app::{AppError, Caller};
use org_domain::{Session, SessionId, UserId};

use crate::error::{ApiError, ErrorCode};
use crate::ratelimit::Scope;
use crate::state::HttpState;
use crate::token::{self, AccessClaims, Audience, TokenError};

/// An authenticated caller: the user as stored now, the calling session and the token claims.
#[derive(Clone, Debug)]
pub struct Auth {
    pub caller: Caller,
    pub session: Session,
    pub claims: AccessClaims,
}

/// Routes a `service:` token may call (§2.2).
const SERVICE_ROUTES: [(&str, &str); 2] = [("POST", "/api/auth/logout"), ("GET", "/api/user")];
const ORG_PREFIX: &str = "/api/organizations/{org_slug}";
const SELECT_ROUTE: &str = "/api/organizations/{org_slug}/select";
/// Needs only authentication (§1.5 exceptions, §9.2): no org check at all.
const WEBHOOK_EVENT_TYPES_ROUTE: &str = "/api/organizations/{org_slug}/webhooks/event-types";

fn fail(code: ErrorCode, detail: &str) -> ApiError {
    metrics::counter!("auth_failures_total", "error_code" => code.as_str()).increment(1);
    ApiError::new(code, detail)
}

/// The bearer credential of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<HttpState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Self::Rejection> {
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        let Some(raw) = bearer(parts) else {
            metrics::counter!("auth_failures_total", "error_code" => ErrorCode::Unauthorized.as_str()).increment(1);
            return Err(ApiError::no_credential());
        };
        let now = state.app().current_time();
        // Steps 1–4.
        let claims = token::validate(&state.keys(), state.config().base_url(), raw, now).map_err(|e| match e {
            TokenError::Invalid(why) => fail(ErrorCode::JwtError, why),
            TokenError::Expired => fail(ErrorCode::TokenExpired, "Access token has expired"),
        })?;
        // Step 5: the audience is accepted on this route.
        let audience = claims
            .audience()
            .ok_or_else(|| fail(ErrorCode::JwtError, "audience not accepted"))?;
        if audience == Audience::Service
            && !SERVICE_ROUTES
                .iter()
                .any(|(m, r)| parts.method.as_str() == *m && route == *r)
        {
            return Err(fail(ErrorCode::JwtError, "token audience not accepted on this route"));
        }
        // Step 6: the session is live and the user enabled.
        let (user_id, session_id) = match (UserId::parse(&claims.sub), SessionId::parse(&claims.sid)) {
            (Some(u), Some(s)) => (u, s),
            _ => return Err(fail(ErrorCode::JwtError, "malformed subject or session claim")),
        };
        let (user, session) = state
            .app()
            .authenticate(user_id, session_id)
            .await
            .map_err(|e| match e {
                AppError::Unauthorized(detail) => fail(ErrorCode::Unauthorized, &detail),
                other => ApiError::from(other),
            })?;
        // Per-session rate limit (§21.5).
        state
            .limiter()
            .check(Scope::Session, &claims.sid, state.config().rate_limits.api_per_session)
            .map_err(|retry| {
                metrics::counter!("rate_limited_total", "scope" => Scope::Session.as_str()).increment(1);
                ApiError::rate_limited(retry)
            })?;
        // §1.5 step 2: an org-scoped token on another org's routes.
        if let Audience::Org(token_org) = &audience
            && route.starts_with(ORG_PREFIX)
            && route != SELECT_ROUTE
            && route != WEBHOOK_EVENT_TYPES_ROUTE
        {
            let slug = parts.uri.path().split('/').nth(3).unwrap_or_default();
            if slug != token_org {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "token is scoped to another organization; select this organization first",
                ));
            }
        }
        Ok(Auth {
            caller: Caller {
                user,
                session_id: Some(session.id),
            },
            session,
            claims,
        })
    }
}
