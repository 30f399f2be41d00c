//! Upstream identity providers (§11) end to end: the real binary fetches OIDC discovery from a
//! real OpenID provider (the npm `oidc-provider` package, run by node on loopback) and from
//! hostile local servers, and reads SAML metadata produced by a SAML library (pysaml2's
//! `entity_descriptor`), through the SSRF-guarded client (`outbound.allowed_private_cidrs`).
//! npm packages and the Python venv are installed under the target dir once and kept.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Client, Node, make_venv, npm_install, s};

const OIDC_PROVIDER: &str = "oidc-provider@8.8.1";
const PYSAML2: &str = "pysaml2==7.5.4\n";

/// The OpenID provider: `node idp.mjs <port>`, issuer `http://127.0.0.1:<port>`.
const IDP_JS: &str = r#"import Provider from 'oidc-provider';
const port = Number(process.argv[2]);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{ client_id: 'org-server', client_secret: 'a-client-secret', redirect_uris: ['https://app.test/cb'] }],
});
provider.listen(port, '127.0.0.1', () => console.log('listening'));
"#;

/// pysaml2 writes IdP metadata: `gen.py <sso url> <entity|entities> <cert.pem> <key.pem>`.
const GEN_PY: &str = r#"import sys
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import Config
from saml2.metadata import entities_descriptor, entity_descriptor
from saml2.validate import valid_instance
sso, form, cert, key = sys.argv[1:5]
conf = Config().load({
    "entityid": "http://idp.test/saml/metadata",
    "service": {"idp": {"endpoints": {"single_sign_on_service": [
        (sso, BINDING_HTTP_REDIRECT), (sso + "/post", BINDING_HTTP_POST)]}}},
    "cert_file": cert,
    "key_file": key,
})
ed = entity_descriptor(conf)
valid_instance(ed)
if form == "entities":
    ed, _ = entities_descriptor([ed], 0, "federation", None, None, None)
sys.stdout.write(str(ed))
"#;

fn npm_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(|| npm_install("upstream-npm", &[OIDC_PROVIDER])) {
        Ok(p) => p,
        Err(why) => panic!("cannot install {OIDC_PROVIDER}: {why}"),
    }
}

fn saml_venv() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(|| make_venv("pysaml2-venv", PYSAML2, "python3")) {
        Ok(p) => p,
        Err(why) => panic!("cannot set up pysaml2: {why}"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The node process of the OpenID provider, ended with the test.
struct OpenIdProvider {
    child: Child,
    issuer: String,
    script: PathBuf,
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.script);
    }
}

async fn open_id_provider() -> OpenIdProvider {
    let dir = npm_dir();
    let port = free_port();
    let script = dir.join(format!("idp-{port}.mjs"));
    std::fs::write(&script, IDP_JS).unwrap();
    let log_path = std::env::temp_dir().join(format!("org-upstream-idp-{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new("node")
        .current_dir(dir)
        .arg(&script)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("node");
    let idp = OpenIdProvider {
        child,
        issuer: format!("http://127.0.0.1:{port}"),
        script,
    };
    let url = format!("{}/.well-known/openid-configuration", idp.issuer);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = crate::support::http().get(&url).send().await
            && r.status().is_success()
        {
            return idp;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the OpenID provider did not start: {}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
}

/// A certificate of the test IdP (rcgen, valid until `not_after`), its PEM files, and the
/// expected SHA-256 fingerprint of its DER form, computed here.
struct IdpCert {
    dir: tempfile::TempDir,
    fingerprint: String,
}

fn idp_cert(year: i32) -> IdpCert {
    let mut params = rcgen::CertificateParams::new(vec!["idp.test".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(year - 2, 1, 1);
    params.not_after = rcgen::date_time_ymd(year, 6, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
    let fingerprint = Sha256::digest(cert.der()).iter().map(|b| format!("{b:02x}")).collect();
    IdpCert { dir, fingerprint }
}

/// IdP metadata written by pysaml2 for `cert`.
fn pysaml2_metadata(sso: &str, form: &str, cert: &IdpCert) -> String {
    let venv = saml_venv();
    let script = cert.dir.path().join("gen.py");
    std::fs::write(&script, GEN_PY).unwrap();
    let out = Command::new(venv.join("bin").join("python"))
        .arg(&script)
        .args([sso, form])
        .arg(cert.dir.path().join("cert.pem"))
        .arg(cert.dir.path().join("key.pem"))
        .stdin(Stdio::null())
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "pysaml2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A hostile (or merely local) document server on 127.0.0.1: discovery documents missing
/// `jwks_uri` or naming another issuer, a redirect, a slow answer, an oversized document, and
/// SAML metadata at `/saml`.
async fn documents(redirect_to: String, saml: String) -> u16 {
    let port = free_port();
    let me = format!("http://127.0.0.1:{port}");
    let doc = move |without: &str, issuer: &str| {
        let mut d = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{me}/auth"),
            "token_endpoint": format!("{me}/token"),
            "userinfo_endpoint": format!("{me}/me"),
            "jwks_uri": format!("{me}/jwks"),
        });
        d.as_object_mut().unwrap().remove(without);
        d.to_string()
    };
    let no_jwks = doc("jwks_uri", &format!("http://127.0.0.1:{port}"));
    let other_issuer = doc("", "https://someone-else.test");
    let saml = Arc::new(saml);
    let app = Router::new()
        .route("/no-jwks", get(move || async move { no_jwks }))
        .route("/other-issuer", get(move || async move { other_issuer }))
        .route(
            "/redirect",
            get(move || async move { (StatusCode::FOUND, [(header::LOCATION, redirect_to)]).into_response() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(20)).await;
                "{}"
            }),
        )
        .route(
            "/big",
            get(|| async { format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 * 1024)) }),
        )
        .route("/saml", get(move || async move { (*saml).clone() }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

const BASE: &str = "/api/organizations/acme/upstream-providers";

fn oidc(connection_id: &str, discovery_url: &str) -> Value {
    json!({
        "connection_id": connection_id,
        "name": "Local OpenID provider",
        "provider_type": "oidc",
        "client_id": "org-server",
        "client_secret": "a-client-secret",
        "discovery_url": discovery_url,
    })
}

fn saml(connection_id: &str) -> Value {
    json!({
        "connection_id": connection_id,
        "name": "Local SAML IdP",
        "provider_type": "saml",
        "client_id": "https://sp.acme.test",
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

/// A 400 naming `field`, whose message contains `reason`.
async fn refused(c: &Client, token: &str, body: Value, field: &str, reason: &str) {
    let (status, res) = c.call("POST", BASE, token, Some(body)).await;
    assert_eq!((status, s(&res["error_code"])), (400, "VALIDATION_FAILED"), "{res}");
    let e = &res["errors"][0];
    assert_eq!(s(&e["field"]), field, "{res}");
    assert!(s(&e["message"]).contains(reason), "expected '{reason}': {res}");
}

async fn scenario(postgres: bool) {
    let idp = open_id_provider().await;
    let node = Node::on(postgres)
        .await
        .with("ORG_SERVER_OUTBOUND__ALLOW_HTTP", "true")
        .with("ORG_SERVER_OUTBOUND__ALLOWED_PRIVATE_CIDRS", "127.0.0.1/32");
    let server = node.serve().await;
    let c = server.client();
    let token = c.create_org(&node.token("owner@acme.test"), "acme", "Acme").await;

    // Discovery alone: the provider's own document fills every endpoint and the issuer.
    let discovery = format!("{}/.well-known/openid-configuration", idp.issuer);
    let (status, created) = c.call("POST", BASE, &token, Some(oidc("local-oidc", &discovery))).await;
    assert_eq!(status, 201, "{created}\n{}", server.log_tail());
    assert_eq!(s(&created["issuer"]), idp.issuer);
    assert_eq!(s(&created["authorization_url"]), format!("{}/auth", idp.issuer));
    assert_eq!(s(&created["token_url"]), format!("{}/token", idp.issuer));
    assert_eq!(s(&created["userinfo_url"]), format!("{}/me", idp.issuer));
    assert_eq!(s(&created["jwks_url"]), format!("{}/jwks", idp.issuer));
    assert_eq!(s(&created["scopes"]), "openid email profile");
    assert_eq!(
        (&created["has_client_secret"], &created["saml"]),
        (&json!(true), &Value::Null)
    );
    assert!(created.get("client_secret").is_none() && !created.to_string().contains("a-client-secret"));
    let id = s(&created["id"]).to_owned();
    let (status, listed) = c.call("GET", BASE, &token, None).await;
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(1)), "{listed}");
    assert_eq!(listed[0], created);

    // connection_id is unique in the org.
    let (status, dup) = c.call("POST", BASE, &token, Some(oidc("local-oidc", &discovery))).await;
    assert_eq!((status, s(&dup["error_code"])), (409, "DUPLICATE_CONSTRAINT"), "{dup}");

    // A secret rotation is audited as "[REDACTED]".
    let path = format!("{BASE}/{id}");
    let (status, updated) = c
        .call(
            "PATCH",
            &path,
            &token,
            Some(json!({"client_secret": "rotated-secret", "enabled": false})),
        )
        .await;
    assert_eq!((status, &updated["enabled"]), (200, &json!(false)), "{updated}");
    let (_, log) = c.call("GET", "/api/organizations/acme/audit-log", &token, None).await;
    let entry = &log["logs"][0];
    assert_eq!(s(&entry["action"]), "upstream_provider.updated", "{log}");
    assert_eq!(entry["metadata"]["changes"]["client_secret"], "[REDACTED]", "{entry}");
    assert!(!log.to_string().contains("rotated-secret"));

    // SAML metadata from pysaml2, inline (EntityDescriptor).
    let docs_port_hint = free_port();
    let sso = format!("http://127.0.0.1:{docs_port_hint}/sso");
    let valid = idp_cert(2031);
    let entity = pysaml2_metadata(&sso, "entity", &valid);
    assert!(
        entity.contains("EntityDescriptor") && !entity.contains("EntitiesDescriptor"),
        "{entity}"
    );
    let (status, made) = c
        .call(
            "POST",
            BASE,
            &token,
            Some(with(saml("pysaml2"), "metadata_xml", json!(entity))),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(s(&made["issuer"]), "http://idp.test/saml/metadata");
    assert_eq!(made["saml"]["entity_id"], "http://idp.test/saml/metadata");
    assert_eq!(s(&made["saml"]["sso_url"]), sso, "the HTTP-Redirect location");
    assert_eq!(
        made["saml"]["certificates"],
        json!([{"sha256_fingerprint": valid.fingerprint, "not_after": "2031-06-01T00:00:00.000Z"}])
    );
    assert_eq!(made["has_client_secret"], false);

    // The same library's single-entity EntitiesDescriptor, fetched from metadata_url, with an
    // expired certificate: accepted and reported.
    let expired = idp_cert(2021);
    let entities = pysaml2_metadata(&sso, "entities", &expired);
    assert!(entities.contains("EntitiesDescriptor"), "{entities}");
    let docs = documents(discovery.clone(), entities).await;
    let (status, fetched) = c
        .call(
            "POST",
            BASE,
            &token,
            Some(with(
                saml("federation"),
                "metadata_url",
                json!(format!("http://127.0.0.1:{docs}/saml")),
            )),
        )
        .await;
    assert_eq!(status, 201, "{fetched}");
    assert_eq!(
        fetched["saml"]["certificates"],
        json!([{"sha256_fingerprint": expired.fingerprint, "not_after": "2021-06-01T00:00:00.000Z"}])
    );
    assert_eq!(
        s(&fetched["saml"]["metadata_url"]),
        format!("http://127.0.0.1:{docs}/saml")
    );

    // A changed discovery_url is fetched again on update; a failing document changes nothing.
    let moved = json!({"discovery_url": format!("http://127.0.0.1:{docs}/no-jwks")});
    let (status, res) = c.call("PATCH", &path, &token, Some(moved)).await;
    assert_eq!((status, s(&res["errors"][0]["field"])), (400, "discovery_url"), "{res}");
    assert!(s(&res["errors"][0]["message"]).contains("jwks_uri"), "{res}");
    let retype = json!({"provider_type": "saml"});
    let (status, res) = c.call("PATCH", &path, &token, Some(retype)).await;
    assert_eq!((status, s(&res["errors"][0]["field"])), (400, "provider_type"), "{res}");
    let (_, still) = c.call("GET", &path, &token, None).await;
    assert_eq!(
        (s(&still["discovery_url"]), &still["provider_type"]),
        (discovery.as_str(), &json!("oidc"))
    );

    // Delete: `{success: true}`, then 404.
    let (status, gone) = c.call("DELETE", &path, &token, None).await;
    assert_eq!((status, gone), (200, json!({"success": true})));
    assert_eq!(c.call("GET", &path, &token, None).await.0, 404);

    // Discovery failures, each a 400 on discovery_url naming the reason.
    let local = |p: &str| format!("http://127.0.0.1:{docs}{p}");
    let pinned = with(oidc("pinned", &discovery), "issuer", json!("https://someone-else.test"));
    refused(&c, &token, pinned, "discovery_url", "issuer").await;
    let other = with(oidc("other2", &local("/other-issuer")), "issuer", json!(idp.issuer));
    refused(&c, &token, other, "discovery_url", "does not equal").await;
    refused(
        &c,
        &token,
        oidc("no-jwks", &local("/no-jwks")),
        "discovery_url",
        "jwks_uri",
    )
    .await;
    refused(
        &c,
        &token,
        oidc("moved", &local("/redirect")),
        "discovery_url",
        "redirect",
    )
    .await;
    refused(&c, &token, oidc("big", &local("/big")), "discovery_url", "larger").await;
    let started = Instant::now();
    refused(&c, &token, oidc("slow", &local("/slow")), "discovery_url", "timed out").await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(4500) && took < Duration::from_secs(9),
        "{took:?}"
    );

    // Hostile SAML documents.
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]><lolz>&lol2;</lolz>"#;
    let xml = |doc: String| with(saml("hostile"), "metadata_xml", json!(doc));
    refused(&c, &token, xml(laughs.to_owned()), "metadata_xml", "DOCTYPE").await;
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    refused(&c, &token, xml(deep), "metadata_xml", "deeper than 64").await;
    let body = pysaml2_metadata(&sso, "entity", &valid);
    let start = body.find("<ns0:KeyDescriptor").unwrap();
    let end = body.find("</ns0:KeyDescriptor>").unwrap() + "</ns0:KeyDescriptor>".len();
    let no_cert = format!("{}{}", &body[..start], &body[end..]);
    refused(&c, &token, xml(no_cert), "metadata_xml", "signing certificate").await;
    let no_sso = body
        .replace("HTTP-Redirect", "HTTP-Artifact")
        .replace("HTTP-POST", "SOAP");
    refused(&c, &token, xml(no_sso), "metadata_xml", "SingleSignOnService").await;
    let huge = body.replace(
        "</ns0:EntityDescriptor>",
        &format!("<!--{}--></ns0:EntityDescriptor>", "x".repeat(520 * 1024)),
    );
    refused(&c, &token, xml(huge), "metadata_xml", "512 KiB").await;

    // URLs failing §9.3 or the SSRF guard, and a provider_type in the wrong case.
    for url in [
        "http://10.0.0.1/.well-known/openid-configuration".to_owned(),
        format!("http://localhost:{docs}/no-jwks"),
        "http://2130706434/.well-known/openid-configuration".to_owned(),
        "http://[::ffff:169.254.169.254]/latest".to_owned(),
        "ftp://idp.test/discovery".to_owned(),
    ] {
        refused(&c, &token, oidc("bad-url", &url), "discovery_url", "").await;
    }
    refused(
        &c,
        &token,
        with(oidc("case", &discovery), "provider_type", json!("OIDC")),
        "provider_type",
        "",
    )
    .await;
    let (_, listed) = c.call("GET", BASE, &token, None).await;
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(2),
        "nothing of the refused requests was written: {listed}"
    );
}

#[tokio::test]
async fn upstream_providers_are_configured_from_real_discovery_and_saml_metadata_on_sqlite() {
    scenario(false).await;
}

#[tokio::test]
async fn upstream_providers_are_configured_from_real_discovery_and_saml_metadata_on_postgres() {
    scenario(true).await;
}
