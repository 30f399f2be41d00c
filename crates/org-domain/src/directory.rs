//! Directory sync (§10.3, §10.4): what a SCIM directory writes per membership (its profile),
//! the extra data of role groups, and the decisions a directory principal takes. A directory
//! acts with its token's capabilities under the grant and target rules (§3.5), never assigns
//! `owner` or `admin`, and never acts on an owner or admin beyond their profile.

use chrono::{DateTime, Utc};

use crate::access::{Access, Outcome, Principal};
use crate::capability::{Capability, CapabilitySet};
use crate::custom_role::{CustomRole, NewRole, RoleBook};
use crate::error::{DomainError, FieldError, Rule};
use crate::event::{Change, DomainEvent, JoinedVia};
use crate::ids::{MembershipId, OrgId, RoleId, UserId};
use crate::membership::{Membership, MembershipStatus};
use crate::organization::Organization;
use crate::role::Role;
use crate::session::RevokeReason;
use crate::user::User;
use crate::values::{Email, RoleName, RoleSlug};

/// Longest directory text value (`userName`, `externalId`, `displayName`, name parts).
pub const MAX_DIRECTORY_TEXT: usize = 255;

/// A membership's directory attributes, as stored (§10.3). A member no directory wrote has
/// none; [`DirectoryProfile::default_for`] gives what it shows then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryProfileRecord {
    pub membership_id: MembershipId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub external_id: Option<String>,
    pub user_name: String,
    pub formatted_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    /// The membership's directory e-mail (initially the user's login e-mail).
    pub email: Email,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for a profile not yet stored.
    pub version: u64,
}

/// The directory attributes of one membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryProfile(DirectoryProfileRecord);

/// The writable directory attributes of a user, parsed (§10.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryFields {
    pub external_id: Option<String>,
    pub user_name: String,
    pub formatted_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Email,
}

/// Uniqueness facts the caller looked up for a directory write: whether another member of the
/// org holds the `userName`, whether another user's login e-mail is the e-mail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Taken {
    pub user_name: bool,
    pub email: bool,
}

/// The key a `userName` is unique under in an org: case-insensitive.
pub fn user_name_key(user_name: &str) -> String {
    user_name.to_lowercase()
}

fn text(field: &'static str, value: Option<&str>) -> Result<Option<String>, FieldError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if v.chars().count() > MAX_DIRECTORY_TEXT || v.chars().any(char::is_control) => Err(FieldError::new(
            field,
            format!("must be at most {MAX_DIRECTORY_TEXT} characters without control characters"),
        )),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

impl DirectoryFields {
    /// Parses the writable attributes: `userName` is required (1–255 characters), `email`
    /// must be a valid e-mail address; other texts are trimmed, empty means absent.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        external_id: Option<&str>,
        user_name: &str,
        formatted_name: Option<&str>,
        given_name: Option<&str>,
        family_name: Option<&str>,
        display_name: Option<&str>,
        email: &str,
    ) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let mut field = |r: Result<Option<String>, FieldError>| r.map_err(|e| errors.push(e)).ok().flatten();
        let external_id = field(text("externalId", external_id));
        let user_name = field(text("userName", Some(user_name)));
        let formatted_name = field(text("name.formatted", formatted_name));
        let given_name = field(text("name.givenName", given_name));
        let family_name = field(text("name.familyName", family_name));
        let display_name = field(text("displayName", display_name));
        let email = Email::parse(email).map_err(|e| errors.push(e.at("emails"))).ok();
        let user_name = match user_name {
            Some(u) => Some(u),
            None if errors.is_empty() => {
                errors.push(FieldError::new("userName", "is required"));
                None
            }
            None => None,
        };
        match (user_name, email) {
            (Some(user_name), Some(email)) if errors.is_empty() => Ok(Self {
                external_id,
                user_name,
                formatted_name,
                given_name,
                family_name,
                display_name,
                email,
            }),
            _ => Err(DomainError::Validation(errors)),
        }
    }
}

impl DirectoryProfile {
    /// Rebuilds a profile from storage.
    pub fn restore(record: DirectoryProfileRecord) -> Self {
        Self(record)
    }
    /// What a member no directory wrote shows (§10.3): `userName` and e-mail are the user's
    /// login e-mail, nothing else is set. Version 0: not stored.
    pub fn default_for(membership: &Membership, user: &User) -> Self {
        Self(DirectoryProfileRecord {
            membership_id: membership.id(),
            org_id: membership.org_id(),
            user_id: membership.user_id(),
            external_id: None,
            user_name: user.email().as_str().to_owned(),
            formatted_name: None,
            given_name: None,
            family_name: None,
            display_name: None,
            email: user.email().clone(),
            created_at: membership.joined_at(),
            updated_at: membership.record().updated_at,
            version: 0,
        })
    }
    /// The stored state.
    pub fn record(&self) -> &DirectoryProfileRecord {
        &self.0
    }
    /// The same profile as stored under another version.
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    pub fn membership_id(&self) -> MembershipId {
        self.0.membership_id
    }
    pub fn user_name(&self) -> &str {
        &self.0.user_name
    }
    /// The key `userName` is unique under.
    pub fn user_name_key(&self) -> String {
        user_name_key(&self.0.user_name)
    }
    pub fn email(&self) -> &Email {
        &self.0.email
    }

    fn fields(&self) -> DirectoryFields {
        let r = &self.0;
        DirectoryFields {
            external_id: r.external_id.clone(),
            user_name: r.user_name.clone(),
            formatted_name: r.formatted_name.clone(),
            given_name: r.given_name.clone(),
            family_name: r.family_name.clone(),
            display_name: r.display_name.clone(),
            email: r.email.clone(),
        }
    }

    /// Writes `new`, returning the changes (`member.updated` `changes`).
    fn apply(&mut self, new: DirectoryFields, now: DateTime<Utc>) -> Vec<Change> {
        let old = self.fields();
        let text = |v: &str| Some(v.to_owned());
        let changes: Vec<Change> = [
            Change::of("externalId", old.external_id, new.external_id.clone()),
            Change::of("userName", text(&old.user_name), text(&new.user_name)),
            Change::of("name.formatted", old.formatted_name, new.formatted_name.clone()),
            Change::of("name.givenName", old.given_name, new.given_name.clone()),
            Change::of("name.familyName", old.family_name, new.family_name.clone()),
            Change::of("displayName", old.display_name, new.display_name.clone()),
            Change::of("email", text(old.email.as_str()), text(new.email.as_str())),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !changes.is_empty() {
            let r = &mut self.0;
            r.external_id = new.external_id;
            r.user_name = new.user_name;
            r.formatted_name = new.formatted_name;
            r.given_name = new.given_name;
            r.family_name = new.family_name;
            r.display_name = new.display_name;
            r.email = new.email;
            r.updated_at = now;
        }
        changes
    }
}

/// The directory data of a role group (§10.4): the identity provider's `externalId`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryGroupRecord {
    pub role_id: RoleId,
    pub org_id: OrgId,
    pub external_id: Option<String>,
    /// Optimistic-concurrency version as loaded; 0 for a group not yet stored.
    pub version: u64,
}

/// A role group's directory data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryGroup(DirectoryGroupRecord);

impl DirectoryGroup {
    /// Rebuilds a group's data from storage.
    pub fn restore(record: DirectoryGroupRecord) -> Self {
        Self(record)
    }
    /// A role group with no directory data yet.
    pub fn new(role: &CustomRole) -> Self {
        Self(DirectoryGroupRecord {
            role_id: role.id(),
            org_id: role.org_id(),
            external_id: None,
            version: 0,
        })
    }
    /// The stored state.
    pub fn record(&self) -> &DirectoryGroupRecord {
        &self.0
    }
    /// The same data as stored under another version.
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
    /// Sets the `externalId`; whether it changed.
    pub fn set_external_id(&mut self, external_id: Option<&str>) -> Result<bool, DomainError> {
        let new = text("externalId", external_id)?;
        let changed = new != self.0.external_id;
        self.0.external_id = new;
        Ok(changed)
    }
}

/// The slug of a role group from its `displayName` (§10.4). `folded` is the name folded to
/// ASCII; `taken` says whether a slug is in use. Lower-case, runs of other characters become
/// one `-`, trimmed of `-`, at most 50; empty → `group`; too short, built-in or taken → the
/// first free `base-2`, `base-3`, … within 50 characters.
pub fn group_slug(folded: &str, taken: impl Fn(&str) -> bool) -> RoleSlug {
    let mut base = String::new();
    for c in folded.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if !(c == '-' && base.ends_with('-')) {
            base.push(c);
        }
    }
    let mut base: String = base.trim_matches('-').chars().take(50).collect();
    base.truncate(base.trim_end_matches('-').len());
    if base.is_empty() {
        base = "group".to_owned();
    }
    if let Ok(slug) = RoleSlug::parse(&base)
        && !taken(&base)
    {
        return slug;
    }
    let mut n: u32 = 2;
    loop {
        let suffix = format!("-{n}");
        let keep = 50 - suffix.len();
        let stem: String = base.chars().take(keep).collect();
        let candidate = format!("{}{suffix}", stem.trim_end_matches('-'));
        if let Ok(slug) = RoleSlug::parse(&candidate)
            && !taken(&candidate)
        {
            return slug;
        }
        n += 1;
    }
}

fn privileged(target: &Membership) -> Option<Rule> {
    match target.role() {
        Role::Owner => Some(Rule::TargetIsOwner),
        Role::Admin => Some(Rule::TargetIsAdmin),
        _ => None,
    }
}

impl Access {
    /// A directory write on a member (§1.5 step 4 and the gate), then the member itself.
    fn directory_target<'m>(&self, target: Option<&'m mut Membership>) -> Result<&'m mut Membership, DomainError> {
        self.require_mutable(Capability::OrgMembersManage)?;
        target
            .filter(|m| m.org_id() == self.org_id())
            .ok_or(DomainError::NotFound)
    }

    /// The target rule for a directory write: owners and admins are out of reach, anyone else
    /// within the token's capabilities (§3.5).
    fn directory_reach(&self, target: &Membership, roles: &RoleBook) -> Result<Principal, DomainError> {
        self.authorize(|p| {
            p.need(Capability::OrgMembersManage)?;
            if let Some(rule) = privileged(target) {
                return Err(DomainError::RuleViolation(rule));
            }
            Access::check_target(p, target, roles)
        })
    }

    /// Provisions a user (SCIM `POST /Users`, §10.3): a `member`, active unless `active` is
    /// false (the member cap applies to active members), with the directory's profile.
    #[allow(clippy::too_many_arguments)]
    pub fn provision_member(
        &self,
        org: &Organization,
        user: &User,
        existing: Option<&Membership>,
        taken: Taken,
        membership_id: MembershipId,
        fields: DirectoryFields,
        active: bool,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<(Membership, DirectoryProfile, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::OrgMembersManage)?;
        if existing.is_some() {
            return Err(DomainError::AlreadyMember);
        }
        if taken.user_name {
            return Err(DomainError::DuplicateUserName);
        }
        if active {
            org.require_room(cap)?;
        }
        let mut membership = Membership::new(membership_id, self.org_id(), user.id(), Role::Member, now);
        if !active {
            membership.set_status(MembershipStatus::Deactivated, now);
        }
        let profile = DirectoryProfile(DirectoryProfileRecord {
            membership_id,
            org_id: self.org_id(),
            user_id: user.id(),
            external_id: fields.external_id,
            user_name: fields.user_name,
            formatted_name: fields.formatted_name,
            given_name: fields.given_name,
            family_name: fields.family_name,
            display_name: fields.display_name,
            email: fields.email,
            created_at: now,
            updated_at: now,
            version: 0,
        });
        let events = vec![DomainEvent::MemberAdded {
            user_id: user.id(),
            role: Role::Member,
            via: JoinedVia::Scim,
        }];
        Ok((membership, profile, Outcome { principal, events }))
    }

    /// Replaces a member's directory attributes and, when `active` is given, its status
    /// (SCIM `PUT`/`PATCH /Users/:id`, §10.3). Owners and admins keep their status and e-mail
    /// (only their profile texts change); anyone else is bound by the target rule.
    /// Deactivation revokes the member's sessions in the org; re-activation checks the cap.
    #[allow(clippy::too_many_arguments)]
    pub fn update_directory_member(
        &self,
        org: &Organization,
        target: Option<&mut Membership>,
        profile: &mut DirectoryProfile,
        fields: DirectoryFields,
        active: Option<bool>,
        taken: Taken,
        roles: &RoleBook,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let target = self.directory_target(target)?;
        if profile.0.membership_id != target.id() {
            return Err(DomainError::invalid("profile", "the member's profile was not loaded"));
        }
        let status_change = active.filter(|a| *a != target.is_active());
        let email_change = fields.email != profile.0.email;
        let principal = match privileged(target) {
            Some(rule) if status_change.is_some() || email_change => {
                self.authorize(|_| Err(DomainError::RuleViolation(rule)))?;
                return Err(DomainError::RuleViolation(rule));
            }
            Some(_) => self.require(Capability::OrgMembersManage)?,
            None => self.directory_reach(target, roles)?,
        };
        if taken.user_name && user_name_key(&fields.user_name) != profile.user_name_key() {
            return Err(DomainError::DuplicateUserName);
        }
        if taken.email && email_change {
            return Err(DomainError::EmailTaken);
        }
        if status_change == Some(true) {
            org.require_room(cap)?;
        }
        let user_id = target.user_id();
        let mut events = Vec::new();
        let changes = profile.apply(fields, now);
        if !changes.is_empty() {
            events.push(DomainEvent::MemberUpdated { user_id, changes });
        }
        match status_change {
            Some(false) => {
                target.set_status(MembershipStatus::Deactivated, now);
                events.push(DomainEvent::MemberDeactivated { user_id });
                events.push(DomainEvent::SessionsRevoked {
                    user_id: Some(user_id),
                    reason: RevokeReason::MemberDeactivated,
                });
            }
            Some(true) => {
                target.set_status(MembershipStatus::Active, now);
                events.push(DomainEvent::MemberReactivated { user_id });
            }
            None => {}
        }
        Ok(Outcome { principal, events })
    }

    /// Removes a member (SCIM `DELETE /Users/:id`, §10.3) exactly like §5.3, except that owners
    /// and admins are out of a directory's reach.
    pub fn deprovision_member(&self, target: Option<&Membership>, roles: &RoleBook) -> Result<Outcome, DomainError> {
        self.require_mutable(Capability::OrgMembersManage)?;
        let target = target.ok_or(DomainError::NotFound)?;
        if let Some(rule) = privileged(target) {
            self.authorize(|_| Err(DomainError::RuleViolation(rule)))?;
        }
        self.remove_member(Some(target), roles)
    }

    /// Puts a member in a role group (§10.4): assigns the custom role under the grant and
    /// target rules. `roles` holds the role and the member's current custom role, if any.
    pub fn join_role_group(
        &self,
        target: Option<&mut Membership>,
        group: &CustomRole,
        roles: &RoleBook,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let target = self.directory_target(target)?;
        let role = group.as_role();
        let principal = self.authorize(|p| {
            p.need(Capability::OrgMembersManage)?;
            if let Some(rule) = privileged(target) {
                return Err(DomainError::RuleViolation(rule));
            }
            Access::check_target(p, target, roles)?;
            Access::check_grant(p, &role, roles)
        })?;
        Ok(Outcome {
            principal,
            events: reassign(target, role, now),
        })
    }

    /// Takes a member out of a role group (§10.4): a holder of the role falls back to
    /// `member`; anyone else is left as they are.
    pub fn leave_role_group(
        &self,
        target: Option<&mut Membership>,
        group: &CustomRole,
        roles: &RoleBook,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DomainError> {
        let target = self.directory_target(target)?;
        if *target.role() != group.as_role() {
            let principal = self.require(Capability::OrgMembersManage)?;
            return Ok(Outcome {
                principal,
                events: Vec::new(),
            });
        }
        let principal = self.directory_reach(target, roles)?;
        Ok(Outcome {
            principal,
            events: reassign(target, Role::Member, now),
        })
    }

    /// Creates a role group (SCIM `POST /Groups`, §10.4): a custom role with no capabilities,
    /// named `display_name`, its slug derived from `folded` (the name folded to ASCII).
    /// `existing` holds every custom role of the org (slug and name uniqueness).
    pub fn create_role_group(
        &self,
        existing: &RoleBook,
        id: RoleId,
        display_name: &str,
        folded: &str,
        now: DateTime<Utc>,
    ) -> Result<(CustomRole, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::OrgMembersManage)?;
        let name = RoleName::parse(display_name).map_err(|e| e.at("displayName"))?;
        if existing.name_taken(&name, None) {
            return Err(DomainError::DuplicateRoleName);
        }
        let slug = group_slug(folded, |s| RoleSlug::parse(s).is_ok_and(|s| existing.get(&s).is_some()));
        let new = NewRole {
            id,
            slug,
            name,
            description: None,
            permissions: CapabilitySet::EMPTY,
        };
        let (role, event) = CustomRole::create(self.org_id(), new, now);
        Ok((
            role,
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// Renames a role group (§10.4) under the role-update rule: caps(role) ⊆ caps(token).
    pub fn rename_role_group(
        &self,
        existing: &RoleBook,
        group: &CustomRole,
        display_name: &str,
        now: DateTime<Utc>,
    ) -> Result<(CustomRole, Outcome), DomainError> {
        let principal = self.directory_role_write(group)?;
        let name = RoleName::parse(display_name).map_err(|e| e.at("displayName"))?;
        if existing.name_taken(&name, Some(group.id())) {
            return Err(DomainError::DuplicateRoleName);
        }
        let (renamed, event) = group.renamed(name, now);
        Ok((
            renamed,
            Outcome {
                principal,
                events: event.into_iter().collect(),
            },
        ))
    }

    /// Deletes a role group (§10.4) under the role-delete rule; the caller has moved its
    /// holders back to `member` first.
    pub fn delete_role_group(&self, group: &CustomRole) -> Result<Outcome, DomainError> {
        let principal = self.directory_role_write(group)?;
        Ok(Outcome {
            principal,
            events: vec![DomainEvent::RoleDeleted {
                role_id: group.id(),
                slug: group.slug().clone(),
            }],
        })
    }

    fn directory_role_write(&self, group: &CustomRole) -> Result<Principal, DomainError> {
        self.require_mutable(Capability::OrgMembersManage)?;
        if group.org_id() != self.org_id() {
            return Err(DomainError::NotFound);
        }
        let caps = group.permissions().resolved();
        self.authorize(|p| {
            if caps.is_subset_of(p.caps) {
                Ok(())
            } else {
                Err(DomainError::RuleViolation(Rule::Grant))
            }
        })
    }
}

/// Sets `target`'s role, with the event when it changes.
fn reassign(target: &mut Membership, role: Role, now: DateTime<Utc>) -> Vec<DomainEvent> {
    if *target.role() == role {
        return Vec::new();
    }
    let old_role = target.role().clone();
    target.set_role(role.clone(), now);
    vec![DomainEvent::MemberRoleChanged {
        user_id: target.user_id(),
        old_role,
        new_role: role,
    }]
}
