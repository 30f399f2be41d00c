//! §7: roles.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn roles_list_the_built_ins_first_then_custom_roles() {
    let t = TestApp::new().await;
    let res = t.get("/api/organizations/acme/roles", &t.admin.token).await;
    res.expect(200, "");
    let ids: Vec<&str> = res
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(&ids[..3], ["role_owner", "role_admin", "role_member"]);
    assert_eq!(res.body[0]["permissions"].as_array().unwrap().len(), 19);
    assert_eq!(res.body[1]["permissions"].as_array().unwrap().len(), 15);
    assert_eq!(res.body[2]["permissions"], json!([]));
    assert_eq!(res.body[3]["slug"], "auditor");
    assert_eq!(res.body[3]["built_in"], false);
    t.get("/api/organizations/acme/roles/role_admin", &t.admin.token)
        .await
        .expect(200, "");
    t.get("/api/organizations/acme/roles", &t.member.token)
        .await
        .expect(403, "FORBIDDEN");
}

#[tokio::test]
async fn creating_updating_and_deleting_a_custom_role() {
    let t = TestApp::new().await;
    let res = t
        .post(
            "/api/organizations/acme/roles",
            &t.admin.token,
            Some(json!({"slug": "support", "name": "Support", "description": "Helps", "permissions": ["org.members.view", "org.members.view"]})),
        )
        .await;
    res.expect(201, "");
    let id = res.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        res.header("location"),
        format!("https://id.test/api/organizations/acme/roles/{id}")
    );
    assert_eq!(res.body["permissions"], json!(["org.members.view"]));
    let path = format!("/api/organizations/acme/roles/{id}");
    let upd = t
        .put(&path, &t.admin.token, json!({"description": null, "name": "Helpdesk"}))
        .await;
    upd.expect(200, "");
    assert_eq!(upd.body["description"], json!(null));
    assert_eq!(upd.body["name"], "Helpdesk");
    t.put(&path, &t.admin.token, json!({"slug": "renamed"}))
        .await
        .expect(400, "VALIDATION_FAILED");
    let del = t.delete(&path, &t.admin.token).await;
    assert_eq!(del.status.as_u16(), 204);
    assert!(del.text.is_empty());
    t.get(&path, &t.admin.token).await.expect(404, "NOT_FOUND");
}

#[tokio::test]
async fn role_errors_follow_the_contract() {
    let t = TestApp::new().await;
    let path = "/api/organizations/acme/roles";
    let bad = t
        .post(
            path,
            &t.admin.token,
            Some(json!({"slug": "x1", "name": "X", "permissions": ["org.everything", "org.delete"]})),
        )
        .await;
    bad.expect(400, "VALIDATION_FAILED");
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["permissions[0]", "permissions[1]"]);
    let cases = [
        (
            json!({"slug": "admin", "name": "A", "permissions": []}),
            400,
            "VALIDATION_FAILED",
        ),
        (
            json!({"slug": "auditor", "name": "Other", "permissions": []}),
            409,
            "DUPLICATE_CONSTRAINT",
        ),
        (
            json!({"slug": "auditor2", "name": "AUDITOR", "permissions": []}),
            409,
            "DUPLICATE_CONSTRAINT",
        ),
    ];
    for (body, status, code) in cases {
        t.post(path, &t.admin.token, Some(body)).await.expect(status, code);
    }
    t.put(
        "/api/organizations/acme/roles/role_admin",
        &t.owner.token,
        json!({"name": "Boss"}),
    )
    .await
    .expect(403, "FORBIDDEN");
    t.delete("/api/organizations/acme/roles/role_member", &t.owner.token)
        .await
        .expect(403, "FORBIDDEN");
    let roles = t.get(path, &t.owner.token).await;
    let auditor = roles.body[3]["id"].as_str().unwrap();
    let in_use = t.delete(&format!("{path}/{auditor}"), &t.owner.token).await;
    in_use.expect(409, "CONFLICT");
    // A custom-role holder with only roles.manage cannot grant what it does not hold.
    t.post(
        path,
        &t.owner.token,
        Some(json!({"slug": "role-admin", "name": "Role admin", "permissions": ["org.roles.manage"]})),
    )
    .await
    .expect(201, "");
    let (_, inv) = t.invite(&t.owner, "acme", "ra@acme.test", "role-admin").await;
    let ra = t.actor("ra@acme.test").await;
    t.post("/api/invitations/accept", &ra.token, Some(json!({"token": inv})))
        .await
        .expect(200, "");
    t.post(
        path,
        &ra.token,
        Some(json!({"slug": "sneaky", "name": "Sneaky", "permissions": ["webhooks.manage"]})),
    )
    .await
    .expect(403, "FORBIDDEN");
}
