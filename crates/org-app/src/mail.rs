//! Org mail: the SMTP settings use cases (§13), the invitation e-mail written to the mail
//! outbox in the transaction that causes it (§6.2, §1.7), and the send step the mail worker
//! runs after commit: the org's SMTP server, else the platform's, else the mail is skipped.

use std::sync::Arc;

use org_domain::mail::{Mail, MailOutcome, MailStatus, NewMail, SmtpConfig, SmtpDraft, SmtpSettings};
use org_domain::{Capability, Invitation, InvitationStatus, MailId, OrgId, Organization, User};
use org_ports::{Changeset, Mailer, OutgoingMail};

use crate::AppError;
use crate::core::{Core, Decision};
use crate::outbound::UrlError;
use crate::record::{Caller, RequestMeta};

/// What one mail worker pass did, for metrics (`emails_sent_total{outcome}`, §21.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailReport {
    pub sent: u32,
    /// Failed attempts that will be retried.
    pub attempt_failed: u32,
    /// Mails that failed for good (every attempt used).
    pub failed: u32,
    /// Mails not sent: no SMTP server configured, or the invitation moved on.
    pub skipped: u32,
    /// Mails skipped because neither the org nor the platform has an SMTP server (to log).
    pub no_smtp: Vec<(MailId, OrgId)>,
    /// Failed attempts and their failure class (to log; never a secret).
    pub errors: Vec<(MailId, String)>,
}

/// Why a mail is skipped when no server is configured (also its `last_error`).
pub const NO_SMTP: &str = "no SMTP server configured";

fn host_error(e: UrlError) -> AppError {
    let message = match e {
        UrlError::Invalid(m) => m,
        UrlError::Denied(ip) => format!("the address {ip} is not allowed (private, loopback or reserved)"),
        UrlError::DeniedName => "localhost names are not allowed".to_owned(),
    };
    AppError::invalid("host", message)
}

impl crate::webhooks::Outbound {
    /// §9.3 for an SMTP host at set time: an IP literal (any spelling) or every address a name
    /// resolves to now must be allowed; a name that does not resolve yet is accepted.
    pub async fn check_host(&self, host: &str, port: u16) -> Result<(), AppError> {
        match self.guard.check_host(host, port).map_err(host_error)? {
            crate::outbound::Target::Ip(..) => Ok(()),
            crate::outbound::Target::Name(name, port) => {
                for ip in self.resolver.resolve(&name, port).await {
                    if !self.guard.ip_allowed(ip) {
                        return Err(host_error(UrlError::Denied(ip)));
                    }
                }
                Ok(())
            }
        }
    }
}

/// The accept link of §6.2: `<web_client_url>/invitations/accept?token=…`; without a web
/// client, the e-mail link redirect of this server (`<public_base_url>/invitations/accept/…`,
/// §6.4), which forwards there once `web_client_url` is set.
pub(crate) fn accept_link(core: &Core, token: &str) -> String {
    match &core.config.web_client_url {
        Some(web) => format!("{}/invitations/accept?token={token}", web.trim_end_matches('/')),
        None => format!(
            "{}/invitations/accept/{token}",
            core.config.public_base_url.trim_end_matches('/')
        ),
    }
}

/// The invitation e-mail for `invitation` with its plaintext `token`, pending from now.
pub(crate) fn invitation_mail(
    core: &Core,
    org: &Organization,
    invitation: &Invitation,
    inviter: &User,
    token: &str,
) -> Mail {
    let r = invitation.record();
    let link = accept_link(core, token);
    let org_name = org.state().name.as_str();
    let body = format!(
        "Hello,\r\n\r\n{inviter} has invited you to join {org_name} as {role}.\r\n\r\n\
         Accept the invitation:\r\n{link}\r\n\r\n\
         The invitation expires on {expires} (UTC). If you did not expect it, ignore this e-mail.\r\n",
        inviter = inviter.email().as_str(),
        role = r.role,
        expires = r.expires_at.format("%Y-%m-%d %H:%M"),
    );
    Mail::new(
        NewMail {
            id: MailId::from_uuid(core.new_uuid()),
            org_id: org.id(),
            invitation_id: Some(r.id),
            token_hash: Some(r.token_hash),
            recipient: r.email.clone(),
            subject: format!("You are invited to join {org_name}"),
            body,
        },
        core.now(),
    )
}

service! {
    /// Org SMTP settings (§13) and the mail outbox's send step.
    MailService
}

impl MailService {
    /// `POST …/smtp`: every field rule, the SSRF guard on the host, then the upsert. Settings
    /// equal to the stored ones (password included) write nothing (§1.7).
    pub async fn set_smtp(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        draft: SmtpDraft,
    ) -> Result<(), AppError> {
        let core = &self.core;
        let draft = &draft;
        core.mutate(caller, meta, slug, |s| async move {
            let config = s.access.smtp_input(draft)?;
            core.outbound.check_host(&config.host, config.port).await?;
            let current = core.stores.mail.smtp_settings(s.org.id()).await?;
            let (settings, outcome) = s.access.set_smtp(current.as_ref(), config, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.smtp.extend(settings);
            Ok(Decision::new(c, ()))
        })
        .await
    }

    /// `GET …/smtp`: the org's settings, `None` when unconfigured.
    pub async fn get_smtp(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
    ) -> Result<Option<SmtpSettings>, AppError> {
        let (org, _) = self
            .core
            .read(caller, meta, slug, |a| a.require(Capability::OrgSettingsManage))
            .await?;
        Ok(self.core.stores.mail.smtp_settings(org.id()).await?)
    }

    /// `DELETE …/smtp`: removing nothing is a no-op (§13).
    pub async fn delete_smtp(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<(), AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let current = core.stores.mail.smtp_settings(s.org.id()).await?;
            let outcome = s.access.remove_smtp(current.as_ref())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.removed_smtp.extend(current.filter(|_| !outcome.events.is_empty()));
            Ok(Decision::new(c, ()))
        })
        .await
    }

    /// One worker pass: claims up to `limit` due mails under `workers.lease` and attempts each
    /// once, concurrently, recording the outcomes. A mail whose lease was lost to another worker
    /// is left to it.
    pub async fn deliver_due(&self, mailer: Arc<dyn Mailer>, limit: u32) -> Result<MailReport, AppError> {
        let now = self.core.now();
        let claimed = self
            .core
            .stores
            .mail_queue
            .claim_due_mail(now, now + self.core.config.worker_lease, limit)
            .await?;
        let mut tasks = tokio::task::JoinSet::new();
        for m in claimed {
            let (service, mailer) = (self.clone(), mailer.clone());
            tasks.spawn(async move { service.attempt(&*mailer, m).await });
        }
        let mut report = MailReport::default();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(Some((m, status)))) => {
                    match status {
                        MailStatus::Sent => report.sent += 1,
                        MailStatus::Pending => report.attempt_failed += 1,
                        MailStatus::Failed => report.failed += 1,
                        MailStatus::Skipped => report.skipped += 1,
                    }
                    match (status, m.last_error) {
                        (MailStatus::Skipped, Some(e)) if e == NO_SMTP => report.no_smtp.push((m.id, m.org_id)),
                        (MailStatus::Pending | MailStatus::Failed, Some(e)) => report.errors.push((m.id, e)),
                        _ => {}
                    }
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => first_error = first_error.or(Some(e)),
                Err(e) => first_error = first_error.or(Some(AppError::Internal(format!("mail task: {e}")))),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Whether an invitation mail still stands: its invitation pending, unexpired, and still
    /// on the token the mail carries (a resend supersedes it).
    async fn still_wanted(&self, m: &Mail) -> Result<bool, AppError> {
        let Some(id) = m.invitation_id else {
            return Ok(true);
        };
        let invitation = self.core.stores.invitations.invitation_by_id(id).await?;
        Ok(invitation.is_some_and(|i| {
            i.status_at(self.core.now()) == InvitationStatus::Pending && Some(i.record().token_hash) == m.token_hash
        }))
    }

    /// The server a mail goes through: the org's, else the platform's.
    async fn server_for(&self, m: &Mail) -> Result<Option<SmtpConfig>, AppError> {
        if let Some(s) = self.core.stores.mail.smtp_settings(m.org_id).await? {
            return Ok(Some(s.config().clone()));
        }
        Ok(self.core.config.platform_smtp.clone())
    }

    async fn attempt(&self, mailer: &dyn Mailer, mut m: Mail) -> Result<Option<(Mail, MailStatus)>, AppError> {
        let core = &self.core;
        let outcome = if !self.still_wanted(&m).await? {
            MailOutcome::Skipped {
                reason: "invitation no longer pending or resent".to_owned(),
            }
        } else {
            match self.server_for(&m).await? {
                None => MailOutcome::Skipped {
                    reason: NO_SMTP.to_owned(),
                },
                Some(server) => {
                    let sent = mailer
                        .send(OutgoingMail {
                            server,
                            to: m.recipient.as_str().to_owned(),
                            subject: m.subject.clone(),
                            body: m.body.clone(),
                        })
                        .await;
                    match sent {
                        Ok(()) => MailOutcome::Sent,
                        Err(error) => MailOutcome::Failed { error },
                    }
                }
            }
        };
        let jitter = f64::from(core.tokens.random_bytes()[0]) / 256.0;
        m.record(outcome, core.now(), jitter);
        let committed = core
            .commit(Changeset {
                mails: vec![m.clone()],
                ..Default::default()
            })
            .await;
        if committed == Err(AppError::Stale) {
            return Ok(None); // the lease was lost to another worker, which owns the result now
        }
        committed?;
        let status = m.status;
        Ok(Some((m, status)))
    }

    /// The mail with this id (tests and operators).
    pub async fn mail(&self, id: MailId) -> Result<Option<Mail>, AppError> {
        Ok(self.core.stores.mail.mail(id).await?)
    }
}
