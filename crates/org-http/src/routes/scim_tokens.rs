//! §10.1: an org's SCIM tokens (create, list, get, revoke, delete).

use axum::extract::State;
use axum::response::Response;
use chrono::DateTime;
use org_domain::scim_token::ScimTokenDraft;

use super::{created, no_store, null, ok};
use crate::auth::Auth;
use crate::dto::{CreateScimTokenRequest, CreatedScimTokenResponse, ScimTokenDto};
use crate::error::{ApiError, timestamp};
use crate::extract::{Json, Meta, Path, Query};
use crate::state::HttpState;

/// Create a token; the response shows it once.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/scim-tokens", tag = "scim", operation_id = "create_scim_token",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = CreateScimTokenRequest,
    responses(
        (status = 201, description = "Created, with `token` (Cache-Control: no-store)", body = CreatedScimTokenResponse,
            headers(("Location" = String, description = "URL of the new token"))),
        (status = 400, description = "Bad name or expiry (VALIDATION_FAILED)"),
        (status = 403, description = "Missing capability, or the tier lacks SCIM (FEATURE_NOT_AVAILABLE_IN_TIER)"),
    ))]
pub(crate) async fn create_scim_token(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<CreateScimTokenRequest>,
) -> Result<Response, ApiError> {
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|t| {
            DateTime::parse_from_rfc3339(t.trim())
                .map(|d| d.to_utc())
                .map_err(|_| ApiError::invalid("expires_at", "must be an RFC 3339 timestamp"))
        })
        .transpose()?;
    let draft = ScimTokenDraft {
        name: body.name,
        expires_at,
    };
    let made = state
        .app()
        .directory
        .create_token(&auth.caller, &meta, &slug, draft)
        .await?;
    let r = made.token.record();
    let path = format!("/api/organizations/{slug}/scim-tokens/{}", r.id);
    let body = CreatedScimTokenResponse {
        id: r.id.to_string(),
        name: r.name.clone(),
        token: made.plaintext.clone(),
        prefix: r.prefix.clone(),
        created_by: r.created_by.to_string(),
        created_at: timestamp(r.created_at),
        expires_at: r.expires_at.map(timestamp),
    };
    Ok(no_store(created(&state, &path, body)))
}

/// The org's tokens, oldest first.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/scim-tokens", tag = "scim", operation_id = "list_scim_tokens",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "Bare array (compat)", body = [ScimTokenDto])))]
pub(crate) async fn list_scim_tokens(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let page = query.page(50)?;
    let tokens = state
        .app()
        .directory
        .list_tokens(&auth.caller, &meta, &slug, page)
        .await?;
    let now = state.app().current_time();
    Ok(ok(tokens.iter().map(|t| ScimTokenDto::of(t, now)).collect::<Vec<_>>()))
}

/// One token.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/scim-tokens/{id}", tag = "scim", operation_id = "get_scim_token",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The token", body = ScimTokenDto), (status = 404, description = "Unknown token")))]
pub(crate) async fn get_scim_token(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = state.app().directory.get_token(&auth.caller, &meta, &slug, &id).await?;
    Ok(ok(ScimTokenDto::of(&t, state.app().current_time())))
}

/// Revoke a token (idempotent).
#[utoipa::path(post, path = "/api/organizations/{org_slug}/scim-tokens/{id}/revoke", tag = "scim", operation_id = "revoke_scim_token",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "`null`"), (status = 404, description = "Unknown token")))]
pub(crate) async fn revoke_scim_token(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state
        .app()
        .directory
        .revoke_token(&auth.caller, &meta, &slug, &id)
        .await?;
    Ok(null())
}

/// Delete a token for good.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/scim-tokens/{id}", tag = "scim", operation_id = "delete_scim_token",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "`null`"), (status = 404, description = "Unknown token")))]
pub(crate) async fn delete_scim_token(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state
        .app()
        .directory
        .delete_token(&auth.caller, &meta, &slug, &id)
        .await?;
    Ok(null())
}
