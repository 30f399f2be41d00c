//! §21: health, readiness, metrics, rate limits.

use std::sync::Arc;

use axum::http::Method;
use org_http::Readiness;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn health_and_readiness_answer_plain_json() {
    let t = TestApp::new().await;
    let res = t.send(Method::GET, "/healthz", Some("garbage"), None).await;
    res.expect(200, "");
    assert_eq!(res.body, json!({"status": "ok"}));
    let ready = t.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        ready.body,
        json!({"status": "ready", "checks": {"database": "ok", "migrations": "ok", "workers": "ok"}})
    );
    let down = TestApp::builder()
        .http(|h| {
            h.readiness = Some(Arc::new(|| {
                Box::pin(async {
                    Readiness {
                        database: false,
                        ..Readiness::READY
                    }
                })
            }))
        })
        .build()
        .await;
    let res = down.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(res.status.as_u16(), 503);
    assert_eq!(res.body["checks"]["database"], "fail");
    assert_eq!(res.body["status"], "not_ready");
    assert!(res.body.get("error_code").is_none());
}

#[tokio::test]
async fn metrics_render_through_the_configured_closure_behind_an_optional_token() {
    let t = TestApp::builder()
        .http(|h| {
            h.metrics_render = Some(Arc::new(|| "http_requests_total 1\n".to_owned()));
            h.metrics_bearer_token = Some("s3cret".into());
        })
        .build()
        .await;
    t.send(Method::GET, "/metrics", None, None)
        .await
        .expect(401, "UNAUTHORIZED");
    t.send(Method::GET, "/metrics", Some("wrong"), None)
        .await
        .expect(401, "UNAUTHORIZED");
    let res = t.send(Method::GET, "/metrics", Some("s3cret"), None).await;
    assert_eq!(res.status.as_u16(), 200);
    assert_eq!(res.text, "http_requests_total 1\n");
    assert!(res.header("content-type").starts_with("text/plain"));
}

#[tokio::test]
async fn per_ip_limits_answer_429_with_retry_after_but_spare_health_checks() {
    let t = TestApp::builder()
        .http(|h| {
            h.rate_limits.per_ip = 3;
            h.rate_limits.api_per_session = 0;
        })
        .build()
        .await;
    // Setup used one request (the logout of `revoked`).
    for _ in 0..2 {
        t.get("/api/user", &t.owner.token).await.expect(200, "");
    }
    let res = t.get("/api/user", &t.owner.token).await;
    res.expect(429, "RATE_LIMITED");
    assert!(res.header("retry-after").parse::<u64>().unwrap() >= 1);
    t.send(Method::GET, "/healthz", None, None).await.expect(200, "");
}

#[tokio::test]
async fn refresh_public_and_session_buckets_are_separate() {
    let t = TestApp::builder()
        .http(|h| {
            h.rate_limits.refresh_per_ip = 1;
            h.rate_limits.public_per_ip = 1;
            h.rate_limits.api_per_session = 2;
        })
        .build()
        .await;
    let refresh = |rt: &str| json!({"refresh_token": rt});
    t.send(Method::POST, "/api/auth/refresh", None, Some(refresh("rt_x")))
        .await
        .expect(401, "UNAUTHORIZED");
    t.send(Method::POST, "/api/auth/refresh", None, Some(refresh("rt_x")))
        .await
        .expect(429, "RATE_LIMITED");
    t.send(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .expect(200, "");
    t.send(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .expect(429, "RATE_LIMITED");
    t.get("/api/user", &t.member.token).await.expect(200, "");
    t.get("/api/user", &t.member.token).await.expect(200, "");
    t.get("/api/user", &t.member.token).await.expect(429, "RATE_LIMITED");
    t.get("/api/user", &t.admin.token).await.expect(200, "");
}

#[tokio::test]
async fn cors_preflight_is_answered_for_configured_origins() {
    let t = TestApp::builder()
        .http(|h| h.cors_allowed_origins = vec!["https://app.test".into()])
        .build()
        .await;
    let req = axum::http::Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/user")
        .header("origin", "https://app.test")
        .header("access-control-request-method", "GET")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = t.call(req).await;
    assert!(res.status.is_success(), "{}", res.status);
    assert_eq!(res.header("access-control-allow-origin"), "https://app.test");
    let get = t.get("/api/user", &t.owner.token).await;
    assert_eq!(get.status.as_u16(), 200);
}

#[tokio::test]
async fn replays_of_one_refresh_token_do_not_spend_the_refresh_budget() {
    let t = TestApp::builder()
        .http(|h| h.rate_limits.refresh_per_ip = 2)
        .build()
        .await;
    let first = t.refresh(&t.owner.refresh_token).await;
    first.expect(200, "");
    let pair = |r: &crate::support::Resp| {
        (
            r.body["access_token"].as_str().unwrap().to_owned(),
            r.body["refresh_token"].as_str().unwrap().to_owned(),
        )
    };
    let (access, refresh) = pair(&first);
    // The SDK's burst near expiry: the consumed token again and again, inside the window.
    for _ in 0..50 {
        let again = t.refresh(&t.owner.refresh_token).await;
        again.expect(200, "");
        assert_eq!(pair(&again), (access.clone(), refresh.clone()));
    }
    // One more rotation fits the budget of two; the next is refused, replays still answered.
    let second = t.refresh(&refresh).await;
    second.expect(200, "");
    let (_, newest) = pair(&second);
    let refused = t.refresh(&newest).await;
    refused.expect(429, "RATE_LIMITED");
    assert!(refused.header("retry-after").parse::<u64>().unwrap() >= 1);
    t.refresh("rt_unknown").await.expect(429, "RATE_LIMITED");
    let replay = t.refresh(&refresh).await;
    replay.expect(200, "");
    assert_eq!(pair(&replay), pair(&second));
}
