//! Upstream identity providers of an org (§11): enterprise SSO connections (OIDC, OAuth 2.0,
//! SAML), one aggregate per provider, its own row and version. The rules live here: the field
//! rules, the completeness rules on the resulting configuration, the checks of an OIDC
//! discovery document (fetched by the app, handed in as [`DiscoveryDocument`]) and the parser of
//! SAML IdP metadata (no DTDs, depth ≤ 64, signing certificates with their SHA-256 fingerprint
//! and expiry). The client secret is write-only: never in `Debug`, events or views.

use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::access::{Access, Outcome};
use crate::capability::Capability;
use crate::error::{DomainError, FieldError};
use crate::event::{Change, ChangeValue, DomainEvent};
use crate::ids::OrgId;
pub use crate::ids::UpstreamProviderId;

/// Largest `metadata_xml` (and fetched SAML metadata) document: 512 KiB.
pub const MAX_METADATA_XML: usize = 512 * 1024;
/// Largest fetched OIDC discovery document: 1 MiB.
pub const MAX_DISCOVERY_DOCUMENT: usize = 1024 * 1024;
/// Largest `metadata` object, serialised: 16 KiB.
pub const MAX_METADATA: usize = 16 * 1024;
/// Deepest element nesting accepted in SAML metadata.
pub const MAX_XML_DEPTH: usize = 64;
/// Scopes of an OIDC provider when none are given.
pub const DEFAULT_OIDC_SCOPES: &str = "openid email profile";

const MD_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// The protocol of a provider (§11). It never changes after create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderType {
    Oidc,
    Oauth2,
    Saml,
}

impl ProviderType {
    /// Every type, in wire order.
    pub const ALL: [Self; 3] = [Self::Oidc, Self::Oauth2, Self::Saml];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Oauth2 => "oauth2",
            Self::Saml => "saml",
        }
    }

    /// Parses the wire name (exact, lower case: `OIDC` is refused).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// A signing certificate of a SAML IdP, as reported (§11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamlCertificate {
    /// SHA-256 of the DER certificate, 64 lower-case hex characters.
    pub sha256_fingerprint: String,
    /// The end of the validity period (an expired certificate is accepted and reported).
    pub not_after: DateTime<Utc>,
}

/// What a SAML IdP metadata document yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamlMetadata {
    pub entity_id: String,
    /// The location of the first SSO service with the HTTP-Redirect binding, else HTTP-POST.
    pub sso_url: String,
    pub certificates: Vec<SamlCertificate>,
}

/// Parses SAML IdP metadata (§11): no DOCTYPE, element depth ≤ 64, an `EntityDescriptor` with
/// an `IDPSSODescriptor` (or an `EntitiesDescriptor` holding exactly one such), at least one
/// `SingleSignOnService` with the HTTP-Redirect or HTTP-POST binding, at least one signing
/// certificate (a `KeyDescriptor` with `use="signing"` or no `use`). The error is the reason.
pub fn parse_saml_metadata(xml: &str) -> Result<SamlMetadata, String> {
    if xml.len() > MAX_METADATA_XML {
        return Err(format!(
            "the metadata document is larger than {} KiB",
            MAX_METADATA_XML / 1024
        ));
    }
    // roxmltree refuses DTDs with declarations; an empty `<!DOCTYPE x>` it would accept.
    if xml.contains("<!DOCTYPE") {
        return Err("the metadata document contains a DOCTYPE (DTDs are not allowed)".to_owned());
    }
    let doc = roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            ..Default::default()
        },
    )
    .map_err(|e| format!("the metadata document is not well-formed XML: {e}"))?;
    // Each element's depth, counted at most to the limit (so the cost stays linear).
    let too_deep = doc.descendants().any(|n| {
        n.is_element()
            && n.ancestors()
                .filter(roxmltree::Node::is_element)
                .take(MAX_XML_DEPTH + 1)
                .count()
                > MAX_XML_DEPTH
    });
    if too_deep {
        return Err(format!(
            "the metadata document nests elements deeper than {MAX_XML_DEPTH}"
        ));
    }
    let root = doc.root_element();
    let entity = if is(root, MD_NS, "EntityDescriptor") {
        root
    } else if is(root, MD_NS, "EntitiesDescriptor") {
        let idps: Vec<roxmltree::Node<'_, '_>> = root
            .descendants()
            .filter(|n| is(*n, MD_NS, "EntityDescriptor") && idp_of(*n).is_some())
            .collect();
        match idps[..] {
            [one] => one,
            [] => return Err("the EntitiesDescriptor holds no EntityDescriptor with an IDPSSODescriptor".to_owned()),
            _ => {
                return Err(format!(
                    "the EntitiesDescriptor holds {} EntityDescriptors with an IDPSSODescriptor; exactly one is accepted",
                    idps.len()
                ));
            }
        }
    } else {
        return Err(format!(
            "the root element is '{}', not an EntityDescriptor or EntitiesDescriptor of the SAML 2.0 metadata namespace",
            root.tag_name().name()
        ));
    };
    let entity_id = entity
        .attribute("entityID")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("the EntityDescriptor has no entityID")?
        .to_owned();
    let idp = idp_of(entity).ok_or("the EntityDescriptor has no IDPSSODescriptor")?;
    let sso = |binding: &str| {
        idp.children()
            .filter(|n| is(*n, MD_NS, "SingleSignOnService") && n.attribute("Binding") == Some(binding))
            .find_map(|n| n.attribute("Location").map(str::trim).filter(|l| !l.is_empty()))
    };
    let sso_url = sso(BINDING_REDIRECT)
        .or_else(|| sso(BINDING_POST))
        .ok_or("the IDPSSODescriptor has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")?
        .to_owned();
    let mut certificates = Vec::new();
    for key in idp.children().filter(|n| is(*n, MD_NS, "KeyDescriptor")) {
        if !matches!(key.attribute("use"), None | Some("signing")) {
            continue;
        }
        for cert in key.descendants().filter(|n| is(*n, DS_NS, "X509Certificate")) {
            let text: String = cert
                .text()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            certificates.push(certificate(&text)?);
        }
    }
    if certificates.is_empty() {
        return Err("the IDPSSODescriptor has no signing certificate".to_owned());
    }
    Ok(SamlMetadata {
        entity_id,
        sso_url,
        certificates,
    })
}

fn is(n: roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
}

fn idp_of<'a, 'i>(entity: roxmltree::Node<'a, 'i>) -> Option<roxmltree::Node<'a, 'i>> {
    entity.children().find(|n| is(*n, MD_NS, "IDPSSODescriptor"))
}

/// One base64 DER certificate: its fingerprint and expiry.
fn certificate(b64: &str) -> Result<SamlCertificate, String> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "a signing certificate is not valid base64".to_owned())?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|_| "a signing certificate is not a valid X.509 certificate".to_owned())?;
    let not_after = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .ok_or("a signing certificate has an unrepresentable expiry")?;
    let digest = Sha256::digest(&der);
    let sha256_fingerprint = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(SamlCertificate {
        sha256_fingerprint,
        not_after,
    })
}

/// An OIDC discovery document as fetched and decoded by the app: its string members.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryDocument {
    pub issuer: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
}

impl DiscoveryDocument {
    /// The members §11 requires, named in order when missing.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            ("issuer", &self.issuer),
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("jwks_uri", &self.jwks_uri),
        ]
        .into_iter()
        .filter(|(_, v)| v.as_deref().is_none_or(|s| s.trim().is_empty()))
        .map(|(k, _)| k)
        .collect()
    }
}

/// What the app fetched for a create or update (before the write transaction).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The discovery document of a new or changed `discovery_url`.
    pub discovery: Option<DiscoveryDocument>,
    /// The SAML metadata document of a new or changed `metadata_url`.
    pub metadata_xml: Option<String>,
}

/// What the app must fetch before deciding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchPlan {
    pub discovery_url: Option<String>,
    pub metadata_url: Option<String>,
}

/// Body of create or update as received: absent = `None`, `null` = `Some(None)` for the
/// nullable members. `metadata` is the serialised JSON object.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UpstreamDraft {
    pub connection_id: Option<String>,
    pub name: Option<String>,
    pub provider_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Option<String>>,
    pub issuer: Option<Option<String>>,
    pub authorization_url: Option<Option<String>>,
    pub token_url: Option<Option<String>>,
    pub userinfo_url: Option<Option<String>>,
    pub jwks_url: Option<Option<String>>,
    pub discovery_url: Option<Option<String>>,
    pub scopes: Option<Option<String>>,
    pub metadata: Option<Option<String>>,
    pub metadata_xml: Option<Option<String>>,
    pub metadata_url: Option<Option<String>>,
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for UpstreamDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamDraft")
            .field("connection_id", &self.connection_id)
            .field("name", &self.name)
            .field("provider_type", &self.provider_type)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|s| s.as_ref().map(|_| "[REDACTED]")),
            )
            .field("discovery_url", &self.discovery_url)
            .field("metadata_url", &self.metadata_url)
            .finish_non_exhaustive()
    }
}

impl UpstreamDraft {
    /// The URL members with their values, for the §9.3 checks the app runs.
    pub fn urls(&self) -> Vec<(&'static str, &str)> {
        [
            ("authorization_url", &self.authorization_url),
            ("token_url", &self.token_url),
            ("userinfo_url", &self.userinfo_url),
            ("jwks_url", &self.jwks_url),
            ("discovery_url", &self.discovery_url),
            ("metadata_url", &self.metadata_url),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().and_then(|v| v.as_deref()).map(|v| (k, v)))
        .collect()
    }
}

/// A draft that passed every field rule, with the provider type it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamPatch {
    pub provider_type: ProviderType,
    draft: UpstreamDraft,
}

impl UpstreamPatch {
    /// Applies the field rules of §11, reporting every failing field. `current` is the stored
    /// provider of an update (`None` on create, where the required members must be present).
    pub fn parse(draft: &UpstreamDraft, current: Option<&UpstreamProvider>) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let mut d = draft.clone();
        let creating = current.is_none();
        let required = |field: &str, present: bool, errors: &mut Vec<FieldError>| {
            if creating && !present {
                errors.push(FieldError::new(field, "is required"));
            }
        };
        required("connection_id", d.connection_id.is_some(), &mut errors);
        required("name", d.name.is_some(), &mut errors);
        required("provider_type", d.provider_type.is_some(), &mut errors);
        required("client_id", d.client_id.is_some(), &mut errors);
        if let Some(c) = &d.connection_id {
            let ok = (1..=128).contains(&c.chars().count())
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-'));
            if !ok {
                errors.push(FieldError::new(
                    "connection_id",
                    "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
                ));
            }
        }
        if let Some(n) = &mut d.name {
            *n = n.trim().to_owned();
            if !(1..=200).contains(&n.chars().count()) || n.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    "name",
                    "must be 1-200 characters after trimming, without control characters",
                ));
            }
        }
        let named_type = match d.provider_type.as_deref() {
            None => None,
            Some(t) => match ProviderType::parse(t) {
                Some(t) => Some(t),
                None => {
                    errors.push(FieldError::new("provider_type", "must be one of oidc, oauth2, saml"));
                    None
                }
            },
        };
        if let (Some(cur), Some(t)) = (current, named_type)
            && cur.0.provider_type != t
        {
            errors.push(FieldError::new("provider_type", "cannot be changed"));
        }
        if let Some(c) = &d.client_id
            && (c.trim().is_empty() || c.chars().count() > 512 || c.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "client_id",
                "must be 1-512 characters, not blank, without control characters",
            ));
        }
        if let Some(Some(s)) = &d.client_secret
            && (s.is_empty() || s.chars().count() > 4096 || s.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "client_secret",
                "must be 1-4096 characters without control characters",
            ));
        }
        if let Some(Some(i)) = &d.issuer
            && (i.trim().is_empty() || i.chars().count() > 2048 || i.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "issuer",
                "must be 1-2048 characters without control characters",
            ));
        }
        for (field, v) in draft.urls() {
            if v.chars().count() > 2048 {
                errors.push(FieldError::new(field, "URL is longer than 2048 characters"));
            }
        }
        if let Some(Some(s)) = &mut d.scopes {
            let tokens: Vec<&str> = s.split(' ').filter(|t| !t.is_empty()).collect();
            let valid = |t: &str| t.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
            if s.chars().count() > 2048 || tokens.is_empty() || !tokens.iter().all(|t| valid(t)) {
                errors.push(FieldError::new(
                    "scopes",
                    "must be 1-2048 characters of space-separated scope tokens",
                ));
            } else {
                *s = tokens.join(" ");
            }
        }
        if let Some(Some(m)) = &d.metadata
            && m.len() > MAX_METADATA
        {
            errors.push(FieldError::new("metadata", "must be at most 16 KiB serialised"));
        }
        if let Some(Some(x)) = &d.metadata_xml
            && x.len() > MAX_METADATA_XML
        {
            errors.push(FieldError::new("metadata_xml", "must be at most 512 KiB"));
        }
        let provider_type = named_type.or(current.map(|c| c.0.provider_type));
        if let Some(t) = provider_type
            && t != ProviderType::Saml
        {
            for (field, given) in [
                ("metadata_xml", matches!(d.metadata_xml, Some(Some(_)))),
                ("metadata_url", matches!(d.metadata_url, Some(Some(_)))),
            ] {
                if given {
                    errors.push(FieldError::new(field, "applies to saml providers only"));
                }
            }
        }
        match provider_type {
            Some(provider_type) if errors.is_empty() => Ok(Self {
                provider_type,
                draft: d,
            }),
            _ => Err(DomainError::Validation(errors)),
        }
    }

    /// The checked members.
    pub fn draft(&self) -> &UpstreamDraft {
        &self.draft
    }

    /// What must be fetched before deciding: a `discovery_url` given and different from the
    /// stored one (oidc, oauth2), a `metadata_url` given and different from the stored one when
    /// no `metadata_xml` comes with it (saml).
    pub fn fetch_plan(&self, current: Option<&UpstreamProvider>) -> FetchPlan {
        let d = &self.draft;
        let changed = |given: &Option<Option<String>>, stored: Option<&Option<String>>| match given {
            Some(Some(url)) if stored.and_then(|s| s.as_deref()) != Some(url.as_str()) => Some(url.clone()),
            _ => None,
        };
        let cur = current.map(|c| &c.0);
        match self.provider_type {
            ProviderType::Saml => FetchPlan {
                discovery_url: None,
                metadata_url: if matches!(d.metadata_xml, Some(Some(_))) {
                    None
                } else {
                    changed(&d.metadata_url, cur.map(|c| &c.metadata_url))
                },
            },
            _ => FetchPlan {
                discovery_url: changed(&d.discovery_url, cur.map(|c| &c.discovery_url)),
                metadata_url: None,
            },
        }
    }

    /// The configuration that results from applying this patch (and what was fetched) to
    /// `base`, with every completeness rule of §11 checked on it.
    fn resolve(&self, mut r: UpstreamRecord, fetched: &Fetched) -> Result<UpstreamRecord, DomainError> {
        let d = &self.draft;
        let set = |slot: &mut Option<String>, v: &Option<Option<String>>| {
            if let Some(v) = v {
                slot.clone_from(v);
            }
        };
        if let Some(v) = &d.connection_id {
            r.connection_id.clone_from(v);
        }
        if let Some(v) = &d.name {
            r.name.clone_from(v);
        }
        if let Some(v) = &d.client_id {
            r.client_id.clone_from(v);
        }
        set(&mut r.client_secret, &d.client_secret);
        set(&mut r.issuer, &d.issuer);
        set(&mut r.authorization_url, &d.authorization_url);
        set(&mut r.token_url, &d.token_url);
        set(&mut r.userinfo_url, &d.userinfo_url);
        set(&mut r.jwks_url, &d.jwks_url);
        set(&mut r.discovery_url, &d.discovery_url);
        set(&mut r.scopes, &d.scopes);
        set(&mut r.metadata, &d.metadata);
        set(&mut r.metadata_url, &d.metadata_url);
        if let Some(v) = d.enabled {
            r.enabled = v;
        }
        let explicit = |v: &Option<Option<String>>| matches!(v, Some(Some(_)));
        if let Some(doc) = &fetched.discovery {
            let missing = doc.missing();
            if !missing.is_empty() {
                return Err(DomainError::invalid(
                    "discovery_url",
                    format!("the discovery document lacks {}", missing.join(", ")),
                ));
            }
            let configured = if r.version == 0 || explicit(&d.issuer) {
                r.issuer.clone()
            } else {
                None
            };
            if let (Some(want), Some(got)) = (&configured, &doc.issuer)
                && want != got
            {
                return Err(DomainError::invalid(
                    "discovery_url",
                    format!("the discovery document's issuer '{got}' does not equal the configured issuer '{want}'"),
                ));
            }
            let fill = |slot: &mut Option<String>, given: &Option<Option<String>>, from: &Option<String>| {
                if !explicit(given) && from.is_some() {
                    slot.clone_from(from);
                }
            };
            fill(&mut r.issuer, &d.issuer, &doc.issuer);
            fill(
                &mut r.authorization_url,
                &d.authorization_url,
                &doc.authorization_endpoint,
            );
            fill(&mut r.token_url, &d.token_url, &doc.token_endpoint);
            fill(&mut r.userinfo_url, &d.userinfo_url, &doc.userinfo_endpoint);
            fill(&mut r.jwks_url, &d.jwks_url, &doc.jwks_uri);
        }
        if self.provider_type == ProviderType::Saml {
            let given_xml = match &d.metadata_xml {
                Some(Some(x)) => Some((x.clone(), "metadata_xml")),
                _ => fetched.metadata_xml.clone().map(|x| (x, "metadata_url")),
            };
            if let Some((xml, field)) = given_xml {
                let md = parse_saml_metadata(&xml).map_err(|e| DomainError::invalid(field, e))?;
                if !explicit(&d.issuer) {
                    r.issuer = Some(md.entity_id);
                }
                if !explicit(&d.authorization_url) {
                    r.authorization_url = Some(md.sso_url);
                }
                r.metadata_xml = Some(xml);
                r.certificates = md.certificates;
            } else if matches!(d.metadata_xml, Some(None)) {
                r.metadata_xml = None;
                r.certificates.clear();
            }
        } else {
            r.metadata_xml = None;
            r.metadata_url = None;
            r.certificates.clear();
            if r.scopes.is_none() && self.provider_type == ProviderType::Oidc {
                r.scopes = Some(DEFAULT_OIDC_SCOPES.to_owned());
            }
        }
        let mut errors = Vec::new();
        match self.provider_type {
            ProviderType::Oidc | ProviderType::Oauth2 => {
                if r.discovery_url.is_none() {
                    for (field, v) in [
                        ("authorization_url", &r.authorization_url),
                        ("token_url", &r.token_url),
                        ("userinfo_url", &r.userinfo_url),
                    ] {
                        if v.is_none() {
                            errors.push(FieldError::new(field, "is required without discovery_url"));
                        }
                    }
                }
                if r.client_secret.is_none() {
                    errors.push(FieldError::new(
                        "client_secret",
                        "is required for oidc and oauth2 providers",
                    ));
                }
            }
            ProviderType::Saml => {
                if r.metadata_xml.is_none() && r.metadata_url.is_none() && r.authorization_url.is_none() {
                    errors.push(FieldError::new(
                        "metadata_xml",
                        "one of metadata_xml, metadata_url or authorization_url is required",
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(r)
        } else {
            Err(DomainError::Validation(errors))
        }
    }
}

/// Upstream provider facts (§23.1 `upstream_provider.*`, §23.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamEvent {
    Created {
        org_id: OrgId,
        id: UpstreamProviderId,
        connection_id: String,
        name: String,
        provider_type: ProviderType,
    },
    /// `changes` holds the plain fields; the secret only as `secret` (`Some(true)` set or
    /// changed: `"[REDACTED]"`; `Some(false)` cleared: `null`), and large fields only by name
    /// in `flagged` (`{"changed": true}`, §1.7).
    Updated {
        org_id: OrgId,
        id: UpstreamProviderId,
        changes: Vec<Change>,
        secret: Option<bool>,
        flagged: Vec<&'static str>,
    },
    Deleted {
        org_id: OrgId,
        id: UpstreamProviderId,
        connection_id: String,
        name: String,
        provider_type: ProviderType,
    },
}

/// One upstream provider as stored. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamRecord {
    pub id: UpstreamProviderId,
    pub org_id: OrgId,
    pub connection_id: String,
    pub name: String,
    pub provider_type: ProviderType,
    pub client_id: String,
    /// Write-only (§1.8).
    pub client_secret: Option<String>,
    pub issuer: Option<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub discovery_url: Option<String>,
    pub scopes: Option<String>,
    /// The serialised JSON object.
    pub metadata: Option<String>,
    /// SAML: the metadata document as given or fetched.
    pub metadata_xml: Option<String>,
    pub metadata_url: Option<String>,
    /// SAML: the signing certificates of the metadata.
    pub certificates: Vec<SamlCertificate>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version as loaded; 0 for a provider not yet stored.
    pub version: u64,
}

impl std::fmt::Debug for UpstreamRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamRecord")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("connection_id", &self.connection_id)
            .field("provider_type", &self.provider_type)
            .field("client_id", &self.client_id)
            .field("has_client_secret", &self.client_secret.is_some())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// An org's upstream identity provider (§11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamProvider(UpstreamRecord);

impl UpstreamProvider {
    /// Rebuilds a provider from storage.
    pub fn restore(record: UpstreamRecord) -> Self {
        Self(record)
    }
    /// The stored state.
    pub fn record(&self) -> &UpstreamRecord {
        &self.0
    }
    pub fn id(&self) -> UpstreamProviderId {
        self.0.id
    }
    pub fn org_id(&self) -> OrgId {
        self.0.org_id
    }
    /// The same provider as stored under another version (for adapters after a write).
    pub fn with_version(mut self, version: u64) -> Self {
        self.0.version = version;
        self
    }
}

fn text(v: &Option<String>) -> ChangeValue {
    ChangeValue::from(v.clone())
}

/// The audit `changes` between two configurations (§1.7).
fn diff(old: &UpstreamRecord, new: &UpstreamRecord) -> (Vec<Change>, Option<bool>, Vec<&'static str>) {
    let mut changes = Vec::new();
    let mut push = |field, a: ChangeValue, b: ChangeValue| changes.extend(Change::of(field, a, b));
    push(
        "connection_id",
        ChangeValue::Text(old.connection_id.clone()),
        ChangeValue::Text(new.connection_id.clone()),
    );
    push(
        "name",
        ChangeValue::Text(old.name.clone()),
        ChangeValue::Text(new.name.clone()),
    );
    push(
        "client_id",
        ChangeValue::Text(old.client_id.clone()),
        ChangeValue::Text(new.client_id.clone()),
    );
    for (field, a, b) in [
        ("issuer", &old.issuer, &new.issuer),
        ("authorization_url", &old.authorization_url, &new.authorization_url),
        ("token_url", &old.token_url, &new.token_url),
        ("userinfo_url", &old.userinfo_url, &new.userinfo_url),
        ("jwks_url", &old.jwks_url, &new.jwks_url),
        ("discovery_url", &old.discovery_url, &new.discovery_url),
        ("scopes", &old.scopes, &new.scopes),
        ("metadata", &old.metadata, &new.metadata),
        ("metadata_url", &old.metadata_url, &new.metadata_url),
    ] {
        push(field, text(a), text(b));
    }
    push(
        "enabled",
        ChangeValue::Bool(old.enabled),
        ChangeValue::Bool(new.enabled),
    );
    let secret = match (&old.client_secret, &new.client_secret) {
        (a, b) if a == b => None,
        (_, Some(_)) => Some(true),
        (Some(_), None) => Some(false),
        (None, None) => None,
    };
    let mut flagged = Vec::new();
    if old.metadata_xml != new.metadata_xml {
        flagged.push("metadata_xml");
    }
    if old.certificates != new.certificates {
        flagged.push("certificates");
    }
    (changes, secret, flagged)
}

impl Access {
    /// `GET …/upstream-providers[/:id]`: `integrations.manage`.
    pub fn read_upstream_providers(&self) -> Result<(), DomainError> {
        self.require(Capability::IntegrationsManage).map(drop)
    }

    /// The authorization of a write (§1.5 steps 4 and 6): `integrations.manage` and the
    /// active-org gate, before the provider is looked up.
    pub fn write_upstream_providers(&self) -> Result<(), DomainError> {
        self.require_mutable(Capability::IntegrationsManage).map(drop)
    }

    /// Step one of create and update (§1.5): `integrations.manage` and the active-org gate,
    /// then every field rule of §11. `current` is the provider an update addresses.
    pub fn upstream_input(
        &self,
        draft: &UpstreamDraft,
        current: Option<&UpstreamProvider>,
    ) -> Result<UpstreamPatch, DomainError> {
        self.require_mutable(Capability::IntegrationsManage)?;
        UpstreamPatch::parse(draft, current)
    }

    /// Creates a provider from a checked patch and what was fetched for it.
    pub fn create_upstream_provider(
        &self,
        patch: &UpstreamPatch,
        fetched: &Fetched,
        id: UpstreamProviderId,
        now: DateTime<Utc>,
    ) -> Result<(UpstreamProvider, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::IntegrationsManage)?;
        let base = UpstreamRecord {
            id,
            org_id: self.org_id(),
            connection_id: String::new(),
            name: String::new(),
            provider_type: patch.provider_type,
            client_id: String::new(),
            client_secret: None,
            issuer: None,
            authorization_url: None,
            token_url: None,
            userinfo_url: None,
            jwks_url: None,
            discovery_url: None,
            scopes: None,
            metadata: None,
            metadata_xml: None,
            metadata_url: None,
            certificates: Vec::new(),
            enabled: true,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let r = patch.resolve(base, fetched)?;
        let event = DomainEvent::Upstream(UpstreamEvent::Created {
            org_id: r.org_id,
            id,
            connection_id: r.connection_id.clone(),
            name: r.name.clone(),
            provider_type: r.provider_type,
        });
        Ok((
            UpstreamProvider(r),
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// Updates a provider. A patch that changes nothing writes nothing (`None`, §1.7).
    pub fn update_upstream_provider(
        &self,
        current: &UpstreamProvider,
        patch: &UpstreamPatch,
        fetched: &Fetched,
        now: DateTime<Utc>,
    ) -> Result<(Option<UpstreamProvider>, Outcome), DomainError> {
        let principal = self.require_mutable(Capability::IntegrationsManage)?;
        if current.org_id() != self.org_id() {
            return Err(DomainError::NotFound);
        }
        let r = patch.resolve(current.0.clone(), fetched)?;
        let (changes, secret, flagged) = diff(&current.0, &r);
        if changes.is_empty() && secret.is_none() && flagged.is_empty() {
            return Ok((
                None,
                Outcome {
                    principal,
                    events: Vec::new(),
                },
            ));
        }
        let event = DomainEvent::Upstream(UpstreamEvent::Updated {
            org_id: r.org_id,
            id: r.id,
            changes,
            secret,
            flagged,
        });
        Ok((
            Some(UpstreamProvider(UpstreamRecord { updated_at: now, ..r })),
            Outcome {
                principal,
                events: vec![event],
            },
        ))
    }

    /// Deletes a provider of this org.
    pub fn delete_upstream_provider(&self, current: &UpstreamProvider) -> Result<Outcome, DomainError> {
        let principal = self.require_mutable(Capability::IntegrationsManage)?;
        if current.org_id() != self.org_id() {
            return Err(DomainError::NotFound);
        }
        let r = &current.0;
        Ok(Outcome {
            principal,
            events: vec![DomainEvent::Upstream(UpstreamEvent::Deleted {
                org_id: r.org_id,
                id: r.id,
                connection_id: r.connection_id.clone(),
                name: r.name.clone(),
                provider_type: r.provider_type,
            })],
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
