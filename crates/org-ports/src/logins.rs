//! Login reads (§19.5, §22.3): the bounded login history the risk engine needs, the org's
//! monthly-active-user count and one end user's standing. Writes go through the
//! [`crate::Changeset`] (`risk_events`, `login_identities`, `end_user_logins`, `mau_cap`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::login::LoginIdentity;
use org_domain::risk::{DeviceKey, RiskEvent};
use org_domain::{OrgId, ServiceId, Session, UserId};

use crate::error::StoreError;

/// Whose history to read: a known user, or (for an attempt without a user) an e-mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginSubject {
    User(UserId),
    Email(String),
}

/// The history of one login as [`org_domain::risk`] states it, read at `at`. For a user: the
/// most recent successful login with coordinates; the most recent successful login with
/// `device_key` since `device_since`; and the attempts since `velocity_since`, newest first,
/// at most `velocity_limit`. For an e-mail: only the attempts. Every read is an index seek on
/// `(org, user)` or `(org, e-mail)`, bounded by its limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryQuery {
    pub device_key: Option<DeviceKey>,
    pub device_since: DateTime<Utc>,
    pub velocity_since: DateTime<Utc>,
    pub velocity_limit: u32,
}

/// One end user's standing in an org.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndUserStanding {
    /// When the user became an end user of the org (first service login).
    pub since: DateTime<Utc>,
    /// The user's latest successful service login to the org.
    pub last_login_at: DateTime<Utc>,
}

/// Which end users to list (§19.3): newest end user first, `(since, user id)` descending;
/// only those with an identity issued through `service` when set; after the keyset position
/// `before` (cursor pages) or from `offset`; at most `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndUserQuery {
    pub service: Option<ServiceId>,
    pub before: Option<(DateTime<Utc>, UserId)>,
    pub offset: u64,
    pub limit: u32,
}

/// One listed end user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndUserRow {
    pub user_id: UserId,
    pub standing: EndUserStanding,
}

/// Login reads.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait LoginRepository: Send + Sync {
    /// The rows of `subject`'s history in the org per `query` (rows may repeat).
    async fn login_history(
        &self,
        org: OrgId,
        subject: &LoginSubject,
        query: &HistoryQuery,
    ) -> Result<Vec<RiskEvent>, StoreError>;
    /// Distinct users of the org with a successful service login at or after `since` (an
    /// index range on `(org, last_login_at)`, never a scan of the logins).
    async fn mau_count(&self, org: OrgId, since: DateTime<Utc>) -> Result<u64, StoreError>;
    /// The user's standing as an end user of the org, if they are one.
    async fn end_user(&self, org: OrgId, user: UserId) -> Result<Option<EndUserStanding>, StoreError>;
    /// One page of the org's end users per `query` (an index seek on `(org, since)`).
    async fn end_user_page(&self, org: OrgId, query: &EndUserQuery) -> Result<Vec<EndUserRow>, StoreError>;
    /// How many end users the org has (of `service`, when set).
    async fn end_user_count(&self, org: OrgId, service: Option<ServiceId>) -> Result<u64, StoreError>;
    /// The identities issued through the org to any of `users`, oldest first.
    async fn identities(&self, org: OrgId, users: &[UserId]) -> Result<Vec<LoginIdentity>, StoreError>;
    /// The user's `limit` most recent logins to the org, newest first.
    async fn recent_logins(&self, org: OrgId, user: UserId, limit: u32) -> Result<Vec<RiskEvent>, StoreError>;
    /// The user's unrevoked service sessions of the org's services, oldest first.
    async fn end_user_sessions(&self, org: OrgId, user: UserId) -> Result<Vec<Session>, StoreError>;
}
