//! Branding (§15): an org's logo and primary colour, its own singleton aggregate (one row per
//! org, absent until first set), gated by the tier feature `allow_branding`.

use chrono::{DateTime, Utc};

use crate::access::{Access, Outcome};
use crate::capability::Capability;
use crate::error::DomainError;
use crate::event::{Change, DomainEvent};
use crate::ids::OrgId;
use crate::tier::{Feature, Features};

/// The state of an org's branding, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrandingRecord {
    pub org_id: OrgId,
    /// An absolute `https` URL, at most 2048 characters, without user-info.
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb`, lower-case.
    pub primary_color: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for a branding not yet stored.
    pub version: u64,
}

/// An org's branding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branding(BrandingRecord);

/// `PATCH …/branding`: `None` = absent (unchanged), `Some(None)` = cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrandingUpdate {
    pub logo_url: Option<Option<String>>,
    pub primary_color: Option<Option<String>>,
}

impl Branding {
    /// Rebuilds a branding from storage.
    pub fn restore(record: BrandingRecord) -> Self {
        Self(record)
    }
    /// The branding of an org that has never set one: both fields `null`, not stored.
    pub fn unset(org_id: OrgId, now: DateTime<Utc>) -> Self {
        Self(BrandingRecord {
            org_id,
            logo_url: None,
            primary_color: None,
            updated_at: now,
            version: 0,
        })
    }
    /// The stored state.
    pub fn record(&self) -> &BrandingRecord {
        &self.0
    }
    /// The same branding as stored under another version.
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    pub fn logo_url(&self) -> Option<&str> {
        self.0.logo_url.as_deref()
    }
    pub fn primary_color(&self) -> Option<&str> {
        self.0.primary_color.as_deref()
    }
}

/// A logo URL (§15): absolute `https`, at most 2048 characters, no user-info, no whitespace
/// or control characters, a non-empty host.
pub fn logo_url(input: &str) -> Result<String, DomainError> {
    let bad = |m: &str| DomainError::invalid("logo_url", m);
    if input.chars().count() > 2048 {
        return Err(bad("must be at most 2048 characters"));
    }
    if input.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("must be an absolute https URL"));
    }
    let Some(scheme_end) = input.find("://") else {
        return Err(bad("must be an absolute https URL"));
    };
    if !input[..scheme_end].eq_ignore_ascii_case("https") {
        return Err(bad("must use https"));
    }
    let rest = &input[scheme_end + 3..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad("must not contain user-info"));
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    if host.is_empty() || host.starts_with('.') {
        return Err(bad("must name a host"));
    }
    Ok(input.to_owned())
}

/// A primary colour (§15): `#rgb` or `#rrggbb`, hex in any case, kept lower-case.
pub fn primary_color(input: &str) -> Result<String, DomainError> {
    let hex = input.strip_prefix('#').unwrap_or("");
    if input.starts_with('#') && matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(input.to_ascii_lowercase())
    } else {
        Err(DomainError::invalid("primary_color", "must be #rgb or #rrggbb (hex)"))
    }
}

impl Access {
    /// Updates the org's branding (§15): `org.settings.manage`, the tier feature
    /// `allow_branding`, the active-org gate, then every field (each error names its field).
    /// Nothing changes → no event (§1.7). `branding` is the stored one or
    /// [`Branding::unset`].
    pub fn update_branding(
        &self,
        branding: &mut Branding,
        upd: &BrandingUpdate,
        features: &Features,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let principal = self.authorize(|p| p.need(Capability::OrgSettingsManage))?;
        features.gate(Feature::Branding)?;
        self.gate()?;
        if branding.org_id() != self.org_id() {
            return Err(DomainError::NotFound);
        }
        let mut errors = Vec::new();
        let logo = match &upd.logo_url {
            Some(Some(u)) => logo_url(u).map(|u| Some(Some(u))).unwrap_or_else(|e| {
                errors.push(e);
                None
            }),
            other => other.clone(),
        };
        let color = match &upd.primary_color {
            Some(Some(c)) => primary_color(c).map(|c| Some(Some(c))).unwrap_or_else(|e| {
                errors.push(e);
                None
            }),
            other => other.clone(),
        };
        if !errors.is_empty() {
            let fields = errors
                .into_iter()
                .flat_map(|e| match e {
                    DomainError::Validation(f) => f,
                    _ => Vec::new(),
                })
                .collect();
            return Err(DomainError::Validation(fields));
        }
        let mut changes = Vec::new();
        if let Some(new) = logo {
            changes.extend(Change::of("logo_url", branding.0.logo_url.clone(), new.clone()));
            branding.0.logo_url = new;
        }
        if let Some(new) = color {
            changes.extend(Change::of(
                "primary_color",
                branding.0.primary_color.clone(),
                new.clone(),
            ));
            branding.0.primary_color = new;
        }
        if changes.is_empty() {
            return Ok(Outcome {
                principal,
                events: Vec::new(),
            });
        }
        branding.0.updated_at = now;
        Ok(Outcome {
            principal,
            events: vec![DomainEvent::BrandingUpdated {
                org_id: branding.0.org_id,
                changes,
                logo_url: branding.0.logo_url.clone(),
                primary_color: branding.0.primary_color.clone(),
            }],
        })
    }
}
