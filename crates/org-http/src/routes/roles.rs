//! §7: roles.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use org_app::roles::{CreateRole, RoleView, UpdateRole};

use super::{created, ok};
use crate::auth::Auth;
use crate::dto::{CreateRoleRequest, RoleDto, UpdateRoleRequest};
use crate::error::ApiError;
use crate::extract::{Json, Meta, Path, Query};
use crate::state::HttpState;

/// The three built-in roles, then custom roles by creation.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/roles", tag = "roles", operation_id = "list_roles",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "Bare array (compat)", body = [RoleDto])))]
pub(crate) async fn list_roles(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let page = query.page(50)?;
    let roles = state.app().roles.list(&auth.caller, &meta, &slug, page).await?;
    Ok(ok(roles.iter().map(RoleDto::of).collect::<Vec<_>>()))
}

/// Create a custom role.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/roles", tag = "roles", operation_id = "create_role",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = CreateRoleRequest,
    responses(
        (status = 201, description = "Created", body = RoleDto,
            headers(("Location" = String, description = "URL of the new role"))),
        (status = 409, description = "Slug or name exists"),
    ))]
pub(crate) async fn create_role(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<CreateRoleRequest>,
) -> Result<Response, ApiError> {
    let cmd = CreateRole {
        slug: body.slug,
        name: body.name,
        description: body.description,
        permissions: body.permissions,
    };
    let role = state.app().roles.create(&auth.caller, &meta, &slug, cmd).await?;
    let path = format!("/api/organizations/{slug}/roles/{}", role.id());
    Ok(created(&state, &path, RoleDto::of(&RoleView::Custom(role))))
}

/// One role (built-in ids resolve too).
#[utoipa::path(get, path = "/api/organizations/{org_slug}/roles/{role_id}", tag = "roles", operation_id = "get_role",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("role_id" = String, Path)),
    responses((status = 200, description = "The role", body = RoleDto), (status = 404, description = "Unknown role")))]
pub(crate) async fn get_role(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, role_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let role = state.app().roles.get(&auth.caller, &meta, &slug, &role_id).await?;
    Ok(ok(RoleDto::of(&role)))
}

/// Update a custom role (partial).
#[utoipa::path(put, path = "/api/organizations/{org_slug}/roles/{role_id}", tag = "roles", operation_id = "update_role",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("role_id" = String, Path)),
    request_body = UpdateRoleRequest,
    responses(
        (status = 200, description = "The role", body = RoleDto),
        (status = 403, description = "Built-in role, or the grant rule"),
        (status = 404, description = "Unknown role"),
        (status = 409, description = "Name exists"),
    ))]
pub(crate) async fn update_role(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, role_id)): Path<(String, String)>,
    Json(body): Json<UpdateRoleRequest>,
) -> Result<Response, ApiError> {
    let cmd = UpdateRole {
        name: body.name,
        description: body.description,
        permissions: body.permissions,
    };
    let role = state
        .app()
        .roles
        .update(&auth.caller, &meta, &slug, &role_id, cmd)
        .await?;
    Ok(ok(RoleDto::of(&RoleView::Custom(role))))
}

/// Delete a custom role that nobody holds.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/roles/{role_id}", tag = "roles", operation_id = "delete_role",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("role_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Built-in role, or the grant rule"),
        (status = 404, description = "Unknown role"),
        (status = 409, description = "Members hold the role or pending invitations name it"),
    ))]
pub(crate) async fn delete_role(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, role_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.app().roles.delete(&auth.caller, &meta, &slug, &role_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
