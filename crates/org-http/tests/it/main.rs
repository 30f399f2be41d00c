//! Integration tests of the HTTP router, in-process over the memory store.

mod audit;
mod auth;
mod billing_credentials;
mod invitations;
mod isolation;
mod members;
mod oauth_credentials;
mod openapi;
mod ops;
mod orgs;
mod platform;
mod problems;
mod risk;
mod roles;
mod scim;
mod services;
mod settings;
mod smtp;
mod support;
mod upstream;
mod webhooks;
