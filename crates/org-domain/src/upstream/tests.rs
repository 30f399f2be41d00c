//! Unit tests of the §11 rules: field rules, completeness, discovery checks, SAML metadata.

use super::*;
use crate::access::Actor;
use crate::ids::{MembershipId, UserId};
use crate::membership::{Membership, MembershipRecord, MembershipStatus};
use crate::organization::{NewOrganization, OrgStatus, Organization};
use crate::role::Role;
use crate::tier::TierId;
use crate::values::{OrgName, Slug};
use uuid::Uuid;

/// A certificate made with `openssl req -x509 -newkey ec … -subj /CN=idp.test -days 3650`, and
/// what `openssl x509 -noout -fingerprint -sha256 -enddate` printed for it.
const OPENSSL_CERT: &str = "MIIBfDCCASGgAwIBAgIUQwCHNtyUX5FprwYH/JHlLUlmTI8wCgYIKoZIzj0EAwIwEzERMA8GA1UEAwwIaWRwLnRlc3QwHhcNMjYxMjAyMDU0ODE5WhcNMzYxMTI5MDU0ODE5WjATMREwDwYDVQQDDAhpZHAudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABCvOmVDPbEWlNuQfR494wz8s3yBe7vYmq+1YwB0aJ57kT/iigBLt3ch33ftsKjON1j/eDFm+7jqUy1D9YTeTk1ajUzBRMB0GA1UdDgQWBBTP9OkGxDpIKhUh8DjUe242zwM24zAfBgNVHSMEGDAWgBTP9OkGxDpIKhUh8DjUe242zwM24zAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCesmIU99WYrNwkQEeSp304TCBQIJOGJhEugGeyW2cMLwIhALBD8HpK4TU7o1KUUPFtJ5jg5QjHGnlayoP4TeVyjnsL";
const OPENSSL_FINGERPRINT: &str =
    "52:7F:A4:BA:31:1F:E7:E6:60:4D:7B:FE:67:66:25:96:D7:96:75:4B:F4:66:66:B1:8B:13:E1:FB:99:B4:E1:23";
const OPENSSL_NOT_AFTER: &str = "2036-11-29T05:48:19Z";

fn expired_cert() -> String {
    let mut params = rcgen::CertificateParams::new(vec!["old.idp.test".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2019, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    base64::engine::general_purpose::STANDARD.encode(cert.der())
}

fn entity(cert: &str, sso: &str) -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.test/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
      {cert}
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    {sso}
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

const SSO: &str = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.test/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/redirect"/>"#;

#[test]
fn saml_metadata_yields_the_entity_the_redirect_location_and_the_signing_certificates() {
    let md = parse_saml_metadata(&entity(OPENSSL_CERT, SSO)).unwrap();
    assert_eq!(md.entity_id, "https://idp.test/saml");
    assert_eq!(md.sso_url, "https://idp.test/redirect", "HTTP-Redirect is preferred");
    assert_eq!(
        md.certificates.len(),
        1,
        "the encryption key is not a signing certificate"
    );
    let want = OPENSSL_FINGERPRINT.replace(':', "").to_ascii_lowercase();
    assert_eq!(md.certificates[0].sha256_fingerprint, want);
    assert_eq!(
        md.certificates[0]
            .not_after
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        OPENSSL_NOT_AFTER
    );
    let post_only = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.test/post"/>"#;
    assert_eq!(
        parse_saml_metadata(&entity(OPENSSL_CERT, post_only)).unwrap().sso_url,
        "https://idp.test/post"
    );
}

#[test]
fn an_expired_signing_certificate_is_accepted_and_reported() {
    let md = parse_saml_metadata(&entity(&expired_cert(), SSO)).unwrap();
    assert_eq!(md.certificates[0].not_after.to_rfc3339(), "2020-01-01T00:00:00+00:00");
}

#[test]
fn an_entities_descriptor_is_accepted_with_exactly_one_idp() {
    let one = entity(OPENSSL_CERT, SSO);
    let wrap = |inner: &str| {
        format!(
            r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{}</EntitiesDescriptor>"#,
            inner
        )
    };
    let sp = r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="sp"><SPSSODescriptor/></EntityDescriptor>"#;
    assert_eq!(
        parse_saml_metadata(&wrap(&format!("{sp}{one}"))).unwrap().entity_id,
        "https://idp.test/saml"
    );
    let two = parse_saml_metadata(&wrap(&format!("{one}{one}"))).unwrap_err();
    assert!(two.contains("exactly one"), "{two}");
    let none = parse_saml_metadata(&wrap(sp)).unwrap_err();
    assert!(none.contains("no EntityDescriptor with an IDPSSODescriptor"), "{none}");
}

#[test]
fn hostile_and_incomplete_metadata_is_refused_with_the_reason() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"#;
    assert!(parse_saml_metadata(laughs).unwrap_err().contains("DOCTYPE"));
    assert!(parse_saml_metadata("<!DOCTYPE x><x/>").unwrap_err().contains("DOCTYPE"));
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    assert!(parse_saml_metadata(&deep).unwrap_err().contains("deeper than 64"));
    let ok_depth = format!("{}{}", "<a>".repeat(64), "</a>".repeat(64));
    assert!(!parse_saml_metadata(&ok_depth).unwrap_err().contains("deeper"));
    let no_cert = entity(OPENSSL_CERT, SSO).replace("use=\"signing\"", "use=\"encryption\"");
    assert!(
        parse_saml_metadata(&no_cert)
            .unwrap_err()
            .contains("no signing certificate")
    );
    let artifact = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://idp.test/a"/>"#;
    assert!(
        parse_saml_metadata(&entity(OPENSSL_CERT, artifact))
            .unwrap_err()
            .contains("SingleSignOnService")
    );
    assert!(
        parse_saml_metadata(&entity("bm90IGEgY2VydA==", SSO))
            .unwrap_err()
            .contains("X.509")
    );
    assert!(parse_saml_metadata("<x/>").unwrap_err().contains("root element"));
    assert!(parse_saml_metadata("<unclosed>").unwrap_err().contains("well-formed"));
    let big = format!("<x>{}</x>", " ".repeat(MAX_METADATA_XML));
    assert!(parse_saml_metadata(&big).unwrap_err().contains("512 KiB"));
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn owner_access() -> Access {
    let alice = UserId::from_uuid(Uuid::from_u128(1));
    let (org, owner, _) = Organization::create(
        NewOrganization {
            id: OrgId::from_uuid(Uuid::from_u128(3)),
            slug: Slug::parse("acme").unwrap(),
            name: OrgName::parse("Acme").unwrap(),
            owner: alice,
            owner_membership: MembershipId::from_uuid(Uuid::from_u128(4)),
            status: OrgStatus::Active,
            tier_id: TierId::new("tier_pro"),
        },
        now(),
    );
    Access::resolve(
        &org,
        Actor {
            user_id: alice,
            is_platform_owner: false,
        },
        Some(&owner),
        None,
    )
    .unwrap()
}

fn member_access() -> Access {
    let alice = UserId::from_uuid(Uuid::from_u128(1));
    let bob = UserId::from_uuid(Uuid::from_u128(2));
    let (org, _, _) = Organization::create(
        NewOrganization {
            id: OrgId::from_uuid(Uuid::from_u128(3)),
            slug: Slug::parse("acme").unwrap(),
            name: OrgName::parse("Acme").unwrap(),
            owner: alice,
            owner_membership: MembershipId::from_uuid(Uuid::from_u128(4)),
            status: OrgStatus::Active,
            tier_id: TierId::new("tier_pro"),
        },
        now(),
    );
    let m = Membership::restore(MembershipRecord {
        id: MembershipId::from_uuid(Uuid::from_u128(5)),
        org_id: org.id(),
        user_id: bob,
        role: Role::Member,
        status: MembershipStatus::Active,
        created_at: now(),
        updated_at: now(),
        version: 1,
    })
    .unwrap();
    Access::resolve(
        &org,
        Actor {
            user_id: bob,
            is_platform_owner: false,
        },
        Some(&m),
        None,
    )
    .unwrap()
}

fn oidc_draft() -> UpstreamDraft {
    UpstreamDraft {
        connection_id: Some("okta-main".into()),
        name: Some("  Okta  ".into()),
        provider_type: Some("oidc".into()),
        client_id: Some("client".into()),
        client_secret: Some(Some("s3cret".into())),
        discovery_url: Some(Some("https://idp.test/.well-known/openid-configuration".into())),
        ..Default::default()
    }
}

fn doc() -> DiscoveryDocument {
    DiscoveryDocument {
        issuer: Some("https://idp.test".into()),
        authorization_endpoint: Some("https://idp.test/auth".into()),
        token_endpoint: Some("https://idp.test/token".into()),
        userinfo_endpoint: Some("https://idp.test/me".into()),
        jwks_uri: Some("https://idp.test/jwks".into()),
    }
}

fn fields(e: DomainError) -> Vec<String> {
    match e {
        DomainError::Validation(v) => v.into_iter().map(|f| f.field).collect(),
        other => panic!("not a validation error: {other:?}"),
    }
}

fn created(draft: &UpstreamDraft, fetched: &Fetched) -> Result<UpstreamProvider, DomainError> {
    let a = owner_access();
    let patch = a.upstream_input(draft, None)?;
    let id = UpstreamProviderId::from_uuid(Uuid::from_u128(9));
    a.create_upstream_provider(&patch, fetched, id, now()).map(|(p, _)| p)
}

#[test]
fn every_failing_field_rule_is_named() {
    let bad = UpstreamDraft {
        connection_id: Some("has space".into()),
        name: Some("   ".into()),
        provider_type: Some("OIDC".into()),
        client_id: Some(String::new()),
        client_secret: Some(Some("x".repeat(4097))),
        issuer: Some(Some("i".repeat(2049))),
        token_url: Some(Some(format!("https://x.test/{}", "a".repeat(2048)))),
        scopes: Some(Some("openid \"bad\"".into())),
        metadata: Some(Some(format!("{{\"k\":\"{}\"}}", "v".repeat(MAX_METADATA)))),
        ..Default::default()
    };
    let mut got = fields(owner_access().upstream_input(&bad, None).unwrap_err());
    got.sort();
    assert_eq!(
        got,
        [
            "client_id",
            "client_secret",
            "connection_id",
            "issuer",
            "metadata",
            "name",
            "provider_type",
            "scopes",
            "token_url"
        ]
    );
    let missing = fields(
        owner_access()
            .upstream_input(&UpstreamDraft::default(), None)
            .unwrap_err(),
    );
    assert_eq!(missing, ["connection_id", "name", "provider_type", "client_id"]);
}

#[test]
fn only_integration_managers_of_an_active_org_may_write() {
    assert_eq!(
        member_access().upstream_input(&oidc_draft(), None),
        Err(DomainError::MissingCapability(Capability::IntegrationsManage))
    );
    assert!(member_access().read_upstream_providers().is_err());
}

#[test]
fn discovery_fills_the_endpoints_the_issuer_and_the_default_scopes() {
    let fetched = Fetched {
        discovery: Some(doc()),
        metadata_xml: None,
    };
    let p = created(&oidc_draft(), &fetched).unwrap();
    let r = p.record();
    assert_eq!(r.name, "Okta");
    assert_eq!(r.issuer.as_deref(), Some("https://idp.test"));
    assert_eq!(r.authorization_url.as_deref(), Some("https://idp.test/auth"));
    assert_eq!(r.token_url.as_deref(), Some("https://idp.test/token"));
    assert_eq!(r.userinfo_url.as_deref(), Some("https://idp.test/me"));
    assert_eq!(r.jwks_url.as_deref(), Some("https://idp.test/jwks"));
    assert_eq!(r.scopes.as_deref(), Some(DEFAULT_OIDC_SCOPES));
    assert!(r.enabled);
    // An explicit endpoint wins over the document.
    let explicit = UpstreamDraft {
        token_url: Some(Some("https://other.test/token".into())),
        ..oidc_draft()
    };
    assert_eq!(
        created(&explicit, &fetched).unwrap().record().token_url.as_deref(),
        Some("https://other.test/token")
    );
}

#[test]
fn a_discovery_document_without_a_required_member_or_with_another_issuer_is_refused() {
    let no_jwks = Fetched {
        discovery: Some(DiscoveryDocument {
            jwks_uri: None,
            ..doc()
        }),
        metadata_xml: None,
    };
    let e = created(&oidc_draft(), &no_jwks).unwrap_err();
    assert!(
        matches!(&e, DomainError::Validation(v) if v[0].field == "discovery_url" && v[0].message.contains("jwks_uri")),
        "{e:?}"
    );
    let pinned = UpstreamDraft {
        issuer: Some(Some("https://elsewhere.test".into())),
        ..oidc_draft()
    };
    let e = created(
        &pinned,
        &Fetched {
            discovery: Some(doc()),
            metadata_xml: None,
        },
    )
    .unwrap_err();
    assert!(
        matches!(&e, DomainError::Validation(v) if v[0].field == "discovery_url" && v[0].message.contains("issuer")),
        "{e:?}"
    );
}

#[test]
fn completeness_rules_apply_to_the_resulting_configuration() {
    let no_endpoints = UpstreamDraft {
        discovery_url: None,
        client_secret: None,
        ..oidc_draft()
    };
    let mut got = fields(created(&no_endpoints, &Fetched::default()).unwrap_err());
    got.sort();
    assert_eq!(got, ["authorization_url", "client_secret", "token_url", "userinfo_url"]);
    let manual = UpstreamDraft {
        provider_type: Some("oauth2".into()),
        discovery_url: None,
        authorization_url: Some(Some("https://gh.test/auth".into())),
        token_url: Some(Some("https://gh.test/token".into())),
        userinfo_url: Some(Some("https://gh.test/user".into())),
        ..oidc_draft()
    };
    let p = created(&manual, &Fetched::default()).unwrap();
    assert_eq!(p.record().scopes, None, "no default scopes for oauth2");
    let saml = UpstreamDraft {
        connection_id: Some("adfs".into()),
        name: Some("ADFS".into()),
        provider_type: Some("saml".into()),
        client_id: Some("https://sp.test".into()),
        ..Default::default()
    };
    assert_eq!(
        fields(created(&saml, &Fetched::default()).unwrap_err()),
        ["metadata_xml"]
    );
    let xml_for_oidc = UpstreamDraft {
        metadata_xml: Some(Some("<x/>".into())),
        ..oidc_draft()
    };
    assert_eq!(
        fields(owner_access().upstream_input(&xml_for_oidc, None).unwrap_err()),
        ["metadata_xml"]
    );
}

#[test]
fn saml_metadata_fills_issuer_and_sso_url_and_a_bad_document_names_its_field() {
    let saml = UpstreamDraft {
        connection_id: Some("adfs".into()),
        name: Some("ADFS".into()),
        provider_type: Some("saml".into()),
        client_id: Some("https://sp.test".into()),
        metadata_xml: Some(Some(entity(OPENSSL_CERT, SSO))),
        ..Default::default()
    };
    let p = created(&saml, &Fetched::default()).unwrap();
    assert_eq!(p.record().issuer.as_deref(), Some("https://idp.test/saml"));
    assert_eq!(
        p.record().authorization_url.as_deref(),
        Some("https://idp.test/redirect")
    );
    assert_eq!(p.record().certificates.len(), 1);
    assert_eq!(p.record().client_secret, None, "a SAML provider needs no secret");
    let bad = UpstreamDraft {
        metadata_xml: Some(Some("<x/>".into())),
        ..saml.clone()
    };
    assert_eq!(
        fields(created(&bad, &Fetched::default()).unwrap_err()),
        ["metadata_xml"]
    );
    let by_url = UpstreamDraft {
        metadata_xml: None,
        metadata_url: Some(Some("https://idp.test/md".into())),
        ..saml
    };
    let patch = owner_access().upstream_input(&by_url, None).unwrap();
    assert_eq!(
        patch.fetch_plan(None).metadata_url.as_deref(),
        Some("https://idp.test/md")
    );
    let fetched = Fetched {
        discovery: None,
        metadata_xml: Some("<x/>".into()),
    };
    assert_eq!(fields(created(&by_url, &fetched).unwrap_err()), ["metadata_url"]);
}

#[test]
fn updates_keep_the_type_record_only_changes_and_redact_the_secret() {
    let a = owner_access();
    let fetched = Fetched {
        discovery: Some(doc()),
        metadata_xml: None,
    };
    let p = created(&oidc_draft(), &fetched).unwrap().with_version(1);
    let retype = UpstreamDraft {
        provider_type: Some("saml".into()),
        ..Default::default()
    };
    assert_eq!(
        fields(a.upstream_input(&retype, Some(&p)).unwrap_err()),
        ["provider_type"]
    );
    let same = UpstreamDraft {
        provider_type: Some("oidc".into()),
        name: Some("Okta".into()),
        ..Default::default()
    };
    let patch = a.upstream_input(&same, Some(&p)).unwrap();
    assert_eq!(patch.fetch_plan(Some(&p)), FetchPlan::default());
    let (written, outcome) = a
        .update_upstream_provider(&p, &patch, &Fetched::default(), now())
        .unwrap();
    assert!(written.is_none() && outcome.events.is_empty(), "nothing changed");
    let clear = UpstreamDraft {
        client_secret: Some(None),
        ..Default::default()
    };
    let patch = a.upstream_input(&clear, Some(&p)).unwrap();
    assert_eq!(
        fields(
            a.update_upstream_provider(&p, &patch, &Fetched::default(), now())
                .unwrap_err()
        ),
        ["client_secret"]
    );
    let rotate = UpstreamDraft {
        client_secret: Some(Some("new".into())),
        enabled: Some(false),
        ..Default::default()
    };
    let patch = a.upstream_input(&rotate, Some(&p)).unwrap();
    let (written, outcome) = a
        .update_upstream_provider(&p, &patch, &Fetched::default(), now())
        .unwrap();
    assert_eq!(written.unwrap().record().version, 1, "stored at the loaded version");
    match &outcome.events[..] {
        [
            DomainEvent::Upstream(UpstreamEvent::Updated {
                changes,
                secret,
                flagged,
                ..
            }),
        ] => {
            assert_eq!(*secret, Some(true));
            assert!(flagged.is_empty());
            assert_eq!(changes.iter().map(|c| c.field).collect::<Vec<_>>(), ["enabled"]);
        }
        other => panic!("{other:?}"),
    }
    let moved = UpstreamDraft {
        discovery_url: Some(Some("https://new.test/.well-known/openid-configuration".into())),
        ..Default::default()
    };
    let patch = a.upstream_input(&moved, Some(&p)).unwrap();
    assert_eq!(
        patch.fetch_plan(Some(&p)).discovery_url.as_deref(),
        Some("https://new.test/.well-known/openid-configuration")
    );
}
