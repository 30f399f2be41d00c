//! Test harness: the real router over the memory store with a hand-moved clock and the
//! `JwtTokens` adapter, typed actors holding access tokens minted by the app, and request
//! helpers that parse problem bodies.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use http_body_util::BodyExt;
use org_app::system::{RandomTokens, UuidV7};
use org_app::{App, AppConfig, Caller, RequestMeta};
use org_domain::{MembershipRecord, MembershipStatus, Slug, User, UserId};
use org_http::{HttpConfig, HttpState};
use org_ports::{AccessClaims, AccessTokens, Changeset, Clock, Stores};
use org_store_memory::MemoryStore;
use org_tokens::{JwtTokens, Keys};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The issuer (and public base URL) of every test app.
pub const ISSUER: &str = "https://id.test";
/// The fixed `pagination.cursor_key` of every test app.
pub const CURSOR_KEY: [u8; 32] = [42; 32];

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A user with a live session and its tokens.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user: User,
    /// A platform-audience access token (accepted on every `/api` route).
    pub token: String,
    pub refresh_token: String,
    pub session_id: String,
}

impl Actor {
    pub fn id(&self) -> String {
        self.user.id().to_string()
    }
    pub fn email(&self) -> &str {
        self.user.email().as_str()
    }
}

/// The router and the actors of org `acme`: owner, admin, member, auditor (custom role
/// `auditor` with `audit_logs.view`), stranger (owner of org `other`), a platform owner
/// (member of nothing) and `revoked` (a user whose session was logged out).
pub struct TestApp {
    pub router: Router,
    pub state: HttpState,
    pub app: App,
    pub store: Arc<MemoryStore>,
    /// The access-token adapter the app signs and verifies with.
    pub tokens: Arc<JwtTokens>,
    pub clock: Arc<TestClock>,
    pub owner: Actor,
    pub admin: Actor,
    pub member: Actor,
    pub auditor: Actor,
    pub stranger: Actor,
    pub platform: Actor,
    pub revoked: Actor,
}

pub fn meta() -> RequestMeta {
    RequestMeta::default()
}

/// A response with its body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    /// The problem's `error_code` (empty for non-problems).
    pub fn code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or_default()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
    /// Asserts the status and, for errors, the `error_code`.
    #[track_caller]
    pub fn expect(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "unexpected response: {}",
            self.text
        );
        self
    }
}

pub struct Builder {
    config: AppConfig,
    http: HttpConfig,
    keys: Option<Keys>,
    serve_jwks: bool,
}

/// An app over `store` signing with `tokens`, and its router (one "server process").
pub fn instance(
    store: Arc<MemoryStore>,
    clock: Arc<TestClock>,
    tokens: Arc<JwtTokens>,
    config: AppConfig,
    http: HttpConfig,
) -> (App, HttpState, Router) {
    let app = App::new(
        Stores::from_store(store),
        clock,
        Arc::new(UuidV7),
        Arc::new(RandomTokens),
        tokens,
        config,
    );
    let state = HttpState::new(app.clone(), http);
    let router = org_http::router(state.clone());
    (app, state, router)
}

/// A platform session of `email` (the user is created if needed), as `admin issue-token`.
async fn issue(app: &App, email: &str) -> Actor {
    let (user, session) = app.users.issue_token(email, None).await.unwrap();
    Actor {
        user,
        token: session.access_token.clone(),
        refresh_token: session.refresh_token.clone(),
        session_id: session.session.id.to_string(),
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::builder().build().await
    }

    pub fn builder() -> Builder {
        Builder {
            config: AppConfig::default(),
            http: HttpConfig {
                public_base_url: ISSUER.into(),
                web_client_url: Some("https://app.test".into()),
                cursor_key: Some(CURSOR_KEY),
                ..HttpConfig::default()
            },
            keys: None,
            serve_jwks: true,
        }
    }

    pub fn advance(&self, by: Duration) {
        *self.clock.0.lock().unwrap() += by;
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A user with a platform session.
    pub async fn actor(&self, email: &str) -> Actor {
        issue(&self.app, email).await
    }

    /// The claims of a token this app issued, checked by the adapter at the app's time.
    pub fn claims_of(&self, token: &str) -> AccessClaims {
        self.tokens.verify(token, self.now()).unwrap()
    }

    /// Signs arbitrary claims with the current signing key (forged edge cases).
    pub fn forge(&self, claims: &AccessClaims) -> String {
        org_tokens::sign(&self.tokens.keys(), claims)
    }

    /// An access token of a new session of `actor` scoped to `slug` (via `select`).
    pub async fn org_token(&self, actor: &Actor, slug: &str) -> String {
        let res = self
            .post(&format!("/api/organizations/{slug}/select"), &actor.token, None)
            .await;
        res.expect(200, "");
        res.body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn call(&self, req: Request<Body>) -> Resp {
        call(&self.router, req).await
    }

    /// A request with an optional bearer and JSON body.
    pub async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        self.call(request(method, path, token, body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.send(Method::POST, path, Some(token), body).await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, Some(token), Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::PUT, path, Some(token), Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// `POST /api/auth/refresh` with `refresh_token` in the body and no bearer.
    pub async fn refresh(&self, refresh_token: &str) -> Resp {
        self.send(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh_token})),
        )
        .await
    }

    /// Creates an invitation in `slug` as `by` and returns its id and token.
    pub async fn invite(&self, by: &Actor, slug: &str, email: &str, role: &str) -> (String, String) {
        let res = self
            .post(
                &format!("/api/organizations/{slug}/invitations"),
                &by.token,
                Some(json!({"email": email, "role": role})),
            )
            .await;
        res.expect(201, "");
        (
            res.body["invitation"]["id"].as_str().unwrap().to_owned(),
            res.body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Makes `actor` a member of `slug` with `role` (invited by the org's `by`, accepted).
    pub async fn join(&self, by: &Actor, actor: &Actor, slug: &str, role: &str) {
        let inv = self
            .app
            .invitations
            .create(&caller(by), &meta(), slug, actor.email(), Some(role), None)
            .await
            .unwrap();
        self.app
            .invitations
            .accept_by_token(&caller(actor), &meta(), &inv.token)
            .await
            .unwrap();
    }

    /// Deactivates the membership of `user` in `slug` as SCIM would (`active=false`): the
    /// membership row alone; the store keeps the org's headcount.
    pub async fn deactivate(&self, slug: &str, user: &Actor) {
        let stores = self.app.stores();
        let org = stores
            .orgs
            .org_by_slug(&Slug::parse(slug).unwrap())
            .await
            .unwrap()
            .unwrap();
        let user_id = UserId::parse(&user.id()).unwrap();
        let membership = stores.members.membership(org.id(), user_id).await.unwrap().unwrap();
        let record = MembershipRecord {
            status: MembershipStatus::Deactivated,
            updated_at: self.now(),
            ..membership.record().clone()
        };
        let changes = Changeset {
            memberships: vec![org_domain::Membership::restore(record).unwrap()],
            ..Changeset::default()
        };
        stores.uow.commit(changes).await.unwrap();
    }

    /// The invitation and custom-role ids of `acme`, for walking routes.
    pub async fn acme_ids(&self) -> (String, String) {
        let (inv, _) = self.invite(&self.owner, "acme", "someone@acme.test", "member").await;
        let roles = self.get("/api/organizations/acme/roles", &self.owner.token).await;
        let role = roles.body[3]["id"].as_str().unwrap().to_owned();
        (inv, role)
    }

    /// A webhook of `acme` and the id of its queued test delivery.
    pub async fn acme_webhook(&self) -> (String, String) {
        let res = self
            .post(
                "/api/organizations/acme/webhooks",
                &self.owner.token,
                Some(json!({"name": "Audit sink", "url": "https://hooks.example.com/in", "events": ["member.added"]})),
            )
            .await;
        res.expect(201, "");
        let id = res.body["id"].as_str().unwrap().to_owned();
        let ping = self
            .post(
                &format!("/api/organizations/acme/webhooks/{id}/test"),
                &self.owner.token,
                None,
            )
            .await;
        ping.expect(200, "");
        (id, ping.body["delivery_id"].as_str().unwrap().to_owned())
    }
}

/// Sends one request through `router`.
pub async fn call(router: &Router, req: Request<Body>) -> Resp {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

/// A request with an optional bearer and JSON body.
pub fn request(method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    req.body(body).unwrap()
}

impl Builder {
    pub fn config(mut self, f: impl FnOnce(&mut AppConfig)) -> Self {
        f(&mut self.config);
        self
    }

    pub fn http(mut self, f: impl FnOnce(&mut HttpConfig)) -> Self {
        f(&mut self.http);
        self
    }

    /// No JWKS renderer in the HTTP settings (`jwks: None`).
    pub fn without_jwks(mut self) -> Self {
        self.serve_jwks = false;
        self
    }

    /// The signing key set (default: a fresh Ed25519 key).
    pub fn keys(mut self, keys: Keys) -> Self {
        self.keys = Some(keys);
        self
    }

    pub async fn build(self) -> TestApp {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(TestClock(Mutex::new(
            Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
        )));
        let tokens = Arc::new(JwtTokens::new(self.keys.unwrap_or_else(Keys::generate), ISSUER));
        let jwks = tokens.clone();
        let http = HttpConfig {
            jwks: self
                .serve_jwks
                .then(|| -> org_http::JwksRender { Arc::new(move || jwks.jwks()) }),
            ..self.http
        };
        let (app, state, router) = instance(store.clone(), clock.clone(), tokens.clone(), self.config, http);

        let owner = issue(&app, "owner@acme.test").await;
        let admin = issue(&app, "admin@acme.test").await;
        let member = issue(&app, "member@acme.test").await;
        let auditor = issue(&app, "auditor@acme.test").await;
        let stranger = issue(&app, "stranger@other.test").await;
        app.users.create("root@platform.test", None, true).await.unwrap();
        let platform = issue(&app, "root@platform.test").await;
        let revoked = issue(&app, "gone@acme.test").await;

        app.orgs
            .create(&caller(&owner), &meta(), "acme", "Acme Inc")
            .await
            .unwrap();
        app.orgs
            .create(&caller(&stranger), &meta(), "other", "Other Org")
            .await
            .unwrap();
        // Under manual approval the fixture orgs are approved right away.
        for slug in ["acme", "other"] {
            let org = app.platform.get_org(&caller(&platform), slug).await.unwrap();
            if org.org.status() == org_domain::OrgStatus::Pending {
                let approve = org_app::platform::Lifecycle::Approve { tier_id: None };
                app.platform
                    .lifecycle(&caller(&platform), &meta(), slug, approve)
                    .await
                    .unwrap();
            }
        }
        app.roles
            .create(
                &caller(&owner),
                &meta(),
                "acme",
                org_app::roles::CreateRole {
                    slug: "auditor".into(),
                    name: "Auditor".into(),
                    description: None,
                    permissions: vec!["audit_logs.view".into()],
                },
            )
            .await
            .unwrap();
        let t = TestApp {
            router,
            state,
            app,
            store,
            tokens,
            clock,
            owner,
            admin,
            member,
            auditor,
            stranger,
            platform,
            revoked,
        };
        for (who, role) in [(&t.admin, "admin"), (&t.member, "member"), (&t.auditor, "auditor")] {
            t.join(&t.owner, who, "acme", role).await;
        }
        t.send(Method::POST, "/api/auth/logout", Some(&t.revoked.token), None)
            .await
            .expect(200, "");
        t
    }
}

/// The use-case caller of an actor.
pub fn caller(a: &Actor) -> Caller {
    Caller::new(a.user.clone(), None)
}
