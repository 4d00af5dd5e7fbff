//! View Lambda: the §4 routes behind API Gateway. Logic: `abev::http::view`.

use lambda_http::{run, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    abev::telemetry::init();
    let state = abev::http::AppState::from_env().await?;
    run(abev::http::view::router(state)).await
}
