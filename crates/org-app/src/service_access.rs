//! Member service access (§5.4, §5.5). Services do not exist in this iteration, so every org
//! has none: the list is empty and any named service is unknown (404), after the capability,
//! active-org and membership checks of §1.5.

use org_domain::{Capability, UserId};

use crate::record::{Caller, RequestMeta};
use crate::{App, AppError};

/// One service of the org and the member's access to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccess {
    pub service_id: String,
    pub service_slug: String,
    pub service_name: String,
    /// `viewer`, `manager` or `None`.
    pub access: Option<String>,
}

impl App {
    /// `GET …/members/:user_id/service-access`.
    pub async fn member_service_access(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        user_id: &str,
    ) -> Result<Vec<ServiceAccess>, AppError> {
        let org = self
            .read_in_org(caller, meta, slug, Capability::OrgMembersManage)
            .await?;
        let user = UserId::parse(user_id).ok_or_else(AppError::not_found)?;
        org.membership(user).ok_or_else(AppError::not_found)?;
        Ok(Vec::new())
    }

    /// `PUT …/members/:user_id/service-access` for the services named by `service_slugs`.
    pub async fn update_member_service_access(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        user_id: &str,
        service_slugs: &[String],
    ) -> Result<Vec<ServiceAccess>, AppError> {
        let checked = async {
            let org = self.load_org(slug).await?;
            org.require_mutable(&caller.actor(), Capability::OrgMembersManage)?;
            Ok(org)
        }
        .await;
        let org = self.guarded(caller, meta, slug, checked).await?;
        let user = UserId::parse(user_id).ok_or_else(AppError::not_found)?;
        org.membership(user).ok_or_else(AppError::not_found)?;
        if !service_slugs.is_empty() {
            return Err(AppError::not_found());
        }
        Ok(Vec::new())
    }
}
