//! The §23 catalogue, as written: every mutating use case, with the audit actions it appends
//! to its org's log and to the platform log and the webhook types it emits, checked as the
//! difference before/after each step. Together the steps write every org-log action that
//! `GET …/audit-log/event-types` lists.

use std::sync::Arc;

use org_app::platform::{Lifecycle, PlatformPatch};
use org_app::roles::{CreateRole, UpdateRole};
use org_app::scim::PatchRequest;
use org_app::webhooks::WebhookInput;
use org_app::{AppConfig, AppError, Caller, OrgApproval, TransferTarget};
use org_domain::mail::SmtpDraft;
use org_domain::scim_token::ScimTokenDraft;
use org_domain::{Capability, OrgId, OrgName, Slug, UpdateOrg};
use org_ports::AuditLog;
use serde_json::json;

use crate::support::{World, entries_after, meta, missing, user};
use crate::webhooks::{Receiver, status};

/// What one step writes: to the log and outbox of `org`, and to the platform log.
struct Expect {
    org: &'static str,
    org_log: &'static [&'static str],
    platform_log: &'static [&'static str],
    types: &'static [&'static str],
}

const fn acme(org_log: &'static [&'static str], types: &'static [&'static str]) -> Expect {
    Expect {
        org: "acme",
        org_log,
        platform_log: &[],
        types,
    }
}

const fn platform(platform_log: &'static [&'static str]) -> Expect {
    Expect {
        org: "acme",
        org_log: &[],
        platform_log,
        types: &[],
    }
}

const fn org(org: &'static str, org_log: &'static [&'static str], types: &'static [&'static str]) -> Expect {
    Expect {
        org,
        org_log,
        platform_log: &[],
        types,
    }
}

/// The steps, in order (later steps use what earlier ones created).
fn steps() -> Vec<(&'static str, Expect)> {
    vec![
        ("org.update", acme(&["org.updated"], &["organization.updated"])),
        ("role.create", acme(&["role.created"], &["role.created"])),
        ("role.update", acme(&["role.updated"], &["role.updated"])),
        (
            "member.role",
            acme(&["member.role_changed"], &["member.role_updated", "user.role_updated"]),
        ),
        (
            "invitation.create",
            acme(&["invitation.created"], &["invitation.created", "user.invited"]),
        ),
        ("invitation.resend", acme(&["invitation.resent"], &[])),
        (
            "invitation.accept",
            acme(
                &["invitation.accepted", "member.added"],
                &["invitation.accepted", "member.added", "user.joined"],
            ),
        ),
        (
            "invitation.create (to decline)",
            acme(&["invitation.created"], &["invitation.created", "user.invited"]),
        ),
        (
            "invitation.decline",
            acme(&["invitation.declined"], &["invitation.declined"]),
        ),
        (
            "invitation.create (to cancel)",
            acme(&["invitation.created"], &["invitation.created", "user.invited"]),
        ),
        (
            "invitation.cancel",
            acme(&["invitation.cancelled"], &["invitation.revoked"]),
        ),
        (
            "invitation.create (to expire)",
            acme(&["invitation.created"], &["invitation.created", "user.invited"]),
        ),
        (
            "invitation.expire",
            acme(&["invitation.expired"], &["invitation.expired"]),
        ),
        (
            "invitation.create (to admin-accept)",
            acme(&["invitation.created"], &["invitation.created", "user.invited"]),
        ),
        (
            "invitation.admin_accept",
            Expect {
                org: "acme",
                org_log: &["invitation.accepted", "member.added"],
                platform_log: &["user.created"],
                types: &["invitation.accepted", "member.added", "user.joined"],
            },
        ),
        (
            "member.remove",
            acme(&["member.removed"], &["member.removed", "user.removed"]),
        ),
        ("branding.update", acme(&["branding.updated"], &["branding.updated"])),
        (
            "risk.update",
            acme(&["risk_settings.updated"], &["risk_settings.updated"]),
        ),
        ("risk.update (same)", acme(&[], &[])),
        ("risk.reset", acme(&["risk_settings.reset"], &["risk_settings.updated"])),
        ("risk.reset (defaults)", acme(&[], &[])),
        ("domain.set (other)", org("other", &["domain.set"], &["domain.set"])),
        ("domain.set", acme(&["domain.set"], &["domain.set"])),
        ("domain.verify", acme(&["domain.verified"], &["domain.verified"])),
        ("domain.cleared", org("other", &[], &[])),
        ("domain.delete", acme(&["domain.deleted"], &["domain.deleted"])),
        (
            "scim_token.create",
            acme(&["scim_token.created"], &["scim_token.created"]),
        ),
        (
            "scim.user.create",
            Expect {
                org: "acme",
                org_log: &["member.added"],
                platform_log: &["user.created"],
                types: &["member.added", "user.joined"],
            },
        ),
        ("scim.user.update", acme(&["member.updated"], &[])),
        ("scim.user.deactivate", acme(&["member.deactivated"], &[])),
        ("scim.user.reactivate", acme(&["member.reactivated"], &[])),
        ("scim.group.create", acme(&["role.created"], &["role.created"])),
        (
            "scim.group.join",
            acme(&["member.role_changed"], &["member.role_updated", "user.role_updated"]),
        ),
        ("scim.group.rename", acme(&["role.updated"], &["role.updated"])),
        (
            "scim.group.delete",
            acme(
                &["member.role_changed", "role.deleted"],
                &["member.role_updated", "user.role_updated", "role.deleted"],
            ),
        ),
        (
            "scim.user.delete",
            acme(&["member.removed"], &["member.removed", "user.removed"]),
        ),
        (
            "scim_token.revoke",
            acme(&["scim_token.revoked"], &["scim_token.revoked"]),
        ),
        (
            "scim_token.delete",
            acme(&["scim_token.deleted"], &["scim_token.deleted"]),
        ),
        (
            "transfer",
            acme(&["org.ownership_transferred"], &["organization.ownership_transferred"]),
        ),
        ("role.delete", acme(&["role.deleted"], &["role.deleted"])),
        ("authorization.denied", acme(&["authorization.denied"], &[])),
        ("select", acme(&["session.created"], &[])),
        ("session.refresh", acme(&[], &[])),
        ("session.reuse", acme(&["session.revoked"], &[])),
        ("select (to log out)", acme(&["session.created"], &[])),
        ("session.logout", acme(&["session.revoked"], &["user.logout"])),
        ("token.issue", platform(&["token.issued"])),
        ("session.logout (platform)", platform(&["session.revoked"])),
        ("token.issue (new user)", platform(&["user.created", "token.issued"])),
        ("token.issue (org)", platform(&["token.issued"])),
        ("user.create", platform(&["user.created"])),
        ("user.promote", platform(&["platform_owner.granted"])),
        ("user.demote", platform(&["platform_owner.revoked"])),
        ("user.disable", platform(&["user.disabled"])),
        ("user.enable", platform(&["user.enabled"])),
        ("webhook.create", acme(&["webhook.created"], &["webhook.created"])),
        ("webhook.update", acme(&["webhook.updated"], &["webhook.updated"])),
        (
            "webhook.rotate",
            acme(&["webhook.secret_rotated"], &["webhook.updated"]),
        ),
        ("webhook.test", acme(&["webhook.test_sent"], &["webhook.test.ping"])),
        ("webhook.deliver", acme(&[], &[])),
        ("webhook.redeliver", acme(&["webhook.redelivered"], &[])),
        ("webhook.gone", acme(&["webhook.disabled"], &[])),
        ("webhook.enable", acme(&["webhook.updated"], &["webhook.updated"])),
        ("webhook.delete", acme(&["webhook.deleted"], &["webhook.deleted"])),
        (
            "smtp.set",
            acme(&["smtp.configured"], &["organization.smtp.configured"]),
        ),
        ("smtp.set (same)", acme(&[], &[])),
        ("smtp.delete", acme(&["smtp.removed"], &["organization.smtp.removed"])),
        ("smtp.delete (none)", acme(&[], &[])),
        (
            "oauth.set",
            acme(&["oauth_credentials.updated"], &["oauth_credentials.updated"]),
        ),
        ("oauth.set (same)", acme(&[], &[])),
        (
            "oauth.delete",
            acme(&["oauth_credentials.deleted"], &["oauth_credentials.updated"]),
        ),
        ("oauth.delete (none: 404)", acme(&[], &[])),
        (
            "billing.set",
            acme(&["billing_credentials.updated"], &["billing_credentials.updated"]),
        ),
        ("billing.set (same)", acme(&[], &[])),
        (
            "billing.delete",
            acme(&["billing_credentials.deleted"], &["billing_credentials.deleted"]),
        ),
        ("billing.delete (none: 404)", acme(&[], &[])),
        ("service.create", acme(&["service.created"], &["service.created"])),
        ("service.update", acme(&["service.updated"], &["service.updated"])),
        ("service.update (same)", acme(&[], &[])),
        ("service.access", acme(&["member.service_access_updated"], &[])),
        ("service.access (same)", acme(&[], &[])),
        ("login.report", acme(&[], &["user.login.success"])),
        (
            "end_user.revoke",
            acme(&["end_user.sessions_revoked"], &["end_user.sessions_revoked"]),
        ),
        ("service.delete", acme(&["service.deleted"], &["service.deleted"])),
        ("login_key.issue", platform(&["login_key.issued"])),
        ("login_key.revoke", platform(&["login_key.revoked"])),
        (
            "upstream.create",
            acme(&["upstream_provider.created"], &["upstream_provider.created"]),
        ),
        (
            "upstream.update",
            acme(&["upstream_provider.updated"], &["upstream_provider.updated"]),
        ),
        ("upstream.update (same)", acme(&[], &[])),
        (
            "upstream.delete",
            acme(&["upstream_provider.deleted"], &["upstream_provider.deleted"]),
        ),
        (
            "platform.limits",
            acme(&["org.limits_updated"], &["organization.updated"]),
        ),
        ("platform.suspend", acme(&["org.suspended"], &["organization.updated"])),
        ("platform.activate", acme(&["org.activated"], &["organization.updated"])),
        (
            "org.create (gamma)",
            org("gamma", &["org.created"], &["organization.created"]),
        ),
        (
            "platform.approve",
            org("gamma", &["org.approved"], &["organization.updated"]),
        ),
        (
            "org.create (delta)",
            org("delta", &["org.created"], &["organization.created"]),
        ),
        (
            "platform.reject",
            org("delta", &["org.rejected"], &["organization.updated"]),
        ),
        (
            "org.delete",
            Expect {
                org: "gamma",
                org_log: &[],
                platform_log: &["org.deleted"],
                types: &["organization.deleted"],
            },
        ),
        (
            "audit.prune",
            Expect {
                org: "acme",
                org_log: &["audit.pruned"],
                platform_log: &["audit.pruned"],
                types: &[],
            },
        ),
    ]
}

/// What the steps hand on to each other.
#[derive(Default)]
struct Carry {
    role_id: String,
    inv_id: String,
    inv_token: String,
    refresh_token: String,
    session: Option<org_domain::SessionId>,
    hook_id: String,
    delivery_id: String,
    scim_token_id: String,
    upstream_id: String,
    scim_token: String,
    scim_user: String,
    scim_group: String,
    domain_token: String,
}

async fn live_org(w: &World, slug: &str) -> Option<OrgId> {
    let slug = Slug::parse(slug).unwrap();
    w.app.stores().orgs.org_by_slug(&slug).await.unwrap().map(|o| o.id())
}

async fn head(w: &World, log: AuditLog) -> u64 {
    w.app.stores().audit.audit_head(log).await.unwrap().map_or(0, |e| e.seq)
}

async fn actions_after(w: &World, log: AuditLog, seq: u64) -> Vec<String> {
    entries_after(&w.app, log, seq)
        .await
        .into_iter()
        .map(|e| e.entry.action)
        .collect()
}

async fn events_of(w: &World, org: Option<OrgId>) -> Vec<String> {
    match org {
        Some(id) => w
            .app
            .stores()
            .outbox
            .org_events(id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect(),
        None => Vec::new(),
    }
}

async fn invite(w: &World, c: &mut Carry, email: &str, days: Option<u32>) -> Result<(), AppError> {
    let i = w
        .app
        .invitations
        .create(&w.owner, &meta(), "acme", email, None, days)
        .await?;
    c.inv_id = i.view.invitation.record().id.to_string();
    c.inv_token = i.token;
    Ok(())
}

async fn run(w: &World, guest: &Caller, name: &str, c: &mut Carry) -> Result<(), AppError> {
    let (app, o, p, m) = (&w.app, &w.owner, &w.platform, &meta());
    let member_id = w.member.user.id().to_string();
    // After "transfer", `w.member` owns acme.
    let new_owner = &w.member;
    match name {
        "org.update" => {
            let upd = UpdateOrg {
                name: Some(OrgName::parse("Acme Two").unwrap()),
                ..UpdateOrg::default()
            };
            app.orgs.update(o, m, "acme", upd).await.map(drop)
        }
        "role.create" => {
            let cmd = CreateRole {
                slug: "ops".into(),
                name: "Ops".into(),
                description: None,
                permissions: vec!["webhooks.manage".into()],
            };
            let r = app.roles.create(o, m, "acme", cmd).await?;
            c.role_id = r.id().to_string();
            Ok(())
        }
        "role.update" => {
            let upd = UpdateRole {
                name: Some("Operations".into()),
                ..UpdateRole::default()
            };
            app.roles.update(o, m, "acme", &c.role_id, upd).await.map(drop)
        }
        "member.role" => app
            .members
            .change_role(o, m, "acme", &member_id, "admin")
            .await
            .map(drop),
        "invitation.create" => invite(w, c, "guest@x.test", None).await,
        "invitation.resend" => {
            let i = app.invitations.resend(o, m, "acme", &c.inv_id).await?;
            c.inv_token = i.token;
            Ok(())
        }
        "invitation.accept" => app.invitations.accept_by_token(guest, m, &c.inv_token).await.map(drop),
        "invitation.create (to decline)" => invite(w, c, "decliner@x.test", None).await,
        "invitation.decline" => app.invitations.decline_by_token(m, &c.inv_token).await,
        "invitation.create (to cancel)" => invite(w, c, "cancelled@x.test", None).await,
        "invitation.cancel" => app.invitations.cancel(o, m, "acme", &c.inv_id).await,
        "invitation.create (to expire)" => invite(w, c, "late@x.test", Some(1)).await,
        "invitation.expire" => {
            w.advance(chrono::Duration::days(2));
            let org = w.app.orgs.get(o, "acme").await?.org;
            let n = app.invitations.expire(&org).await?;
            assert_eq!(n, 1);
            Ok(())
        }
        "invitation.create (to admin-accept)" => invite(w, c, "fresh@x.test", None).await,
        "invitation.admin_accept" => app
            .invitations
            .admin_accept(&w.admin, m, "acme", &c.inv_id)
            .await
            .map(drop),
        "member.remove" => app.members.remove(o, m, "acme", &guest.user.id().to_string()).await,
        "transfer" => app
            .members
            .transfer_ownership(o, m, "acme", &TransferTarget::UserId(member_id))
            .await
            .map(drop),
        "role.delete" => app.roles.delete(new_owner, m, "acme", &c.role_id).await,
        "authorization.denied" => {
            let err = app.orgs.delete(&w.admin, m, "acme").await.unwrap_err();
            assert_eq!(err, missing(Capability::OrgDelete));
            Ok(())
        }
        "select" | "select (to log out)" => {
            let s = app.orgs.select(&w.auditor, m, "acme").await?;
            c.refresh_token = s.session.refresh_token;
            c.session = Some(s.session.session.id);
            Ok(())
        }
        "session.refresh" => app.sessions.refresh(m, &c.refresh_token, true).await.map(drop),
        "session.reuse" => {
            w.advance(chrono::Duration::seconds(31));
            let err = app.sessions.refresh(m, &c.refresh_token, true).await.unwrap_err();
            assert!(matches!(err, AppError::Unauthorized(_)), "{err:?}");
            Ok(())
        }
        "session.logout" | "session.logout (platform)" => {
            let caller = Caller::new(w.auditor.user.clone(), c.session);
            app.sessions.logout(&caller, m).await
        }
        "token.issue" => {
            let (_, s) = app.users.issue_token("auditor@acme.test", None).await?;
            c.session = Some(s.session.id);
            Ok(())
        }
        "token.issue (new user)" => app.users.issue_token("cli@x.test", None).await.map(drop),
        "token.issue (org)" => app.users.issue_token("member@acme.test", Some("acme")).await.map(drop),
        "user.create" => app.users.create("ops@x.test", None, false).await.map(drop),
        "user.promote" => app.users.set_platform_owner("ops@x.test", true).await.map(drop),
        "user.demote" => app.users.set_platform_owner("ops@x.test", false).await.map(drop),
        "user.disable" => app.users.set_disabled("ops@x.test", true).await.map(drop),
        "user.enable" => app.users.set_disabled("ops@x.test", false).await.map(drop),
        "smtp.set" | "smtp.set (same)" => {
            let draft = SmtpDraft {
                host: "smtp.example.com".into(),
                port: 587,
                username: "mailer".into(),
                password: "secret".into(),
                from_email: "no-reply@example.com".into(),
                from_name: None,
                security: None,
            };
            app.mail.set_smtp(new_owner, m, "acme", draft).await
        }
        "smtp.delete" | "smtp.delete (none)" => app.mail.delete_smtp(new_owner, m, "acme").await,
        "oauth.set" | "oauth.set (same)" => {
            let draft = org_domain::credentials::OAuthCredentialsDraft {
                client_id: "gh-client".into(),
                client_secret: "gh-secret".into(),
            };
            app.credentials
                .set_oauth(new_owner, m, "acme", "github", draft)
                .await
                .map(drop)
        }
        "oauth.delete" => app.credentials.delete_oauth(new_owner, m, "acme", "github").await,
        "billing.set" | "billing.set (same)" => {
            let draft = org_domain::credentials::BillingCredentialsDraft {
                api_key: "sk_test_abc".into(),
                webhook_secret: "whsec_abc".into(),
                mode: "test".into(),
            };
            app.credentials.set_billing(new_owner, m, "acme", "stripe", draft).await
        }
        "billing.delete" => app
            .credentials
            .delete_billing(new_owner, m, "acme", "stripe")
            .await
            .map(drop),
        "billing.delete (none: 404)" => match app.credentials.delete_billing(new_owner, m, "acme", "stripe").await {
            Err(AppError::Domain(org_domain::DomainError::BillingCredentialsNotFound)) => Ok(()),
            other => other.and(Err(AppError::Domain(org_domain::DomainError::NotFound))),
        },
        "service.create" => {
            let draft = org_domain::service::ServiceDraft {
                slug: "portal".into(),
                name: "Portal".into(),
                ..Default::default()
            };
            app.services.create(new_owner, m, "acme", draft).await.map(drop)
        }
        "service.update" | "service.update (same)" => {
            let update = org_domain::service::ServiceUpdate {
                name: Some("Customer portal".into()),
                ..Default::default()
            };
            app.services
                .update(new_owner, m, "acme", "portal", update)
                .await
                .map(drop)
        }
        "service.access" | "service.access (same)" => {
            let grants = [org_app::ServiceAccessChange {
                service_slug: "portal".into(),
                access: Some(org_domain::service::ServiceAccessLevel::Viewer),
            }];
            let target = w.auditor.user.id().to_string();
            app.members
                .update_service_access(new_owner, m, "acme", &target, &grants)
                .await
                .map(drop)
        }
        "login.report" => {
            let report = org_domain::login::RawLoginReport {
                email: new_owner.user.email().as_str().to_owned(),
                org_slug: Some("acme".into()),
                service_slug: Some("portal".into()),
                provider: "github".into(),
                ..Default::default()
            };
            let reporter = org_app::logins::LoginReporter::Owner(Box::new(p.clone()));
            app.logins.report(&reporter, m, report).await.map(drop)
        }
        "end_user.revoke" => app
            .end_users
            .revoke_sessions(new_owner, m, "acme", &member_id)
            .await
            .map(drop),
        "service.delete" => app.services.delete(new_owner, m, "acme", "portal").await,
        "login_key.issue" => app.login_keys.issue("front-end").await.map(drop),
        "login_key.revoke" => app.login_keys.revoke("front-end").await.map(drop),
        "upstream.create" => {
            let draft = org_domain::upstream::UpstreamDraft {
                connection_id: Some("github-enterprise".into()),
                name: Some("GitHub Enterprise".into()),
                provider_type: Some("oauth2".into()),
                client_id: Some("client".into()),
                client_secret: Some(Some("secret".into())),
                authorization_url: Some(Some("https://gh.example.com/login/oauth/authorize".into())),
                token_url: Some(Some("https://gh.example.com/login/oauth/access_token".into())),
                userinfo_url: Some(Some("https://gh.example.com/api/user".into())),
                ..Default::default()
            };
            let p = app.upstream.create(new_owner, m, "acme", draft).await?;
            c.upstream_id = p.id().to_string();
            Ok(())
        }
        "upstream.update" | "upstream.update (same)" => {
            let draft = org_domain::upstream::UpstreamDraft {
                name: Some("GHE".into()),
                ..Default::default()
            };
            app.upstream
                .update(new_owner, m, "acme", &c.upstream_id, draft)
                .await
                .map(drop)
        }
        "upstream.delete" => app.upstream.delete(new_owner, m, "acme", &c.upstream_id).await,
        "oauth.delete (none: 404)" => match app.credentials.delete_oauth(new_owner, m, "acme", "github").await {
            Err(AppError::Domain(org_domain::DomainError::OAuthCredentialsNotFound)) => Ok(()),
            other => other.and(Err(AppError::Domain(org_domain::DomainError::NotFound))),
        },
        "webhook.create" => {
            let input = WebhookInput {
                name: Some("h".into()),
                url: Some("https://hooks.example.com/h".into()),
                events: Some(vec!["role.created".into()]),
                is_active: None,
            };
            let v = app.webhooks.create(new_owner, m, "acme", input).await?;
            c.hook_id = v.webhook.id().to_string();
            Ok(())
        }
        "webhook.update" => {
            let input = WebhookInput {
                name: Some("renamed".into()),
                ..WebhookInput::default()
            };
            app.webhooks
                .update(new_owner, m, "acme", &c.hook_id, input)
                .await
                .map(drop)
        }
        "webhook.rotate" => app
            .webhooks
            .rotate_secret(new_owner, m, "acme", &c.hook_id, None)
            .await
            .map(drop),
        "webhook.test" => {
            let e = app.webhooks.test(new_owner, m, "acme", &c.hook_id).await?;
            c.delivery_id = e.delivery_id.to_string();
            Ok(())
        }
        "scim_token.create" => {
            let draft = ScimTokenDraft {
                name: "directory".into(),
                expires_at: None,
            };
            let made = app.directory.create_token(o, m, "acme", draft).await?;
            c.scim_token_id = made.token.id().to_string();
            c.scim_token = made.plaintext;
            Ok(())
        }
        "scim.user.create" => {
            let d = app.directory.authenticate(&c.scim_token).await?;
            let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "sync@x.test", "emails": [{"value": "sync@x.test", "primary": true}]});
            c.scim_user = app.directory.create_user(&d, m, &body).await?.id;
            Ok(())
        }
        "scim.user.update" => scim_patch(w, c, json!([{"op": "add", "path": "displayName", "value": "Sync"}])).await,
        "scim.user.deactivate" => scim_patch(w, c, json!([{"op": "replace", "value": {"active": false}}])).await,
        "scim.user.reactivate" => scim_patch(w, c, json!([{"op": "replace", "path": "active", "value": "True"}])).await,
        "scim.group.create" => {
            let d = app.directory.authenticate(&c.scim_token).await?;
            let body =
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Directory Group"});
            c.scim_group = app.directory.create_group(&d, m, &body).await?.id;
            Ok(())
        }
        "scim.group.join" => {
            let ops = json!([{"op": "add", "path": "members", "value": [{"value": c.scim_user}]}]);
            scim_group_patch(w, c, ops).await
        }
        "scim.group.rename" => {
            scim_group_patch(
                w,
                c,
                json!([{"op": "replace", "path": "displayName", "value": "Renamed"}]),
            )
            .await
        }
        "scim.group.delete" => {
            let d = app.directory.authenticate(&c.scim_token).await?;
            app.directory.delete_group(&d, m, &c.scim_group, None).await
        }
        "scim.user.delete" => {
            let d = app.directory.authenticate(&c.scim_token).await?;
            app.directory.delete_user(&d, m, &c.scim_user, None).await
        }
        "scim_token.revoke" => app.directory.revoke_token(o, m, "acme", &c.scim_token_id).await,
        "scim_token.delete" => app.directory.delete_token(o, m, "acme", &c.scim_token_id).await,
        "webhook.deliver" => {
            let r = app
                .webhooks
                .deliver_due(Arc::new(Receiver::answering(vec![])), 10)
                .await?;
            assert_eq!(r.delivered, 1);
            Ok(())
        }
        "webhook.redeliver" => app
            .webhooks
            .redeliver(new_owner, m, "acme", &c.hook_id, &c.delivery_id)
            .await
            .map(drop),
        "webhook.gone" => {
            let r = Arc::new(Receiver::answering(vec![status(410)]));
            let report = app.webhooks.deliver_due(r, 10).await?;
            assert_eq!(report.disabled.len(), 1);
            Ok(())
        }
        "webhook.enable" => {
            let input = WebhookInput {
                is_active: Some(true),
                ..WebhookInput::default()
            };
            app.webhooks
                .update(new_owner, m, "acme", &c.hook_id, input)
                .await
                .map(drop)
        }
        "webhook.delete" => app.webhooks.delete(new_owner, m, "acme", &c.hook_id).await,
        "platform.limits" => {
            let patch = PlatformPatch {
                max_services: Some(Some(4)),
                ..PlatformPatch::default()
            };
            app.platform.patch_org(p, m, "acme", patch).await.map(drop)
        }
        "platform.suspend" => {
            let suspend = Lifecycle::Suspend {
                reason: Some("x".into()),
            };
            app.platform.lifecycle(p, m, "acme", suspend).await.map(drop)
        }
        "platform.activate" => app
            .platform
            .lifecycle(p, m, "acme", Lifecycle::Activate)
            .await
            .map(drop),
        "org.create (gamma)" => app.orgs.create(o, m, "gamma", "Gamma").await.map(drop),
        "platform.approve" => {
            let approve = Lifecycle::Approve { tier_id: None };
            app.platform.lifecycle(p, m, "gamma", approve).await.map(drop)
        }
        "org.create (delta)" => app.orgs.create(o, m, "delta", "Delta").await.map(drop),
        "platform.reject" => {
            let reject = Lifecycle::Reject { reason: "no".into() };
            app.platform.lifecycle(p, m, "delta", reject).await.map(drop)
        }
        "org.delete" => app.orgs.delete(o, m, "gamma").await,
        "branding.update" => {
            let upd = org_domain::branding::BrandingUpdate {
                primary_color: Some(Some("#123".into())),
                ..Default::default()
            };
            app.settings.update_branding(o, m, "acme", upd).await.map(drop)
        }
        "risk.update" | "risk.update (same)" => {
            let upd = org_domain::risk::RiskSettingsUpdate {
                enforcement_mode: Some("challenge".into()),
                ..Default::default()
            };
            app.risk.update(o, m, "acme", upd).await.map(drop)
        }
        "risk.reset" | "risk.reset (defaults)" => app.risk.reset(o, m, "acme").await.map(drop),
        "domain.set (other)" => app
            .settings
            .set_domain(&w.stranger, m, "other", "login.acme.test")
            .await
            .map(drop),
        "domain.set" => {
            let claim = app.settings.set_domain(o, m, "acme", "login.acme.test").await?;
            c.domain_token = claim.token().to_owned();
            Ok(())
        }
        "domain.verify" => {
            let net = Arc::new(crate::settings::Net::default());
            let answer = org_ports::TxtLookup::Records(vec![c.domain_token.clone()]);
            net.txt("_sso-verification.login.acme.test", answer);
            let v = crate::settings::verifying(w, &net)
                .settings
                .verify_domain(o, m, "acme")
                .await?;
            assert!(v.verified, "{}", v.message);
            // The other org's claim went in the same commit (actor `system`).
            let other = live_org(w, "other").await.unwrap();
            let log = actions_after(w, AuditLog::Org(other), 0).await;
            assert_eq!(log.last().map(String::as_str), Some("domain.deleted"));
            assert_eq!(
                events_of(w, Some(other)).await.last().map(String::as_str),
                Some("domain.deleted")
            );
            Ok(())
        }
        "domain.cleared" => {
            let gone = app.settings.domain(&w.stranger, m, "other").await?;
            assert!(gone.is_none());
            Ok(())
        }
        "domain.delete" => app.settings.delete_domain(o, m, "acme").await,
        "audit.prune" => {
            w.advance(chrono::Duration::days(10));
            let n = app.audit.prune(chrono::Duration::days(5)).await?;
            assert!(n > 0);
            Ok(())
        }
        other => panic!("no step '{other}'"),
    }
}

fn patch_op(ops: serde_json::Value) -> PatchRequest {
    PatchRequest::parse(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}))
        .unwrap()
}

async fn scim_patch(w: &World, c: &Carry, ops: serde_json::Value) -> Result<(), AppError> {
    let d = w.app.directory.authenticate(&c.scim_token).await?;
    let p = patch_op(ops);
    w.app
        .directory
        .patch_user(&d, &meta(), &c.scim_user, &p, None)
        .await
        .map(drop)
}

async fn scim_group_patch(w: &World, c: &Carry, ops: serde_json::Value) -> Result<(), AppError> {
    let d = w.app.directory.authenticate(&c.scim_token).await?;
    let p = patch_op(ops);
    w.app
        .directory
        .patch_group(&d, &meta(), &c.scim_group, &p, None, true)
        .await
        .map(drop)
}

#[tokio::test]
async fn every_mutating_use_case_writes_its_catalogued_audit_actions_and_webhook_types() {
    let w = World::with(AppConfig {
        org_approval: OrgApproval::Manual,
        ..AppConfig::default()
    })
    .await;
    let guest = user(&w.app, "guest@x.test").await;
    let mut carry = Carry::default();
    let mut written_org_actions: Vec<String> = Vec::new();
    let mut emitted: Vec<&str> = Vec::new();
    let steps = steps();
    for (name, exp) in &steps {
        let before_id = live_org(&w, exp.org).await;
        let org_head = match before_id {
            Some(id) => head(&w, AuditLog::Org(id)).await,
            None => 0,
        };
        let platform_head = head(&w, AuditLog::Platform).await;
        let events_before = events_of(&w, before_id).await.len();

        run(&w, &guest, name, &mut carry)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));

        let id = match before_id {
            Some(id) => id,
            None => live_org(&w, exp.org).await.unwrap_or_else(|| panic!("{name}: no org")),
        };
        let org_log = actions_after(&w, AuditLog::Org(id), org_head).await;
        assert_eq!(org_log, exp.org_log, "{name}: {} log", exp.org);
        let platform_log = actions_after(&w, AuditLog::Platform, platform_head).await;
        assert_eq!(platform_log, exp.platform_log, "{name}: platform log");
        let events = events_of(&w, Some(id)).await;
        assert_eq!(&events[events_before..], exp.types, "{name}: webhook types");
        written_org_actions.extend(org_log);
        emitted.extend(exp.types);
    }

    let listed: Vec<&str> = org_app::AUDIT_ACTIONS.iter().map(|a| a.value).collect();
    for action in &written_org_actions {
        assert!(
            listed.contains(&action.as_str()),
            "'{action}' is written to an org log but not listed by event-types"
        );
    }
    for action in &listed {
        assert!(
            written_org_actions.iter().any(|a| a == action),
            "'{action}' is listed but no step of the catalogue writes it"
        );
    }
    let subscribable: Vec<&str> = org_app::WEBHOOK_EVENT_TYPES.iter().map(|t| t.value).collect();
    for t in emitted {
        assert!(
            t == "webhook.test.ping" || subscribable.contains(&t),
            "'{t}' is emitted but not subscribable"
        );
    }
}
