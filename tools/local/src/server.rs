//! Both HTTP functions' routes on one local listener, behind the stand-in authorizer.

use crate::local_auth::{protect, LocalAuthorizer};
use abev::http::{api_routes, service, AppState};

/// The local API: the view and access routes (and the OpenAPI document), exactly the routers the Lambdas run.
pub fn app(state: AppState, authorizer: LocalAuthorizer) -> axum::Router {
    protect(service(api_routes(), state), authorizer)
}

/// The local API with the web page in front of it (`make dev`): the page's files from
/// `web_dir` at `/`, `/config.json` and the local sign-in (see `crate::web`).
pub fn app_with_page(state: AppState, authorizer: LocalAuthorizer, web_dir: std::path::PathBuf) -> axum::Router {
    let idp = crate::oidc::LocalIdp::new(&authorizer.secret, abev::http::identity::IdentityConfig::from_env());
    let host = crate::web::WebHost { dir: web_dir, idp: std::sync::Arc::new(idp) };
    crate::web::wrap(app(state, authorizer), host)
}

/// Serves `app` on 127.0.0.1:`port` until `stop` resolves.
pub async fn serve(
    app: axum::Router,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(stop).await
}
