//! End-to-end tests of the real `org-server` binary over real HTTP, on a temp SQLite database
//! (and, for the SCIM conformance tools and several processes on one database, also on
//! PostgreSQL).

mod canary;
mod domains;
mod files;
mod keys;
mod logins;
mod mail;
mod nodes;
mod risk;
mod scim;
mod scim_conformance;
mod services;
mod siem;
mod support;
mod upstream;
mod walkthrough;
mod webhooks;
