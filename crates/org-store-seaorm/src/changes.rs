//! The change token of an SQLite file ([`org_ports::ChangeToken`]): `PRAGMA data_version` on a
//! connection of its own, which SQLite changes whenever any other connection — of this process
//! or another one, such as the admin CLI — commits. The check is a local read of the WAL index
//! run inline (no thread hand-off), so it is cheap enough for every request.

use std::sync::Mutex;

/// A connection that only watches the database for commits.
pub(crate) struct ChangeWatch {
    conn: Mutex<rusqlite::Connection>,
}

impl ChangeWatch {
    /// Watches the SQLite file of `url` (`sqlite://path?…` or `sqlite:path`); `None` for an
    /// in-memory database, which no other connection can see.
    pub(crate) fn open(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
            return None;
        }
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        match rusqlite::Connection::open_with_flags(path, flags) {
            Ok(conn) => Some(Self { conn: Mutex::new(conn) }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the database for changes; reads are not cached");
                None
            }
        }
    }

    /// The current data version; `None` if it cannot be read (then nothing is cached).
    pub(crate) fn version(&self) -> Option<u64> {
        let conn = self.conn.lock().ok()?;
        let v: i64 = conn.query_row("PRAGMA data_version", [], |row| row.get(0)).ok()?;
        u64::try_from(v).ok()
    }
}
