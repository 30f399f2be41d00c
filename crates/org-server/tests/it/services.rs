//! Services (§19.1–§19.2), member service access (§5.4–§5.5), `service_count` and the service
//! cap (§22.3), and login keys (§19.5, §2.9) against the real binary, on SQLite and on
//! PostgreSQL: CRUD over HTTP, the cap under concurrent creates, the access round trip, and the
//! CLI issuing and revoking a login key with its platform audit entries.

use serde_json::{Value, json};

use crate::support::{Client, Node, s};

async fn expect(c: &Client, method: &str, path: &str, token: &str, body: Option<Value>, want: u16) -> Value {
    let (status, got) = c.call(method, path, token, body).await;
    assert_eq!(status, want, "{method} {path}: {got}");
    got
}

async fn actions(c: &Client, path: &str, token: &str) -> Vec<String> {
    let log = expect(c, "GET", path, token, None, 200).await;
    log["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["action"]).to_owned())
        .collect()
}

async fn services_end_to_end(postgres: bool) {
    let node = Node::on(postgres).await;
    let root = s(&node.platform_owner("root@example.com")["access_token"]).to_owned();
    let alice = node.token("alice@example.com");
    let bob = node.token("bob@example.com");
    let server = node.serve().await;
    let c = server.client();
    c.create_org(&alice, "acme", "Acme Inc").await;
    // The platform sets the cap to two services.
    let limits = expect(
        &c,
        "PATCH",
        "/api/platform/organizations/acme",
        &root,
        Some(json!({"max_services": 2})),
        200,
    )
    .await;
    assert_eq!(limits["organization"]["max_services"], 2, "{limits}");
    assert_eq!(limits["service_count"], 0);

    // Bob joins as a member.
    let inv = expect(
        &c,
        "POST",
        "/api/organizations/acme/invitations",
        &alice,
        Some(json!({"email": "bob@example.com"})),
        201,
    )
    .await;
    let accepted = expect(
        &c,
        "POST",
        "/api/invitations/accept",
        &bob,
        Some(json!({"token": inv["token"]})),
        200,
    )
    .await;
    let bob_id = s(&accepted["membership"]["user_id"]).to_owned();

    // Create: field rules, the slug unique in the org, then the cap.
    let base = "/api/organizations/acme/services";
    let bad = expect(&c, "POST", base, &alice, Some(json!({"slug": "A!", "name": " "})), 400).await;
    assert_eq!(bad["error_code"], "VALIDATION_FAILED");
    let fields: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["field"]))
        .collect();
    assert_eq!(fields, ["slug", "name"], "{bad}");
    let (status, created) = c
        .call(
            "POST",
            base,
            &alice,
            Some(json!({"slug": "app", "name": "  Customer App ", "description": "The app"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (s(&created["slug"]), s(&created["name"]), created["enabled"].as_bool()),
        ("app", "Customer App", Some(true)),
        "{created}"
    );
    let app_id = s(&created["id"]).to_owned();
    let dup = expect(
        &c,
        "POST",
        base,
        &alice,
        Some(json!({"slug": "app", "name": "Again"})),
        409,
    )
    .await;
    assert_eq!(dup["error_code"], "DUPLICATE_CONSTRAINT");
    expect(
        &c,
        "POST",
        base,
        &alice,
        Some(json!({"slug": "api", "name": "API", "enabled": false})),
        201,
    )
    .await;
    let full = expect(
        &c,
        "POST",
        base,
        &alice,
        Some(json!({"slug": "web", "name": "Web"})),
        400,
    )
    .await;
    assert_eq!(full["error_code"], "SERVICE_LIMIT_EXCEEDED", "{full}");
    let member_try = expect(&c, "POST", base, &bob, Some(json!({"slug": "web", "name": "Web"})), 403).await;
    assert_eq!(member_try["error_code"], "FORBIDDEN");

    // List, get, update; the org view counts them.
    let list = expect(&c, "GET", base, &alice, None, 200).await;
    let listed: Vec<&str> = list.as_array().unwrap().iter().map(|x| s(&x["slug"])).collect();
    assert_eq!(listed, ["app", "api"]);
    let org = expect(&c, "GET", "/api/organizations/acme", &alice, None, 200).await;
    assert_eq!(org["service_count"], 2, "{org}");
    let got = expect(&c, "GET", &format!("{base}/app"), &alice, None, 200).await;
    assert_eq!(s(&got["id"]), app_id);
    expect(&c, "GET", &format!("{base}/nope"), &alice, None, 404).await;
    let updated = expect(
        &c,
        "PATCH",
        &format!("{base}/app"),
        &alice,
        Some(json!({"name": "Portal", "description": null, "enabled": false})),
        200,
    )
    .await;
    assert_eq!(
        (
            s(&updated["name"]),
            updated["description"].is_null(),
            updated["enabled"].as_bool()
        ),
        ("Portal", true, Some(false)),
        "{updated}"
    );
    let null_name = expect(
        &c,
        "PATCH",
        &format!("{base}/app"),
        &alice,
        Some(json!({"name": null})),
        400,
    )
    .await;
    assert_eq!(null_name["errors"][0]["field"], "name", "{null_name}");

    // Member service access: PUT then GET, partial, validated.
    let access = format!("/api/organizations/acme/members/{bob_id}/service-access");
    let before = expect(&c, "GET", &access, &alice, None, 200).await;
    assert_eq!(
        before,
        json!([
            {"service_id": app_id, "service_slug": "app", "service_name": "Portal", "access": null},
            {"service_id": before[1]["service_id"], "service_slug": "api", "service_name": "API", "access": null},
        ])
    );
    let put = expect(
        &c,
        "PUT",
        &access,
        &alice,
        Some(json!({"grants": [{"service_slug": "app", "access": "viewer"}, {"service_slug": "api", "access": "manager"}]})),
        200,
    )
    .await;
    let levels = |v: &Value| -> Vec<(String, Value)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| (s(&e["service_slug"]).to_owned(), e["access"].clone()))
            .collect()
    };
    assert_eq!(
        levels(&put),
        [
            ("app".to_owned(), json!("viewer")),
            ("api".to_owned(), json!("manager"))
        ]
    );
    let partial = expect(
        &c,
        "PUT",
        &access,
        &alice,
        Some(json!({"grants": [{"service_slug": "api", "access": null}]})),
        200,
    )
    .await;
    assert_eq!(
        levels(&partial),
        [("app".to_owned(), json!("viewer")), ("api".to_owned(), Value::Null)],
        "unlisted services are unchanged"
    );
    assert_eq!(
        levels(&expect(&c, "GET", &access, &alice, None, 200).await),
        levels(&partial)
    );
    let unknown = expect(
        &c,
        "PUT",
        &access,
        &alice,
        Some(json!({"grants": [{"service_slug": "nope", "access": "viewer"}]})),
        404,
    )
    .await;
    assert_eq!(unknown["error_code"], "NOT_FOUND");
    let bad_level = expect(
        &c,
        "PUT",
        &access,
        &alice,
        Some(json!({"grants": [{"service_slug": "app", "access": "owner"}]})),
        400,
    )
    .await;
    assert_eq!(bad_level["error_code"], "VALIDATION_FAILED");
    let twice = expect(
        &c,
        "PUT",
        &access,
        &alice,
        Some(json!({"grants": [{"service_slug": "app", "access": null}, {"service_slug": "app", "access": "viewer"}]})),
        400,
    )
    .await;
    assert_eq!(twice["errors"][0]["field"], "grants[1].service_slug", "{twice}");
    expect(&c, "GET", &access, &bob, None, 403).await;

    // Delete: the service and its grants go; the count follows.
    let (status, _) = c.call("DELETE", &format!("{base}/app"), &alice, None).await;
    assert_eq!(status, 204);
    expect(&c, "GET", &format!("{base}/app"), &alice, None, 404).await;
    expect(&c, "DELETE", &format!("{base}/app"), &alice, None, 404).await;
    let after = expect(&c, "GET", &access, &alice, None, 200).await;
    assert_eq!(levels(&after), [("api".to_owned(), Value::Null)]);
    let org = expect(&c, "GET", "/api/organizations/acme", &alice, None, 200).await;
    assert_eq!(org["service_count"], 1);

    // Concurrent creates with one place left under the cap: exactly one gets in.
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..8 {
        let c = Client {
            http: c.http.clone(),
            base: c.base.clone(),
        };
        let alice = alice.clone();
        attempts.spawn(async move {
            c.call(
                "POST",
                base,
                &alice,
                Some(json!({"slug": format!("race-{i}"), "name": "Race"})),
            )
            .await
        });
    }
    let results = attempts.join_all().await;
    let created = results.iter().filter(|(status, _)| *status == 201).count();
    let refused = results
        .iter()
        .filter(|(status, body)| *status == 400 && body["error_code"] == "SERVICE_LIMIT_EXCEEDED")
        .count();
    assert_eq!((created, refused), (1, 7), "{results:?}");
    let org = expect(&c, "GET", "/api/organizations/acme", &alice, None, 200).await;
    assert_eq!(org["service_count"], 2);
    let platform_view = expect(&c, "GET", "/api/platform/organizations/acme", &root, None, 200).await;
    assert_eq!(platform_view["service_count"], 2);

    // The org log has the service entries, with the access change.
    let log = actions(&c, "/api/organizations/acme/audit-log?limit=100", &alice).await;
    for action in [
        "service.created",
        "service.updated",
        "service.deleted",
        "member.service_access_updated",
    ] {
        assert!(log.iter().any(|a| a == action), "{action} missing from {log:?}");
    }

    // Login keys from the CLI: printed once, hashed, names unique among live keys.
    let issued = node.cli(&["admin", "issue-login-key", "--name", "front-end"]);
    let key = s(&issued["key"]);
    assert!(key.starts_with("lk_") && key.len() == 46, "{issued}");
    assert_eq!(s(&issued["name"]), "front-end");
    let (code, stderr) = node.cli_failure(&["admin", "issue-login-key", "--name", "front-end"]);
    assert_eq!(code, Some(1), "{stderr}");
    let revoked = node.cli(&["admin", "revoke-login-key", "--name", "front-end"]);
    assert_eq!(revoked["id"], issued["id"]);
    node.cli_failure(&["admin", "revoke-login-key", "--name", "front-end"]);
    node.cli(&["admin", "issue-login-key", "--name", "front-end"]);
    let platform = expect(&c, "GET", "/api/platform/audit-log?limit=100", &root, None, 200).await;
    let entries: Vec<&Value> = platform["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| s(&e["action"]).starts_with("login_key."))
        .collect();
    let mut seen: Vec<&str> = entries.iter().map(|e| s(&e["action"])).collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        ["login_key.issued", "login_key.issued", "login_key.revoked"],
        "{platform}"
    );
    for e in &entries {
        assert_eq!(e["metadata"]["name"], "front-end", "{e}");
        assert_eq!(e["metadata"]["via_cli"], true, "{e}");
        assert!(!e.to_string().contains(key), "the key never reaches the log");
    }
}

#[tokio::test]
async fn services_access_and_login_keys_work_end_to_end_on_sqlite() {
    services_end_to_end(false).await;
}

#[tokio::test]
async fn services_access_and_login_keys_work_end_to_end_on_postgres() {
    services_end_to_end(true).await;
}
