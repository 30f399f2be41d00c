//! §19.2 and §5.5 over the router: the wire shapes (every field present, `null` where unset),
//! `Location`, the schema rules of the bodies, and the capability and cap errors.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn a_created_service_answers_201_with_its_location_and_every_field() {
    let t = TestApp::new().await;
    let res = t
        .post(
            "/api/organizations/acme/services",
            &t.owner.token,
            Some(json!({"slug": "app", "name": "App"})),
        )
        .await;
    res.expect(201, "");
    assert!(
        res.header("location").ends_with("/api/organizations/acme/services/app"),
        "{}",
        res.header("location")
    );
    let mut keys: Vec<&str> = res.body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "description",
            "enabled",
            "id",
            "name",
            "org_id",
            "slug",
            "updated_at"
        ]
    );
    assert!(res.body["description"].is_null());
    assert_eq!(res.body["enabled"], true);
    let got = t.get("/api/organizations/acme/services/app", &t.admin.token).await;
    got.expect(200, "");
    assert_eq!(got.body, res.body);
}

#[tokio::test]
async fn service_bodies_reject_unknown_and_null_members_and_name_the_field() {
    let t = TestApp::new().await;
    let base = "/api/organizations/acme/services";
    let cases = [
        (
            json!({"slug": "app", "name": "App", "org_id": "x"}),
            "VALIDATION_FAILED",
        ),
        (json!({"name": "App"}), "VALIDATION_FAILED"),
        (
            json!({"slug": "app", "name": "App", "enabled": null}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"slug": "app", "name": "App", "enabled": "yes"}),
            "VALIDATION_FAILED",
        ),
        (json!({"slug": "app", "name": "x".repeat(101)}), "VALIDATION_FAILED"),
    ];
    for (body, code) in cases {
        t.post(base, &t.owner.token, Some(body.clone())).await.expect(400, code);
    }
    t.post(base, &t.owner.token, Some(json!({"slug": "app", "name": "App"})))
        .await
        .expect(201, "");
    let path = format!("{base}/app");
    let slug = t.patch(&path, &t.owner.token, json!({"slug": "other"})).await;
    slug.expect(400, "VALIDATION_FAILED");
    let res = t
        .patch(&path, &t.owner.token, json!({"description": "d".repeat(501)}))
        .await;
    res.expect(400, "VALIDATION_FAILED");
    assert_eq!(res.body["errors"][0]["field"], "description");
}

#[tokio::test]
async fn members_without_the_capabilities_get_403_and_strangers_404() {
    let t = TestApp::new().await;
    let base = "/api/organizations/acme/services";
    t.get(base, &t.member.token).await.expect(403, "FORBIDDEN");
    t.post(base, &t.member.token, Some(json!({"slug": "app", "name": "App"})))
        .await
        .expect(403, "FORBIDDEN");
    t.get(base, &t.stranger.token).await.expect(404, "NOT_FOUND");
    t.get(base, &t.admin.token).await.expect(200, "");
}

#[tokio::test]
async fn service_access_lists_every_service_and_sets_only_the_listed_ones() {
    let t = TestApp::new().await;
    for slug in ["app", "api"] {
        t.post(
            "/api/organizations/acme/services",
            &t.owner.token,
            Some(json!({"slug": slug, "name": slug})),
        )
        .await
        .expect(201, "");
    }
    let path = format!("/api/organizations/acme/members/{}/service-access", t.member.id());
    let res = t
        .put(
            &path,
            &t.admin.token,
            json!({"grants": [{"service_slug": "api", "access": "manager"}]}),
        )
        .await;
    res.expect(200, "");
    let access: Vec<(String, serde_json::Value)> = res
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["service_slug"].as_str().unwrap().to_owned(), e["access"].clone()))
        .collect();
    assert_eq!(
        access,
        [("app".to_owned(), json!(null)), ("api".to_owned(), json!("manager"))]
    );
    let owner = format!("/api/organizations/acme/members/{}/service-access", t.owner.id());
    t.put(
        &owner,
        &t.admin.token,
        json!({"grants": [{"service_slug": "api", "access": "viewer"}]}),
    )
    .await
    .expect(403, "FORBIDDEN");
    t.put(&path, &t.admin.token, json!({"grants": []}))
        .await
        .expect(400, "VALIDATION_FAILED");
}
