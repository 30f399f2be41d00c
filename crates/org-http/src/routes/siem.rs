//! §17: SIEM streaming configs (create, list, get, partial update, delete, test). The
//! secrets (`api_key`, `auth_header`) are write-only: responses show `has_api_key` and
//! `has_auth_header`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use org_domain::siem::{SiemConfig, SiemDraft};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{created, ok};
use crate::auth::Auth;
use crate::error::{ApiError, timestamp};
use crate::extract::{Json, Meta, Path, non_null, nullable};
use crate::ratelimit::Scope;
use crate::state::HttpState;

/// Body of create and of the partial update (absent = unchanged; `null` clears a secret).
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiemConfigRequest {
    /// 1–100 characters, unique in the org. Required on create.
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    /// `Datadog`, `Splunk`, `Elastic` or `Custom` (case-sensitive); immutable.
    #[serde(default, deserialize_with = "non_null")]
    pub provider_type: Option<String>,
    /// URL rules of §9.3. Required on create.
    #[serde(default, deserialize_with = "non_null")]
    pub endpoint_url: Option<String>,
    /// Write-only; required for Datadog, Splunk and Elastic; `null` clears.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Option<String>>,
    /// Write-only `Name: value` or a bare value; `null` clears.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub auth_header: Option<Option<String>>,
    /// 1–1000, default 100.
    #[serde(default, deserialize_with = "non_null")]
    pub batch_size: Option<i64>,
    /// Default `true`.
    #[serde(default, deserialize_with = "non_null")]
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for SiemConfigRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiemConfigRequest")
            .field("name", &self.name)
            .field("provider_type", &self.provider_type)
            .finish_non_exhaustive()
    }
}

impl From<SiemConfigRequest> for SiemDraft {
    fn from(b: SiemConfigRequest) -> Self {
        Self {
            name: b.name,
            provider_type: b.provider_type,
            endpoint_url: b.endpoint_url,
            api_key: b.api_key,
            auth_header: b.auth_header,
            batch_size: b.batch_size,
            enabled: b.enabled,
        }
    }
}

/// `SiemConfig` (§17): never the secrets.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = SiemConfig)]
pub struct SiemConfigResponse {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub provider_type: String,
    pub endpoint_url: String,
    pub batch_size: u32,
    pub enabled: bool,
    pub has_api_key: bool,
    pub has_auth_header: bool,
    pub last_successful_batch_at: Option<String>,
    pub failure_count: u32,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&SiemConfig> for SiemConfigResponse {
    fn from(c: &SiemConfig) -> Self {
        let r = c.record();
        Self {
            id: r.id.to_string(),
            org_id: r.org_id.to_string(),
            name: r.name.clone(),
            provider_type: r.provider.as_str().to_owned(),
            endpoint_url: r.endpoint_url.clone(),
            batch_size: r.batch_size,
            enabled: r.enabled,
            has_api_key: r.api_key.is_some(),
            has_auth_header: r.auth_header.is_some(),
            last_successful_batch_at: r.progress.last_successful_batch_at.map(timestamp),
            failure_count: r.progress.failure_count,
            last_error: r.progress.last_error.clone(),
            created_at: timestamp(r.created_at),
            updated_at: timestamp(r.updated_at),
        }
    }
}

/// `GET …/siem-configs`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SiemConfigListResponse {
    pub siem_configs: Vec<SiemConfigResponse>,
    pub total: u64,
}

/// `POST …/siem-configs/:id/test`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SiemTestResponse {
    pub success: bool,
    /// `HTTP <status>` or the error class.
    pub message: String,
}

/// Create a SIEM streaming config (tier feature `allow_siem`).
#[utoipa::path(post, path = "/api/organizations/{org_slug}/siem-configs", tag = "siem", operation_id = "create_siem_config",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = SiemConfigRequest,
    responses(
        (status = 201, description = "Created", body = SiemConfigResponse,
            headers(("Location" = String, description = "URL of the new config"))),
        (status = 400, description = "A field breaking a rule of §17; `errors[]` names it"),
        (status = 403, description = "Missing `integrations.manage`, or FEATURE_NOT_AVAILABLE_IN_TIER"),
        (status = 409, description = "Name exists (DUPLICATE_CONSTRAINT)"),
    ))]
pub(crate) async fn create_siem_config(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<SiemConfigRequest>,
) -> Result<Response, ApiError> {
    let c = state.app().siem.create(&auth.caller, &meta, &slug, body.into()).await?;
    let path = format!("/api/organizations/{slug}/siem-configs/{}", c.id());
    Ok(created(&state, &path, SiemConfigResponse::from(&c)))
}

/// The org's SIEM configs, oldest first.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/siem-configs", tag = "siem", operation_id = "list_siem_configs",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "Every config", body = SiemConfigListResponse)))]
pub(crate) async fn list_siem_configs(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let list = state.app().siem.list(&auth.caller, &meta, &slug).await?;
    Ok(ok(SiemConfigListResponse {
        total: list.len() as u64,
        siem_configs: list.iter().map(SiemConfigResponse::from).collect(),
    }))
}

/// One SIEM config, with its stream's state (`failure_count`, `last_error`).
#[utoipa::path(get, path = "/api/organizations/{org_slug}/siem-configs/{id}", tag = "siem", operation_id = "get_siem_config",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "The config", body = SiemConfigResponse),
        (status = 404, description = "Unknown config"),
    ))]
pub(crate) async fn get_siem_config(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = state.app().siem.get(&auth.caller, &meta, &slug, &id).await?;
    Ok(ok(SiemConfigResponse::from(&c)))
}

/// Change the fields present (partial, compat `PUT`); `provider_type` is immutable.
#[utoipa::path(put, path = "/api/organizations/{org_slug}/siem-configs/{id}", tag = "siem", operation_id = "update_siem_config",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    request_body = SiemConfigRequest,
    responses(
        (status = 200, description = "The config", body = SiemConfigResponse),
        (status = 400, description = "A field breaking a rule of §17"),
        (status = 404, description = "Unknown config"),
        (status = 409, description = "Name exists (DUPLICATE_CONSTRAINT)"),
    ))]
pub(crate) async fn update_siem_config(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
    Json(body): Json<SiemConfigRequest>,
) -> Result<Response, ApiError> {
    let c = state
        .app()
        .siem
        .update(&auth.caller, &meta, &slug, &id, body.into())
        .await?;
    Ok(ok(SiemConfigResponse::from(&c)))
}

/// Delete a SIEM config: its stream stops.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/siem-configs/{id}", tag = "siem", operation_id = "delete_siem_config",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown config"),
    ))]
pub(crate) async fn delete_siem_config(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.app().siem.delete(&auth.caller, &meta, &slug, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Send one synthetic record (`action: "siem.test"`) in the provider's format. Rate limited
/// per org (outbound actions).
#[utoipa::path(post, path = "/api/organizations/{org_slug}/siem-configs/{id}/test", tag = "siem", operation_id = "test_siem_config",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "`success` and the HTTP status or error class", body = SiemTestResponse),
        (status = 404, description = "Unknown config"),
    ))]
pub(crate) async fn test_siem_config(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let per_minute = state.config().rate_limits.outbound_per_org;
    let key = format!("org:{slug}");
    state
        .limiter()
        .check(Scope::Outbound, &key, per_minute)
        .map_err(|retry| {
            metrics::counter!("rate_limited_total", "scope" => Scope::Outbound.as_str()).increment(1);
            ApiError::rate_limited(retry)
        })?;
    let r = state.app().siem.test(&auth.caller, &meta, &slug, &id).await?;
    Ok(ok(SiemTestResponse {
        success: r.success,
        message: r.message,
    }))
}
