//! The SMTP mailer (§13, §9.3): resolves the server once with the system resolver (or
//! `outbound.dns_overrides`), checks every address with the SSRF guard, connects only to a
//! checked address (TLS still verifies the configured host name), secures the connection as
//! configured (`starttls` required, `tls` from the first byte, or `none`), authenticates when a
//! username is set, 15 s timeout per command. Failures are reported as a class, never with a
//! secret.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use org_app::outbound::{Guard, Target, UrlError};
use org_domain::mail::{SmtpConfig, SmtpSecurity};
use org_ports::{Mailer, OutgoingMail, Resolver};

/// Sends mail over SMTP.
pub struct SmtpMailer {
    guard: Guard,
    resolver: Arc<dyn Resolver>,
    /// PEM certificates trusted besides the system roots (`outbound.extra_root_certificates`).
    extra_roots: Vec<Vec<u8>>,
    /// The EHLO name: this server's public host name (`public_base_url`), else `localhost`.
    hello: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("guard", &self.guard)
            .field("extra_roots", &self.extra_roots.len())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer with the guard and resolver of the outbound settings and extra trusted roots
    /// (PEM text, each checked here so a bad file refuses the start).
    pub fn new(guard: Guard, resolver: Arc<dyn Resolver>, extra_roots: Vec<Vec<u8>>) -> Result<Self, String> {
        crate::sender::install_tls();
        for (i, pem) in extra_roots.iter().enumerate() {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("outbound.extra_root_certificates[{i}]: {e}"))?;
            if certs.is_empty() {
                return Err(format!(
                    "outbound.extra_root_certificates[{i}]: no PEM certificate in it"
                ));
            }
            Certificate::from_pem(pem).map_err(|e| format!("outbound.extra_root_certificates[{i}]: {e}"))?;
        }
        Ok(Self {
            guard,
            resolver,
            extra_roots,
            hello: None,
            timeout: Duration::from_secs(15),
        })
    }

    /// Greets servers as `host` (EHLO), e.g. the host of `public_base_url`.
    pub fn with_hello_name(mut self, host: Option<String>) -> Self {
        self.hello = host.filter(|h| !h.is_empty());
        self
    }

    /// The address to connect to: the literal, or the first address of the name, once every
    /// address it resolves to passed the guard.
    async fn checked_addr(&self, server: &SmtpConfig) -> Result<std::net::IpAddr, &'static str> {
        match self.guard.check_host(&server.host, server.port) {
            Ok(Target::Ip(ip, _)) => Ok(ip),
            Ok(Target::Name(name, port)) => {
                let ips = self.resolver.resolve(&name, port).await;
                if ips.iter().any(|ip| !self.guard.ip_allowed(*ip)) {
                    return Err("ssrf_denied");
                }
                ips.first().copied().ok_or("dns_error")
            }
            Err(UrlError::Invalid(_)) => Err("invalid_host"),
            Err(UrlError::Denied(_) | UrlError::DeniedName) => Err("ssrf_denied"),
        }
    }

    fn tls(&self, server: &SmtpConfig) -> Result<Tls, &'static str> {
        if server.security == SmtpSecurity::None {
            return Ok(Tls::None);
        }
        let mut params = TlsParameters::builder(server.host.clone());
        for pem in &self.extra_roots {
            params = params.add_root_certificate(Certificate::from_pem(pem).map_err(|_| "tls_error")?);
        }
        let params = params.build_rustls().map_err(|_| "tls_error")?;
        Ok(match server.security {
            SmtpSecurity::StartTls => Tls::Required(params),
            _ => Tls::Wrapper(params),
        })
    }
}

fn message(mail: &OutgoingMail) -> Result<Message, &'static str> {
    let from_address: Address = mail.server.from_email.as_str().parse().map_err(|_| "invalid_from")?;
    let to: Address = mail.to.parse().map_err(|_| "invalid_recipient")?;
    Message::builder()
        .from(Mailbox::new(mail.server.from_name.clone(), from_address))
        .to(Mailbox::new(None, to))
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|_| "invalid_message")
}

/// The failure class of an SMTP error (never its text, which may quote the server).
fn class(e: &lettre::transport::smtp::Error) -> String {
    let code = e.status().map(u16::from);
    let class = if e.is_timeout() {
        "timeout"
    } else if e.is_tls() {
        "tls_error"
    } else if matches!(code, Some(530 | 534 | 535 | 538 | 454)) {
        "auth_failed"
    } else if e.is_permanent() {
        "rejected"
    } else if e.is_transient() {
        "temporary_failure"
    } else {
        "connect_error"
    };
    match code {
        Some(c) => format!("{class} (SMTP {c})"),
        None => class.to_owned(),
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: OutgoingMail) -> Result<(), String> {
        let ip = self.checked_addr(&mail.server).await.map_err(str::to_owned)?;
        let tls = self.tls(&mail.server).map_err(str::to_owned)?;
        let message = message(&mail).map_err(str::to_owned)?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ip.to_string())
            .port(mail.server.port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let Some(name) = &self.hello {
            builder = builder.hello_name(match name.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(ip)) => ClientId::Ipv4(ip),
                Ok(std::net::IpAddr::V6(ip)) => ClientId::Ipv6(ip),
                Err(_) => ClientId::Domain(name.clone()),
            });
        }
        if !mail.server.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                mail.server.username.clone(),
                mail.server.password.clone(),
            ));
        }
        let transport = builder.build();
        match tokio::time::timeout(self.timeout * 4, transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(class(&e)),
            Err(_) => Err("timeout".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn server(host: &str, port: u16) -> SmtpConfig {
        SmtpConfig::parse(
            &org_domain::mail::SmtpDraft {
                host: host.into(),
                port: i64::from(port),
                username: String::new(),
                password: String::new(),
                from_email: "a@example.com".into(),
                from_name: None,
                security: Some("none".into()),
            },
            false,
        )
        .unwrap()
    }

    fn mail(host: &str, port: u16) -> OutgoingMail {
        OutgoingMail {
            server: server(host, port),
            to: "b@example.com".into(),
            subject: "s".into(),
            body: "b".into(),
        }
    }

    fn mailer(allowed: &[&str]) -> SmtpMailer {
        let overrides = HashMap::from([
            ("mail.test".to_owned(), vec!["127.0.0.1".parse().unwrap()]),
            (
                "mixed.test".to_owned(),
                vec!["203.0.114.1".parse().unwrap(), "10.0.0.1".parse().unwrap()],
            ),
        ]);
        let guard = Guard {
            allowed_private: allowed.iter().map(|c| c.parse().unwrap()).collect(),
            allow_http: false,
        };
        SmtpMailer::new(guard, Arc::new(crate::sender::SystemResolver { overrides }), Vec::new()).unwrap()
    }

    #[tokio::test]
    async fn the_ssrf_guard_runs_at_send_time_on_literals_and_every_resolved_address() {
        let m = mailer(&[]);
        for host in ["127.0.0.1", "mail.test", "mixed.test", "10.1.2.3"] {
            assert_eq!(m.send(mail(host, 25)).await, Err("ssrf_denied".to_owned()), "{host}");
        }
    }

    #[tokio::test]
    async fn an_allowed_address_that_refuses_is_a_connect_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let got = mailer(&["127.0.0.1/32"]).send(mail("mail.test", port)).await;
        assert_eq!(got, Err("connect_error".to_owned()));
    }

    #[test]
    fn a_bad_extra_root_certificate_refuses_the_start() {
        let guard = Guard::default();
        let resolver = Arc::new(crate::sender::SystemResolver::default());
        let e = SmtpMailer::new(guard, resolver, vec![b"not a certificate".to_vec()]).unwrap_err();
        assert!(e.starts_with("outbound.extra_root_certificates[0]"), "{e}");
    }
}
