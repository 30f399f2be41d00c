//! Audit-log use cases (§8): list with filters, event types, head, chunked reads for streamed
//! exports, the platform log (§20), chain verification for `admin verify-audit`, and retention
//! pruning (`audit.retention_days`, §8.3).

use chrono::{DateTime, Utc};
use org_domain::{Capability, DomainEvent, OrgId};
use org_ports::chain::{self, Link, Verdict};
use org_ports::{AuditEntry, AuditFilter, AuditLog, AuditPrune, Changeset, OrgFilter, Page, PageRequest};

use crate::AppError;
use crate::record::{Caller, Recorder, RequestMeta};

/// Entries read per chunk when streaming or verifying a log.
pub const CHUNK: u32 = 500;

service! {
    /// Audit logs (§8, §20): reads, chain verification and retention.
    AuditService
}

impl AuditService {
    /// Authorizes reading the org's audit log (`audit_logs.view`) and names the log.
    pub async fn log_of(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<AuditLog, AppError> {
        let (org, _) = self
            .core
            .read(caller, meta, slug, |a| a.require(Capability::AuditLogsView))
            .await?;
        Ok(AuditLog::Org(org.id()))
    }

    /// `GET …/audit-log`: newest first.
    pub async fn list(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, AppError> {
        let log = self.log_of(caller, meta, slug).await?;
        Ok(self.core.stores.audit.audit_entries(log, filter, page).await?)
    }

    /// `GET …/audit-log/head`: the newest entry, if any, from the log's kept head.
    pub async fn head(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<Option<AuditEntry>, AppError> {
        let log = self.log_of(caller, meta, slug).await?;
        Ok(self.core.stores.audit.audit_head(log).await?)
    }

    /// One chunk of a log in ascending `seq` (for streamed exports; authorize first).
    pub async fn chunk(&self, log: AuditLog, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, AppError> {
        Ok(self.core.stores.audit.audit_chain(log, after_seq, limit).await?)
    }

    /// `GET /api/platform/audit-log`: the platform log, or an org's log by id (§20).
    pub async fn platform(
        &self,
        caller: &Caller,
        org: Option<OrgId>,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, AppError> {
        caller.actor().platform_owner()?;
        let log = match org {
            None => AuditLog::Platform,
            Some(id) => {
                self.core
                    .stores
                    .orgs
                    .org_by_id(id)
                    .await?
                    .ok_or_else(AppError::not_found)?;
                AuditLog::Org(id)
            }
        };
        Ok(self.core.stores.audit.audit_entries(log, filter, page).await?)
    }

    /// Recomputes a whole log's chain (`admin verify-audit --org | --platform`).
    pub async fn verify_log(&self, log: AuditLog) -> Result<Verdict, AppError> {
        let mut links: Vec<Link> = Vec::new();
        let mut after = 0;
        loop {
            let chunk = self.core.stores.audit.audit_chain(log, after, CHUNK).await?;
            let Some(last) = chunk.last() else { break };
            after = last.seq;
            links.extend(chunk.iter().map(|e| Link {
                seq: e.seq,
                object: chain::chained_object(e.seq, &e.entry),
                prev_hash: e.prev_hash,
                hash: e.hash,
            }));
        }
        let Some(first) = links.first() else {
            return Ok(chain::verify(&links, None, true));
        };
        if first.seq == 1 {
            return Ok(chain::verify(&links, Some(chain::GENESIS), true));
        }
        // A pruned log is anchored at `pruned_head_hash` of its latest `audit.pruned` (§8.3).
        let marker = links.iter().rev().find(|l| l.object["action"] == "audit.pruned");
        let recorded = marker.and_then(|m| {
            let meta = &m.object["metadata"];
            let through = meta["pruned_through_seq"].as_u64()?;
            let head = meta["pruned_head_hash"].as_str().and_then(chain::from_hex)?;
            Some((through, head))
        });
        match recorded {
            Some((through, head)) if through + 1 == first.seq => Ok(chain::verify(&links, Some(head), true)),
            _ => Ok(Verdict::Broken {
                first_bad_seq: first.seq,
                reason: format!(
                    "entries before seq {} are gone and no audit.pruned entry accounts for them",
                    first.seq
                ),
            }),
        }
    }

    /// The log of the live org named by a slug (`admin verify-audit --org`).
    pub async fn org_log_by_slug(&self, slug: &str) -> Result<AuditLog, AppError> {
        Ok(AuditLog::Org(self.core.org_by_slug(slug).await?.id()))
    }

    /// Retention (§8.3): in the platform log and every org log, deletes the prefix of entries
    /// older than `now - retention` and appends `audit.pruned` (actor `system`, metadata
    /// `{pruned_through_seq, pruned_head_hash, count}`) in the same commit, so the rest of the
    /// chain stays anchored. The newest entry of a log is never pruned, and a prefix made only
    /// of earlier `audit.pruned` entries is left alone (an idle log settles instead of churning).
    /// Returns the number of entries deleted.
    pub async fn prune(&self, retention: chrono::Duration) -> Result<u64, AppError> {
        let Some(cutoff) = self.core.now().checked_sub_signed(retention) else {
            return Ok(0); // a retention longer than the calendar keeps everything
        };
        let mut total = self.prune_log(AuditLog::Platform, cutoff).await?;
        let mut page = 1;
        loop {
            let orgs = self
                .core
                .stores
                .orgs
                .list_orgs(&OrgFilter::default(), PageRequest::new(page, 100))
                .await?;
            if orgs.items.is_empty() {
                break;
            }
            for org in &orgs.items {
                total += self.prune_log(AuditLog::Org(org.id()), cutoff).await?;
            }
            page += 1;
        }
        Ok(total)
    }

    /// Prunes one log's aged prefix. When another process pruned it first (the store refuses a
    /// prune that finds other entries than it read), it reads the log again: each range is
    /// pruned, and its `audit.pruned` written, once, however many processes run retention.
    async fn prune_log(&self, log: AuditLog, cutoff: DateTime<Utc>) -> Result<u64, AppError> {
        for _ in 0..self.core.config.max_attempts.max(1) {
            match self.prune_once(log, cutoff).await {
                Err(AppError::Stale) => continue,
                other => return other,
            }
        }
        // Others keep pruning this log; nothing of this run was written.
        Ok(0)
    }

    async fn prune_once(&self, log: AuditLog, cutoff: DateTime<Utc>) -> Result<u64, AppError> {
        let Some(old) = self.old_prefix(log, cutoff).await? else {
            return Ok(0);
        };
        let meta = RequestMeta::default();
        let rec = Recorder::system(&self.core, &meta, self.core.now());
        let mut c = Changeset {
            audit_prunes: vec![AuditPrune {
                log,
                through_seq: old.through_seq,
                count: old.count,
            }],
            ..Changeset::default()
        };
        let org = match log {
            AuditLog::Org(id) => Some(id),
            AuditLog::Platform => None,
        };
        let event = DomainEvent::AuditPruned {
            through_seq: old.through_seq,
            head_hash: chain::to_hex(&old.head),
            count: old.count,
        };
        rec.record(&mut c, org, None, &[event]);
        self.core.stores.uow.commit(c).await?;
        Ok(old.count)
    }

    /// The prunable prefix of a log: entries older than `cutoff` from the start, without the
    /// log's newest entry; `None` when it is empty or holds only `audit.pruned` entries.
    async fn old_prefix(&self, log: AuditLog, cutoff: DateTime<Utc>) -> Result<Option<OldPrefix>, AppError> {
        // `last` is the newest old entry seen; it is only prunable once a later entry exists.
        let mut last: Option<(u64, chain::Hash, bool)> = None;
        let mut prefix: Option<OldPrefix> = None;
        let mut after = 0;
        loop {
            let chunk = self.core.stores.audit.audit_chain(log, after, CHUNK).await?;
            let Some(tail) = chunk.last() else { break };
            after = tail.seq;
            for e in &chunk {
                if let Some((seq, head, marker)) = last.take() {
                    let p = prefix.get_or_insert(OldPrefix {
                        through_seq: seq,
                        head,
                        count: 0,
                        substantive: false,
                    });
                    (p.through_seq, p.head) = (seq, head);
                    p.count += 1;
                    p.substantive |= !marker;
                }
                if e.entry.created_at >= cutoff {
                    return Ok(prefix.filter(|p| p.substantive));
                }
                last = Some((e.seq, e.hash, e.entry.action == "audit.pruned"));
            }
        }
        Ok(prefix.filter(|p| p.substantive))
    }
}

/// The prefix of a log a prune run deletes.
struct OldPrefix {
    through_seq: u64,
    /// Hash of the entry at `through_seq`: the anchor of what remains.
    head: chain::Hash,
    count: u64,
    /// Whether it holds anything but earlier `audit.pruned` entries.
    substantive: bool,
}
