//! Settings the use cases read (contract §21.8).

use chrono::Duration;
use org_domain::mail::SmtpConfig;
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
    /// How long a worker holds claimed work (a webhook delivery, a mail) before another may
    /// take it.
    pub worker_lease: Duration,
    /// Base of this server's own links (the e-mail link redirect of §6.4).
    pub public_base_url: String,
    /// The web client invitation links point at (§6.2), if any.
    pub web_client_url: Option<String>,
    /// The platform SMTP server (`smtp.*`), used for orgs without their own (§13).
    pub platform_smtp: Option<SmtpConfig>,
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
            public_base_url: "http://127.0.0.1:8080".to_owned(),
            web_client_url: None,
            platform_smtp: None,
        }
    }
}

impl AppConfig {
    /// A configured tier.
    pub fn tier(&self, id: &TierId) -> Option<&Tier> {
        self.tiers.iter().find(|t| &t.id == id)
    }
}
