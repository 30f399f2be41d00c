//! org-server: the binary. `serve` (default) runs migrations, the HTTP server and the
//! background workers; `migrate` and `admin …` act on the configured database.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = org_server::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("org-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(org_server::cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("org-server: {e}");
            ExitCode::FAILURE
        }
    }
}
