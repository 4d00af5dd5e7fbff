//! The web page, on the local host only: the static files of `web/` at `/`, a
//! `/config.json` that puts the page in local sign-in mode, and `POST /local/sign-in`,
//! which mints a development token for the e-mail typed in. None of this is in the
//! Lambda routers: in AWS the page is static files behind CloudFront and signs in with
//! OpenID Connect (docs/WEB.md).

use abev::http::problem::problem;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The strict policy the page is written for (no inline script or style, no eval);
/// the local host sends it so a page that breaks it breaks here first.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The largest sign-in body read.
const MAX_SIGN_IN_BODY: usize = 4096;

/// What the page needs from the local host.
#[derive(Clone, Debug)]
pub struct WebHost {
    /// The directory served at `/` (the repository's `web/`).
    pub dir: PathBuf,
    /// The local identity provider (`crate::oidc`): the sign-in's sessions and renewals.
    pub idp: Arc<crate::oidc::LocalIdp>,
}

/// Puts the page in front of `api`: requests for the page's own paths are answered here,
/// everything else goes to `api` unchanged (so the API answers exactly as without the page).
pub fn wrap(api: axum::Router, host: WebHost) -> axum::Router {
    let host = Arc::new(host);
    api.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let host = host.clone();
        async move { host.handle(request, next).await }
    }))
}

impl WebHost {
    /// The page's `config.json` on the local host: local sign-in, renewal and sign-out at
    /// the local provider, and the Care group the API is configured with.
    pub fn config_json(&self) -> serde_json::Value {
        let p = crate::oidc::PREFIX;
        serde_json::json!({"api_base": "", "auth": {
            "mode": "local",
            "token_endpoint": format!("{p}/token"),
            "revocation_endpoint": format!("{p}/revoke"),
            "client_id": "abev-web",
            "care_group": self.idp.identity.care_group,
            "groups_claim": self.idp.identity.groups_claim,
        }})
    }

    async fn handle(&self, request: Request, next: Next) -> Response {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        if path.starts_with("/local/oidc/") {
            return self.idp.handle(request).await;
        }
        if path == "/local/sign-in" {
            if method != Method::POST {
                return problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method Not Allowed", "sign in with POST");
            }
            return self.sign_in(request).await;
        }
        if (method != Method::GET && method != Method::HEAD) || path.starts_with("/v1/") {
            return next.run(request).await;
        }
        if path == "/config.json" {
            let body = self.config_json().to_string();
            return file_response(&method, "application/json", Bytes::from(body));
        }
        let Some(relative) = page_path(&path) else {
            return next.run(request).await;
        };
        let file = self.dir.join(&relative);
        match tokio::task::spawn_blocking(move || read_file(&file)).await {
            Ok(Some(bytes)) => file_response(&method, content_type(&relative), Bytes::from(bytes)),
            _ => next.run(request).await,
        }
    }

    async fn sign_in(&self, request: Request) -> Response {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct SignIn {
            email: String,
            #[serde(default)]
            care: bool,
        }
        let bad = |detail: &str| problem(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail);
        let Ok(bytes) = axum::body::to_bytes(request.into_body(), MAX_SIGN_IN_BODY).await else {
            return bad("the sign-in body could not be read");
        };
        let Ok(body) = serde_json::from_slice::<SignIn>(&bytes) else {
            return bad(r#"send {"email": "...", "care": false} as JSON"#);
        };
        let Ok(email) = abev::domain::Email::parse(&body.email) else {
            return bad(&format!("{:?} is not an e-mail address", body.email.trim()));
        };
        // A session at the local provider: the page renews its token with the refresh token.
        let t = self.idp.sign_in(email.as_str(), body.care, None);
        let json = serde_json::json!({"token": t.id_token, "refresh_token": t.refresh_token, "expires_in": t.expires_in,
            "email": email.as_str(), "care": body.care})
        .to_string();
        let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], json).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The file under the web directory that a URL path names, if it is a plain one:
/// `/` is `index.html`; every segment is `[A-Za-z0-9_.-]`, none starts with a dot
/// (so no `..`, no hidden files, no absolute or encoded paths).
pub fn page_path(path: &str) -> Option<PathBuf> {
    let rest = path.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(PathBuf::from("index.html"));
    }
    let mut out = PathBuf::new();
    for segment in rest.split('/') {
        let plain = !segment.is_empty()
            && !segment.starts_with('.')
            && segment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !plain {
            return None;
        }
        out.push(segment);
    }
    Some(out)
}

fn read_file(file: &Path) -> Option<Vec<u8>> {
    if !std::fs::metadata(file).ok()?.is_file() {
        return None;
    }
    std::fs::read(file).ok()
}

/// The content type of a served file, by its extension.
pub fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file_response(method: &Method, content_type: &'static str, bytes: Bytes) -> Response {
    let length = bytes.len();
    let body = if *method == Method::HEAD { Body::empty() } else { Body::from(bytes) };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    // Local development: always the file as it is on disk now.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if content_type.starts_with("text/html") {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_name_files() {
        assert_eq!(page_path("/"), Some(PathBuf::from("index.html")));
        assert_eq!(page_path("/js/app.js"), Some(PathBuf::from("js/app.js")));
        for bad in ["/../Cargo.toml", "/js/../../x", "/.git/config", "/a//b", "/%2e%2e/x", "/js/", "relative"] {
            assert_eq!(page_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type(Path::new("index.html")), "text/html; charset=utf-8");
        assert_eq!(content_type(Path::new("js/app.js")), "text/javascript; charset=utf-8");
        assert_eq!(content_type(Path::new("app.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("blob")), "application/octet-stream");
    }
}
