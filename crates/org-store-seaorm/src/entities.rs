//! SeaORM entities: the row types of the store. Private to the crate; `mapping.rs` turns them
//! into domain aggregates through the domain constructors.

pub mod org {
    //! `orgs`: one row per organization; memberships and custom roles live in their own tables.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orgs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub slug: String,
        pub name: String,
        /// `name` lower-cased by Rust's Unicode rules, for the platform search (§20).
        pub name_lower: String,
        pub owner_user_id: Uuid,
        pub status: String,
        pub tier_id: String,
        pub max_services: Option<i64>,
        pub max_users: Option<i64>,
        pub approved_by: Option<Uuid>,
        pub approved_at: Option<DateTimeUtc>,
        pub rejected_by: Option<Uuid>,
        pub rejected_at: Option<DateTimeUtc>,
        pub rejection_reason: Option<String>,
        pub suspended_at: Option<DateTimeUtc>,
        pub suspension_reason: Option<String>,
        /// JSON object of the overridden features, or NULL.
        pub feature_overrides: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub deleted_at: Option<DateTimeUtc>,
        pub version: i64,
        /// Kept count of active memberships; maintained by the store from membership writes,
        /// never written with the rest of the row.
        pub active_members: i64,
        /// Kept count of all memberships (active and deactivated), like `active_members`.
        pub total_members: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::membership::Entity")]
        Membership,
        #[sea_orm(has_many = "super::invitation::Entity")]
        Invitation,
    }

    impl Related<super::membership::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Membership.def()
        }
    }

    impl Related<super::invitation::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Invitation.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod membership {
    //! `memberships`: a user's membership in an org, its own versioned row.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "memberships")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub user_id: Uuid,
        /// `owner`, `admin`, `member` or a custom role slug.
        pub role: String,
        /// The custom role slug (= `role`) when `role` is custom, else NULL; the composite
        /// foreign key `(org_id, custom_role) → org_roles (org_id, slug)` hangs on it.
        pub custom_role: Option<String>,
        pub status: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::org::Entity",
            from = "Column::OrgId",
            to = "super::org::Column::Id"
        )]
        Org,
    }

    impl Related<super::org::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Org.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod role {
    //! `org_roles`: custom roles of an org.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "org_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub slug: String,
        pub name: String,
        /// Case-insensitive uniqueness key of `name` (`RoleName::unique_key`).
        pub name_key: String,
        pub description: Option<String>,
        /// JSON array of capability names, catalogue order.
        pub permissions: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user {
    //! `users`: platform users.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub email: String,
        pub name: Option<String>,
        pub is_platform_owner: bool,
        pub disabled_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod invitation {
    //! `invitations`.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invitations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub email: String,
        pub role: String,
        pub status: String,
        pub invited_by: Uuid,
        /// SHA-256 of the current token, 64 lower-case hex characters.
        pub token_hash: String,
        pub ttl_days: i32,
        pub expires_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::org::Entity",
            from = "Column::OrgId",
            to = "super::org::Column::Id"
        )]
        Org,
    }

    impl Related<super::org::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Org.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod session {
    //! `sessions`: refresh-token families (§2.4).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub kind: String,
        pub org_id: Option<Uuid>,
        pub refresh_hash: String,
        pub previous_hash: Option<String>,
        pub previous_rotated_at: Option<DateTimeUtc>,
        pub ip_address: Option<String>,
        pub user_agent: Option<String>,
        pub created_at: DateTimeUtc,
        pub last_refreshed_at: Option<DateTimeUtc>,
        pub expires_at: DateTimeUtc,
        pub absolute_expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
        pub revoke_reason: Option<String>,
        /// Sealed access token of the replay window (§2.5), like the webhook secrets; NULL
        /// when there is none.
        pub replay_access: Option<String>,
        /// Sealed refresh token of the replay window, like `replay_access`.
        pub replay_refresh: Option<String>,
        pub version: i64,
        /// The service of a `service` session (m0016).
        pub service_id: Option<Uuid>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit {
    //! `audit_entries`: the append-only, hash-chained logs (§8.3), one per org plus the platform log.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// `platform` or `org:<uuid>`.
        pub log_key: String,
        pub seq: i64,
        pub org_id: Option<Uuid>,
        pub actor_id: String,
        pub actor_type: String,
        pub actor_email: Option<String>,
        pub action: String,
        pub target_type: Option<String>,
        pub target_id: Option<String>,
        pub ip_address: Option<String>,
        pub user_agent: Option<String>,
        pub success: bool,
        /// JSON text, or NULL.
        pub metadata: Option<String>,
        pub request_id: Option<String>,
        pub created_at: DateTimeUtc,
        /// 64 hex characters.
        pub prev_hash: Option<String>,
        /// 64 hex characters.
        pub hash: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod event {
    //! `outbox_events`: the transactional outbox (§1.7, §9.4).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        /// Position in the org's event stream, in commit order.
        pub seq: i64,
        pub event_type: String,
        pub occurred_at: DateTimeUtc,
        pub actor_user_id: Option<Uuid>,
        pub actor_email: Option<String>,
        pub target_type: Option<String>,
        pub target_id: Option<String>,
        /// JSON text.
        pub data: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod head {
    //! `log_heads`: the head of every sequenced log (audit chains, org event streams). Appends
    //! lock the head row (`SELECT … FOR UPDATE` on PostgreSQL), so `seq` follows commit order.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "log_heads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub log_key: String,
        pub seq: i64,
        /// The newest entry's hash (audit logs only).
        pub hash: Option<String>,
        /// Kept number of entries in the log: appends add, prunes subtract.
        pub entries: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod webhook {
    //! `webhooks`: an org's endpoints (§9.1).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhooks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        pub url: String,
        /// JSON array of subscribed event types.
        pub events: String,
        pub is_active: bool,
        pub disabled_reason: Option<String>,
        /// Sealed signing secret (`v1:<key_id>:<nonce>:<ciphertext>`, see `cipher.rs`); never plain.
        pub secret: String,
        /// Sealed previous secret, like `secret`.
        pub previous_secret: Option<String>,
        pub previous_secret_expires_at: Option<DateTimeUtc>,
        pub failing_since: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub deleted_at: Option<DateTimeUtc>,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod delivery {
    //! `webhook_deliveries`: one event to one endpoint, with its attempts (§9.2, §9.7).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub webhook_id: Uuid,
        pub org_id: Uuid,
        pub event_id: Uuid,
        pub event_type: String,
        pub payload: String,
        pub status: String,
        pub response_status_code: Option<i32>,
        pub response_body: Option<String>,
        pub attempt_count: i64,
        pub next_retry_at: Option<DateTimeUtc>,
        pub last_attempt_at: Option<DateTimeUtc>,
        pub delivery_error: Option<String>,
        pub redelivery_of: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod scim_token {
    //! `scim_tokens`: an org's SCIM bearer credentials (§10.1), hashes only.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "scim_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        /// The first 12 characters of the plaintext.
        pub prefix: String,
        /// SHA-256 of the plaintext, 64 lower-case hex characters.
        pub token_hash: String,
        pub created_by: Uuid,
        /// JSON array of capability names, catalogue order (as `org_roles.permissions`).
        pub capabilities: String,
        pub created_at: DateTimeUtc,
        pub expires_at: Option<DateTimeUtc>,
        /// Written by uses (a blind `UPDATE` that only moves it forward) and never set by a
        /// versioned update of the row.
        pub last_used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod directory_profile {
    //! `directory_profiles`: a membership's directory attributes (§10.3), one row per
    //! membership, deleted with it.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "directory_profiles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub membership_id: Uuid,
        pub org_id: Uuid,
        pub user_id: Uuid,
        pub external_id: Option<String>,
        pub user_name: String,
        /// `user_name_key(user_name)`: the case-insensitive key, unique per org.
        pub user_name_key: String,
        pub formatted_name: Option<String>,
        pub given_name: Option<String>,
        pub family_name: Option<String>,
        pub display_name: Option<String>,
        pub email: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod directory_group {
    //! `directory_groups`: the directory data of a role group (§10.4), one row per custom
    //! role, deleted with it.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "directory_groups")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub role_id: Uuid,
        pub org_id: Uuid,
        pub external_id: Option<String>,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod refresh_ancestor {
    //! `refresh_ancestors`: every refresh token a rotation consumed (§2.5), with its session
    //! (deleted with it) and when, so any ancestor of a family is recognised.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_ancestors")]
    pub struct Model {
        /// 64 hex characters, like `sessions.refresh_hash`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub hash: String,
        pub session_id: Uuid,
        pub consumed_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod worker_lease {
    //! `worker_leases`: which process runs a named worker pass, and until when.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "worker_leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub holder: Uuid,
        pub until: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod smtp_settings {
    //! `smtp_settings`: an org's SMTP server (§13), one row per org; `password` sealed.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "smtp_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        pub host: String,
        pub port: i32,
        pub username: String,
        /// Sealed text (`v1:<key>:<nonce>:<ciphertext>`), never the password.
        pub password: String,
        pub from_email: String,
        pub from_name: Option<String>,
        pub security: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod oauth_credential {
    //! `oauth_credentials`: an org's OAuth app credentials for one provider (§12), one row per
    //! (org, provider); `client_secret` sealed.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oauth_credentials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub provider: String,
        pub client_id: String,
        /// Sealed text, never the secret.
        pub client_secret: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod billing_credential {
    //! `billing_credentials`: an org's billing-provider keys for one provider (§18), one row
    //! per (org, provider); `api_key` and `webhook_secret` sealed.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_credentials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub provider: String,
        pub mode: String,
        /// Sealed text, never the key.
        pub api_key: String,
        /// Sealed text, never the secret.
        pub webhook_secret: String,
        pub enabled: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod mail {
    //! `mail_outbox`: e-mails to send after commit (§1.7); `body` sealed while pending, empty
    //! once settled.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mail_outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub invitation_id: Option<Uuid>,
        /// SHA-256 hex of the invitation token the mail carries.
        pub token_hash: Option<String>,
        pub recipient: String,
        pub subject: String,
        pub body: String,
        pub status: String,
        pub attempt_count: i32,
        pub next_attempt_at: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod org_branding {
    //! `org_brandings`: an org's branding (§15), one row per org, absent until first set.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "org_brandings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        pub logo_url: Option<String>,
        pub primary_color: Option<String>,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod custom_domain {
    //! `custom_domains`: an org's domain claim (§14), one row per org. At most one row holds
    //! a domain verified (`ux_custom_domains_verified`, partial).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "custom_domains")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        pub domain: String,
        pub verification_token: String,
        pub verified_at: Option<DateTimeUtc>,
        /// `DNS` or `HTTP`, with `verified_at`.
        pub verification_method: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod signing_key {
    //! `signing_keys`: a JWT signing key and its timeline (§2.8); `private_key` is sealed.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub generation: i64,
        pub algorithm: String,
        pub public_jwk: String,
        pub private_key: String,
        pub created_at: DateTimeUtc,
        pub signs_from: DateTimeUtc,
        pub signs_until: Option<DateTimeUtc>,
        pub retire_after: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
