//! Member use cases (§5): list (keyset or offset), change role, remove, transfer ownership,
//! (member service access, §5.4 and §5.5, is in `services.rs`).
//! Each loads only the memberships and roles its decision names; none reads the org's other
//! members.

use chrono::{DateTime, Utc};
use org_domain::{DomainError, Email, Membership, MembershipStatus, OrgId, Organization, Role, User, UserId};
use org_ports::{Changeset, MemberQuery, MemberRow, PageRequest};

use crate::AppError;
use crate::core::Decision;
use crate::record::{Caller, RequestMeta};

/// A member with their user record.
#[derive(Clone, Debug)]
pub struct MemberView {
    pub membership: Membership,
    pub user: User,
}

impl From<MemberRow> for MemberView {
    fn from(r: MemberRow) -> Self {
        Self {
            membership: r.membership,
            user: r.user,
        }
    }
}

/// Filters of `GET …/members`.
#[derive(Clone, Debug, Default)]
pub struct MemberFilter {
    pub role: Option<Role>,
    pub status: Option<MembershipStatus>,
}

impl MemberFilter {
    fn is_empty(&self) -> bool {
        self.role.is_none() && self.status.is_none()
    }
}

/// Where a member page starts (§1.6): an offset page, or after a keyset position of the
/// member list of `org` (a cursor names the list it was issued for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberPosition {
    Offset(PageRequest),
    /// After `(joined_at, user_id)`, at most `limit` rows (1..=100).
    After {
        org: OrgId,
        joined_at: DateTime<Utc>,
        user_id: UserId,
        limit: u32,
    },
}

impl MemberPosition {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self::Offset(PageRequest::new(1, limit))
    }
}

/// `GET …/members` (§5.1).
#[derive(Clone, Debug)]
pub struct MemberList {
    pub org: Organization,
    pub members: Vec<MemberView>,
    /// Rows matching the filters; `None` in cursor mode.
    pub total: Option<u64>,
    /// The offset page, `None` in cursor mode.
    pub page: Option<u32>,
    /// Active members (kept with the org).
    pub active: u32,
    pub cap: u32,
    /// `custom` when the org sets `max_users`, else the tier name.
    pub cap_source: String,
    /// The keyset position after the last row, when more rows follow.
    pub next: Option<(DateTime<Utc>, UserId)>,
}

/// Whom to make the owner (§5.6).
#[derive(Clone, Debug)]
pub enum TransferTarget {
    Email(String),
    UserId(String),
}

/// One service of the org and the member's access to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccess {
    pub service_id: String,
    pub service_slug: String,
    pub service_name: String,
    /// `viewer`, `manager` or `None`.
    pub access: Option<String>,
}

service! {
    /// Members (§5).
    MemberService
}

/// A membership as stored after its write (if written).
fn stored(m: Membership, written: bool) -> Membership {
    if written {
        let v = m.record().version + 1;
        m.with_version(v)
    } else {
        m
    }
}

/// The custom roles named by the memberships involved and the role granted.
fn named<'m>(members: impl IntoIterator<Item = &'m Membership>, extra: Option<&'m Role>) -> Vec<&'m Role> {
    members.into_iter().map(Membership::role).chain(extra).collect()
}

impl MemberService {
    async fn membership(&self, org: &Organization, user: Option<UserId>) -> Result<Option<Membership>, AppError> {
        match user {
            Some(u) => Ok(self.core.stores.members.membership(org.id(), u).await?),
            None => Ok(None),
        }
    }

    /// The membership of the owner the org row names. The org row and the membership are two
    /// reads: a transfer that commits between them leaves the row naming someone who is no
    /// longer (or not yet) the owner, and the decision is taken again on fresh rows.
    async fn current_owner(&self, org: &Organization) -> Result<Membership, AppError> {
        self.membership(org, Some(org.owner()))
            .await?
            .filter(|m| *m.role() == Role::Owner)
            .ok_or(AppError::Stale)
    }

    async fn view(&self, membership: Membership) -> Result<MemberView, AppError> {
        let user = self
            .core
            .stores
            .users
            .user_by_id(membership.user_id())
            .await?
            .ok_or_else(|| AppError::Internal("member without user".into()))?;
        Ok(MemberView { membership, user })
    }

    /// The org whose member list the caller may read (§5.1: any member or platform owner):
    /// for adapters that keep pages they serialized ([`crate::cache`]).
    pub async fn visible(&self, caller: &Caller, slug: &str) -> Result<OrgId, AppError> {
        let (ctx, _access) = self.core.org_context(caller, slug).await?;
        Ok(ctx.org.id())
    }

    /// `GET …/members`: one page, at the same cost at any depth and any org size.
    pub async fn list(
        &self,
        caller: &Caller,
        slug: &str,
        filter: &MemberFilter,
        position: MemberPosition,
    ) -> Result<MemberList, AppError> {
        let core = &self.core;
        let (ctx, _access) = core.org_context(caller, slug).await?;
        let org = ctx.org;
        let (query, page, limit) = match position {
            MemberPosition::Offset(p) => (
                MemberQuery {
                    role: filter.role.clone(),
                    status: filter.status,
                    after: None,
                    offset: p.offset(),
                    limit: p.limit + 1,
                },
                Some(p.page),
                p.limit,
            ),
            MemberPosition::After { org: bound, .. } if bound != org.id() => {
                return Err(AppError::invalid("cursor", "the cursor was issued for another list"));
            }
            MemberPosition::After {
                joined_at: at,
                user_id: user,
                limit,
                ..
            } => (
                MemberQuery {
                    role: filter.role.clone(),
                    status: filter.status,
                    after: Some((at, user)),
                    offset: 0,
                    // One row more than shown tells whether more follow (clamped first, so
                    // the probe row is never cut off and `u32::MAX` cannot overflow).
                    limit: limit.clamp(1, 100) + 1,
                },
                None,
                limit.clamp(1, 100),
            ),
        };
        let mut rows = core.stores.members.member_page(org.id(), &query).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(|r| (r.membership.joined_at(), r.membership.user_id()))
        } else {
            None
        };
        let headcount = org.headcount();
        let total = match (page, filter.is_empty(), filter.status) {
            (None, _, _) => None,
            (Some(_), true, _) => Some(u64::from(headcount.total)),
            (Some(_), false, Some(MembershipStatus::Active)) if filter.role.is_none() => {
                Some(u64::from(headcount.active))
            }
            (Some(_), false, _) => Some(
                core.stores
                    .members
                    .count_members(org.id(), filter.role.clone(), filter.status)
                    .await?,
            ),
        };
        let tier = core.tier_of(&org);
        Ok(MemberList {
            members: rows.into_iter().map(MemberView::from).collect(),
            total,
            page,
            active: headcount.active,
            cap: org.member_cap(tier),
            cap_source: org.cap_source(tier),
            next,
            org,
        })
    }

    /// `PATCH …/members/:user_id` (§5.2): the target's membership and the roles involved;
    /// for `owner`, also the current owner's membership and the org row (a transfer).
    pub async fn change_role(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        user_id: &str,
        role: &str,
    ) -> Result<MemberView, AppError> {
        let role = &Role::parse(role).map_err(DomainError::from)?;
        let target_id = UserId::parse(user_id);
        let core = &self.core;
        let changed = core
            .mutate(caller, meta, slug, |mut s| async move {
                let mut target = self.membership(&s.org, target_id).await?;
                let transfer = *role == Role::Owner;
                let mut owner = if transfer {
                    Some(self.current_owner(&s.org).await?)
                } else {
                    None
                };
                let roles = core.roles_named(s.org.id(), &named(target.iter(), Some(role))).await?;
                let now = s.now();
                let outcome =
                    s.access
                        .change_role(&mut s.org, target.as_mut(), owner.as_mut(), role.clone(), &roles, now)?;
                let mut c = self.record_member_change(&mut s, &outcome).await?;
                let written = !outcome.events.is_empty();
                if written {
                    c.memberships.extend(target.clone());
                    if transfer {
                        c.memberships.extend(owner);
                        c.orgs.push(s.org.clone());
                    }
                }
                let target = target.ok_or_else(AppError::not_found)?;
                Ok(Decision::new(c, stored(target, written)))
            })
            .await?;
        self.view(changed).await
    }

    /// Makes the e-mails of the users the events name known, then records the events.
    async fn record_member_change(
        &self,
        s: &mut crate::core::Scope<'_>,
        outcome: &org_domain::Outcome,
    ) -> Result<Changeset, AppError> {
        let subjects = org_domain::subjects(&outcome.events);
        if !subjects.is_empty() {
            for u in self.core.stores.users.users_by_ids(&subjects).await? {
                s.rec.know(&u);
            }
        }
        Ok(s.record(&outcome.principal, &outcome.events))
    }

    /// `POST|DELETE …/members/:user_id` (§5.3).
    pub async fn remove(&self, caller: &Caller, meta: &RequestMeta, slug: &str, user_id: &str) -> Result<(), AppError> {
        let target_id = UserId::parse(user_id);
        let core = &self.core;
        core.mutate(caller, meta, slug, |mut s| async move {
            let target = self.membership(&s.org, target_id).await?;
            let roles = core.roles_named(s.org.id(), &named(target.iter(), None)).await?;
            let outcome = s.access.remove_member(target.as_ref(), &roles)?;
            let mut c = self.record_member_change(&mut s, &outcome).await?;
            c.removed_memberships.extend(target);
            Ok(Decision::new(c, ()))
        })
        .await
    }

    /// `POST …/transfer-ownership` (§5.6).
    pub async fn transfer_ownership(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        target: &TransferTarget,
    ) -> Result<MemberView, AppError> {
        let core = &self.core;
        let new_owner = core
            .mutate(caller, meta, slug, |mut s| async move {
                let target_id = match target {
                    TransferTarget::UserId(id) => UserId::parse(id),
                    TransferTarget::Email(email) => {
                        let email = Email::parse(email).map_err(DomainError::from)?;
                        core.stores.users.user_by_email(&email).await?.map(|u| u.id())
                    }
                };
                let mut member = self.membership(&s.org, target_id).await?;
                let mut owner = self.current_owner(&s.org).await?;
                let now = s.now();
                let outcome = s
                    .access
                    .transfer_ownership(&mut s.org, member.as_mut(), &mut owner, now)?;
                let mut c = self.record_member_change(&mut s, &outcome).await?;
                let member = member.ok_or_else(AppError::not_found)?;
                c.orgs.push(s.org.clone());
                c.memberships.push(owner);
                c.memberships.push(member.clone());
                Ok(Decision::new(c, stored(member, true)))
            })
            .await?;
        self.view(new_owner).await
    }
}
