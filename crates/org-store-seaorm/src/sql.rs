//! Hand-written SQL for the hot reads: statements with numbered parameters in each dialect's
//! form (`$n` on PostgreSQL, `?n` on SQLite) and joined rows read back per table prefix.
//!
//! The text of a statement depends only on which optional clauses it has, never on values, so
//! sqlx's per-connection prepared-statement cache hits on every repeat.

use std::sync::LazyLock;

use org_domain::webhook::DeliveryStatus;
use org_domain::{MembershipStatus, OrgId, OrgStatus, Role, SessionId, Slug, UserId, WebhookId};
use org_ports::{AuditFilter, AuditLog, DeliveryFilter, MemberQuery, PageRequest};
use sea_orm::{DbBackend, FromQueryResult, IdenStatic, Iterable, QueryResult, Statement, Value};

use crate::entities::{audit, delivery, membership, org, role, scim_token, session, user};
use crate::mapping;

/// A statement being built: text and the values bound so far.
#[derive(Debug)]
pub(crate) struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub(crate) fn new(backend: DbBackend, text: &str) -> Self {
        Self {
            backend,
            text: text.to_owned(),
            values: Vec::new(),
        }
    }

    /// Appends text.
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Binds a value and returns its placeholder.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        let n = self.values.len();
        match self.backend {
            DbBackend::Postgres => format!("${n}"),
            _ => format!("?{n}"),
        }
    }

    /// Binds a value and appends its placeholder.
    pub(crate) fn push_bind(&mut self, value: impl Into<Value>) -> &mut Self {
        let p = self.bind(value);
        self.text.push_str(&p);
        self
    }

    pub(crate) fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// `alias.col AS alias_col, …` for every column of an entity.
fn select_list<C: Iterable + IdenStatic>(alias: &str) -> String {
    C::iter()
        .map(|c| format!("{alias}.{col} AS {alias}_{col}", col = c.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Column lists of the joined reads, built once.
static ORG_COLS: LazyLock<String> = LazyLock::new(|| select_list::<org::Column>("o"));
static MEMBERSHIP_COLS: LazyLock<String> = LazyLock::new(|| select_list::<membership::Column>("m"));
static ROLE_COLS: LazyLock<String> = LazyLock::new(|| select_list::<role::Column>("r"));
static USER_COLS: LazyLock<String> = LazyLock::new(|| select_list::<user::Column>("u"));
static SESSION_COLS: LazyLock<String> = LazyLock::new(|| select_list::<session::Column>("s"));
static AUDIT_COLS: LazyLock<String> = LazyLock::new(|| select_list::<audit::Column>("a"));
static DELIVERY_COLS: LazyLock<String> = LazyLock::new(|| select_list::<delivery::Column>("d"));
static SCIM_TOKEN_COLS: LazyLock<String> = LazyLock::new(|| select_list::<scim_token::Column>("t"));

/// The row of table `alias` in a joined result; `None` when an outer join found none (its
/// `id` is NULL).
pub(crate) fn joined<M: FromQueryResult>(
    row: &QueryResult,
    alias: &str,
    id_col: &str,
) -> Result<Option<M>, sea_orm::DbErr> {
    let prefix = format!("{alias}_");
    let id: Option<uuid::Uuid> = row.try_get(&prefix, id_col)?;
    if id.is_none() {
        return Ok(None);
    }
    M::from_query_result(row, &prefix).map(Some)
}

// ---------------------------------------------------------------------------------------------
// The statements of the hot reads (also handed to query-plan checks, see
// `SeaStore::hot_read_statements`).

/// The org by its live slug (`ux_orgs_slug_live`), the user's membership of any status
/// (`ux_memberships_org_user`) and its custom role (`ux_org_roles_slug`).
pub(crate) fn org_context(backend: DbBackend, slug: &Slug, user: UserId) -> Sql {
    let mut q = Sql::new(
        backend,
        &format!(
            "SELECT {}, {}, {} FROM orgs o LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = ",
            *ORG_COLS, *MEMBERSHIP_COLS, *ROLE_COLS
        ),
    );
    q.push_bind(user.as_uuid())
        .push(" LEFT JOIN org_roles r ON r.org_id = m.org_id AND r.slug = m.custom_role WHERE o.slug = ")
        .push_bind(slug.as_str())
        .push(" AND o.deleted_at IS NULL");
    q
}

/// The `WHERE` of the orgs of a member: active memberships of live orgs.
fn member_orgs_filters(q: &mut Sql, user: UserId, status: Option<OrgStatus>) {
    q.push(" WHERE m.user_id = ")
        .push_bind(user.as_uuid())
        .push(" AND m.status = 'active' AND o.deleted_at IS NULL");
    if let Some(s) = status {
        q.push(" AND o.status = ").push_bind(s.as_str());
    }
}

/// The user's active memberships (`ix_memberships_user`, in its order) with their orgs and
/// roles, oldest membership first, and the number of matches as `total_rows` (a window count, computed
/// before `LIMIT`).
pub(crate) fn orgs_of_member(backend: DbBackend, user: UserId, status: Option<OrgStatus>, page: PageRequest) -> Sql {
    let mut q = Sql::new(
        backend,
        &format!(
            "SELECT {}, {}, {}, COUNT(*) OVER () AS total_rows FROM memberships m JOIN orgs o ON o.id = m.org_id \
             LEFT JOIN org_roles r ON r.org_id = m.org_id AND r.slug = m.custom_role",
            *ORG_COLS, *MEMBERSHIP_COLS, *ROLE_COLS
        ),
    );
    member_orgs_filters(&mut q, user, status);
    q.push(" ORDER BY m.created_at, m.org_id LIMIT ")
        .push_bind(i64::from(page.limit))
        .push(" OFFSET ")
        .push_bind(offset_value(page));
    q
}

/// The number of a user's memberships `orgs_of_member` lists (for a page past the end).
pub(crate) fn orgs_of_member_count(backend: DbBackend, user: UserId, status: Option<OrgStatus>) -> Sql {
    let mut q = Sql::new(
        backend,
        "SELECT COUNT(*) AS total_rows FROM memberships m JOIN orgs o ON o.id = m.org_id",
    );
    member_orgs_filters(&mut q, user, status);
    q
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

/// One page of members with their users: an index seek on `(org_id[, role | status],
/// created_at, user_id)`, then `limit` rows in index order, each joined to its user by primary
/// key. The keyset `(created_at, user_id) > (at, user)` is written so that both planners seek
/// the index on `created_at` and check the tie-break on the index entries.
pub(crate) fn member_page(backend: DbBackend, org: OrgId, query: &MemberQuery) -> Sql {
    let mut q = Sql::new(
        backend,
        &format!(
            "SELECT {}, {} FROM memberships m JOIN users u ON u.id = m.user_id",
            *MEMBERSHIP_COLS, *USER_COLS
        ),
    );
    member_filters(&mut q, org, query.role.as_ref(), query.status);
    if let Some((at, user)) = query.after {
        let at = q.bind(at);
        q.push(&format!(
            " AND m.created_at >= {at} AND (m.created_at > {at} OR m.user_id > "
        ))
        .push_bind(user.as_uuid())
        .push(")");
    }
    q.push(" ORDER BY m.created_at, m.user_id LIMIT ")
        .push_bind(i64::from(query.limit));
    if query.offset > 0 {
        q.push(" OFFSET ")
            .push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
    }
    q
}

/// A group's member list: user id and e-mail of the active members (of one role), in join
/// order, from the `(org_id, role | status, created_at, user_id)` indexes.
pub(crate) fn group_member_refs(backend: DbBackend, org: OrgId, role: Option<&Role>) -> Sql {
    let mut q = Sql::new(
        backend,
        "SELECT u.id AS id, u.email AS email FROM memberships m JOIN users u ON u.id = m.user_id",
    );
    member_filters(&mut q, org, role, Some(MembershipStatus::Active));
    q.push(" ORDER BY m.created_at, m.user_id");
    q
}

/// The number of members matching a role filter (and maybe a status): an index-only count.
pub(crate) fn member_count(backend: DbBackend, org: OrgId, role: &Role, status: Option<MembershipStatus>) -> Sql {
    let mut q = Sql::new(backend, "SELECT COUNT(*) AS total_rows FROM memberships m");
    member_filters(&mut q, org, Some(role), status);
    q
}

/// A session and its user: two primary-key lookups. With `org`, also the live org of that
/// slug (`ux_orgs_slug_live`), the user's membership there (`ux_memberships_org_user`) and its
/// custom role (`ux_org_roles_slug`): the whole context of an org-scoped request in one
/// statement.
pub(crate) fn session_context(backend: DbBackend, id: SessionId, org: Option<&Slug>) -> Sql {
    let Some(slug) = org else {
        let mut q = Sql::new(
            backend,
            &format!(
                "SELECT {}, {} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ",
                *SESSION_COLS, *USER_COLS
            ),
        );
        q.push_bind(id.as_uuid());
        return q;
    };
    let mut q = Sql::new(
        backend,
        &format!(
            "SELECT {}, {}, {}, {}, {} FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN orgs o ON o.slug = ",
            *SESSION_COLS, *USER_COLS, *ORG_COLS, *MEMBERSHIP_COLS, *ROLE_COLS
        ),
    );
    q.push_bind(slug.as_str())
        .push(
            " AND o.deleted_at IS NULL LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = s.user_id \
             LEFT JOIN org_roles r ON r.org_id = m.org_id AND r.slug = m.custom_role WHERE s.id = ",
        )
        .push_bind(id.as_uuid());
    q
}

/// Whether an audit filter narrows the log (the keyset position aside).
pub(crate) fn audit_filtered(f: &AuditFilter) -> bool {
    f.action.is_some()
        || f.actor_id.is_some()
        || f.target_type.is_some()
        || f.target_id.is_some()
        || f.since.is_some()
        || f.until.is_some()
}

/// The head key of an audit log in `log_heads`.
pub(crate) fn audit_head_key(log: AuditLog) -> String {
    format!("audit:{}", mapping::log_key(log))
}

/// The `WHERE` of an audit page: the log and the filters, without the keyset position.
fn audit_filters(q: &mut Sql, log: AuditLog, filter: &AuditFilter) {
    q.push(" WHERE a.log_key = ").push_bind(mapping::log_key(log));
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

/// One audit page, newest first on `(log_key[, filter column], created_at, seq)`, read
/// backwards from the keyset position or the offset. An unfiltered offset page also carries
/// the log's kept count as `kept_total` (an uncorrelated subquery, evaluated once).
pub(crate) fn audit_page(backend: DbBackend, log: AuditLog, filter: &AuditFilter, page: PageRequest) -> Sql {
    let mut q = Sql::new(backend, &format!("SELECT {}", *AUDIT_COLS));
    if !audit_filtered(filter) && filter.before.is_none() {
        q.push(", (SELECT h.entries FROM log_heads h WHERE h.log_key = ")
            .push_bind(audit_head_key(log))
            .push(") AS kept_total");
    }
    q.push(" FROM audit_entries a");
    audit_filters(&mut q, log, filter);
    if let Some((at, seq)) = filter.before {
        let at = q.bind(at);
        q.push(&format!(
            " AND a.created_at <= {at} AND (a.created_at < {at} OR a.seq < "
        ))
        .push_bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .push(")");
    }
    q.push(" ORDER BY a.created_at DESC, a.seq DESC LIMIT ")
        .push_bind(i64::from(page.limit))
        .push(" OFFSET ")
        .push_bind(offset_value(page));
    q
}

/// The number of entries a filtered audit page matches.
pub(crate) fn audit_count(backend: DbBackend, log: AuditLog, filter: &AuditFilter) -> Sql {
    let mut q = Sql::new(backend, "SELECT COUNT(*) AS total_rows FROM audit_entries a");
    audit_filters(&mut q, log, filter);
    q
}

/// The newest entry of a log: its head row by key, then the entry by `(log_key, seq)`.
pub(crate) fn audit_head(backend: DbBackend, log: AuditLog) -> Sql {
    let mut q = Sql::new(
        backend,
        &format!(
            "SELECT {} FROM log_heads h JOIN audit_entries a ON a.log_key = ",
            *AUDIT_COLS
        ),
    );
    q.push_bind(mapping::log_key(log))
        .push(" AND a.seq = h.seq WHERE h.log_key = ")
        .push_bind(audit_head_key(log));
    q
}

/// Whether a delivery filter narrows the endpoint's deliveries (the keyset position aside).
pub(crate) fn delivery_filtered(f: &DeliveryFilter) -> bool {
    f.event_type.is_some() || f.delivered.is_some() || f.status.is_some()
}

fn delivery_filters(q: &mut Sql, webhook: WebhookId, filter: &DeliveryFilter) {
    q.push(" WHERE d.webhook_id = ").push_bind(webhook.as_uuid());
    if let Some(t) = &filter.event_type {
        q.push(" AND d.event_type = ").push_bind(t.clone());
    }
    match filter.delivered {
        Some(true) => {
            q.push(" AND d.status = ").push_bind(DeliveryStatus::Delivered.as_str());
        }
        Some(false) => {
            q.push(" AND d.status <> ")
                .push_bind(DeliveryStatus::Delivered.as_str());
        }
        None => {}
    }
    if let Some(s) = filter.status {
        q.push(" AND d.status = ").push_bind(s.as_str());
    }
}

/// One page of an endpoint's deliveries, newest first on `(webhook_id[, status], created_at,
/// id)`, like the audit pages; an unfiltered offset page carries the endpoint's kept count.
pub(crate) fn delivery_page(backend: DbBackend, webhook: WebhookId, filter: &DeliveryFilter, page: PageRequest) -> Sql {
    let mut q = Sql::new(backend, &format!("SELECT {}", *DELIVERY_COLS));
    if !delivery_filtered(filter) && filter.before.is_none() {
        q.push(", (SELECT c.deliveries FROM webhook_delivery_counts c WHERE c.webhook_id = ")
            .push_bind(webhook.as_uuid())
            .push(") AS kept_total");
    }
    q.push(" FROM webhook_deliveries d");
    delivery_filters(&mut q, webhook, filter);
    if let Some((at, id)) = filter.before {
        let at = q.bind(at);
        q.push(&format!(
            " AND d.created_at <= {at} AND (d.created_at < {at} OR d.id < "
        ))
        .push_bind(id.as_uuid())
        .push(")");
    }
    q.push(" ORDER BY d.created_at DESC, d.id DESC LIMIT ")
        .push_bind(i64::from(page.limit))
        .push(" OFFSET ")
        .push_bind(offset_value(page));
    q
}

/// The number of deliveries a filtered page matches.
pub(crate) fn delivery_count(backend: DbBackend, webhook: WebhookId, filter: &DeliveryFilter) -> Sql {
    let mut q = Sql::new(backend, "SELECT COUNT(*) AS total_rows FROM webhook_deliveries d");
    delivery_filters(&mut q, webhook, filter);
    q
}

/// The kept delivery count of an endpoint.
pub(crate) fn delivery_kept_count(backend: DbBackend, webhook: WebhookId) -> Sql {
    let mut q = Sql::new(
        backend,
        "SELECT deliveries AS total_rows FROM webhook_delivery_counts WHERE webhook_id = ",
    );
    q.push_bind(webhook.as_uuid());
    q
}

/// One page of an org's SCIM tokens, oldest first: a seek and a range of `(org_id,
/// created_at, id)` in index order, with the number of the org's tokens as `total_rows` (an
/// uncorrelated subquery, an index-only count evaluated once; a window count would make SQLite
/// sort the page again).
pub(crate) fn scim_token_page(backend: DbBackend, org: OrgId, page: PageRequest) -> Sql {
    let mut q = Sql::new(backend, &format!("SELECT {}", *SCIM_TOKEN_COLS));
    let org = q.bind(org.as_uuid());
    q.push(&format!(
        ", (SELECT COUNT(*) FROM scim_tokens c WHERE c.org_id = {org}) AS total_rows FROM scim_tokens t \
         WHERE t.org_id = {org} ORDER BY t.created_at, t.id LIMIT "
    ))
    .push_bind(i64::from(page.limit))
    .push(" OFFSET ")
    .push_bind(offset_value(page));
    q
}

/// The number of an org's SCIM tokens (for a page past the end).
pub(crate) fn scim_token_count(backend: DbBackend, org: OrgId) -> Sql {
    let mut q = Sql::new(
        backend,
        "SELECT COUNT(*) AS total_rows FROM scim_tokens t WHERE t.org_id = ",
    );
    q.push_bind(org.as_uuid());
    q
}

pub(crate) fn offset_value(page: PageRequest) -> i64 {
    i64::try_from(page.offset()).unwrap_or(i64::MAX)
}
