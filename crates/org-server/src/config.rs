//! Settings of contract §21.8: an optional TOML file, `ORG_SERVER_*` environment overrides
//! (`__` for dots, comma-separated lists, `key:value` tables) and command-line shortcuts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::{Table, Value};

/// A duration given as integer seconds or a humantime string (`"15m"`, `"30d"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Self(Duration::from_secs(n))),
            Raw::Text(t) => match t.trim().parse::<u64>() {
                Ok(n) => Ok(Self(Duration::from_secs(n))),
                Err(_) => humantime::parse_duration(t.trim())
                    .map(Self)
                    .map_err(serde::de::Error::custom),
            },
        }
    }
}

fn secs(n: u64) -> Seconds {
    Seconds(Duration::from_secs(n))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    pub url: Option<String>,
    pub max_connections: u32,
}

impl Default for Database {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub signing_alg: String,
    pub access_token_ttl: Seconds,
    pub refresh_token_ttl: Seconds,
    pub session_max_lifetime: Seconds,
    pub refresh_reuse_window: Seconds,
    /// PKCS#8 PEM of a signing key imported once into a database without keys (§2.8).
    pub signing_key: Option<String>,
    /// File holding that PEM (and `<file>.previous`), imported the same way; default
    /// `<data_dir>/signing-key.pem`.
    pub signing_key_file: Option<PathBuf>,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            signing_alg: "EdDSA".to_owned(),
            access_token_ttl: secs(15 * 60),
            refresh_token_ttl: secs(30 * 86_400),
            session_max_lifetime: secs(90 * 86_400),
            refresh_reuse_window: secs(30),
            signing_key: None,
            signing_key_file: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    pub api_per_session: u32,
    pub scim_per_token: u32,
    pub per_ip: u32,
    pub refresh_per_ip: u32,
    pub public_per_ip: u32,
    pub outbound_per_org: u32,
    pub logins_per_key: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            api_per_session: 600,
            scim_per_token: 600,
            per_ip: 1200,
            refresh_per_ip: 60,
            public_per_ip: 120,
            outbound_per_org: 30,
            logins_per_key: 6000,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    pub listen: Option<SocketAddr>,
    pub bearer_token: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cors {
    pub allowed_origins: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Invitations {
    pub default_ttl_days: u32,
}

impl Default for Invitations {
    fn default() -> Self {
        Self { default_ttl_days: 7 }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_orgs_per_user: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_orgs_per_user: 10 }
    }
}

/// A `dns_overrides` entry (configuration file only).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsOverride {
    pub a: Vec<String>,
    pub aaaa: Vec<String>,
    pub txt: Vec<String>,
}

/// `outbound.*` (§9.3).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outbound {
    pub allowed_private_cidrs: Vec<String>,
    pub allow_http: bool,
    pub dns_overrides: std::collections::BTreeMap<String, DnsOverride>,
    pub domain_verification_http_port: u16,
    /// PEM files of extra root certificates that outbound TLS to SMTP servers trusts besides
    /// the system roots (a private CA, or a test server's self-signed certificate).
    pub extra_root_certificates: Vec<PathBuf>,
    /// The DNS server TXT lookups ask (`host:port`, or an address for port 53) instead of
    /// the system resolver; e.g. a local server in tests.
    pub dns_server: Option<String>,
}

impl Default for Outbound {
    fn default() -> Self {
        Self {
            allowed_private_cidrs: Vec::new(),
            allow_http: false,
            dns_overrides: Default::default(),
            domain_verification_http_port: 80,
            extra_root_certificates: Vec::new(),
            dns_server: None,
        }
    }
}

/// `encryption.*` (§1.8, §21.8): key-encryption keys by id and the primary one. `Debug` shows
/// the key ids only, never the keys.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Encryption {
    /// Key id → `"base64:<standard base64 of 32 bytes>"`.
    pub keys: std::collections::BTreeMap<String, String>,
    /// Which key seals new values; required with several keys.
    pub primary_key_id: Option<String>,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryption")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("primary_key_id", &self.primary_key_id)
            .finish()
    }
}

/// Key-encryption keys by id.
pub type NamedKeys = Vec<(String, [u8; 32])>;

/// A 32-byte key written `base64:<standard base64>`.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    use base64::Engine;
    let raw = text
        .trim()
        .strip_prefix("base64:")
        .ok_or("a key must be written base64:<standard base64 of 32 bytes>")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|e| format!("not standard base64: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("a key must be 32 bytes, not {}", bytes.len()))
}

impl Encryption {
    /// The configured keys, decoded and checked, and the primary key id; `None` when no key is
    /// configured. The primary defaults to the only key and is required with several.
    pub fn keys(&self) -> Result<Option<(NamedKeys, String)>, String> {
        if self.keys.is_empty() {
            return match &self.primary_key_id {
                Some(id) => Err(format!(
                    "encryption.primary_key_id '{id}' names no key of encryption.keys"
                )),
                None => Ok(None),
            };
        }
        let mut keys = Vec::with_capacity(self.keys.len());
        for (id, text) in &self.keys {
            if !org_store_seaorm::is_valid_key_id(id) {
                return Err(format!(
                    "encryption.keys: invalid key id '{id}': use 1-32 characters of A-Z a-z 0-9 _ -"
                ));
            }
            keys.push((
                id.clone(),
                parse_key(text).map_err(|e| format!("encryption.keys.{id}: {e}"))?,
            ));
        }
        let primary = match (&self.primary_key_id, keys.as_slice()) {
            (Some(id), _) if self.keys.contains_key(id) => id.clone(),
            (Some(id), _) => return Err(format!("encryption.primary_key_id '{id}' is not in encryption.keys")),
            (None, [(only, _)]) => only.clone(),
            (None, _) => return Err("encryption.primary_key_id is required when several keys are configured".into()),
        };
        Ok(Some((keys, primary)))
    }
}

/// Audit retention (§8.3, §21.8).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Entries older than this many days are pruned from every log every `prune_every`; unset
    /// keeps them forever (0 prunes everything but each log's newest entry).
    pub retention_days: Option<u32>,
    /// How often retention runs (default hourly; the first run is at most 30 s after start).
    pub prune_every: Seconds,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            retention_days: None,
            prune_every: secs(3600),
        }
    }
}

/// The background workers (webhook delivery, invitation expiry, retention, org purge).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workers {
    /// How long a process holds claimed work (a webhook delivery, a worker pass) before another
    /// process may take it over: the delay after which a killed process's work resumes.
    pub lease: Seconds,
}

impl Default for Workers {
    fn default() -> Self {
        Self { lease: secs(60) }
    }
}

/// The platform SMTP server (`smtp.*`, §21.8): mail of orgs without their own (§13). Unset
/// `host`: no platform server. `from` is an address or `Name <address>`. `Debug` never shows
/// the password.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smtp {
    pub host: Option<String>,
    pub port: Option<i64>,
    pub username: String,
    pub password: String,
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub security: Option<String>,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Smtp {
    /// The parsed server under the field rules of §13 (a password is optional here: without
    /// `username` no AUTH is made); `None` without `host`. Errors name the setting.
    pub fn config(&self) -> Result<Option<org_domain::mail::SmtpConfig>, String> {
        let Some(host) = &self.host else {
            return Ok(None);
        };
        let from = self.from.clone().ok_or("smtp.from is required when smtp.host is set")?;
        let (name, address) = match from.rsplit_once('<') {
            Some((name, rest)) => (
                Some(name.trim().trim_matches('"').to_owned()),
                rest.trim_end_matches('>').to_owned(),
            ),
            None => (None, from),
        };
        let port = self.port.unwrap_or(match self.security.as_deref() {
            Some("tls") => 465,
            _ => 587,
        });
        let draft = org_domain::mail::SmtpDraft {
            host: host.clone(),
            port,
            username: self.username.clone(),
            password: self.password.clone(),
            from_email: address,
            from_name: self.from_name.clone().or(name).filter(|n| !n.is_empty()),
            security: self.security.clone(),
        };
        match org_domain::mail::SmtpConfig::parse(&draft, false) {
            Ok(c) => Ok(Some(c)),
            Err(org_domain::DomainError::Validation(errors)) => Err(errors
                .iter()
                .map(|e| {
                    let field = if e.field == "from_email" {
                        "from"
                    } else {
                        e.field.as_str()
                    };
                    format!("smtp.{field}: {}", e.message)
                })
                .collect::<Vec<_>>()
                .join("; ")),
            Err(e) => Err(format!("smtp: {e}")),
        }
    }
}

/// Every setting. Sections of features that are not built yet (`pagination`, `tiers`) are
/// accepted and kept as raw values.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: Database,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub public_base_url: Option<String>,
    pub web_client_url: Option<String>,
    pub org_approval: String,
    pub default_tier_id: String,
    pub auth: Auth,
    pub invitations: Invitations,
    pub limits: Limits,
    pub trusted_proxies: Vec<String>,
    pub rate_limit: RateLimit,
    pub metrics: Metrics,
    pub cors: Cors,
    pub audit: Audit,
    pub workers: Workers,
    pub encryption: Encryption,
    pub pagination: Option<Value>,
    pub outbound: Outbound,
    pub smtp: Smtp,
    pub tiers: Option<Value>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database: Database::default(),
            data_dir: PathBuf::from("./data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_base_url: None,
            web_client_url: None,
            org_approval: "auto".to_owned(),
            default_tier_id: "tier_enterprise".to_owned(),
            auth: Auth::default(),
            invitations: Invitations::default(),
            limits: Limits::default(),
            trusted_proxies: Vec::new(),
            rate_limit: RateLimit::default(),
            metrics: Metrics::default(),
            cors: Cors::default(),
            audit: Audit::default(),
            workers: Workers::default(),
            encryption: Encryption::default(),
            pagination: None,
            outbound: Outbound::default(),
            smtp: Smtp::default(),
            tiers: None,
        }
    }
}

/// Settings whose environment form is a comma-separated list.
const LISTS: &[&str] = &[
    "trusted_proxies",
    "cors.allowed_origins",
    "outbound.allowed_private_cidrs",
    "outbound.extra_root_certificates",
];
/// Settings whose environment form is `key:value,key:value`.
const TABLES: &[&str] = &["encryption.keys"];
/// Settings that stay strings even when they look like a number or a boolean.
const STRINGS: &[&str] = &[
    "encryption.primary_key_id",
    "smtp.username",
    "smtp.password",
    "smtp.host",
    "smtp.from",
    "smtp.from_name",
];

fn env_value(path: &str, raw: &str) -> Value {
    if LISTS.contains(&path) {
        return Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        );
    }
    if TABLES.contains(&path) {
        let table: Table = raw
            .split(',')
            .filter_map(|pair| pair.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), Value::String(v.trim().to_owned())))
            .collect();
        return Value::Table(table);
    }
    if STRINGS.contains(&path) {
        return Value::String(raw.to_owned());
    }
    if let Ok(b) = raw.parse::<bool>() {
        return Value::Boolean(b);
    }
    if let Ok(n) = raw.parse::<i64>() {
        return Value::Integer(n);
    }
    Value::String(raw.to_owned())
}

fn set_path(table: &mut Table, path: &[&str], value: Value) -> Result<(), String> {
    match path {
        [] => Ok(()),
        [last] => {
            table.insert((*last).to_owned(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Table(Table::new()));
            match entry {
                Value::Table(t) => set_path(t, rest, value),
                _ => Err(format!("setting '{first}' is not a table")),
            }
        }
    }
}

/// Reads the file (if any), applies `ORG_SERVER_*` variables from `env`, and parses.
pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Settings, String> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            text.parse::<Table>().map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Table::new(),
    };
    let mut vars: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("ORG_SERVER_")).collect();
    vars.sort();
    for (key, raw) in vars {
        let path = key["ORG_SERVER_".len()..].to_lowercase();
        let parts: Vec<&str> = path.split("__").collect();
        set_path(&mut table, &parts, env_value(&parts.join("."), &raw))?;
    }
    Settings::deserialize(Value::Table(table)).map_err(|e| format!("invalid configuration: {e}"))
}

impl Settings {
    /// The database URL: configured, or an SQLite file in `data_dir`.
    pub fn database_url(&self) -> String {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("org-server.db").display()))
    }

    /// `public_base_url` without a trailing slash, defaulting to `http://<listen>`.
    pub fn public_base_url(&self) -> String {
        self.public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn no_configuration_gives_the_documented_defaults() {
        let s = load(None, env(&[("PATH", "/bin")])).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url(), "sqlite://./data/org-server.db?mode=rwc");
        assert_eq!(s.public_base_url(), "http://127.0.0.1:8080");
        assert_eq!(s.auth.access_token_ttl, secs(900));
        assert_eq!(s.rate_limit.refresh_per_ip, 60);
        assert_eq!(s.audit.retention_days, None, "audit entries are kept forever");
    }

    #[test]
    fn audit_retention_is_a_number_of_days() {
        let s = load(None, env(&[("ORG_SERVER_AUDIT__RETENTION_DAYS", "30")])).unwrap();
        assert_eq!(s.audit.retention_days, Some(30));
        assert!(load(None, env(&[("ORG_SERVER_AUDIT__RETENTION_DAYS", "soon")])).is_err());
        assert!(load(None, env(&[("ORG_SERVER_AUDIT__KEEP", "1")])).is_err());
    }

    #[test]
    fn environment_variables_override_the_file_with_lists_tables_and_durations() {
        let dir = std::env::temp_dir().join(format!("org-server-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("org-server.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\n[auth]\naccess_token_ttl = \"10m\"\n[limits]\nmax_orgs_per_user = 3\n",
        )
        .unwrap();
        let s = load(
            Some(&file),
            env(&[
                ("ORG_SERVER_LIMITS__MAX_ORGS_PER_USER", "5"),
                ("ORG_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.0.1/32"),
                ("ORG_SERVER_AUTH__REFRESH_TOKEN_TTL", "7d"),
                ("ORG_SERVER_ENCRYPTION__KEYS", "k1:base64:AAAA,k2:base64:BBBB"),
                ("ORG_SERVER_PUBLIC_BASE_URL", "https://auth.example.com/"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.auth.access_token_ttl, secs(600));
        assert_eq!(s.auth.refresh_token_ttl, secs(7 * 86_400));
        assert_eq!(s.limits.max_orgs_per_user, 5);
        assert_eq!(s.trusted_proxies, ["10.0.0.0/8", "192.168.0.1/32"]);
        assert_eq!(s.encryption.keys["k2"], "base64:BBBB");
        assert_eq!(s.public_base_url(), "https://auth.example.com");
    }

    #[test]
    fn unknown_settings_and_bad_values_are_refused() {
        assert!(
            load(None, env(&[("ORG_SERVER_LISTEN_ADDR", "x")]))
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(load(None, env(&[("ORG_SERVER_AUTH__ACCESS_TOKEN_TTL", "soon")])).is_err());
        assert!(load(None, env(&[("ORG_SERVER_LISTEN", "nowhere")])).is_err());
    }

    #[test]
    fn the_platform_smtp_server_is_typed_and_checked_by_the_field_rules() {
        assert_eq!(Settings::default().smtp.config(), Ok(None), "unset: no platform server");
        let s = load(
            None,
            env(&[
                ("ORG_SERVER_SMTP__HOST", "Mail.Example.com"),
                ("ORG_SERVER_SMTP__PORT", "2525"),
                ("ORG_SERVER_SMTP__USERNAME", "12345"),
                ("ORG_SERVER_SMTP__PASSWORD", "true"),
                ("ORG_SERVER_SMTP__FROM", "Example Team <Team@Example.com>"),
            ]),
        )
        .unwrap();
        assert!(
            !format!("{:?}", s.smtp).contains("true\""),
            "the password is never shown"
        );
        let c = s.smtp.config().unwrap().unwrap();
        assert_eq!(
            (
                c.host.as_str(),
                c.port,
                c.username.as_str(),
                c.password.as_str(),
                c.from_header()
            ),
            (
                "mail.example.com",
                2525,
                "12345",
                "true",
                "Example Team <team@example.com>".to_owned()
            )
        );
        assert_eq!(c.security, org_domain::mail::SmtpSecurity::StartTls);
        let bad = Smtp {
            host: Some("mail.example.com".into()),
            port: Some(0),
            from: Some("nope".into()),
            ..Smtp::default()
        };
        assert_eq!(
            bad.config(),
            Err("smtp.port: must be between 1 and 65535; smtp.from: must be a valid e-mail address".to_owned())
        );
        let no_from = Smtp {
            host: Some("mail.example.com".into()),
            ..Smtp::default()
        };
        assert!(no_from.config().unwrap_err().contains("smtp.from"));
        assert!(
            load(None, env(&[("ORG_SERVER_SMTP__HOSTNAME", "x")])).is_err(),
            "unknown smtp settings are refused"
        );
    }

    fn key_text(byte: u8) -> String {
        use base64::Engine;
        format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode([byte; 32])
        )
    }

    #[test]
    fn encryption_keys_come_from_the_environment_form() {
        let (k1, k2) = (key_text(1), key_text(2));
        let s = load(
            None,
            env(&[
                ("ORG_SERVER_ENCRYPTION__KEYS", &format!("k1:{k1}, k2:{k2}")),
                ("ORG_SERVER_ENCRYPTION__PRIMARY_KEY_ID", "k2"),
            ]),
        )
        .unwrap();
        let (keys, primary) = s.encryption.keys().unwrap().unwrap();
        assert_eq!(keys, vec![("k1".to_owned(), [1; 32]), ("k2".to_owned(), [2; 32])]);
        assert_eq!(primary, "k2");
        // Debug never shows a key.
        let shown = format!("{s:?}");
        assert!(!shown.contains(&k1[7..]) && !shown.contains(&k2[7..]), "{shown}");
        assert!(shown.contains("primary_key_id: Some(\"k2\")"), "{shown}");
    }

    #[test]
    fn one_key_is_the_primary_and_several_need_one_named() {
        let one = load(
            None,
            env(&[("ORG_SERVER_ENCRYPTION__KEYS", &format!("only:{}", key_text(3)))]),
        )
        .unwrap();
        assert_eq!(one.encryption.keys().unwrap().unwrap().1, "only");
        assert_eq!(load(None, env(&[])).unwrap().encryption.keys().unwrap(), None);
        let two = format!("a:{},b:{}", key_text(1), key_text(2));
        let err = load(None, env(&[("ORG_SERVER_ENCRYPTION__KEYS", &two)]))
            .unwrap()
            .encryption
            .keys()
            .unwrap_err();
        assert!(err.contains("primary_key_id is required"), "{err}");
    }

    #[test]
    fn malformed_encryption_keys_are_refused_with_the_reason() {
        let cases = [
            ("k1:AAAA", "base64:<standard base64"),
            ("k1:base64:AAAA", "32 bytes"),
            ("k1:base64:***", "not standard base64"),
            ("bad id:base64:AAAA", "invalid key id"),
        ];
        for (raw, why) in cases {
            let err = load(None, env(&[("ORG_SERVER_ENCRYPTION__KEYS", raw)]))
                .unwrap()
                .encryption
                .keys()
                .unwrap_err();
            assert!(err.contains(why), "{raw}: {err}");
        }
        let named = load(
            None,
            env(&[
                ("ORG_SERVER_ENCRYPTION__KEYS", &format!("k1:{}", key_text(1))),
                ("ORG_SERVER_ENCRYPTION__PRIMARY_KEY_ID", "k2"),
            ]),
        )
        .unwrap();
        assert!(named.encryption.keys().unwrap_err().contains("not in encryption.keys"));
    }
}
