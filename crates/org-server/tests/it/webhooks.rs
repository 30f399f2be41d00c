//! Webhooks end to end against the real binary: a committed change survives a SIGKILL before
//! delivery and arrives after the restart with the same `webhook-id`, signed so that the
//! reference Standard Webhooks library (`standardwebhooks` from PyPI) verifies it.

use std::collections::VecDeque;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use crate::support::{Node, s};

/// A request as the receiver saw it.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// A receiver on loopback answering from a script of statuses (then 200), recording requests.
pub(crate) async fn receiver(script: Vec<u16>) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let (s2, sc) = (seen.clone(), script.clone());
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let (seen, script) = (s2.clone(), sc.clone());
            async move {
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                    .collect();
                seen.lock().unwrap().push(Received {
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let code = script.lock().unwrap().pop_front().unwrap_or(200);
                StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

pub(crate) async fn wait_for(seen: &Arc<Mutex<Vec<Received>>>, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while seen.lock().unwrap().len() < n {
        assert!(
            Instant::now() < deadline,
            "expected {n} deliveries, got {}",
            seen.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Verifies one request with the reference Python library; returns its verdict text.
fn standard_webhooks_verify(secret: &str, r: &Received) -> String {
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
d = json.load(sys.stdin)
try:
    Webhook(d["secret"]).verify(d["body"], d["headers"])
    print("verified")
except Exception as e:
    print("rejected: %r" % e)
"#;
    let input = json!({
        "secret": secret,
        "body": r.body,
        "headers": {
            "webhook-id": r.header("webhook-id"),
            "webhook-timestamp": r.header("webhook-timestamp"),
            "webhook-signature": r.header("webhook-signature"),
        }
    });
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test (cargo xtask ci installs standardwebhooks)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_event_survives_sigkill_and_arrives_verified_with_the_same_id() {
    let (port, seen) = receiver(vec![503]).await;
    let node = Node::sqlite()
        .with("ORG_SERVER_OUTBOUND__ALLOW_HTTP", "true")
        .with("ORG_SERVER_OUTBOUND__ALLOWED_PRIVATE_CIDRS", "127.0.0.1/32");
    let alice = node.token("alice@example.com");
    let server = node.serve().await;
    let c = server.client();
    let token = c.create_org(&alice, "acme", "Acme").await;
    let hook = json!({"name": "local", "url": format!("http://127.0.0.1:{port}/hook"), "events": ["role.created"]});
    let (status, webhook) = c
        .call("POST", "/api/organizations/acme/webhooks", &token, Some(hook))
        .await;
    assert_eq!(status, 201, "{webhook}");
    let secret = s(&webhook["secret"]).to_owned();
    assert!(secret.starts_with("whsec_"));
    let (status, _) = c
        .call(
            "POST",
            "/api/organizations/acme/roles",
            &token,
            Some(json!({"slug": "auditor", "name": "Auditor", "permissions": ["audit_logs.view"]})),
        )
        .await;
    assert_eq!(status, 201);
    // The first attempt is refused (503), so the event is committed but not delivered yet.
    wait_for(&seen, 1, Duration::from_secs(10)).await;
    let first = seen.lock().unwrap()[0].clone();
    let mut killed = server;
    killed.kill9();
    // After a restart the retry (5 s later) arrives with the same webhook-id and verifies.
    let server = node.serve().await;
    wait_for(&seen, 2, Duration::from_secs(30)).await;
    let second = seen.lock().unwrap()[1].clone();
    assert_eq!(second.header("webhook-id"), first.header("webhook-id"));
    assert_eq!(second.body, first.body, "the same bytes");
    let body: Value = serde_json::from_str(&second.body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["data"]["slug"].as_str()),
        (Some("role.created"), Some("auditor"))
    );
    assert_eq!(standard_webhooks_verify(&secret, &second), "verified");
    let mut tampered = second.clone();
    tampered.body = tampered.body.replace("auditor", "admin");
    assert!(standard_webhooks_verify(&secret, &tampered).starts_with("rejected"));
    // The delivery log shows both attempts on one delivery.
    let c = server.client();
    let id = s(&webhook["id"]).to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, list) = c
            .call(
                "GET",
                &format!("/api/organizations/acme/webhooks/{id}/deliveries"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, 200, "{list}");
        let d = &list["deliveries"][0];
        if d["status"] == "delivered" {
            assert_eq!(d["attempt_count"], 2);
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_delivery_in_flight_and_exits_within_30_seconds() {
    // A receiver that takes 3 s to answer, recording each request as it arrives.
    let arrived: Arc<Mutex<Vec<Received>>> = Arc::default();
    let a2 = arrived.clone();
    let app = Router::new().route(
        "/slow",
        post(move |body: Bytes| {
            let arrived = a2.clone();
            async move {
                arrived.lock().unwrap().push(Received {
                    headers: Vec::new(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                tokio::time::sleep(Duration::from_secs(3)).await;
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let node = Node::sqlite()
        .with("ORG_SERVER_OUTBOUND__ALLOW_HTTP", "true")
        .with("ORG_SERVER_OUTBOUND__ALLOWED_PRIVATE_CIDRS", "127.0.0.1/32");
    let alice = node.token("alice@example.com");
    let mut server = node.serve().await;
    let c = server.client();
    let token = c.create_org(&alice, "acme", "Acme").await;
    let hook = json!({"name": "slow", "url": format!("http://127.0.0.1:{port}/slow"), "events": ["role.created"]});
    let (status, webhook) = c
        .call("POST", "/api/organizations/acme/webhooks", &token, Some(hook))
        .await;
    assert_eq!(status, 201, "{webhook}");
    let (status, _) = c
        .call(
            "POST",
            "/api/organizations/acme/roles",
            &token,
            Some(json!({"slug": "auditor", "name": "Auditor", "permissions": ["audit_logs.view"]})),
        )
        .await;
    assert_eq!(status, 201);
    wait_for(&arrived, 1, Duration::from_secs(10)).await;
    // The attempt is in flight: shut down.
    let took = server.terminate();
    eprintln!("shutdown with a delivery in flight took {took:?}");
    assert!(took < Duration::from_secs(30), "took {took:?}\n{}", server.log_tail());
    assert!(took >= Duration::from_secs(1), "it waited for the attempt ({took:?})");
    // The attempt finished and was recorded before the exit: delivered once, never resent.
    let server = node.serve().await;
    let c = server.client();
    let id = s(&webhook["id"]).to_owned();
    let (status, list) = c
        .call(
            "GET",
            &format!("/api/organizations/acme/webhooks/{id}/deliveries"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        (
            &list["deliveries"][0]["status"],
            &list["deliveries"][0]["attempt_count"]
        ),
        (&json!("delivered"), &json!(1)),
        "{list}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(arrived.lock().unwrap().len(), 1, "not sent again after the restart");
}

/// §1.8 key retirement as an operator does it: a second key-encryption key becomes primary,
/// `admin rewrap-secrets` re-wraps every data key under it, and the server then starts with
/// the new key alone and still signs with the webhook secret created under the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_secrets_retires_a_key_encryption_key_with_every_secret_still_usable() {
    use base64::Engine;
    let b64 = |k: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(k);
    let (old, new) = (
        format!("old:base64:{}", b64([7; 32])),
        format!("new:base64:{}", b64([9; 32])),
    );
    let (port, seen) = receiver(vec![]).await;
    let node = Node::sqlite()
        .with("ORG_SERVER_ENCRYPTION__KEYS", &old)
        .with("ORG_SERVER_OUTBOUND__ALLOW_HTTP", "true")
        .with("ORG_SERVER_OUTBOUND__ALLOWED_PRIVATE_CIDRS", "127.0.0.1/32");
    let alice = node.token("alice@example.com");
    let mut server = node.serve().await;
    let c = server.client();
    let token = c.create_org(&alice, "acme", "Acme").await;
    let hook = json!({"name": "local", "url": format!("http://127.0.0.1:{port}/hook"), "events": ["role.created"]});
    let (status, webhook) = c
        .call("POST", "/api/organizations/acme/webhooks", &token, Some(hook))
        .await;
    assert_eq!(status, 201, "{webhook}");
    let secret = s(&webhook["secret"]).to_owned();
    server.terminate();

    let node = node
        .with("ORG_SERVER_ENCRYPTION__KEYS", &format!("{old},{new}"))
        .with("ORG_SERVER_ENCRYPTION__PRIMARY_KEY_ID", "new");
    let report = node.cli(&["admin", "rewrap-secrets"]);
    assert_eq!(report["primary_key_id"], "new", "{report}");
    // The org's data key and the platform's (signing keys, sessions) were under `old`.
    assert!(report["data_keys"].as_u64().unwrap() >= 2, "{report}");
    assert_eq!(report["rewrapped"], report["data_keys"], "{report}");
    let again = node.cli(&["admin", "rewrap-secrets"]);
    assert_eq!(again["rewrapped"], 0, "nothing left under the old key: {again}");

    let node = node
        .with("ORG_SERVER_ENCRYPTION__KEYS", &new)
        .with("ORG_SERVER_ENCRYPTION__PRIMARY_KEY_ID", "new");
    let server = node.serve().await;
    let c = server.client();
    let (status, _) = c
        .call(
            "POST",
            "/api/organizations/acme/roles",
            &token,
            Some(json!({"slug": "auditor", "name": "Auditor", "permissions": ["audit_logs.view"]})),
        )
        .await;
    assert_eq!(status, 201, "the old session still verifies: {}", server.log_tail());
    wait_for(&seen, 1, Duration::from_secs(20)).await;
    let got = seen.lock().unwrap()[0].clone();
    assert_eq!(standard_webhooks_verify(&secret, &got), "verified");
}
