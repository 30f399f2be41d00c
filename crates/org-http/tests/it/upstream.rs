//! §11 on the wire: the provider's shape (never the secret), 201 with `Location`, the
//! `{success: true}` delete, body rules (unknown members, `null` for a non-nullable member, a
//! `metadata` that is not an object), the capability, another org's id.

use serde_json::{Value, json};

use crate::support::TestApp;

const BASE: &str = "/api/organizations/acme/upstream-providers";
const SECRET: &str = "hunter2-upstream-secret";

fn manual() -> Value {
    json!({
        "connection_id": "github-enterprise",
        "name": " GitHub Enterprise ",
        "provider_type": "oauth2",
        "client_id": "client",
        "client_secret": SECRET,
        "authorization_url": "https://gh.example.com/login/oauth/authorize",
        "token_url": "https://gh.example.com/login/oauth/access_token",
        "userinfo_url": "https://gh.example.com/api/user",
        "metadata": {"email_claim": "email"},
    })
}

#[tokio::test]
async fn providers_are_created_read_updated_and_deleted_without_ever_showing_the_secret() {
    let t = TestApp::new().await;
    let made = t.post(BASE, &t.admin.token, Some(manual())).await;
    made.expect(201, "");
    let id = made.body["id"].as_str().unwrap().to_owned();
    let location = made.headers["location"].to_str().unwrap();
    assert!(location.ends_with(&format!("{BASE}/{id}")), "{location}");
    let mut keys: Vec<&String> = made.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "authorization_url",
            "client_id",
            "connection_id",
            "created_at",
            "discovery_url",
            "enabled",
            "has_client_secret",
            "id",
            "issuer",
            "jwks_url",
            "metadata",
            "name",
            "org_id",
            "provider_type",
            "saml",
            "scopes",
            "token_url",
            "updated_at",
            "userinfo_url",
        ]
    );
    assert_eq!(made.body["name"], "GitHub Enterprise");
    assert_eq!(made.body["metadata"], json!({"email_claim": "email"}));
    assert_eq!(
        (&made.body["has_client_secret"], &made.body["enabled"]),
        (&json!(true), &json!(true))
    );
    let path = format!("{BASE}/{id}");
    let got = t.get(&path, &t.owner.token).await;
    got.expect(200, "");
    assert_eq!(got.body, made.body);
    let list = t.get(BASE, &t.owner.token).await;
    list.expect(200, "");
    assert_eq!(list.body, json!([made.body.clone()]));

    let renamed = t
        .patch(
            &path,
            &t.admin.token,
            json!({"name": "GHE", "scopes": "read:user  user:email"}),
        )
        .await;
    renamed.expect(200, "");
    assert_eq!(
        (&renamed.body["name"], &renamed.body["scopes"]),
        (&json!("GHE"), &json!("read:user user:email"))
    );
    t.patch(&path, &t.admin.token, json!({"provider_type": "oidc"}))
        .await
        .expect(400, "VALIDATION_FAILED");
    t.patch(&path, &t.admin.token, json!({"client_secret": null}))
        .await
        .expect(400, "VALIDATION_FAILED");
    let audit = t.get("/api/organizations/acme/audit-log", &t.owner.token).await;
    assert!(audit.text.contains("upstream_provider.updated"), "{}", audit.text);

    let gone = t.delete(&path, &t.admin.token).await;
    gone.expect(200, "");
    assert_eq!(gone.body, json!({"success": true}));
    t.get(&path, &t.owner.token).await.expect(404, "NOT_FOUND");
    for res in [&made, &got, &list, &renamed, &audit] {
        assert!(!res.text.contains(SECRET), "the secret is never returned: {}", res.text);
    }
}

#[tokio::test]
async fn bad_bodies_members_and_other_orgs_are_refused() {
    let t = TestApp::new().await;
    let mut unknown = manual();
    unknown["org_id"] = json!("someone-else");
    t.post(BASE, &t.admin.token, Some(unknown))
        .await
        .expect(400, "VALIDATION_FAILED");
    let mut null_name = manual();
    null_name["name"] = Value::Null;
    t.post(BASE, &t.admin.token, Some(null_name))
        .await
        .expect(400, "VALIDATION_FAILED");
    let mut listy = manual();
    listy["metadata"] = json!([1]);
    let res = t.post(BASE, &t.admin.token, Some(listy)).await;
    res.expect(400, "VALIDATION_FAILED");
    assert_eq!(res.body["errors"][0]["field"], "metadata");
    let mut private = manual();
    private["token_url"] = json!("https://169.254.169.254/latest/meta-data");
    let res = t.post(BASE, &t.admin.token, Some(private)).await;
    res.expect(400, "VALIDATION_FAILED");
    assert_eq!(res.body["errors"][0]["field"], "token_url");

    t.post(BASE, &t.member.token, Some(manual()))
        .await
        .expect(403, "FORBIDDEN");
    t.get(BASE, &t.member.token).await.expect(403, "FORBIDDEN");
    t.post(BASE, &t.stranger.token, Some(manual()))
        .await
        .expect(404, "NOT_FOUND");
    let made = t.post(BASE, &t.admin.token, Some(manual())).await;
    made.expect(201, "");
    t.post(BASE, &t.admin.token, Some(manual()))
        .await
        .expect(409, "DUPLICATE_CONSTRAINT");
    let foreign = format!(
        "/api/organizations/other/upstream-providers/{}",
        made.body["id"].as_str().unwrap()
    );
    t.get(&foreign, &t.stranger.token).await.expect(404, "NOT_FOUND");
}
