//! Login reports (§19.5), end users (§19.3–§19.4) and the MAU cap (§22.3) through the use
//! cases: what a report commits (user, identity, login record, session, webhooks, audit), what
//! it refuses, and the MAU refusal that commits only the attempt.

use org_app::AppError;
use org_app::logins::LoginReporter;
use org_app::platform::PlatformPatch;
use org_domain::FeatureOverrides;
use org_domain::login::{LoginDecision, RawLoginReport};
use org_domain::service::ServiceDraft;
use org_domain::{DomainError, Email};
use org_ports::{ActorType, AuditLog};

use crate::support::{World, invalid_fields, meta, not_found};

fn report(email: &str, service: Option<&str>) -> RawLoginReport {
    RawLoginReport {
        email: email.into(),
        org_slug: Some("acme".into()),
        service_slug: service.map(str::to_owned),
        provider: "github".into(),
        ..RawLoginReport::default()
    }
}

async fn world_with_shop() -> (World, LoginReporter) {
    let w = World::new().await;
    let draft = ServiceDraft {
        slug: "shop".into(),
        name: "Shop".into(),
        ..ServiceDraft::default()
    };
    w.app.services.create(&w.owner, &meta(), "acme", draft).await.unwrap();
    let key = w.app.login_keys.issue("front").await.unwrap();
    let caller = w.app.login_keys.authenticate(&key.key).await.unwrap();
    (w, LoginReporter::Key(caller))
}

#[tokio::test]
async fn a_service_login_creates_the_user_the_end_user_and_a_service_session_in_one_commit() {
    let (w, key) = world_with_shop().await;
    let out = w
        .app
        .logins
        .report(&key, &meta(), report("New@Shop.test", Some("shop")))
        .await
        .unwrap();
    assert_eq!(out.decision, LoginDecision::Allow);
    let user = out.user.expect("created");
    assert_eq!(user.email().as_str(), "new@shop.test");
    let session = out.session.expect("a session");
    assert_eq!(session.session.kind, org_domain::SessionKind::Service);
    assert!(session.session.service_id.is_some());
    assert_eq!(session.audience(), "service:acme/shop");
    let created = w.filtered(AuditLog::Platform, "user.created").await.items;
    let entry = created
        .iter()
        .find(|e| e.entry.metadata.as_ref().is_some_and(|m| m["email"] == "new@shop.test"));
    let entry = entry.expect("platform audit user.created");
    assert_eq!(entry.entry.actor.kind, ActorType::LoginKey);
    assert_eq!(entry.entry.metadata.as_ref().unwrap()["via"], "login");
    let types = w.event_types("acme").await;
    for t in ["user.signup.success", "user.login.success"] {
        assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
    }
    // The user is now an end user of acme, with the identity.
    let detail = w
        .app
        .end_users
        .detail(&w.owner, &meta(), "acme", &user.id().to_string())
        .await
        .unwrap();
    assert_eq!(detail.identities.len(), 1);
    assert_eq!(detail.sessions.len(), 1);
    assert_eq!(detail.recent_logins.len(), 1);
    // Revoking their end-user sessions; the owner's org sessions are not touched.
    let n = w
        .app
        .end_users
        .revoke_sessions(&w.owner, &meta(), "acme", &user.id().to_string())
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        w.filtered(AuditLog::Org(w.org_id("acme").await), "end_user.sessions_revoked")
            .await
            .items
            .len(),
        1
    );
    let again = w
        .app
        .end_users
        .revoke_sessions(&w.owner, &meta(), "acme", &user.id().to_string())
        .await
        .unwrap();
    assert_eq!(again, 0, "nothing left; no entry");
    // A member who is not an end user → 404 "End-user not found".
    let e = w
        .app
        .end_users
        .detail(&w.owner, &meta(), "acme", &w.member.user.id().to_string())
        .await
        .unwrap_err();
    assert_eq!(e, AppError::Domain(DomainError::EndUserNotFound));
}

#[tokio::test]
async fn reports_are_refused_field_by_field_and_by_who_reports() {
    let (w, key) = world_with_shop().await;
    let bad = RawLoginReport {
        email: "x".into(),
        provider: "".into(),
        ip_address: Some("999.1.1.1".into()),
        ..report("x", Some("shop"))
    };
    let e = w.app.logins.report(&key, &meta(), bad).await.unwrap_err();
    assert_eq!(invalid_fields(&e), ["email", "provider", "ip_address"]);
    // Not a platform owner → 403; a platform owner may report.
    let e = w
        .app
        .logins
        .report(
            &LoginReporter::Owner(Box::new(w.member.clone())),
            &meta(),
            report("a@b.test", None),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Domain(DomainError::LoginForbidden(_))), "{e:?}");
    let admin_login = RawLoginReport {
        provider: "password".into(),
        ..report("member@acme.test", None)
    };
    let out = w
        .app
        .logins
        .report(
            &LoginReporter::Owner(Box::new(w.platform.clone())),
            &meta(),
            admin_login,
        )
        .await
        .unwrap();
    assert_eq!(out.session.expect("an org session").audience(), "org:acme");
    // An admin login of a non-member → 403; an unknown service → 404.
    let e = w
        .app
        .logins
        .report(&key, &meta(), report("stranger@other.test", None))
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Domain(DomainError::LoginForbidden(_))), "{e:?}");
    let e = w
        .app
        .logins
        .report(&key, &meta(), report("a@b.test", Some("nope")))
        .await
        .unwrap_err();
    assert_eq!(e, not_found());
    // A failed attempt of an unknown e-mail creates no user and no session.
    let failed = RawLoginReport {
        success: Some(false),
        ..report("ghost@shop.test", Some("shop"))
    };
    let out = w.app.logins.report(&key, &meta(), failed).await.unwrap();
    assert_eq!(
        (out.decision, out.user.is_none(), out.session.is_none()),
        (LoginDecision::Failed, true, true)
    );
    let ghost = Email::parse("ghost@shop.test").unwrap();
    assert_eq!(w.app.stores().users.user_by_email(&ghost).await, Ok(None));
}

#[tokio::test]
async fn the_mau_cap_refuses_a_new_user_and_commits_only_the_attempt() {
    let (w, key) = world_with_shop().await;
    let patch = PlatformPatch {
        tier_id: None,
        max_services: None,
        max_users: None,
        feature_overrides: Some(Some(FeatureOverrides {
            max_mau: Some(2),
            ..FeatureOverrides::default()
        })),
    };
    w.app
        .platform
        .patch_org(&w.platform, &meta(), "acme", patch)
        .await
        .unwrap();
    for who in ["a@shop.test", "b@shop.test"] {
        w.app
            .logins
            .report(&key, &meta(), report(who, Some("shop")))
            .await
            .unwrap();
    }
    let before = w.org_events("acme").await.len();
    let e = w
        .app
        .logins
        .report(&key, &meta(), report("c@shop.test", Some("shop")))
        .await
        .unwrap_err();
    assert_eq!(e, AppError::Domain(DomainError::MauLimitExceeded(2)));
    let c = Email::parse("c@shop.test").unwrap();
    assert_eq!(
        w.app.stores().users.user_by_email(&c).await,
        Ok(None),
        "no user created"
    );
    let events = w.org_events("acme").await;
    let new: Vec<&str> = events[before..].iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(new, ["user.login.failed"]);
    assert_eq!(events.last().unwrap().data["failure_reason"], "mau_limit");
    // An active user still logs in.
    let out = w
        .app
        .logins
        .report(&key, &meta(), report("a@shop.test", Some("shop")))
        .await
        .unwrap();
    assert_eq!(out.decision, LoginDecision::Allow);
}
