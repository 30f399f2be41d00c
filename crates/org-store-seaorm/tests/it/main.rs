//! Integration tests of the SeaORM store on SQLite and PostgreSQL: the shared contract suite,
//! atomicity, concurrency, and the schema's own guarantees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod build;
mod concurrency;
mod contract;
mod schema;
mod support;
mod writes;
