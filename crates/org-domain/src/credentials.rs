//! Bring-your-own OAuth app credentials (§12): one aggregate per (org, provider), its own row
//! and version, never fields of the org. The client secret is write-only: an opaque string
//! here that adapters seal at rest, never in `Debug`, events or responses.

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
