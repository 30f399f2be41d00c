//! Webhook endpoints and their deliveries (§9): subscription rules, the retry schedule of
//! §9.7 and the auto-disable rule. Secrets are opaque strings here; adapters encrypt them.

use chrono::{DateTime, Duration, Utc};

use crate::access::{Access, Outcome, Principal};
use crate::capability::Capability;
use crate::error::{DomainError, FieldError};
use crate::event::{Change, ChangeValue, DomainEvent};
use crate::ids::{DeliveryId, EventId, OrgId, WebhookId};

/// What happened to an endpoint (§23.1 `webhook.*`, §23.2 `webhook.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    Created {
        webhook_id: WebhookId,
        name: String,
        url: String,
        events: Vec<String>,
    },
    Updated {
        webhook_id: WebhookId,
        changes: Vec<Change>,
    },
    Deleted {
        webhook_id: WebhookId,
        name: String,
    },
    /// The secret was replaced; the old one signs until `previous_secret_expires_at`.
    SecretRotated {
        webhook_id: WebhookId,
        previous_secret_expires_at: DateTime<Utc>,
    },
    TestSent {
        webhook_id: WebhookId,
        delivery_id: DeliveryId,
    },
    Redelivered {
        webhook_id: WebhookId,
        delivery_id: DeliveryId,
        new_delivery_id: DeliveryId,
    },
    /// The delivery worker disabled the endpoint (actor `system`).
    Disabled {
        webhook_id: WebhookId,
        reason: DisabledReason,
    },
}

/// Why an endpoint was disabled by the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DisabledReason {
    /// Failed attempts and no success for 5 consecutive days.
    Failing,
    /// The receiver answered 410 Gone.
    Gone,
}

impl DisabledReason {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Failing => "failing",
            Self::Gone => "gone",
        }
    }
    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Failing, Self::Gone].into_iter().find(|r| r.as_str() == text)
    }
}

/// Delivery status (§9.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Attempts per delivery (§9.7).
pub const MAX_ATTEMPTS: u32 = 8;

/// Delay before attempt `n + 1` after `n` failed attempts (§9.7), before jitter: immediately,
/// then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. `None` once all 8 attempts are used.
pub fn base_delay(failed_attempts: u32) -> Option<Duration> {
    let secs = match failed_attempts {
        0 => 0,
        1 => 5,
        2 => 5 * 60,
        3 => 30 * 60,
        4 => 2 * 3600,
        5 => 5 * 3600,
        6 | 7 => 10 * 3600,
        _ => return None,
    };
    Some(Duration::seconds(secs))
}

/// When the next attempt is due after a failure at `now`. `jitter` in `[0, 1)` adds up to 10 %
/// of the delay; a `Retry-After` (429/503) lengthens it, capped at 24 h.
pub fn next_attempt_at(
    failed_attempts: u32,
    now: DateTime<Utc>,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Option<DateTime<Utc>> {
    let base = base_delay(failed_attempts)?;
    let jitter_ms = (base.num_milliseconds() as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as i64;
    let mut delay = base + Duration::milliseconds(jitter_ms);
    if let Some(ra) = retry_after {
        delay = delay.max(ra.min(Duration::hours(24)));
    }
    Some(now + delay)
}

/// An endpoint fails for good after this long without a success (§9.7).
pub const FAILING_WINDOW_DAYS: i64 = 5;

/// Whether an endpoint failing since `failing_since` is to be disabled at `now`.
pub fn should_auto_disable(failing_since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    failing_since.is_some_and(|since| now - since >= Duration::days(FAILING_WINDOW_DAYS))
}

/// Parses a webhook name: trimmed, 1–100 characters.
fn webhook_name(input: &str) -> Result<String, FieldError> {
    let t = input.trim();
    let n = t.chars().count();
    if n == 0 || n > 100 || t.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "must be 1-100 characters without control characters",
        ));
    }
    Ok(t.to_owned())
}

/// Validates a subscription list against the subscribable types: at least one, each known;
/// duplicates collapse (order kept).
fn subscription(events: &[String], known: &[&str]) -> Result<Vec<String>, DomainError> {
    if events.is_empty() {
        return Err(DomainError::invalid("events", "subscribe to at least one event type"));
    }
    let mut errors = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if !known.contains(&e.as_str()) {
            errors.push(FieldError::new(
                format!("events[{i}]"),
                format!("unknown event type '{e}'"),
            ));
        } else if !out.contains(e) {
            out.push(e.clone());
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(DomainError::Validation(errors))
    }
}

/// The state of a webhook endpoint, as stored. `Debug` never shows the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: WebhookId,
    pub org_id: OrgId,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub is_active: bool,
    pub disabled_reason: Option<DisabledReason>,
    /// Current signing secret (`whsec_…`); adapters keep it encrypted at rest.
    pub secret: String,
    /// The secret replaced by the last rotation, valid until `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Start of the current run of failed attempts without a success.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version as loaded; 0 for an endpoint not yet stored.
    pub version: u64,
}

impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("is_active", &self.is_active)
            .field("disabled_reason", &self.disabled_reason)
            .field("secret", &"[REDACTED]")
            .field("previous_secret", &self.previous_secret.as_ref().map(|_| "[REDACTED]"))
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A webhook endpoint of an org. Its fields change only through its methods and the decisions
/// of [`Access`], which return the events they cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook(WebhookRecord);

/// Parameters of a new endpoint: the name and subscription as parsed
/// ([`Access::new_webhook`]), the URL as the SSRF guard accepted it, a fresh secret.
#[derive(Clone)]
pub struct NewWebhook {
    pub id: WebhookId,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Body of an endpoint create or update (§9.2), as received. Create needs `name`, `url` and
/// `events`; an update changes the fields present.
#[derive(Clone, Debug, Default)]
pub struct WebhookDraft {
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub is_active: Option<bool>,
}

/// A PATCH of an endpoint (§9.2), each field parsed; `None` leaves it unchanged.
#[derive(Clone, Debug, Default)]
pub struct WebhookUpdate {
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub is_active: Option<bool>,
}

impl Webhook {
    /// Rebuilds an endpoint from storage.
    pub fn restore(record: WebhookRecord) -> Self {
        Self(record)
    }

    /// The stored state.
    pub fn record(&self) -> &WebhookRecord {
        &self.0
    }
    /// The same endpoint as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    /// The id.
    pub fn id(&self) -> WebhookId {
        self.0.id
    }
    /// The org.
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    /// The name, unique in the org.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The target URL.
    pub fn url(&self) -> &str {
        &self.0.url
    }
    /// Whether the endpoint receives events.
    pub fn is_active(&self) -> bool {
        self.0.is_active
    }

    /// Whether an event of `event_type` committed now reaches this endpoint (§9.4).
    pub fn subscribes(&self, event_type: &str) -> bool {
        self.0.is_active && self.0.deleted_at.is_none() && self.0.events.iter().any(|e| e == event_type)
    }

    /// Secrets that sign at `now`, newest first (§9.6).
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut out = vec![self.0.secret.as_str()];
        if let (Some(prev), Some(until)) = (&self.0.previous_secret, self.0.previous_secret_expires_at)
            && now < until
        {
            out.push(prev);
        }
        out
    }

    /// Records a failed attempt; disables the endpoint as failing once it has failed for
    /// [`FAILING_WINDOW_DAYS`] without a success (the event says so).
    pub fn attempt_failed(&mut self, now: DateTime<Utc>) -> Option<WebhookEvent> {
        let since = *self.0.failing_since.get_or_insert(now);
        self.0.updated_at = now;
        if self.0.is_active && should_auto_disable(Some(since), now) {
            return Some(self.disable(DisabledReason::Failing, now));
        }
        None
    }

    /// Records a success: the failure window closes.
    pub fn attempt_succeeded(&mut self, now: DateTime<Utc>) {
        if self.0.failing_since.take().is_some() {
            self.0.updated_at = now;
        }
    }

    /// The receiver answered 410 Gone: an active endpoint is disabled at once.
    pub fn gone(&mut self, now: DateTime<Utc>) -> Option<WebhookEvent> {
        self.0.is_active.then(|| self.disable(DisabledReason::Gone, now))
    }

    fn disable(&mut self, reason: DisabledReason, now: DateTime<Utc>) -> WebhookEvent {
        self.0.is_active = false;
        self.0.disabled_reason = Some(reason);
        self.0.updated_at = now;
        WebhookEvent::Disabled {
            webhook_id: self.0.id,
            reason,
        }
    }

    fn require_active(&self) -> Result<(), DomainError> {
        if self.0.is_active {
            Ok(())
        } else {
            Err(DomainError::WebhookDisabled)
        }
    }
}

fn hook_event(e: WebhookEvent) -> DomainEvent {
    DomainEvent::Webhook(e)
}

impl Access {
    /// The endpoint a management call addresses: `webhooks.manage` and the active-org gate
    /// first, then an unknown endpoint (or another org's) is not found (§1.5).
    fn managed<W: std::borrow::Borrow<Webhook>>(&self, webhook: Option<W>) -> Result<(Principal, W), DomainError> {
        let principal = self.require_mutable(Capability::WebhooksManage)?;
        let w = webhook
            .filter(|w| w.borrow().org_id() == self.org_id())
            .ok_or(DomainError::NotFound)?;
        Ok((principal, w))
    }

    /// Step one of creating an endpoint (§1.5): `webhooks.manage` and the active-org gate,
    /// then the name and the subscription among the `known` event types. The URL is left for
    /// the outbound guard, which resolves it, before [`Access::create_webhook`] decides.
    pub fn new_webhook(
        &self,
        id: WebhookId,
        draft: &WebhookDraft,
        secret: String,
        known: &[&str],
    ) -> Result<NewWebhook, DomainError> {
        self.require_mutable(Capability::WebhooksManage)?;
        Ok(NewWebhook {
            id,
            name: webhook_name(draft.name.as_deref().unwrap_or_default())?,
            url: draft.url.clone().unwrap_or_default(),
            events: subscription(draft.events.as_deref().unwrap_or_default(), known)?,
            secret,
        })
    }

    /// Step one of updating an endpoint (§1.5): as [`Access::new_webhook`], for the fields
    /// present.
    pub fn webhook_update(&self, draft: &WebhookDraft, known: &[&str]) -> Result<WebhookUpdate, DomainError> {
        self.require_mutable(Capability::WebhooksManage)?;
        Ok(WebhookUpdate {
            name: draft.name.as_deref().map(webhook_name).transpose()?,
            url: draft.url.clone(),
            events: draft.events.as_deref().map(|e| subscription(e, known)).transpose()?,
            is_active: draft.is_active,
        })
    }

    /// Creates an endpoint (§9.2); `name_taken` says whether another endpoint of the org has
    /// the name.
    pub fn create_webhook(
        &self,
        new: NewWebhook,
        name_taken: bool,
        now: DateTime<Utc>,
    ) -> Result<(Webhook, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::WebhooksManage)?;
        if name_taken {
            return Err(DomainError::DuplicateWebhookName);
        }
        let w = Webhook(WebhookRecord {
            id: new.id,
            org_id: self.org_id(),
            name: new.name,
            url: new.url,
            events: new.events,
            is_active: true,
            disabled_reason: None,
            secret: new.secret,
            previous_secret: None,
            previous_secret_expires_at: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: 0,
        });
        let event = hook_event(WebhookEvent::Created {
            webhook_id: w.0.id,
            name: w.0.name.clone(),
            url: w.0.url.clone(),
            events: w.0.events.clone(),
        });
        Ok((
            w,
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// Updates an endpoint (§9.2): `is_active: true` clears `disabled_reason` and the failure
    /// window. No change → no event.
    pub fn update_webhook(
        &self,
        webhook: Option<&mut Webhook>,
        upd: WebhookUpdate,
        name_taken: bool,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let (principal, w) = self.managed(webhook)?;
        let old = w.0.clone();
        if let Some(name) = upd.name {
            if name != old.name && name_taken {
                return Err(DomainError::DuplicateWebhookName);
            }
            w.0.name = name;
        }
        if let Some(url) = upd.url {
            w.0.url = url;
        }
        if let Some(events) = upd.events {
            w.0.events = events;
        }
        if let Some(active) = upd.is_active {
            w.0.is_active = active;
            if active {
                w.0.disabled_reason = None;
                w.0.failing_since = None;
            }
        }
        let list = |v: &[String]| ChangeValue::List(v.to_vec());
        let mut changes: Vec<Change> = Vec::new();
        changes.extend(Change::of("name", Some(old.name.clone()), Some(w.0.name.clone())));
        changes.extend(Change::of("url", Some(old.url.clone()), Some(w.0.url.clone())));
        changes.extend(Change::of("events", list(&old.events), list(&w.0.events)));
        changes.extend(Change::of(
            "is_active",
            ChangeValue::Bool(old.is_active),
            ChangeValue::Bool(w.0.is_active),
        ));
        if changes.is_empty() {
            w.0 = old;
            return Ok(Outcome {
                principal,
                events: Vec::new(),
            });
        }
        w.0.updated_at = now;
        Ok(Outcome {
            principal,
            events: vec![hook_event(WebhookEvent::Updated {
                webhook_id: w.0.id,
                changes,
            })],
        })
    }

    /// Deletes an endpoint (§9.2); the caller fails its pending deliveries.
    pub fn delete_webhook(&self, webhook: Option<&mut Webhook>, now: DateTime<Utc>) -> Result<Outcome, DomainError> {
        let (principal, w) = self.managed(webhook)?;
        w.0.deleted_at = Some(now);
        w.0.is_active = false;
        w.0.updated_at = now;
        Ok(Outcome {
            principal,
            events: vec![hook_event(WebhookEvent::Deleted {
                webhook_id: w.0.id,
                name: w.0.name.clone(),
            })],
        })
    }

    /// Rotates the signing secret (§9.2): the old one keeps signing for `ttl` (0–24 h).
    pub fn rotate_webhook_secret(
        &self,
        webhook: Option<&mut Webhook>,
        secret: String,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let (principal, w) = self.managed(webhook)?;
        if ttl < Duration::zero() || ttl > Duration::days(1) {
            return Err(DomainError::invalid(
                "previous_secret_ttl_seconds",
                "must be between 0 and 86400",
            ));
        }
        let expires = now + ttl;
        w.0.previous_secret = Some(std::mem::replace(&mut w.0.secret, secret));
        w.0.previous_secret_expires_at = Some(expires);
        w.0.updated_at = now;
        Ok(Outcome {
            principal,
            events: vec![hook_event(WebhookEvent::SecretRotated {
                webhook_id: w.0.id,
                previous_secret_expires_at: expires,
            })],
        })
    }

    /// A test ping to an active endpoint (§9.2); `delivery_id` is the ping's delivery.
    pub fn test_webhook(&self, webhook: Option<&Webhook>, delivery_id: DeliveryId) -> Result<Outcome, DomainError> {
        let (principal, w) = self.managed(webhook)?;
        w.require_active()?;
        Ok(Outcome {
            principal,
            events: vec![hook_event(WebhookEvent::TestSent {
                webhook_id: w.0.id,
                delivery_id,
            })],
        })
    }

    /// Redelivers a finished delivery of an active endpoint as `new_delivery_id` (§9.2).
    pub fn redeliver(
        &self,
        webhook: Option<&Webhook>,
        original: Option<&Delivery>,
        new_delivery_id: DeliveryId,
    ) -> Result<Outcome, DomainError> {
        let (principal, w) = self.managed(webhook)?;
        let original = original
            .filter(|d| d.webhook_id == w.0.id)
            .ok_or(DomainError::NotFound)?;
        if original.status == DeliveryStatus::Pending {
            return Err(DomainError::DeliveryPending);
        }
        w.require_active()?;
        Ok(Outcome {
            principal,
            events: vec![hook_event(WebhookEvent::Redelivered {
                webhook_id: w.0.id,
                delivery_id: original.id,
                new_delivery_id,
            })],
        })
    }
}

/// One delivery of one event to one endpoint, with its attempts (§9.2, §9.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub org_id: OrgId,
    pub event_id: EventId,
    pub event_type: String,
    /// The exact request body (the envelope of §9.5).
    pub payload: String,
    pub status: DeliveryStatus,
    pub response_status_code: Option<u16>,
    pub response_body: Option<String>,
    pub attempt_count: u32,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivery_error: Option<String>,
    pub redelivery_of: Option<DeliveryId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// The result of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Delivered { status: u16, body: String },
    /// 410 Gone: failed, and the endpoint is disabled at once.
    Gone { body: String },
    /// Anything else; `retry_after` from a 429/503.
    Failed {
        status: Option<u16>,
        body: Option<String>,
        error: String,
        retry_after: Option<Duration>,
    },
}

impl Delivery {
    /// A new pending delivery, due at `now`.
    pub fn new(
        id: DeliveryId,
        webhook: &Webhook,
        event_id: EventId,
        event_type: &str,
        payload: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            webhook_id: webhook.0.id,
            org_id: webhook.0.org_id,
            event_id,
            event_type: event_type.to_owned(),
            payload,
            status: DeliveryStatus::Pending,
            response_status_code: None,
            response_body: None,
            attempt_count: 0,
            next_retry_at: Some(now),
            last_attempt_at: None,
            delivery_error: None,
            redelivery_of: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Whether the delivery succeeded.
    pub fn delivered(&self) -> bool {
        self.status == DeliveryStatus::Delivered
    }

    /// Marks a pending delivery failed without an attempt (endpoint deleted or disabled).
    pub fn abandon(&mut self, reason: &str, now: DateTime<Utc>) {
        if self.status == DeliveryStatus::Pending {
            self.status = DeliveryStatus::Failed;
            self.delivery_error = Some(reason.to_owned());
            self.next_retry_at = None;
            self.updated_at = now;
        }
    }

    /// Applies an attempt's outcome; `jitter` in `[0, 1)` spreads the next retry.
    pub fn record(&mut self, outcome: AttemptOutcome, now: DateTime<Utc>, jitter: f64) {
        const BODY_LIMIT: usize = 10_000;
        let clip = |b: String| b.chars().take(BODY_LIMIT).collect::<String>();
        self.attempt_count += 1;
        self.last_attempt_at = Some(now);
        self.updated_at = now;
        match outcome {
            AttemptOutcome::Delivered { status, body } => {
                self.status = DeliveryStatus::Delivered;
                self.response_status_code = Some(status);
                self.response_body = Some(clip(body));
                self.delivery_error = None;
                self.next_retry_at = None;
            }
            AttemptOutcome::Gone { body } => {
                self.status = DeliveryStatus::Failed;
                self.response_status_code = Some(410);
                self.response_body = Some(clip(body));
                self.delivery_error = Some("HTTP 410".to_owned());
                self.next_retry_at = None;
            }
            AttemptOutcome::Failed {
                status,
                body,
                error,
                retry_after,
            } => {
                self.response_status_code = status;
                self.response_body = body.map(clip);
                self.delivery_error = Some(error);
                self.next_retry_at = next_attempt_at(self.attempt_count, now, jitter, retry_after);
                if self.next_retry_at.is_none() {
                    self.status = DeliveryStatus::Failed;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default()
    }

    #[test]
    fn the_schedule_has_eight_attempts_with_the_contract_delays() {
        let delays: Vec<i64> = (0..8).map(|n| base_delay(n).map_or(-1, |d| d.num_seconds())).collect();
        assert_eq!(delays, [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
        assert_eq!(base_delay(8), None);
        assert_eq!(next_attempt_at(8, t0(), 0.0, None), None);
    }

    #[test]
    fn jitter_adds_at_most_ten_percent_and_retry_after_lengthens_up_to_a_day() {
        let at = |j, ra| {
            next_attempt_at(2, t0(), j, ra)
                .map(|d| (d - t0()).num_seconds())
                .unwrap_or_default()
        };
        assert_eq!(at(0.0, None), 300);
        assert_eq!(at(0.999_999, None), 329);
        assert_eq!(
            at(0.0, Some(Duration::seconds(10))),
            300,
            "a shorter Retry-After does not shorten"
        );
        assert_eq!(at(0.0, Some(Duration::hours(3))), 3 * 3600);
        assert_eq!(at(0.0, Some(Duration::days(9))), 86_400);
    }

    fn hook() -> Webhook {
        Webhook::restore(WebhookRecord {
            id: WebhookId::from_uuid(uuid::Uuid::from_u128(1)),
            org_id: OrgId::from_uuid(uuid::Uuid::from_u128(2)),
            name: "h".into(),
            url: "https://example.com/h".into(),
            events: vec!["member.added".into()],
            is_active: true,
            disabled_reason: None,
            secret: "whsec_new".into(),
            previous_secret: Some("whsec_old".into()),
            previous_secret_expires_at: Some(t0() + Duration::hours(1)),
            failing_since: None,
            created_at: t0(),
            updated_at: t0(),
            deleted_at: None,
            version: 1,
        })
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let text = format!("{:?}", hook());
        assert!(!text.contains("whsec_new") && !text.contains("whsec_old"), "{text}");
    }

    #[test]
    fn eight_failed_attempts_fail_the_delivery_and_a_success_clears_the_error() {
        let mut d = Delivery::new(
            DeliveryId::from_uuid(uuid::Uuid::from_u128(3)),
            &hook(),
            EventId::from_uuid(uuid::Uuid::from_u128(4)),
            "member.added",
            "{}".into(),
            t0(),
        );
        let fail = || AttemptOutcome::Failed {
            status: Some(500),
            body: Some("x".repeat(20_000)),
            error: "HTTP 500".into(),
            retry_after: None,
        };
        for n in 1..8 {
            d.record(fail(), t0(), 0.0);
            assert_eq!((d.status, d.attempt_count), (DeliveryStatus::Pending, n));
            assert_eq!(
                d.next_retry_at.map(|at| (at - t0()).num_seconds()),
                base_delay(n).map(|b| b.num_seconds())
            );
        }
        assert_eq!(d.response_body.as_ref().map(|b| b.chars().count()), Some(10_000));
        d.record(fail(), t0(), 0.0);
        assert_eq!((d.status, d.next_retry_at), (DeliveryStatus::Failed, None));
        let mut ok = d.clone();
        ok.status = DeliveryStatus::Pending;
        ok.record(
            AttemptOutcome::Delivered {
                status: 204,
                body: String::new(),
            },
            t0(),
            0.0,
        );
        assert!(ok.delivered() && ok.delivery_error.is_none());
    }

    #[test]
    fn a_rotation_overlap_signs_with_both_secrets_until_it_expires() {
        let h = hook();
        assert_eq!(h.signing_secrets(t0()), ["whsec_new", "whsec_old"]);
        assert_eq!(h.signing_secrets(t0() + Duration::hours(1)), ["whsec_new"]);
        let mut off = h.clone();
        assert!(off.gone(t0()).is_some());
        assert!(off.gone(t0()).is_none(), "a disabled endpoint is disabled once");
        assert!(h.subscribes("member.added") && !h.subscribes("role.created") && !off.subscribes("member.added"));
    }

    #[test]
    fn an_endpoint_is_disabled_after_five_days_of_failures() {
        let mut h = hook();
        assert!(h.attempt_failed(t0()).is_none());
        assert!(h.attempt_failed(t0() + Duration::days(4)).is_none());
        assert_eq!(
            h.attempt_failed(t0() + Duration::days(5)),
            Some(WebhookEvent::Disabled {
                webhook_id: h.id(),
                reason: DisabledReason::Failing
            })
        );
        assert_eq!(
            (h.record().is_active, h.record().disabled_reason),
            (false, Some(DisabledReason::Failing))
        );
        let mut healed = hook();
        healed.attempt_failed(t0());
        healed.attempt_succeeded(t0() + Duration::days(1));
        assert!(
            healed.attempt_failed(t0() + Duration::days(5)).is_none(),
            "a success restarts the window"
        );
    }

    #[test]
    fn endpoints_failing_for_five_days_are_disabled() {
        assert!(!should_auto_disable(None, t0()));
        assert!(!should_auto_disable(
            Some(t0()),
            t0() + Duration::days(5) - Duration::seconds(1)
        ));
        assert!(should_auto_disable(Some(t0()), t0() + Duration::days(5)));
    }

    #[test]
    fn subscriptions_must_name_known_types_and_collapse_duplicates() {
        let known = ["member.added", "role.created"];
        let ok = subscription(
            &["role.created".into(), "member.added".into(), "role.created".into()],
            &known,
        );
        assert_eq!(ok, Ok(vec!["role.created".to_owned(), "member.added".to_owned()]));
        assert!(subscription(&[], &known).is_err());
        let fields = match subscription(&["x".into(), "member.added".into(), "webhook.test.ping".into()], &known) {
            Err(DomainError::Validation(e)) => e.into_iter().map(|f| f.field).collect::<Vec<_>>(),
            other => vec![format!("{other:?}")],
        };
        assert_eq!(fields, ["events[0]", "events[2]"]);
    }
}
