//! SIEM streaming (§17): reads of the configs, and the progress the streaming worker writes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::siem::{SiemConfig, SiemProgress};
use org_domain::{OrgId, SiemConfigId};

use crate::error::StoreError;

/// SIEM config reads. Secrets come back opened.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SiemRepository: Send + Sync {
    /// The org's configs, oldest first (`created_at`, then id).
    async fn org_siem_configs(&self, org: OrgId) -> Result<Vec<SiemConfig>, StoreError>;
    /// One config of the org.
    async fn siem_config(&self, org: OrgId, id: SiemConfigId) -> Result<Option<SiemConfig>, StoreError>;
    /// Enabled configs of every org whose next attempt is due at `now` (no backoff pending),
    /// ordered by id, at most `limit`, starting after `after` (keyset paging).
    async fn streaming_siem_configs(
        &self,
        now: DateTime<Utc>,
        after: Option<SiemConfigId>,
        limit: u32,
    ) -> Result<Vec<SiemConfig>, StoreError>;
}

/// A worker's write of one config's progress (a changeset entry): applied only when the stored
/// cursor still equals `expected_cursor`, else the commit fails with `Conflict(StaleVersion)`
/// (another worker moved the stream), as it does when the config is gone. It bumps no version
/// and conflicts with no config write: config writes never change progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiemProgressWrite {
    pub org_id: OrgId,
    pub config_id: SiemConfigId,
    pub expected_cursor: Option<u64>,
    pub progress: SiemProgress,
}
