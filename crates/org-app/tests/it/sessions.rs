//! Sessions (§2): per-request authentication of access tokens, logout, and refresh-token
//! rotation with its replay window and reuse detection.

use chrono::Duration;
use org_app::{AppError, Caller, IssuedSession, RoutePolicy};
use org_domain::{RevokeReason, SessionId};
use org_ports::{AccessClaims, AccessTokens, AuditLog, TokenRejection};
use org_tokens::{JwtTokens, Keys};

use crate::support::{ISSUER, World, meta};

fn route(org_slug: Option<&str>) -> RoutePolicy<'_> {
    RoutePolicy {
        service_tokens: false,
        org_slug,
        path_org: org_slug,
    }
}

/// Claims for `caller`'s session `sid`, valid now for 15 minutes, with audience `aud`.
fn claims(w: &World, caller: &Caller, sid: SessionId, aud: &str) -> AccessClaims {
    let iat = w.app.current_time().timestamp();
    AccessClaims {
        sub: caller.user.id().to_string(),
        email: caller.user.email().as_str().to_owned(),
        is_platform_owner: false,
        jti: format!("jti-{aud}-{sid}"),
        sid: sid.to_string(),
        org: None,
        service: None,
        aud: aud.to_owned(),
        iss: ISSUER.to_owned(),
        iat,
        exp: iat + 900,
        nbf: None,
    }
}

async fn select(w: &World, who: &Caller, slug: &str) -> IssuedSession {
    w.app.orgs.select(who, &meta(), slug).await.unwrap().session
}

/// What authentication should answer.
#[derive(Debug)]
enum Answer {
    Ok,
    Token,
    ForeignOrg,
    Unauthorized,
}

#[tokio::test]
async fn authentication_accepts_exactly_the_tokens_a_route_accepts() {
    let w = World::new().await;
    let acme = select(&w, &w.member, "acme").await;
    let (_, platform) = w.app.users.issue_token("member@acme.test", None).await.unwrap();
    let revoked = select(&w, &w.member, "acme").await;
    let logged_out = Caller::new(w.member.user.clone(), Some(revoked.session.id));
    w.app.sessions.logout(&logged_out, &meta()).await.unwrap();
    let sign = |c: AccessClaims| w.tokens.sign(&c);
    let service = sign(claims(&w, &w.member, acme.session.id, "service:acme/billing"));
    let foreign_signer = JwtTokens::new(Keys::generate(), ISSUER);
    let forged = foreign_signer.sign(&claims(&w, &w.member, acme.session.id, "org:acme"));
    let mut elsewhere = claims(&w, &w.member, acme.session.id, "org:acme");
    elsewhere.iss = "https://elsewhere.test".into();
    let wrong_issuer = sign(elsewhere);
    let mut bad_sub = claims(&w, &w.member, acme.session.id, "org:acme");
    bad_sub.sub = "not-a-uuid".into();
    let not_their_session = sign(claims(&w, &w.admin, acme.session.id, "org:acme"));
    let any_service_route = RoutePolicy {
        service_tokens: true,
        org_slug: None,
        path_org: None,
    };

    let cases: Vec<(&str, String, RoutePolicy, Answer)> = vec![
        ("garbage", "not-a-token".into(), route(None), Answer::Token),
        (
            "tampered",
            format!("{}x", acme.access_token),
            route(Some("acme")),
            Answer::Token,
        ),
        ("another key", forged, route(Some("acme")), Answer::Token),
        ("another issuer", wrong_issuer, route(Some("acme")), Answer::Token),
        ("malformed subject", sign(bad_sub), route(Some("acme")), Answer::Token),
        (
            "unknown audience",
            sign(claims(&w, &w.member, acme.session.id, "everyone")),
            route(None),
            Answer::Token,
        ),
        (
            "service token, non-service route",
            service.clone(),
            route(None),
            Answer::Token,
        ),
        ("service token, service route", service, any_service_route, Answer::Ok),
        (
            "org token, its org",
            acme.access_token.clone(),
            route(Some("acme")),
            Answer::Ok,
        ),
        (
            "org token, another org",
            acme.access_token.clone(),
            route(Some("other")),
            Answer::ForeignOrg,
        ),
        (
            "org token, no org in the path",
            acme.access_token.clone(),
            route(None),
            Answer::Ok,
        ),
        (
            "platform token, org route",
            platform.access_token.clone(),
            route(Some("acme")),
            Answer::Ok,
        ),
        (
            "platform token, platform route",
            platform.access_token.clone(),
            route(None),
            Answer::Ok,
        ),
        (
            "another user's session",
            not_their_session,
            route(Some("acme")),
            Answer::Unauthorized,
        ),
        (
            "revoked session",
            revoked.access_token.clone(),
            route(Some("acme")),
            Answer::Unauthorized,
        ),
    ];
    for (name, token, policy, answer) in cases {
        let got = w.app.sessions.authenticate(&token, policy).await;
        match (&answer, got) {
            (Answer::Ok, Ok(a)) => assert_eq!(a.caller.user.id(), w.member.user.id(), "{name}"),
            (Answer::Token, Err(AppError::Token(TokenRejection::Invalid(_)))) => {}
            (Answer::ForeignOrg, Err(AppError::ForeignOrgToken)) => {}
            (Answer::Unauthorized, Err(AppError::Unauthorized(_))) => {}
            (_, got) => panic!("{name}: expected {answer:?}, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn authentication_reads_the_caller_fresh_and_refuses_expired_tokens() {
    let w = World::new().await;
    let acme = select(&w, &w.member, "acme").await;
    let a = w
        .app
        .sessions
        .authenticate(&acme.access_token, route(Some("acme")))
        .await
        .unwrap();
    assert!(!a.caller.user.is_platform_owner());
    assert_eq!(a.caller.session_id, Some(acme.session.id));
    w.app.users.set_platform_owner("member@acme.test", true).await.unwrap();
    let a = w
        .app
        .sessions
        .authenticate(&acme.access_token, route(Some("acme")))
        .await
        .unwrap();
    assert!(
        a.caller.user.is_platform_owner(),
        "the flag is re-read, not taken from the token"
    );
    assert!(!a.claims.is_platform_owner);
    w.advance(Duration::minutes(17));
    assert_eq!(
        w.app
            .sessions
            .authenticate(&acme.access_token, route(Some("acme")))
            .await
            .unwrap_err(),
        AppError::Token(TokenRejection::Expired)
    );
}

#[tokio::test]
async fn a_refresh_rotates_the_pair_and_the_new_access_token_authenticates() {
    let w = World::new().await;
    let first = select(&w, &w.member, "acme").await;
    w.advance(Duration::minutes(20));
    let out = w
        .app
        .sessions
        .refresh(&meta(), &first.refresh_token, true)
        .await
        .unwrap();
    let next = &out.session;
    assert_eq!(out.user.id(), w.member.user.id());
    assert_eq!(next.session.id, first.session.id, "one session, a new pair");
    assert_ne!(next.refresh_token, first.refresh_token);
    assert_ne!(next.access_token, first.access_token);
    assert_eq!(next.audience(), "org:acme");
    assert!(
        w.app
            .sessions
            .authenticate(&first.access_token, route(Some("acme")))
            .await
            .is_err(),
        "the first access token has expired"
    );
    let a = w
        .app
        .sessions
        .authenticate(&next.access_token, route(Some("acme")))
        .await
        .unwrap();
    assert_eq!(a.session.id, first.session.id);
    let stored = w
        .app
        .stores()
        .sessions
        .session_by_id(first.session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, next.session, "the returned session is the stored one");
    assert_eq!(
        w.app.sessions.refresh(&meta(), "rt_unknown", true).await.unwrap_err(),
        invalid()
    );
}

fn invalid() -> AppError {
    AppError::Unauthorized("Invalid refresh token".to_owned())
}

/// The direct predecessor presented again: inside the window (30 s) the app answers with the
/// pair it already gave and nothing changes; from the window's end on, the session is revoked
/// as a token reuse, and its current pair stops working too.
#[tokio::test]
async fn a_replay_of_the_predecessor_is_answered_inside_the_window_and_revokes_outside_it() {
    // (seconds after the rotation, answered with the same pair)
    let cases = [
        (0_i64, true),
        (1, true),
        (29, true),
        (30, false),
        (31, false),
        (3_600, false),
    ];
    for (after, answered) in cases {
        let w = World::new().await;
        let first = select(&w, &w.member, "acme").await;
        let rotated = w
            .app
            .sessions
            .refresh(&meta(), &first.refresh_token, true)
            .await
            .unwrap()
            .session;
        w.advance(Duration::seconds(after));
        let replay = w.app.sessions.refresh(&meta(), &first.refresh_token, true).await;
        let stored = || async {
            w.app
                .stores()
                .sessions
                .session_by_id(first.session.id)
                .await
                .unwrap()
                .unwrap()
        };
        let log = AuditLog::Org(w.org_id("acme").await);
        if answered {
            let again = replay.unwrap_or_else(|e| panic!("{after}s: {e:?}")).session;
            assert_eq!(
                (&again.access_token, &again.refresh_token),
                (&rotated.access_token, &rotated.refresh_token),
                "{after}s: the same pair"
            );
            let s = stored().await;
            assert_eq!(
                (s.revoked_at, s.version),
                (None, rotated.session.version),
                "{after}s: nothing changed"
            );
            assert_eq!(w.filtered(log, "session.revoked").await.total, Some(0), "{after}s");
            let third = w.app.sessions.refresh(&meta(), &rotated.refresh_token, true).await;
            assert!(third.is_ok(), "{after}s: the current token still rotates");
        } else {
            assert_eq!(replay.unwrap_err(), invalid(), "{after}s");
            let s = stored().await;
            assert_eq!(s.revoke_reason, Some(RevokeReason::RefreshTokenReuse), "{after}s");
            let entries = w.filtered(log, "session.revoked").await;
            assert_eq!(entries.total, Some(1), "{after}s");
            let m = entries.items[0].entry.metadata.as_ref().unwrap();
            assert_eq!(m["reason"], "refresh_token_reuse", "{after}s");
            assert_eq!(m["session_id"], first.session.id.to_string(), "{after}s");
            assert_eq!(
                w.app
                    .sessions
                    .refresh(&meta(), &rotated.refresh_token, true)
                    .await
                    .unwrap_err(),
                invalid(),
                "{after}s: the family is revoked"
            );
            if after < 15 * 60 {
                assert!(
                    matches!(
                        w.app
                            .sessions
                            .authenticate(&rotated.access_token, route(Some("acme")))
                            .await,
                        Err(AppError::Unauthorized(_))
                    ),
                    "{after}s: its unexpired access token stops at once"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_consumed_ancestor_is_replayed_inside_the_window_and_is_reuse_outside_it() {
    let w = World::new().await;
    let first = select(&w, &w.member, "acme").await;
    let refresh = |token: String| {
        let app = w.app.clone();
        async move { app.sessions.refresh(&meta(), &token, true).await }
    };
    let second = refresh(first.refresh_token.clone()).await.unwrap().session;
    let third = refresh(second.refresh_token.clone()).await.unwrap().session;
    // A client still holding the oldest token (its burst was in flight during both
    // rotations) gets the latest pair; nothing rotates.
    w.advance(Duration::seconds(10));
    let replay = refresh(first.refresh_token.clone()).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(
        (&replay.session.access_token, &replay.session.refresh_token),
        (&third.access_token, &third.refresh_token),
        "the oldest ancestor inside the window answers with the latest rotation's pair"
    );
    // Outside the window the same token is reuse: the family goes.
    w.advance(Duration::seconds(30));
    assert_eq!(refresh(first.refresh_token.clone()).await.unwrap_err(), invalid());
    let s = w
        .app
        .stores()
        .sessions
        .session_by_id(first.session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.revoke_reason, Some(RevokeReason::RefreshTokenReuse));
    assert_eq!(
        refresh(third.refresh_token.clone()).await.unwrap_err(),
        invalid(),
        "the current token of a reused family is dead too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_rotate_once_and_all_get_the_same_pair() {
    let w = World::new().await;
    let first = select(&w, &w.member, "acme").await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (app, token) = (w.app.clone(), first.refresh_token.clone());
            tokio::spawn(async move { app.sessions.refresh(&meta(), &token, true).await })
        })
        .collect();
    let mut pairs = Vec::new();
    for t in tasks {
        let s = t.await.unwrap().unwrap().session;
        pairs.push((s.access_token, s.refresh_token));
    }
    pairs.dedup();
    assert_eq!(pairs.len(), 1, "one rotation, replayed to the others");
    let s = w
        .app
        .stores()
        .sessions
        .session_by_id(first.session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.version, s.revoked_at), (2, None), "inserted, then rotated once");
}

#[tokio::test]
async fn a_refresh_is_refused_once_the_sessions_authority_is_gone() {
    let cases = ["member removed", "org suspended", "org deleted", "user disabled"];
    for case in cases {
        let w = World::new().await;
        let s = select(&w, &w.member, "acme").await;
        match case {
            "member removed" => {
                let id = w.member.user.id().to_string();
                w.app.members.remove(&w.owner, &meta(), "acme", &id).await.unwrap();
            }
            "org suspended" => {
                let suspend = org_app::platform::Lifecycle::Suspend { reason: None };
                w.app
                    .platform
                    .lifecycle(&w.platform, &meta(), "acme", suspend)
                    .await
                    .unwrap();
            }
            "org deleted" => w.app.orgs.delete(&w.owner, &meta(), "acme").await.unwrap(),
            _ => {
                w.app.users.set_disabled("member@acme.test", true).await.unwrap();
            }
        }
        assert_eq!(
            w.app
                .sessions
                .refresh(&meta(), &s.refresh_token, true)
                .await
                .unwrap_err(),
            invalid(),
            "{case}"
        );
        let stored = w
            .app
            .stores()
            .sessions
            .session_by_id(s.session.id)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.revoked_at.is_some(), "{case}: revoked");
    }
}

#[tokio::test]
async fn logout_revokes_the_calling_session_only() {
    let w = World::new().await;
    let one = select(&w, &w.member, "acme").await;
    let two = select(&w, &w.member, "acme").await;
    let caller = Caller::new(w.member.user.clone(), Some(one.session.id));
    w.app.sessions.logout(&caller, &meta()).await.unwrap();
    assert!(matches!(
        w.app
            .sessions
            .authenticate(&one.access_token, route(Some("acme")))
            .await,
        Err(AppError::Unauthorized(_))
    ));
    w.app
        .sessions
        .authenticate(&two.access_token, route(Some("acme")))
        .await
        .unwrap();
    assert_eq!(
        w.app
            .sessions
            .refresh(&meta(), &one.refresh_token, true)
            .await
            .unwrap_err(),
        invalid()
    );
    let s = w
        .app
        .stores()
        .sessions
        .session_by_id(one.session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.revoke_reason, Some(RevokeReason::Logout));
}
