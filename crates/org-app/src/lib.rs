//! org-app: the use cases of org-server. Each one resolves the caller against the org,
//! authorizes (§1.5), loads, lets the domain decide, and commits state + audit + events in one
//! unit of work, retrying optimistic-concurrency conflicts a bounded number of times.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Evaluates the async block `$body` until it stops failing with [`AppError::Stale`], at most
/// `max_attempts` times (then 503). A macro rather than a closure-taking function so the use
/// cases stay `Send` futures.
macro_rules! retrying {
    ($app:expr, $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            match $body.await {
                Err($crate::AppError::Stale) => {
                    attempt += 1;
                    if attempt >= $app.config().max_attempts {
                        break Err($crate::AppError::Unavailable(
                            "too many concurrent changes; retry".to_owned(),
                        ));
                    }
                    $crate::orgs::backoff(attempt).await;
                }
                other => break other,
            }
        }
    }};
}

mod audit;
mod catalogue;
mod config;
mod error;
mod invitations;
mod members;
pub(crate) mod orgs;
pub mod outbound;
pub mod platform;
mod record;
mod redact;
mod refresh;
pub mod roles;
mod service_access;
mod sessions;
pub mod signing;
pub mod system;
mod users;
pub mod webhooks;

use std::sync::Arc;

use org_ports::{Clock, IdGenerator, Stores, TokenIssuer};

pub use catalogue::{AUDIT_ACTIONS, AuditActionInfo, WEBHOOK_EVENT_TYPES, WebhookTypeInfo};
pub use config::{AppConfig, OrgApproval};
pub use error::AppError;
pub use invitations::{CreatedInvitation, InvitationView, MyInvitation};
pub use members::{MemberFilter, MemberList, MemberView, TransferTarget};
pub use orgs::{CreatedOrg, OrgView, SelectedOrg};
pub use record::{Caller, RequestMeta};
pub use redact::redact;
pub use service_access::ServiceAccess;
pub use sessions::{IssuedSession, RefreshOutcome, SessionScope};

/// The application: every use case, over the ports.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    stores: Stores,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    tokens: Arc<dyn TokenIssuer>,
    config: AppConfig,
    denied: record::DeniedLimiter,
    outbound: webhooks::Outbound,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// Wires the use cases to their ports.
    pub fn new(
        stores: Stores,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        tokens: Arc<dyn TokenIssuer>,
        config: AppConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                stores,
                clock,
                ids,
                tokens,
                config,
                denied: record::DeniedLimiter::default(),
                outbound: webhooks::Outbound::default(),
            }),
        }
    }

    /// Sets the SSRF guard and resolver used to check webhook URLs (call right after `new`;
    /// a clone shares the settings it was made with).
    pub fn with_outbound(mut self, outbound: webhooks::Outbound) -> Self {
        if let Some(inner) = std::sync::Arc::get_mut(&mut self.inner) {
            inner.outbound = outbound;
        }
        self
    }

    /// The configuration.
    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }

    /// The ports (read side is used by adapters for lookups such as the auth check).
    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// Number of `authorization.denied` entries suppressed by the once-per-minute rule (§1.5).
    pub fn denied_suppressed_total(&self) -> u64 {
        self.inner.denied.suppressed()
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    fn new_uuid(&self) -> uuid::Uuid {
        self.inner.ids.new_id()
    }
}
