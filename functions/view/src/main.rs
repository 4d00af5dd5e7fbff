//! View Lambda: the §4 routes behind API Gateway. Logic: `abev::http::view`.

use lambda_http::{run, Error};

fn main() -> Result<(), Error> {
    abev::telemetry::init();
    // Before the runtime starts its threads: it may set ABEV_CURSOR_SECRET (see config).
    abev::config::load_cursor_secret()?;
    serve()
}

#[tokio::main]
async fn serve() -> Result<(), Error> {
    let settings = abev::settings::ViewSettings::from_env()?;
    let clients = abev::app::Clients::from_aws().await;
    let mut routes = abev::http::Settings::from_env()?;
    routes.downloads = abev::http::download::Downloads::from_env(&abev::aws::sdk_config().await);
    run(abev::http::view::router(abev::app::view_state(&clients, &settings, &routes))).await
}
