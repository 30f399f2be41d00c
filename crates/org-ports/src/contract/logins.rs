//! Contract checks of the login rows (§19.5, §19.3, §22.3): the bounded history reads of the
//! risk engine, end users with their first and latest service login, the MAU cap decided in
//! the commit, identities inserted once, end-user pages (keyset, service filter), service
//! sessions and their revocation scopes, and the rows going with a purged org.

use org_domain::ServiceId;
use org_domain::login::{EndUserLogin, LoginIdentity, MauCap};
use org_domain::risk::{DeviceKey, RiskAction, RiskEvent, RiskEventId};

use super::*;
use crate::{EndUserQuery, HistoryQuery, LoginSubject, RevocationScope, SessionRevocation};

fn login(org: OrgId, user: Option<UserId>, email: &str, at: i64, success: bool, geo: bool, device: &str) -> RiskEvent {
    RiskEvent {
        id: RiskEventId::from_uuid(uuid()),
        org_id: org,
        user_id: user,
        user_email: email.into(),
        service_id: None,
        created_at: t(at),
        success,
        risk_score: 0,
        risk_factors: Vec::new(),
        risk_action: RiskAction::Allow,
        geo_country: None,
        geo_city: None,
        geo_lat: geo.then_some(48.8),
        geo_long: geo.then_some(2.3),
        ip_address: None,
        user_agent: None,
        device_key: (!device.is_empty()).then(|| DeviceKey::restore(format!("id:{device}"))),
        provider: "password".into(),
        failure_reason: None,
    }
}

fn end_login(org: OrgId, user: UserId, at: i64) -> EndUserLogin {
    EndUserLogin {
        org_id: org,
        user_id: user,
        service_id: None,
        at: t(at),
    }
}

fn identity(org: OrgId, user: UserId, key: &str, service: Option<ServiceId>, at: i64) -> LoginIdentity {
    LoginIdentity {
        org_id: org,
        user_id: user,
        provider: "github".into(),
        provider_key: key.into(),
        service_id: service,
        created_at: t(at),
    }
}

pub async fn login_history_reads_the_rows_the_risk_engine_needs<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "hist").await;
    let (org, u) = (seed.org.id(), seed.owner.id());
    let located = login(org, Some(u), "o@x", 100, true, true, "");
    let laptop = login(org, Some(u), "o@x", 200, true, false, "laptop");
    let failed_laptop = login(org, Some(u), "o@x", 300, false, false, "phone");
    let recent: Vec<RiskEvent> = (0..5)
        .map(|i| login(org, Some(u), "o@x", 5000 + i, false, false, ""))
        .collect();
    let anonymous = login(org, None, "ghost@x", 5001, false, false, "");
    let mut rows = vec![located.clone(), laptop.clone(), failed_laptop, anonymous.clone()];
    rows.extend(recent.iter().cloned());
    s.commit(Changeset {
        risk_events: rows,
        ..cs()
    })
    .await
    .unwrap();
    let query = HistoryQuery {
        device_key: Some(DeviceKey::restore("id:laptop".into())),
        device_since: t(0),
        velocity_since: t(4000),
        velocity_limit: 3,
    };
    let got = s.login_history(org, &LoginSubject::User(u), &query).await.unwrap();
    let ids: Vec<RiskEventId> = got.iter().map(|e| e.id).collect();
    assert!(ids.contains(&located.id), "the latest located success");
    assert!(ids.contains(&laptop.id), "a success with the device");
    let velocity = got.iter().filter(|e| e.created_at >= t(4000)).count();
    assert_eq!(velocity, 3, "attempts in the window, bounded by the limit: {got:?}");
    assert!(got.iter().all(|e| e.user_id == Some(u)), "only the user's rows");
    // A device outside its window is not read.
    let late = HistoryQuery {
        device_since: t(250),
        ..query.clone()
    };
    let got = s.login_history(org, &LoginSubject::User(u), &late).await.unwrap();
    assert!(!got.iter().any(|e| e.id == laptop.id), "{got:?}");
    // Attempts without a user are read by e-mail, velocity only.
    let got = s
        .login_history(org, &LoginSubject::Email("ghost@x".into()), &query)
        .await
        .unwrap();
    assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), [anonymous.id]);
}

pub async fn end_users_keep_first_and_latest_login_under_the_mau_cap<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "mau").await;
    let org = seed.org.id();
    let (a, b) = (someone(), someone());
    s.commit(Changeset {
        users: vec![a.clone(), b.clone()],
        end_user_logins: vec![end_login(org, a.id(), 10)],
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        end_user_logins: vec![end_login(org, a.id(), 20)],
        ..cs()
    })
    .await
    .unwrap();
    let standing = s.end_user(org, a.id()).await.unwrap().expect("an end user");
    assert_eq!((standing.since, standing.last_login_at), (t(10), t(20)));
    assert_eq!(s.end_user(org, b.id()).await, Ok(None));
    assert_eq!(s.mau_count(org, t(15)).await, Ok(1));
    assert_eq!(s.mau_count(org, t(25)).await, Ok(0), "outside the window");
    // At the cap, a new user is refused; an active one passes; nothing of a refusal is kept.
    let cap = |n| MauCap {
        org_id: org,
        cap: n,
        since: t(0),
    };
    let refused = s
        .commit(Changeset {
            end_user_logins: vec![end_login(org, b.id(), 30)],
            login_identities: vec![identity(org, b.id(), "b", None, 30)],
            mau_cap: Some(cap(1)),
            ..cs()
        })
        .await;
    assert_eq!(refused, Err(StoreError::Conflict(ConflictKind::MauCap)));
    assert_eq!(s.end_user(org, b.id()).await, Ok(None));
    assert_eq!(s.identities(org, &[b.id()]).await, Ok(Vec::new()));
    s.commit(Changeset {
        end_user_logins: vec![end_login(org, a.id(), 30)],
        mau_cap: Some(cap(1)),
        ..cs()
    })
    .await
    .unwrap();
    s.commit(Changeset {
        end_user_logins: vec![end_login(org, b.id(), 40)],
        mau_cap: Some(cap(2)),
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.mau_count(org, t(0)).await, Ok(2));
    // An unknown user or org is not found.
    let ghost = s
        .commit(Changeset {
            end_user_logins: vec![end_login(org, UserId::from_uuid(uuid()), 50)],
            ..cs()
        })
        .await;
    assert_eq!(ghost, Err(StoreError::NotFound));
}

pub async fn end_user_pages_identities_and_service_sessions<S: Store>(s: Arc<S>) {
    let seed = seeded(&*s, "endu").await;
    let org = seed.org.id();
    let other = seeded(&*s, "endu-other").await.org.id();
    let shop = ServiceId::from_uuid(uuid());
    let users: Vec<User> = (0..3).map(|_| someone()).collect();
    let mut c = Changeset {
        users: users.clone(),
        ..cs()
    };
    for (i, u) in users.iter().enumerate() {
        let at = 10 * (i as i64 + 1);
        c.end_user_logins.push(end_login(org, u.id(), at));
        let service = (i != 1).then_some(shop);
        c.login_identities
            .push(identity(org, u.id(), &format!("k{i}"), service, at));
    }
    c.end_user_logins.push(end_login(other, users[0].id(), 5));
    s.commit(c).await.unwrap();
    // The same identity again keeps the first row.
    s.commit(Changeset {
        login_identities: vec![identity(org, users[1].id(), "k0", None, 99)],
        ..cs()
    })
    .await
    .unwrap();
    let page = |service, before, offset, limit| EndUserQuery {
        service,
        before,
        offset,
        limit,
    };
    let ids = |rows: Vec<crate::EndUserRow>| rows.into_iter().map(|r| r.user_id).collect::<Vec<_>>();
    let all = s.end_user_page(org, &page(None, None, 0, 10)).await.unwrap();
    assert_eq!(
        ids(all.clone()),
        [users[2].id(), users[1].id(), users[0].id()],
        "newest first"
    );
    let last = &all[1];
    let after = s
        .end_user_page(org, &page(None, Some((last.standing.since, last.user_id)), 0, 10))
        .await
        .unwrap();
    assert_eq!(ids(after), [users[0].id()], "keyset");
    assert_eq!(
        ids(s.end_user_page(org, &page(None, None, 1, 1)).await.unwrap()),
        [users[1].id()],
        "offset"
    );
    let of_shop = s.end_user_page(org, &page(Some(shop), None, 0, 10)).await.unwrap();
    assert_eq!(ids(of_shop), [users[2].id(), users[0].id()], "service filter");
    assert_eq!(s.end_user_count(org, None).await, Ok(3));
    assert_eq!(s.end_user_count(org, Some(shop)).await, Ok(2));
    assert_eq!(s.end_user_count(other, None).await, Ok(1));
    let found = s.identities(org, &[users[0].id(), users[1].id()]).await.unwrap();
    let keys: Vec<(&str, UserId)> = found.iter().map(|i| (i.provider_key.as_str(), i.user_id)).collect();
    assert_eq!(keys, [("k0", users[0].id()), ("k1", users[1].id())], "first row kept");

    // Service sessions: read per (org, user); revoked by service and by end user of the org.
    let u = users[0].id();
    let mut a = session(u, Some(org), SessionKind::Service, 41);
    a.service_id = Some(shop);
    let mut b = session(u, Some(org), SessionKind::Service, 42);
    b.service_id = Some(ServiceId::from_uuid(uuid()));
    let admin = session(u, Some(org), SessionKind::Org, 43);
    let mut elsewhere = session(u, Some(other), SessionKind::Service, 44);
    elsewhere.service_id = Some(ServiceId::from_uuid(uuid()));
    s.commit(Changeset {
        sessions: vec![a.clone(), b.clone(), admin.clone(), elsewhere.clone()],
        ..cs()
    })
    .await
    .unwrap();
    let live = s.end_user_sessions(org, u).await.unwrap();
    let mut live_ids: Vec<_> = live.iter().map(|x| x.id).collect();
    live_ids.sort();
    let mut want = vec![a.id, b.id];
    want.sort();
    assert_eq!(live_ids, want, "only this org's service sessions");
    assert_eq!(
        live.iter().find(|x| x.id == a.id).unwrap().service_id,
        Some(shop),
        "service_id kept"
    );
    let revoke = |scope| SessionRevocation {
        scope,
        reason: RevokeReason::ServiceDeleted,
        at: t(60),
    };
    s.commit(Changeset {
        revocations: vec![revoke(RevocationScope::Service(shop))],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(
        s.end_user_sessions(org, u)
            .await
            .unwrap()
            .iter()
            .map(|x| x.id)
            .collect::<Vec<_>>(),
        [b.id]
    );
    s.commit(Changeset {
        revocations: vec![revoke(RevocationScope::EndUserOfOrg(org, u))],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.end_user_sessions(org, u).await, Ok(Vec::new()));
    assert!(
        s.session_by_id(admin.id).await.unwrap().unwrap().revoked_at.is_none(),
        "admin kept"
    );
    assert!(
        s.session_by_id(elsewhere.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none(),
        "other org kept"
    );
    // Recent logins, newest first, bounded.
    s.commit(Changeset {
        risk_events: (0..4)
            .map(|i| login(org, Some(u), "x@x", 100 + i, true, false, ""))
            .collect(),
        ..cs()
    })
    .await
    .unwrap();
    let recent = s.recent_logins(org, u, 3).await.unwrap();
    assert_eq!(
        recent.iter().map(|e| e.created_at).collect::<Vec<_>>(),
        [t(103), t(102), t(101)]
    );

    // A purge takes the org's login rows, not the other org's.
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
        org_purges: vec![org],
        ..cs()
    })
    .await
    .unwrap();
    assert_eq!(s.end_user_count(org, None).await, Ok(0));
    assert_eq!(s.identities(org, &[u]).await, Ok(Vec::new()));
    assert_eq!(s.end_user_count(other, None).await, Ok(1));
}
