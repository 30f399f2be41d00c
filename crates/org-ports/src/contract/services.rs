//! Contract checks of services (§19), member grants (§5.4), the kept service count and its cap
//! (§22.3), and login keys (§19.5).

use super::*;
use org_domain::login_key::{LoginKey, LoginKeyRecord};
use org_domain::service::{GrantWrite, Service, ServiceAccessLevel, ServiceRecord, ServiceSlug};
use org_domain::{LoginKeyId, ServiceId};

fn service(org: OrgId, slug: &str, at: i64) -> Service {
    Service::restore(ServiceRecord {
        id: ServiceId::from_uuid(uuid()),
        org_id: org,
        slug: ServiceSlug::parse(slug).unwrap(),
        name: format!("Service {slug}"),
        description: None,
        enabled: true,
        created_at: t(at),
        updated_at: t(at),
        version: 0,
    })
    .unwrap()
}

fn renamed(s: &Service, name: &str) -> Service {
    Service::restore(ServiceRecord {
        name: name.to_owned(),
        description: Some("with a description ✓".to_owned()),
        enabled: false,
        updated_at: t(50),
        ..s.record().clone()
    })
    .unwrap()
}

fn grant(s: &Service, user: UserId, access: Option<ServiceAccessLevel>) -> GrantWrite {
    GrantWrite {
        org_id: s.org_id(),
        service_id: s.id(),
        user_id: user,
        access,
    }
}

async fn count<S: Store>(s: &S, org: OrgId) -> u32 {
    s.service_counts(&[org]).await.unwrap().first().map_or(0, |(_, n)| *n)
}

fn slugs(list: &[Service]) -> Vec<&str> {
    list.iter().map(|s| s.slug().as_str()).collect()
}

pub async fn services_round_trip_with_unique_slugs_per_org_and_a_kept_count<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other-org").await.org.id();
    let id = seed.org.id();
    assert_eq!(count(&*s, id).await, 0, "no services yet");
    let (a, b, c) = (service(id, "app", 1), service(id, "api", 2), service(id, "web", 3));
    s.commit(Changeset {
        services: vec![a.clone(), b.clone(), c.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let slug = ServiceSlug::parse("api").unwrap();
    assert_eq!(
        s.service_by_slug(id, &slug).await.unwrap(),
        Some(b.clone().with_version(1))
    );
    assert_eq!(s.service_by_slug(other, &slug).await.unwrap(), None, "per org");
    assert_eq!(
        slugs(&s.org_services(id).await.unwrap()),
        ["app", "api", "web"],
        "oldest first"
    );
    let page = s.service_page(id, PageRequest::new(2, 2)).await.unwrap();
    assert_eq!((slugs(&page.items), page.total), (vec!["web"], Some(3)));
    let named = s
        .services_named(
            id,
            &[ServiceSlug::parse("web").unwrap(), ServiceSlug::parse("nope").unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(slugs(&named), ["web"]);
    assert_eq!(s.service_counts(&[id, other]).await.unwrap(), vec![(id, 3)]);
    let stored = a.clone().with_version(1);
    let steps = vec![
        (
            "a second service with the slug in the org",
            Changeset {
                services: vec![service(id, "app", 4)],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::ServiceSlug))),
        ),
        (
            "the same slug in another org",
            Changeset {
                services: vec![service(other, "app", 4)],
                ..cs()
            },
            Ok(()),
        ),
        (
            "an org that does not exist",
            Changeset {
                services: vec![service(OrgId::from_uuid(uuid()), "app", 4)],
                ..cs()
            },
            Err(StoreError::NotFound),
        ),
        (
            "an update at the loaded version",
            Changeset {
                services: vec![renamed(&stored, "Renamed")],
                ..cs()
            },
            Ok(()),
        ),
        (
            "an update at the old version",
            Changeset {
                services: vec![renamed(&stored, "Stale")],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
        (
            "a delete at the old version",
            Changeset {
                removed_services: vec![stored.clone()],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
    ];
    run_steps(&*s, steps).await;
    let updated = s
        .service_by_slug(id, &ServiceSlug::parse("app").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        updated,
        renamed(&stored, "Renamed").with_version(2),
        "the update reads back whole"
    );
    s.commit(Changeset {
        removed_services: vec![updated],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(count(&*s, id).await, 2, "the count follows the deletes");
    assert_eq!(slugs(&s.org_services(id).await.unwrap()), ["api", "web"]);
    assert_eq!(count(&*s, other).await, 1);
}

pub async fn service_cap_refuses_a_commit_that_raises_the_count_above_it<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let steps = vec![
        (
            "two services under a cap of two",
            Changeset {
                services: vec![service(id, "one", 1), service(id, "two", 2)],
                service_cap: Some(2),
                ..cs()
            },
            Ok(()),
        ),
        (
            "a third at the cap",
            Changeset {
                services: vec![service(id, "three", 3)],
                service_cap: Some(2),
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::ServiceCap)),
        ),
        (
            "a lowered cap blocks growth only",
            Changeset {
                services: vec![service(id, "three", 3)],
                service_cap: Some(1),
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::ServiceCap)),
        ),
        (
            "a raised cap lets it in",
            Changeset {
                services: vec![service(id, "three", 3)],
                service_cap: Some(3),
                ..cs()
            },
            Ok(()),
        ),
    ];
    run_steps(&*s, steps).await;
    assert_eq!(count(&*s, id).await, 3, "refused commits left the count alone");
}

pub async fn concurrent_service_creates_stop_exactly_at_the_cap<S: Store + 'static>(s: Arc<S>) {
    const CANDIDATES: usize = 12;
    const CAP: u32 = 5;
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let mut tasks = JoinSet::new();
    for i in 0..CANDIDATES {
        let s = s.clone();
        tasks.spawn(async move {
            let svc = service(id, &format!("svc-{i}"), 10 + i64::try_from(i).unwrap());
            yield_now().await;
            match s
                .commit(Changeset {
                    services: vec![svc],
                    service_cap: Some(CAP),
                    ..cs()
                })
                .await
            {
                Ok(()) => true,
                Err(StoreError::Conflict(ConflictKind::ServiceCap)) => false,
                Err(e) => panic!("create {i}: {e:?}"),
            }
        });
    }
    let created = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
    assert_eq!(created, CAP as usize, "creates past the cap");
    assert_eq!(count(&*s, id).await, CAP);
    assert_eq!(s.org_services(id).await.unwrap().len(), CAP as usize);
}

pub async fn service_grants_are_set_and_removed_and_go_with_their_service_or_membership<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let joined = join(&*s, id, &[Role::Member, Role::Member], 5).await;
    let (bob, bob_m) = &joined[0];
    let (carol, _) = &joined[1];
    let (app, api) = (service(id, "app", 1), service(id, "api", 2));
    s.commit(Changeset {
        services: vec![app.clone(), api.clone()],
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        service_grants: vec![
            grant(&app, bob.id(), Some(ServiceAccessLevel::Viewer)),
            grant(&api, bob.id(), Some(ServiceAccessLevel::Manager)),
            grant(&app, carol.id(), Some(ServiceAccessLevel::Manager)),
        ],
        ..cs()
    })
    .await
    .unwrap();
    let access = |list: Vec<org_domain::service::ServiceGrant>| {
        let mut v: Vec<(ServiceId, ServiceAccessLevel)> = list.into_iter().map(|g| (g.service_id, g.access)).collect();
        v.sort();
        v
    };
    let mut want = vec![
        (app.id(), ServiceAccessLevel::Viewer),
        (api.id(), ServiceAccessLevel::Manager),
    ];
    want.sort();
    assert_eq!(access(s.service_grants(id, bob.id()).await.unwrap()), want);
    s.commit(Changeset {
        service_grants: vec![
            grant(&app, bob.id(), Some(ServiceAccessLevel::Manager)),
            grant(&api, bob.id(), None),
        ],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        access(s.service_grants(id, bob.id()).await.unwrap()),
        vec![(app.id(), ServiceAccessLevel::Manager)],
        "set overwrites, null removes"
    );
    let gone = service(id, "gone", 3);
    assert_eq!(
        s.commit(Changeset {
            service_grants: vec![grant(&gone, bob.id(), Some(ServiceAccessLevel::Viewer))],
            ..cs()
        })
        .await,
        Err(StoreError::NotFound),
        "a grant on a service that does not exist"
    );
    s.commit(Changeset {
        removed_services: vec![app.clone().with_version(1)],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.service_grants(id, bob.id()).await.unwrap(),
        vec![],
        "grants go with their service"
    );
    assert_eq!(s.service_grants(id, carol.id()).await.unwrap(), vec![]);
    s.commit(Changeset {
        service_grants: vec![grant(&api, bob.id(), Some(ServiceAccessLevel::Viewer))],
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        removed_memberships: vec![bob_m.clone().with_version(1)],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.service_grants(id, bob.id()).await.unwrap(),
        vec![],
        "grants go with their membership"
    );
}

fn login_key(name: &str, byte: u8) -> LoginKey {
    LoginKey::restore(LoginKeyRecord {
        id: LoginKeyId::from_uuid(uuid()),
        name: name.to_owned(),
        prefix: "lk_abcdefgh".to_owned(),
        key_hash: TokenHash([byte; 32]),
        created_at: t(1),
        revoked_at: None,
        version: 0,
    })
}

pub async fn login_keys_are_found_by_hash_and_live_names_are_unique<S: Store>(s: Arc<S>) {
    let key = login_key("front-end", 7);
    assert_eq!(s.login_key_by_hash(&TokenHash([7; 32])).await, Ok(None));
    s.commit(Changeset {
        login_keys: vec![key.clone()],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.login_key_by_hash(&TokenHash([7; 32])).await.unwrap(),
        Some(key.clone().with_version(1))
    );
    assert_eq!(
        s.live_login_key("front-end").await.unwrap().map(|k| k.id()),
        Some(key.id())
    );
    assert_eq!(
        s.commit(Changeset {
            login_keys: vec![login_key("front-end", 8)],
            ..cs()
        })
        .await,
        Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::LoginKeyName))),
        "a live name is unique"
    );
    let mut revoked = key.clone().with_version(1);
    revoked.revoke(t(5)).unwrap();
    s.commit(Changeset {
        login_keys: vec![revoked.clone()],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.live_login_key("front-end").await.unwrap(),
        None,
        "revoked keys are not live"
    );
    let found = s.login_key_by_hash(&TokenHash([7; 32])).await.unwrap().unwrap();
    assert!(!found.is_live(), "a revoked key is still found by its hash, as revoked");
    assert_eq!(
        s.commit(Changeset {
            login_keys: vec![revoked],
            ..cs()
        })
        .await,
        Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        "a write at the old version"
    );
    s.commit(Changeset {
        login_keys: vec![login_key("front-end", 9)],
        ..cs()
    })
    .await
    .unwrap();
    assert!(
        s.live_login_key("front-end").await.unwrap().is_some(),
        "the name is free again"
    );
}
