//! SCIM errors on the wire (§10.6): every failure under `/scim/v2` — the use cases', the
//! extractors', the router's own 404/405/413 and the rate limiter's 429 — becomes a SCIM error
//! body with `application/scim+json`, never problem+json.

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use org_app::AppError;
use org_app::scim::ScimError;
use org_domain::DomainError;

use crate::error::{ApiError, ErrorCode, ProblemSeed};

/// The media type of every SCIM response.
pub const SCIM_JSON: &str = "application/scim+json";

/// A SCIM failure on its way to the wire.
#[derive(Debug)]
pub struct ScimFailure {
    pub error: ScimError,
    /// `Retry-After` seconds (429, 503).
    pub retry_after: Option<u64>,
    /// Logged with the request, never sent (5xx).
    pub cause: Option<String>,
}

impl From<ScimError> for ScimFailure {
    fn from(error: ScimError) -> Self {
        Self {
            error,
            retry_after: None,
            cause: None,
        }
    }
}

fn domain(e: DomainError) -> ScimError {
    let detail = e.to_string();
    match e {
        DomainError::NotFound => ScimError::not_found("Resource not found"),
        DomainError::OAuthCredentialsNotFound | DomainError::BillingCredentialsNotFound => ScimError::not_found(detail),
        DomainError::MissingCapability(_)
        | DomainError::RuleViolation(_)
        | DomainError::EmailMismatch
        | DomainError::OrgNotActive(_)
        | DomainError::FeatureNotInTier(_)
        | DomainError::OwnerInvariant => ScimError::forbidden(detail),
        DomainError::Validation(errors) => {
            ScimError::invalid_value(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
        }
        DomainError::TeamLimitExceeded(_) => ScimError::new(400, None, format!("TEAM_LIMIT_EXCEEDED: {detail}")),
        DomainError::ServiceLimitExceeded(_) | DomainError::MauLimitExceeded(_) => {
            ScimError::new(400, None, format!("SERVICE_LIMIT_EXCEEDED: {detail}"))
        }
        DomainError::LoginForbidden(_) => ScimError::new(403, None, detail),
        DomainError::EndUserNotFound => ScimError::new(404, None, detail),
        DomainError::SelfAction
        | DomainError::OrgCapReached
        | DomainError::AlreadyOwner
        | DomainError::NoCustomDomain => ScimError::invalid_value(detail),
        DomainError::DuplicateRoleSlug
        | DomainError::DuplicateRoleName
        | DomainError::DuplicateWebhookName
        | DomainError::DuplicateSiemConfigName
        | DomainError::DuplicateUserName
        | DomainError::EmailTaken
        | DomainError::DuplicateConnectionId
        | DomainError::DomainNotAvailable
        | DomainError::AlreadyMember
        | DomainError::PendingInvitationExists
        | DomainError::DuplicateServiceSlug => ScimError::uniqueness(detail),
        DomainError::InvitationExpired
        | DomainError::InvitationNotPending
        | DomainError::InvalidTransition { .. }
        | DomainError::RoleInUse { .. }
        | DomainError::WebhookDisabled
        | DomainError::DeliveryPending => ScimError::new(409, None, detail),
    }
}

impl From<AppError> for ScimFailure {
    fn from(e: AppError) -> Self {
        let error = match e {
            AppError::Scim(e) => e,
            AppError::Domain(d) => domain(d),
            AppError::SlugTaken | AppError::Duplicate(_) => ScimError::uniqueness(e.to_string()),
            AppError::Conflict(detail) => ScimError::new(409, None, detail),
            AppError::Unauthorized(detail) => ScimError::unauthorized(detail),
            AppError::Token(_) => ScimError::unauthorized(e.to_string()),
            AppError::ForeignOrgToken => ScimError::forbidden(e.to_string()),
            AppError::RateLimited => {
                return Self {
                    error: ScimError::too_many_requests("Rate limit exceeded; retry later"),
                    retry_after: Some(1),
                    cause: None,
                };
            }
            AppError::Unavailable(cause) => {
                return Self {
                    error: ScimError::new(503, None, "The service is temporarily unavailable"),
                    retry_after: Some(1),
                    cause: Some(cause),
                };
            }
            AppError::Stale => {
                return Self {
                    error: ScimError::new(503, None, "The service is temporarily unavailable"),
                    retry_after: Some(1),
                    cause: Some("stale version escaped the retry loop".to_owned()),
                };
            }
            AppError::Internal(cause) => {
                return Self {
                    error: ScimError::internal("An unexpected error occurred"),
                    retry_after: None,
                    cause: Some(cause),
                };
            }
        };
        error.into()
    }
}

impl From<ApiError> for ScimFailure {
    fn from(e: ApiError) -> Self {
        let status = e.code.status().as_u16();
        let error = match e.code {
            ErrorCode::PayloadTooLarge => ScimError::payload_too_large("Request body exceeds 1 MiB"),
            ErrorCode::MethodNotAllowed => ScimError::new(405, None, "Method not allowed on this path"),
            ErrorCode::NotFound => ScimError::not_found("Resource not found"),
            ErrorCode::BadRequest | ErrorCode::ValidationFailed => ScimError::invalid_syntax(e.detail),
            _ => ScimError::new(status, None, e.detail),
        };
        Self {
            error,
            retry_after: e.retry_after,
            cause: e.cause,
        }
    }
}

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(status = self.error.status, cause = %cause, "SCIM request failed");
        }
        let status = StatusCode::from_u16(self.error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.error.body()).unwrap_or_default();
        let mut res = (status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Renders an error response produced outside the SCIM handlers (a shared extractor's or the
/// rate limiter's [`ApiError`], axum's 404/405/413 and its plain-text extractor rejections) as
/// a SCIM error. SCIM error bodies are left alone.
pub fn render(mut res: Response) -> Response {
    if let Some(ProblemSeed(e)) = res.extensions_mut().remove::<ProblemSeed>() {
        return ScimFailure::from(e).into_response();
    }
    let status = res.status();
    let is_scim = res.headers().get(CONTENT_TYPE).is_some_and(|v| v == SCIM_JSON);
    if !(status.is_client_error() || status.is_server_error()) || is_scim {
        return res;
    }
    let error = match status {
        StatusCode::NOT_FOUND => ScimError::not_found("Resource not found"),
        StatusCode::METHOD_NOT_ALLOWED => ScimError::new(405, None, "Method not allowed on this path"),
        StatusCode::PAYLOAD_TOO_LARGE => ScimError::payload_too_large("Request body exceeds 1 MiB"),
        s => ScimError::new(s.as_u16(), None, s.canonical_reason().unwrap_or("Request failed")),
    };
    let retry_after = res.headers().get(RETRY_AFTER).cloned();
    let mut out = ScimFailure::from(error).into_response();
    if let Some(v) = retry_after {
        out.headers_mut().insert(RETRY_AFTER, v);
    }
    out
}
