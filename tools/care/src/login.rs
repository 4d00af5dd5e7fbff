//! `abev-care login`: OpenID Connect authorization code + PKCE (S256) through the browser,
//! with a loopback redirect (RFC 8252), as `gh auth login --web` does; renewal with the
//! refresh token; revocation at logout.

use crate::profile::{require_safe_url, Profile};
use crate::secret::claims;
use crate::store::Credentials;
use crate::CareError;
use base64::Engine;
use serde::Deserialize;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the CLI waits for the browser to come back.
const WAIT_FOR_BROWSER: std::time::Duration = std::time::Duration::from_secs(300);
/// Renew when the ID token has less than this left (seconds).
pub const RENEW_BEFORE: i64 = 120;

/// The provider's endpoints.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorize: String,
    pub token: String,
    pub revocation: Option<String>,
}

#[derive(Deserialize)]
struct Discovery {
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    revocation_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    error: Option<String>,
    error_description: Option<String>,
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS generator; a machine without one cannot sign in safely at all.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no random numbers: {e}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a verifier (RFC 7636 §4.2).
pub fn challenge(verifier: &str) -> String {
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn client_id(profile: &Profile) -> Result<&str, CareError> {
    profile.client_id.as_deref().ok_or_else(|| CareError::Usage(format!("profile {}: client_id is not set", profile.name)))
}

/// The endpoints: the profile's own, else the issuer's discovery document.
pub async fn endpoints(http: &reqwest::Client, profile: &Profile) -> Result<Endpoints, CareError> {
    if let (Some(a), Some(t)) = (&profile.authorize_endpoint, &profile.token_endpoint) {
        return Ok(Endpoints { authorize: a.clone(), token: t.clone(), revocation: profile.revocation_endpoint.clone() });
    }
    let issuer = profile.issuer.as_deref().ok_or_else(|| CareError::Usage(format!("profile {}: issuer is not set", profile.name)))?;
    require_safe_url("the issuer", issuer)?;
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let doc: Discovery = http
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| CareError::Http(format!("{url}: {e}")))?
        .json()
        .await
        .map_err(|e| CareError::Http(format!("{url}: {e}")))?;
    let e = Endpoints {
        authorize: profile.authorize_endpoint.clone().unwrap_or(doc.authorization_endpoint),
        token: profile.token_endpoint.clone().unwrap_or(doc.token_endpoint),
        revocation: profile.revocation_endpoint.clone().or(doc.revocation_endpoint),
    };
    require_safe_url("the authorize endpoint", &e.authorize)?;
    require_safe_url("the token endpoint", &e.token)?;
    Ok(e)
}

async fn token_call(http: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> Result<TokenAnswer, CareError> {
    let response = http.post(endpoint).form(form).send().await.map_err(|e| CareError::Http(format!("{endpoint}: {e}")))?;
    let status = response.status();
    let answer: TokenAnswer = response.json().await.map_err(|e| CareError::Http(format!("{endpoint}: {e}")))?;
    if !status.is_success() || answer.id_token.is_none() {
        let why = answer.error_description.or(answer.error).unwrap_or_else(|| format!("HTTP {status}"));
        return Err(CareError::Auth(format!("the sign-in service refused: {why}")));
    }
    Ok(answer)
}

fn credentials(answer: TokenAnswer, refresh_before: Option<String>) -> Credentials {
    let id_token = answer.id_token.unwrap_or_default();
    let exp = claims(&id_token).get("exp").and_then(|v| v.as_i64());
    Credentials {
        expires_at: exp.or(answer.expires_in.map(|s| now() + s)).unwrap_or(now()),
        refresh_token: answer.refresh_token.or(refresh_before),
        id_token,
    }
}

/// A sign-in in progress: what was sent, and the loopback listener the browser returns to.
pub struct Pending {
    pub url: String,
    pub redirect_uri: String,
    state: String,
    verifier: String,
    nonce: String,
    listener: tokio::net::TcpListener,
}

/// Binds the loopback listener and builds the authorization URL.
pub async fn start(profile: &Profile, endpoints: &Endpoints) -> Result<Pending, CareError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", profile.redirect_port.unwrap_or(0)))
        .await
        .map_err(|e| CareError::Http(format!("listening on 127.0.0.1 for the sign-in: {e}")))?;
    let port = listener.local_addr().map_err(|e| CareError::Http(e.to_string()))?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let (state, verifier, nonce) = (random(16), random(32), random(16));
    let mut url = url::Url::parse(&endpoints.authorize).map_err(|e| CareError::Usage(format!("authorize endpoint: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id(profile)?)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid email")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(Pending { url: url.to_string(), redirect_uri, state, verifier, nonce, listener })
}

/// Waits for the browser's redirect, then exchanges the code for tokens.
pub async fn finish(http: &reqwest::Client, profile: &Profile, endpoints: &Endpoints, pending: Pending) -> Result<Credentials, CareError> {
    let code = tokio::time::timeout(WAIT_FOR_BROWSER, callback(&pending))
        .await
        .map_err(|_| CareError::Auth("the browser did not come back within 5 minutes".into()))??;
    let answer = token_call(
        http,
        &endpoints.token,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &pending.redirect_uri),
            ("client_id", client_id(profile)?),
            ("code_verifier", &pending.verifier),
        ],
    )
    .await?;
    let creds = credentials(answer, None);
    // The nonce is required: an ID token minted for another sign-in is refused.
    if claims(&creds.id_token).get("nonce").and_then(|n| n.as_str()) != Some(pending.nonce.as_str()) {
        return Err(CareError::Auth("the ID token does not carry this sign-in's nonce".into()));
    }
    Ok(creds)
}

/// Answers loopback requests until one carries this sign-in's `state`; returns its code.
async fn callback(pending: &Pending) -> Result<String, CareError> {
    loop {
        let (mut socket, _) = pending.listener.accept().await.map_err(|e| CareError::Http(e.to_string()))?;
        let mut buf = vec![0u8; 8192];
        let mut len = 0;
        while len < buf.len() {
            let n = socket.read(&mut buf[len..]).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            len += n;
            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf[..len]).to_string();
        let target = head.lines().next().and_then(|l| l.split(' ').nth(1)).unwrap_or("").to_string();
        let Some(query) = target.strip_prefix("/callback?") else {
            respond(&mut socket, "404 Not Found", "Not the sign-in callback.").await;
            continue;
        };
        let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        // Nothing the redirect says is believed (or shown) before its state matches.
        if q.get("state") != Some(&pending.state) {
            respond(&mut socket, "400 Bad Request", "This answer does not belong to the sign-in started by abev-care.").await;
            continue;
        }
        if let Some(error) = q.get("error") {
            respond(&mut socket, "200 OK", "Sign-in was not completed. You can close this tab.").await;
            let why = q.get("error_description").unwrap_or(error);
            return Err(CareError::Auth(format!("sign-in was not completed: {}", crate::output::clean(why))));
        }
        let Some(code) = q.get("code") else {
            respond(&mut socket, "400 Bad Request", "The answer has no code.").await;
            continue;
        };
        respond(&mut socket, "200 OK", "Signed in to abev-care. You can close this tab and go back to the terminal.").await;
        return Ok(code.clone());
    }
}

async fn respond(socket: &mut tokio::net::TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>abev-care</title></head><body><p>{text}</p></body></html>"
    );
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         Content-Security-Policy: default-src 'none'\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(answer.as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// A fresh ID token from the refresh token.
pub async fn renew(
    http: &reqwest::Client,
    profile: &Profile,
    endpoints: &Endpoints,
    creds: &Credentials,
) -> Result<Credentials, CareError> {
    let refresh = creds.refresh_token.clone().ok_or_else(|| CareError::Auth("the login has expired; run `abev-care login`".into()))?;
    let answer = token_call(
        http,
        &endpoints.token,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("client_id", client_id(profile)?)],
    )
    .await
    .map_err(|e| CareError::Auth(format!("{e}; run `abev-care login`")))?;
    Ok(credentials(answer, Some(refresh)))
}

/// Whether the stored ID token needs renewing before use.
pub fn needs_renewal(creds: &Credentials) -> bool {
    creds.expires_at - now() < RENEW_BEFORE
}

/// Revokes the refresh token at the provider (RFC 7009), when it has a revocation endpoint.
pub async fn revoke(http: &reqwest::Client, profile: &Profile, endpoints: &Endpoints, creds: &Credentials) -> Result<bool, CareError> {
    let (Some(endpoint), Some(token)) = (&endpoints.revocation, &creds.refresh_token) else { return Ok(false) };
    let response = http
        .post(endpoint)
        .form(&[("token", token.as_str()), ("token_type_hint", "refresh_token"), ("client_id", client_id(profile)?)])
        .send()
        .await
        .map_err(|e| CareError::Http(format!("{endpoint}: {e}")))?;
    Ok(response.status().is_success())
}

/// Opens `url` in the system's browser; false when there is none to open.
pub fn open_browser(url: &str) -> bool {
    let candidates: &[&[&str]] = if cfg!(target_os = "macos") {
        &[&["open"]]
    } else if cfg!(windows) {
        &[&["rundll32", "url.dll,FileProtocolHandler"]]
    } else {
        &[&["xdg-open"], &["sensible-browser"]]
    };
    candidates.iter().any(|argv| {
        std::process::Command::new(argv[0])
            .args(&argv[1..])
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636() {
        assert_eq!(challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(random(32).len(), 43);
        assert_ne!(random(16), random(16));
    }
}
