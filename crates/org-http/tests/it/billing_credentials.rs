//! §18 on the wire: owner-only (or platform owner), the unconfigured shape, field rules naming
//! the field (Stripe key prefixes by mode, an unknown provider), the 404 delete of nothing, and
//! the secrets never in any response.

use serde_json::{Value, json};

use crate::support::TestApp;

const STRIPE: &str = "/api/organizations/acme/billing-credentials/stripe";
const KEY: &str = "sk_test_hunter2key";
const WHSEC: &str = "whsec_hunter2secret";

fn body() -> Value {
    json!({"api_key": KEY, "webhook_secret": WHSEC, "mode": "test"})
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
async fn set_read_and_delete_never_show_the_secrets() {
    let t = TestApp::new().await;
    let none = t.get(STRIPE, &t.owner.token).await;
    none.expect(200, "");
    assert_eq!(
        none.body,
        json!({"configured": false, "provider": "stripe", "mode": null, "enabled": false, "updated_at": null})
    );
    let set = t.post(STRIPE, &t.owner.token, Some(body())).await;
    set.expect(200, "");
    assert_eq!(set.body, json!({"message": "Billing credentials saved"}));
    let got = t.get(STRIPE, &t.owner.token).await;
    got.expect(200, "");
    assert_eq!(
        (&got.body["configured"], &got.body["mode"], &got.body["enabled"]),
        (&json!(true), &json!("test"), &json!(true))
    );
    assert!(got.body["updated_at"].is_string());
    t.post(STRIPE, &t.platform.token, Some(body())).await.expect(200, "");
    let audit = t.get("/api/organizations/acme/audit-log", &t.owner.token).await;
    audit.expect(200, "");
    assert!(audit.text.contains("billing_credentials.updated"), "{}", audit.text);
    let polar = t
        .get("/api/organizations/acme/billing-credentials/polar", &t.owner.token)
        .await;
    assert_eq!(polar.body["configured"], false, "one row per provider");

    let gone = t.delete(STRIPE, &t.owner.token).await;
    gone.expect(200, "");
    assert_eq!(
        gone.body,
        json!({"message": "Billing credentials deleted", "deleted_count": 1})
    );
    let again = t.delete(STRIPE, &t.owner.token).await;
    again.expect(404, "NOT_FOUND");
    assert_eq!(again.body["detail"], "Billing credentials not found for this provider");
    assert_eq!(t.get(STRIPE, &t.owner.token).await.body["configured"], false);
    for res in [&none, &set, &got, &audit, &gone, &again] {
        assert!(!res.text.contains("hunter2"), "a secret was returned: {}", res.text);
    }
}

#[tokio::test]
async fn every_field_rule_and_an_unknown_provider_are_a_400_naming_the_field() {
    let t = TestApp::new().await;
    let cases: Vec<(&str, &str, Value, &[&str])> = vec![
        ("unknown provider", "paypal", body(), &["provider"]),
        (
            "live key in test mode",
            "stripe",
            json!({"api_key": "sk_live_hunter2", "webhook_secret": WHSEC, "mode": "test"}),
            &["api_key"],
        ),
        (
            "test key in live mode",
            "stripe",
            json!({"api_key": "rk_test_hunter2", "webhook_secret": WHSEC, "mode": "live"}),
            &["api_key"],
        ),
        (
            "publishable key",
            "stripe",
            json!({"api_key": "pk_test_hunter2", "webhook_secret": WHSEC, "mode": "test"}),
            &["api_key"],
        ),
        (
            "bad mode",
            "stripe",
            json!({"api_key": KEY, "webhook_secret": WHSEC, "mode": "sandbox"}),
            &["mode"],
        ),
        (
            "empty key",
            "polar",
            json!({"api_key": "", "webhook_secret": WHSEC, "mode": "test"}),
            &["api_key"],
        ),
        (
            "long key",
            "polar",
            json!({"api_key": "k".repeat(4097), "webhook_secret": WHSEC, "mode": "test"}),
            &["api_key"],
        ),
        (
            "empty secret",
            "polar",
            json!({"api_key": "k", "webhook_secret": "", "mode": "test"}),
            &["webhook_secret"],
        ),
        (
            "missing mode",
            "stripe",
            json!({"api_key": KEY, "webhook_secret": WHSEC}),
            &["mode"],
        ),
        (
            "missing key",
            "stripe",
            json!({"webhook_secret": WHSEC, "mode": "test"}),
            &["api_key"],
        ),
        (
            "missing secret",
            "stripe",
            json!({"api_key": KEY, "mode": "test"}),
            &["webhook_secret"],
        ),
        (
            "unknown member",
            "stripe",
            json!({"api_key": KEY, "webhook_secret": WHSEC, "mode": "test", "enabled": true}),
            &["enabled"],
        ),
    ];
    for (name, provider, b, want) in cases {
        let path = format!("/api/organizations/acme/billing-credentials/{provider}");
        let res = t.post(&path, &t.owner.token, Some(b)).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(fields(&res), want, "{name}: {}", res.text);
        assert!(!res.text.contains("hunter2"), "{name}: a secret was echoed");
    }
    let path = "/api/organizations/acme/billing-credentials/paddle";
    let res = t.get(path, &t.owner.token).await;
    res.expect(400, "VALIDATION_FAILED");
    assert_eq!(fields(&res), ["provider"]);
    let res = t.delete(path, &t.owner.token).await;
    res.expect(400, "VALIDATION_FAILED");
    assert_eq!(fields(&res), ["provider"]);
    t.post(
        "/api/organizations/acme/billing-credentials/polar",
        &t.owner.token,
        Some(json!({"api_key": "polar_oat_x", "webhook_secret": WHSEC, "mode": "live"})),
    )
    .await
    .expect(200, "");
    assert_eq!(
        t.get(STRIPE, &t.owner.token).await.body["configured"],
        false,
        "nothing else was stored"
    );
}

#[tokio::test]
async fn only_the_owner_or_a_platform_owner_may_and_strangers_get_404() {
    let t = TestApp::new().await;
    for actor in [&t.admin, &t.member] {
        t.post(STRIPE, &actor.token, Some(body()))
            .await
            .expect(403, "FORBIDDEN");
        t.get(STRIPE, &actor.token).await.expect(403, "FORBIDDEN");
        t.delete(STRIPE, &actor.token).await.expect(403, "FORBIDDEN");
    }
    t.get(STRIPE, &t.platform.token).await.expect(200, "");
    t.get(STRIPE, &t.stranger.token).await.expect(404, "NOT_FOUND");
    t.post(STRIPE, &t.stranger.token, Some(body()))
        .await
        .expect(404, "NOT_FOUND");
}
