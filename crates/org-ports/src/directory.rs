//! Directory sync reads (§10): SCIM tokens, the per-membership profiles directories write and
//! the directory data of role groups. Writes go through the changeset.

use async_trait::async_trait;
use org_domain::directory::{DirectoryGroup, DirectoryProfile};
use org_domain::scim_token::ScimToken;
use org_domain::{Email, MembershipId, OrgId, Role, RoleId, ScimTokenId, TokenHash, UserId};

use crate::error::StoreError;
use crate::repos::{Page, PageRequest};

/// SCIM tokens, directory profiles and role-group data. Every read is one index seek: none
/// grows with the number of members of the org.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DirectoryRepository: Send + Sync {
    /// The token with this hash, in any org (a directory request authenticates with it).
    async fn scim_token_by_hash(&self, hash: &TokenHash) -> Result<Option<ScimToken>, StoreError>;
    /// The org's token with this id.
    async fn scim_token(&self, org: OrgId, id: ScimTokenId) -> Result<Option<ScimToken>, StoreError>;
    /// The org's tokens, oldest first; `total` counts them.
    async fn scim_tokens(&self, org: OrgId, page: PageRequest) -> Result<Page<ScimToken>, StoreError>;
    /// The stored profiles of these memberships of the org (memberships without one are
    /// skipped), in any order.
    async fn profiles(&self, org: OrgId, memberships: &[MembershipId]) -> Result<Vec<DirectoryProfile>, StoreError>;
    /// The org's profile whose `userName` has this key ([`org_domain::directory::user_name_key`]).
    async fn profile_by_user_name(&self, org: OrgId, key: &str) -> Result<Option<DirectoryProfile>, StoreError>;
    /// The org's profiles with this `externalId` (compared exactly), oldest first, at most 100.
    async fn profiles_by_external_id(&self, org: OrgId, external_id: &str)
    -> Result<Vec<DirectoryProfile>, StoreError>;
    /// The org's profiles with this directory e-mail, oldest first, at most 100.
    async fn profiles_by_email(&self, org: OrgId, email: &Email) -> Result<Vec<DirectoryProfile>, StoreError>;
    /// The stored directory data of these role groups of the org, in any order.
    async fn directory_groups(&self, org: OrgId, roles: &[RoleId]) -> Result<Vec<DirectoryGroup>, StoreError>;
    /// The org's role groups with this `externalId` (compared exactly), at most 100.
    async fn directory_groups_by_external_id(
        &self,
        org: OrgId,
        external_id: &str,
    ) -> Result<Vec<DirectoryGroup>, StoreError>;
    /// The `members` of a group: the active members of `org` holding `role` (every active
    /// member for `None`, the org group), as user id and e-mail, in join order
    /// (`(joined_at, user_id)`). One indexed statement; its cost is the size of the group.
    async fn group_member_refs(&self, org: OrgId, role: Option<Role>) -> Result<Vec<(UserId, Email)>, StoreError>;
}
