//! The login-key credential of `POST /api/platform/logins` (§19.5): `Authorization: Bearer
//! lk_…`, checked by [`org_app::LoginKeyAdmin::authenticate`]. A login key grants nothing
//! else: only a handler that names [`LoginKeyAuth`] accepts one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use org_app::LoginKeyCaller;

use crate::auth::bearer;
use crate::error::ApiError;
use crate::ratelimit::Scope;
use crate::state::HttpState;

/// An authenticated login key (unknown or revoked → 401 `UNAUTHORIZED`).
#[derive(Clone, Debug)]
pub struct LoginKeyAuth {
    pub key: LoginKeyCaller,
}

impl LoginKeyAuth {
    /// Whether a bearer looks like a login key (so a route taking either a login key or a
    /// platform owner's access token knows which to check).
    pub fn is_login_key(parts: &Parts) -> bool {
        bearer(parts).is_some_and(|b| b.starts_with(org_domain::login_key::LOGIN_KEY_PREFIX))
    }
}

impl FromRequestParts<HttpState> for LoginKeyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Self::Rejection> {
        let Some(raw) = bearer(parts) else {
            return Err(ApiError::no_credential());
        };
        let key = state.app().login_keys.authenticate(raw).await?;
        // The rate-limit key is the login key's id (§21.5).
        state
            .limiter()
            .check(
                Scope::Login,
                &key.id.to_string(),
                state.config().rate_limits.logins_per_key,
            )
            .map_err(|retry| {
                metrics::counter!("rate_limited_total", "scope" => Scope::Login.as_str()).increment(1);
                ApiError::rate_limited(retry)
            })?;
        Ok(Self { key })
    }
}
