//! SIEM configs (§17) in memory: the rows, their checks at commit and the progress writes.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use org_domain::siem::SiemConfig;
use org_domain::{OrgId, SiemConfigId};
use org_ports::{Changeset, ConflictKind, StoreError, UniqueKey};

/// The SIEM configs of every org.
#[derive(Default)]
pub(crate) struct SiemState {
    configs: HashMap<SiemConfigId, SiemConfig>,
}

fn stale() -> StoreError {
    StoreError::Conflict(ConflictKind::StaleVersion)
}

impl SiemState {
    /// Every check of the changeset's SIEM writes, before anything is written: versions, the
    /// org exists, names unique per org after the commit, progress against the stored cursor.
    pub(crate) fn check(&self, c: &Changeset, org_exists: impl Fn(OrgId) -> bool) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        for x in &c.removed_siem_configs {
            match self.configs.get(&x.id()) {
                None => return Err(StoreError::NotFound),
                Some(s) if s.record().version != x.record().version || !seen.insert(x.id()) => return Err(stale()),
                Some(_) => {}
            }
        }
        for x in &c.siem_configs {
            if !seen.insert(x.id()) {
                return Err(stale());
            }
            match (self.configs.get(&x.id()), x.record().version) {
                _ if !org_exists(x.org_id()) => return Err(StoreError::NotFound),
                (None, 0) => {}
                (None, _) => return Err(StoreError::NotFound),
                (Some(_), 0) => return Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::Id))),
                (Some(s), v) if s.record().version == v && s.org_id() == x.org_id() => {}
                _ => return Err(stale()),
            }
        }
        let orgs: HashSet<OrgId> = c.siem_configs.iter().map(SiemConfig::org_id).collect();
        for org in orgs {
            let mut names = HashSet::new();
            let written: HashMap<SiemConfigId, &SiemConfig> = c
                .siem_configs
                .iter()
                .filter(|x| x.org_id() == org)
                .map(|x| (x.id(), x))
                .collect();
            let removed: HashSet<SiemConfigId> = c.removed_siem_configs.iter().map(SiemConfig::id).collect();
            let kept = self
                .configs
                .values()
                .filter(|s| s.org_id() == org && !written.contains_key(&s.id()) && !removed.contains(&s.id()));
            for x in kept.chain(written.values().copied()) {
                if !names.insert(x.name().to_owned()) {
                    return Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::SiemConfigName)));
                }
            }
        }
        let mut moved = HashSet::new();
        for p in &c.siem_progress {
            let stored = self.configs.get(&p.config_id).filter(|s| s.org_id() == p.org_id);
            match stored {
                Some(s) if s.progress().cursor == p.expected_cursor && moved.insert(p.config_id) => {}
                _ => return Err(stale()),
            }
        }
        Ok(())
    }

    /// Applies the checked SIEM writes: deletions, then config writes (an update keeps the
    /// stored progress), then progress.
    pub(crate) fn apply(&mut self, c: &mut Changeset) {
        for x in std::mem::take(&mut c.removed_siem_configs) {
            self.configs.remove(&x.id());
        }
        for x in std::mem::take(&mut c.siem_configs) {
            let version = x.record().version + 1;
            let x = match self.configs.get(&x.id()) {
                Some(stored) => x.with_progress(stored.progress().clone()),
                None => x,
            };
            self.configs.insert(x.id(), x.with_version(version));
        }
        for p in std::mem::take(&mut c.siem_progress) {
            if let Some(s) = self.configs.remove(&p.config_id) {
                self.configs.insert(p.config_id, s.with_progress(p.progress));
            }
        }
    }

    /// Drops every config of a purged org.
    pub(crate) fn purge(&mut self, org: OrgId) {
        self.configs.retain(|_, c| c.org_id() != org);
    }

    pub(crate) fn org_configs(&self, org: OrgId) -> Vec<SiemConfig> {
        let mut out: Vec<SiemConfig> = self.configs.values().filter(|c| c.org_id() == org).cloned().collect();
        out.sort_by_key(|c| (c.record().created_at, c.id()));
        out
    }

    pub(crate) fn config(&self, org: OrgId, id: SiemConfigId) -> Option<SiemConfig> {
        self.configs.get(&id).filter(|c| c.org_id() == org).cloned()
    }

    pub(crate) fn streaming(&self, now: DateTime<Utc>, after: Option<SiemConfigId>, limit: u32) -> Vec<SiemConfig> {
        let mut out: Vec<SiemConfig> = self
            .configs
            .values()
            .filter(|c| c.record().enabled && c.progress().due(now) && after.is_none_or(|a| c.id() > a))
            .cloned()
            .collect();
        out.sort_by_key(SiemConfig::id);
        out.truncate(limit as usize);
        out
    }
}

#[async_trait::async_trait]
impl org_ports::SiemRepository for crate::MemoryStore {
    async fn org_siem_configs(&self, org: OrgId) -> Result<Vec<SiemConfig>, StoreError> {
        Ok(self.lock()?.siem.org_configs(org))
    }

    async fn siem_config(&self, org: OrgId, id: SiemConfigId) -> Result<Option<SiemConfig>, StoreError> {
        Ok(self.lock()?.siem.config(org, id))
    }

    async fn streaming_siem_configs(
        &self,
        now: DateTime<Utc>,
        after: Option<SiemConfigId>,
        limit: u32,
    ) -> Result<Vec<SiemConfig>, StoreError> {
        Ok(self.lock()?.siem.streaming(now, after, limit))
    }
}
