//! §19.3–§19.4: end users — the list (newest end user first, page/limit or keyset cursor,
//! `service_slug` filter), one end user in detail, and the revocation of their service
//! sessions.

use axum::extract::State;
use axum::response::Response;
use org_app::end_users::EndUserDetail;
use org_domain::UserId;
use org_domain::login::LoginIdentity;
use org_ports::EndUserQuery;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ok, with_next_cursor};
use crate::auth::Auth;
use crate::cursor::{self, SortKey};
use crate::dto::UserDto;
use crate::error::{ApiError, timestamp};
use crate::extract::{Meta, Path, Query};
use crate::state::HttpState;

/// The cursor family of end-user lists: `end_users:<org id>`.
const FAMILY: &str = "end_users";
/// Offset pages refuse `(page − 1) × limit ≥ 10 000` (§1.6).
const MAX_OFFSET: u64 = 10_000;

/// An identity issued through the org.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IdentityDto {
    pub provider: String,
    pub provider_user_id: String,
    pub created_at: String,
}

impl From<&LoginIdentity> for IdentityDto {
    fn from(i: &LoginIdentity) -> Self {
        Self {
            provider: i.provider.clone(),
            provider_user_id: i.provider_key.clone(),
            created_at: timestamp(i.created_at),
        }
    }
}

/// A subscription (written by the billing component; none are kept by this service).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SubscriptionDto {
    pub service_id: String,
    pub service_slug: String,
    pub service_name: String,
    pub plan_id: String,
    pub plan_name: String,
    pub status: String,
    pub current_period_end: Option<String>,
    pub created_at: String,
}

/// One listed end user.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndUserDto {
    pub user: UserDto,
    pub subscriptions: Vec<SubscriptionDto>,
    pub identities: Vec<IdentityDto>,
}

/// `GET …/users`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndUserList {
    pub users: Vec<EndUserDto>,
    pub total: Option<u64>,
    pub page: Option<u32>,
    pub limit: u32,
    pub next_cursor: Option<String>,
}

/// A live session of one of the org's services.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndUserSessionDto {
    pub id: String,
    pub service_id: Option<String>,
    pub service_name: Option<String>,
    pub org_slug: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// The session's absolute end.
    pub expires_at: String,
    pub refresh_token_expires_at: String,
    pub created_at: String,
}

/// One recent login.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecentLoginDto {
    pub id: String,
    pub service_id: Option<String>,
    pub service_name: Option<String>,
    pub provider: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub risk_score: u8,
    pub risk_factors: Vec<String>,
    pub geo_country: Option<String>,
    pub geo_city: Option<String>,
    pub created_at: String,
}

/// `GET …/users/:user_id`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndUserDetailDto {
    pub user: UserDto,
    pub subscriptions: Vec<SubscriptionDto>,
    pub identities: Vec<IdentityDto>,
    pub session_count: usize,
    pub sessions: Vec<EndUserSessionDto>,
    pub recent_logins: Vec<RecentLoginDto>,
}

impl From<&EndUserDetail> for EndUserDetailDto {
    fn from(d: &EndUserDetail) -> Self {
        let sessions: Vec<EndUserSessionDto> = d
            .sessions
            .iter()
            .map(|(s, svc)| EndUserSessionDto {
                id: s.id.to_string(),
                service_id: s.service_id.map(|v| v.to_string()),
                service_name: svc.as_ref().map(|v| v.name().to_owned()),
                org_slug: d.org_slug.clone(),
                ip_address: s.ip_address.clone(),
                user_agent: s.user_agent.clone(),
                expires_at: timestamp(s.absolute_expires_at),
                refresh_token_expires_at: timestamp(s.expires_at),
                created_at: timestamp(s.created_at),
            })
            .collect();
        Self {
            user: UserDto::from(&d.user),
            subscriptions: Vec::new(),
            identities: d.identities.iter().map(IdentityDto::from).collect(),
            session_count: sessions.len(),
            sessions,
            recent_logins: d
                .recent_logins
                .iter()
                .map(|(e, svc)| RecentLoginDto {
                    id: e.id.to_string(),
                    service_id: e.service_id.map(|v| v.to_string()),
                    service_name: svc.as_ref().map(|v| v.name().to_owned()),
                    provider: e.provider.clone(),
                    ip_address: e.ip_address.clone(),
                    user_agent: e.user_agent.clone(),
                    risk_score: e.risk_score,
                    risk_factors: e.risk_factors.iter().map(|f| f.as_str().to_owned()).collect(),
                    geo_country: e.geo_country.clone(),
                    geo_city: e.geo_city.clone(),
                    created_at: timestamp(e.created_at),
                })
                .collect(),
        }
    }
}

/// `DELETE …/users/:user_id/sessions`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RevokedSessions {
    pub message: String,
    pub revoked_count: u64,
}

fn invalid_cursor() -> ApiError {
    ApiError::invalid("cursor", "malformed or tampered cursor")
}

/// The org's end users, newest end user first.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/users", tag = "end_users", operation_id = "list_end_users",
    security(("bearer" = [])),
    params(
        ("org_slug" = String, Path),
        ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("service_slug" = Option<String>, Query, description = "only that service's end users"),
    ),
    responses(
        (status = 200, description = "A page of end users", body = EndUserList),
        (status = 400, description = "Malformed paging or a foreign cursor (VALIDATION_FAILED)"),
        (status = 404, description = "Unknown org or service_slug"),
    ))]
pub(crate) async fn list_end_users(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let page = query.page(50)?;
    let service_slug = query.text("service_slug").map(str::to_owned);
    let filters = cursor::filter_hash(&[("service_slug", service_slug.clone())]);
    let key = state.cursor_key();
    let opened = match query.text("cursor") {
        Some(c) => Some(cursor::open_family(key, FAMILY, &filters, c)?),
        None => {
            if page.offset() >= MAX_OFFSET {
                return Err(ApiError::invalid("page", "use cursor pagination beyond 10 000 rows"));
            }
            None
        }
    };
    let before = match &opened {
        Some((_, k)) => Some((k.at, UserId::parse(&k.tie).ok_or_else(invalid_cursor)?)),
        None => None,
    };
    let store_query = EndUserQuery {
        service: None,
        before,
        offset: if before.is_some() { 0 } else { page.offset() },
        limit: page.limit + 1,
    };
    let listed = state
        .app()
        .end_users
        .list(
            &auth.caller,
            &meta,
            &slug,
            service_slug.as_deref(),
            store_query,
            before.is_none(),
        )
        .await?;
    let list = format!("{FAMILY}:{}", listed.org_id);
    if let Some((issued_for, _)) = &opened
        && format!("{FAMILY}:{issued_for}") != list
    {
        return Err(ApiError::invalid("cursor", "the cursor was issued for another list"));
    }
    let mut users = listed.users;
    let has_next = users.len() > page.limit as usize;
    users.truncate(page.limit as usize);
    let next = if has_next {
        users.last().map(|u| {
            let k = SortKey {
                at: u.row.standing.since,
                tie: u.row.user_id.to_string(),
            };
            cursor::issue(key, &list, &filters, &k)
        })
    } else {
        None
    };
    let body = EndUserList {
        users: users
            .iter()
            .map(|u| EndUserDto {
                user: UserDto::from(&u.user),
                subscriptions: Vec::new(),
                identities: u.identities.iter().map(IdentityDto::from).collect(),
            })
            .collect(),
        total: listed.total,
        page: before.is_none().then_some(page.page),
        limit: page.limit,
        next_cursor: next.clone(),
    };
    Ok(with_next_cursor(ok(body), next.as_deref()))
}

/// One end user: identities, live service sessions and the 20 most recent logins.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/users/{user_id}", tag = "end_users", operation_id = "get_end_user",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 200, description = "The end user", body = EndUserDetailDto),
        (status = 404, description = "End-user not found"),
    ))]
pub(crate) async fn get_end_user(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let detail = state
        .app()
        .end_users
        .detail(&auth.caller, &meta, &slug, &user_id)
        .await?;
    Ok(ok(EndUserDetailDto::from(&detail)))
}

/// Revokes the end user's sessions of this org's services (not their org sessions).
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/users/{user_id}/sessions", tag = "end_users",
    operation_id = "revoke_end_user_sessions",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 200, description = "How many sessions were revoked", body = RevokedSessions),
        (status = 404, description = "End-user not found"),
    ))]
pub(crate) async fn revoke_end_user_sessions(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let revoked_count = state
        .app()
        .end_users
        .revoke_sessions(&auth.caller, &meta, &slug, &user_id)
        .await?;
    Ok(ok(RevokedSessions {
        message: "Sessions revoked".to_owned(),
        revoked_count,
    }))
}
