//! Org settings kept as singleton aggregates (§12 OAuth and §18 billing credentials per provider, §14 custom
//! domain, §15 branding): reads, and the
//! lookups domain verification makes (DNS TXT records, the HTTP method's fetch).

use async_trait::async_trait;
use org_domain::OrgId;
use org_domain::branding::Branding;
use org_domain::credentials::{BillingCredentials, BillingProvider, OAuthCredentials, OAuthProvider};
use org_domain::custom_domain::{CustomDomain, DomainName};

use crate::error::StoreError;

/// Branding and custom-domain reads.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SettingsRepository: Send + Sync {
    /// The org's branding, if it was ever set.
    async fn branding(&self, org: OrgId) -> Result<Option<Branding>, StoreError>;
    /// The org's domain claim, if one is set.
    async fn custom_domain(&self, org: OrgId) -> Result<Option<CustomDomain>, StoreError>;
    /// Every claim on `domain` by orgs other than `except`, oldest first, with whether the
    /// claiming org is deleted (§14: uniqueness holds among orgs that are not deleted).
    async fn domain_claims(&self, domain: &DomainName, except: OrgId) -> Result<Vec<DomainClaim>, StoreError>;
    /// The org's OAuth app credentials for one provider (§12), the secret opened.
    async fn oauth_credentials(
        &self,
        org: OrgId,
        provider: OAuthProvider,
    ) -> Result<Option<OAuthCredentials>, StoreError>;
    /// The org's billing-provider credentials for one provider (§18), the secrets opened.
    async fn billing_credentials(
        &self,
        org: OrgId,
        provider: BillingProvider,
    ) -> Result<Option<BillingCredentials>, StoreError>;
}

/// A claim on a domain by some org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainClaim {
    pub claim: CustomDomain,
    /// The claiming org is deleted (awaiting purge): its claim never blocks, and goes.
    pub org_deleted: bool,
}

/// The answer to a TXT lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxtLookup {
    /// The records found, each with its character-strings joined (chunked TXT records, RFC
    /// 7208 §3.3 style).
    Records(Vec<String>),
    /// The name does not exist, or has no TXT record.
    NotFound,
    /// The lookup failed (timeout, server failure): the error class.
    Failed(String),
}

/// TXT lookups for DNS domain verification (§14, §9.3: the system resolver, a configured
/// server, or `outbound.dns_overrides`).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait TxtResolver: Send + Sync {
    /// The TXT records of `name`.
    async fn txt(&self, name: &str) -> TxtLookup;
}

/// The HTTP method of domain verification: `GET http://<domain>:<port>/.well-known/…`
/// through the SSRF guard, no redirects, 5 s timeout (§14).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait VerificationFetcher: Send + Sync {
    /// The response to one GET of `url`: status and at most `max_bytes` of the body, or the
    /// error class (`ssrf_denied`, `timeout`, `connect_error`, `too_large`, …).
    async fn fetch(&self, url: &str, max_bytes: usize) -> crate::SendResult;
}
