//! `/scim/v2/Users` (§10.3) and `/scim/v2/Groups` (§10.4): one handler per verb, dispatching
//! on the resource type in the path.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use org_app::directory::DirectoryCaller;
use org_app::scim::{GroupResource, PatchRequest, ScimError, UserResource, render_group, render_user};
use serde_json::Value;

use super::{Directory, ScimFailure, ScimQuery, ScimResult, base, body_json, if_match, resource};
use crate::extract::Meta;
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
    Directory(d): Directory,
    Path(kind): Path<String>,
    uri: Uri,
) -> ScimResult {
    let kind = Kind::parse(&kind)?;
    let q = ScimQuery::parse(&uri)?;
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
    Directory(d): Directory,
    Path((kind, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> ScimResult {
    let kind = Kind::parse(&kind)?;
    let q = ScimQuery::parse(&uri)?;
    let directory = &state.app().directory;
    let one = match kind {
        Kind::Users => One::User(directory.get_user(&d, &id).await?),
        Kind::Groups => One::Group(directory.get_group(&d, &id, q.wants_members()).await?),
    };
    Ok(one.respond(&state, StatusCode::OK, &q, &headers))
}

pub(super) async fn create(
    State(state): State<HttpState>,
    Directory(d): Directory,
    Meta(meta): Meta,
    Path(kind): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let kind = Kind::parse(&kind)?;
    let q = ScimQuery::parse(&uri)?;
    let body = body_json(&body)?;
    let directory = &state.app().directory;
    let one = match kind {
        Kind::Users => One::User(directory.create_user(&d, &meta, &body).await?),
        Kind::Groups => One::Group(directory.create_group(&d, &meta, &body).await?),
    };
    Ok(one.respond(&state, StatusCode::CREATED, &q, &headers))
}

/// The shared path of PUT and PATCH: parse, write, answer 200 with the full resource.
async fn write(state: &HttpState, d: &DirectoryCaller, w: Write<'_>) -> ScimResult {
    let Write {
        kind,
        meta,
        id,
        uri,
        headers,
        body,
        patch,
    } = w;
    let q = ScimQuery::parse(uri)?;
    let body = body_json(body)?;
    let directory = &state.app().directory;
    let tag = if_match(headers);
    let one = if patch {
        let patch = PatchRequest::parse(&body)?;
        match kind {
            Kind::Users => One::User(directory.patch_user(d, meta, id, &patch, tag).await?),
            Kind::Groups => One::Group(directory.patch_group(d, meta, id, &patch, tag).await?),
        }
    } else {
        match kind {
            Kind::Users => One::User(directory.replace_user(d, meta, id, &body, tag).await?),
            Kind::Groups => One::Group(directory.replace_group(d, meta, id, &body, tag).await?),
        }
    };
    Ok(one.respond(state, StatusCode::OK, &q, headers))
}

struct Write<'a> {
    kind: Kind,
    meta: &'a org_app::RequestMeta,
    id: &'a str,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    patch: bool,
}

pub(super) async fn replace(
    State(state): State<HttpState>,
    Directory(d): Directory,
    Meta(meta): Meta,
    Path((kind, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let kind = Kind::parse(&kind)?;
    let w = Write {
        kind,
        meta: &meta,
        id: &id,
        uri: &uri,
        headers: &headers,
        body: &body,
        patch: false,
    };
    write(&state, &d, w).await
}

pub(super) async fn patch(
    State(state): State<HttpState>,
    Directory(d): Directory,
    Meta(meta): Meta,
    Path((kind, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let kind = Kind::parse(&kind)?;
    let w = Write {
        kind,
        meta: &meta,
        id: &id,
        uri: &uri,
        headers: &headers,
        body: &body,
        patch: true,
    };
    write(&state, &d, w).await
}

pub(super) async fn delete(
    State(state): State<HttpState>,
    Directory(d): Directory,
    Meta(meta): Meta,
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
