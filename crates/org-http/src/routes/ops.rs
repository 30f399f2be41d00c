//! §21: liveness, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::ok;
use crate::config::Readiness;
use crate::dto::{HealthResponse, ReadinessChecks, ReadinessResponse};
use crate::error::ApiError;
use crate::state::HttpState;

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "get_health",
    responses((status = 200, description = "The process serves requests", body = HealthResponse)))]
pub(crate) async fn healthz() -> Response {
    ok(HealthResponse {
        status: "ok".to_owned(),
    })
}

/// Readiness.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "get_readiness",
    responses(
        (status = 200, description = "Ready", body = ReadinessResponse),
        (status = 503, description = "Not ready (plain JSON, not a problem body)", body = ReadinessResponse),
    ))]
pub(crate) async fn readyz(State(state): State<HttpState>) -> Response {
    let r = match &state.config().readiness {
        Some(probe) => probe().await,
        None => Readiness::READY,
    };
    let check = |ok: bool| if ok { "ok" } else { "fail" }.to_owned();
    let body = ReadinessResponse {
        status: if r.is_ready() { "ready" } else { "not_ready" }.to_owned(),
        checks: ReadinessChecks {
            database: check(r.database),
            migrations: check(r.migrations),
            workers: check(r.workers),
        },
    };
    let status = if r.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "get_metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"),
        (status = 401, description = "`metrics.bearer_token` is set and was not presented"),
    ))]
pub(crate) async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(expected) = &state.config().metrics_bearer_token {
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let Some(presented) = presented else {
            return Err(ApiError::no_credential());
        };
        // Compare digests so the comparison time does not depend on the token.
        if Sha256::digest(presented.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return Err(ApiError::new(
                crate::error::ErrorCode::Unauthorized,
                "Invalid metrics token",
            ));
        }
    }
    metrics::counter!("authorization_denied_suppressed_total").absolute(state.app().denied_suppressed_total());
    let text = state.config().metrics_render.as_ref().map(|r| r()).unwrap_or_default();
    let mut res = text.into_response();
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "get_openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub(crate) async fn openapi_document() -> Response {
    let mut res = crate::openapi_json().into_response();
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}
