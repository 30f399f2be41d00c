//! §11: upstream identity providers of an org (list, get, create, update, delete), with their
//! request and response bodies. The client secret is write-only: responses carry only
//! `has_client_secret`.

use axum::extract::State;
use axum::response::Response;
use org_domain::upstream::{UpstreamDraft, UpstreamProvider};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{created, ok};
use crate::auth::Auth;
use crate::error::{ApiError, timestamp};
use crate::extract::{Json, Meta, Path, Query, non_null, nullable};
use crate::state::HttpState;

/// Create (all members as documented) or update (all optional; `provider_type` cannot change)
/// an upstream provider. Absent = unchanged; `null` clears a nullable member.
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamProviderRequest {
    /// 1–128 of `[A-Za-z0-9._-]`, unique in the org.
    #[serde(default, deserialize_with = "non_null")]
    pub connection_id: Option<String>,
    /// Trimmed, 1–200.
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    /// `oidc`, `oauth2` or `saml`.
    #[serde(default, deserialize_with = "non_null")]
    pub provider_type: Option<String>,
    /// 1–512 (SAML: our SP entity id at this IdP).
    #[serde(default, deserialize_with = "non_null")]
    pub client_id: Option<String>,
    /// Write-only, ≤ 4096; required for oidc/oauth2; `null` clears it (SAML only).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub issuer: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub authorization_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub token_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub userinfo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub jwks_url: Option<Option<String>>,
    /// OIDC discovery document URL; fetched on create and whenever it changes.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub discovery_url: Option<Option<String>>,
    /// Space-separated; default `openid email profile` for oidc.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub scopes: Option<Option<String>>,
    /// Free-form object, ≤ 16 KiB serialised.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<serde_json::Value>>,
    /// SAML IdP metadata document, ≤ 512 KiB.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub metadata_xml: Option<Option<String>>,
    /// URL of the SAML IdP metadata.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub metadata_url: Option<Option<String>>,
    /// Default `true`.
    #[serde(default, deserialize_with = "non_null")]
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for UpstreamProviderRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamProviderRequest")
            .field("connection_id", &self.connection_id)
            .field("provider_type", &self.provider_type)
            .finish_non_exhaustive()
    }
}

impl UpstreamProviderRequest {
    fn into_draft(self) -> Result<UpstreamDraft, ApiError> {
        let metadata = match self.metadata {
            None => None,
            Some(None) => Some(None),
            Some(Some(v @ serde_json::Value::Object(_))) => Some(Some(v.to_string())),
            Some(Some(_)) => return Err(ApiError::invalid("metadata", "must be an object or null")),
        };
        Ok(UpstreamDraft {
            connection_id: self.connection_id,
            name: self.name,
            provider_type: self.provider_type,
            client_id: self.client_id,
            client_secret: self.client_secret,
            issuer: self.issuer,
            authorization_url: self.authorization_url,
            token_url: self.token_url,
            userinfo_url: self.userinfo_url,
            jwks_url: self.jwks_url,
            discovery_url: self.discovery_url,
            scopes: self.scopes,
            metadata,
            metadata_xml: self.metadata_xml,
            metadata_url: self.metadata_url,
            enabled: self.enabled,
        })
    }
}

/// A signing certificate of a SAML IdP.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SamlCertificateDto {
    /// SHA-256 of the DER certificate, 64 lower-case hex characters.
    pub sha256_fingerprint: String,
    pub not_after: String,
}

/// The SAML part of a provider.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SamlDto {
    /// The IdP entity id (= `issuer`).
    pub entity_id: Option<String>,
    /// The SSO location (= `authorization_url`).
    pub sso_url: Option<String>,
    pub metadata_url: Option<String>,
    pub certificates: Vec<SamlCertificateDto>,
}

/// `UpstreamProvider` (§11): never the client secret.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UpstreamProviderResponse {
    pub id: String,
    pub org_id: String,
    pub connection_id: String,
    pub name: String,
    pub provider_type: String,
    pub client_id: String,
    pub issuer: Option<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub discovery_url: Option<String>,
    pub scopes: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub saml: Option<SamlDto>,
    pub has_client_secret: bool,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UpstreamProvider> for UpstreamProviderResponse {
    fn from(p: &UpstreamProvider) -> Self {
        let r = p.record();
        let saml = (r.provider_type == org_domain::upstream::ProviderType::Saml).then(|| SamlDto {
            entity_id: r.issuer.clone(),
            sso_url: r.authorization_url.clone(),
            metadata_url: r.metadata_url.clone(),
            certificates: r
                .certificates
                .iter()
                .map(|c| SamlCertificateDto {
                    sha256_fingerprint: c.sha256_fingerprint.clone(),
                    not_after: timestamp(c.not_after),
                })
                .collect(),
        });
        Self {
            id: r.id.to_string(),
            org_id: r.org_id.to_string(),
            connection_id: r.connection_id.clone(),
            name: r.name.clone(),
            provider_type: r.provider_type.as_str().to_owned(),
            client_id: r.client_id.clone(),
            issuer: r.issuer.clone(),
            authorization_url: r.authorization_url.clone(),
            token_url: r.token_url.clone(),
            userinfo_url: r.userinfo_url.clone(),
            jwks_url: r.jwks_url.clone(),
            discovery_url: r.discovery_url.clone(),
            scopes: r.scopes.clone(),
            metadata: r.metadata.as_deref().and_then(|m| serde_json::from_str(m).ok()),
            saml,
            has_client_secret: r.client_secret.is_some(),
            enabled: r.enabled,
            created_at: timestamp(r.created_at),
            updated_at: timestamp(r.updated_at),
        }
    }
}

/// `{success: true}` (compat).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UpstreamDeletedResponse {
    pub success: bool,
}

/// The org's upstream providers, oldest first.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/upstream-providers", tag = "upstream_providers",
    operation_id = "list_upstream_providers",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "Bare array (compat)", body = [UpstreamProviderResponse])))]
pub(crate) async fn list_upstream_providers(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let page = query.page(50)?;
    let list = state.app().upstream.list(&auth.caller, &meta, &slug, page).await?;
    Ok(ok(list.iter().map(UpstreamProviderResponse::from).collect::<Vec<_>>()))
}

/// One upstream provider.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/upstream-providers/{id}", tag = "upstream_providers",
    operation_id = "get_upstream_provider",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The provider", body = UpstreamProviderResponse), (status = 404, description = "Unknown provider")))]
pub(crate) async fn get_upstream_provider(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let p = state.app().upstream.get(&auth.caller, &meta, &slug, &id).await?;
    Ok(ok(UpstreamProviderResponse::from(&p)))
}

/// Create an upstream provider; a `discovery_url` or `metadata_url` is fetched first.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/upstream-providers", tag = "upstream_providers",
    operation_id = "create_upstream_provider",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = UpstreamProviderRequest,
    responses(
        (status = 201, description = "Created", body = UpstreamProviderResponse,
            headers(("Location" = String, description = "URL of the new provider"))),
        (status = 400, description = "A field rule, a completeness rule, a URL rule (§9.3), or a discovery document or SAML metadata that fails its checks; `errors[]` names the field and the reason"),
        (status = 409, description = "Another provider of the org has this connection_id (DUPLICATE_CONSTRAINT)"),
    ))]
pub(crate) async fn create_upstream_provider(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<UpstreamProviderRequest>,
) -> Result<Response, ApiError> {
    let draft = body.into_draft()?;
    let p = state.app().upstream.create(&auth.caller, &meta, &slug, draft).await?;
    let path = format!("/api/organizations/{slug}/upstream-providers/{}", p.id());
    Ok(created(&state, &path, UpstreamProviderResponse::from(&p)))
}

/// Update an upstream provider (`provider_type` cannot change).
#[utoipa::path(patch, path = "/api/organizations/{org_slug}/upstream-providers/{id}", tag = "upstream_providers",
    operation_id = "update_upstream_provider",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    request_body = UpstreamProviderRequest,
    responses(
        (status = 200, description = "Updated; an unchanged body writes nothing", body = UpstreamProviderResponse),
        (status = 400, description = "As create, or a changed provider_type"),
        (status = 404, description = "Unknown provider"),
        (status = 409, description = "connection_id taken (DUPLICATE_CONSTRAINT)"),
    ))]
pub(crate) async fn update_upstream_provider(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
    Json(body): Json<UpstreamProviderRequest>,
) -> Result<Response, ApiError> {
    let draft = body.into_draft()?;
    let p = state
        .app()
        .upstream
        .update(&auth.caller, &meta, &slug, &id, draft)
        .await?;
    Ok(ok(UpstreamProviderResponse::from(&p)))
}

/// Delete an upstream provider.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/upstream-providers/{id}", tag = "upstream_providers",
    operation_id = "delete_upstream_provider",
    security(("bearer" = [])),
    params(("org_slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "`{success: true}` (compat)", body = UpstreamDeletedResponse), (status = 404, description = "Unknown provider")))]
pub(crate) async fn delete_upstream_provider(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.app().upstream.delete(&auth.caller, &meta, &slug, &id).await?;
    Ok(ok(UpstreamDeletedResponse { success: true }))
}
