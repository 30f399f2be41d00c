//! SIEM streaming configs (§17): an org's audit-log streams to external systems, each its own
//! aggregate (row and version), with the field rules, the tier gate and the streaming rules
//! (batching, cursor, backoff) the worker follows. Secrets (`api_key`, `auth_header`) are
//! write-only: opaque strings here that adapters seal at rest, never in `Debug` or events.

use chrono::{DateTime, Duration, Utc};

use crate::access::{Access, Outcome, Principal};
use crate::capability::Capability;
use crate::error::{DomainError, FieldError};
use crate::event::{Change, ChangeValue, DomainEvent};
use crate::ids::{OrgId, SiemConfigId};
use crate::tier::{Feature, Features};

/// The receiver kind of a config (§17): its body format and auth header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SiemProvider {
    Datadog,
    Splunk,
    Elastic,
    Custom,
}

impl SiemProvider {
    /// Every provider, in wire order.
    pub const ALL: [Self; 4] = [Self::Datadog, Self::Splunk, Self::Elastic, Self::Custom];

    /// The wire name (`provider_type`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Datadog => "Datadog",
            Self::Splunk => "Splunk",
            Self::Elastic => "Elastic",
            Self::Custom => "Custom",
        }
    }

    /// Parses the wire name, case-sensitive.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Whether the provider needs an `api_key` (all but `Custom`).
    pub const fn needs_api_key(self) -> bool {
        !matches!(self, Self::Custom)
    }
}

/// Default `batch_size` (§17).
pub const DEFAULT_BATCH_SIZE: u32 = 100;
/// Largest `batch_size`.
pub const MAX_BATCH_SIZE: u32 = 1000;
/// A partial batch is sent this long after its oldest entry (§17).
pub const BATCH_WAIT: Duration = Duration::seconds(10);
/// First retry delay after a failed batch; doubles per failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::seconds(30);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::hours(1);

/// The delay before the next attempt after `failures` consecutive failed batches (≥ 1):
/// 30 s, 60 s, 120 s … capped at 1 h.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let secs = FIRST_BACKOFF.num_seconds().saturating_mul(1_i64 << doublings);
    Duration::seconds(secs).min(MAX_BACKOFF)
}

/// Whether a pending batch of `pending` entries (at least one), the oldest created at
/// `oldest`, goes out at `now`: when full, or [`BATCH_WAIT`] after its oldest entry.
pub fn batch_ready(pending: usize, batch_size: u32, oldest: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    pending >= batch_size as usize || now - oldest >= BATCH_WAIT
}

/// Where a config's stream stands: its cursor and the failure state of its current batch.
/// Written by the streaming worker only, never by config writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiemProgress {
    /// The last `seq` the receiver accepted; `None` until the stream is anchored just before
    /// the config's own `siem_config.created` entry.
    pub cursor: Option<u64>,
    pub failure_count: u32,
    pub last_error: Option<String>,
    pub last_successful_batch_at: Option<DateTime<Utc>>,
    /// No attempt before this time (backoff after a failure).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl SiemProgress {
    /// The receiver accepted the batch ending at `last_seq`.
    pub fn accepted(&self, last_seq: u64, now: DateTime<Utc>) -> Self {
        Self {
            cursor: Some(last_seq),
            failure_count: 0,
            last_error: None,
            last_successful_batch_at: Some(now),
            next_attempt_at: None,
        }
    }

    /// The batch failed with `error`: the cursor stays, the next attempt backs off.
    pub fn failed(&self, error: String, now: DateTime<Utc>) -> Self {
        let failure_count = self.failure_count.saturating_add(1);
        Self {
            cursor: self.cursor,
            failure_count,
            last_error: Some(error),
            last_successful_batch_at: self.last_successful_batch_at,
            next_attempt_at: Some(now + backoff(failure_count)),
        }
    }

    /// Whether an attempt may run at `now`.
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        self.next_attempt_at.is_none_or(|at| at <= now)
    }
}

/// A SIEM config as stored. `Debug` never shows the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct SiemConfigRecord {
    pub id: SiemConfigId,
    pub org_id: OrgId,
    pub name: String,
    pub provider: SiemProvider,
    pub endpoint_url: String,
    /// Write-only (§1.8).
    pub api_key: Option<String>,
    /// Write-only (§1.8).
    pub auth_header: Option<String>,
    pub batch_size: u32,
    pub enabled: bool,
    pub progress: SiemProgress,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for a config not yet stored.
    pub version: u64,
}

impl std::fmt::Debug for SiemConfigRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiemConfig")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("endpoint_url", &self.endpoint_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("auth_header", &self.auth_header.as_ref().map(|_| "[REDACTED]"))
            .field("batch_size", &self.batch_size)
            .field("enabled", &self.enabled)
            .field("progress", &self.progress)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A SIEM config of an org (§17).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiemConfig(SiemConfigRecord);

impl SiemConfig {
    /// Rebuilds a config from storage.
    pub fn restore(record: SiemConfigRecord) -> Self {
        Self(record)
    }
    /// The stored state.
    pub fn record(&self) -> &SiemConfigRecord {
        &self.0
    }
    /// The id.
    pub fn id(&self) -> SiemConfigId {
        self.0.id
    }
    /// The org.
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    /// The name, unique in the org.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The provider.
    pub fn provider(&self) -> SiemProvider {
        self.0.provider
    }
    /// The stream's progress.
    pub fn progress(&self) -> &SiemProgress {
        &self.0.progress
    }
    /// The same config as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    /// The same config with another progress (for adapters: progress is written apart).
    pub fn with_progress(mut self, progress: SiemProgress) -> Self {
        self.0.progress = progress;
        self
    }
    /// Whether the stream runs for an org with `features`: enabled and the tier allows it.
    pub fn streams(&self, features: &Features) -> bool {
        self.0.enabled && features.gate(Feature::Siem).is_ok()
    }
}

/// What happened to a config (§23.1 `siem_config.*`, §23.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiemEvent {
    Created {
        siem_config_id: SiemConfigId,
        name: String,
        provider: SiemProvider,
    },
    Updated {
        siem_config_id: SiemConfigId,
        changes: Vec<Change>,
        /// Secrets set, changed or cleared, recorded only as `"[REDACTED]"` (§1.7).
        secrets_changed: Vec<&'static str>,
    },
    Deleted {
        siem_config_id: SiemConfigId,
        name: String,
    },
}

/// Body of a create or update (§17) as received. Absent fields are `None`; for the secrets
/// `Some(None)` is an explicit `null` (clears on update).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SiemDraft {
    pub name: Option<String>,
    pub provider_type: Option<String>,
    pub endpoint_url: Option<String>,
    pub api_key: Option<Option<String>>,
    pub auth_header: Option<Option<String>>,
    pub batch_size: Option<i64>,
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for SiemDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiemDraft")
            .field("name", &self.name)
            .field("provider_type", &self.provider_type)
            .field("endpoint_url", &self.endpoint_url)
            .field("batch_size", &self.batch_size)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A checked create: every field of §17 but the URL's address check, left to the outbound
/// guard before [`Access::create_siem_config`] decides.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSiemConfig {
    pub id: SiemConfigId,
    pub name: String,
    pub provider: SiemProvider,
    pub endpoint_url: String,
    pub api_key: Option<String>,
    pub auth_header: Option<String>,
    pub batch_size: u32,
    pub enabled: bool,
}

impl std::fmt::Debug for NewSiemConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSiemConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// A checked update: each present field parsed; `None` leaves it unchanged.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SiemUpdate {
    pub name: Option<String>,
    /// The `provider_type` sent, if any (it must equal the stored one: immutable).
    pub provider: Option<SiemProvider>,
    pub endpoint_url: Option<String>,
    pub api_key: Option<Option<String>>,
    pub auth_header: Option<Option<String>>,
    pub batch_size: Option<u32>,
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for SiemUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiemUpdate")
            .field("name", &self.name)
            .field("endpoint_url", &self.endpoint_url)
            .field("batch_size", &self.batch_size)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

fn config_name(input: &str) -> Result<String, FieldError> {
    let t = input.trim();
    let n = t.chars().count();
    if n == 0 || n > 100 || t.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "must be 1-100 characters without control characters",
        ));
    }
    Ok(t.to_owned())
}

fn provider(input: &str) -> Result<SiemProvider, FieldError> {
    SiemProvider::parse(input).ok_or_else(|| {
        FieldError::new(
            "provider_type",
            "must be one of Datadog, Splunk, Elastic, Custom (case-sensitive)",
        )
    })
}

fn batch_size(n: i64) -> Result<u32, FieldError> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_BATCH_SIZE).contains(n))
        .ok_or_else(|| FieldError::new("batch_size", "must be an integer from 1 to 1000"))
}

/// A secret value: 1–4096 characters without control characters.
fn secret(field: &'static str, value: &str) -> Result<String, FieldError> {
    let n = value.chars().count();
    if n == 0 || n > 4096 || value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must be 1-4096 characters without control characters",
        ));
    }
    Ok(value.to_owned())
}

/// An `auth_header`: `Name: value` (a token name, a non-empty value) or a bare value.
fn auth_header(value: &str) -> Result<String, FieldError> {
    let v = secret("auth_header", value)?;
    if let Some((name, rest)) = v.split_once(':') {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.trim().is_empty() || !name.trim().chars().all(token) || rest.trim().is_empty() {
            return Err(FieldError::new(
                "auth_header",
                "must be 'Name: value' with a header name and a value, or a bare value",
            ));
        }
    }
    Ok(v)
}

fn opt_secret(field: &'static str, v: &Option<Option<String>>, errors: &mut Vec<FieldError>) -> Option<Option<String>> {
    match v {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => {
            let parsed = if field == "auth_header" {
                auth_header(s)
            } else {
                secret(field, s)
            };
            match parsed {
                Ok(s) => Some(Some(s)),
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        }
    }
}

fn api_key_required(p: SiemProvider) -> FieldError {
    FieldError::new("api_key", format!("is required for {}", p.as_str()))
}

fn siem_event(e: SiemEvent) -> DomainEvent {
    DomainEvent::Siem(e)
}

impl Access {
    /// The config a management call addresses: `integrations.manage` (and the active-org
    /// gate when `mutable`), then an unknown config (or another org's) is not found.
    fn managed_siem<C: std::borrow::Borrow<SiemConfig>>(
        &self,
        config: Option<C>,
        mutable: bool,
    ) -> Result<(Principal, C), DomainError> {
        let principal = if mutable {
            self.require_mutable(Capability::IntegrationsManage)?
        } else {
            self.require(Capability::IntegrationsManage)?
        };
        let c = config
            .filter(|c| c.borrow().org_id() == self.org_id())
            .ok_or(DomainError::NotFound)?;
        Ok((principal, c))
    }

    /// Reads of configs (`GET`): `integrations.manage`.
    pub fn read_siem_configs(&self) -> Result<Principal, DomainError> {
        self.require(Capability::IntegrationsManage)
    }

    /// Step one of `POST …/siem-configs` (§1.5): `integrations.manage`, the tier gate
    /// `allow_siem`, the active-org gate, then every field rule of §17 (each error names its
    /// field). The URL's addresses are left for the outbound guard.
    pub fn new_siem_config(
        &self,
        id: SiemConfigId,
        draft: &SiemDraft,
        features: &Features,
    ) -> Result<NewSiemConfig, DomainError> {
        self.require(Capability::IntegrationsManage)?;
        features.gate(Feature::Siem)?;
        self.gate()?;
        let mut errors = Vec::new();
        let name = config_name(draft.name.as_deref().unwrap_or_default())
            .map_err(|e| errors.push(e))
            .ok();
        let provider = match &draft.provider_type {
            Some(p) => provider(p).map_err(|e| errors.push(e)).ok(),
            None => {
                errors.push(FieldError::new("provider_type", "is required"));
                None
            }
        };
        let endpoint_url = match &draft.endpoint_url {
            Some(u) => Some(u.clone()),
            None => {
                errors.push(FieldError::new("endpoint_url", "is required"));
                None
            }
        };
        let api_key = opt_secret("api_key", &draft.api_key, &mut errors).flatten();
        let auth_header = opt_secret("auth_header", &draft.auth_header, &mut errors).flatten();
        let size = draft
            .batch_size
            .map_or(Ok(DEFAULT_BATCH_SIZE), batch_size)
            .map_err(|e| errors.push(e))
            .ok();
        if let Some(p) = provider
            && p.needs_api_key()
            && api_key.is_none()
            && !errors.iter().any(|e| e.field == "api_key")
        {
            errors.push(api_key_required(p));
        }
        match (name, provider, endpoint_url, size) {
            (Some(name), Some(provider), Some(endpoint_url), Some(batch_size)) if errors.is_empty() => {
                Ok(NewSiemConfig {
                    id,
                    name,
                    provider,
                    endpoint_url,
                    api_key,
                    auth_header,
                    batch_size,
                    enabled: draft.enabled.unwrap_or(true),
                })
            }
            _ => Err(DomainError::Validation(errors)),
        }
    }

    /// Creates a config (§17); `name_taken` says whether another config of the org has the
    /// name (409).
    pub fn create_siem_config(
        &self,
        new: NewSiemConfig,
        name_taken: bool,
        now: DateTime<Utc>,
    ) -> Result<(SiemConfig, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::IntegrationsManage)?;
        if name_taken {
            return Err(DomainError::DuplicateSiemConfigName);
        }
        let c = SiemConfig(SiemConfigRecord {
            id: new.id,
            org_id: self.org_id(),
            name: new.name,
            provider: new.provider,
            endpoint_url: new.endpoint_url,
            api_key: new.api_key,
            auth_header: new.auth_header,
            batch_size: new.batch_size,
            enabled: new.enabled,
            progress: SiemProgress::default(),
            created_at: now,
            updated_at: now,
            version: 0,
        });
        let event = siem_event(SiemEvent::Created {
            siem_config_id: c.0.id,
            name: c.0.name.clone(),
            provider: c.0.provider,
        });
        Ok((
            c,
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// Step one of `PUT …/siem-configs/:id` (partial): the capability, the active-org gate,
    /// then the rules of §17 for the fields present.
    pub fn siem_config_update(&self, draft: &SiemDraft) -> Result<SiemUpdate, DomainError> {
        self.require_mutable(Capability::IntegrationsManage)?;
        let mut errors = Vec::new();
        let upd = SiemUpdate {
            name: draft
                .name
                .as_deref()
                .map(config_name)
                .transpose()
                .map_err(|e| errors.push(e))
                .ok()
                .flatten(),
            provider: draft
                .provider_type
                .as_deref()
                .map(provider)
                .transpose()
                .map_err(|e| errors.push(e))
                .ok()
                .flatten(),
            endpoint_url: draft.endpoint_url.clone(),
            api_key: opt_secret("api_key", &draft.api_key, &mut errors),
            auth_header: opt_secret("auth_header", &draft.auth_header, &mut errors),
            batch_size: draft
                .batch_size
                .map(batch_size)
                .transpose()
                .map_err(|e| errors.push(e))
                .ok()
                .flatten(),
            enabled: draft.enabled,
        };
        if errors.is_empty() {
            Ok(upd)
        } else {
            Err(DomainError::Validation(errors))
        }
    }

    /// Updates a config (§17): `provider_type` is immutable (400 when another is sent), the
    /// result must still carry the `api_key` its provider needs, the name stays unique.
    /// No change → no event. Progress is never touched here.
    pub fn update_siem_config(
        &self,
        config: Option<&mut SiemConfig>,
        upd: SiemUpdate,
        name_taken: bool,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let (principal, c) = self.managed_siem(config, true)?;
        let old = c.0.clone();
        if upd.provider.is_some_and(|p| p != old.provider) {
            return Err(DomainError::invalid("provider_type", "is immutable"));
        }
        if let Some(name) = upd.name {
            if name != old.name && name_taken {
                return Err(DomainError::DuplicateSiemConfigName);
            }
            c.0.name = name;
        }
        if let Some(url) = upd.endpoint_url {
            c.0.endpoint_url = url;
        }
        if let Some(k) = upd.api_key {
            c.0.api_key = k;
        }
        if let Some(h) = upd.auth_header {
            c.0.auth_header = h;
        }
        if let Some(n) = upd.batch_size {
            c.0.batch_size = n;
        }
        if let Some(e) = upd.enabled {
            c.0.enabled = e;
        }
        if c.0.provider.needs_api_key() && c.0.api_key.is_none() {
            c.0 = old;
            return Err(api_key_required(c.0.provider).into());
        }
        let mut changes: Vec<Change> = Vec::new();
        changes.extend(Change::of("name", Some(old.name.clone()), Some(c.0.name.clone())));
        changes.extend(Change::of(
            "endpoint_url",
            Some(old.endpoint_url.clone()),
            Some(c.0.endpoint_url.clone()),
        ));
        changes.extend(Change::of(
            "batch_size",
            ChangeValue::Int(i64::from(old.batch_size)),
            ChangeValue::Int(i64::from(c.0.batch_size)),
        ));
        changes.extend(Change::of(
            "enabled",
            ChangeValue::Bool(old.enabled),
            ChangeValue::Bool(c.0.enabled),
        ));
        let mut secrets_changed = Vec::new();
        if old.api_key != c.0.api_key {
            secrets_changed.push("api_key");
        }
        if old.auth_header != c.0.auth_header {
            secrets_changed.push("auth_header");
        }
        if changes.is_empty() && secrets_changed.is_empty() {
            c.0 = old;
            return Ok(Outcome {
                principal,
                events: Vec::new(),
            });
        }
        c.0.updated_at = now;
        Ok(Outcome {
            principal,
            events: vec![siem_event(SiemEvent::Updated {
                siem_config_id: c.0.id,
                changes,
                secrets_changed,
            })],
        })
    }

    /// `DELETE …/siem-configs/:id`.
    pub fn delete_siem_config(&self, config: Option<&SiemConfig>) -> Result<Outcome, DomainError> {
        let (principal, c) = self.managed_siem(config, true)?;
        Ok(Outcome {
            principal,
            events: vec![siem_event(SiemEvent::Deleted {
                siem_config_id: c.0.id,
                name: c.0.name.clone(),
            })],
        })
    }

    /// `POST …/siem-configs/:id/test`: the capability and the config (nothing is written).
    pub fn test_siem_config<'c>(&self, config: Option<&'c SiemConfig>) -> Result<&'c SiemConfig, DomainError> {
        self.managed_siem(config, false).map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_30_seconds_up_to_an_hour() {
        let secs: Vec<i64> = (1..=9).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_batch_goes_when_full_or_ten_seconds_after_its_oldest_entry() {
        let t0 = DateTime::from_timestamp(1_750_000_000, 0).unwrap_or_default();
        assert!(batch_ready(100, 100, t0, t0));
        assert!(!batch_ready(99, 100, t0, t0 + Duration::seconds(9)));
        assert!(batch_ready(1, 100, t0, t0 + Duration::seconds(10)));
    }

    #[test]
    fn failures_keep_the_cursor_and_back_off_success_resets() {
        let now = DateTime::from_timestamp(1_750_000_000, 0).unwrap_or_default();
        let p = SiemProgress {
            cursor: Some(7),
            ..SiemProgress::default()
        };
        let f1 = p.failed("HTTP 500".into(), now);
        assert_eq!((f1.cursor, f1.failure_count), (Some(7), 1));
        assert_eq!(f1.next_attempt_at, Some(now + Duration::seconds(30)));
        assert!(!f1.due(now + Duration::seconds(29)) && f1.due(now + Duration::seconds(30)));
        let f2 = f1.failed("timeout".into(), now);
        assert_eq!(f2.next_attempt_at, Some(now + Duration::seconds(60)));
        assert_eq!(f2.last_error.as_deref(), Some("timeout"));
        let ok = f2.accepted(12, now);
        assert_eq!(
            ok,
            SiemProgress {
                cursor: Some(12),
                failure_count: 0,
                last_error: None,
                last_successful_batch_at: Some(now),
                next_attempt_at: None
            }
        );
    }

    #[test]
    fn providers_are_case_sensitive_and_auth_headers_are_name_value_or_bare() {
        assert_eq!(SiemProvider::parse("Datadog"), Some(SiemProvider::Datadog));
        assert_eq!(SiemProvider::parse("datadog"), None);
        assert_eq!(SiemProvider::parse("ELASTIC"), None);
        assert!(auth_header("X-Token: abc").is_ok());
        assert!(auth_header("Bearer abc").is_ok());
        assert!(auth_header("Bad Name: abc").is_err());
        assert!(auth_header("X-Token:  ").is_err());
        assert!(auth_header("").is_err());
        assert_eq!(batch_size(0).map_err(|e| e.field), Err("batch_size".to_owned()));
        assert!(batch_size(1001).is_err());
        assert_eq!(batch_size(1000), Ok(1000));
    }
}
