//! Org settings kept as singleton aggregates: branding (§15) and the custom domain with its
//! verification (§14) — DNS TXT first, then the HTTP file, both through the outbound ports.

use std::sync::Arc;

use org_domain::branding::{Branding, BrandingUpdate};
use org_domain::custom_domain::{CustomDomain, DomainName, VerificationMethod};
use org_ports::{Changeset, SendResult, TxtLookup, TxtResolver, VerificationFetcher};

use crate::AppError;
use crate::core::Decision;
use crate::record::{Caller, Recorder, RequestMeta};

/// The largest verification file accepted (§14: body ≤ 1024 bytes).
pub const HTTP_BODY_LIMIT: usize = 1024;

/// A fetcher that fetches nothing (tests and embedders without outbound HTTP).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHttp;

#[async_trait::async_trait]
impl VerificationFetcher for NoHttp {
    async fn fetch(&self, _url: &str, _max_bytes: usize) -> SendResult {
        SendResult::Error("unavailable".to_owned())
    }
}

#[async_trait::async_trait]
impl TxtResolver for crate::webhooks::NoDns {
    async fn txt(&self, _name: &str) -> TxtLookup {
        TxtLookup::NotFound
    }
}

/// The lookups of domain verification: TXT records, the HTTP file, and its port.
#[derive(Clone)]
pub struct DomainVerifier {
    pub txt: Arc<dyn TxtResolver>,
    pub fetcher: Arc<dyn VerificationFetcher>,
    /// `outbound.domain_verification_http_port` (default 80).
    pub http_port: u16,
}

impl std::fmt::Debug for DomainVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainVerifier")
            .field("http_port", &self.http_port)
            .finish_non_exhaustive()
    }
}

impl Default for DomainVerifier {
    fn default() -> Self {
        Self {
            txt: Arc::new(crate::webhooks::NoDns),
            fetcher: Arc::new(NoHttp),
            http_port: 80,
        }
    }
}

/// Found values are shown in the message shortened to this many characters.
const SHOWN: usize = 80;

fn shown(value: &str) -> String {
    let v: String = value.trim().chars().take(SHOWN).collect();
    if value.trim().chars().count() > SHOWN {
        format!("{v}…")
    } else {
        v
    }
}

impl DomainVerifier {
    /// The URL the HTTP method fetches (§14): always `http`, on the configured port.
    pub fn http_url(&self, domain: &DomainName) -> String {
        let path = DomainName::HTTP_PATH;
        if self.http_port == 80 {
            format!("http://{domain}{path}")
        } else {
            format!("http://{domain}:{}{path}", self.http_port)
        }
    }

    /// Tries DNS, then HTTP (§14): the method that proved the claim, or what was found.
    pub async fn prove(&self, claim: &CustomDomain) -> Result<VerificationMethod, String> {
        let name = claim.domain().txt_record_name();
        let dns = match self.txt.txt(&name).await {
            TxtLookup::Records(records) if records.iter().any(|r| claim.proves(r)) => {
                return Ok(VerificationMethod::Dns);
            }
            TxtLookup::Records(records) => {
                let found: Vec<String> = records.iter().take(5).map(|r| format!("\"{}\"", shown(r))).collect();
                format!(
                    "the TXT record at {name} does not match the token (found {})",
                    found.join(", ")
                )
            }
            TxtLookup::NotFound => format!("no TXT record found at {name}"),
            TxtLookup::Failed(class) => format!("the DNS lookup of {name} failed ({class})"),
        };
        let url = self.http_url(claim.domain());
        let http = match self.fetcher.fetch(&url, HTTP_BODY_LIMIT).await {
            SendResult::Response { status, body, .. } if (200..300).contains(&status) && claim.proves(&body) => {
                return Ok(VerificationMethod::Http);
            }
            SendResult::Response { status, body, .. } if (200..300).contains(&status) => {
                format!("{url} does not contain the token (found \"{}\")", shown(&body))
            }
            SendResult::Response { status, .. } => format!("{url} answered HTTP {status}"),
            SendResult::Error(class) => format!("{url} could not be fetched ({class})"),
        };
        Err(format!("Domain not verified: {dns}; {http}"))
    }
}

/// The answer of `POST …/domain/verify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub verified: bool,
    pub message: String,
    pub method: Option<VerificationMethod>,
}

service! {
    /// Branding (§15) and the custom domain (§14).
    SettingsService
}

/// 32 hex characters from 128 random bits (§1.8, §14).
fn verification_token(bytes: [u8; 32]) -> String {
    bytes[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl SettingsService {
    /// The verifier the service uses (its URLs are shown in the set-domain response).
    pub fn verifier(&self) -> &DomainVerifier {
        &self.core.verifier
    }

    async fn stored_branding(&self, org: &org_domain::Organization) -> Result<Branding, AppError> {
        Ok(self
            .core
            .stores
            .settings
            .branding(org.id())
            .await?
            .unwrap_or_else(|| Branding::unset(org.id(), self.core.now())))
    }

    /// `GET …/branding`: any member.
    pub async fn branding(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<Branding, AppError> {
        let (org, _) = self.core.read(caller, meta, slug, |a| Ok(a.view())).await?;
        self.stored_branding(&org).await
    }

    /// `GET …/branding/public`: anyone; unknown and non-active orgs are not found.
    pub async fn public_branding(&self, slug: &str) -> Result<Branding, AppError> {
        let org = self.core.org_by_slug(slug).await?;
        if org.status() != org_domain::OrgStatus::Active {
            return Err(AppError::not_found());
        }
        self.stored_branding(&org).await
    }

    /// `PATCH …/branding`: the resulting state; nothing changes → nothing written (§1.7).
    pub async fn update_branding(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        update: BrandingUpdate,
    ) -> Result<Branding, AppError> {
        let core = &self.core;
        let update = &update;
        core.mutate(caller, meta, slug, |s| async move {
            let mut branding = self.stored_branding(&s.org).await?;
            let features = core.features(&s.org);
            let outcome = s.access.update_branding(&mut branding, update, &features, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            if outcome.events.is_empty() {
                return Ok(Decision::new(c, branding));
            }
            c.brandings.push(branding.clone());
            let version = branding.record().version + 1;
            Ok(Decision::new(c, branding.with_version(version)))
        })
        .await
    }

    /// `GET …/domain`: any member.
    pub async fn domain(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
    ) -> Result<Option<CustomDomain>, AppError> {
        let (org, _) = self.core.read(caller, meta, slug, |a| Ok(a.view())).await?;
        Ok(self.core.stores.settings.custom_domain(org.id()).await?)
    }

    /// `POST …/domain`: the claim as it now stands (the same one when re-setting the
    /// current domain).
    pub async fn set_domain(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
        input: &str,
    ) -> Result<CustomDomain, AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let features = core.features(&s.org);
            let domain = s.access.custom_domain_request(input, &features)?;
            let current = core.stores.settings.custom_domain(s.org.id()).await?;
            let verified_elsewhere = core
                .stores
                .settings
                .domain_claims(&domain, s.org.id())
                .await?
                .iter()
                .any(|o| !o.org_deleted && o.claim.is_verified());
            let token = verification_token(core.tokens.random_bytes());
            let (claim, outcome) =
                s.access
                    .set_custom_domain(current.as_ref(), domain, verified_elsewhere, &features, token, s.now())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            if outcome.events.is_empty() {
                return Ok(Decision::new(c, claim));
            }
            c.custom_domains.push(claim.clone());
            let version = claim.record().version + 1;
            Ok(Decision::new(c, claim.with_version(version)))
        })
        .await
    }

    /// `POST …/domain/verify` (§14): DNS, then HTTP. Success marks the claim verified and
    /// clears every other org's claim on the domain (`domain.deleted` there, actor `system`);
    /// failure, or another org holding it verified, writes nothing.
    pub async fn verify_domain(
        &self,
        caller: &Caller,
        meta: &RequestMeta,
        slug: &str,
    ) -> Result<Verification, AppError> {
        let core = &self.core;
        let nobody = RequestMeta::default();
        let nobody = &nobody;
        core.mutate(caller, meta, slug, |s| async move {
            let current = core.stores.settings.custom_domain(s.org.id()).await?;
            let mut claim = s.access.verification_target(current.as_ref())?.clone();
            if claim.is_verified() {
                let answer = Verification {
                    verified: true,
                    message: "Domain is already verified".to_owned(),
                    method: claim.method(),
                };
                return Ok(Decision::new(Changeset::default(), answer));
            }
            let others = core.stores.settings.domain_claims(claim.domain(), s.org.id()).await?;
            if others.iter().any(|o| !o.org_deleted && o.claim.is_verified()) {
                let answer = Verification {
                    verified: false,
                    message: "This domain is already verified by another organization".to_owned(),
                    method: None,
                };
                return Ok(Decision::new(Changeset::default(), answer));
            }
            let method = match core.verifier.prove(&claim).await {
                Ok(method) => method,
                Err(message) => {
                    let answer = Verification {
                        verified: false,
                        message,
                        method: None,
                    };
                    return Ok(Decision::new(Changeset::default(), answer));
                }
            };
            let now = s.now();
            let outcome = s.access.mark_domain_verified(&mut claim, method, now)?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            c.custom_domains.push(claim);
            // The other orgs' entries carry nothing of this request (its client's IP and
            // user agent belong to another tenant).
            let system = Recorder::system(core, nobody, now);
            for other in others {
                if !other.org_deleted {
                    let cleared = other.claim.cleared_by_verification();
                    system.record(&mut c, Some(other.claim.org_id()), None, &[cleared]);
                }
                c.removed_custom_domains.push(other.claim);
            }
            let answer = Verification {
                verified: true,
                message: format!("Domain verified via {}", method.as_str()),
                method: Some(method),
            };
            Ok(Decision::new(c, answer))
        })
        .await
    }

    /// `DELETE …/domain`: no-op when none is set (§1.7).
    pub async fn delete_domain(&self, caller: &Caller, meta: &RequestMeta, slug: &str) -> Result<(), AppError> {
        let core = &self.core;
        core.mutate(caller, meta, slug, |s| async move {
            let current = core.stores.settings.custom_domain(s.org.id()).await?;
            let outcome = s.access.delete_custom_domain(current.as_ref())?;
            let mut c = s.record(&outcome.principal, &outcome.events);
            if let Some(claim) = current.filter(|_| !outcome.events.is_empty()) {
                c.removed_custom_domains.push(claim);
            }
            Ok(Decision::new(c, ()))
        })
        .await
    }
}
