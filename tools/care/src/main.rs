//! `abev-care`: see the library docs (`abev_care`) and the README's Customer Care section.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = abev_care::Cli::parse();
    let mut out = std::io::stdout();
    match abev_care::run(cli, &mut out).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("abev-care: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
