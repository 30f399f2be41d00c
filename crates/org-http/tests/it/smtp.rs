//! §13: the org's SMTP settings on the wire — the upsert and its field rules, the compat shape
//! of an unconfigured org, a password never returned, the no-op delete, the capability.

use serde_json::{Value, json};

use crate::support::TestApp;

const SMTP: &str = "/api/organizations/acme/smtp";

fn body() -> Value {
    json!({"host": "smtp.acme.example.com", "port": 587, "username": "mailer", "password": "hunter2-secret",
           "from_email": "Invites@Acme.example.com", "from_name": " Acme Invites "})
}

fn fields(res: &crate::support::Resp) -> Vec<String> {
    res.body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_unconfigured_org_reads_the_compat_shape() {
    let t = TestApp::new().await;
    let res = t.get(SMTP, &t.admin.token).await;
    res.expect(200, "");
    assert_eq!(
        res.body,
        json!({"host": "", "port": 587, "username": "", "from_email": "", "from_name": null,
               "security": "starttls", "configured": false})
    );
}

#[tokio::test]
async fn set_read_and_remove_never_show_the_password() {
    let t = TestApp::new().await;
    let res = t.post(SMTP, &t.admin.token, Some(body())).await;
    res.expect(200, "");
    assert_eq!(res.body, json!({"message": "SMTP settings saved"}));
    let got = t.get(SMTP, &t.owner.token).await;
    got.expect(200, "");
    assert_eq!(
        got.body,
        json!({"host": "smtp.acme.example.com", "port": 587, "username": "mailer",
               "from_email": "invites@acme.example.com", "from_name": "Acme Invites",
               "security": "starttls", "configured": true})
    );
    assert!(!got.text.contains("hunter2"));
    let tls = t
        .post(
            SMTP,
            &t.admin.token,
            Some(json!({"host": "smtp.acme.example.com", "port": 465,
        "username": "", "password": "x", "from_email": "a@acme.example.com"})),
        )
        .await;
    tls.expect(200, "");
    assert_eq!(
        t.get(SMTP, &t.admin.token).await.body["security"],
        "tls",
        "465 defaults to tls"
    );
    let gone = t.delete(SMTP, &t.admin.token).await;
    gone.expect(200, "");
    assert_eq!(gone.body, json!({"message": "SMTP settings removed"}));
    assert_eq!(t.get(SMTP, &t.admin.token).await.body["configured"], false);
    let again = t.delete(SMTP, &t.admin.token).await;
    again.expect(200, "");
    assert_eq!(
        again.body,
        json!({"message": "SMTP settings removed"}),
        "removing nothing is a no-op"
    );
}

#[tokio::test]
async fn every_field_rule_is_a_400_naming_the_field() {
    let t = TestApp::new().await;
    let cases: Vec<(&str, Value, &[&str])> = vec![
        ("port out of range", json!({"port": 65_536}), &["port"]),
        ("port zero", json!({"port": 0}), &["port"]),
        ("port not a number", json!({"port": "587"}), &["port"]),
        ("bad host", json!({"host": "not a host"}), &["host"]),
        ("long host", json!({"host": "a".repeat(254)}), &["host"]),
        ("loopback host", json!({"host": "127.0.0.1"}), &["host"]),
        ("private host", json!({"host": "10.1.2.3"}), &["host"]),
        ("metadata host", json!({"host": "169.254.169.254"}), &["host"]),
        ("decimal loopback", json!({"host": "2130706433"}), &["host"]),
        ("localhost", json!({"host": "localhost"}), &["host"]),
        ("long username", json!({"username": "u".repeat(257)}), &["username"]),
        ("empty password", json!({"password": ""}), &["password"]),
        ("long password", json!({"password": "p".repeat(1025)}), &["password"]),
        ("bad from_email", json!({"from_email": "nope"}), &["from_email"]),
        ("long from_name", json!({"from_name": "n".repeat(101)}), &["from_name"]),
        ("bad security", json!({"security": "ssl"}), &["security"]),
        ("unknown member", json!({"org_id": "x"}), &["org_id"]),
        (
            "two bad fields",
            json!({"port": 0, "security": "ssl"}),
            &["port", "security"],
        ),
    ];
    for (name, patch, want) in cases {
        let mut b = body();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let res = t.post(SMTP, &t.admin.token, Some(b)).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(fields(&res), want, "{name}: {}", res.text);
        assert!(!res.text.contains("hunter2"), "{name}: the password is never echoed");
    }
    for missing in ["host", "port", "username", "password", "from_email"] {
        let mut b = body();
        b.as_object_mut().unwrap().remove(missing);
        let res = t.post(SMTP, &t.admin.token, Some(b)).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(fields(&res), [missing]);
    }
    assert_eq!(
        t.get(SMTP, &t.admin.token).await.body["configured"],
        false,
        "nothing was stored"
    );
}

#[tokio::test]
async fn members_without_the_capability_get_403_and_strangers_404() {
    let t = TestApp::new().await;
    t.post(SMTP, &t.member.token, Some(body()))
        .await
        .expect(403, "FORBIDDEN");
    t.get(SMTP, &t.member.token).await.expect(403, "FORBIDDEN");
    t.delete(SMTP, &t.member.token).await.expect(403, "FORBIDDEN");
    t.get(SMTP, &t.stranger.token).await.expect(404, "NOT_FOUND");
    t.post(SMTP, &t.stranger.token, Some(body()))
        .await
        .expect(404, "NOT_FOUND");
}
