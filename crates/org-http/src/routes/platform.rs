//! §20: platform administration (platform owners only).

use axum::extract::State;
use axum::response::Response;
use org_app::platform::{Lifecycle, PlatformPatch};
use org_domain::OrgStatus;
use org_ports::OrgFilter;

use super::ok;
use crate::auth::Auth;
use crate::dto::{
    ApproveRequest, OrganizationResponse, PlatformOrganizationList, PlatformUpdateOrganizationRequest, RejectRequest,
    SuspendRequest, TierDto,
};
use crate::error::ApiError;
use crate::extract::{Json, Meta, Path, Query};
use crate::state::HttpState;

/// Every organization that is not deleted.
#[utoipa::path(get, path = "/api/platform/organizations", tag = "platform", operation_id = "platform_list_organizations",
    security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "pending|active|rejected|suspended"),
        ("q" = Option<String>, Query, description = "substring of slug or name"),
        ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query, description = "default 20"),
    ),
    responses((status = 200, description = "A page of organizations", body = PlatformOrganizationList)))]
pub(crate) async fn platform_list_organizations(
    State(state): State<HttpState>,
    auth: Auth,
    query: Query,
) -> Result<Response, ApiError> {
    let page = query.page(20)?;
    let filter = OrgFilter {
        status: query.parsed("status", OrgStatus::parse)?,
        q: query.text("q").map(str::to_owned),
    };
    let (views, total) = state.app().platform.list_orgs(&auth.caller, &filter, page).await?;
    Ok(ok(PlatformOrganizationList {
        organizations: views.iter().map(OrganizationResponse::from).collect(),
        total,
        page: page.page,
        limit: page.limit,
    }))
}

/// One organization, whatever its status.
#[utoipa::path(get, path = "/api/platform/organizations/{org_slug}", tag = "platform", operation_id = "platform_get_organization",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "The organization", body = OrganizationResponse), (status = 404, description = "Unknown")))]
pub(crate) async fn platform_get_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let view = state.app().platform.get_org(&auth.caller, &slug).await?;
    Ok(ok(OrganizationResponse::from(&view)))
}

/// Tier, limits and feature overrides.
#[utoipa::path(patch, path = "/api/platform/organizations/{org_slug}", tag = "platform", operation_id = "platform_update_organization",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = PlatformUpdateOrganizationRequest,
    responses(
        (status = 200, description = "The organization", body = OrganizationResponse),
        (status = 400, description = "Unknown tier, or a bad override"),
        (status = 404, description = "Unknown"),
    ))]
pub(crate) async fn platform_update_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<PlatformUpdateOrganizationRequest>,
) -> Result<Response, ApiError> {
    let patch = PlatformPatch {
        tier_id: body.tier_id,
        max_services: body.max_services,
        max_users: body.max_users,
        feature_overrides: body.feature_overrides.map(|o| o.map(Into::into)),
    };
    let view = state
        .app()
        .platform
        .patch_org(&auth.caller, &meta, &slug, patch)
        .await?;
    Ok(ok(OrganizationResponse::from(&view)))
}

async fn lifecycle(
    state: &HttpState,
    auth: &Auth,
    meta: &org_app::RequestMeta,
    slug: &str,
    action: Lifecycle,
) -> Result<Response, ApiError> {
    let view = state.app().platform.lifecycle(&auth.caller, meta, slug, action).await?;
    Ok(ok(OrganizationResponse::from(&view)))
}

/// `pending` → `active`.
#[utoipa::path(post, path = "/api/platform/organizations/{org_slug}/approve", tag = "platform", operation_id = "approve_organization",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = ApproveRequest,
    responses(
        (status = 200, description = "The organization", body = OrganizationResponse),
        (status = 400, description = "Unknown tier"),
        (status = 404, description = "Unknown"),
        (status = 409, description = "Not pending"),
    ))]
pub(crate) async fn approve_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<ApproveRequest>,
) -> Result<Response, ApiError> {
    lifecycle(
        &state,
        &auth,
        &meta,
        &slug,
        Lifecycle::Approve { tier_id: body.tier_id },
    )
    .await
}

/// `pending` → `rejected`.
#[utoipa::path(post, path = "/api/platform/organizations/{org_slug}/reject", tag = "platform", operation_id = "reject_organization",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = RejectRequest,
    responses(
        (status = 200, description = "The organization", body = OrganizationResponse),
        (status = 404, description = "Unknown"),
        (status = 409, description = "Not pending"),
    ))]
pub(crate) async fn reject_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<RejectRequest>,
) -> Result<Response, ApiError> {
    let reason = body.reason.trim().to_owned();
    if !(1..=1000).contains(&reason.chars().count()) {
        return Err(ApiError::invalid("reason", "must be 1-1000 characters"));
    }
    lifecycle(&state, &auth, &meta, &slug, Lifecycle::Reject { reason }).await
}

/// `active` → `suspended`; revokes every session of the org.
#[utoipa::path(post, path = "/api/platform/organizations/{org_slug}/suspend", tag = "platform", operation_id = "suspend_organization",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = SuspendRequest,
    responses(
        (status = 200, description = "The organization", body = OrganizationResponse),
        (status = 404, description = "Unknown"),
        (status = 409, description = "Not active"),
    ))]
pub(crate) async fn suspend_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<SuspendRequest>,
) -> Result<Response, ApiError> {
    let reason = body.reason.map(|r| r.trim().to_owned());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
        return Err(ApiError::invalid("reason", "must be at most 1000 characters"));
    }
    let res = lifecycle(&state, &auth, &meta, &slug, Lifecycle::Suspend { reason }).await?;
    metrics::counter!("sessions_revoked_total", "reason" => "org_suspended").increment(1);
    Ok(res)
}

/// `suspended` → `active`.
#[utoipa::path(post, path = "/api/platform/organizations/{org_slug}/activate", tag = "platform", operation_id = "activate_organization",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses(
        (status = 200, description = "The organization", body = OrganizationResponse),
        (status = 404, description = "Unknown"),
        (status = 409, description = "Not suspended"),
    ))]
pub(crate) async fn activate_organization(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    lifecycle(&state, &auth, &meta, &slug, Lifecycle::Activate).await
}

/// The configured tiers.
#[utoipa::path(get, path = "/api/platform/tiers", tag = "platform", operation_id = "list_tiers",
    security(("bearer" = [])),
    responses((status = 200, description = "Bare array", body = [TierDto])))]
pub(crate) async fn list_tiers(State(state): State<HttpState>, auth: Auth) -> Result<Response, ApiError> {
    let tiers = state.app().platform.tiers(&auth.caller)?;
    Ok(ok(tiers.iter().map(TierDto::from).collect::<Vec<_>>()))
}
