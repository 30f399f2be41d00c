//! org-domain: the pure rules of org-server. No IO, no async, no serialization, no ambient time.
//!
//! Time and ids are arguments; every mutation returns the typed [`DomainEvent`]s it causes
//! and fails with a typed [`DomainError`].
//!
//! Aggregates are sized by what one decision needs: an [`Organization`] is the org row (its
//! settings, lifecycle, owner and kept [`Headcount`]); each [`Membership`] and each
//! [`CustomRole`] is its own aggregate. A decision is asked of an [`Access`] — the actor
//! resolved against one org from its own membership — with only the memberships and roles it
//! involves, so its cost never depends on how many members the org has.
//!
//! ```
//! use chrono::DateTime;
//! use org_domain::*;
//! use uuid::Uuid;
//!
//! let now = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
//! let (alice, bob) = (UserId::from_uuid(Uuid::from_u128(1)), UserId::from_uuid(Uuid::from_u128(2)));
//! let (mut org, owner, _) = Organization::create(
//!     NewOrganization {
//!         id: OrgId::from_uuid(Uuid::from_u128(3)),
//!         slug: Slug::parse("acme").unwrap(),
//!         name: OrgName::parse("Acme Inc").unwrap(),
//!         owner: alice,
//!         owner_membership: MembershipId::from_uuid(Uuid::from_u128(4)),
//!         status: OrgStatus::Active,
//!         tier_id: TierId::new("tier_pro"),
//!     },
//!     now,
//! );
//! let mut member = Membership::restore(MembershipRecord {
//!     id: MembershipId::from_uuid(Uuid::from_u128(5)),
//!     org_id: org.id(),
//!     user_id: bob,
//!     role: Role::Member,
//!     status: MembershipStatus::Active,
//!     created_at: now,
//!     updated_at: now,
//!     version: 1,
//! })
//! .unwrap();
//!
//! // Bob, a plain member, may not promote himself or anyone; Alice, the owner, may.
//! let as_bob = Access::resolve(&org, Actor { user_id: bob, is_platform_owner: false }, Some(&member), None).unwrap();
//! assert_eq!(as_bob.require(Capability::OrgRolesManage), Err(DomainError::MissingCapability(Capability::OrgRolesManage)));
//! let as_alice = Access::resolve(&org, Actor { user_id: alice, is_platform_owner: false }, Some(&owner), None).unwrap();
//! let outcome = as_alice
//!     .change_role(&mut org, Some(&mut member), None, Role::Admin, &RoleBook::default(), now)
//!     .unwrap();
//! assert_eq!(*member.role(), Role::Admin);
//! assert!(matches!(outcome.events[..], [DomainEvent::MemberRoleChanged { .. }]));
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
pub mod branding;
mod capability;
pub mod credentials;
pub mod custom_domain;
mod custom_role;
pub mod directory;
mod error;
mod event;
mod ids;
mod invitation;
pub mod login;
pub mod login_key;
pub mod mail;
mod members;
mod membership;
mod organization;
pub mod risk;
mod role;
pub mod scim_token;
pub mod service;
mod session;
pub mod siem;
mod tier;
pub mod upstream;
mod user;
mod values;
pub mod webhook;

pub use access::{Access, Actor, Outcome, Principal};
pub use capability::{Capability, CapabilitySet};
pub use custom_role::{CustomRole, CustomRoleRecord, NewRole, RoleBook, RoleChanges, RoleDraft, RoleRef, RoleUpdate};
pub use error::{DomainError, FieldError, Rule};
pub use event::{Change, ChangeValue, DomainEvent, JoinedVia, UserVia};
pub use ids::{
    CredentialId, DeliveryId, EventId, InvitationId, MailId, MembershipId, OrgId, RoleId, ScimTokenId, SessionId,
    SiemConfigId, UserId, WebhookId,
};
pub use ids::{LoginKeyId, ServiceId};
pub use invitation::{Invitation, InvitationRecord, InvitationStatus, NewInvitation, TokenHash};
pub use members::subjects;
pub use membership::{Membership, MembershipRecord, MembershipStatus};
pub use organization::{Headcount, LimitsUpdate, NewOrganization, OrgState, OrgStatus, Organization, UpdateOrg};
pub use role::Role;
pub use session::{RevokeReason, RotationReplay, Session, SessionKind};
pub use tier::{Feature, FeatureOverrides, Features, Tier, TierId};
pub use user::{User, UserRecord};
pub use values::{Description, Email, OrgName, RoleName, RoleSlug, Slug};
