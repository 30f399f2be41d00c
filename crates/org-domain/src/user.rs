//! Platform users. Credentials live in the login front-end, never here (§2, §4.1). A user's
//! flags change only through its methods, which return the events they cause (§2.9).

use chrono::{DateTime, Utc};

use crate::event::{DomainEvent, UserVia};
use crate::ids::UserId;
use crate::values::Email;

/// The state of a user, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
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

/// A user of the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User(UserRecord);

impl User {
    /// A new, not yet stored user, and the `user.created` fact (§23.1, platform log).
    pub fn create(
        id: UserId,
        email: Email,
        name: Option<String>,
        platform_owner: bool,
        via: UserVia,
        now: DateTime<Utc>,
    ) -> (Self, DomainEvent) {
        let user = Self(UserRecord {
            id,
            email: email.clone(),
            name,
            is_platform_owner: platform_owner,
            disabled_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
        });
        (
            user,
            DomainEvent::UserCreated {
                user_id: id,
                email,
                via,
            },
        )
    }

    /// Rebuilds a user from storage.
    pub fn restore(record: UserRecord) -> Self {
        Self(record)
    }

    /// The stored state.
    pub fn record(&self) -> &UserRecord {
        &self.0
    }
    /// The same user as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    /// The id.
    pub fn id(&self) -> UserId {
        self.0.id
    }
    /// The normalised e-mail.
    pub fn email(&self) -> &Email {
        &self.0.email
    }
    /// The display name.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// Whether the user is a platform owner (§3.6).
    pub fn is_platform_owner(&self) -> bool {
        self.0.is_platform_owner
    }
    /// When the user was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Whether the user may authenticate.
    pub const fn is_enabled(&self) -> bool {
        self.0.disabled_at.is_none()
    }

    /// Grants or revokes the platform-owner flag (`admin promote` / `admin demote`); `None`
    /// when it already has that value.
    pub fn set_platform_owner(&mut self, owner: bool, now: DateTime<Utc>) -> Option<DomainEvent> {
        if self.0.is_platform_owner == owner {
            return None;
        }
        self.0.is_platform_owner = owner;
        self.0.updated_at = now;
        let (user_id, email) = (self.0.id, self.0.email.clone());
        Some(if owner {
            DomainEvent::PlatformOwnerGranted { user_id, email }
        } else {
            DomainEvent::PlatformOwnerRevoked { user_id, email }
        })
    }

    /// Disables (every session is revoked with it) or re-enables the user; `None` when it is
    /// already so.
    pub fn set_disabled(&mut self, disabled: bool, now: DateTime<Utc>) -> Option<DomainEvent> {
        if self.0.disabled_at.is_some() == disabled {
            return None;
        }
        self.0.disabled_at = disabled.then_some(now);
        self.0.updated_at = now;
        let (user_id, email) = (self.0.id, self.0.email.clone());
        Some(if disabled {
            DomainEvent::UserDisabled { user_id, email }
        } else {
            DomainEvent::UserEnabled { user_id, email }
        })
    }

    /// Marks the row as written now without changing it (serializes a user's concurrent org
    /// creations against the org-per-user cap, §22.3).
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.0.updated_at = now;
    }
}
