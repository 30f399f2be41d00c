//! The SCIM 2.0 server under `/scim/v2` (§10.2–§10.6): its own router, bearer extractor,
//! error bodies and media type. The protocol itself (filters, PATCH, rendering, discovery) is
//! `org_app::scim`; the use cases are `org_app::directory`. This module only moves bytes:
//! it parses the query and body, calls the use case, and renders with `ETag`, `Location` and
//! projection.

mod auth;
mod error;
mod resources;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use org_app::scim::{self, Filter, ListParams, ScimError, etag, etag_matches, project};
use serde_json::Value;

pub use auth::Directory;
pub use error::{SCIM_JSON, ScimFailure, render};

use crate::state::HttpState;

/// Where the SCIM server is mounted.
pub const PREFIX: &str = "/scim/v2";

type ScimResult = Result<Response, ScimFailure>;

/// The SCIM base URL of this server (`https://…/scim/v2`).
fn base(state: &HttpState) -> String {
    format!("{}{PREFIX}", state.config().base_url())
}

/// The query parameters of §10.2; names are matched case-insensitively.
#[derive(Debug, Default)]
struct ScimQuery {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ScimQuery {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::parse(&parts.uri)
    }
}

impl ScimQuery {
    fn parse(uri: &Uri) -> Result<Self, ScimFailure> {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| ScimError::invalid_syntax(format!("malformed query string: {e}")))?;
        let mut q = Self::default();
        for (k, v) in pairs.0 {
            let slot = match k.to_ascii_lowercase().as_str() {
                "filter" => &mut q.filter,
                "startindex" => &mut q.start_index,
                "count" => &mut q.count,
                "attributes" => &mut q.attributes,
                "excludedattributes" => &mut q.excluded,
                _ => continue,
            };
            *slot = Some(v);
        }
        Ok(q)
    }

    fn filter(&self) -> Result<Option<Filter>, ScimFailure> {
        match self.filter.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => Ok(Some(Filter::parse(text)?)),
        }
    }

    fn list(&self) -> Result<ListParams, ScimFailure> {
        Ok(ListParams::parse(self.start_index.as_deref(), self.count.as_deref())?)
    }

    fn project(&self, resource: &mut Value) {
        project(resource, self.attributes.as_deref(), self.excluded.as_deref());
    }

    /// Whether a Group's members are wanted: not excluded, and named when `attributes` selects.
    fn wants_members(&self) -> bool {
        // Whether a list names `members` (or, with `sub`, one of its sub-attributes), with or
        // without the core schema URN.
        let names = |list: &Option<String>, sub: bool| {
            list.as_deref().is_some_and(|l| {
                l.split(',').any(|a| {
                    let a = a.trim().to_ascii_lowercase();
                    let a = a.rsplit_once(':').map_or(a.as_str(), |(_, n)| n);
                    a == "members" || (sub && a.starts_with("members."))
                })
            })
        };
        !names(&self.excluded, false) && (self.attributes.is_none() || names(&self.attributes, true))
    }
}

/// A response with a SCIM JSON body.
fn json(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut res = (status, bytes).into_response();
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

fn header<'h>(headers: &'h HeaderMap, name: &axum::http::HeaderName) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `If-Match` of a write.
fn if_match(headers: &HeaderMap) -> Option<&str> {
    header(headers, &IF_MATCH)
}

/// One resource: 304 when `If-None-Match` names its version, else the projected body with
/// its `ETag` (and `Location` on 201).
fn resource(status: StatusCode, mut body: Value, version: u64, query: &ScimQuery, headers: &HeaderMap) -> Response {
    let tag = HeaderValue::from_str(&etag(version)).ok();
    if status == StatusCode::OK && header(headers, &IF_NONE_MATCH).is_some_and(|h| etag_matches(h, version)) {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        if let Some(tag) = tag {
            res.headers_mut().insert(ETAG, tag);
        }
        return res;
    }
    let location = body
        .pointer("/meta/location")
        .and_then(Value::as_str)
        .and_then(|l| HeaderValue::from_str(l).ok());
    query.project(&mut body);
    let mut res = json(status, &body);
    if let Some(tag) = tag {
        res.headers_mut().insert(ETAG, tag);
    }
    if status == StatusCode::CREATED
        && let Some(l) = location
    {
        res.headers_mut().insert(LOCATION, l);
    }
    res
}

/// A list response of projected resources.
fn list(resources: Vec<Value>, total: u64, start_index: u64, query: &ScimQuery) -> Response {
    let resources = resources
        .into_iter()
        .map(|mut r| {
            query.project(&mut r);
            r
        })
        .collect();
    json(StatusCode::OK, &scim::list_response(resources, total, start_index))
}

/// A request body as JSON: another media type than `application/scim+json` or
/// `application/json` → 415; malformed or empty → 400 `invalidSyntax`.
fn body_json(headers: &HeaderMap, body: &Bytes) -> Result<Value, ScimFailure> {
    let media = header(headers, &CONTENT_TYPE).unwrap_or_default();
    if !crate::extract::is_media_type(media, &[SCIM_JSON, "application/json"]) {
        return Err(ScimError::new(415, None, "send the body as application/scim+json or application/json").into());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("a JSON request body is required").into());
    }
    serde_json::from_slice(body).map_err(|e| ScimError::invalid_syntax(format!("malformed JSON: {e}")).into())
}

async fn service_provider_config(State(state): State<HttpState>, _d: Directory) -> Response {
    json(StatusCode::OK, &scim::service_provider_config(&base(&state)))
}

async fn resource_types(State(state): State<HttpState>, _d: Directory, q: ScimQuery) -> ScimResult {
    let all = scim::resource_types(&base(&state));
    let n = all.len() as u64;
    Ok(list(all, n, 1, &q))
}

async fn resource_type(State(state): State<HttpState>, _d: Directory, Path(id): Path<String>) -> ScimResult {
    let rt = scim::resource_type(&base(&state), &id).ok_or_else(|| ScimError::not_found("Resource not found"))?;
    Ok(json(StatusCode::OK, &rt))
}

async fn schemas(_d: Directory, q: ScimQuery) -> ScimResult {
    let all = scim::schemas();
    let n = all.len() as u64;
    Ok(list(all, n, 1, &q))
}

async fn schema(_d: Directory, Path(id): Path<String>) -> ScimResult {
    let s = scim::schema(&id).ok_or_else(|| ScimError::not_found("Resource not found"))?;
    Ok(json(StatusCode::OK, &s))
}

async fn not_implemented(_d: Directory, uri: Uri) -> ScimFailure {
    ScimError::not_implemented(format!("{} is not supported by this server", uri.path())).into()
}

/// Counts a SCIM request (`scim_requests_total{resource, method, status}`).
pub fn count(path: &str, method: &str, status: u16) {
    let resource = path
        .strip_prefix(PREFIX)
        .and_then(|p| p.trim_start_matches('/').split('/').next())
        .filter(|r| !r.is_empty())
        .map_or("unknown", |r| match r {
            "Users" => "Users",
            "Groups" => "Groups",
            "ServiceProviderConfig" => "ServiceProviderConfig",
            "ResourceTypes" => "ResourceTypes",
            "Schemas" => "Schemas",
            _ => "other",
        });
    metrics::counter!("scim_requests_total", "resource" => resource, "method" => method.to_owned(), "status" => status.to_string())
        .increment(1);
}

/// The routes under [`PREFIX`].
pub(crate) fn router() -> Router<HttpState> {
    let r = |p: &str| format!("{PREFIX}{p}");
    Router::new()
        .route(&r("/{kind}"), get(resources::list).post(resources::create))
        .route(
            &r("/{kind}/{id}"),
            get(resources::get)
                .put(resources::write)
                .patch(resources::write)
                .delete(resources::delete),
        )
        .route(&r("/ServiceProviderConfig"), get(service_provider_config))
        .route(&r("/ResourceTypes"), get(resource_types))
        .route(&r("/ResourceTypes/{id}"), get(resource_type))
        .route(&r("/Schemas"), get(schemas))
        .route(&r("/Schemas/{id}"), get(schema))
        .route(&r("/Me"), any(not_implemented))
        .route(&r("/Me/{*rest}"), any(not_implemented))
        .route(&r("/Bulk"), any(not_implemented))
        .route(&r("/.search"), post(not_implemented))
        .route(&r("/Users/.search"), post(not_implemented))
        .route(&r("/Groups/.search"), post(not_implemented))
}
