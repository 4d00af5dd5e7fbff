//! Change events Lambda: DynamoDB Stream batch in, events to EventBridge, partial batch
//! response out. Logic: `abev::events`.

#![recursion_limit = "256"]

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    abev::telemetry::init();
    let settings = abev::events::EventsSettings::from_env();
    let handler = abev::events::handler_from_aws(&settings).await;
    let handler = &handler;
    run(service_fn(move |event: LambdaEvent<Event>| async move { Ok::<_, Error>(handler.handle_batch(event.payload).await) })).await
}
