//! Audit entries (contract §8.2) and outbox events (§9.5) as the ports carry them.

use chrono::{DateTime, Utc};
use org_domain::{EventId, OrgId, ScimTokenId, UserId};
use serde_json::Value;

/// Kind of actor recorded in an audit entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActorType {
    User,
    ScimToken,
    LoginKey,
    System,
    Anonymous,
}

impl ActorType {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ScimToken => "scim_token",
            Self::LoginKey => "login_key",
            Self::System => "system",
            Self::Anonymous => "anonymous",
        }
    }
    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::User,
            Self::ScimToken,
            Self::LoginKey,
            Self::System,
            Self::Anonymous,
        ]
        .into_iter()
        .find(|a| a.as_str() == text)
    }
}

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditActor {
    /// User id, SCIM token id, login-key id, `system` or `anonymous`.
    pub id: String,
    pub kind: ActorType,
    /// The user's e-mail, for user actors.
    pub email: Option<String>,
}

impl AuditActor {
    /// The `system` actor.
    pub fn system() -> Self {
        Self {
            id: "system".to_owned(),
            kind: ActorType::System,
            email: None,
        }
    }
    /// The `anonymous` actor.
    pub fn anonymous() -> Self {
        Self {
            id: "anonymous".to_owned(),
            kind: ActorType::Anonymous,
            email: None,
        }
    }
    /// A SCIM token actor (§10.2).
    pub fn scim_token(id: ScimTokenId) -> Self {
        Self {
            id: id.to_string(),
            kind: ActorType::ScimToken,
            email: None,
        }
    }
    /// A login-key actor (§19.5).
    pub fn login_key(id: org_domain::LoginKeyId) -> Self {
        Self {
            id: id.to_string(),
            kind: ActorType::LoginKey,
            email: None,
        }
    }
    /// A user actor.
    pub fn user(id: UserId, email: &str) -> Self {
        Self {
            id: id.to_string(),
            kind: ActorType::User,
            email: Some(email.to_owned()),
        }
    }
}

/// An audit entry to append. The store assigns its place (`seq`) in the log at commit.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditDraft {
    pub id: EventId,
    /// `None` for the platform log.
    pub org_id: Option<OrgId>,
    pub actor: AuditActor,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub success: bool,
    /// Redacted metadata.
    pub metadata: Option<Value>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A stored audit entry.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// Position in its log: 1, 2, 3 … in commit order, no gaps.
    pub seq: u64,
    pub entry: AuditDraft,
    /// The previous entry's `hash` ([`crate::chain::GENESIS`] for `seq` 1).
    pub prev_hash: crate::chain::Hash,
    /// [`crate::chain::entry_hash`] of this entry (§8.3).
    pub hash: crate::chain::Hash,
}

/// Which log to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditLog {
    Org(OrgId),
    Platform,
}

/// Filters of §8.1; all combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Keyset position: only entries strictly older than `(created_at, seq)` (cursor pages).
    pub before: Option<(DateTime<Utc>, u64)>,
}

impl AuditFilter {
    /// Whether a stored entry passes every filter, the keyset position included.
    pub fn matches_entry(&self, e: &AuditEntry) -> bool {
        self.matches(&e.entry) && self.before.is_none_or(|key| (e.entry.created_at, e.seq) < key)
    }

    /// Whether `e` passes every filter.
    pub fn matches(&self, e: &AuditDraft) -> bool {
        let eq = |f: &Option<String>, v: Option<&str>| f.as_deref().is_none_or(|f| Some(f) == v);
        eq(&self.action, Some(&e.action))
            && eq(&self.actor_id, Some(&e.actor.id))
            && eq(&self.target_type, e.target_type.as_deref())
            && eq(&self.target_id, e.target_id.as_deref())
            && self.since.is_none_or(|s| e.created_at >= s)
            && self.until.is_none_or(|u| e.created_at < u)
    }
}

/// An event written to the outbox in the causing transaction (§9.4, §9.5).
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEvent {
    pub id: EventId,
    pub org_id: OrgId,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub actor_user_id: Option<UserId>,
    pub actor_email: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Type-specific data; an empty object when there is none.
    pub data: Value,
}
