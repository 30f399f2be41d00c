//! HTTP settings (contract §21.8): issuer and links, proxies, rate limits, CORS, metrics, readiness.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

/// Renders the Prometheus exposition text (the binary passes its recorder handle's `render`).
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Renders the JWKS document of `/.well-known/jwks.json` (§2.8): the public keys of the
/// access-token adapter, read on every request so a rotation shows at once.
pub type JwksRender = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// A readiness probe: resolves to the state of the checks of `GET /readyz` (§21.2).
pub type ReadinessProbe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Readiness> + Send>> + Send + Sync>;

/// The checks of `GET /readyz`; all `true` means ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub database: bool,
    pub migrations: bool,
    pub workers: bool,
}

impl Readiness {
    /// Every check passes.
    pub const READY: Self = Self {
        database: true,
        migrations: true,
        workers: true,
    };

    /// Whether every check passes.
    pub const fn is_ready(self) -> bool {
        self.database && self.migrations && self.workers
    }
}

/// Per-minute token-bucket limits of §21.5 (`rate_limit.*`). `0` disables a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Authenticated API requests per session.
    pub api_per_session: u32,
    /// All requests per client IP.
    pub per_ip: u32,
    /// `POST /api/auth/refresh` per client IP.
    pub refresh_per_ip: u32,
    /// Public endpoints (public branding, decline by token, invitation link, JWKS) per client IP.
    pub public_per_ip: u32,
    /// SCIM requests per SCIM token.
    pub scim_per_token: u32,
    /// Outbound actions per org (domain verification).
    pub outbound_per_org: u32,
    /// `POST /api/platform/logins` per login key (§21.5).
    pub logins_per_key: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            api_per_session: 600,
            per_ip: 1200,
            refresh_per_ip: 60,
            public_per_ip: 120,
            scim_per_token: 600,
            outbound_per_org: 30,
            logins_per_key: 6000,
        }
    }
}

/// A CIDR block such as `10.0.0.0/8` or `::1/128` (a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A malformed CIDR block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrError(pub String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid CIDR block '{}'", self.0)
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrError(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| err())?,
            None => max,
        };
        if prefix > max {
            return Err(err());
        }
        Ok(Self { addr, prefix })
    }
}

impl Cidr {
    /// Whether `ip` lies in the block (IPv4-mapped IPv6 addresses match IPv4 blocks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Settings of the HTTP adapter.
#[derive(Clone)]
pub struct HttpConfig {
    /// `public_base_url` without trailing `/`: the token issuer and the prefix of `Location`.
    pub public_base_url: String,
    /// `web_client_url`: target of `GET /invitations/accept/:token`; unset → 404.
    pub web_client_url: Option<String>,
    /// Peers whose `X-Forwarded-For` is honoured (§21.5).
    pub trusted_proxies: Vec<Cidr>,
    /// Rate limits (§21.5).
    pub rate_limits: RateLimits,
    /// `cors.allowed_origins`; empty = CORS off (§21.7).
    pub cors_allowed_origins: Vec<String>,
    /// `metrics.bearer_token`: when set, `/metrics` needs `Authorization: Bearer <token>`.
    pub metrics_bearer_token: Option<String>,
    /// Renders `/metrics`; `None` serves an empty exposition.
    pub metrics_render: Option<MetricsRender>,
    /// Whether the main router serves `/metrics` (false when `metrics.listen` names another
    /// address; serve [`crate::metrics_router`] there).
    pub serve_metrics: bool,
    /// Readiness probe of `/readyz`; `None` = always ready.
    pub readiness: Option<ReadinessProbe>,
    /// `pagination.cursor_key`: the HMAC-SHA256 key of pagination cursors (§1.6), the same on
    /// every instance. `None` takes a random key at [`crate::HttpState::new`] (cursors then
    /// verify only within this process: tests and embedders; the server always sets one).
    pub cursor_key: Option<[u8; 32]>,
    /// The JWKS of `/.well-known/jwks.json`; `None` serves an empty key set.
    pub jwks: Option<JwksRender>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            public_base_url: "http://127.0.0.1:8080".to_owned(),
            web_client_url: None,
            trusted_proxies: Vec::new(),
            rate_limits: RateLimits::default(),
            cors_allowed_origins: Vec::new(),
            metrics_bearer_token: None,
            metrics_render: None,
            serve_metrics: true,
            readiness: None,
            cursor_key: None,
            jwks: None,
        }
    }
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("public_base_url", &self.public_base_url)
            .field("web_client_url", &self.web_client_url)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("rate_limits", &self.rate_limits)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field(
                "metrics_bearer_token",
                &self.metrics_bearer_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("serve_metrics", &self.serve_metrics)
            .field("cursor_key", &self.cursor_key.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

impl HttpConfig {
    /// The issuer / base URL without a trailing `/`.
    pub fn base_url(&self) -> &str {
        self.public_base_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks_match_their_addresses_only() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }
}
