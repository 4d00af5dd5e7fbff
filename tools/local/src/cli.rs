//! The `abev-local` commands.

use crate::event_source::EventSource;
use crate::local_auth::LocalAuthorizer;
use abev::app::Clients;
use clap::{Parser, Subcommand};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "abev-local", version, about = "Runs ABEV on this machine against DynamoDB Local and moto")]
pub struct Cli {
    #[arg(long, env = "ABEV_DYNAMODB_URL", default_value = "http://127.0.0.1:8000", global = true)]
    pub dynamodb_url: String,
    #[arg(long, env = "ABEV_SQS_URL", default_value = "http://127.0.0.1:9324", global = true)]
    pub sqs_url: String,
    /// Stands in for `${AWS::StackName}`: names the table and the queues.
    #[arg(long, env = "ABEV_STACK", default_value = "abev", global = true)]
    pub stack: String,
    #[arg(long, default_value = "template.yaml", global = true)]
    pub template: std::path::PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the table and queues, then serve the API on --port and ingest the orders queue.
    Up {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Seconds a failed order message waits before its retry.
        #[arg(long, default_value_t = 5)]
        retry_after: u64,
        /// Seconds between runs of the admin-SLA sweep (an EventBridge schedule in AWS).
        #[arg(long, default_value_t = 60)]
        sweep_every: u64,
        /// The web page's files, served at / (local sign-in; docs/WEB.md).
        #[arg(long, default_value = "web")]
        web_dir: std::path::PathBuf,
        /// Seconds between runs of the expiry notices (a daily EventBridge Scheduler schedule in AWS).
        #[arg(long, default_value_t = 60)]
        notices_every: u64,
    },
    /// Send the spec §2 worked example to the orders queue.
    Seed,
    /// The parser's verdict on order message files, one line each (exit 1 if any is bad). Needs no services.
    Validate {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Send order message files to the local orders queue, each file one message, as the ERP would.
    Send {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Print the messages on the local orders dead-letter queue with their `abev-error` reason.
    DeadLetters {
        /// Delete them after printing (otherwise they reappear after --hide-for seconds).
        #[arg(long)]
        remove: bool,
        /// Seconds a printed message stays hidden from other readers.
        #[arg(long, default_value_t = 5)]
        hide_for: i32,
        /// One JSON object per line: message_id, error, body.
        #[arg(long)]
        json: bool,
    },
    /// Print the API's OpenAPI document (what `docs/openapi.json` holds).
    Openapi,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the change events published on the local bus (one JSON object a line), from
    /// the local tap queue; `make dev` runs the events function. --follow keeps waiting.
    Events {
        #[arg(long)]
        follow: bool,
    },
    /// Print the expiry-notice e-mails moto's SES accepted from the local sender
    /// (`make dev` runs the notices every --notices-every seconds).
    Mail {
        /// Every e-mail moto's SES holds, whoever sent it.
        #[arg(long)]
        all: bool,
        /// One JSON object per line: message_id, from, to, subject, body.
        #[arg(long)]
        json: bool,
    },
    /// Print a local bearer token for EMAIL (HS256, signed with ABEV_LOCAL_JWT_SECRET).
    Token {
        email: String,
        /// Add the customer-care group.
        #[arg(long)]
        care: bool,
    },
}

pub async fn run(cli: Cli) -> Result<(), String> {
    match &cli.command {
        Command::Openapi => {
            print!("{}", abev::http::openapi::document_json());
            return Ok(());
        }
        Command::Validate { files } => return crate::messages::validate(files),
        Command::Mail { all, json } => return crate::mail::print(&cli.sqs_url, *all, *json).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "abev-local", &mut std::io::stdout());
            return Ok(());
        }
        _ => {}
    }
    if let Command::Token { email, care } = &cli.command {
        let email = abev::domain::Email::parse(email).map_err(|e| e.to_string())?;
        let secret = LocalAuthorizer::from_env().secret;
        println!("{}", crate::jwt::mint_for(&secret, email.as_str(), *care));
        return Ok(());
    }
    let clients = Clients::local(&cli.dynamodb_url, &cli.sqs_url);
    let (ddb, sqs) = (&clients.dynamodb, &clients.sqs);
    let template = std::fs::read_to_string(&cli.template).map_err(|e| format!("reading {}: {e}", cli.template.display()))?;
    let stack = crate::infra::create(ddb, sqs, &template, &cli.stack).await.map_err(|e| e.to_string())?;
    match cli.command {
        Command::Token { .. } | Command::Openapi | Command::Validate { .. } | Command::Completions { .. } | Command::Mail { .. } => Ok(()),
        Command::Send { files } => crate::messages::send(sqs, stack.orders_queue(), &files).await,
        Command::DeadLetters { remove, hide_for, json } => {
            let letters = crate::messages::dead_letters(sqs, stack.orders_dlq(), hide_for, remove).await?;
            for l in &letters {
                if json {
                    println!("{}", serde_json::to_string(l).map_err(|e| e.to_string())?);
                } else {
                    println!(
                        "--- message {}\nabev-error: {}\n{}",
                        l.message_id,
                        l.error.as_deref().unwrap_or("(none: moved by SQS after maxReceiveCount)"),
                        l.body.trim_end()
                    );
                }
            }
            if !json {
                eprintln!("{} message{} on {}", letters.len(), if letters.len() == 1 { "" } else { "s" }, stack.orders_dlq());
            }
            Ok(())
        }
        Command::Events { follow } => {
            let (_, eventbridge) = crate::events::clients(&cli.dynamodb_url, &cli.sqs_url);
            let tap = crate::events::prepare(ddb, sqs, &eventbridge, &stack.table, &stack.table).await?;
            crate::events::follow(sqs, &tap, follow).await.map(|_| ())
        }
        Command::Seed => {
            let n = crate::seed::send_worked_example(sqs, stack.orders_queue()).await?;
            println!("sent {n} order messages to {}", stack.orders_queue());
            Ok(())
        }
        Command::Up { port, retry_after, sweep_every, web_dir, notices_every } => {
            let ingestor = abev::app::ingestor(&clients, &stack.ingest_settings());
            let source = EventSource {
                sqs: sqs.clone(),
                queue_url: stack.orders_queue().to_string(),
                wait: Duration::from_secs(20),
                retry_after: Duration::from_secs(retry_after),
            };
            let cursor_secret = abev::config::optional("ABEV_CURSOR_SECRET", abev::http::DEV_CURSOR_SECRET);
            let admin_sla_days =
                abev::config::number("ABEV_ADMIN_SLA_DAYS", abev::settings::DEFAULT_ADMIN_SLA_DAYS).map_err(|e| e.to_string())?;
            let mut routes = abev::http::Settings::from_env().map_err(|e| e.to_string())?;
            // The stack's downloads bucket on moto's S3 (same port as its SQS).
            let downloads = abev::http::download::Downloads::local(&cli.sqs_url, &format!("{}-downloads", cli.stack.to_lowercase()));
            if let Err(e) = downloads.s3.create_bucket().bucket(&downloads.bucket).send().await {
                tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&e), bucket = %downloads.bucket, "downloads bucket not created (it may exist)");
            }
            routes.downloads = Some(downloads);
            let state = abev::app::access_state(&clients, &stack.access_settings(&cursor_secret, admin_sla_days), &routes);
            let listener =
                tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| format!("binding 127.0.0.1:{port}: {e}"))?;
            let app = crate::server::app_with_page(state.clone(), LocalAuthorizer::from_env(), web_dir.clone());
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            let server = tokio::spawn(crate::server::serve(app, listener, stopped(stop_rx.clone())));
            // Expiry notices (issue 20 part 2): the daily schedule as a timer, SES as moto's.
            let notifier = crate::mail::notifier(state.store.clone(), &cli.sqs_url, &cursor_secret, port).await?;
            let notices = tokio::spawn(crate::mail::run_every(notifier, Duration::from_secs(notices_every), stopped(stop_rx.clone())));
            let sweeper = tokio::spawn(crate::sweep::run_every(state, Duration::from_secs(sweep_every), stopped(stop_rx.clone())));
            // The change-events function on the table's stream (issue 20).
            let (events_handler, mut stream) = crate::events::local(ddb, sqs, &cli.dynamodb_url, &cli.sqs_url, &stack.table).await?;
            let events_stop = stopped(stop_rx.clone());
            let events = tokio::spawn(async move { stream.run(&events_handler, Duration::from_millis(500), events_stop).await });
            println!("ABEV local stack: API on http://127.0.0.1:{port}, table {}, orders queue {}", stack.table, stack.orders_queue());
            if web_dir.join("index.html").is_file() {
                println!("Web page on http://127.0.0.1:{port}/ (local sign-in: type any e-mail, e.g. mary@skynet.example)");
            } else {
                println!("No web page: {} has no index.html (see --web-dir)", web_dir.display());
            }
            println!("Send orders with `make seed`; mint tokens with `target/debug/abev-local token EMAIL [--care]`. Ctrl-C stops.");
            println!("Change events: `target/debug/abev-local events --follow` prints them as they are published.");
            println!("Expiry notices run every {notices_every} s; `target/debug/abev-local mail` prints the digests sent.");
            tracing::info!(table = %stack.table, orders_queue = %stack.orders_queue(), port, "local stack up");
            source
                .run(&ingestor, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await;
            let _ = stop_tx.send(true);
            let _ = server.await;
            let _ = sweeper.await;
            let _ = notices.await;
            let _ = events.await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_completions_parse() {
        let err = Cli::try_parse_from(["abev-local", "--version"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
        assert!(matches!(Cli::try_parse_from(["abev-local", "completions", "bash"]).unwrap().command, Command::Completions { .. }));
        assert!(Cli::try_parse_from(["abev-local", "completions", "nushell-9"]).is_err());
    }
}
