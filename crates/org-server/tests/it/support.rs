//! The real binary under test: a node's settings (shared by the admin CLI and the server, so
//! they agree on the database and the issuer), the server process, and a JSON client.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_org-server");

/// A fixed key-encryption key for tests whose database is not an SQLite file in the data dir
/// (the server then refuses to generate one): 32 bytes of `0x2a`.
const TEST_KEY: &str = "k1:base64:KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One server's data dir, port and settings (`ORG_SERVER_*`).
pub struct Node {
    dir: tempfile::TempDir,
    port: u16,
    vars: Vec<(String, String)>,
    /// The PostgreSQL database this node made, dropped with it on an external server.
    database: Option<String>,
    /// A configuration file (`--config`), for settings with no environment form.
    config: Option<PathBuf>,
}

impl Node {
    /// A node on an SQLite database in its own temp data dir, with the defaults of the README.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let vars = vec![
            ("ORG_SERVER_DATA_DIR".to_owned(), dir.path().display().to_string()),
            (
                "ORG_SERVER_PUBLIC_BASE_URL".to_owned(),
                format!("http://127.0.0.1:{port}"),
            ),
        ];
        Self {
            dir,
            port,
            vars,
            database: None,
            config: None,
        }
    }

    /// A node on a fresh database of the throwaway PostgreSQL cluster.
    pub async fn postgres() -> Self {
        let (name, url) = org_testkit::postgres::create_database().await;
        let mut node = Self::sqlite()
            .with("ORG_SERVER_DATABASE__URL", &url)
            .with("ORG_SERVER_ENCRYPTION__KEYS", TEST_KEY);
        node.database = Some(name);
        node
    }

    /// A node on PostgreSQL when `postgres`, else on SQLite.
    pub async fn on(postgres: bool) -> Self {
        if postgres {
            Self::postgres().await
        } else {
            Self::sqlite()
        }
    }

    /// The same node with one more setting (`ORG_SERVER_…`).
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.vars.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The same node with a configuration file of this TOML text (e.g. `outbound.dns_overrides`,
    /// which has no environment form), passed as `--config` to the CLI and the server.
    pub fn with_file(mut self, toml: &str) -> Self {
        let path = self.dir.path().join("org-server.toml");
        std::fs::write(&path, toml).expect("config file");
        self.config = Some(path);
        self
    }

    /// The data dir (the SQLite database is `org-server.db` in it).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn config_args(&self) -> Vec<String> {
        self.config
            .iter()
            .flat_map(|p| ["--config".to_owned(), p.display().to_string()])
            .collect()
    }

    /// The value this node sets for `key` (the last one when set twice).
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The JWT signing key file this node imports into an empty database.
    pub fn signing_key_file(&self) -> PathBuf {
        self.var("ORG_SERVER_AUTH__SIGNING_KEY_FILE")
            .map_or_else(|| self.dir.path().join("signing-key.pem"), PathBuf::from)
    }

    /// Another process of the same deployment, as behind a load balancer: its own data dir
    /// and port, and every setting of this node — the same database (which holds the JWT
    /// signing keys, §2.8), key-encryption keys, issuer (`public_base_url`) and signing key
    /// file setting. Later `with` calls override.
    pub fn sibling(&self) -> Node {
        assert!(
            self.var("ORG_SERVER_DATABASE__URL").is_some(),
            "siblings share a database server: start from Node::postgres()"
        );
        let key = self.signing_key_file();
        // Opening the parts migrates the database and stores its first signing key; reads only.
        self.cli(&["admin", "verify-audit", "--platform"]);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(k, _)| k != "ORG_SERVER_DATA_DIR" && k != "ORG_SERVER_AUTH__SIGNING_KEY_FILE")
            .cloned()
            .collect();
        vars.push(("ORG_SERVER_DATA_DIR".to_owned(), dir.path().display().to_string()));
        vars.push((
            "ORG_SERVER_AUTH__SIGNING_KEY_FILE".to_owned(),
            key.display().to_string(),
        ));
        Node {
            dir,
            port: free_port(),
            vars,
            database: None,
            config: self.config.clone(),
        }
    }

    /// The admin CLI on this node's settings; its JSON output.
    pub fn cli(&self, args: &[&str]) -> Value {
        let out = Command::new(BIN)
            .args(self.config_args())
            .args(args)
            .env_remove("ORG_SERVER_DATABASE__URL")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run org-server");
        assert!(
            out.status.success(),
            "org-server {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }

    /// An access token of `email` from `admin issue-token` (the user is created on the fly).
    pub fn token(&self, email: &str) -> String {
        s(&self.cli(&["admin", "issue-token", "--email", email])["access_token"]).to_owned()
    }

    /// `admin issue-token` of a new platform owner `email`: the CLI's JSON output.
    pub fn platform_owner(&self, email: &str) -> Value {
        self.cli(&["admin", "create-user", "--email", email, "--platform-owner"]);
        self.cli(&["admin", "issue-token", "--email", email])
    }

    /// Starts `serve` and waits until it is healthy; its log goes to `server.log` in the data dir.
    pub async fn serve(&self) -> Server {
        org_server::sender::install_tls();
        let log = self.dir.path().join("server.log");
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("server log");
        let child = Command::new(BIN)
            .args(self.config_args())
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .env_remove("ORG_SERVER_DATABASE__URL")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdout(out.try_clone().expect("server log"))
            .stderr(out)
            .spawn()
            .expect("start org-server");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{}", self.port),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/healthz", server.base)).await
                && r.status() == 200
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not become healthy:\n{}",
                server.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // On an external server (`ORG_TEST_DATABASE_URL`) the test's database is dropped; a
        // throwaway cluster goes whole when the process ends. Its own runtime: this may run
        // inside another's.
        if let Some(name) = self.database.take().filter(|_| org_testkit::postgres::is_external()) {
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(org_testkit::postgres::drop_databases(vec![name])))
            })
            .join();
        }
    }
}

/// A running `org-server serve`; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// SIGKILL: no graceful shutdown, nothing flushed beyond what was committed.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for the process to exit: how long that took.
    pub fn terminate(&mut self) -> Duration {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "SIGTERM not sent");
        let _ = self.child.wait();
        started.elapsed()
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines the server logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// A JSON client of this server.
    pub fn client(&self) -> Client {
        Client {
            http: http(),
            base: self.base.clone(),
        }
    }
}

pub fn http() -> reqwest::Client {
    org_server::sender::install_tls();
    reqwest::Client::new()
}

/// A JSON client with a bearer per call.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Creates org `slug` as the holder of `token`; returns the org-scoped access token.
    pub async fn create_org(&self, token: &str, slug: &str, name: &str) -> String {
        let (status, created) = self
            .call(
                "POST",
                "/api/organizations",
                token,
                Some(json!({"slug": slug, "name": name})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        s(&created["access_token"]).to_owned()
    }

    /// A SCIM token of org `slug`, created with `org_token`.
    pub async fn scim_token(&self, org_token: &str, slug: &str) -> String {
        let (status, token) = self
            .call(
                "POST",
                &format!("/api/organizations/{slug}/scim-tokens"),
                org_token,
                Some(json!({"name": "directory"})),
            )
            .await;
        assert_eq!(status, 201, "{token}");
        let secret = s(&token["token"]).to_owned();
        assert!(secret.starts_with("scim_"), "{token}");
        secret
    }
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The target dir (`CARGO_TARGET_TMPDIR` is `<target dir>/tmp`, wherever `CARGO_TARGET_DIR`
/// puts it): where test tools are installed once and kept.
pub fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map_or_else(|| tmp.to_path_buf(), Path::to_path_buf)
}

/// `<target dir>/<name>`: a Python virtualenv made with `base` (`-m venv`) and the pinned
/// `requirements` installed from PyPI, guarded by a file lock against other test processes and
/// made anew when the requirements change. Nothing is assumed installed beyond `base`.
pub fn make_venv(name: &str, requirements: &str, base: &str) -> Result<PathBuf, String> {
    let dir = target_dir().join(name);
    let stamp = dir.join("org-requirements.txt");
    let python = dir.join("bin").join("python");
    let lock = File::create(target_dir().join(format!("{name}.lock"))).map_err(|e| format!("lock file: {e}"))?;
    lock.lock().map_err(|e| format!("lock {}: {e}", dir.display()))?;
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("remove {}: {e}", dir.display()))?;
    }
    org_testkit::run(
        Command::new(base).args(["-m", "venv"]).arg(&dir),
        &format!("{base} -m venv"),
    )?;
    let list = dir.join("requirements.txt");
    std::fs::write(&list, requirements).map_err(|e| e.to_string())?;
    org_testkit::run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&list),
        &format!("pip install -r {name}/requirements.txt"),
    )?;
    // Written last: a venv without it is incomplete and made anew next time.
    std::fs::write(&stamp, requirements).map_err(|e| e.to_string())?;
    Ok(dir)
}

impl Node {
    /// The admin CLI on this node's settings, expected to fail: its exit status and stderr.
    pub fn cli_failure(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = Command::new(BIN)
            .args(self.config_args())
            .args(args)
            .env_remove("ORG_SERVER_DATABASE__URL")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run org-server");
        assert!(!out.status.success(), "org-server {args:?} succeeded");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `<target dir>/<name>`: an npm project with the pinned `packages` (`name@version`) installed
/// from the npm registry by `npm install`, guarded by a file lock against other test processes
/// and installed anew when the list changes; kept for later runs. Nothing is assumed installed
/// beyond `node` and `npm`.
pub fn npm_install(name: &str, packages: &[&str]) -> Result<PathBuf, String> {
    let dir = target_dir().join(name);
    let wanted = packages.join("\n");
    let stamp = dir.join("org-packages.txt");
    let lock = File::create(target_dir().join(format!("{name}.lock"))).map_err(|e| format!("lock file: {e}"))?;
    lock.lock().map_err(|e| format!("lock {}: {e}", dir.display()))?;
    if dir.join("node_modules").exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("remove {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    std::fs::write(
        dir.join("package.json"),
        format!("{{\"name\":\"{name}\",\"private\":true,\"type\":\"module\"}}"),
    )
    .map_err(|e| e.to_string())?;
    org_testkit::run(
        Command::new("npm")
            .current_dir(&dir)
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--save-exact"])
            .args(packages),
        &format!("npm install {}", packages.join(" ")),
    )?;
    // Written last: a project without it is incomplete and installed anew next time.
    std::fs::write(&stamp, &wanted).map_err(|e| e.to_string())?;
    Ok(dir)
}
