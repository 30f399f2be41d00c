//! §19.1–§19.2: an org's services (list, create, get, update, delete) and their DTOs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use org_domain::service::{Service, ServiceDraft, ServiceUpdate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{created, ok};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::{Json, Meta, Path, Query, non_null, nullable};
use crate::state::HttpState;

/// `Service` (§19.1).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ServiceDto {
    pub id: String,
    pub org_id: String,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Service> for ServiceDto {
    fn from(s: &Service) -> Self {
        let r = s.record();
        Self {
            id: r.id.to_string(),
            org_id: r.org_id.to_string(),
            slug: r.slug.as_str().to_owned(),
            name: r.name.clone(),
            description: r.description.clone(),
            enabled: r.enabled,
            created_at: r.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            updated_at: r.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

/// `POST …/services` (§19.2).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceRequest {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub enabled: Option<bool>,
}

/// `PATCH …/services/:service_slug` (§19.2): absent leaves a field; `description: null` clears it.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceRequest {
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "non_null")]
    pub enabled: Option<bool>,
}

/// The org's services, oldest first.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/services", tag = "services", operation_id = "list_services",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "Bare array (compat)", body = [ServiceDto])))]
pub(crate) async fn list_services(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let page = query.page(50)?;
    let services = state.app().services.list(&auth.caller, &meta, &slug, page).await?;
    Ok(ok(services.items.iter().map(ServiceDto::from).collect::<Vec<_>>()))
}

/// Create a service.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/services", tag = "services", operation_id = "create_service",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = CreateServiceRequest,
    responses(
        (status = 201, description = "Created", body = ServiceDto,
            headers(("Location" = String, description = "URL of the new service"))),
        (status = 400, description = "A field breaking a rule of §19.1, or `SERVICE_LIMIT_EXCEEDED`"),
        (status = 409, description = "Slug exists in the org"),
    ))]
pub(crate) async fn create_service(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<CreateServiceRequest>,
) -> Result<Response, ApiError> {
    let draft = ServiceDraft {
        slug: body.slug,
        name: body.name,
        description: body.description,
        enabled: body.enabled,
    };
    let service = state.app().services.create(&auth.caller, &meta, &slug, draft).await?;
    let path = format!("/api/organizations/{slug}/services/{}", service.slug().as_str());
    Ok(created(&state, &path, ServiceDto::from(&service)))
}

/// One service.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/services/{service_slug}", tag = "services",
    operation_id = "get_service",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("service_slug" = String, Path)),
    responses((status = 200, description = "The service", body = ServiceDto), (status = 404, description = "Unknown service")))]
pub(crate) async fn get_service(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, service_slug)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let service = state
        .app()
        .services
        .get(&auth.caller, &meta, &slug, &service_slug)
        .await?;
    Ok(ok(ServiceDto::from(&service)))
}

/// Update a service (partial).
#[utoipa::path(patch, path = "/api/organizations/{org_slug}/services/{service_slug}", tag = "services",
    operation_id = "update_service",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("service_slug" = String, Path)),
    request_body = UpdateServiceRequest,
    responses(
        (status = 200, description = "The service", body = ServiceDto),
        (status = 400, description = "A field breaking a rule of §19.1"),
        (status = 404, description = "Unknown service"),
    ))]
pub(crate) async fn update_service(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, service_slug)): Path<(String, String)>,
    Json(body): Json<UpdateServiceRequest>,
) -> Result<Response, ApiError> {
    let update = ServiceUpdate {
        name: body.name,
        description: body.description,
        enabled: body.enabled,
    };
    let service = state
        .app()
        .services
        .update(&auth.caller, &meta, &slug, &service_slug, update)
        .await?;
    Ok(ok(ServiceDto::from(&service)))
}

/// Delete a service with its member grants.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/services/{service_slug}", tag = "services",
    operation_id = "delete_service",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("service_slug" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "Unknown service")))]
pub(crate) async fn delete_service(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, service_slug)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state
        .app()
        .services
        .delete(&auth.caller, &meta, &slug, &service_slug)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
