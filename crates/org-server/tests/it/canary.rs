//! The §1.8 canary: every secret gets a distinct random value; then every route that reads
//! them, the log at `trace`, the audit log and its exports, the webhook payloads and the raw
//! bytes of the database files are searched for each value. A value may appear only where the
//! contract returns it (once, when issued), never anywhere else.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Node, s};
use crate::webhooks::{receiver, wait_for};

/// A value no other part of the system can produce by chance.
#[allow(clippy::disallowed_methods)] // a random test value, not an id of the system
fn canary(kind: &str) -> String {
    format!("{kind}{}", uuid::Uuid::now_v7().simple())
}

/// Every file of the data dir (the database, its WAL), as lossy text.
fn data_dir_bytes(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_file() && entry.file_name() != "server.log" {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_secret_appears_only_where_the_contract_returns_it() {
    let (hook_port, seen) = receiver(vec![]).await;
    let closed_smtp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let smtp_port = closed_smtp.local_addr().unwrap().port();
    drop(closed_smtp);
    let node = Node::sqlite()
        .with("RUST_LOG", "trace")
        .with("ORG_SERVER_OUTBOUND__ALLOW_HTTP", "true")
        .with("ORG_SERVER_OUTBOUND__ALLOWED_PRIVATE_CIDRS", "127.0.0.1/32");
    let issued = node.platform_owner("alice@example.com");
    let alice = s(&issued["access_token"]).to_owned();
    let refresh_token = s(&issued["refresh_token"]).to_owned();
    let server = node.serve().await;
    let c = server.client();
    let token = c.create_org(&alice, "acme", "Acme").await;

    // Secrets the org sets: never returned, never anywhere in the clear.
    let smtp_password = canary("smtp");
    let oauth_secret = canary("oauth");
    let billing_key = format!("sk_test_{}", canary("billing"));
    let billing_whsec = format!("whsec_{}", canary("billingwh"));
    let set = [
        (
            "/api/organizations/acme/smtp",
            json!({"host": "127.0.0.1", "port": smtp_port, "username": "mailer", "password": smtp_password,
                   "from_email": "invites@acme.example.com", "from_name": "Acme"}),
        ),
        (
            "/api/organizations/acme/oauth-credentials/github",
            json!({"client_id": "gh-client", "client_secret": oauth_secret}),
        ),
        (
            "/api/organizations/acme/billing-credentials/stripe",
            json!({"api_key": billing_key, "webhook_secret": billing_whsec, "mode": "test"}),
        ),
    ];
    let upstream_secret = canary("upstream");
    let upstream = json!({"connection_id": "corp-oauth", "name": "Corp", "provider_type": "oauth2",
        "client_id": "corp-client", "client_secret": upstream_secret,
        "authorization_url": "https://idp.corp.example.com/authorize",
        "token_url": "https://idp.corp.example.com/token",
        "userinfo_url": "https://idp.corp.example.com/userinfo"});
    // The SIEM stream goes to the same receiver, one record a batch, so it is searched too.
    let siem_key = canary("siem");
    let siem = json!({"name": "canary", "provider_type": "Datadog", "batch_size": 1,
        "endpoint_url": format!("http://127.0.0.1:{hook_port}/hook"), "api_key": siem_key});
    let set = [
        set[0].clone(),
        set[1].clone(),
        set[2].clone(),
        ("/api/organizations/acme/upstream-providers", upstream),
        ("/api/organizations/acme/siem-configs", siem),
    ];
    let login_key = s(&node.cli(&["admin", "issue-login-key", "--name", "front-end"])["key"]).to_owned();
    let mut responses: Vec<String> = Vec::new();
    for (path, body) in set {
        let (status, res) = c.call("POST", path, &token, Some(body)).await;
        assert!(status == 200 || status == 201, "{path}: {status} {res}");
        responses.push(res.to_string());
    }

    // Secrets the server issues: each returned once, in the response that issues it.
    let hook = json!({"name": "canary", "url": format!("http://127.0.0.1:{hook_port}/hook"),
                      "events": ["role.created", "invitation.created", "member.added"]});
    let (status, webhook) = c
        .call("POST", "/api/organizations/acme/webhooks", &token, Some(hook))
        .await;
    assert_eq!(status, 201, "{webhook}");
    let hook_id = s(&webhook["id"]).to_owned();
    let first_secret = s(&webhook["secret"]).to_owned();
    let (status, rotated) = c
        .call(
            "POST",
            &format!("/api/organizations/acme/webhooks/{hook_id}/rotate-secret"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let second_secret = s(&rotated["secret"]).to_owned();
    let scim = c.scim_token(&token, "acme").await;
    let (status, invited) = c
        .call(
            "POST",
            "/api/organizations/acme/invitations",
            &token,
            Some(json!({"email": "bob@example.com", "role": "member"})),
        )
        .await;
    assert_eq!(status, 201, "{invited}");
    let invitation_token = s(&invited["token"]).to_owned();
    let (status, refreshed) = c
        .call(
            "POST",
            "/api/auth/refresh",
            "",
            Some(json!({"refresh_token": refresh_token})),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let new_refresh = s(&refreshed["refresh_token"]).to_owned();
    let access = s(&refreshed["access_token"]).to_owned();
    let (status, _) = c
        .call(
            "POST",
            "/api/organizations/acme/roles",
            &token,
            Some(json!({"slug": "auditor", "name": "Auditor", "permissions": ["audit_logs.view"]})),
        )
        .await;
    assert_eq!(status, 201);
    // Two webhook deliveries and at least one SIEM batch.
    wait_for(&seen, 3, Duration::from_secs(30)).await;

    // Every route that reads what was set, and the logs of it all.
    let reads = [
        "/api/organizations/acme",
        "/api/organizations/acme/members",
        "/api/organizations/acme/smtp",
        "/api/organizations/acme/oauth-credentials/github",
        "/api/organizations/acme/billing-credentials/stripe",
        "/api/organizations/acme/webhooks",
        &format!("/api/organizations/acme/webhooks/{hook_id}"),
        &format!("/api/organizations/acme/webhooks/{hook_id}/deliveries"),
        "/api/organizations/acme/scim-tokens",
        "/api/organizations/acme/upstream-providers",
        "/api/organizations/acme/services",
        "/api/organizations/acme/siem-configs",
        "/api/organizations/acme/invitations",
        "/api/organizations/acme/audit-log",
        "/api/organizations/acme/audit-log/export?format=ndjson",
        "/api/organizations/acme/audit-log/export?format=csv",
    ];
    for path in reads {
        let (status, res) = c.call("GET", path, &token, None).await;
        assert_eq!(status, 200, "{path}: {res}");
        responses.push(res.to_string());
    }
    for path in ["/api/platform/audit-log", "/api/user"] {
        let (status, res) = c.call("GET", path, &alice, None).await;
        assert_eq!(status, 200, "{path}: {res}");
        responses.push(res.to_string());
    }
    let (status, users) = c.call("GET", "/scim/v2/Users", &scim, None).await;
    assert_eq!(status, 200, "{users}");
    responses.push(users.to_string());
    // The invitation mail fails against a closed port; its error is recorded, then read.
    let deadline = Instant::now() + Duration::from_secs(20);
    let attempted = |log: &str| log.contains("e-mail attempt failed");
    while !attempted(&std::fs::read_to_string(server.log_path()).unwrap()) {
        assert!(Instant::now() < deadline, "the invitation mail was attempted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Bodies only: the SIEM request carries its API key in its header, as it must.
    let payloads: Vec<String> = seen.lock().unwrap().iter().map(|r| r.body.clone()).collect();
    assert!(
        payloads.iter().any(|b| b.contains("ddsource")),
        "a SIEM batch arrived: {payloads:?}"
    );
    let mut server = server;
    server.terminate();
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("\"level\":\"TRACE\""),
        "the log ran at trace"
    );
    let db = data_dir_bytes(node.data_dir());

    let places = [
        ("a response", responses.join("\n")),
        ("the log", log),
        ("a webhook or SIEM payload", payloads.join("\n")),
        ("the database files", db),
    ];
    let secrets = [
        ("SMTP password", &smtp_password),
        ("OAuth client secret", &oauth_secret),
        ("billing API key", &billing_key),
        ("billing webhook secret", &billing_whsec),
        ("upstream client secret", &upstream_secret),
        ("SIEM API key", &siem_key),
        ("login key", &login_key),
        ("webhook signing secret", &first_secret),
        ("rotated webhook signing secret", &second_secret),
        ("SCIM token", &scim),
        ("invitation token", &invitation_token),
        ("refresh token", &refresh_token),
        ("rotated refresh token", &new_refresh),
        ("access token", &access),
    ];
    for (name, value) in secrets {
        assert!(value.len() >= 20, "{name} was issued: {value:?}");
        for (place, text) in &places {
            assert!(!text.contains(value.as_str()), "the {name} appears in {place}");
        }
    }
    // Where the contract returns a secret, it did (once): the checks above are not vacuous.
    assert!(first_secret.starts_with("whsec_") && second_secret.starts_with("whsec_"));
    assert_ne!(first_secret, second_secret);
    let _: Value = invited;
}
