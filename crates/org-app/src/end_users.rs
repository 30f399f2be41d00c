//! End users (§19.3–§19.4): the org's users with an identity issued through it (a service
//! login, §19.5), listed newest end user first with keyset cursors and an optional service
//! filter; one end user's identities, live service sessions and recent logins; and the
//! revocation of their service sessions (never their org sessions).

use org_domain::login::{LoginEvent, LoginIdentity};
use org_domain::risk::RiskEvent;
use org_domain::service::{Service, ServiceSlug};
use org_domain::{Capability, DomainEvent, OrgId, RevokeReason, Session, User, UserId};
use org_ports::{EndUserQuery, EndUserRow};

use crate::AppError;
use crate::core::Decision;
use crate::record::{Caller, RequestMeta};

service! {
    /// End users of an org (§19.3–§19.4).
    EndUserService
}

/// How many recent logins the detail shows (§19.3).
pub const RECENT_LOGINS: u32 = 20;

/// One listed end user.
#[derive(Clone, Debug)]
pub struct EndUserView {
    pub row: EndUserRow,
    pub user: User,
    pub identities: Vec<LoginIdentity>,
}

/// One page of end users and the org they belong to.
#[derive(Clone, Debug)]
pub struct EndUserPage {
    pub org_id: OrgId,
    pub users: Vec<EndUserView>,
    /// Offset pages only.
    pub total: Option<u64>,
}

/// One end user in detail.
#[derive(Clone, Debug)]
pub struct EndUserDetail {
    pub user: User,
    pub identities: Vec<LoginIdentity>,
    /// Live sessions of the org's services, with their service.
    pub sessions: Vec<(Session, Option<Service>)>,
    pub recent_logins: Vec<(RiskEvent, Option<Service>)>,
    pub org_slug: String,
}

fn end_user_not_found() -> AppError {
    AppError::Domain(org_domain::DomainError::EndUserNotFound)
}

impl EndUserService {
    /// `GET …/users`: `end_users.view` or `end_users.manage`. `service_slug` narrows to the
    /// service's end users (unknown → 404). `with_total` for offset pages.
    pub async fn list(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        service_slug: Option<&str>,
        mut query: EndUserQuery,
        with_total: bool,
    ) -> Result<EndUserPage, AppError> {
        let core = &self.core;
        let (org, ()) = core
            .read(caller, meta, slug, |a| a.require(Capability::EndUsersView).map(|_| ()))
            .await?;
        if let Some(s) = service_slug {
            let s = ServiceSlug::parse(s).map_err(|_| AppError::not_found())?;
            let service = core
                .stores
                .services
                .service_by_slug(org.id(), &s)
                .await?
                .ok_or_else(AppError::not_found)?;
            query.service = Some(service.id());
        }
        let rows = core.stores.logins.end_user_page(org.id(), &query).await?;
        let ids: Vec<UserId> = rows.iter().map(|r| r.user_id).collect();
        let users = core.stores.users.users_by_ids(&ids).await?;
        let identities = core.stores.logins.identities(org.id(), &ids).await?;
        let total = if with_total {
            Some(core.stores.logins.end_user_count(org.id(), query.service).await?)
        } else {
            None
        };
        let users = rows
            .into_iter()
            .filter_map(|row| {
                let user = users.iter().find(|u| u.id() == row.user_id)?.clone();
                let identities = identities
                    .iter()
                    .filter(|i| i.user_id == row.user_id)
                    .cloned()
                    .collect();
                Some(EndUserView { row, user, identities })
            })
            .collect();
        Ok(EndUserPage {
            org_id: org.id(),
            users,
            total,
        })
    }

    /// `GET …/users/:user_id`: the end user's identities, live service sessions of this org
    /// and 20 most recent logins; a user who is not an end user of the org → 404.
    pub async fn detail(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        user_id: &str,
    ) -> Result<EndUserDetail, AppError> {
        let core = &self.core;
        let (org, ()) = core
            .read(caller, meta, slug, |a| a.require(Capability::EndUsersView).map(|_| ()))
            .await?;
        let user_id = UserId::parse(user_id).ok_or_else(end_user_not_found)?;
        core.stores
            .logins
            .end_user(org.id(), user_id)
            .await?
            .ok_or_else(end_user_not_found)?;
        let user = core
            .stores
            .users
            .user_by_id(user_id)
            .await?
            .ok_or_else(end_user_not_found)?;
        let services = core.stores.services.org_services(org.id()).await?;
        let service_of = |id: Option<uuid::Uuid>| services.iter().find(|s| Some(s.id().as_uuid()) == id).cloned();
        let now = core.now();
        let sessions = core
            .stores
            .logins
            .end_user_sessions(org.id(), user_id)
            .await?
            .into_iter()
            .filter(|s| s.is_live(now) && s.expires_at > now)
            .map(|s| {
                let service = service_of(s.service_id.map(|v| v.as_uuid()));
                (s, service)
            })
            .collect();
        let recent_logins = core
            .stores
            .logins
            .recent_logins(org.id(), user_id, RECENT_LOGINS)
            .await?
            .into_iter()
            .map(|e| {
                let service = service_of(e.service_id);
                (e, service)
            })
            .collect();
        let identities = core.stores.logins.identities(org.id(), &[user_id]).await?;
        Ok(EndUserDetail {
            user,
            identities,
            sessions,
            recent_logins,
            org_slug: org.slug().as_str().to_owned(),
        })
    }

    /// `DELETE …/users/:user_id/sessions` (§19.4): `end_users.manage`; revokes the user's
    /// sessions of this org's services (`end_user_revoked`), not their org sessions. Audit and
    /// webhook `end_user.sessions_revoked` when something was revoked.
    pub async fn revoke_sessions(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        user_id: &str,
    ) -> Result<u64, AppError> {
        let core = &self.core;
        let user_id = UserId::parse(user_id);
        core.mutate(caller, meta, slug, |s| async move {
            let principal = s.access.require_mutable(Capability::EndUsersManage)?;
            let user_id = user_id.ok_or_else(end_user_not_found)?;
            core.stores
                .logins
                .end_user(s.org.id(), user_id)
                .await?
                .ok_or_else(end_user_not_found)?;
            let now = s.now();
            let mut sessions = core.stores.logins.end_user_sessions(s.org.id(), user_id).await?;
            sessions.retain(|x| x.is_live(now));
            let count = sessions.len() as u64;
            let events = if count > 0 {
                vec![DomainEvent::Login(LoginEvent::SessionsRevoked {
                    user_id,
                    revoked_count: count,
                })]
            } else {
                Vec::new()
            };
            let mut c = s.record(&principal, &events);
            for mut x in sessions {
                x.revoke(RevokeReason::EndUserRevoked, now);
                c.sessions.push(x);
            }
            Ok(Decision::new(c, count))
        })
        .await
    }
}
