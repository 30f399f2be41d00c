//! Directory sync decisions (§10, §3.5): SCIM tokens, provisioning, deactivation, role
//! groups, and the reach of a token (its creator's capabilities, never owners or admins).

use chrono::{DateTime, Duration, TimeZone, Utc};
use org_domain::directory::{DirectoryFields, DirectoryProfile, Taken, group_slug};
use org_domain::scim_token::{ScimSecret, ScimToken, ScimTokenDraft};
use org_domain::{
    Access, Actor, Capability, CapabilitySet, CustomRole, CustomRoleRecord, DomainError, DomainEvent, Email, Feature,
    Features, Membership, MembershipId, MembershipRecord, MembershipStatus, NewOrganization, OrgId, OrgName, OrgStatus,
    Organization, Role, RoleBook, RoleId, RoleName, RoleSlug, Rule, ScimTokenId, Slug, TierId, TokenHash, User, UserId,
    UserVia,
};
use uuid::Uuid;

fn at(min: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default() + Duration::minutes(min)
}

/// Effective features with SCIM on or off.
fn scim(on: bool) -> Features {
    Features {
        allow_scim: on,
        ..Features::none()
    }
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

struct World {
    org: Organization,
    owner: Membership,
    admin: Membership,
    member: Membership,
    auditor: Membership,
    auditor_role: CustomRole,
}

fn membership(n: u128, org: OrgId, role: Role) -> Membership {
    Membership::restore(MembershipRecord {
        id: MembershipId::from_uuid(id(100 + n)),
        org_id: org,
        user_id: UserId::from_uuid(id(200 + n)),
        role,
        status: MembershipStatus::Active,
        created_at: at(0),
        updated_at: at(0),
        version: 1,
    })
    .unwrap()
}

fn role(org: OrgId, slug: &str, caps: &[Capability]) -> CustomRole {
    let n = slug.bytes().fold(0_u128, |acc, b| acc * 31 + u128::from(b));
    let mut set = CapabilitySet::EMPTY;
    for c in caps {
        set.insert(*c);
    }
    CustomRole::restore(CustomRoleRecord {
        id: RoleId::from_uuid(id(1_000 + n)),
        org_id: org,
        slug: RoleSlug::parse(slug).unwrap(),
        name: RoleName::parse(slug).unwrap(),
        description: None,
        permissions: set,
        created_at: at(0),
        updated_at: at(0),
        version: 1,
    })
    .unwrap()
}

impl World {
    fn new(status: OrgStatus) -> Self {
        let (org, owner, _) = Organization::create(
            NewOrganization {
                id: OrgId::from_uuid(id(1)),
                slug: Slug::parse("acme").unwrap(),
                name: OrgName::parse("Acme").unwrap(),
                owner: UserId::from_uuid(id(200)),
                owner_membership: MembershipId::from_uuid(id(100)),
                status,
                tier_id: TierId::new("tier_pro"),
            },
            at(0),
        );
        let auditor_role = role(org.id(), "auditor", &[Capability::AuditLogsView]);
        Self {
            admin: membership(1, org.id(), Role::Admin),
            member: membership(2, org.id(), Role::Member),
            auditor: membership(3, org.id(), auditor_role.as_role()),
            owner,
            auditor_role,
            org,
        }
    }

    fn access_of(&self, m: &Membership, custom: Option<&CustomRole>) -> Access {
        let actor = Actor {
            user_id: m.user_id(),
            is_platform_owner: false,
        };
        Access::resolve(&self.org, actor, Some(m), custom).unwrap()
    }

    /// A token created by `creator` (with `custom` as its custom role, if any).
    fn token_of(&self, creator: &Membership, custom: Option<&CustomRole>) -> Result<ScimToken, DomainError> {
        let secret = ScimSecret {
            hash: TokenHash([1; 32]),
            prefix: "scim_abcdefg".into(),
        };
        let draft = ScimTokenDraft {
            name: "Okta".into(),
            expires_at: Some(at(60)),
        };
        self.access_of(creator, custom)
            .create_scim_token(ScimTokenId::from_uuid(id(9)), &draft, secret, &scim(true), at(1))
            .map(|(t, _)| t)
    }

    fn directory(&self) -> Access {
        self.token_of(&self.owner, None)
            .unwrap()
            .access(&self.org, &scim(true))
            .unwrap()
    }

    fn book(&self) -> RoleBook {
        RoleBook::new(vec![self.auditor_role.clone()])
    }
}

fn fields(user_name: &str, email: &str) -> DirectoryFields {
    DirectoryFields::parse(
        Some("ext-1"),
        user_name,
        None,
        Some("Ada"),
        Some("Lovelace"),
        None,
        email,
    )
    .unwrap()
}

fn user(n: u128, email: &str) -> User {
    User::create(
        UserId::from_uuid(id(300 + n)),
        Email::parse(email).unwrap(),
        None,
        false,
        UserVia::Scim,
        at(0),
    )
    .0
}

#[test]
fn a_token_needs_both_capabilities_the_tier_and_a_future_expiry() {
    let w = World::new(OrgStatus::Active);
    let member = w.token_of(&w.member, None).unwrap_err();
    assert_eq!(member, DomainError::MissingCapability(Capability::IntegrationsManage));
    let owner = w.access_of(&w.owner, None);
    let secret = || ScimSecret {
        hash: TokenHash([2; 32]),
        prefix: "scim_xxxxxxx".into(),
    };
    let draft = |name: &str, expires_at| ScimTokenDraft {
        name: name.into(),
        expires_at,
    };
    let tid = ScimTokenId::from_uuid(id(9));
    let no_tier = owner.create_scim_token(tid, &draft("Okta", None), secret(), &scim(false), at(1));
    assert_eq!(no_tier.unwrap_err(), DomainError::FeatureNotInTier(Feature::Scim));
    let past = owner.create_scim_token(tid, &draft("Okta", Some(at(0))), secret(), &scim(true), at(1));
    assert!(matches!(past, Err(DomainError::Validation(_))));
    let blank = owner.create_scim_token(tid, &draft("  ", None), secret(), &scim(true), at(1));
    assert!(matches!(blank, Err(DomainError::Validation(_))));
    let (token, outcome) = owner
        .create_scim_token(tid, &draft(" Okta ", None), secret(), &scim(true), at(1))
        .unwrap();
    assert_eq!(token.record().name, "Okta");
    assert_eq!(token.record().capabilities, CapabilitySet::all().resolved());
    assert!(matches!(outcome.events[..], [DomainEvent::ScimToken { .. }]));
}

#[test]
fn a_token_works_only_for_its_active_org_on_a_tier_with_scim_and_until_it_expires_or_is_revoked() {
    let w = World::new(OrgStatus::Active);
    let mut token = w.token_of(&w.owner, None).unwrap();
    assert!(token.access(&w.org, &scim(true)).is_ok());
    assert_eq!(
        token.access(&w.org, &scim(false)).unwrap_err(),
        DomainError::FeatureNotInTier(Feature::Scim)
    );
    let suspended = World::new(OrgStatus::Suspended);
    assert_eq!(
        token.access(&suspended.org, &scim(true)).unwrap_err(),
        DomainError::OrgNotActive(OrgStatus::Suspended)
    );
    assert!(token.is_active(at(59)));
    assert!(!token.is_active(at(60)), "expired at expires_at");
    let owner = w.access_of(&w.owner, None);
    let first = owner.revoke_scim_token(Some(&mut token), at(2)).unwrap();
    assert_eq!(first.events.len(), 1);
    assert!(!token.is_active(at(3)));
    let again = owner.revoke_scim_token(Some(&mut token), at(4)).unwrap();
    assert!(again.events.is_empty(), "a second revoke records nothing");
    assert_eq!(token.record().revoked_at, Some(at(2)));
}

#[test]
fn last_used_is_due_at_most_once_a_minute() {
    let w = World::new(OrgStatus::Active);
    let token = w.token_of(&w.owner, None).unwrap();
    assert!(token.use_is_due(at(1)));
    let mut record = token.record().clone();
    record.last_used_at = Some(at(10));
    let used = ScimToken::restore(record);
    assert!(!used.use_is_due(at(10) + Duration::seconds(59)));
    assert!(used.use_is_due(at(11)));
}

#[test]
fn provisioning_admits_a_member_inactive_when_asked_and_refuses_duplicates_and_a_full_org() {
    let w = World::new(OrgStatus::Active);
    let d = w.directory();
    let ada = user(1, "ada@example.com");
    let mid = MembershipId::from_uuid(id(50));
    let f = || fields("ada", "ada@example.com");
    let (m, profile, outcome) = d
        .provision_member(&w.org, &ada, None, Taken::default(), mid, f(), true, 10, at(2))
        .unwrap();
    assert_eq!((m.role(), m.is_active()), (&Role::Member, true));
    assert_eq!(profile.user_name(), "ada");
    assert!(matches!(outcome.events[..], [DomainEvent::MemberAdded { .. }]));
    let (off, _, _) = d
        .provision_member(&w.org, &ada, None, Taken::default(), mid, f(), false, 1, at(2))
        .unwrap();
    assert_eq!(
        off.status(),
        MembershipStatus::Deactivated,
        "inactive ones ignore the cap"
    );

    let err = |r: Result<(Membership, DirectoryProfile, org_domain::Outcome), DomainError>| r.unwrap_err();
    let taken = Taken {
        user_name: true,
        email: false,
    };
    assert_eq!(
        err(d.provision_member(&w.org, &ada, Some(&m), Taken::default(), mid, f(), true, 10, at(2))),
        DomainError::AlreadyMember
    );
    assert_eq!(
        err(d.provision_member(&w.org, &ada, None, taken, mid, f(), true, 10, at(2))),
        DomainError::DuplicateUserName
    );
    assert!(matches!(
        err(d.provision_member(&w.org, &ada, None, Taken::default(), mid, f(), true, 1, at(2))),
        DomainError::TeamLimitExceeded(1)
    ));
}

#[test]
fn deactivation_revokes_sessions_and_reactivation_checks_the_cap() {
    let w = World::new(OrgStatus::Active);
    let d = w.directory();
    let u = user(2, "plain@example.com");
    let mut m = w.member.clone();
    let mut profile = DirectoryProfile::default_for(&m, &u);
    let same = fields("plain@example.com", "plain@example.com");
    let out = d
        .update_directory_member(
            &w.org,
            Some(&mut m),
            &mut profile,
            same.clone(),
            Some(false),
            Taken::default(),
            &w.book(),
            10,
            at(3),
        )
        .unwrap();
    assert!(!m.is_active());
    let kinds: Vec<&str> = out
        .events
        .iter()
        .map(|e| match e {
            DomainEvent::MemberUpdated { .. } => "updated",
            DomainEvent::MemberDeactivated { .. } => "deactivated",
            DomainEvent::SessionsRevoked { .. } => "revoked",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["updated", "deactivated", "revoked"],
        "externalId and names were set too"
    );
    let full = d.update_directory_member(
        &w.org,
        Some(&mut m),
        &mut profile,
        same.clone(),
        Some(true),
        Taken::default(),
        &w.book(),
        1,
        at(4),
    );
    assert!(matches!(full, Err(DomainError::TeamLimitExceeded(1))));
    assert!(!m.is_active(), "a refused re-activation changes nothing");
    assert_eq!(profile.user_name(), "plain@example.com");
    let renamed = fields("renamed", "plain@example.com");
    let refused = d.update_directory_member(
        &w.org,
        Some(&mut m),
        &mut profile,
        renamed,
        Some(true),
        Taken::default(),
        &w.book(),
        1,
        at(5),
    );
    assert!(refused.is_err());
    assert_eq!(profile.user_name(), "plain@example.com", "nor its profile");
}

#[test]
fn owners_and_admins_keep_their_status_and_email_but_their_profile_texts_change() {
    let w = World::new(OrgStatus::Active);
    let d = w.directory();
    for (target, rule) in [(&w.owner, Rule::TargetIsOwner), (&w.admin, Rule::TargetIsAdmin)] {
        let u = user(3, "boss@example.com");
        let mut m = target.clone();
        let mut profile = DirectoryProfile::default_for(&m, &u);
        let book = w.book();
        let mut update = |f: DirectoryFields, active| {
            d.update_directory_member(
                &w.org,
                Some(&mut m),
                &mut profile,
                f,
                active,
                Taken::default(),
                &book,
                10,
                at(3),
            )
        };
        assert_eq!(
            update(fields("boss@example.com", "boss@example.com"), Some(false)).unwrap_err(),
            DomainError::RuleViolation(rule)
        );
        assert_eq!(
            update(fields("boss@example.com", "other@example.com"), None).unwrap_err(),
            DomainError::RuleViolation(rule)
        );
        let renamed = update(fields("the-boss", "boss@example.com"), Some(true)).unwrap();
        assert!(matches!(renamed.events[..], [DomainEvent::MemberUpdated { .. }]));
        assert_eq!(
            d.deprovision_member(Some(target), &w.book()).unwrap_err(),
            DomainError::RuleViolation(rule)
        );
    }
}

#[test]
fn a_token_reaches_only_members_within_its_creators_capabilities() {
    let w = World::new(OrgStatus::Active);
    // A creator holding members.manage and integrations.manage, but not audit_logs.view.
    let manager_role = role(
        w.org.id(),
        "manager",
        &[Capability::OrgMembersManage, Capability::IntegrationsManage],
    );
    let manager = membership(4, w.org.id(), manager_role.as_role());
    let token = w.token_of(&manager, Some(&manager_role)).unwrap();
    let d = token.access(&w.org, &scim(true)).unwrap();
    let book = w.book();
    assert_eq!(
        d.deprovision_member(Some(&w.auditor), &book).unwrap_err(),
        DomainError::RuleViolation(Rule::TargetCapabilities),
        "the auditor holds a capability the token lacks"
    );
    let mut plain = w.member.clone();
    assert_eq!(
        d.join_role_group(Some(&mut plain), &w.auditor_role, &book, at(5))
            .unwrap_err(),
        DomainError::RuleViolation(Rule::Grant)
    );
    assert!(d.deprovision_member(Some(&w.member), &book).is_ok());
}

#[test]
fn role_groups_assign_and_take_back_custom_roles() {
    let w = World::new(OrgStatus::Active);
    let d = w.directory();
    let book = w.book();
    let mut m = w.member.clone();
    let joined = d.join_role_group(Some(&mut m), &w.auditor_role, &book, at(5)).unwrap();
    assert_eq!(m.role(), &w.auditor_role.as_role());
    assert!(matches!(joined.events[..], [DomainEvent::MemberRoleChanged { .. }]));
    let again = d.join_role_group(Some(&mut m), &w.auditor_role, &book, at(6)).unwrap();
    assert!(again.events.is_empty());
    let left = d.leave_role_group(Some(&mut m), &w.auditor_role, &book, at(7)).unwrap();
    assert_eq!((m.role(), left.events.len()), (&Role::Member, 1));
    let mut admin = w.admin.clone();
    assert_eq!(
        d.join_role_group(Some(&mut admin), &w.auditor_role, &book, at(8))
            .unwrap_err(),
        DomainError::RuleViolation(Rule::TargetIsAdmin)
    );
}

#[test]
fn a_group_gets_a_free_slug_and_a_unique_name() {
    let w = World::new(OrgStatus::Active);
    let d = w.directory();
    let book = w.book();
    let (g, out) = d
        .create_role_group(&book, RoleId::from_uuid(id(77)), "Engineering", "Engineering", at(5))
        .unwrap();
    assert_eq!(
        (g.slug().as_str(), g.permissions()),
        ("engineering", CapabilitySet::EMPTY)
    );
    assert!(matches!(out.events[..], [DomainEvent::RoleCreated { .. }]));
    let dup = d.create_role_group(&book, RoleId::from_uuid(id(78)), "AUDITOR", "AUDITOR", at(5));
    assert_eq!(dup.unwrap_err(), DomainError::DuplicateRoleName);
}

#[test]
fn group_slugs_follow_the_contract() {
    let none = |_: &str| false;
    let cases = [
        ("Engineering Team", "engineering-team"),
        ("  --Sales & Marketing!!  ", "sales-marketing"),
        ("", "group"),
        ("a", "a-2"),
        ("Admin", "admin-2"),
        ("under_score-ok", "under_score-ok"),
    ];
    for (input, want) in cases {
        assert_eq!(group_slug(input, none).as_str(), want, "{input:?}");
    }
    let taken = |s: &str| matches!(s, "ops" | "ops-2");
    assert_eq!(group_slug("Ops", taken).as_str(), "ops-3");
    let long = "x".repeat(80);
    let first = group_slug(&long, none);
    assert_eq!(first.as_str().len(), 50);
    let second = group_slug(&long, |s| s == first.as_str());
    assert_eq!(second.as_str(), format!("{}-2", "x".repeat(48)));
}
