//! Audit entries and webhook events of each mutation (§23), and `authorization.denied`.

use org_domain::{Capability, OrgName, UpdateOrg};
use org_ports::{AuditFilter, AuditLog, PageRequest};

use crate::support::{World, meta, missing};

#[tokio::test]
async fn each_mutation_writes_its_audit_action_and_webhook_types() {
    let w = World::new().await;
    let member_id = w.member.user.id().to_string();
    type Step<'a> = (&'a str, &'a [&'a str], &'a [&'a str]);
    let table: Vec<Step> = vec![
        ("rename", &["org.updated"], &["organization.updated"]),
        (
            "role change",
            &["member.role_changed"],
            &["member.role_updated", "user.role_updated"],
        ),
        (
            "invite",
            &["invitation.created"],
            &["invitation.created", "user.invited"],
        ),
        ("remove", &["member.removed"], &["member.removed", "user.removed"]),
    ];
    for (name, actions, types) in table {
        let (log_before, ev_before) = (w.acme_log().await.len(), w.org_events("acme").await.len());
        match name {
            "rename" => {
                let upd = UpdateOrg {
                    name: Some(OrgName::parse("Renamed").unwrap()),
                    ..UpdateOrg::default()
                };
                w.app.orgs.update(&w.owner, &meta(), "acme", upd).await.map(drop)
            }
            "role change" => w
                .app
                .members
                .change_role(&w.owner, &meta(), "acme", &member_id, "admin")
                .await
                .map(drop),
            "invite" => w
                .app
                .invitations
                .create(&w.owner, &meta(), "acme", "z@x.test", None, None)
                .await
                .map(drop),
            _ => w
                .app
                .members
                .remove(&w.owner, &meta(), "acme", &member_id)
                .await
                .map(drop),
        }
        .unwrap();
        let log = w.acme_log().await;
        assert_eq!(&log[log_before..], actions, "{name}");
        let events: Vec<String> = w.event_types("acme").await[ev_before..].to_vec();
        assert_eq!(events, types, "{name}");
    }
    let org = w.app.orgs.get(&w.owner, "acme").await.unwrap().org;
    let page = w
        .app
        .stores()
        .audit
        .audit_entries(AuditLog::Org(org.id()), &AuditFilter::default(), PageRequest::new(1, 1))
        .await
        .unwrap();
    let e = &page.items[0].entry;
    assert_eq!(
        (e.actor.id.as_str(), e.actor.email.as_deref()),
        (w.owner.user.id().to_string().as_str(), Some("owner@acme.test"))
    );
    assert_eq!(
        (
            e.ip_address.as_deref(),
            e.user_agent.as_deref(),
            e.request_id.as_deref()
        ),
        (Some("203.0.113.7"), Some("tests"), Some("req-1"))
    );
    assert_eq!(e.metadata.as_ref().unwrap()["removed_user_email"], "member@acme.test");
}

#[tokio::test]
async fn a_denied_member_is_audited_once_per_minute() {
    let w = World::new().await;
    for _ in 0..3 {
        let err = w.app.orgs.delete(&w.admin, &meta(), "acme").await.unwrap_err();
        assert_eq!(err, missing(Capability::OrgDelete));
    }
    let org = w.app.orgs.get(&w.owner, "acme").await.unwrap().org;
    let filter = AuditFilter {
        action: Some("authorization.denied".into()),
        ..Default::default()
    };
    let page = w
        .app
        .stores()
        .audit
        .audit_entries(AuditLog::Org(org.id()), &filter, PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(page.total, Some(1));
    let e = &page.items[0].entry;
    assert!(!e.success);
    assert_eq!(e.metadata.as_ref().unwrap()["missing"], "org.delete");
    assert_eq!(w.app.denied_suppressed_total(), 2);
    w.advance(chrono::Duration::seconds(61));
    w.app.orgs.delete(&w.admin, &meta(), "acme").await.unwrap_err();
    let page = w
        .app
        .stores()
        .audit
        .audit_entries(AuditLog::Org(org.id()), &filter, PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(page.total, Some(2));
    // Strangers get not-found and no entry.
    w.app.orgs.delete(&w.stranger, &meta(), "acme").await.unwrap_err();
    let page = w
        .app
        .stores()
        .audit
        .audit_entries(AuditLog::Org(org.id()), &filter, PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(page.total, Some(2));
}

#[tokio::test]
async fn the_org_log_is_listed_filtered_and_verifies_as_a_chain() {
    let w = World::new().await;
    let err = w
        .app
        .audit
        .list(
            &w.member,
            &meta(),
            "acme",
            &AuditFilter::default(),
            PageRequest::new(1, 10),
        )
        .await
        .unwrap_err();
    assert_eq!(err, missing(Capability::AuditLogsView));
    let all = w
        .app
        .audit
        .list(
            &w.auditor,
            &meta(),
            "acme",
            &AuditFilter::default(),
            PageRequest::new(1, 100),
        )
        .await
        .unwrap();
    let total = all.total.unwrap();
    assert!(total >= 5);
    let roles = AuditFilter {
        action: Some("role.created".into()),
        ..Default::default()
    };
    let page = w
        .app
        .audit
        .list(&w.auditor, &meta(), "acme", &roles, PageRequest::new(1, 100))
        .await
        .unwrap();
    assert_eq!(page.total, Some(1));
    let head = w.app.audit.head(&w.auditor, &meta(), "acme").await.unwrap().unwrap();
    assert_eq!(head.seq, total);
    let log = w.app.audit.log_of(&w.owner, &meta(), "acme").await.unwrap();
    let verdict = w.app.audit.verify_log(log).await.unwrap();
    assert_eq!(
        verdict,
        org_ports::chain::Verdict::Intact {
            entries: total,
            head: Some(head.hash),
            complete: true
        }
    );
    let platform = w.app.audit.verify_log(AuditLog::Platform).await.unwrap();
    assert!(matches!(
        platform,
        org_ports::chain::Verdict::Intact { complete: true, .. }
    ));
    let chunk = w.app.audit.chunk(log, 2, 2).await.unwrap();
    assert_eq!(chunk.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    assert!(
        w.app
            .audit
            .platform(&w.owner, None, &AuditFilter::default(), PageRequest::new(1, 10))
            .await
            .is_err()
    );
    let p = w
        .app
        .audit
        .platform(&w.platform, None, &AuditFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap();
    assert!(p.items.iter().all(|e| e.entry.org_id.is_none()));
}

#[tokio::test]
async fn pruning_deletes_entries_older_than_the_retention_and_keeps_the_chain_verifiable() {
    let w = World::new().await;
    let acme = w.app.audit.org_log_by_slug("acme").await.unwrap();
    let other = w.app.audit.org_log_by_slug("other").await.unwrap();
    let old = w.app.audit.chunk(acme, 0, 500).await.unwrap();
    let last_old = old.last().unwrap().clone();
    w.advance(chrono::Duration::days(10));
    let rename = |name: &'static str| UpdateOrg {
        name: Some(OrgName::parse(name).unwrap()),
        ..UpdateOrg::default()
    };
    w.app
        .orgs
        .update(&w.owner, &meta(), "acme", rename("Fresh"))
        .await
        .unwrap();
    w.app
        .orgs
        .update(&w.stranger, &meta(), "other", rename("Fresh Other"))
        .await
        .unwrap();
    crate::support::user(&w.app, "late@platform.test").await;

    let pruned = w.app.audit.prune(chrono::Duration::days(5)).await.unwrap();

    let kept = w.app.audit.chunk(acme, 0, 500).await.unwrap();
    let actions: Vec<&str> = kept.iter().map(|e| e.entry.action.as_str()).collect();
    assert_eq!(
        actions,
        ["org.updated", "audit.pruned"],
        "only the fresh entries remain"
    );
    assert_eq!(kept[0].seq, last_old.seq + 1);
    assert_eq!(
        kept[0].prev_hash, last_old.hash,
        "the rest is anchored at the pruned head"
    );
    let marker = &kept[1].entry;
    assert_eq!(marker.actor.id, "system");
    assert_eq!(
        marker.metadata,
        Some(serde_json::json!({
            "pruned_through_seq": last_old.seq,
            "pruned_head_hash": org_ports::chain::to_hex(&last_old.hash),
            "count": old.len(),
        }))
    );
    assert!(
        pruned > old.len() as u64,
        "the other org and the platform log are pruned too"
    );
    for log in [acme, other, AuditLog::Platform] {
        let verdict = w.app.audit.verify_log(log).await.unwrap();
        assert!(
            matches!(verdict, org_ports::chain::Verdict::Intact { complete: true, .. }),
            "{log:?}: {verdict:?}"
        );
        assert_eq!(
            w.audit_actions(log).await.last().map(String::as_str),
            Some("audit.pruned")
        );
    }

    assert_eq!(
        w.app.audit.prune(chrono::Duration::days(5)).await.unwrap(),
        0,
        "nothing old is left"
    );
    assert_eq!(
        w.app.audit.chunk(acme, 0, 500).await.unwrap(),
        kept,
        "a run with nothing old writes nothing"
    );
}

#[tokio::test]
async fn an_idle_log_keeps_its_newest_entry_and_settles() {
    let w = World::new().await;
    let other = w.app.audit.org_log_by_slug("other").await.unwrap();
    let upd = UpdateOrg {
        name: Some(OrgName::parse("Renamed").unwrap()),
        ..UpdateOrg::default()
    };
    w.app.orgs.update(&w.stranger, &meta(), "other", upd).await.unwrap();
    let before = w.app.audit.chunk(other, 0, 500).await.unwrap();
    w.advance(chrono::Duration::days(10));
    w.app.audit.prune(chrono::Duration::days(5)).await.unwrap();
    let after = w.app.audit.chunk(other, 0, 500).await.unwrap();
    assert_eq!(after.first(), before.last(), "the newest entry is never pruned");
    w.advance(chrono::Duration::days(10));
    w.app.audit.prune(chrono::Duration::days(5)).await.unwrap();
    w.advance(chrono::Duration::days(10));
    let settled = w.app.audit.chunk(other, 0, 500).await.unwrap();
    assert_eq!(w.app.audit.prune(chrono::Duration::days(5)).await.unwrap(), 0);
    assert_eq!(
        w.app.audit.chunk(other, 0, 500).await.unwrap(),
        settled,
        "only markers are left"
    );
    assert!(settled.iter().all(|e| e.entry.action == "audit.pruned"));
}

#[tokio::test]
async fn a_prefix_deleted_without_an_audit_pruned_entry_is_detected() {
    let w = World::new().await;
    let log = w.app.audit.log_of(&w.owner, &meta(), "acme").await.unwrap();
    let prune = org_ports::AuditPrune {
        log,
        through_seq: 2,
        count: 2,
    };
    let c = org_ports::Changeset {
        audit_prunes: vec![prune],
        ..Default::default()
    };
    w.app.stores().uow.commit(c).await.unwrap();
    match w.app.audit.verify_log(log).await.unwrap() {
        org_ports::chain::Verdict::Broken { first_bad_seq, .. } => assert_eq!(first_bad_seq, 3),
        other => panic!("a silent deletion verified: {other:?}"),
    }
}
