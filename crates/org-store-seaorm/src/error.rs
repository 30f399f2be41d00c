//! Database errors to [`StoreError`]: constraint violations by index or constraint name
//! (PostgreSQL), by the indexed columns, the CHECK name or the trigger's message SQLite reports,
//! busy/serialization failures, and everything else.

use org_ports::{ConflictKind, StoreError, UniqueKey};
use sea_orm::{DbErr, RuntimeErr};

/// What a database error means to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DbFailure {
    /// A semantic error for the caller.
    Store(StoreError),
    /// SQLite is busy/locked: retry the whole transaction.
    Busy,
    /// A SQLite foreign-key violation: SQLite names no constraint, so the write that caused it
    /// decides what it means (`write.rs`); on its own it means a referenced row is gone.
    ForeignKey,
}

/// Unique indexes (and primary keys not named `id`): PostgreSQL name, SQLite's
/// `table.column, …` text, meaning.
const UNIQUES: &[(&str, &str, Outcome)] = &[
    ("ux_orgs_slug_live", "orgs.slug", Outcome::Unique(UniqueKey::OrgSlug)),
    ("ux_users_email", "users.email", Outcome::Unique(UniqueKey::UserEmail)),
    (
        "ux_memberships_org_user",
        "memberships.org_id, memberships.user_id",
        Outcome::Unique(UniqueKey::Membership),
    ),
    (
        "ux_memberships_one_owner",
        "memberships.org_id",
        Outcome::Unique(UniqueKey::OneOwner),
    ),
    (
        "ux_org_roles_slug",
        "org_roles.org_id, org_roles.slug",
        Outcome::Unique(UniqueKey::RoleSlug),
    ),
    (
        "ux_org_roles_name",
        "org_roles.org_id, org_roles.name_key",
        Outcome::Unique(UniqueKey::RoleName),
    ),
    (
        "ux_invitations_pending",
        "invitations.org_id, invitations.email",
        Outcome::Unique(UniqueKey::PendingInvitation),
    ),
    (
        "ux_webhooks_org_name_live",
        "webhooks.org_id, webhooks.name",
        Outcome::Unique(UniqueKey::WebhookName),
    ),
    (
        "ux_scim_tokens_hash",
        "scim_tokens.token_hash",
        Outcome::Unique(UniqueKey::ScimToken),
    ),
    (
        "ux_custom_domains_verified",
        "custom_domains.domain",
        Outcome::Unique(UniqueKey::VerifiedDomain),
    ),
    (
        "ux_directory_profiles_user_name",
        "directory_profiles.org_id, directory_profiles.user_name_key",
        Outcome::Unique(UniqueKey::DirectoryUserName),
    ),
    // Primary keys not named `id` (PostgreSQL's `<table>_pkey` maps by its suffix anyway).
    (
        "directory_profiles_pkey",
        "directory_profiles.membership_id",
        Outcome::Unique(UniqueKey::Id),
    ),
    (
        "directory_groups_pkey",
        "directory_groups.role_id",
        Outcome::Unique(UniqueKey::Id),
    ),
    // Singleton rows keyed by their org: a racing first write read "no row", so it is a stale
    // read (the use case decides again on the stored row), not a duplicate id.
    ("org_brandings_pkey", "org_brandings.org_id", Outcome::Stale),
    ("custom_domains_pkey", "custom_domains.org_id", Outcome::Stale),
    ("risk_settings_pkey", "risk_settings.org_id", Outcome::Stale),
    // Two first starts or two rotations at once: the loser read a key set that is gone.
    ("ux_signing_keys_generation", "signing_keys.generation", Outcome::Stale),
    ("signing_keys_pkey", "signing_keys.kid", Outcome::Stale),
    (
        "ux_oauth_credentials_org_provider",
        "oauth_credentials.org_id, oauth_credentials.provider",
        Outcome::Stale,
    ),
    (
        "ux_billing_credentials_org_provider",
        "billing_credentials.org_id, billing_credentials.provider",
        Outcome::Stale,
    ),
    // §19 services and login keys (m0013).
    (
        "ux_services_org_slug",
        "services.org_id, services.slug",
        Outcome::Unique(UniqueKey::ServiceSlug),
    ),
    (
        "ux_login_keys_name_live",
        "login_keys.name",
        Outcome::Unique(UniqueKey::LoginKeyName),
    ),
    (
        "ux_login_keys_hash",
        "login_keys.key_hash",
        Outcome::Unique(UniqueKey::Id),
    ),
    (
        "ux_upstream_providers_org_connection",
        "upstream_providers.org_id, upstream_providers.connection_id",
        Outcome::Unique(UniqueKey::ConnectionId),
    ),
    (
        "ux_siem_configs_org_name",
        "siem_configs.org_id, siem_configs.name",
        Outcome::Unique(UniqueKey::SiemConfigName),
    ),
    // Sequencing races cannot happen under the head lock; if they ever do, a retry resolves them.
    (
        "ux_audit_log_seq",
        "audit_entries.log_key, audit_entries.seq",
        Outcome::Stale,
    ),
    (
        "ux_outbox_org_seq",
        "outbox_events.org_id, outbox_events.seq",
        Outcome::Stale,
    ),
];

/// Named constraints other than unique indexes: foreign keys and CHECKs (PostgreSQL and
/// SQLite report the name) and the owner triggers of m0003 (PostgreSQL reports the name given
/// in `RAISE … USING CONSTRAINT`; SQLite's `RAISE` message starts with it).
const NAMED: &[(&str, Outcome)] = &[
    // A custom role still held cannot be deleted; a membership cannot name a missing role.
    ("fk_memberships_custom_role", Outcome::RoleInUse),
    // An owner is active; only the user the org row names holds `owner`, and that membership
    // is neither deleted nor demoted while the live org names it: all one-owner rules.
    ("ck_memberships_owner_active", Outcome::Unique(UniqueKey::OneOwner)),
    ("tr_memberships_keep_owner", Outcome::Unique(UniqueKey::OneOwner)),
    ("tr_memberships_owner_named", Outcome::Unique(UniqueKey::OneOwner)),
    // The new owner stopped being an active member after it was loaded (removed or deactivated
    // concurrently): retrying the use case decides again on fresh state.
    ("tr_orgs_owner_is_member", Outcome::Stale),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Unique(UniqueKey),
    Stale,
    RoleInUse,
}

impl Outcome {
    fn into_error(self) -> StoreError {
        match self {
            Self::Unique(k) => StoreError::Conflict(ConflictKind::Unique(k)),
            Self::Stale => StoreError::Conflict(ConflictKind::StaleVersion),
            Self::RoleInUse => StoreError::Conflict(ConflictKind::RoleInUse),
        }
    }
}

/// A violation of a named constraint (CHECK, foreign key or trigger rule).
fn named_violation(name: &str, message: &str) -> StoreError {
    if let Some((_, o)) = NAMED.iter().find(|(n, _)| *n == name) {
        return o.into_error();
    }
    if name.starts_with("fk_") {
        // A referenced row is gone (e.g. purged concurrently): the write has nothing to attach to.
        return StoreError::NotFound;
    }
    StoreError::Unavailable(format!("unexpected violation of {name}: {message}"))
}

/// The constraint SQLite names in a CHECK failure (`CHECK constraint failed: ck_…`) or a
/// trigger's `RAISE` message (`tr_…: …`).
fn sqlite_constraint_name(message: &str) -> &str {
    if let Some((_, name)) = message.rsplit_once("failed: ") {
        return name.trim();
    }
    message.split_once(':').map_or(message, |(name, _)| name).trim()
}

fn unique_violation(constraint: Option<&str>, message: &str) -> StoreError {
    if let Some(name) = constraint {
        if let Some((_, _, o)) = UNIQUES.iter().find(|(n, _, _)| *n == name) {
            return o.into_error();
        }
        if name.ends_with("_pkey") {
            return StoreError::Conflict(ConflictKind::Unique(UniqueKey::Id));
        }
        return StoreError::Unavailable(format!("unexpected unique constraint {name}"));
    }
    // SQLite: "UNIQUE constraint failed: orgs.slug" (index columns) or "…: orgs.id" (primary key).
    let cols = message.rsplit_once("failed: ").map_or(message, |(_, c)| c).trim();
    if let Some((_, _, o)) = UNIQUES.iter().find(|(_, c, _)| *c == cols) {
        return o.into_error();
    }
    if !cols.contains(',') && (cols.ends_with(".id") || cols.ends_with(".log_key")) {
        return StoreError::Conflict(ConflictKind::Unique(UniqueKey::Id));
    }
    StoreError::Unavailable(format!("unexpected unique constraint: {message}"))
}

/// Classifies a database error.
pub(crate) fn classify(err: &DbErr) -> DbFailure {
    let runtime = match err {
        DbErr::Exec(r) | DbErr::Query(r) | DbErr::Conn(r) => Some(r),
        _ => None,
    };
    if let Some(RuntimeErr::SqlxError(e)) = runtime
        && let sea_orm::sqlx::Error::Database(db) = &**e
    {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        match code.as_str() {
            // PostgreSQL unique_violation; SQLite SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY.
            "23505" | "2067" | "1555" => return DbFailure::Store(unique_violation(db.constraint(), db.message())),
            // PostgreSQL foreign_key_violation / check_violation (the triggers raise it too).
            "23503" | "23514" => {
                let name = db.constraint().unwrap_or_default();
                return DbFailure::Store(named_violation(name, db.message()));
            }
            // SQLite SQLITE_CONSTRAINT_FOREIGNKEY: no name; the failing write interprets it.
            "787" => return DbFailure::ForeignKey,
            // SQLite SQLITE_CONSTRAINT_CHECK / SQLITE_CONSTRAINT_TRIGGER. SQLite runs
            // `ON DELETE RESTRICT` as an internal trigger: its failure is a foreign-key one.
            "275" | "1811" => {
                let message = db.message();
                if message.starts_with("FOREIGN KEY constraint failed") {
                    return DbFailure::ForeignKey;
                }
                return DbFailure::Store(named_violation(sqlite_constraint_name(message), message));
            }
            // PostgreSQL serialization failure / deadlock: the loser retries like a stale version.
            "40001" | "40P01" => return DbFailure::Store(StoreError::Conflict(ConflictKind::StaleVersion)),
            _ => {}
        }
        if let Ok(n) = code.parse::<i32>()
            && matches!(n & 0xff, 5 | 6)
        {
            return DbFailure::Busy;
        }
        return DbFailure::Store(StoreError::Unavailable(format!(
            "database error {code}: {}",
            db.message()
        )));
    }
    DbFailure::Store(match err {
        DbErr::TryIntoErr { .. } | DbErr::Type(_) | DbErr::Json(_) => StoreError::Corrupt(err.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    })
}

impl DbFailure {
    /// The caller-facing error (busy counts as unavailable once retries are exhausted).
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Self::Store(e) => e,
            Self::Busy => StoreError::Unavailable("database is busy".to_owned()),
            Self::ForeignKey => StoreError::NotFound,
        }
    }
}

/// The caller-facing error (busy counts as unavailable once retries are exhausted).
pub(crate) fn store_err(err: DbErr) -> StoreError {
    classify(&err).into_store()
}

impl From<DbErr> for DbFailure {
    fn from(err: DbErr) -> Self {
        classify(&err)
    }
}

impl From<StoreError> for DbFailure {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: UniqueKey) -> StoreError {
        StoreError::Conflict(ConflictKind::Unique(k))
    }

    #[test]
    fn postgres_violations_map_by_index_name() {
        for (name, _, outcome) in UNIQUES {
            assert_eq!(unique_violation(Some(name), "duplicate key"), outcome.into_error());
        }
        assert_eq!(unique_violation(Some("orgs_pkey"), "duplicate key"), key(UniqueKey::Id));
        assert!(matches!(
            unique_violation(Some("other"), ""),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn sqlite_violations_map_by_indexed_columns() {
        let cases = [
            ("UNIQUE constraint failed: memberships.org_id", key(UniqueKey::OneOwner)),
            (
                "UNIQUE constraint failed: memberships.org_id, memberships.user_id",
                key(UniqueKey::Membership),
            ),
            (
                "UNIQUE constraint failed: org_roles.org_id, org_roles.slug",
                key(UniqueKey::RoleSlug),
            ),
            (
                "UNIQUE constraint failed: org_roles.org_id, org_roles.name_key",
                key(UniqueKey::RoleName),
            ),
            (
                "UNIQUE constraint failed: invitations.org_id, invitations.email",
                key(UniqueKey::PendingInvitation),
            ),
            ("UNIQUE constraint failed: orgs.slug", key(UniqueKey::OrgSlug)),
            ("UNIQUE constraint failed: users.email", key(UniqueKey::UserEmail)),
            ("UNIQUE constraint failed: sessions.id", key(UniqueKey::Id)),
            (
                "UNIQUE constraint failed: scim_tokens.token_hash",
                key(UniqueKey::ScimToken),
            ),
            (
                "UNIQUE constraint failed: directory_profiles.org_id, directory_profiles.user_name_key",
                key(UniqueKey::DirectoryUserName),
            ),
            (
                "UNIQUE constraint failed: directory_profiles.membership_id",
                key(UniqueKey::Id),
            ),
            ("UNIQUE constraint failed: directory_groups.role_id", key(UniqueKey::Id)),
            (
                "UNIQUE constraint failed: audit_entries.log_key, audit_entries.seq",
                StoreError::Conflict(ConflictKind::StaleVersion),
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(unique_violation(None, message), expected, "{message}");
        }
    }

    #[test]
    fn named_constraints_map_on_both_backends() {
        let role_in_use = StoreError::Conflict(ConflictKind::RoleInUse);
        assert_eq!(named_violation("fk_memberships_custom_role", ""), role_in_use);
        assert_eq!(named_violation("fk_memberships_user", ""), StoreError::NotFound);
        for parent in [
            "fk_scim_tokens_org",
            "fk_directory_profiles_membership",
            "fk_directory_groups_role",
        ] {
            assert_eq!(named_violation(parent, ""), StoreError::NotFound, "{parent}");
        }
        assert_eq!(
            named_violation("tr_orgs_owner_is_member", ""),
            StoreError::Conflict(ConflictKind::StaleVersion)
        );
        let sqlite = [
            (
                "CHECK constraint failed: ck_memberships_owner_active",
                key(UniqueKey::OneOwner),
            ),
            (
                "tr_memberships_keep_owner: the owner's membership of a live org cannot be deleted",
                key(UniqueKey::OneOwner),
            ),
            (
                "tr_memberships_owner_named: only the user the org names may hold owner",
                key(UniqueKey::OneOwner),
            ),
        ];
        for (message, expected) in sqlite {
            assert_eq!(
                named_violation(sqlite_constraint_name(message), message),
                expected,
                "{message}"
            );
        }
        assert!(matches!(
            named_violation("ck_memberships_status", ""),
            StoreError::Unavailable(_)
        ));
    }
}
