//! Org mail (§13, §6.2): an org's SMTP settings (a singleton per org, its password write-only)
//! and the mail outbox — one row per e-mail to send after commit, with its retry schedule.
//! The password and a mail's body (it carries an invitation link) are opaque strings here;
//! adapters encrypt them at rest and `Debug` never shows them.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use crate::access::{Access, Outcome};
use crate::capability::Capability;
use crate::error::{DomainError, FieldError};
use crate::event::DomainEvent;
use crate::ids::{InvitationId, MailId, OrgId};
use crate::invitation::TokenHash;
use crate::values::Email;

/// How the SMTP connection is secured (§13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with `STARTTLS` (required, never skipped).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No TLS at all.
    None,
}

impl SmtpSecurity {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }
    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::StartTls, Self::Tls, Self::None]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
    /// The default for a port: `tls` for 465, else `starttls` (§13).
    pub const fn default_for(port: u16) -> Self {
        if port == 465 { Self::Tls } else { Self::StartTls }
    }
}

/// Body of `POST …/smtp` as received (the schema checked, the values not yet).
#[derive(Clone, Default)]
pub struct SmtpDraft {
    pub host: String,
    pub port: i64,
    pub username: String,
    pub password: String,
    pub from_email: String,
    pub from_name: Option<String>,
    pub security: Option<String>,
}

impl std::fmt::Debug for SmtpDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpDraft")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// A parsed SMTP server: where to connect, how to authenticate, whom mail is from. The org
/// settings of §13 and the platform `smtp.*` settings are both one of these.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Lower-cased host name, or an IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Empty: no AUTH.
    pub username: String,
    /// Write-only; empty only for a platform server without AUTH.
    pub password: String,
    pub from_email: Email,
    pub from_name: Option<String>,
    pub security: SmtpSecurity,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("from_email", &self.from_email)
            .field("from_name", &self.from_name)
            .field("security", &self.security)
            .finish()
    }
}

/// A host name or IP literal, at most 253 characters (§13): lower-cased, IPv6 brackets
/// dropped. Names are labels of letters, digits, `-` and `_`; the SSRF guard checks addresses.
pub fn smtp_host(input: &str) -> Result<String, FieldError> {
    let t = input.trim().to_ascii_lowercase();
    let bad = || FieldError::new("host", "must be a host name or an IP address of at most 253 characters");
    if t.is_empty() || t.chars().count() > 253 {
        return Err(bad());
    }
    let inner = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(&t);
    if let Ok(ip) = inner.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let name = t.strip_suffix('.').unwrap_or(&t);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if name.split('.').all(label_ok) {
        Ok(name.to_owned())
    } else {
        Err(bad())
    }
}

impl SmtpConfig {
    /// Applies every field rule of §13, reporting each failing field. `password_required`:
    /// the org settings need one (1–1024); the platform settings may omit it (no AUTH).
    pub fn parse(draft: &SmtpDraft, password_required: bool) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let host = smtp_host(&draft.host).map_err(|e| errors.push(e)).ok();
        let port = u16::try_from(draft.port).ok().filter(|p| *p >= 1);
        if port.is_none() {
            errors.push(FieldError::new("port", "must be between 1 and 65535"));
        }
        let username = draft.username.clone();
        if username.chars().count() > 256 || username.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "username",
                "must be at most 256 characters without control characters",
            ));
        }
        let pw_len = draft.password.chars().count();
        if pw_len > 1024 || (password_required && pw_len == 0) || draft.password.chars().any(|c| c == '\r' || c == '\n')
        {
            errors.push(FieldError::new(
                "password",
                "must be 1-1024 characters without line breaks",
            ));
        }
        let from_email = Email::parse(&draft.from_email)
            .map_err(|_| errors.push(FieldError::new("from_email", "must be a valid e-mail address")))
            .ok();
        let from_name = draft.from_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        if let Some(n) = from_name
            && (n.chars().count() > 100 || n.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "from_name",
                "must be at most 100 characters without control characters",
            ));
        }
        let security = match draft.security.as_deref() {
            None => port.map(SmtpSecurity::default_for),
            Some(s) => {
                let parsed = SmtpSecurity::parse(s);
                if parsed.is_none() {
                    errors.push(FieldError::new("security", "must be one of starttls, tls, none"));
                }
                parsed
            }
        };
        match (host, port, from_email, security) {
            (Some(host), Some(port), Some(from_email), Some(security)) if errors.is_empty() => Ok(Self {
                host,
                port,
                username,
                password: draft.password.clone(),
                from_email,
                from_name: from_name.map(str::to_owned),
                security,
            }),
            _ => Err(DomainError::Validation(errors)),
        }
    }

    /// The `From` header: `from_name <from_email>`, or the bare address without a name.
    pub fn from_header(&self) -> String {
        match &self.from_name {
            Some(name) => format!("{name} <{}>", self.from_email.as_str()),
            None => self.from_email.as_str().to_owned(),
        }
    }
}

/// SMTP facts (§23.1 `smtp.*`, §23.2 `organization.smtp.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmtpEvent {
    Configured {
        org_id: OrgId,
        host: String,
        port: u16,
        username: String,
        from_email: Email,
    },
    Removed {
        org_id: OrgId,
    },
}

/// An org's SMTP settings as stored. `Debug` never shows the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpSettingsRecord {
    pub org_id: OrgId,
    pub config: SmtpConfig,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for settings not yet stored.
    pub version: u64,
}

/// The SMTP settings of one org (§13): one per org, its own row and version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpSettings(SmtpSettingsRecord);

impl SmtpSettings {
    /// Rebuilds settings from storage.
    pub fn restore(record: SmtpSettingsRecord) -> Self {
        Self(record)
    }
    /// The stored state.
    pub fn record(&self) -> &SmtpSettingsRecord {
        &self.0
    }
    /// The org.
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    /// The server.
    pub fn config(&self) -> &SmtpConfig {
        &self.0.config
    }
    /// The same settings as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
}

impl Access {
    /// Step one of `POST …/smtp` (§1.5): `org.settings.manage` and the active-org gate, then
    /// every field rule of §13. The SSRF guard checks the host before [`Access::set_smtp`].
    pub fn smtp_input(&self, draft: &SmtpDraft) -> Result<SmtpConfig, DomainError> {
        self.require_mutable(Capability::OrgSettingsManage)?;
        SmtpConfig::parse(draft, true)
    }

    /// Upserts the org's settings. Settings equal to the stored ones (password included)
    /// change nothing: no write, no event (§1.7); `None` then.
    pub fn set_smtp(
        &self,
        current: Option<&SmtpSettings>,
        config: SmtpConfig,
        now: DateTime<Utc>,
    ) -> Result<(Option<SmtpSettings>, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::OrgSettingsManage)?;
        let current = current.filter(|s| s.org_id() == self.org_id());
        if current.is_some_and(|s| s.0.config == config) {
            return Ok((
                None,
                Outcome {
                    principal,
                    events: Vec::new(),
                },
            ));
        }
        let event = DomainEvent::Smtp(SmtpEvent::Configured {
            org_id: self.org_id(),
            host: config.host.clone(),
            port: config.port,
            username: config.username.clone(),
            from_email: config.from_email.clone(),
        });
        let settings = SmtpSettings(SmtpSettingsRecord {
            org_id: self.org_id(),
            config,
            created_at: current.map_or(now, |s| s.0.created_at),
            updated_at: now,
            version: current.map_or(0, |s| s.0.version),
        });
        Ok((
            Some(settings),
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// `DELETE …/smtp`: removing settings that are not there is a no-op (§13, §1.7).
    pub fn remove_smtp(&self, current: Option<&SmtpSettings>) -> Result<Outcome, DomainError> {
        let principal = self.require_mutable(Capability::OrgSettingsManage)?;
        let events = match current.filter(|s| s.org_id() == self.org_id()) {
            Some(_) => vec![DomainEvent::Smtp(SmtpEvent::Removed { org_id: self.org_id() })],
            None => Vec::new(),
        };
        Ok(Outcome { principal, events })
    }
}

/// Where an outbox mail stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MailStatus {
    /// Waiting for (another) attempt.
    Pending,
    Sent,
    /// Every attempt failed.
    Failed,
    /// Not sent, for good: no SMTP server configured, or the invitation moved on.
    Skipped,
}

impl MailStatus {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Failed, Self::Skipped]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Attempts per mail before it is marked failed.
pub const MAIL_MAX_ATTEMPTS: u32 = 6;

/// Delay before attempt `n + 1` after `n` failed attempts, before jitter: immediately, then
/// 10 s, 1 min, 10 min, 1 h, 4 h. `None` once all attempts are used.
pub fn mail_delay(failed_attempts: u32) -> Option<Duration> {
    let secs = match failed_attempts {
        0 => 0,
        1 => 10,
        2 => 60,
        3 => 600,
        4 => 3600,
        5 => 4 * 3600,
        _ => return None,
    };
    Some(Duration::seconds(secs))
}

/// One e-mail of the outbox: written in the transaction that causes it, sent after commit.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub id: MailId,
    pub org_id: OrgId,
    /// The invitation the mail is for: it is sent only while the invitation is pending and
    /// still has the token of `token_hash` (a resend supersedes the earlier mail).
    pub invitation_id: Option<InvitationId>,
    pub token_hash: Option<TokenHash>,
    pub recipient: Email,
    pub subject: String,
    /// The text; it carries the invitation link, so adapters encrypt it and clear it once the
    /// mail is settled.
    pub body: String,
    pub status: MailStatus,
    pub attempt_count: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("invitation_id", &self.invitation_id)
            .field("status", &self.status)
            .field("attempt_count", &self.attempt_count)
            .field("last_error", &self.last_error)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The result of one attempt, or the decision not to attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailOutcome {
    Sent,
    /// An attempt failed; `error` is the failure class (never a secret).
    Failed {
        error: String,
    },
    /// Not to be sent, for good.
    Skipped {
        reason: String,
    },
}

/// Fields of a new mail.
#[derive(Clone)]
pub struct NewMail {
    pub id: MailId,
    pub org_id: OrgId,
    pub invitation_id: Option<InvitationId>,
    pub token_hash: Option<TokenHash>,
    pub recipient: Email,
    pub subject: String,
    pub body: String,
}

impl std::fmt::Debug for NewMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMail").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Mail {
    /// A pending mail, due at `now`.
    pub fn new(new: NewMail, now: DateTime<Utc>) -> Self {
        Self {
            id: new.id,
            org_id: new.org_id,
            invitation_id: new.invitation_id,
            token_hash: new.token_hash,
            recipient: new.recipient,
            subject: new.subject,
            body: new.body,
            status: MailStatus::Pending,
            attempt_count: 0,
            next_attempt_at: Some(now),
            last_error: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// The same mail as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }

    /// Applies an attempt's outcome; `jitter` in `[0, 1)` adds up to 10 % to the next delay.
    /// A settled mail (sent, failed, skipped) drops its body.
    pub fn record(&mut self, outcome: MailOutcome, now: DateTime<Utc>, jitter: f64) {
        self.updated_at = now;
        match outcome {
            MailOutcome::Sent => {
                self.attempt_count += 1;
                self.status = MailStatus::Sent;
                self.last_error = None;
                self.next_attempt_at = None;
            }
            MailOutcome::Skipped { reason } => {
                self.status = MailStatus::Skipped;
                self.last_error = Some(reason);
                self.next_attempt_at = None;
            }
            MailOutcome::Failed { error } => {
                self.attempt_count += 1;
                self.last_error = Some(error);
                self.next_attempt_at = mail_delay(self.attempt_count).map(|base| {
                    let jitter_ms = (base.num_milliseconds() as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as i64;
                    now + base + Duration::milliseconds(jitter_ms)
                });
                if self.next_attempt_at.is_none() {
                    self.status = MailStatus::Failed;
                }
            }
        }
        if self.status != MailStatus::Pending {
            self.body.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> SmtpDraft {
        SmtpDraft {
            host: " Mail.Example.COM ".into(),
            port: 587,
            username: "mailer".into(),
            password: "s3cret".into(),
            from_email: "No-Reply@Example.com".into(),
            from_name: Some("  Acme  ".into()),
            security: None,
        }
    }

    fn fields(r: Result<SmtpConfig, DomainError>) -> Vec<String> {
        match r {
            Err(DomainError::Validation(e)) => e.into_iter().map(|f| f.field).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn a_valid_body_is_normalised_and_security_defaults_by_port() -> Result<(), DomainError> {
        let c = SmtpConfig::parse(&draft(), true)?;
        assert_eq!(
            (c.host.as_str(), c.from_email.as_str(), c.from_name.as_deref()),
            ("mail.example.com", "no-reply@example.com", Some("Acme"))
        );
        assert_eq!(c.security, SmtpSecurity::StartTls);
        assert_eq!(c.from_header(), "Acme <no-reply@example.com>");
        let tls = SmtpConfig::parse(&SmtpDraft { port: 465, ..draft() }, true).map(|c| c.security);
        assert_eq!(tls, Ok(SmtpSecurity::Tls));
        let v6 = SmtpConfig::parse(
            &SmtpDraft {
                host: "[2001:DB8::1]".into(),
                ..draft()
            },
            true,
        )
        .map(|c| c.host);
        assert_eq!(v6, Ok("2001:db8::1".to_owned()));
        Ok(())
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = SmtpDraft {
            host: "bad host!".into(),
            port: 70_000,
            username: "u".repeat(257),
            password: String::new(),
            from_email: "nope".into(),
            from_name: Some("x".repeat(101)),
            security: Some("ssl".into()),
        };
        assert_eq!(
            fields(SmtpConfig::parse(&bad, true)),
            [
                "host",
                "port",
                "username",
                "password",
                "from_email",
                "from_name",
                "security"
            ]
        );
        assert_eq!(
            fields(SmtpConfig::parse(&SmtpDraft { port: 0, ..draft() }, true)),
            ["port"]
        );
        assert_eq!(
            fields(SmtpConfig::parse(
                &SmtpDraft {
                    host: "h".repeat(254),
                    ..draft()
                },
                true
            )),
            ["host"]
        );
        assert!(
            SmtpConfig::parse(
                &SmtpDraft {
                    password: String::new(),
                    ..draft()
                },
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn debug_output_never_shows_the_password_or_a_body() -> Result<(), DomainError> {
        let c = SmtpConfig::parse(&draft(), true)?;
        assert!(!format!("{c:?} {:?}", draft()).contains("s3cret"));
        Ok(())
    }

    #[test]
    fn a_mail_is_retried_then_failed_and_a_settled_mail_drops_its_body() -> Result<(), FieldError> {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let mut m = Mail::new(
            NewMail {
                id: MailId::from_uuid(uuid::Uuid::from_u128(1)),
                org_id: OrgId::from_uuid(uuid::Uuid::from_u128(2)),
                invitation_id: None,
                token_hash: None,
                recipient: Email::parse("a@example.com")?,
                subject: "s".into(),
                body: "https://app/invitations/accept?token=inv_x".into(),
            },
            t0,
        );
        assert!(!format!("{m:?}").contains("inv_x"));
        let fail = || MailOutcome::Failed {
            error: "connect_error".into(),
        };
        for n in 1..MAIL_MAX_ATTEMPTS {
            m.record(fail(), t0, 0.0);
            assert_eq!((m.status, m.attempt_count), (MailStatus::Pending, n));
            assert_eq!(m.next_attempt_at.map(|at| at - t0), mail_delay(n));
        }
        assert!(!m.body.is_empty());
        m.record(fail(), t0, 0.0);
        assert_eq!(
            (m.status, m.next_attempt_at, m.body.as_str()),
            (MailStatus::Failed, None, "")
        );
        Ok(())
    }
}
