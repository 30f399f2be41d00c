//! Services of an org (§19.1), its members' grants on them (§5.4) and the platform's login
//! keys (§19.5): the reads. Writes go through the [`crate::Changeset`] (`services`,
//! `removed_services`, `service_cap`, `service_grants`, `login_keys`).

use async_trait::async_trait;
use org_domain::login_key::LoginKey;
use org_domain::service::{Service, ServiceGrant, ServiceSlug};
use org_domain::{OrgId, TokenHash, UserId};

use crate::error::StoreError;
use crate::repos::{Page, PageRequest};

/// Service and grant reads.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ServiceRepository: Send + Sync {
    /// One offset page of the org's services, oldest first (ties by id), with the total taken
    /// from the kept count.
    async fn service_page(&self, org: OrgId, page: PageRequest) -> Result<Page<Service>, StoreError>;
    /// Every service of the org, oldest first (ties by id): at most the org's service cap.
    async fn org_services(&self, org: OrgId) -> Result<Vec<Service>, StoreError>;
    /// The org's service with this slug.
    async fn service_by_slug(&self, org: OrgId, slug: &ServiceSlug) -> Result<Option<Service>, StoreError>;
    /// The org's services among `slugs` (unknown slugs are simply absent), in one read.
    async fn services_named(&self, org: OrgId, slugs: &[ServiceSlug]) -> Result<Vec<Service>, StoreError>;
    /// The kept service count of each of `orgs` that has one (orgs never given a service are
    /// absent: 0), one read, never counting rows.
    async fn service_counts(&self, orgs: &[OrgId]) -> Result<Vec<(OrgId, u32)>, StoreError>;
    /// The member's grants in the org.
    async fn service_grants(&self, org: OrgId, user: UserId) -> Result<Vec<ServiceGrant>, StoreError>;
}

/// Login key reads.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait LoginKeyRepository: Send + Sync {
    /// The key (live or revoked) with this hash.
    async fn login_key_by_hash(&self, hash: &TokenHash) -> Result<Option<LoginKey>, StoreError>;
    /// The live key with this name.
    async fn live_login_key(&self, name: &str) -> Result<Option<LoginKey>, StoreError>;
}
