//! End-to-end tests of the real `org-server` binary over real HTTP, on a temp SQLite database
//! (and, for the SCIM conformance tools and several processes on one database, also on
//! PostgreSQL).

mod domains;
mod files;
mod keys;
mod mail;
mod nodes;
mod scim;
mod scim_conformance;
mod siem;
mod support;
mod walkthrough;
mod webhooks;
