//! org-testkit: fixtures that several test suites of the workspace share. Only ever a
//! dev-dependency; nothing here is compiled into a shipped crate.
//!
//! - [`postgres`]: a PostgreSQL server to test against, `ORG_TEST_DATABASE_URL` or a throwaway
//!   PostgreSQL 15 cluster that this process starts once and that is removed when it ends.
//! - [`run`]: runs a helper program to its end, its output kept for the error.

// A test fixture: the UUIDv7s here only make names of temp directories and databases unique;
// they are no ids of the domain (which come from the IdGenerator port).
#![allow(clippy::disallowed_methods)]

pub mod postgres;

use std::process::{Command, Stdio};

/// Runs `c` to its end with no input; on failure, the error names `what` and carries the
/// program's output.
pub fn run(c: &mut Command, what: &str) -> Result<(), String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
