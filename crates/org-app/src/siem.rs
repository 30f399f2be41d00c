//! SIEM streaming (§17): config use cases, the wire formats of each provider, and the
//! streaming step the worker runs — per config, under its own lease, from its own cursor.
//!
//! The stream reads the org's audit log in `seq` order (`seq > cursor ORDER BY seq LIMIT
//! batch_size`), sends a batch when it is full or [`BATCH_WAIT`](org_domain::siem::BATCH_WAIT) after its oldest entry, and
//! advances the cursor only after the receiver accepted the batch (a compare-and-set on the
//! cursor, so a worker that lost its lease never moves the stream). Failures back off
//! ([`org_domain::siem::backoff`]); the same batch is retried, never skipped.

use chrono::{DateTime, SecondsFormat, Utc};
use org_domain::siem::{SiemConfig, SiemDraft, SiemEvent, SiemProgress, SiemProvider, batch_ready};
use org_domain::{EventId, Organization, SiemConfigId};
use org_ports::{
    ActorType, AuditEntry, AuditFilter, AuditLog, OutboundRequest, PageRequest, SendResult, SiemProgressWrite,
    WebhookSender,
};
use serde_json::{Map, Value, json};

use crate::AppError;
use crate::catalogue::{Described, changes_json};
use crate::core::Decision;
use crate::record::{Caller, RequestMeta};

/// SIEM configs (§17) and the streaming step of the worker.
#[derive(Clone)]
pub struct SiemService {
    pub(crate) core: std::sync::Arc<crate::core::Core>,
    /// This process's lease holder id.
    pub(crate) holder: uuid::Uuid,
}

impl std::fmt::Debug for SiemService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiemService").finish_non_exhaustive()
    }
}

/// The answer of `POST …/siem-configs/:id/test`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiemTestResult {
    pub success: bool,
    /// `HTTP <status>` or the error class.
    pub message: String,
}

/// What a receiver's answer to a batch means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    Accepted,
    /// Failed, with the `last_error` text.
    Failed(String),
}

/// One batch a pass sent.
#[derive(Clone, Debug, PartialEq)]
pub struct SentBatch {
    pub provider: SiemProvider,
    pub entries: usize,
    pub outcome: BatchOutcome,
    /// Seconds from each accepted entry's commit (`created_at`) to the receiver's 2xx.
    pub lags: Vec<f64>,
}

/// What one streaming pass did, for metrics (`siem_batches_total{provider, outcome}`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamReport {
    pub batches: Vec<SentBatch>,
}

impl StreamReport {
    /// Whether any batch went out (the worker runs again at once).
    pub fn sent_any(&self) -> bool {
        !self.batches.is_empty()
    }
}

/// Batches one config sends in a row before the pass moves on (fairness between configs).
const BATCHES_PER_TURN: usize = 50;
/// Configs read per page of a pass.
const CONFIG_PAGE: u32 = 100;

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An entry as `AuditLogEntry` (§8.2, already redacted at write), with its chain position.
pub fn entry_json(e: &AuditEntry) -> Map<String, Value> {
    let d = &e.entry;
    let actor = (d.actor.kind == ActorType::User).then(|| json!({"id": d.actor.id, "email": d.actor.email}));
    let v = json!({
        "id": d.id.to_string(),
        "organization_id": d.org_id.map(|o| o.to_string()),
        "actor_id": d.actor.id,
        "actor_type": d.actor.kind.as_str(),
        "actor": actor,
        "action": d.action,
        "target_type": d.target_type,
        "target_id": d.target_id,
        "ip_address": d.ip_address,
        "user_agent": d.user_agent,
        "success": d.success,
        "metadata": d.metadata,
        "request_id": d.request_id,
        "created_at": ts(d.created_at),
        "seq": e.seq,
        "prev_hash": org_ports::chain::to_hex(&e.prev_hash),
        "hash": org_ports::chain::to_hex(&e.hash),
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A request body and headers in the provider's format (§17 table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireBatch {
    pub content_type: &'static str,
    pub body: String,
}

/// The body of a batch of `entries` for `config` of the org `slug`.
pub fn wire_batch(config: &SiemConfig, slug: &str, entries: &[AuditEntry]) -> WireBatch {
    let r = config.record();
    match r.provider {
        SiemProvider::Datadog => {
            let items: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let d = &e.entry;
                    let actor = d.actor.email.clone().unwrap_or_else(|| d.actor.id.clone());
                    let target = format!(
                        "{}:{}",
                        d.target_type.as_deref().unwrap_or("-"),
                        d.target_id.as_deref().unwrap_or("-")
                    );
                    let mut m = entry_json(e);
                    m.insert("ddsource".into(), json!("org-server"));
                    m.insert("service".into(), json!("org-server"));
                    m.insert("ddtags".into(), json!(format!("org:{slug},action:{}", d.action)));
                    m.insert("message".into(), json!(format!("{} by {actor} on {target}", d.action)));
                    Value::Object(m)
                })
                .collect();
            WireBatch {
                content_type: "application/json",
                body: Value::Array(items).to_string(),
            }
        }
        SiemProvider::Splunk => {
            let lines: Vec<String> = entries
                .iter()
                .map(|e| {
                    let time = e.entry.created_at.timestamp_millis() as f64 / 1000.0;
                    json!({
                        "time": time,
                        "source": "org-server",
                        "sourcetype": "_json",
                        "event": Value::Object(entry_json(e)),
                    })
                    .to_string()
                })
                .collect();
            WireBatch {
                content_type: "application/json",
                body: lines.join("\n"),
            }
        }
        SiemProvider::Elastic => {
            let mut body = String::new();
            for e in entries {
                body.push_str(&json!({"create": {"_id": e.entry.id.to_string()}}).to_string());
                body.push('\n');
                let mut m = entry_json(e);
                m.insert("@timestamp".into(), json!(ts(e.entry.created_at)));
                body.push_str(&Value::Object(m).to_string());
                body.push('\n');
            }
            WireBatch {
                content_type: "application/x-ndjson",
                body,
            }
        }
        SiemProvider::Custom => {
            let (first, last) = match (entries.first(), entries.last()) {
                (Some(f), Some(l)) => (f.seq, l.seq),
                _ => (0, 0),
            };
            let events: Vec<Value> = entries.iter().map(|e| Value::Object(entry_json(e))).collect();
            WireBatch {
                content_type: "application/json",
                body: json!({
                    "source": "org-server",
                    "organization_id": r.org_id.to_string(),
                    "batch_id": format!("{}-{first}-{last}", r.id),
                    "events": events,
                })
                .to_string(),
            }
        }
    }
}

/// The auth header of a config (§17 table), if any.
pub fn auth_header(config: &SiemConfig) -> Option<(String, String)> {
    let r = config.record();
    let key = r.api_key.as_deref();
    match r.provider {
        SiemProvider::Datadog => key.map(|k| ("DD-API-KEY".to_owned(), k.to_owned())),
        SiemProvider::Splunk => key.map(|k| ("Authorization".to_owned(), format!("Splunk {k}"))),
        SiemProvider::Elastic => key.map(|k| ("Authorization".to_owned(), format!("ApiKey {k}"))),
        SiemProvider::Custom => match (r.auth_header.as_deref(), key) {
            (Some(h), _) => Some(match h.split_once(':') {
                Some((name, value)) => (name.trim().to_owned(), value.trim().to_owned()),
                None => ("Authorization".to_owned(), h.to_owned()),
            }),
            (None, Some(k)) => Some(("Authorization".to_owned(), format!("Bearer {k}"))),
            (None, None) => None,
        },
    }
}

/// The request of a batch.
pub fn request(config: &SiemConfig, wire: WireBatch) -> OutboundRequest {
    let mut headers = vec![
        ("content-type".to_owned(), wire.content_type.to_owned()),
        (
            "user-agent".to_owned(),
            format!("org-server-siem/{}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    headers.extend(auth_header(config));
    OutboundRequest {
        url: config.record().endpoint_url.clone(),
        headers,
        body: wire.body,
    }
}

/// What the receiver's answer means (§17): 2xx accepted; for Elastic a 2xx whose body says
/// `errors: true` is a failure unless every failed item is a 409 (already stored).
pub fn judge(provider: SiemProvider, result: &SendResult) -> BatchOutcome {
    match result {
        SendResult::Response { status, body, .. } if (200..300).contains(status) => {
            if provider == SiemProvider::Elastic {
                elastic_outcome(body)
            } else {
                BatchOutcome::Accepted
            }
        }
        SendResult::Response { status, .. } => BatchOutcome::Failed(format!("HTTP {status}")),
        SendResult::Error(class) => BatchOutcome::Failed(class.clone()),
    }
}

fn elastic_outcome(body: &str) -> BatchOutcome {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return BatchOutcome::Accepted;
    };
    if v.get("errors").and_then(Value::as_bool) != Some(true) {
        return BatchOutcome::Accepted;
    }
    let items = v.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    let failed: Vec<u64> = items
        .iter()
        .filter_map(|item| item.as_object()?.values().next()?.get("status")?.as_u64())
        .filter(|s| !(200..300).contains(s))
        .collect();
    match failed.iter().find(|s| **s != 409) {
        None if !items.is_empty() => BatchOutcome::Accepted,
        None => BatchOutcome::Failed("elastic_errors".to_owned()),
        Some(s) => BatchOutcome::Failed(format!("elastic_item_error HTTP {s}")),
    }
}

/// Audit entry and webhook event of a config event (§23.1, §23.2).
pub(crate) fn describe(event: &SiemEvent) -> Described {
    let d = |action, id: &SiemConfigId, metadata, webhook| Described {
        action: Some(action),
        target: Some(("siem_config", id.to_string())),
        metadata,
        webhooks: vec![(action, webhook)],
        ..Described::none()
    };
    match event {
        SiemEvent::Created {
            siem_config_id,
            name,
            provider,
        } => {
            let m =
                json!({"siem_config_id": siem_config_id.to_string(), "name": name, "provider_type": provider.as_str()});
            d("siem_config.created", siem_config_id, m.clone(), m)
        }
        SiemEvent::Updated {
            siem_config_id,
            changes,
            secrets_changed,
        } => {
            let mut c = changes_json(changes);
            if let Value::Object(map) = &mut c {
                for field in secrets_changed {
                    map.insert((*field).to_owned(), json!("[REDACTED]"));
                }
            }
            d(
                "siem_config.updated",
                siem_config_id,
                json!({"changes": c}),
                json!({"siem_config_id": siem_config_id.to_string(), "changes": c}),
            )
        }
        SiemEvent::Deleted { siem_config_id, name } => d(
            "siem_config.deleted",
            siem_config_id,
            json!({"siem_config_id": siem_config_id.to_string(), "name": name}),
            json!({"siem_config_id": siem_config_id.to_string()}),
        ),
    }
}

impl SiemService {
    async fn org_config(&self, org: &Organization, id: &str) -> Result<Option<SiemConfig>, AppError> {
        let Some(id) = SiemConfigId::parse(id) else {
            return Ok(None);
        };
        Ok(self.core.stores.siem.siem_config(org.id(), id).await?)
    }

    async fn name_taken(&self, org: &Organization, name: &str, except: Option<SiemConfigId>) -> Result<bool, AppError> {
        Ok(self
            .core
            .stores
            .siem
            .org_siem_configs(org.id())
            .await?
            .iter()
            .any(|c| c.name() == name && Some(c.id()) != except))
    }

    async fn check_url(&self, url: &str) -> Result<(), AppError> {
        self.core.outbound.check(url).await.map_err(|e| match e {
            AppError::Domain(org_domain::DomainError::Validation(errors)) => {
                AppError::Domain(org_domain::DomainError::Validation(
                    errors
                        .into_iter()
                        .map(|mut f| {
                            f.field = "endpoint_url".to_owned();
                            f
                        })
                        .collect(),
                ))
            }
            other => other,
        })
    }

    /// `POST …/siem-configs`: the tier gate, every field rule (the URL by the outbound guard),
    /// the name unique in the org; audit `siem_config.created` and its event in the same commit.
    pub async fn create(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        draft: SiemDraft,
    ) -> Result<SiemConfig, AppError> {
        let core = &self.core;
        let draft = &draft;
        core.mutate(caller, meta, slug, |s| async move {
            let id = SiemConfigId::from_uuid(core.new_uuid());
            let features = core.features(&s.org);
            let new = s.access.new_siem_config(id, draft, &features)?;
            self.check_url(&new.endpoint_url).await?;
            let taken = self.name_taken(&s.org, &new.name, None).await?;
            let (c, outcome) = s.access.create_siem_config(new, taken, s.now())?;
            let mut changes = s.record(&outcome.principal, &outcome.events);
            changes.siem_configs.push(c.clone());
            Ok(Decision::new(changes, c.with_version(1)))
        })
        .await
    }

    /// `GET …/siem-configs`, oldest first.
    pub async fn list(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<Vec<SiemConfig>, AppError> {
        let (org, _) = self.core.read(caller, meta, slug, |a| a.read_siem_configs()).await?;
        Ok(self.core.stores.siem.org_siem_configs(org.id()).await?)
    }

    /// `GET …/siem-configs/:id`.
    pub async fn get(&self, caller: &Caller, meta: &RequestMeta, slug: &str, id: &str) -> Result<SiemConfig, AppError> {
        let (org, _) = self.core.read(caller, meta, slug, |a| a.read_siem_configs()).await?;
        self.org_config(&org, id).await?.ok_or_else(AppError::not_found)
    }

    /// `PUT …/siem-configs/:id` (partial): the fields present; no change writes nothing.
    pub async fn update(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
        draft: SiemDraft,
    ) -> Result<SiemConfig, AppError> {
        let core = &self.core;
        let draft = &draft;
        core.mutate(caller, meta, slug, |s| async move {
            let upd = s.access.siem_config_update(draft)?;
            let mut c = self.org_config(&s.org, id).await?;
            if c.is_some()
                && let Some(url) = &upd.endpoint_url
            {
                self.check_url(url).await?;
            }
            let taken = match (&upd.name, &c) {
                (Some(n), Some(c)) => self.name_taken(&s.org, n, Some(c.id())).await?,
                _ => false,
            };
            let outcome = s.access.update_siem_config(c.as_mut(), upd, taken, s.now())?;
            let mut changes = s.record(&outcome.principal, &outcome.events);
            let c = c.ok_or_else(AppError::not_found)?;
            if outcome.events.is_empty() {
                return Ok(Decision::new(changes, c));
            }
            changes.siem_configs.push(c.clone());
            let version = c.record().version + 1;
            Ok(Decision::new(changes, c.with_version(version)))
        })
        .await
    }

    /// `DELETE …/siem-configs/:id`: the stream stops with the row.
    pub async fn delete(&self, caller: &Caller, meta: &RequestMeta, slug: &str, id: &str) -> Result<(), AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let c = self.org_config(&s.org, id).await?;
            let outcome = s.access.delete_siem_config(c.as_ref())?;
            let mut changes = s.record(&outcome.principal, &outcome.events);
            changes.removed_siem_configs.extend(c);
            Ok(Decision::new(changes, ()))
        })
        .await
    }

    /// `POST …/siem-configs/:id/test`: one synthetic record (`action: "siem.test"`) in the
    /// provider's format, sent now; nothing is stored. Always an answer, never an error, once
    /// the config is found.
    pub async fn test(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<SiemTestResult, AppError> {
        let (org, _) = self.core.read(caller, meta, slug, |a| a.read_siem_configs()).await?;
        let stored = self.org_config(&org, id).await?;
        let c = stored.as_ref().ok_or_else(AppError::not_found)?;
        let now = self.core.now();
        let entry = AuditEntry {
            seq: 0,
            entry: org_ports::AuditDraft {
                id: EventId::from_uuid(self.core.new_uuid()),
                org_id: Some(org.id()),
                actor: org_ports::AuditActor::user(caller.user.id(), caller.user.email().as_str()),
                action: "siem.test".to_owned(),
                target_type: Some("siem_config".to_owned()),
                target_id: Some(c.id().to_string()),
                ip_address: meta.ip.clone(),
                user_agent: meta.user_agent.clone(),
                success: true,
                metadata: Some(json!({"message": "test record from org-server"})),
                request_id: meta.request_id.clone(),
                created_at: now,
            },
            prev_hash: org_ports::chain::GENESIS,
            hash: org_ports::chain::GENESIS,
        };
        let req = request(c, wire_batch(c, org.slug().as_str(), std::slice::from_ref(&entry)));
        let result = self.core.siem_sender.send(req).await;
        let message = match &result {
            SendResult::Response { status, .. } => format!("HTTP {status}"),
            SendResult::Error(class) => class.clone(),
        };
        Ok(match judge(c.provider(), &result) {
            BatchOutcome::Accepted => SiemTestResult { success: true, message },
            BatchOutcome::Failed(why) => SiemTestResult {
                success: false,
                message: why,
            },
        })
    }

    /// One streaming pass: every enabled config with no backoff pending, each under its own
    /// lease (`siem:<id>`), streams what is ready. Configs run concurrently.
    pub async fn stream_due(&self, sender: std::sync::Arc<dyn WebhookSender>) -> Result<StreamReport, AppError> {
        let mut after = None;
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let now = self.core.now();
            let page = self
                .core
                .stores
                .siem
                .streaming_siem_configs(now, after, CONFIG_PAGE)
                .await?;
            let full = page.len() == CONFIG_PAGE as usize;
            after = page.last().map(SiemConfig::id);
            for c in page {
                let (service, sender) = (self.clone(), sender.clone());
                tasks.spawn(async move { service.stream_one(&*sender, c.id(), c.org_id()).await });
            }
            if !full {
                break;
            }
        }
        let mut report = StreamReport::default();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(batches)) => report.batches.extend(batches),
                Ok(Err(e)) => first_error = first_error.or(Some(e)),
                Err(e) => first_error = first_error.or(Some(AppError::Internal(format!("siem task: {e}")))),
            }
        }
        match first_error {
            Some(e) if report.batches.is_empty() => Err(e),
            _ => Ok(report),
        }
    }

    /// The anchor of a new stream: just before the config's own `siem_config.created` entry
    /// (the whole kept log when that entry was pruned).
    async fn anchor(&self, c: &SiemConfig) -> Result<u64, AppError> {
        let filter = AuditFilter {
            action: Some("siem_config.created".to_owned()),
            target_type: Some("siem_config".to_owned()),
            target_id: Some(c.id().to_string()),
            ..AuditFilter::default()
        };
        let page = self
            .core
            .stores
            .audit
            .audit_entries(AuditLog::Org(c.org_id()), &filter, PageRequest::new(1, 1))
            .await?;
        Ok(page.items.first().map_or(0, |e| e.seq.saturating_sub(1)))
    }

    /// A lease-free look: whether the config has a batch to send now (most passes find none,
    /// and take no lease, so an idle stream costs two indexed reads).
    async fn has_ready_batch(
        &self,
        org_id: org_domain::OrgId,
        id: SiemConfigId,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        let Some(c) = self.core.stores.siem.siem_config(org_id, id).await? else {
            return Ok(false);
        };
        if !c.record().enabled || !c.progress().due(now) {
            return Ok(false);
        }
        let Some(cursor) = c.progress().cursor else {
            return Ok(true);
        };
        let size = c.record().batch_size;
        let entries = self
            .core
            .stores
            .audit
            .audit_chain(AuditLog::Org(org_id), cursor, size)
            .await?;
        Ok(entries
            .first()
            .is_some_and(|oldest| batch_ready(entries.len(), size, oldest.entry.created_at, now)))
    }

    /// Streams one config while this process holds its lease: batches of up to `batch_size`
    /// from its cursor, at most [`BATCHES_PER_TURN`] in a row, stopping at a batch that is not
    /// ready yet or failed.
    async fn stream_one(
        &self,
        sender: &dyn WebhookSender,
        id: SiemConfigId,
        org_id: org_domain::OrgId,
    ) -> Result<Vec<SentBatch>, AppError> {
        let core = &self.core;
        let lease = format!("siem:{id}");
        let mut sent = Vec::new();
        let now = core.now();
        if !self.has_ready_batch(org_id, id, now).await? {
            return Ok(sent);
        }
        let period = core.config.worker_lease;
        if !core
            .stores
            .leases
            .try_lease(&lease, self.holder, now, now + period)
            .await?
        {
            return Ok(sent);
        }
        let mut leased_until = now + period;
        // Read after taking the lease: the progress another process left is current. Within
        // this turn the progress is this process's own (each write a compare-and-set).
        let Some(mut c) = core.stores.siem.siem_config(org_id, id).await? else {
            return Ok(sent);
        };
        let Some(org) = core.stores.orgs.org_by_id(org_id).await? else {
            return Ok(sent);
        };
        if org.is_deleted() || !c.streams(&core.features(&org)) || !c.progress().due(now) {
            return Ok(sent);
        }
        for _ in 0..BATCHES_PER_TURN {
            let now = core.now();
            // Renewed once half the lease is gone, not per batch.
            if now + period / 2 >= leased_until {
                if !core
                    .stores
                    .leases
                    .try_lease(&lease, self.holder, now, now + period)
                    .await?
                {
                    break;
                }
                leased_until = now + period;
            }
            let expected = c.progress().cursor;
            let cursor = match expected {
                Some(cursor) => cursor,
                None => self.anchor(&c).await?,
            };
            let size = c.record().batch_size;
            let entries = core
                .stores
                .audit
                .audit_chain(AuditLog::Org(org_id), cursor, size)
                .await?;
            let Some(oldest) = entries.first() else {
                break;
            };
            if !batch_ready(entries.len(), size, oldest.entry.created_at, now) {
                break;
            }
            let last_seq = entries.last().map_or(cursor, |e| e.seq);
            let req = request(&c, wire_batch(&c, org.slug().as_str(), &entries));
            let result = sender.send(req).await;
            let outcome = judge(c.provider(), &result);
            let done = core.now();
            let anchored = SiemProgress {
                cursor: Some(cursor),
                ..c.progress().clone()
            };
            let progress = match &outcome {
                BatchOutcome::Accepted => anchored.accepted(last_seq, done),
                BatchOutcome::Failed(why) => anchored.failed(why.clone(), done),
            };
            let committed = core
                .commit(org_ports::Changeset {
                    siem_progress: vec![SiemProgressWrite {
                        org_id,
                        config_id: id,
                        expected_cursor: expected,
                        progress: progress.clone(),
                    }],
                    ..Default::default()
                })
                .await;
            match committed {
                // Another process moved the stream (a lost lease) or the config went: its
                // result stands; at-least-once covers the batch sent here.
                Err(AppError::Stale) => break,
                Err(e) => return Err(e),
                Ok(()) => c = c.clone().with_progress(progress),
            }
            let accepted = outcome == BatchOutcome::Accepted;
            sent.push(SentBatch {
                provider: c.provider(),
                entries: entries.len(),
                lags: if accepted {
                    entries
                        .iter()
                        .map(|e| (done - e.entry.created_at).num_milliseconds() as f64 / 1000.0)
                        .collect()
                } else {
                    Vec::new()
                },
                outcome,
            });
            if !accepted || entries.len() < size as usize {
                break;
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elastic_item_409s_count_as_stored_other_item_errors_fail() {
        let ok = r#"{"errors":false,"items":[{"create":{"status":201}}]}"#;
        assert_eq!(elastic_outcome(ok), BatchOutcome::Accepted);
        let dup = r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409}}]}"#;
        assert_eq!(elastic_outcome(dup), BatchOutcome::Accepted);
        let bad = r#"{"errors":true,"items":[{"create":{"status":409}},{"create":{"status":400}}]}"#;
        assert_eq!(
            elastic_outcome(bad),
            BatchOutcome::Failed("elastic_item_error HTTP 400".into())
        );
        let r = SendResult::Response {
            status: 500,
            body: String::new(),
            retry_after: None,
        };
        assert_eq!(judge(SiemProvider::Custom, &r), BatchOutcome::Failed("HTTP 500".into()));
        assert_eq!(
            judge(SiemProvider::Splunk, &SendResult::Error("timeout".into())),
            BatchOutcome::Failed("timeout".into())
        );
    }
}
