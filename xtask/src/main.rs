//! xtask: the one entry point for project chores (`cargo xtask ci | openapi | check-layers`).

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

/// fmt check, clippy with warnings denied, the whole test suite (SQLite and PostgreSQL;
/// the store tests start their own throwaway PostgreSQL cluster), docs, layer check and
/// OpenAPI freshness (both are tests).
fn ci() -> Result<(), String> {
    python_deps()?;
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    cargo(&["test", "--workspace"], &[])?;
    cargo(&["doc", "--workspace", "--no-deps"], &[("RUSTDOCFLAGS", "-D warnings")])?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("check-layers") => layers::check_workspace().map(|()| eprintln!("xtask: layers ok")),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("webhooks") | None => cargo(&["bench", "-p", "org-server", "--bench", "webhooks"], &[]),
            Some(other) => Err(format!("unknown benchmark '{other}'; available: webhooks")),
        },
        Some("openapi") => cargo(
            &["test", "-p", "org-http", "--test", "it", "openapi"],
            &[("UPDATE_OPENAPI", "1")],
        ),
        _ => Err("usage: cargo xtask <ci | check-layers | openapi | bench [webhooks]>".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
