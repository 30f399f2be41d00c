//! Builders of domain values for the tests (ids are fresh UUIDv7s, times fixed).

use chrono::{DateTime, TimeZone, Utc};
use org_domain::{
    Actor, CapabilitySet, CustomRole, CustomRoleRecord, Email, EventId, Membership, MembershipId, MembershipRecord,
    MembershipStatus, NewOrganization, OrgId, OrgName, OrgStatus, Organization, Role, RoleId, RoleName, RoleSlug, Slug,
    TierId, User, UserId, UserVia,
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
    User::create(
        UserId::from_uuid(id()),
        Email::parse(email).unwrap(),
        None,
        false,
        UserVia::Cli,
        t(0),
    )
    .0
}

/// A new org owned by `owner` and the owner's membership, as `Organization::create` makes them.
pub fn org(slug: &str, owner: &User) -> (Organization, Membership) {
    let (o, m, _) = Organization::create(
        NewOrganization {
            id: OrgId::from_uuid(id()),
            slug: Slug::parse(slug).unwrap(),
            name: OrgName::parse("Acme Inc").unwrap(),
            owner: owner.id(),
            owner_membership: MembershipId::from_uuid(id()),
            status: OrgStatus::Active,
            tier_id: TierId::new("tier_enterprise"),
        },
        t(0),
    );
    (o, m)
}

/// A new, active membership (not yet stored).
pub fn member(org: OrgId, user: &User, role: Role, at: i64) -> Membership {
    Membership::restore(MembershipRecord {
        id: MembershipId::from_uuid(id()),
        org_id: org,
        user_id: user.id(),
        role,
        status: MembershipStatus::Active,
        created_at: t(at),
        updated_at: t(at),
        version: 0,
    })
    .unwrap()
}

pub fn actor(id: UserId) -> Actor {
    Actor {
        user_id: id,
        is_platform_owner: false,
    }
}

/// A new custom role (not yet stored).
pub fn custom_role(org: OrgId, slug: &str) -> CustomRole {
    CustomRole::restore(CustomRoleRecord {
        id: RoleId::from_uuid(id()),
        org_id: org,
        slug: RoleSlug::parse(slug).unwrap(),
        name: RoleName::parse(&format!("Role {slug}")).unwrap(),
        description: None,
        permissions: CapabilitySet::EMPTY,
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

/// An owner, `members` further members (e-mails `m<i>@<slug>.test`, role `member`), and
/// their active org, stored in one commit; returned as stored.
pub async fn seeded<S: Store>(s: &S, slug: &str, members: usize) -> (User, Vec<User>, Organization) {
    let owner = user(&format!("owner@{slug}.test"));
    let (o, owner_m) = org(slug, &owner);
    let others: Vec<User> = (0..members).map(|i| user(&format!("m{i}@{slug}.test"))).collect();
    let mut memberships = vec![owner_m];
    memberships.extend(others.iter().map(|m| member(o.id(), m, Role::Member, 1)));
    let mut users = vec![owner.clone()];
    users.extend(others.iter().cloned());
    s.commit(Changeset {
        orgs: vec![o.clone()],
        memberships,
        users,
        ..Default::default()
    })
    .await
    .unwrap();
    let o = s.org_by_id(o.id()).await.unwrap().unwrap();
    let stored = |u: User| u.with_version(1);
    (stored(owner), others.into_iter().map(stored).collect(), o)
}
