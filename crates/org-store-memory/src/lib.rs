//! org-store-memory: a real in-memory adapter for every port of org-ports, with the same
//! semantics as the SQL store (versions, uniqueness, not-found, all-or-nothing commits).
//! Safe under concurrent use: one lock serializes commits; every check runs before any write.
//!
//! Memberships and custom roles are rows of their own, each with its own version. The org
//! row's member counts are kept here, from the membership writes of each commit, never taken
//! from the org row a changeset carries. Reads a request makes are sized by the request, as
//! in SQL: indexes by key (slug, e-mail, (org, user)), a per-org roster ordered by
//! `(joined_at, user_id)` for keyset member pages, per-log and per-endpoint orderings for
//! audit and delivery pages, and kept counts for their unfiltered totals. Directory data is
//! indexed the same way: SCIM tokens by hash and per org in creation order, profiles by
//! membership, by `(org, userName key)`, `(org, externalId)` and `(org, e-mail)`, role groups
//! by role and by `(org, externalId)`.
//!
//! Secrets are kept in plain memory (webhook signing secrets included): nothing is ever at rest
//! here, so there is no [`org_ports::SecretCipher`] to apply. Durable stores seal them
//! (contract §1.8; `org-store-seaorm`).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod risk;
mod services;
mod siem;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::branding::Branding;
use org_domain::credentials::{BillingCredentials, BillingProvider, OAuthCredentials, OAuthProvider};
use org_domain::custom_domain::{CustomDomain, DomainName};
use org_domain::directory::{DirectoryGroup, DirectoryProfile};
use org_domain::mail::{Mail, MailStatus, SmtpSettings};
use org_domain::scim_token::ScimToken;
use org_domain::webhook::{Delivery, DeliveryStatus, Webhook};
use org_domain::{
    CustomRole, DeliveryId, Email, EventId, Invitation, InvitationId, InvitationStatus, MailId, Membership,
    MembershipId, MembershipStatus, OrgId, OrgState, OrgStatus, Organization, Role, RoleId, RoleSlug, ScimTokenId,
    Session, SessionId, Slug, TokenHash, User, UserId, WebhookId,
};
use org_ports::chain::{self, Hash as ChainHash};
use org_ports::{
    AuditEntry, AuditFilter, AuditLog, AuditRepository, ChangeToken, Changeset, ConflictKind, DeliveryFilter,
    DeliveryQueue, DirectoryRepository, DomainClaim, InvitationRepository, LeaseRepository, MailQueue, MailRepository,
    MemberQuery, MemberRow, MembershipRepository, OrgContext, OrgFilter, OrgRepository, OutboxEvent, OutboxRepository,
    Page, PageRequest, RefreshMatch, RevocationScope, RoleRepository, SessionContext, SessionRepository,
    SettingsRepository, StoreError, UniqueKey, UnitOfWork, UserRepository, WebhookRepository,
};

mod logins;
mod upstream;

/// One audit log: its kept head and count, the entries by `seq`, and their listing order.
#[derive(Default)]
struct Log {
    head: Option<(u64, ChainHash)>,
    count: u64,
    entries: BTreeMap<u64, AuditEntry>,
    by_time: BTreeSet<(DateTime<Utc>, u64)>,
}

/// One endpoint's deliveries in listing order, and their kept count.
#[derive(Default)]
struct Endpoint {
    count: u64,
    by_time: BTreeSet<(DateTime<Utc>, DeliveryId)>,
}

/// Profiles in lookup order: `(created_at, membership id)`.
type Listed = BTreeSet<(DateTime<Utc>, MembershipId)>;

#[derive(Default)]
struct State {
    /// Org rows as stored: `headcount` holds the kept counts, `version` the stored version.
    orgs: HashMap<OrgId, OrgState>,
    live_slugs: HashMap<Slug, OrgId>,
    users: HashMap<UserId, User>,
    emails: HashMap<Email, UserId>,
    memberships: HashMap<MembershipId, Membership>,
    member_of: HashMap<(OrgId, UserId), MembershipId>,
    /// Per org, its memberships by `(joined_at, user_id)`.
    roster: HashMap<OrgId, BTreeMap<(DateTime<Utc>, UserId), MembershipId>>,
    memberships_of: HashMap<UserId, HashSet<MembershipId>>,
    owners: HashMap<OrgId, MembershipId>,
    /// Memberships holding each custom role.
    holders: HashMap<(OrgId, RoleSlug), u64>,
    roles: HashMap<RoleId, CustomRole>,
    role_slugs: HashMap<(OrgId, RoleSlug), RoleId>,
    role_names: HashMap<(OrgId, String), RoleId>,
    invitations: HashMap<InvitationId, Invitation>,
    sessions: HashMap<SessionId, Session>,
    logs: HashMap<AuditLog, Log>,
    events: Vec<OutboxEvent>,
    event_ids: HashSet<EventId>,
    webhooks: HashMap<WebhookId, Webhook>,
    /// Live endpoints by `(org, name)`.
    webhook_names: HashMap<(OrgId, String), WebhookId>,
    deliveries: HashMap<DeliveryId, Delivery>,
    endpoints: HashMap<WebhookId, Endpoint>,
    scim_tokens: HashMap<ScimTokenId, ScimToken>,
    scim_hashes: HashMap<TokenHash, ScimTokenId>,
    /// Per org, its tokens by `(created_at, id)`.
    org_tokens: HashMap<OrgId, BTreeSet<(DateTime<Utc>, ScimTokenId)>>,
    /// Directory profiles by membership.
    profiles: HashMap<MembershipId, DirectoryProfile>,
    /// Profiles by `(org, userName key)`.
    user_names: HashMap<(OrgId, String), MembershipId>,
    /// Profiles by `(org, externalId)` and by `(org, e-mail)`, oldest first.
    profile_external_ids: HashMap<(OrgId, String), Listed>,
    profile_emails: HashMap<(OrgId, Email), Listed>,
    /// Role-group data by role, and by `(org, externalId)`.
    directory_groups: HashMap<RoleId, DirectoryGroup>,
    group_external_ids: HashMap<(OrgId, String), BTreeSet<RoleId>>,
    /// Refresh tokens consumed by rotations: the session and when.
    consumed: HashMap<TokenHash, (SessionId, DateTime<Utc>)>,
    /// Worker leases: holder and expiry by name.
    leases: HashMap<String, (uuid::Uuid, DateTime<Utc>)>,
    /// SMTP settings, one per org.
    smtp: HashMap<OrgId, SmtpSettings>,
    /// OAuth app credentials, one per org and provider (§12).
    oauth_credentials: HashMap<(OrgId, OAuthProvider), OAuthCredentials>,
    /// Billing-provider credentials, one per org and provider (§18).
    billing_credentials: HashMap<(OrgId, BillingProvider), BillingCredentials>,
    /// The mail outbox.
    mails: HashMap<MailId, Mail>,
    /// Branding and domain claim of each org (singleton rows keyed by the org).
    brandings: HashMap<OrgId, Branding>,
    custom_domains: HashMap<OrgId, CustomDomain>,
    /// The orgs claiming each domain.
    domain_claims: HashMap<DomainName, BTreeSet<OrgId>>,
    /// Risk settings and risk events (§16).
    risk: risk::RiskState,
    /// Services, member grants and login keys (`services.rs`).
    services: services::ServiceState,
    /// Upstream identity providers (§11).
    upstream: upstream::Upstreams,
    /// SIEM configs (§17).
    siem: siem::SiemState,
    /// Identities, end users and the MAU count (§19.5, `logins.rs`).
    logins: logins::LoginState,
}

/// The in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Moves with every write: the change token (nothing else writes this store).
    writes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
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

/// Removes `item` from the ordered index entry under `key`, dropping the entry once empty.
fn unlist<K: Eq + Hash, T: Ord>(index: &mut HashMap<K, BTreeSet<T>>, key: &K, item: &T) {
    if let Some(set) = index.get_mut(key) {
        set.remove(item);
        if set.is_empty() {
            index.remove(key);
        }
    }
}

fn unique(key: UniqueKey) -> StoreError {
    StoreError::Conflict(ConflictKind::Unique(key))
}

fn conflict(kind: ConflictKind) -> StoreError {
    StoreError::Conflict(kind)
}

fn log_of(org: Option<OrgId>) -> AuditLog {
    org.map_or(AuditLog::Platform, AuditLog::Org)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Checks: the whole changeset against the state, before anything is written
// ---------------------------------------------------------------------------------------------

/// Optimistic versions of the rows a changeset writes: version 0 inserts (the id must be
/// free), any other updates the stored row at that version. A row written twice in one
/// changeset sees its first write, as sequential statements would.
fn check_writes<I: Eq + Hash + Copy>(
    rows: impl IntoIterator<Item = (I, u64)>,
    stored: impl Fn(&I) -> Option<u64>,
    seen: &mut HashSet<I>,
) -> Result<(), StoreError> {
    for (id, loaded) in rows {
        let twice = !seen.insert(id);
        match (stored(&id), loaded) {
            (None, 0) if !twice => {}
            (_, 0) => return Err(unique(UniqueKey::Id)),
            (None, _) if !twice => return Err(StoreError::NotFound),
            (Some(v), l) if v == l && !twice => {}
            _ => return Err(conflict(ConflictKind::StaleVersion)),
        }
    }
    Ok(())
}

/// Deletes at a loaded version: the row must still be stored at it.
fn check_deletes<I: Eq + Hash + Copy>(
    rows: impl IntoIterator<Item = (I, u64)>,
    stored: impl Fn(&I) -> Option<u64>,
    seen: &mut HashSet<I>,
) -> Result<(), StoreError> {
    for (id, loaded) in rows {
        let twice = !seen.insert(id);
        match stored(&id) {
            None => return Err(StoreError::NotFound),
            Some(v) if v == loaded && !twice => {}
            Some(_) => return Err(conflict(ConflictKind::StaleVersion)),
        }
    }
    Ok(())
}

/// Whether keys stay unique after a changeset: `claims` are the `(row, key)`s it writes,
/// `released` the rows it rewrites or deletes (their stored keys are given up), `index` the
/// stored key of each row.
fn claims_unique<K: Eq + Hash, I: Eq + Hash + Copy>(
    index: &HashMap<K, I>,
    claims: &[(I, K)],
    released: &HashSet<I>,
) -> bool {
    let mut seen: HashSet<&K> = HashSet::new();
    claims.iter().all(|(row, key)| {
        let held_elsewhere = index
            .get(key)
            .is_some_and(|holder| holder != row && !released.contains(holder));
        seen.insert(key) && !held_elsewhere
    })
}

/// One newest-first page of `matches` (rows already past any keyset position). `total` is
/// the kept `count` when nothing is filtered, a count of the matches when something is, and
/// `None` after a cursor, where nothing is counted.
fn newest_page<'a, T: Clone + 'a>(
    matches: impl Iterator<Item = &'a T> + Clone,
    page: PageRequest,
    cursor: bool,
    unfiltered: bool,
    count: u64,
) -> Page<T> {
    let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let items = matches.clone().skip(skip).take(page.limit as usize).cloned().collect();
    let total = if cursor {
        None
    } else if unfiltered {
        Some(count)
    } else {
        Some(matches.count() as u64)
    };
    Page { items, total }
}

/// What a membership adds to its org's counts and to its custom role's holders.
fn tally(m: &Membership) -> (OrgId, i64, Option<RoleSlug>) {
    let active = i64::from(m.is_active());
    let role = match m.role() {
        Role::Custom(slug) => Some(slug.clone()),
        _ => None,
    };
    (m.org_id(), active, role)
}

/// The count changes a changeset's membership writes make, per org and per custom role.
#[derive(Default)]
struct Deltas {
    /// Per org: (active, total).
    counts: HashMap<OrgId, (i64, i64)>,
    holders: HashMap<(OrgId, RoleSlug), i64>,
}

impl Deltas {
    fn add(&mut self, m: &Membership, sign: i64) {
        let (org, active, role) = tally(m);
        let c = self.counts.entry(org).or_default();
        c.0 += sign * active;
        c.1 += sign;
        if let Some(slug) = role {
            *self.holders.entry((org, slug)).or_default() += sign;
        }
    }
}

impl State {
    /// Every check of the changeset against the current state, before anything is written.
    fn validate(&self, c: &Changeset) -> Result<(), StoreError> {
        self.check_versions(c)?;
        self.check_unique(c)?;
        self.check_invitations(c)?;
        self.check_members(c)?;
        self.check_directory(c)?;
        self.check_settings(c)?;
        self.check_risk(c)?;
        self.services.validate(c, |o| self.orgs.contains_key(&o))?;
        self.check_upstream(c)?;
        self.siem.check(c, |o| self.orgs.contains_key(&o))?;
        self.check_logins(c)?;
        self.check_prunes(c)
    }

    /// Branding and domain rows: versions, their org exists, and at most one org holds each
    /// domain verified after the commit (§14).
    fn check_settings(&self, c: &Changeset) -> Result<(), StoreError> {
        // Singleton rows keyed by their org: a first write over a stored row read "no row",
        // a stale read (not a duplicate id).
        let first_over_stored = c
            .brandings
            .iter()
            .any(|b| b.record().version == 0 && self.brandings.contains_key(&b.org_id()))
            || c.custom_domains
                .iter()
                .any(|d| d.record().version == 0 && self.custom_domains.contains_key(&d.org_id()));
        if first_over_stored {
            return Err(conflict(ConflictKind::StaleVersion));
        }
        let brandings = c.brandings.iter().map(|b| (b.org_id(), b.record().version));
        check_writes(
            brandings,
            |id| self.brandings.get(id).map(|b| b.record().version),
            &mut HashSet::new(),
        )?;
        let stored = |id: &OrgId| self.custom_domains.get(id).map(|d| d.record().version);
        let mut seen = HashSet::new();
        check_writes(
            c.custom_domains.iter().map(|d| (d.org_id(), d.record().version)),
            stored,
            &mut seen,
        )?;
        check_deletes(
            c.removed_custom_domains
                .iter()
                .map(|d| (d.org_id(), d.record().version)),
            stored,
            &mut seen,
        )?;
        let orgs = c
            .brandings
            .iter()
            .map(Branding::org_id)
            .chain(c.custom_domains.iter().map(CustomDomain::org_id));
        for org in orgs {
            if self.org_after(c, org).is_none() {
                return Err(StoreError::NotFound);
            }
        }
        let released: HashSet<OrgId> = c
            .custom_domains
            .iter()
            .chain(&c.removed_custom_domains)
            .map(CustomDomain::org_id)
            .collect();
        let mut verified: HashSet<&DomainName> = HashSet::new();
        for d in c.custom_domains.iter().filter(|d| d.is_verified()) {
            let held_elsewhere = self.domain_claims.get(d.domain()).is_some_and(|orgs| {
                orgs.iter().any(|o| {
                    *o != d.org_id()
                        && !released.contains(o)
                        && self.custom_domains.get(o).is_some_and(CustomDomain::is_verified)
                })
            });
            if held_elsewhere || !verified.insert(d.domain()) {
                return Err(unique(UniqueKey::VerifiedDomain));
            }
        }
        Ok(())
    }

    /// A prune deletes exactly the entries it read; otherwise another writer pruned first.
    fn check_prunes(&self, c: &Changeset) -> Result<(), StoreError> {
        for p in &c.audit_prunes {
            let there = self
                .logs
                .get(&p.log)
                .map_or(0, |l| l.entries.range(..=p.through_seq).count() as u64);
            if there != p.count {
                return Err(StoreError::Conflict(ConflictKind::StaleVersion));
            }
        }
        Ok(())
    }

    fn check_versions(&self, c: &Changeset) -> Result<(), StoreError> {
        let orgs = c.orgs.iter().map(|o| (o.id(), o.state().version));
        check_writes(orgs, |id| self.orgs.get(id).map(|o| o.version), &mut HashSet::new())?;
        let users = c.users.iter().map(|u| (u.id(), u.record().version));
        check_writes(
            users,
            |id| self.users.get(id).map(|u| u.record().version),
            &mut HashSet::new(),
        )?;
        let stored_m = |id: &MembershipId| self.memberships.get(id).map(|m| m.record().version);
        let mut seen = HashSet::new();
        let written = c.memberships.iter().map(|m| (m.id(), m.record().version));
        check_writes(written, stored_m, &mut seen)?;
        let removed = c.removed_memberships.iter().map(|m| (m.id(), m.record().version));
        check_deletes(removed, stored_m, &mut seen)?;
        let stored_r = |id: &RoleId| self.roles.get(id).map(|r| r.record().version);
        let mut seen = HashSet::new();
        check_writes(
            c.roles.iter().map(|r| (r.id(), r.record().version)),
            stored_r,
            &mut seen,
        )?;
        check_deletes(
            c.removed_roles.iter().map(|r| (r.id(), r.record().version)),
            stored_r,
            &mut seen,
        )?;
        let invitations = c.invitations.iter().map(|i| (i.record().id, i.record().version));
        check_writes(
            invitations,
            |id| self.invitations.get(id).map(|i| i.record().version),
            &mut HashSet::new(),
        )?;
        let sessions = c.sessions.iter().map(|s| (s.id, s.version));
        check_writes(
            sessions,
            |id| self.sessions.get(id).map(|s| s.version),
            &mut HashSet::new(),
        )?;
        let webhooks = c.webhooks.iter().map(|w| (w.id(), w.record().version));
        check_writes(
            webhooks,
            |id| self.webhooks.get(id).map(|w| w.record().version),
            &mut HashSet::new(),
        )?;
        let deliveries = c.deliveries.iter().map(|d| (d.id, d.version));
        check_writes(
            deliveries,
            |id| self.deliveries.get(id).map(|d| d.version),
            &mut HashSet::new(),
        )?;
        let stored_t = |id: &ScimTokenId| self.scim_tokens.get(id).map(|t| t.record().version);
        let mut seen = HashSet::new();
        let tokens = c.scim_tokens.iter().map(|t| (t.id(), t.record().version));
        check_writes(tokens, stored_t, &mut seen)?;
        let removed = c.removed_scim_tokens.iter().map(|t| (t.id(), t.record().version));
        check_deletes(removed, stored_t, &mut seen)?;
        let profiles = c.profiles.iter().map(|p| (p.membership_id(), p.record().version));
        check_writes(
            profiles,
            |id| self.profiles.get(id).map(|p| p.record().version),
            &mut HashSet::new(),
        )?;
        let groups = c
            .directory_groups
            .iter()
            .map(|g| (g.record().role_id, g.record().version));
        check_writes(
            groups,
            |id| self.directory_groups.get(id).map(|g| g.record().version),
            &mut HashSet::new(),
        )?;
        let mut seen = HashSet::new();
        for settings in &c.smtp {
            let org = settings.org_id();
            let twice = !seen.insert(org);
            match (
                self.smtp.get(&org).map(|x| x.record().version),
                settings.record().version,
            ) {
                _ if !self.orgs.contains_key(&org) => return Err(StoreError::NotFound),
                (None, 0) if !twice => {}
                (None, _) if !twice => return Err(StoreError::NotFound),
                (Some(v), l) if v == l && !twice => {}
                _ => return Err(conflict(ConflictKind::StaleVersion)),
            }
        }
        let removed = c.removed_smtp.iter().map(|x| (x.org_id(), x.record().version));
        check_deletes(removed, |org| self.smtp.get(org).map(|x| x.record().version), &mut seen)?;
        let mut seen = HashSet::new();
        let stored_o = |k: &(OrgId, OAuthProvider)| self.oauth_credentials.get(k).map(|x| x.record().version);
        for x in &c.oauth_credentials {
            let key = (x.org_id(), x.provider());
            let twice = !seen.insert(key);
            match (stored_o(&key), x.record().version) {
                _ if !self.orgs.contains_key(&key.0) => return Err(StoreError::NotFound),
                (None, 0) if !twice => {}
                (None, _) if !twice => return Err(StoreError::NotFound),
                (Some(v), l) if v == l && !twice => {}
                _ => return Err(conflict(ConflictKind::StaleVersion)),
            }
        }
        let removed = c
            .removed_oauth_credentials
            .iter()
            .map(|x| ((x.org_id(), x.provider()), x.record().version));
        check_deletes(removed, stored_o, &mut seen)?;
        let mut seen = HashSet::new();
        let stored_b = |k: &(OrgId, BillingProvider)| self.billing_credentials.get(k).map(|x| x.record().version);
        for x in &c.billing_credentials {
            let key = (x.org_id(), x.provider());
            let twice = !seen.insert(key);
            match (stored_b(&key), x.record().version) {
                _ if !self.orgs.contains_key(&key.0) => return Err(StoreError::NotFound),
                (None, 0) if !twice => {}
                (None, _) if !twice => return Err(StoreError::NotFound),
                (Some(v), l) if v == l && !twice => {}
                _ => return Err(conflict(ConflictKind::StaleVersion)),
            }
        }
        let removed = c
            .removed_billing_credentials
            .iter()
            .map(|x| ((x.org_id(), x.provider()), x.record().version));
        check_deletes(removed, stored_b, &mut seen)?;
        for m in &c.mails {
            if !self.orgs.contains_key(&m.org_id) {
                return Err(StoreError::NotFound);
            }
        }
        check_writes(
            c.mails.iter().map(|m| (m.id, m.version)),
            |id| self.mails.get(id).map(|m| m.version),
            &mut HashSet::new(),
        )?;
        let mut ids = HashSet::new();
        for id in c.audit.iter().map(|a| a.id).chain(c.events.iter().map(|e| e.id)) {
            if self.event_ids.contains(&id) || !ids.insert(id) {
                return Err(unique(UniqueKey::Id));
            }
        }
        Ok(())
    }

    fn check_unique(&self, c: &Changeset) -> Result<(), StoreError> {
        let released: HashSet<OrgId> = c.orgs.iter().map(Organization::id).collect();
        let claims: Vec<(OrgId, Slug)> = c
            .orgs
            .iter()
            .filter(|o| !o.is_deleted())
            .map(|o| (o.id(), o.slug().clone()))
            .collect();
        if !claims_unique(&self.live_slugs, &claims, &released) {
            return Err(unique(UniqueKey::OrgSlug));
        }
        let released: HashSet<UserId> = c.users.iter().map(User::id).collect();
        let claims: Vec<(UserId, Email)> = c.users.iter().map(|u| (u.id(), u.email().clone())).collect();
        if !claims_unique(&self.emails, &claims, &released) {
            return Err(unique(UniqueKey::UserEmail));
        }
        let released: HashSet<MembershipId> = c
            .memberships
            .iter()
            .chain(&c.removed_memberships)
            .map(Membership::id)
            .collect();
        let claims: Vec<(MembershipId, (OrgId, UserId))> = c
            .memberships
            .iter()
            .map(|m| (m.id(), (m.org_id(), m.user_id())))
            .collect();
        if !claims_unique(&self.member_of, &claims, &released) {
            return Err(unique(UniqueKey::Membership));
        }
        let owners: Vec<(MembershipId, OrgId)> = c
            .memberships
            .iter()
            .filter(|m| *m.role() == Role::Owner)
            .map(|m| (m.id(), m.org_id()))
            .collect();
        if !claims_unique(&self.owners, &owners, &released) {
            return Err(unique(UniqueKey::OneOwner));
        }
        let released: HashSet<RoleId> = c.roles.iter().chain(&c.removed_roles).map(CustomRole::id).collect();
        let slugs: Vec<(RoleId, (OrgId, RoleSlug))> = c
            .roles
            .iter()
            .map(|r| (r.id(), (r.org_id(), r.slug().clone())))
            .collect();
        if !claims_unique(&self.role_slugs, &slugs, &released) {
            return Err(unique(UniqueKey::RoleSlug));
        }
        let names: Vec<(RoleId, (OrgId, String))> = c
            .roles
            .iter()
            .map(|r| (r.id(), (r.org_id(), r.record().name.unique_key())))
            .collect();
        if !claims_unique(&self.role_names, &names, &released) {
            return Err(unique(UniqueKey::RoleName));
        }
        let released: HashSet<WebhookId> = c.webhooks.iter().map(Webhook::id).collect();
        let names: Vec<(WebhookId, (OrgId, String))> = c
            .webhooks
            .iter()
            .filter(|w| w.record().deleted_at.is_none())
            .map(|w| (w.id(), (w.org_id(), w.name().to_owned())))
            .collect();
        if !claims_unique(&self.webhook_names, &names, &released) {
            return Err(unique(UniqueKey::WebhookName));
        }
        let released: HashSet<ScimTokenId> = c
            .scim_tokens
            .iter()
            .chain(&c.removed_scim_tokens)
            .map(ScimToken::id)
            .collect();
        let hashes: Vec<(ScimTokenId, TokenHash)> =
            c.scim_tokens.iter().map(|t| (t.id(), t.record().token_hash)).collect();
        if !claims_unique(&self.scim_hashes, &hashes, &released) {
            return Err(unique(UniqueKey::ScimToken));
        }
        // A profile gives up its key when it is rewritten or its membership is removed.
        let released: HashSet<MembershipId> = c
            .profiles
            .iter()
            .map(DirectoryProfile::membership_id)
            .chain(c.removed_memberships.iter().map(Membership::id))
            .collect();
        let names: Vec<(MembershipId, (OrgId, String))> = c
            .profiles
            .iter()
            .map(|p| (p.membership_id(), (p.record().org_id, p.user_name_key())))
            .collect();
        if !claims_unique(&self.user_names, &names, &released) {
            return Err(unique(UniqueKey::DirectoryUserName));
        }
        Ok(())
    }

    fn check_invitations(&self, c: &Changeset) -> Result<(), StoreError> {
        let mut seen_pending = HashSet::new();
        for inv in &c.invitations {
            let r = inv.record();
            if r.status != InvitationStatus::Pending {
                continue;
            }
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
        Ok(())
    }

    /// The org after the changeset (its settings; counts are kept apart).
    fn org_after<'a>(&'a self, c: &'a Changeset, id: OrgId) -> Option<&'a OrgState> {
        c.orgs
            .iter()
            .rev()
            .find(|o| o.id() == id)
            .map(Organization::state)
            .or_else(|| self.orgs.get(&id))
    }

    /// Parents, owners, custom roles held and the member cap, as they stand after the changeset.
    fn check_members(&self, c: &Changeset) -> Result<(), StoreError> {
        let user_after = |id: UserId| self.users.contains_key(&id) || c.users.iter().any(|u| u.id() == id);
        for m in &c.memberships {
            if self.org_after(c, m.org_id()).is_none() || !user_after(m.user_id()) {
                return Err(StoreError::NotFound);
            }
        }
        for r in &c.roles {
            if self.org_after(c, r.org_id()).is_none() {
                return Err(StoreError::NotFound);
            }
        }
        self.check_owners(c)?;
        let mut deltas = Deltas::default();
        for m in &c.removed_memberships {
            if let Some(stored) = self.memberships.get(&m.id()) {
                deltas.add(stored, -1);
            }
        }
        for m in &c.memberships {
            if let Some(stored) = self.memberships.get(&m.id()) {
                deltas.add(stored, -1);
            }
            deltas.add(m, 1);
        }
        self.check_roles_held(c, &deltas)?;
        self.check_cap(c, &deltas)
    }

    /// Whether `stored` is the owner's membership of a live org, as the org stands after the
    /// changeset: it may be neither deleted nor demoted.
    fn keeps_owner(&self, c: &Changeset, stored: &Membership) -> bool {
        *stored.role() == Role::Owner
            && self
                .org_after(c, stored.org_id())
                .is_some_and(|o| o.deleted_at.is_none() && o.owner_user_id == stored.user_id())
    }

    /// The owner rules besides the one-owner index (as the SQL schema backs them): only the
    /// user the org row names holds `owner`, actively; the owner's membership of a live org is
    /// neither deleted nor demoted; an org row names as a new owner only an active member (else
    /// the decision saw a member who has since left: stale).
    fn check_owners(&self, c: &Changeset) -> Result<(), StoreError> {
        let one_owner = unique(UniqueKey::OneOwner);
        for m in &c.memberships {
            if *m.role() == Role::Owner {
                let named = self
                    .org_after(c, m.org_id())
                    .is_some_and(|o| o.owner_user_id == m.user_id());
                if !named || !m.is_active() {
                    return Err(one_owner);
                }
            }
            if let Some(stored) = self.memberships.get(&m.id())
                && self.keeps_owner(c, stored)
                && (*m.role() != Role::Owner || m.user_id() != stored.user_id() || m.org_id() != stored.org_id())
            {
                return Err(one_owner);
            }
        }
        for m in &c.removed_memberships {
            if self
                .memberships
                .get(&m.id())
                .is_some_and(|stored| self.keeps_owner(c, stored))
            {
                return Err(one_owner);
            }
        }
        let released: HashSet<MembershipId> = c
            .memberships
            .iter()
            .chain(&c.removed_memberships)
            .map(Membership::id)
            .collect();
        for o in &c.orgs {
            let Some(stored) = self.orgs.get(&o.id()) else {
                continue;
            };
            let owner = o.owner();
            if stored.owner_user_id == owner {
                continue;
            }
            let written = c
                .memberships
                .iter()
                .rev()
                .find(|m| m.org_id() == o.id() && m.user_id() == owner);
            let kept = || {
                self.member_of
                    .get(&(o.id(), owner))
                    .filter(|id| !released.contains(*id))
                    .and_then(|id| self.memberships.get(id))
            };
            if !written.or_else(kept).is_some_and(Membership::is_active) {
                return Err(conflict(ConflictKind::StaleVersion));
            }
        }
        Ok(())
    }

    /// A membership names only a custom role its org has after the changeset; a deleted role
    /// is held by nobody after it.
    fn check_roles_held(&self, c: &Changeset, deltas: &Deltas) -> Result<(), StoreError> {
        let released: HashSet<RoleId> = c.roles.iter().chain(&c.removed_roles).map(CustomRole::id).collect();
        let exists_after = |org: OrgId, slug: &RoleSlug| {
            c.roles.iter().any(|r| r.org_id() == org && r.slug() == slug)
                || self
                    .role_slugs
                    .get(&(org, slug.clone()))
                    .is_some_and(|id| !released.contains(id))
        };
        for m in &c.memberships {
            if let Role::Custom(slug) = m.role()
                && !exists_after(m.org_id(), slug)
            {
                return Err(conflict(ConflictKind::RoleInUse));
            }
        }
        for r in &c.removed_roles {
            let Some(stored) = self.roles.get(&r.id()) else {
                return Err(StoreError::NotFound);
            };
            let key = (stored.org_id(), stored.slug().clone());
            let before = self.holders.get(&key).copied().unwrap_or(0);
            let after = i64::try_from(before).unwrap_or(i64::MAX) + deltas.holders.get(&key).copied().unwrap_or(0);
            if after > 0 {
                return Err(conflict(ConflictKind::RoleInUse));
            }
        }
        Ok(())
    }

    /// Directory rows hang on their parents as they stand after the changeset: a token on its
    /// org, a profile on its membership, a role group's data on its role (as the SQL foreign
    /// keys do; a parent removed in the same changeset takes its rows with it).
    fn check_directory(&self, c: &Changeset) -> Result<(), StoreError> {
        for t in &c.scim_tokens {
            if self.org_after(c, t.org_id()).is_none() {
                return Err(StoreError::NotFound);
            }
        }
        let removed: HashSet<MembershipId> = c.removed_memberships.iter().map(Membership::id).collect();
        for p in &c.profiles {
            let id = p.membership_id();
            let kept = self.memberships.contains_key(&id) && !removed.contains(&id);
            if !kept && !c.memberships.iter().any(|m| m.id() == id) {
                return Err(StoreError::NotFound);
            }
        }
        let removed: HashSet<RoleId> = c.removed_roles.iter().map(CustomRole::id).collect();
        for g in &c.directory_groups {
            let id = g.record().role_id;
            let kept = self.roles.contains_key(&id) && !removed.contains(&id);
            if !kept && !c.roles.iter().any(|r| r.id() == id) {
                return Err(StoreError::NotFound);
            }
        }
        Ok(())
    }

    /// With a cap, no org's active count may rise above it.
    fn check_cap(&self, c: &Changeset, deltas: &Deltas) -> Result<(), StoreError> {
        let Some(cap) = c.member_cap else {
            return Ok(());
        };
        for (org, (active, _)) in &deltas.counts {
            let now = self.orgs.get(org).map_or(0, |o| i64::from(o.headcount.active));
            if *active > 0 && now + active > i64::from(cap) {
                return Err(conflict(ConflictKind::MemberCap));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Writes: a validated changeset, applied row by row with its indexes and kept counts
// ---------------------------------------------------------------------------------------------

fn bump(count: &mut u32, by: i64) {
    let next = i64::from(*count).saturating_add(by).max(0);
    *count = u32::try_from(next).unwrap_or(u32::MAX);
}

impl State {
    fn apply(&mut self, mut c: Changeset) {
        self.services.apply(&c);
        self.siem.apply(&mut c);
        // Rows that are rewritten give up their keys first, so keys may move between rows of
        // one changeset.
        for org in &c.orgs {
            if let Some(old) = self.orgs.get(&org.id())
                && self.live_slugs.get(&old.slug) == Some(&old.id)
            {
                self.live_slugs.remove(&old.slug);
            }
        }
        for org in c.orgs {
            self.put_org(org);
        }
        for m in c.removed_memberships.iter().chain(&c.memberships) {
            self.take_membership(m.id());
        }
        for m in &c.removed_memberships {
            self.take_profile(m.id());
        }
        for m in c.memberships {
            let v = m.record().version + 1;
            self.put_membership(m.with_version(v));
        }
        for r in c.removed_roles.iter().chain(&c.roles) {
            self.take_role(r.id());
        }
        for r in &c.removed_roles {
            self.take_group(r.id());
        }
        for r in c.roles {
            let v = r.record().version + 1;
            self.put_role(r.with_version(v));
        }
        for p in &c.profiles {
            self.take_profile(p.membership_id());
        }
        for p in c.profiles {
            let v = p.record().version + 1;
            self.put_profile(p.with_version(v));
        }
        for g in &c.directory_groups {
            self.take_group(g.record().role_id);
        }
        for g in c.directory_groups {
            let v = g.record().version + 1;
            self.put_group(g.with_version(v));
        }
        // A rewritten token keeps the later `last_used_at` (a use is a blind write that a
        // writer holding an older copy must not undo).
        let mut last_used: Vec<(ScimTokenId, DateTime<Utc>)> = Vec::new();
        for t in c.removed_scim_tokens.iter().chain(&c.scim_tokens) {
            if let Some(old) = self.take_token(t.id())
                && let Some(at) = old.record().last_used_at
            {
                last_used.push((old.id(), at));
            }
        }
        for t in c.scim_tokens {
            let v = t.record().version + 1;
            self.put_token(t.with_version(v));
        }
        for (id, at) in last_used.into_iter().chain(c.scim_token_uses) {
            self.use_token(id, at);
        }
        for d in c.removed_custom_domains.iter().chain(&c.custom_domains) {
            self.take_custom_domain(d.org_id());
        }
        for d in c.custom_domains {
            let v = d.record().version + 1;
            self.domain_claims
                .entry(d.domain().clone())
                .or_default()
                .insert(d.org_id());
            self.custom_domains.insert(d.org_id(), d.with_version(v));
        }
        for b in c.brandings {
            let v = b.record().version + 1;
            self.brandings.insert(b.org_id(), b.with_version(v));
        }
        for user in &c.users {
            if let Some(old) = self.users.get(&user.id())
                && self.emails.get(old.email()) == Some(&user.id())
            {
                self.emails.remove(old.email());
            }
        }
        for user in c.users {
            self.emails.insert(user.email().clone(), user.id());
            let v = user.record().version + 1;
            self.users.insert(user.id(), user.with_version(v));
        }
        for inv in c.invitations {
            let v = inv.record().version + 1;
            self.invitations.insert(inv.record().id, inv.with_version(v));
        }
        for mut s in c.sessions {
            s.version += 1;
            if let Some((hash, at)) = s.previous_hash {
                self.consumed.entry(hash).or_insert((s.id, at));
            }
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
                    RevocationScope::Service(service) => s.service_id == Some(service),
                    RevocationScope::EndUserOfOrg(org, user) => {
                        s.org_id == Some(org) && s.user_id == user && s.kind == org_domain::SessionKind::Service
                    }
                };
                if hit {
                    s.revoke(r.reason, r.at);
                    s.version += 1;
                }
            }
        }
        for prune in &c.audit_prunes {
            self.prune(prune.log, prune.through_seq);
        }
        for draft in c.audit {
            self.append(draft);
        }
        for w in c.webhooks {
            self.put_webhook(w);
        }
        for mut d in c.deliveries {
            d.version += 1;
            self.put_delivery(d);
        }
        for e in c.events {
            for mut d in org_ports::webhooks::fan_out(&e, self.webhooks.values()) {
                d.version = 1;
                self.put_delivery(d);
            }
            self.event_ids.insert(e.id);
            self.events.push(e);
        }
        for x in c.removed_smtp {
            self.smtp.remove(&x.org_id());
        }
        for x in c.smtp {
            let version = x.record().version + 1;
            self.smtp.insert(x.org_id(), x.with_version(version));
        }
        for x in c.removed_oauth_credentials {
            self.oauth_credentials.remove(&(x.org_id(), x.provider()));
        }
        for x in c.oauth_credentials {
            let version = x.record().version + 1;
            self.oauth_credentials
                .insert((x.org_id(), x.provider()), x.with_version(version));
        }
        for x in c.removed_billing_credentials {
            self.billing_credentials.remove(&(x.org_id(), x.provider()));
        }
        for x in c.billing_credentials {
            let version = x.record().version + 1;
            self.billing_credentials
                .insert((x.org_id(), x.provider()), x.with_version(version));
        }
        for m in c.mails {
            let version = m.version + 1;
            self.mails.insert(m.id, m.with_version(version));
        }
        self.apply_risk(c.risk_settings, c.risk_events);
        self.apply_logins(&c.login_identities, &c.end_user_logins);
        self.apply_upstream(c.removed_upstream_providers, c.upstream_providers);
        for org in c.org_purges {
            self.purge(org);
        }
    }

    /// Removes a deleted org with every row that hangs on it (§4.9).
    fn purge(&mut self, org: OrgId) {
        if self.orgs.get(&org).is_none_or(|o| o.deleted_at.is_none()) {
            return;
        }
        let members: Vec<MembershipId> = self.roster.remove(&org).unwrap_or_default().into_values().collect();
        for id in members {
            self.take_profile(id);
            self.take_membership(id);
        }
        let roles: Vec<RoleId> = self
            .roles
            .values()
            .filter(|r| r.org_id() == org)
            .map(|r| r.id())
            .collect();
        for id in roles {
            self.take_group(id);
            self.take_role(id);
        }
        self.holders.retain(|(o, _), _| *o != org);
        self.invitations.retain(|_, i| i.record().org_id != org);
        let sessions: HashSet<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.org_id == Some(org))
            .map(|s| s.id)
            .collect();
        self.sessions.retain(|id, _| !sessions.contains(id));
        self.consumed.retain(|_, (id, _)| !sessions.contains(id));
        self.logs.remove(&AuditLog::Org(org));
        self.events.retain(|e| {
            let keep = e.org_id != org;
            if !keep {
                self.event_ids.remove(&e.id);
            }
            keep
        });
        let hooks: HashSet<WebhookId> = self
            .webhooks
            .values()
            .filter(|w| w.org_id() == org)
            .map(|w| w.id())
            .collect();
        self.webhooks.retain(|id, _| !hooks.contains(id));
        self.webhook_names.retain(|(o, _), _| *o != org);
        self.deliveries.retain(|_, d| !hooks.contains(&d.webhook_id));
        self.endpoints.retain(|id, _| !hooks.contains(id));
        let tokens: Vec<ScimTokenId> = self
            .org_tokens
            .remove(&org)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        for id in tokens {
            self.take_token(id);
        }
        self.smtp.remove(&org);
        self.oauth_credentials.retain(|(o, _), _| *o != org);
        self.billing_credentials.retain(|(o, _), _| *o != org);
        self.mails.retain(|_, m| m.org_id != org);
        self.brandings.remove(&org);
        self.take_custom_domain(org);
        self.purge_risk(org);
        self.services.purge(org);
        self.purge_upstream(org);
        self.siem.purge(org);
        self.purge_logins(org);
        self.orgs.remove(&org);
    }

    /// Removes an org's domain claim with its index entry.
    fn take_custom_domain(&mut self, org: OrgId) {
        if let Some(old) = self.custom_domains.remove(&org) {
            unlist(&mut self.domain_claims, old.domain(), &org);
        }
    }

    /// Stores an org row for its settings, lifecycle and owner; the counts stay as kept.
    fn put_org(&mut self, org: Organization) {
        let mut state = org.state().clone();
        state.headcount = self.orgs.get(&state.id).map(|o| o.headcount).unwrap_or_default();
        state.version += 1;
        if state.deleted_at.is_none() {
            self.live_slugs.insert(state.slug.clone(), state.id);
        }
        self.orgs.insert(state.id, state);
    }

    /// Removes a stored membership with its index entries and its share of the kept counts.
    fn take_membership(&mut self, id: MembershipId) {
        let Some(m) = self.memberships.remove(&id) else {
            return;
        };
        if self.member_of.get(&(m.org_id(), m.user_id())) == Some(&id) {
            self.member_of.remove(&(m.org_id(), m.user_id()));
        }
        if let Some(roster) = self.roster.get_mut(&m.org_id()) {
            roster.remove(&(m.joined_at(), m.user_id()));
        }
        if let Some(mine) = self.memberships_of.get_mut(&m.user_id()) {
            mine.remove(&id);
        }
        if self.owners.get(&m.org_id()) == Some(&id) {
            self.owners.remove(&m.org_id());
        }
        self.count(&m, -1);
    }

    fn put_membership(&mut self, m: Membership) {
        let (id, org, user) = (m.id(), m.org_id(), m.user_id());
        self.member_of.insert((org, user), id);
        self.roster.entry(org).or_default().insert((m.joined_at(), user), id);
        self.memberships_of.entry(user).or_default().insert(id);
        if *m.role() == Role::Owner {
            self.owners.insert(org, id);
        }
        self.count(&m, 1);
        self.memberships.insert(id, m);
    }

    /// Moves the kept counts of `m`'s org, and its custom role's holders, by `sign`.
    fn count(&mut self, m: &Membership, sign: i64) {
        let (org, active, role) = tally(m);
        if let Some(o) = self.orgs.get_mut(&org) {
            bump(&mut o.headcount.active, sign * active);
            bump(&mut o.headcount.total, sign);
        }
        if let Some(slug) = role {
            let held = self.holders.entry((org, slug)).or_default();
            *held = held.saturating_add_signed(sign);
        }
    }

    fn take_role(&mut self, id: RoleId) {
        let Some(r) = self.roles.remove(&id) else {
            return;
        };
        let slug = (r.org_id(), r.slug().clone());
        if self.role_slugs.get(&slug) == Some(&id) {
            self.role_slugs.remove(&slug);
        }
        let name = (r.org_id(), r.record().name.unique_key());
        if self.role_names.get(&name) == Some(&id) {
            self.role_names.remove(&name);
        }
    }

    fn put_role(&mut self, r: CustomRole) {
        self.role_slugs.insert((r.org_id(), r.slug().clone()), r.id());
        self.role_names
            .insert((r.org_id(), r.record().name.unique_key()), r.id());
        self.roles.insert(r.id(), r);
    }

    fn take_profile(&mut self, id: MembershipId) {
        let Some(p) = self.profiles.remove(&id) else {
            return;
        };
        let r = p.record();
        let key = (r.org_id, p.user_name_key());
        if self.user_names.get(&key) == Some(&id) {
            self.user_names.remove(&key);
        }
        if let Some(ext) = &r.external_id {
            unlist(
                &mut self.profile_external_ids,
                &(r.org_id, ext.clone()),
                &(r.created_at, id),
            );
        }
        unlist(
            &mut self.profile_emails,
            &(r.org_id, r.email.clone()),
            &(r.created_at, id),
        );
    }

    fn put_profile(&mut self, p: DirectoryProfile) {
        let r = p.record();
        let id = r.membership_id;
        self.user_names.insert((r.org_id, p.user_name_key()), id);
        if let Some(ext) = &r.external_id {
            self.profile_external_ids
                .entry((r.org_id, ext.clone()))
                .or_default()
                .insert((r.created_at, id));
        }
        self.profile_emails
            .entry((r.org_id, r.email.clone()))
            .or_default()
            .insert((r.created_at, id));
        self.profiles.insert(id, p);
    }

    fn take_group(&mut self, id: RoleId) {
        let Some(g) = self.directory_groups.remove(&id) else {
            return;
        };
        let r = g.record();
        if let Some(ext) = &r.external_id {
            unlist(&mut self.group_external_ids, &(r.org_id, ext.clone()), &id);
        }
    }

    fn put_group(&mut self, g: DirectoryGroup) {
        let r = g.record();
        if let Some(ext) = &r.external_id {
            self.group_external_ids
                .entry((r.org_id, ext.clone()))
                .or_default()
                .insert(r.role_id);
        }
        self.directory_groups.insert(r.role_id, g);
    }

    /// Removes a stored token with its index entries; returns it.
    fn take_token(&mut self, id: ScimTokenId) -> Option<ScimToken> {
        let t = self.scim_tokens.remove(&id)?;
        let r = t.record();
        if self.scim_hashes.get(&r.token_hash) == Some(&id) {
            self.scim_hashes.remove(&r.token_hash);
        }
        unlist(&mut self.org_tokens, &r.org_id, &(r.created_at, id));
        Some(t)
    }

    fn put_token(&mut self, t: ScimToken) {
        let r = t.record();
        self.scim_hashes.insert(r.token_hash, r.id);
        self.org_tokens
            .entry(r.org_id)
            .or_default()
            .insert((r.created_at, r.id));
        self.scim_tokens.insert(r.id, t);
    }

    /// A use: `last_used_at` moves to `at` unless it is later already; the version stays. A
    /// token that is gone (deleted concurrently) is left alone.
    fn use_token(&mut self, id: ScimTokenId, at: DateTime<Utc>) {
        let Some(t) = self.scim_tokens.get_mut(&id) else {
            return;
        };
        if t.record().last_used_at.is_some_and(|last| last >= at) {
            return;
        }
        let mut r = t.record().clone();
        r.last_used_at = Some(at);
        *t = ScimToken::restore(r);
    }

    fn put_webhook(&mut self, w: Webhook) {
        if let Some(old) = self.webhooks.get(&w.id()) {
            let key = (old.org_id(), old.name().to_owned());
            if self.webhook_names.get(&key) == Some(&old.id()) {
                self.webhook_names.remove(&key);
            }
        }
        if w.record().deleted_at.is_none() {
            self.webhook_names.insert((w.org_id(), w.name().to_owned()), w.id());
        }
        let version = w.record().version + 1;
        self.webhooks.insert(w.id(), w.with_version(version));
    }

    fn put_delivery(&mut self, d: Delivery) {
        if let Some(old) = self.deliveries.get(&d.id)
            && let Some(e) = self.endpoints.get_mut(&old.webhook_id)
        {
            e.by_time.remove(&(old.created_at, old.id));
            e.count = e.count.saturating_sub(1);
        }
        let e = self.endpoints.entry(d.webhook_id).or_default();
        e.by_time.insert((d.created_at, d.id));
        e.count += 1;
        self.deliveries.insert(d.id, d);
    }

    /// Deletes a log's entries through `through_seq`; the head stays.
    fn prune(&mut self, log: AuditLog, through_seq: u64) {
        let Some(l) = self.logs.get_mut(&log) else {
            return;
        };
        let kept = l.entries.split_off(&through_seq.saturating_add(1));
        let pruned = std::mem::replace(&mut l.entries, kept);
        for e in pruned.values() {
            l.by_time.remove(&(e.entry.created_at, e.seq));
        }
        l.count = l.count.saturating_sub(pruned.len() as u64);
    }

    /// Appends an entry at the next `seq` of its log, chained to the kept head.
    fn append(&mut self, draft: org_ports::AuditDraft) {
        let l = self.logs.entry(log_of(draft.org_id)).or_default();
        let (last, prev_hash) = l.head.unwrap_or((0, chain::GENESIS));
        let seq = last + 1;
        let hash = chain::entry_hash(&prev_hash, seq, &draft);
        l.head = Some((seq, hash));
        l.count += 1;
        l.by_time.insert((draft.created_at, seq));
        self.event_ids.insert(draft.id);
        l.entries.insert(
            seq,
            AuditEntry {
                seq,
                entry: draft,
                prev_hash,
                hash,
            },
        );
    }
}

#[async_trait]
impl UnitOfWork for MemoryStore {
    async fn commit(&self, changes: Changeset) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        state.validate(&changes)?;
        state.apply(changes);
        self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl ChangeToken for MemoryStore {
    fn current(&self) -> Option<u64> {
        Some(self.writes.load(std::sync::atomic::Ordering::SeqCst))
    }
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

impl State {
    /// The org row with its kept counts, through the domain's constructor.
    fn org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        self.orgs
            .get(&id)
            .map(|state| Organization::restore(state.clone()).map_err(corrupt))
            .transpose()
    }

    fn live_org(&self, slug: &Slug) -> Result<Option<Organization>, StoreError> {
        match self.live_slugs.get(slug) {
            Some(id) => self.org(*id),
            None => Ok(None),
        }
    }

    fn membership(&self, org: OrgId, user: UserId) -> Option<&Membership> {
        self.member_of.get(&(org, user)).and_then(|id| self.memberships.get(id))
    }

    fn role_named(&self, org: OrgId, slug: &RoleSlug) -> Option<&CustomRole> {
        self.role_slugs
            .get(&(org, slug.clone()))
            .and_then(|id| self.roles.get(id))
    }

    fn context(&self, org: Organization, membership: Option<&Membership>) -> OrgContext {
        let role = match membership.map(Membership::role) {
            Some(Role::Custom(slug)) => self.role_named(org.id(), slug).cloned(),
            _ => None,
        };
        OrgContext {
            org,
            membership: membership.cloned(),
            role,
        }
    }
}

#[async_trait]
impl OrgRepository for MemoryStore {
    async fn org_by_slug(&self, slug: &Slug) -> Result<Option<Organization>, StoreError> {
        self.lock()?.live_org(slug)
    }

    async fn org_by_id(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        self.lock()?.org(id)
    }

    async fn org_context(&self, slug: &Slug, user: UserId) -> Result<Option<OrgContext>, StoreError> {
        let state = self.lock()?;
        let Some(org) = state.live_org(slug)? else {
            return Ok(None);
        };
        let membership = state.membership(org.id(), user);
        Ok(Some(state.context(org, membership)))
    }

    async fn orgs_of_member(
        &self,
        user: UserId,
        status: Option<OrgStatus>,
        page: PageRequest,
    ) -> Result<Page<OrgContext>, StoreError> {
        let state = self.lock()?;
        let mut rows: Vec<(DateTime<Utc>, OrgId, &Membership)> = state
            .memberships_of
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|id| state.memberships.get(id))
            .filter(|m| m.is_active())
            .filter(|m| {
                state
                    .orgs
                    .get(&m.org_id())
                    .is_some_and(|o| o.deleted_at.is_none() && status.is_none_or(|s| o.status == s))
            })
            .map(|m| (m.joined_at(), m.org_id(), m))
            .collect();
        rows.sort_by_key(|(at, org, _)| (*at, *org));
        let window = page.slice(&rows);
        let mut items = Vec::with_capacity(window.items.len());
        for (_, org, m) in window.items {
            if let Some(o) = state.org(org)? {
                items.push(state.context(o, Some(m)));
            }
        }
        Ok(Page {
            items,
            total: window.total,
        })
    }

    async fn list_orgs(&self, filter: &OrgFilter, page: PageRequest) -> Result<Page<Organization>, StoreError> {
        let state = self.lock()?;
        let q = filter.q.as_ref().map(|q| q.to_lowercase());
        let mut rows: Vec<&OrgState> = state
            .orgs
            .values()
            .filter(|o| o.deleted_at.is_none() && filter.status.is_none_or(|s| o.status == s))
            .filter(|o| {
                q.as_ref().is_none_or(|q| {
                    o.slug.as_str().contains(q.as_str()) || o.name.as_str().to_lowercase().contains(q.as_str())
                })
            })
            .collect();
        rows.sort_by_key(|o| (o.created_at, o.id));
        let window = page.slice(&rows);
        let items = window
            .items
            .into_iter()
            .map(|o| Organization::restore(o.clone()).map_err(corrupt))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: window.total,
        })
    }

    async fn count_orgs_owned_by(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(self
            .lock()?
            .orgs
            .values()
            .filter(|o| o.deleted_at.is_none() && o.owner_user_id == user)
            .count() as u64)
    }

    async fn purgeable_orgs(&self, deleted_before: DateTime<Utc>, limit: u32) -> Result<Vec<OrgId>, StoreError> {
        let state = self.lock()?;
        let pending: HashSet<OrgId> = state
            .deliveries
            .values()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .map(|d| d.org_id)
            .collect();
        let mut due: Vec<(DateTime<Utc>, OrgId)> = state
            .orgs
            .values()
            .filter_map(|o| o.deleted_at.map(|at| (at, o.id)))
            .filter(|(at, id)| *at < deleted_before || !pending.contains(id))
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit as usize).map(|(_, id)| id).collect())
    }
}

fn member_matches(m: &Membership, role: Option<&Role>, status: Option<MembershipStatus>) -> bool {
    role.is_none_or(|r| m.role() == r) && status.is_none_or(|s| m.status() == s)
}

#[async_trait]
impl MembershipRepository for MemoryStore {
    async fn membership(&self, org: OrgId, user: UserId) -> Result<Option<Membership>, StoreError> {
        Ok(self.lock()?.membership(org, user).cloned())
    }

    async fn memberships_of(&self, org: OrgId, users: &[UserId]) -> Result<Vec<Membership>, StoreError> {
        let state = self.lock()?;
        Ok(users
            .iter()
            .filter_map(|u| state.membership(org, *u).cloned())
            .collect())
    }

    async fn member_page(&self, org: OrgId, query: &MemberQuery) -> Result<Vec<MemberRow>, StoreError> {
        let state = self.lock()?;
        let Some(roster) = state.roster.get(&org) else {
            return Ok(Vec::new());
        };
        let from = query.after.map_or(Bound::Unbounded, Bound::Excluded);
        let skip = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let mut rows = Vec::new();
        let matching = roster
            .range((from, Bound::Unbounded))
            .filter_map(|(_, id)| state.memberships.get(id))
            .filter(|m| member_matches(m, query.role.as_ref(), query.status));
        for m in matching.skip(skip).take(query.limit as usize) {
            let user = state
                .users
                .get(&m.user_id())
                .ok_or_else(|| StoreError::Corrupt(format!("membership {} names a missing user", m.id())))?;
            rows.push(MemberRow {
                membership: m.clone(),
                user: user.clone(),
            });
        }
        Ok(rows)
    }

    async fn count_members(
        &self,
        org: OrgId,
        role: Option<Role>,
        status: Option<MembershipStatus>,
    ) -> Result<u64, StoreError> {
        let state = self.lock()?;
        Ok(state
            .roster
            .get(&org)
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter_map(|id| state.memberships.get(id))
            .filter(|m| member_matches(m, role.as_ref(), status))
            .count() as u64)
    }
}

#[async_trait]
impl RoleRepository for MemoryStore {
    async fn custom_roles(&self, org: OrgId) -> Result<Vec<CustomRole>, StoreError> {
        let state = self.lock()?;
        let mut all: Vec<CustomRole> = state.roles.values().filter(|r| r.org_id() == org).cloned().collect();
        all.sort_by_key(|r| (r.record().created_at, r.id()));
        Ok(all)
    }

    async fn custom_roles_named(&self, org: OrgId, slugs: &[RoleSlug]) -> Result<Vec<CustomRole>, StoreError> {
        let state = self.lock()?;
        let mut seen = HashSet::new();
        Ok(slugs
            .iter()
            .filter(|s| seen.insert(*s))
            .filter_map(|s| state.role_named(org, s).cloned())
            .collect())
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock()?.users.get(&id).cloned())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let state = self.lock()?;
        Ok(state.emails.get(email).and_then(|id| state.users.get(id)).cloned())
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
        let live_org = |id: &OrgId| state.orgs.get(id).is_some_and(|o| o.deleted_at.is_none());
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

    async fn session_context(&self, id: SessionId, org: Option<Slug>) -> Result<Option<SessionContext>, StoreError> {
        let state = self.lock()?;
        let Some((session, user)) = state
            .sessions
            .get(&id)
            .and_then(|s| state.users.get(&s.user_id).map(|u| (s.clone(), u.clone())))
        else {
            return Ok(None);
        };
        let org = match org {
            None => None,
            Some(slug) => state.live_org(&slug)?.map(|o| {
                let membership = state.membership(o.id(), user.id());
                state.context(o, membership)
            }),
        };
        Ok(Some(SessionContext { session, user, org }))
    }

    async fn session_by_refresh_hash(&self, hash: &TokenHash) -> Result<Option<RefreshMatch>, StoreError> {
        let state = self.lock()?;
        if let Some(s) = state.sessions.values().find(|s| &s.refresh_hash == hash) {
            return Ok(Some(RefreshMatch::Current(s.clone())));
        }
        Ok(state.consumed.get(hash).and_then(|(id, at)| {
            state.sessions.get(id).map(|s| RefreshMatch::Consumed {
                session: s.clone(),
                consumed_at: *at,
            })
        }))
    }
}

#[async_trait]
impl LeaseRepository for MemoryStore {
    async fn try_lease(
        &self,
        name: &str,
        holder: uuid::Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock()?;
        let free = state
            .leases
            .get(name)
            .is_none_or(|(h, expires)| *h == holder || *expires <= now);
        if free {
            state.leases.insert(name.to_owned(), (holder, until));
        }
        Ok(free)
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
        let cursor = filter.before.is_some();
        let unfiltered = *filter == AuditFilter::default();
        let Some(l) = state.logs.get(&log) else {
            return Ok(newest_page(std::iter::empty(), page, cursor, unfiltered, 0));
        };
        let upper = filter.before.map_or(Bound::Unbounded, Bound::Excluded);
        let newest_first = l
            .by_time
            .range((Bound::Unbounded, upper))
            .rev()
            .filter_map(|(_, seq)| l.entries.get(seq))
            .filter(|e| filter.matches(&e.entry));
        Ok(newest_page(newest_first, page, cursor, unfiltered, l.count))
    }

    async fn audit_chain(&self, log: AuditLog, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let state = self.lock()?;
        Ok(state.logs.get(&log).map_or_else(Vec::new, |l| {
            l.entries
                .range((Bound::Excluded(after_seq), Bound::Unbounded))
                .take(limit as usize)
                .map(|(_, e)| e.clone())
                .collect()
        }))
    }

    async fn audit_head(&self, log: AuditLog) -> Result<Option<AuditEntry>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .logs
            .get(&log)
            .and_then(|l| l.head.and_then(|(seq, _)| l.entries.get(&seq)))
            .cloned())
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
            .filter(|w| w.org_id() == org && w.record().deleted_at.is_none())
            .cloned()
            .collect();
        all.sort_by_key(|w| (w.record().created_at, w.id()));
        Ok(all)
    }

    async fn webhook(&self, org: OrgId, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        Ok(self
            .lock()?
            .webhooks
            .get(&id)
            .filter(|w| w.org_id() == org && w.record().deleted_at.is_none())
            .cloned())
    }

    async fn webhook_deliveries(
        &self,
        webhook: WebhookId,
        filter: &DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let state = self.lock()?;
        let cursor = filter.before.is_some();
        let unfiltered = *filter == DeliveryFilter::default();
        let Some(e) = state.endpoints.get(&webhook) else {
            return Ok(newest_page(std::iter::empty(), page, cursor, unfiltered, 0));
        };
        let upper = filter.before.map_or(Bound::Unbounded, Bound::Excluded);
        let newest_first = e
            .by_time
            .range((Bound::Unbounded, upper))
            .rev()
            .filter_map(|(_, id)| state.deliveries.get(id))
            .filter(|d| filter.matches(d));
        Ok(newest_page(newest_first, page, cursor, unfiltered, e.count))
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

/// Most rows a directory lookup returns (the port's bound).
const DIRECTORY_LOOKUP_LIMIT: usize = 100;

impl State {
    /// The profiles an ordered index entry lists, oldest first, at most the lookup bound.
    fn listed_profiles(&self, listed: Option<&Listed>) -> Vec<DirectoryProfile> {
        listed
            .into_iter()
            .flatten()
            .filter_map(|(_, id)| self.profiles.get(id).cloned())
            .take(DIRECTORY_LOOKUP_LIMIT)
            .collect()
    }
}

#[async_trait]
impl DirectoryRepository for MemoryStore {
    async fn group_member_refs(&self, org: OrgId, role: Option<Role>) -> Result<Vec<(UserId, Email)>, StoreError> {
        let state = self.lock()?;
        let Some(roster) = state.roster.get(&org) else {
            return Ok(Vec::new());
        };
        roster
            .values()
            .filter_map(|id| state.memberships.get(id))
            .filter(|m| member_matches(m, role.as_ref(), Some(MembershipStatus::Active)))
            .map(|m| {
                let user = state
                    .users
                    .get(&m.user_id())
                    .ok_or_else(|| StoreError::Corrupt(format!("membership {} names a missing user", m.id())))?;
                Ok((user.id(), user.email().clone()))
            })
            .collect()
    }

    async fn scim_token_by_hash(&self, hash: &TokenHash) -> Result<Option<ScimToken>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .scim_hashes
            .get(hash)
            .and_then(|id| state.scim_tokens.get(id))
            .cloned())
    }

    async fn scim_token(&self, org: OrgId, id: ScimTokenId) -> Result<Option<ScimToken>, StoreError> {
        Ok(self.lock()?.scim_tokens.get(&id).filter(|t| t.org_id() == org).cloned())
    }

    async fn scim_tokens(&self, org: OrgId, page: PageRequest) -> Result<Page<ScimToken>, StoreError> {
        let state = self.lock()?;
        let Some(listed) = state.org_tokens.get(&org) else {
            return Ok(Page {
                items: Vec::new(),
                total: Some(0),
            });
        };
        let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        let items = listed
            .iter()
            .skip(skip)
            .take(page.limit as usize)
            .filter_map(|(_, id)| state.scim_tokens.get(id).cloned())
            .collect();
        Ok(Page {
            items,
            total: Some(listed.len() as u64),
        })
    }

    async fn profiles(&self, org: OrgId, memberships: &[MembershipId]) -> Result<Vec<DirectoryProfile>, StoreError> {
        let state = self.lock()?;
        let mut seen = HashSet::new();
        Ok(memberships
            .iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| state.profiles.get(id))
            .filter(|p| p.record().org_id == org)
            .cloned()
            .collect())
    }

    async fn profile_by_user_name(&self, org: OrgId, key: &str) -> Result<Option<DirectoryProfile>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .user_names
            .get(&(org, key.to_owned()))
            .and_then(|id| state.profiles.get(id))
            .cloned())
    }

    async fn profiles_by_external_id(
        &self,
        org: OrgId,
        external_id: &str,
    ) -> Result<Vec<DirectoryProfile>, StoreError> {
        let state = self.lock()?;
        Ok(state.listed_profiles(state.profile_external_ids.get(&(org, external_id.to_owned()))))
    }

    async fn profiles_by_email(&self, org: OrgId, email: &Email) -> Result<Vec<DirectoryProfile>, StoreError> {
        let state = self.lock()?;
        Ok(state.listed_profiles(state.profile_emails.get(&(org, email.clone()))))
    }

    async fn directory_groups(&self, org: OrgId, roles: &[RoleId]) -> Result<Vec<DirectoryGroup>, StoreError> {
        let state = self.lock()?;
        let mut seen = HashSet::new();
        Ok(roles
            .iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| state.directory_groups.get(id))
            .filter(|g| g.record().org_id == org)
            .cloned()
            .collect())
    }

    async fn directory_groups_by_external_id(
        &self,
        org: OrgId,
        external_id: &str,
    ) -> Result<Vec<DirectoryGroup>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .group_external_ids
            .get(&(org, external_id.to_owned()))
            .into_iter()
            .flatten()
            .filter_map(|id| state.directory_groups.get(id).cloned())
            .take(DIRECTORY_LOOKUP_LIMIT)
            .collect())
    }
}

#[async_trait]
impl MailRepository for MemoryStore {
    async fn smtp_settings(&self, org: OrgId) -> Result<Option<SmtpSettings>, StoreError> {
        Ok(self.lock()?.smtp.get(&org).cloned())
    }

    async fn mail(&self, id: MailId) -> Result<Option<Mail>, StoreError> {
        Ok(self.lock()?.mails.get(&id).cloned())
    }
}

/// The claim of a leased queue: the items due at `now` (by `due_at`, oldest first, at most
/// `limit`), each `lease`d until `lease_until` and returned as stored after it.
fn lease_due<K: Copy + Ord + Hash, V: Clone>(
    items: &mut HashMap<K, V>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
    due_at: impl Fn(&V) -> Option<DateTime<Utc>>,
    lease: impl Fn(&mut V, DateTime<Utc>),
) -> Vec<V> {
    let mut due: Vec<(DateTime<Utc>, K)> = items
        .iter()
        .filter_map(|(k, v)| due_at(v).filter(|at| *at <= now).map(|at| (at, *k)))
        .collect();
    due.sort();
    due.truncate(limit as usize);
    due.into_iter()
        .filter_map(|(_, k)| {
            let v = items.get_mut(&k)?;
            lease(v, lease_until);
            Some(v.clone())
        })
        .collect()
}

#[async_trait]
impl MailQueue for MemoryStore {
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Mail>, StoreError> {
        let mut state = self.lock()?;
        let out = lease_due(
            &mut state.mails,
            now,
            lease_until,
            limit,
            |m| m.next_attempt_at.filter(|_| m.status == MailStatus::Pending),
            |m, until| {
                m.next_attempt_at = Some(until);
                m.version += 1;
            },
        );
        if !out.is_empty() {
            self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(out)
    }
}

#[async_trait]
impl SettingsRepository for MemoryStore {
    async fn oauth_credentials(
        &self,
        org: OrgId,
        provider: OAuthProvider,
    ) -> Result<Option<OAuthCredentials>, StoreError> {
        Ok(self.lock()?.oauth_credentials.get(&(org, provider)).cloned())
    }

    async fn billing_credentials(
        &self,
        org: OrgId,
        provider: BillingProvider,
    ) -> Result<Option<BillingCredentials>, StoreError> {
        Ok(self.lock()?.billing_credentials.get(&(org, provider)).cloned())
    }

    async fn branding(&self, org: OrgId) -> Result<Option<Branding>, StoreError> {
        Ok(self.lock()?.brandings.get(&org).cloned())
    }

    async fn custom_domain(&self, org: OrgId) -> Result<Option<CustomDomain>, StoreError> {
        Ok(self.lock()?.custom_domains.get(&org).cloned())
    }

    async fn domain_claims(&self, domain: &DomainName, except: OrgId) -> Result<Vec<DomainClaim>, StoreError> {
        let state = self.lock()?;
        let mut claims: Vec<DomainClaim> = state
            .domain_claims
            .get(domain)
            .into_iter()
            .flatten()
            .filter(|o| **o != except)
            .filter_map(|o| {
                let claim = state.custom_domains.get(o)?.clone();
                let org_deleted = state.orgs.get(o).is_none_or(|s| s.deleted_at.is_some());
                Some(DomainClaim { claim, org_deleted })
            })
            .collect();
        claims.sort_by_key(|c| (c.claim.record().created_at, c.claim.org_id()));
        Ok(claims)
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
        let out = lease_due(
            &mut state.deliveries,
            now,
            lease_until,
            limit,
            |d| d.next_retry_at.filter(|_| d.status == DeliveryStatus::Pending),
            |d, until| {
                d.next_retry_at = Some(until);
                d.version += 1;
            },
        );
        if !out.is_empty() {
            self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
