//! The command line (§2.9, §21.8): `serve`, `migrate` and the admin commands, which print JSON
//! on stdout and exit non-zero with a message on error.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::config::{self, Settings};
use crate::wiring;

#[derive(Debug, Parser)]
#[command(
    name = "org-server",
    version,
    about = "Organizations service for multi-tenant SSO platforms"
)]
pub struct Cli {
    /// TOML configuration file (default: ./org-server.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Database URL (sqlite://… or postgres://…); wins over the file and the environment.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply migrations, then serve HTTP and run the background workers (the default).
    Serve {
        /// Listen address; wins over the file and the environment.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply migrations and exit.
    Migrate,
    /// Administration commands acting directly on the configured database.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Debug, Subcommand)]
enum Admin {
    /// Create a user (fails if the e-mail exists).
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        platform_owner: bool,
    },
    /// Make a user a platform owner.
    Promote {
        #[arg(long)]
        email: String,
    },
    /// Clear a user's platform-owner flag.
    Demote {
        #[arg(long)]
        email: String,
    },
    /// Create the user if needed, then a session; prints the tokens.
    IssueToken {
        #[arg(long)]
        email: String,
        /// Scope the session to this org (requires membership unless platform owner).
        #[arg(long)]
        org: Option<String>,
    },
    /// Disable a user and revoke all their sessions.
    DisableUser {
        #[arg(long)]
        email: String,
    },
    /// Re-enable a user.
    EnableUser {
        #[arg(long)]
        email: String,
    },
    /// Add a new JWT signing key (§2.8): published now, signing in 10 minutes; the previous one
    /// signs until then and verifies for an access TTL and 5 minutes more. No restart needed.
    RotateSigningKey,
    /// Re-wrap every org's data key under the primary key of `encryption.keys` (and reseal
    /// secrets from before data keys), so the other keys can be removed afterwards.
    RewrapSecrets,
    /// Verify an audit chain: an org's, the platform's, or an NDJSON export.
    VerifyAudit {
        #[arg(long, conflicts_with_all = ["platform", "file"])]
        org: Option<String>,
        #[arg(long, conflicts_with = "file")]
        platform: bool,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Create a login key for the login front-end (§19.5); prints it once.
    IssueLoginKey {
        #[arg(long)]
        name: String,
    },
    /// Revoke the live login key with this name (effective on its next use).
    RevokeLoginKey {
        #[arg(long)]
        name: String,
    },
}

fn settings(cli: &Cli, listen: Option<SocketAddr>) -> Result<Settings, String> {
    let file = cli.config.clone().or_else(|| {
        let default = PathBuf::from("org-server.toml");
        default.exists().then_some(default)
    });
    let mut s = config::load(file.as_deref(), std::env::vars())?;
    if let Some(url) = &cli.database_url {
        s.database.url = Some(url.clone());
    }
    if let Some(addr) = listen {
        s.listen = addr;
    }
    Ok(s)
}

fn print(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), String> {
    match &cli.command {
        None => wiring::serve(settings(&cli, None)?).await,
        Some(Command::Serve { listen }) => wiring::serve(settings(&cli, *listen)?).await,
        Some(Command::Migrate) => {
            let s = settings(&cli, None)?;
            wiring::open_store(&s).await?;
            print(&json!({"migrated": true}));
            Ok(())
        }
        Some(Command::Admin(Admin::VerifyAudit {
            org: None,
            platform: false,
            file: Some(path),
        })) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            verdict(crate::verify::verify_export(&text))
        }
        Some(Command::Admin(Admin::VerifyAudit {
            org,
            platform,
            file: None,
        })) => {
            let s = settings(&cli, None)?;
            let parts = wiring::Parts::open(&s).await?;
            let log = match (org, platform) {
                (Some(slug), _) => parts.app.audit.org_log_by_slug(slug).await.map_err(|e| e.to_string())?,
                (None, true) => org_ports::AuditLog::Platform,
                (None, false) => return Err("verify-audit needs --org SLUG, --platform or --file F".into()),
            };
            verdict(parts.app.audit.verify_log(log).await.map_err(|e| e.to_string())?)
        }
        // Opens only the database: works even when the newest key's algorithm differs from
        // auth.signing_alg, which stops everything that opens the parts.
        Some(Command::Admin(Admin::RotateSigningKey)) => {
            print(&wiring::rotate_signing_key(&settings(&cli, None)?).await?);
            Ok(())
        }
        Some(Command::Admin(Admin::RewrapSecrets)) => {
            print(&wiring::rewrap_secrets(&settings(&cli, None)?).await?);
            Ok(())
        }
        Some(Command::Admin(admin)) => {
            let s = settings(&cli, None)?;
            let parts = wiring::Parts::open(&s).await?;
            let out = admin_command(&parts, admin).await?;
            print(&out);
            Ok(())
        }
    }
}

/// Prints a verification result; a broken chain is an error exit.
fn verdict(v: org_ports::chain::Verdict) -> Result<(), String> {
    use org_ports::chain::{Verdict, to_hex};
    match v {
        Verdict::Intact {
            entries,
            head,
            complete,
        } => {
            print(&json!({"ok": true, "entries": entries, "head": head.map(|h| to_hex(&h)), "complete": complete}));
            Ok(())
        }
        Verdict::Broken { first_bad_seq, reason } => {
            print(&json!({"ok": false, "first_bad_seq": first_bad_seq, "reason": reason}));
            Err(format!("audit chain broken at seq {first_bad_seq}"))
        }
    }
}

async fn admin_command(parts: &wiring::Parts, admin: &Admin) -> Result<serde_json::Value, String> {
    let app = &parts.app;
    let err = |e: org_app::AppError| e.to_string();
    Ok(match admin {
        Admin::CreateUser {
            email,
            name,
            platform_owner,
        } => wiring::user_json(
            &app.users
                .create(email, name.clone(), *platform_owner)
                .await
                .map_err(err)?,
        ),
        Admin::Promote { email } => wiring::user_json(&app.users.set_platform_owner(email, true).await.map_err(err)?),
        Admin::Demote { email } => wiring::user_json(&app.users.set_platform_owner(email, false).await.map_err(err)?),
        Admin::DisableUser { email } => wiring::user_json(&app.users.set_disabled(email, true).await.map_err(err)?),
        Admin::EnableUser { email } => wiring::user_json(&app.users.set_disabled(email, false).await.map_err(err)?),
        Admin::IssueToken { email, org } => {
            let (_, issued) = app.users.issue_token(email, org.as_deref()).await.map_err(err)?;
            json!({
                "access_token": issued.access_token,
                "refresh_token": issued.refresh_token,
                "expires_in": parts.access_ttl_secs(),
                "session_id": issued.session.id.to_string(),
            })
        }
        Admin::RotateSigningKey => wiring::rotate_signing_key(&parts.settings).await?,
        Admin::RewrapSecrets => wiring::rewrap_secrets(&parts.settings).await?,
        Admin::IssueLoginKey { name } => {
            let issued = app.login_keys.issue(name).await.map_err(err)?;
            json!({
                "id": issued.id.to_string(),
                "name": issued.name,
                "key": issued.key,
                "created_at": issued.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
        }
        Admin::RevokeLoginKey { name } => {
            let revoked = app.login_keys.revoke(name).await.map_err(err)?;
            json!({"id": revoked.id.to_string(), "name": revoked.name, "revoked": true})
        }
        Admin::VerifyAudit { .. } => return Err("verify-audit needs exactly one of --org, --platform, --file".into()),
    })
}
