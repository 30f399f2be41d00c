//! Role use cases (§7): list, get, create, update, delete. All need `org.roles.manage`.

use chrono::{DateTime, Utc};
use org_domain::{Capability, CapabilitySet, CustomRole, OrgId, Organization, Role, RoleBook, RoleId, RoleRef};
use org_ports::PageRequest;

use crate::AppError;
use crate::core::Decision;
use crate::record::{Caller, RequestMeta};

/// A role as listed: a built-in (with the org's timestamps) or a custom role.
#[derive(Clone, Debug)]
pub enum RoleView {
    BuiltIn {
        org_id: OrgId,
        role: Role,
        caps: CapabilitySet,
        created_at: DateTime<Utc>,
    },
    Custom(CustomRole),
}

/// Body of `POST …/roles`.
pub type CreateRole = org_domain::RoleDraft;

/// Body of `PUT …/roles/:id` (partial).
pub type UpdateRole = org_domain::RoleChanges;

fn built_ins(org: &Organization) -> Vec<RoleView> {
    [Role::Owner, Role::Admin, Role::Member]
        .into_iter()
        .map(|role| RoleView::BuiltIn {
            org_id: org.id(),
            caps: role.built_in_capabilities().unwrap_or_default(),
            role,
            created_at: org.state().created_at,
        })
        .collect()
}

service! {
    /// Roles (§7). Every endpoint needs `org.roles.manage`.
    RoleService
}

impl RoleService {
    async fn book(&self, org: &Organization) -> Result<RoleBook, AppError> {
        Ok(RoleBook::new(self.core.stores.roles.custom_roles(org.id()).await?))
    }

    /// `GET …/roles`: the three built-ins, then custom roles by creation.
    pub async fn list(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        page: PageRequest,
    ) -> Result<Vec<RoleView>, AppError> {
        let (org, _) = self
            .core
            .read(caller, meta, slug, |a| a.require(Capability::OrgRolesManage))
            .await?;
        let mut all = built_ins(&org);
        all.extend(self.book(&org).await?.roles().iter().cloned().map(RoleView::Custom));
        Ok(page.slice(&all).items)
    }

    /// `GET …/roles/:role_id`.
    pub async fn get(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        role_id: &str,
    ) -> Result<RoleView, AppError> {
        let (org, _) = self
            .core
            .read(caller, meta, slug, |a| a.require(Capability::OrgRolesManage))
            .await?;
        match RoleRef::parse(role_id).ok_or_else(AppError::not_found)? {
            RoleRef::BuiltIn(role) => built_ins(&org)
                .into_iter()
                .find(|v| matches!(v, RoleView::BuiltIn { role: r, .. } if *r == role))
                .ok_or_else(AppError::not_found),
            RoleRef::Custom(id) => self
                .book(&org)
                .await?
                .by_id(id)
                .cloned()
                .map(RoleView::Custom)
                .ok_or_else(AppError::not_found),
        }
    }

    /// `POST …/roles`.
    pub async fn create(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        cmd: CreateRole,
    ) -> Result<CustomRole, AppError> {
        let cmd = &cmd;
        self.core
            .mutate(caller, meta, slug, |s| async move {
                let new = s.access.new_role(RoleId::from_uuid(self.core.new_uuid()), cmd)?;
                let (role, outcome) = s.access.create_role(&self.book(&s.org).await?, new, s.now())?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                c.roles.push(role.clone());
                Ok(Decision::new(c, role.with_version(1)))
            })
            .await
    }

    /// `PUT …/roles/:role_id` (partial).
    pub async fn update(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        role_id: &str,
        cmd: UpdateRole,
    ) -> Result<CustomRole, AppError> {
        let cmd = &cmd;
        self.core
            .mutate(caller, meta, slug, |s| async move {
                let upd = s.access.role_update(cmd)?;
                let role = RoleRef::parse(role_id).ok_or_else(AppError::not_found)?;
                let (updated, outcome) = s.access.update_role(&self.book(&s.org).await?, &role, upd, s.now())?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                if outcome.events.is_empty() {
                    return Ok(Decision::new(c, updated));
                }
                c.roles.push(updated.clone());
                let version = updated.record().version + 1;
                Ok(Decision::new(c, updated.with_version(version)))
            })
            .await
    }

    /// `DELETE …/roles/:role_id`: refused while members hold it or pending invitations name it.
    pub async fn delete(&self, caller: &Caller, meta: &RequestMeta, slug: &str, role_id: &str) -> Result<(), AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let role = RoleRef::parse(role_id).ok_or_else(AppError::not_found)?;
            let book = self.book(&s.org).await?;
            let (holders, pending) = match &role {
                RoleRef::Custom(id) => match book.by_id(*id) {
                    Some(r) => (
                        core.stores
                            .members
                            .count_members(s.org.id(), Some(r.as_role()), None)
                            .await?,
                        core.stores
                            .invitations
                            .count_pending_with_role(s.org.id(), r.slug().as_str(), s.now())
                            .await?,
                    ),
                    None => (0, 0),
                },
                RoleRef::BuiltIn(_) => (0, 0),
            };
            let (gone, outcome) = s.access.delete_role(&book, &role, holders, pending)?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.removed_roles.push(gone);
            Ok(Decision::new(c, ()))
        })
        .await
    }
}
