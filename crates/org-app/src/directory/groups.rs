//! SCIM Groups (§10.4): one read-only group for the org (its active members) and one group
//! per custom role (the active members holding it). Writing a role group's members assigns the
//! role or takes it back; every change of a request is decided, then committed together.

use std::collections::HashMap;

use org_domain::directory::DirectoryGroup;
use org_domain::{
    Capability, CustomRole, Membership, MembershipStatus, OrgId, Organization, Principal, Role, RoleBook, RoleId,
    UserId,
};
use org_ports::Changeset;

use super::{DirectoryCaller, DirectoryScope, DirectoryService};
use crate::AppError;
use crate::core::Decision;
use crate::record::RequestMeta;
use crate::scim::{
    AttrKey, Filter, GroupChange, GroupInput, GroupResource, ListParams, MemberRef, PatchRequest, ResourceKind,
    ScimError, render_group,
};

/// A page of Groups and the number of matches.
pub type GroupList = super::Listed<GroupResource>;

fn scim(e: ScimError) -> AppError {
    AppError::Scim(e)
}

/// Which group an id names.
// Short-lived (one per group of a request); boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum Group {
    Org,
    Role(CustomRole, DirectoryGroup),
}

/// A group's members (`None`: not asked for).
type Members = Option<Vec<MemberRef>>;

impl DirectoryService {
    /// Every member of `org` matching `role` and `status`, with their users, in join order.
    async fn members_where(
        &self,
        org: &Organization,
        role: Option<Role>,
        status: Option<MembershipStatus>,
    ) -> Result<Vec<org_ports::MemberRow>, AppError> {
        let mut scan = super::MemberScan::new(self, org.id(), role, status);
        let mut out = Vec::new();
        while let Some(rows) = scan.next().await? {
            out.extend(rows);
        }
        Ok(out)
    }

    async fn member_refs(&self, org: &Organization, role: Option<Role>) -> Result<Vec<MemberRef>, AppError> {
        let refs = self.core.stores.directory.group_member_refs(org.id(), role).await?;
        Ok(refs
            .into_iter()
            .map(|(id, email)| MemberRef {
                value: id.to_string(),
                display: email.as_str().to_owned(),
            })
            .collect())
    }

    fn org_group(org: &Organization, members: Members) -> GroupResource {
        let st = org.state();
        GroupResource {
            id: org.id().to_string(),
            external_id: None,
            display_name: st.name.as_str().to_owned(),
            members: members.unwrap_or_default(),
            created: st.created_at,
            last_modified: st.updated_at,
            version: st.version,
        }
    }

    fn role_group(role: &CustomRole, data: &DirectoryGroup, members: Members) -> GroupResource {
        let r = role.record();
        GroupResource {
            id: r.id.to_string(),
            external_id: data.record().external_id.clone(),
            display_name: r.name.as_str().to_owned(),
            members: members.unwrap_or_default(),
            created: r.created_at,
            last_modified: r.updated_at,
            version: r.version + data.record().version,
        }
    }

    async fn group_data(
        &self,
        org: &Organization,
        roles: &[CustomRole],
    ) -> Result<HashMap<RoleId, DirectoryGroup>, AppError> {
        let ids: Vec<RoleId> = roles.iter().map(CustomRole::id).collect();
        let mut data: HashMap<RoleId, DirectoryGroup> = self
            .core
            .stores
            .directory
            .directory_groups(org.id(), &ids)
            .await?
            .into_iter()
            .map(|g| (g.record().role_id, g))
            .collect();
        for r in roles {
            data.entry(r.id()).or_insert_with(|| DirectoryGroup::new(r));
        }
        Ok(data)
    }

    /// The group an id names in `org`.
    async fn group(&self, org: &Organization, id: &str) -> Result<Option<Group>, AppError> {
        if id == org.id().to_string() {
            return Ok(Some(Group::Org));
        }
        let Some(role_id) = RoleId::parse(id) else {
            return Ok(None);
        };
        let roles = self.core.stores.roles.custom_roles(org.id()).await?;
        let Some(role) = roles.into_iter().find(|r| r.id() == role_id) else {
            return Ok(None);
        };
        let mut data = self.group_data(org, std::slice::from_ref(&role)).await?;
        let group = data.remove(&role.id()).unwrap_or_else(|| DirectoryGroup::new(&role));
        Ok(Some(Group::Role(role, group)))
    }

    async fn render(&self, org: &Organization, group: &Group, with_members: bool) -> Result<GroupResource, AppError> {
        Ok(match group {
            Group::Org => {
                let members = if with_members {
                    Some(self.member_refs(org, None).await?)
                } else {
                    None
                };
                Self::org_group(org, members)
            }
            Group::Role(role, data) => {
                let members = if with_members {
                    Some(self.member_refs(org, Some(role.as_role())).await?)
                } else {
                    None
                };
                Self::role_group(role, data, members)
            }
        })
    }

    /// `GET /Groups` (§10.4): the org group first, then role groups by creation. Members are
    /// read only when `with_members` (or when the filter needs them).
    pub async fn list_groups(
        &self,
        caller: &DirectoryCaller,
        filter: Option<&Filter>,
        params: ListParams,
        with_members: bool,
    ) -> Result<GroupList, AppError> {
        self.read_scope(caller)?.require(Capability::OrgMembersManage)?;
        let org = &caller.org;
        if let Some(f) = filter {
            f.check(ResourceKind::Group).map_err(scim)?;
        }
        let roles = self.core.stores.roles.custom_roles(org.id()).await?;
        let mut data = self.group_data(org, &roles).await?;
        let mut groups = vec![Group::Org];
        for r in roles {
            let d = data.remove(&r.id()).unwrap_or_else(|| DirectoryGroup::new(&r));
            groups.push(Group::Role(r, d));
        }
        // A `members.value eq "<id>"` filter reads one membership, not every group's members.
        let member_filter = filter.and_then(|f| match f.equality() {
            Some((AttrKey::MemberValue, v)) => Some(v.to_owned()),
            _ => None,
        });
        let skip = params.start_index.saturating_sub(1);
        let mut total = 0;
        let mut out = Vec::new();
        let holder = match &member_filter {
            Some(v) => match UserId::parse(v) {
                Some(u) => self.core.stores.members.membership(org.id(), u).await?,
                None => None,
            },
            None => None,
        };
        for g in &groups {
            let matched = match (&member_filter, filter) {
                (Some(_), _) => holder.as_ref().is_some_and(|m| {
                    m.is_active()
                        && match g {
                            Group::Org => true,
                            Group::Role(r, _) => *m.role() == r.as_role(),
                        }
                }),
                (None, Some(f)) => f.matches(&render_group(&self.render(org, g, true).await?, "")),
                (None, None) => true,
            };
            if matched {
                total += 1;
                if total > skip && (out.len() as u64) < params.count {
                    out.push(self.render(org, g, with_members).await?);
                }
            }
        }
        Ok(super::Listed {
            total,
            start_index: params.start_index,
            resources: out,
        })
    }

    /// `GET /Groups/:id`.
    pub async fn get_group(
        &self,
        caller: &DirectoryCaller,
        id: &str,
        with_members: bool,
    ) -> Result<GroupResource, AppError> {
        self.read_scope(caller)?.require(Capability::OrgMembersManage)?;
        let org = &caller.org;
        let group = self.group(org, id).await?.ok_or_else(AppError::not_found)?;
        self.render(org, &group, with_members).await
    }

    /// `POST /Groups` (§10.4): a custom role with no capabilities, and its members.
    pub async fn create_group(
        &self,
        caller: &DirectoryCaller,
        meta: &RequestMeta,
        body: &serde_json::Value,
    ) -> Result<GroupResource, AppError> {
        let input = GroupInput::parse(body, None).map_err(scim)?;
        let input = &input;
        let core = &self.core;
        let (role, data) = self
            .mutate(caller, meta, |mut s| async move {
                let existing = RoleBook::new(core.stores.roles.custom_roles(s.org.id()).await?);
                let id = RoleId::from_uuid(core.new_uuid());
                let folded = deunicode::deunicode(&input.display_name);
                let (role, outcome) =
                    s.access
                        .create_role_group(&existing, id, &input.display_name, &folded, s.now())?;
                let mut data = DirectoryGroup::new(&role);
                data.set_external_id(input.external_id.as_deref())?;
                let mut c = s.record(&outcome.principal, &outcome.events);
                c.roles.push(role.clone());
                c.directory_groups.push(data.clone());
                let mut work = Work::new(RoleBook::new(vec![role.clone()]));
                work.preload(self, s.org.id(), input.members.iter().map(String::as_str))
                    .await?;
                for uid in &input.members {
                    work.join(self, &s, uid, &role).await?;
                }
                work.finish(&mut s, &mut c);
                Ok(Decision::new(c, (role.with_version(1), data.with_version(1))))
            })
            .await?;
        self.written_group(caller, &role, &data, true).await
    }

    /// A role group as a write left it; its members (read after the commit, outside the
    /// write's transaction) when `with_members`.
    async fn written_group(
        &self,
        caller: &DirectoryCaller,
        role: &CustomRole,
        data: &DirectoryGroup,
        with_members: bool,
    ) -> Result<GroupResource, AppError> {
        let members = if with_members {
            Some(self.member_refs(&caller.org, Some(role.as_role())).await?)
        } else {
            None
        };
        Ok(Self::role_group(role, data, members))
    }

    /// The role group a write names: unknown → 404 and the org group → 403, each after the
    /// capability check (§1.5).
    async fn writable_group(&self, s: &DirectoryScope<'_>, id: &str) -> Result<(CustomRole, DirectoryGroup), AppError> {
        match self.group(&s.org, id).await? {
            Some(Group::Role(role, data)) => Ok((role, data)),
            other => {
                s.access.require(Capability::OrgMembersManage)?;
                Err(match other {
                    Some(_) => scim(ScimError::forbidden("the organization's group is read-only")),
                    None => AppError::not_found(),
                })
            }
        }
    }

    /// `PATCH /Groups/:id` (§10.4).
    pub async fn patch_group(
        &self,
        caller: &DirectoryCaller,
        meta: &RequestMeta,
        id: &str,
        patch: &PatchRequest,
        if_match: Option<&str>,
        with_members: bool,
    ) -> Result<GroupResource, AppError> {
        let changes = crate::scim::group_changes(patch).map_err(scim)?;
        self.write_group(caller, meta, id, if_match, changes, with_members)
            .await
    }

    /// `PUT /Groups/:id` (§10.4): name, `externalId` and the member set.
    pub async fn replace_group(
        &self,
        caller: &DirectoryCaller,
        meta: &RequestMeta,
        id: &str,
        body: &serde_json::Value,
        if_match: Option<&str>,
        with_members: bool,
    ) -> Result<GroupResource, AppError> {
        let input = GroupInput::parse(body, Some(id)).map_err(scim)?;
        let changes = vec![
            GroupChange::DisplayName(input.display_name),
            GroupChange::ExternalId(input.external_id),
            GroupChange::ReplaceMembers(input.members),
        ];
        self.write_group(caller, meta, id, if_match, changes, with_members)
            .await
    }

    /// The shared path of PATCH and PUT; the answer lists the members when `with_members`
    /// (reading them costs the size of the group).
    async fn write_group(
        &self,
        caller: &DirectoryCaller,
        meta: &RequestMeta,
        id: &str,
        if_match: Option<&str>,
        changes: Vec<GroupChange>,
        with_members: bool,
    ) -> Result<GroupResource, AppError> {
        let core = &self.core;
        let changes = &changes;
        let (role, data) = self
            .mutate(caller, meta, |mut s| async move {
                let (role, mut data) = self.writable_group(&s, id).await?;
                let before = Self::role_group(&role, &data, None).version;
                super::check_if_match(if_match, before)?;
                let mut c = Changeset::default();
                let mut role_now = role.clone();
                let mut role_written = false;
                let mut data_written = false;
                let mut work = Work::new(RoleBook::new(vec![role.clone()]));
                let named = changes.iter().flat_map(|c| match c {
                    GroupChange::AddMembers(ids)
                    | GroupChange::RemoveMembers(ids)
                    | GroupChange::ReplaceMembers(ids) => ids.as_slice(),
                    GroupChange::DisplayName(_) | GroupChange::ExternalId(_) => &[],
                });
                work.preload(self, s.org.id(), named.map(String::as_str)).await?;
                for change in changes {
                    match change {
                        GroupChange::AddMembers(ids) => {
                            for uid in ids {
                                work.join(self, &s, uid, &role).await?;
                            }
                        }
                        GroupChange::RemoveMembers(ids) => {
                            for uid in ids {
                                work.leave(self, &s, uid, &role).await?;
                            }
                        }
                        GroupChange::ReplaceMembers(ids) => {
                            let holders = self.members_where(&s.org, Some(role.as_role()), None).await?;
                            work.know_rows(&holders);
                            for h in holders {
                                let uid = h.user.id().to_string();
                                if !ids.contains(&uid) {
                                    work.leave(self, &s, &uid, &role).await?;
                                }
                            }
                            for uid in ids {
                                work.join(self, &s, uid, &role).await?;
                            }
                        }
                        GroupChange::DisplayName(name) => {
                            let existing = RoleBook::new(core.stores.roles.custom_roles(s.org.id()).await?);
                            let (renamed, outcome) = s.access.rename_role_group(&existing, &role_now, name, s.now())?;
                            if !outcome.events.is_empty() {
                                s.rec
                                    .record(&mut c, Some(s.org.id()), Some(&outcome.principal), &outcome.events);
                                role_now = renamed;
                                role_written = true;
                            }
                        }
                        GroupChange::ExternalId(ext) => {
                            s.access.require(Capability::OrgMembersManage)?;
                            data_written |= data.set_external_id(ext.as_deref())?;
                        }
                    }
                }
                // The group's version moves with its members, so its ETag does.
                data_written |= !work.changed.is_empty();
                work.finish(&mut s, &mut c);
                if role_written {
                    c.roles.push(role_now.clone());
                    let v = role_now.record().version + 1;
                    role_now = role_now.with_version(v);
                }
                if data_written {
                    c.directory_groups.push(data.clone());
                    let v = data.record().version + 1;
                    data = data.with_version(v);
                }
                Ok(Decision::new(c, (role_now, data)))
            })
            .await?;
        self.written_group(caller, &role, &data, with_members).await
    }

    /// `DELETE /Groups/:id` (§10.4): holders fall back to `member`, then the role goes.
    pub async fn delete_group(
        &self,
        caller: &DirectoryCaller,
        meta: &RequestMeta,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), AppError> {
        self.mutate(caller, meta, |mut s| async move {
            let (role, data) = self.writable_group(&s, id).await?;
            super::check_if_match(if_match, Self::role_group(&role, &data, None).version)?;
            let mut c = Changeset::default();
            let mut work = Work::new(RoleBook::new(vec![role.clone()]));
            for h in self.members_where(&s.org, Some(role.as_role()), None).await? {
                work.leave(self, &s, &h.user.id().to_string(), &role).await?;
            }
            work.finish(&mut s, &mut c);
            let outcome = s.access.delete_role_group(&role)?;
            s.rec
                .record(&mut c, Some(s.org.id()), Some(&outcome.principal), &outcome.events);
            c.removed_roles.push(role);
            Ok(Decision::new(c, ()))
        })
        .await
    }
}

/// The memberships one group write changes: each loaded once, decided in order, written once.
#[derive(Default)]
struct Work {
    book: RoleBook,
    members: HashMap<UserId, Membership>,
    changed: Vec<UserId>,
    events: Vec<(Principal, Vec<org_domain::DomainEvent>)>,
    users: Vec<org_domain::User>,
}

impl Work {
    fn new(book: RoleBook) -> Self {
        Self {
            book,
            ..Self::default()
        }
    }

    /// The membership of the user a member value names: a user without a membership in the
    /// org is 400 `invalidValue` (§10.4).
    /// Reads the memberships, users and custom roles of the members `values` name, in three
    /// statements, so that [`Self::load`] finds them; values that name no member are left for
    /// `load` to refuse.
    async fn preload<'v>(
        &mut self,
        svc: &DirectoryService,
        org: OrgId,
        values: impl Iterator<Item = &'v str>,
    ) -> Result<(), AppError> {
        let mut ids: Vec<UserId> = values
            .filter_map(UserId::parse)
            .filter(|u| !self.members.contains_key(u))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let stores = &svc.core.stores;
        let memberships = stores.members.memberships_of(org, &ids).await?;
        let found: Vec<UserId> = memberships.iter().map(Membership::user_id).collect();
        let mut slugs: Vec<org_domain::RoleSlug> = memberships
            .iter()
            .filter_map(|m| match m.role() {
                Role::Custom(slug) if self.book.get(slug).is_none() => Some(slug.clone()),
                _ => None,
            })
            .collect();
        slugs.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        slugs.dedup();
        if !slugs.is_empty() {
            let mut roles = self.book.roles().to_vec();
            roles.extend(stores.roles.custom_roles_named(org, &slugs).await?);
            self.book = RoleBook::new(roles);
        }
        self.users.extend(stores.users.users_by_ids(&found).await?);
        for m in memberships {
            self.members.insert(m.user_id(), m);
        }
        Ok(())
    }

    /// Keeps member rows already read (the holders of a role), for [`Self::load`].
    fn know_rows(&mut self, rows: &[org_ports::MemberRow]) {
        for r in rows {
            if !self.members.contains_key(&r.user.id()) {
                self.users.push(r.user.clone());
                self.members.insert(r.user.id(), r.membership.clone());
            }
        }
    }

    async fn load(&mut self, svc: &DirectoryService, org: OrgId, value: &str) -> Result<UserId, AppError> {
        let invalid = || {
            scim(ScimError::invalid_value(format!(
                "'{value}' is not a member of this organization"
            )))
        };
        let uid = UserId::parse(value).ok_or_else(invalid)?;
        if !self.members.contains_key(&uid) {
            let stores = &svc.core.stores;
            let m = stores.members.membership(org, uid).await?.ok_or_else(invalid)?;
            if let Role::Custom(slug) = m.role()
                && self.book.get(slug).is_none()
                && let Some(r) = stores
                    .roles
                    .custom_roles_named(org, std::slice::from_ref(slug))
                    .await?
                    .pop()
            {
                let mut roles = self.book.roles().to_vec();
                roles.push(r);
                self.book = RoleBook::new(roles);
            }
            self.users.extend(stores.users.user_by_id(uid).await?);
            self.members.insert(uid, m);
        }
        Ok(uid)
    }

    /// Gives `role` to the member named by `value` (`join`), or takes it back.
    async fn change(
        &mut self,
        svc: &DirectoryService,
        s: &DirectoryScope<'_>,
        value: &str,
        role: &CustomRole,
        join: bool,
    ) -> Result<(), AppError> {
        let uid = self.load(svc, s.org.id(), value).await?;
        let member = self.members.get_mut(&uid);
        let outcome = if join {
            s.access.join_role_group(member, role, &self.book, s.now())?
        } else {
            s.access.leave_role_group(member, role, &self.book, s.now())?
        };
        self.note(uid, outcome);
        Ok(())
    }

    async fn join(
        &mut self,
        svc: &DirectoryService,
        s: &DirectoryScope<'_>,
        value: &str,
        role: &CustomRole,
    ) -> Result<(), AppError> {
        self.change(svc, s, value, role, true).await
    }

    async fn leave(
        &mut self,
        svc: &DirectoryService,
        s: &DirectoryScope<'_>,
        value: &str,
        role: &CustomRole,
    ) -> Result<(), AppError> {
        self.change(svc, s, value, role, false).await
    }

    fn note(&mut self, uid: UserId, outcome: org_domain::Outcome) {
        if !outcome.events.is_empty() {
            if !self.changed.contains(&uid) {
                self.changed.push(uid);
            }
            self.events.push((outcome.principal, outcome.events));
        }
    }

    /// Records every decision and writes the memberships that changed into `c`.
    fn finish(self, s: &mut DirectoryScope<'_>, c: &mut Changeset) {
        for u in &self.users {
            s.rec.know(u);
        }
        let org = s.org.id();
        for (principal, events) in &self.events {
            s.rec.record(c, Some(org), Some(principal), events);
        }
        for uid in self.changed {
            if let Some(m) = self.members.get(&uid) {
                c.memberships.push(m.clone());
            }
        }
    }
}
