//! What `/readyz` reports of this process (§21.2): whether each background worker loop has run
//! recently, and whether shutdown has begun.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How late a worker's loop may be, beyond its own period, before `/readyz` fails it.
const SLACK: Duration = Duration::from_secs(30);

/// The liveness of this process's worker loops and its shutdown state.
#[derive(Debug, Default)]
pub struct Health {
    /// Per worker: its last run and the period it runs at.
    beats: Mutex<HashMap<&'static str, (Instant, Duration)>>,
    stopping: AtomicBool,
}

impl Health {
    /// A worker that runs every `period`; it counts as having run now (its first run is due
    /// within one period).
    pub fn register(&self, worker: &'static str, period: Duration) {
        if let Ok(mut beats) = self.beats.lock() {
            beats.insert(worker, (Instant::now(), period));
        }
    }

    /// A worker's loop has just run.
    pub fn beat(&self, worker: &'static str) {
        if let Ok(mut beats) = self.beats.lock()
            && let Some(b) = beats.get_mut(worker)
        {
            b.0 = Instant::now();
        }
    }

    /// Shutdown has begun: readiness fails from now on.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether every worker has run within twice its period (plus slack), and no shutdown has
    /// begun.
    pub fn workers_ok(&self) -> bool {
        self.workers_ok_at(Instant::now())
    }

    fn workers_ok_at(&self, now: Instant) -> bool {
        if self.stopping.load(Ordering::SeqCst) {
            return false;
        }
        self.beats.lock().is_ok_and(|beats| {
            beats
                .values()
                .all(|(at, period)| now.saturating_duration_since(*at) <= *period * 2 + SLACK)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_worker_or_a_shutdown_fails_readiness() {
        let h = Health::default();
        h.register("sweeper", Duration::from_secs(60));
        h.register("delivery", Duration::from_millis(250));
        let now = Instant::now();
        assert!(h.workers_ok_at(now));
        // The delivery loop stalls: past twice its period and the slack, readiness fails.
        assert!(!h.workers_ok_at(now + Duration::from_secs(31)));
        h.beat("delivery");
        assert!(h.workers_ok_at(Instant::now()));
        h.stop();
        assert!(!h.workers_ok());
    }
}
