//! Risk settings and risk events (§16) end to end against the real binary on SQLite: the
//! defaults a new org is created with, a valid and an invalid partial update (400 naming the
//! field, nothing written), reset, and the risk-events list — empty, bad parameters, and a
//! non-empty list followed by its `X-Next-Cursor` (the events are written by the real SeaORM
//! store in this process, through the changeset the login flow will use, since no endpoint
//! produces them yet).

use std::sync::Arc;

use chrono::{DateTime, Duration};
use org_domain::risk::{RiskAction, RiskEvent, RiskEventId, RiskFactor};
use org_domain::{OrgId, UserId};
use org_ports::{Changeset, UnitOfWork};
use org_store_seaorm::{AesGcmCipher, SeaStore, StoreOptions};
use serde_json::{Value, json};

use crate::support::{Node, s};

const SETTINGS: &str = "/api/organizations/acme/risk-settings";
const EVENTS: &str = "/api/organizations/acme/risk-events";

fn writable(body: &Value) -> Value {
    let mut v = body.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("updated_at");
    }
    v
}

fn defaults() -> Value {
    json!({
        "enforcement_mode": "log_only", "low_threshold": 30, "medium_threshold": 70,
        "new_device_score": 20, "impossible_travel_score": 50, "velocity_threshold": 10, "velocity_score": 30,
    })
}

/// Writes `n` scored logins of `org` into the node's database through the SeaORM store.
async fn seed_events(node: &Node, org: OrgId, user: UserId, n: i64) {
    let url = format!("sqlite://{}?mode=rw", node.data_dir().join("org-server.db").display());
    let store = SeaStore::connect(
        &url,
        StoreOptions {
            // Risk rows hold no secret: any cipher will do for this writer.
            cipher: Some(Arc::new(AesGcmCipher::generate().0)),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let start = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
    let events = (0..n)
        .map(|i| RiskEvent {
            id: RiskEventId::from_uuid(uuid::Uuid::from_u128(
                org.as_uuid().as_u128().wrapping_add(1 + i as u128),
            )),
            org_id: org,
            user_id: Some(user),
            user_email: "alice@example.com".into(),
            service_id: None,
            created_at: start + Duration::minutes(i),
            success: true,
            risk_score: 50,
            risk_factors: vec![RiskFactor::ImpossibleTravel],
            risk_action: RiskAction::Allow,
            geo_country: Some("AU".into()),
            geo_city: Some("Sydney".into()),
            geo_lat: Some(-33.8688),
            geo_long: Some(151.2093),
            ip_address: Some("203.0.113.5".into()),
            user_agent: Some("Mozilla/5.0".into()),
            device_key: None,
            provider: format!("password-{i}"),
            failure_reason: None,
        })
        .collect();
    store
        .commit(Changeset {
            risk_events: events,
            ..Changeset::default()
        })
        .await
        .unwrap();
    store.close().await.unwrap();
}

#[tokio::test]
async fn risk_settings_and_events_work_end_to_end() {
    let node = Node::sqlite();
    let alice = node.cli(&["admin", "issue-token", "--email", "alice@example.com"]);
    let server = node.serve().await;
    let c = server.client();
    let token = c.create_org(s(&alice["access_token"]), "acme", "Acme").await;

    // A new org has the defaults.
    let (status, body) = c.call("GET", SETTINGS, &token, None).await;
    assert_eq!((status, writable(&body)), (200, defaults()), "{body}");

    // A valid partial update is merged; an invalid one is a 400 naming its field and writes
    // nothing (the merged result is checked against the stored medium threshold).
    let (status, body) = c
        .call(
            "PUT",
            SETTINGS,
            &token,
            Some(json!({"enforcement_mode": "challenge", "medium_threshold": 60})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"]["enforcement_mode"], "challenge");
    let (status, body) = c
        .call(
            "PUT",
            SETTINGS,
            &token,
            Some(json!({"enforcement_mode": "block", "low_threshold": 65})),
        )
        .await;
    assert_eq!((status, s(&body["error_code"])), (400, "VALIDATION_FAILED"), "{body}");
    assert_eq!(body["errors"][0]["field"], "low_threshold", "{body}");
    let (_, body) = c.call("GET", SETTINGS, &token, None).await;
    assert_eq!(
        (
            body["enforcement_mode"].clone(),
            body["medium_threshold"].clone(),
            body["low_threshold"].clone()
        ),
        (json!("challenge"), json!(60), json!(30)),
        "the refused update left nothing behind: {body}"
    );

    // Reset.
    let (status, body) = c.call("POST", &format!("{SETTINGS}/reset"), &token, None).await;
    assert_eq!((status, writable(&body["settings"])), (200, defaults()), "{body}");
    let (_, log) = c
        .call("GET", "/api/organizations/acme/audit-log?limit=10", &token, None)
        .await;
    let actions: Vec<&str> = log["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["action"]))
        .filter(|a| a.starts_with("risk_settings."))
        .collect();
    assert_eq!(actions, ["risk_settings.reset", "risk_settings.updated"], "{log}");

    // Risk events: empty, then bad parameters.
    let (status, body) = c.call("GET", EVENTS, &token, None).await;
    assert_eq!((status, body), (200, json!([])));
    for (q, field) in [
        ("min_score=101", "min_score"),
        ("page=zero", "page"),
        ("cursor=x.y", "cursor"),
    ] {
        let (status, body) = c.call("GET", &format!("{EVENTS}?{q}"), &token, None).await;
        assert_eq!(
            (status, s(&body["error_code"])),
            (400, "VALIDATION_FAILED"),
            "{q}: {body}"
        );
        assert_eq!(body["errors"][0]["field"], field, "{q}");
    }

    // Three recorded logins, listed two at a time through the cursor header.
    let (_, org) = c.call("GET", "/api/organizations/acme", &token, None).await;
    let org_id = OrgId::parse(s(&org["organization"]["id"])).unwrap();
    let (_, me) = c.call("GET", "/api/user", &token, None).await;
    let user_id = UserId::parse(s(&me["id"])).unwrap();
    seed_events(&node, org_id, user_id, 3).await;
    let get = |url: String| {
        let (http, base, token) = (c.http.clone(), c.base.clone(), token.clone());
        async move {
            let res = http
                .get(format!("{base}{url}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let next = res
                .headers()
                .get("x-next-cursor")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body, next)
        }
    };
    let (status, first, next) = get(format!("{EVENTS}?limit=2&min_score=50")).await;
    assert_eq!(status, 200, "{first}");
    let providers = |b: &Value| {
        b.as_array()
            .unwrap()
            .iter()
            .map(|e| s(&e["provider"]).to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(providers(&first), ["password-2", "password-1"], "newest first");
    assert_eq!(first[0]["risk_factors"], json!(["impossible_travel"]));
    assert_eq!(first[0]["user_id"], json!(user_id.to_string()));
    let next = next.expect("a next page");
    let (status, second, after) = get(format!("{EVENTS}?limit=2&min_score=50&cursor={next}")).await;
    assert_eq!(
        (status, providers(&second), after),
        (200, vec!["password-0".to_owned()], None)
    );
    let (_, none, _) = get(format!("{EVENTS}?min_score=51")).await;
    assert_eq!(none, json!([]));
}
