//! Okta- and Entra-shaped directory sync against the real binary over real HTTP: the request
//! sequences those identity providers send (lookups before creates, retried creates, PUT with
//! the full user, PATCH deactivation, mixed-case ops and string booleans, the enterprise
//! extension, e-mail value paths, group membership in batches and removal by value path),
//! checked through both the SCIM answers and the org's own API and audit log.

use serde_json::{Value, json};

use crate::support::{Client, Node, Server, http, s};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// An identity provider's client: the SCIM base and its bearer.
#[derive(Clone)]
struct Idp {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Idp {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}/scim/v2{path}", self.base))
            .bearer_auth(&self.token)
            .header("accept", "application/scim+json");
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        if status >= 400 {
            let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok());
            assert_eq!(ct, Some("application/scim+json"), "{path}: SCIM errors only");
        }
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn find(&self, filter: &str) -> Value {
        let q: String = url_encode(filter);
        let (status, list) = self
            .call("GET", &format!("/Users?filter={q}&startIndex=1&count=100"), None)
            .await;
        assert_eq!(status, 200, "{list}");
        list
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ops(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

/// A server on SQLite or PostgreSQL, an org `acme` owned by Alice, and a SCIM token of it.
async fn setup(postgres: bool) -> (Node, Server, Client, String, Idp) {
    let node = Node::on(postgres).await;
    let alice = node.token("alice@acme.test");
    let server = node.serve().await;
    let c = server.client();
    let owner = c.create_org(&alice, "acme", "Acme Inc").await;
    let idp = Idp {
        http: http(),
        base: server.base.clone(),
        token: c.scim_token(&owner, "acme").await,
    };
    (node, server, c, owner, idp)
}

/// The org's members as its own API lists them: (e-mail, role, status).
async fn members(c: &Client, owner: &str) -> Vec<(String, String, String)> {
    let (status, list) = c
        .call("GET", "/api/organizations/acme/members?limit=100", owner, None)
        .await;
    assert_eq!(status, 200, "{list}");
    list["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                s(&m["email"]).to_owned(),
                s(&m["role"]).to_owned(),
                s(&m["membership"]["status"]).to_owned(),
            )
        })
        .collect()
}

async fn audit_actions(c: &Client, owner: &str) -> Vec<(String, String)> {
    let (status, log) = c
        .call("GET", "/api/organizations/acme/audit-log?limit=100", owner, None)
        .await;
    assert_eq!(status, 200, "{log}");
    log["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|e| (s(&e["action"]).to_owned(), s(&e["actor_type"]).to_owned()))
        .collect()
}

fn okta_user(n: u32) -> Value {
    json!({
        "schemas": [USER],
        "userName": format!("okta{n}@acme.test"),
        "name": {"givenName": "Okta", "familyName": format!("User{n}")},
        "emails": [{"primary": true, "value": format!("okta{n}@acme.test"), "type": "work"}],
        "displayName": format!("Okta User{n}"),
        "locale": "en-US",
        "externalId": format!("00u{n}"),
        "groups": [],
        "password": "never-stored",
        "active": true,
    })
}

async fn okta(c: &Client, owner: &str, idp: &Idp) {
    // Lookup, create, and the create retried after a timeout.
    let mut ids = Vec::new();
    for n in 0..3 {
        let found = idp.find(&format!("userName eq \"okta{n}@acme.test\"")).await;
        assert_eq!(found["totalResults"], 0, "{found}");
        let (status, user) = idp.call("POST", "/Users", Some(okta_user(n))).await;
        assert_eq!(status, 201, "{user}");
        assert!(user.get("password").is_none());
        ids.push(s(&user["id"]).to_owned());
    }
    let (status, retry) = idp.call("POST", "/Users", Some(okta_user(0))).await;
    assert_eq!((status, s(&retry["scimType"])), (409, "uniqueness"), "{retry}");
    let found = idp.find("userName eq \"OKTA0@acme.test\"").await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], json!(ids[0]));

    // PUT with the full user.
    let mut full = okta_user(0);
    full["id"] = json!(ids[0]);
    full["name"]["givenName"] = json!("Renamed");
    let (status, put) = idp.call("PUT", &format!("/Users/{}", ids[0]), Some(full)).await;
    assert_eq!((status, s(&put["name"]["givenName"])), (200, "Renamed"), "{put}");

    // Deactivation and back.
    let off = ops(json!([{"op": "replace", "value": {"active": false}}]));
    let (status, user) = idp.call("PATCH", &format!("/Users/{}", ids[1]), Some(off)).await;
    assert_eq!((status, &user["active"]), (200, &json!(false)), "{user}");
    let listed = members(c, owner).await;
    let okta1 = listed
        .iter()
        .find(|m| m.0 == "okta1@acme.test")
        .expect("still a member");
    assert_eq!(okta1.2, "deactivated", "{listed:?}");
    let on = ops(json!([{"op": "replace", "value": {"active": true}}]));
    let (status, user) = idp.call("PATCH", &format!("/Users/{}", ids[1]), Some(on)).await;
    assert_eq!((status, &user["active"]), (200, &json!(true)), "{user}");

    // Group push: create, members in batches, removal by value path, rename.
    let (status, group) = idp
        .call(
            "POST",
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Okta Engineers", "members": []})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = s(&group["id"]).to_owned();
    for batch in ids.chunks(2) {
        let value: Vec<Value> = batch.iter().map(|id| json!({"value": id})).collect();
        let add = ops(json!([{"op": "add", "path": "members", "value": value}]));
        let (status, g) = idp.call("PATCH", &format!("/Groups/{gid}"), Some(add)).await;
        assert_eq!(status, 200, "{g}");
    }
    let (_, g) = idp.call("GET", &format!("/Groups/{gid}"), None).await;
    assert_eq!(g["members"].as_array().map(Vec::len), Some(3), "{g}");
    let remove = ops(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[2])}]));
    let (status, _) = idp.call("PATCH", &format!("/Groups/{gid}"), Some(remove)).await;
    assert_eq!(status, 200);
    let rename = ops(json!([{"op": "replace", "value": {"id": gid, "displayName": "Okta Platform"}}]));
    let (status, g) = idp.call("PATCH", &format!("/Groups/{gid}"), Some(rename)).await;
    assert_eq!((status, s(&g["displayName"])), (200, "Okta Platform"), "{g}");

    let roles = members(c, owner).await;
    let in_group = roles.iter().filter(|m| m.1 == "okta-engineers").count();
    assert_eq!(in_group, 2, "{roles:?}");
    assert!(
        roles.iter().any(|m| m.0 == "okta2@acme.test" && m.1 == "member"),
        "{roles:?}"
    );
}

async fn entra(c: &Client, owner: &str, idp: &Idp) {
    // Entra's probe for a user that does not exist, then the create with its extension.
    let probe = idp.find("userName eq \"6f1c4c8e-0000-4000-8000-000000000000\"").await;
    assert_eq!(probe["totalResults"], 0);
    let body = json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "a1b2c3",
        "userName": "ada@acme.test",
        "active": "True",
        "displayName": "Ada Lovelace",
        "emails": [{"primary": true, "type": "work", "value": "ada@acme.test"}],
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        ENTERPRISE: {"employeeNumber": "1815", "department": "Analytics", "manager": {"value": "x"}},
    });
    let (status, ada) = idp.call("POST", "/Users", Some(body.clone())).await;
    assert_eq!(status, 201, "{ada}");
    assert_eq!(ada["active"], true);
    assert!(ada.get(ENTERPRISE).is_none(), "extensions are ignored: {ada}");
    let id = s(&ada["id"]).to_owned();
    let (status, again) = idp.call("POST", "/Users", Some(body)).await;
    assert_eq!((status, s(&again["scimType"])), (409, "uniqueness"), "{again}");
    let by_external = idp.find("externalId eq \"a1b2c3\"").await;
    assert_eq!(by_external["totalResults"], 1, "{by_external}");
    // externalId is case-exact.
    assert_eq!(idp.find("externalId eq \"A1B2C3\"").await["totalResults"], 0);

    // Mixed-case ops, e-mail value path, an extension path (ignored), string booleans.
    let patch = ops(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada.lovelace@acme.test"},
        {"op": "Add", "path": "name.givenName", "value": "Augusta Ada"},
        {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Engines"},
    ]));
    let (status, user) = idp.call("PATCH", &format!("/Users/{id}"), Some(patch)).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["emails"][0]["value"], "ada.lovelace@acme.test");
    assert_eq!(user["name"]["givenName"], "Augusta Ada");
    // The login e-mail stays; the SCIM e-mail is the membership's own.
    let emails: Vec<String> = members(c, owner).await.into_iter().map(|m| m.0).collect();
    assert!(emails.contains(&"ada@acme.test".to_owned()), "{emails:?}");
    // Taking another user's login e-mail: 409 uniqueness.
    let taken = ops(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "alice@acme.test"}]));
    let (status, err) = idp.call("PATCH", &format!("/Users/{id}"), Some(taken)).await;
    assert_eq!((status, s(&err["scimType"])), (409, "uniqueness"), "{err}");

    // Groups: Entra creates, adds in batches, removes by value list; lists without members.
    let (status, group) = idp
        .call(
            "POST",
            "/Groups",
            Some(json!({"schemas": [GROUP], "externalId": "g-1", "displayName": "Entra Analysts", "members": []})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = s(&group["id"]).to_owned();
    let add = ops(json!([{"op": "Add", "path": "members", "value": [{"value": id}]}]));
    let (status, g) = idp.call("PATCH", &format!("/Groups/{gid}"), Some(add)).await;
    assert_eq!(status, 200, "{g}");
    let q = url_encode("displayName eq \"Entra Analysts\"");
    let (status, list) = idp
        .call("GET", &format!("/Groups?excludedAttributes=members&filter={q}"), None)
        .await;
    assert_eq!((status, &list["totalResults"]), (200, &json!(1)), "{list}");
    assert!(list["Resources"][0].get("members").is_none());
    let remove = ops(json!([{"op": "Remove", "path": "members", "value": [{"value": id}]}]));
    let (status, _) = idp.call("PATCH", &format!("/Groups/{gid}"), Some(remove)).await;
    assert_eq!(status, 200);

    // Soft delete, then the hard delete.
    let off = ops(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    let (status, user) = idp.call("PATCH", &format!("/Users/{id}"), Some(off)).await;
    assert_eq!((status, &user["active"]), (200, &json!(false)), "{user}");
    let (status, _) = idp.call("DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = idp.call("GET", &format!("/Users/{id}"), None).await;
    assert_eq!(status, 404);
}

/// Sixteen identity-provider workers creating the same user at once: one wins, fifteen hear
/// `uniqueness`, and the org has one member for it.
async fn same_create_at_once(c: &Client, owner: &str, idp: &Idp) {
    let body = okta_user(99);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (idp, body) = (idp.clone(), body.clone());
        calls.spawn(async move { idp.call("POST", "/Users", Some(body)).await });
    }
    let answers = calls.join_all().await;
    let created = answers.iter().filter(|(st, _)| *st == 201).count();
    let unique = answers
        .iter()
        .filter(|(st, b)| *st == 409 && b["scimType"] == "uniqueness")
        .count();
    assert_eq!((created, unique), (1, 15), "{answers:?}");
    let n = members(c, owner)
        .await
        .iter()
        .filter(|m| m.0 == "okta99@acme.test")
        .count();
    assert_eq!(n, 1);
}

/// An identity provider pushing one group's members from several workers at once: every
/// PATCH lands, none is lost.
async fn parallel_group_pushes(c: &Client, owner: &str, idp: &Idp) {
    let mut ids = Vec::new();
    for n in 0..8 {
        let (status, user) = idp.call("POST", "/Users", Some(okta_user(200 + n))).await;
        assert_eq!(status, 201, "{user}");
        ids.push(s(&user["id"]).to_owned());
    }
    let (status, group) = idp
        .call(
            "POST",
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Parallel"})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = s(&group["id"]).to_owned();
    let mut calls = tokio::task::JoinSet::new();
    for id in ids {
        let (idp, gid) = (idp.clone(), gid.clone());
        calls.spawn(async move {
            let add = ops(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]));
            idp.call("PATCH", &format!("/Groups/{gid}"), Some(add)).await
        });
    }
    for (status, body) in calls.join_all().await {
        assert_eq!(status, 200, "{body}");
    }
    let held = members(c, owner).await.iter().filter(|m| m.1 == "parallel").count();
    assert_eq!(held, 8);
}

async fn replay(postgres: bool) {
    let (_node, _server, c, owner, idp) = setup(postgres).await;
    okta(&c, &owner, &idp).await;
    entra(&c, &owner, &idp).await;
    same_create_at_once(&c, &owner, &idp).await;
    parallel_group_pushes(&c, &owner, &idp).await;
    let log = audit_actions(&c, &owner).await;
    let by_scim = |action: &str| log.iter().filter(|(a, t)| a == action && t == "scim_token").count();
    assert_eq!(by_scim("member.added"), 13, "{log:?}");
    assert_eq!(by_scim("member.deactivated"), 2, "{log:?}");
    assert_eq!(by_scim("member.reactivated"), 1, "{log:?}");
    assert_eq!(by_scim("member.removed"), 1, "{log:?}");
    assert_eq!(by_scim("role.created"), 3, "{log:?}");
    assert!(by_scim("member.updated") >= 2, "{log:?}");
    assert!(by_scim("member.role_changed") >= 5, "{log:?}");
    // What an operator scrapes: SCIM requests by resource, and latency as a histogram (§21.3).
    let metrics = c.http.get(format!("{}/metrics", c.base)).send().await.expect("metrics");
    let text = metrics.text().await.expect("metrics body");
    assert!(
        text.lines()
            .any(|l| l.starts_with("scim_requests_total{") && l.contains("resource=\"Users\"")),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket{"), "{text}");
    // The pool's connections by state: this scrape's own request holds none.
    let pool = |state: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("db_pool_connections{{state=\"{state}\"}} ")))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    assert!(pool("idle").is_some_and(|n| n >= 1.0), "{text}");
    assert!(pool("in_use").is_some(), "{text}");
}

#[tokio::test]
async fn okta_and_entra_sequences_sync_on_sqlite() {
    replay(false).await;
}

#[tokio::test]
async fn okta_and_entra_sequences_sync_on_postgres() {
    replay(true).await;
}
