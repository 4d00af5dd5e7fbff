//! Access Lambda: the §5 routes behind API Gateway, and the hourly admin-SLA sweep.
//! Logic: `abev::http::access` (routes, event dispatch) and `abev::access` (workflow, sweep).
//!
//! One binary, two triggers: the invocation payload is read as raw JSON first. An
//! EventBridge scheduled event runs the sweep; anything else is an API Gateway HTTP API
//! event and goes through lambda_http's adapter to the same router the local host serves
//! (see `abev::http::access::handle_event`).

use lambda_http::{Error, LambdaEvent};
use serde_json::Value;

fn main() -> Result<(), Error> {
    abev::telemetry::init();
    // Before the runtime starts its threads: it may set ABEV_CURSOR_SECRET (see config).
    abev::config::load_cursor_secret()?;
    serve()
}

#[tokio::main]
async fn serve() -> Result<(), Error> {
    let settings = abev::settings::AccessSettings::from_env()?;
    let state = abev::app::access_state(&abev::app::Clients::from_aws().await, &settings, &abev::http::Settings::from_env()?);
    let router = abev::http::access::router(state.clone());
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<Value>| {
        let state = state.clone();
        let router = router.clone();
        // Boxed: the HTTP future's type is deep enough to overflow the layout query otherwise.
        Box::pin(async move { abev::http::access::handle_event(&state, router, event).await })
    }))
    .await
}
