//! §19.5: `POST /api/platform/logins` — the login front-end reports a login and obtains a
//! session. Credential: a login key (`Bearer lk_…`) or a platform owner's access token.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use org_app::logins::{LoginOutcome, LoginReporter};
use org_domain::login::{RawGeo, RawLoginReport};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{no_store, ok};
use crate::auth::Auth;
use crate::dto::UserDto;
use crate::error::ApiError;
use crate::extract::{Json, Meta};
use crate::login_key::LoginKeyAuth;
use crate::state::HttpState;

/// The reporter of a login: a login key, else a bearer (a platform owner's, or 403).
pub(crate) struct Reporter(LoginReporter);

impl FromRequestParts<HttpState> for Reporter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Self::Rejection> {
        if LoginKeyAuth::is_login_key(parts) {
            let key = LoginKeyAuth::from_request_parts(parts, state).await?;
            return Ok(Self(LoginReporter::Key(key.key)));
        }
        let auth = Auth::from_request_parts(parts, state).await?;
        Ok(Self(LoginReporter::Owner(Box::new(auth.caller))))
    }
}

/// `geo` of a login report.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginGeo {
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    pub country: Option<String>,
    /// ≤ 100.
    #[serde(default)]
    pub city: Option<String>,
    /// −90..90.
    #[serde(default)]
    pub lat: Option<f64>,
    /// −180..180.
    #[serde(default)]
    pub long: Option<f64>,
}

/// A login report (§19.5).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginReportRequest {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub org_slug: Option<String>,
    /// Requires `org_slug`.
    #[serde(default)]
    pub service_slug: Option<String>,
    /// 1–200 of `[A-Za-z0-9:_.-]`.
    pub provider: String,
    #[serde(default)]
    pub provider_user_id: Option<String>,
    /// Default `true`.
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// IPv4 or IPv6 literal.
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub device_id: Option<String>,
    #[serde(default)]
    pub geo: Option<LoginGeo>,
    /// Default `false`.
    #[serde(default)]
    pub mfa_verified: Option<bool>,
    /// Default `true`.
    #[serde(default)]
    pub issue_session: Option<bool>,
}

/// `risk` of a login response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LoginRisk {
    pub score: u8,
    pub factors: Vec<String>,
    /// `allow`, `challenge_mfa` or `block`.
    pub action: String,
}

/// `session` of a login response (shown once).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LoginSession {
    pub session_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

/// The answer of a login report.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: Option<UserDto>,
    /// `allow`, `challenge_mfa`, `block` or `failed`.
    pub decision: String,
    pub risk: Option<LoginRisk>,
    pub session: Option<LoginSession>,
}

fn response(o: &LoginOutcome, expires_in: i64) -> LoginResponse {
    LoginResponse {
        user: o.user.as_ref().map(UserDto::from),
        decision: o.decision.as_str().to_owned(),
        risk: o.risk.as_ref().map(|r| LoginRisk {
            score: r.score,
            factors: r.factors.iter().map(|f| f.as_str().to_owned()).collect(),
            action: r.action.as_str().to_owned(),
        }),
        session: o.session.as_ref().map(|s| LoginSession {
            session_id: s.session.id.to_string(),
            access_token: s.access_token.clone(),
            refresh_token: s.refresh_token.clone(),
            expires_in,
        }),
    }
}

/// Reports a login and, when the decision is `allow`, opens a session.
#[utoipa::path(post, path = "/api/platform/logins", tag = "platform", operation_id = "report_login",
    security(("bearer" = [])),
    request_body = LoginReportRequest,
    responses(
        (status = 200, description = "The decision (Cache-Control: no-store)", body = LoginResponse),
        (status = 400, description = "A field constraint, or the monthly-active-user cap (SERVICE_LIMIT_EXCEEDED)"),
        (status = 401, description = "Unknown or revoked login key"),
        (status = 403, description = "Not a platform owner; disabled service or user; not a member; org not active"),
        (status = 404, description = "Unknown org or service"),
    ))]
pub(crate) async fn report_login(
    State(state): State<HttpState>,
    Reporter(reporter): Reporter,
    Meta(meta): Meta,
    Json(body): Json<LoginReportRequest>,
) -> Result<Response, ApiError> {
    let raw = RawLoginReport {
        email: body.email,
        name: body.name,
        org_slug: body.org_slug,
        service_slug: body.service_slug,
        provider: body.provider,
        provider_user_id: body.provider_user_id,
        success: body.success,
        failure_reason: body.failure_reason,
        ip_address: body.ip_address,
        user_agent: body.user_agent,
        device_id: body.device_id,
        geo: body.geo.map(|g| RawGeo {
            country: g.country,
            city: g.city,
            lat: g.lat,
            long: g.long,
        }),
        mfa_verified: body.mfa_verified,
        issue_session: body.issue_session,
    };
    let app = state.app();
    let outcome = app.logins.report(&reporter, &meta, raw).await?;
    Ok(no_store(ok(response(&outcome, app.sessions.expires_in()))))
}
