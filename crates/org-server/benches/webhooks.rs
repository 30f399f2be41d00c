//! `cargo xtask bench webhooks`: webhook deliveries per second from the outbox to a local
//! receiver at 1, 10 and 100 subscribed endpoints, next to a ceiling measured in the same run
//! (a plain loop posting the identical signed bodies to the same receiver with the same HTTP
//! client and concurrency), and the delivery lag (commit → receiver's 2xx) p50/p99 of the
//! first endpoint's deliveries under an offered load of half the measured throughput.
// A benchmark measures wall-clock time: the ceiling loop stamps its bodies with the real clock.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use org_app::system::{RandomTokens, SystemClock, UuidV7};
use org_app::webhooks::{Outbound, WebhookInput};
use org_app::{App, AppConfig, Caller, RequestMeta};
use org_domain::{OrgName, UpdateOrg};
use org_ports::{DeliveryFilter, OutboundRequest, PageRequest, Stores, WebhookSender};
use org_server::sender::{HttpSender, SystemResolver};
use org_store_seaorm::{AesGcmCipher, SeaStore, StoreOptions};

const CONCURRENCY: u32 = 64;
const TARGET_DELIVERIES: usize = 2_000;

/// Receive times by event id.
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver() -> (u16, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = Router::new().route(
        "/h/{n}",
        post(move |headers: HeaderMap, _body: Bytes| {
            let s = s.clone();
            async move {
                if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                    s.lock().unwrap().entry(id.to_owned()).or_insert_with(Instant::now);
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

fn meta() -> RequestMeta {
    RequestMeta::default()
}

async fn setup(dir: &std::path::Path, port: u16, endpoints: usize) -> (App, Caller, String) {
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.join(format!("bench-{endpoints}.db")).display()
    );
    let opts = StoreOptions {
        cipher: Some(Arc::new(AesGcmCipher::generate().0)),
        ..StoreOptions::default()
    };
    let store = Arc::new(SeaStore::connect(&url, opts).await.unwrap());
    store.migrate().await.unwrap();
    let config = AppConfig {
        max_attempts: 1_000,
        ..AppConfig::default()
    };
    let app = App::new(
        Stores::from_store(store),
        Arc::new(SystemClock),
        Arc::new(UuidV7),
        Arc::new(RandomTokens),
        Arc::new(org_tokens::JwtTokens::new(
            org_tokens::Keys::generate(),
            "http://127.0.0.1",
        )),
        config,
    )
    .with_outbound(outbound());
    let user = app.users.create("bench@example.com", None, false).await.unwrap();
    let caller = Caller::new(user, None);
    let slug = format!("bench-{endpoints}");
    app.orgs.create(&caller, &meta(), &slug, "Bench").await.unwrap();
    for i in 0..endpoints {
        let input = WebhookInput {
            name: Some(format!("e{i}")),
            url: Some(format!("http://127.0.0.1:{port}/h/{i}")),
            events: Some(vec!["organization.updated".into()]),
            is_active: None,
        };
        app.webhooks.create(&caller, &meta(), &slug, input).await.unwrap();
    }
    (app, caller, slug)
}

async fn emit(app: &App, caller: &Caller, slug: &str, n: usize) {
    let upd = UpdateOrg {
        name: Some(OrgName::parse(&format!("Bench {n}")).unwrap()),
        ..UpdateOrg::default()
    };
    app.orgs.update(caller, &meta(), slug, upd).await.unwrap();
}

async fn drain(app: &App, sender: Arc<dyn WebhookSender>) -> usize {
    let mut delivered = 0;
    loop {
        let report = app.webhooks.deliver_due(sender.clone(), CONCURRENCY).await.unwrap();
        delivered += report.delivered as usize;
        assert_eq!(
            report.failed + report.attempt_failed,
            0,
            "the local receiver refused a delivery"
        );
        if report.delivered == 0 && app.webhooks.pending_count().await.unwrap() == 0 {
            return delivered;
        }
    }
}

/// The ceiling: the same requests, same client, same concurrency, no outbox.
async fn ceiling(sender: Arc<HttpSender>, requests: Vec<OutboundRequest>) -> f64 {
    let n = requests.len();
    let start = Instant::now();
    for batch in requests.chunks(CONCURRENCY as usize) {
        let mut set = tokio::task::JoinSet::new();
        for r in batch.iter().cloned() {
            let s = sender.clone();
            set.spawn(async move { s.send(r).await });
        }
        while set.join_next().await.is_some() {}
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    org_server::sender::install_tls();
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = receiver().await;
    println!(
        "| endpoints | deliveries | outbox → receiver (/s) | ceiling (/s) | ratio | lag p50 (ms) | lag p99 (ms) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for endpoints in [1_usize, 10, 100] {
        let (app, caller, slug) = setup(dir.path(), port, endpoints).await;
        let events = (TARGET_DELIVERIES / endpoints).max(1);
        // Throughput: fill the outbox, then time the worker draining it.
        for n in 0..events {
            emit(&app, &caller, &slug, n).await;
        }
        let sender = Arc::new(HttpSender::new(outbound().guard, Arc::new(SystemResolver::default())));
        let start = Instant::now();
        let delivered = drain(&app, sender.clone()).await;
        let rate = delivered as f64 / start.elapsed().as_secs_f64();
        // Ceiling: the identical stored bodies, signed, posted by a plain loop.
        let org = app.orgs.get(&caller, &slug).await.unwrap().org;
        let hooks = app.stores().webhooks.org_webhooks(org.id()).await.unwrap();
        let mut requests = Vec::new();
        for h in &hooks {
            let page = app
                .stores()
                .webhooks
                .webhook_deliveries(h.id(), &DeliveryFilter::default(), PageRequest::new(1, 100))
                .await
                .unwrap();
            let mut offset = 1;
            let mut items = page.items;
            while requests.len() < delivered && !items.is_empty() {
                for d in &items {
                    let ts = chrono::Utc::now().timestamp();
                    let id = d.event_id.to_string();
                    requests.push(OutboundRequest {
                        url: h.url().to_owned(),
                        headers: vec![
                            ("content-type".into(), "application/json".into()),
                            ("webhook-id".into(), format!("ceiling-{id}-{}", h.id())),
                            ("webhook-timestamp".into(), ts.to_string()),
                            (
                                "webhook-signature".into(),
                                org_app::signing::standard_signature(
                                    &[&h.record().secret],
                                    &id,
                                    ts,
                                    d.payload.as_bytes(),
                                ),
                            ),
                            (
                                "x-webhook-signature".into(),
                                org_app::signing::compat_signature(&h.record().secret, d.payload.as_bytes()),
                            ),
                        ],
                        body: d.payload.clone(),
                    });
                }
                offset += 1;
                items = app
                    .stores()
                    .webhooks
                    .webhook_deliveries(h.id(), &DeliveryFilter::default(), PageRequest::new(offset, 100))
                    .await
                    .unwrap()
                    .items;
            }
        }
        requests.truncate(delivered);
        let top = ceiling(sender.clone(), requests).await;
        // Lag: a steady stream of commits while the worker runs.
        let worker = {
            let (app, sender) = (app.clone(), sender.clone());
            tokio::spawn(async move {
                loop {
                    let r = app.webhooks.deliver_due(sender.clone(), CONCURRENCY).await.unwrap();
                    if r.delivered == 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            })
        };
        // Offered load: half the measured throughput, so the lag is latency, not backlog.
        let interval = Duration::from_secs_f64((endpoints as f64 / (rate * 0.5)).max(0.02));
        let mut committed: Vec<(String, Instant)> = Vec::new();
        for n in 0..50 {
            emit(&app, &caller, &slug, events + n).await;
            let at = Instant::now();
            let org = app.orgs.get(&caller, &slug).await.unwrap().org;
            let last = app.stores().outbox.org_events(org.id()).await.unwrap().pop().unwrap();
            committed.push((last.id.to_string(), at));
            tokio::time::sleep(interval).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        worker.abort();
        let seen = seen.lock().unwrap().clone();
        let mut lags: Vec<f64> = committed
            .iter()
            .filter_map(|(id, at)| {
                seen.get(id)
                    .map(|got| got.saturating_duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect();
        lags.sort_by(f64::total_cmp);
        println!(
            "| {endpoints} | {delivered} | {rate:.0} | {top:.0} | {:.2} | {:.1} | {:.1} |",
            rate / top,
            percentile(&lags, 0.5),
            percentile(&lags, 0.99)
        );
    }
}
