//! Access Lambda: the §5 routes behind API Gateway. Logic: `abev::http::access`.

use lambda_http::{run, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    abev::telemetry::init();
    let state = abev::http::AppState::from_env().await?;
    run(abev::http::access::router(state)).await
}
