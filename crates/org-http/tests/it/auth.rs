//! §2: bearer validation through HTTP (401 codes, problem bodies, `WWW-Authenticate`), refresh
//! rotation, the replay window and reuse, logout, the current user and the JWKS. The pure JWT
//! checks are unit tests of `org-tokens` (`src/jwt.rs`).

use std::sync::OnceLock;

use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use org_app::AppConfig;
use org_ports::AccessClaims;
use org_tokens::{Keys, SigningAlg};
use serde_json::{Value, json};

use crate::support::{self, ISSUER, TestApp};

/// One RSA key per test process: generating it is slow in debug builds.
fn rsa_keys() -> Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::generate_for(SigningAlg::RS256).unwrap())
        .clone()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

fn with_header(token: &str, header: Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    parts.join(".")
}

#[tokio::test]
async fn refused_tokens_answer_401_with_the_code_the_contract_gives() {
    let t = TestApp::new().await;
    let good = t.owner.token.clone();
    let claims = t.claims_of(&good);
    let kid = t.tokens.keys().kid().to_owned();
    let forged = |c: AccessClaims| t.forge(&c);
    let other_key = org_tokens::sign(&Keys::generate(), &claims);
    let mut tampered: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&tampered[1]).unwrap()).unwrap();
    payload["is_platform_owner"] = json!(true);
    tampered[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let cases: Vec<(&str, String, &str)> = vec![
        ("garbage", "not-a-token".into(), "JWT_ERROR"),
        ("two parts", good.rsplit_once('.').unwrap().0.to_owned(), "JWT_ERROR"),
        ("oversized", "a".repeat(9000), "JWT_ERROR"),
        (
            "alg none",
            with_header(&good, json!({"alg": "none", "kid": kid, "typ": "at+jwt"})),
            "JWT_ERROR",
        ),
        (
            "alg HS256",
            with_header(&good, json!({"alg": "HS256", "kid": kid, "typ": "at+jwt"})),
            "JWT_ERROR",
        ),
        ("unknown kid", other_key, "JWT_ERROR"),
        (
            "wrong typ",
            with_header(&good, json!({"alg": "EdDSA", "kid": kid, "typ": "JWT"})),
            "JWT_ERROR",
        ),
        (
            "jku header",
            with_header(
                &good,
                json!({"alg": "EdDSA", "kid": kid, "typ": "at+jwt", "jku": "https://evil.test"}),
            ),
            "JWT_ERROR",
        ),
        ("tampered payload", tampered.join("."), "JWT_ERROR"),
        (
            "wrong issuer",
            forged(AccessClaims {
                iss: "https://evil.test".into(),
                ..claims.clone()
            }),
            "JWT_ERROR",
        ),
        (
            "expired",
            forged(AccessClaims {
                exp: claims.iat - 61,
                iat: claims.iat - 1000,
                ..claims.clone()
            }),
            "TOKEN_EXPIRED",
        ),
        (
            "issued in the future",
            forged(AccessClaims {
                iat: claims.iat + 3600,
                exp: claims.exp + 3600,
                ..claims.clone()
            }),
            "JWT_ERROR",
        ),
        (
            "not yet valid",
            forged(AccessClaims {
                nbf: Some(claims.iat + 3600),
                ..claims.clone()
            }),
            "JWT_ERROR",
        ),
        (
            "unknown audience",
            forged(AccessClaims {
                aud: "somewhere".into(),
                ..claims.clone()
            }),
            "JWT_ERROR",
        ),
        (
            "service audience on an org route",
            forged(AccessClaims {
                aud: "service:acme/app".into(),
                ..claims.clone()
            }),
            "JWT_ERROR",
        ),
        (
            "malformed subject",
            forged(AccessClaims {
                sub: "not-a-uuid".into(),
                ..claims.clone()
            }),
            "JWT_ERROR",
        ),
        (
            "a session of another user",
            forged(AccessClaims {
                sub: t.admin.id(),
                ..claims.clone()
            }),
            "UNAUTHORIZED",
        ),
        ("revoked session", t.revoked.token.clone(), "UNAUTHORIZED"),
    ];
    for (name, token, code) in cases {
        let path = "/api/organizations/acme";
        let res = t.get(path, &token).await;
        assert_eq!((res.status.as_u16(), res.code()), (401, code), "{name}: {}", res.text);
        assert_eq!(
            res.header("www-authenticate"),
            r#"Bearer error="invalid_token""#,
            "{name}"
        );
        let b = &res.body;
        let kebab = code.to_ascii_lowercase().replace('_', "-");
        assert_eq!(b["type"], format!("urn:org-server:problem:{kebab}"), "{name}");
        assert_eq!(
            (b["status"].as_u64(), b["instance"].as_str()),
            (Some(401), Some(path)),
            "{name}"
        );
        assert!(!b["detail"].as_str().unwrap_or_default().is_empty(), "{name}");
        assert_eq!(b["error"], b["detail"], "{name}");
        assert_eq!(b["request_id"], res.header("x-request-id"), "{name}");
    }
    let none = t.send(Method::GET, "/api/user", None, None).await;
    none.expect(401, "UNAUTHORIZED");
    assert_eq!(none.header("www-authenticate"), "Bearer");
    // The token that every forgery started from still works.
    t.get("/api/organizations/acme", &good).await.expect(200, "");
}

#[tokio::test]
async fn problem_titles_and_details_tell_expired_from_invalid_tokens() {
    let t = TestApp::new().await;
    let claims = t.claims_of(&t.owner.token);
    let expired = t.forge(&AccessClaims {
        exp: claims.iat - 61,
        iat: claims.iat - 1000,
        ..claims.clone()
    });
    let res = t.get("/api/user", &expired).await;
    res.expect(401, "TOKEN_EXPIRED");
    assert_eq!(
        (res.body["title"].as_str(), res.body["detail"].as_str()),
        (Some("Token expired"), Some("Access token has expired"))
    );
    let foreign = t.get("/api/user", &org_tokens::sign(&Keys::generate(), &claims)).await;
    foreign.expect(401, "JWT_ERROR");
    assert_eq!(foreign.body["title"], "Invalid token");
    assert_eq!(foreign.body["detail"], "unknown key id");
}

#[tokio::test]
async fn a_token_within_the_expiry_leeway_is_still_accepted_and_then_expires() {
    let t = TestApp::new().await;
    t.advance(Duration::minutes(15) + Duration::seconds(30));
    t.get("/api/user", &t.owner.token).await.expect(200, "");
    // The signature check is remembered; the times are not.
    t.advance(Duration::seconds(40));
    t.get("/api/user", &t.owner.token).await.expect(401, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn a_previous_signing_key_still_verifies_after_a_rotation() {
    let t = TestApp::new().await;
    let old = t.tokens.keys();
    t.get("/api/user", &t.owner.token).await.expect(200, "");
    t.tokens.replace_keys(Keys::generate().with_verification_key(&old));
    t.get("/api/user", &t.owner.token).await.expect(200, "");
    let jwks = t.send(Method::GET, "/.well-known/jwks.json", None, None).await;
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 2);
    // A retired key: the token verified before is refused on its next use.
    t.tokens.replace_keys(Keys::generate());
    t.get("/api/user", &t.owner.token).await.expect(401, "JWT_ERROR");
}

#[tokio::test]
async fn an_org_scoped_token_is_refused_on_another_orgs_routes_but_may_select_it() {
    let t = TestApp::new().await;
    let acme = t.org_token(&t.platform, "acme").await;
    let res = t.get("/api/organizations/other", &acme).await;
    res.expect(403, "FORBIDDEN");
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap()
            .contains("select this organization first")
    );
    t.get("/api/organizations/acme", &acme).await.expect(200, "");
    t.get("/api/organizations", &acme).await.expect(200, "");
    t.post("/api/organizations/other/select", &acme, None)
        .await
        .expect(200, "");
    t.get("/api/platform/tiers", &acme).await.expect(200, "");
}

#[tokio::test]
async fn the_current_user_lists_memberships_with_resolved_capabilities() {
    let t = TestApp::new().await;
    let res = t.get("/api/user", &t.auditor.token).await;
    res.expect(200, "");
    assert_eq!(res.body["email"], "auditor@acme.test");
    assert_eq!(res.body["session"]["aud"], "platform");
    assert_eq!(res.body["session"]["id"], t.auditor.session_id.as_str());
    let m = &res.body["memberships"][0];
    assert_eq!(m["organization"]["slug"], "acme");
    assert_eq!(m["membership"]["role"], "auditor");
    assert_eq!(m["capabilities"], json!(["audit_logs.view"]));
    let relation = format!("organization:{}#auditor", m["organization"]["id"].as_str().unwrap());
    assert_eq!(res.body["permissions"], json!([relation]));
    let owner = t.get("/api/user", &t.owner.token).await;
    assert_eq!(
        owner.body["memberships"][0]["capabilities"].as_array().unwrap().len(),
        19
    );
}

#[tokio::test]
async fn the_jwks_publishes_the_signing_key_and_is_cacheable() {
    let t = TestApp::new().await;
    let res = t
        .send(Method::GET, "/.well-known/jwks.json", Some("stale-garbage"), None)
        .await;
    res.expect(200, "");
    assert_eq!(res.header("cache-control"), "public, max-age=300");
    let key = &res.body["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert_eq!((key["use"].as_str(), key["alg"].as_str()), (Some("sig"), Some("EdDSA")));
    assert_eq!(key["kid"], t.tokens.keys().kid());
    assert_eq!(res.body, t.tokens.jwks());
    assert_eq!(
        header_of(&t.owner.token),
        json!({"alg": "EdDSA", "kid": t.tokens.keys().kid(), "typ": "at+jwt"})
    );
}

#[tokio::test]
async fn the_jwks_serves_a_new_key_as_soon_as_the_adapter_replaces_its_keys() {
    let t = TestApp::new().await;
    let jwks = || t.send(Method::GET, "/.well-known/jwks.json", None, None);
    let before = jwks().await;
    let old_kid = before.body["keys"][0]["kid"].as_str().unwrap().to_owned();
    let new = Keys::generate();
    let new_kid = new.kid().to_owned();
    assert_ne!(new_kid, old_kid);
    t.tokens.replace_keys(new);
    let after = jwks().await;
    after.expect(200, "");
    let kids: Vec<&str> = after.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new_kid.as_str()]);
    // Tokens issued from now on are signed by the published key and authenticate.
    let fresh = t.actor("fresh@acme.test").await;
    assert_eq!(header_of(&fresh.token)["kid"], new_kid.as_str());
    t.get("/api/user", &fresh.token).await.expect(200, "");
}

#[tokio::test]
async fn without_a_jwks_renderer_the_key_set_is_empty() {
    let t = TestApp::builder().without_jwks().build().await;
    let res = t.send(Method::GET, "/.well-known/jwks.json", None, None).await;
    res.expect(200, "");
    assert_eq!(res.body, json!({"keys": []}));
}

#[tokio::test]
async fn refresh_rotates_the_token_and_keeps_the_sessions_context() {
    let t = TestApp::new().await;
    let select = t.post("/api/organizations/acme/select", &t.member.token, None).await;
    let rt = select.body["refresh_token"].as_str().unwrap().to_owned();
    let res = t
        .send(
            Method::POST,
            "/api/auth/refresh",
            Some("ignored-garbage"),
            Some(json!({"refresh_token": rt})),
        )
        .await;
    res.expect(200, "");
    assert_eq!(res.header("cache-control"), "no-store");
    assert_eq!(res.body["token_type"], "Bearer");
    assert_eq!(res.body["expires_in"], 900);
    let new_rt = res.body["refresh_token"].as_str().unwrap();
    assert!(new_rt.starts_with("rt_") && new_rt != rt);
    let access = res.body["access_token"].as_str().unwrap();
    let claims = t.claims_of(access);
    assert_eq!((claims.aud.as_str(), claims.org.as_deref()), ("org:acme", Some("acme")));
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.exp - claims.iat, 900);
    t.get("/api/organizations/acme", access).await.expect(200, "");
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_session() {
    let t = TestApp::new().await;
    let first = t.owner.refresh_token.clone();
    let res = t.refresh(&first).await;
    res.expect(200, "");
    let second = res.body["refresh_token"].as_str().unwrap().to_owned();
    let access = res.body["access_token"].as_str().unwrap().to_owned();
    t.advance(Duration::seconds(31));
    let reuse = t.refresh(&first).await;
    reuse.expect(401, "UNAUTHORIZED");
    assert_eq!(reuse.body["detail"], "Invalid refresh token");
    // The family is revoked: the rotated token and every access token of the session die.
    t.refresh(&second).await.expect(401, "UNAUTHORIZED");
    t.get("/api/user", &access).await.expect(401, "UNAUTHORIZED");
    t.get("/api/user", &t.owner.token).await.expect(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn unknown_empty_and_replayed_refresh_tokens_are_refused() {
    let t = TestApp::new().await;
    t.refresh("rt_unknown").await.expect(401, "UNAUTHORIZED");
    t.refresh("").await.expect(400, "VALIDATION_FAILED");
    t.refresh(&"x".repeat(1001)).await.expect(400, "VALIDATION_FAILED");
    t.send(Method::POST, "/api/auth/refresh", None, None)
        .await
        .expect(400, "VALIDATION_FAILED");
    t.refresh(&t.revoked.refresh_token).await.expect(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_replay_inside_the_window_gets_the_same_pair_and_revokes_nothing() {
    let t = TestApp::new().await;
    let rt = t.member.refresh_token.clone();
    let first = t.refresh(&rt).await;
    first.expect(200, "");
    t.advance(Duration::seconds(20));
    let replay = t.refresh(&rt).await;
    replay.expect(200, "");
    assert_eq!(replay.header("cache-control"), "no-store");
    assert_eq!(replay.body, first.body);
    let access = first.body["access_token"].as_str().unwrap();
    t.get("/api/user", access).await.expect(200, "");
    t.get("/api/user", &t.member.token).await.expect(200, "");
    // Past the window the same token is reuse.
    t.advance(Duration::seconds(11));
    t.refresh(&rt).await.expect(401, "UNAUTHORIZED");
    t.get("/api/user", access).await.expect(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn the_replayed_pair_is_the_live_one_and_rotates_on() {
    let t = TestApp::new().await;
    let rt = t.admin.refresh_token.clone();
    let first = t.refresh(&rt).await;
    first.expect(200, "");
    let replay = t.refresh(&rt).await;
    replay.expect(200, "");
    assert_eq!(replay.body, first.body);
    let next_rt = replay.body["refresh_token"].as_str().unwrap().to_owned();
    let next = t.refresh(&next_rt).await;
    next.expect(200, "");
    let third = next.body["refresh_token"].as_str().unwrap();
    assert!(third != next_rt && third != rt);
    // The window of the second rotation answers its own predecessor with its own pair, and
    // the first token, an older ancestor consumed inside the window, with the same latest pair.
    let again = t.refresh(&next_rt).await;
    again.expect(200, "");
    assert_eq!(again.body, next.body);
    let oldest = t.refresh(&rt).await;
    oldest.expect(200, "");
    assert_eq!(oldest.body, next.body);
    // Past the window the oldest ancestor is reuse: the session goes, latest pair included.
    t.advance(Duration::seconds(31));
    t.refresh(&rt).await.expect(401, "UNAUTHORIZED");
    t.refresh(third).await.expect(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn the_replay_window_is_the_configured_refresh_reuse_window() {
    let t = TestApp::builder()
        .config(|c| c.refresh_reuse_window = Duration::seconds(5))
        .build()
        .await;
    let rt = t.member.refresh_token.clone();
    let first = t.refresh(&rt).await;
    first.expect(200, "");
    t.advance(Duration::seconds(4));
    let replay = t.refresh(&rt).await;
    replay.expect(200, "");
    assert_eq!(replay.body, first.body);
    t.advance(Duration::seconds(2));
    t.refresh(&rt).await.expect(401, "UNAUTHORIZED");
    let access = first.body["access_token"].as_str().unwrap();
    t.get("/api/user", access).await.expect(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_replay_is_answered_by_another_instance_over_the_same_store() {
    let t = TestApp::new().await;
    let (_, _, second) = support::instance(
        t.store.clone(),
        t.clock.clone(),
        t.tokens.clone(),
        AppConfig::default(),
        t.state.config().clone(),
    );
    let body = json!({"refresh_token": t.member.refresh_token});
    let first = t.refresh(&t.member.refresh_token).await;
    first.expect(200, "");
    t.advance(Duration::seconds(10));
    let replay = support::call(
        &second,
        support::request(Method::POST, "/api/auth/refresh", None, Some(body)),
    )
    .await;
    replay.expect(200, "");
    assert_eq!(replay.body, first.body);
    let access = first.body["access_token"].as_str().unwrap();
    let user = support::call(&second, support::request(Method::GET, "/api/user", Some(access), None)).await;
    user.expect(200, "");
}

#[tokio::test]
async fn refresh_rechecks_authority_of_org_sessions() {
    let t = TestApp::new().await;
    let select = t.post("/api/organizations/acme/select", &t.member.token, None).await;
    let rt = select.body["refresh_token"].as_str().unwrap().to_owned();
    t.delete(
        &format!("/api/organizations/acme/members/{}", t.member.id()),
        &t.owner.token,
    )
    .await
    .expect(200, "");
    t.refresh(&rt).await.expect(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn logout_ends_the_session_on_the_very_next_request() {
    let t = TestApp::new().await;
    let res = t.post("/api/auth/logout", &t.member.token, None).await;
    res.expect(200, "");
    assert_eq!(res.body, json!({"message": "Logged out"}));
    t.get("/api/user", &t.member.token).await.expect(401, "UNAUTHORIZED");
    t.refresh(&t.member.refresh_token).await.expect(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn two_concurrent_refreshes_with_one_token_both_get_the_same_pair() {
    let t = TestApp::new().await;
    let (a, b) = tokio::join!(t.refresh(&t.admin.refresh_token), t.refresh(&t.admin.refresh_token));
    a.expect(200, "");
    b.expect(200, "");
    assert_eq!(a.body["refresh_token"], b.body["refresh_token"]);
    assert_eq!(a.body["access_token"], b.body["access_token"]);
}

#[tokio::test]
async fn an_rs256_server_issues_rs256_tokens_that_authenticate() {
    let keys = rsa_keys();
    assert_eq!(keys.alg(), SigningAlg::RS256);
    let t = TestApp::builder().keys(keys.clone()).build().await;
    let header = header_of(&t.owner.token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], keys.kid());
    assert_eq!(header["typ"], "at+jwt");
    t.get("/api/user", &t.owner.token).await.expect(200, "");
}

#[tokio::test]
async fn an_rs256_jwks_publishes_the_rsa_modulus_and_exponent() {
    let t = TestApp::builder().keys(rsa_keys()).build().await;
    let res = t.send(Method::GET, "/.well-known/jwks.json", None, None).await;
    res.expect(200, "");
    let key = &res.body["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert!(key.get("crv").is_none() && key.get("x").is_none());
    let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 256, "a 2048-bit modulus");
    assert_eq!(key["e"], "AQAB");
    // kid = RFC 7638 thumbprint.
    let canonical = format!(r#"{{"e":"AQAB","kty":"RSA","n":"{}"}}"#, key["n"].as_str().unwrap());
    let kid = URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(canonical.as_bytes()));
    assert_eq!(key["kid"], kid.as_str());
    assert_eq!(key["kid"], t.tokens.keys().kid());
}

#[tokio::test]
async fn an_eddsa_token_is_refused_by_an_rs256_server_even_from_a_verifying_key() {
    let t = TestApp::new().await;
    let ed = t.tokens.keys();
    let eddsa_token = t.owner.token.clone();
    // RS256 signs; the old Ed25519 key is still published, but EdDSA is not accepted.
    t.tokens.replace_keys(rsa_keys().with_verification_key(&ed));
    t.get("/api/user", &eddsa_token).await.expect(401, "JWT_ERROR");
    let claims = org_tokens::validate(&ed, ISSUER, &eddsa_token, t.now()).unwrap();
    let rs256 = t.forge(&claims);
    assert_eq!(header_of(&rs256)["alg"], "RS256");
    t.get("/api/user", &rs256).await.expect(200, "");
    // And the other way round: an RS256 token against an EdDSA server.
    t.tokens.replace_keys(ed.with_verification_key(&rsa_keys()));
    t.get("/api/user", &rs256).await.expect(401, "JWT_ERROR");
    t.get("/api/user", &eddsa_token).await.expect(200, "");
}

#[tokio::test]
async fn refresh_refuses_an_expired_refresh_token_and_a_session_past_its_absolute_lifetime() {
    let t = TestApp::builder()
        .config(|c| {
            c.refresh_token_ttl = Duration::hours(1);
            c.session_max_lifetime = Duration::hours(2);
        })
        .build()
        .await;
    // The admin rotates before each expiry; the member's token is never used.
    t.advance(Duration::minutes(59));
    let first = t.refresh(&t.admin.refresh_token).await;
    first.expect(200, "");
    t.advance(Duration::minutes(1) + Duration::seconds(1));
    t.refresh(&t.member.refresh_token).await.expect(401, "UNAUTHORIZED");
    t.advance(Duration::minutes(49));
    let second = t.refresh(first.body["refresh_token"].as_str().unwrap()).await;
    second.expect(200, "");
    // 2 h 39 min in: the token rotated at 1 h 49 min would live until 2 h 49 min, but the
    // session ended at 2 h.
    t.advance(Duration::minutes(50));
    let rt = second.body["refresh_token"].as_str().unwrap().to_owned();
    t.refresh(&rt).await.expect(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_disabled_user_is_refused_on_the_next_request_and_cannot_refresh() {
    let t = TestApp::new().await;
    let org_token = t.org_token(&t.member, "acme").await;
    t.get("/api/user", &t.member.token).await.expect(200, "");
    t.app.users.set_disabled("member@acme.test", true).await.unwrap();
    for token in [&t.member.token, &org_token] {
        let res = t.get("/api/user", token).await;
        res.expect(401, "UNAUTHORIZED");
        assert_eq!(res.body["detail"], "Session revoked or expired");
        assert_eq!(res.header("www-authenticate"), r#"Bearer error="invalid_token""#);
    }
    t.refresh(&t.member.refresh_token).await.expect(401, "UNAUTHORIZED");
    // Re-enabled, the user needs a new session: the old ones stay revoked.
    t.app.users.set_disabled("member@acme.test", false).await.unwrap();
    t.get("/api/user", &t.member.token).await.expect(401, "UNAUTHORIZED");
    let again = t.actor("member@acme.test").await;
    t.get("/api/user", &again.token).await.expect(200, "");
}

#[tokio::test]
async fn refresh_of_an_org_session_fails_once_the_org_is_suspended() {
    let t = TestApp::new().await;
    let select = t.post("/api/organizations/acme/select", &t.admin.token, None).await;
    let rt = select.body["refresh_token"].as_str().unwrap().to_owned();
    t.post(
        "/api/platform/organizations/acme/suspend",
        &t.platform.token,
        Some(json!({"reason": "unpaid"})),
    )
    .await
    .expect(200, "");
    t.refresh(&rt).await.expect(401, "UNAUTHORIZED");
    // A platform session of the same user is not an org session: it still refreshes.
    t.refresh(&t.admin.refresh_token).await.expect(200, "");
}

#[tokio::test]
async fn an_org_scoped_token_is_accepted_on_the_routes_outside_its_org() {
    let t = TestApp::new().await;
    let acme = t.org_token(&t.member, "acme").await;
    let user = t.get("/api/user", &acme).await;
    user.expect(200, "");
    assert_eq!(
        (
            user.body["session"]["aud"].as_str(),
            user.body["session"]["org_slug"].as_str()
        ),
        (Some("org:acme"), Some("acme"))
    );
    t.get("/api/invitations", &acme).await.expect(200, "");
    t.post(
        "/api/organizations",
        &acme,
        Some(json!({"slug": "side-project", "name": "Side project"})),
    )
    .await
    .expect(201, "");
    // Platform routes take it too, and then apply their own rule.
    t.get("/api/platform/organizations", &acme)
        .await
        .expect(403, "FORBIDDEN");
    t.post("/api/auth/logout", &acme, None).await.expect(200, "");
    t.get("/api/user", &acme).await.expect(401, "UNAUTHORIZED");
}
