//! §14 custom domain and §15 branding on the wire: statuses, problem bodies, shapes, the tier
//! gate's wording, the public route's caching and its 404s.

use std::sync::Arc;

use axum::http::Method;
use org_app::settings::DomainVerifier;
use org_http::HttpState;
use org_ports::{TxtLookup, TxtResolver};
use serde_json::{Value, json};

use crate::support::{TestApp, call, request};

const BRANDING: &str = "/api/organizations/acme/branding";
const DOMAIN: &str = "/api/organizations/acme/domain";

async fn withhold(t: &TestApp, key: &str) {
    t.patch(
        "/api/platform/organizations/acme",
        &t.platform.token,
        json!({"feature_overrides": {key: false}}),
    )
    .await
    .expect(200, "");
}

#[tokio::test]
async fn branding_is_patched_read_and_served_publicly_with_caching() {
    let t = TestApp::new().await;
    let unset = t.get(BRANDING, &t.member.token).await;
    unset.expect(200, "");
    assert_eq!(unset.body, json!({"logo_url": null, "primary_color": null}));

    let res = t
        .patch(
            BRANDING,
            &t.owner.token,
            json!({"logo_url": "https://cdn.acme.test/logo.svg", "primary_color": "#00AAFF"}),
        )
        .await;
    res.expect(200, "");
    assert_eq!(
        res.body,
        json!({"logo_url": "https://cdn.acme.test/logo.svg", "primary_color": "#00aaff"})
    );
    // `null` clears one field; the other stays.
    let res = t.patch(BRANDING, &t.owner.token, json!({"logo_url": null})).await;
    assert_eq!(res.body, json!({"logo_url": null, "primary_color": "#00aaff"}));

    // Public: no credential needed, a stale bearer is ignored, cacheable.
    for token in [None, Some("not-a-token")] {
        let res = t.send(Method::GET, &format!("{BRANDING}/public"), token, None).await;
        res.expect(200, "");
        assert_eq!(res.header("cache-control"), "public, max-age=300");
        assert_eq!(res.body, json!({"logo_url": null, "primary_color": "#00aaff"}));
    }
    let res = t
        .send(Method::GET, "/api/organizations/nope/branding/public", None, None)
        .await;
    res.expect(404, "NOT_FOUND");
    t.post(
        "/api/platform/organizations/acme/suspend",
        &t.platform.token,
        Some(json!({"reason": "billing"})),
    )
    .await
    .expect(200, "");
    let res = t.send(Method::GET, &format!("{BRANDING}/public"), None, None).await;
    res.expect(404, "NOT_FOUND");
    assert_eq!(
        res.body["detail"],
        t.send(Method::GET, "/api/organizations/nope/branding/public", None, None)
            .await
            .body["detail"]
    );
}

#[tokio::test]
async fn branding_rejects_bad_fields_by_name_and_is_gated_by_the_tier() {
    let t = TestApp::new().await;
    let cases: [(Value, &[&str]); 5] = [
        (json!({"logo_url": "http://cdn.acme.test/x.png"}), &["logo_url"]),
        (json!({"logo_url": "https://u:p@cdn.acme.test/x.png"}), &["logo_url"]),
        (json!({"primary_color": "blue"}), &["primary_color"]),
        (
            json!({"primary_color": "#abcd", "logo_url": "nope"}),
            &["logo_url", "primary_color"],
        ),
        (json!({"primary_color": 7}), &[]),
    ];
    for (body, fields) in cases {
        let res = t.patch(BRANDING, &t.owner.token, body.clone()).await;
        res.expect(400, "VALIDATION_FAILED");
        let named: Vec<&str> = res.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        if !fields.is_empty() {
            assert_eq!(named, fields, "{body}");
        }
    }
    t.patch(BRANDING, &t.owner.token, json!({"org_id": "x"}))
        .await
        .expect(400, "VALIDATION_FAILED");
    t.patch(BRANDING, &t.member.token, json!({"primary_color": "#fff"}))
        .await
        .expect(403, "FORBIDDEN");
    t.get(BRANDING, &t.stranger.token).await.expect(404, "NOT_FOUND");
    withhold(&t, "allow_branding").await;
    let res = t
        .patch(BRANDING, &t.owner.token, json!({"primary_color": "#fff"}))
        .await;
    res.expect(403, "FEATURE_NOT_AVAILABLE_IN_TIER");
    assert_eq!(
        res.body["detail"],
        "The feature 'Custom Branding' is not available on your current plan"
    );
    t.get(BRANDING, &t.member.token).await.expect(200, "");
}

#[tokio::test]
async fn a_domain_is_set_read_verified_and_deleted() {
    let t = TestApp::new().await;
    let res = t
        .post(DOMAIN, &t.owner.token, Some(json!({"domain": " Login.ACME.test. "})))
        .await;
    res.expect(200, "");
    let token = res.body["verification_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32);
    let methods = res.body["verification_methods"].as_array().unwrap();
    assert_eq!(methods.len(), 2);
    assert_eq!(methods[0]["method"], "DNS");
    assert_eq!(methods[0]["record_type"], "TXT");
    assert_eq!(methods[0]["record_name"], "_sso-verification.login.acme.test");
    assert_eq!(methods[0]["record_value"], token.as_str());
    assert_eq!(methods[0]["url"], Value::Null);
    assert_eq!(methods[1]["method"], "HTTP");
    assert_eq!(
        methods[1]["url"],
        "http://login.acme.test/.well-known/sso-verification.txt"
    );
    assert_eq!(methods[1]["record_type"], Value::Null);
    // Re-setting returns the same token.
    let again = t
        .post(DOMAIN, &t.owner.token, Some(json!({"domain": "login.acme.test"})))
        .await;
    assert_eq!(again.body["verification_token"], token.as_str());

    let conf = t.get(DOMAIN, &t.member.token).await;
    conf.expect(200, "");
    assert_eq!(
        conf.body,
        json!({"custom_domain": "login.acme.test", "domain_verified": false, "verified_at": null})
    );
    // Nothing published: not verified, and nothing written.
    let v = t.post(&format!("{DOMAIN}/verify"), &t.owner.token, None).await;
    v.expect(200, "");
    assert_eq!(v.body["verified"], false);
    assert_eq!(v.body["method"], Value::Null);
    assert!(
        v.body["message"]
            .as_str()
            .unwrap()
            .contains("_sso-verification.login.acme.test")
    );

    let del = t.delete(DOMAIN, &t.owner.token).await;
    assert_eq!(del.status, 204);
    assert!(del.text.is_empty());
    assert_eq!(t.delete(DOMAIN, &t.owner.token).await.status, 204, "a no-op");
    assert_eq!(
        t.get(DOMAIN, &t.member.token).await.body,
        json!({"custom_domain": null, "domain_verified": false, "verified_at": null})
    );
    t.post(&format!("{DOMAIN}/verify"), &t.owner.token, None)
        .await
        .expect(400, "BAD_REQUEST");
}

#[tokio::test]
async fn domain_errors_are_problems() {
    let t = TestApp::new().await;
    for bad in [
        json!({"domain": "no_underscores.test"}),
        json!({"domain": "single"}),
        json!({"domain": "x.123"}),
    ] {
        let res = t.post(DOMAIN, &t.owner.token, Some(bad)).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(res.body["errors"][0]["field"], "domain");
    }
    t.post(DOMAIN, &t.owner.token, Some(json!({})))
        .await
        .expect(400, "VALIDATION_FAILED");
    t.post(DOMAIN, &t.member.token, Some(json!({"domain": "a.test"})))
        .await
        .expect(403, "FORBIDDEN");
    t.delete(DOMAIN, &t.member.token).await.expect(403, "FORBIDDEN");
    t.post(&format!("{DOMAIN}/verify"), &t.member.token, None)
        .await
        .expect(403, "FORBIDDEN");
    withhold(&t, "allow_custom_domain").await;
    let res = t.post(DOMAIN, &t.owner.token, Some(json!({"domain": "a.test"}))).await;
    res.expect(403, "FEATURE_NOT_AVAILABLE_IN_TIER");
    assert_eq!(
        res.body["detail"],
        "The feature 'Custom Domain' is not available on your current plan"
    );
}

/// TXT answers from a fixed table.
struct Txt(Vec<(String, String)>);

#[async_trait::async_trait]
impl TxtResolver for Txt {
    async fn txt(&self, name: &str) -> TxtLookup {
        let found: Vec<String> = self
            .0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect();
        if found.is_empty() {
            TxtLookup::NotFound
        } else {
            TxtLookup::Records(found)
        }
    }
}

#[tokio::test]
async fn a_domain_verified_by_one_org_is_not_available_to_another() {
    let t = TestApp::builder()
        .http(|h| h.rate_limits.outbound_per_org = 2)
        .build()
        .await;
    let set = t
        .post(DOMAIN, &t.owner.token, Some(json!({"domain": "shared.test"})))
        .await;
    let token = set.body["verification_token"].as_str().unwrap().to_owned();
    let app = t.app.clone().with_domain_verifier(DomainVerifier {
        txt: Arc::new(Txt(vec![("_sso-verification.shared.test".into(), token)])),
        ..DomainVerifier::default()
    });
    let router = org_http::router(HttpState::new(app, t.state.config().clone()));
    let verify = || request(Method::POST, &format!("{DOMAIN}/verify"), Some(&t.owner.token), None);
    let v = call(&router, verify()).await;
    v.expect(200, "");
    assert_eq!(
        (v.body["verified"].clone(), v.body["method"].clone()),
        (json!(true), json!("DNS"))
    );
    let conf = t.get(DOMAIN, &t.member.token).await;
    assert_eq!(conf.body["domain_verified"], true);
    assert!(conf.body["verified_at"].as_str().unwrap().ends_with('Z'));

    let res = t
        .post(
            "/api/organizations/other/domain",
            &t.stranger.token,
            Some(json!({"domain": "SHARED.test"})),
        )
        .await;
    res.expect(409, "DUPLICATE_CONSTRAINT");
    assert_eq!(res.body["detail"], "This domain is not available");

    // The per-org outbound bucket (2 a minute here) answers 429 with Retry-After.
    call(&router, verify()).await.expect(200, "");
    let limited = call(&router, verify()).await;
    limited.expect(429, "RATE_LIMITED");
    assert!(limited.header("retry-after").parse::<u64>().unwrap() >= 1);
}

#[tokio::test]
async fn public_branding_takes_the_public_per_ip_bucket() {
    let t = TestApp::builder()
        .http(|h| h.rate_limits.public_per_ip = 1)
        .build()
        .await;
    let path = format!("{BRANDING}/public");
    t.send(Method::GET, &path, None, None).await.expect(200, "");
    let limited = t.send(Method::GET, &path, None, None).await;
    limited.expect(429, "RATE_LIMITED");
    assert!(limited.header("retry-after").parse::<u64>().unwrap() >= 1);
    // Authenticated routes are not in that bucket.
    t.get(BRANDING, &t.member.token).await.expect(200, "");
}
