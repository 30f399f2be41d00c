//! The SCIM bearer (§10.2): a `scim_` token, never a session's access token. It names its org;
//! an `X-Organization-ID` naming another org is refused, and each token has its own bucket.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use org_app::RequestMeta;
use org_app::directory::DirectoryCaller;
use org_app::scim::ScimError;

use super::error::ScimFailure;
use crate::auth::bearer;
use crate::extract::request_meta;
use crate::ratelimit::Scope;
use crate::state::HttpState;

/// An authenticated directory request, with the request facts its audit entries record.
#[derive(Debug)]
pub struct Directory(pub DirectoryCaller, pub RequestMeta);

impl FromRequestParts<HttpState> for Directory {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Self::Rejection> {
        let Some(raw) = bearer(parts) else {
            metrics::counter!("auth_failures_total", "error_code" => "SCIM_UNAUTHORIZED").increment(1);
            return Err(ScimError::unauthorized("Authentication required: Authorization: Bearer scim_…").into());
        };
        let caller = state.app().directory.authenticate(raw).await.inspect_err(|e| {
            if matches!(e, org_app::AppError::Unauthorized(_)) {
                metrics::counter!("auth_failures_total", "error_code" => "SCIM_UNAUTHORIZED").increment(1);
            }
        })?;
        let org_id = caller.org().id().to_string();
        if let Some(named) = parts.headers.get("x-organization-id") {
            let named = named.to_str().unwrap_or_default().trim();
            if !named.eq_ignore_ascii_case(&org_id) {
                return Err(
                    ScimError::forbidden("X-Organization-ID names another organization than the token's").into(),
                );
            }
        }
        let token_id = caller.token().id().to_string();
        state
            .limiter()
            .check(Scope::Scim, &token_id, state.config().rate_limits.scim_per_token)
            .map_err(|retry| {
                metrics::counter!("rate_limited_total", "scope" => Scope::Scim.as_str()).increment(1);
                ScimFailure {
                    error: ScimError::too_many_requests("Rate limit exceeded; retry later"),
                    retry_after: Some(retry.max(1)),
                    cause: None,
                }
            })?;
        Ok(Directory(caller, request_meta(parts)))
    }
}
