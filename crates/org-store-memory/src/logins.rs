//! Login rows (§19.5, §22.3), with the SQL store's semantics: identities inserted once per
//! (org, provider, provider key), end users with their first and latest service login, the
//! MAU cap decided inside the commit, the bounded history reads of the risk engine (on the
//! risk events), and rows that go with their org.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::login::LoginIdentity;
use org_domain::risk::RiskEvent;
use org_domain::{OrgId, ServiceId, Session, SessionKind, UserId};
use org_ports::{
    Changeset, ConflictKind, EndUserQuery, EndUserRow, EndUserStanding, HistoryQuery, LoginRepository, LoginSubject,
    StoreError,
};

use crate::{MemoryStore, State, conflict};

/// Per end user of an org: when they became one, and their latest service login.
type Standing = (DateTime<Utc>, DateTime<Utc>);

/// The login rows of the store.
#[derive(Default)]
pub(crate) struct LoginState {
    identities: HashMap<(OrgId, String, String), LoginIdentity>,
    /// Per org, its end users: (became an end user, latest service login).
    end_users: HashMap<OrgId, HashMap<UserId, Standing>>,
}

impl State {
    /// The org's end users (of `service`, when set), newest first (ties by user id).
    fn listed_end_users(&self, org: OrgId, service: Option<ServiceId>) -> Vec<EndUserRow> {
        let of_service = |u: &UserId| {
            service.is_none_or(|sv| {
                self.logins
                    .identities
                    .values()
                    .any(|i| i.org_id == org && i.user_id == *u && i.service_id == Some(sv))
            })
        };
        let mut rows: Vec<EndUserRow> = self
            .logins
            .end_users
            .get(&org)
            .into_iter()
            .flatten()
            .filter(|(u, _)| of_service(u))
            .map(|(u, (since, last))| EndUserRow {
                user_id: *u,
                standing: EndUserStanding {
                    since: *since,
                    last_login_at: *last,
                },
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse((r.standing.since, r.user_id)));
        rows
    }

    /// End-user logins name existing orgs and users; the MAU cap holds after them.
    pub(crate) fn check_logins(&self, c: &Changeset) -> Result<(), StoreError> {
        for l in &c.end_user_logins {
            let user_known = self.users.contains_key(&l.user_id) || c.users.iter().any(|u| u.id() == l.user_id);
            if self.org_after(c, l.org_id).is_none() || !user_known {
                return Err(StoreError::NotFound);
            }
        }
        for i in &c.login_identities {
            if self.org_after(c, i.org_id).is_none() {
                return Err(StoreError::NotFound);
            }
        }
        if let Some(cap) = c.mau_cap {
            let users = self.logins.end_users.get(&cap.org_id);
            let active = |u: &UserId| users.and_then(|m| m.get(u)).is_some_and(|(_, last)| *last >= cap.since);
            let mut count = users.map_or(0, |m| m.values().filter(|(_, last)| *last >= cap.since).count()) as u64;
            for l in c.end_user_logins.iter().filter(|l| l.org_id == cap.org_id) {
                if !active(&l.user_id) {
                    if count >= cap.cap {
                        return Err(conflict(ConflictKind::MauCap));
                    }
                    count += 1;
                }
            }
        }
        Ok(())
    }

    /// Writes checked login rows.
    pub(crate) fn apply_logins(&mut self, identities: &[LoginIdentity], logins: &[org_domain::login::EndUserLogin]) {
        for i in identities {
            self.logins
                .identities
                .entry((i.org_id, i.provider.clone(), i.provider_key.clone()))
                .or_insert_with(|| i.clone());
        }
        for l in logins {
            let row = self
                .logins
                .end_users
                .entry(l.org_id)
                .or_default()
                .entry(l.user_id)
                .or_insert((l.at, l.at));
            row.1 = row.1.max(l.at);
        }
    }

    /// Removes a purged org's login rows.
    pub(crate) fn purge_logins(&mut self, org: OrgId) {
        self.logins.end_users.remove(&org);
        self.logins.identities.retain(|(o, _, _), _| *o != org);
    }
}

#[async_trait]
impl LoginRepository for MemoryStore {
    async fn login_history(
        &self,
        org: OrgId,
        subject: &LoginSubject,
        query: &HistoryQuery,
    ) -> Result<Vec<RiskEvent>, StoreError> {
        let state = self.lock()?;
        let mine = |e: &&RiskEvent| match subject {
            LoginSubject::User(u) => e.user_id == Some(*u),
            LoginSubject::Email(m) => e.user_id.is_none() && &e.user_email == m,
        };
        let newest_first: Vec<&RiskEvent> = state.org_events_newest_first(org).filter(mine).collect();
        let mut out: Vec<RiskEvent> = newest_first
            .iter()
            .filter(|e| e.created_at >= query.velocity_since)
            .take(query.velocity_limit as usize)
            .map(|e| (*e).clone())
            .collect();
        if matches!(subject, LoginSubject::User(_)) {
            if let Some(e) = newest_first
                .iter()
                .find(|e| e.success && e.geo_lat.is_some() && e.geo_long.is_some())
            {
                out.push((*e).clone());
            }
            if let Some(key) = &query.device_key
                && let Some(e) = newest_first
                    .iter()
                    .find(|e| e.success && e.created_at >= query.device_since && e.device_key.as_ref() == Some(key))
            {
                out.push((*e).clone());
            }
        }
        Ok(out)
    }

    async fn mau_count(&self, org: OrgId, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let state = self.lock()?;
        Ok(state
            .logins
            .end_users
            .get(&org)
            .map_or(0, |m| m.values().filter(|(_, last)| *last >= since).count()) as u64)
    }

    async fn end_user(&self, org: OrgId, user: UserId) -> Result<Option<EndUserStanding>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .logins
            .end_users
            .get(&org)
            .and_then(|m| m.get(&user))
            .map(|(since, last)| EndUserStanding {
                since: *since,
                last_login_at: *last,
            }))
    }

    async fn end_user_page(&self, org: OrgId, query: &EndUserQuery) -> Result<Vec<EndUserRow>, StoreError> {
        let state = self.lock()?;
        let skip = usize::try_from(query.offset).unwrap_or(usize::MAX);
        Ok(state
            .listed_end_users(org, query.service)
            .into_iter()
            .filter(|r| query.before.is_none_or(|b| (r.standing.since, r.user_id) < b))
            .skip(skip)
            .take(query.limit as usize)
            .collect())
    }

    async fn end_user_count(&self, org: OrgId, service: Option<ServiceId>) -> Result<u64, StoreError> {
        Ok(self.lock()?.listed_end_users(org, service).len() as u64)
    }

    async fn identities(&self, org: OrgId, users: &[UserId]) -> Result<Vec<LoginIdentity>, StoreError> {
        let state = self.lock()?;
        let mut out: Vec<LoginIdentity> = state
            .logins
            .identities
            .values()
            .filter(|i| i.org_id == org && users.contains(&i.user_id))
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            (a.created_at, &a.provider, &a.provider_key).cmp(&(b.created_at, &b.provider, &b.provider_key))
        });
        Ok(out)
    }

    async fn recent_logins(&self, org: OrgId, user: UserId, limit: u32) -> Result<Vec<RiskEvent>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .org_events_newest_first(org)
            .filter(|e| e.user_id == Some(user))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn end_user_sessions(&self, org: OrgId, user: UserId) -> Result<Vec<Session>, StoreError> {
        let state = self.lock()?;
        let mut out: Vec<Session> = state
            .sessions
            .values()
            .filter(|s| {
                s.org_id == Some(org) && s.user_id == user && s.kind == SessionKind::Service && s.revoked_at.is_none()
            })
            .cloned()
            .collect();
        out.sort_by_key(|s| (s.created_at, s.id));
        Ok(out)
    }
}
