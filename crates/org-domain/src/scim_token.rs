//! SCIM tokens (§10.1, §3.5): an org's bearer credentials for directory sync. A token records
//! its creator and the creator's resolved capabilities at creation, and acts with exactly that
//! set: its [`Access`] is built from the token, never from a membership.

use chrono::{DateTime, Duration, Utc};

use crate::access::{Access, Actor, Outcome};
use crate::capability::{Capability, CapabilitySet};
use crate::error::DomainError;
use crate::event::DomainEvent;
use crate::ids::{OrgId, ScimTokenId, UserId};
use crate::invitation::TokenHash;
use crate::organization::{OrgStatus, Organization};
use crate::role::Role;
use crate::tier::{Feature, Features};

/// How often `last_used_at` is written at most (§10.1).
pub const LAST_USED_GRANULARITY: Duration = Duration::minutes(1);

/// The state of a SCIM token, as stored. The plaintext is never kept; `Debug` shows no hash.
#[derive(Clone, PartialEq, Eq)]
pub struct ScimTokenRecord {
    pub id: ScimTokenId,
    pub org_id: OrgId,
    pub name: String,
    /// The first 12 characters of the plaintext (`scim_` and 7 more).
    pub prefix: String,
    pub token_hash: TokenHash,
    pub created_by: UserId,
    /// The creator's resolved capabilities at creation: what the token may do.
    pub capabilities: CapabilitySet,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version as loaded; 0 for a token not yet stored.
    pub version: u64,
}

impl std::fmt::Debug for ScimTokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimTokenRecord")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// A SCIM token of an org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimToken(ScimTokenRecord);

/// The body of `POST …/scim-tokens`, as received.
#[derive(Clone, Debug, Default)]
pub struct ScimTokenDraft {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A freshly drawn secret: its hash and visible prefix (the plaintext stays with the caller).
#[derive(Clone, Debug)]
pub struct ScimSecret {
    pub hash: TokenHash,
    pub prefix: String,
}

impl ScimToken {
    /// Rebuilds a token from storage.
    pub fn restore(record: ScimTokenRecord) -> Self {
        Self(record)
    }
    /// The stored state.
    pub fn record(&self) -> &ScimTokenRecord {
        &self.0
    }
    /// The same token as stored under another version.
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    pub fn id(&self) -> ScimTokenId {
        self.0.id
    }
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    /// Not revoked and not past `expires_at`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.0.revoked_at.is_none() && self.0.expires_at.is_none_or(|e| now < e)
    }
    /// Whether a use at `now` should be written to `last_used_at` (at most once a minute).
    pub fn use_is_due(&self, now: DateTime<Utc>) -> bool {
        self.0.last_used_at.is_none_or(|at| now - at >= LAST_USED_GRANULARITY)
    }

    /// The actor a token is: it has an id of its own (so no member is ever "itself"), and it
    /// is never a platform owner.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: UserId::from_uuid(self.0.id.as_uuid()),
            is_platform_owner: false,
        }
    }

    /// Authorizes a directory request (§10.2): the token's org must be `org`, active, and
    /// its effective features must allow SCIM (`allow_scim`, §22.4). The access holds the
    /// token's capabilities.
    pub fn access(&self, org: &Organization, features: &Features) -> Result<Access, DomainError> {
        if org.id() != self.0.org_id {
            return Err(DomainError::NotFound);
        }
        if org.status() != OrgStatus::Active {
            return Err(DomainError::OrgNotActive(org.status()));
        }
        features.gate(Feature::Scim)?;
        Ok(Access::for_directory(org, self.actor(), self.0.capabilities))
    }

    fn event(&self, kind: ScimTokenEventKind) -> DomainEvent {
        DomainEvent::ScimToken {
            kind,
            token_id: self.0.id,
            name: self.0.name.clone(),
            prefix: self.0.prefix.clone(),
            expires_at: self.0.expires_at,
        }
    }
}

/// What happened to a SCIM token (`scim_token.created|revoked|deleted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScimTokenEventKind {
    Created,
    Revoked,
    Deleted,
}

fn token_name(input: &str) -> Result<String, DomainError> {
    let name = input.trim();
    let n = name.chars().count();
    if n == 0 || n > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name",
            "must be 1-100 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

impl Access {
    /// Creates a SCIM token (§10.1): `integrations.manage` and `org.members.manage`, the tier
    /// feature, the active-org gate, then the body. The token keeps the creator's resolved
    /// capabilities as they are now.
    pub fn create_scim_token(
        &self,
        id: ScimTokenId,
        draft: &ScimTokenDraft,
        secret: ScimSecret,
        features: &Features,
        now: DateTime<Utc>,
    ) -> Result<(ScimToken, Outcome), DomainError> {
        let principal = self.authorize(|p| {
            p.need(Capability::IntegrationsManage)?;
            p.need(Capability::OrgMembersManage)
        })?;
        features.gate(Feature::Scim)?;
        self.gate()?;
        let name = token_name(&draft.name)?;
        if draft.expires_at.is_some_and(|e| e <= now) {
            return Err(DomainError::invalid("expires_at", "must be in the future"));
        }
        let token = ScimToken(ScimTokenRecord {
            id,
            org_id: self.org_id(),
            name,
            prefix: secret.prefix,
            token_hash: secret.hash,
            created_by: self.actor().user_id,
            capabilities: principal.caps.resolved(),
            created_at: now,
            expires_at: draft.expires_at,
            last_used_at: None,
            revoked_at: None,
            version: 0,
        });
        let event = token.event(ScimTokenEventKind::Created);
        Ok((
            token,
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// The org's token a management call addresses: `integrations.manage` and the active-org
    /// gate first, then an unknown token (or another org's) is not found.
    fn managed_scim_token<T: std::borrow::Borrow<ScimToken>>(
        &self,
        token: Option<T>,
    ) -> Result<(crate::Principal, T), DomainError> {
        let principal = self.require_mutable(Capability::IntegrationsManage)?;
        let token = token
            .filter(|t| t.borrow().org_id() == self.org_id())
            .ok_or(DomainError::NotFound)?;
        Ok((principal, token))
    }

    /// Revokes a token (§10.1); a second revoke changes nothing and records nothing.
    pub fn revoke_scim_token(&self, token: Option<&mut ScimToken>, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        let (principal, token) = self.managed_scim_token(token)?;
        if token.0.revoked_at.is_some() {
            return Ok(Outcome {
                principal,
                events: Vec::new(),
            });
        }
        token.0.revoked_at = Some(now);
        Ok(Outcome {
            principal,
            events: vec![token.event(ScimTokenEventKind::Revoked)],
        })
    }

    /// Deletes a token for good (§10.1); the caller removes the row.
    pub fn delete_scim_token(&self, token: Option<&ScimToken>) -> Result<Outcome, DomainError> {
        let (principal, token) = self.managed_scim_token(token)?;
        Ok(Outcome {
            principal,
            events: vec![token.event(ScimTokenEventKind::Deleted)],
        })
    }
}

/// The role a directory principal acts with: never owner or admin (§3.5).
pub(crate) const DIRECTORY_ROLE: Role = Role::Member;
