//! The store contract suite: plain async checks every store adapter must pass
//! (memory, SeaORM on SQLite, SeaORM on PostgreSQL). Each check gets a fresh, empty store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use org_domain::{
    Actor, Capability, CapabilitySet, Email, EventId, Invitation, InvitationId, InvitationRecord, InvitationStatus,
    MembershipId, MembershipStatus, NewOrganization, NewRole, OrgId, OrgName, OrgStatus, Organization, RevokeReason,
    Role, RoleId, RoleName, RoleSlug, Session, SessionId, SessionKind, Slug, TierId, TokenHash, User, UserId,
};
use serde_json::json;
use uuid::Uuid;

use crate::chain::{self, Link, Verdict};
use crate::webhooks::{self, DeliveryFilter};
use crate::{
    ActorType, AuditActor, AuditDraft, AuditFilter, AuditLog, AuditPrune, Changeset, ConflictKind, OrgFilter,
    OutboxEvent, PageRequest, RevocationScope, SessionRevocation, Store, StoreError, UniqueKey,
};
use org_domain::WebhookId;
use org_domain::webhook::{AttemptOutcome, DeliveryStatus, Webhook};

static NEXT: AtomicU64 = AtomicU64::new(1);

fn uuid() -> Uuid {
    // Time-ordered like UUIDv7 but deterministic per process; unique across checks.
    Uuid::from_u128((0x0195_0000_0000_7000_8000_u128 << 48) | u128::from(NEXT.fetch_add(1, Ordering::Relaxed)))
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_740_000_000 + secs, 0).single().expect("valid time")
}

fn user(email: &str) -> User {
    User::new(
        UserId::from_uuid(uuid()),
        Email::parse(email).unwrap(),
        Some("Name".into()),
        t(0),
    )
}

fn org(slug: &str, owner: &User, at: i64) -> Organization {
    Organization::create(
        NewOrganization {
            id: OrgId::from_uuid(uuid()),
            slug: Slug::parse(slug).unwrap(),
            name: OrgName::parse("Acme Inc").unwrap(),
            owner: owner.id,
            owner_membership: MembershipId::from_uuid(uuid()),
            status: OrgStatus::Active,
            tier_id: TierId::new("tier_enterprise"),
        },
        t(at),
    )
    .0
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

fn invitation(org: OrgId, email: &str, role: Role, token: u8, created: i64) -> Invitation {
    Invitation::restore(InvitationRecord {
        id: InvitationId::from_uuid(uuid()),
        org_id: org,
        email: Email::parse(email).unwrap(),
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
        version: 0,
    }
}

async fn commit<S: Store>(s: &S, c: Changeset) -> Result<(), StoreError> {
    s.commit(c).await
}

/// Seeds an owner and an active org; returns both as stored.
async fn seeded<S: Store>(s: &S, slug: &str) -> (User, Organization) {
    let owner = user(&format!("owner@{slug}.test"));
    let o = org(slug, &owner, 0);
    commit(
        s,
        Changeset {
            orgs: vec![o.clone()],
            users: vec![owner.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let stored = s.org_by_id(o.id()).await.unwrap().expect("stored org");
    let owner = s.user_by_id(owner.id).await.unwrap().expect("stored user");
    (owner, stored)
}

fn actor(u: &User) -> Actor {
    Actor {
        user_id: u.id,
        is_platform_owner: false,
    }
}

fn new_role(slug: &str, name: &str, caps: &[Capability]) -> NewRole {
    NewRole {
        id: RoleId::from_uuid(uuid()),
        slug: RoleSlug::parse(slug).unwrap(),
        name: RoleName::parse(name).unwrap(),
        description: None,
        permissions: caps.iter().copied().collect::<CapabilitySet>(),
    }
}

pub async fn org_round_trips_with_members_and_roles<S: Store>(s: Arc<S>) {
    let (owner, mut o) = seeded(&*s, "acme").await;
    assert_eq!(o.state().version, 1, "an inserted aggregate is stored as version 1");
    let member = user("member@acme.test");
    o.create_role(
        &actor(&owner),
        new_role("auditor", "Auditor", &[Capability::AuditLogsView]),
        t(5),
    )
    .unwrap();
    let mut inv = invitation(
        o.id(),
        "member@acme.test",
        Role::Custom(RoleSlug::parse("auditor").unwrap()),
        9,
        5,
    );
    o.accept_invitation(&mut inv, &member, MembershipId::from_uuid(uuid()), 10, t(6))
        .unwrap();
    commit(
        &*s,
        Changeset {
            orgs: vec![o.clone()],
            users: vec![member.clone()],
            invitations: vec![inv],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let loaded = s.org_by_slug(o.slug()).await.unwrap().expect("org by slug");
    assert_eq!(
        loaded.clone().with_version(0),
        o.clone().with_version(0),
        "state survives a round trip"
    );
    assert_eq!(loaded.state().version, 2);
    assert_eq!(s.org_by_id(o.id()).await.unwrap().expect("org by id"), loaded);
    assert_eq!(loaded.membership(member.id).unwrap().status, MembershipStatus::Active);
}

pub async fn unknown_rows_are_none<S: Store>(s: Arc<S>) {
    assert!(s.org_by_slug(&Slug::parse("nope").unwrap()).await.unwrap().is_none());
    assert!(s.org_by_id(OrgId::from_uuid(uuid())).await.unwrap().is_none());
    assert!(s.user_by_id(UserId::from_uuid(uuid())).await.unwrap().is_none());
    assert!(
        s.user_by_email(&Email::parse("x@y.test").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.invitation_by_id(InvitationId::from_uuid(uuid()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.invitation_by_token(&TokenHash([1; 32])).await.unwrap().is_none());
    assert!(s.session_by_id(SessionId::from_uuid(uuid())).await.unwrap().is_none());
}

pub async fn updating_a_missing_row_is_not_found<S: Store>(s: Arc<S>) {
    let owner = user("ghost@acme.test");
    let ghost = org("ghost", &owner, 0).with_version(3);
    let err = commit(
        &*s,
        Changeset {
            orgs: vec![ghost],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err, StoreError::NotFound);
}

pub async fn inserting_an_existing_id_conflicts<S: Store>(s: Arc<S>) {
    let (owner, o) = seeded(&*s, "acme").await;
    let again = o.clone().with_version(0);
    let err = commit(
        &*s,
        Changeset {
            orgs: vec![again],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(ConflictKind::Unique(_))), "{err:?}");
    let err = commit(
        &*s,
        Changeset {
            users: vec![User { version: 0, ..owner }],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(ConflictKind::Unique(_))), "{err:?}");
}

pub async fn slugs_are_unique_among_live_orgs<S: Store>(s: Arc<S>) {
    let (owner, mut o) = seeded(&*s, "acme").await;
    let other = user("other@acme.test");
    let dup = org("acme", &other, 1);
    let err = commit(
        &*s,
        Changeset {
            orgs: vec![dup.clone()],
            users: vec![other.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err, StoreError::Conflict(ConflictKind::Unique(UniqueKey::OrgSlug)));
    assert!(
        s.user_by_id(other.id).await.unwrap().is_none(),
        "the failed changeset left its user behind"
    );
    o.delete(&actor(&owner), t(2)).unwrap();
    commit(
        &*s,
        Changeset {
            orgs: vec![o.clone()],
            ..Default::default()
        },
    )
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
    commit(
        &*s,
        Changeset {
            orgs: vec![dup.clone()],
            users: vec![other],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.org_by_slug(o.slug()).await.unwrap().unwrap().id(),
        dup.id(),
        "the slug is free again"
    );
}

pub async fn stale_versions_conflict<S: Store>(s: Arc<S>) {
    let (owner, o) = seeded(&*s, "acme").await;
    let mut first = o.clone();
    let mut second = o.clone();
    first
        .create_role(&actor(&owner), new_role("one", "One", &[]), t(3))
        .unwrap();
    second
        .create_role(&actor(&owner), new_role("two", "Two", &[]), t(3))
        .unwrap();
    commit(
        &*s,
        Changeset {
            orgs: vec![first],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let err = commit(
        &*s,
        Changeset {
            orgs: vec![second],
            audit: vec![audit(Some(o.id()), "role.created", 3)],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err, StoreError::Conflict(ConflictKind::StaleVersion));
    let stored = s.org_by_id(o.id()).await.unwrap().unwrap();
    assert!(stored.custom_role(&RoleSlug::parse("one").unwrap()).is_some());
    assert!(
        stored.custom_role(&RoleSlug::parse("two").unwrap()).is_none(),
        "lost update"
    );
    let page = s
        .audit_entries(AuditLog::Org(o.id()), &AuditFilter::default(), PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(page.total, 0, "the audit entry of the stale commit was stored");
}

pub async fn a_failed_commit_leaves_nothing_behind<S: Store>(s: Arc<S>) {
    let (_, existing) = seeded(&*s, "first").await;
    let taken = s.user_by_id(existing.state().owner_user_id).await.unwrap().unwrap();
    let owner = user("new-owner@acme.test");
    let o = org("acme", &owner, 1);
    let clash = User::new(UserId::from_uuid(uuid()), taken.email.clone(), None, t(1));
    let changes = Changeset {
        orgs: vec![o.clone()],
        users: vec![owner.clone(), clash],
        audit: vec![audit(Some(o.id()), "org.created", 1)],
        events: vec![event(o.id(), "organization.created")],
        ..Default::default()
    };
    let err = commit(&*s, changes).await.unwrap_err();
    assert_eq!(err, StoreError::Conflict(ConflictKind::Unique(UniqueKey::UserEmail)));
    assert!(s.org_by_id(o.id()).await.unwrap().is_none(), "state written");
    assert!(s.user_by_id(owner.id).await.unwrap().is_none(), "user written");
    let page = s
        .audit_entries(AuditLog::Org(o.id()), &AuditFilter::default(), PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(page.total, 0, "audit written");
    assert!(s.org_events(o.id()).await.unwrap().is_empty(), "events written");
}

pub async fn state_audit_and_events_commit_together<S: Store>(s: Arc<S>) {
    let owner = user("owner@acme.test");
    let o = org("acme", &owner, 0);
    let changes = Changeset {
        orgs: vec![o.clone()],
        users: vec![owner.clone()],
        audit: vec![audit(Some(o.id()), "org.created", 0), audit(None, "user.created", 0)],
        events: vec![event(o.id(), "organization.created")],
        ..Default::default()
    };
    commit(&*s, changes.clone()).await.unwrap();
    let org_log = s
        .audit_entries(AuditLog::Org(o.id()), &AuditFilter::default(), PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(org_log.total, 1);
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

pub async fn audit_seq_follows_commit_order_per_log<S: Store>(s: Arc<S>) {
    let (_, a) = seeded(&*s, "alpha").await;
    let (_, b) = seeded(&*s, "bravo").await;
    for (i, org) in [a.id(), b.id(), a.id(), a.id()].into_iter().enumerate() {
        let at = i64::try_from(i).unwrap();
        commit(
            &*s,
            Changeset {
                audit: vec![audit(Some(org), &format!("step.{i}"), at)],
                ..Default::default()
            },
        )
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
    let one = s
        .audit_entries(AuditLog::Org(a.id()), &filter, PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(one.total, 1);
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
        keyset.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2],
        "keyset: strictly older than the cursor"
    );
    let paged = s
        .audit_entries(AuditLog::Org(a.id()), &AuditFilter::default(), PageRequest::new(2, 2))
        .await
        .unwrap();
    assert_eq!((paged.total, paged.items.len(), paged.items[0].seq), (3, 1, 1));
    // The stored chain verifies from the zero hash, and every hash is recomputable (§8.3).
    let mut ascending = log.items.clone();
    ascending.reverse();
    let links: Vec<Link> = ascending
        .iter()
        .map(|e| Link {
            seq: e.seq,
            object: chain::chained_object(e.seq, &e.entry),
            prev_hash: e.prev_hash,
            hash: e.hash,
        })
        .collect();
    let verdict = chain::verify(&links, Some(chain::GENESIS), true);
    assert_eq!(
        verdict,
        Verdict::Intact {
            entries: 3,
            head: Some(links[2].hash),
            complete: true
        }
    );
    assert_eq!(links[0].prev_hash, chain::GENESIS);
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
    let (_, a) = seeded(&*s, "alpha").await;
    let (_, b) = seeded(&*s, "bravo").await;
    let log = AuditLog::Org(a.id());
    for i in 0..5 {
        commit(
            &*s,
            Changeset {
                audit: vec![
                    audit(Some(a.id()), &format!("step.{i}"), i),
                    audit(Some(b.id()), "other", i),
                ],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let before = s.audit_chain(log, 0, 100).await.unwrap();
    assert_eq!(before.len(), 5);
    let third = before[2].hash;
    commit(
        &*s,
        Changeset {
            audit_prunes: vec![AuditPrune { log, through_seq: 3 }],
            audit: vec![audit(Some(a.id()), "audit.pruned", 10)],
            ..Default::default()
        },
    )
    .await
    .unwrap();
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
    let links: Vec<Link> = after
        .iter()
        .map(|e| Link {
            seq: e.seq,
            object: chain::chained_object(e.seq, &e.entry),
            prev_hash: e.prev_hash,
            hash: e.hash,
        })
        .collect();
    assert!(matches!(
        chain::verify(&links, None, true),
        Verdict::Intact {
            entries: 3,
            complete: true,
            ..
        }
    ));
    let listed = s
        .audit_entries(log, &AuditFilter::default(), PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(listed.total, 3);
    let other = s.audit_chain(AuditLog::Org(b.id()), 0, 100).await.unwrap();
    assert_eq!(other.len(), 5, "other logs are untouched");
}

pub async fn users_have_unique_emails_and_versions<S: Store>(s: Arc<S>) {
    let a = user("a@x.test");
    let b = user("b@x.test");
    commit(
        &*s,
        Changeset {
            users: vec![a.clone(), b.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut loaded = s.user_by_email(&a.email).await.unwrap().expect("by email");
    assert_eq!((loaded.id, loaded.version), (a.id, 1));
    let mut stale = loaded.clone();
    loaded.is_platform_owner = true;
    commit(
        &*s,
        Changeset {
            users: vec![loaded.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    stale.name = Some("Other".into());
    let err = commit(
        &*s,
        Changeset {
            users: vec![stale],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err, StoreError::Conflict(ConflictKind::StaleVersion));
    let mut renamed = s.user_by_id(b.id).await.unwrap().unwrap();
    renamed.email = a.email.clone();
    let err = commit(
        &*s,
        Changeset {
            users: vec![renamed],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err, StoreError::Conflict(ConflictKind::Unique(UniqueKey::UserEmail)));
    let mut both = s.users_by_ids(&[a.id, b.id, UserId::from_uuid(uuid())]).await.unwrap();
    both.sort_by_key(|u| u.email.clone());
    assert_eq!(
        both.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        ["a@x.test", "b@x.test"]
    );
    assert!(both[0].is_platform_owner);
}

pub async fn one_pending_invitation_per_org_and_email<S: Store>(s: Arc<S>) {
    let (_, o) = seeded(&*s, "acme").await;
    let first = invitation(o.id(), "guest@x.test", Role::Member, 1, 0);
    commit(
        &*s,
        Changeset {
            invitations: vec![first.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let second = invitation(o.id(), "guest@x.test", Role::Admin, 2, 1);
    let err = commit(
        &*s,
        Changeset {
            invitations: vec![second.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict(ConflictKind::Unique(UniqueKey::PendingInvitation))
    );
    let mut stored = s
        .pending_invitation(o.id(), &first.record().email)
        .await
        .unwrap()
        .expect("pending");
    assert_eq!(stored.record().version, 1);
    stored.cancel(t(2)).unwrap();
    commit(
        &*s,
        Changeset {
            invitations: vec![stored, second.clone()],
            ..Default::default()
        },
    )
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
    let (_, o) = seeded(&*s, "acme").await;
    let old = invitation(o.id(), "old@x.test", Role::Member, 1, 0);
    let fresh = invitation(o.id(), "fresh@x.test", Role::Admin, 2, 100);
    commit(
        &*s,
        Changeset {
            invitations: vec![old.clone(), fresh.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let now = t(0) + Duration::days(7) + Duration::seconds(50);
    let all = s
        .org_invitations(o.id(), None, now, PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(
        all.items.iter().map(|i| i.record().id).collect::<Vec<_>>(),
        [fresh.record().id, old.record().id],
        "newest first"
    );
    let expired = s
        .org_invitations(o.id(), Some(InvitationStatus::Expired), now, PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(
        expired.items.iter().map(|i| i.record().id).collect::<Vec<_>>(),
        [old.record().id]
    );
    let pending = s
        .org_invitations(o.id(), Some(InvitationStatus::Pending), now, PageRequest::new(1, 50))
        .await
        .unwrap();
    assert_eq!(pending.total, 1);
    let mine = s
        .pending_invitations_for(&Email::parse("OLD@x.test").unwrap(), now)
        .await
        .unwrap();
    assert!(mine.is_empty(), "an expired invitation is not offered to the invitee");
    let mine = s
        .pending_invitations_for(&Email::parse("fresh@x.test").unwrap(), now)
        .await
        .unwrap();
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
    let (owner, o) = seeded(&*s, "acme").await;
    let (other_owner, other) = seeded(&*s, "other").await;
    let in_org = session(owner.id, Some(o.id()), SessionKind::Org, 1);
    let platform = session(owner.id, None, SessionKind::Platform, 2);
    let service = session(owner.id, Some(o.id()), SessionKind::Service, 3);
    let elsewhere = session(other_owner.id, Some(other.id()), SessionKind::Org, 4);
    let all = vec![in_org.clone(), platform.clone(), service.clone(), elsewhere.clone()];
    commit(
        &*s,
        Changeset {
            sessions: all,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let revoke = |scope, reason| SessionRevocation {
        scope,
        reason,
        at: t(9),
    };
    commit(
        &*s,
        Changeset {
            revocations: vec![revoke(
                RevocationScope::MemberOfOrg(o.id(), owner.id),
                RevokeReason::MemberRemoved,
            )],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let reason = |id| {
        let s = s.clone();
        async move { s.session_by_id(id).await.unwrap().unwrap().revoke_reason }
    };
    assert_eq!(reason(in_org.id).await, Some(RevokeReason::MemberRemoved));
    assert_eq!(reason(platform.id).await, None);
    assert_eq!(
        reason(service.id).await,
        None,
        "service sessions are not member sessions"
    );
    commit(
        &*s,
        Changeset {
            revocations: vec![revoke(RevocationScope::Org(o.id()), RevokeReason::OrgSuspended)],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(reason(service.id).await, Some(RevokeReason::OrgSuspended));
    assert_eq!(
        reason(in_org.id).await,
        Some(RevokeReason::MemberRemoved),
        "the first reason stays"
    );
    assert_eq!(reason(elsewhere.id).await, None, "another org's session was revoked");
    commit(
        &*s,
        Changeset {
            revocations: vec![revoke(RevocationScope::User(owner.id), RevokeReason::UserDisabled)],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(reason(platform.id).await, Some(RevokeReason::UserDisabled));
    let found = s
        .session_by_refresh_hash(&TokenHash([4; 32]))
        .await
        .unwrap()
        .expect("by hash");
    assert_eq!(found.id, elsewhere.id);
    let mut rotated = found.clone();
    rotated.previous_hash = Some((rotated.refresh_hash, t(10)));
    rotated.refresh_hash = TokenHash([5; 32]);
    commit(
        &*s,
        Changeset {
            sessions: vec![rotated.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.session_by_refresh_hash(&TokenHash([4; 32]))
            .await
            .unwrap()
            .unwrap()
            .id,
        elsewhere.id,
        "predecessor still finds it"
    );
    let stored = s.session_by_refresh_hash(&TokenHash([5; 32])).await.unwrap().unwrap();
    assert_eq!(stored.previous_hash, rotated.previous_hash);
    let err = commit(
        &*s,
        Changeset {
            sessions: vec![rotated],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict(ConflictKind::StaleVersion),
        "rotation is a compare-and-swap"
    );
}

pub async fn org_lists_order_and_filter<S: Store>(s: Arc<S>) {
    let (owner, mut a) = seeded(&*s, "alpha").await;
    let (other, mut b) = seeded(&*s, "bravo-team").await;
    let mut inv = invitation(b.id(), owner.email.as_str(), Role::Member, 7, 5);
    b.accept_invitation(&mut inv, &owner, MembershipId::from_uuid(uuid()), 10, t(5))
        .unwrap();
    a.suspend(
        &Actor {
            user_id: other.id,
            is_platform_owner: true,
        },
        None,
        t(6),
    )
    .unwrap();
    commit(
        &*s,
        Changeset {
            orgs: vec![a.clone(), b.clone()],
            invitations: vec![inv],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mine = s.orgs_of_member(owner.id, None, PageRequest::new(1, 20)).await.unwrap();
    assert_eq!(
        mine.items.iter().map(|o| o.slug().as_str()).collect::<Vec<_>>(),
        ["alpha", "bravo-team"]
    );
    let active = s
        .orgs_of_member(owner.id, Some(OrgStatus::Active), PageRequest::new(1, 20))
        .await
        .unwrap();
    assert_eq!(
        active.items.iter().map(|o| o.slug().as_str()).collect::<Vec<_>>(),
        ["bravo-team"]
    );
    assert_eq!(s.count_orgs_owned_by(owner.id).await.unwrap(), 1);
    let q = OrgFilter {
        q: Some("BRAVO".into()),
        status: None,
    };
    let found = s.list_orgs(&q, PageRequest::new(1, 20)).await.unwrap();
    assert_eq!((found.total, found.items[0].id()), (1, b.id()));
    let suspended = OrgFilter {
        status: Some(OrgStatus::Suspended),
        q: None,
    };
    assert_eq!(
        s.list_orgs(&suspended, PageRequest::new(1, 20)).await.unwrap().items[0].id(),
        a.id()
    );
    assert_eq!(
        s.list_orgs(&OrgFilter::default(), PageRequest::new(2, 1))
            .await
            .unwrap()
            .total,
        2
    );
}

pub async fn membership_changes_round_trip<S: Store>(s: Arc<S>) {
    let (owner, mut o) = seeded(&*s, "acme").await;
    let (m1, m2) = (user("m1@acme.test"), user("m2@acme.test"));
    for (i, m) in [&m1, &m2].into_iter().enumerate() {
        let mut inv = invitation(o.id(), m.email.as_str(), Role::Member, 20 + u8::try_from(i).unwrap(), 1);
        o.accept_invitation(&mut inv, m, MembershipId::from_uuid(uuid()), 10, t(2))
            .unwrap();
    }
    commit(
        &*s,
        Changeset {
            orgs: vec![o.clone()],
            users: vec![m1.clone(), m2.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut o = s.org_by_id(o.id()).await.unwrap().unwrap();
    let owner_actor = actor(&owner);
    o.transfer_ownership(&owner_actor, m1.id, t(3)).unwrap();
    commit(
        &*s,
        Changeset {
            orgs: vec![o.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut o = s.org_by_id(o.id()).await.unwrap().unwrap();
    assert_eq!(o.state().owner_user_id, m1.id);
    assert_eq!(o.membership(owner.id).unwrap().role, Role::Admin);
    assert_eq!(o.membership(m1.id).unwrap().role, Role::Owner);
    o.remove_member(&actor(&m1), m2.id, t(4)).unwrap();
    o.change_role(&actor(&m1), owner.id, Role::Member, t(4)).unwrap();
    commit(
        &*s,
        Changeset {
            orgs: vec![o.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let o = s.org_by_id(o.id()).await.unwrap().unwrap();
    assert!(o.membership(m2.id).is_none(), "removed membership still stored");
    assert_eq!(o.membership(owner.id).unwrap().role, Role::Member);
    assert_eq!(o.state().memberships.len(), 2);
}

fn hook(org: OrgId, name: &str, events: &[&str], active: bool, at: i64) -> Webhook {
    Webhook {
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
    }
}

pub async fn events_fan_out_to_subscribed_active_endpoints<S: Store>(s: Arc<S>) {
    let (_, o) = seeded(&*s, "acme").await;
    let (_, other) = seeded(&*s, "other").await;
    let a = hook(o.id(), "a", &["member.added", "role.created"], true, 1);
    let b = hook(o.id(), "b", &["role.created"], true, 1);
    let c = hook(o.id(), "c", &["member.added"], false, 1);
    let mut d = hook(o.id(), "d", &["member.added"], true, 1);
    let foreign = hook(other.id(), "f", &["member.added"], true, 1);
    commit(
        &*s,
        Changeset {
            webhooks: vec![a.clone(), b, c, d.clone(), foreign],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // In one changeset: a new endpoint (included), a deleted one (excluded), and the event.
    let e = hook(o.id(), "e", &["member.added"], true, 2);
    d.version = 1;
    d.deleted_at = Some(t(2));
    let mut ev = event(o.id(), "member.added");
    ev.actor_email = Some("owner@acme.test".into());
    commit(
        &*s,
        Changeset {
            webhooks: vec![e.clone(), d],
            events: vec![ev.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut got: Vec<WebhookId> = Vec::new();
    for w in [a.id, e.id] {
        let page = s
            .webhook_deliveries(w, &DeliveryFilter::default(), PageRequest::new(1, 10))
            .await
            .unwrap();
        assert_eq!(page.total, 1, "one delivery per subscriber");
        let del = &page.items[0];
        assert_eq!(
            (del.event_id, del.event_type.as_str(), del.status),
            (ev.id, "member.added", DeliveryStatus::Pending)
        );
        assert_eq!(del.next_retry_at, Some(ev.occurred_at), "due at once");
        assert_eq!(del.payload, webhooks::envelope(&ev), "the exact envelope is stored");
        got.push(del.webhook_id);
    }
    assert_eq!(got, [a.id, e.id]);
    assert_eq!(s.pending_count().await.unwrap(), 2);
    let hooks = s.org_webhooks(o.id()).await.unwrap();
    assert_eq!(
        hooks.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c", "e"],
        "deleted endpoints are not listed"
    );
    assert!(
        s.webhook(other.id(), a.id).await.unwrap().is_none(),
        "another org's endpoint"
    );
}

pub async fn due_deliveries_are_claimed_under_a_lease<S: Store>(s: Arc<S>) {
    let (_, o) = seeded(&*s, "acme").await;
    let a = hook(o.id(), "a", &["member.added"], true, 0);
    let ev = event(o.id(), "member.added");
    commit(
        &*s,
        Changeset {
            webhooks: vec![a.clone()],
            events: vec![ev],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let now = t(10);
    let claimed = s.claim_due(now, now + Duration::seconds(60), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].next_retry_at, Some(now + Duration::seconds(60)));
    assert!(
        s.claim_due(now, now + Duration::seconds(60), 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed twice"
    );
    let again = s
        .claim_due(now + Duration::seconds(61), now + Duration::seconds(120), 10)
        .await
        .unwrap();
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
    commit(
        &*s,
        Changeset {
            deliveries: vec![done.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let err = commit(
        &*s,
        Changeset {
            deliveries: vec![stale],
            ..Default::default()
        },
    )
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
    let delivered = DeliveryFilter {
        delivered: Some(true),
        ..Default::default()
    };
    assert_eq!(
        s.webhook_deliveries(a.id, &delivered, PageRequest::new(1, 10))
            .await
            .unwrap()
            .total,
        1
    );
    let failed = DeliveryFilter {
        status: Some(DeliveryStatus::Failed),
        ..Default::default()
    };
    assert_eq!(
        s.webhook_deliveries(a.id, &failed, PageRequest::new(1, 10))
            .await
            .unwrap()
            .total,
        0
    );
    assert!(s.pending_deliveries(a.id).await.unwrap().is_empty());
}

macro_rules! checks {
    ($make:ident; $($check:ident),* $(,)?) => {
        $( eprintln!("contract: {}", stringify!($check)); $check($make().await).await; )*
    };
}

/// Runs every check, each against a fresh store from `make`.
pub async fn run_all<F, Fut, S>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<S>>,
    S: Store + 'static,
{
    checks!(make;
        org_round_trips_with_members_and_roles,
        unknown_rows_are_none,
        updating_a_missing_row_is_not_found,
        inserting_an_existing_id_conflicts,
        slugs_are_unique_among_live_orgs,
        stale_versions_conflict,
        a_failed_commit_leaves_nothing_behind,
        state_audit_and_events_commit_together,
        audit_seq_follows_commit_order_per_log,
        pruning_deletes_a_prefix_and_keeps_the_rest_anchored,
        users_have_unique_emails_and_versions,
        one_pending_invitation_per_org_and_email,
        invitation_lists_see_expiry,
        sessions_are_revoked_by_scope,
        org_lists_order_and_filter,
        membership_changes_round_trip,
        events_fan_out_to_subscribed_active_endpoints,
        due_deliveries_are_claimed_under_a_lease,
    );
}
