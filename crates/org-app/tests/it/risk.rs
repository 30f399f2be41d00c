//! Risk settings (§16.1–§16.2): created with the org, partial updates validated as a whole
//! against the stored values, audit entries and webhook events in the same commit, the
//! active-org gate, concurrent updates that lose nothing; and the login-flow helpers (device
//! key, recording a scored login in a changeset).

use chrono::Duration;
use org_app::platform::Lifecycle;
use org_app::risk::{assess_login, device_key, record_login};
use org_domain::risk::{
    EnforcementMode, GeoPoint, LoginFacts, RiskAction, RiskEvent, RiskEventId, RiskFactor, RiskPolicy,
    RiskSettingsUpdate,
};
use org_domain::{Capability, DomainError, OrgStatus};
use org_ports::{AuditLog, Changeset, Clock, RiskEventQuery, RiskRepository, UnitOfWork};
use sha2::{Digest, Sha256};

use crate::support::{World, invalid_fields, meta, missing};

fn update(edit: impl FnOnce(&mut RiskSettingsUpdate)) -> RiskSettingsUpdate {
    let mut u = RiskSettingsUpdate::default();
    edit(&mut u);
    u
}

#[tokio::test]
async fn an_org_is_created_with_its_default_risk_settings_in_the_same_commit() {
    let w = World::new().await;
    let id = w.org_id("acme").await;
    let stored = w.store.risk_settings(id).await.unwrap().expect("created with the org");
    assert_eq!(*stored.policy(), RiskPolicy::DEFAULT);
    assert_eq!(stored.record().version, 1);
    let read = w.app.risk.settings(&w.owner, &meta(), "acme").await.unwrap();
    assert_eq!(read, stored);
}

#[tokio::test]
async fn a_partial_update_is_checked_against_the_stored_values_and_writes_nothing_when_refused() {
    let w = World::new().await;
    w.app
        .risk
        .update(&w.owner, &meta(), "acme", update(|u| u.medium_threshold = Some(50)))
        .await
        .unwrap();
    let cases: Vec<(&str, RiskSettingsUpdate, Vec<&str>)> = vec![
        (
            "low at the stored medium (50)",
            update(|u| u.low_threshold = Some(50)),
            vec!["low_threshold"],
        ),
        (
            "medium under the stored low (30)",
            update(|u| u.medium_threshold = Some(20)),
            vec!["medium_threshold"],
        ),
        (
            "every bad field at once",
            update(|u| {
                u.enforcement_mode = Some("deny".into());
                u.velocity_threshold = Some(10_001);
                u.new_device_score = Some(-5);
            }),
            vec!["enforcement_mode", "new_device_score", "velocity_threshold"],
        ),
    ];
    let before = w.acme_log().await.len();
    for (what, upd, fields) in cases {
        let err = w.app.risk.update(&w.owner, &meta(), "acme", upd).await.unwrap_err();
        assert_eq!(invalid_fields(&err), fields, "{what}");
    }
    assert_eq!(w.acme_log().await.len(), before, "no audit entry for a refused update");
    let stored = w.app.risk.settings(&w.owner, &meta(), "acme").await.unwrap();
    assert_eq!(
        *stored.policy(),
        RiskPolicy {
            medium_threshold: 50,
            ..RiskPolicy::DEFAULT
        }
    );
    // Moving both thresholds together is judged on the result.
    let moved = w
        .app
        .risk
        .update(
            &w.owner,
            &meta(),
            "acme",
            update(|u| {
                u.low_threshold = Some(60);
                u.medium_threshold = Some(90);
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        (moved.policy().low_threshold, moved.policy().medium_threshold),
        (60, 90)
    );
}

#[tokio::test]
async fn updates_and_resets_are_audited_with_their_webhook_event() {
    let w = World::new().await;
    w.app
        .risk
        .update(
            &w.owner,
            &meta(),
            "acme",
            update(|u| u.enforcement_mode = Some("monitor".into())),
        )
        .await
        .unwrap();
    w.app.risk.reset(&w.owner, &meta(), "acme").await.unwrap();
    w.app.risk.reset(&w.owner, &meta(), "acme").await.unwrap();
    let id = w.org_id("acme").await;
    let entries = w.entries(AuditLog::Org(id)).await;
    let risk: Vec<_> = entries
        .iter()
        .filter(|e| e.entry.action.starts_with("risk_settings."))
        .collect();
    let actions: Vec<&str> = risk.iter().map(|e| e.entry.action.as_str()).collect();
    assert_eq!(
        actions,
        ["risk_settings.updated", "risk_settings.reset"],
        "in commit order; a reset of the defaults writes nothing"
    );
    assert_eq!(
        risk[0].entry.metadata,
        Some(serde_json::json!({"changes": {"enforcement_mode": {"old": "log_only", "new": "monitor"}}}))
    );
    assert_eq!(risk[1].entry.metadata, None, "the reset records no metadata (§23.1)");
    assert_eq!(risk[1].entry.target_type.as_deref(), Some("risk_settings"));
    let events: Vec<_> = w
        .org_events("acme")
        .await
        .into_iter()
        .filter(|e| e.event_type == "risk_settings.updated")
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].data["reset"], true);
    assert_eq!(
        events[1].data["changes"]["enforcement_mode"],
        serde_json::json!({"old": "monitor", "new": "log_only"})
    );
}

#[tokio::test]
async fn only_risk_managers_write_and_a_suspended_org_is_read_only() {
    let w = World::new().await;
    let upd = || update(|u| u.low_threshold = Some(10));
    assert_eq!(
        w.app.risk.update(&w.member, &meta(), "acme", upd()).await.unwrap_err(),
        missing(Capability::RiskPoliciesManage)
    );
    assert_eq!(
        w.app.risk.settings(&w.member, &meta(), "acme").await.unwrap_err(),
        missing(Capability::RiskEventsView)
    );
    let suspend = Lifecycle::Suspend { reason: None };
    w.app
        .platform
        .lifecycle(&w.platform, &meta(), "acme", suspend)
        .await
        .unwrap();
    assert!(matches!(
        w.app.risk.update(&w.owner, &meta(), "acme", upd()).await,
        Err(org_app::AppError::Domain(DomainError::OrgNotActive(
            OrgStatus::Suspended
        )))
    ));
    assert!(
        w.app.risk.settings(&w.owner, &meta(), "acme").await.is_ok(),
        "reads still work"
    );
    assert!(
        w.app.risk.update(&w.platform, &meta(), "acme", upd()).await.is_ok(),
        "platform owners are exempt from the gate"
    );
}

#[tokio::test]
async fn concurrent_updates_of_different_fields_both_land() {
    let w = World::new().await;
    let other = w.sibling();
    let (m1, m2) = (meta(), meta());
    let (a, b) = tokio::join!(
        w.app
            .risk
            .update(&w.owner, &m1, "acme", update(|u| u.new_device_score = Some(5))),
        other
            .risk
            .update(&w.owner, &m2, "acme", update(|u| u.velocity_score = Some(7))),
    );
    a.unwrap();
    b.unwrap();
    let p = *w.app.risk.settings(&w.owner, &meta(), "acme").await.unwrap().policy();
    assert_eq!((p.new_device_score, p.velocity_score), (5, 7));
}

#[tokio::test]
async fn a_scored_login_is_recorded_through_a_changeset_and_listed() {
    let w = World::new().await;
    let id = w.org_id("acme").await;
    let policy = RiskPolicy {
        enforcement_mode: EnforcementMode::Block,
        ..RiskPolicy::DEFAULT
    };
    let at = w.clock.now();
    let earlier = org_domain::risk::PastLogin {
        at: at - Duration::minutes(10),
        success: true,
        device_key: device_key(Some("laptop"), None),
        geo: GeoPoint::new(48.8566, 2.3522),
    };
    let login = LoginFacts {
        at,
        has_user: true,
        device_key: device_key(None, Some("Mozilla/5.0")),
        geo: GeoPoint::new(-33.8688, 151.2093),
    };
    let a = assess_login(&login, &[earlier], &policy);
    assert_eq!(a.factors, [RiskFactor::NewDevice, RiskFactor::ImpossibleTravel]);
    assert_eq!((a.score, a.action, a.flagged), (70, RiskAction::Block, true));
    let key = device_key(None, Some("Mozilla/5.0")).unwrap();
    let hex: String = Sha256::digest(b"Mozilla/5.0")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        key.as_str(),
        format!("ua:{hex}"),
        "a user-agent key is its SHA-256, hex"
    );
    assert_eq!(
        device_key(Some("laptop"), Some("Mozilla/5.0")).unwrap().as_str(),
        "id:laptop"
    );
    let mut c = Changeset::default();
    record_login(
        &mut c,
        RiskEvent {
            id: RiskEventId::from_uuid(uuid::Uuid::from_u128(7)),
            org_id: id,
            user_id: Some(w.owner.user.id()),
            user_email: w.owner.user.email().as_str().to_owned(),
            service_id: None,
            created_at: at,
            success: true,
            risk_score: a.score,
            risk_factors: a.factors.clone(),
            risk_action: a.action,
            geo_country: Some("AU".into()),
            geo_city: Some("Sydney".into()),
            geo_lat: Some(-33.8688),
            geo_long: Some(151.2093),
            ip_address: None,
            user_agent: Some("Mozilla/5.0".into()),
            device_key: Some(key),
            provider: "password".into(),
            failure_reason: None,
        },
    );
    w.store.commit(c).await.unwrap();
    let query = RiskEventQuery {
        min_score: 70,
        before: None,
        offset: 0,
        limit: 10,
    };
    let page = w.app.risk.events(&w.owner, &meta(), "acme", &query).await.unwrap();
    assert_eq!(page.org_id, id);
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].as_past_login().geo, GeoPoint::new(-33.8688, 151.2093));
}
