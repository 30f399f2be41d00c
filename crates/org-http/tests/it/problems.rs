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

/// One HTTP/1.1 exchange over a real socket (the request is sent as is, `Connection: close`
/// added): the status code, the lower-cased head and the body.
fn exchange(addr: std::net::SocketAddr, target: &str, extra_header: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nhost: localhost\r\n{extra_header}connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn over_a_socket_long_targets_and_large_headers_get_problem_bodies_before_hyper_refuses_them() {
    let t = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, t.router.clone()).into_future());
    let long = format!("/healthz?pad={}", "a".repeat(org_http::URI_LIMIT));
    let header = format!("x-pad: {}\r\n", "b".repeat(org_http::HEADER_LIMIT));
    let beyond_hyper = format!("/healthz?pad={}", "c".repeat(70 * 1024));
    let (uri, headers, hyper) = tokio::task::spawn_blocking(move || {
        (
            exchange(addr, &long, ""),
            exchange(addr, "/healthz", &header),
            exchange(addr, &beyond_hyper, ""),
        )
    })
    .await
    .unwrap();
    server.abort();

    let cases = [
        (uri, 414, "URI_TOO_LONG"),
        (headers, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE"),
    ];
    for ((status, head, body), expected, code) in cases {
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(
            (status, problem["error_code"].as_str()),
            (expected, Some(code)),
            "{head}{body}"
        );
        assert_eq!(problem["status"], expected);
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("x-request-id:"), "{head}");
        assert_eq!(problem["instance"], "/healthz");
    }
    // Past hyper's own limit (65 534 bytes) hyper answers before any router: empty 414.
    let (status, _, body) = hyper;
    assert_eq!((status, body.as_str()), (414, ""));
}

#[tokio::test]
async fn long_targets_and_large_headers_are_414_and_431_problems_and_scim_errors_under_scim() {
    let t = TestApp::new().await;
    let pad = "a".repeat(org_http::URI_LIMIT);
    let res = t.get(&format!("/api/organizations?q={pad}"), &t.member.token).await;
    res.expect(414, "URI_TOO_LONG");
    assert_eq!(res.body["status"], 414);
    assert_eq!(res.body["type"], "urn:org-server:problem:uri-too-long");
    // At the limit the request goes through.
    let prefix = "/api/organizations?q=";
    let at_limit = format!("{prefix}{}", "a".repeat(org_http::URI_LIMIT - prefix.len()));
    t.get(&at_limit, &t.member.token).await.expect(200, "");
    let req = Request::builder()
        .uri("/api/organizations")
        .header("authorization", format!("Bearer {}", t.member.token))
        .header("x-pad", "b".repeat(org_http::HEADER_LIMIT))
        .body(Body::empty())
        .unwrap();
    let res = t.call(req).await;
    res.expect(431, "REQUEST_HEADER_FIELDS_TOO_LARGE");
    assert_eq!(res.body["request_id"], res.header("x-request-id"));
    let scim = t
        .call(
            Request::builder()
                .uri(format!("/scim/v2/Users?filter={pad}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(scim.status.as_u16(), 414);
    assert_eq!(scim.header("content-type"), "application/scim+json");
    assert_eq!(
        scim.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
}

#[tokio::test]
async fn malformed_queries_and_paths_are_problems_too() {
    let t = TestApp::new().await;
    let res = t.get("/api/organizations?page=two", &t.member.token).await;
    res.expect(400, "VALIDATION_FAILED");
    assert_eq!(res.body["errors"][0]["field"], "page");
    assert_eq!(res.header("content-type"), "application/json");
    // A path parameter that is not valid UTF-8 once decoded is an unknown resource.
    let res = t.get("/api/organizations/%FF%FE", &t.member.token).await;
    res.expect(404, "NOT_FOUND");
    assert_eq!(res.body["instance"], "/api/organizations/%FF%FE");
}
