//! §9: webhook endpoints, deliveries (filters, cursors), test, redeliver, secret rotation and
//! the event-type list.

use std::sync::Arc;

use org_ports::{OutboundRequest, SendResult, WebhookSender};
use serde_json::json;

use crate::support::TestApp;

const HOOKS: &str = "/api/organizations/acme/webhooks";

/// A receiver that answers every attempt with one status.
struct Answer(u16);

#[async_trait::async_trait]
impl WebhookSender for Answer {
    async fn send(&self, _request: OutboundRequest) -> SendResult {
        SendResult::Response {
            status: self.0,
            body: "ok".into(),
            retry_after: None,
        }
    }
}

fn body(name: &str) -> serde_json::Value {
    json!({"name": name, "url": "https://hooks.example.com/in", "events": ["member.added", "member.added", "role.created"]})
}

#[tokio::test]
async fn create_list_get_rotate_test_and_list_deliveries() {
    let t = TestApp::new().await;
    let res = t.post(HOOKS, &t.admin.token, Some(body("Sink"))).await;
    res.expect(201, "");
    let id = res.body["id"].as_str().unwrap().to_owned();
    assert_eq!(res.header("location"), format!("https://id.test{HOOKS}/{id}"));
    assert_eq!(res.header("cache-control"), "no-store");
    let secret = res.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(res.body["events"], json!(["member.added", "role.created"]));
    assert_eq!(
        (&res.body["is_active"], &res.body["disabled_reason"]),
        (&json!(true), &json!(null))
    );

    let list = t.get(HOOKS, &t.admin.token).await;
    list.expect(200, "");
    assert_eq!(list.body["total"], 1);
    assert!(list.body["webhooks"][0].get("secret").is_none());
    let one = t.get(&format!("{HOOKS}/{id}"), &t.admin.token).await;
    one.expect(200, "");
    assert!(one.body.get("secret").is_none());
    assert_eq!(one.body["name"], "Sink");

    let rotated = t
        .post(
            &format!("{HOOKS}/{id}/rotate-secret"),
            &t.admin.token,
            Some(json!({"previous_secret_ttl_seconds": 60})),
        )
        .await;
    rotated.expect(200, "");
    assert_eq!(rotated.header("cache-control"), "no-store");
    assert_eq!(rotated.body["id"], id.as_str());
    let new_secret = rotated.body["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let expires = (t.now() + chrono::Duration::seconds(60)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(rotated.body["previous_secret_expires_at"], expires.as_str());
    t.post(
        &format!("{HOOKS}/{id}/rotate-secret"),
        &t.admin.token,
        Some(json!({"previous_secret_ttl_seconds": 86401})),
    )
    .await
    .expect(400, "VALIDATION_FAILED");

    let ping = t.post(&format!("{HOOKS}/{id}/test"), &t.admin.token, None).await;
    ping.expect(200, "");
    assert_eq!(ping.body["success"], true);
    assert_eq!(ping.body["job_id"], ping.body["delivery_id"]);

    let deliveries = t.get(&format!("{HOOKS}/{id}/deliveries"), &t.admin.token).await;
    deliveries.expect(200, "");
    let d = &deliveries.body["deliveries"][0];
    assert_eq!(d["id"], ping.body["delivery_id"]);
    assert_eq!((&d["status"], &d["delivered"]), (&json!("pending"), &json!(false)));
    assert_eq!((&d["max_attempts"], &d["attempt_count"]), (&json!(8), &json!(0)));
    assert_eq!(d["webhook_name"], "Sink");
    assert_eq!(d["event_type"], "webhook.test.ping");
    assert_eq!(d["payload"]["type"], "webhook.test.ping");
    assert!(d["payload"].is_object());
    assert_eq!(
        deliveries.body["pagination"],
        json!({"page": 1, "limit": 50, "total": 1, "total_pages": 1, "has_next": false, "has_prev": false})
    );
    assert_eq!(deliveries.body["next_cursor"], json!(null));
}

#[tokio::test]
async fn invalid_webhooks_are_refused_with_the_contracts_codes() {
    let t = TestApp::new().await;
    t.post(HOOKS, &t.admin.token, Some(body("Sink"))).await.expect(201, "");
    let cases = [
        json!({"name": "A", "url": "http://hooks.example.com/", "events": ["member.added"]}),
        json!({"name": "B", "url": "https://127.0.0.1/", "events": ["member.added"]}),
        json!({"name": "C", "url": "https://hooks.example.com/", "events": []}),
        json!({"name": "D", "url": "https://hooks.example.com/", "events": ["nope.nothing"]}),
        json!({"name": "", "url": "https://hooks.example.com/", "events": ["member.added"]}),
        json!({"name": "E", "url": "https://hooks.example.com/", "events": ["member.added"], "secret": "mine"}),
    ];
    for case in cases {
        t.post(HOOKS, &t.admin.token, Some(case.clone()))
            .await
            .expect(400, "VALIDATION_FAILED");
    }
    t.post(HOOKS, &t.admin.token, Some(body("Sink")))
        .await
        .expect(409, "DUPLICATE_CONSTRAINT");
    t.post(HOOKS, &t.member.token, Some(body("Other")))
        .await
        .expect(403, "FORBIDDEN");
    t.get(HOOKS, &t.member.token).await.expect(403, "FORBIDDEN");
    for id in ["0195a0c4-6b1e-7c52-9d0e-2f1b7c9d4e20", "not-a-uuid"] {
        t.get(&format!("{HOOKS}/{id}"), &t.admin.token)
            .await
            .expect(404, "NOT_FOUND");
        t.post(&format!("{HOOKS}/{id}/test"), &t.admin.token, None)
            .await
            .expect(404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn update_delete_and_the_disabled_conflict() {
    let t = TestApp::new().await;
    let id = t.post(HOOKS, &t.admin.token, Some(body("Sink"))).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{HOOKS}/{id}");
    t.post(HOOKS, &t.admin.token, Some(body("Taken"))).await.expect(201, "");
    t.patch(&path, &t.admin.token, json!({"name": "Taken"}))
        .await
        .expect(409, "DUPLICATE_CONSTRAINT");
    t.patch(&path, &t.admin.token, json!({"name": null}))
        .await
        .expect(400, "VALIDATION_FAILED");
    let off = t
        .patch(
            &path,
            &t.admin.token,
            json!({"is_active": false, "events": ["role.deleted"]}),
        )
        .await;
    off.expect(200, "");
    assert_eq!(
        (&off.body["is_active"], &off.body["events"]),
        (&json!(false), &json!(["role.deleted"]))
    );
    assert!(off.body.get("secret").is_none());
    t.post(&format!("{path}/test"), &t.admin.token, None)
        .await
        .expect(409, "CONFLICT");
    let del = t.delete(&path, &t.admin.token).await;
    del.expect(200, "");
    assert_eq!(del.text, "null");
    t.get(&path, &t.admin.token).await.expect(404, "NOT_FOUND");
    assert_eq!(t.get(HOOKS, &t.admin.token).await.body["total"], 1);
}

#[tokio::test]
async fn a_finished_delivery_can_be_redelivered_but_a_pending_one_cannot() {
    let t = TestApp::new().await;
    let (id, delivery) = t.acme_webhook().await;
    let redeliver = format!("{HOOKS}/{id}/deliveries/{delivery}/redeliver");
    t.post(&redeliver, &t.owner.token, None).await.expect(409, "CONFLICT");
    t.app.webhooks.deliver_due(Arc::new(Answer(200)), 10).await.unwrap();
    let delivered = t
        .get(&format!("{HOOKS}/{id}/deliveries?delivered=true"), &t.owner.token)
        .await;
    assert_eq!(delivered.body["deliveries"][0]["status"], "delivered");
    assert_eq!(delivered.body["deliveries"][0]["response_status_code"], 200);
    let again = t.post(&redeliver, &t.owner.token, None).await;
    again.expect(202, "");
    assert_eq!(again.body["success"], true);
    let new_id = again.body["delivery_id"].as_str().unwrap();
    assert_ne!(new_id, delivery);
    let pending = t
        .get(&format!("{HOOKS}/{id}/deliveries?status=pending"), &t.owner.token)
        .await;
    let d = &pending.body["deliveries"][0];
    assert_eq!(
        (d["id"].as_str(), d["redelivery_of"].as_str()),
        (Some(new_id), Some(delivery.as_str()))
    );
    assert_eq!(pending.body["pagination"]["total"], 1);
    for bad in ["status=sent", "delivered=yes"] {
        let res = t.get(&format!("{HOOKS}/{id}/deliveries?{bad}"), &t.owner.token).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(res.body["errors"][0]["field"], bad.split('=').next().unwrap());
    }
    t.post(
        &format!("{HOOKS}/{id}/deliveries/0195a0c4-6b1e-7c52-9d0e-2f1b7c9d4e20/redeliver"),
        &t.owner.token,
        None,
    )
    .await
    .expect(404, "NOT_FOUND");
}

#[tokio::test]
async fn deliveries_page_by_cursor_and_cursors_stay_with_their_webhook_and_filters() {
    let t = TestApp::new().await;
    let (id, _) = t.acme_webhook().await;
    for _ in 0..6 {
        t.advance(chrono::Duration::milliseconds(3));
        t.post(&format!("{HOOKS}/{id}/test"), &t.owner.token, None)
            .await
            .expect(200, "");
    }
    let base = format!("{HOOKS}/{id}/deliveries?limit=3");
    let mut res = t.get(&base, &t.owner.token).await;
    let mut seen = Vec::new();
    loop {
        res.expect(200, "");
        seen.extend(
            res.body["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["created_at"].as_str().unwrap().to_owned() + d["id"].as_str().unwrap()),
        );
        let Some(next) = res.body["next_cursor"].as_str() else {
            break;
        };
        assert_eq!(res.header("x-next-cursor"), next);
        res = t.get(&format!("{base}&cursor={next}"), &t.owner.token).await;
        assert_eq!(res.body["pagination"]["total"], json!(null));
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first, each once");

    let first = t.get(&base, &t.owner.token).await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let other = t.post(HOOKS, &t.owner.token, Some(body("Second"))).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("{HOOKS}/{other}/deliveries?cursor={cursor}"),
        format!("{base}&status=pending&cursor={cursor}"),
        format!("{base}&cursor={}x", &cursor[..cursor.len() - 1]),
    ] {
        let res = t.get(&path, &t.owner.token).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(res.body["errors"][0]["field"], "cursor", "{path}");
    }
}

#[tokio::test]
async fn event_types_list_the_66_subscribable_types_to_any_authenticated_user() {
    let t = TestApp::new().await;
    let scoped = t.org_token(&t.stranger, "other").await;
    for token in [&t.admin.token, &t.stranger.token, &scoped] {
        let res = t.get(&format!("{HOOKS}/event-types"), token).await;
        res.expect(200, "");
        let list = res.body.as_array().unwrap();
        assert_eq!(list.len(), 66);
        assert_eq!(
            list[0],
            json!({"value": "user.signup.success", "label": "USER SIGNUP SUCCESS", "category": "User Management"})
        );
        assert!(list.iter().any(|e| e["label"] == "USER ROLE UPDATED"));
    }
    t.send(axum::http::Method::GET, &format!("{HOOKS}/event-types"), None, None)
        .await
        .expect(401, "UNAUTHORIZED");
}
