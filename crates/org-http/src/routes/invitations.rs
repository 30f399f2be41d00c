//! §6: invitations, org side and invitee side, and the e-mail link redirect.

use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use org_domain::InvitationStatus;

use super::{created, no_store, null, ok};
use crate::auth::Auth;
use crate::dto::{
    AcceptInvitationResponse, CreateInvitationRequest, CreatedInvitationResponse, InvitationDto,
    InvitationTokenRequest, InvitationWithInviter, MyInvitationDto, OrganizationMember,
};
use crate::error::ApiError;
use crate::extract::{Json, Meta, Path, Query};
use crate::state::HttpState;

fn created_body(state: &HttpState, c: &org_app::CreatedInvitation) -> CreatedInvitationResponse {
    CreatedInvitationResponse {
        invitation: InvitationDto::of(&c.view.invitation, state.app().current_time()),
        inviter: c.view.inviter.as_ref().map(Into::into),
        token: c.token.clone(),
    }
}

/// Invite an e-mail address.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/invitations", tag = "invitations", operation_id = "create_invitation",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = CreateInvitationRequest,
    responses(
        (status = 201, description = "Created; the token is shown only here", body = CreatedInvitationResponse,
            headers(("Location" = String, description = "URL of the new invitation"))),
        (status = 400, description = "Invalid e-mail, role or expiry; member cap reached (TEAM_LIMIT_EXCEEDED)"),
        (status = 409, description = "Already a member, or a pending invitation exists"),
    ))]
pub(crate) async fn create_invitation(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<CreateInvitationRequest>,
) -> Result<Response, ApiError> {
    if body.expires_in_days.is_some_and(|d| !(1..=30).contains(&d)) {
        return Err(ApiError::invalid("expires_in_days", "must be between 1 and 30"));
    }
    if body.role.as_deref() == Some("owner") {
        return Err(ApiError::invalid("role", "an invitation cannot grant 'owner'"));
    }
    let c = state
        .app()
        .invitations
        .create(
            &auth.caller,
            &meta,
            &slug,
            &body.email,
            body.role.as_deref(),
            body.expires_in_days,
        )
        .await?;
    let path = format!(
        "/api/organizations/{slug}/invitations/{}",
        c.view.invitation.record().id
    );
    Ok(no_store(created(&state, &path, created_body(&state, &c))))
}

/// The organization's invitations, newest first.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/invitations", tag = "invitations", operation_id = "list_invitations",
    security(("bearer" = [])),
    params(
        ("org_slug" = String, Path),
        ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query),
        ("status" = Option<String>, Query, description = "pending|accepted|rejected|cancelled|expired"),
    ),
    responses((status = 200, description = "Bare array (compat)", body = [InvitationWithInviter])))]
pub(crate) async fn list_invitations(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let page = query.page(50)?;
    let status = query.parsed("status", InvitationStatus::parse)?;
    let list = state
        .app()
        .invitations
        .list(&auth.caller, &meta, &slug, status, page)
        .await?;
    let now = state.app().current_time();
    Ok(ok(list
        .iter()
        .map(|v| InvitationWithInviter::of(v, now))
        .collect::<Vec<_>>()))
}

/// One invitation of the organization.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/invitations/{id}", tag = "invitations", operation_id = "get_invitation",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "The invitation", body = InvitationWithInviter),
        (status = 404, description = "Unknown invitation"),
    ))]
pub(crate) async fn get_invitation(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let v = state.app().invitations.get(&auth.caller, &meta, &slug, &id).await?;
    Ok(ok(InvitationWithInviter::of(&v, state.app().current_time())))
}

async fn cancel(
    state: HttpState,
    auth: Auth,
    meta: org_app::RequestMeta,
    slug: String,
    id: String,
) -> Result<Response, ApiError> {
    state.app().invitations.cancel(&auth.caller, &meta, &slug, &id).await?;
    Ok(null())
}

/// Cancel an invitation (compat alias of `DELETE`).
#[utoipa::path(post, path = "/api/organizations/{org_slug}/invitations/{id}", tag = "invitations", operation_id = "cancel_invitation",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "`null` (compat)", body = Option<String>),
        (status = 404, description = "Unknown invitation"),
        (status = 409, description = "Not pending, or past its expiry"),
    ))]
pub(crate) async fn cancel_invitation(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    cancel(state, auth, meta, slug, id).await
}

/// Cancel an invitation.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/invitations/{id}", tag = "invitations", operation_id = "delete_invitation",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "`null` (compat)", body = Option<String>),
        (status = 404, description = "Unknown invitation"),
        (status = 409, description = "Not pending, or past its expiry"),
    ))]
pub(crate) async fn delete_invitation(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    cancel(state, auth, meta, slug, id).await
}

/// Issue a new token and expiry for a pending invitation.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/invitations/{id}/resend", tag = "invitations", operation_id = "resend_invitation",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "The invitation and its new token", body = CreatedInvitationResponse),
        (status = 404, description = "Unknown invitation"),
        (status = 409, description = "Not pending, or past its expiry"),
    ))]
pub(crate) async fn resend_invitation(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = state.app().invitations.resend(&auth.caller, &meta, &slug, &id).await?;
    Ok(no_store(ok(created_body(&state, &c))))
}

/// Accept an invitation on the invitee's behalf.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/invitations/{id}/accept", tag = "invitations",
    operation_id = "admin_accept_invitation",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "The new member", body = OrganizationMember),
        (status = 400, description = "Expired (INVITATION_EXPIRED) or member cap reached (TEAM_LIMIT_EXCEEDED)"),
        (status = 404, description = "Unknown invitation"),
        (status = 409, description = "Not pending, or already a member"),
    ))]
pub(crate) async fn admin_accept_invitation(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = state
        .app()
        .invitations
        .admin_accept(&auth.caller, &meta, &slug, &id)
        .await?;
    Ok(ok(OrganizationMember::from(&view)))
}

/// The caller's pending invitations.
#[utoipa::path(get, path = "/api/invitations", tag = "invitations", operation_id = "list_my_invitations",
    security(("bearer" = [])),
    responses((status = 200, description = "Bare array", body = [MyInvitationDto])))]
pub(crate) async fn list_my_invitations(State(state): State<HttpState>, auth: Auth) -> Result<Response, ApiError> {
    let list = state.app().invitations.mine(&auth.caller).await?;
    Ok(ok(list.iter().map(MyInvitationDto::from).collect::<Vec<_>>()))
}

fn accepted(view: &org_app::OrgView, m: &org_domain::Membership) -> Response {
    ok(AcceptInvitationResponse {
        organization: (&view.org).into(),
        membership: m.into(),
    })
}

/// Accept an invitation by its token.
#[utoipa::path(post, path = "/api/invitations/accept", tag = "invitations", operation_id = "accept_invitation",
    security(("bearer" = [])),
    request_body = InvitationTokenRequest,
    responses(
        (status = 200, description = "The organization and the new membership", body = AcceptInvitationResponse),
        (status = 400, description = "Expired (INVITATION_EXPIRED) or member cap reached (TEAM_LIMIT_EXCEEDED)"),
        (status = 403, description = "Addressed to another e-mail, or the org is not active"),
        (status = 404, description = "Unknown or no longer pending"),
        (status = 409, description = "Already a member"),
    ))]
pub(crate) async fn accept_invitation(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Json(body): Json<InvitationTokenRequest>,
) -> Result<Response, ApiError> {
    let (view, m) = state
        .app()
        .invitations
        .accept_by_token(&auth.caller, &meta, &body.token)
        .await?;
    Ok(accepted(&view, &m))
}

/// Accept one of the caller's invitations.
#[utoipa::path(post, path = "/api/invitations/{id}/accept", tag = "invitations", operation_id = "accept_invitation_by_id",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The organization and the new membership", body = AcceptInvitationResponse),
        (status = 400, description = "Expired (INVITATION_EXPIRED) or member cap reached (TEAM_LIMIT_EXCEEDED)"),
        (status = 403, description = "The org is not active"),
        (status = 404, description = "Unknown, not pending, or addressed to another e-mail"),
        (status = 409, description = "Already a member"),
    ))]
pub(crate) async fn accept_invitation_by_id(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (view, m) = state.app().invitations.accept_by_id(&auth.caller, &meta, &id).await?;
    Ok(accepted(&view, &m))
}

/// Decline one of the caller's invitations.
#[utoipa::path(post, path = "/api/invitations/{id}/decline", tag = "invitations", operation_id = "decline_invitation",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "`null` (compat)", body = Option<String>),
        (status = 400, description = "Expired (INVITATION_EXPIRED)"),
        (status = 404, description = "Unknown or not addressed to the caller"),
    ))]
pub(crate) async fn decline_invitation(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.app().invitations.decline_by_id(&auth.caller, &meta, &id).await?;
    Ok(null())
}

/// Decline an invitation by its token (public).
#[utoipa::path(post, path = "/api/invitations/decline", tag = "invitations", operation_id = "decline_invitation_by_token",
    request_body = InvitationTokenRequest,
    responses(
        (status = 200, description = "`null` (compat)", body = Option<String>),
        (status = 400, description = "Expired (INVITATION_EXPIRED)"),
        (status = 404, description = "Unknown or not pending"),
    ))]
pub(crate) async fn decline_invitation_by_token(
    State(state): State<HttpState>,
    Meta(meta): Meta,
    Json(body): Json<InvitationTokenRequest>,
) -> Result<Response, ApiError> {
    state.app().invitations.decline_by_token(&meta, &body.token).await?;
    Ok(null())
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// E-mail link: redirect to the web client without looking the token up.
#[utoipa::path(get, path = "/invitations/accept/{token}", tag = "invitations", operation_id = "redirect_invitation_link",
    params(("token" = String, Path)),
    responses(
        (status = 307, description = "Redirect to `<web_client_url>/invitations/accept?token=<token>`"),
        (status = 404, description = "`web_client_url` is not configured"),
    ))]
pub(crate) async fn invitation_link(
    State(state): State<HttpState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let Some(base) = state.config().web_client_url.as_deref() else {
        return Err(ApiError::not_found());
    };
    let target = format!(
        "{}/invitations/accept?token={}",
        base.trim_end_matches('/'),
        encode_component(&token)
    );
    let mut res = StatusCode::TEMPORARY_REDIRECT.into_response();
    let value = HeaderValue::from_str(&target).map_err(|e| ApiError::internal(e.to_string()))?;
    res.headers_mut().insert(LOCATION, value);
    Ok(res)
}
