//! Login reports (§19.5), service sessions (§2.4–§2.5), risk scoring of reported logins
//! (§16.3) and the monthly-active-user cap (§22.3) against the real binary, on SQLite and on
//! PostgreSQL.
//!
//! The contract has no timestamp field on a login report, so the impossible-travel pair is two
//! real reports a few seconds apart (Paris, then Sydney): an elapsed time under 60 s counts as
//! 60 s (§16.3), which implies ~17 000 km/min — far above 900 km/h, exactly as 10 minutes would.

use serde_json::{Value, json};

use crate::support::{Client, Node, s};

async fn expect(c: &Client, method: &str, path: &str, token: &str, body: Option<Value>, want: u16) -> Value {
    let (status, got) = c.call(method, path, token, body).await;
    assert_eq!(status, want, "{method} {path}: {got}");
    got
}

fn factors(v: &Value) -> Vec<&str> {
    v["risk"]["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

async fn logins_end_to_end(postgres: bool) {
    let node = Node::on(postgres).await;
    let root = s(&node.platform_owner("root@example.com")["access_token"]).to_owned();
    let alice = node.token("alice@example.com");
    let key = s(&node.cli(&["admin", "issue-login-key", "--name", "front"])["key"]).to_owned();
    let server = node.serve().await;
    let c = server.client();
    c.create_org(&alice, "acme", "Acme Inc").await;
    expect(
        &c,
        "POST",
        "/api/organizations/acme/services",
        &alice,
        Some(json!({"slug": "shop", "name": "Shop"})),
        201,
    )
    .await;
    let logins = "/api/platform/logins";

    // Credentials: an unknown key → 401; a bearer that is not a platform owner's → 403.
    let body = json!({"email": "eve@example.com", "provider": "password"});
    expect(
        &c,
        "POST",
        logins,
        &format!("lk_{}", "x".repeat(43)),
        Some(body.clone()),
        401,
    )
    .await;
    expect(&c, "POST", logins, &alice, Some(body.clone()), 403).await;

    // Field constraints → 400 naming each field; nothing written.
    let bad = expect(
        &c,
        "POST",
        logins,
        &key,
        Some(
            json!({"email": "nope", "provider": "pass word", "ip_address": "1.2.3", "service_slug": "shop",
                    "device_id": "d".repeat(257), "geo": {"lat": 91.0, "long": -181.0, "country": "FRA"}}),
        ),
        400,
    )
    .await;
    let mut fields: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["field"]))
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "device_id",
            "email",
            "geo.country",
            "geo.lat",
            "geo.long",
            "ip_address",
            "provider",
            "service_slug"
        ],
        "{bad}"
    );

    // A service login creates the user and an end user, with a service session.
    let paris = json!({"email": "Dana@Example.com", "org_slug": "acme", "service_slug": "shop",
        "provider": "github", "provider_user_id": "gh-1", "device_id": "laptop", "ip_address": "192.0.2.1",
        "geo": {"country": "FR", "city": "Paris", "lat": 48.8566, "long": 2.3522}});
    let first = expect(&c, "POST", logins, &key, Some(paris.clone()), 200).await;
    assert_eq!(first["decision"], "allow", "{first}");
    assert_eq!(first["user"]["email"], "dana@example.com");
    assert_eq!(factors(&first), ["new_device"], "{first}");
    let dana = s(&first["user"]["id"]).to_owned();
    let session = &first["session"];
    let access = s(&session["access_token"]).to_owned();
    let me = expect(&c, "GET", "/api/user", &access, None, 200).await;
    assert_eq!(me["id"], dana.as_str());
    assert_eq!(me["session"]["aud"], "service:acme/shop", "{me}");
    assert_eq!(me["session"]["service_slug"], "shop");
    assert_eq!(me["memberships"], json!([]));
    // A service token is refused on org routes (§2.2).
    expect(&c, "GET", "/api/organizations/acme", &access, None, 401).await;
    // It refreshes like any session.
    let refreshed = expect(
        &c,
        "POST",
        "/api/auth/refresh",
        "",
        Some(json!({"refresh_token": session["refresh_token"]})),
        200,
    )
    .await;
    expect(&c, "GET", "/api/user", s(&refreshed["access_token"]), None, 200).await;

    let erin = json!({"email": "erin@example.com", "org_slug": "acme", "service_slug": "shop", "provider": "github"});
    expect(&c, "POST", logins, &key, Some(erin), 200).await;

    // Sydney seconds later from a known device: impossible travel.
    let sydney = json!({"email": "dana@example.com", "org_slug": "acme", "service_slug": "shop",
        "provider": "github", "provider_user_id": "gh-1", "device_id": "laptop",
        "geo": {"country": "AU", "city": "Sydney", "lat": -33.8688, "long": 151.2093}});
    let second = expect(&c, "POST", logins, &key, Some(sydney), 200).await;
    assert_eq!(factors(&second), ["impossible_travel"], "{second}");
    assert_eq!(second["risk"]["score"], 50);
    let events = expect(&c, "GET", "/api/organizations/acme/risk-events", &alice, None, 200).await;
    let stored: Vec<(&str, Vec<&str>)> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["user_email"] == "dana@example.com")
        .map(|e| {
            (
                s(&e["geo_city"]),
                e["risk_factors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        stored,
        [("Sydney", vec!["impossible_travel"]), ("Paris", vec!["new_device"])],
        "{events}"
    );

    // A velocity burst: with a threshold of 3, the third attempt in the hour is flagged.
    expect(
        &c,
        "PUT",
        "/api/organizations/acme/risk-settings",
        &alice,
        Some(
            json!({"velocity_threshold": 3, "enforcement_mode": "block", "low_threshold": 20,
                    "medium_threshold": 60}),
        ),
        200,
    )
    .await;
    let burst = json!({"email": "fred@example.com", "org_slug": "acme", "service_slug": "shop",
        "provider": "password", "success": false, "failure_reason": "bad_password"});
    for _ in 0..2 {
        let r = expect(&c, "POST", logins, &key, Some(burst.clone()), 200).await;
        assert_eq!(r["decision"], "failed");
        assert_eq!(r["user"], Value::Null, "a failed attempt creates no user");
    }
    let third = expect(&c, "POST", logins, &key, Some(burst), 200).await;
    assert_eq!(factors(&third), ["velocity"], "{third}");

    // `block` refuses the session at ≥ medium (new device 20 + travel 50 = 70)...
    let blocked = expect(
        &c,
        "POST",
        logins,
        &key,
        Some(
            json!({"email": "dana@example.com", "org_slug": "acme", "service_slug": "shop",
            "provider": "github", "device_id": "phone",
            "geo": {"lat": 48.8566, "long": 2.3522}}),
        ),
        200,
    )
    .await;
    assert_eq!(blocked["decision"], "block", "{blocked}");
    assert_eq!(blocked["risk"]["action"], "block");
    assert_eq!(blocked["session"], Value::Null);
    // ... and `challenge` asks for MFA, which a verified MFA satisfies.
    expect(
        &c,
        "PUT",
        "/api/organizations/acme/risk-settings",
        &alice,
        Some(json!({"enforcement_mode": "challenge"})),
        200,
    )
    .await;
    let challenged = expect(
        &c,
        "POST",
        logins,
        &key,
        Some(
            json!({"email": "dana@example.com", "org_slug": "acme", "service_slug": "shop",
            "provider": "github", "device_id": "tablet"}),
        ),
        200,
    )
    .await;
    assert_eq!(challenged["decision"], "challenge_mfa", "{challenged}");
    assert_eq!(challenged["session"], Value::Null);
    let verified = expect(
        &c,
        "POST",
        logins,
        &key,
        Some(
            json!({"email": "dana@example.com", "org_slug": "acme", "service_slug": "shop",
            "provider": "github", "device_id": "watch", "mfa_verified": true}),
        ),
        200,
    )
    .await;
    assert_eq!(verified["decision"], "allow", "{verified}");
    assert!(verified["session"]["access_token"].is_string());

    // An admin login needs a membership; a platform owner's bearer may report too.
    expect(
        &c,
        "POST",
        logins,
        &key,
        Some(json!({"email": "dana@example.com", "org_slug": "acme", "provider": "password"})),
        403,
    )
    .await;
    let admin = expect(
        &c,
        "POST",
        logins,
        &root,
        Some(json!({"email": "alice@example.com", "org_slug": "acme", "provider": "password", "mfa_verified": true})),
        200,
    )
    .await;
    assert_eq!(admin["decision"], "allow", "{admin}");
    let admin_access = s(&admin["session"]["access_token"]).to_owned();
    expect(&c, "GET", "/api/organizations/acme", &admin_access, None, 200).await;

    let alice_id = s(&admin["user"]["id"]).to_owned();

    // End users: those with a service login, newest first, keyset-paged; detail; 404 otherwise.
    let users = expect(&c, "GET", "/api/organizations/acme/users?limit=1", &alice, None, 200).await;
    assert_eq!(users["total"], 2, "{users}");
    assert_eq!(users["users"][0]["user"]["email"], "erin@example.com", "{users}");
    let cursor = s(&users["next_cursor"]).to_owned();
    let next = expect(
        &c,
        "GET",
        &format!("/api/organizations/acme/users?limit=1&cursor={cursor}"),
        &alice,
        None,
        200,
    )
    .await;
    assert_eq!(next["users"][0]["user"]["id"], dana.as_str(), "{next}");
    assert_eq!(next["users"][0]["identities"][0]["provider_user_id"], "gh-1", "{next}");
    assert_eq!(next["next_cursor"], Value::Null);
    assert_eq!(next["total"], Value::Null);
    let filtered = expect(
        &c,
        "GET",
        "/api/organizations/acme/users?service_slug=shop",
        &alice,
        None,
        200,
    )
    .await;
    assert_eq!(filtered["users"].as_array().unwrap().len(), 2, "{filtered}");
    expect(
        &c,
        "GET",
        "/api/organizations/acme/users?service_slug=nope",
        &alice,
        None,
        404,
    )
    .await;
    expect(
        &c,
        "GET",
        &format!("/api/organizations/acme/users?cursor={cursor}&service_slug=shop"),
        &alice,
        None,
        400,
    )
    .await;
    let detail = expect(
        &c,
        "GET",
        &format!("/api/organizations/acme/users/{dana}"),
        &alice,
        None,
        200,
    )
    .await;
    assert_eq!(detail["session_count"], 3, "{detail}");
    assert_eq!(detail["sessions"][0]["service_name"], "Shop");
    assert_eq!(detail["recent_logins"].as_array().unwrap().len(), 5, "{detail}");
    assert_eq!(
        detail["recent_logins"][0]["risk_factors"],
        json!(["new_device", "velocity"])
    );
    let not_end_user = expect(
        &c,
        "GET",
        &format!("/api/organizations/acme/users/{alice_id}"),
        &alice,
        None,
        404,
    )
    .await;
    assert_eq!(not_end_user["detail"], "End-user not found");

    // Alice signs in to the shop too: revoking her end-user sessions ends that session only.
    let shop = expect(
        &c,
        "POST",
        logins,
        &key,
        Some(json!({"email": "alice@example.com", "org_slug": "acme", "service_slug": "shop", "provider": "password"})),
        200,
    )
    .await;
    assert_eq!(shop["decision"], "allow", "{shop}");
    let revoked = expect(
        &c,
        "DELETE",
        &format!("/api/organizations/acme/users/{alice_id}/sessions"),
        &alice,
        None,
        200,
    )
    .await;
    assert_eq!(revoked["revoked_count"], 1, "{revoked}");
    expect(
        &c,
        "POST",
        "/api/auth/refresh",
        "",
        Some(json!({"refresh_token": shop["session"]["refresh_token"]})),
        401,
    )
    .await;
    expect(&c, "GET", "/api/organizations/acme", &admin_access, None, 200).await;
    expect(&c, "GET", "/api/organizations/acme", &alice, None, 200).await;
    let log = expect(
        &c,
        "GET",
        "/api/organizations/acme/audit-log?action=end_user.sessions_revoked",
        &alice,
        None,
        200,
    )
    .await;
    assert_eq!(log["logs"][0]["metadata"]["revoked_count"], 1, "{log}");

    // Deleting the service revokes its sessions (`service_deleted`): the refresh fails.
    let live = expect(
        &c,
        "POST",
        "/api/auth/refresh",
        "",
        Some(json!({"refresh_token": verified["session"]["refresh_token"]})),
        200,
    )
    .await;
    expect(&c, "DELETE", "/api/organizations/acme/services/shop", &alice, None, 204).await;
    expect(
        &c,
        "POST",
        "/api/auth/refresh",
        "",
        Some(json!({"refresh_token": live["refresh_token"]})),
        401,
    )
    .await;
    expect(&c, "GET", "/api/user", s(&live["access_token"]), None, 401).await;
    expect(&c, "GET", "/api/organizations/acme", &admin_access, None, 200).await;
    // A disabled or unknown service.
    expect(
        &c,
        "POST",
        logins,
        &key,
        Some(json!({"email": "dana@example.com", "org_slug": "acme", "service_slug": "shop", "provider": "github"})),
        404,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_on_sqlite() {
    logins_end_to_end(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_on_postgres() {
    logins_end_to_end(true).await;
}

/// The MAU cap of a free-tier org (1 000): the 1 001st distinct user is refused with 400
/// `SERVICE_LIMIT_EXCEEDED`, only the attempt is recorded (a failed login, no user), while an
/// already active user still logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mau_cap_stops_the_1001st_user_of_a_free_org() {
    let node = Node::sqlite();
    let root = s(&node.platform_owner("root@example.com")["access_token"]).to_owned();
    let alice = node.token("alice@example.com");
    let key = s(&node.cli(&["admin", "issue-login-key", "--name", "front"])["key"]).to_owned();
    let server = node.serve().await;
    let c = server.client();
    c.create_org(&alice, "acme", "Acme Inc").await;
    expect(
        &c,
        "PATCH",
        "/api/platform/organizations/acme",
        &root,
        Some(json!({"tier_id": "tier_free"})),
        200,
    )
    .await;
    expect(
        &c,
        "POST",
        "/api/organizations/acme/services",
        &alice,
        Some(json!({"slug": "shop", "name": "Shop"})),
        201,
    )
    .await;
    let login = |i: usize| {
        json!({"email": format!("user{i}@example.com"), "org_slug": "acme", "service_slug": "shop",
               "provider": "password", "issue_session": false})
    };
    let mut handles = Vec::new();
    for worker in 0..8 {
        let c = server.client();
        let key = key.clone();
        handles.push(tokio::spawn(async move {
            for i in (worker..1000).step_by(8) {
                let body = json!({"email": format!("user{i}@example.com"), "org_slug": "acme",
                    "service_slug": "shop", "provider": "password", "issue_session": false});
                let (status, got) = c.call("POST", "/api/platform/logins", &key, Some(body)).await;
                assert_eq!(status, 200, "{got}");
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let refused = expect(&c, "POST", "/api/platform/logins", &key, Some(login(1000)), 400).await;
    assert_eq!(refused["error_code"], "SERVICE_LIMIT_EXCEEDED", "{refused}");
    // An active user is not a new one.
    let again = expect(&c, "POST", "/api/platform/logins", &key, Some(login(7)), 200).await;
    assert_eq!(again["decision"], "allow");
    // Only the attempt was recorded: a failed login without a user.
    let events = expect(
        &c,
        "GET",
        "/api/organizations/acme/risk-events?limit=2",
        &alice,
        None,
        200,
    )
    .await;
    let attempt = &events[1];
    assert_eq!(attempt["user_email"], "user1000@example.com", "{events}");
    assert_eq!(attempt["user_id"], Value::Null);
}
