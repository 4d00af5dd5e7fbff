//! View Lambda: the §4 routes behind API Gateway. Logic: `abev::http::view`.

use lambda_http::{run, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    abev::telemetry::init();
    let settings = abev::settings::ViewSettings::from_env()?;
    let clients = abev::app::Clients::from_aws().await;
    run(abev::http::view::router(abev::app::view_state(&clients, &settings))).await
}
