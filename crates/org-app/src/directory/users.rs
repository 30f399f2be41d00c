//! SCIM Users (§10.3): a User is a membership of the token's org with its user and the
//! profile the directory wrote. Lookups by `id`, `userName`, `externalId` and e-mail are index
//! seeks; other filters scan the org's members page by page.

use std::collections::HashMap;

use org_domain::directory::{DirectoryFields, DirectoryProfile, Taken, user_name_key};
use org_domain::{
    Capability, CustomRole, DomainError, Email, Membership, MembershipId, Organization, Role, User, UserId, UserVia,
};
use org_ports::{Changeset, MemberQuery, MemberRow};
use serde_json::Value;

use super::{DirectoryCaller, DirectoryService};
use crate::AppError;
use crate::core::Decision;
use crate::record::RequestMeta;
use crate::scim::{
    AttrKey, Filter, GroupRef, ListParams, NameInput, PatchRequest, ResourceKind, ScimError, UserInput, UserResource,
    apply_user_patch, render_user,
};

/// A page of Users and the number of matches.
pub type UserList = super::Listed<UserResource>;

/// One member as a directory sees it, before rendering.
struct Entry {
    membership: Membership,
    user: User,
    profile: DirectoryProfile,
    role: Option<CustomRole>,
}

impl Entry {
    fn resource(&self, org: &Organization) -> UserResource {
        let r = self.profile.record();
        let mut groups = Vec::new();
        if self.membership.is_active() {
            groups.push(GroupRef {
                value: org.id().to_string(),
                display: org.state().name.as_str().to_owned(),
            });
        }
        if let Some(role) = &self.role {
            groups.push(GroupRef {
                value: role.id().to_string(),
                display: role.record().name.as_str().to_owned(),
            });
        }
        let m = self.membership.record();
        UserResource {
            id: self.user.id().to_string(),
            external_id: r.external_id.clone(),
            user_name: r.user_name.clone(),
            name: NameInput {
                formatted: r.formatted_name.clone(),
                given_name: r.given_name.clone(),
                family_name: r.family_name.clone(),
            },
            display_name: r.display_name.clone(),
            email: r.email.as_str().to_owned(),
            active: self.membership.is_active(),
            groups,
            created: m.created_at,
            last_modified: m.updated_at.max(r.updated_at),
            version: version(&self.membership, &self.profile),
        }
    }
}

/// The version a User resource shows: it moves with every write of the membership or profile.
fn version(m: &Membership, p: &DirectoryProfile) -> u64 {
    m.record().version + p.record().version
}

fn scim(e: ScimError) -> AppError {
    AppError::Scim(e)
}

/// The directory attributes of a body: `emails` absent keeps `keep_email` (PUT), else the
/// primary e-mail; it must be a valid address.
fn fields_of(input: &UserInput, keep_email: Option<&Email>) -> Result<DirectoryFields, AppError> {
    let user_name = input
        .user_name
        .as_deref()
        .ok_or_else(|| scim(ScimError::invalid_value("'userName' is required")))?;
    let email = match (&input.emails, keep_email) {
        (None, Some(keep)) => keep.as_str().to_owned(),
        _ => input
            .primary_email()
            .ok_or_else(|| {
                scim(ScimError::invalid_value(
                    "a valid e-mail is required in 'emails' or 'userName'",
                ))
            })?
            .to_owned(),
    };
    DirectoryFields::parse(
        input.external_id.as_deref(),
        user_name,
        input.name.formatted.as_deref(),
        input.name.given_name.as_deref(),
        input.name.family_name.as_deref(),
        input.display_name.as_deref(),
        &email,
    )
    .map_err(|e| match e {
        DomainError::Validation(errors) => scim(ScimError::invalid_value(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        )),
        other => AppError::Domain(other),
    })
}

impl DirectoryService {
    /// The profiles and custom roles of `rows`, as entries.
    async fn entries(&self, org: &Organization, rows: Vec<MemberRow>) -> Result<Vec<Entry>, AppError> {
        let ids: Vec<MembershipId> = rows.iter().map(|r| r.membership.id()).collect();
        let mut profiles: HashMap<MembershipId, DirectoryProfile> = self
            .core
            .stores
            .directory
            .profiles(org.id(), &ids)
            .await?
            .into_iter()
            .map(|p| (p.membership_id(), p))
            .collect();
        let roles: Vec<&Role> = rows.iter().map(|r| r.membership.role()).collect();
        let book = self.core.roles_named(org.id(), &roles).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let profile = profiles
                    .remove(&row.membership.id())
                    .unwrap_or_else(|| DirectoryProfile::default_for(&row.membership, &row.user));
                let role = match row.membership.role() {
                    Role::Custom(slug) => book.get(slug).cloned(),
                    _ => None,
                };
                Entry {
                    membership: row.membership,
                    user: row.user,
                    profile,
                    role,
                }
            })
            .collect())
    }

    /// The member with this user id, as an entry.
    async fn entry(&self, org: &Organization, user: UserId) -> Result<Option<Entry>, AppError> {
        let stores = &self.core.stores;
        let Some(membership) = stores.members.membership(org.id(), user).await? else {
            return Ok(None);
        };
        let Some(user) = stores.users.user_by_id(user).await? else {
            return Ok(None);
        };
        Ok(self.entries(org, vec![MemberRow { membership, user }]).await?.pop())
    }

    async fn entry_by_id(&self, org: &Organization, id: &str) -> Result<Option<Entry>, AppError> {
        match UserId::parse(id) {
            Some(user) => self.entry(org, user).await,
            None => Ok(None),
        }
    }

    /// The members a user-name lookup finds: the profile with that key, and a member no
    /// directory wrote whose login e-mail is the name.
    async fn by_user_name(&self, org: &Organization, name: &str) -> Result<Vec<Entry>, AppError> {
        let d = &self.core.stores.directory;
        let mut found = Vec::new();
        if let Some(p) = d.profile_by_user_name(org.id(), &user_name_key(name)).await? {
            found.extend(self.entry(org, p.record().user_id).await?);
        }
        if let Some(e) = self.by_login_email(org, name).await? {
            found.push(e);
        }
        Ok(found)
    }

    /// The member whose login e-mail is `text` and that has no stored profile.
    async fn by_login_email(&self, org: &Organization, text: &str) -> Result<Option<Entry>, AppError> {
        let Ok(email) = Email::parse(text) else {
            return Ok(None);
        };
        let Some(user) = self.core.stores.users.user_by_email(&email).await? else {
            return Ok(None);
        };
        Ok(self
            .entry(org, user.id())
            .await?
            .filter(|e| e.profile.record().version == 0))
    }

    /// The candidates of an indexed filter, or `None` when the filter needs a scan.
    async fn candidates(&self, org: &Organization, filter: &Filter) -> Result<Option<Vec<Entry>>, AppError> {
        let d = &self.core.stores.directory;
        let Some((key, value)) = filter.equality() else {
            return Ok(None);
        };
        let found = match key {
            AttrKey::Id => self.entry_by_id(org, value).await?.into_iter().collect(),
            AttrKey::UserName => self.by_user_name(org, value).await?,
            AttrKey::ExternalId => {
                let mut out = Vec::new();
                for p in d.profiles_by_external_id(org.id(), value).await? {
                    out.extend(self.entry(org, p.record().user_id).await?);
                }
                out
            }
            AttrKey::EmailValue => {
                let mut out = Vec::new();
                if let Ok(email) = Email::parse(value) {
                    for p in d.profiles_by_email(org.id(), &email).await? {
                        out.extend(self.entry(org, p.record().user_id).await?);
                    }
                }
                out.extend(self.by_login_email(org, value).await?);
                out
            }
            AttrKey::DisplayName | AttrKey::MemberValue => return Ok(None),
        };
        Ok(Some(found))
    }

    /// `GET /Users` (§10.3): members of the org (deactivated ones included), in creation
    /// order; `totalResults` is the kept member count when no filter is given.
    pub async fn list_users(
        &self,
        caller: &DirectoryCaller,
        filter: Option<&Filter>,
        params: ListParams,
    ) -> Result<UserList, AppError> {
        self.read_scope(caller)?.require(Capability::OrgMembersManage)?;
        let org = &caller.org;
        let skip = params.start_index.saturating_sub(1);
        let Some(filter) = filter else {
            let rows = if params.count == 0 {
                Vec::new()
            } else {
                let query = MemberQuery {
                    offset: skip,
                    limit: u32::try_from(params.count).unwrap_or(u32::MAX),
                    ..MemberQuery::default()
                };
                self.core.stores.members.member_page(org.id(), &query).await?
            };
            let entries = self.entries(org, rows).await?;
            return Ok(super::Listed {
                total: u64::from(org.state().headcount.total),
                start_index: params.start_index,
                resources: entries.iter().map(|e| e.resource(org)).collect(),
            });
        };
        filter.check(ResourceKind::User).map_err(scim)?;
        let mut matched: Vec<UserResource> = Vec::new();
        let mut total: u64 = 0;
        let mut keep = |r: UserResource| {
            if filter.matches(&render_user(&r, "")) {
                total += 1;
                if total > skip && (matched.len() as u64) < params.count {
                    matched.push(r);
                }
            }
        };
        if let Some(found) = self.candidates(org, filter).await? {
            let mut seen = std::collections::HashSet::new();
            let mut found: Vec<Entry> = found.into_iter().filter(|e| seen.insert(e.membership.id())).collect();
            found.sort_by_key(|e| (e.membership.joined_at(), e.user.id()));
            for e in &found {
                keep(e.resource(org));
            }
        } else {
            let mut scan = super::MemberScan::new(self, org.id(), None, None);
            while let Some(rows) = scan.next().await? {
                for e in self.entries(org, rows).await? {
                    keep(e.resource(org));
                }
            }
        }
        Ok(super::Listed {
            total,
            start_index: params.start_index,
            resources: matched,
        })
    }

    /// `GET /Users/:id`.
    pub async fn get_user(&self, caller: &DirectoryCaller, id: &str) -> Result<UserResource, AppError> {
        self.read_scope(caller)?.require(Capability::OrgMembersManage)?;
        let org = &caller.org;
        Ok(self
            .entry_by_id(org, id)
            .await?
            .ok_or_else(AppError::not_found)?
            .resource(org))
    }

    /// Whether another member of the org holds this `userName` (`except` is the member being
    /// written).
    async fn user_name_taken(&self, org: &Organization, name: &str, except: Option<UserId>) -> Result<bool, AppError> {
        let stores = &self.core.stores;
        let others = |u: UserId| Some(u) != except;
        let profile = stores
            .directory
            .profile_by_user_name(org.id(), &user_name_key(name))
            .await?;
        if profile.is_some_and(|p| others(p.record().user_id)) {
            return Ok(true);
        }
        // A member no directory wrote answers to its login e-mail.
        let Ok(email) = Email::parse(name) else {
            return Ok(false);
        };
        let Some(user) = stores.users.user_by_email(&email).await?.filter(|u| others(u.id())) else {
            return Ok(false);
        };
        let Some(m) = stores.members.membership(org.id(), user.id()).await? else {
            return Ok(false);
        };
        Ok(stores.directory.profiles(org.id(), &[m.id()]).await?.is_empty())
    }

    /// `POST /Users` (§10.3): the user is found by e-mail or created; the membership is a
    /// `member`, active unless the body says otherwise.
    pub async fn create_user(
        &self,
        caller: &DirectoryCaller,
        meta: &RequestMeta,
        body: &Value,
    ) -> Result<UserResource, AppError> {
        let input = UserInput::parse(body, None).map_err(scim)?;
        let input = &input;
        let core = &self.core;
        self.mutate(caller, meta, |mut s| async move {
            let fields = fields_of(input, None)?;
            let mut c = Changeset::default();
            let user = match core.stores.users.user_by_email(&fields.email).await? {
                Some(u) => u,
                None => {
                    let (user, created) = User::create(
                        UserId::from_uuid(core.new_uuid()),
                        fields.email.clone(),
                        input.display_name.clone(),
                        false,
                        UserVia::Scim,
                        s.now(),
                    );
                    s.rec.record(&mut c, None, None, &[created]);
                    c.users.push(user.clone());
                    user
                }
            };
            s.rec.know(&user);
            let existing = core.stores.members.membership(s.org.id(), user.id()).await?;
            let taken = Taken {
                user_name: self.user_name_taken(&s.org, &fields.user_name, Some(user.id())).await?,
                email: false,
            };
            let cap = core.member_cap(&s.org);
            let active = input.active.unwrap_or(true);
            let mid = MembershipId::from_uuid(core.new_uuid());
            let (membership, profile, outcome) = s.access.provision_member(
                &s.org,
                &user,
                existing.as_ref(),
                taken,
                mid,
                fields,
                active,
                cap,
                s.now(),
            )?;
            s.rec
                .record(&mut c, Some(s.org.id()), Some(&outcome.principal), &outcome.events);
            c.memberships.push(membership.clone());
            c.profiles.push(profile.clone());
            if active {
                c.member_cap = Some(cap);
            }
            let entry = Entry {
                membership: membership.with_version(1),
                user,
                profile: profile.with_version(1),
                role: None,
            };
            Ok(Decision::new(c, entry.resource(&s.org)))
        })
        .await
    }

    /// `PUT /Users/:id` (§10.3): every writable attribute is replaced; an absent `active`
    /// leaves the status, absent `emails` keep the e-mail. `if_match` is the `If-Match` version.
    pub async fn replace_user(
        &self,
        caller: &DirectoryCaller,
        meta: &RequestMeta,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<UserResource, AppError> {
        let input = UserInput::parse(body, Some(id)).map_err(scim)?;
        self.write_user(caller, meta, id, if_match, |_| Ok(input.clone())).await
    }

    /// `PATCH /Users/:id` (§10.3): the operations apply to the resource as it stands, all
    /// or none; the answer is the full resource.
    pub async fn patch_user(
        &self,
        caller: &DirectoryCaller,
        meta: &RequestMeta,
        id: &str,
        patch: &PatchRequest,
        if_match: Option<&str>,
    ) -> Result<UserResource, AppError> {
        self.write_user(caller, meta, id, if_match, |current| {
            let mut resource = render_user(current, "");
            apply_user_patch(&mut resource, patch).map_err(scim)?;
            UserInput::from_resource(&resource).map_err(scim)
        })
        .await
    }

    /// The shared path of PUT and PATCH: `input_of` turns the current resource into the new
    /// attributes.
    async fn write_user<F>(
        &self,
        caller: &DirectoryCaller,
        meta: &RequestMeta,
        id: &str,
        if_match: Option<&str>,
        input_of: F,
    ) -> Result<UserResource, AppError>
    where
        F: Fn(&UserResource) -> Result<UserInput, AppError>,
    {
        let core = &self.core;
        let input_of = &input_of;
        self.mutate(caller, meta, |mut s| async move {
            let Some(mut entry) = self.entry_by_id(&s.org, id).await? else {
                // The capability first, then the lookup (§1.5).
                s.access.require(Capability::OrgMembersManage)?;
                return Err(AppError::not_found());
            };
            let current = entry.resource(&s.org);
            super::check_if_match(if_match, current.version)?;
            let input = input_of(&current)?;
            let fields = fields_of(&input, Some(entry.profile.email()))?;
            let user_id = entry.user.id();
            let taken = Taken {
                user_name: self.user_name_taken(&s.org, &fields.user_name, Some(user_id)).await?,
                email: match core.stores.users.user_by_email(&fields.email).await? {
                    Some(other) => other.id() != user_id,
                    None => false,
                },
            };
            s.rec.know(&entry.user);
            let roles: Vec<CustomRole> = entry.role.iter().cloned().collect();
            let book = org_domain::RoleBook::new(roles);
            let cap = core.member_cap(&s.org);
            let before_status = entry.membership.status();
            let before_profile = entry.profile.clone();
            let outcome = s.access.update_directory_member(
                &s.org,
                Some(&mut entry.membership),
                &mut entry.profile,
                fields,
                input.active,
                taken,
                &book,
                cap,
                s.now(),
            )?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            if entry.membership.status() != before_status {
                if entry.membership.is_active() {
                    c.member_cap = Some(cap);
                }
                c.memberships.push(entry.membership.clone());
                let v = entry.membership.record().version + 1;
                entry.membership = entry.membership.with_version(v);
            }
            if entry.profile != before_profile {
                c.profiles.push(entry.profile.clone());
                let v = entry.profile.record().version + 1;
                entry.profile = entry.profile.with_version(v);
            }
            Ok(Decision::new(c, entry.resource(&s.org)))
        })
        .await
    }

    /// `DELETE /Users/:id` (§10.3): removes the membership exactly like §5.3.
    pub async fn delete_user(
        &self,
        caller: &DirectoryCaller,
        meta: &RequestMeta,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), AppError> {
        self.mutate(caller, meta, |mut s| async move {
            let entry = self.entry_by_id(&s.org, id).await?;
            if let Some(e) = &entry {
                super::check_if_match(if_match, version(&e.membership, &e.profile))?;
            }
            let roles: Vec<CustomRole> = entry.iter().flat_map(|e| e.role.clone()).collect();
            let book = org_domain::RoleBook::new(roles);
            if let Some(e) = &entry {
                s.rec.know(&e.user);
            }
            let outcome = s
                .access
                .deprovision_member(entry.as_ref().map(|e| &e.membership), &book)?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.removed_memberships.extend(entry.map(|e| e.membership));
            Ok(Decision::new(c, ()))
        })
        .await
    }
}
