//! Integration tests of the SeaORM store on SQLite and PostgreSQL: the shared contract suite,
//! atomicity, concurrency, and the schema's own guarantees.
// Fixtures make their own ids (UUIDv7) and database names: there is no IdGenerator here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod build;
mod concurrency;
mod contract;
mod schema;
mod secrets;
mod support;
mod writes;
