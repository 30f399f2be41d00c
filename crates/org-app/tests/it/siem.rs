//! SIEM configs and the streaming step (§17) against the memory store and a scripted sender:
//! field rules, the anchor at the config's own `siem_config.created` entry, batching (full or
//! 10 s), backoff that never skips a batch, and pausing (disabled, tier without `allow_siem`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use org_app::platform::PlatformPatch;
use org_domain::siem::{SiemConfig, SiemDraft};
use org_domain::{FeatureOverrides, OrgName, UpdateOrg};
use org_ports::{AuditLog, OutboundRequest, SendResult, WebhookSender};
use serde_json::Value;

use crate::support::{World, invalid_fields, meta};

/// Answers from a script (then 200) and records every request.
#[derive(Default)]
struct Scripted {
    script: Mutex<VecDeque<u16>>,
    sent: Mutex<Vec<OutboundRequest>>,
}

#[async_trait::async_trait]
impl WebhookSender for Scripted {
    async fn send(&self, request: OutboundRequest) -> SendResult {
        self.sent.lock().unwrap().push(request);
        let status = self.script.lock().unwrap().pop_front().unwrap_or(200);
        SendResult::Response {
            status,
            body: String::new(),
            retry_after: None,
        }
    }
}

impl Scripted {
    /// The `seq`s of each batch sent, in order.
    fn batches(&self) -> Vec<Vec<u64>> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let v: Value = serde_json::from_str(&r.body).unwrap();
                v["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["seq"].as_u64().unwrap())
                    .collect()
            })
            .collect()
    }
}

fn custom(batch_size: i64) -> SiemDraft {
    SiemDraft {
        name: Some("stream".into()),
        provider_type: Some("Custom".into()),
        endpoint_url: Some("https://siem.example.com/intake".into()),
        api_key: Some(Some("k".into())),
        batch_size: Some(batch_size),
        ..SiemDraft::default()
    }
}

async fn rename(w: &World, n: u32) {
    let upd = UpdateOrg {
        name: Some(OrgName::parse(&format!("Acme {n}")).unwrap()),
        ..UpdateOrg::default()
    };
    w.app.orgs.update(&w.owner, &meta(), "acme", upd).await.unwrap();
}

async fn config(w: &World, c: &SiemConfig) -> SiemConfig {
    w.app
        .siem
        .get(&w.owner, &meta(), "acme", &c.id().to_string())
        .await
        .unwrap()
}

async fn created_seq(w: &World) -> u64 {
    w.filtered(AuditLog::Org(w.org_id("acme").await), "siem_config.created")
        .await
        .items[0]
        .seq
}

#[tokio::test]
async fn every_field_rule_names_its_field_and_nothing_is_written() {
    let w = World::new().await;
    let with = |f: fn(&mut SiemDraft)| {
        let mut d = custom(100);
        f(&mut d);
        d
    };
    let cases: Vec<(SiemDraft, &str)> = vec![
        (with(|d| d.provider_type = Some("custom".into())), "provider_type"),
        (with(|d| d.provider_type = None), "provider_type"),
        (with(|d| d.batch_size = Some(0)), "batch_size"),
        (with(|d| d.batch_size = Some(1001)), "batch_size"),
        (with(|d| d.name = Some(" ".into())), "name"),
        (
            with(|d| d.endpoint_url = Some("http://siem.example.com/".into())),
            "endpoint_url",
        ),
        (
            with(|d| d.endpoint_url = Some("https://127.0.0.1/".into())),
            "endpoint_url",
        ),
        (
            with(|d| {
                d.provider_type = Some("Splunk".into());
                d.api_key = None;
            }),
            "api_key",
        ),
        (
            with(|d| d.auth_header = Some(Some("Bad Name: x".into()))),
            "auth_header",
        ),
        (with(|d| d.api_key = Some(Some("x".repeat(4097)))), "api_key"),
    ];
    for (draft, field) in cases {
        let e = w.app.siem.create(&w.owner, &meta(), "acme", draft).await.unwrap_err();
        assert_eq!(invalid_fields(&e), [field]);
    }
    assert!(w.app.siem.list(&w.owner, &meta(), "acme").await.unwrap().is_empty());
    let e = w
        .app
        .siem
        .create(&w.member, &meta(), "acme", custom(100))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            org_app::AppError::Domain(org_domain::DomainError::MissingCapability(_))
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_stream_starts_at_its_created_entry_backs_off_and_never_skips_a_batch() {
    let w = World::new().await;
    let sender = Arc::new(Scripted::default());
    sender.script.lock().unwrap().push_back(500);
    let c = w.app.siem.create(&w.owner, &meta(), "acme", custom(2)).await.unwrap();
    let first = created_seq(&w).await;
    rename(&w, 1).await;
    // The first batch (created + rename) fails: the cursor stays just before it.
    let report = w.app.siem.stream_due(sender.clone()).await.unwrap();
    assert_eq!(report.batches.len(), 1);
    let failed = config(&w, &c).await;
    let p = failed.progress();
    assert_eq!(
        (p.cursor, p.failure_count, p.last_error.as_deref()),
        (Some(first - 1), 1, Some("HTTP 500"))
    );
    // Backing off: nothing before 30 s.
    w.advance(Duration::seconds(29));
    assert!(!w.app.siem.stream_due(sender.clone()).await.unwrap().sent_any());
    w.advance(Duration::seconds(1));
    rename(&w, 2).await;
    rename(&w, 3).await;
    let report = w.app.siem.stream_due(sender.clone()).await.unwrap();
    assert_eq!(report.batches.len(), 2, "two full batches in a row");
    assert_eq!(
        sender.batches(),
        [
            vec![first, first + 1],
            vec![first, first + 1],
            vec![first + 2, first + 3]
        ],
        "the failed batch again, then the next"
    );
    let ok = config(&w, &c).await;
    let p = ok.progress();
    assert_eq!(
        (p.cursor, p.failure_count, p.last_error.clone()),
        (Some(first + 3), 0, None)
    );
    assert!(p.last_successful_batch_at.is_some());
    // A partial batch waits 10 s after its oldest entry.
    rename(&w, 4).await;
    assert!(!w.app.siem.stream_due(sender.clone()).await.unwrap().sent_any());
    w.advance(Duration::seconds(10));
    assert!(w.app.siem.stream_due(sender.clone()).await.unwrap().sent_any());
    assert_eq!(sender.batches().last().unwrap(), &vec![first + 4]);
}

#[tokio::test]
async fn disabled_configs_and_orgs_without_allow_siem_pause_and_resume_from_their_cursor() {
    let w = World::new().await;
    let sender = Arc::new(Scripted::default());
    let c = w.app.siem.create(&w.owner, &meta(), "acme", custom(1)).await.unwrap();
    let first = created_seq(&w).await;
    w.app.siem.stream_due(sender.clone()).await.unwrap();
    assert_eq!(sender.batches(), [vec![first]]);
    let off = SiemDraft {
        enabled: Some(false),
        ..SiemDraft::default()
    };
    w.app
        .siem
        .update(&w.owner, &meta(), "acme", &c.id().to_string(), off)
        .await
        .unwrap();
    rename(&w, 1).await;
    assert!(!w.app.siem.stream_due(sender.clone()).await.unwrap().sent_any());
    let on = SiemDraft {
        enabled: Some(true),
        ..SiemDraft::default()
    };
    w.app
        .siem
        .update(&w.owner, &meta(), "acme", &c.id().to_string(), on)
        .await
        .unwrap();
    // The tier loses `allow_siem`: paused, and creating is refused.
    let patch = PlatformPatch {
        feature_overrides: Some(Some(FeatureOverrides {
            allow_siem: Some(false),
            ..FeatureOverrides::default()
        })),
        ..PlatformPatch::default()
    };
    w.app
        .platform
        .patch_org(&w.platform, &meta(), "acme", patch)
        .await
        .unwrap();
    assert!(!w.app.siem.stream_due(sender.clone()).await.unwrap().sent_any());
    let e = w
        .app
        .siem
        .create(&w.owner, &meta(), "acme", custom(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            org_app::AppError::Domain(org_domain::DomainError::FeatureNotInTier(_))
        ),
        "{e:?}"
    );
    let back = PlatformPatch {
        feature_overrides: Some(None),
        ..PlatformPatch::default()
    };
    w.app
        .platform
        .patch_org(&w.platform, &meta(), "acme", back)
        .await
        .unwrap();
    while w.app.siem.stream_due(sender.clone()).await.unwrap().sent_any() {}
    let seqs: Vec<u64> = sender.batches().into_iter().flatten().collect();
    let head = w
        .entries(AuditLog::Org(w.org_id("acme").await))
        .await
        .iter()
        .map(|e| e.seq)
        .max()
        .unwrap();
    assert_eq!(
        seqs,
        (first..=head).collect::<Vec<_>>(),
        "resumed from the cursor, every entry once"
    );
}
