//! org-server as a library: configuration, CLI, wiring, the webhook sender, the SMTP mailer and the export
//! verifier, so the binary, the end-to-end tests and the benchmarks share one composition root.

pub mod cli;
pub mod config;
pub mod health;
pub mod mailer;
pub mod sender;
pub mod verify;
pub mod wiring;
