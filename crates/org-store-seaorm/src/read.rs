//! The read side: every repository port as SeaORM queries, with the orderings and filters of
//! the in-memory reference store.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use org_domain::webhook::{Delivery, DeliveryStatus, Webhook};
use org_domain::{
    DeliveryId, Email, Invitation, InvitationId, InvitationStatus, MembershipStatus, OrgId, OrgStatus, Organization,
    Session, SessionId, Slug, TokenHash, User, UserId, WebhookId,
};
use org_ports::{
    AuditEntry, AuditFilter, AuditLog, AuditRepository, DeliveryFilter, InvitationRepository, OrgFilter, OrgRepository,
    OutboxEvent, OutboxRepository, Page, PageRequest, SessionRepository, StoreError, UserRepository, WebhookRepository,
};
use sea_orm::sea_query::LikeExpr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, JoinType, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, RelationTrait, Select,
};
use uuid::Uuid;

use crate::SeaStore;
use crate::entities::{audit, delivery, event, invitation, membership, org, role, session, user, webhook};
use crate::error::store_err;
use crate::mapping;

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
    /// A page and its total, read in one snapshot.
    async fn paged<E>(&self, q: Select<E>, page: PageRequest) -> Result<(Vec<E::Model>, u64), StoreError>
    where
        E: EntityTrait,
        E::Model: Sync,
    {
        let tx = self.snapshot().await?;
        let out = paged(&tx, q, page).await?;
        finish(tx, out).await
    }
}

/// Builds aggregates from org rows: loads their memberships and roles in two queries.
async fn load_orgs<C: ConnectionTrait>(db: &C, rows: Vec<org::Model>) -> Result<Vec<Organization>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
    let mut members: HashMap<Uuid, Vec<membership::Model>> = HashMap::new();
    for m in membership::Entity::find()
        .filter(membership::Column::OrgId.is_in(ids.clone()))
        .order_by_asc(membership::Column::CreatedAt)
        .order_by_asc(membership::Column::Id)
        .all(db)
        .await
        .map_err(store_err)?
    {
        members.entry(m.org_id).or_default().push(m);
    }
    let mut roles: HashMap<Uuid, Vec<role::Model>> = HashMap::new();
    for r in role::Entity::find()
        .filter(role::Column::OrgId.is_in(ids))
        .order_by_asc(role::Column::CreatedAt)
        .order_by_asc(role::Column::Id)
        .all(db)
        .await
        .map_err(store_err)?
    {
        roles.entry(r.org_id).or_default().push(r);
    }
    rows.into_iter()
        .map(|o| {
            let m = members.remove(&o.id).unwrap_or_default();
            let r = roles.remove(&o.id).unwrap_or_default();
            mapping::org_from_rows(o, m, r)
        })
        .collect()
}

async fn load_org<C: ConnectionTrait>(db: &C, row: Option<org::Model>) -> Result<Option<Organization>, StoreError> {
    match row {
        None => Ok(None),
        Some(o) => Ok(load_orgs(db, vec![o]).await?.pop()),
    }
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
        let tx = self.snapshot().await?;
        let row = org::Entity::find()
            .filter(org::Column::Slug.eq(slug.as_str()))
            .filter(org::Column::DeletedAt.is_null())
            .one(&tx)
            .await
            .map_err(store_err)?;
        let org = load_org(&tx, row).await?;
        finish(tx, org).await
    }

    async fn org_by_id(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        let tx = self.snapshot().await?;
        let row = org::Entity::find_by_id(id.as_uuid())
            .one(&tx)
            .await
            .map_err(store_err)?;
        let org = load_org(&tx, row).await?;
        finish(tx, org).await
    }

    async fn orgs_of_member(
        &self,
        user: UserId,
        status: Option<OrgStatus>,
        page: PageRequest,
    ) -> Result<Page<Organization>, StoreError> {
        let mut q = org::Entity::find()
            .join(JoinType::InnerJoin, org::Relation::Membership.def())
            .filter(membership::Column::UserId.eq(user.as_uuid()))
            .filter(membership::Column::Status.eq(MembershipStatus::Active.as_str()))
            .filter(org::Column::DeletedAt.is_null());
        if let Some(s) = status {
            q = q.filter(org::Column::Status.eq(s.as_str()));
        }
        let q = q
            .order_by_asc(membership::Column::CreatedAt)
            .order_by_asc(org::Column::Id);
        let tx = self.snapshot().await?;
        let (rows, total) = paged(&tx, q, page).await?;
        let items = load_orgs(&tx, rows).await?;
        finish(tx, Page { items, total }).await
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
        let tx = self.snapshot().await?;
        let (rows, total) = paged(&tx, q, page).await?;
        let items = load_orgs(&tx, rows).await?;
        finish(tx, Page { items, total }).await
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
            total,
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
            .map(mapping::session_from_row)
            .transpose()
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
            .map(mapping::session_from_row)
            .transpose()
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
        let mut q = audit::Entity::find().filter(audit::Column::LogKey.eq(mapping::log_key(log)));
        if let Some(a) = &filter.action {
            q = q.filter(audit::Column::Action.eq(a.as_str()));
        }
        if let Some(a) = &filter.actor_id {
            q = q.filter(audit::Column::ActorId.eq(a.as_str()));
        }
        if let Some(t) = &filter.target_type {
            q = q.filter(audit::Column::TargetType.eq(t.as_str()));
        }
        if let Some(t) = &filter.target_id {
            q = q.filter(audit::Column::TargetId.eq(t.as_str()));
        }
        if let Some(s) = filter.since {
            q = q.filter(audit::Column::CreatedAt.gte(s));
        }
        if let Some(u) = filter.until {
            q = q.filter(audit::Column::CreatedAt.lt(u));
        }
        if let Some((at, seq)) = filter.before {
            // Keyset: strictly older than (created_at, seq).
            let seq = i64::try_from(seq).unwrap_or(i64::MAX);
            q = q.filter(
                Condition::any().add(audit::Column::CreatedAt.lt(at)).add(
                    Condition::all()
                        .add(audit::Column::CreatedAt.eq(at))
                        .add(audit::Column::Seq.lt(seq)),
                ),
            );
        }
        let q = q
            .order_by_desc(audit::Column::CreatedAt)
            .order_by_desc(audit::Column::Seq);
        let (rows, total) = self.paged(q, page).await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(mapping::audit_from_row)
                .collect::<Result<_, _>>()?,
            total,
        })
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
        let mut q = delivery::Entity::find().filter(delivery::Column::WebhookId.eq(webhook.as_uuid()));
        if let Some(t) = &filter.event_type {
            q = q.filter(delivery::Column::EventType.eq(t.as_str()));
        }
        if let Some(delivered) = filter.delivered {
            let col = delivery::Column::Status;
            let s = DeliveryStatus::Delivered.as_str();
            q = q.filter(if delivered { col.eq(s) } else { col.ne(s) });
        }
        if let Some(s) = filter.status {
            q = q.filter(delivery::Column::Status.eq(s.as_str()));
        }
        if let Some((at, id)) = filter.before {
            // Keyset: strictly older than (created_at, id).
            q = q.filter(
                Condition::any().add(delivery::Column::CreatedAt.lt(at)).add(
                    Condition::all()
                        .add(delivery::Column::CreatedAt.eq(at))
                        .add(delivery::Column::Id.lt(id.as_uuid())),
                ),
            );
        }
        let q = q
            .order_by_desc(delivery::Column::CreatedAt)
            .order_by_desc(delivery::Column::Id);
        let (rows, total) = self.paged(q, page).await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(mapping::delivery_from_row)
                .collect::<Result<_, _>>()?,
            total,
        })
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
