//! Order ingestion Lambda: SQS batch in, partial batch response out. Logic: `abev::ingest`.

#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    abev::telemetry::init();
    let settings = abev::settings::IngestSettings::from_env()?;
    let ingestor = abev::app::ingestor(&abev::app::Clients::from_aws().await, &settings);
    let ingestor = &ingestor;
    run(service_fn(move |event: LambdaEvent<abev::ingest::SqsEvent>| async move {
        let deadline = abev::ingest::deadline_from_epoch_ms(event.context.deadline);
        Ok::<_, Error>(ingestor.handle_batch_by(event.payload, Some(deadline)).await)
    }))
    .await
}
