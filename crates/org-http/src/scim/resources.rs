//! `/scim/v2/Users` (§10.3) and `/scim/v2/Groups` (§10.4): one handler per verb, dispatching
//! on the resource type in the path.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use org_app::scim::{GroupResource, PatchRequest, ScimError, UserResource, render_group, render_user};
use serde_json::Value;

use super::{Directory, ScimFailure, ScimQuery, ScimResult, base, body_json, if_match, resource};
use crate::state::HttpState;

/// The resource type a path names.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Users,
    Groups,
}

impl Kind {
    fn parse(segment: &str) -> Result<Self, ScimFailure> {
        match segment {
            "Users" => Ok(Self::Users),
            "Groups" => Ok(Self::Groups),
            _ => Err(ScimError::not_found("Resource not found").into()),
        }
    }
}

/// One resource as a use case returned it.
enum One {
    User(UserResource),
    Group(GroupResource),
}

impl One {
    fn respond(&self, state: &HttpState, status: StatusCode, q: &ScimQuery, headers: &HeaderMap) -> Response {
        let b = base(state);
        let (body, version) = match self {
            Self::User(u) => (render_user(u, &b), u.version),
            Self::Group(g) => (render_group(g, &b), g.version),
        };
        resource(status, body, version, q, headers)
    }
}

pub(super) async fn list(
    State(state): State<HttpState>,
    Directory(d, _): Directory,
    Path(kind): Path<String>,
    q: ScimQuery,
) -> ScimResult {
    let kind = Kind::parse(&kind)?;
    let filter = q.filter()?;
    let params = q.list()?;
    let directory = &state.app().directory;
    let b = base(&state);
    let (items, total, start): (Vec<Value>, u64, u64) = match kind {
        Kind::Users => {
            let page = directory.list_users(&d, filter.as_ref(), params).await?;
            let items = page.resources.iter().map(|u| render_user(u, &b)).collect();
            (items, page.total, page.start_index)
        }
        Kind::Groups => {
            let page = directory
                .list_groups(&d, filter.as_ref(), params, q.wants_members())
                .await?;
            let items = page.resources.iter().map(|g| render_group(g, &b)).collect();
            (items, page.total, page.start_index)
        }
    };
    Ok(super::list(items, total, start, &q))
}

pub(super) async fn get(
    State(state): State<HttpState>,
    Directory(d, _): Directory,
    Path((kind, id)): Path<(String, String)>,
    q: ScimQuery,
    headers: HeaderMap,
) -> ScimResult {
    let kind = Kind::parse(&kind)?;
    let directory = &state.app().directory;
    let one = match kind {
        Kind::Users => One::User(directory.get_user(&d, &id).await?),
        Kind::Groups => One::Group(directory.get_group(&d, &id, q.wants_members()).await?),
    };
    Ok(one.respond(&state, StatusCode::OK, &q, &headers))
}

pub(super) async fn create(
    State(state): State<HttpState>,
    Directory(d, meta): Directory,
    Path(kind): Path<String>,
    q: ScimQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let kind = Kind::parse(&kind)?;
    let body = body_json(&headers, &body)?;
    let directory = &state.app().directory;
    let one = match kind {
        Kind::Users => One::User(directory.create_user(&d, &meta, &body).await?),
        Kind::Groups => One::Group(directory.create_group(&d, &meta, &body).await?),
    };
    Ok(one.respond(&state, StatusCode::CREATED, &q, &headers))
}

/// `PUT` and `PATCH` of one resource.
pub(super) async fn write(
    State(state): State<HttpState>,
    Directory(d, meta): Directory,
    method: Method,
    Path((kind, id)): Path<(String, String)>,
    q: ScimQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let kind = Kind::parse(&kind)?;
    let body = body_json(&headers, &body)?;
    let directory = &state.app().directory;
    let tag = if_match(&headers);
    let one = if method == Method::PATCH {
        let patch = PatchRequest::parse(&body)?;
        match kind {
            Kind::Users => One::User(directory.patch_user(&d, &meta, &id, &patch, tag).await?),
            Kind::Groups => One::Group(
                directory
                    .patch_group(&d, &meta, &id, &patch, tag, q.wants_members())
                    .await?,
            ),
        }
    } else {
        match kind {
            Kind::Users => One::User(directory.replace_user(&d, &meta, &id, &body, tag).await?),
            Kind::Groups => One::Group(
                directory
                    .replace_group(&d, &meta, &id, &body, tag, q.wants_members())
                    .await?,
            ),
        }
    };
    Ok(one.respond(&state, StatusCode::OK, &q, &headers))
}

pub(super) async fn delete(
    State(state): State<HttpState>,
    Directory(d, meta): Directory,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ScimResult {
    let directory = &state.app().directory;
    let tag = if_match(&headers);
    match Kind::parse(&kind)? {
        Kind::Users => directory.delete_user(&d, &meta, &id, tag).await?,
        Kind::Groups => directory.delete_group(&d, &meta, &id, tag).await?,
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
