//! Time, ids and tokens: the ambient inputs the domain receives as arguments.

use chrono::{DateTime, Utc};
use org_domain::TokenHash;
use uuid::Uuid;

/// The current time, at millisecond precision (what the stores keep).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// New ids (UUIDv7 in production).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A fresh, unique id.
    fn new_id(&self) -> Uuid;
}

/// Issues opaque credentials and hashes them; plaintext is returned once and never stored.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait TokenIssuer: Send + Sync {
    /// A new token `<prefix>` + 43 base64url characters (256 bits from a CSPRNG) and its hash.
    fn issue(&self, prefix: &str) -> (String, TokenHash);
    /// The hash a presented token is looked up by.
    fn hash(&self, token: &str) -> TokenHash;
    /// 32 bytes from a CSPRNG (webhook secrets, jitter).
    fn random_bytes(&self) -> [u8; 32];
}

/// Name resolution for outbound connections (A/AAAA).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait::async_trait]
pub trait Resolver: Send + Sync {
    /// Every address of `host`; an empty list when the name does not resolve.
    async fn resolve(&self, host: &str, port: u16) -> Vec<std::net::IpAddr>;
}

/// An outbound webhook request: the exact body and its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendResult {
    /// An HTTP answer (any status; redirects are not followed).
    Response {
        status: u16,
        body: String,
        retry_after: Option<chrono::Duration>,
    },
    /// No answer: the error class (`timeout`, `connect_error`, `tls_error`, `ssrf_denied`, …).
    Error(String),
}

/// Sends webhook requests: resolves once, checks every address against the SSRF guard,
/// connects to a checked address, 15 s timeout, no redirects, no proxies (§9.3, §9.7).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait::async_trait]
pub trait WebhookSender: Send + Sync {
    /// One attempt.
    async fn send(&self, request: OutboundRequest) -> SendResult;
}

/// The claims of an access token (§2.1). No roles or capabilities: those are resolved per
/// request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// The user's e-mail at issue time (informational).
    pub email: String,
    /// The platform-owner flag at issue time (informational; re-read per request).
    pub is_platform_owner: bool,
    /// Unique token id.
    pub jti: String,
    /// Session id.
    pub sid: String,
    /// Org slug of the session's org context.
    pub org: Option<String>,
    /// Service slug (end-user tokens only).
    pub service: Option<String>,
    /// `platform`, `org:<slug>` or `service:<org>/<service>` (§2.2).
    pub aud: String,
    /// The configured issuer.
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub nbf: Option<i64>,
}

/// Why a bearer token is refused (always 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRejection {
    /// `JWT_ERROR`: malformed, a bad header, signature, issuer or times.
    Invalid(&'static str),
    /// `TOKEN_EXPIRED`: past `exp` plus the leeway.
    Expired,
}

/// Signs and verifies access tokens (JWTs in production). The app decides what a token says
/// and when it is accepted; an implementation only signs and checks signatures, headers, the
/// issuer and the times, in the order of §2.1 steps 1–4.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait AccessTokens: Send + Sync {
    /// The issuer every token carries and every token must carry (`iss`).
    fn issuer(&self) -> String;
    /// A signed token carrying `claims`.
    fn sign(&self, claims: &AccessClaims) -> String;
    /// The claims of `token` if steps 1–4 of §2.1 pass at `now`. The audience and the session
    /// are checked by the caller.
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenRejection>;
}
