//! The read side: every repository port, with the orderings and filters of the in-memory
//! reference store. Each read does a bounded amount of work: the hot ones (`org_context`,
//! `session_with_user`, `member_page`, audit and delivery pages, `audit_head`) are one
//! statement each, an index seek and at most a page of rows; unfiltered totals come from counts
//! kept at write time, and keyset pages never count.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::webhook::{Delivery, DeliveryStatus, Webhook};
use org_domain::{
    CustomRole, DeliveryId, Email, Invitation, InvitationId, InvitationStatus, Membership, MembershipStatus, OrgId,
    OrgStatus, Organization, Role, RoleSlug, Session, SessionId, Slug, TokenHash, User, UserId, WebhookId,
};
use org_ports::{
    AuditEntry, AuditFilter, AuditLog, AuditRepository, DeliveryFilter, InvitationRepository, MemberQuery, MemberRow,
    MembershipRepository, OrgContext, OrgFilter, OrgRepository, OutboxEvent, OutboxRepository, Page, PageRequest,
    RoleRepository, SessionRepository, StoreError, UserRepository, WebhookRepository,
};
use sea_orm::sea_query::LikeExpr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, RelationTrait, Select,
};

use crate::SeaStore;
use crate::entities::{audit, delivery, event, head, invitation, membership, org, role, session, user, webhook};
use crate::error::store_err;
use crate::mapping;
use crate::sql::{
    AUDIT_COLS, DELIVERY_COLS, MEMBERSHIP_COLS, ORG_COLS, ROLE_COLS, SESSION_COLS, Sql, USER_COLS, joined,
};

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

    fn sql(&self, text: &str) -> Sql {
        Sql::new(self.backend, text)
    }

    async fn query_all(&self, q: Sql) -> Result<Vec<QueryResult>, StoreError> {
        self.db.query_all_raw(q.statement()).await.map_err(store_err)
    }

    async fn query_one(&self, q: Sql) -> Result<Option<QueryResult>, StoreError> {
        self.db.query_one_raw(q.statement()).await.map_err(store_err)
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

fn offset_value(page: PageRequest) -> i64 {
    i64::try_from(page.offset()).unwrap_or(i64::MAX)
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
        // One statement: the live org by its slug (ux_orgs_slug_live), the user's membership
        // (ux_memberships_org_user) and its custom role (ux_org_roles_slug).
        let mut q = self.sql(&format!(
            "SELECT {}, {}, {} FROM orgs o LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = ",
            *ORG_COLS, *MEMBERSHIP_COLS, *ROLE_COLS
        ));
        q.push_bind(user.as_uuid())
            .push(" LEFT JOIN org_roles r ON r.org_id = m.org_id AND r.slug = m.custom_role WHERE o.slug = ")
            .push_bind(slug.as_str())
            .push(" AND o.deleted_at IS NULL");
        self.query_one(q).await?.as_ref().map(context_from_row).transpose()
    }

    async fn orgs_of_member(
        &self,
        user: UserId,
        status: Option<OrgStatus>,
        page: PageRequest,
    ) -> Result<Page<OrgContext>, StoreError> {
        // One statement: the user's active memberships (ix_memberships_user), their orgs and
        // roles, and the number of matches (a window count, computed before LIMIT).
        let where_clause = |q: &mut Sql| {
            q.push(" WHERE m.user_id = ")
                .push_bind(user.as_uuid())
                .push(" AND m.status = 'active' AND o.deleted_at IS NULL");
            if let Some(s) = status {
                q.push(" AND o.status = ").push_bind(s.as_str());
            }
        };
        let mut q = self.sql(&format!(
            "SELECT {}, {}, {}, COUNT(*) OVER () AS total_rows FROM memberships m JOIN orgs o ON o.id = m.org_id \
             LEFT JOIN org_roles r ON r.org_id = m.org_id AND r.slug = m.custom_role",
            *ORG_COLS, *MEMBERSHIP_COLS, *ROLE_COLS
        ));
        where_clause(&mut q);
        q.push(" ORDER BY m.created_at, o.id LIMIT ")
            .push_bind(i64::from(page.limit))
            .push(" OFFSET ")
            .push_bind(offset_value(page));
        let rows = self.query_all(q).await?;
        let total = match rows.first() {
            Some(row) => count_of(row, "total_rows")?,
            None if page.offset() == 0 => 0,
            None => {
                let mut q = self.sql("SELECT COUNT(*) AS total_rows FROM memberships m JOIN orgs o ON o.id = m.org_id");
                where_clause(&mut q);
                match self.query_one(q).await? {
                    Some(row) => count_of(&row, "total_rows")?,
                    None => 0,
                }
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
}

/// The `WHERE` of a member list: the org and the filters (no keyset, no paging).
fn member_filters(q: &mut Sql, org: OrgId, role: Option<&Role>, status: Option<MembershipStatus>) {
    q.push(" WHERE m.org_id = ").push_bind(org.as_uuid());
    if let Some(r) = role {
        q.push(" AND m.role = ").push_bind(r.as_str());
    }
    if let Some(s) = status {
        q.push(" AND m.status = ").push_bind(s.as_str());
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

    async fn member_page(&self, org: OrgId, query: &MemberQuery) -> Result<Vec<MemberRow>, StoreError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        // One statement: an index seek on (org_id[, role | status], created_at, user_id), then
        // `limit` rows in index order, each joined to its user by primary key.
        let mut q = self.sql(&format!(
            "SELECT {}, {} FROM memberships m JOIN users u ON u.id = m.user_id",
            *MEMBERSHIP_COLS, *USER_COLS
        ));
        member_filters(&mut q, org, query.role.as_ref(), query.status);
        if let Some((at, user)) = query.after {
            // (created_at, user_id) > (at, user), written so both planners seek the index on
            // created_at and check the tie-break on the index entries.
            let at = q.bind(at);
            q.push(&format!(" AND m.created_at >= {at} AND (m.created_at > {at} OR m.user_id > "))
                .push_bind(user.as_uuid())
                .push(")");
        }
        q.push(" ORDER BY m.created_at, m.user_id LIMIT ")
            .push_bind(i64::from(query.limit));
        if query.offset > 0 {
            q.push(" OFFSET ").push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        }
        self.query_all(q)
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
        let mut q = self.sql("SELECT COUNT(*) AS total_rows FROM memberships m");
        member_filters(&mut q, org, Some(&role), status);
        match self.query_one(q).await? {
            Some(row) => count_of(&row, "total_rows"),
            None => Ok(0),
        }
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
        session::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(|row| mapping::session_from_row(row, &*self.cipher))
            .transpose()
    }

    async fn session_with_user(&self, id: SessionId) -> Result<Option<(Session, User)>, StoreError> {
        // One statement: two primary-key lookups.
        let mut q = self.sql(&format!(
            "SELECT {}, {} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ",
            *SESSION_COLS, *USER_COLS
        ));
        q.push_bind(id.as_uuid());
        let Some(row) = self.query_one(q).await? else {
            return Ok(None);
        };
        let s = session::Model::from_query_result(&row, "s_").map_err(store_err)?;
        let u = user::Model::from_query_result(&row, "u_").map_err(store_err)?;
        Ok(Some((mapping::session_from_row(s, &*self.cipher)?, mapping::user_from_row(u)?)))
    }

    async fn session_by_refresh_hash(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        let hex = mapping::hash_to_row(hash);
        session::Entity::find()
            .filter(
                Condition::any()
                    .add(session::Column::RefreshHash.eq(hex.clone()))
                    .add(session::Column::PreviousHash.eq(hex)),
            )
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(|row| mapping::session_from_row(row, &*self.cipher))
            .transpose()
    }
}

/// The `WHERE` of an audit page: the log and the filters, without the keyset position.
fn audit_filters(q: &mut Sql, log: &str, filter: &AuditFilter) {
    q.push(" WHERE a.log_key = ").push_bind(log.to_owned());
    for (col, value) in [
        ("action", &filter.action),
        ("actor_id", &filter.actor_id),
        ("target_type", &filter.target_type),
        ("target_id", &filter.target_id),
    ] {
        if let Some(v) = value {
            q.push(&format!(" AND a.{col} = ")).push_bind(v.clone());
        }
    }
    if let Some(since) = filter.since {
        q.push(" AND a.created_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        q.push(" AND a.created_at < ").push_bind(until);
    }
}

fn audit_filtered(f: &AuditFilter) -> bool {
    f.action.is_some()
        || f.actor_id.is_some()
        || f.target_type.is_some()
        || f.target_id.is_some()
        || f.since.is_some()
        || f.until.is_some()
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

    /// The kept delivery count of an endpoint.
    async fn delivery_kept_count(&self, webhook: WebhookId) -> Result<u64, StoreError> {
        let mut q = self.sql("SELECT deliveries AS kept_total FROM webhook_delivery_counts WHERE webhook_id = ");
        q.push_bind(webhook.as_uuid());
        match self.query_one(q).await? {
            Some(row) => count_of(&row, "kept_total"),
            None => Ok(0),
        }
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
        // Newest first on (log_key[, filter column], created_at, seq), read backwards from the
        // keyset position or the offset. Unfiltered offset pages carry the log's kept count in
        // the same statement; filtered ones count their matches; keyset pages count nothing.
        let key = mapping::log_key(log);
        let head_key = format!("audit:{key}");
        let filtered = audit_filtered(filter);
        let kept = !filtered && filter.before.is_none();
        let mut q = self.sql(&format!("SELECT {}", *AUDIT_COLS));
        if kept {
            q.push(", (SELECT h.entries FROM log_heads h WHERE h.log_key = ")
                .push_bind(head_key.clone())
                .push(") AS kept_total");
        }
        q.push(" FROM audit_entries a");
        audit_filters(&mut q, &key, filter);
        if let Some((at, seq)) = filter.before {
            let at = q.bind(at);
            q.push(&format!(" AND a.created_at <= {at} AND (a.created_at < {at} OR a.seq < "))
                .push_bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .push(")");
        }
        q.push(" ORDER BY a.created_at DESC, a.seq DESC LIMIT ")
            .push_bind(i64::from(page.limit))
            .push(" OFFSET ")
            .push_bind(offset_value(page));
        let rows = self.query_all(q).await?;
        let items = audit_rows(&rows)?;
        let total = if filter.before.is_some() {
            None
        } else if kept {
            Some(match rows.first() {
                Some(row) => count_of(row, "kept_total")?,
                None => self.audit_kept_count(head_key).await?,
            })
        } else {
            let mut q = self.sql("SELECT COUNT(*) AS total_rows FROM audit_entries a");
            audit_filters(&mut q, &key, filter);
            Some(match self.query_one(q).await? {
                Some(row) => count_of(&row, "total_rows")?,
                None => 0,
            })
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
        // One statement: the head row by key, its newest entry by (log_key, seq).
        let key = mapping::log_key(log);
        let mut q = self.sql(&format!(
            "SELECT {} FROM log_heads h JOIN audit_entries a ON a.log_key = ",
            *AUDIT_COLS
        ));
        q.push_bind(key.clone())
            .push(" AND a.seq = h.seq WHERE h.log_key = ")
            .push_bind(format!("audit:{key}"));
        let rows: Vec<QueryResult> = self.query_one(q).await?.into_iter().collect();
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
        // Newest first on (webhook_id[, status], created_at, id), like the audit pages; the
        // unfiltered total is the endpoint's kept count.
        let filtered = filter.event_type.is_some() || filter.delivered.is_some() || filter.status.is_some();
        let kept = !filtered && filter.before.is_none();
        let where_clause = |q: &mut Sql| {
            q.push(" WHERE d.webhook_id = ").push_bind(webhook.as_uuid());
            if let Some(t) = &filter.event_type {
                q.push(" AND d.event_type = ").push_bind(t.clone());
            }
            match filter.delivered {
                Some(true) => {
                    q.push(" AND d.status = ").push_bind(DeliveryStatus::Delivered.as_str());
                }
                Some(false) => {
                    q.push(" AND d.status <> ").push_bind(DeliveryStatus::Delivered.as_str());
                }
                None => {}
            }
            if let Some(s) = filter.status {
                q.push(" AND d.status = ").push_bind(s.as_str());
            }
        };
        let mut q = self.sql(&format!("SELECT {}", *DELIVERY_COLS));
        if kept {
            q.push(", (SELECT c.deliveries FROM webhook_delivery_counts c WHERE c.webhook_id = ")
                .push_bind(webhook.as_uuid())
                .push(") AS kept_total");
        }
        q.push(" FROM webhook_deliveries d");
        where_clause(&mut q);
        if let Some((at, id)) = filter.before {
            let at = q.bind(at);
            q.push(&format!(" AND d.created_at <= {at} AND (d.created_at < {at} OR d.id < "))
                .push_bind(id.as_uuid())
                .push(")");
        }
        q.push(" ORDER BY d.created_at DESC, d.id DESC LIMIT ")
            .push_bind(i64::from(page.limit))
            .push(" OFFSET ")
            .push_bind(offset_value(page));
        let rows = self.query_all(q).await?;
        let items = rows
            .iter()
            .map(|row| {
                mapping::delivery_from_row(delivery::Model::from_query_result(row, "d_").map_err(store_err)?)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let total = if filter.before.is_some() {
            None
        } else if kept {
            Some(match rows.first() {
                Some(row) => count_of(row, "kept_total")?,
                None => self.delivery_kept_count(webhook).await?,
            })
        } else {
            let mut q = self.sql("SELECT COUNT(*) AS total_rows FROM webhook_deliveries d");
            where_clause(&mut q);
            Some(match self.query_one(q).await? {
                Some(row) => count_of(&row, "total_rows")?,
                None => 0,
            })
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
