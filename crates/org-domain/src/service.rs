//! An org's services (§19.1, §19.2) and its members' per-service access (§5.4, §5.5). A
//! service is its own aggregate (its own row and version, never a field of the org); a grant
//! is one row per (service, member). The service cap (§22.3) is decided here from the count
//! the store keeps per org, and backed by the store under the org's count lock.

use chrono::{DateTime, Utc};

use crate::access::{Access, Outcome, Principal};
use crate::capability::Capability;
use crate::custom_role::RoleBook;
use crate::error::{DomainError, FieldError};
use crate::event::{Change, ChangeValue, DomainEvent};
use crate::ids::{OrgId, ServiceId, UserId};
use crate::membership::Membership;
use crate::organization::Organization;
use crate::tier::Tier;

/// A service slug: `^[a-z0-9][a-z0-9_-]{1,49}$`, unique in the org (§19.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceSlug(String);

impl ServiceSlug {
    /// Parses a slug (exact: no trimming, no case folding).
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let mut chars = text.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        let len = text.chars().count();
        if first_ok && rest_ok && (2..=50).contains(&len) {
            Ok(Self(text.to_owned()))
        } else {
            Err(FieldError::new(
                "slug",
                "must be 2-50 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
            ))
        }
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A member's access to one service (§5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceAccessLevel {
    Viewer,
    Manager,
}

impl ServiceAccessLevel {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Manager => "manager",
        }
    }
    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Viewer, Self::Manager].into_iter().find(|l| l.as_str() == text)
    }
}

/// A service as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    pub id: ServiceId,
    pub org_id: OrgId,
    pub slug: ServiceSlug,
    /// Trimmed, 1–100 characters, no control characters.
    pub name: String,
    /// At most 500 characters.
    pub description: Option<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for a service not yet stored.
    pub version: u64,
}

/// A service of an org (§19.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service(ServiceRecord);

impl Service {
    /// Rebuilds a service from storage, checking the field rules.
    pub fn restore(record: ServiceRecord) -> Result<Self, DomainError> {
        service_name(&record.name)?;
        service_description(record.description.as_deref())?;
        Ok(Self(record))
    }
    /// The stored state.
    pub fn record(&self) -> &ServiceRecord {
        &self.0
    }
    pub fn id(&self) -> ServiceId {
        self.0.id
    }
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    pub fn slug(&self) -> &ServiceSlug {
        &self.0.slug
    }
    pub fn name(&self) -> &str {
        &self.0.name
    }
    pub fn is_enabled(&self) -> bool {
        self.0.enabled
    }
    /// The same service as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
}

/// Body of `POST …/services` as received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceDraft {
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Body of `PATCH …/services/:service_slug`: absent leaves a field, `Some(None)` clears the
/// description (§1.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceUpdate {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

fn service_name(text: &str) -> Result<String, FieldError> {
    let t = text.trim();
    let n = t.chars().count();
    if (1..=100).contains(&n) && !t.chars().any(char::is_control) {
        Ok(t.to_owned())
    } else {
        Err(FieldError::new(
            "name",
            "must be 1-100 characters after trimming, without control characters",
        ))
    }
}

fn service_description(text: Option<&str>) -> Result<Option<String>, FieldError> {
    match text {
        Some(d) if d.chars().count() > 500 => Err(FieldError::new("description", "must be at most 500 characters")),
        other => Ok(other.map(str::to_owned)),
    }
}

/// Service facts (§23.1 `service.*`, §23.2 `service.*`) and member access changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceEvent {
    Created {
        service_id: ServiceId,
        slug: ServiceSlug,
        name: String,
    },
    Updated {
        service_id: ServiceId,
        slug: ServiceSlug,
        name: String,
        changes: Vec<Change>,
    },
    Deleted {
        service_id: ServiceId,
        slug: ServiceSlug,
    },
    /// A member's access changed (§5.5): only the services whose access changed.
    AccessUpdated {
        user_id: UserId,
        grants: Vec<(ServiceSlug, Option<ServiceAccessLevel>)>,
    },
}

/// One member's access to one service, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceGrant {
    pub org_id: OrgId,
    pub service_id: ServiceId,
    pub user_id: UserId,
    pub access: ServiceAccessLevel,
}

/// A grant to write: `access: None` removes the member's access to the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantWrite {
    pub org_id: OrgId,
    pub service_id: ServiceId,
    pub user_id: UserId,
    pub access: Option<ServiceAccessLevel>,
}

/// The effective service cap of an org (§22.3): its `max_services`, else the tier's
/// `default_max_services`; an org whose tier is unknown may create none.
pub fn service_cap(org: &Organization, tier: Option<&Tier>) -> u32 {
    org.state()
        .max_services
        .or(tier.map(|t| t.default_max_services))
        .unwrap_or(0)
}

fn events(principal: Principal, event: ServiceEvent) -> Outcome {
    Outcome {
        principal,
        events: vec![DomainEvent::Service(event)],
    }
}

impl Access {
    /// `GET …/services` and `GET …/services/:service_slug`: `services.view` (implied by
    /// `services.create` and `services.manage`, §3.2).
    pub fn view_services(&self) -> Result<Principal, DomainError> {
        self.require(Capability::ServicesView)
    }

    /// `POST …/services` (§19.2): `services.create` and the active-org gate, every field rule,
    /// then the cap: with `count` services already, `count >= cap` → `SERVICE_LIMIT_EXCEEDED`.
    pub fn create_service(
        &self,
        draft: &ServiceDraft,
        count: u32,
        cap: u32,
        id: ServiceId,
        now: DateTime<Utc>,
    ) -> Result<(Service, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::ServicesCreate)?;
        let mut errors = Vec::new();
        let slug = ServiceSlug::parse(&draft.slug).map_err(|e| errors.push(e)).ok();
        let name = service_name(&draft.name).map_err(|e| errors.push(e)).ok();
        let description = service_description(draft.description.as_deref())
            .map_err(|e| errors.push(e))
            .ok();
        let (Some(slug), Some(name), Some(description)) = (slug, name, description) else {
            return Err(DomainError::Validation(errors));
        };
        if count >= cap {
            return Err(DomainError::ServiceLimitExceeded(cap));
        }
        let service = Service(ServiceRecord {
            id,
            org_id: self.org_id(),
            slug: slug.clone(),
            name: name.clone(),
            description,
            enabled: draft.enabled.unwrap_or(true),
            created_at: now,
            updated_at: now,
            version: 0,
        });
        let outcome = events(
            principal,
            ServiceEvent::Created {
                service_id: id,
                slug,
                name,
            },
        );
        Ok((service, outcome))
    }

    /// `PATCH …/services/:service_slug`: `services.manage`, the gate, the service (404), every
    /// field rule; values equal to the stored ones change nothing (`None`, no event, §1.7).
    pub fn update_service(
        &self,
        service: Option<&Service>,
        update: &ServiceUpdate,
        now: DateTime<Utc>,
    ) -> Result<(Option<Service>, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::ServicesManage)?;
        let service = service
            .filter(|s| s.org_id() == self.org_id())
            .ok_or(DomainError::NotFound)?;
        let mut errors = Vec::new();
        let name = update
            .name
            .as_deref()
            .map(service_name)
            .transpose()
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        let description = update
            .description
            .as_ref()
            .map(|d| service_description(d.as_deref()))
            .transpose()
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let old = &service.0;
        let mut next = old.clone();
        let mut changes = Vec::new();
        if let Some(name) = name {
            changes.extend(Change::of("name", Some(old.name.clone()), Some(name.clone())));
            next.name = name;
        }
        if let Some(description) = description {
            changes.extend(Change::of("description", old.description.clone(), description.clone()));
            next.description = description;
        }
        if let Some(enabled) = update.enabled {
            changes.extend(Change::of(
                "enabled",
                ChangeValue::Bool(old.enabled),
                ChangeValue::Bool(enabled),
            ));
            next.enabled = enabled;
        }
        if changes.is_empty() {
            return Ok((
                None,
                Outcome {
                    principal,
                    events: Vec::new(),
                },
            ));
        }
        next.updated_at = now;
        let outcome = events(
            principal,
            ServiceEvent::Updated {
                service_id: next.id,
                slug: next.slug.clone(),
                name: next.name.clone(),
                changes,
            },
        );
        Ok((Some(Service(next)), outcome))
    }

    /// `DELETE …/services/:service_slug`: `services.manage`, the gate, the service (404). The
    /// caller deletes it; the store removes its member grants with it.
    pub fn delete_service(&self, service: Option<&Service>) -> Result<Outcome, DomainError> {
        let principal = self.require_mutable(Capability::ServicesManage)?;
        let service = service
            .filter(|s| s.org_id() == self.org_id())
            .ok_or(DomainError::NotFound)?;
        Ok(events(
            principal,
            ServiceEvent::Deleted {
                service_id: service.id(),
                slug: service.slug().clone(),
            },
        ))
    }

    /// `GET …/members/:user_id/service-access` (§5.4): `org.members.manage`, then the member
    /// (404 when not a member of this org).
    pub fn read_service_access(&self, target: Option<&Membership>) -> Result<Principal, DomainError> {
        let principal = self.require(Capability::OrgMembersManage)?;
        target
            .filter(|m| m.org_id() == self.org_id())
            .ok_or(DomainError::NotFound)?;
        Ok(principal)
    }

    /// `PUT …/members/:user_id/service-access` (§5.5): `org.members.manage`, the gate, the
    /// member (404), the target rule (§3.5), then the grants. `wanted` names each service at
    /// most once with the access to set (`None` removes it); `current` is the member's stored
    /// grants. Returns the writes for the services whose access changes; none → no event.
    pub fn set_service_access(
        &self,
        target: Option<&Membership>,
        roles: &RoleBook,
        current: &[ServiceGrant],
        wanted: &[(Service, Option<ServiceAccessLevel>)],
    ) -> Result<(Vec<GrantWrite>, Outcome), DomainError> {
        self.require_mutable(Capability::OrgMembersManage)?;
        let target = target
            .filter(|m| m.org_id() == self.org_id())
            .ok_or(DomainError::NotFound)?;
        let principal = self.authorize(|p| {
            p.need(Capability::OrgMembersManage)?;
            Access::check_target(p, target, roles)
        })?;
        let mut writes = Vec::new();
        let mut changed = Vec::new();
        for (service, access) in wanted {
            if service.org_id() != self.org_id() {
                return Err(DomainError::NotFound);
            }
            let now = current
                .iter()
                .find(|g| g.service_id == service.id() && g.user_id == target.user_id())
                .map(|g| g.access);
            if now == *access {
                continue;
            }
            writes.push(GrantWrite {
                org_id: self.org_id(),
                service_id: service.id(),
                user_id: target.user_id(),
                access: *access,
            });
            changed.push((service.slug().clone(), *access));
        }
        let events = if changed.is_empty() {
            Vec::new()
        } else {
            vec![DomainEvent::Service(ServiceEvent::AccessUpdated {
                user_id: target.user_id(),
                grants: changed,
            })]
        };
        Ok((writes, Outcome { principal, events }))
    }
}
