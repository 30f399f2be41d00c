//! §16 over the router: risk settings (defaults, partial update validated as a whole, reset,
//! audit and webhook events, capabilities) and the risk-events list (0-based pages,
//! `min_score`, cursors in `X-Next-Cursor` and `Link`, bad parameters).

use chrono::Duration;
use org_domain::risk::{RiskAction, RiskEvent, RiskEventId, RiskFactor};
use org_domain::{OrgId, Slug};
use org_ports::{Changeset, OrgRepository, OutboxRepository, UnitOfWork};
use serde_json::{Value, json};

use crate::support::TestApp;

const SETTINGS: &str = "/api/organizations/acme/risk-settings";
const EVENTS: &str = "/api/organizations/acme/risk-events";

async fn org_id(t: &TestApp, slug: &str) -> OrgId {
    t.store
        .org_by_slug(&Slug::parse(slug).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id()
}

fn defaults() -> Value {
    json!({
        "enforcement_mode": "log_only", "low_threshold": 30, "medium_threshold": 70,
        "new_device_score": 20, "impossible_travel_score": 50, "velocity_threshold": 10, "velocity_score": 30,
    })
}

/// The writable fields of a settings body (without `updated_at`).
fn writable(body: &Value) -> Value {
    let mut v = body.clone();
    v.as_object_mut().unwrap().remove("updated_at");
    v
}

async fn audit_actions(t: &TestApp) -> Vec<(String, Value)> {
    let res = t
        .get("/api/organizations/acme/audit-log?limit=100", &t.owner.token)
        .await;
    res.expect(200, "");
    res.body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("risk_settings."))
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["metadata"].clone()))
        .collect()
}

async fn risk_webhook_data(t: &TestApp) -> Vec<Value> {
    let id = org_id(t, "acme").await;
    t.store
        .org_events(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "risk_settings.updated")
        .map(|e| e.data)
        .collect()
}

#[tokio::test]
async fn a_new_org_has_the_default_risk_settings() {
    let t = TestApp::new().await;
    let res = t.get(SETTINGS, &t.owner.token).await;
    res.expect(200, "");
    assert_eq!(writable(&res.body), defaults());
    assert!(res.body["updated_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn a_partial_update_is_merged_audited_and_emitted_in_one_commit() {
    let t = TestApp::new().await;
    let res = t
        .put(
            SETTINGS,
            &t.owner.token,
            json!({"enforcement_mode": "block", "low_threshold": 40}),
        )
        .await;
    res.expect(200, "");
    assert_eq!(res.body["message"], "Risk settings updated");
    let mut want = defaults();
    want["enforcement_mode"] = json!("block");
    want["low_threshold"] = json!(40);
    assert_eq!(writable(&res.body["settings"]), want);
    assert_eq!(writable(&t.get(SETTINGS, &t.owner.token).await.body), want, "stored");
    let changes =
        json!({"enforcement_mode": {"old": "log_only", "new": "block"}, "low_threshold": {"old": 30, "new": 40}});
    assert_eq!(
        audit_actions(&t).await,
        [("risk_settings.updated".to_owned(), json!({"changes": changes}))]
    );
    assert_eq!(risk_webhook_data(&t).await, [json!({"changes": changes})]);
    // The same values again change nothing: no entry, no event.
    t.put(SETTINGS, &t.owner.token, json!({"low_threshold": 40}))
        .await
        .expect(200, "");
    assert_eq!(audit_actions(&t).await.len(), 1);
    assert_eq!(risk_webhook_data(&t).await.len(), 1);
}

#[tokio::test]
async fn an_invalid_update_is_a_400_naming_the_field_and_writes_nothing() {
    let t = TestApp::new().await;
    let cases = [
        (
            "low above the stored medium",
            json!({"low_threshold": 80}),
            "low_threshold",
        ),
        (
            "medium under the stored low",
            json!({"medium_threshold": 10}),
            "medium_threshold",
        ),
        ("a score over 100", json!({"new_device_score": 101}), "new_device_score"),
        ("a negative score", json!({"velocity_score": -1}), "velocity_score"),
        (
            "velocity threshold 0",
            json!({"velocity_threshold": 0}),
            "velocity_threshold",
        ),
        (
            "velocity threshold over 10 000",
            json!({"velocity_threshold": 10_001}),
            "velocity_threshold",
        ),
        (
            "an unknown mode",
            json!({"enforcement_mode": "strict"}),
            "enforcement_mode",
        ),
        (
            "null for a non-nullable field",
            json!({"low_threshold": null}),
            "low_threshold",
        ),
        (
            "a string for an integer",
            json!({"impossible_travel_score": "50"}),
            "impossible_travel_score",
        ),
        ("a fraction", json!({"low_threshold": 10.5}), "low_threshold"),
        ("an unknown member", json!({"org_id": "x"}), "org_id"),
        (
            "a valid field next to an invalid one",
            json!({"enforcement_mode": "block", "medium_threshold": 200}),
            "medium_threshold",
        ),
    ];
    for (what, body, field) in cases {
        let res = t.put(SETTINGS, &t.owner.token, body).await;
        res.expect(400, "VALIDATION_FAILED");
        let fields: Vec<&str> = res.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{what}");
    }
    assert_eq!(
        writable(&t.get(SETTINGS, &t.owner.token).await.body),
        defaults(),
        "nothing written"
    );
    assert!(audit_actions(&t).await.is_empty());
    assert!(risk_webhook_data(&t).await.is_empty());
}

#[tokio::test]
async fn reset_restores_the_defaults_with_its_own_audit_entry() {
    let t = TestApp::new().await;
    t.put(
        SETTINGS,
        &t.owner.token,
        json!({"velocity_threshold": 3, "velocity_score": 60}),
    )
    .await
    .expect(200, "");
    let res = t.post(&format!("{SETTINGS}/reset"), &t.owner.token, None).await;
    res.expect(200, "");
    assert_eq!(res.body["message"], "Risk settings reset to defaults");
    assert_eq!(writable(&res.body["settings"]), defaults());
    assert_eq!(writable(&t.get(SETTINGS, &t.owner.token).await.body), defaults());
    let actions: Vec<String> = audit_actions(&t).await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        actions,
        ["risk_settings.reset", "risk_settings.updated"],
        "newest first"
    );
    let data = risk_webhook_data(&t).await;
    assert_eq!(
        data[1],
        json!({"changes": {"velocity_threshold": {"old": 3, "new": 10}, "velocity_score": {"old": 60, "new": 30}}, "reset": true})
    );
    // Resetting the defaults changes nothing.
    t.post(&format!("{SETTINGS}/reset"), &t.owner.token, None)
        .await
        .expect(200, "");
    assert_eq!(audit_actions(&t).await.len(), 2);
}

#[tokio::test]
async fn risk_routes_need_their_capabilities() {
    let t = TestApp::new().await;
    for (who, token) in [("member", &t.member.token), ("auditor", &t.auditor.token)] {
        for res in [
            t.get(SETTINGS, token).await,
            t.get(EVENTS, token).await,
            t.put(SETTINGS, token, json!({"low_threshold": 10})).await,
            t.post(&format!("{SETTINGS}/reset"), token, None).await,
        ] {
            res.expect(403, "FORBIDDEN");
            assert!(
                res.body["detail"].as_str().unwrap().contains("risk_"),
                "{who}: {}",
                res.body
            );
        }
    }
    t.get(SETTINGS, &t.stranger.token).await.expect(404, "NOT_FOUND");
    t.get(SETTINGS, &t.admin.token).await.expect(200, "");
    t.get(SETTINGS, &t.platform.token).await.expect(200, "");
}

/// Stores `n` scored logins of `org`, one a minute, scores cycling 0, 25, 50, 75, 100.
async fn seed_events(t: &TestApp, org: OrgId, n: i64) -> Vec<RiskEvent> {
    let start = t.now() - Duration::hours(2);
    let events: Vec<RiskEvent> = (0..n)
        .map(|i| {
            let score = u8::try_from((i % 5) * 25).unwrap();
            RiskEvent {
                id: RiskEventId::from_uuid(uuid::Uuid::from_u128(
                    org.as_uuid().as_u128().wrapping_add(1 + i as u128),
                )),
                org_id: org,
                user_id: None,
                user_email: format!("u{i}@acme.test"),
                service_id: None,
                created_at: start + Duration::minutes(i),
                success: false,
                risk_score: score,
                risk_factors: if score > 0 {
                    vec![RiskFactor::Velocity]
                } else {
                    Vec::new()
                },
                risk_action: RiskAction::Allow,
                geo_country: Some("FR".into()),
                geo_city: None,
                geo_lat: Some(48.85),
                geo_long: None,
                ip_address: Some("203.0.113.4".into()),
                user_agent: None,
                device_key: None,
                provider: "password".into(),
                failure_reason: Some("bad_password".into()),
            }
        })
        .collect();
    t.store
        .commit(Changeset {
            risk_events: events.clone(),
            ..Changeset::default()
        })
        .await
        .unwrap();
    events
}

fn emails(res: &crate::support::Resp) -> Vec<String> {
    res.body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["user_email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn risk_events_page_from_zero_filter_by_score_and_follow_cursors() {
    let t = TestApp::new().await;
    let res = t.get(EVENTS, &t.owner.token).await;
    res.expect(200, "");
    assert_eq!(res.body, json!([]), "an org without logins has an empty page");
    assert!(res.headers.get("x-next-cursor").is_none());

    let acme = org_id(&t, "acme").await;
    seed_events(&t, acme, 12).await;
    seed_events(&t, org_id(&t, "other").await, 3).await;
    let first = t.get(&format!("{EVENTS}?limit=5"), &t.owner.token).await;
    first.expect(200, "");
    assert_eq!(
        emails(&first),
        [
            "u11@acme.test",
            "u10@acme.test",
            "u9@acme.test",
            "u8@acme.test",
            "u7@acme.test"
        ]
    );
    let e = &first.body[0];
    assert_eq!(e["risk_score"], 25);
    assert_eq!(e["risk_factors"], json!(["velocity"]));
    assert_eq!(e["risk_action"], "allow");
    assert_eq!(
        (e["user_id"].clone(), e["geo_lat"].clone(), e["geo_long"].clone()),
        (Value::Null, json!(48.85), Value::Null)
    );
    // page is 0-based: page=1 is the second page.
    let second = t.get(&format!("{EVENTS}?limit=5&page=1"), &t.owner.token).await;
    assert_eq!(
        emails(&second),
        [
            "u6@acme.test",
            "u5@acme.test",
            "u4@acme.test",
            "u3@acme.test",
            "u2@acme.test"
        ]
    );
    // min_score keeps scores ≥ it: 75 and 100 are u3, u4, u8, u9.
    let high = t.get(&format!("{EVENTS}?min_score=75"), &t.owner.token).await;
    assert_eq!(
        emails(&high),
        ["u9@acme.test", "u8@acme.test", "u4@acme.test", "u3@acme.test"]
    );

    // Cursors: walk min_score ≥ 25 two at a time.
    let mut seen = Vec::new();
    let mut url = format!("{EVENTS}?limit=2&min_score=25");
    loop {
        let res = t.get(&url, &t.owner.token).await;
        res.expect(200, "");
        seen.extend(emails(&res));
        let Some(next) = res.headers.get("x-next-cursor") else {
            assert!(res.headers.get("link").is_none());
            break;
        };
        let next = next.to_str().unwrap().to_owned();
        let link = res.header("link").to_owned();
        assert!(
            link.contains(&format!("cursor={next}")) && link.ends_with("rel=\"next\""),
            "{link}"
        );
        url = format!("{EVENTS}?limit=2&min_score=25&cursor={next}&page=7");
    }
    assert_eq!(
        seen,
        ["u11", "u9", "u8", "u7", "u6", "u4", "u3", "u2", "u1"].map(|u| format!("{u}@acme.test")),
        "every event with a score ≥ 25, once, newest first (page ignored with a cursor)"
    );

    // A cursor is bound to its filter and its org.
    let cursor = first.header("x-next-cursor").to_owned();
    let res = t
        .get(&format!("{EVENTS}?cursor={cursor}&min_score=50"), &t.owner.token)
        .await;
    res.expect(400, "VALIDATION_FAILED");
    assert_eq!(res.body["errors"][0]["field"], "cursor");
    let res = t
        .get(
            &format!("/api/organizations/other/risk-events?cursor={cursor}"),
            &t.stranger.token,
        )
        .await;
    res.expect(400, "VALIDATION_FAILED");
    assert_eq!(res.body["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn bad_risk_event_parameters_are_400s_naming_them() {
    let t = TestApp::new().await;
    let cases = [
        ("page=first", "page"),
        ("limit=many", "limit"),
        ("min_score=high", "min_score"),
        ("min_score=101", "min_score"),
        ("min_score=-1", "min_score"),
        ("page=100&limit=100", "page"),
        ("cursor=not-a-cursor", "cursor"),
    ];
    for (q, field) in cases {
        let res = t.get(&format!("{EVENTS}?{q}"), &t.owner.token).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(res.body["errors"][0]["field"], field, "{q}");
    }
    // Out-of-range numbers are clamped, not refused (§1.6).
    t.get(&format!("{EVENTS}?page=-3&limit=1000"), &t.owner.token)
        .await
        .expect(200, "");
}
