//! §9: webhook endpoints, their deliveries (with cursors), test, redeliver, secret rotation
//! and the subscribable event types.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use org_app::WEBHOOK_EVENT_TYPES;
use org_app::webhooks::{Enqueued, WebhookInput};
use org_domain::DeliveryId;
use org_domain::webhook::{Delivery, DeliveryStatus};
use org_ports::DeliveryFilter;

use super::{created, no_store, null, ok, with_next_cursor};
use crate::auth::Auth;
use crate::cursor::{Paging, SortKey, filter_hash};
use crate::dto::{
    CreateWebhookRequest, DeliveryListResponse, EnqueuedResponse, EventTypeDto, RotateSecretRequest,
    RotateSecretResponse, UpdateWebhookRequest, WebhookDeliveryDto, WebhookListResponse, WebhookResponse,
};
use crate::error::{ApiError, timestamp};
use crate::extract::{Json, Meta, Path, Query};
use crate::state::HttpState;

/// Create an endpoint; the response shows its signing secret once.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/webhooks", tag = "webhooks", operation_id = "create_webhook",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created, with `secret` (Cache-Control: no-store)", body = WebhookResponse,
            headers(("Location" = String, description = "URL of the new webhook"))),
        (status = 400, description = "Bad name, URL (§9.3) or events; `detail` lists the valid types"),
        (status = 409, description = "Name exists (DUPLICATE_CONSTRAINT)"),
    ))]
pub(crate) async fn create_webhook(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    let input = WebhookInput {
        name: Some(body.name),
        url: Some(body.url),
        events: Some(body.events),
        is_active: None,
    };
    let view = state.app().webhooks.create(&auth.caller, &meta, &slug, input).await?;
    let path = format!("/api/organizations/{slug}/webhooks/{}", view.webhook.id());
    Ok(no_store(created(
        &state,
        &path,
        WebhookResponse::of(&view.webhook, view.show_secret),
    )))
}

/// The org's endpoints, oldest first.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "Every endpoint (no paging)", body = WebhookListResponse)))]
pub(crate) async fn list_webhooks(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let list = state.app().webhooks.list(&auth.caller, &meta, &slug).await?;
    Ok(ok(WebhookListResponse {
        total: list.len() as u64,
        webhooks: list.iter().map(WebhookResponse::from).collect(),
    }))
}

/// One endpoint (without its secret).
#[utoipa::path(get, path = "/api/organizations/{org_slug}/webhooks/{id}", tag = "webhooks", operation_id = "get_webhook",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The webhook", body = WebhookResponse), (status = 404, description = "Unknown webhook")))]
pub(crate) async fn get_webhook(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let w = state.app().webhooks.get(&auth.caller, &meta, &slug, &id).await?;
    Ok(ok(WebhookResponse::from(&w)))
}

/// Change name, URL, events or `is_active` (partial).
#[utoipa::path(patch, path = "/api/organizations/{org_slug}/webhooks/{id}", tag = "webhooks", operation_id = "update_webhook",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "The webhook", body = WebhookResponse),
        (status = 400, description = "Bad name, URL or events"),
        (status = 404, description = "Unknown webhook"),
        (status = 409, description = "Name exists (DUPLICATE_CONSTRAINT)"),
    ))]
pub(crate) async fn update_webhook(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
    Json(body): Json<UpdateWebhookRequest>,
) -> Result<Response, ApiError> {
    let input = WebhookInput {
        name: body.name,
        url: body.url,
        events: body.events,
        is_active: body.is_active,
    };
    let w = state
        .app()
        .webhooks
        .update(&auth.caller, &meta, &slug, &id, input)
        .await?;
    Ok(ok(WebhookResponse::from(&w)))
}

/// Delete an endpoint; its pending deliveries fail.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/webhooks/{id}", tag = "webhooks", operation_id = "delete_webhook",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "`null` (compat)", body = Option<String>),
        (status = 404, description = "Unknown webhook"),
    ))]
pub(crate) async fn delete_webhook(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.app().webhooks.delete(&auth.caller, &meta, &slug, &id).await?;
    Ok(null())
}

fn delivery_filter(query: &Query) -> Result<DeliveryFilter, ApiError> {
    Ok(DeliveryFilter {
        event_type: query.text("event_type").map(str::to_owned),
        delivered: query.parsed("delivered", |v| match v {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        })?,
        status: query.parsed("status", DeliveryStatus::parse)?,
        before: None,
    })
}

fn sort_key(d: &Delivery) -> SortKey {
    SortKey {
        at: d.created_at,
        tie: d.id.to_string(),
    }
}

/// An endpoint's deliveries, newest first, filtered, by page or by cursor.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "list_webhook_deliveries",
    security(("bearer" = [])),
    params(
        ("org_slug" = String, Path), ("id" = String, Path),
        ("page" = Option<u32>, Query, description = "1-based; ignored with `cursor`; (page-1)*limit < 10 000"),
        ("limit" = Option<u32>, Query, description = "1..100, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("event_type" = Option<String>, Query),
        ("delivered" = Option<bool>, Query),
        ("status" = Option<String>, Query, description = "pending|delivered|failed"),
    ),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryListResponse,
            headers(("X-Next-Cursor" = String, description = "present when there is a next page"))),
        (status = 400, description = "Malformed filter, page too deep, or a foreign cursor (VALIDATION_FAILED)"),
        (status = 404, description = "Unknown webhook"),
    ))]
pub(crate) async fn list_webhook_deliveries(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
    query: Query,
) -> Result<Response, ApiError> {
    let mut filter = delivery_filter(&query)?;
    // Authorize and find the endpoint first, so a cursor is judged only for a visible list.
    let w = state.app().webhooks.get(&auth.caller, &meta, &slug, &id).await?;
    let hash = filter_hash(&[
        ("event_type", filter.event_type.clone()),
        ("delivered", filter.delivered.map(|d| d.to_string())),
        ("status", filter.status.map(|s| s.as_str().to_owned())),
    ]);
    let paging = Paging::from_query(&query, state.cursor_key(), format!("deliveries:{}", w.id()), hash)?;
    if let Some(k) = paging.before() {
        let id =
            DeliveryId::parse(&k.tie).ok_or_else(|| ApiError::invalid("cursor", "malformed or tampered cursor"))?;
        filter.before = Some((k.at, id));
    }
    let (w, page) = state
        .app()
        .webhooks
        .deliveries(&auth.caller, &meta, &slug, &id, &filter, paging.request())
        .await?;
    let paged = paging.finish(state.cursor_key(), page.items, page.total, sort_key);
    let next = paged.next_cursor.clone();
    Ok(with_next_cursor(
        ok(DeliveryListResponse {
            deliveries: paged.items.iter().map(|d| WebhookDeliveryDto::of(&w, d)).collect(),
            pagination: paged.pagination,
            next_cursor: paged.next_cursor,
        }),
        next.as_deref(),
    ))
}

fn enqueued(e: Enqueued) -> EnqueuedResponse {
    EnqueuedResponse {
        success: true,
        job_id: e.delivery_id.to_string(),
        delivery_id: e.delivery_id.to_string(),
    }
}

/// Send one `webhook.test.ping` to this endpoint.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/webhooks/{id}/test", tag = "webhooks", operation_id = "test_webhook",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "The delivery is queued", body = EnqueuedResponse),
        (status = 404, description = "Unknown webhook"),
        (status = 409, description = "The webhook is disabled (CONFLICT)"),
    ))]
pub(crate) async fn test_webhook(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let e = state.app().webhooks.test(&auth.caller, &meta, &slug, &id).await?;
    Ok(ok(enqueued(e)))
}

/// Deliver the same event again (a new delivery, attempts from 1).
#[utoipa::path(post, path = "/api/organizations/{org_slug}/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    operation_id = "redeliver_webhook_delivery",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path), ("delivery_id" = String, Path)),
    responses(
        (status = 202, description = "The new delivery is queued", body = EnqueuedResponse),
        (status = 404, description = "Unknown webhook or delivery"),
        (status = 409, description = "The delivery is still pending, or the webhook is disabled (CONFLICT)"),
    ))]
pub(crate) async fn redeliver_webhook_delivery(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id, delivery_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let e = state
        .app()
        .webhooks
        .redeliver(&auth.caller, &meta, &slug, &id, &delivery_id)
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(enqueued(e))).into_response())
}

/// A new signing secret; the previous one keeps signing until it expires.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/webhooks/{id}/rotate-secret", tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    request_body = RotateSecretRequest,
    responses(
        (status = 200, description = "The new secret (Cache-Control: no-store)", body = RotateSecretResponse),
        (status = 400, description = "previous_secret_ttl_seconds outside 0..86400"),
        (status = 404, description = "Unknown webhook"),
    ))]
pub(crate) async fn rotate_webhook_secret(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
    Json(body): Json<RotateSecretRequest>,
) -> Result<Response, ApiError> {
    let w = state
        .app()
        .webhooks
        .rotate_secret(&auth.caller, &meta, &slug, &id, body.previous_secret_ttl_seconds)
        .await?;
    Ok(no_store(ok(RotateSecretResponse {
        id: w.id().to_string(),
        secret: w.record().secret.clone(),
        previous_secret_expires_at: w.record().previous_secret_expires_at.map(timestamp),
    })))
}

/// `label` of a webhook event type: the value with `.` and `_` as spaces, upper-cased.
fn label(value: &str) -> String {
    value.replace(['.', '_'], " ").to_uppercase()
}

/// The 66 subscribable event types (any authenticated user; no membership check).
#[utoipa::path(get, path = "/api/organizations/{org_slug}/webhooks/event-types", tag = "webhooks",
    operation_id = "list_webhook_event_types",
    security(("bearer" = [])),
    params(("org_slug" = String, Path, description = "not checked (compat)")),
    responses((status = 200, description = "Bare array", body = [EventTypeDto])))]
pub(crate) async fn list_webhook_event_types(_auth: Auth) -> Result<Response, ApiError> {
    Ok(ok(WEBHOOK_EVENT_TYPES
        .iter()
        .map(|t| EventTypeDto {
            value: t.value.to_owned(),
            label: label(t.value),
            category: t.category.to_owned(),
        })
        .collect::<Vec<_>>()))
}
