//! End-to-end tests of the real `org-server` binary over real HTTP on a temp SQLite database.

mod scim;
mod walkthrough;
mod webhooks;
