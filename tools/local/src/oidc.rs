//! A tiny OpenID Connect provider for the local host only (`/local/oidc/...`): what
//! Cognito's hosted UI does in AWS, enough for the page's session renewal and for
//! `abev-care login` (authorization code + PKCE S256 with a loopback redirect, RFC 8252).
//!
//! - `GET  /local/oidc/.well-known/openid-configuration` — discovery (RFC 8414 subset);
//! - `GET  /local/oidc/authorize` — a sign-in form (e-mail, Customer Care box), no password:
//!   this is a development host; `POST` of that form redirects to `redirect_uri?code&state`;
//! - `POST /local/oidc/token` — `authorization_code` (verifier checked) and `refresh_token`;
//! - `POST /local/oidc/revoke` — ends a session (RFC 7009: always 200);
//! - `GET  /local/oidc/logout` — the end-session endpoint: revokes nothing by itself (the
//!   provider keeps no cookie), then sends the browser to a loopback or same-origin URL.
//!
//! Sessions live in this process's memory: a restarted host signs everyone out.

use crate::jwt;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;

pub const PREFIX: &str = "/local/oidc";
/// Seconds a local ID token lives (as `abev-local token`).
pub const TOKEN_SECONDS: i64 = 3600;
/// Seconds a refresh token lives (Cognito's default is 30 days).
pub const REFRESH_SECONDS: i64 = 30 * 24 * 3600;
/// Seconds an authorization code may wait for its exchange.
const CODE_SECONDS: i64 = 120;
/// The largest form read.
const MAX_FORM: usize = 8192;

/// The policy of the provider's own form: it may post to itself and its answer may
/// redirect to the page's origin or a loopback port (the CLI).
const FORM_POLICY: &str = "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self' http://127.0.0.1:* http://localhost:*";

#[derive(Debug, Clone)]
struct Grant {
    email: String,
    care: bool,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    expires: i64,
}

#[derive(Debug, Clone)]
struct Session {
    email: String,
    care: bool,
    expires: i64,
}

#[derive(Debug, Default)]
struct State {
    codes: HashMap<String, Grant>,
    sessions: HashMap<String, Session>,
}

/// The provider: tokens signed with the local authorizer's secret.
#[derive(Debug)]
pub struct LocalIdp {
    secret: String,
    /// The group and claim the API is configured with (`ABEV_CARE_GROUP`, `ABEV_GROUPS_CLAIM`).
    pub identity: abev::http::identity::IdentityConfig,
    state: Mutex<State>,
}

/// The tokens of a sign-in, as a token endpoint answers them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// 32 random bytes, base64url: codes and refresh tokens.
pub fn random_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a PKCE verifier (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// Loopback (any port: RFC 8252 §7.3) or the host's own origin: the only redirect targets.
fn redirect_allowed(uri: &str, own_origin: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else { return false };
    let loopback = url.scheme() == "http" && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    loopback || url.origin().ascii_serialization() == own_origin
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description}).to_string();
    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn no_store_json(value: Value) -> Response {
    let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

impl LocalIdp {
    pub fn new(secret: &str, identity: abev::http::identity::IdentityConfig) -> LocalIdp {
        LocalIdp { secret: secret.to_string(), identity, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panicking request; the maps are still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An ID token for `email` (a fresh `jti`, so a renewed token differs from the last one).
    pub fn id_token(&self, email: &str, care: bool, nonce: Option<&str>) -> String {
        let mut claims = Map::new();
        claims.insert("sub".into(), email.into());
        claims.insert("email".into(), email.into());
        claims.insert("email_verified".into(), true.into());
        claims.insert("jti".into(), uuid::Uuid::new_v4().to_string().into());
        claims.insert("exp".into(), (jwt::now() + TOKEN_SECONDS).into());
        if care {
            claims.insert(self.identity.groups_claim.clone(), json!([self.identity.care_group]));
        }
        if let Some(n) = nonce {
            claims.insert("nonce".into(), n.into());
        }
        jwt::mint(&self.secret, claims)
    }

    /// Starts a session: an ID token and a refresh token (used by `/local/sign-in` too).
    pub fn sign_in(&self, email: &str, care: bool, nonce: Option<&str>) -> Tokens {
        let refresh_token = random_token();
        let session = Session { email: email.to_string(), care, expires: jwt::now() + REFRESH_SECONDS };
        self.state().sessions.insert(refresh_token.clone(), session);
        let id_token = self.id_token(email, care, nonce);
        Tokens { access_token: id_token.clone(), id_token, refresh_token, token_type: "Bearer", expires_in: TOKEN_SECONDS }
    }

    /// Answers a request under `/local/oidc/`.
    pub async fn handle(&self, request: Request) -> Response {
        let path = request.uri().path().strip_prefix(PREFIX).unwrap_or("").to_string();
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
        let origin = format!("http://{host}");
        let query = request.uri().query().unwrap_or("").to_string();
        let method = request.method().clone();
        let body = match axum::body::to_bytes(request.into_body(), MAX_FORM).await {
            Ok(b) => b,
            Err(_) => return oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "the form is too large"),
        };
        match (method, path.as_str()) {
            (Method::GET, "/.well-known/openid-configuration") => {
                let issuer = format!("{origin}{PREFIX}");
                no_store_json(json!({
                    "issuer": issuer,
                    "authorization_endpoint": format!("{issuer}/authorize"),
                    "token_endpoint": format!("{issuer}/token"),
                    "revocation_endpoint": format!("{issuer}/revoke"),
                    "end_session_endpoint": format!("{issuer}/logout"),
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["authorization_code", "refresh_token"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["none"],
                    "id_token_signing_alg_values_supported": ["HS256"],
                }))
            }
            (Method::GET, "/authorize") => self.authorize_form(&form(query.as_bytes()), &origin),
            (Method::POST, "/authorize") => self.authorize_submit(&form(&body), &origin),
            (Method::POST, "/token") => self.token(&form(&body)),
            (Method::POST, "/revoke") => {
                if let Some(token) = form(&body).get("token") {
                    self.state().sessions.remove(token);
                }
                no_store_json(json!({}))
            }
            (Method::GET, "/logout") => {
                let q = form(query.as_bytes());
                let back = q.get("logout_uri").or_else(|| q.get("post_logout_redirect_uri"));
                match back {
                    Some(uri) if redirect_allowed(uri, &origin) => redirect(uri),
                    _ => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "You are signed out.\n").into_response(),
                }
            }
            _ => oauth_error(StatusCode::NOT_FOUND, "invalid_request", "no such endpoint"),
        }
    }

    /// The authorization request's parameters, checked; `Err` is a sentence for the person.
    fn check_request(q: &HashMap<String, String>, origin: &str) -> Result<(), String> {
        let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
        if get("response_type") != "code" {
            return Err("response_type must be code".into());
        }
        if get("client_id").is_empty() {
            return Err("client_id is missing".into());
        }
        if get("code_challenge_method") != "S256" || get("code_challenge").len() < 43 {
            return Err("a PKCE code_challenge with code_challenge_method=S256 is required".into());
        }
        if !redirect_allowed(get("redirect_uri"), origin) {
            return Err("redirect_uri must be a loopback address or this host".into());
        }
        Ok(())
    }

    fn authorize_form(&self, q: &HashMap<String, String>, origin: &str) -> Response {
        if let Err(why) = Self::check_request(q, origin) {
            return page(StatusCode::BAD_REQUEST, &format!("<h1>Sign-in request refused</h1><p>{}.</p>", html_escape(&why)));
        }
        let hidden: String = ["response_type", "client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method"]
            .iter()
            .filter_map(|k| q.get(*k).map(|v| format!(r#"<input type="hidden" name="{k}" value="{}">"#, html_escape(v))))
            .collect();
        let hint = q.get("login_hint").map(|h| html_escape(h)).unwrap_or_default();
        let client = html_escape(&q["client_id"]);
        page(
            StatusCode::OK,
            &format!(
                r#"<h1 id="signin-title">Sign in</h1>
<p class="hint">Local development sign-in for <strong>{client}</strong>: type the e-mail of any contact. It works only on the local host.</p>
<form class="signin" method="post" action="{PREFIX}/authorize" aria-labelledby="signin-title">{hidden}
<div class="field"><label for="signin-email">E-mail</label><input id="signin-email" name="email" type="email" autocomplete="email" required spellcheck="false" value="{hint}"></div>
<div class="check"><input id="signin-care" name="care" type="checkbox" value="1"><label for="signin-care">Customer Care agent</label></div>
<button type="submit">Sign in</button></form>"#
            ),
        )
    }

    fn authorize_submit(&self, f: &HashMap<String, String>, origin: &str) -> Response {
        if let Err(why) = Self::check_request(f, origin) {
            return page(StatusCode::BAD_REQUEST, &format!("<h1>Sign-in request refused</h1><p>{}.</p>", html_escape(&why)));
        }
        let Ok(email) = abev::domain::Email::parse(f.get("email").map(String::as_str).unwrap_or("")) else {
            return page(StatusCode::BAD_REQUEST, "<h1>Sign-in refused</h1><p>That is not an e-mail address. Go back and try again.</p>");
        };
        let code = random_token();
        let grant = Grant {
            email: email.as_str().to_string(),
            care: f.get("care").is_some_and(|v| !v.is_empty()),
            client_id: f["client_id"].clone(),
            redirect_uri: f["redirect_uri"].clone(),
            challenge: f["code_challenge"].clone(),
            nonce: f.get("nonce").filter(|n| !n.is_empty()).cloned(),
            expires: jwt::now() + CODE_SECONDS,
        };
        self.state().codes.insert(code.clone(), grant);
        let Ok(mut back) = url::Url::parse(&f["redirect_uri"]) else {
            return page(StatusCode::BAD_REQUEST, "<h1>Sign-in request refused</h1>");
        };
        back.query_pairs_mut().append_pair("code", &code);
        if let Some(state) = f.get("state") {
            back.query_pairs_mut().append_pair("state", state);
        }
        redirect(back.as_str())
    }

    fn token(&self, f: &HashMap<String, String>) -> Response {
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
        let now = jwt::now();
        match get("grant_type") {
            "authorization_code" => {
                // A code is used once, whatever the outcome.
                let Some(grant) = self.state().codes.remove(get("code")) else {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown or used code");
                };
                if grant.expires < now {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code has expired");
                }
                if grant.client_id != get("client_id") || grant.redirect_uri != get("redirect_uri") {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "client_id or redirect_uri differ from the request");
                }
                if s256(get("code_verifier")) != grant.challenge {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code_verifier does not match the challenge");
                }
                let tokens = self.sign_in(&grant.email, grant.care, grant.nonce.as_deref());
                no_store_json(serde_json::to_value(tokens).unwrap_or_default())
            }
            "refresh_token" => {
                let session = self.state().sessions.get(get("refresh_token")).cloned();
                match session {
                    Some(s) if s.expires > now => {
                        let id_token = self.id_token(&s.email, s.care, None);
                        // Like Cognito: the refresh token is not rotated, so tabs sharing it never race.
                        no_store_json(
                            json!({"id_token": id_token, "access_token": id_token, "token_type": "Bearer", "expires_in": TOKEN_SECONDS}),
                        )
                    }
                    _ => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the session has ended; sign in again"),
                }
            }
            _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "authorization_code or refresh_token"),
        }
    }
}

fn redirect(to: &str) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign in · ABEV (local)</title><link rel=\"stylesheet\" href=\"/app.css\"></head><body><main id=\"main\">{body}</main></body></html>"
    );
    let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FORM_POLICY));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636() {
        assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn redirects_go_only_to_loopback_or_the_host() {
        let own = "http://127.0.0.1:3000";
        assert!(redirect_allowed("http://127.0.0.1:49152/callback", own));
        assert!(redirect_allowed("http://localhost:8/x", own));
        assert!(!redirect_allowed("https://evil.example/cb", own));
        assert!(!redirect_allowed("http://127.0.0.1.evil.example/cb", own));
        assert!(!redirect_allowed("javascript:alert(1)", own));
    }

    #[test]
    fn a_revoked_session_cannot_renew() {
        let idp = LocalIdp::new("s", Default::default());
        let t = idp.sign_in("a@b.example", false, None);
        assert!(idp.state().sessions.contains_key(&t.refresh_token));
        idp.state().sessions.remove(&t.refresh_token);
        assert!(!idp.state().sessions.contains_key(&t.refresh_token));
        assert_ne!(idp.id_token("a@b.example", false, None), idp.id_token("a@b.example", false, None), "jti differs");
    }
}
