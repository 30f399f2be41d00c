//! SCIM errors (RFC 7644 §3.12, API.md §10.6): an HTTP status, an optional `scimType` and a
//! detail, rendered as the SCIM error body. SCIM routes never answer problem+json.

use serde_json::{Value, json};

/// The schema URN of a SCIM error body.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` of a 400 or 409 error (RFC 7644 §3.12, table 9), as far as this server uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScimType {
    /// Malformed JSON or request structure.
    InvalidSyntax,
    /// A bad or unsupported filter.
    InvalidFilter,
    /// A value of the wrong type, length or form.
    InvalidValue,
    /// A PATCH path that does not parse or names a sub-attribute the schema does not define.
    InvalidPath,
    /// A PATCH path (or a `remove` without path) that selects nothing.
    NoTarget,
    /// A change the attribute's mutability forbids (e.g. removing `userName`).
    Mutability,
    /// More PATCH operations than the server accepts.
    TooMany,
    /// A duplicate `userName`, e-mail or group name.
    Uniqueness,
}

impl ScimType {
    /// The name the RFC gives it (`invalidSyntax`, `invalidFilter`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidFilter => "invalidFilter",
            Self::InvalidValue => "invalidValue",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::Mutability => "mutability",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
        }
    }
}

impl std::fmt::Display for ScimType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SCIM error: the HTTP status, the `scimType` (for 400 and 409) and a human-readable detail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SCIM {status}{}: {detail}", scim_type.map(|t| format!(" {t}")).unwrap_or_default())]
pub struct ScimError {
    /// The HTTP status.
    pub status: u16,
    /// The `scimType`, if the status has one.
    pub scim_type: Option<ScimType>,
    /// What went wrong, for the client's operator.
    pub detail: String,
}

impl ScimError {
    /// An error of any status.
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    /// 400 `invalidSyntax`: malformed JSON or request structure.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    /// 400 `invalidFilter`: a filter that does not parse or names an unsupported attribute.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    /// 400 `invalidValue`: a value of the wrong type, length or form.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    /// 400 `invalidPath`: a PATCH path that does not parse or names an undefined sub-attribute.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }

    /// 400 `noTarget`: the PATCH path selects nothing.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }

    /// 400 `mutability`: the attribute may not be changed that way.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }

    /// 400 `tooMany`: more PATCH operations than accepted.
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::TooMany, detail)
    }

    /// 409 `uniqueness`: a duplicate `userName`, e-mail or group name.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }

    /// 401: an unknown, revoked or expired token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }

    /// 403: the token may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, None, detail)
    }

    /// 404: no such resource in the token's org.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    /// 412: `If-Match` does not match the resource's version.
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }

    /// 413: the body is larger than accepted.
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(413, None, detail)
    }

    /// 429: rate limited (the caller adds `Retry-After`).
    pub fn too_many_requests(detail: impl Into<String>) -> Self {
        Self::new(429, None, detail)
    }

    /// 500: an unexpected failure (the caller logs the cause and sends a generic detail).
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, None, detail)
    }

    /// 501: `/Me`, `/Bulk`, `POST …/.search` and anything else not implemented.
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(501, None, detail)
    }

    /// The SCIM error body: `{schemas, status: "<status>", scimType?, detail}`.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(map)) = (self.scim_type, body.as_object_mut()) {
            map.insert("scimType".into(), Value::String(t.as_str().into()));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constructor_gives_its_status_and_scim_type() {
        let cases: [(ScimError, u16, Option<&str>); 17] = [
            (ScimError::invalid_syntax("d"), 400, Some("invalidSyntax")),
            (ScimError::invalid_filter("d"), 400, Some("invalidFilter")),
            (ScimError::invalid_value("d"), 400, Some("invalidValue")),
            (ScimError::invalid_path("d"), 400, Some("invalidPath")),
            (ScimError::no_target("d"), 400, Some("noTarget")),
            (ScimError::mutability("d"), 400, Some("mutability")),
            (ScimError::too_many("d"), 400, Some("tooMany")),
            (ScimError::uniqueness("d"), 409, Some("uniqueness")),
            (ScimError::unauthorized("d"), 401, None),
            (ScimError::forbidden("d"), 403, None),
            (ScimError::not_found("d"), 404, None),
            (ScimError::precondition_failed("d"), 412, None),
            (ScimError::payload_too_large("d"), 413, None),
            (ScimError::too_many_requests("d"), 429, None),
            (ScimError::internal("d"), 500, None),
            (ScimError::not_implemented("d"), 501, None),
            (ScimError::new(418, None, "d"), 418, None),
        ];
        for (error, status, scim_type) in cases {
            assert_eq!(error.status, status, "{error}");
            assert_eq!(error.scim_type.map(ScimType::as_str), scim_type, "{error}");
            assert_eq!(error.detail, "d");
        }
    }

    #[test]
    fn the_body_carries_the_status_as_a_string_and_the_scim_type() {
        let body = ScimError::invalid_filter("unexpected end of filter").body();
        assert_eq!(
            body,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "400",
                "scimType": "invalidFilter",
                "detail": "unexpected end of filter",
            })
        );
    }

    #[test]
    fn the_body_omits_scim_type_when_there_is_none() {
        let body = ScimError::not_found("User not found").body();
        assert_eq!(
            body,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "404",
                "detail": "User not found",
            })
        );
    }

    #[test]
    fn the_display_names_status_type_and_detail() {
        assert_eq!(ScimError::no_target("x").to_string(), "SCIM 400 noTarget: x");
        assert_eq!(ScimError::not_found("y").to_string(), "SCIM 404: y");
    }
}
