//! Upstream identity providers (§11): list, get, create, update, delete. The documents a
//! configuration names (OIDC discovery, SAML metadata) are fetched through the
//! [`DocumentFetcher`] port after authorization and the field rules, and before the write
//! transaction; the decision then runs on what was fetched. The client secret is write-only.

use org_domain::upstream::{
    DiscoveryDocument, Fetched, MAX_DISCOVERY_DOCUMENT, MAX_METADATA_XML, UpstreamDraft, UpstreamPatch,
    UpstreamProvider, UpstreamProviderId,
};
use org_domain::{DomainError, FieldError};
use org_ports::{DocumentFetcher, PageRequest, SendResult};
use serde_json::Value;

use crate::AppError;
use crate::core::Decision;
use crate::record::{Caller, RequestMeta};

service! {
    /// Upstream identity providers of an org (§11).
    UpstreamService
}

#[async_trait::async_trait]
impl DocumentFetcher for crate::settings::NoHttp {
    async fn fetch(&self, _url: &str, _max_bytes: usize) -> SendResult {
        SendResult::Error("unavailable".to_owned())
    }
}

/// Why a fetch failed, in words.
fn fetch_failure(result: SendResult, what: &str) -> Result<String, String> {
    match result {
        SendResult::Response { status, body, .. } if (200..300).contains(&status) => Ok(body),
        SendResult::Response { status, .. } if (300..400).contains(&status) => Err(format!(
            "fetching the {what} answered a redirect (HTTP {status}); redirects are not followed"
        )),
        SendResult::Response { status, .. } => Err(format!("fetching the {what} answered HTTP {status}")),
        SendResult::Error(class) => Err(match class.as_str() {
            "timeout" => format!("fetching the {what} timed out after 5 s"),
            "too_large" => format!("the {what} is larger than the limit"),
            "ssrf_denied" => format!("the {what} URL resolves to an address that is not allowed"),
            "dns_error" => format!("the {what} URL's host name does not resolve"),
            "connect_error" => format!("could not connect to fetch the {what}"),
            other => format!("fetching the {what} failed ({other})"),
        }),
    }
}

/// Decodes a discovery document: a JSON object; its string members.
fn discovery_document(body: &str) -> Result<DiscoveryDocument, String> {
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(body) else {
        return Err("the discovery document is not a JSON object".to_owned());
    };
    let member = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(DiscoveryDocument {
        issuer: member("issuer"),
        authorization_endpoint: member("authorization_endpoint"),
        token_endpoint: member("token_endpoint"),
        userinfo_endpoint: member("userinfo_endpoint"),
        jwks_uri: member("jwks_uri"),
    })
}

/// A 400 on `field`, whatever field an inner check named.
fn on_field(e: AppError, field: &str, prefix: &str) -> AppError {
    match e {
        AppError::Domain(DomainError::Validation(v)) => AppError::Domain(DomainError::Validation(
            v.into_iter()
                .map(|f| FieldError::new(field, format!("{prefix}{}", f.message)))
                .collect(),
        )),
        other => other,
    }
}

impl UpstreamService {
    /// §9.3 for every URL of the draft, each failure naming its field.
    async fn check_urls(&self, draft: &UpstreamDraft) -> Result<(), AppError> {
        let mut errors = Vec::new();
        for (field, url) in draft.urls() {
            if let Err(AppError::Domain(DomainError::Validation(v))) = self.core.outbound.check(url).await {
                errors.extend(v.into_iter().map(|f| FieldError::new(field, f.message)));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Domain(DomainError::Validation(errors)))
        }
    }

    /// Fetches what `patch` needs (before any write transaction) and checks the endpoints a
    /// discovery document names with the same URL rules.
    async fn fetch(&self, patch: &UpstreamPatch, current: Option<&UpstreamProvider>) -> Result<Fetched, AppError> {
        let plan = patch.fetch_plan(current);
        let mut fetched = Fetched::default();
        if let Some(url) = plan.discovery_url {
            let result = self.core.documents.fetch(&url, MAX_DISCOVERY_DOCUMENT).await;
            let body =
                fetch_failure(result, "discovery document").map_err(|e| AppError::invalid("discovery_url", e))?;
            let doc = discovery_document(&body).map_err(|e| AppError::invalid("discovery_url", e))?;
            for (member, value) in [
                ("authorization_endpoint", &doc.authorization_endpoint),
                ("token_endpoint", &doc.token_endpoint),
                ("userinfo_endpoint", &doc.userinfo_endpoint),
                ("jwks_uri", &doc.jwks_uri),
            ] {
                if let Some(v) = value {
                    self.core
                        .outbound
                        .check(v)
                        .await
                        .map_err(|e| on_field(e, "discovery_url", &format!("the document's {member}: ")))?;
                }
            }
            fetched.discovery = Some(doc);
        }
        if let Some(url) = plan.metadata_url {
            let result = self.core.documents.fetch(&url, MAX_METADATA_XML).await;
            let body = fetch_failure(result, "SAML metadata").map_err(|e| AppError::invalid("metadata_url", e))?;
            fetched.metadata_xml = Some(body);
        }
        Ok(fetched)
    }

    /// Checks the SSO location that SAML metadata read in this request yields, like an
    /// explicit URL (an unrelated update never re-checks what was accepted before).
    async fn check_derived(
        &self,
        p: &UpstreamProvider,
        patch: &UpstreamPatch,
        fetched: &Fetched,
    ) -> Result<(), AppError> {
        let explicit = matches!(patch.draft().authorization_url, Some(Some(_)));
        let inline = matches!(patch.draft().metadata_xml, Some(Some(_)));
        let read_now = inline || fetched.metadata_xml.is_some();
        if let (false, true, Some(url)) = (explicit, read_now, &p.record().authorization_url)
            && patch.provider_type == org_domain::upstream::ProviderType::Saml
        {
            let field = if inline { "metadata_xml" } else { "metadata_url" };
            self.core
                .outbound
                .check(url)
                .await
                .map_err(|e| on_field(e, field, "the metadata's SingleSignOnService location: "))?;
        }
        Ok(())
    }

    /// The provider `id` of `org`, else 404.
    async fn find(&self, org: org_domain::OrgId, id: &str) -> Result<UpstreamProvider, AppError> {
        let id = UpstreamProviderId::parse(id).ok_or_else(AppError::not_found)?;
        self.core
            .stores
            .upstream
            .upstream_provider(org, id)
            .await?
            .ok_or_else(AppError::not_found)
    }

    /// `GET …/upstream-providers`: oldest first.
    pub async fn list(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        page: PageRequest,
    ) -> Result<Vec<UpstreamProvider>, AppError> {
        let (org, ()) = self
            .core
            .read(caller, meta, slug, |a| a.read_upstream_providers())
            .await?;
        Ok(self
            .core
            .stores
            .upstream
            .upstream_providers(org.id(), page)
            .await?
            .items)
    }

    /// `GET …/upstream-providers/:id`.
    pub async fn get(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
    ) -> Result<UpstreamProvider, AppError> {
        let (org, ()) = self
            .core
            .read(caller, meta, slug, |a| a.read_upstream_providers())
            .await?;
        self.find(org.id(), id).await
    }

    /// `POST …/upstream-providers`: authorization and the field rules, the URL rules, the
    /// fetches, then one transaction with the provider, its audit entry and its event.
    pub async fn create(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        draft: UpstreamDraft,
    ) -> Result<UpstreamProvider, AppError> {
        let core = &self.core;
        let (_, patch) = core
            .read(caller, meta, slug, |a| a.upstream_input(&draft, None))
            .await?;
        self.check_urls(&draft).await?;
        let fetched = self.fetch(&patch, None).await?;
        let (patch, fetched) = (&patch, &fetched);
        core.mutate(caller, meta, slug, |s| async move {
            let id = UpstreamProviderId::from_uuid(core.new_uuid());
            let (provider, outcome) = s.access.create_upstream_provider(patch, fetched, id, s.now())?;
            self.check_derived(&provider, patch, fetched).await?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.upstream_providers.push(provider.clone());
            Ok(Decision::new(c, provider.with_version(1)))
        })
        .await
    }

    /// `PATCH …/upstream-providers/:id`: as create, on the stored provider; documents are
    /// fetched only for a changed `discovery_url` or `metadata_url`. No change, no write.
    pub async fn update(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        id: &str,
        draft: UpstreamDraft,
    ) -> Result<UpstreamProvider, AppError> {
        let core = &self.core;
        let (org, ()) = core.read(caller, meta, slug, |a| a.write_upstream_providers()).await?;
        let loaded = self.find(org.id(), id).await?;
        let patch = UpstreamPatch::parse(&draft, Some(&loaded))?;
        self.check_urls(&draft).await?;
        let fetched = self.fetch(&patch, Some(&loaded)).await?;
        let (draft, fetched, loaded) = (&draft, &fetched, &loaded);
        core.mutate(caller, meta, slug, |s| async move {
            let current = self.find(s.org.id(), id).await?;
            let patch = s.access.upstream_input(draft, Some(&current))?;
            // A concurrent change of the fetched URL: decide on what this request fetched
            // only if it still applies, else fetch again on the next attempt.
            if patch.fetch_plan(Some(&current)) != patch.fetch_plan(Some(loaded)) {
                return Err(AppError::Stale);
            }
            let (written, outcome) = s.access.update_upstream_provider(&current, &patch, fetched, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            let view = match written {
                Some(p) => {
                    self.check_derived(&p, &patch, fetched).await?;
                    c.upstream_providers.push(p.clone());
                    let v = p.record().version + 1;
                    p.with_version(v)
                }
                None => current,
            };
            Ok(Decision::new(c, view))
        })
        .await
    }

    /// `DELETE …/upstream-providers/:id`.
    pub async fn delete(&self, caller: &Caller, meta: &RequestMeta, slug: &str, id: &str) -> Result<(), AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let current = self.find(s.org.id(), id).await?;
            let outcome = s.access.delete_upstream_provider(&current)?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.removed_upstream_providers.push(current);
            Ok(Decision::new(c, ()))
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fetch_results_become_reasons() {
        let ok = SendResult::Response {
            status: 200,
            body: "{}".into(),
            retry_after: None,
        };
        assert_eq!(fetch_failure(ok, "x"), Ok("{}".to_owned()));
        let redirect = SendResult::Response {
            status: 302,
            body: String::new(),
            retry_after: None,
        };
        assert!(fetch_failure(redirect, "x").unwrap_err().contains("redirect"));
        assert!(
            fetch_failure(SendResult::Error("timeout".into()), "x")
                .unwrap_err()
                .contains("timed out")
        );
        assert!(discovery_document("[1]").is_err());
        let d = discovery_document(r#"{"issuer":"i","jwks_uri":7}"#).unwrap();
        assert_eq!((d.issuer.as_deref(), d.jwks_uri), (Some("i"), None));
    }
}
