//! Upstream identity providers (§11) in memory: rows by id, `connection_id` unique per org.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::OrgId;
use org_domain::upstream::{UpstreamProvider, UpstreamProviderId};
use org_ports::{Changeset, Page, PageRequest, StoreError, UniqueKey, UpstreamRepository};

use crate::{MemoryStore, State, check_deletes, check_writes, unique};

/// The providers and their indexes.
#[derive(Default)]
pub(crate) struct Upstreams {
    rows: HashMap<UpstreamProviderId, UpstreamProvider>,
    /// Per org, its providers by `(created_at, id)`.
    by_org: HashMap<OrgId, BTreeSet<(DateTime<Utc>, UpstreamProviderId)>>,
    connection_ids: HashMap<(OrgId, String), UpstreamProviderId>,
}

impl Upstreams {
    fn take(&mut self, id: UpstreamProviderId) {
        if let Some(old) = self.rows.remove(&id) {
            let r = old.record();
            if let Some(set) = self.by_org.get_mut(&r.org_id) {
                set.remove(&(r.created_at, id));
            }
            self.connection_ids.remove(&(r.org_id, r.connection_id.clone()));
        }
    }

    fn put(&mut self, p: UpstreamProvider) {
        self.take(p.id());
        let r = p.record();
        self.by_org.entry(r.org_id).or_default().insert((r.created_at, r.id));
        self.connection_ids.insert((r.org_id, r.connection_id.clone()), r.id);
        self.rows.insert(r.id, p);
    }
}

impl State {
    /// Versions, the org exists, and `connection_id` stays unique per org.
    pub(crate) fn check_upstream(&self, c: &Changeset) -> Result<(), StoreError> {
        let u = &self.upstream;
        for p in &c.upstream_providers {
            if !self.orgs.contains_key(&p.org_id()) {
                return Err(StoreError::NotFound);
            }
        }
        let stored = |id: &UpstreamProviderId| u.rows.get(id).map(|p| p.record().version);
        let mut seen = HashSet::new();
        check_writes(
            c.upstream_providers.iter().map(|p| (p.id(), p.record().version)),
            stored,
            &mut seen,
        )?;
        check_deletes(
            c.removed_upstream_providers
                .iter()
                .map(|p| (p.id(), p.record().version)),
            stored,
            &mut seen,
        )?;
        let released: HashSet<UpstreamProviderId> = c
            .upstream_providers
            .iter()
            .chain(&c.removed_upstream_providers)
            .map(UpstreamProvider::id)
            .collect();
        let mut claimed = HashSet::new();
        for p in &c.upstream_providers {
            let key = (p.org_id(), p.record().connection_id.clone());
            let held = u.connection_ids.get(&key).is_some_and(|id| !released.contains(id));
            if held || !claimed.insert(key) {
                return Err(unique(UniqueKey::ConnectionId));
            }
        }
        Ok(())
    }

    pub(crate) fn apply_upstream(&mut self, removed: Vec<UpstreamProvider>, written: Vec<UpstreamProvider>) {
        for p in removed {
            self.upstream.take(p.id());
        }
        for p in written {
            let v = p.record().version + 1;
            self.upstream.put(p.with_version(v));
        }
    }

    pub(crate) fn purge_upstream(&mut self, org: OrgId) {
        let ids: Vec<UpstreamProviderId> = self
            .upstream
            .by_org
            .get(&org)
            .into_iter()
            .flatten()
            .map(|(_, id)| *id)
            .collect();
        for id in ids {
            self.upstream.take(id);
        }
        self.upstream.by_org.remove(&org);
    }
}

#[async_trait]
impl UpstreamRepository for MemoryStore {
    async fn upstream_provider(
        &self,
        org: OrgId,
        id: UpstreamProviderId,
    ) -> Result<Option<UpstreamProvider>, StoreError> {
        Ok(self
            .lock()?
            .upstream
            .rows
            .get(&id)
            .filter(|p| p.org_id() == org)
            .cloned())
    }

    async fn upstream_providers(&self, org: OrgId, page: PageRequest) -> Result<Page<UpstreamProvider>, StoreError> {
        let state = self.lock()?;
        let all = state.upstream.by_org.get(&org);
        let total = all.map_or(0, BTreeSet::len) as u64;
        let skip = (u64::from(page.page.saturating_sub(1)) * u64::from(page.limit)) as usize;
        let items = all
            .into_iter()
            .flatten()
            .skip(skip)
            .take(page.limit as usize)
            .filter_map(|(_, id)| state.upstream.rows.get(id).cloned())
            .collect();
        Ok(Page {
            items,
            total: Some(total),
        })
    }
}
