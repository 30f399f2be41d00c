//! The store contract suite: plain async checks every store adapter must pass
//! (memory, SeaORM on SQLite, SeaORM on PostgreSQL). Each check gets a fresh, empty store.
//!
//! Checks build their rows through the domain's constructors and decisions, state what the
//! store must do with them as data (tables of cases, expected rows), and never depend on a
//! store's internals. The concurrency checks spawn tasks on the caller's tokio runtime and
//! yield between load and commit, so they interleave on a single-threaded runtime too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use org_domain::branding::{Branding, BrandingRecord};
use org_domain::credentials::{
    BillingCredentials, BillingCredentialsRecord, BillingMode, BillingProvider, OAuthCredentials,
    OAuthCredentialsRecord, OAuthProvider,
};
use org_domain::custom_domain::{CustomDomain, CustomDomainRecord, DomainName, VerificationMethod};
use org_domain::directory::{DirectoryGroup, DirectoryProfile, DirectoryProfileRecord, user_name_key};
use org_domain::mail::{
    Mail, MailOutcome, MailStatus, NewMail, SmtpConfig, SmtpDraft, SmtpSettings, SmtpSettingsRecord,
};
use org_domain::scim_token::{ScimToken, ScimTokenRecord};
use org_domain::webhook::{AttemptOutcome, Delivery, DeliveryStatus, Webhook, WebhookRecord};
use org_domain::{
    Access, Actor, Capability, CapabilitySet, CustomRole, CustomRoleRecord, DeliveryId, Email, EventId, Headcount,
    Invitation, InvitationId, InvitationRecord, InvitationStatus, MailId, Membership, MembershipId, MembershipRecord,
    MembershipStatus, NewOrganization, OrgId, OrgName, OrgState, OrgStatus, Organization, RevokeReason, Role, RoleBook,
    RoleId, RoleName, RoleRef, RoleSlug, RoleUpdate, RotationReplay, ScimTokenId, Session, SessionId, SessionKind,
    Slug, TierId, TokenHash, UpdateOrg, User, UserId, UserRecord, UserVia, WebhookId,
};
use serde_json::json;
use tokio::task::{JoinSet, yield_now};
use uuid::Uuid;

mod services;
pub use services::*;

use crate::chain::{self, Link, Verdict};
use crate::webhooks::{self, DeliveryFilter};

mod siem;
use crate::{
    ActorType, AuditActor, AuditDraft, AuditFilter, AuditLog, AuditPrune, Changeset, ConflictKind, DomainClaim,
    MemberQuery, MemberRow, OrgFilter, OutboxEvent, PageRequest, RefreshMatch, RevocationScope, SessionRevocation,
    Store, StoreError, UniqueKey,
};
pub use siem::*;

// ---------------------------------------------------------------------------------------------
// Rows and helpers
// ---------------------------------------------------------------------------------------------

static NEXT: AtomicU64 = AtomicU64::new(1);

fn uuid() -> Uuid {
    // Time-ordered like UUIDv7 but deterministic per process; unique across checks, and
    // increasing, so rows created later have greater ids.
    Uuid::from_u128((0x0195_0000_0000_7000_8000_u128 << 48) | u128::from(NEXT.fetch_add(1, Ordering::Relaxed)))
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_740_000_000 + secs, 0).single().expect("valid time")
}

fn cs() -> Changeset {
    Changeset::default()
}

fn email(text: &str) -> Email {
    Email::parse(text).unwrap()
}

fn user(address: &str) -> User {
    let id = UserId::from_uuid(uuid());
    User::create(id, email(address), Some("Name".into()), false, UserVia::Cli, t(0)).0
}

/// A user with a fresh, unique e-mail.
fn someone() -> User {
    user(&format!("user{}@x.test", NEXT.fetch_add(1, Ordering::Relaxed)))
}

fn platform_owner(address: &str) -> User {
    let id = UserId::from_uuid(uuid());
    User::create(id, email(address), None, true, UserVia::Cli, t(0)).0
}

/// `u` as stored with its record edited, at the same version.
fn edited_user(u: &User, edit: impl FnOnce(&mut UserRecord)) -> User {
    let mut r = u.record().clone();
    edit(&mut r);
    User::restore(r)
}

/// A new org and its owner's membership, as `Organization::create` makes them.
fn org(slug: &str, owner: &User, at: i64) -> (Organization, Membership) {
    let (o, m, _) = Organization::create(
        NewOrganization {
            id: OrgId::from_uuid(uuid()),
            slug: Slug::parse(slug).unwrap(),
            name: OrgName::parse("Acme Inc").unwrap(),
            owner: owner.id(),
            owner_membership: MembershipId::from_uuid(uuid()),
            status: OrgStatus::Active,
            tier_id: TierId::new("tier_enterprise"),
        },
        t(at),
    );
    (o, m)
}

/// A new, active membership (not yet stored).
fn member(org: OrgId, user: &User, role: Role, at: i64) -> Membership {
    Membership::restore(MembershipRecord {
        id: MembershipId::from_uuid(uuid()),
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

/// `m` with its record edited (a SCIM deactivation, a raw role write), at the same version.
fn edited(m: &Membership, edit: impl FnOnce(&mut MembershipRecord)) -> Membership {
    let mut r = m.record().clone();
    edit(&mut r);
    Membership::restore(r).unwrap()
}

fn with_role(m: &Membership, role: Role) -> Membership {
    edited(m, |r| r.role = role)
}

fn with_status(m: &Membership, status: MembershipStatus) -> Membership {
    edited(m, |r| r.status = status)
}

fn role_slug(text: &str) -> RoleSlug {
    RoleSlug::parse(text).unwrap()
}

fn custom(text: &str) -> Role {
    Role::Custom(role_slug(text))
}

/// A new custom role (not yet stored).
fn custom_role(org: OrgId, slug: &str, name: &str, caps: &[Capability], at: i64) -> CustomRole {
    CustomRole::restore(CustomRoleRecord {
        id: RoleId::from_uuid(uuid()),
        org_id: org,
        slug: role_slug(slug),
        name: RoleName::parse(name).unwrap(),
        description: None,
        permissions: caps.iter().copied().collect(),
        created_at: t(at),
        updated_at: t(at),
        version: 0,
    })
    .unwrap()
}

const fn counts(active: u32, total: u32) -> Headcount {
    Headcount { active, total }
}

fn actor(u: &User) -> Actor {
    Actor {
        user_id: u.id(),
        is_platform_owner: u.is_platform_owner(),
    }
}

/// `u`'s access to `org` through membership `m` (built-in roles).
fn access(org: &Organization, u: &User, m: &Membership) -> Access {
    Access::resolve(org, actor(u), Some(m), None).unwrap()
}

fn audit(org: Option<OrgId>, action: &str, at: i64) -> AuditDraft {
    AuditDraft {
        id: EventId::from_uuid(uuid()),
        org_id: org,
        actor: AuditActor {
            id: "system".into(),
            kind: ActorType::System,
            email: None,
        },
        action: action.into(),
        target_type: Some("organization".into()),
        target_id: org.map(|o| o.to_string()),
        ip_address: Some("203.0.113.7".into()),
        user_agent: Some("curl/8".into()),
        success: true,
        metadata: Some(json!({"slug": "acme", "n": 1})),
        request_id: Some("req-1".into()),
        created_at: t(at),
    }
}

fn event(org: OrgId, ty: &str) -> OutboxEvent {
    OutboxEvent {
        id: EventId::from_uuid(uuid()),
        org_id: org,
        event_type: ty.into(),
        occurred_at: t(1),
        actor_user_id: None,
        actor_email: None,
        target_type: Some("organization".into()),
        target_id: Some(org.to_string()),
        data: json!({"slug": "acme"}),
    }
}

fn invitation(org: OrgId, address: &str, role: Role, token: u8, created: i64) -> Invitation {
    Invitation::restore(InvitationRecord {
        id: InvitationId::from_uuid(uuid()),
        org_id: org,
        email: email(address),
        role,
        status: InvitationStatus::Pending,
        invited_by: UserId::from_uuid(uuid()),
        token_hash: TokenHash([token; 32]),
        ttl_days: 7,
        expires_at: t(created) + Duration::days(7),
        created_at: t(created),
        updated_at: t(created),
        version: 0,
    })
    .unwrap()
}

fn session(user: UserId, org: Option<OrgId>, kind: SessionKind, token: u8) -> Session {
    Session {
        id: SessionId::from_uuid(uuid()),
        user_id: user,
        kind,
        org_id: org,
        refresh_hash: TokenHash([token; 32]),
        previous_hash: None,
        ip_address: None,
        user_agent: None,
        created_at: t(0),
        last_refreshed_at: None,
        expires_at: t(3600),
        absolute_expires_at: t(7200),
        revoked_at: None,
        revoke_reason: None,
        replay: None,
        version: 0,
        service_id: None,
    }
}

fn hook(org: OrgId, name: &str, events: &[&str], active: bool, at: i64) -> Webhook {
    Webhook::restore(WebhookRecord {
        id: WebhookId::from_uuid(uuid()),
        org_id: org,
        name: name.into(),
        url: format!("https://example.com/{name}"),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        is_active: active,
        disabled_reason: None,
        secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy".into(),
        previous_secret: None,
        previous_secret_expires_at: None,
        failing_since: None,
        created_at: t(at),
        updated_at: t(at),
        deleted_at: None,
        version: 0,
    })
}

/// An active org as stored, with its owner and the owner's membership as stored.
#[derive(Clone, Debug)]
struct Seed {
    owner: User,
    org: Organization,
    owner_m: Membership,
}

/// Seeds an owner and an active org in one commit (org row, owner membership, user).
async fn seeded<S: Store>(s: &S, slug: &str) -> Seed {
    let owner = user(&format!("owner@{slug}.test"));
    let (o, m) = org(slug, &owner, 0);
    s.commit(Changeset {
        orgs: vec![o.clone()],
        memberships: vec![m],
        users: vec![owner.clone()],
        ..cs()
    })
    .await
    .unwrap();
    Seed {
        owner: s.user_by_id(owner.id()).await.unwrap().expect("stored user"),
        org: s.org_by_id(o.id()).await.unwrap().expect("stored org"),
        owner_m: s
            .membership(o.id(), owner.id())
            .await
            .unwrap()
            .expect("stored owner membership"),
    }
}

/// New users joining `org` with these roles at `at`, in one commit; returned as stored.
async fn join<S: Store>(s: &S, org: OrgId, roles: &[Role], at: i64) -> Vec<(User, Membership)> {
    let users: Vec<User> = roles.iter().map(|_| someone()).collect();
    let memberships: Vec<Membership> = users
        .iter()
        .zip(roles)
        .map(|(u, r)| member(org, u, r.clone(), at))
        .collect();
    s.commit(Changeset {
        users: users.clone(),
        memberships,
        ..cs()
    })
    .await
    .unwrap();
    let mut out = Vec::new();
    for u in users {
        let m = stored(s, org, &u).await;
        out.push((u.with_version(1), m));
    }
    out
}

/// `u`'s membership in `org` as stored now.
async fn stored<S: Store>(s: &S, org: OrgId, u: &User) -> Membership {
    s.membership(org, u.id()).await.unwrap().expect("membership")
}

async fn headcount<S: Store>(s: &S, org: OrgId) -> Headcount {
    s.org_by_id(org).await.unwrap().expect("org").headcount()
}

/// Commits `changes` expecting `want`; afterwards the org's kept counts are `after`.
async fn expect_commit<S: Store>(
    s: &S,
    what: &str,
    changes: Changeset,
    want: Result<(), StoreError>,
    org: OrgId,
    after: Headcount,
) {
    assert_eq!(s.commit(changes).await, want, "{what}");
    assert_eq!(headcount(s, org).await, after, "{what}: the org's kept counts");
}

async fn audit_total<S: Store>(s: &S, log: AuditLog, filter: &AuditFilter) -> Option<u64> {
    s.audit_entries(log, filter, PageRequest::new(1, 50))
        .await
        .unwrap()
        .total
}

/// Every member of the org, read page by page with keyset positions.
async fn all_members<S: Store>(s: &S, org: OrgId) -> Vec<MemberRow> {
    let mut out: Vec<MemberRow> = Vec::new();
    loop {
        let query = MemberQuery {
            after: out.last().map(|r| (r.membership.joined_at(), r.membership.user_id())),
            limit: 7,
            ..MemberQuery::default()
        };
        let page = s.member_page(org, &query).await.unwrap();
        let Some(first) = page.first() else {
            return out;
        };
        if let Some(after) = query.after {
            let key = (first.membership.joined_at(), first.membership.user_id());
            assert!(key > after, "a keyset page starts at or before its position");
        }
        out.extend(page);
    }
}

/// The actor resolved against the org from `org_context`; `None` when not allowed to act.
async fn act_as<S: Store>(s: &S, slug: &Slug, u: &User) -> Result<Option<(Organization, Access)>, StoreError> {
    let ctx = s.org_context(slug, u.id()).await?.expect("the org");
    Ok(
        Access::resolve(&ctx.org, actor(u), ctx.membership.as_ref(), ctx.role.as_ref())
            .ok()
            .map(|a| (ctx.org, a)),
    )
}

// ---------------------------------------------------------------------------------------------
// Rows, versions and all-or-nothing commits
// ---------------------------------------------------------------------------------------------

pub async fn memberships_of_finds_only_this_orgs_memberships_of_the_named_users<S: Store>(s: Arc<S>) {
    let acme = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let joined = join(&*s, acme.org.id(), &[Role::Member, Role::Admin], 1).await;
    let stranger = other.owner.id();
    let mut found = s
        .memberships_of(
            acme.org.id(),
            &[joined[0].0.id(), joined[1].0.id(), stranger, UserId::from_uuid(uuid())],
        )
        .await
        .unwrap();
    found.sort_by_key(|m| m.user_id());
    let mut expected: Vec<Membership> = joined.iter().map(|(_, m)| m.clone()).collect();
    expected.sort_by_key(|m| m.user_id());
    assert_eq!(
        found, expected,
        "the org's memberships of the named users, nothing of other orgs"
    );
    assert!(s.memberships_of(acme.org.id(), &[]).await.unwrap().is_empty());
}

pub async fn org_membership_and_role_rows_round_trip<S: Store>(s: Arc<S>) {
    let owner = user("owner@acme.test");
    let (o, om) = org("acme", &owner, 0);
    s.commit(Changeset {
        orgs: vec![o.clone()],
        memberships: vec![om.clone()],
        users: vec![owner.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let loaded = s.org_by_slug(o.slug()).await.unwrap().expect("org by slug");
    assert_eq!(
        loaded,
        o.clone().with_version(1),
        "the org row round trips; an insert is stored as version 1"
    );
    assert_eq!(loaded.headcount(), counts(1, 1), "the owner's membership is counted");
    assert_eq!(s.org_by_id(o.id()).await.unwrap(), Some(loaded.clone()));
    assert_eq!(
        s.membership(o.id(), owner.id()).await.unwrap(),
        Some(om.clone().with_version(1))
    );
    assert_eq!(
        s.user_by_id(owner.id()).await.unwrap(),
        Some(owner.clone().with_version(1))
    );
    // A custom role and an admission holding it, written without the org row.
    let role = custom_role(o.id(), "auditor", "Auditor", &[Capability::AuditLogsView], 5);
    let joiner = user("member@acme.test");
    let mut inv = invitation(o.id(), "member@acme.test", role.as_role(), 9, 5);
    let book = RoleBook::new(vec![role.clone()]);
    let (m, _) = loaded
        .accept_invitation(
            &mut inv,
            &joiner,
            None,
            MembershipId::from_uuid(uuid()),
            &book,
            10,
            t(6),
        )
        .unwrap();
    s.commit(Changeset {
        roles: vec![role.clone()],
        memberships: vec![m.clone()],
        users: vec![joiner.clone()],
        invitations: vec![inv.clone()],
        member_cap: Some(10),
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.custom_roles(o.id()).await.unwrap(), [role.clone().with_version(1)]);
    assert_eq!(
        s.membership(o.id(), joiner.id()).await.unwrap(),
        Some(m.with_version(1))
    );
    assert_eq!(
        s.invitation_by_id(inv.record().id).await.unwrap(),
        Some(inv.with_version(1))
    );
    let after = s.org_by_id(o.id()).await.unwrap().unwrap();
    assert_eq!(
        after.state().version,
        1,
        "member writes leave the org row's version alone"
    );
    assert_eq!(after.headcount(), counts(2, 2));
    // An org write round trips its settings.
    let mut renamed = after.clone();
    let upd = UpdateOrg {
        name: Some(OrgName::parse("Acme Renamed").unwrap()),
        ..UpdateOrg::default()
    };
    renamed.update(&access(&after, &owner, &om), upd, t(7)).unwrap();
    s.commit(Changeset {
        orgs: vec![renamed.clone()],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.org_by_id(o.id()).await.unwrap(), Some(renamed.with_version(2)));
}

pub async fn unknown_rows_are_none<S: Store>(s: Arc<S>) {
    let (org, usr) = (OrgId::from_uuid(uuid()), UserId::from_uuid(uuid()));
    let slug = Slug::parse("nope").unwrap();
    assert!(s.org_by_slug(&slug).await.unwrap().is_none());
    assert!(s.org_by_id(org).await.unwrap().is_none());
    assert!(s.org_context(&slug, usr).await.unwrap().is_none());
    assert!(s.membership(org, usr).await.unwrap().is_none());
    assert!(s.member_page(org, &MemberQuery::default()).await.unwrap().is_empty());
    assert!(s.custom_roles(org).await.unwrap().is_empty());
    assert!(s.custom_roles_named(org, &[role_slug("x1")]).await.unwrap().is_empty());
    assert!(s.user_by_id(usr).await.unwrap().is_none());
    assert!(s.user_by_email(&email("x@y.test")).await.unwrap().is_none());
    assert!(
        s.invitation_by_id(InvitationId::from_uuid(uuid()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.invitation_by_token(&TokenHash([1; 32])).await.unwrap().is_none());
    let sid = SessionId::from_uuid(uuid());
    assert!(s.session_by_id(sid).await.unwrap().is_none());
    assert!(s.session_context(sid, None).await.unwrap().is_none());
    assert!(s.audit_head(AuditLog::Org(org)).await.unwrap().is_none());
    assert!(s.audit_head(AuditLog::Platform).await.unwrap().is_none());
    assert!(s.delivery(DeliveryId::from_uuid(uuid())).await.unwrap().is_none());
}

pub async fn updating_or_deleting_a_missing_row_is_not_found<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let ghost = user("ghost@acme.test");
    let (ghost_org, _) = org("ghost", &ghost, 0);
    let ghost_member = member(seed.org.id(), &seed.owner, Role::Member, 0).with_version(3);
    let ghost_role = custom_role(seed.org.id(), "ghost", "Ghost", &[], 0).with_version(3);
    let ghost_hook = hook(seed.org.id(), "ghost", &["member.added"], true, 0);
    let mut ghost_delivery = Delivery::new(
        DeliveryId::from_uuid(uuid()),
        &ghost_hook,
        EventId::from_uuid(uuid()),
        "member.added",
        "{}".into(),
        t(0),
    );
    ghost_delivery.version = 3;
    let mut ghost_session = session(seed.owner.id(), None, SessionKind::Platform, 1);
    ghost_session.version = 3;
    let cases: Vec<(&str, Changeset)> = vec![
        (
            "org",
            Changeset {
                orgs: vec![ghost_org.with_version(3)],
                ..cs()
            },
        ),
        (
            "membership",
            Changeset {
                memberships: vec![ghost_member.clone()],
                ..cs()
            },
        ),
        (
            "removed membership",
            Changeset {
                removed_memberships: vec![ghost_member],
                ..cs()
            },
        ),
        (
            "role",
            Changeset {
                roles: vec![ghost_role.clone()],
                ..cs()
            },
        ),
        (
            "removed role",
            Changeset {
                removed_roles: vec![ghost_role],
                ..cs()
            },
        ),
        (
            "user",
            Changeset {
                users: vec![ghost.with_version(3)],
                ..cs()
            },
        ),
        (
            "invitation",
            Changeset {
                invitations: vec![invitation(seed.org.id(), "g@x.test", Role::Member, 1, 0).with_version(3)],
                ..cs()
            },
        ),
        (
            "session",
            Changeset {
                sessions: vec![ghost_session],
                ..cs()
            },
        ),
        (
            "webhook",
            Changeset {
                webhooks: vec![ghost_hook.with_version(3)],
                ..cs()
            },
        ),
        (
            "delivery",
            Changeset {
                deliveries: vec![ghost_delivery],
                ..cs()
            },
        ),
    ];
    for (what, changes) in cases {
        assert_eq!(s.commit(changes).await, Err(StoreError::NotFound), "{what}");
    }
}

pub async fn inserting_an_existing_row_conflicts<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let role = custom_role(seed.org.id(), "auditor", "Auditor", &[], 1);
    s.commit(Changeset {
        roles: vec![role.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let newcomer = someone();
    let cases: Vec<(&str, Changeset, Option<UniqueKey>)> = vec![
        (
            "org id",
            Changeset {
                orgs: vec![seed.org.clone().with_version(0)],
                ..cs()
            },
            None,
        ),
        (
            "user id",
            Changeset {
                users: vec![seed.owner.clone().with_version(0)],
                ..cs()
            },
            None,
        ),
        (
            "membership id",
            Changeset {
                memberships: vec![seed.owner_m.clone().with_version(0)],
                ..cs()
            },
            None,
        ),
        (
            "role id",
            Changeset {
                roles: vec![role.clone().with_version(0)],
                ..cs()
            },
            None,
        ),
        (
            "a second membership of one user",
            Changeset {
                memberships: vec![member(seed.org.id(), &seed.owner, Role::Member, 1)],
                ..cs()
            },
            Some(UniqueKey::Membership),
        ),
        (
            "one user joining twice in one commit",
            Changeset {
                users: vec![newcomer.clone()],
                memberships: vec![
                    member(seed.org.id(), &newcomer, Role::Member, 1),
                    member(seed.org.id(), &newcomer, Role::Admin, 1),
                ],
                ..cs()
            },
            Some(UniqueKey::Membership),
        ),
    ];
    for (what, changes, key) in cases {
        let err = s.commit(changes).await.unwrap_err();
        match key {
            Some(key) => assert_eq!(err, StoreError::Conflict(ConflictKind::Unique(key)), "{what}"),
            None => assert!(
                matches!(err, StoreError::Conflict(ConflictKind::Unique(_))),
                "{what}: {err:?}"
            ),
        }
    }
    assert!(
        s.user_by_id(newcomer.id()).await.unwrap().is_none(),
        "a failed commit wrote its user"
    );
    assert_eq!(headcount(&*s, seed.org.id()).await, counts(1, 1));
}

pub async fn slugs_are_unique_among_live_orgs<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = user("other@acme.test");
    let (dup, dup_owner) = org("acme", &other, 1);
    let again = Changeset {
        orgs: vec![dup.clone()],
        memberships: vec![dup_owner],
        users: vec![other.clone()],
        ..cs()
    };
    let err = s.commit(again.clone()).await.unwrap_err();
    assert_eq!(err, StoreError::Conflict(ConflictKind::Unique(UniqueKey::OrgSlug)));
    assert!(
        s.user_by_id(other.id()).await.unwrap().is_none(),
        "the failed changeset left its user behind"
    );
    assert!(s.membership(dup.id(), other.id()).await.unwrap().is_none());
    let mut o = seed.org.clone();
    o.delete(&access(&seed.org, &seed.owner, &seed.owner_m), t(2)).unwrap();
    s.commit(Changeset {
        orgs: vec![o.clone()],
        ..cs()
    })
    .await
    .unwrap();
    assert!(
        s.org_by_slug(o.slug()).await.unwrap().is_none(),
        "a deleted org is not found by slug"
    );
    assert!(
        s.org_by_id(o.id())
            .await
            .unwrap()
            .expect("deleted org by id")
            .is_deleted()
    );
    s.commit(again).await.unwrap();
    assert_eq!(
        s.org_by_slug(o.slug()).await.unwrap().unwrap().id(),
        dup.id(),
        "the slug is free again"
    );
    let (u1, u2) = (someone(), someone());
    let (first, second) = (org("twins", &u1, 3), org("twins", &u2, 3));
    let err = s
        .commit(Changeset {
            orgs: vec![first.0, second.0],
            memberships: vec![first.1, second.1],
            users: vec![u1, u2],
            ..cs()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict(ConflictKind::Unique(UniqueKey::OrgSlug)),
        "two new orgs with one slug in one commit"
    );
}

pub async fn stale_versions_conflict<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let role = custom_role(seed.org.id(), "auditor", "Auditor", &[], 1);
    s.commit(Changeset {
        roles: vec![role.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let role = s.custom_roles(seed.org.id()).await.unwrap().remove(0);
    let acc = access(&seed.org, &seed.owner, &seed.owner_m);
    // Two writers load the same org row and the same role; the second of each loses.
    let renamed = |name: &str| {
        let mut o = seed.org.clone();
        let upd = UpdateOrg {
            name: Some(OrgName::parse(name).unwrap()),
            ..UpdateOrg::default()
        };
        o.update(&acc, upd, t(3)).unwrap();
        o
    };
    let role_named = |name: &str| {
        let upd = RoleUpdate {
            name: Some(RoleName::parse(name).unwrap()),
            ..RoleUpdate::default()
        };
        acc.update_role(
            &RoleBook::new(vec![role.clone()]),
            &RoleRef::Custom(role.id()),
            upd,
            t(3),
        )
        .unwrap()
        .0
    };
    let owner_named = |name: &str| edited_user(&seed.owner, |r| r.name = Some(name.into()));
    let cases: Vec<(&str, Changeset, Changeset)> = vec![
        (
            "org row",
            Changeset {
                orgs: vec![renamed("One Inc")],
                ..cs()
            },
            Changeset {
                orgs: vec![renamed("Two Inc")],
                ..cs()
            },
        ),
        (
            "custom role",
            Changeset {
                roles: vec![role_named("One")],
                ..cs()
            },
            Changeset {
                roles: vec![role_named("Two")],
                ..cs()
            },
        ),
        (
            "user",
            Changeset {
                users: vec![owner_named("One")],
                ..cs()
            },
            Changeset {
                users: vec![owner_named("Two")],
                ..cs()
            },
        ),
    ];
    for (what, first, mut second) in cases {
        s.commit(first).await.unwrap();
        second.audit = vec![audit(Some(seed.org.id()), "stale.write", 3)];
        assert_eq!(
            s.commit(second).await,
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
            "{what}"
        );
    }
    let o = s.org_by_id(seed.org.id()).await.unwrap().unwrap();
    assert_eq!(
        (o.state().name.as_str(), o.state().version),
        ("One Inc", 2),
        "lost update"
    );
    let r = s.custom_roles(seed.org.id()).await.unwrap().remove(0);
    assert_eq!(
        (r.record().name.as_str(), r.record().version),
        ("One", 2),
        "lost update"
    );
    let u = s.user_by_id(seed.owner.id()).await.unwrap().unwrap();
    assert_eq!((u.name(), u.record().version), (Some("One"), 2), "lost update");
    assert_eq!(
        audit_total(&*s, AuditLog::Org(seed.org.id()), &AuditFilter::default()).await,
        Some(0),
        "the audit entry of a stale commit was stored"
    );
}

pub async fn a_failed_commit_leaves_nothing_behind<S: Store>(s: Arc<S>) {
    let existing = seeded(&*s, "first").await;
    let owner = user("new-owner@acme.test");
    let (o, om) = org("acme", &owner, 1);
    let clash = User::create(
        UserId::from_uuid(uuid()),
        existing.owner.email().clone(),
        None,
        false,
        UserVia::Cli,
        t(1),
    )
    .0;
    let joiner = someone();
    let role = custom_role(o.id(), "auditor", "Auditor", &[], 1);
    let other_role = custom_role(existing.org.id(), "viewer", "Viewer", &[], 1);
    let changes = Changeset {
        orgs: vec![o.clone()],
        memberships: vec![om, member(existing.org.id(), &joiner, Role::Member, 1)],
        roles: vec![role, other_role],
        users: vec![owner.clone(), joiner.clone(), clash],
        audit: vec![audit(Some(o.id()), "org.created", 1)],
        events: vec![event(o.id(), "organization.created")],
        ..cs()
    };
    let err = s.commit(changes).await.unwrap_err();
    assert_eq!(err, StoreError::Conflict(ConflictKind::Unique(UniqueKey::UserEmail)));
    assert!(s.org_by_id(o.id()).await.unwrap().is_none(), "state written");
    assert!(s.user_by_id(owner.id()).await.unwrap().is_none(), "user written");
    assert!(
        s.membership(o.id(), owner.id()).await.unwrap().is_none(),
        "membership written"
    );
    assert!(
        s.membership(existing.org.id(), joiner.id()).await.unwrap().is_none(),
        "membership written"
    );
    assert!(s.custom_roles(o.id()).await.unwrap().is_empty(), "role written");
    assert!(
        s.custom_roles(existing.org.id()).await.unwrap().is_empty(),
        "role written"
    );
    assert_eq!(headcount(&*s, existing.org.id()).await, counts(1, 1), "counts moved");
    assert_eq!(
        audit_total(&*s, AuditLog::Org(o.id()), &AuditFilter::default()).await,
        Some(0),
        "audit written"
    );
    assert!(
        s.audit_head(AuditLog::Org(o.id())).await.unwrap().is_none(),
        "audit head moved"
    );
    assert!(s.org_events(o.id()).await.unwrap().is_empty(), "events written");
}

pub async fn state_audit_and_events_commit_together<S: Store>(s: Arc<S>) {
    let owner = user("owner@acme.test");
    let (o, om) = org("acme", &owner, 0);
    let changes = Changeset {
        orgs: vec![o.clone()],
        memberships: vec![om],
        users: vec![owner.clone()],
        audit: vec![audit(Some(o.id()), "org.created", 0), audit(None, "user.created", 0)],
        events: vec![event(o.id(), "organization.created")],
        ..cs()
    };
    s.commit(changes.clone()).await.unwrap();
    let org_log = s
        .audit_entries(AuditLog::Org(o.id()), &AuditFilter::default(), PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(org_log.total, Some(1));
    assert_eq!(
        org_log.items[0].entry, changes.audit[0],
        "audit entry survives a round trip"
    );
    assert_eq!(org_log.items[0].seq, 1);
    let platform = s
        .audit_entries(AuditLog::Platform, &AuditFilter::default(), PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(
        platform
            .items
            .iter()
            .map(|e| e.entry.action.as_str())
            .collect::<Vec<_>>(),
        ["user.created"]
    );
    assert_eq!(
        s.org_events(o.id()).await.unwrap(),
        changes.events,
        "event survives a round trip"
    );
}

fn links(entries: &[crate::AuditEntry]) -> Vec<Link> {
    entries
        .iter()
        .map(|e| Link {
            seq: e.seq,
            object: chain::chained_object(e.seq, &e.entry),
            prev_hash: e.prev_hash,
            hash: e.hash,
        })
        .collect()
}

pub async fn audit_seq_follows_commit_order_per_log<S: Store>(s: Arc<S>) {
    let a = seeded(&*s, "alpha").await.org;
    let b = seeded(&*s, "bravo").await.org;
    for (i, org) in [a.id(), b.id(), a.id(), a.id()].into_iter().enumerate() {
        let at = i64::try_from(i).unwrap();
        s.commit(Changeset {
            audit: vec![audit(Some(org), &format!("step.{i}"), at)],
            ..cs()
        })
        .await
        .unwrap();
    }
    let log = s
        .audit_entries(AuditLog::Org(a.id()), &AuditFilter::default(), PageRequest::new(1, 50))
        .await
        .unwrap();
    let seqs: Vec<(u64, &str)> = log.items.iter().map(|e| (e.seq, e.entry.action.as_str())).collect();
    assert_eq!(
        seqs,
        [(3, "step.3"), (2, "step.2"), (1, "step.0")],
        "newest first, seq per log without gaps"
    );
    let filter = AuditFilter {
        action: Some("step.2".into()),
        ..Default::default()
    };
    assert_eq!(audit_total(&*s, AuditLog::Org(a.id()), &filter).await, Some(1));
    let window = AuditFilter {
        since: Some(t(2)),
        until: Some(t(3)),
        ..Default::default()
    };
    let w = s
        .audit_entries(AuditLog::Org(a.id()), &window, PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(
        w.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2],
        "since is inclusive, until exclusive"
    );
    let after_first = AuditFilter {
        before: Some((log.items[0].entry.created_at, log.items[0].seq)),
        ..Default::default()
    };
    let keyset = s
        .audit_entries(AuditLog::Org(a.id()), &after_first, PageRequest::new(1, 1))
        .await
        .unwrap();
    assert_eq!(
        (keyset.items.iter().map(|e| e.seq).collect::<Vec<_>>(), keyset.total),
        (vec![2], None),
        "keyset: strictly older than the cursor, not counted"
    );
    let paged = s
        .audit_entries(AuditLog::Org(a.id()), &AuditFilter::default(), PageRequest::new(2, 2))
        .await
        .unwrap();
    assert_eq!((paged.total, paged.items.len(), paged.items[0].seq), (Some(3), 1, 1));
    // The stored chain verifies from the zero hash, and every hash is recomputable (§8.3).
    let mut ascending = log.items.clone();
    ascending.reverse();
    let chained = links(&ascending);
    let verdict = chain::verify(&chained, Some(chain::GENESIS), true);
    assert_eq!(
        verdict,
        Verdict::Intact {
            entries: 3,
            head: Some(chained[2].hash),
            complete: true
        }
    );
    assert_eq!(chained[0].prev_hash, chain::GENESIS);
    let chunk = s.audit_chain(AuditLog::Org(a.id()), 1, 1).await.unwrap();
    assert_eq!(
        chunk.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2],
        "ascending after a seq, limited"
    );
    let rest = s.audit_chain(AuditLog::Org(a.id()), 0, 100).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(s.audit_chain(AuditLog::Platform, 0, 100).await.unwrap().is_empty());
}

pub async fn pruning_deletes_a_prefix_and_keeps_the_rest_anchored<S: Store>(s: Arc<S>) {
    let a = seeded(&*s, "alpha").await.org;
    let b = seeded(&*s, "bravo").await.org;
    let log = AuditLog::Org(a.id());
    for i in 0..5 {
        s.commit(Changeset {
            audit: vec![
                audit(Some(a.id()), &format!("step.{i}"), i),
                audit(Some(b.id()), "other", i),
            ],
            ..cs()
        })
        .await
        .unwrap();
    }
    let before = s.audit_chain(log, 0, 100).await.unwrap();
    assert_eq!(before.len(), 5);
    let third = before[2].hash;
    s.commit(Changeset {
        audit_prunes: vec![AuditPrune {
            log,
            through_seq: 3,
            count: 3,
        }],
        audit: vec![audit(Some(a.id()), "audit.pruned", 10)],
        ..cs()
    })
    .await
    .unwrap();
    // A second process that read the same range prunes nothing and writes no second marker.
    let again = s
        .commit(Changeset {
            audit_prunes: vec![AuditPrune {
                log,
                through_seq: 3,
                count: 3,
            }],
            audit: vec![audit(Some(a.id()), "audit.pruned", 11)],
            ..cs()
        })
        .await;
    assert_eq!(again, Err(StoreError::Conflict(ConflictKind::StaleVersion)));
    let after = s.audit_chain(log, 0, 100).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [4, 5, 6],
        "the prefix is gone"
    );
    assert_eq!(
        after[0].prev_hash, third,
        "the first kept entry links to the pruned head"
    );
    assert_eq!(after[2].entry.action, "audit.pruned");
    assert_eq!(after[2].prev_hash, before[4].hash, "appends continue the chain");
    assert!(matches!(
        chain::verify(&links(&after), None, true),
        Verdict::Intact {
            entries: 3,
            complete: true,
            ..
        }
    ));
    assert_eq!(audit_total(&*s, log, &AuditFilter::default()).await, Some(3));
    let other = s.audit_chain(AuditLog::Org(b.id()), 0, 100).await.unwrap();
    assert_eq!(other.len(), 5, "other logs are untouched");
}

pub async fn users_have_unique_emails_and_versions<S: Store>(s: Arc<S>) {
    let a = user("a@x.test");
    let b = user("b@x.test");
    s.commit(Changeset {
        users: vec![a.clone(), b.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let mut loaded = s.user_by_email(a.email()).await.unwrap().expect("by email");
    assert_eq!((loaded.id(), loaded.record().version), (a.id(), 1));
    let stale = loaded.clone();
    loaded.set_platform_owner(true, t(1)).expect("granted");
    s.commit(Changeset {
        users: vec![loaded.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let err = s
        .commit(Changeset {
            users: vec![edited_user(&stale, |r| r.name = Some("Other".into()))],
            ..cs()
        })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::Conflict(ConflictKind::StaleVersion));
    let stored_b = s.user_by_id(b.id()).await.unwrap().unwrap();
    let cases: Vec<(&str, Vec<User>)> = vec![
        (
            "an e-mail taken by another user",
            vec![edited_user(&stored_b, |r| r.email = a.email().clone())],
        ),
        (
            "one e-mail twice in one commit",
            vec![user("c@x.test"), user("C@x.test")],
        ),
    ];
    for (what, users) in cases {
        let err = s.commit(Changeset { users, ..cs() }).await.unwrap_err();
        assert_eq!(
            err,
            StoreError::Conflict(ConflictKind::Unique(UniqueKey::UserEmail)),
            "{what}"
        );
    }
    let mut both = s
        .users_by_ids(&[a.id(), b.id(), UserId::from_uuid(uuid())])
        .await
        .unwrap();
    both.sort_by_key(|u| u.email().clone());
    assert_eq!(
        both.iter().map(|u| u.email().as_str()).collect::<Vec<_>>(),
        ["a@x.test", "b@x.test"]
    );
    assert!(both[0].is_platform_owner());
}

pub async fn one_pending_invitation_per_org_and_email<S: Store>(s: Arc<S>) {
    let o = seeded(&*s, "acme").await.org;
    let first = invitation(o.id(), "guest@x.test", Role::Member, 1, 0);
    s.commit(Changeset {
        invitations: vec![first.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let second = invitation(o.id(), "guest@x.test", Role::Admin, 2, 1);
    let err = s
        .commit(Changeset {
            invitations: vec![second.clone()],
            ..cs()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict(ConflictKind::Unique(UniqueKey::PendingInvitation))
    );
    let mut pending = s
        .pending_invitation(o.id(), &first.record().email)
        .await
        .unwrap()
        .expect("pending");
    assert_eq!(pending.record().version, 1);
    pending.cancel(t(2)).unwrap();
    s.commit(Changeset {
        invitations: vec![pending, second.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let by_token = s
        .invitation_by_token(&TokenHash([2; 32]))
        .await
        .unwrap()
        .expect("by token");
    assert_eq!(by_token.record().id, second.record().id);
    assert_eq!(
        s.invitation_by_id(first.record().id)
            .await
            .unwrap()
            .unwrap()
            .record()
            .status,
        InvitationStatus::Cancelled
    );
}

pub async fn invitation_lists_see_expiry<S: Store>(s: Arc<S>) {
    let o = seeded(&*s, "acme").await.org;
    let old = invitation(o.id(), "old@x.test", Role::Member, 1, 0);
    let fresh = invitation(o.id(), "fresh@x.test", Role::Admin, 2, 100);
    s.commit(Changeset {
        invitations: vec![old.clone(), fresh.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let now = t(0) + Duration::days(7) + Duration::seconds(50);
    let ids = |page: crate::Page<Invitation>| page.items.iter().map(|i| i.record().id).collect::<Vec<_>>();
    let all = s
        .org_invitations(o.id(), None, now, PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(all.total, Some(2));
    assert_eq!(ids(all), [fresh.record().id, old.record().id], "newest first");
    let expired = s
        .org_invitations(o.id(), Some(InvitationStatus::Expired), now, PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(ids(expired), [old.record().id]);
    let pending = s
        .org_invitations(o.id(), Some(InvitationStatus::Pending), now, PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(pending.total, Some(1));
    let mine = s.pending_invitations_for(&email("OLD@x.test"), now).await.unwrap();
    assert!(mine.is_empty(), "an expired invitation is not offered to the invitee");
    let mine = s.pending_invitations_for(&email("fresh@x.test"), now).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(s.count_pending_with_role(o.id(), "admin", now).await.unwrap(), 1);
    assert_eq!(
        s.count_pending_with_role(o.id(), "member", now).await.unwrap(),
        0,
        "expired ones do not count"
    );
    assert_eq!(
        s.pending_org_invitations(o.id()).await.unwrap().len(),
        2,
        "stored pending, expired or not"
    );
}

pub async fn sessions_are_revoked_by_scope<S: Store>(s: Arc<S>) {
    let Seed { owner, org: o, .. } = seeded(&*s, "acme").await;
    let Seed {
        owner: other_owner,
        org: other,
        ..
    } = seeded(&*s, "other").await;
    let in_org = session(owner.id(), Some(o.id()), SessionKind::Org, 1);
    let platform = session(owner.id(), None, SessionKind::Platform, 2);
    let service = session(owner.id(), Some(o.id()), SessionKind::Service, 3);
    let elsewhere = session(other_owner.id(), Some(other.id()), SessionKind::Org, 4);
    let all = vec![in_org.clone(), platform.clone(), service.clone(), elsewhere.clone()];
    s.commit(Changeset { sessions: all, ..cs() }).await.unwrap();
    let revoke = |scope, reason| SessionRevocation {
        scope,
        reason,
        at: t(9),
    };
    let reason = |id| {
        let s = s.clone();
        async move { s.session_by_id(id).await.unwrap().unwrap().revoke_reason }
    };
    let steps = [
        (
            revoke(
                RevocationScope::MemberOfOrg(o.id(), owner.id()),
                RevokeReason::MemberRemoved,
            ),
            [Some(RevokeReason::MemberRemoved), None, None, None],
        ),
        (
            revoke(RevocationScope::Org(o.id()), RevokeReason::OrgSuspended),
            [
                Some(RevokeReason::MemberRemoved),
                None,
                Some(RevokeReason::OrgSuspended),
                None,
            ],
        ),
        (
            revoke(RevocationScope::User(owner.id()), RevokeReason::UserDisabled),
            [
                Some(RevokeReason::MemberRemoved),
                Some(RevokeReason::UserDisabled),
                Some(RevokeReason::OrgSuspended),
                None,
            ],
        ),
    ];
    // Service sessions are not member sessions; the first reason stays; other orgs are untouched.
    for (i, (revocation, want)) in steps.into_iter().enumerate() {
        s.commit(Changeset {
            revocations: vec![revocation],
            ..cs()
        })
        .await
        .unwrap();
        let mut got = Vec::new();
        for id in [in_org.id, platform.id, service.id, elsewhere.id] {
            got.push(reason(id).await);
        }
        assert_eq!(got, want, "after revocation {i}");
    }
    let Some(RefreshMatch::Current(found)) = s.session_by_refresh_hash(&TokenHash([4; 32])).await.unwrap() else {
        panic!("the current token finds its session");
    };
    assert_eq!(found.id, elsewhere.id);
    // Two rotations: 4 → 5 → 6. Every consumed token still names the session, with the time
    // its rotation consumed it; the current one is the current one.
    let mut rotated = found.clone();
    for (next, at) in [(5, 10), (6, 20)] {
        rotated.previous_hash = Some((rotated.refresh_hash, t(at)));
        rotated.refresh_hash = TokenHash([next; 32]);
        rotated.replay = Some(RotationReplay {
            access_token: format!("access-{next}"),
            refresh_token: format!("refresh-{next}"),
        });
        s.commit(Changeset {
            sessions: vec![rotated.clone()],
            ..cs()
        })
        .await
        .unwrap();
        rotated.version += 1;
    }
    for (token, at) in [(4, 10), (5, 20)] {
        match s.session_by_refresh_hash(&TokenHash([token; 32])).await.unwrap() {
            Some(RefreshMatch::Consumed { session, consumed_at }) => {
                assert_eq!((session.id, consumed_at), (elsewhere.id, t(at)), "ancestor {token}");
                assert_eq!(session.refresh_hash, TokenHash([6; 32]), "read as it stands now");
            }
            other => panic!("ancestor {token} is recognised as consumed, got {other:?}"),
        }
    }
    assert_eq!(
        s.session_by_refresh_hash(&TokenHash([6; 32])).await.unwrap(),
        Some(RefreshMatch::Current(rotated.clone())),
        "a rotation round trips, its replay window included"
    );
    assert_eq!(s.session_by_refresh_hash(&TokenHash([7; 32])).await.unwrap(), None);
    // A write that does not rotate (a revocation) keeps the family's ancestors.
    let mut revoked = rotated.clone();
    revoked.revoke(RevokeReason::Logout, t(30));
    s.commit(Changeset {
        sessions: vec![revoked],
        ..cs()
    })
    .await
    .unwrap();
    assert!(matches!(
        s.session_by_refresh_hash(&TokenHash([4; 32])).await.unwrap(),
        Some(RefreshMatch::Consumed { .. })
    ));
    let err = s
        .commit(Changeset {
            sessions: vec![rotated],
            ..cs()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict(ConflictKind::StaleVersion),
        "rotation is a compare-and-swap"
    );
}

pub async fn a_session_is_read_with_its_user<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other-org").await;
    let mine = session(seed.owner.id(), Some(seed.org.id()), SessionKind::Org, 1);
    s.commit(Changeset {
        sessions: vec![mine.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let read = s
        .session_context(mine.id, None)
        .await
        .unwrap()
        .expect("session and user");
    assert_eq!(
        read.session,
        Session {
            version: 1,
            ..mine.clone()
        }
    );
    assert_eq!(read.user, seed.owner);
    assert_eq!(read.org, None, "no org asked for");
    // With an org: the org, the user's membership there (or none) and its custom role.
    let acme = s
        .session_context(mine.id, Some(seed.org.slug().clone()))
        .await
        .unwrap()
        .unwrap();
    let ctx = acme.org.expect("the org");
    assert_eq!(ctx.org.id(), seed.org.id());
    assert_eq!(ctx.membership.map(|m| m.user_id()), Some(seed.owner.id()));
    assert_eq!(ctx.role, None);
    let foreign = s
        .session_context(mine.id, Some(other.org.slug().clone()))
        .await
        .unwrap()
        .unwrap();
    let ctx = foreign.org.expect("another org is still found");
    assert_eq!((ctx.org.id(), ctx.membership), (other.org.id(), None));
    let unknown = Slug::parse("no-such-org").unwrap();
    assert_eq!(
        s.session_context(mine.id, Some(unknown)).await.unwrap().unwrap().org,
        None
    );
    assert!(
        s.session_context(SessionId::from_uuid(uuid()), Some(seed.org.slug().clone()))
            .await
            .unwrap()
            .is_none()
    );
    let mut disabled = seed.owner.clone();
    disabled.set_disabled(true, t(5)).expect("disabled");
    s.commit(Changeset {
        users: vec![disabled],
        ..cs()
    })
    .await
    .unwrap();
    let read = s.session_context(mine.id, None).await.unwrap().unwrap();
    assert!(!read.user.is_enabled(), "the user is read as it is now");
}

pub async fn org_lists_order_and_filter<S: Store>(s: Arc<S>) {
    let alpha = seeded(&*s, "alpha").await;
    let bravo = seeded(&*s, "bravo-team").await;
    let charlie = seeded(&*s, "charlie").await;
    let delta = seeded(&*s, "delta").await;
    let me = alpha.owner.clone();
    let auditor = custom_role(bravo.org.id(), "auditor", "Auditor", &[Capability::AuditLogsView], 4);
    s.commit(Changeset {
        roles: vec![auditor.clone()],
        memberships: vec![
            member(bravo.org.id(), &me, auditor.as_role(), 5),
            with_status(
                &member(charlie.org.id(), &me, Role::Member, 6),
                MembershipStatus::Deactivated,
            ),
            member(delta.org.id(), &me, Role::Member, 7),
        ],
        ..cs()
    })
    .await
    .unwrap();
    let root = Actor {
        user_id: bravo.owner.id(),
        is_platform_owner: true,
    };
    let mut suspended = alpha.org.clone();
    suspended.suspend(&root, None, t(6)).unwrap();
    let mut deleted = delta.org.clone();
    deleted
        .delete(&access(&delta.org, &delta.owner, &delta.owner_m), t(8))
        .unwrap();
    s.commit(Changeset {
        orgs: vec![suspended, deleted],
        ..cs()
    })
    .await
    .unwrap();
    let slugs = |page: &crate::Page<crate::OrgContext>| {
        page.items
            .iter()
            .map(|c| c.org.slug().as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let mine = s.orgs_of_member(me.id(), None, PageRequest::new(1, 20)).await.unwrap();
    assert_eq!(
        (slugs(&mine), mine.total),
        (vec!["alpha".to_owned(), "bravo-team".to_owned()], Some(2)),
        "active memberships of live orgs, oldest membership first"
    );
    let (own, held) = (&mine.items[0], &mine.items[1]);
    assert_eq!(
        (own.membership.as_ref().map(|m| m.role().clone()), own.role.as_ref()),
        (Some(Role::Owner), None)
    );
    assert_eq!(
        held.membership.as_ref().map(|m| m.role().clone()),
        Some(auditor.as_role())
    );
    assert_eq!(
        held.role,
        Some(auditor.clone().with_version(1)),
        "with the custom role held"
    );
    let second = s.orgs_of_member(me.id(), None, PageRequest::new(2, 1)).await.unwrap();
    assert_eq!((slugs(&second), second.total), (vec!["bravo-team".to_owned()], Some(2)));
    let active = s
        .orgs_of_member(me.id(), Some(OrgStatus::Active), PageRequest::new(1, 20))
        .await
        .unwrap();
    assert_eq!(slugs(&active), ["bravo-team"]);
    assert_eq!(s.count_orgs_owned_by(me.id()).await.unwrap(), 1);
    assert_eq!(
        s.count_orgs_owned_by(delta.owner.id()).await.unwrap(),
        0,
        "deleted orgs do not count"
    );
    let q = OrgFilter {
        q: Some("BRAVO".into()),
        status: None,
    };
    let found = s.list_orgs(&q, PageRequest::new(1, 20)).await.unwrap();
    assert_eq!((found.total, found.items[0].id()), (Some(1), bravo.org.id()));
    let suspended = OrgFilter {
        status: Some(OrgStatus::Suspended),
        q: None,
    };
    assert_eq!(
        s.list_orgs(&suspended, PageRequest::new(1, 20)).await.unwrap().items[0].id(),
        alpha.org.id()
    );
    let page = s
        .list_orgs(&OrgFilter::default(), PageRequest::new(2, 1))
        .await
        .unwrap();
    assert_eq!(
        (page.total, page.items[0].id()),
        (Some(3), bravo.org.id()),
        "oldest first, deleted orgs left out"
    );
}

pub async fn membership_changes_round_trip<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let org_id = seed.org.id();
    let joined = join(&*s, org_id, &[Role::Member, Role::Member], 1).await;
    let ((u1, m1), (u2, _)) = (&joined[0], &joined[1]);
    // The owner transfers to u1: the org row and both memberships in one commit.
    let mut o = seed.org.clone();
    let (mut target, mut previous) = (m1.clone(), seed.owner_m.clone());
    access(&seed.org, &seed.owner, &seed.owner_m)
        .transfer_ownership(&mut o, Some(&mut target), &mut previous, t(3))
        .unwrap();
    s.commit(Changeset {
        orgs: vec![o],
        memberships: vec![target, previous],
        ..cs()
    })
    .await
    .unwrap();
    let o = s.org_by_id(org_id).await.unwrap().unwrap();
    assert_eq!((o.owner(), o.state().version), (u1.id(), 2));
    let (old, new) = (stored(&*s, org_id, &seed.owner).await, stored(&*s, org_id, u1).await);
    assert_eq!((old.role(), old.record().version), (&Role::Admin, 2));
    assert_eq!((new.role(), new.record().version), (&Role::Owner, 2));
    // The new owner removes u2 and demotes the previous owner, in one commit.
    let acc = access(&o, u1, &new);
    let gone = stored(&*s, org_id, u2).await;
    acc.remove_member(Some(&gone), &RoleBook::default()).unwrap();
    let mut demoted = old.clone();
    acc.change_role(
        &mut o.clone(),
        Some(&mut demoted),
        None,
        Role::Member,
        &RoleBook::default(),
        t(4),
    )
    .unwrap();
    s.commit(Changeset {
        memberships: vec![demoted],
        removed_memberships: vec![gone],
        revocations: vec![SessionRevocation {
            scope: RevocationScope::MemberOfOrg(org_id, u2.id()),
            reason: RevokeReason::MemberRemoved,
            at: t(4),
        }],
        ..cs()
    })
    .await
    .unwrap();
    assert!(
        s.membership(org_id, u2.id()).await.unwrap().is_none(),
        "removed membership still stored"
    );
    assert_eq!(stored(&*s, org_id, &seed.owner).await.role(), &Role::Member);
    let o = s.org_by_id(org_id).await.unwrap().unwrap();
    assert_eq!((o.headcount(), o.state().version), (counts(2, 2), 2));
    let listed: Vec<UserId> = all_members(&*s, org_id).await.iter().map(|r| r.user.id()).collect();
    assert_eq!(listed, [seed.owner.id(), u1.id()]);
}

pub async fn events_fan_out_to_subscribed_active_endpoints<S: Store>(s: Arc<S>) {
    let o = seeded(&*s, "acme").await.org;
    let other = seeded(&*s, "other").await.org;
    let a = hook(o.id(), "a", &["member.added", "role.created"], true, 1);
    let b = hook(o.id(), "b", &["role.created"], true, 1);
    let c = hook(o.id(), "c", &["member.added"], false, 1);
    let mut d = hook(o.id(), "d", &["member.added"], true, 1);
    let foreign = hook(other.id(), "f", &["member.added"], true, 1);
    s.commit(Changeset {
        webhooks: vec![a.clone(), b, c, d.clone(), foreign],
        ..cs()
    })
    .await
    .unwrap();
    // In one changeset: a new endpoint (included), a deleted one (excluded), and the event.
    let e = hook(o.id(), "e", &["member.added"], true, 2);
    let mut deleted = d.record().clone();
    deleted.version = 1;
    deleted.deleted_at = Some(t(2));
    d = Webhook::restore(deleted);
    let mut ev = event(o.id(), "member.added");
    ev.actor_email = Some("owner@acme.test".into());
    s.commit(Changeset {
        webhooks: vec![e.clone(), d],
        events: vec![ev.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let mut got: Vec<WebhookId> = Vec::new();
    for w in [a.id(), e.id()] {
        let page = s
            .webhook_deliveries(w, &DeliveryFilter::default(), PageRequest::new(1, 10))
            .await
            .unwrap();
        assert_eq!(page.total, Some(1), "one delivery per subscriber");
        let del = &page.items[0];
        assert_eq!(
            (del.event_id, del.event_type.as_str(), del.status),
            (ev.id, "member.added", DeliveryStatus::Pending)
        );
        assert_eq!(del.next_retry_at, Some(ev.occurred_at), "due at once");
        assert_eq!(del.payload, webhooks::envelope(&ev), "the exact envelope is stored");
        got.push(del.webhook_id);
    }
    assert_eq!(got, [a.id(), e.id()]);
    assert_eq!(s.pending_count().await.unwrap(), 2);
    let hooks = s.org_webhooks(o.id()).await.unwrap();
    assert_eq!(
        hooks.iter().map(|h| h.name()).collect::<Vec<_>>(),
        ["a", "b", "c", "e"],
        "deleted endpoints are not listed"
    );
    assert!(
        s.webhook(other.id(), a.id()).await.unwrap().is_none(),
        "another org's endpoint"
    );
}

pub async fn due_deliveries_are_claimed_under_a_lease<S: Store>(s: Arc<S>) {
    let o = seeded(&*s, "acme").await.org;
    let a = hook(o.id(), "a", &["member.added"], true, 0);
    let ev = event(o.id(), "member.added");
    s.commit(Changeset {
        webhooks: vec![a.clone()],
        events: vec![ev],
        ..cs()
    })
    .await
    .unwrap();
    let now = t(10);
    let lease = Duration::seconds(60);
    let claimed = s.claim_due(now, now + lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].next_retry_at, Some(now + lease));
    assert!(
        s.claim_due(now, now + lease, 10).await.unwrap().is_empty(),
        "claimed twice"
    );
    let later = now + Duration::seconds(61);
    let again = s.claim_due(later, later + lease, 10).await.unwrap();
    assert_eq!(again.len(), 1, "an expired lease makes the delivery due again");
    let mut done = again[0].clone();
    done.record(
        AttemptOutcome::Delivered {
            status: 200,
            body: "ok".into(),
        },
        now,
        0.0,
    );
    let stale = claimed[0].clone();
    s.commit(Changeset {
        deliveries: vec![done.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let err = s
        .commit(Changeset {
            deliveries: vec![stale],
            ..cs()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict(ConflictKind::StaleVersion),
        "a lost lease cannot overwrite"
    );
    assert!(s.claim_due(t(100_000), t(100_060), 10).await.unwrap().is_empty());
    assert_eq!(s.pending_count().await.unwrap(), 0);
    let stored = s.delivery(done.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.response_status_code, stored.attempt_count),
        (DeliveryStatus::Delivered, Some(200), 1)
    );
    let filters = [
        (
            DeliveryFilter {
                delivered: Some(true),
                ..DeliveryFilter::default()
            },
            Some(1),
        ),
        (
            DeliveryFilter {
                status: Some(DeliveryStatus::Failed),
                ..DeliveryFilter::default()
            },
            Some(0),
        ),
    ];
    for (filter, total) in filters {
        let page = s
            .webhook_deliveries(a.id(), &filter, PageRequest::new(1, 10))
            .await
            .unwrap();
        assert_eq!(page.total, total, "{filter:?}");
    }
    assert!(s.pending_deliveries(a.id()).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Memberships and custom roles as their own rows; the org's kept counts
// ---------------------------------------------------------------------------------------------

pub async fn headcount_is_kept_from_membership_writes_never_from_org_rows<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let (a, b, c, d) = (someone(), someone(), someone(), someone());
    let (ma, mb) = (member(id, &a, Role::Member, 1), member(id, &b, Role::Member, 1));
    let mc = with_status(&member(id, &c, Role::Member, 1), MembershipStatus::Deactivated);
    // An org row loaded with counts (1, 1), then written back after the counts moved, and one
    // carrying made-up counts: neither may set them.
    let mut renamed = seed.org.clone();
    let upd = UpdateOrg {
        name: Some(OrgName::parse("Renamed").unwrap()),
        ..UpdateOrg::default()
    };
    renamed
        .update(&access(&seed.org, &seed.owner, &seed.owner_m), upd, t(2))
        .unwrap();
    let made_up = Organization::restore(OrgState {
        headcount: counts(40, 50),
        ..renamed.state().clone()
    })
    .unwrap()
    .with_version(2);
    // Versions are predictable: an insert is stored as 1, each update adds 1.
    let v = |m: &Membership, version: u64| m.clone().with_version(version);
    let steps: Vec<(&str, Changeset, Headcount)> = vec![
        (
            "two members join",
            Changeset {
                users: vec![a, b],
                memberships: vec![ma.clone(), mb.clone()],
                ..cs()
            },
            counts(3, 3),
        ),
        (
            "a deactivated member joins",
            Changeset {
                users: vec![c],
                memberships: vec![mc.clone()],
                ..cs()
            },
            counts(3, 4),
        ),
        (
            "a member is deactivated",
            Changeset {
                memberships: vec![with_status(&v(&ma, 1), MembershipStatus::Deactivated)],
                ..cs()
            },
            counts(2, 4),
        ),
        (
            "a member is reactivated",
            Changeset {
                memberships: vec![with_status(&v(&mc, 1), MembershipStatus::Active)],
                ..cs()
            },
            counts(3, 4),
        ),
        (
            "a role changes",
            Changeset {
                memberships: vec![with_role(&v(&mb, 1), Role::Admin)],
                ..cs()
            },
            counts(3, 4),
        ),
        (
            "an org row written with the counts it was loaded with",
            Changeset {
                orgs: vec![renamed],
                ..cs()
            },
            counts(3, 4),
        ),
        (
            "an org row with made-up counts, and a join",
            Changeset {
                orgs: vec![made_up],
                users: vec![d.clone()],
                memberships: vec![member(id, &d, Role::Member, 3)],
                ..cs()
            },
            counts(4, 5),
        ),
        (
            "an active member is removed",
            Changeset {
                removed_memberships: vec![v(&mb, 2)],
                ..cs()
            },
            counts(3, 4),
        ),
        (
            "a deactivated member is removed",
            Changeset {
                removed_memberships: vec![with_status(&v(&ma, 2), MembershipStatus::Deactivated)],
                ..cs()
            },
            counts(3, 3),
        ),
    ];
    for (what, changes, after) in steps {
        expect_commit(&*s, what, changes, Ok(()), id, after).await;
    }
    let o = s.org_by_id(id).await.unwrap().unwrap();
    assert_eq!(
        (o.state().version, o.state().name.as_str()),
        (3, "Renamed"),
        "only the two org writes moved the org row's version"
    );
    let counted = (
        s.count_members(id, None, Some(MembershipStatus::Active)).await.unwrap(),
        s.count_members(id, None, None).await.unwrap(),
    );
    assert_eq!(counted, (3, 3), "the kept counts agree with the rows");
    // A new org's counts start at zero and count its owner's membership, whatever the row says.
    let owner = someone();
    let (fresh, fresh_owner) = org("fresh", &owner, 5);
    let inflated = Organization::restore(OrgState {
        headcount: counts(7, 9),
        ..fresh.state().clone()
    })
    .unwrap();
    let insert = Changeset {
        orgs: vec![inflated],
        memberships: vec![fresh_owner],
        users: vec![owner],
        ..cs()
    };
    expect_commit(
        &*s,
        "an org inserted with made-up counts",
        insert,
        Ok(()),
        fresh.id(),
        counts(1, 1),
    )
    .await;
}

pub async fn membership_writes_are_compare_and_swap_on_their_own_version<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let joined = join(&*s, id, &[Role::Member, Role::Member], 1).await;
    let ((ua, ma), (_, mb)) = (&joined[0], &joined[1]);
    s.commit(Changeset {
        memberships: vec![with_role(ma, Role::Admin)],
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        removed_memberships: vec![mb.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let stale = StoreError::Conflict(ConflictKind::StaleVersion);
    let cases: Vec<(&str, Changeset, StoreError)> = vec![
        (
            "an update at a stale version",
            Changeset {
                memberships: vec![with_role(ma, Role::Member)],
                ..cs()
            },
            stale.clone(),
        ),
        (
            "a delete at a stale version",
            Changeset {
                removed_memberships: vec![ma.clone()],
                ..cs()
            },
            stale,
        ),
        (
            "an update of a deleted membership",
            Changeset {
                memberships: vec![with_role(mb, Role::Admin)],
                ..cs()
            },
            StoreError::NotFound,
        ),
        (
            "a delete of a deleted membership",
            Changeset {
                removed_memberships: vec![mb.clone()],
                ..cs()
            },
            StoreError::NotFound,
        ),
    ];
    for (what, mut changes, err) in cases {
        // Each failing changeset also carries writes that would succeed on their own.
        let bystander = someone();
        changes.users.push(bystander.clone());
        changes.memberships.insert(0, member(id, &bystander, Role::Member, 2));
        changes.roles.push(custom_role(id, "bystander", "Bystander", &[], 2));
        changes.audit.push(audit(Some(id), "member.changed", 2));
        expect_commit(&*s, what, changes, Err(err), id, counts(2, 2)).await;
        assert!(
            s.user_by_id(bystander.id()).await.unwrap().is_none(),
            "{what}: user written"
        );
        assert!(
            s.membership(id, bystander.id()).await.unwrap().is_none(),
            "{what}: membership written"
        );
        assert!(s.custom_roles(id).await.unwrap().is_empty(), "{what}: role written");
        assert_eq!(
            audit_total(&*s, AuditLog::Org(id), &AuditFilter::default()).await,
            Some(0),
            "{what}: audit written"
        );
    }
    let kept = stored(&*s, id, ua).await;
    assert_eq!(
        (kept.role(), kept.record().version),
        (&Role::Admin, 2),
        "the winning write stands"
    );
    assert_eq!(s.org_by_id(id).await.unwrap().unwrap().state().version, 1);
}

pub async fn member_cap_refuses_a_commit_that_raises_the_count_above_it<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let joined = join(&*s, id, &[Role::Member], 1).await;
    let ma = &joined[0].1;
    let (x, y, z) = (someone(), someone(), someone());
    let admit = |u: &User, cap: Option<u32>| Changeset {
        users: vec![u.clone()],
        memberships: vec![member(id, u, Role::Member, 2)],
        member_cap: cap,
        audit: vec![audit(Some(id), "member.added", 2)],
        ..cs()
    };
    let mz = with_status(&member(id, &z, Role::Member, 2), MembershipStatus::Deactivated);
    let over = Err(StoreError::Conflict(ConflictKind::MemberCap));
    let capped = |memberships: Vec<Membership>, cap: u32| Changeset {
        memberships,
        member_cap: Some(cap),
        ..cs()
    };
    let steps: Vec<(&str, Changeset, Result<(), StoreError>, Headcount)> = vec![
        (
            "two admissions past a cap of 3",
            Changeset {
                users: vec![x.clone(), y.clone()],
                memberships: vec![member(id, &x, Role::Member, 2), member(id, &y, Role::Member, 2)],
                member_cap: Some(3),
                audit: vec![audit(Some(id), "member.added", 2)],
                ..cs()
            },
            over.clone(),
            counts(2, 2),
        ),
        (
            "a deactivated member does not count",
            Changeset {
                users: vec![z],
                ..capped(vec![mz.clone()], 2)
            },
            Ok(()),
            counts(2, 3),
        ),
        (
            "a reactivation past the cap",
            capped(
                vec![with_status(&mz.clone().with_version(1), MembershipStatus::Active)],
                2,
            ),
            over.clone(),
            counts(2, 3),
        ),
        ("one admission up to the cap", admit(&x, Some(3)), Ok(()), counts(3, 4)),
        (
            "a role change at the cap",
            capped(vec![with_role(ma, Role::Admin)], 3),
            Ok(()),
            counts(3, 4),
        ),
        (
            "a lowered cap, and a change that adds nobody",
            capped(vec![with_role(&ma.clone().with_version(2), Role::Member)], 1),
            Ok(()),
            counts(3, 4),
        ),
        ("a lowered cap blocks growth", admit(&y, Some(1)), over, counts(3, 4)),
        (
            "without a cap nothing is checked",
            admit(&y, None),
            Ok(()),
            counts(4, 5),
        ),
    ];
    for (what, changes, want, after) in steps {
        expect_commit(&*s, what, changes, want, id, after).await;
    }
    assert_eq!(
        audit_total(&*s, AuditLog::Org(id), &AuditFilter::default()).await,
        Some(2),
        "refused commits wrote their audit entries"
    );
}

pub async fn concurrent_admissions_admit_exactly_up_to_the_cap<S: Store + 'static>(s: Arc<S>) {
    const CANDIDATES: usize = 12;
    const ROOM: u32 = 5;
    let seed = seeded(&*s, "acme").await;
    let cap = 1 + ROOM;
    let mut tasks = JoinSet::new();
    for i in 0..CANDIDATES {
        let (s, slug) = (s.clone(), seed.org.slug().clone());
        tasks.spawn(async move {
            let joiner = someone();
            let org = s.org_by_slug(&slug).await.unwrap().expect("org");
            let token = u8::try_from(i).unwrap();
            let mut inv = invitation(org.id(), joiner.email().as_str(), Role::Member, token, 0);
            yield_now().await;
            let id = MembershipId::from_uuid(uuid());
            let now = t(10 + i64::from(token));
            let Ok((m, _)) = org.accept_invitation(&mut inv, &joiner, None, id, &RoleBook::default(), cap, now) else {
                return false;
            };
            yield_now().await;
            let admission = Changeset {
                users: vec![joiner],
                invitations: vec![inv],
                memberships: vec![m],
                member_cap: Some(cap),
                ..cs()
            };
            match s.commit(admission).await {
                Ok(()) => true,
                Err(StoreError::Conflict(ConflictKind::MemberCap)) => false,
                Err(e) => panic!("admission {i}: {e:?}"),
            }
        });
    }
    let admitted = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
    assert_eq!(admitted, ROOM as usize, "admissions past the cap");
    assert_eq!(headcount(&*s, seed.org.id()).await, counts(cap, cap));
    assert_eq!(
        s.count_members(seed.org.id(), None, Some(MembershipStatus::Active))
            .await
            .unwrap(),
        u64::from(cap)
    );
}

fn renamed_role(r: &CustomRole, name: &str) -> CustomRole {
    let mut rec = r.record().clone();
    rec.name = RoleName::parse(name).unwrap();
    CustomRole::restore(rec).unwrap()
}

pub async fn a_custom_role_in_use_is_never_deleted_or_missing<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let id = seed.org.id();
    let auditor = custom_role(id, "auditor", "Auditor", &[Capability::AuditLogsView], 1);
    let viewer = custom_role(id, "viewer", "Viewer", &[], 1);
    let foreign = custom_role(other.org.id(), "foreign", "Foreign", &[], 1);
    s.commit(Changeset {
        roles: vec![auditor.clone(), viewer.clone(), foreign.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let holder = join(&*s, id, &[auditor.as_role()], 2).await.remove(0).1;
    let (auditor, viewer) = (auditor.with_version(1), viewer.with_version(1));
    let fresh = custom_role(id, "fresh", "Fresh", &[], 3);
    let newcomer = someone();
    let joins = |role: Role| Changeset {
        users: vec![newcomer.clone()],
        memberships: vec![member(id, &newcomer, role, 3)],
        ..cs()
    };
    let in_use = Err(StoreError::Conflict(ConflictKind::RoleInUse));
    let steps: Vec<(&str, Changeset, Result<(), StoreError>)> = vec![
        (
            "deleting a held role",
            Changeset {
                removed_roles: vec![auditor.clone()],
                ..cs()
            },
            in_use.clone(),
        ),
        (
            "holding a role the org does not have",
            joins(custom("ghost")),
            in_use.clone(),
        ),
        ("holding another org's role", joins(foreign.as_role()), in_use.clone()),
        (
            "taking a role deleted in the same commit",
            Changeset {
                memberships: vec![with_role(&holder, viewer.as_role())],
                removed_roles: vec![viewer.clone()],
                ..cs()
            },
            in_use.clone(),
        ),
        (
            "a role created with its first holder",
            Changeset {
                roles: vec![fresh.clone()],
                ..joins(fresh.as_role())
            },
            Ok(()),
        ),
        (
            "the holder moves off and the role goes, in one commit",
            Changeset {
                memberships: vec![with_role(&holder, Role::Member)],
                removed_roles: vec![auditor.clone()],
                ..cs()
            },
            Ok(()),
        ),
        (
            "a role update",
            Changeset {
                roles: vec![renamed_role(&viewer, "Viewer Two")],
                ..cs()
            },
            Ok(()),
        ),
        (
            "deleting at a stale version",
            Changeset {
                removed_roles: vec![viewer.clone()],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
        (
            "deleting a role nobody holds",
            Changeset {
                removed_roles: vec![viewer.clone().with_version(2)],
                ..cs()
            },
            Ok(()),
        ),
    ];
    for (what, changes, want) in steps {
        assert_eq!(s.commit(changes).await, want, "{what}");
    }
    // The newcomer's membership, deactivated, still holds `fresh`.
    let newcomer_m = stored(&*s, id, &newcomer).await;
    let deactivate = with_status(&newcomer_m, MembershipStatus::Deactivated);
    assert_eq!(
        s.commit(Changeset {
            memberships: vec![deactivate],
            removed_roles: vec![fresh.clone().with_version(1)],
            ..cs()
        })
        .await,
        in_use,
        "a deactivated holder still holds the role"
    );
    let slugs = |roles: Vec<CustomRole>| roles.iter().map(|r| r.slug().as_str().to_owned()).collect::<Vec<_>>();
    assert_eq!(slugs(s.custom_roles(id).await.unwrap()), ["fresh"]);
    let named = s
        .custom_roles_named(id, &[role_slug("fresh"), role_slug("auditor"), role_slug("ghost")])
        .await
        .unwrap();
    assert_eq!(named, [fresh.with_version(1)]);
    assert_eq!(slugs(s.custom_roles(other.org.id()).await.unwrap()), ["foreign"]);
    assert_eq!(stored(&*s, id, &newcomer).await.status(), MembershipStatus::Active);
}

/// Live endpoint names are unique per org; a deleted endpoint frees its name; a rename onto a
/// taken name and one name twice in one commit are refused.
pub async fn webhook_names_are_unique_among_live_endpoints<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let id = seed.org.id();
    let sink = hook(id, "sink", &["member.added"], true, 1);
    let spare = hook(id, "spare", &["member.added"], true, 1);
    s.commit(Changeset {
        webhooks: vec![sink.clone(), spare.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let unique = Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::WebhookName)));
    let renamed = |w: &Webhook, name: &str| {
        Webhook::restore(WebhookRecord {
            name: name.to_owned(),
            ..w.record().clone()
        })
    };
    let cases: Vec<(&str, Vec<Webhook>, Result<(), StoreError>)> = vec![
        (
            "a name taken in the org",
            vec![hook(id, "sink", &["member.added"], true, 2)],
            unique.clone(),
        ),
        (
            "one name twice in one commit",
            vec![
                hook(id, "twin", &["member.added"], true, 2),
                hook(id, "twin", &["member.added"], true, 2),
            ],
            unique.clone(),
        ),
        (
            "a rename onto a taken name",
            vec![renamed(&spare.clone().with_version(1), "sink")],
            unique.clone(),
        ),
        (
            "the same name in another org",
            vec![hook(other.org.id(), "sink", &["member.added"], true, 2)],
            Ok(()),
        ),
    ];
    for (what, webhooks, want) in cases {
        assert_eq!(s.commit(Changeset { webhooks, ..cs() }).await, want, "{what}");
    }
    let gone = Webhook::restore(WebhookRecord {
        is_active: false,
        deleted_at: Some(t(3)),
        ..sink.clone().with_version(1).record().clone()
    });
    s.commit(Changeset {
        webhooks: vec![gone],
        ..cs()
    })
    .await
    .unwrap();
    let again = hook(id, "sink", &["member.added"], true, 4);
    s.commit(Changeset {
        webhooks: vec![again.clone()],
        ..cs()
    })
    .await
    .expect("a deleted endpoint frees its name");
    let names: Vec<String> = s
        .org_webhooks(id)
        .await
        .unwrap()
        .iter()
        .map(|w| w.name().to_owned())
        .collect();
    assert_eq!(names, ["spare", "sink"]);
}

pub async fn custom_role_slugs_and_names_are_unique_per_org<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let id = seed.org.id();
    let auditor = custom_role(id, "auditor", "Auditor", &[], 1);
    s.commit(Changeset {
        roles: vec![auditor.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let viewer = custom_role(id, "viewer", "Viewer", &[], 3);
    let unique = |key| Err(StoreError::Conflict(ConflictKind::Unique(key)));
    let cases: Vec<(&str, Vec<CustomRole>, Result<(), StoreError>)> = vec![
        (
            "a slug taken in the org",
            vec![custom_role(id, "auditor", "Another", &[], 2)],
            unique(UniqueKey::RoleSlug),
        ),
        (
            "a name taken, in another case",
            vec![custom_role(id, "another", "AUDITOR", &[], 2)],
            unique(UniqueKey::RoleName),
        ),
        (
            "one slug twice in one commit",
            vec![
                custom_role(id, "twin", "Twin A", &[], 2),
                custom_role(id, "twin", "Twin B", &[], 2),
            ],
            unique(UniqueKey::RoleSlug),
        ),
        (
            "the same slug and name in another org",
            vec![custom_role(other.org.id(), "auditor", "Auditor", &[], 2)],
            Ok(()),
        ),
        ("another slug and name", vec![viewer.clone()], Ok(())),
        (
            "a rename onto a taken name",
            vec![renamed_role(&viewer.clone().with_version(1), "auditor")],
            unique(UniqueKey::RoleName),
        ),
    ];
    for (what, roles, want) in cases {
        assert_eq!(s.commit(Changeset { roles, ..cs() }).await, want, "{what}");
    }
    assert_eq!(
        s.custom_roles(id).await.unwrap(),
        [auditor.with_version(1), viewer.clone().with_version(1)],
        "oldest first"
    );
    let named = s
        .custom_roles_named(id, &[role_slug("viewer"), role_slug("nope")])
        .await
        .unwrap();
    assert_eq!(named, [viewer.with_version(1)], "unknown slugs are skipped");
}

pub async fn an_org_has_exactly_one_owner<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let (u, m) = join(&*s, id, &[Role::Member], 1).await.remove(0);
    let newcomer = someone();
    let one_owner = Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::OneOwner)));
    let cases: Vec<(&str, Changeset)> = vec![
        (
            "a second owner joins",
            Changeset {
                users: vec![newcomer.clone()],
                memberships: vec![member(id, &newcomer, Role::Owner, 2)],
                ..cs()
            },
        ),
        (
            "a member becomes owner without a transfer",
            Changeset {
                memberships: vec![with_role(&m, Role::Owner)],
                ..cs()
            },
        ),
        (
            "the owner is demoted without a transfer",
            Changeset {
                memberships: vec![with_role(&seed.owner_m, Role::Admin)],
                ..cs()
            },
        ),
        (
            "the owner's membership of a live org is deleted",
            Changeset {
                removed_memberships: vec![seed.owner_m.clone()],
                ..cs()
            },
        ),
    ];
    for (what, changes) in cases {
        expect_commit(&*s, what, changes, one_owner.clone(), id, counts(2, 2)).await;
    }
    // Only the user the org row names may hold `owner`.
    let (a, b) = (someone(), someone());
    let (misnamed, _) = org("misnamed", &a, 2);
    let err = s
        .commit(Changeset {
            orgs: vec![misnamed.clone()],
            memberships: vec![member(misnamed.id(), &b, Role::Owner, 2)],
            users: vec![a, b],
            ..cs()
        })
        .await;
    assert_eq!(err, one_owner, "an owner the org row does not name");
    assert!(s.org_by_id(misnamed.id()).await.unwrap().is_none());
    // An org row names as its owner only an active member: a decision that saw a member who
    // has left since is stale (the use case decides again).
    let inactive = join(&*s, id, &[Role::Member], 2).await.remove(0);
    s.commit(Changeset {
        memberships: vec![with_status(&inactive.1, MembershipStatus::Deactivated)],
        ..cs()
    })
    .await
    .unwrap();
    for (what, who) in [
        ("a deactivated member", inactive.0.id()),
        ("a non-member", newcomer.id()),
    ] {
        let renamed = Organization::restore(OrgState {
            owner_user_id: who,
            ..seed.org.state().clone()
        })
        .unwrap();
        let err = s
            .commit(Changeset {
                orgs: vec![renamed],
                ..cs()
            })
            .await;
        assert_eq!(
            err,
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
            "an org row naming {what}"
        );
    }
    s.commit(Changeset {
        removed_memberships: vec![with_status(&inactive.1, MembershipStatus::Deactivated).with_version(2)],
        ..cs()
    })
    .await
    .unwrap();
    // A transfer swaps both roles and the org row in one commit (demotion listed first here,
    // promotion first in `membership_changes_round_trip`: a store must accept either order).
    let mut o = seed.org.clone();
    let (mut target, mut previous) = (m.clone(), seed.owner_m.clone());
    access(&seed.org, &seed.owner, &seed.owner_m)
        .transfer_ownership(&mut o, Some(&mut target), &mut previous, t(3))
        .unwrap();
    s.commit(Changeset {
        orgs: vec![o],
        memberships: vec![previous.clone(), target],
        ..cs()
    })
    .await
    .unwrap();
    let owners: Vec<UserId> = all_members(&*s, id)
        .await
        .iter()
        .filter(|r| *r.membership.role() == Role::Owner)
        .map(|r| r.user.id())
        .collect();
    assert_eq!(owners, [u.id()]);
    assert_eq!(s.org_by_id(id).await.unwrap().unwrap().owner(), u.id());
    expect_commit(
        &*s,
        "the previous owner can be removed now",
        Changeset {
            removed_memberships: vec![previous.with_version(2)],
            ..cs()
        },
        Ok(()),
        id,
        counts(1, 1),
    )
    .await;
    // One user may own several orgs.
    let (second, second_owner) = org("second", &u, 4);
    let also = Changeset {
        orgs: vec![second.clone()],
        memberships: vec![second_owner],
        ..cs()
    };
    expect_commit(&*s, "an owner of another org", also, Ok(()), second.id(), counts(1, 1)).await;
    assert_eq!(s.count_orgs_owned_by(u.id()).await.unwrap(), 2);
}

// ---------------------------------------------------------------------------------------------
// Reads sized by one request: member pages, the caller's context, kept totals
// ---------------------------------------------------------------------------------------------

pub async fn member_pages_follow_joined_at_then_user_id<S: Store>(s: Arc<S>) {
    use MembershipStatus::{Active, Deactivated};
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let id = seed.org.id();
    let auditor = custom_role(id, "auditor", "Auditor", &[Capability::AuditLogsView], 0);
    // Users are created in name order, so their ids ascend: a < b < c < d < e < f.
    let names = ["a", "b", "c", "d", "e", "f"];
    let people: Vec<User> = names.iter().map(|n| user(&format!("{n}@pages.test"))).collect();
    let rows = [
        (Role::Admin, 20, Active),
        (Role::Member, 10, Active),
        (auditor.as_role(), 10, Active),
        (Role::Member, 30, Deactivated),
        (Role::Member, 20, Active),
        (Role::Admin, 40, Deactivated),
    ];
    let mut memberships: Vec<Membership> = people
        .iter()
        .zip(rows)
        .map(|(u, (role, at, status))| with_status(&member(id, u, role, at), status))
        .collect();
    memberships.push(member(other.org.id(), &people[0], Role::Member, 5));
    s.commit(Changeset {
        roles: vec![auditor.clone()],
        users: people.clone(),
        memberships,
        ..cs()
    })
    .await
    .unwrap();
    let index = |n: &str| names.iter().position(|x| *x == n).unwrap();
    let name_of = |u: UserId| {
        if u == seed.owner.id() {
            "owner"
        } else {
            names[people.iter().position(|p| p.id() == u).unwrap()]
        }
    };
    let key = |n: &str, at: i64| Some((t(at), people[index(n)].id()));
    let q = |role: Option<Role>, status, after, offset, limit| MemberQuery {
        role,
        status,
        after,
        offset,
        limit,
    };
    let cases: Vec<(&str, MemberQuery, Vec<&str>)> = vec![
        (
            "everyone",
            q(None, None, None, 0, 100),
            vec!["owner", "b", "c", "a", "e", "d", "f"],
        ),
        ("a first page", q(None, None, None, 0, 3), vec!["owner", "b", "c"]),
        ("an offset page", q(None, None, None, 3, 3), vec!["a", "e", "d"]),
        ("after a key", q(None, None, key("c", 10), 0, 3), vec!["a", "e", "d"]),
        (
            "a tie broken by user id",
            q(None, None, key("a", 20), 0, 10),
            vec!["e", "d", "f"],
        ),
        ("after the last", q(None, None, key("f", 40), 0, 10), vec![]),
        (
            "by role",
            q(Some(Role::Member), None, None, 0, 100),
            vec!["b", "e", "d"],
        ),
        (
            "by role and status",
            q(Some(Role::Member), Some(Active), None, 0, 100),
            vec!["b", "e"],
        ),
        ("by status", q(None, Some(Deactivated), None, 0, 100), vec!["d", "f"]),
        (
            "by custom role",
            q(Some(auditor.as_role()), None, None, 0, 100),
            vec!["c"],
        ),
        ("the owner", q(Some(Role::Owner), None, None, 0, 100), vec!["owner"]),
        (
            "a filter after a key",
            q(Some(Role::Admin), None, key("a", 20), 0, 10),
            vec!["f"],
        ),
        (
            "a filter with an offset",
            q(Some(Role::Member), None, None, 1, 1),
            vec!["e"],
        ),
    ];
    for (what, query, want) in cases {
        let page = s.member_page(id, &query).await.unwrap();
        let got: Vec<&str> = page.iter().map(|r| name_of(r.membership.user_id())).collect();
        assert_eq!(got, want, "{what}");
        for r in &page {
            let joined = s.user_by_id(r.membership.user_id()).await.unwrap();
            assert_eq!(Some(&r.user), joined.as_ref(), "{what}: each row carries its user");
            assert_eq!(r.membership.org_id(), id, "{what}: another org's row");
        }
    }
    let tallies: Vec<(Option<Role>, Option<MembershipStatus>, u64)> = vec![
        (None, None, 7),
        (Some(Role::Member), None, 3),
        (None, Some(Deactivated), 2),
        (Some(Role::Member), Some(Active), 2),
        (Some(auditor.as_role()), None, 1),
        (Some(custom("ghost")), None, 0),
        (Some(Role::Owner), None, 1),
    ];
    for (role, status, want) in tallies {
        let got = s.count_members(id, role.clone(), status).await.unwrap();
        assert_eq!(got, want, "count_members({role:?}, {status:?})");
    }
    assert_eq!(headcount(&*s, id).await, counts(5, 7));
    // A group's member list: the active holders only, in the same order, with their e-mails.
    let groups: Vec<(Option<Role>, Vec<&str>)> = vec![
        (None, vec!["owner", "b", "c", "a", "e"]),
        (Some(Role::Member), vec!["b", "e"]),
        (Some(Role::Admin), vec!["a"]),
        (Some(auditor.as_role()), vec!["c"]),
        (Some(custom("ghost")), vec![]),
    ];
    for (role, want) in groups {
        let refs = s.group_member_refs(id, role.clone()).await.unwrap();
        let got: Vec<&str> = refs.iter().map(|(u, _)| name_of(*u)).collect();
        assert_eq!(got, want, "group_member_refs({role:?})");
        for (u, email) in &refs {
            let user = s.user_by_id(*u).await.unwrap().unwrap();
            assert_eq!(user.email(), email, "each id carries its user's e-mail");
        }
    }
    let others = s.group_member_refs(other.org.id(), None).await.unwrap();
    assert_eq!(others.len(), 2, "the other org's owner and a: {others:?}");
}

pub async fn org_context_reads_the_caller_with_the_org<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let gone = seeded(&*s, "gone").await;
    let id = seed.org.id();
    let auditor = custom_role(id, "auditor", "Auditor", &[Capability::AuditLogsView], 1);
    let (admin, holder, inactive, stranger) = (someone(), someone(), someone(), someone());
    s.commit(Changeset {
        roles: vec![auditor.clone()],
        users: vec![admin.clone(), holder.clone(), inactive.clone(), stranger.clone()],
        memberships: vec![
            member(id, &admin, Role::Admin, 1),
            member(id, &holder, auditor.as_role(), 1),
            with_status(&member(id, &inactive, Role::Member, 1), MembershipStatus::Deactivated),
            member(other.org.id(), &stranger, Role::Member, 1),
        ],
        ..cs()
    })
    .await
    .unwrap();
    let mut deleted = gone.org.clone();
    deleted
        .delete(&access(&gone.org, &gone.owner, &gone.owner_m), t(2))
        .unwrap();
    s.commit(Changeset {
        orgs: vec![deleted],
        ..cs()
    })
    .await
    .unwrap();
    let org_row = s.org_by_id(id).await.unwrap().unwrap();
    use MembershipStatus::{Active, Deactivated};
    type Seen = Option<(Role, MembershipStatus)>;
    let cases: Vec<(&str, &User, Seen, Option<CustomRole>)> = vec![
        ("the owner", &seed.owner, Some((Role::Owner, Active)), None),
        ("an admin", &admin, Some((Role::Admin, Active)), None),
        (
            "a custom-role member",
            &holder,
            Some((auditor.as_role(), Active)),
            Some(auditor.clone().with_version(1)),
        ),
        (
            "a deactivated member",
            &inactive,
            Some((Role::Member, Deactivated)),
            None,
        ),
        ("a member of another org", &stranger, None, None),
    ];
    for (what, who, membership, role) in cases {
        let ctx = s.org_context(seed.org.slug(), who.id()).await.unwrap().expect(what);
        assert_eq!(ctx.org, org_row, "{what}: the org row");
        let got = ctx.membership.as_ref().map(|m| (m.role().clone(), m.status()));
        assert_eq!(got, membership, "{what}: the caller's membership");
        if let Some(m) = &ctx.membership {
            assert_eq!(Some(m), s.membership(id, who.id()).await.unwrap().as_ref(), "{what}");
        }
        assert_eq!(ctx.role, role, "{what}: the membership's custom role");
    }
    let missing = [
        ("an unknown slug", "nope", &seed.owner),
        ("a deleted org", "gone", &gone.owner),
    ];
    for (what, slug, who) in missing {
        let ctx = s.org_context(&Slug::parse(slug).unwrap(), who.id()).await.unwrap();
        assert!(ctx.is_none(), "{what}");
    }
}

pub async fn audit_totals_are_kept_counts_and_keyset_pages_are_not_counted<S: Store>(s: Arc<S>) {
    let a = seeded(&*s, "alpha").await.org;
    let b = seeded(&*s, "bravo").await.org;
    let log = AuditLog::Org(a.id());
    // Six entries whose times are not in seq order: seq 1..=6 at 5, 3, 9, 1, 7, 2.
    for pair in [[5, 3], [9, 1], [7, 2]] {
        let drafts = pair
            .iter()
            .map(|at| audit(Some(a.id()), if at % 2 == 1 { "odd" } else { "even" }, *at))
            .collect();
        s.commit(Changeset { audit: drafts, ..cs() }).await.unwrap();
    }
    s.commit(Changeset {
        audit: vec![audit(None, "platform.one", 0), audit(None, "platform.two", 1)],
        ..cs()
    })
    .await
    .unwrap();
    let odd = AuditFilter {
        action: Some("odd".into()),
        ..AuditFilter::default()
    };
    let before = |at: i64, seq: u64, filter: &AuditFilter| AuditFilter {
        before: Some((t(at), seq)),
        ..filter.clone()
    };
    let window = AuditFilter {
        since: Some(t(2)),
        until: Some(t(6)),
        ..AuditFilter::default()
    };
    let cases: Vec<(&str, AuditLog, AuditFilter, Option<u64>)> = vec![
        ("unfiltered: the kept count", log, AuditFilter::default(), Some(6)),
        ("a filter counts its matches", log, odd.clone(), Some(5)),
        ("a time window counts its matches", log, window, Some(3)),
        (
            "a keyset page is not counted",
            log,
            before(9, 3, &AuditFilter::default()),
            None,
        ),
        ("a filtered keyset page is not counted", log, before(9, 3, &odd), None),
        ("the platform log", AuditLog::Platform, AuditFilter::default(), Some(2)),
        ("an empty log", AuditLog::Org(b.id()), AuditFilter::default(), Some(0)),
    ];
    for (what, log, filter, want) in cases {
        assert_eq!(audit_total(&*s, log, &filter).await, want, "{what}");
    }
    let page = s
        .audit_entries(log, &before(7, 5, &AuditFilter::default()), PageRequest::new(1, 2))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2],
        "newest first by time, then seq"
    );
    let chain = s.audit_chain(log, 0, 100).await.unwrap();
    let head = s.audit_head(log).await.unwrap().expect("head");
    assert_eq!(head, chain[5], "the head is the newest entry by seq, not by time");
    assert_eq!(s.audit_head(AuditLog::Platform).await.unwrap().map(|e| e.seq), Some(2));
    assert!(s.audit_head(AuditLog::Org(b.id())).await.unwrap().is_none());
    s.commit(Changeset {
        audit_prunes: vec![AuditPrune {
            log,
            through_seq: 4,
            count: 4,
        }],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(audit_total(&*s, log, &AuditFilter::default()).await, Some(2), "pruned");
    assert_eq!(audit_total(&*s, log, &odd).await, Some(1), "pruned, filtered");
    assert_eq!(s.audit_head(log).await.unwrap(), Some(head), "a prune leaves the head");
    s.commit(Changeset {
        audit: vec![audit(Some(a.id()), "audit.pruned", 10)],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(audit_total(&*s, log, &AuditFilter::default()).await, Some(3));
    let head = s.audit_head(log).await.unwrap().expect("head");
    assert_eq!((head.seq, head.entry.action.as_str()), (7, "audit.pruned"));
    assert_eq!(
        audit_total(&*s, AuditLog::Platform, &AuditFilter::default()).await,
        Some(2)
    );
}

pub async fn delivery_totals_are_kept_per_endpoint<S: Store>(s: Arc<S>) {
    let o = seeded(&*s, "acme").await.org;
    let a = hook(o.id(), "a", &["member.added", "role.created"], true, 0);
    let b = hook(o.id(), "b", &["role.created"], true, 0);
    let quiet = hook(o.id(), "quiet", &["org.updated"], true, 0);
    s.commit(Changeset {
        webhooks: vec![a.clone(), b.clone(), quiet.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let types = [
        "member.added",
        "member.added",
        "role.created",
        "member.added",
        "role.created",
    ];
    s.commit(Changeset {
        events: types.iter().map(|ty| event(o.id(), ty)).collect(),
        ..cs()
    })
    .await
    .unwrap();
    let ping = Delivery::new(
        DeliveryId::from_uuid(uuid()),
        &b,
        EventId::from_uuid(uuid()),
        "webhook.test.ping",
        "{}".into(),
        t(5),
    );
    s.commit(Changeset {
        deliveries: vec![ping],
        ..cs()
    })
    .await
    .unwrap();
    let all = s
        .webhook_deliveries(a.id(), &DeliveryFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap()
        .items;
    let mut done = all[0].clone();
    done.record(
        AttemptOutcome::Delivered {
            status: 200,
            body: "ok".into(),
        },
        t(6),
        0.0,
    );
    s.commit(Changeset {
        deliveries: vec![done],
        ..cs()
    })
    .await
    .unwrap();
    let filter = |f: fn(&mut DeliveryFilter)| {
        let mut d = DeliveryFilter::default();
        f(&mut d);
        d
    };
    let after_second = DeliveryFilter {
        before: Some((all[1].created_at, all[1].id)),
        ..DeliveryFilter::default()
    };
    let cases: Vec<(&str, WebhookId, DeliveryFilter, Option<u64>)> = vec![
        ("unfiltered: the kept count", a.id(), DeliveryFilter::default(), Some(5)),
        (
            "another endpoint's kept count",
            b.id(),
            DeliveryFilter::default(),
            Some(3),
        ),
        (
            "an endpoint without deliveries",
            quiet.id(),
            DeliveryFilter::default(),
            Some(0),
        ),
        (
            "by event type",
            a.id(),
            filter(|d| d.event_type = Some("role.created".into())),
            Some(2),
        ),
        ("by outcome", a.id(), filter(|d| d.delivered = Some(true)), Some(1)),
        (
            "by status",
            a.id(),
            filter(|d| d.status = Some(DeliveryStatus::Pending)),
            Some(4),
        ),
        ("a keyset page is not counted", a.id(), after_second.clone(), None),
    ];
    for (what, webhook, filter, want) in cases {
        let page = s
            .webhook_deliveries(webhook, &filter, PageRequest::new(1, 2))
            .await
            .unwrap();
        assert_eq!(page.total, want, "{what}");
    }
    let rest = s
        .webhook_deliveries(a.id(), &after_second, PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        all[2..].iter().map(|d| d.id).collect::<Vec<_>>(),
        "keyset: strictly older than the cursor"
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency: load → decide with the domain → commit, retried on stale versions
// ---------------------------------------------------------------------------------------------

/// The initial pool of the mixed-operations check: an owner, 4 admins and 25 members.
const POOL: usize = 30;
/// Index of the platform owner (not a member) in the people of the mixed-operations check.
const ROOT: usize = POOL;

#[derive(Clone, Copy, Debug)]
enum MemberOp {
    ChangeRole { actor: usize, target: usize, admin: bool },
    Remove { actor: usize, target: usize },
    Admit,
    Transfer { by_root: bool, target: usize },
}

/// What one operation's commit wrote: per membership, the version it stored and the role.
#[derive(Debug, Default)]
struct Landed {
    writes: Vec<(UserId, u64, Role)>,
    org: Option<(u64, UserId)>,
    admitted: Option<UserId>,
    removed: Option<UserId>,
}

/// A fixed xorshift sequence: the same 200 operations on every run and every store.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).unwrap()
    }
    /// Mostly the owner or an admin; sometimes the platform owner or a plain member.
    fn actor(&mut self) -> usize {
        match self.roll(10) {
            0 => ROOT,
            1 => 5 + self.roll(POOL - 5),
            _ => self.roll(5),
        }
    }
}

fn mixed_ops(n: usize) -> Vec<MemberOp> {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| match dice.roll(20) {
            0..=6 => MemberOp::ChangeRole {
                actor: dice.actor(),
                target: dice.roll(POOL),
                admin: dice.roll(2) == 0,
            },
            7..=10 => MemberOp::Remove {
                actor: dice.actor(),
                target: dice.roll(POOL),
            },
            11..=15 => MemberOp::Admit,
            _ => MemberOp::Transfer {
                by_root: dice.roll(3) == 0,
                target: dice.roll(POOL),
            },
        })
        .collect()
}

fn stale() -> StoreError {
    StoreError::Conflict(ConflictKind::StaleVersion)
}

type Attempt = Result<Option<Landed>, StoreError>;

/// One attempt of one operation against the org of `slug`: `Ok(None)` when the domain refuses
/// it, `Err` when the load or the commit fails.
struct Try<'a, S> {
    s: &'a S,
    slug: &'a Slug,
    people: &'a [User],
    now: DateTime<Utc>,
}

impl<S: Store> Try<'_, S> {
    async fn run(&self, op: MemberOp, token: u8, cap: u32) -> Attempt {
        match op {
            MemberOp::ChangeRole { actor, target, admin } => {
                let role = if admin { Role::Admin } else { Role::Member };
                self.change_role(&self.people[actor], &self.people[target], role).await
            }
            MemberOp::Remove { actor, target } => self.remove(&self.people[actor], &self.people[target]).await,
            MemberOp::Admit => self.admit(token, cap).await,
            MemberOp::Transfer { by_root, target } => self.transfer(by_root, &self.people[target]).await,
        }
    }

    async fn change_role(&self, actor: &User, target: &User, role: Role) -> Attempt {
        let Some((mut org, access)) = act_as(self.s, self.slug, actor).await? else {
            return Ok(None);
        };
        let mut m = self.s.membership(org.id(), target.id()).await?;
        yield_now().await;
        let none = RoleBook::default();
        match access.change_role(&mut org, m.as_mut(), None, role.clone(), &none, self.now) {
            Ok(outcome) if !outcome.events.is_empty() => {}
            _ => return Ok(None),
        }
        let m = m.expect("a changed membership");
        let write = Changeset {
            memberships: vec![m.clone()],
            ..cs()
        };
        self.s.commit(write).await?;
        Ok(Some(Landed {
            writes: vec![(m.user_id(), m.record().version + 1, role)],
            ..Landed::default()
        }))
    }

    async fn remove(&self, actor: &User, target: &User) -> Attempt {
        let Some((org, access)) = act_as(self.s, self.slug, actor).await? else {
            return Ok(None);
        };
        let m = self.s.membership(org.id(), target.id()).await?;
        yield_now().await;
        if access.remove_member(m.as_ref(), &RoleBook::default()).is_err() {
            return Ok(None);
        }
        let m = m.expect("a removed membership");
        let write = Changeset {
            removed_memberships: vec![m.clone()],
            ..cs()
        };
        self.s.commit(write).await?;
        Ok(Some(Landed {
            removed: Some(m.user_id()),
            ..Landed::default()
        }))
    }

    async fn admit(&self, token: u8, cap: u32) -> Attempt {
        let joiner = someone();
        let org = self.s.org_by_slug(self.slug).await?.expect("the org");
        let mut inv = invitation(org.id(), joiner.email().as_str(), Role::Member, token, 0);
        yield_now().await;
        let (id, none) = (MembershipId::from_uuid(uuid()), RoleBook::default());
        let Ok((m, _)) = org.accept_invitation(&mut inv, &joiner, None, id, &none, cap, self.now) else {
            return Ok(None);
        };
        let write = Changeset {
            users: vec![joiner.clone()],
            invitations: vec![inv],
            memberships: vec![m],
            member_cap: Some(cap),
            ..cs()
        };
        self.s.commit(write).await?;
        Ok(Some(Landed {
            writes: vec![(joiner.id(), 1, Role::Member)],
            admitted: Some(joiner.id()),
            ..Landed::default()
        }))
    }

    /// The current owner (or the platform owner) transfers to `target`.
    async fn transfer(&self, by_root: bool, target: &User) -> Attempt {
        let current = self.s.org_by_slug(self.slug).await?.expect("the org");
        let by = if by_root {
            &self.people[ROOT]
        } else {
            let owner = self.people.iter().find(|p| p.id() == current.owner());
            owner.expect("the owner is in the pool")
        };
        let Some((mut org, access)) = act_as(self.s, self.slug, by).await? else {
            return Ok(None);
        };
        let mut m = self.s.membership(org.id(), target.id()).await?;
        let owner = self.s.membership(org.id(), org.owner()).await?;
        // Read between the org row and the memberships of another transfer: load again.
        let Some(mut owner) = owner.filter(|o| *o.role() == Role::Owner) else {
            return Err(stale());
        };
        yield_now().await;
        if access
            .transfer_ownership(&mut org, m.as_mut(), &mut owner, self.now)
            .is_err()
        {
            return Ok(None);
        }
        let m = m.expect("a transfer target");
        // Promotion listed first: a store must not depend on the order of a changeset's rows.
        let write = Changeset {
            orgs: vec![org.clone()],
            memberships: vec![m.clone(), owner.clone()],
            ..cs()
        };
        self.s.commit(write).await?;
        Ok(Some(Landed {
            writes: vec![
                (m.user_id(), m.record().version + 1, Role::Owner),
                (owner.user_id(), owner.record().version + 1, Role::Admin),
            ],
            org: Some((org.state().version + 1, m.user_id())),
            ..Landed::default()
        }))
    }
}

/// Runs `op` until it lands or is refused, retrying the whole load → decide → commit on a
/// stale version (as the use cases do). A commit that finds its row gone, or the org full, is
/// refused like the request would be.
async fn land<S: Store>(s: &S, slug: &Slug, people: &[User], op: MemberOp, i: usize, cap: u32) -> Option<Landed> {
    let now = t(1000 + i64::try_from(i).unwrap());
    let token = u8::try_from(i % 256).unwrap();
    let attempt = Try { s, slug, people, now };
    for _ in 0..1000 {
        match attempt.run(op, token, cap).await {
            Ok(landed) => return landed,
            Err(e) if e.is_stale() => yield_now().await,
            Err(StoreError::NotFound | StoreError::Conflict(ConflictKind::MemberCap)) => return None,
            Err(e) => panic!("operation {i} {op:?}: {e:?}"),
        }
    }
    panic!("operation {i} {op:?}: retries exhausted")
}

pub async fn concurrent_member_operations_keep_one_owner_and_lose_no_update<S: Store + 'static>(s: Arc<S>) {
    const OPS: usize = 200;
    const CAP: u32 = 40;
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let roles: Vec<Role> = (1..POOL)
        .map(|i| if i < 5 { Role::Admin } else { Role::Member })
        .collect();
    let mut people = vec![seed.owner.clone()];
    people.extend(join(&*s, id, &roles, 1).await.into_iter().map(|(u, _)| u));
    let root = platform_owner("root@platform.test");
    s.commit(Changeset {
        users: vec![root.clone()],
        ..cs()
    })
    .await
    .unwrap();
    people.push(root.with_version(1));
    let people = Arc::new(people);
    let slug = seed.org.slug().clone();
    let mut tasks = JoinSet::new();
    for (i, op) in mixed_ops(OPS).into_iter().enumerate() {
        let (s, slug, people) = (s.clone(), slug.clone(), people.clone());
        tasks.spawn(async move { land(&*s, &slug, &people, op, i, CAP).await });
    }
    let landed: Vec<Landed> = tasks.join_all().await.into_iter().flatten().collect();
    // Many admissions are refused by the cap on a store whose commits are real round trips
    // (they reach commit before the removals that free room); a tenth landing still exercises
    // every kind of write against the others.
    assert!(
        landed.len() > OPS / 10,
        "too few operations landed to mean anything: {}",
        landed.len()
    );

    let org = s.org_by_slug(&slug).await.unwrap().expect("org");
    let rows = all_members(&*s, id).await;
    let owners: Vec<&MemberRow> = rows.iter().filter(|r| *r.membership.role() == Role::Owner).collect();
    assert_eq!(owners.len(), 1, "exactly one owner");
    assert_eq!(
        owners[0].membership.user_id(),
        org.owner(),
        "the org row names the owner"
    );
    assert!(owners[0].membership.is_active(), "the owner is an active member");
    let active = rows.iter().filter(|r| r.membership.is_active()).count();
    assert_eq!(
        (org.headcount().active as usize, org.headcount().total as usize),
        (active, rows.len()),
        "the kept counts are the rows' counts"
    );
    assert!(org.headcount().active <= CAP, "the member cap was exceeded");

    // The members are the pool plus the admitted, minus the removed.
    let mut expected: BTreeSet<UserId> = people[..POOL].iter().map(User::id).collect();
    expected.extend(landed.iter().filter_map(|l| l.admitted));
    for gone in landed.iter().filter_map(|l| l.removed) {
        assert!(expected.remove(&gone), "a membership was removed twice");
    }
    let listed: BTreeSet<UserId> = rows.iter().map(|r| r.membership.user_id()).collect();
    assert_eq!(listed, expected, "members");

    // No update lost: each stored version of a membership was written by exactly one landed
    // commit, and the membership is what the last of them wrote.
    let mut writes: HashMap<UserId, Vec<(u64, Role)>> = HashMap::new();
    for (u, v, r) in landed.iter().flat_map(|l| l.writes.iter().cloned()) {
        writes.entry(u).or_default().push((v, r));
    }
    for row in &rows {
        let u = row.membership.user_id();
        let mut mine = writes.remove(&u).unwrap_or_default();
        mine.sort_by_key(|(v, _)| *v);
        let first = if people[..POOL].iter().any(|p| p.id() == u) {
            2
        } else {
            1
        };
        let versions: Vec<u64> = mine.iter().map(|(v, _)| *v).collect();
        let last = row.membership.record().version;
        assert_eq!(
            versions,
            (first..=last).collect::<Vec<_>>(),
            "versions of {u}'s membership"
        );
        if let Some((_, role)) = mine.last() {
            assert_eq!(row.membership.role(), role, "{u}'s membership lost its last write");
        }
    }
    let mut transfers: Vec<(u64, UserId)> = landed.iter().filter_map(|l| l.org).collect();
    transfers.sort_by_key(|(v, _)| *v);
    let versions: Vec<u64> = transfers.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        (2..=org.state().version).collect::<Vec<_>>(),
        "versions of the org row"
    );
    let last_owner = transfers.last().map_or(seed.owner.id(), |(_, u)| *u);
    assert_eq!(org.owner(), last_owner, "the last transfer names the owner");
}

pub async fn writers_to_different_members_never_conflict<S: Store + 'static>(s: Arc<S>) {
    const WRITERS: usize = 8;
    const ROUNDS: u64 = 25;
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let joined = join(&*s, id, &vec![Role::Member; WRITERS], 1).await;
    let mut tasks = JoinSet::new();
    for (i, (u, _)) in joined.iter().enumerate() {
        let (s, slug, owner, target) = (s.clone(), seed.org.slug().clone(), seed.owner.clone(), u.id());
        tasks.spawn(async move {
            let mut conflicts = 0_u64;
            for k in 0..ROUNDS {
                let (mut org, access) = act_as(&*s, &slug, &owner).await.unwrap().expect("the owner acts");
                let mut m = s.membership(org.id(), target).await.unwrap();
                yield_now().await;
                let role = if k % 2 == 0 { Role::Admin } else { Role::Member };
                let now = t(100 + i64::try_from(k).unwrap());
                access
                    .change_role(&mut org, m.as_mut(), None, role, &RoleBook::default(), now)
                    .unwrap();
                let write = Changeset {
                    memberships: vec![m.expect("membership")],
                    ..cs()
                };
                match s.commit(write).await {
                    Ok(()) => {}
                    Err(e) if e.is_stale() => conflicts += 1,
                    Err(e) => panic!("writer {i}: {e:?}"),
                }
            }
            conflicts
        });
    }
    let conflicts: u64 = tasks.join_all().await.into_iter().sum();
    assert_eq!(conflicts, 0, "writes to different members conflicted");
    for (u, _) in &joined {
        let m = stored(&*s, id, u).await;
        assert_eq!((m.role(), m.record().version), (&Role::Admin, 1 + ROUNDS), "{}", u.id());
    }
    let o = s.org_by_id(id).await.unwrap().unwrap();
    assert_eq!(
        (o.state().version, o.headcount()),
        (1, counts(9, 9)),
        "the org row moved"
    );
}

// ---------------------------------------------------------------------------------------------
// Directory sync: SCIM tokens, profiles and role-group data
// ---------------------------------------------------------------------------------------------

/// A new SCIM token of `org` made by `creator` (not yet stored), its hash `[hash; 32]`.
fn scim_token(org: OrgId, creator: &User, hash: u8, at: i64) -> ScimToken {
    ScimToken::restore(ScimTokenRecord {
        id: ScimTokenId::from_uuid(uuid()),
        org_id: org,
        name: format!("Directory {hash}"),
        prefix: "scim_abcdefg".into(),
        token_hash: TokenHash([hash; 32]),
        created_by: creator.id(),
        capabilities: [Capability::OrgMembersManage, Capability::IntegrationsManage]
            .into_iter()
            .collect(),
        created_at: t(at),
        expires_at: Some(t(at) + Duration::days(90)),
        last_used_at: None,
        revoked_at: None,
        version: 0,
    })
}

/// `token` with its record edited, at the same version.
fn edited_token(token: &ScimToken, edit: impl FnOnce(&mut ScimTokenRecord)) -> ScimToken {
    let mut r = token.record().clone();
    edit(&mut r);
    ScimToken::restore(r)
}

/// `token` as the owner of `seed` revokes it at `at` (the domain's decision).
fn revoked(seed: &Seed, token: &ScimToken, at: i64) -> ScimToken {
    let mut token = token.clone();
    access(&seed.org, &seed.owner, &seed.owner_m)
        .revoke_scim_token(Some(&mut token), t(at))
        .unwrap();
    token
}

/// A new directory profile of membership `m` (not yet stored).
fn profile(m: &Membership, user_name: &str, external_id: Option<&str>, address: &str, at: i64) -> DirectoryProfile {
    DirectoryProfile::restore(DirectoryProfileRecord {
        membership_id: m.id(),
        org_id: m.org_id(),
        user_id: m.user_id(),
        external_id: external_id.map(str::to_owned),
        user_name: user_name.to_owned(),
        formatted_name: Some("Ada Lovelace".into()),
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        display_name: None,
        email: email(address),
        created_at: t(at),
        updated_at: t(at),
        version: 0,
    })
}

/// `p` with its record edited, at the same version.
fn edited_profile(p: &DirectoryProfile, edit: impl FnOnce(&mut DirectoryProfileRecord)) -> DirectoryProfile {
    let mut r = p.record().clone();
    edit(&mut r);
    DirectoryProfile::restore(r)
}

fn renamed_profile(p: &DirectoryProfile, user_name: &str) -> DirectoryProfile {
    edited_profile(p, |r| r.user_name = user_name.to_owned())
}

/// New directory data of role group `role` (not yet stored).
fn group(role: &CustomRole, external_id: Option<&str>) -> DirectoryGroup {
    let mut g = DirectoryGroup::new(role);
    g.set_external_id(external_id).unwrap();
    g
}

fn regrouped(g: &DirectoryGroup, external_id: Option<&str>) -> DirectoryGroup {
    let mut g = g.clone();
    g.set_external_id(external_id).unwrap();
    g
}

/// Profiles in membership-id order (the port returns them "in any order").
fn by_membership(mut profiles: Vec<DirectoryProfile>) -> Vec<DirectoryProfile> {
    profiles.sort_by_key(DirectoryProfile::membership_id);
    profiles
}

/// Role groups in role-id order (the port returns them "in any order").
fn by_role(mut groups: Vec<DirectoryGroup>) -> Vec<DirectoryGroup> {
    groups.sort_by_key(|g| g.record().role_id);
    groups
}

async fn stored_token<S: Store>(s: &S, token: &ScimToken) -> Option<ScimToken> {
    s.scim_token(token.org_id(), token.id()).await.unwrap()
}

/// Runs `steps` in order: each commit must give its result.
async fn run_steps<S: Store>(s: &S, steps: Vec<(&str, Changeset, Result<(), StoreError>)>) {
    for (what, changes, want) in steps {
        assert_eq!(s.commit(changes).await, want, "{what}");
    }
}

pub async fn scim_tokens_round_trip_and_are_found_by_hash<S: Store>(s: Arc<S>) {
    let nowhere = OrgId::from_uuid(uuid());
    assert!(s.scim_token_by_hash(&TokenHash([1; 32])).await.unwrap().is_none());
    assert!(
        s.scim_token(nowhere, ScimTokenId::from_uuid(uuid()))
            .await
            .unwrap()
            .is_none()
    );
    let empty = s.scim_tokens(nowhere, PageRequest::new(1, 10)).await.unwrap();
    assert_eq!((empty.items, empty.total), (vec![], Some(0)), "an org without tokens");

    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let id = seed.org.id();
    // Every optional field set on one token, none on another.
    let newest = edited_token(&scim_token(id, &seed.owner, 1, 5), |r| {
        r.expires_at = None;
        r.last_used_at = Some(t(6));
        r.revoked_at = Some(t(7));
        r.capabilities = CapabilitySet::EMPTY;
    });
    let oldest = scim_token(id, &seed.owner, 2, 3);
    let tied = scim_token(id, &seed.owner, 3, 3);
    let foreign = scim_token(other.org.id(), &other.owner, 4, 1);
    s.commit(Changeset {
        scim_tokens: vec![newest.clone(), tied.clone(), foreign.clone(), oldest.clone()],
        ..cs()
    })
    .await
    .unwrap();
    for token in [&newest, &oldest, &tied, &foreign] {
        let want = Some(token.clone().with_version(1));
        assert_eq!(stored_token(&*s, token).await, want, "by id; an insert is version 1");
        let hash = token.record().token_hash;
        assert_eq!(s.scim_token_by_hash(&hash).await.unwrap(), want, "by hash, in any org");
    }
    assert!(
        s.scim_token(id, foreign.id()).await.unwrap().is_none(),
        "another org's token by id"
    );
    let pages: Vec<(&str, OrgId, PageRequest, Vec<&ScimToken>, u64)> = vec![
        (
            "oldest first, ties by id",
            id,
            PageRequest::new(1, 2),
            vec![&oldest, &tied],
            3,
        ),
        ("the second page", id, PageRequest::new(2, 2), vec![&newest], 3),
        ("past the end", id, PageRequest::new(3, 2), vec![], 3),
        (
            "another org",
            other.org.id(),
            PageRequest::new(1, 10),
            vec![&foreign],
            1,
        ),
    ];
    for (what, org, page, want, total) in pages {
        let got = s.scim_tokens(org, page).await.unwrap();
        let want: Vec<ScimToken> = want.into_iter().map(|t| t.clone().with_version(1)).collect();
        assert_eq!((got.items, got.total), (want, Some(total)), "{what}");
    }

    let unique = Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::ScimToken)));
    let founder = someone();
    let (new_org, founder_m) = org("newco", &founder, 8);
    let steps: Vec<(&str, Changeset, Result<(), StoreError>)> = vec![
        (
            "a hash another org's token has",
            Changeset {
                scim_tokens: vec![scim_token(id, &seed.owner, 4, 8)],
                ..cs()
            },
            unique.clone(),
        ),
        (
            "one hash twice in one commit",
            Changeset {
                scim_tokens: vec![scim_token(id, &seed.owner, 5, 8), scim_token(id, &seed.owner, 5, 8)],
                ..cs()
            },
            unique,
        ),
        (
            "an existing token inserted again",
            Changeset {
                scim_tokens: vec![oldest.clone()],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::Id))),
        ),
        (
            "a token of an org that does not exist",
            Changeset {
                scim_tokens: vec![scim_token(nowhere, &seed.owner, 6, 8)],
                ..cs()
            },
            Err(StoreError::NotFound),
        ),
        (
            "a token with its new org, in one commit",
            Changeset {
                orgs: vec![new_org.clone()],
                memberships: vec![founder_m],
                users: vec![founder.clone()],
                scim_tokens: vec![scim_token(new_org.id(), &founder, 6, 8)],
                ..cs()
            },
            Ok(()),
        ),
    ];
    run_steps(&*s, steps).await;
    let page = s.scim_tokens(id, PageRequest::new(1, 10)).await.unwrap();
    assert_eq!(page.total, Some(3), "a failed commit stored a token");
    assert!(s.scim_token_by_hash(&TokenHash([5; 32])).await.unwrap().is_none());
    assert_eq!(
        s.scim_token_by_hash(&TokenHash([6; 32]))
            .await
            .unwrap()
            .map(|t| t.org_id()),
        Some(new_org.id())
    );
}

pub async fn scim_token_writes_are_compare_and_swap_and_deletes_remove_them<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let token = scim_token(id, &seed.owner, 1, 1);
    s.commit(Changeset {
        scim_tokens: vec![token.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let loaded = stored_token(&*s, &token).await.expect("stored");
    let revoke = revoked(&seed, &loaded, 5);
    let renamed = edited_token(&loaded, |r| r.name = "Renamed".into());
    let ghost = scim_token(id, &seed.owner, 9, 1).with_version(1);
    let stale = Err(StoreError::Conflict(ConflictKind::StaleVersion));
    let tokens = |t: ScimToken| Changeset {
        scim_tokens: vec![t],
        ..cs()
    };
    let removed = |t: ScimToken| Changeset {
        removed_scim_tokens: vec![t],
        ..cs()
    };
    run_steps(
        &*s,
        vec![
            ("a write at the stored version", tokens(revoke.clone()), Ok(())),
            (
                "a second writer at the same version",
                tokens(renamed.clone()),
                stale.clone(),
            ),
            ("a delete at a stale version", removed(loaded.clone()), stale.clone()),
            (
                "a write of a token never stored",
                tokens(ghost.clone()),
                Err(StoreError::NotFound),
            ),
            (
                "a delete of a token never stored",
                removed(ghost),
                Err(StoreError::NotFound),
            ),
        ],
    )
    .await;
    assert_eq!(
        stored_token(&*s, &token).await,
        Some(revoke.clone().with_version(2)),
        "the first writer's revoke, at version 2; no lost update"
    );
    run_steps(
        &*s,
        vec![
            (
                "a delete at the stored version",
                removed(revoke.clone().with_version(2)),
                Ok(()),
            ),
            (
                "the same delete again",
                removed(revoke.with_version(2)),
                Err(StoreError::NotFound),
            ),
            (
                "a write of the deleted token",
                tokens(renamed.with_version(2)),
                Err(StoreError::NotFound),
            ),
        ],
    )
    .await;
    assert!(stored_token(&*s, &token).await.is_none(), "deleted by id");
    assert!(
        s.scim_token_by_hash(&TokenHash([1; 32])).await.unwrap().is_none(),
        "deleted by hash"
    );
    let page = s.scim_tokens(id, PageRequest::new(1, 10)).await.unwrap();
    assert_eq!((page.items, page.total), (vec![], Some(0)), "deleted from the list");
    let again = scim_token(id, &seed.owner, 1, 6);
    s.commit(tokens(again.clone()))
        .await
        .expect("a deleted token frees its hash");
    assert_eq!(
        s.scim_token_by_hash(&TokenHash([1; 32])).await.unwrap(),
        Some(again.with_version(1))
    );
}

/// Uses are blind writes: `last_used_at` only moves forward, the version stays, a use of a
/// token that is gone is dropped, and a writer holding an older copy of the token (a revoke
/// loaded before a use) neither conflicts with the use nor undoes it.
pub async fn token_uses_never_move_last_used_at_back_or_conflict_with_a_revoke<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let token = scim_token(id, &seed.owner, 1, 1);
    s.commit(Changeset {
        scim_tokens: vec![token.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let uses = |list: &[(ScimTokenId, i64)]| Changeset {
        scim_token_uses: list.iter().map(|(id, at)| (*id, t(*at))).collect(),
        ..cs()
    };
    let ghost = ScimTokenId::from_uuid(uuid());
    let steps: Vec<(&str, Changeset, i64)> = vec![
        ("a first use", uses(&[(token.id(), 10)]), 10),
        ("an earlier use", uses(&[(token.id(), 5)]), 10),
        ("the same time again", uses(&[(token.id(), 10)]), 10),
        ("a later use", uses(&[(token.id(), 20)]), 20),
        (
            "two uses in one commit",
            uses(&[(token.id(), 30), (token.id(), 25)]),
            30,
        ),
        (
            "a use of a token that does not exist",
            uses(&[(ghost, 40), (token.id(), 29)]),
            30,
        ),
    ];
    for (what, changes, last_used) in steps {
        assert_eq!(s.commit(changes).await, Ok(()), "{what}");
        let got = stored_token(&*s, &token).await.expect("stored").record().clone();
        assert_eq!(
            (got.last_used_at, got.version),
            (Some(t(last_used)), 1),
            "{what}: last_used_at only moves forward; a use bumps no version"
        );
    }

    // A revoke (a compare-and-swap) and a use, in either order.
    for (n, use_first) in [(2u8, true), (3, false)] {
        let what = if use_first {
            "a use, then a revoke loaded before it"
        } else {
            "a revoke, then a use"
        };
        let token = scim_token(id, &seed.owner, n, 1);
        s.commit(Changeset {
            scim_tokens: vec![token.clone()],
            ..cs()
        })
        .await
        .unwrap();
        let loaded = stored_token(&*s, &token).await.expect("stored");
        let revoke = Changeset {
            scim_tokens: vec![revoked(&seed, &loaded, 50)],
            ..cs()
        };
        let commits = if use_first {
            [uses(&[(token.id(), 60)]), revoke]
        } else {
            [revoke, uses(&[(token.id(), 60)])]
        };
        for changes in commits {
            assert_eq!(s.commit(changes).await, Ok(()), "{what}: neither conflicts");
        }
        let got = stored_token(&*s, &token).await.expect("stored").record().clone();
        assert_eq!(
            (got.revoked_at, got.last_used_at, got.version),
            (Some(t(50)), Some(t(60)), 2),
            "{what}: both land, the revoke bumps the version once"
        );
    }

    // A use and a delete, in either order.
    for (n, use_first) in [(4u8, true), (5, false)] {
        let token = scim_token(id, &seed.owner, n, 1);
        s.commit(Changeset {
            scim_tokens: vec![token.clone()],
            ..cs()
        })
        .await
        .unwrap();
        let delete = Changeset {
            removed_scim_tokens: vec![token.clone().with_version(1)],
            ..cs()
        };
        let commits = if use_first {
            [uses(&[(token.id(), 60)]), delete]
        } else {
            [delete, uses(&[(token.id(), 60)])]
        };
        for changes in commits {
            assert_eq!(s.commit(changes).await, Ok(()), "use first: {use_first}");
        }
        assert!(stored_token(&*s, &token).await.is_none(), "use first: {use_first}");
    }
}

pub async fn directory_user_names_are_unique_per_org_case_insensitively<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let id = seed.org.id();
    let ms: Vec<Membership> = join(&*s, id, &[Role::Member, Role::Member, Role::Member], 1)
        .await
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let outsider = join(&*s, other.org.id(), &[Role::Member], 1).await.remove(0).1;
    let alice = profile(&ms[0], "Alice", None, "alice@acme.test", 2);
    let bob = profile(&ms[1], "Bob", None, "bob@acme.test", 2);
    s.commit(Changeset {
        profiles: vec![alice.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let unique = Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::DirectoryUserName)));
    let profiles = |profiles: Vec<DirectoryProfile>| Changeset { profiles, ..cs() };
    let at = |p: &DirectoryProfile, v: u64| p.clone().with_version(v);
    run_steps(
        &*s,
        vec![
            (
                "a userName taken in the org",
                profiles(vec![profile(&ms[1], "Alice", None, "b@acme.test", 3)]),
                unique.clone(),
            ),
            (
                "a taken userName in another case",
                profiles(vec![profile(&ms[1], "aLiCe", None, "b@acme.test", 3)]),
                unique.clone(),
            ),
            (
                "one userName twice in one commit",
                profiles(vec![
                    profile(&ms[1], "Carol", None, "b@acme.test", 3),
                    profile(&ms[2], "CAROL", None, "c@acme.test", 3),
                ]),
                unique.clone(),
            ),
            (
                "the userName in another org",
                profiles(vec![profile(&outsider, "alice", None, "o@other.test", 3)]),
                Ok(()),
            ),
            ("another userName", profiles(vec![bob.clone()]), Ok(())),
            (
                "a profile changing the case of its own userName",
                profiles(vec![renamed_profile(&at(&alice, 1), "ALICE")]),
                Ok(()),
            ),
            (
                "a rename onto a taken userName",
                profiles(vec![renamed_profile(&at(&bob, 1), "alice")]),
                unique,
            ),
            (
                "a rename releases the old userName to another member, in one commit",
                profiles(vec![
                    renamed_profile(&at(&alice, 2), "Alicia"),
                    profile(&ms[2], "alice", None, "c@acme.test", 4),
                ]),
                Ok(()),
            ),
        ],
    )
    .await;
    let holder = |org: OrgId, name: &str| {
        let s = s.clone();
        let key = user_name_key(name);
        async move {
            s.profile_by_user_name(org, &key)
                .await
                .unwrap()
                .map(|p| p.membership_id())
        }
    };
    assert_eq!(holder(id, "Alice").await, Some(ms[2].id()));
    assert_eq!(holder(id, "ALICIA").await, Some(ms[0].id()));
    assert_eq!(holder(id, "bob").await, Some(ms[1].id()));
    assert_eq!(holder(id, "carol").await, None, "a failed commit stored a profile");
    assert_eq!(holder(other.org.id(), "alice").await, Some(outsider.id()));
    let alicia = s.profiles(id, &[ms[0].id()]).await.unwrap();
    assert_eq!(alicia, [renamed_profile(&alice, "Alicia").with_version(3)]);
}

pub async fn profiles_go_with_their_membership_and_need_one<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let ms: Vec<Membership> = join(&*s, id, &[Role::Member, Role::Member], 1)
        .await
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let ada = profile(&ms[0], "ada", Some("E1"), "ada@acme.test", 2);
    s.commit(Changeset {
        profiles: vec![ada.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let ada = ada.with_version(1);
    let newcomer = someone();
    let newcomer_m = member(id, &newcomer, Role::Member, 3);
    let never_stored = member(id, &someone(), Role::Member, 3);
    run_steps(
        &*s,
        vec![
            (
                "a profile of a membership that does not exist",
                Changeset {
                    profiles: vec![profile(&never_stored, "ghost", None, "g@acme.test", 3)],
                    ..cs()
                },
                Err(StoreError::NotFound),
            ),
            (
                "a profile with its new membership, in one commit",
                Changeset {
                    users: vec![newcomer.clone()],
                    memberships: vec![newcomer_m.clone()],
                    profiles: vec![profile(&newcomer_m, "newcomer", None, "n@acme.test", 3)],
                    ..cs()
                },
                Ok(()),
            ),
            (
                "a profile whose membership goes in the same commit",
                Changeset {
                    removed_memberships: vec![ms[1].clone()],
                    profiles: vec![profile(&ms[1], "bea", None, "bea@acme.test", 3)],
                    ..cs()
                },
                Err(StoreError::NotFound),
            ),
            (
                "an existing profile inserted again",
                Changeset {
                    profiles: vec![ada.clone().with_version(0)],
                    ..cs()
                },
                Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::Id))),
            ),
            (
                "a profile written at a stale version",
                Changeset {
                    profiles: vec![renamed_profile(&ada, "ada2").with_version(2)],
                    ..cs()
                },
                Err(StoreError::Conflict(ConflictKind::StaleVersion)),
            ),
            (
                "a membership goes with its profile, its userName to another member, in one commit",
                Changeset {
                    removed_memberships: vec![ms[0].clone()],
                    profiles: vec![profile(&ms[1], "ADA", None, "bea@acme.test", 4)],
                    ..cs()
                },
                Ok(()),
            ),
            (
                "a write of the profile of a removed membership",
                Changeset {
                    profiles: vec![renamed_profile(&ada, "ada3")],
                    ..cs()
                },
                Err(StoreError::NotFound),
            ),
        ],
    )
    .await;
    assert!(
        s.profiles(id, &[ms[0].id()]).await.unwrap().is_empty(),
        "removed with its membership"
    );
    assert!(s.profiles_by_external_id(id, "E1").await.unwrap().is_empty());
    assert!(
        s.profiles_by_email(id, &email("ada@acme.test"))
            .await
            .unwrap()
            .is_empty()
    );
    let holder = s
        .profile_by_user_name(id, "ada")
        .await
        .unwrap()
        .map(|p| p.membership_id());
    assert_eq!(holder, Some(ms[1].id()));
    let newcomer_p = s.profiles(id, &[newcomer_m.id()]).await.unwrap();
    assert_eq!(
        newcomer_p,
        [profile(&newcomer_m, "newcomer", None, "n@acme.test", 3).with_version(1)]
    );
}

pub async fn profiles_are_found_by_user_name_external_id_email_and_membership<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let id = seed.org.id();
    let ms: Vec<Membership> = join(&*s, id, &vec![Role::Member; 5], 1)
        .await
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let outsider = join(&*s, other.org.id(), &[Role::Member], 1).await.remove(0).1;
    let shared = "shared@acme.test";
    let ada = profile(&ms[0], "ada", Some("E1"), shared, 5);
    let bea = profile(&ms[1], "bea", Some("E1"), shared, 3);
    let cy = profile(&ms[2], "cy", Some("e1"), "cy@acme.test", 4);
    let dee = profile(&ms[3], "dee", None, "dee@acme.test", 4);
    let eve = profile(&ms[4], "eve", Some("E1"), shared, 5);
    let far = profile(&outsider, "ada", Some("E1"), shared, 1);
    let all = [&ada, &bea, &cy, &dee, &eve, &far];
    s.commit(Changeset {
        profiles: all.iter().map(|p| (*p).clone()).collect(),
        ..cs()
    })
    .await
    .unwrap();
    let [ada, bea, cy, dee, eve, far] = all.map(|p| p.clone().with_version(1));

    let by_key: Vec<(OrgId, String, Option<&DirectoryProfile>)> = vec![
        (id, user_name_key("Ada"), Some(&ada)),
        (id, user_name_key("bea"), Some(&bea)),
        (id, user_name_key("nobody"), None),
        (other.org.id(), user_name_key("ADA"), Some(&far)),
    ];
    for (org, key, want) in by_key {
        assert_eq!(s.profile_by_user_name(org, &key).await.unwrap().as_ref(), want, "{key}");
    }
    // Oldest first, ties by membership id.
    let by_external: Vec<(OrgId, &str, Vec<&DirectoryProfile>)> = vec![
        (id, "E1", vec![&bea, &ada, &eve]),
        (id, "e1", vec![&cy]),
        (id, "E", vec![]),
        (other.org.id(), "E1", vec![&far]),
    ];
    for (org, external_id, want) in by_external {
        let got = s.profiles_by_external_id(org, external_id).await.unwrap();
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "externalId {external_id}");
    }
    let by_email: Vec<(OrgId, &str, Vec<&DirectoryProfile>)> = vec![
        (id, shared, vec![&bea, &ada, &eve]),
        (id, "dee@acme.test", vec![&dee]),
        (id, "nobody@acme.test", vec![]),
        (other.org.id(), shared, vec![&far]),
    ];
    for (org, address, want) in by_email {
        let got = s.profiles_by_email(org, &email(address)).await.unwrap();
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "e-mail {address}");
    }
    let by_ids: Vec<(OrgId, Vec<MembershipId>, Vec<&DirectoryProfile>)> = vec![
        (
            id,
            vec![ms[2].id(), ms[0].id(), MembershipId::from_uuid(uuid())],
            vec![&ada, &cy],
        ),
        (id, vec![outsider.id()], vec![]),
        (id, vec![], vec![]),
        (other.org.id(), vec![outsider.id(), ms[0].id()], vec![&far]),
    ];
    for (org, ids, want) in by_ids {
        let got = by_membership(s.profiles(org, &ids).await.unwrap());
        let want: Vec<DirectoryProfile> = by_membership(want.into_iter().cloned().collect());
        assert_eq!(got, want, "by memberships {ids:?}");
    }

    // A rewrite moves the profile in every lookup.
    let moved = edited_profile(&ada, |r| {
        r.external_id = Some("E2".into());
        r.email = email("ada@acme.test");
        r.user_name = "Ada.L".into();
    });
    s.commit(Changeset {
        profiles: vec![moved.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let moved = moved.with_version(2);
    assert_eq!(
        s.profiles_by_external_id(id, "E1").await.unwrap(),
        [bea.clone(), eve.clone()]
    );
    assert_eq!(s.profiles_by_external_id(id, "E2").await.unwrap(), vec![moved.clone()]);
    assert_eq!(s.profiles_by_email(id, &email(shared)).await.unwrap(), [bea, eve]);
    assert_eq!(
        s.profiles_by_email(id, &email("ada@acme.test")).await.unwrap(),
        vec![moved.clone()]
    );
    assert!(s.profile_by_user_name(id, "ada").await.unwrap().is_none());
    assert_eq!(s.profile_by_user_name(id, "ada.l").await.unwrap(), Some(moved));

    // At most 100 rows, the oldest.
    let many: Vec<Membership> = join(&*s, id, &vec![Role::Member; 101], 6)
        .await
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let bulk: Vec<DirectoryProfile> = many
        .iter()
        .enumerate()
        .map(|(i, m)| profile(m, &format!("bulk{i}"), Some("bulk"), "bulk@acme.test", 107 - i as i64))
        .collect();
    s.commit(Changeset {
        profiles: bulk.clone(),
        ..cs()
    })
    .await
    .unwrap();
    let oldest: Vec<DirectoryProfile> = bulk.iter().rev().take(100).map(|p| p.clone().with_version(1)).collect();
    assert_eq!(
        s.profiles_by_external_id(id, "bulk").await.unwrap(),
        oldest,
        "at most 100"
    );
    assert_eq!(
        s.profiles_by_email(id, &email("bulk@acme.test")).await.unwrap(),
        oldest,
        "at most 100"
    );
}

pub async fn directory_groups_go_with_their_role<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let id = seed.org.id();
    let eng = custom_role(id, "eng", "Engineering", &[], 1);
    let ops = custom_role(id, "ops", "Operations", &[], 1);
    let far = custom_role(other.org.id(), "eng", "Engineering", &[], 1);
    s.commit(Changeset {
        roles: vec![eng.clone(), ops.clone(), far.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let (g_eng, g_ops, g_far) = (
        group(&eng, Some("G1")),
        group(&ops, Some("G1")),
        group(&far, Some("G1")),
    );
    s.commit(Changeset {
        directory_groups: vec![g_eng.clone(), g_ops.clone(), g_far.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let [g_eng, g_ops, g_far] = [g_eng, g_ops, g_far].map(|g| g.with_version(1));
    let ghost = RoleId::from_uuid(uuid());
    let lookups: Vec<(&str, OrgId, Vec<RoleId>, Vec<&DirectoryGroup>)> = vec![
        (
            "the org's groups",
            id,
            vec![ops.id(), eng.id(), ghost],
            vec![&g_eng, &g_ops],
        ),
        ("another org's group", id, vec![far.id()], vec![]),
        ("none asked", id, vec![], vec![]),
        (
            "in the other org",
            other.org.id(),
            vec![far.id(), eng.id()],
            vec![&g_far],
        ),
    ];
    for (what, org, roles, want) in lookups {
        let got = by_role(s.directory_groups(org, &roles).await.unwrap());
        assert_eq!(got, by_role(want.into_iter().cloned().collect()), "{what}");
    }
    let by_external: Vec<(OrgId, &str, Vec<&DirectoryGroup>)> = vec![
        (id, "G1", vec![&g_eng, &g_ops]),
        (id, "g1", vec![]),
        (other.org.id(), "G1", vec![&g_far]),
    ];
    for (org, external_id, want) in by_external {
        let got = by_role(s.directory_groups_by_external_id(org, external_id).await.unwrap());
        assert_eq!(
            got,
            by_role(want.into_iter().cloned().collect()),
            "externalId {external_id}"
        );
    }

    let sre = custom_role(id, "sre", "SRE", &[], 2);
    let ops_v1 = ops.clone().with_version(1);
    let groups = |directory_groups: Vec<DirectoryGroup>| Changeset {
        directory_groups,
        ..cs()
    };
    run_steps(
        &*s,
        vec![
            (
                "a group of a role that does not exist",
                groups(vec![group(&custom_role(id, "ghost", "Ghost", &[], 2), None)]),
                Err(StoreError::NotFound),
            ),
            (
                "a group with its new role, in one commit",
                Changeset {
                    roles: vec![sre.clone()],
                    ..groups(vec![group(&sre, Some("G3"))])
                },
                Ok(()),
            ),
            (
                "a write at the stored version",
                groups(vec![regrouped(&g_eng, Some("G9"))]),
                Ok(()),
            ),
            (
                "a second writer at the same version",
                groups(vec![regrouped(&g_eng, None)]),
                Err(StoreError::Conflict(ConflictKind::StaleVersion)),
            ),
            (
                "an existing group inserted again",
                groups(vec![g_ops.clone().with_version(0)]),
                Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::Id))),
            ),
            (
                "a group whose role goes in the same commit",
                Changeset {
                    removed_roles: vec![ops_v1.clone()],
                    ..groups(vec![regrouped(&g_ops, Some("G2"))])
                },
                Err(StoreError::NotFound),
            ),
            (
                "a role goes with its group",
                Changeset {
                    removed_roles: vec![ops_v1],
                    ..cs()
                },
                Ok(()),
            ),
            (
                "a write of the group of a removed role",
                groups(vec![regrouped(&g_ops, Some("G2"))]),
                Err(StoreError::NotFound),
            ),
        ],
    )
    .await;
    let got = by_role(s.directory_groups(id, &[eng.id(), ops.id(), sre.id()]).await.unwrap());
    let want = by_role(vec![
        regrouped(&g_eng, Some("G9")).with_version(2),
        group(&sre, Some("G3")).with_version(1),
    ]);
    assert_eq!(got, want);
    assert!(s.directory_groups_by_external_id(id, "G1").await.unwrap().is_empty());
    assert!(s.directory_groups_by_external_id(id, "G2").await.unwrap().is_empty());
}

/// A commit that fails, on a directory rule or any other, stores none of its directory writes
/// and changes none of the directory rows it names.
pub async fn a_failed_commit_leaves_no_directory_rows<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let (used, gone) = (scim_token(id, &seed.owner, 1, 1), scim_token(id, &seed.owner, 2, 1));
    let m = join(&*s, id, &[Role::Member], 1).await.remove(0).1;
    let role = custom_role(id, "eng", "Engineering", &[], 1);
    let (p, g) = (
        profile(&m, "ada", Some("E1"), "ada@acme.test", 2),
        group(&role, Some("G1")),
    );
    s.commit(Changeset {
        roles: vec![role.clone()],
        scim_tokens: vec![used.clone(), gone.clone()],
        profiles: vec![p.clone()],
        directory_groups: vec![g.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let [used, gone] = [used, gone].map(|t| t.with_version(1));
    let (p, g) = (p.with_version(1), g.with_version(1));

    let newcomer = someone();
    let newcomer_m = member(id, &newcomer, Role::Member, 3);
    let new_role = custom_role(id, "ops", "Operations", &[], 3);
    let new_token = scim_token(id, &seed.owner, 3, 3);
    let new_profile = profile(&newcomer_m, "newcomer", None, "n@acme.test", 3);
    let new_group = group(&new_role, Some("G2"));
    let whole = Changeset {
        users: vec![newcomer.clone()],
        memberships: vec![newcomer_m.clone()],
        roles: vec![new_role.clone()],
        scim_tokens: vec![new_token.clone(), revoked(&seed, &used, 4)],
        removed_scim_tokens: vec![gone.clone()],
        scim_token_uses: vec![(used.id(), t(5))],
        profiles: vec![new_profile.clone(), renamed_profile(&p, "ada.l")],
        directory_groups: vec![new_group.clone(), regrouped(&g, Some("G9"))],
        ..cs()
    };
    let clash = User::create(
        UserId::from_uuid(uuid()),
        seed.owner.email().clone(),
        None,
        false,
        UserVia::Cli,
        t(3),
    )
    .0;
    let cases: Vec<(&str, Changeset, StoreError)> = vec![
        (
            "a user e-mail taken",
            Changeset {
                users: vec![newcomer.clone(), clash],
                ..whole.clone()
            },
            StoreError::Conflict(ConflictKind::Unique(UniqueKey::UserEmail)),
        ),
        (
            "a userName taken twice",
            Changeset {
                profiles: vec![new_profile.clone(), renamed_profile(&p, "Newcomer")],
                ..whole.clone()
            },
            StoreError::Conflict(ConflictKind::Unique(UniqueKey::DirectoryUserName)),
        ),
        (
            "a token hash taken",
            Changeset {
                scim_tokens: vec![scim_token(id, &seed.owner, 1, 3), revoked(&seed, &used, 4)],
                ..whole.clone()
            },
            StoreError::Conflict(ConflictKind::Unique(UniqueKey::ScimToken)),
        ),
        (
            "a stale role-group write",
            Changeset {
                directory_groups: vec![new_group.clone(), regrouped(&g, Some("G9")).with_version(7)],
                ..whole.clone()
            },
            StoreError::Conflict(ConflictKind::StaleVersion),
        ),
        (
            "a token deleted at a stale version",
            Changeset {
                removed_scim_tokens: vec![gone.clone().with_version(7)],
                ..whole.clone()
            },
            StoreError::Conflict(ConflictKind::StaleVersion),
        ),
    ];
    for (what, changes, want) in cases {
        assert_eq!(s.commit(changes).await, Err(want), "{what}");
        assert!(stored_token(&*s, &new_token).await.is_none(), "{what}: a token stored");
        assert_eq!(
            stored_token(&*s, &used).await,
            Some(used.clone()),
            "{what}: a token changed or used"
        );
        assert_eq!(
            stored_token(&*s, &gone).await,
            Some(gone.clone()),
            "{what}: a token deleted"
        );
        assert_eq!(
            s.profiles(id, &[m.id(), newcomer_m.id()]).await.unwrap(),
            vec![p.clone()],
            "{what}: a profile stored or changed"
        );
        assert!(s.membership(id, newcomer.id()).await.unwrap().is_none(), "{what}");
        let groups = s.directory_groups(id, &[role.id(), new_role.id()]).await.unwrap();
        assert_eq!(groups, vec![g.clone()], "{what}: a role group stored or changed");
    }

    s.commit(whole).await.expect("the whole changeset, valid");
    assert_eq!(stored_token(&*s, &new_token).await, Some(new_token.with_version(1)));
    let used_now = stored_token(&*s, &used).await.expect("stored").record().clone();
    assert_eq!(
        (used_now.revoked_at, used_now.last_used_at, used_now.version),
        (Some(t(4)), Some(t(5)), 2)
    );
    assert!(stored_token(&*s, &gone).await.is_none());
    let profiles = by_membership(s.profiles(id, &[m.id(), newcomer_m.id()]).await.unwrap());
    let want = by_membership(vec![
        renamed_profile(&p, "ada.l").with_version(2),
        new_profile.with_version(1),
    ]);
    assert_eq!(profiles, want);
    let groups = by_role(s.directory_groups(id, &[role.id(), new_role.id()]).await.unwrap());
    let want = by_role(vec![
        regrouped(&g, Some("G9")).with_version(2),
        new_group.with_version(1),
    ]);
    assert_eq!(groups, want);
}

// ---------------------------------------------------------------------------------------------
// SMTP settings (one row per org, its password sealed) and the mail outbox
// ---------------------------------------------------------------------------------------------

fn smtp(org: OrgId, host: &str, password: &str, at: i64) -> SmtpSettings {
    let config = SmtpConfig::parse(
        &SmtpDraft {
            host: host.into(),
            port: 587,
            username: "mailer".into(),
            password: password.into(),
            from_email: "no-reply@acme.test".into(),
            from_name: Some("Acme".into()),
            security: None,
        },
        true,
    )
    .unwrap();
    SmtpSettings::restore(SmtpSettingsRecord {
        org_id: org,
        config,
        created_at: t(at),
        updated_at: t(at),
        version: 0,
    })
}

fn edited_smtp(s: &SmtpSettings, host: &str, at: i64) -> SmtpSettings {
    let mut r = s.record().clone();
    r.config.host = host.into();
    r.updated_at = t(at);
    SmtpSettings::restore(r)
}

fn mail(org: OrgId, invitation: Option<InvitationId>, at: i64) -> Mail {
    Mail::new(
        NewMail {
            id: MailId::from_uuid(uuid()),
            org_id: org,
            invitation_id: invitation,
            token_hash: invitation.map(|_| TokenHash([7; 32])),
            recipient: email("new@acme.test"),
            subject: "You are invited".into(),
            body: "Accept: https://app.test/invitations/accept?token=inv_secret".into(),
        },
        t(at),
    )
}

pub async fn smtp_settings_are_one_row_per_org_written_by_version<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other-org").await;
    let id = seed.org.id();
    assert_eq!(s.smtp_settings(id).await, Ok(None));
    let first = smtp(id, "smtp.acme.test", "p@ss word", 1);
    s.commit(Changeset {
        smtp: vec![first.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let stored = s.smtp_settings(id).await.unwrap().expect("stored settings");
    assert_eq!(
        stored,
        first.clone().with_version(1),
        "the row reads back, password included"
    );
    assert_eq!(s.smtp_settings(other.org.id()).await, Ok(None), "per org");
    let steps = vec![
        (
            "a second insert for the org is a stale write (a racing first upsert retries)",
            Changeset {
                smtp: vec![smtp(id, "other.acme.test", "x", 2)],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
        (
            "an update at the loaded version",
            Changeset {
                smtp: vec![edited_smtp(&stored, "mx.acme.test", 3)],
                ..cs()
            },
            Ok(()),
        ),
        (
            "a write at the old version",
            Changeset {
                smtp: vec![edited_smtp(&stored, "stale.acme.test", 4)],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
        (
            "a delete at the old version",
            Changeset {
                removed_smtp: vec![stored.clone()],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
    ];
    run_steps(&*s, steps).await;
    let updated = s.smtp_settings(id).await.unwrap().expect("still there");
    assert_eq!(
        (
            updated.config().host.as_str(),
            updated.record().version,
            updated.record().created_at
        ),
        ("mx.acme.test", 2, t(1))
    );
    s.commit(Changeset {
        removed_smtp: vec![updated.clone()],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.smtp_settings(id).await, Ok(None), "deleted");
    assert_eq!(
        s.commit(Changeset {
            removed_smtp: vec![updated],
            ..cs()
        })
        .await,
        Err(StoreError::NotFound),
        "deleting it again"
    );
    s.commit(Changeset {
        smtp: vec![smtp(id, "smtp.acme.test", "again", 5)],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.smtp_settings(id).await.unwrap().map(|x| x.record().version),
        Some(1),
        "set again"
    );
}

pub async fn due_mails_are_claimed_under_a_lease<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let inv = invitation(id, "new@acme.test", Role::Member, 7, 0);
    let (due, later) = (mail(id, Some(inv.record().id), 1), mail(id, None, 500));
    s.commit(Changeset {
        invitations: vec![inv],
        mails: vec![due.clone(), later.clone()],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.mail(due.id).await.unwrap(),
        Some(due.clone().with_version(1)),
        "round trip"
    );
    let (now, lease) = (t(10), Duration::seconds(60));
    let claimed = s.claim_due_mail(now, now + lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "only the due mail");
    assert_eq!((claimed[0].id, claimed[0].next_attempt_at), (due.id, Some(now + lease)));
    assert_eq!(claimed[0].body, due.body, "the body is read back whole");
    assert!(
        s.claim_due_mail(now, now + lease, 10).await.unwrap().is_empty(),
        "claimed twice"
    );
    let expired = now + Duration::seconds(61);
    let again = s.claim_due_mail(expired, expired + lease, 10).await.unwrap();
    assert_eq!(again.len(), 1, "an expired lease makes the mail due again");
    let mut sent = again[0].clone();
    sent.record(MailOutcome::Sent, expired, 0.0);
    s.commit(Changeset {
        mails: vec![sent.clone()],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.commit(Changeset {
            mails: vec![claimed[0].clone()],
            ..cs()
        })
        .await,
        Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        "a lost lease cannot overwrite"
    );
    let stored = s.mail(due.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.attempt_count, stored.body.as_str()),
        (MailStatus::Sent, 1, ""),
        "a settled mail keeps no body"
    );
    let at_500 = s.claim_due_mail(t(500), t(560), 10).await.unwrap();
    assert_eq!(
        at_500.iter().map(|m| m.id).collect::<Vec<_>>(),
        [later.id],
        "a sent mail is never due"
    );
    let with_limit = s.claim_due_mail(t(10_000), t(10_060), 0).await.unwrap();
    assert!(with_limit.is_empty(), "the limit holds");
    // A mail commits with the rest of its changeset or not at all.
    let newcomer = someone();
    let orphan = mail(OrgId::from_uuid(uuid()), None, 700);
    assert_eq!(
        s.commit(Changeset {
            users: vec![newcomer.clone()],
            mails: vec![orphan.clone()],
            ..cs()
        })
        .await,
        Err(StoreError::NotFound),
        "a mail of an org that does not exist"
    );
    assert_eq!(s.mail(orphan.id).await, Ok(None));
    assert_eq!(
        s.user_by_id(newcomer.id()).await,
        Ok(None),
        "nothing of the commit is written"
    );
    // The org's mails and settings go with its purge.
    let deleted = Organization::restore(OrgState {
        deleted_at: Some(t(600)),
        ..seed.org.state().clone()
    })
    .unwrap();
    s.commit(Changeset {
        orgs: vec![deleted],
        smtp: vec![smtp(id, "smtp.acme.test", "pw", 600)],
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        org_purges: vec![id],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.mail(later.id).await, Ok(None), "purged with the org");
    assert_eq!(s.smtp_settings(id).await, Ok(None), "purged with the org");
}

// ---------------------------------------------------------------------------------------------
// Settings: branding and custom domains (§14, §15)
// ---------------------------------------------------------------------------------------------

fn branding(org: OrgId, logo: Option<&str>, color: Option<&str>, version: u64) -> Branding {
    Branding::restore(BrandingRecord {
        org_id: org,
        logo_url: logo.map(str::to_owned),
        primary_color: color.map(str::to_owned),
        updated_at: t(5),
        version,
    })
}

fn claim(org: OrgId, domain: &str, verified: Option<i64>, at: i64, version: u64) -> CustomDomain {
    CustomDomain::restore(CustomDomainRecord {
        org_id: org,
        domain: DomainName::parse(domain).unwrap(),
        verification_token: format!("{:032x}", org.as_uuid().as_u128()),
        verified_at: verified.map(t),
        verification_method: verified.map(|_| VerificationMethod::Dns),
        created_at: t(at),
        updated_at: t(at),
        version,
    })
}

pub async fn branding_is_one_row_per_org_written_compare_and_swap<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other").await;
    let id = seed.org.id();
    assert_eq!(s.branding(id).await, Ok(None), "absent until first set");
    let first = branding(id, Some("https://cdn.acme.test/logo.png"), Some("#ff0000"), 0);
    s.commit(Changeset {
        brandings: vec![first.clone()],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.branding(id).await,
        Ok(Some(first.clone().with_version(1))),
        "an insert is version 1"
    );
    assert_eq!(s.branding(other.org.id()).await, Ok(None), "per org");
    let cases = [
        (
            "a first write over a stored row (a racing first PATCH)",
            branding(id, None, None, 0),
            Err(stale()),
        ),
        ("a stale update", branding(id, None, None, 7), Err(stale())),
        (
            "an org that does not exist",
            branding(OrgId::from_uuid(uuid()), None, None, 0),
            Err(StoreError::NotFound),
        ),
        (
            "an update at the stored version",
            branding(id, None, Some("#abc"), 1),
            Ok(()),
        ),
    ];
    for (what, b, want) in cases {
        let got = s
            .commit(Changeset {
                brandings: vec![b],
                audit: vec![audit(Some(id), "branding.updated", 6)],
                ..cs()
            })
            .await;
        assert_eq!(got, want, "{what}");
    }
    assert_eq!(
        s.branding(id).await,
        Ok(Some(branding(id, None, Some("#abc"), 2))),
        "cleared fields are stored as null; failed commits left nothing"
    );
    let log = s
        .audit_entries(AuditLog::Org(id), &AuditFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1, "only the successful commit wrote its entry");
}

pub async fn a_domain_is_claimed_by_many_and_held_verified_by_one<S: Store>(s: Arc<S>) {
    let a = seeded(&*s, "alpha").await.org.id();
    let b = seeded(&*s, "bravo").await.org.id();
    let c = seeded(&*s, "charlie").await.org.id();
    let domain = DomainName::parse("login.example.com").unwrap();
    assert_eq!(s.custom_domain(a).await, Ok(None));
    assert_eq!(s.domain_claims(&domain, a).await, Ok(vec![]));
    // Unverified claims may repeat across orgs.
    s.commit(Changeset {
        custom_domains: vec![
            claim(a, "login.example.com", None, 1, 0),
            claim(b, "login.example.com", None, 2, 0),
            claim(c, "other.example.com", None, 3, 0),
        ],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.custom_domain(a).await,
        Ok(Some(claim(a, "login.example.com", None, 1, 1)))
    );
    assert_eq!(
        s.commit(Changeset {
            custom_domains: vec![claim(a, "racing.example.com", None, 1, 0)],
            ..cs()
        })
        .await,
        Err(stale()),
        "a first write over a stored claim is a stale read"
    );
    let claims = s.domain_claims(&domain, a).await.unwrap();
    assert_eq!(
        claims,
        vec![DomainClaim {
            claim: claim(b, "login.example.com", None, 2, 1),
            org_deleted: false
        }],
        "other orgs' claims on this domain only"
    );
    // A verifies and clears B's claim in the same commit.
    s.commit(Changeset {
        custom_domains: vec![claim(a, "login.example.com", Some(10), 1, 1)],
        removed_custom_domains: vec![claim(b, "login.example.com", None, 2, 1)],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.custom_domain(b).await, Ok(None), "cleared");
    assert_eq!(
        s.custom_domain(a).await,
        Ok(Some(claim(a, "login.example.com", Some(10), 1, 2))),
        "verified, with its method"
    );
    // C may claim it unverified, but not hold it verified while A does.
    let c_claim = claim(c, "login.example.com", None, 3, 1);
    s.commit(Changeset {
        custom_domains: vec![c_claim.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let verified_by_c = claim(c, "login.example.com", Some(20), 3, 2);
    let got = s
        .commit(Changeset {
            custom_domains: vec![verified_by_c.clone()],
            audit: vec![audit(Some(c), "domain.verified", 20)],
            ..cs()
        })
        .await;
    assert_eq!(
        got,
        Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::VerifiedDomain)))
    );
    assert_eq!(
        s.custom_domain(c).await,
        Ok(Some(claim(c, "login.example.com", None, 3, 2))),
        "nothing written"
    );
    // Two verified claims on one domain in one commit conflict too.
    let d = seeded(&*s, "delta").await.org.id();
    let got = s
        .commit(Changeset {
            custom_domains: vec![
                claim(d, "twice.example.com", Some(1), 1, 0),
                claim(b, "twice.example.com", Some(1), 1, 0),
            ],
            ..cs()
        })
        .await;
    assert_eq!(
        got,
        Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::VerifiedDomain)))
    );
    // Deletes are compare-and-swap; a stale one conflicts, a missing one is not found.
    assert_eq!(
        s.commit(Changeset {
            removed_custom_domains: vec![claim(c, "login.example.com", None, 3, 1)],
            ..cs()
        })
        .await,
        Err(stale())
    );
    assert_eq!(
        s.commit(Changeset {
            removed_custom_domains: vec![claim(d, "login.example.com", None, 3, 1)],
            ..cs()
        })
        .await,
        Err(StoreError::NotFound)
    );
    // Once A's org is deleted its claim is reported as such, and C may verify after clearing it.
    let a_org = s.org_by_id(a).await.unwrap().unwrap();
    let deleted = Organization::restore(OrgState {
        deleted_at: Some(t(30)),
        ..a_org.state().clone()
    })
    .unwrap();
    s.commit(Changeset {
        orgs: vec![deleted],
        ..cs()
    })
    .await
    .unwrap();
    let claims = s.domain_claims(&domain, c).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert!(claims[0].org_deleted && claims[0].claim.org_id() == a);
    s.commit(Changeset {
        custom_domains: vec![claim(c, "login.example.com", Some(40), 3, 2)],
        removed_custom_domains: vec![claims[0].claim.clone()],
        ..cs()
    })
    .await
    .unwrap();
    assert!(s.custom_domain(c).await.unwrap().is_some_and(|d| d.is_verified()));
}

pub async fn a_purge_takes_the_org_s_branding_and_domain<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    s.commit(Changeset {
        brandings: vec![branding(id, None, Some("#123456"), 0)],
        custom_domains: vec![claim(id, "acme.example.com", Some(1), 1, 0)],
        ..cs()
    })
    .await
    .unwrap();
    let deleted = Organization::restore(OrgState {
        deleted_at: Some(t(100)),
        ..seed.org.state().clone()
    })
    .unwrap();
    s.commit(Changeset {
        orgs: vec![deleted],
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        org_purges: vec![id],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.branding(id).await, Ok(None));
    assert_eq!(s.custom_domain(id).await, Ok(None));
    let other = seeded(&*s, "other").await.org.id();
    s.commit(Changeset {
        custom_domains: vec![claim(other, "acme.example.com", Some(2), 2, 0)],
        ..cs()
    })
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Credentials: OAuth app credentials per (org, provider) (§12)
// ---------------------------------------------------------------------------------------------

fn oauth(org: OrgId, provider: OAuthProvider, client_id: &str, secret: &str, version: u64) -> OAuthCredentials {
    OAuthCredentials::restore(OAuthCredentialsRecord {
        id: org_domain::CredentialId::from_uuid(uuid()),
        org_id: org,
        provider,
        client_id: client_id.to_owned(),
        client_secret: secret.to_owned(),
        created_at: t(5),
        updated_at: t(5),
        version,
    })
}

fn oauth_edited(c: &OAuthCredentials, client_id: &str, secret: &str) -> OAuthCredentials {
    OAuthCredentials::restore(OAuthCredentialsRecord {
        client_id: client_id.to_owned(),
        client_secret: secret.to_owned(),
        updated_at: t(6),
        ..c.record().clone()
    })
}

pub async fn oauth_credentials_are_one_row_per_org_and_provider_written_by_version<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other-org").await.org.id();
    let id = seed.org.id();
    let (gh, google) = (OAuthProvider::Github, OAuthProvider::Google);
    assert_eq!(s.oauth_credentials(id, gh).await, Ok(None), "absent until set");
    let first = oauth(id, gh, "gh-client", "gh s3cret ✓", 0);
    s.commit(Changeset {
        oauth_credentials: vec![first.clone(), oauth(id, google, "g-client", "g-secret", 0)],
        ..cs()
    })
    .await
    .unwrap();
    let stored = s.oauth_credentials(id, gh).await.unwrap().expect("stored");
    assert_eq!(
        stored,
        first.clone().with_version(1),
        "the row reads back, secret included"
    );
    assert_eq!(
        s.oauth_credentials(id, google)
            .await
            .unwrap()
            .map(|c| c.client_id().to_owned()),
        Some("g-client".to_owned()),
        "one row per provider"
    );
    assert_eq!(s.oauth_credentials(id, OAuthProvider::Microsoft).await, Ok(None));
    assert_eq!(s.oauth_credentials(other, gh).await, Ok(None), "per org");
    let steps = vec![
        (
            "a second insert for the pair is a stale write (a racing first upsert retries)",
            Changeset {
                oauth_credentials: vec![oauth(id, gh, "x", "y", 0)],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
        (
            "an org that does not exist",
            Changeset {
                oauth_credentials: vec![oauth(OrgId::from_uuid(uuid()), gh, "x", "y", 0)],
                ..cs()
            },
            Err(StoreError::NotFound),
        ),
        (
            "an update at the loaded version",
            Changeset {
                oauth_credentials: vec![oauth_edited(&stored, "gh-client-2", "new secret")],
                ..cs()
            },
            Ok(()),
        ),
        (
            "a write at the old version",
            Changeset {
                oauth_credentials: vec![oauth_edited(&stored, "stale", "stale")],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
        (
            "a delete at the old version",
            Changeset {
                removed_oauth_credentials: vec![stored.clone()],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
    ];
    run_steps(&*s, steps).await;
    let updated = s.oauth_credentials(id, gh).await.unwrap().expect("still there");
    assert_eq!(
        (
            updated.client_id(),
            updated.record().client_secret.as_str(),
            updated.record().version,
            updated.id()
        ),
        ("gh-client-2", "new secret", 2, stored.id()),
        "only the update at the loaded version was written"
    );
    s.commit(Changeset {
        removed_oauth_credentials: vec![updated],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.oauth_credentials(id, gh).await, Ok(None), "deleted");
    assert!(
        s.oauth_credentials(id, google).await.unwrap().is_some(),
        "the other provider stays"
    );
    s.commit(Changeset {
        oauth_credentials: vec![oauth(id, gh, "again", "again", 0)],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.oauth_credentials(id, gh).await.unwrap().map(|c| c.record().version),
        Some(1),
        "a deleted pair can be set again"
    );
    let deleted = Organization::restore(OrgState {
        deleted_at: Some(t(100)),
        ..seed.org.state().clone()
    })
    .unwrap();
    s.commit(Changeset {
        orgs: vec![deleted],
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        org_purges: vec![id],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.oauth_credentials(id, gh).await, Ok(None), "purged with the org");
    assert_eq!(s.oauth_credentials(id, google).await, Ok(None), "purged with the org");
}

fn billing(org: OrgId, provider: BillingProvider, mode: BillingMode, key: &str, version: u64) -> BillingCredentials {
    BillingCredentials::restore(BillingCredentialsRecord {
        id: org_domain::CredentialId::from_uuid(uuid()),
        org_id: org,
        provider,
        mode,
        api_key: key.to_owned(),
        webhook_secret: format!("whsec-{key}"),
        enabled: true,
        created_at: t(5),
        updated_at: t(5),
        version,
    })
}

pub async fn billing_credentials_are_one_row_per_org_and_provider_written_by_version<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other-org").await.org.id();
    let id = seed.org.id();
    let (stripe, polar) = (BillingProvider::Stripe, BillingProvider::Polar);
    assert_eq!(s.billing_credentials(id, stripe).await, Ok(None), "absent until set");
    let first = billing(id, stripe, BillingMode::Test, "sk_test_ä1", 0);
    s.commit(Changeset {
        billing_credentials: vec![first.clone(), billing(id, polar, BillingMode::Live, "polar-key", 0)],
        ..cs()
    })
    .await
    .unwrap();
    let stored = s.billing_credentials(id, stripe).await.unwrap().expect("stored");
    assert_eq!(
        stored,
        first.clone().with_version(1),
        "the row reads back, both secrets included"
    );
    assert_eq!(
        s.billing_credentials(id, polar).await.unwrap().map(|c| c.record().mode),
        Some(BillingMode::Live),
        "one row per provider"
    );
    assert_eq!(s.billing_credentials(other, stripe).await, Ok(None), "per org");
    let edited = BillingCredentials::restore(BillingCredentialsRecord {
        mode: BillingMode::Live,
        api_key: "sk_live_2".to_owned(),
        updated_at: t(6),
        ..stored.record().clone()
    });
    let steps = vec![
        (
            "a second insert for the pair is a stale write",
            Changeset {
                billing_credentials: vec![billing(id, stripe, BillingMode::Test, "sk_test_x", 0)],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
        (
            "an org that does not exist",
            Changeset {
                billing_credentials: vec![billing(OrgId::from_uuid(uuid()), stripe, BillingMode::Test, "k", 0)],
                ..cs()
            },
            Err(StoreError::NotFound),
        ),
        (
            "an update at the loaded version",
            Changeset {
                billing_credentials: vec![edited.clone()],
                ..cs()
            },
            Ok(()),
        ),
        (
            "a write at the old version",
            Changeset {
                billing_credentials: vec![edited.clone()],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
        (
            "a delete at the old version",
            Changeset {
                removed_billing_credentials: vec![stored.clone()],
                ..cs()
            },
            Err(StoreError::Conflict(ConflictKind::StaleVersion)),
        ),
    ];
    run_steps(&*s, steps).await;
    let updated = s.billing_credentials(id, stripe).await.unwrap().expect("still there");
    assert_eq!(
        updated,
        edited.clone().with_version(2),
        "only the update at the loaded version"
    );
    s.commit(Changeset {
        removed_billing_credentials: vec![updated],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.billing_credentials(id, stripe).await, Ok(None), "deleted");
    assert!(
        s.billing_credentials(id, polar).await.unwrap().is_some(),
        "the other provider stays"
    );
    let deleted = Organization::restore(OrgState {
        deleted_at: Some(t(100)),
        ..seed.org.state().clone()
    })
    .unwrap();
    s.commit(Changeset {
        orgs: vec![deleted],
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        org_purges: vec![id],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.billing_credentials(id, polar).await, Ok(None), "purged with the org");
}

mod logins;
use logins::{
    end_user_pages_identities_and_service_sessions, end_users_keep_first_and_latest_login_under_the_mau_cap,
    login_history_reads_the_rows_the_risk_engine_needs,
};
mod risk;
use risk::{
    a_purge_takes_the_org_s_risk_rows, risk_events_are_listed_newest_first_by_score_offset_and_keyset,
    risk_settings_are_one_row_per_org_written_compare_and_swap,
};

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

macro_rules! checks {
    ($make:ident; $($check:ident),* $(,)?) => {
        // Each check on the heap: the suite's future stays small however many checks it has
        // (a debug build's test thread has a 2 MiB stack).
        $( eprintln!("contract: {}", stringify!($check)); Box::pin($check($make().await)).await; )*
    };
}

/// Runs every check, each against a fresh store from `make`, on the caller's tokio runtime
/// (the concurrency checks spawn tasks on it).
/// A store that can tell changes cheaply gives a token that reads leave alone and every commit
/// moves; one that cannot says `None` (and nothing is cached over it).
pub async fn the_change_token_moves_with_every_commit<S: Store>(s: Arc<S>) {
    let Some(before) = s.current() else {
        return;
    };
    let seed = seeded(&*s, "acme").await;
    let after_seed = s.current().expect("a token once, a token always");
    assert_ne!(after_seed, before, "a commit moves the token");
    s.org_by_slug(seed.org.slug()).await.unwrap();
    s.member_page(
        seed.org.id(),
        &MemberQuery {
            limit: 10,
            ..MemberQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.current(), Some(after_seed), "reads leave it");
    let mut owner = seed.owner.clone();
    owner.touch(t(9));
    s.commit(Changeset {
        users: vec![owner],
        ..cs()
    })
    .await
    .unwrap();
    let after_write = s.current().expect("a token");
    assert_ne!(after_write, after_seed, "every commit moves it");
}

pub async fn a_lease_has_one_holder_until_it_expires<S: Store + 'static>(s: Arc<S>) {
    let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let steps = [
        ("a free lease is taken", "sweep", a, 0, 60, true),
        ("held by another", "sweep", b, 30, 90, false),
        ("its holder renews it", "sweep", a, 30, 90, true),
        ("leases are independent", "purge", b, 30, 90, true),
        ("renewed until 90", "sweep", b, 89, 150, false),
        ("an expired lease is free", "sweep", b, 90, 150, true),
        ("the old holder lost it", "sweep", a, 100, 160, false),
    ];
    for (what, name, holder, now, until, want) in steps {
        assert_eq!(s.try_lease(name, holder, t(now), t(until)).await, Ok(want), "{what}");
    }
    // Eight processes racing for a free lease: exactly one gets it.
    let mut racers = JoinSet::new();
    for i in 0..8_u128 {
        let s = s.clone();
        racers.spawn(async move { s.try_lease("race", Uuid::from_u128(100 + i), t(0), t(60)).await });
    }
    let won = racers.join_all().await.into_iter().filter(|r| r == &Ok(true)).count();
    assert_eq!(won, 1, "one holder of a contended lease");
}

pub async fn a_deleted_org_is_purged_whole_once_its_deliveries_are_done<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let keep = seeded(&*s, "other-org").await;
    let id = seed.org.id();
    let joined = join(&*s, id, &[Role::Member], 1).await;
    let hooked = hook(id, "a", &["member.added"], true, 0);
    let foreign = hook(keep.org.id(), "b", &["member.added"], true, 0);
    s.commit(Changeset {
        webhooks: vec![hooked, foreign],
        events: vec![event(id, "member.added"), event(keep.org.id(), "member.added")],
        audit: vec![
            audit(Some(id), "member.added", 1),
            audit(Some(keep.org.id()), "member.added", 1),
        ],
        invitations: vec![invitation(id, "new@acme.test", Role::Member, 9, 1)],
        sessions: vec![session(seed.owner.id(), Some(id), SessionKind::Org, 11)],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.purgeable_orgs(t(1_000_000), 10).await,
        Ok(vec![]),
        "no org is deleted"
    );
    let deleted = Organization::restore(OrgState {
        deleted_at: Some(t(100)),
        ..seed.org.state().clone()
    })
    .unwrap();
    s.commit(Changeset {
        orgs: vec![deleted],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.purgeable_orgs(t(100), 10).await,
        Ok(vec![]),
        "a pending delivery holds the purge back"
    );
    assert_eq!(
        s.purgeable_orgs(t(101), 10).await,
        Ok(vec![id]),
        "until the deadline, whatever the deliveries"
    );
    // A purge of an org that is not deleted does nothing.
    s.commit(Changeset {
        org_purges: vec![id, keep.org.id()],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.org_by_id(id).await, Ok(None), "the org row is gone");
    assert_eq!(s.membership(id, joined[0].0.id()).await, Ok(None), "and its members");
    assert_eq!(
        s.session_by_refresh_hash(&TokenHash([11; 32])).await,
        Ok(None),
        "and its sessions"
    );
    assert_eq!(
        s.invitation_by_token(&TokenHash([9; 32])).await,
        Ok(None),
        "and its invitations"
    );
    assert!(s.org_webhooks(id).await.unwrap().is_empty(), "and its webhooks");
    let log = s
        .audit_entries(AuditLog::Org(id), &AuditFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap();
    assert!(log.items.is_empty(), "and its audit log");
    assert!(s.org_events(id).await.unwrap().is_empty(), "and its event stream");
    assert_eq!(s.pending_count().await, Ok(1), "the other org's delivery stays");
    let kept = s
        .audit_entries(
            AuditLog::Org(keep.org.id()),
            &AuditFilter::default(),
            PageRequest::new(1, 10),
        )
        .await
        .unwrap();
    assert_eq!(kept.items.len(), 1, "the other org keeps its log");
    assert!(s.org_by_id(keep.org.id()).await.unwrap().is_some());
    assert_eq!(s.org_events(keep.org.id()).await.unwrap().len(), 1);
}

pub async fn run_all<F, Fut, S>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<S>>,
    S: Store + 'static,
{
    checks!(make;
        org_membership_and_role_rows_round_trip,
        memberships_of_finds_only_this_orgs_memberships_of_the_named_users,
        unknown_rows_are_none,
        updating_or_deleting_a_missing_row_is_not_found,
        inserting_an_existing_row_conflicts,
        slugs_are_unique_among_live_orgs,
        stale_versions_conflict,
        a_failed_commit_leaves_nothing_behind,
        state_audit_and_events_commit_together,
        audit_seq_follows_commit_order_per_log,
        pruning_deletes_a_prefix_and_keeps_the_rest_anchored,
        audit_totals_are_kept_counts_and_keyset_pages_are_not_counted,
        users_have_unique_emails_and_versions,
        one_pending_invitation_per_org_and_email,
        invitation_lists_see_expiry,
        sessions_are_revoked_by_scope,
        a_session_is_read_with_its_user,
        org_lists_order_and_filter,
        org_context_reads_the_caller_with_the_org,
        membership_changes_round_trip,
        headcount_is_kept_from_membership_writes_never_from_org_rows,
        membership_writes_are_compare_and_swap_on_their_own_version,
        member_cap_refuses_a_commit_that_raises_the_count_above_it,
        concurrent_admissions_admit_exactly_up_to_the_cap,
        a_custom_role_in_use_is_never_deleted_or_missing,
        custom_role_slugs_and_names_are_unique_per_org,
        webhook_names_are_unique_among_live_endpoints,
        an_org_has_exactly_one_owner,
        member_pages_follow_joined_at_then_user_id,
        events_fan_out_to_subscribed_active_endpoints,
        due_deliveries_are_claimed_under_a_lease,
        delivery_totals_are_kept_per_endpoint,
        concurrent_member_operations_keep_one_owner_and_lose_no_update,
        writers_to_different_members_never_conflict,
        the_change_token_moves_with_every_commit,
        scim_tokens_round_trip_and_are_found_by_hash,
        scim_token_writes_are_compare_and_swap_and_deletes_remove_them,
        token_uses_never_move_last_used_at_back_or_conflict_with_a_revoke,
        directory_user_names_are_unique_per_org_case_insensitively,
        profiles_go_with_their_membership_and_need_one,
        profiles_are_found_by_user_name_external_id_email_and_membership,
        directory_groups_go_with_their_role,
        a_failed_commit_leaves_no_directory_rows,
        a_lease_has_one_holder_until_it_expires,
        a_deleted_org_is_purged_whole_once_its_deliveries_are_done,
        smtp_settings_are_one_row_per_org_written_by_version,
        due_mails_are_claimed_under_a_lease,
        branding_is_one_row_per_org_written_compare_and_swap,
        a_domain_is_claimed_by_many_and_held_verified_by_one,
        a_purge_takes_the_org_s_branding_and_domain,
        oauth_credentials_are_one_row_per_org_and_provider_written_by_version,
        billing_credentials_are_one_row_per_org_and_provider_written_by_version,
        risk_settings_are_one_row_per_org_written_compare_and_swap,
        risk_events_are_listed_newest_first_by_score_offset_and_keyset,
        a_purge_takes_the_org_s_risk_rows,
        services_round_trip_with_unique_slugs_per_org_and_a_kept_count,
        service_cap_refuses_a_commit_that_raises_the_count_above_it,
        concurrent_service_creates_stop_exactly_at_the_cap,
        service_grants_are_set_and_removed_and_go_with_their_service_or_membership,
        login_keys_are_found_by_hash_and_live_names_are_unique,
        upstream_providers_round_trip_with_their_secret_and_keep_connection_ids_unique,
        siem_configs_round_trip_with_unique_names_per_org,
        siem_progress_is_compare_and_set_on_the_cursor_and_config_writes_keep_it,
        login_history_reads_the_rows_the_risk_engine_needs,
        end_users_keep_first_and_latest_login_under_the_mau_cap,
        end_user_pages_identities_and_service_sessions,
    );
}

fn upstream(org: OrgId, connection_id: &str, created: i64) -> org_domain::upstream::UpstreamProvider {
    use org_domain::upstream::{ProviderType, SamlCertificate, UpstreamProvider, UpstreamProviderId, UpstreamRecord};
    UpstreamProvider::restore(UpstreamRecord {
        id: UpstreamProviderId::from_uuid(uuid()),
        org_id: org,
        connection_id: connection_id.to_owned(),
        name: format!("IdP {connection_id}"),
        provider_type: ProviderType::Saml,
        client_id: "https://sp.test".to_owned(),
        client_secret: Some("up s3cret ✓".to_owned()),
        issuer: Some("https://idp.test".to_owned()),
        authorization_url: Some("https://idp.test/sso".to_owned()),
        token_url: None,
        userinfo_url: None,
        jwks_url: None,
        discovery_url: None,
        scopes: None,
        metadata: Some("{\"attr\":\"mail\"}".to_owned()),
        metadata_xml: Some("<md:EntityDescriptor/>".to_owned()),
        metadata_url: None,
        certificates: vec![SamlCertificate {
            sha256_fingerprint: "ab".repeat(32),
            not_after: t(1000),
        }],
        enabled: true,
        created_at: t(created),
        updated_at: t(created),
        version: 0,
    })
}

/// §11: providers round-trip (the sealed secret opened, certificates kept), list oldest first
/// per org, `connection_id` is unique per org (a freed one can be taken in the same commit),
/// writes are compare-and-swap, deletes remove, a purge takes them.
pub async fn upstream_providers_round_trip_with_their_secret_and_keep_connection_ids_unique<S: Store>(s: Arc<S>) {
    use org_domain::upstream::{UpstreamProvider, UpstreamRecord};
    let seed = seeded(&*s, "acme").await;
    let other = seeded(&*s, "other-org").await.org.id();
    let id = seed.org.id();
    let (a, b) = (upstream(id, "okta", 2), upstream(id, "adfs", 1));
    s.commit(Changeset {
        upstream_providers: vec![a.clone(), b.clone(), upstream(other, "okta", 3)],
        ..cs()
    })
    .await
    .unwrap();
    let stored = s.upstream_provider(id, a.id()).await.unwrap().expect("stored");
    assert_eq!(stored, a.clone().with_version(1), "the row reads back, secret included");
    assert_eq!(
        s.upstream_provider(other, a.id()).await,
        Ok(None),
        "another org's id is unknown"
    );
    let page = s.upstream_providers(id, PageRequest::new(1, 50)).await.unwrap();
    assert_eq!(page.total, Some(2));
    assert_eq!(
        page.items.iter().map(UpstreamProvider::id).collect::<Vec<_>>(),
        [b.id(), a.id()],
        "oldest first"
    );
    let second = s.upstream_providers(id, PageRequest::new(2, 1)).await.unwrap();
    assert_eq!(
        second.items.iter().map(UpstreamProvider::id).collect::<Vec<_>>(),
        [a.id()]
    );
    let taken = s
        .commit(Changeset {
            upstream_providers: vec![upstream(id, "okta", 5)],
            ..cs()
        })
        .await;
    assert_eq!(
        taken,
        Err(StoreError::Conflict(ConflictKind::Unique(UniqueKey::ConnectionId)))
    );
    // Renaming one and giving its old id to another in one commit is allowed.
    let renamed = UpstreamProvider::restore(UpstreamRecord {
        connection_id: "okta-old".to_owned(),
        client_secret: None,
        ..stored.record().clone()
    });
    s.commit(Changeset {
        upstream_providers: vec![renamed.clone(), upstream(id, "okta", 6)],
        ..cs()
    })
    .await
    .unwrap();
    let reread = s.upstream_provider(id, a.id()).await.unwrap().expect("still there");
    assert_eq!(
        (reread.record().version, reread.record().client_secret.clone()),
        (2, None),
        "secret cleared"
    );
    let stale = s
        .commit(Changeset {
            upstream_providers: vec![renamed.clone()],
            ..cs()
        })
        .await;
    assert_eq!(stale, Err(StoreError::Conflict(ConflictKind::StaleVersion)));
    s.commit(Changeset {
        removed_upstream_providers: vec![reread],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.upstream_provider(id, a.id()).await, Ok(None), "deleted");
    assert_eq!(
        s.upstream_providers(id, PageRequest::new(1, 50)).await.unwrap().total,
        Some(2)
    );
    let deleted = Organization::restore(OrgState {
        deleted_at: Some(t(100)),
        ..seed.org.state().clone()
    })
    .unwrap();
    s.commit(Changeset {
        orgs: vec![deleted],
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        org_purges: vec![id],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.upstream_providers(id, PageRequest::new(1, 50)).await.unwrap().total,
        Some(0),
        "purged"
    );
    assert_eq!(
        s.upstream_providers(other, PageRequest::new(1, 50))
            .await
            .unwrap()
            .total,
        Some(1),
        "others kept"
    );
}
