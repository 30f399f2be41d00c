//! Settings the use cases read (contract §21.8).

use chrono::Duration;
use org_domain::{Tier, TierId};

/// Whether new orgs start `active` or `pending` (§4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrgApproval {
    Auto,
    Manual,
}

/// Use-case settings.
#[derive(Clone, Debug)]
pub struct AppConfig {
    pub org_approval: OrgApproval,
    pub default_tier_id: TierId,
    pub tiers: Vec<Tier>,
    pub max_orgs_per_user: u32,
    pub invitation_ttl_days: u32,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub session_max_lifetime: Duration,
    pub refresh_reuse_window: Duration,
    /// Attempts of a use case on optimistic-concurrency conflicts before answering 503.
    pub max_attempts: u32,
    /// How long a worker holds claimed work (a webhook delivery) before another may take it.
    pub worker_lease: Duration,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            org_approval: OrgApproval::Auto,
            default_tier_id: TierId::new("tier_enterprise"),
            tiers: Tier::defaults(),
            max_orgs_per_user: 10,
            invitation_ttl_days: 7,
            access_token_ttl: Duration::minutes(15),
            refresh_token_ttl: Duration::days(30),
            session_max_lifetime: Duration::days(90),
            refresh_reuse_window: Duration::seconds(30),
            max_attempts: 16,
            worker_lease: Duration::seconds(60),
        }
    }
}

impl AppConfig {
    /// A configured tier.
    pub fn tier(&self, id: &TierId) -> Option<&Tier> {
        self.tiers.iter().find(|t| &t.id == id)
    }
}
