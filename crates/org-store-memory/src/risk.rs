//! Risk settings (one row per org) and risk events (§16), with the same semantics as the SQL
//! store: versions and first-write races on the settings, unique event ids, rows that go with
//! their org, and event pages read from a per-org `(created_at, id)` ordering.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::OrgId;
use org_domain::risk::{RiskEvent, RiskEventId, RiskSettings};
use org_ports::{Changeset, ConflictKind, RiskEventQuery, RiskRepository, StoreError};

use crate::{MemoryStore, State, check_writes, conflict, unique};

/// The risk rows of the store.
#[derive(Default)]
pub(crate) struct RiskState {
    settings: HashMap<OrgId, RiskSettings>,
    events: HashMap<RiskEventId, RiskEvent>,
    /// Per org, its events by `(created_at, id)`.
    by_time: HashMap<OrgId, BTreeSet<(DateTime<Utc>, RiskEventId)>>,
}

impl State {
    /// Settings: versions (a first write over a stored row is a stale read); events: new ids;
    /// both: their org exists after the changeset.
    pub(crate) fn check_risk(&self, c: &Changeset) -> Result<(), StoreError> {
        let risk = &self.risk;
        if c.risk_settings
            .iter()
            .any(|s| s.record().version == 0 && risk.settings.contains_key(&s.org_id()))
        {
            return Err(conflict(ConflictKind::StaleVersion));
        }
        check_writes(
            c.risk_settings.iter().map(|s| (s.org_id(), s.record().version)),
            |id| risk.settings.get(id).map(|s| s.record().version),
            &mut HashSet::new(),
        )?;
        let mut ids = HashSet::new();
        for e in &c.risk_events {
            if risk.events.contains_key(&e.id) || !ids.insert(e.id) {
                return Err(unique(org_ports::UniqueKey::Id));
            }
        }
        let orgs = c
            .risk_settings
            .iter()
            .map(RiskSettings::org_id)
            .chain(c.risk_events.iter().map(|e| e.org_id));
        for org in orgs {
            if self.org_after(c, org).is_none() {
                return Err(StoreError::NotFound);
            }
        }
        Ok(())
    }

    /// Writes checked risk rows.
    pub(crate) fn apply_risk(&mut self, settings: Vec<RiskSettings>, events: Vec<RiskEvent>) {
        for s in settings {
            let v = s.record().version + 1;
            self.risk.settings.insert(s.org_id(), s.with_version(v));
        }
        for e in events {
            self.risk
                .by_time
                .entry(e.org_id)
                .or_default()
                .insert((e.created_at, e.id));
            self.risk.events.insert(e.id, e);
        }
    }

    /// The org's risk events, newest first (the login history reads, `logins.rs`).
    pub(crate) fn org_events_newest_first(&self, org: OrgId) -> impl Iterator<Item = &RiskEvent> + '_ {
        self.risk
            .by_time
            .get(&org)
            .into_iter()
            .flat_map(|t| t.iter().rev())
            .filter_map(|(_, id)| self.risk.events.get(id))
    }

    /// Removes a purged org's risk rows.
    pub(crate) fn purge_risk(&mut self, org: OrgId) {
        self.risk.settings.remove(&org);
        for (_, id) in self.risk.by_time.remove(&org).unwrap_or_default() {
            self.risk.events.remove(&id);
        }
    }
}

#[async_trait]
impl RiskRepository for MemoryStore {
    async fn risk_settings(&self, org: OrgId) -> Result<Option<RiskSettings>, StoreError> {
        Ok(self.lock()?.risk.settings.get(&org).cloned())
    }

    async fn risk_events(&self, org: OrgId, query: &RiskEventQuery) -> Result<Vec<RiskEvent>, StoreError> {
        let state = self.lock()?;
        let Some(listed) = state.risk.by_time.get(&org) else {
            return Ok(Vec::new());
        };
        let newest_first: Box<dyn Iterator<Item = &(DateTime<Utc>, RiskEventId)>> = match query.before {
            Some(key) => Box::new(listed.range(..key).rev()),
            None => Box::new(listed.iter().rev()),
        };
        let skip = usize::try_from(query.offset).unwrap_or(usize::MAX);
        Ok(newest_first
            .filter_map(|(_, id)| state.risk.events.get(id))
            .filter(|e| e.risk_score >= query.min_score)
            .skip(skip)
            .take(query.limit as usize)
            .cloned()
            .collect())
    }
}
