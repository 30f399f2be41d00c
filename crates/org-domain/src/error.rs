//! Typed domain errors. Each variant carries the data an adapter needs to answer precisely.

use std::fmt;

use crate::capability::Capability;
use crate::organization::OrgStatus;

/// A field-level validation failure: `field` is a path into the request (`permissions[2]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// A failure of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same failure re-rooted under another field path.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A grant, target or field-level rule of §3.5 / §4.8 / §7 (the `missing` of `authorization.denied`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    Grant,
    TargetIsOwner,
    TargetIsAdmin,
    TargetCapabilities,
    PlatformOwnerOnly,
    BuiltInRole,
}

impl Rule {
    /// The wire form, `rule:<name>`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "rule:grant",
            Self::TargetIsOwner => "rule:target_is_owner",
            Self::TargetIsAdmin => "rule:target_is_admin",
            Self::TargetCapabilities => "rule:target_capabilities",
            Self::PlatformOwnerOnly => "rule:platform_owner_only",
            Self::BuiltInRole => "rule:built_in_role",
        }
    }
}

/// Why a domain operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The org, member or sub-resource is unknown or not visible to the actor.
    #[error("not found")]
    NotFound,
    /// The actor lacks a capability (§1.5 step 4).
    #[error("missing capability '{0}'")]
    MissingCapability(Capability),
    /// A grant, target or field rule refuses the action (§1.5 step 7a).
    #[error("{}", rule_text(*.0))]
    RuleViolation(Rule),
    /// The operation needs an active organization (§4.7).
    #[error("organization is {0}")]
    OrgNotActive(OrgStatus),
    /// Field constraints failed.
    #[error("{} invalid", plural(.0.len()))]
    Validation(Vec<FieldError>),
    /// Nobody changes their own role or removes themselves (§3.5).
    #[error("you cannot change your own role or remove yourself")]
    SelfAction,
    /// `limits.max_orgs_per_user` reached (§4.2).
    #[error("maximum number of organizations reached")]
    OrgCapReached,
    /// Transfer target already owns the org (§5.6).
    #[error("user is already the owner")]
    AlreadyOwner,
    /// Active members already reach the member cap (§22.3).
    #[error("member limit of {0} reached")]
    TeamLimitExceeded(u32),
    /// The invitation is past `expires_at` (accept/decline).
    #[error("invitation has expired")]
    InvitationExpired,
    /// The invitation is no longer pending, or is past `expires_at` (cancel/resend).
    #[error("invitation is not pending")]
    InvitationNotPending,
    /// The user already has a membership (active or deactivated).
    #[error("user is already a member of this organization")]
    AlreadyMember,
    /// A pending, unexpired invitation for this e-mail exists.
    #[error("a pending invitation for this e-mail already exists")]
    PendingInvitationExists,
    /// The e-mail of the invitation differs from the caller's.
    #[error("this invitation is addressed to another e-mail address")]
    EmailMismatch,
    /// A status transition that §4.7 does not allow.
    #[error("cannot {action} an organization that is {from}")]
    InvalidTransition { from: OrgStatus, action: &'static str },
    /// A role still held by members or named by pending invitations (§7).
    #[error("role is in use by {members} member(s) and {invitations} pending invitation(s)")]
    RoleInUse { members: u64, invitations: u64 },
    /// Custom role slug already exists in the org.
    #[error("a role with this slug already exists")]
    DuplicateRoleSlug,
    /// Custom role name already exists in the org (case-insensitive).
    #[error("a role with this name already exists")]
    DuplicateRoleName,
    /// The action would leave the org without its owner (§3.5 invariant).
    #[error("the owner cannot be removed; transfer ownership first")]
    OwnerInvariant,
    /// Another endpoint of the org has this name (409 `DUPLICATE_CONSTRAINT`).
    #[error("a webhook with this name already exists")]
    DuplicateWebhookName,
    /// The endpoint is disabled (test, redeliver: 409 `CONFLICT`).
    #[error("the webhook is disabled")]
    WebhookDisabled,
    /// The delivery to redeliver is still pending (409 `CONFLICT`).
    #[error("the delivery is still pending")]
    DeliveryPending,
    /// The org's tier lacks a feature (§1.5 step 5: 403 `FEATURE_NOT_AVAILABLE_IN_TIER`).
    #[error("The feature '{0}' is not available on your current plan")]
    FeatureNotInTier(crate::tier::Feature),
    /// Another org holds this domain verified (§14: 409 `DUPLICATE_CONSTRAINT`).
    #[error("This domain is not available")]
    DomainNotAvailable,
    /// Verification without a domain set (§14: 400 `BAD_REQUEST`).
    #[error("no custom domain is set")]
    NoCustomDomain,
    /// Another member of the org has this directory `userName` (case-insensitive).
    #[error("userName is already taken in this organization")]
    DuplicateUserName,
    /// The directory e-mail is another user's login e-mail.
    #[error("this e-mail belongs to another user")]
    EmailTaken,
    /// No OAuth credentials for this provider (§12: 404 with this detail).
    #[error("OAuth credentials not found for this provider")]
    OAuthCredentialsNotFound,
    /// No billing credentials for this provider (§18: 404 with this detail).
    #[error("Billing credentials not found for this provider")]
    BillingCredentialsNotFound,
    /// The org's services already reach the service cap (§22.3: 400 `SERVICE_LIMIT_EXCEEDED`).
    #[error("service limit of {0} reached")]
    ServiceLimitExceeded(u32),
    /// Another service of the org has this slug (409 `DUPLICATE_CONSTRAINT`).
    #[error("a service with this slug already exists")]
    DuplicateServiceSlug,
    /// Another upstream provider of the org has this `connection_id` (409 `DUPLICATE_CONSTRAINT`).
    #[error("an upstream provider with this connection_id already exists")]
    DuplicateConnectionId,
    /// Another SIEM config of the org has this name (§17: 409 `DUPLICATE_CONSTRAINT`).
    #[error("a SIEM config with this name already exists")]
    DuplicateSiemConfigName,
    /// The org's monthly active users reached `max_mau` (§22.3: 400 `SERVICE_LIMIT_EXCEEDED`).
    #[error("monthly active user limit of {0} reached")]
    MauLimitExceeded(u64),
    /// A login report the platform refuses (§19.5: 403 `FORBIDDEN`), with the reason.
    #[error("{0}")]
    LoginForbidden(&'static str),
    /// Not an end user of this org (§19.3: 404 with this detail).
    #[error("End-user not found")]
    EndUserNotFound,
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 field is".to_owned()
    } else {
        format!("{n} fields are")
    }
}

fn rule_text(rule: Rule) -> &'static str {
    match rule {
        Rule::Grant => "you cannot grant capabilities you do not hold",
        Rule::TargetIsOwner => "the owner cannot be changed or removed; transfer ownership instead",
        Rule::TargetIsAdmin => "acting on an admin needs 'org.admins.manage'",
        Rule::TargetCapabilities => "the member holds capabilities you do not hold",
        Rule::PlatformOwnerOnly => "only platform owners may change this",
        Rule::BuiltInRole => "built-in roles are read-only",
    }
}

impl DomainError {
    /// A validation error for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// The capability or rule a 403 names (`authorization.denied` metadata), if this is a 403.
    pub fn missing(&self) -> Option<&'static str> {
        match self {
            Self::MissingCapability(c) => Some(c.as_str()),
            Self::RuleViolation(r) => Some(r.as_str()),
            _ => None,
        }
    }
}

impl From<FieldError> for DomainError {
    fn from(e: FieldError) -> Self {
        Self::Validation(vec![e])
    }
}
