//! Token buckets per key (§21.5): full at `per_minute`, refilled continuously.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Which bucket family a key belongs to (the `scope` label of `rate_limited_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Ip,
    Session,
    Refresh,
    Public,
    Scim,
    /// Outbound actions per org (domain verification, §21.5).
    Outbound,
    /// Login reports per login key (§19.5, §21.5).
    Login,
}

impl Scope {
    /// The metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Session => "session",
            Self::Refresh => "refresh",
            Self::Public => "public",
            Self::Scim => "scim",
            Self::Outbound => "outbound",
            Self::Login => "login",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every scope.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(Scope, String), Bucket>>,
}

impl RateLimiter {
    /// Takes one token from the bucket of `(scope, key)`; `Err(seconds)` when empty.
    /// A limit of 0 disables the scope.
    pub fn check(&self, scope: Scope, key: &str, per_minute: u32) -> Result<(), u64> {
        if per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let capacity = f64::from(per_minute);
        let rate = capacity / 60.0;
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > 100_000 {
            buckets.retain(|_, b| now.duration_since(b.at).as_secs() < 120);
        }
        let bucket = buckets.entry((scope, key.to_owned())).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / rate).ceil();
            // Bounded by 60 s (one token at ≥ 1/min); the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err((wait as u64).max(1))
        }
    }
}

impl RateLimiter {
    /// Gives back the token a request took from `(scope, key)` (the request turned out not to
    /// count, e.g. a refresh answered from the replay window).
    pub fn refund(&self, scope: Scope, key: &str, per_minute: u32) {
        let Ok(mut buckets) = self.buckets.lock() else {
            return;
        };
        if let Some(b) = buckets.get_mut(&(scope, key.to_owned())) {
            b.tokens = (b.tokens + 1.0).min(f64::from(per_minute));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_a_retry_after() {
        let limiter = RateLimiter::default();
        for _ in 0..3 {
            assert!(limiter.check(Scope::Ip, "1.2.3.4", 3).is_ok());
        }
        let wait = limiter.check(Scope::Ip, "1.2.3.4", 3).unwrap_err();
        assert!((1..=20).contains(&wait));
        assert!(limiter.check(Scope::Ip, "5.6.7.8", 3).is_ok());
        assert!(limiter.check(Scope::Session, "1.2.3.4", 3).is_ok());
        assert!(limiter.check(Scope::Ip, "1.2.3.4", 0).is_ok());
    }
}
