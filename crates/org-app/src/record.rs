//! Who is calling, from where, and how a use case's domain events become audit entries and
//! outbox events in its changeset (§1.7, §8.2).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use org_domain::{Actor, DomainEvent, EventId, OrgId, Principal, ScimTokenId, SessionId, User, UserId};
use org_ports::{AuditActor, AuditDraft, Changeset, OrgContext, OutboxEvent, RevocationScope, SessionRevocation};
use serde_json::Value;

use crate::catalogue::describe;
use crate::core::Core;
use crate::redact::redact;

/// An authenticated caller: the user as re-read for this request, and the calling session.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub session_id: Option<SessionId>,
    /// The caller's context in the org the request names, read together with the session when
    /// the request was authenticated ([`crate::SessionService::authenticate`]): the reads of
    /// this request use it instead of reading it again. Mutations always read afresh.
    pub(crate) prefetched: Option<OrgContext>,
}

impl Caller {
    /// A caller acting as `user` from `session` (or from no session: the CLI, tests, embedders).
    pub fn new(user: User, session_id: Option<SessionId>) -> Self {
        Self {
            user,
            session_id,
            prefetched: None,
        }
    }

    /// The domain actor.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.user.id(),
            is_platform_owner: self.user.is_platform_owner(),
        }
    }

    fn audit_actor(&self) -> AuditActor {
        AuditActor::user(self.user.id(), self.user.email().as_str())
    }
}

/// Request facts recorded with audit entries (§8.2).
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// Route template (for `authorization.denied`).
    pub route: Option<String>,
    /// HTTP method (for `authorization.denied`).
    pub method: Option<String>,
    /// The admin CLI acts (§2.9): its entries carry `metadata.via_cli: true`.
    pub via_cli: bool,
}

impl RequestMeta {
    /// The facts of an admin CLI command.
    pub fn cli() -> Self {
        Self {
            via_cli: true,
            ..Self::default()
        }
    }
}

/// RFC 3339 with milliseconds and `Z` (§1.3).
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Turns the domain events of one use case into its audit entries, outbox events and session
/// revocations, through the one catalogue ([`crate::catalogue::describe`]): no audit entry is
/// written any other way.
pub(crate) struct Recorder<'a> {
    core: &'a Core,
    meta: &'a RequestMeta,
    actor: AuditActor,
    actor_user: Option<(UserId, String)>,
    pub now: DateTime<Utc>,
    emails: HashMap<UserId, String>,
}

impl<'a> Recorder<'a> {
    pub fn for_caller(core: &'a Core, meta: &'a RequestMeta, caller: &Caller, now: DateTime<Utc>) -> Self {
        let mut emails = HashMap::new();
        emails.insert(caller.user.id(), caller.user.email().as_str().to_owned());
        Self {
            core,
            meta,
            actor: caller.audit_actor(),
            actor_user: Some((caller.user.id(), caller.user.email().as_str().to_owned())),
            now,
            emails,
        }
    }

    /// A recorder for a login report authenticated by a login key (§19.5): entries carry
    /// `actor_type: "login_key"`.
    pub fn for_login_key(
        core: &'a Core,
        meta: &'a RequestMeta,
        key: org_domain::LoginKeyId,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            actor: AuditActor::login_key(key),
            actor_user: None,
            ..Self::system(core, meta, now)
        }
    }

    /// A recorder for a directory (SCIM token) request: entries carry `actor_type:
    /// "scim_token"` and `metadata.via: "scim"` (§10.2).
    pub fn for_directory(core: &'a Core, meta: &'a RequestMeta, token: ScimTokenId, now: DateTime<Utc>) -> Self {
        Self {
            core,
            meta,
            actor: AuditActor::scim_token(token),
            actor_user: None,
            now,
            emails: HashMap::new(),
        }
    }

    pub fn system(core: &'a Core, meta: &'a RequestMeta, now: DateTime<Utc>) -> Self {
        Self {
            core,
            meta,
            actor: AuditActor::system(),
            actor_user: None,
            now,
            emails: HashMap::new(),
        }
    }

    pub fn anonymous(core: &'a Core, meta: &'a RequestMeta, now: DateTime<Utc>) -> Self {
        Self {
            core,
            meta,
            actor: AuditActor::anonymous(),
            actor_user: None,
            now,
            emails: HashMap::new(),
        }
    }

    /// Makes `user`'s e-mail known to the entries that name them.
    pub fn know(&mut self, user: &User) {
        self.emails.insert(user.id(), user.email().as_str().to_owned());
    }

    fn new_id(&self) -> EventId {
        EventId::from_uuid(self.core.new_uuid())
    }

    /// Every audit entry, webhook event and session revocation the domain events cause, in
    /// the log of `org` (or the platform log, for events the catalogue puts there).
    pub fn record(&self, c: &mut Changeset, org: Option<OrgId>, principal: Option<&Principal>, events: &[DomainEvent]) {
        let via = principal.is_some_and(|p| p.via_platform_owner);
        let email = |id: UserId| self.emails.get(&id).cloned();
        for e in events {
            if let DomainEvent::SessionsRevoked { user_id, reason } = e {
                if let Some(org) = org {
                    let scope = user_id.map_or(RevocationScope::Org(org), |u| RevocationScope::MemberOfOrg(org, u));
                    c.revocations.push(SessionRevocation {
                        scope,
                        reason: *reason,
                        at: self.now,
                    });
                }
                continue;
            }
            if let DomainEvent::UserDisabled { user_id, .. } = e {
                c.revocations.push(SessionRevocation {
                    scope: RevocationScope::User(*user_id),
                    reason: org_domain::RevokeReason::UserDisabled,
                    at: self.now,
                });
            }
            let d = describe(e, &email);
            let org = d.org.or(org);
            let target = match (&d.target, d.untargeted) {
                (Some(t), _) => Some(t.clone()),
                (None, true) => None,
                (None, false) => org.map(|o| ("organization", o.to_string())),
            };
            if let Some(action) = d.action {
                let log = if d.platform_log { None } else { org };
                self.audit(c, log, action, target.clone(), d.metadata.clone(), via, d.success);
            }
            if let Some(org) = org {
                for (ty, data) in d.webhooks {
                    self.event(c, org, ty, target.clone(), data);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn audit(
        &self,
        c: &mut Changeset,
        org: Option<OrgId>,
        action: &str,
        target: Option<(&str, String)>,
        metadata: Value,
        via_platform_owner: bool,
        success: bool,
    ) {
        let mut metadata = redact(metadata);
        if via_platform_owner && let Value::Object(m) = &mut metadata {
            m.insert("via_platform_owner".to_owned(), Value::Bool(true));
        }
        if self.actor.kind == org_ports::ActorType::ScimToken {
            if metadata.is_null() {
                metadata = Value::Object(serde_json::Map::new());
            }
            if let Value::Object(m) = &mut metadata {
                m.insert("via".to_owned(), Value::String("scim".to_owned()));
            }
        }
        if self.actor.kind == org_ports::ActorType::System
            && self.meta.via_cli
            && let Value::Object(m) = &mut metadata
        {
            m.insert("via_cli".to_owned(), Value::Bool(true));
        }
        let (target_type, target_id) = target.map_or((None, None), |(t, id)| (Some(t.to_owned()), Some(id)));
        c.audit.push(AuditDraft {
            id: self.new_id(),
            org_id: org,
            actor: self.actor.clone(),
            action: action.to_owned(),
            target_type,
            target_id,
            ip_address: self.meta.ip.clone(),
            user_agent: self.meta.user_agent.clone(),
            success,
            metadata: if metadata.is_null() { None } else { Some(metadata) },
            request_id: self.meta.request_id.clone(),
            created_at: self.now,
        });
    }

    fn event(&self, c: &mut Changeset, org: OrgId, event_type: &str, target: Option<(&str, String)>, data: Value) {
        let (target_type, target_id) = target.map_or((None, None), |(t, id)| (Some(t.to_owned()), Some(id)));
        c.events.push(OutboxEvent {
            id: self.new_id(),
            org_id: org,
            event_type: event_type.to_owned(),
            occurred_at: self.now,
            actor_user_id: self.actor_user.as_ref().map(|(id, _)| *id),
            actor_email: self.actor_user.as_ref().map(|(_, e)| e.clone()),
            target_type,
            target_id,
            data,
        });
    }
}

/// At most one `authorization.denied` per (actor, route, missing) per minute (§1.5).
#[derive(Default)]
pub(crate) struct DeniedLimiter {
    last: Mutex<HashMap<(String, String, String), DateTime<Utc>>>,
    suppressed: AtomicU64,
}

impl DeniedLimiter {
    /// Whether to write an entry now; counts the suppressed ones.
    pub fn admit(&self, key: (String, String, String), now: DateTime<Utc>) -> bool {
        let Ok(mut last) = self.last.lock() else { return true };
        if last.len() > 100_000 {
            last.retain(|_, at| now - *at < chrono::Duration::minutes(1));
        }
        match last.get(&key) {
            Some(at) if now - *at < chrono::Duration::minutes(1) => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                false
            }
            _ => {
                last.insert(key, now);
                true
            }
        }
    }

    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}
