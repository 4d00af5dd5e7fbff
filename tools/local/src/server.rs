//! Both HTTP functions' routes on one local listener, behind the stand-in authorizer.

use crate::local_auth::{protect, LocalAuthorizer};
use abev::http::{api_routes, service, AppState};

/// The local API: the view and access routes (and the OpenAPI document), exactly the routers the Lambdas run.
pub fn app(state: AppState, authorizer: LocalAuthorizer) -> axum::Router {
    protect(service(api_routes(), state), authorizer).layer(axum::middleware::from_fn(cors))
}

/// What API Gateway's CORS configuration does in AWS, for a page served from another local
/// origin (`http://localhost:*` or `http://127.0.0.1:*`): answers the preflight before the
/// authorizer, and exposes the headers the page reads (`abev::http::EXPOSED_HEADERS`).
async fn cors(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::{header, HeaderValue, Method, StatusCode};
    use axum::response::IntoResponse;
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|o| o.to_str().is_ok_and(|o| o.starts_with("http://127.0.0.1:") || o.starts_with("http://localhost:")))
        .cloned();
    let Some(origin) = origin else { return next.run(request).await };
    let preflight = request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(request).await };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    if let Ok(v) = HeaderValue::from_str(&abev::http::EXPOSED_HEADERS.join(", ")) {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    if preflight {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, DELETE"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type, if-none-match"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    response
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
