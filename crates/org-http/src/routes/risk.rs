//! §16: risk settings (get, partial update validated as a whole, reset) and the risk-events
//! list (compat: a bare array, a **0-based** `page`, `min_score`, and the next cursor in
//! `X-Next-Cursor` and `Link`).

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::LINK;
use axum::response::Response;
use org_domain::risk::{RiskEvent, RiskEventId, RiskSettings, RiskSettingsUpdate};
use org_ports::RiskEventQuery;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ok, with_next_cursor};
use crate::auth::Auth;
use crate::cursor::{self, SortKey};
use crate::error::{ApiError, timestamp};
use crate::extract::{Json, Meta, Path, Query, non_null};
use crate::state::HttpState;

/// `RiskSettings` (§16.1).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskSettingsResponse {
    /// `log_only`, `monitor`, `challenge` or `block`.
    pub enforcement_mode: String,
    pub low_threshold: u8,
    pub medium_threshold: u8,
    pub new_device_score: u8,
    pub impossible_travel_score: u8,
    /// Logins per hour.
    pub velocity_threshold: u16,
    pub velocity_score: u8,
    pub updated_at: String,
}

impl From<&RiskSettings> for RiskSettingsResponse {
    fn from(s: &RiskSettings) -> Self {
        let p = s.policy();
        Self {
            enforcement_mode: p.enforcement_mode.as_str().to_owned(),
            low_threshold: p.low_threshold,
            medium_threshold: p.medium_threshold,
            new_device_score: p.new_device_score,
            impossible_travel_score: p.impossible_travel_score,
            velocity_threshold: p.velocity_threshold,
            velocity_score: p.velocity_score,
            updated_at: timestamp(s.record().updated_at),
        }
    }
}

/// `{message, settings}` of the update and reset responses.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskSettingsSavedResponse {
    pub message: String,
    pub settings: RiskSettingsResponse,
}

/// `PUT …/risk-settings` (partial): any subset of the writable fields; `null` is refused
/// (no field is nullable).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRiskSettingsRequest {
    /// `log_only`, `monitor`, `challenge` or `block`.
    #[serde(default, deserialize_with = "non_null")]
    pub enforcement_mode: Option<String>,
    /// 0–100, below `medium_threshold` (the stored one when absent).
    #[serde(default, deserialize_with = "non_null")]
    pub low_threshold: Option<i64>,
    /// 0–100.
    #[serde(default, deserialize_with = "non_null")]
    pub medium_threshold: Option<i64>,
    /// 0–100.
    #[serde(default, deserialize_with = "non_null")]
    pub new_device_score: Option<i64>,
    /// 0–100.
    #[serde(default, deserialize_with = "non_null")]
    pub impossible_travel_score: Option<i64>,
    /// 1–10 000 logins per hour.
    #[serde(default, deserialize_with = "non_null")]
    pub velocity_threshold: Option<i64>,
    /// 0–100.
    #[serde(default, deserialize_with = "non_null")]
    pub velocity_score: Option<i64>,
}

impl UpdateRiskSettingsRequest {
    fn into_update(self) -> RiskSettingsUpdate {
        RiskSettingsUpdate {
            enforcement_mode: self.enforcement_mode,
            low_threshold: self.low_threshold,
            medium_threshold: self.medium_threshold,
            new_device_score: self.new_device_score,
            impossible_travel_score: self.impossible_travel_score,
            velocity_threshold: self.velocity_threshold,
            velocity_score: self.velocity_score,
        }
    }
}

/// `RiskEvent` (§16.4).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskEventDto {
    pub id: String,
    /// `null` for a failed attempt with an unknown e-mail.
    pub user_id: Option<String>,
    pub user_email: String,
    pub service_id: Option<String>,
    pub created_at: String,
    pub risk_score: u8,
    pub risk_factors: Vec<String>,
    /// `allow`, `challenge_mfa` or `block`.
    pub risk_action: String,
    pub geo_country: Option<String>,
    pub geo_city: Option<String>,
    pub geo_lat: Option<f64>,
    pub geo_long: Option<f64>,
    pub ip_address: Option<String>,
    pub provider: String,
}

impl From<&RiskEvent> for RiskEventDto {
    fn from(e: &RiskEvent) -> Self {
        Self {
            id: e.id.to_string(),
            user_id: e.user_id.map(|u| u.to_string()),
            user_email: e.user_email.clone(),
            service_id: e.service_id.map(|s| s.hyphenated().to_string()),
            created_at: timestamp(e.created_at),
            risk_score: e.risk_score,
            risk_factors: e.risk_factors.iter().map(|f| f.as_str().to_owned()).collect(),
            risk_action: e.risk_action.as_str().to_owned(),
            geo_country: e.geo_country.clone(),
            geo_city: e.geo_city.clone(),
            geo_lat: e.geo_lat,
            geo_long: e.geo_long,
            ip_address: e.ip_address.clone(),
            provider: e.provider.clone(),
        }
    }
}

/// The org's risk settings.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/risk-settings", tag = "risk",
    operation_id = "get_risk_settings",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses(
        (status = 200, description = "The settings (defaults until changed)", body = RiskSettingsResponse),
    ))]
pub(crate) async fn get_risk_settings(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let settings = state.app().risk.settings(&auth.caller, &meta, &slug).await?;
    Ok(ok(RiskSettingsResponse::from(&settings)))
}

/// Update the org's risk settings (partial); the merged result is validated as a whole.
#[utoipa::path(put, path = "/api/organizations/{org_slug}/risk-settings", tag = "risk",
    operation_id = "update_risk_settings",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = UpdateRiskSettingsRequest,
    responses(
        (status = 200, description = "Saved (`Risk settings updated`)", body = RiskSettingsSavedResponse),
        (status = 400, description = "A field out of range, or `low_threshold` not below `medium_threshold` after the merge (VALIDATION_FAILED naming the field); nothing is written"),
    ))]
pub(crate) async fn update_risk_settings(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<UpdateRiskSettingsRequest>,
) -> Result<Response, ApiError> {
    let settings = state
        .app()
        .risk
        .update(&auth.caller, &meta, &slug, body.into_update())
        .await?;
    Ok(ok(RiskSettingsSavedResponse {
        message: "Risk settings updated".to_owned(),
        settings: RiskSettingsResponse::from(&settings),
    }))
}

/// Reset the org's risk settings to the defaults.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/risk-settings/reset", tag = "risk",
    operation_id = "reset_risk_settings",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses(
        (status = 200, description = "Reset (`Risk settings reset to defaults`)", body = RiskSettingsSavedResponse),
    ))]
pub(crate) async fn reset_risk_settings(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let settings = state.app().risk.reset(&auth.caller, &meta, &slug).await?;
    Ok(ok(RiskSettingsSavedResponse {
        message: "Risk settings reset to defaults".to_owned(),
        settings: RiskSettingsResponse::from(&settings),
    }))
}

/// Offset pages refuse `page × limit ≥ 10 000` (§1.6).
const MAX_OFFSET: u64 = 10_000;

/// The cursor family of risk-event lists: `risk_events:<org id>`.
const FAMILY: &str = "risk_events";

/// The query of §16.4, parsed: each malformed value is a 400 naming its parameter.
struct EventsQuery {
    min_score: u8,
    limit: u32,
    page: u32,
    /// The org the cursor was issued for and its position.
    cursor: Option<(String, SortKey)>,
}

fn events_query(query: &Query, cursor_key: &[u8; 32]) -> Result<EventsQuery, ApiError> {
    // 0-based page, clamped to ≥ 0; limit clamped into 1..100 (§1.6).
    let page = query.int("page")?.unwrap_or(0).clamp(0, i64::from(u32::MAX));
    let limit = query.int("limit")?.unwrap_or(50).clamp(1, 100);
    let min_score = match query.int("min_score")? {
        None => 0,
        Some(n) => u8::try_from(n)
            .ok()
            .filter(|n| *n <= 100)
            .ok_or_else(|| ApiError::invalid("min_score", "must be an integer from 0 to 100"))?,
    };
    let (page, limit) = (
        u32::try_from(page).unwrap_or(u32::MAX),
        u32::try_from(limit).unwrap_or(100),
    );
    let filters = filters_of(min_score);
    let cursor = match query.text("cursor") {
        Some(c) => Some(cursor::open_family(cursor_key, FAMILY, &filters, c)?),
        None => {
            if u64::from(page) * u64::from(limit) >= MAX_OFFSET {
                return Err(ApiError::invalid("page", "use cursor pagination beyond 10 000 rows"));
            }
            None
        }
    };
    Ok(EventsQuery {
        min_score,
        limit,
        page,
        cursor,
    })
}

fn filters_of(min_score: u8) -> String {
    cursor::filter_hash(&[("min_score", Some(min_score.to_string()))])
}

fn invalid_cursor() -> ApiError {
    ApiError::invalid("cursor", "malformed or tampered cursor")
}

/// The org's recorded logins with `risk_score ≥ min_score`, newest first.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/risk-events", tag = "risk",
    operation_id = "list_risk_events",
    security(("bearer" = [])),
    params(
        ("org_slug" = String, Path),
        ("page" = Option<u32>, Query, description = "**0-based** (compat); ignored with `cursor`; page*limit < 10 000"),
        ("limit" = Option<u32>, Query, description = "1..100, default 50"),
        ("min_score" = Option<u8>, Query, description = "0..100, default 0"),
        ("cursor" = Option<String>, Query, description = "`X-Next-Cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of risk events (bare array, compat)", body = [RiskEventDto],
            headers(
                ("X-Next-Cursor" = String, description = "present when there is a next page"),
                ("Link" = String, description = "`<…>; rel=\"next\"` when there is a next page"),
            )),
        (status = 400, description = "Malformed `page`, `limit` or `min_score`, `min_score` out of 0..100, a page too deep, or a cursor that does not belong to this list and filter (VALIDATION_FAILED)"),
    ))]
pub(crate) async fn list_risk_events(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let q = events_query(&query, state.cursor_key())?;
    let before = match &q.cursor {
        Some((_, key)) => Some((key.at, RiskEventId::parse(&key.tie).ok_or_else(invalid_cursor)?)),
        None => None,
    };
    let store_query = RiskEventQuery {
        min_score: q.min_score,
        before,
        offset: if before.is_some() {
            0
        } else {
            u64::from(q.page) * u64::from(q.limit)
        },
        // One row more than a page tells whether a next page exists, without counting.
        limit: q.limit + 1,
    };
    let page = state
        .app()
        .risk
        .events(&auth.caller, &meta, &slug, &store_query)
        .await?;
    let list = format!("{FAMILY}:{}", page.org_id);
    if let Some((issued_for, _)) = &q.cursor
        && format!("{FAMILY}:{issued_for}") != list
    {
        return Err(ApiError::invalid("cursor", "the cursor was issued for another list"));
    }
    let mut events = page.events;
    let has_next = events.len() > q.limit as usize;
    events.truncate(q.limit as usize);
    let next = has_next.then(|| {
        events.last().map(|e| {
            let key = SortKey {
                at: e.created_at,
                tie: e.id.to_string(),
            };
            cursor::issue(state.cursor_key(), &list, &filters_of(q.min_score), &key)
        })
    });
    let next = next.flatten();
    let body: Vec<RiskEventDto> = events.iter().map(RiskEventDto::from).collect();
    let mut res = with_next_cursor(ok(body), next.as_deref());
    if let Some(c) = &next {
        let link = format!(
            "<{}/api/organizations/{slug}/risk-events?cursor={c}&limit={}&min_score={}>; rel=\"next\"",
            state.config().base_url(),
            q.limit,
            q.min_score
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            res.headers_mut().insert(LINK, v);
        }
    }
    Ok(res)
}
