//! Invitation e-mail end to end against the real binary and a real SMTP server on loopback:
//! `aiosmtpd` from PyPI (installed by the test into `<target dir>/mail-venv`), requiring
//! STARTTLS with a throwaway self-signed certificate (made here with `rcgen`, trusted through
//! `outbound.extra_root_certificates`) and AUTH with the org's username and password. Checks
//! the recipient, the accept link, the From name and address, AUTH, STARTTLS, a retry after a
//! refused AUTH, and that a crash between the invitation's commit and the send loses nothing
//! and sends once.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Client, Node, make_venv, s};

/// The SMTP server and everything it pulls in, pinned; reinstalled when this changes.
const REQUIREMENTS: &str = "aiosmtpd==1.4.6\natpublic==9.0.0\nattrs==26.1.0\n";

/// An aiosmtpd server, `starttls` (STARTTLS required, and before AUTH) or `tls` (TLS from the
/// first byte), AUTH required with one login; each accepted message is one JSON line in the
/// out file.
const SERVER: &str = r#"
import email, json, ssl, sys
from email import policy
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, user, password, out, mode = sys.argv[1:8]

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
        and auth_data.password.decode() == password
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "body": msg.get_content(),
            "auth_login": session.auth_data.login.decode() if session.auth_data else None,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
        }
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"

context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
if mode == "starttls":
    controller = Controller(Handler(), hostname="127.0.0.1", port=int(port), tls_context=context,
                            require_starttls=True, authenticator=authenticator, auth_required=True,
                            auth_require_tls=True)
else:
    # Implicit TLS: the whole session is encrypted, which aiosmtpd's STARTTLS-only
    # `auth_require_tls` does not see.
    controller = Controller(Handler(), hostname="127.0.0.1", port=int(port), ssl_context=context,
                            authenticator=authenticator, auth_required=True, auth_require_tls=False)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#;

fn venv_python() -> &'static Path {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match VENV.get_or_init(|| make_venv("mail-venv", REQUIREMENTS, "python3").map(|d| d.join("bin").join("python"))) {
        Ok(p) => p,
        Err(why) => panic!("cannot install aiosmtpd: {why}"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A self-signed certificate for `127.0.0.1` and its key, as PEM files in `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let (cert, key) = (dir.join("smtp-cert.pem"), dir.join("smtp-key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// A running aiosmtpd; stopped when dropped.
struct SmtpServer {
    child: Child,
    out: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the test's SMTP server is: where, its certificate, its one login.
struct Smtp {
    dir: tempfile::TempDir,
    port: u16,
    cert: PathBuf,
    key: PathBuf,
}

const LOGIN: &str = "acme-mailer";
const PASSWORD: &str = "s3cret pass:word";

impl Smtp {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = certificate(dir.path());
        Self {
            port: free_port(),
            cert,
            key,
            dir,
        }
    }

    /// Starts the server (`starttls`) and waits until it accepts connections.
    fn start(&self) -> SmtpServer {
        self.start_in("starttls")
    }

    /// Starts the server in `mode` (`starttls` or `tls`).
    fn start_in(&self, mode: &str) -> SmtpServer {
        let script = self.dir.path().join("smtp_server.py");
        std::fs::write(&script, SERVER).unwrap();
        let out = self.dir.path().join("received.jsonl");
        let mut child = Command::new(venv_python())
            .arg(&script)
            .arg(self.port.to_string())
            .arg(&self.cert)
            .arg(&self.key)
            .args([LOGIN, PASSWORD])
            .arg(&out)
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.dir.path().join("smtp-server.log")).unwrap())
            .spawn()
            .expect("start aiosmtpd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        SmtpServer { child, out }
    }

    /// A node that reaches this server on loopback and trusts its certificate.
    fn node(&self) -> Node {
        Node::sqlite()
            .with("ORG_SERVER_OUTBOUND__ALLOWED_PRIVATE_CIDRS", "127.0.0.1/32")
            .with(
                "ORG_SERVER_OUTBOUND__EXTRA_ROOT_CERTIFICATES",
                &self.cert.display().to_string(),
            )
            .with("ORG_SERVER_WEB_CLIENT_URL", "https://app.example.com")
            .with("ORG_SERVER_WORKERS__LEASE", "5s")
    }

    fn settings(&self, password: &str) -> Value {
        json!({"host": "127.0.0.1", "port": self.port, "username": LOGIN, "password": password,
               "from_email": "invites@acme.example.com", "from_name": "Acme Invites", "security": "starttls"})
    }
}

fn received(server: &SmtpServer) -> Vec<Value> {
    std::fs::read_to_string(&server.out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until a message to `to` has arrived; all messages to `to` so far.
async fn wait_for(server: &SmtpServer, to: &str, within: Duration, log: impl Fn() -> String) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let got: Vec<Value> = received(server)
            .into_iter()
            .filter(|m| m["rcpt_tos"] == json!([to]))
            .collect();
        if !got.is_empty() {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "no mail to {to} within {within:?}:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn invite(c: &Client, token: &str, email: &str) -> String {
    let (status, made) = c
        .call(
            "POST",
            "/api/organizations/acme/invitations",
            token,
            Some(json!({"email": email})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    s(&made["token"]).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_mail_arrives_over_starttls_with_auth_the_link_and_the_from_name() {
    let smtp = Smtp::new();
    tokio::task::spawn_blocking(venv_python).await.unwrap();
    let server = smtp.start();
    let node = smtp.node();
    let alice = node.token("alice@example.com");
    let org_server = node.serve().await;
    let c = org_server.client();
    let token = c.create_org(&alice, "acme", "Acme Inc").await;

    // A wrong password first: the server refuses AUTH, so nothing arrives (the attempt fails).
    let (status, saved) = c
        .call(
            "POST",
            "/api/organizations/acme/smtp",
            &token,
            Some(smtp.settings("wrong")),
        )
        .await;
    assert_eq!((status, &saved), (200, &json!({"message": "SMTP settings saved"})));
    let carol = invite(&c, &token, "carol@example.com").await;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        assert!(received(&server).is_empty(), "a refused AUTH delivers nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The right password: the next invitation goes at once, carol's on its retry.
    let (status, _) = c
        .call(
            "POST",
            "/api/organizations/acme/smtp",
            &token,
            Some(smtp.settings(PASSWORD)),
        )
        .await;
    assert_eq!(status, 200);
    let (status, got) = c.call("GET", "/api/organizations/acme/smtp", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["configured"], true);
    assert!(!got.to_string().contains(PASSWORD), "the password is never returned");
    let bob = invite(&c, &token, "bob@example.com").await;
    let log = || org_server.log_tail();
    let to_bob = wait_for(&server, "bob@example.com", Duration::from_secs(15), log).await;
    assert_eq!(to_bob.len(), 1);
    let m = &to_bob[0];
    assert_eq!(m["mail_from"], "invites@acme.example.com", "the envelope sender");
    assert_eq!(m["from"], "Acme Invites <invites@acme.example.com>");
    assert_eq!(m["to"], "bob@example.com");
    assert_eq!(
        (&m["auth_login"], &m["tls"]),
        (&json!(LOGIN), &json!(true)),
        "AUTH after STARTTLS"
    );
    assert!(s(&m["subject"]).contains("Acme Inc"), "{m}");
    let link = format!("https://app.example.com/invitations/accept?token={bob}");
    assert!(s(&m["body"]).contains(&link), "the accept link: {m}");

    let to_carol = wait_for(&server, "carol@example.com", Duration::from_secs(30), log).await;
    assert!(
        s(&to_carol[0]["body"]).contains(&carol),
        "carol's mail arrives on its retry"
    );
    let text = std::fs::read_to_string(org_server.log_path()).unwrap_or_default();
    assert!(
        !text.contains(PASSWORD) && !text.contains("wrong\""),
        "no password in the log"
    );

    // The worker counts a mail once the server accepted it: the count may trail the arrival.
    let metrics = metric_line(&c, "emails_sent_total{outcome=\"sent\"} 2").await;
    assert!(
        metrics.contains("emails_sent_total{outcome=\"attempt_failed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_commit_and_send_loses_nothing_and_the_mail_arrives_once() {
    let smtp = Smtp::new();
    tokio::task::spawn_blocking(venv_python).await.unwrap();
    let node = smtp.node();
    let alice = node.token("alice@example.com");
    let mut first = node.serve().await;
    let c = first.client();
    let token = c.create_org(&alice, "acme", "Acme Inc").await;
    let (status, _) = c
        .call(
            "POST",
            "/api/organizations/acme/smtp",
            &token,
            Some(smtp.settings(PASSWORD)),
        )
        .await;
    assert_eq!(status, 200);
    // The SMTP server is down: the invitation commits, its mail cannot go.
    let dave = invite(&c, &token, "dave@example.com").await;
    first.kill9();
    let server = smtp.start();
    assert!(received(&server).is_empty());
    let second = node.serve().await;
    let got = wait_for(&server, "dave@example.com", Duration::from_secs(30), || {
        second.log_tail()
    })
    .await;
    assert!(s(&got[0]["body"]).contains(&dave), "{}", got[0]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all: Vec<Value> = received(&server)
        .into_iter()
        .filter(|m| m["rcpt_tos"] == json!(["dave@example.com"]))
        .collect();
    assert_eq!(all.len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_org_server_the_platform_server_sends_over_tls_and_without_either_it_is_logged() {
    let smtp = Smtp::new();
    tokio::task::spawn_blocking(venv_python).await.unwrap();
    let server = smtp.start_in("tls");
    let port = smtp.port.to_string();
    let node = smtp
        .node()
        .with("ORG_SERVER_SMTP__HOST", "127.0.0.1")
        .with("ORG_SERVER_SMTP__PORT", &port)
        .with("ORG_SERVER_SMTP__SECURITY", "tls")
        .with("ORG_SERVER_SMTP__USERNAME", LOGIN)
        .with("ORG_SERVER_SMTP__PASSWORD", PASSWORD)
        .with(
            "ORG_SERVER_SMTP__FROM",
            "Example Platform <noreply@platform.example.com>",
        );
    let alice = node.token("alice@example.com");
    let org_server = node.serve().await;
    let c = org_server.client();
    let token = c.create_org(&alice, "acme", "Acme Inc").await;
    let (status, got) = c.call("GET", "/api/organizations/acme/smtp", &token, None).await;
    assert_eq!(
        (status, &got["configured"]),
        (200, &json!(false)),
        "the org has none of its own"
    );
    let erin = invite(&c, &token, "erin@example.com").await;
    let got = wait_for(&server, "erin@example.com", Duration::from_secs(15), || {
        org_server.log_tail()
    })
    .await;
    let m = &got[0];
    assert_eq!(m["from"], "Example Platform <noreply@platform.example.com>");
    assert_eq!(
        (&m["auth_login"], &m["tls"]),
        (&json!(LOGIN), &json!(true)),
        "AUTH over TLS"
    );
    assert!(s(&m["body"]).contains(&erin));
    let log = std::fs::read_to_string(org_server.log_path()).unwrap_or_default();
    assert!(!log.contains(PASSWORD), "no password in the log");

    // No server at all: the invitation stands, the mail is skipped and the skip is logged.
    let bare = Node::sqlite();
    let bob = bare.token("bob@example.com");
    let lonely = bare.serve().await;
    let c = lonely.client();
    let token = c.create_org(&bob, "solo", "Solo").await;
    let (status, _) = c
        .call(
            "POST",
            "/api/organizations/solo/invitations",
            &token,
            Some(json!({"email": "frank@example.com"})),
        )
        .await;
    assert_eq!(status, 201);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = std::fs::read_to_string(lonely.log_path()).unwrap_or_default();
        if log.contains("no SMTP server configured") {
            break;
        }
        assert!(Instant::now() < deadline, "the skip is logged:\n{}", lonely.log_tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    metric_line(&c, "emails_sent_total{outcome=\"skipped\"} 1").await;
}

/// The `/metrics` text once it has `line` (counters are bumped after the work they count).
async fn metric_line(c: &Client, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = c
            .http
            .get(format!("{}/metrics", c.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.lines().any(|l| l == line) {
            return metrics;
        }
        assert!(Instant::now() < deadline, "no `{line}` in:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
