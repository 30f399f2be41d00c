//! `cargo xtask bench siem`: SIEM streaming (§17) of 100,000 audit entries to a local Custom
//! receiver at batch size 100, on SQLite, next to a ceiling measured in the same run (a plain
//! loop posting the identical batches, in the provider's format, with the same SSRF-guarded
//! client, one at a time as one stream sends them); then the commit → receipt lag p50/p99
//! while full batches are committed at a steady pace and the worker polls as the server's does
//! (at once while it finds work, else every 250 ms).
// A benchmark measures wall-clock time.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use common::{Backend, ms, quantile};
use org_app::siem::{request, wire_batch};
use org_app::webhooks::Outbound;
use org_app::{Caller, RequestMeta};
use org_domain::EventId;
use org_domain::siem::SiemDraft;
use org_ports::{AuditActor, AuditDraft, AuditLog, Changeset, WebhookSender};
use org_server::sender::{HttpSender, SystemResolver};
use serde_json::{Value, json};

const ENTRIES: usize = 100_000;
const BATCH: u32 = 100;
const LAG_BATCHES: usize = 50;

/// First receipt time of each entry id, and the number of requests.
#[derive(Default)]
struct Seen {
    at: HashMap<String, Instant>,
    requests: u64,
}

async fn receiver() -> (u16, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s = seen.clone();
    let app = Router::new().route(
        "/siem",
        post(move |body: Bytes| {
            let s = s.clone();
            async move {
                let now = Instant::now();
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let mut seen = s.lock().unwrap();
                seen.requests += 1;
                for e in v["events"].as_array().into_iter().flatten() {
                    if let Some(id) = e["id"].as_str() {
                        seen.at.entry(id.to_owned()).or_insert(now);
                    }
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

fn outbound() -> Outbound {
    Outbound {
        guard: org_app::outbound::Guard {
            allowed_private: vec!["127.0.0.1/32".parse().unwrap()],
            allow_http: true,
        },
        resolver: Arc::new(SystemResolver::default()),
    }
}

fn draft(org: org_domain::OrgId, n: usize) -> AuditDraft {
    AuditDraft {
        id: EventId::from_uuid(uuid::Uuid::now_v7()),
        org_id: Some(org),
        actor: AuditActor::system(),
        action: "org.updated".to_owned(),
        target_type: Some("organization".to_owned()),
        target_id: Some(org.to_string()),
        ip_address: None,
        user_agent: None,
        success: true,
        metadata: Some(json!({"changes": {"name": {"old": format!("Bench {n}"), "new": format!("Bench {}", n + 1)}}})),
        request_id: None,
        created_at: chrono::Utc::now(),
    }
}

/// Commits `n` audit entries in commits of `chunk`; the ids and commit times.
async fn append(
    app: &org_app::App,
    org: org_domain::OrgId,
    from: usize,
    n: usize,
    chunk: usize,
) -> Vec<(String, Instant)> {
    let mut out = Vec::with_capacity(n);
    let mut i = from;
    while i < from + n {
        let drafts: Vec<AuditDraft> = (i..(i + chunk).min(from + n)).map(|k| draft(org, k)).collect();
        let ids: Vec<String> = drafts.iter().map(|d| d.id.to_string()).collect();
        i += drafts.len();
        app.stores()
            .uow
            .commit(Changeset {
                audit: drafts,
                ..Changeset::default()
            })
            .await
            .unwrap();
        let at = Instant::now();
        out.extend(ids.into_iter().map(|id| (id, at)));
    }
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    org_server::sender::install_tls();
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = receiver().await;
    let (store, _) = common::store(Backend::Sqlite, dir.path(), "siem").await;
    let app = common::app(store).with_outbound(outbound());
    let meta = RequestMeta::default();
    let user = app.users.create("bench@example.com", None, false).await.unwrap();
    let caller = Caller::new(user, None);
    app.orgs.create(&caller, &meta, "bench", "Bench").await.unwrap();
    let config = app
        .siem
        .create(
            &caller,
            &meta,
            "bench",
            SiemDraft {
                name: Some("bench".into()),
                provider_type: Some("Custom".into()),
                endpoint_url: Some(format!("http://127.0.0.1:{port}/siem")),
                auth_header: Some(Some("X-Token: bench".into())),
                batch_size: Some(i64::from(BATCH)),
                ..SiemDraft::default()
            },
        )
        .await
        .unwrap();
    let org = config.org_id();
    // The config's own created entry is the first streamed: with it, whole batches only (a
    // partial tail would wait its 10 s).
    append(&app, org, 0, ENTRIES - 1, 1_000).await;
    let sender: Arc<dyn WebhookSender> =
        Arc::new(HttpSender::new(outbound().guard, Arc::new(SystemResolver::default())));

    // Throughput: the worker drains the stream.
    let total = ENTRIES;
    let start = Instant::now();
    while seen.lock().unwrap().at.len() < total {
        let report = app.siem.stream_due(sender.clone()).await.unwrap();
        assert!(
            report
                .batches
                .iter()
                .all(|b| b.outcome == org_app::siem::BatchOutcome::Accepted),
            "the receiver refused a batch"
        );
        if !report.sent_any() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let elapsed = start.elapsed();
    let rate = total as f64 / elapsed.as_secs_f64();
    let streamed_requests = seen.lock().unwrap().requests;

    // Ceiling: the identical batches, built up front, posted one after another.
    let stored = app.stores().siem.siem_config(org, config.id()).await.unwrap().unwrap();
    let mut requests = Vec::new();
    let mut cursor = 0;
    loop {
        let chunk = app
            .stores()
            .audit
            .audit_chain(AuditLog::Org(org), cursor, BATCH)
            .await
            .unwrap();
        let Some(last) = chunk.last() else { break };
        cursor = last.seq;
        requests.push(request(&stored, wire_batch(&stored, "bench", &chunk)));
    }
    let start = Instant::now();
    for r in requests {
        sender.send(r).await;
    }
    let top = total as f64 / start.elapsed().as_secs_f64();

    // Lag: full batches committed at a steady pace while the worker polls like the server's.
    let worker = {
        let (app, sender) = (app.clone(), sender.clone());
        tokio::spawn(async move {
            loop {
                let report = app.siem.stream_due(sender.clone()).await.unwrap();
                if !report.sent_any() {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        })
    };
    let mut committed = Vec::new();
    for b in 0..LAG_BATCHES {
        committed.extend(append(&app, org, ENTRIES + b * BATCH as usize, BATCH as usize, BATCH as usize).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while committed
        .iter()
        .any(|(id, _)| !seen.lock().unwrap().at.contains_key(id))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.abort();
    let at = seen.lock().unwrap().at.clone();
    let mut lags: Vec<Duration> = committed
        .iter()
        .filter_map(|(id, t)| at.get(id).map(|got| got.saturating_duration_since(*t)))
        .collect();
    lags.sort();
    println!(
        "| entries | batch | requests | streamed (entries/s) | ceiling (entries/s) | ratio | lag p50 (ms) | lag p99 (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {total} | {BATCH} | {streamed_requests} | {rate:.0} | {top:.0} | {:.2} | {} | {} |",
        rate / top,
        ms(quantile(&lags, 0.5)),
        ms(quantile(&lags, 0.99)),
    );
    println!("lag samples: {} of {}", lags.len(), committed.len());
}
