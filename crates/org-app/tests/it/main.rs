//! Integration tests of org-app: every use case against the in-memory store.

mod audit;
mod concurrency;
mod invitations;
mod members;
mod mocks;
mod orgs;
mod platform;
mod roles;
mod support;
mod webhooks;
