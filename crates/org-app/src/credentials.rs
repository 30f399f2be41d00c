//! Provider credentials an org brings (§12 OAuth apps): upsert, read, delete, one aggregate per
//! (org, provider). The secret is write-only: no view returns it, no event carries it.

use chrono::{DateTime, Utc};
use org_domain::CredentialId;
use org_domain::credentials::{OAuthCredentials, OAuthCredentialsDraft, OAuthProvider};

use crate::AppError;
use crate::core::Decision;
use crate::record::{Caller, RequestMeta};

service! {
    /// Bring-your-own OAuth credentials (§12).
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

impl CredentialsService {
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
