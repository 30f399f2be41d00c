//! Services (§19), member grants (§5.4) and login keys (§19.5) in memory: rows with their
//! versions, indexes by (org, slug), per-org creation order and per-member grants, the kept
//! service count of each org (the cap is checked on it, under the store's one lock), and login
//! keys by hash and by live name.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::login_key::LoginKey;
use org_domain::service::{Service, ServiceGrant, ServiceSlug};
use org_domain::{LoginKeyId, OrgId, ServiceId, TokenHash, UserId};
use org_ports::{
    Changeset, ConflictKind, LoginKeyRepository, Page, PageRequest, ServiceRepository, StoreError, UniqueKey,
};

use crate::{MemoryStore, conflict, unique};

/// The rows of this module and their indexes.
#[derive(Default)]
pub(crate) struct ServiceState {
    services: HashMap<ServiceId, Service>,
    by_slug: HashMap<(OrgId, ServiceSlug), ServiceId>,
    /// Per org, its services by `(created_at, id)`.
    per_org: HashMap<OrgId, BTreeSet<(DateTime<Utc>, ServiceId)>>,
    /// The kept service count of each org.
    counts: HashMap<OrgId, u32>,
    grants: HashMap<(ServiceId, UserId), ServiceGrant>,
    /// Per (org, member), the services they hold a grant on.
    member_grants: HashMap<(OrgId, UserId), BTreeSet<ServiceId>>,
    login_keys: HashMap<LoginKeyId, LoginKey>,
    key_hashes: HashMap<TokenHash, LoginKeyId>,
    live_key_names: HashMap<String, LoginKeyId>,
}

impl ServiceState {
    /// Every check of the changeset's service, grant and login-key writes; `org_exists` says
    /// whether an org row is stored.
    pub(crate) fn validate(&self, c: &Changeset, org_exists: impl Fn(OrgId) -> bool) -> Result<(), StoreError> {
        let removed: HashSet<ServiceId> = c.removed_services.iter().map(Service::id).collect();
        for s in &c.removed_services {
            match self.services.get(&s.id()) {
                None => return Err(StoreError::NotFound),
                Some(stored) if stored.record().version != s.record().version => {
                    return Err(conflict(ConflictKind::StaleVersion));
                }
                Some(_) => {}
            }
        }
        let mut deltas: HashMap<OrgId, i64> = HashMap::new();
        for s in &c.removed_services {
            *deltas.entry(s.org_id()).or_default() -= 1;
        }
        let mut written = HashSet::new();
        let mut slugs_after: HashMap<(OrgId, ServiceSlug), ServiceId> = HashMap::new();
        for s in &c.services {
            if !written.insert(s.id()) {
                return Err(unique(UniqueKey::Id));
            }
            let v = s.record().version;
            match (v, self.services.get(&s.id())) {
                (0, Some(_)) => return Err(unique(UniqueKey::Id)),
                (0, None) => {
                    if !org_exists(s.org_id()) {
                        return Err(StoreError::NotFound);
                    }
                    *deltas.entry(s.org_id()).or_default() += 1;
                }
                (_, None) => return Err(StoreError::NotFound),
                (_, Some(stored)) if stored.record().version != v => {
                    return Err(conflict(ConflictKind::StaleVersion));
                }
                (_, Some(_)) => {}
            }
            let key = (s.org_id(), s.slug().clone());
            if slugs_after.insert(key.clone(), s.id()).is_some() {
                return Err(unique(UniqueKey::ServiceSlug));
            }
            if let Some(other) = self.by_slug.get(&key)
                && *other != s.id()
                && !removed.contains(other)
                && !c.services.iter().any(|x| x.id() == *other && x.slug() != s.slug())
            {
                return Err(unique(UniqueKey::ServiceSlug));
            }
        }
        if let Some(cap) = c.service_cap {
            for (org, d) in &deltas {
                let now = i64::from(self.counts.get(org).copied().unwrap_or(0));
                if *d > 0 && now + d > i64::from(cap) {
                    return Err(conflict(ConflictKind::ServiceCap));
                }
            }
        }
        for g in &c.service_grants {
            let exists = !removed.contains(&g.service_id)
                && (self.services.get(&g.service_id).is_some_and(|s| s.org_id() == g.org_id)
                    || c.services
                        .iter()
                        .any(|s| s.id() == g.service_id && s.org_id() == g.org_id));
            if !exists {
                return Err(StoreError::NotFound);
            }
        }
        let mut names: HashMap<&str, LoginKeyId> = HashMap::new();
        for k in &c.login_keys {
            let v = k.record().version;
            match (v, self.login_keys.get(&k.id())) {
                (0, Some(_)) => return Err(unique(UniqueKey::Id)),
                (0, None) => {}
                (_, None) => return Err(StoreError::NotFound),
                (_, Some(stored)) if stored.record().version != v => {
                    return Err(conflict(ConflictKind::StaleVersion));
                }
                (_, Some(_)) => {}
            }
            if !k.is_live() {
                continue;
            }
            if names.insert(k.name(), k.id()).is_some() {
                return Err(unique(UniqueKey::LoginKeyName));
            }
            if let Some(other) = self.live_key_names.get(k.name())
                && *other != k.id()
                && !c.login_keys.iter().any(|x| x.id() == *other && !x.is_live())
            {
                return Err(unique(UniqueKey::LoginKeyName));
            }
            if self
                .key_hashes
                .get(&k.record().key_hash)
                .is_some_and(|id| *id != k.id())
            {
                return Err(unique(UniqueKey::Id));
            }
        }
        Ok(())
    }

    /// Applies a validated changeset's writes of this module; `removed_members` lose their grants.
    pub(crate) fn apply(&mut self, c: &Changeset) {
        for m in &c.removed_memberships {
            self.drop_member_grants(m.org_id(), m.user_id());
        }
        for s in &c.removed_services {
            self.take_service(s.id());
            self.bump(s.org_id(), -1);
        }
        for s in &c.services {
            if s.record().version == 0 {
                self.bump(s.org_id(), 1);
            } else if let Some(old) = self.services.get(&s.id()) {
                // An update keeps its grants; only its slug key may move.
                let key = (old.org_id(), old.slug().clone());
                if self.by_slug.get(&key) == Some(&old.id()) {
                    self.by_slug.remove(&key);
                }
            }
            let v = s.record().version + 1;
            let s = s.clone().with_version(v);
            self.by_slug.insert((s.org_id(), s.slug().clone()), s.id());
            self.per_org
                .entry(s.org_id())
                .or_default()
                .insert((s.record().created_at, s.id()));
            self.services.insert(s.id(), s);
        }
        for g in &c.service_grants {
            let key = (g.service_id, g.user_id);
            match g.access {
                Some(access) => {
                    self.grants.insert(
                        key,
                        ServiceGrant {
                            org_id: g.org_id,
                            service_id: g.service_id,
                            user_id: g.user_id,
                            access,
                        },
                    );
                    self.member_grants
                        .entry((g.org_id, g.user_id))
                        .or_default()
                        .insert(g.service_id);
                }
                None => {
                    self.grants.remove(&key);
                    if let Some(set) = self.member_grants.get_mut(&(g.org_id, g.user_id)) {
                        set.remove(&g.service_id);
                    }
                }
            }
        }
        for k in &c.login_keys {
            if let Some(old) = self.login_keys.get(&k.id())
                && self.live_key_names.get(old.name()) == Some(&old.id())
            {
                self.live_key_names.remove(old.name());
            }
            let k = k.clone().with_version(k.record().version + 1);
            if k.is_live() {
                self.live_key_names.insert(k.name().to_owned(), k.id());
            }
            self.key_hashes.insert(k.record().key_hash, k.id());
            self.login_keys.insert(k.id(), k);
        }
    }

    fn bump(&mut self, org: OrgId, by: i64) {
        let n = self.counts.entry(org).or_default();
        let next = i64::from(*n).saturating_add(by).max(0);
        *n = u32::try_from(next).unwrap_or(u32::MAX);
    }

    /// Removes a stored service with its indexes and its grants (not its count).
    fn take_service(&mut self, id: ServiceId) {
        let Some(s) = self.services.remove(&id) else {
            return;
        };
        self.by_slug.remove(&(s.org_id(), s.slug().clone()));
        if let Some(set) = self.per_org.get_mut(&s.org_id()) {
            set.remove(&(s.record().created_at, id));
        }
        let holders: Vec<UserId> = self
            .grants
            .keys()
            .filter(|(sid, _)| *sid == id)
            .map(|(_, u)| *u)
            .collect();
        for u in holders {
            self.grants.remove(&(id, u));
            if let Some(set) = self.member_grants.get_mut(&(s.org_id(), u)) {
                set.remove(&id);
            }
        }
    }

    fn drop_member_grants(&mut self, org: OrgId, user: UserId) {
        for sid in self.member_grants.remove(&(org, user)).unwrap_or_default() {
            self.grants.remove(&(sid, user));
        }
    }

    /// Removes every row of a purged org.
    pub(crate) fn purge(&mut self, org: OrgId) {
        let ids: Vec<ServiceId> = self
            .per_org
            .remove(&org)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        for id in ids {
            self.take_service(id);
        }
        self.counts.remove(&org);
        self.member_grants.retain(|(o, _), _| *o != org);
    }

    fn org_services(&self, org: OrgId) -> Vec<Service> {
        self.per_org
            .get(&org)
            .map(|set| {
                set.iter()
                    .filter_map(|(_, id)| self.services.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[async_trait]
impl ServiceRepository for MemoryStore {
    async fn service_page(&self, org: OrgId, page: PageRequest) -> Result<Page<Service>, StoreError> {
        let state = self.lock()?;
        let s = &state.services;
        let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        let items = s
            .per_org
            .get(&org)
            .map(|set| {
                set.iter()
                    .skip(skip)
                    .take(page.limit as usize)
                    .filter_map(|(_, id)| s.services.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Page {
            items,
            total: Some(u64::from(s.counts.get(&org).copied().unwrap_or(0))),
        })
    }

    async fn org_services(&self, org: OrgId) -> Result<Vec<Service>, StoreError> {
        Ok(self.lock()?.services.org_services(org))
    }

    async fn service_by_slug(&self, org: OrgId, slug: &ServiceSlug) -> Result<Option<Service>, StoreError> {
        let state = self.lock()?;
        let s = &state.services;
        Ok(s.by_slug
            .get(&(org, slug.clone()))
            .and_then(|id| s.services.get(id))
            .cloned())
    }

    async fn services_named(&self, org: OrgId, slugs: &[ServiceSlug]) -> Result<Vec<Service>, StoreError> {
        let state = self.lock()?;
        let s = &state.services;
        let wanted: BTreeSet<&ServiceSlug> = slugs.iter().collect();
        Ok(wanted
            .into_iter()
            .filter_map(|slug| s.by_slug.get(&(org, slug.clone())).and_then(|id| s.services.get(id)))
            .cloned()
            .collect())
    }

    async fn service_counts(&self, orgs: &[OrgId]) -> Result<Vec<(OrgId, u32)>, StoreError> {
        let state = self.lock()?;
        let counts = &state.services.counts;
        Ok(orgs
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|o| counts.get(o).map(|n| (*o, *n)))
            .collect())
    }

    async fn service_grants(&self, org: OrgId, user: UserId) -> Result<Vec<ServiceGrant>, StoreError> {
        let state = self.lock()?;
        let s = &state.services;
        Ok(s.member_grants
            .get(&(org, user))
            .map(|set| {
                set.iter()
                    .filter_map(|sid| s.grants.get(&(*sid, user)).copied())
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl LoginKeyRepository for MemoryStore {
    async fn login_key_by_hash(&self, hash: &TokenHash) -> Result<Option<LoginKey>, StoreError> {
        let state = self.lock()?;
        let s = &state.services;
        Ok(s.key_hashes.get(hash).and_then(|id| s.login_keys.get(id)).cloned())
    }

    async fn live_login_key(&self, name: &str) -> Result<Option<LoginKey>, StoreError> {
        let state = self.lock()?;
        let s = &state.services;
        Ok(s.live_key_names.get(name).and_then(|id| s.login_keys.get(id)).cloned())
    }
}
