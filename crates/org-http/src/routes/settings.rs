//! §14 custom domain (set, get, verify, delete) and §15 branding (update, get, public).

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use org_domain::branding::BrandingUpdate;
use org_domain::custom_domain::CustomDomain;

use super::ok;
use crate::auth::Auth;
use crate::dto::{
    BrandingResponse, DomainConfigurationResponse, DomainSetupResponse, SetDomainRequest, UpdateBrandingRequest,
    VerificationMethodDto, VerifyDomainResponse,
};
use crate::error::{ApiError, timestamp};
use crate::extract::{Json, Meta, Path};
use crate::ratelimit::Scope;
use crate::state::HttpState;

/// Update the branding (absent = unchanged, `null` = cleared).
#[utoipa::path(patch, path = "/api/organizations/{org_slug}/branding", tag = "settings", operation_id = "update_branding",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = UpdateBrandingRequest,
    responses(
        (status = 200, description = "The resulting branding", body = BrandingResponse),
        (status = 400, description = "A field breaks its rule (VALIDATION_FAILED naming it)"),
        (status = 403, description = "Missing org.settings.manage (FORBIDDEN), or the tier lacks Custom Branding (FEATURE_NOT_AVAILABLE_IN_TIER)"),
    ))]
pub(crate) async fn update_branding(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<UpdateBrandingRequest>,
) -> Result<Response, ApiError> {
    let update = BrandingUpdate {
        logo_url: body.logo_url,
        primary_color: body.primary_color,
    };
    let b = state
        .app()
        .settings
        .update_branding(&auth.caller, &meta, &slug, update)
        .await?;
    Ok(ok(BrandingResponse::from(&b)))
}

/// The branding; any member.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/branding", tag = "settings", operation_id = "get_branding",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "The branding (`null` members when unset)", body = BrandingResponse)))]
pub(crate) async fn get_branding(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let b = state.app().settings.branding(&auth.caller, &meta, &slug).await?;
    Ok(ok(BrandingResponse::from(&b)))
}

/// The branding of an active org, for login pages; public and cacheable.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/branding/public", tag = "settings",
    operation_id = "get_public_branding",
    params(("org_slug" = String, Path)),
    responses(
        (status = 200, description = "The branding", body = BrandingResponse,
            headers(("Cache-Control" = String, description = "public, max-age=300"))),
        (status = 404, description = "Unknown or non-active organization (NOT_FOUND)"),
    ))]
pub(crate) async fn get_public_branding(
    State(state): State<HttpState>,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let b = state.app().settings.public_branding(&slug).await?;
    let mut res = ok(BrandingResponse::from(&b));
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(res)
}

fn methods(state: &HttpState, claim: &CustomDomain) -> Vec<VerificationMethodDto> {
    let domain = claim.domain();
    let token = claim.token().to_owned();
    let url = state.app().settings.verifier().http_url(domain);
    vec![
        VerificationMethodDto {
            method: "DNS".into(),
            instructions: format!(
                "Add a TXT record at {} whose value is the verification token",
                domain.txt_record_name()
            ),
            record_type: Some("TXT".into()),
            record_name: Some(domain.txt_record_name()),
            record_value: Some(token.clone()),
            url: None,
        },
        VerificationMethodDto {
            method: "HTTP".into(),
            instructions: format!("Serve the verification token as the body of {url}"),
            record_type: None,
            record_name: None,
            record_value: Some(token),
            url: Some(url),
        },
    ]
}

/// Set the custom domain; re-setting the current one returns its token unchanged.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/domain", tag = "settings", operation_id = "set_custom_domain",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    request_body = SetDomainRequest,
    responses(
        (status = 200, description = "The token and how to prove the domain", body = DomainSetupResponse),
        (status = 400, description = "Not a valid domain (VALIDATION_FAILED, field `domain`)"),
        (status = 403, description = "Missing org.settings.manage (FORBIDDEN), or the tier lacks Custom Domain (FEATURE_NOT_AVAILABLE_IN_TIER)"),
        (status = 409, description = "Another organization has it verified (DUPLICATE_CONSTRAINT)"),
    ))]
pub(crate) async fn set_custom_domain(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
    Json(body): Json<SetDomainRequest>,
) -> Result<Response, ApiError> {
    let claim = state
        .app()
        .settings
        .set_domain(&auth.caller, &meta, &slug, &body.domain)
        .await?;
    Ok(ok(DomainSetupResponse {
        verification_token: claim.token().to_owned(),
        verification_methods: methods(&state, &claim),
    }))
}

/// The domain configuration; any member.
#[utoipa::path(get, path = "/api/organizations/{org_slug}/domain", tag = "settings",
    operation_id = "get_domain_configuration",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 200, description = "The domain, whether it is verified, and when", body = DomainConfigurationResponse)))]
pub(crate) async fn get_domain_configuration(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let claim = state.app().settings.domain(&auth.caller, &meta, &slug).await?;
    Ok(ok(DomainConfigurationResponse {
        custom_domain: claim.as_ref().map(|c| c.domain().as_str().to_owned()),
        domain_verified: claim.as_ref().is_some_and(CustomDomain::is_verified),
        verified_at: claim.as_ref().and_then(CustomDomain::verified_at).map(timestamp),
    }))
}

/// Verify the domain: DNS TXT first, then the HTTP file. Rate limited per org.
#[utoipa::path(post, path = "/api/organizations/{org_slug}/domain/verify", tag = "settings",
    operation_id = "verify_custom_domain",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses(
        (status = 200, description = "`verified: true` with the method, or `false` with what was found", body = VerifyDomainResponse),
        (status = 400, description = "No domain is set (BAD_REQUEST)"),
    ))]
pub(crate) async fn verify_custom_domain(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let per_minute = state.config().rate_limits.outbound_per_org;
    let key = format!("org:{slug}");
    state
        .limiter()
        .check(Scope::Outbound, &key, per_minute)
        .map_err(|retry| {
            metrics::counter!("rate_limited_total", "scope" => Scope::Outbound.as_str()).increment(1);
            ApiError::rate_limited(retry)
        })?;
    let v = state.app().settings.verify_domain(&auth.caller, &meta, &slug).await?;
    Ok(ok(VerifyDomainResponse {
        verified: v.verified,
        message: v.message,
        method: v.method.map(|m| m.as_str().to_owned()),
    }))
}

/// Delete the custom domain; a no-op when none is set.
#[utoipa::path(delete, path = "/api/organizations/{org_slug}/domain", tag = "settings",
    operation_id = "delete_custom_domain",
    security(("bearer" = [])),
    params(("org_slug" = String, Path)),
    responses((status = 204, description = "Deleted, or there was none")))]
pub(crate) async fn delete_custom_domain(
    State(state): State<HttpState>,
    auth: Auth,
    Meta(meta): Meta,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    state.app().settings.delete_domain(&auth.caller, &meta, &slug).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
