//! org-app: the use cases of org-server, one service per area — [`OrgService`],
//! [`MemberService`], [`InvitationService`], [`RoleService`], [`WebhookService`], [`MailService`],
//! [`AuditService`], [`SessionService`], [`PlatformService`] and the CLI's [`UserAdmin`] —
//! bundled in [`App`]. Every org-scoped use case runs one skeleton: resolve the caller against
//! the org (one read), let the domain decide from exactly what the decision needs, and commit
//! state, audit entries and events in one unit of work, retrying stale versions a bounded
//! number of times.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use org_app::{App, AppConfig, Caller, RequestMeta};
//! use org_app::system::{RandomTokens, SystemClock, UuidV7};
//! use org_ports::Stores;
//!
//! // Any store implementing the ports; the in-memory one for this example.
//! let store = Arc::new(org_store_memory::MemoryStore::new());
//! let app = App::new(
//!     Stores::from_store(store),
//!     Arc::new(SystemClock),
//!     Arc::new(UuidV7),
//!     Arc::new(RandomTokens),
//!     // Any signer of access tokens; the JWT adapter here.
//!     Arc::new(org_tokens::JwtTokens::new(org_tokens::Keys::generate(), "https://id.example.com")),
//!     AppConfig::default(),
//! );
//! let alice = Caller::new(app.users.create("alice@example.com", None, false).await?, None);
//! let meta = RequestMeta::default();
//! let created = app.orgs.create(&alice, &meta, "acme", "Acme Inc").await?;
//! assert_eq!(created.view.membership_count, 1);
//! let members = app.members.list(&alice, "acme", &Default::default(), org_app::MemberPosition::first(50)).await?;
//! assert_eq!(members.members[0].user.email().as_str(), "alice@example.com");
//! # Ok::<(), org_app::AppError>(()) }).unwrap();
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Declares a service: a cheap handle on the shared [`core::Core`].
macro_rules! service {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            pub(crate) core: std::sync::Arc<crate::core::Core>,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

mod audit;
pub mod cache;
mod catalogue;
mod config;
mod core;
pub mod credentials;
pub mod directory;
pub mod end_users;
mod error;
mod invitations;
pub mod logins;
pub mod mail;
mod members;
mod orgs;
pub mod outbound;
pub mod platform;
mod record;
mod redact;
mod refresh;
pub mod risk;
pub mod roles;
pub mod scim;
mod services;
mod sessions;
pub mod settings;
pub mod siem;
pub mod signing;
pub mod system;
pub mod upstream;
mod users;
pub mod webhooks;
pub mod workers;

use std::sync::Arc;

use org_ports::{AccessTokens, Clock, IdGenerator, Stores, TokenIssuer};

pub use audit::{AuditService, CHUNK};
pub use catalogue::{AUDIT_ACTIONS, AuditActionInfo, WEBHOOK_EVENT_TYPES, WebhookTypeInfo};
pub use config::{AppConfig, OrgApproval};
pub use credentials::{BillingCredentialsView, CredentialsService, OAuthCredentialsView};
pub use error::AppError;
pub use invitations::{CreatedInvitation, InvitationService, InvitationView, MyInvitation};
pub use mail::{MailReport, MailService};
pub use members::{MemberFilter, MemberList, MemberPosition, MemberService, MemberView, ServiceAccess, TransferTarget};
pub use orgs::{CreatedOrg, MyOrg, OrgService, OrgView, SelectedOrg};
pub use platform::PlatformService;
pub use record::{Caller, RequestMeta};
pub use redact::redact;
pub use roles::RoleService;
pub use services::{IssuedLoginKey, LoginKeyAdmin, LoginKeyCaller, ServiceAccessChange, ServiceCatalog};
pub use sessions::{Audience, Authenticated, IssuedSession, RefreshOutcome, RoutePolicy, SessionScope, SessionService};
pub use settings::SettingsService;
pub use siem::SiemService;
pub use upstream::UpstreamService;
pub use users::UserAdmin;
pub use webhooks::WebhookService;

/// Session contexts kept between commits (each a session, its user and one org context).
const SESSION_CACHE: usize = 65_536;

/// The application: every service, over one set of ports. Cheap to clone.
#[derive(Clone)]
pub struct App {
    core: Arc<core::Core>,
    pub orgs: OrgService,
    pub members: MemberService,
    pub invitations: InvitationService,
    pub roles: RoleService,
    pub webhooks: WebhookService,
    pub mail: MailService,
    pub settings: SettingsService,
    pub credentials: CredentialsService,
    pub audit: AuditService,
    pub sessions: SessionService,
    pub platform: PlatformService,
    pub users: UserAdmin,
    pub directory: directory::DirectoryService,
    pub workers: workers::WorkerService,
    pub risk: risk::RiskService,
    pub services: ServiceCatalog,
    pub login_keys: LoginKeyAdmin,
    pub upstream: UpstreamService,
    pub siem: SiemService,
    pub logins: logins::LoginService,
    pub end_users: end_users::EndUserService,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// Wires the services to their ports: the stores, the clock and id generator, the
    /// issuer of opaque credentials (refresh and invitation tokens) and the signer of access
    /// tokens.
    pub fn new(
        stores: Stores,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        tokens: Arc<dyn TokenIssuer>,
        access_tokens: Arc<dyn AccessTokens>,
        config: AppConfig,
    ) -> Self {
        Self::from_core(core::Core {
            stores,
            clock,
            ids,
            tokens,
            access_tokens,
            config,
            denied: record::DeniedLimiter::default(),
            outbound: webhooks::Outbound::default(),
            verifier: settings::DomainVerifier::default(),
            documents: Arc::new(settings::NoHttp),
            sessions: cache::TokenCache::new(SESSION_CACHE),
            service_counts: cache::TokenCache::new(SESSION_CACHE),
            siem_sender: Arc::new(NoSender),
        })
    }

    fn from_core(core: core::Core) -> Self {
        let core = Arc::new(core);
        Self {
            orgs: OrgService { core: core.clone() },
            members: MemberService { core: core.clone() },
            invitations: InvitationService { core: core.clone() },
            roles: RoleService { core: core.clone() },
            webhooks: WebhookService { core: core.clone() },
            mail: MailService { core: core.clone() },
            settings: SettingsService { core: core.clone() },
            credentials: CredentialsService { core: core.clone() },
            audit: AuditService { core: core.clone() },
            sessions: SessionService { core: core.clone() },
            platform: PlatformService { core: core.clone() },
            users: UserAdmin { core: core.clone() },
            directory: directory::DirectoryService { core: core.clone() },
            workers: workers::WorkerService {
                holder: core.ids.new_id(),
                core: core.clone(),
            },
            risk: risk::RiskService { core: core.clone() },
            services: ServiceCatalog { core: core.clone() },
            login_keys: LoginKeyAdmin { core: core.clone() },
            upstream: UpstreamService { core: core.clone() },
            siem: SiemService {
                holder: core.ids.new_id(),
                core: core.clone(),
            },
            logins: logins::LoginService { core: core.clone() },
            end_users: end_users::EndUserService { core: core.clone() },
            core,
        }
    }

    /// The app with one setting of its core changed (the builders below). A core already
    /// shared is copied first, with fresh per-process caches.
    fn reconfigured(self, set: impl FnOnce(&mut core::Core)) -> Self {
        let mut core = Arc::try_unwrap(self.core).unwrap_or_else(|core| core::Core {
            stores: core.stores.clone(),
            clock: core.clock.clone(),
            ids: core.ids.clone(),
            tokens: core.tokens.clone(),
            access_tokens: core.access_tokens.clone(),
            config: core.config.clone(),
            denied: record::DeniedLimiter::default(),
            outbound: core.outbound.clone(),
            verifier: core.verifier.clone(),
            documents: core.documents.clone(),
            sessions: cache::TokenCache::new(SESSION_CACHE),
            service_counts: cache::TokenCache::new(SESSION_CACHE),
            siem_sender: core.siem_sender.clone(),
        });
        set(&mut core);
        Self::from_core(core)
    }

    /// Sets the SSRF guard and resolver used to check webhook URLs (call right after `new`).
    pub fn with_outbound(self, outbound: webhooks::Outbound) -> Self {
        self.reconfigured(|core| core.outbound = outbound)
    }

    /// Sets the lookups of domain verification (TXT resolver, HTTP fetcher, port; §14).
    pub fn with_domain_verifier(self, verifier: settings::DomainVerifier) -> Self {
        self.reconfigured(|core| core.verifier = verifier)
    }

    /// Sets the fetcher of OIDC discovery and SAML metadata documents (§11).
    pub fn with_document_fetcher(self, documents: Arc<dyn org_ports::DocumentFetcher>) -> Self {
        self.reconfigured(|core| core.documents = documents)
    }

    /// Sets the outbound client of SIEM test records (§17).
    pub fn with_siem_sender(self, sender: Arc<dyn org_ports::WebhookSender>) -> Self {
        self.reconfigured(|core| core.siem_sender = sender)
    }

    /// The configuration.
    pub fn config(&self) -> &AppConfig {
        &self.core.config
    }

    /// The ports (the server's workers and the CLI read through them).
    pub fn stores(&self) -> &Stores {
        &self.core.stores
    }

    /// The store's change token: adapters may keep derived reads (serialized responses) under
    /// it, read before the reads they derive from (see [`cache::TokenCache`]).
    pub fn change_token(&self) -> Option<u64> {
        self.core.change_token()
    }

    /// The current time of the app's clock (adapters validate token times against it).
    pub fn current_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.core.now()
    }

    /// Number of `authorization.denied` entries suppressed by the once-per-minute rule (§1.5).
    pub fn denied_suppressed_total(&self) -> u64 {
        self.core.denied.suppressed()
    }
}

/// A sender that sends nothing (embedders without outbound HTTP): every attempt fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSender;

#[async_trait::async_trait]
impl org_ports::WebhookSender for NoSender {
    async fn send(&self, _request: org_ports::OutboundRequest) -> org_ports::SendResult {
        org_ports::SendResult::Error("no_sender".to_owned())
    }
}
