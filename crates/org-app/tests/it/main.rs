//! Integration tests of org-app: every use case against the in-memory store.

mod audit;
mod catalogue;
mod concurrency;
mod credentials;
mod invitations;
mod logins;
mod mail;
mod members;
mod mocks;
mod orgs;
mod platform;
mod risk;
mod roles;
mod services;
mod sessions;
mod settings;
mod siem;
mod support;
mod upstream;
mod webhooks;
