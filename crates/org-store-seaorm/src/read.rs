//! The read side: every repository port, with the orderings and filters of the in-memory
//! reference store. Each read does a bounded amount of work: the hot ones (`org_context`,
//! `session_context`, `member_page`, audit and delivery pages, `audit_head`) are one
//! statement each, an index seek and at most a page of rows; unfiltered totals come from counts
//! kept at write time, and keyset pages never count.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::directory::{DirectoryGroup, DirectoryProfile};
use org_domain::mail::{Mail, SmtpSettings};
use org_domain::scim_token::ScimToken;
use org_domain::webhook::{Delivery, DeliveryStatus, Webhook};
use org_domain::{
    CustomRole, DeliveryId, Email, Invitation, InvitationId, InvitationStatus, MailId, Membership, MembershipId,
    MembershipStatus, OrgId, OrgStatus, Organization, Role, RoleId, RoleSlug, ScimTokenId, Session, SessionId, Slug,
    TokenHash, User, UserId, WebhookId,
};
use org_ports::{
    AuditEntry, AuditFilter, AuditLog, AuditRepository, DeliveryFilter, DirectoryRepository, InvitationRepository,
    MailRepository, MemberQuery, MemberRow, MembershipRepository, OrgContext, OrgFilter, OrgRepository, OutboxEvent,
    OutboxRepository, Page, PageRequest, RefreshMatch, RoleRepository, SessionContext, SessionRepository, StoreError,
    UserRepository, WebhookRepository,
};
use sea_orm::sea_query::LikeExpr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, RelationTrait, Select,
};

use crate::SeaStore;
use crate::entities::{
    audit, billing_credential, custom_domain, delivery, directory_group, directory_profile, event, head, invitation,
    mail, membership, oauth_credential, org, org_branding, refresh_ancestor, role, scim_token, session, smtp_settings,
    user, webhook,
};
use crate::error::store_err;
use crate::mapping;
use crate::sql::{self, Sql, joined};

/// Rows of one page and the total.
async fn paged<E, C>(db: &C, q: Select<E>, page: PageRequest) -> Result<(Vec<E::Model>, u64), StoreError>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let total = q.clone().count(db).await.map_err(store_err)?;
    let rows = q
        .offset(page.offset())
        .limit(u64::from(page.limit))
        .all(db)
        .await
        .map_err(store_err)?;
    Ok((rows, total))
}

/// Ends a read snapshot and returns what was read in it.
async fn finish<T>(tx: DatabaseTransaction, value: T) -> Result<T, StoreError> {
    tx.commit().await.map_err(store_err)?;
    Ok(value)
}

impl SeaStore {
    /// A page and its total, read in one snapshot (lists that are not on the hot path).
    async fn paged<E>(&self, q: Select<E>, page: PageRequest) -> Result<(Vec<E::Model>, u64), StoreError>
    where
        E: EntityTrait,
        E::Model: Sync,
    {
        let tx = self.snapshot().await?;
        let out = paged(&tx, q, page).await?;
        finish(tx, out).await
    }

    async fn query_all(&self, q: Sql) -> Result<Vec<QueryResult>, StoreError> {
        self.db.query_all_raw(q.statement()).await.map_err(store_err)
    }

    async fn query_one(&self, q: Sql) -> Result<Option<QueryResult>, StoreError> {
        self.db.query_one_raw(q.statement()).await.map_err(store_err)
    }

    /// The `total_rows` of a count statement (no row counts 0).
    async fn count(&self, q: Sql) -> Result<u64, StoreError> {
        match self.query_one(q).await? {
            Some(row) => count_of(&row, "total_rows"),
            None => Ok(0),
        }
    }
}

fn orgs(rows: Vec<org::Model>) -> Result<Vec<Organization>, StoreError> {
    rows.into_iter().map(mapping::org_from_row).collect()
}

/// An org context from a row of `o` (org), `m` (membership, outer) and `r` (role, outer).
fn context_from_row(row: &QueryResult) -> Result<OrgContext, StoreError> {
    let o = org::Model::from_query_result(row, "o_").map_err(store_err)?;
    let m = joined::<membership::Model>(row, "m", "id").map_err(store_err)?;
    let r = joined::<role::Model>(row, "r", "id").map_err(store_err)?;
    Ok(OrgContext {
        org: mapping::org_from_row(o)?,
        membership: m.map(mapping::membership_from_row).transpose()?,
        role: r.map(mapping::role_from_row).transpose()?,
    })
}

/// A count read back from a result column (`COUNT(*)`, kept counts).
fn count_of(row: &QueryResult, col: &str) -> Result<u64, StoreError> {
    let n: Option<i64> = row.try_get("", col).map_err(store_err)?;
    u64::try_from(n.unwrap_or(0)).map_err(|_| StoreError::Corrupt(format!("negative count in {col}")))
}

/// `LIKE` pattern matching `needle` anywhere, with `\` as the escape character.
fn contains_pattern(needle: &str) -> LikeExpr {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for ch in needle.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    LikeExpr::new(p).escape('\\')
}

#[async_trait]
impl OrgRepository for SeaStore {
    async fn org_by_slug(&self, slug: &Slug) -> Result<Option<Organization>, StoreError> {
        org::Entity::find()
            .filter(org::Column::Slug.eq(slug.as_str()))
            .filter(org::Column::DeletedAt.is_null())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::org_from_row)
            .transpose()
    }

    async fn org_by_id(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        org::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::org_from_row)
            .transpose()
    }

    async fn org_context(&self, slug: &Slug, user: UserId) -> Result<Option<OrgContext>, StoreError> {
        let q = sql::org_context(self.backend, slug, user);
        self.query_one(q).await?.as_ref().map(context_from_row).transpose()
    }

    async fn orgs_of_member(
        &self,
        user: UserId,
        status: Option<OrgStatus>,
        page: PageRequest,
    ) -> Result<Page<OrgContext>, StoreError> {
        let rows = self
            .query_all(sql::orgs_of_member(self.backend, user, status, page))
            .await?;
        let total = match rows.first() {
            Some(row) => count_of(row, "total_rows")?,
            None if page.offset() == 0 => 0,
            None => {
                self.count(sql::orgs_of_member_count(self.backend, user, status))
                    .await?
            }
        };
        let items = rows.iter().map(context_from_row).collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: Some(total),
        })
    }

    async fn list_orgs(&self, filter: &OrgFilter, page: PageRequest) -> Result<Page<Organization>, StoreError> {
        let mut q = org::Entity::find().filter(org::Column::DeletedAt.is_null());
        if let Some(s) = filter.status {
            q = q.filter(org::Column::Status.eq(s.as_str()));
        }
        if let Some(needle) = &filter.q {
            let needle = needle.to_lowercase();
            q = q.filter(
                Condition::any()
                    .add(org::Column::Slug.like(contains_pattern(&needle)))
                    .add(org::Column::NameLower.like(contains_pattern(&needle))),
            );
        }
        let q = q.order_by_asc(org::Column::CreatedAt).order_by_asc(org::Column::Id);
        let (rows, total) = self.paged(q, page).await?;
        Ok(Page {
            items: orgs(rows)?,
            total: Some(total),
        })
    }

    async fn count_orgs_owned_by(&self, user: UserId) -> Result<u64, StoreError> {
        org::Entity::find()
            .filter(org::Column::OwnerUserId.eq(user.as_uuid()))
            .filter(org::Column::DeletedAt.is_null())
            .count(&self.db)
            .await
            .map_err(store_err)
    }

    async fn purgeable_orgs(&self, deleted_before: DateTime<Utc>, limit: u32) -> Result<Vec<OrgId>, StoreError> {
        let pending = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::OrgId)
            .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .into_query()
            .to_owned();
        let rows = org::Entity::find()
            .filter(org::Column::DeletedAt.is_not_null())
            .filter(
                Condition::any()
                    .add(org::Column::DeletedAt.lt(deleted_before))
                    .add(org::Column::Id.not_in_subquery(pending)),
            )
            .order_by_asc(org::Column::DeletedAt)
            .order_by_asc(org::Column::Id)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(|o| OrgId::from_uuid(o.id)).collect())
    }
}

#[async_trait]
impl MembershipRepository for SeaStore {
    async fn membership(&self, org: OrgId, user: UserId) -> Result<Option<Membership>, StoreError> {
        membership::Entity::find()
            .filter(membership::Column::OrgId.eq(org.as_uuid()))
            .filter(membership::Column::UserId.eq(user.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::membership_from_row)
            .transpose()
    }

    async fn memberships_of(&self, org: OrgId, users: &[UserId]) -> Result<Vec<Membership>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        membership::Entity::find()
            .filter(membership::Column::OrgId.eq(org.as_uuid()))
            .filter(membership::Column::UserId.is_in(users.iter().map(|u| u.as_uuid())))
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(mapping::membership_from_row)
            .collect()
    }

    async fn member_page(&self, org: OrgId, query: &MemberQuery) -> Result<Vec<MemberRow>, StoreError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        self.query_all(sql::member_page(self.backend, org, query))
            .await?
            .iter()
            .map(|row| {
                let m = membership::Model::from_query_result(row, "m_").map_err(store_err)?;
                let u = user::Model::from_query_result(row, "u_").map_err(store_err)?;
                Ok(MemberRow {
                    membership: mapping::membership_from_row(m)?,
                    user: mapping::user_from_row(u)?,
                })
            })
            .collect()
    }

    async fn count_members(
        &self,
        org: OrgId,
        role: Option<Role>,
        status: Option<MembershipStatus>,
    ) -> Result<u64, StoreError> {
        let Some(role) = role else {
            // Status alone (or nothing) is answered by the org's kept counts.
            let Some(o) = org::Entity::find_by_id(org.as_uuid())
                .one(&self.db)
                .await
                .map_err(store_err)?
            else {
                return Ok(0);
            };
            let n = match status {
                None => o.total_members,
                Some(MembershipStatus::Active) => o.active_members,
                Some(MembershipStatus::Deactivated) => o.total_members - o.active_members,
            };
            return u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("org {}: member counts", o.id)));
        };
        self.count(sql::member_count(self.backend, org, &role, status)).await
    }
}

#[async_trait]
impl RoleRepository for SeaStore {
    async fn custom_roles(&self, org: OrgId) -> Result<Vec<CustomRole>, StoreError> {
        role::Entity::find()
            .filter(role::Column::OrgId.eq(org.as_uuid()))
            .order_by_asc(role::Column::CreatedAt)
            .order_by_asc(role::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(mapping::role_from_row)
            .collect()
    }

    async fn custom_roles_named(&self, org: OrgId, slugs: &[RoleSlug]) -> Result<Vec<CustomRole>, StoreError> {
        if slugs.is_empty() {
            return Ok(Vec::new());
        }
        role::Entity::find()
            .filter(role::Column::OrgId.eq(org.as_uuid()))
            .filter(role::Column::Slug.is_in(slugs.iter().map(|s| s.as_str().to_owned())))
            .order_by_asc(role::Column::CreatedAt)
            .order_by_asc(role::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(mapping::role_from_row)
            .collect()
    }
}

#[async_trait]
impl UserRepository for SeaStore {
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        user::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::user_from_row)
            .transpose()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::user_from_row)
            .transpose()
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        user::Entity::find()
            .filter(user::Column::Id.is_in(mapping::uuids(ids, |u| u.as_uuid())))
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(mapping::user_from_row)
            .collect()
    }
}

/// Invitations whose status as seen at `now` is `status` (a pending one past `expires_at` is
/// expired).
fn status_at(status: InvitationStatus, now: DateTime<Utc>) -> Condition {
    let stored = |s: InvitationStatus| invitation::Column::Status.eq(s.as_str());
    match status {
        InvitationStatus::Pending => Condition::all()
            .add(stored(InvitationStatus::Pending))
            .add(invitation::Column::ExpiresAt.gt(now)),
        InvitationStatus::Expired => Condition::any().add(stored(InvitationStatus::Expired)).add(
            Condition::all()
                .add(stored(InvitationStatus::Pending))
                .add(invitation::Column::ExpiresAt.lte(now)),
        ),
        other => Condition::all().add(stored(other)),
    }
}

fn invitations(rows: Vec<invitation::Model>) -> Result<Vec<Invitation>, StoreError> {
    rows.into_iter().map(mapping::invitation_from_row).collect()
}

#[async_trait]
impl InvitationRepository for SeaStore {
    async fn invitation_by_id(&self, id: InvitationId) -> Result<Option<Invitation>, StoreError> {
        invitation::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::invitation_from_row)
            .transpose()
    }

    async fn invitation_by_token(&self, hash: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(mapping::hash_to_row(hash)))
            .order_by_desc(invitation::Column::CreatedAt)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::invitation_from_row)
            .transpose()
    }

    async fn pending_invitation(&self, org: OrgId, email: &Email) -> Result<Option<Invitation>, StoreError> {
        invitation::Entity::find()
            .filter(invitation::Column::OrgId.eq(org.as_uuid()))
            .filter(invitation::Column::Email.eq(email.as_str()))
            .filter(invitation::Column::Status.eq(InvitationStatus::Pending.as_str()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::invitation_from_row)
            .transpose()
    }

    async fn org_invitations(
        &self,
        org: OrgId,
        status: Option<InvitationStatus>,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<Invitation>, StoreError> {
        let mut q = invitation::Entity::find().filter(invitation::Column::OrgId.eq(org.as_uuid()));
        if let Some(s) = status {
            q = q.filter(status_at(s, now));
        }
        let q = q
            .order_by_desc(invitation::Column::CreatedAt)
            .order_by_desc(invitation::Column::Id);
        let (rows, total) = self.paged(q, page).await?;
        Ok(Page {
            items: invitations(rows)?,
            total: Some(total),
        })
    }

    async fn pending_org_invitations(&self, org: OrgId) -> Result<Vec<Invitation>, StoreError> {
        let rows = invitation::Entity::find()
            .filter(invitation::Column::OrgId.eq(org.as_uuid()))
            .filter(invitation::Column::Status.eq(InvitationStatus::Pending.as_str()))
            .order_by_desc(invitation::Column::CreatedAt)
            .order_by_desc(invitation::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        invitations(rows)
    }

    async fn pending_invitations_for(&self, email: &Email, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError> {
        let rows = invitation::Entity::find()
            .join(JoinType::InnerJoin, invitation::Relation::Org.def())
            .filter(invitation::Column::Email.eq(email.as_str()))
            .filter(status_at(InvitationStatus::Pending, now))
            .filter(org::Column::DeletedAt.is_null())
            .order_by_desc(invitation::Column::CreatedAt)
            .order_by_desc(invitation::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        invitations(rows)
    }

    async fn count_pending_with_role(&self, org: OrgId, role: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        invitation::Entity::find()
            .filter(invitation::Column::OrgId.eq(org.as_uuid()))
            .filter(invitation::Column::Role.eq(role))
            .filter(status_at(InvitationStatus::Pending, now))
            .count(&self.db)
            .await
            .map_err(store_err)
    }
}

#[async_trait]
impl SessionRepository for SeaStore {
    async fn session_by_id(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let Some(row) = session::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        self.load_data_keys(&[row.org_id.unwrap_or_default()]).await?;
        mapping::session_from_row(row, &*self.cipher).map(Some)
    }

    async fn session_context(&self, id: SessionId, org: Option<Slug>) -> Result<Option<SessionContext>, StoreError> {
        let q = sql::session_context(self.backend, id, org.as_ref());
        let Some(row) = self.query_one(q).await? else {
            return Ok(None);
        };
        let s = session::Model::from_query_result(&row, "s_").map_err(store_err)?;
        let u = user::Model::from_query_result(&row, "u_").map_err(store_err)?;
        self.load_data_keys(&[s.org_id.unwrap_or_default()]).await?;
        let org = match org {
            None => None,
            Some(_) => match joined::<org::Model>(&row, "o", "id").map_err(store_err)? {
                None => None,
                Some(_) => Some(context_from_row(&row)?),
            },
        };
        Ok(Some(SessionContext {
            session: mapping::session_from_row(s, &*self.cipher)?,
            user: mapping::user_from_row(u)?,
            org,
        }))
    }

    async fn session_by_refresh_hash(&self, hash: &TokenHash) -> Result<Option<RefreshMatch>, StoreError> {
        let hex = mapping::hash_to_row(hash);
        let current = session::Entity::find()
            .filter(session::Column::RefreshHash.eq(hex.clone()))
            .one(&self.db)
            .await
            .map_err(store_err)?;
        if let Some(row) = current {
            self.load_data_keys(&[row.org_id.unwrap_or_default()]).await?;
            return Ok(Some(RefreshMatch::Current(mapping::session_from_row(
                row,
                &*self.cipher,
            )?)));
        }
        let Some(ancestor) = refresh_ancestor::Entity::find_by_id(hex)
            .one(&self.db)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        let Some(session) = self.session_by_id(SessionId::from_uuid(ancestor.session_id)).await? else {
            return Ok(None);
        };
        Ok(Some(RefreshMatch::Consumed {
            session,
            consumed_at: ancestor.consumed_at,
        }))
    }
}

fn audit_rows(rows: &[QueryResult]) -> Result<Vec<AuditEntry>, StoreError> {
    rows.iter()
        .map(|row| mapping::audit_from_row(audit::Model::from_query_result(row, "a_").map_err(store_err)?))
        .collect()
}

impl SeaStore {
    /// The kept entry count of an audit log (0 for a log never written).
    async fn audit_kept_count(&self, head_key: String) -> Result<u64, StoreError> {
        let h = head::Entity::find_by_id(head_key)
            .one(&self.db)
            .await
            .map_err(store_err)?;
        u64::try_from(h.map_or(0, |h| h.entries)).map_err(|_| StoreError::Corrupt("negative audit count".to_owned()))
    }
}

#[async_trait]
impl AuditRepository for SeaStore {
    async fn audit_entries(
        &self,
        log: AuditLog,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        // Unfiltered offset pages carry the log's kept count in the same statement; filtered
        // ones count their matches; keyset pages count nothing.
        let rows = self.query_all(sql::audit_page(self.backend, log, filter, page)).await?;
        let items = audit_rows(&rows)?;
        let total = if filter.before.is_some() {
            None
        } else if !sql::audit_filtered(filter) {
            Some(match rows.first() {
                Some(row) => count_of(row, "kept_total")?,
                None => self.audit_kept_count(sql::audit_head_key(log)).await?,
            })
        } else {
            Some(self.count(sql::audit_count(self.backend, log, filter)).await?)
        };
        Ok(Page { items, total })
    }

    async fn audit_chain(&self, log: AuditLog, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        audit::Entity::find()
            .filter(audit::Column::LogKey.eq(mapping::log_key(log)))
            .filter(audit::Column::Seq.gt(after))
            .order_by_asc(audit::Column::Seq)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(mapping::audit_from_row)
            .collect()
    }

    async fn audit_head(&self, log: AuditLog) -> Result<Option<AuditEntry>, StoreError> {
        let rows: Vec<QueryResult> = self
            .query_one(sql::audit_head(self.backend, log))
            .await?
            .into_iter()
            .collect();
        Ok(audit_rows(&rows)?.pop())
    }
}

#[async_trait]
impl OutboxRepository for SeaStore {
    async fn org_events(&self, org: OrgId) -> Result<Vec<OutboxEvent>, StoreError> {
        event::Entity::find()
            .filter(event::Column::OrgId.eq(org.as_uuid()))
            .order_by_asc(event::Column::Seq)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(mapping::event_from_row)
            .collect()
    }
}

/// Number of pending deliveries.
pub(crate) async fn pending_deliveries_count<C: ConnectionTrait>(db: &C) -> Result<u64, StoreError> {
    delivery::Entity::find()
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .count(db)
        .await
        .map_err(store_err)
}

#[async_trait]
impl WebhookRepository for SeaStore {
    async fn org_webhooks(&self, org: OrgId) -> Result<Vec<Webhook>, StoreError> {
        self.load_data_keys(&[org.as_uuid()]).await?;
        webhook::Entity::find()
            .filter(webhook::Column::OrgId.eq(org.as_uuid()))
            .filter(webhook::Column::DeletedAt.is_null())
            .order_by_asc(webhook::Column::CreatedAt)
            .order_by_asc(webhook::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|w| mapping::webhook_from_row(w, &*self.cipher))
            .collect()
    }

    async fn webhook(&self, org: OrgId, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        self.load_data_keys(&[org.as_uuid()]).await?;
        webhook::Entity::find_by_id(id.as_uuid())
            .filter(webhook::Column::OrgId.eq(org.as_uuid()))
            .filter(webhook::Column::DeletedAt.is_null())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(|w| mapping::webhook_from_row(w, &*self.cipher))
            .transpose()
    }

    async fn webhook_deliveries(
        &self,
        webhook: WebhookId,
        filter: &DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let rows = self
            .query_all(sql::delivery_page(self.backend, webhook, filter, page))
            .await?;
        let items = rows
            .iter()
            .map(|row| mapping::delivery_from_row(delivery::Model::from_query_result(row, "d_").map_err(store_err)?))
            .collect::<Result<Vec<_>, _>>()?;
        let total = if filter.before.is_some() {
            None
        } else if !sql::delivery_filtered(filter) {
            Some(match rows.first() {
                Some(row) => count_of(row, "kept_total")?,
                None => self.count(sql::delivery_kept_count(self.backend, webhook)).await?,
            })
        } else {
            Some(self.count(sql::delivery_count(self.backend, webhook, filter)).await?)
        };
        Ok(Page { items, total })
    }

    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
        delivery::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::delivery_from_row)
            .transpose()
    }

    async fn pending_deliveries(&self, webhook: WebhookId) -> Result<Vec<Delivery>, StoreError> {
        delivery::Entity::find()
            .filter(delivery::Column::WebhookId.eq(webhook.as_uuid()))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .order_by_asc(delivery::Column::CreatedAt)
            .order_by_asc(delivery::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(mapping::delivery_from_row)
            .collect()
    }
}

/// Most rows a directory lookup returns (the port's bound).
const DIRECTORY_LOOKUP_LIMIT: u64 = 100;

/// The org's profiles whose `column` is `value`, oldest first (`(column, org_id, created_at,
/// membership_id)`, no sort), at most the lookup bound.
pub(crate) fn profiles_where(
    org: OrgId,
    column: directory_profile::Column,
    value: String,
) -> Select<directory_profile::Entity> {
    directory_profile::Entity::find()
        .filter(directory_profile::Column::OrgId.eq(org.as_uuid()))
        .filter(column.eq(value))
        .order_by_asc(directory_profile::Column::CreatedAt)
        .order_by_asc(directory_profile::Column::MembershipId)
        .limit(DIRECTORY_LOOKUP_LIMIT)
}

/// The org's role groups with this `externalId`, by role id (`(external_id, org_id,
/// role_id)`), at most the lookup bound.
pub(crate) fn groups_by_external_id(org: OrgId, external_id: &str) -> Select<directory_group::Entity> {
    directory_group::Entity::find()
        .filter(directory_group::Column::OrgId.eq(org.as_uuid()))
        .filter(directory_group::Column::ExternalId.eq(external_id))
        .order_by_asc(directory_group::Column::RoleId)
        .limit(DIRECTORY_LOOKUP_LIMIT)
}

/// The org's profile with this `userName` key (`ux_directory_profiles_user_name`).
pub(crate) fn profile_by_user_name(org: OrgId, key: &str) -> Select<directory_profile::Entity> {
    directory_profile::Entity::find()
        .filter(directory_profile::Column::OrgId.eq(org.as_uuid()))
        .filter(directory_profile::Column::UserNameKey.eq(key))
}

/// A SCIM token by its hash (`ux_scim_tokens_hash`).
pub(crate) fn scim_token_by_hash(hash: &TokenHash) -> Select<scim_token::Entity> {
    scim_token::Entity::find().filter(scim_token::Column::TokenHash.eq(mapping::hash_to_row(hash)))
}

fn profiles(rows: Vec<directory_profile::Model>) -> Result<Vec<DirectoryProfile>, StoreError> {
    rows.into_iter().map(mapping::profile_from_row).collect()
}

fn groups(rows: Vec<directory_group::Model>) -> Result<Vec<DirectoryGroup>, StoreError> {
    rows.into_iter().map(mapping::group_from_row).collect()
}

#[async_trait]
impl DirectoryRepository for SeaStore {
    async fn group_member_refs(&self, org: OrgId, role: Option<Role>) -> Result<Vec<(UserId, Email)>, StoreError> {
        self.query_all(sql::group_member_refs(self.backend, org, role.as_ref()))
            .await?
            .iter()
            .map(|row| {
                let id: uuid::Uuid = row.try_get("", "id").map_err(store_err)?;
                let email: String = row.try_get("", "email").map_err(store_err)?;
                let email = Email::parse(&email).map_err(|e| StoreError::Corrupt(format!("user {id}: {e}")))?;
                Ok((UserId::from_uuid(id), email))
            })
            .collect()
    }

    async fn scim_token_by_hash(&self, hash: &TokenHash) -> Result<Option<ScimToken>, StoreError> {
        scim_token_by_hash(hash)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::scim_token_from_row)
            .transpose()
    }

    async fn scim_token(&self, org: OrgId, id: ScimTokenId) -> Result<Option<ScimToken>, StoreError> {
        scim_token::Entity::find_by_id(id.as_uuid())
            .filter(scim_token::Column::OrgId.eq(org.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::scim_token_from_row)
            .transpose()
    }

    async fn scim_tokens(&self, org: OrgId, page: PageRequest) -> Result<Page<ScimToken>, StoreError> {
        let rows = self.query_all(sql::scim_token_page(self.backend, org, page)).await?;
        let total = match rows.first() {
            Some(row) => count_of(row, "total_rows")?,
            None if page.offset() == 0 => 0,
            None => self.count(sql::scim_token_count(self.backend, org)).await?,
        };
        let items = rows
            .iter()
            .map(|row| {
                mapping::scim_token_from_row(scim_token::Model::from_query_result(row, "t_").map_err(store_err)?)
            })
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: Some(total),
        })
    }

    async fn profiles(&self, org: OrgId, memberships: &[MembershipId]) -> Result<Vec<DirectoryProfile>, StoreError> {
        if memberships.is_empty() {
            return Ok(Vec::new());
        }
        let rows = directory_profile::Entity::find()
            .filter(directory_profile::Column::OrgId.eq(org.as_uuid()))
            .filter(directory_profile::Column::MembershipId.is_in(mapping::uuids(memberships, |m| m.as_uuid())))
            .all(&self.db)
            .await
            .map_err(store_err)?;
        profiles(rows)
    }

    async fn profile_by_user_name(&self, org: OrgId, key: &str) -> Result<Option<DirectoryProfile>, StoreError> {
        profile_by_user_name(org, key)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::profile_from_row)
            .transpose()
    }

    async fn profiles_by_external_id(
        &self,
        org: OrgId,
        external_id: &str,
    ) -> Result<Vec<DirectoryProfile>, StoreError> {
        let q = profiles_where(org, directory_profile::Column::ExternalId, external_id.to_owned());
        profiles(q.all(&self.db).await.map_err(store_err)?)
    }

    async fn profiles_by_email(&self, org: OrgId, email: &Email) -> Result<Vec<DirectoryProfile>, StoreError> {
        let q = profiles_where(org, directory_profile::Column::Email, email.as_str().to_owned());
        profiles(q.all(&self.db).await.map_err(store_err)?)
    }

    async fn directory_groups(&self, org: OrgId, roles: &[RoleId]) -> Result<Vec<DirectoryGroup>, StoreError> {
        if roles.is_empty() {
            return Ok(Vec::new());
        }
        let rows = directory_group::Entity::find()
            .filter(directory_group::Column::OrgId.eq(org.as_uuid()))
            .filter(directory_group::Column::RoleId.is_in(mapping::uuids(roles, |r| r.as_uuid())))
            .all(&self.db)
            .await
            .map_err(store_err)?;
        groups(rows)
    }

    async fn directory_groups_by_external_id(
        &self,
        org: OrgId,
        external_id: &str,
    ) -> Result<Vec<DirectoryGroup>, StoreError> {
        groups(
            groups_by_external_id(org, external_id)
                .all(&self.db)
                .await
                .map_err(store_err)?,
        )
    }
}

#[async_trait]
impl MailRepository for SeaStore {
    async fn smtp_settings(&self, org: OrgId) -> Result<Option<SmtpSettings>, StoreError> {
        self.load_data_keys(&[org.as_uuid()]).await?;
        smtp_settings::Entity::find_by_id(org.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(|s| mapping::smtp_from_row(s, &*self.cipher))
            .transpose()
    }

    async fn mail(&self, id: MailId) -> Result<Option<Mail>, StoreError> {
        let Some(m) = mail::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        self.load_data_keys(&[m.org_id]).await?;
        mapping::mail_from_row(m, &*self.cipher).map(Some)
    }
}

#[async_trait]
impl org_ports::SettingsRepository for SeaStore {
    async fn oauth_credentials(
        &self,
        org: OrgId,
        provider: org_domain::credentials::OAuthProvider,
    ) -> Result<Option<org_domain::credentials::OAuthCredentials>, StoreError> {
        self.load_data_keys(&[org.as_uuid()]).await?;
        oauth_credential::Entity::find()
            .filter(oauth_credential::Column::OrgId.eq(org.as_uuid()))
            .filter(oauth_credential::Column::Provider.eq(provider.as_str()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(|m| mapping::oauth_from_row(m, &*self.cipher))
            .transpose()
    }

    async fn billing_credentials(
        &self,
        org: OrgId,
        provider: org_domain::credentials::BillingProvider,
    ) -> Result<Option<org_domain::credentials::BillingCredentials>, StoreError> {
        self.load_data_keys(&[org.as_uuid()]).await?;
        billing_credential::Entity::find()
            .filter(billing_credential::Column::OrgId.eq(org.as_uuid()))
            .filter(billing_credential::Column::Provider.eq(provider.as_str()))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(|m| mapping::billing_from_row(m, &*self.cipher))
            .transpose()
    }

    async fn branding(&self, org: OrgId) -> Result<Option<org_domain::branding::Branding>, StoreError> {
        org_branding::Entity::find_by_id(org.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::branding_from_row)
            .transpose()
    }

    async fn custom_domain(&self, org: OrgId) -> Result<Option<org_domain::custom_domain::CustomDomain>, StoreError> {
        custom_domain::Entity::find_by_id(org.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(mapping::custom_domain_from_row)
            .transpose()
    }

    async fn domain_claims(
        &self,
        domain: &org_domain::custom_domain::DomainName,
        except: OrgId,
    ) -> Result<Vec<org_ports::DomainClaim>, StoreError> {
        // `ix_custom_domains_domain`: a seek on the domain, in `(created_at, org_id)` order.
        let rows = custom_domain::Entity::find()
            .filter(custom_domain::Column::Domain.eq(domain.as_str()))
            .filter(custom_domain::Column::OrgId.ne(except.as_uuid()))
            .order_by_asc(custom_domain::Column::CreatedAt)
            .order_by_asc(custom_domain::Column::OrgId)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.org_id).collect();
        let deleted: std::collections::HashSet<uuid::Uuid> = org::Entity::find()
            .select_only()
            .column(org::Column::Id)
            .filter(org::Column::Id.is_in(ids))
            .filter(org::Column::DeletedAt.is_not_null())
            .into_tuple::<uuid::Uuid>()
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .collect();
        rows.into_iter()
            .map(|r| {
                let org_deleted = deleted.contains(&r.org_id);
                Ok(org_ports::DomainClaim {
                    claim: mapping::custom_domain_from_row(r)?,
                    org_deleted,
                })
            })
            .collect()
    }
}
