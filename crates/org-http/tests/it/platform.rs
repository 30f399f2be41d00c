//! §20: platform administration.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn only_platform_owners_reach_platform_routes() {
    let t = TestApp::new().await;
    for path in [
        "/api/platform/organizations",
        "/api/platform/organizations/acme",
        "/api/platform/tiers",
    ] {
        t.get(path, &t.owner.token).await.expect(403, "FORBIDDEN");
        t.get(path, &t.platform.token).await.expect(200, "");
    }
}

#[tokio::test]
async fn the_platform_list_filters_and_pages() {
    let t = TestApp::new().await;
    let res = t.get("/api/platform/organizations", &t.platform.token).await;
    assert_eq!(
        (
            res.body["total"].as_u64(),
            res.body["page"].as_u64(),
            res.body["limit"].as_u64()
        ),
        (Some(2), Some(1), Some(20))
    );
    let q = t.get("/api/platform/organizations?q=OTH", &t.platform.token).await;
    assert_eq!(q.body["organizations"][0]["organization"]["slug"], "other");
    assert_eq!(q.body["total"], 1);
    t.get("/api/platform/organizations/nope", &t.platform.token)
        .await
        .expect(404, "NOT_FOUND");
    let tiers = t.get("/api/platform/tiers", &t.platform.token).await;
    assert_eq!(tiers.body.as_array().unwrap().len(), 4);
    assert_eq!(tiers.body[0]["id"], "tier_free");
}

#[tokio::test]
async fn suspension_revokes_org_sessions_and_gates_mutations() {
    let t = TestApp::new().await;
    let member_org = t.org_token(&t.member, "acme").await;
    let res = t
        .post(
            "/api/platform/organizations/acme/suspend",
            &t.platform.token,
            Some(json!({"reason": "unpaid"})),
        )
        .await;
    res.expect(200, "");
    assert_eq!(res.body["organization"]["status"], "suspended");
    assert_eq!(res.body["organization"]["suspension_reason"], "unpaid");
    // The org session dies on the very next request; platform sessions only meet the gate.
    t.get("/api/organizations/acme", &member_org)
        .await
        .expect(401, "UNAUTHORIZED");
    t.get("/api/organizations/acme", &t.admin.token).await.expect(200, "");
    t.patch("/api/organizations/acme", &t.admin.token, json!({"name": "Renamed"}))
        .await
        .expect(403, "ORGANIZATION_NOT_ACTIVE");
    t.post("/api/organizations/acme/select", &t.admin.token, None)
        .await
        .expect(403, "ORGANIZATION_NOT_ACTIVE");
    t.post("/api/platform/organizations/acme/suspend", &t.platform.token, None)
        .await
        .expect(409, "CONFLICT");
    let back = t
        .post("/api/platform/organizations/acme/activate", &t.platform.token, None)
        .await;
    back.expect(200, "");
    assert_eq!(back.body["organization"]["status"], "active");
}

#[tokio::test]
async fn approval_and_rejection_of_pending_orgs() {
    let t = TestApp::builder()
        .config(|c| c.org_approval = org_app::OrgApproval::Manual)
        .build()
        .await;
    for slug in ["wait-one", "wait-two"] {
        t.post(
            "/api/organizations",
            &t.member.token,
            Some(json!({"slug": slug, "name": "Waiting"})),
        )
        .await
        .expect(201, "");
    }
    t.post(
        "/api/platform/organizations/wait-one/approve",
        &t.platform.token,
        Some(json!({"tier_id": "tier_nope"})),
    )
    .await
    .expect(400, "VALIDATION_FAILED");
    let ok = t
        .post(
            "/api/platform/organizations/wait-one/approve",
            &t.platform.token,
            Some(json!({"tier_id": "tier_pro"})),
        )
        .await;
    ok.expect(200, "");
    assert_eq!(ok.body["organization"]["status"], "active");
    assert_eq!(ok.body["tier"]["id"], "tier_pro");
    t.post("/api/platform/organizations/wait-one/approve", &t.platform.token, None)
        .await
        .expect(409, "CONFLICT");
    t.post(
        "/api/platform/organizations/wait-two/reject",
        &t.platform.token,
        Some(json!({"reason": "  "})),
    )
    .await
    .expect(400, "VALIDATION_FAILED");
    let rejected = t
        .post(
            "/api/platform/organizations/wait-two/reject",
            &t.platform.token,
            Some(json!({"reason": "spam"})),
        )
        .await;
    rejected.expect(200, "");
    assert_eq!(rejected.body["organization"]["rejection_reason"], "spam");
}

#[tokio::test]
async fn platform_patch_sets_tier_limits_and_overrides() {
    let t = TestApp::new().await;
    let path = "/api/platform/organizations/acme";
    let res = t
        .patch(
            path,
            &t.platform.token,
            json!({"tier_id": "tier_free", "max_users": 10, "feature_overrides": {"allow_scim": true, "max_mau": 5}}),
        )
        .await;
    res.expect(200, "");
    assert_eq!(res.body["organization"]["tier_id"], "tier_free");
    assert_eq!(
        res.body["organization"]["feature_overrides"],
        json!({"allow_scim": true, "max_mau": 5})
    );
    let cleared = t
        .patch(path, &t.platform.token, json!({"feature_overrides": null}))
        .await;
    assert_eq!(cleared.body["organization"]["feature_overrides"], json!(null));
    let cases = [
        json!({"feature_overrides": {"allow_everything": true}}),
        json!({"feature_overrides": {"allow_scim": "yes"}}),
        json!({"tier_id": "tier_nope"}),
        json!({"max_users": 0}),
    ];
    for body in cases {
        t.patch(path, &t.platform.token, body)
            .await
            .expect(400, "VALIDATION_FAILED");
    }
    t.patch(path, &t.owner.token, json!({"max_users": 3}))
        .await
        .expect(403, "FORBIDDEN");
}
