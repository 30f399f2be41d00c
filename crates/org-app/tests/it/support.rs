//! Test harness: an `App` over the memory store with a controllable clock, a real JWT signer
//! and typed actors, plus readers of the logs and outboxes the use cases write.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use org_app::system::{RandomTokens, UuidV7};
use org_app::{App, AppConfig, AppError, Caller, MemberFilter, MemberPosition, OrgApproval, RequestMeta};
use org_domain::{DomainError, Headcount, OrgId, Rule, Slug};
use org_ports::{AuditEntry, AuditFilter, AuditLog, Clock, OutboxEvent, PageRequest, Stores};
use org_store_memory::MemoryStore;
use org_tokens::{JwtTokens, Keys};

/// The issuer of the test tokens.
pub const ISSUER: &str = "https://id.test";

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

/// A fresh test clock.
pub fn test_clock() -> Arc<TestClock> {
    Arc::new(TestClock(Mutex::new(
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
    )))
}

/// A fresh signer of access tokens.
pub fn test_tokens() -> Arc<JwtTokens> {
    Arc::new(JwtTokens::new(Keys::generate(), ISSUER))
}

/// An app and the parts a test may reach behind it.
pub struct TestApp {
    pub app: App,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<TestClock>,
    pub tokens: Arc<JwtTokens>,
}

impl TestApp {
    pub fn new(config: AppConfig) -> Self {
        let store = Arc::new(MemoryStore::new());
        Self::over(Stores::from_store(store.clone()), store, config)
    }

    /// An app over `stores` (some ports possibly replaced) with `store` behind the others.
    pub fn over(stores: Stores, store: Arc<MemoryStore>, config: AppConfig) -> Self {
        let clock = test_clock();
        let tokens = test_tokens();
        let app = App::new(
            stores,
            clock.clone(),
            Arc::new(UuidV7),
            Arc::new(RandomTokens),
            tokens.clone(),
            config,
        );
        Self {
            app,
            store,
            clock,
            tokens,
        }
    }
}

pub fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("203.0.113.7".into()),
        user_agent: Some("tests".into()),
        request_id: Some("req-1".into()),
        route: Some("/test".into()),
        method: Some("POST".into()),
        via_cli: false,
    }
}

pub async fn user(app: &App, email: &str) -> Caller {
    let user = app.users.create(email, None, false).await.unwrap();
    Caller::new(user, None)
}

/// Adds `who` to the org with `role` through an invitation the owner creates and the invitee accepts.
pub async fn join(app: &App, owner: &Caller, slug: &str, who: &Caller, role: &str) {
    let inv = app
        .invitations
        .create(owner, &meta(), slug, who.user.email().as_str(), Some(role), None)
        .await
        .unwrap();
    app.invitations.accept_by_token(who, &meta(), &inv.token).await.unwrap();
}

/// An app, its store, clock and signer, and the actors of one org `acme`:
/// owner, admin, member, auditor (custom role `auditor` with `audit_logs.view`),
/// stranger (owner of another org `other`) and a platform owner (member of nothing).
pub struct World {
    pub app: App,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<TestClock>,
    pub tokens: Arc<JwtTokens>,
    pub owner: Caller,
    pub admin: Caller,
    pub member: Caller,
    pub auditor: Caller,
    pub stranger: Caller,
    pub platform: Caller,
}

impl World {
    pub async fn new() -> Self {
        Self::with(AppConfig::default()).await
    }

    /// The world under `config`; with manual approval the platform owner approves both orgs.
    pub async fn with(config: AppConfig) -> Self {
        let manual = config.org_approval == OrgApproval::Manual;
        let TestApp {
            app,
            store,
            clock,
            tokens,
        } = TestApp::new(config);
        let owner = user(&app, "owner@acme.test").await;
        let admin = user(&app, "admin@acme.test").await;
        let member = user(&app, "member@acme.test").await;
        let auditor = user(&app, "auditor@acme.test").await;
        let stranger = user(&app, "stranger@other.test").await;
        let platform = Caller::new(app.users.create("root@platform.test", None, true).await.unwrap(), None);
        app.orgs.create(&owner, &meta(), "acme", "Acme Inc").await.unwrap();
        app.orgs.create(&stranger, &meta(), "other", "Other Org").await.unwrap();
        if manual {
            for slug in ["acme", "other"] {
                let approve = org_app::platform::Lifecycle::Approve { tier_id: None };
                app.platform.lifecycle(&platform, &meta(), slug, approve).await.unwrap();
            }
        }
        app.roles
            .create(
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
            store,
            clock,
            tokens,
            owner,
            admin,
            member,
            auditor,
            stranger,
            platform,
        }
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// A second app on the same store and clock: another server process.
    pub fn sibling(&self) -> App {
        App::new(
            Stores::from_store(self.store.clone()),
            self.clock.clone(),
            Arc::new(UuidV7),
            Arc::new(RandomTokens),
            self.tokens.clone(),
            self.app.config().clone(),
        )
    }

    /// The id of a live org.
    pub async fn org_id(&self, slug: &str) -> OrgId {
        self.app
            .stores()
            .orgs
            .org_by_slug(&Slug::parse(slug).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no live org '{slug}'"))
            .id()
    }

    /// The kept headcount of a live org, as stored.
    pub async fn headcount(&self, slug: &str) -> Headcount {
        let slug = Slug::parse(slug).unwrap();
        let org = self.app.stores().orgs.org_by_slug(&slug).await.unwrap().unwrap();
        org.headcount()
    }

    pub async fn org_events(&self, slug: &str) -> Vec<OutboxEvent> {
        let org = self.org_id(slug).await;
        self.app.stores().outbox.org_events(org).await.unwrap()
    }

    pub async fn event_types(&self, slug: &str) -> Vec<String> {
        self.org_events(slug).await.into_iter().map(|e| e.event_type).collect()
    }

    /// Every entry of a log, oldest first.
    pub async fn entries(&self, log: AuditLog) -> Vec<AuditEntry> {
        entries_after(&self.app, log, 0).await
    }

    /// Every action of a log, oldest first.
    pub async fn audit_actions(&self, log: AuditLog) -> Vec<String> {
        self.entries(log).await.into_iter().map(|e| e.entry.action).collect()
    }

    pub async fn acme_log(&self) -> Vec<String> {
        let org = self.org_id("acme").await;
        self.audit_actions(AuditLog::Org(org)).await
    }

    /// Entries of one log with `action`, newest first, as the store lists and counts them.
    pub async fn filtered(&self, log: AuditLog, action: &str) -> org_ports::Page<AuditEntry> {
        let filter = AuditFilter {
            action: Some(action.into()),
            ..Default::default()
        };
        self.app
            .stores()
            .audit
            .audit_entries(log, &filter, PageRequest::new(1, 100))
            .await
            .unwrap()
    }

    /// Every member of a live org in list order, through the member list use case.
    pub async fn members(&self, slug: &str) -> Vec<org_app::MemberView> {
        let list = self
            .app
            .members
            .list(
                &self.platform,
                slug,
                &MemberFilter::default(),
                MemberPosition::first(100),
            )
            .await
            .unwrap();
        assert!(list.next.is_none(), "more than 100 members");
        list.members
    }
}

/// Every entry of a log with `seq > after`, oldest first (read in chunks).
pub async fn entries_after(app: &App, log: AuditLog, after: u64) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    let mut after = after;
    loop {
        let chunk = app.audit.chunk(log, after, org_app::CHUNK).await.unwrap();
        let Some(last) = chunk.last() else { return out };
        after = last.seq;
        out.extend(chunk);
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

/// The fields a validation error names.
pub fn invalid_fields(e: &AppError) -> Vec<String> {
    match e {
        AppError::Domain(DomainError::Validation(errors)) => errors.iter().map(|e| e.field.clone()).collect(),
        other => panic!("not a validation error: {other:?}"),
    }
}
