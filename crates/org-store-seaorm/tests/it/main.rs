//! Integration tests of the SeaORM store on SQLite and PostgreSQL: the shared contract suite,
//! atomicity, concurrency, and the schema's own guarantees.
// Fixtures make their own ids (UUIDv7) and database names: there is no IdGenerator here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]
#![allow(dead_code)]

mod build;
mod contract;
mod support;
