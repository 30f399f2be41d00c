//! Custom roles (§3.4, §7): their own aggregate, one row each. Creating, updating and deleting
//! one is decided by [`Access`] with the grant rule of §3.5; members reference a role by slug.

use chrono::{DateTime, Utc};

use crate::access::{Access, Outcome};
use crate::capability::{Capability, CapabilitySet};
use crate::error::{DomainError, FieldError, Rule};
use crate::event::{Change, ChangeValue, DomainEvent};
use crate::ids::{OrgId, RoleId};
use crate::role::Role;
use crate::values::{Description, RoleName, RoleSlug};

/// The state of a custom role, as stored. `permissions` keep what was written; checks use
/// [`CapabilitySet::resolved`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRoleRecord {
    pub id: RoleId,
    pub org_id: OrgId,
    pub slug: RoleSlug,
    pub name: RoleName,
    pub description: Option<Description>,
    pub permissions: CapabilitySet,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for a role not yet stored.
    pub version: u64,
}

/// A custom role of an org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRole(CustomRoleRecord);

/// Parameters of a new custom role.
#[derive(Clone, Debug)]
pub struct NewRole {
    pub id: RoleId,
    pub slug: RoleSlug,
    pub name: RoleName,
    pub description: Option<Description>,
    pub permissions: CapabilitySet,
}

/// A partial role update (§7 `PUT`).
#[derive(Clone, Debug, Default)]
pub struct RoleUpdate {
    pub name: Option<RoleName>,
    pub description: Option<Option<Description>>,
    pub permissions: Option<CapabilitySet>,
}

/// Body of a role create (§7 `POST`), as received.
#[derive(Clone, Debug)]
pub struct RoleDraft {
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

/// Body of a partial role update (§7 `PUT`), as received.
#[derive(Clone, Debug, Default)]
pub struct RoleChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub permissions: Option<Vec<String>>,
}

/// Parses a permission list; every unknown or owner-only entry is reported at its index.
fn parse_permissions(list: &[String], errors: &mut Vec<FieldError>) -> Option<CapabilitySet> {
    let before = errors.len();
    let mut set = CapabilitySet::EMPTY;
    for (i, text) in list.iter().enumerate() {
        let field = format!("permissions[{i}]");
        match Capability::parse(text) {
            None => errors.push(FieldError::new(field, format!("unknown capability '{text}'"))),
            Some(c) if !c.is_grantable() => errors.push(FieldError::new(
                field,
                format!("'{text}' is owner-only and cannot be granted to custom roles"),
            )),
            Some(c) => set.insert(c),
        }
    }
    (errors.len() == before).then_some(set)
}

fn parse_description(d: Option<String>, errors: &mut Vec<FieldError>) -> Option<Description> {
    d.and_then(|d| Description::parse(&d).map_err(|e| errors.push(e)).ok())
}

fn field<T>(parsed: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    parsed.map_err(|e| errors.push(e)).ok()
}

/// A role addressed by id: a built-in (`role_owner` …) or a custom role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleRef {
    BuiltIn(Role),
    Custom(RoleId),
}

impl RoleRef {
    /// Parses `role_owner|role_admin|role_member` or a UUID.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "role_owner" => Some(Self::BuiltIn(Role::Owner)),
            "role_admin" => Some(Self::BuiltIn(Role::Admin)),
            "role_member" => Some(Self::BuiltIn(Role::Member)),
            other => RoleId::parse(other).map(Self::Custom),
        }
    }
}

impl CustomRole {
    /// A new role of `org_id`, and its `role.created` event (the decision was taken).
    pub(crate) fn create(org_id: OrgId, new: NewRole, now: DateTime<Utc>) -> (Self, DomainEvent) {
        let event = DomainEvent::RoleCreated {
            role_id: new.id,
            slug: new.slug.clone(),
            name: new.name.as_str().to_owned(),
            permissions: new.permissions,
        };
        let role = CustomRole(CustomRoleRecord {
            id: new.id,
            org_id,
            slug: new.slug,
            name: new.name,
            description: new.description,
            permissions: new.permissions,
            created_at: now,
            updated_at: now,
            version: 0,
        });
        (role, event)
    }

    /// This role under another name, and its `role.updated` event when the name changes.
    pub(crate) fn renamed(&self, name: RoleName, now: DateTime<Utc>) -> (Self, Option<DomainEvent>) {
        let Some(change) = Change::of(
            "name",
            Some(self.0.name.as_str().to_owned()),
            Some(name.as_str().to_owned()),
        ) else {
            return (self.clone(), None);
        };
        let mut updated = self.0.clone();
        updated.name = name;
        updated.updated_at = now;
        let event = DomainEvent::RoleUpdated {
            role_id: updated.id,
            slug: updated.slug.clone(),
            changes: vec![change],
        };
        (CustomRole(updated), Some(event))
    }

    /// Rebuilds a role from storage; owner-only capabilities are never stored on one.
    pub fn restore(record: CustomRoleRecord) -> Result<Self, DomainError> {
        if !record.permissions.all_grantable() {
            return Err(DomainError::invalid("role", "corrupt role: owner-only capability"));
        }
        Ok(Self(record))
    }

    /// The stored state.
    pub fn record(&self) -> &CustomRoleRecord {
        &self.0
    }
    /// The same role as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    /// The id.
    pub fn id(&self) -> RoleId {
        self.0.id
    }
    /// The org.
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    /// The slug members hold it by.
    pub fn slug(&self) -> &RoleSlug {
        &self.0.slug
    }
    /// The permissions as written.
    pub fn permissions(&self) -> CapabilitySet {
        self.0.permissions
    }
    /// The role as a membership holds it.
    pub fn as_role(&self) -> Role {
        Role::Custom(self.0.slug.clone())
    }
}

/// The custom roles a decision may need (the actor's, the target's, the one granted), looked
/// up by slug. A role not in the book is unknown to the decision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleBook(Vec<CustomRole>);

impl RoleBook {
    /// A book of loaded roles.
    pub fn new(roles: Vec<CustomRole>) -> Self {
        Self(roles)
    }
    /// The role with this slug.
    pub fn get(&self, slug: &RoleSlug) -> Option<&CustomRole> {
        self.0.iter().find(|r| r.slug() == slug)
    }
    /// The role with this id.
    pub fn by_id(&self, id: RoleId) -> Option<&CustomRole> {
        self.0.iter().find(|r| r.id() == id)
    }
    /// Every role in the book, in the order loaded.
    pub fn roles(&self) -> &[CustomRole] {
        &self.0
    }
    /// Whether `role` is built in or in the book.
    pub fn knows(&self, role: &Role) -> Result<(), DomainError> {
        match role {
            Role::Custom(slug) if self.get(slug).is_none() => {
                Err(DomainError::invalid("role", format!("unknown role '{role}'")))
            }
            _ => Ok(()),
        }
    }
    pub(crate) fn name_taken(&self, name: &RoleName, except: Option<RoleId>) -> bool {
        let key = name.unique_key();
        self.0
            .iter()
            .any(|r| Some(r.id()) != except && r.0.name.unique_key() == key)
    }
}

fn owner_only_error() -> DomainError {
    DomainError::invalid(
        "permissions",
        "owner-only capabilities cannot be granted to custom roles",
    )
}

impl Access {
    /// Step one of creating a role (§1.5): `org.roles.manage`, then every field of the body,
    /// all errors reported at once.
    pub fn new_role(&self, id: RoleId, draft: &RoleDraft) -> Result<NewRole, DomainError> {
        self.require(Capability::OrgRolesManage)?;
        let mut errors = Vec::new();
        let slug = field(RoleSlug::parse(&draft.slug), &mut errors);
        let name = field(RoleName::parse(&draft.name), &mut errors);
        let description = parse_description(draft.description.clone(), &mut errors);
        let permissions = parse_permissions(&draft.permissions, &mut errors);
        match (slug, name, permissions) {
            (Some(slug), Some(name), Some(permissions)) if errors.is_empty() => Ok(NewRole {
                id,
                slug,
                name,
                description,
                permissions,
            }),
            _ => Err(DomainError::Validation(errors)),
        }
    }

    /// Step one of updating a role (§1.5): `org.roles.manage`, then the fields present.
    pub fn role_update(&self, changes: &RoleChanges) -> Result<RoleUpdate, DomainError> {
        self.require(Capability::OrgRolesManage)?;
        let mut errors = Vec::new();
        let name = changes
            .name
            .as_deref()
            .and_then(|n| field(RoleName::parse(n), &mut errors));
        let description = changes.description.clone().map(|d| parse_description(d, &mut errors));
        let permissions = changes
            .permissions
            .as_deref()
            .and_then(|p| parse_permissions(p, &mut errors));
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        Ok(RoleUpdate {
            name,
            description,
            permissions,
        })
    }

    /// Creates a custom role (§7): caps(new) ⊆ caps(caller); slug and name unique among
    /// `existing` (the org's roles).
    pub fn create_role(
        &self,
        existing: &RoleBook,
        new: NewRole,
        now: DateTime<Utc>,
    ) -> Result<(CustomRole, Outcome), DomainError> {
        self.require_mutable(Capability::OrgRolesManage)?;
        if !new.permissions.all_grantable() {
            return Err(owner_only_error());
        }
        let resolved = new.permissions.resolved();
        let principal = self.authorize(|p| {
            p.need(Capability::OrgRolesManage)?;
            if resolved.is_subset_of(p.caps) {
                Ok(())
            } else {
                Err(DomainError::RuleViolation(Rule::Grant))
            }
        })?;
        if existing.get(&new.slug).is_some() {
            return Err(DomainError::DuplicateRoleSlug);
        }
        if existing.name_taken(&new.name, None) {
            return Err(DomainError::DuplicateRoleName);
        }
        let (role, event) = CustomRole::create(self.org_id(), new, now);
        Ok((
            role,
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// The custom role a write addresses: built-ins are read-only (403), unknown ids 404.
    fn custom_role_for_write(&self, existing: &RoleBook, role: &RoleRef) -> Result<CustomRole, DomainError> {
        self.require_mutable(Capability::OrgRolesManage)?;
        match role {
            RoleRef::BuiltIn(_) => {
                self.authorize(|_| Err(DomainError::RuleViolation(Rule::BuiltInRole)))?;
                Err(DomainError::RuleViolation(Rule::BuiltInRole))
            }
            RoleRef::Custom(id) => existing.by_id(*id).cloned().ok_or(DomainError::NotFound),
        }
    }

    /// Updates a custom role (§7): caps(old) ⊆ caps(caller) and caps(new) ⊆ caps(caller).
    /// Returns the role as it is to be stored (unchanged when nothing changes).
    pub fn update_role(
        &self,
        existing: &RoleBook,
        role: &RoleRef,
        upd: RoleUpdate,
        now: DateTime<Utc>,
    ) -> Result<(CustomRole, Outcome), DomainError> {
        let current = self.custom_role_for_write(existing, role)?;
        if upd.permissions.is_some_and(|p| !p.all_grantable()) {
            return Err(owner_only_error());
        }
        let old_caps = current.permissions().resolved();
        let new_caps = upd.permissions.map_or(old_caps, CapabilitySet::resolved);
        let principal = self.authorize(|p| {
            p.need(Capability::OrgRolesManage)?;
            if old_caps.is_subset_of(p.caps) && new_caps.is_subset_of(p.caps) {
                Ok(())
            } else {
                Err(DomainError::RuleViolation(Rule::Grant))
            }
        })?;
        if let Some(name) = &upd.name
            && existing.name_taken(name, Some(current.id()))
        {
            return Err(DomainError::DuplicateRoleName);
        }
        let mut changes = Vec::new();
        let mut updated = current.0.clone();
        if let Some(name) = upd.name {
            changes.extend(Change::of(
                "name",
                Some(current.0.name.as_str().to_owned()),
                Some(name.as_str().to_owned()),
            ));
            updated.name = name;
        }
        if let Some(description) = upd.description {
            let text = |d: &Option<Description>| d.as_ref().map(|d| d.as_str().to_owned());
            changes.extend(Change::of(
                "description",
                text(&current.0.description),
                text(&description),
            ));
            updated.description = description;
        }
        if let Some(perms) = upd.permissions {
            let list = |c: CapabilitySet| ChangeValue::List(c.iter().map(|c| c.as_str().to_owned()).collect());
            if perms != current.0.permissions {
                changes.push(Change {
                    field: "permissions",
                    old: list(current.0.permissions),
                    new: list(perms),
                });
            }
            updated.permissions = perms;
        }
        if changes.is_empty() {
            return Ok((
                current,
                Outcome {
                    principal,
                    events: Vec::new(),
                },
            ));
        }
        updated.updated_at = now;
        let event = DomainEvent::RoleUpdated {
            role_id: updated.id,
            slug: updated.slug.clone(),
            changes,
        };
        Ok((
            CustomRole(updated),
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// Deletes a custom role (§7): caps(old) ⊆ caps(caller); refused while `holders` members
    /// hold it or `pending_invitations` name it. Returns the role to delete.
    pub fn delete_role(
        &self,
        existing: &RoleBook,
        role: &RoleRef,
        holders: u64,
        pending_invitations: u64,
    ) -> Result<(CustomRole, Outcome), DomainError> {
        let current = self.custom_role_for_write(existing, role)?;
        let caps = current.permissions().resolved();
        let principal = self.authorize(|p| {
            p.need(Capability::OrgRolesManage)?;
            if caps.is_subset_of(p.caps) {
                Ok(())
            } else {
                Err(DomainError::RuleViolation(Rule::Grant))
            }
        })?;
        if holders > 0 || pending_invitations > 0 {
            return Err(DomainError::RoleInUse {
                members: holders,
                invitations: pending_invitations,
            });
        }
        let event = DomainEvent::RoleDeleted {
            role_id: current.id(),
            slug: current.slug().clone(),
        };
        Ok((
            current,
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }
}
