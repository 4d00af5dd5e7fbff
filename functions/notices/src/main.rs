//! Expiry notices Lambda: the daily EventBridge Scheduler invocation runs one notices run
//! (digests through SES). Logic: `abev::notices`.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

fn main() -> Result<(), Error> {
    abev::telemetry::init();
    // Before the runtime starts its threads: the unsubscribe links' key ring (the cursor key).
    abev::config::load_cursor_secret()?;
    serve()
}

#[tokio::main]
async fn serve() -> Result<(), Error> {
    let notifier = abev::notices::notifier_from_aws(&abev::notices::NoticesSettings::from_env()?).await;
    let notifier = &notifier;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let remaining = event.context.deadline().duration_since(std::time::SystemTime::now()).ok();
        abev::notices::handle_schedule(notifier, remaining).await.map_err(Error::from)
    }))
    .await
}
