//! `cargo xtask bench http`: the hot path against its ceiling, in one run with one load tool.
//!
//! The release server runs on an SQLite database in a temporary `data_dir`, pinned to CPU 0;
//! `wrk` (one thread, 32 connections) runs pinned to CPU 1. The ceiling is a bare axum 0.8
//! server (this binary, re-executed with `--bare`), also pinned to CPU 0, serving the identical
//! bytes the real server answered. Two endpoints are measured with an owner's org-scoped token:
//! the member list of an org of 50 members (`GET …/members`, limit 50) and a single org
//! (`GET …/organizations/:slug`). One warm-up round of all four targets is discarded, then the
//! rounds interleave the four targets; the figures are medians over the rounds.
//!
//! Last, revocation is checked for immediacy: after a logout, a member's removal and the org's
//! suspension return, 1,000 requests with each old token must all be refused.
// A benchmark measures wall-clock time and makes its own ids and times.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use org_app::Caller;
use org_domain::{Email, Membership, MembershipId, MembershipRecord, MembershipStatus, Role, User, UserId, UserRecord};
use org_ports::{Changeset, UnitOfWork};
use org_store_seaorm::{AesGcmCipher, SeaStore, StoreOptions};
use serde_json::Value;

use common::process::{Killed, cli, median, pinned, server_bin};

const ROUNDS: usize = 5;
const SECONDS: u32 = 5;
const CONNECTIONS: u32 = 32;

/// The bare ceiling: serves the bytes of two files at `/members` and `/org`.
fn bare(port: u16, members: &Path, org: &Path) {
    use axum::body::Bytes;
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;
    let members = Bytes::from(std::fs::read(members).unwrap());
    let org = Bytes::from(std::fs::read(org).unwrap());
    let app = axum::Router::new()
        .route(
            "/members",
            get(move || async move { ([(CONTENT_TYPE, "application/json")], members.clone()) }),
        )
        .route(
            "/org",
            get(move || async move { ([(CONTENT_TYPE, "application/json")], org.clone()) }),
        );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            axum::serve(listener, app).await.unwrap();
        });
}

/// Requests per second of one wrk run.
fn wrk(url: &str, token: Option<&str>) -> f64 {
    let mut c = Command::new("taskset");
    c.args(["-c", "1", "wrk", "-t1"])
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{SECONDS}s"));
    if let Some(t) = token {
        c.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = c.arg(url).output().expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "{url} answered errors under load:\n{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no wrk result for {url}:\n{text}"))
}

fn wait_ready(port: u16, path: &str) {
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let ok = Command::new("curl")
                .args(["-sf", "-o", "/dev/null"])
                .arg(format!("http://127.0.0.1:{port}{path}"))
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port}");
}

fn token(cfg: &Path, email: &str, org: Option<&str>) -> String {
    let mut args = vec!["admin", "issue-token", "--email", email];
    if let Some(o) = org {
        args.extend(["--org", o]);
    }
    cli(cfg, &args)["access_token"].as_str().unwrap().to_owned()
}

/// A data dir with a known encryption key and an org `acme` of 50 members.
async fn seed(data: &Path) -> PathBuf {
    std::fs::create_dir_all(data).unwrap();
    let (cipher, id, key) = AesGcmCipher::generate();
    let b64 = base64::engine::general_purpose::STANDARD.encode(key);
    std::fs::write(data.join("encryption-key"), format!("{id}:base64:{b64}\n")).unwrap();
    let cfg = data.join("org-server.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\npublic_base_url = \"http://bench.invalid\"\n[rate_limit]\napi_per_session = 0\nper_ip = 0\n",
            data.display()
        ),
    )
    .unwrap();
    let url = format!("sqlite://{}?mode=rwc", data.join("org-server.db").display());
    let store = Arc::new(
        SeaStore::connect(
            &url,
            StoreOptions {
                cipher: Some(Arc::new(cipher)),
                ..StoreOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    store.migrate().await.unwrap();
    let app = common::app(store.clone());
    let owner = Caller::new(
        app.users
            .create("owner@acme.bench", Some("Owner".into()), false)
            .await
            .unwrap(),
        None,
    );
    app.orgs
        .create(&owner, &Default::default(), "acme", "Acme Inc")
        .await
        .unwrap();
    let org = app.orgs.get(&owner, "acme").await.unwrap().org.id();
    let now = Utc::now();
    let mut c = Changeset::default();
    for i in 1..50 {
        let at = now + chrono::Duration::milliseconds(i);
        let user = User::restore(UserRecord {
            id: UserId::from_uuid(uuid::Uuid::now_v7()),
            email: Email::parse(&format!("m{i}@acme.bench")).unwrap(),
            name: Some(format!("Member Number {i}")),
            is_platform_owner: false,
            disabled_at: None,
            created_at: at,
            updated_at: at,
            version: 0,
        });
        c.memberships.push(
            Membership::restore(MembershipRecord {
                id: MembershipId::from_uuid(uuid::Uuid::now_v7()),
                org_id: org,
                user_id: user.id(),
                role: if i % 7 == 0 { Role::Admin } else { Role::Member },
                status: MembershipStatus::Active,
                created_at: at,
                updated_at: at,
                version: 0,
            })
            .unwrap(),
        );
        c.users.push(user);
    }
    store.commit(c).await.unwrap();
    store.close().await.unwrap();
    cfg
}

/// Fires `n` requests with `token`, 16 at a time, and counts the 2xx answers.
async fn successes(url: &str, token: &str, n: usize) -> usize {
    let client = reqwest::Client::new();
    let mut ok = 0;
    for _ in 0..n / 16 {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (c, u, t) = (client.clone(), url.to_owned(), token.to_owned());
            set.spawn(async move { c.get(u).bearer_auth(t).send().await.map(|r| r.status().is_success()) });
        }
        while let Some(r) = set.join_next().await {
            ok += usize::from(matches!(r, Ok(Ok(true))));
        }
    }
    ok
}

async fn revocation(base: &str, cfg: &Path) -> Vec<(&'static str, usize)> {
    let client = reqwest::Client::new();
    let members = format!("{base}/api/organizations/acme/members");
    let mut out = Vec::new();
    // Logout.
    let t = token(cfg, "owner@acme.bench", Some("acme"));
    assert!(successes(&members, &t, 16).await == 16);
    let r = client
        .post(format!("{base}/api/auth/logout"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    out.push(("logout", successes(&members, &t, 1_000).await));
    // Member removal.
    let owner = token(cfg, "owner@acme.bench", Some("acme"));
    let victim = token(cfg, "m3@acme.bench", Some("acme"));
    assert!(successes(&members, &victim, 16).await == 16);
    let list: Value = client
        .get(&members)
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "m3@acme.bench")
        .map(|m| m["user_id"].as_str().unwrap().to_owned())
        .unwrap();
    let r = client
        .delete(format!("{members}/{id}"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    out.push(("member removal", successes(&members, &victim, 1_000).await));
    // Suspension.
    cli(
        cfg,
        &["admin", "create-user", "--email", "root@acme.bench", "--platform-owner"],
    );
    let root = token(cfg, "root@acme.bench", None);
    assert!(successes(&members, &owner, 16).await == 16);
    let r = client
        .post(format!("{base}/api/platform/organizations/acme/suspend"))
        .bearer_auth(&root)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    out.push(("org suspension", successes(&members, &owner, 1_000).await));
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--bare") {
        bare(args[2].parse().unwrap(), Path::new(&args[3]), Path::new(&args[4]));
        return;
    }
    org_server::sender::install_tls();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = rt.block_on(seed(&data));
    let port = common::free_port();
    let _server = Killed(
        pinned("0", server_bin())
            .arg("--config")
            .arg(&cfg)
            .args(["serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_ready(port, "/healthz");
    let base = format!("http://127.0.0.1:{port}");
    let owner = token(&cfg, "owner@acme.bench", Some("acme"));
    let real_members = format!("{base}/api/organizations/acme/members");
    let real_org = format!("{base}/api/organizations/acme");
    let fetch = |url: &str| {
        let out = Command::new("curl")
            .args([
                "-s",
                "-w",
                "\n%{http_code}",
                "-H",
                &format!("Authorization: Bearer {owner}"),
                url,
            ])
            .output()
            .unwrap();
        let mut body = out.stdout;
        let at = body.iter().rposition(|b| *b == b'\n').unwrap_or(0);
        let status = String::from_utf8_lossy(&body[at + 1..]).to_string();
        body.truncate(at);
        assert!(
            status == "200",
            "GET {url}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        body
    };
    let (members_body, org_body) = (fetch(&real_members), fetch(&real_org));
    let listed: Value = serde_json::from_slice(&members_body).unwrap();
    assert_eq!(listed["members"].as_array().map(Vec::len), Some(50));
    let members_file = dir.path().join("members.json");
    let org_file = dir.path().join("org.json");
    std::fs::write(&members_file, &members_body).unwrap();
    std::fs::write(&org_file, &org_body).unwrap();
    let bare_port = common::free_port();
    let me = std::env::current_exe().unwrap();
    let _bare = Killed(
        pinned("0", &me.display().to_string())
            .arg("--bare")
            .arg(bare_port.to_string())
            .arg(&members_file)
            .arg(&org_file)
            .spawn()
            .unwrap(),
    );
    wait_ready(bare_port, "/org");
    let bare_members = format!("http://127.0.0.1:{bare_port}/members");
    let bare_org = format!("http://127.0.0.1:{bare_port}/org");
    eprintln!("bench http: warm-up round");
    let targets = [
        (&bare_members, None),
        (&real_members, Some(owner.as_str())),
        (&bare_org, None),
        (&real_org, Some(owner.as_str())),
    ];
    for (url, t) in targets {
        wrk(url, t);
    }
    let mut rps: [Vec<f64>; 4] = Default::default();
    for round in 0..ROUNDS {
        eprintln!("bench http: round {}/{ROUNDS}", round + 1);
        for (i, (url, t)) in targets.iter().enumerate() {
            rps[i].push(wrk(url, *t));
        }
    }
    let [bm, rm, bo, ro] = rps.map(median);
    println!(
        "\n### HTTP hot path (SQLite; server and ceiling on CPU 0, wrk -t1 -c{CONNECTIONS} on CPU 1; medians of {ROUNDS} rounds of {SECONDS} s)\n"
    );
    println!("| endpoint | body | org-server (req/s) | bare axum, same bytes (req/s) | ratio | target |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| member list (50 members) | {} B | {rm:.0} | {bm:.0} | {:.3} | ≥ 0.5 |",
        members_body.len(),
        rm / bm
    );
    println!(
        "| single org | {} B | {ro:.0} | {bo:.0} | {:.3} | ≥ 0.3 |",
        org_body.len(),
        ro / bo
    );
    let checks = rt.block_on(revocation(&base, &cfg));
    println!("\n### Revocation is immediate\n");
    println!("| revoked by | requests with the old token | succeeded |");
    println!("|---|---|---|");
    for (what, ok) in checks {
        println!("| {what} | 1000 | {ok} |");
    }
}
