//! Domain events: what a mutation caused. Adapters map each to its audit action and webhook
//! types (§23); the domain only states the facts.

use chrono::{DateTime, Utc};

use crate::capability::CapabilitySet;
use crate::ids::{InvitationId, OrgId, RoleId, ScimTokenId, SessionId, UserId};
use crate::organization::OrgStatus;
use crate::role::Role;
use crate::scim_token::ScimTokenEventKind;
use crate::session::{RevokeReason, SessionKind};
use crate::tier::TierId;
use crate::values::{Email, OrgName, RoleSlug, Slug};

/// A value inside a `changes` record (§1.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeValue {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl From<Option<u32>> for ChangeValue {
    fn from(v: Option<u32>) -> Self {
        v.map_or(Self::Null, |n| Self::Int(i64::from(n)))
    }
}

impl From<Option<String>> for ChangeValue {
    fn from(v: Option<String>) -> Self {
        v.map_or(Self::Null, Self::Text)
    }
}

/// One changed field: `{field: {old, new}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub field: &'static str,
    pub old: ChangeValue,
    pub new: ChangeValue,
}

impl Change {
    /// A change of `field`, or `None` when old and new are equal.
    pub fn of(field: &'static str, old: impl Into<ChangeValue>, new: impl Into<ChangeValue>) -> Option<Self> {
        let (old, new) = (old.into(), new.into());
        (old != new).then_some(Self { field, old, new })
    }
}

/// How a member joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinedVia {
    /// The invitee accepted.
    Invitation,
    /// An admin accepted on the invitee's behalf.
    AdminAccept,
    /// A directory provisioned the member (SCIM `POST /Users`).
    Scim,
}

/// How a user came to exist (`user.created` metadata `via`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserVia {
    /// The admin CLI.
    Cli,
    /// Accepting an invitation addressed to a new e-mail.
    Invitation,
    /// A directory provisioning a new e-mail (SCIM `POST /Users`).
    Scim,
    /// A login report for a new e-mail (§19.5).
    Login,
}

impl UserVia {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Invitation => "invitation",
            Self::Scim => "scim",
            Self::Login => "login",
        }
    }
}

/// A fact caused by a mutation. Adapters map each to its audit action and webhook types
/// through one catalogue (§23); nothing else writes an audit entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainEvent {
    OrgCreated {
        org_id: OrgId,
        slug: Slug,
        name: OrgName,
        status: OrgStatus,
    },
    OrgUpdated {
        changes: Vec<Change>,
    },
    OrgDeleted {
        org_id: OrgId,
        slug: Slug,
        name: OrgName,
    },
    OrgStatusChanged {
        old: OrgStatus,
        new: OrgStatus,
        tier_id: Option<TierId>,
        reason: Option<String>,
    },
    OrgLimitsUpdated {
        changes: Vec<Change>,
    },
    OwnershipTransferred {
        previous_owner: UserId,
        new_owner: UserId,
    },
    MemberAdded {
        user_id: UserId,
        role: Role,
        via: JoinedVia,
    },
    MemberRemoved {
        user_id: UserId,
        role: Role,
        removed_by_role: Role,
    },
    MemberRoleChanged {
        user_id: UserId,
        old_role: Role,
        new_role: Role,
    },
    /// A directory deactivated the member (SCIM `active=false`).
    MemberDeactivated {
        user_id: UserId,
    },
    /// A directory re-activated the member.
    MemberReactivated {
        user_id: UserId,
    },
    /// A directory changed the member's per-membership attributes.
    MemberUpdated {
        user_id: UserId,
        changes: Vec<Change>,
    },
    /// A SCIM token was created, revoked or deleted (§10.1).
    ScimToken {
        kind: ScimTokenEventKind,
        token_id: ScimTokenId,
        name: String,
        prefix: String,
        expires_at: Option<DateTime<Utc>>,
    },
    InvitationCreated {
        invitation_id: InvitationId,
        email: Email,
        role: Role,
        expires_at: DateTime<Utc>,
    },
    InvitationResent {
        invitation_id: InvitationId,
        email: Email,
    },
    InvitationCancelled {
        invitation_id: InvitationId,
        email: Email,
    },
    InvitationAccepted {
        invitation_id: InvitationId,
        email: Email,
        role: Role,
        user_id: UserId,
        via: JoinedVia,
    },
    InvitationDeclined {
        invitation_id: InvitationId,
        email: Email,
    },
    InvitationExpired {
        invitation_id: InvitationId,
        email: Email,
    },
    RoleCreated {
        role_id: RoleId,
        slug: RoleSlug,
        name: String,
        permissions: CapabilitySet,
    },
    RoleUpdated {
        role_id: RoleId,
        slug: RoleSlug,
        changes: Vec<Change>,
    },
    RoleDeleted {
        role_id: RoleId,
        slug: RoleSlug,
    },
    /// Sessions whose org context is this org must be revoked in the same transaction:
    /// all of them, or only those of `user_id` without a service.
    SessionsRevoked {
        user_id: Option<UserId>,
        reason: RevokeReason,
    },
    /// A session scoped to the org was created by `select` (§4.6).
    SessionCreated {
        session_id: SessionId,
    },
    /// One session was revoked (logout, refresh-token reuse).
    SessionRevoked {
        session_id: SessionId,
        kind: SessionKind,
        org_id: Option<OrgId>,
        reason: RevokeReason,
    },
    /// The admin CLI issued a session (`admin issue-token`).
    TokenIssued {
        session_id: SessionId,
        org_slug: Option<Slug>,
    },
    /// A 403 given to a member (§1.5), written in a transaction of its own.
    AuthorizationDenied {
        method: String,
        route: String,
        missing: &'static str,
    },
    /// Retention removed a prefix of a log (§8.3).
    AuditPruned {
        through_seq: u64,
        head_hash: String,
        count: u64,
    },
    UserCreated {
        user_id: UserId,
        email: Email,
        via: UserVia,
    },
    UserDisabled {
        user_id: UserId,
        email: Email,
    },
    UserEnabled {
        user_id: UserId,
        email: Email,
    },
    PlatformOwnerGranted {
        user_id: UserId,
        email: Email,
    },
    PlatformOwnerRevoked {
        user_id: UserId,
        email: Email,
    },
    /// The org's custom domain was set, verified or deleted (§14); `org_id` names the org
    /// (a verification clears other orgs' claims).
    CustomDomain {
        org_id: OrgId,
        kind: crate::custom_domain::DomainEventKind,
        domain: String,
    },
    /// The org's branding changed (§15): the changes and the resulting state.
    BrandingUpdated {
        org_id: OrgId,
        changes: Vec<Change>,
        logo_url: Option<String>,
        primary_color: Option<String>,
    },
    /// Webhook endpoint facts (§9.2).
    Webhook(crate::webhook::WebhookEvent),
    /// The org's SMTP settings were set or removed (§13).
    Smtp(crate::mail::SmtpEvent),
    /// An org's OAuth app credentials for one provider were set or deleted (§12).
    OAuthCredentials(crate::credentials::OAuthCredentialsEvent),
    /// An org's billing-provider credentials were set or deleted (§18).
    BillingCredentials(crate::credentials::BillingCredentialsEvent),
    /// The org's risk settings were updated or reset (§16.2).
    RiskSettings(crate::risk::RiskSettingsEvent),
    /// An org's service was created, updated or deleted, or a member's access changed (§19.2, §5.5).
    Service(crate::service::ServiceEvent),
    /// A login key was issued or revoked (§19.5; platform log).
    LoginKey(crate::login_key::LoginKeyEvent),
    /// An upstream identity provider was created, updated or deleted (§11).
    Upstream(crate::upstream::UpstreamEvent),
    /// A SIEM config was created, updated or deleted (§17).
    Siem(crate::siem::SiemEvent),
    /// A login was reported (§19.5) or an end user's sessions were revoked (§19.4).
    Login(crate::login::LoginEvent),
}
