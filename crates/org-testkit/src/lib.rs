//! org-testkit: fixtures that several test suites of the workspace share. Only ever a
//! dev-dependency; nothing here is compiled into a shipped crate.
//!
//! - [`postgres`]: a PostgreSQL server to test against, `ORG_TEST_DATABASE_URL` or a throwaway
//!   PostgreSQL 15 cluster that this process starts once and that is removed when it ends.

// A test fixture: the UUIDv7s here only make names of temp directories and databases unique;
// they are no ids of the domain (which come from the IdGenerator port).
#![allow(clippy::disallowed_methods)]

pub mod postgres;
