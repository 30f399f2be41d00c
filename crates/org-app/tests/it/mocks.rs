//! Interaction tests with a mocked unit of work: what a use case hands over, and how often.

use std::sync::Arc;

use mockall::predicate::always;
use org_app::system::{RandomTokens, UuidV7};
use org_app::{App, AppConfig, AppError, Caller};
use org_ports::{ConflictKind, MockUnitOfWork, StoreError, Stores};
use org_store_memory::MemoryStore;

use crate::support::{meta, test_clock};

async fn app_with_uow(uow: MockUnitOfWork) -> (App, Caller) {
    let store = Arc::new(MemoryStore::new());
    let seed = App::new(
        Stores::from_store(store.clone()),
        test_clock(),
        Arc::new(UuidV7),
        Arc::new(RandomTokens),
        AppConfig::default(),
    );
    let user = seed.admin_create_user("a@x.test", None, false).await.unwrap();
    let stores = Stores {
        uow: Arc::new(uow),
        ..Stores::from_store(store)
    };
    let app = App::new(
        stores,
        test_clock(),
        Arc::new(UuidV7),
        Arc::new(RandomTokens),
        AppConfig::default(),
    );
    (app, Caller { user, session_id: None })
}

#[tokio::test]
async fn org_creation_hands_state_audit_and_event_to_the_unit_of_work_exactly_once() {
    let mut uow = MockUnitOfWork::new();
    uow.expect_commit()
        .times(1)
        .withf(|c| {
            c.orgs.len() == 1
                && c.sessions.len() == 1
                && c.audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>() == ["org.created"]
                && c.events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>() == ["organization.created"]
        })
        .returning(|_| Ok(()));
    let (app, caller) = app_with_uow(uow).await;
    app.create_org(&caller, &meta(), "acme", "Acme").await.unwrap();
}

#[tokio::test]
async fn a_stale_commit_is_retried_and_then_surfaces_as_unavailable() {
    let mut uow = MockUnitOfWork::new();
    uow.expect_commit()
        .with(always())
        .times(16)
        .returning(|_| Err(StoreError::Conflict(ConflictKind::StaleVersion)));
    let (app, caller) = app_with_uow(uow).await;
    let err = app.create_org(&caller, &meta(), "acme", "Acme").await.unwrap_err();
    assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_failed_commit_is_not_retried_and_fails_the_use_case() {
    let mut uow = MockUnitOfWork::new();
    uow.expect_commit()
        .times(1)
        .returning(|_| Err(StoreError::Unavailable("db down".into())));
    let (app, caller) = app_with_uow(uow).await;
    assert_eq!(
        app.create_org(&caller, &meta(), "acme", "Acme").await.unwrap_err(),
        AppError::Unavailable("db down".into())
    );
}
