//! `abev-care`: see the library docs (`abev_care`) and the README's Customer Care section.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = abev_care::Cli::parse();
    let mut out = std::io::stdout();
    match abev_care::run(cli, &mut out).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message may quote the API or the queue: no control characters reach the terminal.
            eprintln!("abev-care: {}", abev_care::output::clean(&e.to_string()));
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
