//! org-domain: the pure rules of org-server. No IO, no async, no serialization, no ambient time.
//!
//! Time and ids are arguments; every mutation returns the typed [`DomainEvent`]s it causes
//! and fails with a typed [`DomainError`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod capability;
mod custom_role;
mod error;
mod event;
mod ids;
mod invitation;
mod members;
mod membership;
mod organization;
mod role;
mod session;
mod tier;
mod user;
mod values;
pub mod webhook;

pub use access::{Access, Actor, Outcome, Principal};
pub use capability::{Capability, CapabilitySet};
pub use custom_role::{CustomRole, CustomRoleRecord, NewRole, RoleBook, RoleRef, RoleUpdate};
pub use error::{DomainError, FieldError, Rule};
pub use event::{Change, ChangeValue, DomainEvent, JoinedVia, UserVia};
pub use ids::{DeliveryId, EventId, InvitationId, MembershipId, OrgId, RoleId, SessionId, UserId, WebhookId};
pub use invitation::{Invitation, InvitationRecord, InvitationStatus, NewInvitation, TokenHash};
pub use members::subjects;
pub use membership::{Membership, MembershipRecord, MembershipStatus};
pub use organization::{Headcount, LimitsUpdate, NewOrganization, OrgState, OrgStatus, Organization, UpdateOrg};
pub use role::Role;
pub use session::{RevokeReason, RotationReplay, Session, SessionKind};
pub use tier::{FeatureOverrides, Features, Tier, TierId};
pub use user::{User, UserRecord};
pub use values::{Description, Email, OrgName, RoleName, RoleSlug, Slug};
