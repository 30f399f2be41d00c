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

fn billing(key: &str, secret: &str, mode: &str) -> org_domain::credentials::BillingCredentialsDraft {
    org_domain::credentials::BillingCredentialsDraft {
        api_key: key.into(),
        webhook_secret: secret.into(),
        mode: mode.into(),
    }
}

#[tokio::test]
async fn billing_credentials_are_owner_only_set_read_and_deleted_with_redacted_changes() {
    use org_domain::credentials::{BillingMode, BillingProvider};
    let w = World::new().await;
    let creds = &w.app.credentials;
    let none = creds.get_billing(&w.owner, &meta(), "acme", "stripe").await.unwrap();
    assert_eq!(
        (none.provider, none.configured, none.mode, none.enabled, none.updated_at),
        (BillingProvider::Stripe, false, None, false, None)
    );
    let cap = missing(Capability::BillingCredentialsManage);
    assert_eq!(
        creds.get_billing(&w.admin, &meta(), "acme", "stripe").await.map(drop),
        Err(cap.clone()),
        "admins are not owners"
    );
    assert_eq!(
        creds
            .set_billing(&w.admin, &meta(), "acme", "stripe", billing("sk_test_1", "wh", "test"))
            .await,
        Err(cap.clone())
    );
    assert_eq!(
        creds
            .delete_billing(&w.admin, &meta(), "acme", "stripe")
            .await
            .map(drop),
        Err(cap)
    );

    let before = w.acme_log().await.len();
    creds
        .set_billing(
            &w.owner,
            &meta(),
            "acme",
            "stripe",
            billing("sk_test_topsecret", "whsec_topsecret", "test"),
        )
        .await
        .unwrap();
    let got = creds.get_billing(&w.owner, &meta(), "acme", "stripe").await.unwrap();
    assert_eq!(
        (got.configured, got.mode, got.enabled),
        (true, Some(BillingMode::Test), true)
    );
    let entries = w.entries(AuditLog::Org(w.org_id("acme").await)).await;
    assert_eq!(
        entries
            .last()
            .map(|e| (e.entry.action.clone(), e.entry.metadata.clone())),
        Some((
            "billing_credentials.updated".to_owned(),
            Some(json!({"provider": "stripe", "mode": "test", "changes": {
                "mode": {"old": null, "new": "test"}, "api_key": "[REDACTED]", "webhook_secret": "[REDACTED]"}}))
        ))
    );
    let events = w.org_events("acme").await;
    assert_eq!(
        events.last().map(|e| (e.event_type.as_str(), e.data.clone())),
        Some((
            "billing_credentials.updated",
            json!({"provider": "stripe", "mode": "test"})
        ))
    );
    assert!(!format!("{entries:?}{events:?}{got:?}").contains("topsecret"));

    creds
        .set_billing(
            &w.owner,
            &meta(),
            "acme",
            "stripe",
            billing("sk_test_topsecret", "whsec_topsecret", "test"),
        )
        .await
        .unwrap();
    assert_eq!(
        w.acme_log().await.len(),
        before + 1,
        "an identical upsert writes nothing"
    );
    creds
        .set_billing(
            &w.platform,
            &meta(),
            "acme",
            "stripe",
            billing("rk_live_2", "whsec_topsecret", "live"),
        )
        .await
        .unwrap();
    let entries = w.entries(AuditLog::Org(w.org_id("acme").await)).await;
    let last = entries
        .last()
        .and_then(|e| e.entry.metadata.clone())
        .unwrap_or_default();
    assert_eq!(
        last["changes"],
        json!({"mode": {"old": "test", "new": "live"}, "api_key": "[REDACTED]"}),
        "only what changed"
    );
    assert_eq!(last["via_platform_owner"], true, "a platform owner may manage them too");

    let err = creds
        .set_billing(&w.owner, &meta(), "acme", "stripe", billing("sk_live_x", "wh", "test"))
        .await
        .expect_err("prefix");
    assert_eq!(invalid_fields(&err), ["api_key"]);
    let err = creds
        .set_billing(&w.owner, &meta(), "acme", "paddle", billing("k", "wh", "test"))
        .await
        .expect_err("provider");
    assert_eq!(invalid_fields(&err), ["provider"]);

    assert_eq!(creds.delete_billing(&w.owner, &meta(), "acme", "stripe").await, Ok(1));
    let entries = w.entries(AuditLog::Org(w.org_id("acme").await)).await;
    assert_eq!(
        entries
            .last()
            .map(|e| (e.entry.action.clone(), e.entry.metadata.clone())),
        Some((
            "billing_credentials.deleted".to_owned(),
            Some(json!({"provider": "stripe"}))
        ))
    );
    assert_eq!(
        w.org_events("acme")
            .await
            .last()
            .map(|e| (e.event_type.clone(), e.data.clone())),
        Some(("billing_credentials.deleted".to_owned(), json!({"provider": "stripe"})))
    );
    assert_eq!(
        creds.delete_billing(&w.owner, &meta(), "acme", "stripe").await,
        Err(AppError::Domain(DomainError::BillingCredentialsNotFound))
    );
    assert!(
        !creds
            .get_billing(&w.owner, &meta(), "acme", "stripe")
            .await
            .unwrap()
            .configured
    );
}
