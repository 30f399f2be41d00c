//! §4: organizations.

use axum::extract::State;
use axum::response::Response;
use org_domain::{DomainError, OrgName, OrgStatus, UpdateOrg};

use super::{created, no_store, null, ok};
use crate::auth::Auth;
use crate::dto::{
    CreateOrganizationRequest, CreateOrganizationResponse, MembershipDto, OrganizationResponse,
    SelectOrganizationResponse, UpdateOrganizationRequest,
};
use crate::error::ApiError;
use crate::extract::{Json, Meta, Path, Query};
use crate::state::HttpState;

/// Create an organization; the caller becomes its owner.
#[utoipa::path(post, path = "/api/organizations", tag = "organizations", operation_id = "create_organization",
    security(("bearer" = [])),
    request_body = CreateOrganizationRequest,
    responses(
        (status = 201, description = "Created; tokens of a new session scoped to the org", body = CreateOrganizationResponse,
            headers(("Location" = String, description = "URL of the new organization"))),
        (status = 400, description = "Invalid slug or name, or the org-per-user cap"),
        (status = 409, description = "The slug is not available"),
    ))]
pub(crate) async fn create_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Json(body): Json<CreateOrganizationRequest>,
) -> Result<Response, ApiError> {
    let c = state
        .app()
        .orgs
        .create(&auth.caller, &meta, &body.slug, &body.name)
        .await?;
    let org = &c.view.org;
    let body = CreateOrganizationResponse {
        organization: org.into(),
        owner: (&c.owner).into(),
        membership: (&c.membership).into(),
        access_token: c.session.access_token.clone(),
        refresh_token: c.session.refresh_token.clone(),
        expires_in: state.expires_in(),
    };
    Ok(no_store(created(
        &state,
        &format!("/api/organizations/{}", org.slug().as_str()),
        body,
    )))
}

/// Organizations the caller is an active member of.
#[utoipa::path(get, path = "/api/organizations", tag = "organizations", operation_id = "list_organizations",
    security(("bearer" = [])),
    params(
        ("page" = Option<u32>, Query, description = "1-based page"),
        ("limit" = Option<u32>, Query, description = "1..100, default 20"),
        ("status" = Option<String>, Query, description = "pending|active|rejected|suspended"),
    ),
    responses((status = 200, description = "Bare array (compat)", body = [OrganizationResponse])))]
pub(crate) async fn list_organizations(
    State(state): State<HttpState>,
    auth: Auth,
    query: Query,
) -> Result<Response, ApiError> {
    let page = query.page(20)?;
    let status = query.parsed("status", OrgStatus::parse)?;
    let mine = state.app().orgs.list_mine(&auth.caller, status, page).await?;
    Ok(ok(mine
        .iter()
        .map(|m| OrganizationResponse::from(&m.view))
        .collect::<Vec<_>>()))
}

/// One organization.
#[utoipa::path(get, path = "/api/organizations/{org_slug}", tag = "organizations", operation_id = "get_organization",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "The organization", body = OrganizationResponse)))]
pub(crate) async fn get_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let view = state.app().orgs.get(&auth.caller, &slug).await?;
    Ok(ok(OrganizationResponse::from(&view)))
}

/// Update the name (and, for platform owners, the limits).
#[utoipa::path(patch, path = "/api/organizations/{org_slug}", tag = "organizations", operation_id = "update_organization",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = UpdateOrganizationRequest,
    responses((status = 200, description = "The updated organization", body = OrganizationResponse)))]
pub(crate) async fn update_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<UpdateOrganizationRequest>,
) -> Result<Response, ApiError> {
    let name = body
        .name
        .as_deref()
        .map(OrgName::parse)
        .transpose()
        .map_err(DomainError::from)?;
    let upd = UpdateOrg {
        name,
        max_services: body.max_services,
        max_users: body.max_users,
    };
    let view = state.app().orgs.update(&auth.caller, &meta, &slug, upd).await?;
    Ok(ok(OrganizationResponse::from(&view)))
}

/// Delete the organization (owner or platform owner).
#[utoipa::path(delete, path = "/api/organizations/{org_slug}", tag = "organizations", operation_id = "delete_organization",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "`null` (compat)", body = Option<String>)))]
pub(crate) async fn delete_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    state.app().orgs.delete(&auth.caller, &meta, &slug).await?;
    metrics::counter!("sessions_revoked_total", "reason" => "org_deleted").increment(1);
    Ok(null())
}

/// A new session scoped to this organization.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/select", tag = "organizations", operation_id = "select_organization",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "Tokens of the new session", body = SelectOrganizationResponse)))]
pub(crate) async fn select_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let s = state.app().orgs.select(&auth.caller, &meta, &slug).await?;
    let org = &s.view.org;
    let body = SelectOrganizationResponse {
        organization: org.into(),
        membership: s.membership.as_ref().map(MembershipDto::from),
        access_token: s.session.access_token.clone(),
        refresh_token: s.session.refresh_token.clone(),
        expires_in: state.expires_in(),
    };
    Ok(no_store(ok(body)))
}
