//! Composition root: opens the store, builds the app and the router, loads or generates the
//! signing key, runs the workers and serves until a shutdown signal.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use org_app::system::{RandomTokens, SystemClock, UuidV7};
use org_app::{App, AppConfig, OrgApproval};
use org_domain::{Tier, TierId, User};
use org_http::{HttpConfig, HttpState, RateLimits, Readiness};

use crate::health::Health;
use org_ports::Clock;
use org_ports::{OrgFilter, PageRequest, Stores};
use org_store_seaorm::{AesGcmCipher, SeaStore, StoreOptions, StoredSigningKey};
use org_tokens::timeline::{self, TimedKey};
use org_tokens::{JwtTokens, Keys, SigningAlg};
use serde_json::{Value, json};

use crate::config::Settings;

/// Opens the configured database and applies migrations.
pub async fn open_store(s: &Settings) -> Result<Arc<SeaStore>, String> {
    let url = s.database_url();
    if url.starts_with("sqlite:") {
        create_private_dir(&s.data_dir)?;
        if let Some(db) = sqlite_file(&url) {
            create_private_file(&db)?;
        }
    }
    let cipher = load_cipher(s, &url)?.map(|c| c as Arc<dyn org_ports::SecretCipher>);
    let opts = StoreOptions {
        max_connections: s.database.max_connections,
        cipher,
        ..StoreOptions::default()
    };
    let store = SeaStore::connect(&url, opts)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    store.migrate().await.map_err(|e| format!("migrations failed: {e}"))?;
    // Secrets sealed directly under a key-encryption key (before data keys) move under their
    // org's data key; conditional updates, so several nodes starting at once agree.
    match store.reseal_legacy().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(secrets = n, "resealed legacy secrets under their org's data key"),
        Err(e) => return Err(format!("cannot reseal legacy secrets: {e}")),
    }
    Ok(Arc::new(store))
}

/// Where a generated key-encryption key is kept.
pub fn encryption_key_file(s: &Settings) -> PathBuf {
    s.data_dir.join("encryption-key")
}

/// The file of an SQLite URL (`None` for other databases and in-memory SQLite).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

fn is_memory_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:") && sqlite_file(url).is_none()
}

/// Whether `file` lies inside the (existing) directory `dir`, symlinks resolved.
fn is_inside(dir: &Path, file: &Path) -> bool {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(dir), std::fs::canonicalize(parent)) {
        (Ok(dir), Ok(parent)) => parent.starts_with(dir),
        _ => false,
    }
}

/// Reads a key file: one line `<key_id>:base64:<32 bytes>`.
fn read_key_file(path: &Path, text: &str) -> Result<(String, [u8; 32]), String> {
    let bad = |why: String| format!("{}: {why}", path.display());
    let (id, key) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| bad("expected <key_id>:base64:<32 bytes>".to_owned()))?;
    if !org_store_seaorm::is_valid_key_id(id) {
        return Err(bad(format!("invalid key id '{id}'")));
    }
    Ok((id.to_owned(), crate::config::parse_key(key).map_err(bad)?))
}

/// The secret cipher (§1.8): the configured `encryption.keys`; else, for an SQLite database
/// file inside `data_dir`, the key in `<data_dir>/encryption-key`, generated (mode 0600) on
/// first start with a warning; else an error. An in-memory SQLite database without keys gets
/// `None` (the store seals with an ephemeral key that dies with the data).
pub fn load_cipher(s: &Settings, url: &str) -> Result<Option<Arc<AesGcmCipher>>, String> {
    let file = encryption_key_file(s);
    if let Some((keys, primary)) = s.encryption.keys()? {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok((id, _)) = read_key_file(&file, &text)
            && !keys.iter().any(|(k, _)| *k == id)
        {
            tracing::warn!(
                path = %file.display(),
                key_id = %id,
                "encryption.keys is set, so the generated key file is not used; secrets sealed with its key will not open unless it is added to encryption.keys"
            );
        }
        return AesGcmCipher::new(keys, &primary)
            .map(|c| Some(Arc::new(c)))
            .map_err(|e| format!("encryption.keys: {e}"));
    }
    if is_memory_sqlite(url) {
        return Ok(None);
    }
    let in_data_dir = sqlite_file(url).is_some_and(|db| is_inside(&s.data_dir, &db));
    if !in_data_dir {
        return Err(format!(
            "encryption.keys is required: secrets are encrypted at rest and a key is generated only for an SQLite \
             database inside data_dir ({}). Set encryption.keys (e.g. ORG_SERVER_ENCRYPTION__KEYS=k1:base64:<32 \
             random bytes in base64>, from `openssl rand -base64 32`) and keep it safe: without it webhook secrets \
             cannot be read",
            s.data_dir.display()
        ));
    }
    let (id, key) = match std::fs::read_to_string(&file) {
        Ok(text) => read_key_file(&file, &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use base64::Engine;
            let (_, id, key) = AesGcmCipher::generate();
            let text = format!(
                "{id}:base64:{}\n",
                base64::engine::general_purpose::STANDARD.encode(key)
            );
            if create_secret_file(&file, &text)? {
                tracing::warn!(
                    path = %file.display(),
                    "generated a new encryption key; back it up with the database: without it webhook secrets cannot be read"
                );
                (id, key)
            } else {
                let text =
                    std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                read_key_file(&file, &text)?
            }
        }
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    AesGcmCipher::new(vec![(id.clone(), key)], &id)
        .map(|c| Some(Arc::new(c)))
        .map_err(|e| format!("{}: {e}", file.display()))
}

fn app_config(s: &Settings) -> Result<AppConfig, String> {
    let chrono = |d: Duration| chrono::Duration::from_std(d).map_err(|e| e.to_string());
    let org_approval = match s.org_approval.as_str() {
        "auto" => OrgApproval::Auto,
        "manual" => OrgApproval::Manual,
        other => return Err(format!("org_approval must be 'auto' or 'manual', not '{other}'")),
    };
    let tiers = Tier::defaults();
    let default_tier_id = TierId::new(&s.default_tier_id);
    if !tiers.iter().any(|t| t.id == default_tier_id) {
        return Err(format!(
            "default_tier_id '{}' is not a configured tier",
            s.default_tier_id
        ));
    }
    signing_alg(s)?;
    Ok(AppConfig {
        org_approval,
        default_tier_id,
        tiers,
        max_orgs_per_user: s.limits.max_orgs_per_user,
        invitation_ttl_days: s.invitations.default_ttl_days,
        access_token_ttl: chrono(s.auth.access_token_ttl.0)?,
        refresh_token_ttl: chrono(s.auth.refresh_token_ttl.0)?,
        session_max_lifetime: chrono(s.auth.session_max_lifetime.0)?,
        refresh_reuse_window: chrono(s.auth.refresh_reuse_window.0)?,
        worker_lease: chrono(s.workers.lease.0)?,
        public_base_url: s.public_base_url(),
        web_client_url: s.web_client_url.clone(),
        platform_smtp: s.smtp.config()?,
        ..AppConfig::default()
    })
}

fn key_file(s: &Settings) -> PathBuf {
    s.auth
        .signing_key_file
        .clone()
        .unwrap_or_else(|| s.data_dir.join("signing-key.pem"))
}

fn previous_key_file(s: &Settings) -> PathBuf {
    let mut p = key_file(s).into_os_string();
    p.push(".previous");
    PathBuf::from(p)
}

/// Creates `dir` (and its missing parents) readable by the owner only (mode 0700); an
/// existing directory keeps its mode.
fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Creates the empty SQLite database file with mode 0600 before SQLite opens it, when its
/// directory exists and the file does not: SQLite then gives its `-wal` and `-shm` files the
/// database file's mode. An existing file keeps its mode.
fn create_private_file(path: &Path) -> Result<(), String> {
    if path.parent().is_some_and(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        return Ok(());
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

/// Creates `path` with `text`, readable by the owner only from the first byte (mode 0600);
/// `Ok(false)` when the file already exists (another process made it first).
fn create_secret_file(path: &Path, text: &str) -> Result<bool, String> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    let mut f = match open.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
    };
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(true)
}

/// `auth.signing_alg`: `EdDSA` or `RS256` (§21.8).
fn signing_alg(s: &Settings) -> Result<SigningAlg, String> {
    s.auth.signing_alg.parse().map_err(|_| {
        format!(
            "auth.signing_alg must be 'EdDSA' or 'RS256', not '{}'",
            s.auth.signing_alg
        )
    })
}

/// Refuses a signing key whose algorithm is not the configured one.
fn check_alg(keys: &Keys, alg: SigningAlg, origin: &str) -> Result<(), String> {
    if keys.alg() == alg {
        return Ok(());
    }
    Err(format!(
        "the signing key in {origin} is an {} key but auth.signing_alg is {alg}: run \
         `org-server admin rotate-signing-key` to replace it with an {alg} key, or set \
         auth.signing_alg back to {}",
        keys.alg(),
        keys.alg()
    ))
}

/// How often a running server reloads the signing keys from the database (§2.8: a change is
/// seen within 60 s).
const KEY_RELOAD: Duration = Duration::from_secs(30);

fn access_ttl(s: &Settings) -> Result<chrono::Duration, String> {
    chrono::Duration::from_std(s.auth.access_token_ttl.0).map_err(|e| e.to_string())
}

/// A stored row of the key `keys` with its timeline.
fn stored_key(
    keys: &Keys,
    now: chrono::DateTime<chrono::Utc>,
    signs_from: chrono::DateTime<chrono::Utc>,
    signs_until: Option<chrono::DateTime<chrono::Utc>>,
    retire_after: Option<chrono::DateTime<chrono::Utc>>,
) -> StoredSigningKey {
    StoredSigningKey {
        kid: keys.kid().to_owned(),
        generation: 0,
        algorithm: keys.alg().as_str().to_owned(),
        public_jwk: keys.jwks()["keys"][0].to_string(),
        private_pem: keys.to_pem(),
        created_at: now,
        signs_from,
        signs_until,
        retire_after,
    }
}

fn timed_keys(rows: &[StoredSigningKey]) -> Result<Vec<TimedKey>, String> {
    rows.iter()
        .map(|r| {
            Ok(TimedKey {
                keys: Keys::from_pem(&r.private_pem).map_err(|e| format!("signing key {}: {e}", r.kid))?,
                published_at: r.created_at,
                signs_from: r.signs_from,
                signs_until: r.signs_until,
                retire_after: r.retire_after,
            })
        })
        .collect()
}

/// The key set of the stored keys at `now` (§2.8).
fn key_set_at(rows: &[StoredSigningKey], now: chrono::DateTime<chrono::Utc>) -> Result<Keys, String> {
    timeline::key_set(&timed_keys(rows)?, now)
        .ok_or_else(|| "no signing key in the database is live: run `org-server admin rotate-signing-key`".to_owned())
}

/// The keys to import into an empty key table: the configured PEM, else the key file and its
/// `.previous` file when present.
fn file_keys(s: &Settings) -> Result<Option<(Keys, Option<Keys>)>, String> {
    if let Some(pem) = &s.auth.signing_key {
        return Ok(Some((
            Keys::from_pem(pem).map_err(|e| format!("auth.signing_key: {e}"))?,
            None,
        )));
    }
    let path = key_file(s);
    let current = match std::fs::read_to_string(&path) {
        Ok(pem) => Keys::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let previous_path = previous_key_file(s);
    let previous = match std::fs::read_to_string(&previous_path) {
        Ok(pem) => Some(Keys::from_pem(&pem).map_err(|e| format!("{}: {e}", previous_path.display()))?),
        Err(_) => None,
    };
    Ok(Some((current, previous)))
}

/// The stored signing keys; when the database has none, the key file (and its `.previous`)
/// or the configured PEM is imported once, else a key of `auth.signing_alg` is generated.
/// The imported previous key verifies (never signs) for an access TTL and 5 minutes more.
async fn stored_keys(s: &Settings, store: &SeaStore) -> Result<Vec<StoredSigningKey>, String> {
    let rows = store.signing_keys().await.map_err(|e| format!("signing keys: {e}"))?;
    if !rows.is_empty() {
        return Ok(rows);
    }
    let now = SystemClock.now();
    let (mut first, origin) = match file_keys(s)? {
        Some((current, previous)) => {
            let mut first = Vec::new();
            if let Some(p) = previous.filter(|p| p.kid() != current.kid()) {
                let retire = now + access_ttl(s)? + timeline::RETIREMENT_MARGIN;
                first.push(stored_key(&p, now, now, Some(now), Some(retire)));
            }
            first.push(stored_key(&current, now, now, None, None));
            (first, "imported")
        }
        None => {
            let keys = Keys::generate_for(signing_alg(s)?).map_err(|e| e.to_string())?;
            (vec![stored_key(&keys, now, now, None, None)], "generated")
        }
    };
    for (n, row) in first.iter_mut().enumerate() {
        row.generation = n as i64 + 1;
    }
    if store
        .insert_first_signing_keys(&first)
        .await
        .map_err(|e| format!("signing keys: {e}"))?
    {
        let kids: Vec<&str> = first.iter().map(|k| k.kid.as_str()).collect();
        tracing::warn!(?kids, origin, "stored the first JWT signing keys in the database");
    }
    store.signing_keys().await.map_err(|e| format!("signing keys: {e}"))
}

/// The signing keys from the database (§2.8) and the secret the cursor key derives from (the
/// oldest stored key, the same in every process). The newest key must be of
/// `auth.signing_alg`.
async fn load_keys(s: &Settings, store: &SeaStore) -> Result<(Keys, [u8; 32]), String> {
    let alg = signing_alg(s)?;
    let rows = stored_keys(s, store).await?;
    let keys = key_set_at(&rows, SystemClock.now())?;
    let timed = timed_keys(&rows)?;
    if let Some(newest) = timed.last() {
        check_alg(&newest.keys, alg, "the database")?;
    }
    let cursor = timed.first().map_or_else(
        || keys.derive_secret(CURSOR_DOMAIN),
        |k| k.keys.derive_secret(CURSOR_DOMAIN),
    );
    Ok((keys, cursor))
}

const CURSOR_DOMAIN: &str = "org-http pagination cursor v1";

/// Reloads the key set from the database every [`KEY_RELOAD`] and swaps it in when the
/// signing key or the published keys changed (a rotation, a switch, a retirement).
async fn reload_keys(store: Arc<SeaStore>, tokens: Arc<JwtTokens>) {
    let mut tick = tokio::time::interval(KEY_RELOAD);
    tick.tick().await;
    loop {
        tick.tick().await;
        let keys = match store.signing_keys().await {
            Ok(rows) => key_set_at(&rows, SystemClock.now()),
            Err(e) => Err(e.to_string()),
        };
        match keys {
            Ok(keys) if keys.kids() != tokens.keys().kids() => {
                tracing::info!(kid = keys.kid(), kids = ?keys.kids(), "signing keys reloaded");
                tokens.replace_keys(keys);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot reload the signing keys"),
        }
    }
}

/// `admin rotate-signing-key` (§2.8): a new key of the configured algorithm, published at
/// once, signs from 10 minutes from now; the key signing now signs until then and retires an
/// access TTL and 5 minutes later. Running servers pick it up within 60 s. Opens only the
/// database, so it also works when the newest key's algorithm differs from
/// `auth.signing_alg` (which stops the server from starting).
pub async fn rotate_signing_key(s: &Settings) -> Result<Value, String> {
    let alg = signing_alg(s)?;
    let store = open_store(s).await?;
    let rows = stored_keys(s, &store).await?;
    let now = SystemClock.now();
    let previous = key_set_at(&rows, now).ok().map(|k| k.kid().to_owned());
    let new = Keys::generate_for(alg).map_err(|e| e.to_string())?;
    let (signs_from, until, retire) = timeline::rotation_times(now, access_ttl(s)?);
    store
        .rotate_signing_key(&stored_key(&new, now, signs_from, None, None), until, retire)
        .await
        .map_err(|e| format!("rotation failed: {e}"))?;
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(json!({
        "kid": new.kid(),
        "alg": alg.as_str(),
        "published_at": time(now),
        "signs_from": time(signs_from),
        "previous_kid": previous,
        "previous_signs_until": time(until),
        "previous_retires_at": time(retire),
        "restart_required": false,
    }))
}

/// `admin rewrap-secrets` (§1.8): every org's data key re-wrapped under the primary
/// key-encryption key, legacy secrets resealed; afterwards the other keys can be removed from
/// `encryption.keys`. Opens only the database.
pub async fn rewrap_secrets(s: &Settings) -> Result<Value, String> {
    let store = open_store(s).await?;
    let r = store
        .rewrap_secrets()
        .await
        .map_err(|e| format!("rewrap failed: {e}"))?;
    let primary = s.encryption.keys()?.map(|(_, p)| p);
    Ok(json!({
        "primary_key_id": primary,
        "data_keys": r.data_keys,
        "rewrapped": r.rewrapped,
        "resealed_legacy_secrets": r.resealed,
    }))
}

/// What the admin commands and the server share.
#[allow(missing_debug_implementations)]
pub struct Parts {
    pub settings: Settings,
    pub store: Arc<SeaStore>,
    pub app: App,
    /// The access-token adapter the app signs and verifies with.
    pub tokens: Arc<JwtTokens>,
    /// The pagination cursor key's source when none is configured: derived from the oldest
    /// stored signing key, so every process agrees.
    pub cursor_secret: [u8; 32],
}

impl Parts {
    /// Opens the database, migrates, loads keys and builds the app.
    pub async fn open(s: &Settings) -> Result<Self, String> {
        let store = open_store(s).await?;
        let (keys, cursor_secret) = load_keys(s, &store).await?;
        let tokens = Arc::new(JwtTokens::new(keys, &s.public_base_url()));
        let app = App::new(
            Stores::from_store(store.clone()),
            Arc::new(SystemClock),
            Arc::new(UuidV7),
            Arc::new(RandomTokens),
            tokens.clone(),
            app_config(s)?,
        )
        .with_outbound(outbound(s)?)
        .with_siem_sender(siem_sender(s)?)
        .with_domain_verifier(domain_verifier(s)?)
        .with_document_fetcher(document_fetcher(s)?);
        Ok(Self {
            settings: s.clone(),
            store,
            app,
            tokens,
            cursor_secret,
        })
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.app.config().access_token_ttl.num_seconds()
    }
}

/// The `User` object of §4.1.
pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id().to_string(),
        "email": u.email().as_str(),
        "name": u.name(),
        "is_platform_owner": u.is_platform_owner(),
        "created_at": u.created_at().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

fn http_config(
    s: &Settings,
    store: Arc<SeaStore>,
    tokens: Arc<JwtTokens>,
    cursor_secret: [u8; 32],
    metrics: Option<org_http::MetricsRender>,
    health: Arc<Health>,
) -> Result<HttpConfig, String> {
    let trusted_proxies = s
        .trusted_proxies
        .iter()
        .map(|c| c.parse().map_err(|e| format!("trusted_proxies: {e}")))
        .collect::<Result<_, String>>()?;
    let r = &s.rate_limit;
    let readiness: org_http::ReadinessProbe = Arc::new(move || {
        let (store, health) = (store.clone(), health.clone());
        Box::pin(async move {
            let database = store.ping().await.is_ok();
            let migrations = database && store.pending_migrations().await.is_ok_and(|n| n == 0);
            Readiness {
                database,
                migrations,
                workers: health.workers_ok(),
            }
        })
    });
    let cursor_key = match s
        .pagination
        .as_ref()
        .and_then(|p| p.get("cursor_key"))
        .and_then(|v| v.as_str())
    {
        // Derived from the oldest stored signing key, so every instance agrees.
        None => Some(cursor_secret),
        Some(text) => {
            use base64::Engine;
            let raw = text.strip_prefix("base64:").unwrap_or(text);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map_err(|e| format!("pagination.cursor_key: {e}"))?;
            Some(
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| "pagination.cursor_key must be 32 bytes".to_owned())?,
            )
        }
    };
    Ok(HttpConfig {
        public_base_url: s.public_base_url(),
        web_client_url: s.web_client_url.clone(),
        trusted_proxies,
        rate_limits: RateLimits {
            api_per_session: r.api_per_session,
            per_ip: r.per_ip,
            refresh_per_ip: r.refresh_per_ip,
            public_per_ip: r.public_per_ip,
            scim_per_token: r.scim_per_token,
            outbound_per_org: r.outbound_per_org,
            logins_per_key: r.logins_per_key,
        },
        cors_allowed_origins: s.cors.allowed_origins.clone(),
        metrics_bearer_token: s.metrics.bearer_token.clone(),
        metrics_render: metrics,
        serve_metrics: s.metrics.listen.is_none(),
        readiness: Some(readiness),
        cursor_key,
        jwks: Some(Arc::new(move || tokens.jwks())),
    })
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .try_init();
}

/// A leased periodic worker: every `period` (the first time after `first`) it beats its
/// health and, when this process gets the lease `name` (held for one period), runs one pass.
/// With several processes on one database each period's pass runs in one of them; if that one
/// dies, another takes the next period.
async fn periodic<F, Fut>(app: App, health: Arc<Health>, name: &'static str, first: Duration, period: Duration, pass: F)
where
    F: Fn(App) -> Fut,
    Fut: std::future::Future<Output = Result<u64, org_app::AppError>>,
{
    health.register(name, period.max(first));
    tokio::time::sleep(first).await;
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        health.beat(name);
        match app.workers.lease(name, period).await {
            Ok(true) => match pass(app.clone()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(worker = name, items = n, "worker pass done"),
                Err(e) => tracing::warn!(worker = name, error = %e, "worker pass failed"),
            },
            Ok(false) => {}
            Err(e) => tracing::warn!(worker = name, error = %e, "cannot take the worker lease"),
        }
    }
}

/// The invitation expiry sweeper's pass (§6.1): every org.
async fn sweep_invitations(app: App) -> Result<u64, org_app::AppError> {
    let mut expired = 0;
    let mut page = 1;
    loop {
        let orgs = app
            .stores()
            .orgs
            .list_orgs(&OrgFilter::default(), PageRequest::new(page, 100))
            .await?;
        for org in &orgs.items {
            match app.invitations.expire(org).await {
                Ok(n) => expired += n as u64,
                Err(e) => tracing::warn!(error = %e, org = %org.id(), "invitation sweeper failed"),
            }
        }
        if orgs.items.len() < 100 {
            return Ok(expired);
        }
        page += 1;
    }
}

/// Starts the leased workers: invitation expiry (every minute), audit retention (§8.3, when
/// configured) and the purge of deleted orgs (§4.9, every 5 minutes).
fn spawn_workers(s: &Settings, app: &App, health: &Arc<Health>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut workers = vec![
        tokio::spawn(periodic(
            app.clone(),
            health.clone(),
            "invitation_sweeper",
            Duration::ZERO,
            Duration::from_secs(60),
            sweep_invitations,
        )),
        tokio::spawn(periodic(
            app.clone(),
            health.clone(),
            "org_purge",
            Duration::from_secs(5),
            Duration::from_secs(300),
            |app: App| async move { app.workers.purge_deleted_orgs().await },
        )),
    ];
    if let Some(days) = s.audit.retention_days {
        let retention = chrono::Duration::days(i64::from(days));
        let every = s.audit.prune_every.0.max(Duration::from_secs(1));
        workers.push(tokio::spawn(periodic(
            app.clone(),
            health.clone(),
            "audit_retention",
            every.min(Duration::from_secs(30)),
            every,
            move |app: App| async move { app.audit.prune(retention).await },
        )));
    }
    workers
}

/// Waits for Ctrl-C or SIGTERM; from then on `/readyz` answers 503.
async fn shutdown_signal(health: Arc<Health>) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    health.stop();
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
}

/// Bucket bounds (seconds) of every histogram: request durations and delivery lag.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// `org-server serve`.
pub async fn serve(s: Settings) -> Result<(), String> {
    init_logging();
    let parts = Parts::open(&s).await?;
    // Histograms (§21.3), not summaries: buckets add up across instances, quantiles do not.
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .map_err(|e| format!("metrics: {e}"))?
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))?;
    let pool = parts.store.clone();
    let render: org_http::MetricsRender = Arc::new(move || {
        let (in_use, idle) = pool.pool_connections();
        metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(in_use));
        metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
        prometheus.render()
    });
    let health = Arc::new(Health::default());
    let config = http_config(
        &s,
        parts.store.clone(),
        parts.tokens.clone(),
        parts.cursor_secret,
        Some(render.clone()),
        health.clone(),
    )?;
    let state = HttpState::new(parts.app.clone(), config.clone());
    let router = org_http::router(state.clone());
    let mut workers = spawn_workers(&s, &parts.app, &health);
    workers.push(tokio::spawn(reload_keys(parts.store.clone(), parts.tokens.clone())));
    let ob = outbound(&s)?;
    let sender: Arc<dyn org_ports::WebhookSender> = Arc::new(crate::sender::HttpSender::new(ob.guard, ob.resolver));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mailer: Arc<dyn org_ports::Mailer> = Arc::new(mailer(&s)?);
    let app = parts.app.clone();
    let mail_worker = tokio::spawn(poll("mail_delivery", health.clone(), stop_rx.clone(), move || {
        deliver_mail(app.clone(), mailer.clone())
    }));
    let app = parts.app.clone();
    let siem_sender = sender.clone();
    let siem_worker = tokio::spawn(poll("siem_streaming", health.clone(), stop_rx.clone(), move || {
        stream_siem(app.clone(), siem_sender.clone())
    }));
    let app = parts.app.clone();
    let worker = tokio::spawn(poll("webhook_delivery", health.clone(), stop_rx, move || {
        deliver_webhooks(app.clone(), sender.clone())
    }));
    if let Some(addr) = s.metrics.listen {
        let metrics = org_http::metrics_router(state.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        tokio::spawn(async move { axum::serve(listener, metrics).await });
    }
    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", s.listen))?;
    tracing::info!(listen = %s.listen, database = %redacted_url(&s.database_url()), "org-server listening");
    // Graceful shutdown (§21.2): on the signal `/readyz` turns 503, the listener stops
    // accepting, in-flight requests get up to 20 s and the webhook attempt in flight what is
    // left of 28 s; undelivered work stays in the database for the next process.
    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
    let mut server = tokio::spawn(
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopping_rx.changed().await;
        })
        .into_future(),
    );
    tokio::select! {
        done = &mut server => {
            return match done {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("server error: {e}")),
                Err(e) => Err(format!("server task: {e}")),
            };
        }
        () = shutdown_signal(health.clone()) => {}
    }
    let started = std::time::Instant::now();
    let _ = stopping_tx.send(true);
    let _ = stop_tx.send(true);
    for w in &workers {
        w.abort();
    }
    if tokio::time::timeout(Duration::from_secs(20), &mut server)
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests still running after 20 s; closing them");
        server.abort();
    }
    let left = Duration::from_secs(28).saturating_sub(started.elapsed());
    let (webhooks, mail, siem) = tokio::join!(
        tokio::time::timeout(left, worker),
        tokio::time::timeout(left, mail_worker),
        tokio::time::timeout(left, siem_worker)
    );
    if siem.is_err() {
        tracing::warn!("the SIEM batch in flight did not finish; it is sent again after its lease");
    }
    if webhooks.is_err() {
        tracing::warn!("the webhook attempt in flight did not finish; it is retried after its lease");
    }
    if mail.is_err() {
        tracing::warn!("the mail in flight did not finish; it is retried after its lease");
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "shut down");
    Ok(())
}

/// The outbound settings of §9.3 (`outbound.*`).
fn outbound(s: &Settings) -> Result<org_app::webhooks::Outbound, String> {
    let o = &s.outbound;
    let allowed_private = o
        .allowed_private_cidrs
        .iter()
        .map(|c| {
            c.parse()
                .map_err(|e| format!("outbound.allowed_private_cidrs: {c}: {e}"))
        })
        .collect::<Result<_, String>>()?;
    let mut overrides = std::collections::HashMap::new();
    for (host, entry) in &o.dns_overrides {
        let ips = entry
            .a
            .iter()
            .chain(entry.aaaa.iter())
            .map(|ip| {
                ip.parse()
                    .map_err(|e| format!("outbound.dns_overrides.{host}: {ip}: {e}"))
            })
            .collect::<Result<Vec<std::net::IpAddr>, String>>()?;
        overrides.insert(host.to_ascii_lowercase(), ips);
    }
    Ok(org_app::webhooks::Outbound {
        guard: org_app::outbound::Guard {
            allowed_private,
            allow_http: o.allow_http,
        },
        resolver: Arc::new(crate::sender::SystemResolver { overrides }),
    })
}

/// The SMTP mailer of the outbound settings (the same SSRF guard and resolver as webhooks) and
/// the extra trusted roots of `outbound.extra_root_certificates`.
fn mailer(s: &Settings) -> Result<crate::mailer::SmtpMailer, String> {
    let ob = outbound(s)?;
    let roots = s
        .outbound
        .extra_root_certificates
        .iter()
        .map(|p| std::fs::read(p).map_err(|e| format!("outbound.extra_root_certificates: {}: {e}", p.display())))
        .collect::<Result<Vec<_>, String>>()?;
    let hello = reqwest::Url::parse(&s.public_base_url())
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()));
    Ok(crate::mailer::SmtpMailer::new(ob.guard, ob.resolver, roots)?.with_hello_name(hello))
}

/// A queue worker: runs `pass` at once again while it found work, else every 250 ms, until
/// told to stop. `pass` answers whether it found work. A pass may spend its senders' timeouts
/// on slow receivers; the health period allows for that.
async fn poll<F, Fut>(name: &'static str, health: Arc<Health>, mut stop: tokio::sync::watch::Receiver<bool>, pass: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    health.register(name, Duration::from_secs(300));
    loop {
        if *stop.borrow() {
            return;
        }
        health.beat(name);
        if pass().await {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One pass of the mail worker: claims due mails from the outbox under `workers.lease` and
/// sends them. Counts `emails_sent_total{outcome}` (§21.3).
async fn deliver_mail(app: App, mailer: Arc<dyn org_ports::Mailer>) -> bool {
    match app.mail.deliver_due(mailer, 16).await {
        Ok(report) => {
            for (outcome, n) in [
                ("sent", report.sent),
                ("attempt_failed", report.attempt_failed),
                ("failed", report.failed),
                ("skipped", report.skipped),
            ] {
                metrics::counter!("emails_sent_total", "outcome" => outcome).increment(u64::from(n));
            }
            for (mail_id, org_id) in &report.no_smtp {
                tracing::warn!(%mail_id, %org_id, "no SMTP server configured (org or platform): e-mail not sent");
            }
            for (mail_id, error) in &report.errors {
                tracing::warn!(%mail_id, %error, "e-mail attempt failed");
            }
            if report.sent > 0 {
                tracing::info!(sent = report.sent, "e-mails sent");
            }
            report.sent + report.attempt_failed + report.failed + report.skipped > 0
        }
        Err(e) => {
            tracing::warn!(error = %e, "mail worker pass failed");
            false
        }
    }
}

/// `outbound.dns_server`: `host:port`, or an IP address for port 53.
fn dns_server(raw: &str) -> Result<std::net::SocketAddr, String> {
    let raw = raw.trim();
    raw.parse::<std::net::SocketAddr>()
        .or_else(|_| {
            raw.parse::<std::net::IpAddr>()
                .map(|ip| std::net::SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("outbound.dns_server: '{raw}' is not an address or address:port"))
}

/// The lookups of domain verification (§14): TXT through hickory (the system resolver or
/// `outbound.dns_server`, with the `txt` lists of `outbound.dns_overrides`), the HTTP file
/// through the SSRF-checked client, on `outbound.domain_verification_http_port`.
fn domain_verifier(s: &Settings) -> Result<org_app::settings::DomainVerifier, String> {
    let o = &s.outbound;
    let server = o.dns_server.as_deref().map(dns_server).transpose()?;
    let txt_overrides = o
        .dns_overrides
        .iter()
        .map(|(host, entry)| (host.trim_end_matches('.').to_ascii_lowercase(), entry.txt.clone()))
        .collect();
    let ob = outbound(s)?;
    Ok(org_app::settings::DomainVerifier {
        txt: Arc::new(crate::dns::HickoryTxt::new(server, txt_overrides)),
        fetcher: Arc::new(crate::sender::HttpFetcher::new(ob.guard, ob.resolver)),
        http_port: o.domain_verification_http_port,
    })
}

/// The fetcher of OIDC discovery and SAML metadata documents (§11): the guard and resolver of
/// §9.3, `outbound.allow_http` honoured.
fn document_fetcher(s: &Settings) -> Result<Arc<dyn org_ports::DocumentFetcher>, String> {
    let ob = outbound(s)?;
    Ok(Arc::new(crate::sender::DocumentClient::new(ob.guard, ob.resolver)))
}

/// One pass of the webhook worker: claims due deliveries and sends them.
async fn deliver_webhooks(app: App, sender: Arc<dyn org_ports::WebhookSender>) -> bool {
    match app.webhooks.deliver_due(sender, 64).await {
        Ok(report) => {
            let busy = report.delivered + report.attempt_failed + report.failed > 0;
            metrics::counter!("webhook_deliveries_total", "outcome" => "delivered")
                .increment(u64::from(report.delivered));
            metrics::counter!("webhook_deliveries_total", "outcome" => "attempt_failed")
                .increment(u64::from(report.attempt_failed));
            metrics::counter!("webhook_deliveries_total", "outcome" => "failed").increment(u64::from(report.failed));
            for lag in report.lags {
                metrics::histogram!("webhook_delivery_lag_seconds").record(lag);
            }
            for reason in report.disabled {
                metrics::counter!("webhook_endpoints_disabled_total", "reason" => reason.as_str()).increment(1);
            }
            if let Ok(n) = app.webhooks.pending_count().await {
                metrics::gauge!("outbox_pending_events").set(n as f64);
            }
            busy
        }
        Err(e) => {
            tracing::warn!(error = %e, "webhook worker pass failed");
            false
        }
    }
}

/// The outbound client of SIEM test records: the webhook sender (same guard, resolver,
/// timeouts, no redirects or proxies).
fn siem_sender(s: &Settings) -> Result<Arc<dyn org_ports::WebhookSender>, String> {
    let ob = outbound(s)?;
    Ok(Arc::new(crate::sender::HttpSender::new(ob.guard, ob.resolver)))
}

/// One pass of the SIEM streaming worker (§17): every due config under its own lease.
/// Counts `siem_batches_total{provider, outcome}` (§21.3).
async fn stream_siem(app: App, sender: Arc<dyn org_ports::WebhookSender>) -> bool {
    match app.siem.stream_due(sender).await {
        Ok(report) => {
            for b in &report.batches {
                let outcome = match b.outcome {
                    org_app::siem::BatchOutcome::Accepted => "accepted",
                    org_app::siem::BatchOutcome::Failed(_) => "failed",
                };
                metrics::counter!("siem_batches_total", "provider" => b.provider.as_str(), "outcome" => outcome)
                    .increment(1);
                for lag in &b.lags {
                    metrics::histogram!("siem_delivery_lag_seconds").record(*lag);
                }
            }
            report.sent_any()
        }
        Err(e) => {
            tracing::warn!(error = %e, "SIEM worker pass failed");
            false
        }
    }
}

/// The database URL without its password, for logs.
fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dns_server_is_an_address_with_an_optional_port() {
        assert_eq!(dns_server("127.0.0.1:5353"), Ok("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(dns_server(" 10.0.0.53 "), Ok("10.0.0.53:53".parse().unwrap()));
        assert_eq!(dns_server("[::1]:5353"), Ok("[::1]:5353".parse().unwrap()));
        assert!(dns_server("dns.example.com").is_err());
        assert!(dns_server("127.0.0.1:99999").is_err());
    }

    #[test]
    fn database_passwords_never_reach_the_logs() {
        assert_eq!(
            redacted_url("postgres://app:s3cret@db:5432/org"),
            "postgres://app:***@db:5432/org"
        );
        assert_eq!(
            redacted_url("sqlite://./data/org-server.db?mode=rwc"),
            "sqlite://./data/org-server.db?mode=rwc"
        );
    }

    fn settings_in(dir: &Path) -> Settings {
        Settings {
            data_dir: dir.join("data"),
            ..Settings::default()
        }
    }

    fn seal_and_open(c: &AesGcmCipher, d: &AesGcmCipher) -> bool {
        use org_ports::{SecretCipher, SecretScope};
        let scope = SecretScope::new(
            org_domain::OrgId::from_uuid(uuid::Uuid::nil()),
            "webhooks",
            "secret",
            "r",
        );
        let blob = c.seal("whsec_x", &scope).unwrap();
        d.open(&blob, &scope).is_ok_and(|p| p == "whsec_x")
    }

    #[test]
    fn an_sqlite_database_in_data_dir_gets_a_generated_key_file_that_is_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings_in(tmp.path());
        std::fs::create_dir_all(&s.data_dir).unwrap();
        let url = s.database_url();
        let first = load_cipher(&s, &url).unwrap().expect("a generated key");
        let file = encryption_key_file(&s);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("k1:base64:"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let again = load_cipher(&s, &url).unwrap().expect("the same key");
        assert!(
            seal_and_open(&first, &again),
            "the second start must read the first key"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    }

    #[test]
    fn without_keys_postgres_and_sqlite_outside_data_dir_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings_in(tmp.path());
        std::fs::create_dir_all(&s.data_dir).unwrap();
        let outside = format!("sqlite://{}?mode=rwc", tmp.path().join("elsewhere.db").display());
        for url in ["postgres://app@db/org", outside.as_str()] {
            let err = load_cipher(&s, url).unwrap_err();
            assert!(err.contains("encryption.keys is required"), "{url}: {err}");
        }
        assert!(!encryption_key_file(&s).exists());
        assert!(load_cipher(&s, "sqlite::memory:").unwrap().is_none());
    }

    #[test]
    fn configured_keys_win_and_work_for_any_database() {
        use base64::Engine;
        let tmp = tempfile::tempdir().unwrap();
        let mut s = settings_in(tmp.path());
        let key = format!("base64:{}", base64::engine::general_purpose::STANDARD.encode([9u8; 32]));
        s.encryption.keys.insert("prod-1".to_owned(), key);
        let c = load_cipher(&s, "postgres://app@db/org").unwrap().expect("configured");
        assert_eq!(c.primary_key_id(), "prod-1");
        let same = AesGcmCipher::new(vec![("prod-1".to_owned(), [9; 32])], "prod-1").unwrap();
        assert!(seal_and_open(&c, &same));
        assert!(
            !encryption_key_file(&s).exists(),
            "no key file is generated when keys are configured"
        );
    }

    #[tokio::test]
    async fn the_signing_key_follows_auth_signing_alg_and_a_mismatch_refuses_to_start() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = settings_in(tmp.path());
        s.auth.signing_alg = "HS256".to_owned();
        assert!(app_config(&s).is_err());
        let store = open_store(&s).await.unwrap();
        assert!(load_keys(&s, &store).await.unwrap_err().contains("'EdDSA' or 'RS256'"));
        // RS256 and no key: an RSA key is generated into the database, then reused.
        s.auth.signing_alg = "RS256".to_owned();
        assert!(app_config(&s).is_ok());
        let (rsa, cursor) = load_keys(&s, &store).await.unwrap();
        assert_eq!(rsa.alg(), SigningAlg::RS256);
        assert_eq!(rsa.jwks()["keys"][0]["kty"], "RSA");
        assert_eq!(load_keys(&s, &store).await.unwrap().0.kid(), rsa.kid());
        assert!(!key_file(&s).exists(), "the key lives in the database, not in a file");
        // The setting changed back under an existing RSA key: refused, with the way out.
        s.auth.signing_alg = "EdDSA".to_owned();
        let err = load_keys(&s, &store).await.unwrap_err();
        assert!(
            err.contains("RS256 key") && err.contains("auth.signing_alg is EdDSA"),
            "{err}"
        );
        assert!(err.contains("rotate-signing-key"), "{err}");
        // Rotating adds an EdDSA key, published now, signing in 10 minutes; the RSA key
        // keeps signing until then, and the cursor key does not change.
        let out = rotate_signing_key(&s).await.unwrap();
        assert_eq!(
            (out["alg"].as_str(), out["previous_kid"].as_str()),
            (Some("EdDSA"), Some(rsa.kid()))
        );
        let (keys, again) = load_keys(&s, &store).await.unwrap();
        assert_eq!(keys.kid(), rsa.kid());
        assert_eq!(keys.kids(), vec![rsa.kid().to_owned(), s_str(&out["kid"])]);
        assert_eq!(again, cursor);
    }

    fn s_str(v: &Value) -> String {
        v.as_str().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn an_empty_database_imports_the_key_file_and_its_previous_once() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings_in(tmp.path());
        let (current, previous) = (Keys::generate(), Keys::generate());
        create_private_dir(&s.data_dir).unwrap();
        std::fs::write(key_file(&s), current.to_pem()).unwrap();
        std::fs::write(previous_key_file(&s), previous.to_pem()).unwrap();
        let store = open_store(&s).await.unwrap();
        let (keys, _) = load_keys(&s, &store).await.unwrap();
        assert_eq!(keys.kid(), current.kid());
        assert_eq!(keys.kids(), vec![current.kid().to_owned(), previous.kid().to_owned()]);
        // Once: a new file is not imported again.
        std::fs::write(key_file(&s), Keys::generate().to_pem()).unwrap();
        assert_eq!(load_keys(&s, &store).await.unwrap().0.kids(), keys.kids());
        let rows = store.signing_keys().await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].retire_after.is_some() && rows[1].retire_after.is_none());
    }
}
