//! Wire shapes (§4.1, §5–§9, §20, §21): request bodies with `deny_unknown_fields` and one
//! `From` per resource for responses. Optional members are present as `null`, never omitted.

use chrono::{DateTime, Utc};
use org_app::roles::RoleView;
use org_app::{InvitationView, MemberView, MyInvitation, OrgView};
use org_domain::webhook::{Delivery, MAX_ATTEMPTS, Webhook};
use org_domain::{
    Capability, CapabilitySet, FeatureOverrides, Features, Invitation, Membership, Organization, Tier, User,
};
use org_ports::{ActorType, AuditEntry, chain};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::timestamp;
use crate::extract::{non_null, nullable};

fn ts(at: DateTime<Utc>) -> String {
    timestamp(at)
}

fn opt_ts(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(timestamp)
}

// ---------------------------------------------------------------- responses

/// `User` (§4.1), plus the members the AuthOS SDK's `User` type declares (`docs/API-DESIGN.md`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserDto {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub is_platform_owner: bool,
    /// Always `null`: users are platform-wide, not owned by an org.
    pub org_id: Option<String>,
    /// Always `null`: this service does not verify e-mail addresses.
    pub email_verified_at: Option<String>,
    pub created_at: String,
    /// The last write of the user record.
    pub updated_at: String,
    /// Always `null`: users are never deleted.
    pub deleted_at: Option<String>,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id().to_string(),
            email: u.email().as_str().to_owned(),
            name: u.name().map(str::to_owned),
            is_platform_owner: u.is_platform_owner(),
            org_id: None,
            email_verified_at: None,
            created_at: ts(u.created_at()),
            updated_at: ts(u.record().updated_at),
            deleted_at: None,
        }
    }
}

/// `Membership` (§4.1).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Membership)]
pub struct MembershipDto {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub role: String,
    /// `active` or `deactivated`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Membership> for MembershipDto {
    fn from(m: &Membership) -> Self {
        let r = m.record();
        Self {
            id: r.id.to_string(),
            org_id: r.org_id.to_string(),
            user_id: r.user_id.to_string(),
            role: r.role.as_str().to_owned(),
            status: r.status.as_str().to_owned(),
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

/// Effective or default tier features (§22.1).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = TierFeatures)]
pub struct FeaturesDto {
    pub allow_custom_domain: bool,
    pub allow_saml_idp: bool,
    pub allow_scim: bool,
    pub allow_siem: bool,
    pub allow_branding: bool,
    pub allow_passkeys: bool,
    pub social_providers: Vec<String>,
    pub max_mau: i64,
    pub allow_overage: bool,
}

impl From<&Features> for FeaturesDto {
    fn from(f: &Features) -> Self {
        Self {
            allow_custom_domain: f.allow_custom_domain,
            allow_saml_idp: f.allow_saml_idp,
            allow_scim: f.allow_scim,
            allow_siem: f.allow_siem,
            allow_branding: f.allow_branding,
            allow_passkeys: f.allow_passkeys,
            social_providers: f.social_providers.clone(),
            max_mau: f.max_mau,
            allow_overage: f.allow_overage,
        }
    }
}

/// Per-org feature overrides (§22.2): only the keys that are set.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FeatureOverrides)]
pub struct FeatureOverridesDto {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub allow_custom_domain: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub allow_saml_idp: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub allow_scim: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub allow_siem: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub allow_branding: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub allow_passkeys: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub social_providers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub max_mau: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "non_null")]
    pub allow_overage: Option<bool>,
}

impl From<&FeatureOverrides> for FeatureOverridesDto {
    fn from(o: &FeatureOverrides) -> Self {
        Self {
            allow_custom_domain: o.allow_custom_domain,
            allow_saml_idp: o.allow_saml_idp,
            allow_scim: o.allow_scim,
            allow_siem: o.allow_siem,
            allow_branding: o.allow_branding,
            allow_passkeys: o.allow_passkeys,
            social_providers: o.social_providers.clone(),
            max_mau: o.max_mau,
            allow_overage: o.allow_overage,
        }
    }
}

impl From<FeatureOverridesDto> for FeatureOverrides {
    fn from(o: FeatureOverridesDto) -> Self {
        Self {
            allow_custom_domain: o.allow_custom_domain,
            allow_saml_idp: o.allow_saml_idp,
            allow_scim: o.allow_scim,
            allow_siem: o.allow_siem,
            allow_branding: o.allow_branding,
            allow_passkeys: o.allow_passkeys,
            social_providers: o.social_providers,
            max_mau: o.max_mau,
            allow_overage: o.allow_overage,
        }
    }
}

/// A tier (§4.1, §22.1).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Tier)]
pub struct TierDto {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub default_max_services: u32,
    pub default_max_users: u32,
    pub features: FeaturesDto,
    pub price_cents: u32,
    pub currency: String,
    /// Tiers are configuration: always the Unix epoch (docs/API-DESIGN.md).
    pub created_at: String,
}

impl From<&Tier> for TierDto {
    fn from(t: &Tier) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.clone(),
            display_name: t.display_name.clone(),
            default_max_services: t.default_max_services,
            default_max_users: t.default_max_users,
            features: (&t.features).into(),
            price_cents: t.price_cents,
            currency: t.currency.clone(),
            created_at: ts(DateTime::<Utc>::UNIX_EPOCH),
        }
    }
}

/// `Organization` (§4.1).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Organization)]
pub struct OrganizationDto {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub owner_user_id: String,
    /// `pending`, `active`, `rejected` or `suspended`.
    pub status: String,
    pub tier_id: String,
    pub max_services: Option<u32>,
    pub max_users: Option<u32>,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    pub rejected_by: Option<String>,
    pub rejected_at: Option<String>,
    pub rejection_reason: Option<String>,
    pub suspended_at: Option<String>,
    pub suspension_reason: Option<String>,
    /// Not managed by this iteration: always `null`.
    pub custom_domain: Option<String>,
    pub domain_verified: bool,
    /// Not managed by this iteration: always `null`.
    pub brand_logo_url: Option<String>,
    /// Not managed by this iteration: always `null`.
    pub brand_primary_color: Option<String>,
    pub feature_overrides: Option<FeatureOverridesDto>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Organization> for OrganizationDto {
    fn from(org: &Organization) -> Self {
        let s = org.state();
        Self {
            id: s.id.to_string(),
            slug: s.slug.as_str().to_owned(),
            name: s.name.as_str().to_owned(),
            owner_user_id: s.owner_user_id.to_string(),
            status: s.status.as_str().to_owned(),
            tier_id: s.tier_id.to_string(),
            max_services: s.max_services,
            max_users: s.max_users,
            approved_by: s.approved_by.map(|u| u.to_string()),
            approved_at: opt_ts(s.approved_at),
            rejected_by: s.rejected_by.map(|u| u.to_string()),
            rejected_at: opt_ts(s.rejected_at),
            rejection_reason: s.rejection_reason.clone(),
            suspended_at: opt_ts(s.suspended_at),
            suspension_reason: s.suspension_reason.clone(),
            custom_domain: None,
            domain_verified: false,
            brand_logo_url: None,
            brand_primary_color: None,
            feature_overrides: s.feature_overrides.as_ref().map(Into::into),
            created_at: ts(s.created_at),
            updated_at: ts(s.updated_at),
        }
    }
}

/// `OrganizationResponse` (§4.1).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrganizationResponse {
    pub organization: OrganizationDto,
    pub membership_count: u32,
    pub service_count: u32,
    pub tier: Option<TierDto>,
}

impl From<&OrgView> for OrganizationResponse {
    fn from(v: &OrgView) -> Self {
        Self {
            organization: (&v.org).into(),
            membership_count: v.membership_count,
            service_count: v.service_count,
            tier: v.tier.as_ref().map(Into::into),
        }
    }
}

/// `OrganizationMember` (§5.1): both wire shapes in one object.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrganizationMember {
    pub user: UserDto,
    pub membership: MembershipDto,
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub joined_at: String,
}

impl From<&MemberView> for OrganizationMember {
    fn from(v: &MemberView) -> Self {
        Self {
            user: (&v.user).into(),
            membership: (&v.membership).into(),
            user_id: v.user.id().to_string(),
            email: v.user.email().as_str().to_owned(),
            role: v.membership.role().as_str().to_owned(),
            joined_at: ts(v.membership.joined_at()),
        }
    }
}

/// `limit` of the member list (§5.1).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MemberLimit {
    /// Active members.
    pub current: u32,
    /// Effective member cap.
    pub max: u32,
    /// `custom` or the tier name.
    pub source: String,
}

/// `GET …/members` (§5.1).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MemberListResponse {
    pub members: Vec<OrganizationMember>,
    /// Rows matching the filters; `null` in cursor mode.
    pub total: Option<u64>,
    /// The offset page; `null` in cursor mode.
    pub page: Option<u32>,
    pub limit: MemberLimit,
    /// The cursor of the next page; `null` on the last page (§1.6).
    pub next_cursor: Option<String>,
}

/// One entry of `GET|PUT …/service-access` (§5.4).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ServiceAccessEntry {
    pub service_id: String,
    pub service_slug: String,
    pub service_name: String,
    /// `viewer`, `manager` or `null`.
    pub access: Option<String>,
}

/// `POST /api/organizations` (§4.3).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CreateOrganizationResponse {
    pub organization: OrganizationDto,
    pub owner: UserDto,
    pub membership: MembershipDto,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

/// `POST …/select` (§4.6).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SelectOrganizationResponse {
    pub organization: OrganizationDto,
    /// `null` for a platform owner who is not a member.
    pub membership: Option<MembershipDto>,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

/// `POST /api/auth/refresh` (§2.5).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    /// Always `Bearer`.
    pub token_type: String,
}

/// `{message}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: String,
}

/// `session` of `GET /api/user` (§2.7).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub aud: String,
    pub org_slug: Option<String>,
    pub service_slug: Option<String>,
    pub created_at: String,
    /// Expiry of the session's current refresh token.
    pub expires_at: String,
}

/// `organization` of a `GET /api/user` membership.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrganizationSummary {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub status: String,
}

/// One membership of `GET /api/user`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserMembership {
    pub organization: OrganizationSummary,
    pub membership: MembershipDto,
    /// Resolved capabilities (§3).
    pub capabilities: Vec<String>,
}

/// `GET /api/user` (§2.7).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CurrentUserResponse {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub is_platform_owner: bool,
    /// As in `User`: always `null`.
    pub org_id: Option<String>,
    /// As in `User`: always `null`.
    pub email_verified_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// As in `User`: always `null`.
    pub deleted_at: Option<String>,
    pub session: SessionInfo,
    pub memberships: Vec<UserMembership>,
    /// (compat) `organization:<org_id>#<role>` relations.
    pub permissions: Vec<String>,
}

/// Capability names of a set, in catalogue order.
pub fn capability_names(set: CapabilitySet) -> Vec<String> {
    set.iter().map(|c: Capability| c.as_str().to_owned()).collect()
}

/// `Invitation` (§6.1); `status` as seen now (a pending invitation past `expires_at` is `expired`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Invitation)]
pub struct InvitationDto {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: String,
    pub status: String,
    pub invited_by: String,
    pub expires_at: String,
    pub created_at: String,
    pub updated_at: String,
}

impl InvitationDto {
    /// The invitation as seen at `now`.
    pub fn of(inv: &Invitation, now: DateTime<Utc>) -> Self {
        let r = inv.record();
        Self {
            id: r.id.to_string(),
            org_id: r.org_id.to_string(),
            email: r.email.as_str().to_owned(),
            role: r.role.as_str().to_owned(),
            status: inv.status_at(now).as_str().to_owned(),
            invited_by: r.invited_by.to_string(),
            expires_at: ts(r.expires_at),
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

/// `{invitation, inviter}` (§6.3).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InvitationWithInviter {
    pub invitation: InvitationDto,
    /// `null` only if the inviter's user record no longer exists.
    pub inviter: Option<UserDto>,
}

impl InvitationWithInviter {
    /// The view as seen at `now`.
    pub fn of(v: &InvitationView, now: DateTime<Utc>) -> Self {
        Self {
            invitation: InvitationDto::of(&v.invitation, now),
            inviter: v.inviter.as_ref().map(Into::into),
        }
    }
}

/// `{invitation, inviter, token}`: create and resend (§6.2, §6.3).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CreatedInvitationResponse {
    pub invitation: InvitationDto,
    pub inviter: Option<UserDto>,
    /// `inv_…`, shown only here.
    pub token: String,
}

/// One entry of `GET /api/invitations` (§6.4).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = MyInvitation)]
pub struct MyInvitationDto {
    pub id: String,
    pub email: String,
    pub role: String,
    pub expires_at: String,
    pub created_at: String,
    pub organization_slug: String,
    pub organization_name: String,
}

impl From<&MyInvitation> for MyInvitationDto {
    fn from(m: &MyInvitation) -> Self {
        let r = m.invitation.record();
        Self {
            id: r.id.to_string(),
            email: r.email.as_str().to_owned(),
            role: r.role.as_str().to_owned(),
            expires_at: ts(r.expires_at),
            created_at: ts(r.created_at),
            organization_slug: m.org_slug.as_str().to_owned(),
            organization_name: m.org_name.clone(),
        }
    }
}

/// Invitee accept (§6.4): `{organization, membership}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AcceptInvitationResponse {
    pub organization: OrganizationDto,
    pub membership: MembershipDto,
}

/// `Role` (§7).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Role)]
pub struct RoleDto {
    pub id: String,
    pub org_id: String,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
    pub built_in: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl RoleDto {
    /// A role as listed.
    pub fn of(v: &RoleView) -> Self {
        match v {
            RoleView::BuiltIn {
                org_id,
                role,
                caps,
                created_at,
            } => {
                let name = match role.as_str() {
                    "owner" => "Owner",
                    "admin" => "Admin",
                    _ => "Member",
                };
                Self {
                    id: format!("role_{}", role.as_str()),
                    org_id: org_id.to_string(),
                    slug: role.as_str().to_owned(),
                    name: name.to_owned(),
                    description: None,
                    permissions: capability_names(*caps),
                    built_in: true,
                    created_at: ts(*created_at),
                    updated_at: ts(*created_at),
                }
            }
            RoleView::Custom(role) => {
                let r = role.record();
                Self {
                    id: r.id.to_string(),
                    org_id: r.org_id.to_string(),
                    slug: r.slug.as_str().to_owned(),
                    name: r.name.as_str().to_owned(),
                    description: r.description.as_ref().map(|d| d.as_str().to_owned()),
                    // Stored permissions keep what was written (§3.2).
                    permissions: capability_names(r.permissions),
                    built_in: false,
                    created_at: ts(r.created_at),
                    updated_at: ts(r.updated_at),
                }
            }
        }
    }
}

/// `GET /api/platform/organizations` (§20).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PlatformOrganizationList {
    pub organizations: Vec<OrganizationResponse>,
    pub total: u64,
    pub page: u32,
    pub limit: u32,
}

/// A JWK of the JWKS (§2.8).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
}

/// `GET /.well-known/jwks.json`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// `GET /healthz`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// Always `ok`.
    pub status: String,
}

/// The checks of `GET /readyz`, each `ok` or `fail`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    pub database: String,
    pub migrations: String,
    pub workers: String,
}

/// `GET /readyz` (§21.2): the same shape with 200 and 503.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReadinessResponse {
    /// `ready` or `not_ready`.
    pub status: String,
    pub checks: ReadinessChecks,
}

// ---------------------------------------------------------------- requests

/// `POST /api/auth/refresh`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// 1–1000 characters.
    pub refresh_token: String,
}

/// `POST /api/organizations`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    /// `^[a-z0-9][a-z0-9_-]{2,49}$`, not reserved.
    pub slug: String,
    /// Trimmed, 2–100 characters.
    pub name: String,
}

/// `PATCH /api/organizations/:org_slug` (absent = unchanged, `null` = tier default).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    /// Platform owners only; ≥ 0 or `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub max_services: Option<Option<u32>>,
    /// Platform owners only; ≥ 1 or `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub max_users: Option<Option<u32>>,
}

/// `PATCH …/members/:user_id`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    /// `admin`, `member`, a custom slug of this org, or `owner` (ownership transfer).
    pub role: String,
}

/// `POST …/transfer-ownership`: exactly one of the two members.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferOwnershipRequest {
    #[serde(default, deserialize_with = "non_null")]
    pub new_owner_email: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub new_owner_user_id: Option<String>,
}

/// `viewer` or `manager`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceAccessLevel {
    Viewer,
    Manager,
}

/// One grant of `PUT …/service-access`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceGrant {
    pub service_slug: String,
    /// `null` removes the access.
    pub access: Option<ServiceAccessLevel>,
}

/// `PUT …/service-access` (§5.5).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccessRequest {
    /// 1–100 grants, each service at most once.
    pub grants: Vec<ServiceGrant>,
}

/// `POST …/invitations` (§6.2).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    pub email: String,
    /// Default `member`.
    #[serde(default, deserialize_with = "non_null")]
    pub role: Option<String>,
    /// 1–30; default `invitations.default_ttl_days`.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(minimum = 1, maximum = 30)]
    pub expires_in_days: Option<u32>,
}

/// `{token}` of invitee accept and public decline (§6.4).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationTokenRequest {
    pub token: String,
}

/// `POST …/roles` (§7).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// `^[a-z0-9_-]{2,50}$`, not a built-in name.
    pub slug: String,
    /// Trimmed, 1–100, unique in the org (case-insensitive).
    pub name: String,
    /// ≤ 500 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Grantable capabilities; duplicates collapse.
    pub permissions: Vec<String>,
}

/// `PUT …/roles/:role_id` (partial; `description: null` clears).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleRequest {
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "non_null")]
    pub permissions: Option<Vec<String>>,
}

/// `PATCH /api/platform/organizations/:org_slug` (§20).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformUpdateOrganizationRequest {
    #[serde(default, deserialize_with = "non_null")]
    pub tier_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub max_services: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub max_users: Option<Option<u32>>,
    /// `null` removes every override.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<FeatureOverridesDto>)]
    pub feature_overrides: Option<Option<FeatureOverridesDto>>,
}

/// `POST …/approve`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Default: keep the current tier.
    #[serde(default, deserialize_with = "non_null")]
    pub tier_id: Option<String>,
}

/// `POST …/reject`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Trimmed, 1–1000 characters.
    pub reason: String,
}

/// `POST …/suspend`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// ≤ 1000 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

// ---------------------------------------------------------------- audit log (§8) and webhooks (§9)

/// `actor` of an audit entry: the user who acted.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditActorDto {
    pub id: String,
    pub email: Option<String>,
}

/// `AuditLogEntry` (§8.2), plus its place in the hash chain (§8.3).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = AuditLogEntry)]
pub struct AuditLogEntryDto {
    pub id: String,
    /// `null` only in the platform log.
    pub organization_id: Option<String>,
    /// User id, SCIM token id, login-key id, `system` or `anonymous`.
    pub actor_id: String,
    /// `user`, `scim_token`, `login_key`, `system` or `anonymous`.
    pub actor_type: String,
    /// For user actors.
    pub actor: Option<AuditActorDto>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// `false` only for `authorization.denied`.
    pub success: bool,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub created_at: String,
    /// Position in the log: 1, 2, 3 … in commit order.
    pub seq: u64,
    /// The previous entry's `hash` (64 hex characters; zeros for `seq` 1).
    pub prev_hash: String,
    /// SHA-256(prev_hash ‖ JCS(entry)), 64 lower-case hex characters.
    pub hash: String,
}

impl From<&AuditEntry> for AuditLogEntryDto {
    fn from(e: &AuditEntry) -> Self {
        let d = &e.entry;
        Self {
            id: d.id.to_string(),
            organization_id: d.org_id.map(|o| o.to_string()),
            actor_id: d.actor.id.clone(),
            actor_type: d.actor.kind.as_str().to_owned(),
            actor: (d.actor.kind == ActorType::User).then(|| AuditActorDto {
                id: d.actor.id.clone(),
                email: d.actor.email.clone(),
            }),
            action: d.action.clone(),
            target_type: d.target_type.clone(),
            target_id: d.target_id.clone(),
            ip_address: d.ip_address.clone(),
            user_agent: d.user_agent.clone(),
            success: d.success,
            metadata: d.metadata.clone(),
            request_id: d.request_id.clone(),
            created_at: ts(d.created_at),
            seq: e.seq,
            prev_hash: chain::to_hex(&e.prev_hash),
            hash: chain::to_hex(&e.hash),
        }
    }
}

/// `pagination` of the audit-log and delivery lists (§1.6); `page`, `total` and
/// `total_pages` are `null` in cursor mode.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub page: Option<u32>,
    pub limit: u32,
    pub total: Option<u64>,
    pub total_pages: Option<u64>,
    pub has_next: bool,
    pub has_prev: bool,
}

/// `GET …/audit-log` and `GET /api/platform/audit-log`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditLogListResponse {
    pub logs: Vec<AuditLogEntryDto>,
    pub pagination: Pagination,
    /// Cursor of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One entry of the event-type lists (§8.1, §9.2).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventTypeDto {
    pub value: String,
    pub label: String,
    pub category: String,
}

/// `GET …/audit-log/head` (§8.3): all `null` while the log is empty.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditHeadResponse {
    pub seq: Option<u64>,
    pub hash: Option<String>,
    pub created_at: Option<String>,
}

/// `WebhookResponse` (§9.1); `secret` only in the create response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    pub id: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub is_active: bool,
    /// `null`, `failing` or `gone`.
    pub disabled_reason: Option<String>,
    /// `whsec_…`, shown once (create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl WebhookResponse {
    /// The endpoint, with its secret when `show_secret`.
    pub fn of(w: &Webhook, show_secret: bool) -> Self {
        let w = w.record();
        Self {
            id: w.id.to_string(),
            name: w.name.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            is_active: w.is_active,
            disabled_reason: w.disabled_reason.map(|r| r.as_str().to_owned()),
            secret: show_secret.then(|| w.secret.clone()),
            created_at: ts(w.created_at),
            updated_at: ts(w.updated_at),
        }
    }
}

impl From<&Webhook> for WebhookResponse {
    fn from(w: &Webhook) -> Self {
        Self::of(w, false)
    }
}

/// `GET …/webhooks`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookListResponse {
    pub webhooks: Vec<WebhookResponse>,
    pub total: u64,
}

/// `WebhookDelivery` (§9.2).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryDto {
    pub id: String,
    pub webhook_id: String,
    pub webhook_name: String,
    pub event_id: String,
    pub event_type: String,
    /// The envelope of §9.5 as sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub response_status_code: Option<u16>,
    /// The first 10 000 characters.
    pub response_body: Option<String>,
    pub attempt_count: u32,
    /// Always 8.
    pub max_attempts: u32,
    pub next_retry_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub delivered: bool,
    pub delivery_error: Option<String>,
    pub redelivery_of: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl WebhookDeliveryDto {
    /// A delivery of `w`.
    pub fn of(w: &Webhook, d: &Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            webhook_id: d.webhook_id.to_string(),
            webhook_name: w.name().to_owned(),
            event_id: d.event_id.to_string(),
            event_type: d.event_type.clone(),
            payload: serde_json::from_str(&d.payload).unwrap_or_else(|_| serde_json::Value::String(d.payload.clone())),
            status: d.status.as_str().to_owned(),
            response_status_code: d.response_status_code,
            response_body: d.response_body.clone(),
            attempt_count: d.attempt_count,
            max_attempts: MAX_ATTEMPTS,
            next_retry_at: opt_ts(d.next_retry_at),
            last_attempt_at: opt_ts(d.last_attempt_at),
            delivered: d.delivered(),
            delivery_error: d.delivery_error.clone(),
            redelivery_of: d.redelivery_of.map(|r| r.to_string()),
            created_at: ts(d.created_at),
            updated_at: ts(d.updated_at),
        }
    }
}

/// `GET …/webhooks/:id/deliveries`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryListResponse {
    pub deliveries: Vec<WebhookDeliveryDto>,
    pub pagination: Pagination,
    /// Cursor of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `POST …/test` and `…/redeliver`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EnqueuedResponse {
    /// Always `true`.
    pub success: bool,
    /// (compat) equals `delivery_id`.
    pub job_id: String,
    pub delivery_id: String,
}

/// `POST …/rotate-secret`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RotateSecretResponse {
    pub id: String,
    /// The new `whsec_…` secret, shown once.
    pub secret: String,
    /// Until then the previous secret keeps signing alongside the new one.
    pub previous_secret_expires_at: Option<String>,
}

/// `POST …/webhooks` (§9.2).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Trimmed, 1–100, unique in the org.
    pub name: String,
    /// Absolute `https` URL (§9.3).
    pub url: String,
    /// 1+ subscribable types (§23.2); duplicates collapse.
    pub events: Vec<String>,
}

/// `PATCH …/webhooks/:id` (absent = unchanged).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub events: Option<Vec<String>>,
    /// `true` clears `disabled_reason` and the failure window.
    #[serde(default, deserialize_with = "non_null")]
    pub is_active: Option<bool>,
}

/// `POST …/rotate-secret`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// 0–86 400, default 86 400.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(minimum = 0, maximum = 86400)]
    pub previous_secret_ttl_seconds: Option<i64>,
}

// ---------------------------------------------------------------- SCIM tokens (§10.1)

/// `ScimToken` (§10.1): never the token itself.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ScimToken)]
pub struct ScimTokenDto {
    pub id: String,
    pub name: String,
    /// The first 12 characters of the token.
    pub prefix: String,
    pub active: bool,
    /// The creator's user id.
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl ScimTokenDto {
    /// The token as seen at `now` (`active`: not revoked, not expired).
    pub fn of(t: &org_domain::scim_token::ScimToken, now: DateTime<Utc>) -> Self {
        let r = t.record();
        Self {
            id: r.id.to_string(),
            name: r.name.clone(),
            prefix: r.prefix.clone(),
            active: t.is_active(now),
            created_by: r.created_by.to_string(),
            created_at: ts(r.created_at),
            expires_at: opt_ts(r.expires_at),
            last_used_at: opt_ts(r.last_used_at),
            revoked_at: opt_ts(r.revoked_at),
        }
    }
}

/// `POST …/scim-tokens`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScimTokenRequest {
    /// Trimmed, 1–100 characters.
    pub name: String,
    /// RFC 3339, in the future.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// 201 of `POST …/scim-tokens`: the plaintext `token`, shown once.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CreatedScimTokenResponse {
    pub id: String,
    pub name: String,
    /// `scim_` + 43 base64url characters; store it now, it is never shown again.
    pub token: String,
    pub prefix: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// `POST …/oauth-credentials/:provider` (§12).
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOAuthCredentialsRequest {
    /// 1–512 characters.
    pub client_id: String,
    /// 1–4096 characters, write-only.
    pub client_secret: String,
}

impl std::fmt::Debug for SetOAuthCredentialsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetOAuthCredentialsRequest")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// One provider's OAuth credentials (§12): never the secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OAuthCredentialsResponse {
    /// `github`, `google` or `microsoft`.
    pub provider: String,
    pub client_id: String,
    /// Always `true`: a secret is required.
    pub has_secret: bool,
    pub updated_at: String,
}

impl From<&org_app::OAuthCredentialsView> for OAuthCredentialsResponse {
    fn from(v: &org_app::OAuthCredentialsView) -> Self {
        Self {
            provider: v.provider.as_str().to_owned(),
            client_id: v.client_id.clone(),
            has_secret: v.has_secret,
            updated_at: ts(v.updated_at),
        }
    }
}

/// `POST …/billing-credentials/:provider` (§18): every field required.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBillingCredentialsRequest {
    /// 1–4096, write-only; for Stripe `sk_test_`/`rk_test_` (test) or `sk_live_`/`rk_live_` (live).
    pub api_key: String,
    /// 1–4096, write-only.
    pub webhook_secret: String,
    /// `test` or `live`.
    pub mode: String,
}

impl std::fmt::Debug for SetBillingCredentialsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetBillingCredentialsRequest")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// `GET …/billing-credentials/:provider` (§18): never a secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BillingCredentialsResponse {
    pub configured: bool,
    /// `stripe` or `polar`.
    pub provider: String,
    /// `test`, `live`, or `null` when unconfigured.
    pub mode: Option<String>,
    pub enabled: bool,
    pub updated_at: Option<String>,
}

impl From<&org_app::BillingCredentialsView> for BillingCredentialsResponse {
    fn from(v: &org_app::BillingCredentialsView) -> Self {
        Self {
            configured: v.configured,
            provider: v.provider.as_str().to_owned(),
            mode: v.mode.map(|m| m.as_str().to_owned()),
            enabled: v.enabled,
            updated_at: v.updated_at.map(ts),
        }
    }
}

/// `DELETE …/billing-credentials/:provider` (§18).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeletedCredentialsResponse {
    pub message: String,
    pub deleted_count: u64,
}

/// `POST …/smtp` (§13).
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSmtpRequest {
    /// Host name or IP literal, ≤ 253; the SSRF guard applies (§9.3).
    pub host: String,
    /// 1–65535.
    pub port: i64,
    /// ≤ 256; empty: no AUTH.
    pub username: String,
    /// 1–1024, write-only.
    pub password: String,
    pub from_email: String,
    /// Trimmed, ≤ 100.
    #[serde(default)]
    pub from_name: Option<String>,
    /// `starttls`, `tls` or `none`; default `tls` for port 465, else `starttls`.
    #[serde(default)]
    pub security: Option<String>,
}

impl std::fmt::Debug for SetSmtpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetSmtpRequest")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// `GET …/smtp` (§13): never the password.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SmtpResponse {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub from_email: String,
    pub from_name: Option<String>,
    pub security: String,
    pub configured: bool,
}

impl SmtpResponse {
    /// The settings, or the compat shape of an org without (empty strings, 587, `starttls`).
    pub fn of(settings: Option<&org_domain::mail::SmtpSettings>) -> Self {
        match settings.map(|s| s.config()) {
            Some(c) => Self {
                host: c.host.clone(),
                port: c.port,
                username: c.username.clone(),
                from_email: c.from_email.as_str().to_owned(),
                from_name: c.from_name.clone(),
                security: c.security.as_str().to_owned(),
                configured: true,
            },
            None => Self {
                host: String::new(),
                port: 587,
                username: String::new(),
                from_email: String::new(),
                from_name: None,
                security: "starttls".to_owned(),
                configured: false,
            },
        }
    }
}
// ---------------------------------------------------------------- §14 custom domain, §15 branding

/// `{logo_url, primary_color}` (§15).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BrandingResponse {
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
}

impl From<&org_domain::branding::Branding> for BrandingResponse {
    fn from(b: &org_domain::branding::Branding) -> Self {
        Self {
            logo_url: b.logo_url().map(str::to_owned),
            primary_color: b.primary_color().map(str::to_owned),
        }
    }
}

/// `PATCH …/branding`: absent = unchanged, `null` = cleared.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBrandingRequest {
    /// Absolute `https` URL, ≤ 2048 characters, no user-info.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub logo_url: Option<Option<String>>,
    /// `#rgb` or `#rrggbb` (any case; stored lower-case).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub primary_color: Option<Option<String>>,
}

/// `POST …/domain`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDomainRequest {
    /// Trimmed, trailing dot removed, lower-cased; §14 syntax.
    pub domain: String,
}

/// One way to prove a domain (§14); unused members are `null`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VerificationMethodDto {
    /// `DNS` or `HTTP`.
    pub method: String,
    pub instructions: String,
    pub record_type: Option<String>,
    pub record_name: Option<String>,
    pub record_value: Option<String>,
    pub url: Option<String>,
}

/// The set-domain response.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DomainSetupResponse {
    /// 32 hex characters.
    pub verification_token: String,
    pub verification_methods: Vec<VerificationMethodDto>,
}

/// `GET …/domain`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DomainConfigurationResponse {
    pub custom_domain: Option<String>,
    pub domain_verified: bool,
    pub verified_at: Option<String>,
}

/// `POST …/domain/verify`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyDomainResponse {
    pub verified: bool,
    /// What succeeded, or what was found.
    pub message: String,
    /// `DNS`, `HTTP` or `null`.
    pub method: Option<String>,
}
