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
