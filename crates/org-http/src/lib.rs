//! org-http: the HTTP adapter of org-server — axum router, bearer auth, RFC 9457 errors, rate
//! limits, metrics and the OpenAPI document, over the services of `org-app`.
//!
//! # What the server binary calls
//!
//! ```no_run
//! # async fn demo(app: org_app::App, jwks: org_http::JwksRender) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use org_http::{HttpConfig, HttpState, Readiness};
//!
//! let config = HttpConfig {
//!     public_base_url: "https://id.example.com".into(),
//!     web_client_url: Some("https://app.example.com".into()),
//!     trusted_proxies: vec!["10.0.0.0/8".parse()?],
//!     metrics_bearer_token: None,
//!     // e.g. a PrometheusHandle: Some(Arc::new(move || handle.render()))
//!     metrics_render: None,
//!     readiness: Some(Arc::new(|| Box::pin(async { Readiness::READY }))),
//!     // The access-token adapter's public keys (org-tokens: `move || tokens.jwks()`).
//!     jwks: Some(jwks),
//!     cursor_key: Some([7; 32]),
//!     ..HttpConfig::default()
//! };
//! let state = HttpState::new(app, config);
//! let router: axum::Router = org_http::router(state.clone());
//! // Serve with the peer address so per-IP limits and X-Forwarded-For work:
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! - [`router`]`(state: HttpState) -> axum::Router` — every route of §2, §4–§9, §20 and §21.
//! - [`metrics_router`]`(state: HttpState) -> axum::Router` — `/metrics` alone, for
//!   `metrics.listen` (then set [`HttpConfig::serve_metrics`] to `false`).
//! - [`HttpState::new`]`(app: App, config: HttpConfig) -> HttpState`.
//! - [`HttpConfig`] (with `Default`): `public_base_url`, `web_client_url`, `trusted_proxies:
//!   Vec<Cidr>`, `rate_limits: RateLimits`, `cors_allowed_origins: Vec<String>`,
//!   `metrics_bearer_token`, `metrics_render`, `serve_metrics`, `readiness`, `cursor_key`
//!   (`pagination.cursor_key`) and `jwks`.
//! - [`openapi`]`() -> utoipa::openapi::OpenApi` and [`openapi_json`]`() -> String` (the text of
//!   `docs/openapi.json`).
//!
//! Access tokens are minted and verified by the app through its `AccessTokens` port (the
//! `org-tokens` crate in the server); this crate only finds the bearer and the route's class.

mod auth;
mod config;
mod cursor;
mod dto;
mod error;
mod extract;
pub mod login_key;
mod middleware;
mod openapi;
mod ratelimit;
mod routes;
mod scim;
mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::IntoResponse;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use config::{Cidr, CidrError, HttpConfig, JwksRender, MetricsRender, RateLimits, Readiness, ReadinessProbe};
pub use error::{ApiError, ErrorCode};
pub use openapi::{openapi, openapi_json};
pub use routes::route_table;
pub use state::HttpState;

/// Request bodies larger than this are refused with 413 (§1.2).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Request targets (path and query) longer than this many bytes are refused with 414
/// `URI_TOO_LONG`, well below hyper's own limit (65 534 bytes, answered with an empty body).
pub const URI_LIMIT: usize = 8 * 1024;

/// Header sections larger than this many bytes (each field counted as `name: value` plus
/// CRLF) are refused with 431 `REQUEST_HEADER_FIELDS_TOO_LARGE`, well below hyper's own
/// limit (its ~408 KiB read buffer, answered with an empty body).
pub const HEADER_LIMIT: usize = 32 * 1024;

async fn fallback() -> axum::response::Response {
    ApiError::not_found().into_response()
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    let expose = [
        "x-request-id",
        "x-next-cursor",
        "x-total-count",
        "link",
        "location",
        "retry-after",
    ]
    .map(HeaderName::from_static);
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers(expose),
    )
}

fn finish(routes: Router<HttpState>, state: HttpState) -> Router {
    let mut r = routes.fallback(fallback).layer(DefaultBodyLimit::max(BODY_LIMIT));
    if let Some(cors) = cors(&state.config().cors_allowed_origins) {
        r = r.layer(cors);
    }
    r.layer(axum::middleware::from_fn_with_state(state.clone(), middleware::layer))
        .with_state(state)
}

/// The router of every route (§2, §4–§9, §20, §21) with its layers: request ids, client IP,
/// rate limits, problem rendering, `nosniff`, metrics, access logs, body limit and CORS.
pub fn router(state: HttpState) -> Router {
    let serve_metrics = state.config().serve_metrics;
    finish(routes::router(serve_metrics), state)
}

/// `/metrics` alone, for a separate `metrics.listen` address.
pub fn metrics_router(state: HttpState) -> Router {
    finish(routes::metrics_only(), state)
}
