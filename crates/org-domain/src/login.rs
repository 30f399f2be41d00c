//! Login reports (§19.5): the reported facts, checked field by field; the identities a
//! service login issues through an org (which make the user an end user of the org, §19);
//! the monthly-active-user cap (§22.3); and the events a login emits.
//!
//! Owner: the login flow (`org-app/src/logins.rs`). Scoring is [`crate::risk`]'s.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use crate::error::{DomainError, FieldError};
use crate::ids::{OrgId, ServiceId, SessionId, UserId};
use crate::risk::{GeoPoint, RiskAction, RiskEventId, RiskFactor};
use crate::values::Email;

/// The trailing window of the monthly-active-user count (§22.3).
pub const MAU_WINDOW: Duration = Duration::days(30);

/// `failure_reason` of an attempt refused by the MAU cap (§19.5 step 4).
pub const MAU_FAILURE_REASON: &str = "mau_limit";

/// `geo` as received.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawGeo {
    pub country: Option<String>,
    pub city: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
}

/// The body of `POST /api/platform/logins` as received (types already checked).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawLoginReport {
    pub email: String,
    pub name: Option<String>,
    pub org_slug: Option<String>,
    pub service_slug: Option<String>,
    pub provider: String,
    pub provider_user_id: Option<String>,
    pub success: Option<bool>,
    pub failure_reason: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub device_id: Option<String>,
    pub geo: Option<RawGeo>,
    pub mfa_verified: Option<bool>,
    pub issue_session: Option<bool>,
}

/// A login report whose every field meets §19.5.
#[derive(Clone, Debug, PartialEq)]
pub struct LoginReport {
    pub email: Email,
    pub name: Option<String>,
    pub org_slug: Option<String>,
    pub service_slug: Option<String>,
    pub provider: String,
    pub provider_user_id: Option<String>,
    pub success: bool,
    pub failure_reason: Option<String>,
    /// The IP literal in its canonical form.
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub device_id: Option<String>,
    pub geo_country: Option<String>,
    pub geo_city: Option<String>,
    pub geo_lat: Option<f64>,
    pub geo_long: Option<f64>,
    pub mfa_verified: bool,
    pub issue_session: bool,
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn at_most(errors: &mut Vec<FieldError>, field: &str, value: &Option<String>, max: usize) {
    if value.as_deref().is_some_and(|v| chars(v) > max) {
        errors.push(FieldError::new(field, format!("must be at most {max} characters")));
    }
}

/// Whether `provider` is 1–200 of `[A-Za-z0-9:_.-]`.
pub fn provider_ok(provider: &str) -> bool {
    (1..=200).contains(&provider.len())
        && provider
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'-'))
}

impl LoginReport {
    /// Checks every field of §19.5, each failure naming its field (`geo.lat` …).
    pub fn check(raw: RawLoginReport) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let email = match Email::parse(&raw.email) {
            Ok(e) => Some(e),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let name = raw.name.map(|n| n.trim().to_owned());
        at_most(&mut errors, "name", &name, 100);
        if name.as_deref().is_some_and(|n| n.chars().any(char::is_control)) {
            errors.push(FieldError::new("name", "must not contain control characters"));
        }
        if raw.service_slug.is_some() && raw.org_slug.is_none() {
            errors.push(FieldError::new("service_slug", "requires org_slug"));
        }
        if !provider_ok(&raw.provider) {
            errors.push(FieldError::new(
                "provider",
                "must be 1-200 characters of [A-Za-z0-9:_.-]",
            ));
        }
        at_most(&mut errors, "provider_user_id", &raw.provider_user_id, 256);
        at_most(&mut errors, "failure_reason", &raw.failure_reason, 200);
        at_most(&mut errors, "user_agent", &raw.user_agent, 1024);
        at_most(&mut errors, "device_id", &raw.device_id, 256);
        let ip_address = match raw.ip_address.as_deref() {
            None => None,
            Some(text) => match text.parse::<IpAddr>() {
                Ok(ip) => Some(ip.to_string()),
                Err(_) => {
                    errors.push(FieldError::new("ip_address", "must be an IPv4 or IPv6 literal"));
                    None
                }
            },
        };
        let geo = raw.geo.unwrap_or_default();
        let country = geo.country.map(|c| c.to_ascii_uppercase());
        if country
            .as_deref()
            .is_some_and(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            errors.push(FieldError::new("geo.country", "must be an ISO 3166-1 alpha-2 code"));
        }
        at_most(&mut errors, "geo.city", &geo.city, 100);
        if geo.lat.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
            errors.push(FieldError::new("geo.lat", "must be from -90 to 90"));
        }
        if geo.long.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
            errors.push(FieldError::new("geo.long", "must be from -180 to 180"));
        }
        let Some(email) = email.filter(|_| errors.is_empty()) else {
            return Err(DomainError::Validation(errors));
        };
        Ok(Self {
            email,
            name: name.filter(|n| !n.is_empty()),
            org_slug: raw.org_slug,
            service_slug: raw.service_slug,
            provider: raw.provider,
            provider_user_id: raw.provider_user_id,
            success: raw.success.unwrap_or(true),
            failure_reason: raw.failure_reason,
            ip_address,
            user_agent: raw.user_agent,
            device_id: raw.device_id,
            geo_country: country,
            geo_city: geo.city,
            geo_lat: geo.lat,
            geo_long: geo.long,
            mfa_verified: raw.mfa_verified.unwrap_or(false),
            issue_session: raw.issue_session.unwrap_or(true),
        })
    }

    /// The coordinates, when both are given.
    pub fn point(&self) -> Option<GeoPoint> {
        self.geo_lat
            .zip(self.geo_long)
            .and_then(|(lat, long)| GeoPoint::new(lat, long))
    }
}

/// The decision of a login (§19.5 step 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginDecision {
    Allow,
    ChallengeMfa,
    Block,
    Failed,
}

impl LoginDecision {
    /// Step 6: `failed` when not successful; else the risk action, where `challenge_mfa` with
    /// a verified MFA becomes `allow`.
    pub fn of(success: bool, action: RiskAction, mfa_verified: bool) -> Self {
        match (success, action) {
            (false, _) => Self::Failed,
            (true, RiskAction::Allow) => Self::Allow,
            (true, RiskAction::ChallengeMfa) if mfa_verified => Self::Allow,
            (true, RiskAction::ChallengeMfa) => Self::ChallengeMfa,
            (true, RiskAction::Block) => Self::Block,
        }
    }

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::ChallengeMfa => "challenge_mfa",
            Self::Block => "block",
            Self::Failed => "failed",
        }
    }
}

/// An identity issued through an org (§19.5 step 4): `(provider, provider_key)` is unique in
/// the org; `provider_key` is `provider_user_id`, else the user id. Insert-only: a second
/// login with the same identity keeps the first row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginIdentity {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub provider: String,
    pub provider_key: String,
    pub service_id: Option<ServiceId>,
    pub created_at: DateTime<Utc>,
}

/// A successful service login of an end user (§19.5): the store keeps, per (org, user), when
/// the user became an end user (first such login, kept) and the latest one (the MAU count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndUserLogin {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub service_id: Option<ServiceId>,
    pub at: DateTime<Utc>,
}

/// The MAU cap a commit's end-user logins must fit under (§22.3): a login of a user whose
/// latest login is older than `since` (or who has none) fails with `Conflict(MauCap)` when
/// `cap` users of the org already logged in since `since`, decided under the org's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MauCap {
    pub org_id: OrgId,
    pub cap: u64,
    pub since: DateTime<Utc>,
}

/// The events of a reported login (webhooks only; logins are kept in the login record, not
/// the audit log, §19.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginEvent {
    /// `user.login.success` (decision `allow`).
    Succeeded {
        user_id: UserId,
        service_id: Option<ServiceId>,
        provider: String,
        session_id: Option<SessionId>,
    },
    /// `user.login.failed` (decision `failed` or `block`).
    Failed {
        user_id: Option<UserId>,
        email: Email,
        service_id: Option<ServiceId>,
        provider: String,
        failure_reason: Option<String>,
        risk_action: Option<RiskAction>,
    },
    /// `user.signup.success` (a user created by the login).
    SignedUp {
        user_id: UserId,
        email: Email,
        service_id: Option<ServiceId>,
    },
    /// `risk.event.flagged` (§16.3).
    Flagged {
        login_event_id: RiskEventId,
        user_id: Option<UserId>,
        user_email: String,
        service_id: Option<ServiceId>,
        risk_score: u8,
        risk_factors: Vec<RiskFactor>,
        risk_action: RiskAction,
        ip_address: Option<String>,
    },
    /// `end_user.sessions_revoked` (§19.4; audited).
    SessionsRevoked { user_id: UserId, revoked_count: u64 },
}
