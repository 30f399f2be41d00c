//! Webhook use cases and the delivery step (§9): subscriptions, fan-out, signatures, the
//! retry schedule, 410, auto-disable, redelivery, test pings and secret rotation.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use org_app::AppError;
use org_app::signing::{compat_signature, standard_signature};
use org_app::webhooks::WebhookInput;
use org_domain::DomainError;
use org_domain::webhook::{DeliveryStatus, DisabledReason, Webhook};
use org_ports::{DeliveryFilter, OutboundRequest, PageRequest, SendResult, WebhookSender};

use crate::support::{World, meta, user};

/// A receiver that answers from a script and records every request.
pub(crate) struct Receiver {
    script: Mutex<Vec<SendResult>>,
    seen: Mutex<Vec<OutboundRequest>>,
}

impl Receiver {
    pub(crate) fn answering(script: Vec<SendResult>) -> Self {
        Self {
            script: Mutex::new(script),
            seen: Mutex::new(Vec::new()),
        }
    }
    fn requests(&self) -> Vec<OutboundRequest> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl WebhookSender for Receiver {
    async fn send(&self, request: OutboundRequest) -> SendResult {
        self.seen.lock().unwrap().push(request);
        let mut script = self.script.lock().unwrap();
        if script.is_empty() { ok() } else { script.remove(0) }
    }
}

fn ok() -> SendResult {
    SendResult::Response {
        status: 200,
        body: "ok".into(),
        retry_after: None,
    }
}

pub(crate) fn status(code: u16) -> SendResult {
    SendResult::Response {
        status: code,
        body: format!("status {code}"),
        retry_after: None,
    }
}

fn header<'a>(r: &'a OutboundRequest, name: &str) -> &'a str {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

fn input(name: &str, url: &str, events: &[&str]) -> WebhookInput {
    WebhookInput {
        name: Some(name.into()),
        url: Some(url.into()),
        events: Some(events.iter().map(|e| (*e).to_owned()).collect()),
        is_active: None,
    }
}

async fn hook(w: &World, events: &[&str]) -> Webhook {
    w.app
        .webhooks
        .create(
            &w.owner,
            &meta(),
            "acme",
            input("hooks", "https://hooks.example.com/in", events),
        )
        .await
        .unwrap()
        .webhook
}

async fn member_added(w: &World, email: &str) {
    let u = user(&w.app, email).await;
    crate::support::join(&w.app, &w.owner, "acme", &u, "member").await;
}

#[tokio::test]
async fn creating_a_webhook_validates_url_events_and_name() {
    let w = World::new().await;
    let created = w
        .app
        .webhooks
        .create(
            &w.owner,
            &meta(),
            "acme",
            input("a", "https://hooks.example.com/a", &["member.added", "member.added"]),
        )
        .await
        .unwrap();
    assert!(created.show_secret);
    let secret = created.webhook.record().secret.strip_prefix("whsec_").unwrap();
    assert_eq!(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, secret)
            .unwrap()
            .len(),
        32
    );
    assert_eq!(created.webhook.record().events, ["member.added"]);
    for (url, events) in [
        ("http://hooks.example.com/a", vec!["member.added"]),
        ("https://127.0.0.1/a", vec!["member.added"]),
        ("https://169.254.169.254/", vec!["member.added"]),
        ("https://hooks.example.com/a", vec![]),
        ("https://hooks.example.com/a", vec!["webhook.test.ping"]),
        ("https://hooks.example.com/a", vec!["nope"]),
    ] {
        let err = w
            .app
            .webhooks
            .create(&w.owner, &meta(), "acme", input("b", url, &events))
            .await
            .unwrap_err();
        assert!(
            matches!(err, AppError::Domain(DomainError::Validation(_))),
            "{url} {events:?}: {err:?}"
        );
    }
    let dup = w
        .app
        .webhooks
        .create(
            &w.owner,
            &meta(),
            "acme",
            input("a", "https://hooks.example.com/b", &["role.created"]),
        )
        .await
        .unwrap_err();
    assert!(matches!(dup, AppError::Domain(DomainError::DuplicateWebhookName)));
    let denied = w
        .app
        .webhooks
        .create(
            &w.admin,
            &meta(),
            "acme",
            input("c", "https://hooks.example.com/c", &["role.created"]),
        )
        .await;
    assert!(denied.is_ok(), "admins hold webhooks.manage");
    let denied = w
        .app
        .webhooks
        .create(
            &w.member,
            &meta(),
            "acme",
            input("d", "https://hooks.example.com/d", &["role.created"]),
        )
        .await
        .unwrap_err();
    assert_eq!(denied, crate::support::missing(org_domain::Capability::WebhooksManage));
    assert!(w.acme_log().await.contains(&"webhook.created".to_owned()));
}

#[tokio::test]
async fn a_committed_event_is_delivered_signed_with_both_schemes() {
    let w = World::new().await;
    let h = hook(&w, &["member.added"]).await;
    member_added(&w, "new@x.test").await;
    let receiver = Arc::new(Receiver::answering(vec![]));
    let report = w.app.webhooks.deliver_due(receiver.clone(), 10).await.unwrap();
    assert_eq!((report.delivered, report.attempt_failed, report.failed), (1, 0, 0));
    let reqs = receiver.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["event"].as_str()),
        (Some("member.added"), Some("member.added"))
    );
    assert_eq!(body["data"]["email"], "new@x.test");
    assert_eq!(header(r, "webhook-id"), body["id"].as_str().unwrap());
    let ts: i64 = header(r, "webhook-timestamp").parse().unwrap();
    assert_eq!(header(r, "x-webhook-timestamp"), ts.to_string());
    assert_eq!(
        header(r, "webhook-signature"),
        standard_signature(&[&h.record().secret], header(r, "webhook-id"), ts, r.body.as_bytes())
    );
    assert_eq!(
        header(r, "x-webhook-signature"),
        compat_signature(&h.record().secret, r.body.as_bytes())
    );
    assert!(header(r, "user-agent").starts_with("org-server-webhooks/"));
    let (_, page) = w
        .app
        .webhooks
        .deliveries(
            &w.owner,
            &meta(),
            "acme",
            &h.id().to_string(),
            &DeliveryFilter::default(),
            PageRequest::new(1, 10),
        )
        .await
        .unwrap();
    assert_eq!(
        (page.items[0].status, page.items[0].response_status_code),
        (DeliveryStatus::Delivered, Some(200))
    );
    assert!(
        w.app
            .webhooks
            .deliver_due(receiver.clone(), 10)
            .await
            .unwrap()
            .delivered
            == 0,
        "nothing is sent twice"
    );
}

#[tokio::test]
async fn failures_follow_the_retry_schedule_and_retry_after() {
    let w = World::new().await;
    let h = hook(&w, &["member.added"]).await;
    member_added(&w, "new@x.test").await;
    let with_retry_after = SendResult::Response {
        status: 503,
        body: String::new(),
        retry_after: Some(Duration::hours(1)),
    };
    let receiver = Arc::new(Receiver::answering(vec![
        status(500),
        with_retry_after,
        SendResult::Error("timeout".into()),
    ]));
    assert_eq!(
        w.app
            .webhooks
            .deliver_due(receiver.clone(), 10)
            .await
            .unwrap()
            .attempt_failed,
        1
    );
    assert_eq!(
        w.app
            .webhooks
            .deliver_due(receiver.clone(), 10)
            .await
            .unwrap()
            .attempt_failed,
        0,
        "not due before 5 s"
    );
    w.advance(Duration::seconds(6));
    assert_eq!(
        w.app
            .webhooks
            .deliver_due(receiver.clone(), 10)
            .await
            .unwrap()
            .attempt_failed,
        1
    );
    w.advance(Duration::minutes(6));
    assert_eq!(
        w.app
            .webhooks
            .deliver_due(receiver.clone(), 10)
            .await
            .unwrap()
            .attempt_failed,
        0,
        "Retry-After of 1 h lengthened the 5 min delay"
    );
    w.advance(Duration::minutes(55));
    assert_eq!(
        w.app
            .webhooks
            .deliver_due(receiver.clone(), 10)
            .await
            .unwrap()
            .attempt_failed,
        1
    );
    let (_, page) = w
        .app
        .webhooks
        .deliveries(
            &w.owner,
            &meta(),
            "acme",
            &h.id().to_string(),
            &DeliveryFilter::default(),
            PageRequest::new(1, 10),
        )
        .await
        .unwrap();
    let d = &page.items[0];
    assert_eq!(
        (d.attempt_count, d.status, d.delivery_error.as_deref()),
        (3, DeliveryStatus::Pending, Some("timeout"))
    );
}

#[tokio::test]
async fn gone_disables_the_endpoint_at_once_and_failing_ones_after_five_days() {
    let w = World::new().await;
    let h = hook(&w, &["member.added"]).await;
    member_added(&w, "a@x.test").await;
    let r = Arc::new(Receiver::answering(vec![status(410)]));
    w.app.webhooks.deliver_due(r.clone(), 10).await.unwrap();
    let gone = w
        .app
        .webhooks
        .get(&w.owner, &meta(), "acme", &h.id().to_string())
        .await
        .unwrap();
    assert_eq!(
        (gone.is_active(), gone.record().disabled_reason),
        (false, Some(DisabledReason::Gone))
    );
    assert!(w.acme_log().await.contains(&"webhook.disabled".to_owned()));
    let test = w
        .app
        .webhooks
        .test(&w.owner, &meta(), "acme", &h.id().to_string())
        .await
        .unwrap_err();
    assert!(
        matches!(test, AppError::Domain(DomainError::WebhookDisabled)),
        "a disabled endpoint is not pinged"
    );

    // Re-enable, then fail for five days.
    let on = WebhookInput {
        is_active: Some(true),
        ..WebhookInput::default()
    };
    w.app
        .webhooks
        .update(&w.owner, &meta(), "acme", &h.id().to_string(), on)
        .await
        .unwrap();
    let always_failing = Arc::new(Receiver::answering((0..200).map(|_| status(500)).collect()));
    for i in 0..12 {
        let still = w
            .app
            .webhooks
            .get(&w.owner, &meta(), "acme", &h.id().to_string())
            .await
            .unwrap();
        assert!(still.is_active(), "disabled after only {} h", i * 11);
        member_added(&w, &format!("m{i}@x.test")).await;
        w.app.webhooks.deliver_due(always_failing.clone(), 10).await.unwrap();
        w.advance(Duration::hours(11));
    }
    let off = w
        .app
        .webhooks
        .get(&w.owner, &meta(), "acme", &h.id().to_string())
        .await
        .unwrap();
    assert_eq!(
        (off.is_active(), off.record().disabled_reason),
        (false, Some(DisabledReason::Failing))
    );
}

#[tokio::test]
async fn redelivery_keeps_the_event_id_and_test_pings_reach_one_endpoint() {
    let w = World::new().await;
    let h = hook(&w, &["member.added"]).await;
    member_added(&w, "a@x.test").await;
    let r = Arc::new(Receiver::answering((0..8).map(|_| status(400)).collect()));
    for _ in 0..8 {
        w.app.webhooks.deliver_due(r.clone(), 10).await.unwrap();
        w.advance(Duration::hours(11));
    }
    let id = h.id().to_string();
    let (_, page) = w
        .app
        .webhooks
        .deliveries(
            &w.owner,
            &meta(),
            "acme",
            &id,
            &DeliveryFilter::default(),
            PageRequest::new(1, 10),
        )
        .await
        .unwrap();
    let first = page.items[0].clone();
    assert_eq!((first.status, first.attempt_count), (DeliveryStatus::Failed, 8));
    let again = w
        .app
        .webhooks
        .redeliver(&w.owner, &meta(), "acme", &id, &first.id.to_string())
        .await
        .unwrap();
    w.app.webhooks.deliver_due(r.clone(), 10).await.unwrap();
    let all = r.requests();
    let last = all.last().unwrap();
    assert_eq!(
        header(last, "webhook-id"),
        first.event_id.to_string(),
        "the same event id"
    );
    assert_eq!(last.body, first.payload);
    let stored = w
        .app
        .stores()
        .webhooks
        .delivery(again.delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.redelivery_of, stored.status),
        (Some(first.id), DeliveryStatus::Delivered)
    );
    let ping = w.app.webhooks.test(&w.owner, &meta(), "acme", &id).await.unwrap();
    w.app.webhooks.deliver_due(r.clone(), 10).await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&r.requests().last().unwrap().body).unwrap();
    assert_eq!(body["type"], "webhook.test.ping");
    assert!(body["message"].is_string());
    assert!(
        w.app
            .stores()
            .webhooks
            .delivery(ping.delivery_id)
            .await
            .unwrap()
            .unwrap()
            .delivered()
    );
}

#[tokio::test]
async fn a_rotated_secret_signs_alongside_the_old_one_until_it_expires() {
    let w = World::new().await;
    let h = hook(&w, &["member.added"]).await;
    let rotated = w
        .app
        .webhooks
        .rotate_secret(&w.owner, &meta(), "acme", &h.id().to_string(), Some(3600))
        .await
        .unwrap();
    assert_ne!(rotated.record().secret, h.record().secret);
    member_added(&w, "a@x.test").await;
    let r = Arc::new(Receiver::answering(vec![]));
    w.app.webhooks.deliver_due(r.clone(), 10).await.unwrap();
    let req = &r.requests()[0];
    let sig = header(req, "webhook-signature");
    assert_eq!(sig.split(' ').count(), 2);
    let ts: i64 = header(req, "webhook-timestamp").parse().unwrap();
    assert_eq!(
        sig,
        standard_signature(
            &[&rotated.record().secret, &h.record().secret],
            header(req, "webhook-id"),
            ts,
            req.body.as_bytes()
        )
    );
    assert_eq!(
        header(req, "x-webhook-signature"),
        compat_signature(&rotated.record().secret, req.body.as_bytes()),
        "compat uses the newest"
    );
    w.advance(Duration::hours(2));
    member_added(&w, "b@x.test").await;
    w.app.webhooks.deliver_due(r.clone(), 10).await.unwrap();
    assert_eq!(
        header(r.requests().last().unwrap(), "webhook-signature")
            .split(' ')
            .count(),
        1
    );
}

#[tokio::test]
async fn deleting_a_webhook_fails_its_pending_deliveries_and_notifies_the_others() {
    let w = World::new().await;
    let doomed = hook(&w, &["member.added"]).await;
    let watcher = w
        .app
        .webhooks
        .create(
            &w.owner,
            &meta(),
            "acme",
            input("watcher", "https://hooks.example.com/w", &["webhook.deleted"]),
        )
        .await
        .unwrap()
        .webhook;
    member_added(&w, "a@x.test").await;
    w.app
        .webhooks
        .delete(&w.owner, &meta(), "acme", &doomed.id().to_string())
        .await
        .unwrap();
    let pending = w
        .app
        .stores()
        .webhooks
        .webhook_deliveries(doomed.id(), &DeliveryFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(
        (pending.items[0].status, pending.items[0].delivery_error.as_deref()),
        (DeliveryStatus::Failed, Some("webhook deleted"))
    );
    let seen = w
        .app
        .stores()
        .webhooks
        .webhook_deliveries(watcher.id(), &DeliveryFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(seen.items[0].event_type, "webhook.deleted");
    assert!(
        w.app
            .webhooks
            .get(&w.owner, &meta(), "acme", &doomed.id().to_string())
            .await
            .is_err()
    );
    assert_eq!(w.app.webhooks.list(&w.owner, &meta(), "acme").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_deliveries_to_one_endpoint_in_one_pass_are_all_recorded() {
    let w = World::new().await;
    hook(&w, &["member.added"]).await;
    for i in 0..20 {
        member_added(&w, &format!("u{i}@x.test")).await;
    }
    let receiver = Arc::new(Receiver::answering(vec![]));
    let report = w.app.webhooks.deliver_due(receiver.clone(), 64).await.unwrap();
    assert_eq!((report.delivered, report.attempt_failed, report.failed), (20, 0, 0));
    assert_eq!(w.app.webhooks.pending_count().await.unwrap(), 0);
    assert_eq!(receiver.requests().len(), 20);
}
