//! Upstream identity providers (m0012, §11): one row per provider, going with its org;
//! `connection_id` unique per org; the client secret sealed (nullable: SAML needs none).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, pk_uuid, string, text, text_null, timestamp_with_time_zone, uuid,
};

use super::{create_indexes, fk};

pub(super) struct UpstreamProviders;

impl MigrationName for UpstreamProviders {
    fn name(&self) -> &str {
        "m0012_upstream_providers"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for UpstreamProviders {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("upstream_providers")
                .col(pk_uuid("id"))
                .col(uuid("org_id"))
                .col(string("connection_id"))
                .col(text("name"))
                .col(string("provider_type"))
                .col(text("client_id"))
                .col(text_null("client_secret"))
                .col(text_null("issuer"))
                .col(text_null("authorization_url"))
                .col(text_null("token_url"))
                .col(text_null("userinfo_url"))
                .col(text_null("jwks_url"))
                .col(text_null("discovery_url"))
                .col(text_null("scopes"))
                .col(text_null("metadata"))
                .col(text_null("metadata_xml"))
                .col(text_null("metadata_url"))
                .col(text("certificates"))
                .col(boolean("enabled"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version"))
                .foreign_key(&mut fk(
                    "fk_upstream_providers_org",
                    ("upstream_providers", "org_id"),
                    "orgs",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        create_indexes(
            m,
            &[
                (
                    "ux_upstream_providers_org_connection",
                    "upstream_providers",
                    "org_id, connection_id",
                    true,
                    None,
                ),
                (
                    "ix_upstream_providers_org_created",
                    "upstream_providers",
                    "org_id, created_at, id",
                    false,
                    None,
                ),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("upstream_providers").to_owned()).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use sea_orm::ConnectionTrait;
    use sea_orm_migration::MigratorTrait;

    use crate::migration::Migrator;
    use crate::migration::testing::{self, count};

    #[tokio::test]
    async fn m0012_holds_one_connection_id_per_org_goes_with_its_org_and_rolls_back() {
        let db = testing::migrated().await;
        let at = testing::AT;
        testing::owner_with_orgs(&db, &[("02", "a")]).await;
        let row = |id: &str, connection: &str| {
            format!(
                "INSERT INTO upstream_providers (id, org_id, connection_id, name, provider_type, client_id, \
                 certificates, enabled, created_at, updated_at, version) \
                 VALUES (X'{id}', X'02', '{connection}', 'n', 'saml', 'c', '', 1, {at}, {at}, 1)"
            )
        };
        db.execute_unprepared(&row("0A", "okta")).await.unwrap();
        db.execute_unprepared(&row("0B", "adfs")).await.unwrap();
        assert!(
            db.execute_unprepared(&row("0C", "okta")).await.is_err(),
            "one connection id per org"
        );
        db.execute_unprepared("DELETE FROM orgs WHERE id = X'02'")
            .await
            .unwrap();
        assert_eq!(
            count(&db, "SELECT COUNT(*) AS n FROM upstream_providers").await,
            0,
            "gone with the org"
        );
        let steps = testing::steps_to_before("m0012_upstream_providers");
        Migrator::down(&db, Some(steps)).await.unwrap();
        let table = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'upstream_providers'";
        assert_eq!(count(&db, table).await, 0);
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(count(&db, table).await, 1);
    }
}
