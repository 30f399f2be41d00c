//! §1.5 tenant isolation: every org-scoped route, walked as a member of another org and as a
//! user with no org at all, answers 404 and never data.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;

/// A body that passes decoding, so the answer comes from authorization.
fn body_for(method: &str, path: &str, target: &str) -> Option<Value> {
    let body = match (method, path.rsplit('/').next().unwrap_or_default()) {
        ("PATCH", "{org_slug}") => json!({"name": "Hacked"}),
        ("PATCH", "{user_id}") => json!({"role": "member"}),
        ("PUT", "service-access") => json!({"grants": [{"service_slug": "app", "access": null}]}),
        ("POST", "transfer-ownership") => json!({"new_owner_user_id": target}),
        ("POST", "invitations") => json!({"email": "evil@other.test"}),
        ("POST", "roles") => json!({"slug": "evil", "name": "Evil", "permissions": []}),
        ("PUT", "{role_id}") => json!({"name": "Evil"}),
        ("POST", "webhooks") => json!({"name": "Evil", "url": "https://evil.example.com/", "events": ["member.added"]}),
        ("PATCH", "{id}") => json!({"name": "Evil"}),
        ("POST", "scim-tokens") => json!({"name": "Evil"}),
        ("POST", "smtp") => json!({"host": "smtp.evil.example.com", "port": 587, "username": "u",
                                    "password": "p", "from_email": "evil@evil.example.com"}),
        ("POST", "domain") => json!({"domain": "evil.test"}),
        ("PATCH", "branding") => json!({"primary_color": "#000"}),
        ("POST", "{provider}") if path.contains("/billing-credentials/") => {
            json!({"api_key": "sk_test_evil", "webhook_secret": "evil-secret", "mode": "test"})
        }
        ("POST", "{provider}") => json!({"client_id": "evil", "client_secret": "evil-secret"}),
        ("POST", "services") => json!({"slug": "evil", "name": "Evil"}),
        ("PATCH", "{service_slug}") => json!({"name": "Evil"}),
        _ => return None,
    };
    Some(body)
}

#[tokio::test]
async fn every_org_route_answers_404_to_outsiders_and_leaks_nothing() {
    let t = TestApp::new().await;
    let (invitation, role) = t.acme_ids().await;
    let (webhook, delivery) = t.acme_webhook().await;
    let nobody = t.actor("nobody@nowhere.test").await;
    t.post(
        "/api/organizations/acme/oauth-credentials/github",
        &t.owner.token,
        Some(json!({"client_id": "acme-gh-client", "client_secret": "acme-gh-secret"})),
    )
    .await
    .expect(200, "");
    t.post(
        "/api/organizations/acme/billing-credentials/stripe",
        &t.owner.token,
        Some(json!({"api_key": "sk_test_acmekey", "webhook_secret": "whsec_acme", "mode": "live_or_test"})),
    )
    .await
    .expect(400, "VALIDATION_FAILED");
    t.post(
        "/api/organizations/acme/billing-credentials/stripe",
        &t.owner.token,
        Some(json!({"api_key": "sk_live_acmekey", "webhook_secret": "whsec_acme", "mode": "live"})),
    )
    .await
    .expect(200, "");
    let routes: Vec<(&str, &str)> = org_http::route_table()
        .into_iter()
        .filter(|(_, p)| p.starts_with("/api/organizations/{org_slug}"))
        // The org-path routes without a membership check (§1.5, §9.2, §15).
        .filter(|(_, p)| !p.ends_with("/webhooks/event-types") && !p.ends_with("/branding/public"))
        .collect();
    assert!(routes.len() >= 36, "walked only {} routes", routes.len());
    for outsider in [&t.stranger, &nobody] {
        for (method, template) in &routes {
            let id = if template.contains("/webhooks/") {
                &webhook
            } else {
                &invitation
            };
            let path = template
                .replace("{org_slug}", "acme")
                .replace("{delivery_id}", &delivery)
                .replace("{user_id}", &t.member.id())
                .replace("{id}", id)
                .replace("{role_id}", &role)
                .replace("{service_slug}", "portal")
                .replace(
                    "{provider}",
                    if template.contains("/billing-credentials/") {
                        "stripe"
                    } else {
                        "github"
                    },
                );
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let body = body_for(method.as_str(), template, &outsider.id());
            let res = t.send(method.clone(), &path, Some(&outsider.token), body).await;
            assert_eq!(
                (res.status.as_u16(), res.code()),
                (404, "NOT_FOUND"),
                "{method} {path} as {}: {}",
                outsider.email(),
                res.text
            );
            for secret in [
                "Acme Inc",
                "member@acme.test",
                "owner@acme.test",
                "someone@acme.test",
                "Audit sink",
                "hooks.example.com",
                "acme-gh-client",
                "acme-gh-secret",
                "acmekey",
                "whsec_acme",
            ] {
                assert!(!res.text.contains(secret), "{method} {path} leaked {secret}");
            }
        }
    }
    // Nothing changed on the way.
    let org = t.get("/api/organizations/acme", &t.owner.token).await;
    assert_eq!(org.body["organization"]["name"], "Acme Inc");
    assert_eq!(org.body["membership_count"], 4);
    let hook = t
        .get(&format!("/api/organizations/acme/webhooks/{webhook}"), &t.owner.token)
        .await;
    assert_eq!(hook.body["name"], "Audit sink");
    let creds = t
        .get("/api/organizations/acme/oauth-credentials/github", &t.owner.token)
        .await;
    assert_eq!(creds.body["client_id"], "acme-gh-client");
    let billing = t
        .get("/api/organizations/acme/billing-credentials/stripe", &t.owner.token)
        .await;
    assert_eq!(billing.body["mode"], "live", "outsiders changed nothing");
}
