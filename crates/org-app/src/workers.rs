//! What the background workers share across processes: named leases, so a pass that must run
//! in one process at a time (invitation expiry, audit retention, the org purge) runs in one,
//! and the purge of deleted orgs (§4.9).

use chrono::Duration;
use org_ports::Changeset;
use uuid::Uuid;

use crate::AppError;
use crate::core::Core;
use std::sync::Arc;

/// The longest a deleted org waits for its pending webhook deliveries before it is purged.
pub const PURGE_DEADLINE: Duration = Duration::hours(48);

/// Orgs purged per statement batch of one pass.
const PURGE_BATCH: u32 = 100;

/// Worker leases and the org purge.
#[derive(Clone)]
pub struct WorkerService {
    pub(crate) core: Arc<Core>,
    /// This process's holder id for leases.
    pub(crate) holder: Uuid,
}

impl std::fmt::Debug for WorkerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerService")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl WorkerService {
    /// Takes (or renews) the lease `name` for `hold` from now: whether this process may run
    /// the pass. A process that dies holding it loses it when `hold` has passed.
    pub async fn lease(&self, name: &str, hold: std::time::Duration) -> Result<bool, AppError> {
        let now = self.core.now();
        let hold = Duration::from_std(hold).map_err(|e| AppError::Internal(format!("lease {name}: {e}")))?;
        Ok(self
            .core
            .stores
            .leases
            .try_lease(name, self.holder, now, now + hold)
            .await?)
    }

    /// Purges deleted orgs whose pending deliveries are done, and every org deleted more than
    /// [`PURGE_DEADLINE`] ago: each in its own commit. Returns how many went.
    pub async fn purge_deleted_orgs(&self) -> Result<u64, AppError> {
        let mut purged = 0;
        loop {
            let deadline = self.core.now() - PURGE_DEADLINE;
            let due = self.core.stores.orgs.purgeable_orgs(deadline, PURGE_BATCH).await?;
            let batch = due.len();
            for org in due {
                self.core
                    .commit(Changeset {
                        org_purges: vec![org],
                        ..Changeset::default()
                    })
                    .await?;
                purged += 1;
            }
            if batch < PURGE_BATCH as usize {
                return Ok(purged);
            }
        }
    }
}
