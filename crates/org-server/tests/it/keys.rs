//! Signing keys in the database (§2.8) across processes: two servers on one PostgreSQL
//! database publish the same keys, and after `admin rotate-signing-key` both publish the new
//! key within 60 s while the old one keeps signing (its switch 10 minutes later and its
//! retirement are covered by the timeline's unit tests with fixed times).

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::support::{Client, Node, Server, http, s};

/// The `kid`s of a server's JWKS, in its order.
async fn published(server: &Server) -> Vec<String> {
    let jwks: Value = http()
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks body");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| s(&k["kid"]).to_owned())
        .collect()
}

/// The `kid` in a JWT's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url header");
    let header: Value = serde_json::from_slice(&bytes).expect("JSON header");
    s(&header["kid"]).to_owned()
}

/// A refresh on `server`: the new pair.
async fn refresh(server: &Server, refresh_token: &str) -> Value {
    let res = http()
        .post(format!("{}/api/auth/refresh", server.base))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .expect("refresh");
    assert_eq!(res.status(), 200);
    res.json().await.expect("refresh body")
}

async fn accepted(c: &Client, token: &str) -> bool {
    c.call("GET", "/api/user", token, None).await.0 == 200
}

#[tokio::test]
async fn two_servers_on_one_database_publish_a_rotated_key_within_60_s_and_the_old_key_keeps_signing() {
    let a = Node::postgres().await;
    let b = a.sibling();
    let alice = a.cli(&["admin", "issue-token", "--email", "alice@example.com"]);
    let (sa, sb) = (a.serve().await, b.serve().await);
    let old = published(&sa).await;
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(published(&sb).await, old, "both serve the database's key");
    assert_eq!(kid_of(s(&alice["access_token"])), old[0]);

    let out = b.cli(&["admin", "rotate-signing-key"]);
    let new = s(&out["kid"]).to_owned();
    assert_eq!(s(&out["previous_kid"]), old[0]);
    assert_eq!(out["restart_required"], false);
    let both = vec![old[0].clone(), new.clone()];
    let started = Instant::now();
    loop {
        let (ja, jb) = (published(&sa).await, published(&sb).await);
        if ja == both && jb == both {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "after 60 s: {ja:?} and {jb:?}, expected {both:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Until the switch the old key signs, on both servers, and each verifies the other's.
    let on_b = refresh(&sb, s(&alice["refresh_token"])).await;
    assert_eq!(kid_of(s(&on_b["access_token"])), old[0]);
    assert!(accepted(&sa.client(), s(&on_b["access_token"])).await);
    let on_a = refresh(&sa, s(&on_b["refresh_token"])).await;
    assert_eq!(kid_of(s(&on_a["access_token"])), old[0]);
    assert!(accepted(&sb.client(), s(&on_a["access_token"])).await);
    assert!(accepted(&sb.client(), s(&alice["access_token"])).await);

    // A process started after the rotation reads the same set.
    let c = a.sibling();
    let sc = c.serve().await;
    assert_eq!(published(&sc).await, both);
}
