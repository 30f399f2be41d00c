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
use org_ports::{OrgFilter, PageRequest, Stores};
use org_store_seaorm::{AesGcmCipher, SeaStore, StoreOptions};
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

/// Writes `path` with `text`, mode 0600 from the first byte (an existing file is truncated
/// and set to 0600).
fn write_secret_file(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    let mut f = open
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    }
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
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

/// The signing key: configured PEM, else the key file, generated on first start with the
/// configured algorithm. A key of another algorithm than `auth.signing_alg` is refused.
fn load_keys(s: &Settings) -> Result<Keys, String> {
    let alg = signing_alg(s)?;
    let keys = match &s.auth.signing_key {
        Some(pem) => {
            let keys = Keys::from_pem(pem).map_err(|e| e.to_string())?;
            check_alg(&keys, alg, "auth.signing_key")?;
            keys
        }
        None => {
            let path = key_file(s);
            match std::fs::read_to_string(&path) {
                Ok(pem) => {
                    let keys = Keys::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
                    check_alg(&keys, alg, &path.display().to_string())?;
                    keys
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let keys = Keys::generate_for(alg).map_err(|e| e.to_string())?;
                    write_secret_file(&path, &keys.to_pem())?;
                    tracing::warn!(path = %path.display(), "generated a new JWT signing key");
                    keys
                }
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
    };
    match std::fs::read_to_string(previous_key_file(s)) {
        Ok(pem) => {
            let previous = Keys::from_pem(&pem).map_err(|e| e.to_string())?;
            Ok(keys.with_verification_key(&previous))
        }
        Err(_) => Ok(keys),
    }
}

/// `admin rotate-signing-key`: a new key of the configured algorithm signs from the next start;
/// the old one keeps verifying. Needs no database, so it also works when the key file's
/// algorithm differs from `auth.signing_alg` (which stops the server from starting).
pub fn rotate_signing_key(s: &Settings) -> Result<Value, String> {
    let alg = signing_alg(s)?;
    if s.auth.signing_key.is_some() {
        return Err("the signing key comes from the configuration (auth.signing_key); rotate it there".into());
    }
    let path = key_file(s);
    let old = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let old_kid = Keys::from_pem(&old).map_err(|e| e.to_string())?.kid().to_owned();
    let new = Keys::generate_for(alg).map_err(|e| e.to_string())?;
    write_secret_file(&previous_key_file(s), &old)?;
    write_secret_file(&path, &new.to_pem())?;
    Ok(json!({"kid": new.kid(), "alg": alg.as_str(), "previous_kid": old_kid, "restart_required": true}))
}

/// What the admin commands and the server share.
#[allow(missing_debug_implementations)]
pub struct Parts {
    pub settings: Settings,
    pub store: Arc<SeaStore>,
    pub app: App,
    /// The access-token adapter the app signs and verifies with.
    pub tokens: Arc<JwtTokens>,
}

impl Parts {
    /// Opens the database, migrates, loads keys and builds the app.
    pub async fn open(s: &Settings) -> Result<Self, String> {
        let store = open_store(s).await?;
        let tokens = Arc::new(JwtTokens::new(load_keys(s)?, &s.public_base_url()));
        let app = App::new(
            Stores::from_store(store.clone()),
            Arc::new(SystemClock),
            Arc::new(UuidV7),
            Arc::new(RandomTokens),
            tokens.clone(),
            app_config(s)?,
        )
        .with_outbound(outbound(s)?)
        .with_domain_verifier(domain_verifier(s)?);
        Ok(Self {
            settings: s.clone(),
            store,
            app,
            tokens,
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
        // Derived from the signing key, so every instance with the same key agrees.
        None => Some(tokens.derive_secret("org-http pagination cursor v1")),
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
        Some(render.clone()),
        health.clone(),
    )?;
    let state = HttpState::new(parts.app.clone(), config.clone());
    let router = org_http::router(state.clone());
    let workers = spawn_workers(&s, &parts.app, &health);
    let ob = outbound(&s)?;
    let sender: Arc<dyn org_ports::WebhookSender> = Arc::new(crate::sender::HttpSender::new(ob.guard, ob.resolver));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mailer: Arc<dyn org_ports::Mailer> = Arc::new(mailer(&s)?);
    let mail_worker = tokio::spawn(deliver_mail(parts.app.clone(), mailer, stop_rx.clone(), health.clone()));
    let worker = tokio::spawn(deliver_webhooks(parts.app.clone(), sender, stop_rx, health.clone()));
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
    let (webhooks, mail) = tokio::join!(
        tokio::time::timeout(left, worker),
        tokio::time::timeout(left, mail_worker)
    );
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

/// The mail worker: claims due mails from the outbox under `workers.lease` and sends them,
/// until told to stop. Counts `emails_sent_total{outcome}` (§21.3).
async fn deliver_mail(
    app: App,
    mailer: Arc<dyn org_ports::Mailer>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    health: Arc<Health>,
) {
    const WORKER: &str = "mail_delivery";
    health.register(WORKER, Duration::from_secs(300));
    loop {
        if *stop.borrow() {
            return;
        }
        health.beat(WORKER);
        match app.mail.deliver_due(mailer.clone(), 16).await {
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
                if report.sent + report.attempt_failed + report.failed + report.skipped > 0 {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "mail worker pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => {}
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

/// The webhook delivery worker: claims due deliveries and sends them, until told to stop.
async fn deliver_webhooks(
    app: App,
    sender: Arc<dyn org_ports::WebhookSender>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    health: Arc<Health>,
) {
    const WORKER: &str = "webhook_delivery";
    // A pass may spend its senders' timeouts on slow receivers; the period allows for that.
    health.register(WORKER, Duration::from_secs(300));
    loop {
        if *stop.borrow() {
            return;
        }
        health.beat(WORKER);
        match app.webhooks.deliver_due(sender.clone(), 64).await {
            Ok(report) => {
                let busy = report.delivered + report.attempt_failed + report.failed > 0;
                metrics::counter!("webhook_deliveries_total", "outcome" => "delivered")
                    .increment(u64::from(report.delivered));
                metrics::counter!("webhook_deliveries_total", "outcome" => "attempt_failed")
                    .increment(u64::from(report.attempt_failed));
                metrics::counter!("webhook_deliveries_total", "outcome" => "failed")
                    .increment(u64::from(report.failed));
                for lag in report.lags {
                    metrics::histogram!("webhook_delivery_lag_seconds").record(lag);
                }
                for reason in report.disabled {
                    metrics::counter!("webhook_endpoints_disabled_total", "reason" => reason.as_str()).increment(1);
                }
                if let Ok(n) = app.webhooks.pending_count().await {
                    metrics::gauge!("outbox_pending_events").set(n as f64);
                }
                if busy {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "webhook worker pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => {}
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

    #[test]
    fn the_signing_key_follows_auth_signing_alg_and_a_mismatch_refuses_to_start() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = settings_in(tmp.path());
        s.auth.signing_alg = "HS256".to_owned();
        assert!(load_keys(&s).unwrap_err().contains("'EdDSA' or 'RS256'"));
        assert!(app_config(&s).is_err());
        // RS256 and no key file: an RSA key is generated, then reused.
        s.auth.signing_alg = "RS256".to_owned();
        assert!(app_config(&s).is_ok());
        let rsa = load_keys(&s).unwrap();
        assert_eq!(rsa.alg(), SigningAlg::RS256);
        assert_eq!(rsa.jwks()["keys"][0]["kty"], "RSA");
        assert_eq!(load_keys(&s).unwrap().kid(), rsa.kid());
        // The setting changed back under an existing RSA key: refused, with the way out.
        s.auth.signing_alg = "EdDSA".to_owned();
        let err = load_keys(&s).unwrap_err();
        assert!(
            err.contains("RS256 key") && err.contains("auth.signing_alg is EdDSA"),
            "{err}"
        );
        assert!(err.contains("rotate-signing-key"), "{err}");
        // Rotating makes an EdDSA key; the RSA key keeps verifying.
        let out = rotate_signing_key(&s).unwrap();
        assert_eq!(
            (out["alg"].as_str(), out["previous_kid"].as_str()),
            (Some("EdDSA"), Some(rsa.kid()))
        );
        let keys = load_keys(&s).unwrap();
        assert_eq!(keys.alg(), SigningAlg::EdDSA);
        assert_eq!(keys.kids(), vec![keys.kid().to_owned(), rsa.kid().to_owned()]);
        // A configured PEM is checked the same way.
        s.auth.signing_key = Some(rsa.to_pem());
        assert!(load_keys(&s).unwrap_err().contains("auth.signing_key"));
        s.auth.signing_alg = "RS256".to_owned();
        assert_eq!(load_keys(&s).unwrap().kid(), rsa.kid());
    }
}
