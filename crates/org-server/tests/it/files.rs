//! File modes under `data_dir`: the data dir is 0700 and every file the server and the admin
//! CLI create in it (the SQLite database with its `-wal` and `-shm`, the encryption key) is
//! 0600.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Node, s};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Every entry under `dir` (recursively) with its mode.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        out.push((path.display().to_string(), mode(&path)));
        if path.is_dir() {
            out.extend(modes(&path));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn every_file_under_data_dir_is_private_to_the_server_user() {
    let node = Node::sqlite();
    // A data dir that does not exist yet, so the server creates it (the test's temp dir holds
    // the server log and is made by the test).
    let data = node.data_dir().join("data");
    let node = node.with("ORG_SERVER_DATA_DIR", &data.display().to_string());
    let alice = node.cli(&["admin", "issue-token", "--email", "alice@example.com"]);
    let server = node.serve().await;
    let c = server.client();
    c.create_org(s(&alice["access_token"]), "acme", "Acme").await;
    node.cli(&["admin", "rotate-signing-key"]);

    assert_eq!(mode(&data), 0o700, "the data dir");
    let files = modes(&data);
    let names: Vec<&str> = files
        .iter()
        .map(|(p, _)| p.rsplit('/').next().unwrap_or_default())
        .collect();
    for expected in [
        "org-server.db",
        "org-server.db-wal",
        "org-server.db-shm",
        "encryption-key",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {files:?}");
    }
    let loose: Vec<_> = files.iter().filter(|(_, m)| *m != 0o600).collect();
    assert!(loose.is_empty(), "files not 0600: {loose:?}");
    drop(server);
}
