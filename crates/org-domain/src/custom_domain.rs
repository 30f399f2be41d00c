//! Custom domains (§14): an org's claim on a domain name, its own singleton aggregate (one row
//! per org). Several orgs may claim a domain; at most one live org holds it verified, and its
//! verification clears every other claim.

use chrono::{DateTime, Utc};

use crate::access::{Access, Outcome, Principal};
use crate::capability::Capability;
use crate::error::DomainError;
use crate::event::DomainEvent;
use crate::ids::OrgId;
use crate::tier::{Feature, Features};

/// A domain name (§14 syntax): trimmed, trailing dot removed, lower-cased; at most 253
/// characters; two or more labels of 1–63 `[a-z0-9-]`, none starting or ending with `-`; the
/// last label contains a letter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// Parses a domain; errors name the field `domain`.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let bad = |m: &str| DomainError::invalid("domain", m);
        let trimmed = input.trim();
        let name = trimmed.strip_suffix('.').unwrap_or(trimmed).to_ascii_lowercase();
        if name.is_empty() {
            return Err(bad("must not be empty"));
        }
        if name.chars().count() > 253 {
            return Err(bad("must be at most 253 characters"));
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("must have at least two labels (e.g. example.com)"));
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(bad("labels must be 1-63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(bad("labels may contain only a-z, 0-9 and '-'"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("labels must not start or end with '-'"));
            }
        }
        if !labels.last().is_some_and(|l| l.bytes().any(|b| b.is_ascii_lowercase())) {
            return Err(bad("the last label must contain a letter"));
        }
        Ok(Self(name))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Where the DNS method looks: `_sso-verification.<domain>`.
    pub fn txt_record_name(&self) -> String {
        format!("_sso-verification.{}", self.0)
    }
    /// The path the HTTP method fetches.
    pub const HTTP_PATH: &'static str = "/.well-known/sso-verification.txt";
}

impl std::fmt::Display for DomainName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a domain was verified (`method`: `DNS` or `HTTP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerificationMethod {
    Dns,
    Http,
}

impl VerificationMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "DNS",
            Self::Http => "HTTP",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "DNS" => Some(Self::Dns),
            "HTTP" => Some(Self::Http),
            _ => None,
        }
    }
}

/// The state of an org's domain claim, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomDomainRecord {
    pub org_id: OrgId,
    pub domain: DomainName,
    /// 32 hex characters (128 random bits); not a credential (§1.8).
    pub verification_token: String,
    /// Set once verified, with the method that succeeded.
    pub verified_at: Option<DateTime<Utc>>,
    pub verification_method: Option<VerificationMethod>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for a claim not yet stored.
    pub version: u64,
}

/// An org's domain claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomDomain(CustomDomainRecord);

/// What happened to a domain claim (`domain.set|verified|deleted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainEventKind {
    Set,
    Verified(VerificationMethod),
    /// Deleted by the org, or cleared because another org verified the domain (actor `system`).
    Deleted,
}

impl CustomDomain {
    /// Rebuilds a claim from storage.
    pub fn restore(record: CustomDomainRecord) -> Self {
        Self(record)
    }
    /// The stored state.
    pub fn record(&self) -> &CustomDomainRecord {
        &self.0
    }
    /// The same claim as stored under another version.
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    pub fn domain(&self) -> &DomainName {
        &self.0.domain
    }
    pub fn token(&self) -> &str {
        &self.0.verification_token
    }
    pub fn is_verified(&self) -> bool {
        self.0.verified_at.is_some()
    }
    pub fn verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.verified_at
    }
    pub fn method(&self) -> Option<VerificationMethod> {
        self.0.verification_method
    }

    /// Whether `found` (a TXT value with its chunks joined, or an HTTP body) proves the claim:
    /// trimmed, it equals the token.
    pub fn proves(&self, found: &str) -> bool {
        found.trim() == self.0.verification_token
    }

    fn event(&self, kind: DomainEventKind) -> DomainEvent {
        DomainEvent::CustomDomain {
            org_id: self.0.org_id,
            kind,
            domain: self.0.domain.as_str().to_owned(),
        }
    }

    /// This claim, cleared because another org verified the domain (§14): the caller deletes
    /// the row and records the event with the `system` actor in this claim's org.
    pub fn cleared_by_verification(&self) -> DomainEvent {
        self.event(DomainEventKind::Deleted)
    }
}

impl Access {
    /// The first step of `POST …/domain` (§14): `org.settings.manage`, the tier feature
    /// `allow_custom_domain`, the active-org gate, then the syntax.
    pub fn custom_domain_request(&self, input: &str, features: &Features) -> Result<DomainName, DomainError> {
        self.authorize(|p| p.need(Capability::OrgSettingsManage))?;
        features.gate(Feature::CustomDomain)?;
        self.gate()?;
        DomainName::parse(input)
    }

    /// Sets the org's domain (§14). Re-setting the current domain changes nothing (no event,
    /// same token and state); another domain replaces the claim with `token` and resets
    /// verification. `verified_elsewhere`: another live org holds `domain` verified → 409.
    pub fn set_custom_domain(
        &self,
        current: Option<&CustomDomain>,
        domain: DomainName,
        verified_elsewhere: bool,
        features: &Features,
        token: String,
        now: DateTime<Utc>,
    ) -> Result<(CustomDomain, Outcome), DomainError> {
        let principal = self.authorize(|p| p.need(Capability::OrgSettingsManage))?;
        features.gate(Feature::CustomDomain)?;
        self.gate()?;
        let current = current.filter(|c| c.org_id() == self.org_id());
        if let Some(c) = current
            && c.domain() == &domain
        {
            return Ok((
                c.clone(),
                Outcome {
                    principal,
                    events: Vec::new(),
                },
            ));
        }
        if verified_elsewhere {
            return Err(DomainError::DomainNotAvailable);
        }
        let claim = CustomDomain(CustomDomainRecord {
            org_id: self.org_id(),
            domain,
            verification_token: token,
            verified_at: None,
            verification_method: None,
            created_at: current.map_or(now, |c| c.0.created_at),
            updated_at: now,
            version: current.map_or(0, |c| c.0.version),
        });
        let event = claim.event(DomainEventKind::Set);
        Ok((
            claim,
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// The first step of `POST …/domain/verify`: `org.settings.manage`, the active-org gate,
    /// then a domain must be set (400 `BAD_REQUEST`).
    pub fn verification_target<'c>(&self, current: Option<&'c CustomDomain>) -> Result<&'c CustomDomain, DomainError> {
        self.require_mutable(Capability::OrgSettingsManage)?;
        current
            .filter(|c| c.org_id() == self.org_id())
            .ok_or(DomainError::NoCustomDomain)
    }

    /// Records a successful verification of the org's claim (§14). Already verified → no
    /// event. The caller clears the other orgs' claims in the same commit.
    pub fn mark_domain_verified(
        &self,
        claim: &mut CustomDomain,
        method: VerificationMethod,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let principal = self.require_mutable(Capability::OrgSettingsManage)?;
        if claim.org_id() != self.org_id() {
            return Err(DomainError::NoCustomDomain);
        }
        if claim.is_verified() {
            return Ok(Outcome {
                principal,
                events: Vec::new(),
            });
        }
        claim.0.verified_at = Some(now);
        claim.0.verification_method = Some(method);
        claim.0.updated_at = now;
        Ok(Outcome {
            principal,
            events: vec![claim.event(DomainEventKind::Verified(method))],
        })
    }

    /// Deletes the org's claim (§14); none set → nothing changes, no event (§1.7).
    pub fn delete_custom_domain(&self, current: Option<&CustomDomain>) -> Result<Outcome, DomainError> {
        let principal: Principal = self.require_mutable(Capability::OrgSettingsManage)?;
        let events = current
            .filter(|c| c.org_id() == self.org_id())
            .map(|c| vec![c.event(DomainEventKind::Deleted)])
            .unwrap_or_default();
        Ok(Outcome { principal, events })
    }
}
