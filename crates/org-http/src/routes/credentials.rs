//! §12: bring-your-own OAuth credentials per provider, §18: billing-provider credentials
//! (upsert, read, delete). Secrets are write-only: no response carries them, only `has_secret`
//! or `configured`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use org_domain::credentials::{BillingCredentialsDraft, OAuthCredentialsDraft};

use super::ok;
use crate::auth::Auth;
use crate::dto::{
    BillingCredentialsResponse, DeletedCredentialsResponse, MessageResponse, OAuthCredentialsResponse,
    SetBillingCredentialsRequest, SetOAuthCredentialsRequest,
};
use crate::error::ApiError;
use crate::extract::{Json, Meta, Path};
use crate::state::HttpState;

/// Set (create or replace) the org's OAuth app credentials for one provider.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/oauth-credentials/{provider}", tag = "settings",
    operation_id = "set_oauth_credentials",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("provider" = String, Path, description = "`github`, `google` or `microsoft`")),
    request_body = SetOAuthCredentialsRequest,
    responses(
        (status = 200, description = "Saved; an identical body changes nothing", body = OAuthCredentialsResponse),
        (status = 400, description = "An unknown provider or a field breaking a rule of §12; `errors[]` names it"),
    ))]
pub(crate) async fn set_oauth_credentials(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, provider)): Path<(String, String)>,
    Json(body): Json<SetOAuthCredentialsRequest>,
) -> Result<Response, ApiError> {
    let draft = OAuthCredentialsDraft {
        client_id: body.client_id,
        client_secret: body.client_secret,
    };
    let view = state
        .app()
        .credentials
        .set_oauth(&auth.caller, &meta, &slug, &provider, draft)
        .await?;
    Ok(ok(OAuthCredentialsResponse::from(&view)))
}

/// The org's OAuth app credentials for one provider, without the secret.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/oauth-credentials/{provider}", tag = "settings",
    operation_id = "get_oauth_credentials",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("provider" = String, Path, description = "`github`, `google` or `microsoft`")),
    responses(
        (status = 200, description = "The credentials (`has_secret`, never the secret)", body = OAuthCredentialsResponse),
        (status = 400, description = "An unknown provider"),
        (status = 404, description = "OAuth credentials not found for this provider"),
    ))]
pub(crate) async fn get_oauth_credentials(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, provider)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = state
        .app()
        .credentials
        .get_oauth(&auth.caller, &meta, &slug, &provider)
        .await?;
    Ok(ok(OAuthCredentialsResponse::from(&view)))
}

/// Delete the org's OAuth app credentials for one provider.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/oauth-credentials/{provider}", tag = "settings",
    operation_id = "delete_oauth_credentials",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("provider" = String, Path, description = "`github`, `google` or `microsoft`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "An unknown provider"),
        (status = 404, description = "None configured for this provider (compat)"),
    ))]
pub(crate) async fn delete_oauth_credentials(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, provider)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state
        .app()
        .credentials
        .delete_oauth(&auth.caller, &meta, &slug, &provider)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Set (create or replace) the org's billing-provider credentials for one provider.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/billing-credentials/{provider}", tag = "settings",
    operation_id = "set_billing_credentials",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("provider" = String, Path, description = "`stripe` or `polar`")),
    request_body = SetBillingCredentialsRequest,
    responses(
        (status = 200, description = "Saved (`Billing credentials saved`); an identical body changes nothing", body = MessageResponse),
        (status = 400, description = "An unknown provider or a field breaking a rule of §18 (a Stripe key whose prefix does not match the mode names `api_key`)"),
        (status = 403, description = "Not the owner (nor a platform owner)"),
    ))]
pub(crate) async fn set_billing_credentials(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, provider)): Path<(String, String)>,
    Json(body): Json<SetBillingCredentialsRequest>,
) -> Result<Response, ApiError> {
    let draft = BillingCredentialsDraft {
        api_key: body.api_key,
        webhook_secret: body.webhook_secret,
        mode: body.mode,
    };
    state
        .app()
        .credentials
        .set_billing(&auth.caller, &meta, &slug, &provider, draft)
        .await?;
    Ok(ok(MessageResponse {
        message: "Billing credentials saved".to_owned(),
    }))
}

/// The org's billing-provider credentials for one provider, without the secrets.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/billing-credentials/{provider}", tag = "settings",
    operation_id = "get_billing_credentials",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("provider" = String, Path, description = "`stripe` or `polar`")),
    responses(
        (status = 200, description = "The credentials' state; `configured: false` when none", body = BillingCredentialsResponse),
        (status = 400, description = "An unknown provider"),
        (status = 403, description = "Not the owner (nor a platform owner)"),
    ))]
pub(crate) async fn get_billing_credentials(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, provider)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = state
        .app()
        .credentials
        .get_billing(&auth.caller, &meta, &slug, &provider)
        .await?;
    Ok(ok(BillingCredentialsResponse::from(&view)))
}

/// Delete the org's billing-provider credentials for one provider.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/billing-credentials/{provider}", tag = "settings",
    operation_id = "delete_billing_credentials",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("provider" = String, Path, description = "`stripe` or `polar`")),
    responses(
        (status = 200, description = "Deleted (`Billing credentials deleted`, `deleted_count` 1)", body = DeletedCredentialsResponse),
        (status = 400, description = "An unknown provider"),
        (status = 403, description = "Not the owner (nor a platform owner)"),
        (status = 404, description = "None configured for this provider (compat)"),
    ))]
pub(crate) async fn delete_billing_credentials(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, provider)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let deleted_count = state
        .app()
        .credentials
        .delete_billing(&auth.caller, &meta, &slug, &provider)
        .await?;
    Ok(ok(DeletedCredentialsResponse {
        message: "Billing credentials deleted".to_owned(),
        deleted_count,
    }))
}
