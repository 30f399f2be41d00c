//! Test harness: the real router over the memory store with a hand-moved clock, typed actors
//! holding access tokens, and request helpers that parse problem bodies.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use http_body_util::BodyExt;
use org_app::system::{RandomTokens, UuidV7};
use org_app::{App, AppConfig, Caller, RequestMeta};
use org_domain::User;
use org_http::{HttpConfig, HttpState, Keys};
use org_ports::{Clock, Stores};
use org_store_memory::MemoryStore;
use serde_json::{Value, json};
use tower::ServiceExt;

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
        self.user.id.to_string()
    }
    pub fn email(&self) -> &str {
        self.user.email.as_str()
    }
}

/// The router and the actors of org `acme`: owner, admin, member, auditor (custom role
/// `auditor` with `audit_logs.view`), stranger (owner of org `other`), a platform owner
/// (member of nothing) and `revoked` (a user whose session was logged out).
pub struct TestApp {
    pub router: Router,
    pub state: HttpState,
    pub app: App,
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
}

impl TestApp {
    pub async fn new() -> Self {
        Self::builder().build().await
    }

    pub fn builder() -> Builder {
        Builder {
            config: AppConfig::default(),
            http: HttpConfig {
                public_base_url: "https://id.test".into(),
                web_client_url: Some("https://app.test".into()),
                ..HttpConfig::default()
            },
            keys: None,
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
        let (user, session) = self.app.admin_issue_token(email, None).await.unwrap();
        let token = self.state.mint_access_token(&user, &session);
        Actor {
            user,
            token,
            refresh_token: session.refresh_token.clone(),
            session_id: session.session.id.to_string(),
        }
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
        let res = self.router.clone().oneshot(req).await.unwrap();
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
    pub async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
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
        self.call(req.body(body).unwrap()).await
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

    /// The invitation, user, membership and custom-role ids of `acme`, for walking routes.
    pub async fn acme_ids(&self) -> (String, String) {
        let (inv, _) = self.invite(&self.owner, "acme", "someone@acme.test", "member").await;
        let roles = self.get("/api/organizations/acme/roles", &self.owner.token).await;
        let role = roles.body[3]["id"].as_str().unwrap().to_owned();
        (inv, role)
    }
}

impl TestApp {
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

impl Builder {
    pub fn config(mut self, f: impl FnOnce(&mut AppConfig)) -> Self {
        f(&mut self.config);
        self
    }

    pub fn http(mut self, f: impl FnOnce(&mut HttpConfig)) -> Self {
        f(&mut self.http);
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
        let app = App::new(
            Stores::from_store(store),
            clock.clone(),
            Arc::new(UuidV7),
            Arc::new(RandomTokens),
            self.config,
        );
        let state = HttpState::new(app.clone(), self.keys.unwrap_or_else(Keys::generate), self.http);
        let router = org_http::router(state.clone());
        let placeholder = Actor {
            user: User::new(
                org_domain::UserId::from_uuid(uuid::Uuid::nil()),
                org_domain::Email::parse("x@x.test").unwrap(),
                None,
                clock.now(),
            ),
            token: String::new(),
            refresh_token: String::new(),
            session_id: String::new(),
        };
        let mut t = TestApp {
            router,
            state,
            app: app.clone(),
            clock,
            owner: placeholder.clone(),
            admin: placeholder.clone(),
            member: placeholder.clone(),
            auditor: placeholder.clone(),
            stranger: placeholder.clone(),
            platform: placeholder.clone(),
            revoked: placeholder,
        };
        t.owner = t.actor("owner@acme.test").await;
        t.admin = t.actor("admin@acme.test").await;
        t.member = t.actor("member@acme.test").await;
        t.auditor = t.actor("auditor@acme.test").await;
        t.stranger = t.actor("stranger@other.test").await;
        app.admin_create_user("root@platform.test", None, true).await.unwrap();
        t.platform = t.actor("root@platform.test").await;
        t.revoked = t.actor("gone@acme.test").await;

        let owner = caller(&t.owner);
        app.create_org(&owner, &meta(), "acme", "Acme Inc").await.unwrap();
        app.create_org(&caller(&t.stranger), &meta(), "other", "Other Org")
            .await
            .unwrap();
        // Under manual approval the fixture orgs are approved right away.
        for slug in ["acme", "other"] {
            if app.get_org(&caller(&t.platform), slug).await.unwrap().org.status() == org_domain::OrgStatus::Pending {
                let approve = org_app::platform::Lifecycle::Approve { tier_id: None };
                app.platform_lifecycle(&caller(&t.platform), &meta(), slug, approve)
                    .await
                    .unwrap();
            }
        }
        app.create_role(
            &owner,
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
        for (who, role) in [(&t.admin, "admin"), (&t.member, "member"), (&t.auditor, "auditor")] {
            let inv = app
                .create_invitation(&owner, &meta(), "acme", who.email(), Some(role), None)
                .await
                .unwrap();
            app.accept_invitation_by_token(&caller(who), &meta(), &inv.token)
                .await
                .unwrap();
        }
        t.send(Method::POST, "/api/auth/logout", Some(&t.revoked.token), None)
            .await
            .expect(200, "");
        t
    }
}

/// The use-case caller of an actor.
pub fn caller(a: &Actor) -> Caller {
    Caller {
        user: a.user.clone(),
        session_id: None,
    }
}
