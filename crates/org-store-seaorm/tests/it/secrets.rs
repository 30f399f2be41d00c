//! Secrets at rest (§1.8): webhook signing secrets, a session's replay tokens and provider
//! credentials (§12, §18) are sealed in their columns under their org's data key, open only
//! for their own row, column and org; `rewrap_secrets` retires a key-encryption key; a store
//! refuses to open a durable database without a cipher.

use std::sync::Arc;

use org_domain::webhook::{Webhook, WebhookRecord};
use org_domain::{OrgId, RotationReplay, Session, SessionId, SessionKind, TokenHash, WebhookId};
use org_ports::{
    Changeset, DeliveryFilter, PageRequest, SecretCipher, SecretScope, SessionRepository, StoreError, UnitOfWork,
    WebhookRepository,
};
use org_store_seaorm::{AesGcmCipher, SeaStore, StoreOptions};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value};

use crate::build::{event, id, seeded, t};
use crate::support::{Backend, Fixture};

fn hook(org: OrgId, secret: &str, previous: Option<&str>) -> Webhook {
    let id = WebhookId::from_uuid(id());
    Webhook::restore(WebhookRecord {
        id,
        org_id: org,
        name: format!("hook {id}"),
        url: "https://hooks.example.com/in".to_owned(),
        events: vec!["member.added".to_owned()],
        is_active: true,
        disabled_reason: None,
        secret: secret.to_owned(),
        previous_secret: previous.map(str::to_owned),
        previous_secret_expires_at: previous.map(|_| t(3600)),
        failing_since: None,
        created_at: t(0),
        updated_at: t(0),
        deleted_at: None,
        version: 0,
    })
}

/// `sql` with `$n` placeholders as the backend of `db` spells them, and its values.
fn statement(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> Statement {
    let backend = db.get_database_backend();
    let sql = if backend == DbBackend::Sqlite {
        sql.replace("$1", "?1").replace("$2", "?2")
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The raw `(secret, previous_secret)` columns of a webhook row.
async fn raw_secrets(db: &DatabaseConnection, w: WebhookId) -> (String, Option<String>) {
    let q = "SELECT secret, previous_secret FROM webhooks WHERE id = $1";
    let row = db
        .query_one_raw(statement(db, q, vec![w.as_uuid().into()]))
        .await
        .unwrap()
        .expect("the webhook row");
    (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap())
}

/// Writes `value` into the `secret` column of webhook `to`, behind the store's back.
async fn set_raw_secret(db: &DatabaseConnection, to: WebhookId, value: &str) {
    let q = "UPDATE webhooks SET secret = $1 WHERE id = $2";
    let done = db
        .execute_raw(statement(db, q, vec![value.into(), to.as_uuid().into()]))
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn webhook_secrets_are_sealed_and_bound_to_their_row(backend: Backend) {
    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let s = fx.open(&url, StoreOptions::default()).await;
    s.migrate().await.unwrap();
    let (_, _, o) = seeded(&*s, "acme", 0).await;
    let (plain, previous) = ("whsec_current_plaintext_value", "whsec_previous_plaintext_value");
    let a = hook(o.id(), plain, Some(previous));
    let b = hook(o.id(), "whsec_other_endpoint_value", None);
    s.commit(Changeset {
        webhooks: vec![a.clone(), b.clone()],
        ..Default::default()
    })
    .await
    .unwrap();

    let raw = Database::connect(url.as_str()).await.unwrap();
    let (sealed, sealed_prev) = raw_secrets(&raw, a.id()).await;
    let sealed_prev = sealed_prev.expect("a sealed previous secret");
    for (blob, secret) in [(&sealed, plain), (&sealed_prev, previous)] {
        assert!(!blob.contains(secret), "plaintext at rest: {blob}");
        assert!(!blob.contains("whsec_"), "plaintext at rest: {blob}");
        assert!(blob.starts_with("v2:dk-"), "sealed under the org's data key: {blob}");
    }
    // The org's data key is stored wrapped by the key-encryption key `k1`.
    let wrapped = raw_data_key(&raw, o.id().as_uuid()).await.expect("the org's data key");
    assert!(wrapped.starts_with("v1:k1:"), "{wrapped}");

    // The store reads the plaintext back.
    let read = s.webhook(o.id(), a.id()).await.unwrap().expect("webhook a");
    assert_eq!(
        (read.record().secret.as_str(), read.record().previous_secret.as_deref()),
        (plain, Some(previous))
    );

    // A blob copied to another row does not open there: the read fails, nothing is guessed.
    set_raw_secret(&raw, b.id(), &sealed).await;
    assert!(matches!(s.webhook(o.id(), b.id()).await, Err(StoreError::Corrupt(_))));
    assert!(matches!(s.org_webhooks(o.id()).await, Err(StoreError::Corrupt(_))));
    // Commits of the org still fan out to both endpoints: fan-out never opens secrets.
    let e = event(o.id(), "member.added");
    s.commit(Changeset {
        events: vec![e],
        ..Default::default()
    })
    .await
    .unwrap();
    for w in [a.id(), b.id()] {
        let page = s
            .webhook_deliveries(w, &DeliveryFilter::default(), PageRequest::new(1, 10))
            .await
            .unwrap();
        assert_eq!(page.total, Some(1), "one delivery for {w}");
    }
    // Nor in another column of the same row.
    set_raw_secret(&raw, a.id(), &sealed_prev).await;
    assert!(matches!(s.webhook(o.id(), a.id()).await, Err(StoreError::Corrupt(_))));
    // Nor in another org's row (another data key, another scope).
    let (_, _, other) = seeded(&*s, "globex", 0).await;
    let c = hook(other.id(), "whsec_other_org_value", None);
    s.commit(Changeset {
        webhooks: vec![c.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.webhook(other.id(), c.id()).await.unwrap().unwrap().record().secret,
        "whsec_other_org_value"
    );
    set_raw_secret(&raw, c.id(), &sealed).await;
    match s.webhook(other.id(), c.id()).await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("webhooks.secret"), "a clear error: {m}"),
        other => panic!("a copied blob must not open in another org: {other:?}"),
    }
    raw.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_webhook_secrets_are_sealed_and_bound_to_their_row() {
    webhook_secrets_are_sealed_and_bound_to_their_row(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_webhook_secrets_are_sealed_and_bound_to_their_row() {
    webhook_secrets_are_sealed_and_bound_to_their_row(Backend::Postgres).await;
}

/// The wrapped data key of `org`, if it has one.
async fn raw_data_key(db: &DatabaseConnection, org: uuid::Uuid) -> Option<String> {
    let q = "SELECT wrapped FROM data_keys WHERE org_id = $1";
    let row = db.query_one_raw(statement(db, q, vec![org.into()])).await.unwrap()?;
    Some(row.try_get_by_index(0).unwrap())
}

async fn rewrap_retires_an_old_key_encryption_key(backend: Backend) {
    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let (old, _, k1) = AesGcmCipher::generate();
    let opts = |c: AesGcmCipher| StoreOptions {
        cipher: Some(Arc::new(c) as Arc<dyn SecretCipher>),
        ..StoreOptions::default()
    };
    let s = fx.open(&url, opts(old.clone())).await;
    s.migrate().await.unwrap();
    let (_, _, o) = seeded(&*s, "acme", 0).await;
    let a = hook(o.id(), "whsec_sealed_under_k1", None);
    let b = hook(o.id(), "whsec_placeholder", None);
    s.commit(Changeset {
        webhooks: vec![a.clone(), b.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    // A secret as stored before data keys existed: sealed directly under the key-encryption key.
    let raw = Database::connect(url.as_str()).await.unwrap();
    let scope = SecretScope::new(o.id(), "webhooks", "secret", b.id().as_uuid());
    let legacy = old.seal("whsec_legacy_value", &scope).unwrap();
    set_raw_secret(&raw, b.id(), &legacy).await;
    assert_eq!(
        s.webhook(o.id(), b.id()).await.unwrap().unwrap().record().secret,
        "whsec_legacy_value"
    );
    s.close().await.unwrap();

    // A new primary: everything still opens; rewrap moves every data key under it.
    let rotated = AesGcmCipher::new(vec![("k1".into(), k1), ("k2".into(), [42; 32])], "k2").unwrap();
    let s = fx.open(&url, opts(rotated)).await;
    assert_eq!(
        s.webhook(o.id(), a.id()).await.unwrap().unwrap().record().secret,
        "whsec_sealed_under_k1"
    );
    let report = s.rewrap_secrets().await.unwrap();
    assert_eq!((report.rewrapped, report.resealed), (report.data_keys, 1), "{report:?}");
    assert!(report.data_keys >= 1, "{report:?}");
    assert!(
        raw_data_key(&raw, o.id().as_uuid())
            .await
            .unwrap()
            .starts_with("v1:k2:")
    );
    assert!(raw_secrets(&raw, b.id()).await.0.starts_with("v2:dk-"));
    // A second run has nothing left to do.
    let again = s.rewrap_secrets().await.unwrap();
    assert_eq!((again.rewrapped, again.resealed), (0, 0), "{again:?}");
    s.close().await.unwrap();

    // k1 retired: every secret still opens under k2 alone.
    let only_k2 = AesGcmCipher::new(vec![("k2".into(), [42; 32])], "k2").unwrap();
    let s = fx.open(&url, opts(only_k2)).await;
    let read = s.org_webhooks(o.id()).await.unwrap();
    let mut secrets: Vec<_> = read.iter().map(|w| w.record().secret.clone()).collect();
    secrets.sort();
    assert_eq!(secrets, ["whsec_legacy_value", "whsec_sealed_under_k1"]);
    s.close().await.unwrap();

    // Without the key that wraps the data key, the read is an error, never a wrong secret.
    let only_new = AesGcmCipher::new(vec![("k9".into(), [1; 32])], "k9").unwrap();
    let s = fx.open(&url, opts(only_new)).await;
    assert!(matches!(s.webhook(o.id(), a.id()).await, Err(StoreError::Corrupt(_))));
    raw.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_rewrap_retires_an_old_key_encryption_key() {
    rewrap_retires_an_old_key_encryption_key(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_rewrap_retires_an_old_key_encryption_key() {
    rewrap_retires_an_old_key_encryption_key(Backend::Postgres).await;
}

/// The raw `(replay_access, replay_refresh)` columns of a session row.
async fn raw_replay(db: &DatabaseConnection, id: SessionId) -> (Option<String>, Option<String>) {
    let q = "SELECT replay_access, replay_refresh FROM sessions WHERE id = $1";
    let row = db
        .query_one_raw(statement(db, q, vec![id.as_uuid().into()]))
        .await
        .unwrap()
        .expect("the session row");
    (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap())
}

async fn replay_tokens_are_sealed_and_bound_to_their_session(backend: Backend) {
    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let s = fx.open(&url, StoreOptions::default()).await;
    s.migrate().await.unwrap();
    let (owner, _, o) = seeded(&*s, "acme", 0).await;
    let session = |org: Option<OrgId>, token: u8| Session {
        id: SessionId::from_uuid(id()),
        user_id: owner.id(),
        kind: if org.is_some() {
            SessionKind::Org
        } else {
            SessionKind::Platform
        },
        org_id: org,
        refresh_hash: TokenHash([token; 32]),
        previous_hash: Some((TokenHash([token + 1; 32]), t(5))),
        ip_address: None,
        user_agent: None,
        created_at: t(0),
        last_refreshed_at: Some(t(5)),
        expires_at: t(3600),
        absolute_expires_at: t(7200),
        revoked_at: None,
        revoke_reason: None,
        replay: Some(RotationReplay {
            access_token: format!("eyJ.access.plaintext-{token}"),
            refresh_token: format!("refresh-plaintext-{token}"),
        }),
        version: 0,
        service_id: None,
    };
    let (in_org, platform) = (session(Some(o.id()), 1), session(None, 3));
    s.commit(Changeset {
        sessions: vec![in_org.clone(), platform.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let raw = Database::connect(url.as_str()).await.unwrap();
    for sess in [&in_org, &platform] {
        let (access, refresh) = raw_replay(&raw, sess.id).await;
        let (access, refresh) = (access.expect("sealed access"), refresh.expect("sealed refresh"));
        let replay = sess.replay.as_ref().unwrap();
        assert!(!access.contains(&replay.access_token), "plaintext at rest: {access}");
        assert!(!refresh.contains(&replay.refresh_token), "plaintext at rest: {refresh}");
        assert!(access.starts_with("v2:dk-") && refresh.starts_with("v2:dk-"));
        let read = s.session_by_id(sess.id).await.unwrap().expect("session");
        assert_eq!(read.replay.as_ref(), Some(replay), "the store reads the tokens back");
    }
    // A blob copied to another session (or the other column) does not open there.
    let (access, _) = raw_replay(&raw, in_org.id).await;
    let q = "UPDATE sessions SET replay_access = $1 WHERE id = $2";
    raw.execute_raw(statement(
        &raw,
        q,
        vec![access.clone().into(), platform.id.as_uuid().into()],
    ))
    .await
    .unwrap();
    assert!(matches!(
        s.session_by_id(platform.id).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        s.session_context(platform.id, None).await,
        Err(StoreError::Corrupt(_))
    ));
    let q = "UPDATE sessions SET replay_refresh = $1 WHERE id = $2";
    raw.execute_raw(statement(&raw, q, vec![access.into(), in_org.id.as_uuid().into()]))
        .await
        .unwrap();
    assert!(matches!(s.session_by_id(in_org.id).await, Err(StoreError::Corrupt(_))));
    raw.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_replay_tokens_are_sealed_and_bound_to_their_session() {
    replay_tokens_are_sealed_and_bound_to_their_session(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_replay_tokens_are_sealed_and_bound_to_their_session() {
    replay_tokens_are_sealed_and_bound_to_their_session(Backend::Postgres).await;
}

#[tokio::test]
async fn a_durable_database_without_a_cipher_is_refused() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let fx = Fixture::new(backend);
        let url = fx.fresh_url().await;
        let err = SeaStore::connect(&url, StoreOptions::default()).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Unavailable(m) if m.contains("encryption key")),
            "{err:?}"
        );
        fx.finish().await;
    }
}

/// Overwrites `column` of the `table` row `to` with `value`, behind the store's back.
async fn set_raw(db: &DatabaseConnection, table: &str, column: &str, to: uuid::Uuid, value: &str) {
    let q = format!("UPDATE {table} SET {column} = $1 WHERE id = $2");
    let done = db
        .execute_raw(statement(db, &q, vec![value.into(), to.into()]))
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn raw_column(db: &DatabaseConnection, table: &str, column: &str, id: uuid::Uuid) -> String {
    let q = format!("SELECT {column} FROM {table} WHERE id = $1");
    let row = db
        .query_one_raw(statement(db, &q, vec![id.into()]))
        .await
        .unwrap()
        .expect("the row");
    row.try_get_by_index(0).unwrap()
}

async fn credential_secrets_are_sealed_and_bound_to_their_row_and_column(backend: Backend) {
    use org_domain::CredentialId;
    use org_domain::credentials::{
        BillingCredentials, BillingCredentialsRecord, BillingMode, BillingProvider, OAuthCredentials,
        OAuthCredentialsRecord, OAuthProvider,
    };
    use org_ports::SettingsRepository;
    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let s = fx.open(&url, StoreOptions::default()).await;
    s.migrate().await.unwrap();
    let (_, _, o) = seeded(&*s, "acme", 0).await;
    let oauth = |provider, secret: &str| {
        OAuthCredentials::restore(OAuthCredentialsRecord {
            id: CredentialId::from_uuid(id()),
            org_id: o.id(),
            provider,
            client_id: "client".to_owned(),
            client_secret: secret.to_owned(),
            created_at: t(0),
            updated_at: t(0),
            version: 0,
        })
    };
    let gh = oauth(OAuthProvider::Github, "gh_plaintext_secret");
    let google = oauth(OAuthProvider::Google, "google_plaintext_secret");
    let stripe = BillingCredentials::restore(BillingCredentialsRecord {
        id: CredentialId::from_uuid(id()),
        org_id: o.id(),
        provider: BillingProvider::Stripe,
        mode: BillingMode::Test,
        api_key: "sk_test_plaintext_key".to_owned(),
        webhook_secret: "whsec_plaintext_secret".to_owned(),
        enabled: true,
        created_at: t(0),
        updated_at: t(0),
        version: 0,
    });
    s.commit(Changeset {
        oauth_credentials: vec![gh.clone(), google.clone()],
        billing_credentials: vec![stripe.clone()],
        ..Default::default()
    })
    .await
    .unwrap();

    let raw = Database::connect(url.as_str()).await.unwrap();
    let gh_blob = raw_column(&raw, "oauth_credentials", "client_secret", gh.id().as_uuid()).await;
    let key_blob = raw_column(&raw, "billing_credentials", "api_key", stripe.id().as_uuid()).await;
    let wh_blob = raw_column(&raw, "billing_credentials", "webhook_secret", stripe.id().as_uuid()).await;
    for blob in [&gh_blob, &key_blob, &wh_blob] {
        assert!(!blob.contains("plaintext"), "plaintext at rest: {blob}");
        assert!(blob.starts_with("v2:dk-"), "{blob}");
    }
    let read = s.oauth_credentials(o.id(), OAuthProvider::Github).await.unwrap();
    assert_eq!(read, Some(gh.clone().with_version(1)), "the store opens its own row");
    let read = s.billing_credentials(o.id(), BillingProvider::Stripe).await.unwrap();
    assert_eq!(read, Some(stripe.clone().with_version(1)));

    // Copied to another provider's row, or to the other column, a blob does not open.
    set_raw(
        &raw,
        "oauth_credentials",
        "client_secret",
        google.id().as_uuid(),
        &gh_blob,
    )
    .await;
    assert!(matches!(
        s.oauth_credentials(o.id(), OAuthProvider::Google).await,
        Err(StoreError::Corrupt(_))
    ));
    set_raw(
        &raw,
        "billing_credentials",
        "webhook_secret",
        stripe.id().as_uuid(),
        &key_blob,
    )
    .await;
    assert!(matches!(
        s.billing_credentials(o.id(), BillingProvider::Stripe).await,
        Err(StoreError::Corrupt(_))
    ));
    raw.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_credential_secrets_are_sealed_and_bound_to_their_row_and_column() {
    credential_secrets_are_sealed_and_bound_to_their_row_and_column(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_credential_secrets_are_sealed_and_bound_to_their_row_and_column() {
    credential_secrets_are_sealed_and_bound_to_their_row_and_column(Backend::Postgres).await;
}

/// Two processes sealing the first secrets of one org at once agree on its data key: one key
/// is stored, every secret opens in both.
async fn two_processes_agree_on_a_new_orgs_data_key(backend: Backend) {
    let fx = Fixture::new(backend);
    let url = fx.fresh_url().await;
    let one = fx.open(&url, StoreOptions::default()).await;
    one.migrate().await.unwrap();
    let two = fx.open(&url, StoreOptions::default()).await;
    let (_, _, o) = seeded(&*one, "acme", 0).await;
    for round in 0..5 {
        let (a, b) = (
            hook(o.id(), &format!("whsec_one_{round}"), None),
            hook(o.id(), &format!("whsec_two_{round}"), None),
        );
        let commit = |s: Arc<SeaStore>, w: Webhook| async move {
            s.commit(Changeset {
                webhooks: vec![w],
                ..Default::default()
            })
            .await
        };
        let (r1, r2) = tokio::join!(commit(one.clone(), a.clone()), commit(two.clone(), b.clone()));
        r1.unwrap();
        r2.unwrap();
        for s in [&one, &two] {
            for w in [&a, &b] {
                let read = s.webhook(o.id(), w.id()).await.unwrap().expect("webhook");
                assert_eq!(read.record().secret, w.record().secret);
            }
        }
    }
    let raw = Database::connect(url.as_str()).await.unwrap();
    let q = "SELECT COUNT(*) FROM data_keys WHERE org_id = $1";
    let row = raw
        .query_one_raw(statement(&raw, q, vec![o.id().as_uuid().into()]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 1);
    raw.close().await.unwrap();
    fx.finish().await;
}

#[tokio::test]
async fn sqlite_two_processes_agree_on_a_new_orgs_data_key() {
    two_processes_agree_on_a_new_orgs_data_key(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_two_processes_agree_on_a_new_orgs_data_key() {
    two_processes_agree_on_a_new_orgs_data_key(Backend::Postgres).await;
}
