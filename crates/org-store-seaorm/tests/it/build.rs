//! Builders of domain values for the tests (ids are fresh UUIDv7s, times fixed).

use chrono::{DateTime, TimeZone, Utc};
use org_domain::{
    Actor, CapabilitySet, Email, EventId, Invitation, InvitationId, InvitationRecord, InvitationStatus, MembershipId,
    NewOrganization, NewRole, OrgId, OrgName, OrgStatus, Organization, Role, RoleId, RoleName, RoleSlug, Slug, TierId,
    TokenHash, User, UserId,
};
use org_ports::{ActorType, AuditActor, AuditDraft, Changeset, OutboxEvent, Store};
use serde_json::json;
use uuid::Uuid;

pub fn id() -> Uuid {
    Uuid::now_v7()
}

pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_740_000_000 + secs, 0).single().unwrap()
}

pub fn user(email: &str) -> User {
    User::new(UserId::from_uuid(id()), Email::parse(email).unwrap(), None, t(0))
}

pub fn org(slug: &str, owner: &User) -> Organization {
    Organization::create(
        NewOrganization {
            id: OrgId::from_uuid(id()),
            slug: Slug::parse(slug).unwrap(),
            name: OrgName::parse("Acme Inc").unwrap(),
            owner: owner.id,
            owner_membership: MembershipId::from_uuid(id()),
            status: OrgStatus::Active,
            tier_id: TierId::new("tier_enterprise"),
        },
        t(0),
    )
    .0
}

pub fn actor(id: UserId) -> Actor {
    Actor {
        user_id: id,
        is_platform_owner: false,
    }
}

pub fn new_role(slug: &str) -> NewRole {
    NewRole {
        id: RoleId::from_uuid(id()),
        slug: RoleSlug::parse(slug).unwrap(),
        name: RoleName::parse(&format!("Role {slug}")).unwrap(),
        description: None,
        permissions: CapabilitySet::EMPTY,
    }
}

pub fn invitation(org: OrgId, email: &str, token: u8) -> Invitation {
    Invitation::restore(InvitationRecord {
        id: InvitationId::from_uuid(id()),
        org_id: org,
        email: Email::parse(email).unwrap(),
        role: Role::Member,
        status: InvitationStatus::Pending,
        invited_by: UserId::from_uuid(id()),
        token_hash: TokenHash([token; 32]),
        ttl_days: 7,
        expires_at: t(7 * 86_400),
        created_at: t(0),
        updated_at: t(0),
        version: 0,
    })
    .unwrap()
}

pub fn audit(org: Option<OrgId>, action: &str) -> AuditDraft {
    AuditDraft {
        id: EventId::from_uuid(id()),
        org_id: org,
        actor: AuditActor {
            id: "system".into(),
            kind: ActorType::System,
            email: None,
        },
        action: action.into(),
        target_type: None,
        target_id: None,
        ip_address: None,
        user_agent: None,
        success: true,
        metadata: Some(json!({"k": "v"})),
        request_id: None,
        created_at: t(1),
    }
}

pub fn event(org: OrgId, ty: &str) -> OutboxEvent {
    OutboxEvent {
        id: EventId::from_uuid(id()),
        org_id: org,
        event_type: ty.into(),
        occurred_at: t(1),
        actor_user_id: None,
        actor_email: None,
        target_type: None,
        target_id: None,
        data: json!({}),
    }
}

/// An owner, `members` further members (emails `m<i>@<slug>.test`), and their active org, stored.
pub async fn seeded<S: Store>(s: &S, slug: &str, members: usize) -> (User, Vec<User>, Organization) {
    let owner = user(&format!("owner@{slug}.test"));
    let mut o = org(slug, &owner);
    let mut users = vec![owner.clone()];
    let mut others = Vec::new();
    for i in 0..members {
        let m = user(&format!("m{i}@{slug}.test"));
        let mut inv = invitation(o.id(), m.email.as_str(), 0);
        o.accept_invitation(&mut inv, &m, MembershipId::from_uuid(id()), 1000, t(1))
            .unwrap();
        users.push(m.clone());
        others.push(m);
    }
    s.commit(Changeset {
        orgs: vec![o.clone()],
        users,
        ..Default::default()
    })
    .await
    .unwrap();
    let o = s.org_by_id(o.id()).await.unwrap().unwrap();
    (owner, others, o)
}
