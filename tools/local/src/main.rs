//! `abev-local`: the local host. `up` creates the table and queues from template.yaml,
//! serves the HTTP functions on :3000 and feeds the orders queue to ingestion; `seed`
//! sends the worked example; `token` mints a local JWT.

use abev_local::{cli, Cli};
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    abev::telemetry::init();
    match cli::run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("abev-local: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
