//! §13: the org's SMTP settings (upsert, read in the compat shape, remove). The password is
//! write-only: no response carries it.

use axum::extract::State;
use axum::response::Response;
use org_domain::mail::SmtpDraft;

use super::ok;
use crate::auth::Auth;
use crate::dto::{MessageResponse, SetSmtpRequest, SmtpResponse};
use crate::error::ApiError;
use crate::extract::{Json, Meta, Path};
use crate::state::HttpState;

/// Set (create or replace) the org's SMTP server.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/smtp", tag = "settings", operation_id = "set_smtp",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = SetSmtpRequest,
    responses(
        (status = 200, description = "Saved (`SMTP settings saved`); an identical body changes nothing", body = MessageResponse),
        (status = 400, description = "A field breaks a rule of §13, or the host is not allowed (§9.3); `errors[]` names it"),
    ))]
pub(crate) async fn set_smtp(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<SetSmtpRequest>,
) -> Result<Response, ApiError> {
    let draft = SmtpDraft {
        host: body.host,
        port: body.port,
        username: body.username,
        password: body.password,
        from_email: body.from_email,
        from_name: body.from_name,
        security: body.security,
    };
    state.app().mail.set_smtp(&auth.caller, &meta, &slug, draft).await?;
    Ok(ok(MessageResponse {
        message: "SMTP settings saved".to_owned(),
    }))
}

/// The org's SMTP server, without the password; the compat shape when unconfigured.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/smtp", tag = "settings", operation_id = "get_smtp",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "The settings; `configured: false` with empty strings, port 587 and `starttls` when none", body = SmtpResponse)))]
pub(crate) async fn get_smtp(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let settings = state.app().mail.get_smtp(&auth.caller, &meta, &slug).await?;
    Ok(ok(SmtpResponse::of(settings.as_ref())))
}

/// Remove the org's SMTP server (a no-op when none is configured).
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/smtp", tag = "settings", operation_id = "delete_smtp",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "Removed (`SMTP settings removed`)", body = MessageResponse)))]
pub(crate) async fn delete_smtp(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    state.app().mail.delete_smtp(&auth.caller, &meta, &slug).await?;
    Ok(ok(MessageResponse {
        message: "SMTP settings removed".to_owned(),
    }))
}
