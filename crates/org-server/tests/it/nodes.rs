//! Several `org-server` processes on one PostgreSQL database, each request on the next one
//! round-robin as behind a load balancer: the README walkthrough, the refresh race, the SDK's
//! refresh burst and the refresh limit, revocation on every cause, webhook delivery through a
//! SIGKILL, and audit retention run by every node at once; and the refresh and revocation
//! checks on SQLite with one process. Every check prints its figures (`--nocapture`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Client, Node, Server, http, s};
use crate::walkthrough::{Api, readme_steps};

/// The refresh race and the revocation checks send thousands of requests from 127.0.0.1
/// within seconds, and the race rotates 100 times (replays are refunded, rotations are not,
/// and a rotation lands on whichever node wins the trial, so one node may see more than its
/// 60). The per-IP buckets (§21.5: `rate_limit.per_ip` 1200/min, `rate_limit.refresh_per_ip`
/// 60/min, each per process) would answer part of them 429, which says nothing about rotation
/// or revocation: those nodes get limits no test reaches. The SDK burst and the refresh-limit
/// check run on nodes with the default limits.
const BULK_LIMITS: &[(&str, &str)] = &[
    ("ORG_SERVER_RATE_LIMIT__PER_IP", "1000000"),
    ("ORG_SERVER_RATE_LIMIT__REFRESH_PER_IP", "1000000"),
];

const SCIM_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const SCIM_PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn bulk(mut node: Node) -> Node {
    for (k, v) in BULK_LIMITS {
        node = node.with(k, v);
    }
    node
}

/// One HTTP answer: status, JSON body (or its text) and `Retry-After`.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

impl Answer {
    /// The `(access_token, refresh_token)` of a 200 refresh.
    fn pair(&self) -> Option<(String, String)> {
        (self.status == 200).then(|| {
            (
                s(&self.body["access_token"]).to_owned(),
                s(&self.body["refresh_token"]).to_owned(),
            )
        })
    }
}

async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.text().await.expect("body");
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        retry_after,
    }
}

/// Sends every request, at most `in_flight` at once; the answers in request order.
async fn burst(reqs: Vec<reqwest::RequestBuilder>, in_flight: usize) -> Vec<Answer> {
    let n = reqs.len();
    let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, req) in reqs.into_iter().enumerate() {
        let permit = permits.clone().acquire_owned().await.expect("semaphore");
        tasks.spawn(async move {
            let a = answer(req).await;
            drop(permit);
            (i, a)
        });
    }
    let mut out: Vec<Option<Answer>> = vec![None; n];
    while let Some(joined) = tasks.join_next().await {
        let (i, a) = joined.expect("request task");
        out[i] = Some(a);
    }
    out.into_iter().map(|a| a.expect("every request answered")).collect()
}

/// How many answers had each status.
fn statuses(answers: &[Answer]) -> BTreeMap<u16, usize> {
    let mut m = BTreeMap::new();
    for a in answers {
        *m.entry(a.status).or_default() += 1;
    }
    m
}

/// Nodes of one deployment and their servers; requests go to the next live one.
struct Cluster {
    nodes: Vec<Node>,
    servers: Vec<Server>,
    dead: Vec<usize>,
    http: reqwest::Client,
    next: AtomicUsize,
}

impl Api for Cluster {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        Cluster::call(self, method, path, token, body).await
    }
}

impl Cluster {
    /// `first` and `n - 1` siblings of it (same database, keys and issuer), all serving.
    async fn start(first: Node, n: usize) -> Self {
        let mut nodes = vec![first];
        for _ in 1..n {
            let sibling = nodes[0].sibling();
            nodes.push(sibling);
        }
        let mut servers = Vec::with_capacity(n);
        for node in &nodes {
            servers.push(node.serve().await);
        }
        Self {
            nodes,
            servers,
            dead: Vec::new(),
            http: http(),
            next: AtomicUsize::new(0),
        }
    }

    fn first(&self) -> &Node {
        &self.nodes[0]
    }

    fn len(&self) -> usize {
        self.servers.len()
    }

    /// The live nodes' indexes.
    fn live(&self) -> Vec<usize> {
        (0..self.len()).filter(|i| !self.dead.contains(i)).collect()
    }

    /// The next live node, round-robin.
    fn pick(&self) -> usize {
        let live = self.live();
        live[self.next.fetch_add(1, Ordering::Relaxed) % live.len()]
    }

    fn client(&self, i: usize) -> Client {
        Client {
            http: self.http.clone(),
            base: self.servers[i].base.clone(),
        }
    }

    /// A JSON call on the next node.
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        self.client(self.pick()).call(method, path, token, body).await
    }

    fn request(&self, i: usize, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.servers[i].base))
    }

    fn refresh_request(&self, i: usize, refresh_token: &str) -> reqwest::RequestBuilder {
        self.request(i, Method::POST, "/api/auth/refresh")
            .json(&json!({"refresh_token": refresh_token}))
    }

    /// `POST /api/auth/refresh` on node `i`.
    async fn refresh_on(&self, i: usize, refresh_token: &str) -> Answer {
        answer(self.refresh_request(i, refresh_token)).await
    }

    fn kill9(&mut self, i: usize) {
        self.servers[i].kill9();
        self.dead.push(i);
    }

    /// Stops every server and starts them again.
    async fn restart(&mut self) {
        self.servers.clear();
        for node in &self.nodes {
            self.servers.push(node.serve().await);
        }
        self.dead.clear();
    }

    /// Every server's last log lines, for failure messages.
    fn log_tails(&self) -> String {
        self.servers
            .iter()
            .enumerate()
            .map(|(i, srv)| format!("--- node {i} ({}):\n{}", srv.base, srv.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A `(access_token, refresh_token)` pair from the CLI's or the API's JSON.
fn tokens(v: &Value) -> (String, String) {
    (s(&v["access_token"]).to_owned(), s(&v["refresh_token"]).to_owned())
}

// ------------------------------------------------------------------------------ 1. walkthrough

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_database_serve_the_readme_walkthrough_round_robin() {
    let first = Node::postgres().await;
    // 1. Tokens from the admin CLI (users are created on the fly).
    let alice = first.cli(&["admin", "issue-token", "--email", "alice@example.com"]);
    let bob = first.cli(&["admin", "issue-token", "--email", "bob@example.com"]);
    assert_eq!(alice["expires_in"], 900);
    assert!(s(&alice["refresh_token"]).starts_with("rt_"));
    let mut c = Cluster::start(first, 3).await;
    for i in 0..c.len() {
        let ready = reqwest::get(format!("{}/readyz", c.servers[i].base))
            .await
            .expect("readyz");
        assert_eq!(ready.status(), 200, "node {i}");
        let ready: Value = ready.json().await.expect("readyz body");
        assert_eq!(
            ready,
            json!({"status": "ready", "checks": {"database": "ok", "migrations": "ok", "workers": "ok"}}),
            "node {i}"
        );
    }
    let (alice_t, bob_t) = (s(&alice["access_token"]).to_owned(), s(&bob["access_token"]).to_owned());

    readme_steps(&c, &alice_t, &bob_t, c.len()).await;

    // 9. The signing key persisted: after a restart every node still accepts Alice's token.
    c.restart().await;
    for _ in 0..c.len() {
        let (status, me) = c.call("GET", "/api/user", &alice_t, None).await;
        assert_eq!((status, s(&me["email"])), (200, "alice@example.com"), "{me}");
    }
    eprintln!("walkthrough: every step answered as in the README, round-robin over 3 nodes");
}

// ---------------------------------------------------------------------------- 2. refresh race

/// `trials` times: `parallel` concurrent refreshes of one unused refresh token spread over the
/// nodes; exactly one rotation (every 200 carries the same pair), no 401, no 429 (the nodes'
/// limits are out of reach). Each trial's token is the one the previous trial rotated to.
async fn refresh_race(c: &Cluster, trials: usize, parallel: usize) {
    let issued = c.first().cli(&["admin", "issue-token", "--email", "racer@example.com"]);
    let (mut access, mut token) = tokens(&issued);
    let started = Instant::now();
    let mut totals: BTreeMap<u16, usize> = BTreeMap::new();
    let mut several_pairs = Vec::new();
    let mut failed = Vec::new();
    for trial in 0..trials {
        let reqs = (0..parallel)
            .map(|k| c.refresh_request((trial + k) % c.len(), &token))
            .collect();
        let answers = burst(reqs, parallel).await;
        for (status, n) in statuses(&answers) {
            *totals.entry(status).or_default() += n;
        }
        let pairs: HashSet<(String, String)> = answers.iter().filter_map(Answer::pair).collect();
        if pairs.len() > 1 {
            several_pairs.push((trial, pairs.len()));
        }
        if let Some(a) = answers.iter().find(|a| a.status != 200) {
            failed.push((trial, statuses(&answers), a.body.clone()));
        }
        match answers.iter().find_map(Answer::pair) {
            Some(pair) => (access, token) = pair,
            None => {
                // The chain broke (every refresh refused): go on with a new session.
                let issued = c.first().cli(&["admin", "issue-token", "--email", "racer@example.com"]);
                (access, token) = tokens(&issued);
            }
        }
    }
    let count = |code: u16| totals.get(&code).copied().unwrap_or(0);
    eprintln!(
        "refresh race on {} node(s): {trials} trials x {parallel} parallel refreshes in {:.1?}: statuses \
         {totals:?}; 401: {}, 429: {}; trials with more than one rotation: {}",
        c.len(),
        started.elapsed(),
        count(401),
        count(429),
        several_pairs.len()
    );
    let logs = || c.log_tails();
    assert!(
        several_pairs.is_empty(),
        "trials answered with several token pairs (trial, pairs): {several_pairs:?}"
    );
    assert_eq!(
        count(401),
        0,
        "401s in the refresh race; first failing trials (trial, statuses, a body): {:?}\n{}",
        &failed[..failed.len().min(5)],
        logs()
    );
    assert_eq!(
        count(429),
        0,
        "429s in the refresh race although the limits are out of reach: {:?}",
        &failed[..failed.len().min(5)]
    );
    assert_eq!(totals.keys().copied().collect::<Vec<_>>(), [200], "{failed:?}");
    // The family is still live and usable after 100 contested rotations.
    let (status, me) = c.call("GET", "/api/user", &access, None).await;
    assert_eq!((status, s(&me["email"])), (200, "racer@example.com"), "{me}");
    let last = c.refresh_on(c.pick(), &token).await;
    assert_eq!(last.status, 200, "{:?}", last.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_refreshes_of_one_token_rotate_once_across_three_nodes() {
    let c = Cluster::start(bulk(Node::postgres().await), 3).await;
    refresh_race(&c, 100, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_twenty_parallel_refreshes_of_one_token_rotate_once() {
    let c = Cluster::start(bulk(Node::sqlite()), 1).await;
    refresh_race(&c, 100, 20).await;
}

// ------------------------------------------------------------------------------- 3. SDK burst

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_burst_of_1000_refreshes_gets_one_pair_and_fresh_tokens_are_still_limited() {
    // The default limits: refresh_per_ip 60/min and per_ip 1200/min, per process.
    let first = Node::postgres().await;
    let issued = first.cli(&["admin", "issue-token", "--email", "sdk@example.com"]);
    let c = Cluster::start(first, 3).await;
    let (_, token) = tokens(&issued);

    // 1,000 refreshes of one token from one IP, 100 in flight, over the three nodes.
    let reqs = (0..1000).map(|i| c.refresh_request(i % c.len(), &token)).collect();
    let started = Instant::now();
    let answers = burst(reqs, 100).await;
    let took = started.elapsed();
    let counts = statuses(&answers);
    let pairs: HashSet<(String, String)> = answers.iter().filter_map(Answer::pair).collect();
    eprintln!(
        "SDK burst: 1000 refreshes of one token over 3 nodes (100 in flight) in {took:.2?}: statuses \
         {counts:?}, distinct token pairs: {}",
        pairs.len()
    );
    let odd = answers.iter().find(|a| a.status != 200).map(|a| a.body.clone());
    assert_eq!(counts, BTreeMap::from([(200, 1000)]), "first other answer: {odd:?}");
    assert_eq!(pairs.len(), 1, "exactly one rotation");
    let (access, refresh) = pairs.into_iter().next().expect("one pair");

    // The session is live: the pair works on every node, and its refresh token rotates.
    for i in 0..c.len() {
        let (status, me) = c.client(i).call("GET", "/api/user", &access, None).await;
        assert_eq!((status, s(&me["email"])), (200, "sdk@example.com"), "node {i}: {me}");
    }
    let next = c.refresh_on(1, &refresh).await;
    let next_pair = next.pair();
    assert!(
        next_pair.as_ref().is_some_and(|p| p.0 != access && p.1 != refresh),
        "the burst's pair rotates: {next:?}"
    );
    let (access, _) = next_pair.expect("rotated");

    // Fresh tokens are still limited: 70 distinct sessions refreshed on one node within a
    // second, where the bucket holds 60.
    let org_token = c.client(c.pick()).create_org(&access, "sdk", "SDK").await;
    assert!(!org_token.is_empty());
    let mut fresh = Vec::new();
    for _ in 0..70 {
        let (status, selected) = c.call("POST", "/api/organizations/sdk/select", &access, None).await;
        assert_eq!(status, 200, "{selected}");
        fresh.push(s(&selected["refresh_token"]).to_owned());
    }
    assert_eq!(fresh.iter().collect::<HashSet<_>>().len(), 70, "70 distinct sessions");
    let reqs = fresh.iter().map(|t| c.refresh_request(0, t)).collect();
    let started = Instant::now();
    let answers = burst(reqs, 70).await;
    let took = started.elapsed();
    let counts = statuses(&answers);
    let rotated = counts.get(&200).copied().unwrap_or(0);
    let limited: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    eprintln!(
        "refresh limit: 70 fresh sessions refreshed on one node in {took:.2?}: statuses {counts:?}; \
         Retry-After values {:?}",
        limited
            .iter()
            .map(|a| a.retry_after.clone().unwrap_or_default())
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(rotated + limited.len(), 70, "only 200 or 429: {counts:?}");
    // 60 per minute, refilled at one a second while the requests ran.
    let allowance = 60 + usize::try_from(took.as_secs()).unwrap_or(usize::MAX) + 1;
    assert!(
        rotated <= allowance,
        "{rotated} rotations of distinct sessions on one node within {took:?}: the 60/min refresh limit did not hold"
    );
    assert!(!limited.is_empty(), "no 429 for 70 fresh refreshes on one node");
    for a in &limited {
        assert_eq!(a.body["error_code"], "RATE_LIMITED", "{:?}", a.body);
        let secs: u64 = a
            .retry_after
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("429 without a whole-seconds Retry-After: {a:?}"));
        assert!((1..=60).contains(&secs), "{a:?}");
    }
}

// ------------------------------------------------------------------------------ 4. revocation

/// A session to revoke and the routes its access token worked on.
struct Victim {
    cause: &'static str,
    access: String,
    refresh: String,
    paths: Vec<String>,
}

impl Victim {
    fn new(cause: &'static str, (access, refresh): (String, String), paths: &[&str]) -> Self {
        Self {
            cause,
            access,
            refresh,
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

/// Every path answers 200 with the victim's access token on every node (so each has read it).
async fn warm(c: &Cluster, v: &Victim) {
    for i in c.live() {
        for path in &v.paths {
            let (status, body) = c.client(i).call("GET", path, &v.access, None).await;
            assert_eq!(status, 200, "{}: {path} on node {i} before revocation: {body}", v.cause);
        }
    }
}

/// 1,000 requests with the revoked access token and 1,000 refreshes with its refresh token,
/// spread over the nodes, 16 in flight: none may succeed, every one is 401. The problems
/// found, for one assertion after every cause has run.
async fn refused_everywhere(c: &Cluster, v: &Victim) -> Vec<String> {
    const N: usize = 1000;
    let live = c.live();
    let reqs = (0..N)
        .map(|i| {
            c.request(live[i % live.len()], Method::GET, &v.paths[i % v.paths.len()])
                .bearer_auth(&v.access)
        })
        .collect();
    let with_access = burst(reqs, 16).await;
    let reqs = (0..N)
        .map(|i| c.refresh_request(live[i % live.len()], &v.refresh))
        .collect();
    let with_refresh = burst(reqs, 16).await;
    let ok = |a: &[Answer]| a.iter().filter(|a| (200..300).contains(&a.status)).count();
    let (a, r) = (statuses(&with_access), statuses(&with_refresh));
    eprintln!(
        "revocation by {}: old access token succeeded {}/{N} {a:?}; old refresh token succeeded {}/{N} {r:?}",
        v.cause,
        ok(&with_access),
        ok(&with_refresh)
    );
    let mut problems = Vec::new();
    for (what, answers, counts) in [("access token", &with_access, a), ("refresh token", &with_refresh, r)] {
        if counts.keys().ne([401].iter()) {
            let first = answers.iter().find(|a| a.status != 401).map(|a| a.body.clone());
            problems.push(format!(
                "{}: old {what} answered {counts:?} (want 1000 x 401); first other body: {first:?}",
                v.cause
            ));
        }
    }
    problems
}

/// Invites `email` to `slug` and accepts as them; their user id.
async fn join(c: &Cluster, owner_org: &str, slug: &str, email: &str, platform: &str) -> String {
    let (status, inv) = c
        .call(
            "POST",
            &format!("/api/organizations/{slug}/invitations"),
            owner_org,
            Some(json!({"email": email})),
        )
        .await;
    assert_eq!(status, 201, "{inv}");
    let (status, accepted) = c
        .call(
            "POST",
            "/api/invitations/accept",
            platform,
            Some(json!({"token": inv["token"]})),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    s(&accepted["membership"]["user_id"]).to_owned()
}

/// A new org session of `slug` for the holder of `platform`.
async fn select(c: &Cluster, slug: &str, platform: &str) -> (String, String) {
    let (status, selected) = c
        .call("POST", &format!("/api/organizations/{slug}/select"), platform, None)
        .await;
    assert_eq!(status, 200, "{selected}");
    tokens(&selected)
}

/// Creates org `slug` as the holder of `platform`; the creator's org session.
async fn create_org(c: &Cluster, platform: &str, slug: &str) -> (String, String) {
    let (status, created) = c
        .call(
            "POST",
            "/api/organizations",
            platform,
            Some(json!({"slug": slug, "name": slug})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    tokens(&created)
}

/// `auth.refresh_reuse_window` of the revocation checks, short so that reuse is seen soon.
const REUSE_WINDOW_SECS: u64 = 2;

/// Nodes for the revocation checks: limits out of reach, a short replay window.
fn revocation_node(node: Node) -> Node {
    bulk(node).with("ORG_SERVER_AUTH__REFRESH_REUSE_WINDOW", &REUSE_WINDOW_SECS.to_string())
}

/// Every cause of §2.4 that a member, a client or an operator triggers: the revocation is made on one
/// node (or by the CLI, another process) after every node has used the session, and then
/// 1,000 requests and 1,000 refreshes with the old tokens over all nodes all get 401.
async fn revocations(c: &Cluster) {
    let node = c.first();
    let root = node.platform_owner("root@example.com");
    let root_t = s(&root["access_token"]).to_owned();
    let cli_tokens = |email: &str| tokens(&node.cli(&["admin", "issue-token", "--email", email]));
    let (alice, _) = cli_tokens("alice@example.com");
    let (alice_org, _) = create_org(c, &alice, "acme").await;
    let mut problems = Vec::new();

    // Logout.
    let (bob, _) = cli_tokens("bob@example.com");
    join(c, &alice_org, "acme", "bob@example.com", &bob).await;
    let v = Victim::new(
        "logout",
        select(c, "acme", &bob).await,
        &["/api/user", "/api/organizations/acme/members"],
    );
    warm(c, &v).await;
    let (status, body) = c.call("POST", "/api/auth/logout", &v.access, None).await;
    assert_eq!(status, 200, "{body}");
    problems.extend(refused_everywhere(c, &v).await);

    // Member removal.
    let (carol, _) = cli_tokens("carol@example.com");
    let carol_id = join(c, &alice_org, "acme", "carol@example.com", &carol).await;
    let v = Victim::new(
        "member removal",
        select(c, "acme", &carol).await,
        &["/api/user", "/api/organizations/acme/members"],
    );
    warm(c, &v).await;
    let (status, body) = c
        .call(
            "DELETE",
            &format!("/api/organizations/acme/members/{carol_id}"),
            &alice_org,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    problems.extend(refused_everywhere(c, &v).await);

    // Member deactivation by the directory (SCIM `active: false`, §5 has no other way).
    let scim = c.client(c.pick()).scim_token(&alice_org, "acme").await;
    let scim_call = |method: Method, path: String, body: Value| {
        c.request(c.pick(), method, &format!("/scim/v2{path}"))
            .bearer_auth(&scim)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
    };
    let created = answer(scim_call(
        Method::POST,
        "/Users".to_owned(),
        json!({"schemas": [SCIM_USER], "userName": "dave@example.com", "active": true,
               "emails": [{"primary": true, "value": "dave@example.com", "type": "work"}]}),
    ))
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let dave_id = s(&created.body["id"]).to_owned();
    let v = Victim::new(
        "member deactivation (SCIM)",
        tokens(&node.cli(&["admin", "issue-token", "--email", "dave@example.com", "--org", "acme"])),
        &["/api/user", "/api/organizations/acme/members"],
    );
    warm(c, &v).await;
    let off = answer(scim_call(
        Method::PATCH,
        format!("/Users/{dave_id}"),
        json!({"schemas": [SCIM_PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]}),
    ))
    .await;
    assert_eq!(
        (off.status, &off.body["active"]),
        (200, &json!(false)),
        "{:?}",
        off.body
    );
    problems.extend(refused_everywhere(c, &v).await);

    // Member removal by the directory (SCIM DELETE).
    let created = answer(scim_call(
        Method::POST,
        "/Users".to_owned(),
        json!({"schemas": [SCIM_USER], "userName": "ivan@example.com", "active": true,
               "emails": [{"primary": true, "value": "ivan@example.com", "type": "work"}]}),
    ))
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let ivan_id = s(&created.body["id"]).to_owned();
    let v = Victim::new(
        "member removal (SCIM DELETE)",
        tokens(&node.cli(&["admin", "issue-token", "--email", "ivan@example.com", "--org", "acme"])),
        &["/api/user", "/api/organizations/acme/members"],
    );
    warm(c, &v).await;
    let gone = answer(scim_call(Method::DELETE, format!("/Users/{ivan_id}"), json!({}))).await;
    assert_eq!(gone.status, 204, "{:?}", gone.body);
    problems.extend(refused_everywhere(c, &v).await);

    // Refresh-token reuse: a consumed ancestor presented after the replay window, on another
    // node than the rotations, revokes the whole family.
    let (_, r0) = cli_tokens("henry@example.com");
    let r1 = c.refresh_on(c.pick(), &r0).await.pair().expect("first rotation");
    let r2 = c.refresh_on(c.pick(), &r1.1).await.pair().expect("second rotation");
    let v = Victim::new("refresh-token reuse", r2, &["/api/user", "/api/organizations"]);
    warm(c, &v).await;
    tokio::time::sleep(Duration::from_secs(REUSE_WINDOW_SECS + 1)).await;
    let reuse = c.refresh_on(c.pick(), &r0).await;
    assert_eq!(
        reuse.status, 401,
        "a consumed ancestor after the window: {:?}",
        reuse.body
    );
    problems.extend(refused_everywhere(c, &v).await);

    // Org suspension by a platform owner.
    let (erin, _) = cli_tokens("erin@example.com");
    let v = Victim::new(
        "org suspension",
        create_org(c, &erin, "beta").await,
        &["/api/user", "/api/organizations/beta"],
    );
    warm(c, &v).await;
    let (status, body) = c
        .call(
            "POST",
            "/api/platform/organizations/beta/suspend",
            &root_t,
            Some(json!({"reason": "abuse"})),
        )
        .await;
    assert_eq!(
        (status, s(&body["organization"]["status"])),
        (200, "suspended"),
        "{body}"
    );
    problems.extend(refused_everywhere(c, &v).await);

    // User disabled by the operator (`admin disable-user`: §20 has no HTTP route for it).
    let v = Victim::new(
        "user disable (CLI)",
        cli_tokens("frank@example.com"),
        &["/api/user", "/api/organizations"],
    );
    warm(c, &v).await;
    node.cli(&["admin", "disable-user", "--email", "frank@example.com"]);
    problems.extend(refused_everywhere(c, &v).await);

    // End-user revocation (§19.4): the org revokes a service session a login report opened.
    let (status, body) = c
        .call(
            "POST",
            "/api/organizations/acme/services",
            &alice_org,
            Some(json!({"slug": "shop", "name": "Shop"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = s(&node.cli(&["admin", "issue-login-key", "--name", "front-end"])["key"]).to_owned();
    let (status, login) = c
        .call(
            "POST",
            "/api/platform/logins",
            &key,
            Some(
                json!({"email": "gina@example.com", "org_slug": "acme", "service_slug": "shop",
                        "provider": "password"}),
            ),
        )
        .await;
    assert_eq!((status, s(&login["decision"])), (200, "allow"), "{login}");
    let gina = s(&login["user"]["id"]).to_owned();
    let session = &login["session"];
    let v = Victim::new(
        "end-user revocation",
        (
            s(&session["access_token"]).to_owned(),
            s(&session["refresh_token"]).to_owned(),
        ),
        &["/api/user"],
    );
    warm(c, &v).await;
    let (status, body) = c
        .call(
            "DELETE",
            &format!("/api/organizations/acme/users/{gina}/sessions"),
            &alice_org,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    problems.extend(refused_everywhere(c, &v).await);

    // Org deletion by its owner.
    let (grace, _) = cli_tokens("grace@example.com");
    let v = Victim::new(
        "org deletion",
        create_org(c, &grace, "gamma").await,
        &["/api/user", "/api/organizations/gamma"],
    );
    warm(c, &v).await;
    let (status, body) = c.call("DELETE", "/api/organizations/gamma", &v.access, None).await;
    assert_eq!(status, 200, "{body}");
    problems.extend(refused_everywhere(c, &v).await);

    assert!(problems.is_empty(), "{problems:#?}\n{}", c.log_tails());
    // Revocation is targeted: the owner who revoked others still works on every node.
    for i in c.live() {
        let (status, body) = c
            .client(i)
            .call("GET", "/api/organizations/acme", &alice_org, None)
            .await;
        assert_eq!(status, 200, "node {i}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_revocation_cause_takes_effect_on_all_three_nodes() {
    let c = Cluster::start(revocation_node(Node::postgres().await), 3).await;
    revocations(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_every_revocation_cause_takes_effect_at_once() {
    let c = Cluster::start(revocation_node(Node::sqlite()), 1).await;
    revocations(&c).await;
}

// ------------------------------------------------------------------------------- 5. webhooks

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Arrival {
    webhook_id: String,
    /// The sender's local port, to tell which node sent it.
    peer: u16,
    answered: bool,
}

/// A receiver on loopback that answers 200, the first `slow` requests only after `delay`.
async fn slow_receiver(slow: usize, delay: Duration) -> (u16, Arc<Mutex<Vec<Arrival>>>) {
    let seen: Arc<Mutex<Vec<Arrival>>> = Arc::default();
    let s2 = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap| {
            let seen = s2.clone();
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(Arrival {
                        webhook_id: id,
                        peer: peer.port(),
                        answered: false,
                    });
                    seen.len() - 1
                };
                if n < slow {
                    tokio::time::sleep(delay).await;
                }
                seen.lock().unwrap()[n].answered = true;
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await });
    (port, seen)
}

/// The local ports of process `pid`'s TCP connections to port `to` (from `/proc`).
fn connections_to(pid: u32, to: u16) -> HashSet<u16> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.display().to_string();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let port = |addr: &str| addr.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
    let mut out = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9
                && port(f[2]) == Some(to)
                && inodes.contains(f[9])
                && let Some(local) = port(f[1])
            {
                out.insert(local);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_in_flight_on_a_sigkilled_node_is_retried_by_another_after_its_lease() {
    const EVENTS: usize = 30;
    let (port, seen) = slow_receiver(10, Duration::from_secs(3)).await;
    let first = Node::postgres()
        .await
        .with("ORG_SERVER_OUTBOUND__ALLOW_HTTP", "true")
        .with("ORG_SERVER_OUTBOUND__ALLOWED_PRIVATE_CIDRS", "127.0.0.0/8")
        .with("ORG_SERVER_WORKERS__LEASE", "5s");
    let alice = first.token("alice@example.com");
    let mut c = Cluster::start(first, 3).await;
    let (owner, _) = create_org(&c, &alice, "acme").await;
    let hook = json!({"name": "local", "url": format!("http://127.0.0.1:{port}/hook"), "events": ["role.created"]});
    let (status, webhook) = c
        .call("POST", "/api/organizations/acme/webhooks", &owner, Some(hook))
        .await;
    assert_eq!(status, 201, "{webhook}");
    let webhook_id = s(&webhook["id"]).to_owned();
    for n in 0..EVENTS {
        let role =
            json!({"slug": format!("role-{n}"), "name": format!("Role {n}"), "permissions": ["audit_logs.view"]});
        let (status, body) = c
            .call("POST", "/api/organizations/acme/roles", &owner, Some(role))
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // Kill the node with the most deliveries in flight (the receiver holds the first 10).
    let deadline = Instant::now() + Duration::from_secs(20);
    let (victim, killed_ports, before_kill) = loop {
        let in_flight: HashSet<u16> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|a| !a.answered)
            .map(|a| a.peer)
            .collect();
        let busiest = c
            .live()
            .into_iter()
            .map(|i| {
                let ports = connections_to(c.servers[i].pid(), port);
                (ports.intersection(&in_flight).count(), i, ports)
            })
            .max_by_key(|(n, i, _)| (*n, usize::MAX - i));
        if let Some((n, i, ports)) = busiest
            && n > 0
        {
            let before = seen.lock().unwrap().clone();
            c.kill9(i);
            break (i, ports, before);
        }
        assert!(
            Instant::now() < deadline,
            "no delivery in flight on any node: {:?}\n{}",
            seen.lock().unwrap(),
            c.log_tails()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // What the killed node had sent, and of that what was still unanswered at the kill.
    let (on_killed, unanswered_on_killed): (HashSet<String>, usize) = {
        let sent: Vec<&Arrival> = before_kill.iter().filter(|a| killed_ports.contains(&a.peer)).collect();
        (
            sent.iter().map(|a| a.webhook_id.clone()).collect(),
            sent.iter().filter(|a| !a.answered).count(),
        )
    };

    // Every delivery ends delivered, through the survivors.
    let deadline = Instant::now() + Duration::from_secs(60);
    let deliveries = loop {
        let (status, list) = c
            .call(
                "GET",
                &format!("/api/organizations/acme/webhooks/{webhook_id}/deliveries?limit=100"),
                &owner,
                None,
            )
            .await;
        assert_eq!(status, 200, "{list}");
        let ds = list["deliveries"].as_array().cloned().unwrap_or_default();
        if ds.len() == EVENTS && ds.iter().all(|d| d["status"] == "delivered") {
            break ds;
        }
        assert!(
            Instant::now() < deadline,
            "not every delivery was delivered within 60 s of the kill: {:?}\n{}",
            ds.iter()
                .map(|d| (s(&d["status"]).to_owned(), d["attempt_count"].clone()))
                .collect::<Vec<_>>(),
            c.log_tails()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let expected: HashSet<String> = deliveries.iter().map(|d| s(&d["event_id"]).to_owned()).collect();
    assert_eq!(expected.len(), EVENTS, "one event per role created");
    let arrivals = seen.lock().unwrap().clone();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for a in &arrivals {
        *per_id.entry(a.webhook_id.as_str()).or_default() += 1;
    }
    let missing: Vec<&String> = expected.iter().filter(|id| !per_id.contains_key(id.as_str())).collect();
    let duplicated: Vec<(&str, usize)> = per_id
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, n)| (*id, *n))
        .collect();
    let extra: usize = duplicated.iter().map(|(_, n)| n - 1).sum();
    let unexplained: Vec<&(&str, usize)> = duplicated.iter().filter(|(id, _)| !on_killed.contains(*id)).collect();
    eprintln!(
        "webhooks through a SIGKILL: {EVENTS} events, {} requests received, node {victim} killed after sending {} \
         of them ({unanswered_on_killed} still unanswered); {} missing, {} duplicated events ({extra} extra requests), {} duplicates not \
         sent by the killed node",
        arrivals.len(),
        on_killed.len(),
        missing.len(),
        duplicated.len(),
        unexplained.len()
    );
    assert!(missing.is_empty(), "events never received: {missing:?}");
    assert!(
        unexplained.is_empty(),
        "received twice although the killed node never sent them: {unexplained:?}"
    );
    assert!(
        arrivals.iter().all(|a| expected.contains(&a.webhook_id)),
        "only the org's events"
    );
}

// ------------------------------------------------------------------------------ 6. retention

/// The `audit.pruned` entries of one log as `(entry id, first pruned seq, last pruned seq)`.
async fn pruned_entries(c: &Cluster, path: &str, token: &str) -> Vec<(String, u64, u64)> {
    let (status, page) = c.call("GET", path, token, None).await;
    assert_eq!(status, 200, "{path}: {page}");
    page["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|e| {
            assert_eq!(e["action"], "audit.pruned", "{e}");
            let through = e["metadata"]["pruned_through_seq"]
                .as_u64()
                .expect("pruned_through_seq");
            let count = e["metadata"]["count"].as_u64().expect("count");
            (s(&e["id"]).to_owned(), through + 1 - count, through)
        })
        .collect()
}

/// Pairs of distinct `audit.pruned` entries whose ranges overlap.
fn overlaps(entries: &HashMap<String, (u64, u64)>) -> Vec<String> {
    let mut v: Vec<(&String, &(u64, u64))> = entries.iter().collect();
    v.sort_by_key(|(_, r)| *r);
    v.windows(2)
        .filter(|w| w[1].1.0 <= w[0].1.1)
        .map(|w| format!("{} {:?} and {} {:?}", w[0].0, w[0].1, w[1].0, w[1].1))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_pruning_at_once_write_one_audit_pruned_per_range() {
    let first = Node::postgres()
        .await
        .with("ORG_SERVER_AUDIT__RETENTION_DAYS", "0")
        .with("ORG_SERVER_AUDIT__PRUNE_EVERY", "2s");
    let root = first.platform_owner("root@example.com");
    let alice = first.token("alice@example.com");
    let c = Cluster::start(first, 3).await;
    let root_t = s(&root["access_token"]).to_owned();
    let (owner, _) = create_org(&c, &alice, "acme").await;
    let org_path = "/api/organizations/acme/audit-log?action=audit.pruned&limit=100";
    let platform_path = "/api/platform/audit-log?action=audit.pruned&limit=100";
    let mut org_seen: HashMap<String, (u64, u64)> = HashMap::new();
    let mut platform_seen: HashMap<String, (u64, u64)> = HashMap::new();
    let observe = async |org_seen: &mut HashMap<_, _>, platform_seen: &mut HashMap<_, _>| {
        for (id, a, b) in pruned_entries(&c, org_path, &owner).await {
            org_seen.insert(id, (a, b));
        }
        for (id, a, b) in pruned_entries(&c, platform_path, &root_t).await {
            platform_seen.insert(id, (a, b));
        }
    };
    // Audited activity in both logs for ~8 s (four prune periods), read every ~300 ms.
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let role =
            json!({"slug": format!("role-{n}"), "name": format!("Role {n}"), "permissions": ["audit_logs.view"]});
        let (status, body) = c
            .call("POST", "/api/organizations/acme/roles", &owner, Some(role))
            .await;
        assert_eq!(status, 201, "{body}");
        if n % 4 == 0 {
            c.first()
                .cli(&["admin", "issue-token", "--email", &format!("user{n}@example.com")]);
        }
        n += 1;
        observe(&mut org_seen, &mut platform_seen).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Then until both logs show pruning, and two more periods.
    let deadline = Instant::now() + Duration::from_secs(20);
    while org_seen.is_empty() || platform_seen.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no pruning seen: org {org_seen:?}, platform {platform_seen:?}\n{}",
            c.log_tails()
        );
        observe(&mut org_seen, &mut platform_seen).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(4) {
        observe(&mut org_seen, &mut platform_seen).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (org_overlaps, platform_overlaps) = (overlaps(&org_seen), overlaps(&platform_seen));
    eprintln!(
        "retention on 3 nodes: {n} roles created; audit.pruned entries seen: org log {} ({} overlapping \
         pairs), platform log {} ({} overlapping pairs)",
        org_seen.len(),
        org_overlaps.len(),
        platform_seen.len(),
        platform_overlaps.len()
    );
    assert!(org_overlaps.is_empty(), "org log pruned twice: {org_overlaps:?}");
    assert!(
        platform_overlaps.is_empty(),
        "platform log pruned twice: {platform_overlaps:?}"
    );
    // What is left of each chain still verifies.
    let org = c.first().cli(&["admin", "verify-audit", "--org", "acme"]);
    assert_eq!(org["ok"], true, "{org}");
    let platform = c.first().cli(&["admin", "verify-audit", "--platform"]);
    assert_eq!(platform["ok"], true, "{platform}");
}
