//! §1.2–§1.4, §21.6–§21.7: problem bodies for every kind of refusal, request ids, headers.

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::json;

use crate::support::TestApp;

fn raw(method: Method, path: &str, token: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(body.into()).unwrap()
}

#[tokio::test]
async fn a_problem_body_has_every_member_of_rfc_9457_and_the_compat_ones() {
    let t = TestApp::new().await;
    let res = t.get("/api/organizations/nope", &t.member.token).await;
    res.expect(404, "NOT_FOUND");
    assert_eq!(res.header("content-type"), "application/json");
    let b = &res.body;
    assert_eq!(b["type"], "urn:org-server:problem:not-found");
    assert_eq!(b["title"], "Not found");
    assert_eq!(b["status"], 404);
    assert_eq!(b["instance"], "/api/organizations/nope");
    assert_eq!(b["error"], b["detail"]);
    assert_eq!(b["request_id"], res.header("x-request-id"));
    assert!(b["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(b.get("errors").is_none());
}

#[tokio::test]
async fn problem_json_is_the_media_type_only_when_accept_names_it() {
    let t = TestApp::new().await;
    let req = Request::builder()
        .uri("/api/organizations/nope")
        .header("authorization", format!("Bearer {}", t.member.token))
        .header("accept", "application/problem+json, application/json")
        .body(Body::empty())
        .unwrap();
    let res = t.call(req).await;
    res.expect(404, "NOT_FOUND");
    assert_eq!(res.header("content-type"), "application/problem+json");
}

#[tokio::test]
async fn body_errors_are_400_415_and_413_with_the_right_codes() {
    let t = TestApp::new().await;
    let path = "/api/organizations";
    let tok = &t.member.token;
    let malformed = t
        .call(raw(Method::POST, path, tok, Some("application/json"), "{\"slug\":"))
        .await;
    malformed.expect(400, "BAD_REQUEST");
    let unknown = t
        .call(raw(
            Method::POST,
            path,
            tok,
            Some("application/json; charset=utf-8"),
            json!({"slug": "abc", "name": "Abc", "owner_user_id": "x"}).to_string(),
        ))
        .await;
    unknown.expect(400, "VALIDATION_FAILED");
    assert_eq!(unknown.body["errors"][0]["field"], "owner_user_id");
    let wrong_type = t
        .call(raw(
            Method::POST,
            path,
            tok,
            Some("application/json"),
            r#"{"slug": 5, "name": "Abc"}"#,
        ))
        .await;
    wrong_type.expect(400, "VALIDATION_FAILED");
    assert_eq!(wrong_type.body["errors"][0]["field"], "slug");
    let missing = t
        .call(raw(
            Method::POST,
            path,
            tok,
            Some("application/json"),
            r#"{"slug": "abc"}"#,
        ))
        .await;
    assert_eq!(missing.body["errors"][0]["field"], "name");
    t.call(raw(
        Method::POST,
        path,
        tok,
        Some("text/plain"),
        r#"{"slug":"abc","name":"Abc"}"#,
    ))
    .await
    .expect(415, "UNSUPPORTED_MEDIA_TYPE");
    t.call(raw(Method::POST, path, tok, None, r#"{"slug":"abc","name":"Abc"}"#))
        .await
        .expect(415, "UNSUPPORTED_MEDIA_TYPE");
    let big = format!(r#"{{"slug":"abc","name":"{}"}}"#, "a".repeat(1024 * 1024));
    t.call(raw(Method::POST, path, tok, Some("application/json"), big))
        .await
        .expect(413, "PAYLOAD_TOO_LARGE");
    // A content type on a request without a body never causes 415.
    t.call(raw(Method::POST, "/api/auth/logout", tok, Some("text/plain"), ""))
        .await
        .expect(200, "");
}

#[tokio::test]
async fn unknown_paths_are_404_and_known_paths_with_other_methods_are_405_with_allow() {
    let t = TestApp::new().await;
    let res = t.get("/api/nothing-here", &t.member.token).await;
    res.expect(404, "NOT_FOUND");
    assert!(!res.header("x-request-id").is_empty());
    t.get("/api/user/", &t.member.token).await.expect(404, "NOT_FOUND");
    let res = t
        .send(
            Method::PUT,
            "/api/organizations",
            Some(&t.member.token),
            Some(json!({})),
        )
        .await;
    res.expect(405, "METHOD_NOT_ALLOWED");
    let allow = res.header("allow");
    assert!(allow.contains("GET") && allow.contains("POST"), "allow: {allow}");
    assert_eq!(res.body["instance"], "/api/organizations");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_nosniff() {
    let t = TestApp::new().await;
    let req = Request::builder()
        .uri("/healthz")
        .header("x-request-id", "client-id:42")
        .body(Body::empty())
        .unwrap();
    let res = t.call(req).await;
    assert_eq!(res.header("x-request-id"), "client-id:42");
    assert_eq!(res.header("x-content-type-options"), "nosniff");
    let req = Request::builder()
        .uri("/healthz")
        .header("x-request-id", "bad id with spaces")
        .body(Body::empty())
        .unwrap();
    let res = t.call(req).await;
    let id = res.header("x-request-id");
    assert_ne!(id, "bad id with spaces");
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    let err = t.get("/api/organizations/nope", "x.y.z").await;
    assert_eq!(err.header("x-content-type-options"), "nosniff");
}

#[tokio::test]
async fn a_member_lacking_a_capability_gets_403_naming_it() {
    let t = TestApp::new().await;
    let res = t.get("/api/organizations/acme/invitations", &t.member.token).await;
    res.expect(403, "FORBIDDEN");
    assert!(res.body["detail"].as_str().unwrap().contains("org.members.manage"));
}
