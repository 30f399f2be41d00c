//! The event catalogues of §23: what each domain event writes to the audit log and which
//! webhook events it emits. Adding an action or a type is one entry here.

use org_domain::credentials::{BillingCredentialsEvent, OAuthCredentialsEvent};
use org_domain::custom_domain::DomainEventKind;
use org_domain::login_key::LoginKeyEvent;
use org_domain::mail::SmtpEvent;
use org_domain::risk::RiskSettingsEvent;
use org_domain::scim_token::ScimTokenEventKind;
use org_domain::service::ServiceEvent;
use org_domain::webhook::WebhookEvent;
use org_domain::{Change, ChangeValue, DomainEvent, JoinedVia, OrgId, SessionKind, UserId};
use serde_json::{Map, Value, json};

/// An org-log audit action as listed by `GET …/audit-log/event-types`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditActionInfo {
    pub value: &'static str,
    pub label: &'static str,
    pub category: &'static str,
}

macro_rules! actions {
    ($($cat:literal => [$(($v:literal, $l:literal)),* $(,)?]),* $(,)?) => {
        /// Every org-log audit action this service writes (§23.1, platform-only rows excluded).
        pub const AUDIT_ACTIONS: &[AuditActionInfo] = &[$($(AuditActionInfo { value: $v, label: $l, category: $cat },)*)*];
    };
}

actions! {
    "Organization" => [
        ("org.created", "Organization created"), ("org.updated", "Organization updated"),
        ("org.ownership_transferred", "Ownership transferred"), ("org.approved", "Organization approved"),
        ("org.rejected", "Organization rejected"), ("org.suspended", "Organization suspended"),
        ("org.activated", "Organization activated"), ("org.limits_updated", "Organization limits updated"),
    ],
    "Sessions" => [("session.created", "Session created"), ("session.revoked", "Session revoked")],
    "Security" => [("authorization.denied", "Authorization denied")],
    "Members" => [
        ("member.added", "Member added"), ("member.removed", "Member removed"), ("member.role_changed", "Member role changed"),
        ("member.deactivated", "Member deactivated"), ("member.reactivated", "Member reactivated"),
        ("member.updated", "Member updated"),
        ("member.service_access_updated", "Member service access updated"),
    ],
    "Invitations" => [
        ("invitation.created", "Invitation created"), ("invitation.resent", "Invitation resent"),
        ("invitation.cancelled", "Invitation cancelled"), ("invitation.accepted", "Invitation accepted"),
        ("invitation.declined", "Invitation declined"), ("invitation.expired", "Invitation expired"),
    ],
    "Roles" => [("role.created", "Role created"), ("role.updated", "Role updated"), ("role.deleted", "Role deleted")],
    "Webhooks" => [
        ("webhook.created", "Webhook created"), ("webhook.updated", "Webhook updated"), ("webhook.deleted", "Webhook deleted"),
        ("webhook.secret_rotated", "Webhook secret rotated"), ("webhook.test_sent", "Webhook test sent"),
        ("webhook.redelivered", "Webhook redelivered"), ("webhook.disabled", "Webhook disabled"),
    ],
    "SCIM" => [
        ("scim_token.created", "SCIM token created"), ("scim_token.revoked", "SCIM token revoked"),
        ("scim_token.deleted", "SCIM token deleted"),
    ],
    "Integrations" => [
        ("oauth_credentials.updated", "OAuth credentials updated"),
        ("oauth_credentials.deleted", "OAuth credentials deleted"),
        ("billing_credentials.updated", "Billing credentials updated"),
        ("billing_credentials.deleted", "Billing credentials deleted"),
        ("upstream_provider.created", "Upstream provider created"),
        ("upstream_provider.updated", "Upstream provider updated"),
        ("upstream_provider.deleted", "Upstream provider deleted"),
    ],
    "Settings" => [
        ("smtp.configured", "SMTP configured"), ("smtp.removed", "SMTP removed"),
        ("domain.set", "Custom domain set"), ("domain.verified", "Custom domain verified"),
        ("domain.deleted", "Custom domain deleted"), ("branding.updated", "Branding updated"),
    ],
    "Audit" => [("audit.pruned", "Audit log pruned")],
    "Risk" => [("risk_settings.updated", "Risk settings updated"), ("risk_settings.reset", "Risk settings reset")],
    "Services" => [
        ("service.created", "Service created"), ("service.updated", "Service updated"),
        ("service.deleted", "Service deleted"),
    ],
    "End users" => [("end_user.sessions_revoked", "End-user sessions revoked")],
}

/// A subscribable webhook event type (§23.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookTypeInfo {
    pub value: &'static str,
    pub category: &'static str,
}

macro_rules! webhook_types {
    ($($cat:literal => [$($v:literal),* $(,)?]),* $(,)?) => {
        /// The 66 subscribable webhook event types (§23.2).
        pub const WEBHOOK_EVENT_TYPES: &[WebhookTypeInfo] = &[$($(WebhookTypeInfo { value: $v, category: $cat },)*)*];
    };
}

webhook_types! {
    "User Management" => [
        "user.signup.success", "user.login.success", "user.login.failed", "user.logout", "user.mfa.enabled",
        "user.mfa.disabled", "user.mfa.verify.success", "user.mfa.verify.failed", "user.invited", "user.joined",
        "user.removed", "user.role_updated",
    ],
    "Service Management" => ["service.created", "service.updated", "service.deleted", "service.oauth_credentials.updated"],
    "Organization Management" => [
        "organization.created", "organization.updated", "organization.deleted", "organization.ownership_transferred",
        "organization.smtp.configured", "organization.smtp.removed",
    ],
    "Member Management" => ["member.added", "member.removed", "member.role_updated"],
    "Plan Management" => ["plan.created", "plan.updated", "plan.deleted"],
    "Subscription Management" => ["subscription.created", "subscription.updated", "subscription.canceled"],
    "Invitation Management" => [
        "invitation.created", "invitation.accepted", "invitation.declined", "invitation.expired", "invitation.revoked",
    ],
    "Role Management" => ["role.created", "role.updated", "role.deleted"],
    "Webhook Management" => ["webhook.created", "webhook.updated", "webhook.deleted"],
    "SCIM" => ["scim_token.created", "scim_token.revoked", "scim_token.deleted"],
    "Identity Providers" => ["upstream_provider.created", "upstream_provider.updated", "upstream_provider.deleted"],
    "Credentials" => ["oauth_credentials.updated", "billing_credentials.updated", "billing_credentials.deleted"],
    "Security" => [
        "security.mfa.enabled", "security.mfa.disabled", "security.password.changed", "risk_settings.updated",
        "risk.event.flagged",
    ],
    "API Keys" => ["api_key.created", "api_key.deleted"],
    "Custom Domains / Branding" => ["domain.set", "domain.verified", "domain.deleted", "branding.updated"],
    "Log Streaming" => ["siem_config.created", "siem_config.updated", "siem_config.deleted"],
    "End Users" => ["end_user.sessions_revoked"],
}

/// What one domain event writes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Described {
    /// Audit action, if the event is audited.
    pub action: Option<&'static str>,
    /// Whether the entry goes to the platform log instead of the org's.
    pub platform_log: bool,
    /// The org the event belongs to, when the event itself names it (else the use case's).
    pub org: Option<OrgId>,
    pub target: Option<(&'static str, String)>,
    /// The entry has no target at all (else it defaults to the org).
    pub untargeted: bool,
    pub metadata: Value,
    /// `false` only for `authorization.denied`.
    pub success: bool,
    /// Webhook events: type and `data`.
    pub webhooks: Vec<(&'static str, Value)>,
}

impl Described {
    pub(crate) fn none() -> Self {
        Self {
            action: None,
            platform_log: false,
            org: None,
            target: None,
            untargeted: false,
            metadata: Value::Null,
            success: true,
            webhooks: vec![],
        }
    }

    fn platform(action: &'static str, target: Option<(&'static str, String)>, metadata: Value) -> Self {
        Self {
            action: Some(action),
            platform_log: true,
            target,
            metadata,
            ..Self::none()
        }
    }
}

fn change_value(v: &ChangeValue) -> Value {
    match v {
        ChangeValue::Null => Value::Null,
        ChangeValue::Text(s) => Value::String(s.clone()),
        ChangeValue::Int(n) => json!(n),
        ChangeValue::Bool(b) => json!(b),
        ChangeValue::List(items) => json!(items),
    }
}

/// `changes` as §1.7 writes it: `{field: {old, new}}`.
pub(crate) fn changes_json(changes: &[Change]) -> Value {
    let map: Map<String, Value> = changes
        .iter()
        .map(|c| {
            (
                c.field.to_owned(),
                json!({"old": change_value(&c.old), "new": change_value(&c.new)}),
            )
        })
        .collect();
    Value::Object(map)
}

fn via(v: JoinedVia) -> &'static str {
    match v {
        JoinedVia::Invitation => "invitation",
        JoinedVia::AdminAccept => "admin_accept",
        JoinedVia::Scim => "scim",
    }
}

/// Maps a domain event to its audit entry and webhook events. `email` resolves user e-mails.
pub(crate) fn describe(event: &DomainEvent, email: &dyn Fn(UserId) -> Option<String>) -> Described {
    let d = |action, target: Option<(&'static str, String)>, metadata, webhooks| Described {
        action: Some(action),
        target,
        metadata,
        webhooks,
        ..Described::none()
    };
    let user = |id: &UserId| Some(("user", id.to_string()));
    match event {
        DomainEvent::OrgCreated {
            org_id,
            slug,
            name,
            status,
        } => {
            let m = json!({"slug": slug.as_str(), "name": name.as_str(), "status": status.as_str()});
            d(
                "org.created",
                Some(("organization", org_id.to_string())),
                m.clone(),
                vec![("organization.created", m)],
            )
        }
        DomainEvent::OrgUpdated { changes } => {
            let c = json!({"changes": changes_json(changes)});
            d("org.updated", None, c.clone(), vec![("organization.updated", c)])
        }
        DomainEvent::OrgLimitsUpdated { changes } => {
            let c = json!({"changes": changes_json(changes)});
            d("org.limits_updated", None, c.clone(), vec![("organization.updated", c)])
        }
        DomainEvent::OrgDeleted { org_id, slug, name } => Described {
            webhooks: vec![(
                "organization.deleted",
                json!({"slug": slug.as_str(), "name": name.as_str()}),
            )],
            ..Described::platform(
                "org.deleted",
                Some(("organization", org_id.to_string())),
                json!({"org_id": org_id.to_string(), "org_slug": slug.as_str(), "org_name": name.as_str()}),
            )
        },
        DomainEvent::OrgStatusChanged {
            old,
            new,
            tier_id,
            reason,
        } => {
            let action = match new {
                org_domain::OrgStatus::Active if *old == org_domain::OrgStatus::Pending => "org.approved",
                org_domain::OrgStatus::Active => "org.activated",
                org_domain::OrgStatus::Rejected => "org.rejected",
                org_domain::OrgStatus::Suspended | org_domain::OrgStatus::Pending => "org.suspended",
            };
            let mut m = json!({"old_status": old.as_str(), "new_status": new.as_str()});
            if let Some(t) = tier_id {
                m["tier_id"] = json!(t.as_str());
            }
            if *new != org_domain::OrgStatus::Active {
                if let Some(r) = reason {
                    m["reason"] = json!(r);
                } else if *new == org_domain::OrgStatus::Suspended {
                    m["reason"] = Value::Null;
                }
            }
            let hook = json!({"status": new.as_str(), "previous_status": old.as_str()});
            d(action, None, m, vec![("organization.updated", hook)])
        }
        DomainEvent::OwnershipTransferred {
            previous_owner,
            new_owner,
        } => {
            let m = json!({
                "previous_owner_id": previous_owner.to_string(), "previous_owner_email": email(*previous_owner),
                "new_owner_id": new_owner.to_string(), "new_owner_email": email(*new_owner),
            });
            d(
                "org.ownership_transferred",
                user(new_owner),
                m.clone(),
                vec![("organization.ownership_transferred", m)],
            )
        }
        DomainEvent::MemberAdded { user_id, role, via: v } => {
            let e = email(*user_id);
            let m = json!({"email": e, "role": role.as_str(), "via": via(*v)});
            let hook = json!({"user_id": user_id.to_string(), "email": e, "role": role.as_str(), "via": via(*v)});
            let joined = json!({"user_id": user_id.to_string(), "email": e, "role": role.as_str()});
            d(
                "member.added",
                user(user_id),
                m,
                vec![("member.added", hook), ("user.joined", joined)],
            )
        }
        DomainEvent::MemberRemoved {
            user_id,
            role,
            removed_by_role,
        } => {
            let e = email(*user_id);
            let m = json!({"removed_user_email": e, "removed_role": role.as_str(), "removed_by_role": removed_by_role.as_str()});
            let hook = json!({"user_id": user_id.to_string(), "email": e, "role": role.as_str()});
            d(
                "member.removed",
                user(user_id),
                m,
                vec![("member.removed", hook.clone()), ("user.removed", hook)],
            )
        }
        DomainEvent::MemberRoleChanged {
            user_id,
            old_role,
            new_role,
        } => {
            let m = json!({"target_user_email": email(*user_id), "old_role": old_role.as_str(), "new_role": new_role.as_str()});
            let hook =
                json!({"user_id": user_id.to_string(), "old_role": old_role.as_str(), "new_role": new_role.as_str()});
            d(
                "member.role_changed",
                user(user_id),
                m,
                vec![("member.role_updated", hook.clone()), ("user.role_updated", hook)],
            )
        }
        DomainEvent::MemberDeactivated { user_id } => d(
            "member.deactivated",
            user(user_id),
            json!({"email": email(*user_id)}),
            vec![],
        ),
        DomainEvent::MemberReactivated { user_id } => d(
            "member.reactivated",
            user(user_id),
            json!({"email": email(*user_id)}),
            vec![],
        ),
        DomainEvent::MemberUpdated { user_id, changes } => d(
            "member.updated",
            user(user_id),
            json!({"changes": changes_json(changes)}),
            vec![],
        ),
        DomainEvent::ScimToken {
            kind,
            token_id,
            name,
            prefix,
            expires_at,
        } => {
            let (action, hook_type) = match kind {
                ScimTokenEventKind::Created => ("scim_token.created", "scim_token.created"),
                ScimTokenEventKind::Revoked => ("scim_token.revoked", "scim_token.revoked"),
                ScimTokenEventKind::Deleted => ("scim_token.deleted", "scim_token.deleted"),
            };
            let m = json!({"name": name, "prefix": prefix, "expires_at": expires_at.map(crate::record::ts)});
            let hook = json!({"token_id": token_id.to_string(), "name": name, "prefix": prefix});
            d(
                action,
                Some(("scim_token", token_id.to_string())),
                m,
                vec![(hook_type, hook)],
            )
        }
        DomainEvent::InvitationCreated {
            invitation_id,
            email: e,
            role,
            expires_at,
        } => {
            let id = invitation_id.to_string();
            let m = json!({"email": e.as_str(), "role": role.as_str()});
            let created = json!({"invitation_id": id, "email": e.as_str(), "role": role.as_str(), "expires_at": crate::record::ts(*expires_at)});
            let invited = json!({"invitation_id": id, "email": e.as_str(), "role": role.as_str()});
            d(
                "invitation.created",
                Some(("invitation", id.clone())),
                m,
                vec![("invitation.created", created), ("user.invited", invited)],
            )
        }
        DomainEvent::InvitationResent {
            invitation_id,
            email: e,
        } => d(
            "invitation.resent",
            Some(("invitation", invitation_id.to_string())),
            json!({"email": e.as_str()}),
            vec![],
        ),
        DomainEvent::InvitationCancelled {
            invitation_id,
            email: e,
        } => {
            let id = invitation_id.to_string();
            let hook = json!({"invitation_id": id, "email": e.as_str()});
            d(
                "invitation.cancelled",
                Some(("invitation", id.clone())),
                json!({"email": e.as_str()}),
                vec![("invitation.revoked", hook)],
            )
        }
        DomainEvent::InvitationAccepted {
            invitation_id,
            email: e,
            role,
            user_id,
            via: v,
        } => {
            let id = invitation_id.to_string();
            let m = json!({"email": e.as_str(), "role": role.as_str(), "via": via(*v)});
            let hook = json!({"invitation_id": id, "email": e.as_str(), "role": role.as_str(), "user_id": user_id.to_string()});
            d(
                "invitation.accepted",
                Some(("invitation", id.clone())),
                m,
                vec![("invitation.accepted", hook)],
            )
        }
        DomainEvent::InvitationDeclined {
            invitation_id,
            email: e,
        } => {
            let id = invitation_id.to_string();
            let hook = json!({"invitation_id": id, "email": e.as_str()});
            d(
                "invitation.declined",
                Some(("invitation", id.clone())),
                json!({"email": e.as_str()}),
                vec![("invitation.declined", hook)],
            )
        }
        DomainEvent::InvitationExpired {
            invitation_id,
            email: e,
        } => {
            let id = invitation_id.to_string();
            let hook = json!({"invitation_id": id, "email": e.as_str()});
            d(
                "invitation.expired",
                Some(("invitation", id.clone())),
                json!({"email": e.as_str()}),
                vec![("invitation.expired", hook)],
            )
        }
        DomainEvent::RoleCreated {
            role_id,
            slug,
            name,
            permissions,
        } => {
            let perms: Vec<&str> = permissions.iter().map(|c| c.as_str()).collect();
            let m = json!({"slug": slug.as_str(), "permissions": perms});
            let hook =
                json!({"role_id": role_id.to_string(), "slug": slug.as_str(), "name": name, "permissions": perms});
            d(
                "role.created",
                Some(("role", role_id.to_string())),
                m,
                vec![("role.created", hook)],
            )
        }
        DomainEvent::RoleUpdated { role_id, changes, .. } => {
            let c = changes_json(changes);
            let hook = json!({"role_id": role_id.to_string(), "changes": c});
            d(
                "role.updated",
                Some(("role", role_id.to_string())),
                json!({"changes": c}),
                vec![("role.updated", hook)],
            )
        }
        DomainEvent::RoleDeleted { role_id, slug } => {
            let hook = json!({"role_id": role_id.to_string(), "slug": slug.as_str()});
            d(
                "role.deleted",
                Some(("role", role_id.to_string())),
                json!({"slug": slug.as_str()}),
                vec![("role.deleted", hook)],
            )
        }
        DomainEvent::SessionsRevoked { .. } => Described::none(),
        DomainEvent::SessionCreated { session_id } => {
            let id = session_id.to_string();
            d(
                "session.created",
                Some(("session", id.clone())),
                json!({"session_id": id}),
                vec![],
            )
        }
        DomainEvent::SessionRevoked {
            session_id,
            kind,
            org_id,
            reason,
        } => {
            let id = session_id.to_string();
            let logout = *reason == org_domain::RevokeReason::Logout;
            // Logging out of a service session is not audited; everything else is, in the
            // session's org log, or the platform log for platform sessions (§2.5, §2.6).
            let audited = !(logout && *kind == SessionKind::Service);
            let webhooks = if logout && *kind != SessionKind::Platform {
                vec![("user.logout", json!({"session_id": id}))]
            } else {
                vec![]
            };
            Described {
                action: audited.then_some("session.revoked"),
                platform_log: org_id.is_none(),
                org: *org_id,
                target: Some(("session", id.clone())),
                metadata: json!({"session_id": id, "reason": reason.as_str()}),
                webhooks,
                ..Described::none()
            }
        }
        DomainEvent::TokenIssued { session_id, org_slug } => {
            let id = session_id.to_string();
            Described::platform(
                "token.issued",
                Some(("session", id.clone())),
                json!({"session_id": id, "org_slug": org_slug.as_ref().map(|s| s.as_str())}),
            )
        }
        DomainEvent::AuthorizationDenied { method, route, missing } => Described {
            action: Some("authorization.denied"),
            metadata: json!({"method": method, "route": route, "missing": missing}),
            untargeted: true,
            success: false,
            ..Described::none()
        },
        DomainEvent::AuditPruned {
            through_seq,
            head_hash,
            count,
        } => Described {
            action: Some("audit.pruned"),
            metadata: json!({"pruned_through_seq": through_seq, "pruned_head_hash": head_hash, "count": count}),
            untargeted: true,
            ..Described::none()
        },
        DomainEvent::UserCreated { user_id, email, via } => Described::platform(
            "user.created",
            user(user_id),
            json!({"email": email.as_str(), "via": via.as_str()}),
        ),
        DomainEvent::UserDisabled { user_id, email } => {
            Described::platform("user.disabled", user(user_id), json!({"email": email.as_str()}))
        }
        DomainEvent::UserEnabled { user_id, email } => {
            Described::platform("user.enabled", user(user_id), json!({"email": email.as_str()}))
        }
        DomainEvent::PlatformOwnerGranted { user_id, email } => Described::platform(
            "platform_owner.granted",
            user(user_id),
            json!({"email": email.as_str()}),
        ),
        DomainEvent::PlatformOwnerRevoked { user_id, email } => Described::platform(
            "platform_owner.revoked",
            user(user_id),
            json!({"email": email.as_str()}),
        ),
        DomainEvent::CustomDomain { org_id, kind, domain } => {
            let (action, m) = match kind {
                DomainEventKind::Set => ("domain.set", json!({"domain": domain})),
                DomainEventKind::Verified(method) => {
                    ("domain.verified", json!({"domain": domain, "method": method.as_str()}))
                }
                DomainEventKind::Deleted => ("domain.deleted", json!({"domain": domain})),
            };
            Described {
                org: Some(*org_id),
                ..d(action, Some(("domain", domain.clone())), m.clone(), vec![(action, m)])
            }
        }
        DomainEvent::BrandingUpdated {
            org_id,
            changes,
            logo_url,
            primary_color,
        } => d(
            "branding.updated",
            Some(("branding", org_id.to_string())),
            json!({"changes": changes_json(changes)}),
            vec![(
                "branding.updated",
                json!({"logo_url": logo_url, "primary_color": primary_color}),
            )],
        ),
        DomainEvent::Webhook(w) => describe_webhook(w),
        DomainEvent::Smtp(e) => describe_smtp(e),
        DomainEvent::OAuthCredentials(e) => describe_oauth_credentials(e),
        DomainEvent::BillingCredentials(e) => describe_billing_credentials(e),
        DomainEvent::Service(e) => describe_service(e),
        DomainEvent::LoginKey(e) => describe_login_key(e),
        DomainEvent::RiskSettings(e) => describe_risk_settings(e),
        DomainEvent::Upstream(e) => describe_upstream(e),
        DomainEvent::Siem(e) => crate::siem::describe(e),
        DomainEvent::Login(e) => describe_login(e),
    }
}

/// §11: `changes` records plain fields as `{old, new}` (`metadata` as the JSON object), the
/// client secret only as `"[REDACTED]"` (or `null` when cleared), and the metadata document,
/// the certificate list and any value over 1 KiB serialised as `{"changed": true}` (§1.7).
/// Logins are kept in the login record, not the audit log (§19.5): webhooks only, except the
/// end-user session revocation (§19.4).
fn describe_login(event: &org_domain::login::LoginEvent) -> Described {
    use org_domain::login::LoginEvent;
    let id = |v: Option<uuid::Uuid>| v.map(|u| u.to_string());
    let hook = |ty: &'static str, target: Option<(&'static str, String)>, data: Value| Described {
        target,
        webhooks: vec![(ty, data)],
        ..Described::none()
    };
    match event {
        LoginEvent::Succeeded {
            user_id,
            service_id,
            provider,
            session_id,
        } => hook(
            "user.login.success",
            Some(("user", user_id.to_string())),
            json!({"user_id": user_id.to_string(), "service_id": id(service_id.map(|s| s.as_uuid())),
                   "provider": provider, "session_id": session_id.map(|s| s.to_string())}),
        ),
        LoginEvent::Failed {
            user_id,
            email,
            service_id,
            provider,
            failure_reason,
            risk_action,
        } => hook(
            "user.login.failed",
            user_id.map(|u| ("user", u.to_string())),
            json!({"user_id": user_id.map(|u| u.to_string()), "email": email.as_str(),
                   "service_id": id(service_id.map(|s| s.as_uuid())), "provider": provider,
                   "failure_reason": failure_reason, "risk_action": risk_action.map(|a| a.as_str())}),
        ),
        LoginEvent::SignedUp {
            user_id,
            email,
            service_id,
        } => hook(
            "user.signup.success",
            Some(("user", user_id.to_string())),
            json!({"user_id": user_id.to_string(), "email": email.as_str(),
                   "service_id": id(service_id.map(|s| s.as_uuid()))}),
        ),
        LoginEvent::Flagged {
            login_event_id,
            user_id,
            user_email,
            service_id,
            risk_score,
            risk_factors,
            risk_action,
            ip_address,
        } => hook(
            "risk.event.flagged",
            user_id.map(|u| ("user", u.to_string())),
            json!({"login_event_id": login_event_id.to_string(), "user_id": user_id.map(|u| u.to_string()),
                   "user_email": user_email, "service_id": id(service_id.map(|s| s.as_uuid())),
                   "risk_score": risk_score,
                   "risk_factors": risk_factors.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
                   "risk_action": risk_action.as_str(), "ip_address": ip_address}),
        ),
        LoginEvent::SessionsRevoked { user_id, revoked_count } => {
            let m = json!({"user_id": user_id.to_string(), "revoked_count": revoked_count});
            Described {
                action: Some("end_user.sessions_revoked"),
                target: Some(("user", user_id.to_string())),
                metadata: m.clone(),
                webhooks: vec![("end_user.sessions_revoked", m)],
                ..Described::none()
            }
        }
    }
}

fn describe_upstream(event: &org_domain::upstream::UpstreamEvent) -> Described {
    use org_domain::upstream::UpstreamEvent;
    let d = |action, id: String, metadata, webhook| Described {
        action: Some(action),
        target: Some(("upstream_provider", id)),
        metadata,
        webhooks: vec![(action, webhook)],
        ..Described::none()
    };
    match event {
        UpstreamEvent::Created {
            id,
            connection_id,
            name,
            provider_type,
            ..
        } => d(
            "upstream_provider.created",
            id.to_string(),
            json!({"connection_id": connection_id, "name": name, "provider_type": provider_type.as_str()}),
            json!({"provider_id": id.to_string(), "connection_id": connection_id, "name": name, "provider_type": provider_type.as_str()}),
        ),
        UpstreamEvent::Updated {
            id,
            changes,
            secret,
            flagged,
            ..
        } => {
            let mut map = Map::new();
            for c in changes {
                let value = |v: &ChangeValue| match (c.field, v) {
                    ("metadata", ChangeValue::Text(t)) => serde_json::from_str(t).unwrap_or(Value::Null),
                    _ => change_value(v),
                };
                let entry = json!({"old": value(&c.old), "new": value(&c.new)});
                let large = entry["old"].to_string().len() > 1024 || entry["new"].to_string().len() > 1024;
                map.insert(c.field.to_owned(), if large { json!({"changed": true}) } else { entry });
            }
            if let Some(set) = secret {
                map.insert(
                    "client_secret".to_owned(),
                    if *set { json!("[REDACTED]") } else { Value::Null },
                );
            }
            for field in flagged {
                map.insert((*field).to_owned(), json!({"changed": true}));
            }
            let changes = Value::Object(map);
            d(
                "upstream_provider.updated",
                id.to_string(),
                json!({"changes": changes}),
                json!({"provider_id": id.to_string(), "changes": changes}),
            )
        }
        UpstreamEvent::Deleted {
            id,
            connection_id,
            name,
            provider_type,
            ..
        } => d(
            "upstream_provider.deleted",
            id.to_string(),
            json!({"connection_id": connection_id, "name": name, "provider_type": provider_type.as_str()}),
            json!({"provider_id": id.to_string(), "connection_id": connection_id}),
        ),
    }
}

/// §16.2: `risk_settings.updated` records `{changes}`, `risk_settings.reset` no metadata
/// (§23.1); both emit webhook `risk_settings.updated`, the reset with `reset: true`.
fn describe_risk_settings(event: &RiskSettingsEvent) -> Described {
    let (action, org_id, data) = match event {
        RiskSettingsEvent::Updated { org_id, changes } => (
            "risk_settings.updated",
            org_id,
            json!({"changes": changes_json(changes)}),
        ),
        RiskSettingsEvent::Reset { org_id, changes } => (
            "risk_settings.reset",
            org_id,
            json!({"changes": changes_json(changes), "reset": true}),
        ),
    };
    let metadata = match event {
        RiskSettingsEvent::Updated { .. } => data.clone(),
        RiskSettingsEvent::Reset { .. } => Value::Null,
    };
    Described {
        action: Some(action),
        org: Some(*org_id),
        target: Some(("risk_settings", org_id.to_string())),
        metadata,
        webhooks: vec![("risk_settings.updated", data)],
        ..Described::none()
    }
}

/// §19.2 and §5.5: services are audited with their slug and name and emit `service.*`; a
/// member's access change is audited only (no webhook type, §23.2).
fn describe_service(event: &ServiceEvent) -> Described {
    let d = |action, target: (&'static str, String), metadata, webhooks| Described {
        action: Some(action),
        target: Some(target),
        metadata,
        webhooks,
        ..Described::none()
    };
    match event {
        ServiceEvent::Created { service_id, slug, name } => d(
            "service.created",
            ("service", service_id.to_string()),
            json!({"slug": slug.as_str(), "name": name}),
            vec![(
                "service.created",
                json!({"service_id": service_id.to_string(), "slug": slug.as_str(), "name": name}),
            )],
        ),
        ServiceEvent::Updated {
            service_id, changes, ..
        } => {
            let c = changes_json(changes);
            d(
                "service.updated",
                ("service", service_id.to_string()),
                json!({"changes": c}),
                vec![("service.updated", json!({"changes": c}))],
            )
        }
        ServiceEvent::Deleted { service_id, slug } => d(
            "service.deleted",
            ("service", service_id.to_string()),
            json!({"slug": slug.as_str()}),
            vec![(
                "service.deleted",
                json!({"service_id": service_id.to_string(), "slug": slug.as_str()}),
            )],
        ),
        ServiceEvent::AccessUpdated { user_id, grants } => {
            let grants: Vec<Value> = grants
                .iter()
                .map(|(slug, access)| json!({"service_slug": slug.as_str(), "access": access.map(|a| a.as_str())}))
                .collect();
            d(
                "member.service_access_updated",
                ("user", user_id.to_string()),
                json!({"target_user_id": user_id.to_string(), "grants": grants}),
                vec![],
            )
        }
    }
}

/// §19.5, §2.9: login keys are platform-log facts named by their key.
fn describe_login_key(event: &LoginKeyEvent) -> Described {
    let (action, key_id, name) = match event {
        LoginKeyEvent::Issued { key_id, name } => ("login_key.issued", key_id, name),
        LoginKeyEvent::Revoked { key_id, name } => ("login_key.revoked", key_id, name),
    };
    Described::platform(action, Some(("login_key", key_id.to_string())), json!({"name": name}))
}

/// §18: the audit entry names the provider and the mode; `changes` records the mode's old and
/// new values and each secret set or changed only as `"[REDACTED]"` (§1.7).
fn describe_billing_credentials(event: &BillingCredentialsEvent) -> Described {
    let d = |action, provider: &'static str, metadata, webhook| Described {
        action: Some(action),
        target: Some(("billing_credentials", provider.to_owned())),
        metadata,
        webhooks: vec![(action, webhook)],
        ..Described::none()
    };
    match event {
        BillingCredentialsEvent::Updated {
            provider,
            mode,
            changes,
            secrets_changed,
            ..
        } => {
            let mut c = changes_json(changes);
            if let Value::Object(map) = &mut c {
                for field in secrets_changed {
                    map.insert((*field).to_owned(), json!("[REDACTED]"));
                }
            }
            let (p, m) = (provider.as_str(), mode.as_str());
            d(
                "billing_credentials.updated",
                p,
                json!({"provider": p, "mode": m, "changes": c}),
                json!({"provider": p, "mode": m}),
            )
        }
        BillingCredentialsEvent::Deleted { provider, .. } => {
            let p = provider.as_str();
            d(
                "billing_credentials.deleted",
                p,
                json!({"provider": p}),
                json!({"provider": p}),
            )
        }
    }
}

/// §12: the audit entry names the provider and the client id; `changes` records the client
/// id's old and new values and the secret only as `"[REDACTED]"` (§1.7). The webhook says
/// whether the provider is configured.
fn describe_oauth_credentials(event: &OAuthCredentialsEvent) -> Described {
    let d = |action, provider: &'static str, metadata, configured: bool| Described {
        action: Some(action),
        target: Some(("oauth_credentials", provider.to_owned())),
        metadata,
        webhooks: vec![(
            "oauth_credentials.updated",
            json!({"provider": provider, "configured": configured}),
        )],
        ..Described::none()
    };
    match event {
        OAuthCredentialsEvent::Updated {
            provider,
            client_id,
            changes,
            secret_changed,
            ..
        } => {
            let mut c = changes_json(changes);
            if *secret_changed && let Value::Object(map) = &mut c {
                map.insert("client_secret".to_owned(), json!("[REDACTED]"));
            }
            d(
                "oauth_credentials.updated",
                provider.as_str(),
                json!({"provider": provider.as_str(), "client_id": client_id, "changes": c}),
                true,
            )
        }
        OAuthCredentialsEvent::Deleted { provider, .. } => d(
            "oauth_credentials.deleted",
            provider.as_str(),
            json!({"provider": provider.as_str()}),
            false,
        ),
    }
}

fn describe_smtp(event: &SmtpEvent) -> Described {
    let d = |action, org: &OrgId, metadata, webhooks| Described {
        action: Some(action),
        target: Some(("smtp", org.to_string())),
        metadata,
        webhooks,
        ..Described::none()
    };
    match event {
        SmtpEvent::Configured {
            org_id,
            host,
            port,
            username,
            from_email,
        } => d(
            "smtp.configured",
            org_id,
            json!({"host": host, "port": port, "username": username, "from_email": from_email.as_str()}),
            vec![(
                "organization.smtp.configured",
                json!({"host": host, "port": port, "from_email": from_email.as_str()}),
            )],
        ),
        SmtpEvent::Removed { org_id } => d(
            "smtp.removed",
            org_id,
            json!({}),
            vec![("organization.smtp.removed", json!({}))],
        ),
    }
}

fn describe_webhook(event: &WebhookEvent) -> Described {
    let hook = |id: &org_domain::WebhookId| Some(("webhook", id.to_string()));
    let d = |action, id: &org_domain::WebhookId, metadata, webhooks| Described {
        action: Some(action),
        target: hook(id),
        metadata,
        webhooks,
        ..Described::none()
    };
    match event {
        WebhookEvent::Created {
            webhook_id,
            name,
            url,
            events,
        } => {
            let m = json!({"name": name, "url": url, "events": events});
            let mut data = m.clone();
            data["webhook_id"] = json!(webhook_id.to_string());
            d("webhook.created", webhook_id, m, vec![("webhook.created", data)])
        }
        WebhookEvent::Updated { webhook_id, changes } => {
            let c = changes_json(changes);
            let data = json!({"webhook_id": webhook_id.to_string(), "changes": c});
            d(
                "webhook.updated",
                webhook_id,
                json!({"changes": c}),
                vec![("webhook.updated", data)],
            )
        }
        WebhookEvent::Deleted { webhook_id, name } => {
            let data = json!({"webhook_id": webhook_id.to_string(), "name": name});
            d(
                "webhook.deleted",
                webhook_id,
                json!({"name": name}),
                vec![("webhook.deleted", data)],
            )
        }
        WebhookEvent::SecretRotated {
            webhook_id,
            previous_secret_expires_at,
        } => {
            let data = json!({"webhook_id": webhook_id.to_string(), "changes": {"secret": "[REDACTED]"}});
            d(
                "webhook.secret_rotated",
                webhook_id,
                json!({"previous_secret_expires_at": crate::record::ts(*previous_secret_expires_at)}),
                vec![("webhook.updated", data)],
            )
        }
        WebhookEvent::TestSent {
            webhook_id,
            delivery_id,
        } => d(
            "webhook.test_sent",
            webhook_id,
            json!({"delivery_id": delivery_id.to_string()}),
            vec![],
        ),
        WebhookEvent::Redelivered {
            webhook_id,
            delivery_id,
            new_delivery_id,
        } => d(
            "webhook.redelivered",
            webhook_id,
            json!({"delivery_id": delivery_id.to_string(), "new_delivery_id": new_delivery_id.to_string()}),
            vec![],
        ),
        WebhookEvent::Disabled { webhook_id, reason } => d(
            "webhook.disabled",
            webhook_id,
            json!({"webhook_id": webhook_id.to_string(), "reason": reason.as_str()}),
            vec![],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_66_subscribable_webhook_types_without_duplicates() {
        let mut values: Vec<&str> = WEBHOOK_EVENT_TYPES.iter().map(|t| t.value).collect();
        assert_eq!(values.len(), 66);
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), 66);
    }

    #[test]
    fn every_emitted_webhook_type_is_subscribable() {
        let known = |t: &str| WEBHOOK_EVENT_TYPES.iter().any(|w| w.value == t);
        for t in [
            "organization.created",
            "member.added",
            "user.joined",
            "invitation.revoked",
            "role.deleted",
            "user.invited",
        ] {
            assert!(known(t), "{t}");
        }
    }
}
