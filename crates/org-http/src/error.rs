//! RFC 9457 problem+json (§1.4): the one place where every error becomes a status, an
//! `error_code` and a body. Use-case and domain errors are mapped by wildcard-free `match`es,
//! so a new variant fails to compile here until it is given a status.
//!
//! Handlers and extractors return [`ApiError`]; its `IntoResponse` leaves a [`ProblemSeed`] in
//! the response extensions and the request middleware ([`render`]) writes the body, because
//! only it knows the request id, the path and the `Accept` header.

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use org_app::AppError;
use org_domain::{DomainError, FieldError};
use org_ports::TokenRejection;
use serde::Serialize;
use utoipa::ToSchema;

/// The `error_code`s of §1.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    ValidationFailed,
    InvitationExpired,
    TeamLimitExceeded,
    ServiceLimitExceeded,
    Unauthorized,
    TokenExpired,
    JwtError,
    Forbidden,
    FeatureNotAvailableInTier,
    OrganizationNotActive,
    NotFound,
    MethodNotAllowed,
    DuplicateConstraint,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    UriTooLong,
    HeaderFieldsTooLarge,
    RateLimited,
    InternalServerError,
    ServiceUnavailable,
}

impl ErrorCode {
    /// Every code (for the OpenAPI document and tests).
    pub const ALL: [Self; 22] = [
        Self::BadRequest,
        Self::ValidationFailed,
        Self::InvitationExpired,
        Self::TeamLimitExceeded,
        Self::ServiceLimitExceeded,
        Self::Unauthorized,
        Self::TokenExpired,
        Self::JwtError,
        Self::Forbidden,
        Self::FeatureNotAvailableInTier,
        Self::OrganizationNotActive,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::DuplicateConstraint,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::UriTooLong,
        Self::HeaderFieldsTooLarge,
        Self::RateLimited,
        Self::InternalServerError,
        Self::ServiceUnavailable,
    ];

    /// The HTTP status.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::BadRequest
            | Self::ValidationFailed
            | Self::InvitationExpired
            | Self::TeamLimitExceeded
            | Self::ServiceLimitExceeded => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::TokenExpired | Self::JwtError => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::FeatureNotAvailableInTier | Self::OrganizationNotActive => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::DuplicateConstraint | Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeaderFieldsTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The UPPER_SNAKE wire code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::ValidationFailed => "VALIDATION_FAILED",
            Self::InvitationExpired => "INVITATION_EXPIRED",
            Self::TeamLimitExceeded => "TEAM_LIMIT_EXCEEDED",
            Self::ServiceLimitExceeded => "SERVICE_LIMIT_EXCEEDED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::JwtError => "JWT_ERROR",
            Self::Forbidden => "FORBIDDEN",
            Self::FeatureNotAvailableInTier => "FEATURE_NOT_AVAILABLE_IN_TIER",
            Self::OrganizationNotActive => "ORGANIZATION_NOT_ACTIVE",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::DuplicateConstraint => "DUPLICATE_CONSTRAINT",
            Self::Conflict => "CONFLICT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::UriTooLong => "URI_TOO_LONG",
            Self::HeaderFieldsTooLarge => "REQUEST_HEADER_FIELDS_TOO_LARGE",
            Self::RateLimited => "RATE_LIMITED",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }

    /// The fixed `title`.
    pub const fn title(self) -> &'static str {
        match self {
            Self::BadRequest => "Bad request",
            Self::ValidationFailed => "Validation failed",
            Self::InvitationExpired => "Invitation expired",
            Self::TeamLimitExceeded => "Team limit exceeded",
            Self::ServiceLimitExceeded => "Service limit exceeded",
            Self::Unauthorized => "Unauthorized",
            Self::TokenExpired => "Token expired",
            Self::JwtError => "Invalid token",
            Self::Forbidden => "Forbidden",
            Self::FeatureNotAvailableInTier => "Feature not available in tier",
            Self::OrganizationNotActive => "Organization not active",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::DuplicateConstraint => "Duplicate",
            Self::Conflict => "Conflict",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::UriTooLong => "URI too long",
            Self::HeaderFieldsTooLarge => "Request header fields too large",
            Self::RateLimited => "Too many requests",
            Self::InternalServerError => "Internal server error",
            Self::ServiceUnavailable => "Service unavailable",
        }
    }

    /// `urn:org-server:problem:<lower-kebab code>`.
    pub fn type_uri(self) -> String {
        format!(
            "urn:org-server:problem:{}",
            self.as_str().to_ascii_lowercase().replace('_', "-")
        )
    }

    /// The code a bare error status stands for (responses produced outside our handlers).
    fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::URI_TOO_LONG => Self::UriTooLong,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Self::HeaderFieldsTooLarge,
            StatusCode::UNAUTHORIZED => Self::Unauthorized,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::CONFLICT => Self::Conflict,
            StatusCode::TOO_MANY_REQUESTS => Self::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => Self::ServiceUnavailable,
            s if s.is_server_error() => Self::InternalServerError,
            _ => Self::BadRequest,
        }
    }
}

/// One entry of `errors[]` (§1.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorDto {
    /// Path into the body (`permissions[2]`) or a query parameter name.
    pub field: String,
    pub message: String,
}

impl From<FieldError> for FieldErrorDto {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            message: e.message,
        }
    }
}

/// The problem body of §1.4.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDto {
    #[serde(rename = "type")]
    #[schema(example = "urn:org-server:problem:validation-failed")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub instance: String,
    /// (compat) same text as `detail`.
    pub error: String,
    #[schema(example = "VALIDATION_FAILED")]
    pub error_code: String,
    pub timestamp: String,
    pub request_id: String,
    /// Only with `VALIDATION_FAILED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorDto>>,
}

/// An error on its way to the wire.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldErrorDto>,
    /// `Retry-After` seconds (429, 503).
    pub retry_after: Option<u64>,
    /// For 401: whether a credential was presented (`error="invalid_token"` in the challenge).
    pub credential_sent: bool,
    /// Logged with the request id, never sent (5xx).
    pub cause: Option<String>,
}

/// What [`ApiError::into_response`] leaves for the middleware to render.
#[derive(Clone, Debug)]
pub struct ProblemSeed(pub ApiError);

impl ApiError {
    /// An error with this code and detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            credential_sent: true,
            cause: None,
        }
    }

    /// 400 `VALIDATION_FAILED` with `errors[]`.
    pub fn validation(errors: Vec<FieldErrorDto>) -> Self {
        let detail = if errors.len() == 1 {
            "1 field is invalid".to_owned()
        } else {
            format!("{} fields are invalid", errors.len())
        };
        Self {
            errors,
            ..Self::new(ErrorCode::ValidationFailed, detail)
        }
    }

    /// 400 `VALIDATION_FAILED` for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldErrorDto {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// 404 `NOT_FOUND`, the same body for every hidden or unknown resource.
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "Resource not found")
    }

    /// 401 `UNAUTHORIZED` without a credential.
    pub fn no_credential() -> Self {
        Self {
            credential_sent: false,
            ..Self::new(ErrorCode::Unauthorized, "Authentication required")
        }
    }

    /// 429 `RATE_LIMITED`.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(ErrorCode::RateLimited, "Rate limit exceeded; retry later")
        }
    }

    /// 500 with a generic detail; `cause` is only logged.
    pub fn internal(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(ErrorCode::InternalServerError, "An unexpected error occurred")
        }
    }

    /// 503 with a generic detail; `cause` is only logged.
    pub fn unavailable(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            retry_after: Some(1),
            ..Self::new(ErrorCode::ServiceUnavailable, "The service is temporarily unavailable")
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let detail = e.to_string();
        match e {
            DomainError::NotFound => Self::not_found(),
            DomainError::OAuthCredentialsNotFound
            | DomainError::BillingCredentialsNotFound
            | DomainError::EndUserNotFound => Self::new(ErrorCode::NotFound, detail),
            DomainError::MissingCapability(_) | DomainError::RuleViolation(_) | DomainError::EmailMismatch => {
                Self::new(ErrorCode::Forbidden, detail)
            }
            DomainError::OrgNotActive(_) => Self::new(ErrorCode::OrganizationNotActive, detail),
            DomainError::Validation(errors) => Self::validation(errors.into_iter().map(Into::into).collect()),
            DomainError::SelfAction
            | DomainError::OrgCapReached
            | DomainError::AlreadyOwner
            | DomainError::NoCustomDomain => Self::new(ErrorCode::BadRequest, detail),
            DomainError::TeamLimitExceeded(_) => Self::new(ErrorCode::TeamLimitExceeded, detail),
            DomainError::ServiceLimitExceeded(_) | DomainError::MauLimitExceeded(_) => {
                Self::new(ErrorCode::ServiceLimitExceeded, detail)
            }
            DomainError::LoginForbidden(_) => Self::new(ErrorCode::Forbidden, detail),
            DomainError::FeatureNotInTier(_) => Self::new(ErrorCode::FeatureNotAvailableInTier, detail),
            DomainError::InvitationExpired => Self::new(ErrorCode::InvitationExpired, detail),
            DomainError::InvitationNotPending
            | DomainError::AlreadyMember
            | DomainError::PendingInvitationExists
            | DomainError::InvalidTransition { .. }
            | DomainError::RoleInUse { .. }
            | DomainError::WebhookDisabled
            | DomainError::DeliveryPending
            | DomainError::OwnerInvariant => Self::new(ErrorCode::Conflict, detail),
            DomainError::DuplicateRoleSlug
            | DomainError::DuplicateRoleName
            | DomainError::DuplicateWebhookName
            | DomainError::DuplicateSiemConfigName
            | DomainError::DuplicateUserName
            | DomainError::EmailTaken
            | DomainError::DomainNotAvailable
            | DomainError::DuplicateServiceSlug
            | DomainError::DuplicateConnectionId => Self::new(ErrorCode::DuplicateConstraint, detail),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Domain(d) => d.into(),
            AppError::SlugTaken => Self::new(ErrorCode::DuplicateConstraint, "This slug is not available"),
            AppError::Duplicate(detail) => Self::new(ErrorCode::DuplicateConstraint, detail),
            AppError::Conflict(detail) => Self::new(ErrorCode::Conflict, detail),
            AppError::Unauthorized(detail) => Self::new(ErrorCode::Unauthorized, detail),
            AppError::Token(TokenRejection::Invalid(why)) => Self::new(ErrorCode::JwtError, why),
            AppError::Token(TokenRejection::Expired) => Self::new(ErrorCode::TokenExpired, "Access token has expired"),
            AppError::ForeignOrgToken => Self::new(
                ErrorCode::Forbidden,
                "token is scoped to another organization; select this organization first",
            ),
            AppError::RateLimited => Self::rate_limited(1),
            AppError::Unavailable(cause) => Self::unavailable(cause),
            AppError::Internal(cause) => Self::internal(cause),
            AppError::Stale => Self::unavailable("stale version escaped the retry loop"),
            // Only `/scim/v2` produces these, and it renders them itself (`routes::scim`).
            AppError::Scim(e) => Self::new(
                ErrorCode::for_status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST)),
                e.detail,
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.code.status().into_response();
        let headers = res.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.code.status() == StatusCode::UNAUTHORIZED {
            let challenge = if self.credential_sent {
                r#"Bearer error="invalid_token""#
            } else {
                "Bearer"
            };
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        res.extensions_mut().insert(ProblemSeed(self));
        res
    }
}

/// RFC 3339, milliseconds, `Z` (§1.3).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes the problem body into an error response: the seed an [`ApiError`] left, or one
/// derived from the status for error responses produced elsewhere (axum's 405 and its
/// plain-text rejections, …). Responses with another body type (e.g. `/readyz`'s 503) are
/// left alone.
pub fn render(mut res: Response, request_id: &str, instance: &str, problem_json: bool, now: DateTime<Utc>) -> Response {
    let seed = res.extensions_mut().remove::<ProblemSeed>();
    let err = match seed {
        Some(ProblemSeed(e)) => e,
        None if res.status().is_client_error() || res.status().is_server_error() => {
            let plain = res
                .headers()
                .get(CONTENT_TYPE)
                .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
            if !plain {
                return res;
            }
            let code = ErrorCode::for_status(res.status());
            let detail = match code {
                ErrorCode::MethodNotAllowed => "Method not allowed on this path",
                ErrorCode::NotFound => "Resource not found",
                ErrorCode::PayloadTooLarge => "Request body exceeds 1 MiB",
                _ => code.title(),
            };
            ApiError::new(code, detail)
        }
        None => return res,
    };
    if let Some(cause) = &err.cause {
        tracing::error!(request_id, error_code = err.code.as_str(), cause = %cause, "request failed");
    }
    let body = ProblemDto {
        type_: err.code.type_uri(),
        title: err.code.title().to_owned(),
        status: res.status().as_u16(),
        detail: err.detail.clone(),
        instance: instance.to_owned(),
        error: err.detail.clone(),
        error_code: err.code.as_str().to_owned(),
        timestamp: timestamp(now),
        request_id: request_id.to_owned(),
        errors: (err.code == ErrorCode::ValidationFailed).then(|| err.errors.clone()),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let (mut parts, _) = res.into_parts();
    let ct = if problem_json {
        "application/problem+json"
    } else {
        "application/json"
    };
    parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn rendered(res: Response) -> (StatusCode, String, Vec<u8>) {
        let res = render(res, "rid", "/x", false, DateTime::<Utc>::UNIX_EPOCH);
        let ct = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        (status, ct, body.to_vec())
    }

    #[tokio::test]
    async fn bare_and_plain_text_error_responses_become_problems_and_json_ones_stay() {
        let cases = [
            (StatusCode::URI_TOO_LONG.into_response(), "URI_TOO_LONG"),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response(),
                "REQUEST_HEADER_FIELDS_TOO_LARGE",
            ),
            // What axum's own extractor rejections look like.
            (
                (StatusCode::BAD_REQUEST, "Failed to deserialize query string").into_response(),
                "BAD_REQUEST",
            ),
        ];
        for (res, code) in cases {
            let status = res.status();
            let (got, ct, body) = rendered(res).await;
            let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!((got, ct.as_str()), (status, "application/json"));
            assert_eq!(problem["error_code"], code);
            assert_eq!(problem["status"], status.as_u16());
        }
        let own = (
            StatusCode::SERVICE_UNAVAILABLE,
            [(CONTENT_TYPE, "application/json")],
            r#"{"status":"not_ready"}"#,
        )
            .into_response();
        let (_, _, body) = rendered(own).await;
        assert_eq!(body, br#"{"status":"not_ready"}"#);
    }
}
