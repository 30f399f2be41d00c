//! Risk reads (§16): an org's risk settings and its recorded, scored logins (risk events).
//! Both are written through the [`crate::Changeset`] (`risk_settings`, `risk_events`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::OrgId;
use org_domain::risk::{RiskEvent, RiskEventId, RiskSettings};

use crate::error::StoreError;

/// Which risk events to read (§16.4): newest first, `(created_at, id)` descending, those with
/// `risk_score >= min_score`; after the keyset position `before` (cursor pages) or from
/// `offset` (0-based offset pages; 0 with `before`); at most `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskEventQuery {
    pub min_score: u8,
    /// Only events strictly older than `(created_at, id)`.
    pub before: Option<(DateTime<Utc>, RiskEventId)>,
    pub offset: u64,
    pub limit: u32,
}

/// Risk settings and risk events of an org.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RiskRepository: Send + Sync {
    /// The org's risk settings (created with the org; `None` only for an org stored without
    /// them, e.g. by an embedder writing rows directly).
    async fn risk_settings(&self, org: OrgId) -> Result<Option<RiskSettings>, StoreError>;
    /// One page of the org's risk events per `query`. Its cost does not depend on the number
    /// of events of the org (an index seek, then at most `offset + limit` rows).
    async fn risk_events(&self, org: OrgId, query: &RiskEventQuery) -> Result<Vec<RiskEvent>, StoreError>;
}
