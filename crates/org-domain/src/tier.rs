//! Tiers, features and their defaults (§22.1). Tiers are configuration; these are the defaults.

use std::fmt;

use crate::error::DomainError;

/// A tier id such as `tier_free`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TierId(String);

impl TierId {
    /// Wraps a tier id (existence is checked against the configured catalogue).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TierId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The feature flags and limits of a tier (§22.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Features {
    pub allow_custom_domain: bool,
    pub allow_saml_idp: bool,
    pub allow_scim: bool,
    pub allow_siem: bool,
    pub allow_branding: bool,
    pub allow_passkeys: bool,
    pub social_providers: Vec<String>,
    pub max_mau: i64,
    pub allow_overage: bool,
}

/// A gated feature (§22.4): the flags this API enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    CustomDomain,
    Branding,
    Scim,
    Siem,
}

impl Feature {
    /// The key in `features` and `feature_overrides` (`allow_custom_domain`, …).
    pub const fn key(self) -> &'static str {
        match self {
            Self::CustomDomain => "allow_custom_domain",
            Self::Branding => "allow_branding",
            Self::Scim => "allow_scim",
            Self::Siem => "allow_siem",
        }
    }
    /// The name the 403 `detail` gives it (§22.4).
    pub const fn display_name(self) -> &'static str {
        match self {
            Self::CustomDomain => "Custom Domain",
            Self::Branding => "Custom Branding",
            Self::Scim => "SCIM Provisioning",
            Self::Siem => "Log Streaming (SIEM)",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

impl Features {
    /// Nothing allowed: the features of an org whose tier is not configured.
    pub fn none() -> Self {
        Self {
            allow_custom_domain: false,
            allow_saml_idp: false,
            allow_scim: false,
            allow_siem: false,
            allow_branding: false,
            allow_passkeys: false,
            social_providers: Vec::new(),
            max_mau: 0,
            allow_overage: false,
        }
    }

    /// The effective features of an org (§22.2): each of its overrides wins over its tier's
    /// value; an unknown tier (`None`) allows nothing but what the overrides grant.
    pub fn effective(tier: Option<&Tier>, overrides: Option<&FeatureOverrides>) -> Self {
        let base = tier.map_or_else(Self::none, |t| t.features.clone());
        match overrides {
            Some(o) => o.apply(&base),
            None => base,
        }
    }

    /// Whether a gated feature is on.
    pub fn allows(&self, feature: Feature) -> bool {
        match feature {
            Feature::CustomDomain => self.allow_custom_domain,
            Feature::Branding => self.allow_branding,
            Feature::Scim => self.allow_scim,
            Feature::Siem => self.allow_siem,
        }
    }

    /// The gate of §1.5 step 5: `FeatureNotInTier` (403 `FEATURE_NOT_AVAILABLE_IN_TIER`,
    /// "The feature '`<name>`' is not available on your current plan") when it is off.
    pub fn gate(&self, feature: Feature) -> Result<(), DomainError> {
        if self.allows(feature) {
            Ok(())
        } else {
            Err(DomainError::FeatureNotInTier(feature))
        }
    }
}

/// A tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    pub id: TierId,
    pub name: String,
    pub display_name: String,
    pub default_max_services: u32,
    pub default_max_users: u32,
    pub features: Features,
    pub price_cents: u32,
    pub currency: String,
}

impl Tier {
    /// The four default tiers of §22.1.
    pub fn defaults() -> Vec<Tier> {
        [
            ("tier_free", "free", "Free", (2, 3), 0, &["github"][..], 1_000),
            (
                "tier_starter",
                "starter",
                "Starter",
                (10, 10),
                4_900,
                &["github", "google"][..],
                5_000,
            ),
            (
                "tier_pro",
                "pro",
                "Pro",
                (50, 50),
                14_900,
                &["github", "google", "microsoft"][..],
                25_000,
            ),
            (
                "tier_enterprise",
                "enterprise",
                "Enterprise",
                (999_999, 999_999),
                49_900,
                &["github", "google", "microsoft", "oidc"][..],
                1_000_000,
            ),
        ]
        .into_iter()
        .map(|(id, name, display, (services, users), price, social, mau)| {
            let paid = matches!(name, "pro" | "enterprise");
            Tier {
                id: TierId::new(id),
                name: name.to_owned(),
                display_name: display.to_owned(),
                default_max_services: services,
                default_max_users: users,
                features: Features {
                    allow_custom_domain: paid,
                    allow_saml_idp: paid,
                    allow_scim: paid,
                    allow_siem: name == "enterprise",
                    allow_branding: paid,
                    allow_passkeys: true,
                    social_providers: social.iter().map(|s| (*s).to_owned()).collect(),
                    max_mau: mau,
                    allow_overage: false,
                },
                price_cents: price,
                currency: "usd".to_owned(),
            }
        })
        .collect()
    }
}

/// Per-org feature overrides set by platform owners (§22.2); `None` fields fall back to the tier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureOverrides {
    pub allow_custom_domain: Option<bool>,
    pub allow_saml_idp: Option<bool>,
    pub allow_scim: Option<bool>,
    pub allow_siem: Option<bool>,
    pub allow_branding: Option<bool>,
    pub allow_passkeys: Option<bool>,
    pub social_providers: Option<Vec<String>>,
    pub max_mau: Option<i64>,
    pub allow_overage: Option<bool>,
}

impl FeatureOverrides {
    /// The effective features: each override wins over the tier's value.
    pub fn apply(&self, tier: &Features) -> Features {
        Features {
            allow_custom_domain: self.allow_custom_domain.unwrap_or(tier.allow_custom_domain),
            allow_saml_idp: self.allow_saml_idp.unwrap_or(tier.allow_saml_idp),
            allow_scim: self.allow_scim.unwrap_or(tier.allow_scim),
            allow_siem: self.allow_siem.unwrap_or(tier.allow_siem),
            allow_branding: self.allow_branding.unwrap_or(tier.allow_branding),
            allow_passkeys: self.allow_passkeys.unwrap_or(tier.allow_passkeys),
            social_providers: self
                .social_providers
                .clone()
                .unwrap_or_else(|| tier.social_providers.clone()),
            max_mau: self.max_mau.unwrap_or(tier.max_mau),
            allow_overage: self.allow_overage.unwrap_or(tier.allow_overage),
        }
    }
}
