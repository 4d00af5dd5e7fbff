//! Access Lambda: the §5 routes behind API Gateway, and the hourly admin-SLA sweep.
//! Logic: `abev::http::access` (routes) and `abev::access` (workflow, sweep).
//!
//! One binary, two triggers: the invocation payload is read as raw JSON first. An
//! EventBridge scheduled event (`"source": "aws.events"`, `"detail-type": "Scheduled
//! Event"`) runs the sweep; anything else is an API Gateway HTTP API event and goes through
//! lambda_http's adapter to the same router the local host serves.

use abev::http::AppState;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Error, LambdaEvent, Service};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    abev::telemetry::init();
    let state = AppState::from_env().await?;
    let router = abev::http::access::router(state.clone());
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<Value>| {
        let state = state.clone();
        let router = router.clone();
        // Boxed: the HTTP future's type is deep enough to overflow the layout query otherwise.
        Box::pin(handle(state, router, event))
    }))
    .await
}

async fn handle(state: AppState, router: axum::Router, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let LambdaEvent { payload, context } = event;
    if abev::access::is_scheduled_event(&payload) {
        let escalated = abev::access::sweep(&state, abev::access::now()).await?;
        return Ok(serde_json::json!({"escalated": escalated}));
    }
    let request: LambdaRequest = serde_json::from_value(payload)?;
    let mut adapter = Adapter::from(router);
    let response = adapter.call(LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}
