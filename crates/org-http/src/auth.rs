//! Bearer authentication (§2.1, §2.2, §1.5 step 2) as an extractor: the route's class is
//! read from its template, everything else is the app's [`org_app::SessionService::authenticate`].
//! Public routes simply do not use it.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use org_app::{AppError, Caller, RoutePolicy};
use org_domain::Session;
use org_ports::AccessClaims;

use crate::error::{ApiError, ErrorCode};
use crate::ratelimit::Scope;
use crate::state::HttpState;

/// An authenticated caller: the user as stored now, the calling session and the token claims.
#[derive(Clone, Debug)]
pub struct Auth {
    pub caller: Caller,
    pub session: Session,
    pub claims: AccessClaims,
    /// The change token read before this request read anything: responses derived from its
    /// reads may be kept under it.
    pub token: Option<u64>,
}

/// Routes a `service:` token may call (§2.2).
const SERVICE_ROUTES: [(&str, &str); 2] = [("POST", "/api/auth/logout"), ("GET", "/api/user")];
const ORG_PREFIX: &str = "/api/organizations/{org_slug}";
const SELECT_ROUTE: &str = "/api/organizations/{org_slug}/select";
/// Needs only authentication (§1.5 exceptions, §9.2): no org check at all.
const WEBHOOK_EVENT_TYPES_ROUTE: &str = "/api/organizations/{org_slug}/webhooks/event-types";

/// The bearer credential of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn count_failure(code: ErrorCode) {
    metrics::counter!("auth_failures_total", "error_code" => code.as_str()).increment(1);
}

/// What the route accepts: service tokens on two routes only, and on an org's routes an
/// org-scoped token must be scoped to that org (except `select` and the event types).
/// The org's context in the path is read with the session, for the handler's use case.
fn policy<'p>(parts: &'p Parts, route: &str) -> RoutePolicy<'p> {
    let in_org = route.starts_with(ORG_PREFIX);
    let scoped = in_org && route != SELECT_ROUTE && route != WEBHOOK_EVENT_TYPES_ROUTE;
    let path_org = in_org.then(|| parts.uri.path().split('/').nth(3).unwrap_or_default());
    RoutePolicy {
        service_tokens: SERVICE_ROUTES
            .iter()
            .any(|(m, r)| parts.method.as_str() == *m && route == *r),
        org_slug: path_org.filter(|_| scoped),
        path_org: path_org.filter(|_| route != WEBHOOK_EVENT_TYPES_ROUTE),
    }
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
            count_failure(ErrorCode::Unauthorized);
            return Err(ApiError::no_credential());
        };
        let authenticated = state
            .app()
            .sessions
            .authenticate(raw, policy(parts, &route))
            .await
            .map_err(|e| {
                let err = ApiError::from(e.clone());
                if matches!(e, AppError::Token(_) | AppError::Unauthorized(_)) {
                    count_failure(err.code);
                }
                err
            })?;
        // Per-session rate limit (§21.5).
        state
            .limiter()
            .check(
                Scope::Session,
                &authenticated.claims.sid,
                state.config().rate_limits.api_per_session,
            )
            .map_err(|retry| {
                metrics::counter!("rate_limited_total", "scope" => Scope::Session.as_str()).increment(1);
                ApiError::rate_limited(retry)
            })?;
        Ok(Auth {
            caller: authenticated.caller,
            session: authenticated.session,
            claims: authenticated.claims,
            token: authenticated.token,
        })
    }
}
