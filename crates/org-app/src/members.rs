//! Member use cases (§5): list, change role, remove, transfer ownership.

use org_domain::{Capability, DomainError, Email, Membership, MembershipStatus, Organization, Role, User, UserId};
use org_ports::{Changeset, PageRequest};

use crate::record::{Caller, Recorder, RequestMeta};
use crate::{App, AppError};

/// A member with their user record.
#[derive(Clone, Debug)]
pub struct MemberView {
    pub membership: Membership,
    pub user: User,
}

/// Filters of `GET …/members`.
#[derive(Clone, Debug, Default)]
pub struct MemberFilter {
    pub role: Option<String>,
    pub status: Option<MembershipStatus>,
}

/// `GET …/members` (§5.1).
#[derive(Clone, Debug)]
pub struct MemberList {
    pub members: Vec<MemberView>,
    pub total: u64,
    pub page: u32,
    pub active: u32,
    pub cap: u32,
    /// `custom` when the org sets `max_users`, else the tier name.
    pub cap_source: String,
}

/// Whom to make the owner (§5.6).
#[derive(Clone, Debug)]
pub enum TransferTarget {
    Email(String),
    UserId(String),
}

impl App {
    pub(crate) async fn member_view(&self, org: &Organization, user: UserId) -> Result<MemberView, AppError> {
        let membership = org.membership(user).cloned().ok_or_else(AppError::not_found)?;
        let user = self
            .stores()
            .users
            .user_by_id(user)
            .await?
            .ok_or_else(|| AppError::Internal("member without user".into()))?;
        Ok(MemberView { membership, user })
    }

    /// `GET …/members`.
    pub async fn list_members(
        &self,
        caller: &Caller,
        slug: &str,
        filter: &MemberFilter,
        page: PageRequest,
    ) -> Result<MemberList, AppError> {
        let org = self.load_org(slug).await?;
        org.view(&caller.actor())?;
        let mut rows: Vec<&Membership> = org
            .state()
            .memberships
            .iter()
            .filter(|m| filter.role.as_deref().is_none_or(|r| m.role.as_str() == r))
            .filter(|m| filter.status.is_none_or(|s| m.status == s))
            .collect();
        rows.sort_by_key(|m| (m.created_at, m.user_id));
        let paged = page.slice(&rows);
        let ids: Vec<UserId> = paged.items.iter().map(|m| m.user_id).collect();
        let users = self.stores().users.users_by_ids(&ids).await?;
        let members = paged
            .items
            .into_iter()
            .filter_map(|m| {
                users.iter().find(|u| u.id == m.user_id).map(|u| MemberView {
                    membership: m.clone(),
                    user: u.clone(),
                })
            })
            .collect();
        let tier = self.config().tier(&org.state().tier_id);
        let cap_source = if org.state().max_users.is_some() {
            "custom".to_owned()
        } else {
            tier.map_or("custom".to_owned(), |t| t.name.clone())
        };
        Ok(MemberList {
            members,
            total: paged.total,
            page: page.page,
            active: org.active_member_count(),
            cap: org.member_cap(tier),
            cap_source,
        })
    }

    async fn record_member_change(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        org: Organization,
        outcome: org_domain::Outcome,
        subjects: &[UserId],
    ) -> Result<Organization, AppError> {
        let now = self.now();
        let mut rec = Recorder::for_caller(self, meta, caller, now);
        for u in self.stores().users.users_by_ids(subjects).await? {
            rec.know(&u);
        }
        let mut c = Changeset::default();
        rec.record(&mut c, org.id(), Some(&outcome.principal), &outcome.events);
        if !outcome.events.is_empty() {
            c.orgs.push(org.clone());
        }
        self.commit(c).await?;
        Ok(org)
    }

    /// `PATCH …/members/:user_id` (§5.2).
    pub async fn change_member_role(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        user_id: &str,
        role: &str,
    ) -> Result<MemberView, AppError> {
        let role = Role::parse(role).map_err(DomainError::from)?;
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let mut org = self.load_org(slug).await?;
                let actor = caller.actor();
                org.require(&actor, Capability::OrgRolesManage)?;
                let target = UserId::parse(user_id).ok_or_else(AppError::not_found)?;
                let previous_owner = org.state().owner_user_id;
                let outcome = org.change_role(&actor, target, role.clone(), self.now())?;
                let org = self
                    .record_member_change(caller, meta, org, outcome, &[target, previous_owner])
                    .await?;
                self.member_view(&org, target).await
            }),
        )
        .await
    }

    /// `POST|DELETE …/members/:user_id` (§5.3).
    pub async fn remove_member(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        user_id: &str,
    ) -> Result<(), AppError> {
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let mut org = self.load_org(slug).await?;
                let actor = caller.actor();
                org.require(&actor, Capability::OrgMembersManage)?;
                let target = UserId::parse(user_id).ok_or_else(AppError::not_found)?;
                let outcome = org.remove_member(&actor, target, self.now())?;
                self.record_member_change(caller, meta, org, outcome, &[target]).await?;
                Ok(())
            }),
        )
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
        self.guarded(
            caller,
            meta,
            slug,
            retrying!(self, async {
                let mut org = self.load_org(slug).await?;
                let actor = caller.actor();
                org.require(&actor, Capability::OrgOwnershipTransfer)?;
                let not_found = || AppError::Domain(DomainError::NotFound);
                let target = match target {
                    TransferTarget::UserId(id) => UserId::parse(id).ok_or_else(not_found)?,
                    TransferTarget::Email(email) => {
                        let email = Email::parse(email).map_err(DomainError::from)?;
                        self.stores()
                            .users
                            .user_by_email(&email)
                            .await?
                            .ok_or_else(not_found)?
                            .id
                    }
                };
                let previous = org.state().owner_user_id;
                let outcome = org.transfer_ownership(&actor, target, self.now())?;
                let org = self
                    .record_member_change(caller, meta, org, outcome, &[target, previous])
                    .await?;
                self.member_view(&org, target).await
            }),
        )
        .await
    }
}
