//! The `abev-local` commands.

use crate::event_source::EventSource;
use abev::ingest::Ingestor;
use abev::store::orders::ApplyOptions;
use abev::store::Store;
use clap::{Parser, Subcommand};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "abev-local", about = "Runs ABEV on this machine against DynamoDB Local and moto")]
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
    },
    /// Send the spec §2 worked example to the orders queue.
    Seed,
}

pub async fn run(cli: Cli) -> Result<(), String> {
    let (ddb, sqs) = abev::aws::local_clients(&cli.dynamodb_url, &cli.sqs_url);
    let template = std::fs::read_to_string(&cli.template).map_err(|e| format!("reading {}: {e}", cli.template.display()))?;
    let stack = crate::infra::create(&ddb, &sqs, &template, &cli.stack).await.map_err(|e| e.to_string())?;
    match cli.command {
        Command::Seed => {
            let n = crate::seed::send_worked_example(&sqs, stack.orders_queue()).await?;
            println!("sent {n} order messages to {}", stack.orders_queue());
            Ok(())
        }
        Command::Up { port, retry_after } => {
            let store = Store::new(ddb.clone(), stack.table.clone());
            let ingestor = Ingestor { store: store.clone(), sqs: sqs.clone(), dead_letter_queue_url: stack.orders_dlq().to_string(), options: ApplyOptions::default() };
            let source = EventSource { sqs: sqs.clone(), queue_url: stack.orders_queue().to_string(), wait: Duration::from_secs(20), retry_after: Duration::from_secs(retry_after) };
            tracing::info!(table = %stack.table, orders_queue = %stack.orders_queue(), port, "local stack up");
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            let _ = port;
            source.run(&ingestor, shutdown).await;
            Ok(())
        }
    }
}
