//! Embedding `org-domain` alone: the rules of ownership and roles decided from plain values,
//! with no IO, no async and no store. The caller loads what a decision needs (the org row and
//! the memberships involved), asks the domain, and stores what comes back.
//!
//! `cargo run -p org-examples --example domain-rules`

use chrono::{DateTime, Utc};
use org_domain::{
    Access, Actor, DomainError, Email, MembershipId, MembershipRecord, MembershipStatus, NewOrganization, OrgId,
    OrgName, OrgStatus, Organization, Role, RoleBook, Rule, Slug, TierId, UserId,
};
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn main() -> Result<(), DomainError> {
    // Time and ids are arguments: the domain never reads a clock or makes an id.
    let now: DateTime<Utc> = DateTime::from_timestamp(1_750_000_000, 0).unwrap_or_default();
    let (alice, bob) = (UserId::from_uuid(id(1)), UserId::from_uuid(id(2)));
    let (mut org, mut alice_m, events) = Organization::create(
        NewOrganization {
            id: OrgId::from_uuid(id(10)),
            slug: Slug::parse("acme")?,
            name: OrgName::parse("Acme Inc")?,
            owner: alice,
            owner_membership: MembershipId::from_uuid(id(11)),
            status: OrgStatus::Active,
            tier_id: TierId::new("tier_pro"),
        },
        now,
    );
    println!("created {} owned by alice: {events:?}", org.slug());

    // Bob's membership as a store would hand it back.
    let mut bob_m = org_domain::Membership::restore(MembershipRecord {
        id: MembershipId::from_uuid(id(12)),
        org_id: org.id(),
        user_id: bob,
        role: Role::Admin,
        status: MembershipStatus::Active,
        created_at: now,
        updated_at: now,
        version: 1,
    })?;
    let _ = Email::parse("bob@example.com")?;

    // A role change: the owner makes the admin a plain member.
    let as_alice = Access::resolve(
        &org,
        Actor {
            user_id: alice,
            is_platform_owner: false,
        },
        Some(&alice_m),
        None,
    )?;
    let changed = as_alice.change_role(
        &mut org,
        Some(&mut bob_m),
        None,
        Role::Member,
        &RoleBook::default(),
        now,
    )?;
    println!("role change: {:?}", changed.events);
    assert_eq!(*bob_m.role(), Role::Member);

    // A transfer: the owner hands the org to bob; alice becomes an admin.
    let transferred = as_alice.transfer_ownership(&mut org, Some(&mut bob_m), &mut alice_m, now)?;
    println!("transfer: {:?}", transferred.events);
    assert_eq!(org.owner(), bob);
    assert_eq!((alice_m.role(), bob_m.role()), (&Role::Admin, &Role::Owner));

    // The rules hold from then on: alice, now an admin, cannot touch the new owner.
    let as_admin = Access::resolve(
        &org,
        Actor {
            user_id: alice,
            is_platform_owner: false,
        },
        Some(&alice_m),
        None,
    )?;
    let refused = as_admin.change_role(
        &mut org,
        Some(&mut bob_m),
        None,
        Role::Member,
        &RoleBook::default(),
        now,
    );
    println!("alice demoting bob: {refused:?}");
    assert_eq!(refused, Err(DomainError::RuleViolation(Rule::TargetIsOwner)));
    Ok(())
}
