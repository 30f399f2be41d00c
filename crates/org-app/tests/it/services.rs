//! Services (§19.2), member service access (§5.4, §5.5), `service_count` and the service cap
//! (§22.3), and login keys (§19.5) through the use cases: what each commits (state, audit,
//! events), what it refuses, and the cap under concurrent creates.

use org_app::platform::PlatformPatch;
use org_app::{AppConfig, AppError, ServiceAccessChange};
use org_domain::service::{ServiceAccessLevel, ServiceDraft, ServiceUpdate};
use org_domain::{Capability, DomainError, Rule};
use org_ports::AuditLog;
use serde_json::json;

use crate::support::{World, meta, missing, not_found, rule};

fn draft(slug: &str) -> ServiceDraft {
    ServiceDraft {
        slug: slug.into(),
        name: format!("Service {slug}"),
        ..ServiceDraft::default()
    }
}

async fn cap(w: &World, n: u32) {
    let patch = PlatformPatch {
        tier_id: None,
        max_services: Some(Some(n)),
        max_users: None,
        feature_overrides: None,
    };
    w.app
        .platform
        .patch_org(&w.platform, &meta(), "acme", patch)
        .await
        .unwrap();
}

fn viewer(slug: &str) -> ServiceAccessChange {
    ServiceAccessChange {
        service_slug: slug.into(),
        access: Some(ServiceAccessLevel::Viewer),
    }
}

#[tokio::test]
async fn service_writes_commit_their_audit_entries_and_events_and_no_op_updates_write_nothing() {
    let w = World::new().await;
    let org = w.org_id("acme").await;
    let svc = w
        .app
        .services
        .create(&w.owner, &meta(), "acme", draft("app"))
        .await
        .unwrap();
    let created = w.filtered(AuditLog::Org(org), "service.created").await.items;
    assert_eq!(
        created[0].entry.metadata,
        Some(json!({"slug": "app", "name": "Service app"}))
    );
    assert_eq!(created[0].entry.target_id, Some(svc.id().to_string()));
    let event = w.org_events("acme").await.pop().unwrap();
    assert_eq!(
        (event.event_type.as_str(), event.data),
        (
            "service.created",
            json!({"service_id": svc.id().to_string(), "slug": "app", "name": "Service app"})
        )
    );
    let same = ServiceUpdate {
        name: Some("Service app".into()),
        ..ServiceUpdate::default()
    };
    let log_before = w.acme_log().await.len();
    w.app
        .services
        .update(&w.admin, &meta(), "acme", "app", same)
        .await
        .unwrap();
    assert_eq!(w.acme_log().await.len(), log_before, "no change, no entry");
    let rename = ServiceUpdate {
        name: Some("Portal".into()),
        description: Some(Some("About".into())),
        ..ServiceUpdate::default()
    };
    let renamed = w
        .app
        .services
        .update(&w.admin, &meta(), "acme", "app", rename)
        .await
        .unwrap();
    assert_eq!((renamed.name(), renamed.record().version), ("Portal", 2));
    let updated = w.filtered(AuditLog::Org(org), "service.updated").await.items;
    assert_eq!(
        updated[0].entry.metadata,
        Some(json!({"changes": {"name": {"old": "Service app", "new": "Portal"},
                                "description": {"old": null, "new": "About"}}}))
    );
    w.app.services.delete(&w.owner, &meta(), "acme", "app").await.unwrap();
    assert_eq!(
        w.event_types("acme").await[w.event_types("acme").await.len() - 3..],
        ["service.created", "service.updated", "service.deleted"]
    );
    assert_eq!(
        w.app.services.get(&w.owner, &meta(), "acme", "app").await.unwrap_err(),
        not_found()
    );
}

#[tokio::test]
async fn services_need_their_capabilities_and_a_members_refusal_is_audited() {
    let w = World::new().await;
    let org = w.org_id("acme").await;
    let cases: Vec<(&str, AppError)> = vec![
        ("create", missing(Capability::ServicesCreate)),
        ("list", missing(Capability::ServicesView)),
    ];
    for (what, want) in cases {
        let got = match what {
            "create" => w
                .app
                .services
                .create(&w.member, &meta(), "acme", draft("app"))
                .await
                .map(drop),
            _ => w
                .app
                .services
                .list(&w.member, &meta(), "acme", org_ports::PageRequest::new(1, 50))
                .await
                .map(drop),
        };
        assert_eq!(got.unwrap_err(), want, "{what}");
    }
    assert_eq!(
        w.filtered(AuditLog::Org(org), "authorization.denied").await.items.len(),
        2
    );
    assert_eq!(
        w.app
            .services
            .create(&w.stranger, &meta(), "acme", draft("app"))
            .await
            .unwrap_err(),
        not_found(),
        "an outsider learns nothing"
    );
    let svc = w
        .app
        .services
        .create(&w.platform, &meta(), "acme", draft("app"))
        .await
        .unwrap();
    assert_eq!(svc.slug().as_str(), "app", "a platform owner acts as the owner");
    let entry = &w.filtered(AuditLog::Org(org), "service.created").await.items[0];
    assert_eq!(entry.entry.metadata.as_ref().unwrap()["via_platform_owner"], true);
}

#[tokio::test]
async fn the_cap_refuses_creates_once_reached_and_service_count_shows_in_every_org_view() {
    let w = World::new().await;
    cap(&w, 2).await;
    for slug in ["one", "two"] {
        w.app
            .services
            .create(&w.owner, &meta(), "acme", draft(slug))
            .await
            .unwrap();
    }
    assert_eq!(
        w.app
            .services
            .create(&w.owner, &meta(), "acme", draft("three"))
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::ServiceLimitExceeded(2))
    );
    assert_eq!(
        w.app
            .services
            .create(&w.owner, &meta(), "acme", draft("one"))
            .await
            .unwrap_err(),
        AppError::Domain(DomainError::ServiceLimitExceeded(2)),
        "the cap comes before the slug"
    );
    assert_eq!(w.app.orgs.get(&w.owner, "acme").await.unwrap().service_count, 2);
    let mine = w
        .app
        .orgs
        .list_mine(&w.owner, None, org_ports::PageRequest::new(1, 20))
        .await
        .unwrap();
    assert_eq!(mine[0].view.service_count, 2);
    assert_eq!(
        w.app.platform.get_org(&w.platform, "acme").await.unwrap().service_count,
        2
    );
    assert_eq!(
        w.app
            .platform
            .get_org(&w.platform, "other")
            .await
            .unwrap()
            .service_count,
        0
    );
    w.app.services.delete(&w.owner, &meta(), "acme", "one").await.unwrap();
    w.app
        .services
        .create(&w.owner, &meta(), "acme", draft("three"))
        .await
        .unwrap();
    let page = w
        .app
        .services
        .list(&w.admin, &meta(), "acme", org_ports::PageRequest::new(1, 50))
        .await
        .unwrap();
    let slugs: Vec<&str> = page.items.iter().map(|s| s.slug().as_str()).collect();
    assert_eq!((slugs, page.total), (vec!["two", "three"], Some(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_at_the_cap_never_exceed_it() {
    let w = World::with(AppConfig {
        max_attempts: 1_000,
        ..AppConfig::default()
    })
    .await;
    cap(&w, 3).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (app, owner) = (w.app.clone(), w.owner.clone());
        tasks.push(tokio::spawn(async move {
            app.services
                .create(&owner, &meta(), "acme", draft(&format!("s{i}")))
                .await
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => created += 1,
            Err(AppError::Domain(DomainError::ServiceLimitExceeded(3))) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(created, 3);
    assert_eq!(w.app.orgs.get(&w.owner, "acme").await.unwrap().service_count, 3);
}

#[tokio::test]
async fn service_access_is_set_partially_checked_by_the_target_rule_and_goes_with_the_member() {
    let w = World::new().await;
    let org = w.org_id("acme").await;
    for slug in ["app", "api"] {
        w.app
            .services
            .create(&w.owner, &meta(), "acme", draft(slug))
            .await
            .unwrap();
    }
    let member = w.member.user.id().to_string();
    let list = w
        .app
        .members
        .update_service_access(&w.admin, &meta(), "acme", &member, &[viewer("app")])
        .await
        .unwrap();
    let access: Vec<(&str, Option<&str>)> = list
        .iter()
        .map(|a| (a.service_slug.as_str(), a.access.as_deref()))
        .collect();
    assert_eq!(access, [("app", Some("viewer")), ("api", None)]);
    let entry = &w
        .filtered(AuditLog::Org(org), "member.service_access_updated")
        .await
        .items[0];
    assert_eq!(
        entry.entry.metadata,
        Some(json!({"target_user_id": member, "grants": [{"service_slug": "app", "access": "viewer"}]}))
    );
    assert_eq!(
        w.app
            .members
            .service_access(&w.owner, &meta(), "acme", &member)
            .await
            .unwrap(),
        list,
        "GET answers what PUT set"
    );
    let before = w.acme_log().await.len();
    w.app
        .members
        .update_service_access(&w.admin, &meta(), "acme", &member, &[viewer("app")])
        .await
        .unwrap();
    assert_eq!(w.acme_log().await.len(), before, "the same access writes nothing");
    let owner_id = w.owner.user.id().to_string();
    let admin_id = w.admin.user.id().to_string();
    let stranger_id = w.stranger.user.id().to_string();
    let cases: Vec<(&str, &org_app::Caller, &str, Vec<ServiceAccessChange>, AppError)> = vec![
        ("unknown service", &w.admin, &member, vec![viewer("nope")], not_found()),
        (
            "a malformed slug is unknown",
            &w.admin,
            &member,
            vec![viewer("NOPE!")],
            not_found(),
        ),
        ("not a member", &w.admin, &stranger_id, vec![viewer("app")], not_found()),
        (
            "the owner",
            &w.admin,
            &owner_id,
            vec![viewer("app")],
            rule(Rule::TargetIsOwner),
        ),
        (
            "an admin by an admin",
            &w.admin,
            &admin_id,
            vec![viewer("app")],
            rule(Rule::TargetIsAdmin),
        ),
        (
            "a member",
            &w.member,
            &member,
            vec![viewer("app")],
            missing(Capability::OrgMembersManage),
        ),
    ];
    for (what, caller, target, grants, want) in cases {
        let got = w
            .app
            .members
            .update_service_access(caller, &meta(), "acme", target, &grants)
            .await
            .unwrap_err();
        assert_eq!(got, want, "{what}");
    }
    w.app.members.remove(&w.owner, &meta(), "acme", &member).await.unwrap();
    assert_eq!(
        w.app
            .stores()
            .services
            .service_grants(org, w.member.user.id())
            .await
            .unwrap(),
        vec![],
        "a removed member's grants go with the membership"
    );
    assert_eq!(
        w.app
            .members
            .service_access(&w.owner, &meta(), "acme", &member)
            .await
            .unwrap_err(),
        not_found()
    );
}

#[tokio::test]
async fn a_login_key_authenticates_until_it_is_revoked_and_names_are_unique_among_live_keys() {
    let w = World::new().await;
    let issued = w.app.login_keys.issue("front-end").await.unwrap();
    assert!(issued.key.starts_with("lk_") && issued.key.len() == 46);
    let caller = w.app.login_keys.authenticate(&issued.key).await.unwrap();
    assert_eq!((caller.id, caller.name.as_str()), (issued.id, "front-end"));
    let unauthorized = |e: AppError| matches!(e, AppError::Unauthorized(_));
    for bad in ["", "lk_", "rt_abc", &issued.key[..45], &format!("{}x", issued.key)] {
        assert!(
            unauthorized(w.app.login_keys.authenticate(bad).await.unwrap_err()),
            "{bad:?}"
        );
    }
    assert!(matches!(
        w.app.login_keys.issue("front-end").await.unwrap_err(),
        AppError::Duplicate(_)
    ));
    w.app.login_keys.revoke("front-end").await.unwrap();
    assert!(unauthorized(
        w.app.login_keys.authenticate(&issued.key).await.unwrap_err()
    ));
    assert_eq!(w.app.login_keys.revoke("front-end").await.unwrap_err(), not_found());
    let again = w.app.login_keys.issue("front-end").await.unwrap();
    assert_ne!(again.key, issued.key);
    let log = w.filtered(AuditLog::Platform, "login_key.issued").await.items;
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[0].entry.metadata,
        Some(json!({"name": "front-end", "via_cli": true}))
    );
    assert_eq!(log[0].entry.actor.kind, org_ports::ActorType::System);
}
