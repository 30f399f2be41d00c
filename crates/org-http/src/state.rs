//! The router's state: the use cases, the signing keys, the settings and the rate limiter.
//! No database handle reaches a handler (STYLE.md 16).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use org_app::{App, IssuedSession};
use org_domain::{SessionId, User, UserId};

use crate::config::HttpConfig;
use crate::keys::Keys;
use crate::ratelimit::RateLimiter;
use crate::token;

struct Inner {
    app: App,
    keys: RwLock<Keys>,
    config: HttpConfig,
    limiter: RateLimiter,
    replay: Mutex<HashMap<[u8; 32], Replay>>,
    cursor_key: [u8; 32],
}

/// The response of a rotation, kept in memory for the replay window (§2.5).
#[derive(Clone, Debug)]
pub(crate) struct Replay {
    pub until: DateTime<Utc>,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub access_token: String,
    pub refresh_token: String,
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
    /// State over the use cases, the signing keys and the settings.
    pub fn new(app: App, keys: Keys, config: HttpConfig) -> Self {
        let cursor_key = config
            .cursor_key
            .unwrap_or_else(|| keys.derive_secret("org-http pagination cursor v1"));
        Self {
            inner: Arc::new(Inner {
                app,
                keys: RwLock::new(keys),
                limiter: RateLimiter::default(),
                replay: Mutex::new(HashMap::new()),
                cursor_key,
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

    /// The current key set.
    pub fn keys(&self) -> Keys {
        match self.inner.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps the key set (rotation or reload, §2.8); takes effect on the next request.
    pub fn replace_keys(&self, keys: Keys) {
        match self.inner.keys.write() {
            Ok(mut k) => *k = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }

    /// Signs an access token for an issued session (org create/select, refresh, and the
    /// admin CLI's `issue-token`), valid for `AppConfig::access_token_ttl`.
    pub fn mint_access_token(&self, user: &User, session: &IssuedSession) -> String {
        token::mint(
            &self.keys(),
            self.config().base_url(),
            user,
            session,
            self.app().current_time(),
            self.expires_in(),
        )
    }

    /// `expires_in` of token responses, in seconds.
    pub fn expires_in(&self) -> i64 {
        self.app().config().access_token_ttl.num_seconds()
    }

    /// The HMAC key of pagination cursors (§1.6).
    pub(crate) fn cursor_key(&self) -> &[u8; 32] {
        &self.inner.cursor_key
    }

    pub(crate) fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// Keeps the response of a rotation under the hash of the token it consumed.
    pub(crate) fn remember_rotation(&self, consumed: [u8; 32], replay: Replay) {
        if let Ok(mut map) = self.inner.replay.lock() {
            let now = self.app().current_time();
            map.retain(|_, r| r.until > now);
            map.insert(consumed, replay);
        }
    }

    /// The kept response for a consumed token, if still inside the window.
    pub(crate) fn replay_of(&self, consumed: &[u8; 32]) -> Option<Replay> {
        let now = self.app().current_time();
        let map = self.inner.replay.lock().ok()?;
        map.get(consumed).filter(|r| r.until > now).cloned()
    }
}
