//! Rows ↔ domain values. Every row is turned into a domain value through the domain's own
//! constructors (`Organization::restore`, `Slug::parse`, …), so a row that breaks a rule becomes
//! [`StoreError::Corrupt`], never an invalid aggregate.

use org_domain::branding::{Branding, BrandingRecord};
use org_domain::custom_domain::{CustomDomain, CustomDomainRecord, DomainName, VerificationMethod};
use org_domain::directory::{
    DirectoryFields, DirectoryGroup, DirectoryGroupRecord, DirectoryProfile, DirectoryProfileRecord, user_name_key,
};
use org_domain::mail::{Mail, MailStatus, SmtpConfig, SmtpDraft, SmtpSettings, SmtpSettingsRecord};
use org_domain::scim_token::{ScimToken, ScimTokenRecord};
use org_domain::webhook::{Delivery, DeliveryStatus, DisabledReason, Webhook, WebhookRecord};
use org_domain::{
    Capability, CapabilitySet, CustomRole, CustomRoleRecord, DeliveryId, Description, Email, EventId, FeatureOverrides,
    Headcount, Invitation, InvitationId, InvitationRecord, InvitationStatus, MailId, Membership, MembershipId,
    MembershipRecord, MembershipStatus, OrgId, OrgName, OrgState, OrgStatus, Organization, RevokeReason, Role, RoleId,
    RoleName, RoleSlug, RotationReplay, ScimTokenId, Session, SessionId, SessionKind, Slug, TierId, TokenHash, User,
    UserId, UserRecord, WebhookId,
};
use org_ports::chain::{self, Hash};
use org_ports::{
    ActorType, AuditActor, AuditDraft, AuditEntry, AuditLog, OutboxEvent, SecretCipher, SecretScope, StoreError,
};
use sea_orm::{ActiveModelTrait, ActiveValue, IntoActiveModel};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::entities::{
    audit, billing_credential, custom_domain, delivery, directory_group, directory_profile, event, invitation, mail,
    membership, oauth_credential, org, org_branding, role, scim_token, session, smtp_settings, user, webhook,
};

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A model as an active model whose every column is `Set` (for inserts and full-row updates).
pub(crate) fn all_set<M, A>(model: M) -> A
where
    M: IntoActiveModel<A>,
    A: ActiveModelTrait,
{
    model.into_active_model().reset_all()
}

/// A stored version (`u64` in the domain, `BIGINT` in the row).
pub(crate) fn version_to_row(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Unavailable(format!("version {v} out of range")))
}

pub(crate) fn version_from_row(v: i64, table: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(format!("{table}: negative version {v}")))
}

fn opt_u32_to_row(v: Option<u32>) -> Option<i64> {
    v.map(i64::from)
}

fn opt_u32_from_row(v: Option<i64>, field: &str) -> Result<Option<u32>, StoreError> {
    v.map(|n| u32::try_from(n).map_err(|_| corrupt(format!("{field} out of range: {n}"))))
        .transpose()
}

/// `TokenHash` ↔ 64 lower-case hex characters.
pub(crate) fn hash_to_row(h: &TokenHash) -> String {
    chain::to_hex(&h.0)
}

pub(crate) fn hash_from_row(text: &str, field: &str) -> Result<TokenHash, StoreError> {
    chain::from_hex(text)
        .map(TokenHash)
        .ok_or_else(|| corrupt(format!("{field}: not a 64-hex-digit hash")))
}

fn chain_hash_from_row(text: Option<&str>, field: &str) -> Result<Hash, StoreError> {
    text.and_then(chain::from_hex)
        .ok_or_else(|| corrupt(format!("audit {field}: missing or not 64 hex digits")))
}

// ---------------------------------------------------------------------------------------------
// Capabilities and feature overrides (JSON text columns).

/// A capability set as a JSON array of capability names, catalogue order.
pub(crate) fn caps_to_row(caps: CapabilitySet) -> String {
    Value::Array(caps.iter().map(|c| Value::String(c.as_str().to_owned())).collect()).to_string()
}

fn caps_from_row(text: &str, field: &str) -> Result<CapabilitySet, StoreError> {
    let names: Vec<String> = serde_json::from_str(text).map_err(|e| corrupt(format!("{field}: {e}")))?;
    names
        .iter()
        .map(|n| Capability::parse(n).ok_or_else(|| corrupt(format!("unknown capability '{n}'"))))
        .collect()
}

fn overrides_to_row(f: &FeatureOverrides) -> String {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    put("allow_custom_domain", f.allow_custom_domain.map(Value::Bool));
    put("allow_saml_idp", f.allow_saml_idp.map(Value::Bool));
    put("allow_scim", f.allow_scim.map(Value::Bool));
    put("allow_siem", f.allow_siem.map(Value::Bool));
    put("allow_branding", f.allow_branding.map(Value::Bool));
    put("allow_passkeys", f.allow_passkeys.map(Value::Bool));
    put("social_providers", f.social_providers.as_ref().map(|s| json!(s)));
    put("max_mau", f.max_mau.map(|n| json!(n)));
    put("allow_overage", f.allow_overage.map(Value::Bool));
    Value::Object(m).to_string()
}

fn overrides_from_row(text: &str) -> Result<FeatureOverrides, StoreError> {
    let bad = |k: &str| corrupt(format!("feature_overrides.{k} has the wrong type"));
    let v: Value = serde_json::from_str(text).map_err(|e| corrupt(format!("feature_overrides: {e}")))?;
    let m = v
        .as_object()
        .ok_or_else(|| corrupt("feature_overrides is not an object"))?;
    let boolean = |k: &str| -> Result<Option<bool>, StoreError> {
        m.get(k).map(|v| v.as_bool().ok_or_else(|| bad(k))).transpose()
    };
    let social = m
        .get("social_providers")
        .map(|v| {
            v.as_array()
                .ok_or_else(|| bad("social_providers"))?
                .iter()
                .map(|s| s.as_str().map(str::to_owned).ok_or_else(|| bad("social_providers")))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(FeatureOverrides {
        allow_custom_domain: boolean("allow_custom_domain")?,
        allow_saml_idp: boolean("allow_saml_idp")?,
        allow_scim: boolean("allow_scim")?,
        allow_siem: boolean("allow_siem")?,
        allow_branding: boolean("allow_branding")?,
        allow_passkeys: boolean("allow_passkeys")?,
        social_providers: social,
        max_mau: m
            .get("max_mau")
            .map(|v| v.as_i64().ok_or_else(|| bad("max_mau")))
            .transpose()?,
        allow_overage: boolean("allow_overage")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Organizations.

/// The org row of a state, stored under `version`, with kept counts of 0 (never written: see
/// [`org_write_row`]).
pub(crate) fn org_to_row(s: &OrgState, version: i64) -> org::Model {
    org::Model {
        id: s.id.as_uuid(),
        slug: s.slug.as_str().to_owned(),
        name: s.name.as_str().to_owned(),
        name_lower: s.name.as_str().to_lowercase(),
        owner_user_id: s.owner_user_id.as_uuid(),
        status: s.status.as_str().to_owned(),
        tier_id: s.tier_id.as_str().to_owned(),
        max_services: opt_u32_to_row(s.max_services),
        max_users: opt_u32_to_row(s.max_users),
        approved_by: s.approved_by.map(|u| u.as_uuid()),
        approved_at: s.approved_at,
        rejected_by: s.rejected_by.map(|u| u.as_uuid()),
        rejected_at: s.rejected_at,
        rejection_reason: s.rejection_reason.clone(),
        suspended_at: s.suspended_at,
        suspension_reason: s.suspension_reason.clone(),
        feature_overrides: s.feature_overrides.as_ref().map(overrides_to_row),
        created_at: s.created_at,
        updated_at: s.updated_at,
        deleted_at: s.deleted_at,
        version,
        active_members: 0,
        total_members: 0,
    }
}

/// The columns an org insert or update writes: everything but the kept counts, which only
/// membership writes change (an inserted org gets the columns' default, 0).
pub(crate) fn org_write_row(s: &OrgState, version: i64) -> org::ActiveModel {
    let mut row: org::ActiveModel = all_set(org_to_row(s, version));
    row.active_members = ActiveValue::NotSet;
    row.total_members = ActiveValue::NotSet;
    row
}

fn count_from_row(n: i64, what: &str, org: Uuid) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| corrupt(format!("org {org}: {what} {n}")))
}

/// An organization from its row (settings, lifecycle, owner and kept counts).
pub(crate) fn org_from_row(o: org::Model) -> Result<Organization, StoreError> {
    let field = |e: org_domain::FieldError| corrupt(format!("org {}: {e}", o.id));
    let state = OrgState {
        id: OrgId::from_uuid(o.id),
        slug: Slug::parse(&o.slug).map_err(field)?,
        name: OrgName::parse(&o.name).map_err(field)?,
        owner_user_id: UserId::from_uuid(o.owner_user_id),
        status: OrgStatus::parse(&o.status).ok_or_else(|| corrupt(format!("org {}: status '{}'", o.id, o.status)))?,
        tier_id: TierId::new(o.tier_id.clone()),
        max_services: opt_u32_from_row(o.max_services, "max_services")?,
        max_users: opt_u32_from_row(o.max_users, "max_users")?,
        approved_by: o.approved_by.map(UserId::from_uuid),
        approved_at: o.approved_at,
        rejected_by: o.rejected_by.map(UserId::from_uuid),
        rejected_at: o.rejected_at,
        rejection_reason: o.rejection_reason.clone(),
        suspended_at: o.suspended_at,
        suspension_reason: o.suspension_reason.clone(),
        feature_overrides: o.feature_overrides.as_deref().map(overrides_from_row).transpose()?,
        created_at: o.created_at,
        updated_at: o.updated_at,
        deleted_at: o.deleted_at,
        headcount: Headcount {
            active: count_from_row(o.active_members, "active_members", o.id)?,
            total: count_from_row(o.total_members, "total_members", o.id)?,
        },
        version: version_from_row(o.version, "orgs")?,
    };
    Organization::restore(state).map_err(|e| corrupt(format!("org {}: {e:?}", o.id)))
}

// ---------------------------------------------------------------------------------------------
// Memberships and custom roles.

/// The `custom_role` column of a role: its slug when custom, NULL when built in.
pub(crate) fn custom_role_column(role: &Role) -> Option<String> {
    match role {
        Role::Custom(slug) => Some(slug.as_str().to_owned()),
        _ => None,
    }
}

/// The row of a membership, stored under `version`.
pub(crate) fn membership_to_row(m: &Membership, version: i64) -> membership::Model {
    let r = m.record();
    membership::Model {
        id: r.id.as_uuid(),
        org_id: r.org_id.as_uuid(),
        user_id: r.user_id.as_uuid(),
        role: r.role.as_str().to_owned(),
        custom_role: custom_role_column(&r.role),
        status: r.status.as_str().to_owned(),
        created_at: r.created_at,
        updated_at: r.updated_at,
        version,
    }
}

pub(crate) fn membership_from_row(m: membership::Model) -> Result<Membership, StoreError> {
    let role = Role::parse(&m.role).map_err(|e| corrupt(format!("membership {}: {e}", m.id)))?;
    if custom_role_column(&role) != m.custom_role {
        return Err(corrupt(format!("membership {}: custom_role does not match role", m.id)));
    }
    let record = MembershipRecord {
        id: MembershipId::from_uuid(m.id),
        org_id: OrgId::from_uuid(m.org_id),
        user_id: UserId::from_uuid(m.user_id),
        role,
        status: MembershipStatus::parse(&m.status)
            .ok_or_else(|| corrupt(format!("membership {}: status '{}'", m.id, m.status)))?,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: version_from_row(m.version, "memberships")?,
    };
    Membership::restore(record).map_err(|e| corrupt(format!("membership {}: {e:?}", m.id)))
}

/// The row of a custom role, stored under `version`.
pub(crate) fn role_to_row(r: &CustomRole, version: i64) -> role::Model {
    let r = r.record();
    role::Model {
        id: r.id.as_uuid(),
        org_id: r.org_id.as_uuid(),
        slug: r.slug.as_str().to_owned(),
        name: r.name.as_str().to_owned(),
        name_key: r.name.unique_key(),
        description: r.description.as_ref().map(|d| d.as_str().to_owned()),
        permissions: caps_to_row(r.permissions),
        created_at: r.created_at,
        updated_at: r.updated_at,
        version,
    }
}

pub(crate) fn role_from_row(r: role::Model) -> Result<CustomRole, StoreError> {
    let field = |e: org_domain::FieldError| corrupt(format!("role {}: {e}", r.id));
    let record = CustomRoleRecord {
        id: RoleId::from_uuid(r.id),
        org_id: OrgId::from_uuid(r.org_id),
        slug: RoleSlug::parse(&r.slug).map_err(field)?,
        name: RoleName::parse(&r.name).map_err(field)?,
        description: r
            .description
            .as_deref()
            .map(Description::parse)
            .transpose()
            .map_err(field)?,
        permissions: caps_from_row(&r.permissions, "role permissions")?,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version: version_from_row(r.version, "org_roles")?,
    };
    CustomRole::restore(record).map_err(|e| corrupt(format!("role {}: {e:?}", r.id)))
}

// ---------------------------------------------------------------------------------------------
// Users.

pub(crate) fn user_to_row(u: &User, version: i64) -> user::Model {
    let u = u.record();
    user::Model {
        id: u.id.as_uuid(),
        email: u.email.as_str().to_owned(),
        name: u.name.clone(),
        is_platform_owner: u.is_platform_owner,
        disabled_at: u.disabled_at,
        created_at: u.created_at,
        updated_at: u.updated_at,
        version,
    }
}

pub(crate) fn user_from_row(u: user::Model) -> Result<User, StoreError> {
    Ok(User::restore(UserRecord {
        id: UserId::from_uuid(u.id),
        email: Email::parse(&u.email).map_err(|e| corrupt(format!("user {}: {e}", u.id)))?,
        name: u.name,
        is_platform_owner: u.is_platform_owner,
        disabled_at: u.disabled_at,
        created_at: u.created_at,
        updated_at: u.updated_at,
        version: version_from_row(u.version, "users")?,
    }))
}

// ---------------------------------------------------------------------------------------------
// Invitations.

pub(crate) fn invitation_to_row(r: &InvitationRecord, version: i64) -> invitation::Model {
    invitation::Model {
        id: r.id.as_uuid(),
        org_id: r.org_id.as_uuid(),
        email: r.email.as_str().to_owned(),
        role: r.role.as_str().to_owned(),
        status: r.status.as_str().to_owned(),
        invited_by: r.invited_by.as_uuid(),
        token_hash: hash_to_row(&r.token_hash),
        ttl_days: i32::try_from(r.ttl_days).unwrap_or(i32::MAX),
        expires_at: r.expires_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version,
    }
}

pub(crate) fn invitation_from_row(i: invitation::Model) -> Result<Invitation, StoreError> {
    let field = |e: org_domain::FieldError| corrupt(format!("invitation {}: {e}", i.id));
    let record = InvitationRecord {
        id: InvitationId::from_uuid(i.id),
        org_id: OrgId::from_uuid(i.org_id),
        email: Email::parse(&i.email).map_err(field)?,
        role: Role::parse(&i.role).map_err(field)?,
        status: InvitationStatus::parse(&i.status)
            .ok_or_else(|| corrupt(format!("invitation {}: status '{}'", i.id, i.status)))?,
        invited_by: UserId::from_uuid(i.invited_by),
        token_hash: hash_from_row(&i.token_hash, "invitation token_hash")?,
        ttl_days: u32::try_from(i.ttl_days).map_err(|_| corrupt(format!("invitation {}: ttl_days", i.id)))?,
        expires_at: i.expires_at,
        created_at: i.created_at,
        updated_at: i.updated_at,
        version: version_from_row(i.version, "invitations")?,
    };
    Invitation::restore(record).map_err(|e| corrupt(format!("invitation {}: {e:?}", i.id)))
}

// ---------------------------------------------------------------------------------------------
// Sessions.

/// The scope a session's replay tokens are sealed for: the session's org (the nil org for a
/// platform session), table, column and id.
fn session_scope(org_id: Option<Uuid>, id: Uuid, column: &'static str) -> SecretScope {
    SecretScope::new(OrgId::from_uuid(org_id.unwrap_or(Uuid::nil())), "sessions", column, id)
}

/// The row of `s`, its replay tokens sealed by `cipher`.
pub(crate) fn session_to_row(
    s: &Session,
    version: i64,
    cipher: &dyn SecretCipher,
) -> Result<session::Model, StoreError> {
    let (org_id, id) = (s.org_id.map(|o| o.as_uuid()), s.id.as_uuid());
    let seal = |text: &str, column| cipher.seal(text, &session_scope(org_id, id, column));
    let (replay_access, replay_refresh) = match &s.replay {
        Some(r) => (
            Some(seal(&r.access_token, "replay_access")?),
            Some(seal(&r.refresh_token, "replay_refresh")?),
        ),
        None => (None, None),
    };
    Ok(session::Model {
        id,
        user_id: s.user_id.as_uuid(),
        kind: s.kind.as_str().to_owned(),
        org_id,
        refresh_hash: hash_to_row(&s.refresh_hash),
        previous_hash: s.previous_hash.as_ref().map(|(h, _)| hash_to_row(h)),
        previous_rotated_at: s.previous_hash.as_ref().map(|(_, at)| *at),
        ip_address: s.ip_address.clone(),
        user_agent: s.user_agent.clone(),
        created_at: s.created_at,
        last_refreshed_at: s.last_refreshed_at,
        expires_at: s.expires_at,
        absolute_expires_at: s.absolute_expires_at,
        revoked_at: s.revoked_at,
        revoke_reason: s.revoke_reason.map(|r| r.as_str().to_owned()),
        replay_access,
        replay_refresh,
        version,
        service_id: s.service_id.map(|v| v.as_uuid()),
    })
}

/// The session of a row, its replay tokens opened by `cipher`.
pub(crate) fn session_from_row(s: session::Model, cipher: &dyn SecretCipher) -> Result<Session, StoreError> {
    let previous_hash = match (s.previous_hash.as_deref(), s.previous_rotated_at) {
        (Some(h), Some(at)) => Some((hash_from_row(h, "session previous_hash")?, at)),
        (None, None) => None,
        _ => return Err(corrupt(format!("session {}: previous_hash without its time", s.id))),
    };
    let open = |text: &str, column| cipher.open(text, &session_scope(s.org_id, s.id, column));
    let replay = match (s.replay_access.as_deref(), s.replay_refresh.as_deref()) {
        (Some(a), Some(r)) => Some(RotationReplay {
            access_token: open(a, "replay_access")?,
            refresh_token: open(r, "replay_refresh")?,
        }),
        (None, None) => None,
        _ => return Err(corrupt(format!("session {}: half a replay window", s.id))),
    };
    Ok(Session {
        id: SessionId::from_uuid(s.id),
        user_id: UserId::from_uuid(s.user_id),
        kind: SessionKind::parse(&s.kind).ok_or_else(|| corrupt(format!("session {}: kind '{}'", s.id, s.kind)))?,
        org_id: s.org_id.map(OrgId::from_uuid),
        refresh_hash: hash_from_row(&s.refresh_hash, "session refresh_hash")?,
        previous_hash,
        ip_address: s.ip_address,
        user_agent: s.user_agent,
        created_at: s.created_at,
        last_refreshed_at: s.last_refreshed_at,
        expires_at: s.expires_at,
        absolute_expires_at: s.absolute_expires_at,
        revoked_at: s.revoked_at,
        revoke_reason: s
            .revoke_reason
            .as_deref()
            .map(|r| RevokeReason::parse(r).ok_or_else(|| corrupt(format!("session {}: revoke_reason '{r}'", s.id))))
            .transpose()?,
        replay,
        version: version_from_row(s.version, "sessions")?,
        service_id: s.service_id.map(org_domain::ServiceId::from_uuid),
    })
}

// ---------------------------------------------------------------------------------------------
// Audit entries and outbox events.

/// The `log_key` column of a log: `platform` or `org:<uuid>`.
pub(crate) fn log_key(log: AuditLog) -> String {
    match log {
        AuditLog::Platform => "platform".to_owned(),
        AuditLog::Org(id) => format!("org:{id}"),
    }
}

pub(crate) fn audit_to_row(d: &AuditDraft, seq: i64, prev: &Hash, hash: &Hash) -> audit::Model {
    audit::Model {
        id: d.id.as_uuid(),
        log_key: log_key(d.org_id.map_or(AuditLog::Platform, AuditLog::Org)),
        seq,
        org_id: d.org_id.map(|o| o.as_uuid()),
        actor_id: d.actor.id.clone(),
        actor_type: d.actor.kind.as_str().to_owned(),
        actor_email: d.actor.email.clone(),
        action: d.action.clone(),
        target_type: d.target_type.clone(),
        target_id: d.target_id.clone(),
        ip_address: d.ip_address.clone(),
        user_agent: d.user_agent.clone(),
        success: d.success,
        metadata: d.metadata.as_ref().map(Value::to_string),
        request_id: d.request_id.clone(),
        created_at: d.created_at,
        prev_hash: Some(chain::to_hex(prev)),
        hash: Some(chain::to_hex(hash)),
    }
}

pub(crate) fn audit_from_row(a: audit::Model) -> Result<AuditEntry, StoreError> {
    let entry = AuditDraft {
        id: EventId::from_uuid(a.id),
        org_id: a.org_id.map(OrgId::from_uuid),
        actor: AuditActor {
            id: a.actor_id,
            kind: ActorType::parse(&a.actor_type)
                .ok_or_else(|| corrupt(format!("audit {}: actor_type '{}'", a.id, a.actor_type)))?,
            email: a.actor_email,
        },
        action: a.action,
        target_type: a.target_type,
        target_id: a.target_id,
        ip_address: a.ip_address,
        user_agent: a.user_agent,
        success: a.success,
        metadata: a
            .metadata
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| corrupt(format!("audit {}: metadata: {e}", a.id)))?,
        request_id: a.request_id,
        created_at: a.created_at,
    };
    Ok(AuditEntry {
        seq: u64::try_from(a.seq).map_err(|_| corrupt(format!("audit {}: seq {}", a.id, a.seq)))?,
        entry,
        prev_hash: chain_hash_from_row(a.prev_hash.as_deref(), "prev_hash")?,
        hash: chain_hash_from_row(a.hash.as_deref(), "hash")?,
    })
}

pub(crate) fn event_to_row(e: &OutboxEvent, seq: i64) -> event::Model {
    event::Model {
        id: e.id.as_uuid(),
        org_id: e.org_id.as_uuid(),
        seq,
        event_type: e.event_type.clone(),
        occurred_at: e.occurred_at,
        actor_user_id: e.actor_user_id.map(|u| u.as_uuid()),
        actor_email: e.actor_email.clone(),
        target_type: e.target_type.clone(),
        target_id: e.target_id.clone(),
        data: e.data.to_string(),
    }
}

pub(crate) fn event_from_row(e: event::Model) -> Result<OutboxEvent, StoreError> {
    Ok(OutboxEvent {
        id: EventId::from_uuid(e.id),
        org_id: OrgId::from_uuid(e.org_id),
        event_type: e.event_type,
        occurred_at: e.occurred_at,
        actor_user_id: e.actor_user_id.map(UserId::from_uuid),
        actor_email: e.actor_email,
        target_type: e.target_type,
        target_id: e.target_id,
        data: serde_json::from_str(&e.data).map_err(|err| corrupt(format!("event {}: data: {err}", e.id)))?,
    })
}

/// Ids as UUIDs (for `IN (…)` filters).
pub(crate) fn uuids<T: Copy>(ids: &[T], f: impl Fn(T) -> Uuid) -> Vec<Uuid> {
    ids.iter().copied().map(f).collect()
}

// ---------------------------------------------------------------------------------------------
// Webhooks and deliveries.

/// The scope a webhook secret column is sealed for: the row's org, table, column and id.
fn webhook_scope(org_id: Uuid, id: Uuid, column: &'static str) -> SecretScope {
    SecretScope::new(OrgId::from_uuid(org_id), "webhooks", column, id)
}

/// The row of `w`, its secrets sealed by `cipher`.
pub(crate) fn webhook_to_row(
    w: &Webhook,
    version: i64,
    cipher: &dyn SecretCipher,
) -> Result<webhook::Model, StoreError> {
    let w = w.record();
    let (org_id, id) = (w.org_id.as_uuid(), w.id.as_uuid());
    Ok(webhook::Model {
        id,
        org_id,
        name: w.name.clone(),
        url: w.url.clone(),
        events: json!(w.events).to_string(),
        is_active: w.is_active,
        disabled_reason: w.disabled_reason.map(|r| r.as_str().to_owned()),
        secret: cipher.seal(&w.secret, &webhook_scope(org_id, id, "secret"))?,
        previous_secret: w
            .previous_secret
            .as_deref()
            .map(|p| cipher.seal(p, &webhook_scope(org_id, id, "previous_secret")))
            .transpose()?,
        previous_secret_expires_at: w.previous_secret_expires_at,
        failing_since: w.failing_since,
        created_at: w.created_at,
        updated_at: w.updated_at,
        deleted_at: w.deleted_at,
        version,
    })
}

/// The webhook of a row, its secrets opened by `cipher` (`Corrupt` when a blob does not open
/// for this row).
pub(crate) fn webhook_from_row(w: webhook::Model, cipher: &dyn SecretCipher) -> Result<Webhook, StoreError> {
    let secret = cipher.open(&w.secret, &webhook_scope(w.org_id, w.id, "secret"))?;
    let previous_secret = w
        .previous_secret
        .as_deref()
        .map(|p| cipher.open(p, &webhook_scope(w.org_id, w.id, "previous_secret")))
        .transpose()?;
    webhook_fields(w, secret, previous_secret)
}

fn webhook_fields(w: webhook::Model, secret: String, previous_secret: Option<String>) -> Result<Webhook, StoreError> {
    Ok(Webhook::restore(WebhookRecord {
        id: WebhookId::from_uuid(w.id),
        org_id: OrgId::from_uuid(w.org_id),
        name: w.name,
        url: w.url,
        events: serde_json::from_str(&w.events).map_err(|e| corrupt(format!("webhook {}: events: {e}", w.id)))?,
        is_active: w.is_active,
        disabled_reason: w
            .disabled_reason
            .as_deref()
            .map(|r| {
                DisabledReason::parse(r).ok_or_else(|| corrupt(format!("webhook {}: disabled_reason '{r}'", w.id)))
            })
            .transpose()?,
        secret,
        previous_secret,
        previous_secret_expires_at: w.previous_secret_expires_at,
        failing_since: w.failing_since,
        created_at: w.created_at,
        updated_at: w.updated_at,
        deleted_at: w.deleted_at,
        version: version_from_row(w.version, "webhooks")?,
    }))
}

/// A webhook row as a fan-out subscriber, its secrets left sealed and blanked: fan-out needs
/// only ids, events and state, and a commit must not depend on the key an endpoint's secret
/// was sealed with. Never returned from the store.
pub(crate) fn webhook_subscriber_from_row(w: webhook::Model) -> Result<Webhook, StoreError> {
    webhook_fields(w, String::new(), None)
}

pub(crate) fn delivery_to_row(d: &Delivery, version: i64) -> delivery::Model {
    delivery::Model {
        id: d.id.as_uuid(),
        webhook_id: d.webhook_id.as_uuid(),
        org_id: d.org_id.as_uuid(),
        event_id: d.event_id.as_uuid(),
        event_type: d.event_type.clone(),
        payload: d.payload.clone(),
        status: d.status.as_str().to_owned(),
        response_status_code: d.response_status_code.map(i32::from),
        response_body: d.response_body.clone(),
        attempt_count: i64::from(d.attempt_count),
        next_retry_at: d.next_retry_at,
        last_attempt_at: d.last_attempt_at,
        delivery_error: d.delivery_error.clone(),
        redelivery_of: d.redelivery_of.map(|r| r.as_uuid()),
        created_at: d.created_at,
        updated_at: d.updated_at,
        version,
    }
}

pub(crate) fn delivery_from_row(d: delivery::Model) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: DeliveryId::from_uuid(d.id),
        webhook_id: WebhookId::from_uuid(d.webhook_id),
        org_id: OrgId::from_uuid(d.org_id),
        event_id: EventId::from_uuid(d.event_id),
        event_type: d.event_type,
        payload: d.payload,
        status: DeliveryStatus::parse(&d.status)
            .ok_or_else(|| corrupt(format!("delivery {}: status '{}'", d.id, d.status)))?,
        response_status_code: d
            .response_status_code
            .map(|c| u16::try_from(c).map_err(|_| corrupt(format!("delivery {}: status code {c}", d.id))))
            .transpose()?,
        response_body: d.response_body,
        attempt_count: u32::try_from(d.attempt_count)
            .map_err(|_| corrupt(format!("delivery {}: attempt_count {}", d.id, d.attempt_count)))?,
        next_retry_at: d.next_retry_at,
        last_attempt_at: d.last_attempt_at,
        delivery_error: d.delivery_error,
        redelivery_of: d.redelivery_of.map(DeliveryId::from_uuid),
        created_at: d.created_at,
        updated_at: d.updated_at,
        version: version_from_row(d.version, "webhook_deliveries")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Directory sync: SCIM tokens, profiles, role-group data.

/// The row of a SCIM token, stored under `version`.
pub(crate) fn scim_token_to_row(t: &ScimToken, version: i64) -> scim_token::Model {
    let r = t.record();
    scim_token::Model {
        id: r.id.as_uuid(),
        org_id: r.org_id.as_uuid(),
        name: r.name.clone(),
        prefix: r.prefix.clone(),
        token_hash: hash_to_row(&r.token_hash),
        created_by: r.created_by.as_uuid(),
        capabilities: caps_to_row(r.capabilities),
        created_at: r.created_at,
        expires_at: r.expires_at,
        last_used_at: r.last_used_at,
        revoked_at: r.revoked_at,
        version,
    }
}

pub(crate) fn scim_token_from_row(t: scim_token::Model) -> Result<ScimToken, StoreError> {
    Ok(ScimToken::restore(ScimTokenRecord {
        id: ScimTokenId::from_uuid(t.id),
        org_id: OrgId::from_uuid(t.org_id),
        name: t.name,
        prefix: t.prefix,
        token_hash: hash_from_row(&t.token_hash, "scim token token_hash")?,
        created_by: UserId::from_uuid(t.created_by),
        capabilities: caps_from_row(&t.capabilities, "scim token capabilities")?,
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
        version: version_from_row(t.version, "scim_tokens")?,
    }))
}

/// The row of a directory profile, stored under `version`, with its `userName` key.
pub(crate) fn profile_to_row(p: &DirectoryProfile, version: i64) -> directory_profile::Model {
    let r = p.record();
    directory_profile::Model {
        membership_id: r.membership_id.as_uuid(),
        org_id: r.org_id.as_uuid(),
        user_id: r.user_id.as_uuid(),
        external_id: r.external_id.clone(),
        user_name: r.user_name.clone(),
        user_name_key: user_name_key(&r.user_name),
        formatted_name: r.formatted_name.clone(),
        given_name: r.given_name.clone(),
        family_name: r.family_name.clone(),
        display_name: r.display_name.clone(),
        email: r.email.as_str().to_owned(),
        created_at: r.created_at,
        updated_at: r.updated_at,
        version,
    }
}

/// A profile from its row: the attributes are parsed by the domain's rules (`userName`
/// required, texts bounded and trimmed, a valid e-mail); a row the domain would not have
/// written that way is corrupt.
pub(crate) fn profile_from_row(p: directory_profile::Model) -> Result<DirectoryProfile, StoreError> {
    let fields = DirectoryFields::parse(
        p.external_id.as_deref(),
        &p.user_name,
        p.formatted_name.as_deref(),
        p.given_name.as_deref(),
        p.family_name.as_deref(),
        p.display_name.as_deref(),
        &p.email,
    )
    .map_err(|e| corrupt(format!("directory profile {}: {e:?}", p.membership_id)))?;
    let stored = DirectoryFields {
        external_id: p.external_id,
        user_name: p.user_name,
        formatted_name: p.formatted_name,
        given_name: p.given_name,
        family_name: p.family_name,
        display_name: p.display_name,
        email: fields.email.clone(),
    };
    if fields != stored || fields.email.as_str() != p.email {
        return Err(corrupt(format!(
            "directory profile {}: attributes not in their parsed form",
            p.membership_id
        )));
    }
    Ok(DirectoryProfile::restore(DirectoryProfileRecord {
        membership_id: MembershipId::from_uuid(p.membership_id),
        org_id: OrgId::from_uuid(p.org_id),
        user_id: UserId::from_uuid(p.user_id),
        external_id: fields.external_id,
        user_name: fields.user_name,
        formatted_name: fields.formatted_name,
        given_name: fields.given_name,
        family_name: fields.family_name,
        display_name: fields.display_name,
        email: fields.email,
        created_at: p.created_at,
        updated_at: p.updated_at,
        version: version_from_row(p.version, "directory_profiles")?,
    }))
}

/// The row of a role group's directory data, stored under `version`.
pub(crate) fn group_to_row(g: &DirectoryGroup, version: i64) -> directory_group::Model {
    let r = g.record();
    directory_group::Model {
        role_id: r.role_id.as_uuid(),
        org_id: r.org_id.as_uuid(),
        external_id: r.external_id.clone(),
        version,
    }
}

/// A role group's data from its row, its `externalId` set through the domain's rule.
pub(crate) fn group_from_row(g: directory_group::Model) -> Result<DirectoryGroup, StoreError> {
    let mut group = DirectoryGroup::restore(DirectoryGroupRecord {
        role_id: RoleId::from_uuid(g.role_id),
        org_id: OrgId::from_uuid(g.org_id),
        external_id: None,
        version: version_from_row(g.version, "directory_groups")?,
    });
    group
        .set_external_id(g.external_id.as_deref())
        .map_err(|e| corrupt(format!("directory group {}: {e:?}", g.role_id)))?;
    if group.record().external_id != g.external_id {
        return Err(corrupt(format!(
            "directory group {}: externalId not in its parsed form",
            g.role_id
        )));
    }
    Ok(group)
}

// ---------------------------------------------------------------------------------------------
// Org mail: SMTP settings (password sealed) and the outbox (body sealed while it has one).

fn smtp_scope(org_id: Uuid) -> SecretScope {
    SecretScope::new(OrgId::from_uuid(org_id), "smtp_settings", "password", org_id)
}

/// The row of an org's SMTP settings, the password sealed by `cipher`.
pub(crate) fn smtp_to_row(
    s: &SmtpSettings,
    version: i64,
    cipher: &dyn SecretCipher,
) -> Result<smtp_settings::Model, StoreError> {
    let r = s.record();
    let c = &r.config;
    let org_id = r.org_id.as_uuid();
    Ok(smtp_settings::Model {
        org_id,
        host: c.host.clone(),
        port: i32::from(c.port),
        username: c.username.clone(),
        password: cipher.seal(&c.password, &smtp_scope(org_id))?,
        from_email: c.from_email.as_str().to_owned(),
        from_name: c.from_name.clone(),
        security: c.security.as_str().to_owned(),
        created_at: r.created_at,
        updated_at: r.updated_at,
        version,
    })
}

/// The settings of a row, through the §13 field rules (`Corrupt` when a value breaks one or the
/// password does not open for this org).
pub(crate) fn smtp_from_row(s: smtp_settings::Model, cipher: &dyn SecretCipher) -> Result<SmtpSettings, StoreError> {
    let password = cipher.open(&s.password, &smtp_scope(s.org_id))?;
    let draft = SmtpDraft {
        host: s.host,
        port: i64::from(s.port),
        username: s.username,
        password,
        from_email: s.from_email,
        from_name: s.from_name,
        security: Some(s.security),
    };
    let config = SmtpConfig::parse(&draft, true).map_err(|e| corrupt(format!("smtp_settings {}: {e:?}", s.org_id)))?;
    Ok(SmtpSettings::restore(SmtpSettingsRecord {
        org_id: OrgId::from_uuid(s.org_id),
        config,
        created_at: s.created_at,
        updated_at: s.updated_at,
        version: version_from_row(s.version, "smtp_settings")?,
    }))
}

// ---------------------------------------------------------------------------------------------
// Provider credentials (§12): the client secret sealed, bound to its org and row.

fn oauth_scope(org_id: Uuid, id: Uuid) -> SecretScope {
    SecretScope::new(OrgId::from_uuid(org_id), "oauth_credentials", "client_secret", id)
}

/// The row of one provider's OAuth credentials, the secret sealed by `cipher`.
pub(crate) fn oauth_to_row(
    c: &org_domain::credentials::OAuthCredentials,
    version: i64,
    cipher: &dyn SecretCipher,
) -> Result<oauth_credential::Model, StoreError> {
    let r = c.record();
    let (org_id, id) = (r.org_id.as_uuid(), r.id.as_uuid());
    Ok(oauth_credential::Model {
        id,
        org_id,
        provider: r.provider.as_str().to_owned(),
        client_id: r.client_id.clone(),
        client_secret: cipher.seal(&r.client_secret, &oauth_scope(org_id, id))?,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version,
    })
}

/// The credentials of a row, through the §12 field rules (`Corrupt` when a value breaks one or
/// the secret does not open for this org and row).
pub(crate) fn oauth_from_row(
    m: oauth_credential::Model,
    cipher: &dyn SecretCipher,
) -> Result<org_domain::credentials::OAuthCredentials, StoreError> {
    use org_domain::credentials::{
        OAuthCredentials, OAuthCredentialsDraft, OAuthCredentialsInput, OAuthCredentialsRecord,
    };
    let client_secret = cipher.open(&m.client_secret, &oauth_scope(m.org_id, m.id))?;
    let draft = OAuthCredentialsDraft {
        client_id: m.client_id,
        client_secret,
    };
    let input = OAuthCredentialsInput::parse(&m.provider, &draft)
        .map_err(|e| corrupt(format!("oauth_credentials {}: {e:?}", m.id)))?;
    Ok(OAuthCredentials::restore(OAuthCredentialsRecord {
        id: org_domain::CredentialId::from_uuid(m.id),
        org_id: OrgId::from_uuid(m.org_id),
        provider: input.provider,
        client_id: input.client_id,
        client_secret: input.client_secret,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: version_from_row(m.version, "oauth_credentials")?,
    }))
}

fn billing_scope(org_id: Uuid, column: &'static str, id: Uuid) -> SecretScope {
    SecretScope::new(OrgId::from_uuid(org_id), "billing_credentials", column, id)
}

/// The row of one provider's billing credentials, both secrets sealed by `cipher`.
pub(crate) fn billing_to_row(
    c: &org_domain::credentials::BillingCredentials,
    version: i64,
    cipher: &dyn SecretCipher,
) -> Result<billing_credential::Model, StoreError> {
    let r = c.record();
    let (org_id, id) = (r.org_id.as_uuid(), r.id.as_uuid());
    Ok(billing_credential::Model {
        id,
        org_id,
        provider: r.provider.as_str().to_owned(),
        mode: r.mode.as_str().to_owned(),
        api_key: cipher.seal(&r.api_key, &billing_scope(org_id, "api_key", id))?,
        webhook_secret: cipher.seal(&r.webhook_secret, &billing_scope(org_id, "webhook_secret", id))?,
        enabled: r.enabled,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version,
    })
}

/// The credentials of a row, through the §18 field rules (`Corrupt` when a value breaks one or
/// a secret does not open for this org, column and row).
pub(crate) fn billing_from_row(
    m: billing_credential::Model,
    cipher: &dyn SecretCipher,
) -> Result<org_domain::credentials::BillingCredentials, StoreError> {
    use org_domain::credentials::{
        BillingCredentials, BillingCredentialsDraft, BillingCredentialsInput, BillingCredentialsRecord,
    };
    let draft = BillingCredentialsDraft {
        api_key: cipher.open(&m.api_key, &billing_scope(m.org_id, "api_key", m.id))?,
        webhook_secret: cipher.open(&m.webhook_secret, &billing_scope(m.org_id, "webhook_secret", m.id))?,
        mode: m.mode,
    };
    let input = BillingCredentialsInput::parse(&m.provider, &draft)
        .map_err(|e| corrupt(format!("billing_credentials {}: {e:?}", m.id)))?;
    Ok(BillingCredentials::restore(BillingCredentialsRecord {
        id: org_domain::CredentialId::from_uuid(m.id),
        org_id: OrgId::from_uuid(m.org_id),
        provider: input.provider,
        mode: input.mode,
        api_key: input.api_key,
        webhook_secret: input.webhook_secret,
        enabled: m.enabled,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: version_from_row(m.version, "billing_credentials")?,
    }))
}

fn mail_scope(org_id: Uuid, id: Uuid) -> SecretScope {
    SecretScope::new(OrgId::from_uuid(org_id), "mail_outbox", "body", id)
}

/// The row of an outbox mail; a body (it carries an invitation link) is sealed.
pub(crate) fn mail_to_row(m: &Mail, version: i64, cipher: &dyn SecretCipher) -> Result<mail::Model, StoreError> {
    let (org_id, id) = (m.org_id.as_uuid(), m.id.as_uuid());
    let body = if m.body.is_empty() {
        String::new()
    } else {
        cipher.seal(&m.body, &mail_scope(org_id, id))?
    };
    Ok(mail::Model {
        id,
        org_id,
        invitation_id: m.invitation_id.map(|i| i.as_uuid()),
        token_hash: m.token_hash.as_ref().map(hash_to_row),
        recipient: m.recipient.as_str().to_owned(),
        subject: m.subject.clone(),
        body,
        status: m.status.as_str().to_owned(),
        attempt_count: i32::try_from(m.attempt_count).unwrap_or(i32::MAX),
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error.clone(),
        created_at: m.created_at,
        updated_at: m.updated_at,
        version,
    })
}

pub(crate) fn mail_from_row(m: mail::Model, cipher: &dyn SecretCipher) -> Result<Mail, StoreError> {
    let body = if m.body.is_empty() {
        String::new()
    } else {
        cipher.open(&m.body, &mail_scope(m.org_id, m.id))?
    };
    Ok(Mail {
        id: MailId::from_uuid(m.id),
        org_id: OrgId::from_uuid(m.org_id),
        invitation_id: m.invitation_id.map(InvitationId::from_uuid),
        token_hash: m
            .token_hash
            .as_deref()
            .map(|h| hash_from_row(h, "mail_outbox.token_hash"))
            .transpose()?,
        recipient: Email::parse(&m.recipient).map_err(|_| corrupt(format!("mail {}: recipient", m.id)))?,
        subject: m.subject,
        body,
        status: MailStatus::parse(&m.status).ok_or_else(|| corrupt(format!("mail {}: status '{}'", m.id, m.status)))?,
        attempt_count: u32::try_from(m.attempt_count)
            .map_err(|_| corrupt(format!("mail {}: attempt_count {}", m.id, m.attempt_count)))?,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: version_from_row(m.version, "mail_outbox")?,
    })
}

// Settings: branding and the custom domain (§14, §15).

/// The row of an org's branding, stored under `version`.
pub(crate) fn branding_to_row(b: &Branding, version: i64) -> org_branding::Model {
    let r = b.record();
    org_branding::Model {
        org_id: r.org_id.as_uuid(),
        logo_url: r.logo_url.clone(),
        primary_color: r.primary_color.clone(),
        updated_at: r.updated_at,
        version,
    }
}

pub(crate) fn branding_from_row(b: org_branding::Model) -> Result<Branding, StoreError> {
    let logo_url = b
        .logo_url
        .map(|u| org_domain::branding::logo_url(&u).map_err(|e| corrupt(format!("org_brandings.logo_url: {e}"))))
        .transpose()?;
    let primary_color = b
        .primary_color
        .map(|c| {
            org_domain::branding::primary_color(&c).map_err(|e| corrupt(format!("org_brandings.primary_color: {e}")))
        })
        .transpose()?;
    Ok(Branding::restore(BrandingRecord {
        org_id: OrgId::from_uuid(b.org_id),
        logo_url,
        primary_color,
        updated_at: b.updated_at,
        version: version_from_row(b.version, "org_brandings")?,
    }))
}

/// The row of an org's domain claim, stored under `version`.
pub(crate) fn custom_domain_to_row(d: &CustomDomain, version: i64) -> custom_domain::Model {
    let r = d.record();
    custom_domain::Model {
        org_id: r.org_id.as_uuid(),
        domain: r.domain.as_str().to_owned(),
        verification_token: r.verification_token.clone(),
        verified_at: r.verified_at,
        verification_method: r.verification_method.map(|m| m.as_str().to_owned()),
        created_at: r.created_at,
        updated_at: r.updated_at,
        version,
    }
}

pub(crate) fn custom_domain_from_row(d: custom_domain::Model) -> Result<CustomDomain, StoreError> {
    let domain = DomainName::parse(&d.domain).map_err(|e| corrupt(format!("custom_domains.domain: {e}")))?;
    if domain.as_str() != d.domain {
        return Err(corrupt("custom_domains.domain: not normalised"));
    }
    let verification_method = d
        .verification_method
        .as_deref()
        .map(|m| {
            VerificationMethod::parse(m).ok_or_else(|| corrupt(format!("custom_domains.verification_method: {m}")))
        })
        .transpose()?;
    Ok(CustomDomain::restore(CustomDomainRecord {
        org_id: OrgId::from_uuid(d.org_id),
        domain,
        verification_token: d.verification_token,
        verified_at: d.verified_at,
        verification_method,
        created_at: d.created_at,
        updated_at: d.updated_at,
        version: version_from_row(d.version, "custom_domains")?,
    }))
}
