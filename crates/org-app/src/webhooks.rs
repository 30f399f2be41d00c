//! Webhook use cases (§9.2) and the delivery step the worker runs (§9.6, §9.7).

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use org_domain::webhook::{AttemptOutcome, Delivery, DeliveryStatus, DisabledReason, Webhook, WebhookEvent};
use org_domain::{Capability, DeliveryId, DomainEvent, EventId, Organization, WebhookId};
use org_ports::{
    Changeset, DeliveryFilter, OutboundRequest, OutboxEvent, Page, PageRequest, Resolver, SendResult, WebhookSender,
};
use serde_json::json;

use crate::core::Decision;
use crate::outbound::{Guard, Target, UrlError};
use crate::record::{Caller, Recorder, RequestMeta};
use crate::{AppError, WEBHOOK_EVENT_TYPES};

/// A resolver that resolves nothing (tests and embedders without DNS): names are accepted at
/// create time, as names that do not resolve yet are (§9.3).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDns;

#[async_trait::async_trait]
impl Resolver for NoDns {
    async fn resolve(&self, _host: &str, _port: u16) -> Vec<IpAddr> {
        Vec::new()
    }
}

/// The SSRF guard and the resolver it checks names with.
#[derive(Clone)]
pub struct Outbound {
    pub guard: Guard,
    pub resolver: Arc<dyn Resolver>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl Default for Outbound {
    fn default() -> Self {
        Self {
            guard: Guard::default(),
            resolver: Arc::new(NoDns),
        }
    }
}

/// Body of create/update.
pub type WebhookInput = org_domain::webhook::WebhookDraft;

/// An endpoint, and its secret when just created or rotated.
#[derive(Clone, Debug)]
pub struct WebhookView {
    pub webhook: Webhook,
    pub show_secret: bool,
}

/// Result of test and redeliver.
#[derive(Clone, Copy, Debug)]
pub struct Enqueued {
    pub delivery_id: DeliveryId,
}

/// What one worker pass did, for metrics (§21.3).
#[derive(Clone, Debug, Default)]
pub struct DeliveryReport {
    pub delivered: u32,
    pub attempt_failed: u32,
    pub failed: u32,
    /// Seconds from the event to the receiver's 2xx, per delivered first attempt.
    pub lags: Vec<f64>,
    pub disabled: Vec<DisabledReason>,
}

fn subscribable() -> Vec<&'static str> {
    WEBHOOK_EVENT_TYPES.iter().map(|t| t.value).collect()
}

fn url_error(e: UrlError) -> AppError {
    let message = match e {
        UrlError::Invalid(m) => m,
        UrlError::Denied(ip) => format!("the address {ip} is not allowed (private, loopback or reserved)"),
        UrlError::DeniedName => "localhost names are not allowed".to_owned(),
    };
    AppError::invalid("url", message)
}

impl Outbound {
    /// §9.3 at create/update: syntax, IP literals, and every address a name resolves to now.
    pub async fn check(&self, url: &str) -> Result<(), AppError> {
        match self.guard.check_url(url).map_err(url_error)? {
            Target::Ip(..) => Ok(()),
            Target::Name(host, port) => {
                for ip in self.resolver.resolve(&host, port).await {
                    if !self.guard.ip_allowed(ip) {
                        return Err(url_error(UrlError::Denied(ip)));
                    }
                }
                Ok(())
            }
        }
    }
}

service! {
    /// Webhook endpoints (§9.2) and the delivery step the worker runs (§9.6, §9.7).
    WebhookService
}

impl WebhookService {
    fn new_secret(&self) -> String {
        format!("whsec_{}", STANDARD.encode(self.core.tokens.random_bytes()))
    }

    async fn org_webhook(&self, org: &Organization, id: &str) -> Result<Option<Webhook>, AppError> {
        let Some(id) = WebhookId::parse(id) else {
            return Ok(None);
        };
        Ok(self.core.stores.webhooks.webhook(org.id(), id).await?)
    }

    async fn name_taken(&self, org: &Organization, name: &str, except: Option<WebhookId>) -> Result<bool, AppError> {
        Ok(self
            .core
            .stores
            .webhooks
            .org_webhooks(org.id())
            .await?
            .iter()
            .any(|w| w.name() == name && Some(w.id()) != except))
    }

    /// The org and the caller's principal for a webhook read (`webhooks.manage`).
    async fn read(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<Organization, AppError> {
        let (org, _) = self
            .core
            .read(caller, meta, slug, |a| a.require(Capability::WebhooksManage))
            .await?;
        Ok(org)
    }

    /// `POST …/webhooks`.
    pub async fn create(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        input: WebhookInput,
    ) -> Result<WebhookView, AppError> {
        let core = &self.core;
        let input = &input;
        core.mutate(caller, meta, slug, |s| async move {
            let id = WebhookId::from_uuid(core.new_uuid());
            let new = s.access.new_webhook(id, input, self.new_secret(), &subscribable())?;
            core.outbound.check(&new.url).await?;
            let taken = self.name_taken(&s.org, &new.name, None).await?;
            let (w, outcome) = s.access.create_webhook(new, taken, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.webhooks.push(w.clone());
            Ok(Decision::new(
                c,
                WebhookView {
                    webhook: w.with_version(1),
                    show_secret: true,
                },
            ))
        })
        .await
    }

    /// `GET …/webhooks`.
    pub async fn list(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<Vec<Webhook>, AppError> {
        let org = self.read(caller, meta, slug).await?;
        Ok(self.core.stores.webhooks.org_webhooks(org.id()).await?)
    }

    /// `GET …/webhooks/:id`.
    pub async fn get(&self, caller: &Caller, meta: &RequestMeta, slug: &str, id: &str) -> Result<Webhook, AppError> {
        let org = self.read(caller, meta, slug).await?;
        self.org_webhook(&org, id).await?.ok_or_else(AppError::not_found)
    }

    /// `PATCH …/webhooks/:id`.
    pub async fn update(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
        input: WebhookInput,
    ) -> Result<Webhook, AppError> {
        let core = &self.core;
        let input = &input;
        core.mutate(caller, meta, slug, |s| async move {
            let upd = s.access.webhook_update(input, &subscribable())?;
            if let Some(url) = &upd.url {
                core.outbound.check(url).await?;
            }
            let mut w = self.org_webhook(&s.org, id).await?;
            let taken = match (&upd.name, &w) {
                (Some(n), Some(w)) => self.name_taken(&s.org, n, Some(w.id())).await?,
                _ => false,
            };
            let outcome = s.access.update_webhook(w.as_mut(), upd, taken, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            let w = w.ok_or_else(AppError::not_found)?;
            if outcome.events.is_empty() {
                return Ok(Decision::new(c, w));
            }
            c.webhooks.push(w.clone());
            let version = w.record().version + 1;
            Ok(Decision::new(c, w.with_version(version)))
        })
        .await
    }

    /// `DELETE …/webhooks/:id`: pending deliveries fail with "webhook deleted".
    pub async fn delete(&self, caller: &Caller, meta: &RequestMeta, slug: &str, id: &str) -> Result<(), AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let mut w = self.org_webhook(&s.org, id).await?;
            let now = s.now();
            let outcome = s.access.delete_webhook(w.as_mut(), now)?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            let w = w.ok_or_else(AppError::not_found)?;
            for mut d in core.stores.webhooks.pending_deliveries(w.id()).await? {
                d.abandon("webhook deleted", now);
                c.deliveries.push(d);
            }
            c.webhooks.push(w);
            Ok(Decision::new(c, ()))
        })
        .await
    }

    /// `GET …/webhooks/:id/deliveries`, newest first.
    pub async fn deliveries(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
        filter: &DeliveryFilter,
        page: PageRequest,
    ) -> Result<(Webhook, Page<Delivery>), AppError> {
        let org = self.read(caller, meta, slug).await?;
        let w = self.org_webhook(&org, id).await?.ok_or_else(AppError::not_found)?;
        let page = self
            .core
            .stores
            .webhooks
            .webhook_deliveries(w.id(), filter, page)
            .await?;
        Ok((w, page))
    }

    /// `POST …/webhooks/:id/test`: one `webhook.test.ping` to this endpoint.
    pub async fn test(&self, caller: &Caller, meta: &RequestMeta, slug: &str, id: &str) -> Result<Enqueued, AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let w = self.org_webhook(&s.org, id).await?;
            let did = DeliveryId::from_uuid(core.new_uuid());
            let outcome = s.access.test_webhook(w.as_ref(), did)?;
            let w = w.ok_or_else(AppError::not_found)?;
            let now = s.now();
            let event = OutboxEvent {
                id: EventId::from_uuid(core.new_uuid()),
                org_id: s.org.id(),
                event_type: "webhook.test.ping".into(),
                occurred_at: now,
                actor_user_id: Some(caller.user.id()),
                actor_email: Some(caller.user.email().as_str().to_owned()),
                target_type: Some("webhook".into()),
                target_id: Some(w.id().to_string()),
                data: json!({"webhook_id": w.id().to_string()}),
            };
            let delivery = Delivery::new(
                did,
                &w,
                event.id,
                &event.event_type,
                org_ports::webhooks::envelope(&event),
                now,
            );
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.events.push(event);
            c.deliveries.push(delivery);
            Ok(Decision::new(c, Enqueued { delivery_id: did }))
        })
        .await
    }

    /// `POST …/webhooks/:id/deliveries/:delivery_id/redeliver`: the same event again.
    pub async fn redeliver(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
        delivery_id: &str,
    ) -> Result<Enqueued, AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let w = self.org_webhook(&s.org, id).await?;
            let original = match DeliveryId::parse(delivery_id) {
                Some(did) => core.stores.webhooks.delivery(did).await?,
                None => None,
            };
            let new_id = DeliveryId::from_uuid(core.new_uuid());
            let outcome = s.access.redeliver(w.as_ref(), original.as_ref(), new_id)?;
            let (w, original) = match (w, original) {
                (Some(w), Some(o)) => (w, o),
                _ => return Err(AppError::not_found()),
            };
            let mut again = Delivery::new(
                new_id,
                &w,
                original.event_id,
                &original.event_type,
                original.payload.clone(),
                s.now(),
            );
            again.redelivery_of = Some(original.id);
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.deliveries.push(again);
            Ok(Decision::new(c, Enqueued { delivery_id: new_id }))
        })
        .await
    }

    /// `POST …/webhooks/:id/rotate-secret`: the old secret keeps signing for `ttl_seconds`.
    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
        ttl_seconds: Option<i64>,
    ) -> Result<Webhook, AppError> {
        let ttl = Duration::seconds(ttl_seconds.unwrap_or(86_400));
        self.core
            .mutate(caller, meta, slug, |s| async move {
                let mut w = self.org_webhook(&s.org, id).await?;
                let outcome = s
                    .access
                    .rotate_webhook_secret(w.as_mut(), self.new_secret(), ttl, s.now())?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                let w = w.ok_or_else(AppError::not_found)?;
                c.webhooks.push(w.clone());
                let version = w.record().version + 1;
                Ok(Decision::new(c, w.with_version(version)))
            })
            .await
    }

    /// One worker pass: claims up to `limit` due deliveries and attempts them concurrently,
    /// each once, recording the outcomes. Returns when every attempt of the pass is recorded.
    pub async fn deliver_due(&self, sender: Arc<dyn WebhookSender>, limit: u32) -> Result<DeliveryReport, AppError> {
        let now = self.core.now();
        let claimed = self
            .core
            .stores
            .queue
            .claim_due(now, now + self.core.config.worker_lease, limit)
            .await?;
        let mut tasks = tokio::task::JoinSet::new();
        for d in claimed {
            let (service, sender) = (self.clone(), sender.clone());
            tasks.spawn(async move {
                let mut report = DeliveryReport::default();
                service.attempt(&*sender, d, &mut report).await.map(|()| report)
            });
        }
        let mut report = DeliveryReport::default();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(r)) => {
                    report.delivered += r.delivered;
                    report.attempt_failed += r.attempt_failed;
                    report.failed += r.failed;
                    report.lags.extend(r.lags);
                    report.disabled.extend(r.disabled);
                }
                Ok(Err(e)) => first_error = first_error.or(Some(e)),
                Err(e) => first_error = first_error.or(Some(AppError::Internal(format!("delivery task: {e}")))),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    async fn attempt(
        &self,
        sender: &dyn WebhookSender,
        mut d: Delivery,
        report: &mut DeliveryReport,
    ) -> Result<(), AppError> {
        let core = &self.core;
        let webhook = core.stores.webhooks.webhook(d.org_id, d.webhook_id).await?;
        let Some(w) = webhook.filter(Webhook::is_active) else {
            d.abandon("webhook deleted or disabled", core.now());
            report.failed += 1;
            return core
                .commit(Changeset {
                    deliveries: vec![d],
                    ..Default::default()
                })
                .await
                .or_else(ignore_stale);
        };
        let sent_at = core.now();
        let ts = sent_at.timestamp();
        let secrets = w.signing_secrets(sent_at);
        let id = d.event_id.to_string();
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "user-agent".to_owned(),
                format!("org-server-webhooks/{}", env!("CARGO_PKG_VERSION")),
            ),
            (
                "x-webhook-signature".to_owned(),
                crate::signing::compat_signature(secrets[0], d.payload.as_bytes()),
            ),
            ("x-webhook-timestamp".to_owned(), ts.to_string()),
            ("webhook-id".to_owned(), id.clone()),
            ("webhook-timestamp".to_owned(), ts.to_string()),
            (
                "webhook-signature".to_owned(),
                crate::signing::standard_signature(&secrets, &id, ts, d.payload.as_bytes()),
            ),
        ];
        let result = sender
            .send(OutboundRequest {
                url: w.url().to_owned(),
                headers,
                body: d.payload.clone(),
            })
            .await;
        let now = core.now();
        let outcome = match result {
            SendResult::Response { status, body, .. } if (200..300).contains(&status) => {
                AttemptOutcome::Delivered { status, body }
            }
            SendResult::Response { status: 410, body, .. } => AttemptOutcome::Gone { body },
            SendResult::Response {
                status,
                body,
                retry_after,
            } => {
                let retry_after = if status == 429 || status == 503 {
                    retry_after
                } else {
                    None
                };
                AttemptOutcome::Failed {
                    status: Some(status),
                    body: Some(body),
                    error: format!("HTTP {status}"),
                    retry_after,
                }
            }
            SendResult::Error(class) => AttemptOutcome::Failed {
                status: None,
                body: None,
                error: class,
                retry_after: None,
            },
        };
        let jitter = f64::from(core.tokens.random_bytes()[0]) / 256.0;
        let effect = match &outcome {
            AttemptOutcome::Delivered { .. } => Effect::Success,
            AttemptOutcome::Gone { .. } => Effect::Gone,
            AttemptOutcome::Failed { .. } => Effect::Failure,
        };
        let first_attempt = d.attempt_count == 0;
        d.record(outcome, now, jitter);
        // The claim made this delivery ours: its result commits on its own, so concurrent
        // attempts to one endpoint never conflict on the endpoint row.
        let committed = core
            .commit(Changeset {
                deliveries: vec![d.clone()],
                ..Default::default()
            })
            .await;
        if committed == Err(AppError::Stale) {
            return Ok(()); // the lease was lost to another worker, which owns the result now
        }
        committed?;
        match d.status {
            DeliveryStatus::Pending => report.attempt_failed += 1,
            DeliveryStatus::Failed => report.failed += 1,
            DeliveryStatus::Delivered => {
                report.delivered += 1;
                if first_attempt {
                    report
                        .lags
                        .push((now - d.created_at).num_milliseconds() as f64 / 1000.0);
                }
            }
        }
        if let Some(reason) = self.endpoint_after_attempt(d.org_id, w.id(), effect, now).await? {
            report.disabled.push(reason);
        }
        Ok(())
    }

    /// Applies an attempt's effect to the endpoint (failure window, 410, auto-disable), retried
    /// on concurrent changes; writes only when the endpoint changes. Returns a new disabling.
    async fn endpoint_after_attempt(
        &self,
        org: org_domain::OrgId,
        id: WebhookId,
        effect: Effect,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<DisabledReason>, AppError> {
        let core = &self.core;
        core.retry(|| async {
            let Some(mut w) = core.stores.webhooks.webhook(org, id).await? else {
                return Ok(None);
            };
            let before = w.clone();
            let disabled = match effect {
                Effect::Success => {
                    w.attempt_succeeded(now);
                    None
                }
                Effect::Gone => w.gone(now),
                Effect::Failure => w.attempt_failed(now),
            };
            if w == before {
                return Ok(None);
            }
            let mut c = Changeset::default();
            let reason = match &disabled {
                Some(event @ WebhookEvent::Disabled { reason, .. }) => {
                    for mut pending in core.stores.webhooks.pending_deliveries(w.id()).await? {
                        pending.abandon("webhook disabled", now);
                        c.deliveries.push(pending);
                    }
                    let meta = RequestMeta::default();
                    Recorder::system(core, &meta, now).record(
                        &mut c,
                        Some(w.org_id()),
                        None,
                        &[DomainEvent::Webhook(event.clone())],
                    );
                    Some(*reason)
                }
                _ => None,
            };
            c.webhooks.push(w);
            core.commit(c).await.map(|()| reason)
        })
        .await
    }

    /// Pending deliveries across all endpoints (the `outbox_pending_events` gauge).
    pub async fn pending_count(&self) -> Result<u64, AppError> {
        Ok(self.core.stores.queue.pending_count().await?)
    }
}

/// What an attempt means for its endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Success,
    Gone,
    Failure,
}

/// A lost lease (another worker took the delivery) is not an error of this pass.
fn ignore_stale(e: AppError) -> Result<(), AppError> {
    if e == AppError::Stale { Ok(()) } else { Err(e) }
}
