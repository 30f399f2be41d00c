//! §8 and §20: audit-log lists (filters, offset and cursor paging), event types, head, the
//! streamed export, and the platform log.

use std::collections::HashSet;

use chrono::Duration;
use org_app::roles::UpdateRole;
use org_ports::chain;
use serde_json::{Value, json};

use crate::support::{TestApp, caller, meta};

const LOG: &str = "/api/organizations/acme/audit-log";

/// Appends `n` `role.updated` entries to acme's log, moving the clock every 7 entries so that
/// pages cut through runs of equal `created_at`.
async fn seed(t: &TestApp, n: usize) {
    let roles = t.get("/api/organizations/acme/roles", &t.owner.token).await;
    let role = roles.body[3]["id"].as_str().unwrap().to_owned();
    for i in 0..n {
        if i % 7 == 0 {
            t.advance(Duration::milliseconds(1));
        }
        let cmd = UpdateRole {
            name: Some(format!("Auditor {i}")),
            description: None,
            permissions: None,
        };
        t.app
            .roles
            .update(&caller(&t.owner), &meta(), "acme", &role, cmd)
            .await
            .unwrap();
    }
}

/// Follows `next_cursor` from `first` (a path with query) to the end; returns every `seq`.
async fn walk(t: &TestApp, token: &str, first: &str) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut res = t.get(first, token).await;
    loop {
        res.expect(200, "");
        seqs.extend(
            res.body["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap()),
        );
        let Some(next) = res.body["next_cursor"].as_str() else {
            assert_eq!(res.header("x-next-cursor"), "");
            assert_eq!(res.body["pagination"]["has_next"], false);
            break;
        };
        assert_eq!(res.header("x-next-cursor"), next);
        let sep = if first.contains('?') { '&' } else { '?' };
        res = t.get(&format!("{first}{sep}cursor={next}"), token).await;
        let p = &res.body["pagination"];
        assert_eq!(
            (&p["page"], &p["total"], &p["total_pages"]),
            (&json!(null), &json!(null), &json!(null))
        );
    }
    seqs
}

#[tokio::test]
async fn a_cursor_walk_returns_every_entry_exactly_once_newest_first() {
    let t = TestApp::new().await;
    seed(&t, 250).await;
    let filtered = walk(&t, &t.auditor.token, &format!("{LOG}?action=role.updated&limit=100")).await;
    assert_eq!(filtered.len(), 250);
    assert!(filtered.windows(2).all(|w| w[0] > w[1]), "newest first");
    let all = walk(&t, &t.auditor.token, &format!("{LOG}?limit=100")).await;
    let total = t.get(LOG, &t.auditor.token).await.body["pagination"]["total"]
        .as_u64()
        .unwrap();
    assert_eq!(all.len() as u64, total);
    assert_eq!(all, (1..=total).rev().collect::<Vec<_>>());
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
}

#[tokio::test]
async fn offset_pages_carry_totals_and_refuse_to_go_deeper_than_ten_thousand_rows() {
    let t = TestApp::new().await;
    seed(&t, 5).await;
    let res = t
        .get(&format!("{LOG}?action=role.updated&limit=2&page=2"), &t.auditor.token)
        .await;
    res.expect(200, "");
    assert_eq!(
        res.body["pagination"],
        json!({"page": 2, "limit": 2, "total": 5, "total_pages": 3, "has_next": true, "has_prev": true})
    );
    assert!(res.body["next_cursor"].is_string());
    let last = t
        .get(&format!("{LOG}?action=role.updated&limit=2&page=3"), &t.auditor.token)
        .await;
    assert_eq!(last.body["next_cursor"], json!(null));
    assert_eq!(last.body["logs"].as_array().unwrap().len(), 1);
    let deep = t.get(&format!("{LOG}?page=101&limit=100"), &t.auditor.token).await;
    deep.expect(400, "VALIDATION_FAILED");
    assert_eq!(deep.body["errors"][0]["field"], "page");
    t.get(&format!("{LOG}?page=100&limit=100"), &t.auditor.token)
        .await
        .expect(200, "");
}

#[tokio::test]
async fn foreign_tampered_and_refiltered_cursors_are_refused() {
    let t = TestApp::new().await;
    seed(&t, 4).await;
    let first = t
        .get(&format!("{LOG}?action=role.updated&limit=2"), &t.auditor.token)
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    // The stranger's org has entries too; its cursor is bound to its own log.
    t.post(
        "/api/organizations/other/roles",
        &t.stranger.token,
        Some(json!({"slug": "viewer", "name": "Viewer", "permissions": []})),
    )
    .await
    .expect(201, "");
    let other = t
        .get("/api/organizations/other/audit-log?limit=1", &t.stranger.token)
        .await;
    let other_cursor = other.body["next_cursor"].as_str().unwrap().to_owned();
    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let platform_cursor = t.get("/api/platform/audit-log?limit=1", &t.platform.token).await.body["next_cursor"]
        .as_str()
        .map(str::to_owned);
    let mut cases = vec![
        format!("{LOG}?action=role.updated&limit=2&cursor={tampered}"),
        format!("{LOG}?action=role.updated&limit=2&cursor={other_cursor}"),
        format!("{LOG}?action=role.created&limit=2&cursor={cursor}"),
        format!("{LOG}?limit=2&cursor={cursor}"),
        format!("{LOG}?action=role.updated&since=2020-01-01T00:00:00Z&cursor={cursor}"),
        format!("{LOG}?cursor=not-a-cursor"),
    ];
    if let Some(p) = platform_cursor {
        cases.push(format!("{LOG}?cursor={p}"));
    }
    for path in cases {
        let res = t.get(&path, &t.auditor.token).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(res.body["errors"][0]["field"], "cursor", "{path}");
    }
    // The same cursor under the same filters keeps working, whatever the limit and page.
    t.get(
        &format!("{LOG}?action=role.updated&limit=5&page=9&cursor={cursor}"),
        &t.auditor.token,
    )
    .await
    .expect(200, "");
}

#[tokio::test]
async fn filters_combine_and_malformed_values_name_their_parameter() {
    let t = TestApp::new().await;
    seed(&t, 3).await;
    let res = t
        .get(
            &format!("{LOG}?action=role.updated&actor_id={}&target_type=role", t.owner.id()),
            &t.auditor.token,
        )
        .await;
    res.expect(200, "");
    let logs = res.body["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 3);
    let e = &logs[0];
    assert_eq!(e["actor"], json!({"id": t.owner.id(), "email": "owner@acme.test"}));
    assert_eq!(e["actor_type"], "user");
    assert!(e["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(e["hash"].as_str().unwrap().len(), 64);
    for key in [
        "target_id",
        "ip_address",
        "user_agent",
        "request_id",
        "metadata",
        "organization_id",
    ] {
        assert!(e.get(key).is_some(), "{key} present");
    }
    let future = (t.now() + Duration::days(1)).to_rfc3339();
    let none = t
        .get(&format!("{LOG}?since={}", future.replace('+', "%2B")), &t.auditor.token)
        .await;
    assert_eq!(none.body["pagination"]["total"], 0);
    let until = t
        .get(&format!("{LOG}?until={}", future.replace('+', "%2B")), &t.auditor.token)
        .await;
    assert!(until.body["pagination"]["total"].as_u64().unwrap() > 3);
    for param in ["since", "until"] {
        let res = t.get(&format!("{LOG}?{param}=yesterday"), &t.auditor.token).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(res.body["errors"][0]["field"], param);
    }
    t.get(&format!("{LOG}?limit=ten"), &t.auditor.token)
        .await
        .expect(400, "VALIDATION_FAILED");
    t.get(LOG, &t.member.token).await.expect(403, "FORBIDDEN");
    t.get("/api/organizations/nope/audit-log", &t.auditor.token)
        .await
        .expect(404, "NOT_FOUND");
}

#[tokio::test]
async fn event_types_and_head_describe_the_log() {
    let t = TestApp::new().await;
    let types = t.get(&format!("{LOG}/event-types"), &t.auditor.token).await;
    types.expect(200, "");
    let list = types.body.as_array().unwrap();
    assert_eq!(list.len(), org_app::AUDIT_ACTIONS.len());
    assert_eq!(
        list[0],
        json!({"value": "org.created", "label": "Organization created", "category": "Organization"})
    );
    t.get(&format!("{LOG}/event-types"), &t.member.token)
        .await
        .expect(403, "FORBIDDEN");
    let head = t.get(&format!("{LOG}/head"), &t.auditor.token).await;
    head.expect(200, "");
    let newest = &t.get(&format!("{LOG}?limit=1"), &t.auditor.token).await.body["logs"][0];
    assert_eq!(head.body["seq"], newest["seq"]);
    assert_eq!(head.body["hash"], newest["hash"]);
    assert_eq!(head.body["created_at"], newest["created_at"]);
}

/// The 14 members of §8.3 from an exported line.
fn chained(line: &Value) -> Value {
    chain::chained_object_of(line.as_object().expect("an exported line is an object"))
}

#[tokio::test]
async fn an_ndjson_export_verifies_against_the_chain() {
    let t = TestApp::new().await;
    seed(&t, 620).await;
    let res = t.get(&format!("{LOG}/export"), &t.auditor.token).await;
    res.expect(200, "");
    assert_eq!(res.header("content-type"), "application/x-ndjson");
    let lines: Vec<Value> = res.text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() > 620);
    let mut prev = chain::GENESIS;
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["seq"].as_u64(), Some(i as u64 + 1));
        let prev_hash = chain::from_hex(line["prev_hash"].as_str().unwrap()).unwrap();
        assert_eq!(prev_hash, prev, "linkage at seq {}", i + 1);
        let hash = chain::hash_object(&prev_hash, &chained(line));
        assert_eq!(
            chain::to_hex(&hash),
            line["hash"].as_str().unwrap(),
            "hash at seq {}",
            i + 1
        );
        prev = hash;
    }
    let filtered = t
        .get(&format!("{LOG}/export?action=role.created"), &t.auditor.token)
        .await;
    let only: Vec<Value> = filtered
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["action"], "role.created");
}

#[tokio::test]
async fn a_csv_export_has_the_contract_columns() {
    let t = TestApp::new().await;
    let res = t.get(&format!("{LOG}/export?format=csv"), &t.auditor.token).await;
    res.expect(200, "");
    assert!(res.header("content-type").starts_with("text/csv"));
    let mut lines = res.text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "seq,id,organization_id,actor_id,actor_type,action,target_type,target_id,ip_address,user_agent,success,metadata,request_id,created_at,prev_hash,hash"
        )
    );
    let first = lines.next().unwrap();
    assert!(first.starts_with("1,"), "{first}");
    assert!(first.contains(",org.created,"), "{first}");
    assert!(first.contains(&"0".repeat(64)), "genesis prev_hash: {first}");
    t.get(&format!("{LOG}/export?format=xml"), &t.auditor.token)
        .await
        .expect(400, "VALIDATION_FAILED");
    t.get(&format!("{LOG}/export"), &t.member.token)
        .await
        .expect(403, "FORBIDDEN");
}

#[tokio::test]
async fn the_platform_log_is_for_platform_owners_and_reads_org_logs_by_id() {
    let t = TestApp::new().await;
    t.get("/api/platform/audit-log", &t.owner.token)
        .await
        .expect(403, "FORBIDDEN");
    let res = t.get("/api/platform/audit-log", &t.platform.token).await;
    res.expect(200, "");
    for e in res.body["logs"].as_array().unwrap() {
        assert_eq!(e["organization_id"], json!(null));
    }
    let acme = t.get("/api/organizations/acme", &t.owner.token).await;
    let acme_id = acme.body["organization"]["id"].as_str().unwrap().to_owned();
    let org_log = t
        .get(
            &format!("/api/platform/audit-log?organization_id={acme_id}&limit=1"),
            &t.platform.token,
        )
        .await;
    org_log.expect(200, "");
    assert_eq!(org_log.body["logs"][0]["organization_id"], acme_id.as_str());
    // Its cursor is bound to the org log read, not to the platform log.
    let cursor = org_log.body["next_cursor"].as_str().unwrap();
    t.get(
        &format!("/api/platform/audit-log?organization_id={acme_id}&limit=1&cursor={cursor}"),
        &t.platform.token,
    )
    .await
    .expect(200, "");
    let res = t
        .get(&format!("/api/platform/audit-log?cursor={cursor}"), &t.platform.token)
        .await;
    res.expect(400, "VALIDATION_FAILED");
    assert_eq!(res.body["errors"][0]["field"], "cursor");
    t.get(
        "/api/platform/audit-log?organization_id=0195a0c4-5f00-7a10-8b2c-3d4e5f607182",
        &t.platform.token,
    )
    .await
    .expect(404, "NOT_FOUND");
    t.get("/api/platform/audit-log?organization_id=acme", &t.platform.token)
        .await
        .expect(400, "VALIDATION_FAILED");
}
