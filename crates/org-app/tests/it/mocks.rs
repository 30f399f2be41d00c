//! Interaction tests with mocked ports: what a use case hands over, and how often.

use std::sync::Arc;

use mockall::predicate::always;
use org_app::{AppConfig, AppError, Caller, MemberFilter, MemberPosition};
use org_domain::{MembershipStatus, Role};
use org_ports::{ConflictKind, MockMembershipRepository, MockUnitOfWork, StoreError, Stores};
use org_store_memory::MemoryStore;

use crate::support::{TestApp, World, meta};

async fn app_with_uow(uow: MockUnitOfWork) -> (TestApp, Caller) {
    let store = Arc::new(MemoryStore::new());
    let seed = TestApp::over(Stores::from_store(store.clone()), store.clone(), AppConfig::default());
    let user = seed.app.users.create("a@x.test", None, false).await.unwrap();
    let stores = Stores {
        uow: Arc::new(uow),
        ..Stores::from_store(store.clone())
    };
    let t = TestApp::over(stores, store, AppConfig::default());
    (t, Caller::new(user, None))
}

#[tokio::test]
async fn org_creation_hands_state_audit_and_event_to_the_unit_of_work_exactly_once() {
    let mut uow = MockUnitOfWork::new();
    uow.expect_commit()
        .times(1)
        .withf(|c| {
            c.orgs.len() == 1
                && c.memberships.len() == 1
                && c.memberships[0].role() == &Role::Owner
                && c.sessions.len() == 1
                && c.risk_settings.len() == 1
                && c.audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>() == ["org.created"]
                && c.events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>() == ["organization.created"]
        })
        .returning(|_| Ok(()));
    let (t, caller) = app_with_uow(uow).await;
    t.app.orgs.create(&caller, &meta(), "acme", "Acme").await.unwrap();
}

#[tokio::test]
async fn a_stale_commit_is_retried_and_then_surfaces_as_unavailable() {
    let mut uow = MockUnitOfWork::new();
    uow.expect_commit()
        .with(always())
        .times(16)
        .returning(|_| Err(StoreError::Conflict(ConflictKind::StaleVersion)));
    let (t, caller) = app_with_uow(uow).await;
    let err = t.app.orgs.create(&caller, &meta(), "acme", "Acme").await.unwrap_err();
    assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_failed_commit_is_not_retried_and_fails_the_use_case() {
    let mut uow = MockUnitOfWork::new();
    uow.expect_commit()
        .times(1)
        .returning(|_| Err(StoreError::Unavailable("db down".into())));
    let (t, caller) = app_with_uow(uow).await;
    assert_eq!(
        t.app.orgs.create(&caller, &meta(), "acme", "Acme").await.unwrap_err(),
        AppError::Unavailable("db down".into())
    );
}

/// Which member-list totals come from the org's kept headcount and which are counted: an
/// unfiltered list (and `status=active` alone) never counts rows; any other filter counts
/// once; a cursor page never counts and has no total.
#[tokio::test]
async fn member_list_totals_are_read_from_the_kept_headcount_unless_a_filter_needs_a_count() {
    let w = World::new().await;
    let acme = w.org_id("acme").await;
    let kept = w.headcount("acme").await;
    assert_eq!((kept.active, kept.total), (4, 4));
    let joined = w.members("acme").await[0].membership.joined_at();
    let owner = w.owner.user.id();
    type Case = (&'static str, MemberFilter, bool, Option<u64>);
    let counted = 42;
    let cases: Vec<Case> = vec![
        ("unfiltered", MemberFilter::default(), false, Some(4)),
        (
            "active only",
            MemberFilter {
                role: None,
                status: Some(MembershipStatus::Active),
            },
            false,
            Some(4),
        ),
        (
            "deactivated",
            MemberFilter {
                role: None,
                status: Some(MembershipStatus::Deactivated),
            },
            true,
            Some(counted),
        ),
        (
            "by role",
            MemberFilter {
                role: Some(Role::Admin),
                status: None,
            },
            true,
            Some(counted),
        ),
        (
            "by role, active",
            MemberFilter {
                role: Some(Role::Member),
                status: Some(MembershipStatus::Active),
            },
            true,
            Some(counted),
        ),
        ("cursor page", MemberFilter::default(), false, None),
        (
            "cursor page by role",
            MemberFilter {
                role: Some(Role::Admin),
                status: None,
            },
            false,
            None,
        ),
    ];
    for (name, filter, counts, total) in cases {
        let mut members = MockMembershipRepository::new();
        members.expect_member_page().returning(|_, _| Ok(Vec::new()));
        let expected = filter.clone();
        members
            .expect_count_members()
            .times(usize::from(counts))
            .withf(move |org, role, status| *org == acme && *role == expected.role && *status == expected.status)
            .returning(move |_, _, _| Ok(counted));
        let stores = Stores {
            members: Arc::new(members),
            ..Stores::from_store(w.store.clone())
        };
        let t = TestApp::over(stores, w.store.clone(), AppConfig::default());
        let position = if name.starts_with("cursor") {
            MemberPosition::After {
                org: acme,
                joined_at: joined,
                user_id: owner,
                limit: 10,
            }
        } else {
            MemberPosition::first(10)
        };
        let list = t.app.members.list(&w.owner, "acme", &filter, position).await.unwrap();
        assert_eq!(list.total, total, "{name}");
        assert_eq!((list.active, list.members.len()), (4, 0), "{name}");
    }
}
