//! Provider credentials an org brings: OAuth app credentials (§12) and billing-provider keys
//! (§18), each one aggregate per (org, provider), its own row and version, never fields of the
//! org. Secrets (the OAuth client secret, the billing API key and webhook secret) are
//! write-only: opaque strings here that adapters seal at rest, never in `Debug`, events or
//! responses.

use chrono::{DateTime, Utc};

use crate::access::{Access, Outcome};
use crate::capability::Capability;
use crate::error::{DomainError, FieldError};
use crate::event::{Change, DomainEvent};
use crate::ids::{CredentialId, OrgId};

/// A social provider whose OAuth app an org may bring (§12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OAuthProvider {
    Github,
    Google,
    Microsoft,
}

impl OAuthProvider {
    /// Every provider, in wire order.
    pub const ALL: [Self; 3] = [Self::Github, Self::Google, Self::Microsoft];

    /// The wire name (the `:provider` path segment).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Google => "google",
            Self::Microsoft => "microsoft",
        }
    }

    /// Parses the wire name (exact, lower case).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The provider of a path segment, else a 400 naming `provider`.
    pub fn from_path(text: &str) -> Result<Self, FieldError> {
        Self::parse(text).ok_or_else(|| FieldError::new("provider", "must be one of github, google, microsoft"))
    }
}

/// Body of `POST …/oauth-credentials/:provider` as received.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OAuthCredentialsDraft {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for OAuthCredentialsDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthCredentialsDraft")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// A checked upsert: the provider and the field values of §12.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthCredentialsInput {
    pub provider: OAuthProvider,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for OAuthCredentialsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthCredentialsInput")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl OAuthCredentialsInput {
    /// Applies every rule of §12, reporting each failing field: `provider` one of the three,
    /// `client_id` 1–512 characters (not blank, no control characters), `client_secret`
    /// 1–4096 characters (kept as sent, no control characters).
    pub fn parse(provider: &str, draft: &OAuthCredentialsDraft) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let provider = OAuthProvider::from_path(provider).map_err(|e| errors.push(e)).ok();
        let id = &draft.client_id;
        let id_len = id.chars().count();
        if id.trim().is_empty() || id_len > 512 || id.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "client_id",
                "must be 1-512 characters, not blank, without control characters",
            ));
        }
        let secret = &draft.client_secret;
        let secret_len = secret.chars().count();
        if secret_len == 0 || secret_len > 4096 || secret.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "client_secret",
                "must be 1-4096 characters without control characters",
            ));
        }
        match provider {
            Some(provider) if errors.is_empty() => Ok(Self {
                provider,
                client_id: id.clone(),
                client_secret: secret.clone(),
            }),
            _ => Err(DomainError::Validation(errors)),
        }
    }
}

/// OAuth credentials facts (§23.1 `oauth_credentials.*`, §23.2 `oauth_credentials.updated`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OAuthCredentialsEvent {
    /// Set or replaced. `changes` names `client_id` with old and new values; the secret only
    /// as the flag `secret_changed` (§1.7: recorded as `"[REDACTED]"`).
    Updated {
        org_id: OrgId,
        provider: OAuthProvider,
        client_id: String,
        changes: Vec<Change>,
        secret_changed: bool,
    },
    Deleted {
        org_id: OrgId,
        provider: OAuthProvider,
    },
}

/// One provider's OAuth credentials of an org as stored. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthCredentialsRecord {
    pub id: CredentialId,
    pub org_id: OrgId,
    pub provider: OAuthProvider,
    pub client_id: String,
    /// Write-only (§1.8).
    pub client_secret: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for credentials not yet stored.
    pub version: u64,
}

impl std::fmt::Debug for OAuthCredentialsRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthCredentialsRecord")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("updated_at", &self.updated_at)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// An org's OAuth app credentials for one provider (§12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthCredentials(OAuthCredentialsRecord);

impl OAuthCredentials {
    /// Rebuilds credentials from storage.
    pub fn restore(record: OAuthCredentialsRecord) -> Self {
        Self(record)
    }
    /// The stored state.
    pub fn record(&self) -> &OAuthCredentialsRecord {
        &self.0
    }
    /// The row id.
    pub fn id(&self) -> CredentialId {
        self.0.id
    }
    /// The org.
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    /// The provider.
    pub fn provider(&self) -> OAuthProvider {
        self.0.provider
    }
    /// The OAuth client id (not a secret).
    pub fn client_id(&self) -> &str {
        &self.0.client_id
    }
    /// The same credentials as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
}

impl Access {
    /// Step one of `POST …/oauth-credentials/:provider` (§1.5): `org.settings.manage` and the
    /// active-org gate, then every field rule of §12.
    pub fn oauth_credentials_input(
        &self,
        provider: &str,
        draft: &OAuthCredentialsDraft,
    ) -> Result<OAuthCredentialsInput, DomainError> {
        self.require_mutable(Capability::OrgSettingsManage)?;
        OAuthCredentialsInput::parse(provider, draft)
    }

    /// `GET …/oauth-credentials/:provider`: `org.settings.manage`, then the provider.
    pub fn read_oauth_credentials(&self, provider: &str) -> Result<OAuthProvider, DomainError> {
        self.require(Capability::OrgSettingsManage)?;
        Ok(OAuthProvider::from_path(provider)?)
    }

    /// Step one of `DELETE …/oauth-credentials/:provider`: the capability, the gate, the provider.
    pub fn oauth_credentials_target(&self, provider: &str) -> Result<OAuthProvider, DomainError> {
        self.require_mutable(Capability::OrgSettingsManage)?;
        Ok(OAuthProvider::from_path(provider)?)
    }

    /// Upserts one provider's credentials. Values equal to the stored ones (secret included)
    /// change nothing: no write, no event (§1.7); `None` then. `id` names a new row.
    pub fn set_oauth_credentials(
        &self,
        current: Option<&OAuthCredentials>,
        input: OAuthCredentialsInput,
        id: CredentialId,
        now: DateTime<Utc>,
    ) -> Result<(Option<OAuthCredentials>, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::OrgSettingsManage)?;
        let current = current.filter(|c| c.org_id() == self.org_id() && c.provider() == input.provider);
        let unchanged =
            current.is_some_and(|c| c.0.client_id == input.client_id && c.0.client_secret == input.client_secret);
        if unchanged {
            return Ok((
                None,
                Outcome {
                    principal,
                    events: Vec::new(),
                },
            ));
        }
        let old_id = current.map(|c| c.0.client_id.clone());
        let changes: Vec<Change> = Change::of("client_id", old_id, Some(input.client_id.clone()))
            .into_iter()
            .collect();
        let secret_changed = current.is_none_or(|c| c.0.client_secret != input.client_secret);
        let event = DomainEvent::OAuthCredentials(OAuthCredentialsEvent::Updated {
            org_id: self.org_id(),
            provider: input.provider,
            client_id: input.client_id.clone(),
            changes,
            secret_changed,
        });
        let creds = OAuthCredentials(OAuthCredentialsRecord {
            id: current.map_or(id, |c| c.0.id),
            org_id: self.org_id(),
            provider: input.provider,
            client_id: input.client_id,
            client_secret: input.client_secret,
            created_at: current.map_or(now, |c| c.0.created_at),
            updated_at: now,
            version: current.map_or(0, |c| c.0.version),
        });
        Ok((
            Some(creds),
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// `DELETE …/oauth-credentials/:provider`: credentials that are not there are a 404
    /// (compat, §12, §1.7).
    pub fn remove_oauth_credentials(&self, current: Option<&OAuthCredentials>) -> Result<Outcome, DomainError> {
        let principal = self.require_mutable(Capability::OrgSettingsManage)?;
        let Some(current) = current.filter(|c| c.org_id() == self.org_id()) else {
            return Err(DomainError::OAuthCredentialsNotFound);
        };
        Ok(Outcome {
            principal,
            events: vec![DomainEvent::OAuthCredentials(OAuthCredentialsEvent::Deleted {
                org_id: self.org_id(),
                provider: current.provider(),
            })],
        })
    }
}

/// A billing provider whose keys an org may bring (§18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BillingProvider {
    Stripe,
    Polar,
}

impl BillingProvider {
    /// Every provider, in wire order.
    pub const ALL: [Self; 2] = [Self::Stripe, Self::Polar];

    /// The wire name (the `:provider` path segment).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Polar => "polar",
        }
    }

    /// Parses the wire name (exact, lower case).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The provider of a path segment, else a 400 naming `provider`.
    pub fn from_path(text: &str) -> Result<Self, FieldError> {
        Self::parse(text).ok_or_else(|| FieldError::new("provider", "must be one of stripe, polar"))
    }
}

/// Test or live keys (§18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BillingMode {
    Test,
    Live,
}

impl BillingMode {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Live => "live",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Test, Self::Live].into_iter().find(|m| m.as_str() == text)
    }

    /// The Stripe key prefixes of this mode (§18: secret or restricted keys).
    pub const fn stripe_prefixes(self) -> [&'static str; 2] {
        match self {
            Self::Test => ["sk_test_", "rk_test_"],
            Self::Live => ["sk_live_", "rk_live_"],
        }
    }
}

/// Body of `POST …/billing-credentials/:provider` as received.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BillingCredentialsDraft {
    pub api_key: String,
    pub webhook_secret: String,
    pub mode: String,
}

impl std::fmt::Debug for BillingCredentialsDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingCredentialsDraft")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// A checked upsert: the provider, the mode and the two secrets of §18.
#[derive(Clone, PartialEq, Eq)]
pub struct BillingCredentialsInput {
    pub provider: BillingProvider,
    pub mode: BillingMode,
    pub api_key: String,
    pub webhook_secret: String,
}

impl std::fmt::Debug for BillingCredentialsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingCredentialsInput")
            .field("provider", &self.provider)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

fn secret_ok(value: &str) -> bool {
    let n = value.chars().count();
    (1..=4096).contains(&n) && !value.chars().any(char::is_control)
}

impl BillingCredentialsInput {
    /// Applies every rule of §18, reporting each failing field: `provider` one of the two,
    /// `mode` `test` or `live`, `api_key` and `webhook_secret` 1–4096 characters without control
    /// characters, and for Stripe an `api_key` whose prefix matches the mode.
    pub fn parse(provider: &str, draft: &BillingCredentialsDraft) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let provider = BillingProvider::from_path(provider).map_err(|e| errors.push(e)).ok();
        let mode = BillingMode::parse(&draft.mode);
        if mode.is_none() {
            errors.push(FieldError::new("mode", "must be one of test, live"));
        }
        if !secret_ok(&draft.api_key) {
            errors.push(FieldError::new(
                "api_key",
                "must be 1-4096 characters without control characters",
            ));
        } else if let (Some(BillingProvider::Stripe), Some(m)) = (provider, mode)
            && !m.stripe_prefixes().iter().any(|p| draft.api_key.starts_with(p))
        {
            let [sk, rk] = m.stripe_prefixes();
            errors.push(FieldError::new(
                "api_key",
                format!("a Stripe {} key starts with {sk} or {rk}", m.as_str()),
            ));
        }
        if !secret_ok(&draft.webhook_secret) {
            errors.push(FieldError::new(
                "webhook_secret",
                "must be 1-4096 characters without control characters",
            ));
        }
        match (provider, mode) {
            (Some(provider), Some(mode)) if errors.is_empty() => Ok(Self {
                provider,
                mode,
                api_key: draft.api_key.clone(),
                webhook_secret: draft.webhook_secret.clone(),
            }),
            _ => Err(DomainError::Validation(errors)),
        }
    }
}

/// Billing credentials facts (§23.1 `billing_credentials.*`, §23.2 the same names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BillingCredentialsEvent {
    /// Set or replaced: `changes` names `mode` (old and new); the secrets only as the names of
    /// those set or changed (§1.7: recorded as `"[REDACTED]"`).
    Updated {
        org_id: OrgId,
        provider: BillingProvider,
        mode: BillingMode,
        changes: Vec<Change>,
        secrets_changed: Vec<&'static str>,
    },
    Deleted {
        org_id: OrgId,
        provider: BillingProvider,
    },
}

/// One provider's billing credentials of an org as stored. `Debug` never shows the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct BillingCredentialsRecord {
    pub id: CredentialId,
    pub org_id: OrgId,
    pub provider: BillingProvider,
    pub mode: BillingMode,
    /// Write-only (§1.8).
    pub api_key: String,
    /// Write-only (§1.8).
    pub webhook_secret: String,
    /// Whether the org's own keys are in use; every upsert sets it (no endpoint clears it).
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for credentials not yet stored.
    pub version: u64,
}

impl std::fmt::Debug for BillingCredentialsRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingCredentialsRecord")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("provider", &self.provider)
            .field("mode", &self.mode)
            .field("enabled", &self.enabled)
            .field("updated_at", &self.updated_at)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// An org's billing-provider credentials for one provider (§18).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingCredentials(BillingCredentialsRecord);

impl BillingCredentials {
    /// Rebuilds credentials from storage.
    pub fn restore(record: BillingCredentialsRecord) -> Self {
        Self(record)
    }
    /// The stored state.
    pub fn record(&self) -> &BillingCredentialsRecord {
        &self.0
    }
    /// The row id.
    pub fn id(&self) -> CredentialId {
        self.0.id
    }
    /// The org.
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    /// The provider.
    pub fn provider(&self) -> BillingProvider {
        self.0.provider
    }
    /// The same credentials as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
}

impl Access {
    /// Step one of `POST …/billing-credentials/:provider` (§1.5): `billing.credentials.manage`
    /// (the owner, or a platform owner) and the active-org gate, then every field rule of §18.
    pub fn billing_credentials_input(
        &self,
        provider: &str,
        draft: &BillingCredentialsDraft,
    ) -> Result<BillingCredentialsInput, DomainError> {
        self.require_mutable(Capability::BillingCredentialsManage)?;
        BillingCredentialsInput::parse(provider, draft)
    }

    /// `GET …/billing-credentials/:provider`: the capability, then the provider.
    pub fn read_billing_credentials(&self, provider: &str) -> Result<BillingProvider, DomainError> {
        self.require(Capability::BillingCredentialsManage)?;
        Ok(BillingProvider::from_path(provider)?)
    }

    /// Step one of `DELETE …/billing-credentials/:provider`: the capability, the gate, the provider.
    pub fn billing_credentials_target(&self, provider: &str) -> Result<BillingProvider, DomainError> {
        self.require_mutable(Capability::BillingCredentialsManage)?;
        Ok(BillingProvider::from_path(provider)?)
    }

    /// Upserts one provider's billing credentials. Values equal to the stored ones (secrets
    /// included) change nothing: no write, no event (§1.7); `None` then.
    pub fn set_billing_credentials(
        &self,
        current: Option<&BillingCredentials>,
        input: BillingCredentialsInput,
        id: CredentialId,
        now: DateTime<Utc>,
    ) -> Result<(Option<BillingCredentials>, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::BillingCredentialsManage)?;
        let current = current.filter(|c| c.org_id() == self.org_id() && c.provider() == input.provider);
        let same = |c: &BillingCredentials| {
            c.0.mode == input.mode
                && c.0.api_key == input.api_key
                && c.0.webhook_secret == input.webhook_secret
                && c.0.enabled
        };
        if current.is_some_and(same) {
            return Ok((
                None,
                Outcome {
                    principal,
                    events: Vec::new(),
                },
            ));
        }
        let old_mode = current.map(|c| c.0.mode.as_str().to_owned());
        let changes: Vec<Change> = Change::of("mode", old_mode, Some(input.mode.as_str().to_owned()))
            .into_iter()
            .collect();
        let mut secrets_changed = Vec::new();
        if current.is_none_or(|c| c.0.api_key != input.api_key) {
            secrets_changed.push("api_key");
        }
        if current.is_none_or(|c| c.0.webhook_secret != input.webhook_secret) {
            secrets_changed.push("webhook_secret");
        }
        let event = DomainEvent::BillingCredentials(BillingCredentialsEvent::Updated {
            org_id: self.org_id(),
            provider: input.provider,
            mode: input.mode,
            changes,
            secrets_changed,
        });
        let creds = BillingCredentials(BillingCredentialsRecord {
            id: current.map_or(id, |c| c.0.id),
            org_id: self.org_id(),
            provider: input.provider,
            mode: input.mode,
            api_key: input.api_key,
            webhook_secret: input.webhook_secret,
            enabled: true,
            created_at: current.map_or(now, |c| c.0.created_at),
            updated_at: now,
            version: current.map_or(0, |c| c.0.version),
        });
        Ok((
            Some(creds),
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// `DELETE …/billing-credentials/:provider`: credentials that are not there are a 404
    /// (compat, §18, §1.7).
    pub fn remove_billing_credentials(&self, current: Option<&BillingCredentials>) -> Result<Outcome, DomainError> {
        let principal = self.require_mutable(Capability::BillingCredentialsManage)?;
        let Some(current) = current.filter(|c| c.org_id() == self.org_id()) else {
            return Err(DomainError::BillingCredentialsNotFound);
        };
        Ok(Outcome {
            principal,
            events: vec![DomainEvent::BillingCredentials(BillingCredentialsEvent::Deleted {
                org_id: self.org_id(),
                provider: current.provider(),
            })],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(id: &str, secret: &str) -> OAuthCredentialsDraft {
        OAuthCredentialsDraft {
            client_id: id.into(),
            client_secret: secret.into(),
        }
    }

    fn fields(e: DomainError) -> Vec<String> {
        match e {
            DomainError::Validation(v) => v.into_iter().map(|f| f.field).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn every_rule_names_its_field() {
        let ok = OAuthCredentialsInput::parse("github", &draft("abc", "s3cret"));
        assert_eq!(ok.map(|i| i.provider), Ok(OAuthProvider::Github));
        let cases = [
            ("gitlab", draft("a", "s"), vec!["provider"]),
            ("GitHub", draft("a", "s"), vec!["provider"]),
            ("google", draft("", "s"), vec!["client_id"]),
            ("google", draft("  ", "s"), vec!["client_id"]),
            ("google", draft(&"x".repeat(513), "s"), vec!["client_id"]),
            ("google", draft("a", ""), vec!["client_secret"]),
            ("google", draft("a", &"x".repeat(4097)), vec!["client_secret"]),
            ("nope", draft("", ""), vec!["provider", "client_id", "client_secret"]),
        ];
        for (provider, d, want) in cases {
            let got = OAuthCredentialsInput::parse(provider, &d).map(|_| ()).map_err(fields);
            assert_eq!(
                got,
                Err(want.iter().map(|s| (*s).to_owned()).collect()),
                "{provider} {d:?}"
            );
        }
        assert!(OAuthCredentialsInput::parse("microsoft", &draft(&"x".repeat(512), &"y".repeat(4096))).is_ok());
    }

    fn billing(key: &str, secret: &str, mode: &str) -> BillingCredentialsDraft {
        BillingCredentialsDraft {
            api_key: key.into(),
            webhook_secret: secret.into(),
            mode: mode.into(),
        }
    }

    #[test]
    fn billing_rules_name_their_field_and_stripe_keys_match_the_mode() {
        let ok = [
            ("stripe", billing("sk_test_1", "whsec", "test")),
            ("stripe", billing("rk_test_1", "whsec", "test")),
            ("stripe", billing("sk_live_1", "whsec", "live")),
            ("stripe", billing("rk_live_1", "whsec", "live")),
            ("polar", billing("polar_anything", "whsec", "live")),
        ];
        for (provider, d) in ok {
            assert!(BillingCredentialsInput::parse(provider, &d).is_ok(), "{provider} {d:?}");
        }
        let cases = [
            ("paypal", billing("k", "s", "test"), vec!["provider"]),
            ("stripe", billing("sk_live_1", "s", "test"), vec!["api_key"]),
            ("stripe", billing("sk_test_1", "s", "live"), vec!["api_key"]),
            ("stripe", billing("pk_test_1", "s", "test"), vec!["api_key"]),
            ("stripe", billing("sk_test_1", "s", "prod"), vec!["mode"]),
            ("polar", billing("", "s", "test"), vec!["api_key"]),
            ("polar", billing("k", "", "test"), vec!["webhook_secret"]),
            ("polar", billing(&"k".repeat(4097), "s", "test"), vec!["api_key"]),
            (
                "x",
                billing("", "", ""),
                vec!["provider", "mode", "api_key", "webhook_secret"],
            ),
        ];
        for (provider, d, want) in cases {
            let got = BillingCredentialsInput::parse(provider, &d).map(|_| ()).map_err(fields);
            assert_eq!(
                got,
                Err(want.iter().map(|s| (*s).to_owned()).collect()),
                "{provider} {d:?}"
            );
        }
        let d = billing("sk_test_topsecret", "whsec_topsecret", "test");
        let shown = BillingCredentialsInput::parse("stripe", &d)
            .map(|i| format!("{i:?}{d:?}"))
            .unwrap_or_default();
        assert!(shown.contains("Test") && !shown.contains("topsecret"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let d = draft("client", "hunter2");
        assert!(!format!("{d:?}").contains("hunter2"));
        let shown = OAuthCredentialsInput::parse("github", &d)
            .map(|i| format!("{i:?}"))
            .unwrap_or_default();
        assert!(shown.contains("client") && !shown.contains("hunter2"));
    }
}
