//! The README walkthrough, run against the real binary: issue tokens with the admin CLI,
//! create an org, invite and accept, change a role, transfer ownership, list members, read a
//! forbidden call's problem body, and see revocations take effect on the very next request.

use serde_json::{Value, json};

use crate::support::{Client, Node, s};

#[tokio::test]
async fn the_readme_walkthrough_works_over_real_http() {
    let node = Node::sqlite();
    // 1. Tokens from the admin CLI (users are created on the fly).
    let alice = node.cli(&["admin", "issue-token", "--email", "alice@example.com"]);
    let bob = node.cli(&["admin", "issue-token", "--email", "bob@example.com"]);
    assert_eq!(alice["expires_in"], 900);
    assert!(s(&alice["refresh_token"]).starts_with("rt_"));
    let server = node.serve().await;
    let c = server.client();
    // Ready: the database answers, the schema is the binary's, the workers have run.
    let ready = reqwest::get(format!("{}/readyz", server.base)).await.expect("readyz");
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.expect("readyz body");
    assert_eq!(
        ready,
        json!({"status": "ready", "checks": {"database": "ok", "migrations": "ok", "workers": "ok"}})
    );
    let (alice_t, bob_t) = (s(&alice["access_token"]).to_owned(), s(&bob["access_token"]).to_owned());

    readme_steps(&c, &alice_t, &bob_t, 1).await;

    // 9. The signing key persisted: a restart still accepts Alice's platform token.
    drop(server);
    let server = node.serve().await;
    let c = server.client();
    let (status, me) = c.call("GET", "/api/user", &alice_t, None).await;
    assert_eq!((status, s(&me["email"])), (200, "alice@example.com"), "{me}");
}

#[tokio::test]
async fn a_suspended_orgs_tokens_are_refused_on_the_next_request() {
    let node = Node::sqlite();
    let root = node.platform_owner("root@example.com");
    let alice = node.cli(&["admin", "issue-token", "--email", "alice@example.com"]);
    let server = node.serve().await;
    let c = server.client();
    let org_token = c.create_org(s(&alice["access_token"]), "acme", "Acme").await;
    let (status, _) = c.call("GET", "/api/organizations/acme", &org_token, None).await;
    assert_eq!(status, 200);
    let (status, body) = c
        .call(
            "POST",
            "/api/platform/organizations/acme/suspend",
            s(&root["access_token"]),
            Some(json!({"reason": "abuse"})),
        )
        .await;
    assert_eq!(
        (status, s(&body["organization"]["status"])),
        (200, "suspended"),
        "{body}"
    );
    let (status, _) = c.call("GET", "/api/organizations/acme", &org_token, None).await;
    assert_eq!(status, 401);
}

/// The running server keeps what it read between commits, and the admin CLI is another
/// process: a `disable-user` or a `demote` it commits is seen by the very next request, and a
/// revoked token fails 1,000 requests out of 1,000.
#[tokio::test]
async fn the_cli_in_another_process_takes_effect_on_the_next_request() {
    let node = Node::sqlite();
    let root = node.platform_owner("root@example.com");
    let alice = node.cli(&["admin", "issue-token", "--email", "alice@example.com"]);
    let server = node.serve().await;
    let c = server.client();
    let (root_t, alice_t) = (
        s(&root["access_token"]).to_owned(),
        s(&alice["access_token"]).to_owned(),
    );
    let (status, _) = c
        .call(
            "POST",
            "/api/organizations",
            &alice_t,
            Some(json!({"slug": "acme", "name": "Acme"})),
        )
        .await;
    assert_eq!(status, 201);
    // Warm: the server has read both callers and the org, and kept what it read.
    for _ in 0..3 {
        assert_eq!(
            c.call("GET", "/api/organizations/acme/members", &alice_t, None).await.0,
            200
        );
        assert_eq!(c.call("GET", "/api/organizations/acme", &root_t, None).await.0, 200);
    }
    // `admin demote` in another process: the platform owner loses the foreign org at once.
    node.cli(&["admin", "demote", "--email", "root@example.com"]);
    let (status, _) = c.call("GET", "/api/organizations/acme", &root_t, None).await;
    assert_eq!(
        status, 404,
        "a demoted platform owner no longer sees an org they are not in"
    );
    // `admin disable-user` in another process: every one of 1,000 requests is refused.
    node.cli(&["admin", "disable-user", "--email", "alice@example.com"]);
    let mut ok = 0;
    for _ in 0..1_000 {
        let (status, _) = c.call("GET", "/api/organizations/acme/members", &alice_t, None).await;
        ok += u32::from(status == 200);
    }
    assert_eq!(ok, 0, "a disabled user's token worked after disable-user returned");
}

/// Where the walkthrough's requests go: one server, or several round-robin.
pub(crate) trait Api {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value);
}

impl Api for Client {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        Client::call(self, method, path, token, body).await
    }
}

/// Steps 2–8 of the README walkthrough with Alice's and Bob's platform tokens. A check that
/// must hold on every node is made `each` times (round-robin: once per node).
pub(crate) async fn readme_steps(c: &impl Api, alice_t: &str, bob_t: &str, each: usize) {
    // 2. Alice creates an org and gets an org-scoped token.
    let (status, created) = c
        .call(
            "POST",
            "/api/organizations",
            alice_t,
            Some(json!({"slug": "acme", "name": "Acme Inc"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["organization"]["slug"], "acme");
    let alice_org = s(&created["access_token"]).to_owned();

    // 3. Alice invites Bob; Bob accepts with the token.
    let (status, inv) = c
        .call(
            "POST",
            "/api/organizations/acme/invitations",
            &alice_org,
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    assert_eq!(status, 201, "{inv}");
    let (status, accepted) = c
        .call(
            "POST",
            "/api/invitations/accept",
            bob_t,
            Some(json!({"token": inv["token"]})),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    let bob_id = s(&accepted["membership"]["user_id"]).to_owned();

    // 4. Alice makes Bob an admin, then transfers ownership to him.
    let (status, m) = c
        .call(
            "PATCH",
            &format!("/api/organizations/acme/members/{bob_id}"),
            &alice_org,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!((status, s(&m["role"])), (200, "admin"), "{m}");
    let (status, m) = c
        .call(
            "POST",
            "/api/organizations/acme/transfer-ownership",
            &alice_org,
            Some(json!({"new_owner_email": "bob@example.com"})),
        )
        .await;
    assert_eq!((status, s(&m["role"])), (200, "owner"), "{m}");

    // 5. The member list shows the new roles (on every node).
    for _ in 0..each {
        let (status, list) = c.call("GET", "/api/organizations/acme/members", &alice_org, None).await;
        assert_eq!(status, 200, "{list}");
        let roles: Vec<(&str, &str)> = list["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| (s(&m["email"]), s(&m["role"])))
            .collect();
        assert_eq!(roles, [("alice@example.com", "admin"), ("bob@example.com", "owner")]);
    }

    // 6. Alice is an admin now: deleting the org is forbidden, with a problem body.
    let (status, problem) = c.call("DELETE", "/api/organizations/acme", &alice_org, None).await;
    assert_eq!(status, 403);
    assert_eq!(problem["error_code"], "FORBIDDEN");
    assert_eq!(problem["type"], "urn:org-server:problem:forbidden");
    assert!(problem["request_id"].is_string());

    // 7. Bob removes Alice: her org token is refused on the very next request (on every node).
    let alice_id = s(&created["owner"]["id"]).to_owned();
    let (status, _) = c
        .call(
            "DELETE",
            &format!("/api/organizations/acme/members/{alice_id}"),
            bob_t,
            None,
        )
        .await;
    assert_eq!(status, 200);
    for _ in 0..each {
        let (status, problem) = c.call("GET", "/api/organizations/acme", &alice_org, None).await;
        assert_eq!((status, s(&problem["error_code"])), (401, "UNAUTHORIZED"), "{problem}");
    }

    // 8. Logout: the same token is refused next time (on every node).
    let (status, _) = c.call("POST", "/api/auth/logout", bob_t, None).await;
    assert_eq!(status, 200);
    for _ in 0..each {
        let (status, _) = c.call("GET", "/api/user", bob_t, None).await;
        assert_eq!(status, 401);
    }
}
