//! Mail ports (§13, §6.2): the org's SMTP settings, the mail outbox the mail worker claims
//! from, and the mailer that talks SMTP.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::mail::{Mail, SmtpConfig, SmtpSettings};
use org_domain::{MailId, OrgId};

use crate::error::StoreError;

/// SMTP settings and outbox reads.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MailRepository: Send + Sync {
    /// The org's SMTP settings, if configured (the password opened).
    async fn smtp_settings(&self, org: OrgId) -> Result<Option<SmtpSettings>, StoreError>;
    /// One outbox mail.
    async fn mail(&self, id: MailId) -> Result<Option<Mail>, StoreError>;
}

/// The queue the mail worker takes work from.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MailQueue: Send + Sync {
    /// Pending mails due at `now` (oldest due first, at most `limit`), each leased until
    /// `lease_until`: its `next_attempt_at` moves there and its version is bumped, atomically,
    /// so no other worker (in any process) claims it meanwhile. Returned as stored after the
    /// lease. If the worker dies, the mail is due again when the lease ends.
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Mail>, StoreError>;
}

/// One message to send through one server.
#[derive(Clone)]
pub struct OutgoingMail {
    pub server: SmtpConfig,
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("server", &self.server)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Sends mail over SMTP. Implementations apply the SSRF guard to the server's addresses
/// (§9.3) and connect only to a checked address.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// One attempt: `Ok` when the server accepted the message, else the failure class
    /// (`ssrf_denied`, `dns_error`, `connect_error`, `tls_error`, `auth_failed`, `rejected`,
    /// `timeout`, …), never a secret.
    async fn send(&self, mail: OutgoingMail) -> Result<(), String>;
}
