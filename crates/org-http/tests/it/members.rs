//! §5: members.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn the_member_list_carries_both_wire_shapes_and_the_cap() {
    let t = TestApp::new().await;
    let res = t.get("/api/organizations/acme/members", &t.member.token).await;
    res.expect(200, "");
    assert_eq!(res.body["total"], 4);
    assert_eq!(res.body["page"], 1);
    assert_eq!(
        res.body["limit"],
        json!({"current": 4, "max": 999_999, "source": "enterprise"})
    );
    let first = &res.body["members"][0];
    assert_eq!(first["user"]["email"], "owner@acme.test");
    assert_eq!(first["email"], "owner@acme.test");
    assert_eq!(first["role"], "owner");
    assert_eq!(first["membership"]["role"], "owner");
    assert_eq!(first["user_id"], first["user"]["id"]);
    assert_eq!(first["joined_at"], first["membership"]["created_at"]);
    let admins = t
        .get("/api/organizations/acme/members?role=admin", &t.member.token)
        .await;
    assert_eq!(admins.body["total"], 1);
    let paged = t
        .get("/api/organizations/acme/members?limit=2&page=2", &t.member.token)
        .await;
    assert_eq!(paged.body["members"].as_array().unwrap().len(), 2);
    t.get("/api/organizations/acme/members?status=gone", &t.member.token)
        .await
        .expect(400, "VALIDATION_FAILED");
}

#[tokio::test]
async fn changing_a_role_follows_capability_grant_and_self_rules() {
    let t = TestApp::new().await;
    let path = |a: &crate::support::Actor| format!("/api/organizations/acme/members/{}", a.id());
    let res = t
        .patch(&path(&t.member), &t.admin.token, json!({"role": "auditor"}))
        .await;
    res.expect(200, "");
    assert_eq!(res.body["role"], "auditor");
    assert_eq!(res.body["membership"]["role"], "auditor");
    let cases = [
        (&t.member, &t.auditor, json!({"role": "member"}), 403, "FORBIDDEN"),
        (&t.admin, &t.owner, json!({"role": "member"}), 403, "FORBIDDEN"),
        (&t.admin, &t.admin, json!({"role": "member"}), 400, "BAD_REQUEST"),
        (&t.admin, &t.member, json!({"role": "ghost"}), 400, "VALIDATION_FAILED"),
        (
            &t.admin,
            &t.member,
            json!({"role": "Not A Slug"}),
            400,
            "VALIDATION_FAILED",
        ),
        (&t.admin, &t.stranger, json!({"role": "member"}), 404, "NOT_FOUND"),
        (&t.admin, &t.member, json!({}), 400, "VALIDATION_FAILED"),
    ];
    for (by, target, body, status, code) in cases {
        t.patch(&path(target), &by.token, body).await.expect(status, code);
    }
    let owner = t.patch(&path(&t.admin), &t.owner.token, json!({"role": "owner"})).await;
    owner.expect(200, "");
    assert_eq!(owner.body["role"], "owner");
}

#[tokio::test]
async fn removal_answers_200_null_by_post_and_delete_and_ends_sessions() {
    let t = TestApp::new().await;
    let org_token = t.org_token(&t.member, "acme").await;
    let path = format!("/api/organizations/acme/members/{}", t.member.id());
    let res = t.post(&path, &t.admin.token, None).await;
    res.expect(200, "");
    assert_eq!(res.text, "null");
    // The removed member's org session is refused on the very next request.
    t.get("/api/organizations/acme", &org_token)
        .await
        .expect(401, "UNAUTHORIZED");
    t.get("/api/organizations/acme", &t.member.token)
        .await
        .expect(404, "NOT_FOUND");
    t.delete(&path, &t.admin.token).await.expect(404, "NOT_FOUND");
    let auditor = format!("/api/organizations/acme/members/{}", t.auditor.id());
    t.delete(&auditor, &t.admin.token).await.expect(200, "");
    let cases = [
        (&t.admin, &t.admin, 400, "BAD_REQUEST"),
        (&t.admin, &t.owner, 403, "FORBIDDEN"),
        (&t.platform, &t.owner, 409, "CONFLICT"),
    ];
    for (by, target, status, code) in cases {
        t.delete(&format!("/api/organizations/acme/members/{}", target.id()), &by.token)
            .await
            .expect(status, code);
    }
}

#[tokio::test]
async fn service_access_is_an_empty_list_until_services_exist() {
    let t = TestApp::new().await;
    let path = format!("/api/organizations/acme/members/{}/service-access", t.member.id());
    let res = t.get(&path, &t.admin.token).await;
    res.expect(200, "");
    assert_eq!(res.body, json!([]));
    t.get(&path, &t.member.token).await.expect(403, "FORBIDDEN");
    let stranger = format!("/api/organizations/acme/members/{}/service-access", t.stranger.id());
    t.get(&stranger, &t.admin.token).await.expect(404, "NOT_FOUND");
    let grant = json!({"grants": [{"service_slug": "app", "access": "viewer"}]});
    t.put(&path, &t.admin.token, grant).await.expect(404, "NOT_FOUND");
    let cases = [
        json!({"grants": []}),
        json!({"grants": [{"service_slug": "app", "access": "owner"}]}),
        json!({"grants": [{"service_slug": "a", "access": null}, {"service_slug": "a", "access": null}]}),
    ];
    for body in cases {
        t.put(&path, &t.admin.token, body)
            .await
            .expect(400, "VALIDATION_FAILED");
    }
}

#[tokio::test]
async fn ownership_moves_by_email_or_id_and_the_old_owner_becomes_admin() {
    let t = TestApp::new().await;
    let path = "/api/organizations/acme/transfer-ownership";
    let res = t
        .post(
            path,
            &t.owner.token,
            Some(json!({"new_owner_email": "member@acme.test"})),
        )
        .await;
    res.expect(200, "");
    assert_eq!(res.body["role"], "owner");
    assert_eq!(res.body["email"], "member@acme.test");
    let cases = [
        (&t.owner, json!({"new_owner_user_id": t.admin.id()}), 403, "FORBIDDEN"),
        (&t.member, json!({}), 400, "VALIDATION_FAILED"),
        (
            &t.member,
            json!({"new_owner_email": "a@b.test", "new_owner_user_id": t.admin.id()}),
            400,
            "VALIDATION_FAILED",
        ),
        (
            &t.member,
            json!({"new_owner_email": "nobody@acme.test"}),
            404,
            "NOT_FOUND",
        ),
        (
            &t.member,
            json!({"new_owner_user_id": t.member.id()}),
            400,
            "BAD_REQUEST",
        ),
    ];
    for (by, body, status, code) in cases {
        t.post(path, &by.token, Some(body)).await.expect(status, code);
    }
    t.post(
        path,
        &t.platform.token,
        Some(json!({"new_owner_user_id": t.admin.id()})),
    )
    .await
    .expect(200, "");
}
