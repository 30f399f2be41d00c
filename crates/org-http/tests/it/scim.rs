//! `/scim/v2` (§10): SCIM tokens, the SCIM bearer, SCIM error bodies, Users and Groups with
//! their audit trail, ETags, projection, bad input that changes nothing, and tenant isolation.

use axum::body::Body;
use axum::http::{Method, Request};
use chrono::Duration;
use serde_json::{Value, json};

use crate::support::{Actor, Resp, TestApp};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM token of `slug` created by `by`.
async fn scim_token(t: &TestApp, by: &Actor, slug: &str) -> (String, String) {
    let res = t
        .post(
            &format!("/api/organizations/{slug}/scim-tokens"),
            &by.token,
            Some(json!({"name": "directory"})),
        )
        .await;
    res.expect(201, "");
    (
        res.body["id"].as_str().unwrap().to_owned(),
        res.body["token"].as_str().unwrap().to_owned(),
    )
}

/// A SCIM request with `application/scim+json` and optional extra headers.
async fn scim(
    t: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/scim/v2{path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/scim+json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    t.call(req.body(body).unwrap()).await
}

/// Asserts a SCIM error: status, `scimType`, the SCIM media type, never problem+json.
#[track_caller]
fn scim_error(res: &Resp, status: u16, scim_type: Option<&str>) {
    assert_eq!(res.status.as_u16(), status, "{}", res.text);
    assert_eq!(res.header("content-type"), "application/scim+json", "{}", res.text);
    assert_eq!(res.body["schemas"], json!([ERROR]), "{}", res.text);
    assert_eq!(res.body["status"], json!(status.to_string()));
    assert_eq!(res.body["scimType"].as_str(), scim_type, "{}", res.text);
    assert!(res.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

fn user_body(name: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"value": name, "type": "work", "primary": true}],
        "active": true,
    })
}

async fn create_user(t: &TestApp, token: &str, name: &str) -> Value {
    let res = scim(t, Method::POST, "/Users", token, Some(user_body(name)), &[]).await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.body
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

/// The org's audit entries with this action.
async fn audit(t: &TestApp, action: &str) -> Vec<Value> {
    let res = t
        .get(
            &format!("/api/organizations/acme/audit-log?action={action}"),
            &t.owner.token,
        )
        .await;
    res.expect(200, "");
    res.body["logs"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_token_authenticates_until_it_is_revoked_expired_or_deleted() {
    let t = TestApp::new().await;
    let (id, token) = scim_token(&t, &t.owner, "acme").await;
    assert!(token.starts_with("scim_") && token.len() == 48, "{token}");
    let list = scim(&t, Method::GET, "/Users", &token, None, &[]).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.header("content-type"), "application/scim+json");
    assert_eq!(list.body["totalResults"], 4, "acme has four members: {}", list.text);

    for bad in ["", "scim_nope", "not-a-scim-token"] {
        let res = scim(&t, Method::GET, "/Users", bad, None, &[]).await;
        scim_error(&res, 401, None);
        assert_eq!(res.header("www-authenticate"), "Bearer");
    }
    // A session's access token is no SCIM credential.
    scim_error(
        &scim(&t, Method::GET, "/Users", &t.owner.token, None, &[]).await,
        401,
        None,
    );

    t.post(
        &format!("/api/organizations/acme/scim-tokens/{id}/revoke"),
        &t.owner.token,
        None,
    )
    .await
    .expect(200, "");
    scim_error(&scim(&t, Method::GET, "/Users", &token, None, &[]).await, 401, None);
    let tokens = t.get("/api/organizations/acme/scim-tokens", &t.owner.token).await;
    assert_eq!(tokens.body[0]["active"], false);
    assert_eq!(audit(&t, "scim_token.revoked").await.len(), 1);

    // Expiry.
    let at = (t.now() + Duration::hours(1)).to_rfc3339();
    let res = t
        .post(
            "/api/organizations/acme/scim-tokens",
            &t.owner.token,
            Some(json!({"name": "short", "expires_at": at})),
        )
        .await;
    res.expect(201, "");
    let short = res.body["token"].as_str().unwrap().to_owned();
    assert_eq!(scim(&t, Method::GET, "/Schemas", &short, None, &[]).await.status, 200);
    t.advance(Duration::hours(2));
    scim_error(&scim(&t, Method::GET, "/Schemas", &short, None, &[]).await, 401, None);
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn token_routes_answer_the_sdk_shapes() {
    let t = TestApp::new().await;
    let created = t
        .post(
            "/api/organizations/acme/scim-tokens",
            &t.owner.token,
            Some(json!({"name": "  okta  "})),
        )
        .await;
    created.expect(201, "");
    assert_eq!(
        keys(&created.body),
        [
            "created_at",
            "created_by",
            "expires_at",
            "id",
            "name",
            "prefix",
            "token"
        ]
    );
    assert_eq!(created.body["name"], "okta");
    assert_eq!(created.header("cache-control"), "no-store");
    let token = created.body["token"].as_str().unwrap();
    assert_eq!(created.body["prefix"].as_str(), Some(&token[..12]));
    assert_eq!(created.body["created_by"], json!(t.owner.id()));
    let id = created.body["id"].as_str().unwrap();
    let list = t.get("/api/organizations/acme/scim-tokens", &t.owner.token).await;
    let listed = &list.body[0];
    assert_eq!(
        keys(listed),
        [
            "active",
            "created_at",
            "created_by",
            "expires_at",
            "id",
            "last_used_at",
            "name",
            "prefix",
            "revoked_at"
        ]
    );
    assert!(
        listed.get("token").is_none() && !list.text.contains(token),
        "the plaintext is shown once"
    );
    let one = t
        .get(&format!("/api/organizations/acme/scim-tokens/{id}"), &t.owner.token)
        .await;
    assert_eq!(&one.body, listed);
    for _ in 0..2 {
        let res = t
            .post(
                &format!("/api/organizations/acme/scim-tokens/{id}/revoke"),
                &t.owner.token,
                None,
            )
            .await;
        assert_eq!((res.status.as_u16(), &res.body), (200, &Value::Null));
    }
    assert_eq!(
        audit(&t, "scim_token.revoked").await.len(),
        1,
        "a second revoke changes nothing"
    );
    let res = t
        .delete(&format!("/api/organizations/acme/scim-tokens/{id}"), &t.owner.token)
        .await;
    assert_eq!((res.status.as_u16(), &res.body), (200, &Value::Null));
    t.get(&format!("/api/organizations/acme/scim-tokens/{id}"), &t.owner.token)
        .await
        .expect(404, "NOT_FOUND");
    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
    ] {
        t.post("/api/organizations/acme/scim-tokens", &t.owner.token, Some(bad))
            .await
            .expect(400, "VALIDATION_FAILED");
    }
}

#[tokio::test]
async fn last_used_at_moves_at_most_once_a_minute() {
    let t = TestApp::new().await;
    let (id, token) = scim_token(&t, &t.owner, "acme").await;
    let path = format!("/api/organizations/acme/scim-tokens/{id}");
    let used = |res: Resp| res.body["last_used_at"].clone();
    assert_eq!(used(t.get(&path, &t.owner.token).await), Value::Null);
    scim(&t, Method::GET, "/Users", &token, None, &[]).await;
    let first = used(t.get(&path, &t.owner.token).await);
    assert!(first.is_string(), "{first}");
    t.advance(Duration::seconds(30));
    scim(&t, Method::GET, "/Users", &token, None, &[]).await;
    assert_eq!(used(t.get(&path, &t.owner.token).await), first);
    t.advance(Duration::seconds(40));
    scim(&t, Method::GET, "/Users", &token, None, &[]).await;
    let later = used(t.get(&path, &t.owner.token).await);
    assert!(later.is_string() && later != first, "{later}");
}

#[tokio::test]
async fn a_token_keeps_its_creators_capabilities_from_creation() {
    let t = TestApp::new().await;
    // The admin's token: admins may manage plain members but not other admins or the owner.
    let (_, token) = scim_token(&t, &t.admin, "acme").await;
    t.patch(
        &format!("/api/organizations/acme/members/{}", t.admin.id()),
        &t.owner.token,
        json!({"role": "member"}),
    )
    .await
    .expect(200, "");
    // Demoted since: the token still acts as the admin it was created by.
    let user = create_user(&t, &token, "kept@acme.test").await;
    assert_eq!(user["active"], true);
    let off = patch(json!([{"op": "replace", "value": {"active": false}}]));
    let res = scim(
        &t,
        Method::PATCH,
        &format!("/Users/{}", t.owner.id()),
        &token,
        Some(off),
        &[],
    )
    .await;
    scim_error(&res, 403, None);
    // A plain member cannot create tokens at all.
    let res = t
        .post(
            "/api/organizations/acme/scim-tokens",
            &t.member.token,
            Some(json!({"name": "m"})),
        )
        .await;
    res.expect(403, "FORBIDDEN");
}

#[tokio::test]
async fn tokens_are_tenant_scoped_and_tier_gated() {
    let t = TestApp::new().await;
    let (_, acme) = scim_token(&t, &t.owner, "acme").await;
    let (_, other) = scim_token(&t, &t.stranger, "other").await;
    // An acme member through other's token: 404, whatever the verb.
    let member = format!("/Users/{}", t.member.id());
    scim_error(&scim(&t, Method::GET, &member, &other, None, &[]).await, 404, None);
    let deactivate = patch(json!([{"op": "replace", "value": {"active": false}}]));
    scim_error(
        &scim(&t, Method::PATCH, &member, &other, Some(deactivate.clone()), &[]).await,
        404,
        None,
    );
    scim_error(&scim(&t, Method::DELETE, &member, &other, None, &[]).await, 404, None);
    let others = scim(&t, Method::GET, "/Users", &other, None, &[]).await;
    assert_eq!(others.body["totalResults"], 1, "{}", others.text);
    assert_eq!(scim(&t, Method::GET, &member, &acme, None, &[]).await.status, 200);

    // X-Organization-ID must name the token's org.
    let org = t.get("/api/organizations/acme", &t.owner.token).await;
    let acme_id = org.body["organization"]["id"].as_str().unwrap().to_owned();
    let same = scim(
        &t,
        Method::GET,
        "/Users",
        &acme,
        None,
        &[("x-organization-id", &acme_id)],
    )
    .await;
    assert_eq!(same.status, 200);
    let res = scim(
        &t,
        Method::GET,
        "/Users",
        &other,
        None,
        &[("x-organization-id", &acme_id)],
    )
    .await;
    scim_error(&res, 403, None);

    // A suspended org: its directory is refused until it is active again.
    t.post(
        "/api/platform/organizations/acme/suspend",
        &t.platform.token,
        Some(json!({"reason": "billing"})),
    )
    .await
    .expect(200, "");
    scim_error(&scim(&t, Method::GET, "/Users", &acme, None, &[]).await, 403, None);
    t.post("/api/platform/organizations/acme/activate", &t.platform.token, None)
        .await
        .expect(200, "");
    assert_eq!(scim(&t, Method::GET, "/Users", &acme, None, &[]).await.status, 200);

    // A tier without SCIM: the token stops working; creating one is refused; cleanup works.
    t.patch(
        "/api/platform/organizations/acme",
        &t.platform.token,
        json!({"feature_overrides": {"allow_scim": false}}),
    )
    .await
    .expect(200, "");
    scim_error(&scim(&t, Method::GET, "/Users", &acme, None, &[]).await, 403, None);
    let res = t
        .post(
            "/api/organizations/acme/scim-tokens",
            &t.owner.token,
            Some(json!({"name": "x"})),
        )
        .await;
    res.expect(403, "FEATURE_NOT_AVAILABLE_IN_TIER");
    assert_eq!(
        res.body["detail"],
        "The feature 'SCIM Provisioning' is not available on your current plan"
    );
    let list = t.get("/api/organizations/acme/scim-tokens", &t.owner.token).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn users_are_created_once_written_and_deprovisioned_with_audit_and_revocation() {
    let t = TestApp::new().await;
    let (token_id, token) = scim_token(&t, &t.owner, "acme").await;
    let created = scim(&t, Method::POST, "/Users", &token, Some(user_body("Jo@Acme.test")), &[]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(created.header("location").ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(
        created.header("etag"),
        created.body["meta"]["version"].as_str().unwrap()
    );
    assert_eq!(created.body["active"], true);
    assert_eq!(created.body["name"]["givenName"], "Given");

    // An identity provider's retry: 409 uniqueness, still one member (userName is case-insensitive).
    let again = scim(&t, Method::POST, "/Users", &token, Some(user_body("jo@acme.test")), &[]).await;
    scim_error(&again, 409, Some("uniqueness"));
    let found = scim(
        &t,
        Method::GET,
        "/Users?filter=userName%20eq%20%22JO@acme.test%22",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.text);
    let members = t.get("/api/organizations/acme/members", &t.owner.token).await;
    assert_eq!(members.body["total"], 5, "{}", members.text);

    let added = audit(&t, "member.added").await;
    let entry = added
        .iter()
        .find(|e| e["target_id"] == json!(id))
        .expect("member.added");
    assert_eq!(entry["actor_type"], "scim_token");
    assert_eq!(entry["actor_id"], json!(token_id));
    assert_eq!(entry["metadata"]["via"], "scim");

    // Deactivation: the member's sessions end and the org hides the member.
    let session = t.actor("jo@acme.test").await;
    let org_token = t.org_token(&session, "acme").await;
    let off = patch(json!([{"op": "Replace", "value": {"active": "False"}}]));
    let res = scim(&t, Method::PATCH, &format!("/Users/{id}"), &token, Some(off), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["active"], false);
    assert_eq!(audit(&t, "member.deactivated").await.len(), 1);
    assert_eq!(t.get("/api/organizations/acme", &org_token).await.status, 401);
    // Still a SCIM User, listed as inactive.
    let listed = scim(&t, Method::GET, "/Users?filter=active%20eq%20false", &token, None, &[]).await;
    assert_eq!(listed.body["totalResults"], 1, "{}", listed.text);

    let on = patch(json!([{"op": "replace", "path": "active", "value": true}]));
    let res = scim(&t, Method::PATCH, &format!("/Users/{id}"), &token, Some(on), &[]).await;
    assert_eq!(res.body["active"], true, "{}", res.text);
    assert_eq!(audit(&t, "member.reactivated").await.len(), 1);

    // PUT replaces: the absent name is cleared, the absent active stays.
    let put = json!({"schemas": [USER], "id": id, "userName": "jo@acme.test", "displayName": "Jo"});
    let res = scim(&t, Method::PUT, &format!("/Users/{id}"), &token, Some(put), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["displayName"], "Jo");
    assert!(
        res.body.get("name").is_none_or(|n| n.get("givenName").is_none()),
        "{}",
        res.text
    );
    assert_eq!(res.body["active"], true);
    assert!(!audit(&t, "member.updated").await.is_empty());

    let res = scim(&t, Method::DELETE, &format!("/Users/{id}"), &token, None, &[]).await;
    assert_eq!(res.status, 204, "{}", res.text);
    assert_eq!(audit(&t, "member.removed").await.len(), 1);
    scim_error(
        &scim(&t, Method::GET, &format!("/Users/{id}"), &token, None, &[]).await,
        404,
        None,
    );
}

#[tokio::test]
async fn owners_and_admins_keep_their_status_through_scim() {
    let t = TestApp::new().await;
    let (_, token) = scim_token(&t, &t.owner, "acme").await;
    for actor in [&t.owner, &t.admin] {
        let path = format!("/Users/{}", actor.id());
        let off = patch(json!([{"op": "replace", "value": {"active": false}}]));
        scim_error(&scim(&t, Method::PATCH, &path, &token, Some(off), &[]).await, 403, None);
        scim_error(&scim(&t, Method::DELETE, &path, &token, None, &[]).await, 403, None);
        // Their per-membership attributes are SCIM's to write.
        let rename = patch(json!([{"op": "replace", "path": "displayName", "value": "Renamed"}]));
        let res = scim(&t, Method::PATCH, &path, &token, Some(rename), &[]).await;
        assert_eq!(res.body["displayName"], "Renamed", "{}", res.text);
    }
    let members = t.get("/api/organizations/acme/members", &t.owner.token).await;
    assert_eq!(members.body["total"], 4);
}

#[tokio::test]
async fn etags_guard_writes_and_answer_conditional_reads() {
    let t = TestApp::new().await;
    let (_, token) = scim_token(&t, &t.owner, "acme").await;
    let user = create_user(&t, &token, "etag@acme.test").await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let tag = user["meta"]["version"].as_str().unwrap().to_owned();
    let res = scim(&t, Method::GET, &path, &token, None, &[("if-none-match", &tag)]).await;
    assert_eq!(res.status, 304);
    assert_eq!(res.header("etag"), tag);
    let rename = patch(json!([{"op": "replace", "path": "displayName", "value": "New"}]));
    let res = scim(
        &t,
        Method::PATCH,
        &path,
        &token,
        Some(rename.clone()),
        &[("if-match", &tag)],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let newer = res.header("etag").to_owned();
    assert_ne!(newer, tag);
    // The old tag no longer matches: 412, nothing written.
    let other = patch(json!([{"op": "replace", "path": "displayName", "value": "Lost"}]));
    scim_error(
        &scim(&t, Method::PATCH, &path, &token, Some(other), &[("if-match", &tag)]).await,
        412,
        None,
    );
    scim_error(
        &scim(&t, Method::DELETE, &path, &token, None, &[("if-match", &tag)]).await,
        412,
        None,
    );
    let now = scim(&t, Method::GET, &path, &token, None, &[("if-none-match", &tag)]).await;
    assert_eq!(
        (now.status.as_u16(), now.body["displayName"].as_str()),
        (200, Some("New"))
    );
    assert_eq!(now.header("etag"), newer);
}

#[tokio::test]
async fn bad_input_gets_the_scim_error_and_changes_nothing() {
    let t = TestApp::new().await;
    let (_, token) = scim_token(&t, &t.owner, "acme").await;
    let user = create_user(&t, &token, "bad@acme.test").await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let raw = |body: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri("/scim/v2/Users")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/scim+json")
            .body(Body::from(body))
            .unwrap()
    };
    scim_error(&t.call(raw("{\"userName\": ")).await, 400, Some("invalidSyntax"));
    let plain = Request::builder()
        .method(Method::POST)
        .uri("/scim/v2/Users")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "text/plain")
        .body(Body::from(user_body("plain@acme.test").to_string()))
        .unwrap();
    scim_error(&t.call(plain).await, 415, None);
    scim_error(&t.call(raw("")).await, 400, Some("invalidSyntax"));
    let wrong_schema =
        json!({"schemas": ["urn:wrong"], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    scim_error(
        &scim(&t, Method::PATCH, &path, &token, Some(wrong_schema), &[]).await,
        400,
        Some("invalidSyntax"),
    );
    let ops: Vec<Value> = (0..101)
        .map(|_| json!({"op": "replace", "path": "displayName", "value": "x"}))
        .collect();
    scim_error(
        &scim(&t, Method::PATCH, &path, &token, Some(patch(json!(ops))), &[]).await,
        400,
        Some("tooMany"),
    );
    for filter in ["title%20eq%20%22x%22", "userName%20eq", "userName%20xx%20%22a%22"] {
        let res = scim(&t, Method::GET, &format!("/Users?filter={filter}"), &token, None, &[]).await;
        scim_error(&res, 400, Some("invalidFilter"));
    }
    let long = format!("{}@acme.test", "a".repeat(300));
    scim_error(
        &scim(&t, Method::POST, "/Users", &token, Some(user_body(&long)), &[]).await,
        400,
        Some("invalidValue"),
    );
    let no_email = json!({"schemas": [USER], "userName": "not-an-email"});
    scim_error(
        &scim(&t, Method::POST, "/Users", &token, Some(no_email), &[]).await,
        400,
        Some("invalidValue"),
    );

    // One failing operation: the earlier ones do not apply either.
    let mixed = patch(json!([
        {"op": "replace", "path": "displayName", "value": "Applied?"},
        {"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x@acme.test"},
    ]));
    scim_error(
        &scim(&t, Method::PATCH, &path, &token, Some(mixed), &[]).await,
        400,
        Some("noTarget"),
    );
    let drop_name = patch(json!([{"op": "remove", "path": "userName"}]));
    scim_error(
        &scim(&t, Method::PATCH, &path, &token, Some(drop_name), &[]).await,
        400,
        Some("mutability"),
    );
    let now = scim(&t, Method::GET, &path, &token, None, &[]).await;
    assert_eq!(now.body["meta"]["version"], user["meta"]["version"], "{}", now.text);
    assert!(now.body.get("displayName").is_none());

    // Router-level errors are SCIM errors too.
    scim_error(
        &scim(&t, Method::GET, "/Nothing/here", &token, None, &[]).await,
        404,
        None,
    );
    scim_error(
        &scim(&t, Method::PUT, "/Users", &token, Some(json!({})), &[]).await,
        405,
        None,
    );
    for path in ["/Bulk", "/Me"] {
        scim_error(
            &scim(&t, Method::POST, path, &token, Some(json!({})), &[]).await,
            501,
            None,
        );
    }
    scim_error(
        &scim(&t, Method::POST, "/Users/.search", &token, Some(json!({})), &[]).await,
        501,
        None,
    );
    let big = json!({"schemas": [USER], "userName": "x".repeat(1024 * 1024 + 10)});
    scim_error(
        &scim(&t, Method::POST, "/Users", &token, Some(big), &[]).await,
        413,
        None,
    );
}

#[tokio::test]
async fn the_member_cap_applies_to_active_members_only() {
    let t = TestApp::new().await;
    let (_, token) = scim_token(&t, &t.owner, "acme").await;
    t.patch(
        "/api/platform/organizations/acme",
        &t.platform.token,
        json!({"max_users": 5}),
    )
    .await
    .expect(200, "");
    let fifth = create_user(&t, &token, "fifth@acme.test").await;
    let res = scim(
        &t,
        Method::POST,
        "/Users",
        &token,
        Some(user_body("sixth@acme.test")),
        &[],
    )
    .await;
    scim_error(&res, 400, None);
    assert!(
        res.body["detail"].as_str().unwrap().starts_with("TEAM_LIMIT_EXCEEDED"),
        "{}",
        res.text
    );
    // An inactive create does not count; deactivating frees a seat, reactivating needs one.
    let mut idle = user_body("idle@acme.test");
    idle["active"] = json!(false);
    assert_eq!(
        scim(&t, Method::POST, "/Users", &token, Some(idle), &[]).await.status,
        201
    );
    let fifth = format!("/Users/{}", fifth["id"].as_str().unwrap());
    let off = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(
        scim(&t, Method::PATCH, &fifth, &token, Some(off), &[]).await.status,
        200
    );
    assert_eq!(
        scim(
            &t,
            Method::POST,
            "/Users",
            &token,
            Some(user_body("sixth@acme.test")),
            &[]
        )
        .await
        .status,
        201
    );
    let on = patch(json!([{"op": "replace", "path": "active", "value": true}]));
    let res = scim(&t, Method::PATCH, &fifth, &token, Some(on), &[]).await;
    scim_error(&res, 400, None);
    assert!(
        res.body["detail"].as_str().unwrap().starts_with("TEAM_LIMIT_EXCEEDED"),
        "{}",
        res.text
    );
}

#[tokio::test]
async fn projection_and_paging_follow_the_query() {
    let t = TestApp::new().await;
    let (_, token) = scim_token(&t, &t.owner, "acme").await;
    for i in 0..3 {
        create_user(&t, &token, &format!("page{i}@acme.test")).await;
    }
    let res = scim(
        &t,
        Method::GET,
        "/Users?startIndex=2&count=2&attributes=userName",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(res.body["totalResults"], 7, "{}", res.text);
    assert_eq!(res.body["startIndex"], 2);
    assert_eq!(res.body["itemsPerPage"], 2);
    let first = &res.body["Resources"][0];
    assert!(first.get("userName").is_some() && first.get("id").is_some());
    assert!(first.get("emails").is_none() && first.get("meta").is_none(), "{first}");
    let only_total = scim(&t, Method::GET, "/Users?count=0", &token, None, &[]).await;
    assert_eq!(
        (
            only_total.body["totalResults"].as_u64(),
            only_total.body["Resources"].as_array().map(Vec::len)
        ),
        (Some(7), Some(0))
    );
    let excluded = scim(
        &t,
        Method::GET,
        "/Users?excludedAttributes=emails,name",
        &token,
        None,
        &[],
    )
    .await;
    assert!(excluded.body["Resources"][0].get("emails").is_none());
    assert!(excluded.body["Resources"][0].get("meta").is_some());
    let co = scim(
        &t,
        Method::GET,
        "/Users?filter=emails%5Bvalue%20co%20%22page%22%5D",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(co.body["totalResults"], 3, "{}", co.text);
}

#[tokio::test]
async fn role_groups_assign_and_take_back_roles() {
    let t = TestApp::new().await;
    let (_, token) = scim_token(&t, &t.owner, "acme").await;
    let a = create_user(&t, &token, "ga@acme.test").await;
    let b = create_user(&t, &token, "gb@acme.test").await;
    let (a, b) = (
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    );
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales Team", "members": [{"value": a}]});
    let res = scim(&t, Method::POST, "/Groups", &token, Some(group.clone()), &[]).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let gid = res.body["id"].as_str().unwrap().to_owned();
    assert_eq!(res.body["members"][0]["value"], json!(a));
    scim_error(
        &scim(&t, Method::POST, "/Groups", &token, Some(group), &[]).await,
        409,
        Some("uniqueness"),
    );
    let roles = t.get("/api/organizations/acme/roles", &t.owner.token).await;
    assert!(
        roles.body.as_array().unwrap().iter().any(|r| r["slug"] == "sales-team"),
        "{}",
        roles.text
    );

    let tag = scim(&t, Method::GET, &format!("/Groups/{gid}"), &token, None, &[])
        .await
        .header("etag")
        .to_owned();
    let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": b}]}]));
    let res = scim(&t, Method::PATCH, &format!("/Groups/{gid}"), &token, Some(add), &[]).await;
    assert_eq!(res.body["members"].as_array().map(Vec::len), Some(2), "{}", res.text);
    // The members changed, so the ETag did.
    let again = scim(
        &t,
        Method::GET,
        &format!("/Groups/{gid}"),
        &token,
        None,
        &[("if-none-match", &tag)],
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text);
    let user = scim(&t, Method::GET, &format!("/Users/{b}"), &token, None, &[]).await;
    assert!(
        user.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["value"] == json!(gid)),
        "{}",
        user.text
    );
    let by_member = scim(
        &t,
        Method::GET,
        &format!("/Groups?filter=members.value%20eq%20%22{b}%22"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(
        by_member.body["totalResults"], 2,
        "the org group and the role group: {}",
        by_member.text
    );

    let remove = patch(json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]));
    let res = scim(
        &t,
        Method::PATCH,
        &format!("/Groups/{gid}?excludedAttributes=members"),
        &token,
        Some(remove),
        &[],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(res.body.get("members").is_none());
    let changed = audit(&t, "member.role_changed").await;
    assert_eq!(changed.len(), 3, "two joins and one fallback");

    // An admin is never moved by a group; nothing of the request applies.
    let both = patch(json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": t.admin.id()}]}]));
    scim_error(
        &scim(&t, Method::PATCH, &format!("/Groups/{gid}"), &token, Some(both), &[]).await,
        403,
        None,
    );
    let now = scim(&t, Method::GET, &format!("/Groups/{gid}"), &token, None, &[]).await;
    assert_eq!(now.body["members"].as_array().map(Vec::len), Some(1), "{}", now.text);

    // The org group is read-only.
    let org = t.get("/api/organizations/acme", &t.owner.token).await;
    let org_id = org.body["organization"]["id"].as_str().unwrap().to_owned();
    scim_error(
        &scim(&t, Method::DELETE, &format!("/Groups/{org_id}"), &token, None, &[]).await,
        403,
        None,
    );

    let res = scim(&t, Method::DELETE, &format!("/Groups/{gid}"), &token, None, &[]).await;
    assert_eq!(res.status, 204, "{}", res.text);
    assert_eq!(audit(&t, "role.deleted").await.len(), 1);
    let member = t.get("/api/organizations/acme/members", &t.owner.token).await;
    assert!(
        member.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["role"] != "sales-team")
    );
}

#[tokio::test]
async fn each_token_has_its_own_rate_limit() {
    let t = TestApp::builder()
        .http(|h| h.rate_limits.scim_per_token = 3)
        .build()
        .await;
    let (_, one) = scim_token(&t, &t.owner, "acme").await;
    let (_, two) = scim_token(&t, &t.owner, "acme").await;
    for _ in 0..3 {
        assert_eq!(
            scim(&t, Method::GET, "/ServiceProviderConfig", &one, None, &[])
                .await
                .status,
            200
        );
    }
    let res = scim(&t, Method::GET, "/ServiceProviderConfig", &one, None, &[]).await;
    scim_error(&res, 429, None);
    assert!(res.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 1));
    assert_eq!(
        scim(&t, Method::GET, "/ServiceProviderConfig", &two, None, &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn discovery_describes_the_server() {
    let t = TestApp::new().await;
    let (_, token) = scim_token(&t, &t.owner, "acme").await;
    let spc = scim(&t, Method::GET, "/ServiceProviderConfig", &token, None, &[]).await;
    assert_eq!(spc.body["patch"]["supported"], true, "{}", spc.text);
    assert_eq!(spc.body["bulk"]["supported"], false);
    assert_eq!(spc.body["filter"]["maxResults"], 1000);
    let types = scim(&t, Method::GET, "/ResourceTypes", &token, None, &[]).await;
    assert_eq!(types.body["totalResults"], 2, "{}", types.text);
    assert_eq!(
        scim(&t, Method::GET, "/ResourceTypes/User", &token, None, &[])
            .await
            .status,
        200
    );
    let schema = scim(&t, Method::GET, &format!("/Schemas/{USER}"), &token, None, &[]).await;
    assert_eq!(schema.status, 200, "{}", schema.text);
    scim_error(
        &scim(&t, Method::GET, "/Schemas/urn:nope", &token, None, &[]).await,
        404,
        None,
    );
    scim_error(
        &scim(&t, Method::GET, "/ServiceProviderConfig", "scim_x", None, &[]).await,
        401,
        None,
    );
}
