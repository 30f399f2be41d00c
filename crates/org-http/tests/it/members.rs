//! §5: members — the list (offset and keyset cursor paging, kept counts), role changes,
//! removal, service access and ownership transfer.

use std::collections::HashSet;

use axum::http::Method;
use chrono::Duration;
use org_app::AppConfig;
use serde_json::{Value, json};

use crate::support::{self, Actor, TestApp};

const MEMBERS: &str = "/api/organizations/acme/members";

#[tokio::test]
async fn a_user_carries_the_sdk_members_with_null_where_the_service_has_no_value() {
    let t = TestApp::new().await;
    let res = t.get(MEMBERS, &t.member.token).await;
    res.expect(200, "");
    let user = &res.body["members"][0]["user"];
    assert_eq!(user["email"], "owner@acme.test");
    for null in ["org_id", "email_verified_at", "deleted_at"] {
        assert!(user.get(null).is_some_and(Value::is_null), "{null}: {user}");
    }
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(at(&user["updated_at"]) >= at(&user["created_at"]), "{user}");
    let me = t.get("/api/user", &t.owner.token).await;
    me.expect(200, "");
    assert_eq!(me.body["updated_at"], user["updated_at"]);
    for null in ["org_id", "email_verified_at", "deleted_at"] {
        assert!(me.body.get(null).is_some_and(Value::is_null), "{null}");
    }
}

#[tokio::test]
async fn the_member_list_carries_both_wire_shapes_and_the_cap() {
    let t = TestApp::new().await;
    let res = t.get("/api/organizations/acme/members", &t.member.token).await;
    res.expect(200, "");
    assert_eq!(res.body["total"], 4);
    assert_eq!(res.body["page"], 1);
    assert_eq!(
        res.body["limit"],
        json!({"current": 4, "max": 999_999, "source": "enterprise"})
    );
    let first = &res.body["members"][0];
    assert_eq!(first["user"]["email"], "owner@acme.test");
    assert_eq!(first["email"], "owner@acme.test");
    assert_eq!(first["role"], "owner");
    assert_eq!(first["membership"]["role"], "owner");
    assert_eq!(first["user_id"], first["user"]["id"]);
    assert_eq!(first["joined_at"], first["membership"]["created_at"]);
    let admins = t
        .get("/api/organizations/acme/members?role=admin", &t.member.token)
        .await;
    assert_eq!(admins.body["total"], 1);
    let paged = t
        .get("/api/organizations/acme/members?limit=2&page=2", &t.member.token)
        .await;
    assert_eq!(paged.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(paged.body["page"], 2);
    t.get("/api/organizations/acme/members?status=gone", &t.member.token)
        .await
        .expect(400, "VALIDATION_FAILED");
    let bad_role = t
        .get("/api/organizations/acme/members?role=Not%20A%20Slug", &t.member.token)
        .await;
    bad_role.expect(400, "VALIDATION_FAILED");
    assert_eq!(bad_role.body["errors"][0]["field"], "role");
    let auditors = t
        .get("/api/organizations/acme/members?role=auditor", &t.member.token)
        .await;
    assert_eq!(auditors.body["total"], 1);
    assert_eq!(auditors.body["members"][0]["email"], "auditor@acme.test");
    // Platform owners see the list; outsiders do not learn the org exists.
    let po = t.get("/api/organizations/acme/members", &t.platform.token).await;
    po.expect(200, "");
    assert_eq!(po.body["total"], 4);
    t.get("/api/organizations/acme/members", &t.stranger.token)
        .await
        .expect(404, "NOT_FOUND");
    // One page holds everyone: no next page, in the body or the header.
    assert_eq!(res.body["next_cursor"], json!(null));
    assert!(res.body.as_object().unwrap().contains_key("next_cursor"));
    assert!(res.headers.get("x-next-cursor").is_none());
}

#[tokio::test]
async fn changing_a_role_follows_capability_grant_and_self_rules() {
    let t = TestApp::new().await;
    let path = |a: &crate::support::Actor| format!("/api/organizations/acme/members/{}", a.id());
    let res = t
        .patch(&path(&t.member), &t.admin.token, json!({"role": "auditor"}))
        .await;
    res.expect(200, "");
    assert_eq!(res.body["role"], "auditor");
    assert_eq!(res.body["membership"]["role"], "auditor");
    let cases = [
        (&t.member, &t.auditor, json!({"role": "member"}), 403, "FORBIDDEN"),
        (&t.admin, &t.owner, json!({"role": "member"}), 403, "FORBIDDEN"),
        (&t.admin, &t.admin, json!({"role": "member"}), 400, "BAD_REQUEST"),
        (&t.admin, &t.member, json!({"role": "ghost"}), 400, "VALIDATION_FAILED"),
        (
            &t.admin,
            &t.member,
            json!({"role": "Not A Slug"}),
            400,
            "VALIDATION_FAILED",
        ),
        (&t.admin, &t.stranger, json!({"role": "member"}), 404, "NOT_FOUND"),
        (&t.admin, &t.member, json!({}), 400, "VALIDATION_FAILED"),
    ];
    for (by, target, body, status, code) in cases {
        t.patch(&path(target), &by.token, body).await.expect(status, code);
    }
    // A platform owner may not demote the owner either (§3.5 invariant); the detail speaks
    // of a role change, not of removal.
    let invariant = t
        .patch(&path(&t.owner), &t.platform.token, json!({"role": "admin"}))
        .await;
    invariant.expect(409, "CONFLICT");
    let detail = invariant.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("ownership transfer") && !detail.contains("removed"),
        "{detail}"
    );
    let owner = t.patch(&path(&t.admin), &t.owner.token, json!({"role": "owner"})).await;
    owner.expect(200, "");
    assert_eq!(owner.body["role"], "owner");
}

#[tokio::test]
async fn removal_answers_200_null_by_post_and_delete_and_ends_sessions() {
    let t = TestApp::new().await;
    let org_token = t.org_token(&t.member, "acme").await;
    let path = format!("/api/organizations/acme/members/{}", t.member.id());
    let res = t.post(&path, &t.admin.token, None).await;
    res.expect(200, "");
    assert_eq!(res.text, "null");
    // The removed member's org session is refused on the very next request.
    t.get("/api/organizations/acme", &org_token)
        .await
        .expect(401, "UNAUTHORIZED");
    t.get("/api/organizations/acme", &t.member.token)
        .await
        .expect(404, "NOT_FOUND");
    t.delete(&path, &t.admin.token).await.expect(404, "NOT_FOUND");
    let auditor = format!("/api/organizations/acme/members/{}", t.auditor.id());
    t.delete(&auditor, &t.admin.token).await.expect(200, "");
    let cases = [
        (&t.admin, &t.admin, 400, "BAD_REQUEST"),
        (&t.admin, &t.owner, 403, "FORBIDDEN"),
        (&t.platform, &t.owner, 409, "CONFLICT"),
    ];
    for (by, target, status, code) in cases {
        t.delete(&format!("/api/organizations/acme/members/{}", target.id()), &by.token)
            .await
            .expect(status, code);
    }
}

#[tokio::test]
async fn service_access_is_an_empty_list_until_services_exist() {
    let t = TestApp::new().await;
    let path = format!("/api/organizations/acme/members/{}/service-access", t.member.id());
    let res = t.get(&path, &t.admin.token).await;
    res.expect(200, "");
    assert_eq!(res.body, json!([]));
    t.get(&path, &t.member.token).await.expect(403, "FORBIDDEN");
    let stranger = format!("/api/organizations/acme/members/{}/service-access", t.stranger.id());
    t.get(&stranger, &t.admin.token).await.expect(404, "NOT_FOUND");
    let grant = json!({"grants": [{"service_slug": "app", "access": "viewer"}]});
    t.put(&path, &t.admin.token, grant).await.expect(404, "NOT_FOUND");
    let cases = [
        json!({"grants": []}),
        json!({"grants": [{"service_slug": "app", "access": "owner"}]}),
        json!({"grants": [{"service_slug": "a", "access": null}, {"service_slug": "a", "access": null}]}),
    ];
    for body in cases {
        t.put(&path, &t.admin.token, body)
            .await
            .expect(400, "VALIDATION_FAILED");
    }
}

#[tokio::test]
async fn ownership_moves_by_email_or_id_and_the_old_owner_becomes_admin() {
    let t = TestApp::new().await;
    let path = "/api/organizations/acme/transfer-ownership";
    let res = t
        .post(
            path,
            &t.owner.token,
            Some(json!({"new_owner_email": "member@acme.test"})),
        )
        .await;
    res.expect(200, "");
    assert_eq!(res.body["role"], "owner");
    assert_eq!(res.body["email"], "member@acme.test");
    let cases = [
        (&t.owner, json!({"new_owner_user_id": t.admin.id()}), 403, "FORBIDDEN"),
        (&t.member, json!({}), 400, "VALIDATION_FAILED"),
        (
            &t.member,
            json!({"new_owner_email": "a@b.test", "new_owner_user_id": t.admin.id()}),
            400,
            "VALIDATION_FAILED",
        ),
        (
            &t.member,
            json!({"new_owner_email": "nobody@acme.test"}),
            404,
            "NOT_FOUND",
        ),
        (
            &t.member,
            json!({"new_owner_user_id": t.member.id()}),
            400,
            "BAD_REQUEST",
        ),
    ];
    for (by, body, status, code) in cases {
        t.post(path, &by.token, Some(body)).await.expect(status, code);
    }
    t.post(
        path,
        &t.platform.token,
        Some(json!({"new_owner_user_id": t.admin.id()})),
    )
    .await
    .expect(200, "");
}

/// Adds `n` members to acme (`role`, invited by the owner). The users are created in order
/// (ascending ids) and join in reverse order, three at a time on one clock tick, so pages cut
/// through runs of equal `joined_at` that only the user id orders.
async fn seed(t: &TestApp, n: usize, role: &str) -> Vec<Actor> {
    let mut users = Vec::new();
    for i in 0..n {
        users.push(t.actor(&format!("{role}{i:02}@acme.test")).await);
    }
    for (i, user) in users.iter().rev().enumerate() {
        if i % 3 == 0 {
            t.advance(Duration::milliseconds(1));
        }
        t.join(&t.owner, user, "acme", role).await;
    }
    users
}

/// One page as read from the wire: `(joined_at, user_id)` per member, the body and header
/// cursors.
fn keys_of(res: &support::Resp) -> Vec<(String, String)> {
    res.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["user_id"], m["user"]["id"]);
            assert_eq!(m["joined_at"], m["membership"]["created_at"]);
            (
                m["joined_at"].as_str().unwrap().to_owned(),
                m["user_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Follows `next_cursor` from `first` (a path with a query) to the last page, checking the
/// cursor-mode shape of every page after the first; returns every row and the page count.
async fn walk(t: &TestApp, token: &str, first: &str) -> (Vec<(String, String)>, usize) {
    let mut rows = Vec::new();
    let mut pages = 1;
    let mut res = t.get(first, token).await;
    res.expect(200, "");
    assert!(
        res.body["total"].is_u64(),
        "the first page is an offset page: {}",
        res.text
    );
    assert_eq!(res.body["page"], 1);
    loop {
        rows.extend(keys_of(&res));
        let Some(next) = res.body["next_cursor"].as_str().map(str::to_owned) else {
            assert_eq!(res.body["next_cursor"], json!(null));
            assert!(res.headers.get("x-next-cursor").is_none(), "no header on the last page");
            break;
        };
        assert_eq!(res.header("x-next-cursor"), next, "the header matches the body");
        res = t.get(&format!("{first}&cursor={next}"), token).await;
        res.expect(200, "");
        pages += 1;
        assert_eq!(
            (&res.body["total"], &res.body["page"]),
            (&json!(null), &json!(null)),
            "cursor mode computes no totals"
        );
        assert!(res.body["limit"]["current"].is_u64(), "the cap is still shown");
        assert!(pages < 100, "the walk does not end");
    }
    (rows, pages)
}

#[tokio::test]
async fn a_cursor_walk_returns_every_member_once_in_joined_at_then_user_id_order() {
    let t = TestApp::new().await;
    seed(&t, 21, "member").await;
    let (rows, pages) = walk(&t, &t.member.token, &format!("{MEMBERS}?limit=4")).await;
    assert_eq!(rows.len(), 25);
    assert_eq!(pages, 7);
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted, "ordered by (joined_at, user_id)");
    assert_eq!(
        rows.iter().collect::<HashSet<_>>().len(),
        rows.len(),
        "each member once"
    );
    // The walk is the offset listing, row for row.
    let all = t.get(&format!("{MEMBERS}?limit=100"), &t.member.token).await;
    assert_eq!(all.body["total"], 25);
    assert_eq!(keys_of(&all), rows);
    // Whatever the page size, including pages of one.
    for limit in [1, 3, 25, 100] {
        let (again, pages) = walk(&t, &t.owner.token, &format!("{MEMBERS}?limit={limit}")).await;
        assert_eq!(again, rows, "limit {limit}");
        assert_eq!(pages, 25_usize.div_ceil(limit), "limit {limit}");
    }
}

#[tokio::test]
async fn a_filtered_cursor_walk_stays_within_the_filter() {
    let t = TestApp::new().await;
    let admins = seed(&t, 5, "admin").await;
    seed(&t, 4, "member").await;
    let first = format!("{MEMBERS}?role=admin&limit=2");
    let head = t.get(&first, &t.owner.token).await;
    assert_eq!(head.body["total"], 6);
    let (rows, pages) = walk(&t, &t.owner.token, &first).await;
    assert_eq!(pages, 3);
    let ids: HashSet<String> = rows.iter().map(|(_, id)| id.clone()).collect();
    let mut expected: HashSet<String> = admins.iter().map(Actor::id).collect();
    expected.insert(t.admin.id());
    assert_eq!(ids, expected);
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted);
}

#[tokio::test]
async fn the_last_cursor_page_has_a_null_next_cursor_and_no_header() {
    let t = TestApp::new().await;
    let first = t.get(&format!("{MEMBERS}?limit=2"), &t.owner.token).await;
    first.expect(200, "");
    assert_eq!(
        (first.body["total"].as_u64(), first.body["page"].as_u64()),
        (Some(4), Some(1))
    );
    let cursor = first.body["next_cursor"].as_str().unwrap();
    assert_eq!(first.header("x-next-cursor"), cursor);
    assert!(
        cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'),
        "URL-safe: {cursor}"
    );
    let last = t
        .get(&format!("{MEMBERS}?limit=2&cursor={cursor}"), &t.owner.token)
        .await;
    last.expect(200, "");
    assert_eq!(last.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(
        (&last.body["total"], &last.body["page"], &last.body["next_cursor"]),
        (&json!(null), &json!(null), &json!(null))
    );
    assert!(last.headers.get("x-next-cursor").is_none());
    assert_eq!(
        last.body["limit"],
        json!({"current": 4, "max": 999_999, "source": "enterprise"})
    );
}

#[tokio::test]
async fn a_cursor_ignores_page_and_keeps_working_with_another_limit() {
    let t = TestApp::new().await;
    let first = t.get(&format!("{MEMBERS}?limit=1"), &t.owner.token).await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let owner_row = keys_of(&first);
    let res = t
        .get(&format!("{MEMBERS}?limit=10&page=500&cursor={cursor}"), &t.owner.token)
        .await;
    res.expect(200, "");
    let rest = keys_of(&res);
    assert_eq!(rest.len(), 3);
    assert!(rest.iter().all(|r| r > &owner_row[0]));
    assert_eq!(res.body["next_cursor"], json!(null));
}

#[tokio::test]
async fn tampered_foreign_and_refiltered_cursors_are_refused_on_the_cursor_field() {
    let t = TestApp::new().await;
    let first = t.get(&format!("{MEMBERS}?limit=2"), &t.owner.token).await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let filtered = t.get(&format!("{MEMBERS}?limit=1&role=admin"), &t.owner.token).await;
    assert_eq!(filtered.body["next_cursor"], json!(null), "one admin: no next page");
    let by_status = t.get(&format!("{MEMBERS}?limit=1&status=active"), &t.owner.token).await;
    let status_cursor = by_status.body["next_cursor"].as_str().unwrap().to_owned();
    // A cursor of the other org's member list.
    let guest = t.actor("guest@other.test").await;
    t.join(&t.stranger, &guest, "other", "member").await;
    let other = t
        .get("/api/organizations/other/members?limit=1", &t.stranger.token)
        .await;
    let other_cursor = other.body["next_cursor"].as_str().unwrap().to_owned();
    t.get(
        &format!("/api/organizations/other/members?limit=1&cursor={other_cursor}"),
        &t.stranger.token,
    )
    .await
    .expect(200, "");
    // A cursor of another list of the same org.
    let audit = t
        .get("/api/organizations/acme/audit-log?limit=1", &t.auditor.token)
        .await;
    let audit_cursor = audit.body["next_cursor"].as_str().unwrap().to_owned();
    // A cursor signed with another `pagination.cursor_key`, over the same data.
    let (_, _, rekeyed) = support::instance(
        t.store.clone(),
        t.clock.clone(),
        t.tokens.clone(),
        AppConfig::default(),
        org_http::HttpConfig {
            cursor_key: Some([1; 32]),
            ..t.state.config().clone()
        },
    );
    let rekeyed_first = support::call(
        &rekeyed,
        support::request(Method::GET, &format!("{MEMBERS}?limit=2"), Some(&t.owner.token), None),
    )
    .await;
    let rekeyed_cursor = rekeyed_first.body["next_cursor"].as_str().unwrap().to_owned();
    assert_ne!(rekeyed_cursor, cursor);

    let flip = |c: &str, i: usize| {
        let mut b = c.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let (payload, tag) = cursor.split_once('.').unwrap();
    let cases = [
        (
            "tampered payload",
            format!("{MEMBERS}?limit=2&cursor={}", flip(&cursor, 3)),
        ),
        (
            "tampered tag",
            format!("{MEMBERS}?limit=2&cursor={payload}.{}", flip(tag, 2)),
        ),
        ("no tag", format!("{MEMBERS}?limit=2&cursor={payload}")),
        ("not a cursor", format!("{MEMBERS}?cursor=not-a-cursor")),
        ("another org", format!("{MEMBERS}?limit=1&cursor={other_cursor}")),
        ("another list", format!("{MEMBERS}?limit=1&cursor={audit_cursor}")),
        ("another key", format!("{MEMBERS}?limit=2&cursor={rekeyed_cursor}")),
        (
            "a role filter added",
            format!("{MEMBERS}?limit=2&role=member&cursor={cursor}"),
        ),
        (
            "a status filter added",
            format!("{MEMBERS}?limit=2&status=active&cursor={cursor}"),
        ),
        (
            "the status filter dropped",
            format!("{MEMBERS}?limit=1&cursor={status_cursor}"),
        ),
        (
            "the status filter changed",
            format!("{MEMBERS}?limit=1&status=deactivated&cursor={status_cursor}"),
        ),
    ];
    for (name, path) in cases {
        let res = t.get(&path, &t.owner.token).await;
        assert_eq!(
            (res.status.as_u16(), res.code()),
            (400, "VALIDATION_FAILED"),
            "{name}: {}",
            res.text
        );
        assert_eq!(res.body["errors"][0]["field"], "cursor", "{name}");
    }
    // A member-list cursor is no audit-log cursor either.
    let res = t
        .get(
            &format!("/api/organizations/acme/audit-log?cursor={cursor}"),
            &t.auditor.token,
        )
        .await;
    res.expect(400, "VALIDATION_FAILED");
    assert_eq!(res.body["errors"][0]["field"], "cursor");
    // The untouched cursors keep working under their own filters.
    t.get(&format!("{MEMBERS}?limit=2&cursor={cursor}"), &t.owner.token)
        .await
        .expect(200, "");
    t.get(
        &format!("{MEMBERS}?limit=1&status=active&cursor={status_cursor}"),
        &t.owner.token,
    )
    .await
    .expect(200, "");
}

#[tokio::test]
async fn offset_pages_deeper_than_ten_thousand_rows_are_refused() {
    let t = TestApp::new().await;
    for (query, status) in [
        ("page=101&limit=100", 400),
        ("page=201&limit=50", 400),
        ("page=10001&limit=1", 400),
        ("page=101&limit=100&role=member", 400),
        ("page=100&limit=100", 200),
        ("page=200&limit=50", 200),
        ("page=10000&limit=1", 200),
    ] {
        let res = t.get(&format!("{MEMBERS}?{query}"), &t.member.token).await;
        assert_eq!(res.status.as_u16(), status, "{query}: {}", res.text);
        if status == 400 {
            res.expect(400, "VALIDATION_FAILED");
            assert_eq!(res.body["errors"][0]["field"], "page", "{query}");
            assert!(res.body["detail"].is_string());
        } else {
            assert_eq!(res.body["members"], json!([]), "{query}");
            assert_eq!(res.body["total"], 4, "{query}");
        }
    }
    for bad in ["page=x", "limit=ten", "page=1.5"] {
        let res = t.get(&format!("{MEMBERS}?{bad}"), &t.member.token).await;
        res.expect(400, "VALIDATION_FAILED");
        assert_eq!(res.body["errors"][0]["field"], bad.split('=').next().unwrap(), "{bad}");
    }
}

#[tokio::test]
async fn out_of_range_limits_and_pages_are_clamped() {
    let t = TestApp::new().await;
    let one = t.get(&format!("{MEMBERS}?limit=0&page=-1"), &t.member.token).await;
    one.expect(200, "");
    assert_eq!(one.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(one.body["page"], 1);
    assert!(one.body["next_cursor"].is_string());
    seed(&t, 100, "member").await;
    let capped = t.get(&format!("{MEMBERS}?limit=1000"), &t.member.token).await;
    assert_eq!(capped.body["members"].as_array().unwrap().len(), 100);
    assert_eq!(capped.body["total"], 104);
}

fn counts(body: &Value) -> (Option<u64>, Option<u64>) {
    (body["total"].as_u64(), body["limit"]["current"].as_u64())
}

#[tokio::test]
async fn the_unfiltered_total_is_the_active_count_plus_deactivated_members() {
    let t = TestApp::new().await;
    seed(&t, 3, "member").await;
    t.deactivate("acme", &t.member).await;
    t.deactivate("acme", &t.auditor).await;
    let all = t.get(MEMBERS, &t.owner.token).await;
    all.expect(200, "");
    assert_eq!(counts(&all.body), (Some(7), Some(5)));
    assert_eq!(all.body["members"].as_array().unwrap().len(), 7);
    let deactivated: Vec<&Value> = all.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["membership"]["status"] == "deactivated")
        .collect();
    assert_eq!(deactivated.len(), 2);
    for (query, total) in [
        ("status=active", 5),
        ("status=deactivated", 2),
        ("role=member", 4),
        ("role=member&status=deactivated", 1),
        ("role=auditor&status=active", 0),
    ] {
        let res = t.get(&format!("{MEMBERS}?{query}"), &t.owner.token).await;
        res.expect(200, "");
        assert_eq!(counts(&res.body), (Some(total), Some(5)), "{query}");
        assert_eq!(res.body["members"].as_array().unwrap().len() as u64, total, "{query}");
    }
    // Deactivated members count as non-members (§1.5), and the org shows the active count.
    t.get("/api/organizations/acme", &t.member.token)
        .await
        .expect(404, "NOT_FOUND");
    let org = t.get("/api/organizations/acme", &t.owner.token).await;
    assert_eq!(org.body["membership_count"], 5);
    // Removing a deactivated member lowers the total only; removing an active one, both.
    t.delete(&format!("{MEMBERS}/{}", t.auditor.id()), &t.owner.token)
        .await
        .expect(200, "");
    t.delete(&format!("{MEMBERS}/{}", t.admin.id()), &t.owner.token)
        .await
        .expect(200, "");
    let after = t.get(MEMBERS, &t.owner.token).await;
    assert_eq!(counts(&after.body), (Some(5), Some(4)));
}

#[tokio::test]
async fn the_limit_source_is_custom_when_the_org_sets_max_users() {
    let t = TestApp::new().await;
    t.patch("/api/organizations/acme", &t.platform.token, json!({"max_users": 7}))
        .await
        .expect(200, "");
    let res = t.get(MEMBERS, &t.member.token).await;
    assert_eq!(res.body["limit"], json!({"current": 4, "max": 7, "source": "custom"}));
    t.patch("/api/organizations/acme", &t.platform.token, json!({"max_users": null}))
        .await
        .expect(200, "");
    let res = t.get(MEMBERS, &t.member.token).await;
    assert_eq!(res.body["limit"]["source"], "enterprise");
}

/// A page served from the cache of serialized pages is exactly what a fresh read gives: every
/// commit (a role change, a removal, a new member) drops it, its `X-Next-Cursor` comes with
/// it, and the caller's right to see the list is checked on every request.
#[tokio::test]
async fn a_kept_member_page_never_outlives_a_commit_nor_reaches_an_outsider() {
    let t = TestApp::new().await;
    let page = |v: &Value| -> Vec<(String, String)> {
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["email"].as_str().unwrap().to_owned(),
                    m["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let first = t.get(&format!("{MEMBERS}?limit=2"), &t.member.token).await;
    first.expect(200, "");
    let again = t.get(&format!("{MEMBERS}?limit=2"), &t.member.token).await;
    assert_eq!(again.body, first.body, "a repeat is the same page");
    assert_eq!(again.header("x-next-cursor"), first.header("x-next-cursor"));
    assert!(
        !again.header("x-next-cursor").is_empty(),
        "the cursor header is kept with the page"
    );
    // Outsiders never get the kept page.
    t.get(&format!("{MEMBERS}?limit=2"), &t.stranger.token)
        .await
        .expect(404, "NOT_FOUND");
    // A role change shows at once.
    let admin_id = t.admin.id();
    t.patch(
        &format!("{MEMBERS}/{admin_id}"),
        &t.owner.token,
        json!({"role": "member"}),
    )
    .await
    .expect(200, "");
    let after = t.get(MEMBERS, &t.member.token).await;
    assert!(page(&after.body).contains(&("admin@acme.test".to_owned(), "member".to_owned())));
    // So does a removal, and the kept counts with it.
    t.delete(&format!("{MEMBERS}/{admin_id}"), &t.owner.token)
        .await
        .expect(200, "");
    let removed = t.get(MEMBERS, &t.member.token).await;
    assert!(!page(&removed.body).iter().any(|(e, _)| e == "admin@acme.test"));
    assert_eq!(removed.body["total"], after.body["total"].as_u64().unwrap() - 1);
    assert_eq!(removed.body["limit"]["current"], removed.body["total"]);
    // A removed member no longer sees the list that was kept while they were one.
    let member_id = t.member.id();
    t.delete(&format!("{MEMBERS}/{member_id}"), &t.owner.token)
        .await
        .expect(200, "");
    t.get(MEMBERS, &t.member.token).await.expect(404, "NOT_FOUND");
}
