//! Extractors whose rejections are problem+json (§1.2): JSON bodies, path and query parameters,
//! request facts for audit entries, and the absent-vs-null helpers of PATCH bodies.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use org_app::RequestMeta;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, ErrorCode, FieldErrorDto};
use crate::middleware::{ClientIp, RequestId};

/// A JSON request body. No body (or only whitespace) counts as `{}`; otherwise the content
/// type must be JSON (415), the text must parse (400 `BAD_REQUEST`) and match the schema
/// (400 `VALIDATION_FAILED` with the offending field); bodies over 1 MiB → 413.
#[derive(Debug)]
pub struct Json<T>(pub T);

fn is_json_content_type(value: &str) -> bool {
    is_media_type(value, &["application/json"])
}

/// Whether a `Content-Type` is one of `essences` with at most a `charset=utf-8` parameter.
pub(crate) fn is_media_type(value: &str, essences: &[&str]) -> bool {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if !essences.contains(&essence.as_str()) {
        return false;
    }
    parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    })
}

/// The field a serde message names (`missing field `x``, `unknown field `x``), under `path`.
fn field_of(path: &str, message: &str) -> String {
    let named = message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("missing field") || message.starts_with("unknown field"));
    match (path, named) {
        ("." | "", Some(name)) => name.to_owned(),
        (p, Some(name)) if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        (p, Some(name)) => format!("{p}.{name}"),
        ("." | "", None) => "body".to_owned(),
        (p, None) => p.to_owned(),
    }
}

fn clean_message(message: &str) -> String {
    // serde appends the expected members to unknown-field messages; keep the first clause.
    match message.split_once(", expected") {
        Some((head, _)) if message.starts_with("unknown field") => head.to_owned(),
        _ => message.to_owned(),
    }
}

/// Parses a JSON body according to §1.2.
pub fn parse_body<T: DeserializeOwned>(content_type: Option<&str>, bytes: &[u8]) -> Result<T, ApiError> {
    let empty = bytes.iter().all(u8::is_ascii_whitespace);
    let bytes: &[u8] = if empty {
        b"{}"
    } else {
        if !content_type.is_some_and(is_json_content_type) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Request bodies must be sent as application/json",
            ));
        }
        bytes
    };
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("Request body is not valid JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        ApiError::validation(vec![FieldErrorDto {
            field: field_of(&path, &message),
            message: clean_message(&message),
        }])
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "Request body exceeds 1 MiB")
            } else {
                ApiError::new(ErrorCode::BadRequest, "Request body could not be read")
            }
        })?;
        parse_body(content_type.as_deref(), &bytes).map(Json)
    }
}

/// Path parameters; a mismatch is simply an unknown resource (404).
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_| ApiError::not_found())
    }
}

/// Query parameters as text; typed accessors report malformed values as
/// `VALIDATION_FAILED` naming the parameter (§1.2). Unknown parameters are ignored.
#[derive(Debug, Default)]
pub struct Query(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid("query", "malformed query string"))?;
        Ok(Query(pairs.0.into_iter().collect()))
    }
}

impl Query {
    /// A text parameter (empty counts as absent).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|s| !s.is_empty())
    }

    /// A decimal integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.text(name)
            .map(|t| {
                t.trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::invalid(name, "must be an integer"))
            })
            .transpose()
    }

    /// `page` (1-based, default 1) and `limit` (default `default_limit`), clamped (§1.6).
    pub fn page(&self, default_limit: u32) -> Result<org_ports::PageRequest, ApiError> {
        let page = self.int("page")?.unwrap_or(1).clamp(1, i64::from(u32::MAX));
        let limit = self.int("limit")?.unwrap_or(i64::from(default_limit)).clamp(1, 100);
        Ok(org_ports::PageRequest::new(
            u32::try_from(page).unwrap_or(u32::MAX),
            u32::try_from(limit).unwrap_or(100),
        ))
    }

    /// An enumerated parameter parsed by `parse`.
    pub fn parsed<T>(&self, name: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, ApiError> {
        self.text(name)
            .map(|t| parse(t).ok_or_else(|| ApiError::invalid(name, format!("unknown value '{t}'"))))
            .transpose()
    }
}

/// Request facts recorded with audit entries (§8.2).
#[derive(Debug)]
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(request_meta(parts)))
    }
}

/// Builds the [`RequestMeta`] of a request.
pub fn request_meta(parts: &Parts) -> RequestMeta {
    RequestMeta {
        ip: parts.extensions.get::<ClientIp>().map(|ip| ip.0.to_string()),
        user_agent: parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(1024).collect()),
        request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
        route: parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_owned()),
        method: Some(parts.method.as_str().to_owned()),
        via_cli: false,
    }
}

/// `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>`: absent →
/// `None` (unchanged), `null` → `Some(None)` (clear), a value → `Some(Some(v))`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `#[serde(default, deserialize_with = "non_null")]` on an `Option<T>` of a non-nullable
/// member: absent → `None`, `null` → an error (400 `VALIDATION_FAILED`).
pub fn non_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        #[serde(default, deserialize_with = "non_null")]
        name: Option<String>,
        #[serde(default, deserialize_with = "nullable")]
        max_users: Option<Option<u32>>,
    }

    fn parse(body: &str) -> Result<Patch, ApiError> {
        parse_body(Some("application/json; charset=utf-8"), body.as_bytes())
    }

    #[test]
    fn absent_null_and_values_are_three_different_things() {
        assert_eq!(
            parse("{}").unwrap(),
            Patch {
                name: None,
                max_users: None
            }
        );
        assert_eq!(parse(r#"{"max_users":null}"#).unwrap().max_users, Some(None));
        assert_eq!(parse(r#"{"max_users":5}"#).unwrap().max_users, Some(Some(5)));
        let e = parse(r#"{"name":null}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationFailed);
        assert_eq!(e.errors[0].field, "name");
    }

    #[test]
    fn unknown_members_and_bad_json_are_told_apart() {
        let e = parse(r#"{"slug":"x"}"#).unwrap_err();
        assert_eq!(
            (e.code, e.errors[0].field.as_str()),
            (ErrorCode::ValidationFailed, "slug")
        );
        assert_eq!(parse("{").unwrap_err().code, ErrorCode::BadRequest);
        let e = parse_body::<Patch>(Some("text/plain"), b"{}").unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedMediaType);
        assert!(parse_body::<Patch>(Some("text/plain"), b"").is_ok());
        assert!(parse_body::<Patch>(None, b"").is_ok());
    }
}
