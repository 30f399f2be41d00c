//! Risk (§16): the org's risk settings (read, partial update validated as a whole, reset) and
//! the listing of its risk events. Scoring itself is the pure engine of
//! [`org_domain::risk`]; the login flow (§19.5) calls [`assess_login`] and records the event
//! with [`record_login`] in its own changeset.

use org_domain::risk::{
    DeviceKey, LoginFacts, PastLogin, RiskAssessment, RiskEvent, RiskPolicy, RiskSettings, RiskSettingsUpdate, assess,
};
use org_domain::{OrgId, Organization};
use org_ports::{Changeset, RiskEventQuery};
use sha2::{Digest, Sha256};

use crate::AppError;
use crate::core::{Core, Decision};
use crate::record::{Caller, RequestMeta};

service! {
    /// Risk settings and risk events (§16).
    RiskService
}

/// One page of risk events and the org they belong to (the HTTP layer checks that a cursor
/// was issued for this org).
#[derive(Clone, Debug, PartialEq)]
pub struct RiskEventPage {
    pub org_id: OrgId,
    pub events: Vec<RiskEvent>,
}

/// The device key of a login (§16.3): `device_id`, else SHA-256 (hex) of `user_agent`, else
/// none.
pub fn device_key(device_id: Option<&str>, user_agent: Option<&str>) -> Option<DeviceKey> {
    DeviceKey::of(device_id, user_agent, |ua| {
        Sha256::digest(ua.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

/// Scores a login against the org's policy (§16.3); `history` as [`org_domain::risk`] states.
pub fn assess_login(login: &LoginFacts, history: &[PastLogin], policy: &RiskPolicy) -> RiskAssessment {
    assess(login, history, policy)
}

/// Adds a recorded login to a changeset (the login flow commits it with the rest of §19.5).
pub fn record_login(changes: &mut Changeset, event: RiskEvent) {
    changes.risk_events.push(event);
}

impl Core {
    /// The org's stored risk settings, or the defaults (not yet stored) for an org that has
    /// none.
    pub(crate) async fn risk_settings_of(&self, org: &Organization) -> Result<RiskSettings, AppError> {
        Ok(self
            .stores
            .risk
            .risk_settings(org.id())
            .await?
            .unwrap_or_else(|| RiskSettings::defaults(org.id(), org.state().created_at)))
    }
}

impl RiskService {
    /// `GET …/risk-settings`: `risk_events.view` or `risk_policies.manage`.
    pub async fn settings(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<RiskSettings, AppError> {
        let (org, ()) = self.core.read(caller, meta, slug, |a| a.read_risk()).await?;
        self.core.risk_settings_of(&org).await
    }

    /// `PUT …/risk-settings` (partial): the merged result validated as a whole; audit and
    /// webhook `risk_settings.updated` `{changes}` in the same commit. Equal values write
    /// nothing (§1.7).
    pub async fn update(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        update: RiskSettingsUpdate,
    ) -> Result<RiskSettings, AppError> {
        let core = &self.core;
        let update = &update;
        core.mutate(caller, meta, slug, |s| async move {
            let mut settings = core.risk_settings_of(&s.org).await?;
            let outcome = s.access.update_risk_settings(&mut settings, update, s.now())?;
            Ok(Self::decided(&s, outcome, settings))
        })
        .await
    }

    /// `POST …/risk-settings/reset`: back to the defaults; audit `risk_settings.reset`,
    /// webhook `risk_settings.updated` `{changes, reset: true}`. Settings already at the
    /// defaults write nothing (§1.7).
    pub async fn reset(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<RiskSettings, AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let mut settings = core.risk_settings_of(&s.org).await?;
            let outcome = s.access.reset_risk_settings(&mut settings, s.now())?;
            Ok(Self::decided(&s, outcome, settings))
        })
        .await
    }

    fn decided(
        s: &crate::core::Scope<'_>,
        outcome: org_domain::Outcome,
        settings: RiskSettings,
    ) -> Decision<RiskSettings> {
        let mut c = s.record(&outcome.principal, &outcome.events);
        if outcome.events.is_empty() {
            return Decision::new(c, settings);
        }
        c.risk_settings.push(settings.clone());
        let version = settings.record().version + 1;
        Decision::new(c, settings.with_version(version))
    }

    /// `GET …/risk-events`: `risk_events.view` or `risk_policies.manage`; one page per
    /// `query`, newest first.
    pub async fn events(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        query: &RiskEventQuery,
    ) -> Result<RiskEventPage, AppError> {
        let (org, ()) = self.core.read(caller, meta, slug, |a| a.read_risk()).await?;
        let events = self.core.stores.risk.risk_events(org.id(), query).await?;
        Ok(RiskEventPage {
            org_id: org.id(),
            events,
        })
    }
}
