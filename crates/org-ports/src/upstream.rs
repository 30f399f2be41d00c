//! Ports of upstream identity providers (§11): reading an org's providers, and fetching the
//! documents their configuration names (OIDC discovery, SAML metadata).

use async_trait::async_trait;
use org_domain::OrgId;
use org_domain::upstream::{UpstreamProvider, UpstreamProviderId};

use crate::error::StoreError;
use crate::repos::{Page, PageRequest};

/// Reads of an org's upstream providers; writes go through the changeset
/// (`upstream_providers`, `removed_upstream_providers`).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait UpstreamRepository: Send + Sync {
    /// One provider of the org (another org's id is `None`). The client secret is opened.
    async fn upstream_provider(
        &self,
        org: OrgId,
        id: UpstreamProviderId,
    ) -> Result<Option<UpstreamProvider>, StoreError>;

    /// The org's providers, oldest first (`created_at`, then id), one page, with the total.
    async fn upstream_providers(&self, org: OrgId, page: PageRequest) -> Result<Page<UpstreamProvider>, StoreError>;
}

/// Fetches one configuration document (OIDC discovery, SAML metadata, §11): a `GET` through
/// the SSRF guard of §9.3 (every resolved address checked, the connection made to a checked
/// address, `outbound.allow_http` honoured), 5 s timeout for the whole exchange, no redirects,
/// no proxies.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DocumentFetcher: Send + Sync {
    /// The response to one GET of `url`: status and body, or the error class (`ssrf_denied`,
    /// `invalid_url`, `dns_error`, `timeout`, `connect_error`, `too_large` when the body
    /// exceeds `max_bytes`, …). A 3xx is returned as a response, never followed.
    async fn fetch(&self, url: &str, max_bytes: usize) -> crate::SendResult;
}
