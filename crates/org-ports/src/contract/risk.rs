//! Contract checks of the risk rows (§16): risk settings (one row per org, created with the
//! org, compare-and-swap), risk events (insert-only, listed newest first with `min_score`,
//! offsets and keyset positions), and both going with a purged org.

use org_domain::risk::{
    DeviceKey, EnforcementMode, RiskAction, RiskEvent, RiskEventId, RiskFactor, RiskPolicy, RiskSettings,
    RiskSettingsRecord,
};

use super::*;
use crate::RiskEventQuery;

fn settings(org: OrgId, low: u8, version: u64) -> RiskSettings {
    RiskSettings::restore(RiskSettingsRecord {
        org_id: org,
        policy: RiskPolicy {
            enforcement_mode: EnforcementMode::Block,
            low_threshold: low,
            ..RiskPolicy::DEFAULT
        },
        updated_at: t(7),
        version,
    })
}

/// A recorded login of `org` at `t(at)` with `score`.
fn event(org: OrgId, user: Option<UserId>, at: i64, score: u8) -> RiskEvent {
    RiskEvent {
        id: RiskEventId::from_uuid(uuid()),
        org_id: org,
        user_id: user,
        user_email: "who@acme.test".into(),
        service_id: Some(uuid()),
        created_at: t(at),
        success: score < 90,
        risk_score: score,
        risk_factors: if score >= 50 {
            vec![RiskFactor::NewDevice, RiskFactor::ImpossibleTravel]
        } else {
            Vec::new()
        },
        risk_action: if score >= 70 {
            RiskAction::Block
        } else {
            RiskAction::Allow
        },
        geo_country: Some("FR".into()),
        geo_city: Some("Paris".into()),
        geo_lat: Some(48.8566),
        geo_long: Some(2.3522),
        ip_address: Some("203.0.113.9".into()),
        user_agent: Some("Mozilla/5.0".into()),
        device_key: Some(DeviceKey::restore("id:laptop".into())),
        provider: "password".into(),
        failure_reason: (score >= 90).then(|| "bad_password".to_owned()),
    }
}

fn query(min_score: u8, offset: u64, limit: u32) -> RiskEventQuery {
    RiskEventQuery {
        min_score,
        before: None,
        offset,
        limit,
    }
}

pub async fn risk_settings_are_one_row_per_org_written_compare_and_swap<S: Store>(s: Arc<S>) {
    // Created with the org, in the org's own commit.
    let owner = someone();
    let (o, m) = org("acme", &owner, 0);
    let id = o.id();
    s.commit(Changeset {
        orgs: vec![o],
        memberships: vec![m],
        users: vec![owner],
        risk_settings: vec![RiskSettings::defaults(id, t(0))],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.risk_settings(id).await,
        Ok(Some(RiskSettings::defaults(id, t(0)).with_version(1))),
        "inserted with the org, version 1"
    );
    let other = seeded(&*s, "other").await.org.id();
    assert_eq!(s.risk_settings(other).await, Ok(None), "per org");
    let cases = [
        (
            "a first write over a stored row (a racing first write)",
            settings(id, 10, 0),
            Err(stale()),
        ),
        ("a stale update", settings(id, 10, 7), Err(stale())),
        (
            "an org that does not exist",
            settings(OrgId::from_uuid(uuid()), 10, 0),
            Err(StoreError::NotFound),
        ),
        ("an update at the stored version", settings(id, 15, 1), Ok(())),
    ];
    for (what, row, want) in cases {
        let got = s
            .commit(Changeset {
                risk_settings: vec![row],
                audit: vec![audit(Some(id), "risk_settings.updated", 8)],
                ..cs()
            })
            .await;
        assert_eq!(got, want, "{what}");
    }
    assert_eq!(
        s.risk_settings(id).await,
        Ok(Some(settings(id, 15, 2))),
        "every field stored; failed commits left nothing"
    );
    let log = s
        .audit_entries(AuditLog::Org(id), &AuditFilter::default(), PageRequest::new(1, 10))
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1, "only the successful commit wrote its entry");
}

pub async fn risk_events_are_listed_newest_first_by_score_offset_and_keyset<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let other = seeded(&*s, "other").await.org.id();
    let who = Some(seed.owner.id());
    // Two events share a time: the later id comes first among them.
    let rows = vec![
        event(id, who, 10, 0),
        event(id, None, 20, 80),
        event(id, who, 30, 40),
        event(id, who, 30, 95),
        event(id, who, 40, 20),
    ];
    s.commit(Changeset {
        risk_events: rows.clone(),
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        risk_events: vec![event(other, None, 50, 100)],
        ..cs()
    })
    .await
    .unwrap();
    let newest_first: Vec<RiskEvent> = [4, 3, 2, 1, 0].iter().map(|i| rows[*i].clone()).collect();
    let pick = |idx: &[usize]| idx.iter().map(|i| rows[*i].clone()).collect::<Vec<_>>();
    let cases: Vec<(&str, RiskEventQuery, Vec<RiskEvent>)> = vec![
        ("everything, newest first", query(0, 0, 50), newest_first.clone()),
        ("a first page", query(0, 0, 2), pick(&[4, 3])),
        ("a second page (offset 2)", query(0, 2, 2), pick(&[2, 1])),
        ("past the end", query(0, 10, 2), Vec::new()),
        ("min_score 40", query(40, 0, 50), pick(&[3, 2, 1])),
        ("min_score 40, offset 1", query(40, 1, 1), pick(&[2])),
        ("min_score 100", query(100, 0, 50), Vec::new()),
        (
            "after the keyset position of the event at 30 with the greater id",
            RiskEventQuery {
                before: Some((rows[3].created_at, rows[3].id)),
                ..query(0, 0, 50)
            },
            pick(&[2, 1, 0]),
        ),
        (
            "after a position, filtered",
            RiskEventQuery {
                before: Some((rows[2].created_at, rows[2].id)),
                ..query(50, 0, 50)
            },
            pick(&[1]),
        ),
    ];
    for (what, q, want) in cases {
        assert_eq!(s.risk_events(id, &q).await, Ok(want), "{what}");
    }
    assert_eq!(
        s.risk_events(other, &query(0, 0, 50)).await.unwrap().len(),
        1,
        "per org"
    );
    // Inserts only: an existing id conflicts, a missing org is not found, and nothing of a
    // failed commit stays.
    let fresh = event(id, who, 60, 10);
    let failures = [
        (
            "an existing id",
            vec![fresh.clone(), rows[0].clone()],
            StoreError::Conflict(ConflictKind::Unique(UniqueKey::Id)),
        ),
        (
            "an org that does not exist",
            vec![fresh.clone(), event(OrgId::from_uuid(uuid()), None, 60, 10)],
            StoreError::NotFound,
        ),
    ];
    for (what, events, want) in failures {
        let got = s
            .commit(Changeset {
                risk_events: events,
                ..cs()
            })
            .await;
        assert_eq!(got, Err(want), "{what}");
    }
    assert_eq!(
        s.risk_events(id, &query(0, 0, 50)).await,
        Ok(newest_first),
        "failed commits left nothing"
    );
}

pub async fn a_purge_takes_the_org_s_risk_rows<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "acme").await;
    let id = seed.org.id();
    let keep = seeded(&*s, "keep").await.org.id();
    s.commit(Changeset {
        risk_settings: vec![settings(id, 20, 0), settings(keep, 20, 0)],
        risk_events: vec![event(id, None, 1, 50), event(keep, None, 1, 50)],
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
    assert_eq!(s.risk_settings(id).await, Ok(None));
    assert_eq!(s.risk_events(id, &query(0, 0, 50)).await, Ok(Vec::new()));
    assert!(s.risk_settings(keep).await.unwrap().is_some(), "other orgs keep theirs");
    assert_eq!(s.risk_events(keep, &query(0, 0, 50)).await.unwrap().len(), 1);
}
