//! HS256 JWTs for the local stand-in of API Gateway's JWT authorizer (spec §6): mint and
//! verify. In AWS, API Gateway verifies tokens and this code is not on the path.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

pub const LOCAL_ISSUER: &str = "abev-local";
pub const LOCAL_AUDIENCE: &str = "abev";
pub const DEFAULT_LOCAL_SECRET: &str = "abev-local-dev-secret";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's algorithm must be HS256")]
    Algorithm,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token's issuer is not {0}")]
    Issuer(String),
    #[error("the token's audience is not {0}")]
    Audience(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token has no exp claim")]
    NoExpiry,
}

fn mac(secret: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!())
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Signs `claims` (iss, aud and a one-hour exp are added when absent).
pub fn mint(secret: &str, mut claims: Map<String, Value>) -> String {
    claims.entry("iss").or_insert_with(|| LOCAL_ISSUER.into());
    claims.entry("aud").or_insert_with(|| LOCAL_AUDIENCE.into());
    claims.entry("iat").or_insert_with(|| now().into());
    claims.entry("exp").or_insert_with(|| (now() + 3600).into());
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
    let signing_input = format!("{header}.{payload}");
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// A token for `email`, with the `customer-care` group when `care`.
pub fn mint_for(secret: &str, email: &str, care: bool) -> String {
    let mut claims = Map::new();
    claims.insert("sub".into(), email.into());
    claims.insert("email".into(), email.into());
    claims.insert("email_verified".into(), true.into());
    if care {
        claims.insert("groups".into(), serde_json::json!(["customer-care"]));
    }
    mint(secret, claims)
}

/// Verifies signature (HS256 only: `none` and every other `alg` are refused), issuer,
/// audience, `exp` and `nbf`; returns the claims.
pub fn verify(secret: &str, token: &str, issuer: &str, audience: &str) -> Result<Map<String, Value>, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let header: Value = URL_SAFE_NO_PAD.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(JwtError::Malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(JwtError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD.decode(sig).map_err(|_| JwtError::Malformed)?;
    let mut m = mac(secret);
    m.update(format!("{h}.{p}").as_bytes());
    m.verify_slice(&signature).map_err(|_| JwtError::Signature)?;
    let claims: Map<String, Value> =
        URL_SAFE_NO_PAD.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(JwtError::Malformed)?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(JwtError::Issuer(issuer.into()));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(JwtError::Audience(audience.into()));
    }
    let now = now();
    match claims.get("exp").and_then(Value::as_i64) {
        None => return Err(JwtError::NoExpiry),
        Some(exp) if exp <= now => return Err(JwtError::Expired),
        _ => {}
    }
    if claims.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| nbf > now) {
        return Err(JwtError::NotYetValid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cret";

    fn verify_local(token: &str) -> Result<Map<String, Value>, JwtError> {
        verify(SECRET, token, LOCAL_ISSUER, LOCAL_AUDIENCE)
    }

    #[test]
    fn minted_tokens_verify() {
        let claims = verify_local(&mint_for(SECRET, "bill@acme.example", true)).unwrap();
        assert_eq!(claims["email"], "bill@acme.example");
        assert_eq!(claims["groups"], serde_json::json!(["customer-care"]));
    }

    #[test]
    fn refuses_bad_signature_alg_none_issuer_audience_and_time() {
        let good = mint_for(SECRET, "a@b.example", false);
        assert_eq!(verify(SECRET, &mint_for("other", "a@b.example", false), LOCAL_ISSUER, LOCAL_AUDIENCE), Err(JwtError::Signature));
        let (_, rest) = good.split_once('.').unwrap();
        let none = format!("{}.{}", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), rest);
        assert_eq!(verify_local(&none), Err(JwtError::Algorithm));
        let claims = |k: &str, v: Value| {
            let mut m = Map::new();
            m.insert("email".into(), "a@b.example".into());
            m.insert(k.into(), v);
            mint(SECRET, m)
        };
        assert_eq!(verify_local(&claims("iss", "evil".into())), Err(JwtError::Issuer(LOCAL_ISSUER.into())));
        assert_eq!(verify_local(&claims("aud", "other".into())), Err(JwtError::Audience(LOCAL_AUDIENCE.into())));
        assert_eq!(verify_local(&claims("exp", (now() - 10).into())), Err(JwtError::Expired));
        assert_eq!(verify_local(&claims("nbf", (now() + 600).into())), Err(JwtError::NotYetValid));
        assert_eq!(verify_local("not-a-token"), Err(JwtError::Malformed));
    }
}
