//! Webhook ports (§9): endpoint and delivery reads, the delivery queue the worker claims
//! from, and the fan-out every store applies to the events of a commit (§9.4).

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use org_domain::webhook::{Delivery, DeliveryStatus, Webhook};
use org_domain::{DeliveryId, OrgId, WebhookId};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::OutboxEvent;
use crate::error::StoreError;
use crate::repos::{Page, PageRequest};

/// Filters of `GET …/webhooks/:id/deliveries`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub event_type: Option<String>,
    pub delivered: Option<bool>,
    pub status: Option<DeliveryStatus>,
    /// Keyset position: only deliveries strictly older than `(created_at, id)` (cursor pages).
    pub before: Option<(DateTime<Utc>, DeliveryId)>,
}

impl DeliveryFilter {
    /// Whether `d` passes every filter.
    pub fn matches(&self, d: &Delivery) -> bool {
        self.event_type.as_deref().is_none_or(|t| t == d.event_type)
            && self.delivered.is_none_or(|x| x == d.delivered())
            && self.status.is_none_or(|s| s == d.status)
            && self.before.is_none_or(|key| (d.created_at, d.id) < key)
    }
}

/// Endpoint and delivery reads.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// The org's endpoints that are not deleted, oldest first.
    async fn org_webhooks(&self, org: OrgId) -> Result<Vec<Webhook>, StoreError>;
    /// One endpoint of the org, not deleted.
    async fn webhook(&self, org: OrgId, id: WebhookId) -> Result<Option<Webhook>, StoreError>;
    /// An endpoint's deliveries, newest first (`created_at`, then id). `total` is the
    /// endpoint's kept delivery count when no filter is given, a count of the matches
    /// otherwise, and `None` after a keyset position (`filter.before`).
    async fn webhook_deliveries(
        &self,
        webhook: WebhookId,
        filter: &DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>, StoreError>;
    /// One delivery.
    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError>;
    /// An endpoint's pending deliveries.
    async fn pending_deliveries(&self, webhook: WebhookId) -> Result<Vec<Delivery>, StoreError>;
}

/// The queue the delivery worker takes work from.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Pending deliveries due at `now` (oldest due first, at most `limit`), each leased until
    /// `lease_until`: its `next_retry_at` moves there and its version is bumped, atomically, so
    /// no other worker (in any process) claims it meanwhile. Returned as stored after the lease.
    /// If the worker dies, the delivery is due again when the lease ends (at-least-once).
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Number of pending deliveries (the `outbox_pending_events` gauge).
    async fn pending_count(&self) -> Result<u64, StoreError>;
}

/// The request body of §9.5 for an event: absent optional members are omitted.
pub fn envelope(event: &OutboxEvent) -> String {
    let mut m = Map::new();
    m.insert("id".into(), json!(event.id.to_string()));
    m.insert("type".into(), json!(event.event_type));
    m.insert("event".into(), json!(event.event_type));
    m.insert(
        "timestamp".into(),
        json!(event.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    m.insert("organization_id".into(), json!(event.org_id.to_string()));
    if let Some(u) = event.actor_user_id {
        m.insert("actor_user_id".into(), json!(u.to_string()));
    }
    if let Some(e) = &event.actor_email {
        m.insert("actor_email".into(), json!(e));
    }
    if let Some(t) = &event.target_type {
        m.insert("target_type".into(), json!(t));
    }
    if let Some(t) = &event.target_id {
        m.insert("target_id".into(), json!(t));
    }
    let data_empty = event.data.is_null() || event.data.as_object().is_some_and(Map::is_empty);
    if !data_empty {
        m.insert("data".into(), event.data.clone());
    }
    if event.event_type == "webhook.test.ping" {
        m.insert("message".into(), json!("This is a test webhook from org-server"));
    }
    Value::Object(m).to_string()
}

/// The id of the fan-out delivery of `event` to `webhook`: derived from both, so a retried
/// commit can never fan one event out twice to one endpoint.
pub fn fanout_id(event: &OutboxEvent, webhook: WebhookId) -> DeliveryId {
    let digest = Sha256::new()
        .chain_update(event.id.as_uuid().as_bytes())
        .chain_update(webhook.as_uuid().as_bytes())
        .finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    DeliveryId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// One pending delivery per subscribed endpoint (§9.4); `subscribers` are the org's endpoints
/// as they stand at commit.
pub fn fan_out<'a>(event: &OutboxEvent, subscribers: impl IntoIterator<Item = &'a Webhook>) -> Vec<Delivery> {
    let payload = envelope(event);
    subscribers
        .into_iter()
        .filter(|w| w.org_id() == event.org_id && w.subscribes(&event.event_type))
        .map(|w| {
            Delivery::new(
                fanout_id(event, w.id()),
                w,
                event.id,
                &event.event_type,
                payload.clone(),
                event.occurred_at,
            )
        })
        .collect()
}

/// Unused-type guard: `Uuid` is part of the id derivation above.
const _: fn(Uuid) -> DeliveryId = DeliveryId::from_uuid;
