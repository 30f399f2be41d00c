//! Provider credentials an org brings (§12 OAuth apps, §18 billing providers): upsert, read,
//! delete, one aggregate per (org, provider). Secrets are write-only: no view returns them, no
//! event carries them.

use chrono::{DateTime, Utc};
use org_domain::CredentialId;
use org_domain::credentials::{
    BillingCredentials, BillingCredentialsDraft, BillingMode, BillingProvider, OAuthCredentials, OAuthCredentialsDraft,
    OAuthProvider,
};

use crate::AppError;
use crate::core::Decision;
use crate::record::{Caller, RequestMeta};

service! {
    /// Bring-your-own OAuth credentials (§12) and billing-provider credentials (§18).
    CredentialsService
}

/// What the API shows of one provider's OAuth credentials: never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthCredentialsView {
    pub provider: OAuthProvider,
    pub client_id: String,
    /// Always `true` for stored credentials (the secret is required).
    pub has_secret: bool,
    pub updated_at: DateTime<Utc>,
}

impl From<&OAuthCredentials> for OAuthCredentialsView {
    fn from(c: &OAuthCredentials) -> Self {
        Self {
            provider: c.provider(),
            client_id: c.client_id().to_owned(),
            has_secret: !c.record().client_secret.is_empty(),
            updated_at: c.record().updated_at,
        }
    }
}

/// What the API shows of one provider's billing credentials (§18): never a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingCredentialsView {
    pub provider: BillingProvider,
    pub configured: bool,
    pub mode: Option<BillingMode>,
    pub enabled: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

impl BillingCredentialsView {
    /// The stored credentials, or the unconfigured shape.
    pub fn of(provider: BillingProvider, c: Option<&BillingCredentials>) -> Self {
        Self {
            provider,
            configured: c.is_some(),
            mode: c.map(|c| c.record().mode),
            enabled: c.is_some_and(|c| c.record().enabled),
            updated_at: c.map(|c| c.record().updated_at),
        }
    }
}

impl CredentialsService {
    /// `POST …/billing-credentials/:provider`: `billing.credentials.manage` (the owner or a
    /// platform owner), every field rule, then the upsert. Equal values write nothing (§1.7).
    pub async fn set_billing(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        provider: &str,
        draft: BillingCredentialsDraft,
    ) -> Result<(), AppError> {
        let core = &self.core;
        let draft = &draft;
        core.mutate(caller, meta, slug, |s| async move {
            let input = s.access.billing_credentials_input(provider, draft)?;
            let current = core
                .stores
                .settings
                .billing_credentials(s.org.id(), input.provider)
                .await?;
            let id = CredentialId::from_uuid(core.new_uuid());
            let (written, outcome) = s.access.set_billing_credentials(current.as_ref(), input, id, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.billing_credentials.extend(written);
            Ok(Decision::new(c, ()))
        })
        .await
    }

    /// `GET …/billing-credentials/:provider`: the view, `configured: false` when none.
    pub async fn get_billing(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        provider: &str,
    ) -> Result<BillingCredentialsView, AppError> {
        let (org, provider) = self
            .core
            .read(caller, meta, slug, |a| a.read_billing_credentials(provider))
            .await?;
        let stored = self
            .core
            .stores
            .settings
            .billing_credentials(org.id(), provider)
            .await?;
        Ok(BillingCredentialsView::of(provider, stored.as_ref()))
    }

    /// `DELETE …/billing-credentials/:provider`: 404 when none are configured (compat, §18);
    /// else how many rows went (1).
    pub async fn delete_billing(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        provider: &str,
    ) -> Result<u64, AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let provider = s.access.billing_credentials_target(provider)?;
            let current = core.stores.settings.billing_credentials(s.org.id(), provider).await?;
            let outcome = s.access.remove_billing_credentials(current.as_ref())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            let count = u64::from(current.is_some());
            c.removed_billing_credentials.extend(current);
            Ok(Decision::new(c, count))
        })
        .await
    }

    /// `POST …/oauth-credentials/:provider`: every field rule, then the upsert. Values equal
    /// to the stored ones (secret included) write nothing (§1.7) and answer the stored view.
    pub async fn set_oauth(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        provider: &str,
        draft: OAuthCredentialsDraft,
    ) -> Result<OAuthCredentialsView, AppError> {
        let core = &self.core;
        let draft = &draft;
        core.mutate(caller, meta, slug, |s| async move {
            let input = s.access.oauth_credentials_input(provider, draft)?;
            let current = core
                .stores
                .settings
                .oauth_credentials(s.org.id(), input.provider)
                .await?;
            let id = CredentialId::from_uuid(core.new_uuid());
            let (written, outcome) = s.access.set_oauth_credentials(current.as_ref(), input, id, s.now())?;
            let view = match (&written, &current) {
                (Some(c), _) | (None, Some(c)) => OAuthCredentialsView::from(c),
                (None, None) => return Err(AppError::Domain(org_domain::DomainError::NotFound)),
            };
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.oauth_credentials.extend(written);
            Ok(Decision::new(c, view))
        })
        .await
    }

    /// `GET …/oauth-credentials/:provider`: 404 "OAuth credentials not found for this
    /// provider" when none are configured.
    pub async fn get_oauth(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        provider: &str,
    ) -> Result<OAuthCredentialsView, AppError> {
        let (org, provider) = self
            .core
            .read(caller, meta, slug, |a| a.read_oauth_credentials(provider))
            .await?;
        match self.core.stores.settings.oauth_credentials(org.id(), provider).await? {
            Some(c) => Ok(OAuthCredentialsView::from(&c)),
            None => Err(AppError::Domain(org_domain::DomainError::OAuthCredentialsNotFound)),
        }
    }

    /// `DELETE …/oauth-credentials/:provider`: 404 when none are configured (compat, §12).
    pub async fn delete_oauth(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        provider: &str,
    ) -> Result<(), AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let provider = s.access.oauth_credentials_target(provider)?;
            let current = core.stores.settings.oauth_credentials(s.org.id(), provider).await?;
            let outcome = s.access.remove_oauth_credentials(current.as_ref())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.removed_oauth_credentials.extend(current);
            Ok(Decision::new(c, ()))
        })
        .await
    }
}
