//! §5: members, role changes, removal, service access, ownership transfer.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use org_app::{AppError, MemberFilter, MemberPosition, ServiceAccess, ServiceAccessChange, TransferTarget};
use org_domain::{DomainError, MembershipStatus, OrgId, Role, UserId};

use super::{null, ok, with_next_cursor};
use crate::auth::Auth;
use crate::cursor::{self, Paging, SortKey, filter_hash};
use crate::dto::{
    ChangeRoleRequest, MemberLimit, MemberListResponse, OrganizationMember, ServiceAccessEntry, ServiceAccessLevel,
    ServiceAccessRequest, TransferOwnershipRequest,
};
use crate::error::{ApiError, ErrorCode, FieldErrorDto};
use crate::extract::{Json, Meta, Path, Query};
use crate::state::{CachedBody, HttpState};

/// The cursor family of member lists.
const MEMBER_LIST: &str = "members";

/// Members of the organization.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/members", tag = "members", operation_id = "list_members",
    security(("bearer" = [])),
    params(
        ("org_slug" = String, Path),
        ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page (keyset; `page` is then ignored)"),
        ("role" = Option<String>, Query, description = "built-in or custom role slug"),
        ("status" = Option<String>, Query, description = "active|deactivated"),
    ),
    responses((status = 200, description = "Members (compat shape)", body = MemberListResponse)))]
pub(crate) async fn list_members(
    State(state): State<HttpState>,
    auth: Auth,
    Path(slug): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let role = query
        .text("role")
        .map(Role::parse)
        .transpose()
        .map_err(|_| ApiError::invalid("role", "must be a built-in role or a custom role slug"))?;
    let filter = MemberFilter {
        role,
        status: query.parsed("status", MembershipStatus::parse)?,
    };
    let filters = filter_hash(&[
        ("role", filter.role.as_ref().map(|r| r.as_str().to_owned())),
        ("status", filter.status.map(|s| s.as_str().to_owned())),
    ]);
    // A cursor is bound to the org's member list (`members:<org id>`): the app checks the id
    // against the org it resolves, so a cursor of another org is refused without a lookup here.
    let paging = Paging::from_query_unbound(&query)?;
    let position = match (query.text("cursor"), paging.offset_page()) {
        (None, Some(page)) => MemberPosition::Offset(page),
        (Some(c), _) => {
            let (org, key) = cursor::open_family(state.cursor_key(), MEMBER_LIST, &filters, c)?;
            let malformed = || ApiError::invalid("cursor", "malformed or tampered cursor");
            MemberPosition::After {
                org: OrgId::parse(&org).ok_or_else(malformed)?,
                joined_at: key.at,
                user_id: UserId::parse(&key.tie).ok_or_else(malformed)?,
                limit: paging.limit(),
            }
        }
        (None, None) => return Err(ApiError::invalid("cursor", "malformed or tampered cursor")),
    };
    // A page kept since the last commit is served as it was serialized (the caller's right to
    // see the list is checked first, from the context the request was authenticated with).
    let key = (
        state.app().members.visible(&auth.caller, &slug).await?,
        page_key(&query),
    );
    if let Some(hit) = auth.token.and_then(|t| state.member_pages().get(t, &key)) {
        return Ok(cached_json(&hit));
    }
    let list = state.app().members.list(&auth.caller, &slug, &filter, position).await?;
    let next_cursor = list.next.map(|(at, user)| {
        cursor::issue(
            state.cursor_key(),
            &format!("{MEMBER_LIST}:{}", list.org.id()),
            &filters,
            &SortKey {
                at,
                tie: user.to_string(),
            },
        )
    });
    let body = MemberListResponse {
        members: list.members.iter().map(OrganizationMember::from).collect(),
        total: list.total,
        page: list.page,
        limit: MemberLimit {
            current: list.active,
            max: list.cap,
            source: list.cap_source,
        },
        next_cursor: next_cursor.clone(),
    };
    let cached = CachedBody {
        body: serde_json::to_vec(&body)
            .map_err(|e| ApiError::internal(e.to_string()))?
            .into(),
        next_cursor,
    };
    let res = cached_json(&cached);
    if let Some(t) = auth.token {
        state.member_pages().put(t, key, std::sync::Arc::new(cached));
    }
    Ok(res)
}

/// The query parameters a member page depends on, in a fixed order.
fn page_key(query: &Query) -> String {
    ["page", "limit", "cursor", "role", "status"]
        .iter()
        .map(|k| query.text(k).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\u{0}")
}

/// A serialized JSON page with its `X-Next-Cursor`.
fn cached_json(c: &CachedBody) -> Response {
    let res = ([(CONTENT_TYPE, "application/json")], c.body.clone()).into_response();
    with_next_cursor(res, c.next_cursor.as_deref())
}

/// Change a member's role (`owner` transfers ownership).
#[utoipa::path(patch, path = "/api/organizations/{org_slug}/members/{user_id}", tag = "members", operation_id = "update_member_role",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("user_id" = String, Path)),
    request_body = ChangeRoleRequest,
    responses(
        (status = 200, description = "The member", body = OrganizationMember),
        (status = 400, description = "Unknown role, or your own role"),
        (status = 404, description = "Not a member"),
        (status = 409, description = "A platform owner targets the owner, whose role changes only by an ownership transfer (CONFLICT)"),
    ))]
pub(crate) async fn update_member_role(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, user_id)): Path<(String, String)>,
    Json(body): Json<ChangeRoleRequest>,
) -> Result<Response, ApiError> {
    let view = state
        .app()
        .members
        .change_role(&auth.caller, &meta, &slug, &user_id, &body.role)
        .await
        .map_err(|e| match e {
            // The domain's text speaks of removal; here the owner's role was to change.
            AppError::Domain(DomainError::OwnerInvariant) => ApiError::new(
                ErrorCode::Conflict,
                "the owner's role changes only by an ownership transfer",
            ),
            e => e.into(),
        })?;
    Ok(ok(OrganizationMember::from(&view)))
}

async fn remove(
    state: HttpState,
    auth: Auth,
    meta: org_app::RequestMeta,
    slug: String,
    user_id: String,
) -> Result<Response, ApiError> {
    state.app().members.remove(&auth.caller, &meta, &slug, &user_id).await?;
    metrics::counter!("sessions_revoked_total", "reason" => "member_removed").increment(1);
    Ok(null())
}

/// Remove a member (compat alias of `DELETE`).
#[utoipa::path(post, path = "/api/organizations/{org_slug}/members/{user_id}", tag = "members", operation_id = "remove_member",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 200, description = "`null` (compat)", body = Option<String>),
        (status = 400, description = "Removing yourself"),
        (status = 404, description = "Not a member"),
        (status = 409, description = "A platform owner targets the owner"),
    ))]
pub(crate) async fn remove_member(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    remove(state, auth, meta, slug, user_id).await
}

/// Remove a member.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/members/{user_id}", tag = "members", operation_id = "delete_member",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 200, description = "`null` (compat)", body = Option<String>),
        (status = 400, description = "Removing yourself"),
        (status = 404, description = "Not a member"),
        (status = 409, description = "A platform owner targets the owner"),
    ))]
pub(crate) async fn delete_member(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    remove(state, auth, meta, slug, user_id).await
}

fn access_entries(list: Vec<ServiceAccess>) -> Vec<ServiceAccessEntry> {
    list.into_iter()
        .map(|a| ServiceAccessEntry {
            service_id: a.service_id,
            service_slug: a.service_slug,
            service_name: a.service_name,
            access: a.access,
        })
        .collect()
}

/// A member's access to each service of the org.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/members/{user_id}/service-access", tag = "members",
    operation_id = "list_member_service_access",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 200, description = "One entry per service", body = [ServiceAccessEntry]),
        (status = 404, description = "Not a member"),
    ))]
pub(crate) async fn list_member_service_access(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let list = state
        .app()
        .members
        .service_access(&auth.caller, &meta, &slug, &user_id)
        .await?;
    Ok(ok(access_entries(list)))
}

/// Set a member's access to some services (partial).
#[utoipa::path(put, path = "/api/organizations/{org_slug}/members/{user_id}/service-access", tag = "members",
    operation_id = "update_member_service_access",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("user_id" = String, Path)),
    request_body = ServiceAccessRequest,
    responses(
        (status = 200, description = "The full list", body = [ServiceAccessEntry]),
        (status = 404, description = "Not a member, or unknown service_slug"),
    ))]
pub(crate) async fn update_member_service_access(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, user_id)): Path<(String, String)>,
    Json(body): Json<ServiceAccessRequest>,
) -> Result<Response, ApiError> {
    if body.grants.is_empty() || body.grants.len() > 100 {
        return Err(ApiError::invalid("grants", "must hold 1-100 items"));
    }
    let mut seen = HashSet::new();
    let duplicates: Vec<FieldErrorDto> = body
        .grants
        .iter()
        .enumerate()
        .filter(|(_, g)| !seen.insert(g.service_slug.as_str()))
        .map(|(i, _)| FieldErrorDto {
            field: format!("grants[{i}].service_slug"),
            message: "service listed more than once".to_owned(),
        })
        .collect();
    if !duplicates.is_empty() {
        return Err(ApiError::validation(duplicates));
    }
    let grants: Vec<ServiceAccessChange> = body
        .grants
        .into_iter()
        .map(|g| ServiceAccessChange {
            service_slug: g.service_slug,
            access: g.access.map(|a| match a {
                ServiceAccessLevel::Viewer => org_domain::service::ServiceAccessLevel::Viewer,
                ServiceAccessLevel::Manager => org_domain::service::ServiceAccessLevel::Manager,
            }),
        })
        .collect();
    let list = state
        .app()
        .members
        .update_service_access(&auth.caller, &meta, &slug, &user_id, &grants)
        .await?;
    Ok(ok(access_entries(list)))
}

/// Make an active member the owner; the previous owner becomes an admin.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/transfer-ownership", tag = "members", operation_id = "transfer_ownership",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = TransferOwnershipRequest,
    responses(
        (status = 200, description = "The new owner", body = OrganizationMember),
        (status = 400, description = "Not exactly one target, or the target already owns the org"),
        (status = 404, description = "No such active member"),
    ))]
pub(crate) async fn transfer_ownership(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<TransferOwnershipRequest>,
) -> Result<Response, ApiError> {
    let target = match (body.new_owner_email, body.new_owner_user_id) {
        (Some(email), None) => TransferTarget::Email(email),
        (None, Some(id)) => TransferTarget::UserId(id),
        _ => {
            return Err(ApiError::invalid(
                "new_owner_email",
                "exactly one of new_owner_email and new_owner_user_id is required",
            ));
        }
    };
    let view = state
        .app()
        .members
        .transfer_ownership(&auth.caller, &meta, &slug, &target)
        .await?;
    Ok(ok(OrganizationMember::from(&view)))
}
