//! §2: refresh, logout, the current user, the JWKS.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::Response;
use org_app::AppError;
use org_domain::SessionKind;
use org_ports::PageRequest;

use super::{no_store, ok};
use crate::auth::Auth;
use crate::dto::{
    CurrentUserResponse, Jwks, MembershipDto, MessageResponse, OrganizationSummary, RefreshRequest, SessionInfo,
    TokenResponse, UserMembership, capability_names,
};
use crate::error::{ApiError, timestamp};
use crate::extract::{Json, Meta};
use crate::ratelimit::Scope;
use crate::state::HttpState;

/// Rotate a refresh token.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", operation_id = "refresh_session",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = TokenResponse),
        (status = 401, description = "Unknown, consumed, expired or revoked refresh token"),
    ))]
pub(crate) async fn refresh(
    State(state): State<HttpState>,
    Meta(meta): Meta,
    Json(body): Json<RefreshRequest>,
) -> Result<Response, ApiError> {
    // The per-IP refresh bucket (§21.5): taken now, given back when the answer is a replay;
    // once it is empty only replays are answered.
    let key = meta.ip.clone().unwrap_or_default();
    let (limiter, per_minute) = (state.limiter(), state.config().rate_limits.refresh_per_ip);
    let budget = limiter.check(Scope::Refresh, &key, per_minute);
    let refused = |retry: u64| {
        metrics::counter!("rate_limited_total", "scope" => Scope::Refresh.as_str()).increment(1);
        ApiError::rate_limited(retry)
    };
    let len = body.refresh_token.chars().count();
    if !(1..=1000).contains(&len) {
        return Err(budget.err().map_or_else(
            || ApiError::invalid("refresh_token", "must be 1-1000 characters"),
            refused,
        ));
    }
    let outcome = match state
        .app()
        .sessions
        .refresh(&meta, &body.refresh_token, budget.is_ok())
        .await
    {
        Err(AppError::RateLimited) => return Err(refused(budget.err().unwrap_or(1))),
        other => other?,
    };
    if outcome.replayed && budget.is_ok() {
        limiter.refund(Scope::Refresh, &key, per_minute);
    }
    Ok(no_store(ok(TokenResponse {
        access_token: outcome.session.access_token,
        refresh_token: outcome.session.refresh_token,
        expires_in: state.expires_in(),
        token_type: "Bearer".to_owned(),
    })))
}

/// Revoke the calling session.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", operation_id = "logout_session",
    security(("bearer" = [])),
    responses((status = 200, description = "Logged out", body = MessageResponse)))]
pub(crate) async fn logout(State(state): State<HttpState>, auth: Auth, Meta(meta): Meta) -> Result<Response, ApiError> {
    state.app().sessions.logout(&auth.caller, &meta).await?;
    metrics::counter!("sessions_revoked_total", "reason" => "logout").increment(1);
    Ok(ok(MessageResponse {
        message: "Logged out".to_owned(),
    }))
}

/// The current user, session and memberships.
#[utoipa::path(get, path = "/api/user", tag = "auth", operation_id = "get_current_user",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = CurrentUserResponse)))]
pub(crate) async fn current_user(State(state): State<HttpState>, auth: Auth) -> Result<Response, ApiError> {
    let user = &auth.caller.user;
    let mut memberships = Vec::new();
    let mut permissions = Vec::new();
    if auth.session.kind != SessionKind::Service {
        let mut page = 1;
        loop {
            let orgs = state
                .app()
                .orgs
                .list_mine(&auth.caller, None, PageRequest::new(page, 100))
                .await?;
            let n = orgs.len();
            for mine in orgs {
                let org = &mine.view.org;
                let Some(m) = mine.context.membership.as_ref().filter(|m| m.is_active()) else {
                    continue;
                };
                let caps = m.capabilities(mine.context.role.as_ref());
                permissions.push(format!("organization:{}#{}", org.id(), m.role().as_str()));
                memberships.push(UserMembership {
                    organization: OrganizationSummary {
                        id: org.id().to_string(),
                        slug: org.slug().as_str().to_owned(),
                        name: org.state().name.as_str().to_owned(),
                        status: org.status().as_str().to_owned(),
                    },
                    membership: MembershipDto::from(m),
                    capabilities: capability_names(caps),
                });
            }
            if n < 100 {
                break;
            }
            page += 1;
        }
    }
    Ok(ok(CurrentUserResponse {
        id: user.id().to_string(),
        email: user.email().as_str().to_owned(),
        name: user.name().map(str::to_owned),
        is_platform_owner: user.is_platform_owner(),
        org_id: None,
        email_verified_at: None,
        created_at: timestamp(user.created_at()),
        updated_at: timestamp(user.record().updated_at),
        deleted_at: None,
        session: SessionInfo {
            id: auth.session.id.to_string(),
            aud: auth.claims.aud.clone(),
            org_slug: auth.claims.org.clone(),
            service_slug: auth.claims.service.clone(),
            created_at: timestamp(auth.session.created_at),
            expires_at: timestamp(auth.session.expires_at),
        },
        memberships,
        permissions,
    }))
}

/// The public signing keys.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", operation_id = "get_jwks",
    responses((status = 200, description = "JSON Web Key Set", body = Jwks)))]
pub(crate) async fn jwks(State(state): State<HttpState>) -> Response {
    let keys = state
        .config()
        .jwks
        .as_ref()
        .map_or_else(|| serde_json::json!({"keys": []}), |render| render());
    let mut res = ok(keys);
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}
