//! Branding (§15) and the custom domain (§14): field rules, the tier gate (tier plus
//! overrides), no-op writes, verification by DNS then HTTP, and the clearing of other orgs'
//! claims when one verifies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use org_app::platform::{Lifecycle, PlatformPatch};
use org_app::settings::DomainVerifier;
use org_app::{App, AppError};
use org_domain::branding::BrandingUpdate;
use org_domain::custom_domain::VerificationMethod;
use org_domain::{DomainError, Feature, FeatureOverrides};
use org_ports::{AuditLog, SendResult, TxtLookup, TxtResolver, VerificationFetcher};

use crate::support::{World, invalid_fields, meta, missing};

/// DNS and HTTP answers by name and URL; anything else does not exist.
#[derive(Default)]
pub(crate) struct Net {
    txt: Mutex<HashMap<String, TxtLookup>>,
    http: Mutex<HashMap<String, SendResult>>,
    fetched: Mutex<Vec<String>>,
}

impl Net {
    pub(crate) fn txt(&self, name: &str, answer: TxtLookup) {
        self.txt.lock().unwrap().insert(name.to_owned(), answer);
    }
    fn http(&self, url: &str, answer: SendResult) {
        self.http.lock().unwrap().insert(url.to_owned(), answer);
    }
}

struct Dns(Arc<Net>);
struct Http(Arc<Net>);

#[async_trait::async_trait]
impl TxtResolver for Dns {
    async fn txt(&self, name: &str) -> TxtLookup {
        self.0
            .txt
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or(TxtLookup::NotFound)
    }
}

#[async_trait::async_trait]
impl VerificationFetcher for Http {
    async fn fetch(&self, url: &str, _max: usize) -> SendResult {
        self.0.fetched.lock().unwrap().push(url.to_owned());
        self.0
            .http
            .lock()
            .unwrap()
            .get(url)
            .cloned()
            .unwrap_or(SendResult::Error("connect_error".into()))
    }
}

/// The world's store seen by an app whose verifier asks `net`.
pub(crate) fn verifying(w: &World, net: &Arc<Net>) -> App {
    w.sibling().with_domain_verifier(DomainVerifier {
        txt: Arc::new(Dns(net.clone())),
        fetcher: Arc::new(Http(net.clone())),
        http_port: 8080,
    })
}

fn body(text: &str) -> SendResult {
    SendResult::Response {
        status: 200,
        body: text.into(),
        retry_after: None,
    }
}

fn patch(logo: Option<Option<&str>>, color: Option<Option<&str>>) -> BrandingUpdate {
    BrandingUpdate {
        logo_url: logo.map(|l| l.map(str::to_owned)),
        primary_color: color.map(|c| c.map(str::to_owned)),
    }
}

async fn without(w: &World, feature: Feature) {
    let mut o = FeatureOverrides::default();
    match feature {
        Feature::CustomDomain => o.allow_custom_domain = Some(false),
        Feature::Branding => o.allow_branding = Some(false),
        Feature::Scim => o.allow_scim = Some(false),
        Feature::Siem => o.allow_siem = Some(false),
    }
    let p = PlatformPatch {
        feature_overrides: Some(Some(o)),
        ..PlatformPatch::default()
    };
    w.app.platform.patch_org(&w.platform, &meta(), "acme", p).await.unwrap();
}

fn not_in_tier(feature: Feature) -> AppError {
    AppError::Domain(DomainError::FeatureNotInTier(feature))
}

#[tokio::test]
async fn branding_updates_validate_every_field_and_record_only_changes() {
    let w = World::new().await;
    let (app, o, m) = (&w.app, &w.owner, &meta());
    let unset = app.settings.branding(&w.member, m, "acme").await.unwrap();
    assert_eq!((unset.logo_url(), unset.primary_color()), (None, None));

    let bad = [
        (patch(Some(Some("http://cdn.acme.test/l.png")), None), vec!["logo_url"]),
        (
            patch(Some(Some("https://user:pw@cdn.acme.test/l.png")), None),
            vec!["logo_url"],
        ),
        (patch(Some(Some("/relative.png")), None), vec!["logo_url"]),
        (
            patch(Some(Some(&format!("https://cdn.test/{}", "a".repeat(2040)))), None),
            vec!["logo_url"],
        ),
        (patch(None, Some(Some("red"))), vec!["primary_color"]),
        (patch(None, Some(Some("#12345"))), vec!["primary_color"]),
        (
            patch(Some(Some("ftp://x.test/")), Some(Some("#ggg"))),
            vec!["logo_url", "primary_color"],
        ),
    ];
    for (upd, fields) in bad {
        let e = app.settings.update_branding(o, m, "acme", upd).await.unwrap_err();
        assert_eq!(invalid_fields(&e), fields);
    }
    assert!(
        w.acme_log().await.iter().all(|a| a != "branding.updated"),
        "nothing written"
    );

    let set = patch(Some(Some("https://cdn.acme.test/logo.png")), Some(Some("#FFAA00")));
    let b = app.settings.update_branding(o, m, "acme", set.clone()).await.unwrap();
    assert_eq!(
        (b.logo_url(), b.primary_color()),
        (Some("https://cdn.acme.test/logo.png"), Some("#ffaa00"))
    );
    let log = w.acme_log().await;
    assert_eq!(log.last().map(String::as_str), Some("branding.updated"));
    let entry = w
        .filtered(AuditLog::Org(w.org_id("acme").await), "branding.updated")
        .await;
    let meta_json = entry.items[0].entry.metadata.clone().unwrap();
    assert_eq!(meta_json["changes"]["primary_color"]["new"], "#ffaa00");
    assert_eq!(meta_json["changes"]["logo_url"]["old"], serde_json::Value::Null);
    let events = w.event_types("acme").await;
    assert_eq!(events.iter().filter(|t| *t == "branding.updated").count(), 1);
    let data = w
        .org_events("acme")
        .await
        .into_iter()
        .rev()
        .find(|e| e.event_type == "branding.updated");
    assert_eq!(
        data.unwrap().data,
        serde_json::json!({"logo_url": "https://cdn.acme.test/logo.png", "primary_color": "#ffaa00"})
    );

    // The same values again (any case), or an empty patch: nothing is written.
    for again in [set, patch(None, Some(Some("#ffaa00"))), BrandingUpdate::default()] {
        app.settings.update_branding(o, m, "acme", again).await.unwrap();
    }
    assert_eq!(w.acme_log().await.len(), log.len(), "no-ops write no entry");
    assert_eq!(w.event_types("acme").await.len(), events.len(), "and no event");

    // `null` clears.
    let cleared = app
        .settings
        .update_branding(o, m, "acme", patch(Some(None), None))
        .await
        .unwrap();
    assert_eq!((cleared.logo_url(), cleared.primary_color()), (None, Some("#ffaa00")));
    let public = app.settings.public_branding("acme").await.unwrap();
    assert_eq!(public.primary_color(), Some("#ffaa00"));
}

#[tokio::test]
async fn branding_needs_the_capability_then_the_tier_feature_then_an_active_org() {
    let w = World::new().await;
    let (app, m) = (&w.app, &meta());
    let upd = patch(None, Some(Some("#000")));
    let e = app
        .settings
        .update_branding(&w.member, m, "acme", upd.clone())
        .await
        .unwrap_err();
    assert_eq!(e, missing(org_domain::Capability::OrgSettingsManage));
    let e = app
        .settings
        .update_branding(&w.stranger, m, "acme", upd.clone())
        .await
        .unwrap_err();
    assert_eq!(e, crate::support::not_found());
    without(&w, Feature::Branding).await;
    let e = app
        .settings
        .update_branding(&w.owner, m, "acme", upd.clone())
        .await
        .unwrap_err();
    assert_eq!(e, not_in_tier(Feature::Branding));
    assert_eq!(
        e.to_string(),
        "The feature 'Custom Branding' is not available on your current plan"
    );
    // Reads stay open after a downgrade.
    app.settings.branding(&w.member, m, "acme").await.unwrap();
}

#[tokio::test]
async fn public_branding_is_for_active_orgs_only() {
    let w = World::new().await;
    let (app, m) = (&w.app, &meta());
    app.settings.public_branding("acme").await.unwrap();
    assert_eq!(
        app.settings.public_branding("nope").await.unwrap_err(),
        crate::support::not_found()
    );
    let suspend = Lifecycle::Suspend { reason: None };
    app.platform.lifecycle(&w.platform, m, "acme", suspend).await.unwrap();
    assert_eq!(
        app.settings.public_branding("acme").await.unwrap_err(),
        crate::support::not_found()
    );
}

#[tokio::test]
async fn setting_a_domain_normalises_it_and_re_setting_it_changes_nothing() {
    let w = World::new().await;
    let (app, o, m) = (&w.app, &w.owner, &meta());
    for bad in [
        "",
        "localhost",
        "a..b.com",
        "-a.com",
        "a-.com",
        "exa mple.com",
        "example.123",
        "x/y.com",
        "u@x.com",
        "x.com:80",
    ] {
        let e = app.settings.set_domain(o, m, "acme", bad).await.unwrap_err();
        assert_eq!(invalid_fields(&e), vec!["domain"], "{bad:?}");
    }
    let long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
    assert!(
        app.settings.set_domain(o, m, "acme", &long).await.is_err(),
        "over 253 characters"
    );
    let claim = app
        .settings
        .set_domain(o, m, "acme", " Login.Acme.TEST. ")
        .await
        .unwrap();
    assert_eq!(claim.domain().as_str(), "login.acme.test");
    assert_eq!(claim.token().len(), 32);
    assert!(claim.token().chars().all(|c| c.is_ascii_hexdigit()));
    assert!(!claim.is_verified());
    let log = w.acme_log().await;
    assert_eq!(log.last().map(String::as_str), Some("domain.set"));

    let again = app.settings.set_domain(o, m, "acme", "login.acme.test").await.unwrap();
    assert_eq!(again.token(), claim.token(), "the same token");
    assert_eq!(w.acme_log().await.len(), log.len(), "no entry for a no-op");

    let other = app.settings.set_domain(o, m, "acme", "sso.acme.test").await.unwrap();
    assert_ne!(other.token(), claim.token(), "another domain gets a new token");
    let stored = app.settings.domain(&w.member, m, "acme").await.unwrap().unwrap();
    assert_eq!(stored.domain().as_str(), "sso.acme.test");

    app.settings.delete_domain(o, m, "acme").await.unwrap();
    assert_eq!(app.settings.domain(&w.member, m, "acme").await.unwrap(), None);
    let n = w.acme_log().await.len();
    app.settings.delete_domain(o, m, "acme").await.unwrap();
    assert_eq!(w.acme_log().await.len(), n, "deleting nothing is a no-op");
    assert_eq!(
        w.acme_log().await.iter().rev().take(3).cloned().collect::<Vec<_>>(),
        ["domain.deleted", "domain.set", "domain.set"]
    );
}

#[tokio::test]
async fn the_domain_gate_applies_to_setting_only() {
    let w = World::new().await;
    let (app, o, m) = (&w.app, &w.owner, &meta());
    app.settings.set_domain(o, m, "acme", "acme.test").await.unwrap();
    let e = app
        .settings
        .set_domain(&w.member, m, "acme", "x.test")
        .await
        .unwrap_err();
    assert_eq!(e, missing(org_domain::Capability::OrgSettingsManage));
    without(&w, Feature::CustomDomain).await;
    let e = app.settings.set_domain(o, m, "acme", "x.test").await.unwrap_err();
    assert_eq!(e, not_in_tier(Feature::CustomDomain));
    // Verify and delete keep working after a downgrade.
    let v = app.settings.verify_domain(o, m, "acme").await.unwrap();
    assert!(!v.verified);
    app.settings.delete_domain(o, m, "acme").await.unwrap();
    let e = app.settings.verify_domain(o, m, "acme").await.unwrap_err();
    assert_eq!(e, AppError::Domain(DomainError::NoCustomDomain));
}

#[tokio::test]
async fn verification_tries_dns_then_http_and_says_what_it_found() {
    let w = World::new().await;
    let net = Arc::new(Net::default());
    let app = verifying(&w, &net);
    let (o, m) = (&w.owner, &meta());
    let claim = app.settings.set_domain(o, m, "acme", "acme.test").await.unwrap();
    let log = w.acme_log().await.len();

    let v = app.settings.verify_domain(o, m, "acme").await.unwrap();
    assert!(!v.verified && v.method.is_none());
    assert!(
        v.message.contains("no TXT record found at _sso-verification.acme.test"),
        "{}",
        v.message
    );
    assert!(
        v.message
            .contains("http://acme.test:8080/.well-known/sso-verification.txt"),
        "{}",
        v.message
    );

    net.txt("_sso-verification.acme.test", TxtLookup::Records(vec!["wrong".into()]));
    net.http("http://acme.test:8080/.well-known/sso-verification.txt", body("nope"));
    let v = app.settings.verify_domain(o, m, "acme").await.unwrap();
    assert!(!v.verified);
    assert!(
        v.message.contains("\"wrong\"") && v.message.contains("\"nope\""),
        "{}",
        v.message
    );
    assert_eq!(w.acme_log().await.len(), log, "failures write nothing");

    // The HTTP file, trimmed.
    net.http(
        "http://acme.test:8080/.well-known/sso-verification.txt",
        body(&format!("  {}\n", claim.token())),
    );
    let v = app.settings.verify_domain(o, m, "acme").await.unwrap();
    assert_eq!((v.verified, v.method), (true, Some(VerificationMethod::Http)));
    let stored = app.settings.domain(&w.member, m, "acme").await.unwrap().unwrap();
    assert!(stored.is_verified() && stored.verified_at().is_some());
    let after = w.acme_log().await;
    assert_eq!(after.last().map(String::as_str), Some("domain.verified"));
    let entry = w
        .filtered(AuditLog::Org(w.org_id("acme").await), "domain.verified")
        .await;
    assert_eq!(
        entry.items[0].entry.metadata,
        Some(serde_json::json!({"domain": "acme.test", "method": "HTTP"}))
    );

    // Already verified: at once, without a lookup or an entry.
    let fetched = net.fetched.lock().unwrap().len();
    let v = app.settings.verify_domain(o, m, "acme").await.unwrap();
    assert_eq!((v.verified, v.method), (true, Some(VerificationMethod::Http)));
    assert_eq!(net.fetched.lock().unwrap().len(), fetched);
    assert_eq!(w.acme_log().await.len(), after.len());
}

#[tokio::test]
async fn a_verification_clears_every_other_claim_and_blocks_later_ones() {
    let w = World::new().await;
    let net = Arc::new(Net::default());
    let app = verifying(&w, &net);
    let m = &meta();
    let theirs = app
        .settings
        .set_domain(&w.stranger, m, "other", "shared.test")
        .await
        .unwrap();
    let ours = app
        .settings
        .set_domain(&w.owner, m, "acme", "shared.test")
        .await
        .unwrap();
    assert_ne!(theirs.token(), ours.token());
    net.txt(
        "_sso-verification.shared.test",
        TxtLookup::Records(vec![ours.token().to_owned()]),
    );
    let v = app.settings.verify_domain(&w.owner, m, "acme").await.unwrap();
    assert_eq!((v.verified, v.method), (true, Some(VerificationMethod::Dns)));

    assert_eq!(
        app.settings.domain(&w.stranger, m, "other").await.unwrap(),
        None,
        "cleared"
    );
    let other_log = AuditLog::Org(w.org_id("other").await);
    let cleared = w.filtered(other_log, "domain.deleted").await;
    assert_eq!(cleared.items.len(), 1);
    assert_eq!(cleared.items[0].entry.actor.kind, org_ports::ActorType::System);
    assert_eq!(
        cleared.items[0].entry.ip_address, None,
        "nothing of the other tenant's request"
    );
    assert_eq!(
        cleared.items[0].entry.metadata,
        Some(serde_json::json!({"domain": "shared.test"}))
    );
    assert!(w.event_types("other").await.contains(&"domain.deleted".to_owned()));

    // Another org may not set it now, nor verify a claim it still holds.
    let e = app
        .settings
        .set_domain(&w.stranger, m, "other", "SHARED.test")
        .await
        .unwrap_err();
    assert_eq!(e, AppError::Domain(DomainError::DomainNotAvailable));
    assert_eq!(e.to_string(), "This domain is not available");
}

#[tokio::test]
async fn a_claim_made_before_another_org_verified_does_not_verify() {
    let w = World::new().await;
    let net = Arc::new(Net::default());
    let app = verifying(&w, &net);
    let m = &meta();
    let ours = app.settings.set_domain(&w.owner, m, "acme", "race.test").await.unwrap();
    let theirs = app
        .settings
        .set_domain(&w.stranger, m, "other", "race.test")
        .await
        .unwrap();
    net.txt(
        "_sso-verification.race.test",
        TxtLookup::Records(vec![ours.token().to_owned(), theirs.token().to_owned()]),
    );
    // `other` verifies first; acme's claim is gone, so acme has nothing to verify.
    assert!(
        app.settings
            .verify_domain(&w.stranger, m, "other")
            .await
            .unwrap()
            .verified
    );
    let e = app.settings.verify_domain(&w.owner, m, "acme").await.unwrap_err();
    assert_eq!(e, AppError::Domain(DomainError::NoCustomDomain));
    // A claim made afterwards is refused at once.
    let e = app
        .settings
        .set_domain(&w.owner, m, "acme", "race.test")
        .await
        .unwrap_err();
    assert_eq!(e, AppError::Domain(DomainError::DomainNotAvailable));
}

/// (The store side of a racing first write — a stale read, decided again — is the contract
/// check `branding_is_one_row_per_org_written_compare_and_swap`.)
#[tokio::test]
async fn two_writers_of_the_singletons_lose_nothing() {
    let w = World::new().await;
    let (app, o, m) = (&w.app, &w.owner, &meta());
    let (a, b) = tokio::join!(
        app.settings
            .update_branding(o, m, "acme", patch(None, Some(Some("#111")))),
        app.settings
            .update_branding(o, m, "acme", patch(Some(Some("https://x.test/l.png")), None)),
    );
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    let both = app.settings.branding(o, m, "acme").await.unwrap();
    assert_eq!(
        (both.logo_url(), both.primary_color()),
        (Some("https://x.test/l.png"), Some("#111")),
        "neither write is lost"
    );
    let (a, b) = tokio::join!(
        app.settings.set_domain(o, m, "acme", "one.acme.test"),
        app.settings.set_domain(o, m, "acme", "two.acme.test"),
    );
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    let log = w.acme_log().await;
    assert_eq!(log.iter().filter(|a| *a == "branding.updated").count(), 2);
    assert_eq!(log.iter().filter(|a| *a == "domain.set").count(), 2);
}
