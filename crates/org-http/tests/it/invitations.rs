//! §6: invitations, org side and invitee side.

use axum::http::Method;
use chrono::Duration;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn creating_an_invitation_shows_the_token_once_with_location() {
    let t = TestApp::new().await;
    let res = t
        .post(
            "/api/organizations/acme/invitations",
            &t.admin.token,
            Some(json!({"email": " New@Acme.test ", "expires_in_days": 3})),
        )
        .await;
    res.expect(201, "");
    let id = res.body["invitation"]["id"].as_str().unwrap();
    assert_eq!(
        res.header("location"),
        format!("https://id.test/api/organizations/acme/invitations/{id}")
    );
    assert_eq!(res.header("cache-control"), "no-store");
    assert!(res.body["token"].as_str().unwrap().starts_with("inv_"));
    assert_eq!(res.body["invitation"]["email"], "new@acme.test");
    assert_eq!(res.body["invitation"]["role"], "member");
    assert_eq!(res.body["invitation"]["status"], "pending");
    assert_eq!(res.body["inviter"]["email"], "admin@acme.test");
    let listed = t
        .get(&format!("/api/organizations/acme/invitations/{id}"), &t.admin.token)
        .await;
    listed.expect(200, "");
    assert!(listed.body.get("token").is_none());
}

#[tokio::test]
async fn invitation_creation_errors_follow_the_contract() {
    let t = TestApp::new().await;
    t.invite(&t.owner, "acme", "pending@acme.test", "member").await;
    let path = "/api/organizations/acme/invitations";
    let cases = [
        (&t.member, json!({"email": "x@acme.test"}), 403, "FORBIDDEN"),
        (&t.admin, json!({"email": "not-an-email"}), 400, "VALIDATION_FAILED"),
        (
            &t.admin,
            json!({"email": "x@acme.test", "role": "owner"}),
            400,
            "VALIDATION_FAILED",
        ),
        (
            &t.admin,
            json!({"email": "x@acme.test", "expires_in_days": 31}),
            400,
            "VALIDATION_FAILED",
        ),
        (&t.admin, json!({"email": "member@acme.test"}), 409, "CONFLICT"),
        (&t.admin, json!({"email": "pending@acme.test"}), 409, "CONFLICT"),
    ];
    for (by, body, status, code) in cases {
        t.post(path, &by.token, Some(body)).await.expect(status, code);
    }
    t.patch("/api/organizations/acme", &t.platform.token, json!({"max_users": 4}))
        .await
        .expect(200, "");
    t.post(path, &t.admin.token, Some(json!({"email": "y@acme.test"})))
        .await
        .expect(400, "TEAM_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn org_side_list_cancel_resend_and_admin_accept() {
    let t = TestApp::new().await;
    let (a, _) = t.invite(&t.admin, "acme", "a@acme.test", "member").await;
    let (b, old_token) = t.invite(&t.admin, "acme", "b@acme.test", "member").await;
    let (c, _) = t.invite(&t.admin, "acme", "c@acme.test", "auditor").await;
    let list = t.get("/api/organizations/acme/invitations", &t.admin.token).await;
    list.expect(200, "");
    // The three created in setup were accepted, so the newest pending ones come first.
    assert_eq!(list.body[0]["invitation"]["id"], c.as_str());
    assert_eq!(list.body[0]["inviter"]["email"], "admin@acme.test");
    let pending = t
        .get("/api/organizations/acme/invitations?status=pending", &t.admin.token)
        .await;
    assert_eq!(pending.body.as_array().unwrap().len(), 3);

    let cancel = t
        .post(
            &format!("/api/organizations/acme/invitations/{a}"),
            &t.admin.token,
            None,
        )
        .await;
    cancel.expect(200, "");
    assert_eq!(cancel.text, "null");
    t.delete(&format!("/api/organizations/acme/invitations/{a}"), &t.admin.token)
        .await
        .expect(409, "CONFLICT");

    let resent = t
        .post(
            &format!("/api/organizations/acme/invitations/{b}/resend"),
            &t.admin.token,
            None,
        )
        .await;
    resent.expect(200, "");
    assert_eq!(resent.header("cache-control"), "no-store");
    let new_token = resent.body["token"].as_str().unwrap();
    assert_ne!(new_token, old_token);
    t.send(
        Method::POST,
        "/api/invitations/decline",
        None,
        Some(json!({"token": old_token})),
    )
    .await
    .expect(404, "NOT_FOUND");

    let accepted = t
        .post(
            &format!("/api/organizations/acme/invitations/{c}/accept"),
            &t.admin.token,
            None,
        )
        .await;
    accepted.expect(200, "");
    assert_eq!(accepted.body["email"], "c@acme.test");
    assert_eq!(accepted.body["role"], "auditor");
    t.post(
        &format!("/api/organizations/acme/invitations/{c}/accept"),
        &t.admin.token,
        None,
    )
    .await
    .expect(409, "CONFLICT");
    t.get("/api/organizations/acme/invitations/not-a-uuid", &t.admin.token)
        .await
        .expect(404, "NOT_FOUND");
}

#[tokio::test]
async fn invitees_list_accept_and_decline_their_invitations() {
    let t = TestApp::new().await;
    let newbie = t.actor("newbie@elsewhere.test").await;
    let (by_token, token) = t.invite(&t.owner, "acme", "newbie@elsewhere.test", "member").await;
    let (by_id, _) = t.invite(&t.stranger, "other", "newbie@elsewhere.test", "member").await;
    let mine = t.get("/api/invitations", &newbie.token).await;
    mine.expect(200, "");
    let list = mine.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .any(|i| i["organization_slug"] == "acme" && i["organization_name"] == "Acme Inc")
    );

    t.post(
        "/api/invitations/accept",
        &t.member.token,
        Some(json!({"token": token})),
    )
    .await
    .expect(403, "FORBIDDEN");
    let res = t
        .post("/api/invitations/accept", &newbie.token, Some(json!({"token": token})))
        .await;
    res.expect(200, "");
    assert_eq!(res.body["organization"]["slug"], "acme");
    assert_eq!(res.body["membership"]["role"], "member");
    t.post("/api/invitations/accept", &newbie.token, Some(json!({"token": token})))
        .await
        .expect(404, "NOT_FOUND");
    let _ = by_token;

    t.post(&format!("/api/invitations/{by_id}/decline"), &t.member.token, None)
        .await
        .expect(404, "NOT_FOUND");
    let declined = t
        .post(&format!("/api/invitations/{by_id}/decline"), &newbie.token, None)
        .await;
    declined.expect(200, "");
    assert_eq!(declined.text, "null");
    t.post(&format!("/api/invitations/{by_id}/accept"), &newbie.token, None)
        .await
        .expect(404, "NOT_FOUND");
    // A declined invitation reads `rejected` (§6.1), not the SDK's `declined`.
    let seen = t
        .get(
            &format!("/api/organizations/other/invitations/{by_id}"),
            &t.stranger.token,
        )
        .await;
    assert_eq!(seen.body["invitation"]["status"], "rejected");
    let rejected = t
        .get(
            "/api/organizations/other/invitations?status=rejected",
            &t.stranger.token,
        )
        .await;
    assert_eq!(rejected.body[0]["invitation"]["id"], by_id.as_str());
    let sdk_word = t
        .get(
            "/api/organizations/other/invitations?status=declined",
            &t.stranger.token,
        )
        .await;
    sdk_word.expect(400, "VALIDATION_FAILED");
    assert_eq!(sdk_word.body["errors"][0]["field"], "status");
}

#[tokio::test]
async fn accepting_by_id_and_expired_invitations() {
    let t = TestApp::new().await;
    let (id, token) = t.invite(&t.owner, "acme", "late@acme.test", "member").await;
    t.advance(Duration::days(8));
    // Access tokens from before the jump have expired; fresh sessions for both parties.
    let late = t.actor("late@acme.test").await;
    let owner = t.actor("owner@acme.test").await;
    t.post(&format!("/api/invitations/{id}/accept"), &late.token, None)
        .await
        .expect(400, "INVITATION_EXPIRED");
    t.send(
        Method::POST,
        "/api/invitations/decline",
        None,
        Some(json!({"token": token})),
    )
    .await
    .expect(400, "INVITATION_EXPIRED");
    let (id2, _) = t.invite(&owner, "acme", "late@acme.test", "member").await;
    let res = t
        .post(&format!("/api/invitations/{id2}/accept"), &late.token, None)
        .await;
    res.expect(200, "");
    assert_eq!(res.body["membership"]["user_id"], late.id().as_str());
}

#[tokio::test]
async fn public_decline_ignores_authorization_and_the_link_redirects_blindly() {
    let t = TestApp::new().await;
    let (_, token) = t.invite(&t.owner, "acme", "shy@acme.test", "member").await;
    let res = t
        .send(
            Method::POST,
            "/api/invitations/decline",
            Some("expired.garbage.token"),
            Some(json!({"token": token})),
        )
        .await;
    res.expect(200, "");
    assert_eq!(res.text, "null");
    t.send(
        Method::POST,
        "/api/invitations/decline",
        None,
        Some(json!({"token": "inv_nope"})),
    )
    .await
    .expect(404, "NOT_FOUND");

    let link = t.send(Method::GET, "/invitations/accept/inv_abc-123", None, None).await;
    assert_eq!(link.status.as_u16(), 307);
    assert_eq!(
        link.header("location"),
        "https://app.test/invitations/accept?token=inv_abc-123"
    );
    let off = TestApp::builder().http(|h| h.web_client_url = None).build().await;
    off.send(Method::GET, "/invitations/accept/inv_abc", None, None)
        .await
        .expect(404, "NOT_FOUND");
}
