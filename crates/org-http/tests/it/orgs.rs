//! §4: organizations.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn creating_an_org_answers_201_with_location_tokens_and_no_store() {
    let t = TestApp::new().await;
    let res = t
        .post(
            "/api/organizations",
            &t.member.token,
            Some(json!({"slug": "newco", "name": "  New Co  "})),
        )
        .await;
    res.expect(201, "");
    assert_eq!(res.header("location"), "https://id.test/api/organizations/newco");
    assert_eq!(res.header("cache-control"), "no-store");
    let b = &res.body;
    assert_eq!(b["organization"]["slug"], "newco");
    assert_eq!(b["organization"]["name"], "New Co");
    assert_eq!(b["organization"]["status"], "active");
    assert_eq!(b["organization"]["custom_domain"], json!(null));
    assert_eq!(b["owner"]["email"], "member@acme.test");
    assert_eq!(b["membership"]["role"], "owner");
    assert_eq!(b["expires_in"], 900);
    let token = b["access_token"].as_str().unwrap();
    t.get("/api/organizations/newco", token).await.expect(200, "");
    t.get("/api/organizations/acme", token).await.expect(403, "FORBIDDEN");
    // The caller's existing session still works.
    t.get("/api/user", &t.member.token).await.expect(200, "");
}

#[tokio::test]
async fn org_creation_errors_follow_the_contract() {
    let t = TestApp::new().await;
    let cases = [
        (json!({"slug": "acme", "name": "Again"}), 409, "DUPLICATE_CONSTRAINT"),
        (json!({"slug": "api", "name": "Reserved"}), 400, "VALIDATION_FAILED"),
        (json!({"slug": "A!", "name": "x"}), 400, "VALIDATION_FAILED"),
        (json!({"slug": "fine-slug"}), 400, "VALIDATION_FAILED"),
        (
            json!({"slug": "fine-slug", "name": "Ok", "owner_email": "x@y.z"}),
            400,
            "VALIDATION_FAILED",
        ),
    ];
    for (body, status, code) in cases {
        t.post("/api/organizations", &t.admin.token, Some(body))
            .await
            .expect(status, code);
    }
    let dup = t
        .post(
            "/api/organizations",
            &t.admin.token,
            Some(json!({"slug": "acme", "name": "Again"})),
        )
        .await;
    assert_eq!(dup.body["detail"], "This slug is not available");
}

#[tokio::test]
async fn the_org_cap_per_user_answers_bad_request() {
    let t = TestApp::builder().config(|c| c.max_orgs_per_user = 1).build().await;
    t.post(
        "/api/organizations",
        &t.owner.token,
        Some(json!({"slug": "second", "name": "Second"})),
    )
    .await
    .expect(400, "BAD_REQUEST");
}

#[tokio::test]
async fn manual_approval_creates_a_pending_org_with_a_platform_session() {
    let t = TestApp::builder()
        .config(|c| c.org_approval = org_app::OrgApproval::Manual)
        .build()
        .await;
    let res = t
        .post(
            "/api/organizations",
            &t.member.token,
            Some(json!({"slug": "later", "name": "Later"})),
        )
        .await;
    res.expect(201, "");
    assert_eq!(res.body["organization"]["status"], "pending");
    let token = res.body["access_token"].as_str().unwrap();
    t.post("/api/organizations/later/select", token, None)
        .await
        .expect(403, "ORGANIZATION_NOT_ACTIVE");
}

#[tokio::test]
async fn listing_returns_a_bare_array_of_the_callers_orgs() {
    let t = TestApp::new().await;
    let res = t.get("/api/organizations", &t.member.token).await;
    res.expect(200, "");
    let list = res.body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["organization"]["slug"], "acme");
    assert_eq!(list[0]["membership_count"], 4);
    assert_eq!(list[0]["tier"]["id"], "tier_enterprise");
    assert_eq!(list[0]["tier"]["features"]["allow_scim"], true);
    let empty = t.get("/api/organizations?status=suspended", &t.member.token).await;
    assert_eq!(empty.body, json!([]));
    t.get("/api/organizations?page=x", &t.member.token)
        .await
        .expect(400, "VALIDATION_FAILED");
    let bad = t.get("/api/organizations?status=nope", &t.member.token).await;
    bad.expect(400, "VALIDATION_FAILED");
    assert_eq!(bad.body["errors"][0]["field"], "status");
    // Platform owners list only their own memberships here.
    assert_eq!(t.get("/api/organizations", &t.platform.token).await.body, json!([]));
}

#[tokio::test]
async fn members_and_platform_owners_can_get_an_org_others_see_404() {
    let t = TestApp::new().await;
    t.get("/api/organizations/acme", &t.member.token).await.expect(200, "");
    t.get("/api/organizations/acme", &t.platform.token)
        .await
        .expect(200, "");
    let hidden = t.get("/api/organizations/acme", &t.stranger.token).await;
    hidden.expect(404, "NOT_FOUND");
    let unknown = t.get("/api/organizations/nope", &t.stranger.token).await;
    assert_eq!(hidden.body["detail"], unknown.body["detail"]);
}

#[tokio::test]
async fn select_mints_an_org_scoped_session_for_members_and_platform_owners() {
    let t = TestApp::new().await;
    let res = t.post("/api/organizations/acme/select", &t.member.token, None).await;
    res.expect(200, "");
    assert_eq!(res.header("cache-control"), "no-store");
    assert_eq!(res.body["membership"]["role"], "member");
    let po = t.post("/api/organizations/acme/select", &t.platform.token, None).await;
    po.expect(200, "");
    assert_eq!(po.body["membership"], json!(null));
    t.post("/api/organizations/acme/select", &t.stranger.token, None)
        .await
        .expect(404, "NOT_FOUND");
}

#[tokio::test]
async fn patch_changes_the_name_and_keeps_limits_for_platform_owners() {
    let t = TestApp::new().await;
    let res = t
        .patch("/api/organizations/acme", &t.admin.token, json!({"name": "Acme Two"}))
        .await;
    res.expect(200, "");
    assert_eq!(res.body["organization"]["name"], "Acme Two");
    let cases = [
        (&t.member, json!({"name": "Nope"}), 403, "FORBIDDEN"),
        (&t.admin, json!({"max_users": 5}), 403, "FORBIDDEN"),
        (&t.admin, json!({"slug": "renamed"}), 400, "VALIDATION_FAILED"),
        (&t.admin, json!({"name": null}), 400, "VALIDATION_FAILED"),
        (&t.admin, json!({"name": "x"}), 400, "VALIDATION_FAILED"),
        (&t.platform, json!({"max_users": 0}), 400, "VALIDATION_FAILED"),
    ];
    for (who, body, status, code) in cases {
        t.patch("/api/organizations/acme", &who.token, body)
            .await
            .expect(status, code);
    }
    let po = t
        .patch(
            "/api/organizations/acme",
            &t.platform.token,
            json!({"max_users": 7, "max_services": null}),
        )
        .await;
    po.expect(200, "");
    assert_eq!(po.body["organization"]["max_users"], 7);
    let cleared = t
        .patch("/api/organizations/acme", &t.platform.token, json!({"max_users": null}))
        .await;
    assert_eq!(cleared.body["organization"]["max_users"], json!(null));
    // An empty body is `{}`: nothing changes.
    t.send(
        axum::http::Method::PATCH,
        "/api/organizations/acme",
        Some(&t.owner.token),
        None,
    )
    .await
    .expect(200, "");
}

#[tokio::test]
async fn delete_answers_200_null_and_the_org_disappears() {
    let t = TestApp::new().await;
    t.delete("/api/organizations/acme", &t.admin.token)
        .await
        .expect(403, "FORBIDDEN");
    let res = t.delete("/api/organizations/acme", &t.owner.token).await;
    res.expect(200, "");
    assert_eq!(res.text, "null");
    assert_eq!(res.header("content-type"), "application/json");
    t.get("/api/organizations/acme", &t.owner.token)
        .await
        .expect(404, "NOT_FOUND");
    let po = t.delete("/api/organizations/other", &t.platform.token).await;
    po.expect(200, "");
}
