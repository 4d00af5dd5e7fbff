//! Both HTTP functions' routes on one local listener, behind the stand-in authorizer.

use crate::local_auth::{protect, LocalAuthorizer};
use abev::http::{api_routes, service, AppState};

/// The local API: the view and access routes (and the OpenAPI document), exactly the routers the Lambdas run.
pub fn app(state: AppState, authorizer: LocalAuthorizer) -> axum::Router {
    protect(service(api_routes(), state), authorizer)
}

/// Serves `app` on 127.0.0.1:`port` until `stop` resolves.
pub async fn serve(
    app: axum::Router,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(stop).await
}
