//! The first step of a write (§1.5): the domain checks the endpoint capability before it
//! parses the body, so a caller who may not act learns nothing about its input, and a caller
//! who may gets every field error at once.

use chrono::{DateTime, TimeZone, Utc};
use org_domain::webhook::WebhookDraft;
use org_domain::{
    Access, Actor, Capability, DomainError, Membership, MembershipId, MembershipRecord, MembershipStatus,
    NewOrganization, OrgId, OrgName, OrgStatus, Organization, Role, RoleChanges, RoleDraft, RoleId, Slug, TierId,
    UserId, WebhookId,
};
use uuid::Uuid;

const KNOWN: &[&str] = &["member.added", "member.removed"];

fn at() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// The owner's and a plain member's access to an org in `status`.
fn org(status: OrgStatus) -> (Access, Access) {
    let owner = UserId::from_uuid(id(10));
    let (org, owner_m, _) = Organization::create(
        NewOrganization {
            id: OrgId::from_uuid(id(1)),
            slug: Slug::parse("acme").unwrap(),
            name: OrgName::parse("Acme").unwrap(),
            owner,
            owner_membership: MembershipId::from_uuid(id(2)),
            status,
            tier_id: TierId::new("tier_pro"),
        },
        at(),
    );
    let member = Membership::restore(MembershipRecord {
        id: MembershipId::from_uuid(id(3)),
        org_id: org.id(),
        user_id: UserId::from_uuid(id(11)),
        role: Role::Member,
        status: MembershipStatus::Active,
        created_at: at(),
        updated_at: at(),
        version: 1,
    })
    .unwrap();
    let access = |m: &Membership| {
        let actor = Actor {
            user_id: m.user_id(),
            is_platform_owner: false,
        };
        Access::resolve(&org, actor, Some(m), None).unwrap()
    };
    (access(&owner_m), access(&member))
}

fn fields(e: DomainError) -> Vec<String> {
    match e {
        DomainError::Validation(errors) => errors.into_iter().map(|f| f.field.to_string()).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn bad_role() -> RoleDraft {
    RoleDraft {
        slug: "Not A Slug".into(),
        name: String::new(),
        description: None,
        permissions: vec!["org.members.manage".into(), "no.such.thing".into(), "org.delete".into()],
    }
}

#[test]
fn a_member_without_the_capability_is_refused_before_the_body_is_read() {
    let (_, member) = org(OrgStatus::Active);
    let missing = |r: Result<(), DomainError>| matches!(r, Err(DomainError::MissingCapability(_)));
    assert!(missing(
        member.new_role(RoleId::from_uuid(id(5)), &bad_role()).map(drop)
    ));
    assert!(missing(member.role_update(&RoleChanges::default()).map(drop)));
    assert!(missing(
        member.invitation_request("not an e-mail", Some("nope")).map(drop)
    ));
    let empty = WebhookDraft::default();
    assert!(missing(
        member
            .new_webhook(WebhookId::from_uuid(id(6)), &empty, "whsec_x".into(), KNOWN)
            .map(drop)
    ));
    assert!(missing(member.webhook_update(&empty, KNOWN).map(drop)));
}

#[test]
fn a_manager_gets_every_field_error_of_a_role_at_once() {
    let (owner, _) = org(OrgStatus::Active);
    let err = owner.new_role(RoleId::from_uuid(id(5)), &bad_role()).unwrap_err();
    assert_eq!(fields(err), ["slug", "name", "permissions[1]", "permissions[2]"]);
    let ok = owner
        .new_role(
            RoleId::from_uuid(id(5)),
            &RoleDraft {
                slug: "auditor".into(),
                name: "Auditor".into(),
                description: Some("reads the log".into()),
                permissions: vec!["audit_logs.view".into()],
            },
        )
        .unwrap();
    assert_eq!(ok.slug.as_str(), "auditor");
    assert!(ok.permissions.contains(Capability::AuditLogsView));

    let changes = RoleChanges {
        name: Some(String::new()),
        permissions: Some(vec!["org.delete".into()]),
        ..RoleChanges::default()
    };
    assert_eq!(
        fields(owner.role_update(&changes).unwrap_err()),
        ["name", "permissions[0]"]
    );
}

#[test]
fn an_invitation_request_parses_the_email_and_defaults_to_member() {
    let (owner, _) = org(OrgStatus::Active);
    assert_eq!(fields(owner.invitation_request("nope", None).unwrap_err()), ["email"]);
    let (email, role) = owner.invitation_request("Bob@Example.com", None).unwrap();
    assert_eq!((email.as_str(), role), ("bob@example.com", Role::Member));
}

#[test]
fn webhook_writes_check_the_active_org_gate_then_name_and_subscription() {
    let (suspended_owner, _) = org(OrgStatus::Suspended);
    let good = WebhookDraft {
        name: Some(" Sink ".into()),
        url: Some("https://hooks.example.com/in".into()),
        events: Some(vec!["member.added".into(), "member.added".into()]),
        is_active: None,
    };
    assert!(matches!(
        suspended_owner.new_webhook(WebhookId::from_uuid(id(6)), &good, "whsec_x".into(), KNOWN),
        Err(DomainError::OrgNotActive(OrgStatus::Suspended))
    ));

    let (owner, _) = org(OrgStatus::Active);
    let new = owner
        .new_webhook(WebhookId::from_uuid(id(6)), &good, "whsec_x".into(), KNOWN)
        .unwrap();
    assert_eq!(
        (new.name.as_str(), new.events.as_slice()),
        ("Sink", &["member.added".to_owned()][..])
    );
    let missing = owner
        .new_webhook(
            WebhookId::from_uuid(id(6)),
            &WebhookDraft::default(),
            "whsec_x".into(),
            KNOWN,
        )
        .unwrap_err();
    assert_eq!(fields(missing), ["name"]);
    let unknown = WebhookDraft {
        events: Some(vec!["member.added".into(), "org.exploded".into()]),
        ..WebhookDraft::default()
    };
    assert_eq!(
        fields(owner.webhook_update(&unknown, KNOWN).unwrap_err()),
        ["events[1]"]
    );
    let rename = WebhookDraft {
        name: Some("Renamed".into()),
        ..WebhookDraft::default()
    };
    let upd = owner.webhook_update(&rename, KNOWN).unwrap();
    assert_eq!((upd.name.as_deref(), upd.events), (Some("Renamed"), None));
}
