//! Platform users. Credentials live in the login front-end, never here (§2, §4.1).

use chrono::{DateTime, Utc};

use crate::ids::UserId;
use crate::values::Email;

/// A user of the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: Option<String>,
    pub is_platform_owner: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for a user not yet stored.
    pub version: u64,
}

impl User {
    /// A new, not yet stored user.
    pub fn new(id: UserId, email: Email, name: Option<String>, now: DateTime<Utc>) -> Self {
        Self {
            id,
            email,
            name,
            is_platform_owner: false,
            disabled_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Whether the user may authenticate.
    pub const fn is_enabled(&self) -> bool {
        self.disabled_at.is_none()
    }
}
