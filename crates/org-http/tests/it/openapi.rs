//! §21.4: the OpenAPI document covers every route and matches the committed `docs/openapi.json`.
//! `UPDATE_OPENAPI=1 cargo test -p org-http --test it openapi` (or `cargo xtask openapi`) rewrites it.

use axum::http::Method;
use serde_json::Value;

use crate::support::TestApp;

fn doc() -> Value {
    serde_json::from_str(&org_http::openapi_json()).unwrap()
}

#[test]
fn openapi_documents_every_route_of_the_router() {
    let doc = doc();
    let missing: Vec<String> = org_http::route_table()
        .into_iter()
        .filter(|(method, path)| doc["paths"][*path][method.to_ascii_lowercase()].is_null())
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
}

#[test]
fn openapi_operations_have_ids_and_problem_responses_under_both_media_types() {
    let doc = doc();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                ids.insert(id.to_owned()),
                "duplicate or missing operationId at {method} {path}"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("500"), "{method} {path} lacks 500");
            if op.get("security").is_some() {
                let unauthorized = &responses["401"]["content"];
                assert!(unauthorized["application/json"].is_object(), "{method} {path}");
                assert!(unauthorized["application/problem+json"].is_object(), "{method} {path}");
            }
        }
    }
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_ascii_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

fn has_query_parameter(op: &Value, name: Option<&str>) -> bool {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["in"] == "query" && name.is_none_or(|n| p["name"] == n))
}

#[test]
fn openapi_lists_the_standard_errors_of_each_route_class() {
    let doc = doc();
    let mut missing = Vec::new();
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        let mut expected = vec!["414", "431"];
        if has_query_parameter(&op, None) {
            expected.push("400");
        }
        if op.get("requestBody").is_some() {
            expected.extend(["400", "413", "415"]);
        }
        if op.get("security").is_some() {
            expected.push("401");
        }
        for status in expected {
            if !responses.contains_key(status) {
                missing.push(format!("{method} {path} lacks {status}"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn openapi_member_role_change_lists_its_conflict_as_a_role_change() {
    let doc = doc();
    let conflict = &doc["paths"]["/api/organizations/{org_slug}/members/{user_id}"]["patch"]["responses"]["409"];
    let description = conflict["description"].as_str().unwrap_or_default();
    assert!(description.contains("ownership transfer"), "409: {conflict}");
    assert!(!description.contains("removed"), "409: {description}");
    assert!(conflict["content"]["application/problem+json"].is_object());
}

#[tokio::test]
async fn every_route_taking_limit_answers_400_naming_it_as_its_document_says() {
    let t = TestApp::new().await;
    let hook = t
        .post(
            "/api/organizations/acme/webhooks",
            &t.owner.token,
            Some(
                serde_json::json!({"name": "Sink", "url": "https://hooks.example.com/in", "events": ["member.added"]}),
            ),
        )
        .await;
    hook.expect(201, "");
    let hook = hook.body["id"].as_str().unwrap().to_owned();
    let doc = doc();
    let mut checked = Vec::new();
    for (method, path, op) in operations(&doc) {
        if !has_query_parameter(&op, Some("limit")) {
            continue;
        }
        assert!(op["responses"]["400"].is_object(), "{method} {path} lacks 400");
        let url = path.replace("{org_slug}", "acme").replace("{id}", &hook);
        let res = t.get(&format!("{url}?limit=many"), &t.platform.token).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(res.body["errors"][0]["field"], "limit", "{method} {path}");
        checked.push(path);
    }
    // The lists of §1.6 that page: orgs, members, invitations, roles, SCIM tokens, services,
    // audit logs, deliveries, risk events, upstream providers, end users and the platform's
    // org list.
    assert_eq!(checked.len(), 13, "{checked:?}");
}

#[test]
fn openapi_committed_document_is_fresh() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let generated = org_http::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale; run `UPDATE_OPENAPI=1 cargo test -p org-http --test it openapi`"
    );
}

#[tokio::test]
async fn openapi_is_served_at_openapi_json() {
    let t = TestApp::new().await;
    let res = t.send(Method::GET, "/openapi.json", None, None).await;
    res.expect(200, "");
    assert_eq!(res.body, doc());
}
