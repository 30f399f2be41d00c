//! Test harness: an `App` over the memory store with a controllable clock and typed actors.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use org_app::system::{RandomTokens, UuidV7};
use org_app::{App, AppConfig, AppError, Caller, RequestMeta};
use org_domain::{DomainError, Rule};
use org_ports::{AuditFilter, AuditLog, Clock, OutboxEvent, PageRequest, Stores};
use org_store_memory::MemoryStore;

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// An app, its store and clock, and the actors of one org `acme`:
/// owner, admin, member, auditor (custom role `auditor` with `audit_logs.view`),
/// stranger (member of another org `other`) and a platform owner (member of nothing).
pub struct World {
    pub app: App,
    pub clock: Arc<TestClock>,
    pub owner: Caller,
    pub admin: Caller,
    pub member: Caller,
    pub auditor: Caller,
    pub stranger: Caller,
    pub platform: Caller,
}

pub fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("203.0.113.7".into()),
        user_agent: Some("tests".into()),
        request_id: Some("req-1".into()),
        route: Some("/test".into()),
        method: Some("POST".into()),
    }
}

pub fn app_with(config: AppConfig) -> (App, Arc<MemoryStore>, Arc<TestClock>) {
    let store = Arc::new(MemoryStore::new());
    let clock = test_clock();
    let app = App::new(
        Stores::from_store(store.clone()),
        clock.clone(),
        Arc::new(UuidV7),
        Arc::new(RandomTokens),
        config,
    );
    (app, store, clock)
}

pub async fn user(app: &App, email: &str) -> Caller {
    let user = app.admin_create_user(email, None, false).await.unwrap();
    Caller { user, session_id: None }
}

/// Adds `who` to the org with `role` through an invitation the owner creates and the invitee accepts.
pub async fn join(app: &App, owner: &Caller, slug: &str, who: &Caller, role: &str) {
    let inv = app
        .create_invitation(owner, &meta(), slug, who.user.email.as_str(), Some(role), None)
        .await
        .unwrap();
    app.accept_invitation_by_token(who, &meta(), &inv.token).await.unwrap();
}

impl World {
    pub async fn new() -> Self {
        Self::with(AppConfig::default()).await
    }

    pub async fn with(config: AppConfig) -> Self {
        let (app, _store, clock) = app_with(config);
        let owner = user(&app, "owner@acme.test").await;
        let admin = user(&app, "admin@acme.test").await;
        let member = user(&app, "member@acme.test").await;
        let auditor = user(&app, "auditor@acme.test").await;
        let stranger = user(&app, "stranger@other.test").await;
        let platform_user = app.admin_create_user("root@platform.test", None, true).await.unwrap();
        let platform = Caller {
            user: platform_user,
            session_id: None,
        };
        app.create_org(&owner, &meta(), "acme", "Acme Inc").await.unwrap();
        app.create_org(&stranger, &meta(), "other", "Other Org").await.unwrap();
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
        join(&app, &owner, "acme", &admin, "admin").await;
        join(&app, &owner, "acme", &member, "member").await;
        join(&app, &owner, "acme", &auditor, "auditor").await;
        Self {
            app,
            clock,
            owner,
            admin,
            member,
            auditor,
            stranger,
            platform,
        }
    }

    pub fn advance(&self, by: Duration) {
        *self.clock.0.lock().unwrap() += by;
    }

    pub async fn org_events(&self, slug: &str) -> Vec<OutboxEvent> {
        let org = self.app.get_org(&self.owner, slug).await.unwrap().org;
        self.app.stores().outbox.org_events(org.id()).await.unwrap()
    }

    pub async fn event_types(&self, slug: &str) -> Vec<String> {
        self.org_events(slug).await.into_iter().map(|e| e.event_type).collect()
    }

    pub async fn audit_actions(&self, log: AuditLog) -> Vec<String> {
        let page = self
            .app
            .stores()
            .audit
            .audit_entries(log, &AuditFilter::default(), PageRequest::new(1, 100))
            .await
            .unwrap();
        page.items.into_iter().rev().map(|e| e.entry.action).collect()
    }

    pub async fn acme_log(&self) -> Vec<String> {
        let org = self.app.get_org(&self.owner, "acme").await.unwrap().org;
        self.audit_actions(AuditLog::Org(org.id())).await
    }
}

pub fn not_found() -> AppError {
    AppError::Domain(DomainError::NotFound)
}

pub fn missing(cap: org_domain::Capability) -> AppError {
    AppError::Domain(DomainError::MissingCapability(cap))
}

pub fn rule(r: Rule) -> AppError {
    AppError::Domain(DomainError::RuleViolation(r))
}

pub fn is_validation(e: &AppError) -> bool {
    matches!(e, AppError::Domain(DomainError::Validation(_)))
}

/// A fresh test clock.
pub fn test_clock() -> Arc<TestClock> {
    Arc::new(TestClock(Mutex::new(
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
    )))
}
