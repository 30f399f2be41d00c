//! SIEM streaming (§17) end to end against the real binary: one local receiver per vendor (in
//! this process) checks each vendor's documented wire format strictly and records what it
//! accepted; it can fail on demand (500, Elastic `errors: true`). The server streams the org's
//! audit log to each; a receiver that is down shows in `failure_count` / `last_error` and then
//! gets every entry; a SIGKILL mid-stream loses nothing (at-least-once, in `seq` order).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::support::{Client, Node, s};

const KEY: &str = "k3y-for-tests";

/// How a receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Ok,
    Fail500,
    /// Elastic only: a 200 whose body says `errors: true` with a 400 item.
    ElasticErrors,
    /// Answers after this many milliseconds (a slow receiver).
    Slow(u64),
}

/// One accepted batch: the entries' `(seq, id, action)` in body order.
type Batch = Vec<(u64, String, String)>;

#[derive(Default)]
struct Inner {
    mode: HashMap<String, Mode>,
    batches: HashMap<String, Vec<Batch>>,
    /// Format violations seen (a correct server leaves this empty).
    violations: Vec<String>,
    /// Elastic documents stored, by `_id` (a second `create` of one answers 409).
    elastic_ids: HashSet<String>,
    /// Requests answered with a failure, per vendor.
    failed: HashMap<String, u32>,
    /// Requests being answered now, and the most at once, per vendor.
    in_flight: HashMap<String, u32>,
    max_in_flight: HashMap<String, u32>,
}

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Inner>>);

impl Receiver {
    fn set_mode(&self, vendor: &str, mode: Mode) {
        self.0.lock().unwrap().mode.insert(vendor.to_owned(), mode);
    }
    fn batches(&self, vendor: &str) -> Vec<Batch> {
        self.0.lock().unwrap().batches.get(vendor).cloned().unwrap_or_default()
    }
    fn failed(&self, vendor: &str) -> u32 {
        self.0.lock().unwrap().failed.get(vendor).copied().unwrap_or_default()
    }
    fn max_in_flight(&self, vendor: &str) -> u32 {
        self.0
            .lock()
            .unwrap()
            .max_in_flight
            .get(vendor)
            .copied()
            .unwrap_or_default()
    }
    fn violations(&self) -> Vec<String> {
        self.0.lock().unwrap().violations.clone()
    }
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> &'h str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// The fields of `AuditLogEntry` (§8.2) every streamed entry carries.
fn check_entry(e: &Value, org_id: Option<&str>) -> Result<(u64, String, String), String> {
    for f in [
        "id",
        "organization_id",
        "actor_id",
        "actor_type",
        "action",
        "target_type",
        "target_id",
        "success",
        "metadata",
        "created_at",
        "seq",
        "hash",
        "prev_hash",
    ] {
        if e.get(f).is_none() {
            return Err(format!("entry without `{f}`: {e}"));
        }
    }
    if let Some(org) = org_id
        && e["organization_id"] != json!(org)
    {
        return Err(format!("entry of another org: {e}"));
    }
    let seq = e["seq"].as_u64().ok_or("seq is not a number")?;
    let created = s(&e["created_at"]);
    if chrono::DateTime::parse_from_rfc3339(created).is_err() {
        return Err(format!("created_at not RFC 3339: {created}"));
    }
    Ok((seq, s(&e["id"]).to_owned(), s(&e["action"]).to_owned()))
}

/// Parses and checks one request in the vendor's documented format; the batch, or why not.
fn parse(vendor: &str, headers: &HeaderMap, body: &str) -> Result<Batch, String> {
    let json_ct = header(headers, "content-type").starts_with("application/json");
    match vendor {
        // Datadog logs intake: a JSON array, `DD-API-KEY`.
        "datadog" => {
            if header(headers, "dd-api-key") != KEY || !json_ct {
                return Err("datadog: DD-API-KEY or content-type".into());
            }
            let items: Vec<Value> = serde_json::from_str(body).map_err(|e| format!("datadog: not an array: {e}"))?;
            items
                .iter()
                .map(|i| {
                    let (seq, id, action) = check_entry(i, None)?;
                    if i["ddsource"] != "org-server" || i["service"] != "org-server" {
                        return Err(format!("datadog: ddsource/service: {i}"));
                    }
                    let tags = s(&i["ddtags"]);
                    if !tags.starts_with("org:") || !tags.ends_with(&format!(",action:{action}")) {
                        return Err(format!("datadog: ddtags {tags}"));
                    }
                    let message = s(&i["message"]);
                    if !message.starts_with(&format!("{action} by ")) || !message.contains(" on ") {
                        return Err(format!("datadog: message {message}"));
                    }
                    Ok((seq, id, action))
                })
                .collect()
        }
        // Splunk HEC event endpoint: newline-separated event objects, `Authorization: Splunk`.
        "splunk" => {
            if header(headers, "authorization") != format!("Splunk {KEY}") {
                return Err("splunk: Authorization".into());
            }
            body.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let v: Value = serde_json::from_str(l).map_err(|e| format!("splunk: line: {e}"))?;
                    if !v["time"].is_number() || v["source"] != "org-server" || v["sourcetype"] != "_json" {
                        return Err(format!("splunk: envelope {v}"));
                    }
                    let entry = check_entry(&v["event"], None)?;
                    let created = chrono::DateTime::parse_from_rfc3339(s(&v["event"]["created_at"])).unwrap();
                    let time = v["time"].as_f64().unwrap_or_default();
                    if (time - created.timestamp_millis() as f64 / 1000.0).abs() > 0.001 {
                        return Err(format!("splunk: time {time} is not created_at"));
                    }
                    Ok(entry)
                })
                .collect()
        }
        // Elastic `_bulk`: NDJSON action/document pairs ending in a newline, `ApiKey`.
        "elastic" => {
            if header(headers, "authorization") != format!("ApiKey {KEY}")
                || header(headers, "content-type") != "application/x-ndjson"
                || !body.ends_with('\n')
            {
                return Err("elastic: Authorization, content-type or final newline".into());
            }
            let lines: Vec<&str> = body.lines().collect();
            if !lines.len().is_multiple_of(2) {
                return Err("elastic: odd number of lines".into());
            }
            lines
                .chunks(2)
                .map(|pair| {
                    let action: Value = serde_json::from_str(pair[0]).map_err(|e| format!("elastic: {e}"))?;
                    let doc: Value = serde_json::from_str(pair[1]).map_err(|e| format!("elastic: {e}"))?;
                    let entry = check_entry(&doc, None)?;
                    if action["create"]["_id"] != json!(entry.1) || action.as_object().map(|o| o.len()) != Some(1) {
                        return Err(format!("elastic: action {action}"));
                    }
                    if doc["@timestamp"] != doc["created_at"] {
                        return Err(format!("elastic: @timestamp {doc}"));
                    }
                    Ok(entry)
                })
                .collect()
        }
        // Custom: one JSON object with the events; the configured header.
        _ => {
            if header(headers, "x-siem-token") != "abc" || !json_ct {
                return Err("custom: X-Siem-Token or content-type".into());
            }
            let v: Value = serde_json::from_str(body).map_err(|e| format!("custom: {e}"))?;
            if v["source"] != "org-server" || !v["batch_id"].is_string() || !v["organization_id"].is_string() {
                return Err(format!("custom: envelope {v}"));
            }
            let org = s(&v["organization_id"]).to_owned();
            v["events"]
                .as_array()
                .ok_or("custom: events")?
                .iter()
                .map(|e| check_entry(e, Some(&org)))
                .collect()
        }
    }
}

async fn receive(State(r): State<Receiver>, Path(vendor): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let mode = {
        let mut inner = r.0.lock().unwrap();
        let now = {
            let n = inner.in_flight.entry(vendor.clone()).or_default();
            *n += 1;
            *n
        };
        let max = inner.max_in_flight.entry(vendor.clone()).or_default();
        *max = (*max).max(now);
        inner.mode.get(&vendor).copied().unwrap_or(Mode::Ok)
    };
    if let Mode::Slow(ms) = mode {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    *r.0.lock().unwrap().in_flight.entry(vendor.clone()).or_default() -= 1;
    let batch = match parse(&vendor, &headers, &body) {
        Ok(b) => b,
        Err(why) => {
            r.0.lock().unwrap().violations.push(why.clone());
            return (StatusCode::BAD_REQUEST, why).into_response();
        }
    };
    let mut inner = r.0.lock().unwrap();
    if mode == Mode::Fail500 {
        *inner.failed.entry(vendor).or_default() += 1;
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if vendor == "elastic" {
        let fail = mode == Mode::ElasticErrors;
        let items: Vec<Value> = batch
            .iter()
            .map(|(_, id, _)| {
                let status = if fail {
                    400
                } else if inner.elastic_ids.insert(id.clone()) {
                    201
                } else {
                    409
                };
                json!({"create": {"_index": "audit", "_id": id, "status": status}})
            })
            .collect();
        let errors = items.iter().any(|i| i["create"]["status"] != 201);
        if fail {
            *inner.failed.entry(vendor.clone()).or_default() += 1;
        } else {
            inner.batches.entry(vendor).or_default().push(batch);
        }
        return axum::Json(json!({"took": 1, "errors": errors, "items": items})).into_response();
    }
    inner.batches.entry(vendor.clone()).or_default().push(batch);
    if vendor == "splunk" {
        return axum::Json(json!({"text": "Success", "code": 0})).into_response();
    }
    StatusCode::OK.into_response()
}

async fn start_receiver() -> (String, Receiver) {
    let r = Receiver::default();
    let app = Router::new()
        .route("/{vendor}/intake", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{port}"), r)
}

fn local(node: Node) -> Node {
    node.with("ORG_SERVER_OUTBOUND__ALLOW_HTTP", "true")
        .with("ORG_SERVER_OUTBOUND__ALLOWED_PRIVATE_CIDRS", "127.0.0.1/32")
}

fn body_of(vendor: &str, base: &str, batch_size: u32) -> Value {
    let url = format!("{base}/{vendor}/intake");
    match vendor {
        "datadog" => {
            json!({"name": vendor, "provider_type": "Datadog", "endpoint_url": url, "api_key": KEY, "batch_size": batch_size})
        }
        "splunk" => {
            json!({"name": vendor, "provider_type": "Splunk", "endpoint_url": url, "api_key": KEY, "batch_size": batch_size})
        }
        "elastic" => {
            json!({"name": vendor, "provider_type": "Elastic", "endpoint_url": url, "api_key": KEY, "batch_size": batch_size})
        }
        _ => {
            json!({"name": vendor, "provider_type": "Custom", "endpoint_url": url, "auth_header": "X-Siem-Token: abc", "batch_size": batch_size})
        }
    }
}

async fn create_config(c: &Client, token: &str, slug: &str, body: Value) -> Value {
    let (status, v) = c
        .call(
            "POST",
            &format!("/api/organizations/{slug}/siem-configs"),
            token,
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    v
}

/// Writes `n` audit entries (`org.updated`, one per rename).
async fn renames(c: &Client, token: &str, slug: &str, from: usize, n: usize) {
    for i in from..from + n {
        let (status, v) = c
            .call(
                "PATCH",
                &format!("/api/organizations/{slug}"),
                token,
                Some(json!({"name": format!("Acme {i}")})),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
}

/// The org's audit log, `(seq, id, action)` ascending.
async fn audit_log(c: &Client, token: &str, slug: &str) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let (status, v) = c
            .call(
                "GET",
                &format!("/api/organizations/{slug}/audit-log?limit=100&page={page}"),
                token,
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        let logs = v["logs"].as_array().unwrap().clone();
        for e in &logs {
            out.push((
                e["seq"].as_u64().unwrap(),
                s(&e["id"]).to_owned(),
                s(&e["action"]).to_owned(),
            ));
        }
        if logs.len() < 100 {
            break;
        }
        page += 1;
    }
    out.sort();
    out
}

/// Checks a config's stream: every entry from its own `siem_config.created` on arrived, the
/// first one first, and after dropping re-sent entries the stream is in `seq` order.
fn check_stream(vendor: &str, batches: &[Batch], log: &[(u64, String, String)]) {
    let received: Vec<&(u64, String, String)> = batches.iter().flatten().collect();
    let mut seen = BTreeSet::new();
    let mut firsts = Vec::new();
    for e in &received {
        if seen.insert(e.0) {
            firsts.push(e.0);
        }
    }
    assert!(
        firsts.windows(2).all(|w| w[0] < w[1]),
        "{vendor}: out of seq order: {firsts:?}"
    );
    for b in batches {
        assert!(b.windows(2).all(|w| w[0].0 < w[1].0), "{vendor}: a batch out of order");
    }
    let first = received.first().expect("something arrived");
    assert_eq!(first.2, "siem_config.created", "{vendor}: its own created entry first");
    let expected: Vec<&(u64, String, String)> = log.iter().filter(|e| e.0 >= first.0).collect();
    for e in &expected {
        assert!(
            received.iter().any(|r| r.1 == e.1 && r.0 == e.0),
            "{vendor}: entry seq {} ({}) missing",
            e.0,
            e.2
        );
    }
}

/// Waits until `vendor` received every entry with `seq >= from` and `seq <= through`.
async fn wait_stream(r: &Receiver, vendor: &str, from: u64, through: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got: BTreeSet<u64> = r.batches(vendor).iter().flatten().map(|e| e.0).collect();
        if (from..=through).all(|seq| got.contains(&seq)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{vendor}: {from}..={through} not all received: {got:?}; violations {:?}",
            r.violations()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn created_seq(log: &[(u64, String, String)], nth: usize) -> u64 {
    log.iter()
        .filter(|(_, _, a)| a == "siem_config.created")
        .nth(nth)
        .map(|e| e.0)
        .unwrap()
}

async fn each_provider_streams_the_audit_log_in_its_documented_format(postgres: bool) {
    let (base, r) = start_receiver().await;
    let node = local(Node::on(postgres).await);
    let alice = node.token("alice@example.com");
    let server = node.serve().await;
    let c = server.client();
    let org = c.create_org(&alice, "acme", "Acme").await;
    renames(&c, &org, "acme", 0, 2).await;
    let vendors = ["datadog", "splunk", "elastic", "custom"];
    let mut ids = Vec::new();
    for v in vendors {
        ids.push(s(&create_config(&c, &org, "acme", body_of(v, &base, 3)).await["id"]).to_owned());
    }
    renames(&c, &org, "acme", 2, 7).await;
    let log = audit_log(&c, &org, "acme").await;
    let head = log.last().unwrap().0;
    for (i, v) in vendors.iter().enumerate() {
        // The tail (a partial batch) goes 10 s after its oldest entry.
        wait_stream(&r, v, created_seq(&log, i), head, Duration::from_secs(40)).await;
        check_stream(v, &r.batches(v), &log);
        let first = r.batches(v)[0][0].clone();
        assert_eq!(first.0, created_seq(&log, i), "{v}: starts at its own created entry");
    }
    assert_eq!(r.violations(), Vec::<String>::new());
    // The secrets are write-only; the stream's state shows.
    let (status, got) = c
        .call(
            "GET",
            &format!("/api/organizations/acme/siem-configs/{}", ids[0]),
            &org,
            None,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        (got["has_api_key"].clone(), got["failure_count"].clone()),
        (json!(true), json!(0))
    );
    assert!(got["last_successful_batch_at"].is_string(), "{got}");
    assert!(got.get("api_key").is_none() && !got.to_string().contains(KEY), "{got}");
    // The test record goes out in the provider's format.
    let (status, t) = c
        .call(
            "POST",
            &format!("/api/organizations/acme/siem-configs/{}/test", ids[3]),
            &org,
            None,
        )
        .await;
    assert_eq!(
        (status, t.clone()),
        (200, json!({"success": true, "message": "HTTP 200"})),
        "{t}"
    );
    let last = r.batches("custom").last().unwrap().clone();
    assert_eq!(last[0].2, "siem.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_provider_streams_the_audit_log_in_its_documented_format_on_sqlite() {
    each_provider_streams_the_audit_log_in_its_documented_format(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_provider_streams_the_audit_log_in_its_documented_format_on_postgres() {
    each_provider_streams_the_audit_log_in_its_documented_format(true).await;
}

async fn a_failing_receiver_shows_in_the_config_then_gets_every_entry(postgres: bool) {
    let (base, r) = start_receiver().await;
    r.set_mode("custom", Mode::Fail500);
    r.set_mode("elastic", Mode::ElasticErrors);
    // A receiver that never answers within the sender's 15 s timeout.
    r.set_mode("splunk", Mode::Slow(20_000));
    let node = local(Node::on(postgres).await);
    let alice = node.token("alice@example.com");
    let server = node.serve().await;
    let c = server.client();
    let org = c.create_org(&alice, "acme", "Acme").await;
    let custom = s(&create_config(&c, &org, "acme", body_of("custom", &base, 2)).await["id"]).to_owned();
    let elastic = s(&create_config(&c, &org, "acme", body_of("elastic", &base, 2)).await["id"]).to_owned();
    let splunk = s(&create_config(&c, &org, "acme", body_of("splunk", &base, 2)).await["id"]).to_owned();
    renames(&c, &org, "acme", 0, 3).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    let failing =
        |v: &Value, err: &str| v["failure_count"].as_u64().unwrap_or_default() >= 1 && v["last_error"] == json!(err);
    loop {
        let (_, a) = c
            .call(
                "GET",
                &format!("/api/organizations/acme/siem-configs/{custom}"),
                &org,
                None,
            )
            .await;
        let (_, b) = c
            .call(
                "GET",
                &format!("/api/organizations/acme/siem-configs/{elastic}"),
                &org,
                None,
            )
            .await;
        let (_, t) = c
            .call(
                "GET",
                &format!("/api/organizations/acme/siem-configs/{splunk}"),
                &org,
                None,
            )
            .await;
        let timed_out = t["failure_count"].as_u64().unwrap_or_default() >= 1
            && t["last_error"].as_str().is_some_and(|e| !e.is_empty());
        if failing(&a, "HTTP 500") && failing(&b, "elastic_item_error HTTP 400") && timed_out {
            break;
        }
        assert!(Instant::now() < deadline, "no failure recorded: {a} {b} {t}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(r.batches("custom").is_empty() && r.failed("custom") >= 1);
    // Up again: the retry (30 s backoff) sends the same batch, then the rest; nothing skipped.
    r.set_mode("custom", Mode::Ok);
    r.set_mode("elastic", Mode::Ok);
    r.set_mode("splunk", Mode::Ok);
    let log = audit_log(&c, &org, "acme").await;
    let head = log.last().unwrap().0;
    wait_stream(&r, "custom", created_seq(&log, 0), head, Duration::from_secs(75)).await;
    wait_stream(&r, "elastic", created_seq(&log, 1), head, Duration::from_secs(75)).await;
    check_stream("custom", &r.batches("custom"), &log);
    wait_stream(&r, "splunk", created_seq(&log, 2), head, Duration::from_secs(75)).await;
    check_stream("elastic", &r.batches("elastic"), &log);
    check_stream("splunk", &r.batches("splunk"), &log);
    let (_, a) = c
        .call(
            "GET",
            &format!("/api/organizations/acme/siem-configs/{custom}"),
            &org,
            None,
        )
        .await;
    assert_eq!(
        (a["failure_count"].clone(), a["last_error"].clone()),
        (json!(0), Value::Null),
        "{a}"
    );
    assert_eq!(r.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_shows_in_the_config_then_gets_every_entry_on_sqlite() {
    a_failing_receiver_shows_in_the_config_then_gets_every_entry(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_shows_in_the_config_then_gets_every_entry_on_postgres() {
    a_failing_receiver_shows_in_the_config_then_gets_every_entry(true).await;
}

async fn sigkill_mid_stream_then_restart_loses_no_entry(postgres: bool) {
    let (base, r) = start_receiver().await;
    r.set_mode("custom", Mode::Slow(300));
    // A dead process's lease on the stream expires after `workers.lease`.
    let node = local(Node::on(postgres).await).with("ORG_SERVER_WORKERS__LEASE", "5s");
    let alice = node.token("alice@example.com");
    let mut server = node.serve().await;
    let c = server.client();
    let org = c.create_org(&alice, "acme", "Acme").await;
    create_config(&c, &org, "acme", body_of("custom", &base, 4)).await;
    renames(&c, &org, "acme", 0, 40).await;
    // Some batches arrived, not all: kill the process mid-stream.
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.batches("custom").len() < 2 {
        assert!(Instant::now() < deadline, "nothing streamed: {}", server.log_tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill9();
    let before = r.batches("custom").iter().flatten().count();
    r.set_mode("custom", Mode::Ok);
    let server = node.serve().await;
    let c = server.client();
    let log = audit_log(&c, &org, "acme").await;
    let head = log.last().unwrap().0;
    assert!(before < log.len(), "the kill came after the whole stream");
    wait_stream(&r, "custom", created_seq(&log, 0), head, Duration::from_secs(60)).await;
    check_stream("custom", &r.batches("custom"), &log);
    assert_eq!(r.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart_loses_no_entry_on_sqlite() {
    sigkill_mid_stream_then_restart_loses_no_entry(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart_loses_no_entry_on_postgres() {
    sigkill_mid_stream_then_restart_loses_no_entry(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_rules_are_400s_naming_the_field_and_the_tier_gates_create() {
    let node = local(Node::sqlite());
    let alice = node.token("alice@example.com");
    let server = node.serve().await;
    let c = server.client();
    let org = c.create_org(&alice, "acme", "Acme").await;
    let path = "/api/organizations/acme/siem-configs";
    let ok = json!({"name": "x", "provider_type": "Custom", "endpoint_url": "http://127.0.0.1:9/intake"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("provider_type", json!("datadog")), "provider_type"),
        (with("provider_type", json!("CUSTOM")), "provider_type"),
        (with("batch_size", json!(0)), "batch_size"),
        (with("batch_size", json!(1001)), "batch_size"),
        (with("endpoint_url", json!("ftp://example.com/x")), "endpoint_url"),
        (with("endpoint_url", json!("http://10.0.0.1/x")), "endpoint_url"),
        (
            with("endpoint_url", json!("http://user:pw@example.com/x")),
            "endpoint_url",
        ),
        (with("name", json!("  ")), "name"),
        (with("provider_type", json!("Datadog")), "api_key"),
        (with("auth_header", json!("Bad Name: v")), "auth_header"),
        (
            json!({"provider_type": "Custom", "endpoint_url": "http://127.0.0.1:9/"}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let (status, v) = c.call("POST", path, &org, Some(body.clone())).await;
        assert_eq!(status, 400, "{body} → {v}");
        assert!(
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == json!(field)),
            "{body}: expected `{field}` named: {v}"
        );
    }
    let (status, list) = c.call("GET", path, &org, None).await;
    assert_eq!(
        (status, list["total"].clone()),
        (200, json!(0)),
        "no partial write: {list}"
    );
    let created = create_config(&c, &org, "acme", ok.clone()).await;
    let (status, v) = c.call("POST", path, &org, Some(ok.clone())).await;
    assert_eq!(status, 409, "{v}");
    let id = s(&created["id"]);
    let (status, v) = c
        .call(
            "PUT",
            &format!("{path}/{id}"),
            &org,
            Some(json!({"provider_type": "Splunk"})),
        )
        .await;
    assert_eq!(status, 400, "immutable: {v}");
    let (status, v) = c
        .call(
            "PUT",
            &format!("{path}/{id}"),
            &org,
            Some(json!({"batch_size": 7, "enabled": false})),
        )
        .await;
    assert_eq!(
        (status, v["batch_size"].clone(), v["enabled"].clone()),
        (200, json!(7), json!(false)),
        "{v}"
    );
    let (status, audit) = c
        .call(
            "GET",
            "/api/organizations/acme/audit-log?action=siem_config.updated",
            &org,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        audit["logs"][0]["metadata"]["changes"]["batch_size"],
        json!({"old": 100, "new": 7}),
        "{audit}"
    );
    let (status, _) = c.call("DELETE", &format!("{path}/{id}"), &org, None).await;
    assert_eq!(status, 204);
    let (status, _) = c.call("GET", &format!("{path}/{id}"), &org, None).await;
    assert_eq!(status, 404);
    drop(server);

    // A tier without `allow_siem`: creating is refused.
    let free = local(Node::sqlite()).with("ORG_SERVER_DEFAULT_TIER_ID", "tier_free");
    let bob = free.token("bob@example.com");
    let server = free.serve().await;
    let c = server.client();
    let org = c.create_org(&bob, "beta", "Beta").await;
    let (status, v) = c
        .call("POST", "/api/organizations/beta/siem-configs", &org, Some(ok))
        .await;
    assert_eq!(
        (status, s(&v["error_code"])),
        (403, "FEATURE_NOT_AVAILABLE_IN_TIER"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_send_each_batch_of_a_config_once_one_at_a_time() {
    let (base, r) = start_receiver().await;
    r.set_mode("custom", Mode::Slow(150));
    let node = local(Node::postgres().await);
    let alice = node.token("alice@example.com");
    let a = node.serve().await;
    let sibling = node.sibling();
    let b = sibling.serve().await;
    let c = a.client();
    let org = c.create_org(&alice, "acme", "Acme").await;
    create_config(&c, &org, "acme", body_of("custom", &base, 2)).await;
    renames(&c, &org, "acme", 0, 21).await;
    let log = audit_log(&b.client(), &org, "acme").await;
    let head = log.last().unwrap().0;
    wait_stream(&r, "custom", created_seq(&log, 0), head, Duration::from_secs(60)).await;
    check_stream("custom", &r.batches("custom"), &log);
    let seqs: Vec<u64> = r.batches("custom").iter().flatten().map(|e| e.0).collect();
    let once: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(seqs.len(), once.len(), "an entry sent twice without a crash: {seqs:?}");
    assert_eq!(r.max_in_flight("custom"), 1, "two batches of one config at once");
    assert_eq!(r.violations(), Vec::<String>::new());
}
