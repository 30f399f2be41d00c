//! Bring-your-own OAuth credentials (§12): per (org, provider), field rules naming the field,
//! the capability, no-op upserts, 404 deletes of nothing, audit and events without the secret.

use org_app::AppError;
use org_domain::credentials::{OAuthCredentialsDraft, OAuthProvider};
use org_domain::{Capability, DomainError};
use org_ports::AuditLog;
use serde_json::json;

use crate::support::{World, invalid_fields, meta, missing};

fn draft(id: &str, secret: &str) -> OAuthCredentialsDraft {
    OAuthCredentialsDraft {
        client_id: id.into(),
        client_secret: secret.into(),
    }
}

const NOT_FOUND: AppError = AppError::Domain(DomainError::OAuthCredentialsNotFound);

#[tokio::test]
async fn oauth_credentials_are_set_read_and_deleted_per_provider_with_audit_and_events() {
    let w = World::new().await;
    let creds = &w.app.credentials;
    assert_eq!(
        creds.get_oauth(&w.owner, &meta(), "acme", "github").await,
        Err(NOT_FOUND)
    );
    let before = w.acme_log().await.len();
    let view = creds
        .set_oauth(&w.owner, &meta(), "acme", "github", draft("gh-id", "hunter2"))
        .await
        .unwrap();
    assert_eq!(
        (view.provider, view.client_id.as_str(), view.has_secret),
        (OAuthProvider::Github, "gh-id", true)
    );
    assert_eq!(
        creds.get_oauth(&w.admin, &meta(), "acme", "github").await,
        Ok(view.clone())
    );
    assert_eq!(
        creds.get_oauth(&w.owner, &meta(), "acme", "google").await,
        Err(NOT_FOUND),
        "one row per provider"
    );

    let entries = w.entries(AuditLog::Org(w.org_id("acme").await)).await;
    let updated = entries
        .iter()
        .find(|e| e.entry.action == "oauth_credentials.updated")
        .expect("audited");
    assert_eq!(
        updated.entry.metadata,
        Some(json!({"provider": "github", "client_id": "gh-id",
                    "changes": {"client_id": {"old": null, "new": "gh-id"}, "client_secret": "[REDACTED]"}}))
    );
    let events = w.org_events("acme").await;
    let event = events
        .iter()
        .find(|e| e.event_type == "oauth_credentials.updated")
        .expect("emitted");
    assert_eq!(event.data, json!({"provider": "github", "configured": true}));
    let everything = format!("{entries:?}{events:?}{view:?}");
    assert!(
        !everything.contains("hunter2"),
        "the secret is never audited, emitted or shown"
    );

    // The same values change nothing (§1.7); a new secret alone is a change, named redacted.
    creds
        .set_oauth(&w.owner, &meta(), "acme", "github", draft("gh-id", "hunter2"))
        .await
        .unwrap();
    assert_eq!(
        w.acme_log().await.len(),
        before + 1,
        "an identical upsert writes nothing"
    );
    w.advance(chrono::Duration::seconds(5));
    let rotated = creds
        .set_oauth(&w.owner, &meta(), "acme", "github", draft("gh-id", "new-secret"))
        .await
        .unwrap();
    assert!(rotated.updated_at > view.updated_at);
    let entries = w.entries(AuditLog::Org(w.org_id("acme").await)).await;
    assert_eq!(
        entries.last().and_then(|e| e.entry.metadata.clone()),
        Some(json!({"provider": "github", "client_id": "gh-id", "changes": {"client_secret": "[REDACTED]"}}))
    );

    creds.delete_oauth(&w.owner, &meta(), "acme", "github").await.unwrap();
    assert_eq!(
        creds.get_oauth(&w.owner, &meta(), "acme", "github").await,
        Err(NOT_FOUND)
    );
    let entries = w.entries(AuditLog::Org(w.org_id("acme").await)).await;
    let last = entries.last().expect("deleted entry");
    assert_eq!(
        (last.entry.action.as_str(), last.entry.metadata.clone()),
        ("oauth_credentials.deleted", Some(json!({"provider": "github"})))
    );
    let events = w.org_events("acme").await;
    assert_eq!(
        events.last().map(|e| (e.event_type.as_str(), e.data.clone())),
        Some((
            "oauth_credentials.updated",
            json!({"provider": "github", "configured": false})
        ))
    );
    let n = w.acme_log().await.len();
    assert_eq!(
        creds.delete_oauth(&w.owner, &meta(), "acme", "github").await,
        Err(NOT_FOUND),
        "deleting nothing is a 404 (compat)"
    );
    assert_eq!(w.acme_log().await.len(), n, "and writes nothing");
}

#[tokio::test]
async fn oauth_credentials_need_the_capability_a_known_provider_and_valid_fields() {
    let w = World::new().await;
    let creds = &w.app.credentials;
    let cap = missing(Capability::OrgSettingsManage);
    assert_eq!(
        creds
            .set_oauth(&w.member, &meta(), "acme", "github", draft("a", "b"))
            .await
            .map(drop),
        Err(cap.clone())
    );
    assert_eq!(
        creds.get_oauth(&w.member, &meta(), "acme", "github").await.map(drop),
        Err(cap.clone())
    );
    assert_eq!(
        creds.delete_oauth(&w.member, &meta(), "acme", "github").await,
        Err(cap.clone())
    );
    assert_eq!(
        creds
            .set_oauth(&w.member, &meta(), "acme", "gitlab", draft("", ""))
            .await
            .map(drop),
        Err(cap),
        "the capability is checked before the body"
    );
    let cases = [
        ("gitlab", draft("a", "b"), vec!["provider"]),
        ("github", draft("", "b"), vec!["client_id"]),
        ("github", draft(&"x".repeat(513), "b"), vec!["client_id"]),
        ("github", draft("a", ""), vec!["client_secret"]),
        ("github", draft("a", &"y".repeat(4097)), vec!["client_secret"]),
    ];
    for (provider, d, want) in cases {
        let err = creds
            .set_oauth(&w.owner, &meta(), "acme", provider, d)
            .await
            .expect_err("refused");
        assert_eq!(invalid_fields(&err), want, "{provider}");
    }
    for result in [
        creds.get_oauth(&w.owner, &meta(), "acme", "GitHub").await.map(drop),
        creds.delete_oauth(&w.owner, &meta(), "acme", "apple").await,
    ] {
        assert_eq!(invalid_fields(&result.expect_err("refused")), ["provider"]);
    }
    assert_eq!(
        creds.get_oauth(&w.stranger, &meta(), "acme", "github").await.map(drop),
        Err(AppError::Domain(DomainError::NotFound)),
        "a stranger does not see the org"
    );
}
