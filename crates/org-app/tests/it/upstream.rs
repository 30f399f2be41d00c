//! Upstream identity providers (§11) through the app: documents are fetched after the
//! authorization and field rules and before the write, a failed fetch writes nothing, audit
//! `changes` redact the secret and flag the metadata document, `connection_id` is unique.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use org_app::{App, AppError};
use org_domain::DomainError;
use org_domain::upstream::UpstreamDraft;
use org_ports::{AuditLog, DocumentFetcher, SendResult};
use serde_json::json;

use crate::support::{World, invalid_fields, meta, missing};

/// Documents by URL; every fetch is recorded.
#[derive(Default)]
struct Docs {
    answers: Mutex<HashMap<String, SendResult>>,
    fetched: Mutex<Vec<String>>,
}

struct Fetcher(Arc<Docs>);

#[async_trait::async_trait]
impl DocumentFetcher for Fetcher {
    async fn fetch(&self, url: &str, _max: usize) -> SendResult {
        self.0.fetched.lock().unwrap().push(url.to_owned());
        self.0
            .answers
            .lock()
            .unwrap()
            .get(url)
            .cloned()
            .unwrap_or(SendResult::Error("connect_error".into()))
    }
}

const DISCOVERY: &str = "https://idp.example.com/.well-known/openid-configuration";

fn serving(w: &World) -> (App, Arc<Docs>) {
    let docs = Arc::new(Docs::default());
    let doc = json!({
        "issuer": "https://idp.example.com",
        "authorization_endpoint": "https://idp.example.com/auth",
        "token_endpoint": "https://idp.example.com/token",
        "userinfo_endpoint": "https://idp.example.com/me",
        "jwks_uri": "https://idp.example.com/jwks",
    });
    docs.answers.lock().unwrap().insert(
        DISCOVERY.to_owned(),
        SendResult::Response {
            status: 200,
            body: doc.to_string(),
            retry_after: None,
        },
    );
    docs.answers.lock().unwrap().insert(
        "https://moved.example.com/d".to_owned(),
        SendResult::Response {
            status: 301,
            body: String::new(),
            retry_after: None,
        },
    );
    (w.sibling().with_document_fetcher(Arc::new(Fetcher(docs.clone()))), docs)
}

fn oidc(connection_id: &str) -> UpstreamDraft {
    UpstreamDraft {
        connection_id: Some(connection_id.into()),
        name: Some("Okta".into()),
        provider_type: Some("oidc".into()),
        client_id: Some("client".into()),
        client_secret: Some(Some("secret".into())),
        discovery_url: Some(Some(DISCOVERY.into())),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_provider_is_created_from_its_discovery_document_with_its_audit_entry_and_event() {
    let w = World::new().await;
    let (app, docs) = serving(&w);
    let p = app
        .upstream
        .create(&w.owner, &meta(), "acme", oidc("okta"))
        .await
        .unwrap();
    assert_eq!(*docs.fetched.lock().unwrap(), [DISCOVERY]);
    let r = p.record();
    assert_eq!(r.version, 1);
    assert_eq!(r.token_url.as_deref(), Some("https://idp.example.com/token"));
    assert_eq!(r.jwks_url.as_deref(), Some("https://idp.example.com/jwks"));
    assert_eq!(
        w.acme_log().await.last().map(String::as_str),
        Some("upstream_provider.created")
    );
    assert_eq!(
        w.event_types("acme").await.last().map(String::as_str),
        Some("upstream_provider.created")
    );
    let listed = app
        .upstream
        .list(&w.owner, &meta(), "acme", org_ports::PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(listed, std::slice::from_ref(&p));
    assert_eq!(
        app.upstream
            .get(&w.admin, &meta(), "acme", &p.id().to_string())
            .await
            .unwrap(),
        p
    );

    let dup = app
        .upstream
        .create(&w.owner, &meta(), "acme", oidc("okta"))
        .await
        .unwrap_err();
    assert_eq!(dup, AppError::Domain(DomainError::DuplicateConnectionId));
}

#[tokio::test]
async fn nothing_is_fetched_for_callers_who_may_not_write_and_a_failed_fetch_writes_nothing() {
    let w = World::new().await;
    let (app, docs) = serving(&w);
    let e = app
        .upstream
        .create(&w.member, &meta(), "acme", oidc("okta"))
        .await
        .unwrap_err();
    assert_eq!(e, missing(org_domain::Capability::IntegrationsManage));
    let e = app
        .upstream
        .create(&w.stranger, &meta(), "acme", oidc("okta"))
        .await
        .unwrap_err();
    assert_eq!(e, AppError::Domain(DomainError::NotFound));
    let bad_type = UpstreamDraft {
        provider_type: Some("OIDC".into()),
        ..oidc("okta")
    };
    assert_eq!(
        invalid_fields(
            &app.upstream
                .create(&w.owner, &meta(), "acme", bad_type)
                .await
                .unwrap_err()
        ),
        ["provider_type"]
    );
    assert!(
        docs.fetched.lock().unwrap().is_empty(),
        "no fetch before authorization and field rules"
    );

    let before = w.acme_log().await.len();
    let moved = UpstreamDraft {
        discovery_url: Some(Some("https://moved.example.com/d".into())),
        ..oidc("okta")
    };
    let e = app.upstream.create(&w.owner, &meta(), "acme", moved).await.unwrap_err();
    match &e {
        AppError::Domain(DomainError::Validation(v)) => {
            assert_eq!(v[0].field, "discovery_url");
            assert!(v[0].message.contains("redirect"), "{}", v[0].message);
        }
        other => panic!("{other:?}"),
    }
    let private = UpstreamDraft {
        discovery_url: Some(Some("https://10.0.0.1/d".into())),
        ..oidc("okta")
    };
    assert_eq!(
        invalid_fields(
            &app.upstream
                .create(&w.owner, &meta(), "acme", private)
                .await
                .unwrap_err()
        ),
        ["discovery_url"]
    );
    assert_eq!(w.acme_log().await.len(), before, "no audit entry, no row");
    let listed = app
        .upstream
        .list(&w.owner, &meta(), "acme", org_ports::PageRequest::new(1, 50))
        .await
        .unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn updates_record_changes_with_the_secret_redacted_and_refetch_only_a_changed_url() {
    let w = World::new().await;
    let (app, docs) = serving(&w);
    let p = app
        .upstream
        .create(&w.owner, &meta(), "acme", oidc("okta"))
        .await
        .unwrap();
    let id = p.id().to_string();
    let patch = UpstreamDraft {
        client_secret: Some(Some("rotated".into())),
        name: Some("Okta SSO".into()),
        discovery_url: Some(Some(DISCOVERY.into())),
        metadata: Some(Some(r#"{"email_attribute":"mail"}"#.into())),
        ..Default::default()
    };
    let updated = app
        .upstream
        .update(&w.owner, &meta(), "acme", &id, patch.clone())
        .await
        .unwrap();
    assert_eq!(updated.record().version, 2);
    assert_eq!(
        docs.fetched.lock().unwrap().len(),
        1,
        "the discovery URL did not change"
    );
    let org = w.org_id("acme").await;
    let entries = w.entries(AuditLog::Org(org)).await;
    let last = &entries.last().unwrap().entry;
    assert_eq!(last.action, "upstream_provider.updated");
    let changes = &last.metadata.as_ref().unwrap()["changes"];
    assert_eq!(changes["client_secret"], "[REDACTED]");
    assert_eq!(changes["name"], json!({"old": "Okta", "new": "Okta SSO"}));
    assert_eq!(
        changes["metadata"],
        json!({"old": null, "new": {"email_attribute": "mail"}})
    );
    assert!(!last.metadata.as_ref().unwrap().to_string().contains("rotated"));
    // The same body again changes nothing and writes nothing.
    let count = entries.len();
    app.upstream
        .update(&w.owner, &meta(), "acme", &id, patch)
        .await
        .unwrap();
    assert_eq!(w.entries(AuditLog::Org(org)).await.len(), count);
    let retype = UpstreamDraft {
        provider_type: Some("saml".into()),
        ..Default::default()
    };
    assert_eq!(
        invalid_fields(
            &app.upstream
                .update(&w.owner, &meta(), "acme", &id, retype)
                .await
                .unwrap_err()
        ),
        ["provider_type"]
    );
    app.upstream.delete(&w.owner, &meta(), "acme", &id).await.unwrap();
    assert_eq!(
        w.acme_log().await.last().map(String::as_str),
        Some("upstream_provider.deleted")
    );
    let gone = app.upstream.get(&w.owner, &meta(), "acme", &id).await.unwrap_err();
    assert_eq!(gone, AppError::Domain(DomainError::NotFound));
}
