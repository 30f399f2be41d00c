//! Risk (§16): the org's risk settings (one singleton aggregate per org, created with the
//! org), the risk engine that scores a login (§16.3) and the recorded, scored logins (risk
//! events, §16.4).
//!
//! The engine is a set of pure functions of three inputs: the login being assessed
//! ([`LoginFacts`]), the user's recent logins in the org ([`PastLogin`]) and the org's
//! [`RiskPolicy`]. It never reads a clock: every time is a field of its inputs.
//!
//! What the history must hold. [`assess`] looks only at the rows it is given, so the login
//! flow (§19.5) can read a small, bounded set instead of months of logins; for the answer to
//! be the contract's, `history` must contain (rows may repeat, extra rows are harmless):
//! - for `new_device`: one *successful* login of the user in the org with the same device key
//!   in the last [`NEW_DEVICE_WINDOW`], if any exists;
//! - for `impossible_travel`: the user's most recent successful login in the org that has
//!   coordinates, if any;
//! - for `velocity`: the attempts (successful or not) in the last [`VELOCITY_WINDOW`], of the
//!   user or, for an attempt without a user, of the e-mail; at most
//!   `velocity_threshold - 1` of them are needed (only whether the count reaches the threshold
//!   matters), so this read is bounded by the org's own setting.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::access::{Access, Outcome};
use crate::capability::Capability;
use crate::error::{DomainError, FieldError};
use crate::event::{Change, ChangeValue, DomainEvent};
use crate::ids::{OrgId, UserId};

/// How long a device stays known (§16.3 `new_device`).
pub const NEW_DEVICE_WINDOW: Duration = Duration::days(90);
/// How recent the previous located login must be for `impossible_travel` (§16.3).
pub const TRAVEL_WINDOW: Duration = Duration::hours(24);
/// The window of `velocity` (§16.3).
pub const VELOCITY_WINDOW: Duration = Duration::minutes(60);
/// Mean Earth radius of the haversine distance, in km (§16.3).
pub const EARTH_RADIUS_KM: f64 = 6371.0;
/// Distances at or below this never count as travel (km).
pub const TRAVEL_MIN_DISTANCE_KM: f64 = 500.0;
/// Implied speeds at or below this are plausible (km/h).
pub const TRAVEL_MAX_SPEED_KMH: f64 = 900.0;
/// Elapsed times under this count as this (seconds).
pub const TRAVEL_MIN_ELAPSED_SECS: i64 = 60;

/// What the org does with a scored login (§16.1 `enforcement_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnforcementMode {
    LogOnly,
    Monitor,
    Challenge,
    Block,
}

impl EnforcementMode {
    /// Every mode, in wire order.
    pub const ALL: [Self; 4] = [Self::LogOnly, Self::Monitor, Self::Challenge, Self::Block];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LogOnly => "log_only",
            Self::Monitor => "monitor",
            Self::Challenge => "challenge",
            Self::Block => "block",
        }
    }

    /// Parses the wire name (exact).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// The action a score leads to (§16.3 table), stored with the login as `risk_action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RiskAction {
    Allow,
    ChallengeMfa,
    Block,
}

impl RiskAction {
    /// Every action, in wire order.
    pub const ALL: [Self; 3] = [Self::Allow, Self::ChallengeMfa, Self::Block];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::ChallengeMfa => "challenge_mfa",
            Self::Block => "block",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// A factor of §16.3 that added to a login's score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RiskFactor {
    NewDevice,
    ImpossibleTravel,
    Velocity,
}

impl RiskFactor {
    /// Every factor, in the order `risk_factors` lists them.
    pub const ALL: [Self; 3] = [Self::NewDevice, Self::ImpossibleTravel, Self::Velocity];

    /// The wire name (an element of `risk_factors`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NewDevice => "new_device",
            Self::ImpossibleTravel => "impossible_travel",
            Self::Velocity => "velocity",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// The scoring policy of an org: the writable fields of `RiskSettings` (§16.1), each within
/// its range and `low_threshold < medium_threshold` (construct through
/// [`RiskPolicy::DEFAULT`] or [`RiskPolicy::merged`]; stores rebuild stored rows with
/// [`RiskPolicy::check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RiskPolicy {
    pub enforcement_mode: EnforcementMode,
    pub low_threshold: u8,
    pub medium_threshold: u8,
    pub new_device_score: u8,
    pub impossible_travel_score: u8,
    /// Logins per hour, 1–10 000.
    pub velocity_threshold: u16,
    pub velocity_score: u8,
}

/// `PUT …/risk-settings` (partial): each present field as received. Integers are kept wide so
/// a value out of range is reported on its field, not lost in a conversion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RiskSettingsUpdate {
    pub enforcement_mode: Option<String>,
    pub low_threshold: Option<i64>,
    pub medium_threshold: Option<i64>,
    pub new_device_score: Option<i64>,
    pub impossible_travel_score: Option<i64>,
    pub velocity_threshold: Option<i64>,
    pub velocity_score: Option<i64>,
}

fn score_field(errors: &mut Vec<FieldError>, field: &'static str, new: Option<i64>, current: u8) -> u8 {
    match new {
        None => current,
        Some(v) => match u8::try_from(v) {
            Ok(v) if v <= 100 => v,
            _ => {
                errors.push(FieldError::new(field, "must be an integer from 0 to 100"));
                current
            }
        },
    }
}

impl RiskPolicy {
    /// The defaults of §16.1, every new org's settings.
    pub const DEFAULT: Self = Self {
        enforcement_mode: EnforcementMode::LogOnly,
        low_threshold: 30,
        medium_threshold: 70,
        new_device_score: 20,
        impossible_travel_score: 50,
        velocity_threshold: 10,
        velocity_score: 30,
    };

    /// The whole-result rules of §16.1, each failure naming its field: every score and
    /// threshold 0–100, `velocity_threshold` 1–10 000, `low_threshold < medium_threshold`
    /// (reported on `low_threshold`).
    pub fn check(&self) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        for (field, v) in [
            ("low_threshold", self.low_threshold),
            ("medium_threshold", self.medium_threshold),
            ("new_device_score", self.new_device_score),
            ("impossible_travel_score", self.impossible_travel_score),
            ("velocity_score", self.velocity_score),
        ] {
            if v > 100 {
                errors.push(FieldError::new(field, "must be an integer from 0 to 100"));
            }
        }
        if !(1..=10_000).contains(&self.velocity_threshold) {
            errors.push(FieldError::new(
                "velocity_threshold",
                "must be an integer from 1 to 10000",
            ));
        }
        if self.low_threshold >= self.medium_threshold {
            errors.push(FieldError::new("low_threshold", "must be less than medium_threshold"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(errors))
        }
    }

    /// This policy with `update` applied, validated as a whole (§16.2: a new `low_threshold`
    /// is checked against the stored `medium_threshold`). Every failing field is reported;
    /// nothing is half-applied.
    pub fn merged(&self, update: &RiskSettingsUpdate) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let enforcement_mode = match &update.enforcement_mode {
            None => self.enforcement_mode,
            Some(text) => EnforcementMode::parse(text).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    "enforcement_mode",
                    "must be one of log_only, monitor, challenge, block",
                ));
                self.enforcement_mode
            }),
        };
        let low_threshold = score_field(&mut errors, "low_threshold", update.low_threshold, self.low_threshold);
        let medium_threshold = score_field(
            &mut errors,
            "medium_threshold",
            update.medium_threshold,
            self.medium_threshold,
        );
        let new_device_score = score_field(
            &mut errors,
            "new_device_score",
            update.new_device_score,
            self.new_device_score,
        );
        let impossible_travel_score = score_field(
            &mut errors,
            "impossible_travel_score",
            update.impossible_travel_score,
            self.impossible_travel_score,
        );
        let velocity_score = score_field(
            &mut errors,
            "velocity_score",
            update.velocity_score,
            self.velocity_score,
        );
        let velocity_threshold = match update.velocity_threshold {
            None => self.velocity_threshold,
            Some(v) => match u16::try_from(v) {
                Ok(v) if (1..=10_000).contains(&v) => v,
                _ => {
                    errors.push(FieldError::new(
                        "velocity_threshold",
                        "must be an integer from 1 to 10000",
                    ));
                    self.velocity_threshold
                }
            },
        };
        let merged = Self {
            enforcement_mode,
            low_threshold,
            medium_threshold,
            new_device_score,
            impossible_travel_score,
            velocity_threshold,
            velocity_score,
        };
        // The ordering rule only when both thresholds are themselves valid (a bad threshold
        // is reported once, on its own field).
        let thresholds_ok = !errors
            .iter()
            .any(|e| e.field == "low_threshold" || e.field == "medium_threshold");
        if thresholds_ok && merged.low_threshold >= merged.medium_threshold {
            let field = if update.low_threshold.is_some() || update.medium_threshold.is_none() {
                "low_threshold"
            } else {
                "medium_threshold"
            };
            let message = if field == "low_threshold" {
                "must be less than medium_threshold"
            } else {
                "must be greater than low_threshold"
            };
            errors.push(FieldError::new(field, message));
        }
        if errors.is_empty() {
            Ok(merged)
        } else {
            Err(DomainError::Validation(errors))
        }
    }

    /// The `changes` from `self` to `new` (§1.7), in field order; empty when equal.
    pub fn changes_to(&self, new: &Self) -> Vec<Change> {
        let int = |v: u8| ChangeValue::Int(i64::from(v));
        let mode = |m: EnforcementMode| ChangeValue::Text(m.as_str().to_owned());
        [
            Change::of(
                "enforcement_mode",
                mode(self.enforcement_mode),
                mode(new.enforcement_mode),
            ),
            Change::of("low_threshold", int(self.low_threshold), int(new.low_threshold)),
            Change::of(
                "medium_threshold",
                int(self.medium_threshold),
                int(new.medium_threshold),
            ),
            Change::of(
                "new_device_score",
                int(self.new_device_score),
                int(new.new_device_score),
            ),
            Change::of(
                "impossible_travel_score",
                int(self.impossible_travel_score),
                int(new.impossible_travel_score),
            ),
            Change::of(
                "velocity_threshold",
                ChangeValue::Int(i64::from(self.velocity_threshold)),
                ChangeValue::Int(i64::from(new.velocity_threshold)),
            ),
            Change::of("velocity_score", int(self.velocity_score), int(new.velocity_score)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl Default for RiskPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

// ------------------------------------------------------------------------------ settings

/// An org's risk settings as stored (one row per org).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskSettingsRecord {
    pub org_id: OrgId,
    pub policy: RiskPolicy,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for settings not yet stored.
    pub version: u64,
}

/// An org's risk settings (§16.1): a singleton aggregate keyed by its org, created with the
/// org, never a field of the org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskSettings(RiskSettingsRecord);

/// Risk settings facts (§23.1 `risk_settings.updated` / `risk_settings.reset`, §23.2
/// `risk_settings.updated`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RiskSettingsEvent {
    Updated { org_id: OrgId, changes: Vec<Change> },
    Reset { org_id: OrgId, changes: Vec<Change> },
}

impl RiskSettings {
    /// Rebuilds settings from storage.
    pub fn restore(record: RiskSettingsRecord) -> Self {
        Self(record)
    }
    /// The default settings of a new org, to insert with it (version 0).
    pub fn defaults(org_id: OrgId, now: DateTime<Utc>) -> Self {
        Self(RiskSettingsRecord {
            org_id,
            policy: RiskPolicy::DEFAULT,
            updated_at: now,
            version: 0,
        })
    }
    /// The stored state.
    pub fn record(&self) -> &RiskSettingsRecord {
        &self.0
    }
    /// The org.
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    /// The scoring policy.
    pub fn policy(&self) -> &RiskPolicy {
        &self.0.policy
    }
    /// The same settings as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
}

impl Access {
    /// `GET …/risk-settings` and `GET …/risk-events`: `risk_events.view` (which
    /// `risk_policies.manage` implies when capabilities are resolved).
    pub fn read_risk(&self) -> Result<(), DomainError> {
        self.require(Capability::RiskEventsView).map(|_| ())
    }

    /// `PUT …/risk-settings` (partial): `risk_policies.manage`, the active-org gate, then the
    /// merged result validated as a whole. Equal values change nothing: no event (§1.7).
    pub fn update_risk_settings(
        &self,
        settings: &mut RiskSettings,
        update: &RiskSettingsUpdate,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let principal = self.require_mutable(Capability::RiskPoliciesManage)?;
        if settings.org_id() != self.org_id() {
            return Err(DomainError::NotFound);
        }
        let merged = settings.0.policy.merged(update)?;
        let changes = settings.0.policy.changes_to(&merged);
        let events = if changes.is_empty() {
            Vec::new()
        } else {
            settings.0.policy = merged;
            settings.0.updated_at = now;
            vec![DomainEvent::RiskSettings(RiskSettingsEvent::Updated {
                org_id: self.org_id(),
                changes,
            })]
        };
        Ok(Outcome { principal, events })
    }

    /// `POST …/risk-settings/reset`: `risk_policies.manage`, the gate, then the defaults.
    /// Settings already at the defaults change nothing: no event (§1.7).
    pub fn reset_risk_settings(&self, settings: &mut RiskSettings, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        let principal = self.require_mutable(Capability::RiskPoliciesManage)?;
        if settings.org_id() != self.org_id() {
            return Err(DomainError::NotFound);
        }
        let changes = settings.0.policy.changes_to(&RiskPolicy::DEFAULT);
        let events = if changes.is_empty() {
            Vec::new()
        } else {
            settings.0.policy = RiskPolicy::DEFAULT;
            settings.0.updated_at = now;
            vec![DomainEvent::RiskSettings(RiskSettingsEvent::Reset {
                org_id: self.org_id(),
                changes,
            })]
        };
        Ok(Outcome { principal, events })
    }
}

// ------------------------------------------------------------------------------ the engine

/// The device key of a login (§16.3): the body's `device_id`, else a digest of its
/// `user_agent` (SHA-256, computed by the caller: the domain does no hashing), else none.
/// The two sources never collide (`id:` / `ua:` prefixes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey(String);

impl DeviceKey {
    /// The key of a login: `device_id` when given (non-empty), else `digest(user_agent)` when a
    /// user agent is given (non-empty), else `None` (`new_device` then does not apply).
    pub fn of(device_id: Option<&str>, user_agent: Option<&str>, digest: impl FnOnce(&str) -> String) -> Option<Self> {
        match (
            device_id.filter(|d| !d.is_empty()),
            user_agent.filter(|u| !u.is_empty()),
        ) {
            (Some(id), _) => Some(Self(format!("id:{id}"))),
            (None, Some(ua)) => Some(Self(format!("ua:{}", digest(ua)))),
            (None, None) => None,
        }
    }
    /// Rebuilds a stored key.
    pub fn restore(stored: String) -> Self {
        Self(stored)
    }
    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A point on Earth in degrees (`lat` −90..90, `long` −180..180).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoPoint {
    pub lat: f64,
    pub long: f64,
}

impl GeoPoint {
    /// A point, if both coordinates are finite and in range.
    pub fn new(lat: f64, long: f64) -> Option<Self> {
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&long)).then_some(Self { lat, long })
    }
}

/// The great-circle distance between two points in km: haversine with R = 6371 km.
pub fn haversine_km(a: GeoPoint, b: GeoPoint) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = (b.lat - a.lat).to_radians();
    let dlong = (b.long - a.long).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlong / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The login being assessed.
#[derive(Clone, Debug, PartialEq)]
pub struct LoginFacts {
    /// When it happened (the time the login flow records it at).
    pub at: DateTime<Utc>,
    /// Whether the attempt names a known user. Attempts without a user are scored on
    /// `velocity` only (counted by e-mail, §16.3).
    pub has_user: bool,
    pub device_key: Option<DeviceKey>,
    /// Coordinates, when the body's `geo` has both `lat` and `long`.
    pub geo: Option<GeoPoint>,
}

/// One earlier login of the same user (or e-mail) in the same org, as the history holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct PastLogin {
    pub at: DateTime<Utc>,
    /// Whether that attempt succeeded (only successful logins make a device known or place
    /// the user somewhere; every attempt counts for velocity).
    pub success: bool,
    pub device_key: Option<DeviceKey>,
    pub geo: Option<GeoPoint>,
}

/// The result of scoring one login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskAssessment {
    /// min(100, sum of the scores of `factors`).
    pub score: u8,
    /// The factors that applied, in [`RiskFactor::ALL`] order.
    pub factors: Vec<RiskFactor>,
    /// What the org's thresholds and mode make of `score` (§16.3 table).
    pub action: RiskAction,
    /// Whether webhook `risk.event.flagged` is due: mode other than `log_only` and score ≥
    /// `low_threshold`.
    pub flagged: bool,
}

/// Rows of `history` not after `login` (the login itself must not be part of its own
/// history; a row at the same instant counts as earlier).
fn earlier<'a>(login: &'a LoginFacts, history: &'a [PastLogin]) -> impl Iterator<Item = &'a PastLogin> + 'a {
    history.iter().filter(move |p| p.at <= login.at)
}

/// `new_device`: the login has a device key and no successful login in the last 90 days
/// carried the same key. A login without a user or without a key never triggers it.
pub fn new_device(login: &LoginFacts, history: &[PastLogin]) -> bool {
    let Some(key) = login.device_key.as_ref().filter(|_| login.has_user) else {
        return false;
    };
    let since = login.at - NEW_DEVICE_WINDOW;
    !earlier(login, history).any(|p| p.success && p.at >= since && p.device_key.as_ref() == Some(key))
}

/// `impossible_travel`: the login has coordinates; the previous located successful login is
/// within 24 h; the haversine distance exceeds 500 km and the implied speed exceeds
/// 900 km/h, an elapsed time under 60 s counting as 60 s.
pub fn impossible_travel(login: &LoginFacts, history: &[PastLogin]) -> bool {
    let Some(here) = login.geo.filter(|_| login.has_user) else {
        return false;
    };
    let previous = earlier(login, history)
        .filter(|p| p.success && p.geo.is_some())
        .max_by_key(|p| p.at);
    let Some((prev, there)) = previous.and_then(|p| p.geo.map(|g| (p, g))) else {
        return false;
    };
    let elapsed = login.at - prev.at;
    if elapsed > TRAVEL_WINDOW {
        return false;
    }
    let distance = haversine_km(there, here);
    let secs = elapsed.num_seconds().max(TRAVEL_MIN_ELAPSED_SECS);
    #[allow(clippy::cast_precision_loss)] // at most 86 400 s: exact in f64
    let hours = secs as f64 / 3600.0;
    distance > TRAVEL_MIN_DISTANCE_KM && distance / hours > TRAVEL_MAX_SPEED_KMH
}

/// `velocity`: the attempts in the last 60 minutes, this one included, reach `threshold`.
pub fn velocity(login: &LoginFacts, history: &[PastLogin], threshold: u16) -> bool {
    let since = login.at - VELOCITY_WINDOW;
    let before = earlier(login, history).filter(|p| p.at > since).count();
    before.saturating_add(1) >= usize::from(threshold)
}

/// `risk_score` = min(100, sum of the factors' scores).
pub fn score(factors: &[RiskFactor], policy: &RiskPolicy) -> u8 {
    let sum: u32 = factors
        .iter()
        .map(|f| {
            u32::from(match f {
                RiskFactor::NewDevice => policy.new_device_score,
                RiskFactor::ImpossibleTravel => policy.impossible_travel_score,
                RiskFactor::Velocity => policy.velocity_score,
            })
        })
        .sum();
    u8::try_from(sum.min(100)).unwrap_or(100)
}

/// The action table of §16.3.
pub fn action(score: u8, policy: &RiskPolicy) -> RiskAction {
    let band_low = score >= policy.low_threshold;
    let band_medium = score >= policy.medium_threshold;
    match policy.enforcement_mode {
        EnforcementMode::LogOnly | EnforcementMode::Monitor => RiskAction::Allow,
        EnforcementMode::Challenge if band_low => RiskAction::ChallengeMfa,
        EnforcementMode::Block if band_medium => RiskAction::Block,
        EnforcementMode::Block if band_low => RiskAction::ChallengeMfa,
        EnforcementMode::Challenge | EnforcementMode::Block => RiskAction::Allow,
    }
}

/// Whether a login with `score` emits `risk.event.flagged` (§16.3): every mode but `log_only`,
/// for scores ≥ `low_threshold`.
pub fn flagged(score: u8, policy: &RiskPolicy) -> bool {
    policy.enforcement_mode != EnforcementMode::LogOnly && score >= policy.low_threshold
}

/// Scores one login (§16.3): the factors that apply, the capped score, the action and whether
/// it is flagged.
pub fn assess(login: &LoginFacts, history: &[PastLogin], policy: &RiskPolicy) -> RiskAssessment {
    let mut factors = Vec::new();
    if new_device(login, history) {
        factors.push(RiskFactor::NewDevice);
    }
    if impossible_travel(login, history) {
        factors.push(RiskFactor::ImpossibleTravel);
    }
    if velocity(login, history, policy.velocity_threshold) {
        factors.push(RiskFactor::Velocity);
    }
    let score = score(&factors, policy);
    RiskAssessment {
        score,
        factors,
        action: action(score, policy),
        flagged: flagged(score, policy),
    }
}

// ------------------------------------------------------------------------------ risk events

/// The id of a recorded login (a risk event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RiskEventId(Uuid);

impl RiskEventId {
    /// Wraps an existing UUID.
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    /// The underlying UUID.
    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
    /// Parses the hyphenated text form.
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::try_parse(text).ok().map(Self)
    }
}

impl std::fmt::Display for RiskEventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// One scored login of an org as recorded (§16.4 `RiskEvent`, the login record of §19.5):
/// what the listing shows plus what later scoring reads (`success`, `device_key`).
#[derive(Clone, Debug, PartialEq)]
pub struct RiskEvent {
    pub id: RiskEventId,
    pub org_id: OrgId,
    /// `None` for a failed attempt with an unknown e-mail.
    pub user_id: Option<UserId>,
    pub user_email: String,
    /// The service logged in to, if any (§19).
    pub service_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub success: bool,
    pub risk_score: u8,
    pub risk_factors: Vec<RiskFactor>,
    pub risk_action: RiskAction,
    pub geo_country: Option<String>,
    pub geo_city: Option<String>,
    pub geo_lat: Option<f64>,
    pub geo_long: Option<f64>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub device_key: Option<DeviceKey>,
    pub provider: String,
    pub failure_reason: Option<String>,
}

impl RiskEvent {
    /// This event as a row of a later login's history.
    pub fn as_past_login(&self) -> PastLogin {
        PastLogin {
            at: self.created_at,
            success: self.success,
            device_key: self.device_key.clone(),
            geo: self
                .geo_lat
                .zip(self.geo_long)
                .and_then(|(lat, long)| GeoPoint::new(lat, long)),
        }
    }
}
