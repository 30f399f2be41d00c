//! Role use cases (§7): list, get, create, update, delete. All need `org.roles.manage`.

use chrono::{DateTime, Utc};
use org_domain::{
    Capability, CapabilitySet, CustomRole, Description, DomainError, FieldError, NewRole, Organization, Role, RoleId,
    RoleName, RoleRef, RoleSlug, RoleUpdate,
};
use org_ports::{Changeset, PageRequest};

use crate::record::{Caller, Recorder, RequestMeta};
use crate::{App, AppError};

/// A role as listed: a built-in (with the org's timestamps) or a custom role.
#[derive(Clone, Debug)]
pub enum RoleView {
    BuiltIn {
        role: Role,
        caps: CapabilitySet,
        created_at: DateTime<Utc>,
    },
    Custom(CustomRole),
}

/// Body of `POST …/roles`.
#[derive(Clone, Debug)]
pub struct CreateRole {
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

/// Body of `PUT …/roles/:id` (partial).
#[derive(Clone, Debug, Default)]
pub struct UpdateRole {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub permissions: Option<Vec<String>>,
}

/// Parses a permission list; every unknown or owner-only entry is reported at its index.
pub fn parse_permissions(list: &[String]) -> Result<CapabilitySet, Vec<FieldError>> {
    let mut errors = Vec::new();
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
    if errors.is_empty() { Ok(set) } else { Err(errors) }
}

fn built_ins(org: &Organization) -> Vec<RoleView> {
    [Role::Owner, Role::Admin, Role::Member]
        .into_iter()
        .map(|role| RoleView::BuiltIn {
            caps: org.role_caps(&role).unwrap_or_default(),
            role,
            created_at: org.state().created_at,
        })
        .collect()
}

fn parse_description(d: Option<String>, errors: &mut Vec<FieldError>) -> Option<Description> {
    d.and_then(|d| Description::parse(&d).map_err(|e| errors.push(e)).ok())
}

impl App {
    /// `GET …/roles`: the three built-ins, then custom roles by creation.
    pub async fn list_roles(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        page: PageRequest,
    ) -> Result<Vec<RoleView>, AppError> {
        let org = self.read_in_org(caller, meta, slug, Capability::OrgRolesManage).await?;
        let mut all = built_ins(&org);
        all.extend(org.state().roles.iter().cloned().map(RoleView::Custom));
        Ok(page.slice(&all).items)
    }

    /// `GET …/roles/:role_id`.
    pub async fn get_role(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        role_id: &str,
    ) -> Result<RoleView, AppError> {
        let org = self.read_in_org(caller, meta, slug, Capability::OrgRolesManage).await?;
        match RoleRef::parse(role_id).ok_or_else(AppError::not_found)? {
            RoleRef::BuiltIn(role) => built_ins(&org)
                .into_iter()
                .find(|v| matches!(v, RoleView::BuiltIn { role: r, .. } if *r == role))
                .ok_or_else(AppError::not_found),
            RoleRef::Custom(id) => org
                .custom_role_by_id(id)
                .cloned()
                .map(RoleView::Custom)
                .ok_or_else(AppError::not_found),
        }
    }

    async fn save_role_change(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        org: &Organization,
        outcome: &org_domain::Outcome,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut c = Changeset::default();
        Recorder::for_caller(self, meta, caller, now).record(
            &mut c,
            org.id(),
            Some(&outcome.principal),
            &outcome.events,
        );
        if !outcome.events.is_empty() {
            c.orgs.push(org.clone());
        }
        self.commit(c).await
    }

    /// `POST …/roles`.
    pub async fn create_role(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        cmd: CreateRole,
    ) -> Result<CustomRole, AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let mut org = self.load_org(slug).await?;
                org.require(&caller.actor(), Capability::OrgRolesManage)?;
                let mut errors = Vec::new();
                let role_slug = RoleSlug::parse(&cmd.slug).map_err(|e| errors.push(e)).ok();
                let name = RoleName::parse(&cmd.name).map_err(|e| errors.push(e)).ok();
                let description = parse_description(cmd.description.clone(), &mut errors);
                let permissions = parse_permissions(&cmd.permissions).map_err(|e| errors.extend(e)).ok();
                let (Some(role_slug), Some(name), Some(permissions)) = (role_slug, name, permissions) else {
                    return Err(DomainError::Validation(errors).into());
                };
                if !errors.is_empty() {
                    return Err(DomainError::Validation(errors).into());
                }
                let id = RoleId::from_uuid(self.new_uuid());
                let outcome = org.create_role(
                    &caller.actor(),
                    NewRole {
                        id,
                        slug: role_slug,
                        name,
                        description,
                        permissions,
                    },
                    self.now(),
                )?;
                self.save_role_change(caller, meta, &org, &outcome).await?;
                org.custom_role_by_id(id).cloned().ok_or_else(AppError::not_found)
            }),
        )
        .await
    }

    /// `PUT …/roles/:role_id` (partial).
    pub async fn update_role(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        role_id: &str,
        cmd: UpdateRole,
    ) -> Result<CustomRole, AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let mut org = self.load_org(slug).await?;
                org.require(&caller.actor(), Capability::OrgRolesManage)?;
                let role = RoleRef::parse(role_id).ok_or_else(AppError::not_found)?;
                let mut errors = Vec::new();
                let name = cmd
                    .name
                    .as_deref()
                    .and_then(|n| RoleName::parse(n).map_err(|e| errors.push(e)).ok());
                let description = cmd.description.clone().map(|d| parse_description(d, &mut errors));
                let permissions = cmd
                    .permissions
                    .as_deref()
                    .and_then(|p| parse_permissions(p).map_err(|e| errors.extend(e)).ok());
                if !errors.is_empty() {
                    return Err(DomainError::Validation(errors).into());
                }
                let outcome = org.update_role(
                    &caller.actor(),
                    &role,
                    RoleUpdate {
                        name,
                        description,
                        permissions,
                    },
                    self.now(),
                )?;
                self.save_role_change(caller, meta, &org, &outcome).await?;
                let RoleRef::Custom(id) = role else {
                    return Err(AppError::not_found());
                };
                org.custom_role_by_id(id).cloned().ok_or_else(AppError::not_found)
            }),
        )
        .await
    }

    /// `DELETE …/roles/:role_id`.
    pub async fn delete_role(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        role_id: &str,
    ) -> Result<(), AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let mut org = self.load_org(slug).await?;
                org.require(&caller.actor(), Capability::OrgRolesManage)?;
                let role = RoleRef::parse(role_id).ok_or_else(AppError::not_found)?;
                let pending = match &role {
                    RoleRef::Custom(id) => match org.custom_role_by_id(*id) {
                        Some(r) => {
                            self.stores()
                                .invitations
                                .count_pending_with_role(org.id(), r.slug.as_str(), self.now())
                                .await?
                        }
                        None => 0,
                    },
                    RoleRef::BuiltIn(_) => 0,
                };
                let outcome = org.delete_role(&caller.actor(), &role, pending, self.now())?;
                self.save_role_change(caller, meta, &org, &outcome).await
            }),
        )
        .await
    }
}
