//! §12 on the wire: the upsert's shape and field rules (400 naming the field, an unknown
//! provider included), 404 reads and deletes of nothing, the secret never in any response,
//! one row per provider, the capability.

use serde_json::{Value, json};

use crate::support::TestApp;

const GITHUB: &str = "/api/organizations/acme/oauth-credentials/github";
const SECRET: &str = "hunter2-oauth-secret";

fn body() -> Value {
    json!({"client_id": "gh-client-id", "client_secret": SECRET})
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
async fn set_read_and_delete_never_show_the_secret() {
    let t = TestApp::new().await;
    let missing = t.get(GITHUB, &t.admin.token).await;
    missing.expect(404, "NOT_FOUND");
    assert_eq!(missing.body["detail"], "OAuth credentials not found for this provider");

    let set = t.post(GITHUB, &t.admin.token, Some(body())).await;
    set.expect(200, "");
    assert_eq!(set.body["provider"], "github");
    assert_eq!(set.body["client_id"], "gh-client-id");
    assert_eq!(set.body["has_secret"], true);
    let keys: Vec<&String> = set.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["client_id", "has_secret", "provider", "updated_at"]);
    let got = t.get(GITHUB, &t.owner.token).await;
    got.expect(200, "");
    assert_eq!(got.body, set.body, "GET answers the same shape");
    let again = t.post(GITHUB, &t.admin.token, Some(body())).await;
    again.expect(200, "");
    assert_eq!(again.body, set.body, "an identical upsert changes nothing");

    let google = "/api/organizations/acme/oauth-credentials/google";
    t.get(google, &t.admin.token).await.expect(404, "NOT_FOUND");
    t.post(
        google,
        &t.admin.token,
        Some(json!({"client_id": "g", "client_secret": "g-secret"})),
    )
    .await
    .expect(200, "");
    assert_eq!(t.get(GITHUB, &t.admin.token).await.body["client_id"], "gh-client-id");

    let audit = t.get("/api/organizations/acme/audit-log", &t.owner.token).await;
    audit.expect(200, "");
    let events = t
        .get("/api/organizations/acme/webhooks/event-types", &t.owner.token)
        .await;
    let gone = t.delete(GITHUB, &t.admin.token).await;
    assert_eq!(gone.status.as_u16(), 204, "{}", gone.text);
    assert!(gone.text.is_empty());
    t.get(GITHUB, &t.admin.token).await.expect(404, "NOT_FOUND");
    let again = t.delete(GITHUB, &t.admin.token).await;
    again.expect(404, "NOT_FOUND");
    assert_eq!(again.body["detail"], "OAuth credentials not found for this provider");
    for res in [&missing, &set, &got, &audit, &events, &again] {
        assert!(!res.text.contains(SECRET), "the secret is never returned: {}", res.text);
    }
    assert!(audit.text.contains("oauth_credentials.updated"), "{}", audit.text);
}

#[tokio::test]
async fn every_field_rule_and_an_unknown_provider_are_a_400_naming_the_field() {
    let t = TestApp::new().await;
    let cases: Vec<(&str, &str, Value, &[&str])> = vec![
        ("unknown provider", "gitlab", body(), &["provider"]),
        ("provider case", "GitHub", body(), &["provider"]),
        (
            "empty client_id",
            "github",
            json!({"client_id": "", "client_secret": SECRET}),
            &["client_id"],
        ),
        (
            "long client_id",
            "github",
            json!({"client_id": "x".repeat(513), "client_secret": SECRET}),
            &["client_id"],
        ),
        (
            "empty secret",
            "github",
            json!({"client_id": "c", "client_secret": ""}),
            &["client_secret"],
        ),
        (
            "long secret",
            "github",
            json!({"client_id": "c", "client_secret": "s".repeat(4097)}),
            &["client_secret"],
        ),
        (
            "missing secret",
            "github",
            json!({"client_id": "c"}),
            &["client_secret"],
        ),
        (
            "missing client_id",
            "github",
            json!({"client_secret": SECRET}),
            &["client_id"],
        ),
        (
            "secret not a string",
            "github",
            json!({"client_id": "c", "client_secret": 7}),
            &["client_secret"],
        ),
        (
            "unknown member",
            "github",
            json!({"client_id": "c", "client_secret": SECRET, "x": 1}),
            &["x"],
        ),
        (
            "everything",
            "apple",
            json!({"client_id": "", "client_secret": ""}),
            &["provider", "client_id", "client_secret"],
        ),
    ];
    for (name, provider, b, want) in cases {
        let path = format!("/api/organizations/acme/oauth-credentials/{provider}");
        let res = t.post(&path, &t.admin.token, Some(b)).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(fields(&res), want, "{name}: {}", res.text);
        assert!(!res.text.contains(SECRET), "{name}: the secret is never echoed");
    }
    for path in ["/api/organizations/acme/oauth-credentials/facebook"] {
        let res = t.get(path, &t.admin.token).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(fields(&res), ["provider"]);
        let res = t.delete(path, &t.admin.token).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(fields(&res), ["provider"]);
    }
    t.get(GITHUB, &t.admin.token).await.expect(404, "NOT_FOUND");
}

#[tokio::test]
async fn members_without_the_capability_get_403_and_strangers_404() {
    let t = TestApp::new().await;
    t.post(GITHUB, &t.member.token, Some(body()))
        .await
        .expect(403, "FORBIDDEN");
    t.get(GITHUB, &t.member.token).await.expect(403, "FORBIDDEN");
    t.delete(GITHUB, &t.member.token).await.expect(403, "FORBIDDEN");
    t.post(
        "/api/organizations/acme/oauth-credentials/nope",
        &t.member.token,
        Some(body()),
    )
    .await
    .expect(403, "FORBIDDEN");
    t.get(GITHUB, &t.stranger.token).await.expect(404, "NOT_FOUND");
    t.post(GITHUB, &t.stranger.token, Some(body()))
        .await
        .expect(404, "NOT_FOUND");
}
