//! Hand-written SQL for the hot reads: statements with numbered parameters in each dialect's
//! form (`$n` on PostgreSQL, `?n` on SQLite) and joined rows read back per table prefix.
//!
//! The text of a statement depends only on which optional clauses it has, never on values, so
//! sqlx's per-connection prepared-statement cache hits on every repeat.

use std::sync::LazyLock;

use sea_orm::{DbBackend, FromQueryResult, IdenStatic, Iterable, QueryResult, Statement, Value};

use crate::entities::{audit, delivery, membership, org, role, session, user};

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

    /// The text (tests and query plans).
    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        &self.text
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
pub(crate) static ORG_COLS: LazyLock<String> = LazyLock::new(|| select_list::<org::Column>("o"));
pub(crate) static MEMBERSHIP_COLS: LazyLock<String> = LazyLock::new(|| select_list::<membership::Column>("m"));
pub(crate) static ROLE_COLS: LazyLock<String> = LazyLock::new(|| select_list::<role::Column>("r"));
pub(crate) static USER_COLS: LazyLock<String> = LazyLock::new(|| select_list::<user::Column>("u"));
pub(crate) static SESSION_COLS: LazyLock<String> = LazyLock::new(|| select_list::<session::Column>("s"));
pub(crate) static AUDIT_COLS: LazyLock<String> = LazyLock::new(|| select_list::<audit::Column>("a"));
pub(crate) static DELIVERY_COLS: LazyLock<String> = LazyLock::new(|| select_list::<delivery::Column>("d"));

/// The row of table `alias` in a joined result; `None` when an outer join found none (its
/// `id` is NULL).
pub(crate) fn joined<M: FromQueryResult>(row: &QueryResult, alias: &str, id_col: &str) -> Result<Option<M>, sea_orm::DbErr> {
    let prefix = format!("{alias}_");
    let id: Option<uuid::Uuid> = row.try_get(&prefix, id_col)?;
    if id.is_none() {
        return Ok(None);
    }
    M::from_query_result(row, &prefix).map(Some)
}
