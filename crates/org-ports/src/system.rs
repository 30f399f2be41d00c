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
}
