//! xtask: the one entry point for project chores (`cargo xtask ci | openapi | check-layers |
//! bench <webhooks | scale | http | scim | nodes | siem>`).

mod layers;

use std::process::{Command, ExitCode};

fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(args)
        .envs(envs.iter().copied())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed ({status})", args.join(" ")))
    }
}

/// The webhook end-to-end test verifies deliveries with the reference Standard Webhooks
/// library (`standardwebhooks` from PyPI); install it when missing.
fn python_deps() -> Result<(), String> {
    let present = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if present {
        return Ok(());
    }
    eprintln!("xtask: pip install standardwebhooks");
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "standardwebhooks==1.1.0",
        ])
        .status()
        .map_err(|e| format!("python3 is needed for the webhook end-to-end test: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("pip install standardwebhooks failed".to_owned())
    }
}

/// The HTTP benchmark's load generator: `wrk`, from Debian's packages when missing.
fn load_tool() -> Result<(), String> {
    let present = Command::new("wrk").arg("--version").output().is_ok();
    if present {
        return Ok(());
    }
    eprintln!("xtask: apt-get install wrk");
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q", "wrk"])
        .status()
        .map_err(|e| format!("wrk is needed for the HTTP benchmark: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("apt-get install wrk failed (install wrk by hand)".to_owned())
    }
}

/// fmt check, clippy with warnings denied, the whole test suite (SQLite and PostgreSQL;
/// the store tests start their own throwaway PostgreSQL cluster, and the SCIM conformance
/// test installs its pinned tools into a virtualenv under the target dir), docs, layer
/// check and OpenAPI freshness (both are tests).
fn ci() -> Result<(), String> {
    python_deps()?;
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    cargo(&["test", "--workspace"], &[])?;
    // The embedding examples are programs a user would run: run them.
    cargo(&["run", "-q", "-p", "org-examples", "--example", "domain-rules"], &[])?;
    cargo(&["run", "-q", "-p", "org-examples", "--example", "embedded"], &[])?;
    cargo(&["doc", "--workspace", "--no-deps"], &[("RUSTDOCFLAGS", "-D warnings")])?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("check-layers") => layers::check_workspace().map(|()| eprintln!("xtask: layers ok")),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some(name @ ("webhooks" | "scale" | "scim" | "nodes" | "siem")) => {
                cargo(&["bench", "-p", "org-server", "--bench", name], &[])
            }
            Some("http") => load_tool().and_then(|()| cargo(&["bench", "-p", "org-server", "--bench", "http"], &[])),
            _ => Err("usage: cargo xtask bench <webhooks | scale | http | scim | nodes | siem>".to_owned()),
        },
        Some("openapi") => cargo(
            &["test", "-p", "org-http", "--test", "it", "openapi"],
            &[("UPDATE_OPENAPI", "1")],
        ),
        _ => Err(
            "usage: cargo xtask <ci | check-layers | openapi | bench <webhooks | scale | http | scim | nodes | siem>>"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
