//! org-store-memory: a real in-memory adapter for every port of org-ports, with the same
//! semantics as the SQL store (versions, uniqueness, not-found, all-or-nothing commits).
//! Safe under concurrent use: one lock serializes commits; every check runs before any write.
//!
//! Secrets are kept in plain memory (webhook signing secrets included): nothing is ever at rest
//! here, so there is no [`org_ports::SecretCipher`] to apply. Durable stores seal them
//! (contract §1.8; `org-store-seaorm`).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::webhook::{Delivery, DeliveryStatus, Webhook};
use org_domain::{
    DeliveryId, Email, EventId, Invitation, InvitationId, InvitationStatus, OrgId, OrgStatus, Organization, Session,
    SessionId, Slug, TokenHash, User, UserId, WebhookId,
};
use org_ports::{
    AuditEntry, AuditFilter, AuditLog, AuditRepository, Changeset, ConflictKind, DeliveryFilter, DeliveryQueue,
    InvitationRepository, OrgFilter, OrgRepository, OutboxEvent, OutboxRepository, Page, PageRequest, RevocationScope,
    SessionRepository, StoreError, UniqueKey, UnitOfWork, UserRepository, WebhookRepository,
};

#[derive(Default)]
struct State {
    orgs: HashMap<OrgId, Organization>,
    users: HashMap<UserId, User>,
    invitations: HashMap<InvitationId, Invitation>,
    sessions: HashMap<SessionId, Session>,
    audit: Vec<AuditEntry>,
    heads: HashMap<AuditLog, (u64, org_ports::chain::Hash)>,
    events: Vec<OutboxEvent>,
    event_ids: HashSet<EventId>,
    webhooks: HashMap<WebhookId, Webhook>,
    deliveries: HashMap<DeliveryId, Delivery>,
}

/// The in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

fn unique(key: UniqueKey) -> StoreError {
    StoreError::Conflict(ConflictKind::Unique(key))
}

fn check_version(stored: Option<u64>, loaded: u64) -> Result<(), StoreError> {
    match (stored, loaded) {
        (None, 0) => Ok(()),
        (Some(_), 0) => Err(unique(UniqueKey::Id)),
        (None, _) => Err(StoreError::NotFound),
        (Some(s), l) if s == l => Ok(()),
        (Some(_), _) => Err(StoreError::Conflict(ConflictKind::StaleVersion)),
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".to_owned()))
    }
}

impl State {
    /// Every check of the changeset against the current state, before anything is written.
    fn validate(&self, c: &Changeset) -> Result<(), StoreError> {
        let mut seen_slugs = HashSet::new();
        for org in &c.orgs {
            let st = org.state();
            check_version(self.orgs.get(&st.id).map(|o| o.state().version), st.version)?;
            if st.deleted_at.is_none() {
                let clash = self
                    .orgs
                    .values()
                    .any(|o| o.id() != st.id && !o.is_deleted() && o.slug() == &st.slug);
                if clash || !seen_slugs.insert(st.slug.clone()) {
                    return Err(unique(UniqueKey::OrgSlug));
                }
            }
        }
        let mut seen_emails = HashSet::new();
        for user in &c.users {
            check_version(self.users.get(&user.id).map(|u| u.version), user.version)?;
            let clash = self.users.values().any(|u| u.id != user.id && u.email == user.email);
            if clash || !seen_emails.insert(user.email.clone()) {
                return Err(unique(UniqueKey::UserEmail));
            }
        }
        let mut seen_pending = HashSet::new();
        for inv in &c.invitations {
            let r = inv.record();
            check_version(self.invitations.get(&r.id).map(|i| i.record().version), r.version)?;
            if r.status == InvitationStatus::Pending {
                let pending_elsewhere = |i: &Invitation| {
                    let o = i.record();
                    o.id != r.id && o.org_id == r.org_id && o.email == r.email && o.status == InvitationStatus::Pending
                };
                let replaced = |i: &Invitation| c.invitations.iter().any(|n| n.record().id == i.record().id);
                let clash = self.invitations.values().any(|i| pending_elsewhere(i) && !replaced(i));
                if clash || !seen_pending.insert((r.org_id, r.email.clone())) {
                    return Err(unique(UniqueKey::PendingInvitation));
                }
            }
        }
        for s in &c.sessions {
            check_version(self.sessions.get(&s.id).map(|x| x.version), s.version)?;
        }
        for w in &c.webhooks {
            check_version(self.webhooks.get(&w.id).map(|x| x.version), w.version)?;
        }
        for d in &c.deliveries {
            check_version(self.deliveries.get(&d.id).map(|x| x.version), d.version)?;
        }
        let mut ids = HashSet::new();
        for id in c.audit.iter().map(|a| a.id).chain(c.events.iter().map(|e| e.id)) {
            if self.event_ids.contains(&id) || !ids.insert(id) {
                return Err(unique(UniqueKey::Id));
            }
        }
        Ok(())
    }

    fn apply(&mut self, c: Changeset) {
        for org in c.orgs {
            let v = org.state().version + 1;
            self.orgs.insert(org.id(), org.with_version(v));
        }
        for mut user in c.users {
            user.version += 1;
            self.users.insert(user.id, user);
        }
        for inv in c.invitations {
            let v = inv.record().version + 1;
            self.invitations.insert(inv.record().id, inv.with_version(v));
        }
        for mut s in c.sessions {
            s.version += 1;
            self.sessions.insert(s.id, s);
        }
        for r in c.revocations {
            for s in self.sessions.values_mut().filter(|s| s.revoked_at.is_none()) {
                let hit = match r.scope {
                    RevocationScope::Org(org) => s.org_id == Some(org),
                    RevocationScope::MemberOfOrg(org, user) => {
                        s.org_id == Some(org) && s.user_id == user && s.kind == org_domain::SessionKind::Org
                    }
                    RevocationScope::User(user) => s.user_id == user,
                };
                if hit {
                    s.revoke(r.reason, r.at);
                    s.version += 1;
                }
            }
        }
        for prune in &c.audit_prunes {
            self.audit.retain(|e| {
                e.entry.org_id.map_or(AuditLog::Platform, AuditLog::Org) != prune.log || e.seq > prune.through_seq
            });
        }
        for draft in c.audit {
            let log = draft.org_id.map_or(AuditLog::Platform, AuditLog::Org);
            let head = self.heads.entry(log).or_insert((0, org_ports::chain::GENESIS));
            let seq = head.0 + 1;
            let prev_hash = head.1;
            let hash = org_ports::chain::entry_hash(&prev_hash, seq, &draft);
            *head = (seq, hash);
            self.event_ids.insert(draft.id);
            self.audit.push(AuditEntry {
                seq,
                entry: draft,
                prev_hash,
                hash,
            });
        }
        for mut w in c.webhooks {
            w.version += 1;
            self.webhooks.insert(w.id, w);
        }
        for mut d in c.deliveries {
            d.version += 1;
            self.deliveries.insert(d.id, d);
        }
        for e in c.events {
            for mut d in org_ports::webhooks::fan_out(&e, self.webhooks.values()) {
                d.version = 1;
                self.deliveries.insert(d.id, d);
            }
            self.event_ids.insert(e.id);
            self.events.push(e);
        }
    }
}

#[async_trait]
impl UnitOfWork for MemoryStore {
    async fn commit(&self, changes: Changeset) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        state.validate(&changes)?;
        state.apply(changes);
        Ok(())
    }
}

#[async_trait]
impl OrgRepository for MemoryStore {
    async fn org_by_slug(&self, slug: &Slug) -> Result<Option<Organization>, StoreError> {
        Ok(self
            .lock()?
            .orgs
            .values()
            .find(|o| !o.is_deleted() && o.slug() == slug)
            .cloned())
    }

    async fn org_by_id(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        Ok(self.lock()?.orgs.get(&id).cloned())
    }

    async fn orgs_of_member(
        &self,
        user: UserId,
        status: Option<OrgStatus>,
        page: PageRequest,
    ) -> Result<Page<Organization>, StoreError> {
        let state = self.lock()?;
        let mut rows: Vec<(DateTime<Utc>, OrgId, &Organization)> = state
            .orgs
            .values()
            .filter(|o| !o.is_deleted() && status.is_none_or(|s| o.status() == s))
            .filter_map(|o| o.active_membership(user).map(|m| (m.created_at, o.id(), o)))
            .collect();
        rows.sort_by_key(|(at, id, _)| (*at, *id));
        let all: Vec<Organization> = rows.into_iter().map(|(_, _, o)| o.clone()).collect();
        Ok(page.slice(&all))
    }

    async fn list_orgs(&self, filter: &OrgFilter, page: PageRequest) -> Result<Page<Organization>, StoreError> {
        let state = self.lock()?;
        let q = filter.q.as_ref().map(|q| q.to_lowercase());
        let mut all: Vec<Organization> = state
            .orgs
            .values()
            .filter(|o| !o.is_deleted() && filter.status.is_none_or(|s| o.status() == s))
            .filter(|o| {
                q.as_ref().is_none_or(|q| {
                    o.slug().as_str().contains(q.as_str())
                        || o.state().name.as_str().to_lowercase().contains(q.as_str())
                })
            })
            .cloned()
            .collect();
        all.sort_by_key(|o| (o.state().created_at, o.id()));
        Ok(page.slice(&all))
    }

    async fn count_orgs_owned_by(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(self
            .lock()?
            .orgs
            .values()
            .filter(|o| !o.is_deleted() && o.state().owner_user_id == user)
            .count() as u64)
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock()?.users.get(&id).cloned())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        Ok(self.lock()?.users.values().find(|u| &u.email == email).cloned())
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let state = self.lock()?;
        Ok(ids.iter().filter_map(|id| state.users.get(id).cloned()).collect())
    }
}

fn newest_first(list: &mut [Invitation]) {
    list.sort_by_key(|i| std::cmp::Reverse((i.record().created_at, i.record().id)));
}

#[async_trait]
impl InvitationRepository for MemoryStore {
    async fn invitation_by_id(&self, id: InvitationId) -> Result<Option<Invitation>, StoreError> {
        Ok(self.lock()?.invitations.get(&id).cloned())
    }

    async fn invitation_by_token(&self, hash: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        Ok(self
            .lock()?
            .invitations
            .values()
            .find(|i| &i.record().token_hash == hash)
            .cloned())
    }

    async fn pending_invitation(&self, org: OrgId, email: &Email) -> Result<Option<Invitation>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .invitations
            .values()
            .find(|i| {
                let r = i.record();
                r.org_id == org && &r.email == email && r.status == InvitationStatus::Pending
            })
            .cloned())
    }

    async fn org_invitations(
        &self,
        org: OrgId,
        status: Option<InvitationStatus>,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<Invitation>, StoreError> {
        let state = self.lock()?;
        let mut all: Vec<Invitation> = state
            .invitations
            .values()
            .filter(|i| i.record().org_id == org && status.is_none_or(|s| i.status_at(now) == s))
            .cloned()
            .collect();
        newest_first(&mut all);
        Ok(page.slice(&all))
    }

    async fn pending_org_invitations(&self, org: OrgId) -> Result<Vec<Invitation>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .invitations
            .values()
            .filter(|i| i.record().org_id == org && i.record().status == InvitationStatus::Pending)
            .cloned()
            .collect())
    }

    async fn pending_invitations_for(&self, email: &Email, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError> {
        let state = self.lock()?;
        let live_org = |id: &OrgId| state.orgs.get(id).is_some_and(|o| !o.is_deleted());
        let mut all: Vec<Invitation> = state
            .invitations
            .values()
            .filter(|i| {
                &i.record().email == email
                    && i.status_at(now) == InvitationStatus::Pending
                    && live_org(&i.record().org_id)
            })
            .cloned()
            .collect();
        newest_first(&mut all);
        Ok(all)
    }

    async fn count_pending_with_role(&self, org: OrgId, role: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let state = self.lock()?;
        Ok(state
            .invitations
            .values()
            .filter(|i| {
                i.record().org_id == org
                    && i.record().role.as_str() == role
                    && i.status_at(now) == InvitationStatus::Pending
            })
            .count() as u64)
    }
}

#[async_trait]
impl SessionRepository for MemoryStore {
    async fn session_by_id(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.lock()?.sessions.get(&id).cloned())
    }

    async fn session_by_refresh_hash(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .sessions
            .values()
            .find(|s| &s.refresh_hash == hash || s.previous_hash.as_ref().is_some_and(|(h, _)| h == hash))
            .cloned())
    }
}

#[async_trait]
impl AuditRepository for MemoryStore {
    async fn audit_entries(
        &self,
        log: AuditLog,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let state = self.lock()?;
        let mut all: Vec<AuditEntry> = state
            .audit
            .iter()
            .filter(|e| e.entry.org_id.map_or(AuditLog::Platform, AuditLog::Org) == log && filter.matches_entry(e))
            .cloned()
            .collect();
        all.sort_by_key(|e| std::cmp::Reverse((e.entry.created_at, e.seq)));
        Ok(page.slice(&all))
    }

    async fn audit_chain(&self, log: AuditLog, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.chain_of(log, after_seq, limit)
    }
}

impl MemoryStore {
    fn chain_of(&self, log: AuditLog, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let state = self.lock()?;
        let mut all: Vec<AuditEntry> = state
            .audit
            .iter()
            .filter(|e| e.entry.org_id.map_or(AuditLog::Platform, AuditLog::Org) == log && e.seq > after_seq)
            .cloned()
            .collect();
        all.sort_by_key(|e| e.seq);
        all.truncate(limit as usize);
        Ok(all)
    }
}

#[async_trait]
impl OutboxRepository for MemoryStore {
    async fn org_events(&self, org: OrgId) -> Result<Vec<OutboxEvent>, StoreError> {
        Ok(self
            .lock()?
            .events
            .iter()
            .filter(|e| e.org_id == org)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl WebhookRepository for MemoryStore {
    async fn org_webhooks(&self, org: OrgId) -> Result<Vec<Webhook>, StoreError> {
        let state = self.lock()?;
        let mut all: Vec<Webhook> = state
            .webhooks
            .values()
            .filter(|w| w.org_id == org && w.deleted_at.is_none())
            .cloned()
            .collect();
        all.sort_by_key(|w| (w.created_at, w.id));
        Ok(all)
    }

    async fn webhook(&self, org: OrgId, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        Ok(self
            .lock()?
            .webhooks
            .get(&id)
            .filter(|w| w.org_id == org && w.deleted_at.is_none())
            .cloned())
    }

    async fn webhook_deliveries(
        &self,
        webhook: WebhookId,
        filter: &DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let state = self.lock()?;
        let mut all: Vec<Delivery> = state
            .deliveries
            .values()
            .filter(|d| d.webhook_id == webhook && filter.matches(d))
            .cloned()
            .collect();
        all.sort_by_key(|d| std::cmp::Reverse((d.created_at, d.id)));
        Ok(page.slice(&all))
    }

    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
        Ok(self.lock()?.deliveries.get(&id).cloned())
    }

    async fn pending_deliveries(&self, webhook: WebhookId) -> Result<Vec<Delivery>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .deliveries
            .values()
            .filter(|d| d.webhook_id == webhook && d.status == DeliveryStatus::Pending)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl DeliveryQueue for MemoryStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut state = self.lock()?;
        let mut due: Vec<(DateTime<Utc>, DeliveryId)> = state
            .deliveries
            .values()
            .filter(|d| d.status == DeliveryStatus::Pending && d.next_retry_at.is_some_and(|at| at <= now))
            .map(|d| (d.next_retry_at.unwrap_or(now), d.id))
            .collect();
        due.sort();
        due.truncate(limit as usize);
        let mut out = Vec::with_capacity(due.len());
        for (_, id) in due {
            if let Some(d) = state.deliveries.get_mut(&id) {
                d.next_retry_at = Some(lease_until);
                d.version += 1;
                out.push(d.clone());
            }
        }
        Ok(out)
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .lock()?
            .deliveries
            .values()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .count() as u64)
    }
}
