//! The capability catalogue of contract §3.2 and resolved capability sets.

use std::fmt;

/// One capability. The catalogue is closed; unknown strings are rejected at parse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    OrgSettingsManage,
    OrgMembersView,
    OrgMembersManage,
    OrgRolesManage,
    BillingManage,
    ServicesView,
    ServicesCreate,
    ServicesManage,
    EndUsersView,
    EndUsersManage,
    WebhooksManage,
    IntegrationsManage,
    AuditLogsView,
    RiskEventsView,
    RiskPoliciesManage,
    OrgDelete,
    OrgOwnershipTransfer,
    OrgAdminsManage,
    BillingCredentialsManage,
}

impl Capability {
    /// Every capability, in catalogue order.
    pub const ALL: [Capability; 19] = [
        Self::OrgSettingsManage,
        Self::OrgMembersView,
        Self::OrgMembersManage,
        Self::OrgRolesManage,
        Self::BillingManage,
        Self::ServicesView,
        Self::ServicesCreate,
        Self::ServicesManage,
        Self::EndUsersView,
        Self::EndUsersManage,
        Self::WebhooksManage,
        Self::IntegrationsManage,
        Self::AuditLogsView,
        Self::RiskEventsView,
        Self::RiskPoliciesManage,
        Self::OrgDelete,
        Self::OrgOwnershipTransfer,
        Self::OrgAdminsManage,
        Self::BillingCredentialsManage,
    ];

    /// The wire name (`org.members.manage`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrgSettingsManage => "org.settings.manage",
            Self::OrgMembersView => "org.members.view",
            Self::OrgMembersManage => "org.members.manage",
            Self::OrgRolesManage => "org.roles.manage",
            Self::BillingManage => "billing.manage",
            Self::ServicesView => "services.view",
            Self::ServicesCreate => "services.create",
            Self::ServicesManage => "services.manage",
            Self::EndUsersView => "end_users.view",
            Self::EndUsersManage => "end_users.manage",
            Self::WebhooksManage => "webhooks.manage",
            Self::IntegrationsManage => "integrations.manage",
            Self::AuditLogsView => "audit_logs.view",
            Self::RiskEventsView => "risk_events.view",
            Self::RiskPoliciesManage => "risk_policies.manage",
            Self::OrgDelete => "org.delete",
            Self::OrgOwnershipTransfer => "org.ownership.transfer",
            Self::OrgAdminsManage => "org.admins.manage",
            Self::BillingCredentialsManage => "billing.credentials.manage",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Whether a custom role may hold it (the four owner-only capabilities may not).
    pub const fn is_grantable(self) -> bool {
        !matches!(
            self,
            Self::OrgDelete | Self::OrgOwnershipTransfer | Self::OrgAdminsManage | Self::BillingCredentialsManage
        )
    }

    const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of capabilities (a bit set over the closed catalogue).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CapabilitySet(u32);

impl CapabilitySet {
    /// No capability.
    pub const EMPTY: Self = Self(0);

    /// Every capability (the owner's set).
    pub fn all() -> Self {
        Capability::ALL.into_iter().collect()
    }

    /// The 15 grantable capabilities (the admin's set).
    pub fn grantable() -> Self {
        Capability::ALL.into_iter().filter(|c| c.is_grantable()).collect()
    }

    /// Whether `cap` is in the set.
    pub const fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Adds `cap`.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// Whether every capability of `self` is in `other`.
    pub const fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every member is grantable to a custom role.
    pub fn all_grantable(self) -> bool {
        self.is_subset_of(Self::grantable())
    }

    /// The set with the implications of §3.2 applied.
    pub fn resolved(self) -> Self {
        let mut out = self;
        if self.contains(Capability::ServicesCreate) || self.contains(Capability::ServicesManage) {
            out.insert(Capability::ServicesView);
        }
        if self.contains(Capability::EndUsersManage) {
            out.insert(Capability::EndUsersView);
        }
        if self.contains(Capability::RiskPoliciesManage) {
            out.insert(Capability::RiskEventsView);
        }
        out
    }

    /// The members in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// The raw bits (for compact storage in adapters).
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = Self::EMPTY;
        for c in iter {
            set.insert(c);
        }
        set
    }
}
