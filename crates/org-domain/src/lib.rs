//! org-domain: the pure rules of org-server. No IO, no async, no serialization, no ambient time.
//!
//! Time and ids are arguments; every mutation returns the typed [`DomainEvent`]s it causes
//! and fails with a typed [`DomainError`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod capability;
mod error;
mod event;
mod ids;
mod invitation;
mod organization;
mod role;
mod session;
mod tier;
mod user;
mod values;
pub mod webhook;

pub use capability::{Capability, CapabilitySet};
pub use error::{DomainError, FieldError, Rule};
pub use event::{Change, ChangeValue, DomainEvent, JoinedVia};
pub use ids::{DeliveryId, EventId, InvitationId, MembershipId, OrgId, RoleId, SessionId, UserId, WebhookId};
pub use invitation::{Invitation, InvitationRecord, InvitationStatus, NewInvitation, TokenHash};
pub use organization::{
    Actor, CustomRole, LimitsUpdate, Membership, MembershipStatus, NewOrganization, NewRole, OrgState, OrgStatus,
    Organization, Outcome, Principal, RoleRef, RoleUpdate, UpdateOrg,
};
pub use role::Role;
pub use session::{RevokeReason, Session, SessionKind};
pub use tier::{FeatureOverrides, Features, Tier, TierId};
pub use user::User;
pub use values::{Description, Email, OrgName, RoleName, RoleSlug, Slug};
