//! The service rules (§19.1, §19.2, §22.3), member service access (§5.5 with the target rule
//! of §3.5) and login keys (§19.5), as tables of inputs and the decisions they get.

use chrono::{DateTime, Utc};
use org_domain::login_key::{LoginKey, hashes_match};
use org_domain::service::{
    Service, ServiceAccessLevel, ServiceDraft, ServiceEvent, ServiceGrant, ServiceSlug, ServiceUpdate, service_cap,
};
use org_domain::*;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

struct Org {
    org: Organization,
    owner: Membership,
}

fn acme(status: OrgStatus) -> Org {
    let (org, owner, _) = Organization::create(
        NewOrganization {
            id: OrgId::from_uuid(id(1)),
            slug: Slug::parse("acme").unwrap(),
            name: OrgName::parse("Acme Inc").unwrap(),
            owner: UserId::from_uuid(id(2)),
            owner_membership: MembershipId::from_uuid(id(3)),
            status,
            tier_id: TierId::new("tier_free"),
        },
        now(),
    );
    Org { org, owner }
}

fn member(org: &Organization, user: u128, role: Role) -> Membership {
    Membership::restore(MembershipRecord {
        id: MembershipId::from_uuid(id(100 + user)),
        org_id: org.id(),
        user_id: UserId::from_uuid(id(user)),
        role,
        status: MembershipStatus::Active,
        created_at: now(),
        updated_at: now(),
        version: 1,
    })
    .unwrap()
}

fn access(org: &Organization, m: &Membership) -> Access {
    let actor = Actor {
        user_id: m.user_id(),
        is_platform_owner: false,
    };
    Access::resolve(org, actor, Some(m), None).unwrap()
}

fn draft(slug: &str, name: &str) -> ServiceDraft {
    ServiceDraft {
        slug: slug.into(),
        name: name.into(),
        ..ServiceDraft::default()
    }
}

fn fields(e: DomainError) -> Vec<String> {
    match e {
        DomainError::Validation(f) => f.into_iter().map(|f| f.field).collect(),
        other => panic!("not a validation error: {other:?}"),
    }
}

#[test]
fn service_slugs_follow_the_pattern_of_section_19_1() {
    for ok in ["ab", "a1", "0-app", "my_app", &"a".repeat(50)] {
        assert_eq!(
            ServiceSlug::parse(ok).map(|s| s.as_str().to_owned()),
            Ok(ok.to_owned()),
            "{ok}"
        );
    }
    for bad in ["", "a", "-app", "_app", "App", "my app", "apé", "a.b", &"a".repeat(51)] {
        assert!(ServiceSlug::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn creating_a_service_checks_capability_then_fields_then_the_cap() {
    let o = acme(OrgStatus::Active);
    let owner = access(&o.org, &o.owner);
    let plain = member(&o.org, 10, Role::Member);
    let sid = ServiceId::from_uuid(id(50));
    let (svc, out) = owner
        .create_service(
            &ServiceDraft {
                description: Some("x".into()),
                ..draft("app", "  App  ")
            },
            0,
            2,
            sid,
            now(),
        )
        .unwrap();
    assert_eq!(
        (svc.slug().as_str(), svc.name(), svc.is_enabled()),
        ("app", "App", true)
    );
    assert!(matches!(
        &out.events[..],
        [DomainEvent::Service(ServiceEvent::Created { service_id, .. })] if *service_id == sid
    ));
    let cases: Vec<(&str, Access, ServiceDraft, u32, DomainError)> = vec![
        (
            "a member lacks services.create",
            access(&o.org, &plain),
            draft("app", "App"),
            0,
            DomainError::MissingCapability(Capability::ServicesCreate),
        ),
        (
            "at the cap",
            owner.clone(),
            draft("app", "App"),
            2,
            DomainError::ServiceLimitExceeded(2),
        ),
        (
            "past a lowered cap",
            owner.clone(),
            draft("app", "App"),
            5,
            DomainError::ServiceLimitExceeded(2),
        ),
    ];
    for (what, a, d, count, want) in cases {
        assert_eq!(a.create_service(&d, count, 2, sid, now()).unwrap_err(), want, "{what}");
    }
    let long = "n".repeat(101);
    let bad = owner
        .create_service(
            &ServiceDraft {
                slug: "A".into(),
                name: long,
                description: Some("d".repeat(501)),
                enabled: None,
            },
            2,
            2,
            sid,
            now(),
        )
        .unwrap_err();
    assert_eq!(fields(bad), ["slug", "name", "description"], "fields before the cap");
    let blank = owner
        .create_service(&draft("app", " \t "), 0, 2, sid, now())
        .unwrap_err();
    assert_eq!(fields(blank), ["name"]);
    let control = owner
        .create_service(&draft("app", "a\u{7}b"), 0, 2, sid, now())
        .unwrap_err();
    assert_eq!(fields(control), ["name"]);
    let suspended = acme(OrgStatus::Suspended);
    let err = access(&suspended.org, &suspended.owner)
        .create_service(&draft("app", "App"), 0, 2, sid, now())
        .unwrap_err();
    assert_eq!(err, DomainError::OrgNotActive(OrgStatus::Suspended));
}

#[test]
fn the_service_cap_is_the_orgs_override_else_the_tiers_default() {
    let o = acme(OrgStatus::Active);
    let tier = Tier::defaults()
        .into_iter()
        .find(|t| t.id.as_str() == "tier_free")
        .unwrap();
    assert_eq!(service_cap(&o.org, Some(&tier)), tier.default_max_services);
    assert_eq!(service_cap(&o.org, None), 0, "an unknown tier allows none");
}

fn stored(o: &Org, slug: &str) -> Service {
    let (s, _) = access(&o.org, &o.owner)
        .create_service(&draft(slug, "App"), 0, 10, ServiceId::from_uuid(id(60)), now())
        .unwrap();
    s.with_version(1)
}

#[test]
fn updating_a_service_changes_only_what_differs_and_equal_values_write_nothing() {
    let o = acme(OrgStatus::Active);
    let a = access(&o.org, &o.owner);
    let svc = stored(&o, "app");
    let same = ServiceUpdate {
        name: Some("App".into()),
        description: Some(None),
        enabled: Some(true),
    };
    let (written, out) = a.update_service(Some(&svc), &same, now()).unwrap();
    assert_eq!((written, out.events.len()), (None, 0), "no change, no event");
    let upd = ServiceUpdate {
        name: Some("Portal".into()),
        description: Some(Some("About".into())),
        enabled: Some(false),
    };
    let (written, out) = a.update_service(Some(&svc), &upd, now()).unwrap();
    let written = written.unwrap();
    assert_eq!((written.name(), written.is_enabled()), ("Portal", false));
    let DomainEvent::Service(ServiceEvent::Updated { changes, .. }) = &out.events[0] else {
        panic!("{out:?}");
    };
    let named: Vec<&str> = changes.iter().map(|c| c.field).collect();
    assert_eq!(named, ["name", "description", "enabled"]);
    assert_eq!(
        a.update_service(None, &upd, now()).unwrap_err(),
        DomainError::NotFound,
        "an unknown service"
    );
    let bad = ServiceUpdate {
        name: Some(String::new()),
        ..ServiceUpdate::default()
    };
    assert_eq!(fields(a.update_service(Some(&svc), &bad, now()).unwrap_err()), ["name"]);
    let viewer = member(&o.org, 11, Role::Member);
    assert_eq!(
        access(&o.org, &viewer)
            .update_service(Some(&svc), &upd, now())
            .unwrap_err(),
        DomainError::MissingCapability(Capability::ServicesManage)
    );
    assert_eq!(a.delete_service(None).unwrap_err(), DomainError::NotFound);
    assert!(matches!(
        &a.delete_service(Some(&svc)).unwrap().events[..],
        [DomainEvent::Service(ServiceEvent::Deleted { .. })]
    ));
}

#[test]
fn member_service_access_follows_the_target_rule_and_records_only_changes() {
    let o = acme(OrgStatus::Active);
    let owner = access(&o.org, &o.owner);
    let admin_m = member(&o.org, 20, Role::Admin);
    let admin = access(&o.org, &admin_m);
    let plain = member(&o.org, 21, Role::Member);
    let other_admin = member(&o.org, 22, Role::Admin);
    let svc = stored(&o, "app");
    let books = RoleBook::default();
    let viewer = [(svc.clone(), Some(ServiceAccessLevel::Viewer))];
    let cases: Vec<(&str, &Access, &Membership, Result<usize, DomainError>)> = vec![
        ("the owner on a member", &owner, &plain, Ok(1)),
        ("an admin on a member", &admin, &plain, Ok(1)),
        (
            "an admin on an admin",
            &admin,
            &other_admin,
            Err(DomainError::RuleViolation(Rule::TargetIsAdmin)),
        ),
        ("the owner on an admin", &owner, &other_admin, Ok(1)),
        (
            "anyone on the owner",
            &admin,
            &o.owner,
            Err(DomainError::RuleViolation(Rule::TargetIsOwner)),
        ),
    ];
    for (what, a, target, want) in cases {
        let got = a
            .set_service_access(Some(target), &books, &[], &viewer)
            .map(|(w, _)| w.len());
        assert_eq!(got, want, "{what}");
    }
    assert_eq!(
        access(&o.org, &plain)
            .set_service_access(Some(&admin_m), &books, &[], &viewer)
            .unwrap_err(),
        DomainError::MissingCapability(Capability::OrgMembersManage)
    );
    assert_eq!(
        owner.set_service_access(None, &books, &[], &viewer).unwrap_err(),
        DomainError::NotFound,
        "not a member"
    );
    let current = [ServiceGrant {
        org_id: o.org.id(),
        service_id: svc.id(),
        user_id: plain.user_id(),
        access: ServiceAccessLevel::Viewer,
    }];
    let (writes, out) = owner
        .set_service_access(Some(&plain), &books, &current, &viewer)
        .unwrap();
    assert_eq!((writes.len(), out.events.len()), (0, 0), "the same access is no change");
    let (writes, out) = owner
        .set_service_access(Some(&plain), &books, &current, &[(svc.clone(), None)])
        .unwrap();
    assert_eq!(writes[0].access, None, "null removes");
    assert!(matches!(
        &out.events[..],
        [DomainEvent::Service(ServiceEvent::AccessUpdated { grants, .. })] if grants.len() == 1
    ));
    assert_eq!(owner.read_service_access(None).unwrap_err(), DomainError::NotFound);
    assert!(owner.read_service_access(Some(&plain)).is_ok());
}

#[test]
fn a_login_key_keeps_only_its_hash_and_prefix_and_is_revoked_once() {
    let plaintext = format!("lk_{}", "A".repeat(43));
    let hash = TokenHash([9; 32]);
    let (mut key, event) =
        LoginKey::issue(LoginKeyId::from_uuid(id(70)), "  front-end ", &plaintext, hash, now()).unwrap();
    assert_eq!((key.name(), key.record().prefix.as_str()), ("front-end", "lk_AAAAAAAA"));
    assert!(!format!("{key:?}").contains(&plaintext), "Debug shows no secret");
    assert!(matches!(event, DomainEvent::LoginKey(_)));
    assert!(key.verifies(&hash) && !key.verifies(&TokenHash([8; 32])));
    assert!(hashes_match(&hash, &TokenHash([9; 32])));
    assert!(key.is_live());
    key.revoke(now()).unwrap();
    assert!(!key.is_live());
    assert_eq!(key.revoke(now()).unwrap_err(), DomainError::NotFound, "revoked twice");
    for bad in ["", "   ", "a\u{0}b", &"n".repeat(101)] {
        assert!(
            LoginKey::issue(LoginKeyId::from_uuid(id(71)), bad, &plaintext, hash, now()).is_err(),
            "{bad:?}"
        );
    }
}
