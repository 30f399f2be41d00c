//! org-ports: the traits org-app needs from the outside world, defined by their consumer.
//!
//! Repositories are aggregate-sized and object-safe (`Arc<dyn …>`); all writes go through one
//! [`UnitOfWork::commit`] of a [`Changeset`], which stores state, audit entries and outgoing
//! events atomically (transactional outbox, contract §1.7).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
pub mod chain;
mod changeset;
mod directory;
mod error;
mod logins;
pub mod mail;
mod repos;
mod risk;
mod secrets;
mod services;
mod settings;
mod siem;
mod system;
mod upstream;
pub mod webhooks;

#[cfg(feature = "contract")]
pub mod contract;

pub use audit::{ActorType, AuditActor, AuditDraft, AuditEntry, AuditFilter, AuditLog, OutboxEvent};
pub use changeset::{AuditPrune, Changeset, RevocationScope, SessionRevocation};
pub use directory::DirectoryRepository;
pub use error::{ConflictKind, StoreError, UniqueKey};
pub use logins::{EndUserQuery, EndUserRow, EndUserStanding, HistoryQuery, LoginRepository, LoginSubject};
pub use mail::{MailQueue, MailRepository, Mailer, OutgoingMail};
pub use repos::{
    AuditRepository, ChangeToken, InvitationRepository, LeaseRepository, MemberQuery, MemberRow, MembershipRepository,
    OrgContext, OrgFilter, OrgRepository, OutboxRepository, Page, PageRequest, RefreshMatch, RoleRepository,
    SessionContext, SessionRepository, Store, Stores, UnitOfWork, UserRepository,
};
pub use risk::{RiskEventQuery, RiskRepository};
pub use secrets::{SecretCipher, SecretScope};
pub use services::{LoginKeyRepository, ServiceRepository};
pub use settings::{DomainClaim, SettingsRepository, TxtLookup, TxtResolver, VerificationFetcher};
pub use siem::{SiemProgressWrite, SiemRepository};
pub use system::{
    AccessClaims, AccessTokens, Clock, IdGenerator, OutboundRequest, Resolver, SendResult, TokenIssuer, TokenRejection,
    WebhookSender,
};
pub use upstream::{DocumentFetcher, UpstreamRepository};
pub use webhooks::{DeliveryFilter, DeliveryQueue, WebhookRepository};

#[cfg(feature = "mock")]
pub use directory::MockDirectoryRepository;
#[cfg(feature = "mock")]
pub use logins::MockLoginRepository;
#[cfg(feature = "mock")]
pub use mail::{MockMailQueue, MockMailRepository, MockMailer};
#[cfg(feature = "mock")]
pub use repos::{
    MockAuditRepository, MockChangeToken, MockInvitationRepository, MockLeaseRepository, MockMembershipRepository,
    MockOrgRepository, MockOutboxRepository, MockRoleRepository, MockSessionRepository, MockUnitOfWork,
    MockUserRepository,
};
#[cfg(feature = "mock")]
pub use risk::MockRiskRepository;
#[cfg(feature = "mock")]
pub use secrets::MockSecretCipher;
#[cfg(feature = "mock")]
pub use services::{MockLoginKeyRepository, MockServiceRepository};
#[cfg(feature = "mock")]
pub use settings::{MockSettingsRepository, MockTxtResolver, MockVerificationFetcher};
#[cfg(feature = "mock")]
pub use siem::MockSiemRepository;
#[cfg(feature = "mock")]
pub use system::{MockAccessTokens, MockClock, MockIdGenerator, MockResolver, MockTokenIssuer, MockWebhookSender};
#[cfg(feature = "mock")]
pub use upstream::{MockDocumentFetcher, MockUpstreamRepository};
#[cfg(feature = "mock")]
pub use webhooks::{MockDeliveryQueue, MockWebhookRepository};
