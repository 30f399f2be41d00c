//! The router's state: the use cases, the settings and the rate limiter. No database handle
//! and no signing key reaches a handler (STYLE.md 16): tokens are the app's business.

use std::fmt;
use std::sync::Arc;

use axum::body::Bytes;
use org_app::App;
use org_app::cache::TokenCache;
use org_domain::OrgId;

/// Member-list pages kept between commits.
const MEMBER_PAGES: usize = 4_096;

use crate::config::HttpConfig;
use crate::ratelimit::RateLimiter;

struct Inner {
    app: App,
    config: HttpConfig,
    limiter: RateLimiter,
    cursor_key: [u8; 32],
    member_pages: MemberPages,
}

/// Serialized member-list pages by (org, query), kept while the store's change token stands.
pub(crate) type MemberPages = TokenCache<(OrgId, String), CachedBody>;

/// A serialized JSON body and the `X-Next-Cursor` that goes with it.
#[derive(Debug)]
pub(crate) struct CachedBody {
    pub body: Bytes,
    pub next_cursor: Option<String>,
}

/// Shared state of [`crate::router`]. Cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    inner: Arc<Inner>,
}

impl fmt::Debug for HttpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl HttpState {
    /// State over the use cases and the settings.
    pub fn new(app: App, config: HttpConfig) -> Self {
        let cursor_key = config.cursor_key.unwrap_or_else(rand::random);
        Self {
            inner: Arc::new(Inner {
                app,
                limiter: RateLimiter::default(),
                cursor_key,
                member_pages: TokenCache::new(MEMBER_PAGES),
                config,
            }),
        }
    }

    /// The use cases.
    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// The settings.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }

    /// `expires_in` of token responses, in seconds.
    pub fn expires_in(&self) -> i64 {
        self.app().sessions.expires_in()
    }

    /// The HMAC key of pagination cursors (§1.6).
    pub(crate) fn cursor_key(&self) -> &[u8; 32] {
        &self.inner.cursor_key
    }

    pub(crate) fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    pub(crate) fn member_pages(&self) -> &MemberPages {
        &self.inner.member_pages
    }
}
