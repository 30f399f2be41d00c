//! Org mail (§13, §6.2): the SMTP settings use cases and the invitation e-mail, written to the
//! mail outbox with the invitation and sent after commit by the worker step — through the org's
//! server, else the platform's, else skipped — with retries, a final failure and leases.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use org_app::{AppConfig, AppError, MailReport};
use org_domain::mail::{MAIL_MAX_ATTEMPTS, SmtpConfig, SmtpDraft, SmtpSecurity};
use org_domain::{Capability, DomainError};
use org_ports::{AuditLog, Mailer, OutgoingMail};

use crate::support::{World, invalid_fields, meta, missing};

/// A mail server that answers from a script (`Ok` once the script is empty) and records
/// every message.
#[derive(Default)]
struct Outbox {
    script: Mutex<Vec<Result<(), String>>>,
    seen: Mutex<Vec<OutgoingMail>>,
}

impl Outbox {
    fn failing(times: usize) -> Self {
        Self {
            script: Mutex::new(vec![Err("connect_error".to_owned()); times]),
            seen: Mutex::default(),
        }
    }
    fn to(&self, address: &str) -> Vec<OutgoingMail> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to == address)
            .cloned()
            .collect()
    }
}

#[async_trait::async_trait]
impl Mailer for Outbox {
    async fn send(&self, mail: OutgoingMail) -> Result<(), String> {
        self.seen.lock().unwrap().push(mail);
        let mut script = self.script.lock().unwrap();
        if script.is_empty() { Ok(()) } else { script.remove(0) }
    }
}

fn draft(host: &str) -> SmtpDraft {
    SmtpDraft {
        host: host.into(),
        port: 587,
        username: "acme-mailer".into(),
        password: "hunter2-secret".into(),
        from_email: "invites@acme.example.com".into(),
        from_name: Some("Acme Invites".into()),
        security: None,
    }
}

fn platform_smtp() -> SmtpConfig {
    SmtpConfig::parse(
        &SmtpDraft {
            host: "smtp.platform.example.com".into(),
            port: 465,
            username: String::new(),
            password: String::new(),
            from_email: "noreply@platform.example.com".into(),
            from_name: None,
            security: None,
        },
        false,
    )
    .unwrap()
}

async fn invite(w: &World, email: &str) -> String {
    w.app
        .invitations
        .create(&w.owner, &meta(), "acme", email, None, None)
        .await
        .unwrap()
        .token
}

async fn pass(w: &World, mailer: &Arc<Outbox>) -> MailReport {
    w.app.mail.deliver_due(mailer.clone(), 64).await.unwrap()
}

#[tokio::test]
async fn smtp_settings_are_set_read_and_removed_with_audit_and_events() {
    let w = World::new().await;
    assert_eq!(w.app.mail.get_smtp(&w.owner, &meta(), "acme").await, Ok(None));
    let before = w.acme_log().await.len();
    w.app
        .mail
        .set_smtp(&w.owner, &meta(), "acme", draft("smtp.acme.example.com"))
        .await
        .unwrap();
    let got = w
        .app
        .mail
        .get_smtp(&w.admin, &meta(), "acme")
        .await
        .unwrap()
        .expect("configured");
    let c = got.config();
    assert_eq!(
        (c.host.as_str(), c.port, c.security, c.from_header()),
        (
            "smtp.acme.example.com",
            587,
            SmtpSecurity::StartTls,
            "Acme Invites <invites@acme.example.com>".to_owned()
        )
    );
    let entries = w.entries(AuditLog::Org(w.org_id("acme").await)).await;
    let configured = entries
        .iter()
        .find(|e| e.entry.action == "smtp.configured")
        .expect("audited");
    assert_eq!(
        configured.entry.metadata,
        Some(
            serde_json::json!({"host": "smtp.acme.example.com", "port": 587, "username": "acme-mailer",
                                "from_email": "invites@acme.example.com"})
        )
    );
    assert!(
        !format!("{:?}", configured.entry.metadata).contains("hunter2"),
        "the password is never audited"
    );
    let events = w.org_events("acme").await;
    let event = events
        .iter()
        .find(|e| e.event_type == "organization.smtp.configured")
        .expect("emitted");
    assert_eq!(
        event.data,
        serde_json::json!({"host": "smtp.acme.example.com", "port": 587, "from_email": "invites@acme.example.com"})
    );

    // The same settings again change nothing (§1.7); another value is a new configuration.
    w.app
        .mail
        .set_smtp(&w.owner, &meta(), "acme", draft("smtp.acme.example.com"))
        .await
        .unwrap();
    assert_eq!(
        w.acme_log().await.len(),
        before + 1,
        "an identical upsert writes no audit entry"
    );
    let other_password = SmtpDraft {
        password: "another".into(),
        ..draft("smtp.acme.example.com")
    };
    w.app
        .mail
        .set_smtp(&w.owner, &meta(), "acme", other_password)
        .await
        .unwrap();
    assert_eq!(w.acme_log().await.len(), before + 2, "a new password is a change");

    w.app.mail.delete_smtp(&w.owner, &meta(), "acme").await.unwrap();
    assert_eq!(w.app.mail.get_smtp(&w.owner, &meta(), "acme").await, Ok(None));
    assert_eq!(w.acme_log().await.last().map(String::as_str), Some("smtp.removed"));
    assert!(
        w.event_types("acme")
            .await
            .contains(&"organization.smtp.removed".to_owned())
    );
    w.app.mail.delete_smtp(&w.owner, &meta(), "acme").await.unwrap();
    assert_eq!(w.acme_log().await.len(), before + 3, "removing nothing is a no-op");
}

#[tokio::test]
async fn smtp_settings_need_the_capability_valid_fields_and_an_allowed_host() {
    let w = World::new().await;
    let denied = w
        .app
        .mail
        .set_smtp(&w.member, &meta(), "acme", draft("smtp.acme.example.com"))
        .await;
    assert_eq!(denied, Err(missing(Capability::OrgSettingsManage)));
    assert_eq!(
        w.app.mail.get_smtp(&w.member, &meta(), "acme").await,
        Err(missing(Capability::OrgSettingsManage))
    );
    assert_eq!(
        w.app.mail.delete_smtp(&w.member, &meta(), "acme").await,
        Err(missing(Capability::OrgSettingsManage))
    );
    let bad = SmtpDraft {
        port: 0,
        from_email: "not-an-address".into(),
        security: Some("ssl".into()),
        ..draft("smtp.acme.example.com")
    };
    let e = w.app.mail.set_smtp(&w.owner, &meta(), "acme", bad).await.unwrap_err();
    assert_eq!(invalid_fields(&e), ["port", "from_email", "security"]);
    for host in [
        "127.0.0.1",
        "2130706433",
        "10.0.0.5",
        "[::1]",
        "169.254.169.254",
        "localhost",
    ] {
        let e = w
            .app
            .mail
            .set_smtp(&w.owner, &meta(), "acme", draft(host))
            .await
            .unwrap_err();
        assert_eq!(invalid_fields(&e), ["host"], "{host}");
    }
    assert_eq!(
        w.app.mail.get_smtp(&w.owner, &meta(), "acme").await,
        Ok(None),
        "nothing was stored"
    );
}

#[tokio::test]
async fn an_invitation_mail_goes_through_the_orgs_server_with_the_accept_link() {
    let w = World::with(AppConfig {
        web_client_url: Some("https://app.acme.example.com/".into()),
        platform_smtp: Some(platform_smtp()),
        ..AppConfig::default()
    })
    .await;
    w.app
        .mail
        .set_smtp(&w.owner, &meta(), "acme", draft("smtp.acme.example.com"))
        .await
        .unwrap();
    let token = invite(&w, "new@example.com").await;
    let outbox = Arc::new(Outbox::default());
    let report = pass(&w, &outbox).await;
    let sent = outbox.to("new@example.com");
    assert_eq!(sent.len(), 1, "{report:?}");
    let m = &sent[0];
    assert_eq!(m.server.host, "smtp.acme.example.com", "the org's server wins");
    assert_eq!(m.server.from_header(), "Acme Invites <invites@acme.example.com>");
    assert_eq!(m.server.password, "hunter2-secret");
    assert!(m.subject.contains("Acme Inc"), "{}", m.subject);
    let link = format!("https://app.acme.example.com/invitations/accept?token={token}");
    assert!(m.body.contains(&link), "{}", m.body);
    assert!(report.sent >= 1 && report.failed == 0);
    assert_eq!(pass(&w, &outbox).await.sent, 0, "sent once");
}

#[tokio::test]
async fn without_an_org_server_the_platform_server_sends_and_without_either_the_mail_is_skipped() {
    let w = World::with(AppConfig {
        platform_smtp: Some(platform_smtp()),
        public_base_url: "https://id.example.com".into(),
        ..AppConfig::default()
    })
    .await;
    let token = invite(&w, "new@example.com").await;
    let outbox = Arc::new(Outbox::default());
    pass(&w, &outbox).await;
    let sent = outbox.to("new@example.com");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].server.from_header(), "noreply@platform.example.com");
    let link = format!("https://id.example.com/invitations/accept/{token}");
    assert!(
        sent[0].body.contains(&link),
        "without web_client_url the server's redirect: {}",
        sent[0].body
    );

    let bare = World::new().await;
    invite(&bare, "new@example.com").await;
    let report = pass(&bare, &outbox).await;
    assert!(report.skipped >= 1 && report.sent == 0, "{report:?}");
    assert!(!report.no_smtp.is_empty(), "the skip is reported for the log");
    assert_eq!(outbox.to("new@example.com").len(), 1, "nothing more was sent");
    assert_eq!(
        pass(&bare, &outbox).await,
        MailReport::default(),
        "a skipped mail is settled"
    );
}

#[tokio::test]
async fn a_failing_server_is_retried_with_backoff_then_the_mail_fails() {
    let w = World::with(AppConfig {
        platform_smtp: Some(platform_smtp()),
        ..AppConfig::default()
    })
    .await;
    invite(&w, "new@example.com").await;
    // Settle the setup's mails first (their invitations were accepted: skipped).
    let outbox = Arc::new(Outbox::failing(MAIL_MAX_ATTEMPTS as usize));
    let first = pass(&w, &outbox).await;
    assert_eq!((first.attempt_failed, first.sent), (1, 0), "{first:?}");
    assert_eq!(
        first.errors.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>(),
        ["connect_error"]
    );
    assert_eq!(
        pass(&w, &outbox).await,
        MailReport::default(),
        "not due before its backoff"
    );
    let mut last = MailReport::default();
    for _ in 1..MAIL_MAX_ATTEMPTS {
        w.advance(Duration::hours(5));
        last = pass(&w, &outbox).await;
    }
    assert_eq!(last.failed, 1, "{last:?}");
    assert_eq!(outbox.to("new@example.com").len(), MAIL_MAX_ATTEMPTS as usize);
    w.advance(Duration::days(1));
    assert_eq!(
        pass(&w, &outbox).await,
        MailReport::default(),
        "a failed mail is never retried"
    );
}

#[tokio::test]
async fn a_resend_supersedes_the_earlier_mail_and_a_cancelled_invitation_sends_nothing() {
    let w = World::with(AppConfig {
        platform_smtp: Some(platform_smtp()),
        ..AppConfig::default()
    })
    .await;
    let made = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "new@example.com", None, None)
        .await
        .unwrap();
    let id = made.view.invitation.record().id.to_string();
    let resent = w.app.invitations.resend(&w.owner, &meta(), "acme", &id).await.unwrap();
    let outbox = Arc::new(Outbox::default());
    pass(&w, &outbox).await;
    let sent = outbox.to("new@example.com");
    assert_eq!(sent.len(), 1, "only the resent mail");
    assert!(sent[0].body.contains(&resent.token) && !sent[0].body.contains(&made.token));

    let other = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "gone@example.com", None, None)
        .await
        .unwrap();
    let id = other.view.invitation.record().id.to_string();
    w.app.invitations.cancel(&w.owner, &meta(), "acme", &id).await.unwrap();
    pass(&w, &outbox).await;
    assert!(outbox.to("gone@example.com").is_empty());
}

#[tokio::test]
async fn two_workers_never_send_one_mail_twice() {
    let w = World::with(AppConfig {
        platform_smtp: Some(platform_smtp()),
        ..AppConfig::default()
    })
    .await;
    for i in 0..10 {
        invite(&w, &format!("new{i}@example.com")).await;
    }
    let outbox = Arc::new(Outbox::default());
    let sibling = w.sibling();
    let (a, b) = tokio::join!(
        w.app.mail.deliver_due(outbox.clone(), 64),
        sibling.mail.deliver_due(outbox.clone(), 64)
    );
    assert_eq!(a.unwrap().sent + b.unwrap().sent, 10);
    for i in 0..10 {
        assert_eq!(outbox.to(&format!("new{i}@example.com")).len(), 1);
    }
}

#[tokio::test]
async fn the_invitation_and_its_mail_commit_together() {
    let w = World::with(AppConfig {
        platform_smtp: Some(platform_smtp()),
        ..AppConfig::default()
    })
    .await;
    // A refused invitation (a member's address) writes no mail.
    let e = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", "member@acme.test", None, None)
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Domain(DomainError::AlreadyMember)), "{e:?}");
    let outbox = Arc::new(Outbox::default());
    pass(&w, &outbox).await;
    assert!(outbox.to("member@acme.test").is_empty());
}

#[tokio::test]
async fn a_suspended_org_reads_its_settings_but_cannot_change_them() {
    let w = World::new().await;
    w.app
        .mail
        .set_smtp(&w.owner, &meta(), "acme", draft("smtp.acme.example.com"))
        .await
        .unwrap();
    w.app
        .platform
        .lifecycle(
            &w.platform,
            &meta(),
            "acme",
            org_app::platform::Lifecycle::Suspend { reason: None },
        )
        .await
        .unwrap();
    let inactive = AppError::Domain(DomainError::OrgNotActive(org_domain::OrgStatus::Suspended));
    assert_eq!(
        w.app
            .mail
            .set_smtp(&w.owner, &meta(), "acme", draft("mx.acme.example.com"))
            .await,
        Err(inactive.clone())
    );
    assert_eq!(w.app.mail.delete_smtp(&w.owner, &meta(), "acme").await, Err(inactive));
    let kept = w.app.mail.get_smtp(&w.owner, &meta(), "acme").await.unwrap();
    assert_eq!(
        kept.map(|s| s.config().host.clone()),
        Some("smtp.acme.example.com".to_owned())
    );
}

/// Resolves every name to one address.
struct ResolvesTo(std::net::IpAddr);

#[async_trait::async_trait]
impl org_ports::Resolver for ResolvesTo {
    async fn resolve(&self, _host: &str, _port: u16) -> Vec<std::net::IpAddr> {
        vec![self.0]
    }
}

#[tokio::test]
async fn a_host_name_that_resolves_to_a_private_address_is_refused_unless_allowed() {
    let w = World::new().await;
    let private = org_app::webhooks::Outbound {
        guard: org_app::outbound::Guard::default(),
        resolver: Arc::new(ResolvesTo("10.0.0.7".parse().unwrap())),
    };
    let app = w.app.clone().with_outbound(private.clone());
    let e = app
        .mail
        .set_smtp(&w.owner, &meta(), "acme", draft("smtp.internal.example.com"))
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(&e), ["host"]);
    let allowed = org_app::webhooks::Outbound {
        guard: org_app::outbound::Guard {
            allowed_private: vec!["10.0.0.0/24".parse().unwrap()],
            allow_http: false,
        },
        ..private
    };
    let app = w.app.clone().with_outbound(allowed);
    app.mail
        .set_smtp(&w.owner, &meta(), "acme", draft("smtp.internal.example.com"))
        .await
        .unwrap();
}
