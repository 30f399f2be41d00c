//! The one-way crate graph (STYLE.md convention 1), checked against `cargo metadata`.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// What each workspace crate may depend on (normal dependencies; dev-dependencies are free).
/// `None` means "any external crate"; internal crates are always listed explicitly.
struct Layer {
    name: &'static str,
    internal: &'static [&'static str],
    external: Option<&'static [&'static str]>,
}

/// Crates that do IO, async, HTTP, SQL or serialization: never below the adapters.
const IO: &[&str] = &[
    "tokio",
    "sea-orm",
    "sea-orm-migration",
    "sqlx",
    "axum",
    "hyper",
    "reqwest",
    "tower",
    "serde",
    "lettre",
];

const LAYERS: &[Layer] = &[
    Layer {
        name: "org-domain",
        internal: &[],
        // Pure parsers of SAML metadata (§11): XML, X.509, base64, SHA-256.
        external: Some(&[
            "chrono",
            "thiserror",
            "uuid",
            "base64",
            "roxmltree",
            "sha2",
            "x509-parser",
        ]),
    },
    Layer {
        name: "org-ports",
        internal: &["org-domain"],
        external: Some(&[
            "async-trait",
            "chrono",
            "serde_json",
            "uuid",
            "thiserror",
            "mockall",
            "tokio",
            "sha2",
            "serde_jcs",
        ]),
    },
    Layer {
        name: "org-app",
        internal: &["org-domain", "org-ports"],
        external: Some(&[
            "async-trait",
            "chrono",
            "serde_json",
            "uuid",
            "thiserror",
            "sha2",
            "rand",
            "base64",
            "tokio",
            "hmac",
            "aes-gcm",
            "hkdf",
            "url",
            "ipnet",
            "deunicode",
        ]),
    },
    Layer {
        name: "org-store-memory",
        internal: &["org-domain", "org-ports"],
        external: None,
    },
    Layer {
        name: "org-store-seaorm",
        internal: &["org-domain", "org-ports"],
        external: None,
    },
    Layer {
        name: "org-tokens",
        internal: &["org-ports"],
        external: None,
    },
    Layer {
        name: "org-http",
        internal: &["org-domain", "org-ports", "org-app"],
        external: None,
    },
    Layer {
        name: "org-server",
        internal: &[
            "org-domain",
            "org-ports",
            "org-app",
            "org-http",
            "org-tokens",
            "org-store-seaorm",
            "org-store-memory",
        ],
        external: None,
    },
    Layer {
        name: "org-examples",
        internal: &[
            "org-domain",
            "org-ports",
            "org-app",
            "org-tokens",
            "org-store-seaorm",
            "org-store-memory",
        ],
        external: None,
    },
    // Test fixtures, only ever a dev-dependency (which the layer rules leave free).
    Layer {
        name: "org-testkit",
        internal: &[],
        external: None,
    },
    Layer {
        name: "xtask",
        internal: &[],
        external: None,
    },
];

/// Normal dependencies of every workspace member, from `cargo metadata` JSON.
pub fn dependencies(metadata: &Value) -> BTreeMap<String, Vec<(String, bool)>> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut out = BTreeMap::new();
    for pkg in metadata["packages"].as_array().into_iter().flatten() {
        if !members.contains(&pkg["id"].as_str().unwrap_or_default()) {
            continue;
        }
        let deps = pkg["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null())
            .map(|d| {
                (
                    d["name"].as_str().unwrap_or_default().to_owned(),
                    d["optional"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        out.insert(pkg["name"].as_str().unwrap_or_default().to_owned(), deps);
    }
    out
}

/// Every violation of the layer rules.
pub fn violations(deps: &BTreeMap<String, Vec<(String, bool)>>) -> Vec<String> {
    let mut out = Vec::new();
    for (krate, list) in deps {
        let Some(layer) = LAYERS.iter().find(|l| l.name == krate) else {
            out.push(format!("{krate}: not assigned to a layer in xtask/src/layers.rs"));
            continue;
        };
        for (dep, optional) in list {
            let internal = dep.starts_with("org-");
            let allowed = if internal {
                layer.internal.contains(&dep.as_str())
            } else {
                match layer.external {
                    Some(list) => list.contains(&dep.as_str()) && (*optional || dep != "tokio" || krate != "org-ports"),
                    None => true,
                }
            };
            let io_below_adapters = !internal && IO.contains(&dep.as_str()) && matches!(krate.as_str(), "org-domain");
            if !allowed || io_below_adapters {
                out.push(format!("{krate} may not depend on {dep}"));
            }
        }
    }
    out
}

/// Runs `cargo metadata` and checks the workspace.
pub fn check_workspace() -> Result<(), String> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    let metadata: Value = serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    let v = violations(&dependencies(&metadata));
    if v.is_empty() { Ok(()) } else { Err(v.join("\n")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(krate: &str, list: &[&str]) -> BTreeMap<String, Vec<(String, bool)>> {
        BTreeMap::from([(
            krate.to_owned(),
            list.iter().map(|d| ((*d).to_owned(), false)).collect(),
        )])
    }

    #[test]
    fn the_workspace_respects_its_layers() {
        check_workspace().unwrap();
    }

    #[test]
    fn the_domain_may_not_depend_on_io_async_or_serialization_crates() {
        for bad in ["tokio", "serde", "sea-orm", "axum", "reqwest"] {
            assert_eq!(
                violations(&deps("org-domain", &["chrono", bad])),
                [format!("org-domain may not depend on {bad}")]
            );
        }
        assert!(violations(&deps("org-domain", &["chrono", "uuid", "thiserror"])).is_empty());
    }

    #[test]
    fn inner_layers_may_not_depend_on_outer_ones_and_adapters_not_on_each_other() {
        assert_eq!(violations(&deps("org-domain", &["org-ports"])).len(), 1);
        assert_eq!(violations(&deps("org-app", &["org-store-memory"])).len(), 1);
        assert_eq!(violations(&deps("org-app", &["sea-orm"])).len(), 1);
        assert_eq!(violations(&deps("org-store-seaorm", &["org-store-memory"])).len(), 1);
        assert_eq!(violations(&deps("org-http", &["org-store-seaorm"])).len(), 1);
        assert_eq!(violations(&deps("org-http", &["org-tokens"])).len(), 1);
        assert_eq!(violations(&deps("org-tokens", &["org-app"])).len(), 1);
        assert_eq!(
            violations(&deps("org-ports", &["tokio"])).len(),
            1,
            "tokio only as the optional contract feature"
        );
        assert_eq!(violations(&deps("org-newcomer", &[])).len(), 1);
    }
}
