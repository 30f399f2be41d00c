//! §2: refresh, logout, the current user, the JWKS.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::Response;
use org_domain::SessionKind;
use org_ports::PageRequest;
use sha2::{Digest, Sha256};

use super::{no_store, ok};
use crate::auth::Auth;
use crate::dto::{
    CurrentUserResponse, Jwks, MembershipDto, MessageResponse, OrganizationSummary, RefreshRequest, SessionInfo,
    TokenResponse, UserMembership, capability_names,
};
use crate::error::{ApiError, timestamp};
use crate::extract::{Json, Meta};
use crate::state::{HttpState, Replay};

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
    let len = body.refresh_token.chars().count();
    if !(1..=1000).contains(&len) {
        return Err(ApiError::invalid("refresh_token", "must be 1-1000 characters"));
    }
    let consumed: [u8; 32] = Sha256::digest(body.refresh_token.as_bytes()).into();
    if let Some(res) = replayed(&state, &consumed).await {
        return Ok(res);
    }
    let outcome = match state.app().refresh(&meta, &body.refresh_token).await {
        Ok(o) => o,
        Err(e) => {
            // A concurrent refresh with the same token may have rotated it meanwhile.
            if let Some(res) = replayed(&state, &consumed).await {
                return Ok(res);
            }
            return Err(e.into());
        }
    };
    let access_token = state.mint_access_token(&outcome.user, &outcome.session);
    let refresh_token = outcome.session.refresh_token.clone();
    state.remember_rotation(
        consumed,
        Replay {
            until: state.app().current_time() + state.app().config().refresh_reuse_window,
            user_id: outcome.user.id,
            session_id: outcome.session.session.id,
            access_token: access_token.clone(),
            refresh_token: refresh_token.clone(),
        },
    );
    Ok(token_response(&state, access_token, refresh_token))
}

fn token_response(state: &HttpState, access_token: String, refresh_token: String) -> Response {
    no_store(ok(TokenResponse {
        access_token,
        refresh_token,
        expires_in: state.expires_in(),
        token_type: "Bearer".to_owned(),
    }))
}

/// The response of the rotation that consumed this token, while the window lasts and the
/// session is live (§2.5 replay window; kept in process memory only).
async fn replayed(state: &HttpState, consumed: &[u8; 32]) -> Option<Response> {
    let r = state.replay_of(consumed)?;
    state.app().authenticate(r.user_id, r.session_id).await.ok()?;
    Some(token_response(state, r.access_token, r.refresh_token))
}

/// Revoke the calling session.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", operation_id = "logout_session",
    security(("bearer" = [])),
    responses((status = 200, description = "Logged out", body = MessageResponse)))]
pub(crate) async fn logout(State(state): State<HttpState>, auth: Auth, Meta(meta): Meta) -> Result<Response, ApiError> {
    state.app().logout(&auth.caller, &meta).await?;
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
                .list_my_orgs(&auth.caller, None, PageRequest::new(page, 100))
                .await?;
            let n = orgs.len();
            for view in orgs {
                let org = &view.org;
                let Some(m) = org.active_membership(user.id) else {
                    continue;
                };
                let caps = org.role_caps(&m.role).unwrap_or_default();
                permissions.push(format!("organization:{}#{}", org.id(), m.role.as_str()));
                memberships.push(UserMembership {
                    organization: OrganizationSummary {
                        id: org.id().to_string(),
                        slug: org.slug().as_str().to_owned(),
                        name: org.state().name.as_str().to_owned(),
                        status: org.status().as_str().to_owned(),
                    },
                    membership: MembershipDto::of(org, m),
                    capabilities: capability_names(caps.resolved()),
                });
            }
            if n < 100 {
                break;
            }
            page += 1;
        }
    }
    Ok(ok(CurrentUserResponse {
        id: user.id.to_string(),
        email: user.email.as_str().to_owned(),
        name: user.name.clone(),
        is_platform_owner: user.is_platform_owner,
        created_at: timestamp(user.created_at),
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
    let mut res = ok(state.keys().jwks());
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}
